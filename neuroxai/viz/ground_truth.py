"""Each method's map beside the simulated ground truth."""
from __future__ import annotations

import numpy as np

from .._utils import (
    InvalidInputError,
    ShapeError,
    TargetError,
)
from ._common import (
    SEQUENTIAL_CMAP,
    _finish,
    check_info,
    check_mapping,
    landmark_names,
    panel_grid,
    reduce_to_channels,
    topomap,
)
from .topomaps import LANDMARKS


# ------------------------------------------------------------------------- ground truth
def plot_ground_truth_comparison(attributions, ground_truth, info=None, class_index=0, y=None,
                                 scores=None, landmarks=LANDMARKS, cmap=SEQUENTIAL_CMAP,
                                 title=None, axes=None, show=True):
    """Each method's channel map next to the simulated ground-truth topography.

    The first panel is the ground-truth topography of the class (normalised ``|lead
    field|``); then one map per method: mean ``|attribution|`` over the class's trials and
    over time/frequency, scaled to its maximum. Ground-truth channels are marked by white
    dots on every map. Panel titles give the relevance mass accuracy (share of the map's
    relevance on the ground-truth channels; chance = the share of channels marked, in the
    figure title).

    Parameters
    ----------
    attributions : dict of str -> Attribution | ndarray
        Per method, per-trial attributions ``(n_trials, n_chans, n_times | n_freqs)`` (an
        Attribution with a ``"chan"`` axis; a ``"class"`` axis selects ``class_index``).
    ground_truth : GroundTruth
        ``simulate_bcic_iv_2a(...).ground_truth`` (uses ``topographies`` and ``chan``).
    info : mne.Info | None
        Default: the first attribution's ``info``, else ``ground_truth.info``.
    class_index : int
        The class shown.
    y : array of int, shape (n_trials,) | None
        Trial labels; only trials of ``class_index`` are averaged. Default: each
        attribution's ``coords["y"]`` when present, else every trial.
    scores : dict of str -> float | pandas.Series | None
        Relevance mass accuracy per method to print instead of computing it (with
        :func:`~neuroxai.metrics.compute_ground_truth_metrics` on the displayed map and the
        ``chan`` mask).
    landmarks : sequence of str | None
    cmap : str
    title : str | None
    axes : sequence of Axes | None
        ``1 + n_methods`` axes.
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from ..metrics.ground_truth import compute_ground_truth_metrics

    check_mapping(attributions, "attributions", "{'saliency': attr}")
    if not all(hasattr(ground_truth, a) for a in ("topographies", "chan")):
        raise InvalidInputError("ground_truth must be a neuroxai.data.GroundTruth (from "
                                f"simulate_bcic_iv_2a()), got {type(ground_truth).__name__}.")
    topo_all = np.asarray(ground_truth.topographies, dtype=float)
    mask_all = np.asarray(ground_truth.chan, dtype=bool)
    n_cls = topo_all.shape[0]
    if not (isinstance(class_index, (int, np.integer)) and 0 <= class_index < n_cls):
        raise TargetError(f"class_index {class_index!r} is outside the ground truth's "
                          f"{n_cls} classes (valid: 0..{n_cls - 1}).")
    class_names = list(getattr(ground_truth, "class_names", None) or range(n_cls))
    maps, names = [], [str(n) for n in attributions]
    for name, values in attributions.items():
        labels = y
        if hasattr(values, "dims"):
            if "class" in values.dims:
                from ..attribution._base import Attribution

                ax_c = values.axis("class")
                values = Attribution(np.take(np.asarray(values.data), class_index, axis=ax_c),
                                     tuple(d for d in values.dims if d != "class"),
                                     info=values.info, method=values.method, coords=values.coords)
            if labels is None and "trial" in values.dims:
                labels = values.coords.get("y")
        if hasattr(values, "dims") and "trial" not in values.dims:  # already aggregated
            m, m_info = reduce_to_channels(values, name)
            info = info if info is not None else m_info
            maps.append(m)
            continue
        per_trial, m_info = reduce_to_channels(values, name, keep_trials=True)
        info = info if info is not None else m_info
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (per_trial.shape[0],):
                raise ShapeError(f"y has shape {labels.shape}; {name!r} has "
                                 f"{per_trial.shape[0]} trials.")
            sel = labels == class_index
            if not sel.any():
                raise TargetError(f"{name!r} has no trial of class {class_index}.")
            per_trial = per_trial[sel]
        maps.append(per_trial.mean(axis=0))
    info = info if info is not None else getattr(ground_truth, "info", None)
    maps = np.stack(maps)
    check_info(info, maps.shape[1], "plot_ground_truth_comparison")
    if topo_all.shape[1] != maps.shape[1]:
        raise ShapeError(f"The ground truth has {topo_all.shape[1]} channels, the attributions "
                         f"{maps.shape[1]}.")
    mask = mask_all[class_index]
    if scores is None:
        rma = compute_ground_truth_metrics(maps, mask, metrics=["RelevanceMassAccuracy"])
        rma = dict(zip(names, rma["RelevanceMassAccuracy"].to_numpy()))
    else:
        rma = {n: float(scores[n]) if n in scores else np.nan for n in names}

    n_panels = 1 + len(names)
    fig, flat = panel_grid(n_panels, min(n_panels, 5), (1.9, 2.3), axes,
                           "plot_ground_truth_comparison")
    lm = landmark_names(info, landmarks)
    peak = np.abs(topo_all[class_index]).max() or 1.0
    im = topomap(flat[0], np.abs(topo_all[class_index]) / peak, info, (0, 1), cmap, names=lm,
                 mask=mask)
    flat[0].set_title(f"ground truth\n{class_names[class_index]}", fontsize=10)
    for ax, name, m in zip(flat[1:], names, maps):
        top = m.max() or 1.0
        topomap(ax, m / top, info, (0, 1), cmap, names=lm, mask=mask)
        score = rma[name]
        ax.set_title(f"{name}\nRMA = {score:.2f}" if np.isfinite(score) else f"{name}\nRMA n/a",
                     fontsize=10)
    cb = fig.colorbar(im, ax=flat, shrink=0.8, pad=0.02)
    cb.set_label("|value| / max of map", fontsize=9)
    chance = mask.mean()
    fig.suptitle(title or f"Attribution vs ground truth ({class_names[class_index]}; "
                 f"white dots: true channels, chance RMA = {chance:.2f})", fontsize=11)
    return _finish(fig, show)
