"""Test infrastructure: a real Kubernetes control plane and a process-based node agent.

Not product code. See README.md in this directory.
"""
