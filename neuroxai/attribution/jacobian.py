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
* Jacobians are computed for a batch of trials at once (one backward pass per
  latent; per trial with ``torch.func.vmap(jacrev)`` for models that mix the
  trials of a batch) and pseudo-inverted from the ``n_latents x n_latents``
  Gram matrix ``J_i J_i^H`` when ``J_i`` is well conditioned, else through a
  thin QR decomposition of ``J_i^H`` (the same result as ``torch.linalg.pinv``
  / ``numpy.linalg.pinv`` to rounding, several times faster for a wide
  ``J_i``), trial batches bounded by ``batch_size``;
* the Moore–Penrose conditions are checked for every trial, from products of
  ``J_i``-sized and ``n_latents x n_latents`` matrices (never ``(n_chans *
  n_times)^2``).
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
    ModelMismatchError,
    ShapeError,
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
# Trials per pseudo-inverse / Moore-Penrose step: their (chunk, 2 n_latents, n_inputs)
# temporaries then stay small enough for the allocator to reuse (fresh multi-MB
# allocations cost page faults that took longer than the arithmetic).
_LINALG_CHUNK = 4
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

def _trials_independent(work, xb):
    """Whether the model maps each trial on its own (batch output == per-trial outputs)."""
    with torch.no_grad():
        together = work(xb)
        alone = torch.cat([work(x[None]) for x in xb])
    tol = 1e-4 if torch.finfo(together.dtype).bits <= 32 else 1e-9
    return bool(torch.allclose(together, alone, rtol=tol,
                               atol=tol * float(together.abs().max().clamp_min(1e-30))))


def _jacobian_fn(work):
    """Per-trial Jacobians of a batch ``(B, n_chans, n_times) -> (B, n_latents, n_chans, n_times)``.

    With trials processed independently (any usual model in eval mode), the gradient of
    ``sum_i f_k(x_i)`` with respect to ``x_i`` is row ``k`` of ``J_i``: one backward pass
    over the whole batch per latent (reverse mode: few latents, many inputs). This is
    faster on the CPU than ``vmap(jacrev)`` (whose batching rules add overhead to every
    op); the latter, exactly per trial, is used for models that mix the trials of a batch.
    """
    from torch.func import jacrev, vmap

    def by_latent(xb, out=None):
        xb = xb.detach().requires_grad_(True)
        with torch.enable_grad():
            f = work(xb)
            if not f.requires_grad:  # the output does not depend on the input
                return xb.new_zeros((len(xb), f.shape[1]) + xb.shape[1:])
            rows = [torch.autograd.grad(f[:, k].sum(), xb, retain_graph=k < f.shape[1] - 1,
                                        materialize_grads=True)[0]
                    for k in range(f.shape[1])]
        if out is not None and out.shape == (len(xb), len(rows)) + xb.shape[1:]:
            return torch.stack(rows, dim=1, out=out)
        return torch.stack(rows, dim=1)

    def single(x):
        return work(x.unsqueeze(0)).squeeze(0)

    vectorised = vmap(jacrev(single))

    def per_trial(xb, out=None):
        if state.get("vmap", True):
            try:
                return vectorised(xb)
            except (RuntimeError, NotImplementedError) as err:
                logger.info(f"vmap(jacrev) failed ({err}); using one backward pass per latent "
                            "and trial.")
                state["vmap"] = False
        return torch.cat([by_latent(x[None]) for x in xb])

    state = {}

    def jac(xb, out=None):
        """``out``: an optional buffer for the result (reusing one avoids the page faults of
        a fresh multi-MB allocation per batch, which cost more than the copy into it)."""
        if "fn" not in state and len(xb) > 1:
            independent = _trials_independent(work, xb[:4])
            if not independent:
                logger.info("The model's output for a trial depends on the other trials of the "
                            "batch; computing the Jacobians trial by trial.")
            state["fn"] = by_latent if independent else per_trial
        return state.get("fn", by_latent)(xb, out)

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

    Notes
    -----
    One backward pass per latent through the whole batch; a model whose output
    for a trial depends on the other trials of the batch (detected on the first
    batch) is differentiated trial by trial (``torch.func.vmap(jacrev)``).
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


def _H(M):
    return M.transpose(-2, -1).conj()


