"""Group statistics of subject maps with MNE: cluster permutation tests and FDR."""
from __future__ import annotations

import copy as _copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .._core.random import check_seed
from .._core.validation import check_float, check_int, check_option
from .._utils import InvalidInputError, ShapeError, logger, verbose

#: Axes with a regular neighbourhood (the next bin / sample is a neighbour).
_LATTICE = ("freq", "time")
#: Largest gap in Hz between two consecutive bands for them to count as neighbours.
BAND_GAP_HZ = 1.0


@dataclass
class GroupResult:
    """A group map and its statistics (what :func:`compute_group_statistics` returns).

    Attributes
    ----------
    stat : ndarray
        t-values (one-sample / paired tests, FDR) or F-values (independent groups, cluster
        test), with axes ``dims``.
    p_values : ndarray
        Per cell: the p-value of the cluster it belongs to (1 outside every cluster), or
        the FDR-adjusted p-value.
    mask : ndarray of bool
        ``p_values < alpha``.
    mean : ndarray
        The group mean of what was tested (the difference for paired / independent tests).
    dims, info, coords :
        Axes (e.g. ``("class", "chan", "band")``), channel info, axis coordinates.
    clusters : list of ndarray of bool
        Every cluster (cluster correction) or every connected group of significant cells
        of one sign (FDR).
    cluster_p : ndarray
        Their p-values (FDR: the smallest adjusted p-value of the group).
    test : "one_sample" | "paired" | "independent"
    correction : "cluster" | "fdr"
    subjects : list
        Subjects (one-sample / paired), or ``[group_a, group_b]`` lists (independent).
    """

    stat: np.ndarray
    p_values: np.ndarray
    mask: np.ndarray
    mean: np.ndarray
    dims: tuple
    info: object
    coords: dict
    clusters: list
    cluster_p: np.ndarray
    test: str
    correction: str
    stat_name: str
    alpha: float
    n_permutations: int
    threshold: object
    subjects: list
    method: str = ""
    params: dict = field(default_factory=dict)

    @property
    def n_significant(self):
        """Number of clusters (or FDR groups) with p < alpha."""
        return int(np.sum(np.asarray(self.cluster_p) < self.alpha))

    def __repr__(self):
        axes = ", ".join(f"{d}: {n}" for d, n in zip(self.dims, self.stat.shape))
        return (f"<GroupResult {self.test} {self.correction} ({axes}) | {self.method}, "
                f"{self.n_significant} significant of {len(self.clusters)}, alpha {self.alpha}>")

    def to_attribution(self, what="stat"):
        """The group map as an :class:`~neuroxai.attribution.Attribution` (same axes).

        ``what``: ``"stat"`` (t or F), ``"p"`` (cell p-values), ``"mask"`` (1.0 where
        significant) or ``"mean"`` (group mean of the tested maps).
        """
        from ..attribution import Attribution

        check_option("what", what, ("stat", "p", "mask", "mean"))
        data = {"stat": self.stat, "p": self.p_values, "mask": self.mask.astype(float),
                "mean": self.mean}[what]
        params = {**_copy.deepcopy(self.params), "test": self.test,
                  "correction": self.correction, "alpha": self.alpha, "value": what,
                  "stat_name": self.stat_name, "n_permutations": self.n_permutations}
        return Attribution(np.array(data, copy=True), self.dims,
                           None if self.info is None else self.info.copy(),
                           f"group {what} ({self.method})", params,
                           _copy.deepcopy(self.coords))

    def cluster_table(self, significant_only=False):
        """One row per cluster, by p-value: class, sign, channels, band/frequency or time
        range, peak cell and statistic, p-value."""
        import pandas as pd

        rows = [dict(describe_cluster(self, m), p_value=float(p))
                for m, p in zip(self.clusters, self.cluster_p)]
        df = pd.DataFrame(rows)
        if df.empty:
            return df
        df = df.sort_values(["p_value", "abs_sum"], ascending=[True, False])
        df = df.drop(columns="abs_sum").reset_index(drop=True)
        if significant_only:
            df = df[df["p_value"] < self.alpha].reset_index(drop=True)
        return df


def _item_names(dims, coords, shape):
    name = dims[0]
    names = coords.get(name)
    if names is None or len(names) != shape[0]:
        names = [str(i) for i in range(shape[0])]
    return [str(n) for n in names]


