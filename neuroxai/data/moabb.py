"""Any MOABB dataset through braindecode, preprocessed and windowed by a preset.

Whether a subject is on disk is settled by MOABB itself: its own loader runs with the
network switched off (a socket guard), so the files it reads are exactly the files it
would use, wherever its path configuration puts them, for every dataset class, including a
user's own :class:`moabb.datasets.base.BaseDataset` subclass.

One module (a little over 600 lines) on purpose: the route name -> dataset -> offline check
-> braindecode windows -> trials reads top to bottom, and none of its parts is used elsewhere.
"""
from __future__ import annotations

import contextlib
import difflib
import io
import os
import socket
import warnings
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .._utils import (
    DataNotAvailableError,
    InvalidInputError,
    UnknownNameError,
    get_cache_dir,
    import_braindecode,
    logger,
    unknown_name,
    verbose,
)
from ._common import trials_from_windows
from .preprocessing import _apply_preset, _check_filter, _picked_names, _reject_abs
from .presets import PRESETS, get_preset

__all__ = ["load_moabb", "list_datasets", "PRESETS"]

#: Named class subsets; a dataset accepts the tasks whose classes all appear in its event_id.
TASKS = MappingProxyType({
    "left_right": ("left_hand", "right_hand"),
    "hands_feet": ("feet", "hands"),
})
# datasets whose event_id mixes tasks recorded in different runs: their default task
_DEFAULT_TASK = {"PhysionetMI": "left_right"}
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "")


def _moabb_classes():
    """``{class name: class}`` of every dataset MOABB lists."""
    from moabb.datasets.utils import dataset_list

    return {cls.__name__: cls for cls in dataset_list}


def __getattr__(name):
    if name == "DATASETS":  # built on first use: importing MOABB takes seconds
        return MappingProxyType({k: v for k, v in _moabb_classes().items()
                                 if _paradigm(v) == "imagery" and not k.startswith("Fake")})
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _paradigm(cls):
    try:
        return cls().paradigm
    except Exception:  # a dataset whose constructor needs arguments or extras
        return None