#: Largest condition number for which the Gram route is taken: its errors grow like
#: ``eps * cond^2`` (<= 2e-12 relative here) instead of the SVD's ``eps * cond``.
_GRAM_MAX_COND = 100.0


class _RowBasis(NamedTuple):
    """An orthonormal basis ``Q`` of the row space of ``A`` (n, m, k), ``A^H = Q R``.

    ``Q^H = left @ right`` (``left`` is ``None`` for the identity): from a Householder QR
    ``right = Q^H``; from the Gram matrix ``G = A A^H`` of a well-conditioned ``A``,
    ``left = G^{-1/2}``, ``right = A`` and ``R = G^{1/2}`` (then ``Q`` is never formed).
    """

    left: torch.Tensor | None
    right: torch.Tensor
    R: torch.Tensor


def _gram_eigh(A):
    lam, V = torch.linalg.eigh(A @ _H(A))
    return lam.clamp_min(0), V


def _gram_ok(lam, rtol):
    """Whether the Gram route is exact to rounding for every matrix: condition number at
    most ``_GRAM_MAX_COND`` and the smallest singular value at least twice the cut-off
    (the Gram eigenvalues give the singular values to ``eps * cond^2`` relative, so the
    keep/cut decision is then the SVD's)."""
    top, low = lam[..., -1:], lam[..., :1]
    return bool((top > 0).all() and (low * _GRAM_MAX_COND ** 2 >= top).all()
                and (low >= (2 * rtol) ** 2 * top).all())


def _from_eigh(lam, V, power):
    return (V * lam[..., None, :].pow(power).to(V.dtype)) @ _H(V)


def _row_basis(A, force_qr=False):
    m, k = A.shape[-2:]
    if not force_qr and m <= k:
        lam, V = _gram_eigh(A)
        if _gram_ok(lam, 0.0):
            return _RowBasis(_from_eigh(lam, V, -0.5), A, _from_eigh(lam, V, 0.5))
    Q, R = torch.linalg.qr(_H(A))
    return _RowBasis(None, _H(Q), R)


def _pinv(J, rtol=None, force_qr=False):
    """``torch.linalg.pinv`` of a batch of wide matrices ``J`` (n, m, k), m <= k, and a basis
    of their row spaces for :func:`_mp_residuals`.

    Same cut-off as ``torch.linalg.pinv``: singular values ``S <= rtol * S_max`` are dropped,
    ``rtol = max(m, k) * eps`` by default. Two exact routes, both O(k m^2) and a few times
    faster than LAPACK's SVD of a wide matrix (which sweeps all ``k`` columns):

    * well-conditioned ``J`` (``cond <= 100``, nothing near the cut-off; e.g. every
      Jacobian of an encoder without output normalisation): ``J^+ = J^H G^{-1}`` with the
      ``m x m`` Gram matrix ``G = J J^H`` (in float64); relative error ``<= eps64 *
      cond^2`` (2e-12) on top of the rounding of the final product in J's precision;
    * otherwise (e.g. the rank ``n_latents - 1`` Jacobians of a unit-norm encoder):
      ``J^H = Q R`` (Householder, backward stable) and the SVD of the small ``R^H = U S
      V^H`` give ``J = U S (Q V)^H``, an SVD of ``J`` as accurate as ``torch.linalg.svd``'s,
      so ``J^+ = Q V S^+ U^H``. (The Gram route would keep a null direction at
      ``sqrt(eps)`` instead of cutting it.)

    Returns ``(J^+, basis)``; ``J^+`` is the adjoint view of a row-major ``(n, m, k)``
    tensor, so that ``J^+^H`` reshapes to a per-latent map without a copy. The Gram
    route's basis factors are float64.
    """
    if rtol is None:
        rtol = max(J.shape[-2:]) * torch.finfo(J.dtype).eps
    if not force_qr:
        # the small factors in float64 whatever J's precision: then only the final product
        # with J rounds in J's precision, as the SVD route's does
        lam, V = _gram_eigh(_to_double(J))
        if _gram_ok(lam, rtol):
            P_H = _from_eigh(lam, V, -1.0).to(J.dtype) @ J
            return _H(P_H), _RowBasis(_from_eigh(lam, V, -0.5), J, _from_eigh(lam, V, 0.5))
    Q, R = torch.linalg.qr(_H(J))
    U, S, Vh = torch.linalg.svd(_H(R), full_matrices=False)
    tol = rtol * S[..., :1]  # singular values come sorted in descending order
    S_inv = torch.where(S > tol, S.reciprocal(), torch.zeros_like(S))
    P_H = (U * S_inv[..., None, :].to(U.dtype)) @ Vh @ _H(Q)  # (J^+)^H = U S^+ V^H Q^H
    return _H(P_H), _RowBasis(None, _H(Q), R)


