"""A precomputed linear scalp-projection operator for scoring topographies.

braindecode's :func:`braindecode.visualization.topology.project_to_topomap`
builds a Clough-Tocher interpolator for every map (about 2 ms a map). The
interpolant is linear in the channel values, so projecting the identity once
gives an ``(n_pixels_in_head, n_chans)`` matrix and projecting ``n`` maps is a
single matrix product.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CloughTocher2DInterpolator
from scipy.spatial import cKDTree

from .._utils import InvalidInputError, MontageError, ShapeError, check_finite, logger, verbose

__all__ = ["ScalpProjector", "make_scalp_projector", "channel_positions_2d"]


def channel_positions_2d(info, sphere=None):
    """2-D topomap coordinates of the channels of ``info`` (as MNE's topomaps draw them).

    Parameters
    ----------
    info : mne.Info
        Channel info with a montage.
    sphere : float | array-like | None
        Head sphere as in :func:`mne.viz.plot_topomap`; ``None`` is MNE's default
        (origin ``(0, 0, 0)``, radius 0.095 m).

    Returns
    -------
    pos : ndarray, shape (n_chans, 2)
    sphere : ndarray, shape (4,)
        The resolved sphere ``(x, y, z, radius)``.
    """
    # MNE's (private) helpers are what plot_topomap and braindecode use; going
    # through them keeps our pixels identical to theirs.
    from mne.channels.layout import _find_topomap_coords
    from mne.utils import _check_sphere

    if info is None or not hasattr(info, "ch_names"):
        raise InvalidInputError("info must be an mne.Info with a montage (e.g. epochs.info).")
    locs = np.array([ch["loc"][:3] for ch in info["chs"]], dtype=float)
    bad = ~np.all(np.isfinite(locs), axis=1) | np.all(locs == 0, axis=1)
    if bad.any():
        names = [info.ch_names[i] for i in np.flatnonzero(bad)]
        raise MontageError(
            f"{len(names)} channel(s) have no position: {names[:10]}. Set a montage first, "
            "e.g. info.set_montage('colin27_1020'), or drop those channels."
        )
    sphere = np.asarray(_check_sphere(sphere, info), dtype=float)
    try:
        pos = _find_topomap_coords(info, picks=list(range(len(info.ch_names))), sphere=sphere)
    except Exception as err:  # MNE raises RuntimeError/ValueError for unusable layouts
        raise MontageError(f"Cannot place the channels on a topomap: {err}") from err
    return np.asarray(pos, dtype=float), sphere


@dataclass
class ScalpProjector:
    """A linear map from channel values to the in-head pixels of a topomap grid.

    Build it with :func:`make_scalp_projector`.

    Attributes
    ----------
    operator : ndarray, shape (n_pixels_in_head, n_chans)
        Interpolation weights; ``values @ operator.T`` projects ``(n, n_chans)`` maps.
    mask : ndarray of bool, shape (res, res)
        In-head pixels (inside the electrodes' convex hull, where the
        interpolation is defined, and inside the head circle).
    nearest : ndarray of int, shape (n_pixels_in_head,)
        Nearest channel of every in-head pixel (used to carry a channel-level
        ground-truth support onto pixels without smearing it).
    pos : ndarray, shape (n_chans, 2)
        2-D channel positions.
    xi, yi : ndarray, shape (res,)
        Grid coordinates (the grid of braindecode's ``project_to_topomap``).
    ch_names : list of str
    """

    operator: np.ndarray
    mask: np.ndarray
    nearest: np.ndarray
    pos: np.ndarray
    xi: np.ndarray
    yi: np.ndarray
    ch_names: list

    @property
    def n_chans(self):
        return self.operator.shape[1]

    @property
    def n_pixels(self):
        return self.operator.shape[0]

    @property
    def res(self):
        return self.mask.shape[0]

    def project(self, data):
        """Project channel values onto the in-head pixels.

        Parameters
        ----------
        data : array-like, shape (..., n_chans)

        Returns
        -------
        pixels : ndarray, shape (..., n_pixels_in_head)
        """
        data = np.asarray(data, dtype=float)
        if data.shape[-1] != self.n_chans:
            raise ShapeError(
                f"The last axis of data has {data.shape[-1]} values but the projector has "
                f"{self.n_chans} channels ({self.ch_names[:3]}...)."
            )
        check_finite(data, "data")
        return data @ self.operator.T

    def to_image(self, pixels, fill_value=np.nan):
        """Scatter in-head pixel values back onto the ``(res, res)`` grid."""
        pixels = np.asarray(pixels, dtype=float)
        if pixels.shape[-1] != self.n_pixels:
            raise ShapeError(f"Expected {self.n_pixels} in-head pixels, got {pixels.shape[-1]}.")
        out = np.full(pixels.shape[:-1] + self.mask.shape, fill_value, dtype=float)
        out[..., self.mask] = pixels
        return out

    def project_image(self, data, fill_value=np.nan):
        """Project channel values and return ``(..., res, res)`` images."""
        return self.to_image(self.project(data), fill_value=fill_value)


@verbose
def make_scalp_projector(info, res=64, sphere=None, tol=1e-12, verbose=None):
    """Precompute the scalp interpolation operator of ``info``'s channels.

    Uses the grid and interpolant of braindecode's ``project_to_topomap``: a
    ``res x res`` grid over the electrodes' bounding box padded by 10 %%, and
    :class:`scipy.interpolate.CloughTocher2DInterpolator` on MNE's 2-D topomap
    positions. The Clough-Tocher interpolant (values plus gradients estimated by
    a global, quadratic curvature minimisation) is linear in the channel values,
    so interpolating the identity matrix gives the operator exactly. scipy
    solves the gradient system iteratively to ``tol``; we build with
    ``tol=1e-12``, so ``operator @ x`` equals a per-map interpolation at that
    tolerance to ~1e-13 and braindecode's per-map result (scipy's default
    ``tol=1e-6``) to ~1e-7 of the map's scale.

    Parameters
    ----------
    info : mne.Info
        Channel info with a montage.
    res : int
        Pixels per side of the square grid.
    sphere : float | array-like | None
        Head sphere (MNE's default when ``None``).
    tol : float
        Tolerance of scipy's gradient estimation.
    %(verbose)s

    Returns
    -------
    projector : ScalpProjector
    """
    res = int(res)
    if res < 8:
        raise InvalidInputError(f"res must be >= 8 pixels, got {res}.")
    pos, sphere = channel_positions_2d(info, sphere)
    n_chans = len(pos)
    if n_chans < 3:
        raise MontageError(f"A scalp projection needs at least 3 channels, got {n_chans}.")
    pad = 0.1
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    span = hi - lo
    xi = np.linspace(lo[0] - pad * span[0], hi[0] + pad * span[0], res)
    yi = np.linspace(lo[1] - pad * span[1], hi[1] + pad * span[1], res)
    grid_x, grid_y = np.meshgrid(xi, yi)
    try:
        interp = CloughTocher2DInterpolator(pos, np.eye(n_chans), fill_value=np.nan, tol=tol)
    except Exception as err:  # qhull fails on collinear / duplicate positions
        raise MontageError(f"Cannot triangulate the channel positions: {err}") from err
    weights = interp(grid_x, grid_y)  # (res, res, n_chans)
    inside_hull = np.all(np.isfinite(weights), axis=-1)
    radius = sphere[3]
    inside_head = (grid_x - sphere[0]) ** 2 + (grid_y - sphere[1]) ** 2 <= radius**2
    mask = inside_hull & inside_head
    operator = np.ascontiguousarray(weights[mask])
    _, nearest = cKDTree(pos).query(np.column_stack([grid_x[mask], grid_y[mask]]))
    logger.info(
        f"Scalp projector: {n_chans} channels -> {mask.sum()} in-head pixels of {res}x{res}."
    )
    return ScalpProjector(
        operator=operator, mask=mask, nearest=np.asarray(nearest, dtype=int), pos=pos,
        xi=xi, yi=yi, ch_names=list(info.ch_names),
    )
