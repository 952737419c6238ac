"""Jacobian pseudo-inverse maps of an encoder: neuroxai vs CEBRA, and each speed path kept.

The encoder is neuroxai's ``ContrastiveEEGEncoder`` (22 channels x 1125 samples at 250 Hz,
the simulated BCI IV 2a session, -> 8 latents, seeded initialisation, input scaled to unit
variance). Comparisons:

1. ``compute_jacobian_pinv_maps(encoder, X, aggregate="mean", double_precision=True)``,
   Moore-Penrose check on / off, against CEBRA 0.6's
   ``cebra.attribution.get_attribution_map`` (float64 on the CPU; it takes ``(n,
   features)`` inputs, so the encoder is wrapped to take flattened trials) and the mean
   over trials of its per-trial Jacobians and pseudo-inverses. CEBRA is not a dependency:
   it is looked up on ``$CEBRA_PATH`` (default ``/tmp/cebra_dl/site``, an unpacked ``pip
   download --no-deps cebra literate-dataclasses``); its unused optional ``cvxpy`` import is
   stubbed. Without it the peer is a per-trial loop of
   ``torch.autograd.functional.jacobian`` + ``numpy.linalg.pinv``.
2. The speed paths of ``neuroxai.attribution.jacobian`` / ``_linalg``, each against the
   plain way to get the same numbers:

   * "pseudo-inverse of per-trial Jacobians": ``_pinv`` (Gram / thin-QR routes) vs
     ``torch.linalg.pinv`` on the float64 rows of one batch of trials, at the width of the
     spectral route (``A``, 2 x 22 x n_bins) and of the autograd route (``J``, 22 x 1125);
   * "spectral front end vs autograd route": the maps of the encoder vs those of the same
     function hidden behind a wrapper module (no ``spectral_front_end``);
   * "mean map from summed rows": ``aggregate="mean"`` (rows summed, two inverse FFTs in
     all) vs ``aggregate=None`` then the mean over trials (two inverse FFTs per trial).

    python benchmarks/bench_jacobian.py [--quick] [--side both|ours|peer] [--peer cebra|loop]
                                        [--threads 1] [--repeats 3] [--only cebra|paths]

Every size runs the usual repeats (``--repeats``, default 3; CEBRA takes 5-10 s at the
full size on a quiet machine). On a loaded 2-core machine pass ``--threads 1``: two
intra-op threads that wait for each other behind other processes' jobs made both sides'
torch parts several times slower and the timings erratic (CEBRA's pseudo-inverse runs in
numpy, whose BLAS threads ``--threads`` does not touch).
"""
import functools
import os
import sys

import _common as C

