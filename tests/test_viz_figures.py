"""Tests of the audit figures (neuroxai.viz.figures): panels, labels, values drawn, errors."""
import matplotlib.pyplot as plt
import mne
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from neuroxai._utils import (
    InvalidInputError,
    MontageError,
    ShapeError,
    TargetError,
    UnknownNameError,
)
from neuroxai.attribution._base import Attribution
from neuroxai.attribution.jacobian import JacobianMaps
from neuroxai.data import make_info
from neuroxai.data.simulate import GroundTruth
from neuroxai.sanity.randomization import RandomizationResult
from neuroxai.viz.figures import (
    OKABE_ITO,
    default_rois,
    plot_ground_truth_comparison,
    plot_haufe_patterns,
    plot_igc_topomaps,
    plot_jacobian_maps,
    plot_method_agreement,
    plot_metric_table,
    plot_sanity_checks,
)

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

CLASSES = ["feet", "left_hand"]


@pytest.fixture(scope="module")
def info():
    return make_info()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def _bare_info(info):
    return mne.create_info(info.ch_names, 250.0, "eeg")


def test_okabe_ito_palette():
    assert len(OKABE_ITO) == 8 and len(set(OKABE_ITO)) == 8
    assert {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
            "#000000"} == set(OKABE_ITO)


# ------------------------------------------------------------------------- Haufe patterns
def test_haufe_patterns_wrap_band_topomaps(info):
    freqs = np.fft.rfftfreq(50, 1 / 250)
    data = np.random.default_rng(0).standard_normal((2, 22, len(freqs)))
    attr = Attribution(data, ("class", "chan", "freq"), info, "haufe_patterns",
                       coords={"freq": freqs, "class": CLASSES})
    fig = plot_haufe_patterns(attr, bands={"mu": (8, 13)}, show=False)
    assert isinstance(fig, Figure) and fig._suptitle.get_text() == "Haufe patterns"
    assert [ax.get_title() for ax in _image_axes(fig)] == CLASSES
    assert any("pattern" in ax.get_ylabel() for ax in fig.axes)
    with pytest.raises(ShapeError):
        plot_haufe_patterns(data[0], info=info, show=False)


# ------------------------------------------------------------------------ method agreement
def _method_arrays(seed=0, n_trials=6, n_times=20):
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 1, 22)[None, :, None]
    return {"saliency": base + rng.standard_normal((n_trials, 22, n_times)),
            "deeplift": -2 * base + rng.standard_normal((n_trials, 22, n_times)),
            "occlusion": rng.standard_normal((n_trials, 22, n_times))}


def test_method_agreement_annotates_map_correlations(info):
    attrs = _method_arrays()
    fig = plot_method_agreement(attrs, info=info, show=False)
    assert isinstance(fig, Figure)
    ax_map, ax_hm = _image_axes(fig)
    names = list(attrs)
    assert [t.get_text() for t in ax_hm.get_xticklabels()] == names
    assert [t.get_text() for t in ax_hm.get_yticklabels()] == names
    maps = np.stack([np.abs(a).mean(axis=(0, 2)) for a in attrs.values()])
    r = np.corrcoef(maps)
    expected = [f"{r[i, j]:.2f}" for i in range(3) for j in range(3) if i != j]
    assert [t for t in _texts(ax_hm) if t] == expected
    # each method is normalised before averaging: scaling one changes nothing
    share = 100 * (maps / maps.sum(1, keepdims=True)).mean(0)
    assert ax_map.images[0].get_clim()[1] == pytest.approx(share.max())
    attrs["deeplift"] = attrs["deeplift"] * 1e6
    fig2 = plot_method_agreement(attrs, info=info, show=False)
    assert _image_axes(fig2)[0].images[0].get_clim()[1] == pytest.approx(share.max())


