"""Similarity metrics between attribution maps (and against a reference map).

The 12 metrics and 4 SSIM variants of :mod:`braindecode.visualization.metrics`
(Sujatha Ravindran & Contreras-Vidal, Sci. Rep. 2023) under the same names, plus
the sanity-check similarities of Adebayo et al. (NeurIPS 2018): Spearman rank
correlation (signed and absolute) and Pearson correlation of HOG features, and
cosine / Pearson of scalp topographies.

Differences from braindecode, on purpose:

- Scores are computed on the channel maps by default (``mode="channel"``).
- ``mode="topomap"`` scores only in-head pixels: normalisation, percentiles,
  SSIM windows and HOG blocks never see the out-of-head area. braindecode sets
  those pixels to 0 and treats every non-zero interpolated pixel as ground
  truth, so a random map scores relevance mass/rank accuracy ~1 there. We carry a
  channel-level ground-truth support to the pixels by nearest channel instead.
- Skipped samples (all-zero or constant maps) and undefined scores (a zero
  denominator) are NaN, not 0; NaN/Inf inputs raise :class:`NonFiniteError`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.ndimage import uniform_filter
from scipy.stats import rankdata
from tqdm.auto import tqdm

from .._utils import (
    InvalidInputError,
    ShapeError,
    check_finite,
    logger,
    unknown_name,
    verbose,
)
from .topomap import ScalpProjector, make_scalp_projector

__all__ = [
    "METRIC_NAMES",
    "SSIM_METRIC_NAMES",
    "RANK_METRIC_NAMES",
    "HOG_METRIC_NAMES",
    "TOPO_METRIC_NAMES",
    "ALL_METRIC_NAMES",
    "compute_metrics",
    "summarize_metrics",
]

METRIC_NAMES = [
    "Cosine_topperc_abs",
    "Cosine_absnorm",
    "Cosine_norm",
    "Cosine_raw",
    "RelevanceMassAccuracy_topperc",
    "RelevanceRankAccuracy_topK",
    "RelevanceMassAccuracy_norm",
    "RelevanceMassAccuracy_absnorm",
    "Pearson_topK_vs_topperc",
    "Pearson_absnorm_vs_refnorm",
    "Pearson_norm_vs_refnorm",
    "Pearson_raw_vs_refnorm",
]
SSIM_METRIC_NAMES = ["SSIM_topperc", "SSIM_absnorm", "SSIM_norm", "SSIM_raw"]
RANK_METRIC_NAMES = ["Spearman", "Spearman_abs"]
HOG_METRIC_NAMES = ["HOG_Pearson"]
TOPO_METRIC_NAMES = ["Topo_Cosine", "Topo_Pearson"]
ALL_METRIC_NAMES = (
    METRIC_NAMES + SSIM_METRIC_NAMES + RANK_METRIC_NAMES + HOG_METRIC_NAMES + TOPO_METRIC_NAMES
)
_MODES = ("channel", "topomap")


# ---------------------------------------------------------------------------------------
# vectorised row-wise helpers (n rows = samples, F columns = flattened map)
# ---------------------------------------------------------------------------------------
def _div(num, den):
    """num / den, NaN where den == 0 (an undefined score, not a zero score)."""
    num = np.asarray(num, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _rowdot(x, y):
    return np.einsum("ij,ij->i", x, y)


def _row_cosine(x, y):
    return _div(_rowdot(x, y), np.sqrt(_rowdot(x, x) * _rowdot(y, y)))


def _row_pearson(x, y):
    # scipy.stats.pearsonr works one pair at a time (a Python loop over 288 maps of
    # 25k values); centred row-wise dot products give the same number in one pass.
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    return _div(_rowdot(xc, yc), np.sqrt(_rowdot(xc, xc) * _rowdot(yc, yc)))


def _minmax(x, lo, hi):
    rng = hi - lo
    rng = np.where(rng > 0, rng, 1.0)  # constant rows are skipped anyway
    return (x - lo[:, None]) / rng[:, None]


# ---------------------------------------------------------------------------------------
# SSIM, vectorised over samples
# ---------------------------------------------------------------------------------------
def _fit_win_size(requested, shape):
    smallest = min(shape)
    if smallest < 3:
        raise ShapeError(f"SSIM needs maps of at least 3 x 3 values, got maps of shape {shape}.")
    win = min(int(requested), smallest)
    if win % 2 == 0:
        win -= 1
    return max(win, 3)


def _box_mean(z, win):
    """Mean over every ``win x win`` window lying inside each image (skimage's
    uniform filter followed by its border crop)."""
    pad = (win - 1) // 2
    h, w = z.shape[1:]
    return uniform_filter(z, size=(1, win, win))[:, pad:h - pad, pad:w - pad]


def _ssim_from_moments(ux, uy, uxx, uyy, uxy, data_range, win, window_mask=None):
    cov_norm = win * win / (win * win - 1.0)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = ((0.01 * data_range) ** 2)[:, None, None]
    c2 = ((0.03 * data_range) ** 2)[:, None, None]
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    if window_mask is None:
        return s.reshape(len(s), -1).mean(axis=1)
    return s[:, window_mask].mean(axis=1)


def _batched_ssim(x, y, data_range, win, window_mask=None):
    """Mean SSIM of each image pair, uniform window, sample covariance.

    The computation of :func:`skimage.metrics.structural_similarity` with
    ``gaussian_weights=False`` (same filter, same border crop), vectorised over the
    batch: skimage works one image at a time (1.2k Python calls for 288 samples x 4
    variants). ``window_mask`` (over the cropped windows) restricts the mean.
    """
    return _ssim_from_moments(
        _box_mean(x, win), _box_mean(y, win), _box_mean(x * x, win), _box_mean(y * y, win),
        _box_mean(x * y, win), data_range, win, window_mask,
    )


def _range_or_one(x):
    span = x.max(axis=1) - x.min(axis=1)
    return np.where(span > 0, span, 1.0)


def _ssim_window_mask(mask, win):
    """Windows (of the border-cropped SSIM map) lying entirely inside ``mask``."""
    pad = (win - 1) // 2
    frac = uniform_filter(mask.astype(float), size=win, mode="constant")
    inside = frac > 1 - 1e-9
    return inside[pad:mask.shape[0] - pad, pad:mask.shape[1] - pad]


# ---------------------------------------------------------------------------------------
# HOG (Adebayo et al. 2018), one image at a time through skimage
# ---------------------------------------------------------------------------------------
def _hog_block_mask(shape, mask, pixels_per_cell, cells_per_block):
    """HOG blocks whose pixels and 1-pixel gradient ring are all in ``mask``."""
    (pr, pc), (br, bc) = pixels_per_cell, cells_per_block
    n_cr, n_cc = shape[0] // pr, shape[1] // pc
    padded = np.pad(mask, 1, constant_values=False)
    out = np.zeros((n_cr - br + 1, n_cc - bc + 1), dtype=bool)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            # +1 offsets: the padded mask is shifted by one pixel
            out[i, j] = padded[i * pr:(i + br) * pr + 2, j * pc:(j + bc) * pc + 2].all()
    return out


def _hog_features(images, hog_kwargs, block_mask, progress):
    from skimage.feature import hog

    feats = []
    for img in tqdm(images, desc="HOG", disable=not progress, leave=False):
        f = hog(img, feature_vector=False, **hog_kwargs)
        feats.append((f[block_mask] if block_mask is not None else f).ravel())
    return np.asarray(feats, dtype=float)


# ---------------------------------------------------------------------------------------
# braindecode's 12 metrics and 4 SSIM variants, from row statistics
# ---------------------------------------------------------------------------------------
def _percentile_rows(x, q, x_lo=None, x_hi=None):
    """Per-row ``np.percentile(x, q, axis=1)`` (linear), from one single-kth partition.

    ``np.percentile`` partitions at two indices, which costs several times more
    than one partition; the next order statistic is the minimum of the upper part.
    With ``x_lo``/``x_hi`` given, rows whose order statistics sit in a run of ties
    at an extreme (binary masks, where numpy's introselect is slow) are settled by
    counting.
    """
    m, n_feat = x.shape
    v = (n_feat - 1) * (q / 100.0)
    j = min(int(np.floor(v)), n_feat - 1)
    j1 = min(j + 1, n_feat - 1)
    t = v - np.floor(v)
    xj = np.empty(m)
    xj1 = np.empty(m)
    todo = np.ones(m, dtype=bool)
    if x_hi is not None:
        top = np.count_nonzero(x == x_hi[:, None], axis=1) >= n_feat - j
        bot = ~top & (np.count_nonzero(x == x_lo[:, None], axis=1) >= j1 + 1)
        xj[top] = xj1[top] = x_hi[top]
        xj[bot] = xj1[bot] = x_lo[bot]
        todo = ~(top | bot)
    if todo.any():
        rows = x[todo] if not todo.all() else x
        part = np.partition(rows, j, axis=1)
        xj[todo] = part[:, j]
        xj1[todo] = part[:, j1:].min(axis=1)
    diff = xj1 - xj  # numpy's _lerp, for identical thresholds
    return xj1 - diff * (1 - t) if t >= 0.5 else xj + diff * t


def _kth_largest_rows(x, k):
    """The k-th largest value of each row (k varies by row); -inf where k <= 0."""
    n_feat = x.shape[1]
    out = np.full(x.shape[0], -np.inf)
    for kk in np.unique(k):  # rows sharing a K are partitioned together
        if kk <= 0:
            continue
        rows = np.flatnonzero(k == kk)
        out[rows] = np.partition(x[rows], n_feat - kk, axis=1)[:, n_feat - kk]
    return out


def _core_scores(A, G, abs_explanation, prctile_val, support, positive, ssim, to_img, win,
                 window_mask, need_core=True):
    """braindecode's metric definitions, computed from row sums.

    braindecode materialises every min-max-normalised and thresholded map and
    reduces each one; cosine and Pearson of min-max-normalised maps are functions
    of a few row sums of the raw maps (the normalisation is a per-row affine map),
    so we reduce the raw maps once and only materialise the thresholded maps.
    """
    n_feat = A.shape[1]
    B = np.abs(A) if abs_explanation else np.maximum(A, 0.0)
    a_lo, a_hi = A.min(axis=1), A.max(axis=1)
    if abs_explanation:
        b_lo, b_hi = B.min(axis=1), B.max(axis=1)
    else:  # clipping commutes with min and max
        b_lo, b_hi = np.maximum(a_lo, 0.0), np.maximum(a_hi, 0.0)
    g_lo, g_hi = G.min(axis=1), G.max(axis=1)
    s_a, s_b, s_g = A.sum(axis=1), B.sum(axis=1), G.sum(axis=1)
    skip = (s_b == 0) | (s_g == 0) | (a_lo == a_hi) | (b_lo == b_hi) | (g_lo == g_hi)
    g_rng = np.where(g_hi > g_lo, g_hi - g_lo, 1.0)
    b_rng = np.where(b_hi > b_lo, b_hi - b_lo, 1.0)

    # G_top: min-max-normalised reference, zero below its percentile
    thr_g = _percentile_rows(G, prctile_val, g_lo, g_hi)
    G_top = np.where(G < thr_g[:, None], 0.0, (G - g_lo[:, None]) / g_rng[:, None])
    # A_top: raw explanation, zero below its percentile
    thr_a = _percentile_rows(A, prctile_val)
    A_top = np.where(A < thr_a[:, None], 0.0, A)
    res = {}

    if ssim:
        # Box means are linear, so the raw and min-max-normalised explanation share
        # their filtered moments and the reference's are filtered once: 13 filters
        # instead of braindecode's 20 (the filters are most of the cost).
        def box(z):
            return _box_mean(to_img(z), win)

        G_norm = _minmax(G, g_lo, g_hi)
        if {"SSIM_absnorm", "SSIM_norm", "SSIM_raw"} & set(ssim):
            u_g, u_gg = box(G_norm), box(G_norm * G_norm)
        if "SSIM_topperc" in ssim:
            u_t, u_tt = box(G_top), box(G_top * G_top)
            res["SSIM_topperc"] = _ssim_from_moments(
                u_t, box(A_top), u_tt, box(A_top * A_top), box(A_top * G_top),
                _range_or_one(A_top), win, window_mask,
            )
        if "SSIM_absnorm" in ssim:
            B_norm = _minmax(B, b_lo, b_hi)
            res["SSIM_absnorm"] = _ssim_from_moments(
                u_g, box(B_norm), u_gg, box(B_norm * B_norm), box(B_norm * G_norm),
                _range_or_one(B_norm), win, window_mask,
            )
        if {"SSIM_norm", "SSIM_raw"} & set(ssim):
            u_a, u_aa, u_ag = box(A), box(A * A), box(A * G_norm)
            if "SSIM_raw" in ssim:
                res["SSIM_raw"] = _ssim_from_moments(
                    u_g, u_a, u_gg, u_aa, u_ag, _range_or_one(A), win, window_mask
                )
            if "SSIM_norm" in ssim:
                lo = a_lo[:, None, None]
                rng = np.where(a_hi > a_lo, a_hi - a_lo, 1.0)[:, None, None]
                res["SSIM_norm"] = _ssim_from_moments(
                    u_g, (u_a - lo) / rng, u_gg, (u_aa - 2 * lo * u_a + lo * lo) / rng**2,
                    # a min-max-normalised map spans exactly 1
                    (u_ag - lo * u_g) / rng, np.ones(len(A)), win,
                    window_mask,
                )
        for name in ssim:
            res[name][skip] = np.nan
    if not need_core:
        return res

    if support is None:
        support = G != 0
        positive = (G > 0) if (g_lo < 0).any() else support
    Gb = support.astype(float)
    n_g = Gb.sum(axis=1)
    k = positive.sum(axis=1) if positive is not support else n_g.astype(int)
    skip_core = skip | (k == 0)

    dot = _rowdot
    s_aa, s_bb, s_gg = dot(A, A), dot(B, B), dot(G, G)
    d_ag, d_bg = dot(A, G), dot(B, G)
    d_agb, d_bgb = dot(A, Gb), dot(B, Gb)

    # cos(x - x_lo, y - y_lo) from sums: the scale of min-max normalisation cancels
    def shifted_dot(d_xy, s_x, s_y, x_lo, y_lo):
        return d_xy - x_lo * s_y - y_lo * s_x + n_feat * x_lo * y_lo

    def shifted_sq(s_xx, s_x, x_lo):
        return s_xx - 2 * x_lo * s_x + n_feat * x_lo * x_lo

    def pearson(d_xy, s_x, s_y, s_xx, s_yy):
        cov = n_feat * d_xy - s_x * s_y
        return _div(cov, np.sqrt(np.maximum(n_feat * s_xx - s_x * s_x, 0)
                                 * np.maximum(n_feat * s_yy - s_y * s_y, 0)))

    gg_shift = shifted_sq(s_gg, s_g, g_lo)
    res["Cosine_raw"] = _div(shifted_dot(d_ag, s_a, s_g, 0.0, g_lo), np.sqrt(gg_shift * s_aa))
    res["Cosine_norm"] = _div(shifted_dot(d_ag, s_a, s_g, a_lo, g_lo),
                              np.sqrt(gg_shift * shifted_sq(s_aa, s_a, a_lo)))
    res["Cosine_absnorm"] = _div(shifted_dot(d_bg, s_b, s_g, b_lo, g_lo),
                                 np.sqrt(gg_shift * shifted_sq(s_bb, s_b, b_lo)))
    res["Pearson_norm_vs_refnorm"] = pearson(d_ag, s_a, s_g, s_aa, s_gg)
    res["Pearson_raw_vs_refnorm"] = res["Pearson_norm_vs_refnorm"].copy()
    res["Pearson_absnorm_vs_refnorm"] = pearson(d_bg, s_b, s_g, s_bb, s_gg)
    res["RelevanceMassAccuracy_norm"] = _div(d_agb - a_lo * n_g, s_a - n_feat * a_lo)
    res["RelevanceMassAccuracy_absnorm"] = _div(d_bgb - b_lo * n_g, s_b - n_feat * b_lo)

    abs_top = np.abs(A_top) if (thr_a < 0).any() else A_top
    s_at = A_top.sum(axis=1)
    res["RelevanceMassAccuracy_topperc"] = _div(dot(abs_top, Gb), s_at)
    res["Cosine_topperc_abs"] = _row_cosine(G_top, A_top)

    # top-K of the normalised |explanation|; K = number of positive reference values
    thr_b = _kth_largest_rows(B, k)
    B_topk = np.where(B < thr_b[:, None], 0.0, (B - b_lo[:, None]) / b_rng[:, None])
    is_topk = (B_topk != 0).astype(float)
    res["RelevanceRankAccuracy_topK"] = _div(dot(is_topk, Gb), is_topk.sum(axis=1))
    res["Pearson_topK_vs_topperc"] = pearson(
        dot(B_topk, G_top), B_topk.sum(axis=1), G_top.sum(axis=1), dot(B_topk, B_topk),
        dot(G_top, G_top),
    )
    for name in METRIC_NAMES:
        res[name][skip_core] = np.nan
    return res


# ---------------------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------------------
def _as_array(maps, name):
    info = getattr(maps, "info", None) if hasattr(maps, "dims") else None
    if hasattr(maps, "detach"):
        maps = maps.detach().cpu().numpy()
    arr = np.asarray(maps)
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise InvalidInputError(f"{name} must be numeric, got dtype {arr.dtype}.")
    return arr.astype(float, copy=False), info


def _validate_pair(maps_a, maps_b):
    a, info_a = _as_array(maps_a, "maps_a")
    b, info_b = _as_array(maps_b, "maps_b")
    if a.ndim not in (2, 3):
        raise ShapeError(
            f"maps_a must have shape (n_samples, n_chans) or "
            f"(n_samples, n_chans, n_times|n_freqs), "
            f"got {a.shape}. For a single map use maps[np.newaxis]."
        )
    if b.shape == a.shape[1:]:  # one reference map for every sample
        b = np.broadcast_to(b, a.shape)
    if b.shape != a.shape:
        raise ShapeError(
            f"maps_b has shape {b.shape} but maps_a has shape {a.shape}; they must match "
            f"(or maps_b may be a single map of shape {a.shape[1:]})."
        )
    if a.shape[0] == 0:
        raise ShapeError("maps_a holds no samples.")
    check_finite(a, "maps_a")
    check_finite(b, "maps_b")
    return a, b, info_a if info_a is not None else info_b


def _resolve_metrics(metrics, ndim, has_info, mode):
    spatial_ok = mode == "topomap" or ndim == 3
    if metrics is None:
        names = METRIC_NAMES + RANK_METRIC_NAMES
        if spatial_ok:
            names = names + SSIM_METRIC_NAMES
        if has_info:
            names = names + TOPO_METRIC_NAMES
        return names
    if isinstance(metrics, str):
        metrics = ALL_METRIC_NAMES if metrics == "all" else [metrics]
    names = []
    for m in metrics:
        if m not in ALL_METRIC_NAMES:
            raise unknown_name("metric", m, ALL_METRIC_NAMES + ["all"])
        if m not in names:
            names.append(m)
    if not spatial_ok and any(m in SSIM_METRIC_NAMES + HOG_METRIC_NAMES for m in names):
        raise ShapeError(
            "SSIM and HOG metrics need 2-D maps per sample (n_samples, n_chans, n_times); "
            "got (n_samples, n_chans). Use mode='topomap' with info to score topographies."
        )
    return names


# ---------------------------------------------------------------------------------------
# the public entry
# ---------------------------------------------------------------------------------------
@verbose
def compute_metrics(
    maps_a,
    maps_b,
    metrics=None,
    mode="channel",
    info=None,
    *,
    abs_reference=True,
    abs_explanation=False,
    prctile_val=95,
    win_size=7,
    hog_kwargs=None,
    projector=None,
    batch_size=32,
    progress=False,
    verbose=None,
):
    """Score attribution maps against reference maps, one row per sample.

    Parameters
    ----------
    maps_a : array-like | Attribution, shape (n_samples, n_chans[, n_times | n_freqs])
        The explanations (braindecode's ``explanations``).
    maps_b : array-like | Attribution
        The references (ground truth, or the maps of a randomised model), same
        shape as ``maps_a`` or the shape of one map (used for every sample).
    metrics : None | "all" | str | list of str
        Names from :data:`ALL_METRIC_NAMES`. ``None`` computes
        :data:`METRIC_NAMES`, :data:`RANK_METRIC_NAMES`, :data:`SSIM_METRIC_NAMES`
        (for 2-D maps or topomaps) and :data:`TOPO_METRIC_NAMES` (when ``info`` or
        ``projector`` is given). ``HOG_Pearson`` (skimage, one map at a time, a few
        ms a map) is computed only when asked for.
    mode : "channel" | "topomap"
        ``"channel"`` scores the maps as they are. ``"topomap"`` averages the last
        axis (time/frequency), projects onto the scalp and scores in-head pixels.
    info : mne.Info | None
        Channel info with a montage; needed for ``mode="topomap"`` and the
        ``Topo_*`` metrics (taken from an :class:`Attribution` when omitted).
    abs_reference : bool
        Take ``|maps_b|`` (ground-truth mode) for :data:`METRIC_NAMES` and SSIM.
    abs_explanation : bool
        Use ``|maps_a|`` where braindecode uses the "abs" explanation; ``False``
        clips negative values to 0 instead.
    prctile_val : float
        Percentile of the ``*_topperc`` masks (95 keeps the top 5 %%).
    win_size : int
        SSIM window (shrunk to an odd size that fits the maps, as braindecode does).
    hog_kwargs : dict | None
        Passed to :func:`skimage.feature.hog`. Default: 9 orientations,
        ``cells_per_block=(2, 2)``, ``pixels_per_cell=(8, 8)`` for channel maps,
        ``(4, 4)`` for topomaps. In topomap mode only HOG blocks that lie wholly
        in the head are compared.
    projector : ScalpProjector | None
        A precomputed :func:`~neuroxai.metrics.topomap.make_scalp_projector`
        (built from ``info`` when omitted).
    batch_size : int
        Samples processed at a time (bounds the memory to a few arrays of
        ``batch_size`` maps).
    progress : bool
        Show a progress bar over the HOG loop.
    %(verbose)s

    Returns
    -------
    scores : pandas.DataFrame, shape (n_samples, n_metrics)
        One column per metric. NaN marks a skipped sample (all-zero or constant
        map or reference, no positive reference value) or an undefined score.

    Notes
    -----
    The 12 :data:`METRIC_NAMES` and 4 :data:`SSIM_METRIC_NAMES` follow the
    definitions of :func:`braindecode.visualization.compute_metrics` and
    :func:`~braindecode.visualization.compute_ssim_metrics` (in channel mode the
    values are equal to theirs, apart from NaN where braindecode writes 0). As in
    braindecode, the ground-truth support of the relevance mass/rank accuracies is
    ``reference != 0`` and K is the number of ``reference > 0`` values.
    They need a sparse (ground-truth) reference: against a dense map (e.g. a
    randomised model's explanation) every value is support and they are 1.
    ``Spearman``/``Spearman_abs``/``HOG_Pearson``/``Topo_*`` compare ``maps_a``
    with ``maps_b`` as given (no abs, no clipping); ``Spearman_abs`` ranks
    ``|maps_a|`` against ``|maps_b|``. ``Topo_*`` average the last axis and
    compare the in-head projected topographies (signed).

    ``SSIM_topperc`` compares two mostly-zero maps, and a window where both are
    zero scores 1: on smooth topomaps (where the top 5 %% is one blob) a random
    map still scores ~0.7 even in-head. Prefer ``SSIM_absnorm``/``SSIM_raw`` there.
    """
    a, b, attr_info = _validate_pair(maps_a, maps_b)
    info = info if info is not None else attr_info
    if mode not in _MODES:
        raise unknown_name("mode", mode, _MODES)
    if projector is not None and not isinstance(projector, ScalpProjector):
        raise InvalidInputError("projector must come from make_scalp_projector(info).")
    has_info = info is not None or projector is not None
    names = _resolve_metrics(metrics, a.ndim, has_info, mode)
    need_proj = mode == "topomap" or any(m in TOPO_METRIC_NAMES for m in names)
    if need_proj:
        if projector is None:
            if info is None:
                raise InvalidInputError(
                    "mode='topomap' and the Topo_* metrics need info (an mne.Info with a montage) "
                    "or a projector from make_scalp_projector(info)."
                )
            projector = make_scalp_projector(info, verbose=False)
        if projector.n_chans != a.shape[1]:
            raise ShapeError(
                f"The maps have {a.shape[1]} channels but info/projector has {projector.n_chans}."
            )
    batch_size = max(int(batch_size), 1)
    n = a.shape[0]
    wanted = set(names)

    # per-layout constants
    if mode == "topomap":
        img_shape = projector.mask.shape
    else:
        img_shape = a.shape[1:]
    win = window_mask = None
    if wanted & set(SSIM_METRIC_NAMES):
        win = _fit_win_size(win_size, img_shape)
        if mode == "topomap":
            window_mask = _ssim_window_mask(projector.mask, win)
    block_mask = None
    if "HOG_Pearson" in wanted:
        ppc = (4, 4) if mode == "topomap" else (8, 8)
        hog_kwargs = {"orientations": 9, "pixels_per_cell": ppc, "cells_per_block": (2, 2),
                      **(hog_kwargs or {})}
        ppc, cpb = tuple(hog_kwargs["pixels_per_cell"]), tuple(hog_kwargs["cells_per_block"])
        if img_shape[0] < ppc[0] * cpb[0] or img_shape[1] < ppc[1] * cpb[1]:
            raise ShapeError(
                f"HOG with pixels_per_cell={ppc}, cells_per_block={cpb} needs maps of at least "
                f"{ppc[0] * cpb[0]} x {ppc[1] * cpb[1]}, got {img_shape}; pass smaller hog_kwargs."
            )
        if mode == "topomap":
            block_mask = _hog_block_mask(img_shape, projector.mask, ppc, cpb)
            if not block_mask.any():
                raise ShapeError("No HOG block fits inside the head; use smaller pixels_per_cell.")

    out = {m: np.full(n, np.nan) for m in names}
    for start in range(0, n, batch_size):
        sl = slice(start, min(start + batch_size, n))
        _score_batch(
            a[sl], b[sl], sl, out, wanted, mode, projector, abs_reference, abs_explanation,
            prctile_val, win, window_mask, hog_kwargs, block_mask, progress,
        )
    scores = pd.DataFrame(out, columns=names)
    scores.index.name = "sample"
    n_skip = int(scores.isna().all(axis=1).sum())
    logger.info(f"Scored {n} samples on {len(names)} metrics ({n_skip} fully skipped).")
    return scores


def _score_batch(a, b, sl, out, wanted, mode, projector, abs_reference, abs_explanation,
                 prctile_val, win, window_mask, hog_kwargs, block_mask, progress):
    m = a.shape[0]
    topo = mode == "topomap"
    if topo:
        a_chan = a.mean(axis=-1) if a.ndim == 3 else a
        b_chan = b.mean(axis=-1) if b.ndim == 3 else b
        A_raw = a_chan @ projector.operator.T  # (m, n_pixels_in_head)
        B_raw = b_chan @ projector.operator.T

        def to_img(v):
            return projector.to_image(v, fill_value=0.0)
    else:
        A_raw = a.reshape(m, -1)
        B_raw = b.reshape(m, -1)
        shape = a.shape[1:]

        def to_img(v):
            return v.reshape((m,) + shape)

    core = wanted & set(METRIC_NAMES + SSIM_METRIC_NAMES)
    if core:
        G = np.abs(B_raw) if abs_reference else B_raw
        if topo:
            # Ground-truth support: a channel's support covers the pixels it is the
            # nearest channel of, so interpolation cannot spread it over the head.
            g_chan = np.abs(b_chan) if abs_reference else b_chan
            support = (g_chan != 0)[:, projector.nearest]
            positive = (g_chan > 0)[:, projector.nearest]
        else:
            support = positive = None
        res = _core_scores(
            A_raw, G, abs_explanation, prctile_val, support, positive,
            ssim=[name for name in SSIM_METRIC_NAMES if name in wanted], to_img=to_img, win=win,
            window_mask=window_mask, need_core=bool(wanted & set(METRIC_NAMES)),
        )
        for name in core:
            out[name][sl] = res[name]

    if "Spearman" in wanted:
        out["Spearman"][sl] = _row_pearson(rankdata(A_raw, axis=1), rankdata(B_raw, axis=1))
    if "Spearman_abs" in wanted:
        out["Spearman_abs"][sl] = _row_pearson(
            rankdata(np.abs(A_raw), axis=1), rankdata(np.abs(B_raw), axis=1)
        )
    if "HOG_Pearson" in wanted:
        fa = _hog_features(to_img(A_raw), hog_kwargs, block_mask, progress)
        fb = _hog_features(to_img(B_raw), hog_kwargs, block_mask, progress)
        out["HOG_Pearson"][sl] = _row_pearson(fa, fb)
    if wanted & set(TOPO_METRIC_NAMES):
        if topo:
            ta, tb = A_raw, B_raw
        else:
            ta = projector.project(a.mean(axis=-1) if a.ndim == 3 else a)
            tb = projector.project(b.mean(axis=-1) if b.ndim == 3 else b)
        if "Topo_Cosine" in wanted:
            out["Topo_Cosine"][sl] = _row_cosine(ta, tb)
        if "Topo_Pearson" in wanted:
            out["Topo_Pearson"][sl] = _row_pearson(ta, tb)


def summarize_metrics(scores):
    """Summarise per-sample scores: mean, std, SEM, median and counts per metric.

    Parameters
    ----------
    scores : pandas.DataFrame
        The output of :func:`compute_metrics` (or of
        :func:`~neuroxai.metrics.ground_truth.compute_ground_truth_metrics`).

    Returns
    -------
    summary : pandas.DataFrame
        One row per metric; columns ``mean, std, sem, median, n_valid, n_skipped``
        (NaN scores are left out of the statistics and counted as skipped).
    """
    if not isinstance(scores, pd.DataFrame):
        raise InvalidInputError("scores must be the DataFrame returned by compute_metrics().")
    n_valid = scores.notna().sum()
    summary = pd.DataFrame({
        "mean": scores.mean(),
        "std": scores.std(ddof=1),
        "sem": scores.std(ddof=1) / np.sqrt(n_valid.where(n_valid > 0)),
        "median": scores.median(),
        "n_valid": n_valid.astype(int),
        "n_skipped": scores.isna().sum().astype(int),
    })
    summary.index.name = "metric"
    return summary
