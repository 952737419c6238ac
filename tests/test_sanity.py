"""Tests of neuroxai.sanity.randomization (Adebayo et al. 2018 randomisation checks)."""
import copy
import warnings

import mne
import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr

from neuroxai._utils import (
    InvalidInputError,
    LayerNotFoundError,
    NonFiniteError,
    ShapeError,
    TargetError,
    UnknownNameError,
)
from neuroxai.sanity._similarity import ReferenceMaps, per_trial_similarity
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


def test_partial_rho_removes_the_input_floor():
    # |x g1| and |x g2| share the ranking of |x| whatever g: the plain rho of |maps| sits
    # near 0.5 for independent g1, g2; with |x| held fixed it is ~0 (an axiom of the
    # measure), and 1 for g1 = g2.
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 4, 500))
    g1, g2 = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    sims = per_trial_similarity(x * g1, x * g2, inputs=x)
    assert np.all((sims["spearman_abs"] > 0.35) & (sims["spearman_abs"] < 0.65))
    assert np.all(np.abs(sims["spearman_abs_partial"]) < 0.1)
    np.testing.assert_allclose(per_trial_similarity(x * g1, x * g1, inputs=x)[
        "spearman_abs_partial"], 1.0)
    # plain reference: the textbook partial correlation from three scipy Spearman rhos
    a, b, c = (np.abs(v[0]).ravel() for v in (x * g1, x * g2, x))
    r_ab, r_ac, r_bc = spearmanr(a, b)[0], spearmanr(a, c)[0], spearmanr(b, c)[0]
    want = (r_ab - r_ac * r_bc) / np.sqrt((1 - r_ac ** 2) * (1 - r_bc ** 2))
    assert sims["spearman_abs_partial"][0] == pytest.approx(want, abs=1e-10)
    # maps whose magnitude ranks as |x| exactly: the plain rho (the partial is 0/0)
    same = per_trial_similarity(np.abs(x), np.abs(x), inputs=x)
    np.testing.assert_allclose(same["spearman_abs_partial"], 1.0)
    # other shapes: no partial measure
    assert "spearman_abs_partial" not in per_trial_similarity(x[:, :2], x[:, :2], inputs=x)


def test_reference_ranks_reused_across_levels_equal_plain_core():
    from neuroxai._core.stats import rowwise_pearson, rowwise_spearman

    rng = np.random.default_rng(3)
    a, x = rng.standard_normal((5, 2, 9)), rng.standard_normal((5, 2, 9))
    ref = ReferenceMaps(a, x, chunk_size=2)
    for _ in range(2):  # the second comparison reuses the reference's ranks
        b = a + rng.standard_normal(a.shape)
        sims = ref.compare(b)
        np.testing.assert_allclose(sims["pearson"], rowwise_pearson(a, b), rtol=1e-12)
        np.testing.assert_allclose(sims["spearman"], rowwise_spearman(a, b), rtol=1e-12)
        np.testing.assert_allclose(sims["spearman_abs"],
                                   rowwise_spearman(np.abs(a), np.abs(b)), rtol=1e-12)
    np.testing.assert_allclose(ref.input_share, rowwise_spearman(np.abs(a), np.abs(x)))


def test_similarity_constant_maps_are_nan():
    a = np.random.default_rng(2).standard_normal((3, 2, 5))
    b = a.copy()
    b[0] = 0.0  # constant in one map only
    a[1] = b[1] = 3.0  # constant and equal in both: no correlation either
    sims = per_trial_similarity(a, b, inputs=a)
    for s in sims.values():
        assert np.isnan(s[0]) and np.isnan(s[1]) and s[2] == pytest.approx(1.0)
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


