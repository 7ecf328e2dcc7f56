# Test Prometheus target, included by the root Makefile (`-include tests/prometheus/prometheus.mk`).
# See tests/prometheus/README.md. It runs `python -m tests.prometheus`.

PYTHON ?= .venv/bin/python

.PHONY: prometheus-build

## prometheus-build: build Prometheus for the dashboard tests (cached per version pin)
prometheus-build:
	@$(PYTHON) -m tests.prometheus build
