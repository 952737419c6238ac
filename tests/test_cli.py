import json

from neuroxai.cli import main


def test_main_job_writes_figures(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--out", str(out), "--n-trials", "16", "--quiet"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"amplitude_gradients_topomaps.png", "haufe_patterns_topomaps.png",
            "spectral_attributions.npz", "summary.json"} <= names
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_trials"] == 16 and 0 <= summary["accuracy"] <= 1


def test_cli_reports_unavailable_checkpoint_clearly(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEUROXAI_CACHE", str(tmp_path / "cache"))
    code = main(["--out", str(tmp_path), "--checkpoint", "someone/missing-repo", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "not in the cache" in err and "shallow_simulated" in err
