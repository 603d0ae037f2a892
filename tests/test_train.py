"""The batched trainer: optimizers equal torch.optim per network, samplers, evaluation,
divergence errors, and checkpoint/resume giving the same run as an uninterrupted one."""

import re
import time

import numpy as np
import pytest
import torch

from emergence.checkpoints import CheckpointError, TrainingPaused, load_checkpoint, save_checkpoint
from emergence.models import MLPEnsemble
from emergence.tasks import SparseParityTask
from emergence.train import (
    FixedDataset,
    MemberOptimizer,
    OnlineStream,
    SkillEvaluator,
    SkillSampler,
    TorchEnsemble,
    TrainingDiverged,
    constant_lr,
    halving_lr,
    member_subsets,
    train,
    train_step,
)

SEEDS = [11, 12, 13]


def sampler(n_skills=3, n_bits=10, m=2, seeds=SEEDS):
    subsets = member_subsets(n_skills, n_bits, m, seeds)
    return SkillSampler(subsets, n_bits, alpha=0.6, scale=2.0)


def test_sampler_targets_follow_each_members_task():
    smp = sampler()
    skill, bits = smp.draw(50, torch.Generator().manual_seed(0))
    targets = smp.targets(skill, bits)
    for i, seed in enumerate(SEEDS):
        task = SparseParityTask(3, 10, 2, alpha=0.6, scale=2.0, seed=seed)
        torch.testing.assert_close(targets[i], task.target(skill[i], bits[i]))
        torch.testing.assert_close(smp.encode(skill, bits)[i], task.encode(skill[i], bits[i]))


def test_sampler_skill_frequencies_follow_the_power_law():
    smp = sampler()
    skill, _ = smp.draw(20000, torch.Generator().manual_seed(1))
    freq = np.bincount(skill.flatten().numpy(), minlength=3) / skill.numel()
    np.testing.assert_allclose(freq, SparseParityTask(3, 10, 2, 0.6).probs(), atol=0.01)


