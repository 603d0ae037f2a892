"""Tests of the multitask sparse parity task: shapes, determinism, disjoint subsets, power law."""

import numpy as np
import pytest
import torch

from emergence.tasks import SparseParityTask


def make_task(**overrides):
    params = dict(n_skills=5, n_bits=32, bits_per_skill=3, alpha=0.6, scale=5.0, seed=0)
    params.update(overrides)
    return SparseParityTask(**params)


def test_skill_subsets_are_disjoint_and_in_range():
    task = make_task(n_skills=10, n_bits=30)
    flat = task.skill_bits.flatten().tolist()
    assert task.skill_bits.shape == (10, 3)
    assert len(set(flat)) == len(flat)
    assert all(0 <= j < 30 for j in flat)


def test_seed_fixes_subsets_and_samples():
    first, second = make_task(seed=3), make_task(seed=3)
    assert torch.equal(first.skill_bits, second.skill_bits)
    assert not torch.equal(first.skill_bits, make_task(seed=4).skill_bits)
    batch_a = first.sample(100, torch.Generator().manual_seed(1))
    batch_b = second.sample(100, torch.Generator().manual_seed(1))
    assert all(torch.equal(x, y) for x, y in zip(batch_a, batch_b, strict=True))


def test_sample_shapes_dtypes_and_device():
    task = make_task()
    inputs, targets, skill = task.sample(64, torch.Generator().manual_seed(0), device="cpu")
    assert inputs.shape == (64, task.input_dim) and inputs.dtype == torch.float32
    assert targets.shape == (64,) and targets.dtype == torch.float32
    assert skill.shape == (64,) and skill.dtype == torch.long
    assert inputs.device.type == "cpu"
    assert set(targets.unique().tolist()) <= {-5.0, 5.0}
    assert torch.equal(inputs[:, :5].sum(dim=1), torch.ones(64))


def test_target_is_plus_scale_for_even_parity():
    task = make_task()
    bits = torch.zeros(2, task.n_bits, dtype=torch.uint8)
    bits[1, task.skill_bits[2, 0]] = 1                      # one owned bit set: odd parity
    skill = torch.tensor([2, 2])
    assert task.target(skill, bits).tolist() == [5.0, -5.0]
    bits[0, task.skill_bits[1, 0]] = 1                      # a bit owned by another skill
    assert task.target(skill, bits)[0].item() == 5.0


def test_encode_decode_round_trip():
    task = make_task()
    skill = task.sample_skills(50, torch.Generator().manual_seed(0))
    bits = task.sample_bits(50, torch.Generator().manual_seed(1))
    back_skill, back_bits = task.decode(task.encode(skill, bits))
    assert torch.equal(back_skill, skill) and torch.equal(back_bits, bits)


def test_sample_skill_draws_one_skill():
    task = make_task()
    inputs, targets = task.sample_skill(3, 40, torch.Generator().manual_seed(0))
    assert inputs.shape == (40, task.input_dim) and targets.shape == (40,)
    assert torch.all(inputs[:, 2] == 1) and torch.all(inputs[:, :5].sum(dim=1) == 1)
    with pytest.raises(ValueError, match="k must lie"):
        task.sample_skill(6, 10)


def test_skill_frequencies_follow_power_law():
    task = make_task()
    skills = task.sample_skills(200_000, torch.Generator().manual_seed(0))
    freq = np.bincount(skills.numpy(), minlength=5) / 200_000
    probs = task.probs()
    assert np.isclose(probs.sum(), 1.0)
    sigma = np.sqrt(probs * (1 - probs) / 200_000)
    assert np.all(np.abs(freq - probs) < 5 * sigma)


def test_bits_are_uniform():
    task = make_task()
    bits = task.sample_bits(50_000, torch.Generator().manual_seed(0)).double()
    assert bits.dtype == torch.float64
    assert torch.all((bits.mean(dim=0) - 0.5).abs() < 5 * 0.5 / np.sqrt(50_000))


@pytest.mark.parametrize("name, value, match", [
    ("n_skills", 0, "n_skills"), ("n_bits", 2.5, "n_bits"), ("bits_per_skill", 0, "bits_per_skill"),
    ("alpha", -0.1, "alpha"), ("scale", 0.0, "scale"), ("n_bits", 10, "n_bits must be >="),
])
def test_bad_parameters_raise(name, value, match):
    with pytest.raises(ValueError, match=match):
        make_task(**{name: value})


def test_bad_sample_size_raises():
    with pytest.raises(ValueError, match="n must be an integer"):
        make_task().sample(0)


def test_overlapping_subsets_are_distinct_and_deterministic():
    task = make_task(n_skills=7, n_bits=12, disjoint=False, seed=5)
    subsets = [frozenset(row) for row in task.skill_bits.tolist()]
    assert task.skill_bits.shape == (7, 3) and len(set(subsets)) == 7
    assert torch.equal(task.skill_bits, make_task(n_skills=7, n_bits=12, disjoint=False,
                                                  seed=5).skill_bits)
    with pytest.raises(ValueError, match="distinct"):
        make_task(n_skills=5, n_bits=3, disjoint=False)
