"""An example for ``multi_objective.py --problem-file``: two objectives, one constraint.

Schaffer's problem N.1 over a log-scaled parameter and a categorical one, with a cap on the
first objective:

    .venv/bin/python -m benchmarks.multi_objective --problem-file \
        benchmarks/example_multi_objective.py --seeds 2 --trials 50
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

SPACE = [
    {"name": "scale", "type": "float", "low": 1e-2, "high": 1e2, "log": True},
    {"name": "shift", "type": "categorical", "choices": [0.0, 0.5, 1.0]},
]
OBJECTIVES = ["f1", {"metric": "score", "direction": "maximize"}]
CONSTRAINTS = [{"metric": "f1", "max": 3.0}]
REFERENCE_POINT = [5.0, -5.0]  # f1 at most 5, score at least -5


def evaluate(params: Mapping[str, Any]) -> tuple[float, ...]:
    x = math.log10(params["scale"]) + params["shift"]
    f1 = x * x
    score = -((x - 2) ** 2)
    return f1, score, f1  # the objectives, then the constraint's metric
