"""``load_moabb`` / ``list_datasets`` run MOABB's real reading code offline, against oracles.

Datasets exercised here: MOABB's ``FakeDataset`` (4 configurations, name and instance
forms), a user's own ``BaseDataset`` subclass, ``BNCI2014_001`` through a tiny ``.mat``
fixture in the dataset's own file format, ``PhysionetMI`` on the shared EEGMMIDB recording
(``test_data.py``), and the offline error of ``BNCI2014_001`` / ``Schirrmeister2017``.
"""
import os
import socket
import time
from pathlib import Path

import mne
import numpy as np
import pytest

from neuroxai import DataNotAvailableError, InvalidInputError, UnknownNameError
from neuroxai.data import HIGH_GAMMA_CHANNELS, Trials, list_datasets, load_moabb

moabb_datasets = pytest.importorskip("moabb.datasets")
from moabb.datasets.base import BaseDataset  # noqa: E402
from moabb.datasets.fake import FakeDataset  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Montage name 'standard_1005':FutureWarning")
BCIC_CHANNELS = ("Fz FC3 FC1 FCz FC2 FC4 C5 C3 C1 Cz C2 C4 C6 CP3 CP1 CPz CP2 CP4 P1 Pz P2 "
                 "POz").split()


def _to_microvolts(x):
    return x * 1e6


def _tutorial_by_hand(x_volts, sfreq):
    from braindecode.preprocessing import exponential_moving_standardize

    x = mne.filter.filter_data(x_volts * 1e6, sfreq, 4.0, 38.0, verbose=False)
    return exponential_moving_standardize(x, factor_new=1e-3, init_block_size=1000)


def _braindecode_tutorial_windows(dataset, subjects, sfreq, classes):
    """The oracle: braindecode's own tutorial route on the same MOABB dataset."""
    from braindecode.datasets import MOABBDataset
    from braindecode.preprocessing import (
        Preprocessor,
        create_windows_from_events,
        exponential_moving_standardize,
        preprocess,
    )

    ds = MOABBDataset(dataset_name=dataset, subject_ids=subjects)
    preprocess(ds, [
        Preprocessor("pick_types", eeg=True, meg=False, stim=False, apply_on_array=False),
        Preprocessor(_to_microvolts),
        Preprocessor("filter", l_freq=4.0, h_freq=38.0, apply_on_array=False),
        Preprocessor(exponential_moving_standardize, factor_new=1e-3, init_block_size=1000),
    ])
    win = create_windows_from_events(
        ds, trial_start_offset_samples=int(-0.5 * sfreq), trial_stop_offset_samples=0,
        preload=True, mapping={c: k for k, c in enumerate(classes)})
    # braindecode's default windower leaves a window starting before the recording empty
    # (MNE's epochs, which load_moabb uses, drop it)
    keep = [i for i in range(len(win)) if win[i][0].shape[1]]
    return np.stack([win[i][0] for i in keep]), np.array([win[i][1] for i in keep])


def _as_arrays(windows):
    X = np.concatenate([d.windows.get_data() for d in windows.datasets])
    y = np.concatenate([d.windows.metadata["target"].to_numpy() for d in windows.datasets])
    return X, y


FAKE_CASES = {  # sfreq, channels, classes, events through a stim channel (else annotations)
    "128Hz-3ch-2cls-stim": (128, ("C3", "Cz", "C4"), ("right_hand", "left_hand"), True),
    "160Hz-8ch-3cls-annot": (160, ("FC3", "FC1", "FCz", "C3", "Cz", "C4", "CP1", "CP2"),
                             ("left_hand", "feet", "right_hand"), False),
    "250Hz-22ch-4cls-stim": (250, tuple(BCIC_CHANNELS),
                             ("left_hand", "right_hand", "feet", "tongue"), True),
    "256Hz-5ch-4cls-annot": (256, ("C3", "C4", "Pz", "Oz", "Fz"), ("d", "b", "c", "a"), False),
}


def _fake(sfreq, channels, events, stim, n_events=8, duration=40):
    return FakeDataset(event_list=events, n_sessions=2, n_runs=1, n_subjects=2,
                       channels=channels, sfreq=sfreq, duration=duration, n_events=n_events,
                       stim=stim, annotations=not stim, seed=11)