def _resolve_dataset(dataset):
    """A MOABB dataset instance from a name, a class or an instance."""
    from moabb.datasets.base import BaseDataset

    if isinstance(dataset, BaseDataset):
        return dataset
    if isinstance(dataset, type) and issubclass(dataset, BaseDataset):
        return dataset()
    if not isinstance(dataset, str):
        raise InvalidInputError(
            "dataset must be a MOABB dataset name (e.g. 'BNCI2014_001'), a "
            f"moabb.datasets.base.BaseDataset instance or subclass; got {type(dataset).__name__}.")
    classes = _moabb_classes()
    by_lower = {k.lower(): v for k, v in classes.items()}
    cls = classes.get(dataset) or by_lower.get(dataset.lower())
    if cls is None:
        imagery = sorted(k for k, v in classes.items()
                         if _paradigm(v) == "imagery" and not k.startswith("Fake"))
        close = difflib.get_close_matches(dataset, list(classes), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise UnknownNameError(
            f"Unknown MOABB dataset {dataset!r}.{hint} Motor-imagery datasets: "
            f"{', '.join(imagery)}. neuroxai.data.list_datasets() (or `neuroxai datasets`) "
            "lists them with classes, channels, sampling rates and what is on disk.")
    return cls()


def _subject_list(ds, subjects):
    """(subjects to load, whether the caller asked for one subject)."""
    if subjects is None:
        return [ds.subject_list[0]], True
    single = isinstance(subjects, (int, np.integer))
    if isinstance(subjects, str) and subjects == "all":
        wanted = list(ds.subject_list)
    else:
        try:
            wanted = [subjects] if single else list(subjects)
        except TypeError:
            wanted = [subjects]
    bad = [s for s in wanted if s not in ds.subject_list]
    if bad or not wanted:
        valid = list(ds.subject_list)
        shown = str(valid)
        if all(isinstance(v, int) for v in valid) and valid == list(range(valid[0],
                                                                           valid[-1] + 1)):
            shown = f"{valid[0]}..{valid[-1]}"
        raise InvalidInputError(
            f"subjects {bad or wanted!r} not in {ds.code} (subjects {shown}); pass an int, "
            "a list of them or 'all'.")
    return [int(s) if isinstance(s, (int, np.integer)) else s for s in wanted], single


def _class_names(ds, task):
    """The classes (MOABB order: sorted names) a task selects from the dataset's event_id."""
    events = list(ds.event_id)
    if task is None:
        task = _DEFAULT_TASK.get(type(ds).__name__)
    if task is None or task == "all":
        return tuple(sorted(events))
    if isinstance(task, str):
        valid = {t: c for t, c in TASKS.items() if set(c) <= set(events)}
        valid["all"] = events
        if task not in valid:
            raise unknown_name(f"{type(ds).__name__} task", task, valid)
        return tuple(sorted(valid[task]))
    classes = [str(c) for c in task]
    for c in classes:
        if c not in events:
            raise unknown_name(f"{type(ds).__name__} class", c, events)
    if len(set(classes)) < 2:
        raise InvalidInputError(f"task must select at least two classes, got {classes}.")
    return tuple(sorted(set(classes)))


# --------------------------------------------------------------------------- offline reading

class _NetworkAttempt(BaseException):
    """Raised by :func:`_network_blocked` at the first connection attempt.

    A BaseException, not an OSError: no retry loop (NEMAR's client retries five times with
    back-off, ~35 s offline) and no ``except Exception`` on the way can swallow it.
    """


def _is_local(host):
    return not isinstance(host, str) or host in _LOCAL_HOSTS or host.startswith("127.")


@contextlib.contextmanager
def _network_blocked():
    """Turn every non-local connection into :class:`_NetworkAttempt`; yield the attempts.

    Process-wide while active (sockets have no per-thread switch): hold it only around a
    local read.
    """
    attempts = []
    real_gai, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, port, *args, **kwargs):
        if _is_local(host):
            return real_gai(host, port, *args, **kwargs)
        attempts.append((host, port))
        raise _NetworkAttempt(host)

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(host):
            attempts.append((host, address[1]))
            raise _NetworkAttempt(host)
        return real_connect(self, address)

    socket.getaddrinfo, socket.socket.connect = getaddrinfo, connect
    try:
        yield attempts
    finally:
        socket.getaddrinfo, socket.socket.connect = real_gai, real_connect


def _is_path_key(key):
    return key.startswith("MNE_DATASETS_") and key.endswith("_PATH")


@contextlib.contextmanager
def _mne_paths(root, provider):
    """Point MNE/MOABB at ``root`` (None: the user's own configuration) for this call only.

    Through the environment, never the user's config file: ``MNE_DATA`` and every
    ``MNE_DATASETS_*_PATH`` already configured (which MOABB would prefer) go to ``root``.
    ``provider="upstream"`` keeps MOABB >= 1.5 from asking the NEMAR mirror first.
    """
    import mne

    values = {}
    if root is not None:
        keys = {k for k in os.environ if _is_path_key(k)}
        keys |= {k for k in (mne.get_config() or {}) if _is_path_key(k)}
        values = {k: str(root) for k in keys | {"MNE_DATA"}}
    if provider is not None:
        values["MOABB_DOWNLOAD_PROVIDER"] = provider
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _quiet(downloads=False):
    """MOABB/MNE reading noise the user cannot act on (deprecated montage names, ...).

    ``downloads=False`` also silences pooch's "Downloading data from ..." line, which it
    logs before every attempt, including the ones the network guard stops.
    """
    import logging

    import pooch
    from mne.utils import use_log_level

    pooch_log = pooch.get_logger()  # "Downloading data from ..." before every attempt
    level = pooch_log.level
    if not downloads:
        pooch_log.setLevel(logging.WARNING)
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(warnings.catch_warnings())
            stack.enter_context(use_log_level("WARNING"))
            warnings.filterwarnings("ignore", message=r"Montage name .* is deprecated")
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            if not downloads:  # MOABB and NEMAR announce each download they are about to try
                warnings.filterwarnings("ignore", message=r"(?s).*(not found|[Dd]ownload)")
                stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
            yield
    finally:
        pooch_log.setLevel(level)


