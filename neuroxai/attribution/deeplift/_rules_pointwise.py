"""DeepLIFT rules of elementwise functions, products, quotients and maxima."""
from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F

from ._base import (  # noqa: F401
    _candidates,
    _carrier,
    _decomposed,
    _dep,
    _generic_multiplier,
    _no_inplace,
    _rule,
    _square_multiplier,
    _Unhandled,
)


def _rescale(mode, x, fn, multiplier=_generic_multiplier):
    """``fn(x)`` (elementwise) with the rescale multiplier as its derivative."""
    xr = mode.pair(x, "unary")
    if mode.recording:
        return fn(x)
    with torch.no_grad():
        y, yr = fn(x.detach()), fn(xr)
    m = multiplier(x.detach(), xr, y, yr, fn)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return y + m.to(y.dtype) * _carrier(x).to(y.dtype)


def _unary(mode, func, args, kwargs, multiplier=_generic_multiplier):
    args, kwargs = _no_inplace(func, args, kwargs)
    deps = [i for i, a in enumerate(args) if _dep(a)]
    if not deps:
        return func(*args, **kwargs)
    if len(deps) > 1 or any(_dep(v) for v in kwargs.values()):
        raise _Unhandled("several input-dependent operands")
    i = deps[0]
    x = args[i]
    if x.is_complex():
        raise _Unhandled("complex input")

    def fn(t):
        return func(*args[:i], t, *args[i + 1:], **kwargs)

    try:
        shape = torch.broadcast_shapes(
            *(t.shape for t in (*args, *kwargs.values()) if torch.is_tensor(t)))
    except RuntimeError:  # prelu's per-channel weight: not numpy broadcasting
        shape = x.shape
    if shape != x.shape:
        x = x.expand(shape)  # a constant operand broadcasts x; still elementwise in x
    return _rescale(mode, x, fn, multiplier)


_UNARY_NAMES = (
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "reciprocal",
    "abs", "absolute", "sigmoid", "expit", "tanh", "sin", "cos", "atan", "arctan", "sinh",
    "cosh", "asinh", "erf", "erfc", "logit", "sign", "floor", "ceil", "round", "trunc",
    "frac", "relu", "relu6", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus",
    "leaky_relu", "hardtanh", "hardswish", "hardsigmoid", "logsigmoid", "softsign",
    "tanhshrink", "softshrink", "hardshrink", "threshold", "rrelu", "prelu", "clamp", "clip",
    "clamp_min", "clamp_max", "__rpow__", "__rdiv__", "__rtruediv__", "sgn",
)


@_rule(*_candidates(*_UNARY_NAMES))
def _unary_rule(mode, func, args, kwargs):
    x = args[0]
    if _dep(x) and x.is_complex() and func in (torch.abs, torch.Tensor.abs):
        # |z| = sqrt(re^2 + im^2)
        return _decomposed(mode, func, args, kwargs,
                           lambda: (torch.view_as_real(x) ** 2).sum(-1).sqrt())
    return _unary(mode, func, args, kwargs)


@_rule(*_candidates("square"))
def _square_rule(mode, func, args, kwargs):
    return _unary(mode, func, args, kwargs, multiplier=_square_multiplier)


@_rule(*_candidates("pow", "float_power", "__pow__"))
def _pow_rule(mode, func, args, kwargs):
    base, expo = args[0], (args[1] if len(args) > 1 else kwargs.get("exponent"))
    if _dep(base) and _dep(expo):
        return _binary_shapley(mode, lambda a, b: func(a, b), base, expo)
    mult = _generic_multiplier
    if _dep(base) and not torch.is_tensor(expo) and expo == 2:
        mult = _square_multiplier
    return _unary(mode, func, args, kwargs, multiplier=mult)


