"""Embedded simulated BCI IV 2a dataset with known ground truth.

Sources sit at the motor areas of a three-shell spherical head model; MNE computes the
EEG lead fields locally (no download). Each trial mixes

- background: ``n_background`` randomly placed dipoles with 1/f (pink) activity,
- ongoing mu and beta rhythms at the motor sources (8-13 and 18-26 Hz by default;
  ``rhythm="narrow"`` or ``"broad"`` changes their bands, see :data:`RHYTHMS`),
- white sensor noise,

and one class-specific component whose kind is set by ``regime`` (after the simulation
regimes of Sujatha Ravindran & Contreras-Vidal, 2023, Sci Rep 13:17709). In every regime
but ``"temporal"`` the classes differ only in *where* the component sits (which source):

``"spectral"`` (alias ``"erd"``)
    event-related desynchronisation, a power **decrease**: the mu/beta rhythm of the class's
    motor source(s) drops by 85 % after the cue, the other sources keep theirs (left hand ->
    right hand area near C4, right hand -> near C3, feet -> medial near Cz, tongue ->
    bilateral lateral/inferior sources). The name is historical: the class information is
    in the band power of one source, the same bands and time course for every class.
``"ers"``
    event-related synchronisation, the mirror image, a power **increase**: every source
    idles at 15 % of the rhythm and the class's source(s) rise to the full rhythm after
    the cue.
``"spatial"`` (alias ``"burst"``)
    a power increase of one frequency: the same 11 Hz burst (0.5-2.5 s) for every class,
    emitted by the class's source(s).
``"temporal"``
    the bilateral hand-area sources emit a 6 Hz transient whose latency depends on the
    class: the information is in time, not in space.

``n_sources=2`` gives every class a second, simultaneous source (feet: under Fz, left
hand: under P2, right hand: under P1; tongue keeps its two bilateral sources), with the
same activity as the first. ``sfreq``, ``ch_names`` (any 10-20 names), ``classes`` (a
subset of 2-4 classes) and ``tmin``/``tmax`` change the layout; the head model and the
source positions do not depend on them.

All brain activity is generated inside 4-38 Hz (the band of braindecode's tutorial
preprocessing) and scaled to unit background variance, as exponential moving standardisation
would leave it; the sensor noise is white (about 0.6 % of the power falls outside 4-38 Hz).

Frequency bands of the ground truth (:func:`ground_truth_bands`): the maximal runs of
consecutive frequency bins where a channel x frequency mask holds (for any class and
channel) are the signal bands, the stretches of the passband between them the gap bands;
every band is half-open ``[lo, hi)`` with edges halfway between bins, so that it holds
exactly its run's bins. :func:`band_masks_from_freq_mask` marks a (class, channel, band)
entry as ground truth when at least half of the band's bins are.
"""
from __future__ import annotations

import functools
import numbers
import time as _time
from dataclasses import dataclass

import numpy as np

from .._utils import InvalidInputError, logger, unknown_name, verbose
from ._common import BCIC_IV_2A_CHANNELS, BCIC_IV_2A_CLASSES, Trials, make_info, windows_from_trials
from .ground_truth import GroundTruth, band_masks_from_freq_mask, ground_truth_bands  # noqa: F401

__all__ = [
    "GroundTruth",
    "REGIMES",
    "REGIME_ALIASES",
    "RHYTHMS",
    "SimulatedDataset",
    "band_masks_from_freq_mask",
    "ground_truth_bands",
    "simulate_bcic_iv_2a",
]

#: Regime names (canonical); :data:`REGIME_ALIASES` maps the descriptive names onto them.
REGIMES = ("spectral", "temporal", "spatial", "ers")
#: ``"erd"`` is the ``"spectral"`` regime (a power decrease), ``"burst"`` the ``"spatial"``.
REGIME_ALIASES = {"erd": "spectral", "burst": "spatial"}
SFREQ = 250.0
TMIN, TMAX = -0.5, 4.0  # window relative to the cue, as braindecode's tutorial cuts BCI IV 2a
MU_BAND = (8.0, 13.0)
BETA_BAND = (18.0, 26.0)
PASSBAND = (4.0, 38.0)
#: Mu and beta bands (Hz, edges included) of the rhythms for each ``rhythm`` option:
#: ``"narrow"`` rhythms are 2 Hz wide, ``"broad"`` ones 7 and 14 Hz.
RHYTHMS = {
    "default": (MU_BAND, BETA_BAND),
    "narrow": ((10.0, 12.0), (21.0, 23.0)),
    "broad": ((7.0, 14.0), (16.0, 30.0)),
}
_SFREQ_RANGE = (100.0, 1000.0)  # Hz: Nyquist above the 38 Hz passband, memory bounded
_MAX_BYTES = 4 * 2**30  # float32 trials

