"""Embedded simulated BCI IV 2a dataset with known ground truth.

Sources sit at the motor areas of a three-shell spherical head model; MNE computes the
EEG lead fields locally (no download). Each trial mixes

- background: ``n_background`` randomly placed dipoles with 1/f (pink) activity,
- ongoing mu (8-13 Hz) and beta (18-26 Hz) rhythms at the motor sources,
- white sensor noise,

and one class-specific component whose kind is set by ``regime`` (after the simulation
regimes of Sujatha Ravindran & Contreras-Vidal, 2023, Sci Rep 13:17709):

``"spectral"``
    event-related desynchronisation: the mu/beta rhythm of the class's motor source drops
    after the cue (left hand -> right hand area near C4, right hand -> near C3,
    feet -> medial near Cz, tongue -> bilateral lateral/inferior sources).
``"temporal"``
    the same bilateral sensorimotor sources emit a transient whose latency depends on the class.
``"spatial"``
    the same mu-band burst at the same time for every class, emitted by the class's source.

All brain activity is generated inside 4-38 Hz (the band of braindecode's tutorial
preprocessing) and scaled to unit background variance, as exponential moving standardisation
would leave it; the sensor noise is white (about 0.6 % of the power falls outside 4-38 Hz).
"""
from __future__ import annotations

import functools
import time as _time
from dataclasses import dataclass

import numpy as np

from .._utils import InvalidInputError, logger, unknown_name, verbose
from ._common import BCIC_IV_2A_CHANNELS, BCIC_IV_2A_CLASSES, Trials, make_info, windows_from_trials

REGIMES = ("spectral", "temporal", "spatial")
SFREQ = 250.0
TMIN, TMAX = -0.5, 4.0  # window relative to the cue, as braindecode's tutorial cuts BCI IV 2a
MU_BAND = (8.0, 13.0)
BETA_BAND = (18.0, 26.0)
PASSBAND = (4.0, 38.0)

# Source placement: (electrode whose direction the dipole lies under, depth as a fraction of the
# way from the sphere centre to that electrode, vertical shift in m).
_CLASS_SOURCES = {
    "feet": [("Cz", 0.55, 0.0)],
    "left_hand": [("C4", 0.62, 0.0)],
    "right_hand": [("C3", 0.62, 0.0)],
    "tongue": [("C5", 0.6, -0.015), ("C6", 0.6, -0.015)],
}
_TEMPORAL_LATENCY = {"feet": 0.8, "left_hand": 1.5, "right_hand": 2.2, "tongue": 2.9}  # s after cue
_TRANSIENT_WIDTH = 0.12  # s, sd of the Gaussian envelope
_TRANSIENT_FREQ = 6.0  # Hz
_BURST = (0.5, 2.5)  # s after cue, spatial regime burst window
_BURST_FREQ = 11.0
_ERD_ONSET = 0.5  # s after cue


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


@dataclass
class SimulatedDataset:
    """What :func:`simulate_bcic_iv_2a` returns.

    Attributes
    ----------
    windows : braindecode.datasets.BaseConcatDataset
        One ``WindowsDataset`` per session (``"0train"``, ``"1test"``), like the real loaders.
    trials : Trials
        The same windows as arrays.
    ground_truth : GroundTruth
    params : dict
        The arguments that generated it.
    """

    trials: Trials
    ground_truth: GroundTruth
    params: dict
    _windows: object = None

    @property
    def windows(self):
        # built on first use: the MNE/braindecode copies double the memory of the arrays
        if self._windows is None:
            self._windows = windows_from_trials(self.trials)
        return self._windows

    def __iter__(self):  # ``windows, truth = simulate_bcic_iv_2a()``
        return iter((self.windows, self.ground_truth))

    def __repr__(self):
        return f"<SimulatedDataset {self.params['regime']!r}: {self.trials!r}>"


