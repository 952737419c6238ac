"""Channel groups and frequency bands of the private core (shared by attribute and IGC)."""
import numpy as np
import pytest

from neuroxai._core.selection import band_masks, resolve_channel_groups
from neuroxai._utils import InvalidInputError, UnknownNameError

NAMES = ["C3", "Cz", "C4", "Pz"]


def test_channel_groups_by_name_and_index():
    groups, labels = resolve_channel_groups({"l": ["C3", 1], "r": "C4", "back": -1}, NAMES, 4)
    assert groups == [[0, 1], [2], [3]] and labels == ["l", "r", "back"]
    assert resolve_channel_groups([[0, 2], 3], None, 4) == ([[0, 2], [3]], None)
    assert resolve_channel_groups(None, NAMES, 4) == ([[0], [1], [2], [3]], None)
    # overlapping groups only where the caller allows them
    assert resolve_channel_groups({"a": [0, 1], "b": [1]}, NAMES, 4, disjoint=False)[0] == \
        [[0, 1], [1]]
    with pytest.raises(InvalidInputError, match="several groups"):
        resolve_channel_groups({"a": [0, 1], "b": [1]}, NAMES, 4)


def test_channel_groups_bad_input():
    with pytest.raises(UnknownNameError, match="Valid channels"):
        resolve_channel_groups({"a": ["Oz"]}, NAMES, 4)
    with pytest.raises(InvalidInputError, match="names are unknown"):
        resolve_channel_groups({"a": ["C3"]}, None, 4)
    with pytest.raises(InvalidInputError, match=r"0\.\.3"):
        resolve_channel_groups([[4]], NAMES, 4)
    with pytest.raises(InvalidInputError, match="empty"):
        resolve_channel_groups({"a": []}, NAMES, 4)
    with pytest.raises(InvalidInputError, match="neither"):
        resolve_channel_groups([[True]], NAMES, 4)


def test_band_masks_include_both_edges():
    freqs = np.arange(0, 20.5, 0.5)
    masks = band_masks(freqs, {"mu": (8, 12), "beta": (12, 20)})
    np.testing.assert_array_equal(freqs[masks["mu"]], np.arange(8, 12.5, 0.5))
    assert freqs[masks["beta"]][0] == 12.0  # a shared edge is in both bands
    with pytest.raises(InvalidInputError, match="fmin < fmax"):
        band_masks(freqs, {"x": (10, 8)})
    with pytest.raises(InvalidInputError, match="frequency bin"):
        band_masks(freqs, {"x": (8.1, 8.4)})
    with pytest.raises(InvalidInputError, match=r"\(fmin, fmax\)"):
        band_masks(freqs, {"x": 8})