# Source placement: (electrode whose direction the dipole lies under, depth as a fraction of the
# way from the sphere centre to that electrode, vertical shift in m).
_CLASS_SOURCES = {
    "feet": [("Cz", 0.55, 0.0)],
    "left_hand": [("C4", 0.62, 0.0)],
    "right_hand": [("C3", 0.62, 0.0)],
    "tongue": [("C5", 0.6, -0.015), ("C6", 0.6, -0.015)],
}
# n_sources=2: a second, distant source per class (tongue has two already)
_SECOND_SOURCES = {
    "feet": [("Fz", 0.6, 0.0)],
    "left_hand": [("P2", 0.6, 0.0)],
    "right_hand": [("P1", 0.6, 0.0)],
}
_TEMPORAL_LATENCY = {"feet": 0.8, "left_hand": 1.5, "right_hand": 2.2, "tongue": 2.9}  # s after cue
_TRANSIENT_WIDTH = 0.12  # s, sd of the Gaussian envelope
_TRANSIENT_FREQ = 6.0  # Hz
_BURST = (0.5, 2.5)  # s after cue, spatial regime burst window
_BURST_FREQ = 11.0
_ERD_ONSET = 0.5  # s after cue
_ERD_DEPTH = 0.85  # fraction of the rhythm that (de)synchronises


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
def _leadfields(n_background, seed, ch_names=tuple(BCIC_IV_2A_CHANNELS), n_sources=1):
    """Lead fields (n_chans, n_sources) for class sources and background dipoles (cached).

    The head (a sphere fitted to the 22 BCI IV 2a positions) and the source positions are
    the same for every channel set; only the sensors change.
    """
    import mne

    head = make_info()
    pos = np.array([ch["loc"][:3] for ch in head["chs"]])
    sphere = mne.make_sphere_model(r0="auto", head_radius="auto", info=head, verbose=False)
    r0 = np.asarray(sphere["r0"])
    radius = float(sphere.radius)
    names = list(BCIC_IV_2A_CHANNELS)

    placements = [(cls, spec) for cls in BCIC_IV_2A_CLASSES for spec in _CLASS_SOURCES[cls]]
    if n_sources == 2:
        placements += [(cls, spec) for cls in BCIC_IV_2A_CLASSES
                       for spec in _SECOND_SOURCES.get(cls, [])]
    rr, nn, owner = [], [], []
    for cls, (elec, depth, dz) in placements:
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
    sensors = head if tuple(ch_names) == tuple(names) else make_info(ch_names)
    fwd = mne.make_forward_solution(sensors, trans=None, src=src, bem=sphere, eeg=True,
                                    meg=False, verbose=False)
    if fwd["nsource"] != len(rr):  # a source dropped by MNE would shift every column
        raise RuntimeError(f"MNE kept {fwd['nsource']} of {len(rr)} simulated sources.")
    gain = fwd["sol"]["data"].reshape(len(ch_names), -1, 3)  # free orientation, xyz per source
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


def _as_int(value, name, lo, hi, what=""):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or not lo <= value <= hi:
        raise InvalidInputError(
            f"{name} must be an integer in [{lo}, {hi}]{what}, got {value!r}.")
    return int(value)


def _as_float(value, name, lo, hi, lo_open=False, what=""):
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) \
        and np.isfinite(value) and (lo < value if lo_open else lo <= value) and value <= hi
    if not ok:
        left = "(" if lo_open else "["
        raise InvalidInputError(
            f"{name} must be a finite number in {left}{lo:g}, {hi:g}]{what}, got {value!r}.")
    return float(value)


