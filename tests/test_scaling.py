"""Scaling laws (emergence.theory.scaling) against brute-force sums and independent integrals."""

import time

import numpy as np
import pytest
from scipy import integrate, special

from emergence import theory
from emergence.multilinear import sample_skill_counts, train
from emergence.theory import scaling

ALPHAS = (0.3, 0.6, 0.9)


def brute_probs(n, alpha):
    weights = [k ** -(alpha + 1.0) for k in range(1, n + 1)]
    total = sum(weights)
    return [w / total for w in weights]


def brute_time_loss(t, n, alpha, scale, r0, eta, n_basis):
    probs, loss = brute_probs(n, alpha), 0.0
    for k, p in enumerate(probs, start=1):
        if k <= n_basis:
            strength = scale / (1.0 + (scale / r0 - 1.0) * np.exp(-2.0 * eta * p * scale * t))
            loss += p * 0.5 * (scale - strength) ** 2
        else:
            loss += p * 0.5 * scale**2
    return loss


@pytest.mark.parametrize("alpha", ALPHAS)
def test_loss_vs_time_matches_loop(alpha):
    times = np.array([0.0, 0.5, 3.0, 40.0, 900.0])
    got = theory.loss_vs_time(times, 60, alpha, scale=2.0, r0=0.05, eta=0.7, n_basis=45)
    want = [brute_time_loss(t, 60, alpha, 2.0, 0.05, 0.7, 45) for t in times]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[0] == pytest.approx(0.5 * 1.95**2 * sum(brute_probs(60, alpha)[:45])
                                   + 0.5 * 4.0 * sum(brute_probs(60, alpha)[45:]))


def test_loss_vs_time_matches_gradient_descent():
    probs = theory.skill_probs(8, 0.6)
    traj = train(probs, scale=1.0, r0=0.01, lr=0.02, n_steps=4000, record_every=1000)
    # gradient descent with step eta is the flow at time eta * steps up to O(eta) corrections
    want = theory.loss_vs_time(0.02 * traj.steps, 8, 0.6, r0=0.01)
    np.testing.assert_allclose(traj.losses, want, rtol=0.03, atol=1e-5)


def test_time_and_params_table_matches_columns():
    times, sizes = np.array([1.0, 30.0, 2000.0]), np.array([1, 7, 50])
    table = theory.loss_vs_time_and_params(times, sizes, 50, 0.4)
    for j, n in enumerate(sizes):
        np.testing.assert_allclose(table[:, j], theory.loss_vs_time(times, 50, 0.4, n_basis=int(n)),
                                   rtol=1e-12)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_loss_vs_data_matches_loop(alpha):
    probs = brute_probs(40, alpha)
    for d in (0, 1, 7, 250):
        want = 0.5 * 0.9**2 * sum(p * (1 - p) ** d for p in probs[:30]) \
            + 0.5 * sum(probs[30:])
        got = theory.loss_vs_data(d, 40, alpha, scale=1.0, r0=0.1, n_basis=30)
        assert got == pytest.approx(want, rel=1e-12)


def test_loss_vs_data_is_the_monte_carlo_mean():
    """Average of the one-shot loss over sampled datasets equals the closed form."""
    alpha, n, d = 0.6, 30, 40
    probs = theory.skill_probs(n, alpha)
    counts = sample_skill_counts(d, probs, n_datasets=20000, seed=3)
    losses = 0.5 * ((counts == 0) * probs).sum(axis=1)
    stderr = losses.std() / np.sqrt(losses.size)
    assert abs(losses.mean() - theory.loss_vs_data(d, n, alpha)) < 4 * stderr


@pytest.mark.parametrize("alpha", ALPHAS)
def test_loss_vs_params_matches_loop(alpha):
    probs = brute_probs(50, alpha)
    sizes = np.array([0, 1, 10, 49, 50])
    want = [0.5 * 9.0 * sum(probs[n:]) for n in sizes]
    np.testing.assert_allclose(theory.loss_vs_params(sizes, 50, alpha, scale=3.0), want,
                               rtol=1e-12, atol=1e-15)


