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
from .igc import (  # noqa: F401
    compute_igc,
    compute_igc_channel_sums,
    compute_igc_roi_sums,
    igc_roi_sums,
)
from .methods import METHODS, attribute, get_method, list_methods  # noqa: F401
from .spectral import (  # noqa: F401
    amplitude_spectra,
    band_average,
    compute_amplitude_gradients,
    compute_haufe_patterns,
)
