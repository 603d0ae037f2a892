"""The CPU engine (rowsum kernels + RowSumEnsemble) against the torch reference path."""

from __future__ import annotations

import copy
import dataclasses
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
import torch

from emergence import experiments, rowsum
from emergence.checkpoints import TrainingPaused
from emergence.cpu_ensemble import Layout, RowSumEnsemble, pack_bits
from emergence.models import MLPEnsemble
from emergence.train import (
    MemberOptimizer,
    SkillEvaluator,
    SkillSampler,
    TrainingDiverged,
    evaluation_bits,
    member_subsets,
    train,
)

TOLERANCE = 1e-5


def both_engines(name: str, n_seeds: int | None = None, **changes):
    """The torch and the CPU engine of a quick experiment, from the same initial weights."""
    cfg = dataclasses.replace(experiments.config(name, "quick"), **changes)
    return cfg, cfg.parts("cpu", n_seeds, engine="torch"), cfg.parts("cpu", n_seeds,
                                                                      engine="rowsum")


def batch_targets(engine: RowSumEnsemble) -> np.ndarray:
    """``(slots, batch, lanes)``: the targets of the engine's current batch (the lanes kernels
    make theirs on the fly and keep none)."""
    data = engine.data
    y = np.zeros((engine.layout.n_slots, data.x.shape[1], engine.layout.n_lanes), np.float32)
    rowsum.targets(data.x, data.k, data.stream, engine.masks, engine.scale, y,
                   np.arange(len(y)))
    return y


def torch_batch(engine: RowSumEnsemble, cfg):
    """The CPU engine's current batch as the torch ensemble's inputs, targets and weights."""
    layout, data = engine.layout, engine.data
    x = data.x[data.stream[layout.slot]]
    k = data.k[data.stream[layout.slot]]
    sizes = data.size[layout.slot]
    bits = (x[..., None] >> np.arange(cfg.n_bits, dtype=np.uint64)) & np.uint64(1)
    control = np.eye(cfg.n_skills, dtype=np.float32)[k]
    inputs = np.concatenate([control, bits.astype(np.float32)], axis=-1)
    targets = layout.gather(batch_targets(engine).transpose(0, 2, 1))
    weights = (np.arange(x.shape[1])[None, :] < sizes[:, None]) / sizes[:, None]
    return (torch.from_numpy(inputs), torch.from_numpy(targets),
            torch.from_numpy(weights.astype(np.float32)))


def relative_error(reference: np.ndarray, value: np.ndarray) -> float:
    return float(np.abs(reference - value).max() / max(np.abs(reference).max(), 1e-30))


def torch_step(model: MLPEnsemble, inputs, targets, weights) -> np.ndarray:
    """The reference: the summed per-member mean-squared errors, differentiated by autograd."""
    member_loss = (((model(inputs) - targets) ** 2) * weights).sum(dim=1)
    model.zero_grad()
    member_loss.sum().backward()
    return member_loss.detach().numpy()


def assert_one_step_equals_autograd(cfg, reference, fast) -> None:
    """One step of the CPU engine: its losses and every gradient equal autograd's on the
    same batch, within TOLERANCE."""
    loss = fast.engine.compute_gradients(0)
    model = reference.engine.model
    assert relative_error(torch_step(model, *torch_batch(fast.engine, cfg)), loss) <= TOLERANCE
    grads = fast.engine.member_gradients()
    for param in ("w1", "b1", "w2", "b2"):
        assert relative_error(getattr(model, param).grad.numpy(), grads[param]) <= TOLERANCE, param


@pytest.mark.parametrize("name", ["mlp_time", "mlp_data", "calib_data", "mlp_params",
                                  "calib_params"])
def test_one_step_losses_and_gradients_equal_autograd(name):
    assert_one_step_equals_autograd(*both_engines(name))


@pytest.mark.parametrize("name", ["mlp_time", "mlp_data", "mlp_params"])
def test_one_step_with_the_byte_tables_equals_autograd(name):
    """Batches of at least PAIR_MIN_BATCH samples take the byte-table forward pass (in both
    layouts); the paper's 32 skill bits set every byte. The batch is not a whole number of
    the lanes layout's chunks."""
    batch = rowsum.PAIR_MIN_BATCH + 88
    changes = {"n_data": (batch, 2 * batch)} if name == "mlp_data" else {}
    cfg, reference, fast = both_engines(name, batch_size=batch, n_bits=32, bits_per_skill=3,
                                        **changes)
    assert fast.engine.data.batch_sizes().min() >= rowsum.PAIR_MIN_BATCH
    assert_one_step_equals_autograd(cfg, reference, fast)