def test_method_agreement_per_trial_and_given_axes(info):
    from scipy.stats import pearsonr

    attrs = {k: Attribution(v, ("trial", "chan", "time"), info, k)
             for k, v in _method_arrays(1).items()}
    fig, axes = plt.subplots(1, 2)
    out = plot_method_agreement(attrs, agreement="trial", landmarks=None, axes=axes, show=False)
    assert out is fig
    a, b = (np.abs(attrs[k].data).mean(axis=2) for k in ("saliency", "deeplift"))
    r = np.mean([pearsonr(x, z)[0] for x, z in zip(a, b)])
    assert _texts(axes[1])[1] == f"{r:.2f}"
    assert "per-trial" in axes[1].get_title()


def test_method_agreement_errors(info):
    attrs = _method_arrays()
    with pytest.raises(InvalidInputError, match="empty"):
        plot_method_agreement({}, info=info, show=False)
    with pytest.raises(ShapeError):
        plot_method_agreement({"x": attrs["saliency"][0]}, info=info, show=False)
    with pytest.raises(MontageError):
        plot_method_agreement(attrs, info=_bare_info(info), show=False)
    with pytest.raises(InvalidInputError, match="info"):
        plot_method_agreement(attrs, show=False)
    with pytest.raises(UnknownNameError, match="'map'"):
        plot_method_agreement(attrs, info=info, agreement="pixel", show=False)
    with pytest.raises(ShapeError, match="channels"):
        plot_method_agreement({"x": attrs["saliency"][:, :10]}, info=info, show=False)
    fig, axes = plt.subplots(1, 3)
    with pytest.raises(InvalidInputError, match="2 axes"):
        plot_method_agreement(attrs, info=info, axes=axes, show=False)


# --------------------------------------------------------------------------- sanity checks
LAYERS = ["final_layer", "bnorm", "conv_spat", "conv_time"]
ABOVE = dict(checked=True, accuracy=0.92, chance=0.5, p_value=7.6e-10, n=48, alpha=0.05,
             above_chance=True, source="held out")
AT_CHANCE = dict(ABOVE, accuracy=0.5, p_value=0.56, above_chance=False)


def _result(test, method, means, levels, seed=0, n=12, gate=ABOVE, n_classes=4):
    rng = np.random.default_rng(seed)
    sc = np.asarray(means, float)[:, None] + 0.1 * rng.standard_normal((len(means), n))
    ci = np.stack([sc.mean(1) - 0.05, sc.mean(1) + 0.07], axis=1)
    return RandomizationResult(
        test=test, method=method, levels=levels, n_classes=n_classes, model_accuracy=gate,
        scores={"pearson": sc, "spearman": sc * 0.9, "spearman_abs_partial": sc * 0.8},
        ci={"pearson": ci, "spearman": ci * 0.9, "spearman_abs_partial": ci * 0.8})


def _sanity_results(gate=ABOVE):
    return [
        _result("label", "saliency", [0.2], ["labels"], 1, gate=gate),
        _result("full", "saliency", [0.1], ["all layers"], 2, gate=gate),
        _result("cascading", "saliency", [0.8, 0.5, 0.3, 0.1], LAYERS, 3, gate=gate),
        _result("label", "guided_backprop", [0.9], ["labels"], 4, gate=gate),
        _result("full", "guided_backprop", [0.7], ["all layers"], 5, gate=gate),
        _result("cascading", "guided_backprop", [0.95, 0.9, 0.85, 0.8], LAYERS, 6, gate=gate),
    ]


def _bars(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() > 0]


