"""The braindecode model zoo: every method on every model works or says why it cannot.

The models, their inputs and the method parameters come from benchmarks/zoo_table.py
(the script that writes docs/zoo.rst), so the test checks the runs the table describes.
Models are untrained (seed 0), 2 random trials each, on the smallest input they accept.

- ``test_zoo_matrix``: each (model, method) gives a finite map of the right shape or an
  error of neuroxai's own with a message; no torch/numpy/captum exception escapes.
- ``test_deeplift_complete``: DeepLIFT's completeness axiom holds to float64 precision
  (relative error < 1e-8) on every model outside ``DEEPLIFT_APPROXIMATE``; those warn
  with the measured error.
- ``test_not_building``: the models the table lists as not building do not build.
"""
import functools
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from neuroxai import DegenerateMethodWarning, NeuroXAIError
from neuroxai.attribution import list_methods

_spec = importlib.util.spec_from_file_location(
    "zoo_table", Path(__file__).resolve().parents[1] / "benchmarks" / "zoo_table.py")
zoo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(zoo)

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

METHODS = list_methods() + [zoo.AMPLITUDE_GRADIENTS]
MODELS = zoo.zoo_models()

# Models whose forward/backward passes take seconds even on the smallest input: every
# cell of theirs is slow. Measured with benchmarks/zoo_table.py (one core).
HEAVY = {"BENDR", "BrainModule", "CBraMod", "CodeBrain", "DeepSleepNet", "EEGInceptionMI",
         "EEGPT", "LUNA", "STEEGFormer", "VEMG2Pose"}
# Cells over ~0.3 s on the other models: perturbation methods (one forward per
# perturbation) and the expanded SHAP/noise batches.
SLOW_METHODS = {"band_ablation", "occlusion", "feature_ablation", "deeplift_shap",
                "guided_gradcam"}
SLOW_CELLS = {("EMG2QwertyNet", m) for m in METHODS} | {
    (m, meth) for m in ("AttnSleep", "MEDFormer", "EEGDINO", "USleep", "MVPFormer",
                        "BIOT", "ContraWR", "SPARCNet", "TSception", "PBT")
    for meth in SLOW_METHODS}


def _cell_marks(model, method):
    slow = model in HEAVY or (model, method) in SLOW_CELLS
    return [pytest.mark.slow] if slow else []


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread):
    """One torch thread: small models on a shared machine."""


@functools.lru_cache(maxsize=2)  # the cells run model by model; BENDR alone is 0.6 GB
def _model(name):
    return zoo.build_model(name)


def _forward_ok(model, X):
    try:
        with torch.no_grad():
            out = model(torch.as_tensor(X[:1]))
    except Exception:  # noqa: BLE001 - only asks whether the model takes this input
        return False
    return torch.is_tensor(out) and out.dim() == 2


def test_registry_is_enumerated():
    """Every registry model is either in the matrix or listed as not building."""
    assert set(MODELS) | set(zoo.NOT_BUILDING) == set(zoo.registry_models())
    assert not set(zoo.INPUTS) - set(MODELS)
    assert len(MODELS) >= 45  # braindecode 1.8.1: 53 registry models build


@pytest.mark.parametrize("name", sorted(zoo.NOT_CLASSIFIERS))
def test_not_classifiers(name):
    """The models listed as not classifying trials indeed cannot give (batch, n_outputs)."""
    assert not _forward_ok(_model(name), zoo.zoo_trials(name))


@pytest.mark.parametrize("model_name,method", [
    pytest.param(m, meth, marks=_cell_marks(m, meth), id=f"{m}-{meth}")
    for m in MODELS for meth in METHODS])
