"""The statistical-query bound of Edelman et al. (2023) as a frontier of four resources.

A gradient learner sees the target ``chi_S`` only through the correlations
``g_S(theta) = E[chi_S(x) grad_theta h(x)]``, one Fourier coefficient of each partial
derivative of the model. Parseval bounds their total over all ``S`` by the mean squared
gradient, hence by the parameter count ``r`` when every partial derivative is bounded by 1.
Chapter 14 turns this into ``r * T * m / delta >~ C(n, k) / 2`` (parameters, steps, samples,
luck). This module computes the correlations exactly, by enumerating all ``2^n`` inputs of a
small model, so that the chain of inequalities can be checked numerically, and the frontier.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .. import _validate


def all_inputs(n: int) -> np.ndarray:
    """Every point of ``{-1, +1}^n``, shape ``(2^n, n)`` (n <= 20)."""
    _validate.positive_int("n", n)
    if n > 20:
        raise ValueError(f"n must be <= 20 to enumerate 2^n inputs, got {n}")
    bits = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
    return 1.0 - 2.0 * bits


def subsets(n: int, k: int) -> np.ndarray:
    """All ``k``-subsets of ``range(n)`` in lexicographic order, shape ``(C(n, k), k)``."""
    _validate.positive_int("n", n)
    _validate.non_negative_int("k", k)
    if k > n:
        raise ValueError(f"k must lie in [0, n = {n}], got {k}")
    rows = list(itertools.combinations(range(n), k))
    return np.array(rows, dtype=int).reshape(math.comb(n, k), k)


def correlations(inputs: np.ndarray, gradients: np.ndarray, sets: np.ndarray) -> np.ndarray:
    """``g_S = E_x[chi_S(x) grad h(x)]`` for every row ``S`` of ``sets``, exactly.

    ``inputs`` (2^n, n) is :func:`all_inputs`, ``gradients`` (2^n, r) the model's gradient at
    each input; returns ``(len(sets), r)``.
    """
    if inputs.shape[0] != gradients.shape[0]:
        raise ValueError(f"inputs and gradients need one row per input, got "
                         f"{inputs.shape[0]} and {gradients.shape[0]}")
    chi = np.prod(inputs[:, sets], axis=-1)  # (2^n, n_sets); the empty product is 1
    return chi.T @ gradients / len(inputs)


def sq_budget(n: int, k: int) -> float:
    """``C(n, k) / 2``: what ``r T m / delta`` must reach for a ``k``-parity on ``n`` bits."""
    _validate.positive_int("n", n)
    _validate.positive_int("k", k)
    if k > n:
        raise ValueError(f"k must lie in [1, n = {n}], got {k}")
    return math.comb(n, k) / 2


def success_ceiling(n: int, k: int, params, steps, samples):
    """The largest success probability the bound allows, ``min(1, 2 r T m / C(n, k))``."""
    for name, value in (("params", params), ("steps", steps), ("samples", samples)):
        _validate.positive(name, value)
    budget = np.asarray(params, float) * np.asarray(steps, float) * np.asarray(samples, float)
    return np.minimum(1.0, budget / sq_budget(n, k))
