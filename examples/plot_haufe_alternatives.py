"""
.. _ex-haufe-alternatives:

===========================================================
Haufe patterns and two alternatives that need no linearity
===========================================================

Amplitude gradients are the network's *filters*: they say what it reacts to, including
channels it uses only to cancel noise. Haufe et al. (2014) turn the filters of a *linear*
model into *patterns* (what goes with the class in the data). For a network the tutorial
uses the mean amplitude gradient as the linear model. This example compares, on the
simulator and on a real recording with few trials:

========================== ===================================================================
map                        what it assumes
========================== ===================================================================
gradient (filter)          nothing, but it is a filter: suppressors look relevant
Haufe                      the model is linear in the amplitudes, with the mean gradient as
                           weights; ``Cov(amplitudes)`` over ``chan x freq`` features is
                           estimated from the trials (many trials per feature)
Haufe, ``scale="haufe"``   the same, scaled by the class scores' covariance (Haufe et al.'s
                           formula), so that classes share one colour scale
Haufe, ``bands=``          the same, on band-mean amplitudes (few features), with the model's
                           sensitivity summed within each band: the pattern describes a
                           score built from those bands only
output covariance          no linearity: ``cov(amplitude, f(x))`` of the model's real outputs
                           over the trials (a pattern); on the training trials of a model that
                           fits them, it approaches the data's own class contrast
amplitude perturbation     no linearity: Schirrmeister et al.'s (2017) correlation between
                           random amplitude changes and the output changes they cause (a
                           filter, measured rather than linearised)
========================== ===================================================================

All maps are shown in the mu band (8-13 Hz), where imagining a hand movement lowers the
amplitude over the opposite hemisphere: left hand -> C4, right hand -> C3. Each row has its
own colour scale (the units differ), shared by the classes of that row.
"""
# sphinx_gallery_thumbnail_number = 1

import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import mne
import numpy as np

from neuroxai.attribution import (
    band_average,
    compute_amplitude_gradients,
    compute_amplitude_perturbation_correlations,
    compute_haufe_patterns,
    compute_output_covariance_patterns,
)
from neuroxai.data import as_trials, epochs_from_raw, simulate_bcic_iv_2a
from neuroxai.models import build_model, evaluate_classifier, fit_classifier, load_pretrained
from neuroxai.models.train import DEFAULT_RECIPE, shallow_time_kwargs

MU = {"mu": (8, 13)}
BANDS = {"mu": (8, 13), "beta": (14, 30)}


def mu_values(att):
    """(class, chan) mu-band values of a map (band-limited maps have a 'band' axis)."""
    if "band" in att.dims:
        return np.asarray(att.data)[..., att.coords["band"].index("mu")]
    return band_average(att.data, att.coords["freq"], MU)[..., 0]


