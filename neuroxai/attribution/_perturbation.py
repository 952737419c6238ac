"""Frequency-band ablation: drop of the target output when one band of one channel is removed.

captum's perturbation methods work on input elements; removing a frequency band is not
an element mask, so this is written here, batched over (trial, channel) perturbations.
"""
from __future__ import annotations

import numpy as np
import torch

from .._core.selection import band_masks
from .._core.selection import check_bands as check_bands_spec

DEFAULT_BANDS = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
    "gamma": (30.0, 45.0),
}


def check_bands(bands, sfreq, n_times):
    """Names, edges and rfft bin masks of ``{name: (fmin, fmax)}`` (edges included, as
    every band of the package)."""
    bands = DEFAULT_BANDS if bands is None else bands
    masks = band_masks(np.fft.rfftfreq(n_times, 1.0 / sfreq), bands)
    return list(masks), np.array(list(check_bands_spec(bands).values())), np.array(
        list(masks.values()))


def band_ablation_batch(model, xb, tb, masks, chunk):
    """Output drop ``f(x)[t] - f(x without band k on channel c)[t]``, shape (B, C, K)."""
    n, n_chans, n_times = xb.shape
    masks_t = torch.as_tensor(masks, device=xb.device)
    rows = torch.arange(n, device=xb.device)
    out = torch.empty(n, n_chans, len(masks), dtype=xb.dtype, device=xb.device)
    with torch.no_grad():
        base = model(xb)[rows, tb]
        spec = torch.fft.rfft(xb, dim=-1)
        # all (trial, chan) pairs; each chunk is at most `chunk` model inputs
        pair_trial = rows.repeat_interleave(n_chans)
        pair_chan = torch.arange(n_chans, device=xb.device).repeat(n)
        for k in range(len(masks)):
            band = torch.fft.irfft(spec * masks_t[k], n=n_times, dim=-1)
            for start in range(0, n * n_chans, chunk):
                b = pair_trial[start:start + chunk]
                c = pair_chan[start:start + chunk]
                xp = xb[b].clone()
                idx = torch.arange(len(b), device=xb.device)
                xp[idx, c] -= band[b, c]
                out[b, c, k] = base[b] - model(xp)[idx, tb[b]]
    return out
