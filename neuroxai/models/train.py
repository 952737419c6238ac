"""Training classifiers reproducibly on the CPU (plain torch loop)."""
from __future__ import annotations

import time

import numpy as np

from .._utils import InvalidInputError, check_trials_array, logger, verbose


def _seed_all(seed):
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


@verbose
def fit_classifier(model, X, y, X_valid=None, y_valid=None, n_epochs=30, lr=1e-3,
                   weight_decay=0.0, batch_size=64, seed=0, progress=True, verbose=None):
    """Train a classifier with AdamW + cosine annealing + cross-entropy (as braindecode's tutorial).

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place; returned in eval mode.
    X, y : arrays
        Training trials ``(n, n_chans, n_times)`` and integer targets.
    X_valid, y_valid : arrays | None
        Held-out trials, scored after each epoch.
    n_epochs, lr, weight_decay, batch_size, seed :
        Optimisation settings; the same seed gives the same model on the CPU.
    progress : bool
        Show a progress bar.
    %(verbose)s

    Returns
    -------
    history : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``train_accuracy``, ``valid_accuracy``, ``dur``.
    """
    import torch
    from tqdm.auto import tqdm

    X = check_trials_array(X, "X")
    y = np.asarray(y, dtype=np.int64)
    if y.shape != (len(X),):
        raise InvalidInputError(f"y must have shape ({len(X)},), got {y.shape}.")
    _seed_all(seed)
    device = next(model.parameters()).device
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    from ._optim import AdamW

    opt = AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(n_epochs - 1, 1))
    gen = torch.Generator().manual_seed(seed)
    history = []
    bar = tqdm(range(n_epochs), desc="training", disable=not progress, leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(Xt), generator=gen)
        losses, correct = [], 0
        for i in range(0, len(perm), batch_size):
            idx = perm[i:i + batch_size]
            if len(idx) < 2:  # BatchNorm cannot train on a single trial
                continue
            xb, yb = Xt[idx].to(device), yt[idx].to(device)
            opt.zero_grad()
            out = model(xb)
            loss = torch.nn.functional.cross_entropy(out, yb)
            loss.backward()
            opt.step()
            losses.append(loss.item() * len(idx))
            correct += int((out.argmax(1) == yb).sum())
        sched.step()
        rec = {"epoch": epoch + 1, "train_loss": float(np.sum(losses) / len(Xt)),
               "train_accuracy": correct / len(Xt)}
        if X_valid is not None:
            rec["valid_accuracy"] = accuracy(model, X_valid, y_valid)
        rec["dur"] = time.perf_counter() - t0
        history.append(rec)
        bar.set_postfix({k: round(v, 3) for k, v in rec.items() if "acc" in k})
        logger.debug(str(rec))
    return model.eval(), history


def predict(model, X, batch_size=128):
    """Class scores ``(n_trials, n_outputs)`` in eval mode, batched."""
    import torch

    from ._fast import fast_view

    p = next(model.parameters())
    was = model.training
    model = fast_view(model)  # same function, shared parameters, faster first layer
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            xb = torch.as_tensor(np.asarray(X[i:i + batch_size]), dtype=p.dtype, device=p.device)
            outs.append(model(xb).cpu().numpy())
    model.train(was)
    return np.concatenate(outs)


def accuracy(model, X, y, batch_size=128):
    """Fraction of trials whose arg-max score is the target."""
    return float(np.mean(predict(model, X, batch_size).argmax(1) == np.asarray(y)))


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
def train_default_checkpoint(out_dir=None, regime="spectral", progress=True, verbose=None):
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
    from ..data import simulate_bcic_iv_2a
    from .checkpoint import build_model, check_checkpoint_target, save_checkpoint
    from .pretrained import checkpoint_name_for_regime, retrained_checkpoint_dir

    if regime not in REGIME_SNR:
        raise unknown_name("regime", regime, REGIME_SNR)
    if out_dir is None:
        out_dir = retrained_checkpoint_dir(checkpoint_name_for_regime(regime))
    check_checkpoint_target(out_dir)  # before minutes of training, not after
    t0 = time.perf_counter()
    recipe = {**DEFAULT_RECIPE, "data": {**DEFAULT_RECIPE["data"], "regime": regime,
                                         "snr": REGIME_SNR[regime]}}
    sim = simulate_bcic_iv_2a(**recipe["data"], verbose=False)
    train, test = sim.trials.select("0train"), sim.trials.select("1test")
    torch.manual_seed(recipe["fit"]["seed"])
    model = build_model(recipe["model_class"], **recipe["model_kwargs"])
    model, history = fit_classifier(model, train.X, train.y, test.X, test.y, progress=progress,
                                    **recipe["fit"])
    metadata = dict(
        model_class=recipe["model_class"], model_kwargs=recipe["model_kwargs"],
        class_names=list(sim.trials.class_names), ch_names=list(sim.trials.info.ch_names),
        sfreq=sim.trials.sfreq, tmin=sim.trials.tmin, dataset="simulate_bcic_iv_2a",
        dataset_params=recipe["data"], fit_params=recipe["fit"],
        train_accuracy=history[-1]["train_accuracy"],
        test_accuracy=history[-1]["valid_accuracy"], test_session="1test",
        train_seconds=time.perf_counter() - t0, torch_version=torch.__version__,
    )
    path = save_checkpoint(model, out_dir, history, metadata, verbose=False)
    logger.info(f"Trained in {metadata['train_seconds']:.0f} s; held-out accuracy "
                f"{metadata['test_accuracy']:.3f}; written to {path}")
    return model, history, metadata