def test_loss_vs_compute_is_the_minimum_over_all_integers():
    n, alpha = 300, 0.6
    compute = np.array([50.0, 2000.0, 60000.0])
    loss, n_opt = theory.loss_vs_compute(compute, n, alpha)
    for c, l_opt, n_best in zip(compute, loss, n_opt, strict=True):
        sizes = np.arange(1, min(n, int(c)) + 1)
        brute = [theory.loss_vs_time(c / m, n, alpha, n_basis=int(m)) for m in sizes]
        assert l_opt == pytest.approx(min(brute), rel=2e-3)
        assert l_opt == pytest.approx(theory.loss_vs_time(c / n_best, n, alpha,
                                                          n_basis=int(n_best)), rel=1e-12)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_time_integral_two_ways(alpha):
    """Smooth substituted quad versus the singular form with an algebraic weight + trapezoid."""
    c, power = np.log(1 / 0.01 - 1), -1 / (alpha + 1)

    def phi(u):
        return 0.5 / (1 + np.exp(2 * u) / np.exp(c)) ** 2

    head = integrate.quad(phi, 0, c, weight="alg", wvar=(power, 0))[0]
    u = np.linspace(c, 40, 400001)
    rest = integrate.trapezoid(u**power * phi(u), u)
    assert scaling.time_integral(alpha) == pytest.approx(head + rest, rel=1e-6)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_time_prefactor_is_the_limit_of_the_sum(alpha):
    """A_T from the integral against the exact sum at large n_s and intermediate T."""
    t = np.array([300.0, 3000.0])
    exact = theory.loss_vs_time(t, 10**6, alpha)
    finite = theory.time_law_finite_size(t, 10**6, alpha)
    np.testing.assert_allclose(exact / finite, 1.0, rtol=2e-3)
    plain = theory.time_law_prefactor(alpha) * t ** -theory.time_law_exponent(alpha)
    ratio = exact / plain
    assert abs(ratio[-1] - 1) < 0.1


def test_time_prefactor_small_r_asymptote():
    ratios = [theory.time_law_prefactor(0.6, r0=r) / theory.time_law_prefactor_small_r(0.6, r0=r)
              for r in (1e-2, 1e-8, 1e-30)]
    assert abs(ratios[2] - 1) < abs(ratios[1] - 1) < abs(ratios[0] - 1)
    assert abs(ratios[2] - 1) < 0.03


def test_time_prefactor_at_ratio_limits():
    big = theory.time_prefactor_at_ratio(1e6, 0.6)
    assert big == pytest.approx(theory.time_prefactor_at_ratio(np.inf, 0.6), rel=1e-4)
    # tiny basis: all the loss comes from the skills outside it
    lam = 1e-3
    outside = 1.0 / (2 * 0.6 * special.zeta(1.6)) * lam**-0.6
    assert theory.time_prefactor_at_ratio(lam, 0.6) == pytest.approx(outside, rel=1e-3)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_data_prefactor_against_sum_and_gamma(alpha):
    d = np.array([1e3, 1e4])
    exact = theory.loss_vs_data(d, 10**6, alpha)
    np.testing.assert_allclose(exact / theory.data_law_finite_size(d, 10**6, alpha), 1,
                               rtol=3e-3)
    closed = theory.data_law_prefactor(alpha) * d[-1] ** -theory.data_law_exponent(alpha)
    # the incomplete gamma and the finite normaliser tend to the closed form as n_s -> infinity
    gaps = [abs(theory.data_law_finite_size(d[-1], n, alpha) / closed - 1)
            for n in (10**4, 10**5, 10**6)]
    assert gaps[2] < gaps[1] < gaps[0] and gaps[2] < 0.12
    assert theory.data_law_prefactor(alpha) == pytest.approx(
        0.5 * special.zeta(alpha + 1) ** (-1 / (alpha + 1)) / (alpha + 1)
        * integrate.quad(lambda u: u ** (-1 / (alpha + 1)) * np.exp(-u), 0, np.inf)[0],
        rel=1e-8)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_param_prefactor_with_finite_ratio(alpha):
    def gap(n, n_s):
        exact = theory.loss_vs_params(np.array(n), n_s, alpha)
        return abs(exact / (theory.param_law_prefactor(alpha, n_ratio=n / n_s) * n**-alpha) - 1)

    # what is left is Thm 1's error term plus the finite normaliser, O(n_s^-alpha): both shrink
    assert gap(3000, 10**6) < 0.02
    assert gap(3000, 10**7) < gap(3000, 10**6) or gap(3000, 10**6) < 1e-3


def test_compute_prefactor_is_a_minimum():
    lam = theory.compute_optimal_ratio(0.6)
    best = theory.compute_prefactor_at_ratio(lam, 0.6)
    for other in (0.5 * lam, 0.9 * lam, 1.1 * lam, 2 * lam):
        assert theory.compute_prefactor_at_ratio(other, 0.6) > best
    assert theory.compute_law_prefactor(0.6, eta=3.0) == pytest.approx(
        best * 3.0 ** (-0.6 / 2.6), rel=1e-9)
    # with r/S fixed, the loss scales as S^2 and time as 1/S
    assert theory.compute_law_prefactor(0.6, scale=2.0, r0=0.02) == pytest.approx(
        best * 4.0 * 2.0 ** (-0.6 / 2.6), rel=1e-6)
    n, t = theory.compute_optimal_allocation(np.array([1e6, 1e8]), 0.6)
    np.testing.assert_allclose(n * t, [1e6, 1e8])
    assert np.log(n[1] / n[0]) / np.log(100) == pytest.approx(1 / 2.6)


