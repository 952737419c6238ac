"""Encoder attribution maps: per-trial Jacobians and their pseudo-inverses (CEBRA).

For an encoder ``f: R^(n_chans x n_times) -> R^n_latents`` the per-trial Jacobian
``J_i = df/dx (x_i)`` is a ``n_latents x (n_chans * n_times)`` matrix. CEBRA's
"jacobian-based" map aggregates ``J_i`` over trials; its "inverted jacobian" map
aggregates the Moore–Penrose pseudo-inverses ``J_i^+``. ``J_i^+`` answers the
inverse question (which input direction moves each latent, with the other
latents held fixed), and is what CEBRA's identifiability argument says recovers
the latent -> input connectivity.

Differences from CEBRA 0.6's ``get_attribution_map`` (on purpose):

* ``aggregate`` and ``transform`` are honoured (CEBRA ignores them);
* the caller's model is left as it was (CEBRA casts it to float64 on the CPU in
  place): it runs in eval mode with every sub-module's flag restored afterwards, and
  ``double_precision=True`` works on a float64 copy;
* Jacobians of a batch of trials at once (``torch.func.vmap(jacrev)``), or, for an
  encoder with a :class:`~neuroxai.models.encoder.SpectralFrontEnd`, from the gradients
  w.r.t. its Fourier coefficients; pseudo-inverses as ``torch.linalg.pinv`` gives them
  (:mod:`._linalg`), the four Moore–Penrose conditions checked for every trial.

The captum methods per latent live in :mod:`.latent`; the linear algebra in :mod:`._linalg`.
"""
from __future__ import annotations

import contextlib
import copy
import warnings
from typing import NamedTuple

import numpy as np
import torch

from .._core.batching import batch_slices, progress
from .._core.deprecation import deprecated_alias, warn_renamed
from .._core.model import as_module, device_dtype, evaluating, probe_model
from .._core.validation import check_float, check_int, check_option
from .._utils import InvalidInputError, ShapeError, logger, verbose
from ._base import Attribution
from ._linalg import _H, _default_mp_rtol, _mp_check_pinv, _pinv, check_moore_penrose_conditions

__all__ = [
    "compute_jacobians",
    "compute_jacobian_pinv_maps",
    "compute_jacobian_patterns",
    "reduce_to_channels",
    "check_moore_penrose_conditions",
    # deprecated, removed in the next release
    "JacobianMaps",
    "jacobian_pinv_map",
    "jacobian_spatial_patterns",
    "channel_map",
    "moore_penrose_conditions",
]

_AGGREGATES = ("mean", "sum", "max")
_TRANSFORMS = ("none", "abs")

# parameter docs shared by the encoder functions (filled in before MNE's %(verbose)s)
_DOCS = {
    "encoder_trials": "inst : mne.Epochs | braindecode windows | Trials | array, shape "
                      """(n_trials, n_chans, n_times)
        The trials (see :func:`neuroxai.data.as_trials`); an array may come with ``info``
        and ``tmin``.""",
    "encoder_channels": """info, tmin : mne.Info | None, float | None
        Channel info and first sample time (s) of an array's trials.
    picks, exclude :
        Channels to use (default: EEG without ``info["bads"]``).""",
}


def _fill_doc(func):
    for key, text in _DOCS.items():
        func.__doc__ = func.__doc__.replace(f"%({key})s", text)
    return func


# -- shared by the encoder functions (also :mod:`.latent`) ------------------------------------

def _check_aggregate(aggregate):
    if aggregate is not None:
        check_option("aggregate", aggregate, _AGGREGATES)
    return aggregate


