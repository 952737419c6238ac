"""Row-wise statistics (one row = one flattened map) and braindecode's 12 metrics.

The definitions are those of :func:`braindecode.visualization.compute_metrics`, written
as direct vectorised formulas over the rows (braindecode's top-K step loops over them
too), with NaN instead of 0 where a score is undefined.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._core.stats import rowwise_pearson as row_pearson  # noqa: F401 - NaN if constant


def div(num, den):
    """num / den, NaN where den == 0 (an undefined score, not a zero score)."""
    num = np.asarray(num, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def rowdot(x, y):
    # einsum, not np.vecdot: vecdot calls a multithreaded BLAS dot, about 10x slower than
    # einsum's single-threaded loop on a machine whose cores are busy
    return np.einsum("ij,ij->i", x, y)


def row_cosine(x, y):
    """Cosine similarity of matching rows; NaN where a row is all zero."""
    return div(rowdot(x, y), np.sqrt(rowdot(x, x) * rowdot(y, y)))


def minmax(x):
    """Per-row min-max normalisation (a constant row becomes 0)."""
    lo = x.min(axis=1, keepdims=True)
    span = x.max(axis=1, keepdims=True) - lo
    return (x - lo) / np.where(span > 0, span, 1.0)


def top_percentile(x, q):
    """braindecode's top-percentile map: the values at or above the row's q-th
    percentile (``np.percentile``, linear), 0 elsewhere."""
    thr = np.percentile(x, q, axis=1, keepdims=True)
    return np.where(x < thr, 0.0, x)


def kth_largest(x, k):
    """Per-row ``k[i]``-th largest value of ``x`` (inf where ``k[i] == 0``)."""
    out = np.full(len(x), np.inf)
    for i, ki in enumerate(k):
        if ki > 0:
            out[i] = np.partition(x[i], -ki)[-ki]
    return out


def range_or_one(x):
    """Per-row max - min, 1 where that is 0 (braindecode's SSIM data range)."""
    span = x.max(axis=1) - x.min(axis=1)
    return np.where(span > 0, span, 1.0)


@dataclass
class BraindecodeMaps:
    """The transformed maps braindecode's 12 metrics and 4 SSIM compare, (n, n_features).

    ``A``: explanation, ``B``: ``|A|`` (``clipped`` False) or ``A`` clipped at 0, ``G``:
    reference (``|G|`` in ground-truth mode); ``*_norm`` min-max normalised (``B_norm`` =
    ``(B - B_lo) / B_span``), ``*_top`` top-percentile maps. ``skip``: rows braindecode
    does not score (an all-zero or constant map).
    """

    A: np.ndarray
    B: np.ndarray
    G: np.ndarray
    A_norm: np.ndarray
    B_norm: np.ndarray
    G_norm: np.ndarray
    A_top: np.ndarray
    G_top: np.ndarray
    skip: np.ndarray
    B_lo: np.ndarray
    B_span: np.ndarray
    clipped: bool


def braindecode_maps(A, G, abs_reference, abs_explanation, prctile_val):
    """The maps of :class:`BraindecodeMaps` for explanations ``A`` and references ``G``."""
    G = np.abs(G) if abs_reference else np.asarray(G)
    B = np.abs(A) if abs_explanation else np.maximum(A, 0.0)
    G_norm = minmax(G)
    b_lo, b_hi = B.min(axis=1), B.max(axis=1)
    skip = ((B.sum(axis=1) == 0) | (G.sum(axis=1) == 0) | (np.ptp(A, axis=1) == 0)
            | (b_hi == b_lo) | (np.ptp(G, axis=1) == 0))
    b_span = np.where(b_hi > b_lo, b_hi - b_lo, 1.0)
    return BraindecodeMaps(
        A=A, B=B, G=G, A_norm=minmax(A), B_norm=(B - b_lo[:, None]) / b_span[:, None],
        G_norm=G_norm, A_top=top_percentile(A, prctile_val),
        G_top=top_percentile(G_norm, prctile_val), skip=skip, B_lo=b_lo, B_span=b_span,
        clipped=not abs_explanation,
    )


def braindecode_scores(maps, support=None, positive=None):
    """braindecode's 12 metrics (:data:`METRIC_NAMES`) of each row, NaN where skipped.

    The ground-truth support of the mass/rank accuracies is ``G != 0`` and K is the
    number of ``G > 0`` values, unless ``support`` / ``positive`` (boolean, like ``G``)
    are given.
    """
    m = maps
    support = m.G != 0 if support is None else support
    k = np.count_nonzero(m.G > 0 if positive is None else positive, axis=1)
    # braindecode's top-K map: the values of B_norm at or above its K-th largest. Clipping
    # at 0 and min-max normalisation are monotone, so that threshold is A's K-th largest,
    # clipped and normalised: selecting in A avoids np.partition's slow path on the run of
    # ties (zeros) that clipping leaves in B.
    thr = kth_largest(m.A, k) if m.clipped else kth_largest(m.B, k)
    if m.clipped:
        thr = np.maximum(thr, 0.0)
    thr = (thr - m.B_lo) / m.B_span
    B_topk = np.where(m.B_norm >= thr[:, None], m.B_norm, 0.0)
    is_topk = B_topk != 0

    def mass(x):  # share of |x| on the support, over the sum of x
        return div(rowdot(np.abs(x), support), x.sum(axis=1))

    # Pearson is invariant to min-max normalisation (a per-row positive affine map), so
    # braindecode's "norm" and "raw" Pearson are one number
    pearson_a = row_pearson(m.A, m.G_norm)
    res = {
        "Cosine_topperc_abs": row_cosine(m.G_top, m.A_top),
        "Cosine_absnorm": row_cosine(m.G_norm, m.B_norm),
        "Cosine_norm": row_cosine(m.G_norm, m.A_norm),
        "Cosine_raw": row_cosine(m.G_norm, m.A),
        "RelevanceMassAccuracy_topperc": mass(m.A_top),
        "RelevanceRankAccuracy_topK": div(np.count_nonzero(is_topk & support, axis=1),
                                          np.count_nonzero(is_topk, axis=1)),
        "RelevanceMassAccuracy_norm": mass(m.A_norm),
        "RelevanceMassAccuracy_absnorm": mass(m.B_norm),
        "Pearson_topK_vs_topperc": row_pearson(B_topk, m.G_top),
        "Pearson_absnorm_vs_refnorm": row_pearson(m.B_norm, m.G_norm),
        "Pearson_norm_vs_refnorm": pearson_a,
        "Pearson_raw_vs_refnorm": pearson_a.copy(),
    }
    skip = m.skip | (k == 0)
    for val in res.values():
        val[skip] = np.nan
    return res
