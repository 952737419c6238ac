"""Contrastive encoder, Jacobian pseudo-inverse maps, encoder-side captum maps, CEBRA metrics."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from neuroxai._utils import (
    CheckpointError,
    InvalidInputError,
    ModelMismatchError,
    NonFiniteError,
    ShapeError,
    UnknownNameError,
)
from neuroxai.attribution import (
    compute_jacobian_patterns,
    compute_jacobian_pinv_maps,
    compute_jacobians,
    compute_latent_attributions,
    reduce_to_channels,
)
from neuroxai.attribution._base import Attribution
from neuroxai.metrics.cebra import (
    attribution_auc,
    check_moore_penrose_conditions,
    connected_stats,
)
from neuroxai.models.encoder import (
    ContrastiveEEGEncoder,
    infonce_loss,
    load_encoder,
    save_encoder,
    train_encoder,
)


@pytest.fixture(autouse=True)
def _single_thread():
    # These sizes are too small to gain from intra-op threads, and on a loaded 2-core machine
    # thread synchronisation costs more than the work; one thread also makes the trained
    # encoder (and so its maps) the same whatever the machine's core count.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


SMALL = dict(n_chans=4, n_times=32, n_latents=3, n_spatial=3, n_bands=2, sfreq=32.0, fmin=2.0,
             fmax=12.0, n_hidden=8)


def make_info(n_chans, sfreq, types="eeg"):
    import mne

    return mne.create_info([f"E{i}" for i in range(n_chans)], sfreq, types)


def pinv_maps(model, X, **kw):
    """(jacobian, pinv, Moore-Penrose conditions)."""
    jac, pinv = compute_jacobian_pinv_maps(model, X, **kw)
    return jac, pinv, jac.coords.get("moore_penrose")


def make_encoder(seed=0, **kw):
    torch.manual_seed(seed)
    return ContrastiveEEGEncoder(**{**SMALL, **kw}).eval()


def small_X(n=5, seed=0, n_chans=4, n_times=32):
    return np.random.default_rng(seed).standard_normal((n, n_chans, n_times)).astype(np.float32)


def variance_dataset(n=96, n_chans=8, n_times=128, sources=(1, 4), seed=0):
    """4 classes = 2 bits; bit b sets the 10 Hz amplitude of source channel b (0.5 or 2.5).

    Every other channel carries a 10 Hz rhythm of random amplitude in the same range,
    so an encoder must single out both sources to separate the classes.
    """
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(4), n // 4)
    t = np.arange(n_times) / 128.0
    amp = rng.uniform(0.5, 2.5, (n, n_chans))
    amp[:, sources[0]] = np.where(y % 2, 2.5, 0.5) * rng.uniform(0.9, 1.1, n)
    amp[:, sources[1]] = np.where(y // 2, 2.5, 0.5) * rng.uniform(0.9, 1.1, n)
    X = 0.5 * rng.standard_normal((n, n_chans, n_times))
    X += amp[..., None] * np.sin(2 * np.pi * 10 * t + rng.uniform(0, 2 * np.pi, (n, n_chans, 1)))
    return (1e-5 * X).astype(np.float32), y


class KnownSupport(nn.Module):
    """Latent k = mixture of the log-variances of its own two channels only."""

    support = ((0, 1), (2, 3), (4, 5))

    def __init__(self):
        super().__init__()
        self.mix = nn.Parameter(torch.tensor([[1.0, -0.5], [0.7, 0.9], [-1.2, 0.4]]))

    def forward(self, x):
        logvar = torch.log(x.var(dim=-1) + 1e-3)
        return torch.stack([logvar[:, list(s)] @ self.mix[k] for k, s in enumerate(self.support)],
                           dim=1)


# -- Jacobians and pseudo-inverses -----------------------------------------------------------

def test_jacobians_equal_autograd_per_trial():
    enc, X = make_encoder(), small_X()
    for double in (False, True):
        J = compute_jacobians(enc, X, batch_size=2, double_precision=double)
        assert J.dims == ("trial", "latent", "chan", "time") and J.method == "jacobian"
        J = J.data
        assert J.shape == (5, 3, 4, 32)
        assert J.dtype == (np.float64 if double else np.float32)
        ref_model = enc.double() if double else enc
        for i in range(len(X)):
            xi = torch.as_tensor(X[i], dtype=torch.float64 if double else torch.float32)
            ref = torch.autograd.functional.jacobian(lambda x, m=ref_model: m(x[None])[0],
                                                     xi).numpy()
            np.testing.assert_allclose(J[i], ref, rtol=1e-4 if not double else 1e-10,
                                       atol=1e-6 * np.abs(ref).max())
        enc.float()


def test_pinv_equals_numpy_and_aggregation():
    enc, X = make_encoder(normalize=False), small_X(6)
    per = compute_jacobian_pinv_maps(enc, X, aggregate=None, double_precision=True,
                                     batch_size=4)
    assert per[0].dims == ("trial", "latent", "chan", "time")
    assert [m.method for m in per] == ["jacobian", "jacobian_pinv"]
    conditions = per[0].coords["moore_penrose"]
    assert conditions.shape == (6, 4) and conditions.all()
    assert per[1].params["moore_penrose_fraction_ok"] == [1.0] * 4
    J = compute_jacobians(enc, X, double_precision=True).data.reshape(6, 3, -1)
    np.testing.assert_allclose(per[0].data.reshape(6, 3, -1), J, rtol=1e-10)
    for i in range(6):
        ref = np.linalg.pinv(J[i])  # (n_inputs, n_latents); the map stores it transposed
        np.testing.assert_allclose(per[1].data[i].reshape(3, -1), ref.T, rtol=1e-7,
                                   atol=1e-9 * np.abs(ref).max())
    # aggregate: mean vs sum differ by N, max bounds mean, and each equals the per-trial reduction
    maps = {a: compute_jacobian_pinv_maps(enc, X, aggregate=a, double_precision=True,
                                          batch_size=4) for a in ("mean", "sum", "max")}
    for kind in (0, 1):
        mean, total = maps["mean"][kind].data, maps["sum"][kind].data
        np.testing.assert_allclose(total, 6 * mean, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(mean, per[kind].data.mean(0), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(maps["max"][kind].data, per[kind].data.max(0))
        assert maps["mean"][kind].dims == ("latent", "chan", "time")
    # transform: abs is applied per trial, before aggregation
    ab = compute_jacobian_pinv_maps(enc, X, aggregate="mean", transform="abs",
                                    double_precision=True)
    for kind in (0, 1):
        a = ab[kind].data
        assert (a >= 0).all()
        np.testing.assert_allclose(a, np.abs(per[kind].data).mean(0), rtol=1e-10)
        assert not np.allclose(a, np.abs(maps["mean"][kind].data))
    assert ab[1].params["transform"] == "abs" and ab[1].params["aggregate"] == "mean"


def test_normalised_encoder_rank_deficient_pinv():
    # Unit-norm outputs have rank n_latents - 1 Jacobians (y^T J = 0); the truncated pinv
    # must still satisfy the Moore-Penrose conditions and equal numpy's with a cut-off.
    enc, X = make_encoder(), small_X(4)
    jac, pinv, conditions = pinv_maps(enc, X, aggregate=None, double_precision=True)
    assert conditions.all()
    J = jac.data.reshape(4, 3, -1)
    for i in range(4):
        np.testing.assert_allclose(pinv.data[i].reshape(3, -1),
                                   np.linalg.pinv(J[i], rcond=1e-9).T,
                                   rtol=1e-6, atol=1e-9 * np.abs(pinv.data[i]).max())


def test_moore_penrose_check():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 3, 40))
    P = np.linalg.pinv(A)
    assert check_moore_penrose_conditions(A, P).all()
    assert check_moore_penrose_conditions(A.astype(np.float32), P.astype(np.float32)).all()
    assert check_moore_penrose_conditions(A, np.swapaxes(P, 1, 2)).all()  # CEBRA's layout
    assert check_moore_penrose_conditions(A[0], P[0]).shape == (1, 4)
    bad = P + 1e-2 * np.abs(P).max() * rng.standard_normal(P.shape)
    ok = check_moore_penrose_conditions(A, bad)
    assert ok.shape == (5, 4) and not ok[:, 0].any() and not ok[:, 1].any()
    # A right inverse that is not the pseudo-inverse: A R = I, so conditions 1-3 hold but
    # R A is not symmetric; the check must see it without forming the 40 x 40 product.
    Z = rng.standard_normal((5, 40, 3))
    R = P + (np.eye(40) - P @ A) @ Z
    ok = check_moore_penrose_conditions(A, R)
    assert ok[:, :3].all() and not ok[:, 3].any()
    RA = R @ A  # brute-force oracle on this small size
    assert not any(np.allclose(m, m.T) for m in RA)
    with pytest.raises(ShapeError):
        check_moore_penrose_conditions(A, P[:, :, :2])
    with pytest.raises(NonFiniteError):
        check_moore_penrose_conditions(A, np.full_like(P, np.nan))


def _explicit_mp_norms(A, P):
    """Slow reference: residual and reference norms of the 4 conditions, all products formed."""
    AP, PA = A @ P, P @ A

    def H(M):
        return np.swapaxes(M, -1, -2).conj()

    def nrm(M):
        return np.linalg.norm(M, axis=(-2, -1))

    diff = np.stack([nrm(AP @ A - A), nrm(P @ AP - P), nrm(H(AP) - AP), nrm(H(PA) - PA)], -1)
    ref = np.stack([nrm(A), nrm(P), nrm(AP), nrm(PA)], -1)
    return diff, ref


def test_fast_pinv_and_moore_penrose_equal_explicit():
    from neuroxai.attribution._linalg import _mp_residuals, _pinv
    from neuroxai.attribution._linalg import check_moore_penrose_conditions as check

    rng = np.random.default_rng(0)
    k, m = 3, 40
    eps = np.finfo(np.float64).eps

    def with_singular_values(s):
        U = np.linalg.qr(rng.standard_normal((k, k)))[0]
        V = np.linalg.qr(rng.standard_normal((m, k)))[0]
        return (U * s) @ V.T

    full = rng.standard_normal((4, k, m))
    rank2 = rng.standard_normal((4, k, 2)) @ rng.standard_normal((4, 2, m))  # rank deficient
    tiny = np.stack([with_singular_values([2.0, 0.7, 1e-17]) for _ in range(2)])  # below cut-off
    kept = np.stack([with_singular_values([2.0, 0.7, 1e-5]) for _ in range(2)])  # above it
    moderate = np.stack([with_singular_values([2.0, 0.7, 0.03]) for _ in range(2)])  # cond 67
    cplx = rng.standard_normal((2, k, m)) + 1j * rng.standard_normal((2, k, m))
    gram_route = {id(full): True, id(rank2): False, id(tiny): False, id(kept): False,
                  id(moderate): True, id(cplx): True}
    for A in (full, rank2, tiny, kept, moderate, cplx):
        At = torch.from_numpy(A)
        ref = np.linalg.pinv(A, rtol=m * eps)  # same cut-off rule as torch.linalg.pinv
        rtol_cut = 1e-4  # a user cut-off: removes the 1e-5 singular value
        ref_cut = np.linalg.pinv(A, rtol=rtol_cut)
        for force_qr in (False, True):
            P, basis = _pinv(At, force_qr=force_qr)
            assert (basis.left is not None) == (gram_route[id(A)] and not force_qr)
            P = P.resolve_conj()  # an adjoint view
            np.testing.assert_allclose(P.numpy(), ref, rtol=1e-9, atol=1e-10 * np.abs(ref).max())
            np.testing.assert_allclose(P.numpy(), torch.linalg.pinv(At).numpy(), rtol=1e-9,
                                       atol=1e-10 * np.abs(ref).max())
            np.testing.assert_allclose(
                _pinv(At, rtol_cut, force_qr=force_qr)[0].resolve_conj().numpy(), ref_cut,
                rtol=1e-9, atol=1e-10 * np.abs(ref_cut).max())
            # candidates: the pinv, perturbed ones (large and tiny), a right inverse that is
            # not the pinv, and (rank-deficient A) a pinv plus u v^H with v^H A = 0
            Z = rng.standard_normal(ref.shape)
            cands = [ref, ref + 1e-3 * np.abs(ref).max() * Z,
                     ref + 1e-9 * np.abs(ref).max() * Z, ref + (np.eye(m) - ref @ A) @ Z]
            if A is rank2:
                v = np.linalg.svd(A)[0][..., :, -1:]  # left null vector of each A
                cands.append(ref + rng.standard_normal((4, m, 1)) @ v.transpose(0, 2, 1))
            for cand in cands:
                diff, refn = _explicit_mp_norms(A, cand)
                d, r = _mp_residuals(At, torch.from_numpy(cand), basis)
                np.testing.assert_allclose(r.numpy(), refn, rtol=1e-10)
                # residuals agree to 1e-6 where they are above the rounding level
                noise = 1e3 * eps * np.linalg.cond(A)[:, None] ** 2 * refn
                assert (np.abs(d.numpy() - diff) <= 1e-6 * diff + noise).all()
                if force_qr:
                    continue
                for shape in ((0, 1, 2), (0, 2, 1)):  # wide, and tall through the adjoint
                    a, c = A.transpose(shape), cand.transpose(shape)
                    diff, refn = _explicit_mp_norms(a, c)
                    tol = 1e-7 * refn
                    ok = check(torch.from_numpy(a), torch.from_numpy(c))
                    clear = np.abs(diff - tol) > 1e-3 * tol
                    np.testing.assert_array_equal(ok[clear], (diff <= tol)[clear])
    # float32: the Gram route rounds like the SVD route (float64 small factors)
    A32 = torch.from_numpy(moderate).float()
    P32, basis = _pinv(A32)
    assert basis.left is not None and P32.dtype == torch.float32
    ref = np.linalg.pinv(A32.double().numpy())
    errs = [np.abs(P.numpy() - ref).max() / np.abs(ref).max()
            for P in (P32, _pinv(A32, force_qr=True)[0], torch.linalg.pinv(A32))]
    assert errs[0] < 1e-5 and errs[0] < 10 * max(errs[1:]), errs
    # the verdicts that matter, on the exact and on broken candidates
    A = torch.from_numpy(full)
    P = _pinv(A)[0]
    assert check(A, P).all()
    ok = check(A, P + 1e-3 * P.abs().max())
    assert not ok[:, 0].any() and not ok[:, 1].any()


def test_trial_mixing_model_gets_per_trial_jacobians():
    class MixesTrials(nn.Module):
        """The output of a trial depends on the batch (a batch-mean power term)."""

        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4 * 32, 3)

        def forward(self, x):
            return torch.tanh(self.lin(x.flatten(1))) + x.pow(2).mean() * torch.ones(3)

    torch.manual_seed(0)
    model, X = MixesTrials().double().eval(), small_X(5).astype(np.float64)
    J = compute_jacobians(model, X, batch_size=5, double_precision=True).data
    for i in range(5):
        xi = torch.as_tensor(X[i])
        ref = torch.autograd.functional.jacobian(lambda x: model(x[None])[0], xi).numpy()
        np.testing.assert_allclose(J[i], ref, rtol=1e-10, atol=1e-12)

    class Branches(MixesTrials):
        """Data-dependent control flow: no vmap batching rule, so the per-trial fallback."""

        def forward(self, x):
            out = super().forward(x)
            return out if bool(x.sum() > -1e9) else -out

    torch.manual_seed(0)
    model = Branches().double().eval()
    J = compute_jacobians(model, X, batch_size=5, double_precision=True).data
    for i in range(5):
        ref = torch.autograd.functional.jacobian(lambda x: model(x[None])[0],
                                                 torch.as_tensor(X[i])).numpy()
        np.testing.assert_allclose(J[i], ref, rtol=1e-10, atol=1e-12)


def test_failed_check_warns(monkeypatch):
    import neuroxai.attribution.jacobian as jac_mod

    enc, X = make_encoder(normalize=False), small_X(3)
    exact = jac_mod._pinv  # keep the row-space basis, replace the pseudo-inverse by a wrong one
    monkeypatch.setattr(jac_mod, "_pinv",
                        lambda J, rtol=None: (torch.ones_like(J).transpose(1, 2),
                                              exact(J, rtol)[1]))
    with pytest.warns(RuntimeWarning, match="Moore–Penrose"):
        _, pinv, conditions = pinv_maps(enc, X)
    assert not conditions.all() and pinv.params["moore_penrose_fraction_ok"][0] == 0
    _, pinv, conditions = pinv_maps(enc, X, check_moore_penrose=False)
    assert conditions is None and "moore_penrose_fraction_ok" not in pinv.params


def test_model_untouched_and_eval_semantics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm1d(4), nn.Flatten(), nn.Dropout(0.5),
                          nn.Linear(4 * 32, 3)).train()
    model[2].eval()  # a sub-module frozen in eval mode on purpose stays so
    flags = [m.training for m in model.modules()]
    model.requires_grad_(True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    X = small_X(6)
    jac, _, _ = pinv_maps(model, X, double_precision=True, aggregate=None)
    lat = compute_latent_attributions(model, X, method="integrated_gradients", n_steps=8)
    J32 = compute_jacobians(model, X)  # in the model's own float32: no copy
    assert [m.training for m in model.modules()] == flags
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" and p.requires_grad
               for p in model.parameters())
    for k, v in model.state_dict().items():  # running stats were not updated either
        assert torch.equal(v, before[k]), k
    # the maps are those of the eval-mode model: a linear map after a fixed affine per channel
    model.eval()
    W = model[3].weight.detach().double().reshape(3, 4, 32)
    scale = (model[0].weight / torch.sqrt(model[0].running_var + model[0].eps)).detach().double()
    expected = (W * scale[None, :, None]).numpy()
    np.testing.assert_allclose(jac.data, np.broadcast_to(expected, (6, 3, 4, 32)), rtol=1e-6)
    np.testing.assert_allclose(J32.data, np.broadcast_to(expected, (6, 3, 4, 32)), rtol=1e-5)
    assert J32.data.dtype == np.float32 and lat.shape == (3, 4, 32)


def test_latent_gradient_equals_jacobian_and_ig_completeness():
    enc, X = make_encoder(), small_X(4)
    J = compute_jacobians(enc, X).data
    grad = compute_latent_attributions(enc, X, method="gradient", aggregate=None, batch_size=3)
    assert grad.dims == ("trial", "latent", "chan", "time")
    np.testing.assert_allclose(grad.data, J, rtol=1e-4, atol=1e-6 * np.abs(J).max())
    mean = compute_latent_attributions(enc, X, method="gradient", latents=[2], transform="abs")
    assert mean.dims == ("latent", "chan", "time") and list(mean.coords["latent"]) == [2]
    np.testing.assert_allclose(mean.data[0], np.abs(J[:, 2]).mean(0), rtol=1e-4, atol=1e-7)
    # integrated gradients: completeness against the baseline
    enc64 = make_encoder().double()
    # (log band power is too steep near an all-zero input for a 64-step integral)
    ig = compute_latent_attributions(enc64, X, method="integrated_gradients", aggregate=None,
                                     n_steps=64, baselines=0.5 * X)
    with torch.no_grad():
        f = enc64(torch.as_tensor(X, dtype=torch.float64)).numpy()
        f0 = enc64(torch.as_tensor(0.5 * X, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(ig.data.sum(axis=(2, 3)), f - f0, rtol=1e-3, atol=1e-4)


def test_latent_feature_ablation_and_gradient_shap():
    enc, X = make_encoder(), small_X(3)
    fa = compute_latent_attributions(enc, X, method="feature_ablation", aggregate=None)
    with torch.no_grad():
        f = enc(torch.from_numpy(X)).numpy()
        for c in range(4):
            Xc = X.copy()
            Xc[:, c] = 0
            ref = f - enc(torch.from_numpy(Xc)).numpy()  # (trial, latent)
            np.testing.assert_allclose(fa.data[:, :, c, :], np.repeat(ref[..., None], 32, -1),
                                       rtol=1e-4, atol=1e-6)
    gs1 = compute_latent_attributions(enc, X, method="gradient_shap", baselines="shuffle", seed=3,
                                      stdevs=0.1)
    gs2 = compute_latent_attributions(enc, X, method="gradient_shap", baselines="shuffle", seed=3,
                                      stdevs=0.1)
    gs3 = compute_latent_attributions(enc, X, method="gradient_shap", baselines="shuffle", seed=4,
                                      stdevs=0.1)
    np.testing.assert_array_equal(gs1.data, gs2.data)
    assert not np.allclose(gs1.data, gs3.data)
    assert gs1.method == "latent_gradient_shap" and gs1.params["n_samples"] == 5
    with pytest.raises(UnknownNameError, match="gradient_shap"):
        compute_latent_attributions(enc, X, method="saliency")
    with pytest.raises(InvalidInputError, match="out of range"):
        compute_latent_attributions(enc, X, latents=[3])


def test_invalid_inputs():
    enc, X = make_encoder(), small_X(2)
    bad = X.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        compute_jacobian_pinv_maps(enc, bad)
    with pytest.raises(UnknownNameError, match="'mean'"):
        compute_jacobian_pinv_maps(enc, X, aggregate="median")
    with pytest.raises(UnknownNameError, match="'abs'"):
        compute_jacobian_pinv_maps(enc, X, transform="square")
    with pytest.raises(ModelMismatchError, match="4 channels"):
        compute_jacobian_pinv_maps(enc, small_X(2, n_chans=5))
    with pytest.raises(ModelMismatchError, match="n_latents"):
        compute_jacobian_pinv_maps(nn.Identity(), X)
    with pytest.raises(ShapeError):
        compute_jacobian_pinv_maps(enc, X[0])
    with pytest.raises(InvalidInputError, match="batch_size"):
        compute_jacobian_pinv_maps(enc, X, batch_size=0)
    with pytest.raises(InvalidInputError, match="model"):
        compute_jacobians("not a model", X)
    with pytest.raises(InvalidInputError, match="tmin"):  # an array's info places it in time
        compute_jacobians(enc, X, info=make_info(4, 32.0))
    with pytest.raises(ShapeError, match="channels"):
        compute_latent_attributions(enc, X, info=make_info(3, 32.0), tmin=0.0)
    with pytest.raises(InvalidInputError, match="Attribution"):
        reduce_to_channels(np.ones((2, 3, 4)))


# -- ground truth: maps find the channels that drive the latents ---------------------------------

def test_known_support_maps_score_perfectly():
    X = small_X(8, n_chans=8, n_times=40)
    jac, pinv, conditions = pinv_maps(KnownSupport(), X, transform="abs", double_precision=True)
    assert conditions.all()
    truth = np.zeros((3, 8), bool)
    for k, s in enumerate(KnownSupport.support):
        truth[k, list(s)] = True
    for m in (jac, pinv):
        cm = reduce_to_channels(m)
        assert cm.dims == ("latent", "chan") and cm.shape == (3, 8)
        assert attribution_auc(cm, truth) == 1.0
        stats = connected_stats(cm, truth)
        assert stats["gap_minmax"] > 0 and stats["max_nonconnected"] == 0


def test_trained_encoder_finds_source_channels():
    X, y = variance_dataset()
    enc, hist = train_encoder(X, y, n_latents=3, n_steps=200, batch_size=48, temperature=0.3,
                              learning_rate=1e-2, seed=0, verbose=False, info=make_info(8, 128.0),
                              encoder_kwargs=dict(n_spatial=8, n_bands=3))
    assert np.mean(hist["loss"][-10:]) < np.mean(hist["loss"][:10]) - 1.0
    jac, pinv = compute_jacobian_pinv_maps(enc, X[:32], transform="abs")
    grad = compute_latent_attributions(enc, X[:16], method="gradient", transform="abs")
    truth = np.zeros((3, 8), bool)
    truth[:, [1, 4]] = True
    for m in (jac, pinv, grad):
        cm = reduce_to_channels(m)
        assert attribution_auc(cm, truth) > 0.75, m.method
        assert connected_stats(cm, truth)["gap_mean"] > 0, m.method


# -- encoder training and checkpoints --------------------------------------------------------

def test_training_is_reproducible_and_global_rng_untouched():
    X, y = variance_dataset(n=32, n_times=64)
    kw = dict(n_latents=3, n_steps=15, batch_size=16, verbose=False, info=make_info(8, 128.0),
              encoder_kwargs=dict(n_spatial=3, n_bands=2))
    state = torch.get_rng_state()
    e1, h1 = train_encoder(X, y, seed=0, **kw)
    assert torch.equal(torch.get_rng_state(), state)
    e2, h2 = train_encoder(X, y, seed=0, **kw)
    e3, h3 = train_encoder(X, None, seed=1, time_offset=2, **kw)
    assert h1["loss"] == h2["loss"] and len(h1["loss"]) == 15
    for k, v in e1.state_dict().items():
        assert torch.equal(v, e2.state_dict()[k]), k
    assert h3["loss"] != h1["loss"] and h3["conditional"] == "time"
    assert not e1.training
    out = e1(torch.from_numpy(X[:4]))
    np.testing.assert_allclose(out.norm(dim=1).detach().numpy(), 1.0, rtol=1e-5)
    with pytest.raises(InvalidInputError, match="fewer than 2"):
        train_encoder(X[:5], np.array([0, 0, 1, 1, 2]), **kw)
    with pytest.raises(ShapeError):
        train_encoder(X, y[:-1], **kw)
    with pytest.raises(InvalidInputError, match="contradicts"):
        train_encoder(X, y, **{**kw, "encoder_kwargs": dict(sfreq=250.0)})
    # positives: "time" ignores the labels, "labels" needs them
    e4, h4 = train_encoder(X, y, seed=1, time_offset=2, positives="time", **kw)
    assert h4["loss"] == h3["loss"] and h4["conditional"] == "time"
    with pytest.raises(InvalidInputError, match="labels"):
        train_encoder(X, positives="labels", **kw)
    with pytest.raises(UnknownNameError, match="'time'"):
        train_encoder(X, y, positives="class", **kw)


def test_positive_sampling_follows_cebra_conditions():
    from neuroxai.models.encoder import _PositiveSampler

    y = np.array([0, 1, 0, 0, 1, 2, 0, 2, 1, 0])
    ref = np.tile(np.arange(10), 20)
    pos = _PositiveSampler(y, 10, None, np.random.default_rng(0))(ref)  # discrete label
    assert (y[pos] == y[ref]).all() and (pos != ref).all()
    pos = _PositiveSampler(y, 10, 1, np.random.default_rng(0))(ref)  # label + time
    rank = np.array([np.flatnonzero(np.flatnonzero(y == y[i]) == i)[0] for i in range(10)])
    assert (y[pos] == y[ref]).all() and (np.abs(rank[pos] - rank[ref]) == 1).all()
    pos = _PositiveSampler(None, 10, 2, np.random.default_rng(0))(ref)  # time-contrastive
    d = np.abs(pos - ref)
    assert ((d >= 1) & (d <= 2)).all() and set(d) == {1, 2}


def test_infonce_loss_matches_definition():
    g = torch.Generator().manual_seed(0)
    ref, pos, neg = (nn.functional.normalize(torch.randn(6, 3, generator=g), dim=1)
                     for _ in range(3))
    loss, align, uniform = infonce_loss(ref, pos, neg, temperature=0.5)
    expected = np.mean([-(ref[i] @ pos[i]).item() / 0.5
                        + np.log(np.sum(np.exp((neg @ ref[i]).numpy() / 0.5))) for i in range(6)])
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert (align + uniform).item() == pytest.approx(loss.item())


def test_save_load_round_trip(tmp_path):
    enc = make_encoder(seed=3)
    enc.input_scale.fill_(123.0)
    hist = {"loss": [1.0, 0.5], "seed": 3}
    path = save_encoder(enc, tmp_path / "enc", hist, verbose=False)
    assert sorted(p.name for p in path.iterdir()) == ["history.json", "manifest.json",
                                                      "metadata.json", "params.safetensors"]
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["model_class"] == "ContrastiveEEGEncoder" and meta["model_kwargs"]["n_latents"] == 3
    assert meta["kind"] == "encoder"
    enc2, hist2 = load_encoder(path, verbose=False)
    assert hist2 == hist and not enc2.training
    X = torch.from_numpy(small_X(4))
    with torch.no_grad():
        assert torch.equal(enc(X), enc2(X))
    with pytest.raises(CheckpointError):
        load_encoder(tmp_path / "missing")
    meta["model_class"] = "os.system"
    (path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="sha256|bytes"):  # changed after saving
        load_encoder(path)
    (path / "manifest.json").unlink()  # unverified (braindecode's format): the class check
    with pytest.raises(ModelMismatchError):
        load_encoder(path)


# -- metrics ---------------------------------------------------------------------------------

def test_connected_stats_and_auc_values():
    amap = np.array([[3.0, -1.0, 0.5], [0.2, 2.0, -4.0]])
    truth = np.array([[1, 0, 0], [0, 1, 0]])
    s = connected_stats(amap, truth)
    assert s["mean_connected"] == pytest.approx(2.5) and s["std_connected"] == pytest.approx(0.5)
    assert s["mean_nonconnected"] == pytest.approx((1 + 0.5 + 0.2 + 4) / 4)
    assert s["gap_mean"] == pytest.approx(2.5 - 1.425) and s["gap_minmax"] == pytest.approx(-2.0)
    assert attribution_auc(amap, truth) == pytest.approx(6 / 8)  # |-4| outranks both connected
    assert attribution_auc(amap, truth, transform="none") == 1.0
    att = Attribution(amap, ("latent", "chan"))
    assert attribution_auc(att, truth.astype(bool), transform="none") == 1.0
    with pytest.raises(ShapeError, match="reduce_to_channels"):
        attribution_auc(amap[:, :2], truth)
    with pytest.raises(InvalidInputError, match="both"):
        connected_stats(amap, np.ones_like(truth))
    with pytest.raises(InvalidInputError, match="boolean"):
        connected_stats(amap, truth * 2)
    with pytest.raises(UnknownNameError):
        attribution_auc(amap, truth, transform="square")


def test_jacobian_spatial_patterns_equal_explicit_haufe_transform():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3, 20)).astype(np.float32)
    J = rng.standard_normal((6, 2, 3, 20))
    att = Attribution(J, ("trial", "latent", "chan", "time"), method="jacobian")
    out = compute_jacobian_patterns(att, X)
    cov = np.cov(np.concatenate(list(X.astype(np.float64)), axis=1))
    expected = np.abs(np.stack([[cov @ J[n, k] for k in range(2)] for n in range(6)])).mean(0)
    assert out.dims == ("latent", "chan", "time")
    np.testing.assert_allclose(out.data, expected, rtol=1e-10)
    # only X's covariance enters: a time window of X (another n_times) is fine
    cut = compute_jacobian_patterns(att, X[..., 5:12])
    cov = np.cov(np.concatenate(list(X[..., 5:12].astype(np.float64)), axis=1))
    expected = np.abs(np.einsum("ce,nket->nkct", cov, J)).mean(0)
    np.testing.assert_allclose(cut.data, expected, rtol=1e-10)
    with pytest.raises(ShapeError):
        compute_jacobian_patterns(att, X[:, :2])
    # a ("map", ...) leading axis or a trial axis elsewhere is handled the same way
    inner = Attribution(J.transpose(1, 0, 2, 3), ("latent", "trial", "chan", "time"))
    np.testing.assert_allclose(compute_jacobian_patterns(inner, X).data, out.data, rtol=1e-12)


class Opaque(nn.Module):
    """The same function without the encoder's spectral front end: the autograd route."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x):
        return self.module(x)


