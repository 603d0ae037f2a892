"""Chapter 14's modules: lottery tickets, the SQ frontier, the ragged data set, the grids."""

import itertools
import math

import numpy as np
import pytest
import torch

from emergence.models import MLPEnsemble
from emergence.parity import ParityTask
from emergence.parity.calib_frontier import (
    CalibFrontier,
    make_calib_frontier,
    sparse_first_layer,
)
from emergence.parity.frontier import (
    all_inputs,
    correlations,
    sq_budget,
    subsets,
    success_ceiling,
)
from emergence.parity.lottery import (
    at_least_one_ticket,
    count_tickets,
    ticket_probability,
    wilson_interval,
)
from emergence.parity.pareto import ParetoGrid, RaggedParitySet


@pytest.mark.parametrize("s", range(1, 8))
def test_ticket_probability_counts_nested_supports(s):
    n, relevant = 7, {0, 2, 5}
    nested = [set(c) <= relevant or relevant <= set(c)
              for c in itertools.combinations(range(n), s)]
    assert ticket_probability(n, 3, s) == pytest.approx(np.mean(nested), abs=1e-12)


def test_ticket_probability_rejects_bad_sizes():
    with pytest.raises(ValueError, match="s must lie"):
        ticket_probability(5, 2, 6)
    with pytest.raises(ValueError, match="k must lie"):
        ticket_probability(5, 6, 2)


def test_at_least_one_ticket():
    assert at_least_one_ticket(0.5, 2) == pytest.approx(0.75)
    assert at_least_one_ticket(1e-3, 1000) == pytest.approx(1 - 0.999**1000)
    with pytest.raises(ValueError, match="p must"):
        at_least_one_ticket(0.0, 3)


def test_count_tickets_against_a_loop():
    gen = torch.Generator().manual_seed(0)
    support = torch.rand(5, 9, 40, generator=gen) < 0.25
    relevant = torch.zeros(5, 9, dtype=torch.bool)
    relevant[:, :3] = True
    expected = []
    for m in range(5):
        count = 0
        for j in range(40):
            units = set(np.flatnonzero(support[m, :, j].numpy()))
            if units and (units <= {0, 1, 2} or {0, 1, 2} <= units):
                count += 1
        expected.append(count)
    assert count_tickets(support, relevant).tolist() == expected


def test_count_tickets_on_a_parity_mlp():
    from emergence.parity import ParityMLP

    task = ParityTask(12, 3, n_members=400, seed=1)
    model = ParityMLP(400, 12, 50, init="sparse", s=2, generator=torch.Generator().manual_seed(2))
    tickets = count_tickets(model.w1 != 0, task.relevant_mask()).numpy()
    p = ticket_probability(12, 3, 2)
    # Binomial(50, p) per member: the mean over 400 members within 4 standard errors
    assert abs(tickets.mean() - 50 * p) < 4 * np.sqrt(50 * p * (1 - p) / 400)


def test_wilson_interval():
    low, high = wilson_interval(0, 10, z=1.0)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(1 / 11)
    low, high = wilson_interval(5, 10)
    assert low < 0.5 < high
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)


def test_parseval_and_a_known_coefficient():
    x = all_inputs(6)
    rng = np.random.default_rng(0)
    grads = np.tanh(rng.normal(size=(64, 5)) + x[:, :1])
    every = np.concatenate([correlations(x, grads, subsets(6, k)) for k in range(7)])
    assert np.sum(every**2) == pytest.approx(np.mean(np.sum(grads**2, axis=1)))
    column = (x[:, 1] * x[:, 4])[:, None]
    g = correlations(x, column, subsets(6, 2))
    assert g[list(map(tuple, subsets(6, 2))).index((1, 4)), 0] == pytest.approx(1.0)
    assert np.sum(np.abs(g)) == pytest.approx(1.0)


def test_frontier_numbers():
    assert sq_budget(10, 3) == 60
    assert success_ceiling(10, 3, 2, 3, 5) == pytest.approx(0.5)
    assert success_ceiling(10, 3, 100, 3, 5) == 1.0
    with pytest.raises(ValueError, match="k must lie"):
        sq_budget(3, 4)
    assert math.comb(6, 2) == len(subsets(6, 2))


def test_ragged_set_reads_each_members_own_samples():
    task = ParityTask(8, 2, n_members=3, seed=0)
    data = RaggedParitySet(task, [4, 8, 12], batch_size=4, seed=1)
    seen = [set() for _ in range(3)]
    for _ in range(3):                      # one epoch of the largest member
        x, y = data.next_batch()
        assert torch.equal(y, task.labels(x))
        for m in range(3):
            for row in x[m]:
                match = (data.x[m] == row).all(dim=1).nonzero().flatten().tolist()
                seen[m].update(match)
    assert max(seen[0]) < 4 and max(seen[1]) < 8
    assert seen[2] == set(range(12))
    with pytest.raises(ValueError, match="batch_size"):
        RaggedParitySet(task, [4, 8, 12], batch_size=5)


