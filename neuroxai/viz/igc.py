"""Integrated Gradient Correlation topomaps and ROI bars."""
from __future__ import annotations

import numpy as np

from .._utils import (
    InvalidInputError,
    ShapeError,
)
from ._common import (
    REPORT_WIDTH,
    _finish,
    categorical_colors,
    check_axes,
    check_info,
)
from .topomaps import DIVERGING_CMAP, LANDMARKS, plot_band_topomaps


# ---------------------------------------------------------------------------------- IGC
def default_rois(ch_names):
    """Left / midline / right channel groups from 10-20 names (odd / ``z`` / even suffix).

    Parameters
    ----------
    ch_names : list of str

    Returns
    -------
    rois : dict of str -> list of str
        Only non-empty groups; channels whose names do not end in a digit or ``z`` are
        left out (:func:`plot_igc_topomaps` adds them as ``"other"``).
    """
    groups = {"left": [], "midline": [], "right": []}
    for ch in ch_names:
        last = ch[-1].lower()
        if last == "z":
            groups["midline"].append(ch)
        elif last.isdigit():
            groups["left" if int(last) % 2 else "right"].append(ch)
    return {k: v for k, v in groups.items() if v}


def plot_igc_topomaps(igc_attr, info=None, bands=None, rois=None, landmarks=LANDMARKS,
                      percentile=98, title=None, axes=None, show=True):
    """Integrated Gradient Correlation maps per class, and per-ROI sums adding up to r.

    IGC cells sum to each class's correlation between model output and target, so maps show
    *sums* (over time, or over the frequency bins of a band) and the bars split r into
    regions: the segments of a class (positive to the right, negative to the left) add up to
    its correlation (black diamond; for spectral IGC one segment is the phase term R).

    Parameters
    ----------
    igc_attr : Attribution
        From :func:`~neuroxai.attribution.igc.compute_igc`: dims ``("class", "chan",
        "time")`` (one topomap per class, summed over time) or ``("class", "chan", "freq")``
        (rows: bands, columns: classes, summed over each band's bins, both edges included:
        ``fmin <= f <= fmax``). ``coords["correlation"]`` goes into the column titles. The
        sums come from :func:`~neuroxai.attribution.igc.compute_igc_channel_sums` and
        :func:`~neuroxai.attribution.igc.compute_igc_roi_sums`.
    info : mne.Info | None
        Channel positions; default ``igc_attr.info``.
    bands : dict of str -> (fmin, fmax) | None
        Spectral IGC only; default mu/alpha and beta as in
        :func:`~neuroxai.viz.plot_band_topomaps`.
    rois : dict of str -> list of str | None
        Channel groups of the bars (default :func:`default_rois`: left / midline / right),
        not overlapping; channels in no group form an ``"other"`` segment so the segments
        add up to r.
    landmarks : sequence of str | None
    percentile : float
        Symmetric colour limits of each row from this percentile of ``|IGC|``.
    title : str | None
    axes : sequence of Axes | None
        ``n_rows * n_classes`` topomap axes (row-major) and then one axes for the bars.
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from ..attribution._base import Attribution
    from ..attribution.igc import compute_igc_channel_sums, compute_igc_roi_sums
    from .topomaps import DEFAULT_BANDS

    if not isinstance(igc_attr, Attribution):
        raise InvalidInputError("igc_attr must be the Attribution returned by compute_igc(), got "
                                f"{type(igc_attr).__name__}.")
    if igc_attr.dims not in (("class", "chan", "time"), ("class", "chan", "freq")):
        raise ShapeError(f"plot_igc_topomaps needs dims ('class', 'chan', 'time'|'freq') from "
                         f"compute_igc(), got {igc_attr.dims}.")
    info = info if info is not None else igc_attr.info
    n_cls, n_chans = igc_attr.shape[:2]
    check_info(info, n_chans, "plot_igc_topomaps")
    ch_names = list(info["ch_names"])
    spectral = igc_attr.dims[2] == "freq"
    coords = igc_attr.coords
    class_names = list(coords.get("class", [str(i) for i in range(n_cls)]))
    corr = np.asarray(coords.get("correlation", np.full(n_cls, np.nan)), dtype=float)
    # the numbers drawn come from the attribution stage; the channel names from `info`
    named = Attribution(np.nan_to_num(np.asarray(igc_attr.data, dtype=float)), igc_attr.dims,
                        info=info, method=igc_attr.method, coords=dict(coords, chan=ch_names))
    bands = dict(DEFAULT_BANDS if bands is None else bands) if spectral else bands
    sums = compute_igc_channel_sums(named, bands=bands)  # (class, chan, band)
    row_names = list(bands) if spectral else ["sum over time"]
    unit = "IGC (sum over band)" if spectral else "IGC (sum over time)"
    degenerate = ~np.isfinite(corr)  # a class without correlation (NaN) is drawn flat
    grid = np.where(degenerate[:, None, None], 0.0, sums.data)
    n_rows = len(row_names)
    if rois is not None and not rois:
        raise InvalidInputError("rois is empty; pass None for left/midline/right or a dict "
                                "name -> channel names.")
    roi_sums = compute_igc_roi_sums(named, default_rois(ch_names) if rois is None else rois,
                                    other="other", phase_term=True)
    if not np.any(roi_sums["phase term R"].to_numpy() != 0):  # no segment to draw
        roi_sums = roi_sums.drop(columns="phase term R")
    roi_names = [str(c) for c in roi_sums.columns]
    seg = roi_sums.to_numpy()

    if axes is None:
        fig = plt.figure(figsize=(min(REPORT_WIDTH, 2.2 * n_cls + 1.6),
                                  2.3 * n_rows + 0.35 * n_cls + 1.4), layout="constrained")
        gs = fig.add_gridspec(n_rows + 1, n_cls,
                              height_ratios=[1.0] * n_rows + [0.16 * n_cls + 0.4])
        topo_axes = np.array([[fig.add_subplot(gs[r, c]) for c in range(n_cls)]
                              for r in range(n_rows)])
        ax_bar = fig.add_subplot(gs[n_rows, :])
    else:
        flat = check_axes(axes, n_rows * n_cls + 1, "plot_igc_topomaps")
        topo_axes = np.array(flat[:-1], dtype=object).reshape(n_rows, n_cls)
        ax_bar = flat[-1]
        fig = ax_bar.figure
    col_titles = [f"{name}\nr = {r:.2f}" if np.isfinite(r) else f"{name}\nr undefined"
                  for name, r in zip(class_names, corr)]
    # The band sums are already computed: each pseudo-"frequency" bin i + 1 is row i.
    plot_band_topomaps(grid, info=info, freqs=np.arange(1, n_rows + 1, dtype=float),
                       bands={name: (i + 0.75, i + 1.25) for i, name in enumerate(row_names)},
                       class_names=col_titles, landmarks=landmarks, percentile=percentile,
                       cmap=DIVERGING_CMAP, unit=unit, axes=topo_axes, show=False)

    colors = categorical_colors(len(roi_names))
    if roi_names and roi_names[-1] == "phase term R":
        colors[-1] = "#BBBBBB"
    y = np.arange(n_cls)
    pos_left, neg_left = np.zeros(n_cls), np.zeros(n_cls)
    for k, name in enumerate(roi_names):
        v = seg[:, k]
        left = np.where(v >= 0, pos_left, neg_left)
        ax_bar.barh(y, v, left=left, color=colors[k], height=0.6, label=name,
                    edgecolor="white", linewidth=0.5,
                    hatch="//" if name == "phase term R" else None)
        pos_left += np.where(v >= 0, v, 0)
        neg_left += np.where(v < 0, v, 0)
    ax_bar.scatter(corr, y, marker="D", color="black", s=22, zorder=3, label="correlation r")
    ax_bar.axvline(0, color="0.4", linewidth=0.8)
    ax_bar.set_yticks(y)
    ax_bar.set_yticklabels(class_names, fontsize=9)
    ax_bar.invert_yaxis()
    ax_bar.set_xlabel("IGC summed per region (adds up to r)", fontsize=9)
    ax_bar.tick_params(labelsize=8)
    ax_bar.spines[["top", "right"]].set_visible(False)
    # above the bars, so the panel keeps the full width of the topomap grid
    handles, labels = ax_bar.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "correlation r")
    ax_bar.legend([handles[i] for i in order], [labels[i] for i in order],
                  fontsize=8, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0),
                  ncols=len(roi_names) + 1, handlelength=1.5, columnspacing=1.2)
    fig.suptitle(title or ("Spectral IGC" if spectral else "IGC") + " per class", fontsize=12)
    return _finish(fig, show)
