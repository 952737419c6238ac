"""Encoder-side captum attributions, one map per latent (CEBRA's other attribution methods).

The methods are those of CEBRA's ``cebra.attribution`` besides the Jacobian ones, run
through captum with ``target`` = latent index. Each is one entry of a small registry,
:data:`LATENT_METHODS`: the captum engine, how to call it for one latent, and the options
recorded in the result's ``params``. (The method registry of :func:`~neuroxai.attribution.
attribute` does not fit: its methods explain a class output of a classifier, with targets,
completeness checks and model-specific rules.)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .._core.batching import batch_slices, progress
from .._core.model import device_dtype, probe_model
from .._core.random import check_seed, seeded
from .._core.validation import check_float, check_int, check_option
from .._utils import InvalidInputError, check_trials_array, logger, unknown_name, verbose
from ._base import Attribution
from .jacobian import (
    _TRANSFORMS,
    _Aggregator,
    _check_aggregate,
    _coords,
    _fill_doc,
    _map_dims,
    _prepare,
    _working_model,
)

__all__ = ["compute_latent_attributions", "LATENT_METHODS"]


@dataclass(frozen=True)
class _LatentMethod:
    """``make(captum.attr, model)`` builds the engine; ``run(engine, xb, latent, baseline,
    opts)`` attributes one latent of a batch; ``options`` are recorded in ``params``."""

    make: Callable
    run: Callable
    options: tuple = ()
    baselines: bool = True
    input_grad: bool = True  # the input needs requires_grad (captum warns if it must set it)


_METHODS = {
    # layer = the whole model, neuron = latent, like CEBRA
    "gradient": _LatentMethod(
        lambda attr, m: attr.NeuronGradient(m, m),
        lambda e, xb, k, b, o: e.attribute(xb, neuron_selector=k), baselines=False),
    "feature_ablation": _LatentMethod(
        lambda attr, m: attr.FeatureAblation(m),
        lambda e, xb, k, b, o: e.attribute(xb, baselines=b, target=k, feature_mask=o["mask"],
                                           perturbations_per_eval=o["perturbations_per_eval"]),
        ("feature_mask", "perturbations_per_eval"), input_grad=False),
    "integrated_gradients": _LatentMethod(
        lambda attr, m: attr.IntegratedGradients(m),
        lambda e, xb, k, b, o: e.attribute(xb, baselines=b, target=k, n_steps=o["n_steps"],
                                           internal_batch_size=o["batch_size"]),
        ("n_steps",)),
    "gradient_shap": _LatentMethod(
        lambda attr, m: attr.GradientShap(m),
        lambda e, xb, k, b, o: e.attribute(xb, baselines=b, target=k, n_samples=o["n_samples"],
                                           stdevs=o["stdevs"]),
        ("n_samples", "stdevs")),
}
#: Encoder-side captum methods of :func:`compute_latent_attributions`.
LATENT_METHODS = tuple(_METHODS)


def _feature_mask(feature_mask, n_chans, n_times, device):
    if feature_mask is None:
        return None, n_chans * n_times
    if isinstance(feature_mask, str):
        check_option("feature_mask", feature_mask, ("chan",))
        mask = np.repeat(np.arange(n_chans)[:, None], n_times, axis=1)
    else:
        mask = np.asarray(feature_mask)
        if mask.shape != (n_chans, n_times) or not np.issubdtype(mask.dtype, np.integer):
            raise InvalidInputError(
                f"feature_mask must be 'chan', None or an int array of shape ({n_chans}, "
                f"{n_times}) giving each sample's group, got shape {mask.shape}, dtype "
                f"{mask.dtype}.")
    return torch.as_tensor(mask[None], device=device, dtype=torch.long), len(np.unique(mask))


def _reference_inputs(baselines, X, method, rng):
    """Baselines as an array broadcastable to X (or a sample set for GradientShap)."""
    if baselines is None or (isinstance(baselines, str) and baselines == "zeros"):
        return np.zeros((1,) + X.shape[1:], X.dtype)
    if isinstance(baselines, str):
        if baselines != "shuffle":
            raise unknown_name("baselines", baselines, ["zeros", "shuffle"])
        # CEBRA's "shuffle": the data's values at random positions (seeded).
        return rng.permutation(X.ravel()).reshape(X.shape)
    b = check_trials_array(baselines[None] if np.ndim(baselines) == 2 else baselines, "baselines",
                           dtype=X.dtype)
    if b.shape[1:] != X.shape[1:] or (method != "gradient_shap" and len(b) not in (1, len(X))):
        raise InvalidInputError(
            f"baselines must have shape (n_chans, n_times) = {X.shape[1:]}, (1, ...) or (n_trials, "
            f"...) (any number of baselines for gradient_shap); got {b.shape}.")
    return b


def _check_latents(latents, n_latents):
    latents = list(range(n_latents)) if latents is None else [int(k) for k in
                                                              np.atleast_1d(latents)]
    bad = [k for k in latents if not 0 <= k < n_latents]
    if bad:
        raise InvalidInputError(f"latents {bad} are out of range: the model has {n_latents} "
                                "latents (0..n_latents-1).")
    return latents


def _params(method, opts, baselines, feature_mask, base):
    """JSON-friendly provenance (arrays are recorded as "custom")."""
    def label(v):
        return v if v is None or isinstance(v, str) else "custom"

    params = {name: (label(feature_mask) if name == "feature_mask" else opts[name])
              for name in _METHODS[method].options}
    if base is not None:
        params["baselines"] = label(baselines)
    return params


@verbose
@_fill_doc
def compute_latent_attributions(model, inst, method="gradient", *, latents=None,
                                aggregate="mean", transform="none", baselines=None, n_steps=50,
                                n_samples=5, stdevs=0.0, feature_mask="chan",
                                perturbations_per_eval=4, batch_size=32, seed=0, info=None,
                                tmin=None, picks="eeg", exclude="bads", verbose=None):
    """Encoder-side captum attributions, one map per latent (CEBRA's other methods).

    Parameters
    ----------
    model : torch.nn.Module
        Encoder ``(batch, n_chans, n_times) -> (batch, n_latents)``, run in eval mode on
        its own device; its train/eval flags are restored afterwards.
    %(encoder_trials)s
    method : "gradient" | "feature_ablation" | "integrated_gradients" | "gradient_shap"
        Captum engine: ``NeuronGradient`` (layer = the whole model, neuron =
        latent, like CEBRA), ``FeatureAblation``, ``IntegratedGradients`` or
        ``GradientShap`` with ``target`` = latent index.
    latents : list of int | None
        Latents to explain (default: all).
    aggregate : "mean" | "sum" | "max" | None
        Reduction over trials; ``None`` keeps one map per trial.
    transform : "none" | "abs"
        Applied to each trial's map before aggregation.
    baselines : None | "zeros" | "shuffle" | array
        Reference input of feature ablation, integrated gradients and gradient
        SHAP: zeros (default), CEBRA's "shuffle" (the data's values at random
        positions, seeded), or an array ``(n_chans, n_times)`` / ``(1 or n_trials,
        n_chans, n_times)`` (any number of baselines for gradient SHAP).
    n_steps : int
        Integration steps of integrated gradients.
    n_samples, stdevs : int, float
        Samples per input and noise level of gradient SHAP.
    feature_mask : "chan" | None | array of int, shape (n_chans, n_times)
        Groups ablated together by feature ablation: whole channels (default),
        every sample separately (``None``: n_chans * n_times forward passes per
        trial and latent — slow), or given groups.
    perturbations_per_eval : int
        Ablated copies per forward pass (feature ablation).
    batch_size : int
        Trials per batch (bounds peak memory; also captum's internal batch).
    seed : int
        Seeds "shuffle" baselines and gradient SHAP's sampling.
    %(encoder_channels)s
    %(verbose)s

    Returns
    -------
    attribution : Attribution
        Axes ``("latent", "chan", "time")``, or ``("trial", "latent", "chan",
        "time")`` with ``aggregate=None``; ``coords["latent"]`` holds the
        latent indices, ``coords["time"]`` the times in s where known.
    """
    import captum.attr

    check_option("method", method, LATENT_METHODS)
    spec = _METHODS[method]
    _check_aggregate(aggregate)
    check_option("transform", transform, _TRANSFORMS)
    opts = dict(batch_size=check_int(batch_size, "batch_size", 1),
                n_steps=check_int(n_steps, "n_steps", 1),
                n_samples=check_int(n_samples, "n_samples", 1),
                stdevs=check_float(stdevs, "stdevs", 0.0),
                perturbations_per_eval=check_int(perturbations_per_eval,
                                                 "perturbations_per_eval", 1))
    seed = check_seed(seed)
    model, trials, dtype = _prepare(model, inst, double_precision=False, info=info, tmin=tmin,
                                    picks=picks, exclude=exclude,
                                    what=f"compute_latent_attributions(method={method!r})")
    X = trials.X
    n, n_chans, n_times = X.shape
    base = (_reference_inputs(baselines, X, method, np.random.default_rng(seed))
            if spec.baselines else None)
    with _working_model(model, dtype) as work:
        device = device_dtype(work)[0]
        latents = _check_latents(latents, probe_model(work, X, sfreq=trials.sfreq,
                                                      kind="encoder"))
        opts["mask"], n_groups = _feature_mask(feature_mask, n_chans, n_times, device)
        if method == "feature_ablation" and n_groups > 1000:
            logger.warning(f"Feature ablation over {n_groups} groups: {n_groups} forward passes "
                           "per batch and latent. Pass feature_mask='chan' for a faster, coarser "
                           "map.")
        engine = spec.make(captum.attr, work)
        agg = _Aggregator(aggregate, transform, n, lambda maps: maps)
        for b_idx, sl in enumerate(progress(batch_slices(n, opts["batch_size"]), method)):
            xb = torch.as_tensor(X[sl], device=device, dtype=dtype)
            bb = None
            if base is not None:  # one baseline per trial, or one (a set) for all
                bb = torch.as_tensor(base[sl] if len(base) == n and method != "gradient_shap"
                                     else base, device=device, dtype=dtype)
            xb.requires_grad_(spec.input_grad)
            with seeded(seed + b_idx, device):  # GradientShap draws from the global RNGs
                maps = [spec.run(engine, xb, k, bb, opts).detach() for k in latents]
            agg.add(torch.stack(maps, dim=1))

    coords = _coords(trials, 0, per_trial=aggregate is None)
    coords["latent"] = np.asarray(latents)
    params = dict(aggregate=aggregate, transform=transform, batch_size=opts["batch_size"],
                  seed=seed, n_trials=int(n), latents=latents,
                  **_params(method, opts, baselines, feature_mask, base))
    return Attribution(agg.result(), _map_dims(aggregate), info=trials.info,
                       method=f"latent_{method}",
                       params=params, coords=coords)
