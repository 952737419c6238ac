"""The torch-function mode that applies the rules, and the model wrapper captum runs."""
from __future__ import annotations

import copy
from collections import Counter

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..._utils import logger
from . import _rules_pointwise, _rules_structured  # noqa: F401  (register rules)
from ._base import (  # noqa: F401
    _RULES,
    CAPTUM_DEEPLIFT_TYPES,
    _dep,
    _Unhandled,
)
from ._rules_structured import (  # noqa: F401
    _NO_RULE,
    _RULE_NAMES,
)


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
