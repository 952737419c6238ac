"""Peak localisation and the shuffled-map null of the ground-truth scores, against plain
loops and scikit-learn."""
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from neuroxai import InvalidInputError
from neuroxai.data import make_info
from neuroxai.metrics import (
    GROUND_TRUTH_METRIC_NAMES,
    compute_ground_truth_metrics,
    compute_ground_truth_null,
)
from neuroxai.metrics.ground_truth_null import child_generators, draw_permutations

CH = ["F3", "Fz", "F4", "C3", "Cz", "C4", "P3", "Pz", "P4"]


def _masks(n_chans=9, n_items=30):
    masks = np.zeros((2, n_chans, n_items), bool)
    masks[0, 3, 10:20] = True  # class 0: C3, middle of the axis
    masks[1, [4, 5], 15:] = True  # class 1: Cz and C4, second half
    return masks


def _maps(rng, y, masks, gain):
    n = len(y)
    return rng.standard_normal((n,) + masks.shape[1:]) + gain * masks[y]


def _peak_loop(rel, mask):
    """Plain reference: share of the maximum's (tied) entries inside the mask."""
    top = np.flatnonzero(rel.ravel() == rel.max())
    return np.mean(mask.ravel()[top])


def test_peak_metrics_against_plain_loops():
    rng = np.random.default_rng(0)
    info = make_info(CH)
    pos = np.array([ch["loc"][:3] for ch in info["chs"]])
    masks = _masks()
    y = np.array([0, 1, 0, 1, 1, 0])
    maps = _maps(rng, y, masks, 1.0)
    maps[2] = 0.0
    maps[2, 0, 5] = maps[2, 8, 25] = 3.0  # two tied maxima, both outside the mask
    freqs = np.linspace(4, 33, 30)
    s = compute_ground_truth_metrics(maps, masks, y=y, info=info, dims=("trial", "chan", "freq"),
                                     coords={"freq": freqs}, verbose=False)
    assert list(s.columns) == GROUND_TRUTH_METRIC_NAMES + ["PeakDistanceCm", "PeakDistanceHz"]
    for i in range(len(y)):
        rel, m = np.abs(maps[i]), masks[y[i]]
        assert s["PeakInMask"][i] == pytest.approx(_peak_loop(rel, m))
        tops = np.argwhere(rel == rel.max())
        chans, bins = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        cm = [min(np.linalg.norm(pos[c] - pos[j]) * 100 for j in chans) for c, _ in tops]
        hz = [min(abs(freqs[f] - freqs[j]) for j in bins) for _, f in tops]
        assert s["PeakDistanceCm"][i] == pytest.approx(np.mean(cm))
        assert s["PeakDistanceHz"][i] == pytest.approx(np.mean(hz))
    assert s["PeakInMask"][2] == 0 and s["PeakDistanceCm"][2] > 3  # F3 / P4 to C3: > 3 cm
    # a band axis (as band_ablation returns it): distances between the bands' centres
    edges = np.column_stack([freqs - 0.5, freqs + 0.5])
    b = compute_ground_truth_metrics(maps, masks, y=y, dims=("trial", "chan", "band"),
                                     coords={"band_edges": edges}, metrics=["PeakDistanceHz"],
                                     verbose=False)
    np.testing.assert_allclose(b["PeakDistanceHz"], s["PeakDistanceHz"])
    # a map peaking inside its mask: in the mask, no distance
    perfect = compute_ground_truth_metrics(masks[y] * 1.0, masks, y=y, info=info,
                                           verbose=False)
    np.testing.assert_allclose(perfect["PeakInMask"], 1.0)
    np.testing.assert_allclose(perfect["PeakDistanceCm"], 0.0)
    with pytest.raises(InvalidInputError, match="PeakDistanceHz"):
        compute_ground_truth_metrics(maps, masks, y=y, metrics=["PeakDistanceHz"])


