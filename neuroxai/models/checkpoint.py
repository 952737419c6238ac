"""Checkpoints as ``params.safetensors`` + ``history.json`` (+ ``metadata.json``).

The format of braindecode's Hugging Face tutorial repos: no pickle is ever loaded.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._utils import (
    DataNotAvailableError,
    InvalidInputError,
    ModelMismatchError,
    atomic_write,
    logger,
    unknown_name,
)

PARAMS_FILE = "params.safetensors"
HISTORY_FILE = "history.json"
METADATA_FILE = "metadata.json"


def _braindecode_model_classes():
    import torch

    from .._utils import import_braindecode

    bm = import_braindecode("braindecode.models")

    return {n: getattr(bm, n) for n in dir(bm)
            if isinstance(getattr(bm, n), type) and issubclass(getattr(bm, n), torch.nn.Module)}


def build_model(model_class, **model_kwargs):
    """Instantiate a braindecode model by class name (e.g. ``"ShallowFBCSPNet"``), in eval mode."""
    import warnings

    classes = _braindecode_model_classes()
    if model_class not in classes:
        raise unknown_name("braindecode model class", model_class, classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # braindecode's own montage-name warning
        model = classes[model_class](**model_kwargs)
    return model.eval()


def _to_jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def save_checkpoint(model, path, history=None, metadata=None):
    """Save ``model`` as ``path/params.safetensors`` + ``history.json`` + ``metadata.json``.

    Each file is written atomically (temporary file, then rename).

    Parameters
    ----------
    model : torch.nn.Module
    path : path-like
        Directory (created if needed).
    history : list of dict | None
        One dict per epoch, skorch-style (``epoch``, ``train_loss``, ``valid_accuracy``, ...).
    metadata : dict | None
        Must hold ``model_class`` and ``model_kwargs`` for :func:`load_checkpoint` to
        rebuild the model; anything else (class names, accuracy, data parameters) is kept.
    """
    from safetensors.torch import save

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_write(path / PARAMS_FILE) as fh:
        fh.write(save(state))
    with atomic_write(path / HISTORY_FILE, "w") as fh:
        json.dump(_to_jsonable(history or []), fh, indent=1)
    if metadata is not None:
        with atomic_write(path / METADATA_FILE, "w") as fh:
            json.dump(_to_jsonable(metadata), fh, indent=1)
    return path


def read_checkpoint_files(path):
    """Read ``(state_dict, history, metadata)`` from a checkpoint directory."""
    from safetensors.torch import load_file

    path = Path(path)
    params = path / PARAMS_FILE
    if not params.is_file():
        raise DataNotAvailableError(
            f"No {PARAMS_FILE} in {path}. A checkpoint directory holds {PARAMS_FILE} and "
            f"{HISTORY_FILE} (braindecode's Hugging Face format)."
        )
    state = load_file(str(params))
    history = json.loads((path / HISTORY_FILE).read_text()) if (path / HISTORY_FILE).is_file() else []
    meta_file = path / METADATA_FILE
    metadata = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    return state, history, metadata


def load_state_checked(model, state, source=""):
    """``load_state_dict(strict=True)`` with a message that says which keys/shapes differ."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}")
        if wrong:
            parts.append("shape mismatch " + ", ".join(
                f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                for k in wrong[:5]))
        raise ModelMismatchError(
            f"Checkpoint {source} does not fit {type(model).__name__}: {'; '.join(parts)}. "
            "Pass the model_kwargs the checkpoint was trained with (n_chans, n_outputs, n_times)."
        )
    model.load_state_dict(state, strict=True)
    return model


def load_checkpoint(path, model=None, model_class=None, model_kwargs=None):
    """Load a checkpoint directory into a model (eval mode).

    Parameters
    ----------
    path : path-like
        Directory with ``params.safetensors`` (+ ``history.json``, ``metadata.json``).
    model : torch.nn.Module | None
        Load into this model. Otherwise the model is built from ``model_class`` and
        ``model_kwargs`` (arguments win over ``metadata.json``).

    Returns
    -------
    model : torch.nn.Module
    history : list of dict
    metadata : dict
    """
    state, history, metadata = read_checkpoint_files(path)
    if model is None:
        model_class = model_class or metadata.get("model_class")
        kwargs = dict(metadata.get("model_kwargs", {}))
        kwargs.update(model_kwargs or {})
        if model_class is None:
            raise InvalidInputError(
                f"{path} has no {METADATA_FILE} naming the model class: pass model_class= and "
                "model_kwargs= (e.g. 'ShallowFBCSPNet', dict(n_chans=22, n_outputs=4, n_times=1125))."
            )
        model = build_model(model_class, **kwargs)
    load_state_checked(model, state, str(path))
    logger.info(f"Loaded {type(model).__name__} from {path}")
    return model.eval(), history, metadata


def check_model_outputs(model, n_chans, n_times, n_classes=None):
    """Run one dummy trial through ``model``; raise :class:`ModelMismatchError` if it doesn't fit.

    Returns the number of outputs.
    """
    import torch

    p = next(model.parameters(), None)
    device = p.device if p is not None else "cpu"
    dtype = p.dtype if p is not None else torch.float32
    try:
        with torch.no_grad():
            was = model.training
            model.eval()
            out = model(torch.zeros(1, n_chans, n_times, device=device, dtype=dtype))
            model.train(was)
    except Exception as err:  # shape errors deep inside the model: name the cause
        raise ModelMismatchError(
            f"{type(model).__name__} cannot take input of shape (batch, {n_chans}, {n_times}): {err}"
        ) from err
    if out.ndim != 2:
        raise ModelMismatchError(
            f"{type(model).__name__} returns shape {tuple(out.shape)}; neuroxai needs "
            "(batch, n_outputs). Wrap the model so that it returns one score per class."
        )
    if n_classes is not None and out.shape[1] != n_classes:
        raise ModelMismatchError(
            f"{type(model).__name__} has {out.shape[1]} outputs but the data has {n_classes} "
            "classes. Use the checkpoint trained on this dataset or pass matching class_names."
        )
    return int(out.shape[1])
