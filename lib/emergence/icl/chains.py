"""In-context Markov chains (ICL-MC): the priors over transition tables and the sequences.

Every training sequence gets its own transition table. For the paper's main task (order 2, a
bigram chain) it is a ``k x k`` matrix ``P``; under the paper's prior (``"dirichlet"``) its rows
are independent Dirichlet(1, ..., 1), i.e. uniform on the simplex. The ``"doubly_stochastic"``
prior balances such a matrix by Sinkhorn iterations until its columns also sum to one, so its
stationary distribution is uniform and in-context token counts carry no information about the
next token (the probe of the paper's Fig. 6; the official code also uses Sinkhorn balancing for
large ``k``). A chain of order ``n`` (the paper's n-grams) draws each state given the previous
``n - 1``: its table has one Dirichlet(1) row per context, ``(k^(n-1), k)``, contexts numbered
in base ``k`` with the most recent state last. The first ``n - 1`` states are drawn from the
stationary distribution of the chain of contexts, the rest from the table. Everything is drawn
on the device, vectorised over sequences; the only loop runs over the positions.
"""

from __future__ import annotations

import math

import torch

from .. import _validate

PRIORS = ("dirichlet", "doubly_stochastic")
_SINKHORN_ITERATIONS = 200


def _check(k: int, n: int) -> None:
    _validate.positive_int("n", n)
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k (number of states) must be an integer >= 2, got {k!r}")


def _check_order(order: int) -> None:
    if isinstance(order, bool) or not isinstance(order, int) or order < 2:
        raise ValueError(f"order (of the chain: 2 for bigrams) must be an integer >= 2, "
                         f"got {order!r}")


def dirichlet_matrices(n: int, k: int, generator: torch.Generator | None = None,
                       device="cpu", order: int = 2) -> torch.Tensor:
    """``n`` transition tables ``(n, k^(order-1), k)`` with i.i.d. Dirichlet(1) rows (for
    ``order`` 2, ``k x k`` matrices).

    A Dirichlet(1, ..., 1) vector is a vector of i.i.d. Exp(1) variables divided by its sum.
    """
    _check(k, n)
    _check_order(order)
    e = -torch.log1p(-torch.rand(n, k ** (order - 1), k, generator=generator, device=device))
    return e / e.sum(-1, keepdim=True)


def doubly_stochastic_matrices(n: int, k: int, generator: torch.Generator | None = None,
                               device="cpu") -> torch.Tensor:
    """``n`` Dirichlet(1) matrices balanced by Sinkhorn so rows and columns sum to one."""
    p = dirichlet_matrices(n, k, generator, device).double()
    for _ in range(_SINKHORN_ITERATIONS):
        p = p / p.sum(-2, keepdim=True)
        p = p / p.sum(-1, keepdim=True)
    return p.float()


def sample_matrices(n: int, k: int, unigram_free: float = 0.0,
                    generator: torch.Generator | None = None, device="cpu",
                    order: int = 2) -> torch.Tensor:
    """``n`` tables: a fraction ``unigram_free`` doubly stochastic, the rest Dirichlet(1).

    The fraction is exact (``round(unigram_free * n)`` matrices), not a coin flip per sequence,
    so that a batch's mixture does not fluctuate; the doubly stochastic ones come first. The
    doubly stochastic prior is defined for bigram chains only (``order`` 2).
    """
    _validate.numbers("unigram_free", unigram_free)
    if not 0.0 <= unigram_free <= 1.0:
        raise ValueError(f"unigram_free must lie in [0, 1], got {unigram_free!r}")
    _check_order(order)
    if unigram_free and order != 2:
        raise ValueError(f"unigram_free must be 0 for chains of order {order} (the doubly "
                         f"stochastic prior is defined for order 2 only), got {unigram_free!r}")
    n_free = round(unigram_free * n)
    parts = [doubly_stochastic_matrices(n_free, k, generator, device)] if n_free else []
    if n - n_free:
        parts.append(dirichlet_matrices(n - n_free, k, generator, device, order))
    return torch.cat(parts)


def stationary(p: torch.Tensor) -> torch.Tensor:
    """Stationary distributions ``(n, k)`` of transition matrices ``p`` ``(n, k, k)``.

    Solves ``pi (P - I) = 0`` with ``sum(pi) = 1`` (one equation replaced by the
    normalisation), in double precision; unique for the irreducible chains a Dirichlet prior
    draws with probability one.
    """
    if p.ndim != 3 or p.shape[-1] != p.shape[-2]:
        raise ValueError(f"p must have shape (n, k, k), got {tuple(p.shape)}")
    k = p.shape[-1]
    a = (p.double() - torch.eye(k, dtype=torch.float64, device=p.device)).transpose(-1, -2)
    a[:, -1, :] = 1.0
    b = torch.zeros(p.shape[0], k, dtype=torch.float64, device=p.device)
    b[:, -1] = 1.0
    return torch.linalg.solve(a, b).clamp_min(0.0).float()


def context_chain(p: torch.Tensor) -> torch.Tensor:
    """The chain of contexts of an order-``n`` table ``p`` ``(N, k^(n-1), k)``: a transition
    matrix ``(N, k^(n-1), k^(n-1))`` from context ``c`` to ``(c k + j) mod k^(n-1)`` with
    probability ``p[c, j]`` (the oldest state drops out, ``j`` comes in). For ``n = 2`` it is
    ``p`` itself."""
    n_ctx, k = p.shape[-2:]
    if n_ctx == k:
        return p
    successor = (torch.arange(n_ctx, device=p.device)[:, None] * k
                 + torch.arange(k, device=p.device)) % n_ctx
    lifted = torch.zeros(p.shape[0], n_ctx, n_ctx, dtype=p.dtype, device=p.device)
    return lifted.scatter_add_(-1, successor.expand(p.shape[0], -1, -1), p)


def sample_chains(p: torch.Tensor, length: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """States ``(N, length)`` (int64) of chains with tables ``p`` ``(N, k^(n-1), k)``: the
    first context (``n - 1`` states) from the stationary distribution of
    :func:`context_chain`, then each state from the row of the ``n - 1`` states before it."""
    _validate.positive_int("length", length)
    n, n_ctx, k = p.shape
    memory = round(math.log(n_ctx, k))  # n - 1
    if k ** memory != n_ctx or length < memory:
        raise ValueError(f"p must have shape (N, k^m, k) and length must be >= m, got "
                         f"{tuple(p.shape)} and length {length!r}")
    cum = torch.cumsum(p, -1)
    u = torch.rand(n, length, generator=generator, device=p.device)
    x = torch.empty(n, length, dtype=torch.long, device=p.device)
    first = torch.cumsum(stationary(context_chain(p)), -1)
    context = (u[:, :1] > first).sum(-1).clamp_max(n_ctx - 1)
    for i in range(memory):  # decode the first context, most recent state last
        x[:, i] = context // k ** (memory - 1 - i) % k
    rows = torch.arange(n, device=p.device)
    for t in range(memory, length):
        x[:, t] = (u[:, t - memory + 1:t - memory + 2] > cum[rows, context]).sum(-1) \
            .clamp_max(k - 1)
        context = (context * k + x[:, t]) % n_ctx
    return x
