"""Haufe patterns: neuroxai's low-rank route vs the tutorial's explicit covariance.

The explicit route (Schirrmeister et al.'s tutorial; the formula of
``tests/test_spectral.py::test_haufe_low_rank_equals_explicit_covariance``) builds the
``(chan*freq)^2`` covariance of the amplitude spectra with ``np.cov`` (1.14 GiB in
float64 for 22 channels x 563 frequencies) and contracts it with the class-centred
mean gradients. neuroxai never forms it: ``Cov(A) w = A_c^T (A_c w) / (n - 1)``.
Both get the same gradients (seeded random, float32, the shape of the amplitude
gradients: the cost does not depend on their values) and the same trials.

    python benchmarks/bench_haufe.py [--quick] [--side both|ours|peer]
"""
import _common as C


def explicit_haufe(G, X):
    """The tutorial's route (the peer)."""
    import numpy as np

    n_classes, n = G.shape[:2]
    A = np.abs(np.fft.rfft(X.astype(np.float64), axis=-1)).reshape(n, -1)
    cov = np.cov(A, rowvar=False)
    W = G.mean(axis=1, dtype=np.float64).reshape(n_classes, -1)
    W -= W.mean(axis=0)
    return np.einsum("de,ke->kd", cov, W).reshape((n_classes,) + G.shape[2:])


def build(args):
    sizes = C.parse_sizes(args, (1, 2, 4))

    def make_prepare(n):
        def prepare():
            import numpy as np

            import neuroxai.attribution  # noqa: F401 - imports are not timed

            if args.smoke:
                X = np.random.default_rng(0).standard_normal((n, 4, 64)).astype(np.float32)
            else:
                X0, y0, _, _ = C.load_trials()
                X, _ = C.tiled(X0, y0, n)
            n_freqs = X.shape[-1] // 2 + 1
            G = np.random.default_rng(1).standard_normal(
                (4, n, X.shape[1], n_freqs), dtype=np.float32)
            return dict(X=X, G=G)
        return prepare

    def ours(d):
        from neuroxai.attribution import compute_haufe_patterns

        return compute_haufe_patterns(d["G"], d["X"]).data

    def peer(d):
        return explicit_haufe(d["G"], d["X"])

    def agree(o, p):
        nums = C.diff(o, p)
        return nums, C.agree_text(nums)

    cases = []
    for label, n, reps in C.trial_sizes(args, sizes):
        shape = "4 ch x 64" if args.smoke else "22 ch x 563 freqs"
        cases.append(C.Case(
            comparison="Haufe patterns", size=f"{label} x {shape}", repeats=reps,
            prepare=make_prepare(n), ours=ours, peer=peer, agree=agree,
            ours_label="compute_haufe_patterns (low rank)",
            peer_label="np.cov (chan*freq)^2 + einsum",
            targets={"time ratio >= 50x": ("time_ratio", ">=", 50.0),
                     "peak ratio >= 20x": ("peak_ratio", ">=", 20.0),
                     "equal to 1e-6": ("max_rel", "<=", 1e-6)}))
    return cases


if __name__ == "__main__":
    raise SystemExit(C.main_for(__file__, __doc__, build))
