"""The outcome of a randomisation check and the rule that turns similarities into a verdict.

The rule (documented for users, with the numbers that justify it, in
:mod:`neuroxai.sanity.randomization`):

1. **Model gate.** A model that is not above chance (one-sided binomial p >= alpha) has
   learnt nothing its maps could explain: the verdict is ``"NOT ABOVE CHANCE"`` whatever the
   similarities, ``passed`` is None. Without labels and without ``model_accuracy`` the
   verdict text says "model not checked".
2. **Each level** is classified from the mean over trials of two measures: ``r``, Pearson's
   r of the signed maps, and ``u``, Spearman's rho of ``|maps|`` (with the input's magnitude
   held fixed where the maps have the input's shape, see :mod:`._similarity`), against the
   threshold ``t``:

   - ``"unchanged"``: ``r >= t`` (the same map, sign included);
   - ``"sign flip"``: ``r <= -t`` (the same map negated: what is relevant did not change);
   - ``"|maps| kept"``: ``|r| < t`` but ``u >= t`` (the signs moved, the relevant
     channels/times stayed);
   - ``"changed"``: ``|r| < t`` and ``u < t``; the only outcome that passes;
   - ``"undefined"``: every trial's map is constant, no correlation exists.

3. **Label test with 2 classes.** A 2-class softmax depends on the logit difference only,
   so neither measure separates a method that explains the decision (the other class gets
   the negated map) from an untrained model (an unrelated map): the level is
   ``"uninformative"``; only ``"unchanged"`` with signed maps (a method that ignores the
   target gives r = 1) still fails it.
4. Levels make the verdict by ``rule``: ``"last"`` level, ``"all"``, ``"majority"`` or
   ``"any"`` of the defined levels.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ._similarity import PARTIAL

NECESSARY = ("Randomisation checks test that the maps depend on the model's parameters and "
             "target only: passing is necessary, not sufficient, for a faithful explanation.")
TEST_TITLES = {
    "cascading": "cascading randomisation",
    "independent": "independent randomisation",
    "full": "full randomisation",
    "label": "label randomisation",
    "data": "data randomisation",
}
RULES = {
    "last": "at the last level",
    "all": "at every level",
    "majority": "at more than half of the levels",
    "any": "at one level at least",
}
CHANGED, UNCHANGED, SIGN_FLIP, KEPT = "changed", "unchanged", "sign flip", "|maps| kept"
UNDEFINED, UNINFORMATIVE = "undefined", "uninformative"
PASS, FAIL, NOT_ABOVE_CHANCE = "PASS", "FAIL", "NOT ABOVE CHANCE"
_SHORT = {"pearson": "r", "spearman": "rho", "spearman_abs": "rho|.|",
          PARTIAL: "rho|.| given |x|"}


def _nanmean(a, axis=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN level -> NaN, counted
        return np.nanmean(a, axis=axis)


def _fmt_p(p):
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


@dataclass(repr=False)
class RandomizationResult:
    """Outcome of one randomisation sanity check.

    The verdict comes after the model gate and uses the signed and the unsigned measure
    together (rule: :mod:`neuroxai.sanity.randomization`). A PASS is necessary, not
    sufficient, for a faithful explanation: the checks test parameter and target
    dependence only.

    Attributes
    ----------
    test : str
        ``"cascading"``, ``"independent"``, ``"full"``, ``"label"`` or ``"data"``.
    method : str
        Name of the attribution method.
    levels : list of str
        What was randomised at each level (layer names, ``"all layers"``, ``"target"`` ...).
    scores : dict of str -> ndarray, shape (n_levels, n_trials)
        Per-trial similarity to the trained model's maps: ``"pearson"`` (signed maps),
        ``"spearman"`` (signed maps), ``"spearman_abs"`` (``|maps|``) and, for maps shaped
        like the input, ``"spearman_abs_partial"`` (``|maps|`` with ``|x|`` held fixed). NaN
        for a trial whose map is constant (counted in :attr:`n_undefined`).
    ci : dict of str -> ndarray, shape (n_levels, 2)
        Percentile-bootstrap interval of the mean over the defined trials.
    metric : str
        Deprecated (the verdict uses :attr:`signed_metric` and :attr:`unsigned_metric`);
        kept as the measure listed first.
    threshold : float
        ``t`` of the rule (module docstring of :mod:`neuroxai.sanity.randomization`).
    rule : str
        How level outcomes make the verdict: ``"last"``, ``"all"``, ``"majority"``, ``"any"``.
    confidence_level : float
        Level of the intervals in ``ci``.
    params, info : dict
        Parameters of the check; extra outputs (random targets, training history ...).
    maps, reference : dict | ndarray | None
        The maps per level and the trained model's maps (``return_maps=True`` only).
    n_classes : int | None
        The model's number of outputs (the label test's rule depends on it).
    signed_maps : bool | None
        False when no map has a negative value (an unsigned method such as saliency).
    model_accuracy : dict | None
        The model gate: ``accuracy``, ``chance``, ``p_value``, ``n``, ``alpha``,
        ``above_chance`` and ``source`` (``checked=True``), or ``checked=False`` with a
        ``reason``. ``None``: not checked.
    input_share : ndarray, shape (n_trials,) | None
        Spearman's rho of the trained model's ``|maps|`` and ``|x|`` per trial.
    """

    test: str
    method: str
    levels: list
    scores: dict
    ci: dict
    metric: str = "pearson"
    threshold: float = 0.5
    rule: str = "last"
    confidence_level: float = 0.95
    params: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    maps: dict | None = None
    reference: np.ndarray | None = None
    n_classes: int | None = None
    signed_maps: bool | None = None
    model_accuracy: dict | None = None
    input_share: np.ndarray | None = None

    # ---------------------------------------------------------------------- numbers
    @property
    def n_trials(self):
        return next(iter(self.scores.values())).shape[1]

    @property
    def mean(self):
        """Mean similarity over the defined trials, per measure, shape (n_levels,)."""
        return {m: _nanmean(s, axis=1) for m, s in self.scores.items()}

    @property
    def n_undefined(self):
        """Trials without a similarity (constant maps), per measure, shape (n_levels,)."""
        return {m: np.isnan(s).sum(axis=1) for m, s in self.scores.items()}

    @property
    def signed_metric(self):
        """The signed measure of the rule: ``"pearson"``."""
        return "pearson"

    @property
    def unsigned_metric(self):
        """The unsigned measure of the rule: ``"spearman_abs_partial"`` where computed."""
        return PARTIAL if PARTIAL in self.scores else "spearman_abs"

    # ---------------------------------------------------------------------- verdict
    @property
    def two_class_label(self):
        return self.test == "label" and self.n_classes == 2

    @property
    def level_outcome(self):
        """Outcome of each level: ``"changed"``, ``"unchanged"``, ``"sign flip"``,
        ``"|maps| kept"``, ``"uninformative"`` or ``"undefined"`` (module docstring)."""
        t, mean = self.threshold, self.mean
        r = mean[self.signed_metric]
        # results built by hand may carry the signed measures only: decide on r alone
        u = mean.get(self.unsigned_metric, np.zeros(len(self.levels)))
        out = []
        for ri, ui in zip(r, u):
            if not (np.isfinite(ri) and np.isfinite(ui)):
                out.append(UNDEFINED)
            elif self.two_class_label:
                out.append(UNCHANGED if ri >= t and self.signed_maps is not False
                           else UNINFORMATIVE)
            elif ri >= t:
                out.append(UNCHANGED)
            elif ri <= -t:
                out.append(SIGN_FLIP)
            else:
                out.append(KEPT if ui >= t else CHANGED)
        return out

    @property
    def level_passed(self):
        """Whether each level's maps changed (outcome ``"changed"``), shape (n_levels,)."""
        return np.array([o == CHANGED for o in self.level_outcome], dtype=bool)

    @property
    def model_check(self):
        """``"above chance"``, ``"not above chance"`` or ``"not checked"``."""
        acc = self.model_accuracy or {}
        if not acc.get("checked", False):
            return "not checked"
        return "above chance" if acc["above_chance"] else "not above chance"

    def _method_verdict(self):
        outcomes = self.level_outcome
        decisive = outcomes[-1:] if self.rule == "last" else outcomes
        defined = [o for o in decisive if o != UNDEFINED]
        if not defined:
            return "UNDEFINED"
        if all(o == UNINFORMATIVE for o in defined):
            return "UNINFORMATIVE"
        ok = [o == CHANGED for o in defined if o != UNINFORMATIVE]
        if self.rule in ("last", "all"):
            good = all(ok)
        elif self.rule == "any":
            good = any(ok)
        else:
            good = sum(ok) * 2 > len(ok)
        return PASS if good else FAIL

    @property
    def verdict(self):
        """``"PASS"``, ``"FAIL"``, ``"NOT ABOVE CHANCE"``, ``"UNINFORMATIVE"`` or
        ``"UNDEFINED"``; the gate comes first."""
        if self.model_check == "not above chance":
            return NOT_ABOVE_CHANCE
        return self._method_verdict()

    @property
    def passed(self):
        """True (PASS), False (FAIL) or None (not above chance, uninformative, undefined)."""
        v = self.verdict
        return True if v == PASS else False if v == FAIL else None

    # ---------------------------------------------------------------------- words
    @property
    def model_text(self):
        """The model gate in words (accuracy, chance, p-value, or why it was not checked)."""
        acc = self.model_accuracy or {}
        if not acc.get("checked", False):
            why = acc.get("reason") or "no labels and no model_accuracy= were given"
            return f"model not checked ({why})"
        return (f"model {self.model_check} (accuracy {acc['accuracy']:.2f}, chance "
                f"{acc['chance']:.2f}, binomial p = {_fmt_p(acc['p_value'])} "
                f"{'<' if acc['above_chance'] else '>='} alpha = {acc['alpha']:g}, "
                f"n = {acc.get('n', '?')}; {acc.get('source', 'given')})")

    def _rule_text(self):
        u = ("Spearman rho of |maps| with |x| held fixed" if self.unsigned_metric == PARTIAL
             else "Spearman rho of |maps|")
        t = f"{self.threshold:g}"
        return (f"a level passes when |Pearson r of the signed maps| < {t} and {u} < {t}, "
                f"{RULES[self.rule]}")

    @property
    def reason(self):
        """Why the verdict is what it is, in one sentence."""
        v, r = self.verdict, self.mean[self.signed_metric]
        if v == NOT_ABOVE_CHANCE:
            return ("model not above chance — the maps explain noise; the check says nothing "
                    "about the method.")
        if v == "UNDEFINED":
            return ("every trial's map is constant at the deciding level(s): no correlation is "
                    "defined, so the check has no result.")
        if v == "UNINFORMATIVE":
            if self.signed_maps is False:
                return ("the maps are unsigned (>= 0): with 2 classes a method that explains "
                        "the decision gives both classes the same |map| (the logit difference), "
                        "as does a method that ignores the target, so the label test cannot "
                        "tell them apart.")
            return (f"2 classes: the other class's map correlates at r = {r[-1]:+.2f}; a method "
                    "that explains the decision gives the negated map (r -> -1) and a model "
                    "that decides nothing an unrelated one (r ~ 0), so the label test cannot "
                    f"certify a method with 2 classes. It fails a method that ignores the "
                    f"target (r >= {self.threshold:g}); rely on the model-randomisation checks.")
        outcomes = self.level_outcome
        if v == PASS:
            return ("the maps changed on the signed and the unsigned measure "
                    f"{RULES[self.rule]}.")
        bad = [f"{lv!s} ({o}, r = {ri:+.2f})" for lv, o, ri in zip(self.levels, outcomes, r)
               if o not in (CHANGED, UNDEFINED, UNINFORMATIVE)]
        return f"the maps did not change enough ({self._rule_text()}): " + ", ".join(bad) + "."

    @property
    def verdict_text(self):
        """Verdict, reason, model gate and "necessary, not sufficient" in one paragraph."""
        return f"{self.verdict} ({self.model_text}): {self.reason} {NECESSARY}"

    # ---------------------------------------------------------------------- tables
    def _result_columns(self):
        acc = self.model_accuracy or {}
        checked = acc.get("checked", False)
        return dict(verdict=self.verdict, model_check=self.model_check,
                    model_accuracy=acc.get("accuracy") if checked else np.nan,
                    model_chance=acc.get("chance") if checked else np.nan,
                    model_p_value=acc.get("p_value") if checked else np.nan,
                    threshold=self.threshold, verdict_text=self.verdict_text)

    def summary(self):
        """One row per level: mean, interval and undefined trials of every measure, the
        level's outcome, and the check's verdict, gate and text."""
        import pandas as pd

        mean, n_undef, outcomes = self.mean, self.n_undefined, self.level_outcome
        rows = []
        for i, level in enumerate(self.levels):
            row = {"level": i + 1, "randomized": level}
            for m in self.scores:
                row[f"{m}_mean"] = float(mean[m][i])
                row[f"{m}_ci_low"], row[f"{m}_ci_high"] = map(float, self.ci[m][i])
                row[f"{m}_n_undefined"] = int(n_undef[m][i])
            row.update(outcome=outcomes[i], passed=bool(self.level_passed[i]))
            rows.append({**row, **self._result_columns()})
        df = pd.DataFrame(rows)
        df.attrs["note"] = NECESSARY
        return df

    def to_dataframe(self):
        """Long table: one row per level and trial, one column per measure."""
        import pandas as pd

        n_levels, n_trials = len(self.levels), self.n_trials
        df = {
            "test": self.test,
            "method": self.method,
            "level": np.repeat(np.arange(1, n_levels + 1), n_trials),
            "randomized": np.repeat(np.asarray(self.levels, dtype=object), n_trials),
            "trial": np.tile(np.arange(n_trials), n_levels),
            "outcome": np.repeat(np.asarray(self.level_outcome, dtype=object), n_trials),
        }
        for m, s in self.scores.items():
            df[m] = s.ravel()
        df["verdict"] = self.verdict
        out = pd.DataFrame(df)
        out.attrs["note"] = NECESSARY
        return out

    def _notes(self):
        notes = []
        for i, level in enumerate(self.levels):
            k = int(self.n_undefined[self.signed_metric][i])
            if k:
                notes.append(f"{k} of {self.n_trials} trials have a constant map at {level!r}: "
                             "undefined, left out of the means.")
        if self.input_share is not None and self.unsigned_metric == PARTIAL:
            share = float(_nanmean(self.input_share))
            if share >= 0.3:
                notes.append(f"|maps| follow the input's magnitude (rho(|map|, |x|) = "
                             f"{share:.2f}); the rule holds |x| fixed, rho of |maps| without "
                             "it is the column rho|.|.")
        if self.test == "data" and not self.info.get("fitted", True):
            notes.append(f"the permuted-label model reached only "
                         f"{self.info['train_accuracy']:.2f} training accuracy (target "
                         f"{self.params.get('target_accuracy')}).")
        return notes

    def __repr__(self):
        pct = int(round(self.confidence_level * 100))
        sm, um = self.signed_metric, self.unsigned_metric
        others = [m for m in self.scores if m not in (sm, um)]
        mean = self.mean
        lines = [
            f"<RandomizationResult | {TEST_TITLES.get(self.test, self.test)} of "
            f"{self.method!r}, {self.n_trials} trials: {self.verdict}>",
            f"  {self.model_text}",
            f"  verdict: {self.reason}",
            f"  rule: {self._rule_text()}",
            f"  necessary, not sufficient: {NECESSARY}",
            f"  similarity to the trained model's maps, mean [{pct}% CI] over trials:",
        ]
        width = max(len("randomized"), *(len(str(lv)) for lv in self.levels))
        head = (f"  {'#':>3}  {'randomized':<{width}}  {_SHORT[sm]:>20}  "
                f"{_SHORT.get(um, um):>20}" + "".join(f"  {_SHORT.get(m, m):>7}" for m in others))
        lines.append(head + "  outcome")
        for i, level in enumerate(self.levels):
            cells = "".join(
                f"  {mean[m][i]:>+6.3f} [{self.ci[m][i, 0]:+.2f}, {self.ci[m][i, 1]:+.2f}]"
                for m in (sm, um) if m in self.scores)
            cells += "".join(f"  {mean[m][i]:>+7.3f}" for m in others)
            lines.append(f"  {i + 1:>3}  {str(level):<{width}}{cells}  "
                         f"{self.level_outcome[i]}")
        lines.extend(f"  note: {n}" for n in self._notes())
        return "\n".join(lines)

    __str__ = __repr__