@pytest.mark.parametrize("kind, wd", [("sgd", 0.0), ("adam", 0.0), ("adam", 0.01)])
def test_optimizer_matches_torch_optim_per_member(kind, wd):
    """A few steps of the ensemble equal each member trained alone with torch.optim."""
    torch.manual_seed(0)
    model = MLPEnsemble(3, 5, 4, 0.3, widths=[4, 2, 3], generator=torch.Generator().manual_seed(2))
    nets = [model.to_sequential(i) for i in range(3)]
    rates = [0.05, 0.01, 0.02]
    opt = MemberOptimizer(model.parameters(), kind, weight_decay=wd)
    make = torch.optim.SGD if kind == "sgd" else torch.optim.Adam
    singles = [make(net.parameters(), lr=r, weight_decay=wd)
               for net, r in zip(nets, rates, strict=True)]
    for _ in range(5):
        x, y = torch.rand(3, 16, 5), torch.randn(3, 16)
        loss = ((model(x) - y) ** 2).mean(dim=1)
        opt.zero_grad()
        loss.sum().backward()
        opt.step(torch.tensor(rates))
        for i, (net, single) in enumerate(zip(nets, singles, strict=True)):
            single.zero_grad()
            torch.nn.functional.mse_loss(net(x[i]).squeeze(-1), y[i]).backward()
            single.step()
    for i, net in enumerate(nets):
        w = net[0].weight.shape[0]
        torch.testing.assert_close(model.w1[i, :, :w].detach(), net[0].weight.detach().T,
                                   rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(model.w2[i, :w, 0].detach(), net[2].weight.detach()[0],
                                   rtol=1e-5, atol=1e-6)
        assert torch.all(model.w1[i, :, w:] == 0)


def test_optimizer_rejects_unknown_kind():
    with pytest.raises(ValueError, match="optimizer"):
        MemberOptimizer([], "rmsprop")


def test_halving_schedule_counts_epochs_per_member():
    schedule = halving_lr(0.05, [1, 4], every_epochs=10)
    np.testing.assert_allclose(schedule(0), [0.025, 0.025])
    np.testing.assert_allclose(schedule(10), [0.0125, 0.025])
    np.testing.assert_allclose(schedule(40), [0.05 / 2**5, 0.0125])
    with pytest.raises(ValueError, match="every_epochs"):
        halving_lr(0.05, [1], every_epochs=0)


def test_fixed_dataset_epochs_visit_every_sample_once():
    smp = sampler()
    data = FixedDataset(smp, [12, 40, 7], batch_size=10, seed=0)
    np.testing.assert_array_equal(data.steps_per_epoch, [1, 4, 1])
    np.testing.assert_array_equal(data.sizes, [12, 10, 7])
    np.testing.assert_array_equal(data.counts.sum(dim=1).numpy(), [12, 40, 7])
    seen = []
    for step in range(4):
        inputs, targets, weights = data.batch(step)
        torch.testing.assert_close(weights.sum(dim=1), torch.ones(3))
        seen.append(inputs[1, :10])
    rows = {tuple(r.tolist()) for r in torch.cat(seen)}
    everything = {tuple(r.tolist()) for r in data.inputs[1, :40]}
    assert rows == everything


def test_evaluator_measures_each_members_strength():
    smp = sampler()
    evaluator = SkillEvaluator(smp, 64, seed=0)
    for i, seed in enumerate(SEEDS):
        task = SparseParityTask(3, 10, 2, alpha=0.6, scale=2.0, seed=seed)
        skill, bits = task.decode(evaluator.inputs)
        expected = task.parity_sign(skill, bits).view(3, 64)
        torch.testing.assert_close(evaluator.signs[i], expected)

    class Oracle(torch.nn.Module):  # outputs the target of member 0 for all members
        width = 1

        def forward(self, x):
            return (2.0 * evaluator.signs[0].reshape(-1)[: len(x)]).expand(3, -1)

    strength, loss = evaluator(Oracle())
    torch.testing.assert_close(strength[0], torch.ones(3))
    torch.testing.assert_close(loss[0], torch.zeros(3))


def tiny_run(lr=(0.05, 0.05, 0.05), n_steps=60, **kwargs):
    smp = sampler()
    model = MLPEnsemble(3, smp.input_dim, 8, 0.1, generator=torch.Generator().manual_seed(0))
    data = OnlineStream(smp, 32, seed=1)
    opt = MemberOptimizer(model.parameters(), "sgd")
    rates = np.asarray(lr)
    engine = TorchEnsemble(model, opt, data, SkillEvaluator(smp, 32, seed=2))
    return train(engine, lambda step: rates, n_steps, [0, n_steps // 2, n_steps], name="tiny",
                 loss_limit=1e4, **kwargs)


def test_training_is_deterministic_and_shapes_are_right():
    a, b = tiny_run(), tiny_run()
    assert a["strength"].shape == (3, 3, 3) and a["loss"].shape == (3, 3, 3)
    np.testing.assert_array_equal(a["strength"], b["strength"])


def test_divergence_names_experiment_and_member():
    with pytest.raises(TrainingDiverged, match=r"'tiny': member 2 diverged"):
        tiny_run(lr=(0.05, 0.05, 1e4), check_every=10)


def test_bad_record_steps_raise():
    with pytest.raises(ValueError, match="record_steps"):
        smp = sampler()
        model = MLPEnsemble(3, smp.input_dim, 4, 0.1)
        engine = TorchEnsemble(model, MemberOptimizer(model.parameters(), "sgd"),
                               OnlineStream(smp, 4, 0), None)
        train(engine, constant_lr(0.1, 3), 10, [0, 20], name="x", loss_limit=1.0)


def test_resume_from_checkpoint_gives_the_uninterrupted_run(tmp_path):
    reference = tiny_run(n_steps=60)

    class Interrupt(Exception):
        pass

    original = OnlineStream.batch

    def failing(self, step):
        if step == 45:
            raise Interrupt
        return original(self, step)

    path = tmp_path / "ck.pt"
    OnlineStream.batch = failing
    try:
        with pytest.raises(Interrupt):
            tiny_run(n_steps=60, checkpoint=path, checkpoint_seconds=-1, check_every=20)
    finally:
        OnlineStream.batch = original
    assert path.exists() and load_checkpoint(path, "", "cpu")["step"] == 40
    resumed = tiny_run(n_steps=60, checkpoint=path, checkpoint_seconds=-1, check_every=20)
    np.testing.assert_array_equal(resumed["strength"], reference["strength"])
    assert not list(tmp_path.glob("*.tmp*"))


def test_checkpoint_of_another_config_is_refused(tmp_path):
    path = tmp_path / "ck.pt"
    tiny_run(n_steps=20, checkpoint=path, checkpoint_seconds=-1, check_every=10,
             checkpoint_key="a")
    with pytest.raises(CheckpointError, match="another configuration"):
        tiny_run(n_steps=20, checkpoint=path, checkpoint_key="b")


def test_every_damaged_byte_of_a_checkpoint_is_caught(tmp_path):
    path = tmp_path / "ck.pt"
    tiny_run(n_steps=20, checkpoint=path, checkpoint_seconds=-1, check_every=10)
    good = path.read_bytes()
    for offset in np.linspace(0, len(good) - 1, 25).astype(int):
        damaged = bytearray(good)
        damaged[offset] ^= 0x5A
        path.write_bytes(bytes(damaged))
        with pytest.raises(CheckpointError, match=re.escape(str(path))):
            tiny_run(n_steps=20, checkpoint=path)
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="damaged|truncated"):
        tiny_run(n_steps=20, checkpoint=path)


def test_a_checkpoint_past_the_last_step_is_refused(tmp_path):
    path = tmp_path / "ck.pt"
    tiny_run(n_steps=40, checkpoint=path, checkpoint_seconds=-1, check_every=20,
             deadline=time.monotonic() + 3600)
    state = load_checkpoint(path, "", "cpu")
    save_checkpoint(path, {**state, "step": 60})
    with pytest.raises(CheckpointError, match="past the run's 40 steps"):
        tiny_run(n_steps=40, checkpoint=path)


def test_a_failed_checkpoint_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("emergence.checkpoints.os.fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(tmp_path / "ck.pt", {"key": "", "step": 0})
    assert not any(tmp_path.iterdir())


def test_wall_time_adds_up_over_resumed_sessions(tmp_path):
    path = tmp_path / "ck.pt"
    with pytest.raises(TrainingPaused):
        tiny_run(n_steps=60, checkpoint=path, check_every=20, deadline=time.monotonic() - 1)
    state = load_checkpoint(path, "", "cpu")
    save_checkpoint(path, {**state, "wall_s": 1000.0})
    resumed = tiny_run(n_steps=60, checkpoint=path, check_every=20)
    assert 1000.0 < float(resumed["wall_s"]) < 1100.0


def test_train_step_returns_member_losses():
    smp = sampler()
    model = MLPEnsemble(3, smp.input_dim, 4, 0.1)
    opt = MemberOptimizer(model.parameters(), "sgd")
    loss = train_step(model, opt, OnlineStream(smp, 8, 0), torch.full((3,), 0.01), 0)
    assert loss.shape == (3,) and not loss.requires_grad


def test_deadline_pauses_with_a_checkpoint_and_the_run_resumes(tmp_path):
    reference = tiny_run(n_steps=60)
    path = tmp_path / "ck.pt"
    with pytest.raises(TrainingPaused, match="'tiny' paused at step 20"):
        tiny_run(n_steps=60, checkpoint=path, check_every=20, deadline=time.monotonic() - 1)
    resumed = tiny_run(n_steps=60, checkpoint=path, check_every=20)
    np.testing.assert_array_equal(resumed["strength"], reference["strength"])
