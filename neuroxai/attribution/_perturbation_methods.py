"""Perturbation methods of :func:`~neuroxai.attribution.attribute` (occlusion, channel
and band ablation) and the model-free envelope control."""
from __future__ import annotations

import numpy as np
import torch

from .._core.selection import resolve_channel_groups
from .._core.validation import check_float, check_seconds
from .._utils import (
    InvalidInputError,
)
from ._registry import _guard, _Plan, _register


# --------------------------------------------------------------------------------------
# Perturbation methods
# --------------------------------------------------------------------------------------
@_register("occlusion",
           "Output drop when a window (in seconds) of one channel is replaced by a baseline "
           "value (Zeiler & Fergus, 2014); stride defaults to the window, overlapping "
           "windows are averaged. Costs n_chans * n_times / stride forwards per trial.",
           "captum.attr.Occlusion", {"window": 0.5, "stride": None, "baseline": 0.0})
def _occlusion(ctx, params):
    from captum.attr import Occlusion

    if ctx.sfreq is None:
        raise InvalidInputError(
            "occlusion's window and stride are in seconds and X is a bare array: pass info= "
            "(or Epochs / Trials) so that they can be converted to samples.")
    window = check_seconds(params["window"], "window", ctx.sfreq, maximum_samples=ctx.n_times)
    stride = window if params["stride"] is None else check_seconds(
        params["stride"], "stride", ctx.sfreq, maximum_samples=ctx.n_times)
    baseline = check_float(params["baseline"], "baseline")
    alg = Occlusion(ctx.model)

    def fn(xb, tb, sl):
        with torch.no_grad():
            return alg.attribute(xb, sliding_window_shapes=(1, window), strides=(1, stride),
                                 baselines=baseline, target=tb,
                                 perturbations_per_eval=max(1, ctx.batch_size // len(xb)))
    plan = _Plan(fn, {**params, "window_samples": window, "stride_samples": stride})
    return _guard(plan, "occlusion", ctx)


@_register("feature_ablation",
           "Output drop when each channel (or channel group) is replaced by a baseline "
           "value; the drop is given to every sample of the group.",
           "captum.attr.FeatureAblation", {"groups": None, "baseline": 0.0})
def _feature_ablation(ctx, params):
    from captum.attr import FeatureAblation

    groups, labels = resolve_channel_groups(params["groups"], ctx.ch_names, ctx.n_chans)
    mask = np.full(ctx.n_chans, len(groups), dtype=np.int64)  # ungrouped channels: last id
    for i, g in enumerate(groups):
        mask[g] = i
    n_ids = int(mask.max()) + 1
    grouped = torch.as_tensor(mask < len(groups), device=ctx.device)
    mask_t = torch.as_tensor(mask, device=ctx.device)[None, :, None].expand(
        1, ctx.n_chans, ctx.n_times)
    baseline = float(params["baseline"])
    alg = FeatureAblation(ctx.model)

    def fn(xb, tb, sl):
        with torch.no_grad():
            attr = alg.attribute(xb, baselines=baseline, target=tb, feature_mask=mask_t,
                                 perturbations_per_eval=max(1, ctx.batch_size // len(xb)))
        if n_ids > len(groups):
            attr = attr * grouped[None, :, None]  # channels outside every group: 0
        return attr
    desc = {**params, "groups": groups}
    if labels is not None:
        desc["group_names"] = labels
    plan = _Plan(fn, desc)
    return _guard(plan, "feature_ablation", ctx)


@_register("band_ablation",
           "Output drop when one frequency band of one channel is removed (zeroed in the "
           "rfft domain). Result axes (trial, chan, band), one value per band.",
           "neuroxai (torch.fft)", {"bands": None, "sfreq": None})
def _band_ablation(ctx, params):
    from ._perturbation import band_ablation_batch, check_bands

    sfreq = params["sfreq"] if params["sfreq"] is not None else ctx.sfreq
    if sfreq is None:
        raise InvalidInputError(
            "band_ablation needs the sampling frequency: pass sfreq= or info=.")
    sfreq = float(sfreq)
    names, edges, masks = check_bands(params["bands"], sfreq, ctx.n_times)

    def fn(xb, tb, sl):
        return band_ablation_batch(ctx.model, xb, tb, masks, ctx.batch_size)
    coords = {"band": list(names), "band_edges": edges}
    plan = _Plan(fn, {"bands": dict(zip(names, map(tuple, edges.tolist()))), "sfreq": sfreq},
                 dims=("trial", "chan", "band"), out_shape=(ctx.n_chans, len(names)),
                 coords=coords)
    return _guard(plan, "band_ablation", ctx)


@_register("envelope",
           "Model-free control: the amplitude envelope |hilbert(x)| of each channel. Any map "
           "that looks like this one may just be tracking signal power.",
           "scipy.signal.hilbert")
def _envelope(ctx, params):
    from scipy.signal import hilbert

    def fn(xb, tb, sl):
        env = np.abs(hilbert(xb.detach().cpu().numpy(), axis=-1))
        return torch.as_tensor(env, dtype=xb.dtype)
    plan = _Plan(fn)
    return _guard(plan, "envelope", ctx)


