"""The methods' mean relevance map and their pairwise agreement."""
from __future__ import annotations

import numpy as np

from ._common import (
    REPORT_WIDTH,
    SEQUENTIAL_CMAP,
    _finish,
    _new_figure,
    annotated_heatmap,
    check_axes,
    check_info,
    check_mapping,
    landmark_names,
    topomap,
)
from .topomaps import DIVERGING_CMAP, LANDMARKS


# ------------------------------------------------------------------------ method agreement
def plot_method_agreement(attributions, info=None, agreement="map", landmarks=LANDMARKS,
                          cmap=SEQUENTIAL_CMAP, title=None, axes=None, show=True):
    """Where the methods put relevance on average, and how much they agree.

    Left: the per-channel mean ``|attribution|`` averaged over methods (each method's map
    scaled to sum to 1), in percent of the total. Right: the pairwise agreement of the
    methods as an annotated heatmap. The numbers come from
    :func:`neuroxai.metrics.compute_method_agreement` (see it for ``agreement``).

    Parameters
    ----------
    attributions : dict of str -> Attribution | ndarray
        Per method, an :class:`~neuroxai.attribution.Attribution` with a ``"chan"`` axis or
        an array ``(n_trials, n_chans, n_times)`` (or ``n_freqs``).
    info : mne.Info | None
        Channel positions; default the first attribution's ``info``.
    agreement : "map" | "trial"
        See :func:`neuroxai.metrics.compute_method_agreement`.
    landmarks : sequence of str | None
        Channels named on the scalp map.
    cmap : str
        Colour map of the scalp map (unsigned values).
    title : str | None
        Figure title.
    axes : sequence of 2 Axes | None
        Scalp map and agreement heatmap.
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from ..metrics.agreement import compute_method_agreement

    check_mapping(attributions, "attributions", "{'saliency': attr}")
    share_attr, corr_df = compute_method_agreement(attributions, agreement=agreement)
    share, corr, names = share_attr.data, corr_df.to_numpy(), list(corr_df.index)
    info = info if info is not None else share_attr.info
    check_info(info, len(share), "plot_method_agreement")
    n = len(names)

    if axes is None:
        fig, ax_arr = _new_figure(1, 2, (REPORT_WIDTH, 3.4 + 0.15 * n),
                                  gridspec_kw=dict(width_ratios=[1.0, 0.6 + 0.12 * n]))
        ax_map, ax_hm = ax_arr[0]
    else:
        ax_map, ax_hm = check_axes(axes, 2, "plot_method_agreement")
        fig = ax_map.figure
    names_kw = landmark_names(info, landmarks)
    vlim = (0.0, float(share.max()))
    im = topomap(ax_map, share, info, vlim, cmap, names=names_kw)
    ax_map.set_title(f"Mean over {n} method{'s' * (n > 1)}", fontsize=11)
    cb = fig.colorbar(im, ax=ax_map, shrink=0.75, pad=0.02)
    cb.set_label("% of total |attribution|", fontsize=9)

    labels = [["" if i == j else ("n/a" if not np.isfinite(corr[i, j]) else f"{corr[i, j]:.2f}")
               for j in range(n)] for i in range(n)]
    shown = corr.copy()
    shown[np.eye(n, dtype=bool)] = np.nan  # the diagonal (r = 1) says nothing
    im2 = annotated_heatmap(ax_hm, shown, labels, DIVERGING_CMAP, -1.0, 1.0,
                            fontsize=10 if n <= 6 else 8)
    ax_hm.set_xticklabels(names, rotation=35, ha="right", rotation_mode="anchor", fontsize=9)
    ax_hm.set_yticklabels(names, fontsize=9)
    what = "channel maps" if agreement == "map" else "per-trial maps, mean"
    ax_hm.set_title(f"Agreement (Pearson r, {what})", fontsize=11)
    cb2 = fig.colorbar(im2, ax=ax_hm, shrink=0.75, pad=0.02)
    cb2.set_label("Pearson r", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=12)
    return _finish(fig, show)
