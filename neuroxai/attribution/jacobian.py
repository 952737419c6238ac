"""Encoder attribution maps: Jacobian pseudo-inverse (CEBRA) and captum methods per latent.

For an encoder ``f: R^(n_chans x n_times) -> R^n_latents`` the per-trial Jacobian
``J_i = df/dx (x_i)`` is a ``n_latents x (n_chans * n_times)`` matrix. CEBRA's
"jacobian-based" map aggregates ``J_i`` over trials; its "inverted jacobian" map
aggregates the Moore–Penrose pseudo-inverses ``J_i^+``. ``J_i^+`` answers the
inverse question (which input direction moves each latent, with the other
latents held fixed), and is what CEBRA's identifiability argument says recovers
the latent -> input connectivity.

Differences from CEBRA 0.6's ``get_attribution_map`` (on purpose):

* ``aggregate`` and ``transform`` are honoured (CEBRA ignores them);
* the caller's model is left untouched (CEBRA casts it to float64 on the CPU in
  place); everything runs on a copy in eval mode, on the model's device;
* Jacobians are computed per trial with ``torch.func`` (``vmap(jacrev)``) and
  pseudo-inverted in batches with ``torch.linalg.pinv``, trial batches bounded
  by ``batch_size``;
* the Moore–Penrose conditions are checked for every trial.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import warnings
from typing import NamedTuple

import numpy as np
import torch

from .._utils import (
    InvalidInputError,
    ShapeError,
    ModelMismatchError,
    check_trials_array,
    logger,
    unknown_name,
    verbose,
)
from ._base import Attribution

__all__ = [
    "JacobianMaps",
    "compute_jacobians",
    "jacobian_pinv_map",
    "compute_latent_attributions",
    "channel_map",
    "moore_penrose_conditions",
    "LATENT_METHODS",
]

_AGGREGATES = ("mean", "sum", "max")
_TRANSFORMS = ("none", "abs")
#: Encoder-side captum methods of :func:`compute_latent_attributions`.
LATENT_METHODS = ("gradient", "feature_ablation", "integrated_gradients", "gradient_shap")


class JacobianMaps(NamedTuple):
    """Result of :func:`jacobian_pinv_map`.

    Attributes
    ----------
    jacobian : Attribution
        Aggregated Jacobian map, axes ``("latent", "chan", "time")`` (or
        ``("trial", "latent", "chan", "time")`` with ``aggregate=None``).
    pinv : Attribution
        Aggregated pseudo-inverse map, transposed to the same axes as
        ``jacobian`` (CEBRA's layout for its inverted maps).
    conditions : ndarray of bool, shape (n_trials, 4) | None
        The four Moore–Penrose conditions per trial (``None`` when the check
        was switched off).
    """

    jacobian: Attribution
    pinv: Attribution
    conditions: np.ndarray | None


# -- helpers ------------------------------------------------------------------------------

def _check_choice(kind, value, valid):
    if value not in valid:
        raise unknown_name(kind, value, [v for v in valid if v is not None])


def _check_aggregate(aggregate):
    if aggregate is not None and aggregate not in _AGGREGATES:
        raise unknown_name("aggregate", aggregate, _AGGREGATES)


def _check_batch_size(batch_size):
    if int(batch_size) != batch_size or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}.")
    return int(batch_size)


def _model_device(model):
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


def _frozen_copy(model, dtype=None):
    """An eval-mode copy with frozen parameters, so the caller's model never changes."""
    if not isinstance(model, torch.nn.Module):
        raise InvalidInputError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    work = copy.deepcopy(model).eval()
    work.requires_grad_(False)
    if dtype is not None:
        work = work.to(dtype)
    return work


def _probe_outputs(work, X, device, dtype):
    """Run one trial to get ``n_latents``; turn shape errors into a clear message."""
    x0 = torch.as_tensor(X[:1], device=device, dtype=dtype)
    try:
        with torch.no_grad():
            out = work(x0)
    except (RuntimeError, ValueError) as err:
        raise ModelMismatchError(
            f"The model cannot process trials of shape {X.shape[1:]} (n_chans, n_times): {err}"
        ) from err
    if out.ndim != 2 or out.shape[0] != 1:
        raise ModelMismatchError(
            f"The model must map (batch, n_chans, n_times) to (batch, n_latents); it returned "
            f"shape {tuple(out.shape)} for one trial."
        )
    return int(out.shape[1])


@contextlib.contextmanager
def _seeded(seed, device):
    """Seed torch's and numpy's global RNGs (captum draws from both), then restore them."""
    state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            np.random.seed(seed % 2**32)
            yield
    finally:
        np.random.set_state(state)


def _batches(X, batch_size, device, dtype, desc):
    from tqdm.auto import tqdm

    starts = range(0, len(X), batch_size)
    for s in tqdm(starts, desc=desc, leave=False,
                  disable=logger.getEffectiveLevel() > logging.INFO or len(starts) < 2):
        yield s, torch.as_tensor(X[s:s + batch_size], device=device, dtype=dtype)


class _Aggregator:
    """Running mean/sum/max over trials (or a per-trial stack) of transformed maps."""

    def __init__(self, aggregate, transform, n_total):
        self.aggregate, self.transform, self.n_total = aggregate, transform, n_total
        self.acc = None
        self.parts = []

    def add(self, batch):  # batch: (B, ...) tensor
        if self.transform == "abs":
            batch = batch.abs()
        if self.aggregate is None:
            self.parts.append(batch.detach().cpu().numpy())
            return
        if self.aggregate == "max":
            red = batch.amax(dim=0)
            self.acc = red if self.acc is None else torch.maximum(self.acc, red)
        else:  # sums accumulate in float64 to keep the mean exact over many trials
            red = batch.sum(dim=0, dtype=torch.float64)
            self.acc = red if self.acc is None else self.acc + red

    def result(self):
        if self.aggregate is None:
            return np.concatenate(self.parts)
        out = self.acc
        if self.aggregate == "mean":
            out = out / self.n_total
        return out.detach().cpu().numpy()


def _coords(n_latents, n_times, info):
    coords = {"latent": np.arange(n_latents)}
    if info is not None:
        coords["time"] = np.arange(n_times) / float(info["sfreq"])
    return coords


def _check_info(info, n_chans):
    if info is not None and len(info["ch_names"]) != n_chans:
        raise ModelMismatchError(
            f"info has {len(info['ch_names'])} channels but X has {n_chans}; pass the info of X."
        )


# -- Jacobians ---------------------------------------------------------------------------

def _jacobian_fn(work):
    """Per-trial Jacobians of a batch: ``(B, n_chans, n_times) -> (B, n_latents, n_chans, n_times)``.
    """
    from torch.func import jacrev, vmap

    def single(x):
        return work(x.unsqueeze(0)).squeeze(0)

    # Reverse mode: one vector-Jacobian product per latent (few) instead of one
    # JVP per input sample (n_chans * n_times); vmap batches both loops.
    vectorised = vmap(jacrev(single))

    def loop(xb):  # for models with ops that vmap cannot batch; exact in eval mode
        xb = xb.detach().requires_grad_(True)
        with torch.enable_grad():
            out = work(xb)
            rows = [torch.autograd.grad(out[:, k].sum(), xb, retain_graph=k < out.shape[1] - 1)[0]
                    for k in range(out.shape[1])]
        return torch.stack(rows, dim=1)

    state = {"fn": vectorised}

    def jac(xb):
        if state["fn"] is vectorised:
            try:
                return vectorised(xb)
            except (RuntimeError, NotImplementedError) as err:
                logger.info(f"vmap(jacrev) failed ({err}); using one backward pass per latent.")
                state["fn"] = loop
        return loop(xb)

    return jac


@verbose
def compute_jacobians(model, X, batch_size=32, double_precision=False, verbose=None):
    """Per-trial Jacobians of the model outputs with respect to the input.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(batch, n_chans, n_times)`` to ``(batch, n_latents)``. It is not
        modified (a frozen eval-mode copy is used, on the model's device).
    X : array, shape (n_trials, n_chans, n_times)
        Trials.
    batch_size : int
        Trials per vectorised batch (bounds peak memory).
    double_precision : bool
        Compute in float64.
    %(verbose)s

    Returns
    -------
    J : ndarray, shape (n_trials, n_latents, n_chans, n_times)
        ``J[i, k, c, t] = d f_k(x_i) / d x_i[c, t]``.
    """
    X = check_trials_array(X)
    batch_size = _check_batch_size(batch_size)
    dtype = torch.float64 if double_precision else torch.float32
    device = _model_device(model)
    work = _frozen_copy(model, dtype)
    _probe_outputs(work, X, device, dtype)
    jac = _jacobian_fn(work)
    return np.concatenate([jac(xb).cpu().numpy() for _, xb in _batches(X, batch_size, device, dtype,
                                                                        "Jacobians")])


def moore_penrose_conditions(A, A_pinv, rtol=None, atol=0.0):
    """The four Moore–Penrose conditions for a batch of matrices (torch, vectorised).

    Parameters
    ----------
    A : Tensor, shape (n, m, k)
    A_pinv : Tensor, shape (n, k, m)
    rtol : float | None
        Relative tolerance on the Frobenius norm of each residual. ``None``:
        ``1e-3`` if either input is float32 (or lower), else ``1e-7``.
    atol : float
        Absolute tolerance added to ``rtol * norm``.

    Returns
    -------
    ok : Tensor of bool, shape (n, 4)
        ``A A+ A = A``, ``A+ A A+ = A+``, ``(A A+)^H = A A+``, ``(A+ A)^H = A+ A``.

    Notes
    -----
    ``A+ A`` is ``k x k`` (k = n_chans * n_times, ~25 000 for a 4.5 s trial):
    far too big to form. With the QR decomposition ``[A+, A^H] = Q [R1, R2]``,
    ``A+ A = Q (R1 R2^H) Q^H`` and ``Q`` has orthonormal columns, so
    ``||A+ A - (A+ A)^H||_F = ||R1 R2^H - R2 R1^H||_F``: condition 4 is checked
    exactly from the ``2m x 2m`` triangular factor, at ``O(k m^2)`` cost.
    """
    if rtol is None:
        low = torch.finfo(A.dtype).bits <= 32 or torch.finfo(A_pinv.dtype).bits <= 32
        rtol = 1e-3 if low else 1e-7
    A = A.to(torch.float64) if not A.is_complex() else A.to(torch.complex128)
    P = A_pinv.to(A.dtype)
    H = lambda M: M.transpose(-2, -1).conj()  # noqa: E731

    def close(lhs, rhs):
        diff = torch.linalg.matrix_norm(lhs - rhs)
        return diff <= atol + rtol * torch.linalg.matrix_norm(rhs)

    AP = A @ P
    c1 = close(AP @ A, A)
    c2 = close(P @ AP, P)
    c3 = close(H(AP), AP)
    # [P, A^H] = Q R  =>  P = Q R1, A^H = Q R2  =>  P A = Q (R1 R2^H) Q^H with Q^H Q = I
    R = torch.linalg.qr(torch.cat([P, H(A)], dim=-1), mode="r").R
    C = R[..., :, : P.shape[-1]] @ H(R[..., :, P.shape[-1]:])
    c4 = close(H(C), C)
    return torch.stack([c1, c2, c3, c4], dim=-1)


@verbose
def jacobian_pinv_map(model, X, aggregate="mean", transform="none", batch_size=32,
                      double_precision=False, check_moore_penrose=True, rtol=None, info=None,
                      verbose=None):
    """CEBRA's Jacobian and inverted-Jacobian (pseudo-inverse) attribution maps.

    For each trial ``x_i`` the Jacobian ``J_i`` (``n_latents x n_chans*n_times``)
    of the model output and its Moore–Penrose pseudo-inverse ``J_i^+`` are
    computed; ``transform`` is applied to every per-trial matrix, which are then
    aggregated over trials. This is the "jacobian-based" map and its inversion
    of CEBRA's ``get_attribution_map`` / ``JFMethodBased``, with ``aggregate``
    and ``transform`` honoured.

    Parameters
    ----------
    model : torch.nn.Module
        Encoder ``(batch, n_chans, n_times) -> (batch, n_latents)``. It is not
        modified: its dtype, device, parameters and train/eval flag stay as
        they are (a frozen eval-mode copy on the model's device does the work).
    X : array, shape (n_trials, n_chans, n_times)
        Trials.
    aggregate : "mean" | "sum" | "max" | None
        Reduction over trials; ``None`` keeps one map per trial (memory grows
        with the number of trials).
    transform : "none" | "abs"
        Applied to each trial's ``J_i`` and ``J_i^+`` before aggregation (so
        that opposite signs in different trials do not cancel).
    batch_size : int
        Trials per vectorised batch (bounds peak memory).
    double_precision : bool
        Compute Jacobians and pseudo-inverses in float64 (on a float64 copy of
        the model). Recommended when the Moore–Penrose check fails.
    check_moore_penrose : bool
        Check the four Moore–Penrose conditions for every trial; a
        ``RuntimeWarning`` reports failures.
    rtol : float | None
        Relative cut-off of small singular values in ``torch.linalg.pinv``
        (``None``: its default ``max(m, n) * eps``).
    info : mne.Info | None
        Channel info for the ``"chan"`` axis (and ``coords["time"]``).
    %(verbose)s

    Returns
    -------
    maps : JacobianMaps
        Named tuple ``(jacobian, pinv, conditions)``: two :class:`Attribution`
        with axes ``("latent", "chan", "time")`` (``("trial", ...)`` first with
        ``aggregate=None``) and the ``(n_trials, 4)`` boolean condition array
        (``None`` if unchecked). ``pinv`` holds ``J_i^+`` transposed, i.e.
        ``pinv.data[k, c, t]`` is the entry of input ``(c, t)`` for latent ``k``.

    Notes
    -----
    The aggregated pseudo-inverse map is the aggregate of per-trial
    pseudo-inverses, not the pseudo-inverse of the aggregated Jacobian.
    Use :func:`channel_map` for a ``("latent", "chan")`` map.

    An encoder with unit-norm outputs (CEBRA's, and
    :class:`~neuroxai.models.encoder.ContrastiveEEGEncoder`) has Jacobians of
    rank ``n_latents - 1`` (the output cannot move along itself). The
    pseudo-inverse then depends on the cut-off of small singular values
    (``rtol``); in float32 the default cut-off removes the null direction, and
    the Moore–Penrose check tells whether what is left is consistent.

    ``J^+ = J^T (J J^T)^+`` is the Haufe pattern of the Jacobian under a
    white (identity) input covariance. With spatially correlated background
    activity the Jacobian and its pseudo-inverse both show how the encoder
    filters (including noise cancellation on channels without signal), not
    where the signal is: on data with correlated background, compare against
    perturbation maps (:func:`compute_latent_attributions` with
    ``method="feature_ablation"``) or covariance-based patterns.
    """
    X = check_trials_array(X)
    n, n_chans, n_times = X.shape
    _check_aggregate(aggregate)
    _check_choice("transform", transform, _TRANSFORMS)
    batch_size = _check_batch_size(batch_size)
    _check_info(info, n_chans)
    dtype = torch.float64 if double_precision else torch.float32
    device = _model_device(model)
    work = _frozen_copy(model, dtype)
    n_latents = _probe_outputs(work, X, device, dtype)
    jac = _jacobian_fn(work)

    agg_j = _Aggregator(aggregate, transform, n)
    agg_p = _Aggregator(aggregate, transform, n)
    conditions = []
    for _, xb in _batches(X, batch_size, device, dtype, "Jacobian pinv"):
        J = jac(xb).reshape(len(xb), n_latents, n_chans * n_times)
        P = torch.linalg.pinv(J, rtol=rtol) if rtol is not None else torch.linalg.pinv(J)
        if check_moore_penrose:
            conditions.append(moore_penrose_conditions(J, P).cpu().numpy())
        agg_j.add(J.reshape(len(xb), n_latents, n_chans, n_times))
        agg_p.add(P.transpose(1, 2).reshape(len(xb), n_latents, n_chans, n_times))

    params = dict(aggregate=aggregate, transform=transform, batch_size=batch_size,
                  double_precision=bool(double_precision), n_trials=int(n), rtol=rtol)
    conds = None
    if check_moore_penrose:
        conds = np.concatenate(conditions)
        params["moore_penrose_fraction_ok"] = conds.mean(axis=0).round(6).tolist()
        bad = ~conds.all(axis=1)
        if bad.any():
            failed = [f"{k + 1}: {int((~conds[:, k]).sum())}" for k in range(4)
                      if not conds[:, k].all()]
            warnings.warn(
                f"The pseudo-inverse failed the Moore–Penrose conditions in {int(bad.sum())} of "
                f"{n} trials (failures per condition {', '.join(failed)}): the Jacobians are "
                "numerically rank deficient or the precision is too low. Retry with "
                "double_precision=True, or read the pinv map with care.",
                RuntimeWarning, stacklevel=2,
            )
    dims = ("latent", "chan", "time") if aggregate is not None else ("trial", "latent", "chan",
                                                                      "time")
    coords = _coords(n_latents, n_times, info)
    jmap = Attribution(agg_j.result(), dims, info=info, method="jacobian", params=dict(params),
                       coords=dict(coords))
    pmap = Attribution(agg_p.result(), dims, info=info, method="jacobian_pinv", params=params,
                       coords=coords)
    return JacobianMaps(jmap, pmap, conds)


# -- captum methods per latent -----------------------------------------------------------

def _feature_mask(feature_mask, n_chans, n_times, device):
    if feature_mask is None:
        return None, n_chans * n_times
    if isinstance(feature_mask, str):
        if feature_mask != "chan":
            raise unknown_name("feature_mask", feature_mask, ["chan"])
        mask = np.repeat(np.arange(n_chans)[:, None], n_times, axis=1)
    else:
        mask = np.asarray(feature_mask)
        if mask.shape != (n_chans, n_times) or not np.issubdtype(mask.dtype, np.integer):
            raise InvalidInputError(
                f"feature_mask must be 'chan', None or an int array of shape ({n_chans}, "
                f"{n_times}) giving each sample's group, got shape {mask.shape}, dtype "
                f"{mask.dtype}."
            )
    return torch.as_tensor(mask[None], device=device, dtype=torch.long), len(np.unique(mask))


def _baselines(baselines, X, method, rng):
    """Baselines as an array broadcastable to X (or a sample set for GradientShap)."""
    if baselines is None or (isinstance(baselines, str) and baselines == "zeros"):
        return np.zeros((1,) + X.shape[1:], np.float32)
    if isinstance(baselines, str):
        if baselines != "shuffle":
            raise unknown_name("baselines", baselines, ["zeros", "shuffle"])
        # CEBRA's "shuffle": the data's values at random positions (seeded).
        return rng.permutation(X.ravel()).reshape(X.shape)
    b = check_trials_array(baselines[None] if np.ndim(baselines) == 2 else baselines, "baselines")
    if b.shape[1:] != X.shape[1:] or (method != "gradient_shap" and len(b) not in (1, len(X))):
        raise InvalidInputError(
            f"baselines must have shape (n_chans, n_times) = {X.shape[1:]}, (1, ...) or (n_trials, "
            f"...) (any number of baselines for gradient_shap); got {b.shape}."
        )
    return b


@verbose
def compute_latent_attributions(model, X, method="gradient", latents=None, aggregate="mean",
                                transform="none", baselines=None, n_steps=50, n_samples=5,
                                stdevs=0.0, feature_mask="chan", perturbations_per_eval=4,
                                batch_size=32, seed=0, info=None, verbose=None):
    """Encoder-side captum attributions, one map per latent (CEBRA's other methods).

    Parameters
    ----------
    model : torch.nn.Module
        Encoder ``(batch, n_chans, n_times) -> (batch, n_latents)``; not modified
        (an eval-mode frozen copy is used, on the model's device).
    X : array, shape (n_trials, n_chans, n_times)
        Trials.
    method : "gradient" | "feature_ablation" | "integrated_gradients" | "gradient_shap"
        Captum engine: ``NeuronGradient`` (layer = the whole model, neuron =
        latent, like CEBRA), ``FeatureAblation``, ``IntegratedGradients`` or
        ``GradientShap`` with ``target`` = latent index.
    latents : list of int | None
        Latents to explain (default: all).
    aggregate : "mean" | "sum" | "max" | None
        Reduction over trials; ``None`` keeps one map per trial.
    transform : "none" | "abs"
        Applied to each trial's map before aggregation.
    baselines : None | "zeros" | "shuffle" | array
        Reference input of feature ablation, integrated gradients and gradient
        SHAP: zeros (default), CEBRA's "shuffle" (the data's values at random
        positions, seeded), or an array ``(n_chans, n_times)`` / ``(1 or n_trials,
        n_chans, n_times)`` (any number of baselines for gradient SHAP).
    n_steps : int
        Integration steps of integrated gradients.
    n_samples, stdevs : int, float
        Samples per input and noise level of gradient SHAP.
    feature_mask : "chan" | None | array of int, shape (n_chans, n_times)
        Groups ablated together by feature ablation: whole channels (default),
        every sample separately (``None``: n_chans * n_times forward passes per
        trial and latent — slow), or given groups.
    perturbations_per_eval : int
        Ablated copies per forward pass (feature ablation).
    batch_size : int
        Trials per batch (bounds peak memory; also captum's internal batch).
    seed : int
        Seeds "shuffle" baselines and gradient SHAP's sampling.
    info : mne.Info | None
        Channel info for the ``"chan"`` axis.
    %(verbose)s

    Returns
    -------
    attribution : Attribution
        Axes ``("latent", "chan", "time")``, or ``("trial", "latent", "chan",
        "time")`` with ``aggregate=None``; ``coords["latent"]`` holds the
        latent indices.
    """
    from captum.attr import FeatureAblation, GradientShap, IntegratedGradients, NeuronGradient

    X = check_trials_array(X)
    n, n_chans, n_times = X.shape
    _check_choice("method", method, LATENT_METHODS)
    _check_aggregate(aggregate)
    _check_choice("transform", transform, _TRANSFORMS)
    batch_size = _check_batch_size(batch_size)
    _check_info(info, n_chans)
    device = _model_device(model)
    work = _frozen_copy(model)
    dtype = next((p.dtype for p in work.parameters() if p.is_floating_point()), torch.float32)
    n_latents = _probe_outputs(work, X, device, dtype)
    if latents is None:
        latents = list(range(n_latents))
    latents = [int(k) for k in np.atleast_1d(latents)]
    bad = [k for k in latents if not 0 <= k < n_latents]
    if bad:
        raise InvalidInputError(
            f"latents {bad} are out of range: the model has {n_latents} latents.")
    for name, val in [("n_steps", n_steps), ("n_samples", n_samples),
                      ("perturbations_per_eval", perturbations_per_eval)]:
        if int(val) != val or val < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {val!r}.")
    rng = np.random.default_rng(seed)
    base = None if method == "gradient" else _baselines(baselines, X, method, rng)
    mask, n_groups = _feature_mask(feature_mask, n_chans, n_times, device)
    if method == "feature_ablation" and n_groups > 1000:
        logger.warning(f"Feature ablation over {n_groups} groups: {n_groups} forward passes per "
                       "batch and latent. Pass feature_mask='chan' for a faster, coarser map.")

    engine = {
        "gradient": lambda: NeuronGradient(work, work),
        "feature_ablation": lambda: FeatureAblation(work),
        "integrated_gradients": lambda: IntegratedGradients(work),
        "gradient_shap": lambda: GradientShap(work),
    }[method]()
    agg = _Aggregator(aggregate, transform, n)
    for b_idx, (s, xb) in enumerate(_batches(X, batch_size, device, dtype, method)):
        if base is not None and len(base) == n and method != "gradient_shap":
            bb = torch.as_tensor(base[s:s + len(xb)], device=device, dtype=dtype)
        elif base is not None:
            bb = torch.as_tensor(base, device=device, dtype=dtype)
        if method != "feature_ablation":
            xb.requires_grad_(True)  # captum warns when it has to switch this on itself
        maps = []
        with _seeded(seed + b_idx, device):  # GradientShap draws from numpy's and torch's RNGs
            for k in latents:
                if method == "gradient":
                    a = engine.attribute(xb, neuron_selector=k)
                elif method == "feature_ablation":
                    a = engine.attribute(xb, baselines=bb, target=k, feature_mask=mask,
                                         perturbations_per_eval=int(perturbations_per_eval))
                elif method == "integrated_gradients":
                    a = engine.attribute(xb, baselines=bb, target=k, n_steps=int(n_steps),
                                         internal_batch_size=batch_size)
                else:
                    a = engine.attribute(xb, baselines=bb, target=k, n_samples=int(n_samples),
                                         stdevs=float(stdevs))
                maps.append(a.detach())
        agg.add(torch.stack(maps, dim=1))

    dims = ("latent", "chan", "time") if aggregate is not None else ("trial", "latent", "chan",
                                                                      "time")
    coords = _coords(n_latents, n_times, info)
    coords["latent"] = np.asarray(latents)
    params = dict(aggregate=aggregate, transform=transform, batch_size=batch_size, seed=seed,
                  n_trials=int(n), latents=latents)
    if method == "integrated_gradients":
        params["n_steps"] = int(n_steps)
    if method == "gradient_shap":
        params.update(n_samples=int(n_samples), stdevs=float(stdevs))
    def label(v):  # arrays are not kept in params (JSON-friendly provenance)
        return v if v is None or isinstance(v, str) else "custom"

    if method == "feature_ablation":
        params.update(feature_mask=label(feature_mask),
                      perturbations_per_eval=int(perturbations_per_eval))
    if base is not None:
        params["baselines"] = label(baselines)
    return Attribution(agg.result(), dims, info=info, method=f"latent_{method}", params=params,
                       coords=coords)


def channel_map(attribution, transform="abs", reduce="mean"):
    """Reduce the ``"time"`` axis of an attribution, e.g. to ``("latent", "chan")``.

    Parameters
    ----------
    attribution : Attribution
        An attribution with a ``"time"`` axis.
    transform : "abs" | "none"
        Applied before reducing over time (CEBRA's "convabs" maps take the
        absolute value first, so that opposite signs do not cancel).
    reduce : "mean" | "sum" | "max"
        Reduction over time.

    Returns
    -------
    attribution : Attribution
        Same axes without ``"time"``; ``method`` gets a ``"|chan"`` suffix.
    """
    if not isinstance(attribution, Attribution):
        raise InvalidInputError(
            f"channel_map() takes an Attribution, got {type(attribution).__name__}."
        )
    _check_choice("transform", transform, _TRANSFORMS)
    _check_choice("reduce", reduce, _AGGREGATES)
    ax = attribution.axis("time")
    data = np.asarray(attribution.data)
    if transform == "abs":
        data = np.abs(data)
    data = {"mean": np.mean, "sum": np.sum, "max": np.max}[reduce](data, axis=ax)
    dims = tuple(d for d in attribution.dims if d != "time")
    coords = {k: v for k, v in attribution.coords.items() if k != "time"}
    params = dict(attribution.params, channel_transform=transform, channel_reduce=reduce)
    return Attribution(data, dims, info=attribution.info, method=f"{attribution.method}|chan",
                       params=params, coords=coords)


def jacobian_spatial_patterns(jacobian, X, transform="abs"):
    """Haufe-transform Jacobian maps with the channel covariance of the data.

    A Jacobian (or its pseudo-inverse) map describes how the encoder *filters* the
    channels — including the noise it cancels on channels without signal — not where the
    signal is. Multiplying by the channel covariance ``C`` (Haufe et al., 2014, applied per
    time sample of the map) turns the filter into a pattern: ``P[..., c, t] = sum_e C[c, e]
    J[..., e, t]``. Only the ``chan x chan`` covariance is formed, never ``(chan*time)^2``.

    Parameters
    ----------
    jacobian : Attribution
        From :func:`jacobian_pinv_map` with ``transform="none"`` (best per trial:
        ``aggregate=None``); axes ending in ``("chan", "time")``.
    X : array, shape (n_trials, n_chans, n_times)
        Data whose channel covariance is used (e.g. the trials the maps were computed on).
    transform : ``"abs"`` | ``"none"``
        Applied after the transform; a ``"trial"`` axis is then averaged away.

    Returns
    -------
    patterns : Attribution
    """
    from .._utils import check_trials_array, unknown_name

    if transform not in ("abs", "none"):
        raise unknown_name("transform", transform, ("abs", "none"))
    X = check_trials_array(X, "X")
    if tuple(jacobian.dims[-2:]) != ("chan", "time") or X.shape[1] != jacobian.shape[-2]:
        raise ShapeError(f"jacobian must end in (chan, time) with {X.shape[1]} channels; got "
                         f"dims {jacobian.dims} and shape {jacobian.shape}.")
    flat = X.transpose(1, 0, 2).reshape(X.shape[1], -1).astype(np.float64)
    cov = np.cov(flat)
    data = np.einsum("ce,...et->...ct", cov, np.asarray(jacobian.data, dtype=np.float64))
    if transform == "abs":
        data = np.abs(data)
    dims = jacobian.dims
    if dims[0] == "trial":
        data, dims = data.mean(axis=0), dims[1:]
    return Attribution(data, dims, info=jacobian.info, method="jacobian_spatial_patterns",
                       params=dict(transform=transform, source=jacobian.method),
                       coords=dict(jacobian.coords))
