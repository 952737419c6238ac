"""Integrated Gradient Correlation: completeness, explicit references, ROI sums, bad input."""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from neuroxai._utils import (
    InvalidInputError,
    NonFiniteError,
    ShapeError,
    TargetError,
    UnknownNameError,
)
from neuroxai.attribution.igc import (
    _compute_igc,
    compute_igc,
    compute_igc_channel_sums,
    compute_igc_roi_sums,
    igc_roi_sums,
)

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

N_CHANS, N_TIMES, N_CLASSES = 3, 200, 3


def _info(sfreq=250.0):
    import mne

    return mne.create_info(N_CHANS, sfreq, "eeg")


def _igc(model, X, y, engine=None, **kw):
    """compute_igc on arrays sampled at 250 Hz, first sample at the event; with ``engine``,
    the private entry point that forces the path-sum engine."""
    kw.setdefault("info", _info())
    kw.setdefault("tmin", 0.0)
    if engine is not None:
        return _compute_igc(model, X, y, engine=engine, **kw)
    return compute_igc(model, X, y, **kw)


def _shallow(seed=0):
    from braindecode.models import ShallowFBCSPNet

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ShallowFBCSPNet(n_chans=N_CHANS, n_outputs=N_CLASSES, n_times=N_TIMES,
                                n_filters_time=6, n_filters_spat=6, pool_time_length=50,
                                pool_time_stride=10)
    model = model.double().eval()
    # non-trivial eval-mode batch norm, so the affine prefix has a real bias and scale
    model.bnorm.running_mean.normal_()
    model.bnorm.running_var.uniform_(0.5, 2.0)
    return model


