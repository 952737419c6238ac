"""Stage 5: figures (each ``plot_*`` returns a matplotlib Figure; viz only draws)."""
from ._common import OKABE_ITO  # noqa: F401
from .agreement import plot_method_agreement  # noqa: F401
from .ground_truth import plot_ground_truth_comparison  # noqa: F401
from .group import GROUP_BANDS, plot_group_clusters, plot_group_topomaps  # noqa: F401
from .igc import default_rois, plot_igc_topomaps  # noqa: F401
from .jacobian import plot_jacobian_maps  # noqa: F401
from .metrics import plot_metric_table  # noqa: F401
from .sanity import plot_sanity_checks  # noqa: F401
from .spectral import plot_haufe_patterns  # noqa: F401
from .topomaps import DEFAULT_BANDS, LANDMARKS, plot_band_topomaps  # noqa: F401
