"""Skill strengths and stages of ICL-MC, read off the last-token KL divergences.

Two normalised skill strengths put the paper's KL curves on the scale of Part I's ``R_k/S``
(0 = skill absent, 1 = skill learned), so that the emergence machinery of chapter 9
(:func:`emergence.fits.emergence_steps`, :func:`emergence.fits.fit_time`) applies unchanged:

- ``R_uni = (KL_unif - KL_model) / (KL_unif - KL_unigram)``,
- ``R_bi = (KL_unigram - KL_model) / (KL_unigram - KL_bigram)``,

with ``KL_s = KL(true || s)`` at the last token and both clipped to [0, 1]. The paper's own
read-out of the stages is the strategy closest to the model, ``argmin_s KL(s || model)``.
"""

from __future__ import annotations

import numpy as np

from .. import _validate
from .strategies import STRATEGIES


def strengths(kl_true, reference) -> tuple[np.ndarray, np.ndarray]:
    """``(R_uni, R_bi)`` from ``KL(true || model)`` and ``reference`` = the three strategies'
    ``KL(true || s)`` (uniform, unigram, bigram, which must be strictly decreasing)."""
    kl_true = _validate.numbers("kl_true", kl_true)
    ref = _validate.numbers("reference", reference)
    if ref.shape != (3,) or not (ref[0] > ref[1] > ref[2] >= 0):
        raise ValueError(f"reference must be three decreasing KLs (uniform, unigram, bigram), "
                         f"got {reference!r}")
    r_uni = (ref[0] - kl_true) / (ref[0] - ref[1])
    r_bi = (ref[1] - kl_true) / (ref[1] - ref[2])
    return np.clip(r_uni, 0.0, 1.0), np.clip(r_bi, 0.0, 1.0)


def closest(kl_uniform, kl_unigram, kl_bigram) -> np.ndarray:
    """Index (0 uniform, 1 unigram, 2 bigram) of the strategy nearest the model, elementwise."""
    return np.argmin(np.stack([_validate.numbers(name, value) for name, value in
                               zip(STRATEGIES, (kl_uniform, kl_unigram, kl_bigram),
                                   strict=True)]), 0)


def stage_onsets(steps, nearest) -> np.ndarray:
    """First recorded step at which each strategy is the nearest one, per member.

    ``nearest`` has shape ``(members, records)``; the result ``(members, 3)`` holds NaN for a
    strategy that is never the nearest.
    """
    steps = _validate.numbers("steps", steps)
    nearest = np.asarray(nearest)
    if nearest.ndim != 2 or nearest.shape[1] != steps.size:
        raise ValueError(f"nearest must have shape (members, {steps.size}), got {nearest.shape}")
    out = np.full((nearest.shape[0], 3), np.nan)
    for s in range(3):
        hit = nearest == s
        out[:, s] = np.where(hit.any(1), steps[np.argmax(hit, 1)], np.nan)
    return out


def in_order(onsets, nearest) -> np.ndarray:
    """Per member: uniform nearest at the start, the unigram stage entered before the bigram
    stage, and the bigram strategy nearest at the end (the paper's three stages)."""
    onsets = np.asarray(onsets, dtype=float)
    nearest = np.asarray(nearest)
    return (nearest[:, 0] == 0) & (onsets[:, 1] < onsets[:, 2]) & (nearest[:, -1] == 2)


def crossing_steps(steps, strength, level: float) -> np.ndarray:
    """Step at which ``strength`` (``(members, records)``) first reaches ``level``, linearly
    interpolated between records; NaN where never reached or reached at the first record."""
    steps = _validate.numbers("steps", steps)
    strength = _validate.numbers("strength", strength)
    _validate.in_open_interval("level", level, 0.0, 1.0)
    above = strength >= level
    first = np.argmax(above, 1)
    inside = above.any(1) & (first > 0)
    after = np.where(inside, first, 1)
    rows = np.arange(strength.shape[0])
    lo, hi = strength[rows, after - 1], strength[rows, after]
    frac = (level - lo) / np.where(hi > lo, hi - lo, 1.0)
    t = steps[after - 1] + frac * (steps[after] - steps[after - 1])
    return np.where(inside, t, np.nan)


def transition_width(steps, strength, low: float = 0.2, high: float = 0.8) -> tuple:
    """``(t_mid, width)`` per member: the step where ``strength`` reaches 1/2, and the steps
    it takes to go from ``low`` to ``high`` (a measure of abruptness: ``width / t_mid``)."""
    if not 0.0 < low < 0.5 < high < 1.0:
        raise ValueError(f"need 0 < low < 0.5 < high < 1, got low={low!r}, high={high!r}")
    t_low, t_mid, t_high = (crossing_steps(steps, strength, level) for level in (low, 0.5, high))
    return t_mid, t_high - t_low
