"""The figures of an attribution audit (kept import path; one module per subject now).

Each ``plot_*`` function draws results computed by the earlier stages and returns the
:class:`matplotlib.figure.Figure`. Scalp maps use :func:`mne.viz.plot_topomap`; categorical
colours are Okabe-Ito (:data:`OKABE_ITO`), signed maps ``"RdBu_r"``, unsigned values
``"viridis"``/``"cividis"``. Figures are sized for ~900 px wide report images.
"""
from ._common import OKABE_ITO, OKABE_ITO_NAMES  # noqa: F401
from .agreement import plot_method_agreement  # noqa: F401
from .ground_truth import plot_ground_truth_comparison  # noqa: F401
from .igc import default_rois, plot_igc_topomaps  # noqa: F401
from .jacobian import plot_jacobian_maps  # noqa: F401
from .metrics import plot_metric_table  # noqa: F401
from .sanity import plot_sanity_checks  # noqa: F401
from .spectral import plot_haufe_patterns  # noqa: F401

__all__ = [
    "OKABE_ITO",
    "OKABE_ITO_NAMES",
    "plot_haufe_patterns",
    "plot_method_agreement",
    "plot_sanity_checks",
    "plot_metric_table",
    "plot_igc_topomaps",
    "plot_jacobian_maps",
    "plot_ground_truth_comparison",
    "default_rois",
]
