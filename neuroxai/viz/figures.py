"""The figures of an attribution audit.

Each ``plot_*`` function draws results computed by the earlier stages and returns the
:class:`matplotlib.figure.Figure`. Scalp maps use :func:`mne.viz.plot_topomap`; categorical
colours are Okabe-Ito (:data:`OKABE_ITO`), signed maps ``"RdBu_r"``, unsigned values
``"viridis"``/``"cividis"``. Figures are sized for ~900 px wide report images.
"""
from __future__ import annotations

import numpy as np

from .._utils import (
    InvalidInputError,
    ShapeError,
    TargetError,
    unknown_name,
)
from ._common import (
    OKABE_ITO,
    OKABE_ITO_NAMES,
    REPORT_WIDTH,
    SEQUENTIAL_CMAP,
    annotated_heatmap,
    categorical_colors,
    check_axes,
    check_info,
    check_mapping,
    landmark_names,
    reduce_to_channels,
    signed_vlim,
    topomap,
    unsigned_vlim,
)
from .topomaps import DIVERGING_CMAP, LANDMARKS, _split_exponent, plot_band_topomaps

__all__ = [
    "OKABE_ITO",
    "OKABE_ITO_NAMES",
    "plot_haufe_patterns",
    "plot_method_agreement",
    "plot_sanity_checks",
    "plot_metric_table",
    "plot_igc_topomaps",
    "plot_jacobian_maps",
    "plot_ground_truth_comparison",
    "default_rois",
]


def _new_figure(nrows, ncols, figsize, **kwargs):
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout="constrained",
                        **kwargs)


def _finish(fig, show):
    if show:
        import matplotlib.pyplot as plt

        plt.show()
    return fig


# -------------------------------------------------------------------------- Haufe patterns
def plot_haufe_patterns(patterns, info=None, bands=None, class_names=None, freqs=None,
                        landmarks=LANDMARKS, percentile=98, title="Haufe patterns",
                        unit="pattern (a.u.)", axes=None, show=True):
    """Haufe patterns per frequency band (rows) and class (columns).

    A thin wrapper of :func:`~neuroxai.viz.plot_band_topomaps` with the title and unit of
    activation patterns (:func:`~neuroxai.attribution.compute_haufe_patterns`). Unlike the
    gradients they come from, patterns show where the class-discriminative *signal* is, not
    where the model suppresses noise (Haufe et al., 2014).

    Parameters
    ----------
    patterns : Attribution | ndarray, shape (n_classes, n_chans, n_freqs)
        Dims ``("class", "chan", "freq")``.
    info : mne.Info | None
        Channel positions; default ``patterns.info``.
    bands : dict of str -> (fmin, fmax) | None
        Rows (default: mu/alpha 7-13 Hz and beta 14-30 Hz).
    class_names : sequence of str | None
    freqs : array | None
    landmarks : sequence of str | None
        Channels named on the maps.
    percentile : float
        Colour limits of each row: +/- this percentile of the row's absolute values.
    title : str | None
    unit : str
        Colour-bar label.
    axes : array of Axes, shape (n_bands, n_classes) | None
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    return plot_band_topomaps(patterns, info=info, bands=bands, class_names=class_names,
                              freqs=freqs, landmarks=landmarks, percentile=percentile,
                              cmap=DIVERGING_CMAP, title=title, unit=unit, axes=axes, show=show)


# ------------------------------------------------------------------------ method agreement
def plot_method_agreement(attributions, info=None, agreement="map", landmarks=LANDMARKS,
                          cmap=SEQUENTIAL_CMAP, title=None, axes=None, show=True):
    """Where the methods put relevance on average, and how much they agree.

    Left: the per-channel mean ``|attribution|`` averaged over methods (each method's map
    scaled to sum to 1), in percent of the total. Right: the pairwise agreement of the
    methods as an annotated heatmap. The numbers come from
    :func:`neuroxai.metrics.compute_method_agreement` (see it for ``agreement``).

    Parameters
    ----------
    attributions : dict of str -> Attribution | ndarray
        Per method, an :class:`~neuroxai.attribution.Attribution` with a ``"chan"`` axis or
        an array ``(n_trials, n_chans, n_times)`` (or ``n_freqs``).
    info : mne.Info | None
        Channel positions; default the first attribution's ``info``.
    agreement : "map" | "trial"
        See :func:`neuroxai.metrics.compute_method_agreement`.
    landmarks : sequence of str | None
        Channels named on the scalp map.
    cmap : str
        Colour map of the scalp map (unsigned values).
    title : str | None
        Figure title.
    axes : sequence of 2 Axes | None
        Scalp map and agreement heatmap.
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from ..metrics.agreement import compute_method_agreement

    check_mapping(attributions, "attributions", "{'saliency': attr}")
    share_attr, corr_df = compute_method_agreement(attributions, agreement=agreement)
    share, corr, names = share_attr.data, corr_df.to_numpy(), list(corr_df.index)
    info = info if info is not None else share_attr.info
    check_info(info, len(share), "plot_method_agreement")
    n = len(names)

    if axes is None:
        fig, ax_arr = _new_figure(1, 2, (REPORT_WIDTH, 3.4 + 0.15 * n),
                                  gridspec_kw=dict(width_ratios=[1.0, 0.6 + 0.12 * n]))
        ax_map, ax_hm = ax_arr[0]
    else:
        ax_map, ax_hm = check_axes(axes, 2, "plot_method_agreement")
        fig = ax_map.figure
    names_kw = landmark_names(info, landmarks)
    vlim = (0.0, float(share.max()))
    im = topomap(ax_map, share, info, vlim, cmap, names=names_kw)
    ax_map.set_title(f"Mean over {n} method{'s' * (n > 1)}", fontsize=11)
    cb = fig.colorbar(im, ax=ax_map, shrink=0.75, pad=0.02)
    cb.set_label("% of total |attribution|", fontsize=9)

    labels = [["" if i == j else ("n/a" if not np.isfinite(corr[i, j]) else f"{corr[i, j]:.2f}")
               for j in range(n)] for i in range(n)]
    shown = corr.copy()
    shown[np.eye(n, dtype=bool)] = np.nan  # the diagonal (r = 1) says nothing
    im2 = annotated_heatmap(ax_hm, shown, labels, DIVERGING_CMAP, -1.0, 1.0,
                            fontsize=10 if n <= 6 else 8)
    ax_hm.set_xticklabels(names, rotation=35, ha="right", rotation_mode="anchor", fontsize=9)
    ax_hm.set_yticklabels(names, fontsize=9)
    what = "channel maps" if agreement == "map" else "per-trial maps, mean"
    ax_hm.set_title(f"Agreement (Pearson r, {what})", fontsize=11)
    cb2 = fig.colorbar(im2, ax=ax_hm, shrink=0.75, pad=0.02)
    cb2.set_label("Pearson r", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=12)
    return _finish(fig, show)


