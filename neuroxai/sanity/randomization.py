"""Randomisation sanity checks for attribution maps (Adebayo et al., 2018).

An attribution method explains a *trained* model only if its maps depend on what the model
learned. Each check here replaces part of what was learned by randomness and measures, trial
by trial, how similar the new maps are to the trained model's maps:

- :func:`cascading_randomization`: re-initialise the parametrised layers one level at a
  time from the output to the input, keeping the earlier randomisations;
- :func:`independent_randomization`: re-initialise one layer at a time, all others trained;
- :func:`full_randomization`: re-initialise every layer at once;
- :func:`label_randomization`: ask the trained model about a different class;
- :func:`data_randomization`: retrain the architecture from scratch on permuted labels.

A method *passes* a check when the maps change, i.e. when the mean per-trial similarity is
below ``threshold`` (default 0.5, as in the EEG-XAI benchmark of Sujatha Ravindran &
Contreras-Vidal, 2023). Similarities are Pearson's r of the signed maps (the default
verdict metric, as braindecode's sanity-check tutorial), Spearman's rho of the signed maps
and Spearman's rho of the absolute maps (Adebayo et al.).

Differences from :func:`braindecode.visualization.cascading_layer_reset` (1.8.1), by design:

- every level is an independent deep copy (braindecode yields one object mutated in place,
  so collecting the levels gives N copies of the fully random model); the caller's model is
  never modified;
- parametrised tensors (e.g. braindecode's max-norm constrained convolutions) are randomised
  at their source ``module.parametrizations.<name>.original``; ``reset_parameters`` writes
  the computed tensor, which the next forward pass recomputes from the untouched source;
- normalisation layers get random affine parameters, ``weight ~ N(1, norm_std)`` and
  ``bias ~ N(0, norm_std)`` (their own reset makes them an identity, which randomises
  nothing); their running statistics are kept, so each level changes the learned affine
  map only and does not rescale the activations of the layers below;
- other layers are re-initialised by their own ``reset_parameters`` (PyTorch's default
  initialisation, not braindecode's model-specific one), seeded per layer name: a layer gets
  the same random weights at every cascade level, in the independent test and in the full
  reset, whatever the global RNG state.
"""
from __future__ import annotations

import contextlib
import copy
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.stats import bootstrap
from tqdm.auto import tqdm

from .._utils import (
    InvalidInputError,
    ModelMismatchError,
    NonFiniteError,
    ShapeError,
    TargetError,
    check_trials_array,
    logger,
    unknown_name,
    verbose,
)
from ._layers import layers_in_forward_order, randomize_in_place, resolve_levels
from ._similarity import SIMILARITIES, per_trial_similarity
from ._training import fit_classifier, predict_classes

__all__ = [
    "RandomizationResult",
    "cascading_randomization",
    "independent_randomization",
    "full_randomization",
    "label_randomization",
    "data_randomization",
    "list_randomizable_layers",
    "randomize_model",
    "iter_cascading_models",
    "iter_independent_models",
    "random_targets",
    "fit_classifier",
    "per_trial_similarity",
]

_TEST_TITLES = {
    "cascading": "cascading randomisation",
    "independent": "independent randomisation",
    "full": "full randomisation",
    "label": "label randomisation",
    "data": "data randomisation",
}
_RULES = {
    "last": "at the last level",
    "all": "at every level",
    "majority": "at more than half of the levels",
    "any": "at one level at least",
}


