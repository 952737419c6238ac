"""Randomisation sanity checks for attribution maps (Adebayo et al., 2018).

An attribution method explains a *trained* model only if its maps depend on what the model
learned. Each check replaces part of what was learned by randomness and measures, trial by
trial, how similar the new maps are to the trained model's maps:

- :func:`cascading_randomization`: re-initialise the parametrised layers one level at a
  time from the output to the input, keeping the earlier randomisations;
- :func:`independent_randomization`: re-initialise one layer at a time, all others trained;
- :func:`full_randomization`: re-initialise every layer at once;
- :func:`label_randomization`: ask the trained model about a different class;
- :func:`data_randomization`: retrain the architecture from scratch on permuted labels.

The checks test parameter (and target) dependence only: passing them is **necessary, not
sufficient** for a faithful explanation, and they say nothing when the model has learnt
nothing. Hence the verdict, in this order:

1. **Model gate.** Every result states the model's accuracy, its chance level and a
   one-sided binomial p-value: from ``model_accuracy=`` (the dict of
   :func:`neuroxai.models.evaluate_classifier` on held-out trials, the recommended route),
   else computed on the check's own trials when they are labelled (held out only if the
   model was not trained on them). Not above chance (p >= alpha), the verdict is
   ``"NOT ABOVE CHANCE"``: *model not above chance — the maps explain noise*, ``passed`` is
   None. An untrained ShallowFBCSPNet passes every similarity threshold with DeepLIFT and
   saliency; only this gate stops it. Without labels and without ``model_accuracy`` the
   verdict text says **"model not checked"**.
2. **Signed and unsigned similarity.** Every check computes Pearson's r of the signed maps,
   Spearman's rho of the signed maps and of ``|maps|`` (Adebayo et al. report both Spearman
   variants) and, for maps shaped like the input, Spearman's rho of ``|maps|`` with the
   trials' magnitude ``|x|`` held fixed. A level passes only when the maps changed on both
   the signed and the unsigned measure: ``|r| < threshold`` (a sign flip is no change of
   what is relevant) **and** rho of ``|maps|`` ``< threshold`` (the relevant channels and
   times moved). Outcomes per level: ``"changed"`` (pass), ``"unchanged"`` (r >= t),
   ``"sign flip"`` (r <= -t), ``"|maps| kept"``, ``"undefined"`` (every map constant).
   The unsigned measure holds ``|x|`` fixed because products ``x * g`` (input x gradient,
   integrated gradients, DeepLIFT, the SHAP variants) share the ranking of ``|x|`` whatever
   the model (two independent factors of equal spread give rho ~ 0.5). Measured on the
   simulated data, DeepLIFT's plain rho of ``|maps|`` against a fully re-initialised
   network is 0.49 and 0.54 on two trained 2-class ShallowFBCSPNets and 0.51 on the shipped
   4-class one, while its signed r is 0.01: a fixed threshold of 0.5 on the plain rho
   would decide these methods by the input's statistics, and the signed and unsigned
   verdicts of a well-trained model would disagree. With ``|x|`` fixed the rho is
   0.11-0.23 and both measures agree. The plain rho stays in the result
   (``"spearman_abs"``), with the input's share ``rho(|map|, |x|)`` (0.64 for DeepLIFT).
3. **Label test with 2 classes.** A 2-class softmax depends on the logit difference only:
   a method that explains the decision gives the other class a map close to the *negated*
   one, an untrained model an unrelated one, and an unsigned method (saliency) a similar
   ``|map|`` in both cases. Measured on the simulated left/right-hand data, trained (92 %
   and 98 % held-out accuracy) vs untrained ShallowFBCSPNet: DeepLIFT r = -0.54 / -0.12 vs
   -0.01 / +0.20, saliency r = +0.47 / +0.32 vs +0.18 / +0.24. No threshold separates
   the trained from the untrained model, so the 2-class label test is ``"UNINFORMATIVE"``
   (``passed`` None); it still fails a method with signed maps that ignores the target
   (r >= t, e.g. the gradient of the sum of the outputs, r = 1). With 3 or more classes it
   follows rule 2 (shipped model: DeepLIFT r = -0.22, saliency +0.30: both pass).
4. Levels make the verdict by ``rule`` (``"last"``, ``"all"``, ``"majority"``, ``"any"``
   of the defined levels). A trial whose map is constant has no correlation: it is counted
   (``n_undefined``), logged and left out of the means; a check whose deciding maps are
   constant on every trial is ``"UNDEFINED"``.

The default threshold 0.5 is that of the EEG-XAI benchmark of Sujatha Ravindran &
Contreras-Vidal (2023).

Differences from :func:`braindecode.visualization.cascading_layer_reset` (1.8.1), by design:

- every level is an independent deep copy (braindecode yields one object mutated in place,
  so collecting the levels gives N copies of the fully random model); the caller's model is
  never modified;
- parametrised tensors (e.g. braindecode's max-norm constrained convolutions) are randomised
  at their source ``module.parametrizations.<name>.original``; ``reset_parameters`` writes
  the computed tensor, which the next forward pass recomputes from the untouched source;
- normalisation layers get random affine parameters, ``weight ~ N(1, norm_std)`` and
  ``bias ~ N(0, norm_std)`` (their own reset makes them an identity, which randomises
  nothing); their running statistics are kept, so each level changes the learned affine
  map only and does not rescale the activations of the layers below;
- other layers are re-initialised by their own ``reset_parameters`` (PyTorch's default
  initialisation, not braindecode's model-specific one), seeded per layer name: a layer gets
  the same random weights at every cascade level, in the independent test and in the full
  reset, whatever the global RNG state.
"""
from __future__ import annotations

