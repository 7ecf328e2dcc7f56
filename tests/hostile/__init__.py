"""A hostile trial program, shared by the local and the cluster test."""
