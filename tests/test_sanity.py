"""Tests of neuroxai.sanity.randomization (Adebayo et al. 2018 randomisation checks)."""
import copy

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr

from neuroxai._utils import (
    DegenerateMethodWarning,
    InvalidInputError,
    LayerNotFoundError,
    NonFiniteError,
    ShapeError,
    TargetError,
    UnknownNameError,
)
from neuroxai.sanity._similarity import per_trial_similarity
from neuroxai.sanity.randomization import (
    RandomizationResult,
    cascading_randomization,
    data_randomization,
    full_randomization,
    independent_randomization,
    iter_cascading_models,
    iter_independent_models,
    label_randomization,
    list_randomizable_layers,
    random_targets,
    randomize_model,
)

# braindecode's montage FutureWarning, EEGNet's parameter DeprecationWarning and wfdb's
# pandas warning at import are theirs.
pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The inplace keyword:Warning"),
]

N_CHANS, N_TIMES, N_CLASSES = 8, 250, 4


# ---------------------------------------------------------------------------- fixtures
def _shallow(seed=0):
    from braindecode.models import ShallowFBCSPNet

    torch.manual_seed(seed)
    # Fewer filters than the default 40: same layers, a fifth of the compute.
    return ShallowFBCSPNet(n_chans=N_CHANS, n_outputs=N_CLASSES, n_times=N_TIMES,
                           n_filters_time=8, n_filters_spat=8).eval()


def _eegnet(seed=0):
    from braindecode.models import EEGNet

    torch.manual_seed(seed)
    return EEGNet(n_chans=N_CHANS, n_outputs=N_CLASSES, n_times=N_TIMES).eval()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, N_CHANS, N_TIMES)).astype(np.float32)
    y = rng.integers(0, N_CLASSES, len(X))
    return X, y


@pytest.fixture(scope="module")
def shallow():
    return _shallow()


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# Attribution methods as callables fn(model, X, target): independent of the registry.
def saliency(model, X, target):
    x = torch.as_tensor(X).requires_grad_(True)
    model(x).gather(1, torch.as_tensor(target)[:, None]).sum().backward()
    return x.grad.abs().numpy()


def input_x_gradient(model, X, target):
    x = torch.as_tensor(X).requires_grad_(True)
    model(x).gather(1, torch.as_tensor(target)[:, None]).sum().backward()
    return (x.grad * x).detach().numpy()


def grad_of_all_logits(model, X, target):  # ignores the target
    x = torch.as_tensor(X).requires_grad_(True)
    model(x).sum().backward()
    return x.grad.abs().numpy()


def input_magnitude(model, X, target):  # ignores the model
    return np.abs(X)


# -------------------------------------------------------------------------- similarity
def test_similarity_matches_scipy():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 3, 7))
    b = a + rng.standard_normal(a.shape)
    b[0] = np.round(b[0])  # ties in the ranks
    sims = per_trial_similarity(a, b, chunk_size=2)  # chunks of 2, 2, 1 trials
    for i in range(len(a)):
        fa, fb = a[i].ravel(), b[i].ravel()
        assert sims["pearson"][i] == pytest.approx(pearsonr(fa, fb)[0], abs=1e-10)
        assert sims["spearman"][i] == pytest.approx(spearmanr(fa, fb)[0], abs=1e-10)
        assert sims["spearman_abs"][i] == pytest.approx(
            spearmanr(np.abs(fa), np.abs(fb))[0], abs=1e-10)


def test_fast_ranks_equal_rankdata_and_cache_is_reused():
    from scipy.stats import rankdata

    from neuroxai.sanity._similarity import _rank_rows

    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 50)).astype(np.float32)
    x[1, :10] = 0.0  # ties: averaged as rankdata does
    x[2] = np.round(x[2])
    np.testing.assert_array_equal(_rank_rows(x), rankdata(x, axis=1))
    a = rng.standard_normal((5, 2, 9))
    cache = {}
    for _ in range(2):  # the second call takes a's ranks from the cache
        b = a + rng.standard_normal(a.shape)
        with_cache = per_trial_similarity(a, b, chunk_size=2, cache=cache)
        plain = per_trial_similarity(a, b, chunk_size=2)
        for m in plain:
            np.testing.assert_allclose(with_cache[m], plain[m], rtol=1e-12)
    assert {k[1] for k in cache} == {"spearman", "spearman_abs"}


