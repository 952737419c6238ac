"""The per-subject result cache: fingerprints of what a map depends on, and its file.

A subject map is written as soon as its job finishes (``Attribution.save``: ``.npz``
without pickle, renamed into place), under a name that holds a fingerprint of everything
the map depends on (the subject, the method and its parameters, the reduction, the seed,
the model's weights or the training recipe, and the trials' bytes). A rerun with the same
inputs reads the file instead of recomputing it; any change of input gives another name,
so a stale map is never reused.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path

import numpy as np

from .._utils import InvalidInputError, logger

#: Bumped when the content of a subject map changes for the same inputs.
CACHE_VERSION = 1


def _update_array(h, arr):
    arr = np.ascontiguousarray(arr)
    h.update(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes())


def trials_fingerprint(trials):
    """SHA-256 of the trials' data, labels, class names, channels, rate and first time."""
    h = hashlib.sha256()
    _update_array(h, trials.X)
    _update_array(h, np.asarray(trials.y if trials.y is not None else []))
    info = trials.info
    h.update(json.dumps([list(trials.class_names), None if info is None else info["ch_names"],
                         trials.sfreq, trials.tmin]).encode())
    return h.hexdigest()


def loader_fingerprint(loader):
    """A stable key for a zero-argument loader: the repr of a ``functools.partial``, else
    the callable's qualified name (the subject id is part of every key anyway)."""
    if isinstance(loader, functools.partial):
        func = loader.func
        inner = (loader_fingerprint(func) if isinstance(func, functools.partial)
                 else f"{func.__module__}.{func.__qualname__}")
        return hashlib.sha256(json.dumps(
            [inner, [repr(a) for a in loader.args],
             sorted((k, repr(v)) for k, v in loader.keywords.items())]).encode()).hexdigest()
    name = f"{getattr(loader, '__module__', '')}.{getattr(loader, '__qualname__', repr(loader))}"
    return hashlib.sha256(name.encode()).hexdigest()


def model_fingerprint(model):
    """SHA-256 of a module's class and its state (parameters and buffers)."""
    h = hashlib.sha256(type(model).__qualname__.encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        _update_array(h, tensor.detach().cpu().numpy())
    return h.hexdigest()


def job_key(**parts):
    """The fingerprint of one subject x method job (hex)."""
    from ..attribution._base import _jsonable

    text = json.dumps(_jsonable({"version": CACHE_VERSION, **parts}), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def map_path(cache_dir, subject, method, key):
    """``<cache_dir>/sub-<subject>_<method>_<key[:16]>-attr.npz``."""
    sub = _UNSAFE.sub("-", str(subject)).strip("-") or "x"
    return Path(cache_dir) / f"sub-{sub}_{method}_{key[:16]}-attr.npz"


def read_cached(path, key):
    """The cached map at ``path`` if it is there, readable and made for ``key``; else None."""
    from ..attribution import read_attribution

    if not path.is_file():
        return None
    try:
        att = read_attribution(path)
    except InvalidInputError as err:  # a damaged file: recompute and overwrite it
        logger.warning(f"Ignoring the unreadable cached map {path.name} ({err}); recomputing.")
        return None
    if att.params.get("cache_key") != key:
        logger.info(f"Cached map {path.name} was made for other inputs; recomputing.")
        return None
    return att


def check_cache_dir(cache_dir):
    """``cache_dir`` as a writable folder (created), or None for no cache."""
    import os

    if cache_dir is None or cache_dir is False:
        return None
    path = Path(cache_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"cache_dir={str(path)!r} is a file; pass a folder (or "
                                "cache_dir=False for no cache).")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InvalidInputError(f"cache_dir={str(path)!r} cannot be created ({err}); pass a "
                                "writable folder.") from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise InvalidInputError(f"cache_dir={str(path)!r} is not writable; pass another folder.")
    return path
