import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from neuroxai import MontageError, ShapeError
from neuroxai.attribution import Attribution
from neuroxai.data import make_info
from neuroxai.viz import plot_band_topomaps


def _values(scale=1e-4):
    info = make_info()
    freqs = np.fft.rfftfreq(1125, 1 / 250)
    rng = np.random.default_rng(0)
    data = rng.standard_normal((4, 22, len(freqs))) * scale
    return Attribution(data, ("class", "chan", "freq"), info, "test",
                       coords={"freq": freqs,
                               "class": ["feet", "left_hand", "right_hand", "tongue"]})


def test_band_by_class_grid_with_folded_exponent():
    fig = plot_band_topomaps(_values(), landmarks=("C3", "Cz", "C4"), unit="grad", show=False)
    assert isinstance(fig, Figure)
    topo_axes = [ax for ax in fig.axes if ax.get_title() or ax.images]
    assert len([ax for ax in fig.axes if ax.images]) == 8  # 2 bands x 4 classes
    assert [ax.get_title() for ax in topo_axes[:4]] == ["feet", "left_hand", "right_hand", "tongue"]
    cbar_labels = [ax.get_ylabel() for ax in fig.axes if not ax.images and ax.get_ylabel()]
    assert len(cbar_labels) == 2 and all("×1e-" in lab for lab in cbar_labels)
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"C3", "Cz", "C4"} <= texts and "Fz" not in texts


def test_rows_have_their_own_percentile_limits():
    vals = _values(1.0)
    freqs = vals.coords["freq"]
    vals.data[:, :, freqs > 13.5] *= 100  # beta row 100x larger than the mu row
    fig = plot_band_topomaps(vals, bands={"mu": (8, 13), "beta": (14, 30)}, landmarks=None,
                             show=False)
    ims = [ax.images[0] for ax in fig.axes if ax.images]
    mu_lim, beta_lim = ims[0].get_clim()[1], ims[4].get_clim()[1]
    expected_mu = np.percentile(np.abs(vals.data[:, :, (freqs >= 8) & (freqs <= 13)].mean(-1)), 98)
    assert mu_lim == pytest.approx(expected_mu, rel=1e-6)
    expected_beta = np.percentile(
        np.abs(vals.data[:, :, (freqs >= 14) & (freqs <= 30)].mean(-1)), 98)
    # each row on its own scale (both exponents lie in [-1, 2], so nothing is folded here)
    assert beta_lim == pytest.approx(expected_beta, rel=1e-6)
    assert beta_lim > 10 * mu_lim


def test_uses_given_axes_and_validates():
    vals = _values()
    fig, axes = plt.subplots(1, 4)
    out = plot_band_topomaps(vals, bands={"mu": (8, 13)}, axes=axes, landmarks=None, show=False)
    assert out is fig
    with pytest.raises(ShapeError):
        plot_band_topomaps(vals.data[0], info=vals.info, show=False)
    with pytest.raises(ValueError, match="at least one frequency bin"):
        plot_band_topomaps(vals, bands={"x": (200, 300)}, show=False)
    import mne

    bare = mne.create_info(vals.info.ch_names, 250.0, "eeg")
    with pytest.raises(MontageError, match="set_montage"):
        plot_band_topomaps(vals.data, info=bare, freqs=vals.coords["freq"], show=False)
