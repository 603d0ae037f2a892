"""Tests of the skill basis, skill strengths and the loss decomposition (Eq. 8)."""

import numpy as np
import pytest
import torch

from emergence import skills
from emergence.tasks import SparseParityTask

TASK = SparseParityTask(n_skills=4, n_bits=16, bits_per_skill=3, alpha=0.6, scale=2.0, seed=1)


def test_skill_basis_rows_and_target():
    _, targets, skill = TASK.sample(500, torch.Generator().manual_seed(0))
    bits = TASK.sample_bits(500, torch.Generator().manual_seed(0))
    basis = skills.skill_basis(TASK, skill, bits)
    assert basis.shape == (500, 4) and basis.dtype == torch.float32
    assert torch.equal((basis != 0).sum(dim=1), torch.ones(500, dtype=torch.long))
    assert torch.equal(TASK.scale * basis.sum(dim=1), TASK.target(skill, bits))


def test_skill_basis_is_orthogonal_exactly():
    """Enumerate every (i, x): the Gram matrix under P(I, X) is diag(P_s)."""
    small = SparseParityTask(n_skills=3, n_bits=9, bits_per_skill=3, alpha=1.0, seed=0)
    codes = torch.arange(2**9)
    bits = ((codes[:, None] >> torch.arange(9)) & 1).to(torch.uint8)
    gram = torch.zeros(3, 3, dtype=torch.float64)
    for i, p in enumerate(small.probs()):
        basis = skills.skill_basis(small, torch.full((2**9,), i), bits).double()
        gram += p * basis.T @ basis / 2**9
    assert torch.allclose(gram, torch.diag(torch.as_tensor(small.probs())), atol=1e-12)


def test_evaluation_sets_shapes():
    inputs, targets = skills.evaluation_sets(TASK, 100, torch.Generator().manual_seed(0))
    assert inputs.shape == (4, 100, TASK.input_dim) and targets.shape == (4, 100)
    assert torch.all(inputs[2, :, 2] == 1)
    with pytest.raises(ValueError, match="n_per_skill"):
        skills.evaluation_sets(TASK, 0)


def test_strengths_of_target_and_of_zero():
    _, targets = skills.evaluation_sets(TASK, 50, torch.Generator().manual_seed(0))
    assert torch.allclose(skills.strengths(targets, targets, TASK.scale), torch.full((4,), 2.0))
    assert torch.allclose(skills.skill_losses(targets, targets), torch.zeros(4))
    assert torch.allclose(skills.skill_losses(0 * targets, targets), torch.full((4,), 2.0))
    with pytest.raises(ValueError, match="scale"):
        skills.strengths(targets, targets, -1.0)


def test_strengths_batch_dimensions():
    _, targets = skills.evaluation_sets(TASK, 50, torch.Generator().manual_seed(0))
    outputs = torch.randn(7, 4, 50, generator=torch.Generator().manual_seed(0))
    assert skills.strengths(outputs, targets, 2.0).shape == (7, 4)
    assert skills.skill_losses(outputs, targets).shape == (7, 4)


def test_measure_satisfies_eq8_on_a_random_network():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(TASK.input_dim, 16), torch.nn.ReLU(),
                              torch.nn.Linear(16, 1))
    inputs, targets = skills.evaluation_sets(TASK, 300, torch.Generator().manual_seed(0))
    out = skills.measure(net, inputs, targets, TASK.scale)
    assert set(out) == {"strength", "loss", "second_moment"}
    assert all(v.shape == (4,) for v in out.values())
    eq8 = skills.loss_from_strength(TASK.scale, out["second_moment"], out["strength"])
    assert torch.allclose(eq8, out["loss"], atol=1e-5)
    with pytest.raises(ValueError, match="scale"):
        skills.loss_from_strength(0.0, 1.0, 1.0)


def test_total_loss_numpy_and_torch():
    probs = TASK.probs()
    per_skill = np.array([[1.0, 2.0, 3.0, 4.0]])
    expected = float((per_skill[0] * probs).sum())
    assert np.isclose(skills.total_loss(per_skill, probs)[0], expected)
    as_tensor = skills.total_loss(torch.as_tensor(per_skill), probs)
    assert torch.is_tensor(as_tensor) and np.isclose(as_tensor.item(), expected)
