"""Time every registered attribution method on the simulated data and on real EEGMMIDB.

Usage::

    python benchmarks/method_times.py [--n-trials 288] [--methods ...] \
        [--out benchmarks/results/method_times.csv]

Simulated: the shipped checkpoint on the held-out session (288 x 22 x 1125).
Real: PhysionetMI subject 1, left vs right fist imagery (45 x 64 x 560 at 160 Hz) from
``$MNE_DATA`` or ``../shared/data/mne_data``, with a ShallowFBCSPNet trained here for a few
epochs (no public pretrained model exists for it): the point is that every method runs on
real data, not the model's quality.
"""
import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from neuroxai import MethodUndefinedError
from neuroxai.attribution import attribute, list_methods
from neuroxai.data import load_moabb, simulate_bcic_iv_2a
from neuroxai.models import build_model, fit_classifier, load_pretrained


def time_methods(name, model, X, y, methods, info):
    rows = []
    for m in methods:
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                a = attribute(model, X, y, method=m, info=info, verbose=False)
            status, shape = "ok", tuple(a.shape)
        except MethodUndefinedError as err:
            status, shape = f"undefined: {str(err)[:90]}", None
        dt = time.perf_counter() - t0
        rows.append(dict(data=name, method=m, n_trials=len(X), seconds=round(dt, 2),
                         status=status, shape=shape))
        print(f"{name:12s} {m:22s} {dt:8.1f} s  {status}", flush=True)
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n-trials", type=int, default=288)
    p.add_argument("--methods", nargs="+", default=None)
    p.add_argument("--skip-real", action="store_true")
    p.add_argument("--out", default="benchmarks/results/method_times.csv")
    args = p.parse_args()
    methods = args.methods or list_methods()
    rows = []
    model, _, meta = load_pretrained(verbose=False)
    sim = simulate_bcic_iv_2a(**meta["dataset_params"], verbose=False)
    test = sim.trials.select("1test", idx=np.arange(args.n_trials))
    rows += time_methods("simulated", model, test.X, test.y, methods, test.info)
    if not args.skip_real:
        root = os.environ.get("MNE_DATA") or str(
            Path(__file__).resolve().parents[2] / "shared" / "data" / "mne_data")
        os.environ["MNE_DATA"] = root
        tr = load_moabb("PhysionetMI", subject=1, task="left_right", as_trials=True, verbose=False)
        torch.manual_seed(0)
        net = build_model("ShallowFBCSPNet", n_chans=tr.X.shape[1], n_outputs=2,
                          n_times=tr.X.shape[2], final_conv_length="auto")
        net, _ = fit_classifier(net, tr.X, tr.y, n_epochs=10, batch_size=16, progress=False,
                                verbose=False)
        rows += time_methods("EEGMMIDB", net, tr.X, tr.y, methods, tr.info)
    df = pd.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