def _prepare(model, inst, *, double_precision, info, tmin, picks, exclude, what):
    """The module, the trials (any form, see :func:`neuroxai.data.as_trials`) and the dtype."""
    from ..data._boundary import prepare_trials

    model = as_module(model)
    dtype = torch.float64 if double_precision else device_dtype(model)[1]
    # an array's info places the maps in time, so it needs the tmin (as in attribute())
    trials = prepare_trials(inst, info=info, tmin=tmin, picks=picks, exclude=exclude,
                            need=("times",) if info is not None else (), what=what,
                            dtype=np.float64 if dtype == torch.float64 else np.float32)
    if len(trials) == 0:
        raise ShapeError("The trials are empty: there is nothing to attribute.")
    # one memory layout whatever the input form, so that every form gives the same numbers
    trials.X = np.ascontiguousarray(trials.X)
    return model, trials, dtype


@contextlib.contextmanager
def _working_model(model, dtype):
    """``model`` in eval mode (every sub-module's flag restored after), in ``dtype``.

    A copy is made only to change the precision (``double_precision=True`` on a float32
    model), so that the caller's model keeps its own; otherwise the model itself is used:
    autograd w.r.t. the input leaves its parameters and their gradients alone.
    """
    if device_dtype(model)[1] != dtype:
        model = copy.deepcopy(model).to(dtype)
    with evaluating(model):
        yield model


def _map_dims(aggregate):
    return ("latent", "chan", "time") if aggregate is not None else ("trial", "latent", "chan",
                                                                      "time")


def _coords(trials, n_latents, per_trial):
    coords = {"latent": np.arange(n_latents)}
    if trials.times is not None:
        coords["time"] = trials.times
    if per_trial and trials.y is not None:
        coords["y"] = trials.y
        coords["class_names"] = list(trials.class_names)
    return coords


class _Aggregator:
    """Running mean/sum/max over trials (or the per-trial stack) of transformed maps.

    ``to_maps`` turns a batch of rows into ``(batch, n_latents, n_chans, n_times)`` maps. It
    is linear, so a mean or sum of untransformed maps is accumulated on the rows and mapped
    once at the end: for the spectral route two inverse FFTs in all instead of two per
    trial (the whole mean map 7.9x faster than per-trial maps then their mean on 64 BCI IV
    2a-sized trials, ``benchmarks/bench_jacobian.py``).
    """

    def __init__(self, aggregate, transform, n_total, to_maps):
        self.aggregate, self.transform, self.n_total = aggregate, transform, n_total
        self.to_maps = to_maps
        self.linear = aggregate in ("mean", "sum") and transform == "none"
        self.acc, self.parts = None, []

    def _accumulate(self, red, combine):
        self.acc = red if self.acc is None else combine(self.acc, red)

    def add(self, rows):
        if self.linear:  # sums in float64 keep the mean exact over many trials
            return self._accumulate(rows.sum(dim=0, dtype=torch.float64), torch.add)
        maps = self.to_maps(rows)
        if self.transform == "abs":
            maps = maps.abs()
        if self.aggregate is None:
            self.parts.append(maps.detach().cpu().numpy())
        elif self.aggregate == "max":
            self._accumulate(maps.amax(dim=0), torch.maximum)
        else:
            self._accumulate(maps.sum(dim=0, dtype=torch.float64), torch.add)

    def result(self):
        if self.aggregate is None:
            return np.concatenate(self.parts)
        out = self.to_maps(self.acc[None])[0] if self.linear else self.acc
        if self.aggregate == "mean":
            out = out / self.n_total
        return out.detach().cpu().numpy()


# -- two routes to the Jacobians -------------------------------------------------------------

