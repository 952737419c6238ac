"""Layer lookup and the mapping of a layer's activation axes back onto (chan, time)."""
from __future__ import annotations

import difflib

import torch
from torch import nn

from .._utils import LayerNotFoundError, MethodUndefinedError, logger

_SKIP_AUTO = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)


def resolve_layer(model, layer):
    """Return ``(name, module)`` for a layer given by name or as a submodule."""
    named = {n: m for n, m in model.named_modules() if n}
    if isinstance(layer, nn.Module):
        for n, m in named.items():
            if m is layer:
                return n, m
        raise LayerNotFoundError(
            f"The given {type(layer).__name__} module is not a submodule of "
            f"{type(model).__name__}. Pass one of its layer names instead: "
            f"{', '.join(map(repr, list(named)[:60]))}."
        )
    if not isinstance(layer, str) or layer not in named:
        close = difflib.get_close_matches(str(layer), list(named), n=5, cutoff=0.4)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        names = list(named)
        more = f" (and {len(names) - 60} more)" if len(names) > 60 else ""
        raise LayerNotFoundError(
            f"Layer {layer!r} does not exist in {type(model).__name__}.{hint} "
            f"Valid layer names are: {', '.join(map(repr, names[:60]))}{more}."
        )
    return layer, named[layer]


def _run_with_capture(model, module, x):
    store = {"calls": 0}

    def hook(mod, inp, out):
        store["out"] = out.detach() if torch.is_tensor(out) else None
        store["calls"] += 1

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return store.get("out"), store["calls"]


def layer_axes(model, name, module, x1, n_chans):
    """Find which axes of ``module``'s output are time and channels.

    The time axis is found by experiment, not by guessing from shapes: a bump at the
    first and at the last input sample changes different positions along the time
    axis of the activation, but the same positions along any other axis.

    Returns
    -------
    time_axis : int
        Axis of the layer output (batch axis included) that runs along time.
    chan_axis : int | None
        Axis that runs along the input channels, or None if the layer has mixed them.
    shape : tuple
        Shape of the layer output for one trial.
    """
    n_times = x1.shape[-1]
    bump = 3 * float(x1.std()) + 1.0
    xs = x1.repeat(3, 1, 1)
    xs[1, :, 0] += bump
    xs[2, :, n_times - 1] += bump
    out, calls = _run_with_capture(model, module, xs)
    if calls > 1:
        raise MethodUndefinedError(
            f"Layer {name!r} ({type(module).__name__}) runs {calls} times in one forward pass "
            "(one module object shared by several places of the model), so it has no single "
            "activation map to weight. Choose a layer that runs once (see "
            "model.named_modules())."
        )
    if out is None or out.dim() < 3:
        shape = None if out is None else tuple(out.shape[1:])
        raise MethodUndefinedError(
            f"Layer {name!r} ({type(module).__name__}) has output shape {shape}: it has no "
            "time axis to map back onto the input. Choose an earlier (convolutional) layer."
        )
    d0 = (out[1] - out[0]).abs()
    d1 = (out[2] - out[0]).abs()
    thr = 1e-3 * float(torch.maximum(d0.max(), d1.max())) + 1e-30
    time_axes, other = [], []
    for ax in range(1, d0.dim()):  # axis 0 of one trial's output = features
        size = d0.shape[ax]
        red = [a for a in range(d0.dim()) if a != ax]
        c0 = d0.amax(dim=red) > thr
        c1 = d1.amax(dim=red) > thr
        if size > 1 and not torch.equal(c0, c1):
            time_axes.append(ax + 1)
        else:
            other.append(ax + 1)
    shape = tuple(out.shape[1:])
    if len(time_axes) != 1:
        raise MethodUndefinedError(
            f"Cannot tell which axis of layer {name!r} ({type(module).__name__}, output "
            f"shape per trial {shape}) runs along time: {len(time_axes)} axes respond to the "
            "time position of the input. Choose a convolutional layer before the "
            "classifier."
        )
    chan_axis = None
    for ax in other:
        size = out.shape[ax]
        if size == 1:
            continue
        if size == n_chans and chan_axis is None:
            chan_axis = ax
            continue
        raise MethodUndefinedError(
            f"Layer {name!r} output (per trial {shape}) has an axis of size {size} that is "
            "neither time nor the input channels; its activation map cannot be placed on "
            "(chan, time). Choose another layer."
        )
    logger.debug(f"Layer {name!r}: output {shape}, time axis {time_axes[0]}, "
                f"channel axis {chan_axis}")
    return time_axes[0], chan_axis, shape


def auto_gradcam_layer(model, x1):
    """The last layer (in execution order) whose output still has a time axis > 1."""
    order = []
    handles = []

    def make_hook(n):
        def hook(mod, inp, out):
            if torch.is_tensor(out):
                order.append((n, mod, tuple(out.shape)))
        return hook

    for n, m in model.named_modules():
        if n and not len(list(m.children())) and not isinstance(m, _SKIP_AUTO):
            handles.append(m.register_forward_hook(make_hook(n)))
    try:
        with torch.no_grad():
            model(x1)
    finally:
        for h in handles:
            h.remove()
    calls = {}
    for n, _, _ in order:
        calls[n] = calls.get(n, 0) + 1
    for n, m, shape in reversed(order):
        # a module that runs several times (shared activation) has no single map
        if calls[n] == 1 and len(shape) >= 3 and max(shape[2:]) > 1:
            return n, m
    raise MethodUndefinedError(
        f"No layer of {type(model).__name__} has an output with a time axis; pass layer=."
    )


def cam_to_input(cam, time_axis, chan_axis, n_chans, n_times):
    """Map a (B, 1, ...) GradCAM map onto (B, n_chans, n_times).

    Upsampling is linear along time only; a map without a channel axis is broadcast
    over channels.
    """
    cam = cam[:, 0]  # drop the summed feature axis; axes shift by one
    t_ax, c_ax = time_axis - 1, None if chan_axis is None else chan_axis - 1
    if c_ax is None:
        cam = cam.movedim(t_ax, -1).reshape(cam.shape[0], 1, -1)
    else:
        cam = cam.movedim((c_ax, t_ax), (-2, -1)).reshape(cam.shape[0], n_chans, -1)
    cam = torch.nn.functional.interpolate(cam, size=n_times, mode="linear", align_corners=False)
    return cam.expand(-1, n_chans, -1)
