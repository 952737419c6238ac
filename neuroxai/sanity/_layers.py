"""Finding and re-initialising a model's parametrised layers (private to :mod:`neuroxai.sanity`).

A *layer* is a module that owns parameters itself (``named_parameters(recurse=False)``) or
owns parametrised tensors (``torch.nn.utils.parametrize``). A parametrised tensor is
randomised at its source, ``module.parametrizations.<name>.original``: the computed tensor
(e.g. ``module.weight`` under braindecode's max-norm constraint) is recomputed from it at
every forward, so writing to the computed tensor (what ``reset_parameters`` does) is lost.
"""
from __future__ import annotations

import copy
import math
import zlib

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from .._core.model import device_dtype, evaluating
from .._utils import InvalidInputError, LayerNotFoundError, logger, unknown_name

_NORM_TYPES = tuple(
    t for t in (
        nn.modules.batchnorm._NormBase,  # BatchNorm*d, InstanceNorm*d, SyncBatchNorm
        nn.GroupNorm,
        nn.LayerNorm,
        getattr(nn, "RMSNorm", None),
    ) if t is not None
)


def is_norm_layer(module):
    return isinstance(module, _NORM_TYPES)


def own_tensors(module):
    """The tensors a layer owns, by name, as the Parameters to write to.

    Plain parameters map to themselves; a parametrised tensor ``name`` maps to its source
    ``parametrizations[name].original`` (or ``original0``, ``original1``, ... when the
    parametrisation's ``right_inverse`` returns several tensors).
    """
    out = {name: p for name, p in module._parameters.items() if p is not None}
    if parametrize.is_parametrized(module):
        for name, plist in module.parametrizations.items():
            if hasattr(plist, "original"):
                out[name] = plist.original
            else:
                i = 0
                while hasattr(plist, f"original{i}"):
                    out[f"{name}.original{i}"] = getattr(plist, f"original{i}")
                    i += 1
    return out


def parametrised_layers(model):
    """``[(name, module)]`` of the layers of ``model`` in registration order."""
    inside_parametrizations = set()
    for module in model.modules():
        if parametrize.is_parametrized(module):
            inside_parametrizations.update(id(m) for m in module.parametrizations.modules())
    return [
        (name, module) for name, module in model.named_modules()
        if id(module) not in inside_parametrizations and own_tensors(module)
    ]


def _example_input(model, X):
    """One trial on the model's own device and dtype (a float64 model gets float64)."""
    device, dtype = device_dtype(model)
    if X is not None:
        x = X[:1].detach().cpu() if torch.is_tensor(X) else np.asarray(X[:1])
        return torch.as_tensor(x, dtype=dtype, device=device)
    try:  # braindecode raises when the attribute was not given
        n_chans, n_times = getattr(model, "n_chans", None), getattr(model, "n_times", None)
    except Exception:
        return None
    if isinstance(n_chans, int) and isinstance(n_times, int):
        return torch.zeros(1, n_chans, n_times, dtype=dtype, device=device)
    return None


def layers_in_forward_order(model, X=None):
    """Parametrised layers ``[(name, module)]`` in the order the forward pass calls them.

    The order comes from forward pre-hooks during one pass on ``X[:1]`` (or on zeros of the
    model's ``n_chans``/``n_times``). A layer whose parameters its parent uses functionally
    (braindecode's ``CombinedConv`` merges its temporal and spatial convolutions' weights)
    is never called; it takes its closest called ancestor's place, in registration order.
    Without an example input, registration order is used.
    """
    layers = parametrised_layers(model)
    x = _example_input(model, X)
    if x is None or not layers:
        if layers:
            logger.info("No example input: parametrised layers are listed in registration order.")
        return layers
    calls = {}

    def record(name):
        def hook(module, args):
            calls.setdefault(name, len(calls))  # returns None: the inputs pass unchanged
        return hook

    handles = [m.register_forward_pre_hook(record(name)) for name, m in model.named_modules()]
    try:
        with torch.no_grad(), evaluating(model):
            model(x)
    except Exception as err:  # the public functions validate the input with a clear message
        logger.warning(f"The forward pass that orders the layers failed ({type(err).__name__}: "
                       f"{err}); the layers are listed in registration order instead.")
        return layers
    finally:
        for h in handles:
            h.remove()

    def key(item):
        i, (name, _) = item
        parts = name.split(".") if name else []
        for k in range(len(parts), -1, -1):
            anc = ".".join(parts[:k])
            if anc in calls:
                return (calls[anc], k < len(parts), i)
        return (-1, True, i)

    return [layer for _, layer in sorted(enumerate(layers), key=key)]


