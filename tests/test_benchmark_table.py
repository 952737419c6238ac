"""The ground-truth benchmark table (neuroxai.evaluation) on a tiny configuration."""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from neuroxai._utils import InvalidInputError, UnknownNameError
from neuroxai.evaluation import (
    BENCHMARK_REGIMES,
    band_masks_from_freq_mask,
    run_xai_benchmark,
)

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

METHODS = ["saliency", "envelope", "gradcam", "guided_backprop"]
N_TRIALS = 8


@pytest.fixture(scope="module")
def table():
    # the shipped spectral model, 8 held-out trials (2 per class)
    return run_xai_benchmark(methods=METHODS, regimes=["spectral"], n_trials=N_TRIALS,
                             n_bootstrap=200, n_permutations=200, return_maps=True,
                             verbose=False)


@pytest.fixture(scope="module")
def evaluated(table, sim_spectral, shipped_model):
    """The model and the exact trials the table evaluated, rebuilt independently."""
    test = sim_spectral.trials.select("1test")
    idx = np.asarray(table.params["trial_index"]["spectral"])
    return shipped_model[0], test, test.select(idx=idx), sim_spectral.ground_truth


def test_structure(table):
    df = table.data
    assert list(df["method"]) == METHODS
    assert set(df["regime"]) == {"spectral"}
    assert df["n_trials"].eq(N_TRIALS).all()
    ok = df[df["status"] == "ok"]
    assert (ok["label_ci_low"] <= ok["label_r"]).all()
    assert (ok["label_r"] <= ok["label_ci_high"]).all()
    for col in ("roc_auc", "roc_auc_shuffled", "roc_auc_other_class", "mass_accuracy",
                "rank_accuracy", "peak_in_mask", "roc_auc_p", "mass_accuracy_p"):
        assert ok[col].between(0, 1).all(), col
    assert (ok["mask"] == "chan x time").all()
    # balanced subset of the held-out session
    idx = table.params["trial_index"]["spectral"]
    assert len(idx) == N_TRIALS == len(set(idx))
    y = table.results[("spectral", "saliency")]["maps"]["y"]
    assert np.bincount(y, minlength=4).tolist() == [2, 2, 2, 2]

    wide = table.wide()
    assert list(wide.index) == METHODS
    assert ("spectral", "accurate") in wide.columns and ("all", "ok") in wide.columns
    md = table.to_markdown()
    for m in METHODS:
        assert f"`{m}`" in md
    assert "| --- |" in md and "undefined" in md and "binomial p" in md
    assert "BenchmarkTable" in repr(table)


def test_model_gate(table, evaluated):
    from neuroxai.models import accuracy

    model, test, *_ = evaluated
    row = table.data.iloc[0]
    acc = accuracy(model, test)
    assert row["model_accuracy"] == pytest.approx(acc)
    assert row["n_test"] == 288 and row["chance"] == 0.25
    k = int(round(acc * 288))
    assert row["model_p"] == pytest.approx(binomtest(k, 288, 0.25, alternative="greater").pvalue)
    assert row["above_chance"] and table.params["gate"]["spectral"]["above_chance"]


def test_undefined_method_row(table):
    row = table.data.set_index("method").loc["guided_backprop"]
    assert row["status"] == "undefined" and row["verdict"] == "undefined"
    assert "ReLU" in row["reason"]
    assert pd.isna(row["ok"]) and pd.isna(row["roc_auc"])
    assert ("spectral", "guided_backprop") not in table.results
    assert pd.isna(table.wide().loc["guided_backprop", ("all", "ok")])


def test_checks_and_accuracy_can_fail(table):
    rows = table.data.set_index("method")
    env = rows.loc["envelope"]
    # model-free: the same map for any class and any weights
    assert env["label_r"] == pytest.approx(1.0) and env["label_verdict"] == "FAIL"
    assert env["cascade_r"] == pytest.approx(1.0) and env["cascade_verdict"] == "FAIL"
    assert not env["accurate"] and not env["ok"]  # ERD: the envelope drops in the mask
    # GradCAM on ShallowFBCSPNet: one time course on all 22 channels. The shuffled maps
    # are the map itself: the null equals the observed scores, p = 1
    cam = rows.loc["gradcam"]
    maps = table.results[("spectral", "gradcam")]["maps"]["trained"]
    assert np.ptp(maps, axis=1).max() <= 1e-6 * np.abs(maps).max()
    assert cam["roc_auc"] == pytest.approx(cam["roc_auc_shuffled"]) and cam["roc_auc_p"] == 1.0
    assert cam["mass_accuracy_p"] == 1.0 and not cam["accurate"]
    assert cam["verdict"].startswith("not accurate")
    sal = rows.loc["saliency"]
    assert sal["cascade_verdict"] == "PASS" and sal["cascade_r"] < 0.3
    # saliency of the shipped spectral model finds the ERD channels after the cue
    assert sal["accurate"] and sal["roc_auc_p"] < 0.05
    assert sal["roc_auc"] > max(sal["roc_auc_shuffled"], sal["roc_auc_other_class"])
    assert sal["mass_accuracy"] > 1.5 * sal["mass_accuracy_chance"]
    assert sal["ok"] and sal["verdict"] == "ok"