def test_sanity_checks_bars_curves_threshold_both_measures():
    results = _sanity_results()
    fig = plot_sanity_checks(results, show=False)
    assert isinstance(fig, Figure)
    ax_bar, ax_curve = fig.axes[:2]
    for ax in (ax_bar, ax_curve):  # the rule |r| < t: lines at +t and -t
        levels = sorted(float(ln.get_ydata()[0]) for ln in ax.lines
                        if ln.get_linestyle() == "--" and len(ln.get_xdata()) == 2)
        assert levels == [-0.5, 0.5]
    # bars: label then full; per method the signed then the unsigned measure (hatched)
    by = {(r.test, r.method): r for r in results}
    order = [("label", "saliency"), ("label", "guided_backprop"), ("full", "saliency"),
             ("full", "guided_backprop")]
    bars = _bars(ax_bar)
    want = [by[k].mean[m][0] for k in order for m in ("pearson", "spearman_abs_partial")]
    assert [b.get_height() for b in bars] == pytest.approx(want)
    assert [bool(b.get_hatch()) for b in bars] == [False, True] * 4
    # error bars span the bootstrap CI the results report
    caps = sorted(y for ln in ax_bar.lines if ln.get_marker() == "_" for y in ln.get_ydata())
    cis = sorted(float(v) for k in order for m in ("pearson", "spearman_abs_partial")
                 for v in by[k].ci[m][0])
    assert caps == pytest.approx(cis)
    # failing checks (the results' own verdicts) are marked
    assert [by[k].verdict for k in order] == ["PASS", "FAIL", "PASS", "FAIL"]
    assert _texts(ax_bar).count("FAIL") == 2
    # cascading curves: signed solid, unsigned dashed, y = the results' level means
    curves = [ln for ln in ax_curve.lines if len(ln.get_xdata()) == 4]
    assert len(curves) == 4 and [c.get_linestyle() for c in curves] == ["-", "--"] * 2
    casc = by["cascading", "saliency"]
    np.testing.assert_allclose(curves[0].get_ydata(), casc.mean["pearson"])
    np.testing.assert_allclose(curves[1].get_ydata(), casc.mean["spearman_abs_partial"])
    assert [t.get_text() for t in ax_curve.get_xticklabels()] == LAYERS
    assert [t.get_text() for t in ax_curve.texts] == ["FAIL"]  # guided_backprop's cascade
    legend = [t.get_text() for t in ax_curve.get_legend().get_texts()]
    assert legend[:2] == ["saliency", "guided_backprop"] and legend[-1] == "threshold ±0.5"
    assert any("Pearson r" in t for t in legend) and any("|x| fixed" in t for t in legend)
    title = fig._suptitle.get_text()
    assert "Model above chance (accuracy 0.92" in title and "necessary, not sufficient" in title


def test_sanity_checks_show_not_above_chance_and_uninformative():
    results = _sanity_results(gate=AT_CHANCE)
    fig = plot_sanity_checks(results, show=False)
    ax_bar, ax_curve = fig.axes[:2]
    assert _texts(ax_bar) == ["at chance"] * 4 and [t.get_text() for t in ax_curve.texts] == \
        ["at chance"] * 2
    title = fig._suptitle.get_text()
    assert "Model not above chance (accuracy 0.50" in title and "explain noise" in title
    two = _result("label", "deeplift", [-0.6], ["target"], 7, n_classes=2)
    assert two.verdict == "UNINFORMATIVE"
    fig = plot_sanity_checks([two], show=False)
    assert _texts(fig.axes[0]) == ["uninf."]
    none = _result("full", "saliency", [0.1], ["all layers"], gate=None)
    fig = plot_sanity_checks(none, show=False)
    assert "Model not checked" in fig._suptitle.get_text()


def test_sanity_checks_undefined_results_draw_without_warnings():
    import warnings

    results = [_result("full", "s", [0.1], ["all layers"]),
               _result("cascading", "s", [0.1, 0.2], ["l1", "l2"])]
    for r in results:  # constant maps: every similarity undefined
        r.scores = {k: v * np.nan for k, v in r.scores.items()}
        r.ci = {k: v * np.nan for k, v in r.ci.items()}
    assert [r.verdict for r in results] == ["UNDEFINED"] * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_sanity_checks(results, show=False)
    assert _texts(fig.axes[0]) == ["undef."] and [t.get_text() for t in fig.axes[1].texts] == [
        "undef."]


