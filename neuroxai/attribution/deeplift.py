"""DeepLIFT rules for the nonlinearities of braindecode models.

captum's :class:`~captum.attr.DeepLift` has rescale rules for a few ``nn.Module`` types
(``nn.ReLU``, ``nn.ELU``, max pooling, softmax, ...) and lets the plain gradient flow
through everything else. braindecode's models compute most of their nonlinearities
elsewhere: ``Square``/``SafeLog`` expressions (ShallowFBCSPNet), a functional
``x ** 2`` before a log (SCCNet), ``torch.var`` inside a log-variance layer (FBCNet,
IFNet, FBMSNet), GELU/SiLU modules captum does not know, gating products, group and
layer normalisation, attention. Through any of these DeepLIFT degenerates to input x
gradient and the completeness axiom ``sum(attr) == f(x) - f(x0)`` fails.

:func:`prepare_deeplift_model` returns a copy of the model whose forward pass runs under a
:class:`torch.overrides.TorchFunctionMode`. The mode sees every torch call of the
forward, from a module or from a functional call inside a ``forward()``, and gives each
nonlinear call a backward pass that carries the DeepLIFT multiplier instead of the
derivative, while its forward value stays exactly the model's:

- elementwise functions ``f`` (activations, ``log``, ``exp``, ``sqrt``, ``x ** p``,
  ``clamp``, ...): the rescale rule :math:`m = (f(x) - f(x_0)) / (x - x_0)` (the
  derivative at the midpoint where :math:`|x - x_0|` is tiny; ``x + x0`` for squares);
- products of two input-dependent tensors (``a * b``, ``a @ b``, ``einsum``): the
  two-player Shapley rule :math:`\\Delta(ab) = \\bar b\\,\\Delta a + \\bar a\\,\\Delta b`
  with :math:`\\bar a = (a + a_0)/2`, exact for any bilinear map (and its analogue for
  other two-input functions such as ``atan2``);
- maxima (``max``/``amax`` over a dimension, max pooling): with ``i`` the element
  selected for the input and ``j`` the one for the reference, ``z[j] + relu(z[i] -
  z[j])`` equals the maximum at both points and gets the ReLU rescale rule;
- softmax, log-softmax and log-sum-exp through ``exp(x - c)`` with a shift ``c`` common
  to the input and its reference, the rescale rules of ``exp``, ``1/s``, ``log s`` and the
  product rule;
- compositions of the above: variance/standard deviation, division, layer/group/
  instance/RMS normalisation, ``F.normalize``, GLU, scaled dot-product and
  ``nn.MultiheadAttention`` attention, ``nn.LSTM`` (unrolled).

Each rule satisfies the summation-to-delta property exactly and linear operations need
none, so DeepLIFT is complete for any network built from them.

Pairing. captum runs ``cat([inputs, references])`` through the model in one batch; the
prepared model splits it, runs the references first while recording the operands of
every rule in call order, then the inputs, taking the recorded reference operand of each
call back in the same order. This needs no assumption about where a layer keeps the
batch axis (attention heads concatenated along it, sequence-first layouts). captum
still runs the algorithm (``(x - x0) * multipliers``); none of its module hooks are used,
so a module called twice in one forward (EEGTCNet's shared activation) is no problem.

What stays approximate (GRU/RNN kernels, sorting, ``torch.where`` on an input-dependent
condition, in-place functional calls, batch statistics) is recorded while the forward
runs and reported by :meth:`DeepLiftModel.unhandled`. The caller's model is never
modified.
"""
from __future__ import annotations

import copy
import functools
import inspect
import math
from collections import Counter

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .._utils import import_braindecode, logger

__all__ = ["prepare_deeplift_model", "rescale_rule_for", "DeepLiftModel", "LINEAR_MODULES"]

try:  # captum keeps the table of its rules in a private module; read-only use.
    from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR as _CAPTUM_RULES

    CAPTUM_DEEPLIFT_TYPES = tuple(_CAPTUM_RULES)
except ImportError:  # pragma: no cover - older/newer captum layout
    CAPTUM_DEEPLIFT_TYPES = (
        nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus,
        nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.Softmax,
    )


