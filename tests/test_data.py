import numpy as np
import pytest

from neuroxai import (
    DataNotAvailableError,
    MontageError,
    NonFiniteError,
    ShapeError,
    UnknownNameError,
)
from neuroxai.data import (
    BCIC_IV_2A_CHANNELS,
    BCIC_IV_2A_CLASSES,
    Trials,
    load_moabb,
    make_info,
    simulate_bcic_iv_2a,
    trials_from_windows,
)


def test_default_simulation_layout(sim_spectral):
    tr = sim_spectral.trials
    assert tr.X.shape == (576, 22, 1125) and tr.X.dtype == np.float32
    assert tuple(tr.info.ch_names) == tuple(BCIC_IV_2A_CHANNELS)
    assert tr.info["sfreq"] == 250.0 and tr.tmin == -0.5
    assert tr.class_names == BCIC_IV_2A_CLASSES
    assert tr.sessions == ["0train", "1test"]
    for sess in tr.sessions:  # balanced within each session
        assert np.all(np.bincount(tr.select(sess).y, minlength=4) == 72)
    # every channel placed by the montage
    pos = np.array([ch["loc"][:3] for ch in tr.info["chs"]])
    assert np.all(np.isfinite(pos)) and np.all(np.linalg.norm(pos, axis=1) > 0.05)
    # like standardised EEG: about unit variance; only the white sensor noise is outside 4-38 Hz
    assert 0.7 < tr.X.std() < 1.5
    spec = np.abs(np.fft.rfft(tr.X[:20], axis=-1)) ** 2
    freqs = np.fft.rfftfreq(1125, 1 / 250)
    outside = spec[..., (freqs < 3.5) | (freqs > 38.5)].sum() / spec.sum()
    assert outside < 0.01


def test_windows_dataset_like_real_loaders(sim_spectral):
    windows = sim_spectral.windows
    splits = windows.split("session")
    assert set(splits) == {"0train", "1test"}
    test = trials_from_windows(splits["1test"])
    ref = sim_spectral.trials.select("1test")
    np.testing.assert_array_equal(test.X, ref.X)
    np.testing.assert_array_equal(test.y, ref.y)
    assert test.class_names == BCIC_IV_2A_CLASSES and test.tmin == -0.5
    x, y, _ = splits["0train"][0]
    assert x.shape == (22, 1125) and y == sim_spectral.trials.select("0train").y[0]


def test_simulation_bit_reproducible_and_seeded():
    a = simulate_bcic_iv_2a("temporal", n_trials=16, n_sessions=1, seed=3)
    b = simulate_bcic_iv_2a("temporal", n_trials=16, n_sessions=1, seed=3)
    c = simulate_bcic_iv_2a("temporal", n_trials=16, n_sessions=1, seed=4)
    assert np.array_equal(a.trials.X, b.trials.X) and np.array_equal(a.trials.y, b.trials.y)
    assert not np.allclose(a.trials.X, c.trials.X)


def test_ground_truth_sources_at_motor_areas(sim_spectral):
    gt = sim_spectral.ground_truth
    ch = list(BCIC_IV_2A_CHANNELS)
    k = {c: i for i, c in enumerate(BCIC_IV_2A_CLASSES)}
    assert gt.chan_time.shape == (4, 22, 1125) and gt.chan_freq.shape == (4, 22, 563)
    assert gt.chan[k["left_hand"], ch.index("C4")] and not gt.chan[k["left_hand"], ch.index("C3")]
    assert gt.chan[k["right_hand"], ch.index("C3")] and not gt.chan[k["right_hand"], ch.index("C4")]
    assert gt.chan[k["feet"], ch.index("Cz")]
    assert gt.chan[k["tongue"], ch.index("C5")] and gt.chan[k["tongue"], ch.index("C6")]
    # spectral regime: mu/beta bins after the desynchronisation onset
    mu = (gt.freqs >= 8) & (gt.freqs <= 13)
    assert gt.chan_freq[k["left_hand"], ch.index("C4")][mu].all()
    assert not gt.chan_freq[k["left_hand"], ch.index("C4")][gt.freqs > 30].any()
    assert not gt.chan_time[k["left_hand"], ch.index("C4")][gt.times < 0].any()


def _mu_power(trials, t_from=1.0):
    from scipy.signal import welch

    f, P = welch(trials.X[:, :, trials.times >= t_from], fs=trials.sfreq, nperseg=250)
    return P[:, :, (f >= 8) & (f <= 13)].mean(-1)


def test_spectral_regime_desynchronises_contralaterally(sim_spectral):
    tr = sim_spectral.trials.select("0train")
    mu = _mu_power(tr)
    ch = list(tr.info.ch_names)
    c3, c4 = ch.index("C3"), ch.index("C4")
    left, right = tr.y == 1, tr.y == 2
    # left hand imagery: mu drops over the right hemisphere (C4), and vice versa
    assert mu[left, c4].mean() < 0.8 * mu[right, c4].mean()
    assert mu[right, c3].mean() < 0.8 * mu[left, c3].mean()


