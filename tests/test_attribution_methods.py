"""Tests of neuroxai.attribution.methods (per-trial attribution engine).

Tolerances: completeness of DeepLIFT is checked on float64 model copies to 1e-9
relative (measured ~1e-15); IG completeness to 1e-6 relative with Gauss-Legendre at
16 steps, and its error must shrink with n_steps.
"""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from neuroxai._utils import (
    DegenerateMethodWarning,
    InvalidInputError,
    LayerNotFoundError,
    MethodUndefinedError,
    ModelMismatchError,
    NonFiniteError,
    ShapeError,
    TargetError,
    UnknownNameError,
)
from neuroxai.attribution.methods import METHODS, attribute, get_method, list_methods

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*montage.*"),
    pytest.mark.filterwarnings("ignore:The inplace keyword"),  # wfdb, via braindecode import
]

N_CHANS = 3


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread):
    """Every test of this module runs on one torch thread (see conftest)."""


def _make(name, dtype=torch.float64, **kw):
    from braindecode.models import Deep4Net, EEGNet, ShallowFBCSPNet

    cls, n_times = {"shallow": (ShallowFBCSPNet, 300), "deep4": (Deep4Net, 500),
                    "eegnet": (EEGNet, 250)}[name]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cls(n_chans=N_CHANS, n_outputs=3, n_times=n_times, **kw)
    _randomize_bn(model)
    return model.to(dtype).eval(), n_times


def _randomize_bn(model):
    # Non-trivial running statistics, so that eval-mode batch norm is a real affine map.
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def _data(n_trials, n_times, seed=0):
    return np.random.default_rng(seed).standard_normal((n_trials, N_CHANS, n_times))


def _f(model, x, target):
    with torch.no_grad():
        out = model(torch.as_tensor(np.array(x), dtype=next(model.parameters()).dtype))
    return out[np.arange(len(out)), target].numpy()


def _info(sfreq):
    import mne

    return mne.create_info(N_CHANS, sfreq, "eeg")


def _attr(*args, **kw):
    kw.setdefault("verbose", "error")
    return attribute(*args, **kw)


@pytest.fixture(scope="module")
def shallow():
    return _make("shallow")


@pytest.fixture(scope="module")
def relu_shallow():
    """ShallowFBCSPNet with ReLU and identity pool nonlinearity: a ReLU/linear model."""
    return _make("shallow", conv_nonlin=nn.ReLU, activation_pool_nonlin=nn.Identity)


# ---------------------------------------------------------------------------------------
# Completeness
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["shallow", "deep4", "eegnet"])
@pytest.mark.parametrize("baseline_kind", ["zeros", "random"])
def test_deeplift_completeness(name, baseline_kind):
    model, n_times = _make(name)
    X = _data(3, n_times)
    target = np.array([0, 1, 2])
    if baseline_kind == "zeros":
        baseline, ref = None, np.zeros((N_CHANS, n_times))
    else:
        ref = 0.5 * _data(1, n_times, seed=5)[0]
        baseline = ref
    attr = _attr(model, X, target, "deeplift", baseline=baseline)
    delta = _f(model, X, target) - _f(model, np.broadcast_to(ref, X.shape), target)
    err = np.abs(attr.data.sum(axis=(1, 2)) - delta)
    assert np.all(err <= 1e-9 * np.maximum(1, np.abs(delta))), (err, delta)
    assert np.abs(delta).max() > 1e-3  # the check is not vacuous


