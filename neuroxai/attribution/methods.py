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

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

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
from .._core.selection import resolve_channel_groups
from .._core.validation import check_float, check_int, check_seconds
from .._utils import (
    InvalidInputError,
    MethodUndefinedError,
    ModelMismatchError,
    NeuroXAIError,
    ShapeError,
    UnknownNameError,
    check_finite,
    logger,
    unknown_name,
    verbose,
    warn_degenerate,
)
from ..models._fast import fast_view
from ._base import Attribution

__all__ = ["attribute", "list_methods", "get_method", "METHODS", "AttributionMethod"]

_DIMS = ("trial", "chan", "time")


@dataclass(frozen=True)
class AttributionMethod:
    """A registered attribution method.

    Attributes
    ----------
    name : str
        Name passed as ``attribute(..., method=name)``.
    description : str
        One line on what the map is.
    engine : str
        The library class doing the work (or ``"neuroxai"``).
    defaults : dict
        Method parameters and their defaults (pass them to :func:`attribute` as
        keyword arguments).
    stochastic : bool
        Whether the result depends on ``seed`` (and on how trials are batched).
    """

    name: str
    description: str
    engine: str
    defaults: dict
    setup: Callable = field(repr=False, compare=False)
    stochastic: bool = False

    @property
    def params(self):
        return dict(self.defaults)


METHODS: dict = {}


def _register(name, description, engine, defaults=None, stochastic=False):
    def deco(setup):
        METHODS[name] = AttributionMethod(
            name=name, description=description, engine=engine,
            defaults=dict(defaults or {}), setup=setup, stochastic=stochastic,
        )
        return setup
    return deco


def list_methods(params=False):
    """List the attribution methods.

    Parameters
    ----------
    params : bool
        If True, return ``{name: {param: default}}`` instead of the names.

    Returns
    -------
    names : list of str | dict
        Sorted method names, or their parameters with defaults.
    """
    if params:
        return {n: dict(METHODS[n].defaults) for n in sorted(METHODS)}
    return sorted(METHODS)


def get_method(name):
    """Return the :class:`AttributionMethod` called ``name``.

    Raises :class:`~neuroxai.UnknownNameError` listing the valid names.
    """
    if not isinstance(name, str) or name not in METHODS:
        raise unknown_name("attribution method", name, METHODS)
    return METHODS[name]


# --------------------------------------------------------------------------------------
# Execution context
# --------------------------------------------------------------------------------------
@dataclass
class _Context:
    model: nn.Module
    X: np.ndarray
    device: torch.device
    dtype: torch.dtype
    n_outputs: int
    batch_size: int
    sfreq: float | None = None
    ch_names: list | None = None
    targets: np.ndarray | None = None  # the output explained for each trial

    @property
    def n_trials(self):
        return self.X.shape[0]

    @property
    def n_chans(self):
        return self.X.shape[1]

    @property
    def n_times(self):
        return self.X.shape[2]

    def tensor(self, arr):
        return torch.as_tensor(np.asarray(arr), dtype=self.dtype, device=self.device)


@dataclass
class _Plan:
    fn: Callable  # fn(xb, tb, sl) -> Tensor
    params: dict = field(default_factory=dict)  # resolved parameters (for provenance)
    trials_per_batch: int | None = None
    seed: int | None = None
    dims: tuple = _DIMS
    out_shape: tuple | None = None  # per trial, if not (n_chans, n_times)
    coords: dict = field(default_factory=dict)
    finalize: Callable | None = None


@contextlib.contextmanager
def _quiet_captum():
    # captum announces every hook it sets and that it enables input gradients;
    # these messages are about its internals, not the user's data.
    with warnings.catch_warnings():
        for msg in (r"Setting forward, backward hooks", r"Setting backward hooks",
                    r"Input Tensor \d+ did not already require", r"Internal batch size",
                    r".*backward hook.*", r"Attempting to normalize"):
            warnings.filterwarnings("ignore", message=msg)
        yield


# --------------------------------------------------------------------------------------
# Parameter helpers
# --------------------------------------------------------------------------------------
def _positive_int(value, name, minimum=1):
    return check_int(value, name, minimum)


def _as_numpy(arr):
    if torch.is_tensor(arr):
        return arr.detach().cpu().numpy()
    return np.asarray(arr)


