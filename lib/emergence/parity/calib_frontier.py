"""The one-skill data calibration of Chapter 8 repeated at several widths, dense and sparse.

Chapter 8 fits the constant ``D_c`` of the ``D_c``-shot learner to ``calib_data``: one skill
(3 relevant bits among 32), a width-1000 ReLU network with every weight drawn from
``N(0, 0.001²)``, full-batch SGD on ``D`` samples. Edelman et al. (2023) read a sample
threshold of this kind as one point on a frontier of width, data, time and luck. This module
measures where the threshold moves when only the width or the first layer's initial support
changes; everything else is ``calib_data``'s setting.

``sparsity = s > 0`` gives every hidden unit ``s`` nonzero weights on the task bits, drawn at
random; the weight on the control bit and the bias are left dense. The kept weights are
multiplied by ``sqrt(n_bits / s)`` so that a unit's expected squared weight norm, and with it
the network's initial output scale, is that of the dense init: the comparison changes the
support, not the size. ``sparsity = 0`` is the dense init of ``calib_data``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import _validate, store
from ..experiments import (
    DataExperiment,
    Parts,
    default_device,
    default_engine,
    make_calib_data,
    register,
)
from ..models import MLPEnsemble
from ..profiles import check_profile
from ..train import (
    FixedDataset,
    MemberOptimizer,
    SkillEvaluator,
    SkillSampler,
    TorchEnsemble,
    evaluation_bits,
    member_subsets,
)


def sparse_first_layer(model: MLPEnsemble, n_control: int, sparsity: int,
                       generator: torch.Generator) -> None:
    """Keep ``sparsity`` random task-bit weights per hidden unit, rescaled; zero the rest.

    ``model.w1`` has shape (members, n_control + n_bits, width); rows ``:n_control`` (the
    control bits) are untouched. Masked (padding) units stay zero.
    """
    n_bits = model.w1.shape[1] - n_control
    if not 1 <= sparsity <= n_bits:
        raise ValueError(f"sparsity must lie in [1, {n_bits}], got {sparsity!r}")
    members, width = model.w1.shape[0], model.w1.shape[2]
    scores = torch.rand(members, n_bits, width, generator=generator,
                        device=model.w1.device)
    keep = scores.argsort(dim=1).argsort(dim=1) < sparsity      # s random rows per unit
    with torch.no_grad():
        task = model.w1[:, n_control:, :]
        task.mul_(keep.to(task.dtype) * math.sqrt(n_bits / sparsity))


@dataclass(frozen=True, kw_only=True)
class SparseDataExperiment(DataExperiment):
    """``calib_data``-style experiment whose first layer starts ``sparsity``-sparse (0: dense)."""

    sparsity: int
    kind = "data_sparse"

    def validate(self) -> None:
        super().validate()
        _validate.non_negative_int("sparsity", self.sparsity)
        if self.sparsity > self.n_bits:
            raise ValueError(f"sparsity must be <= n_bits = {self.n_bits}, got "
                             f"{self.sparsity}")

    def parts(self, device, n_seeds: int | None = None, engine: str | None = None) -> Parts:
        """As :meth:`emergence.experiments.MLPExperiment.parts` for fixed data, with the
        sparse first layer."""
        device = torch.device(device)
        engine = default_engine(device, self.n_bits) if engine is None else engine
        n_seeds = self.n_seeds if n_seeds is None else n_seeds
        members = len(self.member_widths()) * n_seeds
        subsets = member_subsets(self.n_skills, self.n_bits, self.bits_per_skill,
                                 [1_000_003 * self.seed + i for i in range(members)])
        sampler = SkillSampler(subsets, self.n_bits, self.alpha, self.scale, device)
        generator = torch.Generator(device=device).manual_seed(self.seed)
        model = MLPEnsemble(members, sampler.input_dim, self.width, self.init_std, None,
                            generator, device)
        if self.sparsity:
            sparse_first_layer(model, self.n_skills, self.sparsity, generator)
        spec = self.data_spec(n_seeds)
        if engine == "rowsum":
            from ..cpu_ensemble import RowSumEnsemble

            built = RowSumEnsemble(model, sampler, self.optimizer, self.weight_decay, spec,
                                   evaluation_bits(sampler, self.n_eval, self.seed + 2))
            data = built.data
        else:
            optimizer = MemberOptimizer(model.parameters(), self.optimizer, self.weight_decay)
            data = FixedDataset(sampler, spec[1], spec[2], spec[3])
            built = TorchEnsemble(model, optimizer, data,
                                  SkillEvaluator(sampler, self.n_eval, seed=self.seed + 2))
        return Parts(built, data, self.lr_schedule(data, members), sampler)


@dataclass(frozen=True, kw_only=True)
class CalibFrontier:
    """``calib_data`` re-run in each (width, sparsity) cell of ``cells`` (sparsity 0 = dense).

    ``run`` trains one :class:`SparseDataExperiment` per cell, all with the same seeds, tasks
    and training sets, and returns ``strength``, ``skill_counts`` (n_cells, n_D, n_seeds),
    ``strength_history`` (n_cells, n_hist, n_D, n_seeds) at ``history_steps``, ``cells``
    (n_cells, 2), ``n_data``, ``cell_wall_s`` (n_cells,) and ``wall_s``.
    """

    name: str
    profile: str
    cells: tuple[tuple[int, int], ...]
    n_data: tuple[int, ...]
    n_steps: int
    n_seeds: int
    kind = "calib_frontier"

    def __post_init__(self) -> None:
        store.check_name(self.name)
        check_profile(self.profile)
        if not self.cells or any(len(cell) != 2 for cell in self.cells):
            raise ValueError(f"cells must be a non-empty tuple of (width, sparsity) pairs, "
                             f"got {self.cells!r}")
        _validate.int_sequence("n_data", self.n_data)
        _validate.positive_int("n_steps", self.n_steps)
        _validate.positive_int("n_seeds", self.n_seeds)
        self.experiments()  # validates every cell

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def experiments(self) -> list[SparseDataExperiment]:
        """One experiment per cell, on the profile's ``calib_data`` settings."""
        settings = dataclasses.asdict(make_calib_data(self.profile))
        settings.update(name=self.name, n_data=self.n_data, n_steps=self.n_steps,
                        n_seeds=self.n_seeds)
        return [SparseDataExperiment(**{**settings, "width": w, "sparsity": s})
                for w, s in self.cells]

    def run(self, device=None, progress: bool | None = False) -> dict:
        device = torch.device(device if device is not None else default_device())
        outs = [cell.run(device, progress=progress) for cell in self.experiments()]
        return {"cells": np.asarray(self.cells), "n_data": np.asarray(self.n_data),
                "strength": np.stack([o["strength"][..., 0] for o in outs]),
                "skill_counts": np.stack([o["skill_counts"][..., 0] for o in outs]),
                "history_steps": outs[0]["history_steps"],
                "strength_history": np.stack([o["strength_history"][..., 0] for o in outs]),
                "cell_wall_s": np.asarray([o["wall_s"] for o in outs]),
                "wall_s": float(sum(o["wall_s"] for o in outs))}


