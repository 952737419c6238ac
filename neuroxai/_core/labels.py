"""Labels of any type to class indices ``0..n-1`` (class names kept); targets to explain."""
from __future__ import annotations

import numpy as np

from .._utils import InvalidInputError, ShapeError, TargetError


def _as_1d(values, name, n=None):
    arr = values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)
    if arr.ndim != 1 or (n is not None and len(arr) != n):
        want = f"({n},)" if n is not None else "(n_trials,)"
        raise ShapeError(f"{name} must have shape {want}, one label per trial; got {arr.shape}.")
    return arr


def _integral(arr):
    if arr.dtype.kind in "iu":
        return True
    if arr.dtype.kind == "f":
        return bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
    return False


def encode_labels(y, class_names=None, name="y", n=None):
    """Encode labels to ``0..n_classes-1``; return ``(codes, class_names)``.

    The rules, as scikit-learn's ``LabelEncoder`` keeps ``classes_``:

    - string labels are class names: with ``class_names`` given they are looked up in it
      (its order is the model's output order), otherwise the classes are the sorted names;
    - integer labels that already are indices ``0..len(class_names)-1`` are kept;
    - other integers (MNE event codes such as 769/770, labels 1/2) are encoded in sorted
      order; their names are the codes as strings unless ``class_names`` gives one name per
      distinct code, in sorted-code order.

    Raises :class:`InvalidInputError` listing what would match when labels and
    ``class_names`` disagree.
    """
    arr = _as_1d(y, name, n)
    names = None if class_names is None else [str(c) for c in class_names]
    if names is not None and len(set(names)) != len(names):
        raise InvalidInputError(f"class_names has duplicates: {names}.")
    if arr.dtype.kind in "USO":
        labels = arr.astype(str)
        found = [str(v) for v in np.unique(labels)]
        if names is None:
            names = found
        missing = [lab for lab in found if lab not in names]
        if missing:
            raise InvalidInputError(
                f"{name} holds the label(s) {missing}, which class_names={names} does not "
                f"name. Pass class_names that contain every label (found: {found}), in the "
                "model's output order, or class_names=None to use them sorted.")
        index = {c: i for i, c in enumerate(names)}
        return np.array([index[lab] for lab in labels], dtype=np.int64), tuple(names)
    if not _integral(arr):
        raise InvalidInputError(
            f"{name} must hold integer labels, event codes or class-name strings; got dtype "
            f"{arr.dtype} with non-integer values.")
    arr = arr.astype(np.int64)
    codes = np.unique(arr)
    if names is not None and (len(arr) == 0 or (codes.min() >= 0 and codes.max() < len(names))):
        return arr, tuple(names)
    if names is None and len(codes) and codes.min() == 0 and codes.max() == len(codes) - 1:
        return arr, tuple(str(c) for c in codes)
    if names is not None and len(names) != len(codes):
        raise InvalidInputError(
            f"{name} holds {len(codes)} distinct label(s) {codes.tolist()}, which are not "
            f"indices 0..{len(names) - 1} of class_names={names}. Pass labels as indices or "
            f"names, or class_names with one name per distinct label in sorted order "
            f"({len(codes)} names for {codes.tolist()}), or class_names=None.")
    encoded = np.searchsorted(codes, arr)
    return encoded, tuple(names) if names is not None else tuple(str(c) for c in codes)


def resolve_targets(target, n_trials, n_outputs, class_names=None, labels=None):
    """Output indices to explain, ``(n_trials,)`` int64, or ``None`` for "predicted".

    ``target`` is ``None`` (the caller explains each trial's predicted class), ``"labels"``
    (each trial's true class), an output index or class name for every trial, or one index
    or name per trial.
    """
    if target is None:
        return None
    if isinstance(target, str) and target in ("labels", "y"):
        if labels is None:
            raise TargetError("target='labels' needs labelled trials (y=..., or Epochs/Trials "
                              "that carry labels).")
        target = labels
    arr = target.detach().cpu().numpy() if hasattr(target, "detach") else np.asarray(target)
    if arr.ndim == 0:
        arr = np.full(n_trials, arr.item() if arr.dtype.kind not in "USO" else str(arr))
    if arr.shape != (n_trials,):
        raise ShapeError(f"target has shape {arr.shape}; pass one class (index or name) or one "
                         f"per trial, shape ({n_trials},).")
    if arr.dtype.kind in "USO":
        if class_names is None:
            raise TargetError("target holds class names but the class names are unknown: pass "
                              "class_names= (the model's output order) or integer targets.")
        index = {str(c): i for i, c in enumerate(class_names)}
        bad = sorted({str(t) for t in arr if str(t) not in index})
        if bad:
            raise TargetError(f"target names {bad} are not class names; valid: {list(index)}.")
        arr = np.array([index[str(t)] for t in arr], dtype=np.int64)
    elif not _integral(arr):
        raise TargetError(f"target must hold integer class indices, got dtype {arr.dtype}.")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= n_outputs)
    if bad.any():
        names = f" ({', '.join(map(str, class_names))})" if class_names is not None else ""
        raise TargetError(
            f"target {int(arr[bad][0])} is outside the model's outputs: valid class indices "
            f"are 0..{n_outputs - 1}{names}.")
    return arr
