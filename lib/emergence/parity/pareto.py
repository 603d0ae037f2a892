"""Success of SGD on an offline sparse parity over width and sample size, dense and sparse init.

Edelman et al. (2023) train many 2-layer MLPs on ``m`` fixed samples of an ``(n, k)``-parity
and record whether each run reaches 100 % accuracy on fresh inputs within ``T`` steps: a
success probability on a grid of widths and sample sizes, once for the standard (dense) init
and once for the ``s``-sparse one. :class:`ParetoGrid` is one such grid, sized for a CPU;
:class:`RaggedParitySet` lets one ensemble hold members with different ``m``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import _validate, store
from ..experiments import register
from ..profiles import check_profile
from .lottery import count_tickets
from .model import ParityMLP
from .task import ParityTask
from .train import HeldOut, train_parity


class RaggedParitySet:
    """Fixed training sets of different sizes ``sizes[i]`` per member, read in shuffled
    minibatches of ``batch_size`` (<= the smallest size): each member permutes its own
    samples every epoch of ``ceil(m_i / batch_size)`` batches, as
    :class:`emergence.parity.task.FixedParitySet` does for one common size."""

    def __init__(self, task: ParityTask, sizes, batch_size: int, seed: int = 0) -> None:
        _validate.int_sequence("sizes", sizes)
        _validate.positive_int("batch_size", batch_size)
        _validate.non_negative_int("seed", seed)
        if len(sizes) != task.n_members:
            raise ValueError(f"sizes must have one entry per member ({task.n_members}), got "
                             f"{len(sizes)}")
        if batch_size > min(sizes):
            raise ValueError(f"batch_size must be <= the smallest size {min(sizes)}, got "
                             f"{batch_size}")
        device = task.device
        self.task, self.batch_size = task, batch_size
        self.sizes = torch.as_tensor(sizes, device=device)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.x, self.y = task.sample(max(sizes), self.generator)
        self.steps_per_epoch = -(-self.sizes // batch_size)
        self._order = torch.zeros_like(self.x[..., 0], dtype=torch.long)
        self._position = self.steps_per_epoch.clone()
        self._beyond = torch.arange(max(sizes), device=device)[None, :] >= self.sizes[:, None]

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        renew = self._position == self.steps_per_epoch
        if renew.any():
            keys = torch.rand(self._order.shape, generator=self.generator,
                              device=self._order.device).masked_fill_(self._beyond, 2.0)
            self._order[renew] = torch.argsort(keys, dim=1)[renew]
            self._position[renew] = 0
        start = torch.minimum(self._position * self.batch_size, self.sizes - self.batch_size)
        offsets = torch.arange(self.batch_size, device=start.device)
        index = torch.gather(self._order, 1, start[:, None] + offsets[None, :])
        self._position += 1
        x = torch.gather(self.x, 1, index[:, :, None].expand(-1, -1, self.task.n))
        return x, torch.gather(self.y, 1, index)


@dataclass(frozen=True, kw_only=True)
class ParetoGrid:
    """Success over ``widths`` x ``sample_sizes`` x seeds, for each init of ``sparsities``
    (0: the uniform Glorot init; s > 0: the s-sparse init), on one ``(n, k)``.

    One ensemble per (sparsity, width) holds every (m, seed) member; seed j has the same hidden
    set S and the same training samples at every width and init. A member succeeds at the first
    check (every ``check_every`` steps) with zero error on ``eval_size`` fresh inputs; it is then
    frozen. Arrays of ``run``: ``t_c`` (n_sparsities, n_widths, n_m, n_seeds) int, the success
    step, -1 = not within ``max_steps`` (an integer code: the store keeps floats finite);
    ``tickets`` (same shape, lottery tickets at init, see
    :func:`emergence.parity.lottery.count_tickets`; -1 for the dense init); ``widths``,
    ``sample_sizes``, ``sparsities``; ``cell_wall_s`` (n_sparsities, n_widths); ``wall_s``.
    """

    name: str
    profile: str
    n: int
    k: int
    widths: tuple[int, ...]
    sample_sizes: tuple[int, ...]
    sparsities: tuple[int, ...]
    n_seeds: int
    lr: float
    batch_size: int
    weight_decay: float
    loss: str
    max_steps: int
    check_every: int
    eval_size: int
    seed: int = 0
    kind = "pareto_grid"

    def __post_init__(self) -> None:
        store.check_name(self.name)
        check_profile(self.profile)
        for name in ("n", "k", "n_seeds", "batch_size", "max_steps", "check_every",
                     "eval_size"):
            _validate.positive_int(name, getattr(self, name))
        _validate.non_negative_int("seed", self.seed)
        if self.k > self.n:
            raise ValueError(f"k must lie in [1, n = {self.n}], got {self.k}")
        _validate.int_sequence("widths", self.widths)
        _validate.int_sequence("sample_sizes", self.sample_sizes)
        _validate.int_sequence("sparsities", self.sparsities, low=0)
        if max(self.sparsities) > self.n:
            raise ValueError(f"sparsities must be <= n = {self.n}, got {self.sparsities}")
        if self.batch_size > min(self.sample_sizes):
            raise ValueError(f"batch_size must be <= min(sample_sizes), got {self.batch_size}")
        _validate.finite_positive("lr", self.lr)
        _validate.finite("weight_decay", self.weight_decay)
        _validate.non_negative("weight_decay", self.weight_decay)
        _validate.one_of("loss", self.loss, ("hinge", "square", "correlation"))

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def task(self, device) -> ParityTask:
        """Every member's hidden set: seed j's S is shared across sample sizes."""
        base = ParityTask(self.n, self.k, self.n_seeds, seed=self.seed, device=device)
        return ParityTask(self.n, self.k, len(self.sample_sizes) * self.n_seeds,
                          subsets=base.subsets.repeat(len(self.sample_sizes), 1),
                          device=device)

    def run_cell(self, sparsity: int, width: int, device, seed: int) -> tuple:
        """Train one ensemble; returns ``t_c`` and ``tickets``, each (n_m, n_seeds)."""
        task = self.task(device)
        sizes = [m for m in self.sample_sizes for _ in range(self.n_seeds)]
        generator = torch.Generator(device=device).manual_seed(seed)
        init = {"init": "sparse", "s": sparsity} if sparsity else {"init": "uniform"}
        model = ParityMLP(task.n_members, self.n, width, generator=generator, device=device,
                          **init)
        tickets = count_tickets(model.w1.detach() != 0, task.relevant_mask()).cpu().numpy() \
            if sparsity else np.full(task.n_members, -1)
        data = RaggedParitySet(task, sizes, self.batch_size, seed=self.seed + 1)
        held_out = HeldOut(task, self.eval_size, min(self.eval_size, 512), seed=self.seed + 2)
        result = train_parity(model, data, held_out, self.lr, self.max_steps, loss=self.loss,
                              weight_decay=self.weight_decay, check_every=self.check_every)
        shape = (len(self.sample_sizes), self.n_seeds)
        return result.t_c.reshape(shape), tickets.reshape(shape)

    def run(self, device=None, progress: bool | None = False) -> dict:
        """Train every cell. On the CPU one thread is used: these batched products are small,
        and on two shared cores two threads measured many times slower than one."""
        device = torch.device(device or "cpu")
        threads = torch.get_num_threads()
        if device.type == "cpu":
            torch.set_num_threads(1)
        try:
            return self._run(device, progress)
        finally:
            torch.set_num_threads(threads)

    def _run(self, device, progress) -> dict:
        t_c, tickets, walls = [], [], []
        for i, sparsity in enumerate(self.sparsities):
            for j, width in enumerate(self.widths):
                start = time.perf_counter()
                t, n_tickets = self.run_cell(sparsity, width, device,
                                             seed=self.seed + 1000 * (i + 1) + j)
                walls.append(time.perf_counter() - start)
                t_c.append(t)
                tickets.append(n_tickets)
                if progress:
                    print(f"s={sparsity} width={width}: {np.isfinite(t).mean():.0%} solved, "
                          f"{walls[-1]:.0f} s", flush=True)
        shape = (len(self.sparsities), len(self.widths))
        steps = np.stack(t_c).reshape(*shape, *t_c[0].shape)
        return {"t_c": np.where(np.isfinite(steps), steps, -1).astype(np.int64),
                "tickets": np.stack(tickets).reshape(*shape, *tickets[0].shape),
                "widths": np.asarray(self.widths), "sample_sizes": np.asarray(self.sample_sizes),
                "sparsities": np.asarray(self.sparsities),
                "cell_wall_s": np.asarray(walls).reshape(shape), "wall_s": float(sum(walls))}


def make_pareto_grid(profile: str) -> ParetoGrid:
    """Paper: (n, k) = (20, 3), widths 10, 30, 100, 300, m = 100 ... 800 (6 sizes), 6 seeds,
    dense (Glorot uniform) and 2-sparse init, SGD lr 0.1, batch 32, hinge, weight decay 0.01,
    at most 5,000 steps, success = no error on 2,048 fresh inputs, checked every 50 steps.
    The paper's grid (widths to 1e5, m to 1e6, 50 seeds, 1e5 steps, several (n, k)) would take
    months of these two cores; its optimiser settings are not known to the book (Barak et
    al.'s are used, see the reproduction notes).

    Quick: (12, 3), widths 10 and 100, m = 40, 80, 160, 320, 3 seeds, 1,200 steps.
    """
    profile = check_profile(profile)
    common = {"name": "pareto_grid", "profile": profile, "k": 3, "sparsities": (0, 2),
              "lr": 0.1, "batch_size": 32, "weight_decay": 0.01, "loss": "hinge",
              "check_every": 50, "eval_size": 2048}
    if profile == "paper":
        return ParetoGrid(n=20, widths=(10, 30, 100, 300),
                          sample_sizes=(100, 200, 300, 400, 600, 800), n_seeds=6,
                          max_steps=5000, **common)
    return ParetoGrid(n=12, widths=(10, 100), sample_sizes=(40, 80, 160, 320), n_seeds=3,
                      max_steps=1200, **common)


register("pareto_grid", make_pareto_grid)
