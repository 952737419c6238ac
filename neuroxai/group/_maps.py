"""Subject-level maps: one job per subject (x method), run through joblib, cached as they end.

Each job explains one subject's trials with its model (a shared one, the subject's own, or
one trained here with stratified cross-validation) and reduces the per-trial attributions
to a map per class: ``class x chan x band`` (spectral methods, averaged in frequency bins),
``class x chan x time`` (time-domain methods) or ``class x chan x band`` for band ablation.
The parent process writes every map to the cache the moment its job returns, so an
interrupted group run loses only the jobs that were running.
"""
from __future__ import annotations

import copy
import logging
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._core.random import check_seed
from .._core.selection import check_bands
from .._core.validation import check_float, check_int, check_option
from .._utils import (
    InvalidInputError,
    ModelMismatchError,
    NeuroXAIError,
    get_cache_dir,
    logger,
    unknown_name,
    verbose,
)
from . import _cache

#: Methods of this stage besides the registered ``attribute`` methods, and what they give.
SPECIAL_METHODS = {
    "amplitude_gradients": "gradient of each class score w.r.t. the trials' amplitude spectra "
                           "(class x chan x freq; mean over trials, or a class contrast)",
    "haufe_patterns": "Haufe patterns of the class-centred mean amplitude gradients "
                      "(class x chan x freq; uses no labels)",
    "igc": "Integrated Gradient Correlation: each class's output-label correlation split over "
           "channels and frequencies (domain='spectral', default) or samples ('time')",
}
#: The parameters each of them takes (the seed comes from the job).
_SPECIAL_PARAMS = {
    "amplitude_gradients": {"batch_size": 16},
    "haufe_patterns": {"batch_size": 16, "center_classes": True},
    "igc": {"domain": "spectral", "n_baselines": 4, "n_steps": 8, "baselines": "data",
            "batch_size": 256, "output_transform": None, "quadrature": "gausslegendre"},
}
#: Maps that use the labels themselves (a label permutation changes them even for a model
#: that is the same for everybody).
LABEL_FREE = ("haufe_patterns",)
CONTRASTS = ("class_vs_rest",)
#: Cross-validated training of one model per subject (see :func:`compute_subject_maps`).
DEFAULT_TRAIN = dict(model="ShallowFBCSPNet", n_splits=2, n_epochs=20, lr=1e-3, batch_size=32,
                     weight_decay=0.0)
#: Default frequency bins (``bands="auto"``): contiguous 2 Hz bins from 4 Hz up to 40 Hz
#: (or the Nyquist frequency), half-open so that no rfft bin counts twice.
AUTO_BANDS = (4.0, 40.0, 2.0)

# Training and the stochastic methods draw from torch's global generator (seeded and
# restored around the draw): two jobs in threads of one process (a Dask worker with
# several threads, joblib's threading backend) must not interleave those draws.
_GLOBAL_RNG = threading.Lock()


@dataclass
class SubjectMaps:
    """What :func:`compute_subject_maps` returns.

    Attributes
    ----------
    maps : dict
        ``{method: {subject: Attribution}}``, subjects in the order given. Each map has
        axes ``("class", "chan", <axis>)`` and its provenance in ``params`` (the model's
        accuracy on the subject's trials with its chance level and binomial p-value, the
        number of trials, the reduction, the cache key).
    computed, cached : list of (subject, method)
        Jobs computed by this call / read from the cache.
    cache_dir : pathlib.Path | None
    seconds : float
    """

    maps: dict
    computed: list = field(default_factory=list)
    cached: list = field(default_factory=list)
    cache_dir: Path | None = None
    seconds: float = 0.0

    @property
    def methods(self):
        return list(self.maps)

    @property
    def subjects(self):
        return list(next(iter(self.maps.values()))) if self.maps else []

    def __getitem__(self, method):
        if method not in self.maps:
            raise unknown_name("method", method, self.maps)
        return self.maps[method]

    def __repr__(self):
        return (f"<SubjectMaps | {len(self.subjects)} subjects x {len(self.maps)} method(s) "
                f"{self.methods}; {len(self.computed)} computed, {len(self.cached)} cached>")

    def table(self):
        """One row per subject and method: how well the model decodes the subject."""
        import pandas as pd

        rows = []
        for method, by_subject in self.maps.items():
            for subject, att in by_subject.items():
                p = att.params
                rows.append(dict(subject=subject, method=method, n_trials=p.get("n_trials"),
                                 accuracy=p.get("accuracy"), chance=p.get("chance"),
                                 p_value=p.get("p_value"), model=p.get("model"),
                                 from_cache=(subject, method) in self.cached))
        return pd.DataFrame(rows)


