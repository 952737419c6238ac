"""Band x class topographic maps."""
from __future__ import annotations

import numpy as np

from .._core.model import check_finite_array
from .._utils import InvalidInputError, MontageError, ShapeError

#: The bands of braindecode's BCI IV 2a tutorial figures.
DEFAULT_BANDS = {"alpha/mu (7-13 Hz)": (7.0, 13.0), "beta (14-30 Hz)": (14.0, 30.0)}
LANDMARKS = ("C3", "Cz", "C4")
#: Diverging, colour-blind-safe map for signed values.
DIVERGING_CMAP = "RdBu_r"


def _split_exponent(vmax):
    """Exponent to fold into the colour-bar label so ticks read as plain numbers."""
    if not np.isfinite(vmax) or vmax == 0:
        return 0
    exp = int(np.floor(np.log10(abs(vmax))))
    return 0 if -1 <= exp <= 2 else exp


def plot_band_topomaps(values, info=None, bands=None, class_names=None, freqs=None,
                       landmarks=LANDMARKS, percentile=98, cmap=DIVERGING_CMAP,
                       title=None, unit="", axes=None, show=True):
    """One topomap per frequency band (rows) and class (columns).

    Parameters
    ----------
    values : Attribution | ndarray, shape (n_classes, n_chans, n_freqs)
        E.g. class-mean amplitude gradients or Haufe patterns. An
        :class:`~neuroxai.attribution.Attribution` carries ``info``, ``freqs`` and class names.
    info : mne.Info | None
        Channel positions (montage required).
    bands : dict of str -> (fmin, fmax) | None
        Rows; default mu/alpha 7-13 Hz and beta 14-30 Hz.
    class_names : sequence of str | None
        Column titles.
    freqs : array | None
        Frequency of each bin (Hz).
    landmarks : sequence of str | None
        Channels whose names are written on the maps (e.g. C3, Cz, C4).
    percentile : float
        Colour limits of each row are +/- this percentile of the row's absolute values.
    cmap : str
    title : str | None
    unit : str
        Quantity/unit for the colour-bar label.
    axes : array of matplotlib Axes, shape (n_bands, n_classes) | None
    show : bool

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    import mne

    from ..attribution.spectral import band_average
    from ..data._common import check_info_positions

    attr = values if hasattr(values, "dims") else None
    if attr is not None:
        if attr.dims != ("class", "chan", "freq"):
            if attr.dims == ("class", "trial", "chan", "freq"):
                raise ShapeError("Average over trials first (values.data.mean(axis=1)), or pass "
                                 "Haufe patterns: plot_band_topomaps needs (class, chan, freq).")
            raise ShapeError(f"plot_band_topomaps needs axes (class, chan, freq), got {attr.dims}.")
        info = info if info is not None else attr.info
        freqs = freqs if freqs is not None else attr.coords.get("freq")
        class_names = class_names if class_names is not None else attr.coords.get("class")
    data = np.asarray(values, dtype=float)
    if data.ndim != 3:
        raise ShapeError(f"values must be (n_classes, n_chans, n_freqs), got shape {data.shape}.")
    if info is None:
        raise InvalidInputError("plot_band_topomaps needs an mne.Info with a montage (info=).")
    check_info_positions(info)
    n_classes, n_chans, n_freqs = data.shape
    if n_chans != len(info["ch_names"]):
        raise ShapeError(f"values have {n_chans} channels, info has {len(info['ch_names'])}.")
    if freqs is None:
        freqs = np.fft.rfftfreq(2 * (n_freqs - 1), 1 / info["sfreq"])
    if len(freqs) != n_freqs:
        raise ShapeError(f"{len(freqs)} frequencies for {n_freqs} frequency bins.")
    # a NaN map would be drawn as a blank or one-colour scalp, with nothing said
    check_finite_array(data, "values to plot")
    bands = dict(DEFAULT_BANDS if bands is None else bands)
    if not bands:
        raise InvalidInputError("bands must name at least one band, e.g. {'mu': (8, 13)}.")
    class_names = (list(class_names) if class_names is not None
                   else [str(i) for i in range(n_classes)])
    if len(class_names) != n_classes:
        raise ShapeError(f"{len(class_names)} class names for {n_classes} classes.")
    banded = band_average(data, freqs, bands)  # (class, chan, band)
    n_bands = len(bands)

    if axes is None:
        fig, axes = plt.subplots(n_bands, n_classes, figsize=(2.3 * n_classes + 1.2, 2.4 * n_bands),
                                 squeeze=False, layout="constrained")
    else:
        axes = np.asarray(axes).reshape(n_bands, n_classes)
        fig = axes.flat[0].figure
    names = None
    if landmarks:
        missing = [ch for ch in landmarks if ch not in info["ch_names"]]
        if missing:
            raise MontageError(f"Landmark channels {missing} are not in the data; pass "
                               "landmarks=None or channels that exist.")
        names = [ch if ch in landmarks else "" for ch in info["ch_names"]]
    for b, band_name in enumerate(bands):
        row = banded[:, :, b]
        vmax = float(np.percentile(np.abs(row), percentile)) or float(np.abs(row).max()) or 1.0
        exp = _split_exponent(vmax)
        scale = 10.0 ** -exp
        im = None
        for c in range(n_classes):
            ax = axes[b, c]
            im, _ = mne.viz.plot_topomap(
                row[c] * scale, info, axes=ax, show=False, cmap=cmap,
                vlim=(-vmax * scale, vmax * scale), names=names, contours=4,
                sensors=True,
            )
            if b == 0:
                ax.set_title(class_names[c], fontsize=11)
        axes[b, 0].text(-0.18, 0.5, band_name, transform=axes[b, 0].transAxes, rotation=90,
                        va="center", ha="center", fontsize=10)
        label = unit + (f" (×1e{exp})" if exp else "")
        cb = fig.colorbar(im, ax=list(axes[b]), shrink=0.8, pad=0.02)
        cb.set_label(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=12)
    if show:
        plt.show()
    return fig
