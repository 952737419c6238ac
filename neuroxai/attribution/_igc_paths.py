"""IGC's path integrals: point batches, two path-sum engines, two back-projections.

:func:`~neuroxai.attribution.igc.compute_igc` needs, for every class ``c`` and every
(trial ``n``, baseline ``k``) pair, the weighted sum of the integrated-gradient integrand
over the quadrature nodes, taken in the output space ``u`` of the model's affine prefix:

.. math::

    S_c[n, k] = \\sum_s w_c[n]\\, q_s\\, \\nabla_u f_c(u_{nk}^0 + a_s\\,\\delta_{nk}).

The pieces, used in this order by :func:`integrate_paths`:

- :class:`_PointBatcher` flattens the (trial, baseline, step) points, trial-major, and cuts
  them into batches (whole pairs where they fit);
- the domain's back-projection gives each pair's path start ``u^0`` (the baseline, or the
  phase-kept surrogate in the spectral domain);
- an engine returns ``S`` for the batch's pairs: :class:`_GenericPathSums` (autograd
  through the head at every point, any model) or :class:`_ClosedFormPathSums` (a square ->
  average-pool head, where the pooled power is a quadratic in the step);
- the back-projection maps ``S`` to the cells: :class:`_TimeBackprojection` (transposed
  prefix, times ``x_n - b_k``) or :class:`_SpectralBackprojection` (transposed prefix, then
  transposed irfft with the trial's phases, times the amplitude difference).

Hand-written rather than captum's ``IntegratedGradients``: captum explains one target per
call (``C`` forward passes per point), pairs each input row with one baseline and returns
per-pair maps, whereas IGC only needs z-weighted sums over trials and baselines, shares
each point across classes and can integrate in the output space of an affine prefix
(exact, much cheaper). The quadrature rules are captum's; the tests use captum as oracle.
"""
from __future__ import annotations

import torch

from .._core.batching import progress


def spectrum(x):
    """Amplitudes and unit phasors of the rfft (phase 0 where the amplitude is 0)."""
    spec = torch.fft.rfft(x, dim=-1)
    amp = spec.abs()
    one = torch.ones((), dtype=spec.dtype, device=spec.device)
    phase = torch.where(amp > 0, spec / torch.where(amp > 0, amp, 1).to(spec.dtype), one)
    return amp, phase