def make_calib_frontier(profile: str) -> CalibFrontier:
    """Paper: width 100 and 300 dense, width 100 and 1000 2-sparse; D from 100 to 1,700 (10
    sizes), 3 seeds, 3,000 steps. The dense width-1000 cell is the stored ``calib_data``
    itself (its record at step 3,000, where every D has reached 98-100 % of its final ``R/S``,
    and its final one). The full 30,000 steps, or more cells, would cost hours on two shared
    CPU cores.

    Quick: ``calib_data``'s quick task (12 bits, parities of 2), widths 16 and 64 dense and 64
    2-sparse, D from 10 to 160, 2 seeds, 600 steps.
    """
    profile = check_profile(profile)
    if profile == "paper":
        return CalibFrontier(name="calib_frontier", profile=profile,
                             cells=((100, 0), (300, 0), (100, 2), (1000, 2)),
                             n_data=(100, 200, 300, 400, 500, 600, 800, 1000, 1300, 1700),
                             n_steps=3000, n_seeds=3)
    return CalibFrontier(name="calib_frontier", profile=profile,
                         cells=((16, 0), (64, 0), (64, 2)), n_data=(10, 20, 40, 80, 160),
                         n_steps=600, n_seeds=2)


register("calib_frontier", make_calib_frontier)