@pytest.mark.parametrize("normalize", [False, True])
def test_spectral_front_end_route_equals_generic_route(normalize):
    """ContrastiveEEGEncoder's pinv maps come from the gradients w.r.t. its in-band Fourier
    coefficients (no inverse FFT per latent and trial): equal to the autograd route."""
    from neuroxai.attribution.jacobian import _AutogradRoute, _route, _SpectralRoute

    rng = np.random.default_rng(3)
    X = rng.standard_normal((7, 5, 301)).astype(np.float32)
    torch.manual_seed(0)
    enc = ContrastiveEEGEncoder(5, 301, n_latents=3, n_spatial=4, n_bands=3, sfreq=100.0,
                                fmin=4.0, fmax=30.0, normalize=normalize).eval()
    with torch.no_grad():
        enc.input_scale.fill_(0.7)
    assert isinstance(_route(enc, (5, 301)), _SpectralRoute)
    assert isinstance(_route(Opaque(enc), (5, 301)), _AutogradRoute)
    for a in ("mean", "sum", "max", None):
        for t in ("none", "abs"):
            kw = dict(aggregate=a, transform=t, batch_size=3, double_precision=True,
                      verbose=False)
            fast, ref = (compute_jacobian_pinv_maps(m, X, **kw) for m in (enc, Opaque(enc)))
            for got, want in zip(fast, ref):
                np.testing.assert_allclose(got.data, want.data, rtol=0,
                                           atol=1e-12 * np.abs(want.data).max())
            np.testing.assert_array_equal(fast[0].coords["moore_penrose"],
                                          ref[0].coords["moore_penrose"])
    J = compute_jacobians(enc, X, double_precision=True).data  # the spectral route too
    np.testing.assert_allclose(J, compute_jacobians(Opaque(enc), X, double_precision=True).data,
                               rtol=0, atol=1e-12 * np.abs(J).max())
    # a band with the DC bin, or a subclass (which may change forward), takes the generic route
    dc = ContrastiveEEGEncoder(5, 301, fmin=0.0, fmax=30.0, sfreq=100.0)
    assert dc.spectral_front_end() is not None and _SpectralRoute.of(dc, (5, 301)) is None

    class Sub(ContrastiveEEGEncoder):
        pass

    assert Sub(5, 301, sfreq=100.0).spectral_front_end() is None
    assert isinstance(_route(Sub(5, 301, sfreq=100.0), (5, 301)), _AutogradRoute)


