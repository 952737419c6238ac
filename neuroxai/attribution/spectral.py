"""Spectral amplitude gradients and their Haufe patterns."""
from __future__ import annotations

import numpy as np

from .._core.selection import band_masks, check_bands
from .._utils import InvalidInputError, ShapeError, logger, verbose, warn_degenerate
from ._base import Attribution


def _amp_grads_batch(model, xb, n_out, batched_ok):
    """Per-trial gradients of every output w.r.t. the amplitude spectrum of one batch.

    One forward pass; the backward for all outputs is a single vmapped vector-Jacobian
    product (``is_grads_batched``) instead of one backward pass per class.
    """
    import torch

    n_times = xb.shape[-1]
    spec = torch.fft.rfft(xb.double(), dim=-1)
    amps = spec.abs().to(xb.dtype).requires_grad_(True)
    phases = spec.angle().to(xb.dtype)
    x_rec = torch.fft.irfft(torch.polar(amps, phases), n=n_times, dim=-1)
    out = model(x_rec)
    if out.ndim != 2:
        raise ShapeError(f"Model output must be (batch, n_outputs), got {tuple(out.shape)}.")
    # Trials do not interact in eval mode, so d(sum_b out[b, c]) / d amps[b] is trial b's own
    # gradient: no 1/batch factor, unlike differentiating a batch mean.
    if batched_ok[0]:
        eye = torch.eye(n_out, dtype=out.dtype, device=out.device)
        cot = eye[:, None, :].expand(n_out, out.shape[0], n_out)
        try:
            (g,) = torch.autograd.grad(out, amps, grad_outputs=cot, is_grads_batched=True)
            return g
        except RuntimeError as err:  # some ops have no batching rule: fall back to a loop
            logger.debug(f"vmapped backward failed ({err}); using one backward per output")
            batched_ok[0] = False
            out = model(torch.fft.irfft(torch.polar(amps, phases), n=n_times, dim=-1))
    gs = []
    for c in range(n_out):
        (g,) = torch.autograd.grad(out[:, c].sum(), amps, retain_graph=c < n_out - 1)
        gs.append(g)
    return torch.stack(gs)


