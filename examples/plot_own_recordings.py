"""
.. _ex-own-recordings:

=============================================================
Your own recording: from a Raw with annotations to an audit
=============================================================

This is the route for data that no loader knows: an MNE ``Raw`` with one annotation per
trial, here subject 1 of the EEG Motor Movement/Imagery Database (imagined left vs right
fist, runs 4, 8 and 12: 64 channels at 160 Hz, 45 trials), read from ``../shared`` (or
``$MNE_DATA``) as any EDF file would be.

1. cut the recording into :class:`mne.Epochs` and preprocess it as braindecode's tutorial
   does (:func:`neuroxai.data.epochs_from_raw` with a preset);
2. train a decoder with stratified cross-validation and ask the **model gate** first: is the
   held-out accuracy above chance (binomial test)? A model at chance explains nothing;
3. explain the fold model on trials it did not see, and read the maps through MNE;
4. or do all of it in one call: :func:`neuroxai.report.run_audit` with ``trials=``.

Nothing here assumes 250 Hz or a window starting at the cue: the rate, the times (with the
real ``tmin``), the channel types and the class names are read from the Epochs.
"""
# sphinx_gallery_thumbnail_number = 1

import os
import tempfile
from pathlib import Path

import mne

from neuroxai.attribution import attribute, compute_amplitude_gradients
from neuroxai.data import epochs_from_raw
from neuroxai.models import cross_validate

# %%
# Read the recording
# ------------------
# Any reader of MNE works (``mne.io.read_raw_edf``, ``read_raw_brainvision``, ...). The
# annotations ``T1``/``T2`` mark imagined left/right fist; renaming them names the classes.
try:
    HERE = Path(__file__).resolve().parent
except NameError:  # run interactively
    HERE = Path.cwd()
roots = [os.environ.get("MNE_DATA"), HERE.parents[1] / "shared" / "data" / "mne_data"]
raw = None
for root in filter(None, roots):
    folder = Path(root) / "MNE-eegbci-data" / "files" / "eegmmidb" / "1.0.0" / "S001"
    if all((folder / f"S001R{r:02d}.edf").is_file() for r in (4, 8, 12)):
        from mne.datasets import eegbci

        files = eegbci.load_data(1, [4, 8, 12], path=root, update_path=False, verbose=False)
        raw = mne.concatenate_raws([mne.io.read_raw_edf(f, preload=True, verbose=False)
                                    for f in files])
        eegbci.standardize(raw)  # 10-20 channel names
        builtin = mne.channels.get_builtin_montages()
        raw.set_montage("colin27_1005" if "colin27_1005" in builtin else "standard_1005")
        raw.annotations.rename({"T1": "left_hand", "T2": "right_hand"})
        break
n_splits, n_epochs, audit_kw = 3, 15, dict(methods=["saliency", "deeplift"], n_trials=16)
# sphinx_gallery_start_ignore
if os.environ.get("NEUROXAI_EXAMPLES_QUICK"):  # the test suite: same code, smaller sizes
    n_splits, n_epochs, audit_kw = 2, 2, dict(methods=["saliency"], n_trials=8,
                                              n_sanity_trials=4)
# sphinx_gallery_end_ignore
if raw is None:
    print("EEGMMIDB subject 1 is not on disk (set MNE_DATA to an MNE data folder that holds "
          "MNE-eegbci-data/.../S001 runs 4, 8, 12); skipping this example.")
else:
    print(raw)

# %%
# Epochs, preprocessed as braindecode's tutorial
# -----------------------------------------------
# ``preset="bcic_iv_2a_tutorial"`` preprocesses the continuous recording first (EEG only,
# volts to microvolts, 4-38 Hz band-pass, exponential moving standardisation), then cuts
# windows from 0.5 s before each cue. In volts — MNE's unit — a network stays at chance:
# neuroxai warns when data look like volts.
if raw is not None:
    epochs = epochs_from_raw(raw, event_id=["left_hand", "right_hand"], tmin=-0.5, tmax=3.0,
                             preset="bcic_iv_2a_tutorial", verbose=False)
    print(epochs)

# %%
# The model gate: held-out accuracy against chance
# ------------------------------------------------
# :func:`~neuroxai.models.cross_validate` trains ShallowFBCSPNet (its kernels set in
# seconds, so 160 Hz data get the time scales of the 250 Hz original) on stratified folds
# and predicts every trial with the model that did not see it. With 45 trials of one
# subject this small network stays near chance — the p-value says so, and then the maps
# below explain noise: they show the API, not where the information lies.
if raw is not None:
    cv = cross_validate(epochs, n_splits=n_splits, n_epochs=n_epochs, seed=0, verbose=False)
    print(f"held-out accuracy {cv['accuracy']:.2f} (chance {cv['chance']:.2f}, "
          f"binomial p = {cv['p_value']:.3f}); above chance: {cv['above_chance']}")

# %%
# Explain the fold model on the trials it did not see
# ----------------------------------------------------
# Every function takes the Epochs (or a braindecode windows dataset, or Trials) directly;
# the result keeps the info, the times from ``tmin`` and the class names, and converts to
# MNE containers: here the mean amplitude gradient per class as a band topomap.
if raw is not None:
    model, held_out = cv["models"][0], cv["trials"].select(idx=cv["test_indices"][0])
    grads = compute_amplitude_gradients(model, held_out, verbose=False)
    fig = grads.mean("trial").plot_topomap(item="right_hand", show=False)
    deeplift = attribute(model, held_out, target="labels", method="deeplift", verbose=False)
    evoked = deeplift.abs().to_evoked(class_index=1)  # right hand, times from -0.5 s
    print(evoked)

# %%
# All of it in one call
# ---------------------
# ``run_audit(trials=epochs)`` does the above, then the randomisation checks, IGC and the
# encoder maps, and writes an HTML report (``report.html``, an :class:`mne.Report`) whose
# verdicts are gated on the held-out accuracy. From the shell it is
# ``neuroxai report --epochs my-epo.fif --out my_audit``. Light settings here (two
# methods, no IGC or encoder) and a temporary folder; any folder works.
if raw is not None:
    from neuroxai.report import run_audit

    out_dir = Path(tempfile.mkdtemp()) / "own_recording_audit"
    res = run_audit(trials=epochs, n_splits=n_splits, n_epochs=n_epochs, igc=False,
                    encoder=False, out_dir=out_dir, progress=False, verbose=False, **audit_kw)
    print(res.summary["model"])
    print(sorted(p.name for p in res.out_dir.iterdir()))
