"""Per-trial similarity of two attribution maps (private to :mod:`neuroxai.sanity`).

Hand-written because scipy's ``pearsonr``/``spearmanr`` loop over pairs or build the full
(2n x 2n) correlation matrix; a row-wise correlation of two (n_trials, n_features) arrays is
a few vectorised lines. Ranks are those of :func:`scipy.stats.rankdata` (average ties, as
``spearmanr``); rows without ties take a faster route (see :func:`_rank_rows`).
"""
from __future__ import annotations

import numpy as np

from .._utils import ShapeError, warn_degenerate

SIMILARITIES = ("pearson", "spearman", "spearman_abs")


def _rowwise_pearson(a, b):
    """Pearson r between matching rows of two 2-D float64 arrays.

    A row that is constant in one map but not the other scores 0 (the map changed and no
    linear relation is left); a row constant in both scores 1 if the rows are equal (the map
    did not change) and 0 otherwise; the caller applies the "equal" case. Returns the scores
    and the boolean mask of rows constant in either map.
    """
    scale_a = np.sqrt(np.einsum("ij,ij->i", a, a))
    scale_b = np.sqrt(np.einsum("ij,ij->i", b, b))
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    na = np.sqrt(np.einsum("ij,ij->i", a, a))
    nb = np.sqrt(np.einsum("ij,ij->i", b, b))
    # Relative tolerance: centring a constant row leaves only rounding error.
    const_a = na <= 1e-9 * scale_a
    const_b = nb <= 1e-9 * scale_b
    denom = np.where(const_a | const_b, 1.0, na * nb)
    r = np.einsum("ij,ij->i", a, b) / denom
    r = np.clip(r, -1.0, 1.0)
    degenerate = const_a | const_b
    r[degenerate] = 0.0
    return r, degenerate


def _rank_rows(x):
    """Row-wise ranks (1-based, ties averaged, as ``rankdata(axis=1)``), as float32.

    ``rankdata(axis=1)`` costs ~60 ms on 16 x 24750 float64 values; an ``argsort`` of the
    float32 maps (numpy's SIMD sort) ~7 ms, and the tie groups are averaged with a few
    vectorised passes. Ties are the rule, not the exception, for float32 maps (24750
    values share ~36 duplicates by chance alone), so they cannot take a slow path. Ranks up
    to 2**23 are exact in float32, and the ranks of float32 values equal those of their
    float64 copies.
    """
    n, m = x.shape
    order = np.argsort(x, axis=1)
    srt = np.take_along_axis(x, order, axis=1)
    # a new tie group starts at every row start and wherever the sorted value changes
    starts = np.ones((n, m), dtype=bool)
    np.not_equal(srt[:, 1:], srt[:, :-1], out=starts[:, 1:])
    first = np.flatnonzero(starts.ravel())  # flat index of each group's first element
    sizes = np.diff(np.append(first, n * m))
    # average of the 1-based positions first+1 .. first+size within the row
    avg = (first % m + 1 + (sizes - 1) / 2.0).astype(np.float32)
    ranks = np.empty((n, m), dtype=np.float32)
    ranks[np.arange(n)[:, None], order] = np.repeat(avg, sizes).reshape(n, m)
    return ranks


def _transform(x, metric):
    if metric == "pearson":
        return x
    if metric == "spearman":
        return _rank_rows(x)
    if metric == "spearman_abs":
        return _rank_rows(np.abs(x))
    raise ValueError(metric)  # pragma: no cover - validated by the public functions


def per_trial_similarity(maps_a, maps_b, metrics=SIMILARITIES, chunk_size=64, cache=None):
    """Similarity of two stacks of maps, trial by trial.

    Parameters
    ----------
    maps_a, maps_b : ndarray, shape (n_trials, ...)
        Attribution maps; every axis after the first is flattened.
    metrics : sequence of str
        Any of ``"pearson"`` (signed maps), ``"spearman"`` (ranks of the signed maps) and
        ``"spearman_abs"`` (ranks of the absolute maps, Adebayo et al. 2018).
    chunk_size : int
        Trials processed at once (bounds memory).
    cache : dict | None
        Keeps the ranks of ``maps_a`` between calls that compare the same ``maps_a`` with
        several ``maps_b`` (the levels of one test); pass the same empty dict each time.

    Returns
    -------
    scores : dict of str -> ndarray, shape (n_trials,)
    """
    maps_a = np.asarray(maps_a)
    maps_b = np.asarray(maps_b)
    if maps_a.shape != maps_b.shape:
        raise ShapeError(
            f"Cannot compare attribution maps of shapes {maps_a.shape} and {maps_b.shape}; "
            "both must come from the same trials and the same method."
        )
    n = maps_a.shape[0]
    out = {m: np.empty(n) for m in metrics}
    degenerate = np.zeros(n, bool)
    # Chunks of trials bound the float64 copies and ranks to a few chunk-sized arrays.
    for start in range(0, n, chunk_size):
        sl = slice(start, start + chunk_size)
        a_raw = maps_a[sl].reshape(len(maps_a[sl]), -1)
        b_raw = maps_b[sl].reshape(len(maps_b[sl]), -1)
        exact_same = np.all(a_raw == b_raw, axis=1)
        for metric in metrics:
            key = (start, metric)
            if cache is not None and key in cache:
                xa = cache[key]
            else:
                xa = _transform(a_raw, metric)
                if cache is not None and metric != "pearson":
                    cache[key] = xa
            xb = _transform(b_raw, metric)
            xa, xb = xa.astype(np.float64), xb.astype(np.float64)
            r, deg = _rowwise_pearson(xa, xb)
            r[deg & exact_same] = 1.0
            degenerate[sl] |= deg
            out[metric][sl] = r
    n_degenerate = int(degenerate.sum())
    if n_degenerate:
        warn_degenerate(
            f"{n_degenerate} of {n} trial(s) have a constant attribution map in one of the two "
            "models; their correlation is undefined and scored as 1 if both maps are equal, "
            "0 otherwise."
        )
    return out