def _dirs(root):
    return {dirpath for dirpath, _, _ in os.walk(root)}


def _remove_new_empty_dirs(root, before):
    """Remove the folders a failed read created under ``root`` that hold no file."""
    for path in sorted(_dirs(root) - before, key=len, reverse=True):
        with contextlib.suppress(OSError):  # not empty: keep it
            os.rmdir(path)


def _read_local(ds, subject, root, provider):
    """MOABB's reading of one subject with the network off.

    Returns ``(sessions, attempts)``: the subject's ``{session: {run: raw}}``, or None and
    the ``(host, port)`` MOABB tried to download from.
    """
    import mne

    # MOABB creates the folders of a file before it finds it missing: remove the empty
    # ones a failed read leaves behind
    top = root if root is not None else mne.get_config("MNE_DATA")
    before = _dirs(top) if top and os.path.isdir(top) else None
    sessions = None
    try:
        with _mne_paths(root, provider), _network_blocked() as attempts, _quiet():
            try:
                # one process: the guard does not reach joblib workers
                sessions = ds.get_data([subject])[subject]
            except _NetworkAttempt:
                pass
            except Exception as err:
                if not attempts:  # not a download: the files are there but unreadable
                    raise DataNotAvailableError(
                        f"MOABB could not read {ds.code} subject {subject} from "
                        f"{root or 'its configured folder'}: {type(err).__name__}: {err}"
                    ) from err
    finally:
        if sessions is None and before is not None:
            _remove_new_empty_dirs(top, before)
    return sessions, ([] if sessions is not None else attempts)


def _download_provider():
    try:
        from moabb.utils import get_download_provider
    except ImportError:  # MOABB < 1.5 has no NEMAR mirror
        return "upstream"
    return get_download_provider()


def _reachable(hosts, timeout=3.0):
    for host, port in hosts:
        try:
            with socket.create_connection((host, int(port or 443)), timeout=timeout):
                return True
        except (OSError, ValueError):
            continue
    return False


def _roots(data_dir, cache_dir):
    """Folders to read from, in order, and the one downloads go to."""
    import mne

    if data_dir is not None:
        root = Path(data_dir).expanduser().resolve()
        if not root.is_dir():
            raise InvalidInputError(
                f"data_dir {str(root)!r} is not a folder. Pass an existing MNE data folder "
                "(the one that holds MNE-<dataset>-data/), or leave data_dir=None.")
        return [root], root
    cache = get_cache_dir(cache_dir) / "mne_data"
    cache.mkdir(parents=True, exist_ok=True)
    # the user's MNE configuration first (only when set: MOABB would otherwise write
    # ~/mne_data into the user's config file)
    roots = [None] if mne.get_config("MNE_DATA") else []
    return roots + [cache], cache


def _fetch(ds, subjects, data_dir, cache_dir):
    """``{subject: {session: {run: raw}}}``, from disk when possible, else downloaded."""
    roots, target = _roots(data_dir, cache_dir)
    provider = _download_provider()
    found, wanted = {}, []
    for subject in subjects:
        for root in roots:
            sessions, attempts = _read_local(ds, subject, root, "upstream")
            if sessions is None and getattr(ds, "nemar_id", None) and provider != "upstream":
                # files fetched through MOABB's NEMAR mirror live in its own store
                sessions, more = _read_local(ds, subject, root, None)
                attempts = attempts + more
            if sessions is not None:
                logger.info(f"{ds.code} subject {subject}: read from "
                            f"{root or os.environ.get('MNE_DATA') or 'MNE config'} (offline)")
                found[subject] = sessions
                break
            wanted += attempts
        else:
            found[subject] = None
    missing = [s for s, v in found.items() if v is None]
    if not missing:
        return found
    hosts = list(dict.fromkeys(wanted))
    where = ", ".join(str(r or "$MNE_DATA") for r in roots)
    if not _reachable(hosts):
        servers = ", ".join(dict.fromkeys(h for h, _ in hosts)) or "the data server"
        name = type(ds).__name__
        raise DataNotAvailableError(
            f"{ds.code} subject(s) {missing} not on disk (MOABB looked under {where}) and "
            f"{servers} cannot be reached. Download "
            f"once while online: this same call saves them under {target} (or "
            f"moabb.datasets.{name}().download(subject_list={missing}, path='{target}')); "
            "or point data_dir= (or $MNE_DATA) at an MNE data folder that holds them. "
            "Offline, neuroxai.data.simulate_bcic_iv_2a() gives a simulated BCI IV 2a dataset.")
    for subject in missing:
        logger.info(f"Downloading {ds.code} subject {subject} into {target}")
        with _mne_paths(target, None), _quiet(downloads=True):
            try:
                found[subject] = ds.get_data([subject])[subject]
            except Exception as err:
                raise DataNotAvailableError(
                    f"Downloading {ds.code} subject {subject} into {target} failed: "
                    f"{type(err).__name__}: {err}") from err
    return found


