"""Shared low-level helpers: exceptions, validation, logging, atomic writes.

Every stage may import this module; it imports no stage.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from mne.utils import logger, verbose  # noqa: F401  (re-exported for the stages)

__all__ = [
    "NeuroXAIError",
    "InvalidInputError",
    "ShapeError",
    "NonFiniteError",
    "MontageError",
    "TargetError",
    "ModelMismatchError",
    "UnknownNameError",
    "DataNotAvailableError",
    "LayerNotFoundError",
    "MethodUndefinedError",
    "DegenerateMethodWarning",
    "get_cache_dir",
    "atomic_write",
]


class NeuroXAIError(Exception):
    """Base class of every error neuroxai raises on purpose."""


class InvalidInputError(NeuroXAIError, ValueError):
    """An argument has a value neuroxai cannot work with."""


class ShapeError(InvalidInputError):
    """An array does not have the shape the function needs."""


class NonFiniteError(InvalidInputError):
    """An array contains NaN or infinite values."""


class MontageError(InvalidInputError):
    """Channels have no position in the montage (cannot be drawn or projected)."""


class TargetError(InvalidInputError):
    """A target class index is outside the model's outputs."""


class ModelMismatchError(InvalidInputError):
    """The model's input or output does not fit the data or the class names."""


class UnknownNameError(InvalidInputError, KeyError):
    """A name (method, dataset, band, preset, layer ...) is not known.

    The message lists the valid names.
    """

    def __str__(self):  # KeyError would repr() the message otherwise
        return str(self.args[0]) if self.args else ""


class LayerNotFoundError(UnknownNameError):
    """A layer name does not exist in the model."""


class MethodUndefinedError(NeuroXAIError, TypeError):
    """An attribution method is undefined for (a layer of) this model."""


class DataNotAvailableError(NeuroXAIError, RuntimeError):
    """Data or weights are not cached locally and cannot be downloaded."""


class DegenerateMethodWarning(UserWarning):
    """An attribution method degenerates to another one on this model."""


def unknown_name(kind, name, valid, error=UnknownNameError):
    """Build an :class:`UnknownNameError` that lists the valid names."""
    valid = sorted(valid)
    return error(f"Unknown {kind} {name!r}. Valid {kind}s are: {', '.join(map(repr, valid))}.")


def check_finite(arr, name="X"):
    """Raise :class:`NonFiniteError` if ``arr`` has NaN or Inf."""
    arr_np = arr.detach().cpu().numpy() if hasattr(arr, "detach") else np.asarray(arr)
    if not np.all(np.isfinite(arr_np)):
        n_bad = int(np.size(arr_np) - np.count_nonzero(np.isfinite(arr_np)))
        raise NonFiniteError(
            f"{name} contains {n_bad} NaN/Inf value(s). Clean or interpolate the data "
            "(e.g. raw.interpolate_bads(), or drop the affected trials) before attribution."
        )


def check_trials_array(X, name="X", n_chans=None, n_times=None, dtype=np.float32):
    """Validate a ``(n_trials, n_chans, n_times)`` array and return it as ``dtype``.

    ``dtype=np.float64`` keeps float64 input (a float64 model's data) and converts other
    dtypes to float32.
    """
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim != 3:
        raise ShapeError(
            f"{name} must have shape (n_trials, n_chans, n_times), got shape {X.shape}. "
            "For a single trial use X[np.newaxis]."
        )
    if n_chans is not None and X.shape[1] != n_chans:
        raise ShapeError(f"{name} has {X.shape[1]} channels, expected {n_chans} (from info/model).")
    if n_times is not None and X.shape[2] != n_times:
        raise ShapeError(f"{name} has {X.shape[2]} time samples, expected {n_times}.")
    if not np.issubdtype(X.dtype, np.number):
        raise InvalidInputError(f"{name} must be numeric, got dtype {X.dtype}.")
    check_finite(X, name)
    if dtype == np.float64 and X.dtype == np.float64:
        return X
    return X.astype(np.float32, copy=False)


def get_cache_dir(cache_dir=None):
    """Return the cache directory (argument, ``$NEUROXAI_CACHE`` or ``./data_cache``)."""
    if cache_dir is None:
        cache_dir = os.environ.get("NEUROXAI_CACHE", "data_cache")
    path = Path(cache_dir).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Write ``path`` through a temporary file renamed into place on success.

    An interruption (exception, KeyboardInterrupt) removes the temporary file,
    so the cache never holds a partial file under its final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def warn_degenerate(message):
    warnings.warn(message, DegenerateMethodWarning, stacklevel=3)


def import_braindecode(name="braindecode.models"):
    """Import a braindecode module without its import-time montage deprecation notice.

    braindecode 1.8 builds a ``standard_1020`` montage when ``braindecode.models`` is
    imported; MNE 1.13 answers with a FutureWarning *and* a log line on stdout that the
    user can do nothing about (neuroxai itself uses ``colin27_1020``).
    """
    import importlib
    import sys

    if name in sys.modules:
        return sys.modules[name]
    from mne.utils import use_log_level

    with warnings.catch_warnings(), use_log_level("ERROR"):
        warnings.filterwarnings("ignore", message=r"Montage name 'standard_1020'")
        return importlib.import_module(name)
