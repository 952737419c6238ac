"""Spectral patterns of a model that need no linearisation.

:func:`~neuroxai.attribution.compute_haufe_patterns` turns the *mean* amplitude gradient
into a pattern, which assumes the model is linear in the amplitudes over the trials. The
two maps here use the model's real outputs instead:

- :func:`compute_output_covariance_patterns`: ``cov(amplitude, f(x))`` over trials, the
  activation pattern of the model's outputs (for a model linear in the amplitudes it
  equals the Haufe pattern of its weights);
- :func:`compute_amplitude_perturbation_correlations`: Schirrmeister et al.'s (2017)
  input-perturbation network-prediction correlation maps: random changes of the
  amplitude spectra (phases kept) correlated with the changes of the outputs they cause.
"""
from __future__ import annotations

import numpy as np

from .._utils import ShapeError, logger, verbose
from ._base import Attribution
from .spectral import _band_masks, _check_scale, _feature_chunks, _scale_patterns


def _prepare(model, inst, info, class_names, picks, exclude, what):
    from .._core.model import as_module, device_dtype, evaluating, probe_model
    from ..data._boundary import prepare_trials
    from ..models._fast import fast_view
    from .methods import output_names

    model = as_module(model)
    trials = prepare_trials(inst, info=info, class_names=class_names, picks=picks,
                            exclude=exclude, need=("sfreq",), units=True, what=what)
    if len(trials.X) < 2:
        raise ShapeError(f"{what} needs at least 2 trials (a covariance over trials), got "
                         f"{len(trials.X)}.")
    model = fast_view(model)  # same function, shared parameters, faster first layer
    with evaluating(model):
        n_out = probe_model(model, trials.X, sfreq=trials.sfreq)
    names = output_names(trials, n_out, class_names)
    names = names if names is not None else [str(i) for i in range(n_out)]
    return model, trials, n_out, names, device_dtype(model), evaluating


def _centred_outputs(scores, center_classes):
    scores = np.asarray(scores, dtype=np.float64)
    return scores - scores.mean(axis=1, keepdims=True) if center_classes else scores


@verbose
def compute_output_covariance_patterns(model, inst, *, center_classes=True, scale=None,
                                       bands=None, batch_size=64, info=None, class_names=None,
                                       picks="eeg", exclude="bads", verbose=None):
    """Covariance over trials between each amplitude and each model output.

    ``pattern[c, chan, freq] = cov_trials(|rfft(x)|[chan, freq], f_c(x))``: the activation
    pattern of the model's actual class outputs (Haufe et al., 2014, define the pattern of
    any decoder as the covariance of the data with its output). No gradient and no
    linearity is assumed; for a model linear in the amplitudes, ``f = W a``, it equals the
    Haufe pattern ``Cov(a) W^T`` of :func:`compute_haufe_patterns` exactly. It shows which
    amplitudes *go with* a class score over these trials, whether the model reads them or
    they merely covary with what it reads (a pattern, not a filter).

    Parameters
    ----------
    model : torch.nn.Module | braindecode.EEGClassifier
        Maps ``(batch, n_chans, n_times)`` to ``(batch, n_outputs)``; run in eval mode.
    inst : mne.Epochs | braindecode windows dataset | Trials | array
        The trials (see :func:`neuroxai.data.as_trials`); an array needs ``info``.
    center_classes : bool
        Subtract each trial's mean over outputs first: a shift common to all outputs
        changes no decision, and logits and log-softmax outputs give the same pattern.
    scale : None | "haufe" | "variance"
        As in :func:`compute_haufe_patterns`, with ``s`` the model outputs: ``"haufe"``
        multiplies by the pseudo-inverse of their covariance (classes comparable on one
        colour scale), ``"variance"`` divides each class by its output's variance.
    bands : dict | None
        ``{name: (fmin, fmax)}`` in Hz (inclusive): covariances of the band-mean amplitudes.
    batch_size : int
        Trials per forward pass and per chunk of spectra (the covariance is accumulated
        chunk by chunk; no ``(chan*freq)^2`` matrix is made).
    info, class_names, picks, exclude :
        As in :func:`compute_amplitude_gradients`.
    %(verbose)s

    Returns
    -------
    patterns : Attribution
        ``("class", "chan", "freq")`` (``("class", "chan", "band")`` with ``bands``), in
        amplitude x output units (per output unit when scaled).
    """
    from .._core.model import check_finite_array, predict_scores
    from .._core.validation import check_int

    scale = _check_scale(scale)
    batch_size = check_int(batch_size, "batch_size", 1)
    model, trials, n_out, names, _, evaluating = _prepare(
        model, inst, info, class_names, picks, exclude, "compute_output_covariance_patterns")
    X = trials.X
    freqs = np.fft.rfftfreq(X.shape[-1], 1.0 / trials.sfreq)
    masks = None if bands is None else _band_masks(freqs, bands)[2]
    with evaluating(model):
        F = _centred_outputs(predict_scores(model, X, batch_size), center_classes)
    F -= F.mean(axis=0)  # centred over trials: the amplitudes' mean then drops out
    n_trials = len(X)
    patterns = None
    for sl, a in _feature_chunks(X, masks, batch_size):
        part = F[sl].T @ a
        patterns = part if patterns is None else patterns + part
    patterns /= n_trials - 1
    params = dict(center_classes=center_classes, scale=scale, batch_size=batch_size,
                  n_trials=n_trials, n_features=int(patterns.shape[1]))
    if scale is not None:
        score_cov = F.T @ F / (n_trials - 1)
        patterns, rank = _scale_patterns(patterns, score_cov, scale)
        params.update(score_cov=score_cov.tolist(), score_rank=rank)
    check_finite_array(patterns, "output covariance patterns")
    coords = {"class": names}
    n_chans = X.shape[1]
    if masks is None:
        dims, coords["freq"] = ("class", "chan", "freq"), freqs
    else:
        band_names, edges, _ = _band_masks(freqs, bands)
        dims = ("class", "chan", "band")
        coords.update(band=band_names, band_edges=edges)
        params["bands"] = dict(zip(band_names, map(tuple, edges.tolist())))
    return Attribution(patterns.reshape(n_out, n_chans, -1), dims, info=trials.info,
                       method="output_covariance", params=params, coords=coords)


