"""Attribution metrics and scalp projection: neuroxai.metrics vs braindecode.visualization.

* braindecode's 12 metrics (``compute_metrics``), 4 SSIM metrics
  (``compute_ssim_metrics``) and both (the tutorial's 12 + 4) vs
  ``neuroxai.metrics.compute_metrics`` in channel mode, on n x 22 x 1125 maps (seeded
  Gaussian explanations; the reference is a binary ground truth on C3 and C4,
  braindecode's ground-truth mode). Ours are the same direct formulas as braindecode's,
  vectorised over samples in cache-sized batches, and SSIM with box means as BLAS
  products (``bench_metrics_paths.py`` times each fast path against plain code).
* 200 channel maps projected onto the 64 x 64 scalp grid: braindecode's per-map
  ``project_to_topomap`` (a Clough-Tocher interpolation per map) vs
  ``make_scalp_projector(info).project(maps)`` (the interpolation as one linear operator;
  the time includes building it).

Agreement: max |difference| over finite values (ours is NaN where braindecode writes 0
for a skipped sample; none are skipped here) and, for the projection, over in-head pixels.

    python benchmarks/bench_metrics.py [--quick] [--side both|ours|peer]
"""
import _common as C

CH = ("Fz FC3 FC1 FCz FC2 FC4 C5 C3 C1 Cz C2 C4 C6 CP3 CP1 CPz CP2 CP4 P1 Pz P2 POz").split()


def build(args):
    sizes = C.parse_sizes(args, (1,))

    def make_prepare(n, n_times):
        def prepare():
            import braindecode.visualization.metrics  # noqa: F401 - imports are not timed
            import numpy as np

            import neuroxai.metrics  # noqa: F401

            rng = np.random.default_rng(0)
            a = rng.standard_normal((n, 22, n_times))
            gt = np.zeros_like(a)
            gt[:, [CH.index("C3"), CH.index("C4")]] = 1.0
            return dict(a=a, gt=gt)
        return prepare

    def ours12(d):
        from neuroxai.metrics.similarity import METRIC_NAMES, compute_metrics

        return compute_metrics(d["a"], d["gt"], metrics=METRIC_NAMES, verbose=False).to_numpy()

    def peer12(d):
        from braindecode.visualization import metrics as bd

        return bd.compute_metrics(d["a"], d["gt"])[0]

    def ours_ssim(d):
        from neuroxai.metrics.similarity import SSIM_METRIC_NAMES, compute_metrics

        return compute_metrics(d["a"], d["gt"], metrics=SSIM_METRIC_NAMES,
                               verbose=False).to_numpy()

    def peer_ssim(d):
        from braindecode.visualization import metrics as bd

        return bd.compute_ssim_metrics(d["a"], d["gt"])[0]

    def ours16(d):
        from neuroxai.metrics.similarity import METRIC_NAMES, SSIM_METRIC_NAMES, compute_metrics

        return compute_metrics(d["a"], d["gt"], metrics=METRIC_NAMES + SSIM_METRIC_NAMES,
                               verbose=False).to_numpy()

    def peer16(d):
        import numpy as np
        from braindecode.visualization import metrics as bd

        return np.column_stack([bd.compute_metrics(d["a"], d["gt"])[0],
                                bd.compute_ssim_metrics(d["a"], d["gt"])[0]])

    def agree(o, p):
        nums = C.diff(o, p, scale=1.0)  # scores are O(1): absolute difference
        nums = dict(max_abs=nums["max_abs"], max_rel=nums["max_abs"])
        return nums, f"max abs score difference {nums['max_abs']:.1e}"

    def prepare_proj(n_maps):
        def prepare():
            import braindecode.visualization.topology  # noqa: F401 - imports are not timed
            import numpy as np

            from neuroxai.data import make_info

            info = make_info(CH, 250.0)
            return dict(info=info, chan=np.random.default_rng(0).standard_normal((n_maps, 22)))
        return prepare

    def ours_proj(d):
        from neuroxai.metrics import make_scalp_projector

        proj = make_scalp_projector(d["info"], verbose=False)
        return proj.project_image(d["chan"])

    def peer_proj(d):
        import numpy as np
        from braindecode.visualization.topology import project_to_topomap

        return np.stack([project_to_topomap(c, d["info"]["chs"]) for c in d["chan"]])

    def agree_proj(o, p):
        import numpy as np

        inside = np.isfinite(o[0])
        nums = C.diff(o[:, inside], p[:, inside])
        return nums, C.agree_text(nums) + " (in-head pixels)"

    cases = []
    n_times = 64 if args.smoke else 1125
    for label, n, reps in C.trial_sizes(args, sizes):
        shape = f"{label} x 22 ch x {n_times}"
        for comparison, ours, peer, ours_label, peer_label in (
                ("Metrics: braindecode's 12", ours12, peer12, "METRIC_NAMES",
                 "braindecode compute_metrics"),
                ("Metrics: 4 SSIM", ours_ssim, peer_ssim, "SSIM_METRIC_NAMES",
                 "braindecode compute_ssim_metrics"),
                ("Metrics: 12 + 4 SSIM", ours16, peer16, "METRIC_NAMES + SSIM_METRIC_NAMES",
                 "braindecode compute_metrics + compute_ssim_metrics")):
            cases.append(C.Case(
                comparison=comparison, size=shape, repeats=reps, warmup=True,
                prepare=make_prepare(n, n_times), ours=ours, peer=peer, agree=agree,
                ours_label=f"compute_metrics(metrics={ours_label})", peer_label=peer_label,
                targets={"time no worse (ratio >= 1)": ("time_ratio", ">=", 1.0),
                         "equal values (1e-8)": ("max_abs", "<=", 1e-8)}))
    n_maps = 8 if args.smoke else (40 if args.quick else 200)
    cases.append(C.Case(
        comparison="Scalp projection", size=f"{n_maps} maps -> 64 x 64",
        prepare=prepare_proj(n_maps), ours=ours_proj, peer=peer_proj, agree=agree_proj,
        ours_label="make_scalp_projector(info).project_image (incl. build)",
        peer_label="braindecode project_to_topomap per map",
        targets={"time ratio >= 10x": ("time_ratio", ">=", 10.0),
                 "equal values (1e-5)": ("max_abs", "<=", 1e-5)}))
    return cases


if __name__ == "__main__":
    raise SystemExit(C.main_for(__file__, __doc__, build))
