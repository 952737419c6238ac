"""Moore–Penrose pseudo-inverses of wide matrices and the check of the four conditions.

A per-trial Jacobian ``J`` is ``n_latents x (n_chans * n_times)``: a few rows, tens of
thousands of columns. Two things here exploit that shape:

* :func:`_pinv` gives ``torch.linalg.pinv(J)`` (same singular-value cut-off, equal to
  rounding) from the small Gram matrix ``J J^H`` when ``J`` is well conditioned, else from a
  thin QR of ``J^H``. ``benchmarks/bench_jacobian.py`` ("pseudo-inverse of per-trial
  Jacobians") times it against ``torch.linalg.pinv``, whose SVD sweeps all the columns;
  ``tests/test_encoder_jacobian.py`` checks it against ``numpy.linalg.pinv``.
* :func:`check_moore_penrose_conditions` never forms the ``k x k`` matrix ``J^+ J``
  (24 750² float64 = 4.9 GB for a 4.5 s trial at 250 Hz): it is not a speed path but the
  only way to run the check at all, and is tested against the explicit products.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .._core.validation import check_float
from .._utils import ShapeError, check_finite

__all__ = ["check_moore_penrose_conditions"]

#: Largest condition number for which the Gram route is taken: its errors grow like
#: ``eps * cond^2`` (<= 2e-12 relative here) instead of the SVD's ``eps * cond``.
_GRAM_MAX_COND = 100.0


def _H(M):
    return M.transpose(-2, -1).conj()


def _to_double(t):
    return t.to(torch.complex128 if t.is_complex() else torch.float64)


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


def _row_basis(A):
    if A.shape[-2] <= A.shape[-1]:
        lam, V = _gram_eigh(A)
        if _gram_ok(lam, 0.0):
            return _RowBasis(_from_eigh(lam, V, -0.5), A, _from_eigh(lam, V, 0.5))
    Q, R = torch.linalg.qr(_H(A))
    return _RowBasis(None, _H(Q), R)


def _pinv(J, rtol=None, force_qr=False):
    """``torch.linalg.pinv`` of a batch of wide matrices ``J`` (n, m, k), m <= k, and a basis
    of their row spaces for :func:`_mp_residuals`.

    Same cut-off as ``torch.linalg.pinv``: singular values ``S <= rtol * S_max`` are dropped,
    ``rtol = max(m, k) * eps`` by default. Two exact routes, both O(k m^2):

    * well-conditioned ``J`` (``cond <= 100``, nothing near the cut-off; e.g. every
      Jacobian of an encoder without output normalisation): ``J^+ = J^H G^{-1}`` with the
      ``m x m`` Gram matrix ``G = J J^H`` (in float64); relative error ``<= eps64 *
      cond^2`` (2e-12) on top of the rounding of the final product in J's precision;
    * otherwise (e.g. the rank ``n_latents - 1`` Jacobians of a unit-norm encoder):
      ``J^H = Q R`` (Householder, backward stable) and the SVD of the small ``R^H = U S
      V^H`` give ``J = U S (Q V)^H``, an SVD of ``J`` as accurate as ``torch.linalg.svd``'s,
      so ``J^+ = Q V S^+ U^H``. (The Gram route would keep a null direction at
      ``sqrt(eps)`` instead of cutting it; the plain ``J^H (J J^H)^{-1}`` cannot cut.)

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
    C = right @ P if left is None else left @ AP  # right is A itself when left is given
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


def _mp_conditions(A, P, basis, rtol, atol=0.0):
    diff, ref = _mp_residuals(A, P, basis)
    return diff <= atol + rtol * ref


def _default_mp_rtol(*dtypes):
    return 1e-3 if any(torch.finfo(d).bits <= 32 for d in dtypes) else 1e-7


