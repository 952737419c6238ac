# Two entry points for a fresh machine (see README):  make run  /  make test
PY ?= python3
VENV ?= .venv
OUT ?= neuroxai_output
STAMP := $(VENV)/.neuroxai-installed

.PHONY: run test install docs bench clean

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

docs: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -c .ci/constraints.txt -e '.[docs]'
	$(VENV)/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(OUT) docs/_build docs/auto_examples
