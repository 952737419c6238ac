"""Completeness in every result where it is an axiom (integrated gradients, DeepLIFT,
DeepLIFT-SHAP) or holds in expectation (GradientSHAP), and IG's ``n_steps="auto"``.

The reference is the axiom itself: ``f(x) - f(baseline)`` from plain forward passes.
"""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from neuroxai._utils import DegenerateMethodWarning, InvalidInputError
from neuroxai.attribution.methods import (
    COMPLETENESS_FLOOR,
    attribute,
    relative_completeness_error,
)

N_CHANS, N_TIMES = 3, 300


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread):
    """Tiny tensors: one torch thread (see conftest)."""


@pytest.fixture(scope="module")
def shallow():
    from braindecode.models import ShallowFBCSPNet

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ShallowFBCSPNet(n_chans=N_CHANS, n_outputs=3, n_times=N_TIMES)
    return model.double().eval()


class _Linear(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.fc = nn.Linear(N_CHANS * N_TIMES, 3).double()

    def forward(self, x):
        return self.fc(x.flatten(1))


def _X(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, N_CHANS, N_TIMES))


def _f(model, X, target):
    with torch.no_grad():
        out = model(torch.as_tensor(np.asarray(X, dtype=np.float64))).numpy()
    return out[np.arange(len(out)), target]


def _quiet(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMethodWarning)
        return attribute(*args, verbose="error", **kw)


def test_relative_error_floors_tiny_denominators():
    delta = np.array([10.0, -20.0, 30.0, 0.0, 1e-9])
    sums = delta + np.array([0.1, 0.2, -0.3, 0.0, 0.05])
    rel = relative_completeness_error(sums, delta)
    # the floor is 1 % of the median |delta| (10): 0.1
    np.testing.assert_allclose(rel, [0.01, 0.01, 0.01, 0.0, 0.05 / (COMPLETENESS_FLOOR * 10)])
    assert np.all(np.isfinite(relative_completeness_error([0.0, 0.0], [0.0, 0.0])))


def test_integrated_gradients_reports_completeness(shallow):
    X = _X(4)
    target = np.array([0, 1, 2, 1])
    with pytest.warns(DegenerateMethodWarning) as rec:
        att = attribute(shallow, X, target, "integrated_gradients", n_steps=4, verbose="error")
    delta = _f(shallow, X, target) - _f(shallow, np.zeros_like(X), target)
    rel = relative_completeness_error(att.data.sum(axis=(1, 2)), delta)
    np.testing.assert_allclose(att.coords["completeness_error"], rel, rtol=1e-9)
    c = att.params["completeness"]
    assert c["kind"] == "quadrature" and c["statistic"] == "median"
    assert c["median"] == pytest.approx(np.median(rel)) and c["max"] == pytest.approx(rel.max())
    assert c["median"] > 0.01
    msg = str(rec[0].message)
    assert msg.startswith("integrated_gradients") and "n_steps='auto'" in msg
    assert f"{c['median']:.2%}" in msg and f"{c['max']:.2%}" in msg
    # from a baseline away from the log(power) kink at 0, 16 Gauss-Legendre steps suffice:
    # no warning, and the error is in the result all the same
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateMethodWarning)
        good = attribute(shallow, X, target, "integrated_gradients", n_steps=16,
                         baseline=0.15 * _X(1, seed=9)[0], verbose="error")
    assert good.params["completeness"]["median"] < 1e-4


def test_integrated_gradients_auto_steps(shallow):
    X = _X(5, seed=3)
    target = np.array([2, 0, 1, 1, 0])
    kw = dict(n_steps="auto", tolerance=1e-4, baseline=0.05 * _X(1, seed=9)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateMethodWarning)
        auto = attribute(shallow, X, target, "integrated_gradients", batch_size=2,
                         verbose="error", **kw)
    steps = auto.coords["n_steps"]
    assert set(steps) == {16, 32}  # (measured: one trial meets 1e-4 at 16 steps)
    assert auto.params["n_steps_needed"] == steps.max() and auto.params["n_steps"] == "auto"
    assert np.all(auto.coords["completeness_error"] <= 1e-4)
    assert auto.params["completeness"]["n_capped"] == 0
    # each trial's map is integrated gradients at its own number of steps
    for i in (0, int(np.argmax(steps))):
        one = _quiet(shallow, X[i:i + 1], target[i:i + 1], "integrated_gradients",
                     **{**kw, "n_steps": int(steps[i])})
        np.testing.assert_allclose(auto.data[i], one.data[0], rtol=1e-9, atol=1e-14)
    # per-trial decisions: batching does not change the result
    other = _quiet(shallow, X, target, "integrated_gradients", batch_size=50, **kw)
    np.testing.assert_array_equal(other.coords["n_steps"], steps)
    np.testing.assert_allclose(other.data, auto.data, rtol=1e-9, atol=1e-14)