def test_zoo_matrix(model_name, method):
    model = _model(model_name)
    X = zoo.zoo_trials(model_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMethodWarning)
        try:
            res = zoo.run_method(model, X, method, model_name)
        except NeuroXAIError as err:
            # a named error that explains itself
            assert len(str(err)) > 40, str(err)
            assert type(err).__name__ != "NeuroXAIError"
            return
        except Exception as err:
            raise AssertionError(f"{type(err).__name__} escaped: {err}") from err
    n_chans, n_times = X.shape[1:]
    data = np.asarray(res.data)
    if method == zoo.AMPLITUDE_GRADIENTS:
        assert data.shape == (zoo.N_OUTPUTS, len(X), n_chans, n_times // 2 + 1)
    elif method == "band_ablation":
        assert data.shape == (len(X), n_chans, 5)
    else:
        assert data.shape == X.shape
    assert np.all(np.isfinite(data))


def _completeness_models():
    return [pytest.param(m, marks=[pytest.mark.slow] if m in HEAVY else [], id=m)
            for m in MODELS
            if m not in zoo.NOT_CLASSIFIERS and m not in zoo.DEEPLIFT_APPROXIMATE]


def _completeness(name, dtype):
    model = zoo.build_model(name, dtype=dtype)
    X = zoo.zoo_trials(name)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        err = zoo.completeness(model, X, "deeplift", name)
    warned = [w for w in rec if issubclass(w.category, DegenerateMethodWarning)]
    return err, warned


@pytest.mark.parametrize("name", _completeness_models())
def test_deeplift_complete(name):
    """sum(attr) = f(x) - f(0) to float64 precision (float32 where the model needs it)."""
    if name in zoo.FLOAT32_ONLY:
        err, warned = _completeness(name, torch.float32)
        assert err < 1e-3, err
        return
    err, warned = _completeness(name, torch.float64)
    assert err < zoo.EXACT_TOL, err
    assert not warned, [str(w.message) for w in warned]


@pytest.mark.parametrize("name", sorted(zoo.DEEPLIFT_APPROXIMATE))
def test_deeplift_approximate_warns(name):
    """Where DeepLIFT is not complete, the user is told by how much."""
    err, warned = _completeness(name, torch.float64)
    assert err > zoo.EXACT_TOL
    assert warned and "differs from f(x) - f(baseline)" in str(warned[0].message)


@pytest.mark.parametrize("name", sorted(set(zoo.NOT_BUILDING) - zoo.NEEDS_NETWORK))
def test_not_building(name):
    with pytest.raises(Exception):  # noqa: B017 - braindecode's own errors, documented
        zoo.build_model(name)


# ---------------------------------------------------------------------------------------
# The DeepLIFT rules on small models built from the calls the zoo uses
# ---------------------------------------------------------------------------------------
class _Functional(torch.nn.Module):
    """Nonlinear functional calls inside forward(), no module to hook."""

    def __init__(self, kind):
        super().__init__()
        torch.manual_seed(1)
        self.kind = kind
        self.conv = torch.nn.Conv1d(3, 4, 5)
        self.lstm = torch.nn.LSTM(4, 3, batch_first=True, bidirectional=True)
        self.mha = torch.nn.MultiheadAttention(4, 2)
        self.norm = torch.nn.GroupNorm(2, 4)
        self.out = torch.nn.LazyLinear(2)

    def forward(self, x):
        h = self.conv(x)  # (B, 4, T)
        if self.kind == "logvar":  # FBCNet / SCCNet heads
            h = torch.log(torch.clamp(h.var(-1, keepdim=True), min=1e-6)) + (h ** 2).mean(-1, True)
        elif self.kind == "cube":
            h = h ** 3 - torch.sigmoid(h) * torch.tanh(h)  # product of two input functions
        elif self.kind == "maxpool":
            h = torch.nn.functional.max_pool1d(h, 3) + h.amax(-1, keepdim=True)
        elif self.kind == "heads":  # ATCNet: heads concatenated along the batch axis
            q = torch.cat(h.split(2, 1), 0)  # (2B, 2, T)
            w = torch.softmax(q.transpose(1, 2) @ q / 2.0, -1)
            h = torch.cat((w @ q.transpose(1, 2)).split(len(x), 0), -1).transpose(1, 2)
        elif self.kind == "attention":  # sequence-first nn.MultiheadAttention
            s = h.permute(2, 0, 1)
            h = self.mha(s, s, s)[0].permute(1, 2, 0)
            h = torch.nn.functional.layer_norm(h.transpose(1, 2), (4,)).transpose(1, 2)
        elif self.kind == "lstm":
            h = self.lstm(h.transpose(1, 2))[0]
        elif self.kind == "norm":
            h = self.norm(h) * torch.nn.functional.gelu(h)
        return self.out(h.flatten(1))


@pytest.mark.parametrize("kind", ["logvar", "cube", "maxpool", "heads", "attention", "lstm",
                                  "norm"])
def test_deeplift_rules_are_complete(kind):
    """Completeness to float64 precision against f(x) - f(x0) for a random reference."""
    from neuroxai.attribution import attribute

    model = _Functional(kind).double()
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3, 3, 20))
    ref = 0.5 * rng.standard_normal((3, 20))
    with torch.no_grad():
        model(torch.as_tensor(X))  # materialise the lazy layer
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateMethodWarning)
        attr = attribute(model, X, 1, "deeplift", baseline=ref, verbose="error")
    with torch.no_grad():
        delta = (model(torch.as_tensor(X))[:, 1]
                 - model(torch.as_tensor(np.broadcast_to(ref, X.shape).copy()))[:, 1]).numpy()
    np.testing.assert_allclose(attr.data.sum(axis=(1, 2)), delta, rtol=1e-10, atol=1e-12)
    assert np.abs(delta).min() > 1e-3  # not vacuous


