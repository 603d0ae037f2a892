"""Skills as an orthogonal basis (paper Section 2, Eqs. 2, 3, 6-8).

The skill function ``g_k(i, x)`` is the ±1 parity of skill k's bits when ``i = k`` and zero
otherwise. Their supports are disjoint, so they are orthonormal under ``E_{X|I=k}``, the target
is ``f* = S Σ_k g_k``, and any model ``f`` is measured by its projections

    R_k = E_X[ g_k(k, X) f(k, X) ]                               (skill strength, Eq. 7)
    L_k = ½ E_X[ (f*(k, X) - f(k, X))² ] = ½ (S² + E_X[f²] - 2 S R_k)   (Eq. 8)

Functions here work on tensors with any leading batch dimensions (for example an ensemble of
models), so the same code measures one network or a thousand.
"""

from __future__ import annotations

import numpy as np
import torch

from . import _validate
from .tasks import SparseParityTask


def skill_basis(task: SparseParityTask, skill: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """All skill functions at a batch of points: ``G[j, k] = g_{k+1}(skill_j, bits_j)``.

    Returns a float32 tensor of shape ``(n, n_skills)`` with entries in {-1, 0, +1}; each row
    has exactly one non-zero entry, in the column of the sample's own skill.
    """
    sign = task.parity_sign(skill, bits)
    one_hot = torch.nn.functional.one_hot(skill, task.n_skills).to(torch.float32)
    return one_hot * sign[:, None]


def evaluation_sets(task: SparseParityTask, n_per_skill: int,
                    generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed per-skill evaluation data: inputs ``(n_skills, n, d)`` and targets ``(n_skills, n)``.

    Drawn once and reused at every measurement, as in the paper (20,000 samples per skill).
    """
    _validate.positive_int("n_per_skill", n_per_skill)
    pairs = [task.sample_skill(k, n_per_skill, generator, device)
             for k in range(1, task.n_skills + 1)]
    return torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs])


def strengths(outputs: torch.Tensor, targets: torch.Tensor, scale: float) -> torch.Tensor:
    """Skill strengths ``R_k`` from outputs on the per-skill evaluation sets.

    ``outputs`` has shape ``(..., n_skills, n)``; ``targets`` (``S g_k``) has shape
    ``(n_skills, n)``. Returns ``(..., n_skills)``: the mean of ``g_k f`` over each skill's set.
    """
    _validate.positive("scale", scale)
    return (outputs * (targets / scale)).mean(dim=-1)


def skill_losses(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-skill losses ``L_k = ½ mean (f* - f)²`` on the evaluation sets, ``(..., n_skills)``."""
    return 0.5 * ((targets - outputs) ** 2).mean(dim=-1)


def loss_from_strength(scale: float, second_moment, strength):
    """Eq. 8: ``L_k = ½ (S² + E[f²] - 2 S R_k)``, the loss written through the strength."""
    _validate.positive("scale", scale)
    return 0.5 * (scale**2 + second_moment - 2.0 * scale * strength)


def total_loss(per_skill_loss, probs):
    """``L = Σ_k P_s(k) L_k`` (Eq. 6), summing over the last axis of ``per_skill_loss``."""
    probs = np.asarray(probs) if not torch.is_tensor(per_skill_loss) else torch.as_tensor(
        probs, dtype=per_skill_loss.dtype, device=per_skill_loss.device)
    return (per_skill_loss * probs).sum(-1)


def measure(model, inputs: torch.Tensor, targets: torch.Tensor, scale: float) -> dict:
    """Evaluate a model on per-skill sets and return its strengths, losses and second moments.

    ``model`` maps a ``(batch, d)`` tensor to ``(batch,)`` or ``(batch, 1)`` outputs. Returns a
    dict of ``(n_skills,)`` tensors: ``strength`` (R_k), ``loss`` (L_k), ``second_moment``
    (E[f²]), so Eq. 8 can be checked on any model.
    """
    n_skills, n, dim = inputs.shape
    with torch.no_grad():
        outputs = model(inputs.reshape(n_skills * n, dim)).reshape(n_skills, n)
    return {
        "strength": strengths(outputs, targets, scale),
        "loss": skill_losses(outputs, targets),
        "second_moment": (outputs**2).mean(dim=-1),
    }
