"""Stage 1: load, preprocess and simulate EEG trials."""
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
from .simulate import REGIMES, GroundTruth, SimulatedDataset, simulate_bcic_iv_2a  # noqa: F401
from .moabb import DATASETS, PRESETS, load_moabb  # noqa: F401
from ._boundary import UnitsWarning, as_trials, check_units  # noqa: F401