def describe_cluster(res, mask):
    """What a cluster covers, in words and numbers (a dict: one row of the table)."""
    idx = np.nonzero(mask)
    vals = res.stat[mask]
    row = {}
    for d, ix, n in zip(res.dims, idx, mask.shape):
        u = np.unique(ix)
        if d == "chan":
            names = res.info["ch_names"]
            row["channels"] = ", ".join(names[i] for i in u)
            row["n_channels"] = len(u)
        elif d == "band":
            names = res.coords.get("band", [str(i) for i in range(n)])
            row["bands"] = (names[u[0]] if len(u) == 1 else f"{names[u[0]]} .. {names[u[-1]]}")
            edges = res.coords.get("band_edges")
            if edges is not None:
                row["fmin"], row["fmax"] = float(edges[u[0]][0]), float(edges[u[-1]][1])
        elif d == "freq":
            f = np.asarray(res.coords["freq"])
            row["fmin"], row["fmax"] = float(f[u[0]]), float(f[u[-1]])
        elif d == "time":
            t = np.asarray(res.coords["time"])
            row["tmin"], row["tmax"] = float(t[u[0]]), float(t[u[-1]])
        else:
            names = res.coords.get(d)
            names = names if names is not None and len(names) == n else range(n)
            row[d] = ", ".join(str(names[i]) for i in u)
    flat = np.argmax(np.abs(np.where(mask, res.stat, 0)))
    peak = np.unravel_index(flat, mask.shape)
    where = []
    for d, i in zip(res.dims, peak):
        if d == "chan":
            where.append(res.info["ch_names"][i])
        elif d == "band":
            where.append(str(res.coords.get("band", range(mask.shape[-1]))[i]))
        elif d in _LATTICE:
            where.append(f"{float(np.asarray(res.coords[d])[i]):.3g} "
                         f"{'Hz' if d == 'freq' else 's'}")
    row.update(sign="+" if vals.sum() >= 0 else "-", n_cells=int(mask.sum()),
               peak=" ".join(where), peak_stat=float(res.stat[peak]),
               sum_stat=float(vals.sum()), abs_sum=float(np.abs(vals.sum())))
    return row


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------
def _as_subject_dict(maps, method, name):
    from ..attribution import Attribution
    from ._maps import SubjectMaps

    if isinstance(maps, SubjectMaps):
        if method is None:
            if len(maps.maps) != 1:
                raise InvalidInputError(
                    f"{name} holds the maps of several methods {maps.methods}: pass method=.")
            method = maps.methods[0]
        return dict(maps[method]), method
    if isinstance(maps, Mapping):
        out = dict(maps)
    elif isinstance(maps, (list, tuple)):
        out = {i + 1: m for i, m in enumerate(maps)}
    else:
        raise InvalidInputError(f"{name} must be SubjectMaps, a dict {{subject: Attribution}} "
                                f"or a list of Attribution, got {type(maps).__name__}.")
    for s, att in out.items():
        if not isinstance(att, Attribution):
            raise InvalidInputError(f"{name}[{s!r}] is a {type(att).__name__}, not an "
                                    "Attribution (see compute_subject_maps).")
    first = next(iter(out.values()), None)
    return out, method or (first.method if first is not None else "")


