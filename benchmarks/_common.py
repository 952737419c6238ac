"""Shared driver of the benchmark scripts (not part of the package).

Every ``bench_*.py`` script describes one comparison as a list of :class:`Case`
objects (one per input size). The driver

* with ``--side both`` (the default) times ours and the peer **in the same
  process, on the same inputs**, alternating the two over ``--repeats`` runs
  (so that the load of a shared machine hits both alike), reports medians,
  the time ratio (peer / ours) and the agreement of the results;
* with ``--side ours`` / ``--side peer`` runs one side once per size and
  reports its peak resident memory above the level reached before the call.
  ``run_all.py`` runs these in separate processes, so that neither side's
  allocations are counted for the other.

Peak memory: the kernel's high-water mark (``VmHWM``, which is also what
``getrusage(RUSAGE_SELF).ru_maxrss`` reports) is reset through
``/proc/self/clear_refs`` right before the call and read right after it; the
resident size at the reset is subtracted. Freed heap memory is first handed back
to the system (``malloc_trim``) so that it is not silently reused. Where the
reset is not allowed, the fallback is ``ru_maxrss`` after the call minus
``ru_maxrss`` before it (a lower bound when earlier work peaked higher).

Keep the heavy imports inside functions: ``--help`` must be instant.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "data_cache" / "benchmarks"
MIB = 1024.0 * 1024.0


# --------------------------------------------------------------------------- arguments
def make_parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--side", choices=("both", "ours", "peer"), default="both",
                   help="both: time ours and the peer in this process and check agreement; "
                        "ours/peer: run one side once per size and report its peak RSS")
    p.add_argument("--quick", action="store_true", help="small sizes (a few trials)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny random inputs, one repeat (checks that the script runs)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed runs per side (default 3, --quick 2, --smoke 1)")
    p.add_argument("--sizes", type=str, default=None,
                   help="comma-separated trial multipliers of 288 (default per script)")
    p.add_argument("--json", type=str, default=None, help="write the results to this file")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    return p


def setup(args):
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*standard_1020.*")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.repeats is None:
        args.repeats = 1 if args.smoke else (2 if args.quick else 3)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def parse_sizes(args, default):
    if args.sizes:
        return [int(s) for s in args.sizes.split(",") if s.strip()]
    return list(default)


# ------------------------------------------------------------------------------ inputs
def load_trials():
    """Held-out session "1test" of the simulated BCI IV 2a data of the shipped model.

    Simulated once and cached as ``data_cache/benchmarks/bcic_1test.npz`` (the
    simulation takes seconds and a few hundred MB that the memory runs must not
    see).
    """
    import numpy as np

    path = CACHE / "bcic_1test.npz"
    if not path.exists():
        from neuroxai.data import simulate_bcic_iv_2a
        from neuroxai.models import load_pretrained

        _, _, meta = load_pretrained(verbose=False)
        params = meta.get("dataset_params", dict(regime="spectral", snr=0.7, seed=0))
        sim = simulate_bcic_iv_2a(**{**params, "n_sessions": 2}, verbose=False)
        test = sim.trials.select(meta.get("test_session", "1test"))
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, X=test.X.astype(np.float32), y=np.asarray(test.y, dtype=np.int64),
                 ch_names=np.array(list(test.info.ch_names)),
                 class_names=np.array(list(test.class_names)))
        os.replace(tmp, path)
    with np.load(path) as f:
        return f["X"], f["y"], [str(c) for c in f["ch_names"]], [str(c) for c in f["class_names"]]


def load_sessions():
    """Both sessions ("0train", "1test") of the simulated data of the shipped model.

    Returns a dict: ``X_train``, ``y_train``, ``X_test``, ``y_test`` (float32 / int64),
    ``ch_names``, ``class_names``, ``sfreq``, ``tmin``, ``dataset_params``. Cached as
    ``data_cache/benchmarks/bcic_sessions.npz`` like :func:`load_trials`.
    """
    import numpy as np

    path = CACHE / "bcic_sessions.npz"
    if not path.exists():
        from neuroxai.data import simulate_bcic_iv_2a
        from neuroxai.models import load_pretrained

        _, _, meta = load_pretrained(verbose=False)
        params = {**meta.get("dataset_params", dict(regime="spectral", snr=0.7, seed=0)),
                  "n_sessions": 2}
        sim = simulate_bcic_iv_2a(**params, verbose=False)
        tr = sim.trials.select("0train")
        te = sim.trials.select(meta.get("test_session", "1test"))
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, X_train=tr.X.astype(np.float32), y_train=np.asarray(tr.y, np.int64),
                 X_test=te.X.astype(np.float32), y_test=np.asarray(te.y, np.int64),
                 ch_names=np.array(list(te.info.ch_names)),
                 class_names=np.array(list(te.class_names)), sfreq=float(te.info["sfreq"]),
                 tmin=float(te.tmin), dataset_params=json.dumps(params))
        os.replace(tmp, path)
    with np.load(path) as f:
        out = {k: f[k] for k in ("X_train", "y_train", "X_test", "y_test")}
        out.update(ch_names=[str(c) for c in f["ch_names"]],
                   class_names=[str(c) for c in f["class_names"]], sfreq=float(f["sfreq"]),
                   tmin=float(f["tmin"]), dataset_params=json.loads(str(f["dataset_params"])))
    return out


def tiled(X, y, n_trials):
    """The first ``n_trials`` of ``X`` tiled (2x, 4x the session: the same trials repeated)."""
    import numpy as np

    reps = -(-n_trials // len(X))
    return (np.ascontiguousarray(np.concatenate([X] * reps)[:n_trials]),
            np.concatenate([y] * reps)[:n_trials])


def load_model():
    from neuroxai.models import load_pretrained

    model, _, _ = load_pretrained(verbose=False)
    return model.eval()


def trial_sizes(args, mults, quick_base=16, base=288):
    """[(label, n_trials, repeats)] for the multipliers; --quick uses ``quick_base`` trials
    per unit. Sizes above 1x are timed once (they show how the cost grows)."""
    unit = 4 if args.smoke else (quick_base if args.quick else base)
    return [(f"{m}x ({m * unit} trials)", m * unit, None if m == 1 else 1) for m in mults]


# ------------------------------------------------------------------------------ measuring
def _malloc_trim():
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except Exception:  # not glibc: nothing to trim
        pass


def _status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure_peak(fn):
    """Run ``fn()`` once; return (result, seconds, peak MiB above the level before the call)."""
    import resource

    gc.collect()
    _malloc_trim()
    if _reset_peak():
        base = _status_kib("VmRSS")
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        peak = _status_kib("VmHWM")
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out, dt, max(peak - base, 0) / 1024.0


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


# ------------------------------------------------------------------------------ cases
@dataclass
class Case:
    """One comparison at one size.

    ``ours``/``peer`` are zero-argument callables on inputs prepared beforehand
    (by ``prepare``, which runs before any measurement). ``agree(ours_result,
    peer_result)`` returns a dict of numbers (``max_abs``, ``max_rel``, ...) and
    a short text. ``peer`` may be None (not affordable at this size);
    ``peer_scale`` multiplies the peer's time when the peer runs a fraction of
    the work (extrapolated; reported as such).
    """

    comparison: str
    size: str
    prepare: Callable[[], Any]
    ours: Callable[[Any], Any]
    peer: Callable[[Any], Any] | None
    agree: Callable[[Any, Any], tuple[dict, str]] | None = None
    ours_label: str = ""
    peer_label: str = ""
    peer_scale: float = 1.0  # multiplies the peer's time (it ran 1 / peer_scale of the work)
    peer_peak_scale: float = 1.0  # multiplies the peer's peak (when it grows with the work)
    ours_scale: float = 1.0  # multiplies our time (ours ran 1 / ours_scale of the work)
    ours_note: str = ""
    peer_note: str = ""
    targets: dict = field(default_factory=dict)  # name -> (quantity, op, value)
    agree_case: Any = None  # optional separate small Case-like (prepare, ours, peer) for agreement
    extra: Callable[[Any, Any], dict] | None = None  # extra numbers from (inputs, ours result)
    repeats: int | None = None  # overrides --repeats (e.g. 1 for the big sizes)
    warmup: bool = False  # run each side once, untimed, first (cheap cases: first-call costs)


def _fmt_agree(d):
    return ", ".join(f"{k} {v:.2e}" if isinstance(v, float) else f"{k} {v}" for k, v in d.items())


def run_cases(cases, args, script):
    results = []
    for case in cases:
        rec = dict(comparison=case.comparison, size=case.size, ours=case.ours_label,
                   peer=case.peer_label, side=args.side, peer_note=case.peer_note,
                   peer_scale=case.peer_scale, peer_peak_scale=case.peer_peak_scale,
                   ours_scale=case.ours_scale, ours_note=case.ours_note,
                   targets=case.targets, script=script)
        print(f"\n== {case.comparison} | {case.size}", flush=True)
        inputs = case.prepare()
        if args.side in ("ours", "peer"):
            fn = case.ours if args.side == "ours" else case.peer
            if fn is None:
                print(f"   {args.side}: not run at this size ({case.peer_note})")
                rec[f"{args.side}_peak_mib"] = None
            else:
                out, dt, peak = measure_peak(partial(fn, inputs))
                t_scale = case.peer_scale if args.side == "peer" else case.ours_scale
                p_scale = case.peer_peak_scale if args.side == "peer" else 1.0
                if t_scale != 1.0 or p_scale != 1.0:
                    dt, peak = dt * t_scale, peak * p_scale
                    print(f"   ({args.side} ran a fraction of the work; time x {t_scale:g}, "
                          f"peak x {p_scale:g})")
                rec[f"{args.side}_peak_mib"] = peak
                rec[f"{args.side}_time_single_s"] = dt
                print(f"   {args.side}: {dt:.3f} s, peak RSS +{peak:.1f} MiB")
                del out
        else:
            t_o, t_p = [], []
            res_o = res_p = None
            n_rep = args.repeats if case.repeats is None else min(case.repeats, args.repeats)
            if case.warmup:
                case.ours(inputs)
                if case.peer is not None:
                    case.peer(inputs)
            for _ in range(n_rep):
                res_o, dt = timed(partial(case.ours, inputs))
                t_o.append(dt * case.ours_scale)
                if case.peer is not None:
                    res_p = None
                    gc.collect()
                    res_p, dt = timed(partial(case.peer, inputs))
                    t_p.append(dt * case.peer_scale)
                gc.collect()
            rec["ours_times_s"] = t_o
            rec["ours_time_s"] = statistics.median(t_o)
            extrap = " (extrapolated)" if case.ours_scale != 1.0 else ""
            line = f"   ours {rec['ours_time_s']:.3f} s{extrap} (median of {len(t_o)}: " \
                   + ", ".join(f"{t:.3f}" for t in t_o) + ")"
            print(line)
            if t_p:
                rec["peer_times_s"] = t_p
                rec["peer_time_s"] = statistics.median(t_p)
                rec["time_ratio"] = rec["peer_time_s"] / rec["ours_time_s"]
                extrap = " (extrapolated)" if case.peer_scale != 1.0 else ""
                print(f"   peer {rec['peer_time_s']:.3f} s{extrap} (median of {len(t_p)}: "
                      + ", ".join(f"{t:.3f}" for t in t_p) + ")")
                print(f"   time ratio peer/ours: {rec['time_ratio']:.2f}x")
            else:
                print(f"   peer not run at this size ({case.peer_note})")
            if case.extra is not None:
                rec["extra"] = case.extra(inputs, res_o)
                print(f"   extra: {_fmt_agree(rec['extra'])}")
            if case.agree_case is not None:
                prep, f_o, f_p = case.agree_case
                small = prep()
                nums, text = case.agree(f_o(small), f_p(small))
                rec["agreement"], rec["agreement_text"] = nums, text
                print(f"   agreement (on the smaller agreement case): {text}")
            elif case.agree is not None and res_p is not None:
                nums, text = case.agree(res_o, res_p)
                rec["agreement"], rec["agreement_text"] = nums, text
                print(f"   agreement: {text}")
            del res_o, res_p
        del inputs
        gc.collect()
        results.append(rec)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1, default=_json_default))
    return results


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    return str(o)


# ------------------------------------------------------------------------------ agreement
def diff(a, b, scale=None):
    """max |a - b|, that over max |b| (relative to the map's scale), and allclose-style rel."""
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    d = np.abs(a - b)[ok]
    max_abs = float(d.max()) if d.size else float("nan")
    ref = float(np.abs(b[ok]).max()) if scale is None else float(scale)
    return dict(max_abs=max_abs, max_rel=max_abs / ref if ref > 0 else float("nan"))


def agree_text(d):
    return _fmt_agree(d)


def main_for(script, description, build_cases):
    parser = make_parser(description)
    args = parser.parse_args()
    setup(args)
    cases = build_cases(args)
    run_cases(cases, args, script)
    return 0


if __name__ == "__main__":
    sys.exit("This module is imported by the bench_*.py scripts.")