def test_sanity_checks_summary_frames_metric_threshold_axes():
    results = _sanity_results()
    summ = pd.concat([r.summary().assign(test=r.test, method=r.method) for r in results])
    fig = plot_sanity_checks(summ, show=False)
    heights = [b.get_height() for b in _bars(fig.axes[0])]
    assert heights[:2] == pytest.approx([results[0].mean["pearson"][0],
                                         results[0].mean["spearman_abs_partial"][0]])
    assert _texts(fig.axes[0]).count("FAIL") == 2
    assert "accuracy 0.92" in fig._suptitle.get_text()
    fig, axes = plt.subplots(1, 2)
    out = plot_sanity_checks(summ, metric="spearman", threshold=0.3, axes=axes, show=False)
    assert out is fig
    assert any(np.allclose(ln.get_ydata(), 0.3) for ln in axes[1].lines)
    assert [b.get_height() for b in _bars(axes[0])][0] == pytest.approx(
        results[0].scores["spearman"].mean())
    assert "Spearman" in axes[0].get_ylabel() and "necessary" in axes[0].get_title()


def test_sanity_checks_errors():
    with pytest.raises(InvalidInputError, match="empty"):
        plot_sanity_checks([], show=False)
    with pytest.raises(InvalidInputError, match="RandomizationResult"):
        plot_sanity_checks([np.zeros(3)], show=False)
    with pytest.raises(UnknownNameError):
        plot_sanity_checks(_sanity_results(), metric="kendall", show=False)
    with pytest.raises(InvalidInputError, match="'test' and 'method'"):
        plot_sanity_checks(pd.DataFrame({"pearson": [0.1]}), show=False)
    long = pd.concat([r.to_dataframe() for r in _sanity_results()])
    with pytest.raises(InvalidInputError, match="summary"):
        plot_sanity_checks(long, show=False)


# ---------------------------------------------------------------------------- metric table
def _scores(seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.uniform(0, 1, (4, 3)), index=["saliency", "ig", "deeplift", "lrp"],
                        columns=["Cosine", "RelevanceMassAccuracy", "ROC_AUC"])


def _grid_texts(ax, shape):
    return np.array(_texts(ax), dtype=object).reshape(shape)


def test_metric_table_values_and_ranks():
    scores = _scores()
    scores.iloc[0, 2] = scores.iloc[1, 2]  # a tie shares the best rank
    fig = plot_metric_table(scores, lower_is_better=["ROC_AUC"], show=False)
    assert isinstance(fig, Figure)
    ax_val, ax_rank = _image_axes(fig)
    vals = _grid_texts(ax_val, scores.shape)
    assert (vals == np.vectorize(lambda v: f"{v:.2f}")(scores.to_numpy())).all()
    ranks = _grid_texts(ax_rank, scores.shape).astype(int)
    for j in range(2):  # higher is better
        assert sorted(ranks[:, j]) == [1, 2, 3, 4]
        assert ranks[np.argmax(scores.iloc[:, j].to_numpy()), j] == 1
    v = scores["ROC_AUC"].to_numpy()  # lower is better, with a tie
    from scipy.stats import rankdata

    np.testing.assert_array_equal(ranks[:, 2], rankdata(v, method="min"))
    xt = [t.get_text() for t in ax_rank.get_xticklabels()]
    assert xt == ["Cosine", "RelevanceMassAccuracy", "ROC_AUC (↓)"]
    yt = [t.get_text() for t in ax_rank.get_yticklabels()]
    assert yt[0] == f"saliency ({ranks[0].mean():.1f})"
    assert [t.get_text() for t in ax_val.get_yticklabels()] == list(scores.index)


