"""Calibration fits recover known constants from synthetic noisy seeds, within their stated
uncertainty, and reject malformed data."""

from types import SimpleNamespace

import numpy as np
import pytest

from emergence import fits
from emergence import theory as th

N_SEEDS, NOISE = 10, 0.03


def noisy(curve, seed):
    rng = np.random.default_rng(seed)
    return np.clip(curve[:, None] + NOISE * rng.standard_normal((curve.size, N_SEEDS)), -0.1, 1.1)


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_time_recovers_b2_and_r0(seed):
    steps = np.arange(0, 2500, 50.0)
    curve = th.calibrated_strength(steps, 1.0, scale=5.0, lr=0.02, b2=1 / 22, r0=5e-4)
    fit = fits.fit_time(steps, noisy(curve, seed), scale=5.0, lr=0.02, n_boot=50)
    assert fit.name == "B2"
    assert fit.z_score(1 / 22) < 3.0, fit
    assert fit.uncertainty < 0.05 * (1 / 22)           # and the uncertainty is informative
    assert abs(np.log(fit.r0 / 1e-4)) < 1.0            # R(0)/S within a factor e
    assert fit.residual_rms < 2 * NOISE / np.sqrt(N_SEEDS)


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_data_recovers_dc(seed):
    counts = np.arange(100, 2001, 100.0)
    fit = fits.fit_data(counts, noisy(th.dc_shot_strength(counts, 800.0), seed), n_boot=50)
    assert fit.name == "D_c"
    assert fit.z_score(800.0) < 3.0 and fit.uncertainty < 40.0, fit


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_width_recovers_nc(seed):
    widths = np.arange(1, 13.0)
    curve = th.nc_basis_strength_continuous(widths, 1, 4)[:, 0]
    fit = fits.fit_width(widths, noisy(curve, seed), n_boot=50)
    assert fit.name == "N_c"
    assert fit.z_score(4.0) < 3.0 and fit.uncertainty < 0.4, fit


def test_calibrate_dispatches_on_the_arrays():
    widths = np.arange(1, 13)
    strength = noisy(th.nc_basis_strength_continuous(widths, 1, 3)[:, 0], 3)[..., None]
    result = SimpleNamespace(arrays={"widths": widths, "strength": strength}, config={})
    assert fits.calibrate(result, n_boot=20).value == pytest.approx(3.0, rel=0.1)
    counts = np.arange(100, 2001, 100)
    strength = noisy(th.dc_shot_strength(counts, 600.0), 4)
    result = SimpleNamespace(
        arrays={"n_data": counts, "strength": strength[..., None],
                "skill_counts": np.broadcast_to(counts[:, None, None], strength.shape + (1,))},
        config={})
    assert fits.calibrate(result, n_boot=20).value == pytest.approx(600.0, rel=0.1)


def test_emergence_steps_first_crossing_and_nan():
    steps = np.array([0, 10, 20, 30])
    strength = np.array([[0.0, 0.0], [0.01, 0.2], [0.06, 0.5], [0.9, 0.6]])
    np.testing.assert_allclose(fits.emergence_steps(steps, strength), [20, 10])
    assert np.isnan(fits.emergence_steps(steps, np.zeros((4, 1)))[0])


def test_power_law_fit_recovers_slope():
    x = np.arange(1, 6.0)
    rng = np.random.default_rng(0)
    y = 300 * x[:, None] ** 1.6 * np.exp(0.05 * rng.standard_normal((5, 8)))
    fit = fits.fit_power_law(x, y)
    assert abs(fit.slope - 1.6) < 3 * fit.slope_stderr + 1e-9
    assert fit(2.0) == pytest.approx(300 * 2**1.6, rel=0.1)


@pytest.mark.parametrize("call, name", [
    (lambda: fits.fit_time(np.arange(3.0), np.zeros((3, 1)), scale=5, lr=0.1), "strength"),
    (lambda: fits.fit_time(np.arange(4.0), np.zeros((3, 2)), scale=5, lr=0.1), "steps"),
    (lambda: fits.fit_data(np.arange(3.0), np.full((3, 2), np.nan)), "strength"),
    (lambda: fits.fit_width(np.arange(3.0), np.zeros((3, 2))), "widths"),
    (lambda: fits.fit_data(np.arange(3.0), np.zeros((3, 2)), law="cubic"), "law"),
    (lambda: fits.emergence_steps(np.arange(3), np.zeros((3, 2)), threshold=1.5), "threshold"),
    (lambda: fits.fit_power_law([1, 2], [1, 2]), "fit_power_law"),
])
def test_bad_inputs_name_the_problem(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_strength_standard_error_matches_the_spread_of_repeated_measurements():
    rng = np.random.default_rng(0)
    scale, n, repeats = 5.0, 400, 4000
    g = rng.choice([-1.0, 1.0], size=(repeats, n))
    f = scale * (0.3 * g + 0.8 * rng.standard_normal((repeats, n)))   # R/S = 0.3, noisy outputs
    strength = (f * g).mean(1) / scale
    loss = 0.5 * ((scale * g - f) ** 2).mean(1) / scale**2
    predicted = fits.strength_standard_error(strength, loss, n)
    assert abs(predicted.mean() / strength.std() - 1) < 0.05
    assert abs(predicted.mean() - 0.8 / np.sqrt(n)) < 0.002
    with pytest.raises(ValueError, match="n_eval"):
        fits.strength_standard_error(strength, loss, 0)
    with pytest.raises(ValueError, match="loss"):
        fits.strength_standard_error(strength, loss[:3], n)


def test_half_strength_size_interpolates_in_log_size():
    sizes = np.array([1.0, 10.0, 100.0])
    strength = np.array([[0.0, 0.6, 0.0], [0.4, 0.8, 0.1], [0.6, 0.9, 0.2]])  # three curves
    found = fits.half_strength_size(sizes, strength)
    assert found[0] == pytest.approx(10**1.5)  # halfway from 0.4 to 0.6 between 10 and 100
    assert np.isnan(found[1]) and np.isnan(found[2])  # above at the start; never reached
    with pytest.raises(ValueError, match="sizes must be a 1-d increasing"):
        fits.half_strength_size([10.0, 1.0], strength[:2])
    with pytest.raises(ValueError, match="level"):
        fits.half_strength_size(sizes, strength, level=1.0)
