"""Jacobian (pseudo-inverse) maps of an encoder, one topomap per latent."""
from __future__ import annotations

import numpy as np

from .._utils import (
    InvalidInputError,
    ShapeError,
)
from ._common import (
    SEQUENTIAL_CMAP,
    _finish,
    check_info,
    landmark_names,
    panel_grid,
    signed_vlim,
    topomap,
    unsigned_vlim,
)
from .topomaps import DIVERGING_CMAP, LANDMARKS, _split_exponent

# ---------------------------------------------------------------------------- Jacobians
_JAC_TITLES = {"jacobian_pinv": "Jacobian pseudo-inverse", "jacobian": "Jacobian"}


def plot_jacobian_maps(jac_attr, info=None, transform="abs", reduce="mean", latent_names=None,
                       landmarks=LANDMARKS, percentile=98, cmap=None, n_cols=None, title=None,
                       axes=None, show=True):
    """One scalp map per latent of an encoder's (pseudo-inverse) Jacobian map.

    Parameters
    ----------
    jac_attr : Attribution | ndarray
        One map of :func:`~neuroxai.attribution.compute_jacobian_pinv_maps` (usually
        ``pinv``; the deprecated ``JacobianMaps`` tuple draws its ``pinv`` map) or of
        :func:`~neuroxai.attribution.compute_latent_attributions`: dims
        ``("latent", "chan", "time")`` (time reduced with
        :func:`~neuroxai.attribution.reduce_to_channels`) or ``("latent", "chan")``
        (drawn as provided). Arrays: ``(n_latents, n_chans[, n_times])``.
    info : mne.Info | None
        Channel positions; default ``jac_attr.info``.
    transform : "abs" | "none"
        Applied before reducing time (``"abs"``: mean ``|J^+|``, opposite signs do not
        cancel).
    reduce : "mean" | "sum" | "max"
        Reduction over time.
    latent_names : sequence of str | None
        Panel titles (default ``latent 0``, ``latent 1``, ...).
    landmarks : sequence of str | None
    percentile : float
        Colour limits shared by all latents: this percentile of ``|values|``.
    cmap : str | None
        Default ``"viridis"`` for non-negative maps, ``"RdBu_r"`` for signed maps.
    n_cols : int | None
        Maps per row (default: up to 4).
    title : str | None
    axes : sequence of Axes | None
        One per latent.
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from ..attribution._base import Attribution
    from ..attribution.jacobian import JacobianMaps, reduce_to_channels

    if isinstance(jac_attr, JacobianMaps):
        jac_attr = jac_attr.pinv
    elif isinstance(jac_attr, tuple):
        raise InvalidInputError(
            "plot_jacobian_maps draws one map: pass the pinv (or jacobian) Attribution of "
            "jacobian, pinv = compute_jacobian_pinv_maps(...).")
    method = ""
    if isinstance(jac_attr, Attribution):
        dims = jac_attr.dims
        if dims == ("latent", "chan", "time"):
            jac_attr = reduce_to_channels(jac_attr, transform=transform, reduce=reduce)
        elif dims != ("latent", "chan"):
            raise ShapeError(f"plot_jacobian_maps needs dims ('latent', 'chan'[, 'time']), got "
                             f"{dims}; aggregate over trials first (aggregate='mean').")
        info = info if info is not None else jac_attr.info
        method = jac_attr.method.split("|")[0]
        latent = jac_attr.coords.get("latent")
        data = np.asarray(jac_attr.data, dtype=float)
    else:
        data = np.asarray(jac_attr, dtype=float)
        latent = None
        if data.ndim == 3:
            data = reduce_to_channels(Attribution(data, ("latent", "chan", "time")),
                                      transform=transform, reduce=reduce).data
        elif data.ndim != 2:
            raise ShapeError(f"jac_attr must have shape (n_latents, n_chans[, n_times]), got "
                             f"{data.shape}.")
    if not np.all(np.isfinite(data)):
        from .._utils import NonFiniteError

        raise NonFiniteError("The Jacobian map contains NaN/Inf values.")
    n_lat, n_chans = data.shape
    if n_lat == 0:
        raise ShapeError("The Jacobian map has no latent.")
    check_info(info, n_chans, "plot_jacobian_maps")
    if latent_names is None:
        latent_names = [f"latent {int(k)}" for k in (latent if latent is not None
                                                      else range(n_lat))]
    if len(latent_names) != n_lat:
        raise ShapeError(f"{len(latent_names)} latent names for {n_lat} latents.")
    signed = bool(np.any(data < 0))
    cmap = cmap or (DIVERGING_CMAP if signed else SEQUENTIAL_CMAP)
    vlim = signed_vlim(data, percentile) if signed else unsigned_vlim(data, percentile)
    exp = _split_exponent(vlim[1])
    scale = 10.0 ** -exp

    fig, flat = panel_grid(n_lat, int(n_cols or min(n_lat, 4)), (2.3, 2.4), axes,
                           "plot_jacobian_maps")
    names = landmark_names(info, landmarks)
    im = None
    for k, ax in enumerate(flat):
        im = topomap(ax, data[k] * scale, info, (vlim[0] * scale, vlim[1] * scale), cmap,
                     names=names)
        ax.set_title(str(latent_names[k]), fontsize=11)
    what = _JAC_TITLES.get(method, method or "attribution")
    reduced = jac_attr.params.get("channel_reduce") if isinstance(jac_attr, Attribution) else None
    agg = (f"{reduced} {'|·|' if jac_attr.params.get('channel_transform') == 'abs' else ''}"
           .strip() if reduced else "")
    label = (f"{agg} over time" if agg else "value") + (f" (×1e{exp})" if exp else "")
    cb = fig.colorbar(im, ax=flat, shrink=0.8, pad=0.02)
    cb.set_label(label, fontsize=9)
    fig.suptitle(title or f"{what} map per latent", fontsize=12)
    return _finish(fig, show)
