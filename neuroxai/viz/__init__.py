"""Stage 5: figures (each ``plot_*`` returns a matplotlib Figure)."""
from .figures import (  # noqa: F401
    OKABE_ITO,
    default_rois,
    plot_ground_truth_comparison,
    plot_haufe_patterns,
    plot_igc_topomaps,
    plot_jacobian_maps,
    plot_method_agreement,
    plot_metric_table,
    plot_sanity_checks,
)
from .group import GROUP_BANDS, plot_group_clusters, plot_group_topomaps  # noqa: F401
from .topomaps import DEFAULT_BANDS, LANDMARKS, plot_band_topomaps  # noqa: F401
