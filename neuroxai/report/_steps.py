"""The audit's steps, in the order of braindecode's interpretability tutorial and beyond.

Each step is a function of the audit context (:class:`~neuroxai.report._audit.Audit`): it
calls the public API, saves its figures and tables through the context, and frees what
the later steps do not need.
"""
from __future__ import annotations

import numpy as np

#: Methods of the default audit (fast ones; any registered name can be passed).
DEFAULT_METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "deeplift",
                   "gradient_shap", "envelope")
#: Lighter parameters so that the default audit fits in about a minute on 2 CPU cores.
AUDIT_METHOD_PARAMS = {
    "integrated_gradients": {"n_steps": 64},
    "gradient_shap": {"n_baselines": 4, "n_samples": 8},
    "deeplift_shap": {"n_baselines": 4},
    "smoothgrad": {"nt_samples": 4},
    "vargrad": {"nt_samples": 4},
}
#: Trials per attribution batch. Path methods (IG, GradientSHAP) run n_steps x batch trials
#: at once: below 32 the speed hardly changes, the memory does.
BATCH = 8


def _bands(sfreq):
    """The tutorial's mu and beta bands, where the data reach them (inclusive edges, Hz)."""
    return {k: v for k, v in {"mu": (8.0, 13.0), "beta": (14.0, 30.0)}.items()
            if v[1] <= sfreq / 2}


def spectral(ctx):
    """Amplitude gradients and Haufe patterns over every held-out trial (band x class maps)."""
    from .. import attribution as A
    from .. import viz as V

    test = ctx.source.trials
    # small batches: the vmapped backward holds n_classes copies of the activations
    grads = A.compute_amplitude_gradients(ctx.model, test, batch_size=4,
                                          class_names=ctx.class_names, verbose=False)
    patterns = A.compute_haufe_patterns(grads, test, verbose=False)
    mean_grads = grads.mean("trial")
    ctx.save_fig("amplitude_gradients", V.plot_band_topomaps(
        mean_grads, bands=ctx.bands, title="Mean amplitude gradients",
        unit="∂score/∂amplitude", show=False),
        "Mean gradient of each class score w.r.t. the amplitude spectrum, per band.")
    ctx.save_fig("haufe_patterns", V.plot_haufe_patterns(patterns, bands=ctx.bands, show=False),
                 "Haufe patterns (covariance x class-centred mean gradient) per band and class.")
    mean_grads.save(ctx.out / "amplitude_gradients-attr.npz")
    patterns.save(ctx.out / "haufe_patterns-attr.npz")
    ctx.say(f"amplitude gradients and Haufe patterns ({len(test)} trials)")


def attributions(ctx):
    """Per-trial maps of every method on the audited subset, and how much they agree."""
    from .. import attribution as A
    from .. import viz as V

    ctx.maps = {m: A.attribute(ctx.model, ctx.sub, target="labels", method=m, batch_size=BATCH,
                               class_names=ctx.class_names, verbose=False,
                               **AUDIT_METHOD_PARAMS.get(m, {})) for m in ctx.methods}
    ctx.save_fig("method_agreement", V.plot_method_agreement(ctx.maps, show=False),
                 "Mean |attribution| per channel over methods, and how much the methods agree.")
    ctx.say(f"attributions: {', '.join(ctx.methods)}")


def sanity(ctx):
    """Label and cascading randomisation of every method (reusing the trained model's maps)."""
    import pandas as pd

    from .. import sanity as S
    from .. import viz as V
    from .._core.stats import balanced_subset

    idx = balanced_subset(ctx.sub.y, ctx.n_sanity_trials, ctx.seed)
    trials = ctx.sub.select(idx=idx)
    ctx.results = []
    for m in ctx.methods:
        kw = dict(method=m, method_params=AUDIT_METHOD_PARAMS.get(m, {}), batch_size=BATCH,
                  seed=ctx.seed, reference=ctx.maps[m].data[idx],
                  verbose="error",  # the gate was said once at loading; verdicts go to the report
                  **ctx.sanity_gate_kwargs())
        ctx.results.append(S.label_randomization(ctx.model, trials, "labels", **kw))
        ctx.results.append(S.cascading_randomization(ctx.model, trials, "labels", **kw))
    ctx.save_fig("sanity_checks", V.plot_sanity_checks(ctx.results, show=False),
                 "Randomisation checks: a trustworthy method's maps change when the labels or "
                 "the weights are randomised. Passing is necessary, not sufficient.")
    rows = []
    for r in ctx.results:
        s = r.summary()
        s.insert(0, "method", r.method)
        s.insert(1, "test", r.test)
        rows.append(s)
    ctx.tables["sanity"] = pd.concat(rows, ignore_index=True)
    ctx.say(f"sanity checks on {len(idx)} trials")