# --------------------------------------------------------------------------- sanity checks
_SINGLE_TESTS = ("label", "full", "data")
_MULTI_TESTS = ("cascading", "independent")
_TEST_LABELS = {"label": "label\nrandomisation", "full": "full-weight\nrandomisation",
                "data": "data\nrandomisation"}
_METRIC_LABELS = {"pearson": "Pearson r", "spearman": "Spearman ρ",
                  "spearman_abs": "Spearman ρ of |maps|",
                  "spearman_abs_partial": "Spearman ρ of |maps|, |x| fixed"}
#: How a verdict that is not PASS is marked above its bars / at the end of its curve.
_VERDICT_MARKS = {"FAIL": "FAIL", "NOT ABOVE CHANCE": "at chance", "UNINFORMATIVE": "uninf.",
                  "UNDEFINED": "undef."}
_SIGNED, _UNSIGNED = "pearson", ("spearman_abs_partial", "spearman_abs")


def _sanity_results(results):
    if isinstance(results, dict):
        results = list(results.values())
    elif not isinstance(results, (list, tuple)):
        results = [results]
    # {method: [label, full, cascading]} or a list of lists: flatten one level
    results = [r for item in results
               for r in (item if isinstance(item, (list, tuple)) else [item])]
    if len(results) == 0:
        raise InvalidInputError("results is empty; pass RandomizationResult objects (or their "
                                "summary() DataFrames) from neuroxai.sanity.")
    return results


def _sanity_records(results, metric):
    """Per result: test, method, levels, the measures drawn (means and intervals as the
    result reports them), verdict, gate. Nothing is computed here."""
    import pandas as pd

    records = []
    for res in _sanity_results(results):
        if isinstance(res, pd.DataFrame):
            records.extend(_records_from_frame(res, metric))
            continue
        needed = ("test", "method", "levels", "scores", "ci", "mean")
        if not all(hasattr(res, a) for a in needed):
            raise InvalidInputError(
                "Each result must be a neuroxai.sanity RandomizationResult or its summary() "
                f"DataFrame; got {type(res).__name__}.")
        names = [metric] if metric else [_SIGNED, res.unsigned_metric]
        for m in names:
            if m not in res.scores:
                raise unknown_name("similarity metric", m, res.scores)
        mean = res.mean
        records.append(dict(
            test=res.test, method=res.method, levels=[str(lv) for lv in res.levels],
            measures=names, mean={m: np.asarray(mean[m], float) for m in names},
            ci={m: np.asarray(res.ci[m], float) for m in names}, verdict=res.verdict,
            threshold=float(res.threshold),
            model=(res.model_check, _gate_numbers(res.model_accuracy or {}))))
    return records


def _gate_numbers(acc):
    """The gate's numbers as the result reports them, in a few words (None: not checked)."""
    if not acc.get("checked", False):
        return None
    n = f", n = {acc['n']}" if "n" in acc else ""
    return f"accuracy {acc['accuracy']:.2f}, chance {acc['chance']:.2f}, p = " \
           f"{acc['p_value']:.2g}{n}"


def _records_from_frame(df, metric):
    """Records from ``summary()`` tables with ``test`` and ``method`` columns added."""
    cols = set(df.columns)
    if not {"test", "method"} <= cols:
        raise InvalidInputError("A DataFrame of sanity results needs 'test' and 'method' columns "
                                "(RandomizationResult.summary() with test/method columns added).")
    if metric:
        names = [metric]
    else:
        names = [_SIGNED, next((m for m in _UNSIGNED if f"{m}_mean" in cols), _UNSIGNED[-1])]
    missing = [m for m in names if f"{m}_mean" not in cols]
    if missing:
        raise InvalidInputError(
            f"The DataFrame has no {missing[0]!r}_mean column (columns: {sorted(cols)}); pass "
            "RandomizationResult.summary() tables (the per-trial to_dataframe() holds no means).")
    out = []
    for (test, method), grp in df.groupby(["test", "method"], sort=False):
        grp = grp.sort_values("level", kind="stable") if "level" in cols else grp
        ci = {m: grp[[f"{m}_ci_low", f"{m}_ci_high"]].to_numpy(float)
              if {f"{m}_ci_low", f"{m}_ci_high"} <= cols else None for m in names}
        first = grp.iloc[0]
        check = str(first.get("model_check", "not checked"))
        model = (check, _gate_numbers(dict(
            checked=True, accuracy=first["model_accuracy"], chance=first["model_chance"],
            p_value=first["model_p_value"])) if check != "not checked" and
            "model_accuracy" in cols else None)
        out.append(dict(
            test=str(test), method=str(method),
            levels=grp["randomized" if "randomized" in cols else "level"].astype(str).tolist(),
            measures=names, mean={m: grp[f"{m}_mean"].to_numpy(float) for m in names}, ci=ci,
            verdict=str(first["verdict"]) if "verdict" in cols else None,
            threshold=float(first["threshold"]) if "threshold" in cols else None, model=model))
    return out


