"""Ground-truth (sensitivity) metrics: how much attribution lands where the signal is.

For simulated data the generating sources are known, so an attribution can be
scored against a boolean mask with the same axes (channel x time, channel x
frequency, or channels only):

- relevance mass accuracy (relevance inside the mask / total relevance) and relevance
  rank accuracy, i.e. the top-k precision with k = the mask's size (Arras et al.,
  Information Fusion 2022);
- cosine similarity to the mask and the ROC AUC of the attribution as a detector of
  masked entries;
- peak localisation: is the map's maximum inside the mask, and how far is it from the
  mask, in cm on the scalp (3-D electrode positions of the ``info``), in Hz and in s.

Every score is a sum over the map's entries, ``sum(target * values)``, of a per-entry
value (the relevance, its rank, its share of the top k or of the maximum) against the mask
(or, for the peak distances, the distance of each entry to the mask). That form is what
:mod:`neuroxai.metrics.ground_truth_null` permutes to build its null distribution.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from .._utils import InvalidInputError, ShapeError, check_finite, logger, unknown_name, verbose

__all__ = [
    "GROUND_TRUTH_METRIC_NAMES",
    "PEAK_DISTANCE_METRIC_NAMES",
    "compute_ground_truth_metrics",
]

#: Scores that need nothing but the map and the mask (computed by default).
GROUND_TRUTH_METRIC_NAMES = [
    "RelevanceMassAccuracy",
    "RelevanceRankAccuracy",
    "Cosine",
    "ROC_AUC",
    "PeakInMask",
]
#: Distance from the map's maximum to the mask along one axis (smaller is better):
#: ``"PeakDistanceCm"`` on the scalp (``"chan"`` axis and an ``info`` with positions),
#: ``"PeakDistanceHz"`` (``"freq"`` axis, or ``"band"`` axis with ``coords["band_edges"]``:
#: between band centres) and ``"PeakDistanceS"`` (``"time"`` axis), each needing the axis'
#: coordinates.
PEAK_DISTANCE_METRIC_NAMES = ["PeakDistanceCm", "PeakDistanceHz", "PeakDistanceS"]
_DISTANCE_AXIS = {"PeakDistanceCm": "chan", "PeakDistanceHz": "freq", "PeakDistanceS": "time"}


def _distance_axis(name, item_dims, coords):
    """The axis a peak distance runs along and its coordinates (None for channels).

    Frequencies are a ``"freq"`` axis with ``coords["freq"]`` (Hz) or a ``"band"`` axis
    with ``coords["band_edges"]`` (the bands' centres), as ``band_ablation`` gives them.
    """
    axis = _DISTANCE_AXIS[name]
    if axis == "chan":
        return (axis, None) if axis in item_dims else (None, None)
    if axis in item_dims and axis in coords:
        return axis, np.asarray(coords[axis], dtype=float)
    if axis == "freq" and "band" in item_dims and "band_edges" in coords:
        return "band", np.asarray(coords["band_edges"], dtype=float).reshape(-1, 2).mean(1)
    return None, None
_ALL_NAMES = GROUND_TRUTH_METRIC_NAMES + PEAK_DISTANCE_METRIC_NAMES
#: Scores for which smaller values are better.
LOWER_IS_BETTER = frozenset(PEAK_DISTANCE_METRIC_NAMES)


def _div(num, den):
    out = np.full(np.shape(num), np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


# ------------------------------------------------------------------------- entry values
def _top_k_weights(rel, k):
    """Per entry, its share of the K most relevant slots, K = mask size (one per row).

    Ties at the K-th value share the remaining slots (the expected value under random
    tie-breaking), so the score does not depend on the order of equal values.
    """
    n, n_feat = rel.shape
    out = np.zeros_like(rel)
    for kk in np.unique(k):  # one partition per distinct K (one K per class mask)
        if kk <= 0 or kk >= n_feat:
            continue
        rows = np.flatnonzero(k == kk)
        r = rel[rows]
        thr = np.partition(r, n_feat - kk, axis=1)[:, n_feat - kk, None]
        above, tied = r > thr, r == thr
        share = (kk - above.sum(axis=1)) / tied.sum(axis=1)
        out[rows] = above + share[:, None] * tied
    return out


def _peak_weights(rel):
    """Per entry, its share of the map's maximum (ties split it equally)."""
    top = rel == rel.max(axis=1, keepdims=True)
    return top / top.sum(axis=1, keepdims=True)


def entry_values(name, rel, k):
    """Values ``v`` (rows x entries) whose sum against the target is metric ``name``.

    ``rel`` is the relevance (rows x entries), ``k`` the mask size per row. The values do
    not depend on where the mask is, only on the map: permuting the map permutes them.
    """
    if name == "ROC_AUC":
        return rankdata(rel, axis=1)  # average ranks for ties = trapezoidal ROC
    if name in ("RelevanceMassAccuracy", "Cosine"):
        return rel
    if name == "RelevanceRankAccuracy":
        return _top_k_weights(rel, k)
    return _peak_weights(rel)  # PeakInMask and the peak distances


def score_constants(name, rel, k):
    """``(offset, scale)`` per row: the metric is ``(s - offset) / scale`` with
    ``s = sum(target * entry_values)``; neither depends on where the mask is."""
    n_feat = rel.shape[1]
    k = np.asarray(k, dtype=float)
    if name == "ROC_AUC":  # Mann-Whitney U / (n_pos * n_neg) = sklearn's roc_auc_score
        return k * (k + 1) / 2.0, k * (n_feat - k)
    if name == "RelevanceMassAccuracy":
        return 0.0, rel.sum(axis=1)
    if name == "Cosine":
        return 0.0, np.sqrt(np.einsum("ij,ij->i", rel, rel) * k)
    if name == "RelevanceRankAccuracy":
        return 0.0, k
    return 0.0, np.ones(len(rel))


def finish_score(s, offset, scale):
    """The metric from the sums; NaN where the scale is 0 (no relevance, empty mask)."""
    return _div(s - offset, np.broadcast_to(scale, np.shape(s)))


# ------------------------------------------------------------------------------- targets
def _channel_positions(info, n_chans):
    pos = np.array([ch["loc"][:3] for ch in info["chs"]], dtype=float)
    if len(pos) != n_chans:
        raise ShapeError(f"info has {len(pos)} channels, the maps {n_chans}.")
    if not np.all(np.isfinite(pos)) or np.any(np.all(pos == 0, axis=1)):
        raise InvalidInputError(
            "PeakDistanceCm needs the 3-D position of every channel in info; set a montage "
            "(e.g. neuroxai.data.make_info(ch_names)) or leave the metric out.")
    return pos


def distance_targets(name, mask, item_dims, coords, info):
    """Per entry, its distance to the nearest entry of the mask along one axis.

    ``mask`` is (rows, *item_shape). Distances in cm between electrode positions (straight
    line), or in the axis' unit (Hz, s) between coordinates; the mask's extent along the
    axis is where it holds anywhere on the other axes.
    """
    axis_name, x = _distance_axis(name, item_dims, coords)
    ax = item_dims.index(axis_name)
    n = mask.shape[ax + 1]
    if axis_name == "chan":
        pos = _channel_positions(info, n)
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1) * 100.0
    else:
        d = np.abs(x[:, None] - x[None])
    other = tuple(i + 1 for i in range(len(item_dims)) if i != ax)
    held = mask.any(axis=other)  # (rows, n): where the mask holds along the axis
    near = np.full(held.shape, np.nan)
    patterns, inverse = np.unique(held, axis=0, return_inverse=True)  # one per class mask
    for j, pattern in enumerate(patterns):
        if pattern.any():
            near[inverse.ravel() == j] = d[:, pattern].min(axis=1)
    shape = [mask.shape[0]] + [1] * len(item_dims)
    shape[ax + 1] = n
    return np.broadcast_to(near.reshape(shape), mask.shape)


