"""The one implementation of the five randomisation checks (private to :mod:`neuroxai.sanity`).

Every public check validates its inputs here (trials through the boundary, the model through
the core, targets, the model gate), then hands its model variants to :func:`run_check`,
which computes the maps, the similarities, the intervals and the result.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from .._core.batching import batch_slices, progress
from .._core.deprecation import deprecated_progress
from .._core.labels import resolve_targets
from .._core.model import (
    as_module,
    check_finite_array,
    device_dtype,
    evaluating,
    predict_scores,
    probe_model,
)
from .._core.random import check_seed
from .._core.stats import accuracy_test, bootstrap_ci
from .._core.validation import check_float, check_int, check_option
from .._utils import InvalidInputError, ShapeError, logger
from ._result import NOT_ABOVE_CHANCE, TEST_TITLES, RandomizationResult
from ._similarity import SIMILARITIES, ReferenceMaps

#: The arguments every check shares; the public wrappers hand them over as ``locals()``.
_COMMON = ("model", "inst", "target", "method", "y", "info", "tmin", "class_names", "picks",
           "exclude", "method_params", "batch_size", "threshold", "model_accuracy", "alpha",
           "seed", "n_bootstrap", "confidence_level", "return_maps", "reference", "metric",
           "progress")


@dataclass
class _Check:
    """The validated inputs of one check."""

    model: torch.nn.Module
    X: np.ndarray
    target: np.ndarray
    n_outputs: int
    compute: object
    method: str
    gate: dict
    seed: int
    opts: dict


def method_name(method):
    if isinstance(method, str):
        return method
    return getattr(method, "__name__", type(method).__name__)


def _check_method(method):
    if isinstance(method, str):
        from ..attribution.methods import get_method

        get_method(method)  # unknown name: fail now, listing the valid ones
    elif not callable(method):
        raise InvalidInputError(
            f"method must be a registered method name or a callable fn(model, X, target), got "
            f"{type(method).__name__}.")


def _make_attributor(method, method_params, batch_size, info, tmin):
    """Return ``compute(model, X, target) -> list of arrays`` for a name or a callable."""
    method_params = dict(method_params or {})
    if isinstance(method, str):
        from ..attribution.methods import attribute

        # The maps' values do not depend on tmin; info gives the methods that need it the
        # sampling rate. The trials are already picked: keep every channel.
        where = {} if info is None else dict(info=info, tmin=0.0 if tmin is None else tmin)

        def compute(model, X, target):
            res = attribute(model, X, target, method=method, batch_size=batch_size,
                            picks="all", exclude=(), verbose=False, **where, **method_params)
            return [np.asarray(res.data)]

        return compute

    def compute(model, X, target):
        # A callable gets the trials in chunks so that peak memory is bounded by batch_size.
        out = []
        for sl in batch_slices(len(X), batch_size):
            res = method(model, X[sl], target[sl], **method_params)
            res = getattr(res, "data", res)
            out.append(np.asarray(res.detach().cpu() if torch.is_tensor(res) else res))
        return out

    return compute


def _gate(given, trials, pred, n_outputs, names, alpha):
    """The model gate: the given accuracy dict, or the accuracy on the labelled trials."""
    if given is not None:
        if not isinstance(given, dict) or not {"accuracy", "chance", "p_value"} <= set(given):
            raise InvalidInputError(
                "model_accuracy must be the dict returned by neuroxai.models.evaluate_classifier"
                " (keys 'accuracy', 'chance', 'p_value', ...) on held-out trials; got "
                f"{given!r:.80}.")
        p = check_float(given["p_value"], "model_accuracy['p_value']", 0.0, 1.0)
        a = alpha if alpha is not None else check_float(
            given.get("alpha", 0.05), "model_accuracy['alpha']", 0.0, 1.0, low_open=True)
        gate = {k: given[k] for k in ("accuracy", "chance", "p_value", "n", "n_correct")
                if k in given}
        source = given.get("evaluated_on", given.get("source", "given as model_accuracy"))
        return dict(gate, checked=True, alpha=a, above_chance=bool(p < a), source=str(source))
    if trials.y is None:
        return dict(checked=False, reason="the trials carry no labels and no model_accuracy= "
                                          "was given")
    if names is None:
        return dict(checked=False, reason=(
            f"the trials have {len(trials.class_names)} classes and the model {n_outputs} "
            "outputs: pass class_names= (one per output) or model_accuracy="))
    gate = accuracy_test(trials.y, pred, n_classes=n_outputs, alpha=0.05 if alpha is None
                         else alpha)
    return dict(gate, checked=True, source="on the check's trials, held out only if the model "
                                          "was not trained on them")


def _prepare(test, a):
    """Validate everything a check needs, before any attribution pass."""
    from ..attribution.methods import output_names
    from ..data._boundary import prepare_trials

    deprecated_progress(a["progress"])
    if a["metric"] is not None:
        check_option("metric", a["metric"], SIMILARITIES)
        warnings.warn("metric= is deprecated and ignored: the verdict uses the signed Pearson r "
                      "and the Spearman rho of |maps| together; every measure is in "
                      "result.scores.", FutureWarning, stacklevel=4)
    opts = dict(
        threshold=check_float(a["threshold"], "threshold", 0.0, 1.0, low_open=True),
        confidence_level=check_float(a["confidence_level"], "confidence_level", 0.0, 1.0,
                                     low_open=True, high_open=True),
        n_bootstrap=check_int(a["n_bootstrap"], "n_bootstrap", 1),
        return_maps=bool(a["return_maps"]), reference=a["reference"])
    batch_size = check_int(a["batch_size"], "batch_size", 1)
    seed = check_seed(a["seed"])
    alpha = None if a["alpha"] is None else check_float(a["alpha"], "alpha", 0.0, 1.0,
                                                        low_open=True, high_open=True)
    _check_method(a["method"])
    model = as_module(a["model"])
    dtype = device_dtype(model)[1]
    trials = prepare_trials(a["inst"], a["y"], info=a["info"], tmin=a["tmin"],
                            class_names=a["class_names"], picks=a["picks"],
                            exclude=a["exclude"], units=True, what=TEST_TITLES[test],
                            dtype=np.float64 if dtype == torch.float64 else np.float32)
    if len(trials) < 2:
        # one trial gives a zero-width bootstrap interval and a chance level of 1: a verdict
        # with no evidence behind it
        raise ShapeError(f"{TEST_TITLES[test]} needs at least 2 trials (inst), got "
                         f"{len(trials)}.")
    X = trials.X
    n_outputs = probe_model(model, X, sfreq=trials.sfreq)
    names = output_names(trials, n_outputs, a["class_names"])
    target = resolve_targets(a["target"], len(X), n_outputs, names, trials.y)
    pred = None
    if target is None or (a["model_accuracy"] is None and trials.y is not None):
        pred = predict_scores(model, X, batch_size).argmax(1)
    target = pred if target is None else target
    gate = _gate(a["model_accuracy"], trials, pred, n_outputs, names, alpha)
    compute = _make_attributor(a["method"], a["method_params"], batch_size, trials.info,
                               trials.tmin)
    return _Check(model, X, target, n_outputs, compute, method_name(a["method"]), gate,
                  seed, opts)


def _attribute(compute, model, X, target, what, ref_shape=None):
    """Attribution maps of ``model``, validated (shapes, finiteness)."""
    with evaluating(model):
        chunks = compute(model, X, target)
    sizes = [len(c) if np.ndim(c) else 0 for c in chunks]
    tails = {tuple(np.shape(c)[1:]) for c in chunks}
    if sum(sizes) != len(X) or len(tails) != 1 or any(np.ndim(c) < 2 for c in chunks):
        raise ShapeError(
            f"The attribution method returned batches of shapes {[np.shape(c) for c in chunks]} "
            f"for {len(X)} trials ({what}); it must return one map per trial, all of the same "
            "shape (n_trials, ...).")
    maps = np.concatenate(chunks, axis=0) if len(chunks) > 1 else np.asarray(chunks[0])
    if ref_shape is not None and maps.shape != ref_shape:
        raise ShapeError(
            f"Attribution maps of the {what} have shape {maps.shape}, those of the trained "
            f"model {ref_shape}; the method must return maps of one shape for one input.")
    return check_finite_array(maps, f"attribution maps of the {what}")


def _check_reference(reference, X):
    ref = getattr(reference, "data", reference)
    ref = np.asarray(ref.detach().cpu() if torch.is_tensor(ref) else ref)
    if ref.ndim < 2 or len(ref) != len(X):
        raise ShapeError(
            f"reference holds maps of shape {ref.shape}; it must hold the trained model's maps "
            f"of the {len(X)} trials of X, shape ({len(X)}, ...), computed with the same method "
            "and parameters.")
    return check_finite_array(ref, "reference maps (recompute them with reference=None)")


def run_check(test, args, make_variants, rule="last"):
    """The one implementation of the five checks.

    ``make_variants(check) -> (n_levels, [(level, model, target)], params, info)`` is all
    that differs between them.
    """
    chk = _prepare(test, args)
    n_levels, variants, params, info = make_variants(chk)
    opts = chk.opts
    if opts["reference"] is None:
        reference = _attribute(chk.compute, chk.model, chk.X, chk.target, "trained model")
    else:
        reference = _check_reference(opts["reference"], chk.X)
    ranked = ReferenceMaps(reference, chk.X)
    signed = bool(np.any(reference < 0))
    levels, rows, maps = [], {}, {}
    for level, variant, variant_target in progress(variants, TEST_TITLES[test], n_levels):
        what = f"{TEST_TITLES[test]} level {level!r}"
        level_maps = _attribute(chk.compute, variant, chk.X, variant_target, what,
                                ref_shape=reference.shape)
        signed |= bool(np.any(level_maps < 0))
        sims = ranked.compare(level_maps)
        for m, s in sims.items():
            rows.setdefault(m, []).append(s)
        n_nan = int(np.isnan(sims["pearson"]).sum())
        if n_nan:
            logger.warning(f"{what}: {n_nan} of {len(chk.X)} trials have a constant map, so "
                           "their similarity is undefined; they are left out of the mean.")
        levels.append(level)
        if opts["return_maps"]:
            maps[level] = level_maps
    scores = {m: np.vstack(r) for m, r in rows.items()}
    ci = {m: bootstrap_ci(s, opts["confidence_level"], opts["n_bootstrap"], chk.seed)
          for m, s in scores.items()}
    result = RandomizationResult(
        test=test, method=chk.method, levels=levels, scores=scores, ci=ci,
        threshold=opts["threshold"], rule=rule, confidence_level=opts["confidence_level"],
        params=dict(params, seed=chk.seed, method_params=args["method_params"] or {}),
        info=info, maps=maps if opts["return_maps"] else None,
        reference=reference if opts["return_maps"] else None, n_classes=chk.n_outputs,
        signed_maps=signed, model_accuracy=chk.gate,
        input_share=ranked.input_share)
    log = logger.warning if result.verdict == NOT_ABOVE_CHANCE else logger.info
    log(f"{TEST_TITLES[test]} of {result.method!r}: {result.verdict}: {result.reason}")
    return result
