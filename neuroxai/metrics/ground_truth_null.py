"""Ground-truth scores against nulls: the same maps shuffled, and other classes' masks.

A fixed threshold on a ground-truth score (say, mean ROC AUC >= 0.6) can be met by maps
that say nothing about *where* the signal is: a map constant across channels still ranks
the masked time samples above the others, and a spectral map whose relevance falls off
with frequency ranks every low-frequency mask above the many near-zero high-frequency
bins. The question is rather whether a map's placement of relevance beats the same
relevance placed at random. :func:`compute_ground_truth_null` answers it by a permutation
test: every sample's map is shuffled along the channel axis (and the frequency or band
axis of spectral maps), independently per sample, and the mean score over samples is
recomputed for each shuffle. A map that carries no spatial information scores the same
shuffled or not (a constant-across-channels map scores *exactly* the same), so it can never
be significant.

Beating the shuffles is not enough when every class's signal sits where some
class-independent structure does: in the simulated motor-imagery data all class sources
are motor sources with an ongoing rhythm, so the amplitude envelope of the data, which
knows nothing of the classes, puts more relevance on any class's mask than a shuffle does.
The second null scores each map against the mask of another class (class labels permuted
across samples): a map that points at its own class's signal beats it, one that points at
what all classes share does not.

Every ground-truth score is ``(sum(target * v) - offset) / scale`` with per-entry values
``v`` that move with the map (relevance, ranks, top-k shares, maximum shares) and row
constants that do not (see :mod:`neuroxai.metrics.ground_truth`). Ranks are invariant to
permutations, so each shuffle costs a gather and a sum, not a re-ranking; with one shuffled
axis it is a lookup in the small (channel x channel) matrix ``target @ v.T``.
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from .._core.random import check_random_state
from .._utils import InvalidInputError, logger, verbose
from .ground_truth import (
    LOWER_IS_BETTER,
    _broadcast_masks,
    check_attributions,
    distance_targets,
    entry_values,
    finish_score,
    relevance,
    resolve_metric_names,
    score_constants,
)

__all__ = ["DEFAULT_NULL_METRICS", "NULLS", "compute_ground_truth_null"]

#: Scores whose significance makes a map "accurate" by default: it must rank the masked
#: entries high (ROC AUC) *and* put its relevance there (relevance mass), both beyond
#: its own shuffles.
DEFAULT_NULL_METRICS = ("ROC_AUC", "RelevanceMassAccuracy")
#: The null distributions :func:`compute_ground_truth_null` can test against.
NULLS = ("shuffle", "classes")
_SHUFFLABLE = ("chan", "freq", "band")


def _shuffle_axes(shuffle, item_dims):
    if shuffle is None:
        names = [d for d in item_dims if d in _SHUFFLABLE]
    else:
        names = [shuffle] if isinstance(shuffle, str) else list(shuffle)
    bad = [a for a in names if a not in item_dims]
    if bad or not names or len(set(names)) != len(names):
        raise InvalidInputError(
            f"shuffle must name distinct axes of the maps, {item_dims}; got {shuffle!r}. "
            "Default: the channel axis plus a frequency/band axis. Bare arrays are "
            "(sample, chan, ...): pass dims= to name their axes.")
    return tuple(item_dims.index(a) for a in names)


def _check_options(n_permutations, alpha, seed):
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, numbers.Integral) \
            or n_permutations < 1:
        raise InvalidInputError(f"n_permutations must be a positive integer, got "
                                f"{n_permutations!r}.")
    if not (isinstance(alpha, numbers.Real) and 0 < alpha < 1):
        raise InvalidInputError(f"alpha must lie in (0, 1), got {alpha!r}.")
    if 1.0 / (n_permutations + 1) >= alpha:
        raise InvalidInputError(
            f"With n_permutations={n_permutations} the smallest p-value is "
            f"1/{n_permutations + 1}, not below alpha={alpha}; use at least "
            f"{int(np.ceil(1 / alpha))} permutations.")
    return check_random_state(seed)


def child_generators(rng):
    """One independent generator per null (``Generator.spawn`` needs numpy >= 1.25)."""
    return [np.random.default_rng(int(s)) for s in rng.integers(2**63 - 1, size=2)]


def draw_permutations(rng, n_permutations, n_rows, sizes, chunk):
    """Yield, per chunk of permutations, one ``(m, n_rows, size)`` index array per axis.

    Row ``i`` of permutation ``b`` gets its own shuffle of every axis (``sizes`` in the
    order of the shuffled axes), drawn from ``rng`` chunk after chunk.
    """
    for start in range(0, n_permutations, chunk):
        m = min(chunk, n_permutations - start)
        yield [rng.permuted(np.broadcast_to(np.arange(size), (m, n_rows, size)), axis=-1)
               for size in sizes]


def _sums_one_axis(target, values, ax, perm):
    """``s[b, i] = sum(target[i] * values[i] shuffled by perm[b, i] along item axis ax)``."""
    n = target.shape[0]
    t = np.moveaxis(target, ax + 1, 1).reshape(n, target.shape[ax + 1], -1)
    v = np.moveaxis(values, ax + 1, 1).reshape(t.shape)
    g = np.einsum("ncx,nkx->nck", t, v)  # g[i, c, c2]: target row c against value row c2
    rows = np.arange(n)[None, :, None]
    return g[rows, np.arange(t.shape[1])[None, None, :], perm].sum(axis=-1)


def _sums_gather(target, values, axes, perms):
    """The same for several shuffled axes: gather each shuffled map, one permutation at a
    time (``perms``: one ``(m, n, size)`` array per axis in ``axes``)."""
    n, item = target.shape[0], target.shape[1:]
    d = len(item)
    out = np.empty((perms[0].shape[0], n))
    for b in range(perms[0].shape[0]):
        idx = [np.arange(n).reshape((n,) + (1,) * d)]
        for a in range(d):
            shape = [1] * (d + 1)
            shape[a + 1] = item[a]
            if a in axes:
                shape[0] = n
                idx.append(perms[axes.index(a)][b].reshape(shape))
            else:
                idx.append(np.arange(item[a]).reshape(shape))
        out[b] = (target * values[tuple(idx)]).reshape(n, -1).sum(axis=1)
    return out


def _null_means(targets, values, consts, axes, rng, n_permutations):
    """Mean score over rows for every permutation, per metric: (n_metrics, n_perm)."""
    first = next(iter(values.values()))
    n, item = first.shape[0], first.shape[1:]
    sizes = [item[a] for a in axes]
    chunk = int(max(1, min(n_permutations, 2**22 // max(1, n * max(sizes)))))
    null = {name: np.empty(n_permutations) for name in values}
    done = 0
    for perms in draw_permutations(rng, n_permutations, n, sizes, chunk):
        m = perms[0].shape[0]
        for name, v in values.items():
            if len(axes) == 1:
                s = _sums_one_axis(targets[name], v, axes[0], perms[0])
            else:
                s = _sums_gather(targets[name], v, axes, perms)
            scores = finish_score(s, *consts[name])
            # rows without a score (no relevance) have none under any shuffle either
            null[name][done:done + m] = np.nanmean(scores, axis=1) if np.isfinite(
                scores).any() else np.nan
        done += m
    return null


def _class_scores(name, rel, values, class_masks, item_dims, coords, info):
    """``s[i, k]``: the metric of map ``i`` against the mask of class ``k``.

    ``values`` are the entry values of ``name`` for the samples' own masks; only the top-k
    shares depend on the mask (through its size) and are recomputed per class.
    """
    n, item = len(rel), class_masks.shape[1:]
    out = np.full((n, len(class_masks)), np.nan)
    for c, cm in enumerate(class_masks):
        kc = np.full(n, int(cm.sum()))
        if kc[0] == 0 or kc[0] == cm.size:
            continue  # an empty or full mask: no score
        m = np.broadcast_to(cm, (n,) + item)
        target = (distance_targets(name, m, item_dims, coords, info).reshape(n, -1)
                  if name in LOWER_IS_BETTER else np.broadcast_to(cm.reshape(1, -1),
                                                                  rel.shape))
        v = entry_values(name, rel, kc) if name == "RelevanceRankAccuracy" else values
        s = np.einsum("ij,ij->i", target, v)
        out[:, c] = finish_score(s, *score_constants(name, rel, kc))
    return out


def _class_null(scores, perm):
    """Mean score for each row of permuted class labels ``perm`` (n_perm, n): (n_perm,)."""
    with np.errstate(all="ignore"):
        picked = scores[np.arange(perm.shape[1])[None, :], perm]
        ok = np.isfinite(picked)
        return np.where(ok, picked, 0.0).sum(axis=1) / ok.sum(axis=1)


def _resolve_nulls(nulls, y, masks, n_dims):
    per_class = y is not None and np.ndim(masks) == n_dims and len(np.unique(y)) > 1
    # identical masks for every class: scoring against another class changes nothing
    distinct = per_class and len(np.unique(np.asarray(masks)[np.unique(y)].reshape(
        len(np.unique(y)), -1), axis=0)) > 1
    if nulls is None:
        return ("shuffle", "classes") if distinct else ("shuffle",)
    names = (nulls,) if isinstance(nulls, str) else tuple(nulls)
    bad = [m for m in names if m not in NULLS]
    if bad or not names or len(set(names)) != len(names):
        raise InvalidInputError(f"nulls must name distinct nulls among {NULLS}, got {nulls!r}.")
    if "classes" in names and not distinct:
        raise InvalidInputError(
            "The 'classes' null scores each map against other classes' masks: it needs "
            "per-class masks, shape (n_classes, ...), that differ between at least 2 of the "
            "classes in y.")
    return names


def _summarise(name, obs, nulls_h0, alpha):
    """One result row: the observed mean, each null's summary and the combined decision."""
    lower = name in LOWER_IS_BETTER
    row = dict(metric=name, observed=obs)
    tol = 1e-9 * max(1.0, abs(obs)) if np.isfinite(obs) else 0.0
    p_all, better_all = [], True
    for null_name, h0 in nulls_h0.items():
        beyond = (h0 <= obs + tol) if lower else (h0 >= obs - tol)
        p = (1.0 + np.sum(beyond)) / (1.0 + len(h0)) if np.isfinite(obs) else np.nan
        h0_mean = float(np.nanmean(h0)) if np.isfinite(h0).any() else np.nan
        row.update({f"{null_name}_mean": h0_mean,
                    f"{null_name}_sd": float(np.nanstd(h0)) if np.isfinite(h0).any() else np.nan,
                    f"{null_name}_critical": float(np.nanquantile(
                        h0, alpha if lower else 1 - alpha)) if np.isfinite(h0).any() else np.nan,
                    f"{null_name}_p": p})
        p_all.append(p)
        better_all &= bool(obs < h0_mean if lower else obs > h0_mean)
    p = max(p_all)  # every null must be rejected: intersection-union test
    row.update(p_value=p, significant=bool(np.isfinite(p) and p < alpha and better_all))
    return row