def test_coefficient_jacobian_equals_autograd():
    torch.manual_seed(1)
    enc = ContrastiveEEGEncoder(5, 301, n_latents=3, n_spatial=4, n_bands=3, sfreq=100.0,
                                fmin=4.0, fmax=30.0).double().eval().requires_grad_(False)
    with torch.no_grad():
        enc.feature_scale.uniform_(0.5, 2.0)
        enc.feature_shift.uniform_(-1.0, 1.0)
    spec = enc.spectrum(torch.randn(6, 5, 301, dtype=torch.float64)).requires_grad_(True)
    f = enc.embed_features(enc.features(spec=spec))
    ref = torch.stack([torch.autograd.grad(f[:, k].sum(), spec, retain_graph=True)[0]
                       for k in range(3)], dim=1)
    got = enc.coefficient_jacobian(spec.detach())
    assert got.shape == (6, 3, 5, spec.shape[-1]) and got.is_complex()
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-14 * float(ref.abs().max()))


# -- the trials boundary: every input form, the real sampling rate and tmin -------------------

def _epochs(X, sfreq, tmin, y=None, extra=("EOG",), bads=()):
    """EEG channels E0.. plus non-EEG channels, with bad channels marked."""
    import mne

    n_eeg = X.shape[1] - len(extra)
    info = mne.create_info([f"E{i}" for i in range(n_eeg)] + list(extra), sfreq,
                           ["eeg"] * n_eeg + ["eog"] * len(extra))
    info["bads"] = list(bads)
    y = np.zeros(len(X), int) if y is None else np.asarray(y)
    events = np.column_stack([np.arange(len(X)) * 100, np.zeros(len(X), int), y + 1])
    return mne.EpochsArray(X, info, events=events, tmin=tmin,
                           event_id={f"c{k}": k + 1 for k in np.unique(y)}, verbose=False)


