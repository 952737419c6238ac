"""The ground-truth benchmark table (neuroxai.benchmark) on a tiny configuration."""
import numpy as np
import pandas as pd
import pytest

from neuroxai._utils import InvalidInputError, UnknownNameError
from neuroxai.benchmark import (
    BENCHMARK_BANDS,
    _balanced_subset,
    band_masks_from_freq_mask,
    run_xai_benchmark,
)

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

METHODS = ["saliency", "envelope", "guided_backprop"]
N_TRIALS = 8


@pytest.fixture(scope="module")
def table():
    # the shipped spectral model, 8 held-out trials (2 per class)
    return run_xai_benchmark(methods=METHODS, regimes=["spectral"], n_trials=N_TRIALS,
                             n_bootstrap=200, return_maps=True, progress=False, verbose=False)


@pytest.fixture(scope="module")
def evaluated(table, sim_spectral, shipped_model):
    """The model and the exact trials the table evaluated, rebuilt independently."""
    test = sim_spectral.trials.select("1test")
    idx = np.asarray(table.params["trial_index"]["spectral"])
    return shipped_model[0], test.X[idx], test.y[idx], sim_spectral.ground_truth


def test_structure(table):
    df = table.data
    assert list(df["method"]) == METHODS
    assert set(df["regime"]) == {"spectral"}
    assert df["n_trials"].eq(N_TRIALS).all()
    for col in ("mass_accuracy", "roc_auc", "label_r", "label_ci_low", "label_verdict",
                "cascade_r", "cascade_ci_high", "cascade_verdict", "accurate", "ok", "wall_s",
                "cpu_s"):
        assert col in df.columns
    ok = df[df["status"] == "ok"]
    assert (ok["label_ci_low"] <= ok["label_r"]).all()
    assert (ok["label_r"] <= ok["label_ci_high"]).all()
    assert ok["roc_auc"].between(0, 1).all() and ok["mass_accuracy"].between(0, 1).all()
    assert (ok["mask"] == "chan x time").all()
    # balanced subset of the held-out session
    idx = table.params["trial_index"]["spectral"]
    assert len(idx) == N_TRIALS == len(set(idx))
    y = table.results[("spectral", "saliency")]["maps"]["y"]
    assert np.bincount(y, minlength=4).tolist() == [2, 2, 2, 2]

    wide = table.wide()
    assert list(wide.index) == METHODS
    assert ("spectral", "cascade_r") in wide.columns and ("all", "ok") in wide.columns
    md = table.to_markdown()
    for m in METHODS:
        assert f"`{m}`" in md
    assert "| --- |" in md and "undefined" in md
    assert "BenchmarkTable" in repr(table)


def test_undefined_method_row(table):
    row = table.data.set_index("method").loc["guided_backprop"]
    assert row["status"] == "undefined"
    assert "ReLU" in row["reason"]
    assert pd.isna(row["ok"]) and pd.isna(row["roc_auc"])
    assert ("spectral", "guided_backprop") not in table.results
    assert pd.isna(table.wide().loc["guided_backprop", ("all", "ok")])


def test_checks_can_fail(table):
    rows = table.data.set_index("method")
    env = rows.loc["envelope"]
    # model-free: the same map for any class and any weights
    assert env["label_r"] == pytest.approx(1.0) and env["label_verdict"] == "FAIL"
    assert env["cascade_r"] == pytest.approx(1.0) and env["cascade_verdict"] == "FAIL"
    assert not bool(env["ok"])
    sal = rows.loc["saliency"]
    assert sal["cascade_verdict"] == "PASS" and sal["cascade_r"] < 0.3
    # saliency of the shipped spectral model finds the ERD channels after the cue
    assert sal["roc_auc"] > 0.6 and sal["accurate"]
    assert sal["mass_accuracy"] > 1.5 * sal["mass_accuracy_chance"]


