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

The data are read from disk only: ``$MNE_DATA`` when it holds the files, else the
repository's ``../shared/data/mne_data``. When neither has them the example says so and
stops (online, ``load_moabb`` would download them into ``data_cache/``).
"""
# sphinx_gallery_thumbnail_number = 2

import os
from pathlib import Path

import numpy as np

from neuroxai.attribution import attribute, compute_amplitude_gradients, compute_haufe_patterns
from neuroxai.data import DATASETS, load_moabb
from neuroxai.models import accuracy, build_model, fit_classifier
from neuroxai.viz import plot_band_topomaps

# %%
# Find the recording
# ------------------
# We check that the files are on disk before loading, so that nothing tries to reach
# PhysioNet from an offline machine.
try:
    HERE = Path(__file__).resolve().parent
except NameError:  # run interactively
    HERE = Path.cwd()
candidates = [os.environ.get("MNE_DATA"), HERE.parents[1] / "shared" / "data" / "mne_data"]
spec = DATASETS["PhysionetMI"]
data_dir = next((Path(c) for c in candidates
                 if c and all(f.is_file() for f in spec.files(c, 1, "left_right"))), None)
if data_dir is None:
    print("EEGMMIDB subject 1 is not on disk: set MNE_DATA to an MNE data folder that holds "
          "MNE-eegbci-data/files/eegmmidb/1.0.0/S001 (runs 4, 8, 12), e.g. "
          "MNE_DATA=../shared/data/mne_data. Skipping this example.")
else:
    print(f"reading EEGMMIDB from {data_dir.name}/ ({len(spec.files(data_dir, 1, 'left_right'))} "
          "files)")

# %%
# Load and split
# --------------
# ``as_trials=True`` gives arrays plus the channel info (montage set) and class names.
# The first 30 trials (in recording order) train the model, the last 15 test it.
if data_dir is not None:
    trials = load_moabb("PhysionetMI", subject=1, task="left_right", data_dir=data_dir,
                        as_trials=True, verbose=False)
    print(trials)
    n_train = 30
    X_train, y_train = trials.X[:n_train], trials.y[:n_train]
    X_test, y_test = trials.X[n_train:], trials.y[n_train:]
    print(f"train: {np.bincount(y_train)} trials per class, test: {np.bincount(y_test)}")

# %%
# Train a small ShallowFBCSPNet
# -----------------------------
# :func:`~neuroxai.models.build_model` builds any braindecode model by name;
# :func:`~neuroxai.models.fit_classifier` trains it as braindecode's tutorial does (AdamW,
# cosine schedule, cross-entropy), reproducibly for a given ``seed`` on the CPU. Twenty
# epochs take a few seconds here; a real analysis would use all runs of many subjects
# and cross-validation.
if data_dir is not None:
    import torch

    n_chans, n_times = trials.X.shape[1:]
    torch.manual_seed(0)
    model = build_model("ShallowFBCSPNet", n_chans=n_chans, n_outputs=2, n_times=n_times,
                        final_conv_length="auto")
    model, history = fit_classifier(model, X_train, y_train, X_test, y_test, n_epochs=20,
                                    lr=1e-3, batch_size=16, seed=0, progress=False)
    print(f"train accuracy {history[-1]['train_accuracy']:.2f}, held-out accuracy "
          f"{accuracy(model, X_test, y_test):.2f} on {len(y_test)} trials (chance 0.5)")

# %%
# Amplitude gradients and Haufe patterns
# --------------------------------------
# Computed on all 45 trials. With two classes the class-centred patterns of the two
# classes are each other's negative, so the columns mirror each other.
if data_dir is not None:
    grads = compute_amplitude_gradients(model, trials.X, info=trials.info,
                                        class_names=trials.class_names)
    patterns = compute_haufe_patterns(grads, trials.X)
    fig = plot_band_topomaps(grads.data.mean(axis=1), info=trials.info,
                             freqs=grads.coords["freq"], class_names=trials.class_names,
                             title="Mean amplitude gradients (EEGMMIDB S001)", unit="gradient",
                             show=False)

# %%
if data_dir is not None:
    fig = plot_band_topomaps(patterns, title="Haufe patterns (EEGMMIDB S001)",
                             unit="pattern (a.u.)", show=False)

# %%
# Per-trial attributions as an MNE Evoked
# ---------------------------------------
# DeepLIFT maps of every trial for its true class, ``|·|`` averaged over the trials of
# each class and over 1 s windows, drawn by MNE.
if data_dir is not None:
    import matplotlib.pyplot as plt

    from neuroxai.attribution import Attribution

    times = trials.tmin + np.arange(n_times) / trials.info["sfreq"]
    dl = attribute(model, trials.X, target=trials.y, method="deeplift", y=trials.y,
                   info=trials.info, class_names=trials.class_names, times=times)
    rel = Attribution(100 * np.abs(dl.data) / np.abs(dl.data).max(), dl.dims, info=dl.info,
                      method="|deeplift|", coords=dl.coords)
    fig, axes = plt.subplots(2, 4, figsize=(7.5, 4.4), layout="constrained",
                             gridspec_kw=dict(width_ratios=[1, 1, 1, 0.08]))
    for row, k in enumerate(range(len(trials.class_names))):
        evoked = rel.to_evoked(class_index=k)
        evoked.plot_topomap(times=[0.0, 1.0, 2.0], average=1.0, cmap="viridis",
                            vlim=(0, None), units="%", scalings=1.0,
                            time_format="%0.1f s", axes=list(axes[row]), show=False)
        axes[row, 0].text(-0.12, 0.5, evoked.comment, rotation=90, va="center",
                          ha="center", transform=axes[row, 0].transAxes)
    fig.suptitle("|DeepLIFT| per class, % of max (1 s averages)")
