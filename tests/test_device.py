"""Every attribution path follows the model's device: CUDA results equal the CPU's.

Marked ``requires_cuda`` and skipped, with the reason, where torch sees no CUDA GPU.
``NEUROXAI_TEST_DEVICE=cpu`` runs the same comparisons with a second CPU copy (a dry run
of the test logic on machines without a GPU).
"""
import copy
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

DEVICE = os.environ.get("NEUROXAI_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.requires_cuda,
    pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(),
                       reason="no CUDA GPU here (torch.cuda.is_available() is False): these "
                              "tests compare CUDA with CPU results"),
]
#: float32 on two devices: different kernels, different rounding (TF32 is switched off)
RTOL = 1e-4


@pytest.fixture(scope="module")
def pair():
    """(CPU model, device copy, 8 simulated held-out trials)."""
    from neuroxai.data import simulate_bcic_iv_2a
    from neuroxai.models import load_pretrained

    model, _, meta = load_pretrained(verbose=False)
    sim = simulate_bcic_iv_2a(**{**meta["dataset_params"], "n_trials": 8, "n_sessions": 1},
                              verbose=False)
    dev = copy.deepcopy(model).to(DEVICE)
    tf32 = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield model, dev, sim.trials
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32


def _close(a, b, rtol=RTOL):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    scale = np.abs(b).max()
    assert scale > 0
    err = np.abs(a - b).max() / scale
    assert err <= rtol, f"max |device - cpu| / max |cpu| = {err:.2e} > {rtol:g}"


def _on_device(model):
    from neuroxai._core.model import device_dtype

    device, _ = device_dtype(model)
    assert device.type == torch.device(DEVICE).type  # the model was not moved


@pytest.mark.parametrize("method,params", [("saliency", {}), ("deeplift", {}),
                                           ("integrated_gradients", {"n_steps": 16})])
def test_attribute_on_device_equals_cpu(pair, method, params):
    from neuroxai.attribution import attribute

    cpu, dev, trials = pair
    a = attribute(cpu, trials, target="labels", method=method, verbose=False, **params)
    b = attribute(dev, trials, target="labels", method=method, verbose=False, **params)
    assert isinstance(b.data, np.ndarray)
    _close(b.data, a.data)
    np.testing.assert_array_equal(b.coords["target"], a.coords["target"])
    _on_device(dev)


def test_amplitude_gradients_and_haufe_on_device_equal_cpu(pair):
    from neuroxai.attribution import compute_amplitude_gradients, compute_haufe_patterns

    cpu, dev, trials = pair
    a = compute_amplitude_gradients(cpu, trials, batch_size=4, verbose=False)
    b = compute_amplitude_gradients(dev, trials, batch_size=4, verbose=False)
    _close(b.data, a.data)
    _close(compute_haufe_patterns(b, trials, verbose=False).data,
           compute_haufe_patterns(a, trials, verbose=False).data)
    _on_device(dev)


@pytest.mark.parametrize("domain", ["time", "spectral"])
def test_igc_on_device_equals_cpu(pair, domain):
    from neuroxai.attribution import compute_igc

    cpu, dev, trials = pair
    kw = dict(n_baselines=2, n_steps=8, domain=domain, seed=0, verbose=False)
    a = compute_igc(cpu, trials, **kw)
    b = compute_igc(dev, trials, **kw)
    _close(b.data, a.data)
    np.testing.assert_allclose(b.coords["correlation"], a.coords["correlation"], atol=1e-5)
    np.testing.assert_array_equal(b.params["baseline_indices"], a.params["baseline_indices"])
    _on_device(dev)


def test_group_maps_on_device_equal_cpu(pair):
    from neuroxai.group import compute_subject_maps, simulate_subjects

    cpu, dev, _ = pair
    subs = simulate_subjects(2, n_trials=8, verbose=False)
    kw = dict(methods="igc", method_params={"igc": dict(n_baselines=1, n_steps=4)},
              cache_dir=False, verbose=False)
    a = compute_subject_maps(subs, cpu, **kw)
    b = compute_subject_maps(subs, dev, **kw)
    for s in subs:
        _close(b["igc"][s].data, a["igc"][s].data)
