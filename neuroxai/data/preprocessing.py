"""Preprocessing presets on MNE objects, and trial windows from a Raw's annotations."""
from __future__ import annotations

import warnings

import numpy as np

from .._utils import InvalidInputError, import_braindecode, logger, unknown_name, verbose
from .presets import Preset, get_preset


def _check_inst(inst, name="inst", epochs=True):
    import mne

    kinds = (mne.io.BaseRaw, mne.BaseEpochs) if epochs else (mne.io.BaseRaw,)
    if not isinstance(inst, kinds):
        allowed = "an mne.io.Raw or mne.Epochs" if epochs else "an mne.io.Raw"
        raise InvalidInputError(
            f"{name} must be {allowed} (e.g. from mne.io.read_raw_edf or "
            f"mne.datasets.eegbci.load_data), got {type(inst).__name__}.")


def _picked_names(inst, preset):
    """The channel names ``preset.picks`` keeps, in the preset's order (case-insensitive)."""
    if preset.picks == "eeg":
        names = [inst.ch_names[i] for i in _eeg_indices(inst)]
        if not names:
            raise InvalidInputError(
                f"Preset {preset.name!r} keeps the EEG channels, but {type(inst).__name__} has "
                "none. Set the channel types first (inst.set_channel_types({...: 'eeg'})).")
        return names
    lower = {n.lower(): n for n in inst.ch_names}
    missing = [n for n in preset.picks if n.lower() not in lower]
    if missing:
        raise InvalidInputError(
            f"Preset {preset.name!r} keeps {len(preset.picks)} named channels; {len(missing)} "
            f"are not in the recording: {missing}. Use a preset that keeps every EEG channel "
            "(e.g. 'bcic_iv_2a_tutorial') or dataclasses.replace(preset, picks='eeg').")
    return [lower[n.lower()] for n in preset.picks]


def _eeg_indices(inst):
    import mne

    return mne.pick_types(inst.info, eeg=True, exclude=())


def _check_filter(preset, sfreq):
    nyquist = sfreq / 2.0
    for edge in (preset.l_freq, preset.h_freq):
        if edge is not None and not 0 < edge < nyquist:
            raise InvalidInputError(
                f"Preset {preset.name!r} filters at {edge:g} Hz, which the data at {sfreq:g} Hz "
                f"cannot hold (Nyquist {nyquist:g} Hz). Use dataclasses.replace(preset, "
                "h_freq=...) with a lower edge, or a preset that resamples.")


def _scale(data, factor):
    # module level (not a lambda) so that braindecode can run it in worker processes
    return data * factor


def _standardize_epochs(data, **kwargs):
    # each epoch is its own short recording: the moving statistics restart at its first sample
    from braindecode.preprocessing import exponential_moving_standardize

    return np.stack([exponential_moving_standardize(d, **kwargs) for d in data])


def _apply_preset(inst, preset):
    """Run ``preset`` on a preloaded Raw or Epochs, in place (braindecode Preprocessor form)."""
    import mne

    import_braindecode("braindecode")  # without its import-time montage notice
    from braindecode.preprocessing import exponential_moving_standardize

    is_epochs = isinstance(inst, mne.BaseEpochs)
    sfreq = preset.resample_sfreq or inst.info["sfreq"]
    _check_filter(preset, sfreq)
    inst.pick(_picked_names(inst, preset))
    if preset.scale != 1:
        inst.apply_function(_scale, picks="all", channel_wise=False, factor=preset.scale)
    if preset.resample_sfreq and preset.resample_sfreq != inst.info["sfreq"]:
        inst.resample(preset.resample_sfreq, verbose=False)
    if preset.l_freq is not None or preset.h_freq is not None:
        iir = None
        if preset.filter_method == "iir":
            iir = dict(order=preset.iir_order, ftype="butter", output="ba")
        inst.filter(preset.l_freq, preset.h_freq, picks="all", method=preset.filter_method,
                    iir_params=iir, phase=preset.filter_phase, verbose=False)
    if preset.factor_new is not None:
        kwargs = dict(factor_new=preset.factor_new, init_block_size=preset.init_block_size,
                      eps=preset.eps)
        fun = _standardize_epochs if is_epochs else exponential_moving_standardize
        inst.apply_function(fun, picks="all", channel_wise=False, **kwargs)
    return inst