def _binary_shapley(mode, f, a, b):
    """Two-player Shapley rule of an elementwise f(a, b); exact: phi_a + phi_b = delta f."""
    ar, br = mode.pair(a, "binary-a"), mode.pair(b, "binary-b")
    if mode.recording:
        return f(a, b)
    with torch.no_grad():
        a0, b0 = a.detach(), b.detach()
        shape = torch.broadcast_shapes(a0.shape, b0.shape)
        a0, b0, ar, br = (t.expand(shape) for t in (a0, b0, ar, br))
        y, yr = f(a0, b0), f(ar, br)
        f_ab0, f_a0b = f(a0, br), f(ar, b0)
        phi_a = ((f_ab0 - yr) + (y - f_a0b)) / 2
        phi_b = ((f_a0b - yr) + (y - f_ab0)) / 2

    def mult(phi, d, which):
        small = d.abs() <= torch.finfo(d.dtype).eps ** 0.5 * (1 + d.abs())
        m = phi / torch.where(small, torch.ones_like(d), d)
        if bool(small.any()):
            with torch.enable_grad():
                ma = ((a0 + ar) / 2).requires_grad_(which == 0)
                mb = ((b0 + br) / 2).requires_grad_(which == 1)
                g, = torch.autograd.grad(f(ma, mb).sum(), ma if which == 0 else mb)
            m = torch.where(small, g, m)
        return torch.where(torch.isfinite(m), m, torch.zeros_like(m))

    ma, mb = mult(phi_a, a0 - ar, 0), mult(phi_b, b0 - br, 1)
    return y + ma * _carrier(a) + mb * _carrier(b)


@_rule(*_candidates("atan2", "arctan2", "hypot"))
def _atan2_rule(mode, func, args, kwargs):
    a, b = args[0], args[1] if len(args) > 1 else kwargs.get("other")
    if not (_dep(a) or _dep(b)) or kwargs.get("out") is not None:
        return func(*args, **kwargs)
    if not (_dep(a) and _dep(b)):
        return _unary(mode, func, (a, b), {})
    return _binary_shapley(mode, func, a, b)


@_rule(*_candidates("angle"))
def _angle_rule(mode, func, args, kwargs):
    z = args[0]
    if not (_dep(z) and z.is_complex()):
        return func(*args, **kwargs)
    return _decomposed(mode, func, args, kwargs, lambda: torch.atan2(z.imag, z.real))


def _bilinear(mode, op, a, b):
    """Shapley rule of a bilinear map: d op(a, b) = op(da, mean b) + op(mean a, db)."""
    ar, br = mode.pair(a, "bilinear-a"), mode.pair(b, "bilinear-b")
    if mode.recording:
        return op(a, b)
    with torch.no_grad():
        real = op(a.detach(), b.detach())
        abar, bbar = (a.detach() + ar) / 2, (b.detach() + br) / 2
    return real + op(_carrier(a), bbar) + op(abar, _carrier(b))


@_rule(*_candidates("mul", "multiply", "__mul__", "__rmul__"))
def _mul_rule(mode, func, args, kwargs):
    a, b = args[0], args[1] if len(args) > 1 else kwargs.get("other")
    if not (_dep(a) and _dep(b)):
        return func(*args, **kwargs)  # linear in the input
    return _bilinear(mode, torch.mul, a, b)


@_rule(*_candidates("matmul", "__matmul__", "bmm", "mm"))
def _matmul_rule(mode, func, args, kwargs):
    a, b = args[0], args[1] if len(args) > 1 else kwargs.get("other", kwargs.get("mat2"))
    if not (_dep(a) and _dep(b)):
        return func(*args, **kwargs)
    if set(kwargs) - {"other", "mat2"}:
        raise _Unhandled("unexpected arguments")
    return _bilinear(mode, torch.matmul, a, b)


@_rule(torch.einsum)
def _einsum_rule(mode, func, args, kwargs):
    eq, ops = args[0], args[1:]
    if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
        ops = tuple(ops[0])
    if sum(_dep(o) for o in ops) <= 1:
        return func(*args, **kwargs)
    if len(ops) != 2 or kwargs:
        raise _Unhandled("einsum of more than two input-dependent operands")
    return _bilinear(mode, lambda p, q: torch.einsum(eq, p, q), ops[0], ops[1])


@_rule(*_candidates("div", "divide", "true_divide", "__truediv__"))
def _div_rule(mode, func, args, kwargs):
    a, b = args[0], args[1] if len(args) > 1 else kwargs.get("other")
    if kwargs.get("rounding_mode") is not None:
        raise _Unhandled("division with rounding")
    if not _dep(b):
        return func(*args, **kwargs)
    return _decomposed(mode, func, args, kwargs, lambda: a * b.reciprocal())


