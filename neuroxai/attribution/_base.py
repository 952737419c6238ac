"""The attribution result container shared by every method."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._utils import InvalidInputError, ShapeError


@dataclass
class Attribution:
    """An attribution array with named axes, the channel ``info`` and provenance.

    Parameters
    ----------
    data : ndarray
        The values. Its axes are named by ``dims``.
    dims : tuple of str
        Axis names, e.g. ``("trial", "chan", "time")``, ``("class", "trial", "chan", "freq")``
        or ``("class", "chan", "freq")``.
    info : mne.Info | None
        Channel names and positions of the ``"chan"`` axis.
    method : str
        Name of the method that produced the values.
    params : dict
        The method's parameters (for reports and reproducibility).
    coords : dict
        Coordinates of axes, e.g. ``{"freq": freqs, "time": times, "class": names,
        "target": targets, "y": labels}``.
    """

    data: np.ndarray
    dims: tuple
    info: object = None
    method: str = ""
    params: dict = field(default_factory=dict)
    coords: dict = field(default_factory=dict)

    def __post_init__(self):
        self.dims = tuple(self.dims)
        if np.ndim(self.data) != len(self.dims):
            raise ShapeError(
                f"Attribution data has {np.ndim(self.data)} axes but dims names {len(self.dims)}: "
                f"{self.dims}."
            )

    @property
    def shape(self):
        return np.shape(self.data)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.data, dtype=dtype)

    def __repr__(self):
        axes = ", ".join(f"{d}: {n}" for d, n in zip(self.dims, self.shape))
        return f"<Attribution {self.method!r} ({axes})>"

    def axis(self, name):
        """Index of the axis called ``name``."""
        try:
            return self.dims.index(name)
        except ValueError:
            raise InvalidInputError(f"Attribution has no axis {name!r}; its axes are {self.dims}.")

    # -- conversions to MNE containers -------------------------------------------------
    def _require(self, dims, what):
        if self.info is None:
            raise InvalidInputError(f"{what} needs the channel info; this attribution has none.")
        if self.dims != tuple(dims):
            raise ShapeError(f"{what} needs axes {tuple(dims)}, this attribution has {self.dims}.")

    def to_epochs(self, tmin=None, class_names=None):
        """Per-trial time-domain attribution as :class:`mne.EpochsArray`.

        Needs axes ``("trial", "chan", "time")``. Trial labels and targets (from
        ``coords``) go into ``epochs.metadata`` and, when present, ``epochs.events``.
        """
        import mne
        import pandas as pd

        self._require(("trial", "chan", "time"), "to_epochs()")
        n = self.shape[0]
        y = np.asarray(self.coords.get("y", np.zeros(n, int)))
        class_names = class_names or self.coords.get("class_names")
        event_id = None
        if class_names is not None:
            event_id = {name: i for i, name in enumerate(class_names) if np.any(y == i)}
        events = np.column_stack([np.arange(n), np.zeros(n, int), y]).astype(int)
        meta = {"y": y}
        if "target" in self.coords:
            meta["target"] = np.asarray(self.coords["target"])
        if class_names is not None:
            meta["class_name"] = [class_names[i] for i in y]
        if tmin is None:
            times = self.coords.get("time")
            tmin = float(times[0]) if times is not None else 0.0
        return mne.EpochsArray(
            np.asarray(self.data, dtype=float), self.info, events=events, tmin=tmin,
            event_id=event_id, metadata=pd.DataFrame(meta), verbose=False,
        )

    def to_evoked(self, class_index=None, tmin=None):
        """Class-average (or all-trial average) attribution as :class:`mne.EvokedArray`."""
        epochs = self.to_epochs(tmin=tmin)
        if class_index is None:
            return epochs.average()
        y = np.asarray(self.coords.get("y"))
        ev = epochs[np.flatnonzero(y == class_index)].average()
        names = self.coords.get("class_names")
        ev.comment = names[class_index] if names is not None else str(class_index)
        return ev

    def to_spectrum(self):
        """Channel × frequency attribution as MNE spectrum containers.

        Axes ``("chan", "freq")`` give a :class:`mne.time_frequency.SpectrumArray`;
        ``("trial", "chan", "freq")`` an :class:`mne.time_frequency.EpochsSpectrumArray`;
        ``("class", "chan", "freq")`` a dict ``{class_name: SpectrumArray}``.
        """
        from mne.time_frequency import EpochsSpectrumArray, SpectrumArray

        if self.info is None:
            raise InvalidInputError("to_spectrum() needs the channel info; this attribution has none.")
        freqs = np.asarray(self.coords["freq"])
        data = np.asarray(self.data, dtype=float)
        if self.dims == ("chan", "freq"):
            return SpectrumArray(data, self.info, freqs, verbose=False)
        if self.dims == ("trial", "chan", "freq"):
            return EpochsSpectrumArray(data, self.info, freqs, verbose=False)
        if self.dims == ("class", "chan", "freq"):
            names = self.coords.get("class", [str(i) for i in range(len(data))])
            return {n: SpectrumArray(d, self.info, freqs, verbose=False) for n, d in zip(names, data)}
        raise ShapeError(f"to_spectrum() cannot convert axes {self.dims}.")