def test_scores_match_sanity_and_metrics_references(table, evaluated):
    from neuroxai.metrics import compute_ground_truth_null
    from neuroxai.sanity import full_randomization, label_randomization

    model, _, sub, truth = evaluated
    y = sub.y
    res = table.results[("spectral", "saliency")]
    maps = res["maps"]
    np.testing.assert_array_equal(maps["y"], y)
    # label randomisation and the cascade's last level, through the sanity module itself,
    # with the table's model gate
    gate = table.params["gate"]["spectral"]
    lab = label_randomization(model, sub, y, method="saliency", seed=0, n_bootstrap=200,
                              batch_size=128, model_accuracy=gate, verbose=False)
    np.testing.assert_array_equal(lab.info["random_target"], maps["random_target"])
    np.testing.assert_allclose(res["label"].scores["pearson"], lab.scores["pearson"], atol=1e-6)
    full = full_randomization(model, sub, y, method="saliency", seed=0, n_bootstrap=200,
                              batch_size=128, model_accuracy=gate, verbose=False)
    np.testing.assert_allclose(res["cascade"].scores["pearson"], full.scores["pearson"],
                               atol=1e-6)
    row = table.data.set_index("method").loc["saliency"]
    assert row["label_r"] == pytest.approx(lab.mean["pearson"][0], abs=1e-6)
    assert row["cascade_r"] == pytest.approx(full.mean["pearson"][0], abs=1e-6)
    np.testing.assert_allclose([row["label_ci_low"], row["label_ci_high"]], lab.ci["pearson"][0],
                               atol=1e-6)
    assert row["label_verdict"] == lab.verdict and row["cascade_verdict"] == full.verdict
    assert row["label_u"] == pytest.approx(lab.mean[lab.unsigned_metric][0], abs=1e-6)
    # relevance mass accuracy against each trial's own class mask, written out
    a = np.abs(maps["trained"])
    masks = truth.chan_time[y]
    rma = (a * masks).sum(axis=(1, 2)) / a.sum(axis=(1, 2))
    assert row["mass_accuracy"] == pytest.approx(rma.mean(), rel=1e-6)
    assert row["mass_accuracy_chance"] == pytest.approx(masks.mean(axis=(1, 2)).mean())
    null = compute_ground_truth_null(maps["trained"], truth.chan_time, y, n_permutations=200,
                                     seed=0, verbose=False)
    assert row["roc_auc_p"] == null.loc["ROC_AUC", "p_value"]
    mass = null.loc["RelevanceMassAccuracy"]
    assert row["mass_accuracy_shuffled"] == pytest.approx(mass["shuffle_mean"])
    assert row["mass_accuracy_other_class"] == pytest.approx(mass["classes_mean"])
    assert row["accurate"] == bool(null.loc[["ROC_AUC", "RelevanceMassAccuracy"],
                                            "significant"].all())


def test_save(table, tmp_path):
    csv_path, md_path = table.save(tmp_path / "tab.csv")
    assert csv_path.name == "tab.csv" and md_path.name == "tab.md"
    back = pd.read_csv(csv_path)
    assert list(back["method"]) == METHODS
    np.testing.assert_allclose(back["label_r"].to_numpy(float),
                               table.data["label_r"].to_numpy(float), equal_nan=True)
    assert md_path.read_text() == table.to_markdown()


def test_untrained_model_is_not_above_chance(tmp_path):
    import torch

    from neuroxai.models import build_model, save_checkpoint

    torch.manual_seed(0)
    kwargs = dict(n_chans=22, n_outputs=4, n_times=1125, final_conv_length="auto")
    model = build_model("ShallowFBCSPNet", **kwargs)
    data = dict(regime="spectral", n_trials=40, n_sessions=2, snr=0.7, seed=0)
    save_checkpoint(model, tmp_path, metadata=dict(model_class="ShallowFBCSPNet",
                                                   model_kwargs=kwargs, dataset_params=data))
    tab = run_xai_benchmark(methods=["saliency"], regimes=["spectral"], n_trials=4,
                            checkpoints={"spectral": str(tmp_path)}, n_bootstrap=50,
                            n_permutations=50, verbose=False)
    row = tab.data.iloc[0]
    assert row["n_test"] == 40 and not row["above_chance"] and row["model_p"] >= 0.05
    assert row["verdict"] == "model not above chance" and not row["ok"]
    # the sanity stage got the same gate
    assert row["label_verdict"] == row["cascade_verdict"] == "NOT ABOVE CHANCE"
    assert "NOT above chance" in tab.to_markdown()


