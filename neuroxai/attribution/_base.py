"""The attribution result container shared by every method."""
from __future__ import annotations

import copy as _copy
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._utils import InvalidInputError, ShapeError, atomic_write

#: Coordinates with one value per trial (dropped when trials are averaged).
_PER_TRIAL = ("target", "y", "completeness_error", "completeness_se", "n_steps",
              "moore_penrose")
#: Axes along which per-item MNE containers are made (one Evoked / Spectrum per item).
_ITEM_AXES = ("class", "latent", "map", "band")


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

    # -- what the axes are -------------------------------------------------------------
    @property
    def times(self):
        """Time of each sample in s relative to the event (``None`` without a time axis)."""
        t = self.coords.get("time")
        return None if t is None or "time" not in self.dims else np.asarray(t)

    @property
    def freqs(self):
        """Frequencies in Hz of the ``"freq"`` axis (``None`` without one)."""
        f = self.coords.get("freq")
        return None if f is None or "freq" not in self.dims else np.asarray(f)

    @property
    def class_names(self):
        """Names of the model's outputs (or of the ``"class"`` axis), if known."""
        names = self.coords.get("class", self.coords.get("class_names"))
        return None if names is None else list(names)

    @property
    def ch_names(self):
        return None if self.info is None else list(self.info["ch_names"])

    # -- copies and element-wise transforms ---------------------------------------------
    def copy(self):
        """A deep copy (data, info, coordinates and parameters)."""
        return Attribution(np.array(self.data, copy=True), self.dims,
                           None if self.info is None else self.info.copy(), self.method,
                           _copy.deepcopy(self.params), _copy.deepcopy(self.coords))

    def abs(self):
        """``|attribution|`` as a new Attribution (relevance regardless of sign)."""
        out = self.copy()
        out.data = np.abs(out.data)
        out.params["transform"] = "abs"
        return out

    def mean(self, dim):
        """Average over the axis ``dim`` (e.g. ``"trial"``): a new Attribution without it."""
        ax = self.axis(dim)
        drop = {dim, *_PER_TRIAL} if dim == "trial" else {dim}  # per-trial coordinates go
        coords = {k: v for k, v in _copy.deepcopy(self.coords).items() if k not in drop}
        return Attribution(np.asarray(self.data).mean(axis=ax),
                           self.dims[:ax] + self.dims[ax + 1:],
                           None if self.info is None else self.info.copy(), self.method,
                           {**_copy.deepcopy(self.params), f"mean_over_{dim}": True}, coords)

    def axis(self, name):
        """Index of the axis called ``name``."""
        try:
            return self.dims.index(name)
        except ValueError:
            raise InvalidInputError(
                f"Attribution has no axis {name!r}; its axes are {self.dims}.") from None

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
        """Attribution as :class:`mne.EvokedArray`.

        ``("trial", "chan", "time")``: the average over all trials, or over the trials whose
        label is ``class_index``. ``("chan", "time")``: as it is. A leading ``"class"``
        / ``"latent"`` axis (IGC, Jacobian maps): the one named by ``class_index``, or a
        dict ``{name: EvokedArray}`` when it is None.
        """
        import mne

        if self.dims == ("chan", "time") or (self.dims and self.dims[0] in _ITEM_AXES
                                               and self.dims[1:] == ("chan", "time")):
            if self.info is None:
                raise InvalidInputError("to_evoked() needs the channel info; this attribution "
                                        "has none.")
            if tmin is None:
                tmin = float(self.times[0]) if self.times is not None else 0.0
            if self.dims == ("chan", "time"):
                return mne.EvokedArray(np.asarray(self.data, dtype=float), self.info, tmin=tmin,
                                       comment=self.method, verbose=False)
            evokeds = self._split_items(lambda a: a.to_evoked(tmin=tmin), "to_evoked()")
            for name, ev in evokeds.items():
                ev.comment = name
            if class_index is None:
                return evokeds
            names = list(evokeds)
            key = class_index if isinstance(class_index, str) else names[int(class_index)]
            return evokeds[key]
        epochs = self.to_epochs(tmin=tmin)
        if class_index is None:
            return epochs.average()
        y = np.asarray(self.coords.get("y"))
        ev = epochs[np.flatnonzero(y == class_index)].average()
        names = self.coords.get("class_names")
        ev.comment = names[class_index] if names is not None else str(class_index)
        return ev

    def _item_names(self, axis_name, n):
        names = self.coords.get(axis_name)
        if axis_name == "class" and names is None:
            names = self.coords.get("class_names")
        if names is None or len(names) != n:
            names = [str(i) for i in range(n)]
        return [str(v) for v in names]

    def _split_items(self, convert, what):
        """``{item: convert(sub-attribution)}`` along the leading item axis."""
        axis_name = self.dims[0]
        names = self._item_names(axis_name, self.shape[0])
        out = {}
        for name, d in zip(names, np.asarray(self.data)):
            sub = Attribution(d, self.dims[1:], self.info, self.method, self.params,
                              {k: v for k, v in self.coords.items() if k != axis_name})
            out[name] = convert(sub)
        return out

    def to_spectrum(self):
        """Channel × frequency attribution as MNE spectrum containers.

        Axes ``("chan", "freq")`` give a :class:`mne.time_frequency.SpectrumArray`;
        ``("trial", "chan", "freq")`` an :class:`mne.time_frequency.EpochsSpectrumArray`;
        a leading ``"class"`` (or ``"latent"``, ``"map"``) axis a dict ``{name: ...}``.
        """
        from mne.time_frequency import EpochsSpectrumArray, SpectrumArray

        if self.info is None:
            raise InvalidInputError(
                "to_spectrum() needs the channel info; this attribution has none.")
        if self.dims and self.dims[0] in _ITEM_AXES and len(self.dims) > 2:
            return self._split_items(Attribution.to_spectrum, "to_spectrum()")
        if "freq" not in self.dims:
            raise ShapeError(
                f"to_spectrum() needs a 'freq' axis; this attribution has {self.dims}.")
        freqs = np.asarray(self.coords["freq"])
        data = np.asarray(self.data, dtype=float)
        if self.dims == ("chan", "freq"):
            return SpectrumArray(data, self.info, freqs, verbose=False)
        if self.dims == ("trial", "chan", "freq"):
            return EpochsSpectrumArray(data, self.info, freqs, verbose=False)
        raise ShapeError(f"to_spectrum() cannot convert axes {self.dims}.")

    # -- plotting (MNE's own topomaps) ---------------------------------------------------
    def plot_topomap(self, *, times="auto", bands=None, item=None, axes=None, show=True,
                     **kwargs):
        """Scalp maps through MNE: ``Evoked.plot_topomap`` (time axes) or
        ``Spectrum.plot_topomap`` (frequency axes, averaged in ``bands``).

        Parameters
        ----------
        times : "auto" | float | list of float
            Times in s (time axes); see :meth:`mne.Evoked.plot_topomap`.
        bands : dict | None
            ``{name: (fmin, fmax)}`` in Hz (frequency axes; inclusive edges); default mu
            (8-13 Hz) and beta (14-30 Hz) where the frequencies reach.
        item : int | str | None
            Which class / latent to draw when the first axis is ``"class"`` / ``"latent"``
            (default: the first); per-trial maps are averaged over trials.
        axes, show, **kwargs :
            Passed to MNE.

        Returns
        -------
        fig : matplotlib.figure.Figure
        """
        att = self
        if att.dims and att.dims[0] in _ITEM_AXES and len(att.dims) > 2:
            names = att._item_names(att.dims[0], att.shape[0])
            k = 0 if item is None else (names.index(str(item)) if str(item) in names
                                         else int(item))
            att = Attribution(np.asarray(att.data)[k], att.dims[1:], att.info, att.method,
                              att.params, {c: v for c, v in att.coords.items()
                                           if c != att.dims[0]})
        if att.dims and att.dims[0] == "trial":
            att = att.mean("trial")
        if att.dims == ("chan", "time"):
            return att.to_evoked().plot_topomap(times=times, axes=axes, show=show, **kwargs)
        if att.dims == ("chan", "freq"):
            if bands is None:
                top = float(np.max(att.coords["freq"]))
                bands = {k: v for k, v in {"mu (8-13 Hz)": (8.0, 13.0),
                                           "beta (14-30 Hz)": (14.0, 30.0)}.items()
                         if v[0] < top}
            kwargs.setdefault("agg_fun", np.mean)
            kwargs.setdefault("cmap", "RdBu_r")
            return att.to_spectrum().plot_topomap(bands=bands, dB=False, axes=axes, show=show,
                                                  **kwargs)
        raise ShapeError(f"plot_topomap() draws channel x time or channel x frequency maps; "
                         f"this attribution has axes {self.dims}. Average or select first "
                         "(e.g. .mean('trial')).")

    # -- files (numpy .npz without pickle + the info as FIF bytes) -----------------------
    def save(self, fname, *, overwrite=False):
        """Write to ``fname`` (``.npz``; no pickle), atomically. Read back with
        :func:`read_attribution`."""
        fname = Path(fname)
        if fname.suffix != ".npz":
            raise InvalidInputError(f"fname must end in .npz (e.g. 'deeplift-attr.npz'), got "
                                    f"{fname.name!r}.")
        if fname.exists() and not overwrite:
            raise InvalidInputError(f"{fname} exists; pass overwrite=True to replace it.")
        arrays, kinds = {"data": np.asarray(self.data)}, {}
        for key, value in self.coords.items():
            kinds[key], stored = _coord_to_array(value)
            if stored is not None:
                arrays[f"coord__{key}"] = stored
        if self.info is not None:
            arrays["info_fif"] = _info_to_bytes(self.info)
        meta = dict(dims=list(self.dims), method=self.method, params=_jsonable(self.params),
                    coord_kinds=kinds, format="neuroxai-attribution", version=1)
        arrays["meta_json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        with atomic_write(fname) as fh:
            np.savez(fh, **arrays)
        return fname


def read_attribution(fname):
    """Read an :class:`Attribution` written by :meth:`Attribution.save` (no pickle)."""
    fname = Path(fname)
    if not fname.is_file():
        raise InvalidInputError(f"No attribution file {fname}.")
    try:
        with np.load(fname, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta_json"]).decode())
            data = z["data"]
            coords = {}
            for key, kind in meta["coord_kinds"].items():
                coords[key] = _coord_from_array(kind, z.get(f"coord__{key}"))
            info = _info_from_bytes(z["info_fif"]) if "info_fif" in z else None
    except (OSError, ValueError, KeyError) as err:
        raise InvalidInputError(f"{fname} is not a neuroxai attribution file ({err}).") from err
    return Attribution(data, tuple(meta["dims"]), info, meta["method"], meta["params"], coords)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def _coord_to_array(value):
    if value is None:
        return "none", None
    if isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        if arr.dtype == object:
            return "json", np.frombuffer(json.dumps(_jsonable(value)).encode(), np.uint8)
        return "list", arr
    arr = np.asarray(value)
    if arr.dtype == object:
        return "json", np.frombuffer(json.dumps(_jsonable(value)).encode(), np.uint8)
    return ("scalar" if arr.ndim == 0 else "array"), arr


def _coord_from_array(kind, arr):
    if kind == "none":
        return None
    if kind == "json":
        return json.loads(bytes(arr).decode())
    if kind == "list":
        return arr.tolist()
    if kind == "scalar":
        return arr.item()
    return arr


def _info_to_bytes(info):
    import mne

    fd, tmp = tempfile.mkstemp(suffix="-info.fif")
    os.close(fd)
    try:
        mne.io.write_info(tmp, info, overwrite=True, verbose=False)
        return np.frombuffer(Path(tmp).read_bytes(), dtype=np.uint8)
    finally:
        os.unlink(tmp)


def _info_from_bytes(arr):
    import mne

    fd, tmp = tempfile.mkstemp(suffix="-info.fif")
    os.close(fd)
    try:
        Path(tmp).write_bytes(bytes(arr))
        return mne.io.read_info(tmp, verbose=False)
    finally:
        os.unlink(tmp)