def test_same_maps_from_epochs_trials_and_arrays():
    import mne

    from neuroxai.data import as_trials

    full = small_X(4, n_chans=6)  # E0..E4 (E2 bad) and an EOG channel
    epochs = _epochs(full, 32.0, -0.5, bads=["E2"])
    keep = [0, 1, 3, 4]
    info = mne.pick_info(epochs.info, keep)
    X = full[:, keep]
    enc = make_encoder(normalize=False)
    forms = [epochs, as_trials(epochs), (X, dict(info=info, tmin=-0.5)), (X, {})]
    for fn, kw in [(compute_jacobians, {}),
                   (lambda m, x, **k: compute_jacobian_pinv_maps(m, x, **k)[1], {}),
                   (compute_latent_attributions, dict(method="integrated_gradients",
                                                      n_steps=4))]:
        outs = [fn(enc, f[0], **kw, **f[1]) if isinstance(f, tuple) else fn(enc, f, **kw)
                for f in forms]
        for out in outs[1:]:
            np.testing.assert_array_equal(out.data, outs[0].data)
        for out in outs[:3]:  # the channels kept (EEG, bads out) and the real tmin
            assert out.info["ch_names"] == ["E0", "E1", "E3", "E4"]
            np.testing.assert_allclose(out.coords["time"], -0.5 + np.arange(32) / 32.0)
        assert outs[3].info is None and "time" not in outs[3].coords
    # the data of a Haufe pattern: any form, the same channels
    jac = compute_jacobians(enc, epochs)
    np.testing.assert_allclose(compute_jacobian_patterns(jac, epochs).data,
                               compute_jacobian_patterns(jac, X).data, rtol=1e-12)
    with pytest.raises(ShapeError, match="channels"):
        compute_jacobian_patterns(jac, epochs, picks="all", exclude=())