class _Moments:
    """Running sums for Pearson correlations between every feature and every output."""

    def __init__(self, n_features, n_out):
        self.n = 0
        self.sx = np.zeros(n_features)
        self.sxx = np.zeros(n_features)
        self.sy = np.zeros(n_out)
        self.syy = np.zeros(n_out)
        self.sxy = np.zeros((n_out, n_features))

    def add(self, x, y):
        self.n += len(x)
        self.sx += x.sum(axis=0)
        self.sxx += np.einsum("ij,ij->j", x, x)
        self.sy += y.sum(axis=0)
        self.syy += (y * y).sum(axis=0)
        self.sxy += y.T @ x

    def correlation(self):
        n = self.n
        cov = n * self.sxy - self.sy[:, None] * self.sx[None, :]
        var_x = n * self.sxx - self.sx ** 2
        var_y = n * self.syy - self.sy ** 2
        denom = np.sqrt(np.clip(var_y, 0, None)[:, None] * np.clip(var_x, 0, None)[None, :])
        return cov / np.where(denom > 0, denom, np.inf)  # constant series: 0, not NaN


@verbose
def compute_amplitude_perturbation_correlations(model, inst, *, n_repetitions=30,
                                                noise_std=0.1, seed=0, center_classes=False,
                                                batch_size=64, info=None, class_names=None,
                                                picks="eeg", exclude="bads", verbose=None):
    """Amplitude-perturbation / prediction-correlation maps (Schirrmeister et al., 2017).

    The trials' amplitude spectra are perturbed with Gaussian noise, phases kept (each
    amplitude's noise is ``noise_std`` times that amplitude's standard deviation over the
    trials, and amplitudes are kept >= 0 by clipping the noise at ``-amplitude``, as in
    the original); the perturbed trials are rebuilt with the inverse FFT and passed
    through the model. For every channel x frequency and every output, the result is the
    Pearson correlation between the amplitude's perturbation and the output's change,
    over all trials and repetitions. Nothing is linearised: the model's real response to
    amplitude changes around the data is measured. Like any map of the model's
    sensitivity it is a filter, not a pattern: a feature the model uses to cancel noise
    correlates too (see :func:`compute_output_covariance_patterns` for the pattern).

    Parameters
    ----------
    model : torch.nn.Module | braindecode.EEGClassifier
        Maps ``(batch, n_chans, n_times)`` to ``(batch, n_outputs)``; run in eval mode,
        under ``torch.no_grad``.
    inst : mne.Epochs | braindecode windows dataset | Trials | array
        The trials (see :func:`neuroxai.data.as_trials`); an array needs ``info``.
    n_repetitions : int
        Perturbations of every trial (Schirrmeister et al. used 400 on the training set).
        The correlations' standard error is about ``1 / sqrt(n_trials * n_repetitions)``.
    noise_std : float
        Noise standard deviation as a fraction of each amplitude's standard deviation
        over the trials. Small values measure the local (gradient-like) response, large
        ones leave the data distribution (``params["prediction_change_rate"]`` reports how
        often the predicted class changed; the original kept it below 0.5 %%).
    seed : int | numpy.random.Generator
        Seeds the noise (a numpy Generator; the global random state is left alone). The
        noise of a repetition is drawn for all trials at once, so the result does not
        depend on ``batch_size``.
    center_classes : bool
        Correlate the outputs' changes after subtracting their mean over outputs (as the
        other pattern functions do by default). False (default) correlates the raw
        pre-softmax outputs, as Schirrmeister et al.
    batch_size : int
        Trials per forward pass.
    info, class_names, picks, exclude :
        As in :func:`compute_amplitude_gradients`.
    %(verbose)s

    Returns
    -------
    correlations : Attribution
        ``("class", "chan", "freq")`` in [-1, 1]; ``params`` holds ``n_samples`` (trials x
        repetitions) and ``prediction_change_rate``.
    """
    import torch

    from .._core.batching import batch_slices, progress
    from .._core.model import check_finite_array, predict_scores
    from .._core.random import check_random_state
    from .._core.validation import check_float, check_int
    from .spectral import amplitude_spectra

    n_repetitions = check_int(n_repetitions, "n_repetitions", 1)
    noise_std = check_float(noise_std, "noise_std", 0.0, low_open=True)
    batch_size = check_int(batch_size, "batch_size", 1)
    rng = check_random_state(seed)
    model, trials, n_out, names, (device, dtype), evaluating = _prepare(
        model, inst, info, class_names, picks, exclude,
        "compute_amplitude_perturbation_correlations")
    X = trials.X
    n_trials, n_chans, n_times = X.shape
    freqs = np.fft.rfftfreq(n_times, 1.0 / trials.sfreq)
    # each amplitude's spread over trials sets its noise level (chunked float64 moments)
    s1 = np.zeros((n_chans, len(freqs)))
    s2 = np.zeros_like(s1)
    for start in range(0, n_trials, batch_size):
        a = amplitude_spectra(X[start:start + batch_size]).astype(np.float64)
        s1 += a.sum(axis=0)
        s2 += (a * a).sum(axis=0)
    amp_std = np.sqrt(np.clip(s2 / n_trials - (s1 / n_trials) ** 2, 0, None))
    noise_scale = (noise_std * amp_std).astype(np.float32)
    slices = batch_slices(n_trials, batch_size)
    moments = _Moments(n_chans * len(freqs), n_out)
    changed = 0
    with evaluating(model), torch.no_grad():
        base = predict_scores(model, X, batch_size).astype(np.float64)
        base_pred = base.argmax(1)
        base = _centred_outputs(base, center_classes)
        steps = [(r, sl) for r in range(n_repetitions) for sl in slices]
        noise = None
        for _r, sl in progress(steps, "amplitude perturbation"):
            if sl.start == 0:
                noise = rng.standard_normal((n_trials, n_chans, len(freqs)), dtype=np.float32)
                noise *= noise_scale
            xb = torch.as_tensor(X[sl], device=device, dtype=torch.float64)
            spec = torch.fft.rfft(xb, dim=-1)
            amps = spec.abs()
            pert = torch.maximum(torch.as_tensor(noise[sl], device=device, dtype=torch.float64),
                                 -amps)
            x_new = torch.fft.irfft(torch.polar(amps + pert, spec.angle()), n=n_times, dim=-1)
            out = model(x_new.to(dtype)).double().cpu().numpy()
            changed += int((out.argmax(1) != base_pred[sl]).sum())
            diff = _centred_outputs(out, center_classes) - base[sl]
            moments.add(pert.cpu().numpy().reshape(len(out), -1), diff)
    corr = moments.correlation().reshape(n_out, n_chans, len(freqs))
    check_finite_array(corr, "amplitude-perturbation correlations")
    rate = changed / (n_trials * n_repetitions)
    logger.info(f"amplitude perturbation: the predicted class changed on {rate:.2%} of "
                f"{n_trials * n_repetitions} perturbed trials")
    if rate > 0.05:
        logger.warning(
            f"noise_std={noise_std:g} changed the predicted class on {rate:.1%} of the "
            "perturbed trials: the map describes the model away from the data. Lower "
            "noise_std (Schirrmeister et al. kept this below 0.5 %).")
    params = dict(n_repetitions=n_repetitions, noise_std=noise_std,
                  seed=seed if not isinstance(seed, np.random.Generator) else "Generator",
                  center_classes=center_classes, batch_size=batch_size,
                  n_samples=n_trials * n_repetitions, prediction_change_rate=rate)
    return Attribution(corr, ("class", "chan", "freq"), info=trials.info,
                       method="amplitude_perturbation", params=params,
                       coords={"class": names, "freq": freqs})
