"""The gallery examples compile, carry a title, and import only public API that exists.

The examples themselves run in the docs build (``make docs``), not here: they take about a
minute each.
"""
import ast
import importlib
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("plot_*.py"))


def test_gallery_has_header_and_examples():
    assert (EXAMPLES / "README.rst").is_file() or (EXAMPLES / "README.txt").is_file()
    names = {p.stem for p in SCRIPTS}
    assert {"plot_tutorial_pipeline_simulated", "plot_real_eegmmidb", "plot_igc",
            "plot_cebra_jacobian", "plot_sanity_and_benchmark"} <= names


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_compiles_with_title(path):
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))  # SyntaxError fails the test
    compile(tree, str(path), "exec")
    doc = ast.get_docstring(tree)
    assert doc, f"{path.name} needs a module docstring (sphinx-gallery's title and text)"
    lines = [ln for ln in doc.splitlines() if ln.strip()]
    # reST title: a text line underlined (and optionally overlined) by '=' of at least its length
    titles = [i for i in range(1, len(lines) - 1)
              if set(lines[i + 1].strip()) == {"="} and len(lines[i + 1].strip())
              >= len(lines[i].strip()) and not set(lines[i].strip()) <= {"="}]
    assert titles, f"{path.name}: the docstring has no '====' underlined title"


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_imports_exist(path):
    """Every ``from neuroxai... import name`` in an example resolves (catches API drift)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    checked = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("neuroxai"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                if alias.name == "run_xai_benchmark" and not hasattr(module, alias.name):
                    continue  # the example guards this optional import
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
                checked += 1
    assert checked, f"{path.name} imports nothing from neuroxai"