def _braindecode_types():
    out = {}
    try:
        import_braindecode("braindecode.modules")  # quietly, if not yet imported
        from braindecode.modules import Ensure4d, Expression, LogActivation, SafeLog, Square
        from braindecode.modules.layers import SqueezeFinalOutput

        out.update(Square=Square, SafeLog=SafeLog, LogActivation=LogActivation,
                   Expression=Expression, Ensure4d=Ensure4d,
                   SqueezeFinalOutput=SqueezeFinalOutput)
    except ImportError:  # pragma: no cover
        pass
    try:
        from braindecode.modules import CombinedConv

        out["CombinedConv"] = CombinedConv
    except ImportError:  # pragma: no cover
        pass
    return out


_BD = _braindecode_types()

# Modules that are affine maps in eval mode: the gradient is already the DeepLIFT
# multiplier for them.
LINEAR_MODULES = tuple(
    t for t in (
        nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
        nn.ConvTranspose3d, nn.Linear,
        nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
        nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
        nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
        nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
        nn.Identity, nn.Flatten, nn.Unflatten,
        nn.ZeroPad1d, nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d,
        nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReplicationPad1d, nn.ReplicationPad2d,
        _BD.get("Ensure4d"), _BD.get("SqueezeFinalOutput"), _BD.get("CombinedConv"),
    ) if t is not None
)
try:
    from einops.layers.torch import Rearrange

    LINEAR_MODULES = LINEAR_MODULES + (Rearrange,)
except ImportError:  # pragma: no cover
    pass

# Elementwise nonlinear modules (listed for methods that care which modules are
# nonlinear, e.g. guided backprop's warning; DeepLIFT itself handles the functions they
# call).
_ELEMENTWISE = (
    nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus,
    nn.GELU, nn.SiLU, nn.Mish, nn.SELU, nn.CELU, nn.Hardtanh, nn.ReLU6, nn.Softsign,
    nn.LogSigmoid, nn.Hardswish, nn.Hardsigmoid, nn.Tanhshrink, nn.Softshrink,
    nn.Hardshrink, nn.Threshold, nn.PReLU, nn.RReLU,
)


# --------------------------------------------------------------------------------------
# Multipliers of elementwise functions
# --------------------------------------------------------------------------------------
def _square_multiplier(xi, xr, yi, yr, fn):
    # (x^2 - x0^2) / (x - x0) = x + x0 exactly; avoids the cancellation of the quotient.
    return xi + xr


def _generic_multiplier(xi, xr, yi, yr, fn):
    dx = xi - xr
    eps = torch.finfo(dx.dtype).eps
    scale = torch.maximum(xi.abs(), xr.abs())
    # Below ~sqrt(eps) relative difference the quotient is dominated by rounding; the
    # midpoint derivative equals the secant slope up to O(dx^2) there. Equal infinite
    # points (masked attention scores) count as equal.
    small = (xi == xr) | (dx.abs() <= eps ** 0.5 * scale + torch.finfo(dx.dtype).tiny)
    secant = (yi - yr) / torch.where(small, torch.ones_like(dx), dx)
    if not bool(small.any()):
        return secant
    with torch.enable_grad():
        mid = torch.where(xi == xr, xi, (xi + xr) / 2).detach().requires_grad_(True)
        deriv, = torch.autograd.grad(fn(mid).sum(), mid)
    return torch.where(small, deriv, secant)


def rescale_rule_for(module):
    """Return the multiplier function for ``module`` or None if it needs no rescale rule.

    Elementwise nonlinear modules get a rule; everything else (affine maps, pooling,
    unknown modules) gets None. DeepLIFT itself applies its rules to the torch functions
    a forward pass calls, whatever module calls them; this tells other methods which
    modules are elementwise nonlinearities.
    """
    square = _BD.get("Square")
    if square is not None and type(module) is square:
        return _square_multiplier
    for name in ("SafeLog", "LogActivation"):
        t = _BD.get(name)
        if t is not None and type(module) is t:
            return _generic_multiplier
    expression = _BD.get("Expression")
    if expression is not None and type(module) is expression:
        fn = getattr(module, "expression_fn", None)
        fn = getattr(fn, "func", fn)  # functools.partial(safe_log, eps=...)
        name = getattr(fn, "__name__", "")
        mod = getattr(fn, "__module__", "") or ""
        if name == "square" and mod.startswith("braindecode"):
            return _square_multiplier
        if name in ("safe_log", "log") and (mod.startswith("braindecode") or mod == "torch"):
            return _generic_multiplier
        return None
    if isinstance(module, _ELEMENTWISE):
        return _generic_multiplier
    return None


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def _carrier(t):
    """``t - t.detach()``: value zero, gradient one (zero where ``t`` is not finite)."""
    d = t - t.detach()
    finite = torch.isfinite(t.detach())
    if not bool(finite.all()):
        d = torch.where(finite, d, torch.zeros_like(d))
    return d


