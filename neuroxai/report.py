"""The one-command attribution audit: every figure, its tables, an ``mne.Report``.

Thin by design: it calls the public API in the order a tutorial would.
"""
from __future__ import annotations

import contextlib
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._utils import InvalidInputError, logger, unknown_name, verbose

#: Methods of the default audit (fast ones; any registered name can be passed).
DEFAULT_METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "deeplift",
                   "gradient_shap", "envelope")
#: Lighter parameters so that the default audit fits in about a minute on 2 CPU cores.
AUDIT_METHOD_PARAMS = {
    "integrated_gradients": {"n_steps": 8},
    "gradient_shap": {"n_baselines": 4, "n_samples": 8},
    "deeplift_shap": {"n_baselines": 4},
    "smoothgrad": {"nt_samples": 4},
    "vargrad": {"nt_samples": 4},
}
DATASETS = ("simulated", "BNCI2014_001", "PhysionetMI")
#: Trials per attribution batch in the audit. Path methods (IG, GradientSHAP) run
#: n_steps x batch trials at once: below 32 the speed hardly changes, the memory does.
BATCH = 8


@dataclass
class AuditResult:
    """What :func:`run_audit` produced."""

    out_dir: Path
    report_path: Path
    figures: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def _peak_rss_mib():
    """Peak resident memory of this process so far (Linux: KiB; macOS: bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 ** 2 if platform.system() == "Darwin" else 1024.0)


@contextlib.contextmanager
def _frozen_gc():
    """Objects that exist now are left out of the cyclic garbage collector until the end."""
    import gc

    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _release_free_memory():
    """Hand the allocator's free pages back to the OS between steps (glibc only).

    Each step frees what it built, but glibc keeps freed heap pages mapped; without this the
    resident size ratchets up step after step although the live data does not.
    """
    import gc

    gc.collect()  # matplotlib figures and autograd graphs hold reference cycles
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _balanced_subset(y, n, seed):
    """Indices of ``n`` trials, as balanced over classes as possible, in their original order."""
    rng = np.random.default_rng(seed)
    if n is None or n >= len(y):
        return np.arange(len(y))
    classes = np.unique(y)
    per = {c: rng.permutation(np.flatnonzero(y == c)) for c in classes}
    picked, k = [], 0
    while len(picked) < n:
        c = classes[k % len(classes)]
        pos = k // len(classes)
        if pos < len(per[c]):
            picked.append(per[c][pos])
        k += 1
    return np.sort(np.array(picked))


def _load(dataset, subject, checkpoint, seed, say):
    """Trials (held-out), model, ground truth (simulated only), description."""
    from .data import load_moabb, simulate_bcic_iv_2a
    from .models import DEFAULT_CHECKPOINT, build_model, fit_classifier, load_pretrained

    if dataset == "simulated":
        model, _, meta = load_pretrained(checkpoint or DEFAULT_CHECKPOINT, verbose=False)
        params = meta.get("dataset_params", dict(regime="spectral", snr=0.7, seed=0))
        sim = simulate_bcic_iv_2a(**params, verbose=False)
        test = sim.trials.select(meta.get("test_session", "1test"))
        desc = (f"simulated BCI IV 2a ({params.get('regime')} regime, snr {params.get('snr')}), "
                f"held-out session {meta.get('test_session', '1test')}")
        return test, model, sim.ground_truth, desc, checkpoint or DEFAULT_CHECKPOINT
    task = None
    trials = load_moabb(dataset, subject=subject, task=task, as_trials=True, verbose=False)
    if dataset == "BNCI2014_001":
        test = trials.select("1test") if "1test" in trials.sessions else trials
        ckpt = checkpoint or "braindecode/plot_bcic_iv_2a_moabb_trial"
        model, _, _ = load_pretrained(ckpt, verbose=False)
        return test, model, None, f"BNCI2014_001 subject {subject}, session 1test", ckpt
    # PhysionetMI: no public pretrained model; a demo model trained on 2/3 of the trials
    if checkpoint:
        model, _, _ = load_pretrained(checkpoint, verbose=False)
        return trials, model, None, f"{dataset} subject {subject}", checkpoint
    n = len(trials)
    order = np.random.default_rng(seed).permutation(n)
    train_idx, test_idx = np.sort(order[: 2 * n // 3]), np.sort(order[2 * n // 3:])
    train, test = trials.select(idx=train_idx), trials.select(idx=test_idx)
    import torch

    torch.manual_seed(seed)
    model = build_model("ShallowFBCSPNet", n_chans=train.X.shape[1],
                        n_outputs=len(train.class_names), n_times=train.X.shape[2],
                        final_conv_length="auto")
    say(f"training a demo ShallowFBCSPNet on {len(train)} {dataset} trials")
    model, _ = fit_classifier(model, train.X, train.y, n_epochs=30, batch_size=16, seed=seed,
                              progress=False, verbose=False)
    return test, model, None, (f"{dataset} subject {subject}: demo model trained on "
                               f"{len(train)} trials, audited on the other {len(test)}"), \
        "trained in the audit (demo)"


@verbose
def run_audit(dataset="simulated", subject=1, checkpoint=None, methods=None, n_trials=64,
              out_dir="neuroxai_report", seed=0, encoder=True, igc=True, n_sanity_trials=12,
              progress=True, verbose=None):
    """Run the whole attribution audit and write an HTML report with its figures and tables.

    Steps, in the order of braindecode's tutorial and beyond: load data and model, accuracy,
    amplitude gradients and Haufe patterns (band x class topomaps), per-trial attributions
    of each method (agreement), randomisation sanity checks (label, cascading, full reset),
    metrics (ground truth on simulated data), Integrated Gradient Correlation, a CEBRA-style
    encoder's Jacobian pseudo-inverse maps, and a plain-language summary.

    Parameters
    ----------
    dataset : ``"simulated"`` | ``"BNCI2014_001"`` | ``"PhysionetMI"``
    subject : int
        Subject of a real dataset.
    checkpoint : str | None
        Shipped name, checkpoint directory or Hugging Face repo. Default: the shipped
        checkpoint (simulated), braindecode's tutorial repo (BNCI2014_001), a demo model
        trained here (PhysionetMI).
    methods : sequence of str | None
        Registered attribution methods (default :data:`DEFAULT_METHODS`).
    n_trials : int | None
        Held-out trials audited (balanced subset; all trials score the accuracy).
    n_sanity_trials : int
        Trials (the first of the audited subset, balanced) for the randomisation checks,
        which recompute every map once per randomised model.
    out_dir : path-like
    seed : int
    encoder, igc : bool
        Include the CEBRA-style encoder maps / Integrated Gradient Correlation.
    progress : bool
        Print one line per step.
    %(verbose)s

    Returns
    -------
    result : AuditResult
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mne
    import pandas as pd

    from . import attribution as A
    from . import metrics as M
    from . import sanity as S
    from . import viz as V
    from .attribution.methods import get_method
    from .models import accuracy, check_model_outputs

    if dataset not in DATASETS:
        raise unknown_name("dataset", dataset, DATASETS)
    methods = list(methods or DEFAULT_METHODS)
    for m in methods:
        get_method(m)  # unknown names fail before any work, with the valid list
    if not methods:
        raise InvalidInputError("methods must name at least one attribution method.")
    t_start = time.perf_counter()
    timings = {}
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    tab_dir = out_dir / "tables"
    fig_dir.mkdir(parents=True, exist_ok=True)
    tab_dir.mkdir(parents=True, exist_ok=True)
    tic = [time.perf_counter()]

    def say(msg):
        if progress:
            print(f"[{time.perf_counter() - t_start:6.1f} s] {msg}", flush=True)
        logger.info(msg)

    def step(name):
        now = time.perf_counter()
        timings[name] = round(now - tic[0], 2)
        tic[0] = now
        _release_free_memory()

    test, model, truth, data_desc, ckpt = _load(dataset, subject, checkpoint, seed, say)
    # the collections between steps only look at what the audit allocates, not at the
    # ~10^6 objects of torch, mne and braindecode (0.3 s a collection otherwise)
    with _frozen_gc():
        check_model_outputs(model, test.X.shape[1], test.X.shape[2], len(test.class_names))
        acc = accuracy(model, test.X, test.y)
        sub = test.select(idx=_balanced_subset(test.y, n_trials, seed))
        X, y, info, names = sub.X, sub.y, sub.info, list(sub.class_names)
        say(f"{data_desc}: {len(test)} trials, accuracy {acc:.3f}; auditing {len(sub)} trials")
        step("load")

        figures, tables, captions = {}, {}, {}

        def save_fig(key, fig, caption):
            path = fig_dir / f"{key}.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)  # the report embeds the PNG; a kept figure only holds memory
            del fig
            _release_free_memory()  # a closed figure is a reference cycle: free it now
            figures[key] = path
            captions[key] = caption

        # 1-2. spectral amplitude gradients + Haufe patterns, on every held-out trial: a
        # dataset-level figure (the patterns need the trials' covariance)
        # small batches: the vmapped backward holds n_classes copies of the activations
        grads = A.compute_amplitude_gradients(model, test, batch_size=4, class_names=names,
                                              verbose=False)
        patterns = A.compute_haufe_patterns(grads, test, verbose=False)
        mean_grads = A.Attribution(grads.data.mean(axis=1), ("class", "chan", "freq"), info,
                                   "amplitude_gradients_mean", coords=grads.coords)
        save_fig("amplitude_gradients", V.plot_band_topomaps(
            mean_grads, title="Mean amplitude gradients", unit="∂score/∂amplitude", show=False),
            "Mean gradient of each class score w.r.t. the amplitude spectrum, per band.")
        save_fig("haufe_patterns", V.plot_haufe_patterns(patterns, show=False),
                 "Haufe patterns (covariance x class-centred mean gradient) per band and class.")
        np.savez_compressed(out_dir / "spectral_attributions.npz",
                            amplitude_gradients_mean=mean_grads.data, haufe_patterns=patterns.data,
                            freqs=grads.coords["freq"], ch_names=np.array(test.info.ch_names),
                            class_names=np.array(names))
        del grads
        n_test = len(test)
        test = None  # the later steps use the audited subset only
        say(f"amplitude gradients and Haufe patterns ({n_test} trials)")
        step("spectral")

        # 3. per-trial attributions
        maps = {}
        for m in methods:
            maps[m] = A.attribute(model, X, y, method=m, batch_size=BATCH, y=y, class_names=names,
                                  info=info, tmin=sub.tmin, **AUDIT_METHOD_PARAMS.get(m, {}),
                                  verbose=False)
        save_fig("method_agreement", V.plot_method_agreement(maps, info=info, show=False),
                 "Mean |attribution| per channel over methods, and how much the methods agree.")
        say(f"attributions: {', '.join(methods)}")
        step("attributions")

        # 4. sanity checks
        results = []
        s_idx = _balanced_subset(y, n_sanity_trials, seed)
        Xs, ys = X[s_idx], y[s_idx]
        for m in methods:
            params = AUDIT_METHOD_PARAMS.get(m, {})
            # the trained model's maps of these trials were computed above
            ref = maps[m].data[s_idx]
            results.append(S.label_randomization(model, Xs, ys, method=m, method_params=params,
                                                 batch_size=BATCH, seed=seed, reference=ref,
                                                 progress=False, verbose=False))
            results.append(S.cascading_randomization(model, Xs, ys, method=m, method_params=params,
                                                     batch_size=BATCH, seed=seed, reference=ref,
                                                     progress=False, verbose=False))
        save_fig("sanity_checks", V.plot_sanity_checks(results, show=False),
                 "Randomisation checks: a trustworthy method's maps change (similarity < 0.5) when "
                 "the labels or the weights are randomised.")
        sanity_rows = []
        for r in results:
            s = r.summary()
            s.insert(0, "method", r.method)
            s.insert(1, "test", r.test)
            sanity_rows.append(s)
        tables["sanity"] = pd.concat(sanity_rows, ignore_index=True)
        say(f"sanity checks on {len(s_idx)} trials")
        step("sanity")

        # 5. metrics: ground truth on simulated data, else similarity to the method consensus
        if truth is not None:
            rows = {}
            for m, a in maps.items():
                if a.dims[-1] != "time":
                    continue
                # relevance = |attribution| (absolute=True)
                gt = M.compute_ground_truth_metrics(a.data, truth.chan_time, y=y, verbose=False)
                rows[m] = gt.mean(numeric_only=True)
            tables["metrics"] = pd.DataFrame(rows).T
            metric_caption = ("Agreement with the simulator's ground truth (channel x time masks "
                              "of each trial's class); ranks per metric, 1 = best.")
        else:
            consensus = np.mean([np.abs(a.data) / (np.abs(a.data).max() + 1e-30)
                                 for a in maps.values() if a.dims[-1] == "time"], axis=0)
            rows = {}
            for m, a in maps.items():
                if a.dims[-1] != "time":
                    continue
                sc = M.compute_metrics(np.abs(a.data), consensus,
                                       metrics=["Spearman", "Spearman_abs"], verbose=False)
                rows[m] = sc.mean(numeric_only=True)
            tables["metrics"] = pd.DataFrame(rows).T
            metric_caption = ("No ground truth on real data: rank agreement with the methods' "
                              "consensus.")
        save_fig("metric_table", V.plot_metric_table(tables["metrics"], show=False), metric_caption)
        if truth is not None:
            save_fig("ground_truth", V.plot_ground_truth_comparison(
                {m: a for m, a in maps.items() if a.dims[-1] == "time"}, truth, info=info,
                class_index=names.index("left_hand") if "left_hand" in names else 0, y=y,
                show=False), "Each method's map next to the simulated ground truth (left hand).")
        say("metrics")
        del maps  # the remaining steps compute their own
        step("metrics")

        # 6. IGC
        if igc:
            from .attribution.igc import compute_igc, compute_igc_roi_sums

            igc_t = compute_igc(model, sub, n_baselines=8, n_steps=8, batch_size=16, seed=seed,
                                class_names=names, verbose=False)
            # baselines drawn from the data: from zero amplitudes the log-power path integral
            # is nearly singular at its start and 8 steps are far from enough
            igc_f = compute_igc(model, sub, n_baselines=2, n_steps=8, batch_size=16, seed=seed,
                                class_names=names, domain="spectral", verbose=False)
            save_fig("igc_time", V.plot_igc_topomaps(igc_t, show=False),
                     "Integrated Gradient Correlation (time domain), summed over time: the maps "
                     "add up to each class's output-target correlation.")
            save_fig("igc_spectral", V.plot_igc_topomaps(igc_f, show=False),
                     "Spectral IGC per band: the channel x band cells and the phase term R (what "
                     "the trials' phases alone carry) add up to the correlation.")
            tables["igc_roi"] = compute_igc_roi_sums(igc_f, bands={"mu": (8, 13), "beta": (14, 30)})
            say("integrated gradient correlation")
            step("igc")

        # 7. CEBRA-style encoder
        if encoder:
            from .attribution.jacobian import jacobian_pinv_map
            from .models.encoder import train_encoder

            enc, _ = train_encoder(sub, n_latents=4, n_steps=40, seed=seed, verbose=False)
            jac = jacobian_pinv_map(enc, X[: min(len(X), 32)], info=info, verbose=False)
            save_fig("jacobian_maps", V.plot_jacobian_maps(jac.pinv, info=info, show=False),
                     "Pseudo-inverse Jacobian maps of a small contrastive (CEBRA-style) encoder "
                     "trained here for a few steps: one map per latent.")
            say("encoder Jacobian maps")
            step("encoder")

        # tables as CSV
        for key, df in tables.items():
            df.to_csv(tab_dir / f"{key}.csv")

        # plain-language summary
        verdicts = []
        for r in results:
            test_name = r.test
            verdicts.append((r.method, test_name, r.verdict))
        lines = []
        for m in methods:
            mine = {t: v for mm, t, v in verdicts if mm == m}
            ok = all(v == "PASS" for v in mine.values())
            failed = [t for t, v in mine.items() if v != "PASS"]
            lines.append(f"<li><b>{m}</b>: " + ("passes every randomisation check." if ok else
                         "fails " + ", ".join(failed) + " — its map does not depend enough on "
                         "what it claims to explain.") + "</li>")
        import braindecode
        import torch

        versions = {"neuroxai": __import__("neuroxai").__version__, "mne": mne.__version__,
                    "braindecode": braindecode.__version__, "torch": torch.__version__,
                    "numpy": np.__version__, "python": platform.python_version()}
        summary = dict(dataset=dataset, data=data_desc, checkpoint=str(ckpt), accuracy=acc,
                       n_trials_audited=len(sub), methods=methods, seed=seed,
                       method_params={m: AUDIT_METHOD_PARAMS.get(m, {}) for m in methods},
                       verdicts=[dict(method=m, test=t, verdict=v) for m, t, v in verdicts],
                       versions=versions)

        # the HTML report
        # PNG rather than MNE's default WebP: every browser and image viewer shows it the same
        report = mne.Report(title="neuroxai attribution audit", image_format="png", verbose=False)
        report.add_html(
            f"<p>{data_desc}. Model: <code>{type(model).__name__}</code> ({ckpt}); accuracy on "
            f"{n_test} held-out trials: <b>{acc:.3f}</b> (chance {1 / len(names):.2f}). "
            f"Audited: {len(sub)} trials, methods {', '.join(methods)}.</p>"
            f"<h4>Can these maps be trusted?</h4><ul>{''.join(lines)}</ul>",
            title="Summary", section="Summary")
        for key in figures:
            # the PNG written above, embedded as is: re-rendering constrained-layout topomap
            # grids through add_figure() shears them
            report.add_image(fig_dir / f"{key}.png", title=key.replace("_", " ").capitalize(),
                             caption=captions[key], section="Figures")
        for key, df in tables.items():
            report.add_html(df.to_html(float_format=lambda v: f"{v:.3g}", border=0),
                            title=f"Table: {key}", section="Tables")
        report.add_html("<pre>" + json.dumps({k: v for k, v in summary.items() if k != "verdicts"},
                                             indent=1, default=str) + "</pre>",
                        title="Versions and parameters", section="Provenance")
        report_path = out_dir / "report.html"
        report.save(report_path, overwrite=True, open_browser=False, verbose=False)
        step("report")
        summary["timings_s"] = timings
        summary["seconds"] = round(time.perf_counter() - t_start, 2)
        summary["peak_rss_mib"] = round(_peak_rss_mib(), 1)
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
        say(f"report written to {report_path.resolve()}")
        return AuditResult(out_dir, report_path, {k: fig_dir / f"{k}.png" for k in figures},
                           tables, summary, timings)
