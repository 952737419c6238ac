"""The ``neuroxai`` command.

Every user error ends in one line on stderr and exit status 2 (bad arguments) or 1 (the
data, a file or a download failed), never a traceback. Options common to the main job and
``report`` may be given before or after the command name; an option given before a command
that does not take it is an error, never silently dropped.
"""
from __future__ import annotations

import argparse
import sys

#: Options shared by the main job and ``report``: (flags, argparse keywords).
_COMMON = {
    "out": (("--out",), dict(metavar="DIR", help="output folder (built beside it, moved in "
                                                 "at the end)")),
    "checkpoint": (("--checkpoint",), dict(metavar="NAME|PATH|REPO",
                                           help="shipped name, checkpoint folder or Hugging "
                                                "Face repo id")),
    "n_trials": (("--n-trials",), dict(metavar="N", help="held-out trials attributed per "
                                                         "method (a class-balanced subset)")),
    "seed": (("--seed",), dict(metavar="S", help="seed of every random draw (int >= 0)")),
    "quiet": (("--quiet",), dict(action="store_true", help="no progress output")),
}
_DEFAULTS = {"out": "neuroxai_output", "checkpoint": None, "n_trials": 64, "seed": 0,
             "quiet": False}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2 (argparse prints usage + message)
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _int(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value
    return parse


def _n_jobs(text):
    value = _int(-1000)(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number of jobs >= 1, or -1 for all cores")
    return value


_TYPES = {"n_trials": _int(1), "seed": _int(0)}
#: Defaults that differ for one command (the others take _DEFAULTS).
_COMMAND_DEFAULTS = {"group": {"out": "neuroxai_group", "n_trials": None}}


def _add_common(parser, names, top):
    for name in names:
        flags, kw = _COMMON[name]
        kw = dict(kw, dest=name, default=None if top else argparse.SUPPRESS)
        if name in _TYPES:
            kw["type"] = _TYPES[name]
        parser.add_argument(*flags, **kw)


def build_parser():
    p = _Parser(
        prog="neuroxai",
        description="What part of the EEG does a trained decoder use, and can the answer be "
                    "trusted? With no command, runs the main job: the whole attribution audit "
                    "(`report`) on the embedded simulated dataset and the shipped checkpoint.")
    _add_common(p, _COMMON, top=True)
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    rp = sub.add_parser("report", help="the whole attribution audit as an HTML report")
    _add_common(rp, _COMMON, top=False)
    src = rp.add_mutually_exclusive_group()
    src.add_argument("--dataset", default="simulated",
                     help="'simulated' or any MOABB dataset name (see `neuroxai datasets`)")
    src.add_argument("--epochs", metavar="FILE-epo.fif",
                     help="your own labelled epochs (MNE .fif with a montage)")
    rp.add_argument("--subject", type=_int(1), default=None,
                    help="subject of a MOABB dataset (default: the checkpoint's, else 1)")
    rp.add_argument("--task", default=None,
                    help="class subset of a MOABB dataset, e.g. left_right or hands_feet")
    rp.add_argument("--methods", nargs="+", default=None,
                    help="registered attribution methods (default: a fast set of six)")
    rp.add_argument("--sanity-trials", type=_int(2), default=12,
                    help="trials for the randomisation checks (>= 2)")
    rp.add_argument("--n-splits", type=_int(2), default=5,
                    help="cross-validation folds when a model is trained here")
    rp.add_argument("--n-epochs", type=_int(1), default=30,
                    help="training epochs when a model is trained here")
    rp.add_argument("--no-encoder", action="store_true", help="skip the CEBRA-style encoder")
    rp.add_argument("--no-igc", action="store_true", help="skip Integrated Gradient Correlation")
    gp = sub.add_parser("group", help="group-level maps over subjects and their cluster "
                                      "statistics as an HTML report")
    _add_common(gp, ["out", "checkpoint", "n_trials", "seed", "quiet"], top=False)
    gp.add_argument("--dataset", default="simulated",
                    help="'simulated' or any MOABB dataset name (see `neuroxai datasets`)")
    gp.add_argument("--subjects", nargs="+", type=_int(1), default=None, metavar="S",
                    help="subjects (simulated default: 1-10; required for MOABB)")
    gp.add_argument("--method", dest="methods", nargs="+", default=None, metavar="METHOD",
                    help="igc (default), amplitude_gradients, haufe_patterns or any "
                         "attribution method")
    gp.add_argument("--contrast", choices=["none", "class_vs_rest"], default="none",
                    help="per-trial methods: class maps (none) or class vs the other classes")
    gp.add_argument("--correction", choices=["cluster", "fdr"], default="cluster")
    gp.add_argument("--n-permutations", type=_int(1), default=1024)
    gp.add_argument("--n-jobs", type=_n_jobs, default=None,
                    help="parallel subject jobs (joblib; -1: all cores)")
    gp.add_argument("--scheduler", metavar="ADDRESS", default=None,
                    help="run the jobs on the Dask scheduler at ADDRESS (e.g. tcp://host:8786)")
    gp.add_argument("--cache", metavar="DIR", default=None,
                    help="per-subject cache kept across runs (default: <out>.cache)")
    gp.add_argument("--task", default=None, help="class subset of a MOABB dataset")
    gp.add_argument("--n-splits", type=_int(2), default=2,
                    help="cross-validation folds of the per-subject models trained here")
    ds = sub.add_parser("datasets", help="the MOABB datasets neuroxai reads, and which are on "
                                         "disk")
    ds.add_argument("--paradigm", default="imagery", help="MOABB paradigm, or 'all'")
    ds.add_argument("--no-disk-check", action="store_true", help="skip the on_disk column")
    tr = sub.add_parser("train-default", help="retrain a shipped checkpoint from scratch (into "
                                              "the cache, never into the package)")
    tr.add_argument("--out", dest="train_out", default=None, metavar="DIR",
                    help="folder (default: <cache>/checkpoints/<name>)")
    tr.add_argument("--regime", default="spectral", choices=["spectral", "temporal", "spatial"])
    _add_common(tr, ["quiet"], top=False)
    return p


def _resolve(args, parser):
    """Top-level options flow into the command that takes them; others are rejected."""
    takes = {None: set(_COMMON), "report": set(_COMMON), "train-default": {"quiet"},
             "datasets": set(),
             "group": {"out", "checkpoint", "n_trials", "seed", "quiet"}}[args.command]
    defaults = {**_DEFAULTS, **_COMMAND_DEFAULTS.get(args.command, {})}
    for name in _COMMON:
        if getattr(args, name, None) is not None and name not in takes:
            parser.error(f"{_COMMON[name][0][0]} does not apply to '{args.command}'")
        if getattr(args, name, None) is None:
            setattr(args, name, defaults[name])
    return args


def _run(args):
    if args.command == "datasets":
        from .data import list_datasets

        table = list_datasets(None if args.paradigm == "all" else args.paradigm,
                              check_disk=not args.no_disk_check, verbose=False)
        print(table.to_string(max_colwidth=60))
        return 0
    if args.command == "train-default":
        from .models import checkpoint_name_for_regime, train_default_checkpoint
        from .models.pretrained import retrained_checkpoint_dir

        out = args.train_out or retrained_checkpoint_dir(checkpoint_name_for_regime(args.regime))
        _, _, meta = train_default_checkpoint(out, regime=args.regime,
                                              verbose="WARNING" if args.quiet else "INFO")
        print(f"held-out accuracy {meta['test_accuracy']:.3f} ({meta['train_seconds']:.0f} s); "
              f"load it with neuroxai.models.load_pretrained(pathlib.Path({str(out)!r}))")
        return 0
    if args.command == "group":
        return _run_group(args)
    from .report import run_audit

    kw = dict(checkpoint=args.checkpoint, n_trials=args.n_trials, out_dir=args.out,
              seed=args.seed, progress=not args.quiet, verbose=False)
    if args.command == "report":
        kw.update(methods=args.methods, n_sanity_trials=args.sanity_trials,
                  encoder=not args.no_encoder, igc=not args.no_igc, n_splits=args.n_splits,
                  n_epochs=args.n_epochs,
                  subject=args.subject, task=args.task)
        if args.epochs is not None:
            kw["trials"] = _read_epochs(args.epochs)
        else:
            kw["dataset"] = args.dataset
    res = run_audit(**kw)
    if not args.quiet:
        g = res.summary["model"]
        print(f"Report: {res.report_path.resolve()} ({res.summary['seconds']:.0f} s, peak "
              f"memory {res.summary['peak_rss_mib']:.0f} MiB); accuracy {g['accuracy']:.3f}, "
              f"chance {g['chance']:.3f}, p = {g['p_value']:.2g}")
    return 0


def _run_group(args):
    from .report import run_group
    from .report._group import _significant_words

    res = run_group(args.dataset, args.subjects, methods=args.methods,
                    checkpoint=args.checkpoint, n_trials=args.n_trials, task=args.task,
                    contrast=None if args.contrast == "none" else args.contrast,
                    correction=args.correction, n_permutations=args.n_permutations,
                    train_params={"n_splits": args.n_splits}, n_jobs=args.n_jobs,
                    scheduler=args.scheduler, out_dir=args.out, cache_dir=args.cache,
                    seed=args.seed, progress=not args.quiet, verbose=False)
    if not args.quiet:
        s = res.summary
        print(f"Report: {res.report_path.resolve()} ({s['seconds']:.0f} s, peak memory "
              f"{s['peak_rss_mib']:.0f} MiB); cache {res.cache_dir}")
        for method, result in res.results.items():
            words = _significant_words(result)
            print(f"{method}: {len(words)} significant cluster(s)"
                  + "".join(f"\n  {w}" for w in words))
    return 0


def _read_epochs(fname):
    from pathlib import Path

    import mne

    from ._utils import InvalidInputError

    if not Path(fname).is_file():
        raise InvalidInputError(f"--epochs {fname}: no such file.")
    try:
        return mne.read_epochs(fname, preload=True, verbose=False)
    except Exception as err:  # MNE's reader: any failure means the file is not usable epochs
        raise InvalidInputError(f"--epochs {fname}: not readable as MNE epochs "
                                f"({type(err).__name__}: {err}).") from err


def main(argv=None):
    """Run the command; return its exit status (0, 1 runtime error, 2 usage error)."""
    from ._utils import InvalidInputError, NeuroXAIError

    parser = build_parser()
    args = _resolve(parser.parse_args(argv), parser)
    try:
        return _run(args)
    except InvalidInputError as err:  # the arguments or the data given: a usage error
        print(f"neuroxai: error: {err}", file=sys.stderr)
        return 2
    except NeuroXAIError as err:  # data not available, a broken checkpoint, a method ...
        print(f"neuroxai: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # disk full, permissions, a folder that vanished
        print(f"neuroxai: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("neuroxai: interrupted; nothing was left in the output folder.", file=sys.stderr)
        return 130


def console(argv=None):
    """Entry point of the installed ``neuroxai`` command."""
    sys.exit(main(argv))


if __name__ == "__main__":
    console()
