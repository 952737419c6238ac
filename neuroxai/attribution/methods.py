"""Per-trial attribution maps behind one entry point, :func:`attribute`.

Every method maps a batch of trials ``(n_trials, n_chans, n_times)`` and a target
class per trial to an array of the same shape (``band_ablation`` gives one value per
frequency band instead of per sample). The gradient and perturbation engines are
captum's; what is added here is what braindecode models need to get correct maps:

- DeepLIFT rescale rules for ``Square``, ``SafeLog``, ELU, ... (see
  :mod:`neuroxai.attribution.deeplift`), so that completeness holds on
  ShallowFBCSPNet, Deep4Net and EEGNet;
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
    worst_completeness: float = 0.0

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


def _check_completeness(ctx, attr, delta_f):
    err = (attr.sum(dim=(1, 2)) - delta_f).abs()
    scale = delta_f.abs().clamp_min(1e-6)
    ctx.worst_completeness = max(ctx.worst_completeness, float((err / scale).max()))


def _completeness_finalize(method):
    def finalize(ctx):
        tol = 10 * torch.finfo(ctx.dtype).eps ** 0.5
        logger.debug(f"{method}: worst relative completeness error {ctx.worst_completeness:.2e}")
        if ctx.worst_completeness > tol:
            warn_degenerate(
                f"{method}: sum of attributions differs from f(x) - f(baseline) by up to "
                f"{ctx.worst_completeness:.1%} (relative). Some nonlinearity of "
                f"{type(ctx.model).__name__} has no rescale rule (e.g. a functional call inside "
                "a forward()), so the map is partly input x gradient there."
            )
    return finalize


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


# --------------------------------------------------------------------------------------
# Gradient methods
# --------------------------------------------------------------------------------------
@_register("saliency", "Absolute input gradient |df/dx| (Simonyan et al., 2014).",
           "captum.attr.Saliency")
def _saliency(ctx, params):
    from captum.attr import Saliency

    alg = Saliency(ctx.model)
    return _Plan(lambda xb, tb, sl: alg.attribute(xb, target=tb, abs=True))


@_register("gradient", "Signed input gradient df/dx.", "captum.attr.Saliency(abs=False)")
def _gradient(ctx, params):
    from captum.attr import Saliency

    alg = Saliency(ctx.model)
    return _Plan(lambda xb, tb, sl: alg.attribute(xb, target=tb, abs=False))


@_register("input_x_gradient", "Input times gradient x * df/dx.", "captum.attr.InputXGradient")
def _input_x_gradient(ctx, params):
    from captum.attr import InputXGradient

    alg = InputXGradient(ctx.model)
    return _Plan(lambda xb, tb, sl: alg.attribute(xb, target=tb))


_INTEGRATION = ("gausslegendre", "riemann_trapezoid", "riemann_middle", "riemann_left",
                "riemann_right")


@_register("integrated_gradients",
           "Integrated gradients from a baseline (Sundararajan et al., 2017); complete.",
           "captum.attr.IntegratedGradients",
           {"baseline": None, "n_steps": 50, "integration": "gausslegendre"})
def _integrated_gradients(ctx, params):
    from captum.attr import IntegratedGradients

    baseline, desc = _check_baseline(params["baseline"], ctx)
    n_steps = _positive_int(params["n_steps"], "n_steps", 2)
    if params["integration"] not in _INTEGRATION:
        raise unknown_name("integration rule", params["integration"], _INTEGRATION)
    alg = IntegratedGradients(ctx.model)

    def fn(xb, tb, sl):
        # internal_batch_size keeps each forward at batch_size rows whatever n_steps is.
        return alg.attribute(
            xb, baselines=_baseline_batch(baseline, ctx, xb, sl), target=tb,
            n_steps=n_steps, method=params["integration"],
            internal_batch_size=max(ctx.batch_size, len(xb)),
        )
    return _Plan(fn, {**params, "baseline": desc})


@_register("deeplift",
           "DeepLIFT rescale rule (Shrikumar et al., 2017) with rules for braindecode's "
           "Square/SafeLog/ELU; complete.", "captum.attr.DeepLift + neuroxai rescale rules",
           {"baseline": None})
def _deeplift(ctx, params):
    from captum.attr import DeepLift

    baseline, desc = _check_baseline(params["baseline"], ctx)
    dl_model = _deeplift_model(ctx)
    alg = DeepLift(dl_model)

    def fn(xb, tb, sl):
        bb = _baseline_batch(baseline, ctx, xb, sl)
        attr = alg.attribute(xb, baselines=bb, target=tb)
        with torch.no_grad():
            rows = torch.arange(len(xb), device=xb.device)
            delta_f = ctx.model(xb)[rows, tb] - ctx.model(bb)[rows, tb]
        _check_completeness(ctx, attr.detach(), delta_f)
        return attr
    return _Plan(fn, {**params, "baseline": desc}, finalize=_completeness_finalize("deeplift"))


def _deeplift_model(ctx):
    from .deeplift import prepare_deeplift_model

    dl_model, _, unknown = prepare_deeplift_model(ctx.model)
    if unknown:
        warn_degenerate(
            "deeplift: no DeepLIFT rule for layer(s) "
            + ", ".join(f"{n!r} ({t})" for n, t in unknown)
            + "; the plain gradient passes through them (correct only if they are linear)."
        )
    return dl_model


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

    def fn(xb, tb, sl):
        attr = alg.attribute(xb, baselines=refs_t, target=tb)
        with torch.no_grad():
            rows = torch.arange(len(xb), device=xb.device)
            delta_f = ctx.model(xb)[rows, tb] - f_refs[tb]
        _check_completeness(ctx, attr.detach(), delta_f)
        return attr
    # each trial is expanded against every baseline (x2 for the references)
    per = max(1, ctx.batch_size // len(refs))
    return _Plan(fn, {**params, **desc}, trials_per_batch=per,
                 finalize=_completeness_finalize("deeplift_shap"))


@_register("gradient_shap",
           "Expected gradients on random points between x and baselines drawn from the data.",
           "captum.attr.GradientShap",
           {"n_baselines": 16, "baselines": None, "n_samples": 16, "stdevs": 0.0, "seed": 0},
           stochastic=True)
def _gradient_shap(ctx, params):
    from captum.attr import GradientShap

    refs, desc = _reference_set(ctx, params)
    n_samples = _positive_int(params["n_samples"], "n_samples")
    stdevs = float(params["stdevs"])
    if not np.isfinite(stdevs) or stdevs < 0:
        raise InvalidInputError(f"stdevs must be a finite number >= 0, got {stdevs}.")
    alg = GradientShap(ctx.model)
    refs_t = ctx.tensor(refs)

    def fn(xb, tb, sl):
        return alg.attribute(xb, baselines=refs_t, n_samples=n_samples, stdevs=stdevs, target=tb)
    per = max(1, ctx.batch_size // n_samples)
    return _Plan(fn, {**params, **desc}, trials_per_batch=per, seed=params["seed"])


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
    return _Plan(fn, {**params, "stdevs": stdevs}, trials_per_batch=per, seed=params["seed"])


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
    return _Plan(lambda xb, tb, sl: alg.attribute(xb, target=tb))


@_register("deconvolution",
           "DeconvNet backward pass (Zeiler & Fergus, 2014); defined for ReLU models only.",
           "captum.attr.Deconvolution")
def _deconvolution(ctx, params):
    from captum.attr import Deconvolution

    _require_relu(ctx, "deconvolution")
    alg = Deconvolution(ctx.model)
    return _Plan(lambda xb, tb, sl: alg.attribute(xb, target=tb))


def _gradcam_parts(ctx, params):
    from captum.attr import LayerGradCam

    from ._layers import auto_gradcam_layer, cam_to_input, layer_axes, resolve_layer

    x1 = ctx.tensor(ctx.X[:1])
    if params["layer"] is None:
        name, module = auto_gradcam_layer(ctx.model, x1)
        logger.info(f"gradcam: using layer {name!r} ({type(module).__name__})")
    else:
        name, module = resolve_layer(ctx.model, params["layer"])
    time_axis, chan_axis, shape = layer_axes(ctx.model, name, module, x1, ctx.n_chans)
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
    return _Plan(lambda xb, tb, sl: cam(xb, tb, relu), {**params, **info})


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
    return _Plan(fn, {**params, **info})


@_register("lrp", "Layer-wise relevance propagation, epsilon rule (Bach et al., 2015).",
           "captum.attr.LRP", {"epsilon": 1e-9})
def _lrp(ctx, params):
    from captum.attr import LRP

    from ._lrp import prepare_lrp_model

    epsilon = float(params["epsilon"])
    if not epsilon >= 0:
        raise InvalidInputError(f"epsilon must be >= 0, got {epsilon}.")
    lrp_model = prepare_lrp_model(ctx.model, epsilon)
    alg = LRP(lrp_model)
    return _Plan(lambda xb, tb, sl: alg.attribute(xb, target=tb), params)


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
    return _Plan(fn, {**params, "window_samples": window, "stride_samples": stride})


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
    return _Plan(fn, desc)


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
    return _Plan(fn, {"bands": dict(zip(names, map(tuple, edges.tolist()))), "sfreq": sfreq},
                 dims=("trial", "chan", "band"), out_shape=(ctx.n_chans, len(names)),
                 coords=coords)


@_register("envelope",
           "Model-free control: the amplitude envelope |hilbert(x)| of each channel. Any map "
           "that looks like this one may just be tracking signal power.",
           "scipy.signal.hilbert")
def _envelope(ctx, params):
    from scipy.signal import hilbert

    def fn(xb, tb, sl):
        env = np.abs(hilbert(xb.detach().cpu().numpy(), axis=-1))
        return torch.as_tensor(env, dtype=xb.dtype)
    return _Plan(fn)


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
                       batch_size=batch_size, sfreq=sfreq, ch_names=ch_names)
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