class _Batch:
    """Index tensors of the points ``p0 .. p1 - 1`` (see :class:`_PointBatcher`)."""

    def __init__(self, p0, p1, trial_points, n_baselines, n_steps, aligned, device):
        ks = trial_points  # points per trial: n_baselines * n_steps
        self.size, self.aligned = p1 - p0, aligned
        p = torch.arange(p0, p1, device=device)
        self.n, self.s = p // ks, p % n_steps  # trial and quadrature step of each point
        q_lo, q_hi = p0 // n_steps, (p1 - 1) // n_steps  # first and last (trial, baseline) pair
        pq = torch.arange(q_lo, q_hi + 1, device=device)
        self.n_pairs = q_hi - q_lo + 1
        self.pn, self.pk = pq // n_baselines, pq % n_baselines  # trial, baseline of each pair
        self.q_loc = p // n_steps - q_lo  # pair of each point, in the batch
        self.n_lo, self.n_hi = p0 // ks, (p1 - 1) // ks  # trials the batch touches
        self.first = pq * n_steps >= p0  # pairs whose first step is in this batch
        # trials whose last point is in the batch (the last one may continue in the next)
        self.n_done = min(self.n_hi - self.n_lo + 1, p1 // ks - self.n_lo)


class _PointBatcher:
    """The points of all (trial, baseline, step) triples, trial-major, cut into batches.

    Point ``p`` is step ``p % n_steps`` of pair ``p // n_steps``, and pair ``q`` joins
    trial ``q // K`` to baseline ``q % K``. A batch holds ``batch_size`` points, rounded
    down to whole pairs when at least one pair fits (the points of a pair are then one
    broadcast multiply-add and autograd's broadcast reduction sums the steps). With
    ``pairs`` given (the closed form, which never builds the points) a batch holds that
    many whole pairs.
    """

    def __init__(self, n_trials, n_baselines, n_steps, batch_size, device, pairs=None):
        self.K, self.n_steps, self.device = n_baselines, n_steps, device
        self.n_trial_points = n_baselines * n_steps
        self.n_points = n_trials * self.n_trial_points
        if pairs is not None:
            step = pairs * n_steps
        else:
            step = (batch_size // n_steps) * n_steps if batch_size >= n_steps else batch_size
        self.step, self.aligned = step, step % n_steps == 0

    def __len__(self):
        return -(-self.n_points // self.step)

    def __iter__(self):
        for p0 in range(0, self.n_points, self.step):
            yield _Batch(p0, min(p0 + self.step, self.n_points), self.n_trial_points, self.K,
                         self.n_steps, self.aligned, self.device)


class _GenericPathSums:
    """``S`` by autograd: one forward through the head per point, one vector-Jacobian
    product per class (a plain loop was faster than vmap's ``is_grads_batched`` on CPU)."""

    def __init__(self, head, alphas, qw, w):
        self.head, self.alphas, self.qw, self.w = head, alphas, qw, w

    def __call__(self, start, delta, b):
        """``(C, pairs, Du)`` for the batch ``b``; ``start``/``delta``: ``(pairs, Du)``."""
        n_cls = self.w.shape[0]
        with torch.enable_grad():
            if b.aligned:  # whole pairs: broadcast; the gradient w.r.t. the start sums steps
                leaf = start.detach().requires_grad_(True)
                pts = torch.addcmul(leaf[:, None, :], self.alphas[None, :, None],
                                    delta[:, None, :]).reshape(b.size, -1)
                grads = []
            else:  # one point at a time, summed per pair
                pts = (start[b.q_loc] + self.alphas[b.s, None] * delta[b.q_loc])
                pts = leaf = pts.requires_grad_(True)
                S = torch.zeros((n_cls, b.n_pairs, pts.shape[1]), dtype=pts.dtype,
                                device=pts.device)
            out = self.head(pts)  # (points, C)
            for c in range(n_cls):
                (g,) = torch.autograd.grad(out[:, c], leaf, self.w[c, b.n] * self.qw[b.s],
                                           retain_graph=c < n_cls - 1)
                if b.aligned:
                    grads.append(g)
                else:
                    S[c].index_add_(0, b.q_loc, g)
        return torch.stack(grads) if b.aligned else S


class _ClosedFormPathSums:
    """``S`` for a square -> average-pool head (see ``_igc_prefix._quadratic_head``).

    Along ``u(a) = s + a d`` the pooled power is ``pool(s^2) + 2a pool(s d) + a^2
    pool(d^2)`` and ``grad_u f = 2 u(a) pool^T(df/dp(a))``, so the steps run on the small
    pooled tensor only: three pools and two transposed pools per pair plus the tail at
    every node. Needs batches of whole pairs.
    """

    def __init__(self, layout, pool, tail_out, pool_t, alphas, qw, w):
        self.layout, self.pool, self.tail_out, self.pool_t = layout, pool, tail_out, pool_t
        self.alphas, self.qw, self.w = alphas, qw, w

    def __call__(self, start, delta, b):
        """``(C, pairs, Du)`` for the batch ``b``; ``start``/``delta``: ``(pairs, Du)``."""
        n_cls, w_pairs = self.w.shape[0], self.w[:, b.pn]
        su, du = self.layout.unflat(start), self.layout.unflat(delta)
        with torch.no_grad():
            pa, pb, pc = self.pool(su * su), self.pool(su * du), self.pool(du * du)
        mp, n_steps = su.shape[0], self.alphas.shape[0]
        a = self.alphas.reshape((1, n_steps) + (1,) * (pa.dim() - 1))
        # pooled power at every node of every pair: (pairs * steps, *pool_shape)
        p_nodes = (pa[:, None] + a * (2.0 * pb[:, None] + a * pc[:, None])).reshape(
            (mp * n_steps,) + tuple(pa.shape[1:]))
        with torch.enable_grad():
            p_var = p_nodes.detach().requires_grad_(True)
            out = self.tail_out(p_var)  # (pairs * steps, C)
            sums = []
            for c in range(n_cls):
                cot = (w_pairs[c][:, None] * self.qw[None, :]).reshape(-1)
                (g,) = torch.autograd.grad(out[:, c], p_var, cot, retain_graph=c < n_cls - 1)
                g = g.reshape((mp, n_steps) + tuple(pa.shape[1:]))
                g0 = g.sum(1)  # sum_s w q_s dF/dp(a_s)
                g1 = (g * a).sum(1)  # sum_s w q_s a_s dF/dp(a_s)
                # grad_u = 2 u(a) pool^T(dF/dp) and u(a) = s + a d, summed over the nodes
                sums.append(2.0 * (start * self.pool_t(g0) + delta * self.pool_t(g1)))
        return torch.stack(sums)


class _TimeBackprojection:
    """Cells ``(C, chans, times)``: ``sum_{n,k} (x_n - b_k) * adjoint(S[n, k])``.

    Written as ``x_n * adjoint(sum_k S[n, k]) - b_k * adjoint(sum_n S[n, k])``, so the
    transposed prefix runs once per trial (when its last pair is done; a trial still open
    at a batch's end waits in ``pending``) and once per baseline at the end, not per pair.
    """

    def __init__(self, B, embed, adjoint, n_cls, batch_size):
        with torch.no_grad():
            self.V = embed(B)  # (K, Du)
        self.B, self.adjoint, self.n_cls, self.batch_size = B, adjoint, n_cls, batch_size
        self.shape = tuple(B.shape[1:])
        self.attr = torch.zeros((n_cls,) + self.shape, dtype=torch.float64, device=B.device)
        self.Sb = torch.zeros((n_cls, B.shape[0], self.V.shape[1]), dtype=torch.float64,
                              device=B.device)
        self.pending = None

    def path_starts(self, b, x_loc):
        """Each pair's path start (its baseline) and what :meth:`add` needs."""
        return self.V[b.pk], x_loc

    def add(self, S, b, x_loc):
        m = b.n_hi - b.n_lo + 1
        Sx = torch.zeros((self.n_cls, m, S.shape[2]), dtype=S.dtype, device=S.device)
        Sx.index_add_(1, b.pn - b.n_lo, S)
        if self.pending is not None and self.pending[0] == b.n_lo:
            Sx[:, 0] += self.pending[1]
        self.pending = (b.n_hi, Sx[:, -1]) if b.n_done < m else None
        if b.n_done > 0:
            h = self.adjoint(Sx[:, :b.n_done].reshape(self.n_cls * b.n_done, -1))
            h = h.reshape((self.n_cls, b.n_done) + self.shape)
            self.attr += (h * x_loc[:b.n_done]).sum(1).double()
        self.Sb.index_add_(1, b.pk, S.double())

    def finish(self):
        """``(cells, None)``: the baseline side, in blocks of baselines."""
        step = max(1, self.batch_size // self.n_cls)
        for k0 in range(0, self.B.shape[0], step):
            kk = slice(k0, min(k0 + step, self.B.shape[0]))
            blk = self.Sb[:, kk].to(self.B.dtype)
            h = self.adjoint(blk.reshape(-1, blk.shape[-1]))
            self.attr -= (h.reshape((self.n_cls, -1) + self.shape) * self.B[kk]).sum(1).double()
        return self.attr, None


class _SpectralBackprojection:
    """Cells ``(C, chans, freqs)`` of the amplitude path with each trial's phases.

    Each pair's path starts at the phase-kept surrogate ``irfft(|B_k| e^{i phase(x_n)})``;
    ``f`` there gives the phase term ``R`` (counted in the batch that holds the pair's first
    step). ``S`` goes to time through the transposed prefix and to amplitudes through the
    transposed irfft with the trial's phases (all linear, so the step sum came first).
    """

    def __init__(self, B, embed, adjoint, head, w, n_cls):
        self.amp_b, _ = spectrum(B)  # (K, chans, F)
        self.embed, self.adjoint, self.head, self.w, self.n_cls = embed, adjoint, head, w, n_cls
        self.n_times = B.shape[-1]
        self.attr = torch.zeros((n_cls,) + tuple(self.amp_b.shape[1:]), dtype=torch.float64,
                                device=B.device)
        self.phase_term = torch.zeros(n_cls, dtype=torch.float64, device=B.device)

    def path_starts(self, b, x_loc):
        """Each pair's phase-kept surrogate (embedded) and the trials' spectra."""
        amp_x, ph_x = spectrum(x_loc)
        ph_pair = ph_x[b.pn - b.n_lo]
        x_tilde = torch.fft.irfft(self.amp_b[b.pk] * ph_pair, n=self.n_times, dim=-1)
        start = self.embed(x_tilde)
        if bool(b.first.any()):
            f0 = self.head(start[b.first]).double()  # (n_first, C)
            self.phase_term += (self.w[:, b.pn[b.first]].double() * f0.T).sum(1)
        return start, (amp_x, ph_pair)

    def add(self, S, b, spectra):
        amp_x, ph_pair = spectra
        mp = S.shape[1]
        h = self.adjoint(S.reshape(self.n_cls * mp, -1))
        h = h.reshape((self.n_cls, mp) + tuple(ph_pair.shape[1:-1]) + (self.n_times,))
        with torch.enable_grad():
            a_var = torch.zeros((self.n_cls,) + tuple(ph_pair.shape), dtype=h.dtype,
                                device=h.device, requires_grad=True)
            xx = torch.fft.irfft(a_var * ph_pair, n=self.n_times, dim=-1)
            (g_amp,) = torch.autograd.grad(xx, a_var, h)
        d_amp = amp_x[b.pn - b.n_lo] - self.amp_b[b.pk]  # (pairs, chans, F)
        self.attr += (g_amp * d_amp).sum(1).double()

    def finish(self):
        """``(cells, phase term R)``."""
        return self.attr, self.phase_term


def integrate_paths(X, embed, batcher, engine, backprojection):
    """Run every batch of points; return ``backprojection.finish()``.

    ``embed`` maps trials to the flat prefix output; a trial whose points span two batches
    is embedded once (its row is carried over).
    """
    cached = None
    for b in progress(batcher, "IGC"):
        with torch.no_grad():
            x_loc = X[b.n_lo:b.n_hi + 1]
            if cached is not None and cached[0] == b.n_lo:  # trial carried over
                U = torch.cat([cached[1], embed(x_loc[1:])]) if b.n_hi > b.n_lo else cached[1]
            else:
                U = embed(x_loc)  # (trials, Du)
            cached = (b.n_hi, U[-1:])
            start, extra = backprojection.path_starts(b, x_loc)
            delta = U[b.pn - b.n_lo] - start
        S = engine(start, delta, b)
        with torch.no_grad():
            backprojection.add(S, b, extra)
        del S
    return backprojection.finish()
