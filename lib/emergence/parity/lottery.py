"""Lottery-ticket neurons of an ``s``-sparse first layer: the closed forms and the counting.

With ``s``-sparse initialisation every hidden unit starts with ``s`` nonzero input weights on a
uniformly random support. Edelman et al. (2023) explain why width helps on a ``k``-sparse
parity by the units whose support is *nested* with the relevant set ``S``: for ``s >= k`` the
support contains ``S`` (the unit sees an ``(s, k)`` problem instead of an ``(n, k)`` one); for
``s < k`` the support lies inside ``S`` (the unit starts with ``s`` of the ``k`` bits and only has
to find the rest). Such a unit is a lottery ticket. Units draw their supports independently, so
the number of tickets in a width-``r`` layer is ``Binomial(r, p)`` and a layer holds at least one
with probability ``1 - (1 - p)^r ≈ 1 - exp(-r p)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import _validate


def _check_sizes(n: int, k: int, s: int) -> None:
    _validate.positive_int("n", n)
    _validate.positive_int("k", k)
    _validate.positive_int("s", s)
    if k > n:
        raise ValueError(f"k must lie in [1, n = {n}], got {k}")
    if s > n:
        raise ValueError(f"s must lie in [1, n = {n}], got {s}")


def ticket_probability(n: int, k: int, s: int) -> float:
    """Probability that a uniformly random ``s``-subset of ``n`` bits is nested with a fixed
    ``k``-subset: ``C(n-k, s-k) / C(n, s)`` for ``s >= k`` (it contains S), ``C(k, s) / C(n, s)``
    for ``s < k`` (it lies inside S)."""
    _check_sizes(n, k, s)
    if s >= k:
        return math.comb(n - k, s - k) / math.comb(n, s)
    return math.comb(k, s) / math.comb(n, s)


def at_least_one_ticket(p, width):
    """``1 - (1 - p)^r``: the probability that ``r`` independent units hold a ticket."""
    _validate.probability("p", p)
    _validate.positive("width", width)
    return -np.expm1(np.asarray(width, dtype=float) * np.log1p(-np.asarray(p, dtype=float)))


def ticket_units(support: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """``(M, r)`` boolean: the units whose support and relevant set are nested.

    ``support`` (M, n, r) is True where a unit's input weight is nonzero, ``relevant`` (M, n)
    True on S; a unit with support size ``s`` is a ticket when it holds ``min(s, k)`` relevant
    bits (units with an empty support, e.g. masked ones, are not).
    """
    if support.dim() != 3 or relevant.dim() != 2 or support.shape[:2] != relevant.shape:
        raise ValueError(f"support must be (M, n, r) and relevant (M, n), got "
                         f"{tuple(support.shape)} and {tuple(relevant.shape)}")
    hits = (support & relevant[:, :, None]).sum(dim=1)
    size = support.sum(dim=1)
    k = relevant.sum(dim=1, keepdim=True)
    return (hits == torch.minimum(size, k)) & (size > 0)


def count_tickets(support: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """Tickets per member, ``(M,)`` long (see :func:`ticket_units`)."""
    return ticket_units(support, relevant).sum(dim=1)


def wilson_interval(successes, trials, z: float = 1.0):
    """Wilson score interval ``(low, high)`` of a binomial proportion, ``z`` standard errors."""
    successes = _validate.numbers("successes", successes)
    trials = _validate.numbers("trials", trials)
    _validate.positive("trials", trials)
    if np.any(successes < 0) or np.any(successes > trials):
        raise ValueError(f"successes must lie in [0, trials], got {successes!r}")
    _validate.finite_positive("z", z)
    p = successes / trials
    centre = (p + z**2 / (2 * trials)) / (1 + z**2 / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / (1 + z**2 / trials)
    return centre - half, centre + half


def stratified_z(success, exposed):
    """Mantel-Haenszel z-score for "exposed runs succeed more often", within strata.

    ``success`` and ``exposed`` are boolean arrays of shape (n_strata, n_runs): e.g. one stratum
    per (width, sample size) cell of a grid and ``exposed`` = "held a lottery ticket at init".
    Comparing within strata removes what the strata themselves explain (wider layers hold more
    tickets *and* succeed more often). Strata where either margin is constant carry no
    information and are skipped; returns NaN when none is left.
    """
    success, exposed = np.asarray(success, bool), np.asarray(exposed, bool)
    if success.shape != exposed.shape or success.ndim != 2:
        raise ValueError(f"success and exposed must be (n_strata, n_runs) arrays of one shape, "
                         f"got {success.shape} and {exposed.shape}")
    n = success.shape[1]
    n_exp, n_win = exposed.sum(1), success.sum(1)
    both = (success & exposed).sum(1)
    keep = (n_exp > 0) & (n_exp < n) & (n_win > 0) & (n_win < n)
    if n < 2 or not keep.any():
        return float("nan")
    expect = n_exp * n_win / n
    var = n_exp * (n - n_exp) * n_win * (n - n_win) / (n**2 * (n - 1))
    return float((both - expect)[keep].sum() / np.sqrt(var[keep].sum()))