@pytest.mark.parametrize("sfreq", [128.0, 160.0, 250.0])
def test_train_encoder_reads_the_rate_and_bands_are_in_hz(sfreq):
    """The rate comes from the trials: an 8-12 Hz band holds the same Hz at every rate, and
    the encoder's pinv maps (in time, from the real tmin) carry only 8-12 Hz."""
    from neuroxai.data import as_trials

    rng = np.random.default_rng(0)
    n, n_times = 40, int(sfreq)  # 1 s trials: 1 Hz bins
    y = np.arange(n) % 2
    t = np.arange(n_times) / sfreq
    X = rng.standard_normal((n, 5, n_times))
    X[:, 1] += (1 + 2 * y[:, None]) * np.sin(2 * np.pi * 10 * t + rng.uniform(0, 6, (n, 1)))
    epochs = _epochs(X.astype(np.float32), sfreq, -0.2, y)
    kw = dict(n_latents=2, n_steps=10, batch_size=16, verbose=False,
              encoder_kwargs=dict(n_spatial=2, n_bands=1, fmin=8.0, fmax=12.0, n_hidden=8))
    enc, hist = train_encoder(epochs, **kw)
    assert hist["sfreq"] == sfreq and enc.get_config()["sfreq"] == sfreq
    np.testing.assert_allclose(enc.freqs.numpy(), [8, 9, 10, 11, 12])
    # the same encoder from Trials and from an array with its info
    info = as_trials(epochs).info  # the EEG channels
    assert train_encoder(as_trials(epochs), **kw)[1]["loss"] == hist["loss"]
    assert train_encoder(X[:, :4].astype(np.float32), y, info=info, **kw)[1]["loss"] == \
        hist["loss"]
    _, pinv = compute_jacobian_pinv_maps(enc, epochs, aggregate=None, double_precision=True,
                                         verbose=False)
    times = pinv.coords["time"]
    np.testing.assert_allclose(times, epochs.times)  # tmin as MNE rounds it to a sample
    evoked = pinv.mean("trial").to_evoked(class_index=1)  # latent 1 as an MNE Evoked
    np.testing.assert_allclose(evoked.times, epochs.times)
    np.testing.assert_allclose(evoked.data, pinv.data[:, 1].mean(0))
    power = np.abs(np.fft.rfft(pinv.data, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(len(times), times[1] - times[0])  # Hz from the maps' own times
    in_band = (freqs > 8 - 1e-6) & (freqs < 12 + 1e-6)
    assert in_band.sum() == 5
    assert power[..., in_band].sum() / power.sum() > 1 - 1e-10


def test_train_encoder_needs_a_rate():
    X, y = variance_dataset(n=8, n_times=64)
    with pytest.raises(InvalidInputError, match="sampling rate.*info="):
        train_encoder(X, y, n_steps=1, verbose=False)
    with pytest.raises(InvalidInputError, match="sfreq is required"):
        ContrastiveEEGEncoder(4, 32)


def test_deprecated_names_warn_and_agree():
    import neuroxai.attribution as A
    import neuroxai.metrics as M

    enc, X = make_encoder(normalize=False), small_X(3)
    jac, pinv = compute_jacobian_pinv_maps(enc, X, double_precision=True, verbose=False)
    with pytest.warns(FutureWarning, match="compute_jacobian_pinv_maps"):
        old = A.jacobian_pinv_map(enc, X, "mean", "none", 32, True, verbose=False)
    assert isinstance(old, A.JacobianMaps)
    np.testing.assert_array_equal(old.jacobian.data, jac.data)
    np.testing.assert_array_equal(old.pinv.data, pinv.data)
    np.testing.assert_array_equal(old.conditions, jac.coords["moore_penrose"])
    with pytest.warns(FutureWarning):  # an array's info: times from 0, as before
        old = A.jacobian_pinv_map(enc, X, info=make_info(4, 32.0), verbose=False)
    np.testing.assert_allclose(old.pinv.coords["time"], np.arange(32) / 32.0)
    with pytest.warns(FutureWarning, match="reduce_to_channels"):
        np.testing.assert_array_equal(A.channel_map(pinv).data, reduce_to_channels(pinv).data)
    with pytest.warns(FutureWarning, match="compute_jacobian_patterns"):
        old = A.jacobian_spatial_patterns(jac, X)
    np.testing.assert_array_equal(old.data, compute_jacobian_patterns(jac, X).data)
    J = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, 20)))
    with pytest.warns(FutureWarning, match="check_moore_penrose_conditions"):
        ok = A.moore_penrose_conditions(J, torch.linalg.pinv(J))
    assert torch.is_tensor(ok) and ok.shape == (2, 4) and ok.all()
    assert M.check_moore_penrose_conditions is A.check_moore_penrose_conditions