def test_metric_table_dict_nan_axes_and_errors():
    rng = np.random.default_rng(1)
    per_sample = {m: pd.DataFrame(rng.uniform(size=(5, 2)), columns=["a", "b"])
                  for m in ("x", "y", "z")}
    per_sample["z"].loc[:, "b"] = np.nan
    fig, axes = plt.subplots(2, 1)
    out = plot_metric_table(per_sample, fmt=".3f", axes=axes, show=False)
    assert out is fig
    vals = _grid_texts(axes[0], (3, 2))
    assert vals[0, 0] == f"{per_sample['x']['a'].mean():.3f}" and vals[2, 1] == "–"
    ranks = _grid_texts(axes[1], (3, 2))
    assert sorted(ranks[:, 0].astype(int)) == [1, 2, 3] and ranks[2, 1] == "–"
    with pytest.raises(InvalidInputError, match="empty"):
        plot_metric_table(pd.DataFrame(), show=False)
    with pytest.raises(InvalidInputError, match="empty"):
        plot_metric_table({}, show=False)
    with pytest.raises(UnknownNameError, match="Cosine"):
        plot_metric_table(_scores(), lower_is_better=["cosine"], show=False)
    with pytest.raises(InvalidInputError, match="DataFrame"):
        plot_metric_table(np.zeros((2, 2)), show=False)


# ---------------------------------------------------------------------------------- IGC
def _igc(info, spectral=False, seed=0):
    rng = np.random.default_rng(seed)
    n = 26 if spectral else 40
    data = rng.standard_normal((2, 22, n)) * 0.01
    coords = {"class": CLASSES, "chan": info.ch_names}
    if spectral:
        coords["freq"] = np.fft.rfftfreq(50, 1 / 100)  # 2 Hz bins
        coords["phase_term"] = np.array([0.05, -0.03])
    else:
        coords["phase_term"] = np.zeros(2)
    coords["correlation"] = data.sum(axis=(1, 2)) + coords["phase_term"]
    return Attribution(data, ("class", "chan", "freq" if spectral else "time"), info,
                       "igc_spectral" if spectral else "igc", coords=coords)


def _segments(ax):
    """Per class (y position): the bar segments' widths."""
    out = {}
    for p in ax.patches:
        y = round(p.get_y() + p.get_height() / 2)
        out.setdefault(y, []).append(p.get_width())
    return out


def test_igc_time_topomaps_and_roi_bars(info):
    attr = _igc(info)
    fig = plot_igc_topomaps(attr, show=False)
    assert isinstance(fig, Figure)
    topo = _image_axes(fig)
    assert len(topo) == 2
    r = attr.coords["correlation"]
    assert [ax.get_title() for ax in topo] == [f"{c}\nr = {v:.2f}" for c, v in zip(CLASSES, r)]
    # symmetric limits from the 98th percentile of the per-channel sums over time
    sums = attr.data.sum(axis=2)
    lim = topo[0].images[0].get_clim()[1]
    assert lim == pytest.approx(np.percentile(np.abs(sums), 98), rel=1e-6)
    ax_bar = [ax for ax in fig.axes if ax.get_xlabel().startswith("IGC summed")][0]
    segs = _segments(ax_bar)
    for k in range(2):  # the regions add up to r
        assert sum(segs[k]) == pytest.approx(r[k])
    rois = default_rois(info.ch_names)
    assert set(rois) == {"left", "midline", "right"}
    assert sorted(sum(rois.values(), [])) == sorted(info.ch_names)
    idx = [info.ch_names.index(ch) for ch in rois["left"]]
    assert np.isclose(segs[0], attr.data[0, idx].sum()).any()
    legend = [t.get_text() for t in ax_bar.get_legend().get_texts()]
    assert legend == ["left", "midline", "right", "correlation r"]


