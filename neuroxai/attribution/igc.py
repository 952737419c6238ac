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

**Completeness** (the IGC axiom, cells + phase term = correlation) is checked on every
result: ``coords["completeness_error"]`` holds what the cells miss, and a warning says
when it exceeds :data:`COMPLETENESS_RTOL` (see :func:`compute_igc`, Notes).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from .._core.labels import resolve_targets
from .._core.model import as_module, device_dtype, evaluating, predict_scores, probe_model
from .._core.random import check_seed
from .._core.validation import check_int, check_option
from .._utils import (
    InvalidInputError,
    ModelMismatchError,
    ShapeError,
    TargetError,
    check_finite,
    logger,
    verbose,
    warn_degenerate,
)
from ._base import Attribution
from ._igc_paths import (
    _ClosedFormPathSums,
    _GenericPathSums,
    _PointBatcher,
    _SpectralBackprojection,
    _TimeBackprojection,
    integrate_paths,
)
from ._igc_prefix import _adjoint, _Layout, _pool_transpose, _quadratic_head, _split_affine
from ._igc_sums import compute_igc_channel_sums, compute_igc_roi_sums, igc_roi_sums

__all__ = ["compute_igc", "compute_igc_roi_sums", "compute_igc_channel_sums", "igc_roi_sums"]

_DOMAINS = ("time", "spectral")
_BASELINES = ("data", "zeros")
_QUADRATURES = ("gausslegendre", "riemann_trapezoid", "riemann_middle", "riemann_left",
                "riemann_right")
_TRANSFORMS = {
    "softmax": lambda out: torch.softmax(out, dim=-1),
    "log_softmax": lambda out: torch.log_softmax(out, dim=-1),
}
_ENGINES = ("auto", "generic", "closed_form")
#: Completeness tolerance: a class whose cells (plus the phase term) miss its correlation
#: by more than this fraction of ``max(|r|, 1e-3)`` gets a warning.
COMPLETENESS_RTOL = 0.05


# ----------------------------------------------------------------------------- helpers
def _quadrature(method, n_steps):
    """Nodes in [0, 1] and weights of the path-integral rule (the rules captum offers)."""
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n_steps)
        return (nodes + 1.0) / 2.0, weights / 2.0
    if method == "riemann_trapezoid":
        if n_steps < 2:
            raise InvalidInputError("quadrature='riemann_trapezoid' needs n_steps >= 2.")
        w = np.full(n_steps, 1.0 / (n_steps - 1))
        w[[0, -1]] /= 2.0
        return np.linspace(0.0, 1.0, n_steps), w
    offset = {"riemann_middle": 0.5, "riemann_left": 0.0, "riemann_right": 1.0}[method]
    return (np.arange(n_steps) + offset) / n_steps, np.full(n_steps, 1.0 / n_steps)


def _check_args(domain, quadrature, n_steps, batch_size, output_transform, engine):
    """Argument checks before any work; returns ``(n_steps, batch_size, transform)``."""
    check_option("domain", domain, _DOMAINS)
    check_option("quadrature rule", quadrature, _QUADRATURES)
    check_option("engine", engine, _ENGINES)
    n_steps, batch_size = check_int(n_steps, "n_steps", 1), check_int(batch_size, "batch_size", 1)
    if isinstance(output_transform, str):
        check_option("output_transform", output_transform, _TRANSFORMS)
        return n_steps, batch_size, _TRANSFORMS[output_transform]
    if output_transform is None or callable(output_transform):
        return n_steps, batch_size, output_transform
    raise InvalidInputError("output_transform must be None, 'softmax', 'log_softmax' or a "
                            f"callable, got {type(output_transform).__name__}.")


class _Outputs:
    """Columns ``classes`` of ``transform(module(u))``; with ``layout``, ``u`` is flat."""

    def __init__(self, module, transform, classes, layout=None):
        self.module, self.transform, self.classes, self.layout = module, transform, classes, layout

    def __call__(self, u):
        out = self.module(self.layout.unflat(u) if self.layout is not None else u)
        return (self.transform(out) if self.transform is not None else out)[:, self.classes]


