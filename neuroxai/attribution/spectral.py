"""Spectral amplitude gradients and their Haufe patterns."""
from __future__ import annotations

import numpy as np

from .._utils import InvalidInputError, ShapeError, logger, verbose
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
    inst : mne.Epochs | braindecode windows dataset | Trials | array, shape (n_trials, n_chans, n_times)
        The trials (see :func:`neuroxai.data.as_trials`). The frequency axis needs the
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

    from .._core.batching import batch_slices, progress as bar
    from .._core.model import as_module, check_finite_array, device_dtype, evaluating, probe_model
    from .._core.validation import check_int
    from ..data._boundary import prepare_trials
    from ..models._fast import fast_view
    from .._core.deprecation import deprecated_progress
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


@verbose
def compute_haufe_patterns(amp_grads, inst, *, center_classes=True, info=None, verbose=None):
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
    info : mne.Info | None
        Channel info of an array's trials.
    %(verbose)s

    Returns
    -------
    patterns : Attribution
        ``("class", "chan", "freq")``.
    """
    meta = amp_grads if isinstance(amp_grads, Attribution) else None
    G = np.asarray(amp_grads)  # no float64 copy of all gradients: only their mean is needed
    if G.ndim != 4:
        raise ShapeError(f"amp_grads must be (n_classes, n_trials, n_chans, n_freqs), got {G.shape}.")
    from .._core.model import check_finite_array
    from ..data._boundary import prepare_trials

    ginfo = meta.info if meta is not None else None
    picks = list(ginfo["ch_names"]) if ginfo is not None else "eeg"
    X = prepare_trials(inst, info=info, picks=picks, exclude=(),
                       what="compute_haufe_patterns").X
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
    # the mean gradient: float32 sums of 16 trials (numpy's fast contiguous adds; 16 terms
    # keep the rounding near 1e-7 of the largest gradient), accumulated in float64. A float64
    # mean over all trials converts every element on the fly: 1.7x slower.
    W = np.zeros((n_classes,) + G.shape[2:])
    for start in range(0, n_trials, 16):
        W += np.add.reduce(G[:, start:start + 16], axis=1)
    W = (W / n_trials).reshape(n_classes, -1)
    check_finite_array(W, "mean amplitude gradients")
    if center_classes:
        W = W - W.mean(axis=0, keepdims=True)
    # Cov(A) w = (A^T (A w) - n m (m.w)) / (n - 1), m the mean spectrum: one pass over the
    # trials, each chunk's spectra made (float32 FFT) and used at once in float64, so that
    # A never exists whole nor in float64. Amplitude spectra have mean^2 / variance of a few
    # units, so the uncentred sums lose about one digit of float64's 16.
    patterns = np.zeros((n_classes, W.shape[1]))
    total = np.zeros(W.shape[1])
    for start in range(0, n_trials, 64):
        a = amplitude_spectra(X[start:start + 64]).reshape(-1, W.shape[1]).astype(np.float64)
        patterns += (a @ W.T).T @ a
        total += a.sum(axis=0)
    mean = total / n_trials
    patterns -= n_trials * (W @ mean)[:, None] * mean[None, :]
    patterns /= n_trials - 1
    patterns = patterns.reshape((n_classes,) + G.shape[2:])
    coords = dict(meta.coords) if meta is not None else {}
    return Attribution(patterns, ("class", "chan", "freq"), info=meta.info if meta else None,
                       method="haufe_patterns", params=dict(center_classes=center_classes),
                       coords=coords)


def band_average(values, freqs, bands):
    """Average ``values[..., freq]`` over each band ``{name: (fmin, fmax)}`` (inclusive).

    Returns an array with the band axis last-but-nothing: shape ``values.shape[:-1] + (n_bands,)``.
    """
    from .._utils import unknown_name  # noqa: F401

    freqs = np.asarray(freqs)
    out = []
    for name, band in bands.items():
        try:
            fmin, fmax = (float(b) for b in band)
        except (TypeError, ValueError):
            raise InvalidInputError(f"Band {name!r} must be (fmin, fmax) in Hz, got {band!r}.")
        sel = (freqs >= fmin) & (freqs <= fmax)
        if fmin >= fmax or not sel.any():
            raise InvalidInputError(
                f"Band {name!r} = ({fmin}, {fmax}) Hz holds no frequency bin (bins span "
                f"{freqs[0]:g}-{freqs[-1]:g} Hz in steps of {freqs[1] - freqs[0]:.3g} Hz)."
            )
        out.append(np.asarray(values)[..., sel].mean(axis=-1))
    return np.stack(out, axis=-1)