@verbose
def preprocess(inst, preset="bcic_iv_2a_tutorial", *, verbose=None):
    """Preprocess an MNE Raw or Epochs as a preset says (a new object; the input is unchanged).

    With the default preset (braindecode's BCI IV 2a tutorial): pick the EEG channels,
    V -> µV, 4-38 Hz band-pass, exponential moving standardisation (``factor_new=1e-3``,
    ``init_block_size=1000``). See :data:`~neuroxai.data.PRESETS` for the recipes and their
    sources.

    Parameters
    ----------
    inst : mne.io.Raw | mne.Epochs
        Data in MNE's units (volts for EEG).
    preset : str | Preset
        A name in :data:`~neuroxai.data.PRESETS` or a :class:`~neuroxai.data.Preset`.
    %(verbose)s

    Returns
    -------
    inst : mne.io.Raw | mne.Epochs
        A preprocessed copy, of the same type as the input.

    Warns
    -----
    RuntimeWarning
        For Epochs. The presets are defined on continuous recordings; on Epochs the
        resampling and the filter run on each epoch separately (edge effects near both
        ends of every epoch), and the exponential moving standardisation restarts at every
        epoch (its first ``init_block_size`` samples are z-scored with the epoch's own mean
        and standard deviation: with an epoch shorter than that, a plain per-channel z-score).
        The result therefore differs from preprocessing the Raw and cutting windows
        afterwards, which is what :func:`epochs_from_raw` with ``preset=`` does and what
        the published recipes did. Picking and scaling are identical on both routes.

    Notes
    -----
    Trials are never rejected here (``Preset.reject_abs_uv`` is a per-trial criterion):
    :func:`epochs_from_raw` and :func:`~neuroxai.data.load_moabb` apply it.
    """
    import mne

    _check_inst(inst)
    preset = get_preset(preset)
    out = inst.copy().load_data()
    if isinstance(out, mne.BaseEpochs):
        steps = [s for s, on in (("resampling", preset.resample_sfreq),
                                 ("filter", preset.l_freq or preset.h_freq),
                                 ("exponential moving standardisation", preset.factor_new))
                 if on]
        if steps:
            warnings.warn(
                f"preprocess() on Epochs: the {', '.join(steps)} of preset {preset.name!r} "
                "run on each epoch separately (filter edge effects at every epoch's edges; the "
                "moving standardisation restarts at each epoch), so the values differ from "
                "preprocessing the continuous Raw. For the preset as published, preprocess the "
                "Raw and cut windows afterwards: neuroxai.data.epochs_from_raw(raw, "
                f"preset={preset.name!r}).", RuntimeWarning, stacklevel=3)
    _apply_preset(out, preset)
    logger.info(f"Preprocessed with preset {preset.name!r}: {len(out.ch_names)} channels at "
                f"{out.info['sfreq']:g} Hz")
    return out


def _event_mapping(raw, event_id):
    """``{annotation name: event code}`` for the requested trial names."""
    available = sorted({str(d) for d in raw.annotations.description
                        if not str(d).lower().startswith(("bad", "edge"))})
    if not available:
        raise InvalidInputError(
            "raw has no trial annotations. Add them first, e.g. "
            "raw.set_annotations(mne.annotations_from_events(mne.find_events(raw), "
            "raw.info['sfreq'], event_desc={code: name, ...})).")
    if event_id is None:
        return {name: k + 1 for k, name in enumerate(available)}
    if isinstance(event_id, str):
        event_id = [event_id]
    if isinstance(event_id, dict):
        mapping = {str(k): v for k, v in event_id.items()}
        bad = [v for v in mapping.values()
               if not isinstance(v, (int, np.integer)) or isinstance(v, bool)]
        if bad:
            raise InvalidInputError(f"event_id codes must be integers, got {bad}.")
    else:
        mapping = {str(name): k + 1 for k, name in enumerate(event_id)}
    for name in mapping:
        if name not in available:
            raise unknown_name("annotation name", name, available, argument="event_id")
    return {k: int(v) for k, v in mapping.items()}


def _trial_duration(raw, names, sfreq):
    """The common duration of the ``names`` annotations, in seconds."""
    ann = raw.annotations
    dur = np.asarray([d for d, s in zip(ann.duration, ann.description) if s in names])
    if len(dur) and dur.min() > 0 and np.ptp(dur) < 0.5 / sfreq:
        return float(dur[0])
    found = sorted({round(float(d), 4) for d in dur})
    raise InvalidInputError(
        f"tmax=None takes the window end from the annotations' durations, but the trials have "
        f"durations {found} s (need one common duration > 0). Pass tmax in seconds.")


