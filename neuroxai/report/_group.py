"""The group run as one HTML report: subjects -> subject maps -> group statistics -> figures.

Thin by design: :func:`run_group` calls :func:`neuroxai.group.compute_subject_maps` and
:func:`neuroxai.group.compute_group_statistics` and draws with :mod:`neuroxai.viz.group`.
The output folder is all-or-nothing (built beside its place, moved in at the end); the
per-subject cache beside it (``<out>.cache/`` by default) is not: it keeps every finished
subject, so a killed run resumes where it stopped.
"""
from __future__ import annotations

import contextlib
import functools
import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .._core.random import check_seed
from .._core.validation import check_int
from .._utils import InvalidInputError, atomic_directory, check_replaceable_directory, logger
from .._utils import verbose as _verbose
from ._memory import peak_rss_mib

#: What a group run writes into its folder (anything else there is the user's and is kept).
GROUP_OUTPUTS = ("report.html", "summary.json", "figures", "tables", "maps")
#: Subjects of the simulated dataset by default, and trials per simulated subject.
SIMULATED_SUBJECTS = tuple(range(1, 11))
SIMULATED_TRIALS = 48
DEFAULT_GROUP_METHODS = ("igc",)


@dataclass
class GroupRunResult:
    """What :func:`run_group` produced."""

    out_dir: Path
    report_path: Path
    cache_dir: Path
    results: dict = field(default_factory=dict)  # method -> GroupResult
    maps: object = None  # SubjectMaps
    summary: dict = field(default_factory=dict)


def moabb_subject(dataset, subject, task=None, n_trials=None, seed=0):
    """One MOABB subject's trials (a class-balanced subset of ``n_trials`` when given).

    Module-level so that ``functools.partial`` of it pickles to workers and keys the cache.
    """
    from .._core.stats import balanced_subset
    from ..data import load_moabb

    trials = load_moabb(dataset, subjects=int(subject), task=task, as_trials=True,
                        verbose=False)
    if n_trials is not None:
        trials = trials.select(idx=balanced_subset(trials.y, n_trials, seed))
    return trials


@contextlib.contextmanager
def dask_backend(scheduler):
    """joblib's Dask backend on the scheduler at ``scheduler`` (nothing when None)."""
    if scheduler is None:
        yield None
        return
    try:
        from dask.distributed import Client
    except ImportError as err:
        raise InvalidInputError("scheduler= needs dask.distributed: pip install "
                                "'neuroxai[parallel]' (or dask[distributed]).") from err
    import joblib

    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise OSError(f"could not connect to the Dask scheduler at {scheduler!r} "
                      f"({type(err).__name__}: {err}); start one (dask scheduler / "
                      "LocalCluster) or drop --scheduler.") from err
    with client, joblib.parallel_config(backend="dask"):
        logger.info(f"Running the subject jobs on the Dask cluster at {scheduler}")
        yield client


def _source(dataset, subjects, n_trials, task, checkpoint, seed):
    """(``{subject: trials or loader}``, shared model or None, description, notes)."""
    from ..group import simulate_subjects

    if isinstance(dataset, str) and dataset == "simulated":
        from ..models import DEFAULT_CHECKPOINT, load_pretrained

        ids = list(SIMULATED_SUBJECTS if subjects is None else subjects)
        n = SIMULATED_TRIALS if n_trials is None else n_trials
        subs = simulate_subjects(ids, n_trials=n, seed=seed, verbose=False)
        name = checkpoint or DEFAULT_CHECKPOINT
        model = load_pretrained(name, verbose=False)[0]
        snr = ", ".join(f"{s}: {p['snr']:.2f}" for s, p in subs.params.items())
        desc = (f"{len(ids)} simulated subjects (simulate_bcic_iv_2a, spectral regime, own "
                f"seed each), {n} trials each; one shared model ({name})")
        notes = [f"Per-subject SNR: {snr}.",
                 "The subjects differ in their seed (background sources and every random draw)"
                 " and SNR; "
                 + ("the simulator's head/source jitter is used." if _jitter() else
                    "this simulator has no head/source-position jitter parameter, so the "
                    "class sources sit at the same place in every subject.")]
        return subs, model, desc, notes
    if subjects is None:
        raise InvalidInputError(f"dataset={dataset!r}: pass the subjects to analyse "
                                "(--subjects 1 2 3 ...).")
    name = dataset if isinstance(dataset, str) else type(dataset).__name__
    loaders = {int(s): functools.partial(moabb_subject, dataset, int(s), task, n_trials, seed)
               for s in subjects}
    model = None
    if checkpoint is not None:
        from ..models import load_pretrained

        model = load_pretrained(checkpoint, verbose=False)[0]
    desc = (f"{name}{f' ({task})' if task else ''}, subjects {', '.join(map(str, subjects))}"
            + (f"; one shared model ({checkpoint})" if model is not None else
               "; a model per subject trained here with stratified cross-validation"))
    return loaders, model, desc, []


