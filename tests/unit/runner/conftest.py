"""The fake API server and trial environment of ``test_cluster_transport``, shared."""

from tests.unit.runner.test_cluster_transport import (  # noqa: F401  (fixtures)
    api,
    certificate,
    trial_env,
)
