"""Batched training of MLP ensembles on multitask sparse parity, entirely on the device.

Pieces, each small and swappable:

- :class:`SkillSampler` draws batches for all M members at once, each member with its own
  disjoint skill subsets (the authors drew fresh subsets per run), so a member's targets are
  the parities of *its* bits: one gather with an ``(M, n_s, m)`` index tensor.
- :class:`OnlineStream` gives fresh samples every step (unlimited data, time and width runs);
  :class:`FixedDataset` gives every member its own training set of size ``D`` and walks through
  it in shuffled minibatches, epoch after epoch (the data runs).
- :class:`SkillEvaluator` measures ``R_k / S`` and the per-skill loss of every member on fixed
  per-skill evaluation sets, on the device.
- :class:`MemberOptimizer` is SGD or Adam with one learning rate per member (the data runs halve
  the rate on a per-member epoch clock); elementwise, so identical to ``torch.optim`` for one net.
- :class:`TorchEnsemble` bundles those four as an *engine* (``step``, ``evaluate``, state);
  :mod:`emergence.cpu_ensemble` offers the CPU engine with the same methods.
- :func:`train` runs the loop over an engine: it sums the members' mean-squared errors (no ½, as
  ``torch.nn.MSELoss`` in the authors' code), so each member gets exactly its own gradient;
  records metrics into device tensors copied to the host once; stops with
  :class:`TrainingDiverged` naming the experiment and the member when a loss blows up; and can
  checkpoint and resume (:mod:`emergence.checkpoints`), so long runs fill the results store over
  several short sessions.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from . import _validate
from .checkpoints import CheckpointError, TrainingPaused, load_checkpoint, save_checkpoint
from .models import MLPEnsemble
from .tasks import SparseParityTask
from .theory.dynamics import skill_probs


class TrainingDiverged(RuntimeError):
    """A member's training loss became non-finite or exploded."""


def member_subsets(n_skills: int, n_bits: int, bits_per_skill: int,
                   seeds: Sequence[int]) -> torch.Tensor:
    """Skill subsets of every member, ``(M, n_skills, bits_per_skill)`` long (CPU).

    Member ``i`` uses the subsets of ``SparseParityTask(seed=seeds[i])``.
    """
    tasks = [SparseParityTask(n_skills, n_bits, bits_per_skill, alpha=1.0, seed=int(s))
             for s in seeds]
    return torch.stack([task.skill_bits for task in tasks])


