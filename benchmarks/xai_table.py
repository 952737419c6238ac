"""The ground-truth benchmark table: every attribution method x the three simulated regimes.

Runs :func:`neuroxai.benchmark.run_xai_benchmark` (ground-truth accuracy, label
randomisation, cascading randomisation at its input-most level; the shipped ShallowFBCSPNet
of each regime on its held-out session), prints the Markdown table and writes
``<out>.csv`` (tidy, one row per regime and method) and ``<out>.md``.

    python benchmarks/xai_table.py [--out benchmarks/results/xai_table] [--n-trials 48]
        [--methods saliency deeplift ...] [--regimes spatial spectral temporal]
        [--threads N] [--seed 0] [--quiet]

The defaults took 851 s of CPU time on one torch thread (under 15 minutes on an idle
machine; see :data:`neuroxai.benchmark.BENCHMARK_METHOD_PARAMS` for the lighter method
parameters that make this possible). ``--n-trials`` scales the time linearly.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "xai_table"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(DEFAULT_OUT),
                   help="output path without suffix; .csv and .md are written "
                        "(default: %(default)s)")
    p.add_argument("--n-trials", type=int, default=48,
                   help="held-out trials per regime, balanced over classes (default: 48)")
    p.add_argument("--methods", nargs="+", default=None, help="methods (default: all)")
    p.add_argument("--regimes", nargs="+", default=["spatial", "spectral", "temporal"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bar nor log lines")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import warnings

    import torch

    from neuroxai.benchmark import run_xai_benchmark

    warnings.filterwarnings("ignore", message=".*standard_1020.*", category=FutureWarning)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    table = run_xai_benchmark(
        methods=args.methods, regimes=args.regimes, n_trials=args.n_trials, seed=args.seed,
        batch_size=args.batch_size, progress=not args.quiet,
        verbose="warning" if args.quiet else "info",
    )
    csv_path, md_path = table.save(args.out)
    print(table.to_markdown())
    t = table.timing
    cols = ["regime", "method", "wall_s", "cpu_s"]
    print(table.data[cols].round(1).to_string(index=False))
    print(f"\ntotal: {t['wall_s']:.0f} s wall, {t['cpu_s']:.0f} s CPU, "
          f"{t['n_threads']} torch thread(s); setup per regime: "
          + ", ".join(f"{r} {s['wall_s']:.0f} s" for r, s in t["setup"].items()))
    print(f"wrote {csv_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
