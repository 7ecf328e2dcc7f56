"""Suite-wide settings: property tests are derandomized under CI so a landing is repeatable.

Developers get fresh random examples on every run (that is how the stepped-float bug in
``space.py`` was found); CI replays a fixed sequence, and a failure there reproduces locally
with ``CI=true pytest``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")