@_rule(*_candidates("maximum", "minimum", "fmax", "fmin"))
def _maximum_rule(mode, func, args, kwargs):
    a, b = args[0], args[1] if len(args) > 1 else kwargs.get("other")
    if not (_dep(a) and _dep(b)):
        return _unary(mode, func, args, kwargs)
    # max(a, b) = b + relu(a - b), min(a, b) = b - relu(b - a)
    if getattr(func, "__name__", "") in ("maximum", "fmax"):
        return _decomposed(mode, func, (a, b), {}, lambda: b + (a - b).relu())
    return _decomposed(mode, func, (a, b), {}, lambda: b - (b - a).relu())


def _select_max(mode, x, dim, reduce):
    """Maximum of ``x`` along ``dim`` (``reduce(t) -> (values, flat indices)``).

    With ``i`` the element selected for the input and ``j`` the one for the reference,
    ``z -> z[j] + relu(z[i] - z[j])`` equals the maximum at both points; its rescale
    rule gives the multipliers.
    """
    xr = mode.pair(x, "max")
    vals, idx = reduce(x.detach())
    if mode.recording:
        return vals + torch.gather(_carrier(x), dim, idx).reshape(vals.shape)
    with torch.no_grad():
        _, idx_r = reduce(xr)
        a, b = x.detach().gather(dim, idx), x.detach().gather(dim, idx_r)
        ar, br = xr.gather(dim, idx), xr.gather(dim, idx_r)
        m = _generic_multiplier(a - b, ar - br, (a - b).relu(), (ar - br).relu(), torch.relu)
    ca, cb = _carrier(x).gather(dim, idx), _carrier(x).gather(dim, idx_r)
    return vals + (cb + m * (ca - cb)).reshape(vals.shape)


@_rule(*_candidates("max", "min", "amax", "amin"))
def _max_rule(mode, func, args, kwargs):
    x = args[0]
    if not _dep(x):
        return func(*args, **kwargs)
    name = func.__name__
    other = args[1] if len(args) > 1 else kwargs.get("dim", kwargs.get("other"))
    if torch.is_tensor(other):
        return _maximum_rule(mode, torch.maximum if "max" in name else torch.minimum,
                             (x, other), {})
    dims = (other,) if isinstance(other, int) else tuple(other or ())
    if len(dims) != 1:
        raise _Unhandled("maximum over several or all axes")
    dim = dims[0] % x.dim()
    keepdim = kwargs.get("keepdim", args[2] if len(args) > 2 else False)

    def reduce(t):
        return torch.max(t, dim, keepdim=True)

    if "max" in name:
        out = _select_max(mode, x, dim, reduce)
    else:  # min(x) = -max(-x)
        out = -_select_max(mode, -x, dim, reduce)
    if not keepdim:
        out = out.squeeze(dim)
    if name in ("amax", "amin"):
        return out
    with torch.no_grad():
        real = func(*args, **kwargs)
    return type(real)((out, real[1]))


_POOLS = {}
for _n in ("max_pool1d", "max_pool2d", "max_pool3d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "adaptive_max_pool3d"):
    _with = getattr(F, f"{_n}_with_indices", None)
    for _f in (getattr(F, _n, None), _with, getattr(torch, _n, None)):
        if _f is not None and _with is not None:
            _POOLS[_f] = _with


@_rule(*_POOLS)
def _maxpool_rule(mode, func, args, kwargs):
    x = args[0]
    if not _dep(x):
        return func(*args, **kwargs)
    with_idx = _POOLS[func]
    bound = inspect.signature(with_idx).bind(*args, **kwargs)
    want_idx = bool(bound.arguments.get("return_indices", False)) or func is with_idx
    bound.arguments["return_indices"] = True
    rest_args, rest_kwargs = bound.args[1:], bound.kwargs
    n_spatial = int(with_idx.__name__.split("pool")[1][0])
    if x.dim() != n_spatial + 2:
        raise _Unhandled("unbatched pooling input")
    with torch.no_grad():
        _, idx_out = with_idx(x.detach(), *rest_args, **rest_kwargs)

    def reduce(t):
        v, i = with_idx(t.reshape(x.shape), *rest_args, **rest_kwargs)
        return v.flatten(2), i.flatten(2)

    out = _select_max(mode, x.flatten(2), 2, reduce).reshape(idx_out.shape)
    return (out, idx_out) if want_idx else out


