"""Skill strengths and stages of ICL-MC, read off the last-token KL divergences.

Normalised skill strengths put the paper's KL curves on the scale of Part I's ``R_k/S``
(0 = skill absent, 1 = skill learned), so that the emergence machinery of chapter 9
(:func:`emergence.fits.emergence_steps`, :func:`emergence.fits.fit_time`) applies unchanged:

- ``R_uni = (KL_unif - KL_model) / (KL_unif - KL_unigram)``,
- ``R_bi = (KL_unigram - KL_model) / (KL_unigram - KL_bigram)``,
- for trigram chains also ``R_tri = (KL_bigram - KL_model) / (KL_bigram - KL_trigram)``,

with ``KL_s = KL(true || s)`` at the last token and each clipped to [0, 1]. The paper's own
read-out of the stages is the strategy closest to the model, ``argmin_s KL(s || model)``;
stage ``s`` is the index of the strategy in ``strategies.NAMES``.
"""

from __future__ import annotations

import numpy as np

from .. import _validate
from .strategies import NAMES


def strengths(kl_true, reference) -> tuple[np.ndarray, ...]:
    """``(R_uni, R_bi)`` (and ``R_tri`` for four strategies) from ``KL(true || model)`` and
    ``reference`` = the strategies' ``KL(true || s)`` in the order of ``NAMES``, which must be
    strictly decreasing."""
    kl_true = _validate.numbers("kl_true", kl_true)
    ref = _validate.numbers("reference", reference)
    if ref.ndim != 1 or not 3 <= ref.size <= len(NAMES) or not np.all(np.diff(ref) < 0) \
            or ref[-1] < 0:
        raise ValueError(f"reference must be 3 or 4 decreasing non-negative KLs (uniform, "
                         f"unigram, bigram[, trigram]), got {reference!r}")
    return tuple(np.clip((ref[s - 1] - kl_true) / (ref[s - 1] - ref[s]), 0.0, 1.0)
                 for s in range(1, ref.size))


def closest(*kl) -> np.ndarray:
    """Index of the strategy nearest the model (0 uniform, 1 unigram, ...), elementwise, from
    ``KL(s || model)`` for each strategy in the order of ``NAMES``."""
    if not 2 <= len(kl) <= len(NAMES):
        raise ValueError(f"closest needs the KLs of 2 to {len(NAMES)} strategies, got {len(kl)}")
    return np.argmin(np.stack([_validate.numbers(f"kl_{name}", value)
                               for name, value in zip(NAMES[:len(kl)], kl, strict=True)]), 0)


def stage_onsets(steps, nearest, n_stages: int = 3) -> np.ndarray:
    """First recorded step at which each of ``n_stages`` strategies is the nearest one.

    ``nearest`` has shape ``(members, records)``; the result ``(members, n_stages)`` holds NaN
    for a strategy that is never the nearest.
    """
    steps = _validate.numbers("steps", steps)
    nearest = np.asarray(nearest)
    if nearest.ndim != 2 or nearest.shape[1] != steps.size:
        raise ValueError(f"nearest must have shape (members, {steps.size}), got {nearest.shape}")
    out = np.full((nearest.shape[0], n_stages), np.nan)
    for s in range(n_stages):
        hit = nearest == s
        out[:, s] = np.where(hit.any(1), steps[np.argmax(hit, 1)], np.nan)
    return out


def in_order(onsets, nearest) -> np.ndarray:
    """Per member: uniform nearest at the start, each stage entered before the next (unigram
    before bigram, ...), and the last strategy nearest at the end (the paper's stages)."""
    onsets = np.asarray(onsets, dtype=float)
    nearest = np.asarray(nearest)
    entered = np.all(onsets[:, 1:-1] < onsets[:, 2:], 1)
    return (nearest[:, 0] == 0) & entered & (nearest[:, -1] == onsets.shape[1] - 1)


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
