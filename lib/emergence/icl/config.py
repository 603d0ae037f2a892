"""The settings of ICL-MC training: the shared part (:class:`ChainTraining`) and the
transformer experiment (:class:`ICLConfig`) with its ``run``.

An experiment in the sense of :mod:`emergence.experiments`: a frozen, validated record of every
setting (the results store hashes ``to_dict()``), whose ``run(device)`` trains all members as
one batched model and returns the last-token measurements of :mod:`emergence.icl.train`.
Members come in groups, one per entry of ``unigram_free`` (the fraction of each batch drawn
from the doubly stochastic prior, which has no unigram signal), ``n_seeds`` members per group.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .. import _validate
from ..profiles import check_profile
from . import strategies
from .model import AttentionOnlyTransformer
from .train import train


@dataclass(frozen=True)
class ChainTraining:
    """What every ICL-MC training experiment shares: the task, the members and the schedule.

    Task: ``k`` states, sequences of ``length`` tokens. Members: one group per entry of
    ``unigram_free`` (the fraction of each batch drawn from the doubly stochastic prior),
    ``n_seeds`` members per group, each with ``batch_size`` fresh chains per step for
    ``n_steps`` steps. Measurement: every ``record_every`` steps on ``n_test`` fixed
    Dirichlet(1) chains. Subclasses add the model and the optimiser (``build``,
    ``optimiser``) and name themselves in ``to_dict`` (``kind``). The chains are bigram chains
    (``order`` 2, a class constant); :class:`NGramConfig` makes the order a setting.
    """

    order: ClassVar[int] = 2

    name: str = "icl"
    profile: str = "quick"
    k: int = 2
    length: int = 100
    batch_size: int = 64
    n_steps: int = 2000
    record_every: int = 25
    n_test: int = 512
    unigram_free: tuple[float, ...] = (0.0,)
    n_seeds: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        check_profile(self.profile)
        for name in ("length", "batch_size", "n_steps", "record_every", "n_test", "n_seeds"):
            _validate.positive_int(name, getattr(self, name))
        _validate.non_negative_int("seed", self.seed)
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 2:
            raise ValueError(f"k must be an integer >= 2, got {self.k!r}")
        if not self.unigram_free or not all(0.0 <= f <= 1.0 for f in self.unigram_free):
            raise ValueError(f"unigram_free must be a non-empty tuple of fractions in [0, 1], "
                             f"got {self.unigram_free!r}")

    @property
    def n_members(self) -> int:
        return len(self.unigram_free) * self.n_seeds

    def member_unigram_free(self) -> np.ndarray:
        """Each member's doubly stochastic fraction, ``(n_members,)``, groups in order."""
        return np.repeat(np.asarray(self.unigram_free), self.n_seeds)

    def to_dict(self) -> dict:
        """Every setting, JSON-serialisable (tuples become lists); the store hashes this."""
        out = dataclasses.asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in out.items()}

    def replace(self, **changes):
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def record_steps(self) -> np.ndarray:
        """The steps at which the members are measured (step 0 and every ``record_every``)."""
        return np.unique(np.r_[np.arange(0, self.n_steps + 1, self.record_every), self.n_steps])


@dataclass(frozen=True)
class ICLConfig(ChainTraining):
    """One ICL-MC transformer experiment.

    The settings of :class:`ChainTraining`, plus the model (width ``d``, ``n_layers`` one-head
    attention layers, ``dropout``) and AdamW with ``lr``, ``betas`` and ``weight_decay``
    (Linear weights only).
    """

    name: str = "icl_markov"
    d: int = 16
    n_layers: int = 2
    dropout: float = 0.1
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        _validate.positive_int("d", self.d)
        _validate.positive_int("n_layers", self.n_layers)
        _validate.finite_positive("lr", self.lr)
        _validate.non_negative("weight_decay", self.weight_decay)
        _validate.in_half_open_interval("dropout", self.dropout, 0.0, 1.0)
        _validate.in_half_open_interval("betas", self.betas, 0.0, 1.0)
        if len(self.betas) != 2:
            raise ValueError(f"betas must be a pair, got {self.betas!r}")

    def to_dict(self) -> dict:
        """Every setting, JSON-serialisable; the store hashes this."""
        return {**super().to_dict(), "kind": "icl_markov"}

    def build(self, device="cpu") -> AttentionOnlyTransformer:
        """The freshly initialised ensemble (seeded by ``seed``); the first layer has
        ``order - 1`` heads, the others one (the official code's n-gram models)."""
        torch.manual_seed(self.seed)
        heads = (self.order - 1,) + (1,) * (self.n_layers - 1)
        return AttentionOnlyTransformer(self.k, self.length, self.d, self.n_layers,
                                        self.n_members, self.dropout, heads).to(device)

    def optimiser(self, model: AttentionOnlyTransformer) -> torch.optim.Optimizer:
        """AdamW with weight decay on the Linear weights only (the official code's groups)."""
        return torch.optim.AdamW(model.parameter_groups(self.weight_decay), lr=self.lr,
                                 betas=self.betas)

    def run(self, device="cpu", progress: bool = False, checkpoint=None,
            deadline: float | None = None) -> dict[str, np.ndarray]:
        """Train every member; the arrays of :func:`emergence.icl.train.train`.

        ``checkpoint`` (a path) makes the run resumable across sessions; with ``deadline`` (a
        ``time.monotonic()`` value) it pauses there (see ``train``)."""
        return train(self, self.build(device), torch.device(device), progress, checkpoint,
                     deadline)


@dataclass(frozen=True)
class NGramConfig(ICLConfig):
    """ICL-MC with chains of ``order`` n (the paper's n-grams: each state depends on the
    ``n - 1`` before it), learned by the transformer of :class:`ICLConfig` whose first layer
    has ``n - 1`` heads of ``d / (n - 1)`` coordinates each (the official code widens ``d`` to
    16 per head). Every chain comes from the Dirichlet(1) prior."""

    name: str = "icl_trigram"
    order: int = 3
    d: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        strategies.names(self.order)  # an order whose Bayes-optimal strategy the book has
        if self.d % (self.order - 1):
            raise ValueError(f"d must be divisible by order - 1 = {self.order - 1} (one head "
                             f"per state back), got {self.d!r}")
        if any(self.unigram_free):
            raise ValueError(f"unigram_free must be (0.0,) for n-gram chains (the doubly "
                             f"stochastic prior is defined for order 2), got {self.unigram_free!r}")
        if self.length < self.order:
            raise ValueError(f"length must be at least order = {self.order}, got {self.length!r}")

    def to_dict(self) -> dict:
        """Every setting, JSON-serialisable; the store hashes this."""
        return {**super().to_dict(), "kind": "icl_ngram"}

