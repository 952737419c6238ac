"""What an audit explains: the trials, the model, and how well the model decodes them.

Four sources, one result (:class:`Source`):

- the embedded simulated dataset with its shipped checkpoint (held-out session, ground truth);
- a MOABB dataset by name or instance (a known checkpoint, or a model trained here);
- trials a user brings (Epochs, windows, Trials) with a model or a checkpoint;
- trials a user brings without a model: ShallowFBCSPNet trained with stratified
  cross-validation, so that the accuracy is held-out and every trial is predicted by a
  model that did not see it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .._utils import InvalidInputError, logger


@dataclass
class Source:
    """The audited trials and model, and the model gate's evidence."""

    trials: object  # Trials: the held-out trials the maps explain
    model: object
    description: str
    checkpoint: str
    gate: dict  # accuracy, chance, p_value, n, above_chance, evaluated_on
    truth: object = None  # GroundTruth (simulated data only)
    notes: list = field(default_factory=list)
    dataset_params: dict = None  # the simulator's parameters (simulated data only)


def _model_from(model, checkpoint):
    """A module from ``model`` (module / EEGClassifier) or ``checkpoint`` (name/path/repo)."""
    from .._core.model import as_module
    from ..models import load_pretrained

    if model is not None and checkpoint is not None:
        raise InvalidInputError("Pass model= or checkpoint=, not both.")
    if model is not None:
        if isinstance(model, (str,)) or hasattr(model, "__fspath__"):
            return load_pretrained(model, verbose=False)[0], str(model)
        return as_module(model), type(as_module(model)).__name__ + " (given)"
    if checkpoint is not None:
        return load_pretrained(checkpoint, verbose=False)[0], str(checkpoint)
    return None, None


def _gate(model, trials, evaluated_on):
    from ..models import evaluate_classifier

    res = evaluate_classifier(model, trials, picks="all", exclude=(), verbose=False)
    return dict(res, evaluated_on=evaluated_on)


def simulated(checkpoint):
    """The shipped checkpoint on the held-out session of the dataset it was trained on."""
    from ..data import simulate_bcic_iv_2a
    from ..models import DEFAULT_CHECKPOINT, load_pretrained

    name = checkpoint or DEFAULT_CHECKPOINT
    model, _, meta = load_pretrained(name, verbose=False)
    params = meta.get("dataset_params", dict(regime="spectral", snr=0.7, seed=0))
    sim = simulate_bcic_iv_2a(**params, verbose=False)
    session = meta.get("test_session", "1test")
    test = sim.trials.select(session)
    desc = (f"simulated BCI IV 2a ({params.get('regime')} regime, snr {params.get('snr')}), "
            f"held-out session {session}")
    return Source(test, model, desc, str(name), _gate(model, test, f"held-out session {session}"),
                  truth=sim.ground_truth, dataset_params=params)


def shipped_encoder(params):
    """The encoder shipped for the simulated dataset of ``params``, or None (then the audit
    trains one)."""
    from ..models.encoder import load_encoder, shipped_encoder_dir

    path = shipped_encoder_dir()
    if not (path / "manifest.json").is_file():
        return None
    encoder, history = load_encoder(path, verbose=False)
    return encoder if history.get("dataset_params") == params else None