@pytest.mark.parametrize("name, n_bits", [("mlp_time", 14), ("mlp_params", 10),
                                          ("calib_data", 31)])
def test_one_step_with_a_partial_last_group_equals_autograd(name, n_bits):
    """Skill bits that do not fill their last group of four: the fold writes gradient rows
    for the inputs there are and none past them."""
    assert_one_step_equals_autograd(*both_engines(name, n_bits=n_bits))


def test_data_members_are_padded_to_the_largest_batch():
    cfg, _, fast = both_engines("mlp_data")
    fast.engine.compute_gradients(0)
    assert len(set(fast.engine.data.size.tolist())) > 1      # unequal batches in one step


def test_fixed_batches_and_targets_follow_the_shuffled_sets_step_by_step():
    """Members with one step per epoch have their batch gathered once, the others every step;
    each step's batch is the member's set in its current order, and the targets are those of
    the batch, also after a checkpoint's order is loaded into an engine that ran on."""
    batch = 32
    cfg, _, fast = both_engines("mlp_data", batch_size=batch, n_data=(batch, 3 * batch))
    engine, data = fast.engine, fast.engine.data
    assert 0 < len(data.walking) < len(data.n_data)
    for step in range(7):
        engine.compute_gradients(step)
        offset = step % data.steps_per_epoch
        for member, size in enumerate(data.sizes):
            index = data.order[member, offset[member] * size:(offset[member] + 1) * size]
            np.testing.assert_array_equal(data.x[member, :size], data.data_x[member, index])
            np.testing.assert_array_equal(data.k[member, :size], data.data_k[member, index])
        np.testing.assert_array_equal(engine.y, batch_targets(engine))
        if step == 2:
            saved = {"order": torch.from_numpy(data.order.copy())}
        if step == 3:
            step_3 = data.x.copy(), engine.y.copy()
    data.load_state_dict(saved)            # the order of step 2 into an engine at step 6
    engine.compute_gradients(3)
    assert data.changed is data.stream
    np.testing.assert_array_equal(data.x, step_3[0])
    np.testing.assert_array_equal(engine.y, step_3[1])


@pytest.mark.parametrize("kind, weight_decay", [("sgd", 0.0), ("sgd", 0.01), ("adam", 0.0),
                                                ("adam", 0.01)])
def test_updates_equal_the_torch_optimizers(kind, weight_decay):
    """Three updates of both engines against the torch optimiser run in float64.

    Adam divides each gradient entry by its own root mean square, so an entry at the level of
    float32 rounding (here gradients of 6e-8 next to entries of 0.16) is turned into a step
    of the full learning rate, and whichever way it was rounded decides that step: the torch
    path in float32 itself then misses the float64 weights by up to 3e-5. So both float32
    engines are measured against float64, and the CPU engine must be within ``TOLERANCE`` or
    within twice the torch path's own error, whichever is larger.
    """
    cfg, reference, fast = both_engines("mlp_params", optimizer=kind, weight_decay=weight_decay)
    model = reference.engine.model
    exact = copy.deepcopy(model).double()
    optimizers = [(MemberOptimizer(m.parameters(), kind, weight_decay), m, dtype)
                  for m, dtype in ((model, torch.float32), (exact, torch.float64))]
    rates = np.linspace(0.01, 0.03, model.n_members)
    for step in range(3):
        fast.engine.step(step, rates)
        batch = torch_batch(fast.engine, cfg)
        for optimizer, member_model, dtype in optimizers:
            torch_step(member_model, *(t.to(dtype) for t in batch))
            optimizer.step(torch.as_tensor(rates, dtype=dtype))
    weights = fast.engine.member_parameters()
    for param in ("w1", "b1", "w2", "b2"):
        truth = getattr(exact, param).detach().numpy()
        torch_error = relative_error(truth, getattr(model, param).detach().numpy())
        assert relative_error(truth, weights[param]) <= max(TOLERANCE, 2 * torch_error), param


