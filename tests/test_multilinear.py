"""Tests of gradient descent on the multilinear model against its exact solution."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from emergence import multilinear, theory


def test_trajectory_shapes_and_dtypes():
    traj = multilinear.train(np.full((3, 4), 0.25), scale=2.0, lr=0.05, n_steps=100,
                             record_every=10)
    assert traj.steps.tolist() == list(range(0, 101, 10))
    assert traj.strengths.shape == (11, 3, 4) and traj.strengths.dtype == np.float64
    assert traj.losses.shape == (11, 3)
    assert traj.a.shape == traj.b.shape == traj.strengths.shape
    assert np.allclose(traj.a * traj.b, traj.strengths)


@pytest.mark.parametrize("lr", [0.02, 0.01])
def test_gradient_descent_follows_exact_solution(lr):
    probs, scale, r0 = theory.skill_probs(4, 0.6), 5.0, 0.01
    n_steps = int(round(20 / lr))
    traj = multilinear.train(probs, scale=scale, r0=r0, lr=lr, n_steps=n_steps, record_every=10)
    exact = theory.skill_strength(traj.steps[:, None] * lr, probs[None], scale, r0, eta=1.0)
    assert np.max(np.abs(traj.strengths - exact)) < 40 * lr   # discretisation error is O(lr)


def test_error_shrinks_linearly_with_learning_rate():
    probs, scale = theory.skill_probs(3, 0.6), 2.0
    errors = []
    for lr in (0.04, 0.02):
        traj = multilinear.train(probs, scale=scale, lr=lr, n_steps=int(round(20 / lr)),
                                 record_every=int(round(0.5 / lr)))
        exact = theory.skill_strength(traj.steps[:, None] * lr, probs[None], scale)
        errors.append(np.max(np.abs(traj.strengths - exact)))
    assert 1.6 < errors[0] / errors[1] < 2.4


def test_asymmetric_start_conserves_a2_minus_b2_and_matches_solve_ivp():
    prob, scale, lr = 0.5, 1.0, 0.002
    traj = multilinear.train([prob], scale=scale, r0=0.04, lr=lr, n_steps=5000, record_every=500,
                             init_asymmetry=0.5)
    conserved = traj.a**2 - traj.b**2
    assert np.max(np.abs(conserved - conserved[0])) < 0.01 * abs(conserved[0])

    def flow(_, y):
        a, b = y
        return [-prob * b * (a * b - scale), -prob * a * (a * b - scale)]

    start = [traj.a[0, 0], traj.b[0, 0]]
    sol = solve_ivp(flow, (0, 10), start, t_eval=traj.steps * lr, rtol=1e-10, atol=1e-12)
    assert np.max(np.abs(sol.y[0] * sol.y[1] - traj.strengths[:, 0])) < 5e-3


def test_unseen_skill_never_moves_and_population_loss():
    probs = np.array([0.7, 0.3])
    traj = multilinear.train([1.0, 0.0], scale=1.0, r0=0.01, lr=0.1, n_steps=500,
                             record_every=500, population_probs=probs)
    assert np.allclose(traj.strengths[:, 1], 0.01)
    assert np.isclose(traj.strengths[-1, 0], 1.0, atol=1e-6)
    assert np.isclose(traj.losses[-1], 0.5 * 0.3 * 0.99**2, atol=1e-6)


def test_sample_skill_counts():
    probs = theory.skill_probs(5, 0.6)
    counts = multilinear.sample_skill_counts(1000, probs, n_datasets=4, seed=2)
    assert counts.shape == (4, 5) and counts.dtype == np.int64
    assert np.all(counts.sum(axis=1) == 1000)
    assert np.array_equal(counts, multilinear.sample_skill_counts(1000, probs, 4, seed=2))
    with pytest.raises(ValueError, match="n_data"):
        multilinear.sample_skill_counts(0, probs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(weights=[1.5]), "weights"), (dict(weights=[0.5], lr=0.0), "lr"),
    (dict(weights=[0.5], r0=2.0), "r0"), (dict(weights=[0.5], n_steps=0), "n_steps"),
    (dict(weights=[0.5], scale=-1.0), "scale"),
    (dict(weights=[0.5], init_asymmetry=1.0), "init_asymmetry"),
])
def test_bad_inputs_raise(kwargs, match):
    weights = kwargs.pop("weights")
    with pytest.raises(ValueError, match=match):
        multilinear.train(weights, **kwargs)


def test_divergence_is_reported():
    with pytest.raises(FloatingPointError, match="lower lr"):
        multilinear.train([1.0], scale=10.0, lr=5.0, n_steps=200)
