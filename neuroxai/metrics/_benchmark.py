"""Time neuroxai's metrics against braindecode's on 288 x 22 x 1125 maps (not a test).

Run ``python -m neuroxai.metrics._benchmark [n_repeats]``. Prints best-of-n wall
times, the speed-up and the largest difference of the values.
"""
import sys
import time
import warnings

import numpy as np


def _best(fn, n_rep):
    best, out = np.inf, None
    for _ in range(n_rep):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(n_rep=3, n=288, n_chans=22, n_times=1125):
    warnings.simplefilter("ignore", FutureWarning)
    import mne
    import torch
    from braindecode.visualization import metrics as bd
    from braindecode.visualization.topology import project_to_topomap

    from neuroxai.metrics.similarity import METRIC_NAMES, SSIM_METRIC_NAMES, compute_metrics
    from neuroxai.metrics.topomap import make_scalp_projector

    torch.set_num_threads(1)  # braindecode's SSIM runs torch per map; no thread contention
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n_chans, n_times))
    gt = np.zeros_like(a)
    gt[:, [7, 11]] = 1.0  # C3, C4
    cases = {
        "12 metrics, binary ground truth": (
            lambda: bd.compute_metrics(a, gt)[0],
            lambda: compute_metrics(a, gt, metrics=METRIC_NAMES, verbose=False).to_numpy(),
        ),
        "12 metrics, signed comparison": (
            lambda: bd.compute_metrics(a, a + a[::-1],
                                       abs_reference=False)[0],
            lambda: compute_metrics(a, a + a[::-1], metrics=METRIC_NAMES, abs_reference=False,
                                    verbose=False).to_numpy(),
        ),
        "4 SSIM, binary ground truth": (
            lambda: bd.compute_ssim_metrics(a, gt)[0],
            lambda: compute_metrics(a, gt, metrics=SSIM_METRIC_NAMES, verbose=False).to_numpy(),
        ),
    }
    print(f"maps {a.shape}, best of {n_rep}")
    for name, (f_bd, f_ours) in cases.items():
        t_bd, v_bd = _best(f_bd, n_rep)
        t_ours, v_ours = _best(f_ours, n_rep)
        print(f"{name:34s} braindecode {t_bd:7.3f} s  neuroxai {t_ours:7.3f} s  "
              f"x{t_bd / t_ours:5.1f}  max|diff| {np.nanmax(np.abs(v_bd - v_ours)):.1e}")

    CH = ("Fz FC3 FC1 FCz FC2 FC4 C5 C3 C1 Cz C2 C4 C6 CP3 CP1 CPz CP2 CP4 P1 Pz P2 POz").split()
    info = mne.create_info(CH, 250.0, "eeg")
    info.set_montage("colin27_1020")
    chan = a[:200].mean(-1)
    t_build, proj = _best(lambda: make_scalp_projector(info, verbose=False), n_rep)
    t_fast, _ = _best(lambda: proj.project(chan), n_rep)
    t_slow, _ = _best(lambda: [project_to_topomap(c, info["chs"]) for c in chan], 1)
    print(f"project 200 maps: braindecode {t_slow:.3f} s, operator {t_fast * 1e3:.2f} ms "
          f"(+ {t_build * 1e3:.1f} ms to build once)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
