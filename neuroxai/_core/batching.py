"""Batches and progress bars (MNE's ``ProgressBar``, shown at log level INFO or lower)."""
from __future__ import annotations


def batch_slices(n, batch_size):
    """Slices of at most ``batch_size`` items covering ``range(n)``."""
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def progress(iterable, desc, total=None):
    """``iterable`` wrapped in MNE's progress bar.

    As every MNE function, the bar follows the log level: shown for ``verbose=None`` /
    ``"INFO"`` (MNE's default), hidden for ``verbose=False`` / ``"WARNING"``, and
    ``MNE_TQDM=off`` turns it off everywhere. One-step loops get no bar.
    """
    from mne.utils import ProgressBar

    items = list(iterable) if total is None and not hasattr(iterable, "__len__") else iterable
    n = len(items) if total is None else total
    if n <= 1:
        return iter(items)
    return iter(ProgressBar(items, mesg=desc, max_value=n, leave=False))