def _stack(by_subject, name, channels, classes):
    """Subjects' maps as one array ``(n_subjects, *shape)`` with the shared axes checked."""
    if len(by_subject) < 2:
        raise InvalidInputError(f"{name} holds {len(by_subject)} subject(s): a group test needs "
                                "at least 2.")
    items = list(by_subject.items())
    s0, a0 = items[0]
    if a0.info is None or "chan" not in a0.dims:
        raise InvalidInputError(f"{name}: the maps need a 'chan' axis and channel info; "
                                f"subject {s0}'s map has axes {a0.dims}.")
    for s, a in items[1:]:
        if a.dims != a0.dims:
            raise ShapeError(f"{name}: subject {s}'s map has axes {a.dims}, subject {s0}'s "
                             f"{a0.dims}. Compute every subject's map the same way.")
        for d in a0.dims:
            if d == "chan":
                continue
            c0, c = a0.coords.get(d), a.coords.get(d)
            same = (c0 is None and c is None) or (
                c0 is not None and c is not None and len(c0) == len(c)
                and all(np.asarray(c0) == np.asarray(c)))
            if not same:
                raise ShapeError(f"{name}: subject {s}'s {d!r} axis differs from subject "
                                 f"{s0}'s ({_short(c)} vs {_short(c0)}). Use the same "
                                 "classes, frequency bands and trial length for everyone.")
    from ._channels import common_channels

    names = {s: list(a.info["ch_names"]) for s, a in items}
    common = common_channels(names, channels, name) or names[s0]
    ax = a0.axis("chan")
    arrays = []
    for s, a in items:
        idx = [names[s].index(c) for c in common]
        arrays.append(np.take(np.asarray(a.data, dtype=np.float64), idx, axis=ax))
    X = np.stack(arrays)
    info = a0.info if len(common) == len(names[s0]) else _pick_info(a0.info, common)
    coords = dict(a0.coords)
    dims = a0.dims
    if classes is not None:
        if dims[0] not in ("class", "latent", "map"):
            raise InvalidInputError(f"classes= selects along a 'class' axis; the maps have "
                                    f"axes {dims}.")
        names0 = _item_names(dims, coords, X.shape[1:])
        sel = []
        for c in ([classes] if isinstance(classes, (str, int)) else classes):
            if str(c) in names0:
                sel.append(names0.index(str(c)))
            elif isinstance(c, (int, np.integer)) and 0 <= c < len(names0):
                sel.append(int(c))
            else:
                raise InvalidInputError(f"classes: {c!r} is not one of {names0}.")
        X = X[:, sel]
        coords[dims[0]] = [names0[i] for i in sel]
    finite = np.isfinite(X)
    if not finite.all():
        bad = [s for (s, _), ok in zip(items, finite.reshape(len(X), -1).all(1)) if not ok]
        raise InvalidInputError(f"{name}: the maps of subject(s) {bad} hold NaN/Inf values.")
    return X, info, dims, coords, [s for s, _ in items]


def _short(c):
    if c is None:
        return "none"
    c = list(np.asarray(c).ravel()[:4])
    return f"{c}..."


def _pick_info(info, names):
    import mne

    return mne.pick_info(info, [info["ch_names"].index(c) for c in names], verbose=False)


def channel_adjacency(info):
    """EEG channel neighbours (:func:`mne.channels.find_ch_adjacency`), in ``info``'s order."""
    import mne

    from ..data._common import check_info_positions

    check_info_positions(info)
    adj, names = mne.channels.find_ch_adjacency(info, "eeg")
    if list(names) != list(info["ch_names"]):
        raise InvalidInputError(
            f"Channel adjacency covers EEG channels only; the maps also have "
            f"{sorted(set(info['ch_names']) - set(names))}. Pick EEG channels.")
    return adj


def band_adjacency(edges):
    """Consecutive bands are neighbours when the gap between them is at most
    :data:`BAND_GAP_HZ` (overlapping or touching bands are)."""
    from scipy import sparse

    edges = np.asarray(edges, dtype=float)
    n = len(edges)
    rows = [i for i in range(n - 1) if edges[i + 1][0] - edges[i][1] <= BAND_GAP_HZ]
    a = sparse.lil_matrix((n, n), dtype=bool)
    for i in rows:
        a[i, i + 1] = a[i + 1, i] = True
    return a.tocsr()


def map_adjacency(dims, shape, info, coords):
    """Neighbourhood of the cells: channels (MNE), frequency/time lattices, bands that
    touch; none across classes (a cluster never joins two classes)."""
    import mne
    from scipy import sparse

    parts = []
    for d, n in zip(dims, shape):
        if d == "chan":
            parts.append(channel_adjacency(info))
        elif d in _LATTICE:
            parts.append(int(n))
        elif d == "band" and coords.get("band_edges") is not None:
            parts.append(band_adjacency(coords["band_edges"]))
        else:
            parts.append(sparse.csr_matrix((n, n)))
    if len(parts) == 1 and not isinstance(parts[0], int):
        return sparse.coo_matrix(parts[0])
    return mne.stats.combine_adjacency(*parts)


