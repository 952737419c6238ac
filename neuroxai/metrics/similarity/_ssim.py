"""SSIM of image stacks, and braindecode's 4 SSIM metrics.

skimage's :func:`~skimage.metrics.structural_similarity` with ``gaussian_weights=False``
(uniform window, sample covariance) vectorised over a stack of images: the box means are
:func:`scipy.ndimage.uniform_filter` cropped to the windows that fit inside the image, as
skimage computes them (braindecode's ``avg_pool2d`` gives the same windows).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter

from ..._utils import ShapeError
from ._stats import range_or_one

# skimage's constants K1, K2 of C1 = (K1 * data_range)**2, C2 = (K2 * data_range)**2
_K1, _K2 = 0.01, 0.03


def fit_win_size(requested, shape):
    """Largest odd window, at least 3, at most ``requested``, that fits in ``shape``
    (as braindecode shrinks it)."""
    smallest = min(shape)
    if smallest < 3:
        raise ShapeError(f"SSIM needs maps of at least 3 x 3 values, got maps of shape {shape}.")
    win = min(int(requested), smallest)
    if win % 2 == 0:
        win -= 1
    return max(win, 3)


def ssim_window_mask(mask, win):
    """Windows (of the border-cropped SSIM map) lying entirely inside ``mask``."""
    pad = (win - 1) // 2
    frac = uniform_filter(mask.astype(float), size=win, mode="constant")
    inside = frac > 1 - 1e-9
    return inside[pad:mask.shape[0] - pad, pad:mask.shape[1] - pad]


def _box_mean(imgs, win):
    """Mean of each ``win x win`` window inside each image of a stack (n, h, w)."""
    pad = (win - 1) // 2
    h, w = imgs.shape[1:]
    return uniform_filter(imgs, size=(1, win, win))[:, pad:h - pad, pad:w - pad]


def _moments(x, win):
    """Box mean and variance (without Bessel factor) of an image stack."""
    ux = _box_mean(x, win)
    return ux, _box_mean(x * x, win) - ux * ux


def _mean_ssim_from_moments(ux, vx, uy, vy, vxy, win, data_range, window_mask):
    """skimage's SSIM map from the box moments (variances without Bessel factor),
    averaged over the windows (those of ``window_mask`` only, when given)."""
    cov_norm = win * win / (win * win - 1.0)
    dr = np.broadcast_to(np.asarray(data_range, dtype=float), (len(ux),))[:, None, None]
    c1, c2 = (_K1 * dr) ** 2, (_K2 * dr) ** 2
    num = (2 * ux * uy + c1) * (2 * cov_norm * vxy + c2)
    den = (ux * ux + uy * uy + c1) * (cov_norm * (vx + vy) + c2)
    s = num / den
    if window_mask is None:
        return s.reshape(len(s), -1).mean(axis=1)
    return s[:, window_mask].mean(axis=1)


def mean_ssim(x, y, win, data_range, window_mask=None):
    """Mean SSIM of each pair of images ``x[i]``, ``y[i]`` (stacks (n, h, w)).

    skimage's formula with a uniform window and the sample (Bessel-corrected)
    covariance. ``data_range``: scalar or (n,). ``window_mask``: average over these
    windows of the cropped SSIM map only.
    """
    ux, vx = _moments(x, win)
    uy, vy = _moments(y, win)
    vxy = _box_mean(x * y, win) - ux * uy
    return _mean_ssim_from_moments(ux, vx, uy, vy, vxy, win, data_range, window_mask)


def braindecode_ssim(maps, names, to_img, win, window_mask=None):
    """braindecode's SSIM metrics ``names`` (of :data:`SSIM_METRIC_NAMES`) of each row
    of ``maps`` (:class:`~._stats.BraindecodeMaps`), NaN where skipped.

    As :func:`braindecode.visualization.compute_ssim_metrics`: the reference first, the
    explanation's data range (1 where it is constant).
    """
    m = maps
    res = {}
    if "SSIM_topperc" in names:
        res["SSIM_topperc"] = mean_ssim(to_img(m.G_top), to_img(m.A_top), win,
                                        range_or_one(m.A_top), window_mask)
    if not {"SSIM_absnorm", "SSIM_norm", "SSIM_raw"} & set(names):
        return _skip(res, m.skip)
    # the three others share the reference (the min-max-normalised G)
    x = to_img(m.G_norm)
    ux, vx = _moments(x, win)

    def moments(y):
        uy, vy = _moments(y, win)
        return uy, vy, _box_mean(x * y, win) - ux * uy

    if "SSIM_absnorm" in names:
        res["SSIM_absnorm"] = _mean_ssim_from_moments(
            ux, vx, *moments(to_img(m.B_norm)), win, range_or_one(m.B_norm), window_mask)
    if "SSIM_norm" in names or "SSIM_raw" in names:
        uy, vy, vxy = moments(to_img(m.A))
        if "SSIM_norm" in names:
            # box means are linear: those of (A - lo) / span follow from those of A
            lo = m.A.min(axis=1)[:, None, None]
            span = range_or_one(m.A)[:, None, None]
            res["SSIM_norm"] = _mean_ssim_from_moments(
                ux, vx, (uy - lo) / span, vy / span ** 2, vxy / span, win, 1.0, window_mask)
        if "SSIM_raw" in names:
            res["SSIM_raw"] = _mean_ssim_from_moments(ux, vx, uy, vy, vxy, win,
                                                      range_or_one(m.A), window_mask)
    return _skip(res, m.skip)


def _skip(res, skip):
    for val in res.values():
        val[skip] = np.nan
    return res
