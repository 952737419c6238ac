"""Keeping the audit's resident memory near its live data (CPython and glibc specifics).

Each step frees what it built, but matplotlib figures and autograd graphs are reference
cycles (freed only by the cyclic collector), and glibc keeps freed heap pages mapped: without
this, the resident size ratchets up step after step although the live data do not. This is
the report layer's business (a long, multi-step job); library functions never do it.
"""
from __future__ import annotations

import contextlib
import gc
import platform


def peak_rss_mib():
    """Peak resident memory of this process so far (Linux: KiB; macOS: bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 ** 2 if platform.system() == "Darwin" else 1024.0)


@contextlib.contextmanager
def frozen_gc():
    """Objects that exist now are left out of the cyclic collector until the end: the
    collections between steps then look only at what the audit allocates, not at the ~10^6
    objects of torch, mne and braindecode (0.3 s a collection otherwise)."""
    gc.freeze()
    try:
        yield gc.freeze  # call again once the heavy modules are imported
    finally:
        gc.unfreeze()


def release_free_memory():
    """Collect reference cycles and hand the allocator's free pages back to the OS (glibc)."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to hand back this way
        pass
