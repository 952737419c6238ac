"""Deprecated parameters, kept working for one release with a FutureWarning."""
from __future__ import annotations

import warnings

import numpy as np


def deprecated_progress(progress):
    """``progress=`` is gone: bars follow ``verbose`` (MNE's convention)."""
    if progress is not None:
        warnings.warn("progress= is deprecated and will be removed in the next release: "
                      "progress bars follow verbose (shown at the default level 'INFO', "
                      "hidden with verbose=False), as in MNE.", FutureWarning, stacklevel=4)


def deprecated_times(times, tmin):
    """``times=`` is gone: the first time is ``tmin`` (the rate comes from ``info``)."""
    if times is None:
        return tmin
    warnings.warn("times= is deprecated and will be removed in the next release: pass tmin= "
                  "(or the Epochs / Trials themselves).", FutureWarning, stacklevel=4)
    times = np.asarray(times, dtype=float)
    return float(times[0]) if tmin is None and times.size else tmin


def warn_renamed(old, new, stacklevel=3):
    """A FutureWarning that ``old()`` is now ``new()`` (kept for one release)."""
    warnings.warn(f"{old}() is deprecated and will be removed in the next release; use {new}() "
                  "instead.", FutureWarning, stacklevel=stacklevel)


def deprecated_alias(func, old):
    """``old``: ``func`` under its former name, warning (FutureWarning) when called."""
    import functools

    @functools.wraps(func)
    def alias(*args, **kwargs):
        warn_renamed(old, func.__name__)
        return func(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old
    alias.__doc__ = (f"Deprecated alias of :func:`{func.__name__}`, removed in the next "
                     "release.")
    return alias