def test_real_eegmmidb_epochs_at_160_hz(shared_mne_data):
    """EEGMMIDB S001 (160 Hz, 64 EEG channels) as MNE Epochs: the encoder's bands and the
    maps' times come from the recording itself."""
    import mne

    fname = mne.datasets.eegbci.load_data(1, [4], path=str(shared_mne_data), update_path=False)
    raw = mne.io.read_raw_edf(fname[0], preload=True, verbose=False)
    events, event_id = mne.events_from_annotations(raw, event_id=dict(T1=1, T2=2), verbose=False)
    epochs = mne.Epochs(raw, events, event_id, tmin=-0.5, tmax=2.0, baseline=None,
                        preload=True, verbose=False)
    epochs.apply_function(lambda x: x * 1e6)  # volts -> µV
    enc, hist = train_encoder(epochs, n_latents=3, n_steps=10, batch_size=16, verbose=False,
                              encoder_kwargs=dict(fmin=8.0, fmax=30.0, n_spatial=4, n_bands=2))
    assert hist["sfreq"] == 160.0 and hist["conditional"] == "label"
    freqs = enc.freqs.numpy()
    assert freqs[0] >= 8.0 and freqs[-1] <= 30.0  # the bins at 160 Hz: 160 / n_times apart
    np.testing.assert_allclose(np.diff(freqs), 160.0 / len(epochs.times), rtol=1e-5)
    jac, pinv = compute_jacobian_pinv_maps(enc, epochs[:6], verbose=False)
    np.testing.assert_allclose(pinv.coords["time"], epochs.times)
    assert pinv.info["ch_names"] == epochs.ch_names and pinv.shape == (3, 64, len(epochs.times))
    assert pinv.coords["moore_penrose"].all()