def metrics(ctx):
    """Ground-truth agreement on simulated data; else agreement with the methods' consensus."""
    import pandas as pd

    from .. import metrics as M
    from .. import viz as V

    timed = {m: a for m, a in ctx.maps.items() if a.dims[-1] == "time"}
    truth = ctx.source.truth
    rows = {}
    if truth is not None:
        for m, a in timed.items():
            rows[m] = M.compute_ground_truth_metrics(a.data, truth.chan_time, y=ctx.sub.y,
                                                     verbose=False).mean(numeric_only=True)
        caption = ("Agreement with the simulator's ground truth (channel x time masks of each "
                   "trial's class); ranks per metric, 1 = best.")
    else:
        consensus = np.mean([np.abs(a.data) / (np.abs(a.data).max() + 1e-30)
                             for a in timed.values()], axis=0)
        for m, a in timed.items():
            rows[m] = M.compute_metrics(np.abs(a.data), consensus,
                                        metrics=["Spearman", "Spearman_abs"],
                                        verbose=False).mean(numeric_only=True)
        caption = "No ground truth on real data: rank agreement with the methods' consensus."
    ctx.tables["metrics"] = pd.DataFrame(rows).T
    ctx.save_fig("metric_table", V.plot_metric_table(ctx.tables["metrics"], show=False), caption)
    if truth is not None:
        names = ctx.class_names
        ctx.save_fig("ground_truth", V.plot_ground_truth_comparison(
            timed, truth, class_index=names.index("left_hand") if "left_hand" in names else 0,
            y=ctx.sub.y, show=False),
            "Each method's map next to the simulated ground truth (left hand).")
    ctx.maps = None  # the remaining steps compute their own
    ctx.say("metrics")


def igc(ctx):
    """Integrated Gradient Correlation in time and per band."""
    from .. import viz as V
    from ..attribution.igc import compute_igc, compute_igc_roi_sums

    kw = dict(batch_size=16, seed=ctx.seed, class_names=ctx.class_names, verbose=False)
    igc_t = compute_igc(ctx.model, ctx.sub, n_baselines=8, n_steps=8, **kw)
    # baselines drawn from the data: from zero amplitudes the log-power path integral is
    # nearly singular at its start and 8 steps are far from enough
    igc_f = compute_igc(ctx.model, ctx.sub, n_baselines=2, n_steps=8, domain="spectral", **kw)
    ctx.save_fig("igc_time", V.plot_igc_topomaps(igc_t, show=False),
                 "Integrated Gradient Correlation (time domain), summed over time: the maps add "
                 "up to each class's output-target correlation.")
    ctx.save_fig("igc_spectral", V.plot_igc_topomaps(igc_f, bands=ctx.bands, show=False),
                 "Spectral IGC per band: the channel x band cells and the phase term R (what "
                 "the trials' phases alone carry) add up to the correlation.")
    ctx.tables["igc_roi"] = compute_igc_roi_sums(igc_f, bands=ctx.bands)
    ctx.say("integrated gradient correlation")


def encoder(ctx):
    """A CEBRA-style contrastive encoder (the shipped one on the simulated dataset, else one
    trained here for a few steps) and its Jacobian maps."""
    from .. import viz as V
    from ..attribution import compute_jacobian_pinv_maps
    from ._sources import shipped_encoder

    params = ctx.source.dataset_params
    enc = shipped_encoder(params) if params is not None else None
    if enc is None:
        from ..models.encoder import train_encoder

        enc, _ = train_encoder(ctx.sub, n_latents=4, n_steps=40, seed=ctx.seed, verbose=False)
        how = "trained here for a few steps"
    else:
        how = "shipped with the package, trained on the simulated training session"
    _, pinv = compute_jacobian_pinv_maps(
        enc, ctx.sub.select(idx=np.arange(min(len(ctx.sub), 32))), verbose=False)
    ctx.save_fig("jacobian_maps", V.plot_jacobian_maps(pinv, show=False),
                 f"Pseudo-inverse Jacobian maps of a small contrastive (CEBRA-style) encoder "
                 f"{how}: one map per latent.")
    ctx.say("encoder Jacobian maps")


STEPS = {"spectral": spectral, "attributions": attributions, "sanity": sanity,
         "metrics": metrics, "igc": igc, "encoder": encoder}
