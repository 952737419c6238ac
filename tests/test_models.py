import json

import numpy as np
import pytest
import torch

from neuroxai import DataNotAvailableError, ModelMismatchError, UnknownNameError
from neuroxai._utils import atomic_write
from neuroxai.models import (
    accuracy,
    build_model,
    check_model_outputs,
    load_checkpoint,
    load_pretrained,
    save_checkpoint,
)
from neuroxai.models.pretrained import shipped_checkpoint_dir

KW = dict(n_chans=22, n_outputs=4, n_times=1125, final_conv_length="auto")


def _model(seed=0):
    torch.manual_seed(seed)
    return build_model("ShallowFBCSPNet", **KW)


def test_checkpoint_round_trip(tmp_path):
    m = _model()
    save_checkpoint(m, tmp_path / "ck", history=[{"epoch": 1, "train_loss": 1.0}],
                    metadata={"model_class": "ShallowFBCSPNet", "model_kwargs": KW})
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "history.json", "manifest.json", "metadata.json", "params.safetensors"]
    m2, hist, meta = load_checkpoint(tmp_path / "ck")
    x = torch.randn(3, 22, 1125)
    with torch.no_grad():
        torch.testing.assert_close(m(x), m2(x), rtol=0, atol=0)
    assert hist[0]["epoch"] == 1 and meta["model_class"] == "ShallowFBCSPNet"


def test_checkpoint_wrong_architecture_names_the_keys(tmp_path):
    save_checkpoint(_model(), tmp_path, metadata={"model_class": "ShallowFBCSPNet",
                                                  "model_kwargs": KW})
    with pytest.raises(ModelMismatchError, match="n_chans"):
        load_checkpoint(tmp_path, model_kwargs=dict(n_chans=20))
    with pytest.raises(UnknownNameError, match="ShallowFBCSPNet"):
        build_model("ShallowNet9000")


def test_atomic_write_leaves_nothing_when_interrupted(tmp_path):
    target = tmp_path / "params.safetensors"
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as fh:
            fh.write(b"partial")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def _write_hub_cache(cache_root, repo_id, files, commit="a" * 40):
    """Lay files out exactly as huggingface_hub's cache does."""
    repo_dir = cache_root / "huggingface" / ("models--" + repo_id.replace("/", "--"))
    snap = repo_dir / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    for name, src in files.items():
        (snap / name).write_bytes(src.read_bytes())
    return snap


def test_load_pretrained_from_hub_cache_offline(tmp_path):
    """The braindecode tutorial repo format, served from a cache this test writes."""
    ref = _model(seed=5)
    save_checkpoint(ref, tmp_path / "src", history=[{"epoch": 1, "valid_accuracy": 0.7}])
    repo = "braindecode/plot_bcic_iv_2a_moabb_trial"
    _write_hub_cache(tmp_path / "cache", repo, {
        "params.safetensors": tmp_path / "src" / "params.safetensors",
        "history.json": tmp_path / "src" / "history.json",
    })
    model, history, _ = load_pretrained(repo, cache_dir=tmp_path / "cache", offline=True)
    assert type(model).__name__ == "ShallowFBCSPNet" and not model.training
    assert history[0]["valid_accuracy"] == 0.7
    x = torch.randn(2, 22, 1125)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref.eval()(x))


def test_load_pretrained_offline_without_cache(tmp_path):
    with pytest.raises(DataNotAvailableError, match="shallow_simulated"):
        load_pretrained("braindecode/plot_bcic_iv_2a_moabb_trial", cache_dir=tmp_path, offline=True)
    # not offline, but the network is unreachable (blocked in tests): same clear error
    with pytest.raises(DataNotAvailableError):
        load_pretrained("braindecode/plot_bcic_iv_2a_moabb_trial", cache_dir=tmp_path,
                        offline=False)
    assert not any(p.is_file() and p.suffix == ".safetensors" for p in tmp_path.rglob("*"))


def test_shipped_checkpoint_beats_chance_on_held_out_session(shipped_model, sim_spectral):
    model, history, meta = shipped_model
    files = sorted(p.name for p in shipped_checkpoint_dir().iterdir())
    assert {"params.safetensors", "history.json"} <= set(files)
    test = sim_spectral.trials.select("1test")
    acc = accuracy(model, test.X, test.y)
    assert acc >= 0.5  # chance is 0.25 with 4 balanced classes
    assert acc == pytest.approx(meta["test_accuracy"], abs=1e-6)
    assert history[-1]["valid_accuracy"] == pytest.approx(meta["test_accuracy"])
    assert json.loads((shipped_checkpoint_dir() / "metadata.json").read_text())["dataset"] \
        == "simulate_bcic_iv_2a"


def test_check_model_outputs():
    m = _model()
    assert check_model_outputs(m, 22, 1125, 4) == 4
    with pytest.raises(ModelMismatchError, match="3 classes"):
        check_model_outputs(m, 22, 1125, 3)
    with pytest.raises(ModelMismatchError, match="built for 22 channels"):
        check_model_outputs(m, 20, 1125)


def test_fit_classifier_is_reproducible():
    from neuroxai.models import fit_classifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 4, 200)).astype(np.float32)
    y = np.arange(24) % 2
    X[y == 1, 0] *= 3  # class 1: more variance on channel 0

    def run():
        torch.manual_seed(1)
        m = build_model("ShallowFBCSPNet", n_chans=4, n_outputs=2, n_times=200)
        m, hist = fit_classifier(m, X, y, n_epochs=3, batch_size=8, seed=1, verbose=False)
        return m, hist

    (m1, h1), (m2, h2) = run(), run()
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert [r["train_loss"] for r in h1] == [r["train_loss"] for r in h2]
