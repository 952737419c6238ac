"""The benchmark's result: a tidy table, its wide view and its Markdown report."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._utils import atomic_write

__all__ = ["BenchmarkTable"]

_LEGEND = (
    "**Model gate**: each regime's held-out accuracy (whole session 1test) against chance "
    "(the largest class share) by a one-sided binomial test; below significance (p >= "
    "{alpha:g}) every row of the regime reads *model not above chance* (its maps explain "
    "noise). **accurate**: the maps' mean ROC AUC *and* mean relevance mass against each "
    "trial's ground-truth mask beat both nulls, permutation p < {alpha:g} with {n_perm} "
    "draws each (in parentheses: the nulls' means; p is the larger p-value): the same maps "
    "shuffled across channels (and bands for band maps), which a map constant across "
    "channels can never beat, and the same maps scored against another class's mask "
    "(labels permuted), which a map of what all classes share (e.g. the motor channels' "
    "ongoing rhythm) does not beat (– where every class has the same mask). "
    "**top-k**: share of "
    "the k most relevant entries inside the mask (k = mask size). **peak**: share of trials "
    "whose maximum lies inside the mask, and the mean distance from the maximum's channel "
    "to the nearest mask channel in cm. **label / cascade**: mean per-trial Pearson r of the "
    "signed maps [{ci}% CI] and Spearman rho of |maps| (|x| held fixed where the maps have "
    "the input's shape) between the trained model's maps for the true class and (label) a "
    "random other class, (cascade) the same class on the model with every parametrised "
    "layer randomised (neuroxai.sanity.label_randomization / full_randomization, = the last "
    "level of cascading_randomization, given the regime's model gate); PASS when |r| < "
    "{thr:g} and rho < {thr:g} (the sanity stage's rule: necessary, not sufficient). "
    "**ok**: model above chance, accurate and both checks PASS. Band maps (band_ablation) "
    "are scored on bands derived "
    "from the ground-truth masks (neuroxai.data.ground_truth_bands: each contiguous run of "
    "mask frequencies is a band, the gaps of 4-38 Hz between runs are bands too)."
)


@dataclass(repr=False)
class BenchmarkTable:
    """Result of :func:`~neuroxai.evaluation.run_xai_benchmark`.

    Attributes
    ----------
    data : pandas.DataFrame
        Tidy table, one row per (regime, method). Columns: ``regime``, ``method``,
        ``status`` (``"ok"``, ``"undefined"``), ``reason`` (why undefined / why a score is
        n/a), ``n_trials``; the model gate ``model_accuracy`` (held-out session),
        ``n_test``, ``chance``, ``model_p``, ``above_chance``; ``mask`` (``"chan x time"`` or
        ``"chan x band"``), ``mass_accuracy_chance`` (the mask's share); for each of
        ``roc_auc``, ``mass_accuracy`` (relevance mass), ``rank_accuracy`` (top-k precision)
        and ``peak_in_mask``: the mean over trials, ``<score>_shuffled`` and
        ``<score>_other_class`` (the means of the two nulls of
        :func:`neuroxai.metrics.compute_ground_truth_null`) and ``<score>_p`` (the larger of
        the two permutation p-values); ``peak_cm``, ``peak_hz`` (band maps) or ``peak_s``
        (time maps), ``accurate``; ``label_r``, ``label_ci_low``/``_high``, ``label_verdict``,
        ``cascade_r``, ``cascade_ci_low``/``_high``, ``cascade_verdict``; ``ok``,
        ``verdict`` (``"ok"``, ``"model not above chance"``, or the failed criteria);
        ``wall_s``, ``cpu_s``, ``params`` and ``notes`` (degenerate-method warnings).
    params : dict
        The run's configuration (thresholds, seed, method parameters, regimes and their
        simulation arguments, model sources, ``trial_index``: per regime, the evaluated
        trials within session ``"1test"``, and ``gate``: per regime, the model gate).
    results : dict
        ``{(regime, method): {"label": RandomizationResult, "cascade": RandomizationResult,
        "ground_truth": DataFrame, "null": DataFrame}}``: the per-trial similarity and
        ground-truth scores and the permutation tests behind every cell (``return_maps``
        adds ``"maps"``).
    timing : dict
        ``wall_s``/``cpu_s`` of the whole run and ``setup`` (per regime: loading or
        training the model, simulating the data, the model gate).
    """

    data: pd.DataFrame
    params: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)

    @property
    def methods(self):
        return list(dict.fromkeys(self.data["method"]))

    @property
    def regimes(self):
        return list(dict.fromkeys(self.data["regime"]))

    def wide(self):
        """Methods as rows, (regime, criterion) as columns, plus ``("all", "ok")``.

        Criteria: ``roc_auc``, ``mass_accuracy``, ``label_r``, ``cascade_r`` (numbers),
        ``accurate`` and ``ok`` (bool; NaN for undefined methods). ``("all", "ok")`` is True
        when the method is ok in every regime.
        """
        crit = ["roc_auc", "mass_accuracy", "label_r", "cascade_r", "accurate", "ok"]
        wide = self.data.pivot(index="method", columns="regime", values=crit)
        wide = wide.swaplevel(0, 1, axis=1)
        cols = pd.MultiIndex.from_product([self.regimes, crit], names=["regime", "criterion"])
        wide = wide.reindex(index=self.methods, columns=cols)
        defined = self.data.assign(ok=self.data["ok"].astype(object)).groupby(
            "method", sort=False)["ok"].agg(lambda s: bool(s.all()) if s.notna().all() else np.nan)
        wide[("all", "ok")] = defined.reindex(self.methods)
        return wide

    # ------------------------------------------------------------------------ markdown
    def _summary_lines(self):
        header = ["method"] + [f"{r}" for r in self.regimes] + ["ok in all"]
        by_key = {(r.regime, r.method): r for r in self.data.itertuples(index=False)}
        ok_all = self.wide()[("all", "ok")]
        rows = []
        for method in self.methods:
            row = [f"`{method}`"]
            for regime in self.regimes:
                r = by_key.get((regime, method))
                row.append("" if r is None else ("undefined" if r.status != "ok" else
                                                  ("**ok**" if r.ok else r.verdict)))
            v = ok_all.get(method)
            row.append("undefined" if pd.isna(v) else ("**yes**" if v else "no"))
            rows.append(row)
        return _markdown_table(header, rows)

    def _regime_lines(self, regime, digits):
        f = f"{{:.{digits}f}}"
        g = self.params.get("gate", {}).get(regime, {})
        title = self.params.get("regime_titles", {}).get(regime, "")
        src = self.params.get("model_source", {}).get(regime, "")
        lines = [f"## {regime}" + (f": {title}" if title else ""), ""]
        if g:
            verdict = "above chance" if g["above_chance"] else "**NOT above chance**"
            lines += [f"Model ({src}): held-out accuracy {g['accuracy']:.3f} on {g['n']} "
                      f"trials, chance {g['chance']:.3f}, binomial p = {g['p_value']:.2g}: "
                      f"{verdict}.", ""]
        header = ["method", "AUC (shuffled, other class) p", "mass (shuffled, other class) p",
                  "top-k (shuffled, other class)", "peak in mask", "peak cm", "label r",
                  "cascade r", "accurate", "verdict"]
        rows = []
        for r in self.data[self.data["regime"] == regime].itertuples(index=False):
            if r.status != "ok":
                rows.append([f"`{r.method}`", r.status] + [""] * (len(header) - 2))
                continue
            rows.append([
                f"`{r.method}`",
                _with_null(r.roc_auc, r.roc_auc_shuffled, r.roc_auc_other_class, r.roc_auc_p, f),
                _with_null(r.mass_accuracy, r.mass_accuracy_shuffled,
                           r.mass_accuracy_other_class, r.mass_accuracy_p, f),
                _with_null(r.rank_accuracy, r.rank_accuracy_shuffled,
                           r.rank_accuracy_other_class, None, f),
                "n/a" if not np.isfinite(r.peak_in_mask) else f.format(r.peak_in_mask),
                "n/a" if not np.isfinite(r.peak_cm) else f"{r.peak_cm:.1f}",
                _check(r.label_r, r.label_ci_low, r.label_ci_high, r.label_u, r.label_verdict,
                       digits),
                _check(r.cascade_r, r.cascade_ci_low, r.cascade_ci_high, r.cascade_u,
                       r.cascade_verdict, digits),
                "**yes**" if r.accurate else "no",
                "**ok**" if r.ok else r.verdict,
            ])
        return lines + [_markdown_table(header, rows), ""]

    def to_markdown(self, digits=2):
        """A summary (methods x regimes: ``ok`` or what failed), then one table per regime.

        Each regime's table gives the model gate and, per method, ROC AUC, relevance mass
        and top-k precision with the mean of the shuffled maps and the permutation p-value,
        the peak localisation, the label and cascade similarities with their CIs and
        verdicts, ``accurate`` and the verdict.
        """
        p = self.params
        lines = [
            f"# Attribution benchmark on simulated BCI IV 2a ({', '.join(self.regimes)})",
            "",
            f"{p.get('n_trials')} held-out trials (session 1test) per regime, balanced over "
            f"classes (seed {p.get('seed')}); maps attributed to the true class. "
            + _LEGEND.format(alpha=p.get("alpha", 0.05), n_perm=p.get("n_permutations"),
                             ci=int(round(100 * p.get("confidence_level", 0.95))),
                             thr=p.get("threshold", 0.5)),
            "",
            "## Summary",
            "",
            self._summary_lines(),
            "",
        ]
        for regime in self.regimes:
            lines += self._regime_lines(regime, digits)
        lines += self._notes_lines()
        t = self.timing
        if t:
            lines.append(
                f"Run time: {t['wall_s']:.0f} s wall, {t['cpu_s']:.0f} s CPU (process time, "
                f"all threads) on {t.get('n_threads')} torch thread(s), including "
                f"{sum(s['wall_s'] for s in t.get('setup', {}).values()):.0f} s of model "
                "loading/training and simulation; per-method times are in the CSV.")
        return "\n".join(lines) + "\n"

    def _notes_lines(self):
        lines = []
        undefined = self.data[self.data["status"] == "undefined"]
        if len(undefined):
            lines += ["Undefined methods:", ""]
            for method, grp in undefined.groupby("method", sort=False):
                lines.append(f"- `{method}` ({', '.join(grp['regime'])}): {grp['reason'].iloc[0]}")
            lines.append("")
        na = self.data[(self.data["status"] == "ok") & (self.data["reason"] != "")]
        if len(na):
            lines += ["Notes:", ""]
            lines += [f"- `{r.method}` ({r.regime}): {r.reason}" for r in na.itertuples()]
            lines.append("")
        mp = self.params.get("method_params", {})
        listed = [f"- `{m}`: {short_params(mp[m])}" for m in self.methods if mp.get(m)]
        if listed:
            lines += ["Method parameters (lighter than the defaults where listed):", ""]
            lines += listed + [""]
        bands = self.params.get("bands", {})
        if "band_ablation" in self.methods and bands:
            lines += ["Bands of `band_ablation` (Hz, half-open), derived from each regime's "
                      "ground truth:", ""]
            lines += [f"- {r}: " + ", ".join(f"[{lo:.2f}, {hi:.2f})" for lo, hi in b.values())
                      for r, b in bands.items()] + [""]
        return lines

    def save(self, path):
        """Write the tidy table as ``<path>.csv`` and the Markdown view as ``<path>.md``.

        Parameters
        ----------
        path : path-like
            File name; a ``.csv`` or ``.md`` suffix is replaced.

        Returns
        -------
        csv_path, md_path : Path
        """
        path = Path(path)
        if path.suffix in (".csv", ".md"):
            path = path.with_suffix("")
        csv_path, md_path = path.with_name(path.name + ".csv"), path.with_name(path.name + ".md")
        with atomic_write(csv_path, "w") as fh:
            self.data.to_csv(fh, index=False)
        with atomic_write(md_path, "w") as fh:
            fh.write(self.to_markdown())
        return csv_path, md_path

    def __repr__(self):
        n_ok = int(self.data["ok"].fillna(False).astype(bool).sum())
        return (f"<BenchmarkTable | {len(self.methods)} methods x {len(self.regimes)} regimes "
                f"({', '.join(self.regimes)}), {self.params.get('n_trials')} trials each, "
                f"{n_ok} of {len(self.data)} cells ok>")

    __str__ = to_markdown


def _with_null(value, shuffled, other, p, f):
    if not np.isfinite(value):
        return "n/a"
    other = "–" if not np.isfinite(other) else f.format(other)  # every class, one mask
    out = f"{f.format(value)} ({f.format(shuffled)}, {other})"
    if p is not None and np.isfinite(p):
        out += f" {p:.3f}" if p >= 0.001 else " <.001"
    return out


def _check(r, lo, hi, u, verdict, digits):
    if not np.isfinite(r):
        return verdict or "n/a"
    return (f"{r:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}], rho {u:.{digits}f} "
            f"{verdict}")


def _markdown_table(header, rows):
    # pandas' to_markdown needs `tabulate`, which is not a neuroxai dependency.
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return "\n".join([line(header), line(["---"] * len(header))] + [line(r) for r in rows])


def short_params(params):
    out = []
    for k, v in params.items():
        if isinstance(v, dict):
            v = "{" + ", ".join(f"{n}: ({e[0]:.2f}, {e[1]:.2f})" for n, e in v.items()) + "}"
        out.append(f"{k}={v}")
    return ", ".join(out)
