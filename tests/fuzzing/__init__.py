"""Hypothesis strategies shared by the fuzzers (unit level and against the real API server)."""
