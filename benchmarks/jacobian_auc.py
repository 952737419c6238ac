"""ROC AUC of CEBRA-style encoder maps against the simulator's source channels.

An 8-latent ``ContrastiveEEGEncoder`` is trained on the simulated session "0train"; its
maps are computed on the first ``--n-trials`` trials of "1test" and reduced to
``(latent, chan)``; the truth is the union of every class's source channels
(``sim.ground_truth.chan.any(axis=0)``), the same for every latent. Every variant tried
is printed (none is left out):

* ``jacobian |.|``, ``pinv |.|``: time-mean of the absolute per-trial map, trial mean
  (``reduce_to_channels`` of ``compute_jacobian_pinv_maps(transform="abs")``);
* ``pinv mu-band energy``: per trial and latent, the energy of the pinv map in the
  8-13 Hz band (the burst is at 11 Hz), trial mean, square root;
* ``pinv mu-band energy, burst window``: the same on 0.5-2.5 s after the cue only (the
  burst's window). These two use the simulator's band and window (oracle knowledge);
* ``pinv, background projected out (r)``: the map's channel vectors projected onto the
  orthogonal complement of the ``r`` leading eigenvectors of the pre-cue (-0.5-0 s)
  channel covariance (the background has no burst there), then channel RMS over time;
* ``jacobian / pinv patterns``: Haufe transform with the broadband channel covariance
  (``compute_jacobian_patterns``), and ``... patterns, mu-band covariance`` with the
  covariance of the 8-13 Hz band-passed trials in the burst window (oracle band/window);
* ``feature_ablation``, ``integrated_gradients`` (16 trials), for reference.

Usage: ``python benchmarks/jacobian_auc.py [--regime spatial] [--n-trials 64] [--seed 0]``
"""
import argparse
import time

import numpy as np
import torch

from neuroxai.attribution import (
    Attribution,
    compute_jacobian_patterns,
    compute_jacobian_pinv_maps,
    compute_latent_attributions,
    reduce_to_channels,
)
from neuroxai.data import simulate_bcic_iv_2a
from neuroxai.metrics import attribution_auc
from neuroxai.models import train_encoder

MU = (8.0, 13.0)
BURST = (0.5, 2.5)  # s after the cue (simulate._BURST)


def band_pass(x, sfreq, band):
    """Zero the rfft bins outside ``band`` along the last axis (circular, exact band)."""
    spec = np.fft.rfft(x, axis=-1)
    f = np.fft.rfftfreq(x.shape[-1], 1.0 / sfreq)
    spec[..., (f < band[0]) | (f > band[1])] = 0
    return np.fft.irfft(spec, n=x.shape[-1], axis=-1)


def band_energy(maps, sfreq, band, window=None):
    """(trial, latent, chan, time) -> (latent, chan): sqrt of the trial-mean band energy."""
    if window is not None:
        maps = maps[..., window]
    spec = np.fft.rfft(maps, axis=-1)
    f = np.fft.rfftfreq(maps.shape[-1], 1.0 / sfreq)
    sel = (f >= band[0]) & (f <= band[1])
    return np.sqrt((np.abs(spec[..., sel]) ** 2).sum(-1).mean(0))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--regime", default="spatial")
    p.add_argument("--n-trials", type=int, default=64)
    p.add_argument("--snr", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0, help="encoder training seed")
    args = p.parse_args()
    torch.set_num_threads(1)
    sim = simulate_bcic_iv_2a(args.regime, snr=args.snr, verbose=False)
    train, test = sim.trials.select("0train"), sim.trials.select("1test")
    sfreq = float(test.info["sfreq"])
    t0 = time.perf_counter()
    enc, _ = train_encoder(train, n_latents=8, seed=args.seed, verbose=False)
    print(f"encoder trained in {time.perf_counter() - t0:.1f} s")
    first = test.select(idx=np.arange(min(args.n_trials, len(test))))
    X = first.X
    truth_chan = sim.ground_truth.chan.any(axis=0)  # any class's source channels
    print(f"{int(truth_chan.sum())} of {truth_chan.size} channels are source channels")

    def auc(values):
        values = values.data if isinstance(values, Attribution) else values
        return attribution_auc(values, np.broadcast_to(truth_chan, values.shape))

    t0 = time.perf_counter()
    jac, pinv = compute_jacobian_pinv_maps(enc, first, transform="abs", verbose=False)
    print(f"compute_jacobian_pinv_maps on {len(X)} trials: {time.perf_counter() - t0:.1f} s; "
          f"Moore-Penrose conditions all true: {bool(pinv.coords['moore_penrose'].all())}")
    rows = [("jacobian |.|", auc(reduce_to_channels(jac))),
            ("pinv |.|", auc(reduce_to_channels(pinv)))]
    per_trial = compute_jacobian_pinv_maps(enc, first, aggregate=None, check_moore_penrose=False,
                                           verbose=False)
    P = np.asarray(per_trial[1].data, dtype=np.float64)  # (trial, latent, chan, time)
    times = per_trial[1].coords["time"]  # from the trials' tmin (-0.5 s: before the cue)
    burst = (times >= BURST[0]) & (times < BURST[1])
    rows.append(("pinv mu-band energy", auc(band_energy(P, sfreq, MU))))
    rows.append(("pinv mu-band energy, burst window", auc(band_energy(P, sfreq, MU, burst))))
    base = X[..., times < 0].astype(np.float64)
    cov_base = np.cov(base.transpose(1, 0, 2).reshape(X.shape[1], -1))
    U = np.linalg.eigh(cov_base)[1][:, ::-1]  # leading eigenvectors first
    for r in (1, 3, 5):
        proj = np.eye(X.shape[1]) - U[:, :r] @ U[:, :r].T
        Pr = np.einsum("ce,nket->nkct", proj, P)
        rows.append((f"pinv, background projected out (r={r})",
                     auc(np.sqrt((Pr ** 2).mean(-1)).mean(0))))
    for name, attr in (("jacobian patterns", per_trial[0]), ("pinv patterns", per_trial[1])):
        rows.append((name, auc(reduce_to_channels(compute_jacobian_patterns(attr, first)))))
    # only X's channel covariance enters: band-passed, windowed trials give its mu-band version
    Xmu = band_pass(X.astype(np.float64), sfreq, MU)[..., burst]
    for name, attr in (("jacobian patterns, mu-band covariance", per_trial[0]),
                       ("pinv patterns, mu-band covariance", per_trial[1])):
        rows.append((name, auc(reduce_to_channels(compute_jacobian_patterns(attr, Xmu)))))
    for method in ("feature_ablation", "integrated_gradients"):
        a = compute_latent_attributions(enc, first.select(idx=np.arange(16)), method=method,
                                        verbose=False)
        rows.append((f"{method} (16 trials)", auc(reduce_to_channels(a))))
    for name, value in rows:
        print(f"{name:40s} AUC {value:.3f}")


if __name__ == "__main__":
    main()