class _AutogradRoute:
    """Any model: per-trial Jacobians by ``torch.func.vmap(jacrev)`` (exact per trial, also
    for a model that mixes the trials of a batch); a model whose ops have no batching rule
    falls back to ``torch.autograd.functional.jacobian`` trial by trial. The rows of ``J``
    are the maps, flattened."""

    def __init__(self, work, shape):
        from torch.func import jacrev, vmap

        self.shape, self.work, self.use_vmap = shape, work, True
        self.vectorised = vmap(jacrev(self._single))

    def _single(self, x):
        return self.work(x.unsqueeze(0)).squeeze(0)

    def jacobians(self, xb):
        # torch.func differentiates whatever the grad mode; the caller's no_grad keeps the
        # result from recording the parameters' graph
        if self.use_vmap:
            try:
                return self.vectorised(xb)
            except (RuntimeError, NotImplementedError) as err:
                logger.info(f"vmap(jacrev) failed ({err}); computing the Jacobians trial by "
                            "trial.")
                self.use_vmap = False
        with torch.enable_grad():
            return torch.stack([torch.autograd.functional.jacobian(self._single, x)
                                for x in xb])

    def rows(self, xb):
        return self.jacobians(xb).flatten(2)

    def to_maps(self, rows):
        return rows.unflatten(-1, self.shape)


