import json

import pytest

from neuroxai.attribution import read_attribution
from neuroxai.cli import main


def test_main_job_writes_the_report(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--out", str(out), "--n-trials", "8", "--quiet"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "figures", "tables", "haufe_patterns-attr.npz",
            "amplitude_gradients-attr.npz", "summary.json"} <= names
    for key in ("amplitude_gradients", "haufe_patterns", "sanity_checks", "igc_time"):
        png = out / "figures" / f"{key}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_trials_audited"] == 8 and 0.8 <= summary["accuracy"] <= 1
    assert summary["peak_rss_mib"] > 0 and summary["seconds"] > 0
    # the spectral figures use every held-out trial, not only the audited subset
    patterns = read_attribution(out / "haufe_patterns-attr.npz")
    assert patterns.shape == (4, 22, 563) and patterns.freqs[-1] == pytest.approx(125.0, abs=0.2)
    assert patterns.class_names == ["feet", "left_hand", "right_hand", "tongue"]
    assert summary["model"]["above_chance"] and summary["p_value"] < 1e-10
    assert capsys.readouterr().out == ""  # --quiet


def test_cli_reports_unavailable_checkpoint_clearly(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEUROXAI_CACHE", str(tmp_path / "cache"))
    code = main(["--out", str(tmp_path), "--checkpoint", "someone/missing-repo", "--quiet"])
    assert code == 1  # a download that cannot happen: a runtime error, not a usage error
    err = capsys.readouterr().err
    assert "not in the cache" in err and "shallow_simulated" in err
