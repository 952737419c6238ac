"""A small CEBRA-style contrastive encoder for EEG trials.

The encoder maps a trial ``(n_chans, n_times)`` to a point on the unit sphere in
``n_latents`` dimensions. It is trained with the InfoNCE loss CEBRA uses
(cosine similarity divided by a temperature; the positive pair is pulled
together, a batch of negatives drawn uniformly from the data is pushed away).
Positive pairs follow CEBRA's samplers:

* discrete-label sampling: the positive of a reference trial is another trial of
  the same class (``y`` given);
* time-contrastive sampling: the positive is a trial close in time, i.e. within
  ``time_offset`` positions in recording order (``y=None``);
* both: a trial of the same class within ``time_offset`` same-class neighbours.

The architecture is deliberately FBCSP-like so that it trains on a laptop CPU:
spatial filters -> learned frequency bands -> log band power (= log-variance of
band-passed signals) -> small MLP -> L2 normalisation.

Checkpoints use the classifier-checkpoint layout
(:mod:`neuroxai.models.checkpoint`): a directory holding ``params.safetensors``
(the state dict), ``history.json`` and ``metadata.json`` (``model_class``,
``model_kwargs`` and ``kind="encoder"``). No pickle is involved.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._core.random import check_seed, seeded
from .._core.validation import check_float, check_int, check_option
from .._utils import (
    InvalidInputError,
    ModelMismatchError,
    ShapeError,
    logger,
    verbose,
)

__all__ = ["ContrastiveEEGEncoder", "SpectralFrontEnd", "infonce_loss", "train_encoder",
           "save_encoder", "load_encoder"]

_FORMAT_VERSION = 1


class SpectralFrontEnd(NamedTuple):
    """How an encoder's input enters it: only through a band of its Fourier coefficients.

    The protocol behind :meth:`ContrastiveEEGEncoder.spectral_front_end`: a model whose
    output depends on a trial ``x`` (``n_chans x n_times``) only through
    ``spectrum(x) == scale * torch.fft.rfft(x)[..., lo:hi]`` may return one from a
    ``spectral_front_end()`` method. The Jacobian of such a model factors through those
    coefficients, which :func:`~neuroxai.attribution.jacobian.compute_jacobian_pinv_maps`
    exploits (equal to the generic autograd route to rounding, several times faster).

    Attributes
    ----------
    lo, hi : int
        The rfft bins ``lo:hi`` the model reads.
    scale : float
        ``spectrum(x) / rfft(x)[..., lo:hi]``.
    spectrum : callable
        ``x (batch, n_chans, n_times) -> (batch, n_chans, hi - lo)`` complex.
    coefficient_jacobian : callable
        ``spectrum(x) -> (batch, n_latents, n_chans, hi - lo)`` complex: the gradients of
        the outputs w.r.t. the coefficients, in PyTorch's convention for a complex input
        (``d/d Re + 1j d/d Im``).
    """

    lo: int
    hi: int
    scale: float
    spectrum: Callable
    coefficient_jacobian: Callable


class ContrastiveEEGEncoder(nn.Module):
    """FBCSP-like contrastive encoder ``(batch, n_chans, n_times) -> (batch, n_latents)``.

    The forward pass is: learned spatial filters (linear channel mixtures) ->
    power spectrum of each virtual channel (``torch.fft.rfft``) restricted to
    ``[fmin, fmax]`` -> ``n_bands`` learned non-negative spectral weightings
    (a filter bank) -> log band power -> MLP -> L2 normalisation.

    Parameters
    ----------
    n_chans : int
        Number of EEG channels.
    n_times : int
        Number of time samples per trial (checked at the forward pass).
    n_latents : int
        Output (embedding) dimension.
    n_spatial : int
        Number of spatial filters.
    n_bands : int
        Number of learned frequency bands (shared by all spatial filters).
    sfreq : float
        Sampling frequency of the trials in Hz (required: it places the bands in Hz).
    fmin, fmax : float
        Frequency range the bands cover, in Hz.
    n_hidden : int
        Width of the hidden layer of the head.
    normalize : bool
        Project the output onto the unit sphere (as CEBRA's cosine-similarity
        models do).

    Notes
    -----
    The log band power equals the log-variance of a band-pass filtered
    (circularly convolved) signal by Parseval's theorem, i.e. the features of
    ShallowFBCSPNet/FBCSP; computing them in the frequency domain is what makes
    training take seconds, not minutes, on a CPU (a time-domain depthwise
    convolution's backward pass is very slow on CPU). Each trial is processed
    independently (no batch statistics), so per-trial Jacobians are well
    defined. The buffers ``input_scale`` (multiplies the input) and
    ``feature_shift``/``feature_scale`` (standardise the log band powers) are
    set from the training data by :func:`train_encoder`, so that the encoder
    works on volts or microvolts alike; they are saved with the parameters.
    """

    def __init__(self, n_chans, n_times, n_latents=8, n_spatial=16, n_bands=6, sfreq=None,
                 fmin=4.0, fmax=40.0, n_hidden=32, normalize=True):
        super().__init__()
        if sfreq is None:
            raise InvalidInputError(
                "sfreq is required: the encoder's bands are placed in Hz (pass the data's "
                "sampling rate, e.g. info['sfreq']).")
        for name, val in [("n_chans", n_chans), ("n_times", n_times), ("n_latents", n_latents),
                          ("n_spatial", n_spatial), ("n_bands", n_bands), ("n_hidden", n_hidden)]:
            check_int(val, name, 1)
        sfreq = check_float(sfreq, "sfreq", 0.0, low_open=True)
        freqs = np.fft.rfftfreq(int(n_times), 1.0 / float(sfreq))
        sel = np.flatnonzero((freqs >= fmin) & (freqs <= fmax))
        if not 0 <= fmin < fmax or len(sel) < 1:
            raise InvalidInputError(
                f"No frequency bin of a {n_times}-sample trial at {sfreq} Hz lies in "
                f"[fmin, fmax] = [{fmin}, {fmax}] Hz; choose 0 <= fmin < fmax <= sfreq / 2."
            )
        self.n_chans, self.n_times, self.n_latents = int(n_chans), int(n_times), int(n_latents)
        self.n_outputs, self.sfreq = self.n_latents, sfreq  # braindecode's model attributes
        self._kwargs = dict(
            n_chans=int(n_chans), n_times=int(n_times), n_latents=int(n_latents),
            n_spatial=int(n_spatial), n_bands=int(n_bands), sfreq=float(sfreq), fmin=float(fmin),
            fmax=float(fmax), n_hidden=int(n_hidden), normalize=bool(normalize),
        )
        self.normalize = bool(normalize)
        self.register_buffer("input_scale", torch.ones(()))
        self.register_buffer("feature_shift", torch.zeros(n_spatial * n_bands))
        self.register_buffer("feature_scale", torch.ones(n_spatial * n_bands))
        self.register_buffer("freqs", torch.as_tensor(freqs[sel], dtype=torch.float32))
        self._bins = (int(sel[0]), int(sel[-1]) + 1)
        self.spatial = nn.Linear(n_chans, n_spatial, bias=False)
        # Bands start as Gaussian bumps evenly spread over [fmin, fmax]; their
        # log-weights are learned, which keeps the weights positive.
        centres = np.linspace(fmin, fmax, n_bands + 2)[1:-1]
        width = (fmax - fmin) / (n_bands + 1)
        bumps = np.exp(-0.5 * ((freqs[sel][None] - centres[:, None]) / (width / 2)) ** 2)
        self.band_logweights = nn.Parameter(
            torch.as_tensor(np.log(bumps + 1e-3), dtype=torch.float32))
        self.head = nn.Sequential(
            nn.Linear(n_spatial * n_bands, n_hidden), nn.GELU(), nn.Linear(n_hidden, n_latents)
        )

    def get_config(self):
        """Constructor kwargs (JSON-serialisable) that rebuild this encoder."""
        return dict(self._kwargs)

    def spectral_front_end(self):
        """The band of Fourier coefficients through which the input enters.

        Returns
        -------
        front_end : SpectralFrontEnd | None
            ``None`` for a subclass (which may change :meth:`forward`) unless it overrides
            this method to say it keeps the front end.
        """
        if type(self) is not ContrastiveEEGEncoder:
            return None
        # spectrum() is rfft(x * input_scale, norm="forward")
        return SpectralFrontEnd(self._bins[0], self._bins[1],
                                float(self.input_scale) / self.n_times, self.spectrum,
                                self.coefficient_jacobian)

    def spectrum(self, x):
        """Scaled Fourier coefficients in ``[fmin, fmax]``, ``(batch, n_chans, n_freqs)``."""
        spec = torch.fft.rfft(x * self.input_scale, dim=-1, norm="forward")
        return spec[..., self._bins[0]:self._bins[1]]

    def _unit_filters(self, dtype):
        # Unit-norm filters make the log-powers independent of the filters' scale, which
        # would otherwise shift all features together and kill the head's units.
        w = self.spatial.weight
        return (w / w.norm(dim=1, keepdim=True)).to(dtype)

    def _bands(self):
        """Non-negative spectral weightings summing to 1 over frequency, (n_bands, n_freqs)."""
        weights = torch.exp(self.band_logweights)
        return weights / weights.sum(dim=1, keepdim=True)

    def features(self, x=None, spec=None):
        """Log band-power features ``(batch, n_spatial * n_bands)`` of ``x`` (or its spectrum)."""
        if spec is None:
            spec = self.spectrum(x)
        # Spatial filtering commutes with the Fourier transform; doing it on the
        # few in-band bins is cheaper, and lets training reuse a precomputed spectrum.
        w = self._unit_filters(spec.real.dtype)
        z_re, z_im = w @ spec.real, w @ spec.imag
        power = z_re ** 2 + z_im ** 2  # (batch, n_spatial, n_freqs)
        band_power = power @ self._bands().T
        feats = torch.log(band_power + 1e-8).flatten(1)
        return (feats - self.feature_shift) * self.feature_scale

    def coefficient_jacobian(self, spec):
        """Jacobian of the outputs w.r.t. the in-band Fourier coefficients :meth:`spectrum`.

        Returns ``(batch, n_latents, n_chans, n_freqs)`` complex, in PyTorch's convention for
        a complex input (``d/d Re + 1j d/d Im``). The head's Jacobian comes from autograd
        (one backward pass per latent through the small MLP, on the ``n_spatial * n_bands``
        features); the feature stage, whose backward pass costs most, is differentiated in
        closed form for all latents at once. Equal to autograd through :meth:`features`
        (tested).
        """
        feats = self.features(spec=spec).detach().requires_grad_(True)
        with torch.enable_grad():
            out = self.embed_features(feats)
            d_feats = torch.stack([
                torch.autograd.grad(out[:, k].sum(), feats, retain_graph=k < out.shape[1] - 1,
                                    materialize_grads=True)[0]
                for k in range(out.shape[1])], dim=1)  # (batch, n_latents, n_features)
        # feats = (log(power @ bands^T + 1e-8) - shift) * scale, power = |w @ spec|^2
        w = self._unit_filters(spec.real.dtype)
        # real and imaginary parts interleaved, as torch.view_as_real lays them out, so that
        # the result is a complex view without a copy
        z = (w @ torch.view_as_real(spec).flatten(-2)).unflatten(-1, (-1, 2))
        bands = self._bands().to(z.dtype)
        band_power = z.square().sum(-1) @ bands.T  # (batch, n_spatial, n_bands)
        n_spatial = z.shape[1]
        d_bp = (d_feats * self.feature_scale).unflatten(-1, (n_spatial, -1)) / (
            band_power[:, None] + 1e-8)
        d_power = 2.0 * (d_bp @ bands)  # (batch, n_latents, n_spatial, n_freqs)
        d_spec = w.T @ (d_power[..., None] * z[:, None]).flatten(-2)
        return torch.view_as_complex(d_spec.unflatten(-1, (-1, 2)))

    def embed_features(self, feats):
        """Head (+ normalisation) applied to :meth:`features`."""
        out = self.head(feats)
        return F.normalize(out, dim=1) if self.normalize else out

    def forward(self, x):
        if x.ndim != 3 or x.shape[1] != self.n_chans or x.shape[2] != self.n_times:
            raise ShapeError(
                f"Encoder expects input (batch, {self.n_chans}, {self.n_times}), got "
                f"{tuple(x.shape)}."
            )
        return self.embed_features(self.features(x))


_ENCODER_CLASSES = {"ContrastiveEEGEncoder": ContrastiveEEGEncoder}


def infonce_loss(ref, pos, neg, temperature=1.0):
    """CEBRA's InfoNCE loss with cosine similarity on normalised embeddings.

    ``loss = mean_i[-<r_i, p_i>/T + logsumexp_j <r_i, n_j>/T]``, i.e. the
    positive is not part of the denominator (CEBRA's ``FixedCosineInfoNCE``).

    Parameters
    ----------
    ref, pos, neg : Tensor, shape (batch, n_latents)
        Embeddings of references, their positives and the negatives.
    temperature : float
        Softmax temperature.

    Returns
    -------
    loss, align, uniform : Tensor
        The loss and its two terms.
    """
    pos_sim = (ref * pos).sum(dim=1) / temperature
    neg_sim = ref @ neg.T / temperature
    align = -pos_sim.mean()
    uniform = torch.logsumexp(neg_sim, dim=1).mean()
    return align + uniform, align, uniform


class _PositiveSampler:
    """Draws positive indices: same class, and/or within ``time_offset`` in order."""

    def __init__(self, y, n, time_offset, rng):
        self.rng = rng
        self.time_offset = time_offset
        labels = np.zeros(n, int) if y is None else np.asarray(y)
        self.groups = {}
        self.pos_in_group = np.empty(n, int)
        self.group_of = labels
        for lab in np.unique(labels):
            idx = np.flatnonzero(labels == lab)  # recording order within the class
            self.groups[lab] = idx
            self.pos_in_group[idx] = np.arange(len(idx))

    def __call__(self, ref):
        out = np.empty_like(ref)
        for k, i in enumerate(ref):
            members = self.groups[self.group_of[i]]
            n, p = len(members), self.pos_in_group[i]
            if self.time_offset is None:
                j = self.rng.integers(n - 1)
                j += j >= p  # any other member of the group
            else:
                lo, hi = max(0, p - self.time_offset), min(n - 1, p + self.time_offset)
                j = self.rng.integers(lo, hi)  # hi - lo >= 1 neighbours besides p
                j += j >= p
            out[k] = members[j]
        return out


def _check_positives(y, n, time_offset):
    """Every reference has a positive: >= 2 trials per class (or in all), ``time_offset``."""
    if y is not None:
        labels, counts = np.unique(y, return_counts=True)
        if np.any(counts < 2):
            raise InvalidInputError(
                f"Class(es) {labels[counts < 2].tolist()} have fewer than 2 trials, so they have "
                "no positive pair. Drop them or pass positives='time' for time-contrastive "
                "training.")
    elif n < 2:
        raise InvalidInputError("Time-contrastive training needs at least 2 trials.")
    if time_offset is None:
        return None if y is not None else 1
    return check_int(time_offset, "time_offset", 1)


def _build_encoder(trials, n_latents, encoder_kwargs, seed, device):
    """A seeded encoder for these trials (rate from the trials), input scaled to unit SD."""
    kwargs = dict(encoder_kwargs or {})
    if kwargs.get("sfreq", trials.sfreq) != trials.sfreq:
        raise InvalidInputError(f"encoder_kwargs sfreq={kwargs['sfreq']} contradicts the "
                                f"trials' sampling rate {trials.sfreq} Hz; leave it out.")
    _, n_chans, n_times = trials.X.shape
    kwargs.update(n_chans=n_chans, n_times=n_times, n_latents=n_latents, sfreq=trials.sfreq)
    with seeded(seed):  # the initialisation, without touching the global RNG
        encoder = ContrastiveEEGEncoder(**kwargs)
    std = float(trials.X.std())
    encoder.input_scale.fill_(1.0 / std if std > 0 else 1.0)
    return encoder.to(device).train()


@verbose
def train_encoder(inst, y=None, *, n_latents=8, n_steps=300, batch_size=128, temperature=1.0,
                  time_offset=None, learning_rate=3e-3, seed=0, device="cpu",
                  encoder_kwargs=None, positives="auto", info=None, picks="eeg",
                  exclude="bads", verbose=None):
    """Train a :class:`ContrastiveEEGEncoder` with CEBRA's InfoNCE loss.

    Parameters
    ----------
    inst : mne.Epochs | braindecode windows dataset | Trials | array
        Trials, in recording order (time-contrastive sampling relies on it); see
        :func:`neuroxai.data.as_trials`. The sampling rate (which places the encoder's
        bands in Hz) comes from it: an array needs ``info``.
    y : array, shape (n_trials,) | None
        Class labels of an array's trials (ints, event codes or names).
    n_latents : int
        Embedding dimension (3 for plotting, 8 for analysis are typical).
    n_steps : int
        Number of optimiser steps.
    batch_size : int
        Number of references (and of positives and of negatives) per step.
    temperature : float
        InfoNCE temperature (CEBRA's default is 1).
    time_offset : int | None
        Positives lie within this many positions (of the same class with label
        positives). ``None`` means any trial of the same class with labels and 1 (the
        neighbouring trials) without.
    learning_rate : float
        Adam learning rate.
    seed : int
        Seeds the initialisation and the sampling; training on CPU is
        reproducible for a given seed (and thread count).
    device : str | torch.device
        Where to train.
    encoder_kwargs : dict | None
        Extra constructor arguments of :class:`ContrastiveEEGEncoder` (``fmin``,
        ``fmax`` in Hz, ``n_bands`` ...); ``sfreq`` comes from the trials.
    positives : "auto" | "labels" | "time"
        ``"labels"``: positives are trials of the same class (CEBRA's discrete-label
        sampling); ``"time"``: trials within ``time_offset`` positions
        (time-contrastive sampling); ``"auto"``: labels when the trials have them.
    info, picks, exclude :
        As in :func:`neuroxai.data.as_trials`.
    %(verbose)s

    Returns
    -------
    encoder : ContrastiveEEGEncoder
        The trained encoder, in eval mode.
    history : dict
        ``loss``, ``align`` and ``uniform`` per step plus the training settings
        and ``train_time_s``.

    Notes
    -----
    The input enters the encoder only through its in-band Fourier
    coefficients, which are computed once; a step then costs a few small
    matrix products. On the BCI IV 2a shape (576 x 22 x 1125) the default 300
    steps take about 11 s of CPU time. The operations are small, so on a busy
    machine ``torch.set_num_threads(1)`` can be several times faster than
    more threads.
    """
    from .._core.batching import progress
    from ..data._boundary import prepare_trials

    check_option("positives", positives, ("auto", "labels", "time"))
    n_steps, batch_size = check_int(n_steps, "n_steps", 1), check_int(batch_size, "batch_size", 1)
    temperature = check_float(temperature, "temperature", 0.0, low_open=True)
    learning_rate = check_float(learning_rate, "learning_rate", 0.0, low_open=True)
    seed = check_seed(seed)
    need = ("sfreq", "labels") if positives == "labels" else ("sfreq",)
    trials = prepare_trials(inst, y, info=info, picks=picks, exclude=exclude, need=need,
                            what="train_encoder")
    # one memory layout whatever the input form, so that every form gives the same numbers
    trials.X = np.ascontiguousarray(trials.X)
    n = len(trials)
    y = trials.y if positives != "time" else None
    time_offset = _check_positives(y, n, time_offset)
    encoder = _build_encoder(trials, n_latents, encoder_kwargs, seed, device)

    rng = np.random.default_rng(seed)
    sampler = _PositiveSampler(y, n, time_offset, rng)
    with torch.no_grad():  # the input enters only through its (fixed) in-band spectrum
        spec = torch.cat([encoder.spectrum(xb)
                          for xb in torch.from_numpy(trials.X).to(device).split(256)])
        feats = encoder.features(spec=spec)
        encoder.feature_shift.copy_(feats.mean(dim=0))
        encoder.feature_scale.copy_(1.0 / feats.std(dim=0).clamp_min(1e-3))
    opt = torch.optim.Adam(encoder.parameters(), lr=learning_rate)
    hist = {"loss": [], "align": [], "uniform": []}
    conditional = ("label" if y is not None else "time") + ("" if y is None or time_offset is None
                                                           else "+time")
    logger.info(f"Training contrastive encoder ({conditional} positives, {trials.sfreq:g} Hz) "
                f"for {n_steps} steps")
    t0 = time.perf_counter()
    for _ in progress(range(n_steps), "InfoNCE"):
        ref = rng.integers(n, size=batch_size)
        neg = rng.integers(n, size=batch_size)
        idx = torch.from_numpy(np.concatenate([ref, sampler(ref), neg])).to(device)
        emb = encoder.embed_features(encoder.features(spec=spec[idx]))
        loss, align, uniform = infonce_loss(*emb.split(batch_size), temperature=temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for key, value in zip(("loss", "align", "uniform"), (loss, align, uniform)):
            hist[key].append(value.item())
    encoder.eval()
    hist.update(
        train_time_s=time.perf_counter() - t0, n_steps=n_steps, batch_size=batch_size,
        temperature=temperature, time_offset=time_offset, conditional=conditional,
        learning_rate=learning_rate, seed=seed, n_trials=int(n), sfreq=trials.sfreq,
    )
    logger.info(f"Final InfoNCE loss {hist['loss'][-1]:.4f} ({hist['train_time_s']:.1f} s)")
    return encoder, hist


@verbose
def save_encoder(encoder, path, history=None, verbose=None):
    """Save an encoder as ``params.safetensors`` + ``history.json`` + ``metadata.json``.

    The layout of the classifier checkpoints
    (:func:`neuroxai.models.checkpoint.save_checkpoint`), with
    ``metadata["kind"] = "encoder"``: the directory is built beside ``path`` and swapped in
    as a whole, with a manifest of sha256 sums that :func:`load_encoder` verifies.

    Parameters
    ----------
    encoder : ContrastiveEEGEncoder
        The encoder to save.
    path : str | Path
        Directory (created if needed).
    history : dict | None
        Training history (JSON-serialisable), e.g. from :func:`train_encoder`.
    %(verbose)s

    Returns
    -------
    path : Path
        The checkpoint directory.
    """
    from .checkpoint import save_checkpoint

    cls_name = type(encoder).__name__
    if cls_name not in _ENCODER_CLASSES or not hasattr(encoder, "get_config"):
        raise InvalidInputError(
            f"save_encoder() saves {sorted(_ENCODER_CLASSES)} instances, got {cls_name}; save "
            "classifiers with neuroxai.models.checkpoint.save_checkpoint()."
        )
    metadata = {
        "model_class": cls_name,
        "model_kwargs": encoder.get_config(),
        "kind": "encoder",
        "n_latents": encoder.n_latents,
        "format_version": _FORMAT_VERSION,
    }
    path = save_checkpoint(encoder, path, history=history or {}, metadata=metadata,
                           verbose=False)
    logger.info(f"Saved {cls_name} to {path}")
    return Path(path)


@verbose
def load_encoder(path, device="cpu", verbose=None):
    """Load an encoder saved by :func:`save_encoder`.

    Parameters
    ----------
    path : str | Path
        The checkpoint directory.
    device : str | torch.device
        Where to put the encoder.
    %(verbose)s

    Returns
    -------
    encoder : ContrastiveEEGEncoder
        The encoder, in eval mode.
    history : dict
        The saved training history.

    Raises
    ------
    CheckpointError
        The checkpoint is missing, damaged (manifest, safetensors or JSON), holds NaN/Inf
        weights, or its weights do not fit the architecture its metadata declares.
    ModelMismatchError
        The checkpoint holds a classifier, not an encoder.
    """
    from .._utils import CheckpointError
    from .checkpoint import METADATA_FILE, load_state_checked, read_checkpoint_files

    state, history, metadata = read_checkpoint_files(path)
    cls_name = metadata.get("model_class")
    if cls_name not in _ENCODER_CLASSES:
        raise ModelMismatchError(
            f"Checkpoint {path} holds a {cls_name!r}, not an encoder (known encoder classes: "
            f"{sorted(_ENCODER_CLASSES)}); load classifiers with "
            "neuroxai.models.checkpoint.load_checkpoint()."
        )
    kwargs = metadata.get("model_kwargs", {})
    try:
        encoder = _ENCODER_CLASSES[cls_name](**kwargs)
    except Exception as err:  # the saved model_kwargs are not the constructor's
        raise CheckpointError(f"model_kwargs in {Path(path) / METADATA_FILE} cannot build a "
                              f"{cls_name}: {err}") from err
    load_state_checked(encoder, state, str(path), CheckpointError)
    return encoder.to(device).eval(), history


#: The encoder shipped for the embedded simulated dataset (the main job explains it without
#: training one, so that the audit imports no optimiser): :func:`train_default_encoder`.
SHIPPED_ENCODER = "encoder_simulated"
DEFAULT_ENCODER_RECIPE = dict(n_latents=4, n_steps=300, batch_size=128, seed=0)


def shipped_encoder_dir(name=SHIPPED_ENCODER):
    """Directory of the encoder shipped inside the package."""
    return Path(__file__).parent / "checkpoints" / name


@verbose
def train_default_encoder(out_dir=None, *, verbose=None):
    """Train the shipped encoder again: :data:`DEFAULT_ENCODER_RECIPE` on session ``0train``
    of the default simulated dataset (the shipped classifier's training data).

    Writes to ``out_dir`` (default: the user cache, ``<cache>/checkpoints/encoder_simulated``;
    never into the package) and returns ``(encoder, history)``.
    """
    from .._utils import get_cache_dir
    from ..data import simulate_bcic_iv_2a
    from .train import DEFAULT_RECIPE

    train = simulate_bcic_iv_2a(**DEFAULT_RECIPE["data"], verbose=False).trials.select("0train")
    encoder, history = train_encoder(train, **DEFAULT_ENCODER_RECIPE, verbose=False)
    history["dataset_params"] = DEFAULT_RECIPE["data"]
    out_dir = out_dir or get_cache_dir() / "checkpoints" / SHIPPED_ENCODER
    save_encoder(encoder, out_dir, history, verbose=False)
    return encoder, history
