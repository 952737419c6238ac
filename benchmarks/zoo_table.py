#!/usr/bin/env python
"""The braindecode model zoo table: which attribution method works on which model.

Every model of braindecode's registry that builds from ``n_chans, n_outputs, n_times,
sfreq`` is built untrained (fixed seed, 4 outputs) on the smallest input it accepts
(:data:`INPUTS`), and every method of :func:`neuroxai.attribution.list_methods` plus
:func:`~neuroxai.attribution.compute_amplitude_gradients` is run on 2 random trials.
Each cell says whether the method works, is undefined for the model (and why) or stops
with another named error. For DeepLIFT and DeepLIFT-SHAP the cell gives the
completeness error ``|sum(attr) - (f(x) - f(x0))| / |f(x) - f(x0)|`` measured on a
float64 copy of the model (float32 where the model casts to float32 inside).

``python benchmarks/zoo_table.py`` rewrites ``docs/zoo.rst``; ``--timing`` times the
slow per-trial methods at the size of the BCI IV 2a tutorial instead. tests/test_zoo.py
imports the model list, inputs and method parameters from here, so that the test and
the table describe the same runs.
"""
from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
import warnings
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N_OUTPUTS = 4
N_TRIALS = 2
SEED = 0
DEFAULT_INPUT = (4, 128, 250.0)  # n_chans, n_times, sfreq
# Models that do not build (or run) on DEFAULT_INPUT, at the smallest input they accept.
INPUTS = {
    "AttnSleep": (1, 3000, 100.0),  # single-channel sleep model, 30 s at 100 Hz
    "CBraMod": (4, 1000, 250.0),  # 200-sample patches
    "CodeBrain": (4, 250, 250.0),
    "DeepSleepNet": (4, 250, 250.0),
    "EMG2QwertyNet": (32, 3000, 250.0),  # 2 bands x 16 electrodes
    "FBLightConvNet": (4, 250, 250.0),
    "LUNA": (4, 1000, 250.0),
    "NeuroPose": (16, 500, 250.0),
    "SSTDPN": (4, 250, 250.0),
    "SensingDynamics": (16, 250, 250.0),  # 16-channel emg2pose layout
    "SignalJEPA_PostLocal": (4, 250, 250.0),
    "SignalJEPA_PreLocal": (4, 250, 250.0),
    "SleepStagerBlanco2020": (4, 500, 250.0),
    "SleepStagerChambon2018": (4, 1000, 250.0),
    "USleep": (4, 128, 100.0),  # its time_conv_size must come out odd
    "VEMG2Pose": (4, 2000, 250.0),  # 1790 samples of left context
}
# Registry models that do not build from n_chans, n_outputs, n_times and sfreq alone.
NOT_BUILDING = {
    "DANCE": "needs channel positions: ``chs_info`` (ValueError: chs_info not specified)",
    "DGCNN": "needs channel positions: ``chs_info`` (ValueError: chs_info not specified)",
    "EEGSym": "needs channel positions: ``chs_info`` (its hemisphere split)",
    "SignalJEPA": "needs ``chs_info`` for its channel embedding (channel_embedding='scratch')",
    "SignalJEPA_Contextual": "needs ``chs_info`` for its channel embedding",
    "ZUNA": "needs channel locations in ``chs_info``",
    "MetaNeuromotorHand": "EMG model: at 250 Hz its featurizer bands contain no FFT bin; at "
                          "its 2 kHz default no window of 2000-16000 samples passes its "
                          "strided convolutions",
    "REVE": "downloads its electrode-position bank from Hugging Face when built (not tried: "
            "no network in tests)",
}
NEEDS_NETWORK = {"REVE"}
# Models that build but are not classifiers of (n_chans, n_times) trials: attribution
# needs a (batch, n_outputs) output (every method gives ModelMismatchError).
NOT_CLASSIFIERS = {
    "Labram": "its forward needs the channel names (``ch_names``) of 128 canonical channels",
    "EMG2QwertyNet": "outputs a sequence, (batch, time, n_outputs)",
    "NeuroPose": "outputs a sequence, (batch, time, n_outputs)",
    "SensingDynamics": "outputs a sequence, (batch, time, n_outputs)",
    "VEMG2Pose": "outputs a sequence, (batch, time, n_outputs)",
}
# DeepLIFT is not complete to float64 precision on these (measured; see docs/zoo.rst).
DEEPLIFT_APPROXIMATE = {
    "MVPFormer": "casts its input to float32 inside (wavelet patch embedding), and the "
                 "RMS normalisations of an all-zero reference amplify that rounding",
}
# Models whose forward pass cannot run in float64 (float32 tensors made inside forward):
# their completeness is measured in float32.
FLOAT32_ONLY = {"CodeBrain", "SyncNet"}


