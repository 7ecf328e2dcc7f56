"""bayesopt: the suggester contract, model pieces (gradients, log-EI), robustness, quality."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_based_checks import (
    LOSS,
    check_beats_random,
    check_contract,
    float_space,
    mixed_objective,
    mixed_space,
    random_history,
    rastrigin_like,
    shifted_sphere,
    spaces,
)
from scipy import stats

from kubetune.algorithms import SettingsError, create, parse_settings
from kubetune.algorithms._acquisition import Acquisition, evaluate, log_h
from kubetune.algorithms._bayesopt import _warp
from kubetune.algorithms._gp import GaussianProcess, _matern, _scaled_sq_dist, fit_kernel
from kubetune.history import History, TrialRecord, TrialState
from kubetune.space import SearchSpace


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    space=spaces(),
    seed=st.integers(0, 2**16),
    completed=st.integers(0, 25),
    running=st.integers(0, 3),
    n=st.integers(1, 3),
)
def test_suggestions_are_valid_fresh_and_deterministic(
    space: SearchSpace, seed: int, completed: int, running: int, n: int
) -> None:
    check_contract("bayesopt", space, seed, completed, running, n)


@pytest.mark.quality
def test_beats_random_search_on_a_bowl() -> None:
    check_beats_random("bayesopt", float_space(3), shifted_sphere, trials=20)


@pytest.mark.quality
def test_the_joint_incumbent_beats_random_search_on_a_multimodal_surface() -> None:
    check_beats_random(
        "bayesopt", float_space(2), rastrigin_like, trials=25, settings={"eiIncumbent": "joint"}
    )


@pytest.mark.parametrize(("completed", "running", "n"), [(15, 0, 1), (12, 3, 4), (30, 5, 8)])
def test_the_joint_incumbent_keeps_the_contract(completed: int, running: int, n: int) -> None:
    for space in (float_space(3), mixed_space()):
        check_contract("bayesopt", space, 3, completed, running, n, {"eiIncumbent": "joint"})


def test_the_difference_to_the_incumbent_is_the_joint_posterior() -> None:
    """Mean and variance of f(q) - f(ref) against the full posterior covariance, and their
    gradients against finite differences; at the incumbent itself the difference is certain."""
    rng = np.random.default_rng(3)
    x = rng.random((20, 3))
    x[:, 2] = rng.integers(0, 3, 20)
    categorical = np.array([False, False, True])
    y = np.cos(4 * x[:, 0]) * x[:, 1] + 0.2 * x[:, 2]
    y = (y - y.mean()) / y.std()
    gp = GaussianProcess(x, y, fit_kernel(x, y, categorical), categorical)
    ref = x[int(np.argmin(y))]
    query = np.column_stack([rng.random((4, 2)), rng.integers(0, 3, 4)])

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return gp.params.signal * _matern(_scaled_sq_dist(a, b, gp.inv_sq, categorical))

    k_train = kernel(x, x) + (gp.params.noise + 1e-8) * np.eye(len(x))
    for q in query:
        points = np.vstack([q, ref])
        cross = kernel(points, x)
        mean = cross @ np.linalg.solve(k_train, y)
        cov = kernel(points, points) - cross @ np.linalg.solve(k_train, cross.T)
        got_mean, got_var, _, _ = gp.predict_difference(q[None, :], ref)
        np.testing.assert_allclose(got_mean[0], mean[0] - mean[1], atol=1e-6)
        np.testing.assert_allclose(
            got_var[0], cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], rtol=1e-4, atol=1e-8
        )
    _, _, dmean, dvar = gp.predict_difference(query, ref, gradient=True)
    assert dmean is not None and dvar is not None
    for dim in range(2):
        step = np.zeros(3)
        step[dim] = 1e-6
        up_mean, up_var, _, _ = gp.predict_difference(query + step, ref)
        down_mean, down_var, _, _ = gp.predict_difference(query - step, ref)
        np.testing.assert_allclose(dmean[:, dim], (up_mean - down_mean) / 2e-6, rtol=1e-3)
        np.testing.assert_allclose(dvar[:, dim], (up_var - down_var) / 2e-6, rtol=2e-3, atol=1e-7)
    at_ref_mean, at_ref_var, _, _ = gp.predict_difference(ref[None, :], ref)
    assert abs(at_ref_mean[0]) < 1e-12 and at_ref_var[0] <= 1e-10


@pytest.mark.quality
def test_beats_random_search_on_a_mixed_space() -> None:
    check_beats_random("bayesopt", mixed_space(), mixed_objective, trials=20)


def test_a_batch_spreads_out_and_never_repeats() -> None:
    space = float_space(2)
    history = random_history(space, seed=1, completed=15, running=4)
    suggestions = create("bayesopt", space, {}, 0).suggest(history, 10)
    points = np.array([space.encode(s.params) for s in suggestions])
    assert len({space.canonical(s.params) for s in suggestions}) == 10
    gaps = np.linalg.norm(points[:, None] - points[None], axis=-1)[np.triu_indices(10, 1)]
    assert gaps.min() > 1e-3


def test_outliers_and_failures_do_not_break_the_model() -> None:
    space = float_space(2)
    records = []
    rng = np.random.default_rng(0)
    for i, params in enumerate(space.sample(rng, 20)):
        loss = shifted_sphere(params)
        loss = 1e12 if loss > 0.4 else loss  # diverged: bad regions, orders of magnitude worse
        state = TrialState.FAILED if i % 5 == 0 else TrialState.COMPLETE
        values = {"loss": loss} if state is TrialState.COMPLETE else {}
        records.append(TrialRecord(i, params, state, values))
    batch = create("bayesopt", space, {}, 0).suggest(History(tuple(records), LOSS), 3)
    # The model stays useful: one of three picks beats most of the sane trials.
    sane = [r.values["loss"] for r in records if r.values and r.values["loss"] < 1e12]
    assert min(shifted_sphere(s.params) for s in batch) < np.percentile(sane, 25)


def test_warping_keeps_the_good_trials_apart_whatever_the_outliers() -> None:
    good = np.linspace(0.0, 1.0, 12)
    for outliers in (1, 4, 8):
        warped = _warp(np.concatenate([good, np.full(outliers, 1e12)]))
        assert (np.diff(warped[:12]) > 0).all()  # order kept
        # The good trials keep a good share of the range: outliers sit just above them.
        assert warped[11] - warped[0] > 0.3 * (warped.max() - warped[0])


def test_a_large_history_is_reduced_not_refused() -> None:
    space = float_space(3)
    history = random_history(space, seed=3, completed=1500, running=0)
    assert len(create("bayesopt", space, {"maxModelTrials": 50}, 0).suggest(history, 2)) == 2


def test_initial_trials_follow_a_sobol_design() -> None:
    space = float_space(2)
    suggester = create("bayesopt", space, {"nInitialTrials": 4}, 0)
    empty = History((), LOSS)
    sobol = create("sobol", space, {}, 0).suggest(empty, 4)
    assert [s.params for s in suggester.suggest(empty, 4)] == [s.params for s in sobol]


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"nInitialTrials": 0}, "nInitialTrials"),
        ({"acquisition": "pi"}, "acquisition"),
        ({"batchStrategy": "greedy"}, "batchStrategy"),
        ({"eiIncumbent": "posterior"}, "eiIncumbent"),
        ({"maxModelTrials": 5}, "maxModelTrials"),
        ({"noSuchSetting": 1}, "noSuchSetting"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(SettingsError, match=field):
        parse_settings("bayesopt", settings)


@pytest.mark.parametrize("acquisition", ["ei", "ucb"])
def test_other_acquisitions_work(acquisition: str) -> None:
    space = float_space(2)
    history = random_history(space, seed=2, completed=12, running=0)
    suggester = create("bayesopt", space, {"acquisition": acquisition}, 0)
    assert len(suggester.suggest(history, 2)) == 2


def test_log_h_matches_the_closed_form_and_never_underflows() -> None:
    z = np.array([-3.0, -0.5, 0.0, 1.5])
    exact = np.log(stats.norm.pdf(z) + z * stats.norm.cdf(z))
    np.testing.assert_allclose(log_h(z), exact, rtol=1e-10)
    far = log_h(np.array([-40.0, -1e4, -1e9]))
    assert np.isfinite(far).all() and (np.diff(far) < 0).all()


def test_posterior_and_acquisition_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((25, 3))
    x[:, 2] = rng.integers(0, 3, 25)  # a categorical coordinate
    categorical = np.array([False, False, True])
    y = np.sin(5 * x[:, 0]) + x[:, 1] + 0.3 * x[:, 2]
    y = (y - y.mean()) / y.std()
    gp = GaussianProcess(x, y, fit_kernel(x, y, categorical), categorical)
    query = np.column_stack([rng.random((4, 2)), np.ones(4)])
    mean, var, dmean, dvar = gp.predict_with_gradient(query)
    for kind in Acquisition:
        _, grad = evaluate(kind, mean, var, float(y.min()), 2.0, dmean, dvar)
        assert grad is not None
        for dim in range(2):
            step = np.zeros(3)
            step[dim] = 1e-6
            up = evaluate(kind, *gp.predict(query + step), float(y.min()), 2.0)[0]
            down = evaluate(kind, *gp.predict(query - step), float(y.min()), 2.0)[0]
            np.testing.assert_allclose(grad[:, dim], (up - down) / 2e-6, rtol=2e-3, atol=1e-6)


def test_duplicate_inputs_do_not_break_the_cholesky() -> None:
    x = np.repeat(np.random.default_rng(0).random((5, 2)), 4, axis=0)
    y = np.arange(20.0) % 3
    y = (y - y.mean()) / y.std()
    categorical = np.zeros(2, dtype=bool)
    gp = GaussianProcess(x, y, fit_kernel(x, y, categorical), categorical)
    mean, var = gp.predict(np.random.default_rng(1).random((3, 2)))
    assert np.isfinite(mean).all() and (var > 0).all()
    assert not math.isnan(float(mean.sum()))
