"""The metrics' hand-written fast paths vs plain code (issue 13, item 5).

Hand-written speed code stays only where it is at least 2x faster than plain code on
the workload it targets: ``compute_metrics`` with braindecode's 12 metrics + 4 SSIM on
288 x 22 x 1125 maps. Each case times a fast path ("ours") against plain code ("peer")
in the same process, on the same inputs, alternating the two; "time ratio peer/ours" is
what the fast path gains.

Kept (tested equal to the plain code):

* SSIM box means as BLAS products, channel maps (``similarity/_ssim_blas.py``) vs the
  plain route (``scipy.ndimage.uniform_filter`` cropped as skimage does: the same
  ``compute_metrics`` with the fast route switched off);
* braindecode's top-K threshold selected in the explanation, not in its clipped map
  (where ``np.partition`` is slow on the run of zeros).

Removed (until 9251dd7 in ``neuroxai/metrics/similarity.py``, loaded from ``--fast-rev``):
row sufficient statistics in reused scratch blocks with 0/1-reference and repeated-mask
caches (``_block_stats``, ``_dense_cross_stats``, ``_support_cross_stats``), and
hand-chained order statistics for the percentile and top-K thresholds (``_lerp``,
``_order_stats``, ``_percentile_rows``, ``_top_stats``), vs the shipped direct formulas
(``np.percentile``, ``np.partition``).

References: a binary ground truth on C3 and C4 (the same mask for every map), one such
mask per class in random trial order, and a dense reference (another map: the tutorial's
trained vs randomised model comparison). Explanations: seeded Gaussian maps. BLAS runs
single-threaded (``OPENBLAS_NUM_THREADS=1`` unless set; the shipped SSIM route limits
itself): with OpenBLAS's default threads on a loaded machine the old code's BLAS calls
ran several times slower.

    python benchmarks/bench_metrics_paths.py [--quick] [--repeats N] [--fast-rev REV]
                                             [--only TEXT]
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
    from neuroxai.metrics.similarity._stats import kth_largest

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

    def plain_ssim(score):
        def run_plain(d):
            from unittest import mock

            with mock.patch.object(new, "_ssim_box", lambda *args: None):
                return score(d)
        return run_plain

    both = METRIC_NAMES + SSIM_METRIC_NAMES
    plans = [  # (kept?, what, references, fast side, plain side, labels)
        (True, "SSIM box means (BLAS), 12 + 4 SSIM", ("binary", "per_class", "dense"),
         run((new, both)), plain_ssim(run((new, both))),
         ("compute_metrics", "compute_metrics, plain SSIM route (uniform_filter)")),
        (True, "SSIM box means (BLAS), 4 SSIM alone", ("binary", "dense"),
         run((new, SSIM_METRIC_NAMES)), plain_ssim(run((new, SSIM_METRIC_NAMES))),
         ("compute_metrics", "compute_metrics, plain SSIM route (uniform_filter)")),
        (False, "statistics + thresholds, 12 + 4 SSIM", ("binary", "per_class", "dense"),
         run((old, both)), run((new, both)),
         (f"similarity.py at {args.fast_rev[:7]}", "compute_metrics")),
        (False, "statistics + thresholds, 12 metrics alone", ("binary", "dense"),
         run((old, METRIC_NAMES)), run((new, METRIC_NAMES)),
         (f"similarity.py at {args.fast_rev[:7]}", "compute_metrics")),
    ]
    targets = {"fast path gains >= 2x": ("time_ratio", ">=", 2.0)}
    cases = []
    for kept, what, references, fast, plain, (fast_label, plain_label) in plans:
        for reference in references:
            cases.append(C.Case(
                comparison=f"{'Kept' if kept else 'Removed'}: {what}, {REFS[reference]}",
                size=shape, warmup=True,
                prepare=lambda reference=reference: make_inputs(n, n_times, reference),
                ours=fast, peer=plain, agree=agree, ours_label=fast_label,
                peer_label=plain_label, targets=targets))

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
        A, k = d["A"], d["k"]
        return np.column_stack([np.percentile(A, 95, axis=1),
                                np.maximum(kth_largest(A, k), 0.0)])

    def kth_in_b_norm(d):  # braindecode's top-K threshold: selected in B_norm itself
        B_norm = (d["B"] - d["B"].min(axis=1, keepdims=True)) / np.ptp(d["B"], axis=1)[:, None]
        return kth_largest(B_norm, d["k"])

    def kth_in_a(d):  # the shipped one: selected in A, then clipped and normalised
        lo = d["B"].min(axis=1)
        return (np.maximum(kth_largest(d["A"], d["k"]), 0.0) - lo) / np.ptp(d["B"], axis=1)

    for label, kk in (("K = 2 channels", 2 * n_times), ("K = all values", 22 * n_times)):
        cases.append(C.Case(
            comparison=f"Kept: top-K threshold selected in A, not in max(A, 0), {label}",
            size=f"{n} x {22 * n_times}", warmup=True,
            prepare=lambda kk=kk: {**prepare_rows(), "k": np.full(n, kk)}, ours=kth_in_a,
            peer=kth_in_b_norm, agree=agree, ours_label="kth_largest(A), clipped, normalised",
            peer_label="kth_largest(B_norm) (np.partition in the clipped map)",
            targets=targets))
    cases.append(C.Case(
        comparison="Removed: thresholds alone (95th percentile, K-th largest of max(A, 0))",
        size=f"{n} x {22 * n_times}", warmup=True, prepare=prepare_rows,
        ours=fast_thresholds, peer=plain_thresholds, agree=agree,
        ours_label="_top_stats (hand-chained; also sums the values kept)",
        peer_label="np.percentile + per-row np.partition", targets=targets))
    return cases


def main():
    parser = C.make_parser(__doc__)
    parser.add_argument("--fast-rev", default=FAST_REV,
                        help="git revision whose neuroxai/metrics/similarity.py has the fast paths")
    parser.add_argument("--only", default=None,
                        help="run only the cases whose name contains this text")
    args = parser.parse_args()
    C.setup(args)
    cases = [c for c in build(args) if args.only is None or args.only in c.comparison]
    C.run_cases(cases, args, __file__)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
