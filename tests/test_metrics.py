"""Tests of neuroxai.metrics.{similarity, ground_truth, topomap}.

braindecode.visualization's compute_metrics / compute_ssim_metrics /
project_to_topomap are the oracles where they are right (channel mode); where
they are not (topomap mode) the tests document the defect next to our behaviour.
The one hand-written fast path (SSIM box means as BLAS products, channel maps) is
also tested against the plain route (scipy's uniform_filter) it replaces.
"""
from unittest import mock

import mne
import numpy as np
import pandas as pd
import pytest
from scipy.interpolate import CloughTocher2DInterpolator
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity
from sklearn.metrics import roc_auc_score

from neuroxai._utils import (
    DegenerateMethodWarning,
    InvalidInputError,
    MontageError,
    NonFiniteError,
    ShapeError,
    UnknownNameError,
)
from neuroxai.metrics import similarity
from neuroxai.metrics.ground_truth import (
    GROUND_TRUTH_METRIC_NAMES,
    compute_ground_truth_metrics,
)
from neuroxai.metrics.similarity import (
    ALL_METRIC_NAMES,
    METRIC_NAMES,
    SSIM_METRIC_NAMES,
    compute_metrics,
    summarize_metrics,
)
from neuroxai.metrics.topomap import make_scalp_projector

bd_metrics = pytest.importorskip("braindecode.visualization.metrics")
bd_topology = pytest.importorskip("braindecode.visualization.topology")

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

CH_NAMES = ("Fz FC3 FC1 FCz FC2 FC4 C5 C3 C1 Cz C2 C4 C6 CP3 CP1 CPz CP2 CP4 P1 Pz P2 POz").split()
GT_CHANS = [7, 11]  # C3, C4


@pytest.fixture(scope="module")
def info():
    info = mne.create_info(CH_NAMES, 250.0, "eeg")
    info.set_montage("colin27_1020")
    return info


@pytest.fixture(scope="module")
def projector(info):
    return make_scalp_projector(info, verbose=False)


def _gt_mask(n, n_times):
    gt = np.zeros((n, len(CH_NAMES), n_times))
    gt[:, GT_CHANS] = 1.0
    return gt


def _bd_all(a, b, **kw):
    s12, k12 = bd_metrics.compute_metrics(a, b, **kw)
    s4, k4 = bd_metrics.compute_ssim_metrics(a, b, **kw)
    return np.column_stack([s12, s4]), k12, k4


