"""An example for ``--problem-file``: a 3-parameter mixed problem with a known optimum.

.venv/bin/python -m benchmarks.quality --problem-file benchmarks/example_problem.py
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

SPACE = [
    {"name": "lr", "type": "float", "low": 1e-5, "high": 1.0, "log": True},
    {"name": "layers", "type": "int", "low": 1, "high": 12},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]},
]
OPTIMUM = 0.0


def evaluate(params: Mapping[str, Any]) -> float:
    penalty = 0.0 if params["optimizer"] == "adam" else 0.5
    return (math.log10(params["lr"]) + 3) ** 2 + 0.1 * (params["layers"] - 6) ** 2 + penalty