@pytest.mark.parametrize("name", ["mlp_time", "mlp_params"])
def test_evaluation_equals_the_torch_evaluator(name):
    cfg, reference, fast = both_engines(name)
    for step in range(5):
        fast.engine.step(step, fast.lr_schedule(step))
    reference.engine.model.load_state_dict({
        key: torch.from_numpy(value) for key, value in fast.engine.member_parameters().items()},
        strict=False)
    strength, loss = SkillEvaluator(reference.sampler, cfg.n_eval, cfg.seed + 2)(
        reference.engine.model)
    fast_strength, fast_loss = fast.engine.evaluate()
    assert np.abs(strength.numpy() - fast_strength).max() < 1e-5
    assert relative_error(loss.numpy(), fast_loss) <= 1e-5


@pytest.mark.parametrize("shape, dtype", [((3, 5), np.float32), ((7,), np.uint64),
                                          ((2, 3, 4, 64), np.float32)])
def test_aligned_zeros_start_a_cache_line(shape, dtype):
    for _ in range(5):
        array = rowsum.aligned_zeros(shape, dtype)
        assert array.ctypes.data % rowsum.CACHE_LINE == 0
        assert array.shape == shape and array.dtype == dtype
        assert array.flags.c_contiguous and array.flags.writeable and not array.any()


@pytest.mark.parametrize("name", ["mlp_time", "mlp_params"])
def test_every_array_the_kernels_walk_by_rows_starts_a_cache_line(name):
    """NumPy aligns to 16 bytes; a 64-float row 16 bytes into a line splits every vector
    access in two (1.3-1.6x slower steps, measured)."""
    engine = both_engines(name)[2].engine
    arrays = [*engine.forward_scratch, engine.table_grad, engine.control_grad,
              engine.partial, engine.active,
              *engine.params.arrays.values(), *engine.grads.values()]
    assert all(array.ctypes.data % rowsum.CACHE_LINE == 0 for array in arrays)


def random_tables(rng, n_groups, group_bits, n_skills=5):
    """Tables, control rows and w2 of one block as the kernels read them, with exact zeros,
    negative zeros and NaNs among the table entries."""
    tables = rowsum.aligned_zeros((n_groups, 1 << group_bits, rowsum.BLOCK))
    tables[...] = rng.standard_normal(tables.shape)
    tables.reshape(-1)[rng.integers(0, tables.size, 40)] = rng.choice([0.0, -0.0, np.nan], 40)
    control = rowsum.aligned_zeros((n_skills, rowsum.BLOCK))
    control[...] = rng.standard_normal(control.shape)
    w = rowsum.aligned_zeros(rowsum.BLOCK)
    w[...] = rng.standard_normal(rowsum.BLOCK)
    return tables, control, w


@pytest.mark.parametrize("n_groups, group_bits, outputs, units", [
    (rowsum.GROUPS, rowsum.GROUP_BITS, 1, 64), (rowsum.PAIRS, 2 * rowsum.GROUP_BITS, 1, 64),
    (rowsum.GROUPS, rowsum.GROUP_BITS, rowsum.LANES, 64),
    (rowsum.PAIRS, 2 * rowsum.GROUP_BITS, rowsum.LANES, 64),
    (rowsum.GROUPS, rowsum.GROUP_BITS, rowsum.LANES, 16),
    (rowsum.PAIRS, 2 * rowsum.GROUP_BITS, rowsum.LANES, 48)])
def test_block_forward_gives_the_share_and_the_relu_pattern(n_groups, group_bits, outputs,
                                                            units):
    """The share and pattern of a block's first ``units`` units; the rest of the block (a
    lanes group's padding) is neither read nor reported active."""
    from emergence.rowsum.intrinsics import block_forward
    forward = block_forward(n_groups, group_bits, outputs, units)

    @numba.njit
    def run(tables, control, w, skills, samples, share, active):
        for b in range(samples.size):
            active[b] = forward(tables, control, w, skills[b], samples[b], share, b)

    rng = np.random.default_rng(3)
    tables, control, w = random_tables(rng, n_groups, group_bits)
    n = 50
    skills = rng.integers(0, len(control), n)
    samples = rng.integers(0, 2**32, n, dtype=np.uint64)
    share = np.zeros((n, outputs), np.float32)
    active = np.zeros(n, np.uint64)
    run(tables, control, w, skills, samples, share[:, 0] if outputs == 1 else share, active)
    rows = (samples[:, None] >> (group_bits * np.arange(n_groups, dtype=np.uint64))) \
        & np.uint64((1 << group_bits) - 1)
    h = control[skills] + tables[np.arange(n_groups), rows.astype(np.int64)].sum(1)
    relu = np.maximum(np.nan_to_num(h[:, :units], nan=0.0), 0)
    expected = (relu * w[:units]).reshape(n, -1, outputs).sum(1)
    bits = [sum(1 << u for u in range(units) if h[b, u] > 0) for b in range(n)]
    assert active.tolist() == bits
    assert np.isnan(h).any() and np.allclose(share, expected, rtol=1e-5, atol=1e-5)


