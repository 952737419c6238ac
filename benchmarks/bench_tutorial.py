"""The braindecode interpretability tutorial's whole workload: braindecode vs neuroxai.

The tutorial ("Interpretability of EEG Decoders", braindecode 1.8.1; see
``../shared/references/``) runs, on one subject of BCI IV 2a and a trained ShallowFBCSPNet:

1. amplitude gradients over the training session (``amplitude_gradients_per_trial``,
   batches of 64) and their mean over trials;
2. Haufe patterns of the class-centred mean gradients (``np.cov`` of the flattened
   amplitude spectra, a (chan*freq)^2 matrix, then ``einops.einsum``);
3. the held-out session predicted at once; saliency, integrated gradients (32 steps) and
   DeepLIFT on the correctly classified trials (braindecode's captum wrappers, whole batch;
   the tutorial shows 8 trials, here it is **all** of them);
4. the per-channel agreement: mean |attribution| per channel, max-normalised, pairwise r;
5. label randomisation (``random_target``) and cascading randomisation
   (``cascading_layer_reset``) of the three methods, per-trial Pearson r averaged;
6. the 12 metrics + 4 SSIM (``compute_metrics``, ``compute_ssim_metrics``) of each method's
   maps against those of a fully re-initialised copy of the model.

This script runs that workload twice on the same inputs, in one invocation: once written
with ``braindecode.visualization`` as the tutorial does (:func:`run_braindecode`) and once
with neuroxai's public API (:func:`run_neuroxai`). Each side runs in its own child process
(imports, model and inputs loaded first, not timed), so that its wall time and peak resident
memory are its own. The parent then compares every output and prints the max relative
differences, and says where braindecode's numbers are wrong instead of forcing equality.

Inputs: the shipped checkpoint (``neuroxai.models.load_pretrained()``, in place of the
tutorial's Hugging Face one, which cannot be downloaded here) and the simulated BCI IV 2a
data it was trained on (``simulate_bcic_iv_2a`` with the checkpoint's dataset parameters,
sessions "0train" and "1test"). Deviations from the tutorial, each needed to compare:

- the model is in eval mode: the tutorial's ``classifier.module_`` after ``initialize()``
  and ``load_params()`` is in training mode (dropout and batch-statistics batch norm active
  in its predictions and attributions);
- ``random_target`` gets ``np.random.default_rng(0)`` (the tutorial leaves it unseeded),
  which draws the same classes as ``neuroxai.sanity.label_randomization(seed=0)``;
- the training windows are a plain torch Dataset over the arrays (no braindecode windows
  dataset); no figures are drawn on either side.

    python benchmarks/bench_tutorial.py [--quick] [--json OUT] [--threads 1]
                                        [--side both|ours|peer] [--peer-chunk N]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C

METHODS = ("saliency", "integrated_gradients", "deeplift")
LABEL_SEED = 0  # label randomisation draws, both sides
TUTORIAL_SEED = 20240205  # the tutorial's set_random_seeds before the sanity checks
TOL = 1e-4  # relative tolerance of the equality checks (float32 maps)
FULL = dict(n_train=None, n_test=None, ig_steps=32, amp_batch=64, attr_batch=32)
# --quick: 24 training trials in batches of 16 (so braindecode's last batch is smaller and
# its per-batch scaling is exercised), the first 16 held-out trials, 8 IG steps
QUICK = dict(n_train=24, n_test=16, ig_steps=8, amp_batch=16, attr_batch=32)


# ================================================================== braindecode (peer)
def run_braindecode(model, d, s, sink):
    """The tutorial's workload with braindecode.visualization; returns (outputs, stage times).

    ``sink(name, array)`` saves an array the comparison needs that the tutorial discards
    (the randomised model's maps); its time is not counted.
    """
    import copy

    import einops
    import numpy as np
    import torch
    from braindecode.util import set_random_seeds
    from braindecode.visualization import (
        METRIC_NAMES,
        SSIM_METRIC_NAMES,
        amplitude_gradients_per_trial,
        cascading_layer_reset,
        compute_metrics,
        compute_ssim_metrics,
        deep_lift,
        integrated_gradients,
        random_target,
        saliency,
    )

    clock = _Clock()
    out = {}

    class Windows(torch.utils.data.Dataset):  # stands in for the braindecode windows dataset
        def __init__(self, X, y):
            self.X, self.y = X, y

        def __len__(self):
            return len(self.X)

        def __getitem__(self, i):
            return self.X[i], self.y[i]

    train_set = Windows(d["X_train"], d["y_train"])
    grads = amplitude_gradients_per_trial(model, train_set, batch_size=s["amp_batch"])
    mean_grads = grads.mean(axis=1)  # (class, chan, freq)
    out.update(amp_grads=grads, mean_grads=mean_grads)
    clock.lap("amplitude gradients")

    X_tr = np.stack([x for x, *_ in train_set])
    spectra = np.abs(np.fft.rfft(X_tr, axis=-1))
    n_chans, n_freqs = spectra.shape[1:]
    cov = np.cov(einops.rearrange(spectra, "trial chan freq -> (chan freq) trial"))
    cov = einops.rearrange(cov, "(c1 f1) (c2 f2) -> c1 f1 c2 f2", c1=n_chans, f1=n_freqs,
                           c2=n_chans, f2=n_freqs)
    centred = mean_grads - mean_grads.mean(axis=0, keepdims=True)
    out["haufe"] = einops.einsum(centred, cov, "k c1 f1, c1 f1 c2 f2 -> k c2 f2")
    del cov
    clock.lap("Haufe patterns")

    x_all = torch.as_tensor(d["X_test"], dtype=torch.float32)
    y_all = torch.as_tensor(d["y_test"], dtype=torch.long)
    with torch.no_grad():
        correct = model(x_all).argmax(dim=1) == y_all
    x, y = x_all[correct], y_all[correct]
    out["correct"] = correct.numpy()
    chunk = s.get("peer_chunk") or len(x)

    def batched(fn):  # the tutorial gives the whole batch (chunk = all trials)
        return lambda m, xb, tb: np.concatenate(
            [fn(m, xb[i:i + chunk], tb[i:i + chunk]).cpu().numpy()
             for i in range(0, len(xb), chunk)])

    methods = {
        "saliency": batched(saliency),
        "integrated_gradients": batched(
            lambda m, xb, tb: integrated_gradients(m, xb, tb, steps=s["ig_steps"])),
        "deeplift": batched(deep_lift),
    }
    trained = {name: fn(model, x, y) for name, fn in methods.items()}
    out.update({f"map_{k}": v for k, v in trained.items()})
    clock.lap("attributions (3 methods)")

    per_channel = {}
    for name, maps in trained.items():
        ch = np.abs(maps).mean(axis=(0, 2))
        per_channel[name] = ch / max(ch.max(), 1e-12)
    out["channel_maps"] = np.stack([per_channel[k] for k in METHODS])
    out["channel_r"] = np.array([np.corrcoef(per_channel[a], per_channel[b])[0, 1]
                                 for a, b in _pairs()])
    clock.lap("per-channel agreement")

    set_random_seeds(seed=TUTORIAL_SEED, cuda=False)
    other = random_target(y, n_classes=len(d["class_names"]),
                          generator=np.random.default_rng(LABEL_SEED))
    out["random_target"] = other.numpy()
    out["label_r"] = np.array([_tutorial_pearson(trained[k], methods[k](model, x, other))
                               for k in METHODS])
    clock.lap("label randomisation")

    levels, cascade = [], {k: [] for k in METHODS}
    for layer, randomized in cascading_layer_reset(model):
        levels.append(layer)
        for k in METHODS:
            cascade[k].append(_tutorial_pearson(trained[k], methods[k](randomized, x, y)))
    out["cascade_levels"] = np.array(levels)
    out["cascade_r"] = np.array([cascade[k] for k in METHODS])
    clock.lap("cascading randomisation")

    def reset_all(module):
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()

    random_model = copy.deepcopy(model).apply(reset_all).eval()
    scores = []
    for k in METHODS:
        rand = methods[k](random_model, x, y)
        clock.pause(sink, f"random_map_{k}", rand)
        m12, _ = compute_metrics(trained[k], rand, abs_reference=True)
        m4, _ = compute_ssim_metrics(trained[k], rand, abs_reference=True)
        scores.append(np.concatenate([m12, m4], axis=1))
        del rand
    out["metrics"] = np.stack(scores)  # (method, trial, 16)
    out["metric_names"] = np.array(list(METRIC_NAMES) + list(SSIM_METRIC_NAMES))
    clock.lap("metrics vs random model")
    return out, clock.stages


def _tutorial_pearson(a, b):
    """The tutorial's per-trial Pearson r (flattened maps, 1e-12 in the denominator, NaN to 0),
    averaged over trials."""
    import numpy as np

    a = a.reshape(len(a), -1)
    b = b.reshape(len(b), -1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    r = (a * b).sum(axis=1) / (np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1)) + 1e-12)
    return float(np.nan_to_num(r).mean())


# ============================================================================ neuroxai
def run_neuroxai(model, d, s, sink):
    """The same workload with neuroxai's public API; returns (outputs, stage times).

    The trials go in as arrays with ``info=`` (no Trials / Epochs objects), so these calls
    keep working while the trials boundary changes.
    """
    import numpy as np
    import torch

    from neuroxai.attribution import (
        attribute,
        compute_amplitude_gradients,
        compute_haufe_patterns,
        reduce_to_channels,
    )
    from neuroxai.metrics import METRIC_NAMES, SSIM_METRIC_NAMES, compute_metrics
    from neuroxai.sanity import cascading_randomization, label_randomization

    clock = _Clock()
    out = {}
    info, names = d["info"], d["class_names"]
    grads = compute_amplitude_gradients(model, d["X_train"], batch_size=s["amp_batch"],
                                        info=info, class_names=names)
    out["amp_grads"] = grads.data
    out["mean_grads"] = grads.data.mean(axis=1)
    clock.lap("amplitude gradients")

    out["haufe"] = compute_haufe_patterns(grads, d["X_train"]).data
    del grads
    clock.lap("Haufe patterns")

    X, y = d["X_test"], d["y_test"]
    with torch.no_grad():  # no public predict: the model's own forward, in chunks
        pred = np.concatenate([model(torch.as_tensor(X[i:i + 64])).argmax(1).numpy()
                               for i in range(0, len(X), 64)])
    correct = pred == y
    x, t = X[correct], y[correct]
    out["correct"] = correct
    params = {k: {} for k in METHODS}
    params["integrated_gradients"] = dict(n_steps=s["ig_steps"])
    batch = s["attr_batch"]
    maps = {k: attribute(model, x, t, method=k, batch_size=batch, info=info, tmin=s["tmin"],
                         y=t, class_names=names, **params[k]) for k in METHODS}
    out.update({f"map_{k}": maps[k].data for k in METHODS})
    clock.lap("attributions (3 methods)")

    # No public non-plot function gives the agreement numbers (plot_method_agreement draws
    # them): reduce_to_channels per trial, then the tutorial's mean / max-normalisation / r.
    per_channel = []
    for k in METHODS:
        ch = reduce_to_channels(maps[k], transform="abs", reduce="mean").data.mean(axis=0)
        per_channel.append(ch / ch.max())
    out["channel_maps"] = np.stack(per_channel)
    r = np.corrcoef(out["channel_maps"])
    out["channel_r"] = np.array([r[METHODS.index(a), METHODS.index(b)] for a, b in _pairs()])
    clock.lap("per-channel agreement")

    common = dict(batch_size=batch, seed=LABEL_SEED, verbose=False)
    label = {k: label_randomization(model, x, t, method=k, method_params=params[k],
                                    reference=maps[k], **common) for k in METHODS}
    out["label_r"] = np.array([label[k].mean["pearson"][0] for k in METHODS])
    out["random_target"] = label[METHODS[0]].info["random_target"]
    clock.lap("label randomisation")

    # The last cascade level has every layer re-initialised: it *is* the fully randomised
    # model (neuroxai.sanity.full_randomization documents the equality), so its maps are
    # kept (return_maps) for the metrics instead of a fourth pass of every method.
    cascade, last_maps = [], {}
    for k in METHODS:
        res = cascading_randomization(model, x, t, method=k, method_params=params[k],
                                      reference=maps[k], return_maps=True, **common)
        cascade.append(res.mean["pearson"])
        last_maps[k] = res.maps[res.levels[-1]]
        levels = res.levels
        del res
    out["cascade_levels"] = np.array(levels)
    out["cascade_r"] = np.array(cascade)
    clock.lap("cascading randomisation")

    names16 = list(METRIC_NAMES) + list(SSIM_METRIC_NAMES)
    out["metrics"] = np.stack([
        compute_metrics(maps[k].data, last_maps.pop(k), metrics=names16, abs_reference=True,
                        verbose=False)[names16].to_numpy() for k in METHODS])
    out["metric_names"] = np.array(names16)
    clock.lap("metrics vs random model")
    return out, clock.stages


def _pairs():
    return [(a, b) for i, a in enumerate(METHODS) for b in METHODS[i + 1:]]


class _Clock:
    """Stage times; ``pause`` runs work that is not part of the workload (saving)."""

    def __init__(self):
        self.stages = {}
        self._t = time.perf_counter()
        self._paused = 0.0

    def pause(self, fn, *args):
        t0 = time.perf_counter()
        fn(*args)
        self._paused += time.perf_counter() - t0

    def lap(self, name):
        now = time.perf_counter()
        self.stages[name] = now - self._t - self._paused
        self._t, self._paused = now, 0.0


# =============================================================================== child
def child(side, workdir, threads):
    """Load, run one side, write ``<side>.npz`` (outputs) and ``<side>.json`` (time, peak)."""
    t_start = time.perf_counter()
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    workdir = Path(workdir)
    s = json.loads((workdir / "settings.json").read_text())
    with np.load(workdir / "inputs.npz") as f:
        d = {k: f[k] for k in f.files}
    d["class_names"] = s["class_names"]
    if side == "peer":
        import braindecode.visualization  # noqa: F401 - imports are not timed
        import captum.attr  # noqa: F401
        import einops  # noqa: F401
        from braindecode.models import ShallowFBCSPNet

        model = ShallowFBCSPNet(**s["model_kwargs"])
        model.load_state_dict(torch.load(workdir / "state.pt", weights_only=True))
        model.eval()
        run = run_braindecode
    else:
        import neuroxai.attribution  # noqa: F401
        import neuroxai.metrics  # noqa: F401
        import neuroxai.sanity  # noqa: F401
        from neuroxai.data import make_info
        from neuroxai.models import load_pretrained

        model, _, _ = load_pretrained(verbose=False)
        d["info"] = make_info(s["ch_names"], s["sfreq"])
        run = run_neuroxai
    setup_s = time.perf_counter() - t_start

    def sink(name, arr):
        np.save(workdir / f"{side}_{name}.npy", arr)

    gc.collect()
    C._malloc_trim()
    reset = C._reset_peak()
    base_kib = C._status_kib("VmRSS")
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    out, stages = run(model, d, s, sink)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    # CPU time: on a shared machine it moves less with the load than the wall time
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    ru_before, ru_after = ru0.ru_maxrss, ru1.ru_maxrss
    if reset:  # high-water mark of the workload (includes the resident baseline)
        peak_kib = C._status_kib("VmHWM")
        extra_kib = peak_kib - base_kib
    else:  # no reset allowed: the process's peak, and a lower bound of the increment
        peak_kib, extra_kib = ru_after, ru_after - ru_before
    rec = dict(side=side, wall_s=wall, cpu_s=cpu, stages=stages, setup_s=setup_s,
               peak_mib=peak_kib / 1024.0, extra_peak_mib=extra_kib / 1024.0,
               base_mib=base_kib / 1024.0, ru_maxrss_mib=ru_after / 1024.0,
               peak_reset=reset, threads=threads)
    np.savez(workdir / f"{side}.npz", **out)
    (workdir / f"{side}.json").write_text(json.dumps(rec, indent=1))
    print(f"[{side}] setup {setup_s:.1f} s, workload {wall:.1f} s ({cpu:.1f} s CPU), peak RSS "
          f"{rec['peak_mib']:.0f} MiB (+{rec['extra_peak_mib']:.0f} above the "
          f"{rec['base_mib']:.0f} MiB after setup)",
          flush=True)


# ============================================================================== parent
def prepare(workdir, s):
    """Inputs, model weights and settings for both children (not timed)."""
    import numpy as np
    import torch

    from neuroxai.models import load_pretrained

    d = C.load_sessions()
    model, _, meta = load_pretrained(verbose=False)
    if s["n_train"]:
        d["X_train"], d["y_train"] = d["X_train"][:s["n_train"]], d["y_train"][:s["n_train"]]
    if s["n_test"]:
        d["X_test"], d["y_test"] = d["X_test"][:s["n_test"]], d["y_test"][:s["n_test"]]
    np.savez(workdir / "inputs.npz", **{k: d[k] for k in ("X_train", "y_train", "X_test",
                                                           "y_test")})
    torch.save(model.state_dict(), workdir / "state.pt")
    s = dict(s, model_kwargs=meta["model_kwargs"], ch_names=d["ch_names"],
             class_names=d["class_names"], sfreq=d["sfreq"], tmin=d["tmin"])
    (workdir / "settings.json").write_text(json.dumps(s))
    return d, model


def launch(sides, workdir, threads, concurrent=False):
    """Run each side in its own process (one after the other unless ``concurrent``)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)  # numpy's BLAS (np.cov, the metrics) as torch: same threads

    def start(side):
        cmd = [sys.executable, __file__, "--child", side, "--workdir", str(workdir),
               "--threads", str(threads)]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, cwd=C.ROOT), time.perf_counter()

    def finish(side, started):
        proc, t0 = started
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"the {side} side failed (exit {proc.returncode}):\n"
                             f"{stdout[-3000:]}\n{stderr[-5000:]}")
        print(stdout.strip(), flush=True)
        rec = json.loads((workdir / f"{side}.json").read_text())
        rec["process_s"] = time.perf_counter() - t0
        return rec

    if concurrent:
        running = {side: start(side) for side in sides}
        return {side: finish(side, running[side]) for side in sides}
    return {side: finish(side, start(side)) for side in sides}


