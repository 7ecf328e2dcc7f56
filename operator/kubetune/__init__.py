"""kubetune: Kubernetes-native hyperparameter tuning."""

__version__ = "0.1.0"