def _mp_check_pinv(J, P, basis, rtol):
    """The conditions for ``(J, P)`` from :func:`_pinv` (and its basis), in float64."""
    A = _to_double(J)
    left, right, R = basis
    basis = _RowBasis(None if left is None else _to_double(left),
                      A if left is not None else _to_double(right), _to_double(R))
    return _mp_conditions(A, _to_double(P), basis, rtol).cpu().numpy()


def _as_matrix_stack(value):
    t = value.detach() if torch.is_tensor(value) else torch.as_tensor(np.asarray(value))
    if not (t.is_floating_point() or t.is_complex()):
        t = t.to(torch.float64)
    return t[None] if t.ndim == 2 else t


def check_moore_penrose_conditions(A, A_pinv, rtol=None, atol=0.0):
    """Check the four Moore–Penrose conditions for each matrix of a stack.

    Parameters
    ----------
    A : array | Tensor, shape (n_samples, m, k) or (m, k)
        Matrices, e.g. per-trial Jacobians ``(n_latents, n_chans * n_times)``.
    A_pinv : array | Tensor, shape (n_samples, k, m) or (k, m)
        Candidate pseudo-inverses. A non-square ``A_pinv`` given with the shape of ``A``
        (CEBRA's layout, and that of the ``pinv`` map of
        :func:`~neuroxai.attribution.jacobian.compute_jacobian_pinv_maps`) is transposed
        first.
    rtol : float | None
        Relative tolerance on the Frobenius norm of each residual, e.g.
        ``||A A+ A - A|| <= atol + rtol ||A||``. ``None``: ``1e-3`` if either input is
        float32 (or lower precision), else ``1e-7``.
    atol : float
        Absolute tolerance.

    Returns
    -------
    ok : ndarray of bool, shape (n_samples, 4)
        Per sample: ``A A+ A = A``, ``A+ A A+ = A+``, ``(A A+)^H = A A+``,
        ``(A+ A)^H = A+ A``.

    Notes
    -----
    Computed in float64 (complex128 for complex input). For ``m <= k`` (e.g. a Jacobian,
    ``k`` ~25 000 for a 4.5 s trial) ``A+ A`` is ``k x k``: far too big to form. With an
    orthonormal basis ``Q`` (``k x m``) of the row space of ``A``, ``A^H = Q R``, and
    ``A+ = Q C + P_perp`` (``P_perp`` orthogonal to ``Q``), all four residual norms are
    computed exactly from ``m x m``, ``m x k`` and ``2m x k`` products (O(k m^2) per
    matrix). ``Q`` comes from ``G^{-1/2}`` (``G = A A^H``) for an ``A`` with condition
    number <= 100, else from a Householder QR of ``A^H``. A tall ``A`` (``m > k``) is
    checked through its adjoint (the conditions are symmetric under ``(A, A+) -> (A^H,
    A+^H)``, conditions 3 and 4 swapping).
    """
    A, P = _as_matrix_stack(A), _as_matrix_stack(A_pinv)
    if A.ndim != 3 or P.ndim != 3 or len(A) != len(P):
        raise ShapeError(
            f"A must be (n_samples, m, k) and A_pinv (n_samples, k, m); got {tuple(A.shape)} and "
            f"{tuple(P.shape)}.")
    m, k = A.shape[1:]
    if P.shape[1:] == (m, k) and m != k:
        P = P.transpose(1, 2)
    if P.shape[1:] != (k, m):
        raise ShapeError(f"A_pinv must have shape (n_samples, {k}, {m}), got {tuple(P.shape)}.")
    check_finite(A, "A")
    check_finite(P, "A_pinv")
    rtol = _default_mp_rtol(A.dtype, P.dtype) if rtol is None else check_float(rtol, "rtol", 0.0)
    atol = check_float(atol, "atol", 0.0)
    A = _to_double(A)
    P = _to_double(P).to(A.dtype)
    if m > k:
        A, P, order = _H(A), _H(P), [0, 1, 3, 2]
    else:
        order = [0, 1, 2, 3]
    return _mp_conditions(A, P, _row_basis(A), rtol, atol)[..., order].cpu().numpy()
