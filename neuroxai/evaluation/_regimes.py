"""The benchmark's simulated regimes, their models and the model gate."""
from __future__ import annotations

import hashlib
import inspect
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._utils import (
    DataNotAvailableError,
    InvalidInputError,
    UnknownNameError,
    get_cache_dir,
    logger,
    unknown_name,
)

#: Simulated regimes of the benchmark: name -> arguments of
#: :func:`neuroxai.data.simulate_bcic_iv_2a` (with ``n_trials=288, n_sessions=2, seed=0``
#: unless given). The first three have shipped checkpoints; for the others a
#: ShallowFBCSPNet is trained here with the shipped recipe (seeded, session ``"0train"``).
BENCHMARK_REGIMES = {
    "spectral": dict(regime="spectral", snr=0.7),
    "temporal": dict(regime="temporal", snr=2.0),
    "spatial": dict(regime="spatial", snr=0.7),
    "ers": dict(regime="ers", snr=0.7),
    "erd_two_sources": dict(regime="spectral", n_sources=2, snr=0.7),
    "erd_narrow": dict(regime="spectral", rhythm="narrow", snr=0.7),
    "erd_broad": dict(regime="spectral", rhythm="broad", snr=0.7),
}
#: What each regime puts where (for the table).
REGIME_TITLES = {
    "spectral": "ERD: mu/beta power decrease at the class's source",
    "temporal": "6 Hz transient at a class-specific latency (bilateral sources)",
    "spatial": "11 Hz burst (power increase) at the class's source",
    "ers": "ERS: mu/beta power increase at the class's source",
    "erd_two_sources": "ERD at two simultaneous sources per class",
    "erd_narrow": "ERD of 2 Hz-wide rhythms (10-12, 21-23 Hz)",
    "erd_broad": "ERD of broad rhythms (7-14, 16-30 Hz)",
}
_SHIPPED = ("spectral", "temporal", "spatial")
_DATA_DEFAULTS = dict(n_trials=288, n_sessions=2, seed=0)


@dataclass
class Regime:
    """One regime's model, evaluated trials, ground truth and model gate."""

    name: str
    model: object
    trials: object
    truth: object
    trial_index: np.ndarray
    dataset_params: dict
    source: str
    gate: dict
    setup: dict = field(default_factory=dict)

    @property
    def y(self):
        return self.trials.y

    @property
    def class_names(self):
        return self.trials.class_names


def resolve_regimes(regimes):
    """``{name: simulation arguments}`` from names of :data:`BENCHMARK_REGIMES` or a dict."""
    from ..data.simulate import simulate_bcic_iv_2a

    if regimes is None:
        return {k: dict(v) for k, v in BENCHMARK_REGIMES.items()}
    if isinstance(regimes, str):
        regimes = [regimes]
    if isinstance(regimes, dict):
        specs = {str(k): dict(v or {}) for k, v in regimes.items()}
    else:
        specs = {}
        for name in dict.fromkeys(regimes):
            if name not in BENCHMARK_REGIMES:
                raise unknown_name("regime", name, tuple(BENCHMARK_REGIMES))
            specs[name] = dict(BENCHMARK_REGIMES[name])
    if not specs:
        raise InvalidInputError("regimes must name at least one simulation regime.")
    allowed = set(inspect.signature(simulate_bcic_iv_2a).parameters) - {"verbose"}
    for name, spec in specs.items():
        bad = sorted(set(spec) - allowed)
        if bad:
            raise UnknownNameError(
                f"Regime {name!r} sets {bad[0]!r}, which is no argument of "
                f"simulate_bcic_iv_2a; its arguments are {', '.join(sorted(allowed))}.")
        # the cheapest simulation validates every value now, before any model is trained
        probe = {**_DATA_DEFAULTS, **spec, "n_sessions": 1, "n_trials": 4}
        simulate_bcic_iv_2a(**probe, verbose=False)
    return specs


