"""Real datasets through MOABB and braindecode, with braindecode's tutorial preprocessing."""
from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._utils import (
    DataNotAvailableError,
    InvalidInputError,
    get_cache_dir,
    import_braindecode,
    logger,
    unknown_name,
    verbose,
)
from ._common import trials_from_windows


def _volts_to_microvolts(data):
    # a module-level function, not a lambda, so that preprocessing can run in worker processes
    return np.multiply(data, 1e6)


@dataclass(frozen=True)
class Preset:
    """Preprocessing and windowing of braindecode's BCI IV 2a trial-wise tutorial."""

    l_freq: float = 4.0
    h_freq: float = 38.0
    factor_new: float = 1e-3
    init_block_size: int = 1000
    trial_start_offset_seconds: float = -0.5

    def preprocessors(self):
        import_braindecode("braindecode")  # without its import-time montage notice
        from braindecode.preprocessing import Preprocessor, exponential_moving_standardize

        return [
            Preprocessor("pick", picks="eeg", apply_on_array=False),
            Preprocessor(_volts_to_microvolts),
            Preprocessor("filter", l_freq=self.l_freq, h_freq=self.h_freq, verbose=False,
                         apply_on_array=False),
            Preprocessor(exponential_moving_standardize, factor_new=self.factor_new,
                         init_block_size=self.init_block_size),
        ]


PRESETS = {"bcic_iv_2a_tutorial": Preset()}


@dataclass(frozen=True)
class DatasetSpec:
    moabb_name: str
    sign: str  # MOABB's data-path signifier (MNE_DATASETS_<sign>_PATH)
    tasks: dict  # task -> class names in target order
    default_task: str

    def files(self, root, subject, task):
        root = Path(root)
        if self.moabb_name == "BNCI2014_001":
            d = root / "MNE-bnci-data" / "database" / "data-sets" / "001-2014"
            return [d / f"A{subject:02d}{s}.mat" for s in "TE"]
        if self.moabb_name == "PhysionetMI":
            d = root / "MNE-eegbci-data" / "files" / "eegmmidb" / "1.0.0" / f"S{subject:03d}"
            runs = [4, 8, 12, 6, 10, 14]  # MOABB loads both imagery tasks
            return [d / f"S{subject:03d}R{r:02d}.edf" for r in runs]
        return []

    @property
    def host(self):
        return {"BNCI2014_001": "bnci-horizon-2020.eu",
                "PhysionetMI": "physionet.org"}[self.moabb_name]


DATASETS = {
    "BNCI2014_001": DatasetSpec(
        "BNCI2014_001", "BNCI",
        {"4class": ("feet", "left_hand", "right_hand", "tongue")}, "4class"),
    "PhysionetMI": DatasetSpec(
        "PhysionetMI", "EEGBCI",
        {"left_right": ("left_hand", "right_hand"), "hands_feet": ("feet", "hands")},
        "left_right"),
}


def _online(host, timeout=3.0):
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _mne_data_root(root, sign, local_only):
    """Point MNE/MOABB at ``root`` for this call only (environment, not the user's config file).

    With every file on disk, MOABB's download provider is pinned to ``upstream``: otherwise
    MOABB >= 1.5 first asks the NEMAR mirror for an index and, offline, spends ~35 s in
    retries before it reads the local files.
    """
    values = {"MNE_DATA": str(root), f"MNE_DATASETS_{sign}_PATH": str(root)}
    if local_only:
        values["MOABB_DOWNLOAD_PROVIDER"] = "upstream"
    old = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        os.environ[k] = v
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _data_root(cache_dir):
    """Where MNE-layout data lives: ``$MNE_DATA`` if it holds the files, else the cache."""
    return get_cache_dir(cache_dir) / "mne_data"