@pytest.mark.parametrize("case", list(FAKE_CASES))
def test_fake_dataset_matrix_against_braindecode_tutorial(case, tmp_path):
    sfreq, channels, events, stim = FAKE_CASES[case]
    ds = _fake(sfreq, channels, events, stim)
    windows = load_moabb(ds, [1, 2], data_dir=tmp_path, verbose=False)
    classes = tuple(sorted(events))
    start, n_times = int(round(-0.5 * sfreq)), int(3 * sfreq) - int(round(-0.5 * sfreq))
    desc = windows.description
    assert list(desc["subject"]) == [1, 1, 2, 2] and list(desc["session"]) == ["0", "1"] * 2
    assert set(desc["class_names"]) == {",".join(classes)}
    assert np.allclose(desc["tmin"], start / sfreq)
    X, y = _as_arrays(windows)
    assert X.shape[1:] == (len(channels), n_times)
    # one window per event whose window fits in the recording, labelled as the event
    ev = ds._generate_events(8, 40)
    fits = (ev[:, 0] + start >= 0) & (ev[:, 0] + int(3 * sfreq) <= 40 * sfreq)
    names = {code: name for name, code in ds.event_id.items()}
    expected_y = [classes.index(names[c]) for c in ev[fits, 2]] * 4  # 2 subjects x 2 sessions
    np.testing.assert_array_equal(y, expected_y)
    X_ref, y_ref = _braindecode_tutorial_windows(_fake(sfreq, channels, events, stim), [1, 2],
                                                 sfreq, classes)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_allclose(X, X_ref, rtol=1e-5, atol=1e-5)
    # several subjects as Trials: one per subject, equal to the windows
    trials = load_moabb(_fake(sfreq, channels, events, stim), [1, 2], data_dir=tmp_path,
                        as_trials=True, verbose=False)
    assert set(trials) == {1, 2} and all(isinstance(t, Trials) for t in trials.values())
    t1 = trials[1]
    assert t1.class_names == classes and t1.tmin == start / sfreq and t1.sfreq == sfreq
    assert t1.sessions == ["0", "1"] and t1.info.ch_names == list(channels)
    np.testing.assert_allclose(np.concatenate([trials[1].X, trials[2].X]), X, rtol=1e-6)


def test_dataset_by_name_equals_instance(tmp_path):
    """The name form builds MOABB's default FakeDataset (global-seeded inside MOABB)."""
    # MOABB's FakeDataset draws from numpy's global generator: seed it the same way twice
    np.random.seed(5)  # noqa: NPY002
    by_name = load_moabb("FakeDataset", 1, data_dir=tmp_path, as_trials=True, verbose=False)
    np.random.seed(5)  # noqa: NPY002
    by_inst = load_moabb(FakeDataset(), 1, data_dir=tmp_path, as_trials=True, verbose=False)
    assert by_name.class_names == ("fake1", "fake2", "fake3")
    assert by_name.X.shape[1:] == (3, int(3.5 * 128)) and by_name.tmin == -0.5
    np.testing.assert_array_equal(by_name.X, by_inst.X)
    np.testing.assert_array_equal(by_name.y, by_inst.y)
    assert len(by_name) == 4 * 59  # 2 sessions x 2 runs x 60 events, first one at sample 1
    # subjects=None is the first subject, subject= its deprecated alias
    np.random.seed(5)  # noqa: NPY002
    default = load_moabb(FakeDataset(), data_dir=tmp_path, as_trials=True, verbose=False)
    np.testing.assert_array_equal(default.X, by_name.X)
    np.random.seed(5)  # noqa: NPY002
    with pytest.warns(FutureWarning, match="subjects="):
        old = load_moabb(FakeDataset(), subject=1, data_dir=tmp_path, as_trials=True,
                         verbose=False)
    np.testing.assert_array_equal(old.X, by_name.X)