def _rel(a, b):
    """max |a - b| / max |b| (float64)."""
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = float(np.abs(b).max())
    return float(np.abs(a - b).max() / scale) if scale > 0 else float(np.abs(a - b).max())


def _haufe_reference(mean_grads, X):
    """The tutorial's Haufe formula, Cov(A) @ w per class, in float64 without the big matrix:
    Cov(A) w = A_c^T (A_c w) / (n - 1), A the flattened amplitude spectra."""
    import numpy as np

    A = np.abs(np.fft.rfft(X.astype(np.float64), axis=-1)).reshape(len(X), -1)
    A -= A.mean(axis=0)
    W = mean_grads.reshape(len(mean_grads), -1).astype(np.float64)
    W = W - W.mean(axis=0, keepdims=True)
    return ((A @ W.T).T @ A / (len(X) - 1)).reshape(mean_grads.shape)


def _completeness(model, x, t, maps):
    """Median and max of |sum(map) - (f(x) - f(0))[target]| / |f(x) - f(0)|."""
    import numpy as np
    import torch

    with torch.no_grad():
        xt = torch.as_tensor(x)
        fx = np.concatenate([model(xt[i:i + 64]).numpy() for i in range(0, len(x), 64)])
        f0 = model(torch.zeros_like(xt[:1])).numpy()
    delta = (fx - f0)[np.arange(len(t)), t].astype(np.float64)
    err = np.abs(maps.astype(np.float64).sum(axis=(1, 2)) - delta) / np.abs(delta)
    return float(np.median(err)), float(err.max())


