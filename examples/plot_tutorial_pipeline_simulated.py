"""
.. _ex-tutorial-pipeline:

=================================================================
The braindecode tutorial pipeline on simulated BCI IV 2a data
=================================================================

braindecode's BCI IV 2a tutorial trains a ShallowFBCSPNet on motor imagery and then asks
which frequencies at which electrodes the network uses: it computes the gradient of every
class score with respect to the trials' amplitude spectra and draws them as band × class
topomaps. This example runs that pipeline end to end with neuroxai, offline:

1. simulate the held-out session of the embedded dataset (known ground truth),
2. load the shipped ShallowFBCSPNet and pass the **model gate** (held-out accuracy against
   chance: a model at chance has nothing to explain),
3. compute amplitude gradients and their Haufe patterns,
4. draw band × class topomaps,
5. compute per-trial attributions with :func:`~neuroxai.attribution.attribute` and hand
   them to MNE as an :class:`mne.Evoked`.

In the ``"spectral"`` regime each class desynchronises the mu (8–13 Hz) and beta
(18–26 Hz) rhythm of one motor area after the cue: left hand over the right hemisphere
(C4), right hand over the left (C3), feet at the vertex (Cz), tongue bilaterally and
laterally (C5/C6).
"""
# sphinx_gallery_thumbnail_number = 2

import os

import matplotlib.pyplot as plt
import numpy as np

from neuroxai.attribution import attribute, compute_amplitude_gradients, compute_haufe_patterns
from neuroxai.data import simulate_bcic_iv_2a
from neuroxai.models import evaluate_classifier, load_pretrained, predict
from neuroxai.viz import plot_band_topomaps

# %%
# Load the data and the model
# ---------------------------
# The shipped checkpoint was trained on session ``"0train"`` of
# ``simulate_bcic_iv_2a("spectral", snr=0.7, seed=0)``; the same call gives its held-out
# session ``"1test"``. We keep 64 of its 288 trials so that the example stays fast on a
# laptop CPU (use all of them for a real analysis).
model, history, meta = load_pretrained(verbose=False)
dataset_params, n_test = meta["dataset_params"], 64
# sphinx_gallery_start_ignore
if os.environ.get("NEUROXAI_EXAMPLES_QUICK"):  # the test suite: same code, smaller sizes
    dataset_params, n_test = {**dataset_params, "n_trials": 32}, 16
# sphinx_gallery_end_ignore
sim = simulate_bcic_iv_2a(**dataset_params, verbose=False)
test = sim.trials.select("1test", idx=np.arange(n_test))
print(test)

# %%
# The model gate
# --------------
# An attribution map explains a model, and a model at chance explains noise. So first:
# is the accuracy on trials the model never saw above chance? Chance is the share of the
# most frequent class; the p-value is a one-sided binomial test.
gate = evaluate_classifier(model, test)
print(f"accuracy on {gate['n']} held-out trials: {gate['accuracy']:.3f} (chance "
      f"{gate['chance']:.2f}, p = {gate['p_value']:.1e}); all 288: {meta['test_accuracy']:.3f}")

# %%
# The training curve stored with the checkpoint (braindecode's ``history.json`` layout).
fig, ax = plt.subplots(figsize=(5, 2.8), layout="constrained")
epochs = [h["epoch"] for h in history]
ax.plot(epochs, [h["train_accuracy"] for h in history], label="train (0train)")
ax.plot(epochs, [h["valid_accuracy"] for h in history], label="held out (1test)")
ax.axhline(0.25, color="0.6", linestyle=":", label="chance")
ax.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.05))
ax.legend(frameon=False)

# %%
# Amplitude gradients and Haufe patterns
# --------------------------------------
# :func:`~neuroxai.attribution.compute_amplitude_gradients` splits each trial into
# amplitude and phase spectra and differentiates every class score with respect to the
# amplitudes (phases fixed). Each trial's gradient is its own, so the result does not
# depend on ``batch_size``. The gradients are *filters*: they also load on channels the
# model uses to cancel noise. Their Haufe patterns (:func:`compute_haufe_patterns`)
# multiply them by the covariance of the amplitude spectra and show where the
# class-discriminative signal is. Both take the trials as they are (here
# :class:`~neuroxai.data.Trials`; :class:`mne.Epochs` or braindecode windows work the
# same): the sampling rate, channel positions and class names come with them.
grads = compute_amplitude_gradients(model, test)
patterns = compute_haufe_patterns(grads, test)
print(grads)
print(patterns)

# %%
# Band × class topomaps of the class-mean gradients, as in braindecode's tutorial.
# Rows: mu/alpha (7–13 Hz) and beta (14–30 Hz); columns: classes.
fig = plot_band_topomaps(grads.mean("trial"), title="Mean amplitude gradients",
                         unit="gradient", show=False)

# %%
# The patterns point at the simulated sources: negative mu/beta pattern (the class is
# signalled by *less* rhythm power) over C4 for the left hand, C3 for the right hand,
# Cz for the feet, C5/C6 for the tongue.
fig = plot_band_topomaps(patterns, title="Haufe patterns of the amplitude gradients",
                         unit="pattern (a.u.)", show=False)

# %%
# Per-trial attributions
# ----------------------
# :func:`~neuroxai.attribution.attribute` gives one map per trial over captum's methods
# (``list_methods()``). DeepLIFT with neuroxai's rescale rules for ShallowFBCSPNet's
# square and log nonlinearities is complete: each trial's map sums to the difference
# between the target score at the trial and at the baseline (zeros).
# ``target="labels"`` explains each trial's true class.
first = test.select(idx=np.arange(16))
dl = attribute(model, first, target="labels", method="deeplift")
print(dl)

delta = predict(model, first) - predict(model, np.zeros_like(first.X))
delta = delta[np.arange(len(first)), first.y]
err = np.abs(dl.data.sum(axis=(1, 2)) - delta).max()
print(f"completeness: max |sum(map) - (f(x) - f(0))| = {err:.2e}")

# %%
# Attributions as MNE objects
# ---------------------------
# The result keeps the times of the trials (from ``tmin`` = -0.5 s: the cue is at 0 s),
# the class names and the channel info, so ``to_evoked(class_index)`` averages the maps
# of one class's trials into an :class:`mne.Evoked` and MNE's plotting works unchanged.
# We average ``|attribution|`` (:meth:`~neuroxai.attribution.Attribution.abs`) so that
# positive and negative contributions do not cancel, and let MNE scale it to % of the
# maximum. For right-hand trials the relevance concentrates over C3 after the cue, where
# the simulated mu/beta rhythm desynchronises.
relevance = dl.abs()
k = test.class_names.index("right_hand")
evoked = relevance.to_evoked(class_index=k)
print(evoked)
fig = evoked.plot_topomap(times=[0.0, 1.0, 2.0, 3.0], average=1.0, cmap="viridis",
                          vlim=(0, None), units="%", scalings=100 / relevance.data.max(),
                          time_format="%0.1f s", size=1.8, show=False)
fig.suptitle(f"|DeepLIFT| of the {evoked.comment} trials, % of max (1 s averages)")
