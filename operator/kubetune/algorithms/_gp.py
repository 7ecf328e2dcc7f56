"""Gaussian-process regression with a Matérn-5/2 ARD kernel, in numpy and scipy only.

bayesopt's surrogate model. Inputs are "features": unit-cube coordinates for numeric
parameters and category indices for categorical ones (whose distance is 0 for equal and 1 for
different categories, so no one-hot blow-up of the dimension); inactive coordinates are filled
by the caller. Kernel hyperparameters are fitted by maximizing the marginal likelihood times a
prior (MAP) with analytic gradients and L-BFGS-B from a fixed, deterministic starting point:

* lengthscales: ``-log p = 0.1 (l^2 + 1/l^2)`` per coordinate (the prior of Optuna's GP on
  inverse squared lengthscales), centred on the width of the cube. We measured the
  dimension-scaled log-normal of Hvarfner et al. (2024) too: its long lengthscales make a
  model fitted on the first ten trials near-linear, so a batch of ten picks corners of the
  cube (Hartmann6, batch of 10, best after 50 trials: -1.9 against -3.2 with this prior);
* signal variance: log-normal around 1 (outputs are standardized);
* noise variance: Gamma(1.1, 30) as in Optuna, floored at 1e-6 so deterministic objectives are
  interpolated but the Cholesky factorization stays well conditioned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_SQRT5 = math.sqrt(5.0)
_MIN_NOISE = 1e-6
_JITTER = 1e-8
_EIGENVALUE_FLOOR = 1e-6
"""Last resort when even growing jitter fails to factor the kernel matrix: eigenvalues are
raised to this floor (relative to unit signal variance), which always yields a factor."""
_SIGNAL_LOG_SD = 1.5
_LENGTHSCALE_PRIOR_RATE = 0.1
_NOISE_CONCENTRATION, _NOISE_RATE = 1.1, 30.0


@dataclass(frozen=True)
class KernelParams:
    lengthscales: np.ndarray  # (d,)
    signal: float  # kernel variance
    noise: float  # observation noise variance


def _pairwise_sq(a: np.ndarray, b: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """Per-coordinate squared distances (na, nb, d): categories contribute 0 or 1."""
    diff = a[:, None, :] - b[None, :, :]
    return np.asarray(np.where(categorical, (diff != 0).astype(float), diff * diff))


def _scaled_sq_dist(
    a: np.ndarray, b: np.ndarray, inv_sq: np.ndarray, categorical: np.ndarray
) -> np.ndarray:
    """Squared ARD distances (na, nb) without materializing the (na, nb, d) tensor."""
    numeric = ~categorical
    scale = np.sqrt(inv_sq[numeric])
    an, bn = a[:, numeric] * scale, b[:, numeric] * scale
    r2 = (an * an).sum(1)[:, None] + (bn * bn).sum(1)[None, :] - 2.0 * an @ bn.T
    for dim in np.flatnonzero(categorical):
        r2 += inv_sq[dim] * (a[:, dim][:, None] != b[:, dim][None, :])
    return np.asarray(np.maximum(r2, 0.0))


def _matern(r2: np.ndarray) -> np.ndarray:
    r = np.sqrt(r2)
    return np.asarray((1.0 + _SQRT5 * r + (5.0 / 3.0) * r2) * np.exp(-_SQRT5 * r))


def _cholesky(k: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor, adding growing jitter if the matrix is numerically indefinite."""
    jitter = _JITTER
    eye = np.eye(len(k))
    for _ in range(8):
        try:
            return np.linalg.cholesky(k + jitter * eye)
        except np.linalg.LinAlgError:
            jitter *= 10.0
    # Last resort: an eigenvalue floor always yields a usable factor.
    values, vectors = np.linalg.eigh(k)
    fixed = (vectors * np.maximum(values, _EIGENVALUE_FLOOR)) @ vectors.T
    return np.linalg.cholesky(fixed + _EIGENVALUE_FLOOR * eye)


def _inverse_from_cholesky(chol: np.ndarray) -> np.ndarray:
    import scipy.linalg
    import scipy.linalg.lapack

    inverse, info = scipy.linalg.lapack.dpotri(chol, lower=1)
    if info != 0:
        return np.asarray(scipy.linalg.cho_solve((chol, True), np.eye(len(chol))))
    lower = np.tril(inverse)
    return np.asarray(lower + np.tril(inverse, -1).T)