# ----------------------------------------------------------------------------------- result
@dataclass(repr=False)
class RandomizationResult:
    """Outcome of one randomisation sanity check.

    Attributes
    ----------
    test : str
        ``"cascading"``, ``"independent"``, ``"full"``, ``"label"`` or ``"data"``.
    method : str
        Name of the attribution method.
    levels : list of str
        What was randomised at each level (layer names, ``"all layers"``, ``"labels"`` ...).
    scores : dict of str -> ndarray, shape (n_levels, n_trials)
        Per-trial similarity to the trained model's maps, for ``"pearson"``, ``"spearman"``
        and ``"spearman_abs"``.
    ci : dict of str -> ndarray, shape (n_levels, 2)
        Bootstrap confidence interval of the mean over trials (percentile method).
    metric : str
        The similarity the verdict uses.
    threshold : float
        A level passes when its mean ``metric`` is below this value.
    rule : str
        How level verdicts make the overall one: ``"last"`` (the last level decides),
        ``"all"``, ``"majority"`` (more than half of the levels pass) or ``"any"``.
    confidence_level : float
        Level of the intervals in ``ci``.
    params : dict
        Parameters of the check (seed, layers, ...).
    info : dict
        Extra outputs: the random targets of the label test, the training history of the
        data test, ...
    maps : dict of str -> ndarray | None
        Attribution maps per level (``return_maps=True`` only).
    reference : ndarray | None
        The trained model's maps (``return_maps=True`` only).
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

    @property
    def n_trials(self):
        return self.scores[self.metric].shape[1]

    @property
    def mean(self):
        """Mean similarity over trials, per metric, shape (n_levels,)."""
        return {m: s.mean(axis=1) for m, s in self.scores.items()}

    @property
    def level_passed(self):
        """Whether each level's mean ``metric`` is below ``threshold``."""
        return self.mean[self.metric] < self.threshold

    @property
    def passed(self):
        """Overall verdict as a bool (see ``rule``)."""
        lp = self.level_passed
        if self.rule == "last":
            return bool(lp[-1])
        if self.rule == "all":
            return bool(np.all(lp))
        if self.rule == "any":
            return bool(np.any(lp))
        return bool(lp.sum() * 2 > len(lp))

    @property
    def verdict(self):
        return "PASS" if self.passed else "FAIL"

    def summary(self):
        """One row per level: mean and confidence interval of each similarity, and verdict."""
        import pandas as pd

        rows = []
        for i, level in enumerate(self.levels):
            row = {"level": i + 1, "randomized": level}
            for m in self.scores:
                row[f"{m}_mean"] = float(self.scores[m][i].mean())
                row[f"{m}_ci_low"], row[f"{m}_ci_high"] = map(float, self.ci[m][i])
            row["passed"] = bool(self.level_passed[i])
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dataframe(self):
        """Long table: one row per level and trial, one column per similarity."""
        import pandas as pd

        n_levels, n_trials = self.scores[self.metric].shape
        df = {
            "test": self.test,
            "method": self.method,
            "level": np.repeat(np.arange(1, n_levels + 1), n_trials),
            "randomized": np.repeat(np.asarray(self.levels, dtype=object), n_trials),
            "trial": np.tile(np.arange(n_trials), n_levels),
        }
        for m, s in self.scores.items():
            df[m] = s.ravel()
        return pd.DataFrame(df)

    def __repr__(self):
        pct = int(round(self.confidence_level * 100))
        lines = [
            f"<RandomizationResult | {_TEST_TITLES.get(self.test, self.test)} of {self.method!r}, "
            f"{self.n_trials} trials: {self.verdict}>",
            f"  verdict: mean {self.metric} < {self.threshold:g} {_RULES[self.rule]}",
            f"  similarity to the trained model's maps, mean [{pct}% CI] over trials:",
        ]
        width = max(len("randomized"), *(len(str(lv)) for lv in self.levels))
        header = f"  {'#':>3}  {'randomized':<{width}}" + "".join(f"  {m:>22}" for m in self.scores)
        lines.append(header + "  verdict")
        for i, level in enumerate(self.levels):
            cells = "".join(
                f"  {self.scores[m][i].mean():>+6.3f} "
                f"[{self.ci[m][i, 0]:+.2f}, {self.ci[m][i, 1]:+.2f}]"
                for m in self.scores
            )
            lines.append(
                f"  {i + 1:>3}  {str(level):<{width}}{cells}  "
                f"{'pass' if self.level_passed[i] else 'FAIL'}"
            )
        if self.test == "data" and not self.info.get("fitted", True):
            lines.append(
                f"  warning: the permuted-label model reached only "
                f"{self.info['train_accuracy']:.2f} training accuracy (target "
                f"{self.params.get('target_accuracy')})."
            )
        return "\n".join(lines)

    __str__ = __repr__