def test_block_forward_takes_whole_quarters_only():
    from emergence.rowsum.intrinsics import block_forward
    for units in (0, 20, 80):
        with pytest.raises(ValueError, match="units must be a multiple of 16 in 1..64"):
            block_forward(rowsum.GROUPS, rowsum.GROUP_BITS, rowsum.LANES, units)


def test_lane_outputs_and_residuals_match_numpy():
    from emergence.rowsum.intrinsics import lane_outputs, lane_residuals
    lanes = rowsum.LANES
    outputs, residuals = lane_outputs(lanes), lane_residuals(lanes)

    @numba.njit
    def run(b2, partial, n_blocks, masks, target_scale, samples, weight, delta, out, total,
            grad):
        for b in range(samples.size):
            outputs(b2, partial, n_blocks, b, out[b])
            residuals(out[b], masks[b], target_scale, samples[b], weight, delta[b], total,
                      grad)

    rng = np.random.default_rng(5)
    n, n_blocks = 30, 3
    b2 = rng.standard_normal(lanes).astype(np.float32)
    partial = rng.standard_normal((n_blocks + 1, n, lanes)).astype(np.float32)
    masks = rng.integers(0, 2**63, (n, lanes), dtype=np.uint64)
    target_scale = rng.uniform(0.5, 2, lanes).astype(np.float32)
    samples = rng.integers(0, 2**63, n, dtype=np.uint64)
    delta = np.zeros((n, rowsum.BLOCK), np.float32)
    out = np.zeros((n, lanes), np.float32)
    total, grad = np.ones(lanes, np.float32), np.zeros(lanes, np.float32)
    run(b2, partial, n_blocks, masks, target_scale, samples, np.float32(0.5), delta, out,
        total, grad)
    expected = b2 + partial[:n_blocks].sum(0)             # the last block is left out
    parity = np.array([[bin(int(m) & int(x)).count("1") % 2 for m in row]
                       for row, x in zip(masks, samples, strict=True)])
    err = expected - target_scale * (1 - 2 * parity)
    assert np.allclose(out, expected, atol=1e-5)
    assert np.allclose(total, 1 + (err ** 2).sum(0), atol=1e-4)
    assert np.allclose(grad, 0.5 * err.sum(0), atol=1e-5)
    assert np.allclose(delta, np.tile(0.5 * err, rowsum.BLOCK // lanes), atol=1e-5)


@pytest.mark.parametrize("lanes", [False, True])
def test_scatter_adds_the_masked_residual_into_nine_rows(lanes):
    from emergence.rowsum.intrinsics import scatter_where_active

    @numba.njit
    def run(tg, cg, residuals, patterns, skills, samples):
        for b in range(samples.size):
            scatter_where_active(tg, cg, residuals[b], patterns[b], skills[b], samples[b])

    rng = np.random.default_rng(4)
    n = 60
    tg, cg, _ = random_tables(rng, rowsum.GROUPS, rowsum.GROUP_BITS)
    tg[...], cg[...] = 0.0, 1.0
    residuals = rng.standard_normal((n, rowsum.BLOCK) if lanes else n).astype(np.float32)
    patterns = rng.integers(0, 2**63, n, dtype=np.uint64) << np.uint64(1)
    patterns[::3] &= np.uint64(0x0000FFFF0000FFFF)      # whole quarters inactive: skipped
    skills = rng.integers(0, len(cg), n)
    samples = rng.integers(0, 2**32, n, dtype=np.uint64)
    run(tg, cg, residuals, patterns, skills, samples)
    masks = (patterns[:, None] >> np.arange(rowsum.BLOCK, dtype=np.uint64)) & np.uint64(1)
    e = masks * (residuals if lanes else residuals[:, None])
    expected_tg = np.zeros_like(tg)
    expected_cg = np.ones_like(cg)
    for b in range(n):
        expected_cg[skills[b]] += e[b]
        for g in range(rowsum.GROUPS):
            expected_tg[g, (int(samples[b]) >> (4 * g)) & 15] += e[b]
    assert np.allclose(tg, expected_tg, atol=1e-5) and np.allclose(cg, expected_cg, atol=1e-5)
    assert not tg[:, :, 0].any()                      # unit 0 is never active here


def test_unequal_widths_keep_their_padding_at_zero():
    cfg, _, fast = both_engines("mlp_params")
    for step in range(20):
        fast.engine.step(step, fast.lr_schedule(step))
    weights = fast.engine.member_parameters()["w1"]
    for member, width in enumerate(np.repeat(cfg.widths, cfg.n_seeds)):
        assert not weights[member, :, width:].any()


def test_lanes_layout_fills_every_lane_in_order_of_width():
    widths = [3] * 3 + [1] * 50 + [2] * 16
    layout = Layout("lanes", widths)
    assert layout.n_slots == 5 and np.bincount(layout.slot).tolist() == [16, 16, 16, 16, 5]
    assert layout.slot_width.tolist() == [1, 1, 1, 2, 3]
    assert layout.lane.max() < rowsum.LANES
    places = set(zip(layout.slot.tolist(), layout.lane.tolist(), strict=True))
    assert len(places) == len(widths)                         # every member has its own place
    assert all(layout.slot_width[layout.slot[i]] >= w for i, w in enumerate(widths))


def test_streams_differ_between_groups_and_are_shared_within_one():
    cfg, _, fast = both_engines("mlp_params", n_seeds=20)
    engine = fast.engine
    engine.compute_gradients(0)
    x = engine.data.x
    assert len({row.tobytes() for row in x}) == len(x)        # one stream per group
    targets = batch_targets(engine)[0, :, :engine.layout.lane[engine.layout.slot == 0].size]
    assert len({column.tobytes() for column in targets.T}) > 1  # own subsets, own targets


def test_online_draws_follow_the_skill_law_and_are_uniform_bits():
    cdf = np.cumsum([0.6, 0.3, 0.1])
    x = np.zeros((4, 50_000), np.uint64)
    k = np.zeros_like(x, dtype=np.int64)
    rowsum.draw_online(7, 3, 12, cdf, x, k)
    frequencies = np.bincount(k.ravel(), minlength=3) / k.size
    assert np.abs(frequencies - [0.6, 0.3, 0.1]).max() < 0.01
    bits = (x[..., None] >> np.arange(16, dtype=np.uint64)) & np.uint64(1)
    means = bits.reshape(-1, 16).mean(axis=0)
    assert np.abs(means[:12] - 0.5).max() < 0.01 and not means[12:].any()
    again = np.zeros_like(x)
    rowsum.draw_online(7, 3, 12, cdf, again, k)
    np.testing.assert_array_equal(x, again)
    rowsum.draw_online(7, 4, 12, cdf, again, k)
    assert (x != again).mean() > 0.99


def test_pack_bits_and_its_limit():
    bits = torch.tensor([[1, 0, 1, 1], [0, 0, 0, 1]], dtype=torch.uint8)
    assert pack_bits(bits).tolist() == [13, 8]
    smp = SkillSampler(member_subsets(2, 40, 3, [0]), 40, 0.6, 5.0)
    model = MLPEnsemble(1, smp.input_dim, 8, 0.1)
    with pytest.raises(ValueError, match="n_bits must be <= 32"):
        RowSumEnsemble(model, smp, "sgd", 0.0, ("online", 8, 0), evaluation_bits(smp, 4, 0))


def test_lanes_layout_refuses_fixed_datasets():
    smp = SkillSampler(member_subsets(2, 12, 2, [0, 1]), 12, 0.6, 5.0)
    model = MLPEnsemble(2, smp.input_dim, 4, 0.1)
    with pytest.raises(ValueError, match="lanes"):
        RowSumEnsemble(model, smp, "sgd", 0.0, ("fixed", [10, 20], 8, 0),
                       evaluation_bits(smp, 4, 0), layout="lanes")


@pytest.mark.parametrize("name", ["mlp_time", "mlp_data", "mlp_params"])
def test_runs_are_deterministic_for_a_seed(name):
    cfg = experiments.config(name, "quick")
    short = dataclasses.replace(cfg, n_steps=60, **({"record_every": 20} if name == "mlp_time"
                                                    else {}))
    first, second = short.run("cpu", engine="rowsum"), short.run("cpu", engine="rowsum")
    assert first.keys() == second.keys() and float(first["wall_s"]) > 0
    for key in first.keys() - {"wall_s"}:  # everything but the measured time
        np.testing.assert_array_equal(first[key], second[key])


def test_resume_from_a_checkpoint_is_bit_identical(tmp_path):
    cfg = dataclasses.replace(experiments.config("mlp_data", "quick"), n_steps=300)
    reference = cfg.run("cpu", engine="rowsum")
    checkpoint = tmp_path / "run.pt"
    parts = cfg.parts("cpu", engine="rowsum")
    with pytest.raises(TrainingPaused):
        train(parts.engine, parts.lr_schedule, cfg.n_steps, cfg.record_steps(), name="x",
              loss_limit=1e6, checkpoint=checkpoint, checkpoint_key="k", deadline=0.0,
              check_every=100)
    parts = cfg.parts("cpu", engine="rowsum")
    resumed = train(parts.engine, parts.lr_schedule, cfg.n_steps, cfg.record_steps(),
                    name="x", loss_limit=1e6, checkpoint=checkpoint, checkpoint_key="k")
    np.testing.assert_array_equal(resumed["strength"],
                                  reference["strength_history"].reshape(resumed["strength"].shape))


def test_divergence_is_caught_at_the_end_of_a_short_run():
    cfg = dataclasses.replace(experiments.config("mlp_time", "quick"), lr=50.0, n_steps=30,
                              record_every=10)
    with pytest.raises(TrainingDiverged, match="mlp_time"):
        cfg.run("cpu", engine="rowsum")


def emergence_steps(strength: np.ndarray, steps: np.ndarray, threshold: float = 0.5):
    """First recorded step at which each (seed, skill) passes ``threshold``; inf if never."""
    passed = strength >= threshold
    first = np.where(passed.any(axis=0), passed.argmax(axis=0), -1)
    return np.where(first >= 0, steps[np.maximum(first, 0)], np.inf)


def test_quick_time_runs_agree_with_the_torch_path_within_the_seed_spread():
    cfg = dataclasses.replace(experiments.config("mlp_time", "quick"), n_seeds=6)
    torch_run, fast_run = cfg.run("cpu", engine="torch"), cfg.run("cpu", engine="rowsum")
    for skill in range(3):                                    # skills that emerge in quick
        a = emergence_steps(torch_run["strength"], torch_run["steps"])[:, skill]
        b = emergence_steps(fast_run["strength"], fast_run["steps"])[:, skill]
        assert np.isfinite(a).all() and np.isfinite(b).all()
        spread = np.std(np.concatenate([a, b]), ddof=1)
        standard_error = spread * np.sqrt(1 / len(a) + 1 / len(b))
        assert abs(np.median(a) - np.median(b)) <= 3 * standard_error + cfg.record_every


AVX512_HOST = {name: True for name in rowsum.AVX512} | {"avx2": True, "prefer-256-bit": True}


def test_wide_vectors_only_on_avx512_cores_that_keep_their_clock():
    chosen = rowsum.wide_vector_features("sapphirerapids", AVX512_HOST)
    assert chosen.endswith(",-prefer-256-bit") and "+avx512f" in chosen.split(",")
    assert "+prefer-256-bit" not in chosen
    assert rowsum.wide_vector_features("cascadelake", AVX512_HOST) is None
    assert rowsum.wide_vector_features("icelake-server", AVX512_HOST | {"avx512bw": False}) is None
    assert rowsum.wide_vector_features("znver3", {"avx2": True}) is None


def _import_rowsum(env: dict) -> str:
    """NUMBA_CPU_FEATURES as a fresh interpreter leaves it after importing the kernels."""
    code = "import os; from emergence import rowsum; print(os.environ.get('NUMBA_CPU_FEATURES'))"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_vector_width_is_chosen_from_the_host_unless_the_user_chose():
    import llvmlite.binding as llvm
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUMBA_CPU")}
    expected = rowsum.wide_vector_features(llvm.get_host_cpu_name(),
                                           dict(llvm.get_host_cpu_features()))
    assert _import_rowsum(env) == str(expected)
    assert _import_rowsum({**env, "NUMBA_CPU_NAME": "generic"}) == "None"


@pytest.mark.skipif(not rowsum.WIDE_VECTORS, reason="this host's kernels are 256-bit already")
def test_256_bit_kernels_still_equal_autograd():
    """Where the kernels run with 512-bit vectors, also check the code other hosts get."""
    import llvmlite.binding as llvm
    env = {**os.environ, "NUMBA_CPU_FEATURES": llvm.get_host_cpu_features().flatten()}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             f"{__file__}::test_one_step_losses_and_gradients_equal_autograd"],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "5 passed" in result.stdout