def _gate_line(records):
    """The model gate of the results drawn, in words, and its colour."""
    gates = list(dict.fromkeys(r["model"] for r in records))
    checks = {g[0] for g in gates}
    if "not above chance" in checks:
        nums = next(g[1] for g in gates if g[0] == "not above chance")
        return (f"Model not above chance ({nums}): the maps explain noise", OKABE_ITO[4])
    if checks == {"not checked"}:
        return "Model not checked: no labels and no held-out accuracy given", "0.3"
    nums = "; ".join(g[1] or "" for g in gates if g[0] == "above chance")
    return f"Model above chance ({nums})", "0.2"


def _draw_bars(ax, single, methods, colors):
    """One group per single-level test, two bars (signed, unsigned) per method."""
    tests = [t for t in _SINGLE_TESTS if any(r["test"] == t for r in single)]
    n_measures = max((len(r["measures"]) for r in single), default=1)
    width = 0.8 / max(len(methods) * n_measures, 1)
    lows = []
    for g, test in enumerate(tests):
        for k, method in enumerate(methods):
            rec = next((r for r in single if r["test"] == test and r["method"] == method), None)
            if rec is None:
                continue
            tops = []
            for j, m in enumerate(rec["measures"]):
                x = g - 0.4 + width * (k * n_measures + j + 0.5)
                mean = float(rec["mean"][m][-1])
                yerr = None
                if rec["ci"][m] is not None:
                    lo, hi = rec["ci"][m][-1]
                    yerr = [[max(mean - lo, 0.0)], [max(hi - mean, 0.0)]]
                    lows.append(lo)
                ax.bar(x, mean, width * 0.9, color=colors[method], yerr=yerr, capsize=2,
                       ecolor="black", error_kw=dict(linewidth=0.8),
                       hatch="///" if j else None, edgecolor="white" if j else colors[method],
                       linewidth=0)
                lows.append(mean)
                if np.isfinite(mean):  # an undefined check (constant maps) draws no bar
                    tops.append(max(mean, 0.0) + (yerr[1][0] if yerr else 0.0))
            mark = _VERDICT_MARKS.get(rec["verdict"])
            if mark:
                x_mid = g - 0.4 + width * (k * n_measures + n_measures / 2)
                ax.text(x_mid, max(tops, default=0.0) + 0.03, mark, ha="center", va="bottom",
                        fontsize=7, rotation=90 if len(methods) > 3 else 0, color="black")
    if tests:
        ax.set_xticks(range(len(tests)))
        ax.set_xticklabels([_TEST_LABELS[t] for t in tests], fontsize=9)
        ax.set_xlim(-0.55, len(tests) - 0.45)
    else:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "no label / full-weight\nrandomisation results", ha="center",
                va="center", transform=ax.transAxes, fontsize=9, color="0.4")
    ax.set_title("Label / weight randomisation", fontsize=11)
    return lows


def _draw_curves(ax, multi, colors):
    """Similarity per level: signed measure solid, unsigned dashed; the verdict at the end."""
    level_names, lows = [], []
    for rec in multi:
        x = np.arange(1, len(rec["levels"]) + 1)
        for j, m in enumerate(rec["measures"]):
            label = rec["method"] if rec["test"] == "cascading" else \
                f"{rec['method']} (independent)"
            ax.plot(x, rec["mean"][m], "--" if j else "-",
                    marker="^" if rec["test"] == "independent" else "o", markersize=3.5,
                    color=colors[rec["method"]], label=label, linewidth=1.6 - 0.4 * j)
            lows.extend(rec["mean"][m])
            if rec["ci"][m] is not None:
                ax.fill_between(x, rec["ci"][m][:, 0], rec["ci"][m][:, 1],
                                color=colors[rec["method"]], alpha=0.15, linewidth=0)
                lows.extend(rec["ci"][m][:, 0])
        mark = _VERDICT_MARKS.get(rec["verdict"])
        if mark:
            ends = [float(rec["mean"][m][-1]) for m in rec["measures"]]
            top = max((v for v in ends if np.isfinite(v)), default=0.0)
            ax.annotate(mark, (x[-1], top), xytext=(0, 5), textcoords="offset points",
                        ha="right", fontsize=7, color=colors[rec["method"]])
        if len(rec["levels"]) > len(level_names):
            level_names = rec["levels"]
    if multi:
        ax.set_xticks(np.arange(1, len(level_names) + 1))
        ax.set_xticklabels(level_names, rotation=40, ha="right", rotation_mode="anchor",
                           fontsize=8)
        ax.set_xlabel("randomised down to layer (output → input)", fontsize=9)
    else:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "no cascading randomisation results", ha="center", va="center",
                transform=ax.transAxes, fontsize=9, color="0.4")
    ax.set_title("Cascading randomisation", fontsize=11)
    return lows


