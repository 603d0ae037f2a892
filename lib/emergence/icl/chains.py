"""In-context Markov chains (ICL-MC): the priors over transition matrices and the sequences.

Every training sequence gets its own ``k x k`` transition matrix ``P``. Under the paper's prior
(``"dirichlet"``) the rows of ``P`` are independent Dirichlet(1, ..., 1), i.e. uniform on the
simplex. The ``"doubly_stochastic"`` prior balances such a matrix by Sinkhorn iterations until
its columns also sum to one, so its stationary distribution is uniform and in-context token
counts carry no information about the next token (the probe of the paper's Fig. 6; the official
code also uses Sinkhorn balancing for large ``k``). The first state is drawn from the
stationary distribution ``pi(P)``, the next ``T`` states from the chain. Everything is drawn on
the device, vectorised over sequences; the only loop runs over the ``T`` positions.
"""

from __future__ import annotations

import torch

from .. import _validate

PRIORS = ("dirichlet", "doubly_stochastic")
_SINKHORN_ITERATIONS = 200


def _check(k: int, n: int) -> None:
    _validate.positive_int("n", n)
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k (number of states) must be an integer >= 2, got {k!r}")


def dirichlet_matrices(n: int, k: int, generator: torch.Generator | None = None,
                       device="cpu") -> torch.Tensor:
    """``n`` transition matrices ``(n, k, k)`` with i.i.d. Dirichlet(1) rows.

    A Dirichlet(1, ..., 1) vector is a vector of i.i.d. Exp(1) variables divided by its sum.
    """
    _check(k, n)
    e = -torch.log1p(-torch.rand(n, k, k, generator=generator, device=device))
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
                    generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """``n`` matrices: a fraction ``unigram_free`` doubly stochastic, the rest Dirichlet(1).

    The fraction is exact (``round(unigram_free * n)`` matrices), not a coin flip per sequence,
    so that a batch's mixture does not fluctuate; the doubly stochastic ones come first.
    """
    _validate.numbers("unigram_free", unigram_free)
    if not 0.0 <= unigram_free <= 1.0:
        raise ValueError(f"unigram_free must lie in [0, 1], got {unigram_free!r}")
    n_free = round(unigram_free * n)
    parts = [doubly_stochastic_matrices(n_free, k, generator, device)] if n_free else []
    if n - n_free:
        parts.append(dirichlet_matrices(n - n_free, k, generator, device))
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


def sample_chains(p: torch.Tensor, length: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """States ``(n, length)`` (int64): ``x_1 ~ pi(P)``, then ``x_{t+1} ~ P[x_t]``."""
    _validate.positive_int("length", length)
    n = p.shape[0]
    cum = torch.cumsum(p, -1)
    u = torch.rand(n, length, generator=generator, device=p.device)
    k = p.shape[-1]
    x = torch.empty(n, length, dtype=torch.long, device=p.device)
    first = torch.cumsum(stationary(p), -1)
    x[:, 0] = (u[:, :1] > first).sum(-1).clamp_max(k - 1)
    rows = torch.arange(n, device=p.device)
    for t in range(1, length):
        x[:, t] = (u[:, t:t + 1] > cum[rows, x[:, t - 1]]).sum(-1).clamp_max(k - 1)
    return x
