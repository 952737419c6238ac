"""The benchmark scripts start (``--help``) and one runs end to end on tiny inputs.

Not a timing test: the real numbers come from ``python benchmarks/run_all.py``.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCH.glob("bench_*.py")) + ["run_all.py"]


def _run(args, timeout):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=BENCH.parent)


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_help(script):
    p = _run([str(BENCH / script), "--help"], timeout=60)
    assert p.returncode == 0, p.stderr
    assert "usage" in p.stdout.lower()


def test_expected_scripts_exist():
    for name in ("bench_amplitude_gradients.py", "bench_haufe.py", "bench_captum.py",
                 "bench_jacobian.py", "bench_igc.py", "bench_metrics.py", "bench_audit.py"):
        assert (BENCH / name).exists(), name


def test_haufe_smoke_end_to_end(tmp_path):
    """Tiny random inputs: both sides timed in one process, results agree, JSON written."""
    out = tmp_path / "haufe.json"
    p = _run([str(BENCH / "bench_haufe.py"), "--smoke", "--sizes", "1", "--json", str(out)],
             timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    (rec,) = json.loads(out.read_text())
    assert rec["comparison"] == "Haufe patterns"
    assert rec["ours_time_s"] > 0 and rec["peer_time_s"] > 0
    # low-rank route (float32 spectra) == explicit float64 covariance, to the target 1e-6
    assert rec["agreement"]["max_rel"] < 1e-6
    assert "time ratio peer/ours" in p.stdout
