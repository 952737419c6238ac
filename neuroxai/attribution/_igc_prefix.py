"""IGC's affine prefix: split a model into affine modules and the rest, and map back.

The path integrals of :func:`~neuroxai.attribution.igc.compute_igc` run in the output
space of the model's leading affine modules (convolutions, eval-mode batch norm, reshapes)
and come back through the prefix's transposed linear map, which is exact (the gradient of
an affine map does not depend on where it is taken). This module also recognises a
square -> average-pool head (ShallowFBCSPNet), whose path sums have a closed form (see
:class:`~neuroxai.attribution._igc_paths._ClosedFormPathSums`).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._utils import InvalidInputError, logger

# Modules that are affine maps of their input in eval mode (conv, linear, eval-mode
# batch norm, average pooling, reshapes, dropout).  Names cover braindecode/einops
# layers without importing them.
_AFFINE_TYPES = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.Identity, nn.Flatten, nn.Unflatten,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d,
    nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d,
)
_AFFINE_NAMES = {"Ensure4d", "Rearrange", "CombinedConv", "_CombinedConv1d",
                 "Conv2dWithConstraint", "LinearWithConstraint"}


def _is_affine(module):
    if isinstance(module, nn.Sequential):
        return all(_is_affine(m) for m in module)
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        # without running statistics eval mode normalises with batch statistics
        return module.track_running_stats and module.running_mean is not None
    return isinstance(module, _AFFINE_TYPES) or type(module).__name__ in _AFFINE_NAMES


def _close(a, b, dtype):
    tol = 1e-9 if dtype == torch.float64 else 2e-4
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-12)
    return float((a - b).abs().max()) <= tol * scale


def _split_affine(model, affine_prefix, X):
    """Split ``model`` into an affine prefix and the rest: ``model = rest ∘ prefix``.

    Returns ``(prefix, rest)``; ``prefix`` is None when no split is used.
    """
    if affine_prefix is None or affine_prefix is False:
        return None, model
    children = list(model.children()) if isinstance(model, nn.Sequential) else []
    if affine_prefix == "auto":
        k = 0
        while k < len(children) - 1 and _is_affine(children[k]):
            k += 1
    elif isinstance(affine_prefix, (int, np.integer)) and not isinstance(affine_prefix, bool):
        if not children or not 0 <= affine_prefix < len(children):
            raise InvalidInputError(
                f"affine_prefix={affine_prefix} needs an nn.Sequential model with more than "
                f"{affine_prefix} children; use 'auto' or None."
            )
        k = int(affine_prefix)
    else:
        raise InvalidInputError(
            f"affine_prefix must be 'auto', None or an int, got {affine_prefix!r}."
        )
    if k == 0:
        return None, model
    prefix, rest = nn.Sequential(*children[:k]), nn.Sequential(*children[k:])
    # Check numerically that the split is exact and the prefix affine on real trials:
    # a custom Sequential.forward or a module we do not know would break the identity.
    x1, x2 = X[:1], X[-1:] * 0.7 + 0.3 * X[:1].flip(-1)
    with torch.no_grad():
        p1, p2, pm = prefix(x1), prefix(x2), prefix(0.25 * x1 + 0.75 * x2)
        ok = (_close(pm, 0.25 * p1 + 0.75 * p2, X.dtype)
              and _close(rest(p1), model(x1), X.dtype))
    if not ok:
        if affine_prefix == "auto":
            logger.info("The leading modules are not affine here; path gradients are taken "
                        "through the whole model.")
            return None, model
        raise InvalidInputError(
            f"The first {k} modules of the model are not an affine map of the input "
            "(or the model's forward is not their composition); use affine_prefix=None."
        )
    logger.info(f"Path integrals in the output space of the first {k} (affine) modules.")
    return prefix, rest


def _quadratic_head(rest, u_shape, dtype, device):
    """``(pool, tail)`` when ``rest = tail ∘ pool ∘ square`` with a linear pool, else None.

    ShallowFBCSPNet's head after its affine prefix is square -> average pool -> log ->
    linear. Along an IG path ``u(a) = s + a d`` the pooled power is then a quadratic in
    ``a``: ``pool(u(a)^2) = pool(s^2) + 2a pool(s d) + a^2 pool(d^2)``, and the gradient
    w.r.t. ``u`` is ``2 u(a) * pool^T(dF/dp(a))``. Summed over the quadrature nodes this
    needs three pools and two transposed pools per (trial, baseline) pair plus the small
    tail at every node, instead of a forward and a backward through the square and the
    pool (44040 values per point for BCI IV 2a) at every node: the same numbers, ~10x
    less work. Checked numerically here; any other head takes the generic route.
    """
    if not isinstance(rest, nn.Sequential) or len(rest) < 3:
        return None
    sq, pool = rest[0], rest[1]
    if any(True for _ in sq.parameters()) or not isinstance(
            pool, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        return None
    tail = nn.Sequential(*list(rest.children())[2:])
    gen = torch.Generator(device="cpu").manual_seed(0)
    z = torch.randn((2,) + tuple(u_shape), generator=gen, dtype=dtype).to(device)
    with torch.no_grad():
        try:
            ok = (_close(sq(z), z * z, dtype)
                  and _close(tail(pool(z * z)), rest(z), dtype))
        except Exception:  # noqa: BLE001 - any failure: not this head
            return None
    return (pool, tail) if ok else None


def _pool_transpose(pool, u_shape, layout, dtype, device):
    """``g -> pool^T g`` (flat layout) for a linear pooling module.

    An ``AvgPool2d`` without padding is a grouped convolution with a constant kernel, so
    its transpose is ``conv_transpose2d``: ~6x faster on CPU than autograd's
    ``avg_pool2d_backward`` (1.6 vs 9.6 ms for 8 x 40 x 1101, measured). Checked against
    the autograd route; other pools use autograd.
    """
    import torch.nn.functional as F

    def by_autograd(g):
        z0 = torch.zeros((g.shape[0],) + tuple(u_shape), dtype=g.dtype, device=g.device,
                         requires_grad=True)
        with torch.enable_grad():
            (gu,) = torch.autograd.grad(pool(z0), z0, g)
        return layout.flat(gu)

    pair = nn.modules.utils._pair
    if not (type(pool) is nn.AvgPool2d and len(u_shape) == 3 and pair(pool.padding) == (0, 0)
            and not pool.ceil_mode and pool.divisor_override is None):
        return by_autograd
    kh, kw = pair(pool.kernel_size)
    sh, sw = pair(pool.stride if pool.stride is not None else pool.kernel_size)
    n_ch, h, w_ = u_shape
    weight = torch.full((n_ch, 1, kh, kw), 1.0 / (kh * kw), dtype=dtype, device=device)

    def by_conv(g):
        oh, ow = g.shape[-2:]
        pad = (h - ((oh - 1) * sh + kh), w_ - ((ow - 1) * sw + kw))
        gu = F.conv_transpose2d(g, weight, stride=(sh, sw), groups=n_ch, output_padding=pad)
        return layout.flat(gu)

    gen = torch.Generator(device="cpu").manual_seed(1)
    with torch.no_grad():
        probe = pool(torch.zeros((1,) + tuple(u_shape), dtype=dtype, device=device))
        g = torch.randn(probe.shape, generator=gen, dtype=dtype).to(device)
        try:
            ok = _close(by_conv(g), by_autograd(g), dtype)
        except Exception:  # noqa: BLE001 - fall back to the always-correct route
            ok = False
    return by_conv if ok else by_autograd


def _adjoint(prefix, cot, in_shape):
    """Transpose of the linear part of ``prefix`` applied to each item of ``cot``.

    ``cot`` has the prefix's output shape; the gradient of an affine map does not
    depend on where it is taken, so we take it at zero.
    """
    if prefix is None:
        return cot.reshape((-1,) + tuple(in_shape))
    x0 = torch.zeros((cot.shape[0],) + tuple(in_shape), dtype=cot.dtype, device=cot.device,
                     requires_grad=True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(prefix(x0), x0, cot)
    return g


class _Layout:
    """Flat (rows, Du) view of prefix outputs; 4-D outputs are kept channels-last.

    Pooling and elementwise kernels on (batch, filters, time, 1) tensors run several
    times faster on CPU in channels-last memory format, so the interpolation points are
    built in that order and handed to the model as a channels-last strided view.
    """

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.cl = len(self.shape) == 3

    def flat(self, u):
        if self.cl:
            u = u.permute(0, 2, 3, 1)
        return u.reshape(u.shape[0], -1)

    def unflat(self, f):
        if self.cl:
            c, h, w = self.shape
            return f.reshape(f.shape[0], h, w, c).permute(0, 3, 1, 2)
        return f.reshape((f.shape[0],) + self.shape)