# --------------------------------------------------------------------------- windows

def _raw_datasets(ds, sessions_by_subject, classes):
    """braindecode recordings (subject, session, run) that hold at least one trial."""
    import pandas as pd

    datasets = import_braindecode("braindecode.datasets")
    RawDataset = getattr(datasets, "RawDataset", None) or datasets.BaseDataset

    recs = []
    for subject, sessions in sessions_by_subject.items():
        for session, runs in sessions.items():
            for run, raw in runs.items():
                # MOABB has already turned the events into annotations named after the
                # classes, shifted by the dataset's interval (braindecode's MOABBDataset
                # re-derives them and shifts again when there is no stim channel)
                if not set(classes) & {str(d) for d in raw.annotations.description}:
                    continue
                desc = pd.Series({"subject": subject, "session": session, "run": run})
                recs.append(RawDataset(raw, desc))
    if not recs:
        raise InvalidInputError(
            f"No trial of classes {list(classes)} in {ds.code} subject(s) "
            f"{list(sessions_by_subject)}.")
    return datasets.BaseConcatDataset(recs)


def _windows(concat, ds, classes, preset, n_jobs):
    import_braindecode("braindecode")
    from braindecode.preprocessing import Preprocessor, create_windows_from_events
    from braindecode.preprocessing import preprocess as bd_preprocess

    n_trials = 0
    for rec in concat.datasets:  # checks first, before any filtering
        _picked_names(rec.raw, preset)
        _check_filter(preset, preset.resample_sfreq or rec.raw.info["sfreq"])
    for rec in concat.datasets:
        rec.raw.load_data()
        if preset.reject_abs_uv is not None:
            _reject_abs(rec.raw, classes, preset.reject_abs_uv, preset.scale)
        n_trials += sum(str(d) in classes for d in rec.raw.annotations.description)
    bd_preprocess(concat, [Preprocessor(_apply_preset, preset=preset, apply_on_array=False)],
                  n_jobs=n_jobs)
    sfreqs = sorted({rec.raw.info["sfreq"] for rec in concat.datasets})
    if len(sfreqs) > 1:
        raise InvalidInputError(
            f"The recordings have different sampling rates {sfreqs} Hz after preprocessing. "
            "Use a preset that resamples (dataclasses.replace(preset, resample_sfreq=...)) or "
            "load the subjects separately.")
    sfreq = sfreqs[0]
    start = int(round(preset.tmin * sfreq))
    stop = int(round(preset.tmax_offset * sfreq))
    windows = create_windows_from_events(
        concat, trial_start_offset_samples=start, trial_stop_offset_samples=stop,
        preload=True, mapping={c: k for k, c in enumerate(classes)}, n_jobs=n_jobs,
        use_mne_epochs=True)
    for rec in windows.datasets:
        rec.description["class_names"] = ",".join(classes)
        rec.description["tmin"] = start / sfreq
    n_win = len(windows)
    logger.info(f"{ds.code}: {n_win} windows of {preset.tmin:g} s .. interval end "
                f"+ {preset.tmax_offset:g} s at {sfreq:g} Hz, classes {list(classes)}"
                + (f"; {n_trials - n_win} trial(s) dropped (window outside the recording)"
                   if n_trials > n_win else ""))
    return windows