# --------------------------------------------------------------------------------------
# equality with braindecode (channel mode)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case", ["binary_gt", "continuous_gt", "abs_explanation", "comparison", "freq_gt"]
)
def test_equal_to_braindecode_channel_mode(case):
    rng = np.random.default_rng(0)
    n, n_times = 10, 60
    a = rng.standard_normal((n, 22, n_times))
    kw = {}
    if case == "binary_gt":
        b = _gt_mask(n, n_times)
    elif case == "continuous_gt":
        b = rng.standard_normal((n, 22, n_times)) ** 2 * (rng.random((n, 22, n_times)) < 0.3)
    elif case == "abs_explanation":
        b = _gt_mask(n, n_times)
        kw = dict(abs_explanation=True, prctile_val=90)
    elif case == "comparison":  # e.g. explanations of a randomised model, signed
        b = a + rng.standard_normal(a.shape)
        kw = dict(abs_reference=False)
    else:  # channel x frequency mask, different band per sample
        b = np.zeros((n, 22, n_times))
        for i in range(n):
            b[i, GT_CHANS, 5 + i: 15 + i] = 1.0
    expected, k12, k4 = _bd_all(a, b, **kw)
    assert k12 == k4 == 0  # no skipped sample: braindecode is right here
    ours = compute_metrics(a, b, metrics=METRIC_NAMES + SSIM_METRIC_NAMES, verbose=False, **kw)
    assert list(ours.columns) == METRIC_NAMES + SSIM_METRIC_NAMES
    np.testing.assert_allclose(ours.to_numpy(), expected, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------
# chance level, in-head restriction, skipped samples
# --------------------------------------------------------------------------------------
def test_random_map_scores_chance_in_channel_mode():
    rng = np.random.default_rng(3)
    n, n_times = 40, 100
    a = rng.standard_normal((n, 22, n_times))
    gt = _gt_mask(n, n_times)
    frac = len(GT_CHANS) / 22
    s = compute_metrics(a, gt, metrics=METRIC_NAMES, verbose=False).mean()
    for name in ("RelevanceMassAccuracy_norm", "RelevanceMassAccuracy_absnorm",
                 "RelevanceRankAccuracy_topK", "RelevanceMassAccuracy_topperc"):
        assert abs(s[name] - frac) < 0.02, (name, s[name])
    assert abs(s["Pearson_raw_vs_refnorm"]) < 0.02


def test_topomap_mode_random_map_near_chance_braindecode_degenerate(info, projector):
    rng = np.random.default_rng(4)
    n, n_times = 16, 20
    a = rng.standard_normal((n, 22, n_times))
    gt = _gt_mask(n, n_times)
    names = ["RelevanceMassAccuracy_topperc", "RelevanceRankAccuracy_topK",
             "RelevanceMassAccuracy_absnorm", "RelevanceMassAccuracy_norm"]
    ssim = ["SSIM_absnorm", "SSIM_raw"]
    ours = compute_metrics(a, gt, metrics=names + ssim, mode="topomap", info=info,
                           projector=projector, verbose=False).mean()
    # chance = share of in-head pixels whose nearest electrode is a ground-truth one
    chance = np.isin(projector.nearest, GT_CHANS).mean()
    assert 0.05 < chance < 0.3
    for name in names:
        assert abs(ours[name] - chance) < 0.1, (name, ours[name], chance)
    # braindecode's topomap mode: every interpolated in-head pixel counts as ground
    # truth and out-of-head zeros match, so a random map looks perfect.
    bd, _ = bd_metrics.compute_metrics(a, gt, chs_info=info["chs"])
    bd_ssim, _ = bd_metrics.compute_ssim_metrics(a, gt, chs_info=info["chs"])
    for name in names[:3]:
        assert bd[:, METRIC_NAMES.index(name)].mean() > 0.99
    for name in ssim:
        assert ours[name] < 0.2
        assert bd_ssim[:, SSIM_METRIC_NAMES.index(name)].mean() > ours[name] + 0.2


def test_topomap_scores_use_in_head_pixels_only(info, projector):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((6, 22, 8))
    b = a + rng.standard_normal(a.shape)
    names = ["Pearson_raw_vs_refnorm", "Cosine_norm", "Topo_Cosine", "Topo_Pearson", "Spearman"]
    topo = compute_metrics(a, b, metrics=names, mode="topomap", projector=projector,
                           abs_reference=False, verbose=False)
    pa = projector.project(a.mean(-1))
    pb = projector.project(b.mean(-1))
    assert pa.shape == (6, projector.mask.sum())
    flat = compute_metrics(pa, pb, metrics=names[:2] + ["Spearman"], abs_reference=False,
                           verbose=False)
    pd.testing.assert_frame_equal(topo[names[:2] + ["Spearman"]], flat, rtol=1e-10)
    cos = (pa * pb).sum(1) / np.linalg.norm(pa, axis=1) / np.linalg.norm(pb, axis=1)
    np.testing.assert_allclose(topo["Topo_Cosine"], cos, rtol=1e-10)
    # Topo_* also available in channel mode (same projection)
    ch = compute_metrics(a, b, metrics=["Topo_Pearson"], info=info, verbose=False)
    np.testing.assert_allclose(ch["Topo_Pearson"], topo["Topo_Pearson"], rtol=1e-10)
    # in-head pixels: inside the head circle and where braindecode's interpolation exists
    gx, gy = np.meshgrid(projector.xi, projector.yi)
    assert np.all(gx[projector.mask] ** 2 + gy[projector.mask] ** 2 <= 0.095 ** 2)
    bd_img = bd_topology.project_to_topomap(a[0].mean(-1), info["chs"])
    np.testing.assert_array_equal(projector.mask, np.isfinite(bd_img))


def test_skipped_samples_are_nan_not_zero():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((5, 22, 30))
    a[1] = 0.0  # all-zero explanation
    a[3] = 2.5  # constant explanation
    gt = _gt_mask(5, 30)
    with pytest.warns(DegenerateMethodWarning, match="2 of 5 sample"):
        ours = compute_metrics(a, gt, metrics=METRIC_NAMES + SSIM_METRIC_NAMES, verbose=False)
    bd, k12, k4 = _bd_all(a, gt)
    assert k12 == k4 == 2
    skipped = ours.isna().all(axis=1).to_numpy()
    np.testing.assert_array_equal(skipped, [False, True, False, True, False])
    np.testing.assert_array_equal(bd[skipped], 0.0)  # braindecode's 0 for "not scored"
    np.testing.assert_allclose(ours.to_numpy()[~skipped], bd[~skipped], rtol=1e-9, atol=1e-12)
    summary = summarize_metrics(ours)
    assert (summary["n_valid"] == 3).all() and (summary["n_skipped"] == 2).all()
    np.testing.assert_allclose(summary["mean"], bd[~skipped].mean(0), rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------
# the scalp projection operator
# --------------------------------------------------------------------------------------
def test_projector_equals_per_map_interpolation(info, projector):
    rng = np.random.default_rng(7)
    data = rng.standard_normal((5, 22))
    fast = projector.project_image(data)  # (5, 64, 64), NaN out of head
    gx, gy = np.meshgrid(projector.xi, projector.yi)
    for i in range(len(data)):
        slow = CloughTocher2DInterpolator(projector.pos, data[i], tol=1e-12)(gx, gy)
        np.testing.assert_allclose(fast[i][projector.mask], slow[projector.mask], atol=1e-10)
        # braindecode interpolates per map with scipy's default tol=1e-6
        bd = bd_topology.project_to_topomap(data[i], info["chs"])
        np.testing.assert_allclose(fast[i][projector.mask], bd[projector.mask], atol=1e-5)
        assert np.isnan(fast[i][~projector.mask]).all()
    # the operator reproduces the channel values at the electrodes (interpolation)
    assert projector.operator.shape == (projector.mask.sum(), 22)
    np.testing.assert_allclose(projector.operator.sum(axis=1), 1.0, atol=1e-8)


def test_projector_needs_montage():
    bare = mne.create_info(CH_NAMES[:5], 250.0, "eeg")
    with pytest.raises(MontageError, match="set_montage"):
        make_scalp_projector(bare, verbose=False)


# --------------------------------------------------------------------------------------
# Spearman / HOG sanity (Adebayo et al. 2018)
# --------------------------------------------------------------------------------------
def test_spearman_and_hog_sanity(projector):
    rng = np.random.default_rng(8)
    a = rng.standard_normal((3, 22, 48))
    names = ["Spearman", "Spearman_abs", "HOG_Pearson"]
    same = compute_metrics(a, a, metrics=names, verbose=False)
    np.testing.assert_allclose(same.to_numpy(), 1.0, atol=1e-12)
    neg = compute_metrics(a, -a, metrics=names, verbose=False)
    np.testing.assert_allclose(neg["Spearman"], -1.0, atol=1e-12)
    np.testing.assert_allclose(neg["Spearman_abs"], 1.0, atol=1e-12)
    b = rng.standard_normal(a.shape)
    other = compute_metrics(a, b, metrics=names, verbose=False)
    ref = [spearmanr(a[i].ravel(), b[i].ravel())[0] for i in range(3)]
    np.testing.assert_allclose(other["Spearman"], ref, rtol=1e-10)
    assert (other["HOG_Pearson"].abs() < 0.3).all()
    topo = compute_metrics(a, a, metrics=["HOG_Pearson"], mode="topomap", projector=projector,
                           verbose=False)
    np.testing.assert_allclose(topo["HOG_Pearson"], 1.0, atol=1e-12)


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------
def test_bad_input_errors(info):
    rng = np.random.default_rng(9)
    a = rng.standard_normal((4, 22, 16))
    with pytest.raises(UnknownNameError, match="Cosine_raw"):
        compute_metrics(a, a, metrics=["cosine"], verbose=False)
    with pytest.raises(UnknownNameError, match="channel"):
        compute_metrics(a, a, mode="scalp", verbose=False)
    with pytest.raises(ShapeError):
        compute_metrics(a, a[:, :, :8], verbose=False)
    with pytest.raises(ShapeError):
        compute_metrics(a[0, 0], a[0, 0], verbose=False)
    bad = a.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(NonFiniteError):
        compute_metrics(bad, a, verbose=False)
    with pytest.raises(NonFiniteError):
        compute_metrics(a, np.where(bad > 0, np.inf, a), verbose=False)
    with pytest.raises(InvalidInputError, match="info"):
        compute_metrics(a, a, mode="topomap", verbose=False)
    with pytest.raises(ShapeError, match="2-D maps"):
        compute_metrics(a[:, :, 0], a[:, :, 0], metrics=["SSIM_raw"], verbose=False)
    with pytest.raises(ShapeError, match="channels"):
        compute_metrics(a[:, :10], a[:, :10], mode="topomap", info=info, verbose=False)
    # a single reference map broadcasts over samples
    s = compute_metrics(a, _gt_mask(1, 16)[0], metrics=["Cosine_raw"], verbose=False)
    assert s.shape == (4, 1)
    assert set(compute_metrics(a, a, metrics="all", info=info, verbose=False)) == set(
        ALL_METRIC_NAMES
    )


# --------------------------------------------------------------------------------------
# ground-truth metrics
# --------------------------------------------------------------------------------------
def test_ground_truth_metrics_against_references():
    rng = np.random.default_rng(10)
    n = 6
    attr = rng.standard_normal((n, 22, 40))
    masks = np.zeros((2, 22, 40), bool)
    masks[0, 7, 10:20] = True
    masks[1, [9, 11], :] = True
    y = rng.integers(0, 2, n)
    s = compute_ground_truth_metrics(attr, masks, y=y, verbose=False)
    assert list(s.columns) == GROUND_TRUTH_METRIC_NAMES
    for i in range(n):
        m, r = masks[y[i]].ravel(), np.abs(attr[i]).ravel()
        assert np.isclose(s["ROC_AUC"][i], roc_auc_score(m, r), rtol=1e-12)
        assert np.isclose(s["RelevanceMassAccuracy"][i], r[m].sum() / r.sum())
        top = np.argsort(-r)[: m.sum()]
        assert np.isclose(s["RelevanceRankAccuracy"][i], m[top].mean())
        assert np.isclose(s["Cosine"][i], r @ m / np.linalg.norm(r) / np.sqrt(m.sum()))


def test_ground_truth_metrics_blocked_rows_equal_per_row_references():
    # 2**18 values per row: rows are scored in blocks of 4, from float32 input
    rng = np.random.default_rng(12)
    n, shape = 9, (16, 2 ** 14)
    attr = rng.standard_normal((n,) + shape).astype(np.float32)
    masks = np.zeros((3,) + shape, bool)
    masks[0, 3, :500] = True
    masks[1, 5:9] = True
    masks[2, :, ::7] = True
    y = np.arange(n) % 3
    s = compute_ground_truth_metrics(attr, masks, y=y, verbose=False)
    one_by_one = [compute_ground_truth_metrics(attr[i:i + 1].astype(float), masks[y[i]][None],
                                               verbose=False) for i in range(n)]
    np.testing.assert_allclose(s.to_numpy(), np.concatenate([o.to_numpy() for o in one_by_one]),
                               rtol=1e-12)
    for i in (0, 4, 8):
        m, r = masks[y[i]].ravel(), np.abs(attr[i].astype(float)).ravel()
        assert np.isclose(s["ROC_AUC"][i], roc_auc_score(m, r), rtol=1e-12)
        assert np.isclose(s["RelevanceMassAccuracy"][i], r[m].sum() / r.sum(), rtol=1e-12)


def test_ground_truth_perfect_chance_and_ties():
    rng = np.random.default_rng(11)
    n = 30
    mask = np.zeros((22, 50), bool)
    mask[GT_CHANS] = True
    perfect = compute_ground_truth_metrics(mask[None].repeat(3, 0) * 1.0, mask, verbose=False)
    np.testing.assert_allclose(perfect.to_numpy(), 1.0)
    rand = compute_ground_truth_metrics(rng.standard_normal((n, 22, 50)), mask, verbose=False)
    frac = mask.mean()
    assert abs(rand["RelevanceMassAccuracy"].mean() - frac) < 0.02
    assert abs(rand["RelevanceRankAccuracy"].mean() - frac) < 0.03
    assert abs(rand["ROC_AUC"].mean() - 0.5) < 0.03
    # a constant map ties everywhere: expected rank accuracy = chance, AUC 0.5
    const = compute_ground_truth_metrics(np.ones((1, 22, 50)), mask, verbose=False)
    assert np.isclose(const["RelevanceRankAccuracy"][0], frac)
    assert np.isclose(const["ROC_AUC"][0], 0.5)
    # channel x frequency, per-trial masks, signed relevance (positive part)
    attr = rng.standard_normal((4, 22, 10))
    masks = rng.random((4, 22, 10)) < 0.2
    s = compute_ground_truth_metrics(attr, masks, absolute=False, verbose=False)
    pos = np.maximum(attr, 0)
    expect = (pos * masks).sum((1, 2)) / pos.sum((1, 2))
    np.testing.assert_allclose(s["RelevanceMassAccuracy"], expect)


def test_ground_truth_bad_input():
    attr = np.ones((3, 22, 10))
    with pytest.raises(UnknownNameError, match="ROC_AUC"):
        compute_ground_truth_metrics(attr, np.ones((22, 10), bool), metrics=["auc"])
    with pytest.raises(ShapeError):
        compute_ground_truth_metrics(attr, np.ones((22, 11), bool))
    with pytest.raises(InvalidInputError, match="boolean"):
        compute_ground_truth_metrics(attr, np.full((22, 10), 0.5))
    with pytest.raises(InvalidInputError, match="labels"):
        compute_ground_truth_metrics(attr, np.ones((2, 22, 10), bool), y=[0, 1, 2])
    attr[0, 0, 0] = np.inf
    with pytest.raises(NonFiniteError):
        compute_ground_truth_metrics(attr, np.ones((22, 10), bool))
    empty = compute_ground_truth_metrics(np.ones((2, 22, 10)), np.zeros((22, 10), bool),
                                         verbose=False)
    assert empty.isna().all().all()


# --------------------------------------------------------------------------------------
# ties, one-signed maps, batches, non-finite input, constant maps
# --------------------------------------------------------------------------------------
def _tricky_maps(rng, n=12, n_times=40):
    """Explanations with ties at the thresholds, one-signed maps, zero runs."""
    a = rng.standard_normal((n, 22, n_times))
    a[0] = np.round(a[0])  # many ties, including at the percentile and the K-th value
    a[1] = np.abs(a[1]) + 0.5  # all positive: the clipped map has no zero
    a[2] = -np.abs(a[2])  # all <= 0 ... but one positive value
    a[2, 0, 0] = 1.0
    a[3, :20] = 0.0  # a long run of zeros
    a[4] = np.round(a[4] * 4) / 4
    a[5, :, :] = np.where(rng.random((22, n_times)) < 0.9, -1.0, a[5])  # top-K set > positives
    return a


def _tricky_reference(rng, a, ref):
    if ref.startswith("binary"):
        b = (rng.random(a.shape) < 0.1) * (2.0 if ref == "binary_x2" else 1.0)
        b[6] = 0.0  # an all-zero reference (skipped)
        b[7] = 1.0  # an all-one reference (constant: skipped)
    elif ref == "repeated":  # one mask for all samples
        b = np.broadcast_to(rng.random(a.shape[1:]) < 0.1, a.shape).astype(float)
    elif ref == "continuous":
        b = rng.standard_normal(a.shape) ** 2 * (rng.random(a.shape) < 0.2)
    else:
        b = np.round(rng.standard_normal(a.shape) * 2) * (rng.random(a.shape) < 0.3)
    return b


@pytest.mark.parametrize("abs_explanation", [False, True])
@pytest.mark.parametrize("ref", ["binary", "binary_x2", "repeated", "continuous", "ties"])
def test_equal_to_braindecode_on_tricky_maps(abs_explanation, ref):
    rng = np.random.default_rng(12)
    a = _tricky_maps(rng)
    b = _tricky_reference(rng, a, ref)
    kw = {"abs_explanation": abs_explanation, "prctile_val": 90}
    expected, k12, k4 = _bd_all(a, b, **kw)
    with mock.patch("warnings.warn"):  # the skipped samples' warning: tested below
        ours = compute_metrics(a, b, metrics=METRIC_NAMES + SSIM_METRIC_NAMES, verbose=False,
                               **kw)
    skipped = ours.isna().all(axis=1).to_numpy()
    assert skipped.sum() == k12 == k4
    np.testing.assert_array_equal(expected[skipped], 0.0)
    np.testing.assert_allclose(ours.to_numpy()[~skipped], expected[~skipped], rtol=1e-9,
                               atol=1e-12)


def test_scaling_a_binary_reference_changes_no_score():
    # All 16 scores min-max normalise the reference: a 0/1 mask and a 0/3 mask score alike.
    rng = np.random.default_rng(13)
    a = rng.standard_normal((7, 22, 50))
    gt = (rng.random(a.shape) < 0.07).astype(float)
    names = METRIC_NAMES + SSIM_METRIC_NAMES
    ones = compute_metrics(a, gt, metrics=names, verbose=False)
    threes = compute_metrics(a, 3.0 * gt, metrics=names, verbose=False)
    pd.testing.assert_frame_equal(ones, threes, rtol=1e-12, atol=1e-13)


def test_batch_size_does_not_change_scores():
    rng = np.random.default_rng(14)
    a = _tricky_maps(rng, n=9, n_times=30)
    b = _gt_mask(9, 30)
    names = METRIC_NAMES + SSIM_METRIC_NAMES + ["Spearman", "HOG_Pearson"]
    with mock.patch("warnings.warn"):
        ref = compute_metrics(a, b, metrics=names, hog_kwargs={"pixels_per_cell": (4, 4)},
                              verbose=False)
        for batch_size in (1, 4, 100):
            other = compute_metrics(a, b, metrics=names, batch_size=batch_size,
                                    hog_kwargs={"pixels_per_cell": (4, 4)}, verbose=False)
            pd.testing.assert_frame_equal(ref, other, rtol=1e-13, atol=1e-14)


def test_nonfinite_inputs_named():
    rng = np.random.default_rng(15)
    a = rng.standard_normal((5, 22, 20))
    gt = _gt_mask(5, 20)
    for bad_a, bad_b in ((np.nan, None), (np.inf, None), (None, -np.inf), (None, np.nan)):
        x, y = a.copy(), gt.copy()
        if bad_a is not None:
            x[3, 4, 5] = bad_a
        if bad_b is not None:
            y[2, 1, 0] = bad_b
        with pytest.raises(NonFiniteError, match="maps_a" if bad_a is not None else "maps_b"):
            compute_metrics(x, y, metrics=METRIC_NAMES, verbose=False)
    # finite values whose sums overflow are scored, not rejected
    with np.errstate(all="ignore"), mock.patch("warnings.warn"):
        s = compute_metrics(a * 1e307, gt, metrics=["Cosine_raw"], verbose=False)
    assert s.shape == (5, 1)


def test_constant_maps_score_nan_with_one_warning(info):
    # A correlation with a constant map (and a cosine with an all-zero map) is undefined:
    # NaN, never 0 or 1, and one DegenerateMethodWarning counts the samples.
    rng = np.random.default_rng(16)
    a = rng.standard_normal((4, 22, 24))
    b = rng.standard_normal((4, 22, 24))
    a[1] = 3.0  # constant explanation
    b[2] = 0.0  # all-zero reference
    names = ["Spearman", "Spearman_abs", "HOG_Pearson", "Topo_Cosine", "Topo_Pearson",
             "Pearson_raw_vs_refnorm", "Cosine_raw", "SSIM_raw"]
    with pytest.warns(DegenerateMethodWarning, match=r"2 of 4 sample\(s\).*summarize_metrics"):
        s = compute_metrics(a, b, metrics=names, info=info, abs_reference=False,
                            hog_kwargs={"pixels_per_cell": (4, 4)}, verbose=False)
    nan = s.isna()
    assert not nan.iloc[[0, 3]].any().any()
    for name in ("Spearman", "Spearman_abs", "HOG_Pearson", "Topo_Pearson",
                 "Pearson_raw_vs_refnorm", "SSIM_raw"):
        assert nan[name].iloc[1] and nan[name].iloc[2], name
    # the cosine of a constant (non-zero) topography is defined; of an all-zero one, not
    assert not nan["Topo_Cosine"].iloc[1] and nan["Topo_Cosine"].iloc[2]
    summary = summarize_metrics(s)
    assert summary.loc["Spearman", "n_skipped"] == 2
    # nothing undefined: no warning
    with mock.patch("warnings.warn") as warn:
        compute_metrics(a[[0, 3]], b[[0, 3]], metrics=names, info=info, abs_reference=False,
                        hog_kwargs={"pixels_per_cell": (4, 4)}, verbose=False)
    warn.assert_not_called()


# --------------------------------------------------------------------------------------
# SSIM: the fast route (box means by matrix products, channel maps) vs the plain one
# --------------------------------------------------------------------------------------
def _plain_ssim_route():
    """compute_metrics with the fast SSIM route switched off (the plain reference)."""
    return mock.patch.object(similarity, "_ssim_box", lambda *args: None)


@pytest.mark.parametrize("win", [3, 7, 9])
def test_box_means_equal_uniform_filter_crop(win):
    from scipy.ndimage import uniform_filter

    from neuroxai.metrics.similarity._ssim_blas import SSIMBoxMeans

    rng = np.random.default_rng(18)
    z = rng.standard_normal((3, 17, 45))
    pad = (win - 1) // 2
    ref = uniform_filter(z, size=(1, win, win))[:, pad:17 - pad, pad:45 - pad]
    box = SSIMBoxMeans((17, 45), win)
    order = rng.permutation(box.ho)  # any windows (rows of the result), in any order
    stack, one = box([(z, box.band[order]), (z[1], box.band[order[:4]])], "F")
    np.testing.assert_allclose(stack[..., :box.wo], ref[:, order], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(one[..., :box.wo], ref[1, order[:4]], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(stack[..., box.wo:], 0.0)  # windows across a row end
    # an image zero outside a few rows, filtered from those rows
    rows = np.array([0, 5, 6, 16])
    sparse = np.zeros_like(z[0])
    sparse[rows] = z[0, rows]
    part = box.stage("part", (len(rows), 45))
    part[:] = z[0, rows]
    got = box.rows_first("part", part.shape, box.band[:, rows], "X")
    expected = uniform_filter(sparse, size=win)[pad:17 - pad, pad:45 - pad]
    np.testing.assert_allclose(got[:, :box.wo], expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("ref", ["channels", "channels_per_sample", "edge_channels",
                                 "every_third_channel", "pixels_in_channels",
                                 "continuous_in_channels", "dense"])
def test_ssim_equal_braindecode_and_plain_route(ref):
    # references that leave windows without any of it (SSIM's numerator is C1 * C2
    # there), constant along rows or not, shared by the samples or one per sample
    rng = np.random.default_rng(19)
    n, n_times = 6, 40
    a = rng.standard_normal((n, 22, n_times))
    b = np.zeros_like(a)
    if ref == "channels":
        b[:, GT_CHANS] = 1.0
    elif ref == "channels_per_sample":
        for i in range(n):
            b[i, [i, 2 * i + 9]] = 1.0
    elif ref == "edge_channels":  # the empty windows in the middle
        b[:, [0, 21]] = 1.0
    elif ref == "every_third_channel":  # no empty window
        b[:, ::3] = 1.0
    elif ref == "pixels_in_channels":
        b[:, GT_CHANS, ::3] = 1.0
    elif ref == "continuous_in_channels":
        b[:, GT_CHANS] = rng.random((n, len(GT_CHANS), n_times))
    else:
        b = rng.standard_normal(a.shape)
    for win in (5, 7):
        expected, k4 = bd_metrics.compute_ssim_metrics(a, b, win_size=win)
        assert k4 == 0
        ours = compute_metrics(a, b, metrics=SSIM_METRIC_NAMES, win_size=win, batch_size=4,
                               verbose=False)
        np.testing.assert_allclose(ours.to_numpy(), expected, rtol=1e-9, atol=1e-12)
        with _plain_ssim_route():
            plain = compute_metrics(a, b, metrics=SSIM_METRIC_NAMES, win_size=win,
                                    batch_size=4, verbose=False)
        np.testing.assert_allclose(ours.to_numpy(), plain.to_numpy(), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("abs_explanation", [False, True])
@pytest.mark.parametrize("ref", ["binary", "repeated", "continuous", "ties"])
def test_ssim_fast_route_equals_plain_route_on_tricky_maps(abs_explanation, ref):
    rng = np.random.default_rng(22)
    a = _tricky_maps(rng, n_times=30)
    b = _tricky_reference(rng, a, ref)
    kw = dict(metrics=SSIM_METRIC_NAMES, abs_explanation=abs_explanation, prctile_val=90,
              batch_size=5, verbose=False)
    with mock.patch("warnings.warn"):
        fast = compute_metrics(a, b, **kw)
        with _plain_ssim_route():
            plain = compute_metrics(a, b, **kw)
    pd.testing.assert_frame_equal(fast, plain, rtol=1e-11, atol=1e-13)


def test_topomap_ssim_equals_skimage_over_in_head_windows(projector):
    rng = np.random.default_rng(20)
    n, win, q = 3, 7, 95
    a = rng.standard_normal((n, 22))
    gt = np.zeros((n, 22))
    gt[:, GT_CHANS] = 1.0
    ours = compute_metrics(a, gt, metrics=SSIM_METRIC_NAMES, mode="topomap",
                           projector=projector, verbose=False)
    # the windows (of skimage's cropped SSIM map) whose pixels are all in the head
    windows = np.lib.stride_tricks.sliding_window_view(projector.mask, (win, win))
    inside = windows.all(axis=(-2, -1))
    pad = (win - 1) // 2

    def mean_ssim(x, y, data_range):  # skimage's SSIM map, averaged over in-head windows
        _, full = structural_similarity(
            projector.to_image(x, fill_value=0.0), projector.to_image(y, fill_value=0.0),
            win_size=win, data_range=data_range, gaussian_weights=False, full=True)
        return full[pad:-pad, pad:-pad][inside].mean()

    def minmax(v):
        return (v - v.min()) / (v.max() - v.min())

    for i, (x, g) in enumerate(zip(projector.project(a), projector.project(gt))):
        g_norm = minmax(np.abs(g))
        g_top = np.where(g_norm < np.percentile(g_norm, q), 0.0, g_norm)
        x_top = np.where(x < np.percentile(x, q), 0.0, x)
        expected = [
            mean_ssim(g_top, x_top, x_top.max() - x_top.min()),
            mean_ssim(g_norm, minmax(np.maximum(x, 0)), 1.0),
            mean_ssim(g_norm, minmax(x), 1.0),
            mean_ssim(g_norm, x, x.max() - x.min()),
        ]
        np.testing.assert_allclose(ours.iloc[i].to_numpy(), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["binary", "continuous"])
def test_ssim_with_one_reference_per_class(kind):
    # one mask per class: batches where all samples share the reference (filtered once)
    # and batches where they do not
    rng = np.random.default_rng(21)
    a = rng.standard_normal((7, 22, 30))
    masks = np.zeros((3, 22, 30))
    masks[0, GT_CHANS] = 1.0
    masks[1, 3:6] = 1.0
    masks[2, GT_CHANS, 5:20] = 1.0
    if kind == "continuous":
        masks *= rng.random(masks.shape) + 0.5
    b = masks[[0, 0, 0, 1, 1, 2, 0]]
    expected, _ = bd_metrics.compute_ssim_metrics(a, b)
    for batch_size in (1, 3, 7):
        ours = compute_metrics(a, b, metrics=SSIM_METRIC_NAMES, batch_size=batch_size,
                               verbose=False)
        np.testing.assert_allclose(ours.to_numpy(), expected, rtol=1e-9, atol=1e-12)
