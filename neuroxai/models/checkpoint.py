"""Checkpoints: one directory, written and checked as one unit.

A checkpoint directory holds

* ``params.safetensors``: the state dict (safetensors; no pickle is ever loaded);
* ``history.json``: the training history (a list of per-epoch dicts, or a dict);
* ``metadata.json``: ``model_class``, ``model_kwargs`` and anything else worth keeping;
* ``manifest.json``, written last: ``{"format": "neuroxai-checkpoint", "format_version": 1,
  "files": {file name: {"sha256": hex digest, "size": bytes}}}`` for the files above.

The first two are braindecode's Hugging Face format, which loads too (without a manifest
nothing can be verified beyond the file contents; said at debug level). A save builds the
whole directory beside the target and swaps it in (:func:`neuroxai._utils.atomic_directory`),
so weights and metadata of different saves never mix, even when a save over an existing
checkpoint is killed. Loading verifies the manifest, the safetensors file, the JSON files,
finite weights and the fit of keys and shapes; every failure is a :class:`CheckpointError`
naming the file.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from .._utils import (
    CheckpointError,
    InvalidInputError,
    ModelMismatchError,
    NeuroXAIError,
    NonFiniteError,
    _stage,
    atomic_directory,
    check_replaceable_directory,
    interrupted_swap,
    logger,
    unknown_name,
    verbose,
)

PARAMS_FILE = "params.safetensors"
HISTORY_FILE = "history.json"
METADATA_FILE = "metadata.json"
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "neuroxai-checkpoint"
MANIFEST_VERSION = 1
_CONTENT_FILES = (PARAMS_FILE, HISTORY_FILE, METADATA_FILE)
#: Temporary files of the per-file writer of neuroxai <= 0.1 (killed saves left them).
_LEGACY_PART = re.compile(r"\.(params\.safetensors|history\.json|metadata\.json)\.\w+\.part")


def _owned(name):
    """Entries of an existing checkpoint directory that a new save may replace."""
    return name in _CONTENT_FILES or name == MANIFEST_FILE or bool(_LEGACY_PART.fullmatch(name))


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


def _json_bytes(obj, name):
    try:
        return json.dumps(_to_jsonable(obj), indent=1).encode()
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"{name} cannot be saved as JSON ({err}); pass plain numbers, strings, lists and dicts."
        ) from err


def _non_finite(state):
    """``{key: number of NaN/Inf values}`` over the floating-point tensors of a state dict."""
    import torch

    bad = {}
    for key, t in state.items():
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            bad[key] = int((~torch.isfinite(t)).sum())
    return bad


def _describe(bad):
    more = " ..." if len(bad) > 5 else ""
    return ", ".join(f"{k} ({n})" for k, n in list(bad.items())[:5]) + more


def check_checkpoint_target(path):
    """Raise :class:`InvalidInputError` unless :func:`save_checkpoint` can write ``path``.

    ``path`` must be absent, or a directory holding only checkpoint files (it is replaced
    as a whole), in a writable place. Changes nothing; cheap, so callers run it before
    long work.
    """
    if path is None or str(path) == "":
        raise InvalidInputError("path must name the checkpoint directory to write.")
    return check_replaceable_directory(path, _owned)


@verbose
def save_checkpoint(model, path, history=None, metadata=None, *, verbose=None):
    """Save ``model`` as one checkpoint directory (see the module docstring for the format).

    The files are written into a temporary folder beside ``path``, flushed, and the folder
    is swapped in: a killed save leaves either the complete previous checkpoint or the
    complete new one. Temporary folders of earlier killed saves to ``path`` are removed.

    Parameters
    ----------
    model : torch.nn.Module
        Its weights must be finite.
    path : path-like
        Directory (parents created if needed). An existing one must hold only checkpoint
        files: it is replaced as a whole.
    history : list of dict | dict | None
        One dict per epoch, skorch-style (``epoch``, ``train_loss``, ``valid_accuracy``, ...).
    metadata : dict | None
        Must hold ``model_class`` and ``model_kwargs`` for :func:`load_checkpoint` to
        rebuild the model; anything else (class names, accuracy, data parameters) is kept.
    %(verbose)s

    Returns
    -------
    path : Path
    """
    import torch
    from safetensors.torch import save

    if not isinstance(model, torch.nn.Module):
        raise InvalidInputError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    check_checkpoint_target(path)
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidInputError(f"metadata must be a dict or None, got {type(metadata).__name__}.")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    bad = _non_finite(state)
    if bad:
        raise NonFiniteError(
            f"model has NaN/Inf weights in {_describe(bad)}; such a checkpoint could not be "
            "loaded. Save the model from before training diverged."
        )
    try:
        params = save(state)
    except Exception as err:  # e.g. tensors sharing memory
        raise InvalidInputError(f"model's state dict cannot be saved as safetensors: {err}") \
            from err
    blobs = {PARAMS_FILE: params, HISTORY_FILE: _json_bytes(history or [], "history")}
    if metadata is not None:
        blobs[METADATA_FILE] = _json_bytes(metadata, "metadata")
    manifest = {"format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION, "files": {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in blobs.items()}}
    try:
        with atomic_directory(path, owned=_owned) as tmp:
            for name, data in blobs.items():
                (tmp / name).write_bytes(data)
                _stage(name)
            (tmp / MANIFEST_FILE).write_bytes(json.dumps(manifest, indent=1).encode())
            _stage(MANIFEST_FILE)
    except OSError as err:  # read-only place, full disk ...
        raise CheckpointError(f"Cannot write the checkpoint {path}: {err}") from err
    logger.info(f"Saved {type(model).__name__} to {path}")
    return Path(path)


def _read_bytes(file):
    try:
        return file.read_bytes()
    except OSError as err:
        raise CheckpointError(f"Cannot read {file}: {err}") from err


def _read_manifest(path):
    """The parsed manifest of ``path`` (``{name: {"sha256", "size"}}``), or None."""
    file = path / MANIFEST_FILE
    if not file.is_file():
        logger.debug(f"{path} has no {MANIFEST_FILE} (braindecode's Hugging Face format): "
                     "its files are loaded without checksums.")
        return None
    try:
        manifest = json.loads(_read_bytes(file))
        files = manifest["files"] if manifest.get("format") == MANIFEST_FORMAT else None
        if not isinstance(files, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("sha256"), str) for v in files.values()):
            raise ValueError(f"not a {MANIFEST_FORMAT} manifest")
    except (ValueError, KeyError, AttributeError, TypeError) as err:
        raise CheckpointError(
            f"{file} is unreadable ({err}); the checkpoint cannot be verified. Re-save it, or "
            f"delete {MANIFEST_FILE} to load it unverified."
        ) from err
    present = {n for n in _CONTENT_FILES if (path / n).is_file()}
    unlisted = sorted(present - set(files))
    missing = sorted(set(files) - present)
    if unlisted or missing:
        raise CheckpointError(
            f"The files of {path} do not match its {MANIFEST_FILE}: "
            + "; ".join(([f"not listed {unlisted}"] if unlisted else [])
                        + ([f"listed but missing {missing}"] if missing else []))
            + ". The checkpoint was changed after saving; re-save or re-download it."
        )
    return files


def _verified(file, manifest):
    """The bytes of ``file``, checked against its manifest entry (if any)."""
    data = _read_bytes(file)
    entry = (manifest or {}).get(file.name)
    if entry is None:
        return data
    if "size" in entry and len(data) != entry["size"]:
        raise CheckpointError(
            f"{file} has {len(data)} bytes but {MANIFEST_FILE} records {entry['size']} "
            "(truncated or replaced after saving). Re-save or re-download the checkpoint."
        )
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise CheckpointError(
            f"{file} does not match the sha256 in {MANIFEST_FILE}: it was corrupted or changed "
            "after saving. Re-save or re-download the checkpoint."
        )
    return data


def _json_file(file, manifest, default, types):
    if not file.is_file():
        return default
    try:
        value = json.loads(_verified(file, manifest))
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        raise CheckpointError(f"{file} is not valid JSON ({err}); the file is damaged.") from err
    if not isinstance(value, types):
        raise CheckpointError(f"{file} holds a {type(value).__name__}, expected "
                              f"{' or '.join(t.__name__ for t in types)}.")
    return value


def read_checkpoint_files(path):
    """Read and verify ``(state_dict, history, metadata)`` from a checkpoint directory.

    Raises :class:`CheckpointError` (naming the file) for a missing directory or weights
    file, a manifest mismatch, an unreadable safetensors or JSON file and NaN/Inf weights.
    If a save into ``path`` was killed between its two renames, the previous checkpoint
    (moved aside, complete) is read.
    """
    from safetensors.torch import load

    path = Path(path).expanduser()
    if not path.exists():
        previous = interrupted_swap(path)
        if previous is None:
            raise CheckpointError(
                f"No such checkpoint directory: {path.absolute()}. A checkpoint directory holds "
                f"{PARAMS_FILE} and {HISTORY_FILE} (braindecode's Hugging Face format)."
            )
        logger.warning(f"A save into {path} was killed; reading the previous checkpoint "
                       f"from {previous} (the next save to {path} tidies up).")
        path = previous
    if not path.is_dir():
        raise CheckpointError(f"{path} is a file; pass the checkpoint directory that holds "
                              f"{PARAMS_FILE}.")
    params = path / PARAMS_FILE
    if not params.is_file():
        raise CheckpointError(
            f"No {PARAMS_FILE} in {path}. A checkpoint directory holds {PARAMS_FILE} and "
            f"{HISTORY_FILE} (braindecode's Hugging Face format)."
        )
    manifest = _read_manifest(path)
    data = _verified(params, manifest)
    try:
        state = load(data)
    except Exception as err:  # safetensors' own error type: truncated header, bad offsets ...
        raise CheckpointError(
            f"{params} is not a readable safetensors file ({err}); it is truncated or "
            "corrupt. Re-save or re-download the checkpoint."
        ) from err
    bad = _non_finite(state)
    if bad:
        raise CheckpointError(f"{params} holds NaN/Inf weights in {_describe(bad)}.")
    history = _json_file(path / HISTORY_FILE, manifest, [], (list, dict))
    metadata = _json_file(path / METADATA_FILE, manifest, {}, (dict,))
    return state, history, metadata


def load_state_checked(model, state, source="", error=ModelMismatchError):
    """``load_state_dict(strict=True)``; a misfit raises ``error`` naming the keys/shapes.

    ``error`` is :class:`ModelMismatchError` when the caller chose the model, and
    :class:`CheckpointError` when the checkpoint's own metadata did (then the file is wrong).
    """
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
        hint = ("Pass the model_kwargs the checkpoint was trained with (n_chans, n_outputs, "
                "n_times)." if error is ModelMismatchError else
                f"The weights do not fit the architecture its {METADATA_FILE} declares.")
        raise error(f"Checkpoint {source} does not fit {type(model).__name__}: "
                    f"{'; '.join(parts)}. {hint}")
    model.load_state_dict(state, strict=True)
    return model


@verbose
def load_checkpoint(path, model=None, model_class=None, model_kwargs=None, *, verbose=None):
    """Load a checkpoint directory into a model (eval mode), verifying it first.

    Parameters
    ----------
    path : path-like
        Directory with ``params.safetensors`` (+ ``history.json``, ``metadata.json``,
        ``manifest.json``).
    model : torch.nn.Module | None
        Load into this model. Otherwise the model is built from ``model_class`` and
        ``model_kwargs`` (arguments win over ``metadata.json``).
    %(verbose)s

    Returns
    -------
    model : torch.nn.Module
    history : list of dict
    metadata : dict

    Raises
    ------
    CheckpointError
        The checkpoint is missing, damaged, or inconsistent with its own metadata.
    ModelMismatchError
        The model (or architecture) passed does not fit the weights.
    """
    state, history, metadata = read_checkpoint_files(path)
    chosen = model is not None or model_class is not None or bool(model_kwargs)
    error = ModelMismatchError if chosen else CheckpointError
    if model is None:
        model_class = model_class or metadata.get("model_class")
        saved_kwargs = metadata.get("model_kwargs", {})
        if not isinstance(saved_kwargs, dict):
            raise CheckpointError(f"model_kwargs in {Path(path) / METADATA_FILE} is not a dict.")
        kwargs = {**saved_kwargs, **(model_kwargs or {})}
        if model_class is None:
            raise InvalidInputError(
                f"{path} has no {METADATA_FILE} naming the model class: pass model_class= and "
                "model_kwargs= (e.g. 'ShallowFBCSPNet', "
                "dict(n_chans=22, n_outputs=4, n_times=1125))."
            )
        try:
            model = build_model(model_class, **kwargs)
        except Exception as err:
            if chosen and isinstance(err, NeuroXAIError):
                raise
            raise error(f"Cannot build {model_class}(**{kwargs}) for the checkpoint {path}: "
                        f"{err}") from err
    load_state_checked(model, state, str(path), error)
    logger.info(f"Loaded {type(model).__name__} from {path}")
    return model.eval(), history, metadata


def check_model_outputs(model, n_chans, n_times, n_classes=None):
    """Run one zero trial through ``model``; raise :class:`ModelMismatchError` if it doesn't fit.

    Returns the number of outputs.
    """
    from .._core.model import as_module, probe_model

    n_out = probe_model(as_module(model), np.zeros((1, n_chans, n_times), np.float32))
    if n_classes is not None and n_out != n_classes:
        raise ModelMismatchError(
            f"{type(model).__name__} has {n_out} outputs but the data has {n_classes} "
            "classes. Use the checkpoint trained on this dataset or pass matching class_names.")
    return n_out
