"""The multitask sparse parity task (paper Section 2, Eq. 1 and Eq. 4).

An input is ``n_skills`` control bits (a one-hot code of the skill index ``I``) followed by
``n_bits`` skill bits ``X``, uniform and independent. Skill ``k`` owns ``bits_per_skill`` (m)
positions among the skill bits, disjoint from every other skill's (optionally only a different
subset, as in the task's original form). Skills are drawn with the
power law ``P_s(k) ∝ k^-(alpha+1)`` and the target is ``scale`` times the ±1 parity of the owned
bits, ``f*(k, x) = S (-1)^(x_{j1} + ... + x_{jm})``, so ``+S`` for even parity.

Batches are generated directly on the requested torch device with a ``torch.Generator``: the
book's experiments never build data on the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from . import _validate
from .theory.dynamics import skill_probs


@dataclass(frozen=True)
class SparseParityTask:
    """One instance of multitask sparse parity, with its skill subsets fixed by ``seed``.

    Parameters
    ----------
    n_skills : number of skills n_s (control bits), >= 1.
    n_bits : number of skill bits n_b, >= ``n_skills * bits_per_skill``.
    bits_per_skill : sparsity m of each parity, >= 1.
    alpha : power-law exponent, > 0; skill k is drawn with probability ∝ k^-(alpha+1).
    scale : S, the magnitude of the target, > 0.
    seed : chooses the skill subsets (the paper's code draws fresh subsets per run).
    disjoint : if True (the paper's experiments), no bit belongs to two skills; if False, each
        skill draws its own m positions and subsets are only required to differ, as in the
        original task of Michaud et al. and the paper's Table 1 (7 skills on 12 bits).
    """

    n_skills: int
    n_bits: int
    bits_per_skill: int
    alpha: float
    scale: float = 1.0
    seed: int = 0
    disjoint: bool = True
    skill_bits: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate.positive_int("n_skills", self.n_skills)
        _validate.positive_int("n_bits", self.n_bits)
        _validate.positive_int("bits_per_skill", self.bits_per_skill)
        _validate.finite_positive("alpha", self.alpha)
        _validate.finite_positive("scale", self.scale)
        _validate.non_negative_int("seed", self.seed)
        _validate.one_of("disjoint", self.disjoint, (True, False))
        generator = torch.Generator().manual_seed(int(self.seed))
        if self.disjoint:
            positions = self._disjoint_subsets(generator)
        else:
            positions = self._distinct_subsets(generator)
        object.__setattr__(self, "skill_bits", positions)

    def _disjoint_subsets(self, generator: torch.Generator) -> torch.Tensor:
        """``n_skills * m`` distinct positions, dealt out m per skill."""
        needed = self.n_skills * self.bits_per_skill
        if needed > self.n_bits:
            raise ValueError(
                f"n_bits must be >= n_skills * bits_per_skill = {needed} so that skill subsets "
                f"are disjoint, got n_bits={self.n_bits}"
            )
        positions = torch.randperm(self.n_bits, generator=generator)[:needed]
        return positions.view(self.n_skills, self.bits_per_skill)

    def _distinct_subsets(self, generator: torch.Generator) -> torch.Tensor:
        """One random m-subset per skill, redrawn until no two skills share the same subset."""
        if self.bits_per_skill > self.n_bits or math.comb(self.n_bits, self.bits_per_skill) < \
                self.n_skills:
            raise ValueError(
                f"n_bits={self.n_bits} must offer at least n_skills={self.n_skills} distinct "
                f"subsets of bits_per_skill={self.bits_per_skill} positions")
        chosen: list[torch.Tensor] = []
        seen: set[tuple[int, ...]] = set()       # a set, so the check is O(1) per draw
        while len(chosen) < self.n_skills:
            subset = torch.randperm(self.n_bits, generator=generator)[: self.bits_per_skill]
            key = tuple(sorted(subset.tolist()))
            if key not in seen:
                seen.add(key)
                chosen.append(subset)
        return torch.stack(chosen)

    @property
    def input_dim(self) -> int:
        """Length of an encoded input: control bits plus skill bits."""
        return self.n_skills + self.n_bits

    def probs(self) -> np.ndarray:
        """``P_s(k)`` for ``k = 1..n_skills`` (float64 numpy array)."""
        return skill_probs(self.n_skills, self.alpha)

    def sample_skills(self, n: int, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu") -> torch.Tensor:
        """Draw ``n`` skill indices (0-based) from the power law, on ``device``."""
        _validate.positive_int("n", n)
        probs = torch.as_tensor(self.probs(), dtype=torch.float32, device=device)
        return torch.multinomial(probs, n, replacement=True, generator=generator)

    def sample_bits(self, n: int, generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu") -> torch.Tensor:
        """Draw ``n`` rows of uniform, independent skill bits as a {0,1} uint8 tensor."""
        _validate.positive_int("n", n)
        return torch.randint(0, 2, (n, self.n_bits), generator=generator, device=device,
                             dtype=torch.uint8)

    def parity_sign(self, skill: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """``(-1)^(sum of the bits that skill owns)``: the value of ``g_skill`` (float32, ±1)."""
        owned = self.skill_bits.to(bits.device)[skill]             # (n, m) positions
        parity = torch.gather(bits, 1, owned).sum(dim=1) % 2        # (n,)
        return 1.0 - 2.0 * parity.to(torch.float32)

    def target(self, skill: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """The target ``f*(skill, bits) = S * g_skill`` (Eq. 4), float32 of shape (n,)."""
        return self.scale * self.parity_sign(skill, bits)

    def encode(self, skill: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """Network input: one-hot control bits then the skill bits, as float32 0/1."""
        control = torch.nn.functional.one_hot(skill, self.n_skills).to(torch.float32)
        return torch.cat([control, bits.to(torch.float32)], dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu"):
        """A batch ``(inputs, targets, skills)`` of ``n`` i.i.d. samples from ``P(I, X)``."""
        skill = self.sample_skills(n, generator, device)
        bits = self.sample_bits(n, generator, device)
        return self.encode(skill, bits), self.target(skill, bits), skill

    def sample_skill(self, k: int, n: int, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu"):
        """A batch ``(inputs, targets)`` of ``n`` samples of skill ``k`` (1-based), for R_k."""
        if not 1 <= int(k) <= self.n_skills:
            raise ValueError(f"k must lie in [1, {self.n_skills}], got {k!r}")
        skill = torch.full((n,), int(k) - 1, dtype=torch.long, device=device)
        bits = self.sample_bits(n, generator, device)
        return self.encode(skill, bits), self.target(skill, bits)

    def decode(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Split encoded inputs back into ``(skill, bits)``; inverse of :meth:`encode`."""
        skill = inputs[:, : self.n_skills].argmax(dim=1)
        bits = inputs[:, self.n_skills:].round().to(torch.uint8)
        return skill, bits