def test_scores_match_sanity_and_metrics_references(table, evaluated):
    from neuroxai.sanity.randomization import full_randomization, label_randomization

    model, X, y, truth = evaluated
    res = table.results[("spectral", "saliency")]
    maps = res["maps"]
    np.testing.assert_array_equal(maps["y"], y)
    # label randomisation and the cascade's last level, through the sanity module itself
    lab = label_randomization(model, X, y, method="saliency", seed=0, n_bootstrap=200,
                              progress=False, verbose=False)
    np.testing.assert_array_equal(lab.info["random_target"], maps["random_target"])
    np.testing.assert_allclose(res["label"].scores["pearson"], lab.scores["pearson"], atol=1e-6)
    full = full_randomization(model, X, y, method="saliency", seed=0, n_bootstrap=200,
                              verbose=False)
    np.testing.assert_allclose(res["cascade"].scores["pearson"], full.scores["pearson"],
                               atol=1e-6)
    row = table.data.set_index("method").loc["saliency"]
    assert row["label_r"] == pytest.approx(lab.mean["pearson"][0], abs=1e-6)
    assert row["cascade_r"] == pytest.approx(full.mean["pearson"][0], abs=1e-6)
    assert row["label_verdict"] == lab.verdict and row["cascade_verdict"] == full.verdict
    # relevance mass accuracy against each trial's own class mask, written out
    a = np.abs(maps["trained"])
    masks = truth.chan_time[y]
    rma = (a * masks).sum(axis=(1, 2)) / a.sum(axis=(1, 2))
    assert row["mass_accuracy"] == pytest.approx(rma.mean(), rel=1e-6)
    assert row["mass_accuracy_chance"] == pytest.approx(masks.mean(axis=(1, 2)).mean())
    # ... and a wrong class's mask would score differently
    wrong = truth.chan_time[(y + 1) % 4]
    assert abs((a * wrong).sum(axis=(1, 2)).mean() - (a * masks).sum(axis=(1, 2)).mean()) > 0


def test_save(table, tmp_path):
    csv_path, md_path = table.save(tmp_path / "tab.csv")
    assert csv_path.name == "tab.csv" and md_path.name == "tab.md"
    back = pd.read_csv(csv_path)
    assert list(back["method"]) == METHODS
    np.testing.assert_allclose(back["label_r"].to_numpy(float),
                               table.data["label_r"].to_numpy(float), equal_nan=True)
    assert md_path.read_text() == table.to_markdown()


def test_bad_arguments():
    # all fail before any model is loaded
    with pytest.raises(UnknownNameError, match="saliency"):
        run_xai_benchmark(methods=["saliency", "no_such_method"], progress=False)
    with pytest.raises(UnknownNameError, match="spectral"):
        run_xai_benchmark(methods=["saliency"], regimes=["spectro"], progress=False)
    with pytest.raises(UnknownNameError, match="not benchmarked"):
        run_xai_benchmark(methods=["saliency"], method_params={"occlusion": {"window": 50}},
                          progress=False)
    with pytest.raises(UnknownNameError, match="n_steps"):
        run_xai_benchmark(methods=["integrated_gradients"],
                          method_params={"integrated_gradients": {"steps": 8}}, progress=False)
    with pytest.raises(InvalidInputError, match="n_trials"):
        run_xai_benchmark(methods=["saliency"], n_trials=1, progress=False)


def test_balanced_subset():
    y = np.repeat(np.arange(4), 10)[np.random.default_rng(1).permutation(40)]
    idx = _balanced_subset(y, 10, 4, seed=3)
    assert np.bincount(y[idx], minlength=4).tolist() == [3, 3, 2, 2]
    np.testing.assert_array_equal(idx, _balanced_subset(y, 10, 4, seed=3))
    assert np.all(np.diff(idx) > 0)
    with pytest.raises(InvalidInputError, match="n_trials"):
        _balanced_subset(y, 48, 4, seed=0)


def test_band_masks():
    freqs = np.arange(0, 40, 0.5)
    fmask = (freqs >= 8) & (freqs <= 13)  # the mu band, edges included as in the simulation
    out = band_masks_from_freq_mask(fmask[None, None], freqs, BENCHMARK_BANDS)
    assert out.shape == (1, 1, len(BENCHMARK_BANDS))
    assert dict(zip(BENCHMARK_BANDS, out[0, 0])) == {
        "delta": False, "theta": False, "mu": True, "low_beta": False, "beta": False,
        "high_beta": False}
    with pytest.raises(InvalidInputError):
        band_masks_from_freq_mask(fmask, freqs[:-1], BENCHMARK_BANDS)


@pytest.mark.parametrize("regime, expected", [
    ("spectral", {"mu", "beta"}), ("temporal", {"theta"}), ("spatial", {"mu"})])
def test_band_masks_on_the_simulated_ground_truth(regime, expected):
    from neuroxai.data.simulate import simulate_bcic_iv_2a

    truth = simulate_bcic_iv_2a(regime, n_trials=4, n_sessions=1, verbose=False).ground_truth
    out = band_masks_from_freq_mask(truth.chan_freq, truth.freqs, BENCHMARK_BANDS)
    names = np.array(list(BENCHMARK_BANDS))
    for k in range(len(truth.class_names)):
        assert set(names[out[k].any(axis=0)]) == expected
        # the bands hold the class's ground-truth channels, and only those
        np.testing.assert_array_equal(out[k].any(axis=1), truth.chan[k])
