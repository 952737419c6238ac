"""Run every benchmark against the peers and write docs/benchmarks.md.

    python benchmarks/run_all.py            # the full set (tens of minutes on 2 cores)
    python benchmarks/run_all.py --quick    # small sizes, a few minutes

Each comparison script runs three times, each in its own process:
``--side both`` (ours and the peer timed in the same process on the same inputs,
agreement checked), then ``--side ours`` and ``--side peer`` (peak RSS of one side,
so that neither side's allocations count for the other). The JSON records go to
``data_cache/benchmarks/run_all/`` (git-ignored) and the table to
``docs/benchmarks.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# script, extra arguments of the full run (sizes: multiples of the 288 trials)
SCRIPTS = {
    "amplitude_gradients": ("bench_amplitude_gradients.py", ["--sizes", "1,2"]),
    "haufe": ("bench_haufe.py", ["--sizes", "1,2,4"]),
    "captum": ("bench_captum.py", []),
    "jacobian": ("bench_jacobian.py", []),
    "igc": ("bench_igc.py", ["--ours-trials", "288", "--loop-trials", "1"]),
    "metrics": ("bench_metrics.py", []),
    "audit": ("bench_audit.py", []),
    "tutorial": ("bench_tutorial.py", []),
}
NO_PEER = {"audit"}
# scripts that run both sides themselves, each in its own process: one call, --side both
ONE_CALL = NO_PEER | {"tutorial"}


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    out = subprocess.run([sys.executable, "-c",
                          "import torch, numpy, scipy; print(torch.__version__, numpy.__version__, "
                          "scipy.__version__, torch.get_num_threads())"],
                         capture_output=True, text=True)
    tv, nv, sv, th = (out.stdout.split() + ["?"] * 4)[:4]
    try:
        import importlib.metadata as md

        bd, cap = md.version("braindecode"), md.version("captum")
    except Exception:  # noqa: BLE001
        bd = cap = "?"
    return dict(nproc=os.cpu_count(), cpu=cpu, mem=mem, python=platform.python_version(),
                torch=tv, numpy=nv, scipy=sv, braindecode=bd, captum=cap, torch_threads=th,
                load=os.getloadavg())


def run_script(name, args, out_dir):
    script, extra = SCRIPTS[name]
    base = [sys.executable, str(HERE / script)] + ([] if args.quick else extra)
    if args.quick:
        base.append("--quick")
    if args.threads:
        base += ["--threads", str(args.threads)]
    if args.repeats:
        base += ["--repeats", str(args.repeats)]
    sides = ["both"] if name in ONE_CALL else ["both", "ours", "peer"]
    merged = None
    logs = []
    for side in sides:
        js = out_dir / f"{name}_{side}.json"
        cmd = base + ["--side", side, "--json", str(js)]
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
        if side != "both":
            # large freed blocks go back to the system at once, so that the peak of one
            # call is not hidden by memory an earlier call left in the heap
            env.update(MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        logs.append(f"$ {' '.join(cmd[1:])}\n{p.stdout}{p.stderr[-3000:] if p.returncode else ''}")
        print(f"[{name}/{side}] exit {p.returncode} in {time.perf_counter() - t0:.0f} s",
              flush=True)
        if p.returncode != 0 or not js.exists():
            print(p.stdout[-2000:], p.stderr[-3000:], flush=True)
            continue
        recs = json.loads(js.read_text())
        if merged is None:
            merged = recs
        else:
            for rec, new in zip(merged, recs):
                for k in (f"{side}_peak_mib", f"{side}_time_single_s"):
                    if k in new:
                        rec[k] = new[k]
    (out_dir / f"{name}.log").write_text("\n".join(logs))
    return merged or []


def _extra(paths):
    """Records of separate script runs (e.g. a full-size one-side run) for the table."""
    out = []
    for path in paths:
        for rec in json.loads(Path(path).read_text()):
            rec["extra_json"] = str(path)
            if rec.get("side") in ("ours", "peer"):  # a one-side run: its single time
                side = rec["side"]
                rec.setdefault(f"{side}_time_s", rec.get(f"{side}_time_single_s"))
                rec["size"] += f" ({side} only, one run)"
                rec["targets"] = {k: v for k, v in (rec.get("targets") or {}).items()
                                  if v[0].startswith(side)}
            out.append(rec)
    return out


def _collect(out_dir, only=None):
    records = []
    for name in only or SCRIPTS:
        both = out_dir / f"{name}_both.json"
        if not both.exists():
            continue
        recs = json.loads(both.read_text())
        for side in ("ours", "peer"):
            f = out_dir / f"{name}_{side}.json"
            if f.exists():
                for rec, new in zip(recs, json.loads(f.read_text())):
                    for k in (f"{side}_peak_mib", f"{side}_time_single_s"):
                        if k in new:
                            rec[k] = new[k]
        records += recs
    return records


def _get(rec, q):
    if q in rec:
        return rec[q]
    return (rec.get("agreement") or {}).get(q)


def evaluate(rec):
    if rec.get("ours_peak_mib") and rec.get("peer_peak_mib"):
        rec["peak_ratio"] = rec["peer_peak_mib"] / max(rec["ours_peak_mib"], 1e-9)
    verdicts = []
    for name, (q, op, val) in (rec.get("targets") or {}).items():
        v = _get(rec, q)
        if v is None or v != v:
            verdicts.append((name, None, v))
            continue
        ok = {"<": v < val, "<=": v <= val, ">": v > val, ">=": v >= val}[op]
        verdicts.append((name, ok, v))
    rec["verdicts"] = verdicts
    return rec


def _t(s):
    if s is None:
        return "–"
    return f"{s * 1e3:.0f} ms" if s < 1 else f"{s:.1f} s" if s < 600 else f"{s / 60:.1f} min"


def _m(m):
    return "–" if m is None else f"{m:.0f} MiB" if m < 10240 else f"{m / 1024:.1f} GiB"


def _v(x):
    if x is None or x != x:
        return "n/a"
    ax = abs(x)
    return f"{x:.3g}" if 1e-3 <= ax < 1e5 or x == 0 else f"{x:.1e}"


def render(records, info, args, started, wall):
    lines = [
        "# Benchmarks against the peers",
        "",
        "Generated by `python benchmarks/run_all.py"
        + (" --quick" if args.quick else "") + "`"
        + f" on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}"
        + (f" ({wall / 60:.0f} min)" if wall else "")
        + ". Each comparison times ours and the peer **in the same process, on the same inputs** "
          "(alternating, median of the repeats), checks that the results agree, and measures "
          "each side's peak RSS in a separate process (high-water "
          "mark reset right before the call, resident size at that moment subtracted: the "
          "memory the call itself needs). Ratios are peer / ours (> 1: ours is faster / "
          "smaller).",
        "",
        "## Machine",
        "",
        f"- {info['nproc']} CPUs: {info['cpu']}, {info['mem']} RAM",
        f"- load average at the start: {', '.join(f'{x:.1f}' for x in info['load'])}; "
        f"at the end: {', '.join(f'{x:.1f}' for x in info['load_end'])} "
        "(a machine shared with other jobs: absolute times are noisy, ratios less so)",
        f"- Python {info['python']}, torch {info['torch']} (CPU, "
        f"{args.threads or info['torch_threads']} thread(s) per process), numpy {info['numpy']}, "
        f"scipy {info['scipy']}, braindecode {info['braindecode']}, captum {info['captum']}",
        "- inputs: the shipped checkpoint (`neuroxai.models.load_pretrained()`, "
        "ShallowFBCSPNet(n_chans=22, n_outputs=4, n_times=1125)) and the simulated BCI IV 2a "
        "held-out session \"1test\" (288 trials x 22 channels x 1125 samples, 4 classes), "
        "tiled for 2x / 4x" + (" (**--quick: 16 trials per 1x**)" if args.quick else ""),
    ]
    if getattr(args, "note", None):
        lines += [f"- note: {args.note}"]
    lines += [
        "",
        "## Results",
        "",
        "| comparison | size | ours: time / peak RSS | peer: time / peak RSS | ratio: time / peak "
        "| agreement | targets |",
        "|---|---|---|---|---|---|---|",
    ]
    notes = []
    for r in records:
        ratio_t = r.get("time_ratio")
        ratio_p = r.get("peak_ratio")
        ours = f"{_t(r.get('ours_time_s'))} / {_m(r.get('ours_peak_mib'))}"
        if r.get("ours_peak_is_total"):
            ours += " (total)"
        peer = f"{_t(r.get('peer_time_s'))} / {_m(r.get('peer_peak_mib'))}"
        if r.get("peer_peak_is_total"):
            peer += " (total)"
        if r.get("peer", "") == "(none)":
            peer = "–"
        ratio = f"{'–' if ratio_t is None else f'{ratio_t:.1f}x'} / " \
                f"{'–' if ratio_p is None else f'{ratio_p:.1f}x'}"
        agr = r.get("agreement_text", "–").replace("|", "/")
        tg = "; ".join(f"{'✅' if ok else ('❌' if ok is False else '?')} {n} ({_v(v)})"
                       for n, ok, v in r.get("verdicts", [])) or "–"
        comp = r["comparison"]
        lines.append(f"| {comp} | {r['size']} | {ours} | {peer} | {ratio} | {agr} | {tg} |")
        for key in ("peer_note", "ours_note"):
            if r.get(key):
                notes.append(f"- {comp}, {r['size']}: {r[key]}.")
        if r.get("extra"):
            notes.append(f"- {comp}, {r['size']}: " + ", ".join(
                f"{k} {_v(v)}" for k, v in r["extra"].items()) + ".")
    lines += ["", "What each side runs:", ""]
    seen = set()
    for r in records:
        key = (r["comparison"], r.get("ours"), r.get("peer"))
        if key in seen:
            continue
        seen.add(key)
        lines.append(f"- **{r['comparison']}**: ours `{r.get('ours')}`; peer `{r.get('peer')}`.")
    if notes:
        lines += ["", "Extrapolations and notes:", ""] + notes
    lines += ["", "Logs and raw JSON of this run: `data_cache/benchmarks/run_all/` (git-ignored).",
              "Rerun one comparison with e.g. `python benchmarks/bench_haufe.py --side both`; "
              "every script takes `--quick`, `--side both|ours|peer`, `--repeats`, `--sizes`.", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (minutes)")
    ap.add_argument("--only", nargs="+", choices=list(SCRIPTS), default=None)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads per process (default 1: on a loaded 2-core machine "
                         "more threads only contend)")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats (default 3)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="comparisons run concurrently (ratios stay same-process; absolute "
                         "times get slower)")
    ap.add_argument("--extra-json", nargs="*", default=[],
                    help="more result files (from a script's --json) to add to the table")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--note", default=None, help="a line added under Machine")
    ap.add_argument("--render-only", action="store_true",
                    help="rewrite the table from the last run's all.json (plus --extra-json)")
    args = ap.parse_args()
    out_dir = ROOT / "data_cache" / "benchmarks" / "run_all"
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        if (out_dir / "all.json").exists():
            saved = json.loads((out_dir / "all.json").read_text())
            info, records = saved["machine"], saved["records"]
            started, wall = saved.get("started", time.time()), saved.get("wall", 0.0)
            args.quick = saved.get("quick", args.quick)
            args.threads = saved.get("threads", args.threads)
        else:  # an interrupted run: collect what each script wrote
            info, records, started, wall = machine(), _collect(out_dir, args.only), time.time(), 0.0
            info["load_end"] = os.getloadavg()
        records = [r for r in records if not r.get("extra_json")]
        records += _extra(args.extra_json)
        records = [evaluate(r) for r in records]
        Path(args.out).write_text(render(records, info, args, started, wall))
        print(f"wrote {args.out}")
        return 0
    started = time.time()
    info = machine()
    names = args.only or list(SCRIPTS)
    with ThreadPoolExecutor(max(1, args.jobs)) as ex:
        results = dict(zip(names, ex.map(lambda n: run_script(n, args, out_dir), names)))
    records = [rec for n in names for rec in results[n]]
    records += _extra(args.extra_json)
    records = [evaluate(r) for r in records]
    info["load_end"] = os.getloadavg()
    wall = time.time() - started
    (out_dir / "all.json").write_text(json.dumps(
        dict(machine=info, records=records, started=started, wall=wall, quick=args.quick,
             threads=args.threads), indent=1, default=str))
    md = render(records, info, args, started, wall)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(md)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
