"""Completeness: the sum of a map equals the output change it explains (recorded in
every result of the methods for which it is an axiom, checked against a tolerance)."""
from __future__ import annotations

import numpy as np
import torch

from .._core.model import (
    predict_scores,
)
from .._utils import (
    logger,
    warn_degenerate,
)
from ._registry import _as_numpy, _Plan

# --------------------------------------------------------------------------------------
# Completeness: the sum of a map equals the output change it explains
# --------------------------------------------------------------------------------------
#: Floor of the relative completeness error's denominator, as a fraction of the median
#: ``|f(x) - f(b)|`` over the trials: a trial whose output hardly moves from its baseline
#: would otherwise turn a negligible absolute error into an arbitrarily large relative one.
COMPLETENESS_FLOOR = 0.01


def relative_completeness_error(attr_sums, delta_f, floor=COMPLETENESS_FLOOR):
    """``|sum attr - delta_f| / max(|delta_f|, floor * median |delta_f|)`` per trial."""
    delta_f = np.asarray(delta_f, dtype=np.float64)
    scale = np.abs(delta_f)
    lowest = max(floor * float(np.median(scale)), np.finfo(np.float64).tiny)
    return np.abs(np.asarray(attr_sums, dtype=np.float64) - delta_f) / np.maximum(scale, lowest)


def _denominator_floor(delta_f):
    return max(COMPLETENESS_FLOOR * float(np.median(np.abs(delta_f))), np.finfo(np.float64).tiny)