def test_compute_envelope_approaches_the_prefactor():
    alpha, c = 0.9, np.array([1e5, 1e8])
    loss, _ = theory.loss_vs_compute(c, 10**5, alpha)
    ratio = loss / (theory.compute_law_prefactor(alpha) * c ** -theory.compute_law_exponent(alpha))
    assert abs(ratio[1] - 1) < 0.03


def test_exponents():
    assert theory.time_law_exponent(0.5) == pytest.approx(1 / 3)
    assert theory.data_law_exponent(0.5) == pytest.approx(1 / 3)
    assert theory.param_law_exponent(0.5) == pytest.approx(0.5)
    assert theory.compute_law_exponent(0.5) == pytest.approx(0.2)
    assert sum(theory.compute_allocation_exponents(0.5)) == pytest.approx(1.0)


def test_finite_n_correction():
    probs = theory.skill_probs(50000, 0.1)
    assert theory.finite_n_correction(50000, 50000, 0.1) == pytest.approx(
        probs[0] * 50000**-0.1 / 0.2)
    t = np.array([1.0, 10.0])
    law = theory.finite_n_time_law(t, 500, 0.1)
    assert law[0] == pytest.approx(theory.loss_vs_time(1.0, 500, 0.1))


def test_speed_of_a_figure_grid():
    """Not a timed assert: prints how long a Fig. 2 grid over 10^5 skills takes."""
    start = time.perf_counter()
    theory.loss_vs_time(np.logspace(0, 4, 100), 10**5, 0.6)
    theory.loss_vs_data(np.logspace(0, 3, 100), 10**5, 0.6)
    theory.loss_vs_params(np.arange(1, 101), 10**5, 0.6)
    print(f"Fig. 2 grid over 1e5 skills: {time.perf_counter() - start:.3f} s")


@pytest.mark.parametrize("call, match", [
    (lambda: theory.loss_vs_time(-1.0, 10, 0.5), "T must be >= 0"),
    (lambda: theory.loss_vs_time(1.0, 0, 0.5), "n_skills"),
    (lambda: theory.loss_vs_time(1.0, 10, -0.5), "alpha"),
    (lambda: theory.loss_vs_time(1.0, 10, 0.5, r0=2.0), "r0"),
    (lambda: theory.loss_vs_time(1.0, 10, 0.5, n_basis=11), "n_basis"),
    (lambda: theory.loss_vs_time(np.nan, 10, 0.5), "T must be finite"),
    (lambda: theory.loss_vs_data(-3, 10, 0.5), "D must be >= 0"),
    (lambda: theory.loss_vs_data(3, 10, 0.5, r0=-0.1), "r0"),
    (lambda: theory.loss_vs_params(np.array([11]), 10, 0.5), "N must be"),
    (lambda: theory.loss_vs_params(np.array([1.5]), 10, 0.5), "N must be"),
    (lambda: theory.loss_vs_compute(0.5, 10, 0.5), "C must be"),
    (lambda: theory.time_law_prefactor(0.0), "alpha"),
    (lambda: theory.time_prefactor_at_ratio(-1.0, 0.5), "lam"),
    (lambda: theory.param_law_prefactor(0.5, n_ratio=1.0), "n_ratio"),
    (lambda: theory.data_law_prefactor(0.5, scale=-1.0), "scale"),
    (lambda: theory.compute_law_prefactor(0.5, eta=0.0), "eta"),
    (lambda: theory.finite_n_correction(20, 10, 0.5), "n_basis"),
])
def test_bad_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_hurwitz_tail_matches_explicit_sum():
    probs = theory.skill_probs(5000, 0.4)
    for n in (1, 17, 4999):
        assert scaling._tail_mass(n, 5000, 0.4) == pytest.approx(probs[n:].sum(), rel=1e-9)


def test_compute_finite_size_envelope():
    """Theorem 4's finite-size envelope tracks the exact one, and tends to A_C as n_s grows."""
    c = np.array([1e6, 1e8])
    exact, _ = theory.loss_vs_compute(c, 10**5, 0.6)
    finite, _ = theory.loss_vs_compute_finite_size(c, 10**5, 0.6)
    np.testing.assert_allclose(exact / finite, 1, rtol=3e-3)
    law = theory.compute_law_prefactor(0.6) * c ** -theory.compute_law_exponent(0.6)
    huge, _ = theory.loss_vs_compute_finite_size(c, 10**12, 0.6)
    np.testing.assert_allclose(huge / law, 1, rtol=5e-3)
