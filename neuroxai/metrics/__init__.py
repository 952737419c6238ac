"""Stage 4b: attribution-quality metrics (similarity, ground truth, scalp projection, CEBRA's)."""
from .agreement import channel_relevance, compute_method_agreement  # noqa: F401
from .cebra import attribution_auc, check_moore_penrose_conditions, connected_stats  # noqa: F401
from .ground_truth import (  # noqa: F401
    GROUND_TRUTH_METRIC_NAMES,
    PEAK_DISTANCE_METRIC_NAMES,
    compute_ground_truth_metrics,
)
from .ground_truth_null import DEFAULT_NULL_METRICS, compute_ground_truth_null  # noqa: F401
from .ranking import rank_methods  # noqa: F401
from .similarity import (  # noqa: F401
    ALL_METRIC_NAMES,
    METRIC_NAMES,
    SSIM_METRIC_NAMES,
    compute_metrics,
    summarize_metrics,
)
from .topomap import ScalpProjector, channel_positions_2d, make_scalp_projector  # noqa: F401
