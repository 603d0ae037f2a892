"""Tests of the shared sparse-parity core (emergence.parity.task, .model, .train)."""

import math

import numpy as np
import pytest
import torch

from emergence.parity import (
    FixedParitySet,
    HeldOut,
    OnlineParity,
    ParityMLP,
    ParityTask,
    member_losses,
    random_subsets,
    train_parity,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_labels_are_the_product_of_the_subset_bits():
    task = ParityTask(7, 3, n_members=4, seed=2)
    x, y = task.sample(50, _gen())
    for m in range(4):
        s = task.subsets[m].tolist()
        expected = x[m][:, s[0]] * x[m][:, s[1]] * x[m][:, s[2]]
        assert torch.equal(y[m], expected)
    assert task.relevant_mask().sum(dim=1).tolist() == [3] * 4


def test_subsets_are_distinct_sorted_and_differ_between_members():
    subsets = random_subsets(30, 4, 200, _gen(1))
    assert all(len(set(row)) == 4 and row == sorted(row) for row in subsets.tolist())
    assert len({tuple(row) for row in subsets.tolist()}) > 150
    shared = ParityTask(30, 4, n_members=5, shared=True).subsets
    assert (shared == shared[0]).all()


def test_fixed_set_visits_every_sample_once_per_epoch():
    task = ParityTask(6, 2, n_members=3, seed=0)
    data = FixedParitySet(task, m=12, batch_size=4, seed=1)
    seen = torch.cat([data.next_batch()[0] for _ in range(3)], dim=1)  # one epoch
    for member in range(3):
        rows = {tuple(r) for r in seen[member].tolist()}
        assert rows == {tuple(r) for r in data.x[member].tolist()}
    x, y = data.next_batch()
    assert torch.equal(task.labels(x), y)


def test_random_labels_are_independent_of_the_parity():
    task = ParityTask(8, 2, n_members=1, seed=0)
    x, y = OnlineParity(task, 20_000, seed=0, random_labels=True).next_batch()
    agreement = (y == task.labels(x)).float().mean().item()
    assert abs(agreement - 0.5) < 0.02  # 4.5 standard errors of 0.0035


def test_forward_matches_a_plain_two_layer_network_per_member():
    model = ParityMLP(3, 5, 7, activation="poly", degree=3, generator=_gen())
    x = torch.randn(3, 4, 5)
    for m in range(3):
        h = (x[m] @ model.w1[m] + model.b1[m]) ** 3
        assert torch.allclose(model(x)[m], (h @ model.w2[m] + model.b2[m])[:, 0], atol=1e-5)
    assert torch.allclose(model(x[[2]], torch.tensor([2]))[0], model(x)[2])


def test_glorot_bounds_and_sparse_init():
    n, width = 20, 1000
    model = ParityMLP(2, n, width, init="uniform", generator=_gen())
    bound = math.sqrt(6 / (n + width))
    assert model.w1.abs().max() <= bound and model.w1.abs().max() > 0.99 * bound
    sparse = ParityMLP(2, n, 50, init="sparse", s=2, generator=_gen())
    nonzero = (sparse.w1 != 0).sum(dim=1)
    assert (nonzero == 2).all() and set(sparse.w1.unique().tolist()) == {-1.0, 0.0, 1.0}


class _Replay:
    """Replays given batches (to feed two models exactly the same data)."""

    def __init__(self, batches):
        self.batches = iter(batches)

    def next_batch(self):
        return next(self.batches)


def test_masked_units_stay_zero_and_members_do_not_mix():
    task = ParityTask(6, 2, n_members=2, seed=0)
    batches = [task.sample(16, _gen(i)) for i in range(30)]
    wide = ParityMLP(2, 6, 8, widths=[8, 3], generator=_gen())
    alone = ParityMLP(1, 6, 8, generator=_gen())
    with torch.no_grad():
        for name, p in alone.named_parameters():
            p.copy_(getattr(wide, name)[:1])
    kwargs = dict(lr=0.1, max_steps=30, weight_decay=0.01, stop_when_solved=False,
                  freeze_solved=False)
    train_parity(wide, _Replay(batches), HeldOut(task, 64, 32, seed=1), **kwargs)
    alone_task = ParityTask(6, 2, subsets=task.subsets[:1])
    train_parity(alone, _Replay([(x[:1], y[:1]) for x, y in batches]),
                 HeldOut(alone_task, 64, 32, seed=1), **kwargs)
    assert wide.member_widths() == [8, 3]
    assert (wide.w1[1, :, 3:] == 0).all() and (wide.w2[1, 3:] == 0).all()
    assert not torch.allclose(alone.w1[0], wide.w1.detach()[1])
    assert torch.allclose(alone.w1[0], wide.w1[0], atol=1e-6)
    assert torch.allclose(alone.w2[0], wide.w2[0], atol=1e-6)


def test_weight_decay_shrinks_by_one_minus_lr_times_decay():
    model = ParityMLP(1, 4, 3, generator=_gen())
    before = model.w1.detach().clone()
    task = ParityTask(4, 2, seed=0)

    class Zero:  # a batch on which the correlation loss has zero gradient: x = 0
        def next_batch(self):
            return torch.zeros(1, 2, 4), torch.ones(1, 2)

    run = train_parity(model, Zero(), HeldOut(task, 8, 8, seed=0), 0.5, 1,
                       loss="correlation", weight_decay=0.2, stop_when_solved=False)
    assert run.steps == 1
    assert torch.allclose(model.w1, before * (1 - 0.5 * 0.2))


def test_losses_against_hand_values():
    out, y = torch.tensor([[0.5, -2.0]]), torch.tensor([[1.0, 1.0]])
    assert member_losses(out, y, "hinge").item() == pytest.approx((0.5 + 3.0) / 2)
    assert member_losses(out, y, "square").item() == pytest.approx((0.25 + 9.0) / 2)
    assert member_losses(out, y, "correlation").item() == pytest.approx(0.75)


def test_small_parity_is_learned_and_random_labels_are_not():
    task = ParityTask(8, 2, n_members=4, seed=0)
    held = HeldOut(task, 256, 64, seed=9)
    model = ParityMLP(4, 8, 64, generator=_gen(1))
    run = train_parity(model, OnlineParity(task, 32, seed=1), held, 0.1, 3000, check_every=5)
    assert np.isfinite(run.t_c).all() and run.steps == run.t_c.max()
    solved = model.w1.detach().clone()
    # the success criterion holds for the frozen weights
    assert (held.solved(model, torch.arange(4)) == torch.arange(4)).all()
    assert torch.equal(model.w1, solved)
    control = ParityMLP(4, 8, 64, generator=_gen(1))
    run = train_parity(control, OnlineParity(task, 32, seed=1, random_labels=True), held,
                       0.1, 300, check_every=5)
    assert np.isnan(run.t_c).all() and run.steps == 300


def test_frozen_members_stop_moving_and_traces_have_the_right_shape():
    task = ParityTask(6, 2, n_members=3, seed=0)
    model = ParityMLP(3, 6, 32, generator=_gen(2))
    probe = {"w_inf": lambda mdl: mdl.w1.abs().amax(dim=(1, 2))}
    run = train_parity(model, OnlineParity(task, 32, seed=0), HeldOut(task, 64, 64, seed=1),
                       0.1, 2000, trace_every=10, probes=probe)
    t = len(run.trace_steps)
    assert run.traces["loss"].shape == (3, t) and run.traces["w_inf"].shape == (3, t)
    assert run.trace_steps[0] == 0 and np.all(np.diff(run.trace_steps) == 10)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=0, k=1), "n must"), (dict(n=4, k=5), "k must lie"),
])
def test_task_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ParityTask(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(activation="tanh"), "activation"), (dict(init="xavier"), "init"),
    (dict(init="sparse"), "s must"), (dict(init="sparse", s=9), "s must"),
    (dict(s=2), "only used"), (dict(activation="poly", degree=1), "degree"),
    (dict(scale=0.0), "scale"), (dict(widths=[3, 9]), "widths"),
])
def test_model_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ParityMLP(2, 8, 4, **kwargs)


def test_train_bad_inputs():
    task = ParityTask(4, 2)
    model, held = ParityMLP(1, 4, 3), HeldOut(task, 8, 8, seed=0)
    data = OnlineParity(task, 4)
    for kwargs, match in [(dict(lr=0.0), "lr"), (dict(loss="ce"), "loss"),
                          (dict(max_steps=0), "max_steps"), (dict(weight_decay=-1), "weight")]:
        args = {"lr": 0.1, "max_steps": 5, **kwargs}
        with pytest.raises(ValueError, match=match):
            train_parity(model, data, held, **args)
