"""Deprecated alias of :mod:`neuroxai.evaluation` (kept for one release).

``from neuroxai.benchmark import run_xai_benchmark`` still works and warns; import from
:mod:`neuroxai.evaluation` instead.
"""
import warnings

from .evaluation import (  # noqa: F401
    BENCHMARK_METHOD_PARAMS,
    BENCHMARK_REGIMES,
    REGIMES,
    BenchmarkTable,
    band_masks_from_freq_mask,
    ground_truth_bands,
    run_xai_benchmark,
)

#: The fixed bands of the previous release (no longer used: the benchmark derives its bands
#: from each regime's ground truth, see :func:`neuroxai.data.ground_truth_bands`).
BENCHMARK_BANDS = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "mu": (8.0, 13.0),
    "low_beta": (13.0, 18.0),
    "beta": (18.0, 26.0),
    "high_beta": (26.0, 38.0),
}

__all__ = ["BENCHMARK_BANDS", "BENCHMARK_METHOD_PARAMS", "BENCHMARK_REGIMES", "REGIMES",
           "BenchmarkTable", "band_masks_from_freq_mask", "ground_truth_bands",
           "run_xai_benchmark"]

warnings.warn("neuroxai.benchmark is deprecated and will be removed in the next release; "
              "import from neuroxai.evaluation instead.", FutureWarning, stacklevel=2)