def test_similarity_constant_maps_are_scored_not_nan():
    a = np.random.default_rng(2).standard_normal((3, 2, 5))
    b = a.copy()
    b[0] = 0.0  # constant in one map only: the map changed
    a[1] = b[1] = 3.0  # constant and equal in both: unchanged
    with pytest.warns(DegenerateMethodWarning, match="constant"):
        sims = per_trial_similarity(a, b)
    for s in sims.values():
        assert np.all(np.isfinite(s))
        assert s[0] == 0.0 and s[1] == 1.0 and s[2] == pytest.approx(1.0)
    with pytest.raises(ShapeError):
        per_trial_similarity(a, b[:, :1])


# ------------------------------------------------------------------------------ layers
def test_layers_in_forward_order():
    assert list_randomizable_layers(_shallow()) == [
        "conv_time_spat.conv_time", "conv_time_spat.conv_spat", "bnorm",
        "final_layer.conv_classifier",
    ]
    names = list_randomizable_layers(_eegnet())
    assert names[0] == "conv_temporal" and names[-1] == "final_layer.conv_classifier"
    # The parametrised layer is listed once, by its own name, not its parametrisation.
    assert "conv_spatial" in names
    assert not any("parametrizations" in n for n in names)


def test_cascade_levels_are_independent_copies(shallow, data):
    from braindecode.visualization.sanity import cascading_layer_reset

    X, _ = data
    before = _state(shallow)
    levels = list(iter_cascading_models(shallow, X=X, seed=3))
    assert _same_state(_state(shallow), before)  # caller's model untouched
    names = [n for n, _ in levels]
    assert names == list_randomizable_layers(shallow)[::-1]
    models = [m for _, m in levels]
    assert len({id(m) for m in models}) == len(models)
    states = [_params(m) for m in models]
    for k in range(len(models) - 1):
        assert not _same_state(states[k], states[k + 1])
        # Level k+1 differs from level k exactly in the layer it adds, whose weights differ
        # from the trained ones; the layers already randomised keep their random values.
        new_layer = names[k + 1]
        for key in states[k]:
            same = torch.equal(states[k][key], states[k + 1][key])
            assert same != key.startswith(new_layer + "."), key
    outputs = [m(torch.as_tensor(X)).detach() for m in models]
    assert not torch.allclose(outputs[0], outputs[-1])
    # Modifying one yielded model leaves the next level alone.
    gen = iter_cascading_models(shallow, X=X, seed=3)
    _, first = next(gen)
    with torch.no_grad():
        for p in first.parameters():
            p.zero_()
    _, second = next(gen)
    assert _same_state(_params(second), states[1])

    # braindecode 1.8.1 yields one object mutated in place: collected levels are all the
    # fully randomised model.
    bd_levels = list(cascading_layer_reset(copy.deepcopy(shallow)))
    assert len({id(m) for _, m in bd_levels}) == 1


def test_independent_levels_randomise_one_layer(shallow, data):
    X, _ = data
    before = _params(shallow)
    for name, m in iter_independent_models(shallow, X=X):
        s = _params(m)
        for key in s:
            assert torch.equal(s[key], before[key]) != key.startswith(name + "."), (name, key)


