"""Group maps: topomaps of the group statistic with the significant channels marked."""
from __future__ import annotations

import numpy as np

from .._utils import InvalidInputError, ShapeError
from ._common import check_axes, landmark_names, signed_vlim, topomap
from .topomaps import DIVERGING_CMAP, LANDMARKS

#: Rows of a spectral group figure by default (Hz, inclusive edges).
GROUP_BANDS = {"mu (8-13 Hz)": (8.0, 13.0), "beta (14-30 Hz)": (14.0, 30.0)}


def _check_result(result, what):
    from ..group import GroupResult

    if not isinstance(result, GroupResult):
        raise InvalidInputError(f"{what} draws a GroupResult (from compute_group_statistics), "
                                f"got {type(result).__name__}.")
    if len(result.dims) != 3 or result.dims[1] != "chan":
        raise ShapeError(f"{what} draws maps with axes (class, chan, band|freq|time); this "
                         f"result has {result.dims}.")
    return result


def _rows(result, ranges):
    """``{label: boolean selector along the last axis}``: the cells each row averages."""
    axis = result.dims[2]
    n = result.stat.shape[2]
    if axis == "band" and ranges is None and n <= 4:
        return {str(b): np.arange(n) == i for i, b in enumerate(result.coords["band"])}
    if axis in ("band", "freq"):
        ranges = GROUP_BANDS if ranges is None else ranges
        if axis == "band":
            edges = np.asarray(result.coords.get("band_edges"), dtype=float)
            if edges.ndim != 2:
                raise ShapeError("The result's bands carry no band_edges: pass ranges=None.")
            lo, hi = edges[:, 0], edges[:, 1]
        else:
            lo = hi = np.asarray(result.coords["freq"], dtype=float)
    else:  # time: four equal windows by default
        t = np.asarray(result.coords["time"], dtype=float)
        if ranges is None:
            cuts = np.linspace(t[0], t[-1], 5)
            ranges = {f"{a:.2g}-{b:.2g} s": (a, b) for a, b in zip(cuts[:-1], cuts[1:])}
        lo = hi = t
    rows = {}
    for label, (a, b) in ranges.items():
        sel = (lo >= a) & (hi <= b)
        if not sel.any():
            raise InvalidInputError(f"ranges[{label!r}] = ({a}, {b}) holds no bin of the "
                                    f"result's {axis} axis.")
        rows[str(label)] = sel
    return rows