@functools.lru_cache(maxsize=8)
def _leadfields(n_background, seed):
    """Lead fields (n_chans, n_sources) for class sources and background dipoles (cached)."""
    import mne

    info = make_info()
    pos = np.array([ch["loc"][:3] for ch in info["chs"]])
    sphere = mne.make_sphere_model(r0="auto", head_radius="auto", info=info, verbose=False)
    r0 = np.asarray(sphere["r0"])
    radius = float(sphere.radius)
    names = list(BCIC_IV_2A_CHANNELS)

    rr, nn, owner = [], [], []
    for cls in BCIC_IV_2A_CLASSES:
        for elec, depth, dz in _CLASS_SOURCES[cls]:
            d = pos[names.index(elec)] - r0
            p = r0 + depth * d + np.array([0.0, 0.0, dz])
            rr.append(p)
            nn.append((p - r0) / np.linalg.norm(p - r0))  # radial: a focal scalp map over the source
            owner.append(cls)
    rng = np.random.default_rng(seed)
    # Background dipoles uniformly in the upper part of the inner sphere, random orientations.
    while len(rr) < len(owner) + n_background:
        p = rng.uniform(-1, 1, 3)
        if np.linalg.norm(p) < 1 and p[2] > -0.3:
            rr.append(r0 + 0.75 * radius * p)
            o = rng.normal(size=3)
            nn.append(o / np.linalg.norm(o))
    rr, nn = np.array(rr), np.array(nn)
    src = mne.setup_volume_source_space(pos=dict(rr=rr, nn=nn), sphere=sphere, verbose=False)
    fwd = mne.make_forward_solution(info, trans=None, src=src, bem=sphere, eeg=True, meg=False,
                                    verbose=False)
    gain = fwd["sol"]["data"].reshape(len(names), -1, 3)  # free orientation, xyz per source
    lf = np.einsum("csk,sk->cs", gain, nn)
    lf -= lf.mean(axis=0, keepdims=True)  # average reference, as after EEG re-referencing
    return lf[:, : len(owner)], lf[:, len(owner):], tuple(owner)


def _shaped_noise(rng, shape, freqs, gain, sub=16):
    """Gaussian noise with amplitude spectrum ``gain(freqs)`` along the last axis, unit variance.

    The same draws and arithmetic as ``irfft((re + 1j * im) * gain)`` (bit-identical), with
    the real and imaginary parts drawn into one reused buffer and the inverse FFT taken
    ``sub`` rows at a time: about half the peak memory of the one-line form.
    """
    n_times = shape[-1]
    sh = shape[:-1] + (len(freqs),)
    spec = np.empty(sh, dtype=np.complex128)
    buf = np.empty(sh)
    rng.standard_normal(out=buf)
    spec.real = buf
    rng.standard_normal(out=buf)
    spec.imag = buf
    del buf
    x = np.empty(shape)
    for i in range(0, shape[0], sub):
        blk = spec[i:i + sub]
        blk *= gain
        xb = np.fft.irfft(blk, n=n_times, axis=-1)
        # row-wise std, so computing it per block gives the same values
        xb /= xb.std(axis=-1, keepdims=True) + 1e-12
        x[i:i + sub] = xb
    return x


def _band_gain(freqs, lo, hi, pink=False):
    g = ((freqs >= lo) & (freqs <= hi)).astype(float)
    if pink:
        g = g / np.sqrt(np.maximum(freqs, 1.0))
    return g


