"""Shared pieces of the DeepLIFT rules: module tables, multipliers, the rule registry."""
from __future__ import annotations

import functools
import inspect

import torch
import torch.nn.functional as F
from torch import nn

from ..._utils import import_braindecode

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


@functools.cache
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


