"""Checkpoints as one checked unit: every damaged-checkpoint case gets a named error naming
the file; a save killed at any step leaves the whole old or the whole new checkpoint; the
next save leaves no temporary folder behind; names vs paths vs repo ids in load_pretrained;
train-default writes to the user cache."""
import hashlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from neuroxai import (
    CheckpointError,
    DataNotAvailableError,
    InvalidInputError,
    ModelMismatchError,
    NonFiniteError,
    UnknownNameError,
)
from neuroxai.models import build_model, load_checkpoint, load_pretrained, save_checkpoint
from neuroxai.models.checkpoint import MANIFEST_FILE, read_checkpoint_files
from neuroxai.models.encoder import ContrastiveEEGEncoder, load_encoder, save_encoder
from neuroxai.models.pretrained import (
    SHIPPED,
    retrained_checkpoint_dir,
    shipped_checkpoint_dir,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
KW = dict(n_chans=4, n_outputs=2, n_times=200, final_conv_length="auto")
META = {"model_class": "ShallowFBCSPNet", "model_kwargs": KW, "accuracy": 0.5}
FILES = ["history.json", "manifest.json", "metadata.json", "params.safetensors"]

# A plain torch model, defined once for this process and for the killed child processes
# (which then need neither braindecode nor this module).
TINY_SRC = '''
def tiny(seed):
    import torch
    g = torch.Generator().manual_seed(seed)
    m = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ELU(), torch.nn.Linear(5, 3))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return m.eval()
'''
_ns = {}
exec(TINY_SRC, _ns)
tiny = _ns["tiny"]


def _shallow(seed=0):
    model = build_model("ShallowFBCSPNet", **KW)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return model


@pytest.fixture
def ckpt(tmp_path):
    """A saved tiny ShallowFBCSPNet checkpoint and its model."""
    model = _shallow()
    path = save_checkpoint(model, tmp_path / "ck", [{"epoch": 1, "train_loss": 0.5}], META,
                           verbose=False)
    return path, model


def _logits(model, seed=0):
    x = torch.randn(3, 4, 200, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model.eval()(x)


# -- round trip and format -------------------------------------------------------------------

def test_round_trip_is_exact_and_manifest_lists_every_file(ckpt):
    path, model = ckpt
    assert sorted(os.listdir(path)) == FILES
    model2, history, metadata = load_checkpoint(path, verbose=False)
    torch.testing.assert_close(_logits(model2), _logits(model), rtol=0, atol=0)
    assert history == [{"epoch": 1, "train_loss": 0.5}] and metadata == META
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    assert manifest["format"] == "neuroxai-checkpoint" and manifest["format_version"] == 1
    assert sorted(manifest["files"]) == ["history.json", "metadata.json", "params.safetensors"]
    for name, entry in manifest["files"].items():
        data = (path / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def test_braindecode_format_without_manifest_loads_and_says_so(ckpt):
    from neuroxai._utils import logger

    path, model = ckpt
    (path / MANIFEST_FILE).unlink()
    (path / "metadata.json").unlink()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)  # MNE's logger does not propagate to pytest's
    try:
        model2, _, _ = load_checkpoint(path, model_class="ShallowFBCSPNet", model_kwargs=KW,
                                       verbose="DEBUG")
    finally:
        logger.removeHandler(handler)
    torch.testing.assert_close(_logits(model2), _logits(model), rtol=0, atol=0)
    assert any(r.levelno == logging.DEBUG and "no manifest.json" in r.getMessage()
               for r in records)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoints_carry_a_manifest_that_verifies(name):
    path = shipped_checkpoint_dir(name)
    assert (path / MANIFEST_FILE).is_file()
    state, history, metadata = read_checkpoint_files(path)  # raises on any mismatch
    assert metadata["model_class"] == "ShallowFBCSPNet" and len(history) > 0 and state


# -- damaged checkpoints: CheckpointError naming the file -----------------------------------

def _flip_bits(file, n=64, seed=0):
    data = bytearray(file.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")  # flip weights, not the JSON header
    for i in np.random.default_rng(seed).integers(header, len(data), n):
        data[i] ^= 1 << 3
    file.write_bytes(bytes(data))


def _damage(path, case):
    params = path / "params.safetensors"
    if case == "bit-flipped weights":
        _flip_bits(params)
    elif case == "truncated weights":
        params.write_bytes(params.read_bytes()[:1000])
    elif case == "empty weights":
        params.write_bytes(b"")
    elif case == "weights missing":
        params.unlink()
    elif case == "history bad JSON":
        (path / "history.json").write_text('[{"epoch": 1,')
    elif case == "metadata bad JSON":
        (path / "metadata.json").write_bytes(b"\xff\xfe{not json")
    elif case == "manifest bad JSON":
        (path / MANIFEST_FILE).write_text("{")
    elif case == "manifest not ours":
        (path / MANIFEST_FILE).write_text('{"files": []}')
    elif case == "file added after saving":
        (path / "metadata.json").rename(path / "kept.json")
        manifest = json.loads((path / MANIFEST_FILE).read_text())
        del manifest["files"]["metadata.json"]
        (path / MANIFEST_FILE).write_text(json.dumps(manifest))
        (path / "kept.json").rename(path / "metadata.json")
    elif case == "old metadata beside new weights":
        (path / "metadata.json").write_text(json.dumps({**META, "accuracy": 0.9375}))


@pytest.mark.parametrize("case, file, words", [
    ("bit-flipped weights", "params.safetensors", "does not match the sha256"),
    ("truncated weights", "params.safetensors", "has 1000 bytes but"),
    ("empty weights", "params.safetensors", "has 0 bytes but"),
    ("weights missing", "params.safetensors", "No params.safetensors"),
    ("history bad JSON", "history.json", "sha256|bytes but"),
    ("metadata bad JSON", "metadata.json", "sha256|bytes but"),
    ("old metadata beside new weights", "metadata.json", "sha256|bytes but"),
    ("manifest bad JSON", MANIFEST_FILE, "unreadable"),
    ("manifest not ours", MANIFEST_FILE, "unreadable"),
    ("file added after saving", "metadata.json", "not listed"),
])
def test_damaged_checkpoint_raises_checkpoint_error_naming_the_file(ckpt, case, file, words):
    path, _ = ckpt
    _damage(path, case)
    with pytest.raises(CheckpointError, match=words) as err:
        load_checkpoint(path, verbose=False)
    assert file in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("case, file, words", [
    ("truncated weights", "params.safetensors", "not a readable safetensors"),
    ("empty weights", "params.safetensors", "not a readable safetensors"),
    ("weights missing", "params.safetensors", "No params.safetensors"),
    ("history bad JSON", "history.json", "not valid JSON"),
    ("metadata bad JSON", "metadata.json", "not valid JSON"),
])
def test_damaged_checkpoint_without_manifest_still_raises_named_error(ckpt, case, file, words):
    path, _ = ckpt
    (path / MANIFEST_FILE).unlink()
    _damage(path, case)
    with pytest.raises(CheckpointError, match=words) as err:
        load_checkpoint(path, verbose=False)
    assert file in str(err.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_rejected_even_with_a_matching_manifest(ckpt, value):
    path, model = ckpt
    state = {k: v.clone() for k, v in model.state_dict().items()}
    key = "final_layer.conv_classifier.weight"
    state[key].view(-1)[3] = value
    save_file(state, str(path / "params.safetensors"))
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    data = (path / "params.safetensors").read_bytes()
    manifest["files"]["params.safetensors"] = {"sha256": hashlib.sha256(data).hexdigest(),
                                               "size": len(data)}
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="NaN/Inf") as err:
        load_checkpoint(path, verbose=False)
    assert "params.safetensors" in str(err.value) and key in str(err.value)


def test_missing_keys_and_shapes(ckpt, tmp_path):
    path, _ = ckpt
    # the checkpoint's own metadata declares an architecture its weights do not fit
    bad = tmp_path / "bad"
    save_checkpoint(_shallow(), bad, metadata={**META, "model_kwargs": {**KW, "n_chans": 5}},
                    verbose=False)
    with pytest.raises(CheckpointError, match="shape mismatch") as err:
        load_checkpoint(bad, verbose=False)
    assert str(bad) in str(err.value) and "metadata.json" in str(err.value)
    # weights with a key the architecture lacks
    state = dict(read_checkpoint_files(path)[0])
    state["extra.weight"] = torch.zeros(2)
    save_file(state, str(path / "params.safetensors"))
    (path / MANIFEST_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"unexpected \['extra.weight'\]"):
        load_checkpoint(path, verbose=False)
    # an architecture the caller chose: the caller's error
    with pytest.raises(ModelMismatchError, match="n_chans") as err:
        load_checkpoint(bad, model_kwargs=dict(n_chans=4, n_outputs=3))
    assert str(bad) in str(err.value)


def test_metadata_that_cannot_build_the_model(ckpt):
    path, _ = ckpt
    (path / MANIFEST_FILE).unlink()
    (path / "metadata.json").write_text(json.dumps({**META, "model_kwargs": {"n_chanz": 4}}))
    with pytest.raises(CheckpointError, match="n_chanz") as err:
        load_checkpoint(path, verbose=False)
    assert str(path) in str(err.value)


def test_missing_directory_and_file_instead_of_directory(ckpt, tmp_path):
    path, _ = ckpt
    with pytest.raises(CheckpointError, match="No such checkpoint directory") as err:
        load_checkpoint(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(err.value)
    with pytest.raises(CheckpointError, match="is a file") as err:
        load_checkpoint(path / "params.safetensors")
    assert "params.safetensors" in str(err.value)


# -- encoder checkpoints: the same writer and reader ----------------------------------------

def test_encoder_checkpoints_are_checked_the_same_way(tmp_path):
    enc = ContrastiveEEGEncoder(n_chans=4, n_times=32, n_latents=3, n_spatial=3, n_bands=2,
                                sfreq=32.0, fmin=2.0, fmax=12.0, n_hidden=8).eval()
    path = save_encoder(enc, tmp_path / "enc", {"loss": [1.0]}, verbose=False)
    assert sorted(os.listdir(path)) == FILES
    enc2, hist = load_encoder(path, verbose=False)
    x = torch.randn(2, 4, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(enc(x), enc2(x)) and hist == {"loss": [1.0]}
    _flip_bits(path / "params.safetensors", n=8)
    with pytest.raises(CheckpointError, match="sha256") as err:
        load_encoder(path, verbose=False)
    assert "params.safetensors" in str(err.value)
    with pytest.raises(CheckpointError, match="No such checkpoint directory"):
        load_encoder(tmp_path / "missing", verbose=False)


# -- save side -------------------------------------------------------------------------------

def test_save_refuses_bad_targets_and_values_before_writing(tmp_path):
    model = _shallow()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError, match="is a file") as err:
        save_checkpoint(model, tmp_path / "file")
    assert str(tmp_path / "file") in str(err.value)
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    (user / "params.safetensors").write_bytes(b"old")
    with pytest.raises(InvalidInputError, match="notes.txt") as err:
        save_checkpoint(model, user)
    assert str(user) in str(err.value)
    assert (user / "notes.txt").read_text() == "mine"  # never deletes user files
    with pytest.raises(InvalidInputError, match="not a writable directory") as err:
        save_checkpoint(model, tmp_path / "file" / "ck")
    assert str(tmp_path / "file") in str(err.value)
    with pytest.raises(InvalidInputError, match="metadata"):
        save_checkpoint(model, tmp_path / "m", metadata={"x": object()})
    with torch.no_grad():
        model.final_layer.conv_classifier.weight.view(-1)[0] = float("nan")
    with pytest.raises(NonFiniteError, match="final_layer.conv_classifier.weight"):
        save_checkpoint(model, tmp_path / "nan")
    assert sorted(os.listdir(tmp_path)) == ["file", "user"]


def test_save_replaces_a_legacy_checkpoint_and_its_part_files(tmp_path):
    """neuroxai <= 0.1 wrote file by file and killed saves left ``.part`` files inside."""
    path = tmp_path / "ck"
    path.mkdir()
    (path / "params.safetensors").write_bytes(b"old weights")
    (path / "metadata.json").write_text("{}")
    (path / ".params.safetensors.k2j3h4.part").write_bytes(b"partial")
    save_checkpoint(tiny(0), path, metadata={"which": "new"}, verbose=False)
    assert sorted(os.listdir(tmp_path)) == ["ck"] and sorted(os.listdir(path)) == FILES


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions and a non-root user")
def test_save_into_a_read_only_place_is_a_named_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(InvalidInputError, match="not a writable directory") as err:
            save_checkpoint(tiny(0), ro / "ck")
        assert str(ro) in str(err.value)
    finally:
        ro.chmod(0o700)


# -- kill a save while it overwrites a checkpoint -------------------------------------------

STAGES = ["params.safetensors", "history.json", "metadata.json", "manifest.json",
          "complete", "moved-aside", "swapped", "trashed"]
#: The first stage after which the checkpoint at the final path is the new one.
FIRST_NEW = STAGES.index("swapped")

# One "zygote" imports torch once and forks one worker per stage (each overwrites its own
# checkpoint); a worker announces the stage it reached and sleeps there until SIGKILLed.
ZYGOTE = TINY_SRC + r'''
import json, os, sys, time
import torch
torch.set_num_threads(1)
import neuroxai._utils as u
from neuroxai.models.checkpoint import save_checkpoint

workers = []
for stage, path in json.loads(sys.argv[1]).items():
    pid = os.fork()
    if pid == 0:
        def hook(name, stage=stage):
            if name == stage:
                print(f"{stage} {os.getpid()}", flush=True)
                time.sleep(300)
        u._STAGE_HOOK = hook
        try:
            save_checkpoint(tiny(1), path, [{"epoch": 2}], {"which": "new"}, verbose=False)
            print(f"{stage} finished-without-reaching-the-stage", flush=True)
        except BaseException as err:
            print(f"{stage} error {err!r}", flush=True)
        os._exit(0)
    workers.append(pid)
for pid in workers:
    os.waitpid(pid, 0)  # reap the killed workers: a zombie's pid still looks alive
'''


def _kill_at_stages(tmp_path, stages):
    jobs = {s: str(tmp_path / s / "ck") for s in stages}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", ZYGOTE, json.dumps(jobs)], env=env,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    killed, deadline = {}, time.monotonic() + 120
    try:
        while len(killed) < len(stages):
            ready, _, _ = select.select([proc.stdout], [], [], max(deadline - time.monotonic(), 0))
            line = proc.stdout.readline() if ready else ""
            if not line:
                break
            stage, what = line.split(" ", 1)
            assert what.strip().isdigit(), f"worker for {stage!r}: {what.strip()}"
            os.kill(int(what), signal.SIGKILL)
            killed[stage] = int(what)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert sorted(killed) == sorted(stages), f"stopped at {sorted(killed)} only"
    return jobs


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill test forks workers (POSIX)")
def test_killed_overwrite_leaves_whole_old_or_whole_new_and_next_save_tidies(tmp_path):
    old, new, third = tiny(0), tiny(1), tiny(2)
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits = {"old": old(x), "new": new(x), "third": third(x)}
    for stage in STAGES:
        save_checkpoint(old, tmp_path / stage / "ck", [{"epoch": 1}], {"which": "old"},
                        verbose=False)
    jobs = _kill_at_stages(tmp_path, STAGES)
    for i, stage in enumerate(STAGES):
        path = Path(jobs[stage])
        leftovers = [n for n in os.listdir(path.parent) if n != "ck"]
        assert leftovers and all(".ck.neuroxai-" in n for n in leftovers), (stage, leftovers)
        model, history, metadata = load_checkpoint(path, model=tiny(5), verbose=False)
        which = metadata["which"]
        assert which == ("new" if i >= FIRST_NEW else "old"), stage
        with torch.no_grad():  # weights, history and metadata all from the same save
            torch.testing.assert_close(model(x), logits[which], rtol=0, atol=0)
        assert history == [{"epoch": 2 if which == "new" else 1}]
        # the next save repairs and tidies: only the new checkpoint is left
        save_checkpoint(third, path, [{"epoch": 3}], {"which": "third"}, verbose=False)
        assert os.listdir(path.parent) == ["ck"], stage
        assert sorted(os.listdir(path)) == FILES
        model, history, metadata = load_checkpoint(path, model=tiny(5), verbose=False)
        with torch.no_grad():
            torch.testing.assert_close(model(x), logits["third"], rtol=0, atol=0)
        assert metadata == {"which": "third"} and history == [{"epoch": 3}]


def test_a_folder_of_a_live_save_is_never_removed(tmp_path):
    """Temporary folders of a process that is still running (e.g. another save) stay."""
    save_checkpoint(tiny(0), tmp_path / "ck", verbose=False)
    live = tmp_path / f".ck.neuroxai-new-{os.getppid()}-abc123"
    live.mkdir()
    mine = tmp_path / "ck.neuroxai-new-1-notours"  # not our pattern (no leading dot)
    mine.mkdir()
    save_checkpoint(tiny(1), tmp_path / "ck", verbose=False)
    assert live.is_dir() and mine.is_dir()


# -- load_pretrained: names, paths, repo ids -------------------------------------------------

def test_path_like_arguments_are_paths_never_repo_ids(tmp_path, ckpt, monkeypatch):
    path, model = ckpt
    m2, _, _ = load_pretrained(path, verbose=False)  # a pathlib.Path
    torch.testing.assert_close(_logits(m2), _logits(model), rtol=0, atol=0)
    monkeypatch.chdir(path.parent)
    m3, _, _ = load_pretrained("ck", verbose=False)  # an existing directory
    torch.testing.assert_close(_logits(m3), _logits(model), rtol=0, atol=0)
    for arg in [tmp_path / "missing", "./missing", "missing/", "~/surely/not/there",
                str(tmp_path / "missing"), "a/b/c"]:
        with pytest.raises(CheckpointError, match="No such checkpoint directory") as err:
            load_pretrained(arg, verbose=False)
        assert "read as a path" in str(err.value)
        assert str(Path(arg).expanduser().absolute()) in str(err.value)


@pytest.mark.parametrize("arg", ["shallow_simulatd", "", "owner/na me", "owner/name.git",
                                 "owner--x/name", "no_owner", "/".join(["owner", ""]) + "x y"])
def test_invalid_names_list_the_accepted_forms(arg):
    with pytest.raises(UnknownNameError, match="Accepted") as err:
        load_pretrained(arg, verbose=False)
    msg = str(err.value)
    assert repr(arg) in msg and all(n in msg for n in SHIPPED) and "owner/name" in msg
    if arg == "shallow_simulatd":
        assert "Did you mean 'shallow_simulated'" in msg


def test_non_string_name_is_an_invalid_input():
    with pytest.raises(InvalidInputError, match="name_or_repo"):
        load_pretrained(3, verbose=False)


def test_unknown_repo_fails_fast_without_retries(tmp_path):
    """The network is blocked in the tests: one try, no 23-26 s of hub retries."""
    t0 = time.perf_counter()
    with pytest.raises(DataNotAvailableError, match="one try") as err:
        load_pretrained("braindecode/plot_bcic_iv_2a_moabb_trail", cache_dir=tmp_path,
                        offline=False, verbose=False)
    assert time.perf_counter() - t0 < 10
    assert "braindecode/plot_bcic_iv_2a_moabb_trail" in str(err.value)
    with pytest.raises(DataNotAvailableError, match="offline mode"):
        load_pretrained("someone/missing", cache_dir=tmp_path, offline=True, verbose=False)


def test_cached_repo_loads_without_the_network(tmp_path):
    """Cache first: a cached repo never touches the (blocked) network, even offline=False."""
    from test_models import _write_hub_cache

    model = _shallow(seed=4)
    save_checkpoint(model, tmp_path / "src", [{"epoch": 1}], META, verbose=False)
    _write_hub_cache(tmp_path / "cache", "someone/tiny", {
        n: tmp_path / "src" / n for n in ("params.safetensors", "history.json", "metadata.json",
                                          MANIFEST_FILE)})
    m2, history, meta = load_pretrained("someone/tiny", cache_dir=tmp_path / "cache",
                                        offline=False, verbose=False)
    torch.testing.assert_close(_logits(m2), _logits(model), rtol=0, atol=0)
    assert meta == META and history == [{"epoch": 1}]


# -- train-default writes to the user cache --------------------------------------------------

@pytest.fixture
def fake_training(monkeypatch, tmp_path):
    """train_default_checkpoint without data or minutes of training."""
    import neuroxai.data
    import neuroxai.models.train as train

    calls = []
    sel = SimpleNamespace(X=np.zeros((2, 22, 1125), np.float32), y=np.zeros(2, int))
    trials = SimpleNamespace(select=lambda s: sel, class_names=["a", "b", "c", "d"],
                             info=SimpleNamespace(ch_names=[f"c{i}" for i in range(22)]),
                             sfreq=250.0, tmin=0.5)

    def simulate(**kw):
        calls.append(kw)
        return SimpleNamespace(trials=trials)

    def fit(model, *a, **k):
        return model, [{"epoch": 1, "train_accuracy": 0.5, "valid_accuracy": 0.25}]

    monkeypatch.setattr(neuroxai.data, "simulate_bcic_iv_2a", simulate)
    monkeypatch.setattr(train, "fit_classifier", fit)
    monkeypatch.setenv("NEUROXAI_CACHE", str(tmp_path / "cache"))
    return calls


def _digest(path):
    return {n: hashlib.sha256((path / n).read_bytes()).hexdigest() for n in os.listdir(path)}


def test_train_default_writes_to_the_user_cache_not_the_package(fake_training, tmp_path,
                                                                 capsys):
    from neuroxai.cli import main
    from neuroxai.models import train_default_checkpoint

    shipped = shipped_checkpoint_dir()
    before = _digest(shipped)
    model, _, meta = train_default_checkpoint(progress=False, verbose=False)
    out = tmp_path / "cache" / "checkpoints" / "shallow_simulated"
    assert retrained_checkpoint_dir() == out and sorted(os.listdir(out)) == FILES
    assert _digest(shipped) == before  # the installed checkpoint is untouched
    retrained, _, meta2 = load_pretrained(out, verbose=False)
    assert meta2["test_accuracy"] == 0.25
    _, _, shipped_meta = load_pretrained("shallow_simulated", verbose=False)
    assert shipped_meta["test_accuracy"] > 0.5  # the shipped name still loads the shipped one
    # the CLI: same place, and it says how to load it
    assert main(["--quiet", "train-default", "--regime", "temporal"]) == 0
    printed = capsys.readouterr().out
    assert str(tmp_path / "cache" / "checkpoints" / "shallow_simulated_temporal") in printed
    assert "load_pretrained" in printed and _digest(shipped) == before


def test_train_default_checks_its_arguments_before_training(fake_training, tmp_path):
    from neuroxai.models import train_default_checkpoint

    with pytest.raises(UnknownNameError, match="spectral"):
        train_default_checkpoint(regime="spectrall", progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError, match="is a file"):
        train_default_checkpoint(tmp_path / "file", progress=False)
    assert fake_training == []  # no data was simulated
