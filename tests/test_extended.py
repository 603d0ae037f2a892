"""The extended models of Section 5: limits, monotonicity, the binomial average against Monte
Carlo, Eq. 21 against a direct count of basis functions, and bad inputs."""

import numpy as np
import pytest

from emergence import theory as th


def test_effective_eta_doubles_the_learning_rate():
    assert th.effective_eta(0.02) == pytest.approx(0.04)


def test_calibrated_strength_is_eq14_with_twice_the_learning_rate():
    t = np.linspace(0, 5000, 11)
    got = th.calibrated_strength(t, 0.3, scale=5.0, lr=0.02, b2=1 / 22, r0=0.01)
    expected = 1 / (1 + (5.0 / 0.01 - 1) * np.exp(-2 * (2 * 0.02) * (1 / 22) * 0.3 * 5.0 * t))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got[0] == pytest.approx(0.01 / 5.0)


def test_calibrated_strength_slower_for_smaller_b2_and_rarer_skills():
    t = np.array([2000.0])
    fast = th.calibrated_strength(t, 0.5, scale=5.0, lr=0.02, b2=0.1, r0=0.01)
    slow_b2 = th.calibrated_strength(t, 0.5, scale=5.0, lr=0.02, b2=0.01, r0=0.01)
    slow_p = th.calibrated_strength(t, 0.05, scale=5.0, lr=0.02, b2=0.1, r0=0.01)
    assert fast > slow_b2 and fast > slow_p


def test_authors_initial_strength():
    assert th.authors_initial_strength(0.01) == pytest.approx(1e-4 / 3.6)


def test_dc_shot_limits_and_monotonicity():
    d = np.arange(0, 2001)
    r = th.dc_shot_strength(d, 800)
    assert r[0] == 0.0 and np.all(r[800:] == 1.0)
    assert np.all(np.diff(r) >= 0)
    # small counts: 1 - sqrt(1 - x) ≈ x / 2
    assert th.dc_shot_strength(1, 1e6) == pytest.approx(0.5e-6, rel=1e-5)
    # the initial strength is kept when nothing is seen and only the rest is learned
    assert th.dc_shot_strength(0, 800, r0=0.1) == pytest.approx(0.1)
    assert th.dc_shot_strength(800, 800, r0=0.1) == pytest.approx(1.0)


def test_dc_shot_expected_count_uses_d_times_p():
    probs = th.skill_probs(5, 0.6)
    got = th.dc_shot_expected_count(np.array([1000, 5000])[:, None], probs[None], 800)
    np.testing.assert_allclose(got, th.dc_shot_strength(np.outer([1000, 5000], probs), 800))


def test_binomial_mean_matches_monte_carlo():
    rng = np.random.default_rng(0)
    n_data, probs, d_c = np.array([2000, 5000]), np.array([0.3, 0.16, 0.05]), 800.0
    exact = th.dc_shot_binomial_mean(n_data[:, None], probs[None], d_c)
    counts = rng.binomial(n_data[:, None, None], probs[None, :, None], size=(2, 3, 200_000))
    mc = th.dc_shot_strength(counts, d_c).mean(axis=-1)
    np.testing.assert_allclose(exact, mc, atol=2e-3)


def test_binomial_mean_by_brute_force_sum():
    from math import comb
    n, p, d_c = 60, 0.2, 13.5
    brute = sum(comb(n, d) * p**d * (1 - p) ** (n - d) * th.dc_shot_strength(d, d_c)
                for d in range(n + 1))
    assert th.dc_shot_binomial_mean(n, p, d_c) == pytest.approx(brute, rel=1e-10)


def test_binomial_mean_below_plug_in_where_curve_is_flat_above():
    # Around D P = D_c the capped curve makes the average lower than the plug-in value.
    assert th.dc_shot_binomial_mean(4000, 0.2, 800) < th.dc_shot_expected_count(4000, 0.2, 800)


@pytest.mark.parametrize("n_c", [1, 3, 4])
def test_eq21_equals_direct_count_of_basis_functions(n_c):
    n_skills = 6
    for width in range(0, 30):
        counts = th.nc_basis_counts(width, n_skills, n_c)
        np.testing.assert_allclose(th.nc_basis_strength(width, n_skills, n_c), counts / n_c)
    widths = np.arange(0, 30)
    np.testing.assert_allclose(th.nc_basis_strength(widths, n_skills, n_c),
                               th.nc_basis_strength_continuous(widths, n_skills, n_c))


def test_nc_basis_example_and_monotonicity():
    np.testing.assert_allclose(th.nc_basis_strength(10, 5, 4), [1, 1, 0.5, 0, 0])
    s = th.nc_basis_strength_continuous(np.linspace(0, 25, 200), 5, 4.3)
    assert np.all(np.diff(s, axis=0) >= 0)          # more width never hurts
    assert np.all(np.diff(s, axis=1) <= 0)          # rarer skills never ahead


@pytest.mark.parametrize("call, name", [
    (lambda: th.effective_eta(0.0), "lr"),
    (lambda: th.calibrated_strength(1.0, 0.5, scale=5, lr=0.02, b2=0.1, r0=6.0), "r0"),
    (lambda: th.calibrated_strength(-1.0, 0.5, scale=5, lr=0.02, b2=0.1, r0=0.1), "t"),
    (lambda: th.dc_shot_strength(-1, 800), "counts"),
    (lambda: th.dc_shot_strength(10, 0), "d_c"),
    (lambda: th.dc_shot_strength(10, 800, r0=1.5), "r0"),
    (lambda: th.dc_shot_binomial_mean(10.5, 0.2, 800), "n_data"),
    (lambda: th.dc_shot_binomial_mean(10, 1.2, 800), "probs"),
    (lambda: th.nc_basis_strength(10, 5, 0), "n_c"),
    (lambda: th.nc_basis_strength(10.5, 5, 4), "width"),
    (lambda: th.nc_basis_strength(10, 0, 4), "n_skills"),
    (lambda: th.nc_basis_strength_continuous(-1.0, 5, 4.0), "width"),
    (lambda: th.nc_basis_counts(10, 5, 2.5), "n_c"),
    (lambda: th.authors_initial_strength(-0.1), "init_std"),
])
def test_bad_inputs_name_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_projection_strength_is_linear_and_shares_eq17_loss():
    d = np.array([0, 200, 400, 800, 1000])
    np.testing.assert_allclose(th.dc_projection_strength(d, 800), [0, 0.25, 0.5, 1, 1])
    # Eq. 17 is the strength of a function proportional to g_k with the projection's loss:
    # ½ (S - R17)² = ½ S (S - R_proj)  (in units S = 1).
    r17, rproj = th.dc_shot_strength(d, 800), th.dc_projection_strength(d, 800)
    np.testing.assert_allclose((1 - r17) ** 2, 1 - rproj, atol=1e-12)


def test_min_norm_interpolant_has_projection_strength():
    rng = np.random.default_rng(0)
    d_c, scale = 40, 1.0
    target = np.full(d_c, scale / np.sqrt(d_c))       # coefficients of S g_k on e_{k,l}
    for d in (5, 20, 35):
        strengths = []
        for _ in range(300):
            phi = rng.standard_normal((d, d_c))          # features of d samples (isotropic)
            coef = np.linalg.pinv(phi) @ (phi @ target)   # minimum-norm interpolant
            strengths.append(coef @ target / scale)       # R = <coef, target> / S
        assert np.mean(strengths) / scale == pytest.approx(d / d_c, abs=0.02)
