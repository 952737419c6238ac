"""Ranking methods by their metric scores (the numbers the metric table shows)."""
from __future__ import annotations

import numpy as np

from .._core.validation import check_mapping
from .._utils import InvalidInputError, unknown_name


def metric_frame(scores):
    """``(table, values)``: per-method metric means as a DataFrame (methods x metrics) from a
    table or from ``{method: per-sample scores}``, with named errors for what is not one."""
    import pandas as pd

    if isinstance(scores, dict):
        check_mapping(scores, "scores", "{'saliency': compute_metrics(...)}")
        rows = {}
        for name, s in scores.items():
            if isinstance(s, pd.DataFrame):
                rows[name] = s.mean(axis=0, numeric_only=True)  # per-sample scores -> means
            elif isinstance(s, (pd.Series, dict)):
                rows[name] = pd.Series(s, dtype=float)
            else:
                raise InvalidInputError(f"scores[{name!r}] must be a DataFrame of per-sample "
                                        f"scores or a Series of metric values, got "
                                        f"{type(s).__name__}.")
        scores = pd.DataFrame(rows).T
    if not isinstance(scores, pd.DataFrame):
        raise InvalidInputError("scores must be a DataFrame (methods x metrics) or a dict "
                                f"method -> per-sample scores, got {type(scores).__name__}.")
    if scores.empty:
        raise InvalidInputError("scores is empty; pass a DataFrame with one row per method and "
                                "one column per metric.")
    try:
        values = scores.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError("scores must hold numbers only (methods as the index, metrics "
                                "as columns).") from None
    if np.isinf(values).any():
        raise InvalidInputError("scores contain infinite values.")
    return scores, values


def rank_methods(scores, lower_is_better=()):
    """Rank the methods per metric: 1 = best, ties share the best rank (competition ranks).

    Parameters
    ----------
    scores : pandas.DataFrame | dict
        Methods x metrics (or ``{method: per-sample scores}``, averaged per method).
    lower_is_better : sequence of str
        Metrics where a lower value is better (e.g. a peak distance).

    Returns
    -------
    ranks : pandas.DataFrame
        Same index and columns; NaN where a score is undefined. ``ranks.mean(axis=1)`` is
        each method's mean rank.
    """
    import pandas as pd
    from scipy.stats import rankdata

    scores, values = metric_frame(scores)
    metrics = [str(c) for c in scores.columns]
    for name in lower_is_better or ():
        if name not in metrics:
            raise unknown_name("metric", name, metrics)
    higher_better = np.array([m not in set(lower_is_better or ()) for m in metrics])
    oriented = np.where(higher_better[None, :], -values, values)
    ranks = np.full(values.shape, np.nan)
    for j in range(values.shape[1]):
        ok = np.isfinite(oriented[:, j])
        if ok.any():
            ranks[ok, j] = rankdata(oriented[ok, j], method="min")
    return pd.DataFrame(ranks, index=scores.index, columns=scores.columns)
