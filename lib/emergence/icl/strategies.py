"""The three reference predictors of ICL-MC and the KL divergences the paper plots.

Given a context ``x_1..x_t`` of a chain with unknown ``P`` (rows i.i.d. Dirichlet(1)):

- ``uniform``: ``1/k`` for every state (no use of the context);
- ``unigram``: ``(c_j + 1) / (t + k)`` with ``c_j`` the count of state ``j`` in the context,
  the posterior mean if the tokens were i.i.d. with a Dirichlet(1) distribution;
- ``bigram``: ``(c_{ij} + 1) / (sum_j' c_{ij'} + k)`` with ``i = x_t`` and ``c_{ij}`` the number
  of ``i -> j`` transitions in the context: the posterior mean of row ``i`` (Laplace's rule of
  succession), Bayes-optimal up to the first-token term (see the chapter).

All functions work on the last position of each context (the paper's test metric) and return
probabilities as float64 tensors of shape ``(n, k)``.
"""

from __future__ import annotations

import torch

STRATEGIES = ("uniform", "unigram", "bigram")


def _check_context(x: torch.Tensor, k: int) -> None:
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"x must have shape (n, t) with t >= 1, got {tuple(x.shape)}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")


def uniform(x: torch.Tensor, k: int) -> torch.Tensor:
    """``1/k`` for every context."""
    _check_context(x, k)
    return torch.full((x.shape[0], k), 1.0 / k, dtype=torch.float64, device=x.device)


def unigram(x: torch.Tensor, k: int) -> torch.Tensor:
    """Add-one in-context state frequencies."""
    _check_context(x, k)
    counts = torch.nn.functional.one_hot(x, k).sum(1).double()
    return (counts + 1.0) / (x.shape[1] + k)


def bigram(x: torch.Tensor, k: int) -> torch.Tensor:
    """Add-one in-context transition frequencies out of the last state."""
    _check_context(x, k)
    follows = (x[:, :-1] == x[:, -1:]).double()
    counts = (follows[..., None] * torch.nn.functional.one_hot(x[:, 1:], k)).sum(1)
    return (counts + 1.0) / (counts.sum(-1, keepdim=True) + k)


def predict(name: str, x: torch.Tensor, k: int) -> torch.Tensor:
    """The strategy ``name`` (one of ``STRATEGIES``) at the last position of ``x``."""
    if name not in STRATEGIES:
        raise ValueError(f"name must be one of {STRATEGIES}, got {name!r}")
    return {"uniform": uniform, "unigram": unigram, "bigram": bigram}[name](x, k)


def kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``KL(p || q)`` in nats along the last axis (``0 log 0 = 0``; leading axes broadcast)."""
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"p and q must have the same last axis, got {tuple(p.shape)}, "
                         f"{tuple(q.shape)}")
    p, q = p.double(), q.double()
    terms = torch.where(p > 0, p * (torch.log(p.clamp_min(1e-300)) - torch.log(q)), 0.0)
    return terms.sum(-1)