def _jitter():
    from ..group._simulated import jitter_parameter

    return jitter_parameter() is not None


def _check_args(methods, subjects, n_trials, n_permutations, seed, out_dir, cache_dir):
    methods = list(DEFAULT_GROUP_METHODS if methods is None else methods)
    if subjects is not None:
        subjects = [check_int(s, "subjects[i]", 1) for s in subjects]
        if len(subjects) < 2:
            raise InvalidInputError(f"A group analysis needs at least 2 subjects, got "
                                    f"{subjects}.")
        if len(set(subjects)) != len(subjects):
            raise InvalidInputError(f"subjects lists a subject twice: {subjects}.")
    if n_trials is not None:
        n_trials = check_int(n_trials, "n_trials", 4)
    n_permutations = check_int(n_permutations, "n_permutations", 1)
    out_dir = check_replaceable_directory(out_dir, owned=lambda n: n in GROUP_OUTPUTS)
    cache_dir = Path(f"{out_dir}.cache") if cache_dir is None else Path(cache_dir)
    if cache_dir.resolve() == out_dir.resolve() or out_dir.resolve() in cache_dir.resolve().parents:
        raise InvalidInputError("cache_dir must lie outside out_dir: the output folder is "
                                "replaced as a whole, the cache must survive an interruption.")
    return methods, subjects, n_trials, n_permutations, check_seed(seed), out_dir, cache_dir


