"""Randomisation-check figures: bars per test and method, curves per cascade level."""
from __future__ import annotations

import numpy as np

from .._utils import (
    InvalidInputError,
    unknown_name,
)
from ._common import (
    OKABE_ITO,
    REPORT_WIDTH,
    _finish,
    _new_figure,
    categorical_colors,
    check_axes,
)

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
                "results: each must be a neuroxai.sanity RandomizationResult or its summary() "
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
    written above the bars or at the end of the curve: ``FAIL``, ``at chance`` (the model
    is not above chance: the maps explain noise), ``uninf.`` (the 2-class label test),
    ``undef.`` (constant maps). The title line states the model gate; checks are necessary,
    not sufficient. Every number comes from the results (:mod:`neuroxai.sanity`).

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