@verbose
def compute_amplitude_gradients(model, inst, *, batch_size=64, info=None, class_names=None,
                                picks="eeg", exclude="bads", progress=None, verbose=None):
    """Gradient of every class score w.r.t. each trial's amplitude spectrum.

    The input is split into amplitude and phase (``rfft``), rebuilt with ``irfft`` and fed to
    the model; the gradient is taken w.r.t. the amplitudes with phases held fixed
    (Schirrmeister et al., 2017). Each trial's gradient is its own: the result does not
    depend on ``batch_size`` (braindecode's ``amplitude_gradients`` differentiates a batch
    mean, i.e. it equals ours divided by the batch size).

    Parameters
    ----------
    model : torch.nn.Module | braindecode.EEGClassifier
        Maps ``(batch, n_chans, n_times)`` to ``(batch, n_outputs)``; evaluated in eval mode
        on its own device (every sub-module's mode is restored afterwards).
    inst : mne.Epochs | braindecode windows dataset | Trials | array
        The trials, ``(n_trials, n_chans, n_times)`` for an array (see
        :func:`neuroxai.data.as_trials`). The frequency axis needs the
        sampling rate: an array must come with ``info``.
    batch_size : int
        Trials per forward/backward pass; bounds peak memory.
    info : mne.Info | None
        Channel info of an array's trials.
    class_names : sequence of str | None
        Names of the model's outputs (default: the trials' classes when there is one per
        output).
    picks, exclude :
        Channels to use (default: EEG without ``info["bads"]``).
    progress :
        Deprecated: progress bars follow ``verbose``, as in MNE.
    %(verbose)s

    Returns
    -------
    grads : Attribution
        ``data`` of shape ``(n_outputs, n_trials, n_chans, n_freqs)``, dims
        ``("class", "trial", "chan", "freq")``, ``coords["freq"]`` in Hz.
    """
    import torch

    from .._core.batching import batch_slices
    from .._core.batching import progress as bar
    from .._core.deprecation import deprecated_progress
    from .._core.model import as_module, check_finite_array, device_dtype, evaluating, probe_model
    from .._core.validation import check_int
    from ..data._boundary import prepare_trials
    from ..models._fast import fast_view
    from .methods import output_names

    model = as_module(model)
    batch_size = check_int(batch_size, "batch_size", 1)
    deprecated_progress(progress)
    trials = prepare_trials(inst, info=info, class_names=class_names, picks=picks,
                            exclude=exclude, need=("sfreq",), units=True,
                            what="compute_amplitude_gradients")
    X = trials.X
    device, dtype = device_dtype(model)
    n_trials, n_chans, n_times = X.shape
    freqs = np.fft.rfftfreq(n_times, 1.0 / trials.sfreq)
    batched_ok = [True]
    model = fast_view(model)  # same function, shared parameters, faster first layer
    with evaluating(model):
        n_out = probe_model(model, X, sfreq=trials.sfreq)
        names = output_names(trials, n_out, class_names)
        out = np.empty((n_out, n_trials, n_chans, len(freqs)), dtype=np.float32)
        for sl in bar(batch_slices(n_trials, batch_size), "amplitude gradients"):
            xb = torch.as_tensor(X[sl], device=device, dtype=dtype)
            g = _amp_grads_batch(model, xb, n_out, batched_ok)
            out[:, sl] = g.detach().cpu().numpy()
    check_finite_array(out, "amplitude gradients")
    names = names if names is not None else [str(i) for i in range(n_out)]
    return Attribution(out, ("class", "trial", "chan", "freq"), info=trials.info,
                       method="amplitude_gradients", params=dict(batch_size=batch_size),
                       coords=dict(freq=freqs, **{"class": names}))