def plot_sanity_checks(results, metric=None, threshold=None, axes=None, show=True):
    """Randomisation sanity checks of several methods side by side, with their verdicts.

    Left: similarity to the trained model's maps after label and full-weight (and data)
    randomisation, per method two bars, the signed measure (Pearson r, filled) and the
    unsigned one (Spearman ρ of ``|maps|``, with ``|x|`` held fixed where the result
    computed it, hatched), bootstrap confidence intervals as error bars. Right: cascading
    (solid: signed, dashed: unsigned) and independent (triangles) randomisation per level,
    interval as a band. The rule (a level passes when ``|r|`` and ρ of ``|maps|`` are both
    below the threshold) is drawn as lines at ± threshold. A verdict other than PASS is
    written above the bars or at the end of the curve: ``FAIL``, ``at chance`` (the model is not above chance:
    the maps explain noise), ``uninf.`` (the 2-class label test), ``undef.`` (constant
    maps). The title line states the model gate; checks are necessary, not sufficient.
    Every number comes from the results (:mod:`neuroxai.sanity`).

    Parameters
    ----------
    results : RandomizationResult | DataFrame | list or dict of them
        From :mod:`neuroxai.sanity.randomization` (dict values may be lists, e.g.
        ``{method: [label, full, cascading]}``), or their ``summary()`` tables with ``test``
        and ``method`` columns added.
    metric : str | None
        Draw this one measure instead of the two the verdict uses (``"pearson"``,
        ``"spearman"``, ``"spearman_abs"``, ``"spearman_abs_partial"``).
    threshold : float | None
        Rule lines (default: the results' threshold, else 0.5).
    axes : sequence of 2 Axes | None
        Single-level checks and multi-level (cascading) curves.
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    records = _sanity_records(results, metric)
    thresholds = sorted({r["threshold"] for r in records if r["threshold"] is not None})
    if threshold is None:
        if len(thresholds) > 1:
            raise InvalidInputError(f"The results use different thresholds {thresholds}; pass "
                                    "threshold= to choose the lines drawn.")
        threshold = thresholds[0] if thresholds else 0.5
    unknown = sorted({r["test"] for r in records} - set(_SINGLE_TESTS) - set(_MULTI_TESTS))
    if unknown:
        raise unknown_name("sanity test", unknown[0], _SINGLE_TESTS + _MULTI_TESTS)
    methods = list(dict.fromkeys(r["method"] for r in records))
    colors = dict(zip(methods, categorical_colors(len(methods))))
    single = [r for r in records if r["test"] in _SINGLE_TESTS]
    multi = [r for r in records if r["test"] in _MULTI_TESTS]

    if axes is None:
        fig, ax_arr = _new_figure(1, 2, (REPORT_WIDTH, 4.2),
                                  gridspec_kw=dict(width_ratios=[1.0, 1.3]))
        ax_bar, ax_curve = ax_arr[0]
    else:
        ax_bar, ax_curve = check_axes(axes, 2, "plot_sanity_checks")
        fig = ax_bar.figure
    lows = _draw_bars(ax_bar, single, methods, colors)
    lows += _draw_curves(ax_curve, multi, colors)
    measures = list(dict.fromkeys(m for r in records for m in r["measures"]))
    ylabel = "similarity to trained maps" if len(measures) > 1 else \
        f"similarity to trained maps ({_METRIC_LABELS.get(measures[0], measures[0])})"
    ax_bar.set_ylabel(ylabel, fontsize=9)
    finite = [v for v in lows if np.isfinite(v)]
    ymin = min(-threshold - 0.1, min(finite, default=0.0) - 0.05)
    for ax in (ax_bar, ax_curve):
        ax.axhline(threshold, color="0.3", linestyle="--", linewidth=1,
                   label=f"threshold ±{threshold:g}")
        if len(measures) > 1 or measures[0] == _SIGNED:
            ax.axhline(-threshold, color="0.3", linestyle="--", linewidth=1)
        ax.axhline(0.0, color="0.6", linewidth=0.6)
        ax.set_ylim(ymin, 1.15)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)

    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color=colors[m], label=m) for m in methods]
    for j, m in enumerate(measures[:2] if len(measures) > 1 else []):
        handles.append(Patch(facecolor="0.6", hatch="///" if j else None, edgecolor="white",
                             label=f"{_METRIC_LABELS.get(m, m)} ({'dashed' if j else 'solid'})"))
    handles.append(Line2D([], [], color="0.3", linestyle="--", label=f"threshold ±{threshold:g}"))
    # outside the data: the curves of good and bad methods cover the whole panel
    ax_curve.legend(handles=handles, fontsize=8, frameon=False, loc="upper left",
                    bbox_to_anchor=(1.01, 1.0), ncols=1 if len(handles) <= 9 else 2)
    text, color = _gate_line(records)
    line = f"{text}.\nRandomisation checks are necessary, not sufficient."
    if axes is None:
        fig.suptitle(line, fontsize=9, color=color)
    else:
        ax_bar.set_title(f"{ax_bar.get_title()}\n{line}", fontsize=8, color=color)
    return _finish(fig, show)


# ---------------------------------------------------------------------------- metric table
def _metric_frame(scores):
    import pandas as pd

    if isinstance(scores, dict):
        check_mapping(scores, "scores", "{'saliency': compute_metrics(...)}")
        rows = {}
        for name, s in scores.items():
            if isinstance(s, pd.DataFrame):
                rows[name] = s.mean(axis=0, numeric_only=True)  # per-sample scores -> means
            elif isinstance(s, (pd.Series, dict)):
                rows[name] = pd.Series(s, dtype=float)
            else:
                raise InvalidInputError(f"scores[{name!r}] must be a DataFrame of per-sample "
                                        f"scores or a Series of metric values, got "
                                        f"{type(s).__name__}.")
        scores = pd.DataFrame(rows).T
    if not isinstance(scores, pd.DataFrame):
        raise InvalidInputError("scores must be a DataFrame (methods x metrics) or a dict "
                                f"method -> per-sample scores, got {type(scores).__name__}.")
    if scores.empty:
        raise InvalidInputError("scores is empty; pass a DataFrame with one row per method and "
                                "one column per metric.")
    try:
        values = scores.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError("scores must hold numbers only (methods as the index, metrics "
                                "as columns).")
    if np.isinf(values).any():
        raise InvalidInputError("scores contain infinite values.")
    return scores, values


def _ranks(values, higher_better):
    """Competition ranks (1 = best, ties share the best rank) per column; NaN stays NaN."""
    from scipy.stats import rankdata

    oriented = np.where(higher_better[None, :], -values, values)
    ranks = np.full(values.shape, np.nan)
    for j in range(values.shape[1]):
        ok = np.isfinite(oriented[:, j])
        if ok.any():
            ranks[ok, j] = rankdata(oriented[ok, j], method="min")
    return ranks


def plot_metric_table(scores, lower_is_better=(), fmt=".2f", cmap="cividis", title=None,
                      orientation=None, axes=None, show=True):
    """A metric table as an annotated heatmap, next to each method's rank per metric.

    Panel 1 writes every score in its cell; the cell colour is the score scaled within its
    column (worst = dark, best = bright), so metrics on different scales share one colour
    map. Panel 2 gives the rank of each method per metric (1 = best; ties share the best
    rank) and, in the row labels, the mean rank over metrics.

    Parameters
    ----------
    scores : DataFrame | dict of str -> DataFrame or Series
        Methods as rows (the index), metrics as columns, e.g. mean scores of
        :func:`~neuroxai.metrics.compute_metrics`. A dict ``method -> per-sample scores``
        is averaged over samples (NaN skipped).
    lower_is_better : sequence of str
        Metrics where a lower value is better (all others: higher is better).
    fmt : str
        Format of the annotated values.
    cmap : str
        Sequential colour map (bright = better).
    title : str | None
    orientation : "horizontal" | "vertical" | None
        Panels side by side or stacked; ``None``: side by side up to 4 metrics.
    axes : sequence of 2 Axes | None
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    scores, values = _metric_frame(scores)
    metrics = [str(c) for c in scores.columns]
    methods = [str(i) for i in scores.index]
    lower = list(lower_is_better or ())
    for name in lower:
        if name not in metrics:
            raise unknown_name("metric", name, metrics)
    if orientation not in (None, "horizontal", "vertical"):
        raise unknown_name("orientation", orientation, ("horizontal", "vertical"))
    higher = np.array([m not in lower for m in metrics])
    ranks = _ranks(values, higher)
    n_m, n_k = values.shape

    # colour = quality within the column, 0 worst .. 1 best
    lo, hi = np.nanmin(values, axis=0, initial=np.inf, where=np.isfinite(values)), \
        np.nanmax(values, axis=0, initial=-np.inf, where=np.isfinite(values))
    span = np.where(hi > lo, hi - lo, 1.0)
    quality = (values - lo) / span
    quality = np.where(higher[None], quality, 1.0 - quality)
    quality = np.where((hi > lo)[None], quality, 0.5)
    quality[~np.isfinite(values)] = np.nan

    if orientation is None:
        orientation = "horizontal" if n_k <= 4 else "vertical"
    if axes is None:
        cell_w, cell_h = 0.75, 0.42
        if orientation == "horizontal":
            size = (min(REPORT_WIDTH * 1.2, 2 * (2.2 + cell_w * n_k)), 1.9 + cell_h * n_m)
            fig, ax_arr = _new_figure(1, 2, size)
        else:
            size = (min(REPORT_WIDTH * 1.2, 2.4 + cell_w * n_k), 2 * (1.9 + cell_h * n_m))
            fig, ax_arr = _new_figure(2, 1, size)
        ax_val, ax_rank = ax_arr.ravel()
    else:
        ax_val, ax_rank = check_axes(axes, 2, "plot_metric_table")
        fig = ax_val.figure
    fs = 9 if n_k <= 8 else 7
    labels = [[("–" if not np.isfinite(v) else format(v, fmt)) for v in row] for row in values]
    im = annotated_heatmap(ax_val, quality, labels, cmap, 0.0, 1.0, fontsize=fs)
    rank_labels = [[("–" if not np.isfinite(r) else str(int(r))) for r in row] for row in ranks]
    annotated_heatmap(ax_rank, ranks, rank_labels, cmap + "_r", 1.0, max(n_m, 2), fontsize=fs)
    xt = [f"{m} (↓)" if m in lower else m for m in metrics]
    mean_rank = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in ranks])
    for ax, ttl in ((ax_val, "Scores"), (ax_rank, "Rank per metric (1 = best)")):
        ax.set_xticklabels(xt, rotation=40, ha="right", rotation_mode="anchor", fontsize=8)
        ax.set_title(ttl, fontsize=11)
    ax_val.set_yticklabels(methods, fontsize=9)
    ax_rank.set_yticklabels([f"{m} ({r:.1f})" for m, r in zip(methods, mean_rank)], fontsize=9)
    ax_rank.set_ylabel("method (mean rank)", fontsize=9)
    cb = fig.colorbar(im, ax=ax_val, shrink=0.8, pad=0.02, ticks=[0, 1])
    cb.ax.set_yticklabels(["worst", "best"], fontsize=8)
    cb.set_label("within metric", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=12)
    if lower:
        fig.text(0.99, 0.005, "(↓) lower is better", ha="right", va="bottom", fontsize=7,
                 color="0.3")
    return _finish(fig, show)


