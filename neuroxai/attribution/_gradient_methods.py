"""Gradient-based methods of :func:`~neuroxai.attribution.attribute` (captum engines with
neuroxai's DeepLIFT rules, completeness records and layer probing)."""
from __future__ import annotations

import numpy as np
import torch

from .._core.model import (
    predict_scores,
)
from .._core.validation import check_float
from .._utils import (
    InvalidInputError,
    NeuroXAIError,
    logger,
    unknown_name,
)
from ._completeness import _Completeness, _denominator_floor, _output_change
from ._registry import (
    _LIBRARY_ERRORS,
    _as_numpy,
    _baseline_batch,
    _check_baseline,
    _guard,
    _Plan,
    _positive_int,
    _reference_set,
    _register,
    _require_relu,
    _undefined,
)


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
    error is at most ``tolerance`` or ``max_steps`` is reached. Models with an affine prefix
    (ShallowFBCSPNet, Deep4Net, EEGNet) integrate after it (:mod:`._ig_prefix`)."""
    from captum.attr import IntegratedGradients

    from ._ig_prefix import PrefixIntegratedGradients
    from .igc import _quadrature

    baseline, desc = _check_baseline(params["baseline"], ctx)
    n_steps, max_steps = _check_ig_steps(params)
    tolerance = check_float(params["tolerance"], "tolerance", 0.0, low_open=True)
    if params["integration"] not in _INTEGRATION:
        raise unknown_name("integration rule", params["integration"], _INTEGRATION)
    alg = IntegratedGradients(ctx.model)
    fast = PrefixIntegratedGradients(ctx.model, ctx.tensor(ctx.X[:2]), ctx.batch_size * 8)
    check = _Completeness(ctx, "integrated_gradients", "quadrature", tolerance)
    delta_all = _output_change(ctx, baseline)
    floor = _denominator_floor(delta_all)
    if n_steps is None:
        check.steps = np.zeros(ctx.n_trials, dtype=np.int64)

    def integrate(xb, bb, tb, steps):
        if fast.available:  # the same integral, the prefix run twice instead of per step
            return fast(xb, bb, tb, *_quadrature(params["integration"], steps))
        # internal_batch_size keeps each forward at batch_size rows whatever n_steps is.
        attr = alg.attribute(xb, baselines=bb, target=tb, n_steps=steps,
                             method=params["integration"],
                             internal_batch_size=max(ctx.batch_size, len(xb)))
        if params["integration"] == "riemann_trapezoid":
            # captum's trapezoid weights sum to (n - 1) / n (its end points get 1 / (2n), not
            # 1 / (2 (n - 1))): rescaled, the rule integrates constants exactly
            attr = attr * (steps / (steps - 1))
        return attr

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
    return _guard(check.plan(fn, {**params, "baseline": desc, "engine": fast.engine}),
                  "integrated_gradients", ctx)


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


def _relu_backward(ctx, name, cls_name):
    """A captum method that replaces ReLU's backward pass (defined for ReLU models only)."""
    import captum.attr

    _require_relu(ctx, name)
    alg = getattr(captum.attr, cls_name)(ctx.model)
    return _guard(_Plan(lambda xb, tb, sl: alg.attribute(xb, target=tb)), name, ctx)


@_register("guided_backprop",
           "Guided backpropagation (Springenberg et al., 2015); defined for ReLU models only.",
           "captum.attr.GuidedBackprop")
def _guided_backprop(ctx, params):
    return _relu_backward(ctx, "guided_backprop", "GuidedBackprop")


@_register("deconvolution",
           "DeconvNet backward pass (Zeiler & Fergus, 2014); defined for ReLU models only.",
           "captum.attr.Deconvolution")
def _deconvolution(ctx, params):
    return _relu_backward(ctx, "deconvolution", "Deconvolution")


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