def test_igc_spectral_bands_rois_phase_term(info):
    attr = _igc(info, spectral=True)
    bands = {"mu": (8, 14), "beta": (14, 30)}
    fig, m = plt.subplot_mosaic([["a", "b"], ["c", "d"], ["bar", "bar"]])
    axes = [m[k] for k in ("a", "b", "c", "d", "bar")]
    out = plot_igc_topomaps(attr, bands=bands, rois={"motor": ["C3", "Cz", "C4"]},
                            landmarks=None, axes=axes, show=False)
    assert out is fig
    assert [ax.get_title().split("\n")[0] for ax in axes[:2]] == CLASSES
    freqs = attr.coords["freq"]
    mu = attr.data[:, :, (freqs >= 8) & (freqs <= 14)].sum(axis=2)  # both band edges included
    clim = axes[0].images[0].get_clim()[1]
    exp_lim = np.percentile(np.abs(mu), 98)
    scale = clim / exp_lim
    assert np.isclose(np.log10(scale), round(np.log10(scale)))  # equal up to the folded exponent
    ax_bar = axes[4]
    legend = [t.get_text() for t in ax_bar.get_legend().get_texts()]
    assert legend == ["motor", "other", "phase term R", "correlation r"]
    segs = _segments(ax_bar)
    r = attr.coords["correlation"]
    for k in range(2):
        assert sum(segs[k]) == pytest.approx(r[k])


def test_igc_errors(info):
    attr = _igc(info)
    with pytest.raises(InvalidInputError, match="compute_igc"):
        plot_igc_topomaps(attr.data, info=info, show=False)
    bad = Attribution(attr.data[None], ("trial", "class", "chan", "time"), info, "igc")
    with pytest.raises(ShapeError):
        plot_igc_topomaps(bad, show=False)
    with pytest.raises(MontageError):
        plot_igc_topomaps(attr, info=_bare_info(info), show=False)
    with pytest.raises(InvalidInputError, match="spectral"):
        plot_igc_topomaps(attr, bands={"mu": (8, 13)}, show=False)
    with pytest.raises(UnknownNameError):
        plot_igc_topomaps(attr, rois={"x": ["C3", "nope"]}, show=False)


# ---------------------------------------------------------------------------- Jacobians
def test_jacobian_maps_one_per_latent(info):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((3, 22, 15)) * 1e-3
    attr = Attribution(data, ("latent", "chan", "time"), info, "jacobian_pinv",
                       coords={"latent": np.arange(3)})
    fig = plot_jacobian_maps(attr, show=False)
    assert isinstance(fig, Figure)
    topo = _image_axes(fig)
    assert [ax.get_title() for ax in topo] == ["latent 0", "latent 1", "latent 2"]
    assert "pseudo-inverse" in fig._suptitle.get_text()
    label = [ax.get_ylabel() for ax in fig.axes if "over time" in ax.get_ylabel()][0]
    assert "mean |·|" in label and "×1e-3" in label
    vmin, vmax = topo[0].images[0].get_clim()
    expected = np.percentile(np.abs(data).mean(axis=2), 98) * 1e3
    assert vmin == 0 and vmax == pytest.approx(expected)
    # a JacobianMaps tuple draws its pinv map; a signed 2-D map uses a diverging scale
    one = Attribution(data[:1], ("latent", "chan", "time"), info, "jacobian_pinv")
    maps = JacobianMaps(None, one, None)
    fig, axes = plt.subplots(1, 3)
    signed = Attribution(data[:, :, 0], ("latent", "chan"), info, "latent_gradient")
    out = plot_jacobian_maps(signed, latent_names=["x", "y", "z"], axes=axes, show=False)
    assert out is fig and [ax.get_title() for ax in axes] == ["x", "y", "z"]
    lo, hi = axes[0].images[0].get_clim()
    assert lo == pytest.approx(-hi) and axes[0].images[0].get_cmap().name == "RdBu_r"
    fig = plot_jacobian_maps(maps, show=False)
    assert [ax.get_title() for ax in _image_axes(fig)] == ["latent 0"]