import copy
import time
import warnings

import numpy as np
import torch

from .._core.model import as_module, device_dtype
from .._core.random import check_random_state, check_seed
from .._core.validation import check_float, check_int, check_option
from .._utils import InvalidInputError, TargetError, verbose
from ._engine import method_name, run_check
from ._layers import layers_in_forward_order, randomize_in_place, resolve_levels
from ._result import RandomizationResult
from ._similarity import per_trial_similarity
from ._training import fit_classifier, predict_classes

__all__ = [
    "RandomizationResult",
    "cascading_randomization",
    "independent_randomization",
    "full_randomization",
    "label_randomization",
    "data_randomization",
    "list_randomizable_layers",
    "randomize_model",
    "iter_cascading_models",
    "iter_independent_models",
    "random_targets",
    "fit_classifier",
    "per_trial_similarity",
]


# ------------------------------------------------------------------------ model variants
def list_randomizable_layers(model, X=None):
    """Names of the model's parametrised layers, in forward order (input to output).

    A layer is a module that owns parameters itself or owns parametrised tensors
    (:mod:`torch.nn.utils.parametrize`). The order is the order in which one forward pass
    on ``X[:1]`` (or on zeros when the model has ``n_chans``/``n_times`` attributes, as
    braindecode models do), on the model's own device and dtype, calls them; without
    either it is the registration order.

    Parameters
    ----------
    model : torch.nn.Module | braindecode.EEGClassifier
        The model.
    X : array, shape (n_trials, n_chans, n_times) | None
        Example trials (only the first is used).

    Returns
    -------
    names : list of str
    """
    return [name for name, _ in layers_in_forward_order(as_module(model), X)]


def randomize_model(model, layers=None, *, seed=0, norm_std=0.5, X=None):
    """Return a copy of ``model`` with the given layers re-initialised.

    Parameters
    ----------
    model : torch.nn.Module | braindecode.EEGClassifier
        Trained model; not modified.
    layers : str | list of str | None
        Layer names, or names of modules containing layers (see
        :func:`list_randomizable_layers`). ``None`` randomises every layer.
    seed : int
        Base seed; each layer's random weights depend on ``seed`` and its name only.
    norm_std : float
        Spread of the random affine parameters of normalisation layers.
    X : array | None
        Example trials, used to validate layer names and order levels.

    Returns
    -------
    randomized : torch.nn.Module
        An independent copy in eval mode.
    """
    model = as_module(model)
    levels = resolve_levels(model, layers, X)
    names = [n for _, members in levels for n in members]
    out = copy.deepcopy(model)
    randomize_in_place(out, names, check_seed(seed), norm="perturb",
                       norm_std=check_float(norm_std, "norm_std", 0.0))
    return out.eval()


def iter_cascading_models(model, layers=None, *, seed=0, norm_std=0.5, X=None):
    """Yield ``(level, model_copy)`` with layers randomised cumulatively, output to input.

    Every yielded model is an independent deep copy in eval mode: keeping (or modifying) one
    does not affect the others nor the caller's ``model``. Level ``k`` has the layers of
    levels ``1..k`` randomised, with the same random weights for a layer at every level.

    Parameters
    ----------
    model : torch.nn.Module | braindecode.EEGClassifier
        Trained model; not modified.
    layers : list of (str | list of str) | None
        Levels in cascade order. ``None``: one level per parametrised layer, from the output
        to the input (the reverse of :func:`list_randomizable_layers`).
    seed, norm_std, X
        See :func:`randomize_model`.
    """
    model = as_module(model)
    return _iter_cascade(model, resolve_levels(model, layers, X), seed, norm_std)