def _igc_trials(inst, y, *, domain, info, tmin, class_names, picks, exclude, sfreq, dtype):
    """``(trials, continuous targets or None, sfreq, times)`` through the trials boundary."""
    from ..data._boundary import prepare_trials

    continuous = y is not None and (y.ndim if hasattr(y, "ndim") else np.ndim(y)) == 2
    trials = prepare_trials(
        inst, None if continuous else y, info=info, tmin=tmin, class_names=class_names,
        picks=picks, exclude=exclude, units=True,
        need=(() if sfreq is not None else ("sfreq",) if domain == "spectral"
              else ("times",) if info is not None else ()),
        what=f"compute_igc(domain={domain!r})",
        dtype=np.float64 if dtype == torch.float64 else np.float32)
    if sfreq is not None and trials.sfreq is not None and float(sfreq) != trials.sfreq:
        raise InvalidInputError(f"sfreq={sfreq} contradicts info['sfreq']={trials.sfreq}.")
    sfreq = trials.sfreq if trials.sfreq is not None else (
        None if sfreq is None else float(sfreq))
    times = trials.times if trials.times is not None else (
        None if sfreq is None else np.arange(trials.X.shape[2]) / sfreq)
    if not continuous and trials.y is None:
        raise InvalidInputError("compute_igc needs targets: pass y= (labels or one continuous "
                                "target per output), or labelled trials.")
    return trials, (y if continuous else None), sfreq, times


def _targets(trials, y_cont, n_out, classes):
    """Targets ``(n_trials, n_classes)``: one-hot labels, or the continuous targets."""
    n_trials = len(trials.X)
    if y_cont is None:
        try:
            labels = resolve_targets(trials.y, n_trials, n_out)
        except TargetError as err:
            raise TargetError(f"The labels y, encoded as class indices for the classes "
                              f"{tuple(trials.class_names)}, do not fit the model: {err}") from None
        T = (labels[:, None] == np.arange(n_out)[None]).astype(float)
    else:
        T = np.asarray(y_cont.detach().cpu() if hasattr(y_cont, "detach") else y_cont)
        if not (np.issubdtype(T.dtype, np.number) or T.dtype == bool):
            raise InvalidInputError(f"Continuous targets y must be numeric, got {T.dtype}.")
        if T.shape != (n_trials, n_out):
            raise ShapeError(f"Continuous targets y must have shape (n_trials, n_outputs) = "
                             f"({n_trials}, {n_out}), one per model output; got {T.shape}.")
        check_finite(T, "y")
        T = T.astype(float)
    T = T[:, classes]
    if np.any(T.std(axis=0) == 0):
        const = [classes[i] for i in np.flatnonzero(T.std(axis=0) == 0)]
        raise TargetError(
            f"The target of class(es) {const} is constant over the trials (class absent or "
            "the only one), so its correlation is undefined. Pass classes= without them.")
    return T


def _n_outputs_and_classes(model, transform, X, classes):
    """Outputs after ``output_transform`` (checked on one trial) and the classes to explain."""
    if transform is not None:
        with torch.no_grad():
            probe = transform(model(X[:1]))
        if probe.ndim != 2 or probe.shape[0] != 1:
            raise ModelMismatchError(f"The model with output_transform must return (batch, "
                                     f"n_outputs); got {tuple(probe.shape)} for one trial.")
    else:
        with torch.no_grad():
            probe = model(X[:1])
    n_out = probe.shape[1]
    classes = list(range(n_out)) if classes is None else [int(c) for c in np.atleast_1d(classes)]
    bad = [c for c in classes if not 0 <= c < n_out]
    if bad or not classes:
        raise TargetError(f"classes {bad or classes} are outside the model's {n_out} outputs "
                          f"(valid: 0..{n_out - 1}).")
    return n_out, classes


