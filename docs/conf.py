"""Sphinx configuration of the neuroxai documentation.

Build (offline, runs the gallery examples)::

    make docs
    # = .venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

Nothing here reaches the network: no intersphinx inventories, no remote theme assets, and
the examples use the embedded simulated dataset, the shipped checkpoint and (when present)
the EEGMMIDB recording under ``$MNE_DATA`` / ``../shared/data/mne_data``.
"""
import os
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # document the working tree even without `pip install -e .`

# The examples must never wait on a server: Hugging Face stays in offline mode, MOABB reads
# local files only (the examples check that they exist before loading).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")
# The examples run in this process at MNE's default log level: their progress bars would
# land in the pages' captured output.
os.environ.setdefault("MNE_TQDM", "off")
# braindecode's model modules warn about MNE's renamed montage on import (theirs, not ours);
# examples are executed in this process, so one filter here keeps their output clean.
warnings.filterwarnings("ignore", message=".*standard_1020.*", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning, module="moabb")

import neuroxai  # noqa: E402

sys.path.insert(0, str(HERE / "_ext"))
from md_to_rst import csv_table, md_to_rst, write_if_changed  # noqa: E402

# -- generated includes --------------------------------------------------------------------
# Results the benchmark scripts write as Markdown, and pages other parts of the project add,
# reach the site through docs/_generated/*.inc (ignored by git, rebuilt on every build).
GENERATED = HERE / "_generated"
RESULTS = ROOT / "benchmarks" / "results"


def _md_include(src, name, missing, top_level=1):
    text = md_to_rst(src.read_text(encoding="utf-8"), top_level) if src.is_file() else missing
    write_if_changed(GENERATED / name, text)


_md_include(RESULTS / "xai_table.md", "xai_table.inc",
            "The table is written by ``python benchmarks/xai_table.py``; it is not there yet.\n")
_md_include(HERE / "benchmarks.md", "benchmarks.inc",
            "The comparison is written by ``python benchmarks/run_all.py``; it is not there "
            "yet.\n", top_level=0)
if (RESULTS / "method_times.csv").is_file():
    write_if_changed(GENERATED / "method_times.inc", csv_table(
        RESULTS / "method_times.csv", ["data", "method", "n_trials", "seconds", "shape"],
        rename={"n_trials": "trials", "shape": "map shape"},
        filter_row=lambda r: r["status"] == "ok"))
else:
    write_if_changed(GENERATED / "method_times.inc", "Run ``python benchmarks/method_times.py``.\n")
# Stage pages written alongside the code they document: listed once they exist (unless
# index.rst lists them already).
_listed = {ln.strip() for ln in (HERE / "index.rst").read_text(encoding="utf-8").splitlines()}
_stage_pages = [name for name in ("evaluation", "group")
                if (HERE / f"{name}.rst").is_file() and name not in _listed]
write_if_changed(GENERATED / "stage_pages.inc", "" if not _stage_pages else "\n".join(
    [".. toctree::", "   :maxdepth: 2", "   :caption: Stages", ""]
    + [f"   {name}" for name in _stage_pages]) + "\n")

# -- project -------------------------------------------------------------------------------
project = "neuroxai"
author = "neuroxai developers"
copyright = "neuroxai developers"
version = release = neuroxai.__version__

# -- extensions ----------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = []
exclude_patterns = ["_build", "_generated", "_ext", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "**.codeobj.json"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "py:obj"
nitpicky = False

# -- autodoc / autosummary -----------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False,
                           "show-inheritance": False}
autodoc_typehints = "none"  # numpydoc "Parameters" sections are the reference
autodoc_member_order = "bysource"
# Dataclasses list their fields as attributes in the docstring already.
autodoc_class_signature = "mixed"

# -- numpydoc ------------------------------------------------------------------------------
numpydoc_show_class_members = False  # autosummary pages carry the members
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
# Validation is off in the build: with -W any finding would fail it. Run it on demand with
# `python -m numpydoc lint neuroxai/<module>.py`.
numpydoc_validation_checks = set()

# -- math ----------------------------------------------------------------------------------
# MathJax is loaded from the browser's side only when a page with math is opened; the build
# itself stays offline. (Sphinx's default CDN URL; set NEUROXAI_MATHJAX_PATH for a local copy.)
if os.environ.get("NEUROXAI_MATHJAX_PATH"):
    mathjax_path = os.environ["NEUROXAI_MATHJAX_PATH"]

# -- sphinx-gallery ------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "capture_repr": ("_repr_html_", "__repr__"),
    "show_memory": False,
    "write_computation_times": False,  # no sg_execution_times pages (they load CDN scripts)
    "min_reported_time": 5,
    "reference_url": {},  # no remote lookups of code links
    "first_notebook_cell": None,
}

# -- HTML ----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"neuroxai {version}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "navbar_end": ["theme-switcher", "navbar-icon-links"],
    "icon_links": [],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    # no version switcher, no analytics, no announcement banner fetched from a URL
}
html_sidebars = {"index": [], "user_guide": []}
html_show_sourcelink = False
html_copy_source = False

suppress_warnings = []
