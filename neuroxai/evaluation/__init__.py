"""Stage 6: evaluation of attribution methods on simulated ground truth.

Sits below the report and the CLI: it may import data, models, attribution, sanity and
metrics; nothing in the package imports it except the report, the CLI and the scripts of
``benchmarks/``.
"""
from ..data.simulate import band_masks_from_freq_mask, ground_truth_bands  # noqa: F401
from ._regimes import BENCHMARK_REGIMES, REGIME_TITLES  # noqa: F401
from .benchmark import BENCHMARK_METHOD_PARAMS, REGIMES, run_xai_benchmark  # noqa: F401
from .table import BenchmarkTable  # noqa: F401

__all__ = [
    "BENCHMARK_METHOD_PARAMS",
    "BENCHMARK_REGIMES",
    "BenchmarkTable",
    "REGIMES",
    "REGIME_TITLES",
    "band_masks_from_freq_mask",
    "ground_truth_bands",
    "run_xai_benchmark",
]