class OwnDataset(BaseDataset):
    """A user's own MOABB dataset: trials start 1 s after their marker (interval [1, 3])."""

    def __init__(self, stim=True):
        self.stim = stim
        super().__init__(subjects=[7], sessions_per_subject=1, events={"rest": 1, "move": 2},
                         code="OwnDataset", interval=[1, 3], paradigm="imagery")

    def markers(self):
        return np.array([300, 1100, 1900, 2700, 3500]), np.array([1, 2, 1, 2, 2])

    def _get_single_subject_data(self, subject):
        rng = np.random.default_rng(subject)
        x = 1e-5 * rng.standard_normal((4, 4800))
        samples, codes = self.markers()
        info = mne.create_info(["C3", "Cz", "C4", "Pz"], 200.0, "eeg")
        if self.stim:
            stim = np.zeros((1, 4800))
            stim[0, samples] = codes
            info = mne.create_info(["C3", "Cz", "C4", "Pz", "STI"], 200.0, ["eeg"] * 4 + ["stim"])
            x = np.vstack([x, stim])
        raw = mne.io.RawArray(x, info, verbose=False)
        if not self.stim:
            raw.set_annotations(mne.Annotations(samples / 200.0, 0.0,
                                                [{1: "rest", 2: "move"}[c] for c in codes]))
        return {"0": {"0": raw}}

    def data_path(self, subject, path=None, force_update=False, update_path=None,
                  verbose=None):
        return []


class DownloadingDataset(OwnDataset):
    """Its reader "downloads" a flag file into $MNE_DATA when missing: a connection attempt,
    which the tests' socket block answers with an OSError, stands in for the transfer."""

    def _get_single_subject_data(self, subject):
        flag = Path(mne.get_config("MNE_DATA")) / "MNE-own-data" / f"s{subject}.flag"
        if not flag.is_file():
            try:
                socket.getaddrinfo("data.example.org", 443)
            except OSError:
                pass
            flag.parent.mkdir(parents=True, exist_ok=True)
            flag.write_text("downloaded")
        return super()._get_single_subject_data(subject)


def test_missing_subject_is_downloaded_when_its_host_answers(tmp_path, monkeypatch):
    import neuroxai.data.moabb as nx_moabb

    probed = []
    monkeypatch.setattr(nx_moabb, "_reachable", lambda hosts: probed.append(hosts) or True)
    tr = load_moabb(DownloadingDataset(), 7, data_dir=tmp_path, as_trials=True, verbose=False)
    assert probed == [[("data.example.org", 443)]] and len(tr) == 5
    assert (tmp_path / "MNE-own-data" / "s7.flag").read_text() == "downloaded"
    monkeypatch.setattr(nx_moabb, "_reachable", lambda hosts: pytest.fail(f"probed {hosts}"))
    again = load_moabb(DownloadingDataset(), 7, data_dir=tmp_path, as_trials=True, verbose=False)
    np.testing.assert_array_equal(again.X, tr.X)  # now read from disk, offline


@pytest.mark.parametrize("stim", [True, False], ids=["stim", "annotations"])
def test_own_dataset_subclass_windows_start_at_marker_plus_interval(stim, tmp_path):
    ds = OwnDataset(stim)
    tr = load_moabb(ds, 7, data_dir=tmp_path, as_trials=True, verbose=False)
    assert tr.class_names == ("move", "rest") and tr.X.shape == (5, 4, int(2.5 * 200))
    samples, codes = ds.markers()
    np.testing.assert_array_equal(tr.y, [1 if c == 1 else 0 for c in codes])
    raw = ds._get_single_subject_data(7)["0"]["0"]
    x = _tutorial_by_hand(raw.get_data(picks="eeg"), 200.0)
    start = samples + 200 - 100  # marker + interval start (1 s) - 0.5 s
    expected = np.stack([x[:, s:s + 500] for s in start])
    np.testing.assert_allclose(tr.X, expected, rtol=1e-5, atol=1e-5)


def test_tasks_and_names_are_validated_before_reading(tmp_path):
    ds = _fake(128, ("C3", "Cz", "C4"), ("left_hand", "right_hand", "feet", "hands"), True)
    tr = load_moabb(ds, 1, task="left_right", data_dir=tmp_path, as_trials=True, verbose=False)
    assert tr.class_names == ("left_hand", "right_hand") and set(tr.y) == {0, 1}
    assert load_moabb(ds, 1, task="hands_feet", data_dir=tmp_path, as_trials=True,
                      verbose=False).class_names == ("feet", "hands")
    assert load_moabb(ds, 1, task=["hands", "left_hand"], data_dir=tmp_path, as_trials=True,
                      verbose=False).class_names == ("hands", "left_hand")
    with pytest.raises(UnknownNameError, match="'all', 'hands_feet', 'left_right'"):
        load_moabb(ds, 1, task="tongue")
    with pytest.raises(UnknownNameError, match="Did you mean 'BNCI2014_001'"):
        load_moabb("BNCI2014_01")
    with pytest.raises(InvalidInputError, match=r"\[10\] not in BNCI2014-001 \(subjects 1..9\)"):
        load_moabb("BNCI2014_001", [1, 10])
    with pytest.raises(UnknownNameError, match="high_gamma"):
        load_moabb(ds, 1, preset="hgd")
    with pytest.raises(InvalidInputError, match="moabb.datasets.base.BaseDataset"):
        load_moabb(3)


