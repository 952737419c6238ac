"""The attribution-method registry, the context a method runs in, shared parameter checks
and the guard that names a library failure."""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .._core.validation import check_int
from .._utils import (
    MethodUndefinedError,
    NeuroXAIError,
    ShapeError,
    check_finite,
    unknown_name,
    warn_degenerate,
)

_DIMS = ("trial", "chan", "time")


@dataclass(frozen=True)
class AttributionMethod:
    """A registered attribution method.

    Attributes
    ----------
    name : str
        Name passed as ``attribute(..., method=name)``.
    description : str
        One line on what the map is.
    engine : str
        The library class doing the work (or ``"neuroxai"``).
    defaults : dict
        Method parameters and their defaults (pass them to :func:`attribute` as
        keyword arguments).
    stochastic : bool
        Whether the result depends on ``seed`` (and on how trials are batched).
    """

    name: str
    description: str
    engine: str
    defaults: dict
    setup: Callable = field(repr=False, compare=False)
    stochastic: bool = False

    @property
    def params(self):
        return dict(self.defaults)


METHODS: dict = {}


def _register(name, description, engine, defaults=None, stochastic=False):
    def deco(setup):
        METHODS[name] = AttributionMethod(
            name=name, description=description, engine=engine,
            defaults=dict(defaults or {}), setup=setup, stochastic=stochastic,
        )
        return setup
    return deco


def list_methods(params=False):
    """List the attribution methods.

    Parameters
    ----------
    params : bool
        If True, return ``{name: {param: default}}`` instead of the names.

    Returns
    -------
    names : list of str | dict
        Sorted method names, or their parameters with defaults.
    """
    if params:
        return {n: dict(METHODS[n].defaults) for n in sorted(METHODS)}
    return sorted(METHODS)


def get_method(name):
    """Return the :class:`AttributionMethod` called ``name``.

    Raises :class:`~neuroxai.UnknownNameError` listing the valid names.
    """
    if not isinstance(name, str) or name not in METHODS:
        raise unknown_name("attribution method", name, METHODS)
    return METHODS[name]


# --------------------------------------------------------------------------------------
# Execution context
# --------------------------------------------------------------------------------------
@dataclass
class _Context:
    model: nn.Module
    X: np.ndarray
    device: torch.device
    dtype: torch.dtype
    n_outputs: int
    batch_size: int
    sfreq: float | None = None
    ch_names: list | None = None
    targets: np.ndarray | None = None  # the output explained for each trial

    @property
    def n_trials(self):
        return self.X.shape[0]

    @property
    def n_chans(self):
        return self.X.shape[1]

    @property
    def n_times(self):
        return self.X.shape[2]

    def tensor(self, arr):
        return torch.as_tensor(np.asarray(arr), dtype=self.dtype, device=self.device)


@dataclass
class _Plan:
    fn: Callable  # fn(xb, tb, sl) -> Tensor
    params: dict = field(default_factory=dict)  # resolved parameters (for provenance)
    trials_per_batch: int | None = None
    seed: int | None = None
    dims: tuple = _DIMS
    out_shape: tuple | None = None  # per trial, if not (n_chans, n_times)
    coords: dict = field(default_factory=dict)
    finalize: Callable | None = None


@contextlib.contextmanager
def _quiet_captum():
    # captum announces every hook it sets and that it enables input gradients;
    # these messages are about its internals, not the user's data.
    with warnings.catch_warnings():
        for msg in (r"Setting forward, backward hooks", r"Setting backward hooks",
                    r"Input Tensor \d+ did not already require", r"Internal batch size",
                    r".*backward hook.*", r"Attempting to normalize"):
            warnings.filterwarnings("ignore", message=msg)
        yield


# --------------------------------------------------------------------------------------
# Parameter helpers
# --------------------------------------------------------------------------------------
def _positive_int(value, name, minimum=1):
    return check_int(value, name, minimum)


def _as_numpy(arr):
    if torch.is_tensor(arr):
        return arr.detach().cpu().numpy()
    return np.asarray(arr)