# ------------------------------------------------------------------------- input handling
@contextlib.contextmanager
def _eval_mode(model):
    """Put ``model`` in eval mode and restore every submodule's flag afterwards."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


def _model_device(model):
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def _check_inputs(model, X, target):
    """Validate ``X`` and ``target``; return them with the number of model outputs."""
    if not isinstance(model, torch.nn.Module):
        raise InvalidInputError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    X = check_trials_array(X)
    if len(X) == 0:
        raise ShapeError("X has no trials.")
    with torch.no_grad(), _eval_mode(model):
        try:
            out = model(torch.as_tensor(X[:1], device=_model_device(model)))
        except Exception as err:
            raise ModelMismatchError(
                f"The model cannot process trials of shape {X.shape[1:]} ({type(err).__name__}: "
                f"{err}). Check n_chans/n_times of the model against X."
            ) from err
    if not torch.is_tensor(out) or out.ndim != 2:
        raise ModelMismatchError(
            "The model must map (batch, n_chans, n_times) to (batch, n_outputs); got output "
            f"{getattr(out, 'shape', type(out).__name__)}."
        )
    n_outputs = int(out.shape[1])
    if target is None:
        target = predict_classes(model, X)
    else:
        target = np.asarray(target.detach().cpu() if torch.is_tensor(target) else target)
        if target.ndim == 0:
            target = np.full(len(X), int(target))
        if target.shape != (len(X),) or not np.issubdtype(target.dtype, np.integer):
            raise TargetError(
                f"target must be an int or integer array of shape ({len(X)},), got "
                f"{target.dtype} array of shape {target.shape}."
            )
        if target.min() < 0 or target.max() >= n_outputs:
            raise TargetError(
                f"target values must lie in [0, {n_outputs - 1}] (the model has {n_outputs} "
                f"outputs); got range [{target.min()}, {target.max()}]."
            )
    return X, target.astype(np.int64), n_outputs


def _check_options(metric, threshold, confidence_level):
    if metric not in SIMILARITIES:
        raise unknown_name("similarity metric", metric, SIMILARITIES)
    if not np.isfinite(threshold):
        raise InvalidInputError(f"threshold must be a finite number, got {threshold}.")
    if not 0 < confidence_level < 1:
        raise InvalidInputError(f"confidence_level must lie in (0, 1), got {confidence_level}.")


def _method_name(method):
    if isinstance(method, str):
        return method
    return getattr(method, "__name__", type(method).__name__)


def _make_attributor(method, method_params, batch_size):
    """Return ``compute(model, X, target) -> ndarray`` for a registered name or a callable."""
    method_params = dict(method_params or {})
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}.")
    if isinstance(method, str):
        # Imported here: the registry belongs to another stage and may be absent when only
        # callables are used.
        from ..attribution.methods import attribute, get_method

        get_method(method)  # unknown name: fail now, listing the valid ones

        def compute(model, X, target):
            res = attribute(model, X, target, method=method, batch_size=batch_size, **method_params)
            return [np.asarray(getattr(res, "data", res))]

        return compute
    if not callable(method):
        raise InvalidInputError(
            f"method must be a registered method name or a callable fn(model, X, target), got "
            f"{type(method).__name__}."
        )

    def compute(model, X, target):
        # A callable gets the trials in chunks so that peak memory is bounded by batch_size.
        out = []
        for start in range(0, len(X), batch_size):
            res = method(model, X[start:start + batch_size], target[start:start + batch_size],
                         **method_params)
            res = getattr(res, "data", res)
            out.append(np.asarray(res.detach().cpu() if torch.is_tensor(res) else res))
        return out

    return compute


def _attribute(compute, model, X, target, what, ref_shape=None):
    """Attribution maps of ``model``, validated (shapes, finiteness)."""
    with _eval_mode(model):
        chunks = compute(model, X, target)
    sizes = [len(c) if np.ndim(c) else 0 for c in chunks]
    tails = {tuple(np.shape(c)[1:]) for c in chunks}
    if sum(sizes) != len(X) or len(tails) != 1 or any(np.ndim(c) < 2 for c in chunks):
        raise ShapeError(
            f"The attribution method returned batches of shapes {[np.shape(c) for c in chunks]} "
            f"for {len(X)} trials ({what}); it must return one map per trial, all of the same "
            "shape (n_trials, ...)."
        )
    maps = np.concatenate(chunks, axis=0) if len(chunks) > 1 else np.asarray(chunks[0])
    if ref_shape is not None and maps.shape != ref_shape:
        raise ShapeError(
            f"Attribution maps of the {what} have shape {maps.shape}, those of the trained "
            f"model {ref_shape}; the method must return maps of one shape for one input."
        )
    if not np.all(np.isfinite(maps)):
        n_bad = int(maps.size - np.count_nonzero(np.isfinite(maps)))
        raise NonFiniteError(
            f"The attribution maps of the {what} contain {n_bad} NaN/Inf value(s); the "
            "similarity would be undefined. Check the method on this model (e.g. a log of "
            "zero, an exploding gradient) or use a different method."
        )
    return maps


def _check_reference(reference, X):
    ref = getattr(reference, "data", reference)
    ref = np.asarray(ref.detach().cpu() if torch.is_tensor(ref) else ref)
    if ref.ndim < 2 or len(ref) != len(X):
        raise ShapeError(
            f"reference holds maps of shape {ref.shape}; it must hold the trained model's maps "
            f"of the {len(X)} trials of X, shape ({len(X)}, ...), computed with the same method "
            "and parameters."
        )
    if not np.all(np.isfinite(ref)):
        raise NonFiniteError("reference contains NaN/Inf values; recompute it (reference=None).")
    return ref


def _bootstrap_ci(scores, confidence_level, n_resamples, seed):
    """Percentile bootstrap CI of the mean over trials for every row of ``scores``.

    Percentile rather than BCa: BCa is undefined (NaN) when every trial has the same score,
    which is exactly what a method that ignores the model produces (r = 1 everywhere).
    """
    if scores.shape[1] < 2:
        logger.warning("One trial only: the confidence interval collapses to the score.")
        return np.stack([scores[:, 0], scores[:, 0]], axis=1)
    res = bootstrap((scores,), np.mean, axis=-1, vectorized=True, n_resamples=n_resamples,
                    confidence_level=confidence_level, method="percentile",
                    random_state=np.random.default_rng(seed))
    return np.stack([res.confidence_interval.low, res.confidence_interval.high], axis=1)


def _evaluate(test, method, compute, model, X, target, variants, *, metric, threshold, rule,
              n_bootstrap, confidence_level, seed, return_maps, progress, params, info=None,
              n_levels=None, reference=None):
    """Compare the trained model's maps with those of each ``(level, model, target)``."""
    if reference is None:
        reference = _attribute(compute, model, X, target, "trained model")
    else:
        reference = _check_reference(reference, X)
    rank_cache = {}
    levels, rows, maps = [], {m: [] for m in SIMILARITIES}, {}
    bar = tqdm(variants, total=n_levels, desc=_TEST_TITLES[test], disable=not progress, leave=False)
    for level, variant, variant_target in bar:
        level_maps = _attribute(compute, variant, X, variant_target,
                                f"{_TEST_TITLES[test]} level {level!r}", ref_shape=reference.shape)
        sims = per_trial_similarity(reference, level_maps, cache=rank_cache)
        for m in SIMILARITIES:
            rows[m].append(sims[m])
        levels.append(level)
        if return_maps:
            maps[level] = level_maps
        logger.debug(f"{test} level {level!r}: mean {metric} {sims[metric].mean():+.3f}")
    scores = {m: np.vstack(r) for m, r in rows.items()}
    ci = {m: _bootstrap_ci(s, confidence_level, n_bootstrap, seed) for m, s in scores.items()}
    result = RandomizationResult(
        test=test, method=_method_name(method), levels=levels, scores=scores, ci=ci,
        metric=metric, threshold=float(threshold), rule=rule, confidence_level=confidence_level,
        params=params, info=info or {}, maps=maps if return_maps else None,
        reference=reference if return_maps else None,
    )
    logger.info(f"{_TEST_TITLES[test]} of {result.method!r}: {result.verdict}")
    return result


