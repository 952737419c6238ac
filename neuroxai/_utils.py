"""Shared low-level helpers: exceptions, validation, logging, atomic writes.

Every stage may import this module; it imports no stage.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
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
    "CheckpointError",
    "LayerNotFoundError",
    "MethodUndefinedError",
    "DegenerateMethodWarning",
    "get_cache_dir",
    "atomic_write",
    "atomic_directory",
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


class CheckpointError(NeuroXAIError, RuntimeError):
    """A checkpoint on disk cannot be used: missing, truncated, corrupt, or inconsistent.

    The message names the file. A RuntimeError (like :class:`DataNotAvailableError`), not a
    ValueError: the argument is a well-formed path and the fault lies in what is stored there,
    so the remedy is to re-save or re-download the checkpoint, not to change the call.
    """


class DegenerateMethodWarning(UserWarning):
    """An attribution method degenerates to another one on this model."""


def unknown_name(kind, name, valid, error=UnknownNameError, argument=None):
    """Build an :class:`UnknownNameError` that lists the valid names.

    ``argument``: the parameter that held ``name`` when its name is not ``kind`` (e.g. an
    element of a list), so that the message names the argument to change.
    """
    valid = sorted(valid)
    plural = (f"{kind}es" if kind.endswith(("ss", "x", "ch", "sh"))
              else kind if kind.endswith("s") else f"{kind}s")
    where = f"{argument}: " if argument else ""
    return error(f"{where}Unknown {kind} {name!r}. Valid {plural} are: "
                 f"{', '.join(map(repr, valid))}.")


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


#: Test hook: called with the name of each step of :func:`atomic_directory` (and of the
#: checkpoint writer) so that a fault test can stop a child process at a chosen step.
_STAGE_HOOK = None


def _stage(name):
    if _STAGE_HOOK is not None:
        _STAGE_HOOK(name)


def _swap_siblings(path):
    """Our temporary siblings of ``path``: ``(entry, kind, pid, token)``, newest first.

    Only names of the form ``.<name>.neuroxai-{new,old,trash}-<pid>-<token>`` are ours.
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.neuroxai-(new|old|trash)-(\d+)-(\w+)")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    found = []
    for name in names:
        m = pattern.fullmatch(name)
        if m:
            entry = path.parent / name
            with contextlib.suppress(OSError):
                found.append((entry.lstat().st_mtime, entry, m[1], int(m[2]), m[3]))
    return [f[1:] for f in sorted(found, key=lambda f: f[0], reverse=True)]


def _pid_alive(pid):
    if pid == os.getpid():
        return True
    if os.name != "posix":
        try:
            import psutil
        except ImportError:
            return True  # cannot tell: keep the folder
        return psutil.pid_exists(pid)
    try:
        os.kill(pid, 0)  # signal 0: existence check only (POSIX)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _interrupted(path):
    path = Path(path)
    if os.path.lexists(path):
        return None, None
    sibs = _swap_siblings(path)
    new = {(pid, tok) for _, kind, pid, tok in sibs if kind == "new"}
    for entry, kind, pid, tok in sibs:
        if kind == "old" and (pid, tok) in new and entry.is_dir():
            return entry, pid
    return None, None


def interrupted_swap(path):
    """Previous content of ``path`` if a swap into it was killed between its two renames.

    Returns the folder it was moved aside to (complete: moved in one rename), or None.
    Only a pair (moved-aside old folder + finished new folder of the same save) counts,
    so a backup left after a finished swap never comes back.
    """
    return _interrupted(path)[0]


def _remove_tree(entry):
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            entry.unlink()


def _fsync(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # directories cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_replaceable_directory(path, owned=None):
    """Check that :func:`atomic_directory` may put a directory at ``path``; return it absolute.

    Raises :class:`InvalidInputError` if ``path`` is a file, holds entries ``owned`` does not
    accept, or its nearest existing parent is not writable. Changes nothing.
    """
    path = Path(os.path.abspath(Path(path).expanduser()))
    if path.is_symlink():
        path = path.resolve()
    if not path.name:
        raise InvalidInputError(f"Cannot replace the root directory {path}; pass a sub-directory.")
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"{path} is a file; a directory is needed there.")
    if path.is_dir():
        foreign = sorted(e for e in os.listdir(path) if owned is None or not owned(e))
        if foreign:
            raise InvalidInputError(
                f"{path} holds files that are not part of what is being saved "
                f"({', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}); the whole "
                "directory is replaced, so choose a new or empty directory."
            )
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK) \
            or not _can_create_in(parent):
        raise InvalidInputError(f"Cannot write {path}: {parent} is not a writable directory.")
    return path


def _can_create_in(folder):
    """Whether an entry can be made in ``folder``: tried, since ``os.access`` says yes to root
    on a read-only mount or a pseudo file system (/sys, /proc), and no ACL-aware answer exists.
    """
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".neuroxai-probe-", dir=folder))
    except OSError:
        return False
    return True


@contextlib.contextmanager
def atomic_directory(path, owned=None):
    """Build a directory beside ``path`` and put it in place of ``path`` in one step.

    Yields an empty temporary directory ``.<name>.neuroxai-new-<pid>-<token>`` beside
    ``path``. When the block ends without error its files are flushed to disk, an existing
    ``path`` is renamed aside (``...-old-...``), the new directory is renamed to ``path``
    and the old one is removed. On error the temporary directory is removed and ``path``
    is left as it was. Readers see either the whole old or the whole new directory; a kill
    between the two renames leaves ``path`` missing, which :func:`interrupted_swap` resolves
    for readers and the next ``atomic_directory`` on ``path`` repairs (it puts the old one
    back) before anything else. Temporary siblings of ``path`` left by dead processes are
    removed; nothing outside that name pattern is ever deleted.

    Parameters
    ----------
    path : path-like
        The directory to create or replace (a symbolic link is followed).
    owned : callable | None
        ``owned(entry_name) -> bool``: the entries of an existing ``path`` that may be
        replaced. If ``path`` holds anything else, :class:`InvalidInputError` is raised
        before any change. None: ``path`` must be absent or empty.
    """
    path = check_replaceable_directory(path, owned)
    path.parent.mkdir(parents=True, exist_ok=True)
    old, old_pid = _interrupted(path)
    if old is not None and not _pid_alive(old_pid):
        os.replace(old, path)
        logger.warning(f"A killed save had left {path} missing; restored its previous content.")
        check_replaceable_directory(path, owned)
    for entry, _, pid, _ in _swap_siblings(path):
        if not _pid_alive(pid):
            _remove_tree(entry)
    pid = os.getpid()
    prefix = f".{path.name}.neuroxai-new-{pid}-"
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
    token = tmp.name[len(prefix):]
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp creates 0700; give the usual directory mode
    aside = path.parent / f".{path.name}.neuroxai-old-{pid}-{token}"
    moved = swapped = False
    try:
        yield tmp
        for entry in tmp.rglob("*"):
            if entry.is_file():
                _fsync(entry)
        _fsync(tmp)
        _stage("complete")
        if path.exists():
            os.replace(path, aside)
            moved = True
            _stage("moved-aside")
        os.replace(tmp, path)
        swapped = True
        _fsync(path.parent)
        _stage("swapped")
    except BaseException:
        if moved and not swapped and not os.path.lexists(path):
            os.replace(aside, path)
        _remove_tree(tmp)
        raise
    if moved:
        trash = path.parent / f".{path.name}.neuroxai-trash-{pid}-{token}"
        try:
            os.replace(aside, trash)  # a partly deleted folder never carries the "old" name
            _stage("trashed")
        except OSError:
            trash = aside
        _remove_tree(trash)


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
