"""Preprocessing and windowing recipes as data (``PRESETS``).

A :class:`Preset` says what :func:`~neuroxai.data.preprocess` does to a recording and which
window :func:`~neuroxai.data.load_moabb` / :func:`~neuroxai.data.epochs_from_raw` cut around
each trial. Steps run in this order: channel pick, unit scaling, resampling, filtering,
exponential moving standardisation. A trial's window runs from ``tmin`` seconds relative to
the start of the dataset's trial interval (MOABB's ``interval``, i.e. the cue for most
motor-imagery datasets) to ``tmax_offset`` seconds after its end.

Sources
-------
``bcic_iv_2a_tutorial``
    braindecode's trial-wise BCI IV 2a tutorial ("Basic Brain Decoding on EEG Data",
    ``examples/model_building/plot_bcic_iv_2a_moabb_trial.py``,
    https://braindecode.org/stable/auto_examples/model_building/plot_bcic_iv_2a_moabb_trial.html)
    and the interpretability tutorial built on it: pick the EEG channels, V -> µV, 4-38 Hz
    band-pass (MNE's default zero-phase FIR), exponential moving standardisation
    (``factor_new=1e-3``, ``init_block_size=1000``, ``eps=1e-4``), windows from 0.5 s
    before the cue to the end of the trial interval. This is the preprocessing of the
    ``braindecode/plot_bcic_iv_2a_moabb_trial`` checkpoint.
``high_gamma``
    Schirrmeister et al. (2017), "Deep learning with convolutional neural networks for EEG
    decoding and visualization", Human Brain Mapping 38(11):5391-5420, doi:10.1002/hbm.23730,
    Section 2.7.1, as implemented by the authors' example for the High-Gamma Dataset
    (``example.py`` of https://github.com/robintibor/high-gamma-dataset, braindecode 0.4):
    the 44 sensors whose names contain "C" (they cover the motor cortex), resampled to
    250 Hz, high-passed above 4 Hz with a causal 3rd-order Butterworth filter (no low-pass:
    the high-gamma band is kept up to the Nyquist frequency), exponential moving
    standardisation (``factor_new=1e-3``, ``init_block_size=1000``, ``eps=1e-4``), windows
    from 0.5 s before the cue to 4 s after it, and trials whose absolute amplitude exceeds
    800 µV anywhere in 0-4 s (all EEG channels, before filtering) removed. The paper
    reports both a 0 Hz and a 4 Hz lower cut-off; ``dataclasses.replace(PRESETS["high_gamma"],
    l_freq=None)`` gives the 0 Hz variant.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from .._utils import InvalidInputError, unknown_name

#: The 44 motor-cortex sensors of the High-Gamma Dataset used by Schirrmeister et al. (2017).
HIGH_GAMMA_CHANNELS = (
    "FC5", "FC1", "FC2", "FC6", "C3", "C4", "CP5", "CP1", "CP2", "CP6",
    "FC3", "FCz", "FC4", "C5", "C1", "C2", "C6", "CP3", "CPz", "CP4",
    "FFC5h", "FFC3h", "FFC4h", "FFC6h", "FCC5h", "FCC3h", "FCC4h", "FCC6h",
    "CCP5h", "CCP3h", "CCP4h", "CCP6h", "CPP5h", "CPP3h", "CPP4h", "CPP6h",
    "FFC1h", "FFC2h", "FCC1h", "FCC2h", "CCP1h", "CCP2h", "CPP1h", "CPP2h",
)


@dataclass(frozen=True)
class Preset:
    """A preprocessing and windowing recipe (immutable; derive variants with
    :func:`dataclasses.replace`).

    Attributes
    ----------
    name : str
    picks : str | tuple of str
        ``"eeg"`` (every EEG channel, as ``inst.pick("eeg")``) or channel names, kept in
        this order.
    scale : float
        Multiplies the data after picking (``1e6``: MNE's volts to µV).
    resample_sfreq : float | None
        New sampling rate in Hz, or None to keep the recording's.
    l_freq, h_freq : float | None
        Filter edges in Hz (None: no high-pass / no low-pass).
    filter_method : ``"fir"`` | ``"iir"``
        MNE's filter method. ``"fir"`` is MNE's default zero-phase FIR design.
    iir_order : int | None
        Butterworth order when ``filter_method="iir"``.
    filter_phase : str
        MNE's ``phase`` (``"zero"``; ``"forward"`` is a causal single pass, as ``lfilter``).
    factor_new, init_block_size, eps
        Parameters of braindecode's ``exponential_moving_standardize`` (``init_block_size``
        in samples of the preprocessed data); ``factor_new=None`` skips the step.
    tmin : float
        Window start in seconds, relative to the start of the trial interval.
    tmax_offset : float
        Window end in seconds, relative to the end of the trial interval.
    reject_abs_uv : float | None
        Drop trials whose absolute amplitude (after ``scale``, before filtering) exceeds this
        value in the trial interval on any EEG channel.
    source : str
        Where the recipe comes from.
    """

    name: str
    picks: str | tuple = "eeg"
    scale: float = 1e6
    resample_sfreq: float | None = None
    l_freq: float | None = 4.0
    h_freq: float | None = 38.0
    filter_method: str = "fir"
    iir_order: int | None = None
    filter_phase: str = "zero"
    factor_new: float | None = 1e-3
    init_block_size: int | None = 1000
    eps: float = 1e-4
    tmin: float = -0.5
    tmax_offset: float = 0.0
    reject_abs_uv: float | None = None
    source: str = ""

    def __post_init__(self):
        if self.filter_method not in ("fir", "iir"):
            raise InvalidInputError(
                f"Preset {self.name!r}: filter_method must be 'fir' or 'iir', "
                f"got {self.filter_method!r}.")
        if self.filter_method == "iir" and not self.iir_order:
            raise InvalidInputError(f"Preset {self.name!r}: an 'iir' filter needs iir_order.")
        if self.factor_new is not None and not 0 < self.factor_new <= 1:
            raise InvalidInputError(
                f"Preset {self.name!r}: factor_new must lie in (0, 1], got {self.factor_new}.")
        if isinstance(self.picks, str) and self.picks != "eeg":
            raise InvalidInputError(
                f"Preset {self.name!r}: picks must be 'eeg' or a tuple of channel names, "
                f"got {self.picks!r}.")
        if not isinstance(self.picks, str):
            object.__setattr__(self, "picks", tuple(self.picks))


PRESETS = MappingProxyType({
    "bcic_iv_2a_tutorial": Preset(
        name="bcic_iv_2a_tutorial",
        source="braindecode's trial-wise BCI IV 2a tutorial (plot_bcic_iv_2a_moabb_trial)",
    ),
    "high_gamma": Preset(
        name="high_gamma",
        picks=HIGH_GAMMA_CHANNELS,
        resample_sfreq=250.0,
        l_freq=4.0,
        h_freq=None,
        filter_method="iir",
        iir_order=3,
        filter_phase="forward",
        reject_abs_uv=800.0,
        source="Schirrmeister et al. (2017), doi:10.1002/hbm.23730, Sec. 2.7.1; "
               "github.com/robintibor/high-gamma-dataset example.py",
    ),
})


def get_preset(preset):
    """Return the :class:`Preset` named ``preset`` (or ``preset`` itself if it is one).

    Raises
    ------
    UnknownNameError
        For a name that is not in :data:`PRESETS` (the message lists the valid names).
    """
    if isinstance(preset, Preset):
        return preset
    if isinstance(preset, str) and preset in PRESETS:
        return PRESETS[preset]
    if isinstance(preset, str):
        raise unknown_name("preset", preset, PRESETS)
    raise InvalidInputError(
        f"preset must be a name in {sorted(PRESETS)} or a neuroxai.data.Preset, "
        f"got {type(preset).__name__}.")

