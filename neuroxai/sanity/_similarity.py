"""Per-trial similarity of two attribution maps (private to :mod:`neuroxai.sanity`).

Hand-written because scipy's ``pearsonr``/``spearmanr`` loop over pairs or build the full
(2n x 2n) correlation matrix; a row-wise correlation of two (n_trials, n_features) arrays is
a few vectorised lines. Ranks come from :func:`scipy.stats.rankdata` (average ties, as
``spearmanr``).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

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


def per_trial_similarity(maps_a, maps_b, metrics=SIMILARITIES, chunk_size=64):
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
        a = maps_a[sl].reshape(len(maps_a[sl]), -1).astype(np.float64)
        b = maps_b[sl].reshape(len(maps_b[sl]), -1).astype(np.float64)
        exact_same = np.all(a == b, axis=1)
        for metric in metrics:
            if metric == "pearson":
                xa, xb = a, b
            elif metric == "spearman":
                xa, xb = rankdata(a, axis=1), rankdata(b, axis=1)
            elif metric == "spearman_abs":
                xa, xb = rankdata(np.abs(a), axis=1), rankdata(np.abs(b), axis=1)
            else:  # pragma: no cover - validated by the public functions
                raise ValueError(metric)
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
