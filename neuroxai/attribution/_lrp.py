"""Prepare a model copy for captum's LRP, or say which layer has no LRP rule."""
from __future__ import annotations

import copy

import torch
from torch import nn

from .._utils import MethodUndefinedError, import_braindecode

try:
    from captum.attr._core.lrp import SUPPORTED_LAYERS_WITH_RULES, SUPPORTED_NON_LINEAR_LAYERS
except ImportError:  # pragma: no cover
    SUPPORTED_LAYERS_WITH_RULES, SUPPORTED_NON_LINEAR_LAYERS = {}, [nn.ReLU, nn.Dropout, nn.Tanh]

_AFFINE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d,
           nn.BatchNorm3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d,
           nn.AdaptiveAvgPool2d, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)


def _shape_only_types():
    types = [nn.Identity, nn.Flatten, nn.Unflatten]
    try:
        from einops.layers.torch import Rearrange

        types.append(Rearrange)
    except ImportError:  # pragma: no cover
        pass
    try:
        import_braindecode("braindecode.modules")  # quietly, if not yet imported
        from braindecode.modules import Ensure4d

        types.append(Ensure4d)
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


def _combined_conv_as_conv2d(module):
    # braindecode's CombinedConv computes one merged conv in its own forward and never
    # calls its two child convs, which captum's LRP would hook; an equivalent plain
    # Conv2d gives LRP a layer it can handle.
    t, s = module.conv_time, module.conv_spat
    n_out, ln, n_chans = s.out_channels, t.kernel_size[0], s.kernel_size[1]
    conv = nn.Conv2d(1, n_out, (ln, n_chans), bias=True).to(t.weight.device, t.weight.dtype)
    with torch.no_grad():
        probe = torch.zeros(1, 1, ln, n_chans, dtype=t.weight.dtype, device=t.weight.device)
        bias = module(probe)[0, :, 0, 0]
        eye = torch.eye(ln * n_chans, dtype=t.weight.dtype, device=t.weight.device)
        resp = module(eye.reshape(-1, 1, ln, n_chans))[:, :, 0, 0] - bias  # (ln*C, n_out)
        conv.weight.copy_(resp.T.reshape(n_out, 1, ln, n_chans))
        conv.bias.copy_(bias)
    return conv


def _plain_copy(module):
    # A parametrized layer (e.g. max-norm constrained conv of EEGNet) as a plain layer
    # with its current weights. remove_parametrizations() cannot be used on a deep
    # copy: the parametrized class is shared with the caller's module and it would
    # strip the caller's weight property too.
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[len(module.kernel_size)]
        plain = cls(module.in_channels, module.out_channels, module.kernel_size,
                    stride=module.stride, padding=module.padding, dilation=module.dilation,
                    groups=module.groups, bias=module.bias is not None,
                    padding_mode=module.padding_mode)
    elif isinstance(module, nn.Linear):
        plain = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
    else:
        return None
    plain = plain.to(module.weight.device, module.weight.dtype)
    with torch.no_grad():
        plain.weight.copy_(module.weight)
        if module.bias is not None:
            plain.bias.copy_(module.bias)
    return plain


def _pass_rule():
    from captum.attr._utils.lrp_rules import PropagationRule

    class PassRule(PropagationRule):
        """Rule for modules that only reshape: relevance passes through unchanged.

        captum's IdentityRule hooks the layer's input and output tensors, which breaks
        on views (braindecode's Ensure4d/Rearrange); without hooks the backward pass of
        a reshape already carries the relevance to the input positions.
        """

        def forward_hook(self, module, inputs, outputs):
            return None

        def forward_hook_weights(self, module, inputs, outputs):
            return None

        def forward_pre_hook_activations(self, module, inputs):
            return None

        def _manipulate_weights(self, module, inputs, outputs):
            return None

    return PassRule()


def prepare_lrp_model(model, epsilon):
    """Deep copy of ``model`` with an epsilon rule on every affine layer.

    Raises :class:`MethodUndefinedError` naming the layers that have no LRP rule.
    """
    from captum.attr._utils.lrp_rules import EpsilonRule

    model_copy = copy.deepcopy(model).eval()
    try:
        import_braindecode("braindecode.modules")  # quietly, if not yet imported
        from braindecode.modules import CombinedConv
    except ImportError:  # pragma: no cover
        CombinedConv = ()
    for _parent_name, parent in list(model_copy.named_modules()):
        for child_name, child in list(parent.named_children()):
            if CombinedConv and isinstance(child, CombinedConv):
                setattr(parent, child_name, _combined_conv_as_conv2d(child))
            elif torch.nn.utils.parametrize.is_parametrized(child):
                plain = _plain_copy(child)
                if plain is not None:
                    setattr(parent, child_name, plain)
    shape_only = _shape_only_types()
    offenders = []

    def visit(module, prefix):
        # same traversal as captum's LRP: the leaves of the children tree
        for name, child in module.named_children():
            full = f"{prefix}.{name}" if prefix else name
            if len(list(child.children())):
                visit(child, full)
            elif type(child) in SUPPORTED_NON_LINEAR_LAYERS:
                continue
            elif isinstance(child, _AFFINE):
                child.rule = EpsilonRule(epsilon=epsilon)
            elif isinstance(child, shape_only):
                child.rule = _pass_rule()
            else:
                offenders.append((full, type(child).__name__))

    visit(model_copy, "")
    if offenders:
        listed = ", ".join(f"{n!r} ({t})" for n, t in offenders)
        raise MethodUndefinedError(
            f"LRP is undefined for {type(model).__name__}: no propagation rule for layer(s) "
            f"{listed}. captum's LRP has rules for linear/conv/batch-norm/pooling layers and "
            "ReLU/Tanh only. Use method='deeplift' (which has rescale rules for these "
            "nonlinearities) or 'integrated_gradients' instead."
        )
    return model_copy
