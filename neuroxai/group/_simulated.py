"""Simulated subjects for group analyses offline (the embedded simulator, one seed each)."""
from __future__ import annotations

import inspect

import numpy as np

from .._core.random import check_seed
from .._core.validation import check_float, check_int
from .._utils import InvalidInputError, logger, verbose

#: Names under which the simulator may take a per-subject head / source-position jitter.
_JITTER_PARAMS = ("source_jitter", "head_jitter", "jitter")


class SimulatedSubjects(dict):
    """``{subject: Trials}`` with each subject's simulation parameters in ``.params``."""

    params: dict

    def __repr__(self):
        return f"<SimulatedSubjects | {len(self)} subjects: {list(self)}>"


def jitter_parameter():
    """The simulator's head/source jitter parameter name, or None when it has none."""
    from ..data import simulate_bcic_iv_2a

    names = inspect.signature(simulate_bcic_iv_2a).parameters
    return next((p for p in _JITTER_PARAMS if p in names), None)


@verbose
def simulate_subjects(subjects=10, *, n_trials=48, snr=(0.5, 1.0), regime="spectral",
                      jitter=None, seed=0, verbose=None):
    """Simulated subjects of the embedded BCI IV 2a-like dataset, each its own person.

    Every subject gets its own simulator seed (its background sources, their positions and
    every random draw), its own SNR drawn uniformly from ``snr``, and, where the simulator
    takes one, its own head / source-position jitter. The class sources (left hand near
    C4, right hand near C3, feet at Cz, tongue lateral) are the same for everybody, as the
    motor cortex is.

    Parameters
    ----------
    subjects : int | list of int
        Number of subjects (numbered from 1) or their ids (ints >= 1).
    n_trials : int
        Trials per subject (one session; balanced over the 4 classes).
    snr : float | (float, float)
        SNR of every subject, or the range each subject's SNR is drawn from.
    regime : "spectral" | "temporal" | "spatial"
        Where the class information lies (see :func:`neuroxai.data.simulate_bcic_iv_2a`).
    jitter : float | None
        Scale of the per-subject head/source jitter, passed to the simulator when it has
        such a parameter (None: the simulator's default); an error if it has none.
    seed : int
        Subject ``k`` is simulated with seed ``1000 * seed + k`` (seed 0 gives 1, 2, ...:
        none is the seed-0 data the shipped checkpoint was trained on).
    %(verbose)s

    Returns
    -------
    subjects : SimulatedSubjects
        ``{subject: Trials}``; ``.params[subject]`` holds its seed, SNR and jitter.
    """
    from ..data import simulate_bcic_iv_2a

    seed = check_seed(seed)
    if isinstance(subjects, (int, np.integer)) and not isinstance(subjects, bool):
        ids = list(range(1, check_int(subjects, "subjects", 1) + 1))
    else:
        try:
            ids = [check_int(s, "subjects[i]", 1) for s in subjects]
        except TypeError:
            raise InvalidInputError(f"subjects must be a count or a list of ints >= 1, got "
                                    f"{subjects!r}.") from None
        if not ids or len(set(ids)) != len(ids):
            raise InvalidInputError(f"subjects must be distinct ints >= 1, got {subjects!r}.")
    n_trials = check_int(n_trials, "n_trials", 4)
    lo, hi = (snr, snr) if np.isscalar(snr) else tuple(snr)
    lo, hi = check_float(lo, "snr[0]", 0.0), check_float(hi, "snr[1]", 0.0)
    if hi < lo:
        raise InvalidInputError(f"snr=(low, high) needs low <= high, got {snr!r}.")
    jitter_name = jitter_parameter()
    if jitter is not None and jitter_name is None:
        raise InvalidInputError("jitter=: this version of simulate_bcic_iv_2a has no head or "
                                "source jitter parameter; pass jitter=None.")
    out = SimulatedSubjects()
    out.params = {}
    for s in ids:
        rng = np.random.default_rng([seed, s])
        kw = dict(regime=regime, n_trials=n_trials, n_sessions=1, snr=float(rng.uniform(lo, hi)),
                  seed=1000 * seed + s)
        if jitter_name is not None and jitter is not None:
            kw[jitter_name] = float(jitter)
        sim = simulate_bcic_iv_2a(**kw, verbose=False)
        out[s] = sim.trials
        out.params[s] = kw
    logger.info(f"Simulated {len(ids)} subjects x {n_trials} trials"
                + ("" if jitter_name else " (the simulator has no head/source jitter: seeds "
                   "and SNR vary)"))
    return out
