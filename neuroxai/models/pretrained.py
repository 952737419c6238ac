"""Pretrained classifiers: the checkpoints shipped with neuroxai, local checkpoint
directories and Hugging Face repos."""
from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

from .._utils import (
    CheckpointError,
    DataNotAvailableError,
    InvalidInputError,
    UnknownNameError,
    get_cache_dir,
    interrupted_swap,
    logger,
    verbose,
)
from .checkpoint import (
    HISTORY_FILE,
    MANIFEST_FILE,
    METADATA_FILE,
    PARAMS_FILE,
    load_checkpoint,
)

#: Checkpoints inside the package (made by :func:`neuroxai.models.train_default_checkpoint`;
#: a retrained one goes to the user cache, see :func:`retrained_checkpoint_dir`).
SHIPPED = {
    "shallow_simulated":
        "ShallowFBCSPNet trained on simulate_bcic_iv_2a('spectral'), session 0train",
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

#: What the known Hub checkpoints were trained on (braindecode's BCI IV 2a tutorial trains
#: its model on subject 3's session 0train and scores it on 1test), so that an audit can
#: default to that subject and warn when it explains another one.
TRAINED_ON = {
    "braindecode/plot_bcic_iv_2a_moabb_trial": dict(dataset="BNCI2014_001", subject=3,
                                                    train_session="0train",
                                                    test_session="1test"),
}


def shipped_checkpoint_dir(name=DEFAULT_CHECKPOINT):
    """Directory of a checkpoint shipped inside the package (read-only: never written)."""
    return Path(__file__).parent / "checkpoints" / name


def retrained_checkpoint_dir(name=DEFAULT_CHECKPOINT, cache_dir=None):
    """Where :func:`neuroxai.models.train_default_checkpoint` writes a retrained checkpoint.

    ``<cache>/checkpoints/<name>`` with the cache of :func:`neuroxai._utils.get_cache_dir`
    (``$NEUROXAI_CACHE`` or ``./data_cache``). Load it with ``load_pretrained(<this path>)``:
    the shipped name keeps loading the checkpoint inside the package.
    """
    return get_cache_dir(cache_dir) / "checkpoints" / name


#: Seconds the single network attempt for an uncached Hub repo may take
#: (``$HF_HUB_ETAG_TIMEOUT`` overrides it).
HUB_TIMEOUT_S = 5.0
#: Files fetched from a Hub repo, and whether each is required.
_HUB_FILES = ((PARAMS_FILE, True), (HISTORY_FILE, False), (METADATA_FILE, False),
              (MANIFEST_FILE, False))
_EXAMPLE_REPO = "braindecode/plot_bcic_iv_2a_moabb_trial"


def _hub_offline():
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def _looks_like_path(name):
    """True for strings only a path can be (a repo id is exactly ``owner/name``)."""
    seps = tuple(s for s in (os.sep, os.altsep) if s)
    return (name.startswith((".", "~") + seps) or name.endswith(seps) or bool(Path(name).drive)
            or name.count("/") > 1 or any(s != "/" and s in name for s in seps))


def _is_repo_id(name):
    from huggingface_hub.utils import validate_repo_id

    owner, _, repo = name.partition("/")
    if not owner or not repo or "/" in repo:
        return False
    try:
        validate_repo_id(name)
    except ValueError:  # HFValidationError
        return False
    return True


def _accepted_forms():
    return (f"Accepted: a shipped name ({', '.join(map(repr, SHIPPED))}), a checkpoint "
            "directory (a pathlib.Path, an existing directory, or a string starting with '.', "
            "'~' or '/', ending with '/' or holding more than one '/'), or a Hugging Face "
            f"repo id 'owner/name' (e.g. '{_EXAMPLE_REPO}').")


def _resolve(name_or_repo):
    """``("shipped", name)``, ``("path", Path)`` or ``("repo", repo_id)``; no network."""
    if isinstance(name_or_repo, os.PathLike):
        return "path", Path(name_or_repo).expanduser()
    if not isinstance(name_or_repo, str):
        raise InvalidInputError(f"name_or_repo must be a str or a path, got "
                                f"{type(name_or_repo).__name__}. {_accepted_forms()}")
    name = name_or_repo
    if name in SHIPPED:
        return "shipped", name
    path = Path(name).expanduser()
    if name and (path.is_dir() or _looks_like_path(name)):
        return "path", path
    if _is_repo_id(name):
        return "repo", name
    close = difflib.get_close_matches(name, list(SHIPPED) + list(KNOWN_REPOS), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownNameError(f"name_or_repo={name!r} is neither a shipped checkpoint name, an "
                           f"existing directory nor a Hugging Face repo id.{hint} "
                           f"{_accepted_forms()}")


@verbose
def load_pretrained(name_or_repo=DEFAULT_CHECKPOINT, cache_dir=None, revision=None,
                    offline=None, model_class=None, model_kwargs=None, verbose=None):
    """Load a pretrained classifier, verified (see :func:`neuroxai.models.load_checkpoint`).

    Parameters
    ----------
    name_or_repo : str | path-like
        One of

        * a shipped name (``"shallow_simulated"``, see ``SHIPPED``): the checkpoint inside
          the package;
        * a checkpoint directory: a :class:`pathlib.Path`, an existing directory, or any
          string that can only be a path (starts with ``.``, ``~`` or ``/``, ends with
          ``/``, or has more than one ``/``). A path is never taken for a repo id. A
          checkpoint retrained by
          ``neuroxai train-default`` loads with
          ``load_pretrained(retrained_checkpoint_dir("shallow_simulated"))``;
        * a Hugging Face repo id ``"owner/name"`` in braindecode's format
          (``params.safetensors`` + ``history.json``), e.g.
          ``"braindecode/plot_bcic_iv_2a_moabb_trial"``. The local cache is used when it
          has the files; otherwise the Hub is tried once (``HUB_TIMEOUT_S`` seconds, no
          retries). To refresh a cached repo, pass ``revision`` or delete its cache folder.
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
    UnknownNameError
        ``name_or_repo`` is no shipped name, path or repo id (the message lists the forms).
    CheckpointError
        The directory does not exist, or the checkpoint is damaged.
    DataNotAvailableError
        The repo is not cached and cannot be downloaded.
    """
    kind, what = _resolve(name_or_repo)
    if kind == "shipped":
        return load_checkpoint(shipped_checkpoint_dir(what), model_class=model_class,
                               model_kwargs=model_kwargs)
    if kind == "path":
        if not what.exists() and interrupted_swap(what) is None:
            raise CheckpointError(
                f"No such checkpoint directory: {what.absolute()} "
                f"(name_or_repo={str(name_or_repo)!r} is read as a path). {_accepted_forms()}")
        return load_checkpoint(what, model_class=model_class, model_kwargs=model_kwargs)
    local = fetch_hub_checkpoint(what, cache_dir=cache_dir, revision=revision, offline=offline)
    if model_class is None and what in KNOWN_REPOS and "model_class" not in _peek_json(
            local / METADATA_FILE):
        # the tutorial repos' metadata.json (if any) holds metrics, not the architecture
        model_class, known_kwargs = KNOWN_REPOS[what]
        model_kwargs = {**known_kwargs, **(model_kwargs or {})}
    return load_checkpoint(local, model_class=model_class, model_kwargs=model_kwargs)


def _peek_json(file):
    """A JSON object file's content, or {} (a damaged file is reported by the loader)."""
    try:
        value = json.loads(file.read_bytes())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _cached_hub_checkpoint(repo_id, hub_cache, revision):
    """The cached snapshot directory of ``repo_id`` if it holds the weights; no network."""
    from huggingface_hub import hf_hub_download

    local = None
    for fname, required in _HUB_FILES:
        try:
            file = hf_hub_download(repo_id, fname, cache_dir=hub_cache, revision=revision,
                                   local_files_only=True)
        except Exception:  # LocalEntryNotFoundError and kin: not cached
            if required:
                return None
            continue
        local = local or Path(file).parent
    return local


def _not_available(repo_id, hub_cache, how, err=None):
    return DataNotAvailableError(
        f"Checkpoint '{repo_id}' is not in the cache {hub_cache} and {how}. Connect to the "
        "internet once (HF_HUB_OFFLINE unset) to cache it, copy a checkpoint directory "
        "(params.safetensors + history.json) and pass its path, or use the shipped offline "
        f"checkpoint: load_pretrained('{DEFAULT_CHECKPOINT}')."
        + (f" ({type(err).__name__}: {str(err)[:200]})" if err is not None else ""))


def fetch_hub_checkpoint(repo_id, cache_dir=None, revision=None, offline=None):
    """Find a checkpoint repo in the cache, or download it; return its local directory.

    The cache is looked up first without any network access. Only if it lacks the weights
    (and ``offline`` is off) is the Hub asked, once: a metadata request with a
    ``HUB_TIMEOUT_S`` timeout and no retries, so that an unreachable Hub or a mistyped id
    fails in seconds (``hf_hub_download`` alone retries network errors with back-off for
    about 25 s). ``huggingface_hub`` downloads to ``.incomplete`` files and renames them, so
    an interrupted download leaves no partial file under the final name.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import (
        EntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = _hub_offline() if offline is None else bool(offline)
    hub_cache = get_cache_dir(cache_dir) / "huggingface"
    local = _cached_hub_checkpoint(repo_id, hub_cache, revision)
    if local is not None:
        logger.info(f"Checkpoint {repo_id} from the cache {local}")
        return local
    if offline:
        raise _not_available(repo_id, hub_cache, "offline mode is on")
    timeout = float(os.environ.get("HF_HUB_ETAG_TIMEOUT") or HUB_TIMEOUT_S)
    try:  # one try (get_hf_file_metadata does not retry by default)
        get_hf_file_metadata(hf_hub_url(repo_id, PARAMS_FILE, revision=revision),
                             timeout=timeout)
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as err:
        raise DataNotAvailableError(
            f"The Hugging Face Hub has no {PARAMS_FILE} in '{repo_id}'"
            f"{f' at revision {revision!r}' if revision else ''} (the repo does not exist, is "
            f"private, or is not a braindecode checkpoint: {type(err).__name__}). "
            f"{_accepted_forms()}") from err
    except Exception as err:  # network errors: no retry
        how = f"the Hub could not be reached (one try, timeout {timeout:g} s)"
        raise _not_available(repo_id, hub_cache, how, err) from err
    got = {}
    for fname, required in _HUB_FILES:
        try:
            got[fname] = hf_hub_download(repo_id, fname, cache_dir=hub_cache, revision=revision,
                                         etag_timeout=timeout)
        except Exception as err:
            if required:
                raise _not_available(repo_id, hub_cache, "the download failed", err) from err
    logger.info(f"Checkpoint {repo_id} at {Path(got[PARAMS_FILE]).parent}")
    return Path(got[PARAMS_FILE]).parent
