"""Haufe-pattern band x class topomaps."""
from __future__ import annotations

from .topomaps import DIVERGING_CMAP, LANDMARKS, plot_band_topomaps


# -------------------------------------------------------------------------- Haufe patterns
def plot_haufe_patterns(patterns, info=None, bands=None, class_names=None, freqs=None,
                        landmarks=LANDMARKS, percentile=98, title="Haufe patterns",
                        unit="pattern (a.u.)", axes=None, show=True):
    """Haufe patterns per frequency band (rows) and class (columns).

    A thin wrapper of :func:`~neuroxai.viz.plot_band_topomaps` with the title and unit of
    activation patterns (:func:`~neuroxai.attribution.compute_haufe_patterns`). Unlike the
    gradients they come from, patterns show where the class-discriminative *signal* is, not
    where the model suppresses noise (Haufe et al., 2014).

    Parameters
    ----------
    patterns : Attribution | ndarray, shape (n_classes, n_chans, n_freqs)
        Dims ``("class", "chan", "freq")``.
    info : mne.Info | None
        Channel positions; default ``patterns.info``.
    bands : dict of str -> (fmin, fmax) | None
        Rows (default: mu/alpha 7-13 Hz and beta 14-30 Hz).
    class_names : sequence of str | None
    freqs : array | None
    landmarks : sequence of str | None
        Channels named on the maps.
    percentile : float
        Colour limits of each row: +/- this percentile of the row's absolute values.
    title : str | None
    unit : str
        Colour-bar label.
    axes : array of Axes, shape (n_bands, n_classes) | None
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    return plot_band_topomaps(patterns, info=info, bands=bands, class_names=class_names,
                              freqs=freqs, landmarks=landmarks, percentile=percentile,
                              cmap=DIVERGING_CMAP, title=title, unit=unit, axes=axes, show=show)