def test_null_equals_plain_loops_with_sklearn():
    rng = np.random.default_rng(1)
    masks = _masks()
    y = np.array([0, 1, 1, 0, 1])
    maps = _maps(rng, y, masks, 0.7)
    n_perm, seed = 30, 7
    res = compute_ground_truth_null(
        maps, masks, y, metrics=["ROC_AUC", "RelevanceMassAccuracy", "RelevanceRankAccuracy",
                                 "PeakInMask"], n_permutations=n_perm, alpha=0.05, seed=seed,
        verbose=False)
    # the same shuffles, drawn by the same generator, applied to the maps one at a time
    shuffle_rng = child_generators(np.random.default_rng(seed))[0]  # one child generator per null
    (perm,) = next(draw_permutations(shuffle_rng, n_perm, len(y), [9], n_perm))
    ref = {name: [] for name in res.index}
    for b in range(n_perm):
        per = {name: [] for name in res.index}
        for i in range(len(y)):
            r, m = np.abs(maps[i][perm[b, i]]).ravel(), masks[y[i]].ravel()
            per["ROC_AUC"].append(roc_auc_score(m, r))
            per["RelevanceMassAccuracy"].append(r[m].sum() / r.sum())
            per["RelevanceRankAccuracy"].append(m[np.argsort(-r)[: m.sum()]].mean())
            per["PeakInMask"].append(_peak_loop(r, m))
        for name in ref:
            ref[name].append(np.mean(per[name]))
    for name in ref:
        np.testing.assert_allclose(res.attrs["null"]["shuffle"][name], ref[name], rtol=1e-12)
        obs = compute_ground_truth_metrics(maps, masks, y=y, metrics=[name], verbose=False)
        assert res.loc[name, "observed"] == pytest.approx(obs[name].mean(), rel=1e-12)
        h0 = np.array(ref[name])
        p = (1 + np.sum(h0 >= res.loc[name, "observed"] - 1e-12)) / (1 + n_perm)
        assert res.loc[name, "shuffle_p"] == pytest.approx(p)
        assert res.loc[name, "p_value"] == max(p, res.loc[name, "classes_p"])
    # the class null: the labels permuted across samples, each map against its given
    # class's mask, by the second child generator
    class_rng = child_generators(np.random.default_rng(seed))[1]
    perm_y = class_rng.permuted(np.broadcast_to(y, (n_perm, len(y))), axis=1)
    auc = [np.mean([roc_auc_score(masks[perm_y[b, i]].ravel(), np.abs(maps[i]).ravel())
                    for i in range(len(y))]) for b in range(n_perm)]
    np.testing.assert_allclose(res.attrs["null"]["classes"]["ROC_AUC"], auc, rtol=1e-12)
    top = [np.mean([masks[perm_y[b, i]].ravel()[np.argsort(-np.abs(maps[i]).ravel())[
        : masks[perm_y[b, i]].sum()]].mean() for i in range(len(y))]) for b in range(n_perm)]
    np.testing.assert_allclose(res.attrs["null"]["classes"]["RelevanceRankAccuracy"], top,
                               rtol=1e-12)


def test_null_over_two_axes_equals_a_plain_loop():
    rng = np.random.default_rng(2)
    masks = np.zeros((2, 9, 6), bool)  # channel x band
    masks[0, 3, 2] = masks[1, [4, 5], 4] = True
    y = np.array([1, 0, 1, 0])
    maps = _maps(rng, y, masks, 1.5)
    res = compute_ground_truth_null(maps, masks, y, metrics=["ROC_AUC", "PeakDistanceCm"],
                                    nulls="shuffle", dims=("trial", "chan", "band"),
                                    info=make_info(CH), n_permutations=25, alpha=0.05, seed=3,
                                    verbose=False)
    assert res.attrs["shuffle"] == ("chan", "band") and res.attrs["nulls"] == ("shuffle",)
    shuffle_rng = child_generators(np.random.default_rng(3))[0]
    pc, pb = next(draw_permutations(shuffle_rng, 25, 4, [9, 6], 25))
    ref = [np.mean([roc_auc_score(masks[y[i]].ravel(), np.abs(maps[i][pc[b, i]][:, pb[b, i]])
                                  .ravel()) for i in range(4)]) for b in range(25)]
    np.testing.assert_allclose(res.attrs["null"]["shuffle"]["ROC_AUC"], ref, rtol=1e-12)
    # distances: smaller is better, the p-value counts null values at or below
    d = res.loc["PeakDistanceCm"]
    h0 = res.attrs["null"]["shuffle"]["PeakDistanceCm"]
    assert d["p_value"] == pytest.approx((1 + np.sum(h0 <= d["observed"] + 1e-9)) / 26)


def test_a_map_constant_across_channels_is_never_accurate():
    # GradCAM on ShallowFBCSPNet: the same time course on every channel. Its time course
    # here follows the mask's time window, so its AUC is well above 0.6 (the old threshold)
    masks = _masks()
    y = np.array([0, 1] * 6)
    course = masks[y].any(axis=1, keepdims=True) + 0.1 * np.random.default_rng(3).random(
        (12, 1, 30))
    maps = np.broadcast_to(course, (12, 9, 30)).copy()
    res = compute_ground_truth_null(maps, masks, y, n_permutations=200, verbose=False)
    assert res.loc["ROC_AUC", "observed"] > 0.7
    # every shuffle leaves the map unchanged: the null is the observed value, p = 1
    for name in res.index:
        np.testing.assert_array_equal(res.attrs["null"]["shuffle"][name],
                                      res.loc[name, "observed"])
        assert res.loc[name, "shuffle_p"] == 1.0 and res.loc[name, "p_value"] == 1.0
        assert not res.loc[name, "significant"]
    assert res.attrs["accurate"] is False