def _check_baseline(baseline, ctx, name="baseline"):
    """None | float | array (n_chans, n_times) | (n_trials, n_chans, n_times)."""
    if baseline is None:
        return None, "zeros"
    if torch.is_tensor(baseline):
        baseline = baseline.detach().cpu().numpy()
    if np.ndim(baseline) == 0:
        value = float(baseline)
        check_finite(np.array(value), name)
        return value, value
    arr = _as_numpy(baseline)
    shape_ok = (arr.shape == (ctx.n_chans, ctx.n_times)
                or arr.shape == (1, ctx.n_chans, ctx.n_times)
                or arr.shape == (ctx.n_trials, ctx.n_chans, ctx.n_times))
    if not shape_ok:
        raise ShapeError(
            f"{name} has shape {arr.shape}; it must be a scalar, (n_chans, n_times) = "
            f"{(ctx.n_chans, ctx.n_times)} (one reference for all trials) or (n_trials, "
            f"n_chans, n_times) = {(ctx.n_trials, ctx.n_chans, ctx.n_times)} (one per trial)."
        )
    check_finite(arr, name)
    arr = arr.reshape((-1, ctx.n_chans, ctx.n_times))
    return arr, f"array{arr.shape}"


def _baseline_batch(baseline, ctx, xb, sl):
    if baseline is None:
        return torch.zeros_like(xb)
    if isinstance(baseline, float):
        return torch.full_like(xb, baseline)
    if baseline.shape[0] == 1:
        return ctx.tensor(baseline).expand_as(xb).contiguous()
    return ctx.tensor(baseline[sl])


def _reference_set(ctx, params):
    """Baselines for the SHAP variants: given, or drawn from the trials (seeded)."""
    baselines = params.get("baselines")
    if baselines is not None:
        arr = _as_numpy(baselines)
        if arr.ndim != 3 or arr.shape[1:] != (ctx.n_chans, ctx.n_times) or len(arr) < 1:
            raise ShapeError(
                f"baselines has shape {arr.shape}; it must be (n_baselines, n_chans, n_times) "
                f"with n_chans, n_times = {(ctx.n_chans, ctx.n_times)}."
            )
        check_finite(arr, "baselines")
        return arr, {"baselines": f"array{arr.shape}", "n_baselines": len(arr)}
    n = _positive_int(params["n_baselines"], "n_baselines")
    seed = params["seed"]
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(ctx.n_trials, size=n, replace=n > ctx.n_trials))
    return ctx.X[idx], {"baselines": "drawn from X", "baseline_trials": idx.tolist()}


# --------------------------------------------------------------------------------------
# Completeness: the sum of a map equals the output change it explains
# --------------------------------------------------------------------------------------
#: Floor of the relative completeness error's denominator, as a fraction of the median
#: ``|f(x) - f(b)|`` over the trials: a trial whose output hardly moves from its baseline
#: would otherwise turn a negligible absolute error into an arbitrarily large relative one.
COMPLETENESS_FLOOR = 0.01


def relative_completeness_error(attr_sums, delta_f, floor=COMPLETENESS_FLOOR):
    """``|sum attr - delta_f| / max(|delta_f|, floor * median |delta_f|)`` per trial."""
    delta_f = np.asarray(delta_f, dtype=np.float64)
    scale = np.abs(delta_f)
    lowest = max(floor * float(np.median(scale)), np.finfo(np.float64).tiny)
    return np.abs(np.asarray(attr_sums, dtype=np.float64) - delta_f) / np.maximum(scale, lowest)


def _denominator_floor(delta_f):
    return max(COMPLETENESS_FLOOR * float(np.median(np.abs(delta_f))), np.finfo(np.float64).tiny)


