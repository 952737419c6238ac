"""Jacobian pseudo-inverse map of an encoder: neuroxai vs CEBRA's get_attribution_map.

The encoder is neuroxai's ``ContrastiveEEGEncoder`` (22 channels x 1125 samples ->
8 latents, seeded initialisation, input scaled to unit variance). Ours:
``jacobian_pinv_map(encoder, X, aggregate="mean", double_precision=True)`` (Jacobians by
one backward pass per latent through a batch of trials, pseudo-inverses through a thin
QR of ``J^H``, Moore-Penrose check on / off). The peer:

* CEBRA 0.6's ``cebra.attribution.get_attribution_map`` (float64 on the CPU; it takes
  ``(n, features)`` inputs, so the encoder is wrapped to take flattened trials), then
  the mean over trials of the per-trial Jacobians and pseudo-inverses. CEBRA is not a
  dependency: it is looked up on ``$CEBRA_PATH`` (default ``/tmp/cebra_dl/site``, an
  unpacked ``pip download --no-deps cebra literate-dataclasses``); its unused optional
  ``cvxpy`` import is stubbed.
* else a per-trial loop of ``torch.autograd.functional.jacobian`` + ``numpy.linalg.pinv``.

    python benchmarks/bench_jacobian.py [--quick] [--side both|ours|peer] [--peer cebra|loop]
                                        [--threads 1] [--repeats 3]

Every size runs the usual repeats (``--repeats``, default 3; CEBRA takes 5-10 s at the
full size on a quiet machine). On a loaded 2-core machine pass ``--threads 1``: two intra-op threads that wait
for each other behind other processes' jobs made both sides' torch parts several times
slower and the timings erratic (CEBRA's pseudo-inverse runs in numpy, whose BLAS threads
``--threads`` does not touch).
"""
import functools
import os
import sys

import _common as C

N_LATENTS = 8


def import_cebra():
    """CEBRA's get_attribution_map, or None (with the reason) when it cannot be imported."""
    path = os.environ.get("CEBRA_PATH", "/tmp/cebra_dl/site")
    if os.path.isdir(path) and path not in sys.path:
        sys.path.append(path)
    try:
        import types

        sys.modules.setdefault("cvxpy", types.ModuleType("cvxpy"))  # only its lsq inverse uses it
        from cebra.attribution.jacobian_attribution import get_attribution_map

        return get_attribution_map, None
    except Exception as err:  # noqa: BLE001 - any failure means "no CEBRA here"
        return None, f"{type(err).__name__}: {err}"


def make_encoder(X):
    import torch

    from neuroxai.models.encoder import ContrastiveEEGEncoder

    torch.manual_seed(0)
    # normalize=False: on the unit sphere the Jacobian has rank n_latents - 1 (f . J = 0),
    # and its pseudo-inverse then depends on the singular-value cut-off (numpy's 1e-15 vs
    # torch's max(m, n) * eps), not on the implementation.
    enc = ContrastiveEEGEncoder(X.shape[1], X.shape[2], n_latents=N_LATENTS,
                                normalize=False).eval()
    with torch.no_grad():
        enc.input_scale.fill_(1.0 / float(X.std()))
    return enc


def loop_pinv_map(enc, X):
    """The slow explicit reference: one Jacobian and one pinv per trial, float64."""
    import copy

    import numpy as np
    import torch

    work = copy.deepcopy(enc).double()
    J_sum = P_sum = 0.0
    for x in X:
        xt = torch.as_tensor(x, dtype=torch.float64)
        J = torch.autograd.functional.jacobian(lambda v: work(v[None])[0], xt)
        J = J.reshape(J.shape[0], -1).numpy()
        J_sum = J_sum + J
        P_sum = P_sum + np.linalg.pinv(J).T
    shape = (-1,) + X.shape[1:]
    return (J_sum / len(X)).reshape(shape), (P_sum / len(X)).reshape(shape)