@pytest.mark.parametrize("regime", ["temporal", "spatial"])
def test_other_regimes_carry_class_information_where_the_truth_says(regime):
    sim = simulate_bcic_iv_2a(regime, n_trials=80, n_sessions=1, snr=2.0, seed=1)
    tr, gt = sim.trials, sim.ground_truth
    # class-average evoked power inside the truth mask exceeds that outside it
    for k in range(4):
        ev = tr.X[tr.y == k]
        if regime == "temporal":  # phase-locked transient: visible in the average
            power = ev.mean(0) ** 2
        else:  # burst with random phase: visible in the power
            power = (ev**2).mean(0)
        inside = power[gt.chan_time[k]].mean()
        outside = power[~gt.chan_time[k]].mean()
        assert inside > 1.5 * outside, (regime, k)


def test_simulation_bad_input():
    with pytest.raises(UnknownNameError, match="spectral"):
        simulate_bcic_iv_2a("spectrall")
    with pytest.raises(ValueError):
        simulate_bcic_iv_2a(n_trials=2)
    with pytest.raises(ValueError):
        simulate_bcic_iv_2a(snr=float("nan"))


def test_info_and_trials_validation():
    with pytest.raises(MontageError, match="XYZ"):
        make_info(["C3", "XYZ"])
    info = make_info(["C3", "Cz", "C4"])
    X = np.zeros((4, 3, 10), np.float32)
    with pytest.raises(ShapeError):
        Trials(X[0], np.zeros(4), info, ("a", "b"))
    with pytest.raises(ShapeError):
        Trials(X[:, :2], np.zeros(4), info, ("a", "b"))
    X[1, 2, 3] = np.nan
    with pytest.raises(NonFiniteError, match="NaN"):
        Trials(X, np.zeros(4), info, ("a", "b"))
    with pytest.raises(ValueError, match="0..1"):
        Trials(np.zeros((4, 3, 10)), np.array([0, 1, 2, 0]), info, ("a", "b"))


def test_trials_epochs_round_trip(sim_spectral):
    tr = sim_spectral.trials.select("1test", idx=np.arange(12))
    ep = tr.to_epochs()
    back = Trials.from_epochs(ep, class_names=tr.class_names)
    np.testing.assert_allclose(back.X, tr.X)
    np.testing.assert_array_equal(back.y, tr.y)


def test_load_moabb_offline_without_cache_is_a_clear_error(tmp_path, monkeypatch):
    import time

    import moabb.datasets  # noqa: F401  (its import time is not the failure time)

    monkeypatch.delenv("MNE_DATA", raising=False)
    t0 = time.perf_counter()
    with pytest.raises(DataNotAvailableError, match="simulate_bcic_iv_2a"):
        load_moabb("BNCI2014_001", 1, cache_dir=tmp_path)
    assert time.perf_counter() - t0 < 5  # fails fast, never retries
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # nothing partial in the cache
    with pytest.raises(UnknownNameError, match="BNCI2014_001"):
        load_moabb("BNCI2014_999")
    with pytest.raises(UnknownNameError, match="left_right"):
        load_moabb("PhysionetMI", task="tongue")


def test_load_physionet_mi_from_shared_data(monkeypatch, shared_mne_data):
    """EEGMMIDB subject 1 through MOABB offline, in seconds, equal to the steps by hand."""
    import time

    import mne
    from braindecode.preprocessing import exponential_moving_standardize

    monkeypatch.setenv("MNE_DATA", str(shared_mne_data))
    monkeypatch.setenv("MOABB_DOWNLOAD_PROVIDER", "auto")  # NEMAR first, unless files are local
    load_moabb("PhysionetMI", 1, task="hands_feet", verbose=False)  # warm the imports
    t0 = time.perf_counter()
    tr = load_moabb("PhysionetMI", 1, task="left_right", as_trials=True, verbose=False)
    assert time.perf_counter() - t0 < 20  # offline, no network retries
    assert tr.X.shape == (45, 64, 560)  # 3 runs x 15 trials, 64 ch, 3.5 s at 160 Hz
    assert tr.class_names == ("left_hand", "right_hand")
    assert sorted(np.bincount(tr.y)) == [22, 23]
    assert tr.tmin == -0.5 and tr.info["sfreq"] == 160.0
    # run 4 by hand: MNE's band-pass and braindecode's standardisation, cut at T1/T2 + 0..3 s
    fname = mne.datasets.eegbci.load_data(1, [4], path=str(shared_mne_data), update_path=False)
    raw = mne.io.read_raw_edf(fname[0], preload=True, verbose=False)
    x = mne.filter.filter_data(raw.get_data() * 1e6, 160.0, 4.0, 38.0, verbose=False)
    x = exponential_moving_standardize(x, factor_new=1e-3, init_block_size=1000)
    ann = raw.annotations[np.isin([str(d) for d in raw.annotations.description], ["T1", "T2"])]
    onsets = raw.time_as_index(ann.onset, use_rounding=True, origin=ann.orig_time)
    np.testing.assert_allclose(tr.X[:15], np.stack([x[:, o - 80:o + 480] for o in onsets]),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(tr.y[:15], [0 if str(d) == "T1" else 1
                                             for d in ann.description])
    feet = load_moabb("PhysionetMI", 1, task="hands_feet", as_trials=True, verbose=False)
    assert feet.class_names == ("feet", "hands") and feet.X.shape == (45, 64, 560)
