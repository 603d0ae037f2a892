"""Tests of the parity theory (emergence.parity.fourier, .escape) and the PolyNet model."""

import json
import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

from emergence import experiments
from emergence.parity import ParityMLP, ParityTask, PolyNet, disjoint_blocks, escape, fourier


@pytest.mark.parametrize("n", [5, 7, 9])
def test_majority_closed_form_matches_enumeration(n):
    cube = fourier.all_inputs(n)
    majority = np.sign(cube.sum(axis=1))
    for j in range(n + 1):
        brute = fourier.fourier_coefficient(majority, cube, range(j))
        assert brute == pytest.approx(fourier.majority_coefficient(n, j), abs=1e-12)


def test_recursion_and_gap_against_brute_force():
    n = 11
    for j in range(1, n - 2, 2):
        ratio = fourier.relu_derivative_coefficient(n, j + 2) / \
            fourier.relu_derivative_coefficient(n, j)
        assert abs(ratio) == pytest.approx(j / (n - j - 1))
        assert ratio < 0  # signs alternate
    grad = fourier.neuron_gradient(np.ones(9), 0.0, [0, 1])
    assert abs(grad[0]) - abs(grad[5]) == pytest.approx(fourier.fourier_gap(9, 2))
    assert fourier.fourier_gap(9, 2) == pytest.approx(0.1171875)  # 15/128, by hand


def test_odd_parity_needs_a_bias_that_crosses_an_odd_sum():
    for bias in (0.0, 1.0):
        assert np.abs(fourier.neuron_gradient(np.ones(11), bias, [0, 1, 2])).max() < 1e-12
    grad = fourier.neuron_gradient(np.ones(11), 2.0, [0, 1, 2])
    assert set(np.argsort(-np.abs(grad))[:3]) == {0, 1, 2}


def test_mlp_population_gradient_matches_a_hand_written_sum():
    task = ParityTask(6, 2, n_members=2, seed=3)
    model = ParityMLP(2, 6, 5, generator=torch.Generator().manual_seed(0))
    grad = fourier.mlp_population_gradient(model, task.subsets, "correlation")
    x = torch.as_tensor(fourier.all_inputs(6), dtype=torch.float32)
    for m in range(2):
        y = x[:, task.subsets[m]].prod(dim=1)
        active = (x @ model.w1[m] + model.b1[m] > 0).float()  # (64, H)
        expected = -(x.T @ (y[:, None] * active)) / len(x) * model.w2[m, :, 0]
        assert torch.allclose(grad[m], expected, atol=1e-6)
    assert model.w1.grad is None


def test_gradient_gap_sign():
    relevant = torch.tensor([[True, True, False, False]])
    big = torch.tensor([[[3.0], [2.0], [1.0], [0.5]]])
    assert fourier.gradient_gap(big, relevant).item() == pytest.approx((2.0 - 1.0) / 3.0)
    assert fourier.gradient_gap(big.flip(1), relevant).item() < 0


def test_product_flow_against_an_ode_solver():
    for q in (2, 3, 5):
        t = np.linspace(0, 0.8 * (escape.blowup_time(0.3, q) if q > 2 else 3.0), 20)
        sol = integrate.solve_ivp(lambda _, v, q=q: v ** (q - 1), (0, t[-1]), [0.3], t_eval=t,
                                  rtol=1e-11, atol=1e-13)
        assert np.allclose(sol.y[0], escape.product_flow_value(t, 0.3, q), rtol=1e-7)
        assert escape.product_flow_time(0.3, sol.y[0, -1], q) == pytest.approx(t[-1], rel=1e-7)
    assert np.isinf(escape.product_flow_value(2 * escape.blowup_time(0.3, 3), 0.3, 3))


def test_skill_time_q2_is_the_logistic_and_q3_is_a_power():
    # q = 2: time to S/2 is ln(S/r0 - 1) / (2 eta P S)
    expected = math.log(2.0 / 1e-4 - 1) / (2 * 0.5 * 0.25 * 2.0)
    assert escape.skill_time(1.0, 2, 1e-4, eta=0.5, prob=0.25, scale=2.0) == \
        pytest.approx(expected, rel=1e-7)
    t = escape.skill_time(0.5, 3, 1e-6)
    assert escape.skill_factor_path(np.array([0.0, t]), 3, 1e-6)[-1] == pytest.approx(0.5, 1e-5)
    ratio = [escape.skill_time_small_init(3, r) / escape.skill_time(0.5, 3, r)
             for r in (1e-4, 1e-8)]
    assert abs(ratio[1] - 1) < abs(ratio[0] - 1) < 0.2  # leading order, better as r0 -> 0


def test_polynet_error_and_plateau_fraction():
    assert escape.polynet_error(0.0, 1.0, 3) == pytest.approx(0.5)
    assert escape.polynet_error(50.0, 1.0, 3) == pytest.approx(0.0, abs=1e-12)
    frac = escape.plateau_fraction(0.1, 0.1 * np.sqrt([10, 100, 1000]), 4)
    assert np.all(np.diff(frac) > 0) and np.all((frac > 0) & (frac < 1))
    v = np.sqrt(2) * 0.1 * np.sqrt(100) * special.erfinv(0.02 ** 0.25)
    assert escape.polynet_error(v, 0.1 * np.sqrt(100), 4) == pytest.approx(0.49)


def test_polynet_represents_the_parity_and_blocks_partition():
    task = ParityTask(9, 3, n_members=2, seed=1)
    blocks = disjoint_blocks(task.subsets, 9)
    assert torch.equal(blocks.sum(dim=1), torch.ones(2, 9))
    for m in range(2):
        for j in range(3):
            assert blocks[m, j, task.subsets[m, j]] == 1
    net = PolyNet(2, 9, 3, blocks=blocks)
    with torch.no_grad():
        net.w.zero_()
        net.w[torch.arange(2)[:, None], torch.arange(3)[None, :], task.subsets] = 1.0
    x, y = task.sample(64, torch.Generator().manual_seed(0))
    assert torch.equal(net(x), y)
    masked = PolyNet(2, 9, 3, blocks=blocks, generator=torch.Generator().manual_seed(2))
    assert torch.all(masked.w[blocks == 0] == 0)


@pytest.mark.parametrize("name", ["parity_grid", "parity_curves", "parity_search",
                                  "parity_progress", "parity_calib"])
def test_configs_are_registered_and_serialisable(name):
    for profile in ("quick", "paper"):
        cfg = experiments.config(name, profile)
        assert json.loads(json.dumps(cfg.to_dict()))["name"] == name


def test_escape_bad_inputs():
    with pytest.raises(ValueError, match="q must"):
        escape.product_flow_time(0.1, 1.0, 1)
    with pytest.raises(ValueError, match="v0"):
        escape.product_flow_time(-0.1, 1.0, 3)
    with pytest.raises(ValueError, match="q must be >= 3"):
        escape.blowup_time(0.1, 2)
    with pytest.raises(ValueError, match="sigma"):
        escape.polynet_error(0.1, 0.0, 3)


def test_fourier_bad_inputs():
    with pytest.raises(ValueError, match="n must be odd"):
        fourier.majority_coefficient(8, 1)
    with pytest.raises(ValueError, match="k must be even"):
        fourier.fourier_gap(9, 3)
    with pytest.raises(ValueError, match="n must be <= 20"):
        fourier.all_inputs(21)
    with pytest.raises(ValueError, match="need 0 < r0"):
        escape.skill_time(2.0, 3, 0.1, scale=1.0)