def _mp_residuals(A, P, basis):
    """Residual and reference norms of the four Moore–Penrose conditions.

    ``basis`` (:class:`_RowBasis`) gives ``A^H = Q R`` with orthonormal ``Q``; for a wide
    ``A`` (n, m, k), m <= k, every product below is ``m x m``, ``m x k`` or ``2m x k``
    (O(k m^2)): the ``k x k`` matrix ``P A`` is never formed. With ``C = Q^H P``,
    ``P_perp = P - Q C`` (orthogonal to ``Q``) and ``E = A P - I``:

    * ``A P A - A = E R^H Q^H``, so ``||A P A - A|| = ||E R^H||``;
    * ``P A P - P = Q C E + P_perp E``, two orthogonal terms;
    * ``P A = Q X Q^H + P_perp R^H Q^H`` with ``X = C R^H``: the two terms (and the adjoint
      of the second) are orthogonal in the Frobenius inner product, so
      ``||P A - (P A)^H||^2 = ||X - X^H||^2 + 2 ||P_perp R^H||^2`` and
      ``||P A||^2 = ||X||^2 + ||P_perp R^H||^2``.

    ``P_perp [E, R^H]`` is computed explicitly (as ``W P^H - (W C^H) Q^H``, ``W = [E^H;
    R]``), not from Gram matrices, whose differences would lose half the digits.

    Returns ``(diff, ref)``, each (n, 4): condition ``j`` holds when
    ``diff[:, j] <= atol + rtol * ref[:, j]``.
    """
    def fro(M, dim=(-2, -1)):  # fused: no squared temporary of the big matrices
        return torch.linalg.vector_norm(M, dim=dim)

    left, right, R = basis
    m = A.shape[-2]
    AP = A @ P
    E = AP - torch.eye(m, dtype=AP.dtype, device=AP.device)
    if left is None:
        C = right @ P
    else:  # right is A itself
        C = left @ AP
    W = torch.cat([_H(E), R], dim=-2)  # (2m, m)
    WCQ = W @ _H(C) if left is None else W @ _H(C) @ left
    ZH = W @ _H(P)  # (2m, k), row-major; minus (W C^H) Q^H below, in place
    ZH = ZH.baddbmm_(WCQ, right, alpha=-1) if ZH.ndim == 3 else ZH - WCQ @ right
    z_rows = fro(ZH, dim=-1)
    pe, y = fro(z_rows[..., :m], dim=-1), fro(z_rows[..., m:], dim=-1)
    X = C @ _H(R)

    def hyp(a, b):
        return torch.sqrt(a ** 2 + b ** 2)

    diff = [fro(E @ _H(R)), hyp(fro(C @ E), pe), fro(_H(AP) - AP),
            hyp(fro(X - _H(X)), 2 ** 0.5 * y)]
    ref = [fro(R), fro(P), fro(AP), hyp(fro(X), y)]
    return torch.stack(diff, dim=-1), torch.stack(ref, dim=-1)


def _mp_conditions(A, P, basis, rtol, atol):
    diff, ref = _mp_residuals(A, P, basis)
    return diff <= atol + rtol * ref


def _default_mp_rtol(*tensors):
    low = any(torch.finfo(t.dtype).bits <= 32 for t in tensors)
    return 1e-3 if low else 1e-7


