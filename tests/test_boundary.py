"""The trials boundary: every input form gives the same numbers, at any rate, channel count,
class count and label type (issue 11's matrix).

Forms: mne.Epochs, braindecode windows (both ``use_mne_epochs`` settings), neuroxai Trials
and an array with info + tmin + y. Rates 128 / 160 / 250 / 256 / 512 Hz, 3 / 22 / 64
channels, 2 / 4 classes, labels as indices, event codes and strings.
"""
import itertools
import warnings

import mne
import numpy as np
import pytest
import torch

from neuroxai import InvalidInputError, ModelMismatchError
from neuroxai.data import BCIC_IV_2A_CHANNELS, Trials, UnitsWarning, as_trials, make_info
from neuroxai.data._boundary import prepare_trials

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore:.*montage.*")]

SFREQS = (128.0, 160.0, 250.0, 256.0, 512.0)
N_CHANS = (3, 22, 64)
N_CLASSES = (2, 4)
LABELS = ("index", "code", "string")
TMIN = -0.5
DURATION = 1.0  # s per trial
NAMES = ("left_hand", "right_hand", "feet", "tongue")


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread):
    """Small tensors: one torch thread (see conftest)."""


def _channels(n):
    if n == 3:
        return ["C3", "Cz", "C4"]
    if n == 22:
        return list(BCIC_IV_2A_CHANNELS)
    montage = mne.channels.make_standard_montage("colin27_1020")
    return [c for c in montage.ch_names if c[:1] in "FCTPO" and not c.startswith("T9")][:64]


def _case(sfreq, n_chans, n_classes, labels, n_per_class=3, seed=0):
    """Raw with annotations, the Epochs cut from it, and the ground-truth arrays."""
    rng = np.random.default_rng(seed)
    info = make_info(_channels(n_chans), sfreq=sfreq)
    n_trials = n_per_class * n_classes
    n_times = int(round(DURATION * sfreq))
    gap = n_times + int(sfreq)  # a second between trials
    data = rng.standard_normal((n_chans, gap * (n_trials + 1))) * 1e-5  # volts, as MNE reads
    raw = mne.io.RawArray(data, info, verbose=False)
    classes = list(NAMES[:n_classes])
    y_idx = np.arange(n_trials) % n_classes
    onsets = (np.arange(n_trials) * gap + int(-TMIN * sfreq) + 1) / sfreq
    raw.set_annotations(mne.Annotations(onsets, DURATION + TMIN, [classes[k] for k in y_idx]))
    codes = {name: 769 + k for k, name in enumerate(classes)}
    events, _ = mne.events_from_annotations(raw, event_id=codes, verbose=False)
    epochs = mne.Epochs(raw, events, codes, tmin=TMIN, tmax=TMIN + (n_times - 1) / sfreq,
                        baseline=None, preload=True, verbose=False)
    X = epochs.get_data(copy=True).astype(np.float32)
    y = {"index": y_idx, "code": y_idx + 769, "string": np.array(classes)[y_idx]}[labels]
    return dict(raw=raw, epochs=epochs, X=X, y=y, y_idx=y_idx, classes=classes, info=info,
                tmin=float(epochs.tmin), codes=codes)