def _iter_cascade(model, levels, seed, norm_std):
    work = copy.deepcopy(model)  # private working copy: callers may modify what we yield
    for level, members in levels:
        randomize_in_place(work, members, seed, norm="perturb", norm_std=norm_std)
        yield level, copy.deepcopy(work).eval()


def iter_independent_models(model, layers=None, *, seed=0, norm_std=0.5, X=None):
    """Yield ``(level, model_copy)`` with one level randomised at a time, all others trained.

    Parameters are those of :func:`iter_cascading_models`.
    """
    model = as_module(model)
    return _iter_independent(model, resolve_levels(model, layers, X), seed, norm_std)


def _iter_independent(model, levels, seed, norm_std):
    for level, members in levels:
        out = copy.deepcopy(model)
        randomize_in_place(out, members, seed, norm="perturb", norm_std=norm_std)
        yield level, out.eval()


def random_targets(target, n_classes, seed=0):
    """Draw, for every trial, a class uniformly among the classes other than ``target``.

    Parameters
    ----------
    target : array of int, shape (n_trials,)
        The classes to avoid.
    n_classes : int
        Number of classes (at least 2).
    seed : int | numpy.random.Generator
        Randomness.

    Returns
    -------
    other : ndarray of int, shape (n_trials,)
        ``other[i] != target[i]`` for every ``i``.
    """
    if n_classes < 2:
        raise TargetError(
            f"Label randomisation needs at least 2 classes, the model has {n_classes}.")
    rng = check_random_state(seed)
    target = np.asarray(target)
    # A draw from the n_classes - 1 other classes: skip over the true class.
    draw = rng.integers(0, n_classes - 1, size=target.shape)
    return np.where(draw >= target, draw + 1, draw).astype(np.int64)


def _layer_variants(iterate, layers, norm_std):
    """The levels of the layer tests: ``iterate(model, levels, seed, norm_std)`` yields
    ``(level, model)``; every level explains the same targets."""
    def variants(chk):
        levels = resolve_levels(chk.model, layers, chk.X)
        models = iterate(chk.model, levels, chk.seed, norm_std)
        return (len(levels), ((lv, m, chk.target) for lv, m in models),
                dict(norm_std=norm_std, layers=[m for _, m in levels]), {})

    return variants


# -------------------------------------------------------------------------------- checks
_COMMON_DOC = """
    y : array, shape (n_trials,) | None
        Labels of an array's trials (ints, event codes or names). Labelled trials (``y``,
        Epochs, windows, Trials) give the model gate when ``model_accuracy`` is None, and
        ``target="labels"``.
    info, tmin, class_names, picks, exclude :
        As in :func:`neuroxai.data.as_trials`. ``class_names``: the model's outputs in order.
    method_params : dict | None
        Extra keyword arguments of the method.
    batch_size : int
        Trials per attribution batch.
    threshold : float
        ``t`` in (0, 1]: a level passes when ``|r| < t`` (Pearson, signed maps) and rho of
        ``|maps|`` ``< t`` (see the module docstring).
    model_accuracy : dict | None
        The model gate: the dict of :func:`neuroxai.models.evaluate_classifier` (or of
        :func:`neuroxai.models.cross_validate`) on held-out trials. ``None`` computes it on
        the check's trials when they are labelled, else the verdict says "model not
        checked".
    alpha : float | None
        Significance level of the gate (``None``: that of ``model_accuracy``, else 0.05).
    seed : int
        Seed of the randomisation and of the bootstrap.
    n_bootstrap : int
        Bootstrap resamples for the confidence interval of the mean.
    confidence_level : float
        Level of the confidence interval.
    return_maps : bool
        Keep the maps of the trained model and of every level in the result.
    reference : array | Attribution | None
        The trained model's maps of the trials for ``target`` with this method and
        ``method_params``, when already computed (e.g. by
        :func:`~neuroxai.attribution.attribute`): they are not computed again.
    metric, progress :
        Deprecated: the verdict uses both measures; progress bars follow ``verbose``."""