def cebra_pinv_map(get_attribution_map, enc, X):
    import copy

    import torch

    work = copy.deepcopy(enc)  # CEBRA casts the model to float64 in place
    n_chans, n_times = X.shape[1:]

    class Flat(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, v):
            return self.m(v.reshape(-1, n_chans, n_times))

    flat = torch.as_tensor(X.reshape(len(X), -1), dtype=torch.float64).clone()
    jf, jhatg = get_attribution_map(Flat(work), flat, double_precision=True)
    shape = (-1, n_chans, n_times)
    # jf: (n, latents, features); jhatg: (n, features, latents) -> mean over trials
    return jf.mean(axis=0).reshape(shape), jhatg.mean(axis=0).T.reshape(shape)


def build(args):
    sizes = C.parse_sizes(args, (1,))
    get_map, why = import_cebra() if args.peer != "loop" else (None, "loop asked for")
    if args.peer == "cebra" and get_map is None:
        raise SystemExit(f"CEBRA cannot be imported: {why}")
    peer_name = "cebra" if get_map is not None else "loop"
    if get_map is None:
        print(f"CEBRA not used ({why}); peer = per-trial autograd jacobian + numpy pinv loop")

    @functools.lru_cache(None)
    def encoder():
        X, _, _, _ = C.load_trials()
        return make_encoder(X)

    def make_prepare(n):
        def prepare():
            import neuroxai.attribution.jacobian  # noqa: F401 - imports are not timed

            X, y, _, _ = C.load_trials()
            Xn, _ = C.tiled(X, y, n)
            return dict(enc=encoder(), X=Xn)
        return prepare

    def ours_fn(check):
        def ours(d):
            from neuroxai.attribution.jacobian import jacobian_pinv_map

            maps = jacobian_pinv_map(d["enc"], d["X"], aggregate="mean", double_precision=True,
                                     batch_size=32, check_moore_penrose=check, verbose=False)
            return maps.jacobian.data, maps.pinv.data, maps.conditions
        return ours

    def peer(d):
        if peer_name == "cebra":
            return cebra_pinv_map(get_map, d["enc"], d["X"])
        return loop_pinv_map(d["enc"], d["X"])

    def agree(o, p):
        j = C.diff(o[0], p[0])
        q = C.diff(o[1], p[1])
        nums = dict(jac_max_rel=j["max_rel"], pinv_max_rel=q["max_rel"],
                    max_rel=max(j["max_rel"], q["max_rel"]))
        if o[2] is not None:
            nums["moore_penrose_ok"] = float(o[2].all(axis=1).mean())
        return nums, (f"Jacobian map max rel {j['max_rel']:.1e}, pinv map max rel "
                      f"{q['max_rel']:.1e}" + (f"; Moore-Penrose ok in "
                                               f"{nums['moore_penrose_ok']:.0%} of trials"
                                               if o[2] is not None else ""))

    peer_label = ("CEBRA 0.6.1 get_attribution_map (float64) + mean" if peer_name == "cebra"
                  else "per-trial torch.autograd.functional.jacobian + np.linalg.pinv")
    cases = []
    for (label, n, reps), check in [(s, c) for s in C.trial_sizes(args, sizes)
                                    for c in (True, False)]:
        cases.append(C.Case(
            comparison="Jacobian pinv map (encoder, 8 latents)"
                       + ("" if check else ", Moore-Penrose check off"),
            size=f"{label} x 22 ch x 1125",
            repeats=None, prepare=make_prepare(n),
            ours=ours_fn(check), peer=peer, agree=agree,
            ours_label="jacobian_pinv_map(aggregate='mean', double_precision=True"
                       + ("" if check else ", check_moore_penrose=False") + ")",
            peer_label=peer_label,
            targets={"time ratio >= 10x": ("time_ratio", ">=", 10.0),
                     "equal maps (rel 1e-6)": ("max_rel", "<=", 1e-6)}))
    return cases


if __name__ == "__main__":
    p = C.make_parser(__doc__)
    p.add_argument("--peer", choices=("auto", "cebra", "loop"), default="auto")
    a = p.parse_args()
    C.setup(a)
    import torch

    print(f"torch intra-op threads: {torch.get_num_threads()}")
    C.run_cases(build(a), a, __file__)
