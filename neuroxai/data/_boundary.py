"""The one boundary every stage uses for trials, whatever form a user brings them in.

:func:`as_trials` turns ``mne.Epochs``, a braindecode windows dataset, a
:class:`~neuroxai.data.Trials` or an array (with ``info`` and ``tmin``) into a
:class:`~neuroxai.data.Trials`: data, sampling rate, times with the real ``tmin``, labels
encoded to ``0..n-1`` with their class names, and the ``info`` of the channels kept (EEG,
bad channels excluded, by default). :func:`prepare_trials` is the same for the stages, with
the requirements of the caller (a sampling rate, positions, times) checked up front.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from .._core.labels import encode_labels
from .._utils import InvalidInputError, ShapeError, check_trials_array, logger, verbose
from ._common import Trials, check_info_positions


class UnitsWarning(UserWarning):
    """EEG data look like volts (as MNE stores them) where a model expects microvolts."""


#: Below this per-channel standard deviation (median over channels), EEG is taken for
#: volts: scalp EEG is 1e-6..1e-4 V; in µV or standardised it is 0.1..1000.
VOLTS_STD = 1e-3

_FORMS = ("mne.Epochs, a braindecode windows dataset (BaseConcatDataset of windows), "
          "neuroxai.data.Trials, or an array (n_trials, n_chans, n_times) with info= and tmin=")


def _is_epochs(inst):
    import mne

    return isinstance(inst, mne.BaseEpochs)


def _is_windows(inst):
    return hasattr(inst, "datasets") and all(
        hasattr(d, "windows") or hasattr(d, "crop_inds") for d in inst.datasets)


def _pick_indices(info, picks, exclude):
    """Indices of the channels of ``info`` to keep: ``picks`` as in MNE, minus ``exclude``."""
    import mne

    bads = list(info["bads"]) if exclude == "bads" else list(exclude or ())
    names = info["ch_names"]
    if picks is None or (isinstance(picks, str) and picks == "all"):
        return [i for i, n in enumerate(names) if n not in bads]
    if isinstance(picks, str):
        picks = [picks]
    picks = list(picks)
    types = set(info.get_channel_types())
    if all(isinstance(p, str) for p in picks):
        kinds = [p for p in picks if p not in names]
        if kinds and not set(kinds) <= {"eeg", "data", "meg", "seeg", "ecog", "dbs", "eog",
                                        "emg", "ecg", "misc", "fnirs"}:
            raise InvalidInputError(
                f"picks={picks!r}: {kinds} are neither channel names nor channel types. "
                f"Channel types here: {sorted(types)}.")
        if not kinds:
            return [names.index(p) for p in picks if p not in bads]
        idx = mne.pick_types(info, **{("meg" if k == "data" else k): True for k in kinds
                                      if k != "data"}, **(dict(eeg=True, seeg=True, ecog=True,
                                                               dbs=True) if "data" in kinds
                                                          else {}), exclude=bads)
        named = [names.index(p) for p in picks if p in names and p not in bads]
        return sorted(set(idx.tolist()) | set(named))
    idx = [int(p) for p in picks]
    if any(i < 0 or i >= len(names) for i in idx):
        raise InvalidInputError(f"picks={picks!r} has indices outside 0..{len(names) - 1}.")
    return [i for i in idx if names[i] not in bads]


def _pick(X, info, picks, exclude):
    import mne

    if info is None:
        return X, None
    idx = _pick_indices(info, picks, exclude)
    if not idx:
        raise InvalidInputError(
            f"picks={picks!r} with exclude={exclude!r} keeps no channel (channel types: "
            f"{sorted(set(info.get_channel_types()))}, bads: {info['bads']}). Set the channel "
            "types (inst.set_channel_types) or pass picks='all'.")
    if len(idx) == len(info["ch_names"]):
        return X, info
    dropped = [n for i, n in enumerate(info["ch_names"]) if i not in set(idx)]
    logger.info(f"Using {len(idx)} of {len(info['ch_names'])} channels (picks={picks!r}, "
                f"exclude={exclude!r}); left out: {', '.join(dropped)}.")
    return X[:, idx], mne.pick_info(info, idx, verbose=False)


def _from_epochs(epochs, y):
    X = epochs.get_data(copy=False)
    session = None
    meta = epochs.metadata
    if meta is not None and "session" in meta:
        session = meta["session"].astype(str).to_numpy()
    if isinstance(y, str) and meta is not None and y in meta:
        return X, meta[y].to_numpy(), None, float(epochs.tmin), session
    if y is not None:
        return X, y, None, float(epochs.tmin), session
    inv = {code: name for name, code in epochs.event_id.items()}
    missing = sorted(set(epochs.events[:, 2]) - set(inv))
    if missing:
        raise InvalidInputError(f"Epochs have event codes {missing} that event_id does not name.")
    names_by_code = [inv[c] for c in sorted(inv)]
    labels = np.array([inv[c] for c in epochs.events[:, 2]], dtype=object)
    return X, labels, names_by_code, float(epochs.tmin), session


def _window_offset(ds):
    """Window start relative to its event, in samples, from braindecode's window kwargs."""
    for _, kwargs in getattr(ds, "window_kwargs", None) or []:
        off = kwargs.get("trial_start_offset_samples") if isinstance(kwargs, dict) else None
        if isinstance(off, (int, np.integer)):
            return int(off), kwargs.get("mapping")
    return None, None