# ------------------------------------------------------------------------------- inputs
def _broadcast_masks(masks, n, item_shape, y):
    masks = np.asarray(masks)
    if masks.dtype != bool:
        if not np.isin(masks, (0, 1)).all():
            raise InvalidInputError(
                "masks must be boolean (True where the ground-truth signal is); got values "
                "other than 0/1. Threshold continuous ground truth first, e.g. masks = gt > 0."
            )
        masks = masks.astype(bool)
    if y is not None:
        y = np.asarray(y)
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
            raise ShapeError(
                f"y must hold one integer label per sample, shape ({n},), got {y.shape}."
            )
        if masks.shape[1:] != item_shape:
            raise ShapeError(
                f"With y, masks must have shape (n_classes,) + {item_shape}, got {masks.shape}."
            )
        if y.min() < 0 or y.max() >= len(masks):
            raise InvalidInputError(
                f"y has labels outside 0..{len(masks) - 1} (one mask per class)."
            )
        return masks[y]
    if masks.shape == item_shape:
        return np.broadcast_to(masks, (n,) + item_shape)
    if masks.shape == (n,) + item_shape:
        return masks
    raise ShapeError(
        f"masks has shape {masks.shape}; expected {(n,) + item_shape} (one per sample), "
        f"{item_shape} (shared) or (n_classes,) + {item_shape} together with y."
    )