def registry_models():
    """Every model name of braindecode's registry, sorted."""
    from braindecode.models.util import models_dict

    return sorted(models_dict)


def zoo_models():
    """The registry models that build (those outside :data:`NOT_BUILDING`)."""
    return [m for m in registry_models() if m not in NOT_BUILDING]


def model_input(name):
    return INPUTS.get(name, DEFAULT_INPUT)


def build_model(name, dtype=None, seed=SEED):
    """The untrained model in eval mode, its parameters drawn from a fixed seed."""
    import torch
    from braindecode.models.util import models_dict

    n_chans, n_times, sfreq = model_input(name)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(seed)
        model = models_dict[name](n_chans=n_chans, n_outputs=N_OUTPUTS, n_times=n_times,
                                  sfreq=sfreq)
    model.eval()
    return model if dtype is None else model.to(dtype)


def zoo_trials(name, n_trials=N_TRIALS, seed=SEED):
    import numpy as np

    n_chans, n_times, _ = model_input(name)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_trials, n_chans, n_times)).astype(np.float32)


def method_params(method, name):
    """Small but valid parameters: the matrix checks that a method runs, not its quality."""
    _, n_times, sfreq = model_input(name)
    return {
        "integrated_gradients": {"n_steps": 4},
        "deeplift_shap": {"n_baselines": 2},
        "gradient_shap": {"n_baselines": 2, "n_samples": 2},
        "smoothgrad": {"nt_samples": 2},
        "vargrad": {"nt_samples": 2},
        "occlusion": {"window": (n_times // 4) / sfreq},  # seconds
        "band_ablation": {"sfreq": sfreq},
    }.get(method, {})


AMPLITUDE_GRADIENTS = "amplitude_gradients"


def run_method(model, X, method, name, **extra):
    """Run one cell. Returns the result (or raises the error it raised)."""
    import mne
    import numpy as np

    from neuroxai.attribution import attribute, compute_amplitude_gradients

    n_chans, _, sfreq = model_input(name)
    info = mne.create_info(n_chans, sfreq, "eeg")  # the rate: frequencies in Hz, windows in s
    if method == AMPLITUDE_GRADIENTS:
        return compute_amplitude_gradients(model, X, info=info, verbose="error")
    params = {**method_params(method, name), **extra}
    return attribute(model, X, np.arange(len(X)) % N_OUTPUTS, method, info=info, tmin=0.0,
                     verbose="error", **params)


def completeness(model, X, method, name):
    """Worst relative completeness error of DeepLIFT(-SHAP) with the default baseline."""
    import numpy as np
    import torch

    dtype = next(model.parameters()).dtype
    X = np.asarray(X, dtype=np.float64 if dtype == torch.float64 else np.float32)
    target = np.arange(len(X)) % N_OUTPUTS
    attr = run_method(model, X, method, name)  # its warnings are the caller's
    rows = np.arange(len(X))
    with torch.no_grad():
        f_x = model(torch.as_tensor(X))[rows, target].numpy()
        if method == "deeplift":
            f_0 = model(torch.zeros(X.shape, dtype=dtype))[rows, target].numpy()
        else:  # DeepLIFT-SHAP: against the mean output over the drawn baselines
            refs = torch.as_tensor(X[attr.params["baseline_trials"]])
            f_0 = model(refs).mean(0)[target].numpy()
    delta = f_x - f_0
    err = np.abs(attr.data.sum(axis=(1, 2)) - delta) / np.maximum(np.abs(delta), 1e-12)
    return float(err.max())


def _types(listing):
    """Sorted layer types of a "'name' (Type), 'name' (Type)" listing."""
    return ", ".join(sorted(set(re.findall(r"\(([\w.]+)\)", listing))))


_REASONS = [  # (pattern of neuroxai's message, short reason shared by the models)
    (r"modifies the backward pass of nn\.ReLU modules only, and this model has none",
     lambda m: "no nn.ReLU module: the method would equal the plain gradient"),
    (r"no propagation rule for layer\(s\) (.*?)\. captum",
     lambda m: f"no LRP rule for {_types(m.group(1))}"),
    (r"Cannot tell which axis of layer '[^']*' \((\w+), output shape",
     lambda m: f"the last layer with a time axis ({m.group(1)}) has no single time axis "
               "(pass layer=)"),
    (r"axis of size \d+ that is neither time nor the input channels",
     lambda m: "the last layer with a time axis has an axis that is neither time nor "
               "channels (pass layer=)"),
    (r"runs \d+ times in one forward pass",
     lambda m: "the layer is one module used at several places (pass layer=)"),
    (r"returns \(1, \d+, \d+\) for one trial|Model output must be \(batch, n_outputs\)",
     lambda m: "the model outputs a sequence, not (batch, n_outputs)"),
    (r"cannot process trials of shape",
     lambda m: "the model cannot take (n_chans, n_times) trials alone"),
    (r"only the nn\.ReLU layers of \w+ are modified; the plain gradient passes through "
     r"(.*)", lambda m: "only nn.ReLU layers are modified; the plain gradient passes "
                        f"through {_types(m.group(1))}"),
]


def _reason(message):
    """A short reason, common to all models where it applies, for a message."""
    for pattern, text in _REASONS:
        m = re.search(pattern, str(message))
        if m:
            return text(m)
    first = re.split(r"(?<=\.)\s", str(message), maxsplit=1)[0]
    return re.sub(r"^\w+: ", "", first.strip())


def run_zoo(models=None, methods=None, log=print):
    """Run the matrix; returns ``{model: {method: cell}}`` and the DeepLIFT errors."""
    import numpy as np
    import torch

    from neuroxai import NeuroXAIError
    from neuroxai._utils import DegenerateMethodWarning
    from neuroxai.attribution import list_methods

    torch.set_num_threads(1)
    methods = methods or list_methods() + [AMPLITUDE_GRADIENTS]
    cells, dl = {}, {}
    for name in models or zoo_models():
        model = build_model(name)
        X = zoo_trials(name)
        cells[name] = {}
        for method in methods:
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as rec:
                warnings.simplefilter("always")
                try:
                    res = run_method(model, X, method, name)
                    ok = bool(np.all(np.isfinite(res.data)))
                    cell = {"status": "ok" if ok else "NONFINITE"}
                except NeuroXAIError as err:
                    kind = "undefined" if type(err).__name__ == "MethodUndefinedError" \
                        else "error"
                    cell = {"status": kind, "error": type(err).__name__,
                            "why": _reason(err)}
                except Exception as err:  # noqa: BLE001 - what the table must not contain
                    cell = {"status": "ESCAPED", "error": type(err).__name__,
                            "why": _reason(err)}
            warned = [str(w.message) for w in rec
                      if issubclass(w.category, DegenerateMethodWarning)]
            if warned and cell["status"] == "ok" and not method.startswith("deeplift"):
                cell["warning"] = _reason(warned[0])
            cell["seconds"] = time.perf_counter() - t0
            cells[name][method] = cell
            log(f"{name:24s} {method:22s} {cell['seconds']:6.2f}s {cell['status']} "
                f"{cell.get('why', cell.get('warning', ''))[:90]}")
        dl[name] = _deeplift_errors(name, cells[name], log)
    return cells, dl


def _deeplift_errors(name, row, log):
    import torch

    out = {}
    for method in ("deeplift", "deeplift_shap"):
        if row.get(method, {}).get("status") != "ok":
            continue
        dtype = torch.float32 if name in FLOAT32_ONLY else torch.float64
        model = build_model(name, dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            err = completeness(model, zoo_trials(name), method, name)
        out[method] = (err, str(dtype)[6:])
        log(f"{name:24s} {method:22s} completeness {out[method][0]:.2e} ({out[method][1]})")
    return out


# --------------------------------------------------------------------------------------
# The reStructuredText page
# --------------------------------------------------------------------------------------
_ABBREV = {
    "band_ablation": "band abl.", "deconvolution": "deconv.", "deeplift": "DeepLIFT",
    "deeplift_shap": "DL-SHAP", "envelope": "envel.", "feature_ablation": "feat. abl.",
    "gradcam": "GradCAM", "gradient": "grad.", "gradient_shap": "grad. SHAP",
    "guided_backprop": "guided BP", "guided_gradcam": "guided GC",
    "input_x_gradient": "x * grad.", "integrated_gradients": "IG", "lrp": "LRP",
    "occlusion": "occl.", "saliency": "saliency", "smoothgrad": "SmoothGrad",
    "vargrad": "VarGrad", AMPLITUDE_GRADIENTS: "amp. grad.",
}
EXACT_TOL = 1e-8


FLOAT32_TOL = 1e-3


def _dl_cell(err, dtype):
    if err < EXACT_TOL or (dtype == "float32" and err < FLOAT32_TOL):
        return "exact" if dtype == "float64" else f"exact ({dtype})"
    return f"≈ {100 * err:.2g} %" + ("" if dtype == "float64" else f" ({dtype})")


def render(cells, dl, seconds):
    import braindecode
    import captum
    import torch

    from neuroxai.attribution import list_methods

    methods = list_methods() + [AMPLITUDE_GRADIENTS]
    notes = {}

    def note(text):
        return notes.setdefault(text, len(notes) + 1)

    lines = []
    add = lines.append
    f32 = sorted(m for m, d in dl.items() if "deeplift" in d and m in FLOAT32_ONLY
                 and d["deeplift"][0] < FLOAT32_TOL)
    n_exact = [m for m, d in dl.items() if "deeplift" in d and d["deeplift"][0] < EXACT_TOL]
    n_approx = [m for m, d in dl.items() if "deeplift" in d and m not in n_exact + f32]
    add(".. This file is generated by benchmarks/zoo_table.py; do not edit by hand.")
    add("")
    add("======================")
    add("The braindecode zoo")
    add("======================")
    add("")
    add(f"Every model of braindecode {braindecode.__version__}'s registry that builds from "
        "``n_chans, n_outputs, n_times, sfreq``, untrained (seed 0, 4 outputs), on the "
        "smallest input it accepts, with 2 random trials; torch "
        f"{torch.__version__.split('+')[0]}, captum {captum.__version__}. "
        f"{len(cells)} models build; {len(NOT_BUILDING)} do not (listed at the end). "
        "``tests/test_zoo.py`` runs the same matrix: every cell is a working map or an "
        "error of neuroxai's own that says why. Regenerate with "
        "``python benchmarks/zoo_table.py`` "
        f"({seconds / 60:.0f} min on one core).")
    add("")
    add("Legend: **✓** finite map of the right shape; **✓ w** the same with a "
        ":class:`~neuroxai.DegenerateMethodWarning` (note); **exact** DeepLIFT "
        f"completeness error below {EXACT_TOL:g} (relative, float64 model copy); "
        "**≈ x %** the measured completeness error; **undef. [n]** "
        ":class:`~neuroxai.MethodUndefinedError`, reason in note n; **Error [n]** another "
        "named error; **unnamed** an exception that is not neuroxai's (a bug).")
    add("")
    add("DeepLIFT")
    add("========")
    add("")
    n_runs = sum("deeplift" in d for d in dl.values())
    add(f"DeepLIFT is exact (complete to float64 precision) on {len(n_exact)} of "
        f"{n_runs} models it runs on, attention and normalisation "
        "models included: its rules (:mod:`neuroxai.attribution.deeplift`) apply to every "
        "torch call of the forward pass, functional calls inside ``forward()`` included, "
        "and cover elementwise functions, products, maxima, softmax, variance and "
        "normalisations, attention and LSTMs.")
    add("")
    add("Exact: " + ", ".join(sorted(n_exact)) + ".")
    add("")
    if n_approx:
        add("Approximate:")
        add("")
        for m in sorted(n_approx):
            why = DEEPLIFT_APPROXIMATE.get(m, "see the warning it gives")
            add(f"- {m} (≈ {100 * dl[m]['deeplift'][0]:.2g} %): {why}.")
        add("")
    if f32:
        add("Complete to float32 precision (error below "
            f"{FLOAT32_TOL:g}; their forward pass makes float32 tensors, so they cannot run "
            "as a float64 copy): " + ", ".join(f32) + ".")
        add("")
    add("Method matrix")
    add("=============")
    add("")
    add(".. list-table::")
    add("   :header-rows: 1")
    add("   :stub-columns: 1")
    add("")
    add("   * - model")
    add("     - input")
    for m in methods:
        add(f"     - {_ABBREV.get(m, m)}")
    for name in sorted(cells):
        n_chans, n_times, sfreq = model_input(name)
        add(f"   * - {name}")
        add(f"     - {n_chans} x {n_times} @ {sfreq:g} Hz")
        for m in methods:
            c = cells[name].get(m)
            if c is None:
                text = ""
            elif c["status"] == "ok" and m in dl.get(name, {}):
                text = _dl_cell(*dl[name][m])
            elif c["status"] == "ok":
                text = f"✓ w [{note(c['warning'])}]" if "warning" in c else "✓"
            elif c["status"] == "undefined":
                text = f"undef. [{note(c['why'])}]"
            elif c["status"] == "error":
                text = f"{c['error']} [{note(c['why'])}]"
            else:  # what test_zoo.py does not allow: a library's own exception
                text = f"**unnamed {c.get('error', c['status'])}** [{note(c.get('why', ''))}]"
            add(f"     - {text}")
    add("")
    add("Notes")
    add("-----")
    add("")
    for text, i in notes.items():
        add(f"{i}. {_rst_text(text)}")
    add("")
    add("Models that do not build")
    add("========================")
    add("")
    for name, why in sorted(NOT_BUILDING.items()):
        add(f"- **{name}**: {why}.")
    add("")
    return "\n".join(lines)


def _rst_text(text):
    # messages quote layer names with '...'; keep them literal and free of RST markup
    return re.sub(r"([*`|_\\])", r"\\\1", text)


# --------------------------------------------------------------------------------------
# Timing of the per-trial methods at the tutorial's size
# --------------------------------------------------------------------------------------
def timing(model_name="EEGInceptionMI", n_trials=4, log=print):
    """Seconds of the slow per-trial methods (default parameters) on 22 x 1000 trials.

    Reports the process CPU time next to the wall time: one torch thread, so on an idle
    core the two agree, and on a shared machine the CPU time is what the method costs.
    """
    import numpy as np
    import torch
    from braindecode.models.util import models_dict

    from neuroxai.attribution import attribute

    torch.set_num_threads(1)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(SEED)
        model = models_dict[model_name](n_chans=22, n_outputs=4, n_times=1000,
                                        sfreq=250.0).eval()
    X = np.random.default_rng(SEED).standard_normal((n_trials, 22, 1000)).astype(np.float32)
    out = {}

    def timed(label, fn):
        w0, c0 = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
        out[label] = (time.perf_counter() - w0, time.process_time() - c0)
        log(f"{model_name} {n_trials} x 22 x 1000, {label}: CPU {out[label][1]:.1f} s "
            f"(wall {out[label][0]:.1f} s)")

    x = torch.as_tensor(X).requires_grad_(True)
    timed("one forward+backward", lambda: model(x)[:, 0].sum().backward())
    for method in ("saliency", "deeplift", "integrated_gradients", "occlusion",
                   "band_ablation"):
        kw = {"sfreq": 250.0} if method == "band_ablation" else {}
        timed(method, partial(attribute, model, X, 0, method, verbose="error", **kw))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "zoo.rst"))
    parser.add_argument("--models", nargs="*", help="only these models (default: all)")
    parser.add_argument("--timing", action="store_true",
                        help="time the slow per-trial methods on EEGInceptionMI instead")
    parser.add_argument("--timing-model", default="EEGInceptionMI")
    parser.add_argument("--json", help="also save the measured cells to this JSON file")
    parser.add_argument("--from-json", help="render a saved run instead of running")
    args = parser.parse_args(argv)
    if args.timing:
        timing(args.timing_model)
        return 0
    import json

    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        cells, dl, seconds = saved["cells"], saved["deeplift"], saved["seconds"]
    else:
        t0 = time.perf_counter()
        with _no_network():
            cells, dl = run_zoo(args.models)
        seconds = time.perf_counter() - t0
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"cells": cells, "deeplift": dl, "seconds": seconds}, indent=1))
    escaped = [(m, k) for m, row in cells.items() for k, c in row.items()
               if c["status"] in ("ESCAPED", "NONFINITE")]
    text = render(cells, dl, seconds)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}; cells outside the contract: {escaped or 'none'}")
    return 1 if escaped else 0


@contextlib.contextmanager
def _no_network():
    # Some model constructors fetch files; the table must not depend on the network.
    import os
    import socket

    real = socket.socket.connect
    old = os.environ.get("HF_HUB_OFFLINE")

    def refuse(self, address):
        raise OSError(f"zoo_table.py does not reach the network ({address!r})")

    socket.socket.connect = refuse
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        socket.socket.connect = real
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old


if __name__ == "__main__":
    sys.exit(main())
