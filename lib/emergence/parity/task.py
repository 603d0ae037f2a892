"""The (n, k)-sparse parity task, drawn on the device, one hidden subset S per ensemble member.

Inputs are uniform on {±1}^n and the label is the parity χ_S(x) = ∏_{i∈S} x_i of the k bits
in S. Every member of an ensemble has its own S (so many independent trials share one tensor
model), or all members share one S. Two data regimes:

- :class:`OnlineParity`: a fresh batch per step (Barak et al. 2022, all main results);
- :class:`FixedParitySet`: a fixed training set of ``m`` samples per member, visited in
  shuffled minibatches, epoch after epoch (the finite-sample, multi-pass setting).

Both yield ``(x, y)`` with ``x`` of shape ``(M, B, n)`` and ``y`` of shape ``(M, B)``, as the
batched models of :mod:`emergence.parity.model` expect.
"""

from __future__ import annotations

import torch

from .. import _validate


def random_subsets(n: int, k: int, n_members: int, generator: torch.Generator,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """``(M, k)`` long tensor: for each member k distinct indices of [0, n), sorted."""
    _check_nk(n, k)
    _validate.positive_int("n_members", n_members)
    keys = torch.rand((n_members, n), generator=generator, device=device)
    return torch.sort(torch.argsort(keys, dim=1)[:, :k], dim=1).values


def random_inputs(n_members: int, batch: int, n: int, generator: torch.Generator,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """``(M, B, n)`` float tensor of independent uniform ±1 bits."""
    bits = torch.randint(0, 2, (n_members, batch, n), generator=generator, device=device)
    return (2 * bits - 1).to(torch.float32)


class ParityTask:
    """The (n, k)-parity for ``n_members`` trials.

    Parameters
    ----------
    n : input length, >= 1.
    k : parity degree |S|, in [1, n].
    n_members : number of members M, >= 1.
    seed : seeds the subsets (``subsets`` given: unused).
    shared : if True all members use the same S (member 0's), e.g. to compare inits on one task.
    subsets : optional explicit ``(M, k)`` index tensor (overrides ``seed`` and ``shared``).
    device : where subsets and data live.
    """

    def __init__(self, n: int, k: int, n_members: int = 1, seed: int = 0, shared: bool = False,
                 subsets: torch.Tensor | None = None,
                 device: torch.device | str = "cpu") -> None:
        _check_nk(n, k)
        _validate.positive_int("n_members", n_members)
        _validate.non_negative_int("seed", seed)
        self.n, self.k, self.device = n, k, torch.device(device)
        if subsets is None:
            generator = torch.Generator(device=self.device).manual_seed(seed)
            subsets = random_subsets(n, k, 1 if shared else n_members, generator, self.device)
            subsets = subsets.expand(n_members, k).clone()
        subsets = torch.as_tensor(subsets, dtype=torch.long, device=self.device)
        if subsets.shape != (n_members, k) or subsets.min() < 0 or subsets.max() >= n:
            raise ValueError(f"subsets must be an ({n_members}, {k}) tensor of indices in "
                             f"[0, {n}), got shape {tuple(subsets.shape)}")
        self.subsets = subsets

    @property
    def n_members(self) -> int:
        return self.subsets.shape[0]

    def labels(self, x: torch.Tensor) -> torch.Tensor:
        """χ_S(x) per member: ``x`` (M, B, n) -> (M, B)."""
        index = self.subsets[:, None, :].expand(x.shape[0], x.shape[1], self.k)
        return torch.gather(x, 2, index).prod(dim=2)

    def relevant_mask(self) -> torch.Tensor:
        """``(M, n)`` boolean: True on each member's relevant coordinates S."""
        mask = torch.zeros((self.n_members, self.n), dtype=torch.bool, device=self.device)
        return mask.scatter_(1, self.subsets, True)

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh labelled batch ``(x, y)`` for every member."""
        _validate.positive_int("batch", batch)
        x = random_inputs(self.n_members, batch, self.n, generator, self.device)
        return x, self.labels(x)


class OnlineParity:
    """Fresh batches of ``batch_size`` samples per member at every step.

    ``random_labels=True`` replaces the labels by independent fair ±1 coins: the control run
    in which there is nothing to learn (hidden-progress measures must stay flat there).
    """

    def __init__(self, task: ParityTask, batch_size: int, seed: int = 0,
                 random_labels: bool = False) -> None:
        _validate.positive_int("batch_size", batch_size)
        _validate.non_negative_int("seed", seed)
        self.task, self.batch_size, self.random_labels = task, batch_size, bool(random_labels)
        self.generator = torch.Generator(device=task.device).manual_seed(seed)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.task.sample(self.batch_size, self.generator)
        if self.random_labels:
            y = random_inputs(y.shape[0], y.shape[1], 1, self.generator, y.device)[..., 0]
        return x, y


class FixedParitySet:
    """A fixed training set of ``m`` samples per member, read in shuffled minibatches.

    Each epoch every member's ``m`` samples are permuted independently and cut into
    ``ceil(m / batch_size)`` minibatches (the last one may be smaller: it is drawn as the last
    ``batch_size`` of the permutation instead, so every batch has the same size and every
    sample is seen at least once per epoch). ``batch_size >= m`` means full-batch descent.
    """

    def __init__(self, task: ParityTask, m: int, batch_size: int, seed: int = 0) -> None:
        _validate.positive_int("m", m)
        _validate.positive_int("batch_size", batch_size)
        _validate.non_negative_int("seed", seed)
        self.task, self.m, self.batch_size = task, m, min(batch_size, m)
        self.generator = torch.Generator(device=task.device).manual_seed(seed)
        self.x, self.y = task.sample(m, self.generator)
        self.steps_per_epoch = -(-m // self.batch_size)
        self._order, self._position = None, self.steps_per_epoch

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._position == self.steps_per_epoch:
            keys = torch.rand((self.task.n_members, self.m), generator=self.generator,
                              device=self.task.device)
            self._order, self._position = torch.argsort(keys, dim=1), 0
        start = min(self._position * self.batch_size, self.m - self.batch_size)
        index = self._order[:, start:start + self.batch_size]
        self._position += 1
        x = torch.gather(self.x, 1, index[:, :, None].expand(-1, -1, self.task.n))
        return x, torch.gather(self.y, 1, index)


def _check_nk(n: int, k: int) -> None:
    _validate.positive_int("n", n)
    _validate.positive_int("k", k)
    if k > n:
        raise ValueError(f"k must lie in [1, n={n}], got {k}")