def all_maps(model, trials, n_repetitions, seed=0):
    grads = compute_amplitude_gradients(model, trials, verbose=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        maps = {
            "gradient (filter)": band_average(grads.data.mean(axis=1), grads.coords["freq"],
                                              MU)[..., 0],
            "Haufe": mu_values(compute_haufe_patterns(grads, trials)),
            "Haufe, scale='haufe'": mu_values(compute_haufe_patterns(grads, trials,
                                                                     scale="haufe")),
            "Haufe, bands=": mu_values(compute_haufe_patterns(grads, trials, bands=BANDS)),
        }
    for w in caught[:1]:
        print("warning:", str(w.message)[:240], "...")
    maps["output covariance"] = mu_values(
        compute_output_covariance_patterns(model, trials, verbose=False))
    perturbation = compute_amplitude_perturbation_correlations(
        model, trials, n_repetitions=n_repetitions, seed=seed, verbose=False)
    print(f"perturbation: {perturbation.params['n_samples']} perturbed trials, predicted class "
          f"changed on {perturbation.params['prediction_change_rate']:.1%}")
    maps["amplitude perturbation"] = mu_values(perturbation)
    return maps


def contralateral_table(maps, trials):
    ch = list(trials.info.ch_names)
    c3, c4 = ch.index("C3"), ch.index("C4")
    left = trials.class_names.index("left_hand")
    right = trials.class_names.index("right_hand")
    print(f"{'map':24s} {'left: C3':>10s} {'C4':>10s} {'right: C3':>10s} {'C4':>10s}  sign ok")
    for name, mu in maps.items():
        top = np.abs(mu).max()
        ok = mu[left, c4] < 0 and mu[right, c3] < 0
        print(f"{name:24s} {mu[left, c3] / top:+10.2f} {mu[left, c4] / top:+10.2f} "
              f"{mu[right, c3] / top:+10.2f} {mu[right, c4] / top:+10.2f}  {ok}")


# %%
# The simulator and the shipped model
# -----------------------------------
# The first 144 test trials of the simulated BCI IV 2a session (half, to keep this fast),
# 22 channels x 563 frequencies: the plain Haufe pattern has 12,386 features for 144
# trials (the warning says so), but the simulated mu effect is strong. Two perturbation
# repetitions keep this fast (Schirrmeister et al. used 400; the correlations' noise falls
# as ``1 / sqrt(trials x repetitions)``).
model = load_pretrained(verbose=False)[0]
test = simulate_bcic_iv_2a(**DEFAULT_RECIPE["data"], verbose=False).trials.select("1test")
test = test.select(idx=np.arange(144))
sim_maps = all_maps(model, test, n_repetitions=2)
contralateral_table(sim_maps, test)


def plot_grid(maps, trials, classes, title):
    fig, axes = plt.subplots(len(maps), len(classes), figsize=(1.6 * len(classes) + 1.8,
                                                                1.45 * len(maps)),
                             layout="constrained", squeeze=False)
    for row, (name, mu) in enumerate(maps.items()):
        picks = [trials.class_names.index(c) for c in classes]
        lim = np.abs(mu[picks]).max()
        for col, k in enumerate(picks):
            mne.viz.plot_topomap(mu[k], trials.info, axes=axes[row, col], cmap="RdBu_r",
                                 vlim=(-lim, lim), contours=0, sensors=True, show=False)
            if row == 0:
                axes[row, col].set_title(classes[col], fontsize=9)
        axes[row, 0].text(-0.15, 0.5, name, rotation=90, ha="center", va="center",
                          fontsize=8, transform=axes[row, 0].transAxes)
    fig.suptitle(title, fontsize=10)
    return fig


fig = plot_grid(sim_maps, test, ["left_hand", "right_hand", "feet"],
                "Simulator, mu band (8-13 Hz)")

# %%
# On the simulator every map has the contralateral signature. ``scale="haufe"`` rescales the
# classes by the inverse covariance of their scores, so that one colour scale fits all of
# them; with four centred classes it also separates the classes' correlated scores, which
# is why the ipsilateral side can grow.
#
# A real recording with few trials
# --------------------------------
# EEGMMIDB subject 1, imagined left vs right fist (runs 4, 8 and 12; 45 trials), three
# channels C3, Cz and C4, preprocessed as in the BCI IV 2a tutorial. That is 3 x 369 =
# 1,107 features for 45 trials. A small ShallowFBCSPNet is trained on 30 trials; its
# held-out accuracy on the other 15 is printed with the chance level (a map of a model that
# is not above chance explains noise). The maps use all 45 trials.
try:
    HERE = Path(__file__).resolve().parent
except NameError:  # run interactively
    HERE = Path.cwd()
candidates = [os.environ.get("MNE_DATA"), HERE.parents[1] / "shared" / "data" / "mne_data"]
runs = [4, 8, 12]
folder = Path("MNE-eegbci-data/files/eegmmidb/1.0.0/S001")
data_dir = next((Path(c) for c in candidates if c and all(
    (Path(c) / folder / f"S001R{r:02d}.edf").is_file() for r in runs)), None)
if data_dir is None:
    print("EEGMMIDB subject 1 (runs 4, 8, 12) is not on disk: set MNE_DATA to an MNE data "
          "folder that holds MNE-eegbci-data/files/eegmmidb/1.0.0/S001, e.g. "
          "../shared/data/mne_data. Skipping the real-data part.")

# %%
if data_dir is not None:
    import torch

    files = mne.datasets.eegbci.load_data(1, runs, path=str(data_dir), update_path=False,
                                          verbose=False)  # on disk: nothing is downloaded
    raw = mne.concatenate_raws([mne.io.read_raw_edf(f, preload=True, verbose=False)
                                for f in files])
    mne.datasets.eegbci.standardize(raw)
    raw.set_montage("standard_1005", on_missing="ignore")
    raw.annotations.rename({"T1": "left_hand", "T2": "right_hand"})
    raw.pick(["C3", "Cz", "C4"])
    epochs = epochs_from_raw(raw, event_id=["left_hand", "right_hand"],
                             preset="bcic_iv_2a_tutorial", verbose=False)
    trials = as_trials(epochs)
    X, y = trials.X, trials.y
    torch.manual_seed(0)
    real_model = build_model("ShallowFBCSPNet", n_chans=3, n_outputs=2, n_times=X.shape[-1],
                             final_conv_length="auto", **shallow_time_kwargs(trials.sfreq))
    real_model, _ = fit_classifier(real_model, X[:30], y[:30], n_epochs=30, batch_size=16,
                                   seed=0, verbose=False)
    gate = evaluate_classifier(real_model, X[30:], y[30:])
    print(f"held-out accuracy {gate['accuracy']:.2f} on {gate['n']} trials (chance "
          f"{gate['chance']:.2f}, p = {gate['p_value']:.2f})")
    real_maps = all_maps(real_model, trials, n_repetitions=50)
    # the data's own class contrast: mean mu amplitude of the class minus that of the other
    spectra = band_average(np.abs(np.fft.rfft(X, axis=-1)),
                           np.fft.rfftfreq(X.shape[-1], 1 / trials.sfreq), MU)[..., 0]
    contrast = np.stack([spectra[y == k].mean(0) - spectra[y != k].mean(0) for k in (0, 1)])
    contralateral_table({"data: class contrast": contrast, **real_maps}, trials)

# %%
# Read the held-out accuracy first: 15 trials cannot show much, and a model that is not
# above chance explains noise, whatever its maps look like. Then the table row by row. The
# data are contralateral (left-hand trials have less mu at C4, right-hand trials less at
# C3). A filter (gradient, perturbation) need not be: a model may read one hemisphere and
# decide the other class by its absence. The Haufe pattern is a covariance estimated from
# 45 trials for 1,107 features, and its sign at C4 changes with the training seed.
# Band-limited features shrink the covariance to 3 x 2 entries, but the pattern then
# describes a linear score made of the mu and beta amplitudes only, which need not follow
# the model's output (with five training seeds on all 45 trials, the band-limited pattern
# had the wrong sign at C4 in all five, the plain one in one, the output covariance in
# none). The output covariance uses the outputs themselves; on trials the model has fitted
# it approaches the labels' contrast, so for a real analysis compute it on held-out trials,
# with many more of them than here.
if data_dir is not None:
    fig, ax = plt.subplots(figsize=(6.5, 3.2), layout="constrained")
    rows = {"data: class contrast": contrast, **real_maps}
    names = list(rows)
    ch = list(trials.info.ch_names)
    left = trials.class_names.index("left_hand")
    for chan, shift in [("C3", -0.2), ("C4", 0.2)]:
        vals = [rows[n][left, ch.index(chan)] / np.abs(rows[n]).max() for n in names]
        ax.barh(np.arange(len(names)) + shift, vals, height=0.4, label=chan)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(np.arange(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("left-hand map in mu, / max |map|")
    ax.legend(fontsize=8)
    ax.set_title("EEGMMIDB S001, 3 channels, 45 trials", fontsize=10)