def test_jacobian_errors(info):
    data = np.ones((2, 22, 5))
    with pytest.raises(ShapeError):
        plot_jacobian_maps(np.ones((2, 2, 22, 5)), info=info, show=False)
    with pytest.raises(ShapeError, match="aggregate"):
        plot_jacobian_maps(Attribution(data[None], ("trial", "latent", "chan", "time"), info),
                           show=False)
    with pytest.raises(MontageError):
        plot_jacobian_maps(data, info=_bare_info(info), show=False)
    with pytest.raises(ShapeError, match="channels"):
        plot_jacobian_maps(data[:, :10], info=info, show=False)
    with pytest.raises(ShapeError, match="latent names"):
        plot_jacobian_maps(data, info=info, latent_names=["a"], show=False)


# ------------------------------------------------------------------------- ground truth
def _ground_truth(info):
    topo = np.zeros((2, 22))
    topo[0, info.ch_names.index("Cz")] = 1.0
    topo[0, info.ch_names.index("C1")] = 0.6
    topo[1, info.ch_names.index("C3")] = 1.0
    return GroundTruth(chan_time=None, chan_freq=None, chan=topo > 0.5, topographies=topo,
                       times=None, freqs=None, class_names=tuple(CLASSES), regime="test",
                       info=info)


def test_ground_truth_comparison_titles_and_rma(info):
    gt = _ground_truth(info)
    rng = np.random.default_rng(0)
    y = np.array([0, 0, 1, 1, 1])
    a = rng.uniform(size=(5, 22, 8))
    a[y == 1, info.ch_names.index("C3")] += 3.0
    attrs = {"saliency": Attribution(a, ("trial", "chan", "time"), info, "s", coords={"y": y}),
             "noise": rng.standard_normal((5, 22, 8))}
    fig = plot_ground_truth_comparison(attrs, gt, class_index=1, show=False)
    assert isinstance(fig, Figure)
    topo = _image_axes(fig)
    assert len(topo) == 3
    m = np.abs(a[y == 1]).mean(axis=(0, 2))
    rma = m[gt.chan[1]].sum() / m.sum()
    m2 = np.abs(attrs["noise"]).mean(axis=(0, 2))
    rma2 = m2[gt.chan[1]].sum() / m2.sum()
    assert [ax.get_title() for ax in topo] == [
        "ground truth\nleft_hand", f"saliency\nRMA = {rma:.2f}", f"noise\nRMA = {rma2:.2f}"]
    assert "chance RMA = 0.05" in fig._suptitle.get_text()
    # given scores replace the computed ones; given axes are used
    fig, axes = plt.subplots(1, 3)
    out = plot_ground_truth_comparison(attrs, gt, class_index=0, scores={"saliency": 0.123},
                                       axes=axes, show=False)
    assert out is fig
    assert axes[1].get_title() == "saliency\nRMA = 0.12" and axes[2].get_title() == "noise\nRMA n/a"


def test_ground_truth_errors(info):
    gt = _ground_truth(info)
    attrs = {"s": np.ones((3, 22, 4))}
    with pytest.raises(InvalidInputError, match="empty"):
        plot_ground_truth_comparison({}, gt, show=False)
    with pytest.raises(TargetError):
        plot_ground_truth_comparison(attrs, gt, class_index=2, show=False)
    with pytest.raises(InvalidInputError, match="GroundTruth"):
        plot_ground_truth_comparison(attrs, np.ones((2, 22)), show=False)
    with pytest.raises(ShapeError, match="y has shape"):
        plot_ground_truth_comparison(attrs, gt, y=np.zeros(4, int), show=False)
    with pytest.raises(TargetError, match="no trial"):
        plot_ground_truth_comparison(attrs, gt, y=np.zeros(3, int), class_index=1, show=False)
    bare = GroundTruth(None, None, gt.chan, gt.topographies, None, None, tuple(CLASSES), "t",
                       info=_bare_info(info))
    with pytest.raises(MontageError):
        plot_ground_truth_comparison(attrs, bare, show=False)
