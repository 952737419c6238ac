"""Presets, ``preprocess`` and ``epochs_from_raw`` against the same steps done by hand."""
import dataclasses
import warnings

import mne
import numpy as np
import pytest
from scipy import signal

from neuroxai import InvalidInputError, UnknownNameError
from neuroxai.data import (
    HIGH_GAMMA_CHANNELS,
    PRESETS,
    Preset,
    epochs_from_raw,
    preprocess,
)


def _ems(data, preset):
    from braindecode.preprocessing import exponential_moving_standardize

    return exponential_moving_standardize(data, factor_new=preset.factor_new,
                                          init_block_size=preset.init_block_size, eps=preset.eps)


def _to_microvolts(x):
    return x * 1e6


def _tutorial_by_hand(raw):
    """braindecode's tutorial steps written out with MNE and braindecode's function."""
    eeg = raw.copy().pick("eeg")
    x = eeg.get_data() * 1e6
    x = mne.filter.filter_data(x, eeg.info["sfreq"], 4.0, 38.0, verbose=False)
    return _ems(x, PRESETS["bcic_iv_2a_tutorial"])


def _synthetic_raw(sfreq=128.0, ch_names=("C3", "Cz", "C4", "FC1", "CP2"), seconds=60.0,
                   onsets=None, duration=3.0, names=("left", "right"), seed=0):
    """EEG in volts plus an EOG and a stim channel, one annotation per trial."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sfreq)
    t = np.arange(n) / sfreq
    eeg = 2e-5 * rng.standard_normal((len(ch_names), n)) + 1e-5 * np.sin(2 * np.pi * 10 * t)
    eeg += 5e-5  # a DC offset the band-pass must remove
    data = np.vstack([eeg, 1e-4 * rng.standard_normal((1, n)), np.zeros((1, n))])
    info = mne.create_info(list(ch_names) + ["EOG1", "STI"], sfreq,
                           ["eeg"] * len(ch_names) + ["eog", "stim"])
    raw = mne.io.RawArray(data, info, verbose=False)
    if onsets is None:
        onsets = np.arange(2.0, seconds - duration - 1, 6.0)
    desc = [names[k % len(names)] for k in range(len(onsets))]
    raw.set_annotations(mne.Annotations(onsets, [duration] * len(onsets), desc))
    return raw


def test_presets_are_data_with_sources():
    assert set(PRESETS) >= {"bcic_iv_2a_tutorial", "high_gamma"}
    tut, hg = PRESETS["bcic_iv_2a_tutorial"], PRESETS["high_gamma"]
    assert (tut.picks, tut.scale, tut.l_freq, tut.h_freq) == ("eeg", 1e6, 4.0, 38.0)
    assert (tut.factor_new, tut.init_block_size, tut.tmin) == (1e-3, 1000, -0.5)
    assert len(HIGH_GAMMA_CHANNELS) == len(set(HIGH_GAMMA_CHANNELS)) == 44
    assert all("c" in ch.lower() for ch in HIGH_GAMMA_CHANNELS)  # the "C sensors"
    assert (hg.resample_sfreq, hg.l_freq, hg.h_freq, hg.reject_abs_uv) == (250.0, 4.0, None, 800)
    assert "hbm.23730" in hg.source and tut.source
    with pytest.raises(dataclasses.FrozenInstanceError):
        tut.l_freq = 8.0
    with pytest.raises(TypeError):
        PRESETS["mine"] = tut  # read-only mapping
    with pytest.raises(UnknownNameError, match="bcic_iv_2a_tutorial.*high_gamma"):
        preprocess(_synthetic_raw(), "bcic_iv_2b")
    with pytest.raises(InvalidInputError, match="filter_method"):
        Preset("bad", filter_method="butter")
    with pytest.raises(InvalidInputError, match="picks must be 'eeg'"):
        Preset("bad", picks="C3")


def test_preprocess_raw_equals_the_tutorial_steps_by_hand():
    raw = _synthetic_raw()
    before = raw.get_data().copy()
    out = preprocess(raw)
    assert isinstance(out, mne.io.BaseRaw) and out is not raw
    np.testing.assert_array_equal(raw.get_data(), before)  # input untouched
    assert out.ch_names == ["C3", "Cz", "C4", "FC1", "CP2"]  # EOG and stim dropped
    np.testing.assert_allclose(out.get_data(), _tutorial_by_hand(raw), rtol=1e-7, atol=1e-9)


def test_preprocess_raw_equals_braindecodes_tutorial_route():
    """The same numbers as braindecode's own Preprocessor list from the tutorial."""
    import pandas as pd
    from braindecode.datasets import BaseConcatDataset, RawDataset
    from braindecode.preprocessing import Preprocessor, exponential_moving_standardize
    from braindecode.preprocessing import preprocess as bd_preprocess

    raw = _synthetic_raw(sfreq=250.0, seconds=40.0)
    concat = BaseConcatDataset([RawDataset(raw.copy(), pd.Series({"subject": 1}))])
    bd_preprocess(concat, [
        Preprocessor("pick_types", eeg=True, meg=False, stim=False, apply_on_array=False),
        Preprocessor(_to_microvolts),
        Preprocessor("filter", l_freq=4.0, h_freq=38.0, apply_on_array=False),
        Preprocessor(exponential_moving_standardize, factor_new=1e-3, init_block_size=1000),
    ])
    np.testing.assert_allclose(preprocess(raw).get_data(), concat.datasets[0].raw.get_data(),
                               rtol=1e-7, atol=1e-9)