class _Reversed(torch.nn.Module):
    """Registers the head before the convolution it follows in the forward pass."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(4, N_CLASSES)
        self.conv = torch.nn.Conv1d(N_CHANS, 4, 5)

    def forward(self, x):
        return self.head(self.conv(x).mean(-1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_order_on_float32_and_float64_models(dtype, data, caplog):
    X, y = data
    torch.manual_seed(0)
    model = _Reversed().to(dtype)
    with caplog.at_level("INFO", logger="mne"):
        assert list_randomizable_layers(model, X) == ["conv", "head"]  # not registration order
    assert "registration order" not in caplog.text
    # the checks themselves run on a float64 model (float64 trials, float64 maps)
    res = full_randomization(model, X.astype(np.float64), y, saliency, verbose=False)
    assert res.scores["pearson"].shape == (1, len(X)) and np.isfinite(res.mean["pearson"]).all()


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
    res = cascading_randomization(shallow, X, y, input_magnitude)
    assert isinstance(res, RandomizationResult)
    assert res.passed is False and res.verdict == "FAIL"
    for s in res.scores.values():
        np.testing.assert_allclose(s, 1.0)
    assert not res.level_passed.any() and set(res.level_outcome) == {"unchanged"}


def test_saliency_passes_cascade_and_full_reset(shallow, data):
    X, y = data
    res = cascading_randomization(shallow, X, y, saliency, return_maps=True)
    assert res.passed, res
    assert res.levels == list_randomizable_layers(shallow)[::-1]
    assert res.scores["pearson"].shape == (4, len(X))
    assert res.reference.shape == X.shape and len(res.maps) == 4
    # Full reset = last cascade level (same per-layer seeds).
    full = full_randomization(shallow, X, y, saliency)
    assert full.passed and full.levels == ["all layers"]
    for m in res.scores:
        np.testing.assert_allclose(full.scores[m][0], res.scores[m][-1])


def test_precomputed_reference_gives_the_same_result(shallow, data):
    X, y = data
    ref = saliency(shallow, X, y)
    plain = cascading_randomization(shallow, X, y, saliency)
    reused = cascading_randomization(shallow, X, y, saliency, reference=ref)
    for m in plain.scores:
        np.testing.assert_allclose(reused.scores[m], plain.scores[m], rtol=1e-12)
    lab = label_randomization(shallow, X, y, saliency, reference=ref)
    np.testing.assert_allclose(
        lab.scores["pearson"],
        label_randomization(shallow, X, y, saliency).scores["pearson"])
    with pytest.raises(ShapeError, match="reference"):
        label_randomization(shallow, X, y, saliency, reference=ref[:3])
    bad = ref.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        full_randomization(shallow, X, y, saliency, reference=bad)


def test_label_randomization(shallow, data):
    from braindecode.visualization.sanity import random_target

    X, y = data
    bad = label_randomization(shallow, X, y, grad_of_all_logits)
    assert bad.passed is False and bad.level_outcome == ["unchanged"]
    res = label_randomization(shallow, X, y, saliency, seed=4)
    assert res.passed, res
    assert res.n_classes == N_CLASSES and res.signed_maps is False
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
    res = independent_randomization(model, X, y, input_x_gradient)
    assert res.rule == "majority" and len(res.levels) == 4
    assert res.passed == (res.level_passed.sum() > 2)
    assert [o == "changed" for o in res.level_outcome] == res.level_passed.tolist()
    strict = independent_randomization(model, X, y, input_x_gradient, rule="all",
                                       layers=[["conv_time_spat"], "bnorm"])
    assert strict.levels == ["conv_time_spat", "bnorm"]
    assert strict.passed == bool(strict.level_passed.all())
    with pytest.raises(UnknownNameError, match="majority"):
        independent_randomization(model, X, y, saliency, rule="most")


def test_result_tables_and_repr(shallow, data):
    X, y = data
    res = cascading_randomization(shallow, X, y, saliency, seed=1)
    df = res.to_dataframe()
    assert len(df) == 4 * len(X)
    assert {"level", "randomized", "trial", "outcome", "verdict", "pearson", "spearman",
            "spearman_abs", "spearman_abs_partial"} <= set(df)
    np.testing.assert_allclose(df["pearson"].to_numpy(), res.scores["pearson"].ravel())
    summary = res.summary()
    assert len(summary) == 4 and summary["passed"].tolist() == res.level_passed.tolist()
    assert summary["outcome"].tolist() == res.level_outcome
    assert not {"method", "test"} & set(summary)  # the report inserts them
    assert (summary["verdict"] == res.verdict).all()
    assert (summary["model_check"] == "not checked").all()
    assert summary["pearson_n_undefined"].sum() == 0
    assert "necessary, not sufficient" in summary["verdict_text"][0]
    assert "necessary, not sufficient" in summary.attrs["note"]
    for m in ("pearson", "spearman", "spearman_abs", "spearman_abs_partial"):
        assert np.all(summary[f"{m}_ci_low"] <= summary[f"{m}_mean"] + 1e-12)
        assert np.all(summary[f"{m}_mean"] <= summary[f"{m}_ci_high"] + 1e-12)
    text = repr(res)
    assert "PASS" in text and "final_layer.conv_classifier" in text and "95% CI" in text
    assert "necessary, not sufficient" in text
    assert "model not checked" in text and "model not checked" in res.verdict_text
    # Bootstrap is seeded.
    again = cascading_randomization(shallow, X, y, saliency, seed=1)
    np.testing.assert_array_equal(res.ci["pearson"], again.ci["pearson"])


# --------------------------------------------------------------------------- bad input
def test_bad_inputs_raise_named_errors(shallow, data):
    X, y = data

    def ragged(model, X, target):  # the map length changes between batches
        return np.abs(X[:, :, : 100 + len(X)])

    with pytest.raises(ShapeError, match="shapes"):
        cascading_randomization(shallow, X, y, ragged, batch_size=4)

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
    with pytest.raises(InvalidInputError, match="threshold"):
        cascading_randomization(shallow, X, y, saliency, threshold=1.5)
    with pytest.raises(InvalidInputError, match="batch_size"):
        cascading_randomization(shallow, X, y, saliency, batch_size=0)
    with pytest.raises(InvalidInputError):
        cascading_randomization(shallow, X, y, method=42)
    bad_X = X.copy()
    bad_X[0, 0, 0] = np.inf
    with pytest.raises(NonFiniteError):
        cascading_randomization(shallow, bad_X, y, saliency)


# ----------------------------------------------------------------------- data randomisation
@pytest.mark.slow
def test_data_randomization_fits_permuted_labels():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((64, N_CHANS, N_TIMES)).astype(np.float32)
    y = np.repeat(np.arange(N_CLASSES), 16)
    model = _shallow(2)
    before = _state(model)
    res = data_randomization(model, X, y, saliency, X=X[:16], target=y[:16], max_epochs=30,
                             lr=1e-2, train_batch_size=32, seed=0)
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
                                  seed=0)
    np.testing.assert_array_equal(seen["y"], perm)  # same seed, same permutation
    assert not res2.info["fitted"] and "training accuracy" in repr(res2)


# ------------------------------------------------------------------------------ registry
def test_registered_method_name_matches_callable(shallow, data):
    pytest.importorskip("neuroxai.attribution.methods")
    X, y = data
    by_name = full_randomization(shallow, X, y, "saliency")
    by_callable = full_randomization(shallow, X, y, saliency)
    assert by_name.method == "saliency"
    for m in by_name.scores:
        np.testing.assert_allclose(by_name.scores[m], by_callable.scores[m], atol=1e-5)
    with pytest.raises(UnknownNameError, match="saliency"):
        full_randomization(shallow, X, y, "not_a_method")


# ------------------------------------------------------------------------------ verdict rule
def _hand_result(r, u, test="cascading", n_classes=4, signed=True, rule="last", gate=None):
    r, u = np.atleast_1d(r).astype(float), np.atleast_1d(u).astype(float)
    scores = {"pearson": np.repeat(r[:, None], 3, 1),
              "spearman_abs_partial": np.repeat(u[:, None], 3, 1)}
    ci = {m: np.stack([v[:, 0], v[:, 0]], 1) for m, v in scores.items()}
    return RandomizationResult(test=test, method="m", levels=[f"l{i}" for i in range(len(r))],
                               scores=scores, ci=ci, rule=rule, n_classes=n_classes,
                               signed_maps=signed, model_accuracy=gate)


@pytest.mark.parametrize("r, u, outcome", [
    (0.1, 0.1, "changed"), (0.7, 0.9, "unchanged"), (-0.7, 0.9, "sign flip"),
    (-0.7, 0.1, "sign flip"), (0.1, 0.7, "|maps| kept"), (0.49, 0.49, "changed"),
    (0.5, 0.1, "unchanged"), (np.nan, np.nan, "undefined"),
])
def test_level_outcome_uses_signed_and_unsigned_measures(r, u, outcome):
    res = _hand_result(r, u)
    assert res.level_outcome == [outcome]
    assert res.verdict == {"changed": "PASS", "undefined": "UNDEFINED"}.get(outcome, "FAIL")
    assert res.passed is {"PASS": True, "FAIL": False}.get(res.verdict)


@pytest.mark.parametrize("r, u, signed, verdict", [
    (-0.8, 0.9, True, "UNINFORMATIVE"),  # the negated map: what a good method gives
    (0.0, 0.2, True, "UNINFORMATIVE"),  # unrelated maps: what an untrained model gives
    (0.9, 0.9, True, "FAIL"),  # the same signed map: the method ignores the target
    (0.9, 0.9, False, "UNINFORMATIVE"),  # unsigned: |good| = |target-blind|
])
def test_two_class_label_rule(r, u, signed, verdict):
    res = _hand_result(r, u, test="label", n_classes=2, signed=signed)
    assert res.verdict == verdict and res.passed is (False if verdict == "FAIL" else None)
    if verdict == "UNINFORMATIVE":
        assert "2 classes" in res.reason or "unsigned" in res.reason
    # the same numbers with 3 classes follow the general rule
    assert _hand_result(r, u, test="label", n_classes=3, signed=signed).verdict in ("PASS",
                                                                                   "FAIL")


def test_rules_over_levels_skip_undefined_levels():
    r, u = [0.1, 0.9, np.nan, 0.1], [0.1, 0.9, np.nan, 0.1]
    assert _hand_result(r, u, rule="majority").verdict == "PASS"  # 2 of 3 defined levels
    assert _hand_result(r, u, rule="all").verdict == "FAIL"
    assert _hand_result(r, u, rule="any").verdict == "PASS"
    assert _hand_result(r[:3], u[:3], rule="last").verdict == "UNDEFINED"


def test_gate_overrides_every_outcome():
    bad = dict(checked=True, accuracy=0.5, chance=0.5, p_value=0.56, n=48, alpha=0.05,
               above_chance=False, source="held out")
    for r in (0.1, 0.9, np.nan):
        res = _hand_result(r, r, gate=bad)
        assert res.verdict == "NOT ABOVE CHANCE" and res.passed is None
        assert "the maps explain noise" in res.reason and "p = 0.56" in repr(res)


# ------------------------------------------------------------------------------ model gate
@pytest.fixture(scope="module")
def chance_2class():
    """An untrained 2-class ShallowFBCSPNet and labelled noise it is at chance on."""
    from braindecode.models import ShallowFBCSPNet

    torch.manual_seed(0)
    model = ShallowFBCSPNet(n_chans=N_CHANS, n_outputs=2, n_times=N_TIMES, n_filters_time=8,
                            n_filters_spat=8).eval()
    rng = np.random.default_rng(5)
    X = rng.standard_normal((16, N_CHANS, N_TIMES)).astype(np.float32)
    return model, X, np.repeat([0, 1], 8)


def _all_checks(model, X, method, **kw):
    def no_training(m, X_train, y_train, seed):
        return m

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the stub does not fit: it warns
        yield data_randomization(model, X, kw["y"], method, fit_fn=no_training,
                                 **{k: v for k, v in kw.items() if k != "y"})
    for check in (cascading_randomization, independent_randomization, full_randomization,
                  label_randomization):
        yield check(model, X, None, method, **kw)


@pytest.mark.parametrize("method", ["deeplift", "saliency"])
def test_untrained_two_class_model_is_not_above_chance_in_every_check(chance_2class, method):
    model, X, y = chance_2class
    results = list(_all_checks(model, X, method, y=y, verbose=False))
    assert [r.test for r in results] == ["data", "cascading", "independent", "full", "label"]
    for res in results:
        assert res.verdict == "NOT ABOVE CHANCE" and res.passed is None, res
        acc = res.model_accuracy
        assert acc["checked"] and not acc["above_chance"] and acc["p_value"] >= 0.05
        assert acc["n"] == len(X) and acc["chance"] == 0.5
        assert "model not above chance — the maps explain noise" in res.reason
        assert "NOT ABOVE CHANCE" in repr(res) and "necessary, not sufficient" in repr(res)
    # without the gate the similarities alone would have let the untrained model through
    assert any(r._method_verdict() == "PASS" for r in results)


def test_chance_model_on_three_classes_is_not_above_chance(data):
    from neuroxai.models import evaluate_classifier

    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv1d(N_CHANS, 4, 9), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(),
                                torch.nn.Linear(4, 3)).eval()
    rng = np.random.default_rng(8)
    X_held = rng.standard_normal((30, N_CHANS, N_TIMES)).astype(np.float32)
    acc = evaluate_classifier(model, X_held, np.repeat([0, 1, 2], 10), verbose=False)
    assert not acc["above_chance"]
    X, _ = data
    y3 = np.arange(len(X)) % 3
    for res in _all_checks(model, X, "saliency", y=y3, model_accuracy=acc, verbose=False):
        assert res.verdict == "NOT ABOVE CHANCE" and res.passed is None, res
        assert res.model_accuracy["p_value"] == acc["p_value"]  # the given dict, not y3


def test_gate_given_computed_and_not_checked(shallow, data):
    X, y = data
    plain = full_randomization(shallow, X, y, saliency, verbose=False)  # y is the target only
    assert plain.model_check == "not checked" and plain.verdict in ("PASS", "FAIL")
    assert "model not checked" in plain.verdict_text and "no labels" in plain.verdict_text
    good = dict(accuracy=0.9, chance=0.25, p_value=1e-6, n=40, alpha=0.05, above_chance=True)
    res = full_randomization(shallow, X, y, saliency, model_accuracy=good, verbose=False)
    assert res.model_check == "above chance" and res.verdict == plain.verdict
    np.testing.assert_array_equal(res.scores["pearson"], plain.scores["pearson"])
    assert "accuracy 0.90" in repr(res) and "1.0e-06" in repr(res)
    # a stricter alpha than the given dict's turns the same numbers into "not above chance"
    strict = full_randomization(shallow, X, y, saliency, model_accuracy=good, alpha=1e-7,
                                verbose=False)
    assert strict.verdict == "NOT ABOVE CHANCE"
    # labelled trials: computed on them, against the predictions
    pred = shallow(torch.as_tensor(X)).argmax(1).numpy()
    lab = full_randomization(shallow, X, None, saliency, y=pred, class_names=list("abcd"),
                             verbose=False)
    assert lab.model_accuracy["accuracy"] == 1.0 and lab.model_accuracy["n"] == len(X)
    # labels of fewer classes than outputs do not say which output is which: not checked
    some = full_randomization(shallow, X, None, saliency, y=np.arange(len(X)) % 2,
                              verbose=False)
    assert some.model_check == "not checked" and "class_names" in some.verdict_text
    with pytest.raises(InvalidInputError, match="evaluate_classifier"):
        full_randomization(shallow, X, y, saliency, model_accuracy=0.9)


def test_constant_maps_are_undefined_not_scored(shallow, data, caplog):
    X, y = data

    def constant(model, X, target):
        return np.ones(X.shape)

    res = full_randomization(shallow, X, y, constant, verbose=False)
    assert res.verdict == "UNDEFINED" and res.passed is None
    assert res.n_undefined["pearson"].tolist() == [len(X)] and np.isnan(res.mean["pearson"][0])

    def some_constant(model, X, target):  # trials 0 and 3 constant for every model
        out = saliency(model, X, target)
        out[[0, 3]] = 1.0
        return out

    with caplog.at_level("WARNING", logger="mne"):
        part = full_randomization(shallow, X, y, some_constant, verbose="WARNING")
    assert "2 of 10 trials have a constant map" in caplog.text
    full = full_randomization(shallow, X, y, saliency, verbose=False)
    keep = np.setdiff1d(np.arange(len(X)), [0, 3])
    assert part.n_undefined["pearson"].tolist() == [2]
    assert part.mean["pearson"][0] == pytest.approx(full.scores["pearson"][0, keep].mean())
    assert "2 of 10 trials have a constant map" in repr(part)


def test_trials_through_the_boundary_and_eegclassifier(shallow, data):
    from braindecode import EEGClassifier

    X, y = data
    info = mne.create_info([f"C{i}" for i in range(N_CHANS)] + ["EOG"], 125.0,
                           ["eeg"] * N_CHANS + ["eog"])
    with_eog = np.concatenate([X, np.zeros((len(X), 1, N_TIMES), np.float32)], axis=1)
    epochs = mne.EpochsArray(with_eog, info, events=np.column_stack(
        [np.arange(len(X)), np.zeros(len(X), int), y]), tmin=-0.2,
        event_id={f"class{k}": k for k in range(N_CLASSES)}, verbose=False)
    clf = EEGClassifier(copy.deepcopy(shallow), max_epochs=1).initialize()
    via_epochs = label_randomization(clf, epochs, "labels", saliency, verbose=False)
    plain = label_randomization(shallow, X, y, saliency, verbose=False)
    np.testing.assert_allclose(via_epochs.scores["pearson"], plain.scores["pearson"], rtol=1e-5)
    assert via_epochs.model_accuracy["checked"]  # Epochs carry labels: the gate is computed
    np.testing.assert_array_equal(via_epochs.info["target"], y)


def test_deprecated_metric_and_progress_warn(shallow, data):
    X, y = data
    with pytest.warns(FutureWarning, match="metric"):
        full_randomization(shallow, X, y, saliency, metric="spearman", verbose=False)
    with pytest.warns(FutureWarning, match="progress"):
        full_randomization(shallow, X, y, saliency, progress=False, verbose=False)


# -------------------------------------------------------------- a trained 2-class model
@pytest.fixture(scope="module")
def two_class_sim():
    """Left vs right hand of the simulated data (0.5-2.5 s after the cue), a small
    ShallowFBCSPNet trained on session 0 and an untrained twin, both scored on session 1."""
    from braindecode.models import ShallowFBCSPNet

    from neuroxai.data import as_trials, simulate_bcic_iv_2a
    from neuroxai.models import evaluate_classifier, fit_classifier

    sim = simulate_bcic_iv_2a(regime="spectral", n_trials=96, n_sessions=2, snr=2.0, seed=0,
                              verbose=False)

    def left_right(session):
        t = sim.trials.select(session)
        keep = np.isin(t.y, [1, 2])
        return as_trials(t.X[keep][:, :, 250:750], t.y[keep] - 1, info=t.info,
                         tmin=t.tmin + 1.0, class_names=["left_hand", "right_hand"],
                         verbose=False)

    train, test = left_right("0train"), left_right("1test")

    def build():
        torch.manual_seed(0)
        return ShallowFBCSPNet(n_chans=22, n_outputs=2, n_times=500, final_conv_length="auto",
                               n_filters_time=8, n_filters_spat=8)

    trained, _ = fit_classifier(build(), train, n_epochs=6, lr=5e-3, batch_size=16, seed=0,
                                verbose=False)
    untrained = build().eval()
    return dict(test=test, sub=test.select(idx=np.arange(0, len(test), 3)),
                trained=(trained, evaluate_classifier(trained, test, verbose=False)),
                untrained=(untrained, evaluate_classifier(untrained, test, verbose=False)))


@pytest.mark.slow
def test_trained_two_class_model_verdicts_agree_across_measures(two_class_sim):
    model, acc = two_class_sim["trained"]
    assert acc["above_chance"] and acc["accuracy"] >= 0.8, acc
    sub = two_class_sim["sub"]
    for method in ("deeplift", "saliency"):
        kw = dict(method=method, model_accuracy=acc, verbose=False)
        for res in (cascading_randomization(model, sub, "labels", **kw),
                    full_randomization(model, sub, "labels", **kw)):
            assert res.verdict == "PASS", res
            r, u = res.mean["pearson"], res.mean[res.unsigned_metric]
            # signed and unsigned measure both say "changed" at every level
            assert np.all(np.abs(r) < res.threshold) and np.all(u < res.threshold), res
        label = label_randomization(model, sub, "labels", **kw)
        assert label.verdict == "UNINFORMATIVE" and label.passed is None, label
        if method == "deeplift":
            # the method reads the target (the signed maps differ) ...
            assert label.mean["pearson"][0] < label.threshold, label
            # ... and |maps| share the input floor that the partial measure removes
            assert label.mean["spearman_abs"][0] > label.mean["spearman_abs_partial"][0] + 0.1
        else:
            assert label.signed_maps is False


@pytest.mark.slow
def test_untrained_two_class_model_on_simulated_data_is_not_above_chance(two_class_sim):
    model, acc = two_class_sim["untrained"]
    assert not acc["above_chance"], acc
    for method in ("deeplift", "saliency"):
        for check in (cascading_randomization, full_randomization, label_randomization):
            res = check(model, two_class_sim["sub"], "labels", method=method,
                        model_accuracy=acc, verbose=False)
            assert res.verdict == "NOT ABOVE CHANCE", res