class _Completeness:
    """The completeness record of one :func:`attribute` call, written into its result.

    ``kind`` is what completeness means for the method: ``"exact"`` (DeepLIFT: holds up
    to rounding, so any excess names a nonlinearity without a rule), ``"quadrature"``
    (integrated gradients: the error of the numerical path integral, judged on the median
    over trials against ``tolerance``) or ``"expectation"`` (GradientSHAP: the map is a
    Monte Carlo estimate whose sum equals ``f(x) - E f(b)`` in expectation only; reported
    with its standard error).
    """

    def __init__(self, ctx, method, kind, tolerance=None, dl_model=None):
        self.method, self.kind, self.dl_model = method, kind, dl_model
        self.tolerance = (10 * torch.finfo(ctx.dtype).eps ** 0.5 if tolerance is None
                          else tolerance)
        self.sums = np.zeros(ctx.n_trials)
        self.delta = np.zeros(ctx.n_trials)
        self.se = np.zeros(ctx.n_trials) if kind == "expectation" else None
        self.steps = None  # per-trial steps of n_steps="auto"
        self.params, self.coords = {}, {}

    def record(self, sl, attr, delta_f, se=None):
        self.sums[sl] = _as_numpy(attr.detach().double().sum(dim=(1, 2)))
        self.delta[sl] = _as_numpy(delta_f.detach().double())
        if se is not None:
            self.se[sl] = se

    def plan(self, fn, params, **kwargs):
        """A :class:`_Plan` whose result carries this record (params and coords)."""
        self.params = params
        return _Plan(fn, params, coords=self.coords, finalize=self.finalize, **kwargs)

    def finalize(self, ctx):
        rel = relative_completeness_error(self.sums, self.delta)
        med, top = float(np.median(rel)), float(rel.max())
        self.coords["completeness_error"] = rel
        summary = {"kind": self.kind, "median": med, "max": top, "tolerance": self.tolerance,
                   "floor": COMPLETENESS_FLOOR}
        logger.debug(f"{self.method}: relative completeness error median {med:.2e}, "
                     f"max {top:.2e}")
        if self.kind == "exact":
            summary["statistic"] = "max"
            if top > self.tolerance:
                warn_degenerate(
                    f"{self.method}: the sum of attributions differs from f(x) - f(baseline) by "
                    f"{med:.2%} (median over trials) and up to {top:.2%} (relative) on "
                    f"{type(ctx.model).__name__}. {self._cause()} The map is partly input x "
                    "gradient there; 'integrated_gradients' needs no rules.")
        elif self.kind == "quadrature":
            self._finalize_quadrature(rel, med, top, summary)
        else:
            self._finalize_expectation(rel, med, top, summary)
        self.params["completeness"] = summary

    def _cause(self):
        unhandled = self.dl_model.unhandled() if self.dl_model is not None else []
        if not unhandled:
            return ("Every call had a DeepLIFT rule; the difference comes from rounding or from "
                    "an operation that mixes trials.")
        where = "; ".join(f"{call} in {mod or 'the top level'}: {why}"
                          for call, mod, why, _ in unhandled[:8])
        more = f" (and {len(unhandled) - 8} more)" if len(unhandled) > 8 else ""
        return f"These calls ran without a DeepLIFT rule: {where}{more}."

    def _finalize_quadrature(self, rel, med, top, summary):
        summary["statistic"] = "median"
        steps = self.params.get("n_steps")
        if self.steps is not None:
            self.coords["n_steps"] = self.steps.copy()
            cap = self.params["max_steps"]
            stuck = (self.steps >= cap) & (rel > self.tolerance)
            self.params["n_steps_needed"] = int(self.steps.max())
            summary["n_capped"] = int(stuck.sum())
            if stuck.any():
                warn_degenerate(
                    f"{self.method}: n_steps='auto' reached max_steps={cap} on {stuck.sum()} of "
                    f"{len(rel)} trial(s) with their completeness error still above the "
                    f"tolerance {self.tolerance:.2%} (median over all trials {med:.2%}, max "
                    f"{top:.2%}). Raise max_steps, or use a baseline closer to the data (the "
                    "path from a zero baseline crosses the model's log(power) near zero, "
                    "where the integrand is steepest).")
                return
        if med > self.tolerance:
            warn_degenerate(
                f"{self.method}: the sum of attributions misses f(x) - f(baseline) by {med:.2%} "
                f"(median over trials; max {top:.2%}) with n_steps={steps}, above the "
                f"tolerance {self.tolerance:.2%}: the path integral is under-resolved. Pass "
                "n_steps='auto' (steps are doubled per trial until its error is below the "
                "tolerance) or more steps.")

    def _finalize_expectation(self, rel, med, top, summary):
        se = self.se / np.maximum(np.abs(self.delta), _denominator_floor(self.delta))
        z = rel / np.maximum(se, np.finfo(np.float64).tiny)
        self.coords["completeness_se"] = se
        summary.update(statistic="median", median_se=float(np.median(se)),
                       median_z=float(np.median(z)))
        n_samples = self.params.get("n_samples")
        if summary["median_z"] > 3:
            warn_degenerate(
                f"{self.method}: the attribution sums miss f(x) - E f(baseline) by {med:.2%} "
                f"(median over trials; max {top:.2%}), {summary['median_z']:.1f} Monte Carlo "
                "standard errors: more than sampling explains. With stdevs > 0 the maps "
                "explain f(x + noise), not f(x) (set stdevs=0); otherwise the model is not "
                "differentiable along the sampled paths.")
        elif med > self.tolerance:
            warn_degenerate(
                f"{self.method}: completeness holds in expectation only; with "
                f"n_samples={n_samples} the attribution sums miss f(x) - E f(baseline) by "
                f"{med:.2%} (median over trials; max {top:.2%}; Monte Carlo standard error "
                f"{summary['median_se']:.2%}), above the tolerance {self.tolerance:.2%}. The "
                "maps are noisy estimates: raise n_samples (the error falls as "
                "1/sqrt(n_samples)).")


def _output_change(ctx, baseline):
    """``f_t(x) - f_t(b)`` of every trial at its target (float64), batched, no gradients."""
    rows = np.arange(ctx.n_trials)
    fx = predict_scores(ctx.model, ctx.X, ctx.batch_size).astype(np.float64)[rows, ctx.targets]
    if baseline is None or isinstance(baseline, float):
        value = 0.0 if baseline is None else baseline
        baseline = np.full((1, ctx.n_chans, ctx.n_times), value, dtype=ctx.X.dtype)
    fb = predict_scores(ctx.model, baseline.astype(ctx.X.dtype, copy=False), ctx.batch_size)
    fb = fb.astype(np.float64)
    return fx - (fb[0, ctx.targets] if len(fb) == 1 else fb[rows, ctx.targets])