def _straight(real, surrogate):
    """The value of ``real`` with the backward pass of ``surrogate``."""
    return real + _carrier(surrogate)


def _checked(mode, real, surrogate):
    # A decomposition that does not reproduce the call's value (an argument read
    # wrongly) must not steer the gradient: fall back to the plain call.
    ref, sur = real.detach(), surrogate.detach()
    if not mode.recording and ref.is_floating_point() and ref.numel():
        fin = torch.isfinite(ref)
        if not torch.equal(fin, torch.isfinite(sur)) or sur.shape != ref.shape:
            raise _Unhandled("decomposition does not reproduce the value")
        if bool(fin.any()):
            err = float((ref[fin] - sur[fin]).abs().max())
            scale = float(ref[fin].abs().max())
            if err > torch.finfo(ref.dtype).eps ** 0.5 * (1 + scale):
                raise _Unhandled("decomposition does not reproduce the value")
    return _straight(real, surrogate)


def _decomposed(mode, func, args, kwargs, build):
    """``func``'s value with the backward pass of ``build()``, a decomposition written with
    calls that have rules (run under the mode, so that each gets its rule)."""
    with torch.no_grad():
        real = func(*args, **kwargs)
    with mode:
        sur = build()
    return _checked(mode, real, sur)


def _arguments(sig_of, args, kwargs):
    bound = inspect.signature(sig_of).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


def _dep(t):
    """Whether ``t`` depends on the attributed input (the copy's parameters do not)."""
    return torch.is_tensor(t) and t.requires_grad


class _Unhandled(Exception):
    """A rule cannot be applied here; the call runs plainly and is reported."""


# --------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------
# A rule gets (mode, func, args, kwargs) and returns what func would. It asks the mode
# for the reference counterpart of each input-dependent operand (mode.pair); in the
# reference pass that records the operand and the rule just computes the call (or runs
# its decomposition, so that the nested calls are recorded in the same order), in the
# input pass it returns the recorded tensor and the rule builds the multipliers.
_RULES = {}


def _rule(*funcs):
    def deco(handler):
        for f in funcs:
            if f is not None:
                _RULES[f] = handler
        return handler
    return deco


def _candidates(*names):
    out = []
    for name in names:
        for mod in (torch, torch.Tensor, F, torch.special):
            f = getattr(mod, name, None)
            if f is not None and f not in out:
                out.append(f)
    return out


@functools.lru_cache(maxsize=None)
def _inplace_index(func):
    try:
        params = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return None
    return params.index("inplace") if "inplace" in params else None


def _no_inplace(func, args, kwargs):
    # The rules evaluate the function on copies and at midpoints; an in-place variant
    # would write into the model's activations (and into leaves that require grad).
    idx = _inplace_index(func)
    if idx is None:
        return args, kwargs
    if len(args) > idx:
        args = args[:idx] + (False,) + args[idx + 1:]
    elif "inplace" in kwargs:
        kwargs = {**kwargs, "inplace": False}
    return args, kwargs


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


def _dim_arg(args, kwargs, pos=1):
    dim = kwargs.get("dim", args[pos] if len(args) > pos else None)
    if dim is None:
        raise _Unhandled("no dim given")
    return dim


