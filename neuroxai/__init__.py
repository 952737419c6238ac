"""neuroxai: what part of the EEG does a trained decoder use, and can that answer be trusted?

Stages, in data-flow order (each imports only those to its left)::

    data -> models -> attribution -> sanity, metrics -> viz -> report / cli
"""
__version__ = "0.1.0"

from ._utils import (  # noqa: F401
    CheckpointError,
    DataNotAvailableError,
    DegenerateMethodWarning,
    InvalidInputError,
    LayerNotFoundError,
    MethodUndefinedError,
    ModelMismatchError,
    MontageError,
    NeuroXAIError,
    NonFiniteError,
    ShapeError,
    TargetError,
    UnknownNameError,
)
