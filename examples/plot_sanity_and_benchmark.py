"""
.. _ex-sanity-benchmark:

===================================================================
Can the maps be trusted? Sanity checks and ground-truth metrics
===================================================================

A saliency map can look convincing and still say nothing about the model. Adebayo et al.
(2018) proposed two randomisation tests that every attribution method should pass:

* **model randomisation** (cascading): re-initialise the layers from the output to the
  input; maps that explain the *trained* model must change;
* **label randomisation**: explain another class with the same model; a
  class-discriminative map must change.

On the simulated data we can also ask whether the maps are *right*: the ground truth
says which channels carry each class's information, and when.

We check three methods on the shipped ShallowFBCSPNet: saliency, DeepLIFT, and the
model-free ``"envelope"`` control map (the amplitude envelope of the input, which
ignores the model and the class: it must fail both checks). Light settings keep the
example fast: 32 held-out trials, 500 bootstrap resamples.
"""
# sphinx_gallery_thumbnail_number = 1

import numpy as np

from neuroxai.attribution import attribute
from neuroxai.data import simulate_bcic_iv_2a
from neuroxai.metrics import compute_ground_truth_metrics
from neuroxai.models import load_pretrained
from neuroxai.sanity import cascading_randomization, label_randomization
from neuroxai.viz.figures import (
    plot_ground_truth_comparison,
    plot_metric_table,
    plot_sanity_checks,
)

model, _, meta = load_pretrained(verbose=False)
sim = simulate_bcic_iv_2a(**meta["dataset_params"], verbose=False)
test = sim.trials.select("1test")
# 8 trials per class, drawn with a seed
rng = np.random.default_rng(0)
idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(test.y == k), 8, replace=False)
                              for k in range(len(test.class_names))]))
test = test.select(idx=idx)
X, y = test.X, test.y
methods = ["saliency", "deeplift", "envelope"]

# %%
# Randomisation checks
# --------------------
# Each check compares, trial by trial, the maps of the trained model with those of the
# randomised model (or another class) and reports the mean Pearson r with a bootstrap
# confidence interval. A method passes when r drops below 0.5.
results = []
for method in methods:
    for check in (cascading_randomization, label_randomization):
        res = check(model, X, y, method=method, n_bootstrap=500, progress=False,
                    verbose=False)
        print(f"{res.test:>10} / {method:<9}: r = {res.mean[res.metric][-1]:+.2f} "
              f"-> {res.verdict}")
        results.append(res)

# %%
# The cascade shows how fast the maps decorrelate as more layers are randomised; the
# envelope stays at r = 1 (it never looks at the model) and is flagged ``FAIL``.
fig = plot_sanity_checks(results, show=False)

# %%
# Per-level numbers of one check, as a table:
summary = results[0].summary()
print(summary[["level", "randomized", "pearson_mean", "pearson_ci_low", "pearson_ci_high",
               "passed"]].round(2).to_string(index=False))

# %%
# Ground-truth metrics
# --------------------
# The maps of the trained model for each trial's true class, scored against the
# channel × time mask of that class (the motor channels over the imagined limb, after
# the cue): relevance mass accuracy (share of ``|map|`` inside the mask), relevance rank
# accuracy and ROC AUC (0.5 = chance).
times = test.tmin + np.arange(X.shape[-1]) / test.info["sfreq"]
maps = {m: attribute(model, X, target=y, method=m, y=y, info=test.info,
                     class_names=test.class_names, times=times) for m in methods}
truth = sim.ground_truth
scores = {m: compute_ground_truth_metrics(a, truth.chan_time, y=y, verbose=False)
          for m, a in maps.items()}
print(f"chance relevance mass accuracy: {truth.chan_time[y].mean():.3f}")
fig = plot_metric_table(scores, title="Ground-truth metrics (mean over 32 trials)",
                        show=False)

# %%
# Where each method puts its relevance for the right-hand trials, next to the
# ground-truth topography (white dots: the true channels).
fig = plot_ground_truth_comparison(maps, truth, class_index=test.class_names.index("right_hand"),
                                   show=False)

# %%
# The benchmark table
# -------------------
# :func:`neuroxai.benchmark.run_xai_benchmark` runs the three criteria for many methods
# over the three simulation regimes, each with its own shipped model. Here: one regime,
# 16 trials; ``run_xai_benchmark()`` with its defaults does every method and regime
# (about 15 minutes on two CPU cores).
try:
    from neuroxai.benchmark import run_xai_benchmark
except ImportError:  # an older neuroxai without the benchmark module
    run_xai_benchmark = None
if run_xai_benchmark is not None:
    table = run_xai_benchmark(methods=methods, regimes=("spectral",), n_trials=16,
                              n_bootstrap=200, progress=False, verbose=False)
    cols = ["method", "mass_accuracy", "mass_accuracy_chance", "roc_auc", "label_r",
            "cascade_r", "ok"]
    print(table.data[cols].round(2).to_string(index=False))
