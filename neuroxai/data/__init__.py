"""Stage 1: load, preprocess and simulate EEG trials."""
from ._boundary import UnitsWarning, as_trials, check_units  # noqa: F401
from ._common import (  # noqa: F401
    BCIC_IV_2A_CHANNELS,
    BCIC_IV_2A_CLASSES,
    MONTAGE_NAME,
    Trials,
    make_info,
    make_montage,
    trials_from_windows,
    windows_from_trials,
)
from .moabb import TASKS, list_datasets, load_moabb  # noqa: F401
from .preprocessing import epochs_from_raw, preprocess  # noqa: F401
from .presets import HIGH_GAMMA_CHANNELS, PRESETS, Preset  # noqa: F401
from .simulate import (  # noqa: F401
    REGIME_ALIASES,
    REGIMES,
    RHYTHMS,
    GroundTruth,
    SimulatedDataset,
    band_masks_from_freq_mask,
    ground_truth_bands,
    simulate_bcic_iv_2a,
)


def __getattr__(name):
    if name == "DATASETS":  # the motor-imagery datasets of MOABB, built on first use
        from . import moabb

        return moabb.DATASETS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