def test_integrated_gradients_auto_cap_warns(shallow):
    X = _X(2, seed=4)
    with pytest.warns(DegenerateMethodWarning, match="max_steps=32") as rec:
        att = attribute(shallow, X, 0, "integrated_gradients", n_steps="auto",
                        tolerance=1e-12, max_steps=32, verbose="error")
    assert set(att.coords["n_steps"]) == {32}
    assert att.params["completeness"]["n_capped"] == 2
    assert "2 of 2 trial(s)" in str(rec[0].message)
    with pytest.raises(InvalidInputError, match="'auto'"):
        attribute(shallow, X, 0, "integrated_gradients", n_steps="many")
    with pytest.raises(InvalidInputError, match="tolerance"):
        attribute(shallow, X, 0, "integrated_gradients", tolerance=0)


def test_trial_at_its_baseline_is_not_an_outlier(shallow):
    """f(x) = f(b) exactly: the error is 0, not 0 / 0; near it the floor bounds the ratio."""
    X = _X(4, seed=5)
    X[0] = 0.0
    X[1] *= 1e-7
    att = _quiet(shallow, X, 1, "integrated_gradients", n_steps=32)
    rel = att.coords["completeness_error"]
    assert np.all(np.isfinite(rel)) and rel[0] == 0.0
    assert rel[1] < 0.01


@pytest.mark.parametrize("method, kw", [("deeplift", {}),
                                        ("deeplift_shap", {"n_baselines": 3})])
def test_deeplift_completeness_in_result(shallow, method, kw):
    X = _X(3, seed=6)
    target = np.array([0, 2, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateMethodWarning)
        att = attribute(shallow, X, target, method, verbose="error", **kw)
    c = att.params["completeness"]
    assert c["kind"] == "exact" and c["statistic"] == "max"
    assert c["max"] < 1e-9 and att.coords["completeness_error"].shape == (3,)


def test_deeplift_completeness_warning_names_median_and_max():
    class Hidden(nn.Module):  # a nonlinearity without a DeepLIFT rule: sorting
        def __init__(self):
            super().__init__()
            torch.manual_seed(2)
            self.fc = nn.Linear(N_CHANS * 3, 3).double()

        def forward(self, x):
            return self.fc(torch.sort(x, dim=-1).values[..., -3:].flatten(1))

    ref = np.random.default_rng(5).standard_normal(_X(3).shape[1:])
    with pytest.warns(DegenerateMethodWarning) as rec:
        att = attribute(Hidden().eval(), _X(3), 0, "deeplift", baseline=ref, verbose="error")
    msg = " ".join(str(r.message) for r in rec)
    c = att.params["completeness"]
    assert "deeplift" in msg and "median" in msg and f"{c['max']:.2%}" in msg
    assert "sort" in msg  # the call without a rule is named
    assert c["max"] > 1e-3


def test_gradient_shap_completeness_in_expectation_linear():
    """Linear model: every sample's sum is exactly w.(x - b_s), so the only Monte Carlo error
    is the baselines' draw: SE = sd_refs(f(b)) / sqrt(n_samples), exactly."""
    model = _Linear().eval()
    X = _X(6, seed=7)
    with pytest.warns(DegenerateMethodWarning, match="in expectation only.*raise n_samples"):
        att = attribute(model, X, 1, "gradient_shap", n_baselines=4, n_samples=8, seed=3,
                        verbose="error")
    refs = X[att.params["baseline_trials"]]
    f_refs = _f(model, refs, 1)
    delta = _f(model, X, 1) - f_refs.mean()
    floor = np.maximum(np.abs(delta), COMPLETENESS_FLOOR * np.median(np.abs(delta)))
    np.testing.assert_allclose(att.coords["completeness_se"],
                               f_refs.std() / np.sqrt(8) / floor, rtol=1e-6)
    np.testing.assert_allclose(att.coords["completeness_error"],
                               relative_completeness_error(att.data.sum(axis=(1, 2)), delta),
                               rtol=1e-9, atol=1e-12)
    c = att.params["completeness"]
    assert c["kind"] == "expectation" and c["median_z"] < 4


def test_gradient_shap_error_shrinks_with_samples(shallow):
    X = _X(4, seed=8)
    few = _quiet(shallow, X, 2, "gradient_shap", n_baselines=4, n_samples=2, seed=0)
    many = _quiet(shallow, X, 2, "gradient_shap", n_baselines=4, n_samples=64, seed=0)
    se_few = np.median(few.coords["completeness_se"])
    se_many = np.median(many.coords["completeness_se"])
    assert se_many < se_few / 2.5  # 1/sqrt(n): 5.7x expected
    # the error is what sampling explains (completeness holds in expectation)
    assert many.params["completeness"]["median_z"] < 3
    with pytest.warns(DegenerateMethodWarning, match="n_samples=2"):
        attribute(shallow, X, 2, "gradient_shap", n_baselines=4, n_samples=2, seed=0,
                  tolerance=1e-6, verbose="error")