_MODEL_DOC = """
    model : torch.nn.Module | braindecode.EEGClassifier
        Trained model; not modified.
    inst : mne.Epochs | braindecode windows | Trials | array, shape (n_trials, n_chans, n_times)
        Trials to explain (see :func:`neuroxai.data.as_trials`).
    target : None | "labels" | int | str | array, shape (n_trials,)
        Class to explain per trial: ``None`` the trained model's predicted class,
        ``"labels"`` the true class, or a class index / name for all trials or one per trial.
    method : str | callable
        A method name registered in :func:`neuroxai.attribution.attribute`, or a callable
        ``fn(model, X, target, **method_params)`` returning an array (or tensor, or
        :class:`~neuroxai.attribution.Attribution`) of shape ``(n_trials, ...)``; a callable
        is called on chunks of ``batch_size`` trials."""

_RETURNS_DOC = """
    result : RandomizationResult
        ``verdict`` (``"PASS"``, ``"FAIL"``, ``"NOT ABOVE CHANCE"``, ``"UNINFORMATIVE"``,
        ``"UNDEFINED"``), ``passed`` (True / False / None), ``reason``, ``verdict_text``,
        ``model_accuracy`` (the gate), ``level_outcome``, and every measure per level and
        trial in ``scores``."""


def _doc(func):
    for key, text in (("common", _COMMON_DOC), ("model", _MODEL_DOC),
                      ("returns", _RETURNS_DOC)):
        func.__doc__ = func.__doc__.replace(f"    %({key})s", text.strip("\n"))
    return func


@verbose
@_doc
def cascading_randomization(model, inst, target=None, method="saliency", *, layers=None,
                            norm_std=0.5, y=None, info=None, tmin=None, class_names=None,
                            picks="eeg", exclude="bads", method_params=None, batch_size=32,
                            threshold=0.5, model_accuracy=None, alpha=None, seed=0,
                            n_bootstrap=2000, confidence_level=0.95, return_maps=False,
                            reference=None, metric=None, progress=None, verbose=None):
    """Cascading model-parameter randomisation test (Adebayo et al., 2018).

    The parametrised layers are re-initialised from the output to the input, one level at a
    time and cumulatively; at each level the maps are recomputed and compared, trial by
    trial, with the trained model's maps. The verdict is taken at the last level, where
    every listed layer is random. The per-level rows show how fast the maps degrade.
    Necessary, not sufficient: see the module docstring for the rule and the model gate.

    Parameters
    ----------
    %(model)s
    layers : list of (str | list of str) | None
        Levels in cascade order; ``None`` means every parametrised layer, output to input.
    norm_std : float
        Spread of the random affine parameters of normalisation layers.
    %(common)s
    %(verbose)s

    Returns
    -------
    %(returns)s
        ``levels`` are the layer names in the order they were randomised.
    """
    norm_std = check_float(norm_std, "norm_std", 0.0)
    return run_check("cascading", locals(), _layer_variants(_iter_cascade, layers, norm_std))


@verbose
@_doc
def independent_randomization(model, inst, target=None, method="saliency", *, layers=None,
                              rule="majority", norm_std=0.5, y=None, info=None, tmin=None,
                              class_names=None, picks="eeg", exclude="bads", method_params=None,
                              batch_size=32, threshold=0.5, model_accuracy=None, alpha=None,
                              seed=0, n_bootstrap=2000, confidence_level=0.95,
                              return_maps=False, reference=None, metric=None, progress=None,
                              verbose=None):
    """Independent layer randomisation test (Adebayo et al., 2018).

    Each level re-initialises one layer (or group) while every other layer keeps its trained
    weights. By default the method passes when the maps change at more than half of the
    levels. ``rule="all"`` is stricter, but it also fails methods on models whose output
    hardly depends on one layer: randomising a normalisation layer's affine parameters (a
    per-feature rescaling) typically leaves maps correlated at r ~ 0.7-0.9 even for
    gradients. Read the per-level rows for which layers the maps depend on. Necessary, not
    sufficient: see the module docstring for the rule and the model gate.

    Parameters
    ----------
    %(model)s
    layers : list of (str | list of str) | None
        Levels; ``None`` means every parametrised layer, output to input.
    rule : "majority" | "all" | "any"
        How the level outcomes make the verdict.
    norm_std : float
        Spread of the random affine parameters of normalisation layers.
    %(common)s
    %(verbose)s

    Returns
    -------
    %(returns)s
    """
    rule = check_option("rule", rule, ("majority", "all", "any"))
    norm_std = check_float(norm_std, "norm_std", 0.0)
    return run_check("independent", locals(),
                     _layer_variants(_iter_independent, layers, norm_std), rule=rule)