N_LATENTS = 8
SFREQ = 250.0  # C.load_trials(): the simulated BCI IV 2a session "1test"


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
    enc = ContrastiveEEGEncoder(X.shape[1], X.shape[2], n_latents=N_LATENTS, sfreq=SFREQ,
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


def opaque(enc):
    """The encoder's function behind a wrapper without ``spectral_front_end``."""
    import torch

    class Opaque(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x)

    return Opaque(enc).eval()


def maps_agree(o, p):
    nums = {f"{k}_max_rel": C.diff(a, b)["max_rel"] for k, a, b in zip(("jac", "pinv"), o, p)}
    nums["max_rel"] = max(nums.values())
    return nums, ", ".join(f"{k} {v:.1e}" for k, v in nums.items())


def path_cases(encoder, n_trials):
    """The speed paths kept in neuroxai.attribution.jacobian/_linalg, each vs the plain way."""
    def prepare():
        import copy

        import torch

        from neuroxai.attribution.jacobian import _AutogradRoute, _SpectralRoute

        X, y, _, _ = C.load_trials()
        Xn, _ = C.tiled(X, y, n_trials)
        enc = encoder()
        work = copy.deepcopy(enc).double()
        xb = torch.as_tensor(Xn[:32], dtype=torch.float64)
        with torch.no_grad():
            rows = {"A": _SpectralRoute.of(work, Xn.shape[1:]).rows(xb),
                    "J": _AutogradRoute(work, Xn.shape[1:]).rows(xb[:8])}
        return dict(enc=enc, X=Xn, rows=rows)

    def pinv_ours(key):
        def run(d):
            from neuroxai.attribution._linalg import _pinv

            return _pinv(d["rows"][key])[0].resolve_conj().numpy()
        return run

    def pinv_peer(key):
        def run(d):
            import torch

            return torch.linalg.pinv(d["rows"][key]).numpy()
        return run

    def pinv_qr(d):
        from neuroxai.attribution._linalg import _pinv

        return _pinv(d["rows"]["A"], force_qr=True)[0].resolve_conj().numpy()

    def pinv_agree(o, p):
        q = C.diff(o, p)
        return dict(max_rel=q["max_rel"]), f"pinv max rel {q['max_rel']:.1e}"

    def maps(model_of, aggregate):
        def run(d):
            import numpy as np

            from neuroxai.attribution import compute_jacobian_pinv_maps

            out = compute_jacobian_pinv_maps(model_of(d["enc"]), d["X"], aggregate=aggregate,
                                             double_precision=True, check_moore_penrose=False,
                                             verbose=False)
            return tuple(np.asarray(m.data).mean(0) if aggregate is None else m.data
                         for m in out)
        return run

    size = f"{n_trials} trials x 22 ch x 1125"
    eq = {"equal (rel 1e-9)": ("max_rel", "<=", 1e-9), "time ratio >= 2x": ("time_ratio", ">=",
                                                                             2.0)}
    cases = [C.Case(comparison=f"pseudo-inverse of per-trial Jacobians ({key}: {label})",
                    size=f"{n} trials x 8 x {'2 x 22 x n_bins' if key == 'A' else '24750'}",
                    prepare=prepare, ours=pinv_ours(key), peer=pinv_peer(key), agree=pinv_agree,
                    ours_label="_linalg._pinv (Gram / thin QR)",
                    peer_label="torch.linalg.pinv", targets=eq, warmup=True)
             for key, label, n in (("A", "spectral route", 32), ("J", "autograd route", 8))]
    # the Gram route inside _pinv, for the well-conditioned J of an encoder without output
    # normalisation, against the thin-QR route that handles every J
    cases.append(C.Case(comparison="pseudo-inverse: Gram route vs thin-QR route (A)",
                        size="32 trials x 8 x 2 x 22 x n_bins", prepare=prepare,
                        ours=pinv_ours("A"), peer=pinv_qr, agree=pinv_agree,
                        ours_label="_pinv (Gram route taken)",
                        peer_label="_pinv(force_qr=True)", targets=eq, warmup=True))
    cases.append(C.Case(
        comparison="Jacobian pinv map: spectral front end vs autograd route", size=size,
        prepare=prepare, ours=maps(lambda e: e, "mean"), peer=maps(opaque, "mean"),
        agree=maps_agree, ours_label="compute_jacobian_pinv_maps(encoder)",
        peer_label="compute_jacobian_pinv_maps(wrapper without spectral_front_end)",
        targets=eq))
    cases.append(C.Case(
        comparison="Jacobian pinv mean map: summed rows vs per-trial maps", size=size,
        prepare=prepare, ours=maps(lambda e: e, "mean"), peer=maps(lambda e: e, None),
        agree=maps_agree, ours_label="aggregate='mean' (two inverse FFTs in all)",
        peer_label="aggregate=None, then mean over trials", targets=eq))
    return cases


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
            from neuroxai.attribution import compute_jacobian_pinv_maps

            jac, pinv = compute_jacobian_pinv_maps(d["enc"], d["X"], aggregate="mean",
                                                   double_precision=True, batch_size=32,
                                                   check_moore_penrose=check, verbose=False)
            return jac.data, pinv.data, jac.coords.get("moore_penrose")
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

    if args.only == "paths":
        return path_cases(encoder, min(C.trial_sizes(args, (1,))[0][1], 64))
    peer_label = ("CEBRA 0.6.1 get_attribution_map (float64) + mean" if peer_name == "cebra"
                  else "per-trial torch.autograd.functional.jacobian + np.linalg.pinv")
    cases = []
    for (label, n, _reps), check in [(s, c) for s in C.trial_sizes(args, sizes)
                                    for c in (True, False)]:
        cases.append(C.Case(
            comparison="Jacobian pinv map (encoder, 8 latents)"
                       + ("" if check else ", Moore-Penrose check off"),
            size=f"{label} x 22 ch x 1125",
            repeats=None, prepare=make_prepare(n),
            ours=ours_fn(check), peer=peer, agree=agree,
            ours_label="compute_jacobian_pinv_maps(aggregate='mean', double_precision=True"
                       + ("" if check else ", check_moore_penrose=False") + ")",
            peer_label=peer_label,
            targets={"time ratio >= 10x": ("time_ratio", ">=", 10.0),
                     "equal maps (rel 1e-6)": ("max_rel", "<=", 1e-6)}))
    if args.only != "cebra":
        cases += path_cases(encoder, min(C.trial_sizes(args, (1,))[0][1], 64))
    return cases


if __name__ == "__main__":
    p = C.make_parser(__doc__)
    p.add_argument("--peer", choices=("auto", "cebra", "loop"), default="auto")
    p.add_argument("--only", choices=("all", "cebra", "paths"), default="all",
                   help="cebra: the comparison with CEBRA only; paths: the speed paths only")
    a = p.parse_args()
    C.setup(a)
    import torch

    print(f"torch intra-op threads: {torch.get_num_threads()}")
    C.run_cases(build(a), a, __file__)