class TinyNet(nn.Module):
    """Not an nn.Sequential: exercises the plain (no affine prefix) path."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv1d(N_CHANS, 4, 7)
        self.lin = nn.Linear(4, N_CLASSES)

    def forward(self, x):
        return self.lin(torch.tanh(self.conv(x)).pow(2).mean(-1))


def _data(n=13, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(N_TIMES) / 250.0
    X = rng.standard_normal((n, N_CHANS, N_TIMES))
    y = np.arange(n) % N_CLASSES
    rng.shuffle(y)
    # class-dependent oscillations so that the correlations are not all tiny
    X += (1 + y)[:, None, None] * np.sin(2 * np.pi * 10 * t)[None, None] * np.array(
        [1.0, 0.5, 0.0])[None, :, None]
    return X, y


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread):
    """Every test of this module runs on one torch thread (see conftest)."""


@pytest.fixture(scope="module")
def shallow():
    return _shallow()


@pytest.fixture(scope="module")
def data():
    return _data()


def _pearson(model, X, y, c):
    from scipy.stats import pearsonr

    with torch.no_grad():
        f = model(torch.as_tensor(X)).numpy()[:, c]
    return pearsonr(f, (y == c).astype(float)).statistic


# ------------------------------------------------------------------------ completeness
@pytest.mark.parametrize("domain", ["time", "spectral"])
def test_completeness_converges_with_steps(shallow, data, domain):
    """Cells sum to the correlation (minus the phase term) with an error that falls with
    n_steps; N=13 (prime) with batch_size=4 so every sample must be used."""
    X, y = data
    errs = []
    for n_steps in (2, 4, 16):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            a = _igc(shallow, X, y, n_baselines=4, n_steps=n_steps, batch_size=4,
                            domain=domain, quadrature="riemann_middle" if n_steps < 16 else
                            "gausslegendre")
        missed = np.abs(a.coords["completeness_error"]) > 0.05 * np.abs(a.coords["correlation"])
        # an unresolved path integral is said, never silently returned
        assert any("not resolved" in str(w.message) for w in caught) == bool(missed.any())
        r = a.coords["correlation"]
        for c in range(N_CLASSES):
            assert r[c] == pytest.approx(_pearson(shallow, X, y, c), abs=1e-12)
        total = a.data.sum(axis=(1, 2)) + a.coords["phase_term"]
        np.testing.assert_allclose(a.coords["completeness_error"], r - total, atol=1e-14)
        errs.append(np.abs(r - total).max())
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 1e-8
    assert a.dims == ("class", "chan", "freq" if domain == "spectral" else "time")
    n_axis = N_TIMES // 2 + 1 if domain == "spectral" else N_TIMES
    assert a.shape == (N_CLASSES, N_CHANS, n_axis)
    np.testing.assert_allclose(a.coords["freq"], np.fft.rfftfreq(N_TIMES, 1 / 250.0))


@pytest.mark.parametrize("domain", ["time", "spectral"])
def test_zero_baseline_is_complete(shallow, data, domain):
    X, y = data
    a = _igc(shallow, X, y, baselines="zeros", n_steps=24, batch_size=7, domain=domain)
    assert a.params["n_baselines"] == 1
    # zero amplitudes: every path starts at the zero signal, f(0) is a constant, R = 0
    np.testing.assert_allclose(a.coords["phase_term"], 0.0, atol=1e-14)
    np.testing.assert_allclose(a.data.sum(axis=(1, 2)), a.coords["correlation"], atol=1e-7)


def test_spectral_phase_term_matches_direct_computation(shallow, data):
    """R = (1/(N sd_f K)) sum_n z[n] sum_k f(irfft(|B_k| e^{i phase(x_n)})), computed here
    with numpy's FFT."""
    X, y = data
    a = _igc(shallow, X, y, n_baselines=3, n_steps=16, domain="spectral", seed=3,
                    batch_size=50)
    B = X[a.params["baseline_indices"]]
    spec = np.fft.rfft(X, axis=-1)
    amp_b = np.abs(np.fft.rfft(B, axis=-1))
    surr = np.fft.irfft(amp_b[None] * np.exp(1j * np.angle(spec))[:, None], n=N_TIMES,
                        axis=-1)  # (N, K, chans, times)
    with torch.no_grad():
        f = shallow(torch.as_tensor(X)).numpy()
        f_s = shallow(torch.as_tensor(surr.reshape(-1, N_CHANS, N_TIMES))).numpy()
    f_s = f_s.reshape(len(X), 3, -1)
    for c in range(N_CLASSES):
        t = (y == c).astype(float)
        z = (t - t.mean()) / t.std()
        R = (z[:, None] * f_s[:, :, c]).sum() / (len(X) * f[:, c].std() * 3)
        assert a.coords["phase_term"][c] == pytest.approx(R, abs=1e-12)
    np.testing.assert_allclose(a.data.sum(axis=(1, 2)) + a.coords["phase_term"],
                               a.coords["correlation"], atol=1e-8)


# ------------------------------------------------------------- explicit references
def _reference_time(model, X, y, B, n_steps):
    """IGC from captum's IntegratedGradients, one (trial, class) at a time."""
    from captum.attr import IntegratedGradients

    Xt, Bt = torch.as_tensor(X), torch.as_tensor(B)
    with torch.no_grad():
        f = model(Xt).numpy()
    ig = IntegratedGradients(model)
    out = np.zeros((N_CLASSES,) + X.shape[1:])
    for c in range(N_CLASSES):
        t = (y == c).astype(float)
        z = (t - t.mean()) / t.std()
        for n in range(len(X)):
            att = ig.attribute(Xt[n:n + 1].expand(len(B), -1, -1), baselines=Bt, target=c,
                               n_steps=n_steps, method="gausslegendre")
            out[c] += z[n] * att.sum(0).numpy()
        out[c] /= len(X) * f[:, c].std() * len(B)
    return out


