import numpy as np
import pytest
import torch

from neuroxai import InvalidInputError, ModelMismatchError, NonFiniteError, ShapeError
from neuroxai.attribution import compute_amplitude_gradients, compute_haufe_patterns
from neuroxai.attribution.spectral import amplitude_spectra, band_average


def _small_model(n_chans=5, n_times=200, n_outputs=3, seed=0):
    from braindecode.models import ShallowFBCSPNet

    torch.manual_seed(seed)
    return ShallowFBCSPNet(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times,
                           final_conv_length="auto").eval()


def _info(n_chans, sfreq=250.0):
    import mne

    return mne.create_info(n_chans, sfreq, "eeg")


def test_independent_of_batch_size_and_equal_to_braindecode_times_batch():
    from braindecode.visualization import amplitude_gradients, amplitude_gradients_per_trial

    model = _small_model()
    X = np.random.default_rng(0).standard_normal((10, 5, 200)).astype(np.float32)
    ours_full = compute_amplitude_gradients(model, X, batch_size=10, info=_info(5)).data
    ours_small = compute_amplitude_gradients(model, X, batch_size=3, info=_info(5)).data
    assert ours_full.shape == (3, 10, 5, 101)
    np.testing.assert_allclose(ours_small, ours_full, rtol=1e-5, atol=1e-7)
    # braindecode differentiates the batch mean: ours == theirs x batch size on one full batch
    theirs = amplitude_gradients(model, X)
    np.testing.assert_allclose(ours_full, theirs * 10, rtol=1e-4, atol=1e-7)
    # ... and with batches of 4 over 10 trials its last batch (2 trials) is weighted 2x the others
    per_trial = amplitude_gradients_per_trial(model, torch.utils.data.TensorDataset(
        torch.from_numpy(X)), batch_size=4)
    ratio = np.abs(ours_full).sum(axis=(0, 2, 3)) / np.abs(per_trial).sum(axis=(0, 2, 3))
    np.testing.assert_allclose(ratio, [4] * 8 + [2] * 2, rtol=1e-3)


def test_equals_finite_differences_on_the_amplitude():
    """Slow explicit reference: perturb one amplitude bin, phases fixed."""
    model = _small_model(n_chans=2, n_times=128, n_outputs=2).double()
    X = np.random.default_rng(1).standard_normal((2, 2, 128)).astype(np.float32).astype(np.float64)
    g = compute_amplitude_gradients(model, X, info=_info(2)).data
    spec = np.fft.rfft(X, axis=-1)
    amp, ph = np.abs(spec), np.angle(spec)
    eps = 1e-6
    for trial, ch, f in [(0, 0, 5), (1, 1, 12), (0, 1, 20)]:
        a = amp.copy()
        a[trial, ch, f] += eps
        xp = np.fft.irfft(a * np.exp(1j * ph), n=128, axis=-1)
        a[trial, ch, f] -= 2 * eps
        xm = np.fft.irfft(a * np.exp(1j * ph), n=128, axis=-1)
        with torch.no_grad():
            fd = (model(torch.from_numpy(xp)) - model(torch.from_numpy(xm)))[trial] / (2 * eps)
        np.testing.assert_allclose(g[:, trial, ch, f], fd.numpy(), rtol=2e-3, atol=1e-5)


def test_haufe_low_rank_equals_explicit_covariance():
    rng = np.random.default_rng(0)
    n_classes, n, c, t = 3, 15, 4, 40
    X = rng.standard_normal((n, c, t)).astype(np.float32)
    G = rng.standard_normal((n_classes, n, c, t // 2 + 1))
    ours = compute_haufe_patterns(G, X).data
    # the tutorial's route: float64 spectra, explicit (chan*freq)^2 covariance, an einsum
    A = np.abs(np.fft.rfft(X.astype(np.float64), axis=-1)).reshape(n, -1)
    np.testing.assert_allclose(amplitude_spectra(X, chunk_size=4).reshape(n, -1), A,
                               rtol=1e-5, atol=1e-5)
    cov = np.cov(A, rowvar=False)
    W = G.mean(axis=1).reshape(n_classes, -1)
    W -= W.mean(axis=0)
    explicit = np.einsum("de,ke->kd", cov, W).reshape(n_classes, c, -1)
    np.testing.assert_allclose(ours, explicit, rtol=1e-5, atol=1e-6 * np.abs(explicit).max())
    # without class centring it is the plain class-mean gradient's pattern
    raw = compute_haufe_patterns(G, X, center_classes=False).data
    ref = G.mean(1).reshape(n_classes, -1) @ cov
    np.testing.assert_allclose(raw.reshape(n_classes, -1), ref, rtol=1e-5,
                               atol=1e-6 * np.abs(ref).max())


def test_bad_input():
    model = _small_model()
    X = np.zeros((4, 5, 200), np.float32)
    with pytest.raises(ShapeError):
        compute_amplitude_gradients(model, X[0], info=_info(5))
    with pytest.raises(InvalidInputError, match="info="):  # Hz need a sampling rate
        compute_amplitude_gradients(model, X)
    with pytest.raises(ModelMismatchError, match="5 channels"):
        compute_amplitude_gradients(model, X[:, :4], info=_info(4))
    X[0, 0, 0] = np.inf
    with pytest.raises(NonFiniteError):
        compute_amplitude_gradients(model, X, info=_info(5))
    with pytest.raises(ShapeError, match="same trials"):
        compute_haufe_patterns(np.zeros((3, 4, 5, 101)), np.zeros((5, 5, 200)))
    with pytest.raises(InvalidInputError, match="at least one frequency bin"):
        band_average(np.zeros((2, 11)), np.arange(11.0), {"x": (20, 30)})


def test_contralateral_mu_haufe_patterns(shipped_model, sim_spectral):
    """The tutorial's signature: left hand over C4 (right hemisphere), right hand over C3."""
    model = shipped_model[0]
    test = sim_spectral.trials.select("1test")
    grads = compute_amplitude_gradients(model, test.X, info=test.info,
                                        class_names=test.class_names)
    patterns = compute_haufe_patterns(grads, test.X)
    mu = band_average(patterns.data, patterns.coords["freq"], {"mu": (8, 13)})[..., 0]
    ch = list(test.info.ch_names)
    c3, c4 = ch.index("C3"), ch.index("C4")
    left, right = test.class_names.index("left_hand"), test.class_names.index("right_hand")
    assert abs(mu[left, c4]) > abs(mu[left, c3])
    assert abs(mu[right, c3]) > abs(mu[right, c4])
    # the contralateral mu amplitude pattern is negative: desynchronisation raises the score
    assert mu[left, c4] < 0 and mu[right, c3] < 0
    # MNE containers: one Spectrum per class
    spectra = patterns.to_spectrum()
    assert set(spectra) == set(test.class_names)
    assert spectra["left_hand"].get_data().shape == (22, 563)
