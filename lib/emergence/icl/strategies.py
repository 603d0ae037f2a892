"""The reference predictors of ICL-MC and the KL divergences the paper plots.

Given a context ``x_1..x_t`` of a chain with unknown transitions (rows i.i.d. Dirichlet(1)):

- ``uniform``: ``1/k`` for every state (no use of the context);
- ``unigram``: ``(c_j + 1) / (t + k)`` with ``c_j`` the count of state ``j`` in the context,
  the posterior mean if the tokens were i.i.d. with a Dirichlet(1) distribution;
- ``bigram``: ``(c_{ij} + 1) / (sum_j' c_{ij'} + k)`` with ``i = x_t`` and ``c_{ij}`` the number
  of ``i -> j`` transitions in the context: the posterior mean of row ``i`` (Laplace's rule of
  succession), Bayes-optimal up to the first-token term (see the chapter);
- ``trigram``: the same with the last two states as the row (Bayes-optimal for chains of
  order 3, the paper's trigrams).

All are one rule, :func:`ngram`, add-one counts of what followed earlier occurrences of the last
``n - 1`` states (``n = 1``: of every state). All functions work on the last position of each
context (the paper's test metric) and return probabilities as float64 tensors ``(N, k)``.
"""

from __future__ import annotations

import torch

NAMES = ("uniform", "unigram", "bigram", "trigram")  # strategy i uses i - 1 states back
STRATEGIES = NAMES[:3]  # those of the paper's main task, a chain of order 2


def names(order: int) -> tuple[str, ...]:
    """The strategies up to the Bayes-optimal one for a chain of ``order`` (2: bigram)."""
    if isinstance(order, bool) or not isinstance(order, int) or not 2 <= order < len(NAMES):
        raise ValueError(f"order must be an integer in [2, {len(NAMES) - 1}], got {order!r}")
    return NAMES[:order + 1]


def _check_context(x: torch.Tensor, k: int) -> None:
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"x must have shape (n, t) with t >= 1, got {tuple(x.shape)}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")


def uniform(x: torch.Tensor, k: int) -> torch.Tensor:
    """``1/k`` for every context."""
    _check_context(x, k)
    return torch.full((x.shape[0], k), 1.0 / k, dtype=torch.float64, device=x.device)


def ngram(x: torch.Tensor, k: int, n: int) -> torch.Tensor:
    """Add-one counts of the states that followed earlier occurrences of the last ``n - 1``
    states (``n = 1``: add-one frequencies of all states)."""
    _check_context(x, k)
    _validate_n(n, x.shape[1])
    t, m = x.shape[1], n - 1
    follows = torch.ones(x.shape[0], t - m, dtype=torch.float64, device=x.device)
    for i in range(m):  # window element i of every earlier window against the last window's
        follows = follows * (x[:, i:t - m + i] == x[:, t - m + i:t - m + i + 1])
    counts = (follows[..., None] * torch.nn.functional.one_hot(x[:, m:], k)).sum(1)
    return (counts + 1.0) / (counts.sum(-1, keepdim=True) + k)


def _validate_n(n: int, t: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= t:
        raise ValueError(f"n must be an integer in [1, {t}] (the context length), got {n!r}")


def unigram(x: torch.Tensor, k: int) -> torch.Tensor:
    """Add-one in-context state frequencies."""
    return ngram(x, k, 1)


def bigram(x: torch.Tensor, k: int) -> torch.Tensor:
    """Add-one in-context transition frequencies out of the last state."""
    return ngram(x, k, 2)


def trigram(x: torch.Tensor, k: int) -> torch.Tensor:
    """Add-one in-context transition frequencies out of the last two states."""
    return ngram(x, k, 3)


def pooled_stay(x: torch.Tensor, k: int) -> torch.Tensor:
    """Add-one frequency of *staying* in the same state, pooled over all transitions of the
    context, for the next state being the last one; the rest shared equally. For ``k = 2`` this
    is the Bayes rule of a one-parameter doubly stochastic chain (switching equally likely from
    both states), the rule chapter 15 finds that prior rewards."""
    _check_context(x, k)
    stays = (x[:, 1:] == x[:, :-1]).double().sum(1, keepdim=True)
    q_stay = (stays + 1) / (x.shape[1] + 1)  # t - 1 transitions, plus two added counts
    last = torch.nn.functional.one_hot(x[:, -1], k).bool()
    return torch.where(last, q_stay, (1 - q_stay) / (k - 1))


def predict(name: str, x: torch.Tensor, k: int) -> torch.Tensor:
    """The strategy ``name`` (one of ``NAMES``) at the last position of ``x``."""
    if name not in NAMES:
        raise ValueError(f"name must be one of {NAMES}, got {name!r}")
    return uniform(x, k) if name == "uniform" else ngram(x, k, NAMES.index(name))


def kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``KL(p || q)`` in nats along the last axis (``0 log 0 = 0``; leading axes broadcast)."""
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"p and q must have the same last axis, got {tuple(p.shape)}, "
                         f"{tuple(q.shape)}")
    p, q = p.double(), q.double()
    terms = torch.where(p > 0, p * (torch.log(p.clamp_min(1e-300)) - torch.log(q)), 0.0)
    return terms.sum(-1)
