"""Ground-truth (sensitivity) metrics: how much attribution lands where the signal is.

For simulated data the generating sources are known, so an attribution can be
scored against a boolean mask with the same axes (channel x time, channel x
frequency, or channels only): relevance mass accuracy and relevance rank accuracy
(Arras et al., Information Fusion 2022), cosine similarity to the mask and the
ROC AUC of the attribution as a detector of masked entries.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from .._utils import InvalidInputError, ShapeError, check_finite, logger, unknown_name, verbose

__all__ = ["GROUND_TRUTH_METRIC_NAMES", "compute_ground_truth_metrics"]

GROUND_TRUTH_METRIC_NAMES = [
    "RelevanceMassAccuracy",
    "RelevanceRankAccuracy",
    "Cosine",
    "ROC_AUC",
]


def _div(num, den):
    out = np.full(np.shape(num), np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _rank_accuracy(rel, mask, k):
    """Fraction of the K most relevant entries inside the mask, K = mask size.

    Ties at the K-th value share the remaining slots (the expected value under
    random tie-breaking), so the score does not depend on the order of equal values.
    """
    n, n_feat = rel.shape
    out = np.full(n, np.nan)
    for kk in np.unique(k):  # one partition per distinct K (one K per class mask)
        if kk <= 0 or kk >= n_feat:
            continue
        rows = np.flatnonzero(k == kk)
        r, m = rel[rows], mask[rows]
        thr = np.partition(r, n_feat - kk, axis=1)[:, n_feat - kk, None]
        above, tied = r > thr, r == thr
        n_above = above.sum(axis=1)
        share = (kk - n_above) / tied.sum(axis=1)
        hits = (above & m).sum(axis=1) + share * (tied & m).sum(axis=1)
        out[rows] = hits / kk
    return out


def _roc_auc(score, mask):
    """Per-row ROC AUC via the Mann-Whitney U statistic.

    Equal to :func:`sklearn.metrics.roc_auc_score` (average ranks for ties =
    trapezoidal ROC), which scores one row per call; ranking all rows with
    :func:`scipy.stats.rankdata` at once is what makes 288 trials cheap.
    """
    n_pos = mask.sum(axis=1)
    n_neg = mask.shape[1] - n_pos
    ranks = rankdata(score, axis=1)
    u = np.where(mask, ranks, 0.0).sum(axis=1) - n_pos * (n_pos + 1) / 2.0
    return _div(u, (n_pos * n_neg).astype(float))


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


@verbose
def compute_ground_truth_metrics(attributions, masks, y=None, metrics=None, absolute=True,
                                 verbose=None):
    """Score attributions against boolean ground-truth masks, one row per sample.

    Parameters
    ----------
    attributions : array-like | Attribution, shape (n_samples, ...)
        Per-trial (or per-class) attributions, e.g. ``(n_trials, n_chans, n_times)``,
        ``(n_trials, n_chans, n_freqs)`` or ``(n_classes, n_chans)``.
    masks : array-like of bool
        True where the signal is. Shape ``(n_samples, ...)`` (one per sample),
        ``(...)`` (shared by all samples) or ``(n_classes, ...)`` with ``y``.
    y : array-like of int, shape (n_samples,) | None
        Class of each sample, selecting its mask from per-class ``masks``.
    metrics : None | list of str
        Names from :data:`GROUND_TRUTH_METRIC_NAMES` (``None``: all).
    absolute : bool
        Relevance is ``|attribution|`` (True) or its positive part (False, as in
        Arras et al. for signed methods).
    %(verbose)s

    Returns
    -------
    scores : pandas.DataFrame, shape (n_samples, n_metrics)
        ``RelevanceMassAccuracy`` (relevance inside the mask / total relevance),
        ``RelevanceRankAccuracy`` (share of the K most relevant entries inside the
        mask, K = mask size), ``Cosine`` (relevance vs. the mask as 0/1) and
        ``ROC_AUC`` (relevance as a detector of masked entries; chance = 0.5). NaN
        where a score is undefined (no relevance, empty or full mask).

    Notes
    -----
    A random map scores a relevance mass/rank accuracy equal to the mask's
    fraction of entries on average, and ROC AUC 0.5.
    """
    if hasattr(attributions, "dims"):
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
    names = list(GROUND_TRUTH_METRIC_NAMES) if metrics is None else list(metrics)
    for name in names:
        if name not in GROUND_TRUTH_METRIC_NAMES:
            raise unknown_name("ground-truth metric", name, GROUND_TRUTH_METRIC_NAMES)
    n = attr.shape[0]
    mask = _broadcast_masks(masks, n, attr.shape[1:], y).reshape(n, -1)
    attr = attr.reshape(n, -1)
    k = mask.sum(axis=1)
    n_feat = mask.shape[1]
    out = {name: np.empty(n) for name in names}
    # rows in blocks of ~2**20 values: the float64 relevance, ranks and masked copies of
    # one block stay ~10 MB each instead of scaling with the number of samples
    block = max(1, (1 << 20) // max(n_feat, 1))
    for start in range(0, n, block):
        sl = slice(start, start + block)
        a = attr[sl].astype(float)
        rel = np.abs(a, out=a) if absolute else np.maximum(a, 0.0, out=a)
        m, kb = mask[sl], k[sl]
        if {"RelevanceMassAccuracy", "Cosine"} & set(names):
            inside = np.where(m, rel, 0.0).sum(axis=1)
        if "RelevanceMassAccuracy" in names:
            out["RelevanceMassAccuracy"][sl] = _div(inside, rel.sum(axis=1))
        if "RelevanceRankAccuracy" in names:
            out["RelevanceRankAccuracy"][sl] = _rank_accuracy(rel, m, kb)
        if "Cosine" in names:
            out["Cosine"][sl] = _div(inside, np.sqrt(np.einsum("ij,ij->i", rel, rel) * kb))
        if "ROC_AUC" in names:
            out["ROC_AUC"][sl] = _roc_auc(rel, m)
    scores = pd.DataFrame({name: out[name] for name in names})
    scores.index.name = "sample"
    empty = (k == 0) | (k == n_feat)
    if empty.any():
        # a mask covering nothing or everything makes every score trivial
        scores.loc[empty, :] = np.nan
        logger.info(f"{int(empty.sum())} sample(s) have an empty or full mask; scored NaN.")
    return scores
