"""A corpus of bad inputs, one row each: every public call stops with a named neuroxai error
whose message names the argument, before any heavy work, and the CLI answers a user error
with one line on stderr (exit 2 for usage, 1 for runtime) and never a traceback.

Each row of ``CASES`` is ``(id, call, error class, regex)``; ``call`` takes the namespace of
tiny fixtures ``F`` (built once, lazily). The regex must match the message and name the
argument (or, for data faults, the file or stage).
"""
import copy
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr
from functools import cached_property
from pathlib import Path

import mne
import numpy as np
import pytest
import torch

from neuroxai import (
    CheckpointError,
    DataNotAvailableError,
    InvalidInputError,
    LayerNotFoundError,
    ModelMismatchError,
    MontageError,
    NeuroXAIError,
    NonFiniteError,
    ShapeError,
    TargetError,
    UnknownNameError,
)
from neuroxai.attribution import (
    Attribution,
    attribute,
    compute_amplitude_gradients,
    compute_haufe_patterns,
    compute_igc,
    compute_jacobian_patterns,
    compute_jacobian_pinv_maps,
    compute_jacobians,
)
from neuroxai.cli import main
from neuroxai.data import as_trials, epochs_from_raw, load_moabb, simulate_bcic_iv_2a
from neuroxai.data._boundary import prepare_trials
from neuroxai.metrics import (
    attribution_auc,
    channel_relevance,
    compute_ground_truth_metrics,
    compute_method_agreement,
    compute_metrics,
    make_scalp_projector,
    rank_methods,
)
from neuroxai.models import (
    cross_validate,
    evaluate_classifier,
    fit_classifier,
    load_checkpoint,
    load_pretrained,
    predict,
)
from neuroxai.models.pretrained import shipped_checkpoint_dir
from neuroxai.report import run_audit
from neuroxai.sanity import (
    cascading_randomization,
    independent_randomization,
    label_randomization,
    randomize_model,
)
from neuroxai.viz import (
    plot_band_topomaps,
    plot_haufe_patterns,
    plot_igc_topomaps,
    plot_method_agreement,
    plot_metric_table,
    plot_sanity_checks,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
N_TRIALS = 4


class Fixtures:
    """Tiny objects shared by the cases, each built on first use."""

    def __init__(self, tmp):
        self.tmp = tmp
        torch.set_num_threads(1)

    @cached_property
    def ds(self):
        return simulate_bcic_iv_2a(n_trials=8, n_sessions=1, n_background=2, seed=0,
                                   verbose=False)

    @cached_property
    def trials(self):
        return self.ds.trials.select(idx=np.arange(N_TRIALS))

    @property
    def X(self):
        return self.trials.X.copy()

    @property
    def info(self):
        return self.trials.info

    @property
    def X_nan(self):
        X = self.X
        X[0, 3, 10] = np.nan
        return X

    @cached_property
    def model(self):
        return load_pretrained("shallow_simulated", verbose=False)[0].eval()

    @cached_property
    def nan_model(self):
        model = copy.deepcopy(self.model)
        with torch.no_grad():
            next(model.parameters()).view(-1)[0] = float("nan")
        return model

    @cached_property
    def amp(self):
        return compute_amplitude_gradients(self.model, self.trials, verbose=False)

    @property
    def amp_nan(self):
        data = np.array(self.amp.data, copy=True)
        data[0, 0, 0, 0] = np.nan
        return Attribution(data, self.amp.dims, self.amp.info, self.amp.method,
                           dict(self.amp.params), dict(self.amp.coords))

    @cached_property
    def patterns(self):
        return compute_haufe_patterns(self.amp, self.trials, verbose=False)

    @cached_property
    def saliency(self):
        return attribute(self.model, self.trials, method="saliency", verbose=False)

    @cached_property
    def raw(self):
        info = mne.create_info(["C3", "Cz", "C4"], 100.0, "eeg")
        data = np.random.default_rng(0).standard_normal((3, 1000)) * 1e-5
        raw = mne.io.RawArray(data, info, verbose=False)
        raw.set_annotations(mne.Annotations([1, 3, 5], [0, 0, 0], ["left", "right", "left"]))
        return raw

    def ckpt(self, name):
        """A fresh copy of the shipped checkpoint in ``tmp/name``."""
        dst = self.tmp / name
        shutil.copytree(shipped_checkpoint_dir("shallow_simulated"), dst)
        return dst

    def damaged(self, name, damage):
        path = self.ckpt(name)
        damage(path)
        return path

    def file_in_tmp(self, name="a_file"):
        path = self.tmp / name
        path.write_text("not a folder")
        return path


def _truncate(fname, keep=0.5):
    def damage(path):
        data = (path / fname).read_bytes()
        (path / fname).write_bytes(data[:int(len(data) * keep)])
    return damage


def _flip_bits(path):
    data = bytearray((path / "params.safetensors").read_bytes())
    for i in range(64):
        data[-8 * (i + 1)] ^= 0x01  # low bits of float32 weights: still finite values
    (path / "params.safetensors").write_bytes(bytes(data))


def _nan_weight(path):
    from safetensors.torch import load_file, save_file

    tensors = load_file(path / "params.safetensors")
    key = next(k for k, v in tensors.items() if v.dtype.is_floating_point)
    tensors[key].view(-1)[0] = float("nan")
    save_file(tensors, path / "params.safetensors")
    (path / "manifest.json").unlink()  # a NaN weight is rejected even with no checksum


def _fast(fn, limit=2.0):
    """``fn`` must raise within ``limit`` seconds (a check before any heavy work)."""
    def call(F):
        start = time.perf_counter()
        try:
            fn(F)
        finally:
            assert time.perf_counter() - start < limit, f"the check took > {limit} s"
    return call


def _sim(**kw):
    return lambda F: simulate_bcic_iv_2a(**{"n_trials": 8, "n_sessions": 1, **kw},
                                         verbose=False)


def _attr(**kw):
    def call(F):
        args = {"model": F.model, "inst": F.trials, "method": "saliency", **kw}
        return attribute(args.pop("model"), args.pop("inst"), verbose=False, **args)
    return call


def _cv(**kw):
    return _fast(lambda F: cross_validate(F.ds.trials, **{"n_splits": 2, **kw},
                                          verbose=False))


def _igc(**kw):
    return _fast(lambda F: compute_igc(F.model, F.ds.trials, verbose=False, **kw))


def _audit(tmp_name="audit", **kw):
    def call(F):
        return run_audit(**{"out_dir": F.tmp / tmp_name, "n_trials": 4, "n_sanity_trials": 2,
                            "igc": False, "encoder": False, "progress": False, **kw},
                         verbose=False)
    return _fast(call)


IIE, SE, NFE, UNE = InvalidInputError, ShapeError, NonFiniteError, UnknownNameError
MME, CE, TE, DNA = ModelMismatchError, CheckpointError, TargetError, DataNotAvailableError

DATA = [
    ("sim-n_background-neg", _sim(n_background=-3), IIE, r"n_background"),
    ("sim-n_background-float", _sim(n_background=2.5), IIE, r"n_background"),
    ("sim-sensor_noise-neg", _sim(sensor_noise=-0.5), IIE, r"sensor_noise"),
    ("sim-sensor_noise-nan", _sim(sensor_noise=float("nan")), IIE, r"sensor_noise"),
    ("sim-chan_threshold-2", _sim(chan_threshold=2.0), IIE, r"chan_threshold"),
    ("sim-chan_threshold-neg", _sim(chan_threshold=-0.1), IIE, r"chan_threshold"),
    ("sim-sfreq-0", _sim(sfreq=0), IIE, r"sfreq"),
    ("sim-sfreq-neg", _sim(sfreq=-250.0), IIE, r"sfreq"),
    ("sim-sfreq-str", _sim(sfreq="250"), IIE, r"sfreq"),
    ("sim-n_trials-0", _sim(n_trials=0), IIE, r"n_trials"),
    ("sim-n_trials-neg", _sim(n_trials=-4), IIE, r"n_trials"),
    ("sim-n_sessions-0", _sim(n_sessions=0), IIE, r"n_sessions"),
    ("sim-snr-neg", _sim(snr=-1.0), IIE, r"snr"),
    ("sim-seed-neg", _sim(seed=-1), IIE, r"seed"),
    ("sim-regime", _sim(regime="spectal"), UNE, r"regime"),
    ("sim-rhythm", _sim(rhythm="gamma-ish"), UNE, r"rhythm"),
    ("sim-classes-unknown", _sim(classes=["left_hand", "elbow"]), IIE, r"classes"),
    ("sim-classes-one", _sim(classes=["left_hand"]), IIE, r"classes"),
    ("sim-tmax-before-tmin", _sim(tmin=1.0, tmax=0.5), IIE, r"tmax"),
    ("sim-n_sources-0", _sim(n_sources=0), IIE, r"n_sources"),
    ("sim-ch_names-two", _sim(ch_names=["C3", "C4"]), IIE, r"ch_names"),
    ("sim-ch_names-unknown", _sim(ch_names=["C3", "Cz", "Xyz"]), MontageError, r"Xyz"),
    ("trials-2d", lambda F: as_trials(F.X[0], info=F.info), SE, r"shape"),
    ("trials-4d", lambda F: as_trials(F.X[None], info=F.info), SE, r"shape"),
    ("trials-nan", lambda F: as_trials(F.X_nan, info=F.info), NFE, r"NaN"),
    ("trials-inf", lambda F: as_trials(np.full((2, 22, 50), np.inf), info=F.info), NFE,
     r"NaN/Inf"),
    ("trials-str-dtype", lambda F: as_trials(np.full((2, 3, 4), "a")), IIE, r"numeric"),
    ("trials-labels-length", lambda F: as_trials(F.X, y=[0, 1], info=F.info), IIE, r"\by\b"),
    ("trials-info-channels", lambda F: as_trials(F.X[:, :5], info=F.info), SE,
     r"channels"),
    ("trials-info-type", lambda F: as_trials(F.X, info={"sfreq": 250}), IIE, r"info"),
    ("trials-path", lambda F: as_trials("trials-epo.fif"), IIE, r"inst is a file name"),
    ("trials-type", lambda F: as_trials({"X": 1}), IIE, r"Cannot read trials from dict"),
    ("trials-empty", lambda F: as_trials(np.zeros((0, 22, 100)), info=F.info), SE,
     r"X holds no data"),
    ("trials-no-samples", lambda F: as_trials(np.zeros((2, 22, 0)), info=F.info), SE,
     r"X holds no data"),
    ("trials-select-session", lambda F: F.trials.select([0, 1]), IIE, r"session.*idx="),
    ("trials-tmin-nan", lambda F: as_trials(F.X, info=F.info, tmin=float("nan")), IIE,
     r"tmin"),
    ("trials-picks-unknown", lambda F: as_trials(F.X, info=F.info, picks=["Q9"]), IIE,
     r"picks"),
    ("trials-y-with-trials", lambda F: as_trials(F.trials, y=[0, 1, 2, 3]), IIE, r"\by\b"),
    ("prepare-no-info-sfreq", lambda F: prepare_trials(F.X, need=("sfreq",), what="f"),
     IIE, r"info="),
    ("prepare-no-tmin", lambda F: prepare_trials(F.X, info=F.info, need=("times",),
                                                 what="f"), IIE, r"tmin="),
    ("prepare-no-labels", lambda F: prepare_trials(F.X, info=F.info, need=("labels",),
                                                   what="f"), IIE, r"y="),
    ("moabb-unknown-name", lambda F: load_moabb("BNCI2099_999", verbose=False), UNE,
     r"dataset"),
    ("moabb-unknown-subject", lambda F: load_moabb("BNCI2014_001", subjects=[99],
                                                   verbose=False), IIE, r"subject"),
    ("moabb-subject-0", lambda F: load_moabb("BNCI2014_001", subjects=[0], verbose=False),
     IIE, r"subject"),
    ("moabb-task", lambda F: load_moabb("BNCI2014_001", subjects=[1], task="nose",
                                        verbose=False), UNE, r"task"),
    ("moabb-preset", lambda F: load_moabb("BNCI2014_001", subjects=[1], preset="nope",
                                          verbose=False), UNE, r"preset"),
    ("moabb-not-cached", lambda F: load_moabb("BNCI2014_001", subjects=[1],
                                              data_dir=_empty_dir(F), verbose=False),
     DNA, r"BNCI2014_001|cache|download"),
    ("epochs-raw-type", lambda F: epochs_from_raw(F.X), IIE, r"raw"),
    ("epochs-event_id-unknown", lambda F: epochs_from_raw(F.raw, event_id={"nope": 1},
                                                          tmin=0.0, tmax=0.5), IIE,
     r"event_id|nope"),
    ("epochs-tmax-before-tmin", lambda F: epochs_from_raw(F.raw, tmin=0.5, tmax=0.0), IIE,
     r"tmax"),
    ("epochs-preset", lambda F: epochs_from_raw(F.raw, preset="nope"), UNE, r"preset"),
]

MODELS = [
    ("pretrained-missing-dir", lambda F: load_pretrained(F.tmp / "no_such_dir",
                                                         verbose=False), CE,
     r"no_such_dir"),
    ("pretrained-missing-dir-str", lambda F: load_pretrained(str(F.tmp / "nope") + "/",
                                                             verbose=False), CE, r"nope"),
    ("pretrained-typo-offline", _fast(lambda F: load_pretrained(
        "shallow_simulatd", cache_dir=F.tmp / "cache", verbose=False)), (UNE, DNA),
     r"shallow_simulatd"),
    ("pretrained-repo-offline", _fast(lambda F: load_pretrained(
        "someone/missing-repo", cache_dir=F.tmp / "cache", verbose=False)), DNA,
     r"missing-repo"),
    ("pretrained-name-int", lambda F: load_pretrained(3, verbose=False), IIE,
     r"name_or_repo"),
    ("ckpt-truncated-params", lambda F: load_pretrained(
        F.damaged("t1", _truncate("params.safetensors")), verbose=False), CE,
     r"params\.safetensors"),
    ("ckpt-empty-params", lambda F: load_pretrained(
        F.damaged("t2", _truncate("params.safetensors", 0)), verbose=False), CE,
     r"params\.safetensors"),
    ("ckpt-truncated-metadata", lambda F: load_pretrained(
        F.damaged("t3", _truncate("metadata.json")), verbose=False), CE, r"metadata\.json"),
    ("ckpt-truncated-history", lambda F: load_pretrained(
        F.damaged("t4", _truncate("history.json")), verbose=False), CE, r"history\.json"),
    ("ckpt-truncated-manifest", lambda F: load_pretrained(
        F.damaged("t5", _truncate("manifest.json")), verbose=False), CE, r"manifest\.json"),
    ("ckpt-bit-flip", lambda F: load_pretrained(F.damaged("t6", _flip_bits),
                                                verbose=False), CE, r"params\.safetensors"),
    ("ckpt-nan-weight", lambda F: load_pretrained(F.damaged("t7", _nan_weight),
                                                  verbose=False), CE,
     r"params\.safetensors.*NaN"),
    ("ckpt-no-params", lambda F: load_checkpoint(
        F.damaged("t8", lambda p: (p / "params.safetensors").unlink()), verbose=False), CE,
     r"params\.safetensors"),
    ("ckpt-file-not-dir", lambda F: load_checkpoint(F.file_in_tmp("ck_file"),
                                                    verbose=False), CE, r"ck_file"),
    ("fit-n_epochs-0", lambda F: fit_classifier(F.model, F.trials, n_epochs=0,
                                                verbose=False), IIE, r"n_epochs"),
    ("fit-lr-neg", lambda F: fit_classifier(F.model, F.trials, lr=-1e-3, verbose=False), IIE,
     r"\blr\b"),
    ("fit-lr-nan", lambda F: fit_classifier(F.model, F.trials, lr=float("nan"),
                                            verbose=False), IIE, r"\blr\b"),
    ("fit-batch_size-0", lambda F: fit_classifier(F.model, F.trials, batch_size=0,
                                                  verbose=False), IIE, r"batch_size"),
    ("fit-weight_decay-neg", lambda F: fit_classifier(F.model, F.trials, weight_decay=-1.0,
                                                      verbose=False), IIE, r"weight_decay"),
    ("fit-seed-neg", lambda F: fit_classifier(F.model, F.trials, seed=-1, verbose=False),
     IIE, r"seed"),
    ("fit-no-labels", lambda F: fit_classifier(F.model, F.X, info=F.info, verbose=False),
     IIE, r"y="),
    ("fit-channels", lambda F: fit_classifier(F.model, F.X[:, :5], y=F.trials.y,
                                              verbose=False), MME, r"channels"),
    ("fit-target-acc", lambda F: fit_classifier(F.model, F.trials, target_train_accuracy=1.5,
                                                verbose=False), IIE,
     r"target_train_accuracy"),
    ("fit-nan-data", lambda F: fit_classifier(F.model, F.X_nan, y=F.trials.y, info=F.info,
                                              verbose=False), NFE, r"NaN"),
    ("cv-n_splits-1", _cv(n_splits=1), IIE, r"n_splits"),
    ("cv-n_splits-too-many", _cv(n_splits=50), IIE, r"n_splits"),
    ("cv-model-unknown", _cv(model="NoSuchNet"), UNE, r"model"),
    ("cv-alpha", _cv(alpha=1.5), IIE, r"alpha"),
    ("cv-n_epochs-neg", _cv(n_epochs=-3), IIE, r"n_epochs"),
    ("cv-lr-0", _cv(lr=0.0), IIE, r"\blr\b"),
    ("cv-batch_size-0", _cv(batch_size=0), IIE, r"batch_size"),
    ("cv-seed-neg", _cv(seed=-1), IIE, r"seed"),
    ("predict-channels", lambda F: predict(F.model, F.X[:, :5]), MME, r"channels"),
    ("predict-batch_size-0", lambda F: predict(F.model, F.trials, batch_size=0), IIE,
     r"batch_size"),
    ("predict-nan", lambda F: predict(F.model, F.X_nan), NFE, r"NaN"),
    ("predict-nan-model", lambda F: predict(F.nan_model, F.trials), NFE, r"NaN"),
    ("predict-not-a-model", lambda F: predict("model", F.trials), IIE, r"model"),
    ("evaluate-no-labels", lambda F: evaluate_classifier(F.model, F.X, info=F.info), IIE,
     r"y="),
    ("evaluate-alpha", lambda F: evaluate_classifier(F.model, F.trials, alpha=0), IIE,
     r"alpha"),
]

ATTRIBUTION = [
    ("attr-method-unknown", _attr(method="deeplyft"), UNE, r"method"),
    ("attr-target-too-big", _attr(target=7), TE, r"target"),
    ("attr-target-neg", _attr(target=-1), TE, r"target"),
    ("attr-target-name", _attr(target="elbow"), IIE, r"target|elbow"),
    ("attr-target-length", _attr(target=[0, 1]), IIE, r"target"),
    ("attr-channels", lambda F: attribute(F.model, F.X[:, :5], method="saliency",
                                          verbose=False), MME, r"channels"),
    ("attr-nan-input", lambda F: attribute(F.model, F.X_nan, info=F.info, method="saliency",
                                           verbose=False), NFE, r"NaN"),
    ("attr-nan-weight", lambda F: attribute(F.nan_model, F.trials, method="saliency",
                                            verbose=False), NFE, r"NaN"),
    ("attr-batch_size-0", _attr(batch_size=0), IIE, r"batch_size"),
    ("attr-batch_size-neg", _attr(batch_size=-1), IIE, r"batch_size"),
    ("attr-ig-n_steps-0", _attr(method="integrated_gradients", n_steps=0), IIE, r"n_steps"),
    ("attr-unknown-param", _attr(n_stepz=4), IIE, r"n_stepz"),
    ("attr-occlusion-window-long", _attr(method="occlusion", window=10.0), IIE, r"window"),
    ("attr-occlusion-window-neg", _attr(method="occlusion", window=-0.5), IIE, r"window"),
    ("attr-occlusion-window-0", _attr(method="occlusion", window=0.0), IIE, r"window"),
    ("attr-occlusion-stride-neg", _attr(method="occlusion", stride=-0.1), IIE, r"stride"),
    ("attr-occlusion-bare-array", lambda F: attribute(F.model, F.X, method="occlusion",
                                                      verbose=False), IIE, r"info="),
    ("attr-smoothgrad-nt_samples-0", _attr(method="smoothgrad", nt_samples=0), IIE,
     r"nt_samples"),
    ("attr-gradcam-layer", _attr(method="gradcam", layer="no_such_layer"), LayerNotFoundError,
     r"layer|no_such_layer"),
    ("attr-not-a-model", lambda F: attribute(np.eye(3), F.trials, method="saliency"), IIE,
     r"model"),
    ("amp-channels", lambda F: compute_amplitude_gradients(F.model, F.X[:, :5], verbose=False),
     (MME, IIE), r"channels|info="),
    ("amp-channels-info", lambda F: compute_amplitude_gradients(
        F.model, F.X[:, :5], info=mne.pick_info(F.info, range(5)), verbose=False), MME,
     r"channels"),
    ("amp-nan", lambda F: compute_amplitude_gradients(F.model, F.X_nan, info=F.info,
                                                      verbose=False), NFE, r"NaN"),
    ("amp-nan-weight", lambda F: compute_amplitude_gradients(F.nan_model, F.trials,
                                                             verbose=False), NFE, r"NaN"),
    ("amp-batch_size-0", lambda F: compute_amplitude_gradients(F.model, F.trials,
                                                               batch_size=0, verbose=False),
     IIE, r"batch_size"),
    ("igc-channels", lambda F: compute_igc(F.model, F.X[:, :5], F.trials.y, tmin=-0.5,
                                           info=mne.pick_info(F.info, range(5)),
                                           verbose=False), MME, r"channels"),
    ("igc-no-tmin", lambda F: compute_igc(F.model, F.X, F.trials.y, info=F.info,
                                          verbose=False), IIE, r"tmin="),
    ("igc-nan", lambda F: compute_igc(F.model, F.X_nan, F.trials.y, info=F.info, tmin=-0.5,
                                      verbose=False), NFE, r"NaN"),
    ("igc-n_steps-0", _igc(n_steps=0), IIE, r"n_steps"),
    ("igc-n_baselines-0", _igc(n_baselines=0), IIE, r"n_baselines"),
    ("igc-domain", _igc(domain="space"), UNE, r"domain"),
    ("igc-baselines", _igc(baselines="ones"), (IIE, UNE), r"baselines"),
    ("igc-batch_size-0", _igc(batch_size=0), IIE, r"batch_size"),
    ("igc-classes-out-of-range", _igc(classes=[9]), (TE, IIE), r"classes"),
    ("igc-method", _igc(method="deeplyft"), UNE, r"quadrature"),  # its deprecated alias
    ("igc-nan-weight", lambda F: compute_igc(F.nan_model, F.ds.trials, verbose=False), NFE,
     r"NaN"),
    ("igc-no-labels", lambda F: compute_igc(F.model, F.X, info=F.info, tmin=-0.5,
                                            verbose=False), IIE, r"y="),
    ("igc-quadrature", _igc(quadrature="simpson"), UNE, r"quadrature"),
    ("igc-seed-neg", _igc(seed=-1), IIE, r"seed"),
    ("haufe-channels", lambda F: compute_haufe_patterns(
        F.amp, F.X[:, :5], info=mne.pick_info(F.info, range(5)), verbose=False), SE,
     r"channels"),
    ("haufe-trials", lambda F: compute_haufe_patterns(F.amp, F.X[:2], info=F.info,
                                                      verbose=False), SE, r"trials"),
    ("haufe-nan-grads", lambda F: compute_haufe_patterns(F.amp_nan, F.trials, verbose=False),
     NFE, r"gradients|amp_grads"),
    ("haufe-bands-bad", lambda F: compute_haufe_patterns(F.amp, F.trials, bands={"mu": (12, 8)},
                                                         verbose=False), IIE, r"band|mu"),
    ("haufe-bands-above-nyquist", lambda F: compute_haufe_patterns(
        F.amp, F.trials, bands={"x": (200, 300)}, verbose=False), IIE, r"band|x|Nyquist"),
    ("haufe-bands-type", lambda F: compute_haufe_patterns(F.amp, F.trials, bands=[8, 12],
                                                          verbose=False), IIE, r"bands"),
    ("haufe-not-attr", lambda F: compute_haufe_patterns(np.zeros((2, 2)), F.trials,
                                                        verbose=False), IIE, r"amp_grads"),
    ("jac-channels", lambda F: compute_jacobians(F.model, F.X[:, :5], verbose=False), MME,
     r"channels"),
    ("jac-nan", lambda F: compute_jacobians(F.model, F.X_nan, verbose=False), NFE, r"NaN"),
    ("jac-batch_size-0", lambda F: compute_jacobians(F.model, F.trials, batch_size=0,
                                                     verbose=False), IIE, r"batch_size"),
    ("jac-pinv-aggregate", lambda F: compute_jacobian_pinv_maps(
        F.model, F.trials, aggregate="median-ish", verbose=False), UNE, r"aggregate"),
    ("jac-pinv-transform", lambda F: compute_jacobian_pinv_maps(
        F.model, F.trials, transform="sqrt", verbose=False), UNE, r"transform"),
    ("jac-patterns-transform", lambda F: compute_jacobian_patterns(
        F.saliency, F.trials, transform="sqrt", verbose=False), UNE, r"transform"),
    ("jac-patterns-not-attr", lambda F: compute_jacobian_patterns(np.zeros(3), F.trials,
                                                                  verbose=False), IIE,
     r"(?i)attribution"),
]


def _sanity(fn=cascading_randomization, **kw):
    def call(F):
        args = {"model": F.model, "inst": F.trials, **kw}
        return fn(args.pop("model"), args.pop("inst"), verbose=False, **args)
    return _fast(call)


SANITY = [
    ("sanity-method", _sanity(method="deeplyft"), UNE, r"method"),
    ("sanity-layers", _sanity(layers=["no_such_layer"]), LayerNotFoundError,
     r"no_such_layer"),
    ("sanity-seed-neg", _sanity(seed=-1), IIE, r"seed"),
    ("sanity-norm_std-neg", _sanity(norm_std=-1.0), IIE, r"norm_std"),
    ("sanity-threshold", _sanity(threshold=2.0), IIE, r"threshold"),
    ("sanity-n_bootstrap-0", _sanity(n_bootstrap=0), IIE, r"n_bootstrap"),
    ("sanity-confidence", _sanity(confidence_level=1.5), IIE, r"confidence_level"),
    ("sanity-one-trial", lambda F: cascading_randomization(F.model, F.trials.select(idx=[0]),
                                                           verbose=False), IIE,
     r"trial"),
    ("sanity-batch_size-0", _sanity(batch_size=0), IIE, r"batch_size"),
    ("sanity-channels", lambda F: cascading_randomization(F.model, F.X[:, :5],
                                                          verbose=False), MME, r"channels"),
    ("sanity-nan", lambda F: cascading_randomization(F.model, F.X_nan, verbose=False), NFE,
     r"NaN"),
    ("sanity-metric", _sanity(metric="cosine-ish"), UNE, r"metric"),
    ("sanity-model_accuracy", _sanity(model_accuracy=1.5), IIE, r"model_accuracy"),
    ("sanity-independent-rule", _sanity(independent_randomization, rule="most"), UNE,
     r"rule"),
    ("sanity-label-target", _sanity(label_randomization, target=9), TE, r"target"),
    ("sanity-reference-shape", _sanity(reference=np.ones((2, 2))), (SE, IIE), r"reference"),
    ("sanity-nan-weight", lambda F: cascading_randomization(F.nan_model, F.trials,
                                                            verbose=False), NFE, r"NaN"),
    ("randomize-layers", lambda F: randomize_model(F.model, ["no_such_layer"]),
     LayerNotFoundError, r"no_such_layer"),
    ("randomize-seed", lambda F: randomize_model(F.model, seed=-1), IIE, r"seed"),
]

METRICS = [
    ("metrics-shape", lambda F: compute_metrics(np.ones((2, 22)), np.ones((3, 22))), SE,
     r"shape"),
    ("metrics-nan", lambda F: compute_metrics(np.full((2, 22), np.nan), np.ones((2, 22))),
     NFE, r"NaN|maps_a"),
    ("metrics-name", lambda F: compute_metrics(np.ones((2, 22)), np.ones((2, 22)),
                                               metrics=["pearsn"]), UNE, r"metric"),
    ("metrics-mode", lambda F: compute_metrics(np.ones((2, 22)), np.ones((2, 22)),
                                               mode="pixels"), UNE, r"mode"),
    ("metrics-topomap-no-info", lambda F: compute_metrics(np.ones((2, 22)), np.ones((2, 22)),
                                                          mode="topomap"), IIE, r"info"),
    ("gt-shape", lambda F: compute_ground_truth_metrics(np.ones((2, 5)), np.ones((2, 6)) > 0),
     SE, r"shape|masks"),
    ("gt-nan", lambda F: compute_ground_truth_metrics(np.full((2, 22), np.nan),
                                                      np.ones((2, 22), bool)), NFE,
     r"NaN|attributions"),
    ("gt-metric-name", lambda F: compute_ground_truth_metrics(
        np.ones((2, 22)), np.ones((2, 22), bool), metrics=["nope"]), UNE, r"metric"),
    ("auc-shape", lambda F: attribution_auc(np.ones((3, 4)), np.ones((3, 5), bool)), SE,
     r"shape"),
    ("auc-empty-truth", lambda F: attribution_auc(np.ones((3, 4)), np.zeros((3, 4), bool)),
     IIE, r"ground_truth"),
    ("auc-nan", lambda F: attribution_auc(np.full((3, 4), np.nan), np.eye(3, 4, dtype=bool)),
     NFE, r"NaN|attribution"),
    ("auc-transform", lambda F: attribution_auc(np.ones((3, 4)), np.eye(3, 4, dtype=bool),
                                                transform="sqrt"), UNE, r"transform"),
    ("agreement-shapes", lambda F: compute_method_agreement(
        {"a": F.saliency, "b": np.ones((2, 3))}), (SE, IIE), r"shape|\bb\b"),
    ("agreement-type", lambda F: compute_method_agreement([F.saliency, F.saliency]), IIE,
     r"attributions"),
    ("agreement-kind", lambda F: compute_method_agreement(
        {"a": F.saliency, "b": F.saliency}, agreement="vibes"), UNE, r"agreement"),
    ("relevance-nan", lambda F: channel_relevance(np.full((2, 3, 4), np.nan)), NFE,
     r"NaN|attribution"),
    ("rank-empty", lambda F: rank_methods({}), IIE, r"scores"),
    ("projector-no-montage", lambda F: make_scalp_projector(
        mne.create_info(["A", "B", "C"], 100.0, "eeg")), MontageError,
     r"montage|position"),
    ("projector-res-0", lambda F: make_scalp_projector(F.info, res=0), IIE, r"res"),
]

VIZ = [
    ("viz-topomaps-shape", lambda F: plot_band_topomaps(np.ones(5), F.info, show=False), SE,
     r"values|shape"),
    ("viz-topomaps-no-info", lambda F: plot_band_topomaps(np.ones((2, 22, 10)), show=False),
     IIE, r"info"),
    ("viz-topomaps-channels", lambda F: plot_band_topomaps(np.ones((2, 5, 10)), F.info,
                                                           freqs=np.arange(10), show=False),
     SE, r"channels"),
    ("viz-topomaps-nan", lambda F: plot_band_topomaps(np.full((2, 22, 10), np.nan), F.info,
                                                      freqs=np.arange(10), bands={"a": (1, 5)},
                                                      show=False), NFE,
     r"NaN.*values|values.*NaN"),
    ("viz-haufe-not-attr", lambda F: plot_haufe_patterns(np.ones(3), show=False), (IIE, SE),
     r"patterns|shape"),
    ("viz-haufe-bands", lambda F: plot_haufe_patterns(F.patterns, bands={"mu": (12, 8)},
                                                      show=False), IIE, r"bands\['mu'\]"),
    ("viz-haufe-grads", lambda F: plot_haufe_patterns(F.amp, show=False), SE,
     r"Haufe patterns"),
    ("viz-igc-not-attr", lambda F: plot_igc_topomaps(np.ones(3), show=False), (IIE, SE),
     r"igc_attr|shape"),
    ("viz-sanity-type", lambda F: plot_sanity_checks([1, 2], show=False), IIE, r"results"),
    ("viz-metric-table-empty", lambda F: plot_metric_table({}, show=False), IIE, r"scores"),
    ("viz-agreement-type", lambda F: plot_method_agreement([1, 2], show=False), IIE,
     r"attributions"),
]

REPORT = [
    ("audit-n_trials-0", _audit(n_trials=0), IIE, r"n_trials"),
    ("audit-n_trials-neg", _audit(n_trials=-3), IIE, r"n_trials"),
    ("audit-n_sanity-0", _audit(n_sanity_trials=0), IIE, r"n_sanity_trials"),
    ("audit-n_splits-1", _audit(n_splits=1), IIE, r"n_splits"),
    ("audit-n_epochs-0", _audit(n_epochs=0), IIE, r"n_epochs"),
    ("audit-seed-neg", _audit(seed=-1), IIE, r"seed"),
    ("audit-methods-unknown", _audit(methods=["saliency", "deeplyft"]), UNE, r"method"),
    ("audit-methods-empty", _audit(methods=[]), IIE, r"methods"),
    ("audit-dataset-unknown", _audit(dataset="NoSuchDataset"), UNE, r"dataset"),
    ("audit-out-is-file", lambda F: run_audit(out_dir=F.file_in_tmp("out_file"), n_trials=4,
                                              verbose=False), IIE, r"out_dir"),
    ("audit-out-read-only", lambda F: run_audit(out_dir="/sys/neuroxai_report", n_trials=4,
                                                verbose=False), IIE, r"out_dir"),
    ("audit-out-foreign", lambda F: run_audit(out_dir=_foreign(F), n_trials=4,
                                              verbose=False), IIE, r"out_dir|holds"),
    ("audit-checkpoint-missing", _audit(checkpoint=Path("/nonexistent/ck")), CE,
     r"nonexistent"),
    ("audit-model-with-simulated", lambda F: run_audit(model=F.model, n_trials=4,
                                                       out_dir=F.tmp / "x", verbose=False),
     IIE, r"model="),
]


def _empty_dir(F):
    path = F.tmp / "empty"
    path.mkdir(exist_ok=True)
    return path


def _foreign(F):
    path = F.tmp / "foreign"
    path.mkdir(exist_ok=True)
    (path / "thesis.tex").write_text("precious")
    return path


CASES = ([("data",) + c for c in DATA] + [("models",) + c for c in MODELS]
         + [("attribution",) + c for c in ATTRIBUTION] + [("sanity",) + c for c in SANITY]
         + [("metrics",) + c for c in METRICS] + [("viz",) + c for c in VIZ]
         + [("report",) + c for c in REPORT])


@pytest.fixture(scope="module")
def F(tmp_path_factory):
    return Fixtures(tmp_path_factory.mktemp("bad_inputs"))


@pytest.mark.parametrize("stage, call, error, pattern", [c[:1] + c[2:] for c in CASES],
                         ids=[c[1] for c in CASES])
def test_bad_input_raises_named_error(F, stage, call, error, pattern):
    import matplotlib.pyplot as plt

    with pytest.raises(NeuroXAIError) as info:
        call(F)
    plt.close("all")
    assert isinstance(info.value, error), f"{type(info.value).__name__}: {info.value}"
    assert re_search(pattern, str(info.value)), str(info.value)


def re_search(pattern, text):
    return re.search(pattern, text) is not None


def test_all_empty_ground_truth_masks_warn_instead_of_a_silent_nan_table():
    with pytest.warns(UserWarning, match=r"masks: every sample's mask is empty or full"):
        scores = compute_ground_truth_metrics(np.ones((2, 22)), np.zeros((2, 22), bool),
                                              verbose=False)
    assert scores.isna().all().all()
    # one empty mask among good ones: NaN for that sample only, as documented, no warning
    masks = np.eye(2, 22, dtype=bool)
    masks[1] = False
    scores = compute_ground_truth_metrics(np.arange(44.0).reshape(2, 22), masks, verbose=False)
    assert scores.iloc[1].isna().all() and scores.iloc[0].notna().all()


# -- the CLI: one line on stderr, exit 2 (usage) or 1 (runtime), never a traceback ----------

def _cli_cases():
    ro = "/sys/neuroxai_report"
    return [
        ("report-n-trials-0", ["report", "--n-trials", "0"], 2, r"--n-trials"),
        ("report-n-trials-neg", ["report", "--n-trials", "-3"], 2, r"--n-trials"),
        ("report-n-trials-text", ["report", "--n-trials", "many"], 2, r"--n-trials"),
        ("report-sanity-trials-0", ["report", "--sanity-trials", "0"], 2, r"--sanity-trials"),
        ("report-n-splits-1", ["report", "--n-splits", "1"], 2, r"--n-splits"),
        ("report-seed-neg", ["report", "--seed", "-1"], 2, r"--seed"),
        ("top-seed-neg", ["--seed", "-1"], 2, r"--seed"),
        ("top-n-trials-0", ["--n-trials", "0"], 2, r"--n-trials"),
        ("report-out-file", ["report", "--out", "{file}"], 2, r"out_dir|a_cli_file"),
        ("top-out-file", ["--out", "{file}"], 2, r"out_dir|a_cli_file"),
        ("report-out-read-only", ["report", "--out", ro], 2, r"out_dir|not writable"),
        ("report-checkpoint-missing-dir", ["report", "--checkpoint", "{tmp}/no_ck/"], 1,
         r"no_ck"),
        ("report-checkpoint-truncated", ["report", "--checkpoint", "{truncated}"], 1,
         r"params\.safetensors"),
        ("report-checkpoint-typo", ["report", "--checkpoint", "shallow_simulatd"], None,
         r"shallow_simulatd"),
        ("report-methods-unknown", ["report", "--methods", "deeplyft"], 2, r"deeplyft"),
        ("report-dataset-unknown", ["report", "--dataset", "NoSuchDataset"], 2,
         r"NoSuchDataset"),
        ("report-epochs-missing", ["report", "--epochs", "{tmp}/none-epo.fif"], 2,
         r"--epochs"),
        ("report-epochs-not-fif", ["report", "--epochs", "{file}"], 2, r"--epochs"),
        ("unknown-option", ["report", "--n-trails", "4"], 2, r"--n-trails"),
        ("unknown-command", ["reprot"], 2, r"reprot"),
        ("top-option-for-datasets", ["--seed", "3", "datasets"], 2, r"--seed"),
        ("top-option-for-train", ["--n-trials", "3", "train-default"], 2, r"--n-trials"),
        ("group-n-jobs-0", ["group", "--n-jobs", "0"], 2, r"--n-jobs"),
        ("group-subjects-0", ["group", "--subjects", "0"], 2, r"--subjects"),
        ("train-regime", ["train-default", "--regime", "nope"], 2, r"--regime"),
    ]


CLI_CASES = _cli_cases()


@pytest.mark.parametrize("argv, code, pattern", [c[1:] for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_is_one_line_without_traceback(F, argv, code, pattern, monkeypatch):
    monkeypatch.setenv("NEUROXAI_CACHE", str(F.tmp / "cli_cache"))
    file = F.file_in_tmp("a_cli_file")
    truncated = F.tmp / "cli_truncated"
    if not truncated.exists():
        F.damaged("cli_truncated", _truncate("params.safetensors"))
    argv = [a.format(tmp=F.tmp, file=file, truncated=truncated) for a in argv]
    if "--out" not in argv and argv[0] == "report":
        argv += ["--out", str(F.tmp / "cli_out")]
    stderr = io.StringIO()
    start = time.perf_counter()
    with redirect_stderr(stderr):
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = exit_.code
    elapsed = time.perf_counter() - start
    err = stderr.getvalue()
    assert status == code if code is not None else status in (1, 2), (status, err)
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("neuroxai"), err
    assert re_search(pattern, err), err
    assert elapsed < 5, f"{elapsed:.1f} s before the error: the check must come first"
    assert not (F.tmp / "cli_out").exists()


# -- an audit killed while it replaces an earlier complete report ---------------------------

TINY_AUDIT = dict(n_trials=4, n_sanity_trials=2, igc=False, encoder=False,
                  methods=["saliency"], progress=False, verbose=False)

# The child announces "ready" just before run_audit, and "<stage> <pid>" when the atomic
# folder swap reaches ``stage`` (then sleeps there until it is killed).
AUDIT_CHILD = r'''
import json, os, sys, time
import torch
torch.set_num_threads(1)
import neuroxai._utils as u
from neuroxai.report import run_audit

out, stop_at, kw = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

def hook(name):
    if name == stop_at:
        print(f"{name} {os.getpid()}", flush=True)
        time.sleep(300)

u._STAGE_HOOK = hook
print(f"ready {os.getpid()}", flush=True)
run_audit(out_dir=out, seed=1, **kw)
print("finished", flush=True)
'''


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _kill_audit(out, stop_at, delay):
    """Run the tiny audit into ``out`` in a child; SIGKILL it ``delay`` s after it is ready,
    or when it reaches the swap stage ``stop_at``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]), "MPLBACKEND": "Agg"}
    kw = {k: v for k, v in TINY_AUDIT.items()}
    proc = subprocess.Popen([sys.executable, "-c", AUDIT_CHILD, str(out), stop_at or "-",
                             json.dumps(kw)], env=env, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("ready"), line
        if stop_at is None:
            time.sleep(delay)
        else:
            line = proc.stdout.readline()
            assert line.startswith(stop_at), line
        assert proc.poll() is None, "the audit ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "killpg"), reason="the kill test sends SIGKILL (POSIX)")
def test_killed_audit_leaves_the_earlier_report_whole_and_the_next_run_tidies(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "report"
    run_audit(out_dir=out, seed=0, **TINY_AUDIT)
    old = _snapshot(out)
    assert {"report.html", "summary.json"} <= set(old)

    # early (loading data, computing) and late (every new file written, before the swap)
    for stop_at, delay in [(None, 1.5), ("complete", None)]:
        _kill_audit(out, stop_at, delay)
        assert _snapshot(out) == old, f"killed at {stop_at or delay}: the old report changed"
        assert json.loads(old["summary.json"])["seed"] == 0

    run_audit(out_dir=out, seed=1, **TINY_AUDIT)
    new = _snapshot(out)
    assert set(new) == set(old) and json.loads(new["summary.json"])["seed"] == 1
    # the killed runs' temporary folders are gone: only the report is left
    assert os.listdir(tmp_path) == ["report"]