def test_deeplift_completeness_float32_and_shap():
    model, n_times = _make("shallow", dtype=torch.float32)
    X = _data(3, n_times).astype(np.float32)
    attr = _attr(model, X, 1, "deeplift")
    delta = _f(model, X, 1) - _f(model, np.zeros_like(X), 1)
    np.testing.assert_allclose(attr.data.sum(axis=(1, 2)), delta, rtol=1e-4, atol=1e-5)
    # DeepLiftShap: completeness against the mean output over the drawn baselines
    model64, _ = _make("shallow")
    shap = _attr(model64, X, 1, "deeplift_shap", n_baselines=3, seed=0)
    refs = X.astype(np.float64)[shap.params["baseline_trials"]]
    expected = _f(model64, X, 1) - _f(model64, refs, 1).mean()
    np.testing.assert_allclose(shap.data.sum(axis=(1, 2)), expected, rtol=1e-9, atol=1e-12)


def test_deeplift_vs_braindecode_on_shallow(shallow):
    """braindecode's deep_lift treats Square/SafeLog as linear (= input x gradient)."""
    from braindecode.visualization.attribution import deep_lift

    model, n_times = shallow
    X = _data(3, n_times)
    target = np.array([0, 1, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = deep_lift(model, torch.as_tensor(X), torch.as_tensor(target)).numpy()
    ixg = _attr(model, X, target, "input_x_gradient").data
    ours = _attr(model, X, target, "deeplift").data
    delta = _f(model, X, target) - _f(model, np.zeros_like(X), target)
    np.testing.assert_allclose(theirs, ixg, rtol=1e-6, atol=1e-12)
    assert not np.allclose(ours, theirs, rtol=1e-2)
    np.testing.assert_allclose(ours.sum(axis=(1, 2)), delta, rtol=1e-9)
    assert np.abs(theirs.sum(axis=(1, 2)) - delta).max() > 1e-2 * np.abs(delta).max()


def test_deeplift_equals_braindecode_on_relu_model(relu_shallow):
    from braindecode.visualization.attribution import deep_lift

    model, n_times = relu_shallow
    X = _data(3, n_times)
    ref = 0.3 * _data(3, n_times, seed=3)
    target = np.array([2, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = deep_lift(model, torch.as_tensor(X), torch.as_tensor(target),
                           baseline=torch.as_tensor(ref)).numpy()
    ours = _attr(model, X, target, "deeplift", baseline=ref).data
    np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-12)


def test_integrated_gradients_completeness_shrinks_with_steps(shallow):
    model, n_times = shallow
    X = _data(2, n_times)
    ref = 0.5 * _data(1, n_times, seed=7)[0]
    delta = _f(model, X, 1) - _f(model, ref[None], 1)

    def err(n_steps, integration):
        a = _attr(model, X, 1, "integrated_gradients", baseline=ref, n_steps=n_steps,
                  integration=integration)
        return np.abs(a.data.sum(axis=(1, 2)) - delta).max()

    # trapezoid rule: first order in 1/n_steps with captum's scheme
    e16, e128 = err(16, "riemann_trapezoid"), err(128, "riemann_trapezoid")
    assert e128 < e16 / 4
    assert e128 < 0.02 * np.abs(delta).max()
    # Gauss-Legendre (the default) converges much faster
    e4, e16g = err(4, "gausslegendre"), err(16, "gausslegendre")
    assert e16g < e4 / 100
    assert e16g < 1e-6 * np.abs(delta).max()


# ---------------------------------------------------------------------------------------
# Oracles: braindecode.visualization where it is right, linear models
# ---------------------------------------------------------------------------------------
def test_saliency_and_ig_match_braindecode(shallow):
    from braindecode.visualization import attribution as bd

    model, n_times = shallow
    X = _data(3, n_times)
    target = np.array([1, 0, 2])
    xt, tt = torch.as_tensor(X), torch.as_tensor(target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sal = bd.saliency(model, xt, tt).numpy()
        ig = bd.integrated_gradients(model, xt, tt, steps=20).numpy()
    np.testing.assert_allclose(_attr(model, X, target, "saliency").data, sal, rtol=1e-10)
    # braindecode runs captum, which weights the steps in float32 (~1e-8 relative); the
    # float64 path integral itself is checked to 1e-10 in tests/test_ig_prefix.py
    np.testing.assert_allclose(
        _attr(model, X, target, "integrated_gradients", n_steps=20).data, ig, rtol=2e-7,
        atol=1e-9 * np.abs(ig).max())


class _Linear(nn.Module):
    def __init__(self, n_chans, n_times, n_out=2):
        super().__init__()
        self.fc = nn.Linear(n_chans * n_times, n_out)

    def forward(self, x):
        return self.fc(x.flatten(1))


@pytest.fixture(scope="module")
def linear():
    torch.manual_seed(0)
    n_times = 64
    model = _Linear(N_CHANS, n_times).double().eval()
    w = model.fc.weight.detach().numpy().reshape(2, N_CHANS, n_times)
    return model, w, n_times


def test_linear_model_gradient_methods(linear):
    model, w, n_times = linear
    X = _data(4, n_times)
    ref = _data(1, n_times, seed=2)[0]
    t = np.array([0, 1, 1, 0])
    wt = w[t]
    np.testing.assert_allclose(_attr(model, X, t, "gradient").data, wt, rtol=1e-12)
    np.testing.assert_allclose(_attr(model, X, t, "saliency").data, np.abs(wt), rtol=1e-12)
    np.testing.assert_allclose(_attr(model, X, t, "input_x_gradient").data, X * wt, rtol=1e-12)
    for method in ("integrated_gradients", "deeplift"):
        a = _attr(model, X, t, method, baseline=ref).data
        np.testing.assert_allclose(a, (X - ref) * wt, rtol=1e-9, atol=1e-14)


def test_linear_model_perturbation_methods(linear):
    model, w, n_times = linear
    X = _data(2, n_times)
    t = np.array([1, 0])
    wt = w[t]
    tol = {"rtol": 1e-6, "atol": 1e-9}  # captum's ablation divides in float32 (.float())
    # channel ablation to 0: drop = sum_t w x over the channel, given to all its samples
    fa = _attr(model, X, t, "feature_ablation").data
    np.testing.assert_allclose(fa, np.repeat((wt * X).sum(-1, keepdims=True), n_times, -1),
                               **tol)
    groups = _attr(model, X, t, "feature_ablation", groups=[[0, 2]]).data
    drop02 = (wt * X)[:, [0, 2]].sum(axis=(1, 2))
    np.testing.assert_allclose(groups[:, 0, 0], drop02, **tol)
    np.testing.assert_allclose(groups[:, 1], 0)
    # occlusion with non-overlapping windows: each window's drop on all its samples
    # (window and stride in seconds: 16 samples at 64 Hz)
    occ = _attr(model, X, t, "occlusion", window=0.25, stride=0.25, info=_info(64.0),
                tmin=0.0).data
    expected = np.repeat((wt * X).reshape(2, N_CHANS, 4, 16).sum(-1), 16, axis=-1)
    np.testing.assert_allclose(occ, expected, **tol)
    # band ablation: the drop is w . (band component of the channel), explicit rfft
    sfreq = 64.0
    bands = {"low": (1, 8), "high": (8, 20)}
    ba = _attr(model, X, t, "band_ablation", bands=bands, sfreq=sfreq)
    assert ba.dims == ("trial", "chan", "band")
    assert ba.shape == (2, N_CHANS, 2)
    freqs = np.fft.rfftfreq(n_times, 1 / sfreq)
    for k, (lo, hi) in enumerate(bands.values()):
        spec = np.fft.rfft(X, axis=-1) * ((freqs >= lo) & (freqs <= hi))
        comp = np.fft.irfft(spec, n=n_times, axis=-1)
        np.testing.assert_allclose(ba.data[..., k], (wt * comp).sum(-1), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(ba.coords["band_edges"], [[1, 8], [8, 20]])
    assert ba.coords["band"] == ["low", "high"]


def test_envelope_is_hilbert_amplitude(linear):
    from scipy.signal import hilbert

    model, _, n_times = linear
    X = _data(3, n_times)
    env = _attr(model, X, 0, "envelope")
    np.testing.assert_allclose(env.data, np.abs(hilbert(X, axis=-1)), rtol=1e-10)


# ---------------------------------------------------------------------------------------
# GradCAM and methods that are undefined on braindecode models
# ---------------------------------------------------------------------------------------
def test_gradcam_maps_layer_time_onto_input_time(shallow):
    from braindecode.visualization.attribution import layer_grad_cam
    from captum.attr import LayerGradCam

    model, n_times = shallow
    X = _data(2, n_times)
    a = _attr(model, X, 1, "gradcam", layer="pool_nonlin_exp", relu=False)
    assert a.params["layer"] == "pool_nonlin_exp"
    assert a.params["layer_time_axis"] == 2 and a.params["layer_chan_axis"] is None
    # the same on every channel, varying along time
    np.testing.assert_allclose(a.data, np.broadcast_to(a.data[:, :1], a.data.shape))
    assert np.ptp(a.data[0, 0]) > 0
    # = captum's raw cam (B, 1, T', 1), linearly upsampled along time
    x = torch.as_tensor(X)
    raw = LayerGradCam(model, model.pool_nonlin_exp).attribute(x, target=1).detach()
    assert raw.shape[2] > 1 and raw.shape[3] == 1
    up = nn.functional.interpolate(raw[:, 0, :, :1].transpose(1, 2), size=n_times,
                                   mode="linear", align_corners=False)[:, 0]
    np.testing.assert_allclose(a.data[:, 0], up.numpy(), rtol=1e-10, atol=1e-14)
    # braindecode's version puts the layer's time axis on the channels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = layer_grad_cam(model, x, torch.tensor([1, 1]), model.pool_nonlin_exp).numpy()
    assert np.ptp(theirs[0, :, 0]) > 0  # varies across channels at a fixed time


def test_gradcam_deep4_time_axis():
    model, n_times = _make("deep4")
    X = _data(2, n_times)
    a = _attr(model, X, 0, "gradcam", layer="nonlin_3", relu=False)
    assert a.params["layer_time_axis"] == 2 and a.params["layer_chan_axis"] is None
    np.testing.assert_allclose(a.data, np.broadcast_to(a.data[:, :1], a.data.shape))
    assert np.ptp(a.data[0, 0]) > 0
    auto = _attr(model, X, 0, "gradcam")  # default: last layer that still has time
    assert auto.params["layer"] == "nonlin_4"


def test_gradcam_eegnet_time_last_axis_and_channel_axis():
    model, n_times = _make("eegnet")
    X = _data(2, n_times)
    a = _attr(model, X, 0, "gradcam", layer="pool_2", relu=False)
    assert a.params["layer_time_axis"] == 3
    np.testing.assert_allclose(a.data, np.broadcast_to(a.data[:, :1], a.data.shape))
    assert np.ptp(a.data[0, 0]) > 0
    # before the spatial conv the layer keeps one row per EEG channel
    b = _attr(model, X, 0, "gradcam", layer="bnorm_temporal", relu=False)
    assert b.params["layer_chan_axis"] == 2 and b.params["layer_time_axis"] == 3
    assert np.ptp(b.data[0, :, 100]) > 0


@pytest.mark.parametrize("method", ["guided_backprop", "deconvolution", "guided_gradcam", "lrp"])
def test_undefined_methods_name_the_layer(shallow, method):
    model, n_times = shallow
    with pytest.raises(MethodUndefinedError, match="conv_nonlin_exp"):
        _attr(model, _data(2, n_times), 0, method)


def test_lrp_and_guided_methods_on_relu_model(relu_shallow):
    model, n_times = relu_shallow
    X = _data(2, n_times)
    t = np.array([0, 2])
    lrp = _attr(model, X, t, "lrp", epsilon=1e-12).data
    ixg = _attr(model, X, t, "input_x_gradient").data
    # LRP-epsilon equals input x gradient on piecewise-linear nets as epsilon -> 0
    np.testing.assert_allclose(lrp, ixg, rtol=1e-5, atol=1e-10)
    gbp = _attr(model, X, t, "guided_backprop").data
    grad = _attr(model, X, t, "gradient").data
    assert not np.allclose(gbp, grad)
    ggc = _attr(model, X, t, "guided_gradcam", layer="bnorm").data
    cam = _attr(model, X, t, "gradcam", layer="bnorm").data
    np.testing.assert_allclose(ggc, gbp * cam, rtol=1e-10, atol=1e-16)


def test_guided_backprop_warns_on_mixed_nonlinearities():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(N_CHANS, 4, 5), nn.ReLU(), nn.Conv1d(4, 4, 5), nn.ELU(),
                          nn.Flatten(), nn.Linear(4 * 24, 2)).double().eval()
    with pytest.warns(DegenerateMethodWarning, match=r"'3' \(ELU\)"):
        _attr(model, _data(2, 32), 0, "guided_backprop")


def test_deeplift_rule_for_a_functional_power():
    """x ** 3 inside a forward() has a rescale rule now (the call is seen, not the module):
    completeness holds exactly; calls without a rule are named (tests/test_zoo.py)."""
    class Pow3(nn.Module):
        def forward(self, x):
            return x ** 3

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(N_CHANS, 4, 5), Pow3(), nn.Flatten(),
                          nn.Linear(4 * 28, 2)).double().eval()
    X = _data(2, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateMethodWarning)
        attr = _attr(model, X, 0, "deeplift", baseline=0.5).data
    delta = _f(model, X, [0, 0]) - _f(model, np.full_like(X, 0.5), [0, 0])
    np.testing.assert_allclose(attr.sum(axis=(1, 2)), delta, rtol=1e-9)


# ---------------------------------------------------------------------------------------
# Batching, memory bound, model untouched
# ---------------------------------------------------------------------------------------
DETERMINISTIC = ["saliency", "gradient", "input_x_gradient", "integrated_gradients", "deeplift",
                 "deeplift_shap", "gradcam", "feature_ablation", "occlusion", "band_ablation",
                 "envelope"]


@pytest.mark.parametrize("method", DETERMINISTIC)
def test_batch_size_independence(shallow, method):
    model, n_times = shallow
    X = _data(5, n_times)
    kw = {"integrated_gradients": {"n_steps": 8}, "deeplift_shap": {"n_baselines": 2},
          "occlusion": {"window": 0.4, "info": _info(250.0), "tmin": 0.0},
          "band_ablation": {"sfreq": 250.0},
          "gradcam": {"relu": False}}.get(method, {})
    t = np.array([0, 1, 2, 0, 1])
    a = _attr(model, X, t, method, batch_size=3, **kw).data
    b = _attr(model, X, t, method, batch_size=50, **kw).data
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("method", ["smoothgrad", "vargrad", "gradient_shap"])
def test_stochastic_methods_are_seeded(shallow, method):
    model, n_times = shallow
    X = _data(2, n_times)
    kw = {"nt_samples": 3} if method != "gradient_shap" else {"n_samples": 3, "n_baselines": 2}
    a = _attr(model, X, 0, method, seed=1, **kw).data
    b = _attr(model, X, 0, method, seed=1, **kw).data
    c = _attr(model, X, 0, method, seed=2, **kw).data
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("method, kw, factor", [
    ("integrated_gradients", {"n_steps": 16}, 1),
    ("deeplift", {}, 2),  # captum runs inputs and references in one pass
    ("deeplift_shap", {"n_baselines": 2}, 2),
    ("smoothgrad", {"nt_samples": 6}, 1),
    ("gradient_shap", {"n_samples": 3, "n_baselines": 2}, 1),
    ("band_ablation", {"sfreq": 250.0}, 1),
    ("feature_ablation", {}, 1),
    ("occlusion", {"window": 0.4, "info": _info(250.0), "tmin": 0.0}, 1),
])
def test_forward_rows_bounded_by_batch_size(shallow, method, kw, factor):
    model, n_times = shallow
    rows = []
    handle = model.ensuredims.register_forward_pre_hook(
        lambda m, inp: rows.append(inp[0].shape[0]))
    try:
        _attr(model, _data(7, n_times), 1, method, batch_size=4, **kw)
    finally:
        handle.remove()
    assert rows  # (deeplift's prepared deep copy carries the hook along)
    assert max(rows) <= 4 * factor


def _snapshot(model):
    return ({k: v.clone() for k, v in model.state_dict().items()},
            [m.training for m in model.modules()],
            [p.requires_grad for p in model.parameters()])


def _assert_untouched(model, snap):
    state, flags, req = snap
    now = model.state_dict()
    assert now.keys() == state.keys()
    for k in state:
        torch.testing.assert_close(now[k], state[k], rtol=0, atol=0)
    assert [m.training for m in model.modules()] == flags
    assert [p.requires_grad for p in model.parameters()] == req
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
        assert not m._backward_hooks and not getattr(m, "_backward_pre_hooks", {})
        assert not hasattr(m, "rule") and not hasattr(m, "input") and not hasattr(m, "output")
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name", ["shallow", "eegnet", "relu"])
def test_model_untouched(name):
    if name == "relu":
        model, n_times = _make("shallow", conv_nonlin=nn.ReLU, activation_pool_nonlin=nn.Identity)
    else:
        model, n_times = _make(name)
    model.train()
    model.final_layer.eval()  # mixed flags must come back as they were
    next(model.parameters()).requires_grad_(False)
    snap = _snapshot(model)
    X = _data(2, n_times)
    for method in ["deeplift", "integrated_gradients", "gradcam", "lrp", "guided_backprop",
                   "saliency", "occlusion"]:
        kw = {"n_steps": 4} if method == "integrated_gradients" else {}
        if method == "occlusion":
            kw = {"window": n_times // 2 / 100.0, "info": _info(100.0), "tmin": 0.0}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                _attr(model, X, 0, method, **kw)
            except MethodUndefinedError:
                pass
        _assert_untouched(model, snap)
    with torch.no_grad():  # still usable (parametrized EEGNet weights intact)
        model.eval()(torch.as_tensor(X))


def test_attribute_under_no_grad_and_tensor_input(shallow):
    model, n_times = shallow
    X = _data(2, n_times)
    ref = _attr(model, X, 1, "saliency").data
    with torch.no_grad():
        got = _attr(model, torch.as_tensor(X), torch.tensor([1, 1]), "saliency").data
    np.testing.assert_allclose(got, ref)


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------
def test_bad_inputs(shallow):
    model, n_times = shallow
    X = _data(2, n_times)
    with pytest.raises(UnknownNameError, match="'deeplift'"):
        _attr(model, X, 0, "deep_lift")
    with pytest.raises(UnknownNameError, match="n_steps"):
        _attr(model, X, 0, "integrated_gradients", nsteps=3)
    with pytest.raises(TargetError, match="0..2"):
        _attr(model, X, 3, "saliency")
    with pytest.raises(TargetError):
        _attr(model, X, [0, -1], "saliency")
    with pytest.raises(ShapeError, match="target"):
        _attr(model, X, [0, 1, 2], "saliency")
    with pytest.raises(ShapeError, match="baseline"):
        _attr(model, X, 0, "deeplift", baseline=np.zeros((N_CHANS, n_times - 1)))
    with pytest.raises(ShapeError, match="baselines"):
        _attr(model, X, 0, "deeplift_shap", baselines=np.zeros((N_CHANS, n_times)))
    with pytest.raises(LayerNotFoundError, match="pool_nonlin_exp"):
        _attr(model, X, 0, "gradcam", layer="pool_nonlin")
    bad = X.copy()
    bad[0, 1, 5] = np.nan
    with pytest.raises(NonFiniteError):
        _attr(model, bad, 0, "saliency")
    bad[0, 1, 5] = np.inf
    with pytest.raises(NonFiniteError):
        _attr(model, bad, 0, "deeplift")
    with pytest.raises(ShapeError, match="n_trials"):
        _attr(model, X[0], 0, "saliency")
    with pytest.raises(ModelMismatchError):
        _attr(model, _data(2, n_times)[:, :2], 0, "saliency")  # wrong channel count
    with pytest.raises(ModelMismatchError, match="2-D"):
        _attr(nn.Identity(), X, 0, "saliency")
    with pytest.raises(ModelMismatchError):
        _attr(model, X, 0, "saliency", class_names=["a", "b"])
    with pytest.raises(Exception, match="sfreq"):
        _attr(model, X, 0, "band_ablation")


def test_registry():
    names = list_methods()
    expected = {"saliency", "gradient", "input_x_gradient", "integrated_gradients", "deeplift",
                "deeplift_shap", "gradient_shap", "smoothgrad", "vargrad", "guided_backprop",
                "deconvolution", "gradcam", "guided_gradcam", "lrp", "occlusion",
                "feature_ablation", "band_ablation", "envelope"}
    assert set(names) == expected == set(METHODS)
    params = list_methods(params=True)
    assert params["integrated_gradients"]["n_steps"] == 50
    assert params["deeplift_shap"]["n_baselines"] == 16
    assert get_method("deeplift").defaults == {"baseline": None}
    with pytest.raises(UnknownNameError, match="'saliency'"):
        get_method("salency")


# ---------------------------------------------------------------------------------------
# Result container and MNE conversion
# ---------------------------------------------------------------------------------------
def test_attribution_to_mne(shallow):
    import mne

    model, n_times = shallow
    info = mne.create_info(["C3", "Cz", "C4"], 250.0, "eeg")
    info.set_montage("colin27_1020")
    X = _data(4, n_times)
    y = np.array([0, 1, 0, 2])
    names = ["left_hand", "right_hand", "feet"]
    a = _attr(model, X, y, "integrated_gradients", n_steps=4, y=y, class_names=names, info=info,
              tmin=-0.5)
    assert a.dims == ("trial", "chan", "time") and a.shape == X.shape
    assert a.method == "integrated_gradients"
    assert a.params["n_steps"] == 4 and a.params["integration"] == "gausslegendre"
    np.testing.assert_array_equal(a.coords["target"], y)
    np.testing.assert_allclose(a.coords["time"], -0.5 + np.arange(n_times) / 250.0)
    with pytest.raises(InvalidInputError, match="tmin"):  # times would be a guess
        _attr(model, X, y, "saliency", info=info)
    epochs = a.to_epochs()
    assert epochs.tmin == pytest.approx(-0.5)
    assert len(epochs) == 4 and epochs.ch_names == ["C3", "Cz", "C4"]
    np.testing.assert_allclose(epochs.get_data(), a.data)
    assert list(epochs.metadata["class_name"]) == ["left_hand", "right_hand", "left_hand", "feet"]
    evoked = a.to_evoked(class_index=0)
    np.testing.assert_allclose(evoked.data, a.data[[0, 2]].mean(0))
    assert evoked.comment == "left_hand"
    # predicted-class targets
    p = _attr(model, X, None, "saliency")
    assert p.params["target"] == "predicted"
    np.testing.assert_array_equal(p.coords["target"], _predict(model, X))


def _predict(model, X):
    with torch.no_grad():
        return model(torch.as_tensor(X)).argmax(1).numpy()