def _check_layout(ch_names, classes):
    if ch_names is None:
        ch_names = tuple(BCIC_IV_2A_CHANNELS)
    if isinstance(ch_names, str) or not all(isinstance(c, str) for c in ch_names):
        raise InvalidInputError(
            "ch_names must be a list of 10-20 channel names, e.g. ['C3', 'Cz', 'C4'].")
    ch_names = tuple(ch_names)
    if len(ch_names) < 3 or len(set(ch_names)) != len(ch_names):
        raise InvalidInputError(
            f"ch_names must hold at least 3 distinct channel names (the data are average "
            f"referenced), got {list(ch_names)}.")
    if classes is None:
        classes = BCIC_IV_2A_CLASSES
    if isinstance(classes, str):
        classes = (classes,)
    classes = tuple(classes)
    for c in classes:
        if c not in BCIC_IV_2A_CLASSES:
            raise unknown_name("class", c, BCIC_IV_2A_CLASSES, argument="classes")
    if not 2 <= len(classes) <= 4 or len(set(classes)) != len(classes):
        raise InvalidInputError(
            f"classes must name 2 to 4 distinct classes of {BCIC_IV_2A_CLASSES}, got "
            f"{list(classes)}.")
    return ch_names, classes


def _check_args(regime, n_trials, n_sessions, snr, seed, n_background, sensor_noise,
                chan_threshold, sfreq, ch_names, classes, tmin, tmax, n_sources, rhythm):
    """Validate and normalise every argument (cheap; before any simulation work)."""
    if not isinstance(regime, str):
        raise unknown_name("regime", regime, REGIMES + tuple(REGIME_ALIASES))
    regime = REGIME_ALIASES.get(regime, regime)
    if regime not in REGIMES:
        raise unknown_name("regime", regime, REGIMES + tuple(REGIME_ALIASES))
    if rhythm not in RHYTHMS:
        raise unknown_name("rhythm", rhythm, tuple(RHYTHMS))
    if n_sources not in (1, 2) or isinstance(n_sources, bool):
        raise InvalidInputError(f"n_sources must be 1 or 2 (sources per class), got {n_sources!r}.")
    ch_names, classes = _check_layout(ch_names, classes)
    n_classes = len(classes)
    n_trials = _as_int(n_trials, "n_trials", n_classes, 10**6,
                       f" (at least one per class: {n_classes} classes)")
    n_sessions = _as_int(n_sessions, "n_sessions", 1, 100)
    snr = _as_float(snr, "snr", 0.0, 1e3)
    seed = _as_int(seed, "seed", 0, 2**63 - 1)
    n_background = _as_int(n_background, "n_background", 1, 10_000, " (background dipoles)")
    sensor_noise = _as_float(sensor_noise, "sensor_noise", 0.0, 1e3)
    chan_threshold = _as_float(chan_threshold, "chan_threshold", 0.0, 1.0, lo_open=True,
                               what=" (a fraction of the strongest lead field)")
    sfreq = _as_float(sfreq, "sfreq", *_SFREQ_RANGE, what=" Hz")
    tmin = _as_float(tmin, "tmin", -10.0, 10.0, what=" s (relative to the cue)")
    tmax = _as_float(tmax, "tmax", -10.0, 20.0, what=" s (relative to the cue)")
    if tmax - tmin < 1.0:
        raise InvalidInputError(
            f"The window tmin={tmin:g} s .. tmax={tmax:g} s must last at least 1 s (a 1 Hz "
            "frequency resolution), so that a 2 Hz-wide rhythm holds frequency bins.")
    n_times = int(round((tmax - tmin) * sfreq))
    n_bytes = 4 * n_trials * n_sessions * len(ch_names) * n_times
    if n_bytes > _MAX_BYTES:
        raise InvalidInputError(
            f"n_trials={n_trials} x n_sessions={n_sessions} x {len(ch_names)} channels x "
            f"{n_times} samples would take {n_bytes / 2**30:.1f} GiB (limit "
            f"{_MAX_BYTES / 2**30:.0f} GiB); lower n_trials, sfreq or the window.")
    return dict(regime=regime, n_trials=n_trials, n_sessions=n_sessions, snr=snr, seed=seed,
                n_background=n_background, sensor_noise=sensor_noise,
                chan_threshold=chan_threshold, sfreq=sfreq, ch_names=ch_names, classes=classes,
                tmin=tmin, tmax=tmax, n_sources=int(n_sources), rhythm=rhythm, n_times=n_times)


