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

Both tests are necessary, not sufficient, and they say nothing about a model that has
learnt nothing: an untrained network's maps change too when it is randomised. So every
check starts with the **model gate**: the held-out accuracy against chance.

We check three methods on the shipped ShallowFBCSPNet: saliency, DeepLIFT, and the
model-free ``"envelope"`` control map (the amplitude envelope of the input, which
ignores the model and the class: it must fail both checks). Light settings keep the
example fast: 32 held-out trials, 500 bootstrap resamples.
"""
# sphinx_gallery_thumbnail_number = 1

import os

import numpy as np

from neuroxai.attribution import attribute
from neuroxai.data import simulate_bcic_iv_2a
from neuroxai.evaluation import run_xai_benchmark
from neuroxai.metrics import compute_ground_truth_metrics
from neuroxai.models import evaluate_classifier, load_pretrained
from neuroxai.sanity import cascading_randomization, label_randomization
from neuroxai.viz import plot_ground_truth_comparison, plot_metric_table, plot_sanity_checks

model, _, meta = load_pretrained(verbose=False)
dataset_params, per_class, n_bootstrap = meta["dataset_params"], 8, 500
n_bench, n_permutations = 16, 1000
# sphinx_gallery_start_ignore
if os.environ.get("NEUROXAI_EXAMPLES_QUICK"):  # the test suite: same code, smaller sizes
    dataset_params, per_class, n_bootstrap = {**dataset_params, "n_trials": 48}, 3, 100
    n_bench, n_permutations = 8, 100
# sphinx_gallery_end_ignore
sim = simulate_bcic_iv_2a(**dataset_params, verbose=False)
held_out = sim.trials.select("1test")

# %%
# The model gate
# --------------
# The accuracy on all held-out trials, its chance level (the most frequent class's share)
# and a one-sided binomial p-value. Every check below gets it (``model_accuracy=``): with
# a model that is not above chance the verdict is ``NOT ABOVE CHANCE`` whatever the maps do.
gate = evaluate_classifier(model, held_out)
print(f"held-out accuracy {gate['accuracy']:.3f} (chance {gate['chance']:.2f}, "
      f"p = {gate['p_value']:.1e})")

# 8 trials per class, drawn with a seed
rng = np.random.default_rng(0)
idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(held_out.y == k), per_class,
                                         replace=False)
                              for k in range(len(held_out.class_names))]))
test = held_out.select(idx=idx)
methods = ["saliency", "deeplift", "envelope"]

# %%
# Randomisation checks
# --------------------
# Each check compares, trial by trial, the maps of the trained model for each trial's true
# class (``target="labels"``) with those of the randomised model (or of another class), and
# reports the mean similarity with a bootstrap confidence interval. A level passes when the
# maps changed both signed (Pearson r below 0.5 in magnitude) and unsigned (Spearman rho of
# ``|maps|`` below 0.5).
results = []
for method in methods:
    for check in (cascading_randomization, label_randomization):
        res = check(model, test, target="labels", method=method, model_accuracy=gate,
                    n_bootstrap=n_bootstrap, verbose=False)
        print(f"{res.test:>10} / {method:<9}: r = {res.mean['pearson'][-1]:+.2f} "
              f"-> {res.verdict}")
        results.append(res)

# %%
# The cascade shows how fast the maps decorrelate as more layers are randomised; the
# envelope stays at r = 1 (it never looks at the model) and is flagged ``FAIL``.
fig = plot_sanity_checks(results, show=False)

# %%
# Per-level numbers of one check, as a table, and its verdict in words:
summary = results[0].summary()
print(summary[["level", "randomized", "pearson_mean", "pearson_ci_low", "pearson_ci_high",
               "passed"]].round(2).to_string(index=False))
print(results[0].verdict_text)

# %%
# Ground-truth metrics
# --------------------
# The maps of the trained model for each trial's true class, scored against the
# channel × time mask of that class (the motor channels over the imagined limb, after
# the cue): relevance mass accuracy (share of ``|map|`` inside the mask), relevance rank
# accuracy and ROC AUC (0.5 = chance).
maps = {m: attribute(model, test, target="labels", method=m, verbose=False) for m in methods}
truth = sim.ground_truth
scores = {m: compute_ground_truth_metrics(a, truth.chan_time, y=test.y, verbose=False)
          for m, a in maps.items()}
print(f"chance relevance mass accuracy: {truth.chan_time[test.y].mean():.3f}")
fig = plot_metric_table(scores, title=f"Ground-truth metrics (mean over {len(test)} trials)",
                        show=False)

# %%
# Where each method puts its relevance for the right-hand trials, next to the
# ground-truth topography (white dots: the true channels).
fig = plot_ground_truth_comparison(maps, truth, class_index=test.class_names.index("right_hand"),
                                   show=False)

# %%
# The benchmark table
# -------------------
# :func:`neuroxai.evaluation.run_xai_benchmark` runs the same criteria (the model gate,
# ground truth against shuffled maps, label and full randomisation) for many methods over
# the simulation regimes, each with its own model. Here: one regime, 16 trials. With its
# defaults it does every method and regime, which makes the benchmark table of
# :ref:`choosing_method` (``python benchmarks/xai_table.py``, about half an hour on two
# CPU cores).
table = run_xai_benchmark(methods=methods, regimes=["spectral"], n_trials=n_bench,
                          n_permutations=n_permutations, n_bootstrap=n_bootstrap,
                          verbose=False)
cols = ["method", "roc_auc", "roc_auc_p", "accurate", "label_r", "label_verdict", "cascade_r",
        "cascade_verdict", "ok"]
print(table.data[cols].round(3).to_string(index=False))
