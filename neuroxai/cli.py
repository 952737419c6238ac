"""The ``neuroxai`` command."""
from __future__ import annotations

import argparse
import sys


def build_parser():
    p = argparse.ArgumentParser(
        prog="neuroxai",
        description="What part of the EEG does a trained decoder use, and can the answer be "
                    "trusted? With no command, runs the main job: the whole attribution audit "
                    "(`report`) on the embedded simulated dataset and the shipped checkpoint.",
    )
    sub = p.add_subparsers(dest="command")
    p.add_argument("--out", default="neuroxai_output", help="output directory")
    p.add_argument("--checkpoint", default=None,
                   help="shipped name, checkpoint directory or Hugging Face repo id")
    p.add_argument("--n-trials", type=int, default=64,
                   help="held-out trials audited per trial (balanced subset)")
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
    rp.add_argument("--sanity-trials", type=int, default=12,
                    help="trials for the randomisation checks")
    rp.add_argument("--seed", type=int, default=0)
    rp.add_argument("--quiet", dest="report_quiet", action="store_true")
    ds = sub.add_parser("datasets", help="MOABB datasets load_moabb reads, and what is on disk")
    ds.add_argument("--paradigm", default="imagery", help="MOABB paradigm, or 'all'")
    ds.add_argument("--no-disk-check", action="store_true", help="skip the on_disk column")
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
        if args.command == "datasets":
            from .data import list_datasets

            table = list_datasets(None if args.paradigm == "all" else args.paradigm,
                                  check_disk=not args.no_disk_check, verbose=False)
            print(table.to_string(max_colwidth=60))
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
                print(f"Report: {res.report_path.resolve()} ({res.summary['seconds']:.0f} s, "
                      f"peak memory {res.summary['peak_rss_mib']:.0f} MiB)")
            return 0
        from .report import run_audit

        res = run_audit(checkpoint=args.checkpoint, n_trials=args.n_trials, out_dir=args.out,
                        progress=not args.quiet, verbose=False)
        if not args.quiet:
            print(f"Report: {res.report_path.resolve()} ({res.summary['seconds']:.0f} s, peak "
                  f"memory {res.summary['peak_rss_mib']:.0f} MiB)")
        return 0
    except NeuroXAIError as err:
        print(f"neuroxai: error: {err}", file=sys.stderr)
        return 2


def console(argv=None):
    """Entry point of the installed ``neuroxai`` command: :func:`main`, then a fast exit.

    After Python's own exit handlers have run (logging, matplotlib, multiprocessing ...),
    the process leaves with ``os._exit``: the C++ static destructors of torch's CUDA
    libraries, which a CPU run never needed, would otherwise touch about 130 MiB of fresh
    memory and take half a second on the way out.
    """
    import atexit
    import os

    code = main(argv)
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


if __name__ == "__main__":
    console()