# ------------------------------------------------------------------------ model variants
def list_randomizable_layers(model, X=None):
    """Names of the model's parametrised layers, in forward order (input to output).

    A layer is a module that owns parameters itself or owns parametrised tensors
    (:mod:`torch.nn.utils.parametrize`). The order is read from the autograd graph of one
    forward pass on ``X[:1]`` (or on zeros when the model has ``n_chans``/``n_times``
    attributes, as braindecode models do); without either it is the registration order.

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    X : array, shape (n_trials, n_chans, n_times) | None
        Example trials (only the first is used).

    Returns
    -------
    names : list of str
    """
    return [name for name, _ in layers_in_forward_order(model, X)]


def randomize_model(model, layers=None, *, seed=0, norm_std=0.5, X=None):
    """Return a copy of ``model`` with the given layers re-initialised.

    Parameters
    ----------
    model : torch.nn.Module
        Trained model; not modified.
    layers : str | list of str | None
        Layer names, or names of modules containing layers (see
        :func:`list_randomizable_layers`). ``None`` randomises every layer.
    seed : int
        Base seed; each layer's random weights depend on ``seed`` and its name only.
    norm_std : float
        Spread of the random affine parameters of normalisation layers.
    X : array | None
        Example trials, used to validate layer names and order levels.

    Returns
    -------
    randomized : torch.nn.Module
        An independent copy in eval mode.
    """
    levels = resolve_levels(model, layers, X)
    names = [n for _, members in levels for n in members]
    out = copy.deepcopy(model)
    randomize_in_place(out, names, seed, norm="perturb", norm_std=norm_std)
    return out.eval()