def _model_box(payload):
    box = _ModelBox(None)
    box._payload = payload
    return box


class _ModelBox:
    """A model on its way to a worker process, unpickled only when the job first uses it.

    Not while the job's arguments are received: a Dask worker deserialises them on its
    event loop, and importing torch and braindecode there (seconds, more on a loaded
    machine) stalls the worker's heartbeats until the scheduler drops it.
    """

    __slots__ = ("_model", "_payload")

    def __init__(self, model):
        self._model, self._payload = model, None

    @property
    def model(self):
        if self._model is None:
            import pickle

            from .._utils import import_braindecode

            # unpickling a braindecode model imports braindecode.models, whose import-time
            # montage notice would otherwise be printed once by every worker
            import_braindecode("braindecode.models")
            self._model, self._payload = pickle.loads(self._payload), None
        return self._model

    def __reduce__(self):
        import pickle

        return _model_box, (pickle.dumps(self.model),)


@dataclass
class _Job:
    """One unit of work: a subject and the methods it still needs (picklable, small)."""

    subject: object
    methods: tuple
    keys: dict
    source: object  # Trials, or a zero-argument loader called in the worker
    model: object  # _ModelBox of a torch module, or None: train one here
    settings: dict
    level: str


# --------------------------------------------------------------------------------------
# Argument checks (all before any heavy work)
# --------------------------------------------------------------------------------------
def _check_methods(methods, method_params, contrast):
    from ..attribution.methods import METHODS, get_method

    if isinstance(methods, str):
        methods = [methods]
    methods = list(methods or [])
    if not methods:
        raise InvalidInputError("methods must name at least one method, e.g. 'igc' or "
                                "['amplitude_gradients', 'saliency'].")
    valid = set(SPECIAL_METHODS) | set(METHODS)
    for m in methods:
        if not isinstance(m, str) or m not in valid:
            raise unknown_name("method", m, valid)
    if len(set(methods)) != len(methods):
        raise InvalidInputError(f"methods lists a method twice: {methods}.")
    method_params = dict(method_params or {})
    for m in method_params:
        if m not in methods:
            raise InvalidInputError(f"method_params names {m!r}, which is not in methods "
                                    f"{methods}.")
    resolved = {}
    for m in methods:
        given = method_params.get(m) or {}
        if not isinstance(given, Mapping):
            raise InvalidInputError(f"method_params[{m!r}] must be a dict of parameters, got "
                                    f"{type(given).__name__}.")
        defaults = _SPECIAL_PARAMS[m] if m in SPECIAL_METHODS else get_method(m).defaults
        unknown = sorted(set(given) - set(defaults) - {"batch_size"})
        if "seed" in given and m in SPECIAL_METHODS:
            unknown.append("seed")
        if unknown:
            raise InvalidInputError(
                f"method_params[{m!r}] has unknown parameter(s) {unknown}; {m} takes "
                f"{sorted(set(defaults) - {'seed'})} (the seed comes from seed=).")
        resolved[m] = ({**defaults, **given} if m in SPECIAL_METHODS else dict(given))
        if contrast is not None and m in ("igc", "haufe_patterns"):
            raise InvalidInputError(
                f"contrast={contrast!r} does not apply to {m!r}: it has no per-trial maps "
                f"({'a correlation with the labels already' if m == 'igc' else 'it uses no labels'}"
                "). Use contrast=None for it, or a per-trial method.")
    if "igc" in resolved:
        check_option("method_params['igc']['domain']", resolved["igc"]["domain"],
                     ("spectral", "time"))
    return methods, resolved


def _check_bands(bands):
    if bands is None or (isinstance(bands, str) and bands == "auto"):
        return bands
    if not isinstance(bands, Mapping):
        raise InvalidInputError(f"bands must be 'auto', None or a non-empty dict "
                                f"{{name: (fmin, fmax)}} in Hz, got {bands!r}.")
    return check_bands(bands)