def _evaluated_subset(test, n_trials, seed):
    """``n_trials`` held-out trials, balanced over classes (seeded), in session order."""
    from .._core.stats import balanced_subset

    per = -(-n_trials // len(test.class_names))  # classes take turns: some give one more
    short = [c for k, c in enumerate(test.class_names) if np.sum(test.y == k) < per]
    if n_trials > len(test.y) or short:
        raise InvalidInputError(
            f"n_trials={n_trials} needs {per} held-out trials of every class; the held-out "
            f"session has {len(test.y)} trials ({np.bincount(test.y).tolist()} per class); "
            "lower n_trials.")
    return balanced_subset(test.y, n_trials, seed=seed)


def _shipped_model(name, checkpoint):
    from ..models.pretrained import SHIPPED, load_pretrained, shipped_checkpoint_dir

    ckpt = str(checkpoint)
    if ckpt in SHIPPED and not (shipped_checkpoint_dir(ckpt) / "params.safetensors").is_file():
        raise DataNotAvailableError(
            f"The shipped checkpoint {ckpt!r} for the {name!r} regime is not installed. Train "
            f"it with neuroxai.models.train_default_checkpoint(regime={name!r}), or pass "
            "checkpoints={regime: <checkpoint directory>}.")
    model, _, meta = load_pretrained(ckpt, verbose=False)
    dparams = dict((meta or {}).get("dataset_params") or {})
    if not dparams:
        raise InvalidInputError(
            f"Checkpoint {ckpt!r} has no 'dataset_params' in its metadata.json; the benchmark "
            "regenerates the model's simulated data from them.")
    return model, dparams, ckpt


def _train_model(name, dparams, cache_dir):
    """ShallowFBCSPNet trained with the shipped recipe on session ``"0train"`` (seeded)."""
    import torch

    from .._core.random import seeded
    from ..data.simulate import simulate_bcic_iv_2a
    from ..models import build_model, fit_classifier, load_pretrained, save_checkpoint
    from ..models.train import DEFAULT_RECIPE

    recipe = {k: DEFAULT_RECIPE[k] for k in ("model_class", "fit")}
    # the key changes with the data, the recipe, torch and the training code itself
    key = hashlib.sha1(json.dumps([dparams, recipe, torch.__version__,
                                   inspect.getsource(fit_classifier)], sort_keys=True,
                                  default=str).encode()).hexdigest()[:12]
    path = None
    if cache_dir is not None:
        path = Path(get_cache_dir(cache_dir)) / "xai_benchmark" / f"{name}_{key}"
        if (path / "params.safetensors").is_file():
            model, _, _ = load_pretrained(str(path), verbose=False)
            return model, f"trained here (cached {path.name})"
    t0 = time.perf_counter()
    sim = simulate_bcic_iv_2a(**dparams, verbose=False)
    train = sim.trials.select("0train")
    kwargs = dict(n_chans=train.X.shape[1], n_outputs=len(train.class_names),
                  n_times=train.X.shape[2], final_conv_length="auto")
    with seeded(recipe["fit"]["seed"]):  # the initial weights; global state left as it was
        model = build_model(recipe["model_class"], **kwargs)
    model, history = fit_classifier(model, train, verbose=False, **recipe["fit"])
    logger.info(f"{name}: trained {recipe['model_class']} in {time.perf_counter() - t0:.0f} s")
    if path is not None:
        save_checkpoint(model, path, history, dict(
            model_class=recipe["model_class"], model_kwargs=kwargs, dataset_params=dparams,
            fit_params=recipe["fit"], class_names=list(train.class_names)))
    return model.eval(), "trained here (seeded, shipped recipe)"


def load_regime(name, spec, checkpoint, n_trials, seed, alpha, batch_size, cache_dir):
    """The model, the evaluated held-out trials and the model gate of one regime."""
    from ..data.simulate import REGIME_ALIASES, simulate_bcic_iv_2a
    from ..models import evaluate_classifier
    from ..models.pretrained import checkpoint_name_for_regime

    t0, c0 = time.perf_counter(), time.process_time()
    if checkpoint is None and name in _SHIPPED and spec == BENCHMARK_REGIMES[name]:
        checkpoint = checkpoint_name_for_regime(name)
    if checkpoint is not None:
        model, dparams, source = _shipped_model(name, checkpoint)
        wanted = REGIME_ALIASES.get(spec.get("regime"), spec.get("regime"))
        if wanted is not None and dparams.get("regime", wanted) != wanted:
            raise InvalidInputError(
                f"Checkpoint {checkpoint!r} was trained on the {dparams['regime']!r} regime, "
                f"not {wanted!r}.")
    else:
        dparams = {**_DATA_DEFAULTS, **spec}
        model, source = _train_model(name, dparams, cache_dir)
    sim = simulate_bcic_iv_2a(**dparams, verbose=False)
    test = sim.trials.select("1test")
    # the model gate: held-out accuracy, chance level, one-sided binomial p-value
    gate = evaluate_classifier(model, test, batch_size=batch_size, alpha=alpha, verbose=False)
    idx = _evaluated_subset(test, n_trials, seed)
    setup = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
    logger.info(f"{name}: {source}; held-out accuracy {gate['accuracy']:.2f} (chance "
                f"{gate['chance']:.2f}, p {gate['p_value']:.2g}); setup {setup['wall_s']:.0f} s")
    return Regime(name=name, model=model.eval(), trials=test.select(idx=idx),
                  truth=sim.ground_truth, trial_index=idx, dataset_params=dparams,
                  source=source, gate=gate, setup=setup)
