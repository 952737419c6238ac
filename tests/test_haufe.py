"""Haufe patterns done right: the Haufe et al. (2014) scaling, band-limited features, the
few-trials warning, and the two maps that need no linearisation (output covariance and
Schirrmeister et al.'s amplitude-perturbation correlations).

References are explicit and slow: the full ``(chan*freq)^2`` covariance with ``np.cov``,
per-feature loops, and a hand-rolled perturbation loop.
"""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from neuroxai import InvalidInputError
from neuroxai._utils import DegenerateMethodWarning
from neuroxai.attribution import (
    band_average,
    compute_amplitude_gradients,
    compute_amplitude_perturbation_correlations,
    compute_haufe_patterns,
    compute_output_covariance_patterns,
)

SFREQ = 64.0
BANDS = {"mu": (8, 13), "beta": (14, 30)}


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread):
    """Tiny tensors: one torch thread (see conftest)."""


def _info(n_chans, sfreq=SFREQ):
    import mne

    return mne.create_info(n_chans, sfreq, "eeg")


def _spectra(X):
    return np.abs(np.fft.rfft(X.astype(np.float64), axis=-1))


class _AmplitudeLinear(nn.Module):
    """f(x) = V . |rfft(x)| + b: linear in the amplitudes (its amplitude gradient is V)."""

    def __init__(self, n_chans, n_times, n_out=3, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        n_freqs = n_times // 2 + 1
        self.V = nn.Parameter(torch.randn(n_out, n_chans, n_freqs, generator=g,
                                          dtype=torch.float64) / n_freqs)
        self.b = nn.Parameter(torch.randn(n_out, generator=g, dtype=torch.float64))

    def forward(self, x):
        amps = torch.fft.rfft(x.double(), dim=-1).abs()
        return torch.einsum("bcf,ocf->bo", amps, self.V) + self.b


def _tiny_shallow(n_chans=3, n_times=64, n_out=3):
    from braindecode.models import ShallowFBCSPNet

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ShallowFBCSPNet(n_chans=n_chans, n_outputs=n_out, n_times=n_times,
                                filter_time_length=9, pool_time_length=15,
                                pool_time_stride=5, final_conv_length="auto")
    return model.double().eval()


def _data(n, n_chans, n_times, seed=0):
    # float32 values (the trials boundary gives float32), held in float64 for the references
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, n_chans, n_times)) * 5 + 0.5).astype(np.float32).astype(float)


# ---------------------------------------------------------------------------------------
# Haufe patterns: scaling and bands against explicit covariances
# ---------------------------------------------------------------------------------------
def _explicit(G, X, center=True, bands=None):
    n_classes = G.shape[0]
    A = _spectra(X)
    W = G.mean(axis=1)
    if center:
        W = W - W.mean(axis=0)
    if bands is not None:
        freqs = np.fft.rfftfreq(X.shape[-1], 1 / SFREQ)
        masks = [(freqs >= lo) & (freqs <= hi) for lo, hi in bands.values()]
        A = np.stack([A[..., m].mean(-1) for m in masks], -1)
        W = np.stack([W[..., m].sum(-1) for m in masks], -1)
    A, W = A.reshape(len(A), -1), W.reshape(n_classes, -1)
    cov = np.cov(A, rowvar=False)
    return cov, W, W @ cov


