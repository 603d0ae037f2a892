"""Gradient descent on the multilinear model itself (paper Section 3, Eqs. 9-12, 29).

The model ``f = Σ_{k ≤ N} a_k b_k g_k`` is trained on the empirical ½-MSE loss. Because the skill
functions are orthonormal with disjoint supports, a training set enters only through the counts
``d_k`` of samples per skill:

    L^(D) = 1/(2D) Σ_k d_k (S - a_k b_k)²                       (Eq. 29)

so simulating the model needs the weights ``w_k = d_k / D`` (or ``P_s(k)`` for unlimited data),
not the samples. The simulation uses torch autograd on the parameters, with no knowledge of the
closed-form solution, so agreement with :mod:`emergence.theory` is an independent check.
All arrays may carry leading batch dimensions: one call trains a whole ensemble of datasets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from . import _validate


@dataclass(frozen=True)
class Trajectory:
    """Recorded training of the multilinear model.

    ``steps`` (n_records,) are the gradient-descent step counts; ``strengths`` has shape
    ``(n_records, *batch, n_basis)`` and holds ``R_k = a_k b_k``; ``losses`` ``(n_records, *batch)``
    holds the population loss ``½ Σ_k P_k (S - R_k)²`` over the basis (skills outside the basis
    add their constant ``½ S² Σ_{k>N} P_k``, which the caller knows). ``a`` and ``b`` hold the
    two factors themselves, shaped like ``strengths``, so that the conserved ``a² - b²`` can be
    checked.
    """

    steps: np.ndarray
    strengths: np.ndarray
    losses: np.ndarray
    a: np.ndarray | None = field(default=None, repr=False)
    b: np.ndarray | None = field(default=None, repr=False)


def sample_skill_counts(n_data: int, probs, n_datasets: int = 1, seed: int = 0) -> np.ndarray:
    """Counts ``d_k`` of each skill in ``n_datasets`` i.i.d. training sets of size ``n_data``.

    Returns an int64 array ``(n_datasets, n_skills)``; each row is Multinomial(D, P_s).
    """
    _validate.positive_int("n_data", n_data)
    _validate.positive_int("n_datasets", n_datasets)
    probs = np.asarray(probs, dtype=np.float64)
    _validate.probability("probs", probs)
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_data, probs / probs.sum(), size=n_datasets)


def train(weights, *, scale: float = 1.0, r0: float = 0.01, lr: float = 0.05,
          n_steps: int = 1000, record_every: int = 10, population_probs=None,
          init_asymmetry: float = 0.0, dtype: torch.dtype = torch.float64) -> Trajectory:
    """Train ``f = Σ a_k b_k g_k`` by full-batch gradient descent on the loss of Eq. 29.

    Parameters
    ----------
    weights : array ``(..., n_basis)`` of per-skill loss weights ``d_k / D`` (or ``P_s(k)``),
        each in [0, 1]; a skill with weight 0 was never seen and never moves.
    scale : S, > 0.
    r0 : initial strength ``a_k(0) b_k(0)``, in (0, scale).
    lr : learning rate η, > 0.
    n_steps, record_every : integers >= 1; strengths are recorded at steps 0, record_every, ...
    population_probs : the ``P_s(k)`` used for the recorded population loss; defaults to
        ``weights`` (the infinite-data case).
    init_asymmetry : relative difference between ``a_k(0)`` and ``b_k(0)`` at fixed product,
        in [0, 1); 0 is the paper's symmetric initialisation.
    """
    w = torch.as_tensor(np.asarray(weights, dtype=np.float64), dtype=dtype)
    if not bool(((w >= 0) & (w <= 1)).all()):
        raise ValueError("weights must lie in [0, 1] (they are d_k / D or P_s(k))")
    _validate.positive("scale", scale)
    _validate.in_open_interval("r0", r0, 0.0, scale)
    _validate.positive("lr", lr)
    _validate.positive_int("n_steps", n_steps)
    _validate.positive_int("record_every", record_every)
    if not 0.0 <= init_asymmetry < 1.0:
        raise ValueError(f"init_asymmetry must lie in [0, 1), got {init_asymmetry!r}")
    p = w if population_probs is None else torch.as_tensor(
        np.asarray(population_probs, dtype=np.float64), dtype=dtype).expand_as(w)

    stretch = np.sqrt((1.0 + init_asymmetry) / (1.0 - init_asymmetry))
    a = torch.full_like(w, np.sqrt(r0) * stretch).requires_grad_(True)
    b = torch.full_like(w, np.sqrt(r0) / stretch).requires_grad_(True)

    steps, strengths, losses, a_rec, b_rec = [], [], [], [], []
    for step in range(n_steps + 1):
        if step % record_every == 0:
            with torch.no_grad():
                product = a * b
                steps.append(step)
                strengths.append(product.clone())
                a_rec.append(a.detach().clone())
                b_rec.append(b.detach().clone())
                losses.append((0.5 * p * (scale - product) ** 2).sum(-1))
        if step == n_steps:
            break
        empirical_loss = (0.5 * w * (scale - a * b) ** 2).sum()
        grad_a, grad_b = torch.autograd.grad(empirical_loss, (a, b))
        with torch.no_grad():
            a -= lr * grad_a
            b -= lr * grad_b
        if not bool(torch.isfinite(a).all()):
            raise FloatingPointError(f"multilinear training diverged at step {step}: lower lr={lr}")
    return Trajectory(np.asarray(steps), torch.stack(strengths).numpy(),
                      torch.stack(losses).numpy(), torch.stack(a_rec).numpy(),
                      torch.stack(b_rec).numpy())
