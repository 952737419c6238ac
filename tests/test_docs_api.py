"""docs/api.rst and the public API agree: every exported name is documented, every
documented name exists.

The public API of a stage is what its ``__init__`` exports: ``__all__`` when it defines
one, otherwise every name without a leading underscore that is not a submodule and that
neuroxai defines. A name counts as documented when an ``autosummary`` entry of api.rst
resolves to the same object (under any module), or, for constants, when api.rst names it
as a literal (````NAME````). Deprecated aliases (a FutureWarning on use, docstring
"Deprecated alias ..." or "Deprecated: ...") need no entry.
"""
import importlib
import inspect
import re
from pathlib import Path

API_RST = Path(__file__).resolve().parents[1] / "docs" / "api.rst"
STAGES = ("neuroxai", "neuroxai.data", "neuroxai.models", "neuroxai.attribution",
          "neuroxai.sanity", "neuroxai.metrics", "neuroxai.viz", "neuroxai.report",
          "neuroxai.evaluation", "neuroxai.group")


def _entries(text):
    """``(module, name)`` of every autosummary entry, in order."""
    module, out, in_summary = None, [], False
    for line in text.splitlines():
        m = re.match(r"\.\. currentmodule::\s*(\S+)", line)
        if m:
            module, in_summary = m.group(1), False
            continue
        if re.match(r"\.\. autosummary::", line):
            in_summary = True
            continue
        if in_summary:
            if not line.strip() or line.strip().startswith(":"):
                continue
            if not line.startswith(" "):
                in_summary = False
                continue
            out.append((module, line.strip().lstrip("~")))
    return out


def _resolve(module, name):
    """The object an entry names (``name`` relative to ``module`` or absolute)."""
    candidates = [f"{module}.{name}", name] if module else [name]
    for full in candidates:
        parts = full.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            try:
                for attr in parts[cut:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                break
            return obj
    return None


def _public(stage):
    try:
        mod = importlib.import_module(stage)
    except ImportError:  # a stage that is not there yet
        return {}
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n in dir(mod) if not n.startswith("_")]
    out = {}
    for name in names:
        obj = getattr(mod, name, None)
        if inspect.ismodule(obj) or name == "annotations":
            continue
        owner = getattr(obj, "__module__", None)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not str(owner).startswith(
                "neuroxai"):
            continue  # re-exported from another library
        if (getattr(obj, "__doc__", None) or "").startswith(("Deprecated alias", "Deprecated:")):
            continue
        out[f"{stage}.{name}"] = obj
    return out


def _mismatches():
    text = API_RST.read_text(encoding="utf-8")
    entries = _entries(text)
    resolved = {f"{m}.{n}": _resolve(m, n) for m, n in entries}
    unknown = sorted(k for k, v in resolved.items() if v is None)
    ids = {id(v) for v in resolved.values() if v is not None}
    documented_names = {k.rsplit(".", 1)[-1] for k in resolved}
    literals = set(re.findall(r"``([A-Za-z_][A-Za-z0-9_]*)``", text))
    missing = []
    for stage in STAGES:
        for full, obj in _public(stage).items():
            name = full.rsplit(".", 1)[-1]
            if id(obj) in ids:
                continue
            if not callable(obj) and (name in literals or name in documented_names):
                continue  # a constant named in the text
            missing.append(full)
    return sorted(missing), unknown


MISSING, UNKNOWN = _mismatches()


def test_every_public_name_is_documented():
    assert not MISSING, f"missing from docs/api.rst: {MISSING}"


def test_every_documented_name_exists():
    assert not UNKNOWN, f"docs/api.rst names objects that do not exist: {UNKNOWN}"


def test_the_parser_reads_api_rst():
    """The check above sees the real entries (a broken parser would find nothing missing)."""
    entries = _entries(API_RST.read_text(encoding="utf-8"))
    names = {n for _, n in entries}
    assert {"attribute", "load_moabb", "run_audit", "cascading_randomization"} <= names
    assert _resolve("neuroxai.attribution", "attribute") is importlib.import_module(
        "neuroxai.attribution").attribute
    assert _resolve("neuroxai.attribution", "no_such_function") is None