# ---------------------------------------------------------------------------------- IGC
def default_rois(ch_names):
    """Left / midline / right channel groups from 10-20 names (odd / ``z`` / even suffix).

    Parameters
    ----------
    ch_names : list of str

    Returns
    -------
    rois : dict of str -> list of str
        Only non-empty groups; channels whose names do not end in a digit or ``z`` are
        left out (:func:`plot_igc_topomaps` adds them as ``"other"``).
    """
    groups = {"left": [], "midline": [], "right": []}
    for ch in ch_names:
        last = ch[-1].lower()
        if last == "z":
            groups["midline"].append(ch)
        elif last.isdigit():
            groups["left" if int(last) % 2 else "right"].append(ch)
    return {k: v for k, v in groups.items() if v}


def plot_igc_topomaps(igc_attr, info=None, bands=None, rois=None, landmarks=LANDMARKS,
                      percentile=98, title=None, axes=None, show=True):
    """Integrated Gradient Correlation maps per class, and per-ROI sums adding up to r.

    IGC cells sum to each class's correlation between model output and target, so maps show
    *sums* (over time, or over the frequency bins of a band) and the bars split r into
    regions: the segments of a class (positive to the right, negative to the left) add up to
    its correlation (black diamond; for spectral IGC one segment is the phase term R).

    Parameters
    ----------
    igc_attr : Attribution
        From :func:`~neuroxai.attribution.igc.compute_igc`: dims ``("class", "chan",
        "time")`` (one topomap per class, summed over time) or ``("class", "chan", "freq")``
        (rows: bands, columns: classes, summed over each band's bins, both edges included:
        ``fmin <= f <= fmax``). ``coords["correlation"]`` goes into the column titles. The
        sums come from :func:`~neuroxai.attribution.igc.compute_igc_channel_sums` and
        :func:`~neuroxai.attribution.igc.compute_igc_roi_sums`.
    info : mne.Info | None
        Channel positions; default ``igc_attr.info``.
    bands : dict of str -> (fmin, fmax) | None
        Spectral IGC only; default mu/alpha and beta as in
        :func:`~neuroxai.viz.plot_band_topomaps`.
    rois : dict of str -> list of str | None
        Channel groups of the bars (default :func:`default_rois`: left / midline / right),
        not overlapping; channels in no group form an ``"other"`` segment so the segments
        add up to r.
    landmarks : sequence of str | None
    percentile : float
        Symmetric colour limits of each row from this percentile of ``|IGC|``.
    title : str | None
    axes : sequence of Axes | None
        ``n_rows * n_classes`` topomap axes (row-major) and then one axes for the bars.
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from ..attribution._base import Attribution
    from ..attribution.igc import compute_igc_channel_sums, compute_igc_roi_sums
    from .topomaps import DEFAULT_BANDS

    if not isinstance(igc_attr, Attribution):
        raise InvalidInputError("igc_attr must be the Attribution returned by compute_igc(), got "
                                f"{type(igc_attr).__name__}.")
    if igc_attr.dims not in (("class", "chan", "time"), ("class", "chan", "freq")):
        raise ShapeError(f"plot_igc_topomaps needs dims ('class', 'chan', 'time'|'freq') from "
                         f"compute_igc(), got {igc_attr.dims}.")
    info = info if info is not None else igc_attr.info
    n_cls, n_chans = igc_attr.shape[:2]
    check_info(info, n_chans, "plot_igc_topomaps")
    ch_names = list(info["ch_names"])
    spectral = igc_attr.dims[2] == "freq"
    coords = igc_attr.coords
    class_names = list(coords.get("class", [str(i) for i in range(n_cls)]))
    corr = np.asarray(coords.get("correlation", np.full(n_cls, np.nan)), dtype=float)
    # the numbers drawn come from the attribution stage; the channel names from `info`
    named = Attribution(np.nan_to_num(np.asarray(igc_attr.data, dtype=float)), igc_attr.dims,
                        info=info, method=igc_attr.method, coords=dict(coords, chan=ch_names))
    bands = dict(DEFAULT_BANDS if bands is None else bands) if spectral else bands
    sums = compute_igc_channel_sums(named, bands=bands)  # (class, chan, band)
    row_names = list(bands) if spectral else ["sum over time"]
    unit = "IGC (sum over band)" if spectral else "IGC (sum over time)"
    degenerate = ~np.isfinite(corr)  # a class without correlation (NaN) is drawn flat
    grid = np.where(degenerate[:, None, None], 0.0, sums.data)
    n_rows = len(row_names)
    if rois is not None and not rois:
        raise InvalidInputError("rois is empty; pass None for left/midline/right or a dict "
                                "name -> channel names.")
    roi_sums = compute_igc_roi_sums(named, default_rois(ch_names) if rois is None else rois,
                                    other="other", phase_term=True)
    if not np.any(roi_sums["phase term R"].to_numpy() != 0):  # no segment to draw
        roi_sums = roi_sums.drop(columns="phase term R")
    roi_names = [str(c) for c in roi_sums.columns]
    seg = roi_sums.to_numpy()

    if axes is None:
        fig = plt.figure(figsize=(min(REPORT_WIDTH, 2.2 * n_cls + 1.6),
                                  2.3 * n_rows + 0.35 * n_cls + 1.4), layout="constrained")
        gs = fig.add_gridspec(n_rows + 1, n_cls,
                              height_ratios=[1.0] * n_rows + [0.16 * n_cls + 0.4])
        topo_axes = np.array([[fig.add_subplot(gs[r, c]) for c in range(n_cls)]
                              for r in range(n_rows)])
        ax_bar = fig.add_subplot(gs[n_rows, :])
    else:
        flat = check_axes(axes, n_rows * n_cls + 1, "plot_igc_topomaps")
        topo_axes = np.array(flat[:-1], dtype=object).reshape(n_rows, n_cls)
        ax_bar = flat[-1]
        fig = ax_bar.figure
    col_titles = [f"{name}\nr = {r:.2f}" if np.isfinite(r) else f"{name}\nr undefined"
                  for name, r in zip(class_names, corr)]
    # The band sums are already computed: each pseudo-"frequency" bin i is row i.
    plot_band_topomaps(grid, info=info, freqs=np.arange(n_rows, dtype=float),
                       bands={name: (i - 0.25, i + 0.25) for i, name in enumerate(row_names)},
                       class_names=col_titles, landmarks=landmarks, percentile=percentile,
                       cmap=DIVERGING_CMAP, unit=unit, axes=topo_axes, show=False)

    colors = categorical_colors(len(roi_names))
    if roi_names and roi_names[-1] == "phase term R":
        colors[-1] = "#BBBBBB"
    y = np.arange(n_cls)
    pos_left, neg_left = np.zeros(n_cls), np.zeros(n_cls)
    for k, name in enumerate(roi_names):
        v = seg[:, k]
        left = np.where(v >= 0, pos_left, neg_left)
        ax_bar.barh(y, v, left=left, color=colors[k], height=0.6, label=name,
                    edgecolor="white", linewidth=0.5,
                    hatch="//" if name == "phase term R" else None)
        pos_left += np.where(v >= 0, v, 0)
        neg_left += np.where(v < 0, v, 0)
    ax_bar.scatter(corr, y, marker="D", color="black", s=22, zorder=3, label="correlation r")
    ax_bar.axvline(0, color="0.4", linewidth=0.8)
    ax_bar.set_yticks(y)
    ax_bar.set_yticklabels(class_names, fontsize=9)
    ax_bar.invert_yaxis()
    ax_bar.set_xlabel("IGC summed per region (adds up to r)", fontsize=9)
    ax_bar.tick_params(labelsize=8)
    ax_bar.spines[["top", "right"]].set_visible(False)
    # above the bars, so the panel keeps the full width of the topomap grid
    handles, labels = ax_bar.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "correlation r")
    ax_bar.legend([handles[i] for i in order], [labels[i] for i in order],
                  fontsize=8, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0),
                  ncols=len(roi_names) + 1, handlelength=1.5, columnspacing=1.2)
    fig.suptitle(title or ("Spectral IGC" if spectral else "IGC") + " per class", fontsize=12)
    return _finish(fig, show)


# ---------------------------------------------------------------------------- Jacobians
_JAC_TITLES = {"jacobian_pinv": "Jacobian pseudo-inverse", "jacobian": "Jacobian"}


def plot_jacobian_maps(jac_attr, info=None, transform="abs", reduce="mean", latent_names=None,
                       landmarks=LANDMARKS, percentile=98, cmap=None, n_cols=None, title=None,
                       axes=None, show=True):
    """One scalp map per latent of an encoder's (pseudo-inverse) Jacobian map.

    Parameters
    ----------
    jac_attr : Attribution | ndarray
        One map of :func:`~neuroxai.attribution.compute_jacobian_pinv_maps` (usually
        ``pinv``; the deprecated ``JacobianMaps`` tuple draws its ``pinv`` map) or of
        :func:`~neuroxai.attribution.compute_latent_attributions`: dims
        ``("latent", "chan", "time")`` (time reduced with
        :func:`~neuroxai.attribution.reduce_to_channels`) or ``("latent", "chan")``
        (drawn as provided). Arrays: ``(n_latents, n_chans[, n_times])``.
    info : mne.Info | None
        Channel positions; default ``jac_attr.info``.
    transform : "abs" | "none"
        Applied before reducing time (``"abs"``: mean ``|J^+|``, opposite signs do not
        cancel).
    reduce : "mean" | "sum" | "max"
        Reduction over time.
    latent_names : sequence of str | None
        Panel titles (default ``latent 0``, ``latent 1``, ...).
    landmarks : sequence of str | None
    percentile : float
        Colour limits shared by all latents: this percentile of ``|values|``.
    cmap : str | None
        Default ``"viridis"`` for non-negative maps, ``"RdBu_r"`` for signed maps.
    n_cols : int | None
        Maps per row (default: up to 4).
    title : str | None
    axes : sequence of Axes | None
        One per latent.
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from ..attribution._base import Attribution
    from ..attribution.jacobian import JacobianMaps, reduce_to_channels

    if isinstance(jac_attr, JacobianMaps):
        jac_attr = jac_attr.pinv
    elif isinstance(jac_attr, tuple):
        raise InvalidInputError(
            "plot_jacobian_maps draws one map: pass the pinv (or jacobian) Attribution of "
            "jacobian, pinv = compute_jacobian_pinv_maps(...).")
    method = ""
    if isinstance(jac_attr, Attribution):
        dims = jac_attr.dims
        if dims == ("latent", "chan", "time"):
            jac_attr = reduce_to_channels(jac_attr, transform=transform, reduce=reduce)
        elif dims != ("latent", "chan"):
            raise ShapeError(f"plot_jacobian_maps needs dims ('latent', 'chan'[, 'time']), got "
                             f"{dims}; aggregate over trials first (aggregate='mean').")
        info = info if info is not None else jac_attr.info
        method = jac_attr.method.split("|")[0]
        latent = jac_attr.coords.get("latent")
        data = np.asarray(jac_attr.data, dtype=float)
    else:
        data = np.asarray(jac_attr, dtype=float)
        latent = None
        if data.ndim == 3:
            data = reduce_to_channels(Attribution(data, ("latent", "chan", "time")),
                                      transform=transform, reduce=reduce).data
        elif data.ndim != 2:
            raise ShapeError(f"jac_attr must have shape (n_latents, n_chans[, n_times]), got "
                             f"{data.shape}.")
    if not np.all(np.isfinite(data)):
        from .._utils import NonFiniteError

        raise NonFiniteError("The Jacobian map contains NaN/Inf values.")
    n_lat, n_chans = data.shape
    if n_lat == 0:
        raise ShapeError("The Jacobian map has no latent.")
    check_info(info, n_chans, "plot_jacobian_maps")
    if latent_names is None:
        latent_names = [f"latent {int(k)}" for k in (latent if latent is not None
                                                      else range(n_lat))]
    if len(latent_names) != n_lat:
        raise ShapeError(f"{len(latent_names)} latent names for {n_lat} latents.")
    signed = bool(np.any(data < 0))
    cmap = cmap or (DIVERGING_CMAP if signed else SEQUENTIAL_CMAP)
    vlim = signed_vlim(data, percentile) if signed else unsigned_vlim(data, percentile)
    exp = _split_exponent(vlim[1])
    scale = 10.0 ** -exp

    if axes is None:
        n_cols = int(n_cols or min(n_lat, 4))
        n_rows = int(np.ceil(n_lat / n_cols))
        fig, ax_arr = _new_figure(n_rows, n_cols, (min(REPORT_WIDTH, 2.3 * n_cols + 1.2),
                                                    2.4 * n_rows + 0.4))
        flat = list(ax_arr.ravel())
        for ax in flat[n_lat:]:
            ax.set_axis_off()
        flat = flat[:n_lat]
    else:
        flat = check_axes(axes, n_lat, "plot_jacobian_maps")
        fig = flat[0].figure
    names = landmark_names(info, landmarks)
    im = None
    for k, ax in enumerate(flat):
        im = topomap(ax, data[k] * scale, info, (vlim[0] * scale, vlim[1] * scale), cmap,
                     names=names)
        ax.set_title(str(latent_names[k]), fontsize=11)
    what = _JAC_TITLES.get(method, method or "attribution")
    reduced = jac_attr.params.get("channel_reduce") if isinstance(jac_attr, Attribution) else None
    agg = (f"{reduced} {'|·|' if jac_attr.params.get('channel_transform') == 'abs' else ''}"
           .strip() if reduced else "")
    label = (f"{agg} over time" if agg else "value") + (f" (×1e{exp})" if exp else "")
    cb = fig.colorbar(im, ax=flat, shrink=0.8, pad=0.02)
    cb.set_label(label, fontsize=9)
    fig.suptitle(title or f"{what} map per latent", fontsize=12)
    return _finish(fig, show)


