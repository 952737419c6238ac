"""Amplitude gradients: neuroxai vs braindecode.visualization.amplitude_gradients_per_trial.

Same model (the shipped ShallowFBCSPNet checkpoint), same trials (simulated BCI IV 2a
session "1test", tiled for 2x/4x), same batch size. braindecode differentiates the
batch mean, so its per-trial gradients are ours / batch_size on full batches: the
agreement check multiplies them by the batch size (all batches are full here).

    python benchmarks/bench_amplitude_gradients.py [--quick] [--side both|ours|peer]
"""
import functools

import _common as C

BATCH = 32


def build(args):
    sizes = C.parse_sizes(args, (1, 2, 4))

    @functools.lru_cache(None)
    def model():
        return C.load_model()

    def make_prepare(n):
        def prepare():
            import braindecode.visualization  # noqa: F401 - imports are not timed
            import numpy as np
            import torch

            import neuroxai.attribution  # noqa: F401
            from neuroxai.data import make_info

            X, y, ch_names, _ = C.load_trials()
            if args.smoke:
                X = X[:4]
            Xn, _ = C.tiled(X, y, n)
            # the simulated sessions of the shipped model are at 250 Hz
            return dict(model=model(), X=Xn, info=make_info(ch_names, sfreq=250.0),
                        ds=torch.utils.data.TensorDataset(torch.from_numpy(Xn)), np=np)
        return prepare

    cases = []
    for label, n, reps in C.trial_sizes(args, sizes):
        bs = min(BATCH, n)  # every batch full: braindecode's scale is 1/bs for all trials

        def ours(d, bs=bs):
            from neuroxai.attribution import compute_amplitude_gradients

            return compute_amplitude_gradients(d["model"], d["X"], info=d["info"],
                                               batch_size=bs, verbose=False).data

        def peer(d, bs=bs):
            from braindecode.visualization import amplitude_gradients_per_trial

            return amplitude_gradients_per_trial(d["model"], d["ds"], batch_size=bs)

        def agree(o, p, bs=bs):
            nums = C.diff(o, p * bs)
            return nums, C.agree_text(nums) + f" (braindecode x {bs})"

        cases.append(C.Case(
            comparison="Amplitude gradients", size=f"{label} x 22 ch x 1125", repeats=reps,
            prepare=make_prepare(n), ours=ours, peer=peer, agree=agree,
            ours_label=f"compute_amplitude_gradients(batch_size={bs})",
            peer_label=f"braindecode amplitude_gradients_per_trial(batch_size={bs})",
            targets={"time ratio >= 3x": ("time_ratio", ">=", 3.0),
                     "equal results (rel 1e-4)": ("max_rel", "<=", 1e-4)}))
    return cases


if __name__ == "__main__":
    raise SystemExit(C.main_for(__file__, __doc__, build))