def _exp_sum(mode, x, dims, tag):
    """Rescale-rule pieces of ``s = sum(exp(x - c), dims)`` for an input and its reference.

    The shift ``c`` is common to both (so that they see the same function exp(x - c)),
    which makes it depend on the pair: these rules compute their multipliers directly
    instead of through nested calls that the reference pass could not have recorded.
    Returns ``(e, er, s, sr, ds)`` with ``ds`` carrying the gradient of ``s``.
    """
    xr = mode.pair(x, tag)
    x0 = x.detach()
    with torch.no_grad():
        c = torch.maximum(x0.amax(dims, keepdim=True), xr.amax(dims, keepdim=True))
        c = torch.where(torch.isfinite(c), c, torch.zeros_like(c))
        z, zr = x0 - c, xr - c
        e, er = z.exp(), zr.exp()
        m = _generic_multiplier(z, zr, e, er, torch.exp)
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        s, sr = e.sum(dims, keepdim=True), er.sum(dims, keepdim=True)
    de = m * _carrier(x)
    return e, er, s, sr, de, de.sum(dims, keepdim=True)


@_rule(*_candidates("softmax", "log_softmax", "softmin"))
def _softmax_rule(mode, func, args, kwargs):
    x = args[0]
    if not _dep(x):
        return func(*args, **kwargs)
    dim = _dim_arg(args, kwargs)
    if kwargs.get("dtype") is not None:
        x = x.to(kwargs["dtype"])
    name = func.__name__
    if name == "softmin":
        x = -x
    if mode.recording:
        mode.pair(x, "softmax")
        return func(*args, **kwargs)
    with torch.no_grad():
        real = func(*args, **kwargs)
    e, er, s, sr, de, ds = _exp_sum(mode, x, (dim,), "softmax")
    with torch.no_grad():
        if name == "log_softmax":  # log p = (x - c) - log s
            m_s = _generic_multiplier(s, sr, s.log(), sr.log(), torch.log)
        else:  # p = e * (1 / s): rescale rule of 1/s, Shapley rule of the product
            r, rr = s.reciprocal(), sr.reciprocal()
            m_s = _generic_multiplier(s, sr, r, rr, torch.reciprocal)
            r_bar, e_bar = (r + rr) / 2, (e + er) / 2
    if name == "log_softmax":
        return real + (_carrier(x) - m_s * ds)
    return real + (r_bar * de + e_bar * (m_s * ds))


@_rule(*_candidates("logsumexp"))
def _logsumexp_rule(mode, func, args, kwargs):
    x = args[0]
    if not _dep(x):
        return func(*args, **kwargs)
    dim = _dim_arg(args, kwargs)
    keepdim = kwargs.get("keepdim", args[2] if len(args) > 2 else False)
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if mode.recording:
        mode.pair(x, "logsumexp")
        return func(*args, **kwargs)
    with torch.no_grad():
        real = func(*args, **kwargs)
    _, _, s, sr, _, ds = _exp_sum(mode, x, dims, "logsumexp")
    with torch.no_grad():  # log(sum(exp(x))) = c + log(s): the shift c is common
        m_s = _generic_multiplier(s, sr, s.log(), sr.log(), torch.log)
    out = m_s * ds
    return real + (out if keepdim else out.squeeze(dims))


def _var_args(args, kwargs):
    """(dims, correction, keepdim) of torch.var/std in any of their signatures."""
    rest = list(args[1:])
    dim, correction, keepdim = None, 1, False
    if rest and isinstance(rest[0], bool):  # var(x, unbiased)
        correction = int(rest.pop(0))
    else:
        if rest:
            dim = rest.pop(0)
        if rest:
            correction = int(rest.pop(0))  # unbiased
        if rest:
            keepdim = bool(rest.pop(0))
    dim = kwargs.get("dim", dim)
    if "unbiased" in kwargs:
        correction = int(kwargs["unbiased"])
    if kwargs.get("correction") is not None:
        correction = kwargs["correction"]
    keepdim = kwargs.get("keepdim", keepdim)
    if dim is None:
        raise _Unhandled("variance over all axes")
    return (dim,) if isinstance(dim, int) else tuple(dim), correction, keepdim


@_rule(*_candidates("var", "std", "var_mean", "std_mean"))
def _var_rule(mode, func, args, kwargs):
    x = args[0]
    if not _dep(x):
        return func(*args, **kwargs)
    dims, correction, keepdim = _var_args(args, kwargs)
    n = math.prod(x.shape[d] for d in dims)
    with torch.no_grad():
        real = func(*args, **kwargs)
    name = func.__name__
    with mode:  # sum of squared deviations: a product (Shapley rule) and linear maps
        d = x - x.mean(dims, keepdim=True)
        sur = (d * d).sum(dims, keepdim=keepdim) / max(n - correction, 0)
        if name.startswith("std"):
            sur = sur.sqrt()
        if name.endswith("_mean"):
            return _checked(mode, real[0], sur), x.mean(dims, keepdim=keepdim)
    return _checked(mode, real, sur)