def test_parametrised_weight_randomised_at_source():
    from braindecode.visualization.sanity import cascading_layer_reset

    eegnet = _eegnet()
    assert hasattr(eegnet.conv_spatial, "parametrizations")
    src_before = eegnet.conv_spatial.parametrizations.weight.original.detach().clone()
    w_before = eegnet.conv_spatial.weight.detach().clone()
    state = _state(eegnet)

    rand = randomize_model(eegnet, "conv_spatial", seed=0)
    src = rand.conv_spatial.parametrizations.weight.original
    assert not torch.allclose(src, src_before)
    assert not torch.allclose(rand.conv_spatial.weight, w_before)
    # The computed weight is the max-norm constraint applied to the new source.
    torch.testing.assert_close(rand.conv_spatial.weight, src.renorm(p=2, dim=0, maxnorm=1.0))
    # The caller's model is untouched and still works (its parametrised class is intact).
    assert _same_state(_state(eegnet), state)
    eegnet(torch.zeros(2, N_CHANS, N_TIMES))

    # braindecode 1.8.1: the max-norm spatial filter survives the whole cascade.
    bd = copy.deepcopy(eegnet)
    for _ in cascading_layer_reset(bd, deepcopy_first=False):
        pass
    assert torch.equal(bd.conv_spatial.parametrizations.weight.original, src_before)


def test_batchnorm_affine_randomised_not_identity(shallow):
    from braindecode.visualization.sanity import cascading_layer_reset

    rand = randomize_model(shallow, "bnorm", seed=0, norm_std=0.5)
    w, b = rand.bnorm.weight.detach(), rand.bnorm.bias.detach()
    assert not torch.allclose(w, torch.ones_like(w)) and not torch.allclose(b, torch.zeros_like(b))
    assert not torch.allclose(w, shallow.bnorm.weight)
    # weight ~ N(1, norm_std), bias ~ N(0, norm_std): the same draw scales with norm_std.
    wider = randomize_model(shallow, "bnorm", seed=0, norm_std=1.0)
    torch.testing.assert_close(wider.bnorm.weight - 1, 2 * (w - 1))
    torch.testing.assert_close(wider.bnorm.bias, 2 * b)
    # Running statistics are kept (documented).
    assert torch.equal(rand.bnorm.running_mean, shallow.bnorm.running_mean)
    assert torch.equal(rand.bnorm.running_var, shallow.bnorm.running_var)

    # braindecode 1.8.1 "randomises" BatchNorm to the identity.
    bd = copy.deepcopy(shallow)
    with torch.no_grad():
        bd.bnorm.weight.normal_()
    for name, _ in cascading_layer_reset(bd, deepcopy_first=False):
        if name == "bnorm":
            break
    assert torch.equal(bd.bnorm.weight, torch.ones_like(bd.bnorm.weight))
    assert torch.equal(bd.bnorm.bias, torch.zeros_like(bd.bnorm.bias))


def test_randomisation_is_seeded(shallow):
    rng_state = torch.random.get_rng_state()
    a = _state(randomize_model(shallow, seed=5))
    b = _state(randomize_model(shallow, seed=5))
    c = _state(randomize_model(shallow, seed=6))
    assert _same_state(a, b) and not _same_state(a, c)
    assert torch.equal(torch.random.get_rng_state(), rng_state)  # global RNG untouched
    # A layer gets the same random weights whatever else is randomised with it.
    d = _state(randomize_model(shallow, ["final_layer.conv_classifier", "bnorm"], seed=5))
    assert torch.equal(a["bnorm.weight"], d["bnorm.weight"])


# ------------------------------------------------------------------------------ checks
def test_input_only_map_fails_cascade(shallow, data):
    X, y = data
    res = cascading_randomization(shallow, X, y, input_magnitude, progress=False)
    assert isinstance(res, RandomizationResult)
    assert not res.passed and res.verdict == "FAIL"
    for s in res.scores.values():
        np.testing.assert_allclose(s, 1.0)
    assert not res.level_passed.any()


def test_saliency_passes_cascade_and_full_reset(shallow, data):
    X, y = data
    res = cascading_randomization(shallow, X, y, saliency, return_maps=True, progress=False)
    assert res.passed, res
    assert res.levels == list_randomizable_layers(shallow)[::-1]
    assert res.scores["pearson"].shape == (4, len(X))
    assert res.reference.shape == X.shape and len(res.maps) == 4
    # Full reset = last cascade level (same per-layer seeds).
    full = full_randomization(shallow, X, y, saliency, progress=False)
    assert full.passed and full.levels == ["all layers"]
    np.testing.assert_allclose(full.scores["pearson"][0], res.scores["pearson"][-1])


