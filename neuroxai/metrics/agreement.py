"""How much attribution methods agree, channel by channel (the tutorial's agreement map)."""
from __future__ import annotations

import numpy as np

from .._core.stats import rowwise_pearson
from .._utils import InvalidInputError, NonFiniteError, ShapeError, unknown_name

AGREEMENTS = ("map", "trial")


def channel_relevance(values, name="attribution", keep_trials=False):
    """Mean ``|values|`` over every axis but ``"chan"`` (and ``"trial"`` when ``keep_trials``).

    ``values`` is an :class:`~neuroxai.attribution.Attribution` with a ``"chan"`` axis or an
    array ``(n_trials, n_chans, n_times | n_freqs)``. Returns ``(data, info)``: data of shape
    ``(n_chans,)``, or ``(n_trials, n_chans)`` with ``keep_trials``.
    """
    if hasattr(values, "dims"):
        dims, info = tuple(values.dims), values.info
        data = np.asarray(values.data, dtype=float)
        if "chan" not in dims:
            raise ShapeError(f"Attribution {name!r} has no 'chan' axis (axes {dims}).")
        if keep_trials and "trial" not in dims:
            raise ShapeError(f"Attribution {name!r} has no 'trial' axis (axes {dims}); use a "
                             "per-trial attribution or agreement='map'.")
    else:
        if hasattr(values, "detach"):
            values = values.detach().cpu().numpy()
        try:
            data = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{name!r} must be an Attribution or a numeric array, got "
                                    f"{type(values).__name__}.") from None
        if data.ndim != 3:
            raise ShapeError(f"{name!r}: an array must have shape (n_trials, n_chans, n_times) "
                             f"(or n_freqs), got {data.shape}. Wrap other layouts in an "
                             "Attribution with named dims.")
        dims, info = ("trial", "chan", "time"), None
    if not np.all(np.isfinite(data)):
        raise NonFiniteError(f"{name!r} contains NaN/Inf values.")
    keep = ["trial", "chan"] if keep_trials else ["chan"]
    order = [dims.index(d) for d in keep] + [i for i, d in enumerate(dims) if d not in keep]
    data = np.abs(np.transpose(data, order))
    return data.reshape(data.shape[:len(keep)] + (-1,)).mean(axis=-1), info


def compute_method_agreement(attributions, *, agreement="map"):
    """Where the methods put relevance on average, and how much they agree.

    Parameters
    ----------
    attributions : dict of str -> Attribution | ndarray
        Per method, an :class:`~neuroxai.attribution.Attribution` with a ``"chan"`` axis (or
        an array ``(n_trials, n_chans, n_times)``).
    agreement : "map" | "trial"
        ``"map"``: Pearson r between the methods' per-channel mean ``|attribution|`` maps.
        ``"trial"``: Pearson r between per-trial channel maps (mean ``|attribution|`` over
        time), averaged over the trials where it is defined (a constant map has none);
        needs the same trials in every method. Map-level r is higher, as averaging removes
        trial noise; per-trial r says how far the methods agree on one trial.

    Returns
    -------
    share : Attribution
        Axes ``("chan",)``: each method's channel map scaled to sum to 1 (no method dominates
        by its scale), averaged over methods, in percent of the total.
    corr : pandas.DataFrame
        Methods x methods Pearson r (NaN where undefined).
    """
    import pandas as pd

    from ..attribution import Attribution

    if not isinstance(attributions, dict) or not attributions:
        raise InvalidInputError("attributions must be a non-empty dict {method: attribution}, "
                                f"got {type(attributions).__name__}.")
    if agreement not in AGREEMENTS:
        raise unknown_name("agreement", agreement, AGREEMENTS)
    names = [str(n) for n in attributions]
    info, maps, trial_maps = None, [], []
    for name, values in attributions.items():
        m, m_info = channel_relevance(values, name, keep_trials=agreement == "trial")
        info = info if info is not None else m_info
        trial_maps.append(m)
        maps.append(m.mean(axis=0) if agreement == "trial" else m)
    if len({len(m) for m in maps}) > 1:
        raise ShapeError(f"The methods have different numbers of channels: "
                         f"{dict(zip(names, (len(m) for m in maps)))}.")
    if agreement == "trial" and len({len(m) for m in trial_maps}) > 1:
        raise ShapeError("agreement='trial' needs the same trials in every method, got "
                         f"{dict(zip(names, (len(m) for m in trial_maps)))} trials.")
    maps = np.stack(maps)
    totals = maps.sum(axis=1, keepdims=True)
    if np.any(totals == 0):
        raise InvalidInputError(f"Methods {[n for n, t in zip(names, totals[:, 0]) if t == 0]} "
                                "are zero everywhere; nothing to compare.")
    share = 100.0 * (maps / totals).mean(axis=0)
    n = len(names)
    corr = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            if agreement == "map":
                r = rowwise_pearson(maps[i][None], maps[j][None])[0]
            else:
                rs = rowwise_pearson(trial_maps[i], trial_maps[j])
                r = np.nanmean(rs) if np.isfinite(rs).any() else np.nan
            corr[i, j] = corr[j, i] = r
    share_attr = Attribution(share, ("chan",), info, "method_agreement",
                             dict(agreement=agreement, methods=names), {})
    return share_attr, pd.DataFrame(corr, index=names, columns=names)
