# Test cluster targets, included by the root Makefile (`-include tests/cluster/cluster.mk`).
# See tests/cluster/README.md. All of them run `python -m tests.cluster`.

PYTHON ?= .venv/bin/python
CLUSTER_DIR ?= .cluster
CLUSTER_CLI = $(PYTHON) -m tests.cluster --state-dir $(CLUSTER_DIR)

.PHONY: cluster-build cluster cluster-down cluster-env

## cluster-build: build etcd, kube-apiserver, -controller-manager, -scheduler, kubectl (cached)
cluster-build:
	@$(CLUSTER_CLI) build

## cluster: build if needed, start a cluster with one 4-GPU node in the background
cluster:
	@$(CLUSTER_CLI) up

## cluster-down: stop it (objects are kept; `rm -rf $(CLUSTER_DIR)` resets)
cluster-down:
	@$(CLUSTER_CLI) down

## cluster-env: shell exports for kubectl: eval $$(make cluster-env)
cluster-env:
	@$(CLUSTER_CLI) env
