"""
.. _ex-real-eegmmidb:

=====================================================
Attributions on real EEG: EEGMMIDB left vs right fist
=====================================================

The same pipeline as :ref:`ex-tutorial-pipeline` on a real recording: subject 1 of the
EEG Motor Movement/Imagery Database (PhysioNet EEGMMIDB, MOABB's ``PhysionetMI``),
imagined opening and closing of the left vs the right fist (runs 4, 8 and 12; 64
channels at 160 Hz, 45 trials), preprocessed as in braindecode's BCI IV 2a tutorial.

There is no pretrained model for this subject, so a small ShallowFBCSPNet is trained
here for a few epochs on 30 trials and evaluated on the other 15. **This is a demo of the
API, not a decoding result**: 45 trials of one subject are far too few to train a network
that generalises, and the maps below explain whatever this small model learned.

:func:`~neuroxai.data.load_moabb` reads the files from ``$MNE_DATA`` (here the
repository's ``../shared/data/mne_data`` when it exists). Without them it downloads them
when online (into ``data_cache/``), and offline it raises
:class:`~neuroxai.DataNotAvailableError` within seconds: the example then says so and
stops.
"""
# sphinx_gallery_thumbnail_number = 2

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from neuroxai import DataNotAvailableError
from neuroxai.attribution import attribute, compute_amplitude_gradients, compute_haufe_patterns
from neuroxai.data import load_moabb
from neuroxai.models import build_model, evaluate_classifier, fit_classifier
from neuroxai.viz import plot_band_topomaps

# %%
# Load the recording
# ------------------
# MOABB's ``PhysionetMI`` through braindecode, preprocessed as in braindecode's tutorial
# (µV, 4–38 Hz band-pass, exponential moving standardisation) and cut into windows from
# 0.5 s before each cue. ``as_trials=True`` gives :class:`~neuroxai.data.Trials`: the
# arrays with the channel info (montage set), the times and the class names.
try:
    HERE = Path(__file__).resolve().parent
except NameError:  # run interactively
    HERE = Path.cwd()
shared = HERE.parents[1] / "shared" / "data" / "mne_data"
data_dir = os.environ.get("MNE_DATA") or (shared if shared.is_dir() else None)
try:
    trials = load_moabb("PhysionetMI", subjects=1, task="left_right", data_dir=data_dir,
                        as_trials=True, verbose=False)
    print(trials)
except DataNotAvailableError as err:
    trials = None
    print(f"EEGMMIDB subject 1 is not available, skipping this example:\n{err}")
n_epochs = 20
# sphinx_gallery_start_ignore
if os.environ.get("NEUROXAI_EXAMPLES_QUICK"):  # the test suite: same code, smaller sizes
    n_epochs = 3
# sphinx_gallery_end_ignore

# %%
# Train a small ShallowFBCSPNet
# -----------------------------
# :func:`~neuroxai.models.build_model` builds any braindecode model by name;
# :func:`~neuroxai.models.fit_classifier` trains it with braindecode's ``EEGClassifier``
# as its tutorial does (AdamW, cosine schedule, cross-entropy), reproducibly for a given
# ``seed`` on the CPU. The first 30 trials (in recording order) train it, the last 15 are
# held out and scored after each epoch. Twenty epochs take a few seconds here; a real
# analysis would use all runs of many subjects and cross-validation
# (:func:`~neuroxai.models.cross_validate`, see :ref:`ex-own-recordings`).
if trials is not None:
    train = trials.select(idx=np.arange(30))
    test = trials.select(idx=np.arange(30, len(trials)))
    print(f"train: {np.bincount(train.y)} trials per class, test: {np.bincount(test.y)}")
    torch.manual_seed(0)  # the initial weights
    model = build_model("ShallowFBCSPNet", n_chans=train.X.shape[1], n_outputs=2,
                        n_times=train.X.shape[2], final_conv_length="auto")
    model, history = fit_classifier(model, train, X_valid=test, n_epochs=n_epochs,
                                    batch_size=16, seed=0, verbose=False)

# %%
# The model gate
# --------------
# Is the held-out accuracy above chance (one-sided binomial test)? With 15 trials it
# rarely is: the maps below then explain a model that has not learnt the task, and they
# show the API, not where the information lies.
if trials is not None:
    gate = evaluate_classifier(model, test)
    print(f"held-out accuracy {gate['accuracy']:.2f} on {gate['n']} trials (chance "
          f"{gate['chance']:.2f}, binomial p = {gate['p_value']:.2f}); above chance: "
          f"{gate['above_chance']}")

# %%
# Amplitude gradients and Haufe patterns
# --------------------------------------
# Computed on all 45 trials, straight from the Trials (the rate, 160 Hz, comes with
# them). With two classes the class-centred patterns of the two classes are each other's
# negative, so the columns mirror each other.
if trials is not None:
    grads = compute_amplitude_gradients(model, trials, verbose=False)
    patterns = compute_haufe_patterns(grads, trials)
    fig = plot_band_topomaps(grads.mean("trial"), unit="gradient", show=False,
                             title="Mean amplitude gradients (EEGMMIDB S001)")

# %%
if trials is not None:
    fig = plot_band_topomaps(patterns, title="Haufe patterns (EEGMMIDB S001)",
                             unit="pattern (a.u.)", show=False)

# %%
# Per-trial attributions as an MNE Evoked
# ---------------------------------------
# DeepLIFT maps of every trial for its true class (``target="labels"``); their ``|·|``
# (:meth:`~neuroxai.attribution.Attribution.abs`) averaged over the trials of each class
# becomes an :class:`mne.Evoked` on the trials' time axis (the cue at 0 s), and MNE
# draws it over 1 s windows.
if trials is not None:
    relevance = attribute(model, trials, target="labels", method="deeplift",
                          verbose=False).abs()
    scale = 100 / relevance.data.max()  # % of the largest value
    fig, axes = plt.subplots(2, 4, figsize=(7.5, 4.4), layout="constrained",
                             gridspec_kw=dict(width_ratios=[1, 1, 1, 0.08]))
    for k in range(len(trials.class_names)):
        evoked = relevance.to_evoked(class_index=k)
        evoked.plot_topomap(times=[0.0, 1.0, 2.0], average=1.0, cmap="viridis",
                            vlim=(0, None), units="%", scalings=scale,
                            time_format="%0.1f s", axes=list(axes[k]), show=False)
        axes[k, 0].text(-0.12, 0.5, evoked.comment, rotation=90, va="center",
                        ha="center", transform=axes[k, 0].transAxes)
    fig.suptitle("|DeepLIFT| per class, % of max (1 s averages)")
