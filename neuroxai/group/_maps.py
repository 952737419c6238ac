"""Subject-level maps: one job per subject (x method), run through joblib, cached as they end.

Each job explains one subject's trials with its model (a shared one, the subject's own, or
one trained here with stratified cross-validation) and reduces the per-trial attributions
to a map per class: ``class x chan x band`` (spectral methods, averaged in frequency bins),
``class x chan x time`` (time-domain methods) or ``class x chan x band`` for band ablation.
The parent process writes every map to the cache the moment its job returns, so an
interrupted group run loses only the jobs that were running.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._core.random import check_seed
from .._core.selection import check_bands
from .._core.validation import check_float, check_int, check_option
from .._utils import (
    InvalidInputError,
    get_cache_dir,
    logger,
    unknown_name,
    verbose,
)
from . import _cache
from ._jobs import (  # noqa: F401
    _SPECIAL_PARAMS,
    AUTO_BANDS,
    CONTRASTS,
    DEFAULT_TRAIN,
    LABEL_FREE,
    SPECIAL_METHODS,
    _execute,
    _is_loader,
    _Job,
    _job_level,
    _ModelBox,
    _pick_channels,
    _run_job,
    check_subject_trials,
    subject_seed,
)


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
