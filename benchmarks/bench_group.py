"""Group run: subject maps serial vs joblib ``n_jobs=2`` vs a Dask LocalCluster (no peer).

Modes: ``serial`` (n_jobs=1), ``joblib`` (n_jobs=2, loky worker processes), ``dask``
(LocalCluster, 2 worker processes) and ``dask_threads`` (LocalCluster, processes=False: 2
worker threads in this process, as in the test suite).
The workload: simulated subjects (``simulate_subjects``), the shipped checkpoint shared,
spectral IGC maps per subject (``compute_subject_maps``, no cache). Each mode runs in a
fresh process: wall time of the call (worker start-up included; for Dask the cluster's
start-up is timed apart) and the peak memory of the whole process tree (this process plus
every worker, sampled every 0.25 s; PSS, and RSS which counts the shared
libraries once per process). The maps of every mode are compared
with the serial run's, bit for bit.

    python benchmarks/bench_group.py [--quick] [--json OUT] [--subjects N] [--trials N]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ("serial", "joblib", "dask", "dask_threads")
LABELS = {"joblib": "joblib n_jobs=2 (loky processes)",
          "dask": "Dask LocalCluster, 2 worker processes",
          "dask_threads": "Dask LocalCluster, 2 worker threads (processes=False)"}


def _pss(pid, default):
    """Proportional set size in bytes from /proc/PID/smaps_rollup (one cheap read; psutil's
    full memory info parses every mapping); ``default`` where the kernel has none."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return default


class TreePeak:
    """Peak memory (MiB) of this process and all its descendants, sampled in a thread.

    Both the sum of resident sizes (RSS: every worker's copy of the shared torch / MNE
    libraries counted again) and of proportional set sizes (PSS: shared pages split
    between the processes that map them, so the sum is what the tree really occupies).
    """

    def __init__(self, interval=0.25):
        import psutil

        self.proc, self.interval = psutil.Process(), interval
        self.peak = self.peak_pss = 0.0
        self.cpu = {}  # CPU seconds of every process seen (last sample)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sizes(self):
        import psutil

        rss = pss = 0
        for p in [self.proc] + self.proc.children(recursive=True):
            try:
                r = p.memory_info().rss
                t = p.cpu_times()
            except psutil.Error:  # a worker that just ended
                continue
            rss += r
            pss += _pss(p.pid, r)
            self.cpu[p.pid] = t.user + t.system
        return rss / 2**20, pss / 2**20

    def rss(self):
        return self.sizes()[0]

    def _sample(self):
        rss, pss = self.sizes()
        self.peak, self.peak_pss = max(self.peak, rss), max(self.peak_pss, pss)

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


