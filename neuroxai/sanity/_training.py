"""Deprecated: the sanity stage trains with :func:`neuroxai.models.fit_classifier`."""
from __future__ import annotations

import warnings

import numpy as np

from .._core.model import predict_scores


def predict_classes(model, X, batch_size=256):
    """Arg-max class of each trial (eval mode, every sub-module's flag restored)."""
    return predict_scores(model, np.asarray(X), batch_size).argmax(1)


def fit_classifier(model, X, y, *, max_epochs=100, lr=1e-3, batch_size=32, weight_decay=0.0,
                   target_accuracy=0.95, seed=0, progress=None, verbose=None):
    """Deprecated alias of :func:`neuroxai.models.fit_classifier` with
    ``target_train_accuracy``; removed in the next release."""
    from ..models.train import fit_classifier as fit

    warnings.warn("neuroxai.sanity.randomization.fit_classifier is deprecated: use "
                  "neuroxai.models.fit_classifier(model, X, y, n_epochs=..., "
                  "target_train_accuracy=...).", FutureWarning, stacklevel=2)
    return fit(model, X, y, n_epochs=max_epochs, lr=lr, batch_size=batch_size,
               weight_decay=weight_decay, target_train_accuracy=target_accuracy, seed=seed,
               info=None, picks="all", exclude=(), verbose=verbose)
