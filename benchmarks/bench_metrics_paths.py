"""The metrics' former hand-written fast paths vs the plain code that replaced them.

Issue 13 (item 5) keeps hand-written speed code only where it is at least 2x faster than
plain code on the workload it targets: ``compute_metrics`` with braindecode's 12 metrics
+ 4 SSIM on 288 x 22 x 1125 maps. Until 9251dd7, ``neuroxai/metrics/similarity.py`` had
three such paths:

* row sufficient statistics in reused scratch blocks, with 0/1-reference and
  repeated-mask caches (``_block_stats``, ``_dense_cross_stats``, ``_support_cross_stats``);
* hand-chained order statistics for the percentile and top-K thresholds (``_lerp``,
  ``_order_stats``, ``_percentile_rows``, ``_top_stats``);
* SSIM box means as BLAS products, with reference caches and zero-window shortcuts
  (``_BoxMeans``, ``_ssim_reference``, ``_ssim_sums``, ``_block_ssim``).

The shipped code uses direct formulas, ``np.percentile``, ``np.partition`` and
``scipy.ndimage.uniform_filter`` (cropped as skimage does). Each case times the old code
("ours": loaded from ``--fast-rev``) against the shipped code ("peer") in the same
process, on the same inputs, alternating the two; "time ratio peer/ours" is what the old
fast path gained. A path's gain on the workload is the old 12 + 4 run against the same
run with that path plain (the shipped function for its metrics, the old one for the rest).

References: a binary ground truth on C3 and C4 (the same mask for every map), one such
mask per class in random trial order, and a dense reference (another map: the tutorial's
trained vs randomised model comparison). Explanations: seeded Gaussian maps. BLAS runs
single-threaded (``OPENBLAS_NUM_THREADS=1`` unless set): with OpenBLAS's default threads
on a loaded machine the old BLAS products ran several times slower than plain code.

    python benchmarks/bench_metrics_paths.py [--quick] [--repeats N] [--fast-rev REV]
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported

import _common as C  # noqa: E402

FAST_REV = "9251dd7527048025d87cadef30994f90e7b9fd71"
CH = ("Fz FC3 FC1 FCz FC2 FC4 C5 C3 C1 Cz C2 C4 C6 CP3 CP1 CPz CP2 CP4 P1 Pz P2 POz").split()
REFS = {"binary": "binary ground truth (C3, C4)", "per_class": "a mask per class",
        "dense": "dense reference"}


def load_fast(rev):
    """The old similarity module of git revision ``rev``, as neuroxai.metrics._fast_ref."""
    import importlib.util
    import subprocess

    import neuroxai.metrics  # noqa: F401 - the parent package of its relative imports

    src = subprocess.run(["git", "show", f"{rev}:neuroxai/metrics/similarity.py"],
                         cwd=C.ROOT, capture_output=True, text=True, check=True).stdout
    path = C.CACHE / f"similarity_{rev[:12]}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("neuroxai.metrics._fast_ref", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_inputs(n, n_times, reference):
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, 22, n_times))
    if reference == "dense":
        b = rng.standard_normal(a.shape)
    elif reference == "per_class":
        masks = np.zeros((4, 22, n_times))
        for c, chans in enumerate([["C3"], ["C4"], ["Cz", "C1"], ["Fz", "FCz"]]):
            masks[c, [CH.index(ch) for ch in chans]] = 1.0
        b = masks[rng.integers(0, 4, n)]
    else:
        b = np.zeros_like(a)
        b[:, [CH.index("C3"), CH.index("C4")]] = 1.0
    return dict(a=a, b=b)


def build(args):
    import numpy as np

    from neuroxai.metrics import similarity as new
    from neuroxai.metrics.similarity import METRIC_NAMES, SSIM_METRIC_NAMES

    old = load_fast(args.fast_rev)
    n = 4 if args.smoke else (32 if args.quick else 288)
    n_times = 64 if args.smoke else 1125
    shape = f"{n} x 22 ch x {n_times}"

    def run(*parts):
        """Score with (module, names) parts in turn; the scores side by side."""
        def score(d):
            return np.column_stack([mod.compute_metrics(d["a"], d["b"], metrics=names,
                                                        verbose=False).to_numpy()
                                    for mod, names in parts])
        return score

    def agree(o, p):
        nums = C.diff(o, p, scale=1.0)
        nums = dict(max_abs=nums["max_abs"], max_rel=nums["max_abs"])
        return nums, f"max abs score difference {nums['max_abs']:.1e}"

    old_all = run((old, METRIC_NAMES + SSIM_METRIC_NAMES))
    plans = [  # (what, references, old side, shipped side, shipped label)
        ("all three paths, 12 + 4 SSIM", ("binary", "per_class", "dense"), old_all,
         run((new, METRIC_NAMES + SSIM_METRIC_NAMES)), "shipped compute_metrics"),
        ("SSIM path, on 12 + 4 SSIM", ("binary", "dense"), old_all,
         run((old, METRIC_NAMES), (new, SSIM_METRIC_NAMES)),
         "old code for the 12 metrics, shipped for the SSIM"),
        ("statistics + thresholds paths, on 12 + 4 SSIM", ("binary", "dense"), old_all,
         run((new, METRIC_NAMES), (old, SSIM_METRIC_NAMES)),
         "shipped code for the 12 metrics, old for the SSIM"),
        ("SSIM path, 4 SSIM alone", ("binary", "dense"), run((old, SSIM_METRIC_NAMES)),
         run((new, SSIM_METRIC_NAMES)), "shipped compute_metrics"),
        ("statistics + thresholds paths, 12 metrics alone", ("binary", "dense"),
         run((old, METRIC_NAMES)), run((new, METRIC_NAMES)), "shipped compute_metrics"),
    ]
    targets = {"old path gains >= 2x": ("time_ratio", ">=", 2.0)}
    cases = []
    for what, references, fast, plain, plain_label in plans:
        for reference in references:
            cases.append(C.Case(
                comparison=f"Removed {what}, {REFS[reference]}", size=shape, warmup=True,
                prepare=lambda reference=reference: make_inputs(n, n_times, reference),
                ours=fast, peer=plain, agree=agree,
                ours_label=f"similarity.py at {args.fast_rev[:7]}", peer_label=plain_label,
                targets=targets))

    def prepare_rows():
        rng = np.random.default_rng(0)
        A = rng.standard_normal((n, 22 * n_times))
        k = np.full(n, 2 * n_times)  # the positives of a 2-channel ground truth
        return dict(A=A, B=np.maximum(A, 0.0), k=k)

    def fast_thresholds(d):
        A, B, k = d["A"], d["B"], d["k"]
        b_lo = B.min(axis=1)
        top = old._top_stats(A, B, np.empty_like(A), 95, k, b_lo, B.max(axis=1) - b_lo, False)
        return np.column_stack([top["thr_a"], top["thr_b"]])

    def plain_thresholds(d):
        from neuroxai.metrics.similarity._stats import kth_largest

        A, k = d["A"], d["k"]
        return np.column_stack([np.percentile(A, 95, axis=1),
                                np.maximum(kth_largest(A, k), 0.0)])

    cases.append(C.Case(
        comparison="Removed thresholds path alone (95th percentile, K-th largest of max(A, 0))",
        size=f"{n} x {22 * n_times}", warmup=True, prepare=prepare_rows,
        ours=fast_thresholds, peer=plain_thresholds, agree=agree,
        ours_label="_top_stats (hand-chained; also sums the values kept)",
        peer_label="np.percentile + per-row np.partition", targets=targets))
    return cases


def main():
    parser = C.make_parser(__doc__)
    parser.add_argument("--fast-rev", default=FAST_REV,
                        help="git revision whose neuroxai/metrics/similarity.py has the fast paths")
    args = parser.parse_args()
    C.setup(args)
    C.run_cases(build(args), args, __file__)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
