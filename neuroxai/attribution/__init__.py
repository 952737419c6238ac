"""Stage 3: attributions (spectral gradients, Haufe patterns, captum methods, IGC, Jacobians)."""
from ._base import Attribution, read_attribution  # noqa: F401
from .jacobian import (  # noqa: F401
    JacobianMaps,
    jacobian_spatial_patterns,
    channel_map,
    compute_jacobians,
    compute_latent_attributions,
    jacobian_pinv_map,
    moore_penrose_conditions,
)
from .igc import compute_igc, igc_roi_sums  # noqa: F401
from .methods import METHODS, attribute, get_method, list_methods  # noqa: F401
from .patterns import (  # noqa: F401
    compute_amplitude_perturbation_correlations,
    compute_output_covariance_patterns,
)
from .spectral import (  # noqa: F401
    amplitude_spectra,
    band_average,
    compute_amplitude_gradients,
    compute_haufe_patterns,
)
