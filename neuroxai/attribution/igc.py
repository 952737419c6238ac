"""Integrated Gradient Correlation (IGC): dataset-wise attributions of a correlation.

Lelièvre & Chen, "Integrated Gradient Correlation: a Dataset-wise Attribution
Method". For one model output :math:`f` and one target :math:`t` over a dataset
of :math:`N` trials, the Pearson correlation (population moments)

.. math::

    r = \\frac{1}{N}\\sum_n z_t[n]\\,\\frac{f(x_n) - \\bar f}{\\sigma_f},\\qquad
    z_t = \\frac{t - \\bar t}{\\sigma_t}

is split exactly over input components. Because :math:`\\sum_n z_t[n] = 0`, any
constant can replace :math:`\\bar f`; we use the mean output on a set of
:math:`K` baselines :math:`b_k` drawn **once** for the whole run, and write each
difference with integrated gradients (completeness of IG):

.. math::

    f(x_n) - \\frac1K\\sum_k f(b_k) = \\frac1K \\sum_k \\sum_i
    \\mathrm{IG}_i(x_n; b_k), \\qquad
    \\mathrm{IGC}_i = \\frac{1}{N\\sigma_f K}\\sum_n z_t[n] \\sum_k \\mathrm{IG}_i(x_n; b_k),

so :math:`\\sum_i \\mathrm{IGC}_i = r` up to the quadrature error of the path
integral. The baseline term vanishes only because the same baselines serve every
trial (re-drawing them per batch, as the reference implementation does, leaves a
residual :math:`\\frac{1}{N\\sigma_f}\\sum_n z_t[n]\\,\\overline{f(b)}_n \\neq 0`).

For classifiers the targets are one-hot class indicators (the paper's categorical
case): class :math:`c` gets :math:`t = [y = c]` and :math:`f` = the model's output
``c`` after an optional ``output_transform`` (default: the raw logit).

**Spectral IGC.** With :math:`X_n = \\mathrm{rfft}(x_n) = A_n e^{i\\varphi_n}`, the
path runs over amplitudes only, with the trial's own phases:
:math:`x(\\alpha) = \\mathrm{irfft}((A_{b_k} + \\alpha(A_n - A_{b_k}))e^{i\\varphi_n})`,
and IG is taken with respect to the amplitude of every channel × frequency cell.
Its start is the *phase-kept surrogate* :math:`\\tilde x_{n,k} =
\\mathrm{irfft}(A_{b_k} e^{i\\varphi_n})`, which depends on :math:`n` through the
phases, so the baseline term no longer cancels. Exactly,

.. math::

    r = \\sum_{\\text{chan},\\,\\text{freq}} \\mathrm{IGC} + R,\\qquad
    R = \\frac{1}{N\\sigma_f K}\\sum_n z_t[n] \\sum_k f(\\tilde x_{n,k}),

where :math:`R` (``coords["phase_term"]``) is the correlation with the target that
the model draws from the trials' phases when every amplitude spectrum is replaced
by a baseline's. We compute :math:`R` directly from forward passes, so the cells
sum to :math:`r - R`; the spectral map thus accounts for all of :math:`r` except
the part carried by the phases. With ``baselines="zeros"`` (zero amplitudes),
:math:`\\tilde x_{n,k} = 0` for every trial, :math:`R = 0` exactly and the cells sum
to :math:`r` itself.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._utils import (
    InvalidInputError,
    ModelMismatchError,
    ShapeError,
    TargetError,
    check_finite,
    logger,
    unknown_name,
    verbose,
    warn_degenerate,
)
from ._base import Attribution

__all__ = ["compute_igc", "igc_roi_sums"]

_DOMAINS = ("time", "spectral")
_BASELINES = ("data", "zeros")
_METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_middle", "riemann_left",
            "riemann_right")
_TRANSFORMS = {
    "softmax": lambda out: torch.softmax(out, dim=-1),
    "log_softmax": lambda out: torch.log_softmax(out, dim=-1),
}

# Modules that are affine maps of their input in eval mode (conv, linear, eval-mode
# batch norm, average pooling, reshapes, dropout).  Names cover braindecode/einops
# layers without importing them.
_AFFINE_TYPES = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.Identity, nn.Flatten, nn.Unflatten,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d,
    nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d,
)
_AFFINE_NAMES = {"Ensure4d", "Rearrange", "CombinedConv", "_CombinedConv1d", "Conv2dWithConstraint",
                 "LinearWithConstraint"}


# ----------------------------------------------------------------------------- helpers
def _quadrature(method, n_steps):
    """Nodes in [0, 1] and weights of the path-integral rule (the rules captum offers)."""
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n_steps)
        return (nodes + 1.0) / 2.0, weights / 2.0
    if method == "riemann_trapezoid":
        if n_steps < 2:
            raise InvalidInputError("method='riemann_trapezoid' needs n_steps >= 2.")
        w = np.full(n_steps, 1.0 / (n_steps - 1))
        w[[0, -1]] /= 2.0
        return np.linspace(0.0, 1.0, n_steps), w
    offset = {"riemann_middle": 0.5, "riemann_left": 0.0, "riemann_right": 1.0}[method]
    return (np.arange(n_steps) + offset) / n_steps, np.full(n_steps, 1.0 / n_steps)


def _is_affine(module):
    if isinstance(module, nn.Sequential):
        return all(_is_affine(m) for m in module)
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        # without running statistics eval mode normalises with batch statistics
        return module.track_running_stats and module.running_mean is not None
    return isinstance(module, _AFFINE_TYPES) or type(module).__name__ in _AFFINE_NAMES


def _close(a, b, dtype):
    tol = 1e-9 if dtype == torch.float64 else 2e-4
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-12)
    return float((a - b).abs().max()) <= tol * scale


def _split_affine(model, affine_prefix, X):
    """Split ``model`` into an affine prefix and the rest: ``model = rest ∘ prefix``.

    Returns ``(prefix, rest)``; ``prefix`` is None when no split is used.
    """
    if affine_prefix is None or affine_prefix is False:
        return None, model
    children = list(model.children()) if isinstance(model, nn.Sequential) else []
    if affine_prefix == "auto":
        k = 0
        while k < len(children) - 1 and _is_affine(children[k]):
            k += 1
    elif isinstance(affine_prefix, (int, np.integer)) and not isinstance(affine_prefix, bool):
        if not children or not 0 <= affine_prefix < len(children):
            raise InvalidInputError(
                f"affine_prefix={affine_prefix} needs an nn.Sequential model with more than "
                f"{affine_prefix} children; use 'auto' or None."
            )
        k = int(affine_prefix)
    else:
        raise InvalidInputError(
            f"affine_prefix must be 'auto', None or an int, got {affine_prefix!r}."
        )
    if k == 0:
        return None, model
    prefix, rest = nn.Sequential(*children[:k]), nn.Sequential(*children[k:])
    # Check numerically that the split is exact and the prefix affine on real trials:
    # a custom Sequential.forward or a module we do not know would break the identity.
    x1, x2 = X[:1], X[-1:] * 0.7 + 0.3 * X[:1].flip(-1)
    with torch.no_grad():
        p1, p2, pm = prefix(x1), prefix(x2), prefix(0.25 * x1 + 0.75 * x2)
        ok = (_close(pm, 0.25 * p1 + 0.75 * p2, X.dtype)
              and _close(rest(p1), model(x1), X.dtype))
    if not ok:
        if affine_prefix == "auto":
            logger.info("IGC: the leading modules are not affine here; gradients are taken "
                        "through the whole model.")
            return None, model
        raise InvalidInputError(
            f"The first {k} modules of the model are not an affine map of the input "
            "(or the model's forward is not their composition); use affine_prefix=None."
        )
    logger.info(f"IGC: path integrals in the output space of the first {k} (affine) modules.")
    return prefix, rest


def _quadratic_head(rest, u_shape, dtype, device):
    """``(pool, tail)`` when ``rest = tail ∘ pool ∘ square`` with a linear pool, else None.

    ShallowFBCSPNet's head after its affine prefix is square -> average pool -> log ->
    linear. Along an IG path ``u(a) = s + a d`` the pooled power is then a quadratic in
    ``a``: ``pool(u(a)^2) = pool(s^2) + 2a pool(s d) + a^2 pool(d^2)``, and the gradient
    w.r.t. ``u`` is ``2 u(a) * pool^T(dF/dp(a))``. Summed over the quadrature nodes this
    needs three pools and two transposed pools per (trial, baseline) pair plus the small
    tail at every node, instead of a forward and a backward through the square and the
    pool (44040 values per point for BCI IV 2a) at every node: the same numbers, ~10x
    less work. Checked numerically here; any other head takes the generic route.
    """
    if not isinstance(rest, nn.Sequential) or len(rest) < 3:
        return None
    sq, pool = rest[0], rest[1]
    if any(True for _ in sq.parameters()) or not isinstance(
            pool, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        return None
    tail = nn.Sequential(*list(rest.children())[2:])
    gen = torch.Generator(device="cpu").manual_seed(0)
    z = torch.randn((2,) + tuple(u_shape), generator=gen, dtype=dtype).to(device)
    with torch.no_grad():
        try:
            ok = (_close(sq(z), z * z, dtype)
                  and _close(tail(pool(z * z)), rest(z), dtype))
        except Exception:  # noqa: BLE001 - any failure: not this head
            return None
    return (pool, tail) if ok else None


def _pool_transpose(pool, u_shape, layout, dtype, device):
    """``g -> pool^T g`` (flat layout) for a linear pooling module.

    An ``AvgPool2d`` without padding is a grouped convolution with a constant kernel, so
    its transpose is ``conv_transpose2d``: ~6x faster on CPU than autograd's
    ``avg_pool2d_backward`` (1.6 vs 9.6 ms for 8 x 40 x 1101, measured). Checked against
    the autograd route; other pools use autograd.
    """
    import torch.nn.functional as F

    def by_autograd(g):
        z0 = torch.zeros((g.shape[0],) + tuple(u_shape), dtype=g.dtype, device=g.device,
                         requires_grad=True)
        with torch.enable_grad():
            (gu,) = torch.autograd.grad(pool(z0), z0, g)
        return layout.flat(gu)

    pair = nn.modules.utils._pair
    if not (type(pool) is nn.AvgPool2d and len(u_shape) == 3 and pair(pool.padding) == (0, 0)
            and not pool.ceil_mode and pool.divisor_override is None):
        return by_autograd
    kh, kw = pair(pool.kernel_size)
    sh, sw = pair(pool.stride if pool.stride is not None else pool.kernel_size)
    n_ch, h, w_ = u_shape
    weight = torch.full((n_ch, 1, kh, kw), 1.0 / (kh * kw), dtype=dtype, device=device)

    def by_conv(g):
        oh, ow = g.shape[-2:]
        pad = (h - ((oh - 1) * sh + kh), w_ - ((ow - 1) * sw + kw))
        gu = F.conv_transpose2d(g, weight, stride=(sh, sw), groups=n_ch, output_padding=pad)
        return layout.flat(gu)

    gen = torch.Generator(device="cpu").manual_seed(1)
    with torch.no_grad():
        probe = pool(torch.zeros((1,) + tuple(u_shape), dtype=dtype, device=device))
        g = torch.randn(probe.shape, generator=gen, dtype=dtype).to(device)
        try:
            ok = _close(by_conv(g), by_autograd(g), dtype)
        except Exception:  # noqa: BLE001 - fall back to the always-correct route
            ok = False
    return by_conv if ok else by_autograd


def _quadratic_path_sums(layout, pool, tail_out, pool_t, start, delta, alphas, w_pairs, qw,
                         n_cls):
    """``S[c, pair] = sum_s w_c q_s grad_u f_c(start + a_s delta)`` for a square-pool head.

    See :func:`_quadratic_head`. ``start``/``delta``: (pairs, Du) flat; ``w_pairs``:
    (C, pairs) IGC weights of each pair's trial. Returns (C, pairs, Du).
    """
    su, du = layout.unflat(start), layout.unflat(delta)
    with torch.no_grad():
        pa, pb, pc = pool(su * su), pool(su * du), pool(du * du)
    mp, n_steps = su.shape[0], alphas.shape[0]
    a = alphas.reshape((1, n_steps) + (1,) * (pa.dim() - 1))
    # pooled power at every node of every pair: (pairs * steps, *pool_shape)
    p_nodes = (pa[:, None] + a * (2.0 * pb[:, None] + a * pc[:, None])).reshape(
        (mp * n_steps,) + tuple(pa.shape[1:]))
    with torch.enable_grad():
        p_var = p_nodes.detach().requires_grad_(True)
        out = tail_out(p_var)  # (pairs * steps, C)
        sums = []
        for c in range(n_cls):
            cot = (w_pairs[c][:, None] * qw[None, :]).reshape(-1)
            (g,) = torch.autograd.grad(out[:, c], p_var, cot, retain_graph=c < n_cls - 1)
            g = g.reshape((mp, n_steps) + tuple(pa.shape[1:]))
            g0 = g.sum(1)  # sum_s w q_s dF/dp(a_s)
            g1 = (g * a).sum(1)  # sum_s w q_s a_s dF/dp(a_s)
            # grad_u = 2 u(a) pool^T(dF/dp) and u(a) = s + a d, summed over the nodes
            sums.append(2.0 * (start * pool_t(g0) + delta * pool_t(g1)))
    return torch.stack(sums)


def _adjoint(prefix, cot, in_shape):
    """Transpose of the linear part of ``prefix`` applied to each item of ``cot``.

    ``cot`` has the prefix's output shape; the gradient of an affine map does not
    depend on where it is taken, so we take it at zero.
    """
    if prefix is None:
        return cot.reshape((-1,) + tuple(in_shape))
    x0 = torch.zeros((cot.shape[0],) + tuple(in_shape), dtype=cot.dtype, device=cot.device,
                     requires_grad=True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(prefix(x0), x0, cot)
    return g


class _Layout:
    """Flat (rows, Du) view of prefix outputs; 4-D outputs are kept channels-last.

    Pooling and elementwise kernels on (batch, filters, time, 1) tensors run several
    times faster on CPU in channels-last memory format, so the interpolation points are
    built in that order and handed to the model as a channels-last strided view.
    """

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.cl = len(self.shape) == 3

    def flat(self, u):
        if self.cl:
            u = u.permute(0, 2, 3, 1)
        return u.reshape(u.shape[0], -1)

    def unflat(self, f):
        if self.cl:
            c, h, w = self.shape
            return f.reshape(f.shape[0], h, w, c).permute(0, 3, 1, 2)
        return f.reshape((f.shape[0],) + self.shape)


def _as_numpy(a):
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def _spectrum(x):
    """Amplitudes and unit phasors of the rfft (phase 0 where the amplitude is 0)."""
    spec = torch.fft.rfft(x, dim=-1)
    amp = spec.abs()
    one = torch.ones((), dtype=spec.dtype, device=spec.device)
    phase = torch.where(amp > 0, spec / torch.where(amp > 0, amp, 1).to(spec.dtype), one)
    return amp, phase


def _targets(y, n_trials, n_outputs):
    """Target matrix (n_trials, n_outputs) from labels or continuous targets."""
    y = _as_numpy(y)
    if y.ndim == 0 or y.shape[0] != n_trials:
        raise ShapeError(
            f"y must have one entry per trial ({n_trials}), got shape {y.shape}."
        )
    if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        raise InvalidInputError(f"y must be numeric, got dtype {y.dtype}.")
    check_finite(y, "y")
    if y.ndim == 1:
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise InvalidInputError(
                "1-D y must hold integer class labels; pass continuous targets as an array "
                "of shape (n_trials, n_outputs)."
            )
        labels = y.astype(int)
        bad = np.unique(labels[(labels < 0) | (labels >= n_outputs)])
        if bad.size:
            raise TargetError(
                f"Labels {bad.tolist()} are outside the model's {n_outputs} outputs "
                f"(valid: 0..{n_outputs - 1}). Re-encode y or check the model."
            )
        return (labels[:, None] == np.arange(n_outputs)[None]).astype(float)
    if y.ndim == 2 and y.shape[1] == n_outputs:
        return y.astype(float)
    raise ShapeError(
        f"y must have shape (n_trials,) (labels) or (n_trials, {n_outputs}) (one target per "
        f"model output), got {y.shape}."
    )


def _baselines(baselines, X, n_baselines, seed, domain):
    """Baseline trials (K, n_chans, n_times) drawn once, and the drawn indices."""
    if isinstance(baselines, str):
        if baselines not in _BASELINES:
            raise unknown_name("baseline", baselines, _BASELINES)
        if baselines == "zeros":
            return torch.zeros((1,) + X.shape[1:], dtype=X.dtype, device=X.device), None
        if int(n_baselines) < 1:
            raise InvalidInputError(f"n_baselines must be >= 1, got {n_baselines}.")
        rng = np.random.default_rng(seed)
        n = X.shape[0]
        idx = np.sort(rng.choice(n, size=int(n_baselines), replace=int(n_baselines) > n))
        return X[torch.as_tensor(idx, device=X.device)], idx
    b = _as_numpy(baselines)
    if b.ndim == 2:
        b = b[None]
    if b.ndim != 3 or b.shape[1:] != tuple(X.shape[1:]):
        raise ShapeError(
            f"baselines must be 'data', 'zeros' or an array of shape (n_chans, n_times) or "
            f"(n_baselines, n_chans, n_times) = (K, {X.shape[1]}, {X.shape[2]}), got "
            f"{np.shape(baselines)}. Spectral IGC also takes time-domain baselines (their "
            "amplitude spectra are used)."
        )
    check_finite(b, "baselines")
    return torch.as_tensor(b, dtype=X.dtype, device=X.device), None


# ------------------------------------------------------------------------------ main
@verbose
def compute_igc(model, inst, y=None, *, n_baselines=32, n_steps=32, baselines="data",
                batch_size=256, seed=0, classes=None, domain="time", info=None, tmin=None,
                class_names=None, picks="eeg", exclude="bads", output_transform=None,
                quadrature="gausslegendre", affine_prefix="auto", sfreq=None, method=None,
                progress=None, verbose=None, _shortcut=True):
    """Integrated Gradient Correlation: split each class's output-target correlation.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(batch, n_chans, n_times)`` to ``(batch, n_outputs)``; run in eval mode
        (restored afterwards) on its own device and dtype.
    inst : mne.Epochs | braindecode windows dataset | Trials | array, shape (n_trials, n_chans, n_times)
        The dataset over which the correlation is taken (see
        :func:`neuroxai.data.as_trials`). Every trial is used. The sampling rate (and, in
        the time domain, ``tmin``) come from it; an array needs ``info`` (and ``tmin``).
    y : array, shape (n_trials,) or (n_trials, n_outputs) | None
        Class labels (ints, event codes or names: one-hot targets per class, the
        categorical case) or one continuous target per model output. Default: the labels
        that Epochs / windows / Trials carry.
    n_baselines : int
        Number of baseline trials drawn (once, with ``seed``) from ``X`` when
        ``baselines="data"`` (without replacement when ``n_baselines <= n_trials``).
    n_steps : int
        Quadrature points of each path integral.
    baselines : "data" | "zeros" | array
        ``"data"``: trials drawn from ``X``; ``"zeros"``: the zero signal (one
        baseline); an array ``(n_chans, n_times)`` or ``(K, n_chans, n_times)`` of
        time-domain baselines (for ``domain="spectral"`` their amplitude spectra).
    batch_size : int
        Interpolation points per forward/backward pass; the points of all
        (trial, baseline, step) triples are flattened and cut into batches of this size,
        which bounds memory. With ShallowFBCSPNet's square -> pool head (closed form, see
        Notes) a batch holds ``batch_size // 4`` whole (trial, baseline) pairs instead.
    seed : int
        Seed of the baseline draw.
    classes : list of int | None
        Model outputs to explain (default: all).
    domain : "time" | "spectral"
        ``"time"``: attributions per channel and time sample. ``"spectral"``: per
        channel and rfft frequency, IG over the amplitude spectrum with each trial's
        phases held fixed (see the module docstring for what the cells sum to).
    info : mne.Info | None
        Channel info of an array's trials (gives the sampling rate of the ``"time"`` and
        ``"freq"`` coordinates).
    tmin : float | None
        Time of an array's first sample relative to the event, in s.
    class_names : list of str | None
        Names of all model outputs (indexed like the outputs).
    picks, exclude :
        Channels to use (default: EEG without ``info["bads"]``).
    output_transform : None | "softmax" | "log_softmax" | callable
        Applied to the model output ``(batch, n_outputs)`` before a class's column is
        taken; ``None`` explains the raw logits. A callable must keep the batch axis.
    quadrature : str
        Quadrature rule: ``"gausslegendre"`` (default) or ``"riemann_trapezoid"``,
        ``"riemann_middle"``, ``"riemann_left"``, ``"riemann_right"``.
    affine_prefix : "auto" | int | None
        For an ``nn.Sequential`` model whose first modules are affine (convolutions,
        eval-mode batch norm, reshapes, as in braindecode's ShallowFBCSPNet, Deep4Net,
        EEGNet), the path integrals run in the output space of those modules and are
        mapped back with the transposed linear map. The result is identical (same
        integrand, exact chain rule); it only saves time. ``"auto"`` detects and
        numerically verifies the prefix; an int forces that many modules; ``None``
        differentiates through the whole model.
    sfreq, method, progress :
        Deprecated: pass ``info`` (or Epochs / Trials), ``quadrature``; progress bars follow
        ``verbose``, as in MNE.
    %(verbose)s

    Returns
    -------
    attribution : Attribution
        ``data`` of shape ``(n_classes, n_chans, n_times)`` with dims
        ``("class", "chan", "time")``, or ``(n_classes, n_chans, n_freqs)`` with dims
        ``("class", "chan", "freq")``. ``coords`` holds ``"class"`` (names),
        ``"class_index"``, ``"time"`` (with the trials' ``tmin``), ``"freq"`` (Hz),
        ``"correlation"`` (Pearson r of output and target, computed directly),
        ``"attribution_sum"``, ``"phase_term"`` (R; zeros in the time domain) and
        ``"completeness_error"`` = correlation - phase_term - attribution_sum.
        ``params`` records the settings and the drawn ``baseline_indices``.

    Notes
    -----
    For a model whose head after the affine prefix is square -> average pool -> anything
    (ShallowFBCSPNet), the pooled power along each path is a quadratic in the step, so
    the steps run on the small pooled tensor only: same result, about 10x less work
    (288 trials x 32 baselines x 32 steps in a few minutes on 2 CPU cores).

    Cost: ``n_trials * K * n_steps`` gradient evaluations, shared by all classes
    (one forward pass per point and one vector-Jacobian product per class). With an
    affine prefix, the trials and baselines go through the prefix once each
    (spectral: once per trial-baseline pair) and only the rest of the network is
    evaluated at the interpolation points.

    A class whose target or output is constant over ``X`` has no correlation: a
    constant target raises :class:`TargetError`; a constant output gives NaN with a
    :class:`DegenerateMethodWarning`.
    """
    # ---------------------------------------------------------------- validation
    import warnings

    from .._core.deprecation import deprecated_progress
    from .._core.model import as_module, device_dtype, evaluating, probe_model
    from ..data._boundary import prepare_trials

    if method is not None:
        warnings.warn("compute_igc(method=) is deprecated and will be removed in the next "
                      "release: the quadrature rule is quadrature=.", FutureWarning,
                      stacklevel=3)
        quadrature = method
    deprecated_progress(progress)
    model = as_module(model)
    if domain not in _DOMAINS:
        raise unknown_name("domain", domain, _DOMAINS)
    if quadrature not in _METHODS:
        raise unknown_name("quadrature rule", quadrature, _METHODS)
    method = quadrature
    for name, val in (("n_steps", n_steps), ("batch_size", batch_size)):
        if int(val) != val or int(val) < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {val!r}.")
    n_steps, batch_size = int(n_steps), int(batch_size)
    if isinstance(output_transform, str):
        if output_transform not in _TRANSFORMS:
            raise unknown_name("output_transform", output_transform, _TRANSFORMS)
        transform = _TRANSFORMS[output_transform]
    elif output_transform is None or callable(output_transform):
        transform = output_transform
    else:
        raise InvalidInputError("output_transform must be None, 'softmax', 'log_softmax' or "
                                "a callable.")

    device, dtype = device_dtype(model)
    continuous = y is not None and np.ndim(_as_numpy(y)) == 2
    trials = prepare_trials(
        inst, None if continuous else y, info=info, tmin=tmin, class_names=class_names,
        picks=picks, exclude=exclude, units=True,
        need=(() if sfreq is not None else ("sfreq",) if domain == "spectral"
              else ("times",) if info is not None else ()),
        what=f"compute_igc(domain={domain!r})",
        dtype=np.float64 if dtype == torch.float64 else np.float32)
    if sfreq is not None:
        warnings.warn("compute_igc(sfreq=) is deprecated and will be removed in the next "
                      "release: the rate comes from info / Epochs / Trials.", FutureWarning,
                      stacklevel=3)
        if trials.sfreq is not None and float(sfreq) != trials.sfreq:
            raise InvalidInputError(f"sfreq={sfreq} contradicts info['sfreq']={trials.sfreq}.")
    sfreq = trials.sfreq if trials.sfreq is not None else (
        None if sfreq is None else float(sfreq))
    times = trials.times if trials.times is not None else (
        None if sfreq is None else np.arange(trials.X.shape[2]) / sfreq)
    info = trials.info
    if not continuous:
        if trials.y is None:
            raise InvalidInputError("compute_igc needs targets: pass y= (labels or one "
                                    "continuous target per output), or labelled trials.")
        y = trials.y
    Xt = torch.as_tensor(trials.X, dtype=dtype, device=device)
    n_trials, n_chans, n_times = Xt.shape
    alphas_np, qw_np = _quadrature(method, n_steps)
    alphas = torch.as_tensor(alphas_np, dtype=dtype, device=device)
    qw = torch.as_tensor(qw_np, dtype=dtype, device=device)

    from ..models._fast import fast_view

    # same function, shared parameters, faster first layer (prefix and its transpose)
    model = fast_view(model)
    probe_model(model, trials.X[:1], sfreq=sfreq)
    with evaluating(model):
        def full(x):
            out = model(x)
            return transform(out) if transform is not None else out

        with torch.no_grad():
            probe = full(Xt[:1])
        if probe.ndim != 2 or probe.shape[0] != 1:
            raise ModelMismatchError(
                f"The model (with output_transform) must return (batch, n_outputs); got "
                f"{tuple(probe.shape)} for one trial."
            )
        n_out = probe.shape[1]
        if classes is None:
            classes = list(range(n_out))
        classes = [int(c) for c in np.atleast_1d(classes)]
        bad = [c for c in classes if not 0 <= c < n_out]
        if bad or not classes:
            raise TargetError(f"classes {bad or classes} are outside the model's {n_out} "
                              f"outputs (valid: 0..{n_out - 1}).")
        n_cls = len(classes)
        T = _targets(y, n_trials, n_out)[:, classes]
        t_std = T.std(axis=0)
        if np.any(t_std == 0):
            const = [classes[i] for i in np.flatnonzero(t_std == 0)]
            raise TargetError(
                f"The target of class(es) {const} is constant over the trials (class absent or "
                "the only one), so its correlation is undefined. Pass classes= without them."
            )
        if continuous:
            if class_names is not None and len(class_names) != n_out:
                raise ModelMismatchError(f"class_names has {len(class_names)} names but the "
                                         f"model has {n_out} outputs.")
        else:
            from .methods import output_names

            class_names = output_names(trials, n_out, class_names)
        B, base_idx = _baselines(baselines, Xt, n_baselines, seed, domain)
        K = B.shape[0]

        # ---------------------------------------- direct correlation and IGC weights
        with torch.no_grad():
            F = torch.cat([full(Xt[i:i + batch_size]) for i in range(0, n_trials, batch_size)])
        F = F[:, classes].double().cpu().numpy()
        check_finite(F, "model output")
        f_std = F.std(axis=0)
        z_t = (T - T.mean(axis=0)) / t_std
        degenerate = f_std <= 1e-12 * np.maximum(np.abs(F).max(axis=0), 1e-300)
        if np.any(degenerate):
            warn_degenerate(f"IGC: model output(s) {np.asarray(classes)[degenerate].tolist()} "
                            "are constant over X; their correlation is undefined (NaN).")
        f_safe = np.where(degenerate, 1.0, f_std)
        corr = np.where(degenerate, np.nan, (z_t * (F - F.mean(0))).mean(0) / f_safe)
        w_np = np.where(degenerate[None], 0.0, z_t / (n_trials * f_safe * K)).T  # (C, N)
        w = torch.as_tensor(w_np, dtype=dtype, device=device)

        prefix, rest = _split_affine(model, affine_prefix, Xt)
        with torch.no_grad():
            u_shape = tuple((prefix(Xt[:1]) if prefix is not None else Xt[:1]).shape[1:])
        layout = _Layout(u_shape)

        def head(u_flat):
            out = rest(layout.unflat(u_flat))
            return (transform(out) if transform is not None else out)[:, classes]

        quad = _quadratic_head(rest, u_shape, dtype, device) if _shortcut else None
        if quad is not None:
            pool, tail = quad
            logger.info("IGC: square -> average-pool head; each path's pooled power is a "
                        "quadratic in the step (closed form, same result).")

            def tail_out(p):
                out = tail(p)
                return (transform(out) if transform is not None else out)[:, classes]

            pool_t = _pool_transpose(pool, u_shape, layout, dtype, device)

        def adjoint(S):  # (rows, Du) in flat layout -> (rows, n_chans, n_times)
            return _adjoint(prefix, layout.unflat(S), (n_chans, n_times))

        def embed(x):  # prefix output in flat layout
            return layout.flat(prefix(x) if prefix is not None else x)

        spectral = domain == "spectral"
        with torch.no_grad():
            if spectral:
                amp_b, _ = _spectrum(B)  # (K, chans, F)
                n_freqs = amp_b.shape[-1]
                attr = torch.zeros((n_cls, n_chans, n_freqs), dtype=torch.float64,
                                   device=device)
                phase_term = torch.zeros(n_cls, dtype=torch.float64, device=device)
            else:
                V = embed(B)  # (K, Du)
                attr = torch.zeros((n_cls, n_chans, n_times), dtype=torch.float64,
                                   device=device)
                Sb = torch.zeros((n_cls, K, V.shape[1]), dtype=torch.float64, device=device)

        # Hand-written batched path integral rather than captum's IntegratedGradients:
        # captum explains one target per call (so C forward passes per point), pairs each
        # input row with one baseline and returns per-pair maps, whereas IGC only needs
        # z-weighted sums over trials and baselines, shares each point across classes, and
        # can integrate in the output space of an affine prefix (exact, much cheaper).
        # Same quadrature nodes/weights as captum's methods; tests use captum as oracle.
        # Points of all (trial, baseline, step) triples, trial-major, cut into batches.
        KS = K * n_steps
        n_points = n_trials * KS
        # Batches of whole (trial, baseline) pairs when they fit: the points are then one
        # broadcast multiply-add and autograd's broadcast reduction sums the steps.
        step = (batch_size // n_steps) * n_steps if batch_size >= n_steps else batch_size
        if quad is not None:
            # the closed form never builds the points: memory goes with the pairs (about
            # four points' worth each), so a batch holds batch_size // 4 whole pairs
            step = max(1, batch_size // 4) * n_steps
        aligned = step % n_steps == 0
        starts = range(0, n_points, step)
        from .._core.batching import progress as _bar

        starts = _bar(starts, "IGC")
        u_cache = pending = None
        for p0 in starts:
            p1 = min(p0 + step, n_points)
            p = torch.arange(p0, p1, device=device)
            n, s = p // KS, p % n_steps
            q_lo, q_hi = p0 // n_steps, (p1 - 1) // n_steps  # (trial, baseline) pairs
            pq = torch.arange(q_lo, q_hi + 1, device=device)
            pn, pk = pq // K, pq % K
            q_loc = p // n_steps - q_lo
            n_lo, n_hi = p0 // KS, (p1 - 1) // KS
            with torch.no_grad():
                x_loc = Xt[n_lo:n_hi + 1]
                if u_cache is not None and u_cache[0] == n_lo:  # trial carried over
                    U = torch.cat([u_cache[1], embed(x_loc[1:])]) if n_hi > n_lo else u_cache[1]
                else:
                    U = embed(x_loc)  # (m, Du)
                u_cache = (n_hi, U[-1:])
                if spectral:
                    amp_x, ph_x = _spectrum(x_loc)
                    ph_pair = ph_x[pn - n_lo]
                    x_tilde = torch.fft.irfft(amp_b[pk] * ph_pair, n=n_times, dim=-1)
                    start = embed(x_tilde)  # phase-kept surrogates, one per pair
                    # R: f at each pair's path start, counted in the batch holding its step 0
                    first = pq * n_steps >= p0
                    if bool(first.any()):
                        f0 = head(start[first]).double()  # (n_first, C)
                        phase_term += (w[:, pn[first]].double() * f0.T).sum(1)
                else:
                    start = V[pk]
                delta = U[pn - n_lo] - start
            # Integrated gradients summed over the steps of each pair, weighted by the
            # quadrature and the class's IGC weight, in prefix-output space:
            # S[c, pair] = sum_s w_c[n] q_s grad f_c(point).  One forward serves all classes;
            # one vector-Jacobian product per class (a plain loop was faster than vmap's
            # is_grads_batched on CPU).
            if quad is not None and aligned:
                S = _quadratic_path_sums(layout, pool, tail_out, pool_t, start, delta, alphas,
                                         w[:, pn], qw, n_cls)
            else:
                with torch.enable_grad():
                    if aligned:
                        leaf = start.detach().requires_grad_(True)
                        pts = torch.addcmul(leaf[:, None, :], alphas[None, :, None],
                                            delta[:, None, :]).reshape(p1 - p0, -1)
                    else:
                        pts = (start[q_loc] + alphas[s, None] * delta[q_loc]).requires_grad_(True)
                        leaf = pts
                        S = torch.zeros((n_cls, q_hi - q_lo + 1, pts.shape[1]), dtype=dtype,
                                        device=device)
                    out = head(pts)  # (b, C)
                    grads = []
                    for c in range(n_cls):
                        (g,) = torch.autograd.grad(out[:, c], leaf, w[c, n] * qw[s],
                                                   retain_graph=c < n_cls - 1)
                        if aligned:
                            grads.append(g)
                        else:
                            S[c].index_add_(0, q_loc, g)
                    del out, pts, leaf, g
                    if aligned:
                        S = torch.stack(grads)
                    del grads
            with torch.no_grad():
                if spectral:
                    # to time (transposed prefix), then to amplitudes (transposed
                    # irfft-with-the-trial's-phases); all linear, so the step sum came first.
                    mp = S.shape[1]
                    h = adjoint(S.reshape(n_cls * mp, -1)).reshape(n_cls, mp, n_chans, n_times)
                    with torch.enable_grad():
                        a_var = torch.zeros((n_cls, mp, n_chans, n_freqs), dtype=dtype,
                                            device=device, requires_grad=True)
                        xx = torch.fft.irfft(a_var * ph_pair, n=n_times, dim=-1)
                        (g_amp,) = torch.autograd.grad(xx, a_var, h)
                    d_amp = amp_x[pn - n_lo] - amp_b[pk]  # (mp, chans, F)
                    attr += (g_amp * d_amp).sum(1).double()
                else:
                    # sum_k (x_n - b_k) * IG-gradient = x_n * (sum over k) - sum_n b_k * (...):
                    # the transposed prefix is applied per trial here and per baseline at
                    # the end, not per pair.
                    # the trial-side sums of a trial still open at the batch's end wait in
                    # `pending`, so each trial goes through the transposed prefix once.
                    m = n_hi - n_lo + 1
                    Sx = torch.zeros((n_cls, m, S.shape[2]), dtype=dtype, device=device)
                    Sx.index_add_(1, pn - n_lo, S)
                    if pending is not None and pending[0] == n_lo:
                        Sx[:, 0] += pending[1]
                    n_done = min(m, p1 // KS - n_lo)  # trials whose last point is in
                    pending = (n_hi, Sx[:, -1]) if n_done < m else None
                    if n_done > 0:
                        h = adjoint(Sx[:, :n_done].reshape(n_cls * n_done, -1))
                        h = h.reshape(n_cls, n_done, n_chans, n_times)
                        attr += (h * x_loc[:n_done]).sum(1).double()
                    Sb.index_add_(1, pk, S.double())
        if not spectral:
            with torch.no_grad():
                step = max(1, batch_size // n_cls)
                for k0 in range(0, K, step):
                    kk = slice(k0, min(k0 + step, K))
                    blk = Sb[:, kk].to(dtype)
                    h = adjoint(blk.reshape(-1, blk.shape[-1]))
                    attr -= (h.reshape(n_cls, -1, n_chans, n_times) * B[kk]).sum(1).double()

    data = attr.cpu().numpy()
    data[degenerate] = np.nan
    attr_sum = data.sum(axis=(1, 2))
    ph = phase_term.cpu().numpy() if spectral else np.zeros(n_cls)
    names = (list(class_names) if class_names is not None
             else [str(c) for c in range(n_out)])
    coords = {
        "class": [names[c] for c in classes],
        "class_index": np.asarray(classes),
        "class_names": names,
        "time": times,
        "freq": None if sfreq is None else np.fft.rfftfreq(n_times, 1.0 / sfreq),
        "correlation": corr,
        "attribution_sum": attr_sum,
        "phase_term": ph,
        "completeness_error": corr - ph - attr_sum,
    }
    if info is not None:
        coords["chan"] = list(info["ch_names"])
        if len(coords["chan"]) != n_chans:
            raise ShapeError(f"info has {len(coords['chan'])} channels, X has {n_chans}.")
    params = {
        "n_baselines": K, "n_steps": n_steps,
        "baselines": baselines if isinstance(baselines, str) else "array",
        "baseline_indices": base_idx, "batch_size": batch_size, "seed": seed,
        "domain": domain, "sfreq": sfreq, "quadrature": method,
        "output_transform": (output_transform if output_transform is None
                             or isinstance(output_transform, str)
                             else getattr(output_transform, "__name__", repr(output_transform))),
        "affine_prefix": 0 if prefix is None else len(prefix), "n_trials": n_trials,
        "correlation": corr,
    }
    err = np.abs(coords["completeness_error"])
    loose = np.flatnonzero(err > 0.05 * np.maximum(np.abs(corr), 1e-3))
    if loose.size:
        warn_degenerate(
            "IGC: the cells miss the correlation by more than 5 % for class(es) "
            f"{[coords['class'][i] for i in loose]} (completeness error "
            f"{', '.join(f'{e:.3g}' for e in err[loose])}): the path integral is not resolved "
            "by n_steps quadrature points. Increase n_steps (zero baselines with log-power "
            "models need many), or use baselines drawn from the data.")
    logger.info("IGC: correlation " + ", ".join(f"{n}={r:.4f}" for n, r in
                                                 zip(coords["class"], corr))
                + (f"; max |completeness error| {np.nanmax(err):.2e}"
                   if np.isfinite(err).any() else ""))
    if spectral:
        logger.info("IGC: phase term R " + ", ".join(f"{v:.4f}" for v in ph)
                    + " (the cells sum to correlation - R; R = 0 for zero baselines).")
    return Attribution(data=data, dims=("class", "chan", "freq" if spectral else "time"),
                       info=info, method="igc" if not spectral else "igc_spectral",
                       params=params, coords=coords)


# ---------------------------------------------------------------------------- ROI sums
def igc_roi_sums(attribution, rois=None, bands=None):
    """Sum an IGC attribution over channel groups (and frequency bands).

    IGC cells are additive (they sum to the correlation), so plain sums — not means —
    are the meaningful aggregates: the sum over a partition of the channels (and bands)
    adds up to the total.

    Parameters
    ----------
    attribution : Attribution
        From :func:`compute_igc`, dims ``("class", "chan", "time")`` or
        ``("class", "chan", "freq")``.
    rois : dict of str -> list of str or int | None
        Channel names (needs ``info`` or ``coords["chan"]``) or indices per ROI.
        ``None``: one ROI ``"all"`` with every channel.
    bands : dict of str -> (fmin, fmax) | None
        Frequency bands, half-open ``fmin <= f < fmax`` (so adjacent bands do not
        share a bin); only for spectral attributions. ``None``: all frequencies.

    Returns
    -------
    sums : pandas.DataFrame
        One row per class (index: class names); columns the ROIs, or a
        (roi, band) MultiIndex when ``bands`` is given.
    """
    import pandas as pd

    if not isinstance(attribution, Attribution) or attribution.dims[:2] != ("class", "chan") \
            or attribution.dims[2] not in ("time", "freq"):
        raise InvalidInputError("igc_roi_sums() needs an Attribution from compute_igc() with "
                                "dims ('class', 'chan', 'time'|'freq').")
    data = np.asarray(attribution.data, dtype=float)
    n_cls, n_chans = data.shape[:2]
    ch_names = attribution.coords.get("chan")
    if ch_names is None and attribution.info is not None:
        ch_names = list(attribution.info["ch_names"])
    if rois is None:
        rois = {"all": list(range(n_chans))}
    roi_idx = {}
    for roi, chans in rois.items():
        chans = [chans] if isinstance(chans, (str, int, np.integer)) else list(chans)
        idx = []
        for ch in chans:
            if isinstance(ch, str):
                if ch_names is None:
                    raise InvalidInputError(f"ROI {roi!r} names channels but the attribution has "
                                            "no channel names; pass indices or info=.")
                if ch not in ch_names:
                    raise unknown_name("channel", ch, ch_names)
                idx.append(list(ch_names).index(ch))
            elif isinstance(ch, (int, np.integer)) and -n_chans <= ch < n_chans:
                idx.append(int(ch) % n_chans)
            else:
                raise InvalidInputError(f"ROI {roi!r}: channel {ch!r} is neither a channel name "
                                        f"nor an index in 0..{n_chans - 1}.")
        roi_idx[roi] = np.asarray(idx, dtype=int)
    if bands is None:
        band_mask = {None: np.ones(data.shape[2], bool)}
    else:
        if attribution.dims[2] != "freq":
            raise InvalidInputError("bands= needs a spectral attribution "
                                    "(compute_igc(..., domain='spectral')).")
        freqs = np.asarray(attribution.coords["freq"])
        band_mask = {}
        for name, (fmin, fmax) in bands.items():
            if not fmin < fmax:
                raise InvalidInputError(f"Band {name!r} needs fmin < fmax, got ({fmin}, {fmax}).")
            band_mask[name] = (freqs >= fmin) & (freqs < fmax)
    cols, vals = [], []
    for roi, idx in roi_idx.items():
        for band, mask in band_mask.items():
            cols.append(roi if bands is None else (roi, band))
            vals.append(data[:, idx][:, :, mask].sum(axis=(1, 2)))
    columns = (pd.Index(cols, name="roi") if bands is None
               else pd.MultiIndex.from_tuples(cols, names=["roi", "band"]))
    index = pd.Index(attribution.coords.get("class", [str(i) for i in range(n_cls)]),
                     name="class")
    return pd.DataFrame(np.column_stack(vals) if vals else np.zeros((n_cls, 0)),
                        index=index, columns=columns)