def check_attributions(attributions, info=None, dims=None, coords=None):
    """Array (n_samples, ...), its item axis names, coordinates and info.

    An :class:`~neuroxai.attribution.Attribution` brings its own ``dims``, ``coords`` and
    ``info`` (arguments given here take precedence). Bare arrays are ``(sample, chan,
    ...)`` unless ``dims`` says otherwise.
    """
    if hasattr(attributions, "dims"):
        dims = attributions.dims if dims is None else dims
        coords = {**(attributions.coords or {}), **(coords or {})}
        info = attributions.info if info is None else info
        attributions = attributions.data
    if hasattr(attributions, "detach"):
        attributions = attributions.detach().cpu().numpy()
    attr = np.asarray(attributions)
    if not np.issubdtype(attr.dtype, np.floating):
        attr = attr.astype(float)
    if attr.ndim < 2:
        raise ShapeError(
            f"attributions must have shape (n_samples, ...), got {attr.shape}. "
            "For a single map use attributions[np.newaxis]."
        )
    check_finite(attr, "attributions")
    if dims is None:
        dims = ("sample", "chan") + tuple(f"axis{i}" for i in range(2, attr.ndim))
    dims = tuple(dims)
    if len(dims) != attr.ndim:
        raise ShapeError(f"dims names {len(dims)} axes, attributions have {attr.ndim}.")
    coords = dict(coords or {})
    for name, x in coords.items():
        if name in dims[1:] and np.shape(x) != (attr.shape[dims.index(name)],):
            raise ShapeError(f"coords[{name!r}] has shape {np.shape(x)}; the {name!r} axis "
                             f"has {attr.shape[dims.index(name)]} entries.")
    return attr, dims[1:], coords, info


def available_distances(item_dims, coords, info):
    """The peak distances computable for these axes."""
    out = []
    for name in PEAK_DISTANCE_METRIC_NAMES:
        ax, _ = _distance_axis(name, item_dims, coords)
        if ax is not None and (info is not None or ax != "chan"):
            out.append(name)
    return out


def resolve_metric_names(metrics, item_dims, coords, info):
    avail = available_distances(item_dims, coords, info)
    if metrics is None:
        return list(GROUND_TRUTH_METRIC_NAMES) + avail
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise InvalidInputError("metrics must name at least one ground-truth metric.")
    for name in names:
        if name not in _ALL_NAMES:
            raise unknown_name("ground-truth metric", name, _ALL_NAMES)
        if name in PEAK_DISTANCE_METRIC_NAMES and name not in avail:
            ax = _DISTANCE_AXIS[name]
            need = "an info with channel positions" if ax == "chan" else f"coords[{ax!r}]"
            raise InvalidInputError(
                f"{name} needs a {ax!r} axis and {need}; the maps have axes {item_dims}. "
                "Pass an Attribution, or dims=/coords=/info=.")
    return names


def relevance(block, absolute):
    block = np.array(block, dtype=float)
    return np.abs(block, out=block) if absolute else np.maximum(block, 0.0, out=block)