@verbose
def simulate_bcic_iv_2a(regime="spectral", n_trials=288, n_sessions=2, snr=1.0, seed=0,
                        n_background=40, sensor_noise=0.1, chan_threshold=0.5, verbose=None):
    """Simulate a BCI IV 2a-like motor-imagery dataset with known ground truth.

    Parameters
    ----------
    regime : ``"spectral"`` | ``"temporal"`` | ``"spatial"``
        Where the class information lies (see the module docstring).
    n_trials : int
        Trials per session (balanced over the 4 classes; BCI IV 2a has 288).
    n_sessions : int
        Sessions, named ``"0train"``, ``"1test"``, then ``"2"``, ...
    snr : float
        RMS of the class-specific component at its strongest channel relative to the
        background RMS (1). For ``"spectral"`` it is the RMS of the rhythm that desynchronises.
    seed : int
        Seed; the same arguments give bit-identical data.
    n_background : int
        Number of background (1/f) dipoles.
    sensor_noise : float
        RMS of white sensor noise relative to the background.
    chan_threshold : float
        Fraction of the maximum absolute lead field above which a channel counts as ground truth.
    %(verbose)s

    Returns
    -------
    sim : SimulatedDataset
        ``sim.windows`` (braindecode windows dataset, sessions ``"0train"``/``"1test"``),
        ``sim.trials`` (arrays) and ``sim.ground_truth``. Unpacks as
        ``windows, ground_truth = simulate_bcic_iv_2a()``.
    """
    if regime not in REGIMES:
        raise unknown_name("regime", regime, REGIMES)
    if int(n_trials) < 4 or int(n_sessions) < 1:
        raise InvalidInputError("n_trials must be >= 4 (one per class) and n_sessions >= 1.")
    if not np.isfinite(snr) or snr < 0:
        raise InvalidInputError(f"snr must be a finite number >= 0, got {snr}.")
    t0 = _time.perf_counter()
    n_trials, n_sessions = int(n_trials), int(n_sessions)
    classes = BCIC_IV_2A_CLASSES
    n_classes = len(classes)
    info = make_info()
    n_chans = len(BCIC_IV_2A_CHANNELS)
    n_times = int(round((TMAX - TMIN) * SFREQ))
    times = TMIN + np.arange(n_times) / SFREQ
    freqs = np.fft.rfftfreq(n_times, 1 / SFREQ)

    lf_cls, lf_bg, owner = _leadfields(int(n_background), int(seed))
    owner = np.array(owner)
    src_of = {c: np.flatnonzero(owner == c) for c in classes}
    # background scaled to unit mean sensor variance (sources are unit variance, independent)
    lf_bg = lf_bg / np.sqrt(np.mean(np.sum(lf_bg**2, axis=1)))

    rng = np.random.default_rng(seed)
    n_total = n_trials * n_sessions
    y = np.tile(np.arange(n_classes), int(np.ceil(n_total / n_classes)))[:n_total]
    for s in range(n_sessions):  # balanced, shuffled within session
        sl = slice(s * n_trials, (s + 1) * n_trials)
        y[sl] = rng.permutation(np.resize(np.arange(n_classes), n_trials))

    X = np.empty((n_total, n_chans, n_times), dtype=np.float32)
    pink = _band_gain(freqs, *PASSBAND, pink=True)
    mu_gain, beta_gain = _band_gain(freqs, *MU_BAND), _band_gain(freqs, *BETA_BAND)
    n_src = lf_cls.shape[1]
    peak = np.abs(lf_cls).max(axis=0)  # per class source, its strongest channel
    # Trials are drawn in chunks of 96 (bounded memory whatever n_trials). The chunk size is
    # part of the generator: changing it changes the random draws, hence the data.
    chunk = 96
    for start in range(0, n_total, chunk):
        stop = min(start + chunk, n_total)
        m = stop - start
        yy = y[start:stop]
        bg = _shaped_noise(rng, (m, lf_bg.shape[1], n_times), freqs, pink)
        x = np.einsum("cs,nst->nct", lf_bg, bg)
        del bg
        noise = rng.standard_normal((m, n_chans, n_times))
        noise *= sensor_noise
        x += noise
        del noise
        # ongoing mu and beta at every motor source (unit-RMS rhythm scaled below)
        rhythm = (_shaped_noise(rng, (m, n_src, n_times), freqs, mu_gain)
                  + 0.5 * _shaped_noise(rng, (m, n_src, n_times), freqs, beta_gain))
        rhythm /= np.sqrt(1.25)
        amp = np.full((m, n_src, 1), 1.0)
        if regime == "spectral":
            env = 1.0 / (1.0 + np.exp(-(times - _ERD_ONSET) / 0.1))  # desynchronisation onset
            amp = np.broadcast_to(amp, (m, n_src, n_times)).copy()
            for k, c in enumerate(classes):
                rows = np.flatnonzero(yy == k)
                for s_idx in src_of[c]:
                    amp[rows, s_idx] = 1.0 - 0.85 * env
            # rhythm RMS at the peak channel == snr (before desynchronisation)
            src_act = rhythm * amp * (snr / peak)[None, :, None]
        else:
            src_act = rhythm * (0.5 / peak)[None, :, None]  # ongoing, class-independent mu
            jit = rng.normal(0, 0.03, m)
            phase = rng.uniform(0, 2 * np.pi, m)
            gain = rng.uniform(0.8, 1.2, m)
            if regime == "temporal":
                for k, c in enumerate(classes):
                    rows = np.flatnonzero(yy == k)
                    tt = times[None, :] - (_TEMPORAL_LATENCY[c] + jit[rows, None])
                    wave = np.exp(-0.5 * (tt / _TRANSIENT_WIDTH) ** 2) * np.cos(
                        2 * np.pi * _TRANSIENT_FREQ * tt + phase[rows, None] * 0.2)
                    wave *= gain[rows, None] * snr * np.sqrt(2)  # RMS snr over the transient core
                    for s_idx in np.concatenate([src_of["left_hand"], src_of["right_hand"]]):
                        src_act[rows, s_idx] += wave / peak[s_idx]
            else:  # spatial
                tt = times[None, :] + jit[:, None]
                env = (1 / (1 + np.exp(-(tt - _BURST[0]) / 0.05))) * (
                    1 / (1 + np.exp((tt - _BURST[1]) / 0.05)))
                wave = env * np.sin(2 * np.pi * _BURST_FREQ * tt + phase[:, None])
                wave *= gain[:, None] * snr * np.sqrt(2)
                for k, c in enumerate(classes):
                    rows = np.flatnonzero(yy == k)
                    for s_idx in src_of[c]:
                        src_act[rows, s_idx] += wave[rows] / peak[s_idx]
        x += np.einsum("cs,nst->nct", lf_cls, src_act)
        X[start:stop] = x

    # ground truth
    topo = np.zeros((n_classes, n_chans))
    for k, c in enumerate(classes):
        topo[k] = np.abs(lf_cls[:, src_of[c]]).max(axis=1)
        if regime == "temporal":
            topo[k] = np.abs(lf_cls[:, np.concatenate([src_of["left_hand"],
                                                       src_of["right_hand"]])]).max(axis=1)
        topo[k] /= topo[k].max()
    chan = topo >= chan_threshold
    tmask = np.zeros((n_classes, n_times), bool)
    fmask = np.zeros((n_classes, len(freqs)), bool)
    for k, c in enumerate(classes):
        if regime == "spectral":
            tmask[k] = times >= _ERD_ONSET
            fmask[k] = (mu_gain + beta_gain) > 0
        elif regime == "temporal":
            lat = _TEMPORAL_LATENCY[c]
            tmask[k] = np.abs(times - lat) <= 2 * _TRANSIENT_WIDTH
            fmask[k] = np.abs(freqs - _TRANSIENT_FREQ) <= 1 / (2 * np.pi * _TRANSIENT_WIDTH) * 2
        else:
            tmask[k] = (times >= _BURST[0]) & (times <= _BURST[1])
            fmask[k] = np.abs(freqs - _BURST_FREQ) <= 1.5
    truth = GroundTruth(
        chan_time=chan[:, :, None] & tmask[:, None, :],
        chan_freq=chan[:, :, None] & fmask[:, None, :],
        chan=chan, topographies=topo, times=times, freqs=freqs, class_names=classes,
        regime=regime, info=info,
    )
    names = ["0train", "1test"] + [str(i) for i in range(2, n_sessions)]
    session = np.repeat(np.array(names[:n_sessions], dtype=object), n_trials)
    trials = Trials(X, y, info, classes, TMIN, session)
    params = dict(regime=regime, n_trials=n_trials, n_sessions=n_sessions, snr=snr, seed=seed,
                  n_background=n_background, sensor_noise=sensor_noise,
                  chan_threshold=chan_threshold)
    logger.info(f"Simulated {n_total} trials ({regime}) in {_time.perf_counter() - t0:.1f} s")
    return SimulatedDataset(trials, truth, params)