def test_precomputed_reference_gives_the_same_result(shallow, data):
    X, y = data
    ref = saliency(shallow, X, y)
    plain = cascading_randomization(shallow, X, y, saliency, progress=False)
    reused = cascading_randomization(shallow, X, y, saliency, reference=ref, progress=False)
    for m in plain.scores:
        np.testing.assert_allclose(reused.scores[m], plain.scores[m], rtol=1e-12)
    lab = label_randomization(shallow, X, y, saliency, reference=ref, progress=False)
    np.testing.assert_allclose(
        lab.scores["pearson"],
        label_randomization(shallow, X, y, saliency, progress=False).scores["pearson"])
    with pytest.raises(ShapeError, match="reference"):
        label_randomization(shallow, X, y, saliency, reference=ref[:3], progress=False)
    bad = ref.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        full_randomization(shallow, X, y, saliency, reference=bad, progress=False)


def test_label_randomization(shallow, data):
    from braindecode.visualization.sanity import random_target

    X, y = data
    assert not label_randomization(shallow, X, y, grad_of_all_logits, progress=False).passed
    res = label_randomization(shallow, X, y, saliency, seed=4, progress=False)
    assert res.passed, res
    other = res.info["random_target"]
    assert np.all(other != y) and other.min() >= 0 and other.max() < N_CLASSES
    np.testing.assert_array_equal(other, random_targets(y, N_CLASSES, seed=4))
    # Same draw as braindecode's random_target with the same generator (oracle).
    np.testing.assert_array_equal(
        random_targets(y, N_CLASSES, seed=np.random.default_rng(9)),
        random_target(y, N_CLASSES, generator=np.random.default_rng(9)))


def test_independent_randomization_rules(data):
    X, y = data
    model = _shallow(1)
    res = independent_randomization(model, X, y, input_x_gradient, progress=False)
    assert res.rule == "majority" and len(res.levels) == 4
    assert res.passed == (res.level_passed.sum() > 2)
    strict = independent_randomization(model, X, y, input_x_gradient, rule="all",
                                       layers=[["conv_time_spat"], "bnorm"], progress=False)
    assert strict.levels == ["conv_time_spat", "bnorm"]
    assert strict.passed == bool(strict.level_passed.all())
    with pytest.raises(UnknownNameError, match="majority"):
        independent_randomization(model, X, y, saliency, rule="most")


def test_result_tables_and_repr(shallow, data):
    X, y = data
    res = cascading_randomization(shallow, X, y, saliency, seed=1, progress=False)
    df = res.to_dataframe()
    assert len(df) == 4 * len(X)
    assert {"level", "randomized", "trial", "pearson", "spearman", "spearman_abs"} <= set(df)
    np.testing.assert_allclose(df["pearson"].to_numpy(), res.scores["pearson"].ravel())
    summary = res.summary()
    assert len(summary) == 4 and summary["passed"].tolist() == res.level_passed.tolist()
    for m in ("pearson", "spearman", "spearman_abs"):
        assert np.all(summary[f"{m}_ci_low"] <= summary[f"{m}_mean"] + 1e-12)
        assert np.all(summary[f"{m}_mean"] <= summary[f"{m}_ci_high"] + 1e-12)
    text = repr(res)
    assert "PASS" in text and "final_layer.conv_classifier" in text and "95% CI" in text
    # Bootstrap is seeded.
    again = cascading_randomization(shallow, X, y, saliency, seed=1, progress=False)
    np.testing.assert_array_equal(res.ci["pearson"], again.ci["pearson"])


