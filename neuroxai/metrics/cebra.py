"""CEBRA's attribution metrics: connected vs non-connected statistics, ROC AUC, Moore–Penrose.

A ground-truth map is a boolean array with the shape of the attribution map
(typically ``("latent", "chan")``) that is ``True`` where an input is connected
to (drives) a latent; simulated data provide it.
"""
from __future__ import annotations

import numpy as np

from .._utils import InvalidInputError, ShapeError, check_finite, unknown_name
from ..attribution._base import Attribution

# one implementation, in the attribution stage (whose pinv maps it checks); re-exported here
from ..attribution._linalg import check_moore_penrose_conditions

__all__ = ["connected_stats", "attribution_auc", "check_moore_penrose_conditions"]

_TRANSFORMS = ("abs", "none")


def _map_and_truth(attribution, ground_truth, transform):
    if transform not in _TRANSFORMS:
        raise unknown_name("transform", transform, _TRANSFORMS)
    if isinstance(attribution, Attribution):
        values = np.asarray(attribution.data, dtype=float)
        if isinstance(ground_truth, Attribution):
            if ground_truth.dims != attribution.dims:
                raise ShapeError(
                    f"ground_truth has axes {ground_truth.dims}, the attribution "
                    f"{attribution.dims}; "
                    "reduce the attribution first (e.g. neuroxai.attribution.reduce_to_channels)."
                )
    else:
        values = np.asarray(attribution, dtype=float)
    truth = np.asarray(ground_truth.data if isinstance(ground_truth, Attribution) else ground_truth)
    if truth.shape != values.shape:
        raise ShapeError(
            f"ground_truth has shape {truth.shape} but the attribution has {values.shape}. A "
            "(latent, chan) truth needs a (latent, chan) map: reduce time with "
            "reduce_to_channels()."
        )
    if truth.dtype != bool:
        if not np.all(np.isin(truth, (0, 1))):
            raise InvalidInputError("ground_truth must be boolean (or 0/1): True = connected.")
        truth = truth.astype(bool)
    n_conn = int(truth.sum())
    if n_conn == 0 or n_conn == truth.size:
        raise InvalidInputError(
            f"ground_truth has {n_conn} connected of {truth.size} entries; it needs both connected "
            "and non-connected entries to compare them."
        )
    check_finite(values, "attribution")
    if transform == "abs":
        values = np.abs(values)
    return values, truth


def connected_stats(attribution, ground_truth, transform="abs"):
    """Attribution on connected vs non-connected entries and the gaps (CEBRA's metrics).

    Parameters
    ----------
    attribution : Attribution | array
        Attribution map, e.g. ``("latent", "chan")``.
    ground_truth : array of bool | Attribution
        Same shape; ``True`` where the input drives the latent.
    transform : "abs" | "none"
        Applied to the attribution first (connection strength is a magnitude).

    Returns
    -------
    stats : dict of float
        ``{mean,std,min,max}_{connected,nonconnected}``; ``gap_mean``,
        ``gap_max``, ``gap_min`` (connected minus non-connected statistic),
        ``gap_minmax`` (min connected minus max non-connected: > 0 when the
        map separates perfectly), ``gap_mean_std`` (``gap_mean`` in units of
        the pooled standard deviation), ``max_attribution``, ``min_attribution``.
    """
    values, truth = _map_and_truth(attribution, ground_truth, transform)
    conn, non = values[truth], values[~truth]
    stats = {}
    for name, part in (("connected", conn), ("nonconnected", non)):
        stats[f"mean_{name}"] = float(np.mean(part))
        stats[f"std_{name}"] = float(np.std(part))
        stats[f"min_{name}"] = float(np.min(part))
        stats[f"max_{name}"] = float(np.max(part))
    for s in ("mean", "max", "min"):
        stats[f"gap_{s}"] = stats[f"{s}_connected"] - stats[f"{s}_nonconnected"]
    stats["gap_minmax"] = stats["min_connected"] - stats["max_nonconnected"]
    pooled = np.sqrt(0.5 * (stats["std_connected"] ** 2 + stats["std_nonconnected"] ** 2))
    if pooled > 0:
        stats["gap_mean_std"] = float(stats["gap_mean"] / pooled)
    else:  # both groups constant: the gap is either exact or nothing
        gap = stats["gap_mean"]
        stats["gap_mean_std"] = float(np.sign(gap) * np.inf) if gap else 0.0
    stats["max_attribution"] = float(values.max())
    stats["min_attribution"] = float(values.min())
    return stats


def attribution_auc(attribution, ground_truth, transform="abs"):
    """ROC AUC of an attribution map as a detector of the connected entries.

    Parameters
    ----------
    attribution : Attribution | array
        Attribution map (scores).
    ground_truth : array of bool | Attribution
        Same shape; ``True`` where connected.
    transform : "abs" | "none"
        Applied to the attribution first.

    Returns
    -------
    auc : float
        :func:`sklearn.metrics.roc_auc_score` of the flattened map against the
        flattened truth: 1 = every connected entry scores above every other,
        0.5 = chance.
    """
    from sklearn.metrics import roc_auc_score

    values, truth = _map_and_truth(attribution, ground_truth, transform)
    return float(roc_auc_score(truth.ravel(), values.ravel()))
