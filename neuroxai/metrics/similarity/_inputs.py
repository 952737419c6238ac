"""Checks of :func:`~neuroxai.metrics.compute_metrics`' arguments (before any scoring)."""
from __future__ import annotations

import numpy as np

from ..._utils import InvalidInputError, ShapeError, unknown_name
from . import _names as N


def _as_array(maps, name):
    info = getattr(maps, "info", None) if hasattr(maps, "dims") else None
    if hasattr(maps, "detach"):
        maps = maps.detach().cpu().numpy()
    arr = np.asarray(maps)
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise InvalidInputError(f"{name} must be numeric, got dtype {arr.dtype}.")
    return arr.astype(float, copy=False), info


def validate_pair(maps_a, maps_b):
    """Both map stacks as float arrays of one shape (a single ``maps_b`` map broadcast),
    and the ``info`` of an :class:`~neuroxai.attribution.Attribution` among them."""
    a, info_a = _as_array(maps_a, "maps_a")
    b, info_b = _as_array(maps_b, "maps_b")
    if a.ndim not in (2, 3):
        raise ShapeError(
            f"maps_a must have shape (n_samples, n_chans) or "
            f"(n_samples, n_chans, n_times|n_freqs), "
            f"got {a.shape}. For a single map use maps[np.newaxis]."
        )
    if b.shape == a.shape[1:]:  # one reference map for every sample
        b = np.broadcast_to(b, a.shape)
    if b.shape != a.shape:
        raise ShapeError(
            f"maps_b has shape {b.shape} but maps_a has shape {a.shape}; they must match "
            f"(or maps_b may be a single map of shape {a.shape[1:]})."
        )
    if a.shape[0] == 0:
        raise ShapeError("maps_a holds no samples.")
    return a, b, info_a if info_a is not None else info_b


def resolve_metrics(metrics, ndim, has_info, mode):
    """The metric names to compute, in order, without duplicates."""
    spatial_ok = mode == "topomap" or ndim == 3
    if metrics is None:
        names = N.METRIC_NAMES + N.RANK_METRIC_NAMES
        if spatial_ok:
            names = names + N.SSIM_METRIC_NAMES
        if has_info:
            names = names + N.TOPO_METRIC_NAMES
        return names
    if isinstance(metrics, str):
        metrics = N.ALL_METRIC_NAMES if metrics == "all" else [metrics]
    names = []
    for m in metrics:
        if m not in N.ALL_METRIC_NAMES:
            raise unknown_name("metric", m, N.ALL_METRIC_NAMES + ["all"])
        if m not in names:
            names.append(m)
    if not spatial_ok and any(m in N.SSIM_METRIC_NAMES + N.HOG_METRIC_NAMES for m in names):
        raise ShapeError(
            "SSIM and HOG metrics need 2-D maps per sample (n_samples, n_chans, n_times); "
            "got (n_samples, n_chans). Use mode='topomap' with info to score topographies."
        )
    return names
