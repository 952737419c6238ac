"""Seeded randomness that leaves the caller's global random state untouched."""
from __future__ import annotations

import contextlib
import numbers

import numpy as np

from .._utils import InvalidInputError


def check_random_state(seed, name="seed"):
    """An ``int`` (>= 0), ``None`` or a :class:`numpy.random.Generator` -> a Generator.

    As scikit-learn's ``check_random_state``, but for numpy's Generator API; a
    :class:`numpy.random.RandomState` is accepted too (its next draw seeds a Generator).
    """
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, np.random.RandomState):
        return np.random.default_rng(seed.randint(2**31))
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise InvalidInputError(
        f"{name} must be a non-negative int, None or a numpy Generator, got {seed!r}.")


def check_seed(seed, name="seed"):
    """A non-negative int seed (for the functions whose results are pinned by an int)."""
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        return int(seed)
    raise InvalidInputError(f"{name} must be a non-negative integer, got {seed!r}.")


@contextlib.contextmanager
def seeded(seed, device=None):
    """Seed torch's and numpy's global generators inside, restore the caller's states after.

    For libraries that draw from the global generators (captum's GradientShap and
    NoiseTunnel use ``torch.randn`` and ``np.random``): their draws become reproducible for
    ``seed`` while the caller's own random streams continue as if nothing had happened.
    """
    import torch

    devices = [device] if device is not None and torch.device(device).type == "cuda" else []
    np_state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            np.random.seed(seed % 2**32)
            yield
    finally:
        np.random.set_state(np_state)
