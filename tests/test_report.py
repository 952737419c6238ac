import json
import re

import pytest

from neuroxai import UnknownNameError
from neuroxai.cli import main
from neuroxai.report import run_audit


@pytest.fixture(scope="module")
def small_audit(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    return run_audit(methods=["saliency", "envelope"], n_trials=8, n_sanity_trials=4,
                     out_dir=out, encoder=True, igc=True, progress=False)


def test_report_html_holds_every_figure_and_table(small_audit):
    html = small_audit.report_path.read_text()
    expected = {"amplitude_gradients", "haufe_patterns", "method_agreement", "sanity_checks",
                "metric_table", "ground_truth", "igc_time", "igc_spectral", "jacobian_maps"}
    assert set(small_audit.figures) == expected
    for key, path in small_audit.figures.items():
        assert path.is_file() and path.stat().st_size > 10_000, key
    # mne.Report embeds each figure as an inline image
    assert len(re.findall(r"<img class=\"figure-img[^>]+\s+src=\"data:image/png;base64",
                          html)) == len(expected)
    for title in ("Summary", "Table: sanity", "Table: metrics", "Versions and parameters"):
        assert title in html
    assert "accuracy" in html and "braindecode" in html


def test_report_summary_and_verdicts(small_audit):
    summary = json.loads((small_audit.out_dir / "summary.json").read_text())
    assert summary["n_trials_audited"] == 8 and 0 <= summary["accuracy"] <= 1
    verdicts = {(v["method"], v["test"]): v["verdict"] for v in summary["verdicts"]}
    # a map computed from the input alone ignores the model: it must fail both checks
    assert verdicts[("envelope", "cascading")] == "FAIL"
    assert verdicts[("envelope", "label")] == "FAIL"
    assert (small_audit.out_dir / "tables" / "sanity.csv").is_file()
    assert (small_audit.out_dir / "tables" / "metrics.csv").is_file()
    html = small_audit.report_path.read_text()
    assert "envelope</b>: does not pass" in html
    assert "necessary, not sufficient" in html
    assert summary["model"]["above_chance"] and "held-out session" in summary["model"][
        "evaluated_on"]


def test_report_bad_input(tmp_path, capsys, monkeypatch):
    with pytest.raises(UnknownNameError, match="saliency"):
        run_audit(methods=["salency"], out_dir=tmp_path)
    monkeypatch.setenv("NEUROXAI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MNE_DATA", raising=False)
    assert main(["report", "--dataset", "BNCI2014_001", "--out", str(tmp_path / "r"),
                 "--quiet"]) == 1  # data not on disk and no network: a runtime error
    assert "simulate_bcic_iv_2a" in capsys.readouterr().err


def test_audit_warnings_kept_once_per_step_kind_and_subject():
    import warnings as _w

    from neuroxai.report._audit import Audit

    ctx = Audit.__new__(Audit)  # only the warning bookkeeping is exercised
    ctx.warnings = {}
    with _w.catch_warnings(record=True) as caught:
        _w.simplefilter("always")
        for err in (10, 20, 30):
            _w.warn(f"integrated_gradients: misses by {err}%", UserWarning, stacklevel=2)
        _w.warn("gradient_shap: misses by 5%", UserWarning, stacklevel=2)
    ctx.note_warnings("sanity", caught)
    ctx.note_warnings("attributions", caught[:1])
    lines = ctx.warning_lines()
    assert lines == ["sanity: UserWarning: integrated_gradients: misses by 10% "
                     "(and 2 more of this kind in this step)",
                     "sanity: UserWarning: gradient_shap: misses by 5%",
                     "attributions: UserWarning: integrated_gradients: misses by 10%"]


def test_shipped_encoder_only_for_its_dataset():
    from neuroxai.models.encoder import ContrastiveEEGEncoder
    from neuroxai.models.train import DEFAULT_RECIPE
    from neuroxai.report._sources import shipped_encoder

    enc = shipped_encoder(DEFAULT_RECIPE["data"])
    assert isinstance(enc, ContrastiveEEGEncoder) and not enc.training
    assert shipped_encoder(dict(DEFAULT_RECIPE["data"], seed=1)) is None
