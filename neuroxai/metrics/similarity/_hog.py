"""HOG features (Adebayo et al., NeurIPS 2018), one image at a time through skimage."""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ..._utils import ShapeError


def hog_setup(hog_kwargs, img_shape, in_head=None):
    """skimage's HOG keyword arguments completed with our defaults, and the HOG blocks to
    compare (``None``: all; with ``in_head``, a topomap mask: those wholly in the head)."""
    ppc = (8, 8) if in_head is None else (4, 4)
    hog_kwargs = {"orientations": 9, "pixels_per_cell": ppc, "cells_per_block": (2, 2),
                  **(hog_kwargs or {})}
    ppc, cpb = tuple(hog_kwargs["pixels_per_cell"]), tuple(hog_kwargs["cells_per_block"])
    if img_shape[0] < ppc[0] * cpb[0] or img_shape[1] < ppc[1] * cpb[1]:
        raise ShapeError(
            f"HOG with pixels_per_cell={ppc}, cells_per_block={cpb} needs maps of at least "
            f"{ppc[0] * cpb[0]} x {ppc[1] * cpb[1]}, got {img_shape}; pass smaller hog_kwargs."
        )
    if in_head is None:
        return hog_kwargs, None
    block_mask = _hog_block_mask(img_shape, in_head, ppc, cpb)
    if not block_mask.any():
        raise ShapeError("No HOG block fits inside the head; use smaller pixels_per_cell.")
    return hog_kwargs, block_mask


def _hog_block_mask(shape, mask, pixels_per_cell, cells_per_block):
    """HOG blocks whose pixels and 1-pixel gradient ring are all in ``mask``."""
    (pr, pc), (br, bc) = pixels_per_cell, cells_per_block
    n_cr, n_cc = shape[0] // pr, shape[1] // pc
    padded = np.pad(mask, 1, constant_values=False)
    out = np.zeros((n_cr - br + 1, n_cc - bc + 1), dtype=bool)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            # +1 offsets: the padded mask is shifted by one pixel
            out[i, j] = padded[i * pr:(i + br) * pr + 2, j * pc:(j + bc) * pc + 2].all()
    return out


def hog_features(images, hog_kwargs, block_mask, progress):
    """HOG feature vector of each image (n, h, w), restricted to ``block_mask``."""
    from skimage.feature import hog

    feats = []
    for img in tqdm(images, desc="HOG", disable=not progress, leave=False):
        f = hog(img, feature_vector=False, **hog_kwargs)
        feats.append((f[block_mask] if block_mask is not None else f).ravel())
    return np.asarray(feats, dtype=float)
