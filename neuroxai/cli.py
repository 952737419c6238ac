"""The ``neuroxai`` command."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _peak_rss_mib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_main_job(out_dir="neuroxai_output", checkpoint=None, n_trials=None, batch_size=32,
                 quiet=False):
    """Shipped checkpoint -> simulated held-out session -> amplitude gradients + Haufe patterns
    -> two band x class figures. Returns a dict summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .attribution import compute_amplitude_gradients, compute_haufe_patterns
    from .data import simulate_bcic_iv_2a
    from .models import DEFAULT_CHECKPOINT, accuracy, check_model_outputs, load_pretrained
    from .viz import plot_band_topomaps

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def say(msg):
        if not quiet:
            print(f"[{time.perf_counter() - t0:5.1f} s] {msg}", flush=True)

    checkpoint = checkpoint or DEFAULT_CHECKPOINT
    model, _, meta = load_pretrained(checkpoint, verbose=False)
    say(f"loaded checkpoint {checkpoint!r} ({type(model).__name__})")
    data_params = meta.get("dataset_params", dict(regime="spectral", snr=0.5, seed=0))
    sim = simulate_bcic_iv_2a(**{**data_params, "n_sessions": 2}, verbose=False)
    test = sim.trials.select(meta.get("test_session", "1test"))
    if n_trials:
        test = test.select(idx=np.arange(min(int(n_trials), len(test))))
    check_model_outputs(model, test.X.shape[1], test.X.shape[2], len(test.class_names))
    acc = accuracy(model, test.X, test.y)
    say(f"simulated {data_params.get('regime')} data; held-out session: {len(test)} trials, "
        f"accuracy {acc:.3f}")
    grads = compute_amplitude_gradients(model, test.X, batch_size=batch_size, info=test.info,
                                        class_names=test.class_names, progress=not quiet,
                                        verbose=False)
    say(f"amplitude gradients {grads.shape}")
    patterns = compute_haufe_patterns(grads, test.X, verbose=False)
    say("Haufe patterns")
    mean_grads = grads.data.mean(axis=1)
    from .attribution import Attribution

    mean_attr = Attribution(mean_grads, ("class", "chan", "freq"), test.info,
                            "amplitude_gradients_mean", coords=grads.coords)
    files = []
    for name, vals, title, unit in (
        ("amplitude_gradients_topomaps.png", mean_attr,
         "Mean amplitude gradients per band and class", "∂score/∂amplitude"),
        ("haufe_patterns_topomaps.png", patterns,
         "Haufe patterns of the amplitude gradients", "pattern (a.u.)"),
    ):
        fig = plot_band_topomaps(vals, title=title, unit=unit, show=False)
        path = out_dir / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(str(path))
    np.savez_compressed(out_dir / "spectral_attributions.npz", amplitude_gradients_mean=mean_grads,
                        haufe_patterns=patterns.data, freqs=grads.coords["freq"],
                        ch_names=np.array(test.info.ch_names), class_names=np.array(test.class_names))
    files.append(str(out_dir / "spectral_attributions.npz"))
    summary = dict(checkpoint=checkpoint, n_trials=len(test), accuracy=acc,
                   seconds=round(time.perf_counter() - t0, 2), peak_rss_mib=round(_peak_rss_mib(), 1),
                   files=files)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    if not quiet:
        print(f"\nWrote to {out_dir.resolve()}:")
        for f in files + [str(out_dir / "summary.json")]:
            print(f"  {f}")
        print(f"Done in {summary['seconds']:.1f} s, peak memory {summary['peak_rss_mib']:.0f} MiB.")
    return summary


def build_parser():
    p = argparse.ArgumentParser(
        prog="neuroxai",
        description="What part of the EEG does a trained decoder use? With no command, runs the "
                    "main job on the embedded simulated dataset and the shipped checkpoint.",
    )
    sub = p.add_subparsers(dest="command")
    p.add_argument("--out", default="neuroxai_output", help="output directory")
    p.add_argument("--checkpoint", default=None,
                   help="shipped name, checkpoint directory or Hugging Face repo id")
    p.add_argument("--n-trials", type=int, default=None, help="use only the first N held-out trials")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    rp = sub.add_parser("report", help="the whole attribution audit as an HTML report")
    rp.add_argument("--dataset", default="simulated",
                    choices=["simulated", "BNCI2014_001", "PhysionetMI"])
    rp.add_argument("--subject", type=int, default=1)
    rp.add_argument("--checkpoint", dest="report_checkpoint", default=None,
                    help="shipped name, checkpoint directory or Hugging Face repo id")
    rp.add_argument("--methods", nargs="+", default=None,
                    help="registered attribution methods (default: a fast set of six)")
    rp.add_argument("--n-trials", dest="report_n_trials", type=int, default=64,
                    help="held-out trials audited (balanced subset)")
    rp.add_argument("--out", dest="report_out", default="neuroxai_report")
    rp.add_argument("--no-encoder", action="store_true", help="skip the CEBRA-style encoder")
    rp.add_argument("--no-igc", action="store_true", help="skip Integrated Gradient Correlation")
    rp.add_argument("--sanity-trials", type=int, default=16,
                    help="trials for the randomisation checks")
    rp.add_argument("--seed", type=int, default=0)
    rp.add_argument("--quiet", dest="report_quiet", action="store_true")
    tr = sub.add_parser("train-default", help="retrain the shipped checkpoint from scratch")
    tr.add_argument("--out", dest="train_out", default=None,
                    help="directory (default: the package's shipped checkpoint)")
    tr.add_argument("--regime", default="spectral", choices=["spectral", "temporal", "spatial"])
    return p


def main(argv=None):
    from ._utils import NeuroXAIError

    args = build_parser().parse_args(argv)
    try:
        if args.command == "train-default":
            from .models import train_default_checkpoint

            _, _, meta = train_default_checkpoint(args.train_out, regime=args.regime, progress=not args.quiet,
                                                  verbose="INFO")
            print(f"held-out accuracy {meta['test_accuracy']:.3f} "
                  f"({meta['train_seconds']:.0f} s)")
            return 0
        if args.command == "report":
            from .report import run_audit

            quiet = args.quiet or args.report_quiet
            res = run_audit(args.dataset, args.subject, args.report_checkpoint, args.methods,
                            args.report_n_trials, args.report_out, args.seed,
                            encoder=not args.no_encoder, igc=not args.no_igc,
                            n_sanity_trials=args.sanity_trials,
                            progress=not quiet, verbose=False)
            if not quiet:
                print(f"Report: {res.report_path.resolve()} ({res.summary['seconds']:.0f} s)")
            return 0
        run_main_job(args.out, args.checkpoint, args.n_trials, args.batch_size, args.quiet)
        return 0
    except NeuroXAIError as err:
        print(f"neuroxai: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