def _from_windows(windows):
    Xs, ys, sessions, info, tmins, names = [], [], [], None, set(), None
    for ds in windows.datasets:
        if hasattr(ds, "windows"):  # use_mne_epochs=True
            epochs = ds.windows
            epochs.load_data()
            X = epochs.get_data(copy=False)
            meta = epochs.metadata
            ds_info = epochs.info
            event_id = dict(epochs.event_id)
        else:  # EEGWindowsDataset: windows are index ranges into the continuous raw
            raw, meta = ds.raw, ds.metadata
            data = raw.get_data()
            # indices into the raw's data (braindecode subtracts first_samp)
            starts = meta["i_start_in_trial"].to_numpy(int)
            stops = meta["i_stop_in_trial"].to_numpy(int)
            if len(set(stops - starts)) != 1:
                raise ShapeError("The windows have different lengths; trials need one length.")
            X = np.stack([data[:, a:b] for a, b in zip(starts, stops)]) if len(starts) else \
                np.empty((0, len(raw.ch_names), 0))
            ds_info = raw.info
            event_id = {}
        if info is None:
            info = ds_info
        elif ds_info["ch_names"] != info["ch_names"] or ds_info["sfreq"] != info["sfreq"]:
            raise InvalidInputError("The recordings of this windows dataset differ in channels or "
                                    "sampling rate; trials need one layout.")
        Xs.append(X)
        ys.append(meta["target"].to_numpy())
        desc = ds.description
        sessions.append(np.full(len(X), str(desc["session"]) if "session" in desc else "0",
                                dtype=object))
        offset, mapping = _window_offset(ds)
        if "tmin" in desc:
            tmins.add(float(desc["tmin"]))
        elif offset is not None and np.all(meta.get("i_window_in_trial", 0) == 0):
            tmins.add(offset / float(ds_info["sfreq"]))
        else:
            tmins.add(None)
        if "class_names" in desc:
            names = tuple(str(desc["class_names"]).split(","))
        elif names is None and (mapping or event_id):
            by_target = {}
            for name, code in (mapping or event_id).items():
                by_target.setdefault(int(code), str(name))
            if sorted(by_target) == list(range(len(by_target))):
                names = tuple(by_target[k] for k in range(len(by_target)))
    if info is None:
        raise ShapeError("The windows dataset holds no recordings.")
    tmin = tmins.pop() if len(tmins) == 1 else None
    if tmin is None:
        logger.info("The windows carry no event time (tmin): times are relative to each "
                    "window's start. Pass tmin= to set it.")
    return (np.concatenate(Xs), np.concatenate(ys), names, tmin, np.concatenate(sessions),
            info)


