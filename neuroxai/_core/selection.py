"""Channel groups and frequency bands, resolved to channel indices and frequency masks."""
from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np

from .._utils import InvalidInputError, unknown_name


def resolve_channel_groups(groups, ch_names, n_chans, *, disjoint=True):
    """Channel groups as index lists: ``(indices, labels)``.

    Parameters
    ----------
    groups : dict of str -> channels | list of channels | None
        A group is one channel or a list of channels, each a name (needs ``ch_names``) or
        an index (negative indices count from the end, as in Python). A dict names its
        groups (``labels`` are its keys; ``None`` for a list). ``None``: one group per
        channel.
    ch_names : list of str | None
    n_chans : int
    disjoint : bool
        Raise when a channel is in several groups (a partition is needed, e.g. to give each
        channel one feature id).

    Returns
    -------
    indices : list of list of int
    labels : list | None
    """
    if groups is None:
        return [[c] for c in range(n_chans)], None
    labels, groups = (list(groups), list(groups.values())) if isinstance(groups, dict) \
        else (None, list(groups))
    names = None if ch_names is None else list(ch_names)
    out, seen = [], set()
    for i, group in enumerate(groups):
        label = f"Channel group {labels[i]!r}" if labels is not None else "A channel group"
        members = [group] if isinstance(group, (str, numbers.Integral)) else list(group)
        idx = []
        for ch in members:
            if isinstance(ch, str):
                if names is None:
                    raise InvalidInputError(
                        f"{label} names the channel {ch!r}, but the channel names are unknown "
                        "(no info=); pass info= or use channel indices.")
                if ch not in names:
                    raise unknown_name("channel", ch, names)
                idx.append(names.index(ch))
            elif isinstance(ch, numbers.Integral) and not isinstance(ch, bool) \
                    and -n_chans <= ch < n_chans:
                idx.append(int(ch) % n_chans)
            else:
                raise InvalidInputError(f"{label}: {ch!r} is neither a channel name nor a "
                                        f"channel index in 0..{n_chans - 1}.")
        if not idx:
            raise InvalidInputError(f"{label} is empty; give it at least one channel.")
        if disjoint and seen & set(idx):
            raise InvalidInputError(f"Channel(s) {sorted(seen & set(idx))} are in several "
                                    "groups; the groups must not overlap.")
        seen |= set(idx)
        out.append(idx)
    return out, labels


def check_bands(bands, arg="bands"):
    """``{name: (fmin, fmax)}`` in Hz, checked: a non-empty mapping of finite pairs with
    ``0 <= fmin < fmax``; returned with ``str`` names and ``float`` edges."""
    if not isinstance(bands, Mapping) or not bands:
        raise InvalidInputError(
            f"{arg} must be a non-empty dict {{name: (fmin, fmax)}} in Hz, e.g. "
            f"{{'mu': (8, 13), 'beta': (14, 30)}}, got {bands!r}.")
    out = {}
    for name, band in bands.items():
        try:
            fmin, fmax = (float(edge) for edge in band)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"{arg}[{name!r}] must be (fmin, fmax) in Hz, got {band!r}.") from None
        if not (np.isfinite(fmin) and np.isfinite(fmax) and 0 <= fmin < fmax):
            raise InvalidInputError(
                f"{arg}[{name!r}] = ({fmin:g}, {fmax:g}) Hz: need finite 0 <= fmin < fmax.")
        out[str(name)] = (fmin, fmax)
    return out


def band_masks(freqs, bands, arg="bands"):
    """``{name: boolean mask over freqs}`` of the bins in each band, both edges included.

    ``bands`` maps names to ``(fmin, fmax)`` in Hz (:func:`check_bands`), the closed
    interval ``[fmin, fmax]`` as MNE's ``fmin``/``fmax`` arguments; a band must hold at
    least one bin. Every band of the package goes through here: one edge convention.
    """
    freqs = np.asarray(freqs, dtype=float)
    masks = {}
    for name, (fmin, fmax) in check_bands(bands, arg).items():
        masks[name] = (freqs >= fmin) & (freqs <= fmax)
        if not masks[name].any():
            step = f" in steps of {freqs[1] - freqs[0]:.3g} Hz" if freqs.size > 1 else ""
            raise InvalidInputError(
                f"{arg}[{name!r}] = ({fmin:g}, {fmax:g}) Hz holds no frequency bin: it needs "
                f"at least one frequency bin in [fmin, fmax] (bins span {freqs.min():g}-"
                f"{freqs.max():g} Hz{step}). Widen the band.")
    return masks