def _check_n_jobs(n_jobs):
    if n_jobs is None:
        return None
    n_jobs = check_int(n_jobs, "n_jobs")
    if n_jobs == 0:
        raise InvalidInputError("n_jobs must be a positive number of jobs, -1 (all cores) or "
                                "None (1, or the joblib context's value), got 0.")
    return n_jobs


def _is_loader(src):
    return callable(src) and not hasattr(src, "__getitem__") and not hasattr(src, "X")


def _check_subjects(subjects):
    if isinstance(subjects, Mapping):
        items = list(subjects.items())
    elif isinstance(subjects, (list, tuple)):
        items = [(i + 1, s) for i, s in enumerate(subjects)]
    else:
        raise InvalidInputError(
            "subjects must be a dict {subject: trials} (trials in any form: Epochs, windows, "
            "Trials, or a zero-argument loader that returns them), e.g. "
            f"load_moabb(name, subjects=[1, 2], as_trials=True); got {type(subjects).__name__}.")
    if not items:
        raise InvalidInputError("subjects is empty: pass at least one subject.")
    ids = [s for s, _ in items]
    if len({str(s) for s in ids}) != len(ids):
        raise InvalidInputError(f"Subject ids must be distinct (as strings): {ids}.")
    return items


def check_subject_trials(subject, inst, contrast, picks="eeg", exclude="bads"):
    """A subject's trials as :class:`Trials`, labelled, with positions and every class."""
    from ..data._boundary import prepare_trials

    if inst is None:
        raise InvalidInputError(f"subject {subject}: no trials (None).")
    try:
        trials = prepare_trials(inst, picks=picks, exclude=exclude, need=("positions",),
                                units=True, what=f"compute_subject_maps (subject {subject})")
    except NeuroXAIError as err:
        raise type(err)(f"subject {subject}: {err}") from err
    if trials.y is None:
        raise InvalidInputError(
            f"subject {subject} has no labels: a group map needs each trial's class. Pass "
            "labelled Epochs / windows / Trials (for an array, neuroxai.data.as_trials(X, y, "
            "info=..., tmin=...)).")
    counts = np.bincount(trials.y, minlength=len(trials.class_names))
    if (counts == 0).any():
        missing = [c for c, n in zip(trials.class_names, counts) if n == 0]
        raise InvalidInputError(
            f"subject {subject} has no trials of class(es) {missing} (classes "
            f"{list(trials.class_names)}): every subject needs every class for class maps. "
            "Drop the class from every subject, or the subject.")
    if contrast is not None and len(trials.class_names) < 2:
        raise InvalidInputError(f"subject {subject}: contrast={contrast!r} needs at least two "
                                "classes.")
    return trials


def _channel_plan(prepared, channels):
    """Common channels of the in-memory subjects (same order as the first), or an error."""
    from ._channels import common_channels

    names = {s: list(t.info["ch_names"]) for s, t in prepared.items()}
    return common_channels(names, channels, "compute_subject_maps")


def _check_models(model, models, subject_ids, train_params):
    from .._core.model import as_module
    from ..models import load_pretrained

    if model is not None and models is not None:
        raise InvalidInputError("Pass model= (one model shared by all subjects) or models= "
                                "({subject: model}), not both.")
    if models is not None:
        if not isinstance(models, Mapping):
            raise InvalidInputError(f"models must be a dict {{subject: model}}, got "
                                    f"{type(models).__name__}.")
        missing = [s for s in subject_ids if s not in models]
        if missing:
            raise InvalidInputError(f"models has no model for subject(s) {missing}.")
        return {s: as_module(models[s], f"models[{s!r}]") for s in subject_ids}, None
    if model is not None:
        if isinstance(model, str) or hasattr(model, "__fspath__"):
            model = load_pretrained(model, verbose=False)[0]
        net = as_module(model)
        return {s: net for s in subject_ids}, None
    train = {**DEFAULT_TRAIN, **dict(train_params or {})}
    unknown = sorted(set(train) - set(DEFAULT_TRAIN) - {"model_kwargs"})
    if unknown:
        raise InvalidInputError(f"train_params has unknown key(s) {unknown}; valid: "
                                f"{sorted(DEFAULT_TRAIN) + ['model_kwargs']}.")
    train["n_splits"] = check_int(train["n_splits"], "train_params['n_splits']", 2)
    train["n_epochs"] = check_int(train["n_epochs"], "train_params['n_epochs']", 1)
    return None, train


