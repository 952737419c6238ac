"""A plain, seeded torch training loop for the data-randomisation test.

Kept minimal on purpose (AdamW, cross-entropy, shuffled mini-batches, stop once the training
set is fitted): the test needs a model that has memorised permuted labels, not a tuned
decoder, and it must run in minutes on a laptop CPU.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from tqdm.auto import tqdm

from .._utils import InvalidInputError, check_trials_array, logger, verbose
from ..models._optim import AdamW


def _model_device(model):
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def predict_classes(model, X, batch_size=256):
    """Arg-max class of ``model`` (in eval mode) for every trial of ``X``."""
    device = _model_device(model)
    was_training = model.training
    model.eval()
    try:
        preds = []
        for start in range(0, len(X), batch_size):
            xb = torch.as_tensor(X[start:start + batch_size], device=device)
            preds.append(model(xb).argmax(dim=1).cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(preds) if preds else np.zeros(0, int)


@verbose
def fit_classifier(model, X, y, *, max_epochs=100, lr=1e-3, batch_size=32, weight_decay=0.0,
                   target_accuracy=0.95, seed=0, progress=True, verbose=None):
    """Train ``model`` in place with AdamW and cross-entropy until it fits ``(X, y)``.

    Training stops after the first epoch whose training accuracy (eval mode, the whole
    training set) reaches ``target_accuracy``, or after ``max_epochs`` epochs.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier mapping ``(batch, n_chans, n_times)`` to ``(batch, n_classes)`` logits.
        Trained on the device it is on.
    X : ndarray, shape (n_trials, n_chans, n_times)
        Training trials.
    y : ndarray of int, shape (n_trials,)
        Training labels.
    max_epochs : int
        Epoch cap.
    lr, weight_decay : float
        AdamW learning rate and weight decay.
    batch_size : int
        Mini-batch size.
    target_accuracy : float
        Stop once the training accuracy reaches this value.
    seed : int
        Seeds batch order, dropout and any other randomness of the forward pass
        (reproducible on CPU).
    progress : bool
        Show a progress bar over epochs.
    %(verbose)s

    Returns
    -------
    model : torch.nn.Module
        The same model, trained, in eval mode.
    history : list of dict
        Per epoch: ``epoch``, ``loss`` (mean training loss) and ``train_accuracy``.
    """
    X = check_trials_array(X)
    y = np.asarray(y)
    if y.shape != (len(X),) or not np.issubdtype(y.dtype, np.integer):
        raise InvalidInputError(
            f"y must be integer labels of shape ({len(X)},), got {y.dtype} array of shape "
            f"{y.shape}."
        )
    if max_epochs < 1 or batch_size < 1:
        raise InvalidInputError("max_epochs and batch_size must be at least 1.")
    device = _model_device(model)
    Xt = torch.as_tensor(X)
    yt = torch.as_tensor(y, dtype=torch.long)
    optimizer = AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(int(seed))
    history = []
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):  # dropout draws from the global RNG: seed it locally
        torch.manual_seed(int(seed))
        bar = tqdm(range(1, max_epochs + 1), desc="fit (permuted labels)", disable=not progress,
                   leave=False)
        for epoch in bar:
            model.train()
            order = torch.randperm(len(Xt), generator=gen)
            total = 0.0
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                xb, yb = Xt[idx].to(device), yt[idx].to(device)
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                optimizer.step()
                total += loss.detach().item() * len(idx)
            acc = float(np.mean(predict_classes(model, X) == y))
            history.append({"epoch": epoch, "loss": total / len(X), "train_accuracy": acc})
            bar.set_postfix(loss=f"{total / len(X):.3f}", acc=f"{acc:.3f}")
            logger.debug(f"epoch {epoch}: loss {total / len(X):.4f}, train accuracy {acc:.3f}")
            if acc >= target_accuracy:
                break
        bar.close()
    logger.info(
        f"fit_classifier: {len(history)} epoch(s), training accuracy "
        f"{history[-1]['train_accuracy']:.3f} in {time.perf_counter() - t0:.1f} s"
    )
    model.eval()
    return model, history
