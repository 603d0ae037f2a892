"""The two-factor minimal model of a statistical induction head, batched over members.

Tokens are one-hot vectors ``e_t`` in ``R^k``. Layer 1 mixes positions only: with a learned
vector ``v`` indexed by the offset, ``h_i = sum_{j <= i} softmax_j(v_{i-j}) e_j`` (a causal
softmax over offsets ``0..i``). Layer 2 is a linear attention with a ``k x k`` matrix ``W``: the
logits at position ``i`` are ``(1/(i+1)) sum_{j <= i} (e_i^T W h_j) e_j``. With ``v`` peaked at
offset 1 and ``W = c I`` the logits are ``c/(i+1)`` times the counts of the transitions out of
``x_i`` (a statistical induction head); with ``W = c 11^T`` they are ``c`` times the in-context
state frequencies whatever ``v`` is, since every ``h_j`` sums to one: the unigram solution,
at which the gradient on ``v`` vanishes. The exact definition in the paper is not confirmed
(the official code has two versions); this is the book's, see the reproduction notes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate
from ..profiles import check_profile
from .train import train


class MinimalModel(nn.Module):
    """``n_models`` minimal models: ``v`` ``(M, length)`` starts at 0, ``W`` at ``w_init 11^T``."""

    def __init__(self, k: int, length: int, n_models: int = 1, w_init: float = 0.01):
        super().__init__()
        for name, value in (("k", k), ("length", length), ("n_models", n_models)):
            _validate.positive_int(name, value)
        _validate.numbers("w_init", w_init)
        self.k, self.n_models = k, n_models
        self.v = nn.Parameter(torch.zeros(n_models, length))
        self.w = nn.Parameter(torch.full((n_models, k, k), float(w_init)))
        offsets = torch.arange(length)[:, None] - torch.arange(length)[None, :]
        self.register_buffer("offsets", offsets.clamp_min(0), persistent=False)
        self.register_buffer("future", offsets < 0, persistent=False)

    def mixing(self, t: int) -> torch.Tensor:
        """Layer 1's position weights ``(M, t, t)``: row ``i`` is a softmax over ``j <= i``."""
        scores = self.v[:, self.offsets[:t, :t]].masked_fill(self.future[:t, :t], float("-inf"))
        return torch.softmax(scores, -1)

    def forward(self, x: torch.Tensor, with_attention: bool = False):
        """Logits ``(M, B, T, k)`` for states ``x`` ``(M, B, T)``; optionally layer 1's weights."""
        if x.ndim != 3 or x.shape[0] != self.n_models:
            raise ValueError(f"x must have shape ({self.n_models}, batch, t), got {tuple(x.shape)}")
        t = x.shape[2]
        e = F.one_hot(x, self.k).float()
        mix = self.mixing(t)
        h = mix[:, None] @ e
        scores = (e @ self.w[:, None]) @ h.transpose(-1, -2)
        scores = scores.masked_fill(self.future[:t, :t], 0.0)
        counts = torch.arange(1, t + 1, device=x.device, dtype=e.dtype)[:, None]
        logits = scores @ e / counts
        return (logits, [mix[:, None].expand(-1, x.shape[1], -1, -1)]) if with_attention \
            else logits


@dataclass(frozen=True)
class MinimalConfig:
    """Training the minimal model on ICL-MC: plain SGD with rates ``lr_w`` (W), ``lr_v`` (v).

    The data, groups (``unigram_free``, ``n_seeds`` members each) and measurements are those of
    :class:`~emergence.icl.config.ICLConfig`; members differ only in their data.
    """

    name: str = "icl_minimal"
    profile: str = "quick"
    k: int = 2
    length: int = 100
    w_init: float = 0.01
    lr_w: float = 1.0
    lr_v: float = 1.0
    batch_size: int = 64
    n_steps: int = 500
    record_every: int = 10
    n_test: int = 512
    unigram_free: tuple[float, ...] = (0.0,)
    n_seeds: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        check_profile(self.profile)
        for name in ("k", "length", "batch_size", "n_steps", "record_every", "n_test",
                     "n_seeds"):
            _validate.positive_int(name, getattr(self, name))
        _validate.finite_positive("lr_w", self.lr_w)
        _validate.finite_positive("lr_v", self.lr_v)
        if not self.unigram_free or not all(0.0 <= f <= 1.0 for f in self.unigram_free):
            raise ValueError(f"unigram_free must be a non-empty tuple of fractions in [0, 1], "
                             f"got {self.unigram_free!r}")

    @property
    def n_members(self) -> int:
        return len(self.unigram_free) * self.n_seeds

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["unigram_free"] = list(self.unigram_free)
        return out

    def replace(self, **changes) -> MinimalConfig:
        return dataclasses.replace(self, **changes)

    def record_steps(self) -> np.ndarray:
        return np.unique(np.r_[np.arange(0, self.n_steps + 1, self.record_every), self.n_steps])

    def build(self, device="cpu") -> MinimalModel:
        return MinimalModel(self.k, self.length, self.n_members, self.w_init).to(device)

    def optimiser(self, model: MinimalModel) -> torch.optim.Optimizer:
        return torch.optim.SGD([{"params": [model.w], "lr": self.lr_w},
                                {"params": [model.v], "lr": self.lr_v}])

    def run(self, device="cpu", progress: bool = False) -> dict[str, np.ndarray]:
        """Train every member; the measurements of :func:`emergence.icl.train.train`, plus
        the final ``v`` and ``W``."""
        model = self.build(device)
        out = train(self, model, torch.device(device), progress)
        out["v"] = model.v.detach().cpu().numpy()
        out["w"] = model.w.detach().cpu().numpy()
        out["member_unigram_free"] = np.repeat(np.asarray(self.unigram_free), self.n_seeds)
        return out
