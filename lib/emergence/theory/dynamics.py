"""Exact dynamics of the multilinear model (paper Section 3, Eqs. 11, 14, 40, 125).

With ``f = Σ_k a_k b_k g_k`` and ``a_k(0) = b_k(0)``, gradient flow on the ½-MSE loss decouples
into one logistic equation per skill, ``dR_k/dt = 2 η w_k R_k (S - R_k)``, where ``w_k`` is the
fraction of training data that belongs to skill k (``P_s(k)`` with unlimited data). Its exact
solution is a sigmoid in time,

    R_k(t) / S = 1 / (1 + (S / R_k(0) - 1) exp(-2 η B² w_k S t)),

with ``B² = 1`` for the multilinear model itself and ``B² < 1`` for the calibrated model of a
neural network (Eq. 14). Everything here is numpy in, numpy out, and broadcasts over ``t`` and
``prob`` with numpy's rules (pass ``t[:, None]`` and ``prob[None, :]`` for a time-by-skill grid).
"""

from __future__ import annotations

import numpy as np

from .. import _validate

__all__ = [
    "skill_probs", "growth_rate", "skill_strength", "skill_loss", "emergence_time",
    "saturation_time", "is_stage_like", "linear_skill_strength",
]


MAX_SKILLS = 10**8              # the skill list is held in memory, 8 bytes a skill


def skill_probs(n_skills: int, alpha: float) -> np.ndarray:
    """The power law ``P_s(k) = k^-(alpha+1) / Σ_j j^-(alpha+1)``, ``k = 1..n_skills`` (Eq. 1).

    ``n_skills`` is at most ``MAX_SKILLS`` (10^8, 0.8 GB per array): larger lists do not fit in
    a laptop's memory, and every law of the book has converged long before.
    """
    _validate.positive_int("n_skills", n_skills)
    if n_skills > MAX_SKILLS:
        raise ValueError(f"n_skills must be <= {MAX_SKILLS} (the skill list is held in memory), "
                         f"got {n_skills}")
    _validate.finite_positive("alpha", alpha)
    weights = np.arange(1, n_skills + 1, dtype=np.float64) ** -(alpha + 1.0)
    return weights / weights.sum()


def _check_rate(prob, scale, eta, b2) -> None:
    _validate.probability("prob", prob)
    _validate.positive("scale", scale)
    _validate.positive("eta", eta)
    _validate.positive("b2", b2)


def _check_dynamics(prob, scale, r0, eta, b2) -> None:
    _check_rate(prob, scale, eta, b2)
    _validate.in_open_interval("r0", r0, 0.0, scale)


def growth_rate(prob, scale=1.0, eta=1.0, b2=1.0):
    """The logistic rate ``2 η B² P S`` of a skill: its sigmoid steepens with frequency."""
    _check_rate(prob, scale, eta, b2)
    return 2.0 * eta * b2 * np.asarray(prob, dtype=np.float64) * scale


def skill_strength(t, prob, scale=1.0, r0=0.01, eta=1.0, b2=1.0):
    """Exact skill strength ``R_k(t)`` in the units of ``scale`` (Eq. 11; Eq. 14 with ``b2``).

    Parameters
    ----------
    t : time (gradient-descent steps when ``eta`` is the learning rate), >= 0.
    prob : the skill's weight in the loss, ``P_s(k)`` or ``d_k / D``, in (0, 1].
    scale : S, > 0.
    r0 : initial strength ``R_k(0)``, in (0, scale).
    eta : learning rate, > 0.
    b2 : the calibration constant B² of Eq. 14, > 0 (1 for the multilinear model).
    """
    _validate.non_negative("t", t)
    _check_dynamics(prob, scale, r0, eta, b2)
    rate = growth_rate(prob, scale, eta, b2)
    # Written as a logistic of the log-odds, evaluated stably, so the very large times of the
    # scaling laws neither overflow nor lose precision.
    log_odds = rate * np.asarray(t, dtype=np.float64) - np.log(scale / r0 - 1.0)
    return scale * _sigmoid(log_odds)


def _sigmoid(x):
    """Numerically stable logistic function."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out if out.ndim else out[()]


def skill_loss(t, prob, scale=1.0, r0=0.01, eta=1.0, b2=1.0):
    """Per-skill loss ``L_k(t) = ½ (S - R_k(t))²`` of the multilinear model (Eqs. 10, 27)."""
    return 0.5 * (scale - skill_strength(t, prob, scale, r0, eta, b2)) ** 2


def emergence_time(prob, scale=1.0, r0=0.01, eta=1.0, eps=0.05, b2=1.0):
    """Time for ``R_k / S`` to climb from ``R_k(0)/S`` to ``eps`` (Eq. 40).

    ``τ_e = ln[(S/R_k(0) - 1) / (1/eps - 1)] / (2 η B² P S)``, which grows like ``k^(alpha+1)``
    for ``P = P_s(k)``. Requires ``r0 < eps * scale`` (otherwise the skill starts emerged).
    """
    _validate.in_open_interval("eps", eps, 0.0, 1.0)
    _check_dynamics(prob, scale, r0, eta, b2)
    if not np.all(np.asarray(r0) < eps * np.asarray(scale)):
        raise ValueError(f"r0 must be < eps * scale = {eps * np.asarray(scale)}, got r0={r0!r}")
    odds = np.log((scale / np.asarray(r0) - 1.0) / (1.0 / eps - 1.0))
    return odds / growth_rate(prob, scale, eta, b2)


def saturation_time(prob, scale=1.0, eta=1.0, eps=0.05, b2=1.0):
    """Time for ``R_k / S`` to go from ``eps`` to ``1 - eps`` (Eq. 40).

    ``τ_s = 2 ln(1/eps - 1) / (2 η B² P S)``: independent of the initial strength.
    """
    _validate.in_open_interval("eps", eps, 0.0, 0.5)
    _check_rate(prob, scale, eta, b2)
    return 2.0 * np.log(1.0 / eps - 1.0) / growth_rate(prob, scale, eta, b2)


def is_stage_like(probs, scale=1.0, r0=0.01, eta=1.0, eps=0.05):
    """Stage-like training test (Eq. 41) for consecutive skills.

    Returns a boolean array of length ``len(probs) - 1``: entry k is True when skill k saturates
    before skill k+1 emerges, ``τ_s(k) < τ_e(k+1) - τ_e(k)``.
    """
    probs = _validate.numbers("probs", probs)
    if probs.ndim != 1 or probs.size < 2:
        raise ValueError(f"probs must be a 1-d array of at least 2 skills, got shape {probs.shape}")
    t_emerge = emergence_time(probs, scale, r0, eta, eps)
    t_saturate = saturation_time(probs, scale, eta, eps)
    return t_saturate[:-1] < np.diff(t_emerge)


def linear_skill_strength(t, prob, scale=1.0, eta=1.0):
    """Skill strength of the *linear* model ``f = Σ w_k g_k`` from ``w_k(0) = 0`` (Eq. 125).

    ``R_k(t) = S (1 - exp(-η P t))``: it starts rising at once, with no delay and no sigmoid.
    """
    _validate.non_negative("t", t)
    _check_rate(prob, scale, eta, 1.0)
    return scale * -np.expm1(-eta * np.asarray(prob, dtype=np.float64) * np.asarray(t))