def _nonlinear_modules(model):
    from .deeplift import rescale_rule_for

    return [(n, type(m).__name__) for n, m in model.named_modules()
            if n and rescale_rule_for(m) is not None]


def _require_relu(ctx, method):
    relus = [n for n, m in ctx.model.named_modules() if isinstance(m, nn.ReLU)]
    others = [(n, t) for n, t in _nonlinear_modules(ctx.model) if t != "ReLU"]
    listed = ", ".join(f"{n!r} ({t})" for n, t in others) or "none found"
    if not relus:
        raise MethodUndefinedError(
            f"{method} is undefined for {type(ctx.model).__name__}: it modifies the backward "
            f"pass of nn.ReLU modules only, and this model has none (its nonlinear layers: "
            f"{listed}). Here it would equal method='gradient'; use that, or 'deeplift' / "
            "'integrated_gradients'."
        )
    if others:
        warn_degenerate(
            f"{method}: only the nn.ReLU layers of {type(ctx.model).__name__} are modified; "
            f"the plain gradient passes through {listed}."
        )


_LIBRARY_ERRORS = (RuntimeError, ValueError, TypeError, IndexError, AssertionError,
                   NotImplementedError)


def _undefined(method, ctx, err, hint):
    return MethodUndefinedError(
        f"{method} failed on {type(ctx.model).__name__}: {type(err).__name__}: {err}. "
        f"{hint}")


def _guard(plan, method, ctx, hint="Try method='integrated_gradients' or 'occlusion', which "
           "only run the model's own forward and backward passes."):
    """Turn a library error inside a batch (captum's hooks on a model they do not fit,
    an in-place operation, ...) into a MethodUndefinedError that says which method and
    model and what to use instead; neuroxai's own errors pass unchanged."""
    fn = plan.fn

    def run(xb, tb, sl):
        try:
            return fn(xb, tb, sl)
        except NeuroXAIError:
            raise
        except _LIBRARY_ERRORS as err:
            raise _undefined(method, ctx, err, hint) from err
    plan.fn = run
    return plan


# --------------------------------------------------------------------------------------
# Gradient methods
# --------------------------------------------------------------------------------------
@_register("saliency", "Absolute input gradient |df/dx| (Simonyan et al., 2014).",
           "captum.attr.Saliency")
def _saliency(ctx, params):
    from captum.attr import Saliency

    alg = Saliency(ctx.model)
    plan = _Plan(lambda xb, tb, sl: alg.attribute(xb, target=tb, abs=True))
    return _guard(plan, "saliency", ctx)


@_register("gradient", "Signed input gradient df/dx.", "captum.attr.Saliency(abs=False)")
def _gradient(ctx, params):
    from captum.attr import Saliency

    alg = Saliency(ctx.model)
    plan = _Plan(lambda xb, tb, sl: alg.attribute(xb, target=tb, abs=False))
    return _guard(plan, "gradient", ctx)


@_register("input_x_gradient", "Input times gradient x * df/dx.", "captum.attr.InputXGradient")
def _input_x_gradient(ctx, params):
    from captum.attr import InputXGradient

    alg = InputXGradient(ctx.model)
    plan = _Plan(lambda xb, tb, sl: alg.attribute(xb, target=tb))
    return _guard(plan, "input_x_gradient", ctx)


_INTEGRATION = ("gausslegendre", "riemann_trapezoid", "riemann_middle", "riemann_left",
                "riemann_right")


#: n_steps="auto": the first number of steps tried, doubled per trial until its completeness
#: error is below the tolerance.
_AUTO_FIRST_STEPS = 16


def _check_ig_steps(params):
    max_steps = _positive_int(params["max_steps"], "max_steps", 2)
    n_steps = params["n_steps"]
    if isinstance(n_steps, str):
        if n_steps != "auto":
            raise InvalidInputError(
                f"n_steps must be an integer >= 2 or 'auto', got {n_steps!r}.")
        return None, max_steps
    return _positive_int(n_steps, "n_steps", 2), max_steps


@_register("integrated_gradients",
           "Integrated gradients from a baseline (Sundararajan et al., 2017); complete up to "
           "the quadrature error, which is reported (n_steps='auto' bounds it).",
           "captum.attr.IntegratedGradients",
           {"baseline": None, "n_steps": 50, "integration": "gausslegendre", "tolerance": 0.01,
            "max_steps": 512})
