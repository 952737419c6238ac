"""The one-command attribution audit: every figure, its tables, an ``mne.Report``.

Thin by design: a list of steps (:mod:`._steps`) that call the public API in the order a
tutorial would, over a small context; the model gate first, the verdicts last.
"""
from __future__ import annotations

import json
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .._core.random import check_seed
from .._core.validation import check_int
from .._utils import InvalidInputError, atomic_directory, check_replaceable_directory, logger
from .._utils import verbose as _verbose
from . import _sources
from ._memory import frozen_gc, peak_rss_mib, release_free_memory
from ._steps import DEFAULT_METHODS, STEPS, _bands

#: What an audit writes into its folder (anything else there is the user's and is kept).
OUTPUTS = ("report.html", "summary.json", "figures", "tables", "amplitude_gradients-attr.npz",
           "haufe_patterns-attr.npz", "spectral_attributions.npz")


@dataclass
class AuditResult:
    """What :func:`run_audit` produced."""

    out_dir: Path
    report_path: Path
    figures: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


@dataclass
class Audit:
    """The context the steps share."""

    source: object
    out: Path
    methods: list
    seed: int
    n_sanity_trials: int
    sub: object = None
    progress: bool = True
    t_start: float = field(default_factory=time.perf_counter)
    figures: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    maps: dict = None
    results: list = field(default_factory=list)
    warnings: dict = field(default_factory=dict)  # (step, kind, subject) -> [text, count]

    @property
    def model(self):
        return self.source.model

    @property
    def class_names(self):
        return list(self.source.trials.class_names)

    @property
    def bands(self):
        return _bands(self.source.trials.sfreq)

    def say(self, msg):
        if self.progress:
            print(f"[{time.perf_counter() - self.t_start:6.1f} s] {msg}", flush=True)
        logger.info(msg)

    def save_fig(self, key, fig, caption):
        import matplotlib.pyplot as plt

        (self.out / "figures").mkdir(exist_ok=True)
        fig.savefig(self.out / "figures" / f"{key}.png", dpi=100)
        plt.close(fig)  # the report embeds the PNG; a kept figure only holds memory
        self.figures[key] = caption
        release_free_memory()  # a closed figure is a reference cycle: free it now

    def note_warnings(self, step, caught):
        """Keep what the library warned during a step for the report, once per step, kind and
        subject (the sanity step warns the same way for each randomised model: the first text
        is kept with a count), instead of scattering it on stderr."""
        for w in caught:
            message = str(w.message)
            entry = self.warnings.setdefault(
                (step, w.category.__name__, message.split(":", 1)[0]),
                [f"{step}: {w.category.__name__}: {message}", 0])
            entry[1] += 1

    def warning_lines(self):
        return [text if n == 1 else f"{text} (and {n - 1} more of this kind in this step)"
                for text, n in self.warnings.values()]

    def sanity_gate_kwargs(self):
        return {"model_accuracy": self.source.gate}


def _check_out_dir(out_dir):
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(f"out_dir={str(out_dir)!r} is a file; pass a folder (new, empty, "
                                "or one a previous audit wrote).")
    try:
        check_replaceable_directory(out_dir, owned=lambda name: name in OUTPUTS)
    except InvalidInputError as err:
        raise InvalidInputError(f"out_dir={str(out_dir)!r}: {err}") from None
    return out_dir


def _check_args(methods, n_trials, n_sanity_trials, seed, n_splits):
    from ..attribution.methods import get_method

    methods = list(DEFAULT_METHODS if methods is None else methods)
    if not methods:
        raise InvalidInputError("methods must name at least one attribution method.")
    for m in methods:
        get_method(m)  # unknown names fail before any work, with the valid list
    if n_trials is not None:
        n_trials = check_int(n_trials, "n_trials", 1)
    return (methods, n_trials, check_int(n_sanity_trials, "n_sanity_trials", 2),
            check_seed(seed), check_int(n_splits, "n_splits", 2))


def _source(dataset, subject, task, trials, model, checkpoint, seed, n_splits, n_epochs):
    if trials is not None:
        return _sources.given_trials(trials, model, checkpoint, seed, n_splits, n_epochs)
    if isinstance(dataset, str) and dataset == "simulated":
        if model is not None:
            raise InvalidInputError("model= with dataset='simulated': pass checkpoint= (a "
                                    "shipped name or a path), or your own trials= with model=.")
        return _sources.simulated(checkpoint)
    return _sources.moabb_dataset(dataset, subject, task, model, checkpoint, seed, n_splits,
                                  n_epochs)


