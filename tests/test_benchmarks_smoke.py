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
                 "bench_jacobian.py", "bench_igc.py", "bench_metrics.py", "bench_audit.py",
                 "bench_tutorial.py"):
        assert (BENCH / name).exists(), name


def test_amplitude_gradients_smoke_end_to_end(tmp_path):
    """Both sides on 4 trials: ours (with the data's info) equals braindecode x batch size."""
    out = tmp_path / "amp.json"
    p = _run([str(BENCH / "bench_amplitude_gradients.py"), "--smoke", "--sizes", "1",
              "--json", str(out)], timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    (rec,) = json.loads(out.read_text())
    assert rec["comparison"] == "Amplitude gradients"
    assert rec["agreement"]["max_rel"] < 1e-4


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


@pytest.mark.slow
def test_tutorial_quick_agreement(tmp_path):
    """The tutorial's workload, braindecode vs neuroxai (24 + 16 trials, 8 IG steps): every
    output agrees where braindecode is correct, and its known errors are reported."""
    out = tmp_path / "tutorial.json"
    p = _run([str(BENCH / "bench_tutorial.py"), "--quick", "--concurrent", "--json", str(out)],
             timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    (rec,) = json.loads(out.read_text())
    assert rec["ours_time_s"] > 0 and rec["peer_time_s"] > 0
    assert rec["ours_peak_mib"] > 0 and rec["peer_peak_mib"] > 0
    checks = rec["checks"]
    assert set(checks) >= {"amplitude gradients", "Haufe formula", "Haufe patterns",
                           "correct trials", "saliency", "integrated_gradients",
                           "DeepLIFT completeness (ours)", "per-channel agreement",
                           "label randomisation", "cascade levels", "12 metrics + 4 SSIM"}
    assert all(checks.values()), {k: v for k, v in checks.items() if not v}
    nums = rec["agreement"]
    assert nums["checks_failed"] == 0
    # equal where braindecode is correct (float32 maps) ...
    for key in ("amp_grads_rel", "haufe_rel", "saliency_rel", "integrated_gradients_rel"):
        assert nums[key] < 1e-4, (key, nums[key])
    assert nums["label_r_absdiff"] < 1e-4 and nums["metrics_absdiff"] < 1e-6
    assert nums["deeplift_completeness_ours"] < 1e-3
    # ... and its known errors show: batch-mean gradients (24 trials in batches of 16 and 8),
    # incomplete DeepLIFT, one mutated model for every cascade level
    assert nums["amp_grads_raw_rel"] > 0.5 and nums["mean_grads_rel"] > 0.1
    assert nums["deeplift_completeness_peer"] > 0.1
    assert nums["cascade_distinct_objects"] == 1
    assert "CHECKS: 11/11 passed" in p.stdout