def subject_seed(seed, subject):
    """The seed of one subject's job: fixed by the run's seed and the subject id only, so
    that adding or reordering subjects changes no other subject's result."""
    ss = np.random.SeedSequence([seed, zlib.crc32(str(subject).encode())])
    return int(ss.generate_state(1)[0] % (2**31))


# --------------------------------------------------------------------------------------
# The job (runs in a worker: a loky process, a Dask worker, or this process)
# --------------------------------------------------------------------------------------
def _reduce_trials(per, y, contrast, absolute):
    """``(class, trial, ...)`` -> ``(class, ...)``: the mean over trials, or class c's trials
    minus the other trials (of output c)."""
    per = np.abs(per) if absolute else per
    if contrast is None:
        return per.mean(axis=1, dtype=np.float64)
    return np.stack([per[c, y == c].mean(axis=0, dtype=np.float64)
                     - per[c, y != c].mean(axis=0, dtype=np.float64) for c in range(len(per))])


def _explain(model, trials, method, params, s):
    """One model on one set of trials -> (class x chan x axis data, axis, coords, extra)."""
    from ..attribution import (
        attribute,
        compute_amplitude_gradients,
        compute_haufe_patterns,
        compute_igc,
    )
    from ..attribution.methods import get_method

    names = list(trials.class_names)
    common = dict(class_names=names, picks="all", exclude=(), verbose=False)
    if method in ("amplitude_gradients", "haufe_patterns"):
        g = compute_amplitude_gradients(model, trials, batch_size=params["batch_size"], **common)
        freq = {"freq": g.coords["freq"]}
        if method == "haufe_patterns":
            a = compute_haufe_patterns(g, trials, center_classes=params["center_classes"],
                                       verbose=False)
            return np.asarray(a.data, dtype=np.float64), "freq", freq, {}
        return _reduce_trials(g.data, trials.y, s["contrast"], s["absolute"]), "freq", freq, {}
    if method == "igc":
        a = compute_igc(model, trials, seed=s["seed"], **params, **common)
        axis = a.dims[-1]
        return (np.asarray(a.data, dtype=np.float64), axis, {axis: a.coords[axis]},
                {"correlation": np.asarray(a.coords["correlation"], dtype=float)})
    kw = dict(params)
    if "seed" in get_method(method).defaults:
        kw.setdefault("seed", s["seed"])
    kw.setdefault("batch_size", 16)
    y = trials.y
    if s["contrast"] is None:  # each trial explained for its own class, averaged per class
        a = attribute(model, trials, target="labels", method=method, **common, **kw)
        vals = np.abs(a.data) if s["absolute"] else a.data
        data = np.stack([vals[y == c].mean(axis=0, dtype=np.float64)
                         for c in range(len(names))])
    else:  # every trial explained for every class: class c's trials against the others
        per = []
        for c in range(len(names)):
            a = attribute(model, trials, target=c, method=method, **common, **kw)
            per.append(a.data)
        data = _reduce_trials(np.stack(per), y, s["contrast"], s["absolute"])
    axis = a.dims[-1]
    coords = {axis: a.coords.get(axis)}
    if "band_edges" in a.coords:
        coords["band_edges"] = np.asarray(a.coords["band_edges"])
    return data, axis, coords, {}


def auto_bands(sfreq):
    """``bands="auto"``: contiguous half-open 2 Hz bins from 4 Hz to 40 Hz (or Nyquist)."""
    lo, hi, width = AUTO_BANDS
    hi = min(hi, sfreq / 2.0)
    starts = np.arange(lo, hi - width + 1e-9, width)
    return {f"{f:g}-{f + width:g} Hz": (float(f), float(f + width)) for f in starts}


