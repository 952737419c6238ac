"""Stage 2: classifiers and encoders (pretrained, shipped, trained here)."""
from .checkpoint import (  # noqa: F401
    build_model,
    check_model_outputs,
    load_checkpoint,
    save_checkpoint,
)
from .encoder import (  # noqa: F401
    ContrastiveEEGEncoder,
    load_encoder,
    save_encoder,
    train_encoder,
)
from .pretrained import (  # noqa: F401
    DEFAULT_CHECKPOINT,
    KNOWN_REPOS,
    SHIPPED,
    TRAINED_ON,
    checkpoint_name_for_regime,
    load_pretrained,
)
from .train import (  # noqa: F401
    accuracy,
    cross_validate,
    evaluate_classifier,
    fit_classifier,
    predict,
    train_default_checkpoint,
)
