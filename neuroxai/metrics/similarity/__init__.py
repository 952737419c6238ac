"""Similarity metrics between attribution maps (and against a reference map).

The 12 metrics and 4 SSIM variants of :mod:`braindecode.visualization.metrics`
(Sujatha Ravindran & Contreras-Vidal, Sci. Rep. 2023) under the same names, plus
the sanity-check similarities of Adebayo et al. (NeurIPS 2018): Spearman rank
correlation (signed and absolute) and Pearson correlation of HOG features, and
cosine / Pearson of scalp topographies.

Differences from braindecode, on purpose:

- Scores are computed on the channel maps by default (``mode="channel"``).
- ``mode="topomap"`` scores only in-head pixels: normalisation, percentiles,
  SSIM windows and HOG blocks never see the out-of-head area. braindecode sets
  those pixels to 0 and treats every non-zero interpolated pixel as ground
  truth, so a random map scores relevance mass/rank accuracy ~1 there. We carry a
  channel-level ground-truth support to the pixels by nearest channel instead.
- Skipped samples (all-zero or constant maps) and undefined scores (a zero
  denominator) are NaN, not 0, with a warning; NaN/Inf inputs raise
  :class:`NonFiniteError`.

Modules: ``_stats`` (row statistics, braindecode's 12 metrics), ``_ssim`` (SSIM with
scipy's ``uniform_filter``: topomaps, and the reference of) ``_ssim_blas`` (the channel
maps' fast route), ``_hog``, ``_inputs`` (argument checks), ``_names`` (metric lists).
"""
from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ..._utils import (
    InvalidInputError,
    ShapeError,
    check_finite,
    logger,
    unknown_name,
    verbose,
    warn_degenerate,
)
from ..topomap import ScalpProjector, make_scalp_projector
from ._hog import hog_features, hog_setup
from ._inputs import resolve_metrics, validate_pair
from ._names import (
    ALL_METRIC_NAMES,
    HOG_METRIC_NAMES,
    METRIC_NAMES,
    RANK_METRIC_NAMES,
    SSIM_METRIC_NAMES,
    TOPO_METRIC_NAMES,
)
from ._ssim import braindecode_ssim, fit_win_size, ssim_window_mask
from ._ssim_blas import SSIMBoxMeans, braindecode_ssim_blas, one_blas_thread
from ._stats import braindecode_maps, braindecode_scores, row_cosine, row_pearson

__all__ = [
    "METRIC_NAMES",
    "SSIM_METRIC_NAMES",
    "RANK_METRIC_NAMES",
    "HOG_METRIC_NAMES",
    "TOPO_METRIC_NAMES",
    "ALL_METRIC_NAMES",
    "compute_metrics",
    "summarize_metrics",
]
_MODES = ("channel", "topomap")
_BATCH_VALUES = 1 << 17