def _bin(data, axis, coords, s, sfreq):
    """Average the last axis in frequency bins (``bands``) or time bins (``tstep``)."""
    from ..attribution.spectral import band_average

    bands, tstep = s["bands"], s["tstep"]
    if axis == "freq" and bands is not None:
        freqs = np.asarray(coords["freq"])
        if isinstance(bands, str):  # "auto": half-open bins, each rfft bin counted once
            bins = auto_bands(sfreq)
            out = []
            for name, (lo, hi) in bins.items():
                sel = (freqs >= lo) & (freqs < hi)
                if not sel.any():
                    raise InvalidInputError(f"Frequency bin {name} holds no rfft bin: the "
                                            "trials are too short; pass bands= explicitly.")
                out.append(data[..., sel].mean(axis=-1))
            binned = np.stack(out, axis=-1)
        else:
            bins = bands
            binned = band_average(data, freqs, bins)
        edges = np.array(list(bins.values()), dtype=float)
        return binned, "band", {"band": list(bins), "band_edges": edges}
    if axis == "time" and tstep is not None:
        times = np.asarray(coords["time"])
        step = max(1, int(round(tstep * sfreq)))
        starts = np.arange(0, data.shape[-1], step)
        binned = np.stack([data[..., i:i + step].mean(axis=-1) for i in starts], axis=-1)
        centres = np.array([times[i:i + step].mean() for i in starts])
        return binned, "time", {"time": centres, "tstep": step / sfreq}
    return data, axis, coords


def _train_and_split(trials, train, seed):
    """Cross-validated models: [(fold model, its held-out trials)], and the CV accuracy."""
    from ..models import cross_validate

    counts = np.bincount(trials.y, minlength=len(trials.class_names))
    k = int(min(train["n_splits"], counts.min()))
    if k < 2:
        raise InvalidInputError(f"the smallest class has {counts.min()} trial(s): training a "
                                "model per subject needs at least 2 per class. Pass model= or "
                                "models= instead.")
    cv = cross_validate(trials, model=train["model"], model_kwargs=train.get("model_kwargs"),
                        n_splits=k, n_epochs=train["n_epochs"], lr=train["lr"],
                        weight_decay=train["weight_decay"], batch_size=train["batch_size"],
                        seed=seed, picks="all", exclude=(), verbose=False)
    pairs = [(m, trials.select(idx=idx)) for m, idx in zip(cv["models"], cv["test_indices"])]
    gate = {key: cv[key] for key in ("accuracy", "chance", "p_value", "n")}
    gate["model"] = f"{train['model']} trained here ({k}-fold CV)"
    return pairs, gate


def _load(job):
    src = job.source
    if _is_loader(src):
        try:
            src = src()
        except NeuroXAIError as err:
            raise type(err)(f"subject {job.subject}: loading failed: {err}") from err
        trials = check_subject_trials(job.subject, src, job.settings["contrast"])
        picks = job.settings.get("channels")
        if picks is not None:
            trials = _pick_channels(job.subject, trials, picks)
        return trials
    return src


def _pick_channels(subject, trials, names):
    import mne

    from ..data import Trials

    missing = [c for c in names if c not in trials.info["ch_names"]]
    if missing:
        raise InvalidInputError(f"subject {subject} lacks channel(s) {missing}.")
    idx = [trials.info["ch_names"].index(c) for c in names]
    if idx == list(range(len(trials.info["ch_names"]))):
        return trials
    return Trials(trials.X[:, idx], trials.y, mne.pick_info(trials.info, idx, verbose=False),
                  trials.class_names, trials.tmin, trials.session)


