# kubetune: `make run` tunes examples/branin.yaml locally; `make test` runs every check.
# Both bootstrap a virtualenv in .venv on first use, so a fresh clone needs nothing else.

PYTHON_BASE ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
STUDY ?= examples/branin.yaml

.PHONY: run test unit chaos lint crds bench venv clean

$(INSTALLED): pyproject.toml trial-runner/pyproject.toml
	$(PYTHON_BASE) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e '.[dev]' -e ./trial-runner
	touch $@

venv: $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/kubetune run $(STUDY)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p kubetune
	$(BIN)/lint-imports

unit: $(INSTALLED)
	$(BIN)/pytest -m "not integration and not slow and not quality" -q

# Everything, the chaos suite included (~6 min of the run on 2 cores, docs/reliability.md).
test: $(INSTALLED) cluster-build prometheus-build browser lint
	$(BIN)/pytest -q

# The chaos suite alone (docs/reliability.md): the operator, the API server, etcd, the node
# agent and the leader killed, restarted or paused mid-study, invariants against ground truth.
chaos: $(INSTALLED) cluster-build
	$(BIN)/pytest -q -m chaos tests/chaos

crds: $(INSTALLED)
	$(BIN)/kubetune crds --out crds

bench: $(INSTALLED)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/quality.py
	$(BIN)/python benchmarks/latency.py

clean:
	rm -rf $(VENV) .kubetune .pytest_cache .mypy_cache .ruff_cache

-include tests/cluster/cluster.mk
-include tests/prometheus/prometheus.mk
-include tests/browser/browser.mk
