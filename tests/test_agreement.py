"""compute_method_agreement: the agreement numbers the tutorial's figure shows, as data."""
import numpy as np
import pytest
from scipy.stats import pearsonr

from neuroxai import InvalidInputError, ShapeError
from neuroxai.attribution import Attribution
from neuroxai.data import make_info
from neuroxai.metrics import compute_method_agreement


def _maps(seed=0):
    rng = np.random.default_rng(seed)
    info = make_info(["C3", "Cz", "C4", "Pz"], sfreq=100.0)
    return {m: Attribution(rng.standard_normal((5, 4, 30)), ("trial", "chan", "time"), info, m)
            for m in ("saliency", "deeplift", "ig")}, info


def test_map_agreement_equals_a_plain_computation():
    maps, info = _maps()
    share, corr = compute_method_agreement(maps)
    chan = {m: np.abs(a.data).mean(axis=(0, 2)) for m, a in maps.items()}
    expected = 100 * np.mean([c / c.sum() for c in chan.values()], axis=0)
    np.testing.assert_allclose(share.data, expected)
    assert share.dims == ("chan",) and share.info["ch_names"] == info["ch_names"]
    assert share.data.sum() == pytest.approx(100.0)
    r = pearsonr(chan["saliency"], chan["ig"]).statistic
    assert corr.loc["saliency", "ig"] == pytest.approx(r) == corr.loc["ig", "saliency"]
    np.testing.assert_allclose(np.diag(corr.to_numpy()), 1.0)


def test_trial_agreement_skips_undefined_trials():
    maps, _ = _maps(1)
    maps["deeplift"].data[2] = 1.0  # a constant trial map: no correlation for that trial
    _, corr = compute_method_agreement(maps, agreement="trial")
    a = np.abs(maps["saliency"].data).mean(-1)
    b = np.abs(maps["deeplift"].data).mean(-1)
    rs = [pearsonr(a[t], b[t]).statistic for t in (0, 1, 3, 4)]
    assert corr.loc["saliency", "deeplift"] == pytest.approx(np.mean(rs))


def test_bad_input_is_named():
    maps, _ = _maps()
    with pytest.raises(InvalidInputError, match="non-empty dict"):
        compute_method_agreement([])
    with pytest.raises(ShapeError, match="different numbers of channels"):
        compute_method_agreement({"a": maps["ig"], "b": np.zeros((5, 3, 30)) + 1})
    with pytest.raises(InvalidInputError, match="zero everywhere"):
        compute_method_agreement({"a": maps["ig"], "b": np.zeros((5, 4, 30))})


def test_rank_methods_competition_ranks_with_lower_is_better():
    import pandas as pd

    from neuroxai.metrics import rank_methods

    scores = pd.DataFrame({"ROC_AUC": [0.9, 0.7, 0.9, np.nan],
                           "PeakDistanceCm": [1.0, 0.0, 2.0, 3.0]},
                          index=["a", "b", "c", "d"])
    ranks = rank_methods(scores, lower_is_better=["PeakDistanceCm"])
    np.testing.assert_array_equal(ranks["ROC_AUC"], [1, 3, 1, np.nan])  # ties share the best
    np.testing.assert_array_equal(ranks["PeakDistanceCm"], [2, 1, 3, 4])
    with pytest.raises(KeyError, match="PeakDistanceCm"):
        rank_methods(scores, lower_is_better=["peak"])