def resolve_levels(model, layers, X=None):
    """Group the model's parametrised layers into randomisation levels.

    ``layers=None`` gives one level per layer, output to input. Otherwise every entry (a layer
    name or the name of a module containing layers, or a list of such names) is one level,
    in the order given. Returns ``[(level_name, [layer names])]``.
    """
    ordered = layers_in_forward_order(model, X)
    if not ordered:
        raise InvalidInputError(
            f"{type(model).__name__} has no parametrised layer (no module owns parameters), so "
            "there is nothing to randomise. Pass a model with learnable parameters."
        )
    names = [n for n, _ in ordered]
    if layers is None:
        return [(n, [n]) for n in reversed(names)]
    if isinstance(layers, str):
        layers = [layers]
    levels = []
    for entry in layers:
        group = [entry] if isinstance(entry, str) else list(entry)
        members = []
        for g in group:
            found = [n for n in names if n == g or g == "" or n.startswith(g + ".")]
            if not found:
                raise unknown_name("layer", g, names, error=LayerNotFoundError)
            members.extend(n for n in found if n not in members)
        levels.append(("+".join(group), members))
    return levels


def layer_seed(seed, name):
    """A seed for layer ``name``: the same layer gets the same random weights in every test."""
    ss = np.random.SeedSequence([int(seed) % 2**32, zlib.crc32(name.encode())])
    return int(ss.generate_state(1)[0])


def _reset_values(module, tensors, seed):
    """New values for ``tensors`` from the layer's own ``reset_parameters``, on a CPU clone."""
    clone = copy.deepcopy(module).cpu()
    if parametrize.is_parametrized(clone):
        # Turn the clone into a plain module whose parameter *is* the source tensor, so that
        # reset_parameters() writes the value that will become `original`. Not
        # remove_parametrizations(): it deletes the property from the parametrised class,
        # which the clone shares with the caller's module.
        plists = clone._modules.pop("parametrizations")
        for name, plist in plists.items():
            if hasattr(plist, "original"):
                clone._parameters[name] = plist.original
        clone.__class__ = type(module).__bases__[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clone.reset_parameters()
    new = {}
    for name in tensors:
        value = getattr(clone, name, None) if "." not in name else None
        if torch.is_tensor(value):
            new[name] = value.detach()
    return new


def _fallback_values(tensors, seed, done):
    """Values for tensors no ``reset_parameters`` covers.

    Matrices get torch's default Linear/Conv init (Kaiming uniform, a=sqrt(5)); vectors and
    scalars are redrawn from a normal with the trained tensor's mean and spread.
    """
    gen = torch.Generator().manual_seed(seed)
    new = {}
    for name, p in tensors.items():
        if name in done:
            continue
        if p.dim() >= 2:
            fan_in = p[0].numel()
            bound = 1.0 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) bound
            new[name] = (torch.rand(p.shape, generator=gen) * 2 - 1) * bound
        else:
            ref = p.detach().float().cpu()
            mean = float(ref.mean()) if ref.numel() else 0.0
            std = float(ref.std()) if ref.numel() > 1 else 0.0
            std = max(std, 0.1 * abs(mean), 1e-2)
            new[name] = mean + std * torch.randn(p.shape, generator=gen)
    return new


def reinit_layer(module, seed, norm="perturb", norm_std=0.5):
    """Re-initialise the tensors ``module`` owns, in place, reproducibly.

    Parameters
    ----------
    norm : "perturb" | "reset"
        Normalisation layers: ``"perturb"`` draws ``weight ~ N(1, norm_std)`` and
        ``bias ~ N(0, norm_std)`` (their own reset would make the layer an identity, which
        tests nothing); running statistics are kept. ``"reset"`` uses the layer's own reset
        (identity affine) and resets its running statistics: a fresh layer to train.
    """
    tensors = own_tensors(module)
    if is_norm_layer(module) and norm == "perturb":
        gen = torch.Generator().manual_seed(seed)
        new = {
            name: (1.0 if name == "weight" else 0.0)
            + norm_std * torch.randn(p.shape, generator=gen)
            for name, p in tensors.items()
        }
    else:
        new = {}
        if callable(getattr(module, "reset_parameters", None)):
            new = _reset_values(module, tensors, seed)
        new.update(_fallback_values(tensors, seed, new))
    with torch.no_grad():
        for name, p in tensors.items():
            p.copy_(new[name].to(dtype=p.dtype, device=p.device))
    if norm == "reset" and callable(getattr(module, "reset_running_stats", None)):
        module.reset_running_stats()


def randomize_in_place(model, layer_names, seed, norm="perturb", norm_std=0.5):
    modules = dict(model.named_modules())
    for name in layer_names:
        reinit_layer(modules[name], layer_seed(seed, name), norm=norm, norm_std=norm_std)
    return model
