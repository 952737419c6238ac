"""Per-trial attribution maps behind one entry point, :func:`attribute`.

Every method maps a batch of trials ``(n_trials, n_chans, n_times)`` and a target
class per trial to an array of the same shape (``band_ablation`` gives one value per
frequency band instead of per sample). The gradient and perturbation engines are
captum's; what is added here is what braindecode models need to get correct maps:

- DeepLIFT rules for every nonlinear torch call of a forward pass, functional calls
  included (see :mod:`neuroxai.attribution.deeplift`), so that completeness holds on
  the braindecode zoo (docs/zoo.rst lists the exceptions);
- GradCAM maps placed on the *time* axis of the input (braindecode's layers keep time
  on different axes), found by probing the layer, not by guessing from shapes;
- methods that are undefined for a model say so (:class:`MethodUndefinedError`,
  :class:`DegenerateMethodWarning`) instead of silently returning another method;
- frequency-band ablation and a model-free "envelope" control map;
- batching over trials with memory bounded by ``batch_size``, the model left exactly
  as it was (train/eval flags, hooks, parameters).
"""
from __future__ import annotations

import numpy as np
import torch

from .._core.batching import batch_slices, progress
from .._core.deprecation import deprecated_progress, deprecated_times
from .._core.labels import resolve_targets
from .._core.model import (
    as_module,
    check_finite_array,
    device_dtype,
    evaluating,
    predict_scores,
    probe_model,
)
from .._core.random import seeded
from .._core.validation import check_int
from .._utils import (
    ModelMismatchError,
    ShapeError,
    UnknownNameError,
    logger,
    verbose,
)
from ..models._fast import fast_view
from . import _gradient_methods, _perturbation_methods  # noqa: F401,E402  (register the methods)
from ._base import Attribution
from ._completeness import (  # noqa: F401  (public through this module)
    COMPLETENESS_FLOOR,
    relative_completeness_error,
)
from ._registry import (  # noqa: F401
    METHODS,
    AttributionMethod,
    _Context,
    _Plan,
    _quiet_captum,
    get_method,
    list_methods,
)

__all__ = ["attribute", "list_methods", "get_method", "METHODS", "AttributionMethod"]


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------
def _check_params(spec, method, params):
    unknown = sorted(set(params) - set(spec.defaults))
    if unknown:
        valid = ", ".join(map(repr, spec.defaults)) or "none (it takes no parameters)"
        raise UnknownNameError(
            f"Unknown parameter {unknown[0]!r} for method {method!r}. Its parameters are: "
            f"{valid}. See list_methods(params=True).")
    return {**spec.defaults, **params}


def output_names(trials, n_outputs, class_names):
    """Names of the model's outputs: the trials' classes when they are one per output."""
    names = list(trials.class_names)
    if len(names) == n_outputs:
        return names
    if class_names is not None:
        raise ModelMismatchError(
            f"{len(class_names)} class_names for a model with {n_outputs} outputs; pass one "
            "name per output, in the model's output order.")
    if trials.y is not None:
        logger.warning(
            f"The trials have {len(names)} classes {tuple(names)} but the model has "
            f"{n_outputs} outputs: pass class_names= (one per output, in the model's output "
            "order) so that labels and outputs line up.")
    return None


