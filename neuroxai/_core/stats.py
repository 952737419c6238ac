"""Statistics shared by the stages: row-wise correlations, bootstrap intervals, balanced
subsets, and whether a classifier is above chance."""
from __future__ import annotations

import numpy as np

from .._utils import InvalidInputError


def _rowdot(x, y):
    # einsum, not np.vecdot: vecdot calls a multithreaded BLAS dot, about 10x slower than
    # einsum's single-threaded loop on a machine whose cores are busy
    return np.einsum("ij,ij->i", x, y)


def _centred_sq(x, xc):
    """Squared norms of the centred rows ``xc``, 0 where the row ``x`` is constant up to
    rounding (centring e.g. a projected constant map leaves ~1e-16 of its values)."""
    sq = _rowdot(xc, xc)
    sq[sq <= 1e-24 * _rowdot(x, x)] = 0.0
    return sq


def rowwise_pearson(a, b):
    """Pearson's r between matching rows of two ``(n, ...)`` arrays, shape ``(n,)``.

    Computed in float64; the same number as ``scipy.stats.pearsonr(a, b, axis=1)``. A row
    that is constant (up to rounding) in ``a`` or ``b`` has no correlation: NaN, silently —
    callers count the undefined rows and say so rather than inventing a value.
    """
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    ac = a - a.mean(axis=1, keepdims=True)
    bc = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt(_centred_sq(a, ac) * _centred_sq(b, bc))
    r = np.full(len(a), np.nan)
    np.divide(_rowdot(ac, bc), den, out=r, where=den > 0)
    return np.clip(r, -1.0, 1.0)


def rowwise_spearman(a, b):
    """Spearman's rho between matching rows (Pearson of tie-averaged ranks); NaN if constant."""
    from scipy.stats import rankdata

    a = np.asarray(a).reshape(len(a), -1)
    b = np.asarray(b).reshape(len(b), -1)
    return rowwise_pearson(rankdata(a, axis=1), rankdata(b, axis=1))


def bootstrap_ci(scores, confidence_level=0.95, n_resamples=1000, seed=0):
    """Percentile-bootstrap interval of the mean of each row of ``scores`` ``(n_rows, n)``.

    Percentile rather than BCa: BCa is undefined when every value is the same, which is
    exactly what a method that ignores the model produces. NaN values are left out of a
    row; a row with fewer than two values gets its mean as both bounds.
    """
    from scipy.stats import bootstrap

    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    out = np.full((len(scores), 2), np.nan)
    rng = np.random.default_rng(seed)
    for i, row in enumerate(scores):
        row = row[np.isfinite(row)]
        if len(row) == 0:
            continue
        if len(row) < 2 or np.all(row == row[0]):
            out[i] = row.mean()
            continue
        res = bootstrap((row,), np.mean, vectorized=True, n_resamples=n_resamples,
                        confidence_level=confidence_level, method="percentile",
                        random_state=rng)
        out[i] = res.confidence_interval.low, res.confidence_interval.high
    return out


def balanced_subset(y, n, seed=0):
    """Indices of ``n`` trials as balanced over classes as possible, in their original order.

    Classes take turns (in sorted order), each giving its next trial from a seeded
    permutation, until ``n`` trials are picked; ``n=None`` or ``n >= len(y)`` keeps all.
    """
    y = np.asarray(y)
    if n is None or n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    pools = [list(rng.permutation(np.flatnonzero(y == c))) for c in np.unique(y)]
    picked = []
    while len(picked) < n:
        for pool in pools:
            if pool and len(picked) < n:
                picked.append(pool.pop(0))
    return np.sort(np.array(picked, dtype=np.int64))


def chance_level(y, n_classes=None):
    """Accuracy of always guessing the most frequent class (1 / n for balanced classes)."""
    y = np.asarray(y)
    if len(y) == 0:
        raise InvalidInputError("chance level of an empty label set is undefined.")
    counts = np.bincount(y.astype(np.int64), minlength=n_classes or 0)
    return float(counts.max() / len(y))


def accuracy_test(y_true, y_pred, n_classes=None, alpha=0.05):
    """Held-out accuracy with its chance level and a one-sided binomial p-value.

    H0: the classifier is no better than always guessing the most frequent class
    (Combrisson & Jerbi, 2015, on why a fixed "above 1/n" threshold is not enough on
    small test sets). Returns a dict with ``accuracy``, ``n``, ``n_correct``, ``chance``,
    ``p_value``, ``alpha`` and ``above_chance``.
    """
    from scipy.stats import binomtest

    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise InvalidInputError(
            f"y_true and y_pred must be equal-length 1-D label arrays, got {y_true.shape} and "
            f"{y_pred.shape}.")
    n = len(y_true)
    k = int(np.sum(y_true == y_pred))
    chance = chance_level(y_true, n_classes)
    p = float(binomtest(k, n, chance, alternative="greater").pvalue) if chance < 1 else 1.0
    return dict(accuracy=k / n, n=n, n_correct=k, chance=chance, p_value=p, alpha=alpha,
                above_chance=bool(p < alpha))
