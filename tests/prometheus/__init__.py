"""A real Prometheus for the test suites: built from source, started next to the operator."""
