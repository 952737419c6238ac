"""The metric table as an annotated heatmap with ranks."""
from __future__ import annotations

import numpy as np

from .._utils import (
    unknown_name,
)
from ._common import (
    REPORT_WIDTH,
    _finish,
    _new_figure,
    annotated_heatmap,
    check_axes,
)


def plot_metric_table(scores, lower_is_better=(), fmt=".2f", cmap="cividis", title=None,
                      orientation=None, axes=None, show=True):
    """A metric table as an annotated heatmap, next to each method's rank per metric.

    Panel 1 writes every score in its cell; the cell colour is the score scaled within its
    column (worst = dark, best = bright), so metrics on different scales share one colour
    map. Panel 2 gives the rank of each method per metric (1 = best; ties share the best
    rank) and, in the row labels, the mean rank over metrics.

    Parameters
    ----------
    scores : DataFrame | dict of str -> DataFrame or Series
        Methods as rows (the index), metrics as columns, e.g. mean scores of
        :func:`~neuroxai.metrics.compute_metrics`. A dict ``method -> per-sample scores``
        is averaged over samples (NaN skipped).
    lower_is_better : sequence of str
        Metrics where a lower value is better (all others: higher is better).
    fmt : str
        Format of the annotated values.
    cmap : str
        Sequential colour map (bright = better).
    title : str | None
    orientation : "horizontal" | "vertical" | None
        Panels side by side or stacked; ``None``: side by side up to 4 metrics.
    axes : sequence of 2 Axes | None
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from ..metrics.ranking import metric_frame, rank_methods

    if orientation not in (None, "horizontal", "vertical"):
        raise unknown_name("orientation", orientation, ("horizontal", "vertical"))
    scores, values = metric_frame(scores)
    metrics = [str(c) for c in scores.columns]
    methods = [str(i) for i in scores.index]
    lower = list(lower_is_better or ())
    higher = np.array([m not in lower for m in metrics])
    ranks = rank_methods(scores, lower_is_better=lower).to_numpy(dtype=float)
    n_m, n_k = values.shape

    # colour = quality within the column, 0 worst .. 1 best
    lo, hi = np.nanmin(values, axis=0, initial=np.inf, where=np.isfinite(values)), \
        np.nanmax(values, axis=0, initial=-np.inf, where=np.isfinite(values))
    span = np.where(hi > lo, hi - lo, 1.0)
    quality = (values - lo) / span
    quality = np.where(higher[None], quality, 1.0 - quality)
    quality = np.where((hi > lo)[None], quality, 0.5)
    quality[~np.isfinite(values)] = np.nan

    if orientation is None:
        orientation = "horizontal" if n_k <= 4 else "vertical"
    if axes is None:
        cell_w, cell_h = 0.75, 0.42
        if orientation == "horizontal":
            size = (min(REPORT_WIDTH * 1.2, 2 * (2.2 + cell_w * n_k)), 1.9 + cell_h * n_m)
            fig, ax_arr = _new_figure(1, 2, size)
        else:
            size = (min(REPORT_WIDTH * 1.2, 2.4 + cell_w * n_k), 2 * (1.9 + cell_h * n_m))
            fig, ax_arr = _new_figure(2, 1, size)
        ax_val, ax_rank = ax_arr.ravel()
    else:
        ax_val, ax_rank = check_axes(axes, 2, "plot_metric_table")
        fig = ax_val.figure
    fs = 9 if n_k <= 8 else 7
    labels = [[("–" if not np.isfinite(v) else format(v, fmt)) for v in row] for row in values]
    im = annotated_heatmap(ax_val, quality, labels, cmap, 0.0, 1.0, fontsize=fs)
    rank_labels = [[("–" if not np.isfinite(r) else str(int(r))) for r in row] for row in ranks]
    annotated_heatmap(ax_rank, ranks, rank_labels, cmap + "_r", 1.0, max(n_m, 2), fontsize=fs)
    xt = [f"{m} (↓)" if m in lower else m for m in metrics]
    mean_rank = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in ranks])
    for ax, ttl in ((ax_val, "Scores"), (ax_rank, "Rank per metric (1 = best)")):
        ax.set_xticklabels(xt, rotation=40, ha="right", rotation_mode="anchor", fontsize=8)
        ax.set_title(ttl, fontsize=11)
    ax_val.set_yticklabels(methods, fontsize=9)
    ax_rank.set_yticklabels([f"{m} ({r:.1f})" for m, r in zip(methods, mean_rank)], fontsize=9)
    ax_rank.set_ylabel("method (mean rank)", fontsize=9)
    cb = fig.colorbar(im, ax=ax_val, shrink=0.8, pad=0.02, ticks=[0, 1])
    cb.ax.set_yticklabels(["worst", "best"], fontsize=8)
    cb.set_label("within metric", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=12)
    if lower:
        fig.text(0.99, 0.005, "(↓) lower is better", ha="right", va="bottom", fontsize=7,
                 color="0.3")
    return _finish(fig, show)
