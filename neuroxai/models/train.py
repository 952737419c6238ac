"""Training and scoring classifiers: one route, braindecode's ``EEGClassifier`` (skorch).

The training loop is skorch's, as braindecode's tutorials train their models: AdamW,
cross-entropy, cosine annealing of the learning rate. What is added here is what the
audit needs around it: any input form of trials, seeded runs that leave the caller's
global random state untouched, stratified cross-validation, and held-out accuracy
reported with its chance level and a binomial p-value.
"""
from __future__ import annotations

import time

import numpy as np

from .._core.batching import progress as _progress
from .._core.deprecation import deprecated_progress
from .._core.model import as_module, evaluating, predict_scores, probe_model
from .._core.random import check_seed, seeded
from .._core.stats import accuracy_test
from .._core.validation import check_float, check_int
from .._utils import InvalidInputError, import_braindecode, logger, verbose


def _trials(inst, y, info, class_names, picks, exclude, what, need=("labels",), tmin=None):
    from ..data._boundary import prepare_trials

    return prepare_trials(inst, y, info=info, tmin=tmin, class_names=class_names, picks=picks,
                          exclude=exclude, need=need, units=True, what=what)


class _Epochs:
    """skorch callback: a progress bar over epochs, and an optional stop once the model
    fits its training set (eval-mode accuracy over all training trials)."""

    def __new__(cls, *args, **kwargs):
        from skorch.callbacks import Callback

        class _Impl(Callback):
            def __init__(self, n_epochs, X, y, target):
                self.n_epochs, self.X, self.y, self.target = n_epochs, X, y, target

            def on_train_begin(self, net, **kwargs):
                self.bar = iter(_progress(range(self.n_epochs), "training"))

            def on_epoch_end(self, net, **kwargs):
                next(self.bar, None)
                if self.target is not None:
                    acc = float(np.mean(
                        predict_scores(net.module_, self.X).argmax(1) == self.y))
                    net.history.record("train_accuracy_eval", acc)
                    if acc >= self.target:
                        raise KeyboardInterrupt  # skorch's way to end training early

        return _Impl(*args, **kwargs)