@_rule(*_candidates("norm", "vector_norm"), getattr(torch.linalg, "vector_norm", None))
def _norm_rule(mode, func, args, kwargs):
    x = args[0]
    if not _dep(x):
        return func(*args, **kwargs)
    p = kwargs.get("p", kwargs.get("ord", args[1] if len(args) > 1 else 2))
    dim = kwargs.get("dim", args[2] if len(args) > 2 else None)
    keepdim = kwargs.get("keepdim", args[3] if len(args) > 3 else False)
    if p not in (2, 2.0, "fro") or dim is None or x.is_complex():
        raise _Unhandled("norm other than the 2-norm over given axes")
    return _decomposed(mode, func, args, kwargs,
                       lambda: (x * x).sum(dim, keepdim=keepdim).sqrt())


@_rule(F.normalize)
def _normalize_rule(mode, func, args, kwargs):
    a = _arguments(F.normalize, args, kwargs)
    x = a["input"]
    if not _dep(x):
        return func(*args, **kwargs)
    if a["p"] != 2 or a["out"] is not None:
        raise _Unhandled("normalize with p != 2")
    return _decomposed(mode, func, args, kwargs, lambda: x / (x * x).sum(
        a["dim"], keepdim=True).sqrt().clamp_min(a["eps"]))


def _affine(y, w, b):
    y = y if w is None else y * w
    return y if b is None else y + b


def _normalized(x, dims, eps, w=None, b=None):
    """(x - mean) / sqrt(var + eps) * w + b over ``dims``."""
    d = x - x.mean(dims, keepdim=True)
    return _affine(d * ((d * d).mean(dims, keepdim=True) + eps).rsqrt(), w, b)


def _per_channel(t, ndim):
    return None if t is None else t.reshape((-1,) + (1,) * (ndim - 2))


@_rule(F.layer_norm, torch.layer_norm)
def _layer_norm_rule(mode, func, args, kwargs):
    if not _dep(args[0]):
        return func(*args, **kwargs)
    a = _arguments(F.layer_norm, args[:5], kwargs)
    dims = tuple(range(-len(tuple(a["normalized_shape"])), 0))
    return _decomposed(mode, func, args, kwargs, lambda: _normalized(
        a["input"], dims, a["eps"], a["weight"], a["bias"]))


if hasattr(F, "rms_norm"):
    @_rule(F.rms_norm, getattr(torch, "rms_norm", None))
    def _rms_norm_rule(mode, func, args, kwargs):
        x = args[0]
        if not _dep(x):
            return func(*args, **kwargs)
        a = _arguments(F.rms_norm, args[:4], kwargs)
        dims = tuple(range(-len(tuple(a["normalized_shape"])), 0))
        eps = torch.finfo(x.dtype).eps if a["eps"] is None else a["eps"]

        def build():
            y = x * ((x * x).mean(dims, keepdim=True) + eps).rsqrt()
            return y if a["weight"] is None else y * a["weight"]
        return _decomposed(mode, func, args, kwargs, build)


@_rule(F.group_norm, torch.group_norm)
def _group_norm_rule(mode, func, args, kwargs):
    x = args[0]
    if not _dep(x):
        return func(*args, **kwargs)
    a = _arguments(F.group_norm, args[:5], kwargs)

    def build():
        y = _normalized(x.reshape(x.shape[0], a["num_groups"], -1), (2,), a["eps"])
        return _affine(y.reshape(x.shape), _per_channel(a["weight"], x.dim()),
                       _per_channel(a["bias"], x.dim()))
    return _decomposed(mode, func, args, kwargs, build)


@_rule(F.instance_norm)
def _instance_norm_rule(mode, func, args, kwargs):
    a = _arguments(F.instance_norm, args, kwargs)
    x = a["input"]
    if not _dep(x) or not a["use_input_stats"]:
        return func(*args, **kwargs)  # running statistics: an affine map
    return _decomposed(mode, func, args, kwargs, lambda: _normalized(
        x, tuple(range(2, x.dim())), a["eps"], _per_channel(a["weight"], x.dim()),
        _per_channel(a["bias"], x.dim())))


