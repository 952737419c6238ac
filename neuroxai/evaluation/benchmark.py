"""Ground-truth benchmark of the attribution methods on simulated BCI IV 2a regimes.

The analogue, for neuroxai's registered methods, of the evaluation of Sujatha Ravindran &
Contreras-Vidal (2023, Sci Rep 13:17709): every method x every regime of
:data:`~neuroxai.evaluation.BENCHMARK_REGIMES` x three criteria, after a model gate:

0. **model gate**: the regime's model must classify its held-out session above chance
   (one-sided binomial test); otherwise its maps explain noise and every row says so;
1. **ground-truth accuracy** of the trained model's maps against the mask of each trial's
   class (channel x time; ``band_ablation``: channel x band, with bands derived from the
   masks by :func:`neuroxai.data.ground_truth_bands`), decided against the same maps
   shuffled across channels and against other classes' masks
   (:func:`neuroxai.metrics.compute_ground_truth_null`);
2. **label randomisation** (:func:`neuroxai.sanity.label_randomization`);
3. **cascading randomisation** at its last, input-most level, where every parametrised
   layer is random (:func:`neuroxai.sanity.full_randomization`).

The trained model's maps are computed once per method and given to both checks as their
``reference``. The evaluation stage sits above :mod:`neuroxai.sanity` and
:mod:`neuroxai.metrics`; only the report, the CLI and the benchmark scripts import it.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._utils import (
    DegenerateMethodWarning,
    InvalidInputError,
    MethodUndefinedError,
    UnknownNameError,
    logger,
    verbose,
)
from ._regimes import BENCHMARK_REGIMES, REGIME_TITLES, load_regime, resolve_regimes
from .table import BenchmarkTable, short_params

__all__ = ["BENCHMARK_METHOD_PARAMS", "BENCHMARK_REGIMES", "REGIMES", "run_xai_benchmark"]

REGIMES = tuple(BENCHMARK_REGIMES)

#: Lighter parameters of the expensive methods, so that the table (every method x 3
#: attribution passes over 48 trials) costs about 2 minutes of one core per regime.
#: Measured cost per trial and pass, relative to ``saliency`` (about 17 ms of one core for
#: 22 x 1125 samples and ShallowFBCSPNet): occlusion 40x (22 channels x 9 windows of 0.5 s = 198
#: forwards), band_ablation 5x per band and channel, integrated_gradients and
#: deeplift_shap 7x, gradient_shap, smoothgrad and vargrad 4.5x; with the defaults
#: (50 steps, 16 baselines, 16 x 16 samples, 25 noise samples) these would be 3x more.
#: ``band_ablation`` gets the bands of each regime's ground truth.
BENCHMARK_METHOD_PARAMS = {
    "integrated_gradients": {"n_steps": 16},
    "deeplift_shap": {"n_baselines": 8},
    "gradient_shap": {"n_baselines": 8, "n_samples": 8},
    "smoothgrad": {"nt_samples": 8},
    "vargrad": {"nt_samples": 8},
    "occlusion": {"window": 0.5},
}
#: Scores tested against the nulls (table column names); the first two decide "accurate".
_SCORE_COLUMNS = {"ROC_AUC": "roc_auc", "RelevanceMassAccuracy": "mass_accuracy",
                  "RelevanceRankAccuracy": "rank_accuracy", "PeakInMask": "peak_in_mask"}
_NULL_METRICS = list(_SCORE_COLUMNS)
_COLUMNS = (
    ["regime", "method", "status", "reason", "n_trials", "model_accuracy", "n_test", "chance",
     "model_p", "above_chance", "mask", "mass_accuracy_chance"]
    + [f"{c}{s}" for c in _SCORE_COLUMNS.values() for s in ("", "_shuffled", "_other_class",
                                                            "_p")]
    + ["peak_cm", "peak_hz", "peak_s", "accurate", "label_r", "label_ci_low", "label_ci_high",
       "label_u", "label_verdict", "cascade_r", "cascade_ci_low", "cascade_ci_high",
       "cascade_u", "cascade_verdict", "ok", "verdict", "wall_s", "cpu_s", "params", "notes"])


@dataclass(frozen=True)
class _Options:
    batch_size: int
    threshold: float
    alpha: float
    n_permutations: int
    n_bootstrap: int
    confidence_level: float
    norm_std: float
    seed: int
    return_maps: bool


# ---------------------------------------------------------------------------- arguments
def _resolve_methods(methods):
    from ..attribution.methods import get_method, list_methods

    if methods is None:
        return list_methods()
    if isinstance(methods, str):
        methods = [methods]
    methods = list(dict.fromkeys(methods))
    for m in methods:
        get_method(m)  # UnknownNameError listing the valid names
    if not methods:
        raise InvalidInputError("methods must name at least one attribution method.")
    return methods


def _resolve_params(methods, method_params, seed):
    from ..attribution.methods import get_method

    user = dict(method_params or {})
    for m, p in user.items():
        if m not in methods:
            raise UnknownNameError(
                f"method_params has parameters for {m!r}, which is not benchmarked. "
                f"Benchmarked methods: {', '.join(map(repr, methods))}.")
        bad = sorted(set(p or {}) - set(get_method(m).defaults))
        if bad:
            valid = ", ".join(map(repr, get_method(m).defaults)) or "none"
            raise UnknownNameError(
                f"Unknown parameter {bad[0]!r} for method {m!r} in method_params. Its "
                f"parameters are: {valid}.")
    out = {}
    for m in methods:
        defaults = get_method(m).defaults
        p = {**BENCHMARK_METHOD_PARAMS.get(m, {}), **(user.get(m) or {})}
        if "seed" in defaults and "seed" not in p:
            p["seed"] = seed
        out[m] = p
    return out


def _check_options(n_trials, threshold, alpha, confidence_level, n_permutations, checkpoints,
                   specs):
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 2:
        raise InvalidInputError(f"n_trials must be an integer >= 2, got {n_trials!r}.")
    for name, value, lo, hi in (("threshold", threshold, -1, 1), ("alpha", alpha, 0, 1),
                                ("confidence_level", confidence_level, 0, 1)):
        if not (np.isfinite(value) and lo <= value <= hi):
            raise InvalidInputError(f"{name} must lie in [{lo}, {hi}], got {value!r}.")
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) \
            or 1.0 / (n_permutations + 1) >= alpha:
        raise InvalidInputError(
            f"n_permutations must be an integer with 1 / (n_permutations + 1) < alpha "
            f"({alpha}), got {n_permutations!r}.")
    for r in checkpoints:
        if r not in specs:
            raise UnknownNameError(
                f"checkpoints names the regime {r!r}, which is not benchmarked. Benchmarked "
                f"regimes: {', '.join(map(repr, specs))}.")


def _first_sentence(text):
    text = " ".join(str(text).split())
    cut = text.find(". ")
    return text if cut < 0 else text[: cut + 1]


# -------------------------------------------------------------------------------- cells
def _cell_params(reg, method, base):
    """The method's parameters in this regime: band_ablation cuts the truth's bands."""
    p = dict(base)
    if method == "band_ablation":
        p.setdefault("bands", reg.truth.bands())
    return p


def _randomization_checks(reg, method, params, reference, opt):
    """Label and full (= last cascade level) randomisation, through the sanity stage, with
    the regime's model gate."""
    from ..sanity import full_randomization, label_randomization

    common = dict(method=method, method_params=params, batch_size=opt.batch_size,
                  threshold=opt.threshold, model_accuracy=reg.gate, seed=opt.seed,
                  n_bootstrap=opt.n_bootstrap, confidence_level=opt.confidence_level,
                  return_maps=opt.return_maps, reference=reference, verbose=False)
    label = label_randomization(reg.model, reg.trials, reg.y, **common)
    cascade = full_randomization(reg.model, reg.trials, reg.y, norm_std=opt.norm_std, **common)
    row = {}
    for test, res in (("label", label), ("cascade", cascade)):
        row.update({f"{test}_r": float(res.mean[res.signed_metric][0]),
                    f"{test}_ci_low": float(res.ci[res.signed_metric][0, 0]),
                    f"{test}_ci_high": float(res.ci[res.signed_metric][0, 1]),
                    f"{test}_u": float(res.mean[res.unsigned_metric][0]),
                    f"{test}_verdict": res.verdict})
    return row, {"label": label, "cascade": cascade}


