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

import itertools
import math

import numpy as np
import pandas as pd
from scipy.linalg import blas
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
# Rows are scored in blocks of about this many values (2 maps of 22 x 1125): the block's
# scratch arrays (reused, never reallocated) stay in the CPU caches, where a numpy pass
# is several times faster than one streaming a whole batch through memory.
_CHUNK_VALUES = 1 << 16


def _div(num, den):
    """num / den, NaN where den == 0 (an undefined score, not a zero score)."""
    num = np.asarray(num, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _rowdot(x, y):
    # not np.vecdot: it calls a multithreaded BLAS dot, which is slower than einsum's
    # single-threaded loop on a busy machine (10x slower on 2 shared cores)
    return np.einsum("ij,ij->i", x, y)


def _row_cosine(x, y):
    return _div(_rowdot(x, y), np.sqrt(_rowdot(x, x) * _rowdot(y, y)))


def _row_pearson(x, y):
    # scipy.stats.pearsonr works one pair at a time (a Python loop over 288 maps of
    # 25k values); centred row-wise dot products give the same number in one pass.
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    return _div(_rowdot(xc, yc), np.sqrt(_rowdot(xc, xc) * _rowdot(yc, yc)))


class _NonFiniteSums(Exception):
    """Internal: a row sum is NaN/Inf (the caller checks the inputs and names them)."""


class _Scratch:
    """Reusable scratch arrays of shape (rows, n_features), handed out by name."""

    def __init__(self, rows, n_feat):
        self.rows, self.n_feat, self._arrays = rows, n_feat, {}

    def __call__(self, name, m, dtype=float):
        arr = self._arrays.get(name)
        if arr is None:
            arr = self._arrays[name] = np.empty((self.rows, self.n_feat), dtype=dtype)
        return arr[:m]


# ---------------------------------------------------------------------------------------
# order statistics
# ---------------------------------------------------------------------------------------
def _lerp(lo, hi, t):
    """numpy's percentile interpolation (``_lerp``), for identical thresholds."""
    diff = hi - lo
    return hi - diff * (1 - t) if t >= 0.5 else lo + diff * t


def _percentile_index(n_feat, q):
    v = (n_feat - 1) * (q / 100.0)
    j = min(int(np.floor(v)), n_feat - 1)
    return j, min(j + 1, n_feat - 1), v - np.floor(v)


def _order_stats(row, idx):
    """Values of ascending order statistics ``idx`` of a 1-D array, which is reordered.

    One introselect over the row for the smallest index, then selections in the
    (short) part above it: cheaper than ``np.partition`` with several kth, which
    selects each one in a long segment.
    """
    out, base, seg = [], 0, row
    for i in idx:
        rel = i - base
        seg.partition(rel)
        out.append(seg[rel])
        seg, base = seg[rel + 1:], i + 1
    return out


def _percentile_rows(x, q, x_lo=None, x_hi=None):
    """Per-row ``np.percentile(x, q, axis=1)`` (linear), from single-kth selections.

    ``np.percentile`` partitions at two indices, which costs several times more
    than one partition; the next order statistic is the minimum of the upper part.
    With ``x_lo``/``x_hi`` given, rows whose order statistics sit in a run of ties
    at an extreme (binary masks, where numpy's introselect is slow) are settled by
    counting.
    """
    m, n_feat = x.shape
    j, j1, t = _percentile_index(n_feat, q)
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
    return _lerp(xj, xj1, t)


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


def _window_mean(s, window_mask):
    if window_mask is None:
        return s.reshape(len(s), -1).mean(axis=1)
    return s[:, window_mask].mean(axis=1)


def _ssim_terms(ux, uy, uyy, uxy, lo=None, rng=None):
    """``(ux*uy, uy*uy, var_y, cov_xy)`` from box means, the (co)variances without
    skimage's Bessel factor (see :func:`_ssim_index`).

    With ``lo``/``rng`` the second image is taken as ``(y - lo) / rng``: a min-max
    normalised map shares the box means of the raw one, transformed.
    """
    q = uy * uy
    p = ux * uy
    vy = np.subtract(uyy, q)
    vxy = np.subtract(uxy, p)
    if lo is not None:
        inv = (1.0 / rng)[:, None, None]
        vy *= inv * inv
        vxy *= inv
        uy = uy - lo[:, None, None]
        uy *= inv
        np.multiply(ux, uy, out=p)
        np.multiply(uy, uy, out=q)
    return p, q, vy, vxy


def _ssim_constants(data_range, win, m):
    """Halved SSIM constants: C1 / 2 and C2 / (2 * Bessel factor)."""
    dr = np.broadcast_to(np.asarray(data_range, dtype=float), (m,))[:, None, None]
    cov_norm = win * win / (win * win - 1.0)
    return 0.5 * (0.01 * dr) ** 2, 0.5 * (0.03 * dr) ** 2 / cov_norm


def _ssim_index(terms, ux2, vx, data_range, win, window_mask=None):
    """Mean SSIM of each pair (skimage's formula, uniform window, sample covariance).

    ``((2 ux uy + C1)(2 cov + C2)) / ((ux^2 + uy^2 + C1)(var_x + var_y + C2))`` with
    (co)variances scaled by the Bessel factor ``cn``. Halving ``C1`` and ``C2 / cn``
    instead of doubling ``ux uy`` and ``cov`` (exact in floating point) leaves a
    factor 4; ``cn`` cancels between numerator and denominator. ``terms`` are
    overwritten.
    """
    p, q, vy, vxy = terms
    c1h, c2h = _ssim_constants(data_range, win, len(p))
    p += c1h
    vxy += c2h
    p *= vxy
    q += ux2
    q += 2 * c1h
    vy += vx
    vy += 2 * c2h
    q *= vy
    p /= q
    return 4.0 * _window_mean(p, window_mask)


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
def _core_scores(A, G, abs_reference, abs_explanation, prctile_val, support, positive, ssim,
                 to_img, win, window_mask, need_core=True, check_sums=False):
    """braindecode's metric definitions, computed from row sums, block by block.

    braindecode materialises every min-max-normalised and thresholded map and
    reduces each one; cosine and Pearson of min-max-normalised maps are functions
    of a few row sums of the raw maps (the normalisation is a per-row affine map),
    so we reduce the raw maps and materialise only the thresholded ones, a few rows
    at a time in reused scratch arrays (see ``_CHUNK_VALUES``).
    """
    m, n_feat = A.shape
    rows = max(1, min(m, _CHUNK_VALUES // n_feat))
    scratch = _Scratch(rows, n_feat)
    stats, res, ref_cache = {}, {name: np.empty(m) for name in ssim}, {}
    for start in range(0, m, rows):
        sl = slice(start, min(start + rows, m))
        part_stats, part_ssim = _block_stats(
            A[sl], G[sl], abs_reference, abs_explanation, prctile_val,
            None if support is None else support[sl], None if positive is None else positive[sl],
            ssim, to_img, win, window_mask, need_core, scratch, check_sums, ref_cache,
        )
        for name, val in part_stats.items():
            stats.setdefault(name, np.empty(m, dtype=np.asarray(val).dtype))[sl] = val
        for name in ssim:
            res[name][sl] = part_ssim[name]
    for name in ssim:
        res[name][stats["skip"]] = np.nan
    if need_core:
        res.update(_scores_from_stats(stats, n_feat))
    return res


def _block_stats(A, G, abs_reference, abs_explanation, q, support, positive, ssim, to_img,
                 win, window_mask, need_core, buf, check_sums=False, ref_cache=None):
    """Row statistics of one block of samples (and its SSIMs)."""
    m, n_feat = A.shape
    dot = _rowdot
    ref_cache = {} if ref_cache is None else ref_cache
    # explanation: range, and B = |A| or A clipped at 0 (braindecode's "abs" map)
    a_lo, a_hi, s_a = A.min(axis=1), A.max(axis=1), A.sum(axis=1)
    B = buf("B", m)
    if abs_explanation:
        np.abs(A, out=B)
        b_lo, b_hi = B.min(axis=1), B.max(axis=1)
    else:  # clipping commutes with min and max
        np.maximum(A, 0.0, out=B)
        b_lo, b_hi = np.maximum(a_lo, 0.0), np.maximum(a_hi, 0.0)
    b_rng = np.where(b_hi > b_lo, b_hi - b_lo, 1.0)
    s_b = B.sum(axis=1)
    # reference. A ground-truth mask often repeats over consecutive samples (one for all,
    # or one per class with trials sorted): a block whose rows all equal the last 0/1 mask
    # seen reuses its statistics and its support (indices of its ones), against which the
    # dot products need only the few values it covers.
    mask = ref_cache.get("mask") if support is None else None
    cached = mask is not None and all(np.array_equal(row, mask) for row in G)
    if cached:
        if ref_cache.get("support") is None:
            ref_cache["support"] = np.flatnonzero(mask)
        g_lo, g_hi, s_g = np.zeros(m), np.ones(m), np.full(m, float(ref_cache["support"].size))
    else:
        g_lo = G.min(axis=1)
        if abs_reference and (g_lo < 0).any():
            G = np.abs(G, out=buf("G", m))
            g_lo = G.min(axis=1)
        g_hi, s_g = G.max(axis=1), G.sum(axis=1)
    if check_sums and not (np.isfinite(s_a).all() and np.isfinite(s_g).all()):
        raise _NonFiniteSums
    st = {"skip": (s_b == 0) | (s_g == 0) | (a_lo == a_hi) | (b_lo == b_hi) | (g_lo == g_hi)}

    # A 0/1 reference (a ground-truth mask) is its own min-max normalisation, top-percentile
    # map and support, which saves most passes over it. sum(G * (1 - G)) is 0 exactly when
    # every value of G in [0, 1] is 0 or 1 (each product is >= 0 and 0 only there).
    binary = cached or bool(np.all((g_lo == 0) & ((g_hi == 1) | (g_hi == 0))))
    if binary and not cached:
        binary = not dot(G, np.subtract(1.0, G, out=buf("W", m))).any()
        if binary and 0 < s_g[-1] < n_feat and support is None:
            ref_cache.update(mask=G[-1].copy(), support=None)  # support found when reused
    if binary:
        G_norm = G_top = G
    else:
        g_rng = np.where(g_hi > g_lo, g_hi - g_lo, 1.0)
        G_norm = np.subtract(G, g_lo[:, None], out=buf("Gn", m))
        G_norm /= g_rng[:, None]
        # like braindecode, the percentile of the normalised map (0 and 1 are its extremes)
        thr_g = _percentile_rows(G_norm, q, np.zeros(m), (g_hi > g_lo).astype(float))
        G_top = np.greater_equal(G_norm, thr_g[:, None], out=buf("Gt", m))
        G_top *= G_norm
    if need_core:
        if binary:
            n_g, Gb = s_g, G
        else:
            Gb = buf("Gb", m)
            if support is None:
                np.not_equal(G, 0.0, out=Gb)
            else:
                np.copyto(Gb, support)
            n_g = Gb.sum(axis=1)
        if positive is not None:
            k = positive.sum(axis=1)
        elif (g_lo >= 0).all():
            k = n_g.astype(int)
        else:
            k = np.count_nonzero(G > 0, axis=1)
    else:
        k = np.zeros(m, dtype=int)

    # thresholds: top percentile of A and K-th largest of B, K = number of positive
    # reference values; and the statistics of the values kept, from the partitioned copy
    top = _top_stats(A, B, buf("P", m), q, k, b_lo, b_rng, abs_explanation)
    thr_a, thr_b = top["thr_a"], top["thr_b"]
    A_top = None
    if ssim or not cached or not top["ok"].all():
        A_top = np.greater_equal(A, thr_a[:, None], out=buf("T", m))
        A_top *= A  # braindecode's where(A < thr, 0, A)

    ssim_res = {}
    if ssim:
        _block_ssim(ssim_res, ssim, A, B, A_top, G_norm, G_top, binary, a_lo, a_hi, b_lo, b_hi,
                    to_img, win, window_mask, ref_cache, repeated=cached)
    if not need_core:
        return st, ssim_res

    st.update(a_lo=a_lo, b_lo=b_lo, g_lo=g_lo, s_a=s_a, s_b=s_b, s_g=s_g, n_g=n_g, k=k,
              s_aa=dot(A, A), s_bb=dot(B, B))
    if binary:
        st.update(s_gg=s_g, s_gt=s_g, ss_gt=s_g)
    else:
        st.update(s_gg=dot(G, G), d_agb=dot(A, Gb), d_bgb=dot(B, Gb), s_gt=G_top.sum(axis=1),
                  ss_gt=dot(G_top, G_top))
    if cached:
        _support_cross_stats(st, A, B, ref_cache["support"], thr_a, thr_b, b_lo, b_rng)
    else:
        _dense_cross_stats(st, A, B, G, Gb, A_top, G_top, binary, thr_a, thr_b, b_lo, b_rng,
                           top["ok"], buf)
    bad = ~top["ok"]
    if bad.any():  # ties at a threshold: the statistics of the kept values, from the maps
        is_top = B[bad] >= thr_b[bad, None]
        B_topk = np.where(is_top, (B[bad] - b_lo[bad, None]) / b_rng[bad, None], 0.0)
        top["n_top"][bad] = np.count_nonzero(B_topk, axis=1)
        top["s_kt"][bad] = B_topk.sum(axis=1)
        top["ss_kt"][bad] = dot(B_topk, B_topk)
        top["s_at"][bad] = A_top[bad].sum(axis=1)
        top["ss_at"][bad] = dot(A_top[bad], A_top[bad])
    st.update((name, top[name]) for name in ("n_top", "s_kt", "ss_kt", "s_at", "ss_at"))
    return st, ssim_res


def _dense_cross_stats(st, A, B, G, Gb, A_top, G_top, binary, thr_a, thr_b, b_lo, b_rng, ok,
                       buf):
    """Dot products of the (thresholded) explanation maps with the reference maps."""
    dot = _rowdot
    st["d_ag"], st["d_bg"] = dot(A, G), dot(B, G)
    if binary:
        st["d_agb"], st["d_bgb"] = st["d_ag"], st["d_bg"]
    # top percentile of the raw explanation vs that of the normalised reference
    st["d_tt"] = dot(A_top, G_top)
    if (thr_a >= 0).all():  # A_top >= 0
        st["mass_top"] = st["d_tt"] if binary else dot(A_top, Gb)
    else:
        st["mass_top"] = dot(np.abs(A_top, out=buf("W", len(A))), Gb)
    # top-K of the normalised explanation (braindecode's B_topk), zero elsewhere
    is_top = np.greater_equal(B, thr_b[:, None], out=buf("M", len(A)))
    if ok.all() and (b_lo == 0).all():
        # the kept values are > 0 = b_lo: none normalises to 0
        st["rank_top"] = dot(is_top, Gb)
        st["d_kt"] = np.einsum("ij,ij,ij->i", is_top, B, G_top) / b_rng
    else:
        B_topk = np.subtract(B, b_lo[:, None], out=buf("W", len(A)))
        B_topk *= is_top
        B_topk /= b_rng[:, None]
        st["rank_top"] = dot(np.not_equal(B_topk, 0.0, out=is_top), Gb)
        st["d_kt"] = dot(B_topk, G_top)


def _support_cross_stats(st, A, B, support, thr_a, thr_b, b_lo, b_rng):
    """:func:`_dense_cross_stats` for a 0/1 reference given by its ``support`` (indices
    of its ones, a few percent of the map): sums over the values there."""
    A_s, B_s = np.take(A, support, axis=1), np.take(B, support, axis=1)
    st["d_ag"] = st["d_agb"] = A_s.sum(axis=1)
    st["d_bg"] = st["d_bgb"] = B_s.sum(axis=1)
    kept = A_s >= thr_a[:, None]
    st["d_tt"] = np.where(kept, A_s, 0.0).sum(axis=1)
    st["mass_top"] = np.where(kept, np.abs(A_s), 0.0).sum(axis=1)
    B_topk = np.where(B_s >= thr_b[:, None], (B_s - b_lo[:, None]) / b_rng[:, None], 0.0)
    st["rank_top"] = np.count_nonzero(B_topk, axis=1).astype(float)
    st["d_kt"] = B_topk.sum(axis=1)


def _top_stats(A, B, P, q, k, b_lo, b_rng, abs_explanation):
    """Thresholds of the top sets of each row, and sums over the values they keep.

    ``thr_a``: ``np.percentile(A, q)``; ``thr_b``: the K-th largest value of B (K = ``k``,
    none where 0). The kept values ``A >= thr_a`` and ``B >= thr_b`` are a few percent of
    each row, and after selecting the order statistics in a copy they lie at its end:
    their count, sum and sum of squares (those of B min-max normalised) come from there.
    ``ok`` is False where a tie at a threshold leaves kept values elsewhere, or where a
    kept value of B normalises to 0 (the caller then reduces the masked maps).
    """
    m, n_feat = A.shape
    j, j1, t = _percentile_index(n_feat, q)
    np.copyto(P, A)
    names = ("thr_a", "thr_b", "s_at", "ss_at", "n_top", "s_kt", "ss_kt")
    out = {name: np.zeros(m) for name in names}
    out["thr_b"][:] = np.inf
    ok = np.ones(m, dtype=bool)
    for r in range(m):
        row = P[r]
        kk = n_feat - int(k[r]) if k[r] > 0 else -1
        idx = {j - 1, j, j1}
        if kk >= 0 and not abs_explanation:
            # B = max(A, 0) is monotone in A: its K-th largest is that of A, clipped
            idx |= {kk - 1, kk}
        idx = sorted(i for i in idx if i >= 0)
        vals = dict(zip(idx, _order_stats(row, idx)))
        xj = vals[j]
        thr = _lerp(xj, vals[j1], t)
        if thr > xj:  # the kept values are exactly those above position j
            start = j1
        else:
            start = j
            ok[r] &= j == 0 or vals[j - 1] < xj
        seg = row[start:]
        out["thr_a"][r], out["s_at"][r], out["ss_at"][r] = thr, seg.sum(), seg @ seg
        if kk < 0:
            continue
        if abs_explanation:
            np.copyto(row, B[r])
            idx = [i for i in (kk - 1, kk) if i >= 0]
            vals = dict(zip(idx, _order_stats(row, idx)))
        xk = vals[kk]
        out["thr_b"][r] = max(xk, 0.0) if not abs_explanation else xk
        # all kept values > b_lo (else some normalise to 0) and none left below kk
        ok[r] &= kk > 0 and vals[kk - 1] < xk and out["thr_b"][r] > b_lo[r]
        seg = row[kk:]
        if b_lo[r] != 0:
            seg = seg - b_lo[r]
        out["n_top"][r], out["s_kt"][r], out["ss_kt"][r] = len(seg), seg.sum(), seg @ seg
    out["s_kt"] /= b_rng
    out["ss_kt"] /= b_rng * b_rng
    out["ok"] = ok
    return out


def _scores_from_stats(st, n_feat):
    """The 12 metrics from the row statistics of :func:`_block_stats`."""
    a_lo, b_lo, g_lo = st["a_lo"], st["b_lo"], st["g_lo"]
    s_a, s_b, s_g, n_g = st["s_a"], st["s_b"], st["s_g"], st["n_g"]
    s_aa, s_bb, s_gg, d_ag, d_bg = st["s_aa"], st["s_bb"], st["s_gg"], st["d_ag"], st["d_bg"]

    # cos(x - x_lo, y - y_lo) from sums: the scale of min-max normalisation cancels
    def shifted_dot(d_xy, s_x, s_y, x_lo, y_lo):
        return d_xy - x_lo * s_y - y_lo * s_x + n_feat * x_lo * y_lo

    def shifted_sq(s_xx, s_x, x_lo):
        return s_xx - 2 * x_lo * s_x + n_feat * x_lo * x_lo

    def pearson(d_xy, s_x, s_y, s_xx, s_yy):
        cov = n_feat * d_xy - s_x * s_y
        return _div(cov, np.sqrt(np.maximum(n_feat * s_xx - s_x * s_x, 0)
                                 * np.maximum(n_feat * s_yy - s_y * s_y, 0)))

    res = {}
    gg_shift = shifted_sq(s_gg, s_g, g_lo)
    res["Cosine_raw"] = _div(shifted_dot(d_ag, s_a, s_g, 0.0, g_lo), np.sqrt(gg_shift * s_aa))
    res["Cosine_norm"] = _div(shifted_dot(d_ag, s_a, s_g, a_lo, g_lo),
                              np.sqrt(gg_shift * shifted_sq(s_aa, s_a, a_lo)))
    res["Cosine_absnorm"] = _div(shifted_dot(d_bg, s_b, s_g, b_lo, g_lo),
                                 np.sqrt(gg_shift * shifted_sq(s_bb, s_b, b_lo)))
    res["Pearson_norm_vs_refnorm"] = pearson(d_ag, s_a, s_g, s_aa, s_gg)
    res["Pearson_raw_vs_refnorm"] = res["Pearson_norm_vs_refnorm"].copy()
    res["Pearson_absnorm_vs_refnorm"] = pearson(d_bg, s_b, s_g, s_bb, s_gg)
    res["RelevanceMassAccuracy_norm"] = _div(st["d_agb"] - a_lo * n_g, s_a - n_feat * a_lo)
    res["RelevanceMassAccuracy_absnorm"] = _div(st["d_bgb"] - b_lo * n_g, s_b - n_feat * b_lo)
    res["RelevanceMassAccuracy_topperc"] = _div(st["mass_top"], st["s_at"])
    res["Cosine_topperc_abs"] = _div(st["d_tt"], np.sqrt(st["ss_gt"] * st["ss_at"]))
    res["RelevanceRankAccuracy_topK"] = _div(st["rank_top"], st["n_top"])
    res["Pearson_topK_vs_topperc"] = pearson(st["d_kt"], st["s_kt"], st["s_gt"], st["ss_kt"],
                                             st["ss_gt"])
    skip = st["skip"] | (st["k"] == 0)
    for name in METRIC_NAMES:
        res[name][skip] = np.nan
    return res


class _BoxMeans:
    """Box means (``win x win`` windows inside the image: scipy's ``uniform_filter`` cropped
    to the windows that fit, as skimage's SSIM and braindecode's ``avg_pool2d``) of
    ``(h, w)`` images, in named reused buffers. Hand-written for speed: SSIM takes 9 box
    filters per sample, and on 22-row images numpy sums of shifted slices (the previous
    implementation) spent ~3x longer than these matrix products; ``uniform_filter`` also
    filters the border windows that are cropped away.

    Along axis -2 (``h``, short) the sums are a matrix product with a band matrix (whose
    rows may be any subset of the windows, in any order). Along the rows they are taken
    on the flattened images cut into blocks of ``b`` values: a window starting in block j
    ends in block j or j + 1, so the sums are ``z_j @ lo + z_(j+1) @ hi`` (BLAS ``dgemm``
    accumulates the second product in place). The windows that run across a row end are
    garbage: each result is an ``(..., n_rows, w)`` array whose last ``win - 1`` columns
    are set to 0 (finite in the SSIM formula).
    """

    def __init__(self, shape, win):
        h, w = shape
        self.key, self.win, self.w = (tuple(shape), win), win, w
        self.ho, self.wo = h - win + 1, w - win + 1
        self.band = np.zeros((self.ho, h))
        for i in range(self.ho):
            self.band[i, i:i + win] = 1.0 / (win * win)
        b = self.b = 8 * -(-(win - 1) // 8)  # >= win - 1
        k, i = np.ogrid[:b, :b]
        # transposed (Fortran order): dgemm computes out.T = lo.T @ z.T on C-ordered blocks
        self.lo_t = np.asfortranarray(((k >= i) & (k < i + win)).T, dtype=float)
        self.hi_t = np.asfortranarray((k + b < i + win).T, dtype=float)
        self._bufs, self._views = {}, {}

    def stage(self, name, shape):
        """Reused buffer ``name`` as an array of ``shape``, zero-initialised (garbage stays
        finite), padded past a whole number of blocks with one block to spare (the row
        sums read one block ahead)."""
        view = self._views.get((name, shape))
        if view is None:
            n = math.prod(shape)
            size = (n // self.b + 2) * self.b
            arr = self._bufs.get(name)
            if arr is None or arr.size < size:
                arr = self._bufs[name] = np.zeros(size)
                self._views = {key: v for key, v in self._views.items() if key[0] != name}
            view = self._views[(name, shape)] = (arr[:size].reshape(-1, self.b),
                                                 arr[:n].reshape(shape))
        return view[1]

    def _row_sums(self, src, dst, shape):
        """Sums of ``win`` consecutive values of buffer ``src`` into buffer ``dst``, both
        seen as ``shape`` (..., w); the garbage columns set to 0."""
        out = self.stage(dst, shape)
        z, o = self._views[(src, shape)][0], self._views[(dst, shape)][0][:-1].T
        r = blas.dgemm(1.0, self.lo_t, z[:-1].T, beta=0.0, c=o, overwrite_c=True)
        r = blas.dgemm(1.0, self.hi_t, z[1:].T, beta=1.0, c=r, overwrite_c=True)
        if not np.may_share_memory(r, o):  # (f2py copied: never with these layouts)
            np.copyto(o, r)
        out[..., self.wo:] = 0.0
        return out

    def __call__(self, items, name):
        """Box means of the images ``imgs`` (..., h, w) on the windows (rows) of ``band``,
        for each ``(imgs, band)`` of ``items``, in buffer ``name``: a list of
        (..., n_rows, w) arrays."""
        shapes = [imgs.shape[:-2] + (len(band), self.w) for imgs, band in items]
        ends = list(itertools.accumulate(math.prod(s[:-1]) for s in shapes))
        tmp = self.stage("rows", (ends[-1], self.w))
        for (imgs, band), shape, start, end in zip(items, shapes, [0] + ends, ends):
            np.matmul(band, imgs, out=tmp[start:end].reshape(shape))
        out = self._row_sums("rows", name, tmp.shape)
        return [out[start:end].reshape(shape)
                for shape, start, end in zip(shapes, [0] + ends, ends)]

    def rows_first(self, src, shape, band, name):
        """Box means of an image that is zero outside a few of its rows, from its values
        there, in buffer ``src`` of ``shape`` (n_rows, w): sums along those rows first,
        then ``band`` (its columns for those rows) combines them."""
        cols = self._row_sums(src, "cols", shape)
        return np.matmul(band, cols, out=self.stage(name, (len(band), self.w)))

    def sums(self, p, mask):
        """Sum over the valid windows (and ``mask``) of a map (n_rows, w)."""
        v = p[:, :self.wo]
        return np.einsum("ij->", v) if mask is None else v[mask].sum()  # einsum: 1.5x faster


def _ssim_reference(x, binary, box, to_img, window_mask, c_unit):
    """Box moments of the reference maps ``x`` (r rows), and how to filter with them.

    Windows where ``x`` is zero (a ground-truth mask covers a few channels) simplify the
    SSIM formula: ``box.band`` is reordered to put the window rows that see some of ``x``
    first (``k`` of them). ``ux``, ``ux^2`` and ``var_x`` (no Bessel factor) are kept for
    those rows, ``ux^2 + C1`` and ``var_x + C2`` (halved constants of data range 1:
    ``c_unit``) for all. The products of ``x`` with a map are filtered from the non-zero
    rows of ``x`` alone when there are fewer of them than ``k``. ``samples[i]`` holds
    what sample i needs.
    """
    ximg = to_img(x)
    r = len(ximg)
    rows = np.flatnonzero(ximg.any(axis=(0, 2)))
    seen = box.band[:, rows].any(axis=1)
    order = np.argsort(~seen, kind="stable")
    k = int(seen.sum())
    band = box.band[order]
    ref = {"band": band, "k": k, "mask": None if window_mask is None else window_mask[order],
           "img": np.array(ximg)}  # x may be a scratch array
    if 0 < rows.size < k:
        ref.update(rows=rows, band_x=band[:k, rows], img_rows=ximg[:, rows],
                   ones=bool((ximg[:, rows] == 1).all()))
    if binary:
        ux = qx = box([(ximg, band)], "ref")[0]  # x * x = x
    else:
        ux, qx = box([(ximg, band), (ximg * ximg, band)], "ref")
    c1h, c2h = c_unit
    ux2 = ux * ux
    vx = qx - ux2
    ref.update(ux=ux[:, :k].copy(), ux2=ux2, vx=vx, ux2_c1=ux2 + 2 * c1h, vx_c2=vx + 2 * c2h)
    ref["samples"] = [{key: val[i] if key in _PER_ROW else val for key, val in ref.items()}
                      for i in range(r)]
    return ref


_PER_ROW = ("img", "img_rows", "ux", "ux2", "vx", "ux2_c1", "vx_c2")


def _ssim_sums(U, Q, X, ref, variants, box):
    """Sums over the windows of the SSIM maps (skimage's formula, see :func:`_ssim_index`)
    of one sample, for the ``variants`` of its map ``y``: ``(name, lo, inv, c1h, c2h)``,
    the min-max normalisation ``(y - lo) * inv`` (``lo`` None: the raw map) and the
    halved constants. ``U``, ``Q`` (ho, w) and ``X`` (k, w) are the box means of ``y``,
    ``y^2`` and ``x * y`` in the window order of ``ref`` (one sample's), overwritten.
    Each line is one numpy pass into a reused buffer (a fresh temporary of this size
    costs a page-faulting allocation). Where ``x`` is zero (rows past k) ``ux``,
    ``var_x`` and ``cov_xy`` are 0: the numerator is the constant ``C1 * C2``.
    """
    k, shape = len(X), U.shape
    ux = ref["ux"]
    P, S = box.stage("P", X.shape), box.stage("S", shape)
    np.multiply(ux, U[:k], out=P)
    X -= P  # cov_xy
    np.square(U, out=S)
    Q -= S  # var_y
    out = {}
    for name, lo, inv, c1h, c2h in variants:  # the raw map last: it is done in place
        if lo is not None:  # the normalised map's moments, from the raw ones (reads only)
            n1, n2, den = (box.stage(key, shape) for key in ("n1", "n2", "d1"))
            num, num2 = n1[:k], n2[:k]
            if lo == 0:  # (B is clipped at 0)
                np.multiply(S, inv * inv, out=den)
                np.multiply(P, inv, out=num)
            else:
                np.subtract(U, lo, out=n1)
                n1 *= inv  # its box mean
                np.square(n1, out=den)
                num *= ux
            den += ref["ux2_c1"]
            np.multiply(Q, inv * inv, out=n2)
            n2 += ref["vx_c2"]
            den *= n2
            num += c1h
            np.multiply(X, inv, out=num2)
            num2 += c2h
        else:
            num, num2, den = P, X, S
            num += c1h
            num2 += c2h
            den[:k] += ref["ux2"][:k]
            den += 2 * c1h
            Q[:k] += ref["vx"][:k]
            Q += 2 * c2h
            den *= Q
        num *= num2
        np.divide(num, den[:k], out=den[:k])
        np.divide(c1h * c2h, den[k:], out=den[k:])
        out[name] = 4.0 * box.sums(den, ref["mask"])
    return out


def _block_ssim(res, ssim, A, B, A_top, G_norm, G_top, binary, a_lo, a_hi, b_lo, b_hi, to_img,
                win, window_mask, cache=None, repeated=False):
    """The 4 SSIM variants of braindecode for a block of samples, one sample at a time
    (the ~10 arrays of its SSIM stay in the CPU cache).

    Box means are linear, so the raw and min-max-normalised explanations share their
    filtered moments (transformed, not refiltered), a 0/1 reference is its own
    normalised and top-percentile map and square, and a reference repeated over the
    samples is filtered once (``cache`` keeps it across blocks; ``repeated``: every row
    of G is ``cache["mask"]``): 9 box filters per sample instead of braindecode's 20, 3
    of them cheap when the reference covers a few channels (see :class:`_BoxMeans`,
    :func:`_ssim_reference`).
    """
    m = len(A)
    want = set(ssim)
    cache = {} if cache is None else cache
    store = cache.setdefault("ssim", {})
    shape = to_img(A[:1]).shape[1:]
    box = store.get("box")
    if box is None or box.key != (tuple(shape), win):
        store.clear()
        box = store["box"] = _BoxMeans(shape, win)
    cov_norm = win * win / (win * win - 1.0)

    def constants(data_range):  # halved C1 and C2 / cov_norm, as _ssim_constants
        dr = np.asarray(data_range, dtype=float)
        return (0.5 * (0.01 * dr) ** 2).tolist(), (0.5 * (0.03 * dr) ** 2 / cov_norm).tolist()

    c_unit = constants(1.0)
    n_windows = box.ho * box.wo if window_mask is None else int(window_mask.sum())

    def reference(x, key):
        # a reference repeated over the samples (a ground-truth mask) is filtered once
        mask = cache.get("mask") if repeated else None
        hit = store.get(key)
        if hit is not None and (hit["x"] is mask if mask is not None else
                                all(np.array_equal(row, hit["x"]) for row in x)):
            return hit
        if mask is None and any(not np.array_equal(row, x[0]) for row in x[1:]):
            return _ssim_reference(x, binary, box, to_img, window_mask, c_unit)
        hit = store[key] = _ssim_reference(x[:1], binary, box, to_img, window_mask, c_unit)
        hit["x"] = mask if mask is not None else x[0].copy()
        return hit

    def raw(data_range):  # per sample: (None, None, C1 / 2, C2 / 2)
        return list(zip([None] * m, [None] * m, *constants(data_range)))

    def norm(lo, hi):  # a min-max-normalised map spans exactly 1
        inv = 1.0 / np.where(hi > lo, hi - lo, 1.0)
        return [(a, b) + c_unit for a, b in zip(lo.tolist(), inv.tolist())]

    jobs = []  # (map y, reference x, variants of y: (name, per-sample parameters))
    if "SSIM_topperc" in want:
        jobs.append((A_top, G_top, [("SSIM_topperc", raw(_range_or_one(A_top)))]))
    if "SSIM_absnorm" in want:
        jobs.append((B, G_norm, [("SSIM_absnorm", norm(b_lo, b_hi))]))
    variants = [("SSIM_norm", norm(a_lo, a_hi)) if "SSIM_norm" in want else None,
                ("SSIM_raw", raw(np.where(a_hi > a_lo, a_hi - a_lo, 1.0)))
                if "SSIM_raw" in want else None]  # the raw map last (see _ssim_sums)
    if any(variants):
        jobs.append((A, G_norm, [v for v in variants if v]))

    for name in ssim:
        res[name] = np.empty(m)
    refs = {}
    for y, x, var in jobs:
        if id(x) not in refs:
            refs[id(x)] = reference(x, "top" if x is G_top else "norm")
        ref = refs[id(x)]
        yimgs = to_img(y)
        for i in range(m):
            sub = ref["samples"][i if len(ref["samples"]) > 1 else 0]
            yimg, band = yimgs[i], sub["band"]
            sq = np.square(yimg, out=box.stage("sq", yimg.shape))
            if "band_x" in sub:  # x * y from the rows of x
                part = np.take(yimg, sub["rows"], axis=0, mode="clip",
                               out=box.stage("part", sub["img_rows"].shape))
                if not sub["ones"]:
                    part *= sub["img_rows"]
                X = box.rows_first("part", part.shape, sub["band_x"], "X")
                U, Q = box([(yimg, band), (sq, band)], "F")
            else:
                prod = np.multiply(yimg, sub["img"], out=box.stage("prod", yimg.shape))
                U, Q, X = box([(yimg, band), (sq, band), (prod, band[:sub["k"]])], "F")
            sums = _ssim_sums(U, Q, X, sub, [(name,) + params[i] for name, params in var], box)
            for name, val in sums.items():
                res[name][i] = val / n_windows


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


def _validate_pair(maps_a, maps_b, finite=True):
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
    if finite:
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
    a, b, attr_info = _validate_pair(maps_a, maps_b, finite=False)
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
    # The channel-mode scores sum every row of both arrays, and NaN/Inf propagate to
    # sums: check those instead of two more passes over the inputs.
    check_sums = mode == "channel" and wanted <= set(METRIC_NAMES + SSIM_METRIC_NAMES)
    if not check_sums:
        check_finite(a, "maps_a")
        check_finite(b, "maps_b")

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
    for attempt in range(2):
        try:
            for start in range(0, n, batch_size):
                sl = slice(start, min(start + batch_size, n))
                _score_batch(
                    a[sl], b[sl], sl, out, wanted, mode, projector, abs_reference,
                    abs_explanation, prctile_val, win, window_mask, hog_kwargs, block_mask,
                    progress, check_sums,
                )
            break
        except _NonFiniteSums:
            check_finite(a, "maps_a")
            check_finite(b, "maps_b")
            check_sums = False  # finite values whose sums overflow: score them anyway
    scores = pd.DataFrame(out, columns=names)
    scores.index.name = "sample"
    n_skip = int(scores.isna().all(axis=1).sum())
    logger.info(f"Scored {n} samples on {len(names)} metrics ({n_skip} fully skipped).")
    return scores


def _score_batch(a, b, sl, out, wanted, mode, projector, abs_reference, abs_explanation,
                 prctile_val, win, window_mask, hog_kwargs, block_mask, progress,
                 check_sums=False):
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
            return v.reshape((len(v),) + shape)

    core = wanted & set(METRIC_NAMES + SSIM_METRIC_NAMES)
    if core:
        if topo:
            # Ground-truth support: a channel's support covers the pixels it is the
            # nearest channel of, so interpolation cannot spread it over the head.
            g_chan = np.abs(b_chan) if abs_reference else b_chan
            support = (g_chan != 0)[:, projector.nearest]
            positive = (g_chan > 0)[:, projector.nearest]
        else:
            support = positive = None
        res = _core_scores(
            A_raw, B_raw, abs_reference, abs_explanation, prctile_val, support, positive,
            ssim=[name for name in SSIM_METRIC_NAMES if name in wanted], to_img=to_img, win=win,
            window_mask=window_mask, need_core=bool(wanted & set(METRIC_NAMES)),
            check_sums=check_sums,
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
