"""The data of a transformer ensemble: each member's sparse parity task, sampled as one.

Batches are drawn on the device every step (no host round trip), and the fixed per-skill
evaluation sets that measure ``R_k / S`` come from the same encoding, so training and
measurement see identical token sequences.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..tasks import SparseParityTask


class TaskStack:
    """The tasks of an ensemble (member e has its own disjoint skill subsets), sampled as one.

    Tokens are the encoded inputs of :class:`~emergence.tasks.SparseParityTask` (control one-hot,
    then skill bits) as a uint8 tensor ``(E, B, n_skills + n_bits)``; targets are ``S g_k``.
    """

    def __init__(self, tasks: list[SparseParityTask], device: torch.device | str = "cpu"):
        if not tasks:
            raise ValueError("tasks must hold at least one SparseParityTask, got an empty list")
        first = tasks[0]
        self.n_skills, self.n_bits, self.scale = first.n_skills, first.n_bits, first.scale
        self.device = torch.device(device)
        self.skill_bits = torch.stack([t.skill_bits for t in tasks]).to(self.device)
        self.probs = torch.as_tensor(first.probs(), dtype=torch.float32, device=self.device)

    @property
    def n_members(self) -> int:
        return self.skill_bits.shape[0]

    def tokens_and_targets(self, skill: torch.Tensor, bits: torch.Tensor):
        """Encode ``skill (E, B)`` (0-based) and ``bits (E, B, n_bits)``; return tokens, targets."""
        rows = torch.arange(self.n_members, device=self.device)[:, None]
        owned = self.skill_bits[rows, skill]                                # (E, B, m)
        parity = torch.gather(bits, 2, owned).sum(-1) % 2
        target = self.scale * (1.0 - 2.0 * parity.to(torch.float32))
        control = F.one_hot(skill, self.n_skills).to(torch.uint8)
        return torch.cat([control, bits], dim=2), target

    def sample(self, batch: int, generator: torch.Generator):
        """A fresh batch per member: skills from the power law, uniform bits."""
        n = self.n_members * batch
        skill = torch.multinomial(self.probs, n, replacement=True, generator=generator)
        bits = torch.randint(0, 2, (self.n_members, batch, self.n_bits), generator=generator,
                             device=self.device, dtype=torch.uint8)
        return self.tokens_and_targets(skill.view(self.n_members, batch), bits)

    def evaluation_sets(self, n_per_skill: int, generator: torch.Generator):
        """Fixed per-skill sets: tokens ``(n_skills, E, n, T)``, targets ``(n_skills, E, n)``."""
        sets = []
        for k in range(self.n_skills):
            skill = torch.full((self.n_members, n_per_skill), k, device=self.device)
            bits = torch.randint(0, 2, (self.n_members, n_per_skill, self.n_bits),
                                 generator=generator, device=self.device, dtype=torch.uint8)
            sets.append(self.tokens_and_targets(skill, bits))
        tokens, targets = zip(*sets, strict=True)
        return torch.stack(tokens), torch.stack(targets)