@pytest.mark.slow
def test_band_ablation_on_bands_from_the_masks():
    tab = run_xai_benchmark(methods=["band_ablation"], regimes=["spectral"], n_trials=4,
                            n_bootstrap=50, n_permutations=50, verbose=False)
    row = tab.data.iloc[0]
    bands = tab.params["bands"]["spectral"]
    assert row["mask"] == "chan x band" and row["reason"] == ""
    # the mu and beta runs of the ERD mask and the gaps of 4-38 Hz around them
    assert len(bands) == 5 and "bands=" in row["params"]
    assert 0 < row["roc_auc"] <= 1 and np.isfinite(row["peak_hz"])
    maps = tab.results[("spectral", "band_ablation")]["ground_truth"]
    assert maps["ROC_AUC"].notna().all()


def test_bad_arguments():
    # all but one fail before any model is loaded
    with pytest.raises(UnknownNameError, match="saliency"):
        run_xai_benchmark(methods=["saliency", "no_such_method"])
    with pytest.raises(UnknownNameError, match="erd_narrow"):
        run_xai_benchmark(methods=["saliency"], regimes=["spectro"])
    with pytest.raises(UnknownNameError, match="not benchmarked"):
        run_xai_benchmark(methods=["saliency"], method_params={"occlusion": {"window": 50}},
                          regimes=["spectral"])
    with pytest.raises(UnknownNameError, match="n_steps"):
        run_xai_benchmark(methods=["integrated_gradients"], regimes=["spectral"],
                          method_params={"integrated_gradients": {"steps": 8}})
    with pytest.raises(InvalidInputError, match="n_trials"):
        run_xai_benchmark(methods=["saliency"], regimes=["spectral"], n_trials=1)
    with pytest.raises(InvalidInputError, match="n_trials=400"):  # after loading the model
        run_xai_benchmark(methods=["saliency"], regimes=["spectral"], n_trials=400,
                          verbose=False)
    with pytest.raises(InvalidInputError, match="n_permutations"):
        run_xai_benchmark(methods=["saliency"], regimes=["spectral"], n_permutations=10)
    with pytest.raises(UnknownNameError, match="snr"):  # a custom regime's arguments
        run_xai_benchmark(methods=["saliency"], regimes={"mine": {"regime": "ers", "sn": 1}})
    with pytest.raises(InvalidInputError, match="n_background"):
        run_xai_benchmark(methods=["saliency"], regimes={"mine": {"n_background": -3}})


@pytest.mark.parametrize("regime", list(BENCHMARK_REGIMES))
def test_every_regime_gets_bands_from_its_masks(regime):
    from neuroxai.data import simulate_bcic_iv_2a

    spec = {**BENCHMARK_REGIMES[regime], "n_trials": 4, "n_sessions": 1}
    truth = simulate_bcic_iv_2a(**spec, verbose=False).ground_truth
    bands = truth.bands()
    out = band_masks_from_freq_mask(truth.chan_freq, truth.freqs, bands)
    held = truth.chan_freq.any(axis=(0, 1))
    for k in range(len(truth.class_names)):
        # the bands hold the class's ground-truth channels, and only those
        np.testing.assert_array_equal(out[k].any(axis=1), truth.chan[k])
        marked = [b for b, on in zip(bands.values(), out[k].any(axis=0)) if on]
        # a marked band is one run of mask frequencies, entirely inside the mask
        for lo, hi in marked:
            assert held[(truth.freqs >= lo) & (truth.freqs < hi)].all()
        assert 0 < len(marked) < len(bands)  # the AUC over bands is defined


def test_deprecated_alias():
    import importlib
    import sys

    sys.modules.pop("neuroxai.benchmark", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = importlib.import_module("neuroxai.benchmark")
    assert any(issubclass(w.category, FutureWarning) and "neuroxai.evaluation" in str(w.message)
               for w in caught)
    assert old.run_xai_benchmark is run_xai_benchmark
    assert old.band_masks_from_freq_mask is band_masks_from_freq_mask