class _Completeness:
    """The completeness record of one :func:`attribute` call, written into its result.

    ``kind`` is what completeness means for the method: ``"exact"`` (DeepLIFT: holds up
    to rounding, so any excess names a nonlinearity without a rule), ``"quadrature"``
    (integrated gradients: the error of the numerical path integral, judged on the median
    over trials against ``tolerance``) or ``"expectation"`` (GradientSHAP: the map is a
    Monte Carlo estimate whose sum equals ``f(x) - E f(b)`` in expectation only; reported
    with its standard error).
    """

    def __init__(self, ctx, method, kind, tolerance=None, dl_model=None):
        self.method, self.kind, self.dl_model = method, kind, dl_model
        self.tolerance = (10 * torch.finfo(ctx.dtype).eps ** 0.5 if tolerance is None
                          else tolerance)
        self.sums = np.zeros(ctx.n_trials)
        self.delta = np.zeros(ctx.n_trials)
        self.se = np.zeros(ctx.n_trials) if kind == "expectation" else None
        self.steps = None  # per-trial steps of n_steps="auto"
        self.params, self.coords = {}, {}

    def record(self, sl, attr, delta_f, se=None):
        self.sums[sl] = _as_numpy(attr.detach().double().sum(dim=(1, 2)))
        self.delta[sl] = _as_numpy(delta_f.detach().double())
        if se is not None:
            self.se[sl] = se

    def plan(self, fn, params, **kwargs):
        """A :class:`_Plan` whose result carries this record (params and coords)."""
        self.params = params
        return _Plan(fn, params, coords=self.coords, finalize=self.finalize, **kwargs)

    def finalize(self, ctx):
        rel = relative_completeness_error(self.sums, self.delta)
        med, top = float(np.median(rel)), float(rel.max())
        self.coords["completeness_error"] = rel
        summary = {"kind": self.kind, "median": med, "max": top, "tolerance": self.tolerance,
                   "floor": COMPLETENESS_FLOOR}
        logger.debug(f"{self.method}: relative completeness error median {med:.2e}, "
                     f"max {top:.2e}")
        if self.kind == "exact":
            summary["statistic"] = "max"
            if top > self.tolerance:
                warn_degenerate(
                    f"{self.method}: the sum of attributions differs from f(x) - f(baseline) by "
                    f"{med:.2%} (median over trials) and up to {top:.2%} (relative) on "
                    f"{type(ctx.model).__name__}. {self._cause()} The map is partly input x "
                    "gradient there; 'integrated_gradients' needs no rules.")
        elif self.kind == "quadrature":
            self._finalize_quadrature(rel, med, top, summary)
        else:
            self._finalize_expectation(rel, med, top, summary)
        self.params["completeness"] = summary

    def _cause(self):
        unhandled = self.dl_model.unhandled() if self.dl_model is not None else []
        if not unhandled:
            return ("Every call had a DeepLIFT rule; the difference comes from rounding or from "
                    "an operation that mixes trials.")
        where = "; ".join(f"{call} in {mod or 'the top level'}: {why}"
                          for call, mod, why, _ in unhandled[:8])
        more = f" (and {len(unhandled) - 8} more)" if len(unhandled) > 8 else ""
        return f"These calls ran without a DeepLIFT rule: {where}{more}."

    def _finalize_quadrature(self, rel, med, top, summary):
        summary["statistic"] = "median"
        steps = self.params.get("n_steps")
        if self.steps is not None:
            self.coords["n_steps"] = self.steps.copy()
            cap = self.params["max_steps"]
            stuck = (self.steps >= cap) & (rel > self.tolerance)
            self.params["n_steps_needed"] = int(self.steps.max())
            summary["n_capped"] = int(stuck.sum())
            if stuck.any():
                warn_degenerate(
                    f"{self.method}: n_steps='auto' reached max_steps={cap} on {stuck.sum()} of "
                    f"{len(rel)} trial(s) with their completeness error still above the "
                    f"tolerance {self.tolerance:.2%} (median over all trials {med:.2%}, max "
                    f"{top:.2%}). Raise max_steps, or use a baseline closer to the data (the "
                    "path from a zero baseline crosses the model's log(power) near zero, "
                    "where the integrand is steepest).")
                return
        if med > self.tolerance:
            warn_degenerate(
                f"{self.method}: the sum of attributions misses f(x) - f(baseline) by {med:.2%} "
                f"(median over trials; max {top:.2%}) with n_steps={steps}, above the "
                f"tolerance {self.tolerance:.2%}: the path integral is under-resolved. Pass "
                "n_steps='auto' (steps are doubled per trial until its error is below the "
                "tolerance) or more steps.")

    def _finalize_expectation(self, rel, med, top, summary):
        se = self.se / np.maximum(np.abs(self.delta), _denominator_floor(self.delta))
        z = rel / np.maximum(se, np.finfo(np.float64).tiny)
        self.coords["completeness_se"] = se
        summary.update(statistic="median", median_se=float(np.median(se)),
                       median_z=float(np.median(z)))
        n_samples = self.params.get("n_samples")
        if summary["median_z"] > 3:
            warn_degenerate(
                f"{self.method}: the attribution sums miss f(x) - E f(baseline) by {med:.2%} "
                f"(median over trials; max {top:.2%}), {summary['median_z']:.1f} Monte Carlo "
                "standard errors: more than sampling explains. With stdevs > 0 the maps "
                "explain f(x + noise), not f(x) (set stdevs=0); otherwise the model is not "
                "differentiable along the sampled paths.")
        elif med > self.tolerance:
            warn_degenerate(
                f"{self.method}: completeness holds in expectation only; with "
                f"n_samples={n_samples} the attribution sums miss f(x) - E f(baseline) by "
                f"{med:.2%} (median over trials; max {top:.2%}; Monte Carlo standard error "
                f"{summary['median_se']:.2%}), above the tolerance {self.tolerance:.2%}. The "
                "maps are noisy estimates: raise n_samples (the error falls as "
                "1/sqrt(n_samples)).")


def _output_change(ctx, baseline):
    """``f_t(x) - f_t(b)`` of every trial at its target (float64), batched, no gradients."""
    rows = np.arange(ctx.n_trials)
    fx = predict_scores(ctx.model, ctx.X, ctx.batch_size).astype(np.float64)[rows, ctx.targets]
    if baseline is None or isinstance(baseline, float):
        value = 0.0 if baseline is None else baseline
        baseline = np.full((1, ctx.n_chans, ctx.n_times), value, dtype=ctx.X.dtype)
    fb = predict_scores(ctx.model, baseline.astype(ctx.X.dtype, copy=False), ctx.batch_size)
    fb = fb.astype(np.float64)
    return fx - (fb[0, ctx.targets] if len(fb) == 1 else fb[rows, ctx.targets])


