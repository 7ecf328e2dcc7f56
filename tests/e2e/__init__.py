"""End-to-end: the Helm chart installed into the test control plane, studies run through it."""