def child(mode, n_subjects, n_trials, params, out):
    """One mode, in this (fresh) process."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from neuroxai.group import compute_subject_maps, simulate_subjects
    from neuroxai.models import load_pretrained

    subs = simulate_subjects(n_subjects, n_trials=n_trials, verbose=False)
    model = load_pretrained(verbose=False)[0]
    kw = dict(methods="igc", method_params={"igc": params}, cache_dir=False, verbose=False)
    record = dict(mode=mode)
    with TreePeak() as mem:
        record["rss_before_mib"] = mem.rss()
        cpu0 = dict(mem.cpu)
        if mode.startswith("dask"):
            import joblib
            from distributed import Client, LocalCluster

            t0 = time.perf_counter()
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=mode == "dask",
                              dashboard_address="127.0.0.1:0",
                              worker_dashboard_address="127.0.0.1:0") as cluster, \
                    Client(cluster):
                record["cluster_start_s"] = time.perf_counter() - t0
                with joblib.parallel_config(backend="dask"):
                    t0 = time.perf_counter()
                    maps = compute_subject_maps(subs, model, **kw)
                    record["wall_s"] = time.perf_counter() - t0
        else:
            t0 = time.perf_counter()
            maps = compute_subject_maps(subs, model, n_jobs=1 if mode == "serial" else 2, **kw)
            record["wall_s"] = time.perf_counter() - t0
    record["peak_tree_mib"], record["peak_tree_pss_mib"] = mem.peak, mem.peak_pss
    record["cpu_s"] = sum(mem.cpu.values()) - sum(cpu0.values())
    np.savez(out, **{str(s): a.data for s, a in maps["igc"].items()})
    print(json.dumps(record))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 subjects x 16 trials")
    ap.add_argument("--smoke", action="store_true", help="same as --quick")
    ap.add_argument("--subjects", type=int, default=10)
    ap.add_argument("--trials", type=int, default=48)
    ap.add_argument("--baselines", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--json", default=None)
    ap.add_argument("--side", default="both", help="ignored (no peer); for run_all")
    ap.add_argument("--repeats", type=int, default=1, help="ignored: one run per mode")
    ap.add_argument("--sizes", default=None, help="ignored")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick or args.smoke:
        args.subjects, args.trials = 3, 16
    params = dict(n_baselines=args.baselines, n_steps=args.steps)
    if args.child:
        child(args.child[0], args.subjects, args.trials, params, args.child[1])
        return 0
    import numpy as np

    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg", HF_HUB_OFFLINE="1")
    records, maps = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes:
            out = Path(tmp) / f"{mode}.npz"
            load = os.getloadavg()
            p = subprocess.run([sys.executable, __file__, "--child", mode, str(out),
                                "--subjects", str(args.subjects), "--trials", str(args.trials),
                                "--baselines", str(args.baselines), "--steps",
                                str(args.steps)], capture_output=True, text=True, env=env,
                               cwd=ROOT)
            if p.returncode:
                print(p.stdout[-2000:], p.stderr[-4000:], file=sys.stderr)
                return 1
            rec = json.loads(p.stdout.strip().splitlines()[-1])
            rec["load_before"] = load
            records[mode] = rec
            with np.load(out) as z:
                maps[mode] = {k: z[k] for k in z.files}
            print(f"{mode:7s} {rec['wall_s']:7.1f} s ({rec['cpu_s']:.0f} s CPU), peak of all "
                  f"processes: PSS "
                  f"{rec['peak_tree_pss_mib']:6.0f} MiB, RSS {rec['peak_tree_mib']:6.0f} MiB"
                  + (f" (cluster start {rec['cluster_start_s']:.1f} s)" if "cluster_start_s" in rec
                     else "") + f"; load average before {load[0]:.1f}", flush=True)
    ref = maps.get("serial")
    out_records = []
    for mode, rec in records.items():
        if ref is not None and mode != "serial":
            diff = max(float(np.abs(maps[mode][k] - ref[k]).max()) for k in ref)
            equal = all(np.array_equal(maps[mode][k], ref[k]) for k in ref)
            rec["max_abs_diff"], rec["bit_identical"] = diff, equal
            ratio = records["serial"]["wall_s"] / rec["wall_s"]
            print(f"{mode}: serial / parallel wall time {ratio:.2f}x; maps bit-identical to "
                  f"serial: {equal} (max |diff| {diff:.1e})")
            out_records.append(dict(
                comparison=f"Group run ({LABELS[mode]}) vs serial",
                size=f"{args.subjects} subjects x {args.trials} trials, IGC "
                     f"{args.baselines}x{args.steps}",
                ours=f"compute_subject_maps, {LABELS[mode]}",
                peer="compute_subject_maps(n_jobs=1)",
                ours_time_s=rec["wall_s"], peer_time_s=records["serial"]["wall_s"],
                ours_peak_mib=rec["peak_tree_pss_mib"],
                peer_peak_mib=records["serial"]["peak_tree_pss_mib"],
                ours_peak_is_total=True, time_ratio=ratio,
                peak_ratio=records["serial"]["peak_tree_pss_mib"] / rec["peak_tree_pss_mib"],
                agreement_text=("bit-identical maps" if equal else
                                f"max |diff| {diff:.1e}"), extra=rec))
    if args.json:
        Path(args.json).write_text(json.dumps(out_records, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
