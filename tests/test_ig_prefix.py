"""Integrated gradients after the affine prefix (and in closed form through a square ->
average-pool head) equals captum's IntegratedGradients on the whole model."""
import warnings

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from torch import nn

from neuroxai.attribution import attribute

pytestmark = pytest.mark.filterwarnings("ignore::neuroxai.DegenerateMethodWarning")
N_CHANS = 3


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread):
    """Small tensors: one torch thread (see conftest)."""


def _model(name):
    from braindecode.models import Deep4Net, EEGNet, ShallowFBCSPNet

    cls, n_times = {"shallow": (ShallowFBCSPNet, 300), "deep4": (Deep4Net, 500),
                    "eegnet": (EEGNet, 250)}[name]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cls(n_chans=N_CHANS, n_outputs=3, n_times=n_times)
    for m in model.modules():  # non-trivial eval-mode batch norm: a real affine map
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    return model.double().eval(), n_times


class NotSequential(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv1d(N_CHANS, 4, 7)
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        return self.lin(torch.tanh(self.conv(x)).pow(2).mean(-1))


@pytest.mark.parametrize("name,engine", [("shallow", "affine prefix, closed form"),
                                         ("deep4", "affine prefix"),
                                         ("eegnet", "affine prefix"),
                                         ("plain", "captum")])
@pytest.mark.parametrize("integration", ["gausslegendre", "riemann_trapezoid"])
def test_equals_captum(name, engine, integration):
    model, n_times = (NotSequential().double().eval(), 64) if name == "plain" else _model(name)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, N_CHANS, n_times))
    base = 0.3 * rng.standard_normal((N_CHANS, n_times))
    t = np.array([0, 1, 2, 1, 0])
    ours = attribute(model, X, t, "integrated_gradients", n_steps=12, baseline=base,
                     integration=integration, batch_size=2, verbose="error")
    assert ours.params["engine"] == engine
    ref = IntegratedGradients(model).attribute(
        torch.as_tensor(X), baselines=torch.as_tensor(base).expand(5, -1, -1).contiguous(),
        target=torch.as_tensor(t), n_steps=12, method=integration).detach().numpy()
    if integration == "riemann_trapezoid":
        ref *= 12 / 11  # captum's trapezoid weights sum to (n - 1) / n; neuroxai's to 1
    # captum scales the gradients by torch.tensor(step_sizes): float32 weights, ~1e-8
    # relative; the plain route (captum itself) is corrected for the trapezoid weights
    np.testing.assert_allclose(ours.data, ref, rtol=2e-7, atol=1e-8 * np.abs(ref).max())


def test_equals_a_float64_path_integral_by_hand():
    """sum_s q_s grad f(b + a_s (x - b)) in float64 at every node, times (x - b)."""
    from neuroxai.attribution.igc import _quadrature

    model, n_times = _model("shallow")
    rng = np.random.default_rng(3)
    X, base = rng.standard_normal((2, N_CHANS, n_times)), 0.2 * rng.standard_normal(
        (N_CHANS, n_times))
    alphas, weights = _quadrature("gausslegendre", 10)
    ref = np.zeros_like(X)
    for i, t in enumerate((2, 0)):
        for a, q in zip(alphas, weights):
            x = torch.as_tensor(base + a * (X[i] - base))[None].requires_grad_(True)
            (g,) = torch.autograd.grad(model(x)[0, t], x)
            ref[i] += q * g[0].numpy()
        ref[i] *= X[i] - base
    ours = attribute(model, X, [2, 0], "integrated_gradients", n_steps=10, baseline=base,
                     verbose="error").data
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-13 * np.abs(ref).max())


def test_auto_steps_use_the_prefix_engine_and_stay_complete():
    model, n_times = _model("shallow")
    X = np.random.default_rng(2).standard_normal((4, N_CHANS, n_times))
    a = attribute(model, X, 0, "integrated_gradients", n_steps="auto", baseline=0.1,
                  verbose="error")
    assert a.params["engine"] == "affine prefix, closed form"
    assert a.params["completeness"]["median"] <= 0.01