class GaussianProcess:
    """A GP posterior for fixed kernel parameters; ``x`` are features, ``y`` standardized."""

    def __init__(
        self, x: np.ndarray, y: np.ndarray, params: KernelParams, categorical: np.ndarray
    ) -> None:
        import scipy.linalg

        self.x, self.y, self.params, self.categorical = x, y, params, categorical
        self.inv_sq = 1.0 / params.lengthscales**2
        k = params.signal * _matern(_scaled_sq_dist(x, x, self.inv_sq, categorical))
        k[np.diag_indices_from(k)] += params.noise
        self.chol = _cholesky(k)
        self.alpha = scipy.linalg.cho_solve((self.chol, True), y, check_finite=False)

    def condition_on(self, x: np.ndarray, y: np.ndarray) -> GaussianProcess:
        """The same model with extra (e.g. fantasized) observations; parameters unchanged."""
        return GaussianProcess(
            np.vstack([self.x, x]), np.concatenate([self.y, y]), self.params, self.categorical
        )

    def predict(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance (of the latent function) at query points (m, d)."""
        import scipy.linalg

        k = self.params.signal * _matern(_scaled_sq_dist(xq, self.x, self.inv_sq, self.categorical))
        mean = k @ self.alpha
        v = scipy.linalg.solve_triangular(self.chol, k.T, lower=True, check_finite=False)
        var = np.maximum(self.params.signal - (v * v).sum(0), 1e-12)
        return mean, var

    def predict_difference(
        self, xq: np.ndarray, ref: np.ndarray, gradient: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Posterior of f(xq) - f(ref) for one reference point ``ref`` (d,): mean, variance
        and, with ``gradient``, their gradients (m, d) in the numeric coordinates.

        This is what an improvement over the incumbent is when the incumbent's value is itself
        uncertain: its variance is 0 at the incumbent and small near it, where ``predict``'s
        variance never drops below the noise floor.
        """
        import scipy.linalg

        if gradient:
            mean, var, dmean, dvar = self.predict_with_gradient(xq)
        else:
            (mean, var), dmean, dvar = self.predict(xq), None, None
        signal = self.params.signal
        k_ref = (
            signal
            * _matern(_scaled_sq_dist(ref[None, :], self.x, self.inv_sq, self.categorical))[0]
        )
        w = scipy.linalg.cho_solve((self.chol, True), k_ref, check_finite=False)  # K^-1 k(X, ref)
        var_ref = max(signal - float(k_ref @ w), 0.0)
        r2 = _scaled_sq_dist(xq, self.x, self.inv_sq, self.categorical)  # (m, n)
        r2_ref = _scaled_sq_dist(xq, ref[None, :], self.inv_sq, self.categorical)[:, 0]  # (m,)
        cov = signal * _matern(r2_ref) - (signal * _matern(r2)) @ w
        var_diff = np.maximum(var + var_ref - 2.0 * cov, 1e-12)
        if dmean is None or dvar is None:
            return mean - float(k_ref @ self.alpha), var_diff, None, None
        # d cov / d x_q = dk(x_q, ref) - sum_i dk(x_q, x_i) w_i (dk as in predict_with_gradient).
        numeric = ~self.categorical
        r, r_ref = np.sqrt(r2), np.sqrt(r2_ref)
        g = -(5.0 / 3.0) * signal * (1.0 + _SQRT5 * r) * np.exp(-_SQRT5 * r) * w  # (m, n)
        g_ref = -(5.0 / 3.0) * signal * (1.0 + _SQRT5 * r_ref) * np.exp(-_SQRT5 * r_ref)  # (m,)
        dcov = np.zeros_like(xq)
        dcov[:, numeric] = (
            g_ref[:, None] * (xq[:, numeric] - ref[numeric])
            - (g.sum(1)[:, None] * xq[:, numeric] - g @ self.x[:, numeric])
        ) * self.inv_sq[numeric]
        return mean - float(k_ref @ self.alpha), var_diff, dmean, dvar - 2.0 * dcov

    def predict_with_gradient(
        self, xq: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients (m, d) in the numeric coordinates."""
        import scipy.linalg

        r2 = _scaled_sq_dist(xq, self.x, self.inv_sq, self.categorical)
        r = np.sqrt(r2)
        decay = np.exp(-_SQRT5 * r)
        k = self.params.signal * (1.0 + _SQRT5 * r + (5.0 / 3.0) * r2) * decay
        # d k / d x_q = -(5/3) s (1 + sqrt5 r) e^{-sqrt5 r} (x_q - x_i) / l^2: no 1/r singularity.
        g = -(5.0 / 3.0) * self.params.signal * (1.0 + _SQRT5 * r) * decay  # (m, n)
        diff = xq[:, None, :] - self.x[None, :, :]  # (m, n, d)
        diff[:, :, self.categorical] = 0.0
        dk = g[:, :, None] * diff * self.inv_sq  # (m, n, d)
        mean = k @ self.alpha
        dmean = np.einsum("mnd,n->md", dk, self.alpha)
        kinv_k = scipy.linalg.cho_solve((self.chol, True), k.T, check_finite=False)  # (n, m)
        var = np.maximum(self.params.signal - (k * kinv_k.T).sum(1), 1e-12)
        dvar = -2.0 * np.einsum("mnd,nm->md", dk, kinv_k)
        return mean, var, dmean, dvar


def fit_kernel(x: np.ndarray, y: np.ndarray, categorical: np.ndarray) -> KernelParams:
    """MAP kernel parameters for features ``x`` (n, d) and standardized outputs ``y`` (n,)."""
    import scipy.optimize

    n, dims = x.shape
    sq = _pairwise_sq(x, x, categorical)
    sq_flat = sq.reshape(n * n, dims)
    eye = np.eye(n)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        import scipy.linalg

        log_ls, log_signal, log_noise = theta[:dims], theta[dims], theta[dims + 1]
        inv_sq = np.exp(-2.0 * log_ls)
        signal, noise = math.exp(log_signal), math.exp(log_noise)
        r2 = sq @ inv_sq
        r = np.sqrt(r2)
        decay = np.exp(-_SQRT5 * r)
        base = (1.0 + _SQRT5 * r + (5.0 / 3.0) * r2) * decay
        k = signal * base + (noise + _JITTER) * eye
        try:
            chol = np.linalg.cholesky(k)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = scipy.linalg.cho_solve((chol, True), y, check_finite=False)
        kinv = _inverse_from_cholesky(chol)
        nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(chol)).sum())
        w = kinv - np.outer(alpha, alpha)
        grad = np.empty_like(theta)
        # dK/dlog l_d = s (5/3) (1 + sqrt5 r) e^{-sqrt5 r} (x_d - x'_d)^2 / l_d^2
        g = signal * (5.0 / 3.0) * (1.0 + _SQRT5 * r) * decay
        grad[:dims] = 0.5 * ((w * g).reshape(-1) @ sq_flat) * inv_sq
        grad[dims] = 0.5 * float((w * base).sum()) * signal
        grad[dims + 1] = 0.5 * float(np.trace(w)) * noise
        # Negative log prior.
        rate = _LENGTHSCALE_PRIOR_RATE
        nll += float((rate / inv_sq + rate * inv_sq).sum())
        grad[:dims] += 2.0 * (rate / inv_sq - rate * inv_sq)
        nll += 0.5 * float(log_signal / _SIGNAL_LOG_SD) ** 2
        grad[dims] += log_signal / _SIGNAL_LOG_SD**2
        nll -= (_NOISE_CONCENTRATION - 1.0) * log_noise - _NOISE_RATE * noise
        grad[dims + 1] -= (_NOISE_CONCENTRATION - 1.0) - _NOISE_RATE * noise
        return nll, grad

    bounds = (
        [(math.log(1e-3), math.log(1e3))] * dims
        + [(math.log(1e-2), math.log(1e2))]
        + [(math.log(_MIN_NOISE), math.log(1.0))]
    )
    # One deterministic start at the prior's mode. A second start from short lengthscales
    # reached the same optimum on every benchmark problem we tried (20 and 100 trials), at
    # twice the cost.
    start = np.concatenate([np.zeros(dims), [0.0, math.log(1e-3)]])
    theta = scipy.optimize.minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 100, "ftol": 1e-7, "gtol": 1e-4},
    ).x
    return KernelParams(
        np.exp(theta[:dims]), math.exp(theta[dims]), max(math.exp(theta[dims + 1]), _MIN_NOISE)
    )
