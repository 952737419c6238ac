"""The ground-truth benchmark table: every attribution method x the simulated regimes.

Runs :func:`neuroxai.evaluation.run_xai_benchmark` (model gate, ground-truth accuracy
against shuffled maps, label randomisation, cascading randomisation at its input-most
level; the shipped ShallowFBCSPNet of the spectral, temporal and spatial regimes and a
seeded model trained here for the others, on each regime's held-out session), prints the
Markdown table and writes ``<out>.csv`` (tidy, one row per regime and method) and
``<out>.md``.

    python benchmarks/xai_table.py [--quick] [--out benchmarks/results/xai_table]
        [--n-trials 48] [--methods saliency deeplift ...] [--regimes spectral ers ...]
        [--cache-dir DIR] [--threads N] [--seed 0] [--quiet]

The full table (7 regimes x 18 methods, 48 trials) took 1106 s of CPU time on one torch
thread (about 2 minutes per regime, plus about one minute to train each of the 4 models
that are not shipped), 29 minutes wall on the shared 2-core machine at a load of 5-7.
``--quick`` (2 regimes, 5 methods, 16 trials: about 90 s of CPU, including the training of
one model) writes ``<out>_quick.*`` unless ``--out`` is given. ``--cache-dir`` keeps the
trained models for the next run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "xai_table"
QUICK = dict(regimes=["spectral", "erd_narrow"], n_trials=16,
             methods=["saliency", "integrated_gradients", "gradcam", "envelope",
                      "band_ablation"])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None,
                   help="output path without suffix; .csv and .md are written "
                        f"(default: {DEFAULT_OUT}, with --quick {DEFAULT_OUT}_quick)")
    p.add_argument("--quick", action="store_true",
                   help=f"a small table: regimes {QUICK['regimes']}, methods "
                        f"{QUICK['methods']}, {QUICK['n_trials']} trials")
    p.add_argument("--n-trials", type=int, default=None,
                   help="held-out trials per regime, balanced over classes (default: 48)")
    p.add_argument("--methods", nargs="+", default=None, help="methods (default: all)")
    p.add_argument("--regimes", nargs="+", default=None,
                   help="regimes of neuroxai.evaluation.BENCHMARK_REGIMES (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--n-permutations", type=int, default=1000)
    p.add_argument("--cache-dir", default=None,
                   help="keep the models trained for the regimes without a shipped "
                        "checkpoint here (default: train them at every run)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bar nor log lines")
    args = p.parse_args(argv)
    if args.quick:
        for key in ("regimes", "methods", "n_trials"):
            if getattr(args, key) is None:
                setattr(args, key, QUICK[key])
    args.n_trials = 48 if args.n_trials is None else args.n_trials
    if args.out is None:
        args.out = str(DEFAULT_OUT) + ("_quick" if args.quick else "")
    return args


def main(argv=None):
    args = parse_args(argv)
    import warnings

    import torch

    from neuroxai.evaluation import run_xai_benchmark

    warnings.filterwarnings("ignore", message=".*standard_1020.*", category=FutureWarning)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    table = run_xai_benchmark(
        methods=args.methods, regimes=args.regimes, n_trials=args.n_trials, seed=args.seed,
        batch_size=args.batch_size, n_permutations=args.n_permutations,
        cache_dir=args.cache_dir, verbose="warning" if args.quiet else "info",
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