@verbose
def load_moabb(dataset, subjects=None, *, task=None, preset="bcic_iv_2a_tutorial",
               cache_dir=None, data_dir=None, n_jobs=1, as_trials=False, subject=None,
               verbose=None):
    """Load any MOABB dataset through braindecode, preprocessed and windowed by a preset.

    Every trial becomes one window from the preset's ``tmin`` (tutorial: 0.5 s before the
    cue) to the end of the dataset's trial interval (MOABB's ``interval``): 22 x 1125
    samples for BNCI2014_001 at 250 Hz, 64 x 560 for PhysionetMI at 160 Hz.

    Parameters
    ----------
    dataset : str | moabb.datasets.base.BaseDataset
        A class name of ``moabb.datasets`` (``"BNCI2014_001"``, ``"PhysionetMI"``,
        ``"Schirrmeister2017"``, ...; see :func:`list_datasets`), or an instance, e.g. of
        your own ``BaseDataset`` subclass.
    subjects : int | list of int | "all" | None
        None: the dataset's first subject. An int gives one subject; a list (even of one)
        or ``"all"`` several.
    task : str | list of str | None
        Which classes of the dataset's ``event_id`` become trials. None: all of them, except
        for datasets that mix tasks (PhysionetMI: ``"left_right"``). Names: ``"all"``,
        ``"left_right"`` (left_hand vs right_hand), ``"hands_feet"`` (feet vs hands, e.g.
        PhysionetMI runs 6/10/14); or a list of event names.
    preset : str | Preset
        A name in :data:`~neuroxai.data.PRESETS` (``"bcic_iv_2a_tutorial"``, ``"high_gamma"``)
        or a :class:`~neuroxai.data.Preset`.
    cache_dir : path-like | None
        Cache root; downloads go to ``<cache_dir>/mne_data`` unless ``data_dir`` is given.
    data_dir : path-like | None
        An MNE data folder to read from (and download to), e.g. the one ``$MNE_DATA`` names.
        None: MOABB's own configuration (``$MNE_DATA``, ``MNE_DATASETS_*_PATH``) when set,
        then the cache.
    n_jobs : int
        Parallel jobs of braindecode's preprocessing and windowing.
    as_trials : bool
        Return :class:`~neuroxai.data.Trials` (a dict ``{subject: Trials}`` for several
        subjects) instead of the braindecode windows dataset.
    subject : int | None
        Deprecated alias of ``subjects`` (FutureWarning); removed in the next release.
    %(verbose)s

    Returns
    -------
    windows : braindecode.datasets.BaseConcatDataset | Trials | dict of Trials
        Targets ``0..n-1`` in the order of the sorted class names (MOABB's order:
        feet, left_hand, right_hand, tongue for BNCI2014_001); each recording's description
        holds ``subject``, ``session``, ``run``, ``class_names`` and ``tmin``.

    Raises
    ------
    DataNotAvailableError
        When a subject is not on disk and its data server cannot be reached. This is
        decided in seconds: MOABB reads what it has with the network off, and only a missing
        file leads to one connection attempt to the host MOABB would download it from.
    UnknownNameError
        For an unknown dataset, task or preset (the message lists the valid ones).

    Notes
    -----
    When every file is on disk nothing touches the network: MOABB reads with its download
    provider pinned to ``upstream`` (MOABB >= 1.5 would otherwise first ask the NEMAR
    mirror, ~35 s of retries offline); files MOABB fetched into its NEMAR store are read
    too. Trials are rejected by ``preset.reject_abs_uv`` (``high_gamma``: 800 µV) before
    filtering, as in the preset's source.
    """
    if subject is not None:
        if subjects is not None:
            raise InvalidInputError("Pass subjects= only (subject= is its deprecated alias).")
        warnings.warn("load_moabb(subject=...) is deprecated and will be removed in the next "
                      "release; use subjects=... (an int or a list).", FutureWarning,
                      stacklevel=3)
        subjects = subject
    preset = get_preset(preset)
    if not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise InvalidInputError(f"n_jobs must be a non-zero int (joblib), got {n_jobs!r}.")
    ds = _resolve_dataset(dataset)
    subjects, single = _subject_list(ds, subjects)
    classes = _class_names(ds, task)
    sessions = _fetch(ds, subjects, data_dir, cache_dir)
    windows = _windows(_raw_datasets(ds, sessions, classes), ds, classes, preset, n_jobs)
    if not as_trials:
        return windows
    if single:
        return trials_from_windows(windows, classes)
    datasets = import_braindecode("braindecode.datasets")
    return {s: trials_from_windows(datasets.BaseConcatDataset(
        [d for d in windows.datasets if d.description["subject"] == s]), classes)
        for s in subjects}


