"""Ground-truth benchmark of the attribution methods on the simulated BCI IV 2a regimes.

The analogue, for neuroxai's registered methods, of the evaluation of Sujatha Ravindran &
Contreras-Vidal (2023, Sci Rep 13:17709): every method x the three simulation regimes
(``"spatial"``, ``"spectral"``, ``"temporal"``) x three criteria,

1. **ground-truth accuracy** of the trained model's maps: relevance mass accuracy and ROC AUC
   of ``|map|`` against the channel x time mask of each trial's class (``band_ablation``:
   the channel x frequency mask reduced to its bands);
2. **label randomisation**: Pearson r, trial by trial, between the map of the true class and
   the map of a class drawn among the others (same trained model);
3. **cascading randomisation** at its last, input-most level, where every parametrised layer
   is random: Pearson r between the trained and the fully randomised model's maps.

A check passes when the mean r is below ``threshold`` (0.5, as in the paper and in
:mod:`neuroxai.sanity`). A method is *accurate* in a regime when the mean ROC AUC of its maps
reaches ``auc_threshold`` (0.6 by default; chance is 0.5; the threshold is this module's
choice, the paper ranks methods without one).

This module sits above :mod:`neuroxai.sanity` and :mod:`neuroxai.metrics`; only the
viz/report/cli stages may import it.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import bootstrap

from ._utils import (
    DataNotAvailableError,
    DegenerateMethodWarning,
    InvalidInputError,
    MethodUndefinedError,
    UnknownNameError,
    atomic_write,
    logger,
    unknown_name,
    verbose,
)

__all__ = [
    "BENCHMARK_BANDS",
    "BENCHMARK_METHOD_PARAMS",
    "BenchmarkTable",
    "band_masks_from_freq_mask",
    "run_xai_benchmark",
]

REGIMES = ("spatial", "spectral", "temporal")

#: Bands of ``band_ablation`` in the benchmark. They tile the simulated 4-38 Hz passband so
#: that every regime's ground-truth frequencies fill at least half of one band: mu and beta
#: (spectral ERD at 8-13 and 18-26 Hz), theta (the 6 Hz temporal transient), mu (the 11 Hz
#: spatial burst). The default bands of ``band_ablation`` put 8 of beta's 17 Hz inside the
#: spectral mask, below the half that makes a band count as ground truth.
BENCHMARK_BANDS = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "mu": (8.0, 13.0),
    "low_beta": (13.0, 18.0),
    "beta": (18.0, 26.0),
    "high_beta": (26.0, 38.0),
}

#: Lighter parameters of the expensive methods, so that the full table (3 regimes x every
#: method x 3 attribution passes over 48 trials) fits in about 15 minutes on two CPU cores.
#: Measured cost per trial and pass, relative to ``saliency`` (about 17 ms of one core for
#: 22 x 1125 samples and ShallowFBCSPNet): occlusion 40x (22 channels x 9 windows = 198
#: forwards), band_ablation 25x (22 channels x 6 bands), integrated_gradients and
#: deeplift_shap 7x, gradient_shap, smoothgrad and vargrad 4.5x; with the defaults
#: (50 steps, 16 baselines, 16 x 16 samples, 25 noise samples) these would be 3x more.
BENCHMARK_METHOD_PARAMS = {
    "integrated_gradients": {"n_steps": 16},
    "deeplift_shap": {"n_baselines": 8},
    "gradient_shap": {"n_baselines": 8, "n_samples": 8},
    "smoothgrad": {"nt_samples": 8},
    "vargrad": {"nt_samples": 8},
    "occlusion": {"window": 125},
    "band_ablation": {"bands": BENCHMARK_BANDS},
}

_CRITERIA_DOC = (
    "accurate: mean ROC AUC of |map| vs the class's ground-truth mask >= {auc:g} (chance 0.5); "
    "label / cascade: mean per-trial Pearson r between the trained model's maps for the true "
    "class and (label) a random other class, (cascade) the same class on the model with every "
    "parametrised layer randomised (the cascade's last, input-most level); PASS when r < "
    "{thr:g}. ok: accurate and both checks PASS."
)


# ------------------------------------------------------------------------------ the result
@dataclass(repr=False)
class BenchmarkTable:
    """Result of :func:`run_xai_benchmark`.

    Attributes
    ----------
    data : pandas.DataFrame
        Tidy table, one row per (regime, method). Columns: ``regime``, ``method``,
        ``status`` (``"ok"``, ``"undefined"``), ``reason`` (why undefined / why a score is
        n/a), ``n_trials``, ``model_accuracy`` (of the model on the evaluated trials),
        ``mask`` (``"chan x time"`` or ``"chan x band"``), ``mass_accuracy``,
        ``mass_accuracy_chance`` (the mask's share of the map: what a random map scores),
        ``rank_accuracy``, ``roc_auc``, ``roc_auc_ci_low``/``_high``, ``accurate``,
        ``label_r``, ``label_ci_low``/``_high``, ``label_verdict``, ``cascade_r``,
        ``cascade_ci_low``/``_high``, ``cascade_verdict``, ``ok`` (accurate and both checks
        pass), ``wall_s``, ``cpu_s`` (the three attribution passes and the scoring),
        ``params`` (the method's parameters) and ``notes`` (degenerate-method warnings).
    params : dict
        The run's configuration (thresholds, seed, method parameters, checkpoints, and
        ``trial_index``: per regime, the indices of the evaluated trials within session
        ``"1test"``).
    results : dict
        ``{(regime, method): {"label": RandomizationResult, "cascade": RandomizationResult,
        "ground_truth": DataFrame}}`` with the per-trial scores behind every cell (the
        ``"cascade"`` result has ``test="full"``: every layer random, which is the last level
        of :func:`neuroxai.sanity.cascading_randomization` with the same seed).
    timing : dict
        ``wall_s``/``cpu_s`` of the whole run and ``setup`` (per regime: loading the model,
        simulating the data, randomising the model).
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

        Criteria: ``mass_accuracy``, ``roc_auc``, ``label_r``, ``cascade_r`` (numbers) and
        ``ok`` (bool; NaN for undefined methods). ``("all", "ok")`` is True when the method
        is ok in every regime.
        """
        crit = ["mass_accuracy", "roc_auc", "label_r", "cascade_r", "ok"]
        wide = self.data.pivot(index="method", columns="regime", values=crit)
        wide = wide.swaplevel(0, 1, axis=1)
        cols = pd.MultiIndex.from_product([self.regimes, crit], names=["regime", "criterion"])
        wide = wide.reindex(index=self.methods, columns=cols)
        defined = self.data.assign(ok=self.data["ok"].astype(object)).groupby(
            "method", sort=False)["ok"].agg(lambda s: bool(s.all()) if s.notna().all() else np.nan)
        wide[("all", "ok")] = defined.reindex(self.methods)
        return wide

    def to_markdown(self, digits=2):
        """The wide table as Markdown, with the configuration and a legend.

        Each regime has the columns ``mass`` (relevance mass accuracy, its chance level in
        parentheses), ``AUC``, ``label r`` and ``cascade r`` (mean [95-percent CI] and verdict)
        and ``ok``.
        """
        f = f"{{:.{digits}f}}"
        header = ["method"]
        for regime in self.regimes:
            header += [f"{regime}: mass (chance)", f"{regime}: AUC", f"{regime}: label r",
                       f"{regime}: cascade r", f"{regime}: ok"]
        header.append("ok in all")
        rows = []
        wide_ok = self.wide()[("all", "ok")]
        by_key = {(r.regime, r.method): r for r in self.data.itertuples(index=False)}
        for method in self.methods:
            row = [f"`{method}`"]
            for regime in self.regimes:
                r = by_key.get((regime, method))
                if r is None:
                    row += [""] * 5
                elif r.status != "ok":
                    row += [r.status] + [""] * 4
                else:
                    mass = ("n/a" if not np.isfinite(r.mass_accuracy) else
                            f"{f.format(r.mass_accuracy)} ({f.format(r.mass_accuracy_chance)})")
                    auc = "n/a" if not np.isfinite(r.roc_auc) else f.format(r.roc_auc)
                    lab = (f"{r.label_r:+.{digits}f} [{r.label_ci_low:+.{digits}f}, "
                           f"{r.label_ci_high:+.{digits}f}] {r.label_verdict}")
                    cas = (f"{r.cascade_r:+.{digits}f} [{r.cascade_ci_low:+.{digits}f}, "
                           f"{r.cascade_ci_high:+.{digits}f}] {r.cascade_verdict}")
                    row += [mass, auc, lab, cas, "**yes**" if r.ok else "no"]
            ok_all = wide_ok.get(method)
            row.append("undefined" if ok_all is np.nan or pd.isna(ok_all)
                       else ("**yes**" if ok_all else "no"))
            rows.append(row)
        p = self.params
        lines = [
            f"# Attribution benchmark on simulated BCI IV 2a ({', '.join(self.regimes)})",
            "",
            f"{p.get('n_trials')} held-out trials (session 1test) per regime, balanced over "
            f"classes (seed {p.get('seed')}); maps attributed to the true class. "
            + _CRITERIA_DOC.format(auc=p.get("auc_threshold", 0.6),
                                   thr=p.get("threshold", 0.5)),
            "",
            _markdown_table(header, rows),
            "",
        ]
        undefined = self.data[self.data["status"] == "undefined"]
        if len(undefined):
            lines += ["Undefined methods:", ""]
            for method, grp in undefined.groupby("method", sort=False):
                lines.append(f"- `{method}` ({', '.join(grp['regime'])}): {grp['reason'].iloc[0]}")
            lines.append("")
        na = self.data[(self.data["status"] == "ok") & (self.data["reason"] != "")]
        if len(na):
            lines += ["Notes:", ""]
            for r in na.itertuples(index=False):
                lines.append(f"- `{r.method}` ({r.regime}): {r.reason}")
            lines.append("")
        mp = p.get("method_params", {})
        if mp:
            lines += ["Method parameters (lighter than the defaults where listed):", ""]
            for m in self.methods:
                if mp.get(m):
                    lines.append(f"- `{m}`: {_short_params(mp[m])}")
            lines.append("")
        t = self.timing
        if t:
            acc = ", ".join(f"{r} {a:.2f}" for r, a in p.get("model_accuracy", {}).items())
            lines.append(
                f"Model accuracy on these trials: {acc}. Run time: {t['wall_s']:.0f} s wall, "
                f"{t['cpu_s']:.0f} s CPU (process time, all threads) on {t.get('n_threads')} "
                f"torch thread(s); per-method times are in the CSV.")
        return "\n".join(lines) + "\n"

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


def _markdown_table(header, rows):
    # pandas' to_markdown needs `tabulate`, which is not a neuroxai dependency.
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return "\n".join([line(header), line(["---"] * len(header))] + [line(r) for r in rows])


def _short_params(params):
    out = []
    for k, v in params.items():
        if isinstance(v, dict):
            v = "{" + ", ".join(f"{n}: {tuple(e)}" for n, e in v.items()) + "}"
        out.append(f"{k}={v}")
    return ", ".join(out)


# ------------------------------------------------------------------------------- helpers
def band_masks_from_freq_mask(freq_mask, freqs, bands, min_fraction=0.5):
    """Reduce a channel x frequency mask to channel x band.

    A (class, channel, band) entry is ground truth when at least ``min_fraction`` of the
    band's frequency bins (``fmin <= f < fmax``, as ``band_ablation`` cuts them) are.

    Parameters
    ----------
    freq_mask : ndarray of bool, shape (..., n_freqs)
    freqs : ndarray, shape (n_freqs,)
    bands : dict of str -> (float, float)
    min_fraction : float

    Returns
    -------
    band_mask : ndarray of bool, shape (..., n_bands)
    """
    freq_mask = np.asarray(freq_mask, dtype=bool)
    freqs = np.asarray(freqs)
    if freq_mask.shape[-1] != len(freqs):
        raise InvalidInputError(
            f"freq_mask has {freq_mask.shape[-1]} frequencies, freqs {len(freqs)}.")
    out = []
    for name, (lo, hi) in bands.items():
        sel = (freqs >= lo) & (freqs < hi)
        if not sel.any():
            raise InvalidInputError(f"Band {name!r} ({lo}, {hi}) Hz holds no frequency of freqs.")
        out.append(freq_mask[..., sel].mean(axis=-1) >= min_fraction)
    return np.stack(out, axis=-1)


def _balanced_subset(y, n_trials, n_classes, seed):
    """Indices of ``n_trials`` trials, as equal per class as possible, seeded, sorted."""
    rng = np.random.default_rng(seed)
    per = np.full(n_classes, n_trials // n_classes)
    per[: n_trials % n_classes] += 1
    idx = []
    for k in range(n_classes):
        pool = np.flatnonzero(y == k)
        if len(pool) < per[k]:
            raise InvalidInputError(
                f"n_trials={n_trials} needs {per[k]} held-out trials of class {k}, only "
                f"{len(pool)} exist; lower n_trials.")
        idx.append(rng.choice(pool, per[k], replace=False))
    return np.sort(np.concatenate(idx))


def _mean_ci(scores, confidence_level, n_resamples, seed):
    """Mean and percentile-bootstrap CI of the mean (as :mod:`neuroxai.sanity` reports it)."""
    scores = np.asarray(scores, dtype=float)
    scores = scores[np.isfinite(scores)]
    if len(scores) == 0:
        return np.nan, np.nan, np.nan
    if len(scores) < 2 or np.ptp(scores) == 0:
        m = float(scores.mean())
        return m, m, m
    res = bootstrap((scores,), np.mean, n_resamples=n_resamples, method="percentile",
                    confidence_level=confidence_level, random_state=np.random.default_rng(seed))
    ci = res.confidence_interval
    return float(scores.mean()), float(ci.low), float(ci.high)


def _randomization_result(test, method, level, sims, *, threshold, confidence_level,
                          n_bootstrap, seed, params, info=None):
    from .sanity.randomization import RandomizationResult

    scores = {m: np.asarray(s, dtype=float)[None] for m, s in sims.items()}
    ci = {m: np.array([_mean_ci(s[0], confidence_level, n_bootstrap, seed)[1:]])
          for m, s in scores.items()}
    return RandomizationResult(
        test=test, method=method, levels=[level], scores=scores, ci=ci, metric="pearson",
        threshold=float(threshold), rule="last", confidence_level=confidence_level,
        params=params, info=info or {})


def _load_regime(regime, checkpoint, n_trials, seed):
    from .data.simulate import simulate_bcic_iv_2a
    from .models.pretrained import SHIPPED, load_pretrained, shipped_checkpoint_dir

    name = str(checkpoint)
    if name in SHIPPED and not (shipped_checkpoint_dir(name) / "params.safetensors").is_file():
        raise DataNotAvailableError(
            f"The shipped checkpoint {name!r} for the {regime!r} regime is not installed. Train "
            f"it with neuroxai.models.train_default_checkpoint(regime={regime!r}), or pass "
            "checkpoints={regime: <checkpoint directory>}.")
    model, _, meta = load_pretrained(name, verbose=False)
    dparams = dict((meta or {}).get("dataset_params") or {})
    if not dparams:
        raise InvalidInputError(
            f"Checkpoint {name!r} has no 'dataset_params' in its metadata.json; the benchmark "
            "regenerates the model's simulated data from them.")
    if dparams.get("regime", regime) != regime:
        raise InvalidInputError(
            f"Checkpoint {name!r} was trained on the {dparams['regime']!r} regime, not "
            f"{regime!r}.")
    dparams["regime"] = regime
    sim = simulate_bcic_iv_2a(**dparams, verbose=False)
    test = sim.trials.select("1test")
    idx = _balanced_subset(test.y, n_trials, len(test.class_names), seed)
    return model.eval(), test.select(idx=idx), sim.ground_truth, dparams, idx


def _resolve_methods(methods):
    from .attribution.methods import get_method, list_methods

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
    from .attribution.methods import get_method

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


def _first_sentence(text):
    text = " ".join(str(text).split())
    cut = text.find(". ")
    return text if cut < 0 else text[: cut + 1]


# ---------------------------------------------------------------------------- the runner
@verbose
def run_xai_benchmark(methods=None, regimes=REGIMES, n_trials=48, method_params=None, seed=0,
                      *, checkpoints=None, batch_size=128, threshold=0.5, auc_threshold=0.6,
                      n_bootstrap=1000, confidence_level=0.95, norm_std=0.5, return_maps=False,
                      progress=True, verbose=None):
    """Benchmark attribution methods against ground truth and the randomisation checks.

    For each regime, the shipped ShallowFBCSPNet trained on that regime is loaded, its
    simulated data regenerated from the checkpoint's ``dataset_params`` and ``n_trials``
    held-out trials (session ``"1test"``) drawn, balanced over classes. Each method then
    makes three attribution passes over them, all for the trial's **true** class unless
    stated: the trained model (scored against the ground truth), the trained model for a
    random other class (:func:`neuroxai.sanity.random_targets`, label randomisation) and the
    model with every parametrised layer randomised (:func:`neuroxai.sanity.randomize_model`;
    this is the last, input-most level of :func:`neuroxai.sanity.cascading_randomization`
    with the same ``seed`` and ``norm_std``). The trained model's maps are computed once and
    shared by the three criteria; the randomised model and the random classes are drawn once
    per regime and shared by all methods.

    Parameters
    ----------
    methods : list of str | None
        Registered method names (:func:`neuroxai.attribution.methods.list_methods`);
        ``None``: all. Methods undefined for the model appear as ``"undefined"`` rows with
        the reason.
    regimes : sequence of ``"spatial"`` | ``"spectral"`` | ``"temporal"``
        Simulation regimes (one model each).
    n_trials : int
        Held-out trials per regime. The default 48 (12 per class) keeps the full table
        within 15 minutes on two CPU cores; the 95-percent CI of a mean similarity is then
        +-0.01 to +-0.07 wide.
    method_params : dict of str -> dict | None
        Parameters per method, overriding :data:`BENCHMARK_METHOD_PARAMS` (which lightens
        the expensive methods: integrated gradients 16 steps, SHAP 8 baselines, gradient
        SHAP 8 samples, SmoothGrad/VarGrad 8 noise samples, occlusion window 125 samples,
        ``band_ablation`` on :data:`BENCHMARK_BANDS`). Stochastic methods get ``seed``.
    seed : int
        Seed of the trial subset, the random classes, the model randomisation, the
        stochastic methods and the bootstrap.
    checkpoints : dict of str -> str | path-like | None
        Checkpoint per regime (anything :func:`neuroxai.models.load_pretrained` takes, with
        ``dataset_params`` in its metadata); default the shipped
        :func:`neuroxai.models.checkpoint_name_for_regime`.
    batch_size : int
        ``batch_size`` of :func:`~neuroxai.attribution.methods.attribute` (bigger batches
        make the perturbation methods about 1.5x faster on CPU).
    threshold : float
        A randomisation check passes when the mean Pearson r is below this.
    auc_threshold : float
        A method is accurate when the mean ROC AUC of its maps reaches this.
    n_bootstrap : int
        Bootstrap resamples of the confidence intervals (percentile method).
    confidence_level : float
        Level of the confidence intervals.
    norm_std : float
        Spread of the random affine parameters of normalisation layers (see
        :func:`neuroxai.sanity.randomize_model`).
    return_maps : bool
        Keep the maps of the three passes in ``table.results[(regime, method)]["maps"]``
        (``"trained"``, ``"label"``, ``"cascade"``), with ``"y"`` and ``"random_target"``.
    progress : bool
        Show a progress bar over (regime, method).
    %(verbose)s

    Returns
    -------
    table : BenchmarkTable
        ``table.data`` (tidy, one row per regime and method), ``table.wide()``,
        ``table.to_markdown()``, ``table.save(path)``.

    Notes
    -----
    Ground truth: ``|map|`` is scored against ``ground_truth.chan_time[y]`` by
    :func:`neuroxai.metrics.compute_ground_truth_metrics`; for ``band_ablation`` against
    ``chan_freq[y]`` reduced to the bands (:func:`band_masks_from_freq_mask`: a band counts
    when at least half of its bins are in the mask). A score that is undefined for a class
    mask (empty after the reduction) is reported as n/a with the reason.

    Cost: the default table (3 regimes x 18 methods, 14 of them defined on ShallowFBCSPNet,
    48 trials, three passes each) took 851 s of CPU time on one torch thread (1126 s wall on
    a shared, loaded 2-core machine), i.e. about 6 s of one core per trial and regime;
    occlusion (37 percent) and band_ablation (26 percent) dominate. ``n_trials`` scales it
    linearly.
    See ``table.timing`` and the ``wall_s``/``cpu_s`` columns of each run.
    """
    import torch
    from tqdm.auto import tqdm

    from .attribution.methods import attribute
    from .metrics.ground_truth import compute_ground_truth_metrics
    from .models.pretrained import checkpoint_name_for_regime
    from .sanity.randomization import per_trial_similarity, randomize_model, random_targets

    t_run, c_run = time.perf_counter(), time.process_time()
    if isinstance(regimes, str):
        regimes = [regimes]
    regimes = list(dict.fromkeys(regimes))
    for r in regimes:
        if r not in REGIMES:
            raise unknown_name("regime", r, REGIMES)
    if not regimes:
        raise InvalidInputError("regimes must name at least one simulation regime.")
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 2:
        raise InvalidInputError(f"n_trials must be an integer >= 2, got {n_trials!r}.")
    n_trials = int(n_trials)
    for name, value, lo, hi in (("threshold", threshold, -1, 1), ("auc_threshold", auc_threshold,
                                                                   0, 1),
                                ("confidence_level", confidence_level, 0, 1)):
        if not (np.isfinite(value) and lo <= value <= hi):
            raise InvalidInputError(f"{name} must lie in [{lo}, {hi}], got {value!r}.")
    methods = _resolve_methods(methods)
    mparams = _resolve_params(methods, method_params, seed)
    checkpoints = dict(checkpoints or {})
    for r in checkpoints:
        if r not in regimes:
            raise UnknownNameError(
                f"checkpoints names the regime {r!r}, which is not benchmarked. Benchmarked "
                f"regimes: {', '.join(map(repr, regimes))}.")

    rows, results, setup, accs, dparams_all, ckpt_names, trial_index = [], {}, {}, {}, {}, {}, {}
    bar = tqdm(total=len(regimes) * len(methods), desc="xai benchmark", disable=not progress,
               unit="cell")
    for regime in regimes:
        t0, c0 = time.perf_counter(), time.process_time()
        ckpt = checkpoints.get(regime, checkpoint_name_for_regime(regime))
        ckpt_names[regime] = str(ckpt)
        model, trials, truth, dparams, idx = _load_regime(regime, ckpt, n_trials, seed)
        dparams_all[regime], trial_index[regime] = dparams, idx
        X, y, info = trials.X, trials.y, trials.info
        device = next(iter(model.parameters())).device
        with torch.no_grad():
            pred = torch.cat([model(torch.as_tensor(X[i:i + batch_size], device=device))
                              for i in range(0, len(X), batch_size)]).argmax(1).cpu().numpy()
        accs[regime] = float(np.mean(pred == y))
        n_classes = len(trials.class_names)
        other = random_targets(y, n_classes, seed=seed)
        random_model = randomize_model(model, None, seed=seed, norm_std=norm_std, X=X[:1])
        setup[regime] = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
        logger.info(f"{regime}: {len(X)} trials, model accuracy {accs[regime]:.2f}, "
                    f"setup {setup[regime]['wall_s']:.1f} s")

        for method in methods:
            bar.set_postfix_str(f"{regime} / {method}")
            p = mparams[method]
            kw = dict(method=method, batch_size=batch_size, info=info, **p)
            row = dict(regime=regime, method=method, status="ok", reason="", n_trials=len(X),
                       model_accuracy=accs[regime], mask="", params=_short_params(p), notes="")
            t1, c1 = time.perf_counter(), time.process_time()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DegenerateMethodWarning)
                try:
                    ref = attribute(model, X, y, y=y, **kw)
                except MethodUndefinedError as err:
                    row.update(status="undefined", reason=_first_sentence(err), ok=np.nan,
                               wall_s=time.perf_counter() - t1, cpu_s=time.process_time() - c1)
                    rows.append(row)
                    bar.update()
                    logger.info(f"{regime} / {method}: undefined ({row['reason']})")
                    continue
                lab = attribute(model, X, other, **kw).data
                cas = attribute(random_model, X, y, **kw).data
            notes = list(dict.fromkeys(_first_sentence(w.message) for w in caught
                                       if issubclass(w.category, DegenerateMethodWarning)))
            row["notes"] = " ".join(notes)
            for note in notes:
                logger.info(f"{regime} / {method}: {note}")

            # ground truth
            if ref.dims[-1] == "time":
                masks, row["mask"] = truth.chan_time, "chan x time"
            else:
                bands = ref.params.get("bands") or {}
                masks = band_masks_from_freq_mask(truth.chan_freq, truth.freqs, bands)
                row["mask"] = "chan x band"
                empty = [trials.class_names[k] for k in range(n_classes) if not masks[k].any()]
                if empty:
                    row["reason"] = (
                        f"no band holds half of the ground-truth frequencies of class(es) "
                        f"{', '.join(empty)}; those trials score n/a. Bands: "
                        f"{_short_params({'bands': bands})}.")
            gt = compute_ground_truth_metrics(
                ref.data, masks, y=y, metrics=["RelevanceMassAccuracy", "RelevanceRankAccuracy",
                                               "ROC_AUC"], verbose=False)
            chance = masks[y].reshape(len(y), -1).mean(axis=1)
            auc, auc_lo, auc_hi = _mean_ci(gt["ROC_AUC"], confidence_level, n_bootstrap, seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column -> NaN
                row.update(
                    mass_accuracy=float(np.nanmean(gt["RelevanceMassAccuracy"])),
                    mass_accuracy_chance=float(np.nanmean(np.where(
                        gt["RelevanceMassAccuracy"].notna(), chance, np.nan))),
                    rank_accuracy=float(np.nanmean(gt["RelevanceRankAccuracy"])),
                )
            row.update(roc_auc=auc, roc_auc_ci_low=auc_lo, roc_auc_ci_high=auc_hi,
                       accurate=bool(np.isfinite(auc) and auc >= auc_threshold))

            # randomisation checks
            check = {}
            for test, maps, level, info_ in (
                    ("label", lab, "target", {"target": y, "random_target": other}),
                    ("cascade", cas, "all layers", {})):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DegenerateMethodWarning)  # constant maps
                    sims = per_trial_similarity(ref.data, maps)
                res = _randomization_result(
                    "label" if test == "label" else "full", method, level, sims,
                    threshold=threshold, confidence_level=confidence_level,
                    n_bootstrap=n_bootstrap, seed=seed, info=info_,
                    params=dict(seed=seed, norm_std=norm_std, method_params=p))
                check[test] = res
                r_mean = float(res.mean["pearson"][0])
                row.update({f"{test}_r": r_mean, f"{test}_ci_low": float(res.ci["pearson"][0, 0]),
                            f"{test}_ci_high": float(res.ci["pearson"][0, 1]),
                            f"{test}_verdict": res.verdict})
            row["ok"] = bool(row["accurate"] and check["label"].passed
                             and check["cascade"].passed)
            row["wall_s"] = time.perf_counter() - t1
            row["cpu_s"] = time.process_time() - c1
            rows.append(row)
            results[(regime, method)] = {**check, "ground_truth": gt}
            if return_maps:
                results[(regime, method)]["maps"] = {
                    "trained": ref.data, "label": lab, "cascade": cas, "y": y,
                    "random_target": other}
            logger.info(
                f"{regime} / {method}: AUC {auc:.2f}, label r {row['label_r']:+.2f} "
                f"({row['label_verdict']}), cascade r {row['cascade_r']:+.2f} "
                f"({row['cascade_verdict']}), {row['wall_s']:.1f} s")
            bar.update()
    bar.close()

    columns = ["regime", "method", "status", "reason", "n_trials", "model_accuracy", "mask",
               "mass_accuracy", "mass_accuracy_chance", "rank_accuracy", "roc_auc",
               "roc_auc_ci_low", "roc_auc_ci_high", "accurate", "label_r", "label_ci_low",
               "label_ci_high", "label_verdict", "cascade_r", "cascade_ci_low",
               "cascade_ci_high", "cascade_verdict", "ok", "wall_s", "cpu_s", "params", "notes"]
    data = pd.DataFrame(rows).reindex(columns=columns)
    for col in ("accurate", "ok"):
        data[col] = data[col].astype(object).where(data["status"] == "ok", np.nan)
    for col in ("label_verdict", "cascade_verdict", "mask"):
        data[col] = data[col].fillna("")
    params = dict(
        methods=methods, regimes=regimes, n_trials=n_trials, seed=seed, batch_size=batch_size,
        threshold=threshold, auc_threshold=auc_threshold, n_bootstrap=n_bootstrap,
        confidence_level=confidence_level, norm_std=norm_std, method_params=mparams,
        checkpoints=ckpt_names, dataset_params=dparams_all, model_accuracy=accs,
        trial_index={r: i.tolist() for r, i in trial_index.items()},
        session="1test", target="true class", similarity="pearson",
    )
    timing = dict(wall_s=time.perf_counter() - t_run, cpu_s=time.process_time() - c_run,
                  n_threads=torch.get_num_threads(), setup=setup)
    logger.info(f"xai benchmark: {timing['wall_s']:.0f} s wall, {timing['cpu_s']:.0f} s CPU")
    return BenchmarkTable(data=data, params=params, results=results, timing=timing)
