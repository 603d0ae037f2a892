"""Escape from a small initialisation when the signal is a product of q factors.

Two exactly solvable models share one equation, v' = c v^(q-1):

- Barak et al.'s *disjoint PolyNet* f(x) = ∏_{i=1}^k ⟨w_i, x_{P_i}⟩ (each block P_i holds one
  relevant bit) under gradient flow on the population correlation loss: only the relevant
  weights v_i move, v_i' = ∏_{j≠i} v_j, and with equal starts v' = v^(k-1) (q = k, c = 1);
- the *degree-q multilinear skill* R = a^q (all factors equal, Nam et al.'s a_k b_k is q = 2)
  on the ½-MSE loss of one skill with weight P and target S: a' = η P (S - a^q) a^(q-1), so
  R' = q η P (S - R) R^(2 - 2/q).

For q = 2 growth is exponential and the escape time is logarithmic in the initial size; for
q >= 3 the solution blows up in finite time and the escape time is a power of it.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, special

from .. import _validate


def _check_q(q) -> None:
    _validate.positive_int("q", q)
    if q < 2:
        raise ValueError(f"q must be an integer >= 2, got {q!r}")


def product_flow_time(v0, v, q: int):
    """Time for v' = v^(q-1) to grow from v0 to v (0 < v0 <= v): ln(v/v0) for q = 2,
    (v0^(2-q) - v^(2-q)) / (q-2) for q >= 3."""
    _check_q(q)
    _validate.finite_positive("v0", v0)
    _validate.positive("v", v)
    v0, v = np.asarray(v0, dtype=float), np.asarray(v, dtype=float)
    if q == 2:
        return np.log(v / v0)
    return (v0 ** (2 - q) - v ** (2 - q)) / (q - 2)


def product_flow_value(t, v0, q: int):
    """The solution v(t) of v' = v^(q-1), v(0) = v0: v0 e^t (q = 2), else
    (v0^(2-q) - (q-2) t)^(-1/(q-2)), infinite from the blow-up time on."""
    _check_q(q)
    _validate.non_negative("t", t)
    _validate.finite_positive("v0", v0)
    t = np.asarray(t, dtype=float)
    if q == 2:
        return v0 * np.exp(t)
    base = v0 ** (2 - q) - (q - 2) * t
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base > 0, np.abs(base) ** (-1 / (q - 2)), np.inf)


def blowup_time(v0, q: int):
    """The finite blow-up time v0^(2-q)/(q-2) of v' = v^(q-1) (q >= 3)."""
    _check_q(q)
    if q == 2:
        raise ValueError("q must be >= 3: for q = 2 the growth is exponential, no blow-up")
    _validate.finite_positive("v0", v0)
    return np.asarray(v0, dtype=float) ** (2 - q) / (q - 2)


def polynet_error(v, sigma, k: int):
    """Error of sign f for the disjoint PolyNet with relevant weights v and irrelevant-weight
    norm sigma per block, in the Gaussian approximation of each block's irrelevant part:
    1/2 - 1/2 · erf(v / (√2 σ))^k."""
    _validate.positive_int("k", k)
    _validate.non_negative("v", v)
    _validate.finite_positive("sigma", sigma)
    return 0.5 - 0.5 * special.erf(np.asarray(v, float) / (np.sqrt(2) * sigma)) ** k


def plateau_fraction(v0, sigma, k: int, level: float = 0.49):
    """Fraction of the time to reach error ``level`` that is spent before the error leaves
    ``level``... precisely: T(level) / T_blowup = 1 - (v0 / v_level)^(k-2), where v_level is
    the relevant weight at which :func:`polynet_error` equals ``level`` (k >= 3)."""
    _validate.in_open_interval("level", level, 0.0, 0.5)
    v_level = np.sqrt(2) * sigma * special.erfinv((1 - 2 * level) ** (1 / k))
    return product_flow_time(v0, v_level, k) / blowup_time(v0, k)


def skill_time(r, q: int, r0: float, eta: float = 1.0, prob: float = 1.0,
               scale: float = 1.0) -> float:
    """Time for the degree-q skill R' = q η P (S - R) R^(2-2/q) to grow from r0 to r
    (0 < r0 <= r < S), by quadrature."""
    _check_q(q)
    for name, value in (("eta", eta), ("prob", prob), ("scale", scale)):
        _validate.finite_positive(name, value)
    if not 0 < r0 <= r < scale:
        raise ValueError(f"need 0 < r0 <= r < scale, got r0={r0!r}, r={r!r}, scale={scale!r}")

    def rate(u):
        return 1.0 / (q * eta * prob * (scale - u) * u ** (2 - 2 / q))

    points = np.geomspace(r0, r, 40)
    return float(sum(integrate.quad(rate, a, b)[0] for a, b in zip(points[:-1], points[1:],
                                                                  strict=True)))


def skill_time_small_init(q: int, r0, eta: float = 1.0, prob: float = 1.0,
                          scale: float = 1.0):
    """The leading small-r0 escape time of the degree-q skill: ln(S/r0) / (2 η P S) for q = 2
    and r0^(-(1-2/q)) / (q η P S (1 - 2/q)) for q >= 3 (a power of the init)."""
    _check_q(q)
    _validate.finite_positive("r0", r0)
    r0 = np.asarray(r0, dtype=float)
    if q == 2:
        return np.log(scale / r0) / (2 * eta * prob * scale)
    return r0 ** (-(1 - 2 / q)) / (q * eta * prob * scale * (1 - 2 / q))


def skill_factor_path(t, q: int, r0: float, eta: float = 1.0, prob: float = 1.0,
                      scale: float = 1.0) -> np.ndarray:
    """R(t) = a(t)^q from integrating the factor equation a' = η P (S - a^q) a^(q-1) with an
    ODE solver (independent of the closed forms above), at the times ``t``."""
    _check_q(q)
    _validate.non_negative("t", t)
    t = np.asarray(t, dtype=float)

    def rhs(_, a):
        return eta * prob * (scale - a ** q) * a ** (q - 1)

    sol = integrate.solve_ivp(rhs, (0.0, float(t.max())), [r0 ** (1 / q)], t_eval=t,
                              rtol=1e-10, atol=1e-14, method="LSODA")
    return sol.y[0] ** q