def test_pareto_grid_validates_and_runs():
    with pytest.raises(ValueError, match="batch_size"):
        ParetoGrid(name="g", profile="quick", n=8, k=2, widths=(4,), sample_sizes=(16,),
                   sparsities=(0,), n_seeds=1, lr=0.1, batch_size=32, weight_decay=0.0,
                   loss="hinge", max_steps=10, check_every=5, eval_size=64)
    grid = ParetoGrid(name="g", profile="quick", n=6, k=2, widths=(8, 16), sample_sizes=(32,),
                      sparsities=(0, 2), n_seeds=2, lr=0.1, batch_size=16, weight_decay=0.0,
                      loss="hinge", max_steps=20, check_every=10, eval_size=64)
    out = grid.run()
    assert out["t_c"].shape == (2, 2, 1, 2) and np.all(out["tickets"][0] == -1)
    assert np.all(out["tickets"][1] >= 0)
    assert out["t_c"].dtype == np.int64 and np.all((out["t_c"] == -1) | (out["t_c"] > 0))


def test_sparse_first_layer_keeps_s_task_weights_and_the_norm():
    model = MLPEnsemble(4, 1 + 32, 500, 0.001, generator=torch.Generator().manual_seed(0))
    dense = model.w1.detach().clone()
    sparse_first_layer(model, 1, 2, torch.Generator().manual_seed(1))
    task = model.w1.detach()[:, 1:, :]
    assert torch.all((task != 0).sum(dim=1) == 2)
    assert torch.equal(model.w1[:, :1, :], dense[:, :1, :])  # control bit untouched
    ratio = task.pow(2).sum(dim=1).mean() / dense[:, 1:, :].pow(2).sum(dim=1).mean()
    assert abs(float(ratio) - 1) < 0.1
    with pytest.raises(ValueError, match="sparsity"):
        sparse_first_layer(model, 1, 33, torch.Generator())


def test_calib_frontier_configs():
    paper = make_calib_frontier("paper")
    assert (1000, 0) not in paper.cells  # the dense width-1000 cell is calib_data itself
    pairs = zip(paper.experiments(), paper.cells, strict=True)
    assert all(cell.width == w for cell, (w, _) in pairs)
    with pytest.raises(ValueError, match="cells"):
        CalibFrontier(name="calib_frontier", profile="quick", cells=((16,),), n_data=(10,),
                      n_steps=10, n_seeds=1)


def test_stratified_z():
    from emergence.parity.lottery import stratified_z

    exposed = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], bool)
    assert stratified_z(exposed, exposed) > 0          # success exactly where exposed
    assert stratified_z(~exposed, exposed) < 0
    same = np.array([[1, 0, 1, 0]], bool)            # half of each group succeeds
    assert stratified_z(same, np.array([[1, 1, 0, 0]], bool)) == 0
    # one 2x2 table by hand: a = 2, E = 2 * 2 / 4 = 1, V = 2*2*2*2 / (16*3) = 1/3
    assert stratified_z(exposed[:1], exposed[:1]) == pytest.approx(1 / np.sqrt(1 / 3))
    assert np.isnan(stratified_z(np.ones((1, 4), bool), exposed[:1]))
    with pytest.raises(ValueError, match="n_strata"):
        stratified_z(np.ones(3, bool), np.ones(3, bool))


def test_rewind_keeps_the_largest_units_and_their_initial_values():
    from emergence.parity import ParityMLP
    from emergence.parity.rewind import subnetwork, top_units, unit_norms

    wide = ParityMLP(3, 8, 20, init="sparse", s=2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        wide.w2[1, 7, 0] = 50.0                       # unit 7 of member 1 is the largest
    units = top_units(wide, 4)
    assert units[1, 0].item() == 7
    norms = unit_norms(wide)
    assert torch.all(norms.gather(1, units).min(1).values >= norms.sort(1).values[:, -4])
    state = {k: v.detach().clone() for k, v in wide.state_dict().items()}
    small = subnetwork(state, units, repeats=2)
    x = torch.randn(3, 5, 8).sign()
    # the small network computes the wide one's output restricted to the kept units
    hidden = torch.relu(x @ state["w1"] + state["b1"])          # (3, 5, 20)
    keep = torch.zeros(3, 20).scatter_(1, units, 1.0)
    expected = (hidden * keep[:, None, :]) @ state["w2"] + state["b2"]
    out = small(x.repeat_interleave(2, 0))
    assert torch.allclose(out, expected[..., 0].repeat_interleave(2, 0), atol=1e-5)
    with pytest.raises(ValueError, match="count"):
        top_units(wide, 21)
