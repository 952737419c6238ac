"""Integrated Gradient Correlation: neuroxai.attribution.igc.compute_igc vs a plain loop.

The peer is the straightforward implementation of the definition: for every trial n,
baseline k and quadrature step s, one forward pass of the single interpolated trial and
one backward pass per class (torch.autograd), accumulating
``IGC_c = sum_n w_c[n] sum_k (x_n - b_k) * sum_s q_s grad f_c(b_k + a_s (x_n - b_k))``
with ``w_c = z_c / (N sigma_f K)``. Both sides get the same model, trials, baselines
(32 trials drawn once with a fixed seed) and Gauss-Legendre rule.

Timing at 288 trials x 32 baselines x 32 steps: ours runs it all (or, with
``--ours-trials N``, N trials with the time scaled by 288 / N); the loop runs its first
``--loop-trials`` trials (all baselines and steps) and its time is scaled by
288 / loop_trials. Both costs are linear in the trials (n_trials x K x steps points);
our peak memory is bounded by the batch of interpolation points, not the trials.
Agreement is checked on a small complete problem (12 trials x 3 baselines x 8 steps) where
the loop runs in full.

    python benchmarks/bench_igc.py [--quick] [--side both|ours|peer] [--loop-trials 2]
"""
import functools

import _common as C

K, STEPS = 32, 32


def igc_weights(model, X, y, n_cls, K):
    import numpy as np
    import torch

    with torch.no_grad():
        F = torch.cat([model(torch.as_tensor(X[i:i + 64])) for i in range(0, len(X), 64)])
    F = F.double().numpy()
    T = np.eye(n_cls)[y]
    z = (T - T.mean(0)) / T.std(0)
    return (z / (len(X) * F.std(0) * K)).T  # (C, N)


def loop_igc(model, X, y, B, n_steps, n_trials=None):
    """IGC by the definition, one trial x baseline x step at a time (partial sum over the
    first ``n_trials`` trials when given, with the weights of the full data set)."""
    import numpy as np
    import torch

    n_cls = 4
    w = igc_weights(model, X, y, n_cls, len(B))
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas, q = (nodes + 1) / 2, weights / 2
    attr = np.zeros((n_cls,) + X.shape[1:])
    Xt, Bt = torch.as_tensor(X), torch.as_tensor(B)
    for n in range(len(X) if n_trials is None else n_trials):
        for k in range(len(B)):
            ig = torch.zeros((n_cls,) + X.shape[1:], dtype=torch.float64)
            d = Xt[n] - Bt[k]
            for a, qs in zip(alphas, q):
                pt = (Bt[k] + float(a) * d)[None].requires_grad_(True)
                out = model(pt)[0]
                for c in range(n_cls):
                    (g,) = torch.autograd.grad(out[c], pt, retain_graph=c < n_cls - 1)
                    ig[c] += qs * g[0].double()
            attr += (w[:, n, None, None] * (ig * d.double()).numpy())
    return attr


def build(args):
    sizes = C.parse_sizes(args, (1,))
    loop_trials = args.loop_trials

    @functools.lru_cache(None)
    def model():
        return C.load_model()

    def baselines(X, k):
        import numpy as np

        idx = np.sort(np.random.default_rng(0).choice(len(X), size=k, replace=False))
        return X[idx]

    def make_prepare(n, k, n_ours=None):
        def prepare():
            import numpy as np

            import neuroxai.attribution.igc  # noqa: F401 - imports are not timed

            X, y, _, _ = C.load_trials()
            if args.smoke:  # one trial of each class (a constant target has no correlation)
                keep = np.concatenate([np.flatnonzero(y == c)[:1] for c in range(4)])
                X, y = X[keep], y[keep]
            Xn, yn = C.tiled(X, y, n)
            if n_ours is not None:  # ours on the first trials only (timing, extrapolated)
                Xn, yn = Xn[:n_ours], yn[:n_ours]
            return dict(model=model(), X=Xn, y=yn, B=baselines(X, k))
        return prepare

    def ours_fn(steps):
        def ours(d):
            from neuroxai.attribution.igc import compute_igc

            return compute_igc(d["model"], d["X"], d["y"], n_steps=steps, baselines=d["B"],
                               batch_size=256, verbose=False).data
        return ours

    def peer_fn(steps, n_trials):
        def peer(d):
            return loop_igc(d["model"], d["X"], d["y"], d["B"], steps, n_trials)
        return peer

    def agree(o, p):
        nums = C.diff(o, p)
        return nums, C.agree_text(nums) + " (12 trials x 3 baselines x 8 steps, loop in full)"

    cases = []
    for label, n, _reps in C.trial_sizes(args, sizes):
        k = 4 if args.smoke else K
        steps = 4 if args.smoke else STEPS
        m = min(loop_trials, n)
        n_ours = min(args.ours_trials or n, n)
        cases.append(C.Case(
            ours_scale=n / n_ours,
            ours_note=("" if n_ours == n
                       else f"ours timed on {n_ours} of {n} trials, x {n / n_ours:g}"),
            comparison=f"IGC ({k} baselines x {steps} steps)", size=f"{label} x 22 ch x 1125",
            repeats=1, prepare=make_prepare(n, k, n_ours if n_ours < n else None),
            ours=ours_fn(steps),
            peer=peer_fn(steps, m), agree=agree, peer_scale=n / m,
            peer_note=f"loop timed on {m} of {n} trials, scaled x {n / m:g}",
            agree_case=(make_prepare(12, 3), ours_fn(8), peer_fn(8, None)),
            ours_label="compute_igc(n_baselines=32, n_steps=32, batch_size=256)",
            peer_label="per trial x baseline x step autograd loop",
            targets={"time ratio >= 10x": ("time_ratio", ">=", 10.0),
                     "ours < 300 s": ("ours_time_s", "<", 300.0),
                     "equal (rel 1e-4)": ("max_rel", "<=", 1e-4)}))
    return cases


if __name__ == "__main__":
    p = C.make_parser(__doc__)
    p.add_argument("--loop-trials", type=int, default=2,
                   help="trials the loop runs (its time is scaled to all trials)")
    p.add_argument("--ours-trials", type=int, default=None,
                   help="run ours on the first N trials only and scale its time (default: all)")
    a = p.parse_args()
    C.setup(a)
    C.run_cases(build(a), a, __file__)
