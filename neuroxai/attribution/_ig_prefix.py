"""Integrated gradients through a model's affine prefix (the IGC trick, per trial).

For a model ``f = g ∘ L`` whose first modules ``L`` are affine (braindecode's
ShallowFBCSPNet, Deep4Net, EEGNet: convolutions, eval-mode batch norm, reshapes), the path
``b + a (x - b)`` maps to ``L(b) + a (L(x) - L(b))`` and ``∇_x f = L^T ∇_u g``: so the
prefix — most of the work — runs twice per trial instead of at every quadrature node, the
steps go through the light rest ``g`` only, and one transposed prefix per trial maps the
summed gradient back. The result is captum's ``IntegratedGradients`` to rounding (same
integrand, same quadrature nodes and weights; tested against it).

When the rest is square -> average pool -> anything (ShallowFBCSPNet), the pooled power
along the path is a quadratic in the step, so the steps run on the small pooled tensor
only (IGC's closed form, :class:`~neuroxai.attribution._igc_paths._ClosedFormPathSums`).
"""
from __future__ import annotations

import torch

from ._igc_prefix import _adjoint, _Layout, _pool_transpose, _quadratic_head, _split_affine


class PrefixIntegratedGradients:
    """``(x - b) * L^T sum_s q_s ∇_u g_t(L(b) + a_s (L(x) - L(b)))`` per trial.

    ``available`` is False when the model has no verified affine prefix; callers then use
    captum. ``max_rows`` bounds the quadrature points evaluated at once (memory).
    """

    def __init__(self, model, x_probe, max_rows):
        self.prefix, self.rest = _split_affine(model, "auto", x_probe)
        self.max_rows = max(1, int(max_rows))
        self.closed = None
        if self.prefix is not None:
            with torch.no_grad():
                u_shape = tuple(self.prefix(x_probe[:1]).shape[1:])
            head = _quadratic_head(self.rest, u_shape, x_probe.dtype, x_probe.device)
            if head is not None:
                layout = _Layout(u_shape)
                self.closed = (head[0], head[1], layout, _pool_transpose(
                    head[0], u_shape, layout, x_probe.dtype, x_probe.device))

    @property
    def available(self):
        return self.prefix is not None

    @property
    def engine(self):
        if self.prefix is None:
            return "captum"
        return "affine prefix, closed form" if self.closed is not None else "affine prefix"

    def __call__(self, xb, bb, tb, alphas, weights):
        with torch.no_grad():
            ub, ux = self.prefix(bb), self.prefix(xb)
        d = ux - ub
        a_all = torch.as_tensor(alphas, dtype=ux.dtype, device=ux.device)
        q_all = torch.as_tensor(weights, dtype=ux.dtype, device=ux.device)
        if self.closed is not None:
            grad_u = self._closed_form(ub, d, tb, a_all, q_all)
        else:
            grad_u = self._stepwise(ub, d, tb, a_all, q_all)
        return (xb - bb) * _adjoint(self.prefix, grad_u, tuple(xb.shape[1:]))

    def _closed_form(self, ub, d, tb, a, q):
        """``2 (s pool^T(sum_s q g_s) + d pool^T(sum_s q a_s g_s))``, ``g_s = dF_t/dp`` at
        the pooled power ``p(a_s) = pool(s^2) + 2 a_s pool(s d) + a_s^2 pool(d^2)``."""
        pool, tail, layout, pool_t = self.closed
        n, n_steps = len(ub), len(a)
        with torch.no_grad():
            pa, pb, pc = pool(ub * ub), pool(ub * d), pool(d * d)
        av = a.reshape((1, n_steps) + (1,) * (pa.dim() - 1))
        p_nodes = (pa[:, None] + av * (2.0 * pb[:, None] + av * pc[:, None])).reshape(
            (n * n_steps,) + tuple(pa.shape[1:]))
        with torch.enable_grad():
            p_var = p_nodes.requires_grad_(True)
            out = tail(p_var).view(n, n_steps, -1)[torch.arange(n), :, tb]  # (n, steps)
            (g,) = torch.autograd.grad((out * q[None]).sum(), p_var)
        g = g.reshape((n, n_steps) + tuple(pa.shape[1:]))
        g0, g1 = g.sum(1), (g * av).sum(1)
        flat = 2.0 * (layout.flat(ub) * pool_t(g0) + layout.flat(d) * pool_t(g1))
        return layout.unflat(flat)

    def _stepwise(self, ub, d, tb, a_all, q_all):
        """Autograd through the rest at every quadrature node (any rest)."""
        n = len(ub)
        rows = torch.arange(n, device=ub.device)
        grad_u = torch.zeros_like(ub)
        chunk = max(1, self.max_rows // n)
        for s0 in range(0, len(a_all), chunk):
            a, q = a_all[s0:s0 + chunk], q_all[s0:s0 + chunk]
            # (steps, trials, *u): step-major, so a view splits the outputs back
            pts = (ub[None] + a.view((-1,) + (1,) * ub.dim()) * d[None]).reshape(
                (-1,) + tuple(ub.shape[1:])).requires_grad_(True)
            with torch.enable_grad():
                out = self.rest(pts).view(len(a), n, -1)[:, rows, tb]  # (steps, trials)
                (g,) = torch.autograd.grad((out * q[:, None]).sum(), pts)
            grad_u += g.view((len(a), n) + tuple(ub.shape[1:])).sum(0)
        return grad_u