def _ground_truth_masks(reg, ref):
    """Per-class masks on the map's axes, the mask's name and why some trials are n/a."""
    truth = reg.truth
    if ref.dims[-1] == "time":
        return truth.chan_time, "chan x time", ""
    bands = ref.params.get("bands") or {}
    masks = truth.band_masks(bands)
    empty = [reg.class_names[k] for k in range(len(masks)) if not masks[k].any()]
    reason = ""
    if empty:
        reason = (f"no band holds half of the ground-truth frequencies of class(es) "
                  f"{', '.join(empty)}; those trials score n/a. Bands: "
                  f"{short_params({'bands': bands})}.")
    return masks, "chan x band", reason


def _ground_truth_scores(reg, ref, opt):
    """Per-trial scores, their permutation test and the accuracy decision."""
    from ..metrics import compute_ground_truth_metrics, compute_ground_truth_null

    masks, mask_name, reason = _ground_truth_masks(reg, ref)
    y = reg.y
    dist = ["PeakDistanceCm", "PeakDistanceS" if mask_name == "chan x time" else "PeakDistanceHz"]
    gt = compute_ground_truth_metrics(ref, masks, y=y, metrics=_NULL_METRICS + dist,
                                      verbose=False)
    # both nulls, unless every class has the same mask (temporal regime, band maps)
    null = compute_ground_truth_null(ref, masks, y=y, metrics=_NULL_METRICS,
                                     n_permutations=opt.n_permutations, alpha=opt.alpha,
                                     seed=opt.seed, verbose=False)
    chance = masks[y].reshape(len(y), -1).mean(axis=1)
    defined = gt["RelevanceMassAccuracy"].notna().to_numpy()
    row = dict(mask=mask_name, reason=reason,
               mass_accuracy_chance=float(np.mean(chance[defined])) if defined.any() else np.nan,
               accurate=bool(null.loc[["ROC_AUC", "RelevanceMassAccuracy"], "significant"].all()))
    for metric, col in _SCORE_COLUMNS.items():
        r = null.loc[metric]
        row.update({col: r["observed"], f"{col}_shuffled": r["shuffle_mean"],
                    f"{col}_other_class": r.get("classes_mean", np.nan),
                    f"{col}_p": r["p_value"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column -> NaN
        means = gt.mean()
    row.update(peak_cm=float(means["PeakDistanceCm"]),
               peak_hz=float(means.get("PeakDistanceHz", np.nan)),
               peak_s=float(means.get("PeakDistanceS", np.nan)))
    return row, gt, null


def _verdict(row, gate):
    if not gate["above_chance"]:
        return False, "model not above chance"
    # a check that is not PASS (FAIL, UNINFORMATIVE, UNDEFINED) does not support the method
    failed = ([] if row["accurate"] else ["not accurate"]) + [
        f"{test} {row[f'{test}_verdict']}" for test in ("label", "cascade")
        if row[f"{test}_verdict"] != "PASS"]
    return not failed, "; ".join(failed) or "ok"


def _evaluate_cell(reg, method, params, opt):
    """One (regime, method) row of the table and the results behind it."""
    from ..attribution.methods import attribute

    g = reg.gate
    row = dict(regime=reg.name, method=method, status="ok", reason="", n_trials=len(reg.y),
               model_accuracy=g["accuracy"], n_test=g["n"], chance=g["chance"],
               model_p=g["p_value"], above_chance=g["above_chance"], mask="",
               params=short_params(params), notes="")
    t1, c1 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DegenerateMethodWarning)
        try:
            ref = attribute(reg.model, reg.trials, reg.y, method=method,
                            batch_size=opt.batch_size, verbose=False, **params)
        except MethodUndefinedError as err:
            row.update(status="undefined", reason=_first_sentence(err), ok=np.nan,
                       verdict="undefined", wall_s=time.perf_counter() - t1,
                       cpu_s=time.process_time() - c1)
            logger.info(f"{reg.name} / {method}: undefined ({row['reason']})")
            return row, None
        check_row, checks = _randomization_checks(reg, method, params, ref.data, opt)
    notes = list(dict.fromkeys(_first_sentence(w.message) for w in caught
                               if issubclass(w.category, DegenerateMethodWarning)))
    row["notes"] = " ".join(notes)
    gt_row, gt, null = _ground_truth_scores(reg, ref, opt)
    row.update(gt_row)
    row.update(check_row)
    row["ok"], row["verdict"] = _verdict(row, g)
    row["wall_s"], row["cpu_s"] = time.perf_counter() - t1, time.process_time() - c1
    results = {**checks, "ground_truth": gt, "null": null}
    if opt.return_maps:
        results["maps"] = {"trained": ref.data, "label": checks["label"].maps["target"],
                           "cascade": checks["cascade"].maps["all layers"], "y": reg.y,
                           "random_target": checks["label"].info["random_target"]}
    logger.info(f"{reg.name} / {method}: AUC {row['roc_auc']:.2f} (p {row['roc_auc_p']:.3f}), "
                f"label r {row['label_r']:+.2f}, cascade r {row['cascade_r']:+.2f}: "
                f"{row['verdict']} ({row['wall_s']:.1f} s)")
    return row, results


def _assemble(rows, results, regs, specs, methods, mparams, opt, n_trials, t_run, c_run):
    import torch

    data = pd.DataFrame(rows).reindex(columns=_COLUMNS)
    for col in ("accurate", "ok"):
        data[col] = data[col].astype(object).where(data["status"] == "ok", np.nan)
    for col in ("label_verdict", "cascade_verdict", "mask", "verdict"):
        data[col] = data[col].fillna("")
    params = dict(
        methods=methods, regimes=list(specs), n_trials=n_trials, seed=opt.seed,
        batch_size=opt.batch_size, threshold=opt.threshold, alpha=opt.alpha,
        n_permutations=opt.n_permutations, n_bootstrap=opt.n_bootstrap,
        confidence_level=opt.confidence_level, norm_std=opt.norm_std, method_params=mparams,
        regime_specs=specs, regime_titles={r: REGIME_TITLES.get(r, "") for r in specs},
        dataset_params={r: g.dataset_params for r, g in regs.items()},
        model_source={r: g.source for r, g in regs.items()},
        gate={r: g.gate for r, g in regs.items()},
        bands={r: g.truth.bands() for r, g in regs.items()},
        trial_index={r: g.trial_index.tolist() for r, g in regs.items()},
        session="1test", target="true class", similarity="pearson",
    )
    timing = dict(wall_s=time.perf_counter() - t_run, cpu_s=time.process_time() - c_run,
                  n_threads=torch.get_num_threads(),
                  setup={r: g.setup for r, g in regs.items()})
    logger.info(f"xai benchmark: {timing['wall_s']:.0f} s wall, {timing['cpu_s']:.0f} s CPU")
    return BenchmarkTable(data=data, params=params, results=results, timing=timing)


# ---------------------------------------------------------------------------- the runner
@verbose
def run_xai_benchmark(methods=None, regimes=None, n_trials=48, method_params=None, seed=0,
                      *, checkpoints=None, cache_dir=None, batch_size=128, threshold=0.5,
                      alpha=0.05, n_permutations=1000, n_bootstrap=1000, confidence_level=0.95,
                      norm_std=0.5, auc_threshold=None, return_maps=False, progress=None,
                      verbose=None):
    """Benchmark attribution methods against ground truth and the randomisation checks.

    For each regime, the regime's ShallowFBCSPNet (shipped, or trained here with the shipped
    recipe) is loaded, its simulated data regenerated, its held-out accuracy tested against
    chance and ``n_trials`` held-out trials (session ``"1test"``) drawn, balanced over
    classes. Each method then makes three attribution passes over them, all for the
    trial's **true** class unless stated: the trained model (scored against the ground
    truth and the reference of both checks), the trained model for a random other class
    (:func:`neuroxai.sanity.label_randomization`) and the model with every parametrised
    layer randomised (:func:`neuroxai.sanity.full_randomization`, the last, input-most
    level of :func:`neuroxai.sanity.cascading_randomization` with the same ``seed`` and
    ``norm_std``).

    Parameters
    ----------
    methods : list of str | None
        Registered method names (:func:`neuroxai.attribution.methods.list_methods`);
        ``None``: all. Methods undefined for the model appear as ``"undefined"`` rows with
        the reason.
    regimes : list of str | dict of str -> dict | None
        Names of :data:`BENCHMARK_REGIMES` (``None``: all), or ``{name: arguments of
        simulate_bcic_iv_2a}`` for regimes of your own (a model is trained for each).
    n_trials : int
        Held-out trials per regime. The default 48 (12 per class) gives 95-percent CIs of
        a mean similarity +-0.01 to +-0.07 wide.
    method_params : dict of str -> dict | None
        Parameters per method, overriding :data:`BENCHMARK_METHOD_PARAMS`. Stochastic
        methods get ``seed``; ``band_ablation`` gets each regime's ground-truth bands
        (:meth:`neuroxai.data.GroundTruth.bands`) unless ``bands`` is given.
    seed : int
        Seed of the trial subset, the random classes, the model randomisation, the
        stochastic methods, the shuffles and the bootstrap.
    checkpoints : dict of str -> str | path-like | None
        Checkpoint per regime (anything :func:`neuroxai.models.load_pretrained` takes, with
        ``dataset_params`` in its metadata, whose data it is evaluated on); default the
        shipped checkpoint for ``"spectral"``, ``"temporal"`` and ``"spatial"`` and a model
        trained here for the others.
    cache_dir : path-like | None
        Where trained models are kept (``<cache_dir>/xai_benchmark``) and found again;
        ``None`` trains them at every call.
    batch_size : int
        ``batch_size`` of :func:`~neuroxai.attribution.methods.attribute`.
    threshold : float
        A randomisation check passes when the mean Pearson r is below this.
    alpha : float
        Level of the model gate and of the ground-truth permutation tests.
    n_permutations : int
        Shuffled maps per ground-truth test.
    n_bootstrap : int
        Bootstrap resamples of the checks' confidence intervals.
    confidence_level : float
        Level of those intervals.
    norm_std : float
        Spread of the random affine parameters of normalisation layers (see
        :func:`neuroxai.sanity.randomize_model`).
    auc_threshold : None
        Deprecated and ignored: accuracy is decided against shuffled maps.
    return_maps : bool
        Keep the maps of the three passes in ``table.results[(regime, method)]["maps"]``
        (``"trained"``, ``"label"``, ``"cascade"``), with ``"y"`` and ``"random_target"``.
    progress :
        Deprecated: the progress bar over (regime, method) follows ``verbose``, as in MNE.
    %(verbose)s

    Returns
    -------
    table : BenchmarkTable
        ``table.data`` (tidy, one row per regime and method), ``table.wide()``,
        ``table.to_markdown()``, ``table.save(path)``.

    Notes
    -----
    Cost, measured for ``benchmarks/results/xai_table.md`` (7 regimes, all 18 methods, 14
    of them defined on ShallowFBCSPNet, 48 trials, 1000 permutations per null): about 2
    minutes of one core per regime (occlusion 33 and band_ablation 16 percent of it; the
    permutation tests about 1 s per cell), plus about a minute of one core to train each
    of the 4 models that are not shipped: 1106 s of CPU time on one torch thread in all
    (29 minutes wall on a shared 2-core machine at a load of 5-7). ``n_trials`` scales the
    attribution time linearly. See ``table.timing`` and the ``wall_s``/``cpu_s`` columns.
    """
    from .._core.batching import progress as progress_bar
    from .._core.deprecation import deprecated_progress

    deprecated_progress(progress)
    t_run, c_run = time.perf_counter(), time.process_time()
    if auc_threshold is not None:
        warnings.warn("auc_threshold is deprecated and ignored: a method is accurate when its "
                      "scores beat the same maps shuffled across channels (alpha=).",
                      FutureWarning, stacklevel=3)
    specs = resolve_regimes(regimes)
    checkpoints = dict(checkpoints or {})
    _check_options(n_trials, threshold, alpha, confidence_level, n_permutations, checkpoints,
                   specs)
    methods = _resolve_methods(methods)
    mparams = _resolve_params(methods, method_params, seed)
    opt = _Options(batch_size=batch_size, threshold=threshold, alpha=alpha,
                   n_permutations=int(n_permutations), n_bootstrap=n_bootstrap,
                   confidence_level=confidence_level, norm_std=norm_std, seed=seed,
                   return_maps=return_maps)

    rows, results, regs = [], {}, {}
    cells = [(name, method) for name in specs for method in methods]
    for name, method in progress_bar(cells, "xai benchmark"):
        if name not in regs:  # each regime's model and trials, once, before its first cell
            regs[name] = load_regime(name, specs[name], checkpoints.get(name), int(n_trials),
                                     seed, alpha, batch_size, cache_dir)
        reg = regs[name]
        row, res = _evaluate_cell(reg, method, _cell_params(reg, method, mparams[method]), opt)
        rows.append(row)
        if res is not None:
            results[(name, method)] = res
    return _assemble(rows, results, regs, specs, methods, mparams, opt, int(n_trials), t_run,
                     c_run)