def _windows(case, use_mne_epochs):
    from braindecode.datasets import BaseConcatDataset, RawDataset
    from braindecode.preprocessing import create_windows_from_events

    sfreq = case["info"]["sfreq"]
    ds = BaseConcatDataset([RawDataset(case["raw"], description={"subject": 1})])
    mapping = {name: k for k, name in enumerate(case["classes"])}
    n_times = case["X"].shape[2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_windows_from_events(
            ds, trial_start_offset_samples=int(round(TMIN * sfreq)),
            trial_stop_offset_samples=0, window_size_samples=n_times,
            window_stride_samples=n_times, mapping=mapping, preload=True,
            use_mne_epochs=use_mne_epochs)


def _forms(case):
    """Every input form of the same trials: name -> (inst, kwargs)."""
    return {
        "epochs": (case["epochs"], {}),
        "windows_epochs": (_windows(case, True), {}),
        "windows_raw": (_windows(case, False), {}),
        "trials": (as_trials(case["epochs"]), {}),
        # string labels name classes; their order (the model's outputs) is the user's to say
        "array": (case["X"], dict(y=case["y"], info=case["info"], tmin=case["tmin"],
                                  **({"class_names": case["classes"]}
                                     if case["y"].dtype.kind == "U" else {}))),
    }


# ------------------------------------------------------------------ the conversion itself
@pytest.mark.parametrize("sfreq,n_chans,n_classes,labels",
                         list(itertools.product(SFREQS, N_CHANS, N_CLASSES, LABELS)))
def test_every_form_gives_the_same_trials(sfreq, n_chans, n_classes, labels):
    case = _case(sfreq, n_chans, n_classes, labels)
    ref = None
    for name, (inst, kw) in _forms(case).items():
        t = as_trials(inst, **kw, verbose=False)
        assert isinstance(t, Trials)
        assert t.sfreq == sfreq, name
        assert t.X.shape == case["X"].shape, name
        np.testing.assert_allclose(t.X, case["X"], rtol=1e-6, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(t.times[0], case["tmin"], atol=0.5 / sfreq, err_msg=name)
        np.testing.assert_array_equal(t.y, case["y_idx"], err_msg=name)
        if labels == "code" and name == "array":
            assert t.class_names == tuple(str(769 + k) for k in range(n_classes))
        elif labels == "index" and name == "array":
            assert t.class_names == tuple(str(k) for k in range(n_classes))
        else:
            assert t.class_names == tuple(case["classes"]), name
        ref = t if ref is None else ref
        assert t.info["ch_names"] == ref.info["ch_names"]


def test_class_names_reorder_labels_and_mismatches_are_named():
    case = _case(160.0, 3, 2, "string")
    t = as_trials(case["epochs"], class_names=["right_hand", "left_hand"])
    np.testing.assert_array_equal(t.y, 1 - case["y_idx"])  # the model's output order rules
    with pytest.raises(InvalidInputError, match=r"found: \['left_hand', 'right_hand'\]"):
        as_trials(case["epochs"], class_names=["feet", "tongue"])
    with pytest.raises(InvalidInputError, match="sorted order"):
        as_trials(case["X"], case["y_idx"] + 769, info=case["info"], tmin=0,
                  class_names=["a", "b", "c"])


def test_eog_and_bad_channels_are_left_out_and_said(caplog):
    case = _case(256.0, 3, 2, "index")
    epochs = case["epochs"].copy()
    eog = mne.EpochsArray(np.random.default_rng(1).standard_normal((len(epochs), 1,
                                                                     len(epochs.times))),
                          mne.create_info(["EOG1"], 256.0, "eog"), tmin=epochs.tmin,
                          verbose=False)
    epochs.add_channels([eog], force_update_info=True)
    epochs.info["bads"] = ["Cz"]
    with caplog.at_level("INFO", logger="mne"):
        t = as_trials(epochs, verbose=True)
    assert t.info["ch_names"] == ["C3", "C4"]
    assert "EOG1" in caplog.text and "Cz" in caplog.text
    np.testing.assert_allclose(t.X, case["X"][:, [0, 2]], rtol=1e-6)
    assert as_trials(epochs, exclude=()).info["ch_names"] == ["C3", "Cz", "C4"]
    assert as_trials(epochs, picks="all", exclude=()).X.shape[1] == 4


def test_bare_arrays_get_named_errors_where_rate_or_times_are_needed():
    case = _case(128.0, 3, 2, "index")
    with pytest.raises(InvalidInputError, match="info="):
        prepare_trials(case["X"], need=("sfreq",), what="this step")
    with pytest.raises(InvalidInputError, match="tmin="):
        prepare_trials(case["X"], info=case["info"], need=("times",), what="this step")
    with pytest.raises(InvalidInputError, match="continuous"):
        as_trials(case["raw"])
    with pytest.raises(InvalidInputError, match="labels"):
        prepare_trials(case["X"], info=case["info"], need=("labels",), what="this step")


def test_volts_are_warned_with_the_fix():
    case = _case(250.0, 3, 2, "index")
    with pytest.warns(UnitsWarning, match="look like volts.*preprocess"):
        prepare_trials(case["epochs"], units=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnitsWarning)
        prepare_trials(case["X"] * 1e6, info=case["info"], tmin=0.0, units=True)  # µV: quiet


# ----------------------------------------------------- the public functions on every form
def _model(n_chans, n_classes, n_times, seed=0):
    from braindecode.models import ShallowFBCSPNet

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ShallowFBCSPNet(n_chans, n_classes, n_times=n_times, final_conv_length="auto",
                               n_filters_time=8, n_filters_spat=8).eval()


MODEL_CASES = [(sf, nc, ncl, LABELS[i % 3]) for i, (sf, nc, ncl) in
               enumerate(itertools.product(SFREQS, N_CHANS, N_CLASSES))]


@pytest.mark.parametrize("sfreq,n_chans,n_classes,labels", MODEL_CASES)
def test_public_functions_same_numbers_from_every_form(sfreq, n_chans, n_classes, labels):
    from neuroxai.attribution import attribute, compute_amplitude_gradients
    from neuroxai.models import evaluate_classifier, predict

    case = _case(sfreq, n_chans, n_classes, labels, n_per_class=2)
    case["X"] *= 1e6  # the model works in µV
    case["epochs"] = mne.EpochsArray(case["X"].astype(float), case["epochs"].info,
                                     events=case["epochs"].events, tmin=case["tmin"],
                                     event_id=case["codes"], verbose=False)
    model = _model(n_chans, n_classes, case["X"].shape[2])
    results = {}
    for name, (inst, kw) in _forms(case).items():
        if name.startswith("windows"):
            # braindecode windows of the µV epochs
            inst = _windows_of_epochs(case)
        sal = attribute(model, inst, target="labels", method="saliency", verbose=False, **kw)
        grads = compute_amplitude_gradients(model, inst, verbose=False,
                                            **{k: v for k, v in kw.items() if k == "info"})
        scores = predict(model, inst, verbose=False,
                         **{k: v for k, v in kw.items() if k == "info"})
        acc = evaluate_classifier(model, inst, verbose=False, **kw)
        results[name] = (sal, grads, scores, acc)
    ref_sal, ref_grads, ref_scores, ref_acc = results["epochs"]
    assert ref_sal.times[0] == pytest.approx(case["tmin"])
    assert ref_grads.freqs[-1] == pytest.approx(sfreq / 2, abs=sfreq / case["X"].shape[2])
    for name, (sal, grads, scores, acc) in results.items():
        np.testing.assert_allclose(sal.data, ref_sal.data, rtol=1e-4, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(sal.times, ref_sal.times, err_msg=name)
        np.testing.assert_array_equal(sal.coords["target"], case["y_idx"], err_msg=name)
        np.testing.assert_allclose(grads.data, ref_grads.data, rtol=1e-4, atol=1e-6,
                                   err_msg=name)
        np.testing.assert_allclose(grads.freqs, ref_grads.freqs, err_msg=name)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-6, err_msg=name)
        assert acc["accuracy"] == ref_acc["accuracy"] and acc["p_value"] == ref_acc["p_value"]


def _windows_of_epochs(case):
    """The µV data as a continuous recording, windowed by braindecode (MNE-epochs kind)."""
    raw = case["raw"].copy()
    raw._data *= 1e6
    return _windows(dict(case, raw=raw), True)


def test_igc_spectral_axis_follows_the_rate():
    """At 160 Hz the spectral IGC axis reaches 80 Hz, and 8-13 Hz sums pick 8-13 Hz bins."""
    from neuroxai.attribution import compute_igc

    case = _case(160.0, 3, 2, "string", n_per_class=4)
    case["X"] *= 1e6
    epochs = mne.EpochsArray(case["X"].astype(float), case["epochs"].info,
                             events=case["epochs"].events, tmin=case["tmin"],
                             event_id=case["codes"], verbose=False)
    model = _model(3, 2, case["X"].shape[2]).double()
    a = compute_igc(model, epochs, n_baselines=2, n_steps=4, domain="spectral", verbose=False)
    assert a.freqs[-1] == pytest.approx(80.0)
    b = compute_igc(model, case["X"], case["y"], info=case["info"], n_baselines=2, n_steps=4,
                    domain="spectral", verbose=False)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-6, atol=1e-10)
    t = compute_igc(model, epochs, n_baselines=2, n_steps=4, verbose=False)
    assert t.times[0] == pytest.approx(case["tmin"])
    with pytest.raises(InvalidInputError, match="info="):
        compute_igc(model, case["X"], case["y"], domain="spectral", verbose=False)


def test_model_that_does_not_fit_the_channels_is_named_before_work():
    from neuroxai.attribution import attribute, compute_amplitude_gradients

    case = _case(250.0, 22, 2, "index")
    model = _model(3, 2, case["X"].shape[2])
    for fn in (lambda: attribute(model, case["epochs"], method="saliency", verbose=False),
               lambda: compute_amplitude_gradients(model, case["epochs"], verbose=False)):
        with pytest.raises(ModelMismatchError, match="built for 3 channels"):
            fn()