def compare(workdir, d, model, s):
    """Every output of the two sides compared; returns (numbers, checks, notes)."""
    import numpy as np
    from braindecode.visualization import cascading_layer_reset

    from neuroxai.metrics import compute_metrics

    pe = dict(np.load(workdir / "peer.npz"))
    ou = dict(np.load(workdir / "ours.npz"))
    nums, checks, lines = {}, {}, []

    def check(name, ok, text):
        checks[name] = bool(ok)
        lines.append(f"  [{'ok' if ok else 'FAIL'}] {name}: {text}")

    def info(text):
        lines.append(f"  [peer] {text}")

    # 1. amplitude gradients: braindecode differentiates the batch mean
    n_tr = len(d["X_train"])
    bs = np.minimum(s["amp_batch"], n_tr - (np.arange(n_tr) // s["amp_batch"]) * s["amp_batch"])
    corrected = pe["amp_grads"] * bs[None, :, None, None]
    nums["amp_grads_rel"] = _rel(corrected, ou["amp_grads"])
    nums["amp_grads_raw_rel"] = _rel(pe["amp_grads"], ou["amp_grads"])
    check("amplitude gradients", nums["amp_grads_rel"] < TOL,
          f"max rel {nums['amp_grads_rel']:.1e} after multiplying braindecode's per-trial "
          f"values by their batch size ({sorted(set(bs.tolist()), reverse=True)})")
    nums["mean_grads_rel"] = _rel(pe["mean_grads"] * s["amp_batch"], ou["mean_grads"])
    info(f"amplitude gradients are d(batch mean)/d(amplitude): ours / batch size "
         f"(max rel {nums['amp_grads_raw_rel']:.2f} unscaled); the trial mean x "
         f"{s['amp_batch']} still differs by {nums['mean_grads_rel']:.1e} rel"
         + (" since the last, smaller batch counts more" if len(set(bs.tolist())) > 1 else ""))

    # 2. Haufe patterns (linear in the mean gradient, the covariance is the same)
    ref_peer = _haufe_reference(pe["mean_grads"], d["X_train"])
    ref_corr = _haufe_reference(corrected.mean(axis=1), d["X_train"])
    nums["haufe_peer_formula_rel"] = _rel(pe["haufe"], ref_peer)
    nums["haufe_rel"] = _rel(ou["haufe"], ref_corr)
    nums["haufe_raw_rel"] = _rel(pe["haufe"], ou["haufe"])
    check("Haufe formula", nums["haufe_peer_formula_rel"] < TOL,
          f"braindecode's np.cov + einsum vs a float64 A_c^T A_c w evaluation: max rel "
          f"{nums['haufe_peer_formula_rel']:.1e}")
    check("Haufe patterns", nums["haufe_rel"] < TOL,
          f"ours vs the tutorial's formula on the per-trial gradients: max rel "
          f"{nums['haufe_rel']:.1e}")
    info(f"Haufe patterns inherit the gradient scaling: max rel {nums['haufe_raw_rel']:.2f} "
         "from ours")

    # 3. correctly classified held-out trials, attribution maps
    cp, co = pe["correct"], ou["correct"]
    nums["n_correct_peer"], nums["n_correct_ours"] = int(cp.sum()), int(co.sum())
    check("correct trials", np.array_equal(cp, co),
          f"{int(co.sum())} / {len(co)} (braindecode {int(cp.sum())})")
    both = cp & co
    ip, io = np.cumsum(cp)[both] - 1, np.cumsum(co)[both] - 1
    x, t = d["X_test"][both], d["y_test"][both]
    for k in ("saliency", "integrated_gradients"):
        nums[f"{k}_rel"] = _rel(ou[f"map_{k}"][io], pe[f"map_{k}"][ip])
        check(k, nums[f"{k}_rel"] < TOL, f"max rel {nums[f'{k}_rel']:.1e}")
    mo, xo = _completeness(model, x, t, ou["map_deeplift"][io])
    mp, xp = _completeness(model, x, t, pe["map_deeplift"][ip])
    nums.update(deeplift_completeness_ours=xo, deeplift_completeness_peer=xp,
                deeplift_rel=_rel(ou["map_deeplift"][io], pe["map_deeplift"][ip]))
    check("DeepLIFT completeness (ours)", xo < 1e-3,
          f"|sum - (f(x) - f(0))| / |f(x) - f(0)|: median {mo:.1e}, max {xo:.1e}")
    info(f"DeepLIFT: captum has no rule for ShallowFBCSPNet's Square/SafeLog, so braindecode's "
         f"maps are not complete (error median {mp:.1e}, max {xp:.1e}); they differ from ours "
         f"by {nums['deeplift_rel']:.2f} max rel")

    # 4. per-channel agreement (saliency and IG are comparable, DeepLIFT by design not)
    nums["channel_maps_rel"] = _rel(ou["channel_maps"][:2], pe["channel_maps"][:2])
    nums["channel_r_ours"] = ou["channel_r"].tolist()
    nums["channel_r_peer"] = pe["channel_r"].tolist()
    d_r = abs(float(ou["channel_r"][0] - pe["channel_r"][0]))
    check("per-channel agreement", nums["channel_maps_rel"] < TOL and d_r < TOL,
          f"saliency/IG channel maps max rel {nums['channel_maps_rel']:.1e}, their r "
          f"{ou['channel_r'][0]:+.4f} vs {pe['channel_r'][0]:+.4f}; r with DeepLIFT ours "
          f"{ou['channel_r'][1]:+.3f}/{ou['channel_r'][2]:+.3f}, braindecode "
          f"{pe['channel_r'][1]:+.3f}/{pe['channel_r'][2]:+.3f}")

    # 5. label randomisation (same seeded draws), cascading randomisation (own draws)
    same_t = np.array_equal(np.asarray(pe["random_target"]).astype(np.int64)[ip],
                            np.asarray(ou["random_target"]).astype(np.int64)[io]) \
        and np.array_equal(cp, co)
    nums["label_r_ours"], nums["label_r_peer"] = ou["label_r"].tolist(), pe["label_r"].tolist()
    d_label = float(np.abs(ou["label_r"][:2] - pe["label_r"][:2]).max())
    nums["label_r_absdiff"] = d_label
    check("label randomisation", same_t and d_label < TOL,
          f"same random targets: {same_t}; mean r saliency/IG ours "
          f"{ou['label_r'][0]:+.4f}/{ou['label_r'][1]:+.4f}, braindecode "
          f"{pe['label_r'][0]:+.4f}/{pe['label_r'][1]:+.4f} (max abs diff {d_label:.1e}); "
          f"DeepLIFT ours {ou['label_r'][2]:+.3f}, braindecode {pe['label_r'][2]:+.3f}")
    check("cascade levels", list(ou["cascade_levels"]) == list(pe["cascade_levels"]),
          "same layers, same order (output to input): " + ", ".join(ou["cascade_levels"]))
    nums["cascade_r_ours"] = ou["cascade_r"].tolist()
    nums["cascade_r_peer"] = pe["cascade_r"].tolist()
    for i, k in enumerate(METHODS):
        lines.append(f"  [info] cascade mean r, {k}: ours "
                     + " ".join(f"{v:+.3f}" for v in ou["cascade_r"][i]) + "; braindecode "
                     + " ".join(f"{v:+.3f}" for v in pe["cascade_r"][i]))
    lines.append("  [info] cascade values differ by design: other random weights, and "
                 "braindecode's reset turns batch norm into an identity with reset running "
                 "statistics where neuroxai randomises its affine parameters")
    levels = list(cascading_layer_reset(model))
    distinct = len({id(m) for _, m in levels})
    nums["cascade_distinct_objects"] = distinct
    info(f"cascading_layer_reset yields one object mutated in place: collecting its "
         f"{len(levels)} levels gives {distinct} distinct model(s), all equal to the last "
         "level (the tutorial's loop attributes each level before the next reset, so its "
         "curve is not affected)")

    # 6. metrics: ours on braindecode's own (trained, random) maps vs braindecode's values
    names = [str(n) for n in pe["metric_names"]]
    worst, n_zero_nan, n_cells = 0.0, 0, 0
    for i, k in enumerate(METHODS):
        rand = np.load(workdir / f"peer_random_map_{k}.npy")
        ours = compute_metrics(pe[f"map_{k}"], rand, metrics=names, abs_reference=True,
                               verbose=False)[names].to_numpy()
        peer = pe["metrics"][i]
        fin = np.isfinite(ours)
        worst = max(worst, float(np.abs(ours[fin] - peer[fin]).max(initial=0.0)))
        n_zero_nan += int(((~fin) & (peer == 0)).sum())
        n_cells += ours.size
        check_bad = int(((~fin) & (peer != 0)).sum())
        if check_bad:
            worst = float("inf")
    nums["metrics_absdiff"], nums["metrics_peer_zero_where_undefined"] = worst, n_zero_nan
    check("12 metrics + 4 SSIM", worst < 1e-6,
          f"neuroxai on braindecode's own trained/random maps: max abs diff {worst:.1e} over "
          f"{n_cells - n_zero_nan} defined values")
    if n_zero_nan:
        info(f"metrics: {n_zero_nan} of {n_cells} values are undefined (constant or all-zero "
             "map, e.g. a top-5 % mask of a map with ties); braindecode writes 0, which "
             "enters its means; neuroxai gives NaN")
    else:
        info("metrics: no undefined value on these maps (braindecode would write 0 there, "
             "neuroxai NaN)")
    for i, k in enumerate(METHODS):
        mo_, mp_ = np.nanmean(ou["metrics"][i], axis=0), pe["metrics"][i].mean(axis=0)
        lines.append(f"  [info] {k} vs its random model (own random draws), mean over trials: "
                     + ", ".join(f"{n} {a:+.2f}/{b:+.2f}" for n, a, b in zip(names, mo_, mp_)
                                 if "Accuracy" not in n) + " (ours/braindecode)")
    return nums, checks, lines


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="24 training + 16 held-out trials, 8 IG steps (seconds)")
    ap.add_argument("--smoke", action="store_true", help="same as --quick")
    ap.add_argument("--side", choices=("both", "ours", "peer"), default="both",
                    help="both: run the two sides (each in its own process) and compare")
    ap.add_argument("--threads", type=int, default=1, help="torch and BLAS threads per side")
    ap.add_argument("--repeats", type=int, default=None, help="ignored (one run per side)")
    ap.add_argument("--peer-chunk", type=int, default=0,
                    help="braindecode's attribution calls on chunks of N trials (default 0: "
                         "the whole batch at once, as the tutorial; its IG then holds "
                         "n_trials x steps rows, ~30 MiB a trial at 32 steps)")
    ap.add_argument("--concurrent", action="store_true",
                    help="run the two sides at the same time (a quicker smoke run; each "
                         "side's peak memory is still its own, its times are not)")
    ap.add_argument("--json", default=None, help="write the result record here")
    ap.add_argument("--keep", default=None, help="keep the two sides' outputs in this folder")
    ap.add_argument("--child", choices=("ours", "peer"), default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.workdir, args.threads)
        return 0

    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    quick = args.quick or args.smoke
    s = dict(QUICK if quick else FULL, peer_chunk=args.peer_chunk)
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="nx_tutorial_"))
    workdir.mkdir(parents=True, exist_ok=True)
    t_main = time.perf_counter()
    try:
        d, model = prepare(workdir, s)
        t_prep = time.perf_counter() - t_main
        load0 = os.getloadavg()
        print(f"== tutorial workload: {len(d['X_train'])} training trials, "
              f"{len(d['X_test'])} held-out trials, IG {s['ig_steps']} steps, "
              f"{args.threads} thread(s) per side"
              + (", the sides run concurrently" if args.concurrent else "")
              + f"; load average {load0[0]:.2f}", flush=True)
        sides = ("ours", "peer") if args.side == "both" else (args.side,)
        recs = launch(sides, workdir, args.threads, concurrent=args.concurrent)
        load1 = os.getloadavg()
        if args.side != "both":
            return 0
        t_cmp = time.perf_counter()
        nums, checks, lines = compare(workdir, d, model, s)
        t_cmp = time.perf_counter() - t_cmp
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    o, p = recs["ours"], recs["peer"]
    ratio_t = p["wall_s"] / o["wall_s"]
    print("\nstage                          neuroxai   braindecode   ratio")
    for stage in p["stages"]:
        a, b = o["stages"].get(stage, float("nan")), p["stages"][stage]
        print(f"  {stage:<28} {a:8.2f} s  {b:9.2f} s  {b / a:6.1f}x")
    print(f"  {'total (workload)':<28} {o['wall_s']:8.2f} s  {p['wall_s']:9.2f} s  "
          f"{ratio_t:6.1f}x   (target >= 5x)")
    print(f"  {'CPU time (workload)':<28} {o['cpu_s']:8.2f} s  {p['cpu_s']:9.2f} s  "
          f"{p['cpu_s'] / o['cpu_s']:6.1f}x")
    print(f"  {'peak RSS (process)':<28} {o['peak_mib']:6.0f} MiB  {p['peak_mib']:7.0f} MiB  "
          f"{o['peak_mib'] / p['peak_mib']:6.2f}x   (ours / peer, target <= 0.5x)")
    print(f"  {'peak above setup':<28} {o['extra_peak_mib']:6.0f} MiB  "
          f"{p['extra_peak_mib']:7.0f} MiB")
    print(f"  load average before {load0[0]:.2f}, after {load1[0]:.2f} (1 min); this script: "
          f"{time.perf_counter() - t_main:.0f} s (inputs {t_prep:.1f} s, comparison "
          f"{t_cmp:.1f} s, the sides' processes {o['process_s']:.0f} + {p['process_s']:.0f} s)")
    print("\nagreement (max relative differences; [peer]: where braindecode is not correct):")
    print("\n".join(lines))
    failed = [k for k, ok in checks.items() if not ok]
    print(f"\nCHECKS: {len(checks) - len(failed)}/{len(checks)} passed"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))

    n_c = nums["n_correct_ours"]
    rec = dict(
        comparison="Tutorial workload (all of it)",
        size=(f"{len(d['X_train'])} train + {n_c}/{len(d['X_test'])} correct held-out "
              f"trials, IG {s['ig_steps']} steps"),
        ours="run_neuroxai: compute_amplitude_gradients, compute_haufe_patterns, attribute, "
             "reduce_to_channels, label_randomization / cascading_randomization (reference=, last "
             "level = full randomisation), compute_metrics",
        peer="run_braindecode: the tutorial's calls (amplitude_gradients_per_trial, np.cov + "
             "einsum, captum wrappers on the whole batch, random_target, "
             "cascading_layer_reset, compute_metrics + compute_ssim_metrics)",
        side="both", script=__file__, quick=quick, concurrent=args.concurrent,
        ours_time_s=o["wall_s"], peer_time_s=p["wall_s"], time_ratio=ratio_t,
        ours_peak_mib=o["peak_mib"], peer_peak_mib=p["peak_mib"],
        ours_peak_is_total=True, peer_peak_is_total=True,
        ours_stages=o["stages"], peer_stages=p["stages"], ours_cpu_s=o["cpu_s"],
        peer_cpu_s=p["cpu_s"], cpu_ratio=p["cpu_s"] / o["cpu_s"],
        ours_extra_peak_mib=o["extra_peak_mib"], peer_extra_peak_mib=p["extra_peak_mib"],
        load_before=load0, load_after=load1, threads=args.threads,
        agreement=dict(nums, checks_failed=len(failed)), checks=checks,
        agreement_text=(f"{len(checks) - len(failed)}/{len(checks)} checks pass: amp. grads "
                        f"rel {nums['amp_grads_rel']:.1e} (braindecode x batch size), Haufe "
                        f"{nums['haufe_rel']:.1e}, saliency {nums['saliency_rel']:.1e}, IG "
                        f"{nums['integrated_gradients_rel']:.1e}, label r diff "
                        f"{nums['label_r_absdiff']:.1e}, metrics abs diff "
                        f"{nums['metrics_absdiff']:.1e}; DeepLIFT completeness ours "
                        f"{nums['deeplift_completeness_ours']:.1e}, braindecode "
                        f"{nums['deeplift_completeness_peer']:.1e}"),
        targets={"time ratio >= 5x": ("time_ratio", ">=", 5.0),
                 "ours <= 0.5x peak": ("peak_ratio", ">=", 2.0),
                 "numeric checks pass": ("checks_failed", "<=", 0)},
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps([rec], indent=1, default=C._json_default))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