# ---------------------------------------------------------------- BNCI2014_001 fixture

BNCI_CODES = {1: "left_hand", 2: "right_hand", 3: "feet", 4: "tongue"}


def _bnci_run(rng, n_trials):
    """One run as BNCI2014_001's .mat holds it: X in µV (22 EEG + 3 EOG), 1-based trial starts."""
    starts = 751 + 2000 * np.arange(n_trials)
    n_times = 750 + 2000 * n_trials + 500
    t = np.arange(n_times) / 250.0
    X = 10 * rng.standard_normal((n_times, 25)) + 5 * np.sin(2 * np.pi * 11 * t)[:, None] + 40
    y = rng.permutation(np.tile([1, 2, 3, 4], n_trials // 4 + 1)[:n_trials])
    return dict(X=X, trial=starts if n_trials else np.zeros(0), y=y, fs=250,
                classes=np.array(["left hand", "right hand", "feet", "tongue"], dtype=object),
                artifacts=np.zeros(n_trials), gender="M", age=24.0)


@pytest.fixture(scope="module")
def bnci_root(tmp_path_factory):
    """``A01T.mat`` (a trial-less EOG run + 2 runs of 8 trials) and ``A01E.mat`` (1 run), where
    MOABB's BNCI2014_001 loader looks for them under an MNE data folder."""
    from scipy.io import savemat

    root = tmp_path_factory.mktemp("mne_data")
    folder = root / "MNE-bnci-data" / "~bci" / "database" / "001-2014"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    runs = {}
    for session, n_runs in (("T", 2), ("E", 1)):
        runs[session] = [_bnci_run(rng, 0)] + [_bnci_run(rng, 8) for _ in range(n_runs)]
        cell = np.empty((1, len(runs[session])), dtype=object)
        for k, run in enumerate(runs[session]):
            cell[0, k] = run
        savemat(folder / f"A01{session}.mat", {"data": cell})
    return root, runs


def test_bnci2014_001_real_reading_path_offline(bnci_root, monkeypatch):
    """MOABB's BNCI reader -> braindecode -> preset -> windows, from files on disk, with the
    NEMAR-first provider set: nothing may reach for the network."""
    import neuroxai.data.moabb as nx_moabb

    root, runs = bnci_root
    monkeypatch.setenv("MOABB_DOWNLOAD_PROVIDER", "auto")
    monkeypatch.setattr(nx_moabb, "_reachable", lambda hosts: pytest.fail(f"probed {hosts}"))
    windows = load_moabb("BNCI2014_001", 1, data_dir=root, verbose=False)
    assert os.environ["MOABB_DOWNLOAD_PROVIDER"] == "auto"  # the pin is for the call only
    classes = ("feet", "left_hand", "right_hand", "tongue")
    desc = windows.description
    assert list(desc["session"]) == ["0train", "0train", "1test"]
    X, y = _as_arrays(windows)
    assert X.shape == (24, 22, 1125) and np.allclose(desc["tmin"], -0.5)
    expected_X, expected_y = [], []
    for session in ("T", "E"):
        for run in runs[session][1:]:
            x = _tutorial_by_hand(run["X"][:, :22].T * 1e-6, 250.0)
            for start, code in zip(run["trial"], run["y"]):
                cue = start - 1 + 500  # interval [2, 6] s after the trial start
                expected_X.append(x[:, cue - 125:cue + 1000])
                expected_y.append(classes.index(BNCI_CODES[code]))
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_allclose(X, np.stack(expected_X), rtol=1e-5, atol=1e-5)
    tr = load_moabb("BNCI2014_001", 1, data_dir=root, as_trials=True, verbose=False)
    assert tr.class_names == classes and tr.sessions == ["0train", "1test"]
    assert tr.info.ch_names == BCIC_CHANNELS and tr.info["sfreq"] == 250.0
    # the High-Gamma preset needs its 44 sensors: a named error that lists the missing ones
    with pytest.raises(InvalidInputError, match="not in the recording.*FFC5h"):
        load_moabb("BNCI2014_001", 1, data_dir=root, preset="high_gamma", verbose=False)


def test_missing_data_fails_fast_with_what_to_download(tmp_path, monkeypatch):
    import moabb.datasets  # noqa: F401  (import time is not the failure time)

    monkeypatch.delenv("MNE_DATA", raising=False)
    monkeypatch.setenv("MOABB_DOWNLOAD_PROVIDER", "auto")  # NEMAR first: ~35 s of retries
    t0 = time.perf_counter()
    with pytest.raises(DataNotAvailableError) as err:
        load_moabb("BNCI2014_001", [1, 2], cache_dir=tmp_path, verbose=False)
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    for part in ("BNCI2014-001 subject(s) [1, 2]", "lampx.tugraz.at", "data_dir=", "$MNE_DATA",
                 "BNCI2014_001().download(subject_list=[1, 2]", str(tmp_path / "mne_data"),
                 "simulate_bcic_iv_2a"):
        assert part in msg
    assert not [p for p in tmp_path.rglob("*") if p != tmp_path / "mne_data"]  # nothing left
    assert "MNE_DATA" not in os.environ and os.environ["MOABB_DOWNLOAD_PROVIDER"] == "auto"
    t0 = time.perf_counter()
    with pytest.raises(DataNotAvailableError, match="web.gin.g-node.org"):
        load_moabb("Schirrmeister2017", 1, preset="high_gamma", cache_dir=tmp_path)
    assert time.perf_counter() - t0 < 5


def test_high_gamma_channels_exist_in_moabb_schirrmeister2017():
    sensors = {s.lower() for s in moabb_datasets.Schirrmeister2017().metadata.acquisition.sensors}
    assert {c.lower() for c in HIGH_GAMMA_CHANNELS} <= sensors


def test_list_datasets_covers_moabb_imagery_and_sees_the_disk(bnci_root, monkeypatch, capsys):
    from moabb.datasets.utils import dataset_list

    root, _ = bnci_root
    monkeypatch.delenv("MNE_DATA", raising=False)
    before = sorted(root.rglob("*"))
    t0 = time.perf_counter()
    table = list_datasets(data_dir=root, verbose=False)
    assert time.perf_counter() - t0 < 20
    imagery = {c.__name__ for c in dataset_list if not c.__name__.startswith("Fake")
               and c().paradigm == "imagery"}
    assert set(table.index) == imagery and len(table) >= 60
    for name in ("BNCI2014_001", "BNCI2014_004", "PhysionetMI", "Schirrmeister2017", "Cho2017",
                 "Lee2019_MI", "Weibo2014"):
        assert name in table.index
    row = table.loc["BNCI2014_001"]
    assert row["classes"] == "feet, left_hand, right_hand, tongue" and row["n_classes"] == 4
    assert (row["n_channels"], row["sfreq"], row["n_subjects"]) == (22, 250.0, 9)
    assert row["trial_s"] == 4.0
    assert table["on_disk"].sum() == 1 and row["on_disk"]
    assert sorted(root.rglob("*")) == before  # the failed reads left nothing behind
    assert list_datasets(None, check_disk=False)["paradigm"].nunique() >= 4
    # the CLI prints the same table
    from neuroxai.cli import main

    monkeypatch.setenv("NEUROXAI_CACHE", str(root.parent / "cache"))
    assert main(["datasets", "--no-disk-check"]) == 0
    out = capsys.readouterr().out
    assert "Schirrmeister2017" in out and "PhysionetMI" in out and "n_channels" in out


def test_all_subjects_keyword(tmp_path):
    ds = _fake(160, ("C3", "Cz", "C4"), ("left_hand", "right_hand"), False, n_events=6)
    out = load_moabb(ds, "all", data_dir=tmp_path, as_trials=True, verbose=False)
    assert set(out) == {1, 2} and not np.allclose(out[1].X, out[2].X)