@verbose
def load_moabb(dataset="BNCI2014_001", subject=1, task=None, preset="bcic_iv_2a_tutorial",
               cache_dir=None, data_dir=None, n_jobs=1, as_trials=False, verbose=None):
    """Load a MOABB dataset through braindecode, preprocessed and windowed as in its tutorial.

    Preprocessing (``preset="bcic_iv_2a_tutorial"``): pick EEG, V -> µV, 4-38 Hz band-pass,
    exponential moving standardisation (``factor_new=1e-3``, ``init_block_size=1000``);
    windows from 0.5 s before the cue to the trial end (22 x 1125 at 250 Hz for BNCI2014_001).

    Parameters
    ----------
    dataset : ``"BNCI2014_001"`` | ``"PhysionetMI"``
    subject : int
    task : str | None
        ``BNCI2014_001``: ``"4class"``; ``PhysionetMI``: ``"left_right"`` (imagined left vs right
        fist, runs 4/8/12) or ``"hands_feet"`` (both fists vs both feet, runs 6/10/14).
    preset : str
    cache_dir : path-like | None
        Cache root; data go to ``<cache_dir>/mne_data`` unless ``data_dir`` is given.
    data_dir : path-like | None
        An existing MNE data folder (e.g. ``$MNE_DATA``) to read from.
    n_jobs : int
    as_trials : bool
        Return :class:`~neuroxai.data.Trials` instead of the braindecode windows dataset.
    %(verbose)s

    Returns
    -------
    windows : braindecode.datasets.BaseConcatDataset | Trials
        Targets in the order of the task's class names (MOABB order for BNCI2014_001:
        feet, left_hand, right_hand, tongue); ``windows.split("session")`` gives
        ``"0train"``/``"1test"`` for BNCI2014_001.

    Raises
    ------
    DataNotAvailableError
        When the files are not on disk and the data server cannot be reached.
    """
    if dataset not in DATASETS:
        raise unknown_name("dataset", dataset, list(DATASETS) + ["simulated"])
    if preset not in PRESETS:
        raise unknown_name("preset", preset, PRESETS)
    spec = DATASETS[dataset]
    task = task or spec.default_task
    if task not in spec.tasks:
        raise unknown_name(f"{dataset} task", task, spec.tasks)
    subject = int(subject)
    if data_dir is None and os.environ.get("MNE_DATA") and all(
            p.is_file() for p in spec.files(os.environ["MNE_DATA"], subject, task)):
        data_dir = os.environ["MNE_DATA"]
    root = Path(data_dir).expanduser().resolve() if data_dir else _data_root(cache_dir)
    files = spec.files(root, subject, task)
    missing = [p for p in files if not p.is_file()]
    if missing and not _online(spec.host):
        raise DataNotAvailableError(
            f"{dataset} subject {subject} is not on disk ({len(missing)} file(s) missing under "
            f"{root}, e.g. {missing[0].name}) and {spec.host} cannot be reached. Download it once "
            f"online (same call), point data_dir= (or $MNE_DATA) at a folder that holds it, or use "
            "the embedded simulated dataset: neuroxai.data.simulate_bcic_iv_2a()."
        )
    return _load(spec, subject, task, PRESETS[preset], root, n_jobs, as_trials, bool(missing))


def _load(spec, subject, task, preset, root, n_jobs, as_trials, downloading):
    import warnings

    import_braindecode("braindecode")  # without its import-time montage notice
    from braindecode.datasets import MOABBDataset
    from braindecode.preprocessing import create_windows_from_events, preprocess

    classes = spec.tasks[task]
    logger.info(f"Loading {spec.moabb_name} subject {subject} ({task}) from {root}"
                + (" (downloading)" if downloading else ""))
    with _mne_data_root(root, spec.sign, not downloading), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ds = MOABBDataset(spec.moabb_name, subject_ids=[subject])
    sfreq = ds.datasets[0].raw.info["sfreq"]
    if any(d.raw.info["sfreq"] != sfreq for d in ds.datasets):
        raise InvalidInputError("Recordings of this subject have different sampling rates.")
    # Keep only the runs that hold the task's events (PhysionetMI mixes two tasks).
    keep = [d for d in ds.datasets
            if set(classes) & set(d.raw.annotations.description)]
    ds.datasets = keep
    ds.cumulative_sizes = ds.cumsum(keep)
    preprocess(ds, preset.preprocessors(), n_jobs=n_jobs)
    mapping = {name: k for k, name in enumerate(classes)}
    windows = create_windows_from_events(
        ds, trial_start_offset_samples=int(round(preset.trial_start_offset_seconds * sfreq)),
        trial_stop_offset_samples=0, preload=True, mapping=mapping, n_jobs=n_jobs,
        use_mne_epochs=True,
    )
    for d in windows.datasets:
        d.description["class_names"] = ",".join(classes)
        d.description["tmin"] = preset.trial_start_offset_seconds
    return trials_from_windows(windows, classes) if as_trials else windows