def _run_job(job):
    """Compute the maps of one job; returns ``(subject, {method: Attribution})``."""
    import contextlib

    from mne.utils import use_log_level

    from ..attribution import Attribution
    from ..attribution.methods import METHODS
    from ..models import evaluate_classifier

    s = job.settings
    global_rng = job.model is None or any(
        m in METHODS and METHODS[m].stochastic for m in job.methods)
    lock = _GLOBAL_RNG if global_rng else contextlib.nullcontext()
    try:
        with use_log_level(job.level), lock:
            trials = _load(job)
            if job.model is None:
                pairs, gate = _train_and_split(trials, s["train"], s["seed"])
            else:
                # a private copy: threads of one worker may explain the same shared module
                model = copy.deepcopy(job.model.model)
                n_out = _n_outputs(model, trials)
                if n_out != len(trials.class_names):
                    raise ModelMismatchError(
                        f"the model has {n_out} outputs but the trials have "
                        f"{len(trials.class_names)} classes {list(trials.class_names)}; "
                        "class maps need one output per class, in the same order.")
                res = evaluate_classifier(model, trials, picks="all", exclude=(),
                                          verbose=False)
                gate = {k: res[k] for k in ("accuracy", "chance", "p_value", "n")}
                gate["model"] = s["model_desc"]
                pairs = [(model, trials)]
            out = {}
            for method in job.methods:
                parts = [_explain(m, tr, method, s["params"][method], s) for m, tr in pairs]
                weights = [len(tr) for _, tr in pairs]
                data = np.average([p[0] for p in parts], axis=0, weights=weights)
                _, axis, coords, extra = parts[0]
                extra = {k: np.average([p[3][k] for p in parts], axis=0, weights=weights)
                         for k in extra}
                data, axis, coords = _bin(data, axis, coords, s, trials.sfreq)
                params = dict(
                    subject=str(job.subject), method_params=s["params"][method],
                    contrast=s["contrast"] or "none", absolute=s["absolute"],
                    bands=s["bands"], tstep=s["tstep"], seed=s["seed"],
                    n_trials=len(trials), cache_key=job.keys[method], **gate, **extra)
                out[method] = Attribution(data, ("class", "chan", axis), trials.info, method,
                                          params, {"class": list(trials.class_names), **coords})
    except NeuroXAIError as err:
        if str(err).startswith(f"subject {job.subject}"):
            raise
        raise type(err)(f"subject {job.subject}: {err}") from err
    return job.subject, out


def _n_outputs(model, trials):
    from .._core.model import probe_model

    return probe_model(model, trials.X[:1], sfreq=trials.sfreq)


# --------------------------------------------------------------------------------------
# The public verb
# --------------------------------------------------------------------------------------
def _job_level():
    """Workers log warnings only: no progress bars from inside the jobs (the parent shows
    one over the jobs), unless the user asked for DEBUG."""
    return "DEBUG" if logger.getEffectiveLevel() <= logging.DEBUG else "WARNING"