@verbose
def compute_ground_truth_null(attributions, masks, y=None, *, metrics=DEFAULT_NULL_METRICS,
                              nulls=None, shuffle=None, n_permutations=1000, alpha=0.05,
                              absolute=True, seed=0, info=None, dims=None, coords=None,
                              verbose=None):
    """Test ground-truth scores against shuffled maps and against other classes' masks.

    For every metric, the statistic is the mean score over samples
    (:func:`~neuroxai.metrics.compute_ground_truth_metrics`). Two null distributions,
    each from ``n_permutations`` draws:

    ``"shuffle"``
        every sample's map permuted along the ``shuffle`` axes, independently per sample
        and axis: does the map place its values where the signal is, beyond its own values
        placed at random? A map constant across channels is left unchanged (p = 1).
    ``"classes"``
        the class labels permuted across samples, each map scored against the mask of the
        class it is given: does the map point at *its* class's signal rather than at
        structure all classes share (e.g. the motor channels' ongoing rhythm, which makes
        the model-free envelope beat the shuffles)?

    The one-sided permutation p-value of a null is ``(1 + #{null >= observed}) / (1 +
    n_permutations)`` (``<=`` for the peak distances, where smaller is better); a metric is
    significant when every null's p-value is below ``alpha`` and the observed mean beyond
    every null mean. The map is **accurate** (``result.attrs["accurate"]``) when every
    metric is: with the default metrics it must both rank the masked entries high (ROC AUC)
    and put its relevance mass there. Requiring every test is an intersection-union test,
    valid at level ``alpha`` without correction.

    Parameters
    ----------
    attributions : array-like | Attribution, shape (n_samples, ...)
        The maps (see :func:`~neuroxai.metrics.compute_ground_truth_metrics`).
    masks : array-like of bool
        Ground truth, shape ``(n_samples, ...)``, ``(...)`` or ``(n_classes, ...)`` with
        ``y``.
    y : array-like of int | None
        Class of each sample, selecting its mask from per-class ``masks``.
    metrics : str | sequence of str
        Scores to test (names of :data:`~neuroxai.metrics.GROUND_TRUTH_METRIC_NAMES` and
        :data:`~neuroxai.metrics.PEAK_DISTANCE_METRIC_NAMES`).
    nulls : ``"shuffle"`` | ``"classes"`` | sequence of them | None
        ``None``: both when ``masks`` are per class with ``y`` and differ between classes
        (otherwise another class's mask is the same mask), ``"shuffle"`` otherwise.
    shuffle : str | sequence of str | None
        Axes to permute. ``None``: ``"chan"`` plus ``"freq"``/``"band"`` where the maps
        have them (the time axis of a channel x time map is kept: shuffling it would test
        the map's time course, which a map can get right with no spatial information).
    n_permutations : int
        Draws per null; at least ``1 / alpha``.
    alpha : float
        Significance level in (0, 1).
    absolute : bool
        Relevance is ``|map|`` (True) or its positive part.
    seed : int | numpy.random.Generator | None
        Randomness (``numpy.random.default_rng(seed)``, which seeds one child generator
        per null; no global state is used or changed).
    info, dims, coords
        As in :func:`~neuroxai.metrics.compute_ground_truth_metrics`.
    %(verbose)s

    Returns
    -------
    result : pandas.DataFrame
        One row per metric (index ``metric``): ``observed`` (mean over samples with a
        defined score); per null ``<null>_mean``, ``<null>_sd``, ``<null>_critical`` (its
        ``1 - alpha`` quantile, ``alpha`` for distances) and ``<null>_p``; ``p_value`` (the
        largest), ``significant`` and ``n_samples``. ``result.attrs`` holds ``accurate``
        (bool), ``alpha``, ``nulls``, ``shuffle`` (axis names), ``n_permutations`` and
        ``null`` (``{null: {metric: ndarray of the n_permutations null means}}``).
    """
    rng = _check_options(n_permutations, alpha, seed)
    attr, item_dims, coords, info = check_attributions(attributions, info, dims, coords)
    names = resolve_metric_names(metrics, item_dims, coords, info)
    axes = _shuffle_axes(shuffle, item_dims)
    null_names = _resolve_nulls(nulls, y, masks, attr.ndim)
    rng_shuffle, rng_classes = child_generators(rng)
    n, item = attr.shape[0], attr.shape[1:]
    mask = _broadcast_masks(masks, n, item, y)
    k = mask.reshape(n, -1).sum(axis=1)
    keep = (k > 0) & (k < mask[0].size)  # an empty or full mask leaves nothing to localise
    if not keep.any():
        raise InvalidInputError("Every sample's mask is empty or full: no score is defined.")
    if not keep.all():
        logger.info(f"{int((~keep).sum())} sample(s) with an empty or full mask left out.")
    attr, mask, k = attr[keep], np.ascontiguousarray(mask[keep]), k[keep]
    n = len(attr)
    rel = relevance(attr.reshape(n, -1), absolute)
    values, targets, consts = {}, {}, {}
    for name in names:
        values[name] = entry_values(name, rel, k).reshape((n,) + item)
        targets[name] = (distance_targets(name, mask, item_dims, coords, info)
                         if name in LOWER_IS_BETTER else mask.astype(float))
        consts[name] = score_constants(name, rel, k)
    null = {}
    if "shuffle" in null_names:
        null["shuffle"] = _null_means(targets, values, consts, axes, rng_shuffle,
                                      int(n_permutations))
    if "classes" in null_names:
        class_masks = np.asarray(masks).astype(bool)
        y_kept = np.asarray(y)[keep]
        # the same label permutations for every metric, as the shuffles are
        perm = rng_classes.permuted(np.broadcast_to(y_kept, (int(n_permutations), n)), axis=1)
        null["classes"] = {name: _class_null(_class_scores(
            name, rel, values[name].reshape(n, -1), class_masks, item_dims, coords, info), perm)
            for name in names}
    rows, n_ok = [], {}
    for name in names:
        s = (targets[name] * values[name]).reshape(n, -1).sum(axis=1)
        per_sample = finish_score(s, *consts[name])
        ok = np.isfinite(per_sample)
        obs = float(per_sample[ok].mean()) if ok.any() else np.nan
        rows.append(_summarise(name, obs, {m: null[m][name] for m in null_names}, alpha))
        n_ok[name] = int(ok.sum())
    result = pd.DataFrame(rows).set_index("metric")
    result["n_samples"] = pd.Series(n_ok)
    result.attrs.update(accurate=bool(result["significant"].all()), alpha=float(alpha),
                        nulls=null_names, shuffle=tuple(item_dims[a] for a in axes),
                        n_permutations=int(n_permutations), null=null)
    logger.info("ground-truth null: " + ", ".join(
        f"{m} {r.observed:.3f} (p {r.p_value:.3g})" for m, r in result.iterrows()))
    return result