# --------------------------------------------------------------------------------------
# The public verb
# --------------------------------------------------------------------------------------
@verbose
def compute_group_statistics(maps, maps_b=None, *, method=None, classes=None, paired=True,
                             correction="cluster", threshold=None, tail=0, n_permutations=1024,
                             alpha=0.05, sigma=0.0, channels="same", n_jobs=None, seed=0,
                             verbose=None):
    """Group maps and their statistics over subjects, with MNE's permutation tests.

    One-sample (``maps`` against zero), paired (``maps`` against ``maps_b`` of the same
    subjects: a one-sample test of the differences) or independent-groups (``maps_b`` of
    other subjects, ``paired=False``: an F-test). Cells are neighbours over channels
    (:func:`mne.channels.find_ch_adjacency`), over frequency bins / bands and time
    samples (:func:`mne.stats.combine_adjacency`), never across classes, so one test over
    all classes controls the family-wise error over all of them.

    Parameters
    ----------
    maps : SubjectMaps | dict | list
        From :func:`compute_subject_maps` (with ``method=`` when it holds several), or
        ``{subject: Attribution}``: one map per subject, same axes (e.g.
        ``("class", "chan", "band")``).
    maps_b : SubjectMaps | dict | list | None
        Second condition (paired) or group (independent).
    method : str | None
        Which method of a :class:`SubjectMaps`.
    classes : list of str | None
        Test only these classes (default: all).
    paired : bool
        With ``maps_b``: paired test (same subjects) or independent groups.
    correction : "cluster" | "fdr"
        Cluster-level permutation test (:func:`mne.stats.permutation_cluster_1samp_test`,
        :func:`mne.stats.permutation_cluster_test`), or a parametric t-test per cell with
        Benjamini-Hochberg FDR (:func:`mne.stats.fdr_correction`).
    threshold : float | dict | None
        Cluster-forming threshold (MNE's; None: the t / F value of p = 0.05).
    tail : -1 | 0 | 1
        Alternative of one-sample / paired tests (independent groups: F, one-tailed).
    n_permutations : int
        Permutations (MNE runs the exact test when the subjects allow fewer).
    alpha : float
        Significance level of the clusters / FDR.
    sigma : float
        MNE's "hat" variance regularisation of the t-test (Ridgway et al., 2012); 0: plain
        t. Needed when a cell has the same value for every subject.
    channels : "same" | "intersect"
        Different channel sets across subjects: an error, or the shared channels (logged).
    n_jobs : int | None
        Passed to MNE's permutation test.
    seed : int
        Seed of the permutations.
    %(verbose)s

    Returns
    -------
    result : GroupResult
        ``result.to_attribution("stat" | "p" | "mask" | "mean")`` and
        ``result.cluster_table()``.
    """
    import functools

    import mne
    from scipy import stats

    correction = check_option("correction", correction, ("cluster", "fdr"))
    n_permutations = check_int(n_permutations, "n_permutations", 1)
    alpha = check_float(alpha, "alpha", 0.0, 1.0, low_open=True, high_open=True)
    sigma = check_float(sigma, "sigma", 0.0)
    if tail not in (-1, 0, 1) or isinstance(tail, bool):
        raise InvalidInputError(f"tail must be -1, 0 or 1, got {tail!r}.")
    if threshold is not None and not isinstance(threshold, dict):
        threshold = check_float(threshold, "threshold")
    channels = check_option("channels", channels, ("same", "intersect"))
    seed = check_seed(seed)
    if not isinstance(paired, (bool, np.bool_)):
        raise InvalidInputError(f"paired must be True or False, got {paired!r}.")

    a, method = _as_subject_dict(maps, method, "maps")
    test = "one_sample"
    if maps_b is not None:
        b, _ = _as_subject_dict(maps_b, method, "maps_b")
        test = "paired" if paired else "independent"
        if paired and list(map(str, a)) != list(map(str, b)):
            raise InvalidInputError(
                f"A paired test needs the same subjects in maps and maps_b, in the same order: "
                f"{list(a)} vs {list(b)}. Pass paired=False for independent groups.")
    if test == "independent":
        both = {**{("a", s): m for s, m in a.items()}, **{("b", s): m for s, m in b.items()}}
        X, info, dims, coords, _ = _stack(both, "maps + maps_b", channels, classes)
        Xa, Xb = X[:len(a)], X[len(a):]
        if min(len(a), len(b)) < 2:
            raise InvalidInputError("Each group needs at least 2 subjects.")
        subjects = [list(a), list(b)]
        mean = Xa.mean(0) - Xb.mean(0)
    else:
        X, info, dims, coords, subjects = _stack(a, "maps", channels, classes)
        if test == "paired":
            Xb, *_ = _stack(b, "maps_b", channels, classes)
            if Xb.shape != X.shape:
                raise ShapeError(f"maps and maps_b have different shapes {X.shape[1:]} vs "
                                 f"{Xb.shape[1:]} (channels or classes differ).")
            X = X - Xb
        mean = X.mean(0)
    shape = mean.shape
    samples = [Xa, Xb] if test == "independent" else [X]
    flat_var = [x.reshape(len(x), -1).var(axis=0) for x in samples]
    constant = np.all([v == 0 for v in flat_var], axis=0)
    if sigma == 0 and constant.any():
        raise InvalidInputError(
            f"{int(constant.sum())} of {constant.size} cells have the same value in every "
            "subject (no variance): their t is undefined. Pass sigma=1e-3 (MNE's variance "
            "regularisation), or drop what does not vary (a shared model's label-free maps "
            "on identical data?).")
    n = len(X) if test != "independent" else min(len(Xa), len(Xb))
    if test != "independent" and correction == "cluster":
        smallest = 1.0 / min(n_permutations, 2 ** (n - (tail == 0)))
        if smallest >= alpha:
            logger.warning(f"With {n} subjects the smallest attainable p-value is "
                           f"{smallest:.3g} >= alpha={alpha}: nothing can be significant.")
    adjacency = map_adjacency(dims, shape, info, coords)
    rng = np.random.default_rng(seed)
    stat_fun = (functools.partial(mne.stats.ttest_1samp_no_p, sigma=sigma)
                if test != "independent" else None)
    if sigma > 0 and threshold is None and test != "independent":
        # MNE derives its default threshold only for its own t-test; the same p = 0.05 here
        q = stats.t.ppf(1 - 0.05 / (2 if tail == 0 else 1), len(X) - 1)
        threshold = float(q if tail >= 0 else -q)
    if correction == "cluster":
        kw = dict(threshold=threshold, n_permutations=n_permutations, adjacency=adjacency,
                  n_jobs=n_jobs, out_type="mask", rng=rng)
        if test == "independent":
            stat, clusters, cluster_p, _ = mne.stats.permutation_cluster_test(
                [Xa, Xb], tail=1, **kw)
            stat_name = "F"
        else:
            stat, clusters, cluster_p, _ = mne.stats.permutation_cluster_1samp_test(
                X, tail=tail, stat_fun=stat_fun if sigma > 0 else None, **kw)
            stat_name = "t"
        clusters = [np.asarray(c, dtype=bool).reshape(shape) for c in clusters]
        cluster_p = np.asarray(cluster_p, dtype=float)
        p_values = np.ones(shape)
        for c, p in zip(clusters, cluster_p):
            p_values[c] = np.minimum(p_values[c], p)
    else:
        if test == "independent":
            stat, p = stats.ttest_ind(Xa, Xb, axis=0)
        else:
            stat = stat_fun(X)
            df = len(X) - 1
            p = {0: 2 * stats.t.sf(np.abs(stat), df), 1: stats.t.sf(stat, df),
                 -1: stats.t.cdf(stat, df)}[tail]
        stat_name = "t"
        _, p_values = mne.stats.fdr_correction(np.asarray(p).ravel(), alpha=alpha)
        p_values = p_values.reshape(shape)
        clusters, cluster_p = _fdr_groups(p_values < alpha, np.asarray(stat), p_values,
                                          adjacency)
    stat = np.asarray(stat, dtype=float).reshape(shape)
    params = dict(n_subjects=len(X) if test != "independent" else [len(Xa), len(Xb)],
                  method=method, tail=tail if test != "independent" else 1, sigma=sigma,
                  seed=seed)
    res = GroupResult(stat, p_values, p_values < alpha, mean, dims, info, coords, clusters,
                      cluster_p, test, correction, stat_name, alpha, n_permutations,
                      threshold, subjects, method, params)
    logger.info(f"Group test ({test}, {correction}) of {method}: {res.n_significant} "
                f"significant of {len(clusters)} cluster(s) at alpha={alpha}")
    return res


def _fdr_groups(significant, stat, p_values, adjacency):
    """Connected groups of significant cells of one sign (for the FDR table)."""
    from scipy.sparse.csgraph import connected_components

    flat = significant.ravel()
    sign = np.sign(stat).ravel()
    idx = np.flatnonzero(flat)
    if not len(idx):
        return [], np.array([])
    sub = adjacency.tocsr()[idx][:, idx].tocoo()
    keep = sign[idx[sub.row]] == sign[idx[sub.col]]
    from scipy import sparse

    graph = sparse.coo_matrix((np.ones(keep.sum()), (sub.row[keep], sub.col[keep])),
                              shape=(len(idx), len(idx)))
    n, labels = connected_components(graph, directed=False)
    groups, ps = [], []
    for k in range(n):
        m = np.zeros(flat.shape, bool)
        m[idx[labels == k]] = True
        groups.append(m.reshape(significant.shape))
        ps.append(p_values.ravel()[m].min())
    return groups, np.asarray(ps)