@_rule(F.glu)
def _glu_rule(mode, func, args, kwargs):
    x = args[0]
    if not _dep(x):
        return func(*args, **kwargs)
    a, b = x.chunk(2, dim=kwargs.get("dim", args[1] if len(args) > 1 else -1))
    return _decomposed(mode, func, args, kwargs, lambda: a * b.sigmoid())


def _attention(q, k, v, bias, scale):
    """softmax(q k^T * scale + bias) v, written with calls that have rules."""
    w = ((q * scale) @ k.transpose(-2, -1) + bias).softmax(-1)
    return w @ v, w


@_rule(F.scaled_dot_product_attention)
def _sdpa_rule(mode, func, args, kwargs):
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale",
             "enable_gqa")
    a = {"attn_mask": None, "dropout_p": 0.0, "is_causal": False, "scale": None,
         "enable_gqa": False, **dict(zip(names, args)), **kwargs}
    q, k, v = a["query"], a["key"], a["value"]
    if not any(_dep(t) for t in (q, k, v)):
        return func(*args, **kwargs)
    if a["dropout_p"]:
        raise _Unhandled("attention dropout")
    with torch.no_grad():
        real = func(*args, **kwargs)
    n_q, n_k = q.shape[-2], k.shape[-2]
    scale = 1 / math.sqrt(q.shape[-1]) if a["scale"] is None else a["scale"]
    bias = torch.zeros(n_q, n_k, dtype=q.dtype, device=q.device)
    if a["is_causal"]:
        causal = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril()
        bias = bias.masked_fill(~causal, float("-inf"))
    mask = a["attn_mask"]
    if mask is not None:
        bias = bias.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool \
            else bias + mask
    if a["enable_gqa"]:
        rep = q.shape[-3] // k.shape[-3]
        k, v = k.repeat_interleave(rep, -3), v.repeat_interleave(rep, -3)
    with mode:
        sur, _ = _attention(q, k, v, bias, scale)
    return _checked(mode, real, sur)


def _mha_mask(mask, dtype, shape):
    if mask is None:
        return torch.zeros((), dtype=dtype)
    if mask.dtype == torch.bool:  # True: not allowed to attend
        zeros = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        return zeros.masked_fill(mask, float("-inf")).reshape(shape)
    return mask.to(dtype).reshape(shape)


@_rule(F.multi_head_attention_forward)
def _mha_rule(mode, func, args, kwargs):
    a = inspect.signature(func).bind(*args, **kwargs)
    a.apply_defaults()
    a = a.arguments
    q_in, k_in, v_in = a["query"], a["key"], a["value"]
    if not any(_dep(t) for t in (q_in, k_in, v_in)):
        return func(*args, **kwargs)
    if a["bias_k"] is not None or a["bias_v"] is not None or a["add_zero_attn"] \
            or a["static_k"] is not None or a["static_v"] is not None \
            or (a["training"] and a["dropout_p"]) or q_in.dim() != 3:
        raise _Unhandled("attention variant without a decomposition")
    with torch.no_grad():
        real = func(*args, **kwargs)
    n_heads = a["num_heads"]
    n_q, bsz, embed = q_in.shape
    n_k, hd = k_in.shape[0], embed // n_heads
    if a["use_separate_proj_weight"]:
        ws = (a["q_proj_weight"], a["k_proj_weight"], a["v_proj_weight"])
    else:
        ws = a["in_proj_weight"].chunk(3)
    bs = (None,) * 3 if a["in_proj_bias"] is None else a["in_proj_bias"].chunk(3)
    bias = _mha_mask(a["attn_mask"], q_in.dtype, (-1, n_q, n_k))
    if a["key_padding_mask"] is not None:
        kpm = _mha_mask(a["key_padding_mask"], q_in.dtype, (bsz, 1, 1, n_k))
        bias = (bias.reshape(-1, n_heads, n_q, n_k) if bias.dim() else bias) + kpm
        bias = bias.reshape(bsz * n_heads, n_q, n_k)
    elif a["is_causal"] and a["attn_mask"] is None:
        bias = torch.zeros(n_q, n_k, dtype=q_in.dtype).masked_fill(
            ~torch.ones(n_q, n_k, dtype=torch.bool).tril(), float("-inf"))
    bias = bias.to(q_in.device)
    with mode:
        heads = [F.linear(t, w, b).reshape(t.shape[0], bsz * n_heads, hd).transpose(0, 1)
                 for t, w, b in zip((q_in, k_in, v_in), ws, bs)]
        out, w = _attention(*heads, bias, 1 / math.sqrt(hd))
        out = out.transpose(0, 1).reshape(n_q * bsz, embed)
        out = F.linear(out, a["out_proj_weight"], a["out_proj_bias"]).reshape(n_q, bsz, embed)
        if a["need_weights"]:
            w = w.reshape(bsz, n_heads, n_q, n_k)
            w = w.mean(1) if a["average_attn_weights"] else w
    out = _checked(mode, real[0], out)
    return out, (_checked(mode, real[1], w) if a["need_weights"] else None)