class _SpectralRoute:
    """An encoder whose input enters only through ``scale * rfft(x)[lo:hi]`` (its
    :class:`~neuroxai.models.encoder.SpectralFrontEnd`).

    Its Jacobian factors as ``J = A Q^T``: ``A`` (n_latents x 2 (hi - lo) n_chans) holds
    the gradients with respect to those Fourier coefficients, and ``Q`` (orthonormal
    columns: cosines and sines of whole periods) maps them to the time domain. Everything
    the pseudo-inverse map needs then happens on ``A``, 3.5x narrower than ``J`` for
    ContrastiveEEGEncoder on BCI IV 2a trials, without an inverse FFT per latent and trial:
    ``J^+ = Q A^+``, ``J J^T = A A^T`` and the Moore-Penrose residuals are the same, and a
    mean over trials of ``Q``-images is the ``Q``-image of the mean. Equal to the autograd
    route to rounding (tested); ``benchmarks/bench_jacobian.py`` times the two.
    """

    def __init__(self, front, shape):
        self.front, (self.n_chans, self.n_times) = front, shape
        # rows of A are alpha times the gradients w.r.t. the coefficients
        self.alpha = front.scale * (self.n_times / 2.0) ** 0.5

    @classmethod
    def of(cls, work, shape):
        """The route for ``work``, or ``None`` if it has no usable spectral front end."""
        get = getattr(work, "spectral_front_end", None)
        front = get() if callable(get) else None
        n_times = shape[1]
        # the DC and Nyquist bins have no sine: their Q columns would not be orthonormal
        if front is None or front.lo == 0 or (n_times % 2 == 0 and front.hi > n_times // 2):
            return None
        return cls(front, shape)

    def rows(self, xb):
        with torch.no_grad():
            spec = self.front.spectrum(xb)
        G = self.front.coefficient_jacobian(spec)
        # (B, n_latents, n_chans, n_bins) complex, contiguous: its real view is A's rows
        return torch.view_as_real(G.mul_(self.alpha)).flatten(-3)

    def to_maps(self, U):
        """``Q U`` for rows ``U`` (..., 2 n_chans n_bins) -> (..., n_chans, n_times)."""
        lo, hi = self.front.lo, self.front.hi
        Uc = torch.view_as_complex(U.reshape(U.shape[:-1] + (self.n_chans, hi - lo, 2))
                                   .contiguous())
        H = Uc.new_zeros(Uc.shape[:-1] + (self.n_times // 2 + 1,))
        H[..., lo:hi] = Uc * (self.n_times / 2.0) ** 0.5
        return torch.fft.irfft(H, n=self.n_times, dim=-1)


def _route(work, shape):
    return _SpectralRoute.of(work, shape) or _AutogradRoute(work, shape)


@contextlib.contextmanager
def _encoder_batches(model, trials, dtype, batch_size, desc):
    """``(route, n_latents, batches)`` for the working model; ``batches`` yields tensors."""
    X = trials.X
    with _working_model(model, dtype) as work, torch.no_grad():
        device = device_dtype(work)[0]
        n_latents = probe_model(work, X, sfreq=trials.sfreq, kind="encoder")
        batches = (torch.as_tensor(X[sl], device=device, dtype=dtype)
                   for sl in progress(batch_slices(len(X), batch_size), desc))
        yield _route(work, X.shape[1:]), n_latents, batches


@verbose
@_fill_doc
def compute_jacobians(model, inst, *, batch_size=32, double_precision=False, info=None,
                      tmin=None, picks="eeg", exclude="bads", verbose=None):
    """Per-trial Jacobians of the model outputs with respect to the input.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(batch, n_chans, n_times)`` to ``(batch, n_latents)``; run in eval mode on
        its own device, every sub-module's train/eval flag restored afterwards.
    %(encoder_trials)s
    batch_size : int
        Trials per vectorised batch (bounds peak memory).
    double_precision : bool
        Compute in float64 (on a float64 copy of a float32 model); else in the model's
        precision.
    %(encoder_channels)s
    %(verbose)s

    Returns
    -------
    jacobians : Attribution
        Axes ``("trial", "latent", "chan", "time")``: ``data[i, k, c, t] = d f_k(x_i) /
        d x_i[c, t]``; ``coords["time"]`` in s from the trials' ``tmin`` where known.
    """
    batch_size = check_int(batch_size, "batch_size", 1)
    model, trials, dtype = _prepare(model, inst, double_precision=double_precision, info=info,
                                    tmin=tmin, picks=picks, exclude=exclude,
                                    what="compute_jacobians")
    with _encoder_batches(model, trials, dtype, batch_size, "Jacobians") as (route, n_latents,
                                                                              batches):
        parts = [route.to_maps(route.rows(xb)).cpu().numpy() for xb in batches]
    return Attribution(np.concatenate(parts), ("trial", "latent", "chan", "time"),
                       info=trials.info, method="jacobian",
                       params=dict(batch_size=batch_size, double_precision=bool(double_precision)),
                       coords=_coords(trials, n_latents, per_trial=True))


def _record_moore_penrose(conditions, params, coords):
    """The conditions per trial into ``coords``, their pass rates into ``params``; a warning
    when any trial fails."""
    conds = np.concatenate(conditions)
    params["moore_penrose_fraction_ok"] = conds.mean(axis=0).round(6).tolist()
    coords["moore_penrose"] = conds
    bad = ~conds.all(axis=1)
    if bad.any():
        failed = [f"{k + 1}: {int((~conds[:, k]).sum())}" for k in range(4)
                  if not conds[:, k].all()]
        warnings.warn(
            f"The pseudo-inverse failed the Moore–Penrose conditions in {int(bad.sum())} of "
            f"{len(conds)} trials (failures per condition {', '.join(failed)}): the Jacobians "
            "are numerically rank deficient or the precision is too low. Retry with "
            "double_precision=True, or read the pinv map with care.",
            RuntimeWarning, stacklevel=4)


@verbose
@_fill_doc
def compute_jacobian_pinv_maps(model, inst, *, aggregate="mean", transform="none",
                               batch_size=32, double_precision=False, check_moore_penrose=True,
                               rtol=None, info=None, tmin=None, picks="eeg", exclude="bads",
                               verbose=None):
    """CEBRA's Jacobian and inverted-Jacobian (pseudo-inverse) attribution maps.

    For each trial ``x_i`` the Jacobian ``J_i`` (``n_latents x n_chans*n_times``) of the
    model output and its Moore–Penrose pseudo-inverse ``J_i^+`` are computed;
    ``transform`` is applied to every per-trial matrix, which are then aggregated over
    trials. This is the "jacobian-based" map and its inversion of CEBRA's
    ``get_attribution_map`` / ``JFMethodBased``, with ``aggregate`` and ``transform``
    honoured.

    Parameters
    ----------
    model : torch.nn.Module
        Encoder ``(batch, n_chans, n_times) -> (batch, n_latents)``. Its dtype, device,
        parameters and train/eval flags stay as they are.
    %(encoder_trials)s
    aggregate : "mean" | "sum" | "max" | None
        Reduction over trials; ``None`` keeps one map per trial (memory grows
        with the number of trials).
    transform : "none" | "abs"
        Applied to each trial's ``J_i`` and ``J_i^+`` before aggregation (so
        that opposite signs in different trials do not cancel).
    batch_size : int
        Trials per vectorised batch (bounds peak memory).
    double_precision : bool
        Compute Jacobians and pseudo-inverses in float64 (on a float64 copy of a float32
        model). Recommended when the Moore–Penrose check fails.
    check_moore_penrose : bool
        Check the four Moore–Penrose conditions for every trial; a
        ``RuntimeWarning`` reports failures.
    rtol : float | None
        Relative cut-off of small singular values, as in ``torch.linalg.pinv``:
        singular values ``<= rtol * sigma_max`` are dropped (``None``: its
        default ``max(m, n) * eps``).
    %(encoder_channels)s
    %(verbose)s

    Returns
    -------
    jacobian, pinv : Attribution
        Axes ``("latent", "chan", "time")`` (``("trial", ...)`` first with
        ``aggregate=None``), ``coords["time"]`` in s from the trials' ``tmin`` where known.
        ``pinv`` holds ``J_i^+`` transposed (CEBRA's layout): ``pinv.data[k, c, t]`` is the
        entry of input ``(c, t)`` for latent ``k``. With the check, ``coords
        ["moore_penrose"]`` holds the ``(n_trials, 4)`` booleans of the four conditions and
        ``params["moore_penrose_fraction_ok"]`` the fraction of trials meeting each.

    Notes
    -----
    The aggregated pseudo-inverse map is the aggregate of per-trial pseudo-inverses, not
    the pseudo-inverse of the aggregated Jacobian. Use :func:`reduce_to_channels` for a
    ``("latent", "chan")`` map, :func:`~neuroxai.viz.plot_jacobian_maps` to draw one.

    An encoder that declares a :class:`~neuroxai.models.encoder.SpectralFrontEnd` (as
    :class:`~neuroxai.models.encoder.ContrastiveEEGEncoder` does: its input enters only
    through in-band Fourier coefficients) has ``J_i = A_i Q^T`` with orthonormal ``Q``
    (cosines and sines): the pseudo-inverse and the Moore–Penrose check run on the
    narrower ``A_i`` (``J_i^+ = Q A_i^+``), equal to the autograd route to rounding.
    ``J_i^+`` is what ``torch.linalg.pinv`` gives (same singular-value cut-off, equal to
    rounding), at a fraction of its cost: ``J_i^H (J_i J_i^H)^{-1}`` from the small Gram
    matrix when ``J_i`` has condition number <= 100 and no singular value near the cut-off,
    else from a thin QR decomposition of ``J_i^H`` and the SVD of its small triangular
    factor (an SVD of ``J_i`` as accurate as LAPACK's).

    An encoder with unit-norm outputs (CEBRA's, and ContrastiveEEGEncoder) has Jacobians of
    rank ``n_latents - 1`` (the output cannot move along itself). The pseudo-inverse then
    depends on the cut-off of small singular values (``rtol``); in float32 the default
    cut-off removes the null direction, and the Moore–Penrose check tells whether what is
    left is consistent.

    ``J^+ = J^T (J J^T)^+`` is the Haufe pattern of the Jacobian under a white (identity)
    input covariance. With spatially correlated background activity the Jacobian and its
    pseudo-inverse both show how the encoder filters (including noise cancellation on
    channels without signal), not where the signal is: compare against perturbation maps
    (:func:`~neuroxai.attribution.compute_latent_attributions` with
    ``method="feature_ablation"``) or :func:`compute_jacobian_patterns`.
    """
    _check_aggregate(aggregate)
    check_option("transform", transform, _TRANSFORMS)
    batch_size = check_int(batch_size, "batch_size", 1)
    if rtol is not None:
        rtol = check_float(rtol, "rtol", 0.0)
    model, trials, dtype = _prepare(model, inst, double_precision=double_precision, info=info,
                                    tmin=tmin, picks=picks, exclude=exclude,
                                    what="compute_jacobian_pinv_maps")
    n, n_chans, n_times = trials.X.shape
    conditions = []
    with _encoder_batches(model, trials, dtype, batch_size, "Jacobian pinv maps") as (
            route, n_latents, batches):
        # the default cut-off of torch.linalg.pinv(J) depends on J's shape, not on A's
        cut = rtol if rtol is not None else (max(n_latents, n_chans * n_times)
                                             * torch.finfo(dtype).eps)
        aggs = [_Aggregator(aggregate, transform, n, route.to_maps) for _ in range(2)]
        for xb in batches:
            J = route.rows(xb)
            P, basis = _pinv(J, cut)
            if check_moore_penrose:
                conditions.append(_mp_check_pinv(J, P, basis, _default_mp_rtol(dtype)))
            aggs[0].add(J)
            aggs[1].add(_H(P))
    params = dict(aggregate=aggregate, transform=transform, batch_size=batch_size,
                  double_precision=bool(double_precision), n_trials=int(n), rtol=rtol)
    coords = _coords(trials, n_latents, per_trial=aggregate is None)
    if check_moore_penrose:
        _record_moore_penrose(conditions, params, coords)
    return tuple(Attribution(agg.result(), _map_dims(aggregate), info=trials.info, method=name,
                             params=dict(params), coords=dict(coords))
                 for agg, name in zip(aggs, ("jacobian", "jacobian_pinv")))


# -- reductions ------------------------------------------------------------------------------

def _check_attribution(attribution, what):
    if not isinstance(attribution, Attribution):
        raise InvalidInputError(
            f"{what}() takes an Attribution (e.g. from compute_jacobian_pinv_maps), got "
            f"{type(attribution).__name__}.")


def reduce_to_channels(attribution, transform="abs", reduce="mean"):
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
    _check_attribution(attribution, "reduce_to_channels")
    check_option("transform", transform, _TRANSFORMS)
    check_option("reduce", reduce, _AGGREGATES)
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


@verbose
def compute_jacobian_patterns(attribution, inst, transform="abs", *, info=None, picks="eeg",
                              exclude="bads", verbose=None):
    """Haufe-transform Jacobian maps with the channel covariance of the data.

    A Jacobian (or its pseudo-inverse) map describes how the encoder *filters* the
    channels — including the noise it cancels on channels without signal — not where the
    signal is. Multiplying by the channel covariance ``C`` (Haufe et al., 2014, applied per
    time sample of the map) turns the filter into a pattern: ``P[..., c, t] = sum_e C[c, e]
    J[..., e, t]``. Only the ``chan x chan`` covariance is formed, never ``(chan*time)^2``.

    Parameters
    ----------
    attribution : Attribution
        From :func:`compute_jacobian_pinv_maps` with ``transform="none"`` (best per trial:
        ``aggregate=None``) or :func:`compute_jacobians`; axes ending in ``("chan",
        "time")``.
    inst : mne.Epochs | braindecode windows | Trials | array, shape (n_trials, n_chans, n_times_X)
        Data whose channel covariance is used (e.g. the trials the maps were computed on).
        Only the covariance enters, so the data may be band-passed and cut to a time window
        (any ``n_times_X``) for a pattern of the activity in that band and window: on the
        simulated spatial regime, the 8-13 Hz / burst-window covariance gave a clearly
        higher channel AUC than the broadband one (``benchmarks/jacobian_auc.py``).
    transform : ``"abs"`` | ``"none"``
        Applied after the transform; a ``"trial"`` axis is then averaged away.
    info, picks, exclude :
        As in :func:`neuroxai.data.as_trials`.
    %(verbose)s

    Returns
    -------
    patterns : Attribution
    """
    from ..data._boundary import prepare_trials

    _check_attribution(attribution, "compute_jacobian_patterns")
    check_option("transform", transform, _TRANSFORMS)
    trials = prepare_trials(inst, info=info, picks=picks, exclude=exclude,
                            what="compute_jacobian_patterns", dtype=np.float64)
    X = trials.X
    if tuple(attribution.dims[-2:]) != ("chan", "time") or X.shape[1] != attribution.shape[-2]:
        raise ShapeError(f"The attribution must end in (chan, time) with {X.shape[1]} channels "
                         f"(those of the data); got dims {attribution.dims} and shape "
                         f"{attribution.shape}.")
    if trials.info is not None and attribution.info is not None \
            and list(trials.info["ch_names"]) != list(attribution.info["ch_names"]):
        raise ShapeError("The data's channels are not the attribution's: pick the same "
                         f"channels (picks=...); data {trials.info['ch_names'][:5]}..., "
                         f"attribution {attribution.info['ch_names'][:5]}...")
    cov = np.cov(X.transpose(1, 0, 2).reshape(X.shape[1], -1).astype(np.float64))
    data = np.einsum("ce,...et->...ct", cov, np.asarray(attribution.data, dtype=np.float64))
    if transform == "abs":
        data = np.abs(data)
    dims, coords = attribution.dims, dict(attribution.coords)
    if "trial" in dims:
        data = data.mean(axis=dims.index("trial"))
        dims = tuple(d for d in dims if d != "trial")
        coords.pop("y", None)
    return Attribution(data, dims, info=attribution.info, method="jacobian_patterns",
                       params=dict(transform=transform, source=attribution.method),
                       coords=coords)


# -- deprecated names, kept for one release --------------------------------------------------

class JacobianMaps(NamedTuple):
    """Deprecated: the result of the deprecated :func:`jacobian_pinv_map`.

    :func:`compute_jacobian_pinv_maps` returns ``(jacobian, pinv)`` Attributions, with the
    conditions in ``coords["moore_penrose"]``.
    """

    jacobian: Attribution
    pinv: Attribution
    conditions: np.ndarray | None


def jacobian_pinv_map(model, X, aggregate="mean", transform="none", batch_size=32,
                      double_precision=False, check_moore_penrose=True, rtol=None, info=None,
                      verbose=None):
    """Deprecated: use :func:`compute_jacobian_pinv_maps` (removed in the next release).

    Returns the former :class:`JacobianMaps` tuple; an array's ``info`` puts its first
    sample at 0 s, as before.
    """
    warn_renamed("jacobian_pinv_map", "compute_jacobian_pinv_maps")
    jac, pinv = compute_jacobian_pinv_maps(
        model, X, aggregate=aggregate, transform=transform, batch_size=batch_size,
        double_precision=double_precision, check_moore_penrose=check_moore_penrose, rtol=rtol,
        info=info, tmin=0.0 if info is not None else None, verbose=verbose)
    return JacobianMaps(jac, pinv, jac.coords.get("moore_penrose"))


def moore_penrose_conditions(A, A_pinv, rtol=None, atol=0.0):
    """Deprecated: use :func:`check_moore_penrose_conditions` (removed in the next release).

    Returns a boolean tensor, as before.
    """
    warn_renamed("moore_penrose_conditions", "check_moore_penrose_conditions")
    return torch.from_numpy(check_moore_penrose_conditions(A, A_pinv, rtol=rtol, atol=atol))


channel_map = deprecated_alias(reduce_to_channels, "channel_map")
jacobian_spatial_patterns = deprecated_alias(compute_jacobian_patterns,
                                             "jacobian_spatial_patterns")