# --------------------------------------------------------------------------- listing

def _acquisition(ds):
    """(EEG channels, sampling rate) from MOABB's metadata, else its summary table."""
    n_chans = sfreq = None
    meta = getattr(ds, "metadata", None)
    acq = getattr(meta, "acquisition", None)
    if acq is not None:
        n_chans = (acq.channel_types or {}).get("eeg")
        sfreq = acq.sampling_rate
    table = getattr(ds, "_summary_table", None) or {}
    n_chans = n_chans or table.get("#Chan")
    sfreq = sfreq or table.get("Freq (Hz)")

    def num(v, kind):
        try:
            return kind(v)
        except (TypeError, ValueError):
            return None

    return num(n_chans, int), num(sfreq, float)


@verbose
def list_datasets(paradigm="imagery", *, check_disk=True, data_dir=None, cache_dir=None,
                  verbose=None):
    """The MOABB datasets :func:`load_moabb` reads, and whether their files are on disk.

    Nothing is downloaded and the network is never used.

    Parameters
    ----------
    paradigm : str | None
        MOABB's paradigm (``"imagery"``, ``"p300"``, ``"ssvep"``, ``"cvep"``, ``"rstate"``),
        or None for every dataset.
    check_disk : bool
        Fill ``on_disk`` (False: leave it empty). A dataset whose first subject is on disk
        is read once to tell (about a second for a small dataset, longer for a large one);
        one that is not costs milliseconds.
    data_dir, cache_dir : path-like | None
        Where to look, as in :func:`load_moabb`.
    %(verbose)s

    Returns
    -------
    table : pandas.DataFrame
        One row per dataset (index: the name :func:`load_moabb` takes): ``paradigm``,
        ``classes`` (MOABB order), ``n_classes``, ``n_channels`` (EEG), ``sfreq`` (Hz),
        ``n_subjects``, ``n_sessions``, ``trial_s`` (trial interval, s), ``on_disk``
        (the first subject is readable offline).
    """
    import pandas as pd

    rows = {}
    roots = _roots(data_dir, cache_dir)[0] if check_disk else []
    for name, cls in sorted(_moabb_classes().items()):
        if name.startswith("Fake"):
            continue
        try:
            ds = cls()
        except Exception as err:  # constructors that need arguments or optional extras
            logger.debug(f"{name}: skipped ({type(err).__name__}: {err})")
            continue
        if paradigm is not None and ds.paradigm != paradigm:
            continue
        n_chans, sfreq = _acquisition(ds)
        on_disk = None
        if check_disk:
            on_disk = False
            for root in roots:
                try:
                    on_disk = _read_local(ds, ds.subject_list[0], root, "upstream")[0] is not None
                except DataNotAvailableError:
                    on_disk = False
                if on_disk:
                    break
        rows[name] = dict(
            paradigm=ds.paradigm, classes=", ".join(sorted(ds.event_id)),
            n_classes=len(ds.event_id), n_channels=n_chans, sfreq=sfreq,
            n_subjects=len(ds.subject_list), n_sessions=ds.n_sessions,
            trial_s=float(ds.interval[1] - ds.interval[0]), on_disk=on_disk)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "dataset"
    if len(table):
        table["n_channels"] = table["n_channels"].astype("Int64")
    return table