def _baselines(baselines, X, n_baselines, seed):
    """Baseline trials (K, n_chans, n_times) drawn once, and the drawn indices."""
    if isinstance(baselines, str):
        check_option("baseline", baselines, _BASELINES)
        if baselines == "zeros":
            return torch.zeros((1,) + X.shape[1:], dtype=X.dtype, device=X.device), None
        k = check_int(n_baselines, "n_baselines", 1)
        idx = np.sort(np.random.default_rng(seed).choice(X.shape[0], size=k,
                                                         replace=k > X.shape[0]))
        return X[torch.as_tensor(idx, device=X.device)], idx
    try:
        b = baselines.detach() if torch.is_tensor(baselines) else torch.as_tensor(baselines)
    except (TypeError, ValueError, RuntimeError) as err:
        raise InvalidInputError(f"baselines must be 'data', 'zeros' or a numeric array, got "
                                f"{type(baselines).__name__}.") from err
    b = b[None] if b.ndim == 2 else b
    if b.ndim != 3 or tuple(b.shape[1:]) != tuple(X.shape[1:]) or b.is_complex():
        raise ShapeError(
            f"baselines must be 'data', 'zeros' or an array of shape (n_chans, n_times) or "
            f"(n_baselines, n_chans, n_times) = (K, {X.shape[1]}, {X.shape[2]}), got "
            f"{tuple(np.shape(baselines))}. Spectral IGC also takes time-domain baselines "
            "(their amplitude spectra are used).")
    check_finite(b, "baselines")
    return b.to(dtype=X.dtype, device=X.device), None


def _igc_weights(model, transform, X, T, classes, n_baselines, batch_size, like):
    """Direct correlation ``r``, IGC weights ``w = z_t / (N sigma_f K)`` (C, N), degenerate.

    An output constant over the trials has no correlation: NaN with a warning, weight 0.
    ``like``: a tensor with the model's dtype and device (for ``w``).
    """
    F = torch.as_tensor(predict_scores(model, X, batch_size))
    F = (transform(F) if transform is not None else F)[:, classes].double().numpy()
    check_finite(F, "model output")
    f_std = F.std(axis=0)
    z_t = (T - T.mean(axis=0)) / T.std(axis=0)
    degenerate = f_std <= 1e-12 * np.maximum(np.abs(F).max(axis=0), 1e-300)
    if np.any(degenerate):
        warn_degenerate(f"IGC: model output(s) {np.asarray(classes)[degenerate].tolist()} are "
                        "constant over X; their correlation is undefined (NaN).")
    f_safe = np.where(degenerate, 1.0, f_std)
    corr = np.where(degenerate, np.nan, (z_t * (F - F.mean(0))).mean(0) / f_safe)
    w = np.where(degenerate[None], 0.0, z_t / (len(X) * f_safe * n_baselines)).T
    return corr, torch.as_tensor(w, dtype=like.dtype, device=like.device), degenerate


