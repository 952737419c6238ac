"""A model's state, device and dtype; the output probe; batched prediction."""
from __future__ import annotations

import contextlib

import numpy as np

from .._utils import InvalidInputError, ModelMismatchError, NonFiniteError, logger


def as_module(model, name="model"):
    """The ``torch.nn.Module`` behind ``model``.

    Accepts a module or a fitted skorch / braindecode ``EEGClassifier`` (its ``module_``), so
    that the classifier a user trained with braindecode can be passed as it is.
    """
    import torch

    if isinstance(model, torch.nn.Module):
        return model
    module = getattr(model, "module_", None)
    if isinstance(module, torch.nn.Module):
        return module
    if hasattr(model, "initialize") and hasattr(model, "module"):
        raise InvalidInputError(
            f"{name} is a {type(model).__name__} that is not initialised: call "
            f"{name}.initialize() (and load_params(...)) or fit it first.")
    raise InvalidInputError(
        f"{name} must be a torch.nn.Module or a fitted braindecode EEGClassifier, got "
        f"{type(model).__name__}.")


def device_dtype(model):
    """Device and floating dtype of the model's first floating parameter (or buffer)."""
    import torch

    for tensors in (model.parameters(), model.buffers()):
        for t in tensors:
            if t.dtype.is_floating_point:
                return t.device, t.dtype
    for t in model.parameters():
        return t.device, torch.float32
    return torch.device("cpu"), torch.float32


@contextlib.contextmanager
def evaluating(model):
    """``model`` in eval mode inside; every sub-module's own train/eval flag restored after.

    Per module, not ``model.train(was)``: a model may hold a sub-module frozen in eval mode
    on purpose (a pretrained feature extractor, a Dropout switched off), which a global
    ``train()`` would wake up.
    """
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


def _declared_input(model):
    """(n_chans, n_times, sfreq) a braindecode model was built for, where it says so."""
    out = []
    for attr in ("n_chans", "n_times", "sfreq"):
        try:
            out.append(getattr(model, attr))
        except Exception:  # braindecode raises when the attribute was not given
            out.append(None)
    return out


def probe_model(model, X, *, sfreq=None, kind="classifier"):
    """Run one trial through ``model`` and return its number of outputs.

    Raises :class:`ModelMismatchError` before any heavy work when the model cannot take
    trials of this shape, saying what it was built for (braindecode models declare
    ``n_chans``/``n_times``) in samples and, where the rate is known, in seconds.
    """
    import torch

    device, dtype = device_dtype(model)
    n_chans, n_times = X.shape[1], X.shape[2]
    want_c, want_t, want_sf = _declared_input(model)
    rate = sfreq or want_sf

    def secs(n):
        return f" ({n / rate:.3g} s at {rate:g} Hz)" if rate else ""

    if want_c is not None and int(want_c) != n_chans:
        raise ModelMismatchError(
            f"{type(model).__name__} was built for {want_c} channels, the trials have "
            f"{n_chans}. Pick the channels it was trained on (picks=..., exclude=...) or build "
            "the model for this montage.")
    x1 = torch.as_tensor(np.ascontiguousarray(X[:1]), device=device, dtype=dtype)
    try:
        with torch.no_grad(), evaluating(model):
            out = model(x1)
    except Exception as err:
        hint = (f" It was built for n_times={want_t}{secs(want_t)}; the trials have "
                f"{n_times}{secs(n_times)}." if want_t is not None and int(want_t) != n_times
                else f" The trials have {n_times} samples{secs(n_times)}; it may need longer "
                "windows.")
        raise ModelMismatchError(
            f"{type(model).__name__} cannot process trials of shape (n_chans, n_times) = "
            f"{(n_chans, n_times)}: {type(err).__name__}: {err}.{hint}") from err
    if not torch.is_tensor(out) or out.dim() != 2:
        shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        what = "(batch, n_latents)" if kind == "encoder" else "(batch, n_outputs)"
        raise ModelMismatchError(
            f"{type(model).__name__} returns {shape} for one trial; this needs a 2-D {what} "
            "output. For cropped decoding, wrap the model so that it averages its outputs "
            "over time.")
    if not torch.isfinite(out).all():
        raise NonFiniteError(
            f"{type(model).__name__} returns NaN/Inf for the first trial: check the model's "
            "weights (a NaN weight?) and the data's scale.")
    if want_t is not None and int(want_t) != n_times:
        logger.info(f"{type(model).__name__} was built for n_times={want_t}{secs(want_t)}; "
                    f"running it on {n_times} samples{secs(n_times)}.")
    return int(out.shape[1])


def predict_scores(model, X, batch_size=128):
    """Model outputs ``(n_trials, n_outputs)`` (numpy), in eval mode, batched, no grad.

    Raises :class:`NonFiniteError` naming the first trial whose outputs are not finite.
    """
    import torch

    device, dtype = device_dtype(model)
    outs = []
    with torch.no_grad(), evaluating(model):
        for start in range(0, len(X), batch_size):
            xb = torch.as_tensor(np.ascontiguousarray(X[start:start + batch_size]),
                                 device=device, dtype=dtype)
            outs.append(model(xb).detach().cpu().numpy())
    scores = np.concatenate(outs) if outs else np.empty((0, 0))
    check_finite_array(scores, "model outputs")
    return scores


def check_finite_array(arr, stage):
    """Stop with :class:`NonFiniteError` naming ``stage`` when ``arr`` holds NaN/Inf."""
    arr = arr.detach().cpu().numpy() if hasattr(arr, "detach") else np.asarray(arr)
    finite = np.isfinite(arr)
    if not finite.all():
        n_bad = int(arr.size - np.count_nonzero(finite))
        first = np.unravel_index(int(np.argmin(finite)), arr.shape)
        raise NonFiniteError(
            f"The {stage} contain {n_bad} NaN/Inf value(s) (first at index "
            f"{tuple(map(int, first))})."
            " Check the model's weights and the data's scale (volts vs µV).")
    return arr