def iter_cascading_models(model, layers=None, *, seed=0, norm_std=0.5, X=None):
    """Yield ``(level, model_copy)`` with layers randomised cumulatively, output to input.

    Every yielded model is an independent deep copy in eval mode: keeping (or modifying) one
    does not affect the others nor the caller's ``model``. Level ``k`` has the layers of
    levels ``1..k`` randomised, with the same random weights for a layer at every level.

    Parameters
    ----------
    model : torch.nn.Module
        Trained model; not modified.
    layers : list of (str | list of str) | None
        Levels in cascade order. ``None``: one level per parametrised layer, from the output
        to the input (the reverse of :func:`list_randomizable_layers`).
    seed, norm_std, X
        See :func:`randomize_model`.
    """
    return _iter_cascade(model, resolve_levels(model, layers, X), seed, norm_std)


def _iter_cascade(model, levels, seed, norm_std):
    work = copy.deepcopy(model)  # private working copy: callers may modify what we yield
    for level, members in levels:
        randomize_in_place(work, members, seed, norm="perturb", norm_std=norm_std)
        yield level, copy.deepcopy(work).eval()


def iter_independent_models(model, layers=None, *, seed=0, norm_std=0.5, X=None):
    """Yield ``(level, model_copy)`` with one level randomised at a time, all others trained.

    Parameters are those of :func:`iter_cascading_models`.
    """
    return _iter_independent(model, resolve_levels(model, layers, X), seed, norm_std)


def _iter_independent(model, levels, seed, norm_std):
    for level, members in levels:
        out = copy.deepcopy(model)
        randomize_in_place(out, members, seed, norm="perturb", norm_std=norm_std)
        yield level, out.eval()


