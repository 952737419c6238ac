"""Private helpers shared by the figures: palette, input checks, topomap drawing."""
from __future__ import annotations

import numpy as np

from .._core.validation import check_mapping  # noqa: F401  (shared with metrics)
from .._utils import InvalidInputError, MontageError, ShapeError
from ..metrics.agreement import channel_relevance as reduce_to_channels  # noqa: F401

#: The 8 colours of Okabe & Ito (2008), colour-blind safe, in the order categorical
#: series use them (black last, yellow late: both read poorly as thin lines or next to text).
OKABE_ITO = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow
    "#000000",  # black
)
#: Same colours by name.
OKABE_ITO_NAMES = dict(zip(
    ("orange", "sky_blue", "bluish_green", "blue", "vermillion", "reddish_purple", "yellow",
     "black"), OKABE_ITO))
#: Sequential, colour-blind-safe map for unsigned values.
SEQUENTIAL_CMAP = "viridis"

#: Width (inches) of a figure shown at ~900 px in the report (dpi 100).
REPORT_WIDTH = 9.0


def categorical_colors(n):
    """``n`` Okabe-Ito colours (cycled when ``n > 8``)."""
    return [OKABE_ITO[i % len(OKABE_ITO)] for i in range(n)]


def check_info(info, n_chans, what):
    """``info`` must exist, have positions and ``n_chans`` channels."""
    from ..data._common import check_info_positions

    if info is None:
        raise InvalidInputError(f"{what} needs an mne.Info with a montage (info=), e.g. "
                                "neuroxai.data.make_info().")
    if not hasattr(info, "__getitem__") or "chs" not in info:
        raise InvalidInputError(f"info must be an mne.Info, got {type(info).__name__}.")
    check_info_positions(info)
    if n_chans != len(info["ch_names"]):
        raise ShapeError(f"{what}: the values have {n_chans} channels, info has "
                         f"{len(info['ch_names'])} ({', '.join(info['ch_names'][:4])}, ...).")


def landmark_names(info, landmarks):
    """``names=`` for :func:`mne.viz.plot_topomap`: landmark channels named, others blank."""
    if not landmarks:
        return None
    missing = [ch for ch in landmarks if ch not in info["ch_names"]]
    if missing:
        raise MontageError(f"Landmark channels {missing} are not in the data; pass "
                           "landmarks=None or channels that exist.")
    return [ch if ch in landmarks else "" for ch in info["ch_names"]]


def topomap(ax, values, info, vlim, cmap, names=None, mask=None):
    """One scalp map on ``ax`` (sensors as dots, ``names`` written, ``mask`` highlighted)."""
    import mne

    mask_params = dict(marker="o", markerfacecolor="white", markeredgecolor="black",
                       linewidth=0, markersize=6)
    im, _ = mne.viz.plot_topomap(
        np.asarray(values, dtype=float), info, axes=ax, show=False, cmap=cmap, vlim=vlim,
        names=names, contours=4, sensors=True, mask=mask,
        mask_params=mask_params if mask is not None else None,
    )
    return im


def check_axes(axes, n, what):
    """Flatten user ``axes`` and check that there are ``n`` of them."""
    flat = list(np.ravel(np.asarray(axes, dtype=object)))
    if len(flat) != n:
        raise InvalidInputError(f"{what} draws on {n} axes; got {len(flat)}. Pass axes=None to "
                                "make a new figure.")
    if not all(hasattr(ax, "figure") and hasattr(ax, "plot") for ax in flat):
        raise InvalidInputError(f"axes must be matplotlib Axes (got "
                                f"{sorted({type(a).__name__ for a in flat})}).")
    return flat


def unsigned_vlim(values, percentile):
    """``(0, vmax)`` with vmax the ``percentile`` of ``values`` (never 0)."""
    vals = np.abs(np.asarray(values, dtype=float))
    vmax = float(np.percentile(vals, percentile)) or float(vals.max()) or 1.0
    return 0.0, vmax


def signed_vlim(values, percentile):
    """Symmetric ``(-vmax, vmax)`` from the ``percentile`` of ``|values|``."""
    return tuple(np.array([-1.0, 1.0]) * unsigned_vlim(values, percentile)[1])


def text_color(cmap, norm_value):
    """Black or white, whichever reads better on ``cmap(norm_value)``."""
    import matplotlib

    r, g, b, _ = matplotlib.colormaps[cmap](float(np.clip(norm_value, 0, 1)))
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "white"


def annotated_heatmap(ax, colour_values, labels, cmap, vmin, vmax, fontsize=9):
    """``imshow`` of ``colour_values`` with ``labels`` (2-D list of str) written in the cells.

    NaN cells are drawn light grey.
    """
    import matplotlib

    cm = matplotlib.colormaps[cmap].with_extremes(bad="#dddddd")
    im = ax.imshow(np.ma.masked_invalid(colour_values), cmap=cm, vmin=vmin, vmax=vmax,
                   aspect="auto", interpolation="nearest")
    span = (vmax - vmin) or 1.0
    for i in range(colour_values.shape[0]):
        for j in range(colour_values.shape[1]):
            v = colour_values[i, j]
            color = "black" if not np.isfinite(v) else text_color(cmap, (v - vmin) / span)
            ax.text(j, i, labels[i][j], ha="center", va="center", color=color,
                    fontsize=fontsize)
    ax.set_xticks(np.arange(colour_values.shape[1]))
    ax.set_yticks(np.arange(colour_values.shape[0]))
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    return im


def _new_figure(nrows, ncols, figsize, **kwargs):
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout="constrained",
                        **kwargs)


def panel_grid(n_panels, n_cols, size, axes, what):
    """``(fig, axes)`` of ``n_panels`` panels: the given ``axes`` (checked), or a new grid of
    ``n_cols`` columns whose cells are ``size = (width, height)`` inches (plus margins) and
    whose unused cells are hidden."""
    if axes is not None:
        flat = check_axes(axes, n_panels, what)
        return flat[0].figure, flat
    n_rows = int(np.ceil(n_panels / n_cols))
    fig, ax_arr = _new_figure(n_rows, n_cols, (min(REPORT_WIDTH, size[0] * n_cols + 1.1),
                                                size[1] * n_rows + 0.5))
    flat = list(ax_arr.ravel())
    for ax in flat[n_panels:]:
        ax.set_axis_off()
    return fig, flat[:n_panels]


def _finish(fig, show):
    if show:
        import matplotlib.pyplot as plt

        plt.show()
    return fig
