"""Ground truth of simulated data and the frequency bands derived from it.

The band rule (:func:`ground_truth_bands`): the maximal runs of consecutive frequency bins
where a channel x frequency mask holds (for any class and channel) are the signal bands,
the stretches of the passband between them the gap bands; every band is half-open
``[lo, hi)`` with edges halfway between bins, so that it holds exactly its run's bins.
:func:`band_masks_from_freq_mask` marks a (class, channel, band) entry as ground truth when
at least half of the band's bins are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._core.selection import band_masks
from .._utils import InvalidInputError

__all__ = ["GroundTruth", "band_masks_from_freq_mask", "ground_truth_bands"]


@dataclass
class GroundTruth:
    """Where the class information truly lies in a simulated dataset.

    Attributes
    ----------
    chan_time : ndarray of bool, shape (n_classes, n_chans, n_times)
    chan_freq : ndarray of bool, shape (n_classes, n_chans, n_freqs)
    chan : ndarray of bool, shape (n_classes, n_chans)
        Channels whose absolute lead field from the class source(s) is at least ``chan_threshold``
        of its maximum.
    topographies : ndarray, shape (n_classes, n_chans)
        Normalised absolute lead field of the class's source(s): continuous spatial ground truth.
    times, freqs : ndarray
        Axis coordinates (times relative to the cue, rfft frequencies).
    class_names : tuple of str
    regime : str
    info : mne.Info | None
    passband : tuple of float | None
        Band (Hz) inside which the simulated brain activity lies; the default range of
        :meth:`bands`.
    """

    chan_time: np.ndarray
    chan_freq: np.ndarray
    chan: np.ndarray
    topographies: np.ndarray
    times: np.ndarray
    freqs: np.ndarray
    class_names: tuple
    regime: str
    info: object = None
    passband: tuple | None = None

    def bands(self, fmin=None, fmax=None):
        """Frequency bands read off ``chan_freq`` (see :func:`ground_truth_bands`).

        ``fmin``/``fmax`` default to :attr:`passband`.
        """
        lo, hi = self.passband if self.passband is not None else (None, None)
        return ground_truth_bands(self.chan_freq, self.freqs,
                                  fmin=lo if fmin is None else fmin,
                                  fmax=hi if fmax is None else fmax)

    def band_masks(self, bands, min_fraction=0.5):
        """``chan_freq`` reduced to ``(n_classes, n_chans, n_bands)`` (see
        :func:`band_masks_from_freq_mask`)."""
        return band_masks_from_freq_mask(self.chan_freq, self.freqs, bands, min_fraction)


def _check_freq_mask(freq_mask, freqs):
    freq_mask = np.asarray(freq_mask)
    freqs = np.asarray(freqs, dtype=float)
    if freq_mask.ndim < 1 or freqs.ndim != 1 or freq_mask.shape[-1] != len(freqs):
        raise InvalidInputError(
            f"freq_mask must have the frequencies on its last axis, len(freqs) = {len(freqs)}; "
            f"got freq_mask of shape {freq_mask.shape} and freqs of shape {freqs.shape}.")
    if len(freqs) < 2 or not np.all(np.diff(freqs) > 0) or not np.all(np.isfinite(freqs)):
        raise InvalidInputError(
            "freqs must hold at least 2 finite, strictly increasing frequencies in Hz.")
    if freq_mask.dtype != bool:
        if not np.isin(freq_mask, (0, 1)).all():
            raise InvalidInputError("freq_mask must be boolean (True where the signal is).")
        freq_mask = freq_mask.astype(bool)
    return freq_mask, freqs


def _band_name(lo, hi):
    return f"{lo:.1f}-{hi:.1f} Hz"


def ground_truth_bands(freq_mask, freqs, *, fmin=None, fmax=None):
    """Frequency bands derived from a ground-truth channel x frequency mask.

    The rule: a frequency bin is *in the ground truth* when ``freq_mask`` holds there for
    at least one class and channel (any leading axis). Every maximal run of consecutive
    such bins, ``freqs[i] .. freqs[j]``, is one **signal band**; the stretches of
    ``[fmin, fmax]`` between (and around) the runs that hold at least one bin are the **gap
    bands**, so that a band ablation also removes frequencies where nothing happens. Every
    band is half-open, ``lo <= f < hi`` (as ``band_ablation`` cuts them), with its edges
    halfway between bins: it holds exactly the bins of its run, whatever their spacing, so a
    2 Hz-wide rhythm still gets its own band.

    Parameters
    ----------
    freq_mask : array of bool, shape (..., n_freqs)
        E.g. :attr:`GroundTruth.chan_freq`, ``(n_classes, n_chans, n_freqs)``.
    freqs : array, shape (n_freqs,)
        The frequencies (Hz) of the last axis, equally or unequally spaced, increasing.
    fmin, fmax : float | None
        Range (Hz) the gap bands cover; default the first and last frequency. Signal bands
        are kept whole even where they reach outside it.

    Returns
    -------
    bands : dict of str -> (float, float)
        ``{"8.9-13.0 Hz": (lo, hi), ...}`` in increasing frequency, named by their edges
        rounded to 0.1 Hz (the values are exact).

    Raises
    ------
    InvalidInputError
        If the shapes disagree, the mask is empty (no band to derive) or ``fmin >= fmax``.
    """
    freq_mask, freqs = _check_freq_mask(freq_mask, freqs)
    fmin = float(freqs[0]) if fmin is None else float(fmin)
    fmax = float(freqs[-1]) if fmax is None else float(fmax)
    if not (np.isfinite(fmin) and np.isfinite(fmax) and fmin < fmax):
        raise InvalidInputError(f"fmin ({fmin}) must be below fmax ({fmax}), both in Hz.")
    hit = freq_mask.reshape(-1, len(freqs)).any(axis=0)
    if not hit.any():
        raise InvalidInputError(
            "freq_mask holds at no frequency: there is no ground-truth band to derive.")
    # edges halfway between neighbouring bins (and half a step beyond the outer ones)
    mid = (freqs[1:] + freqs[:-1]) / 2
    lower = np.concatenate([[max(freqs[0] - (freqs[1] - freqs[0]) / 2, 0.0)], mid])
    upper = np.concatenate([mid, [freqs[-1] + (freqs[-1] - freqs[-2]) / 2]])
    # runs of equal `hit` values: [start, stop) bin indices
    change = np.flatnonzero(np.diff(hit.astype(np.int8))) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [len(freqs)]])
    inside = (freqs >= fmin) & (freqs <= fmax)
    out = []
    for a, b in zip(starts, stops):
        if hit[a]:
            out.append((lower[a], upper[b - 1]))
            continue
        sel = np.flatnonzero(inside[a:b]) + a  # a gap, cut to [fmin, fmax]
        if len(sel):
            out.append((lower[sel[0]], upper[sel[-1]]))
    return {_band_name(lo, hi): (float(lo), float(hi)) for lo, hi in out}


def band_masks_from_freq_mask(freq_mask, freqs, bands, min_fraction=0.5):
    """Reduce a channel x frequency mask to channel x band.

    A (class, channel, band) entry is ground truth when at least ``min_fraction`` of the
    band's frequency bins (``fmin <= f <= fmax``, as ``band_ablation`` cuts them) are. With
    the bands of :func:`ground_truth_bands` every signal band is entirely inside a class's
    mask or (for a class whose rhythm lies elsewhere) mostly outside it.

    Parameters
    ----------
    freq_mask : ndarray of bool, shape (..., n_freqs)
    freqs : ndarray, shape (n_freqs,)
    bands : dict of str -> (float, float)
    min_fraction : float
        In (0, 1].

    Returns
    -------
    band_mask : ndarray of bool, shape (..., n_bands)
    """
    freq_mask, freqs = _check_freq_mask(freq_mask, freqs)
    if not (np.isfinite(min_fraction) and 0 < min_fraction <= 1):
        raise InvalidInputError(f"min_fraction must lie in (0, 1], got {min_fraction!r}.")
    return np.stack([freq_mask[..., sel].mean(axis=-1) >= min_fraction
                     for sel in band_masks(freqs, bands).values()], axis=-1)
