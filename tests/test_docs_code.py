"""The Python code of the README and of the documentation pages runs against the current API.

Every ``.. code-block:: python`` of ``docs/*.rst`` and every fenced ```` ```python ```` block of
``README.md`` is executed, the blocks of one file in order in one namespace (as a reader
would paste them), in a temporary working directory, with the network blocked and
neuroxai's own deprecation warnings as errors.

A comment right before a block changes how it is run (in reST an ordinary comment, in
Markdown an HTML comment, so readers do not see it):

``.. code-test: skip <reason>``  /  ``<!-- code-test: skip <reason> -->``
    not run (it needs the network, files the reader has, or minutes).
``.. code-test: needs-eegmmidb``
    run with ``MNE_DATA`` pointing at the EEGMMIDB recording of subject 1; without it, this
    block and the rest of the file are skipped (later blocks may use its names).

and, in reST only, a hidden block of code that prepares what a visible block assumes (a
recording on disk, say)::

    .. code-test: setup
       import mne
       ...

which is a comment to Sphinx (nothing is rendered) and runs here, in order.
"""
import os
import re
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNE_DATA = ROOT.parent / "shared" / "data" / "mne_data"  # as in conftest.py
FILES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.rst"))
MARKERS = ("skip", "needs-eegmmidb", "setup")
_MARKER = re.compile(r"^\s*(?:\.\.|<!--)\s*code-test:\s*([\w-]+)\s*(.*?)\s*(?:-->)?\s*$")


@dataclass
class Block:
    line: int  # 1-based line of the first code line in the file
    code: str
    setup: bool = False  # a hidden ``.. code-test: setup`` block
    skip: str | None = None  # the reason, for ``code-test: skip``
    needs_eegmmidb: bool = False


def _block(line, code, markers, setup=False):
    return Block(line, code, setup=setup, skip=markers.get("skip"),
                 needs_eegmmidb="needs-eegmmidb" in markers)


def _indented_body(lines, start):
    """Dedented lines from ``start`` while they are blank or indented; next index."""
    body, i = [], start
    while i < len(lines) and (not lines[i].strip() or lines[i][:1] in " \t"):
        body.append(lines[i])
        i += 1
    while body and not body[-1].strip():
        body.pop()
    return textwrap.dedent("\n".join(body)), i


def parse_rst(text):
    lines, blocks, markers, i = text.splitlines(), [], {}, 0
    while i < len(lines):
        line = lines[i]
        m = _MARKER.match(line)
        if m:
            if m.group(1) == "setup":
                code, end = _indented_body(lines, i + 1)
                blocks.append(_block(i + 2, code, markers, setup=True))
                markers, i = {}, end
            else:
                markers[m.group(1)] = m.group(2)
                i += 1
            continue
        if re.match(r"^\s*\.\. code-block::\s*(python|py|python3)\s*$", line):
            i += 1
            while i < len(lines) and re.match(r"^\s+:\w[\w-]*:", lines[i]):
                i += 1  # directive options
            while i < len(lines) and not lines[i].strip():
                i += 1
            first = i
            code, i = _indented_body(lines, i)
            blocks.append(_block(first + 1, code, markers))
            markers = {}
            continue
        if line.strip() and not line.startswith((" ", "..")):
            markers = {}  # markers apply to the very next block only
        i += 1
    return blocks


def parse_md(text):
    lines, blocks, markers, i = text.splitlines(), [], {}, 0
    while i < len(lines):
        m = _MARKER.match(lines[i])
        if m:
            markers[m.group(1)] = m.group(2)
        elif lines[i].strip().startswith("```"):
            lang = lines[i].strip()[3:].strip()
            end = i + 1
            while end < len(lines) and not lines[end].strip().startswith("```"):
                end += 1
            if lang in ("python", "py", "python3"):
                blocks.append(_block(i + 2, "\n".join(lines[i + 1:end]), markers))
            markers, i = {}, end
        elif lines[i].strip():
            markers = {}
        i += 1
    return blocks


def blocks_of(path):
    text = path.read_text(encoding="utf-8")
    return parse_md(text) if path.suffix == ".md" else parse_rst(text)


def _mne_data():
    env = os.environ.get("MNE_DATA")
    if env and Path(env).is_dir():
        return Path(env)
    return SHARED_MNE_DATA if SHARED_MNE_DATA.is_dir() else None


CODE_FILES = [p for p in FILES if blocks_of(p)]


def test_the_documented_files_have_code():
    names = {p.name for p in CODE_FILES}
    assert {"README.md", "user_guide.rst", "own_data.rst", "datasets.rst", "index.rst"} <= names


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_markers_are_known(path):
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = _MARKER.match(line)
        if m:
            assert m.group(1) in MARKERS, f"{path.name}:{n}: unknown code-test marker {line!r}"


def test_parser():
    rst = textwrap.dedent("""
        Text.

        .. code-test: setup
           x = 1

        .. code-block:: python
           :caption: a

           y = x + 1
           if y:
               y += 1

        .. code-test: skip needs a file

        .. code-block:: python

           open("missing")
        """)
    blocks = parse_rst(rst)
    assert [(b.setup, b.skip, b.code) for b in blocks] == [
        (True, None, "x = 1"), (False, None, "y = x + 1\nif y:\n    y += 1"),
        (False, "needs a file", 'open("missing")')]
    assert rst.splitlines()[blocks[1].line - 1].strip() == "y = x + 1"
    blocks = parse_rst(".. code-test: needs-eegmmidb\n.. code-test: setup\n   z = 2\n")
    assert [(b.setup, b.needs_eegmmidb, b.code) for b in blocks] == [(True, True, "z = 2")]
    md = "<!-- code-test: skip online -->\n```python\na = 1\n```\n\n```bash\nls\n```\n"
    assert [(b.skip, b.code) for b in parse_md(md)] == [("online", "a = 1")]


@pytest.mark.slow
@pytest.mark.parametrize("path", CODE_FILES, ids=[p.name for p in CODE_FILES])
def test_code_blocks_run(path, tmp_path, monkeypatch, request):
    import matplotlib.pyplot as plt
    import torch

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNE_TQDM", "off")
    data = _mne_data()
    if data is not None:
        monkeypatch.setenv("MNE_DATA", str(data))
    namespace = {"__name__": "__docs__"}
    ran, skipped = 0, []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as CI's 2 shared cores run fastest; restored below
    request.addfinalizer(lambda: torch.set_num_threads(threads))
    for block in blocks_of(path):
        where = f"{path.name}:{block.line}"
        if block.skip is not None:
            skipped.append(f"{where} ({block.skip})")
            continue
        if block.needs_eegmmidb and data is None:
            pytest.skip(f"{where} and after need the EEGMMIDB recording (set MNE_DATA); "
                        f"{ran} block(s) ran before")
        code = compile("\n" * (block.line - 1) + block.code, str(path), "exec")
        with warnings.catch_warnings():
            warnings.filterwarnings("error", category=FutureWarning,
                                    message=r".*deprecated.*(next release|and ignored)"
                                            r"|.*neuroxai\.\S+ is deprecated")
            try:
                exec(code, namespace)
            except Exception as err:
                raise AssertionError(f"the code block at {where} failed: "
                                     f"{type(err).__name__}: {err}") from err
        plt.close("all")
        ran += 1
    assert ran, f"no block of {path.name} ran (skipped: {skipped})"