@verbose
@_doc
def full_randomization(model, inst, target=None, method="saliency", *, norm_std=0.5, y=None,
                       info=None, tmin=None, class_names=None, picks="eeg", exclude="bads",
                       method_params=None, batch_size=32, threshold=0.5, model_accuracy=None,
                       alpha=None, seed=0, n_bootstrap=2000, confidence_level=0.95,
                       return_maps=False, reference=None, metric=None, progress=None,
                       verbose=None):
    """Full model randomisation: every parametrised layer re-initialised at once.

    Equals the last level of :func:`cascading_randomization` with the same ``seed``.
    Necessary, not sufficient: see the module docstring for the rule and the model gate.

    Parameters
    ----------
    %(model)s
    norm_std : float
        Spread of the random affine parameters of normalisation layers.
    %(common)s
    %(verbose)s

    Returns
    -------
    %(returns)s
        One level, ``"all layers"``.
    """
    norm_std = check_float(norm_std, "norm_std", 0.0)

    def variants(chk):
        rand = randomize_model(chk.model, None, seed=chk.seed, norm_std=norm_std, X=chk.X)
        return 1, [("all layers", rand, chk.target)], dict(norm_std=norm_std), {}

    return run_check("full", locals(), variants)


@verbose
@_doc
def label_randomization(model, inst, target=None, method="saliency", *, y=None, info=None,
                        tmin=None, class_names=None, picks="eeg", exclude="bads",
                        method_params=None, batch_size=32, threshold=0.5, model_accuracy=None,
                        alpha=None, seed=0, n_bootstrap=2000, confidence_level=0.95,
                        return_maps=False, reference=None, metric=None, progress=None,
                        verbose=None):
    """Label randomisation: explain the trained model for a different class.

    Every trial is attributed once for ``target`` and once for a class drawn uniformly among
    the other classes (seeded). A class-discriminative method gives different maps; a method
    that ignores the target (e.g. the gradient of the sum of all outputs) fails. With 2
    classes the test is uninformative except against such a method (module docstring,
    rule 3). Necessary, not sufficient.

    Parameters
    ----------
    %(model)s
    %(common)s
    %(verbose)s

    Returns
    -------
    %(returns)s
        One level, ``"target"``; ``info["random_target"]`` holds the drawn classes.
    """
    def variants(chk):
        other = random_targets(chk.target, chk.n_outputs, seed=chk.seed)
        return 1, [("target", chk.model, other)], {}, dict(target=chk.target,
                                                           random_target=other)

    return run_check("label", locals(), variants)