def _time_freq_masks(regime, classes, times, freqs, rhythm_gain):
    """Per class, the times and frequencies that carry the class information."""
    tmask = np.zeros((len(classes), len(times)), bool)
    fmask = np.zeros((len(classes), len(freqs)), bool)
    for k, c in enumerate(classes):
        if regime in ("spectral", "ers"):
            tmask[k] = times >= _ERD_ONSET
            fmask[k] = rhythm_gain > 0
        elif regime == "temporal":
            lat = _TEMPORAL_LATENCY[c]
            tmask[k] = np.abs(times - lat) <= 2 * _TRANSIENT_WIDTH
            fmask[k] = np.abs(freqs - _TRANSIENT_FREQ) <= 1 / (2 * np.pi * _TRANSIENT_WIDTH) * 2
        else:
            tmask[k] = (times >= _BURST[0]) & (times <= _BURST[1])
            fmask[k] = np.abs(freqs - _BURST_FREQ) <= 1.5
    return tmask, fmask


def _check_window_holds_events(tmask, classes, regime, tmin, tmax):
    empty = [c for k, c in enumerate(classes) if not tmask[k].any()]
    if empty:
        when = {"temporal": {c: _TEMPORAL_LATENCY[c] for c in empty},
                "spatial": {c: _BURST for c in empty}}.get(regime, {c: _ERD_ONSET for c in empty})
        raise InvalidInputError(
            f"The window tmin={tmin:g} s .. tmax={tmax:g} s holds no class information of "
            f"class(es) {empty} in the {regime!r} regime (event times after the cue, s: "
            f"{when}); widen the window.")


def _rhythm_activity(rhythm, yy, classes, src_of, times, snr, peak, increase):
    """ERD (``increase=False``) or ERS of the class's sources, RMS ``snr`` at full rhythm."""
    m, n_src, n_times = rhythm.shape
    env = 1.0 / (1.0 + np.exp(-(times - _ERD_ONSET) / 0.1))  # (de)synchronisation onset
    base = 1.0 - _ERD_DEPTH if increase else 1.0
    moved = base + _ERD_DEPTH * env if increase else 1.0 - _ERD_DEPTH * env
    amp = np.broadcast_to(np.full((m, n_src, 1), base), (m, n_src, n_times)).copy()
    for k, c in enumerate(classes):
        rows = np.flatnonzero(yy == k)
        for s_idx in src_of[c]:
            amp[rows, s_idx] = moved
    # rhythm RMS at the peak channel == snr (at full rhythm)
    return rhythm * amp * (snr / peak)[None, :, None]


def _event_activity(rng, rhythm, yy, classes, src_of, times, snr, peak, regime):
    """Ongoing class-independent rhythm plus the temporal transient or the spatial burst."""
    m = len(yy)
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
        return src_act
    tt = times[None, :] + jit[:, None]
    env = (1 / (1 + np.exp(-(tt - _BURST[0]) / 0.05))) * (
        1 / (1 + np.exp((tt - _BURST[1]) / 0.05)))
    wave = env * np.sin(2 * np.pi * _BURST_FREQ * tt + phase[:, None])
    wave *= gain[:, None] * snr * np.sqrt(2)
    for k, c in enumerate(classes):
        rows = np.flatnonzero(yy == k)
        for s_idx in src_of[c]:
            src_act[rows, s_idx] += wave[rows] / peak[s_idx]
    return src_act


def _topographies(lf_cls, src_of, classes, regime, peak, n_sources):
    topo = np.zeros((len(classes), lf_cls.shape[0]))
    for k, c in enumerate(classes):
        idx = src_of[c]
        if regime == "temporal":
            idx = np.concatenate([src_of["left_hand"], src_of["right_hand"]])
        w = np.abs(lf_cls[:, idx])
        if n_sources == 2:  # sources of unequal depth: each scaled as its activity is
            w = w / peak[idx]
        topo[k] = w.max(axis=1)
        topo[k] /= topo[k].max()
    return topo