@_rule(torch.lstm)
def _lstm_rule(mode, func, args, kwargs):
    # nn.LSTM's fused kernel, unrolled into the gate products and activations.
    if len(args) != 9 or kwargs or not _dep(args[0]):
        if _dep(args[0]):
            raise _Unhandled("packed sequence or unexpected signature")
        return func(*args, **kwargs)
    x, (h0, c0), params, has_biases, n_layers, dropout, train, bidir, batch_first = args
    stride = 4 if has_biases else 2
    n_dir = 2 if bidir else 1
    if len(params) != stride * n_layers * n_dir or (train and dropout):
        raise _Unhandled("LSTM with projections or dropout")
    with torch.no_grad():
        real = func(*args, **kwargs)
    with mode:
        seq = x.transpose(0, 1) if batch_first else x
        hs, cs = [], []
        for layer in range(n_layers):
            outs = []
            for d in range(n_dir):
                k = layer * n_dir + d
                w_ih, w_hh, *b = params[k * stride:(k + 1) * stride]
                b_ih, b_hh = b if b else (None, None)
                h, c = h0[k], c0[k]
                steps = [None] * seq.shape[0]
                order = range(seq.shape[0]) if d == 0 else reversed(range(seq.shape[0]))
                for t in order:
                    gates = F.linear(seq[t], w_ih, b_ih) + F.linear(h, w_hh, b_hh)
                    i, f, g, o = gates.chunk(4, -1)
                    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
                    h = o.sigmoid() * c.tanh()
                    steps[t] = h
                outs.append(torch.stack(steps))
                hs.append(h)
                cs.append(c)
            seq = torch.cat(outs, -1)
        out = seq.transpose(0, 1) if batch_first else seq
    return tuple(_checked(mode, r, s) for r, s in
                 zip(real, (out, torch.stack(hs), torch.stack(cs))))


# Calls that are nonlinear in the input and have no rule: run plainly, reported.
_NO_RULE = {
    "gru", "rnn_tanh", "rnn_relu", "sort", "topk", "median", "nanmedian", "kthvalue",
    "cummax", "cummin", "mode", "where", "local_response_norm", "cosine_similarity",
    "embedding_bag", "batch_norm",
}
_RULE_NAMES = frozenset(getattr(f, "__name__", "") for f in _RULES)


# --------------------------------------------------------------------------------------
# The mode
# --------------------------------------------------------------------------------------
class _DeepLiftMode(TorchFunctionMode):
    """Applies the rules to the calls of one forward pass.

    The reference pass (``recording=True``) stores, in call order, the operands the
    rules pair; the input pass takes them back in the same order. Pairing by call order
    needs no assumption about where a layer keeps the batch axis (heads concatenated
    along it, sequence-first attention, ...).
    """

    def __init__(self, store, recording, report, where):
        super().__init__()
        self.store = store
        self.recording = recording
        self.report = report
        self.where = where  # stack of module names, innermost last
        self.k = 0

    def pair(self, t, tag):
        if self.recording:
            # a copy: the model may later update the activation in place (x += ...)
            self.store.append((tag, t.detach().clone()))
            return t.detach()
        if self.k >= len(self.store):
            raise _Unhandled("the reference pass made fewer calls")
        tag_r, r = self.store[self.k]
        self.k += 1
        if tag_r != tag or r.shape != t.shape:
            raise _Unhandled("the reference pass made different calls")
        return r

    def _note(self, name, why):
        if not self.recording:
            self.report[(name, self.where[-1] if self.where else "", why)] += 1

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if torch.is_grad_enabled():
            rule = _RULES.get(func)
            if rule is not None:
                try:
                    return rule(self, func, args, kwargs)
                except _Unhandled as why:
                    self._note(getattr(func, "__name__", str(func)), str(why))
            else:
                name = getattr(func, "__name__", "")
                inplace = name.endswith("_") and name[:-1] in _RULE_NAMES
                if (name in _NO_RULE or inplace) and any(_dep(a) for a in args):
                    if name != "batch_norm" or kwargs.get("training", args[5:6] == (True,)):
                        self._note(name, "in-place call (no rule)" if inplace
                                   else "no DeepLIFT rule")
        return func(*args, **kwargs)


