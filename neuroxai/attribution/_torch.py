"""Small torch helpers shared by attribution methods."""
from __future__ import annotations

import numpy as np

from .._utils import ShapeError, TargetError, check_trials_array


def model_device_dtype(model):
    import torch

    p = next(model.parameters(), None)
    if p is None:
        return torch.device("cpu"), torch.float32
    return p.device, p.dtype


def as_trials(X, n_chans=None):
    """Validate trials (array or tensor) and return a float32 numpy array."""
    return check_trials_array(X, "X", n_chans=n_chans)


def check_targets(target, n_trials, n_outputs):
    """Broadcast ``target`` to ``(n_trials,)`` ints and check its range."""
    t = np.asarray(target.detach().cpu() if hasattr(target, "detach") else target)
    if t.ndim == 0:
        t = np.full(n_trials, int(t))
    if t.shape != (n_trials,):
        raise ShapeError(f"target must be an int or have shape ({n_trials},), got {t.shape}.")
    if not np.issubdtype(t.dtype, np.integer):
        if not np.all(np.mod(t, 1) == 0):
            raise TargetError("target must hold integer class indices.")
        t = t.astype(np.int64)
    if t.min() < 0 or t.max() >= n_outputs:
        raise TargetError(
            f"target values must lie in 0..{n_outputs - 1} (the model has {n_outputs} outputs); "
            f"got min {t.min()}, max {t.max()}."
        )
    return t.astype(np.int64)


class eval_mode:
    """Context manager: model in eval mode inside, previous mode restored after."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was = self.model.training
        self.model.eval()
        return self.model

    def __exit__(self, *exc):
        self.model.train(self.was)
        return False