@verbose
def attribute(model, inst, target=None, method="deeplift", *, batch_size=32, y=None,
              class_names=None, info=None, tmin=None, picks="eeg", exclude="bads",
              times=None, progress=None, verbose=None, **params):
    """Per-trial attribution maps of a model's target output.

    Parameters
    ----------
    model : torch.nn.Module | braindecode.EEGClassifier
        Maps ``(batch, n_chans, n_times)`` to ``(batch, n_outputs)``. It is run in eval
        mode on its own device and dtype; its train/eval flags (per sub-module), hooks,
        parameters and ``requires_grad`` flags are the same afterwards.
    inst : mne.Epochs | braindecode windows dataset | Trials | array
        The trials (see :func:`neuroxai.data.as_trials`). Sampling rate, times (with the
        real ``tmin``), labels and class names come from Epochs, windows and Trials; an
        array may come with ``info``, ``tmin`` and ``y``.
    target : None | "labels" | int | str | array, shape (n_trials,)
        Output to explain: ``None`` each trial's predicted class, ``"labels"`` its true
        class, or an output index / class name for all trials or one per trial. Stored in
        ``coords["target"]``.
    method : str
        One of :func:`list_methods`; see ``list_methods(params=True)`` for the
        parameters of each and :data:`METHODS` for descriptions.
    batch_size : int
        Upper bound on the rows of one forward/backward pass. Methods that expand each
        trial (IG steps, SHAP baselines, noise samples, perturbations) process fewer
        trials per batch or chunk their expansion, so peak memory stays bounded.
    y : array, shape (n_trials,) | None
        Labels of an array's trials (ints, event codes or names), stored in ``coords["y"]``.
    class_names : list of str | None
        Names of the model's outputs, in output order (labels are encoded to match).
    info : mne.Info | None
        Channel info of an array's trials (gives ``sfreq``; needed for the MNE conversions).
    tmin : float | None
        Time of an array's first sample relative to the event, in s (needed with ``info``).
    picks, exclude :
        Channels to use (default: EEG without ``info["bads"]``), see
        :func:`neuroxai.data.as_trials`.
    times, progress :
        Deprecated: pass ``tmin``; progress bars follow ``verbose`` as in MNE.
    %(verbose)s
    **params
        Parameters of the method (see ``list_methods(params=True)``).

    Returns
    -------
    attribution : Attribution
        Axes ``("trial", "chan", "time")`` (``band_ablation``: ``("trial", "chan",
        "band")``), ``method``, ``params`` with defaults filled in, and ``coords`` with
        ``"target"`` and, where known, ``"y"``, ``"class_names"``, ``"time"``.

    Notes
    -----
    Stochastic methods (``gradient_shap``, ``smoothgrad``, ``vargrad``) are reproducible
    for a given ``seed`` and ``batch_size``; other methods do not depend on
    ``batch_size``.
    """
    from ..data._boundary import prepare_trials

    spec = get_method(method)
    model = as_module(model)
    resolved = _check_params(spec, method, params)
    batch_size = check_int(batch_size, "batch_size", 1)
    tmin = deprecated_times(times, tmin)
    deprecated_progress(progress)
    device, dtype = device_dtype(model)
    trials = prepare_trials(inst, y, info=info, tmin=tmin, class_names=class_names,
                            picks=picks, exclude=exclude, units=True,
                            need=("times",) if info is not None else (),
                            what=f"attribute(method={method!r})",
                            dtype=np.float64 if dtype == torch.float64 else np.float32)
    if len(trials) == 0:
        raise ShapeError("X has no trials.")
    X = trials.X.astype(np.float64) if dtype == torch.float64 else trials.X
    n_trials, n_chans, n_times = X.shape
    sfreq = trials.sfreq
    ch_names = None if trials.info is None else list(trials.info["ch_names"])

    # Same function, shared parameters, faster layers (see neuroxai.models._fast).
    model = fast_view(model)
    with evaluating(model):
        n_outputs = probe_model(model, X, sfreq=sfreq)
        names = output_names(trials, n_outputs, class_names)
        targets = resolve_targets(target, n_trials, n_outputs, names, trials.y)
        target_kind = "given" if target is not None else "predicted"
        if targets is None:
            targets = predict_scores(model, X, batch_size).argmax(1)
        ctx = _Context(model=model, X=X, device=device, dtype=dtype, n_outputs=n_outputs,
                       batch_size=batch_size, sfreq=sfreq, ch_names=ch_names, targets=targets)
        plan = spec.setup(ctx, resolved)
        result = _run_plan(plan, ctx, targets, method)
    if plan.finalize is not None:
        plan.finalize(ctx)
    check_finite_array(result, f"{method} attributions")

    coords = {"target": targets, **plan.coords}
    if trials.y is not None:
        coords["y"] = trials.y
    if names is not None:
        coords["class_names"] = names
    if trials.times is not None and "time" in plan.dims:
        coords["time"] = trials.times
    out_params = dict(plan.params or resolved)
    out_params["target"] = target_kind
    return Attribution(data=result, dims=plan.dims, info=trials.info, method=method,
                       params=out_params, coords=coords)


def _run_plan(plan, ctx, targets, method):
    """The plan's maps for all trials, batch by batch (memory bounded by the batch)."""
    out_shape = plan.out_shape or (ctx.n_chans, ctx.n_times)
    per = plan.trials_per_batch or ctx.batch_size
    result = np.empty((ctx.n_trials, *out_shape),
                      dtype=np.float64 if ctx.dtype == torch.float64 else np.float32)
    logger.debug(f"attribute: {method} on {ctx.n_trials} trials, {per} per batch, {ctx.device}")
    with torch.enable_grad(), _quiet_captum():
        for i, sl in enumerate(progress(batch_slices(ctx.n_trials, per), method)):
            xb = ctx.tensor(ctx.X[sl])
            tb = torch.as_tensor(targets[sl], device=ctx.device)
            if plan.seed is not None:
                with seeded(int(plan.seed) + i, ctx.device):
                    attr = plan.fn(xb, tb, sl)
            else:
                attr = plan.fn(xb, tb, sl)
            result[sl] = attr.detach().cpu().numpy()
    return result
