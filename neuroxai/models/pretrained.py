"""Pretrained classifiers: the checkpoint shipped with neuroxai and Hugging Face repos."""
from __future__ import annotations

import os
from pathlib import Path

from .._utils import DataNotAvailableError, get_cache_dir, logger, verbose
from .checkpoint import METADATA_FILE, load_checkpoint

#: Checkpoints inside the package (trained by :func:`neuroxai.models.train_default_checkpoint`).
SHIPPED = {
    "shallow_simulated": "ShallowFBCSPNet trained on simulate_bcic_iv_2a('spectral'), session 0train",
    "shallow_simulated_temporal": "ShallowFBCSPNet trained on simulate_bcic_iv_2a('temporal')",
    "shallow_simulated_spatial": "ShallowFBCSPNet trained on simulate_bcic_iv_2a('spatial')",
}
DEFAULT_CHECKPOINT = "shallow_simulated"


def checkpoint_name_for_regime(regime):
    """Name of the shipped checkpoint trained on a simulation regime."""
    return DEFAULT_CHECKPOINT if regime == "spectral" else f"{DEFAULT_CHECKPOINT}_{regime}"

#: Architectures of known Hub repos that carry no metadata naming the model class.
KNOWN_REPOS = {
    "braindecode/plot_bcic_iv_2a_moabb_trial": (
        "ShallowFBCSPNet",
        dict(n_chans=22, n_outputs=4, n_times=1125, final_conv_length="auto"),
    ),
}


def shipped_checkpoint_dir(name=DEFAULT_CHECKPOINT):
    """Directory of a checkpoint shipped inside the package."""
    return Path(__file__).parent / "checkpoints" / name


def _hub_offline():
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


@verbose
def load_pretrained(name_or_repo=DEFAULT_CHECKPOINT, cache_dir=None, revision=None,
                    offline=None, model_class=None, model_kwargs=None, verbose=None):
    """Load a pretrained classifier.

    Parameters
    ----------
    name_or_repo : str | path-like
        A shipped name (``"shallow_simulated"``), a local checkpoint directory, or a
        Hugging Face repo id in braindecode's format (``params.safetensors`` +
        ``history.json``), e.g. ``"braindecode/plot_bcic_iv_2a_moabb_trial"``.
    cache_dir : path-like | None
        Cache root; Hub files go to ``<cache_dir>/huggingface``. Default: see
        :func:`neuroxai._utils.get_cache_dir`.
    revision : str | None
        Hub revision (branch, tag or commit).
    offline : bool | None
        Only use cached files. Default: ``$HF_HUB_OFFLINE``.
    model_class, model_kwargs :
        Override the architecture (otherwise from ``metadata.json`` or the known repos).
    %(verbose)s

    Returns
    -------
    model : torch.nn.Module
        In eval mode, on the CPU.
    history : list of dict
    metadata : dict

    Raises
    ------
    DataNotAvailableError
        When the repo is not cached and cannot be downloaded.
    """
    name = str(name_or_repo)
    if name in SHIPPED:
        return load_checkpoint(shipped_checkpoint_dir(name), model_class=model_class,
                               model_kwargs=model_kwargs)
    if Path(name).expanduser().is_dir():
        return load_checkpoint(Path(name).expanduser(), model_class=model_class,
                               model_kwargs=model_kwargs)
    local = fetch_hub_checkpoint(name, cache_dir=cache_dir, revision=revision, offline=offline)
    if model_class is None and not (local / METADATA_FILE).is_file() and name in KNOWN_REPOS:
        model_class, known_kwargs = KNOWN_REPOS[name]
        model_kwargs = {**known_kwargs, **(model_kwargs or {})}
    elif model_class is None and name in KNOWN_REPOS:
        # the tutorial repos' metadata.json holds metrics, not the architecture
        import json

        meta = json.loads((local / METADATA_FILE).read_text())
        if "model_class" not in meta:
            model_class, known_kwargs = KNOWN_REPOS[name]
            model_kwargs = {**known_kwargs, **(model_kwargs or {})}
    return load_checkpoint(local, model_class=model_class, model_kwargs=model_kwargs)


def fetch_hub_checkpoint(repo_id, cache_dir=None, revision=None, offline=None):
    """Download (or find in the cache) a checkpoint repo; return its local directory.

    ``huggingface_hub`` writes to ``.incomplete`` files and renames them, so an
    interrupted download leaves no partial file under the final name.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    offline = _hub_offline() if offline is None else bool(offline)
    hub_cache = get_cache_dir(cache_dir) / "huggingface"
    got = {}
    for fname, required in (("params.safetensors", True), ("history.json", False),
                            ("metadata.json", False)):
        try:
            got[fname] = hf_hub_download(repo_id, fname, cache_dir=hub_cache, revision=revision,
                                         local_files_only=offline, etag_timeout=5)
        except (LocalEntryNotFoundError, OSError, HfHubHTTPError, EntryNotFoundError) as err:
            if not required:
                continue
            how = "offline mode is on" if offline else f"it could not be downloaded ({type(err).__name__})"
            raise DataNotAvailableError(
                f"Checkpoint '{repo_id}' ({fname}) is not in the cache {hub_cache} and {how}. "
                "Connect to the internet once (HF_HUB_OFFLINE unset) to cache it, copy a "
                "checkpoint directory (params.safetensors + history.json) and pass its path, "
                f"or use the shipped offline checkpoint: load_pretrained('{DEFAULT_CHECKPOINT}')."
            ) from err
        except Exception as err:  # e.g. an invalid repo id
            raise DataNotAvailableError(f"Cannot fetch checkpoint '{repo_id}': {err}") from err
    logger.info(f"Checkpoint {repo_id} at {Path(got['params.safetensors']).parent}")
    return Path(got["params.safetensors"]).parent
