"""Metric names, grouped as :func:`~neuroxai.metrics.compute_metrics` computes them."""
METRIC_NAMES = [
    "Cosine_topperc_abs",
    "Cosine_absnorm",
    "Cosine_norm",
    "Cosine_raw",
    "RelevanceMassAccuracy_topperc",
    "RelevanceRankAccuracy_topK",
    "RelevanceMassAccuracy_norm",
    "RelevanceMassAccuracy_absnorm",
    "Pearson_topK_vs_topperc",
    "Pearson_absnorm_vs_refnorm",
    "Pearson_norm_vs_refnorm",
    "Pearson_raw_vs_refnorm",
]
SSIM_METRIC_NAMES = ["SSIM_topperc", "SSIM_absnorm", "SSIM_norm", "SSIM_raw"]
RANK_METRIC_NAMES = ["Spearman", "Spearman_abs"]
HOG_METRIC_NAMES = ["HOG_Pearson"]
TOPO_METRIC_NAMES = ["Topo_Cosine", "Topo_Pearson"]
ALL_METRIC_NAMES = (
    METRIC_NAMES + SSIM_METRIC_NAMES + RANK_METRIC_NAMES + HOG_METRIC_NAMES + TOPO_METRIC_NAMES
)