# --------------------------------------------------------------------------- bad input
def test_bad_inputs_raise_named_errors(shallow, data):
    X, y = data

    def ragged(model, X, target):  # the map length changes between batches
        return np.abs(X[:, :, : 100 + len(X)])

    with pytest.raises(ShapeError, match="shapes"):
        cascading_randomization(shallow, X, y, ragged, batch_size=4, progress=False)

    calls = []

    def shape_drifts(model, X, target):  # shape differs between trained and random model
        calls.append(1)
        return np.abs(X) if len(calls) == 1 else np.abs(X[:, :, :-1])

    with pytest.raises(ShapeError):
        full_randomization(shallow, X, y, shape_drifts, batch_size=len(X))

    def nan_map(model, X, target):
        out = saliency(model, X, target)
        out[0, 0, 0] = np.nan
        return out

    with pytest.raises(NonFiniteError, match="NaN"):
        label_randomization(shallow, X, y, nan_map)

    with pytest.raises(LayerNotFoundError, match="conv_time_spat.conv_spat") as err:
        cascading_randomization(shallow, X, y, saliency, layers=["conv_spatial"])
    assert "'bnorm'" in str(err.value)

    class NoParams(torch.nn.Module):
        def forward(self, x):
            return x[:, :N_CLASSES].mean(-1)

    with pytest.raises(InvalidInputError, match="no parametrised layer"):
        cascading_randomization(NoParams(), X, y, saliency)

    with pytest.raises(TargetError):
        cascading_randomization(shallow, X, np.full(len(X), N_CLASSES), saliency)
    with pytest.raises(UnknownNameError, match="spearman_abs"):
        cascading_randomization(shallow, X, y, saliency, metric="kendall")
    with pytest.raises(InvalidInputError):
        cascading_randomization(shallow, X, y, method=42)
    bad_X = X.copy()
    bad_X[0, 0, 0] = np.inf
    with pytest.raises(NonFiniteError):
        cascading_randomization(shallow, bad_X, y, saliency)


# ----------------------------------------------------------------------- data randomisation
def test_data_randomization_fits_permuted_labels():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((64, N_CHANS, N_TIMES)).astype(np.float32)
    y = np.repeat(np.arange(N_CLASSES), 16)
    model = _shallow(2)
    before = _state(model)
    res = data_randomization(model, X, y, saliency, X=X[:16], target=y[:16], max_epochs=30,
                             lr=1e-2, train_batch_size=32, seed=0, progress=False)
    assert res.info["fitted"] and res.info["train_accuracy"] >= 0.95, res.info["history"]
    assert res.info["epochs"] <= 30
    perm = res.info["y_permuted"]
    assert sorted(perm) == sorted(y) and not np.array_equal(perm, y)
    assert _same_state(_state(model), before)
    assert res.scores["pearson"].shape == (1, 16) and res.levels == ["labels (retrained)"]
    assert np.isfinite(res.scores["pearson"]).all()

    seen = {}

    def fit_fn(m, X_train, y_train, seed):  # a "fit" that does not train: warns, not fitted
        seen["y"] = y_train
        return m

    with pytest.warns(UserWarning, match="training accuracy"):
        res2 = data_randomization(model, X, y, saliency, X=X[:8], target=y[:8], fit_fn=fit_fn,
                                  seed=0, progress=False)
    np.testing.assert_array_equal(seen["y"], perm)  # same seed, same permutation
    assert not res2.info["fitted"] and "warning" in repr(res2)


# ------------------------------------------------------------------------------ registry
def test_registered_method_name_matches_callable(shallow, data):
    pytest.importorskip("neuroxai.attribution.methods")
    X, y = data
    by_name = full_randomization(shallow, X, y, "saliency", progress=False)
    by_callable = full_randomization(shallow, X, y, saliency, progress=False)
    assert by_name.method == "saliency"
    for m in by_name.scores:
        np.testing.assert_allclose(by_name.scores[m], by_callable.scores[m], atol=1e-5)
    with pytest.raises(UnknownNameError, match="saliency"):
        full_randomization(shallow, X, y, "not_a_method")