def _path_engine(engine, rest, u_shape, layout, transform, classes, alphas, qw, w, batch_size):
    """The path-sum engine and the pairs per batch (``None``: points, generic engine).

    ``"auto"`` takes the closed form when the head after the prefix is square -> average
    pool (checked numerically), else the generic autograd route; both give the same sums.
    """
    head = _Outputs(rest, transform, classes, layout)
    quad = None if engine == "generic" else _quadratic_head(rest, u_shape, w.dtype, w.device)
    if quad is None:
        if engine == "closed_form":
            raise InvalidInputError("engine='closed_form' needs a square -> average-pool head "
                                    "after the affine prefix; use engine='auto'.")
        return _GenericPathSums(head, alphas, qw, w), None
    pool, tail = quad
    logger.info("IGC: square -> average-pool head; each path's pooled power is a quadratic in "
                "the step (closed form, same result).")
    pool_t = _pool_transpose(pool, u_shape, layout, w.dtype, w.device)
    # the closed form never builds the points: memory goes with the pairs (about four
    # points' worth each), so a batch holds batch_size // 4 whole pairs
    return (_ClosedFormPathSums(layout, pool, _Outputs(tail, transform, classes), pool_t,
                                alphas, qw, w), max(1, batch_size // 4))
# ------------------------------------------------------------------------------ main
@verbose
def _compute_igc(model, inst, y=None, *, n_baselines=32, n_steps=32, baselines="data",
                 batch_size=256, seed=0, classes=None, domain="time", info=None, tmin=None,
                 class_names=None, picks="eeg", exclude="bads", output_transform=None,
                 quadrature="gausslegendre", affine_prefix="auto", sfreq=None, engine="auto",
                 verbose=None):
    """:func:`compute_igc` with the path-sum engine as a private switch.

    ``engine``: ``"auto"`` (the public behaviour), ``"generic"`` (autograd through the head
    at every point, any model) or ``"closed_form"`` (square -> average-pool heads only);
    the tests check that the two engines give the same cells.
    """
    from ..models._fast import fast_view
    from .methods import output_names

    model = as_module(model)
    n_steps, batch_size, transform = _check_args(domain, quadrature, n_steps, batch_size,
                                                 output_transform, engine)
    seed = check_seed(seed)
    device, dtype = device_dtype(model)
    trials, y_cont, sfreq, times = _igc_trials(
        inst, y, domain=domain, info=info, tmin=tmin, class_names=class_names, picks=picks,
        exclude=exclude, sfreq=sfreq, dtype=dtype)
    Xt = torch.as_tensor(trials.X, dtype=dtype, device=device)
    alphas, qw = (torch.as_tensor(v, dtype=dtype, device=device)
                  for v in _quadrature(quadrature, n_steps))
    # same function, shared parameters, faster first layer (prefix and its transpose)
    model = fast_view(model)
    probe_model(model, trials.X[:1], sfreq=sfreq)
    with evaluating(model):
        n_out, classes = _n_outputs_and_classes(model, transform, Xt, classes)
        T = _targets(trials, y_cont, n_out, classes)
        if y_cont is None:
            class_names = output_names(trials, n_out, class_names)
        elif class_names is not None and len(class_names) != n_out:
            raise ModelMismatchError(f"class_names has {len(class_names)} names but the model "
                                     f"has {n_out} outputs.")
        B, base_idx = _baselines(baselines, Xt, n_baselines, seed)
        corr, w, degenerate = _igc_weights(model, transform, trials.X, T, classes, B.shape[0],
                                           batch_size, like=alphas)
        prefix, rest = _split_affine(model, affine_prefix, Xt)
        with torch.no_grad():
            u_shape = tuple((prefix(Xt[:1]) if prefix is not None else Xt[:1]).shape[1:])
        layout = _Layout(u_shape)

        def embed(x):  # trials -> prefix output, flat layout
            return layout.flat(prefix(x) if prefix is not None else x)

        def adjoint(S):  # (rows, Du) flat -> (rows, n_chans, n_times)
            return _adjoint(prefix, layout.unflat(S), tuple(Xt.shape[1:]))

        path_sums, pairs = _path_engine(engine, rest, u_shape, layout, transform, classes,
                                        alphas, qw, w, batch_size)
        if domain == "spectral":
            back = _SpectralBackprojection(B, embed, adjoint,
                                           _Outputs(rest, transform, classes, layout), w,
                                           len(classes))
        else:
            back = _TimeBackprojection(B, embed, adjoint, len(classes), batch_size)
        batcher = _PointBatcher(len(Xt), B.shape[0], n_steps, batch_size, device, pairs)
        attr, phase_term = integrate_paths(Xt, embed, batcher, path_sums, back)
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_out)]
    params = {
        "n_baselines": B.shape[0], "n_steps": n_steps,
        "baselines": baselines if isinstance(baselines, str) else "array",
        "baseline_indices": base_idx, "batch_size": batch_size, "seed": seed,
        "domain": domain, "sfreq": sfreq, "quadrature": quadrature,
        "output_transform": (output_transform if output_transform is None
                             or isinstance(output_transform, str)
                             else getattr(output_transform, "__name__", repr(output_transform))),
        "affine_prefix": 0 if prefix is None else len(prefix), "n_trials": len(Xt),
        "correlation": corr,
    }
    return _igc_result(attr, phase_term, corr, degenerate, [names[c] for c in classes],
                       names, classes, times, sfreq, trials.info, params)


