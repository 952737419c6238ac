"""The metrics' hand-written fast paths vs plain vectorised code (issue 13, item 5).

Hand-written speed code stays only where it is at least 2x faster than a plain
implementation on the workload it targets: ``compute_metrics`` with braindecode's 12
metrics + 4 SSIM on 288 x 22 x 1125 maps. Each case times a fast path ("ours") against
the plain code ("peer") in the same process, on the same inputs, alternating the two;
"time ratio peer/ours" is plain time / fast time: what the fast path gains.

Kept: the SSIM box means as BLAS products (``similarity/_ssim_blas.py``, channel maps)
vs the plain route (``scipy.ndimage.uniform_filter`` cropped as skimage does; the same
``compute_metrics`` with the fast route switched off).

Removed (until 9251dd7 in ``neuroxai/metrics/similarity.py``, loaded from ``--fast-rev``):
the row sufficient statistics in reused scratch blocks with 0/1-reference and
repeated-mask caches (``_block_stats``) and the hand-chained order statistics of the
thresholds (``_lerp``, ``_order_stats``, ``_percentile_rows``, ``_top_stats``), vs the
shipped direct formulas (``np.percentile``, ``np.partition``). Timed on the 12 metrics
alone, on the whole workload (where the old SSIM route's reference caches go too), and
the thresholds alone.

References: a binary ground truth on C3 and C4 (the same mask for every map), one such
mask per class in random trial order, and a dense reference (another map: the tutorial's
trained vs randomised model comparison). Explanations: seeded Gaussian maps.

    python benchmarks/bench_metrics_paths.py [--quick] [--repeats N] [--fast-rev REV]
"""
import _common as C

FAST_REV = "9251dd7527048025d87cadef30994f90e7b9fd71"
CH = ("Fz FC3 FC1 FCz FC2 FC4 C5 C3 C1 Cz C2 C4 C6 CP3 CP1 CPz CP2 CP4 P1 Pz P2 POz").split()


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


def build(args):
    import numpy as np

    n = 4 if args.smoke else (32 if args.quick else 288)
    n_times = 64 if args.smoke else 1125
    shape = f"{n} x 22 ch x {n_times}"
    names = {}

    def prepare(reference):
        def run():
            from neuroxai.metrics import similarity  # noqa: F401 - imports are not timed

            names.update({"16": similarity.METRIC_NAMES + similarity.SSIM_METRIC_NAMES,
                          "12": similarity.METRIC_NAMES, "ssim": similarity.SSIM_METRIC_NAMES})
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
        return run

    def score(which, module=None, plain_ssim=False):
        def run(d):
            from unittest import mock

            from neuroxai.metrics import similarity

            mod = similarity if module is None else module
            with mock.patch.object(similarity, "_ssim_box", lambda *args: None) \
                    if plain_ssim else _nothing():
                return mod.compute_metrics(d["a"], d["b"], metrics=names[which],
                                           verbose=False).to_numpy()
        return run

    def agree(o, p):
        nums = C.diff(o, p, scale=1.0)
        nums = dict(max_abs=nums["max_abs"], max_rel=nums["max_abs"])
        return nums, f"max abs score difference {nums['max_abs']:.1e}"

    targets = {"fast path gains >= 2x": ("time_ratio", ">=", 2.0)}
    refs = {"binary": "binary ground truth (C3, C4)", "per_class": "a mask per class",
            "dense": "dense reference"}
    cases = []
    for which, reference in (("16", "binary"), ("16", "per_class"), ("16", "dense"),
                             ("ssim", "binary"), ("ssim", "dense")):
        scored = "12 + 4 SSIM" if which == "16" else "4 SSIM"
        cases.append(C.Case(
            comparison=f"Kept: SSIM box means (BLAS), {scored}, {refs[reference]}",
            size=shape, warmup=True,
            prepare=prepare(reference), ours=score(which), peer=score(which, plain_ssim=True),
            agree=agree, ours_label="compute_metrics (BLAS SSIM route)",
            peer_label="compute_metrics, plain SSIM route (uniform_filter)", targets=targets))
    fast = load_fast(args.fast_rev)
    for which, reference in (("12", "binary"), ("12", "per_class"), ("12", "dense"),
                             ("16", "binary"), ("16", "dense")):
        scored = "12 + 4 SSIM (all removed paths)" if which == "16" else "12 metrics"
        cases.append(C.Case(
            comparison=f"Removed: row statistics + thresholds, {scored}, {refs[reference]}",
            size=shape, warmup=True, prepare=prepare(reference), ours=score(which, fast),
            peer=score(which), agree=agree, ours_label=f"similarity.py at {args.fast_rev[:7]}",
            peer_label="compute_metrics (direct formulas)", targets=targets))

    def prepare_rows():
        rng = np.random.default_rng(0)
        A = rng.standard_normal((n, 22 * n_times))
        k = np.full(n, 2 * n_times)  # the positives of a 2-channel ground truth
        return dict(A=A, B=np.maximum(A, 0.0), k=k)

    def fast_thresholds(d):
        A, B, k = d["A"], d["B"], d["k"]
        b_lo = B.min(axis=1)
        top = fast._top_stats(A, B, np.empty_like(A), 95, k, b_lo, B.max(axis=1) - b_lo, False)
        return np.column_stack([top["thr_a"], top["thr_b"]])

    def plain_thresholds(d):
        from neuroxai.metrics.similarity._stats import kth_largest

        A, k = d["A"], d["k"]
        return np.column_stack([np.percentile(A, 95, axis=1),
                                np.maximum(kth_largest(A, k), 0.0)])

    cases.append(C.Case(
        comparison="Removed: row thresholds (95th percentile, K-th largest of max(A, 0))",
        size=f"{n} x {22 * n_times}", warmup=True, prepare=prepare_rows,
        ours=fast_thresholds, peer=plain_thresholds, agree=agree,
        ours_label="_top_stats (hand-chained; also sums the values kept)",
        peer_label="np.percentile + per-row np.partition", targets=targets))
    return cases


def _nothing():
    import contextlib

    return contextlib.nullcontext()


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
