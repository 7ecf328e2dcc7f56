"""Training problems with state for the population benchmark (``population.py``).

A problem trains a model step by step under hyperparameters that may change between steps,
so Population-Based Training can hand a model from one member to another. Shared with the
Ray Tune side of the benchmark (``population_ray.py``, run in its own virtualenv), so it uses
only the standard library, numpy and — for the MLP — scikit-learn.

* ``moving``: a toy whose best learning rate moves during training (10^-1 at the start,
  10^-3 at the end, on a log scale): every step closes a share of the gap to a perfect model,
  largest when the learning rate is near the optimum *of that step* and the weight decay near
  its fixed optimum (10^-3). No fixed learning rate is near the optimum for long, so a
  schedule beats every constant value. The loss is the gap, with 5% observation noise.
* ``mlp``: scikit-learn's ``MLPClassifier`` (SGD with momentum) on the bundled digits, one
  epoch per step, learning rate and L2 penalty changed between steps; the loss is the
  validation log loss.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

Params = Mapping[str, float]


@dataclass(frozen=True)
class Problem:
    """A model trained one step at a time; its state can be copied (a checkpoint)."""

    name: str
    parameters: tuple[dict[str, Any], ...]
    """The search space, in manifest form."""
    steps: int
    """Steps of a full training run (the resource's max)."""
    interval: int
    """PBT's perturbation interval (also the resource's min)."""
    start: Callable[[int], Any]
    """A fresh model for a seed."""
    train: Callable[[Any, Params], Any]
    """The model after one more step with these hyperparameters (the input is not changed)."""
    loss: Callable[[Any, np.random.Generator], float]
    """The loss of a model as a trial would report it (observation noise included)."""


# -- the toy --------------------------------------------------------------------------------

MOVING_STEPS = 40
MOVING_RATE = 0.15
"""Share of the gap a step closes at best."""
MOVING_WIDTH = 0.4
"""How far (in decades of learning rate) from the optimum a step still works well."""
MOVING_NOISE = 0.05


def moving_optimum(step: int) -> float:
    """log10 of the best learning rate at ``step``: -1 at the start, -3 at the end."""
    return -1.0 - 2.0 * step / MOVING_STEPS


def _moving_train(state: tuple[float, int], params: Params) -> tuple[float, int]:
    gap, step = state
    match = math.exp(-(((math.log10(params["lr"]) - moving_optimum(step)) / MOVING_WIDTH) ** 2))
    decay = math.exp(-((math.log10(params["wd"]) + 3.0) ** 2))
    return gap * (1.0 - MOVING_RATE * match * (0.5 + 0.5 * decay)), step + 1


def _moving_loss(state: tuple[float, int], rng: np.random.Generator) -> float:
    return state[0] * math.exp(MOVING_NOISE * rng.standard_normal())


MOVING = Problem(
    name="moving",
    parameters=(
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
        {"name": "wd", "type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    ),
    steps=MOVING_STEPS,
    interval=4,
    start=lambda seed: (1.0, 0),
    train=_moving_train,
    loss=_moving_loss,
)


# -- the MLP --------------------------------------------------------------------------------

MLP_EPOCHS = 20


@dataclass
class _Digits:
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    classes: np.ndarray


_DATA: list[_Digits] = []


def _digits() -> _Digits:
    if not _DATA:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)
        tx, vx, ty, vy = train_test_split(x / 16.0, y, test_size=0.3, random_state=0, stratify=y)
        _DATA.append(_Digits(tx, ty, vx, vy, np.unique(y)))
    return _DATA[0]


def _mlp_start(seed: int) -> Any:
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=(32,), solver="sgd", momentum=0.9, batch_size=32, random_state=seed
    )


def _mlp_train(model: Any, params: Params) -> Any:
    from sklearn.exceptions import ConvergenceWarning

    model = copy.deepcopy(model)
    model.set_params(learning_rate_init=params["lr"], alpha=params["alpha"])
    if hasattr(model, "_optimizer"):
        model._optimizer.learning_rate = params["lr"]
    data = _digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.partial_fit(data.train_x, data.train_y, classes=data.classes)
    return model


def _mlp_loss(model: Any, rng: np.random.Generator) -> float:
    from sklearn.metrics import log_loss

    data = _digits()
    return float(log_loss(data.val_y, model.predict_proba(data.val_x), labels=data.classes))


MLP = Problem(
    name="mlp",
    parameters=(
        {"name": "lr", "type": "float", "low": 1e-4, "high": 0.5, "log": True},
        {"name": "alpha", "type": "float", "low": 1e-6, "high": 1e-1, "log": True},
    ),
    steps=MLP_EPOCHS,
    interval=4,
    start=_mlp_start,
    train=_mlp_train,
    loss=_mlp_loss,
)

PROBLEMS = {p.name: p for p in (MOVING, MLP)}