@verbose
def compute_igc(model, inst, y=None, *, n_baselines=32, n_steps=32, baselines="data",
                batch_size=256, seed=0, classes=None, domain="time", info=None, tmin=None,
                class_names=None, picks="eeg", exclude="bads", output_transform=None,
                quadrature="gausslegendre", affine_prefix="auto", sfreq=None, method=None,
                progress=None, verbose=None):
    """Integrated Gradient Correlation: split each class's output-target correlation.

    Parameters
    ----------
    model : torch.nn.Module | braindecode.EEGClassifier
        Maps ``(batch, n_chans, n_times)`` to ``(batch, n_outputs)``; run in eval mode
        (every sub-module's flag restored afterwards) on its own device and dtype.
    inst : mne.Epochs | braindecode windows | Trials | array, shape (n_trials, n_chans, n_times)
        The dataset over which the correlation is taken (see
        :func:`neuroxai.data.as_trials`). Every trial is used. The sampling rate (and, in
        the time domain, ``tmin``) come from it; an array needs ``info`` (and ``tmin``).
    y : array, shape (n_trials,) or (n_trials, n_outputs) | None
        Class labels (ints, event codes or names: one-hot targets per class, the
        categorical case) or one continuous target per model output. Default: the labels
        that Epochs / windows / Trials carry.
    n_baselines : int
        Number of baseline trials drawn (once, with ``seed``) from the trials when
        ``baselines="data"`` (without replacement when ``n_baselines <= n_trials``).
    n_steps : int
        Quadrature points of each path integral.
    baselines : "data" | "zeros" | array
        ``"data"``: trials drawn from the data; ``"zeros"``: the zero signal (one
        baseline); an array ``(n_chans, n_times)`` or ``(K, n_chans, n_times)`` of
        time-domain baselines (for ``domain="spectral"`` their amplitude spectra).
    batch_size : int
        Interpolation points per forward/backward pass; the points of all
        (trial, baseline, step) triples are flattened and cut into batches of this size,
        which bounds memory. With a square -> average-pool head (closed form, see Notes)
        a batch holds ``batch_size // 4`` whole (trial, baseline) pairs instead.
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
        ``"completeness_error"`` (see Notes). ``params`` records the settings and the
        drawn ``baseline_indices``.

    Notes
    -----
    **Completeness (the IGC axiom).** For every class, the cells plus the phase term add
    up to the correlation: ``data[c].sum() + phase_term[c] = correlation[c]`` (time domain:
    ``phase_term = 0``, so the cells alone sum to r). It holds up to the quadrature error of
    the path integrals, which ``coords["completeness_error"]`` = correlation - phase_term
    - attribution_sum reports for every class. Where ``|completeness_error|`` exceeds
    ``COMPLETENESS_RTOL * max(|r|, 1e-3)`` (``COMPLETENESS_RTOL = 0.05``), a
    :class:`~neuroxai.DegenerateMethodWarning` says that the path integral is not resolved:
    raise ``n_steps`` (zero baselines with log-power models need many) or use baselines
    drawn from the data.

    The path-sum engine is chosen automatically. For a model whose head after the affine
    prefix is square -> average pool -> anything (ShallowFBCSPNet), the pooled power along
    each path is a quadratic in the step, so the steps run on the small pooled tensor only
    (a closed form, checked numerically on the model): same result, about 10x less work
    (288 trials x 32 baselines x 32 steps in a few minutes on 2 CPU cores). Any other head
    takes the generic route (autograd at every point).

    Cost: ``n_trials * K * n_steps`` gradient evaluations, shared by all classes
    (one forward pass per point and one vector-Jacobian product per class). With an
    affine prefix, the trials and baselines go through the prefix once each
    (spectral: once per trial-baseline pair) and only the rest of the network is
    evaluated at the interpolation points.

    A class whose target or output is constant over the trials has no correlation: a
    constant target raises :class:`TargetError`; a constant output gives NaN with a
    :class:`DegenerateMethodWarning`.
    """
    from .._core.deprecation import deprecated_progress

    if method is not None:
        warnings.warn("compute_igc(method=) is deprecated and will be removed in the next "
                      "release: the quadrature rule is quadrature=.", FutureWarning,
                      stacklevel=3)
        quadrature = method
    if sfreq is not None:
        warnings.warn("compute_igc(sfreq=) is deprecated and will be removed in the next "
                      "release: the rate comes from info / Epochs / Trials.", FutureWarning,
                      stacklevel=3)
    deprecated_progress(progress)
    return _compute_igc(model, inst, y, n_baselines=n_baselines, n_steps=n_steps,
                        baselines=baselines, batch_size=batch_size, seed=seed, classes=classes,
                        domain=domain, info=info, tmin=tmin, class_names=class_names,
                        picks=picks, exclude=exclude, output_transform=output_transform,
                        quadrature=quadrature, affine_prefix=affine_prefix, sfreq=sfreq)