def _check_baseline(baseline, ctx, name="baseline"):
    """None | float | array (n_chans, n_times) | (n_trials, n_chans, n_times)."""
    if baseline is None:
        return None, "zeros"
    if torch.is_tensor(baseline):
        baseline = baseline.detach().cpu().numpy()
    if np.ndim(baseline) == 0:
        value = float(baseline)
        check_finite(np.array(value), name)
        return value, value
    arr = _as_numpy(baseline)
    shape_ok = (arr.shape == (ctx.n_chans, ctx.n_times)
                or arr.shape == (1, ctx.n_chans, ctx.n_times)
                or arr.shape == (ctx.n_trials, ctx.n_chans, ctx.n_times))
    if not shape_ok:
        raise ShapeError(
            f"{name} has shape {arr.shape}; it must be a scalar, (n_chans, n_times) = "
            f"{(ctx.n_chans, ctx.n_times)} (one reference for all trials) or (n_trials, "
            f"n_chans, n_times) = {(ctx.n_trials, ctx.n_chans, ctx.n_times)} (one per trial)."
        )
    check_finite(arr, name)
    arr = arr.reshape((-1, ctx.n_chans, ctx.n_times))
    return arr, f"array{arr.shape}"


def _baseline_batch(baseline, ctx, xb, sl):
    if baseline is None:
        return torch.zeros_like(xb)
    if isinstance(baseline, float):
        return torch.full_like(xb, baseline)
    if baseline.shape[0] == 1:
        return ctx.tensor(baseline).expand_as(xb).contiguous()
    return ctx.tensor(baseline[sl])


def _reference_set(ctx, params):
    """Baselines for the SHAP variants: given, or drawn from the trials (seeded)."""
    baselines = params.get("baselines")
    if baselines is not None:
        arr = _as_numpy(baselines)
        if arr.ndim != 3 or arr.shape[1:] != (ctx.n_chans, ctx.n_times) or len(arr) < 1:
            raise ShapeError(
                f"baselines has shape {arr.shape}; it must be (n_baselines, n_chans, n_times) "
                f"with n_chans, n_times = {(ctx.n_chans, ctx.n_times)}."
            )
        check_finite(arr, "baselines")
        return arr, {"baselines": f"array{arr.shape}", "n_baselines": len(arr)}
    n = _positive_int(params["n_baselines"], "n_baselines")
    seed = params["seed"]
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(ctx.n_trials, size=n, replace=n > ctx.n_trials))
    return ctx.X[idx], {"baselines": "drawn from X", "baseline_trials": idx.tolist()}


def _nonlinear_modules(model):
    from .deeplift import rescale_rule_for

    return [(n, type(m).__name__) for n, m in model.named_modules()
            if n and rescale_rule_for(m) is not None]


def _require_relu(ctx, method):
    relus = [n for n, m in ctx.model.named_modules() if isinstance(m, nn.ReLU)]
    others = [(n, t) for n, t in _nonlinear_modules(ctx.model) if t != "ReLU"]
    listed = ", ".join(f"{n!r} ({t})" for n, t in others) or "none found"
    if not relus:
        raise MethodUndefinedError(
            f"{method} is undefined for {type(ctx.model).__name__}: it modifies the backward "
            f"pass of nn.ReLU modules only, and this model has none (its nonlinear layers: "
            f"{listed}). Here it would equal method='gradient'; use that, or 'deeplift' / "
            "'integrated_gradients'."
        )
    if others:
        warn_degenerate(
            f"{method}: only the nn.ReLU layers of {type(ctx.model).__name__} are modified; "
            f"the plain gradient passes through {listed}."
        )


_LIBRARY_ERRORS = (RuntimeError, ValueError, TypeError, IndexError, AssertionError,
                   NotImplementedError)


def _undefined(method, ctx, err, hint):
    return MethodUndefinedError(
        f"{method} failed on {type(ctx.model).__name__}: {type(err).__name__}: {err}. "
        f"{hint}")


def _guard(plan, method, ctx, hint="Try method='integrated_gradients' or 'occlusion', which "
           "only run the model's own forward and backward passes."):
    """Turn a library error inside a batch (captum's hooks on a model they do not fit,
    an in-place operation, ...) into a MethodUndefinedError that says which method and
    model and what to use instead; neuroxai's own errors pass unchanged."""
    fn = plan.fn

    def run(xb, tb, sl):
        try:
            return fn(xb, tb, sl)
        except NeuroXAIError:
            raise
        except _LIBRARY_ERRORS as err:
            raise _undefined(method, ctx, err, hint) from err
    plan.fn = run
    return plan