def check_units(X, info, what="the trials"):
    """Warn (:class:`UnitsWarning`) when EEG in ``X`` looks like volts."""
    if info is not None:
        eeg = [i for i, t in enumerate(info.get_channel_types()) if t == "eeg"]
        if not eeg:
            return
        X = X[:, eeg]
    if X.size == 0:
        return
    sample = np.asarray(X[: min(len(X), 32)], dtype=np.float64)
    spread = float(np.median(sample.std(axis=-1)))
    if 0 < spread < VOLTS_STD:
        warnings.warn(
            f"{what} look like volts (median channel SD {spread:.2g}), MNE's unit for EEG; "
            "models trained with braindecode's recipe or neuroxai expect microvolts (or "
            "standardised data), and trained on volts they stay at chance. Scale first: "
            "neuroxai.data.preprocess(inst) (the tutorial preprocessing), or "
            "inst.apply_function(lambda x: x * 1e6) / X * 1e6. If the model really was "
            "trained on volts, silence this with warnings.simplefilter('ignore', "
            "neuroxai.data.UnitsWarning).", UnitsWarning, stacklevel=4)


@verbose
def as_trials(inst, y=None, *, info=None, tmin=None, class_names=None, picks="eeg",
              exclude="bads", verbose=None):
    """Trials from any input form: ``mne.Epochs``, braindecode windows, Trials or an array.

    Parameters
    ----------
    inst : mne.Epochs | braindecode BaseConcatDataset | Trials | array
        The trials. An array (or tensor) needs ``info`` for anything that uses the sampling
        rate or the channel positions, and ``tmin`` for anything placed in time.
    y : array, shape (n_trials,) | str | None
        Labels: integers, event codes (e.g. 769/770) or class-name strings, encoded to
        ``0..n_classes-1``. For Epochs a string names a ``metadata`` column; by default
        Epochs give their events (named by ``event_id``, classes ordered by event code)
        and windows datasets their ``target`` metadata.
    info : mne.Info | None
        Channel names, types, sampling rate and montage of an array's channels.
    tmin : float | None
        Time of the first sample relative to the event, in s (``epochs.tmin``). Read from
        Epochs, Trials and neuroxai's windows; given here, it overrides them.
    class_names : sequence of str | None
        Class names in the model's output order; labels are encoded to match. A list that
        does not fit the labels raises :class:`~neuroxai.InvalidInputError` listing what
        would.
    picks : str | list | None
        Channels to keep, as in MNE: a type (``"eeg"``, the default), ``"data"``,
        ``"all"``/``None``, names or indices. EOG/EMG/stimulus channels are left out by
        default, with a log line naming them.
    exclude : ``"bads"`` | list of str
        Channels to leave out; ``"bads"`` (default) is ``info["bads"]``.
    %(verbose)s

    Returns
    -------
    trials : Trials
    """
    return _as_trials(inst, y, info, tmin, class_names, picks, exclude, np.float32)


