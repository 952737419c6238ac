"""
.. _ex-igc:

=========================================================
Integrated Gradient Correlation: where does the r live?
=========================================================

Per-trial attribution maps explain one decision at a time. Integrated Gradient
Correlation (IGC; Lelièvre & Chen) explains a *dataset-wise* quantity instead: the
Pearson correlation :math:`r_c` between the model's output for class :math:`c` and the
indicator of that class over a set of trials. Its cells add up to :math:`r_c`, so sums
over regions of interest (ROIs), time windows or frequency bands are exact shares of the
correlation.

* **Time domain**: one value per channel and sample; the cells sum to :math:`r_c` up to
  the quadrature error of the path integrals.
* **Spectral**: one value per channel and frequency, integrating over the amplitude
  spectrum with each trial's phases fixed. The cells sum to :math:`r_c - R_c`, where the
  *phase term* :math:`R_c` is the correlation the model draws from the phases alone
  (:math:`R_c = 0` exactly with ``baselines="zeros"``).

We explain the shipped ShallowFBCSPNet on 64 held-out simulated trials with light
settings (4 baselines, 16 to 64 quadrature points); the paper's defaults are heavier.
"""
# sphinx_gallery_thumbnail_number = 2

import os

import numpy as np

from neuroxai.attribution import compute_igc, compute_igc_channel_sums, compute_igc_roi_sums
from neuroxai.data import simulate_bcic_iv_2a
from neuroxai.models import load_pretrained
from neuroxai.viz import default_rois, plot_igc_topomaps

model, _, meta = load_pretrained(verbose=False)
dataset_params, n_test, n_steps = meta["dataset_params"], 64, 16
# sphinx_gallery_start_ignore
if os.environ.get("NEUROXAI_EXAMPLES_QUICK"):  # the test suite: same code, smaller sizes
    dataset_params, n_test, n_steps = {**dataset_params, "n_trials": 32}, 16, 4
# sphinx_gallery_end_ignore
sim = simulate_bcic_iv_2a(**dataset_params, verbose=False)
test = sim.trials.select("1test", idx=np.arange(n_test))

# %%
# Time-domain IGC
# ---------------
# Baselines are trials drawn once (seeded) from the data, shared by every trial, which
# is what makes the baseline term cancel exactly. The trials carry their labels, class
# names, sampling rate and ``tmin``.
igc_time = compute_igc(model, test, n_baselines=4, n_steps=n_steps, domain="time", seed=0,
                       verbose=False)
print(igc_time)
c = igc_time.coords
for name, r, s, e in zip(c["class"], c["correlation"], c["attribution_sum"],
                         c["completeness_error"]):
    # completeness (the IGC axiom): the cells sum to r up to the quadrature error
    print(f"{name:>10}: r = {r:+.3f}, sum of IGC cells = {s:+.3f}, error = {e:+.1e}")

# %%
# The figure draws each class's IGC summed over time per channel, and splits its
# correlation into left / midline / right channel groups: the segments of each bar add
# up to :math:`r` (the diamond).
fig = plot_igc_topomaps(igc_time, show=False)

# %%
# The ROI sums are a plain table (:func:`~neuroxai.attribution.igc.compute_igc_roi_sums`);
# any partition of the channels adds up to the same total.
rois = default_rois(test.info["ch_names"])
sums = compute_igc_roi_sums(igc_time, rois=rois)
sums["total"] = sums.sum(axis=1)
sums["r"] = igc_time.coords["correlation"]
print(sums.round(3))

# %%
# Spectral IGC
# ------------
# With zero-amplitude baselines the phase term vanishes and the channel × frequency
# cells account for all of :math:`r`. The path from silence to the trial's spectrum
# crosses the steep part of ShallowFBCSPNet's log-power nonlinearity, so it needs more
# quadrature points than the time-domain paths (one baseline keeps it cheap: 64 trials ×
# 1 baseline × 64 points). Summed over the mu and beta bands, the maps show
# which rhythm at which electrodes carries each class's correlation.
igc_spec = compute_igc(model, test, baselines="zeros", n_steps=4 * n_steps, domain="spectral",
                       verbose=False)
print(igc_spec)
c = igc_spec.coords
print("r          :", np.round(c["correlation"], 3))
print("phase term :", np.round(c["phase_term"], 3))
print("sum cells  :", np.round(c["attribution_sum"], 3))
print("error      :", np.round(c["completeness_error"], 3))

# %%
# The maps are the channel x band sums of
# :func:`~neuroxai.attribution.igc.compute_igc_channel_sums`.
topo_bands = {"mu (8-13 Hz)": (8, 13), "beta (18-26 Hz)": (18, 26)}
per_band = compute_igc_channel_sums(igc_spec, bands=topo_bands)
print(per_band)
fig = plot_igc_topomaps(igc_spec, bands=topo_bands, show=False)

# %%
# Band sums per ROI, as a table: rows are classes, columns (ROI, band). Bands include
# both edges, ``fmin <= f <= fmax`` (as MNE's ``fmin``/``fmax``), so bands that must not
# share a bin must not share an edge.
bands = {"theta": (4, 7), "mu": (8, 13), "beta": (14, 30), "gamma": (31, 40)}
print(compute_igc_roi_sums(igc_spec, rois=rois, bands=bands).round(3).T)
