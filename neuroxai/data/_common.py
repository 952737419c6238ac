"""Trials container, channel/montage helpers and windows-dataset conversions."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._utils import (
    InvalidInputError,
    MontageError,
    ShapeError,
    check_trials_array,
    import_braindecode,
)

#: BNCI2014_001 (BCI Competition IV 2a) EEG channels, in the dataset's order.
BCIC_IV_2A_CHANNELS = (
    "Fz FC3 FC1 FCz FC2 FC4 C5 C3 C1 Cz C2 C4 C6 CP3 CP1 CPz CP2 CP4 P1 Pz P2 POz".split()
)
#: Class names of BNCI2014_001 in MOABB / braindecode-tutorial order (targets 0..3).
BCIC_IV_2A_CLASSES = ("feet", "left_hand", "right_hand", "tongue")

#: MNE 1.13 deprecates 'standard_1020' in favour of this name (same 10-20 positions).
MONTAGE_NAME = "colin27_1020"


def make_montage():
    """Return MNE's standard 10-20 montage under its current (non-deprecated) name."""
    import mne

    try:
        return mne.channels.make_standard_montage(MONTAGE_NAME)
    except ValueError:  # MNE < 1.13 does not know the new name yet
        return mne.channels.make_standard_montage("standard_1020")


def make_info(ch_names=BCIC_IV_2A_CHANNELS, sfreq=250.0, montage=None):
    """An EEG :class:`mne.Info` with a standard 10-20 montage set.

    Raises
    ------
    MontageError
        If a channel has no position in the montage.
    """
    import mne

    info = mne.create_info(list(ch_names), float(sfreq), "eeg")
    return set_montage_checked(info, montage)


def set_montage_checked(info, montage=None):
    """Set a montage on ``info`` (in place); :class:`MontageError` for unplaced channels."""
    montage = make_montage() if montage is None else montage
    known = {n.lower() for n in montage.ch_names}
    missing = [n for n in info["ch_names"] if n.lower() not in known]
    if missing:
        raise MontageError(
            f"Channels {missing} have no position in the montage. Rename them to 10-20 names "
            "(e.g. with info.rename_channels / raw.rename_channels), set your own montage with "
            "info.set_montage(...), or drop them (inst.drop_channels(...))."
        )
    info.set_montage(montage, match_case=False, on_missing="raise", verbose=False)
    return info


def check_info_positions(info):
    """Raise :class:`MontageError` if any channel of ``info`` lacks a 3-D position."""
    bad = [ch["ch_name"] for ch in info["chs"] if not np.all(np.isfinite(ch["loc"][:3]))
           or np.allclose(ch["loc"][:3], 0)]
    if bad:
        raise MontageError(
            f"Channels {bad} have no position. Set a montage first, e.g. "
            f"info.set_montage('{MONTAGE_NAME}') or neuroxai.data.make_info(ch_names)."
        )