def amplitude_spectra(X, chunk_size=64):
    """``|rfft(X)|`` along time, float32, shape ``(n_trials, n_chans, n_freqs)``.

    Computed in chunks of ``chunk_size`` trials so that the complex spectrum never exists
    for all trials at once; the FFT runs in the input's precision (float32 trials give
    complex64 spectra, whose magnitudes agree with a float64 FFT to ~1e-7 relative).
    """
    from scipy import fft as sp_fft

    X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float32)
    out = np.empty(X.shape[:-1] + (X.shape[-1] // 2 + 1,), dtype=np.float32)
    for start in range(0, len(X), chunk_size):
        sl = slice(start, start + chunk_size)
        np.abs(sp_fft.rfft(X[sl], axis=-1, workers=-1), out=out[sl], casting="same_kind")
    return out


#: Values of ``scale`` in :func:`compute_haufe_patterns` and
#: :func:`~neuroxai.attribution.compute_output_covariance_patterns`.
SCALES = (None, "haufe", "variance")


def _band_masks(freqs, bands):
    """``(names, edges, masks)`` of ``bands = {name: (fmin, fmax)}`` in Hz, edges inclusive
    (the core's :func:`~neuroxai._core.selection.band_masks`)."""
    masks = band_masks(freqs, bands)
    edges = np.array(list(check_bands(bands).values()))
    return list(masks), edges, list(masks.values())


def _band_means(values, masks):
    """``values[..., freq]`` averaged within each band mask: ``(..., n_bands)``."""
    return np.stack([values[..., m].mean(axis=-1) for m in masks], axis=-1)


def _feature_chunks(X, masks=None, chunk_size=64):
    """``(slice, features)`` of the trials' amplitude spectra, chunk by chunk, in float64.

    Features are ``chan * freq`` amplitudes, or ``chan * band`` band-mean amplitudes
    when ``masks`` are given; only one chunk's spectra exist at a time.
    """
    for start in range(0, len(X), chunk_size):
        a = amplitude_spectra(X[start:start + chunk_size])
        if masks is not None:
            a = _band_means(a, masks)
        yield slice(start, start + len(a)), a.reshape(len(a), -1).astype(np.float64)


def _scale_patterns(patterns, score_cov, scale):
    """Haufe et al.'s (2014) scaling of ``patterns = Cov(a) W^T`` (rows: classes).

    ``"haufe"``: ``Cov(s)^+ @ patterns`` with ``s`` the class scores; ``"variance"``: each
    row divided by its score's variance. Eigenvalues (variances) below ``1e-10`` of the
    largest count as zero (pseudo-inverse): centred class scores sum to zero, so their
    covariance is singular along the all-ones direction. Returns the patterns and the
    rank used.
    """
    if scale is None:
        return patterns, None
    score_cov = (score_cov + score_cov.T) / 2
    top = float(np.abs(score_cov).max())
    if scale == "variance":
        var = np.diag(score_cov)
        ok = var > 1e-10 * top
        inv = np.where(ok, 1.0 / np.where(ok, var, 1.0), 0.0)
        return patterns * inv[:, None], int(ok.sum())
    evals, evecs = np.linalg.eigh(score_cov)
    keep = evals > 1e-10 * max(float(evals.max()), 0.0)
    pinv = (evecs[:, keep] / evals[keep]) @ evecs[:, keep].T
    return pinv @ patterns, int(keep.sum())


def _check_scale(scale):
    if scale not in SCALES:
        raise InvalidInputError(
            f"scale must be one of {', '.join(map(repr, SCALES))}, got {scale!r}.")
    return scale


def _warn_few_trials(what, n_trials, n_chans, n_freqs, bands):
    n_features = n_chans * n_freqs
    ratio = n_trials / n_features
    if n_trials >= n_features:
        return ratio
    unit = "bands" if bands is not None else "frequencies"
    fewer = ("fewer, wider bands" if bands is not None else
             f"bands={{'mu': (8, 13), 'beta': (14, 30)}} ({n_chans} x 2 = {n_chans * 2} "
             "features; the pattern then describes a score made of those bands only, which "
             "need not follow the model's output)")
    warn_degenerate(
        f"{what}: {n_trials} trials for {n_features:,} features ({n_chans} channels x "
        f"{n_freqs} {unit}), {ratio:.3g} trials per feature. The amplitude covariance has rank "
        f"<= {n_trials - 1} and the linearised class score sums the gradient over every "
        "feature, so a feature's pattern has a reliable sign only where it correlates with "
        f"that score by more than about 2/sqrt(n_trials) = {2 / np.sqrt(n_trials):.2f} (on "
        "EEGMMIDB S001 with 3 channels, 45 trials for 1,107 features, the sign at C4 in mu "
        "changed with the training seed). Use more trials, compute_output_covariance_patterns "
        f"(the model's outputs instead of a linearised score), or {fewer}.")
    return ratio


@verbose
def compute_haufe_patterns(amp_grads, inst, *, center_classes=True, scale=None, bands=None,
                           info=None, verbose=None):
    """Haufe patterns (Haufe et al., 2014) of the mean amplitude gradients.

    For class ``c`` with mean gradient ``w_c`` (over trials; centred over classes when
    ``center_classes``, since a shift common to all class scores changes no decision), the
    pattern is ``Cov(A) @ w_c`` with ``A`` the trials' amplitude spectra flattened to
    ``chan * freq``. The covariance, ``(chan*freq)^2`` (1.14 GiB in float64 for BCI IV 2a),
    is never built: ``Cov(A) @ w = A_c.T @ (A_c @ w) / (n - 1)`` with ``A_c`` the centred
    data, so memory stays O(trials * chans * freqs).

    Parameters
    ----------
    amp_grads : Attribution | ndarray, shape (n_classes, n_trials, n_chans, n_freqs)
        From :func:`compute_amplitude_gradients`.
    inst : mne.Epochs | braindecode windows dataset | Trials | array
        The trials the gradients were computed on (their amplitude spectra give ``Cov(A)``);
        the channels of the gradients' ``info`` are taken from them.
    center_classes : bool
        Subtract the mean over classes from the class-mean gradients.
    scale : None | "haufe" | "variance"
        ``None`` (the tutorial's patterns): ``Cov(A) w_c``. Its size per class follows the
        size of that class's gradient, so the shape of one class's map is meaningful but
        classes on a shared colour scale are not comparable. ``"haufe"``: Haufe et al.'s
        (2014) activation patterns of all classes together, ``Cov(A) W^T Cov(s)^+`` with
        ``s = W A`` the linearised class scores: the amplitude change that goes with a unit
        change of each class score; comparable across classes and satisfying ``W @ pattern
        = identity`` on the scores' span. With ``center_classes`` the scores sum to zero, so
        ``Cov(s)`` is singular along the all-ones direction and its pseudo-inverse is used
        (the scaled patterns still sum to zero over classes). ``"variance"``: each class's
        score taken alone (Haufe et al.'s single-factor case), ``Cov(A) w_c / Var(s_c)``.
        Use ``"haufe"`` to compare classes on one colour scale, ``"variance"`` to read one
        class at a time in amplitude per unit score, ``None`` to reproduce the tutorial.
    bands : dict | None
        ``{name: (fmin, fmax)}`` in Hz (inclusive edges): the features are the amplitudes
        averaged within each band (``chan * band`` features instead of ``chan * freq``),
        and a band's gradient is the sum of its bins' gradients (the output change when
        every bin of the band rises by one unit). Few features are estimated well from few
        trials, but the linear score is then made of these bands only: where the model
        also reads other frequencies, the score (and so the pattern) need not follow the
        model's output. On EEGMMIDB S001 (3 channels, 45 trials, five training seeds) the
        band-limited mu/beta pattern had the wrong sign at C4 in all five, the plain one
        in one: prefer :func:`~neuroxai.attribution.compute_output_covariance_patterns`
        when trials are few.
    info : mne.Info | None
        Channel info of an array's trials.
    %(verbose)s

    Returns
    -------
    patterns : Attribution
        ``("class", "chan", "freq")``, or ``("class", "chan", "band")`` with ``bands``
        (``coords["band"]``, ``coords["band_edges"]`` in Hz). ``params`` holds
        ``n_trials``, ``n_features``, ``trials_per_feature`` and, when scaled, the class
        scores' covariance ``score_cov`` and the ``score_rank`` used.

    Warns
    -----
    DegenerateMethodWarning
        When the trials are fewer than the features (the message gives the ratio
        ``n_trials / n_features``).
    """
    meta = amp_grads if isinstance(amp_grads, Attribution) else None
    G = np.asarray(amp_grads)  # no float64 copy of all gradients: only their mean is needed
    if G.ndim != 4:
        raise ShapeError("amp_grads must be (n_classes, n_trials, n_chans, n_freqs), got "
                         f"{G.shape}.")
    scale = _check_scale(scale)
    from .._core.model import check_finite_array
    from ..data._boundary import prepare_trials

    ginfo = meta.info if meta is not None else None
    trials = prepare_trials(inst, info=info, picks="eeg" if ginfo is None else "all",
                            exclude=(), what="compute_haufe_patterns")
    if ginfo is not None and trials.info is not None:
        # the gradients' channels, in their order: a trials' channel missing is a mismatch
        # of the two arguments, not a bad picks= (which the caller never gave)
        missing = [n for n in ginfo["ch_names"] if n not in trials.info["ch_names"]]
        if missing:
            raise ShapeError(
                f"amp_grads are for {len(ginfo['ch_names'])} channels; inst has "
                f"{len(trials.info['ch_names'])} channels and lacks {len(missing)} of them "
                f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}). Pass the "
                "trials the gradients were computed on.")
        if list(trials.info["ch_names"]) != list(ginfo["ch_names"]):
            trials = prepare_trials(trials, picks=list(ginfo["ch_names"]), exclude=(),
                                    what="compute_haufe_patterns")
    X = trials.X
    n_freqs = X.shape[-1] // 2 + 1
    if X.shape[1:-1] + (n_freqs,) != G.shape[2:] or len(X) != G.shape[1]:
        raise ShapeError(
            f"X gives amplitude spectra of shape {(len(X),) + X.shape[1:-1] + (n_freqs,)} but "
            f"the gradients are for {G.shape[1:]}; pass the same trials the gradients were "
            "computed on."
        )
    n_classes, n_trials = G.shape[:2]
    if n_trials < 2:
        raise ShapeError("Haufe patterns need at least 2 trials (a covariance).")
    masks, coords = None, dict(meta.coords) if meta is not None else {}
    if bands is not None:
        freqs = coords.get("freq")
        if freqs is None:
            if trials.sfreq is None:
                raise InvalidInputError(
                    "bands are in Hz and neither the gradients (an Attribution from "
                    "compute_amplitude_gradients) nor the trials (info=) give the frequencies.")
            freqs = np.fft.rfftfreq(X.shape[-1], 1.0 / trials.sfreq)
        names, edges, masks = _band_masks(freqs, bands)
    # the mean gradient: float32 sums of 16 trials (numpy's fast contiguous adds; 16 terms
    # keep the rounding near 1e-7 of the largest gradient), accumulated in float64. A float64
    # mean over all trials converts every element on the fly: 1.7x slower.
    W = np.zeros((n_classes,) + G.shape[2:])
    for start in range(0, n_trials, 16):
        W += np.add.reduce(G[:, start:start + 16], axis=1)
    W = W / n_trials
    check_finite_array(W, "mean amplitude gradients")
    if center_classes:
        W = W - W.mean(axis=0, keepdims=True)
    if masks is not None:
        W = np.stack([W[..., m].sum(axis=-1) for m in masks], axis=-1)
    out_shape = W.shape[1:]
    W = W.reshape(n_classes, -1)
    ratio = _warn_few_trials("compute_haufe_patterns", n_trials, out_shape[0], out_shape[1],
                             bands)
    # Cov(A) w = (A^T (A w) - n m (m.w)) / (n - 1), m the mean spectrum: one pass over the
    # trials, each chunk's spectra made (float32 FFT) and used at once in float64, so that
    # A never exists whole nor in float64. Amplitude spectra have mean^2 / variance of a few
    # units, so the uncentred sums lose about one digit of float64's 16.
    patterns = np.zeros((n_classes, W.shape[1]))
    total = np.zeros(W.shape[1])
    for _, a in _feature_chunks(X, masks):
        patterns += (a @ W.T).T @ a
        total += a.sum(axis=0)
    mean = total / n_trials
    patterns -= n_trials * (W @ mean)[:, None] * mean[None, :]
    patterns /= n_trials - 1
    params = dict(center_classes=center_classes, scale=scale, n_trials=n_trials,
                  n_features=int(W.shape[1]), trials_per_feature=ratio)
    if scale is not None:
        score_cov = patterns @ W.T  # Cov(s) = W Cov(A) W^T
        patterns, rank = _scale_patterns(patterns, score_cov, scale)
        params.update(score_cov=score_cov.tolist(), score_rank=rank)
    patterns = patterns.reshape((n_classes,) + out_shape)
    dims = ("class", "chan", "freq")
    if masks is not None:
        dims = ("class", "chan", "band")
        coords = {k: v for k, v in coords.items() if k != "freq"}
        coords.update(band=names, band_edges=edges)
        params["bands"] = dict(zip(names, map(tuple, edges.tolist())))
    return Attribution(patterns, dims, info=meta.info if meta else trials.info,
                       method="haufe_patterns", params=params, coords=coords)


def band_average(values, freqs, bands):
    """Average ``values[..., freq]`` over each band ``{name: (fmin, fmax)}`` in Hz
    (inclusive edges): an array of shape ``values.shape[:-1] + (n_bands,)``."""
    _, _, masks = _band_masks(freqs, bands)
    return _band_means(np.asarray(values), masks)