def test_the_envelope_without_spatial_information_is_not_accurate():
    """The model-free envelope of data whose power is the same on every channel."""
    from neuroxai.attribution import attribute

    rng = np.random.default_rng(4)
    masks = _masks(n_items=200)
    y = np.array([0, 1] * 10)
    # class information in time only: a 10 Hz burst, in the mask's time window, on all
    # channels alike; the mask names particular channels, which the data do not single out
    t = np.arange(200) / 100.0
    burst = np.sin(2 * np.pi * 10 * t) * masks[y].any(axis=1)
    X = (rng.standard_normal((20, 9, 200)) + 3 * burst[:, None, :]).astype(np.float32)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(9 * 200, 2))
    env = attribute(model, X, y, method="envelope").data
    res = compute_ground_truth_null(env, masks, y, n_permutations=500, seed=0, verbose=False)
    assert not res.attrs["accurate"] and res.loc["RelevanceMassAccuracy", "shuffle_p"] > 0.05
    assert res.loc["ROC_AUC", "observed"] > 0.6  # the time course alone passed the old rule
    # power at every class's channels alike (an ongoing rhythm all classes share): the
    # envelope beats the shuffles, not the other classes' masks
    shared = masks.any(axis=0).any(axis=1)  # C3, Cz, C4
    X1 = (rng.standard_normal((20, 9, 200)) + 3 * shared[None, :, None]
          * np.sin(2 * np.pi * 10 * t)).astype(np.float32)
    env1 = attribute(model, X1, y, method="envelope").data
    res1 = compute_ground_truth_null(env1, masks, y, n_permutations=500, seed=0, verbose=False)
    assert res1.loc["RelevanceMassAccuracy", "shuffle_p"] < 0.01
    assert res1.loc["RelevanceMassAccuracy", "classes_p"] > 0.05
    assert not res1.attrs["accurate"]
    # the same envelope where the burst sits at the mask's channels only is accurate
    X2 = (rng.standard_normal((20, 9, 200)) + 3 * burst[:, None, :] * masks[y]).astype(
        np.float32)
    env2 = attribute(model, X2, y, method="envelope").data
    assert compute_ground_truth_null(env2, masks, y, n_permutations=500, seed=0,
                                     verbose=False).attrs["accurate"]


def test_null_reproducible_without_global_state():
    rng = np.random.default_rng(5)
    masks = _masks()
    y = np.array([0, 1, 0, 1])
    maps = _maps(rng, y, masks, 0.2)
    state = np.random.get_state()  # noqa: NPY002 - the global state must stay untouched
    a = compute_ground_truth_null(maps, masks, y, n_permutations=50, seed=11, verbose=False)
    b = compute_ground_truth_null(maps, masks, y, n_permutations=50,
                                  seed=np.random.default_rng(11), verbose=False)
    c = compute_ground_truth_null(maps, masks, y, n_permutations=50, seed=12, verbose=False)
    assert np.random.get_state()[1].tolist() == state[1].tolist()  # noqa: NPY002
    for null in ("shuffle", "classes"):
        np.testing.assert_array_equal(a.attrs["null"][null]["ROC_AUC"],
                                      b.attrs["null"][null]["ROC_AUC"])
        assert not np.array_equal(a.attrs["null"][null]["ROC_AUC"],
                                  c.attrs["null"][null]["ROC_AUC"])


def test_null_bad_input():
    masks, y = _masks(), np.array([0, 1])
    maps = np.ones((2, 9, 30))
    with pytest.raises(InvalidInputError, match="at least 20 permutations"):
        compute_ground_truth_null(maps, masks, y, n_permutations=10, alpha=0.05)
    with pytest.raises(InvalidInputError, match="shuffle"):
        compute_ground_truth_null(maps, masks, y, shuffle="time")
    with pytest.raises(InvalidInputError, match="seed"):
        compute_ground_truth_null(maps, masks, y, seed=-2)
    with pytest.raises(InvalidInputError, match="empty or full"):
        compute_ground_truth_null(maps, np.zeros((9, 30), bool))
    with pytest.raises(InvalidInputError, match="per-class masks"):
        compute_ground_truth_null(maps, masks[y], nulls="classes")
    with pytest.raises(InvalidInputError, match="nulls"):
        compute_ground_truth_null(maps, masks, y, nulls="labels")
    # every class with the same mask: another class's mask is the same, no class null
    same = np.stack([masks[0], masks[0]])
    with pytest.raises(InvalidInputError, match="differ"):
        compute_ground_truth_null(maps, same, y, nulls="classes")
    auto = compute_ground_truth_null(np.random.default_rng(0).random((2, 9, 30)), same, y,
                                     n_permutations=20, verbose=False)
    assert auto.attrs["nulls"] == ("shuffle",) and "classes_p" not in auto.columns
