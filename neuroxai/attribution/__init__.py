"""Stage 3: attributions (spectral gradients, Haufe patterns, captum methods, IGC, Jacobians)."""
from ._base import Attribution, read_attribution  # noqa: F401
from ._linalg import check_moore_penrose_conditions  # noqa: F401
from .igc import (  # noqa: F401
    compute_igc,
    compute_igc_channel_sums,
    compute_igc_roi_sums,
    igc_roi_sums,
)

# JacobianMaps, channel_map, jacobian_pinv_map, jacobian_spatial_patterns and
# moore_penrose_conditions are deprecated names, removed in the next release
from .jacobian import (  # noqa: F401
    JacobianMaps,
    channel_map,
    compute_jacobian_patterns,
    compute_jacobian_pinv_maps,
    compute_jacobians,
    jacobian_pinv_map,
    jacobian_spatial_patterns,
    moore_penrose_conditions,
    reduce_to_channels,
)
from .latent import LATENT_METHODS, compute_latent_attributions  # noqa: F401
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
