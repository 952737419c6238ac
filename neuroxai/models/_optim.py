"""torch's Adam and AdamW, without the hooks that import the compiler stack.

``torch.optim.Optimizer`` wraps ``step``, ``zero_grad`` and ``add_param_group`` in
decorators whose first call imports ``torch._dynamo`` (and with it sympy, inductor and
onnx): about 220 MiB of resident memory and 2 s on this project's 2-core CI machine, for
compiler support an eager CPU training loop never uses. The classes below are the same
optimizers, calling the undecorated methods; the update is torch's own code, so training
is bit-identical (tested), and ``torch.optim.lr_scheduler`` accepts them.
"""
from __future__ import annotations

import torch


def _undecorated(fn):
    # the decorators keep the original as __wrapped__ (functools.wraps / update_wrapper);
    # a torch without them leaves the method as it is
    return getattr(fn, "__wrapped__", fn)


class _NoCompilerHooks:
    """Mixin: the optimizer methods without their ``torch._dynamo`` wrappers."""

    def add_param_group(self, param_group):
        return _undecorated(torch.optim.Optimizer.add_param_group)(self, param_group)

    def zero_grad(self, set_to_none=True):
        return _undecorated(torch.optim.Optimizer.zero_grad)(self, set_to_none)

    def step(self, closure=None):
        # what the removed wrapper did, less its compiler graph breaks
        with torch.set_grad_enabled(self.defaults["differentiable"]):
            return _undecorated(super().step)(self, closure)


class Adam(_NoCompilerHooks, torch.optim.Adam):
    """:class:`torch.optim.Adam` without importing ``torch._dynamo`` (same update)."""


class AdamW(_NoCompilerHooks, torch.optim.AdamW):
    """:class:`torch.optim.AdamW` without importing ``torch._dynamo`` (same update)."""
