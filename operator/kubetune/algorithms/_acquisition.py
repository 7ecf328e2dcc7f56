"""Acquisition functions for bayesopt, with gradients, all to be *maximized*.

``logei`` is the logarithm of expected improvement computed without underflow far from the
incumbent (Ament et al., 2023, "Unexpected improvements to expected acquisition functions"):
plain EI is exactly 0 in float64 almost everywhere once the model is confident, which leaves
a gradient optimizer nothing to follow. ``ei`` is kept for comparison, ``ucb`` is the lower
confidence bound ``-(mean - beta * sd)`` (we minimize).
"""

from __future__ import annotations

import enum
import math

import numpy as np

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
_SQRT2 = math.sqrt(2.0)


class Acquisition(enum.StrEnum):
    EI = "ei"
    LOGEI = "logei"
    UCB = "ucb"


def log_h(z: np.ndarray) -> np.ndarray:
    """log(phi(z) + z * Phi(z)), accurate for very negative z."""
    from scipy import special

    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    near = z > -1.0
    zn = z[near]
    out[near] = np.log(np.exp(-0.5 * zn * zn - _LOG_SQRT_2PI) + zn * special.ndtr(zn))
    zf = z[~near]
    # h(z) = phi(z) * (1 - |z| sqrt(pi/2) erfcx(|z| / sqrt2)); the bracket ~ 1/z^2 for large |z|.
    bracket = 1.0 - np.abs(zf) * _SQRT_HALF_PI * special.erfcx(np.abs(zf) / _SQRT2)
    asymptotic = np.log(np.maximum(1.0 / (zf * zf), 1e-300))
    log_bracket = np.where(zf > -1e3, np.log(np.maximum(bracket, 1e-300)), asymptotic)
    out[~near] = -0.5 * zf * zf - _LOG_SQRT_2PI + log_bracket
    return out


def evaluate(
    kind: Acquisition,
    mean: np.ndarray,
    var: np.ndarray,
    best: float,
    beta: float,
    dmean: np.ndarray | None = None,
    dvar: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Acquisition values (m,) and, when mean/var gradients are given, their gradients (m, d)."""
    from scipy import special

    sd = np.sqrt(var)
    if kind is Acquisition.UCB:
        value = -(mean - beta * sd)
        if dmean is None or dvar is None:
            return value, None
        return value, -(dmean - beta * dvar / (2.0 * sd)[:, None])
    z = (best - mean) / sd
    lh = log_h(z)
    log_ei = np.log(sd) + lh
    if dmean is None or dvar is None:
        return (log_ei if kind is Acquisition.LOGEI else np.exp(log_ei)), None
    dsd = dvar / (2.0 * sd)[:, None]
    dz = -(dmean + z[:, None] * dsd) / sd[:, None]
    # d log h / dz = Phi(z) / h(z), taken in log space.
    ratio = np.exp(special.log_ndtr(z) - lh)
    dlog = dsd / sd[:, None] + ratio[:, None] * dz
    if kind is Acquisition.LOGEI:
        return log_ei, dlog
    ei = np.exp(log_ei)
    return ei, ei[:, None] * dlog


def log_feasibility(mean: np.ndarray, var: np.ndarray, limit: float) -> np.ndarray:
    """log P(g <= limit) for g ~ N(mean, var) (m,): the log probability a constraint holds."""
    from scipy import special

    return np.asarray(special.log_ndtr((limit - mean) / np.sqrt(var)))


def log_feasibility_with_gradient(
    mean: np.ndarray, var: np.ndarray, limit: float, dmean: np.ndarray, dvar: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``log_feasibility`` and its gradient (m, d), given those of the mean and variance."""
    from scipy import special

    sd = np.sqrt(var)
    z = (limit - mean) / sd
    log_p = special.log_ndtr(z)
    dz = -(dmean + z[:, None] * dvar / (2.0 * sd)[:, None]) / sd[:, None]
    # d log Phi(z) / dz = phi(z) / Phi(z), taken in log space (no 0 / 0 far in the tail).
    ratio = np.exp(-0.5 * z * z - _LOG_SQRT_2PI - log_p)
    return log_p, ratio[:, None] * dz