def test_high_gamma_preset_equals_the_papers_steps():
    """Pick the 44 C sensors, resample to 250 Hz, causal 3rd-order Butterworth high-pass at
    4 Hz (scipy's lfilter, as braindecode 0.4's highpass_cnt), moving standardisation."""
    extra = ("Fp1", "O1", "Pz")
    names = tuple(reversed(HIGH_GAMMA_CHANNELS)) + extra
    raw = _synthetic_raw(sfreq=500.0, ch_names=names, seconds=20.0)
    out = preprocess(raw, "high_gamma")
    assert out.ch_names == list(HIGH_GAMMA_CHANNELS)  # the preset's order, others dropped
    assert out.info["sfreq"] == 250.0
    x = raw.copy().pick(list(HIGH_GAMMA_CHANNELS)).resample(250.0).get_data() * 1e6
    b, a = signal.butter(3, 4.0 / 125.0, btype="highpass")
    expected = _ems(signal.lfilter(b, a, x, axis=1), PRESETS["high_gamma"])
    np.testing.assert_allclose(out.get_data(), expected, rtol=1e-6, atol=1e-8)
    # channels named in another case still match; a missing one is a named error
    upper = raw.copy().rename_channels({c: c.upper() for c in names})
    assert len(preprocess(upper, "high_gamma").ch_names) == 44
    with pytest.raises(InvalidInputError, match="not in the recording.*CPP2h"):
        preprocess(raw.copy().drop_channels(["CPP2h"]), "high_gamma")


def test_preprocess_epochs_warns_and_equals_per_epoch_steps():
    raw = _synthetic_raw(sfreq=160.0)
    events, event_id = mne.events_from_annotations(raw, verbose=False)
    epochs = mne.Epochs(raw, events, event_id, tmin=-0.5, tmax=3.0 - 1 / 160, baseline=None,
                        preload=True, verbose=False)
    with pytest.warns(RuntimeWarning, match="each epoch separately.*epochs_from_raw"):
        out = preprocess(epochs)
    assert isinstance(out, mne.BaseEpochs) and out.ch_names == epochs.copy().pick("eeg").ch_names
    assert out.tmin == epochs.tmin and list(out.event_id) == list(event_id)
    by_hand = epochs.copy().pick("eeg")
    by_hand.apply_function(lambda x: x * 1e6, picks="all")
    by_hand.filter(4.0, 38.0, verbose=False)
    expected = np.stack([_ems(e, PRESETS["bcic_iv_2a_tutorial"]) for e in by_hand.get_data()])
    np.testing.assert_allclose(out.get_data(), expected, rtol=1e-7, atol=1e-9)
    # and it does differ from the Raw route, which is why it warns
    raw_route = epochs_from_raw(raw, preset="bcic_iv_2a_tutorial").get_data()
    assert raw_route.shape == out.get_data().shape
    assert not np.allclose(raw_route, out.get_data(), atol=0.05)


def test_epochs_from_raw_windows_equal_slices_and_braindecode():
    import pandas as pd
    from braindecode.datasets import BaseConcatDataset, RawDataset
    from braindecode.preprocessing import create_windows_from_events

    raw = _synthetic_raw(sfreq=256.0)
    pre = preprocess(raw)
    ep = epochs_from_raw(raw, preset="bcic_iv_2a_tutorial")
    sfreq = 256.0
    assert ep.event_id == {"left": 1, "right": 2} and ep.baseline is None
    assert ep.tmin == -0.5 and len(ep.times) == int((3.0 + 0.5) * sfreq)
    onsets = raw.time_as_index(raw.annotations.onset, use_rounding=True,
                               origin=raw.annotations.orig_time)
    x = pre.get_data()
    by_hand = np.stack([x[:, o - 128:o + 768] for o in onsets])
    np.testing.assert_allclose(ep.get_data(), by_hand, rtol=1e-7, atol=1e-9)
    # braindecode's windower on the same preprocessed recording
    concat = BaseConcatDataset([RawDataset(pre, pd.Series({"subject": 1}))])
    win = create_windows_from_events(concat, trial_start_offset_samples=-128,
                                     trial_stop_offset_samples=0, preload=True,
                                     mapping={"left": 0, "right": 1})
    bd = np.stack([win[i][0] for i in range(len(win))])
    np.testing.assert_allclose(ep.get_data(), bd, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ep.events[:, 2] - 1, [win[i][1] for i in range(len(win))])