@verbose
def compute_subject_maps(subjects, model=None, *, models=None, methods="igc",
                         method_params=None, contrast=None, bands="auto", tstep=None,
                         absolute=False, train_params=None, channels="same", cache_dir=None,
                         n_jobs=None, seed=0, verbose=None):
    """Per-subject attribution maps (a map per class), computed in parallel and cached.

    Each subject's trials are explained by a model (shared, the subject's own, or trained
    here), and the per-trial attributions are reduced to one map per class. Jobs (one per
    subject and method; one per subject when models are trained here) run through joblib
    with ``n_jobs`` (MNE's convention), and on a Dask cluster inside
    ``with joblib.parallel_config(backend="dask")`` (see the Notes). Every map is written to
    ``cache_dir`` the moment its job ends, so a rerun after an interruption computes only
    what is missing.

    Parameters
    ----------
    subjects : dict
        ``{subject: trials}`` with trials in any form (``mne.Epochs``, braindecode windows,
        :class:`~neuroxai.data.Trials`), labelled, with a montage, e.g.
        ``load_moabb(name, subjects=[1, 2, 3], as_trials=True)`` or
        :func:`simulate_subjects`. A value may also be a zero-argument loader (e.g.
        ``functools.partial(load_moabb, name, subjects=s, as_trials=True)``) that a worker
        calls, so that loading is parallel too and a finished subject is not even loaded
        again (its cache key uses the loader's ``repr``). A list is numbered from 1.
    model : torch.nn.Module | braindecode.EEGClassifier | str | None
        One model shared by all subjects (cross-subject decoding), or a checkpoint name /
        path for :func:`neuroxai.models.load_pretrained`.
    models : dict | None
        ``{subject: model}``: each subject's own model (within-subject decoding). With
        neither ``model`` nor ``models``, a model per subject is trained here with
        stratified cross-validation (``train_params``) and each trial is explained by the
        fold model that did not see it; the folds' maps are averaged, weighted by their
        number of trials.
    methods : str | list of str
        ``"igc"`` (default), ``"amplitude_gradients"``, ``"haufe_patterns"`` or any
        registered :func:`~neuroxai.attribution.attribute` method (``"saliency"``,
        ``"deeplift"``, ...). See the Notes on which maps fit which test.
    method_params : dict | None
        ``{method: {param: value}}``, e.g. ``{"igc": {"n_baselines": 2, "n_steps": 8}}``.
        Defaults: ``igc`` spectral with 4 data baselines x 8 steps; ``attribute`` methods
        their own defaults with ``batch_size=16``.
    contrast : None | "class_vs_rest"
        None: per class, the mean over trials (amplitude gradients: of that class's output
        over all trials, as braindecode's tutorial; ``attribute`` methods: each trial
        explained for its own class, averaged over the class's trials). ``"class_vs_rest"``:
        per class c, output c's map averaged over class-c trials minus over the other
        trials (per-trial methods only).
    bands : "auto" | dict | None
        Frequency bins of spectral maps: ``"auto"`` = contiguous 2 Hz bins from 4 to 40 Hz
        (half-open); a dict ``{name: (fmin, fmax)}`` in Hz (inclusive edges); None keeps
        every rfft bin.
    tstep : float | None
        Width in s of the time bins of time-domain maps (None: every sample).
    absolute : bool
        Average ``|attribution|`` (relevance regardless of sign) rather than the signed
        values (time-domain maps of oscillations average to near zero otherwise).
    train_params : dict | None
        Training here (see :data:`DEFAULT_TRAIN`): ``model``, ``model_kwargs``, ``n_splits``,
        ``n_epochs``, ``lr``, ``weight_decay``, ``batch_size``.
    channels : "same" | "intersect"
        Subjects with different channel sets: an error (``"same"``), or the channels all
        subjects share, with a log line naming what each subject loses.
    cache_dir : path-like | None | False
        Where the subject maps are written as they finish. None: ``<cache>/group`` (the
        cache of :func:`neuroxai._utils.get_cache_dir`: ``$NEUROXAI_CACHE`` or
        ``./data_cache``); False: no cache (nothing resumes).
    n_jobs : int | None
        Parallel jobs (joblib; -1: all cores). None: 1, or the value of an enclosing
        ``joblib.parallel_config`` (with the Dask backend: every worker).
    seed : int
        Each subject's seed (IGC baselines, stochastic methods, training) is derived from
        it and the subject id alone.
    %(verbose)s

    Returns
    -------
    maps : SubjectMaps

    Notes
    -----
    **Which maps for which question.** A shared model is the same for every subject, so a
    map that does not use the labels (Haufe patterns, mean amplitude gradients) describes
    the model on each subject's data: a one-sample test then asks whether that is non-zero,
    and permuting the labels changes nothing. To ask where the *class information* lies
    across subjects, use a map that depends on the labels: ``"igc"`` (the split of the
    output-label correlation), a ``"class_vs_rest"`` contrast, or models trained per
    subject (their maps carry what each subject's labels taught them).

    **Dask.** The same call runs on a cluster::

        import joblib
        from dask.distributed import Client, LocalCluster

        with LocalCluster(n_workers=4, threads_per_worker=1) as cluster, \\
                Client(cluster), joblib.parallel_config(backend="dask"):
            maps = compute_subject_maps(subjects, model)

    The parent writes the cache, so workers need no shared disk. Results equal the serial
    run's bit for bit on the CPU (the jobs are deterministic for a seed).
    """
    t0 = time.perf_counter()
    contrast = None if contrast is None else check_option("contrast", contrast, CONTRASTS)
    methods, params = _check_methods(methods, method_params, contrast)
    bands = _check_bands(bands)
    tstep = None if tstep is None else check_float(tstep, "tstep", 0.0, low_open=True)
    if not isinstance(absolute, (bool, np.bool_)):
        raise InvalidInputError(f"absolute must be True or False, got {absolute!r}.")
    channels = check_option("channels", channels, ("same", "intersect"))
    seed = check_seed(seed)
    n_jobs = _check_n_jobs(n_jobs)
    items = _check_subjects(subjects)
    ids = [s for s, _ in items]
    per_model, train = _check_models(model, models, ids, train_params)
    if cache_dir is None:
        cache_dir = get_cache_dir() / "group"
    cache = _cache.check_cache_dir(cache_dir)

    prepared = {s: (src if _is_loader(src) else check_subject_trials(s, src, contrast))
                for s, src in items}
    in_memory = {s: t for s, t in prepared.items() if not _is_loader(t)}
    common = _channel_plan(in_memory, channels) if len(in_memory) > 1 else None
    if common is not None:
        prepared = {s: (_pick_channels(s, t, common) if s in in_memory else t)
                    for s, t in prepared.items()}
    _check_same_classes(in_memory)
    model_keys = {} if per_model is None else _model_keys(per_model)

    maps = {m: {} for m in methods}
    cached, jobs = [], []
    level = _job_level()
    for s, src in prepared.items():
        settings = dict(contrast=contrast, bands=bands, tstep=tstep, absolute=bool(absolute),
                        seed=subject_seed(seed, s), params=params, train=train,
                        channels=common if _is_loader(src) else None,
                        model_desc=None if per_model is None else _describe_model(
                            model, per_model[s]))
        data_key = (_cache.loader_fingerprint(src) if _is_loader(src)
                    else _cache.trials_fingerprint(src))
        keys, todo = {}, []
        for m in methods:
            keys[m] = _cache.job_key(
                subject=str(s), method=m, params=params[m], contrast=contrast, bands=bands,
                tstep=tstep, absolute=bool(absolute), seed=settings["seed"],
                model=model_keys.get(s) if per_model is not None else {"train": train},
                data=data_key, channels=settings["channels"])
            hit = (None if cache is None else
                   _cache.read_cached(_cache.map_path(cache, s, m, keys[m]), keys[m]))
            if hit is not None:
                maps[m][s] = hit
                cached.append((s, m))
            else:
                todo.append(m)
        if not todo:
            continue
        net = None if per_model is None else _ModelBox(per_model[s])
        groups = [tuple(todo)] if net is None else [(m,) for m in todo]
        for group in groups:
            jobs.append(_Job(s, group, {m: keys[m] for m in group}, src, net, settings, level))
    if cached:
        logger.info(f"{len(cached)} subject map(s) read from the cache {cache}")

    computed = []

    def store(result):
        subject, out = result
        for m, att in out.items():
            if cache is not None:
                att.save(_cache.map_path(cache, subject, m, att.params["cache_key"]),
                         overwrite=True)
            maps[m][subject] = att
            computed.append((subject, m))

    _execute(jobs, n_jobs, store)
    maps = {m: {s: maps[m][s] for s in ids} for m in methods}
    return SubjectMaps(maps, computed, cached, cache, time.perf_counter() - t0)


