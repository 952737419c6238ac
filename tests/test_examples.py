"""Every gallery example runs, in its quick mode, so that the docs cannot drift from the API.

Each ``examples/plot_*.py`` is run in its own process with ``NEUROXAI_EXAMPLES_QUICK=1``.
An example that is not quick at its real size reads that variable and uses fewer trials,
steps and epochs, in a block that sphinx-gallery hides from the rendered page::

    n_trials = 64
    # sphinx_gallery_start_ignore
    if os.environ.get("NEUROXAI_EXAMPLES_QUICK"):  # the test suite: smaller sizes
        n_trials = 16
    # sphinx_gallery_end_ignore

``make docs`` runs them at their real sizes. The process has the
network blocked as in the rest of the suite, and a FutureWarning about a deprecated name
is an error: the examples show the current API only. Each must stay under
``QUICK_CPU_LIMIT_S`` of CPU time.
"""
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNE_DATA = ROOT.parent / "shared" / "data" / "mne_data"  # as in conftest.py
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(EXAMPLES.glob("plot_*.py"))
#: CPU seconds an example may take in quick mode (measured 10-35 s each on a loaded machine).
QUICK_CPU_LIMIT_S = 120
#: Examples that read the EEGMMIDB recording (skipped, with the reason, without it).
REAL_DATA = {"plot_real_eegmmidb", "plot_own_recordings"}

# Run in the child: the suite's network guard, deprecations as errors, then the example.
_RUNNER = r"""
import json, resource, runpy, socket, sys, warnings
sys.path.insert(0, sys.argv[2])
import conftest
socket.getaddrinfo = conftest._guard_getaddrinfo
socket.socket.connect = conftest._guard_connect
# neuroxai's own deprecations (names and parameters kept for one release) are errors here
warnings.filterwarnings("error", category=FutureWarning, message=r".*deprecated.*(next release"
                        r"|and ignored)|.*neuroxai\.\S+ is deprecated")
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
torch.set_num_threads(1)  # as on a shared 2-core CI machine: no thread contention
runpy.run_path(sys.argv[1], run_name="__main__")
ru = resource.getrusage(resource.RUSAGE_SELF)
print("\nNEUROXAI_EXAMPLE " + json.dumps({"figures": len(plt.get_fignums()),
                                         "cpu_s": ru.ru_utime + ru.ru_stime}))
"""


def _mne_data():
    env = os.environ.get("MNE_DATA")
    if env and Path(env).is_dir():
        return Path(env)
    return SHARED_MNE_DATA if SHARED_MNE_DATA.is_dir() else None


def test_gallery_has_header_and_examples():
    assert (EXAMPLES / "README.rst").is_file() or (EXAMPLES / "README.txt").is_file()
    names = {p.stem for p in SCRIPTS}
    assert {"plot_tutorial_pipeline_simulated", "plot_real_eegmmidb", "plot_igc",
            "plot_cebra_jacobian", "plot_sanity_and_benchmark", "plot_own_recordings"} <= names


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_has_title(path):
    """sphinx-gallery needs a reST title (and balanced hidden blocks)."""
    source = path.read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(source, filename=str(path)))
    assert doc, f"{path.name} needs a module docstring (sphinx-gallery's title and text)"
    lines = [ln.strip() for ln in doc.splitlines() if ln.strip()]
    titles = [i for i in range(1, len(lines) - 1)
              if set(lines[i + 1]) == {"="} and len(lines[i + 1]) >= len(lines[i])
              and not set(lines[i]) <= {"="}]
    assert titles, f"{path.name}: the docstring has no '====' underlined title"
    assert source.count("sphinx_gallery_start_ignore") == source.count(
        "sphinx_gallery_end_ignore")


@pytest.mark.slow
@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_runs(path, tmp_path):
    env = dict(os.environ, NEUROXAI_EXAMPLES_QUICK="1", MPLBACKEND="Agg", HF_HUB_OFFLINE="1",
               MNE_TQDM="off", TMPDIR=str(tmp_path), PYTHONPATH=os.pathsep.join(
                   [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    data = _mne_data()
    if data is not None:
        env["MNE_DATA"] = str(data)
    elif path.stem in REAL_DATA:
        pytest.skip(f"{path.name} needs the EEGMMIDB recording: set MNE_DATA or provide "
                    f"{SHARED_MNE_DATA}")
    # the examples write their outputs (if any) into the working directory
    proc = subprocess.run([sys.executable, "-c", _RUNNER, str(path), str(ROOT / "tests")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{path.name} failed:\n{out[-6000:]}"
    marker = [ln for ln in proc.stdout.splitlines() if ln.startswith("NEUROXAI_EXAMPLE ")]
    assert marker, out[-3000:]
    result = json.loads(marker[-1].split(" ", 1)[1])
    assert result["figures"] >= 1, f"{path.name} drew no figure"
    # CPU time (one thread) is about the wall time on an idle CI core; quick means quick
    assert result["cpu_s"] < QUICK_CPU_LIMIT_S, (
        f"{path.name} took {result['cpu_s']:.0f} s of CPU in quick mode: shrink its quick sizes")
    assert "skipping this example" not in proc.stdout.lower(), proc.stdout[-2000:]