@dataclass
class Trials:
    """Trials as plain arrays, with what MNE knows about them: what every stage consumes.

    Build one from any input form with :func:`neuroxai.data.as_trials` (``mne.Epochs``, a
    braindecode windows dataset, an array with ``info`` and ``tmin``).

    Attributes
    ----------
    X : ndarray, shape (n_trials, n_chans, n_times), float32
    y : ndarray, shape (n_trials,), int | None
        Class indices ``0..n_classes-1`` (``None`` for unlabelled trials).
    info : mne.Info | None
        Channel names and types, sampling frequency and montage (``None`` only for a bare
        array given without one).
    class_names : tuple of str
        ``class_names[k]`` is the name of class ``k`` (as scikit-learn's ``classes_``).
    tmin : float | None
        Time of the first sample relative to the event (cue), in seconds; ``None`` when
        unknown (a bare array).
    session : ndarray of str, shape (n_trials,)
    """

    X: np.ndarray
    y: np.ndarray = None
    info: object = None
    class_names: tuple = ()
    tmin: float | None = 0.0
    session: np.ndarray = field(default=None)

    def __post_init__(self):
        n_chans = None if self.info is None else len(self.info["ch_names"])
        self.X = check_trials_array(self.X, "X", n_chans=n_chans)
        self.class_names = tuple(str(c) for c in (self.class_names or ()))
        if self.y is not None:
            self.y = np.asarray(self.y).astype(np.int64)
            if self.y.shape != (len(self.X),):
                raise ShapeError(f"y must have shape ({len(self.X)},), got {self.y.shape}.")
            if len(self.y) and (self.y.min() < 0 or self.y.max() >= len(self.class_names)):
                raise InvalidInputError(
                    f"Targets must lie in 0..{len(self.class_names) - 1} for classes "
                    f"{self.class_names}; encode labels with neuroxai.data.as_trials(X, y, ...).")
        if self.tmin is not None:
            self.tmin = float(self.tmin)
        if self.session is None:
            self.session = np.full(len(self.X), "0", dtype=object)
        self.session = np.asarray(self.session, dtype=object)

    def __len__(self):
        return len(self.X)

    def __repr__(self):
        n, c, t = self.X.shape
        rate = f" @ {self.sfreq:g} Hz" if self.sfreq else ""
        return (f"<Trials | {n} trials, {c} chans, {t} times{rate}, "
                f"classes {self.class_names}, sessions {self.sessions}>")

    @property
    def sfreq(self):
        """Sampling frequency in Hz (``None`` without ``info``)."""
        return None if self.info is None else float(self.info["sfreq"])

    @property
    def times(self):
        """Sample times in s relative to the event (``None`` without ``tmin`` or ``info``)."""
        if self.tmin is None or self.info is None:
            return None
        return self.tmin + np.arange(self.X.shape[2]) / self.sfreq

    @property
    def sessions(self):
        return sorted(set(self.session))

    def select(self, session=None, idx=None):
        """Subset by session name and/or an index array (a view-free copy)."""
        mask = np.ones(len(self), bool)
        if session is not None:
            if not isinstance(session, str) or session not in self.sessions:
                raise InvalidInputError(
                    f"Unknown session {session!r}; sessions are {self.sessions}. To select "
                    "trials by index, pass idx=.")
            mask &= self.session == session
        sel = np.flatnonzero(mask)
        if idx is not None:
            sel = sel[np.asarray(idx)]
        return Trials(self.X[sel], None if self.y is None else self.y[sel], self.info,
                      self.class_names, self.tmin, self.session[sel])

    def to_epochs(self):
        """As :class:`mne.EpochsArray` (events carry the targets, metadata the session)."""
        import mne
        import pandas as pd

        if self.info is None:
            raise InvalidInputError("to_epochs() needs the channel info; these trials have none.")
        n = len(self)
        y = np.zeros(n, np.int64) if self.y is None else self.y
        names = self.class_names or ("trial",)
        events = np.column_stack([np.arange(n), np.zeros(n, int), y]).astype(int)
        event_id = {name: k for k, name in enumerate(names) if np.any(y == k)}
        meta = pd.DataFrame({"target": y, "session": self.session})
        return mne.EpochsArray(self.X, self.info, events=events, tmin=self.tmin or 0.0,
                               event_id=event_id, metadata=meta, verbose=False)

    @classmethod
    def from_epochs(cls, epochs, class_names=None):
        """Build from :class:`mne.Epochs` (see :func:`neuroxai.data.as_trials`)."""
        from ._boundary import as_trials

        return as_trials(epochs, class_names=class_names, picks="all", exclude=(),
                         verbose=False)


def trials_from_windows(windows_dataset, class_names=None):
    """Convert a braindecode windows dataset to :class:`Trials` (see :func:`as_trials`).

    Both of braindecode's window types work (``use_mne_epochs=True``: ``WindowsDataset``,
    ``False``: ``EEGWindowsDataset``); targets come from each window's metadata, the session
    from each recording's description.
    """
    from ._boundary import as_trials

    return as_trials(windows_dataset, class_names=class_names, picks="all", exclude=(),
                     verbose=False)


def windows_from_trials(trials, subject=1):
    """Wrap :class:`Trials` as a braindecode ``BaseConcatDataset`` of ``WindowsDataset``
    (one per session)."""
    import mne
    import pandas as pd

    import_braindecode("braindecode")  # without its import-time montage notice
    from braindecode.datasets import BaseConcatDataset, WindowsDataset

    n_times = trials.X.shape[2]
    dsets = []
    for sess in trials.sessions:
        sel = np.flatnonzero(trials.session == sess)
        y = trials.y[sel]
        events = np.column_stack([sel * n_times * 2, np.zeros(len(sel), int), y]).astype(int)
        meta = pd.DataFrame({
            "i_window_in_trial": 0, "i_start_in_trial": 0, "i_stop_in_trial": n_times,
            "target": y,
        })
        epochs = mne.EpochsArray(trials.X[sel], trials.info, events=events, tmin=0.0,
                                 metadata=meta, verbose=False)
        # class names and the window's time offset travel in the description, which
        # survives braindecode's split()/concatenation (attributes would not).
        desc = pd.Series({"subject": subject, "session": sess, "run": "0",
                          "class_names": ",".join(trials.class_names), "tmin": trials.tmin})
        dsets.append(WindowsDataset(epochs, description=desc))
    return BaseConcatDataset(dsets)
