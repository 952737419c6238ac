"""Sums of IGC cells over channels, channel groups (ROIs) and frequency bands.

IGC cells are additive (they sum to the correlation), so plain sums, not means, are the
meaningful aggregates. Bands include both edges, ``[fmin, fmax]``, as
:func:`neuroxai.attribution.band_average` and MNE's ``fmin``/``fmax`` arguments.
Public through :mod:`neuroxai.attribution.igc`.
"""
from __future__ import annotations

import warnings

import numpy as np

from .._core.selection import band_masks, resolve_channel_groups
from .._utils import InvalidInputError
from ._base import Attribution

PHASE_COLUMN = "phase term R"


def _igc_cells(attribution, what):
    """``(data, ch_names)`` of an IGC attribution (dims class x chan x time|freq)."""
    if not isinstance(attribution, Attribution) or attribution.dims[:2] != ("class", "chan") \
            or len(attribution.dims) != 3 or attribution.dims[2] not in ("time", "freq"):
        raise InvalidInputError(f"{what}() needs an Attribution from compute_igc() with dims "
                                "('class', 'chan', 'time'|'freq').")
    ch_names = attribution.coords.get("chan")
    if ch_names is None and attribution.info is not None:
        ch_names = list(attribution.info["ch_names"])
    return np.asarray(attribution.data, dtype=float), ch_names


def _bands(attribution, bands):
    """``{name: mask}`` over the last axis; ``None``: one band ``None`` with every bin."""
    if bands is None:
        return {None: np.ones(attribution.shape[2], bool)}
    if attribution.dims[2] != "freq":
        raise InvalidInputError("bands= needs a spectral IGC (compute_igc(..., "
                                "domain='spectral')); time-domain cells have no frequencies.")
    if not bands:
        raise InvalidInputError("bands is empty; pass None (all frequencies) or a dict "
                                "name -> (fmin, fmax), e.g. {'mu': (8, 13)}.")
    return band_masks(attribution.coords["freq"], bands)


def compute_igc_roi_sums(attribution, rois=None, bands=None, *, other=None,
                         phase_term=False):
    """Sum IGC cells over channel groups (ROIs), and over frequency bands.

    IGC cells are additive: the sums over a partition of the channels (and of the
    frequencies) add up to each class's total, ``correlation - phase_term`` up to the
    completeness error (see :func:`compute_igc`).

    Parameters
    ----------
    attribution : Attribution
        From :func:`compute_igc`, dims ``("class", "chan", "time")`` or
        ``("class", "chan", "freq")``.
    rois : dict of str -> list of str or int | None
        Channel names (needs ``info`` or ``coords["chan"]``) or indices per ROI; ROIs may
        overlap (their sums then do not add up). ``None``: one ROI ``"all"``.
    bands : dict of str -> (fmin, fmax) | None
        Frequency bands in Hz, spectral attributions only. Both edges are included,
        ``fmin <= f <= fmax`` (as :func:`~neuroxai.attribution.band_average` and MNE's
        ``fmin``/``fmax``), so bands that must not share a bin must not share an edge
        (e.g. ``(8, 13)`` and ``(14, 30)``). ``None``: all frequencies (or times).
    other : str | None
        Name of one more ROI holding every channel in no ROI, so that the ROIs partition
        the channels (then they must not overlap). ``None``: such channels are left out.
    phase_term : bool
        Add a column ``"phase term R"`` (``coords["phase_term"]``; zeros in the time
        domain), so that each row sums to the correlation up to the completeness error.
        Not with ``bands``.

    Returns
    -------
    sums : pandas.DataFrame
        One row per class (index: class names); columns the ROIs, or a ``(roi, band)``
        MultiIndex when ``bands`` is given.
    """
    import pandas as pd

    data, ch_names = _igc_cells(attribution, "compute_igc_roi_sums")
    n_cls, n_chans = data.shape[:2]
    if rois is not None and not isinstance(rois, dict):
        raise InvalidInputError(f"rois must be a dict name -> channels or None, got "
                                f"{type(rois).__name__}.")
    rois = {"all": list(range(n_chans))} if rois is None else rois
    groups, labels = resolve_channel_groups(rois, ch_names, n_chans, disjoint=other is not None)
    if other is not None:
        if other in rois:
            raise InvalidInputError(f"other={other!r} is already the name of a ROI; pick "
                                    "another name.")
        rest = sorted(set(range(n_chans)) - {c for g in groups for c in g})
        if rest:
            groups, labels = groups + [rest], labels + [other]
    if phase_term and bands is not None:
        raise InvalidInputError("phase_term=True adds one column per class and is not split "
                                "into bands; pass bands=None with it.")
    masks = _bands(attribution, bands)
    cols, vals = [], []
    for roi, idx in zip(labels, groups):
        for band, mask in masks.items():
            cols.append(roi if bands is None else (roi, band))
            vals.append(data[:, idx][:, :, mask].sum(axis=(1, 2)))
    if phase_term:
        cols.append(PHASE_COLUMN)
        vals.append(np.asarray(attribution.coords.get("phase_term", np.zeros(n_cls)), float))
    columns = (pd.Index(cols, name="roi") if bands is None
               else pd.MultiIndex.from_tuples(cols, names=["roi", "band"]))
    index = pd.Index(attribution.coords.get("class", [str(i) for i in range(n_cls)]),
                     name="class")
    return pd.DataFrame(np.column_stack(vals) if vals else np.zeros((n_cls, 0)),
                        index=index, columns=columns)


def compute_igc_channel_sums(attribution, bands=None):
    """Sum IGC cells per channel: over time, over all frequencies, or over each band.

    The sums of a class over the channels add up to its total (``correlation -
    phase_term`` up to the completeness error); these are the values that
    :func:`~neuroxai.viz.plot_igc_topomaps` draws as scalp maps.

    Parameters
    ----------
    attribution : Attribution
        From :func:`compute_igc`, dims ``("class", "chan", "time"|"freq")``.
    bands : dict of str -> (fmin, fmax) | None
        Frequency bands in Hz (spectral attributions only), both edges included,
        ``fmin <= f <= fmax``. ``None``: one band ``"all"`` over every time sample or
        frequency bin.

    Returns
    -------
    sums : Attribution
        Dims ``("class", "chan", "band")``; ``coords["band"]`` holds the band names and
        ``coords["band_edges"]`` their ``(fmin, fmax)`` (``None`` for ``"all"``); the
        other coordinates (correlation, phase term, ...) are kept.
    """
    data, _ = _igc_cells(attribution, "compute_igc_channel_sums")
    masks = _bands(attribution, bands)
    sums = np.stack([data[:, :, mask].sum(axis=2) for mask in masks.values()], axis=-1)
    names = ["all"] if bands is None else [str(b) for b in bands]
    edges = [None] if bands is None else [tuple(float(e) for e in bands[b]) for b in bands]
    coords = {k: v for k, v in attribution.coords.items() if k not in ("time", "freq")}
    coords.update(band=names, band_edges=edges)
    return Attribution(data=sums, dims=("class", "chan", "band"), info=attribution.info,
                       method=attribution.method, params=dict(attribution.params),
                       coords=coords)


def igc_roi_sums(attribution, rois=None, bands=None):
    """Deprecated alias of :func:`compute_igc_roi_sums` (band edges now inclusive)."""
    warnings.warn("igc_roi_sums() is deprecated and will be removed in the next release: use "
                  "compute_igc_roi_sums(). Its bands now include both edges, [fmin, fmax].",
                  FutureWarning, stacklevel=2)
    return compute_igc_roi_sums(attribution, rois, bands)