def test_deeplift_model_keeps_the_forward_values():
    """The prepared copy computes the model's outputs, for inputs and references."""
    from neuroxai.attribution.deeplift import prepare_deeplift_model

    model = _Functional("attention").double()
    x = torch.as_tensor(np.random.default_rng(0).standard_normal((4, 3, 20)))
    model.eval()
    with torch.enable_grad():  # (no_grad would take nn.MultiheadAttention's fast path)
        # captum's batch: inputs, then references; the copy runs each half on its own
        expected = torch.cat([model(x[:2].clone().requires_grad_(True)),
                              model(x[2:].clone().requires_grad_(True))]).detach()
        got = prepare_deeplift_model(model)(x.clone().requires_grad_(True)).detach()
    # equal up to rounding: a rule computes the call's value without grad, where torch may
    # pick another kernel (fused attention, LSTM)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-13, atol=1e-15)


def test_deeplift_names_calls_without_a_rule():
    """A nonlinearity without a rule (sorting) is named in the completeness warning."""
    from neuroxai.attribution import attribute

    class SortHead(torch.nn.Module):
        def forward(self, x):
            return torch.sort(x, dim=-1).values[..., -3:]  # top-3 values

    model = torch.nn.Sequential(torch.nn.Conv1d(3, 4, 5), SortHead(), torch.nn.Flatten(),
                                torch.nn.Linear(12, 2)).double().eval()
    rng = np.random.default_rng(0)
    X, ref = rng.standard_normal((2, 3, 20)), rng.standard_normal((3, 20))
    with pytest.warns(DegenerateMethodWarning, match=r"sort in 1 \(SortHead\)"):
        attribute(model, X, 0, "deeplift", baseline=ref, verbose="error")


def test_library_errors_become_method_undefined():
    """An error inside captum's pass is a MethodUndefinedError naming method and model."""
    from neuroxai import MethodUndefinedError
    from neuroxai.attribution import attribute

    class NeedsNoGrad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(20, 2)

        def forward(self, x):
            x.numpy()  # RuntimeError when x requires grad, fine in the no-grad probe
            return self.lin(x.mean(1))

    X = np.random.default_rng(0).standard_normal((2, 3, 20)).astype(np.float32)
    with pytest.raises(MethodUndefinedError, match=r"saliency failed on NeedsNoGrad: "
                                                   r"RuntimeError"):
        attribute(NeedsNoGrad().eval(), X, 0, "saliency", verbose="error")
