# Two entry points for a fresh machine (see README):  make run  /  make test
PY ?= python3
VENV ?= .venv
OUT ?= neuroxai_output
STAMP := $(VENV)/.neuroxai-installed

.PHONY: run test lint install docs docs-noplot bench clean

$(STAMP): pyproject.toml .ci/constraints.txt
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	# The constraints pin the versions CI was verified with (torch 2.14.1 + torchaudio 2.11.0
	# here); a user elsewhere can `pip install .` without them.
	$(VENV)/bin/python -m pip install --quiet -c .ci/constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/neuroxai --out $(OUT)

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q --timeout=900

# ruff's settings are in pyproject.toml ([tool.ruff]); the whole repository is checked.
lint: $(STAMP)
	$(VENV)/bin/ruff check .

DOCS_STAMP := $(VENV)/.neuroxai-docs-installed
$(DOCS_STAMP): $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -c .ci/constraints.txt -e '.[docs]'
	touch $(DOCS_STAMP)

# The whole site, every gallery example run at full size (about 10 minutes on 2 CPU cores).
# docs/generated is autosummary's output: rebuilt each time, so that a renamed function
# leaves no stale page behind.
docs: $(DOCS_STAMP)
	rm -rf docs/generated
	$(VENV)/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

# The site without running the examples (CI: the pages, the API and the cross-references
# build without a warning; tests/test_examples.py runs the examples in their quick mode).
docs-noplot: $(DOCS_STAMP)
	rm -rf docs/generated
	$(VENV)/bin/python -m sphinx -W --keep-going -D plot_gallery=0 -b html docs \
		docs/_build/html-noplot

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(OUT) docs/_build docs/auto_examples docs/generated