def _to_double(t):
    return t.to(torch.complex128 if t.is_complex() else torch.float64)


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
    Computed in float64 (complex128 for complex input). For ``m <= k`` (e.g. a
    Jacobian, ``n_latents x n_chans * n_times`` with ``k`` ~25 000 for a 4.5 s
    trial) ``A+ A`` is ``k x k``: far too big to form. With an orthonormal basis
    ``Q`` (``k x m``) of the row space of ``A``, ``A^H = Q R``, and ``A+ = Q C +
    P_perp`` (``P_perp`` orthogonal to ``Q``), all four residual norms are
    computed exactly from ``m x m``, ``m x k`` and ``2m x k`` products (O(k m^2)
    per matrix). ``Q`` comes from ``G^{-1/2}`` (``G = A A^H``) for an ``A`` with
    condition number <= 100, else from a Householder QR of ``A^H``. A tall ``A``
    (``m > k``) is checked through its adjoint (the conditions are symmetric
    under ``(A, A+) -> (A^H, A+^H)``, conditions 3 and 4 swapping).
    """
    if rtol is None:
        rtol = _default_mp_rtol(A, A_pinv)
    A = _to_double(A)
    P = _to_double(A_pinv).to(A.dtype)
    if A.shape[-2] > A.shape[-1]:
        return moore_penrose_conditions(_H(A), _H(P), rtol=rtol, atol=atol)[..., [0, 1, 3, 2]]
    return _mp_conditions(A, P, _row_basis(A), rtol, atol)


class _SpectralFrontEnd(NamedTuple):
    """An encoder whose input enters only through ``scale * rfft(x)[lo:hi]`` (complex).

    Its Jacobian factors as ``J = A Q^T``: ``A`` (n_latents x 2 (hi - lo) n_chans) holds
    the gradients with respect to those Fourier coefficients, and ``Q`` (orthonormal
    columns: cosines and sines of whole periods) maps them to the time domain. Everything
    the pseudo-inverse map needs then happens on ``A``, 3.5x narrower than ``J`` for
    ContrastiveEEGEncoder on BCI IV 2a trials, without an inverse FFT per latent and trial:
    ``J^+ = Q A^+``, ``J J^T = A A^T`` and the Moore-Penrose residuals are the same, and a
    mean over trials of ``Q``-images is the ``Q``-image of the mean (two inverse FFTs in all).
    """

    lo: int
    hi: int
    scale: float
    n_times: int

    def coefficients(self, work, xb):
        with torch.no_grad():
            return work.spectrum(xb)

    @property
    def alpha(self):
        """Rows of ``A`` are ``alpha`` times the gradients w.r.t. the coefficients."""
        return self.scale * (self.n_times / 2.0) ** 0.5

    def to_time(self, U, n_chans):
        """``Q U`` for rows ``U`` (..., 2 n_chans n_bins) -> (..., n_chans, n_times)."""
        Uc = torch.view_as_complex(U.reshape(U.shape[:-1] + (n_chans, self.hi - self.lo, 2))
                                   .contiguous())
        H = Uc.new_zeros(Uc.shape[:-1] + (self.n_times // 2 + 1,))
        H[..., self.lo:self.hi] = Uc * (self.n_times / 2.0) ** 0.5
        return torch.fft.irfft(H, n=self.n_times, dim=-1)


def _spectral_front_end(work, n_times):
    """The front end of a :class:`~neuroxai.models.encoder.ContrastiveEEGEncoder` (exactly
    that class: a subclass may change ``forward``), when its band has neither the DC nor
    the Nyquist bin (whose sines vanish); else ``None`` (the generic route)."""
    from ..models.encoder import ContrastiveEEGEncoder

    if type(work) is not ContrastiveEEGEncoder:
        return None
    lo, hi = work._bins
    if lo == 0 or (n_times % 2 == 0 and hi > n_times // 2):
        return None
    # spectrum() is rfft(x * input_scale, norm="forward")
    return _SpectralFrontEnd(lo, hi, float(work.input_scale) / n_times, n_times)


def _spectral_rows(work, front, xb):
    """Rows of ``A`` for a batch: (B, n_latents, 2 n_chans n_bins)."""
    G = work.coefficient_jacobian(front.coefficients(work, xb))
    # (B, n_latents, n_chans, n_bins) complex, contiguous: its real view is A's rows
    return torch.view_as_real(G.mul_(front.alpha)).flatten(-3)


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
        Relative cut-off of small singular values, as in ``torch.linalg.pinv``:
        singular values ``<= rtol * sigma_max`` are dropped (``None``: its
        default ``max(m, n) * eps``).
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

    The Jacobians of a batch come from one backward pass per latent through the
    whole batch, which is exact when the model maps each trial on its own (any
    usual model in eval mode); on the first batch the outputs of a few trials
    alone are compared with their outputs in the batch, and a model that mixes
    trials is differentiated trial by trial instead. For
    :class:`~neuroxai.models.encoder.ContrastiveEEGEncoder`, whose input enters only through
    its in-band Fourier coefficients, ``J_i = A_i Q^T`` with orthonormal ``Q`` (cosines and
    sines): the pseudo-inverse and the Moore–Penrose check run on the narrower ``A_i``
    (``J_i^+ = Q A_i^+``), and mean/sum maps take two inverse FFTs in all (equal to the
    generic route to rounding, tested). ``J_i^+`` is what
    ``torch.linalg.pinv`` gives (same singular-value cut-off, equal to
    rounding), at a fraction of its cost: ``J_i^H (J_i J_i^H)^{-1}`` from the
    small Gram matrix when ``J_i`` has condition number <= 100 and no singular
    value near the cut-off (errors ``<= eps * cond^2``), else from a thin QR
    decomposition of ``J_i^H`` and the SVD of its small triangular factor (an
    SVD of ``J_i`` as accurate as LAPACK's).

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
    mp_rtol = _default_mp_rtol(torch.empty(0, dtype=dtype))

    agg_j = _Aggregator(aggregate, transform, n)
    agg_p = _Aggregator(aggregate, transform, n)
    conditions = []
    front = _spectral_front_end(work, n_times)
    # with a linear reduction, sums of the rows of A and A^+ are mapped to time at the end
    linear = front is not None and aggregate in ("mean", "sum") and transform == "none"
    sums = [0.0, 0.0]
    if front is None:
        jac = _jacobian_fn(work)
        # one Jacobian buffer for all batches, unless the per-trial maps keep its memory
        buf = (torch.empty((min(batch_size, n), n_latents, n_chans, n_times), dtype=dtype,
                           device=device) if aggregate is not None else None)
    else:
        # the cut-off of torch.linalg.pinv(J) depends on J's (not A's) shape
        rtol_j = rtol if rtol is not None else (max(n_latents, n_chans * n_times)
                                                * torch.finfo(dtype).eps)
    for _, xb in _batches(X, batch_size, device, dtype, "Jacobian pinv"):
        if front is not None:
            J = _spectral_rows(work, front, xb)
            if linear:
                sums[0] = sums[0] + J.sum(dim=0, dtype=torch.float64)
            else:
                agg_j.add(front.to_time(J, n_chans))
        else:
            out = None if buf is None else buf[:len(xb)]
            J = jac(xb, out).reshape(len(xb), n_latents, n_chans * n_times)
            agg_j.add(J.reshape(len(xb), n_latents, n_chans, n_times))
        # A's rows are 3.5x shorter than J's: 4x the trials per chunk, about the same bytes
        chunk = _LINALG_CHUNK if front is None else 4 * _LINALG_CHUNK
        for s in range(0, len(J), chunk):
            Jc = J[s:s + chunk]
            P, basis = _pinv(Jc, rtol if front is None else rtol_j)
            if check_moore_penrose:
                Jd = _to_double(Jc)
                left, right, R = basis  # right is Jc itself when left is not None
                basis = _RowBasis(None if left is None else _to_double(left),
                                  _to_double(right) if left is None else Jd, _to_double(R))
                conditions.append(_mp_conditions(Jd, _to_double(P), basis, mp_rtol,
                                                 0.0).cpu().numpy())
            if front is None:
                agg_p.add(_H(P).reshape(len(Jc), n_latents, n_chans, n_times))
            elif linear:
                sums[1] = sums[1] + _H(P).sum(dim=0, dtype=torch.float64)
            else:
                agg_p.add(front.to_time(_H(P), n_chans))
    if linear:  # Q (sum of rows) = sum of Q-images: two inverse FFTs in all
        for agg, total in zip((agg_j, agg_p), sums):
            agg.acc = front.to_time(total, n_chans)

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
    X : array, shape (n_trials, n_chans, n_times_X)
        Data whose channel covariance is used (e.g. the trials the maps were computed on).
        Only the covariance enters, so ``X`` may be band-passed and cut to a time window
        (any ``n_times_X``) for a pattern of the activity in that band and window: on the
        simulated spatial regime, the 8-13 Hz / burst-window covariance gave a clearly
        higher channel AUC than the broadband one (``benchmarks/jacobian_auc.py``).
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
