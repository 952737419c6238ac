"""DeepLIFT rescale rules for the nonlinearities of braindecode models.

captum's :class:`~captum.attr.DeepLift` has rules for ``nn.ReLU``, ``nn.ELU``,
``nn.Sigmoid``, ``nn.Tanh``, ``nn.Softplus``, ``nn.LeakyReLU``, max pooling and
softmax, and lets the plain gradient flow through every other module. That is
wrong for ``Square`` and ``SafeLog`` in :class:`braindecode.models.ShallowFBCSPNet`
(and for GELU, SiLU, ... elsewhere): DeepLIFT then degenerates to input x gradient
and the completeness axiom ``sum(attr) == f(x) - f(x0)`` fails. Its ELU/ReLU rules
also lose completeness when the activation feeds a max pooling (Deep4Net).

:func:`prepare_deeplift_model` returns a deep copy of the model in which each such
elementwise module is wrapped so that its backward pass uses the rescale rule

.. math:: m = \\frac{f(x) - f(x_0)}{x - x_0}

(falling back to the derivative at the midpoint where :math:`|x - x_0|` is
tiny). captum still runs the algorithm (pairing of inputs and references, its rules for
max pooling and softmax); the wrapped modules only change their local
multiplier. The caller's model is never modified.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .._utils import import_braindecode, logger

__all__ = ["prepare_deeplift_model", "rescale_rule_for", "LINEAR_MODULES"]

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

# Elementwise nonlinearities; their forward is reused as is. captum has rules for some
# of them (ReLU, ELU, ...) but its hook-based rule breaks completeness when such a module
# feeds a max pooling (measured with captum 0.9: Conv-ELU-MaxPool2d, |sum(attr) - delta f|
# of the order of delta f itself), so every elementwise module gets our rule and captum
# only handles pooling/softmax.
_ELEMENTWISE = (
    nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus,
    nn.GELU, nn.SiLU, nn.Mish, nn.SELU, nn.CELU, nn.Hardtanh, nn.ReLU6, nn.Softsign,
    nn.LogSigmoid, nn.Hardswish, nn.Hardsigmoid, nn.Tanhshrink, nn.Softshrink,
    nn.Hardshrink, nn.Threshold, nn.PReLU, nn.RReLU,
)


def _square_multiplier(xi, xr, yi, yr, fn):
    # (x^2 - x0^2) / (x - x0) = x + x0 exactly; avoids the cancellation of the quotient.
    return xi + xr


def _generic_multiplier(xi, xr, yi, yr, fn):
    dx = xi - xr
    eps = torch.finfo(dx.dtype).eps
    scale = torch.maximum(xi.abs(), xr.abs())
    # Below ~sqrt(eps) relative difference the quotient is dominated by rounding; the
    # midpoint derivative equals the secant slope up to O(dx^2) there.
    small = dx.abs() <= eps ** 0.5 * scale + torch.finfo(dx.dtype).tiny
    secant = (yi - yr) / torch.where(small, torch.ones_like(dx), dx)
    if not bool(small.any()):
        return secant
    with torch.enable_grad():
        mid = ((xi + xr) / 2).detach().requires_grad_(True)
        deriv, = torch.autograd.grad(fn(mid).sum(), mid)
    return torch.where(small, deriv, secant)


def rescale_rule_for(module):
    """Return the multiplier function for ``module`` or None if it needs no rescale rule.

    Elementwise nonlinearities get a rule; everything else (affine maps, pooling,
    unknown modules) gets None.
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
        if name == "identity":
            return None
        return None
    if isinstance(module, _ELEMENTWISE):
        return _generic_multiplier
    return None


class _RescaleFunction(torch.autograd.Function):
    """Elementwise ``fn`` whose backward uses the DeepLIFT rescale multiplier.

    captum's DeepLift runs the model on ``cat([inputs, references])``; the first half
    of the batch are the inputs and the second half their references (the same
    convention its own rules rely on).
    """

    @staticmethod
    def forward(ctx, x, fn, multiplier):
        y = fn(x)
        ctx.save_for_backward(x, y)
        ctx.fn = fn
        ctx.multiplier = multiplier
        return y

    @staticmethod
    def backward(ctx, grad_out):
        x, y = ctx.saved_tensors
        if x.shape[0] % 2:
            raise RuntimeError(
                "DeepLIFT rescale rule got an odd batch; the model must keep the batch "
                "axis first through its nonlinearities."
            )
        xi, xr = x.chunk(2)
        yi, yr = y.chunk(2)
        m = ctx.multiplier(xi, xr, yi, yr, ctx.fn)
        return grad_out * torch.cat([m, m]), None, None


class _Rescale(nn.Module):
    """Wrapper that applies the rescale rule to an elementwise module."""

    def __init__(self, inner, multiplier):
        super().__init__()
        # Hidden from the module tree so captum does not hook the wrapped module.
        self.__dict__["inner"] = inner
        self.multiplier = multiplier

    def forward(self, x):
        return _RescaleFunction.apply(x, self.inner, self.multiplier)

    def extra_repr(self):
        return f"rescale rule for {type(self.inner).__name__}"


def prepare_deeplift_model(model, force_generic=()):
    """Deep copy of ``model`` (eval mode) with rescale rules where captum has none.

    Parameters
    ----------
    model : torch.nn.Module
        The model. It is not modified.
    force_generic : tuple of type
        Extra module types to wrap with the generic rescale rule (they must be
        elementwise).

    Returns
    -------
    model_copy : torch.nn.Module
        The prepared copy.
    wrapped : list of (str, str)
        ``(name, type)`` of the modules that received a rescale rule.
    unknown : list of (str, str)
        ``(name, type)`` of leaf modules that are neither known affine maps nor have a
        rule (captum or ours): DeepLIFT passes their plain gradient.
    """
    model_copy = copy.deepcopy(model).eval()
    wrapped, unknown = [], []
    for parent_name, parent in list(model_copy.named_modules()):
        for child_name, child in list(parent.named_children()):
            full = f"{parent_name}.{child_name}" if parent_name else child_name
            rule = rescale_rule_for(child)
            if rule is None and force_generic and isinstance(child, tuple(force_generic)):
                rule = _generic_multiplier
            if rule is not None:
                if getattr(child, "inplace", False):
                    child.inplace = False  # the copy's module; rules need the input intact
                setattr(parent, child_name, _Rescale(child, rule))
                wrapped.append((full, type(child).__name__))
    for name, mod in model_copy.named_modules():
        if isinstance(mod, _Rescale) or len(list(mod.children())) or name == "":
            continue
        if ".parametrizations." in f".{name}.":
            continue  # weight parametrizations (max-norm constraints) act on weights only
        if not isinstance(mod, LINEAR_MODULES + CAPTUM_DEEPLIFT_TYPES):
            unknown.append((name, type(mod).__name__))
    if wrapped:
        logger.debug("DeepLIFT rescale rules added for: "
                    + ", ".join(f"{n} ({t})" for n, t in wrapped))
    return model_copy, wrapped, unknown

