"""Per-trial saliency / integrated gradients / DeepLIFT: neuroxai.attribution.attribute vs
braindecode.visualization's captum wrappers.

braindecode's ``saliency``, ``integrated_gradients`` and ``deep_lift`` send the whole
batch to captum at once (IG: n_trials x n_steps rows in one forward pass); ours runs
batches of 32 trials (IG: 32 rows per forward pass, ``internal_batch_size``). Same
model, same trials, target = the true label, zero baseline, IG with 32 Gauss-Legendre
steps on both sides (captum's default rule, which braindecode uses; ours is given
``integration="gausslegendre"`` explicitly).

DeepLIFT differs by design: captum has no rescale rule for braindecode's Square and
SafeLog modules, so braindecode's map is input x gradient there; ours adds the rules.
The agreement column reports each side's completeness error
``|sum(attr) - (f(x) - f(0))| / |f(x) - f(0)|`` instead of a difference.

    python benchmarks/bench_captum.py [--quick] [--side both|ours|peer] [--methods ...]
"""
import functools

import _common as C

BATCH = 32
STEPS = 32
METHODS = ("saliency", "integrated_gradients", "deeplift")


def build(args):
    sizes = C.parse_sizes(args, (1,))

    @functools.lru_cache(None)
    def model():
        return C.load_model()

    def make_prepare(n):
        def prepare():
            import braindecode.visualization.attribution  # noqa: F401 - imports are not timed
            import captum.attr  # noqa: F401
            import torch

            import neuroxai.attribution  # noqa: F401

            X, y, _, _ = C.load_trials()
            Xn, yn = C.tiled(X, y, n)
            return dict(model=model(), X=Xn, y=yn, x=torch.from_numpy(Xn),
                        t=torch.as_tensor(yn))
        return prepare

    def ours_fn(method):
        kw = dict(n_steps=STEPS, integration="gausslegendre") \
            if method == "integrated_gradients" else {}

        def ours(d):
            from neuroxai.attribution import attribute

            return attribute(d["model"], d["X"], d["y"], method=method, batch_size=BATCH,
                             **kw).data
        return ours

    def peer_fn(method, m):
        def peer(d):
            from braindecode.visualization import attribution as bda

            d = dict(d, x=d["x"][:m], t=d["t"][:m])

            if method == "saliency":
                out = bda.saliency(d["model"], d["x"], d["t"])
            elif method == "integrated_gradients":
                out = bda.integrated_gradients(d["model"], d["x"], d["t"], steps=STEPS)
            else:
                out = bda.deep_lift(d["model"], d["x"], d["t"])
            return out.numpy()
        return peer

    def completeness(d, attr):
        import numpy as np
        import torch

        with torch.no_grad():
            m = d["model"]
            fx = torch.cat([m(d["x"][i:i + 64]) for i in range(0, len(d["x"]), 64)]).numpy()
            f0 = m(torch.zeros_like(d["x"][:1])).numpy()
        rows = np.arange(len(d["y"]))
        delta = (fx - f0)[rows, d["y"]].astype(np.float64)
        err = np.abs(attr.astype(np.float64).sum(axis=(1, 2)) - delta) / np.abs(delta)
        return float(np.median(err)), float(err.max())

    cases = []
    methods = [m for m in METHODS if m in (getattr(args, "methods", None) or METHODS)]
    for label, n, reps in C.trial_sizes(args, sizes):
        for method in methods:
            targets = {"ours peak RSS < 1 GiB": ("ours_peak_mib", "<", 1024.0),
                       "time no worse (ratio >= 1)": ("time_ratio", ">=", 1.0)}
            if method != "deeplift":
                targets["equal results (rel 1e-4)"] = ("max_rel", "<=", 1e-4)

                def agree(o, p):
                    nums = C.diff(o[:len(p)], p)
                    return nums, C.agree_text(nums)
                extra = None
                prep = make_prepare(n)
            else:
                state = {}
                prep0 = make_prepare(n)

                def prep(prep0=prep0, state=state):
                    state["d"] = prep0()
                    return state["d"]

                def agree(o, p, state=state):
                    mo, xo = completeness(state["d"], o)
                    dp = state["d"]
                    m = len(p)
                    mp, xp = completeness(dict(dp, x=dp["x"][:m], y=dp["y"][:m]), p)
                    nums = dict(ours_completeness_max=xo, peer_completeness_max=xp,
                                ours_completeness_median=mo, peer_completeness_median=mp)
                    return nums, (f"completeness error (median / max, relative): ours "
                                  f"{mo:.1e} / {xo:.1e}, braindecode {mp:.1e} / {xp:.1e}")
                extra = None
            steps = f", n_steps={STEPS}" if method == "integrated_gradients" else ""
            # braindecode's IG holds n_trials x n_steps rows at once (~0.7 GiB per 16
            # trials): on a shared machine it runs on a third of the trials, and its time
            # and peak are scaled up (both grow linearly with the trials it is given).
            m = n if method != "integrated_gradients" or n <= 32 else n // 3
            note = "" if m == n else f"peer run on {m} of {n} trials; time and peak x {n / m:g}"
            cases.append(C.Case(
                peer_scale=n / m, peer_peak_scale=n / m, peer_note=note,
                comparison=f"attribute: {method}", size=f"{label} x 22 ch x 1125",
                repeats=1 if method == "integrated_gradients" else reps, prepare=prep,
                ours=ours_fn(method), peer=peer_fn(method, m),
                agree=agree, extra=extra,
                ours_label=f"attribute(method={method!r}, batch_size={BATCH}{steps})",
                peer_label=f"braindecode {method} wrapper, whole batch{steps}",
                targets=targets))
    return cases


if __name__ == "__main__":
    p = C.make_parser(__doc__)
    p.add_argument("--methods", nargs="+", choices=METHODS, default=None)
    a = p.parse_args()
    C.setup(a)
    C.run_cases(build(a), a, __file__)