@verbose
def compute_metrics(
    maps_a,
    maps_b,
    metrics=None,
    mode="channel",
    info=None,
    *,
    abs_reference=True,
    abs_explanation=False,
    prctile_val=95,
    win_size=7,
    hog_kwargs=None,
    projector=None,
    batch_size=32,
    progress=False,
    verbose=None,
):
    """Score attribution maps against reference maps, one row per sample.

    Parameters
    ----------
    maps_a : array-like | Attribution, shape (n_samples, n_chans[, n_times | n_freqs])
        The explanations (braindecode's ``explanations``).
    maps_b : array-like | Attribution
        The references (ground truth, or the maps of a randomised model), same
        shape as ``maps_a`` or the shape of one map (used for every sample).
    metrics : None | "all" | str | list of str
        Names from :data:`ALL_METRIC_NAMES`. ``None`` computes
        :data:`METRIC_NAMES`, :data:`RANK_METRIC_NAMES`, :data:`SSIM_METRIC_NAMES`
        (for 2-D maps or topomaps) and :data:`TOPO_METRIC_NAMES` (when ``info`` or
        ``projector`` is given). ``HOG_Pearson`` (skimage, one map at a time, a few
        ms a map) is computed only when asked for.
    mode : "channel" | "topomap"
        ``"channel"`` scores the maps as they are. ``"topomap"`` averages the last
        axis (time/frequency), projects onto the scalp and scores in-head pixels.
    info : mne.Info | None
        Channel info with a montage; needed for ``mode="topomap"`` and the
        ``Topo_*`` metrics (taken from an :class:`Attribution` when omitted).
    abs_reference : bool
        Take ``|maps_b|`` (ground-truth mode) for :data:`METRIC_NAMES` and SSIM.
    abs_explanation : bool
        Use ``|maps_a|`` where braindecode uses the "abs" explanation; ``False``
        clips negative values to 0 instead.
    prctile_val : float
        Percentile of the ``*_topperc`` masks (95 keeps the top 5 %%).
    win_size : int
        SSIM window (shrunk to an odd size that fits the maps, as braindecode does).
    hog_kwargs : dict | None
        Passed to :func:`skimage.feature.hog`. Default: 9 orientations,
        ``cells_per_block=(2, 2)``, ``pixels_per_cell=(8, 8)`` for channel maps,
        ``(4, 4)`` for topomaps. In topomap mode only HOG blocks that lie wholly
        in the head are compared.
    projector : ScalpProjector | None
        A precomputed :func:`~neuroxai.metrics.topomap.make_scalp_projector`
        (built from ``info`` when omitted).
    batch_size : int
        At most this many samples are processed at a time (fewer for large maps:
        about 130 000 values at a time). Bounds the memory to a few dozen arrays
        of that size.
    progress : bool
        Show a progress bar over the HOG loop.
    %(verbose)s

    Returns
    -------
    scores : pandas.DataFrame, shape (n_samples, n_metrics)
        One column per metric. NaN marks a skipped sample or an undefined score
        (see Notes); a :class:`~neuroxai.DegenerateMethodWarning` says how many
        samples have one.

    Notes
    -----
    The 12 :data:`METRIC_NAMES` and 4 :data:`SSIM_METRIC_NAMES` follow the
    definitions of :func:`braindecode.visualization.compute_metrics` and
    :func:`~braindecode.visualization.compute_ssim_metrics` (in channel mode the
    values are equal to theirs, apart from NaN where braindecode writes 0). As in
    braindecode, the ground-truth support of the relevance mass/rank accuracies is
    ``reference != 0`` and K is the number of ``reference > 0`` values.
    They need a sparse (ground-truth) reference: against a dense map (e.g. a
    randomised model's explanation) every value is support and they are 1.
    ``Spearman``/``Spearman_abs``/``HOG_Pearson``/``Topo_*`` compare ``maps_a``
    with ``maps_b`` as given (no abs, no clipping); ``Spearman_abs`` ranks
    ``|maps_a|`` against ``|maps_b|``. ``Topo_*`` average the last axis and
    compare the in-head projected topographies (signed).

    Constant maps: a correlation (Pearson, Spearman, HOG) with a constant map, and a
    cosine with an all-zero map, is undefined and scored NaN. braindecode's 12
    metrics and 4 SSIM skip (NaN) a sample whose explanation, clipped/absolute
    explanation or reference is all zero or constant, and the 12 metrics also one
    without a positive reference value (K = 0). Every NaN is reported by one
    :class:`~neuroxai.DegenerateMethodWarning`; :func:`summarize_metrics` leaves
    NaN out of the statistics and counts them as skipped.

    ``SSIM_topperc`` compares two mostly-zero maps, and a window where both are
    zero scores 1: on smooth topomaps (where the top 5 %% is one blob) a random
    map still scores ~0.7 even in-head. Prefer ``SSIM_absnorm``/``SSIM_raw`` there.
    """
    a, b, attr_info = validate_pair(maps_a, maps_b)
    info = info if info is not None else attr_info
    if mode not in _MODES:
        raise unknown_name("mode", mode, _MODES)
    if projector is not None and not isinstance(projector, ScalpProjector):
        raise InvalidInputError("projector must come from make_scalp_projector(info).")
    names = resolve_metrics(metrics, a.ndim, info is not None or projector is not None, mode)
    if mode == "topomap" or any(m in TOPO_METRIC_NAMES for m in names):
        projector = _resolve_projector(projector, info, a.shape[1])
    win, window_mask, box, hog_kwargs, block_mask = _image_setup(
        names, mode, projector, a.shape[1:], win_size, hog_kwargs)
    check_finite(a, "maps_a")
    check_finite(b, "maps_b")

    n = a.shape[0]
    # batches of about _BATCH_VALUES values: their ~30 temporary arrays stay in the CPU
    # cache (about 1.7x faster than batches of 32 maps of 22 x 1125 values)
    rows = max(1, min(int(batch_size), _BATCH_VALUES // max(a[0].size, 1)))
    out = {m: np.full(n, np.nan) for m in names}
    with one_blas_thread() if box is not None else contextlib.nullcontext():
        for start in range(0, n, rows):
            sl = slice(start, min(start + rows, n))
            batch = _score_batch(
                a[sl], b[sl], set(names), mode, projector, abs_reference, abs_explanation,
                prctile_val, win, window_mask, box, hog_kwargs, block_mask, progress,
            )
            for name, val in batch.items():
                out[name][sl] = val
    scores = pd.DataFrame(out, columns=names)
    scores.index.name = "sample"
    _warn_undefined(scores)
    logger.info(f"Scored {n} samples on {len(names)} metrics.")
    return scores


def _image_setup(names, mode, projector, map_shape, win_size, hog_kwargs):
    """What the SSIM and HOG metrics need for this image layout: the SSIM window, its
    in-head windows and the fast route's box means; HOG's arguments and blocks."""
    img_shape = projector.mask.shape if mode == "topomap" else map_shape
    in_head = projector.mask if mode == "topomap" else None
    win = window_mask = box = block_mask = None
    if set(names) & set(SSIM_METRIC_NAMES):
        win = fit_win_size(win_size, img_shape)
        window_mask = None if in_head is None else ssim_window_mask(in_head, win)
        box = _ssim_box(mode, img_shape, win)
    if "HOG_Pearson" in names:
        hog_kwargs, block_mask = hog_setup(hog_kwargs, img_shape, in_head)
    return win, window_mask, box, hog_kwargs, block_mask


def _ssim_box(mode, img_shape, win):
    """The box means of the fast SSIM route (channel maps), None for the plain route."""
    return SSIMBoxMeans(img_shape, win) if mode == "channel" else None


def _resolve_projector(projector, info, n_chans):
    if projector is None:
        if info is None:
            raise InvalidInputError(
                "mode='topomap' and the Topo_* metrics need info (an mne.Info with a montage) "
                "or a projector from make_scalp_projector(info)."
            )
        projector = make_scalp_projector(info, verbose=False)
    if projector.n_chans != n_chans:
        raise ShapeError(
            f"The maps have {n_chans} channels but info/projector has {projector.n_chans}."
        )
    return projector


def _warn_undefined(scores):
    """One warning for all NaN scores (nothing is silently NaN)."""
    nan = scores.isna()
    n_nan = int(nan.any(axis=1).sum())
    if not n_nan:
        return
    n_skip = int(nan.all(axis=1).sum())
    cols = [name for name in scores.columns if nan[name].any()]
    warn_degenerate(
        f"{n_nan} of {len(scores)} sample(s) have undefined (NaN) scores ({n_skip} on every "
        f"metric), in {cols}: a correlation with a constant map or a cosine with an all-zero "
        "map, or a sample braindecode's metrics skip (an all-zero or constant map or "
        "reference, or no positive reference value). summarize_metrics() counts them as "
        "skipped."
    )


def _score_batch(a, b, wanted, mode, projector, abs_reference, abs_explanation, prctile_val,
                 win, window_mask, box, hog_kwargs, block_mask, progress):
    """The ``wanted`` scores of one batch of samples: a dict ``name -> (m,)``."""
    m = a.shape[0]
    topo = mode == "topomap"
    if topo:
        a_chan = a.mean(axis=-1) if a.ndim == 3 else a
        b_chan = b.mean(axis=-1) if b.ndim == 3 else b
        A_raw = a_chan @ projector.operator.T  # (m, n_pixels_in_head)
        B_raw = b_chan @ projector.operator.T

        def to_img(v):
            return projector.to_image(v, fill_value=0.0)
    else:
        A_raw = a.reshape(m, -1)
        B_raw = b.reshape(m, -1)

        def to_img(v):
            return v.reshape((len(v),) + a.shape[1:])

    out = {}
    if wanted & set(METRIC_NAMES + SSIM_METRIC_NAMES):
        maps = braindecode_maps(A_raw, B_raw, abs_reference, abs_explanation, prctile_val)
        if wanted & set(METRIC_NAMES):
            support = positive = None
            if topo:
                # Ground-truth support: a channel's support covers the pixels it is the
                # nearest channel of, so interpolation cannot spread it over the head.
                g_chan = np.abs(b_chan) if abs_reference else b_chan
                support = (g_chan != 0)[:, projector.nearest]
                positive = (g_chan > 0)[:, projector.nearest]
            scores = braindecode_scores(maps, support, positive)
            out.update((name, scores[name]) for name in METRIC_NAMES if name in wanted)
        ssim = [name for name in SSIM_METRIC_NAMES if name in wanted]
        if ssim and box is not None:
            out.update(braindecode_ssim_blas(maps, ssim, to_img, box))
        elif ssim:
            out.update(braindecode_ssim(maps, ssim, to_img, win, window_mask))

    if "Spearman" in wanted:
        out["Spearman"] = row_pearson(rankdata(A_raw, axis=1), rankdata(B_raw, axis=1))
    if "Spearman_abs" in wanted:
        out["Spearman_abs"] = row_pearson(rankdata(np.abs(A_raw), axis=1),
                                          rankdata(np.abs(B_raw), axis=1))
    if "HOG_Pearson" in wanted:
        fa = hog_features(to_img(A_raw), hog_kwargs, block_mask, progress)
        fb = hog_features(to_img(B_raw), hog_kwargs, block_mask, progress)
        out["HOG_Pearson"] = row_pearson(fa, fb)
    if wanted & set(TOPO_METRIC_NAMES):
        if topo:
            ta, tb = A_raw, B_raw
        else:
            ta = projector.project(a.mean(axis=-1) if a.ndim == 3 else a)
            tb = projector.project(b.mean(axis=-1) if b.ndim == 3 else b)
        if "Topo_Cosine" in wanted:
            out["Topo_Cosine"] = row_cosine(ta, tb)
        if "Topo_Pearson" in wanted:
            out["Topo_Pearson"] = row_pearson(ta, tb)
    return out


def summarize_metrics(scores):
    """Summarise per-sample scores: mean, std, SEM, median and counts per metric.

    Parameters
    ----------
    scores : pandas.DataFrame
        The output of :func:`compute_metrics` (or of
        :func:`~neuroxai.metrics.ground_truth.compute_ground_truth_metrics`).

    Returns
    -------
    summary : pandas.DataFrame
        One row per metric; columns ``mean, std, sem, median, n_valid, n_skipped``
        (NaN scores are left out of the statistics and counted as skipped).
    """
    if not isinstance(scores, pd.DataFrame):
        raise InvalidInputError("scores must be the DataFrame returned by compute_metrics().")
    n_valid = scores.notna().sum()
    summary = pd.DataFrame({
        "mean": scores.mean(),
        "std": scores.std(ddof=1),
        "sem": scores.std(ddof=1) / np.sqrt(n_valid.where(n_valid > 0)),
        "median": scores.median(),
        "n_valid": n_valid.astype(int),
        "n_skipped": scores.isna().sum().astype(int),
    })
    summary.index.name = "metric"
    return summary
