"""Argument checks shared by every public function (named errors, actionable messages)."""
from __future__ import annotations

import numbers

import numpy as np

from .._utils import InvalidInputError, unknown_name


def check_int(value, name, minimum=None, maximum=None):
    """An integer (not a bool) within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(f"{name} must be an integer, got {value!r} "
                                f"({type(value).__name__}).")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise InvalidInputError(f"{name} must be an integer in {_range(minimum, maximum)}, "
                                f"got {value}.")
    return value


def check_float(value, name, minimum=None, maximum=None, *, low_open=False, high_open=False):
    """A finite real number within the given bounds (closed unless ``*_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{name} must be a number, got {value!r} ({type(value).__name__}).")
    value = float(value)
    bad = not np.isfinite(value)
    if minimum is not None:
        bad |= value <= minimum if low_open else value < minimum
    if maximum is not None:
        bad |= value >= maximum if high_open else value > maximum
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        # (a format spec would apply to the 'inf' string as well: format the bounds first)
        low = "-inf" if minimum is None else f"{minimum:g}"
        high = "inf" if maximum is None else f"{maximum:g}"
        raise InvalidInputError(
            f"{name} must be a finite number in {lo}{low}, {high}{hi}, got {value!r}."
        )
    return value


def _range(minimum, maximum):
    if maximum is None:
        return f">= {minimum}" if minimum is not None else "any"
    if minimum is None:
        return f"<= {maximum}"
    return f"[{minimum}, {maximum}]"


def check_option(name, value, allowed):
    """``value`` is one of ``allowed`` (an :class:`UnknownNameError` lists them otherwise)."""
    if not isinstance(value, str) or value not in allowed:
        raise unknown_name(name, value, allowed)
    return value


def check_seconds(value, name, sfreq, *, minimum_samples=1, maximum_samples=None):
    """A duration in seconds -> a whole number of samples at ``sfreq`` (at least ``minimum``)."""
    seconds = check_float(value, name, 0.0, low_open=True)
    n = int(round(seconds * sfreq))
    if n < minimum_samples:
        raise InvalidInputError(
            f"{name}={seconds:g} s is {seconds * sfreq:.3g} samples at {sfreq:g} Hz; it must "
            f"span at least {minimum_samples} sample(s) ({minimum_samples / sfreq:.3g} s).")
    if maximum_samples is not None and n > maximum_samples:
        raise InvalidInputError(
            f"{name}={seconds:g} s ({n} samples at {sfreq:g} Hz) is longer than the trials "
            f"({maximum_samples} samples, {maximum_samples / sfreq:.3g} s).")
    return n
