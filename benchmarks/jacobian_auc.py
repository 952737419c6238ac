"""ROC AUC of CEBRA-style encoder maps against the simulator's source channels.

Usage: ``python benchmarks/jacobian_auc.py [--regime spatial] [--n-trials 64]``
"""
import argparse
import time

import numpy as np
import torch

from neuroxai.attribution import (
    channel_map,
    compute_latent_attributions,
    jacobian_pinv_map,
    jacobian_spatial_patterns,
)
from neuroxai.data import simulate_bcic_iv_2a
from neuroxai.metrics import attribution_auc
from neuroxai.models import train_encoder


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--regime", default="spatial")
    p.add_argument("--n-trials", type=int, default=64)
    p.add_argument("--snr", type=float, default=0.7)
    args = p.parse_args()
    torch.set_num_threads(1)
    sim = simulate_bcic_iv_2a(args.regime, snr=args.snr, verbose=False)
    train, test = sim.trials.select("0train"), sim.trials.select("1test")
    t0 = time.perf_counter()
    enc, _ = train_encoder(train.X, train.y, n_latents=8, seed=0, verbose=False)
    print(f"encoder trained in {time.perf_counter() - t0:.1f} s")
    X = test.X[: args.n_trials]
    truth_chan = sim.ground_truth.chan.any(axis=0)  # any class's source channels
    t0 = time.perf_counter()
    maps = jacobian_pinv_map(enc, X, transform="abs", verbose=False)
    print(f"jacobian_pinv_map on {len(X)} trials: {time.perf_counter() - t0:.1f} s; "
          f"Moore-Penrose conditions all true: {bool(maps.conditions.all())}")
    for name, attr in (("jacobian", maps.jacobian), ("pinv", maps.pinv)):
        cm = channel_map(attr)
        truth = np.broadcast_to(truth_chan, cm.shape)
        print(f"{name:22s} AUC {attribution_auc(cm, truth):.3f}")
    per_trial = jacobian_pinv_map(enc, X, aggregate=None, check_moore_penrose=False,
                                  verbose=False)
    for name, attr in (("jacobian patterns", per_trial.jacobian), ("pinv patterns", per_trial.pinv)):
        cm = channel_map(jacobian_spatial_patterns(attr, X))
        print(f"{name:22s} AUC {attribution_auc(cm, np.broadcast_to(truth_chan, cm.shape)):.3f}")
    for method in ("feature_ablation", "integrated_gradients"):
        a = compute_latent_attributions(enc, X[:16], method=method, verbose=False)
        cm = channel_map(a)
        print(f"{method:22s} AUC {attribution_auc(cm, np.broadcast_to(truth_chan, cm.shape)):.3f}")


if __name__ == "__main__":
    main()