def trained_here(trials, description, seed, n_splits, n_epochs, notes=None):
    """ShallowFBCSPNet trained with stratified k-fold cross-validation on ``trials``."""
    from ..models import cross_validate

    counts = np.bincount(trials.y, minlength=len(trials.class_names))
    present = counts[counts > 0]
    if len(present) < 2:
        raise InvalidInputError(
            f"The trials hold {len(present)} class(es) {trials.class_names}: training and "
            "auditing a classifier needs at least two.")
    k = int(min(n_splits, present.min()))
    if k < 2:
        raise InvalidInputError(
            f"The smallest class has {present.min()} trial(s): cross-validation needs at least "
            "2 per class. Add trials or pass a trained model (checkpoint=/model=).")
    logger.info(f"Training ShallowFBCSPNet with {k}-fold stratified cross-validation")
    cv = cross_validate(trials, n_splits=k, n_epochs=n_epochs, seed=seed, picks="all",
                        exclude=(), verbose=False)
    fold = trials.select(idx=cv["test_indices"][0])
    gate = {key: cv[key] for key in ("accuracy", "n", "n_correct", "chance", "p_value", "alpha",
                                     "above_chance")}
    gate["evaluated_on"] = (f"{k}-fold stratified cross-validation ({len(trials)} trials, each "
                            "predicted by the fold model that did not see it)")
    gate["fold_accuracy"] = cv["fold_accuracy"]
    notes = list(notes or []) + [
        f"No model was given: ShallowFBCSPNet was trained here with {k}-fold stratified "
        f"cross-validation (fold accuracies {', '.join(f'{a:.2f}' for a in cv['fold_accuracy'])}"
        f"). The maps explain fold 1's model on its {len(fold)} held-out trials."]
    return Source(fold, cv["models"][0], description, f"ShallowFBCSPNet trained here ({k}-fold CV)",
                  gate, notes=notes)


def given_trials(trials, model, checkpoint, seed, n_splits, n_epochs):
    """A user's own trials (any form), with a model, a checkpoint, or neither."""
    from ..data._boundary import prepare_trials

    tr = prepare_trials(trials, need=("positions", "times", "labels"), units=True,
                        what="run_audit(trials=...)")
    desc = (f"your trials: {len(tr)} x {tr.X.shape[1]} channels x {tr.X.shape[2]} samples at "
            f"{tr.sfreq:g} Hz, classes {', '.join(tr.class_names)}")
    net, ckpt = _model_from(model, checkpoint)
    if net is None:
        return trained_here(tr, desc, seed, n_splits, n_epochs)
    note = ("Accuracy on the trials given: it is held-out only if the model never saw them "
            "in training.")
    return Source(tr, net, desc, ckpt, _gate(net, tr, "the trials given"), notes=[note])


def moabb_dataset(dataset, subject, task, model, checkpoint, seed, n_splits, n_epochs):
    """A MOABB dataset (name or instance) through :func:`neuroxai.data.load_moabb`."""
    from ..data import load_moabb
    from ..models import TRAINED_ON

    name = dataset if isinstance(dataset, str) else type(dataset).__name__
    notes = []
    if model is None and checkpoint is None and name in {v["dataset"] for v in
                                                         TRAINED_ON.values()}:
        checkpoint = next(k for k, v in TRAINED_ON.items() if v["dataset"] == name)
    trained_on = TRAINED_ON.get(str(checkpoint)) if checkpoint is not None else None
    if subject is None:
        subject = trained_on["subject"] if trained_on else 1
    elif trained_on and trained_on["subject"] != subject:
        msg = (f"{checkpoint} was trained on {trained_on['dataset']} subject "
               f"{trained_on['subject']}; explaining it on subject {subject} is a "
               "cross-subject analysis (expect accuracy near chance).")
        warnings.warn(msg, UserWarning, stacklevel=3)
        notes.append(msg)
    trials = load_moabb(dataset, subjects=int(subject), task=task, as_trials=True,
                        verbose=False)
    desc = (f"{name} subject {subject}{f' ({task})' if task else ''}: {len(trials)} trials x "
            f"{trials.X.shape[1]} channels at {trials.sfreq:g} Hz")
    net, ckpt = _model_from(model, checkpoint)
    if net is None:
        return trained_here(trials, desc, seed, n_splits, n_epochs, notes)
    test = trials
    where = "all trials of the subject"
    if trained_on and trained_on.get("test_session") in trials.sessions:
        test = trials.select(trained_on["test_session"])
        where = f"held-out session {trained_on['test_session']}"
        desc += f", held-out session {trained_on['test_session']}"
    return Source(test, net, desc, ckpt, _gate(net, test, where), notes=notes)
