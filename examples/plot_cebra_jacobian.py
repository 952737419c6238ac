"""
.. _ex-cebra-jacobian:

==========================================================
A CEBRA-style encoder and its Jacobian pseudo-inverse maps
==========================================================

CEBRA learns an embedding of neural data with a contrastive (InfoNCE) loss and explains
it with the Jacobian of the encoder and its Moore–Penrose pseudo-inverse: for trial
:math:`x_i` with Jacobian :math:`J_i` (``n_latents × n_inputs``), :math:`J_i^+` gives,
for each latent, the input direction that moves that latent while the others stay fixed.

This example

1. trains a small :class:`~neuroxai.models.encoder.ContrastiveEEGEncoder` on simulated
   motor-imagery trials, with same-class trials as positive pairs (CEBRA's discrete-label
   sampling),
2. computes the Jacobian and pseudo-inverse maps with
   :func:`~neuroxai.attribution.compute_jacobian_pinv_maps`, checking the four
   Moore–Penrose conditions on every trial,
3. compares the channel maps with the simulated sources (CEBRA's connected /
   non-connected statistics and ROC AUC).

Training is kept short (150 steps on 96 trials); the encoder is FBCSP-like and trains in
the frequency domain, so this takes well under a minute on a laptop CPU.
"""
# sphinx_gallery_thumbnail_number = 2

import os

import matplotlib.pyplot as plt
import numpy as np
import torch

from neuroxai.attribution import compute_jacobian_pinv_maps, reduce_to_channels
from neuroxai.data import simulate_bcic_iv_2a
from neuroxai.metrics.cebra import attribution_auc, connected_stats
from neuroxai.models.encoder import train_encoder
from neuroxai.viz.figures import plot_jacobian_maps

# The encoder's operations are small: one thread is the fastest, and on a busy machine
# several times faster than threads that wait for each other.
torch.set_num_threads(1)
n_trials, n_steps, n_maps = 96, 150, 32
# sphinx_gallery_start_ignore
if os.environ.get("NEUROXAI_EXAMPLES_QUICK"):  # the test suite: same code, smaller sizes
    n_trials, n_steps, n_maps = 48, 30, 8
# sphinx_gallery_end_ignore
sim = simulate_bcic_iv_2a("spectral", snr=1.0, n_trials=n_trials, n_sessions=2, seed=1,
                          verbose=False)
train, test = sim.trials.select("0train"), sim.trials.select("1test")
print(train, test, sep="\n")

# %%
# Train the encoder
# -----------------
# Three latents on the unit sphere, InfoNCE with temperature 1 (CEBRA's default). The
# trials carry their sampling rate (250 Hz here), which places the encoder's bands in Hz;
# mne.Epochs, braindecode windows or an array with its ``info`` work the same way.
encoder, history = train_encoder(train, n_latents=3, n_steps=n_steps, batch_size=64, seed=0,
                                 verbose=False)
print(f"InfoNCE loss {history['loss'][0]:.3f} -> {history['loss'][-1]:.3f} "
      f"in {history['train_time_s']:.1f} s")

# %%
# The held-out trials in the learned embedding, coloured by class: trials of a class
# gather in one region of the sphere.
with torch.no_grad():
    emb = encoder(torch.as_tensor(test.X)).numpy()
fig, axes = plt.subplots(1, 3, figsize=(8, 2.8), layout="constrained")
for ax, (i, j) in zip(axes, [(0, 1), (0, 2), (1, 2)]):
    for k, name in enumerate(test.class_names):
        sel = test.y == k
        ax.scatter(emb[sel, i], emb[sel, j], s=12, label=name)
    ax.set(xlabel=f"latent {i}", ylabel=f"latent {j}", aspect="equal")
axes[-1].legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
fig.suptitle("Held-out trials in the embedding")

# %%
# Jacobian and pseudo-inverse maps
# --------------------------------
# The encoder's input enters only through its in-band Fourier coefficients, so its
# Jacobians come from the gradients with respect to those (equal to autograd's); the
# pseudo-inverses are ``torch.linalg.pinv``'s, in float64 so that the Moore–Penrose
# conditions hold. ``|·|`` is taken per trial before averaging, so that signs that differ
# between trials do not cancel. The caller's encoder is not modified.
first = test.select(idx=np.arange(n_maps))
jacobian, pinv = compute_jacobian_pinv_maps(encoder, first, aggregate="mean", transform="abs",
                                            double_precision=True, verbose=False)
print(pinv)
conditions = pinv.coords["moore_penrose"]  # (n_trials, 4) booleans
print(f"Moore–Penrose conditions hold in {conditions.all(axis=1).mean():.0%} of the trials")

# %%
# One scalp map per latent: mean ``|J^+|`` over the 32 trials and over time.
fig = plot_jacobian_maps(pinv, show=False)

# %%
# The same for the Jacobian itself.
fig = plot_jacobian_maps(jacobian, title="Jacobian map per latent", show=False)

# %%
# Each latent's map is a channel × time array on the trials' time axis (the cue at 0 s,
# the trials start at ``tmin`` = -0.5 s), so it converts to one MNE Evoked per latent and
# MNE draws it at chosen times:
evokeds = pinv.to_evoked()  # {"0": EvokedArray, "1": ..., "2": ...}
print(evokeds["0"])
fig = pinv.plot_topomap(times=[0.0, 1.0, 2.0], item=0, show=False)

# %%
# Against the simulated sources
# -----------------------------
# The class sources lie under the central electrodes (C5 ... C6). Taking them as the
# "connected" inputs of every latent, CEBRA's statistics say how well each map singles
# them out (AUC 0.5 = chance).
connected = np.broadcast_to(sim.ground_truth.chan.any(axis=0), (3, len(test.info["ch_names"])))
print("connected channels:", [ch for ch, c in zip(test.info["ch_names"], connected[0]) if c])
for name, m in (("pinv", pinv), ("jacobian", jacobian)):
    cmap = reduce_to_channels(m, transform="abs", reduce="mean")
    stats = connected_stats(cmap, connected)
    print(f"{name:>8}: AUC = {attribution_auc(cmap, connected):.2f}, mean connected "
          f"{stats['mean_connected']:.3g} vs non-connected {stats['mean_nonconnected']:.3g}")

# %%
# Neither map singles out the source channels here, and that is expected for this
# encoder: with far fewer latents than inputs, :math:`J^+ = J^\top (J J^\top)^{-1}`
# lies in the span of the rows of :math:`J`, so the pseudo-inverse map is a *filter*
# like the Jacobian — it includes the spatial filters that cancel the background
# activity shared by all channels. CEBRA's identifiability argument, under which
# :math:`J^+` recovers the latent-to-input connectivity, needs an injective mixing of
# as many sources as latents. For where the class *signal* is in the scalp, use
# activation patterns (:func:`~neuroxai.attribution.compute_haufe_patterns`), as in
# :ref:`ex-tutorial-pipeline`.