def _as_trials(inst, y, info, tmin, class_names, picks, exclude, dtype):
    import torch

    names, session, out_info = None, None, info
    if isinstance(inst, Trials):
        if y is not None:
            raise InvalidInputError("y was given for Trials, which carry their labels; pass "
                                    "the array instead, or drop y.")
        X, labels, out_info, session = inst.X, inst.y, inst.info, inst.session
        names = inst.class_names
        tmin = inst.tmin if tmin is None else tmin
        if labels is not None and names:
            labels = np.asarray(names, dtype=object)[labels]
    elif _is_epochs(inst):
        if info is not None:
            raise InvalidInputError("info was given with Epochs, which carry their own info.")
        X, labels, names, ep_tmin, session = _from_epochs(inst, y)
        out_info = inst.info
        tmin = ep_tmin if tmin is None else tmin
    elif _is_windows(inst):
        X, labels, names, w_tmin, session, out_info = _from_windows(inst)
        if y is not None:
            labels, names = y, None
        tmin = w_tmin if tmin is None else tmin
    else:
        import mne

        if isinstance(inst, mne.io.BaseRaw):
            raise InvalidInputError(
                "A Raw is continuous: cut it into trials first (neuroxai.data.epochs_from_raw, "
                "or mne.Epochs(raw, events, ...)).")
        if hasattr(inst, "datasets"):
            raise InvalidInputError(
                "This braindecode dataset holds continuous recordings, not windows: window it "
                "first (braindecode.preprocessing.create_windows_from_events).")
        if isinstance(inst, (str, os.PathLike)):
            raise InvalidInputError(
                f"inst is a file name ({str(inst)!r}); read it first (e.g. "
                f"mne.read_epochs(...)) and pass {_FORMS}.")
        if isinstance(inst, torch.Tensor):
            inst = inst.detach().cpu().numpy()
        try:
            X = np.asarray(inst)
        except Exception as err:
            raise InvalidInputError(f"Cannot read trials from {type(inst).__name__}; pass "
                                    f"{_FORMS}.") from err
        if X.dtype == object:
            raise InvalidInputError(
                f"Cannot read trials from {type(inst).__name__}; pass {_FORMS}.")
        labels = y
        if info is not None:
            import mne as _mne

            if not isinstance(info, _mne.Info):
                raise InvalidInputError(f"info must be an mne.Info, got {type(info).__name__}.")
            if X.ndim == 3 and X.shape[1] != len(info["ch_names"]):
                raise ShapeError(f"info has {len(info['ch_names'])} channels but X has "
                                 f"{X.shape[1]}.")
    X = check_trials_array(X, "X", dtype=dtype)
    if not len(X) or not X.shape[2]:
        # every stage would return an empty or NaN result (a mean over no trials)
        raise ShapeError(f"X holds no data: shape {X.shape} (n_trials, n_chans, n_times). "
                         "Check the selection (tmin/tmax, rejected epochs, an empty session).")
    if tmin is not None:
        from .._core.validation import check_float

        tmin = check_float(tmin, "tmin")
    X, out_info = _pick(X, out_info, picks, exclude)
    if labels is not None:
        # class_names (the model's output order) decides; else the source's own names
        codes, names = encode_labels(labels, class_names if class_names is not None else names,
                                     "y", n=len(X))
    else:
        codes = None
        names = tuple(class_names) if class_names is not None else (names or ())
    trials = Trials(X, codes, out_info, names or (), tmin, session)
    trials.X = X  # Trials stores float32; a float64 model keeps the caller's float64 data
    return trials


def prepare_trials(inst, y=None, *, info=None, tmin=None, class_names=None, picks="eeg",
                   exclude="bads", need=(), what="this function", units=False,
                   dtype=np.float32):
    """:func:`as_trials` for the stages, with the caller's needs checked before any work.

    ``need`` holds ``"sfreq"`` (a sampling rate), ``"positions"`` (channel positions),
    ``"times"`` (a known ``tmin`` as well) or ``"labels"``. ``units`` warns when EEG data
    look like volts (see :class:`UnitsWarning`). ``dtype=np.float64`` keeps float64 data
    (for a float64 model).
    """
    trials = _as_trials(inst, y, info, tmin, class_names, picks, exclude, dtype)
    if trials.info is None and ({"sfreq", "positions", "times"} & set(need)):
        what_for = {"sfreq": "the sampling rate", "positions": "channel positions",
                    "times": "the sampling rate"}[next(n for n in need if n != "labels")]
        raise InvalidInputError(
            f"{what} needs {what_for}, and X is a bare array: pass info= (an mne.Info with "
            "the channel names, sfreq and montage) with the array, or pass mne.Epochs, a "
            "braindecode windows dataset or neuroxai.data.Trials.")
    if "times" in need and trials.tmin is None:
        raise InvalidInputError(
            f"{what} places its result in time and X is an array: pass tmin= (the time of the "
            "first sample relative to the event, in s, e.g. epochs.tmin), or pass the Epochs.")
    if "positions" in need:
        check_info_positions(trials.info)
    if "labels" in need and trials.y is None:
        raise InvalidInputError(f"{what} needs labels: pass y= (one per trial), or labelled "
                                "Epochs / windows / Trials.")
    if units:
        check_units(trials.X, trials.info)
    return trials