def _igc_result(attr, phase_term, corr, degenerate, explained, names, classes, times, sfreq,
                info, params):
    """The :class:`Attribution`, with the completeness error checked against the tolerance."""
    spectral = phase_term is not None
    data = attr.cpu().numpy()
    data[degenerate] = np.nan
    attr_sum = data.sum(axis=(1, 2))
    ph = phase_term.cpu().numpy() if spectral else np.zeros(len(classes))
    n_times = len(times) if times is not None else None
    coords = {
        "class": explained, "class_index": np.asarray(classes), "class_names": names,
        "time": times,
        "freq": None if sfreq is None or n_times is None else np.fft.rfftfreq(n_times, 1 / sfreq),
        "correlation": corr, "attribution_sum": attr_sum, "phase_term": ph,
        "completeness_error": corr - ph - attr_sum,
    }
    if info is not None:
        coords["chan"] = list(info["ch_names"])
    err = np.abs(coords["completeness_error"])
    loose = np.flatnonzero(err > COMPLETENESS_RTOL * np.maximum(np.abs(corr), 1e-3))
    if loose.size:
        warn_degenerate(
            f"IGC: the cells miss the correlation by more than {COMPLETENESS_RTOL:.0%} for "
            f"class(es) {[explained[i] for i in loose]} (completeness error "
            f"{', '.join(f'{e:.3g}' for e in err[loose])}): the path integral is not resolved "
            "by n_steps quadrature points. Increase n_steps (zero baselines with log-power "
            "models need many), or use baselines drawn from the data.")
    logger.info("IGC: correlation " + ", ".join(f"{n}={r:.4f}" for n, r in zip(explained, corr))
                + (f"; max |completeness error| {np.nanmax(err):.2e}"
                   if np.isfinite(err).any() else ""))
    if spectral:
        logger.info("IGC: phase term R " + ", ".join(f"{v:.4f}" for v in ph)
                    + " (the cells sum to correlation - R; R = 0 for zero baselines).")
    return Attribution(data=data, dims=("class", "chan", "freq" if spectral else "time"),
                       info=info, method="igc_spectral" if spectral else "igc", params=params,
                       coords=coords)