def _integrated_gradients(ctx, params):
    """Completeness error per trial: ``|sum attr - (f(x) - f(b))| / max(|f(x) - f(b)|, 1 %
    of its median over trials)``; ``tolerance`` applies to its median over trials.
    ``n_steps="auto"`` starts at 16 steps and doubles them, per trial, until that trial's
    error is at most ``tolerance`` or ``max_steps`` is reached."""
    from captum.attr import IntegratedGradients

    baseline, desc = _check_baseline(params["baseline"], ctx)
    n_steps, max_steps = _check_ig_steps(params)
    tolerance = check_float(params["tolerance"], "tolerance", 0.0, low_open=True)
    if params["integration"] not in _INTEGRATION:
        raise unknown_name("integration rule", params["integration"], _INTEGRATION)
    alg = IntegratedGradients(ctx.model)
    check = _Completeness(ctx, "integrated_gradients", "quadrature", tolerance)
    delta_all = _output_change(ctx, baseline)
    floor = _denominator_floor(delta_all)
    if n_steps is None:
        check.steps = np.zeros(ctx.n_trials, dtype=np.int64)

    def integrate(xb, bb, tb, steps):
        # internal_batch_size keeps each forward at batch_size rows whatever n_steps is.
        return alg.attribute(xb, baselines=bb, target=tb, n_steps=steps,
                             method=params["integration"],
                             internal_batch_size=max(ctx.batch_size, len(xb)))

    def fn(xb, tb, sl):
        bb = _baseline_batch(baseline, ctx, xb, sl)
        delta = torch.as_tensor(delta_all[sl], device=xb.device)
        if n_steps is not None:
            attr = integrate(xb, bb, tb, n_steps)
            check.record(sl, attr, delta)
            return attr
        # each trial's own error decides its steps, so the map does not depend on batching
        attr, todo, steps = torch.empty_like(xb), torch.arange(len(xb)), _AUTO_FIRST_STEPS
        while True:
            attr[todo] = integrate(xb[todo], bb[todo], tb[todo], steps).detach()
            check.steps[sl][todo.numpy()] = steps
            err = (attr[todo].double().sum(dim=(1, 2)) - delta[todo]).abs()
            todo = todo[(err / delta[todo].abs().clamp_min(floor) > tolerance).cpu()]
            if len(todo) == 0 or steps >= max_steps:
                break
            steps = min(2 * steps, max_steps)
        check.record(sl, attr, delta)
        return attr
    return _guard(check.plan(fn, {**params, "baseline": desc}), "integrated_gradients", ctx)


@_register("deeplift",
           "DeepLIFT rescale rule (Shrikumar et al., 2017) with rules for every elementwise "
           "function, products, maxima and normalisations of the forward pass; complete.",
           "captum.attr.DeepLift + neuroxai rescale rules",
           {"baseline": None})
def _deeplift(ctx, params):
    from captum.attr import DeepLift

    baseline, desc = _check_baseline(params["baseline"], ctx)
    dl_model = _deeplift_model(ctx)
    alg = DeepLift(dl_model)

    check = _Completeness(ctx, "deeplift", "exact", dl_model=dl_model)

    def fn(xb, tb, sl):
        bb = _baseline_batch(baseline, ctx, xb, sl)
        attr = alg.attribute(xb, baselines=bb, target=tb)
        with torch.no_grad():
            rows = torch.arange(len(xb), device=xb.device)
            delta_f = ctx.model(xb)[rows, tb] - ctx.model(bb)[rows, tb]
        check.record(sl, attr, delta_f)
        return attr
    return _guard(check.plan(fn, {**params, "baseline": desc}), "deeplift", ctx,
                  _DEEPLIFT_HINT)


_DEEPLIFT_HINT = ("DeepLIFT runs the model on inputs and references in one forward pass; use "
                  "method='integrated_gradients', which needs no such pass.")


def _deeplift_model(ctx):
    from .deeplift import prepare_deeplift_model

    return prepare_deeplift_model(ctx.model)


@_register("deeplift_shap",
           "DeepLIFT averaged over baselines drawn from the data (Lundberg & Lee, 2017).",
           "captum.attr.DeepLiftShap + neuroxai rescale rules",
           {"n_baselines": 16, "baselines": None, "seed": 0})