def test_epochs_from_raw_event_id_forms_and_errors():
    raw = _synthetic_raw(sfreq=128.0, names=("b_cls", "a_cls", "c_cls"))
    raw.set_annotations(raw.annotations + mne.Annotations([8.5], [0.5], ["BAD_blink"]))
    ep = epochs_from_raw(raw)  # all trial names, sorted codes, BAD ignored as a class
    assert ep.event_id == {"a_cls": 1, "b_cls": 2, "c_cls": 3}
    assert len(ep) == len(raw.annotations) - 2  # one BAD, one trial overlapping it
    assert ep.tmin == 0.0 and len(ep.times) == 3 * 128
    ep = epochs_from_raw(raw, ["c_cls", "a_cls"], tmin=-0.25, tmax=1.0)
    assert ep.event_id == {"c_cls": 1, "a_cls": 2} and len(ep.times) == int(1.25 * 128) + 1
    ep = epochs_from_raw(raw, {"a_cls": 769, "b_cls": 770})
    assert ep.event_id == {"a_cls": 769, "b_cls": 770}
    assert set(ep.events[:, 2]) == {769, 770}
    with pytest.raises(UnknownNameError, match="a_cls"):
        epochs_from_raw(raw, ["left"])
    varied = raw.copy()
    varied.set_annotations(mne.Annotations([2.0, 9.0], [3.0, 4.0], ["x", "y"]))
    with pytest.raises(InvalidInputError, match="Pass tmax"):
        epochs_from_raw(varied)
    assert len(epochs_from_raw(varied, tmax=2.0)) == 2
    bare = raw.copy().set_annotations(None)
    with pytest.raises(InvalidInputError, match="no trial annotations"):
        epochs_from_raw(bare)
    with pytest.raises(InvalidInputError, match="mne.io.Raw"):
        epochs_from_raw(raw.get_data())
    with pytest.raises(InvalidInputError, match="Raw or mne.Epochs"):
        preprocess(np.zeros((3, 100)))


def test_high_gamma_rejects_trials_above_800_microvolts():
    raw = _synthetic_raw(sfreq=500.0, ch_names=HIGH_GAMMA_CHANNELS, seconds=40.0, duration=4.0,
                         onsets=np.array([2.0, 10.0, 18.0, 26.0]))
    data = raw.get_data()
    data[5, int(11.0 * 500)] = 900e-6  # inside the second trial's 0-4 s
    data[6, int(17.5 * 500)] = 900e-6  # before the third cue: not in its interval
    raw = mne.io.RawArray(data, raw.info, verbose=False).set_annotations(raw.annotations)
    ep = epochs_from_raw(raw, preset="high_gamma")
    assert len(ep) == 3 and ep.info["sfreq"] == 250.0
    np.testing.assert_allclose(ep.events[:, 0] / 250.0, [2.0, 18.0, 26.0])
    assert ep.tmin == -0.5 and len(ep.times) == int(4.5 * 250)


def test_filter_edge_above_nyquist_is_a_named_error():
    raw = _synthetic_raw(sfreq=62.5)
    with pytest.raises(InvalidInputError, match="38 Hz.*Nyquist 31.25"):
        preprocess(raw)
    low = dataclasses.replace(PRESETS["bcic_iv_2a_tutorial"], name="low", h_freq=30.0)
    assert preprocess(raw, low).info["sfreq"] == 62.5


def test_real_eegmmidb_run(shared_mne_data):
    """EEGMMIDB S001R04 (160 Hz, 64 ch): preprocess and windows against the steps by hand."""
    fname = mne.datasets.eegbci.load_data(1, [4], path=str(shared_mne_data), update_path=False)
    raw = mne.io.read_raw_edf(fname[0], preload=True, verbose=False)
    mne.datasets.eegbci.standardize(raw)
    np.testing.assert_allclose(preprocess(raw).get_data(), _tutorial_by_hand(raw),
                               rtol=1e-7, atol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the Raw route warns about nothing
        ep = epochs_from_raw(raw, ["T1", "T2"], preset="bcic_iv_2a_tutorial")
    assert ep.event_id == {"T1": 1, "T2": 2} and len(ep) == 15
    assert ep.tmin == -0.5 and len(ep.times) == int((4.1 + 0.5) * 160)
    pre = _tutorial_by_hand(raw)
    ann = raw.annotations[np.isin(raw.annotations.description, ["T1", "T2"])]
    onsets = raw.time_as_index(ann.onset, use_rounding=True, origin=ann.orig_time)
    by_hand = np.stack([pre[:, o - 80:o + 656] for o in onsets])
    np.testing.assert_allclose(ep.get_data(), by_hand, rtol=1e-6, atol=1e-8)
    with pytest.raises(InvalidInputError, match=r"durations \[4.1, 4.2\]"):
        epochs_from_raw(raw)  # T0 lasts 4.2 s, T1/T2 4.1 s