def _reference_spectral(model, X, y, B, n_steps):
    """Amplitude-path IG by hand: torch.autograd on the amplitudes, one point at a time."""
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas, weights = (nodes + 1) / 2, weights / 2
    Xt = torch.as_tensor(X)
    with torch.no_grad():
        f = model(Xt).numpy()
    amp_b = torch.fft.rfft(torch.as_tensor(B)).abs()
    out = np.zeros((N_CLASSES, N_CHANS, N_TIMES // 2 + 1))
    for c in range(N_CLASSES):
        t = (y == c).astype(float)
        z = (t - t.mean()) / t.std()
        for n in range(len(X)):
            spec = torch.fft.rfft(Xt[n])
            amp, phase = spec.abs(), torch.exp(1j * torch.angle(spec))
            for k in range(len(B)):
                grad = torch.zeros_like(amp)
                for a, w in zip(alphas, weights):
                    A = (amp_b[k] + a * (amp - amp_b[k])).requires_grad_(True)
                    fx = model(torch.fft.irfft(A * phase, n=N_TIMES)[None])[0, c]
                    grad += w * torch.autograd.grad(fx, A)[0]
                out[c] += z[n] * ((amp - amp_b[k]) * grad).numpy()
        out[c] /= len(X) * f[:, c].std() * len(B)
    return out


@pytest.mark.parametrize("net", ["shallow", "tiny"])
def test_matches_captum_per_sample_loop(net):
    model = _shallow() if net == "shallow" else TinyNet().double().eval()
    X, y = _data(n=5, seed=1)
    n_steps = 5
    ref = None
    for affine_prefix, batch_size in (("auto", 3), ("auto", 64), (None, 7)):
        a = _igc(model, X, y, n_baselines=3, n_steps=n_steps, batch_size=batch_size,
                        affine_prefix=affine_prefix, seed=2)
        if ref is None:
            ref = _reference_time(model, X, y, X[a.params["baseline_indices"]], n_steps)
        # captum builds its path points in single precision (alphas), hence 1e-6
        np.testing.assert_allclose(a.data, ref, rtol=0, atol=1e-6 * np.abs(ref).max())
    if net == "shallow":
        assert a.params["affine_prefix"] == 0
        auto = _igc(model, X, y, n_baselines=3, n_steps=n_steps, seed=2)
        assert auto.params["affine_prefix"] == 4  # ensuredims, dimshuffle, conv, bnorm


def test_spectral_matches_autograd_loop(shallow):
    X, y = _data(n=4, seed=2)
    B = np.random.default_rng(5).standard_normal((2, N_CHANS, N_TIMES))
    ref = _reference_spectral(shallow, X, y, B, n_steps=3)
    for batch_size in (2, 9):  # fewer / more points than one pair's steps
        a = _igc(shallow, X, y, baselines=B, n_steps=3, batch_size=batch_size,
                        domain="spectral")
        np.testing.assert_allclose(a.data, ref, rtol=1e-9, atol=1e-12)


def test_batch_size_and_seed(shallow, data):
    X, y = data
    runs = [_igc(shallow, X, y, n_baselines=5, n_steps=6, batch_size=b, seed=7)
            for b in (1, 5, 6, 1000)]
    for a in runs[1:]:
        np.testing.assert_allclose(a.data, runs[0].data, rtol=1e-10, atol=1e-14)
    assert len(runs[0].params["baseline_indices"]) == 5
    other = _igc(shallow, X, y, n_baselines=5, n_steps=6, seed=8)
    assert not np.array_equal(other.params["baseline_indices"],
                              runs[0].params["baseline_indices"])


@pytest.mark.parametrize("n_trials,K,n_steps,batch_size,pairs", [
    (5, 3, 4, 1, None), (5, 3, 4, 7, None), (5, 3, 4, 8, None), (4, 2, 5, 1000, None),
    (5, 3, 4, None, 2), (1, 1, 3, 2, None)])
def test_point_batcher_covers_every_point_once(n_trials, K, n_steps, batch_size, pairs):
    """Against a plain enumeration of the (trial, baseline, step) points, trial-major."""
    from neuroxai.attribution._igc_paths import _PointBatcher

    batcher = _PointBatcher(n_trials, K, n_steps, batch_size, torch.device("cpu"), pairs)
    trial, base, step = np.meshgrid(np.arange(n_trials), np.arange(K), np.arange(n_steps),
                                    indexing="ij")
    batches = list(batcher)
    assert len(batches) == len(batcher)
    n = np.concatenate([b.n.numpy() for b in batches])
    s = np.concatenate([b.s.numpy() for b in batches])
    k = np.concatenate([b.pk[b.q_loc].numpy() for b in batches])
    np.testing.assert_array_equal(n, trial.ravel())
    np.testing.assert_array_equal(s, step.ravel())
    np.testing.assert_array_equal(k, base.ravel())
    for b in batches:  # the pair of every point is the pair of its trial
        np.testing.assert_array_equal(b.pn[b.q_loc].numpy(), b.n.numpy())
        if b.aligned:  # whole pairs only
            assert b.size == b.n_pairs * n_steps
    # each pair's first step is in exactly one batch; each trial is completed once
    assert sum(int(b.first.sum()) for b in batches) == n_trials * K
    assert sum(b.n_done for b in batches) == n_trials
    if pairs is not None:
        assert all(b.size == pairs * n_steps for b in batches[:-1])


@pytest.mark.parametrize("domain", ["time", "spectral"])
@pytest.mark.parametrize("transform", [None, "log_softmax"])
def test_square_pool_shortcut_equals_backprop_through_the_head(shallow, data, domain,
                                                               transform):
    from neuroxai.attribution._igc_prefix import _quadratic_head

    X, y = data
    kw = dict(n_baselines=3, n_steps=5, domain=domain, output_transform=transform)
    fast = _igc(shallow, X, y, engine="closed_form", **kw)
    slow = _igc(shallow, X, y, engine="generic", **kw)
    np.testing.assert_allclose(fast.data, slow.data, rtol=1e-9,
                               atol=1e-12 * np.abs(slow.data).max())
    # the public entry point picks the closed form on this head by itself
    np.testing.assert_array_equal(_igc(shallow, X, y, **kw).data, fast.data)
    # the shortcut is recognised on ShallowFBCSPNet's head and refused elsewhere
    children = list(shallow.children())
    rest = torch.nn.Sequential(*children[4:])
    with torch.no_grad():
        u_shape = torch.nn.Sequential(*children[:4])(torch.as_tensor(X[:1])).shape[1:]
    cpu = torch.device("cpu")
    assert _quadratic_head(rest, u_shape, torch.float64, cpu) is not None
    assert _quadratic_head(torch.nn.Sequential(torch.nn.Tanh(), *children[5:]), u_shape,
                           torch.float64, cpu) is None
    with pytest.raises(InvalidInputError, match="closed_form"):
        _igc(TinyNet().double().eval(), X, y, engine="closed_form", **kw)


def test_float32_model_and_transform(data):
    X, y = data
    model = _shallow().float()
    a = _igc(model, X.astype(np.float32), y, n_baselines=4, n_steps=16,
                    output_transform="softmax", classes=[0, 2], class_names=["a", "b", "c"])
    assert a.coords["class"] == ["a", "c"]
    with torch.no_grad():
        p = torch.softmax(model(torch.as_tensor(X, dtype=torch.float32)), -1).numpy()
    assert a.coords["correlation"][1] == pytest.approx(
        np.corrcoef(p[:, 2], y == 2)[0, 1], abs=1e-5)
    np.testing.assert_allclose(a.coords["completeness_error"], 0, atol=1e-4)


# ------------------------------------------------------------------------- ROI sums
@pytest.mark.filterwarnings("ignore:IGC. the cells miss")  # additivity holds regardless
def test_roi_and_band_sums_are_additive(shallow, data):
    import mne

    X, y = data
    info = mne.create_info(["C3", "Cz", "C4"], 250.0, "eeg")
    a = _igc(shallow, X, y, n_baselines=3, n_steps=8, domain="spectral", info=info)
    freqs = a.coords["freq"]  # 0, 1.25, 2.5, ... Hz
    total = a.data.sum(axis=(1, 2))
    rois = {"left": ["C3"], "rest": [1, "C4"]}
    # both edges are in the band, and these bands share no edge: a partition of the bins
    bands = {"low": (0, 7.5), "mu": (8.75, 12.5), "high": (13.75, 125)}
    df = compute_igc_roi_sums(a, rois, bands)
    assert list(df.index) == ["0", "1", "2"]
    np.testing.assert_allclose(df.to_numpy().sum(axis=1), total, rtol=1e-12)
    np.testing.assert_allclose(df["left"].to_numpy().sum(1), a.data[:, 0].sum(1), rtol=1e-12)
    mu = np.isin(freqs, [8.75, 10.0, 11.25, 12.5])  # the bins of [8.75, 12.5] Hz
    assert df[("rest", "mu")].to_numpy() == pytest.approx(a.data[:, 1:, mu].sum(axis=(1, 2)))
    # adjacent bands with a shared edge count the edge bin (10 Hz) in both
    shared = compute_igc_roi_sums(a, None, {"a": (8.75, 10), "b": (10, 12.5)})
    np.testing.assert_allclose(shared.to_numpy().sum(1), a.data[:, :, mu].sum(axis=(1, 2))
                               + a.data[:, :, freqs == 10].sum(axis=(1, 2)), rtol=1e-12)
    with pytest.raises(InvalidInputError, match="frequency bin"):
        compute_igc_roi_sums(a, None, {"gap": (8, 8.5)})  # no bin between 7.5 and 8.75
    np.testing.assert_allclose(compute_igc_roi_sums(a)["all"], total, rtol=1e-12)
    spectra = a.to_spectrum()
    assert set(spectra) == {"0", "1", "2"}
    with pytest.raises(UnknownNameError, match="Valid channels"):
        compute_igc_roi_sums(a, {"x": ["Oz"]})
    a_time = _igc(shallow, X, y, n_baselines=2, n_steps=2)
    with pytest.raises(Exception, match="spectral"):
        compute_igc_roi_sums(a_time, None, bands)
    np.testing.assert_allclose(
        compute_igc_roi_sums(a_time, {"a": [0], "b": [1, 2]}).sum(axis=1),
        a_time.data.sum(axis=(1, 2)), rtol=1e-12)
    # the old name still works for one release, with a FutureWarning
    with pytest.warns(FutureWarning, match="compute_igc_roi_sums"):
        old = igc_roi_sums(a, rois, bands)
    assert old.equals(df)


@pytest.mark.filterwarnings("ignore:IGC. the cells miss")
def test_roi_partition_with_phase_term_adds_up_to_r(shallow, data):
    import mne

    X, y = data
    info = mne.create_info(["C3", "Cz", "C4"], 250.0, "eeg")
    a = _igc(shallow, X, y, n_baselines=3, n_steps=8, domain="spectral", info=info)
    df = compute_igc_roi_sums(a, {"left": ["C3"]}, other="other", phase_term=True)
    assert list(df.columns) == ["left", "other", "phase term R"]
    np.testing.assert_allclose(df["other"], a.data[:, 1:].sum(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(df["phase term R"], a.coords["phase_term"])
    r = a.coords["correlation"]
    np.testing.assert_allclose(df.sum(axis=1), r - a.coords["completeness_error"], rtol=1e-12)
    with pytest.raises(InvalidInputError, match="several groups"):
        compute_igc_roi_sums(a, {"a": ["C3", "Cz"], "b": ["Cz"]}, other="other")
    with pytest.raises(InvalidInputError, match="already"):
        compute_igc_roi_sums(a, {"other": ["C3"]}, other="other")
    with pytest.raises(InvalidInputError, match="bands"):
        compute_igc_roi_sums(a, None, {"mu": (8.75, 12.5)}, phase_term=True)


@pytest.mark.filterwarnings("ignore:IGC. the cells miss")
def test_channel_sums_per_band(shallow, data):
    X, y = data
    a = _igc(shallow, X, y, n_baselines=3, n_steps=8, domain="spectral")
    freqs = a.coords["freq"]
    s = compute_igc_channel_sums(a, {"mu": (8.75, 12.5), "beta": (13.75, 30)})
    assert s.dims == ("class", "chan", "band") and s.shape == (N_CLASSES, N_CHANS, 2)
    assert s.coords["band"] == ["mu", "beta"]
    assert s.coords["band_edges"] == [(8.75, 12.5), (13.75, 30.0)]
    mu = (freqs >= 8.75) & (freqs <= 12.5)  # inclusive: 12.5 Hz is in
    assert mu.sum() == 4
    np.testing.assert_allclose(s.data[..., 0], a.data[:, :, mu].sum(axis=2), rtol=1e-12)
    whole = compute_igc_channel_sums(a)
    assert whole.coords["band"] == ["all"]
    np.testing.assert_allclose(whole.data.sum(axis=(1, 2)), a.coords["attribution_sum"],
                               rtol=1e-12)
    np.testing.assert_allclose(whole.coords["correlation"], a.coords["correlation"])
    a_time = _igc(shallow, X, y, n_baselines=2, n_steps=2)
    np.testing.assert_allclose(compute_igc_channel_sums(a_time).data[..., 0],
                               a_time.data.sum(axis=2), rtol=1e-12)
    with pytest.raises(InvalidInputError, match="spectral"):
        compute_igc_channel_sums(a_time, {"mu": (8, 13)})
    with pytest.raises(InvalidInputError, match="compute_igc"):
        compute_igc_channel_sums(a.data)


# ------------------------------------------------------------------------- bad input
def test_bad_input(shallow, data):
    X, y = data
    kw = dict(n_baselines=2, n_steps=2)
    with pytest.raises(ShapeError, match="one label per trial"):
        _igc(shallow, X, y[:-1], **kw)
    Xn = X.copy()
    Xn[0, 0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        _igc(shallow, Xn, y, **kw)
    with pytest.raises(TargetError, match="outside"):
        _igc(shallow, X, y, classes=[3], **kw)
    y4 = y.copy()
    y4[0] = 7  # a fourth class (labels are encoded in sorted order) for 3 outputs
    with pytest.raises(TargetError, match="outside"):
        _igc(shallow, X, y4, **kw)
    with pytest.raises(TargetError, match="constant"):
        _igc(shallow, X, np.where(y == 0, 1, y), **kw)
    with pytest.raises(ShapeError, match="baselines"):
        _igc(shallow, X, y, baselines=np.zeros((2, N_CHANS, N_TIMES - 1)), **kw)
    with pytest.raises(NonFiniteError):
        _igc(shallow, X, y, baselines=np.full((N_CHANS, N_TIMES), np.inf), **kw)
    with pytest.raises(UnknownNameError, match="'spectral', 'time'"):
        _igc(shallow, X, y, domain="freq", **kw)
    with pytest.raises(UnknownNameError, match="'data', 'zeros'"):
        _igc(shallow, X, y, baselines="mean", **kw)
    with pytest.raises(ShapeError):
        _igc(shallow, X[0], y, **kw)


def test_constant_output_is_nan_with_warning(data):
    from neuroxai._utils import DegenerateMethodWarning

    X, y = data
    model = TinyNet().double().eval()
    with torch.no_grad():
        model.lin.weight[1] = 0.0  # class 1's output is its bias for every trial
    with pytest.warns(DegenerateMethodWarning, match="constant"):
        a = _igc(model, X, y, n_baselines=2, n_steps=4)
    assert np.isnan(a.coords["correlation"][1]) and np.isnan(a.data[1]).all()
    assert np.isfinite(a.data[[0, 2]]).all()
