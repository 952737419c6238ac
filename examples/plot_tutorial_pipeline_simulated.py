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
2. load the shipped ShallowFBCSPNet and check its accuracy,
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

import matplotlib.pyplot as plt
import numpy as np

from neuroxai.attribution import (
    Attribution,
    attribute,
    compute_amplitude_gradients,
    compute_haufe_patterns,
)
from neuroxai.data import simulate_bcic_iv_2a
from neuroxai.models import accuracy, load_pretrained
from neuroxai.viz import plot_band_topomaps

# %%
# Load the data and the model
# ---------------------------
# The shipped checkpoint was trained on session ``"0train"`` of
# ``simulate_bcic_iv_2a("spectral", snr=0.7, seed=0)``; the same call gives its held-out
# session ``"1test"``. We keep 64 of its 288 trials so that the example stays fast on a
# laptop CPU (use all of them for a real analysis).
model, history, meta = load_pretrained(verbose=False)
sim = simulate_bcic_iv_2a(**meta["dataset_params"], verbose=False)
test = sim.trials.select("1test", idx=np.arange(64))
print(test)
print(f"accuracy on {len(test)} held-out trials: {accuracy(model, test.X, test.y):.3f} "
      f"(all 288: {meta['test_accuracy']:.3f}; chance {1 / len(test.class_names):.2f})")

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
# class-discriminative signal is.
grads = compute_amplitude_gradients(model, test.X, info=test.info,
                                    class_names=test.class_names)
patterns = compute_haufe_patterns(grads, test.X)
print(grads)
print(patterns)

# %%
# Band × class topomaps of the class-mean gradients, as in braindecode's tutorial.
# Rows: mu/alpha (7–13 Hz) and beta (14–30 Hz); columns: classes.
mean_grads = grads.data.mean(axis=1)  # (class, chan, freq)
fig = plot_band_topomaps(mean_grads, info=test.info, freqs=grads.coords["freq"],
                         class_names=test.class_names, title="Mean amplitude gradients",
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
n = 16
times = test.tmin + np.arange(test.X.shape[-1]) / test.info["sfreq"]  # s from the cue
dl = attribute(model, test.X[:n], target=test.y[:n], method="deeplift", y=test.y[:n],
               info=test.info, class_names=test.class_names, times=times)
print(dl)

import torch  # noqa: E402

with torch.no_grad():
    x = torch.as_tensor(test.X[:n])
    delta = (model(x) - model(torch.zeros_like(x)))[np.arange(n), test.y[:n]].numpy()
err = np.abs(dl.data.sum(axis=(1, 2)) - delta).max()
print(f"completeness: max |sum(map) - (f(x) - f(0))| = {err:.2e}")

# %%
# Attributions as MNE objects
# ---------------------------
# ``to_evoked(class_index)`` averages the maps of one class's trials into an
# :class:`mne.Evoked`; MNE's plotting then works unchanged. We average ``|attribution|``
# (scaled to its maximum) so that positive and negative contributions do not cancel.
# For right-hand trials the relevance concentrates over C3 after the cue, where the
# simulated mu/beta rhythm desynchronises.
rel = 100 * np.abs(dl.data) / np.abs(dl.data).max()
dl_abs = Attribution(rel, dl.dims, info=dl.info, method="|deeplift|", params=dl.params,
                     coords=dl.coords)
k = test.class_names.index("right_hand")
evoked = dl_abs.to_evoked(class_index=k)
fig = evoked.plot_topomap(times=[0.0, 1.0, 2.0, 3.0], average=1.0, cmap="viridis",
                          vlim=(0, None), units="%", scalings=1.0,
                          time_format="%0.1f s", size=1.8, show=False)
fig.suptitle(f"|DeepLIFT| of the {evoked.comment} trials, % of max (1 s averages)")