@_verbose
def run_group(dataset="simulated", subjects=None, *, methods=None, checkpoint=None,
              n_trials=None, task=None, contrast=None, correction="cluster",
              n_permutations=1024, method_params=None, train_params=None, n_jobs=None,
              scheduler=None, out_dir="neuroxai_group", cache_dir=None, seed=0, progress=True,
              verbose=None):
    """Group-level maps over subjects and their statistics, as an HTML report.

    Parameters
    ----------
    dataset : "simulated" | str
        The embedded simulator's subjects (see :func:`neuroxai.group.simulate_subjects`)
        with the shipped checkpoint shared, or any MOABB dataset by name (each subject
        loaded in its job; a model per subject trained here unless ``checkpoint`` is given).
    subjects : list of int | None
        Subjects (simulated default 1-10; required for MOABB).
    methods : list of str | None
        Methods of :func:`neuroxai.group.compute_subject_maps` (default ``["igc"]``).
    checkpoint : str | path-like | None
        A model shared by every subject (simulated default: the shipped checkpoint).
    n_trials : int | None
        Trials per simulated subject (default 48); for MOABB a class-balanced subset per
        subject (default: all).
    task : str | None
        Class subset of a MOABB dataset.
    contrast, method_params, train_params :
        See :func:`neuroxai.group.compute_subject_maps`.
    correction : "cluster" | "fdr"
    n_permutations : int
        See :func:`neuroxai.group.compute_group_statistics`.
    n_jobs : int | None
        Parallel subject jobs (joblib; with ``scheduler``: every Dask worker by default).
    scheduler : str | None
        Address of a Dask scheduler (``tcp://host:8786``); the jobs run there through
        joblib's Dask backend.
    out_dir : path-like
        Output folder, replaced as a whole at the end (a killed run leaves it as it was).
    cache_dir : path-like | None
        Per-subject maps, kept across runs (default ``<out_dir>.cache``): a rerun after an
        interruption computes only the subjects that had not finished.
    seed : int
    progress : bool
        Print one line per step.
    %(verbose)s

    Returns
    -------
    result : GroupRunResult
    """
    from ..group import compute_group_statistics, compute_subject_maps

    methods, subjects, n_trials, n_permutations, seed, out_dir, cache_dir = _check_args(
        methods, subjects, n_trials, n_permutations, seed, out_dir, cache_dir)
    t_start = time.perf_counter()

    def say(msg):
        if progress:
            print(f"[{time.perf_counter() - t_start:6.1f} s] {msg}", flush=True)
        logger.info(msg)

    timings = {}
    source, model, desc, notes = _source(dataset, subjects, n_trials, task, checkpoint, seed)
    timings["load"] = round(time.perf_counter() - t_start, 2)
    say(f"{desc}")
    with dask_backend(scheduler) as client:
        t0 = time.perf_counter()
        maps = compute_subject_maps(source, model, methods=methods, method_params=method_params,
                                    contrast=contrast, train_params=train_params,
                                    cache_dir=cache_dir, n_jobs=n_jobs, seed=seed,
                                    channels="intersect", verbose=verbose)
        timings["subject_maps"] = round(time.perf_counter() - t0, 2)
        backend = "dask" if client is not None else ("serial" if n_jobs in (None, 1)
                                                     else f"joblib n_jobs={n_jobs}")
    say(f"subject maps: {len(maps.computed)} computed, {len(maps.cached)} from the cache "
        f"{cache_dir}")
    t0 = time.perf_counter()
    results = {m: compute_group_statistics(maps, method=m, correction=correction,
                                           n_permutations=n_permutations, seed=seed,
                                           channels="intersect", verbose=verbose)
               for m in methods}
    timings["statistics"] = round(time.perf_counter() - t0, 2)
    for m, r in results.items():
        say(f"{m}: {r.n_significant} significant cluster(s) of {len(r.clusters)}")
    with atomic_directory(out_dir, owned=lambda n: n in GROUP_OUTPUTS) as tmp:
        t0 = time.perf_counter()
        summary = _write(Path(tmp), maps, results, desc, notes, dict(
            dataset=dataset if isinstance(dataset, str) else type(dataset).__name__,
            subjects=maps.subjects, methods=methods, contrast=contrast or "none",
            correction=correction, n_permutations=n_permutations, seed=seed, backend=backend,
            n_jobs=n_jobs, cache_dir=str(cache_dir), computed=len(maps.computed),
            cached=len(maps.cached)))
        timings["report"] = round(time.perf_counter() - t0, 2)
        summary["timings_s"] = timings
        summary["seconds"] = round(time.perf_counter() - t_start, 2)
        summary["peak_rss_mib"] = round(peak_rss_mib(), 1)
        (Path(tmp) / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    report_path = out_dir / "report.html"
    say(f"report written to {report_path}")
    return GroupRunResult(out_dir, report_path, cache_dir, results, maps, summary)


def _write(out, maps, results, desc, notes, meta):
    import matplotlib.pyplot as plt
    import mne

    from .. import viz as V
    from ._audit import versions

    for sub in ("figures", "tables", "maps"):
        (out / sub).mkdir()
    subjects = maps.table()
    subjects.to_csv(out / "tables" / "subjects.csv", index=False)
    figures, tables, clusters = [], {"subjects": subjects}, {}
    for m, res in results.items():
        table = res.cluster_table()
        table.to_csv(out / "tables" / f"{m}_clusters.csv", index=False)
        tables[f"{m}: clusters"] = table
        clusters[m] = table[table["p_value"] < res.alpha].to_dict("records") if len(table) else []
        for what in ("stat", "mask", "mean"):
            res.to_attribution(what).save(out / "maps" / f"{m}_group-{what}-attr.npz")
        for key, fig, caption in (
                (f"{m}_group_topomaps", V.plot_group_topomaps(res, show=False),
                 f"{m}: group {res.stat_name} per class and band; white dots: channels in a "
                 f"significant cell ({res.correction}, p < {res.alpha:g})."),
                (f"{m}_clusters", V.plot_group_clusters(res, show=False),
                 f"{m}: each significant cluster, {res.stat_name} averaged over its bins, its "
                 "channels marked.")):
            fig.savefig(out / "figures" / f"{key}.png", dpi=100)
            plt.close(fig)
            figures.append((key, caption))
    acc = subjects.groupby("method")["accuracy"].mean().round(3).to_dict()
    summary = dict(meta, data=desc, notes=notes, mean_accuracy=acc, significant_clusters=clusters,
                   versions=versions())
    report = mne.Report(title="neuroxai group analysis", image_format="png", verbose=False)
    lines = "".join(f"<li><b>{html.escape(m)}</b>: {len(c)} significant cluster(s)"
                    + "".join(f"<br>&nbsp;&nbsp;{html.escape(_cluster_words(r))}" for r in c)
                    + "</li>" for m, c in clusters.items())
    report.add_html(
        f"<p>{html.escape(desc)}. Test: {html.escape(meta['correction'])}, "
        f"{results[next(iter(results))].test.replace('_', '-')} over "
        f"{len(maps.subjects)} subjects; mean accuracy on the subjects' trials: "
        f"{html.escape(str(acc))}.</p><ul>{lines}</ul>"
        + "".join(f"<p><i>{html.escape(n)}</i></p>" for n in notes),
        title="Summary", section="Summary")
    for key, caption in figures:
        report.add_image(out / "figures" / f"{key}.png", title=key.replace("_", " "),
                         caption=caption, section="Figures")
    for key, df in tables.items():
        report.add_html(df.to_html(float_format=lambda v: f"{v:.3g}", border=0, index=False),
                        title=f"Table: {key}", section="Tables")
    report.add_html("<pre>" + html.escape(json.dumps(summary, indent=1, default=str))
                    + "</pre>", title="Parameters and versions", section="Provenance")
    report.save(out / "report.html", overwrite=True, open_browser=False, verbose=False)
    return summary


def _cluster_words(row):
    where = row.get("bands") or (f"{row['tmin']:.3g}-{row['tmax']:.3g} s" if "tmin" in row
                                 else "")
    cls = row.get("class", "")
    return (f"{cls}: {row.get('channels', '')} ({where}), peak {row['peak']} "
            f"{row['peak_stat']:+.1f}, p = {row['p_value']:.3g}")


def _significant_words(result):  # used by the CLI's one-line summary
    table = result.cluster_table(significant_only=True)
    return [_cluster_words(r) for r in table.to_dict("records")] if len(table) else []


