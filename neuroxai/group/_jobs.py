"""The jobs of the group stage: what one job (a subject and its methods) computes, and how
the jobs run (joblib, or Dask through joblib's backend) with the parent storing each result.

Jobs are picklable and small: the trials travel pickled (or as a loader called in the
worker) and the model as a box unpickled on first use.
"""
from __future__ import annotations

import copy
import logging
import threading
import zlib
from dataclasses import dataclass

import numpy as np

from .._utils import (
    InvalidInputError,
    ModelMismatchError,
    NeuroXAIError,
    logger,
)

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


def _is_loader(src):
    return callable(src) and not hasattr(src, "__getitem__") and not hasattr(src, "X")


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