def _reject_abs(raw, names, threshold_uv, scale):
    """Drop the ``names`` annotations whose trial interval exceeds ``threshold_uv`` in |x|."""
    ann = raw.annotations
    picks = _eeg_indices(raw)
    sfreq = raw.info["sfreq"]
    starts = raw.time_as_index(ann.onset, use_rounding=True, origin=ann.orig_time)
    drop = []
    for k, (start, duration, desc) in enumerate(zip(starts, ann.duration, ann.description)):
        if desc not in names:
            continue
        stop = start + max(int(duration * sfreq), 1)
        seg = raw.get_data(picks=picks, start=max(start, 0), stop=min(stop, raw.n_times))
        if seg.size and np.abs(seg).max() * scale > threshold_uv:
            drop.append(k)
    if drop:
        n_trials = sum(str(d) in names for d in ann.description)
        logger.info(f"Rejected {len(drop)} of {n_trials} trials with |x| > {threshold_uv:g} µV")
        raw.set_annotations(ann[np.setdiff1d(np.arange(len(ann)), drop)])
    return len(drop)


def _window_samples(preset_tmin, tmax_offset, duration, sfreq):
    """Start offset and window length in samples, as braindecode's windower counts them."""
    start = int(round(preset_tmin * sfreq))
    stop = int(duration * sfreq) + int(round(tmax_offset * sfreq))
    return start, stop - start


@verbose
def epochs_from_raw(raw, event_id=None, tmin=None, tmax=None, *, preset=None, verbose=None):
    """Cut trial windows from a Raw's annotations, as :class:`mne.Epochs`.

    Parameters
    ----------
    raw : mne.io.Raw
        A recording with one annotation per trial (e.g. EEGMMIDB's ``T1``/``T2``, or MOABB's
        class names).
    event_id : None | str | list of str | dict
        Which annotations are trials. None: every annotation except ``BAD_*``/``EDGE*``
        ones, coded 1..n in sorted order; a list: those names, coded in the given order;
        a dict: ``{name: event code}`` kept as given. The names become the Epochs'
        ``event_id`` keys (the class names).
    tmin : float | None
        Window start in seconds relative to each annotation's onset. None: the preset's
        ``tmin`` (-0.5 s for the tutorial), or 0 without a preset.
    tmax : float | None
        Window end in seconds (inclusive, as in MNE). None: the annotations' common duration
        (plus the preset's ``tmax_offset``), so that the window holds exactly
        ``(duration - tmin) * sfreq`` samples, as braindecode's ``create_windows_from_events``
        with ``trial_stop_offset_samples=0`` cuts it.
    preset : str | Preset | None
        Preprocess the continuous Raw first with :func:`preprocess` (after rejecting trials by
        the preset's ``reject_abs_uv``, if any). None: cut the data as they are.
    %(verbose)s

    Returns
    -------
    epochs : mne.Epochs
        Preloaded, no baseline correction. Windows that do not fit in the recording or
        overlap a ``BAD_*`` annotation are dropped (MNE's rule).
    """
    import mne

    _check_inst(raw, "raw", epochs=False)
    preset = None if preset is None else get_preset(preset)
    mapping = _event_mapping(raw, event_id)
    if tmin is None:
        tmin = preset.tmin if preset is not None else 0.0
    duration = None
    if tmax is None:
        duration = _trial_duration(raw, mapping, raw.info["sfreq"])
    if preset is not None:
        raw = raw.copy().load_data()
        if preset.reject_abs_uv is not None:
            _reject_abs(raw, mapping, preset.reject_abs_uv, preset.scale)
        raw = preprocess(raw, preset, verbose=False)
    sfreq = raw.info["sfreq"]
    if tmax is None:
        offset = preset.tmax_offset if preset is not None else 0.0
        start, n_times = _window_samples(tmin, offset, duration, sfreq)
        tmin = start / sfreq
        tmax = (start + n_times - 1) / sfreq
    if tmax <= tmin:
        raise InvalidInputError(f"tmax ({tmax:g} s) must be after tmin ({tmin:g} s).")
    events, _ = mne.events_from_annotations(raw, event_id=mapping, verbose=False)
    present = {k: v for k, v in mapping.items() if np.any(events[:, 2] == v)}
    epochs = mne.Epochs(raw, events, event_id=present, tmin=tmin, tmax=tmax, baseline=None,
                        preload=True, reject_by_annotation=True, verbose=False)
    n_lost = len(events) - len(epochs)
    logger.info(f"{len(epochs)} windows of {len(epochs.times)} samples ({tmin:g} to {tmax:g} s)"
                f" for classes {sorted(present)}"
                + (f"; {n_lost} dropped (outside the recording or BAD)" if n_lost else ""))
    return epochs


__all__ = ["Preset", "preprocess", "epochs_from_raw"]
