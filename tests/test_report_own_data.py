"""The audit on a user's own recordings: ``neuroxai report --epochs FILE-epo.fif``.

Two recordings: a 3-channel 256 Hz one made here (a mu rhythm that weakens over the
hemisphere opposite the imagined hand), and the real EEGMMIDB subject 1 at 160 Hz from
``../shared``. Without a model the audit trains ShallowFBCSPNet with stratified
cross-validation and reports the held-out accuracy with its chance level and p-value.
"""
import json

import mne
import numpy as np
import pytest

from neuroxai.cli import main
from neuroxai.data import epochs_from_raw, make_info

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore:.*montage.*"),
              pytest.mark.filterwarnings("ignore:.*per epoch.*:RuntimeWarning")]

FAST = ["--n-splits", "2", "--n-epochs", "8", "--methods", "saliency", "envelope",
        "--no-encoder", "--no-igc", "--n-trials", "8", "--sanity-trials", "4", "--quiet"]


def _graz_like(n_trials=40, sfreq=256.0, seed=0):
    """C3/Cz/C4 with a 10 Hz rhythm that drops over the hemisphere opposite the hand."""
    rng = np.random.default_rng(seed)
    n = int(3 * sfreq)
    t = np.arange(n) / sfreq
    data, onsets, labels = [], [], []
    for k in range(n_trials):
        hand = k % 2  # 0 left hand -> C4 drops, 1 right hand -> C3 drops
        x = rng.standard_normal((3, n)) * 2.0
        mu = 6.0 * np.sin(2 * np.pi * 10 * t + rng.uniform(0, 2 * np.pi))
        gain = np.array([1.0, 0.6, 1.0])
        gain[2 if hand == 0 else 0] = 0.25
        x += gain[:, None] * mu
        data.append(x)
        onsets.append(k * 3.0 + 0.5)
        labels.append(["left_hand", "right_hand"][hand])
    raw = mne.io.RawArray(np.concatenate(data, axis=1) * 1e-6,
                          make_info(["C3", "Cz", "C4"], sfreq=sfreq), verbose=False)
    raw.set_annotations(mne.Annotations(onsets, 2.0, labels))
    return raw


def _run(tmp_path, epochs, extra=()):
    fname = tmp_path / "mine-epo.fif"
    epochs.save(fname, overwrite=True, verbose=False)
    out = tmp_path / "audit"
    assert main(["report", "--epochs", str(fname), "--out", str(out), *FAST, *extra]) == 0
    return json.loads((out / "summary.json").read_text()), out


def test_own_3_channel_256_hz_recording(tmp_path):
    epochs = epochs_from_raw(_graz_like(), tmin=-0.5, tmax=2.0, preset="bcic_iv_2a_tutorial",
                             verbose=False)
    summary, out = _run(tmp_path, epochs)
    gate = summary["model"]
    assert gate["n"] == 40 and gate["chance"] == 0.5
    assert "2-fold stratified cross-validation" in gate["evaluated_on"]
    # a strong lateralised rhythm: the held-out accuracy is far above chance
    assert gate["accuracy"] >= 0.8 and gate["p_value"] < 1e-3 and gate["above_chance"]
    assert summary["p_value"] == gate["p_value"]
    html = (out / "report.html").read_text()
    assert "chance level 0.500" in html and "binomial p" in html
    from neuroxai.attribution import read_attribution

    grads = read_attribution(out / "amplitude_gradients-attr.npz")
    assert grads.freqs[-1] == pytest.approx(128.0, abs=0.5)  # 256 Hz: the axis reaches 128 Hz
    assert grads.info["ch_names"] == ["C3", "Cz", "C4"]


def test_own_recording_in_volts_at_chance_is_said_plainly(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((24, 3, 256)) * 1e-5  # noise, in volts
    events = np.column_stack([np.arange(24) * 300, np.zeros(24, int), 1 + np.arange(24) % 2])
    epochs = mne.EpochsArray(X, make_info(["C3", "Cz", "C4"], sfreq=128.0), events=events,
                             tmin=-0.5, event_id={"left": 1, "right": 2}, verbose=False)
    with pytest.warns(UserWarning, match="look like volts"):
        summary, out = _run(tmp_path, epochs)
    assert not summary["model"]["above_chance"]
    assert all("not above chance" in v for v in summary["method_verdicts"].values())
    assert "the maps explain noise" in (out / "report.html").read_text()


def test_report_epochs_file_errors_are_one_line(tmp_path, capsys):
    assert main(["report", "--epochs", str(tmp_path / "missing-epo.fif"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file" in err[0]
    bad = tmp_path / "bad-epo.fif"
    bad.write_bytes(b"not a fif file")
    assert main(["report", "--epochs", str(bad), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "not readable as MNE epochs" in capsys.readouterr().err


@pytest.mark.slow
def test_own_eegmmidb_epochs_file(tmp_path, shared_mne_data):
    """EEGMMIDB S001 imagery left vs right fist, read from ../shared, written as -epo.fif."""
    from mne.datasets import eegbci

    files = eegbci.load_data(1, [4, 8, 12], path=shared_mne_data, update_path=False,
                             verbose=False)  # the files are there: nothing is downloaded
    raw = mne.concatenate_raws([mne.io.read_raw_edf(f, preload=True, verbose=False)
                                for f in files])
    eegbci.standardize(raw)
    raw.set_montage("colin27_1020" if "colin27_1020" in mne.channels.get_builtin_montages()
                    else "standard_1005", on_missing="ignore")
    raw.annotations.rename({"T1": "left_hand", "T2": "right_hand"})
    epochs = epochs_from_raw(raw, event_id=["left_hand", "right_hand"], tmin=-0.5, tmax=3.0,
                             preset="bcic_iv_2a_tutorial", verbose=False)
    summary, out = _run(tmp_path, epochs)
    gate = summary["model"]
    assert gate["n"] == 45 and 0 <= gate["p_value"] <= 1
    assert {"accuracy", "chance", "p_value", "above_chance"} <= set(gate)
    html = (out / "report.html").read_text()
    assert ("decodes above chance" in html) == gate["above_chance"]