def random_targets(target, n_classes, seed=0):
    """Draw, for every trial, a class uniformly among the classes other than ``target``.

    Parameters
    ----------
    target : array of int, shape (n_trials,)
        The classes to avoid.
    n_classes : int
        Number of classes (at least 2).
    seed : int | numpy.random.Generator
        Randomness.

    Returns
    -------
    other : ndarray of int, shape (n_trials,)
        ``other[i] != target[i]`` for every ``i``.
    """
    if n_classes < 2:
        raise TargetError(
            f"Label randomisation needs at least 2 classes, the model has {n_classes}."
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    target = np.asarray(target)
    # A draw from the n_classes - 1 other classes: skip over the true class.
    draw = rng.integers(0, n_classes - 1, size=target.shape)
    return np.where(draw >= target, draw + 1, draw).astype(np.int64)


# -------------------------------------------------------------------------------- checks
_COMMON_DOC = """
    method : str | callable
        A method name registered in :func:`neuroxai.attribution.methods.attribute`, or a
        callable ``fn(model, X, target, **method_params)`` returning an array (or tensor, or
        :class:`~neuroxai.attribution._base.Attribution`) of shape ``(n_trials, ...)``;
        a callable is called on chunks of ``batch_size`` trials.
    method_params : dict | None
        Extra keyword arguments of the method.
    batch_size : int
        Trials per attribution batch.
    metric : "pearson" | "spearman" | "spearman_abs"
        Per-trial similarity used for the verdict (all three are always computed).
    threshold : float
        A level passes when the mean similarity over trials is below this value.
    seed : int
        Seed of the randomisation and of the bootstrap.
    n_bootstrap : int
        Bootstrap resamples for the confidence interval of the mean.
    confidence_level : float
        Level of the confidence interval.
    return_maps : bool
        Keep the maps of the trained model and of every level in the result.
    reference : array | Attribution | None
        The trained model's maps of ``X`` for ``target`` with this method and
        ``method_params``, when already computed (e.g. by
        :func:`~neuroxai.attribution.attribute`): they are not computed again. ``None``
        computes them.
    progress : bool
        Show a progress bar over levels."""


def _doc(func):
    func.__doc__ = func.__doc__.replace("    %(common)s", _COMMON_DOC.strip("\n"))
    return func


@verbose
@_doc
def cascading_randomization(model, X, target=None, method="saliency", *, layers=None,
                            method_params=None, batch_size=32, metric="pearson", threshold=0.5,
                            seed=0, norm_std=0.5, n_bootstrap=2000, confidence_level=0.95,
                            return_maps=False, reference=None, progress=True, verbose=None):
    """Cascading model-parameter randomisation test (Adebayo et al., 2018).

    The parametrised layers are re-initialised from the output to the input, one level at a
    time and cumulatively; at each level the maps are recomputed and compared, trial by
    trial, with the trained model's maps. The verdict is taken at the last level, where
    every listed layer is random: a method passes when its maps there are no longer similar
    to the trained model's. The per-level rows show how fast they degrade.

    Parameters
    ----------
    model : torch.nn.Module
        Trained model; not modified.
    X : array, shape (n_trials, n_chans, n_times)
        Trials to explain.
    target : int | array of int, shape (n_trials,) | None
        Class to explain per trial. ``None``: the trained model's predicted class.
    %(common)s
    layers : list of (str | list of str) | None
        Levels in cascade order; ``None`` means every parametrised layer, output to input.
    norm_std : float
        Spread of the random affine parameters of normalisation layers.
    %(verbose)s

    Returns
    -------
    result : RandomizationResult
        ``levels`` are the layer names in the order they were randomised.
    """
    _check_options(metric, threshold, confidence_level)
    X, target, _ = _check_inputs(model, X, target)
    compute = _make_attributor(method, method_params, batch_size)
    levels = resolve_levels(model, layers, X)
    variants = ((lv, m, target) for lv, m in _iter_cascade(model, levels, seed, norm_std))
    return _evaluate(
        "cascading", method, compute, model, X, target, variants, metric=metric,
        threshold=threshold, rule="last", n_bootstrap=n_bootstrap,
        confidence_level=confidence_level, seed=seed, return_maps=return_maps,
        reference=reference,
        progress=progress, n_levels=len(levels),
        params=dict(seed=seed, norm_std=norm_std, layers=[m for _, m in levels],
                    method_params=method_params or {}),
    )


@verbose
@_doc
def independent_randomization(model, X, target=None, method="saliency", *, layers=None,
                              rule="majority", method_params=None, batch_size=32,
                              metric="pearson", threshold=0.5, seed=0, norm_std=0.5,
                              n_bootstrap=2000,
                              confidence_level=0.95, return_maps=False, reference=None,
                              progress=True, verbose=None):
    """Independent layer randomisation test (Adebayo et al., 2018).

    Each level re-initialises one layer (or group) while every other layer keeps its trained
    weights. By default the method passes when the maps change at more than half of the
    levels. ``rule="all"`` is stricter, but it also fails methods on models whose output
    hardly depends on one layer: randomising a normalisation layer's affine parameters (a
    per-feature rescaling) typically leaves maps correlated at r ~ 0.7-0.9 even for
    gradients. Read the per-level rows for which layers the maps depend on.

    Parameters
    ----------
    model : torch.nn.Module
        Trained model; not modified.
    X : array, shape (n_trials, n_chans, n_times)
        Trials to explain.
    target : int | array of int, shape (n_trials,) | None
        Class to explain per trial. ``None``: the trained model's predicted class.
    %(common)s
    layers : list of (str | list of str) | None
        Levels; ``None`` means every parametrised layer, output to input.
    rule : "majority" | "all" | "any"
        How the level verdicts make the overall verdict.
    norm_std : float
        Spread of the random affine parameters of normalisation layers.
    %(verbose)s

    Returns
    -------
    result : RandomizationResult
    """
    _check_options(metric, threshold, confidence_level)
    if rule not in ("majority", "all", "any"):
        raise unknown_name("rule", rule, ("majority", "all", "any"))
    X, target, _ = _check_inputs(model, X, target)
    compute = _make_attributor(method, method_params, batch_size)
    levels = resolve_levels(model, layers, X)
    variants = ((lv, m, target) for lv, m in _iter_independent(model, levels, seed, norm_std))
    return _evaluate(
        "independent", method, compute, model, X, target, variants, metric=metric,
        threshold=threshold, rule=rule, n_bootstrap=n_bootstrap,
        confidence_level=confidence_level, seed=seed, return_maps=return_maps,
        reference=reference,
        progress=progress, n_levels=len(levels),
        params=dict(seed=seed, norm_std=norm_std, layers=[m for _, m in levels],
                    method_params=method_params or {}),
    )


@verbose
@_doc
def full_randomization(model, X, target=None, method="saliency", *, method_params=None,
                       batch_size=32, metric="pearson", threshold=0.5, seed=0, norm_std=0.5,
                       n_bootstrap=2000, confidence_level=0.95, return_maps=False,
                       reference=None, progress=True, verbose=None):
    """Full model randomisation: every parametrised layer re-initialised at once.

    Equals the last level of :func:`cascading_randomization` with the same ``seed``.

    Parameters
    ----------
    model : torch.nn.Module
        Trained model; not modified.
    X : array, shape (n_trials, n_chans, n_times)
        Trials to explain.
    target : int | array of int, shape (n_trials,) | None
        Class to explain per trial. ``None``: the trained model's predicted class.
    %(common)s
    norm_std : float
        Spread of the random affine parameters of normalisation layers.
    %(verbose)s

    Returns
    -------
    result : RandomizationResult
        One level, ``"all layers"``.
    """
    _check_options(metric, threshold, confidence_level)
    X, target, _ = _check_inputs(model, X, target)
    compute = _make_attributor(method, method_params, batch_size)
    randomized = randomize_model(model, None, seed=seed, norm_std=norm_std, X=X)
    return _evaluate(
        "full", method, compute, model, X, target, [("all layers", randomized, target)],
        metric=metric, threshold=threshold, rule="last", n_bootstrap=n_bootstrap,
        confidence_level=confidence_level, seed=seed, return_maps=return_maps,
        reference=reference,
        progress=False, n_levels=1,
        params=dict(seed=seed, norm_std=norm_std, method_params=method_params or {}),
    )


@verbose
@_doc
def label_randomization(model, X, target=None, method="saliency", *, method_params=None,
                        batch_size=32, metric="pearson", threshold=0.5, seed=0,
                        n_bootstrap=2000, confidence_level=0.95, return_maps=False,
                        reference=None, progress=True, verbose=None):
    """Label randomisation: explain the trained model for a different class.

    Every trial is attributed once for ``target`` and once for a class drawn uniformly among
    the other classes (seeded). A class-discriminative method gives different maps; a method
    that ignores the target (e.g. the gradient of the sum of all outputs) fails.

    Parameters
    ----------
    model : torch.nn.Module
        Trained model; not modified.
    X : array, shape (n_trials, n_chans, n_times)
        Trials to explain.
    target : int | array of int, shape (n_trials,) | None
        The true (or asked-about) class per trial. ``None``: the predicted class.
    %(common)s
    %(verbose)s

    Returns
    -------
    result : RandomizationResult
        One level, ``"target"``; ``info["random_target"]`` holds the drawn classes.
    """
    _check_options(metric, threshold, confidence_level)
    X, target, n_outputs = _check_inputs(model, X, target)
    compute = _make_attributor(method, method_params, batch_size)
    other = random_targets(target, n_outputs, seed=seed)
    return _evaluate(
        "label", method, compute, model, X, target, [("target", model, other)],
        metric=metric, threshold=threshold, rule="last", n_bootstrap=n_bootstrap,
        confidence_level=confidence_level, seed=seed, return_maps=return_maps,
        reference=reference,
        progress=False, n_levels=1, info={"target": target, "random_target": other},
        params=dict(seed=seed, method_params=method_params or {}),
    )


@verbose
@_doc
def data_randomization(model, X_train, y_train, method="saliency", *, X=None, target=None,
                       max_epochs=100, lr=1e-3, train_batch_size=32, weight_decay=0.0,
                       target_accuracy=0.95, fit_fn=None, method_params=None, batch_size=32,
                       metric="pearson", threshold=0.5, seed=0, n_bootstrap=2000,
                       confidence_level=0.95, return_maps=False, reference=None, progress=True,
                       verbose=None):
    """Data randomisation test: retrain the architecture on permuted labels.

    A fresh copy of ``model`` (every parametrised layer re-initialised by its own reset,
    normalisation layers to identity with reset running statistics, parametrised tensors at
    their source) is trained on ``X_train`` with a random permutation of ``y_train`` until it
    fits them (``target_accuracy`` training accuracy) or ``max_epochs`` is reached. Its maps
    are compared with the trained model's: a method that explains what the model learned
    gives different maps for a model that learned nothing generalisable.

    Parameters
    ----------
    model : torch.nn.Module
        Trained model; not modified. Its architecture (and device) is reused.
    X_train : array, shape (n_train, n_chans, n_times)
        Training trials.
    y_train : array of int, shape (n_train,)
        Training labels; they are permuted (class balance kept).
    X : array, shape (n_trials, n_chans, n_times) | None
        Trials to explain; ``None`` uses ``X_train``.
    target : int | array of int | None
        Class to explain per trial of ``X``, the same for both models. ``None`` uses
        ``y_train`` when ``X`` is ``None``, else the trained model's predicted class.
    max_epochs : int
        Epoch cap of the default training loop (:func:`fit_classifier`), which stops as
        soon as the permuted labels are fitted. With the defaults, ShallowFBCSPNet fits the
        permuted labels of the simulated BCI IV 2a data (576 trials, 22 x 1125 samples) in
        6 epochs; one epoch costs about 25 s of CPU time (under a minute on two cores).
    lr, weight_decay : float
        AdamW parameters of the default loop.
    train_batch_size : int
        Mini-batch size of the default loop.
    target_accuracy : float
        Training accuracy on the permuted labels at which training stops. If it is not
        reached, a warning is issued and ``info["fitted"]`` is False.
    fit_fn : callable | None
        ``fit_fn(model, X_train, y_permuted, seed=seed) -> model`` replacing the default
        loop (e.g. a skorch/braindecode classifier's training).
    %(common)s
    %(verbose)s

    Returns
    -------
    result : RandomizationResult
        One level, ``"labels (retrained)"``. ``info`` holds ``train_accuracy``, ``fitted``,
        ``history`` (default loop), ``fit_time_s`` and ``model`` (the permuted-label model).
    """
    _check_options(metric, threshold, confidence_level)
    X_train = check_trials_array(X_train, "X_train")
    y_train = np.asarray(y_train)
    if y_train.shape != (len(X_train),) or not np.issubdtype(y_train.dtype, np.integer):
        raise InvalidInputError(
            f"y_train must be integer labels of shape ({len(X_train)},), got {y_train.dtype} "
            f"array of shape {y_train.shape}."
        )
    if X is None:
        X = X_train
        if target is None:
            target = y_train
    X, target, n_outputs = _check_inputs(model, X, target)
    if y_train.min() < 0 or y_train.max() >= n_outputs:
        raise TargetError(f"y_train values must lie in [0, {n_outputs - 1}] (the model's outputs).")
    compute = _make_attributor(method, method_params, batch_size)

    rng = np.random.default_rng(seed)
    y_perm = rng.permutation(y_train)
    fresh = copy.deepcopy(model)
    layer_names = [n for n, _ in layers_in_forward_order(fresh, X_train)]
    if not layer_names:
        raise InvalidInputError(
            f"{type(model).__name__} has no parametrised layer, so it cannot be retrained."
        )
    randomize_in_place(fresh, layer_names, seed, norm="reset")
    t0 = time.perf_counter()
    history = None
    if fit_fn is None:
        from ..models.train import fit_classifier as _fit

        fresh, history = _fit(
            fresh, X_train, y_perm, n_epochs=max_epochs, lr=lr, batch_size=train_batch_size,
            weight_decay=weight_decay, target_train_accuracy=target_accuracy, seed=seed,
            picks="all", exclude=(), verbose=False,
        )
    else:
        fresh = fit_fn(fresh, X_train, y_perm, seed=seed)
        if not isinstance(fresh, torch.nn.Module):
            raise InvalidInputError("fit_fn must return the trained torch.nn.Module.")
    fit_time = time.perf_counter() - t0
    fresh.eval()
    train_acc = float(np.mean(predict_classes(fresh, X_train) == y_perm))
    fitted = train_acc >= target_accuracy
    if not fitted:
        warnings.warn(
            f"The permuted-label model reached {train_acc:.2f} training accuracy, below "
            f"target_accuracy={target_accuracy} (raise max_epochs or lr); the data "
            "randomisation test compares against a model that did not memorise its labels.",
            UserWarning, stacklevel=3,
        )
    info = dict(train_accuracy=train_acc, fitted=fitted, history=history, fit_time_s=fit_time,
                epochs=len(history) if history is not None else None, y_permuted=y_perm,
                model=fresh)
    return _evaluate(
        "data", method, compute, model, X, target, [("labels (retrained)", fresh, target)],
        metric=metric, threshold=threshold, rule="last", n_bootstrap=n_bootstrap,
        confidence_level=confidence_level, seed=seed, return_maps=return_maps,
        reference=reference,
        progress=False, n_levels=1, info=info,
        params=dict(seed=seed, max_epochs=max_epochs, lr=lr, train_batch_size=train_batch_size,
                    weight_decay=weight_decay, target_accuracy=target_accuracy,
                    fit_fn=None if fit_fn is None else _method_name(fit_fn),
                    method_params=method_params or {}),
    )
