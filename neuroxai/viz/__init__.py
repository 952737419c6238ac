"""Stage 5: figures (each ``plot_*`` returns a matplotlib Figure)."""
from .topomaps import DEFAULT_BANDS, LANDMARKS, plot_band_topomaps  # noqa: F401