@verbose
@_doc
def data_randomization(model, X_train, y_train=None, method="saliency", *, X=None, target=None,
                       y=None, info=None, tmin=None, class_names=None, picks="eeg",
                       exclude="bads", max_epochs=100, lr=1e-3, train_batch_size=32,
                       weight_decay=0.0, target_accuracy=0.95, fit_fn=None, method_params=None,
                       batch_size=32, threshold=0.5, model_accuracy=None, alpha=None, seed=0,
                       n_bootstrap=2000, confidence_level=0.95, return_maps=False,
                       reference=None, metric=None, progress=None, verbose=None):
    """Data randomisation test: retrain the architecture on permuted labels.

    A fresh copy of ``model`` (every parametrised layer re-initialised by its own reset,
    normalisation layers to identity with reset running statistics, parametrised tensors at
    their source) is trained on ``X_train`` with a random permutation of its labels until it
    fits them (``target_accuracy`` training accuracy) or ``max_epochs`` is reached. Its maps
    are compared with the trained model's: a method that explains what the model learned
    gives different maps for a model that learned nothing generalisable. Necessary, not
    sufficient: see the module docstring for the rule and the model gate.

    Parameters
    ----------
    model : torch.nn.Module | braindecode.EEGClassifier
        Trained model; not modified. Its architecture (and device) is reused.
    X_train : mne.Epochs | braindecode windows dataset | Trials | array
        Labelled training trials of the permuted-label model.
    y_train : array, shape (n_train,) | None
        Labels of an array ``X_train``; they are permuted (class balance kept).
    method : str | callable
        As in :func:`cascading_randomization`.
    X : mne.Epochs | windows | Trials | array | None
        Trials to explain (``y`` labels them); ``None`` explains ``X_train``.
    target : None | "labels" | int | str | array
        Class to explain per trial of ``X``, the same for both models. ``None``: the labels
        when ``X`` is ``None``, else the trained model's predicted class.
    max_epochs : int
        Epoch cap of the training (:func:`neuroxai.models.fit_classifier`), which stops as
        soon as the permuted labels are fitted. With the defaults, ShallowFBCSPNet fits the
        permuted labels of the simulated BCI IV 2a data (576 trials, 22 x 1125 samples) in
        6 epochs; one epoch costs about 25 s of CPU time (under a minute on two cores).
    lr, weight_decay : float
        AdamW parameters of the training.
    train_batch_size : int
        Mini-batch size of the training.
    target_accuracy : float
        Training accuracy on the permuted labels at which training stops. If it is not
        reached, a warning is issued and ``info["fitted"]`` is False.
    fit_fn : callable | None
        ``fit_fn(model, X_train, y_permuted, seed=seed) -> model`` replacing the default
        training.
    %(common)s
    %(verbose)s

    Returns
    -------
    %(returns)s
        One level, ``"labels (retrained)"``. ``info`` holds ``train_accuracy``, ``fitted``,
        ``history`` (default training), ``fit_time_s`` and ``model`` (the permuted-label
        model).
    """
    from ..data._boundary import prepare_trials

    module = as_module(model)
    float64 = device_dtype(module)[1] == torch.float64
    train = prepare_trials(X_train, y_train, info=info, tmin=tmin, class_names=class_names,
                           picks=picks, exclude=exclude, need=("labels",), units=True,
                           what="data randomisation (X_train)",
                           dtype=np.float64 if float64 else np.float32)
    max_epochs = check_int(max_epochs, "max_epochs", 1)
    target_accuracy = check_float(target_accuracy, "target_accuracy", 0.0, 1.0)
    if fit_fn is not None and not callable(fit_fn):
        raise InvalidInputError(f"fit_fn must be callable, got {type(fit_fn).__name__}.")
    args = dict(locals(), inst=X if X is not None else train,
                y=y if X is not None else None,
                target="labels" if X is None and target is None else target)
    if X is None:  # the Trials carry the picked channels and their class names
        args.update(info=None, tmin=None, class_names=None, picks="all", exclude=())

    def variants(chk):
        if train.y.max() >= chk.n_outputs:
            raise TargetError(f"y_train holds {int(train.y.max()) + 1} classes but the model "
                              f"has {chk.n_outputs} outputs.")
        y_perm = np.random.default_rng(chk.seed).permutation(train.y)
        fresh = copy.deepcopy(chk.model)
        layer_names = [n for n, _ in layers_in_forward_order(fresh, train.X)]
        if not layer_names:
            raise InvalidInputError(
                f"{type(fresh).__name__} has no parametrised layer, so it cannot be retrained.")
        randomize_in_place(fresh, layer_names, chk.seed, norm="reset")
        t0 = time.perf_counter()
        history = None
        if fit_fn is None:
            from ..models.train import fit_classifier as fit

            fresh, history = fit(
                fresh, train.X, y_perm, n_epochs=max_epochs, lr=lr,
                batch_size=train_batch_size, weight_decay=weight_decay,
                target_train_accuracy=target_accuracy, seed=chk.seed, picks="all",
                exclude=(), verbose=False)
        else:
            fresh = fit_fn(fresh, train.X, y_perm, seed=chk.seed)
            if not isinstance(fresh, torch.nn.Module):
                raise InvalidInputError("fit_fn must return the trained torch.nn.Module.")
        fit_time = time.perf_counter() - t0
        fresh.eval()
        train_acc = float(np.mean(predict_classes(fresh, train.X) == y_perm))
        fitted = train_acc >= target_accuracy
        if not fitted:
            warnings.warn(
                f"The permuted-label model reached {train_acc:.2f} training accuracy, below "
                f"target_accuracy={target_accuracy} (raise max_epochs or lr); the data "
                "randomisation test compares against a model that did not memorise its "
                "labels.", UserWarning, stacklevel=5)
        info_ = dict(train_accuracy=train_acc, fitted=fitted, history=history,
                     fit_time_s=fit_time, epochs=len(history) if history is not None else None,
                     y_permuted=y_perm, model=fresh)
        params = dict(max_epochs=max_epochs, lr=lr, train_batch_size=train_batch_size,
                      weight_decay=weight_decay, target_accuracy=target_accuracy,
                      fit_fn=None if fit_fn is None else method_name(fit_fn))
        return 1, [("labels (retrained)", fresh, chk.target)], params, info_

    return run_check("data", args, variants)