def _simulate_trials(rng, y, classes, regime, lf_cls, lf_bg, src_of, times, freqs, mu_gain,
                     beta_gain, snr, sensor_noise):
    """Background, sensor noise, rhythms and the class component of every trial."""
    n_total, n_chans, n_times = len(y), lf_cls.shape[0], len(times)
    X = np.empty((n_total, n_chans, n_times), dtype=np.float32)
    pink = _band_gain(freqs, *PASSBAND, pink=True)
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
        if regime in ("spectral", "ers"):
            src_act = _rhythm_activity(rhythm, yy, classes, src_of, times, snr, peak,
                                       increase=regime == "ers")
        else:
            src_act = _event_activity(rng, rhythm, yy, classes, src_of, times, snr, peak,
                                      regime)
        x += np.einsum("cs,nst->nct", lf_cls, src_act)
        X[start:stop] = x
    return X


def _recorded_params(a):
    """The arguments as ``SimulatedDataset.params``: the layout options only where they
    differ from the defaults, so that default params stay as earlier releases wrote them."""
    params = {k: a[k] for k in ("regime", "n_trials", "n_sessions", "snr", "seed",
                                "n_background", "sensor_noise", "chan_threshold")}
    extra = dict(sfreq=a["sfreq"], ch_names=list(a["ch_names"]), classes=list(a["classes"]),
                 tmin=a["tmin"], tmax=a["tmax"], n_sources=a["n_sources"], rhythm=a["rhythm"])
    defaults = dict(sfreq=SFREQ, ch_names=list(BCIC_IV_2A_CHANNELS),
                    classes=list(BCIC_IV_2A_CLASSES), tmin=TMIN, tmax=TMAX, n_sources=1,
                    rhythm="default")
    params.update({k: v for k, v in extra.items() if v != defaults[k]})
    return params