# ---------------------------------------------------------------------------- public
@verbose
def compute_ground_truth_metrics(attributions, masks, y=None, metrics=None, absolute=True, *,
                                 info=None, dims=None, coords=None, verbose=None):
    """Score attributions against boolean ground-truth masks, one row per sample.

    Parameters
    ----------
    attributions : array-like | Attribution, shape (n_samples, ...)
        Per-trial (or per-class) attributions, e.g. ``(n_trials, n_chans, n_times)``,
        ``(n_trials, n_chans, n_freqs)`` or ``(n_classes, n_chans)``. An ``Attribution``
        brings its axis names, coordinates and ``info``.
    masks : array-like of bool
        True where the signal is. Shape ``(n_samples, ...)`` (one per sample),
        ``(...)`` (shared by all samples) or ``(n_classes, ...)`` with ``y``.
    y : array-like of int, shape (n_samples,) | None
        Class of each sample, selecting its mask from per-class ``masks``.
    metrics : None | list of str
        Names from :data:`GROUND_TRUTH_METRIC_NAMES` and
        :data:`PEAK_DISTANCE_METRIC_NAMES`. ``None``: the former, plus every peak distance
        the axes allow.
    absolute : bool
        Relevance is ``|attribution|`` (True) or its positive part (False, as in
        Arras et al. for signed methods).
    info : mne.Info | None
        Channel positions for ``"PeakDistanceCm"`` (default: the Attribution's).
    dims : tuple of str | None
        Axis names of bare arrays, sample axis first, e.g. ``("trial", "chan", "freq")``;
        default ``("sample", "chan", ...)``.
    coords : dict | None
        Axis coordinates, e.g. ``{"freq": freqs}`` (Hz) or ``{"time": times}`` (s).
    %(verbose)s

    Returns
    -------
    scores : pandas.DataFrame, shape (n_samples, n_metrics)
        ``RelevanceMassAccuracy`` (relevance inside the mask / total relevance),
        ``RelevanceRankAccuracy`` (top-k precision: share of the K most relevant entries
        inside the mask, K = mask size), ``Cosine`` (relevance vs. the mask as 0/1),
        ``ROC_AUC`` (relevance as a detector of masked entries; chance = 0.5),
        ``PeakInMask`` (1 when the maximum lies inside the mask; tied maxima count
        equally) and the peak distances (mean over tied maxima; 0 inside the mask). NaN
        where a score is undefined (no relevance, empty or full mask).

    Notes
    -----
    A random map scores a relevance mass/rank accuracy and a ``PeakInMask`` equal to the
    mask's fraction of entries on average, and ROC AUC 0.5. These chance levels ignore
    the map's own structure; :func:`~neuroxai.metrics.compute_ground_truth_null` compares
    the scores with those of the same maps shuffled across channels (and frequencies).
    """
    attr, item_dims, coords, info = check_attributions(attributions, info, dims, coords)
    names = resolve_metric_names(metrics, item_dims, coords, info)
    n = attr.shape[0]
    mask = _broadcast_masks(masks, n, attr.shape[1:], y)
    covered = mask.reshape(n, -1).sum(axis=1)
    if n and np.all((covered == 0) | (covered == mask[0].size)):
        # one such sample is scored NaN (documented, logged); all of them is a table of NaN,
        # most likely a wrong threshold or axis: said out loud
        warnings.warn(
            "masks: every sample's mask is empty or full (covers every entry), so every score "
            "is NaN. A mask must be True where the ground-truth signal is and False "
            "elsewhere; check the threshold (e.g. masks = gt > 0) and its axes.", UserWarning,
            stacklevel=3)
    dist = {name: distance_targets(name, mask, item_dims, coords, info)
            for name in names if name in LOWER_IS_BETTER}
    mask = mask.reshape(n, -1)
    attr = attr.reshape(n, -1)
    k = mask.sum(axis=1)
    n_feat = mask.shape[1]
    out = {name: np.empty(n) for name in names}
    # rows in blocks of ~2**20 values: the float64 relevance, ranks and masked copies of
    # one block stay ~10 MB each instead of scaling with the number of samples
    block = max(1, (1 << 20) // max(n_feat, 1))
    for start in range(0, n, block):
        sl = slice(start, start + block)
        rel = relevance(attr[sl], absolute)
        cache = {}
        for name in names:
            key = "peak" if name.startswith("Peak") else name
            if key not in cache:
                cache[key] = entry_values(name, rel, k[sl])
            target = dist[name][sl].reshape(len(rel), -1) if name in dist else mask[sl]
            s = np.einsum("ij,ij->i", target, cache[key]) if name in dist else \
                np.where(target, cache[key], 0.0).sum(axis=1)
            out[name][sl] = finish_score(s, *score_constants(name, rel, k[sl]))
    scores = pd.DataFrame({name: out[name] for name in names})
    scores.index.name = "sample"
    empty = (k == 0) | (k == n_feat)
    if empty.any():
        # a mask covering nothing or everything makes every score trivial
        scores.loc[empty, :] = np.nan
        logger.info(f"{int(empty.sum())} sample(s) have an empty or full mask; scored NaN.")
    return scores