class _Hidden(nn.Module):
    """Runs a module that captum would hook; hidden from the module tree (no hooks)."""

    def __init__(self, inner):
        super().__init__()
        self.__dict__["inner"] = inner

    def forward(self, *args, **kwargs):
        return self.inner(*args, **kwargs)

    def extra_repr(self):
        return f"{type(self.inner).__name__} (DeepLIFT rule from the function it calls)"


class DeepLiftModel(nn.Module):
    """A model copy whose forward applies DeepLIFT rules (see the module docstring).

    Its forward takes captum's ``cat([inputs, references])``: it runs the model on the
    references (recording what the rules pair), then on the inputs (building the
    multipliers), and returns both outputs in the same order. The values are the
    model's.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.report = Counter()
        self._where = []

    def forward(self, x, *args, **kwargs):
        if x.shape[0] % 2:
            raise ValueError(f"expected inputs and references in one batch, got {len(x)} rows")
        x_in, x_ref = x.chunk(2)
        store = []
        # The reference half requires grad only so that the rules take the same
        # decisions ("depends on the input") in both passes.
        with _DeepLiftMode(store, True, self.report, self._where):
            out_ref = self.model(x_ref.detach().requires_grad_(True), *args, **kwargs)
        mode = _DeepLiftMode(store, False, self.report, self._where)
        with mode:
            out_in = self.model(x_in, *args, **kwargs)
        if mode.k != len(store):
            self.report[("(forward)", "", "the two passes made different calls")] += 1
        return torch.cat([out_in, out_ref.detach()])

    def unhandled(self):
        """``[(call, module name, reason, count)]`` of the calls that ran without a rule."""
        return [(n, w, why, c) for (n, w, why), c in sorted(self.report.items())]


def _track_modules(model, stack):
    def pre(name):
        def hook(mod, inp):
            stack.append(f"{name} ({type(mod).__name__})")
        return hook

    def post(mod, inp, out):
        if stack:
            stack.pop()

    for name, mod in model.named_modules():
        if name:
            mod.register_forward_pre_hook(pre(name))
            mod.register_forward_hook(post)


def prepare_deeplift_model(model):
    """Copy of ``model`` (eval mode) whose forward applies the DeepLIFT rules.

    Parameters
    ----------
    model : torch.nn.Module
        The model. It is not modified.

    Returns
    -------
    model_copy : DeepLiftModel
        Wraps a deep copy whose parameters do not require grad (so that "requires grad"
        means "depends on the attributed input" inside the forward). Modules captum
        would hook are hidden from captum; their functions get the rules instead.
        After captum has run, :meth:`DeepLiftModel.unhandled` lists the calls that ran
        without a rule.
    """
    model_copy = copy.deepcopy(model).eval()
    for p in model_copy.parameters():
        p.requires_grad_(False)
    wrapped = DeepLiftModel(model_copy)
    _track_modules(model_copy, wrapped._where)
    for parent in list(model_copy.modules()):
        # _modules, not named_children(): a module listed twice in one parent (EEGTCNet's
        # shared activation) must be replaced under both names.
        for child_name, child in list(parent._modules.items()):
            if child is None:
                continue
            if getattr(child, "inplace", False) is True:
                child.inplace = False  # the copy's module; rules need the input intact
            if type(child) in CAPTUM_DEEPLIFT_TYPES:
                setattr(parent, child_name, _Hidden(child))
    logger.debug(f"DeepLIFT: {len(_RULES)} torch functions have rules")
    return wrapped