@verbose
def simulate_bcic_iv_2a(regime="spectral", n_trials=288, n_sessions=2, snr=1.0, seed=0,
                        n_background=40, sensor_noise=0.1, chan_threshold=0.5, *, sfreq=SFREQ,
                        ch_names=None, classes=None, tmin=TMIN, tmax=TMAX, n_sources=1,
                        rhythm="default", verbose=None):
    """Simulate a BCI IV 2a-like motor-imagery dataset with known ground truth.

    Parameters
    ----------
    regime : ``"spectral"`` | ``"erd"`` | ``"ers"`` | ``"spatial"`` | ``"burst"`` | ``"temporal"``
        Where the class information lies (see the module docstring): ``"spectral"`` (alias
        ``"erd"``) a mu/beta power decrease, ``"ers"`` a mu/beta power increase,
        ``"spatial"`` (alias ``"burst"``) an 11 Hz burst, all at the class's source(s);
        ``"temporal"`` a transient at a class-specific latency.
    n_trials : int
        Trials per session (balanced over the classes; BCI IV 2a has 288), at least one per
        class.
    n_sessions : int
        Sessions (1-100), named ``"0train"``, ``"1test"``, then ``"2"``, ...
    snr : float
        RMS of the class-specific component at its strongest channel relative to the
        background RMS (1), in [0, 1000]. For ``"spectral"``/``"ers"`` it is the RMS of the
        full rhythm (before the desynchronisation, after the synchronisation).
    seed : int
        Seed (>= 0); the same arguments give bit-identical data.
    n_background : int
        Number of background (1/f) dipoles, in [1, 10000].
    sensor_noise : float
        RMS of white sensor noise relative to the background, in [0, 1000].
    chan_threshold : float
        Fraction of the maximum absolute lead field above which a channel counts as ground
        truth, in (0, 1].
    sfreq : float
        Sampling frequency in Hz, in [100, 1000].
    ch_names : list of str | None
        Channels (at least 3 names of the 10-20 montage, e.g. ``["C3", "Cz", "C4"]`` or a
        64-channel set); ``None``: the 22 channels of BCI IV 2a.
    classes : list of str | None
        2 to 4 of ``"feet"``, ``"left_hand"``, ``"right_hand"``, ``"tongue"`` (target
        ``k`` is ``classes[k]``); ``None``: all four in MOABB order.
    tmin, tmax : float
        Trial window in s relative to the cue (at least 1 s long; it must hold every
        class's event).
    n_sources : 1 | 2
        Sources per class: 2 adds a second, simultaneous source (see the module docstring).
    rhythm : ``"default"`` | ``"narrow"`` | ``"broad"``
        Bands of the mu and beta rhythms (:data:`RHYTHMS`): 8-13 and 18-26 Hz, 2 Hz-wide
        (10-12, 21-23 Hz) or broad (7-14, 16-30 Hz). The ``"spatial"`` burst (11 Hz) and the
        ``"temporal"`` transient (6 Hz) do not change.
    %(verbose)s

    Returns
    -------
    sim : SimulatedDataset
        ``sim.windows`` (braindecode windows dataset, sessions ``"0train"``/``"1test"``),
        ``sim.trials`` (arrays) and ``sim.ground_truth``. Unpacks as
        ``windows, ground_truth = simulate_bcic_iv_2a()``.

    Raises
    ------
    InvalidInputError
        Before any simulation, naming the argument and its allowed values (an
        :class:`~neuroxai.UnknownNameError` for names, a :class:`~neuroxai.MontageError` for
        channels without a 10-20 position).

    Notes
    -----
    The default arguments give bit-identical data to earlier releases (the shipped
    checkpoints were trained on them).
    """
    a = _check_args(regime, n_trials, n_sessions, snr, seed, n_background, sensor_noise,
                    chan_threshold, sfreq, ch_names, classes, tmin, tmax, n_sources, rhythm)
    regime, classes = a["regime"], a["classes"]
    info = make_info(a["ch_names"], a["sfreq"])  # MontageError for unplaced channels
    n_times, tmin, snr = a["n_times"], a["tmin"], a["snr"]
    times = tmin + np.arange(n_times) / a["sfreq"]
    freqs = np.fft.rfftfreq(n_times, 1 / a["sfreq"])
    (mu_lo, mu_hi), (beta_lo, beta_hi) = RHYTHMS[a["rhythm"]]
    mu_gain, beta_gain = _band_gain(freqs, mu_lo, mu_hi), _band_gain(freqs, beta_lo, beta_hi)
    tmask, fmask = _time_freq_masks(regime, classes, times, freqs, mu_gain + beta_gain)
    _check_window_holds_events(tmask, classes, regime, tmin, a["tmax"])

    t0 = _time.perf_counter()
    n_trials, n_sessions = a["n_trials"], a["n_sessions"]
    n_classes = len(classes)
    lf_cls, lf_bg, owner = _leadfields(a["n_background"], a["seed"], a["ch_names"],
                                       a["n_sources"])
    owner = np.array(owner)
    src_of = {c: np.flatnonzero(owner == c) for c in BCIC_IV_2A_CLASSES}
    # background scaled to unit mean sensor variance (sources are unit variance, independent)
    lf_bg = lf_bg / np.sqrt(np.mean(np.sum(lf_bg**2, axis=1)))

    rng = np.random.default_rng(a["seed"])
    n_total = n_trials * n_sessions
    y = np.tile(np.arange(n_classes), int(np.ceil(n_total / n_classes)))[:n_total]
    for s in range(n_sessions):  # balanced, shuffled within session
        sl = slice(s * n_trials, (s + 1) * n_trials)
        y[sl] = rng.permutation(np.resize(np.arange(n_classes), n_trials))

    X = _simulate_trials(rng, y, classes, regime, lf_cls, lf_bg, src_of, times, freqs,
                         mu_gain, beta_gain, snr, a["sensor_noise"])

    peak = np.abs(lf_cls).max(axis=0)
    topo = _topographies(lf_cls, src_of, classes, regime, peak, a["n_sources"])
    chan = topo >= a["chan_threshold"]
    truth = GroundTruth(
        chan_time=chan[:, :, None] & tmask[:, None, :],
        chan_freq=chan[:, :, None] & fmask[:, None, :],
        chan=chan, topographies=topo, times=times, freqs=freqs, class_names=classes,
        regime=regime, info=info, passband=PASSBAND,
    )
    names = ["0train", "1test"] + [str(i) for i in range(2, n_sessions)]
    session = np.repeat(np.array(names[:n_sessions], dtype=object), n_trials)
    trials = Trials(X, y, info, classes, tmin, session)
    params = _recorded_params(a)
    logger.info(f"Simulated {n_total} trials ({regime}) in {_time.perf_counter() - t0:.1f} s")
    return SimulatedDataset(trials, truth, params)