@pytest.mark.parametrize("center", [True, False])
def test_haufe_scaling_algebra(center):
    rng = np.random.default_rng(0)
    n_classes, n, c, t = 3, 40, 2, 16
    X = rng.standard_normal((n, c, t))
    G = rng.standard_normal((n_classes, n, c, t // 2 + 1))
    cov, W, plain = _explicit(G, X, center)
    score_cov = W @ cov @ W.T  # Cov(s), s = W a
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 40 trials >= 18 features: no warning
        haufe = compute_haufe_patterns(G, X, center_classes=center, scale="haufe")
        var = compute_haufe_patterns(G, X, center_classes=center, scale="variance")
    expected = np.linalg.pinv(score_cov, hermitian=True, rcond=1e-10) @ plain
    # float32 spectra (as the tutorial's float32 trials give) against float64: 1e-5
    tol = dict(rtol=1e-5, atol=1e-7 * np.abs(expected).max())
    np.testing.assert_allclose(haufe.data.reshape(n_classes, -1), expected, **tol)
    # filters and patterns are biorthogonal: W A^T = identity on the scores' span
    # (centred scores sum to zero, so the span misses the all-ones direction)
    span = np.eye(n_classes) - (np.ones((n_classes,) * 2) / n_classes if center else 0)
    np.testing.assert_allclose(W @ haufe.data.reshape(n_classes, -1).T, span, atol=1e-8)
    assert haufe.params["score_rank"] == n_classes - center
    np.testing.assert_allclose(haufe.params["score_cov"], score_cov, rtol=1e-5)
    # one class at a time: divided by its own score variance, so w_c . a_c = 1
    np.testing.assert_allclose(var.data.reshape(n_classes, -1),
                               plain / np.diag(score_cov)[:, None], **tol)
    np.testing.assert_allclose(np.einsum("cf,cf->c", W, var.data.reshape(n_classes, -1)), 1.0)
    if center:
        np.testing.assert_allclose(haufe.data.sum(axis=0), 0, atol=1e-10 * np.abs(expected).max())
    # the scale is a per-class (matrix) factor, not a change of the plain patterns
    plain_ours = compute_haufe_patterns(G, X, center_classes=center)
    np.testing.assert_allclose(plain_ours.data.reshape(n_classes, -1), plain, **{
        **tol, "atol": 1e-7 * np.abs(plain).max()})


def test_two_class_scaling_is_the_score_variance_division():
    """With 2 centred classes the scores are s and -s, Cov = Var(s) [[1, -1], [-1, 1]], whose
    pseudo-inverse gives P_1 (1 - (-1)) / (4 Var s) = P_1 / (2 Var s): half of "variance"."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 2, 16))
    G = rng.standard_normal((2, 30, 2, 9))
    cov, W, plain = _explicit(G, X)
    haufe = compute_haufe_patterns(G, X, scale="haufe").data.reshape(2, -1)
    var_s = W[0] @ cov @ W[0]
    np.testing.assert_allclose(haufe, plain / (2 * var_s), rtol=1e-5)
    var = compute_haufe_patterns(G, X, scale="variance").data.reshape(2, -1)
    np.testing.assert_allclose(var, 2 * haufe, rtol=1e-10)


def test_band_limited_haufe_equals_explicit():
    rng = np.random.default_rng(2)
    n_classes, n, c, t = 3, 12, 3, 64
    X = rng.standard_normal((n, c, t))
    G = rng.standard_normal((n_classes, n, c, t // 2 + 1))
    grads = _grads_attribution(G, c)
    cov, W, plain = _explicit(G, X, bands=BANDS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 12 trials >= 3 x 2 band features
        banded = compute_haufe_patterns(grads, X, bands=BANDS)
    assert banded.dims == ("class", "chan", "band")
    assert banded.coords["band"] == ["mu", "beta"]
    np.testing.assert_allclose(banded.coords["band_edges"], [[8, 13], [14, 30]])
    np.testing.assert_allclose(banded.data.reshape(n_classes, -1), plain, rtol=1e-5,
                               atol=1e-7 * np.abs(plain).max())
    assert banded.params["n_features"] == 6 and banded.params["trials_per_feature"] == 2.0
    # the bands are in Hz, so a bare array of gradients needs info= on the trials
    with pytest.raises(InvalidInputError, match="frequencies"):
        compute_haufe_patterns(G, X, bands=BANDS)
    scaled = compute_haufe_patterns(G, X, bands=BANDS, scale="haufe", info=_info(c))
    score_cov = W @ cov @ W.T
    np.testing.assert_allclose(scaled.data.reshape(n_classes, -1),
                               np.linalg.pinv(score_cov, hermitian=True) @ plain, rtol=1e-5)


def _grads_attribution(G, n_chans, sfreq=SFREQ):
    from neuroxai.attribution import Attribution

    freqs = np.fft.rfftfreq(2 * (G.shape[-1] - 1), 1 / sfreq)
    return Attribution(G, ("class", "trial", "chan", "freq"), info=_info(n_chans, sfreq),
                       coords={"freq": freqs, "class": [str(i) for i in range(len(G))]})


def test_few_trials_warning_gives_the_ratio():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3, 64))
    G = rng.standard_normal((2, 40, 3, 33))
    with pytest.warns(DegenerateMethodWarning) as rec:
        out = compute_haufe_patterns(_grads_attribution(G, 3), X)
    msg = str(rec[0].message)
    assert "40 trials for 99 features (3 channels x 33 frequencies)" in msg
    assert "0.404 trials per feature" in msg and "bands=" in msg
    assert out.params["trials_per_feature"] == pytest.approx(40 / 99)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compute_haufe_patterns(_grads_attribution(G, 3), X, bands=BANDS)


def test_band_errors():
    with pytest.raises(InvalidInputError, match="at least one frequency bin"):
        band_average(np.zeros((2, 11)), np.arange(11.0), {"x": (20, 30)})
    with pytest.raises(InvalidInputError, match="non-empty dict"):
        band_average(np.zeros((2, 11)), np.arange(11.0), [(1, 2)])
    with pytest.raises(InvalidInputError, match=r"\(fmin, fmax\)"):
        band_average(np.zeros((2, 11)), np.arange(11.0), {"x": 3})
    np.testing.assert_allclose(band_average(np.arange(11.0)[None], np.arange(11.0),
                                            {"a": (2, 4), "b": (9.5, 10)}), [[3.0, 10.0]])
    X = _data(4, 2, 16)
    with pytest.raises(InvalidInputError, match="scale"):
        compute_haufe_patterns(np.zeros((2, 4, 2, 9)), X, scale="Haufe")


# ---------------------------------------------------------------------------------------
# Output covariance patterns
# ---------------------------------------------------------------------------------------
def _outputs(model, X):
    with torch.no_grad():
        return model(torch.as_tensor(X)).double().numpy()


@pytest.mark.parametrize("center", [True, False])
def test_output_covariance_equals_explicit_loop(center):
    model = _tiny_shallow()
    X = _data(9, 3, 64)
    out = compute_output_covariance_patterns(model, X, info=_info(3), center_classes=center,
                                             batch_size=4, verbose=False)
    A = _spectra(X).reshape(9, -1)
    F = _outputs(model, X)
    if center:
        F = F - F.mean(axis=1, keepdims=True)
    expected = np.empty((3, A.shape[1]))
    for c in range(3):
        for j in range(A.shape[1]):
            expected[c, j] = np.cov(A[:, j], F[:, c])[0, 1]
    np.testing.assert_allclose(out.data.reshape(3, -1), expected, rtol=1e-5,
                               atol=1e-6 * np.abs(expected).max())
    assert out.dims == ("class", "chan", "freq")
    np.testing.assert_allclose(out.coords["freq"], np.fft.rfftfreq(64, 1 / SFREQ))
    scaled = compute_output_covariance_patterns(model, X, info=_info(3), center_classes=center,
                                                scale="haufe", verbose=False)
    S = np.cov(F, rowvar=False)
    np.testing.assert_allclose(scaled.data.reshape(3, -1),
                               np.linalg.pinv(S, hermitian=True, rcond=1e-10) @ expected,
                               rtol=1e-4, atol=1e-6 * np.abs(scaled.data).max())
    banded = compute_output_covariance_patterns(model, X, info=_info(3), center_classes=center,
                                                bands=BANDS, verbose=False)
    Ab = band_average(_spectra(X), np.fft.rfftfreq(64, 1 / SFREQ), BANDS).reshape(9, -1)
    ref = np.array([[np.cov(Ab[:, j], F[:, c])[0, 1] for j in range(6)] for c in range(3)])
    np.testing.assert_allclose(banded.data.reshape(3, -1), ref, rtol=1e-5,
                               atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("scale", [None, "haufe", "variance"])
def test_output_covariance_is_haufe_for_amplitude_linear_model(scale):
    """f = V |rfft(x)| + b: the gradients are V on every trial, and cov(a, f) = Cov(a) V^T."""
    model = _AmplitudeLinear(3, 64).eval()
    X = _data(30, 3, 64)
    info = _info(3)
    grads = compute_amplitude_gradients(model, X, info=info, verbose=False)
    np.testing.assert_allclose(grads.data, np.broadcast_to(model.V.detach().numpy()[:, None],
                                                           grads.shape), rtol=1e-6, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMethodWarning)  # 30 trials, 99 features
        haufe = compute_haufe_patterns(grads, X, scale=scale)
    cov = compute_output_covariance_patterns(model, X, info=info, scale=scale, verbose=False)
    np.testing.assert_allclose(cov.data, haufe.data, rtol=1e-5,
                               atol=1e-7 * np.abs(haufe.data).max())


# ---------------------------------------------------------------------------------------
# Amplitude-perturbation correlations (Schirrmeister et al., 2017)
# ---------------------------------------------------------------------------------------
def _perturbation_reference(model, X, n_repetitions, noise_std, seed, center):
    """Explicit loops: one trial at a time, one np.corrcoef per (class, chan, freq)."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(X, axis=-1)
    amps, phases = np.abs(spec), np.angle(spec)
    amp_std = amps.std(axis=0)
    base = _outputs(model, X)
    perts, diffs = [], []
    for _ in range(n_repetitions):
        noise = rng.standard_normal(amps.shape, dtype=np.float32) * (noise_std * amp_std
                                                                      ).astype(np.float32)
        for i in range(len(X)):
            pert = np.maximum(noise[i].astype(np.float64), -amps[i])
            x_new = np.fft.irfft((amps[i] + pert) * np.exp(1j * phases[i]), n=X.shape[-1])
            d = _outputs(model, x_new[None])[0] - base[i]
            if center:
                d = d - d.mean()
            perts.append(pert.ravel())
            diffs.append(d)
    perts, diffs = np.array(perts), np.array(diffs)
    corr = np.array([[np.corrcoef(perts[:, j], diffs[:, c])[0, 1]
                      for j in range(perts.shape[1])] for c in range(diffs.shape[1])])
    return corr.reshape((diffs.shape[1],) + amps.shape[1:])


@pytest.mark.parametrize("center", [False, True])
def test_perturbation_correlations_equal_hand_rolled_loop(center):
    model = _tiny_shallow(n_chans=2, n_times=32, n_out=2)
    X = _data(5, 2, 32)
    kw = dict(n_repetitions=4, noise_std=0.3, seed=7, center_classes=center, info=_info(2),
              verbose=False)
    ours = compute_amplitude_perturbation_correlations(model, X, batch_size=2, **kw)
    ref = _perturbation_reference(model, X, 4, 0.3, 7, center)
    # (the noise scale comes from float32 spectra here: ~1e-7 relative)
    np.testing.assert_allclose(ours.data, ref, rtol=1e-5, atol=1e-6)
    assert ours.dims == ("class", "chan", "freq") and ours.params["n_samples"] == 20
    # the noise of a repetition is drawn for all trials at once: batching does not matter
    other = compute_amplitude_perturbation_correlations(model, X, batch_size=50, **kw)
    np.testing.assert_allclose(other.data, ours.data, rtol=1e-10, atol=1e-12)
    again = compute_amplitude_perturbation_correlations(
        model, X, batch_size=2, **{**kw, "seed": np.random.default_rng(7)})
    np.testing.assert_allclose(again.data, ours.data, rtol=1e-10, atol=1e-12)


def test_perturbation_correlations_linear_oracle():
    """For f = V a, the change is V . noise: corr = V_j s_j / sqrt(sum_k V_k^2 s_k^2)."""
    model = _AmplitudeLinear(2, 16, n_out=2, seed=3).eval()
    X = _data(40, 2, 16) + 20.0  # amplitudes far from 0: the clipping never acts
    out = compute_amplitude_perturbation_correlations(model, X, n_repetitions=100,
                                                      noise_std=0.05, seed=0, info=_info(2),
                                                      verbose=False)
    s = 0.05 * _spectra(X).std(axis=0)  # each amplitude's noise std
    V = model.V.detach().numpy()
    expected = V * s / np.sqrt(((V * s) ** 2).sum(axis=(1, 2)))[:, None, None]
    assert out.params["n_samples"] == 4000
    # standard error ~ 1/sqrt(4000) = 0.016
    np.testing.assert_allclose(out.data, expected, atol=0.06)
    assert np.corrcoef(out.data.ravel(), expected.ravel())[0, 1] > 0.97


def test_pattern_bad_input():
    model = _tiny_shallow(n_chans=2, n_times=32, n_out=2)
    X = _data(4, 2, 32)
    with pytest.raises(InvalidInputError, match="info="):
        compute_output_covariance_patterns(model, X)
    with pytest.raises(InvalidInputError, match="n_repetitions"):
        compute_amplitude_perturbation_correlations(model, X, info=_info(2), n_repetitions=0)
    with pytest.raises(InvalidInputError, match="noise_std"):
        compute_amplitude_perturbation_correlations(model, X, info=_info(2), noise_std=0)
    with pytest.raises(InvalidInputError, match="seed"):
        compute_amplitude_perturbation_correlations(model, X, info=_info(2), seed=-1)
    with pytest.raises(InvalidInputError, match="at least 2 trials"):
        compute_output_covariance_patterns(model, X[:1], info=_info(2))
    with pytest.raises(InvalidInputError, match="scale"):
        compute_output_covariance_patterns(model, X, info=_info(2), scale="pinv")
    with pytest.raises(InvalidInputError, match="at least one frequency bin"):
        compute_output_covariance_patterns(model, X, info=_info(2), bands={"g": (40, 50)})


# ---------------------------------------------------------------------------------------
# The tutorial's signature on the simulator: left hand -> C4, right hand -> C3
# ---------------------------------------------------------------------------------------
def _mu(att):
    return band_average(att.data, att.coords["freq"], {"mu": (8, 13)})[..., 0]


def _assert_contralateral(mu, trials, sign):
    ch = list(trials.info.ch_names)
    c3, c4 = ch.index("C3"), ch.index("C4")
    left = trials.class_names.index("left_hand")
    right = trials.class_names.index("right_hand")
    assert abs(mu[left, c4]) > abs(mu[left, c3])
    assert abs(mu[right, c3]) > abs(mu[right, c4])
    # less mu amplitude (desynchronisation) goes with more of the class
    assert sign * mu[left, c4] > 0 and sign * mu[right, c3] > 0


def test_contralateral_mu_output_covariance(shipped_model, sim_spectral):
    test = sim_spectral.trials.select("1test")
    out = compute_output_covariance_patterns(shipped_model[0], test, verbose=False)
    _assert_contralateral(_mu(out), test, -1)
    scaled = compute_output_covariance_patterns(shipped_model[0], test, scale="haufe",
                                                verbose=False)
    _assert_contralateral(_mu(scaled), test, -1)


@pytest.mark.slow
def test_contralateral_mu_amplitude_perturbation(shipped_model, sim_spectral):
    test = sim_spectral.trials.select("1test")
    corr = compute_amplitude_perturbation_correlations(shipped_model[0], test,
                                                       n_repetitions=3, seed=0,
                                                       batch_size=96, verbose=False)
    assert corr.params["prediction_change_rate"] < 0.05
    _assert_contralateral(_mu(corr), test, -1)
