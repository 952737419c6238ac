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
from .moabb import DATASETS, PRESETS, load_moabb  # noqa: F401
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
