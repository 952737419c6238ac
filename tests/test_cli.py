import json

import numpy as np

from neuroxai.cli import main


def test_main_job_writes_the_report(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--out", str(out), "--n-trials", "8", "--quiet"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "figures", "tables", "spectral_attributions.npz",
            "summary.json"} <= names
    for key in ("amplitude_gradients", "haufe_patterns", "sanity_checks", "igc_time"):
        png = out / "figures" / f"{key}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_trials_audited"] == 8 and 0.8 <= summary["accuracy"] <= 1
    assert summary["peak_rss_mib"] > 0 and summary["seconds"] > 0
    with np.load(out / "spectral_attributions.npz") as npz:
        # the spectral figures use every held-out trial, not only the audited subset
        assert npz["haufe_patterns"].shape == (4, 22, 563)
        assert list(npz["class_names"]) == ["feet", "left_hand", "right_hand", "tongue"]
    assert capsys.readouterr().out == ""  # --quiet


def test_cli_reports_unavailable_checkpoint_clearly(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEUROXAI_CACHE", str(tmp_path / "cache"))
    code = main(["--out", str(tmp_path), "--checkpoint", "someone/missing-repo", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "not in the cache" in err and "shallow_simulated" in err