class SkillSampler:
    """Draws encoded batches for M members, each with its own skill subsets, on ``device``.

    Skills follow ``P_s(k) ∝ k^-(alpha+1)``; skill bits are uniform; the target is
    ``scale * (-1)^(parity of the member's bits for that skill)`` (``+S`` for even parity,
    as :class:`emergence.tasks.SparseParityTask`).
    """

    def __init__(self, subsets: torch.Tensor, n_bits: int, alpha: float, scale: float,
                 device: torch.device | str = "cpu") -> None:
        _validate.positive_int("n_bits", n_bits)
        _validate.positive("scale", scale)
        self.device = torch.device(device)
        self.subsets = subsets.to(self.device)
        self.n_members, self.n_skills, self.bits_per_skill = subsets.shape
        self.n_bits = n_bits
        self.alpha = float(alpha)
        self.scale = float(scale)
        cdf = np.cumsum(skill_probs(self.n_skills, alpha))
        self.cdf = torch.as_tensor(cdf, dtype=torch.float32, device=self.device)
        self.rows = torch.arange(self.n_members, device=self.device)[:, None]

    @property
    def input_dim(self) -> int:
        return self.n_skills + self.n_bits

    def draw(self, n: int, generator: torch.Generator | None = None):
        """``n`` samples per member: skills ``(M, n)`` long and bits ``(M, n, n_bits)`` uint8."""
        uniform = torch.rand(self.n_members, n, generator=generator, device=self.device)
        skill = torch.searchsorted(self.cdf, uniform).clamp_(max=self.n_skills - 1)
        bits = torch.randint(0, 2, (self.n_members, n, self.n_bits), generator=generator,
                             device=self.device, dtype=torch.uint8)
        return skill, bits

    def targets(self, skill: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """``scale * g_skill`` for every member's own subsets, ``(M, n)`` float32."""
        owned = self.subsets[self.rows, skill]                       # (M, n, m)
        parity = torch.gather(bits, 2, owned).sum(dim=-1) % 2
        return self.scale * (1.0 - 2.0 * parity.to(torch.float32))

    def encode(self, skill: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """One-hot control bits then skill bits, float32 0/1, shape ``(..., n_s + n_b)``.

        Written in place into one tensor: no integer one-hot and no concatenation, which
        matters at 640 members x 4000 samples per step.
        """
        inputs = torch.empty((*skill.shape, self.input_dim), device=skill.device)
        inputs[..., self.n_skills:].copy_(bits)
        inputs[..., :self.n_skills].zero_()
        inputs.scatter_(-1, skill.unsqueeze(-1), 1.0)
        return inputs


class OnlineStream:
    """Fresh i.i.d. samples every step: each member draws its own batch of ``batch_size``."""

    def __init__(self, sampler: SkillSampler, batch_size: int, seed: int) -> None:
        _validate.positive_int("batch_size", batch_size)
        self.sampler = sampler
        self.batch_size = batch_size
        self.generator = torch.Generator(device=sampler.device).manual_seed(int(seed))

    def batch_sizes(self) -> np.ndarray:
        return np.full(self.sampler.n_members, self.batch_size)

    def batch(self, step: int):
        """``(inputs (M, B, d), targets (M, B), weights)``; weights None means a plain mean."""
        skill, bits = self.sampler.draw(self.batch_size, self.generator)
        return self.sampler.encode(skill, bits), self.sampler.targets(skill, bits), None

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"].cpu())


class FixedDataset:
    """Every member trains on its own fixed set of ``n_data[i]`` samples, in shuffled epochs.

    As in the authors' data runs, an epoch has ``max(1, D // batch_size)`` steps and each step
    takes ``D // steps_per_epoch`` samples (full batch when ``D < 2 * batch_size``); members
    with different D are padded to the largest batch and the padding gets zero weight. The set
    is reshuffled at the start of each of the member's epochs (samples left over by the integer
    division sit out that epoch only).
    """

    def __init__(self, sampler: SkillSampler, n_data: Sequence[int], batch_size: int,
                 seed: int) -> None:
        _validate.positive_int("batch_size", batch_size)
        n_data = np.asarray(n_data, dtype=np.int64)
        if n_data.shape != (sampler.n_members,) or np.any(n_data < 1):
            raise ValueError(f"n_data must hold one integer >= 1 per member "
                             f"({sampler.n_members}), got {n_data!r}")
        self.sampler = sampler
        device = sampler.device
        self.generator = torch.Generator(device=device).manual_seed(int(seed))
        n_max = int(n_data.max())
        skill, bits = sampler.draw(n_max, self.generator)
        self.inputs = sampler.encode(skill, bits)
        self.targets = sampler.targets(skill, bits)
        self.n_data = n_data
        self.steps_per_epoch, self.sizes = self.epochs(n_data, batch_size)
        self.counts = self.skill_counts(skill, n_data, sampler.n_skills)   # (M, n_s)
        sizes = torch.as_tensor(n_data, device=device)
        self._in_set = torch.arange(n_max, device=device)[None, :] < sizes[:, None]
        self._offsets = torch.arange(int(self.sizes.max()), device=device)
        self._sizes = torch.as_tensor(self.sizes, device=device)
        self._steps_per_epoch = torch.as_tensor(self.steps_per_epoch, device=device)
        self._weights = (self._offsets[None, :] < self._sizes[:, None]) / self._sizes[:, None]
        self.order = torch.arange(n_max, device=device).repeat(sampler.n_members, 1)

    @staticmethod
    def epochs(n_data: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """``(steps_per_epoch, batch sizes)`` of each member: the authors' epoch rule."""
        steps_per_epoch = np.maximum(1, n_data // batch_size)
        return steps_per_epoch, n_data // steps_per_epoch

    @staticmethod
    def skill_counts(skill: torch.Tensor, n_data: np.ndarray, n_skills: int) -> torch.Tensor:
        """``(M, n_s)``: how many of each member's first ``n_data`` samples have each skill."""
        sizes = torch.as_tensor(n_data, device=skill.device)
        in_set = torch.arange(skill.shape[1], device=skill.device)[None, :] < sizes[:, None]
        return (torch.nn.functional.one_hot(skill, n_skills) * in_set[..., None]).sum(dim=1)

    def batch_sizes(self) -> np.ndarray:
        return self.sizes

    def batch(self, step: int):
        """The step's minibatch of every member, padded; weights ``1/size`` on real samples.

        Only Python integers cross to the device, so the step never waits for the host.
        """
        if np.any((step % self.steps_per_epoch == 0) & (self.steps_per_epoch > 1)):
            self._shuffle(torch.remainder(step, self._steps_per_epoch) == 0)
        start = torch.remainder(step, self._steps_per_epoch) * self._sizes
        position = (start[:, None] + self._offsets[None, :]).clamp_(max=self.order.shape[1] - 1)
        index = torch.gather(self.order, 1, position)
        inputs = self.inputs[self.sampler.rows, index]
        return inputs, torch.gather(self.targets, 1, index), self._weights

    def _shuffle(self, rows: torch.Tensor) -> None:
        """New random order of each member's own samples, for the members flagged in ``rows``."""
        keys = torch.rand(self.order.shape, generator=self.generator, device=self.sampler.device)
        keys = torch.where(self._in_set, keys, 2.0)                 # padding stays at the end
        self.order = torch.where(rows[:, None], torch.argsort(keys, dim=1), self.order)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self.order}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"].cpu())
        self.order.copy_(state["order"])


def evaluation_bits(sampler: SkillSampler, n_per_skill: int, seed: int) -> torch.Tensor:
    """The skill bits of the evaluation set, ``(n_s * n_per_skill, n_b)`` uint8, skill-major.

    One draw shared by every member and by both engines, so the torch and the CPU engine
    measure on the same inputs.
    """
    generator = torch.Generator(device=sampler.device).manual_seed(int(seed))
    return torch.randint(0, 2, (sampler.n_skills * n_per_skill, sampler.n_bits),
                         generator=generator, device=sampler.device, dtype=torch.uint8)


class SkillEvaluator:
    """``R_k / S`` and ``L_k`` of every member on fixed per-skill evaluation sets.

    The paper draws 20,000 inputs of each skill once and reuses them. Here the skill bits of
    those inputs are shared by all members (one input tensor, evaluated in chunks), while each
    member's targets use its own subsets, so each member still sees an i.i.d. evaluation set of
    its own task.
    """

    def __init__(self, sampler: SkillSampler, n_per_skill: int, seed: int,
                 chunk_elements: int = 2**25) -> None:
        _validate.positive_int("n_per_skill", n_per_skill)
        device = sampler.device
        n_s, n = sampler.n_skills, n_per_skill
        skill = torch.arange(n_s, device=device).repeat_interleave(n)
        bits = evaluation_bits(sampler, n_per_skill, seed)
        self.inputs = sampler.encode(skill, bits)                      # (n_s * n, d), shared
        signs = []
        for k in range(n_s):
            owned = bits[k * n:(k + 1) * n][:, sampler.subsets[:, k, :]]   # (n, M, m)
            signs.append(1.0 - 2.0 * (owned.sum(dim=-1) % 2).T.to(torch.float32))
        self.signs = torch.stack(signs, dim=1)                          # (M, n_s, n)
        self.scale = sampler.scale
        self.chunk_elements = chunk_elements

    @torch.no_grad()
    def __call__(self, model: MLPEnsemble) -> tuple[torch.Tensor, torch.Tensor]:
        """``(strength, loss)``, both ``(M, n_s)``: ``R_k / S`` and ``½ mean (S g_k - f)²``."""
        n_members, n_skills, n = self.signs.shape
        chunk = max(1, self.chunk_elements // (n_members * model.width))
        outputs = torch.cat([model(self.inputs[i:i + chunk])
                             for i in range(0, len(self.inputs), chunk)], dim=1)
        outputs = outputs.view(n_members, n_skills, n)
        strength = (outputs * self.signs).mean(dim=-1) / self.scale
        loss = 0.5 * ((self.scale * self.signs - outputs) ** 2).mean(dim=-1)
        return strength, loss


class MemberOptimizer:
    """SGD or Adam over stacked member parameters, with a learning rate per member.

    The update is elementwise, so member i follows exactly what ``torch.optim.SGD`` /
    ``torch.optim.Adam`` (default betas and eps, L2 ``weight_decay`` added to the gradient,
    not decoupled) would do to that network alone.
    """

    KINDS = ("sgd", "adam")

    def __init__(self, params: Sequence[torch.nn.Parameter], kind: str,
                 weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"optimizer must be one of {self.KINDS}, got {kind!r}")
        _validate.non_negative("weight_decay", weight_decay)
        self.params = list(params)
        self.kind, self.weight_decay, self.betas, self.eps = kind, weight_decay, betas, eps
        self.n_steps = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params] if kind == "adam" else []
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params] if kind == "adam" else []

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self, lr: torch.Tensor) -> None:
        """One update with per-member learning rates ``lr`` of shape ``(M,)``."""
        self.n_steps += 1
        for i, param in enumerate(self.params):
            grad = param.grad
            if self.weight_decay:
                grad = grad.add(param, alpha=self.weight_decay)
            rate = lr.view(-1, *([1] * (param.dim() - 1)))
            if self.kind == "sgd":
                param.sub_(rate * grad)
            else:
                self._adam(param, grad, rate, i)

    def _adam(self, param, grad, rate, i) -> None:
        beta1, beta2 = self.betas
        self.exp_avg[i].lerp_(grad, 1.0 - beta1)
        self.exp_avg_sq[i].mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        correction1 = 1.0 - beta1**self.n_steps
        correction2 = (1.0 - beta2**self.n_steps) ** 0.5
        denom = (self.exp_avg_sq[i].sqrt() / correction2).add_(self.eps)
        param.sub_((rate / correction1) * self.exp_avg[i] / denom)

    def state_dict(self) -> dict:
        return {"n_steps": self.n_steps, "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    def load_state_dict(self, state: dict) -> None:
        self.n_steps = int(state["n_steps"])
        for mine, stored in zip(self.exp_avg + self.exp_avg_sq,
                                state["exp_avg"] + state["exp_avg_sq"], strict=True):
            mine.copy_(stored)


def constant_lr(lr: float, n_members: int) -> Callable[[int], np.ndarray]:
    """The same fixed learning rate for every member at every step."""
    _validate.positive("lr", lr)
    rates = np.full(n_members, float(lr))
    return lambda step: rates


def halving_lr(lr: float, steps_per_epoch: Sequence[int],
               every_epochs: int) -> Callable[[int], np.ndarray]:
    """The authors' data-run schedule: halve at epoch 0 and every ``every_epochs`` epochs.

    Epochs are counted per member (``steps_per_epoch`` may differ), so the rate at step t is
    ``lr * 0.5 ** (1 + (t // steps_per_epoch) // every_epochs)``.
    """
    _validate.positive("lr", lr)
    _validate.positive_int("every_epochs", every_epochs)
    steps_per_epoch = np.asarray(steps_per_epoch, dtype=np.int64)
    return lambda step: lr * 0.5 ** (1 + (step // steps_per_epoch) // every_epochs)


def train_step(model: MLPEnsemble, optimizer: MemberOptimizer, data, lr: torch.Tensor,
               step: int) -> torch.Tensor:
    """One update of every member; returns the members' training losses ``(M,)`` (detached).

    Each member's loss is its mean squared error over its own batch (no ½, as MSELoss); the
    sum over members is differentiated, so every member gets its own mean-loss gradient.
    """
    inputs, targets, weights = data.batch(step)
    squared = (model(inputs) - targets) ** 2
    member_loss = squared.mean(dim=1) if weights is None else (squared * weights).sum(dim=1)
    optimizer.zero_grad()
    member_loss.sum().backward()
    optimizer.step(lr)
    return member_loss.detach()


class TorchEnsemble:
    """The torch path as an engine: model, optimiser, data and evaluator behind four methods.

    An engine is what :func:`train` drives: ``step(step, lr)`` updates every member at the
    ``(M,)`` learning rates and returns the members' training losses (a tensor or an array),
    ``evaluate()`` returns ``(strength, loss)`` of shape ``(M, n_s)``, and ``state_dict`` /
    ``load_state_dict`` carry everything a resumed run needs. The CPU engine,
    :class:`emergence.cpu_ensemble.RowSumEnsemble`, offers the same four.
    """

    def __init__(self, model: MLPEnsemble, optimizer: MemberOptimizer, data, evaluator) -> None:
        self.model, self.optimizer, self.data, self.evaluator = model, optimizer, data, evaluator
        self.n_members, self.n_skills = model.n_members, data.sampler.n_skills
        self._lr_host, self._lr = None, None

    def step(self, step: int, lr: np.ndarray) -> torch.Tensor:
        if self._lr_host is None or not np.array_equal(lr, self._lr_host):
            self._lr_host = np.array(lr, copy=True)
            self._lr = torch.as_tensor(lr, dtype=torch.float32, device=self.model.w1.device)
        return train_step(self.model, self.optimizer, self.data, self._lr, step)

    def evaluate(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.evaluator(self.model)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "data": self.data.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.data.load_state_dict(state["data"])


def train(engine, lr_schedule, n_steps: int, record_steps: Sequence[int], *, name: str,
          loss_limit: float, progress: bool | None = False,
          checkpoint: str | Path | None = None, checkpoint_key: str = "",
          checkpoint_seconds: float = 60.0, check_every: int = 100,
          deadline: float | None = None) -> dict[str, np.ndarray]:
    """Train every member of ``engine`` for ``n_steps``, evaluating at ``record_steps``.

    ``engine`` is a :class:`TorchEnsemble` or a :class:`emergence.cpu_ensemble.RowSumEnsemble`.
    Returns numpy arrays ``steps`` (n_rec,), ``strength`` and ``loss`` (n_rec, M, n_s), and
    ``wall_s`` (0-d): the training wall time, summed over the sessions of a resumed run.
    ``lr_schedule(step)`` gives the ``(M,)`` learning rates. A member whose training loss is
    non-finite or above ``loss_limit`` stops the run with :class:`TrainingDiverged` naming
    ``name`` and the member (checked every ``check_every`` steps and at the end).
    With ``checkpoint`` set, the state is saved there every ``checkpoint_seconds`` and a run
    finding a checkpoint with the same ``checkpoint_key`` resumes from it. With a
    ``deadline`` (a ``time.monotonic()`` value) and a checkpoint, a run still going at the
    deadline saves its state and raises :class:`~emergence.checkpoints.TrainingPaused`.
    """
    _validate.positive_int("n_steps", n_steps)
    record_steps = np.asarray(record_steps, dtype=np.int64)
    if (record_steps.ndim != 1 or record_steps.size == 0 or np.any(np.diff(record_steps) <= 0)
            or record_steps[0] < 0 or record_steps[-1] > n_steps):
        raise ValueError(f"record_steps must be increasing integers in [0, {n_steps}]")
    loop = _Loop(engine, lr_schedule, record_steps, name, loss_limit)
    if checkpoint is not None and Path(checkpoint).exists():
        loop.load(checkpoint, checkpoint_key)
        if loop.step > n_steps:
            raise CheckpointError(f"checkpoint {checkpoint} is at step {loop.step}, past the "
                                  f"run's {n_steps} steps; delete it to start the run over")
    show = sys.stdout.isatty() if progress is None else progress
    return _run_loop(loop, n_steps, checkpoint, checkpoint_key, checkpoint_seconds,
                     check_every, _progress_bar(n_steps, loop.step, name) if show else None,
                     deadline)


def _run_loop(loop, n_steps, checkpoint, checkpoint_key, checkpoint_seconds, check_every,
              bar, deadline) -> dict[str, np.ndarray]:
    last_save = time.monotonic()
    while True:
        loop.record_if_due()
        if loop.step == n_steps:
            break
        loop.train_step()
        if loop.step % check_every == 0 or loop.step == n_steps:
            loop.check()
            if bar is not None:
                bar.update(loop.step - bar.n)
            if checkpoint is None:
                continue
            if deadline is not None and time.monotonic() > deadline and loop.step < n_steps:
                loop.save(checkpoint, checkpoint_key)
                raise TrainingPaused(f"experiment {loop.name!r} paused at step {loop.step} of "
                                     f"{n_steps}; run again to resume from {checkpoint}")
            if time.monotonic() - last_save > checkpoint_seconds:
                loop.save(checkpoint, checkpoint_key)
                last_save = time.monotonic()
    if bar is not None:
        bar.close()
    return loop.results()


def _host(values) -> np.ndarray:
    """A tensor (any device) or an array, as a numpy array."""
    return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else \
        np.asarray(values)


class _Loop:
    """State of one training run: the step counter, the records and the divergence flags.

    Records live on the host (one small copy per record); the divergence flags stay in the
    engine's own type (on the GPU for the torch path), so a step never waits for the host.
    """

    def __init__(self, engine, lr_schedule, record_steps, name, loss_limit) -> None:
        self.engine, self.lr_schedule, self.name = engine, lr_schedule, name
        self.record_steps, self.loss_limit = record_steps, float(loss_limit)
        shape = (len(record_steps), engine.n_members, engine.n_skills)
        self.strength = np.zeros(shape, np.float32)
        self.loss = np.zeros(shape, np.float32)
        self.bad = None
        self.bad_eval = np.zeros(engine.n_members, dtype=bool)
        self.step, self.n_recorded = 0, 0
        self.wall_before, self.started = 0.0, time.perf_counter()

    def record_if_due(self) -> None:
        if self.n_recorded < len(self.record_steps) and \
                self.step == self.record_steps[self.n_recorded]:
            strength, loss = (_host(values) for values in self.engine.evaluate())
            self.strength[self.n_recorded] = strength
            self.loss[self.n_recorded] = loss
            self.bad_eval |= ~np.isfinite(strength).all(axis=1)
            self.n_recorded += 1

    def train_step(self) -> None:
        member_loss = self.engine.step(self.step, self.lr_schedule(self.step))
        diverged = ~(member_loss < self.loss_limit)
        self.bad = diverged if self.bad is None else self.bad | diverged
        self.step += 1

    def check(self) -> None:
        bad = self.bad_eval if self.bad is None else self.bad_eval | _host(self.bad)
        if bad.any():
            member = int(np.flatnonzero(bad)[0])
            raise TrainingDiverged(
                f"experiment {self.name!r}: member {member} diverged (training loss non-finite "
                f"or above {self.loss_limit:g}) by step {self.step}; lower the learning rate")

    def wall_s(self) -> float:
        """Training wall time so far, over every session that resumed this run."""
        return self.wall_before + time.perf_counter() - self.started

    def results(self) -> dict[str, np.ndarray]:
        self.check()
        return {"steps": self.record_steps.copy(), "strength": self.strength.copy(),
                "loss": self.loss.copy(), "wall_s": np.asarray(self.wall_s())}

    def save(self, path, key: str) -> None:
        state = {"key": key, "step": self.step, "n_recorded": self.n_recorded,
                 "strength": torch.from_numpy(self.strength), "loss": torch.from_numpy(self.loss),
                 "engine": self.engine.state_dict(), "wall_s": self.wall_s()}
        save_checkpoint(path, state)

    def load(self, path, key: str) -> None:
        state = load_checkpoint(path, key, "cpu")
        self.step, self.n_recorded = int(state["step"]), int(state["n_recorded"])
        self.wall_before, self.started = float(state["wall_s"]), time.perf_counter()
        self.strength[...] = state["strength"].numpy()
        self.loss[...] = state["loss"].numpy()
        self.engine.load_state_dict(state["engine"])


def _progress_bar(total: int, initial: int, name: str):
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc=name, unit="step", mininterval=1.0)
