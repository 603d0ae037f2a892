"""The settings of a transformer experiment, and what follows from the settings alone.

:class:`TransformerConfig` is an experiment in the sense of :mod:`emergence.experiments`: a
frozen, validated record of every setting (the results store hashes its ``to_dict()``) that
builds the model, tasks and optimiser, and whose ``run(device)`` trains the ensemble on fresh
batches drawn on the device and returns the normalised skill strengths ``R_k / S`` measured on
fixed per-skill evaluation sets. :func:`step_flops` (the cost of one step) and
:func:`readout_lr_cap` (the largest stable read-out step at initialisation) depend on the
settings only; they are what one reads to choose a config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import _validate
from ..profiles import check_profile
from ..tasks import SparseParityTask
from .data import TaskStack
from .model import PARAMETRISATIONS, READOUTS, BatchedTransformer, _check_choice
from .train import train

OPTIMIZERS = ("sgd", "adam")
PRECISIONS = ("float32", "bfloat16")
SPACINGS = ("linear", "log")


@dataclass(frozen=True)
class TransformerConfig:
    """One transformer time-emergence experiment (the ensemble of ``n_seeds`` members).

    Task: ``n_skills``, ``n_bits``, ``bits_per_skill`` (m), ``alpha``, ``scale`` (S).
    Model: ``d_model``, ``n_heads``, ``readout``, ``parametrisation``, ``init_std`` (a multiplier
    on PyTorch's default init; the paper's run used 1), ``zero_readout`` (read-out starts at 0,
    so ``R_k(0) = 0`` and no skill can cross the emergence threshold by chance at step 0).
    Training: ``optimizer`` (``"sgd"`` with ``momentum`` and ``weight_decay``, or ``"adam"`` with
    ``betas`` and ``weight_decay``), ``lr``, linear ``warmup_steps``, ``batch_size`` fresh
    samples per member per step, ``n_steps``; the loss is torch's MSE (no ½), as in the paper.
    Measurement: ``R_k / S`` on ``n_eval`` fixed samples per skill, every ``record_every`` steps
    (``record_spacing="linear"``) or at ``n_steps // record_every`` geometrically spaced steps
    (``"log"``, which resolves early emergence times as finely as late ones).
    Speed: ``precision`` (``"bfloat16"`` autocast on a GPU) and ``compile`` (torch.compile).
    """

    nan_arrays = ("train_loss",)  # NaN marks a record with no steps before it (step 0)

    name: str = "transformer_time"
    profile: str = "quick"
    n_skills: int = 5
    n_bits: int = 32
    bits_per_skill: int = 3
    alpha: float = 0.9
    scale: float = 1.0
    d_model: int = 512
    n_heads: int = 4
    readout: str = "flatten"
    parametrisation: str = "standard"
    init_std: float = 1.0
    zero_readout: bool = False
    optimizer: str = "sgd"
    lr: float = 5e-5
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-5
    warmup_steps: int = 0
    batch_size: int = 5000
    n_steps: int = 1_000_000
    record_every: int = 100
    record_spacing: str = "linear"
    n_eval: int = 20_000
    n_seeds: int = 5
    seed: int = 0
    precision: str = "float32"
    compile: bool = False

    def __post_init__(self) -> None:
        check_profile(self.profile)
        for name in ("n_skills", "n_bits", "bits_per_skill", "d_model", "n_heads", "batch_size",
                     "n_steps", "record_every", "n_eval", "n_seeds"):
            _validate.positive_int(name, getattr(self, name))
        for name in ("alpha", "scale", "lr", "init_std"):
            _validate.finite_positive(name, getattr(self, name))
        _validate.finite("weight_decay", self.weight_decay)
        _validate.non_negative("weight_decay", self.weight_decay)
        _validate.non_negative_int("warmup_steps", self.warmup_steps)
        _validate.non_negative_int("seed", self.seed)
        _validate.numbers("momentum", self.momentum)
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2 or not all(
                0.0 <= float(_validate.numbers("betas", b)) < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        _validate.one_of("compile", self.compile, (True, False))
        _validate.one_of("zero_readout", self.zero_readout, (True, False))
        _check_choice("readout", self.readout, READOUTS)
        _check_choice("parametrisation", self.parametrisation, PARAMETRISATIONS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_choice("record_spacing", self.record_spacing, SPACINGS)
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model must be divisible by n_heads={self.n_heads}, "
                             f"got {self.d_model}")
        # The task validates n_bits >= n_skills * bits_per_skill with a clear message.
        SparseParityTask(self.n_skills, self.n_bits, self.bits_per_skill, self.alpha, self.scale)

    @property
    def n_tokens(self) -> int:
        return self.n_skills + self.n_bits

    def to_dict(self) -> dict:
        """Every setting, JSON-serialisable (tuples become lists); the store hashes this."""
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        out["kind"] = "transformer"
        return out

    def n_parameters(self) -> int:
        """Trainable parameters of one seed's network."""
        model = BatchedTransformer(self.n_tokens, self.d_model, self.n_heads, 1, self.readout,
                                   self.parametrisation)
        return sum(p.numel() for p in model.parameters())

    def replace(self, **changes) -> TransformerConfig:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def build(self, device: torch.device | str = "cpu") -> tuple[BatchedTransformer, TaskStack]:
        """The initialised ensemble and its tasks on ``device`` (same weights on every device)."""
        generator = torch.Generator().manual_seed(self.seed)
        model = BatchedTransformer(self.n_tokens, self.d_model, self.n_heads, self.n_seeds,
                                   self.readout, self.parametrisation, self.init_std,
                                   self.zero_readout, generator)
        tasks = [SparseParityTask(self.n_skills, self.n_bits, self.bits_per_skill, self.alpha,
                                  self.scale, seed=self.seed * 1000 + e)
                 for e in range(self.n_seeds)]
        return model.to(device), TaskStack(tasks, device)

    def optimiser(self, model: BatchedTransformer) -> torch.optim.Optimizer:
        """The configured optimiser over the model's parameter groups."""
        groups = model.param_groups(self.lr)
        if self.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=self.lr, momentum=self.momentum,
                                   weight_decay=self.weight_decay)
        return torch.optim.Adam(groups, lr=self.lr, betas=self.betas,
                                weight_decay=self.weight_decay)

    def record_steps(self) -> np.ndarray:
        """Steps at which strengths are measured: 0, then linearly or log spaced, and the last."""
        if self.record_spacing == "log":
            count = max(self.n_steps // self.record_every, 2)
            spaced = np.geomspace(1, self.n_steps, count).round().astype(np.int64)
            return np.unique(np.concatenate([[0], spaced]))
        steps = np.arange(0, self.n_steps + 1, self.record_every)
        return steps if steps[-1] == self.n_steps else np.append(steps, self.n_steps)

    def run(self, device: torch.device | str = "cpu", progress: bool = False,
            checkpoint: str | Path | None = None, deadline: float | None = None) -> dict:
        """Train the ensemble; return ``steps``, ``strength`` (R_k/S) and ``loss`` (½ MSE).

        ``strength`` and ``loss`` have shape ``(n_rec, n_seeds, n_skills)``; ``train_loss``
        ``(n_rec, n_seeds)`` is the mean training MSE (no ½) of the batches since the last
        record, and ``wall_s`` the training time in seconds (summed over resumed pieces).
        A seed whose training loss turns non-finite or exceeds ``10^4 S²`` stops the run with
        :class:`~emergence.train.TrainingDiverged`. With ``checkpoint`` (a path) the state is
        saved there about once a minute and a later run resumes from it; with a ``deadline``
        (``time.monotonic()``) too, a run still going then saves and raises
        :class:`~emergence.checkpoints.TrainingPaused`, as the MLP experiments do.
        """
        return train(self, device, progress, checkpoint, deadline)


def step_flops(cfg: TransformerConfig) -> float:
    """Approximate floating-point operations of one training step of the whole ensemble.

    Counts the matrix products only (2 flops per multiply-add), forward plus a backward pass of
    twice the forward: ``6 · tokens · (12 d² + 2 T d)`` for the block and the attention scores,
    plus the read-out; evaluation passes are not included.
    """
    d, t = cfg.d_model, cfg.n_tokens
    per_token = 12 * d * d + 2 * t * d + (2 + t) * d
    readout = t * d if cfg.readout == "flatten" else d
    tokens = cfg.n_seeds * cfg.batch_size * t
    return 6.0 * tokens * per_token + 6.0 * cfg.n_seeds * cfg.batch_size * readout


@torch.no_grad()
def readout_lr_cap(cfg: TransformerConfig, n_samples: int = 1024) -> np.ndarray:
    """The largest stable plain-SGD step for the read-out at initialisation, per member.

    On torch's MSE loss the Hessian in the read-out weights and bias is ``(2/B) H^T H`` with
    ``H`` the ``(B, fan_in + 1)`` matrix of read-out inputs (and a column of ones), whatever the
    rest of the network does. Gradient descent on that quadratic is stable for steps below
    ``2 / λ_max = B / σ_max(H)²``; momentum ``β`` raises the bound to ``(1 + β)`` times that.
    Returns the plain-SGD bound, shape ``(n_seeds,)``, measured on ``n_samples`` task inputs.
    """
    _validate.positive_int("n_samples", n_samples)
    model, tasks = cfg.build("cpu")
    tokens, _ = tasks.sample(n_samples, torch.Generator().manual_seed(cfg.seed + 3))
    feats = model.features(tokens)
    ones = torch.ones(*feats.shape[:2], 1)
    top = torch.linalg.matrix_norm(torch.cat([feats, ones], dim=2), ord=2)
    return (n_samples / top**2).numpy()