def plot_group_topomaps(result, *, value="stat", ranges=None, classes=None,
                        landmarks=LANDMARKS, percentile=100, cmap=DIVERGING_CMAP, title=None,
                        axes=None, show=True):
    """Group maps per class (columns) and band / time window (rows), significant channels
    marked (``mask=`` of :func:`mne.viz.plot_topomap`).

    A row averages the bins of the result inside its range (bands and frequency bins
    wholly inside it; time bins inside it); a channel is marked when it is significant in
    any of those bins.

    Parameters
    ----------
    result : GroupResult
        From :func:`neuroxai.group.compute_group_statistics`.
    value : "stat" | "mean"
        Draw the t / F values, or the group mean of the tested maps.
    ranges : dict of str -> (lo, hi) | None
        Rows, in Hz (spectral) or s (time). Default: each band when the result has at most
        4, else mu 8-13 Hz and beta 14-30 Hz; four equal windows of a time axis.
    classes : list of str | None
        Columns (default: every class).
    landmarks : sequence of str | None
        Channels named on the maps.
    percentile : float
        Symmetric colour limits from this percentile of the drawn ``|values|``.
    cmap : str
    title : str | None
    axes : array of Axes, shape (n_rows, n_classes) | None
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    _check_result(result, "plot_group_topomaps")
    if value not in ("stat", "mean"):
        raise InvalidInputError(f"value must be 'stat' or 'mean', got {value!r}.")
    names = [str(c) for c in result.coords.get("class", range(result.stat.shape[0]))]
    cols = list(range(len(names))) if classes is None else []
    for c in classes or []:
        if str(c) not in names:
            raise InvalidInputError(f"classes: {c!r} is not one of {names}.")
        cols.append(names.index(str(c)))
    rows = _rows(result, ranges)
    data = result.stat if value == "stat" else result.mean
    cells = {(r, c): (data[c][:, sel].mean(axis=1), result.mask[c][:, sel].any(axis=1))
             for r, sel in rows.items() for c in cols}
    vlim = signed_vlim(np.concatenate([v for v, _ in cells.values()]), percentile)
    n_rows, n_cols = len(rows), len(cols)
    if axes is None:
        fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.2 * n_cols + 1.2, 2.3 * n_rows + 0.5),
                                 squeeze=False, layout="constrained")
    else:
        axes = np.asarray(check_axes(axes, n_rows * n_cols, "plot_group_topomaps"),
                          dtype=object).reshape(n_rows, n_cols)
        fig = axes.flat[0].figure
    marked = landmark_names(result.info, landmarks)
    im = None
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            vals, sig = cells[(r, c)]
            im = topomap(axes[i, j], vals, result.info, vlim, cmap, names=marked,
                         mask=sig)
            if i == 0:
                axes[i, j].set_title(names[c], fontsize=10)
        axes[i, 0].text(-0.2, 0.5, r, transform=axes[i, 0].transAxes, rotation=90,
                        va="center", ha="center", fontsize=9)
    label = (f"{result.stat_name} ({result.test.replace('_', '-')})" if value == "stat"
             else "group mean")
    fig.colorbar(im, ax=list(np.ravel(axes)), shrink=0.7, pad=0.02).set_label(label)
    if title is None:
        title = (f"{result.method}: {result.correction} test, n = {result.params.get('n_subjects')}"
                 f"; marked: p < {result.alpha:g}")
    fig.suptitle(title, fontsize=11)
    if show:
        plt.show()
    return fig


def plot_group_clusters(result, *, max_clusters=6, landmarks=LANDMARKS, cmap=DIVERGING_CMAP,
                        axes=None, show=True):
    """One topomap per significant cluster: the statistic averaged over the cluster's bins,
    the cluster's channels marked, its class, range and p-value in the title.

    Parameters
    ----------
    result : GroupResult
    max_clusters : int
        At most this many clusters (the smallest p-values first).
    landmarks : sequence of str | None
    cmap : str
    axes : sequence of Axes | None
        One per drawn cluster.
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
        With a single message when no cluster is significant.
    """
    import matplotlib.pyplot as plt

    from ..group._stats import describe_cluster

    _check_result(result, "plot_group_clusters")
    order = [k for k in np.argsort(result.cluster_p, kind="stable")
             if result.cluster_p[k] < result.alpha][:max(1, int(max_clusters))]
    if not order:
        fig, ax = plt.subplots(figsize=(4.5, 1.6)) if axes is None else (
            check_axes(axes, 1, "plot_group_clusters")[0].figure,
            check_axes(axes, 1, "plot_group_clusters")[0])
        ax.axis("off")
        ax.text(0.5, 0.5, f"No cluster at p < {result.alpha:g}\n({len(result.clusters)} "
                f"cluster(s) formed, smallest p = "
                f"{np.min(result.cluster_p) if len(result.cluster_p) else 1:.3g})",
                ha="center", va="center", fontsize=10)
        if show:
            plt.show()
        return fig
    if axes is None:
        fig, axes = plt.subplots(1, len(order), figsize=(2.6 * len(order) + 0.8, 3.4),
                                 squeeze=False, layout="constrained")
        axes = list(axes.ravel())
    else:
        axes = check_axes(axes, len(order), "plot_group_clusters")
        fig = axes[0].figure
    names = [str(c) for c in result.coords.get("class", range(result.stat.shape[0]))]
    maps = []
    for k in order:
        m = result.clusters[k]
        c = int(np.flatnonzero(m.any(axis=(1, 2)))[0])
        bins = m[c].any(axis=0)
        maps.append((c, result.stat[c][:, bins].mean(axis=1), m[c].any(axis=1), k))
    vlim = signed_vlim(np.concatenate([v for _, v, _, _ in maps]), 100)
    marked = landmark_names(result.info, landmarks)
    im = None
    for ax, (c, vals, chans, k) in zip(axes, maps):
        im = topomap(ax, vals, result.info, vlim, cmap, names=marked, mask=chans)
        row = describe_cluster(result, result.clusters[k])
        where = row.get("bands") or (f"{row['fmin']:.3g}-{row['fmax']:.3g} Hz" if "fmin" in row
                                     else f"{row['tmin']:.3g}-{row['tmax']:.3g} s")
        ax.set_title(f"{names[c]}\n{where}\np = {result.cluster_p[k]:.3g}", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.7, pad=0.02).set_label(
        f"{result.stat_name}, mean over the cluster's bins")
    if show:
        plt.show()
    return fig