def _deeplift_shap(ctx, params):
    from captum.attr import DeepLiftShap

    refs, desc = _reference_set(ctx, params)
    dl_model = _deeplift_model(ctx)
    alg = DeepLiftShap(dl_model)
    refs_t = ctx.tensor(refs)
    with torch.no_grad():
        f_refs = torch.cat([ctx.model(refs_t[i:i + ctx.batch_size])
                            for i in range(0, len(refs_t), ctx.batch_size)]).mean(0)

    check = _Completeness(ctx, "deeplift_shap", "exact", dl_model=dl_model)

    def fn(xb, tb, sl):
        attr = alg.attribute(xb, baselines=refs_t, target=tb)
        with torch.no_grad():
            rows = torch.arange(len(xb), device=xb.device)
            delta_f = ctx.model(xb)[rows, tb] - f_refs[tb]
        check.record(sl, attr, delta_f)
        return attr
    # each trial is expanded against every baseline (x2 for the references)
    per = max(1, ctx.batch_size // len(refs))
    return _guard(check.plan(fn, {**params, **desc}, trials_per_batch=per), "deeplift_shap",
                  ctx, _DEEPLIFT_HINT)


@_register("gradient_shap",
           "Expected gradients on random points between x and baselines drawn from the data; "
           "complete in expectation (the Monte Carlo error is reported).",
           "captum.attr.GradientShap",
           {"n_baselines": 16, "baselines": None, "n_samples": 16, "stdevs": 0.0, "seed": 0,
            "tolerance": 0.05},
           stochastic=True)
def _gradient_shap(ctx, params):
    """Completeness in expectation: the mean over samples of each sample's attribution sum
    estimates ``f(x) - E_b f(b)`` (b uniform over the reference set). Each trial's standard
    error combines the spread of captum's per-sample deltas (the path points) with the
    spread of ``f(b)`` over the references (the drawn baselines); the two are uncorrelated
    because each delta has mean 0 given its baseline."""
    from captum.attr import GradientShap

    refs, desc = _reference_set(ctx, params)
    n_samples = _positive_int(params["n_samples"], "n_samples")
    stdevs = float(params["stdevs"])
    if not np.isfinite(stdevs) or stdevs < 0:
        raise InvalidInputError(f"stdevs must be a finite number >= 0, got {stdevs}.")
    tolerance = check_float(params["tolerance"], "tolerance", 0.0, low_open=True)
    alg = GradientShap(ctx.model)
    refs_t = ctx.tensor(refs)
    f_refs = predict_scores(ctx.model, refs, ctx.batch_size).astype(np.float64)
    ref_mean, ref_var = f_refs.mean(0), f_refs.var(0)
    f_x = predict_scores(ctx.model, ctx.X, ctx.batch_size).astype(np.float64)
    rows = np.arange(ctx.n_trials)
    delta_all = f_x[rows, ctx.targets] - ref_mean[ctx.targets]
    check = _Completeness(ctx, "gradient_shap", "expectation", tolerance)

    def fn(xb, tb, sl):
        attr, deltas = alg.attribute(xb, baselines=refs_t, n_samples=n_samples, stdevs=stdevs,
                                     target=tb, return_convergence_delta=True)
        # captum orders the deltas by trial, then by sample
        spread = _as_numpy(deltas.detach().double()).reshape(len(xb), n_samples)
        spread = spread.var(axis=1, ddof=1) if n_samples > 1 else np.zeros(len(xb))
        se = np.sqrt((spread + ref_var[ctx.targets[sl]]) / n_samples)
        check.record(sl, attr, torch.as_tensor(delta_all[sl]), se)
        return attr
    per = max(1, ctx.batch_size // n_samples)
    return _guard(check.plan(fn, {**params, **desc}, trials_per_batch=per,
                             seed=params["seed"]), "gradient_shap", ctx)


def _noise_tunnel(ctx, params, nt_type):
    from captum.attr import NoiseTunnel, Saliency

    nt_samples = _positive_int(params["nt_samples"], "nt_samples")
    stdevs = params["stdevs"]
    if stdevs is None:
        # 20 % of the data's spread, the middle of the 10-20 % SmoothGrad recommends;
        # taken over all trials so that every batch gets the same noise level.
        stdevs = 0.2 * float(ctx.X.std())
    stdevs = float(stdevs)
    if not np.isfinite(stdevs) or stdevs < 0:
        raise InvalidInputError(f"stdevs must be a finite number >= 0, got {stdevs}.")
    alg = NoiseTunnel(Saliency(ctx.model))
    per = max(1, ctx.batch_size // nt_samples)
    chunk = max(1, min(nt_samples, ctx.batch_size // per))

    def fn(xb, tb, sl):
        return alg.attribute(xb, nt_type=nt_type, nt_samples=nt_samples,
                             nt_samples_batch_size=chunk, stdevs=stdevs, target=tb, abs=False)
    plan = _Plan(fn, {**params, "stdevs": stdevs}, trials_per_batch=per, seed=params["seed"])
    return _guard(plan, nt_type, ctx)


@_register("smoothgrad", "Gradient averaged over noisy copies of x (Smilkov et al., 2017).",
           "captum.attr.NoiseTunnel(Saliency)", {"nt_samples": 25, "stdevs": None, "seed": 0},
           stochastic=True)
def _smoothgrad(ctx, params):
    return _noise_tunnel(ctx, params, "smoothgrad")


@_register("vargrad", "Variance of the gradient over noisy copies of x (Adebayo et al., 2018).",
           "captum.attr.NoiseTunnel(Saliency)", {"nt_samples": 25, "stdevs": None, "seed": 0},
           stochastic=True)
def _vargrad(ctx, params):
    return _noise_tunnel(ctx, params, "vargrad")


@_register("guided_backprop",
           "Guided backpropagation (Springenberg et al., 2015); defined for ReLU models only.",
           "captum.attr.GuidedBackprop")
def _guided_backprop(ctx, params):
    from captum.attr import GuidedBackprop

    _require_relu(ctx, "guided_backprop")
    alg = GuidedBackprop(ctx.model)
    plan = _Plan(lambda xb, tb, sl: alg.attribute(xb, target=tb))
    return _guard(plan, "guided_backprop", ctx)


@_register("deconvolution",
           "DeconvNet backward pass (Zeiler & Fergus, 2014); defined for ReLU models only.",
           "captum.attr.Deconvolution")
def _deconvolution(ctx, params):
    from captum.attr import Deconvolution

    _require_relu(ctx, "deconvolution")
    alg = Deconvolution(ctx.model)
    plan = _Plan(lambda xb, tb, sl: alg.attribute(xb, target=tb))
    return _guard(plan, "deconvolution", ctx)


def _gradcam_parts(ctx, params):
    from captum.attr import LayerGradCam

    from ._layers import auto_gradcam_layer, cam_to_input, layer_axes, resolve_layer

    x1 = ctx.tensor(ctx.X[:1])
    try:  # the probes run the model with forward hooks on its layers
        if params["layer"] is None:
            name, module = auto_gradcam_layer(ctx.model, x1)
            logger.info(f"gradcam: using layer {name!r} ({type(module).__name__})")
        else:
            name, module = resolve_layer(ctx.model, params["layer"])
        time_axis, chan_axis, shape = layer_axes(ctx.model, name, module, x1, ctx.n_chans)
    except NeuroXAIError:
        raise
    except _LIBRARY_ERRORS as err:
        raise _undefined("gradcam", ctx, err, "Pass layer= with a convolutional layer that "
                         "keeps a time axis.") from err
    alg = LayerGradCam(ctx.model, module)

    def cam(xb, tb, relu):
        c = alg.attribute(xb, target=tb, relu_attributions=relu)
        return cam_to_input(c, time_axis, chan_axis, ctx.n_chans, ctx.n_times)
    info = {"layer": name, "layer_shape": shape, "layer_time_axis": time_axis,
            "layer_chan_axis": chan_axis}
    return cam, info


@_register("gradcam",
           "Grad-CAM at a layer (Selvaraju et al., 2017), upsampled along time and "
           "broadcast over channels unless the layer keeps a channel axis.",
           "captum.attr.LayerGradCam", {"layer": None, "relu": True})
def _gradcam(ctx, params):
    cam, info = _gradcam_parts(ctx, params)
    relu = bool(params["relu"])
    plan = _Plan(lambda xb, tb, sl: cam(xb, tb, relu), {**params, **info})
    return _guard(plan, "gradcam", ctx)


@_register("guided_gradcam", "Guided backprop times Grad-CAM; defined for ReLU models only.",
           "captum.attr.GuidedBackprop x LayerGradCam", {"layer": None})
def _guided_gradcam(ctx, params):
    from captum.attr import GuidedBackprop

    _require_relu(ctx, "guided_gradcam")
    cam, info = _gradcam_parts(ctx, params)
    gbp = GuidedBackprop(ctx.model)

    def fn(xb, tb, sl):
        # captum's GuidedGradCam resamples the map bilinearly onto (chan, time), which
        # puts a braindecode layer's time axis on the channels; ours keeps it on time.
        return gbp.attribute(xb, target=tb) * cam(xb, tb, True)
    plan = _Plan(fn, {**params, **info})
    return _guard(plan, "guided_gradcam", ctx)


@_register("lrp", "Layer-wise relevance propagation, epsilon rule (Bach et al., 2015).",
           "captum.attr.LRP", {"epsilon": 1e-9})
def _lrp(ctx, params):
    from captum.attr import LRP

    from ._lrp import prepare_lrp_model

    epsilon = float(params["epsilon"])
    if not epsilon >= 0:
        raise InvalidInputError(f"epsilon must be >= 0, got {epsilon}.")
    try:
        lrp_model = prepare_lrp_model(ctx.model, epsilon)
    except NeuroXAIError:
        raise
    except _LIBRARY_ERRORS as err:  # converting a layer for captum's LRP
        raise _undefined("lrp", ctx, err, "Use method='deeplift' instead.") from err
    alg = LRP(lrp_model)
    plan = _Plan(lambda xb, tb, sl: alg.attribute(xb, target=tb), params)
    return _guard(plan, "lrp", ctx)


# --------------------------------------------------------------------------------------
# Perturbation methods
# --------------------------------------------------------------------------------------
@_register("occlusion",
           "Output drop when a window (in seconds) of one channel is replaced by a baseline "
           "value (Zeiler & Fergus, 2014); stride defaults to the window, overlapping "
           "windows are averaged. Costs n_chans * n_times / stride forwards per trial.",
           "captum.attr.Occlusion", {"window": 0.5, "stride": None, "baseline": 0.0})
def _occlusion(ctx, params):
    from captum.attr import Occlusion

    if ctx.sfreq is None:
        raise InvalidInputError(
            "occlusion's window and stride are in seconds and X is a bare array: pass info= "
            "(or Epochs / Trials) so that they can be converted to samples.")
    window = check_seconds(params["window"], "window", ctx.sfreq, maximum_samples=ctx.n_times)
    stride = window if params["stride"] is None else check_seconds(
        params["stride"], "stride", ctx.sfreq, maximum_samples=ctx.n_times)
    baseline = check_float(params["baseline"], "baseline")
    alg = Occlusion(ctx.model)

    def fn(xb, tb, sl):
        with torch.no_grad():
            return alg.attribute(xb, sliding_window_shapes=(1, window), strides=(1, stride),
                                 baselines=baseline, target=tb,
                                 perturbations_per_eval=max(1, ctx.batch_size // len(xb)))
    plan = _Plan(fn, {**params, "window_samples": window, "stride_samples": stride})
    return _guard(plan, "occlusion", ctx)


@_register("feature_ablation",
           "Output drop when each channel (or channel group) is replaced by a baseline "
           "value; the drop is given to every sample of the group.",
           "captum.attr.FeatureAblation", {"groups": None, "baseline": 0.0})
def _feature_ablation(ctx, params):
    from captum.attr import FeatureAblation

    groups, labels = resolve_channel_groups(params["groups"], ctx.ch_names, ctx.n_chans)
    mask = np.full(ctx.n_chans, len(groups), dtype=np.int64)  # ungrouped channels: last id
    for i, g in enumerate(groups):
        mask[g] = i
    n_ids = int(mask.max()) + 1
    grouped = torch.as_tensor(mask < len(groups), device=ctx.device)
    mask_t = torch.as_tensor(mask, device=ctx.device)[None, :, None].expand(
        1, ctx.n_chans, ctx.n_times)
    baseline = float(params["baseline"])
    alg = FeatureAblation(ctx.model)

    def fn(xb, tb, sl):
        with torch.no_grad():
            attr = alg.attribute(xb, baselines=baseline, target=tb, feature_mask=mask_t,
                                 perturbations_per_eval=max(1, ctx.batch_size // len(xb)))
        if n_ids > len(groups):
            attr = attr * grouped[None, :, None]  # channels outside every group: 0
        return attr
    desc = {**params, "groups": groups}
    if labels is not None:
        desc["group_names"] = labels
    plan = _Plan(fn, desc)
    return _guard(plan, "feature_ablation", ctx)


@_register("band_ablation",
           "Output drop when one frequency band of one channel is removed (zeroed in the "
           "rfft domain). Result axes (trial, chan, band), one value per band.",
           "neuroxai (torch.fft)", {"bands": None, "sfreq": None})
def _band_ablation(ctx, params):
    from ._perturbation import band_ablation_batch, check_bands

    sfreq = params["sfreq"] if params["sfreq"] is not None else ctx.sfreq
    if sfreq is None:
        raise InvalidInputError(
            "band_ablation needs the sampling frequency: pass sfreq= or info=.")
    sfreq = float(sfreq)
    names, edges, masks = check_bands(params["bands"], sfreq, ctx.n_times)

    def fn(xb, tb, sl):
        return band_ablation_batch(ctx.model, xb, tb, masks, ctx.batch_size)
    coords = {"band": list(names), "band_edges": edges}
    plan = _Plan(fn, {"bands": dict(zip(names, map(tuple, edges.tolist()))), "sfreq": sfreq},
                 dims=("trial", "chan", "band"), out_shape=(ctx.n_chans, len(names)),
                 coords=coords)
    return _guard(plan, "band_ablation", ctx)


@_register("envelope",
           "Model-free control: the amplitude envelope |hilbert(x)| of each channel. Any map "
           "that looks like this one may just be tracking signal power.",
           "scipy.signal.hilbert")
def _envelope(ctx, params):
    from scipy.signal import hilbert

    def fn(xb, tb, sl):
        env = np.abs(hilbert(xb.detach().cpu().numpy(), axis=-1))
        return torch.as_tensor(env, dtype=xb.dtype)
    plan = _Plan(fn)
    return _guard(plan, "envelope", ctx)


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
    inst : mne.Epochs | braindecode windows dataset | Trials | array, shape (n_trials, n_chans, n_times)
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
