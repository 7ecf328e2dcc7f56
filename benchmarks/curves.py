"""Learning curves for the early-stopping benchmark: one value per resource unit, per config.

Two families, both cheap to replay once computed:

* ``digits``: scikit-learn's ``MLPClassifier`` trained epoch by epoch (``partial_fit``) on
  the bundled digits dataset, validation accuracy after each epoch. Training is the expensive
  part, so the parameters live on a grid (learning rate, L2 alpha, batch size, hidden units)
  and every grid point's curve is computed once and cached in ``digits_mlp_curves.npz`` next to
  this file; samplers propose continuous values that snap to the nearest grid point.
  ``--rebuild-curves`` recomputes it (about 10 CPU-minutes).
* ``synthetic``: power-law learning curves with a known optimum, some fast starters that
  plateau badly (so stopping too early is punished), and noise.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DIGITS_CACHE = HERE / "digits_mlp_curves.npz"

DIGITS_GRID: dict[str, tuple[float, ...]] = {
    "learning_rate": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1),
    "alpha": (1e-5, 1e-3, 1e-1, 10.0),
    "batch_size": (32.0, 64.0, 128.0),
    "hidden_units": (4.0, 16.0, 64.0, 128.0),
}
DIGITS_EPOCHS = 27
TOP_QUANTILE = 0.95


@dataclass(frozen=True)
class CurveProblem:
    """A family of learning curves: parameters (manifest format) → metric after each unit."""

    name: str
    parameters: tuple[dict[str, Any], ...]
    max_resource: int
    maximize: bool
    curve: Callable[[Mapping[str, Any]], np.ndarray]
    best_final: float  # best final value over the whole space (known optimum)
    top_final: float  # the final value only the best 5% of the space reach


def _train_curve(config: tuple[float, float, float, float]) -> list[float]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    lr, alpha, batch, hidden = config
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=0.3, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    model = MLPClassifier(
        hidden_layer_sizes=(int(hidden),),
        learning_rate_init=lr,
        alpha=alpha,
        batch_size=int(batch),
        random_state=0,
    )
    accuracies = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(DIGITS_EPOCHS):
            model.partial_fit(x_train, y_train, classes=np.arange(10))
            accuracies.append(float(model.score(x_val, y_val)))
    return accuracies


def build_digits_cache(workers: int | None = None) -> None:
    configs = list(itertools.product(*DIGITS_GRID.values()))
    with ProcessPoolExecutor(workers or os.cpu_count()) as pool:
        curves = list(pool.map(_train_curve, configs, chunksize=4))
    np.savez_compressed(DIGITS_CACHE, configs=np.array(configs), curves=np.array(curves))


def digits() -> CurveProblem:
    if not DIGITS_CACHE.exists():
        build_digits_cache()
    data = np.load(DIGITS_CACHE)
    table = {tuple(c): curve for c, curve in zip(data["configs"], data["curves"], strict=True)}
    names = list(DIGITS_GRID)

    def curve(params: Mapping[str, Any]) -> np.ndarray:
        key = tuple(_snap(float(params[n]), DIGITS_GRID[n]) for n in names)
        return table[key]

    parameters = tuple(
        {"name": n, "type": "float", "low": min(v), "high": max(v), "log": True}
        for n, v in DIGITS_GRID.items()
    )
    finals = [float(c[-1]) for c in table.values()]
    return CurveProblem(
        "digits MLP",
        parameters,
        DIGITS_EPOCHS,
        True,
        curve,
        max(finals),
        float(np.quantile(finals, TOP_QUANTILE)),
    )


def _snap(value: float, levels: tuple[float, ...]) -> float:
    return min(levels, key=lambda level: abs(math.log(level) - math.log(value)))


SYNTHETIC_UNITS = 81
_OPTIMUM = np.array([0.3, 0.6, 0.5, 0.5, 0.5])
_WEIGHTS = np.array([0.12, 0.12, 0.06, 0.03, 0.01])


def _synthetic_mean(x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Noise-free score after each unit: 1 - (plateau + scale · t^-rate)."""
    rate = 0.3 + 1.2 * x[2]  # fast learners …
    plateau = float(np.sum(_WEIGHTS * (x - _OPTIMUM) ** 2)) + 0.03 * x[2] ** 2  # … end higher
    scale = 0.1 + 0.2 * x[3]
    return 1.0 - (plateau + scale * steps**-rate)


def synthetic() -> CurveProblem:
    """Score curves (maximized, like an accuracy) over five parameters in [0, 1]: power laws
    whose rate trades against the plateau, so the early leaders are not the final ones."""
    from scipy.optimize import minimize

    steps = np.arange(1, SYNTHETIC_UNITS + 1, dtype=float)
    end = np.array([float(SYNTHETIC_UNITS)])

    def curve(params: Mapping[str, Any]) -> np.ndarray:
        x = np.array([float(params[f"x{i}"]) for i in range(5)])
        seed = abs(hash(tuple(np.round(x, 12).tolist()))) % (2**32)
        noise = np.random.default_rng(seed).normal(0.0, 0.003, steps.size)
        return _synthetic_mean(x, steps) + noise * steps**-0.5

    best = max(
        -minimize(lambda x: -_synthetic_mean(x, end)[0], start, bounds=[(0.0, 1.0)] * 5).fun
        for start in np.random.default_rng(0).random((8, 5))
    )
    parameters = tuple(
        {"name": f"x{i}", "type": "float", "low": 0.0, "high": 1.0} for i in range(5)
    )
    finals = [_synthetic_mean(x, end)[0] for x in np.random.default_rng(1).random((4000, 5))]
    return CurveProblem(
        "synthetic curves",
        parameters,
        SYNTHETIC_UNITS,
        True,
        curve,
        float(best),
        float(np.quantile(finals, TOP_QUANTILE)),
    )
