"""Tests of the exact dynamics: closed forms against numerical integration and each other."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from emergence import theory


def test_skill_probs_normalised_power_law():
    probs = theory.skill_probs(8, 0.6)
    assert probs.shape == (8,) and probs.dtype == np.float64
    assert np.isclose(probs.sum(), 1.0)
    assert np.allclose(probs[1:] / probs[0], np.arange(2, 9) ** -1.6)


@pytest.mark.parametrize("args, match", [((0, 0.5), "n_skills"), ((3, 0.0), "alpha"),
                                         ((2.5, 0.5), "n_skills")])
def test_skill_probs_bad_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        theory.skill_probs(*args)


def test_skill_strength_matches_solve_ivp_of_the_full_flow():
    """Integrate da/dt, db/dt (Eqs. 31-32) numerically; compare a*b with the sigmoid."""
    prob, scale, r0, eta = 0.3, 2.0, 0.01, 0.7

    def flow(_, y):
        a, b = y
        return [-eta * prob * b * (a * b - scale), -eta * prob * a * (a * b - scale)]

    times = np.linspace(0.0, 40.0, 81)
    sol = solve_ivp(flow, (0, 40), [np.sqrt(r0)] * 2, t_eval=times, rtol=1e-10, atol=1e-12)
    exact = theory.skill_strength(times, prob, scale, r0, eta)
    assert np.max(np.abs(sol.y[0] * sol.y[1] - exact)) < 1e-7


def test_skill_strength_shapes_limits_and_b2():
    t = np.linspace(0, 100, 11)
    probs = theory.skill_probs(4, 0.6)
    grid = theory.skill_strength(t[:, None], probs[None, :], scale=5.0)
    assert grid.shape == (11, 4)
    assert np.allclose(grid[0], 0.01) and np.all(np.diff(grid, axis=0) >= 0)
    assert np.isclose(theory.skill_strength(1e9, 0.1, 5.0), 5.0)
    assert isinstance(theory.skill_strength(1.0, 0.1), float)
    # B² only rescales time.
    assert np.isclose(theory.skill_strength(10.0, 0.2, b2=0.5), theory.skill_strength(5.0, 0.2))


def test_skill_loss_is_half_squared_gap():
    r = theory.skill_strength(3.0, 0.4, 2.0, 0.1)
    assert np.isclose(theory.skill_loss(3.0, 0.4, 2.0, 0.1), 0.5 * (2.0 - r) ** 2)


def test_growth_rate():
    assert np.isclose(theory.growth_rate(0.25, scale=2.0, eta=0.5, b2=0.5), 0.25)


def test_emergence_and_saturation_times_agree_with_skill_strength():
    probs, scale, r0, eta, eps = theory.skill_probs(5, 0.6), 5.0, 0.01, 0.5, 0.05
    t_e = theory.emergence_time(probs, scale, r0, eta, eps)
    t_s = theory.saturation_time(probs, scale, eta, eps)
    assert np.allclose(theory.skill_strength(t_e, probs, scale, r0, eta), eps * scale)
    assert np.allclose(theory.skill_strength(t_e + t_s, probs, scale, r0, eta), (1 - eps) * scale)
    k = np.arange(1, 6)
    assert np.allclose(t_e / t_e[0], k**1.6) and np.allclose(t_s / t_s[0], k**1.6)


def test_stage_like_condition_depends_on_initial_strength():
    probs = theory.skill_probs(5, 0.6)
    assert theory.is_stage_like(probs, 5.0, r0=1e-4)[0]
    assert not theory.is_stage_like(probs, 5.0, r0=0.1)[0]
    assert theory.is_stage_like(probs, 5.0, 1e-4).shape == (4,)
    with pytest.raises(ValueError, match="probs"):
        theory.is_stage_like([0.5])


def test_linear_skill_strength_matches_its_ode():
    prob, scale, eta = 0.2, 3.0, 1.5
    times = np.linspace(0.0, 20.0, 41)
    sol = solve_ivp(lambda _, w: eta * prob * (scale - w), (0, 20), [0.0], t_eval=times,
                    rtol=1e-10, atol=1e-12)
    assert np.max(np.abs(sol.y[0] - theory.linear_skill_strength(times, prob, scale, eta))) < 1e-7


@pytest.mark.parametrize("call, match", [
    (lambda: theory.skill_strength(-1.0, 0.5), "t must be"),
    (lambda: theory.skill_strength(1.0, 0.0), "prob"),
    (lambda: theory.skill_strength(1.0, 1.5), "prob"),
    (lambda: theory.skill_strength(1.0, 0.5, scale=-1.0), "scale"),
    (lambda: theory.skill_strength(1.0, 0.5, r0=2.0), "r0"),
    (lambda: theory.skill_strength(1.0, 0.5, eta=0.0), "eta"),
    (lambda: theory.skill_strength(1.0, 0.5, b2=0.0), "b2"),
    (lambda: theory.emergence_time(0.5, eps=1.5), "eps"),
    (lambda: theory.emergence_time(0.5, r0=0.2, eps=0.05), "r0 must be <"),
    (lambda: theory.saturation_time(0.5, eps=0.6), "eps"),
    (lambda: theory.linear_skill_strength(-1.0, 0.5), "t must be"),
])
def test_bad_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()
