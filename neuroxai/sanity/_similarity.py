"""Per-trial similarity of two stacks of attribution maps (private to :mod:`neuroxai.sanity`).

The row-wise statistics are the package's one copy, :mod:`neuroxai._core.stats`: a trial
whose map is constant has no correlation and scores NaN (the checks count such trials and
leave them out of the means instead of inventing a value).

Measures, all between the trained model's map and the randomised one, trial by trial:

``"pearson"``
    Pearson's r of the signed maps (braindecode's sanity-check tutorial).
``"spearman"``
    Spearman's rho of the signed maps (Adebayo et al., 2018, "diverging").
``"spearman_abs"``
    Spearman's rho of ``|maps|`` (Adebayo et al., 2018, "absolute value").
``"spearman_abs_partial"``
    Spearman's rho of ``|maps|`` with the trials' own magnitude ``|x|`` held fixed (the
    partial correlation of the ranks given the ranks of ``|x|``). Only for maps shaped like
    the input. Input x gradient, integrated gradients, DeepLIFT and the SHAP variants are
    products ``x * g``, so two maps of one trial share the ranking of ``|x|`` whatever the
    model: two independent factors of equal spread give rho(|x g1|, |x g2|) ~ 0.5, and
    DeepLIFT's |maps| keep rho = 0.49-0.54 against a fully re-initialised ShallowFBCSPNet
    on the simulated data (0.11-0.23 with |x| held fixed). A check of *parameter*
    dependence must not be decided by that input floor.
    Where the partial rho is undefined for a trial (a map whose magnitude ranks exactly as
    ``|x|``, e.g. ``|x|`` itself) the plain ``|maps|`` rho is used for it.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from .._core.stats import rowwise_pearson
from .._utils import ShapeError

SIMILARITIES = ("pearson", "spearman", "spearman_abs")
PARTIAL = "spearman_abs_partial"


def _partial(r_ab, r_ac, r_bc):
    """Partial correlation of a and b given c; ``r_ab`` where it is undefined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (r_ab - r_ac * r_bc) / np.sqrt((1 - r_ac ** 2) * (1 - r_bc ** 2))
    undefined = ~np.isfinite(out)
    out[undefined] = r_ab[undefined]
    return np.clip(out, -1.0, 1.0)


def _ranks(x):
    # float32 ranks are exact up to 2**24 features and halve the memory kept per check
    return rankdata(x.reshape(len(x), -1), axis=1).astype(np.float32)


class ReferenceMaps:
    """The trained model's maps, ranked once, compared with the maps of every level.

    Spearman's rho is Pearson's r of the ranks (:func:`neuroxai._core.stats.rowwise_spearman`
    computes it so); the ranks of the reference and of ``|x|`` are kept between levels
    instead of being recomputed for each: 2 rankings per level instead of 8 (scipy's
    ``rankdata`` dominates, ~0.1 s per 24 trials x 24750 values).
    """

    def __init__(self, maps, inputs=None, metrics=SIMILARITIES, chunk_size=64):
        self.maps = np.asarray(maps)
        self.metrics, self.chunk_size = tuple(metrics), int(chunk_size)
        self.partial = inputs is not None and np.shape(inputs) == self.maps.shape
        self._signed = _ranks(self.maps) if "spearman" in self.metrics else None
        self._abs = _ranks(np.abs(self.maps))
        self.input_share = None
        if self.partial:
            self._input = _ranks(np.abs(np.asarray(inputs)))
            self.input_share = self._pearson(self._abs, self._input)

    def _pearson(self, a, b):
        return np.concatenate([rowwise_pearson(a[s:s + self.chunk_size],
                                               b[s:s + self.chunk_size])
                               for s in range(0, len(a), self.chunk_size)])

    def compare(self, maps):
        """Per-trial similarity of ``maps`` to the reference: dict of (n_trials,) arrays."""
        maps = np.asarray(maps)
        if maps.shape != self.maps.shape:
            raise ShapeError(
                f"Cannot compare attribution maps of shapes {self.maps.shape} and {maps.shape}; "
                "both must come from the same trials and the same method.")
        out = {}
        if "pearson" in self.metrics:
            out["pearson"] = self._pearson(self.maps, maps)
        if "spearman" in self.metrics:
            out["spearman"] = self._pearson(self._signed, _ranks(maps))
        abs_ranks = _ranks(np.abs(maps))
        r_ab = self._pearson(self._abs, abs_ranks)
        if "spearman_abs" in self.metrics:
            out["spearman_abs"] = r_ab
        if self.partial:
            out[PARTIAL] = _partial(r_ab, self.input_share, self._pearson(abs_ranks, self._input))
        return out


def input_share(maps, X):
    """Spearman's rho of ``|maps|`` and ``|X|`` per trial, or ``None`` for other shapes."""
    return ReferenceMaps(maps, X, metrics=()).input_share


def per_trial_similarity(maps_a, maps_b, metrics=SIMILARITIES, chunk_size=64, inputs=None):
    """Similarity of two stacks of maps, trial by trial.

    Parameters
    ----------
    maps_a, maps_b : ndarray, shape (n_trials, ...)
        Attribution maps; every axis after the first is flattened.
    metrics : sequence of str
        Any of ``"pearson"``, ``"spearman"`` and ``"spearman_abs"`` (see the module
        docstring).
    chunk_size : int
        Trials correlated at once (bounds the float64 copies).
    inputs : ndarray, shape (n_trials, ...) | None
        The trials the maps explain. When they have the maps' shape,
        ``"spearman_abs_partial"`` is added.

    Returns
    -------
    scores : dict of str -> ndarray, shape (n_trials,)
        NaN for a trial whose map is constant in either stack.
    """
    maps_a, maps_b = np.asarray(maps_a), np.asarray(maps_b)
    if maps_a.shape != maps_b.shape:
        raise ShapeError(
            f"Cannot compare attribution maps of shapes {maps_a.shape} and {maps_b.shape}; "
            "both must come from the same trials and the same method.")
    return ReferenceMaps(maps_a, inputs, metrics, chunk_size).compare(maps_b)
