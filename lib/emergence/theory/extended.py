"""Extended multilinear models that a neural network is compared with (paper Section 5).

A network has to *discover* each skill function, which the multilinear model is handed for free.
Section 5 of the paper adds one constant per resource to account for this, each measured on a
network trained on a single skill and then reused unchanged for every skill:

- time, ``B²`` (Eqs. 13-14): the skill is expressed as ``a b B g_k``, which slows the logistic
  growth by the factor ``B² < 1``;
- data, ``D_c`` (Eqs. 15-17): the skill is a sum of ``D_c`` orthonormal pieces, so the network
  behaves like minimum-norm regression in a ``D_c``-dimensional space and needs about ``D_c``
  examples of a skill to learn it;
- parameters, ``N_c`` (Eqs. 18-21): each skill costs ``N_c`` basis functions (hidden neurons),
  handed out to skills in frequency order.

Every strength returned here is *normalised*, ``R_k / S`` in [0, 1]. numpy in, numpy out.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .. import _validate
from .dynamics import skill_strength

__all__ = [
    "NN_ETA_PER_LR", "effective_eta", "calibrated_strength", "authors_initial_strength",
    "dc_shot_strength", "dc_projection_strength", "dc_shot_expected_count",
    "dc_shot_binomial_mean",
    "nc_basis_counts", "nc_basis_strength", "nc_basis_strength_continuous",
]

# torch's MSELoss has no ½, so its gradient is twice that of the paper's ½-MSE loss: a network
# trained with learning rate lr follows the ½-MSE gradient flow with eta = 2 lr.
NN_ETA_PER_LR = 2.0


def effective_eta(lr):
    """Learning rate ``eta = 2 lr`` of the ½-MSE theory for a network trained on plain MSE."""
    _validate.positive("lr", lr)
    return NN_ETA_PER_LR * np.asarray(lr, dtype=np.float64)


def calibrated_strength(steps, prob, *, scale, lr, b2, r0):
    """``R_k / S`` of the time-calibrated model (Eq. 14) for a network trained with SGD.

    ``R_k/S = 1 / (1 + (S/R_k(0) - 1) exp(-2 eta B² P_s(k) S T))`` with ``eta = 2 lr``.

    Parameters
    ----------
    steps : SGD steps T, >= 0; broadcast against ``prob`` (pass ``steps[:, None]`` for a grid).
    prob : ``P_s(k)`` (or ``d_k / D``), in (0, 1].
    scale : S, > 0.
    lr : the network's learning rate on the no-½ MSE loss, > 0.
    b2 : the calibration constant B², > 0.
    r0 : initial strength ``R_k(0)`` in units of the target (not normalised), in (0, scale).
    """
    _validate.non_negative("steps", steps)
    _validate.positive("scale", scale)
    _validate.numbers("r0", r0)
    eta = effective_eta(lr)
    return skill_strength(steps, prob, scale, r0, eta, b2) / scale


def authors_initial_strength(init_std):
    """The authors' plotting choice ``R_k(0) = sigma_init² / 3.6`` (code, not the paper's text).

    Their code draws every weight and bias from N(0, sigma²) and uses this value as an
    empirical stand-in for the initial strength; the paper does not state it.
    """
    _validate.positive("init_std", init_std)
    return np.asarray(init_std, dtype=np.float64) ** 2 / 3.6


def _check_r0(r0) -> None:
    arr = _validate.numbers("r0", r0)
    if not np.all((arr >= 0) & (arr < 1)):
        raise ValueError(f"r0 (normalised R_k(0)/S) must lie in [0, 1), got {r0!r}")


def _check_dc(d_c, r0) -> None:
    _validate.positive("d_c", d_c)
    _validate.finite("d_c", d_c)
    _check_r0(r0)


def dc_shot_strength(counts, d_c, r0=0.0):
    """``R_k(∞) / S`` of the ``D_c``-shot learner after seeing ``counts`` examples (Eq. 17).

    ``1 - sqrt(1 - d/D_c)`` for ``d < D_c`` and 1 from ``d >= D_c`` on. ``counts`` may be the
    actual counts ``d_k`` of a training set or the expected counts ``D P_s(k)`` (floats).
    With a normalised initial strength ``r0 > 0`` only the remaining ``1 - r0`` is learned:
    ``r0 + (1 - r0)(1 - sqrt(1 - d/D_c))``; ``r0 = 0`` is the paper's small-initialisation limit.
    """
    _validate.non_negative("counts", counts)
    _check_dc(d_c, r0)
    frac = np.minimum(np.asarray(counts, dtype=np.float64) / d_c, 1.0)
    learned = 1.0 - np.sqrt(1.0 - frac)
    return r0 + (1.0 - r0) * learned


def dc_projection_strength(counts, d_c, r0=0.0):
    """``min(d / D_c, 1)``: the strength of the minimum-norm interpolant itself.

    The ``D_c``-shot model ends at the projection of the target's coefficient vector onto the
    span of the ``d`` observed feature vectors, whose strength is ``S d / D_c`` on average and
    whose loss is ``(S² / 2)(1 - d / D_c)`` (Eq. 104). Eq. 17 instead converts that loss to a
    strength with ``L = ½ (S - R)²``, which holds only for functions proportional to ``g_k``.
    Both are offered so that the chapter can compare them with a network.
    """
    _validate.non_negative("counts", counts)
    _check_dc(d_c, r0)
    learned = np.minimum(np.asarray(counts, dtype=np.float64) / d_c, 1.0)
    return r0 + (1.0 - r0) * learned


def dc_shot_expected_count(n_data, probs, d_c, r0=0.0):
    """Eq. 17 at the expected count ``d_k = D P_s(k)``: the curve of the authors' Fig. 1(b).

    ``n_data`` and ``probs`` broadcast (``n_data[:, None]``, ``probs[None, :]`` for a grid).
    """
    _validate.non_negative("n_data", n_data)
    _validate.probability("probs", probs)
    return dc_shot_strength(np.asarray(n_data, dtype=np.float64) * np.asarray(probs), d_c, r0)


def dc_shot_binomial_mean(n_data, probs, d_c, r0=0.0):
    """Expectation of Eq. 17 over the random count ``d_k ~ Binomial(D, P_s(k))``.

    An exact sum over the binomial pmf, ``Σ_{d < D_c} pmf(d) f(d) + P(d >= D_c)``, since the
    strength is 1 from ``D_c`` on. Because ``1 - sqrt(1 - x)`` is convex below ``D_c`` and flat
    above, this differs from the plug-in :func:`dc_shot_expected_count`, most around ``D P ≈ D_c``.
    ``n_data`` must hold integers >= 0; ``n_data`` and ``probs`` broadcast.
    """
    n = _validate.numbers("n_data", n_data)
    if not np.all((n >= 0) & (np.floor(n) == n)):
        raise ValueError(f"n_data must be integers >= 0, got {n_data!r}")
    _validate.probability("probs", probs)
    _check_dc(d_c, r0)
    n, p = np.broadcast_arrays(n.astype(np.int64), np.asarray(probs, dtype=np.float64))
    below = np.arange(int(np.ceil(d_c)))  # every count d < D_c
    pmf = stats.binom.pmf(below, n[..., None], p[..., None])
    learned = pmf @ (1.0 - np.sqrt(1.0 - below / d_c)) + stats.binom.sf(below[-1], n, p)
    return r0 + (1.0 - r0) * learned


def _check_nc(width, n_skills, n_c, r0=0.0) -> None:
    _check_r0(r0)
    _validate.positive_int("n_skills", n_skills)
    _validate.non_negative("width", width)
    _validate.finite("width", width)
    _validate.positive("n_c", n_c)
    _validate.finite("n_c", n_c)


def nc_basis_counts(width: int, n_skills: int, n_c: int) -> np.ndarray:
    """How many of ``width`` basis functions each skill receives, by direct enumeration.

    The basis of Eq. 18 is ``[e_{1,1..N_c}, e_{2,1..N_c}, ...]`` cut after ``width`` functions:
    skill 1 is served first, then skill 2, and so on. Returns an int array ``(n_skills,)``.
    """
    _validate.positive_int("n_c", n_c)
    _check_nc(width, n_skills, n_c)
    owners = np.repeat(np.arange(n_skills), n_c)[: int(width)]
    return np.bincount(owners, minlength=n_skills)


def nc_basis_strength(width, n_skills: int, n_c: int, r0=0.0) -> np.ndarray:
    """``R_k(∞) / S`` of the ``N_c``-basis learner, Eq. 21, for integer widths and ``N_c``.

    With ``q = floor((N - 1) / N_c) + 1`` and ``r = N - (q - 1) N_c``: skills ``k < q`` are
    learned (1), skill ``q`` gets ``r / N_c``, skills ``k > q`` nothing (0; ``r0`` if given).
    ``width`` may be an int array; the result has shape ``(*width.shape, n_skills)``.
    """
    _validate.positive_int("n_c", n_c)
    _check_nc(width, n_skills, n_c, r0)
    w = np.asarray(width)
    if not np.all(np.floor(w) == w):
        raise ValueError(f"width must be integers >= 0 for Eq. 21, got {width!r}")
    w = w.astype(np.int64)[..., None]
    k = np.arange(1, n_skills + 1)
    q = np.where(w > 0, (w - 1) // n_c + 1, 0)
    r = w - (q - 1) * n_c
    frac = np.where(k < q, 1.0, np.where(k == q, r / n_c, 0.0))
    return r0 + (1.0 - r0) * frac


def nc_basis_strength_continuous(width, n_skills: int, n_c, r0=0.0) -> np.ndarray:
    """``clip((N - (k-1) N_c) / N_c, 0, 1)``: Eq. 21 extended to real ``N`` and ``N_c``.

    This is the curve of the authors' Fig. 1(c); for integer ``N`` and ``N_c`` it equals
    :func:`nc_basis_strength` exactly, and it is what a least-squares fit of a real ``N_c`` uses.
    """
    _check_nc(width, n_skills, n_c, r0)
    w = np.asarray(width, dtype=np.float64)[..., None]
    k = np.arange(1, n_skills + 1)
    frac = np.clip((w - (k - 1) * n_c) / n_c, 0.0, 1.0)
    return r0 + (1.0 - r0) * frac