@verbose
def fit_classifier(model, inst, y=None, *, X_valid=None, y_valid=None, n_epochs=30, lr=1e-3,
                   weight_decay=0.0, batch_size=64, seed=0, target_train_accuracy=None,
                   class_names=None, info=None, picks="eeg", exclude="bads", progress=None,
                   verbose=None):
    """Train a classifier with braindecode's ``EEGClassifier``, as its tutorials do.

    AdamW, cross-entropy, the learning rate annealed on a cosine over the epochs. The model
    is trained in place, on the device it is on; the same ``seed`` gives the same model on
    the CPU, and the caller's global random state is left as it was.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(batch, n_chans, n_times)`` to ``(batch, n_classes)`` logits.
    inst : mne.Epochs | braindecode windows dataset | Trials | array
        Labelled training trials (see :func:`neuroxai.data.as_trials`; an array needs ``y``).
    y : array | None
        Labels of an array's trials (ints, event codes or names).
    X_valid, y_valid :
        Held-out trials (any form) scored after each epoch (``valid_accuracy``).
    n_epochs, lr, weight_decay, batch_size : int, float, float, int
        Optimisation settings.
    seed : int
        Seeds the batch order and dropout.
    target_train_accuracy : float | None
        Stop after the first epoch whose eval-mode accuracy on the whole training set
        reaches this value (used to memorise permuted labels in the data-randomisation
        check).
    class_names, info, picks, exclude :
        As in :func:`neuroxai.data.as_trials`.
    progress :
        Deprecated: the progress bar follows ``verbose``, as in MNE.
    %(verbose)s

    Returns
    -------
    model : torch.nn.Module
        The same model, trained, in eval mode.
    history : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``valid_accuracy`` (with a validation set),
        ``train_accuracy`` (with ``target_train_accuracy``) and ``dur`` (s).
    """
    import torch

    import_braindecode("braindecode")
    from braindecode import EEGClassifier
    from skorch.callbacks import LRScheduler
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    deprecated_progress(progress)
    model = as_module(model)
    n_epochs = check_int(n_epochs, "n_epochs", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    lr = check_float(lr, "lr", 0.0, low_open=True)
    weight_decay = check_float(weight_decay, "weight_decay", 0.0)
    seed = check_seed(seed)
    if target_train_accuracy is not None:
        target_train_accuracy = check_float(target_train_accuracy, "target_train_accuracy",
                                            0.0, 1.0)
    trials = _trials(inst, y, info, class_names, picks, exclude, "fit_classifier")
    X, yy = trials.X, trials.y
    n_out = probe_model(model, X[:1], sfreq=trials.sfreq)
    if yy.max() >= n_out:
        raise InvalidInputError(
            f"The labels hold {int(yy.max()) + 1} classes {trials.class_names} but the model "
            f"has {n_out} outputs: build it with n_outputs={int(yy.max()) + 1}.")
    train_split = None
    if X_valid is not None:
        valid = _trials(X_valid, y_valid, info, trials.class_names, picks, exclude,
                        "fit_classifier (validation set)")
        train_split = predefined_split(Dataset(valid.X, valid.y))
    device = next(iter(model.parameters())).device
    callbacks = [("lr_scheduler", LRScheduler("CosineAnnealingLR", T_max=max(n_epochs - 1, 1))),
                 ("neuroxai_epochs", _Epochs(n_epochs, X, yy, target_train_accuracy))]
    t0 = time.perf_counter()
    with seeded(seed, device):  # dropout draws from the global generator: fork it
        clf = EEGClassifier(
            model, criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.AdamW, lr=lr,
            optimizer__weight_decay=weight_decay, batch_size=batch_size, max_epochs=n_epochs,
            train_split=train_split, callbacks=callbacks, device=device,
            classes=list(range(n_out)), verbose=0,
            iterator_train__generator=torch.Generator().manual_seed(seed),
            # BatchNorm cannot train on a last batch of one trial; skip only that one
            iterator_train__drop_last=len(X) % batch_size == 1)
        clf.fit(X, yy)
    history = [{"epoch": h["epoch"], "train_loss": h.get("train_loss"),
                **({"valid_accuracy": h["valid_acc"]} if "valid_acc" in h else {}),
                **({"train_accuracy": h["train_accuracy_eval"]}
                   if "train_accuracy_eval" in h else {}),
                "dur": h.get("dur")} for h in clf.history]
    logger.info(f"fit_classifier: {len(history)} epoch(s) in {time.perf_counter() - t0:.1f} s")
    return model.eval(), history


@verbose
def predict(model, inst, *, batch_size=128, info=None, tmin=None, picks="eeg",
            exclude="bads", verbose=None):
    """Class scores ``(n_trials, n_outputs)``, in eval mode (every sub-module's mode restored)."""
    from ._fast import fast_view

    model = as_module(model)
    trials = _trials(inst, None, info, None, picks, exclude, "predict", need=(), tmin=tmin)
    view = fast_view(model)  # same function, shared parameters, faster first layer
    probe_model(view, trials.X[:1], sfreq=trials.sfreq)
    return predict_scores(view, trials.X, check_int(batch_size, "batch_size", 1))


@verbose
def evaluate_classifier(model, inst, y=None, *, batch_size=128, class_names=None, info=None,
                        tmin=None, picks="eeg", exclude="bads", alpha=0.05, verbose=None):
    """Held-out accuracy with its chance level and a one-sided binomial p-value.

    Returns a dict: ``accuracy``, ``n``, ``n_correct``, ``chance`` (the most frequent
    class's share), ``p_value`` (H0: no better than chance), ``alpha``, ``above_chance``.
    A model that is not above chance explains noise: its attribution maps carry nothing.
    """
    model = as_module(model)
    trials = _trials(inst, y, info, class_names, picks, exclude, "evaluate_classifier",
                     tmin=tmin)
    scores = predict(model, trials, batch_size=batch_size, picks="all", exclude=(),
                     verbose=False)
    return accuracy_test(trials.y, scores.argmax(1), n_classes=scores.shape[1],
                         alpha=check_float(alpha, "alpha", 0.0, 1.0, low_open=True,
                                           high_open=True))


def accuracy(model, inst, y=None, batch_size=128, **kwargs):
    """Fraction of trials whose arg-max score is the label (see :func:`evaluate_classifier`)."""
    return evaluate_classifier(model, inst, y, batch_size=batch_size, verbose=False,
                               **kwargs)["accuracy"]


#: ShallowFBCSPNet's temporal sizes in seconds: braindecode's defaults (25, 75 and 15
#: samples) are those of Schirrmeister et al. (2017) at 250 Hz.
SHALLOW_TIME_SECONDS = dict(filter_time_length=0.1, pool_time_length=0.3, pool_time_stride=0.06)


def shallow_time_kwargs(sfreq):
    """ShallowFBCSPNet's kernel and pooling sizes in samples at ``sfreq`` (same durations as
    braindecode's defaults at 250 Hz), so that the network sees the same time scales."""
    return {k: max(1, int(round(v * sfreq))) for k, v in SHALLOW_TIME_SECONDS.items()}


def _build_for(model, kwargs, trials):
    from .._utils import ModelMismatchError, NeuroXAIError
    from .checkpoint import build_model

    try:
        return build_model(model, **{k: v for k, v in kwargs.items() if v is not None})
    except NeuroXAIError:  # an unknown class name: already named, not a size mismatch
        raise
    except Exception as err:  # braindecode checks sizes at construction, with bare errors
        n_times, sfreq = trials.X.shape[2], trials.sfreq
        raise ModelMismatchError(
            f"{model} cannot be built for trials of {n_times} samples"
            + (f" ({n_times / sfreq:.3g} s at {sfreq:g} Hz)" if sfreq else "")
            + f" with {({k: v for k, v in kwargs.items() if k not in ('chs_info',)})}: "
            f"{type(err).__name__}: {err}. Use longer windows or smaller kernels "
            "(model_kwargs=...).") from err


@verbose
def cross_validate(inst, y=None, *, model="ShallowFBCSPNet", model_kwargs=None, n_splits=5,
                   n_epochs=30, lr=1e-3, weight_decay=0.0, batch_size=32, seed=0,
                   class_names=None, info=None, picks="eeg", exclude="bads", alpha=0.05,
                   verbose=None):
    """Stratified k-fold cross-validation of a braindecode model on labelled trials.

    Each fold trains a fresh model (``model`` names a braindecode class, built for the
    trials' channels, samples, rate and classes; ShallowFBCSPNet's kernel and pooling sizes
    are set in seconds, see :func:`shallow_time_kwargs`) on the other folds and predicts its
    own trials, so every trial gets exactly one held-out prediction. The pooled held-out
    accuracy is tested against chance with a one-sided binomial test.

    Returns
    -------
    result : dict
        ``accuracy``, ``chance``, ``p_value``, ``n``, ``n_correct``, ``above_chance``
        (as :func:`evaluate_classifier`), ``fold_accuracy`` (list), ``models`` (one per
        fold), ``test_indices`` (each fold's held-out trials), ``predictions``,
        ``trials`` (the :class:`~neuroxai.data.Trials` used).
    """
    from sklearn.model_selection import StratifiedKFold

    trials = _trials(inst, y, info, class_names, picks, exclude, "cross_validate")
    seed = check_seed(seed)
    # used after the training: checked before it
    alpha = check_float(alpha, "alpha", 0.0, 1.0, low_open=True, high_open=True)
    counts = np.bincount(trials.y)
    n_splits = check_int(n_splits, "n_splits", 2)
    if counts[counts > 0].min() < n_splits:
        raise InvalidInputError(
            f"n_splits={n_splits} needs at least {n_splits} trials of every class; the "
            f"smallest class has {counts[counts > 0].min()}. Lower n_splits.")
    n_classes = len(trials.class_names)
    kwargs = dict(n_chans=trials.X.shape[1], n_outputs=n_classes, n_times=trials.X.shape[2],
                  sfreq=trials.sfreq, **(model_kwargs or {}))
    if model == "ShallowFBCSPNet":
        kwargs.setdefault("final_conv_length", "auto")
        if trials.sfreq:
            for key, value in shallow_time_kwargs(trials.sfreq).items():
                kwargs.setdefault(key, value)
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    preds = np.empty(len(trials), dtype=np.int64)
    models, tests, fold_acc = [], [], []
    for k, (train_idx, test_idx) in enumerate(folds.split(trials.X, trials.y)):
        with seeded(seed + k):  # the model's initial weights
            net = _build_for(model, kwargs, trials)
        fit_classifier(net, trials.select(idx=train_idx), n_epochs=n_epochs, lr=lr,
                       weight_decay=weight_decay, batch_size=batch_size, seed=seed + k,
                       picks="all", exclude=(), verbose=False)
        with evaluating(net):
            preds[test_idx] = predict_scores(net, trials.X[test_idx]).argmax(1)
        fold_acc.append(float(np.mean(preds[test_idx] == trials.y[test_idx])))
        models.append(net)
        tests.append(test_idx)
    result = accuracy_test(trials.y, preds, n_classes=n_classes, alpha=alpha)
    result.update(fold_accuracy=fold_acc, models=models, test_indices=tests, predictions=preds,
                  trials=trials, n_splits=n_splits)
    logger.info(f"cross_validate: accuracy {result['accuracy']:.3f} (chance "
                f"{result['chance']:.3f}, p = {result['p_value']:.3g}) over {n_splits} folds")
    return result


#: How the shipped checkpoint is made (see :func:`train_default_checkpoint`).
DEFAULT_RECIPE = dict(
    data=dict(regime="spectral", n_trials=288, n_sessions=2, snr=0.7, seed=0),
    model_class="ShallowFBCSPNet",
    model_kwargs=dict(n_chans=22, n_outputs=4, n_times=1125, final_conv_length="auto"),
    fit=dict(n_epochs=20, lr=1e-3, weight_decay=0.0, batch_size=64, seed=0),
)


#: Per-regime SNR of the shipped checkpoints' data: a transient (temporal regime) carries
#: less energy than a sustained rhythm, so it needs a higher SNR to be learnable.
REGIME_SNR = {"spectral": 0.7, "temporal": 2.0, "spatial": 0.7}


@verbose
def train_default_checkpoint(out_dir=None, regime="spectral", progress=None, verbose=None):
    """Retrain a shipped checkpoint from scratch (simulated data, session 0train).

    The shipped checkpoint inside the package is never overwritten:
    ``load_pretrained("shallow_simulated")`` keeps loading it. Load the retrained one by
    its path: ``load_pretrained(out_dir)``, by default
    ``load_pretrained(retrained_checkpoint_dir("shallow_simulated"))``.

    Parameters
    ----------
    out_dir : path-like | None
        Where to write the checkpoint directory (replaced as a whole if it exists).
        Default: ``<cache>/checkpoints/shallow_simulated`` (``_temporal`` / ``_spatial``
        for the other regimes), the cache being ``$NEUROXAI_CACHE`` or ``./data_cache``
        (see :func:`neuroxai.models.pretrained.retrained_checkpoint_dir`).
    regime : ``"spectral"`` | ``"temporal"`` | ``"spatial"``
        Simulation regime of the training data (same recipe otherwise).
    progress : bool
        Show a progress bar.
    %(verbose)s

    Returns
    -------
    model, history, metadata
    """
    import torch

    from .._utils import unknown_name
    from ..data import REGIME_ALIASES, simulate_bcic_iv_2a
    from .checkpoint import build_model, check_checkpoint_target, save_checkpoint
    from .pretrained import checkpoint_name_for_regime, retrained_checkpoint_dir

    regime = REGIME_ALIASES.get(regime, regime)
    if regime not in REGIME_SNR:
        raise unknown_name("regime of a shipped checkpoint", regime, REGIME_SNR)
    if out_dir is None:
        out_dir = retrained_checkpoint_dir(checkpoint_name_for_regime(regime))
    check_checkpoint_target(out_dir)  # before minutes of training, not after
    t0 = time.perf_counter()
    recipe = {**DEFAULT_RECIPE, "data": {**DEFAULT_RECIPE["data"], "regime": regime,
                                         "snr": REGIME_SNR[regime]}}
    sim = simulate_bcic_iv_2a(**recipe["data"], verbose=False)
    train, test = sim.trials.select("0train"), sim.trials.select("1test")
    deprecated_progress(progress)
    with seeded(recipe["fit"]["seed"]):  # the initial weights
        model = build_model(recipe["model_class"], **recipe["model_kwargs"])
    model, history = fit_classifier(model, train, X_valid=test, **recipe["fit"],
                                    verbose=verbose)
    metadata = dict(
        model_class=recipe["model_class"], model_kwargs=recipe["model_kwargs"],
        class_names=list(sim.trials.class_names), ch_names=list(sim.trials.info.ch_names),
        sfreq=sim.trials.sfreq, tmin=sim.trials.tmin, dataset="simulate_bcic_iv_2a",
        dataset_params=recipe["data"], fit_params=recipe["fit"],
        train_accuracy=(history[-1]["train_accuracy"] if "train_accuracy" in history[-1]
                        else accuracy(model, train)),
        test_accuracy=history[-1]["valid_accuracy"], test_session="1test",
        train_seconds=time.perf_counter() - t0, torch_version=torch.__version__,
    )
    path = save_checkpoint(model, out_dir, history, metadata, verbose=False)
    logger.info(f"Trained in {metadata['train_seconds']:.0f} s; held-out accuracy "
                f"{metadata['test_accuracy']:.3f}; written to {path}")
    return model, history, metadata