def _execute(jobs, n_jobs, store):
    """Run the jobs through joblib; ``store`` each result in this process as it arrives."""
    from joblib import Parallel, delayed

    from .._core.batching import progress

    if not jobs:
        return
    # max_nbytes=None: trials travel pickled, not as read-only memory maps (torch warns
    # about non-writable arrays, and a Dask worker may not share this machine's disk)
    parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered", max_nbytes=None)
    results = parallel(delayed(_run_job)(job) for job in jobs)
    for result in progress(results, "subject maps", total=len(jobs)):
        store(result)


def _check_same_classes(prepared):
    names = {s: tuple(t.class_names) for s, t in prepared.items()}
    if len(set(names.values())) > 1:
        (s0, n0), *rest = names.items()
        s1, n1 = next((s, n) for s, n in rest if n != n0)
        raise InvalidInputError(
            f"Subjects have different classes: subject {s0} {list(n0)}, subject {s1} "
            f"{list(n1)}. Class maps need the same classes, in the same order, for everyone.")


def _model_keys(per_model):
    seen = {}
    for _s, net in per_model.items():
        if id(net) not in seen:
            seen[id(net)] = _cache.model_fingerprint(net)
    return {s: seen[id(net)] for s, net in per_model.items()}


def _describe_model(model, net):
    if isinstance(model, str):
        return f"{type(net).__name__} ({model}, shared)"
    if model is not None:
        return f"{type(net).__name__} (shared)"
    return f"{type(net).__name__} (the subject's own)"
