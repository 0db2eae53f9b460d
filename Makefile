# aesel: the two commands that matter are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the real PyAesel clients, for compatibility tests, each in its own folder (their package is
# also `aesel`): 0.8, the latest, and 0.3, the version the Blender clients pin
PYAESEL := .cache/pyaesel/.installed .cache/pyaesel-0.3/.installed

.PHONY: run test lint typecheck unit integration bench bench-setup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

.cache/pyaesel/.installed:
	$(PYTHON) -m pip install -q --target .cache/pyaesel python-aesel-client==0.8 requests cryptography
	touch $@

.cache/pyaesel-0.3/.installed:
	$(PYTHON) -m pip install -q --target .cache/pyaesel-0.3 python-aesel-client==0.3 requests cryptography
	touch $@

run: $(STAMP)
	$(BIN)/aesel serve

lint: $(STAMP)
	$(BIN)/ruff check aesel tests bench
	$(BIN)/ruff format --check aesel tests bench

typecheck: $(STAMP)
	$(BIN)/mypy aesel

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP) $(PYAESEL)
	$(BIN)/pytest -q tests/integration

test: $(STAMP) $(PYAESEL) lint typecheck
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache aesel-data

# benchmarks: peers and the Go load generator are installed under .cache/ (never committed)
bench-setup: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	bench/setup.sh

bench: bench-setup
	$(BIN)/python bench/run.py
