"""Stage 4a: randomisation sanity checks (Adebayo et al., 2018) with verdicts.

Verdicts are gated on the model (not above chance: the maps explain noise) and use the
signed and the unsigned similarity of the maps together; passing is necessary, not
sufficient. See :mod:`neuroxai.sanity.randomization`.
"""
from .randomization import (  # noqa: F401
    RandomizationResult,
    cascading_randomization,
    data_randomization,
    full_randomization,
    independent_randomization,
    iter_cascading_models,
    iter_independent_models,
    label_randomization,
    list_randomizable_layers,
    random_targets,
    randomize_model,
)