# ------------------------------------------------------------------------- ground truth
def plot_ground_truth_comparison(attributions, ground_truth, info=None, class_index=0, y=None,
                                 scores=None, landmarks=LANDMARKS, cmap=SEQUENTIAL_CMAP,
                                 title=None, axes=None, show=True):
    """Each method's channel map next to the simulated ground-truth topography.

    The first panel is the ground-truth topography of the class (normalised ``|lead
    field|``); then one map per method: mean ``|attribution|`` over the class's trials and
    over time/frequency, scaled to its maximum. Ground-truth channels are marked by white
    dots on every map. Panel titles give the relevance mass accuracy (share of the map's
    relevance on the ground-truth channels; chance = the share of channels marked, in the
    figure title).

    Parameters
    ----------
    attributions : dict of str -> Attribution | ndarray
        Per method, per-trial attributions ``(n_trials, n_chans, n_times | n_freqs)`` (an
        Attribution with a ``"chan"`` axis; a ``"class"`` axis selects ``class_index``).
    ground_truth : GroundTruth
        ``simulate_bcic_iv_2a(...).ground_truth`` (uses ``topographies`` and ``chan``).
    info : mne.Info | None
        Default: the first attribution's ``info``, else ``ground_truth.info``.
    class_index : int
        The class shown.
    y : array of int, shape (n_trials,) | None
        Trial labels; only trials of ``class_index`` are averaged. Default: each
        attribution's ``coords["y"]`` when present, else every trial.
    scores : dict of str -> float | pandas.Series | None
        Relevance mass accuracy per method to print instead of computing it (with
        :func:`~neuroxai.metrics.compute_ground_truth_metrics` on the displayed map and the
        ``chan`` mask).
    landmarks : sequence of str | None
    cmap : str
    title : str | None
    axes : sequence of Axes | None
        ``1 + n_methods`` axes.
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from ..metrics.ground_truth import compute_ground_truth_metrics

    check_mapping(attributions, "attributions", "{'saliency': attr}")
    if not all(hasattr(ground_truth, a) for a in ("topographies", "chan")):
        raise InvalidInputError("ground_truth must be a neuroxai.data.GroundTruth (from "
                                f"simulate_bcic_iv_2a()), got {type(ground_truth).__name__}.")
    topo_all = np.asarray(ground_truth.topographies, dtype=float)
    mask_all = np.asarray(ground_truth.chan, dtype=bool)
    n_cls = topo_all.shape[0]
    if not (isinstance(class_index, (int, np.integer)) and 0 <= class_index < n_cls):
        raise TargetError(f"class_index {class_index!r} is outside the ground truth's "
                          f"{n_cls} classes (valid: 0..{n_cls - 1}).")
    class_names = list(getattr(ground_truth, "class_names", None) or range(n_cls))
    maps, names = [], [str(n) for n in attributions]
    for name, values in attributions.items():
        labels = y
        if hasattr(values, "dims"):
            if "class" in values.dims:
                from ..attribution._base import Attribution

                ax_c = values.axis("class")
                values = Attribution(np.take(np.asarray(values.data), class_index, axis=ax_c),
                                     tuple(d for d in values.dims if d != "class"),
                                     info=values.info, method=values.method, coords=values.coords)
            if labels is None and "trial" in values.dims:
                labels = values.coords.get("y")
        if hasattr(values, "dims") and "trial" not in values.dims:  # already aggregated
            m, m_info = reduce_to_channels(values, name)
            info = info if info is not None else m_info
            maps.append(m)
            continue
        per_trial, m_info = reduce_to_channels(values, name, keep_trials=True)
        info = info if info is not None else m_info
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (per_trial.shape[0],):
                raise ShapeError(f"y has shape {labels.shape}; {name!r} has "
                                 f"{per_trial.shape[0]} trials.")
            sel = labels == class_index
            if not sel.any():
                raise TargetError(f"{name!r} has no trial of class {class_index}.")
            per_trial = per_trial[sel]
        maps.append(per_trial.mean(axis=0))
    info = info if info is not None else getattr(ground_truth, "info", None)
    maps = np.stack(maps)
    check_info(info, maps.shape[1], "plot_ground_truth_comparison")
    if topo_all.shape[1] != maps.shape[1]:
        raise ShapeError(f"The ground truth has {topo_all.shape[1]} channels, the attributions "
                         f"{maps.shape[1]}.")
    mask = mask_all[class_index]
    if scores is None:
        rma = compute_ground_truth_metrics(maps, mask, metrics=["RelevanceMassAccuracy"])
        rma = dict(zip(names, rma["RelevanceMassAccuracy"].to_numpy()))
    else:
        rma = {n: float(scores[n]) if n in scores else np.nan for n in names}

    n_panels = 1 + len(names)
    if axes is None:
        n_cols = min(n_panels, 5)
        n_rows = int(np.ceil(n_panels / n_cols))
        fig, ax_arr = _new_figure(n_rows, n_cols, (min(REPORT_WIDTH, 1.9 * n_cols + 1.1),
                                                    2.3 * n_rows + 0.5))
        flat = list(ax_arr.ravel())
        for ax in flat[n_panels:]:
            ax.set_axis_off()
        flat = flat[:n_panels]
    else:
        flat = check_axes(axes, n_panels, "plot_ground_truth_comparison")
        fig = flat[0].figure
    lm = landmark_names(info, landmarks)
    peak = np.abs(topo_all[class_index]).max() or 1.0
    im = topomap(flat[0], np.abs(topo_all[class_index]) / peak, info, (0, 1), cmap, names=lm,
                 mask=mask)
    flat[0].set_title(f"ground truth\n{class_names[class_index]}", fontsize=10)
    for ax, name, m in zip(flat[1:], names, maps):
        top = m.max() or 1.0
        topomap(ax, m / top, info, (0, 1), cmap, names=lm, mask=mask)
        score = rma[name]
        ax.set_title(f"{name}\nRMA = {score:.2f}" if np.isfinite(score) else f"{name}\nRMA n/a",
                     fontsize=10)
    cb = fig.colorbar(im, ax=flat, shrink=0.8, pad=0.02)
    cb.set_label("|value| / max of map", fontsize=9)
    chance = mask.mean()
    fig.suptitle(title or f"Attribution vs ground truth ({class_names[class_index]}; "
                 f"white dots: true channels, chance RMA = {chance:.2f})", fontsize=11)
    return _finish(fig, show)