@_verbose
def run_audit(dataset="simulated", *, subject=None, task=None, trials=None, model=None,
              checkpoint=None, methods=None, n_trials=64, n_sanity_trials=12,
              out_dir="neuroxai_report", seed=0, encoder=True, igc=True, n_splits=5,
              n_epochs=30, progress=True, verbose=None):
    """Run the whole attribution audit and write an HTML report with its figures and tables.

    Steps, in the order of braindecode's tutorial and beyond: the data and the model, the
    **model gate** (held-out accuracy, its chance level and a binomial p-value), amplitude
    gradients and Haufe patterns (band x class topomaps), per-trial attributions of each
    method (agreement), randomisation sanity checks, metrics (ground truth on simulated
    data), Integrated Gradient Correlation, a CEBRA-style encoder's Jacobian maps, and a
    plain-language verdict that never outruns the evidence: a model that is not above chance
    explains noise, and passing the sanity checks is necessary, not sufficient.

    Parameters
    ----------
    dataset : "simulated" | str | moabb.datasets.base.BaseDataset
        The embedded simulated dataset (default), or any MOABB dataset by name or instance
        (see :func:`neuroxai.data.list_datasets`). Ignored when ``trials`` is given.
    subject : int | None
        Subject of a MOABB dataset. Default: the one the checkpoint was trained on when it
        is known (BNCI2014_001 with braindecode's tutorial checkpoint: subject 3), else 1.
    task : str | None
        Class subset of a MOABB dataset (e.g. PhysionetMI ``"left_right"``,
        ``"hands_feet"``).
    trials : mne.Epochs | braindecode windows dataset | Trials | None
        Your own labelled trials (with a montage). With ``model``/``checkpoint`` the model is
        audited on them; without, ShallowFBCSPNet is trained with stratified
        cross-validation and the first fold's model is audited on its held-out trials.
    model : torch.nn.Module | braindecode.EEGClassifier | str | None
        A trained model (or a checkpoint name / path).
    checkpoint : str | path-like | None
        A shipped name, a checkpoint folder or a Hugging Face repo. Default: the shipped
        checkpoint (simulated), braindecode's tutorial repo (BNCI2014_001), otherwise a
        model trained here with cross-validation.
    methods : sequence of str | None
        Registered attribution methods (default :data:`DEFAULT_METHODS`).
    n_trials : int | None
        Held-out trials attributed per method (a class-balanced subset; None: all).
    n_sanity_trials : int
        Trials (a balanced subset of those) for the randomisation checks.
    out_dir : path-like
        Output folder. It is built beside its final place and moved there at the end, so a
        killed run never leaves a report that looks complete; a previous audit's outputs in
        it are replaced, anything else there is kept (an error if it would be overwritten).
    seed : int
    encoder, igc : bool
        Include the CEBRA-style encoder maps / Integrated Gradient Correlation.
    n_splits, n_epochs : int
        Folds of the cross-validation and training epochs when a model is trained here.
    progress : bool
        Print one line per step.
    %(verbose)s

    Returns
    -------
    result : AuditResult
    """
    t_start = time.perf_counter()
    methods, n_trials, n_sanity_trials, seed, n_splits = _check_args(
        methods, n_trials, n_sanity_trials, seed, n_splits)
    n_epochs = check_int(n_epochs, "n_epochs", 1)
    out_dir = _check_out_dir(out_dir)
    timings = {}
    if progress:
        print("[   0.0 s] loading the data and the model"
              + (" (training it with cross-validation)" if model is None and checkpoint is None
                 and (trials is not None or dataset != "simulated") else ""), flush=True)
    with frozen_gc() as freeze, atomic_directory(
            out_dir, owned=lambda name: name in OUTPUTS) as tmp:
        t0 = time.perf_counter()
        source = _source(dataset, subject, task, trials, model, checkpoint, seed, n_splits,
                         n_epochs)
        ctx = Audit(source, Path(tmp), methods, seed, n_sanity_trials, progress=progress,
                    t_start=t_start)
        ctx.sub = _audited_subset(source.trials, n_trials, seed)
        g = source.gate
        ctx.say(f"{source.description}: accuracy {g['accuracy']:.3f} (chance {g['chance']:.2f}, "
                f"p = {g['p_value']:.2g}) on {g['evaluated_on']}; auditing {len(ctx.sub)} trials")
        freeze()  # what loading imported (torch, mne, braindecode) stays to the end
        timings["load"] = round(time.perf_counter() - t0, 2)
        steps = [s for s in STEPS if (s != "igc" or igc) and (s != "encoder" or encoder)]
        for name in steps:
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                STEPS[name](ctx)
            ctx.note_warnings(name, caught)
            release_free_memory()
            timings[name] = round(time.perf_counter() - t0, 2)
        from ._html import write_report

        t0 = time.perf_counter()
        summary = write_report(ctx, dataset, timings)
        timings["report"] = round(time.perf_counter() - t0, 2)
        summary["timings_s"] = timings
        summary["seconds"] = round(time.perf_counter() - ctx.t_start, 2)
        summary["peak_rss_mib"] = round(peak_rss_mib(), 1)
        (ctx.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    report_path = out_dir / "report.html"
    ctx.say(f"report written to {report_path.resolve()}")
    return AuditResult(out_dir, report_path,
                       {k: out_dir / "figures" / f"{k}.png" for k in ctx.figures},
                       ctx.tables, summary, timings)


def _audited_subset(trials, n_trials, seed):
    from .._core.stats import balanced_subset

    return trials.select(idx=balanced_subset(trials.y, n_trials, seed))


def versions():
    import braindecode
    import mne
    import numpy as np
    import torch

    return {"neuroxai": __import__("neuroxai").__version__, "mne": mne.__version__,
            "braindecode": braindecode.__version__, "torch": torch.__version__,
            "numpy": np.__version__, "python": platform.python_version()}
