"""The whole audit: wall time and peak RSS of the ``neuroxai`` command (no peer).

Runs ``.venv/bin/neuroxai --out DIR --quiet`` (the main job = the whole attribution audit
on the embedded default, ``neuroxai report`` with its defaults) under ``/usr/bin/time -v``
and reads "Elapsed (wall clock) time" and "Maximum resident set size"; ``--repeats`` runs
(default 3), median wall time and largest peak. Each run starts a fresh process, imports
included.

    python benchmarks/bench_audit.py [--quick] [--json OUT] [--repeats N]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _exe():
    exe = Path(sys.executable).parent / "neuroxai"
    return str(exe) if exe.exists() else shutil.which("neuroxai")


def run_timed(cmd, timeout):
    """(wall s, peak RSS MiB, returncode, tail of output) of one command."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    use_timev = os.path.exists("/usr/bin/time")
    full = (["/usr/bin/time", "-v"] if use_timev else []) + cmd
    t0 = time.perf_counter()
    try:
        p = subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=env,
                           cwd=ROOT)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - t0, None, "timeout", ""
    wall = time.perf_counter() - t0
    peak = None
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    if m:
        peak = int(m.group(1)) / 1024.0
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", p.stderr)
    if m:
        parts = [float(x) for x in m.group(1).split(":")]
        wall = sum(v * 60 ** i for i, v in enumerate(reversed(parts)))
    return wall, peak, p.returncode, (p.stdout + p.stderr)[-1500:]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="main job on 32 trials only")
    ap.add_argument("--smoke", action="store_true", help="same as --quick")
    ap.add_argument("--json", default=None)
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--side", default="both", help="ignored (no peer); for run_all")
    ap.add_argument("--threads", type=int, default=None, help="ignored; for run_all")
    ap.add_argument("--repeats", type=int, default=None, help="runs (default 3; --quick 1)")
    args = ap.parse_args()
    exe = _exe()
    results = []
    repeats = args.repeats or (1 if args.quick or args.smoke else 3)
    quick = args.quick or args.smoke
    with tempfile.TemporaryDirectory(prefix="neuroxai_bench_") as tmp:
        cmd = [exe, "--out", str(Path(tmp) / "main"), "--quiet"] + (
            ["--n-trials", "8"] if quick else [])
        print(f"\n== audit | neuroxai {' '.join(cmd[1:])}", flush=True)
        walls, peaks, rc = [], [], 0
        for _ in range(repeats):
            wall, peak, rc, tail = run_timed(cmd, args.timeout)
            print(f"   wall {wall:.1f} s, peak RSS {peak if peak is None else round(peak)} MiB, "
                  f"exit {rc}", flush=True)
            if rc != 0:
                print("   output tail:\n" + tail)
                break
            walls.append(wall)
            peaks.append(peak)
        import statistics

        rec = dict(comparison="Whole audit: `neuroxai` (= `neuroxai report`)",
                   size="defaults: 288 held-out trials, 64 audited" if not quick else "8 trials",
                   ours="neuroxai --out DIR --quiet", peer="(none)", side="both",
                   ours_time_s=statistics.median(walls) if walls else None,
                   ours_times_s=walls,
                   ours_peak_mib=max(peaks) if peaks and None not in peaks else None,
                   ours_peak_is_total=True, returncode=rc, script=__file__,
                   targets={"< 60 s": ("ours_time_s", "<", 60.0),
                            "< 1 GiB": ("ours_peak_mib", "<", 1024.0)})
        if rc != 0:
            rec["agreement_text"] = f"FAILED (exit {rc})"
        results.append(rec)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
