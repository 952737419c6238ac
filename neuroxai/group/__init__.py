"""The group stage: analysis over subjects (between sanity / metrics and viz).

Per-subject attributions (any registered ``attribute`` method, amplitude gradients, Haufe
patterns, Integrated Gradient Correlation) -> one map per subject and class
(:func:`compute_subject_maps`, in parallel through joblib or on a Dask cluster, cached per
subject as each finishes) -> group maps with MNE's cluster permutation tests or FDR
(:func:`compute_group_statistics`). :func:`simulate_subjects` gives subjects offline.
"""
from ._maps import (  # noqa: F401
    CONTRASTS,
    DEFAULT_TRAIN,
    SPECIAL_METHODS,
    SubjectMaps,
    compute_subject_maps,
)
from ._simulated import SimulatedSubjects, simulate_subjects  # noqa: F401
from ._stats import GroupResult, compute_group_statistics  # noqa: F401

__all__ = ["compute_subject_maps", "compute_group_statistics", "simulate_subjects",
           "SubjectMaps", "GroupResult", "SimulatedSubjects", "SPECIAL_METHODS", "CONTRASTS",
           "DEFAULT_TRAIN"]
