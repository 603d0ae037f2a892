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

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate
from .config import ChainTraining
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
        """Logits ``(M, B, T, k)`` for states ``x`` ``(M, B, T)``; optionally layer 1's weights
        ``(M, B, 1, T, T)``."""
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
        weights = mix[:, None, None].expand(-1, x.shape[1], 1, -1, -1)  # one head, as attention
        return (logits, [weights]) if with_attention else logits


@dataclass(frozen=True)
class MinimalConfig(ChainTraining):
    """Training the minimal model on ICL-MC: plain SGD with rates ``lr_w`` (W), ``lr_v`` (v),
    ``W`` starting at ``w_init 11^T``.

    The data, groups and measurements are those of
    :class:`~emergence.icl.config.ChainTraining`; members differ only in their data.
    """

    name: str = "icl_minimal"
    n_steps: int = 500
    record_every: int = 10
    n_seeds: int = 4
    w_init: float = 0.01
    lr_w: float = 1.0
    lr_v: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _validate.numbers("w_init", self.w_init)
        _validate.finite_positive("lr_w", self.lr_w)
        _validate.finite_positive("lr_v", self.lr_v)

    def build(self, device="cpu") -> MinimalModel:
        """The ensemble at its deterministic start (``v = 0``, ``W = w_init 11^T``)."""
        return MinimalModel(self.k, self.length, self.n_members, self.w_init).to(device)

    def optimiser(self, model: MinimalModel) -> torch.optim.Optimizer:
        """Plain SGD, one rate per factor."""
        return torch.optim.SGD([{"params": [model.w], "lr": self.lr_w},
                                {"params": [model.v], "lr": self.lr_v}])

    def run(self, device="cpu", progress: bool = False) -> dict[str, np.ndarray]:
        """Train every member; the measurements of :func:`emergence.icl.train.train`, plus
        the final ``v`` and ``W``."""
        model = self.build(device)
        out = train(self, model, torch.device(device), progress)
        out["v"] = model.v.detach().cpu().numpy()
        out["w"] = model.w.detach().cpu().numpy()
        return out
