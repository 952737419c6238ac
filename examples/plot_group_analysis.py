"""
.. _ex-group:

=====================================================
Group-level maps: where is the class information?
=====================================================

One subject's attribution map is an anecdote; a finding holds across subjects. Here ten
simulated subjects -- each with its own background sources, random draws and SNR -- are
explained by one shared model (the shipped ShallowFBCSPNet), each subject's Integrated
Gradient Correlation (IGC) is reduced to one map per class and 2 Hz bin, and MNE's
cluster permutation test asks where the maps differ from zero across subjects.

IGC splits each class's correlation between the model output and the labels over
channels and frequencies, so it depends on the labels: with permuted labels there is
nothing to find (see :ref:`group`). The simulator desynchronises the mu rhythm of the
class's motor source: near C4 for the left hand, near C3 for the right hand.
"""
# sphinx_gallery_thumbnail_number = 1

from neuroxai.group import compute_group_statistics, compute_subject_maps, simulate_subjects
from neuroxai.models import load_pretrained
from neuroxai.viz import plot_group_clusters, plot_group_topomaps

subjects = simulate_subjects(10, n_trials=48, verbose=False)
model, _, _ = load_pretrained(verbose=False)

# %%
# Subject maps
# ------------
# One job per subject; ``n_jobs=2`` or a Dask cluster run them in parallel with the same
# results, and ``cache_dir`` keeps each finished subject so that an interrupted run
# resumes. Light IGC settings (one data baseline, 4 quadrature steps) suffice here.
maps = compute_subject_maps(subjects, model, methods="igc",
                            method_params={"igc": dict(n_baselines=1, n_steps=4)},
                            cache_dir=False, verbose=False)
print(maps)
print(maps.table()[["subject", "n_trials", "accuracy", "chance", "p_value"]])

# %%
# Group statistics
# ----------------
# A one-sample cluster permutation test over channels x frequency bins, all four classes
# in one test (clusters never join two classes). With ten subjects MNE runs the exact
# sign-flip test: 512 permutations, smallest p-value 1/512.
result = compute_group_statistics(maps, seed=0, verbose=False)
table = result.cluster_table(significant_only=True)
print(table[["class", "channels", "bands", "peak", "peak_stat", "p_value"]])

# %%
# The group maps: t-values per class in the mu and beta bands, channels of significant
# cells marked. The left-hand cluster peaks at C4, the right-hand one at C3, both in the
# mu band, both positive: the desynchronisation lowers mu at the source, the model reads
# that decrease as evidence for the class, and IGC credits those cells with a positive
# share of the correlation.
fig = plot_group_topomaps(result)

# %%
# Each significant cluster on its own.
fig = plot_group_clusters(result)
