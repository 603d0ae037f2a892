"""A one-block decoder transformer on multitask sparse parity, several seeds trained as one model.

The paper's transformer (its App. K.2 and its public code) reads each of the ``n_skills + n_bits``
input bits as a token whose features are ``one-hot(bit value, 2) ⊕ one-hot(position, n_tokens)``.
A ``Linear(2 + n_tokens, d_model)`` + ReLU embeds them; one pre-LayerNorm block follows (causal
multi-head self-attention, then a ``d_model → 4 d_model → d_model`` ReLU MLP, each on a residual
branch whose exit projection is halved at initialisation); a final LayerNorm; and a read-out to
one scalar. The paper flattens all tokens into ``Linear(n_tokens · d_model, 1)``; ``readout``
also offers the mean over tokens or the last token, which keep the read-out's fan-in at
``d_model`` and so lift the cap that the flattened fan-in puts on a stable SGD step.

:class:`BatchedTransformer` stores every parameter with a leading "member" axis and evaluates
all members with batched matrix products, so an ensemble of seeds costs one model's kernel
launches. Members never mix: the loss is a sum of per-member losses and the optimisers are
elementwise, so each member follows exactly the trajectory it would follow alone (tested).

:class:`TransformerConfig` is an experiment in the sense of :mod:`emergence.experiments`:
``run(device)`` trains the ensemble on fresh batches drawn on the device and returns the
normalised skill strengths ``R_k / S`` measured on fixed per-skill evaluation sets.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import _validate, store
from .profiles import check_profile
from .tasks import SparseParityTask
from .train import TrainingDiverged, TrainingPaused, load_checkpoint, save_checkpoint

READOUTS = ("flatten", "mean", "last")
PARAMETRISATIONS = ("standard", "mup")
OPTIMIZERS = ("sgd", "adam")
PRECISIONS = ("float32", "bfloat16")
SPACINGS = ("linear", "log")


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


# ----------------------------------------------------------------------------------------------
# The batched model
# ----------------------------------------------------------------------------------------------

class BatchedTransformer(nn.Module):
    """``n_models`` independent one-block transformers evaluated together.

    Parameters
    ----------
    n_tokens : sequence length (``n_skills + n_bits`` for sparse parity), >= 1.
    d_model : embedding width, >= 1 and divisible by ``n_heads``.
    n_heads : attention heads, >= 1.
    n_models : ensemble members (seeds), >= 1.
    readout : ``"flatten"`` (the paper), ``"mean"`` or ``"last"``.
    parametrisation : ``"standard"`` (PyTorch's default init, as the paper) or ``"mup"``
        (read-out initialised at std ``1/fan_in`` and attention logits scaled by ``1/d_head``;
        pair it with :meth:`param_groups`, which lowers the read-out's step by its fan-in).
    init_scale : multiplier on every initial weight and bias (LayerNorms excepted), > 0.
    zero_readout : start the read-out at zero, so that every ``R_k(0) = 0`` exactly.
    generator : a CPU ``torch.Generator``; the same generator state gives the same weights.
    """

    def __init__(self, n_tokens: int, d_model: int, n_heads: int, n_models: int = 1,
                 readout: str = "flatten", parametrisation: str = "standard",
                 init_scale: float = 1.0, zero_readout: bool = False,
                 generator: torch.Generator | None = None):
        super().__init__()
        for name, value in (("n_tokens", n_tokens), ("d_model", d_model),
                            ("n_heads", n_heads), ("n_models", n_models)):
            _validate.positive_int(name, value)
        if d_model % n_heads:
            raise ValueError(f"d_model must be divisible by n_heads={n_heads}, got {d_model}")
        _check_choice("readout", readout, READOUTS)
        _check_choice("parametrisation", parametrisation, PARAMETRISATIONS)
        _validate.positive("init_scale", init_scale)
        self.n_tokens, self.d_model, self.n_heads = n_tokens, d_model, n_heads
        self.n_models = n_models
        self.readout, self.parametrisation = readout, parametrisation
        shapes = self.shapes()
        init = _initial_weights(shapes, self.readout_fan_in, parametrisation, init_scale,
                                n_models, generator)
        if zero_readout:
            init["head_w"].zero_()
            init["head_b"].zero_()
        self.params = nn.ParameterDict({k: nn.Parameter(v) for k, v in init.items()})

    @property
    def readout_fan_in(self) -> int:
        """Read-out inputs: ``n_tokens · d_model`` when flattening, else ``d_model``."""
        return self.n_tokens * self.d_model if self.readout == "flatten" else self.d_model

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-member parameter shapes; weights are stored ``(fan_in, fan_out)``."""
        d, t = self.d_model, self.n_tokens
        return {
            "embed_w": (2 + t, d), "embed_b": (d,),
            "ln1_w": (d,), "ln1_b": (d,), "qkv_w": (d, 3 * d), "qkv_b": (3 * d,),
            "attn_out_w": (d, d), "attn_out_b": (d,),
            "ln2_w": (d,), "ln2_b": (d,), "fc_w": (d, 4 * d), "fc_b": (4 * d,),
            "mlp_out_w": (4 * d, d), "mlp_out_b": (d,),
            "lnf_w": (d,), "lnf_b": (d,), "head_w": (self.readout_fan_in,), "head_b": (),
        }

    def param_groups(self, lr: float) -> list[dict]:
        """Optimiser groups: one learning rate, except the muP read-out's ``lr / fan_in``."""
        head = [self.params["head_w"], self.params["head_b"]]
        body = [p for k, p in self.params.items() if k not in ("head_w", "head_b")]
        head_lr = lr / self.readout_fan_in if self.parametrisation == "mup" else lr
        return [{"params": body, "lr": lr}, {"params": head, "lr": head_lr}]

    # -- pieces of the forward pass, each (n_models, ..., features) -> same leading axes ------

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """ReLU(Linear(one-hot value ⊕ one-hot position)) for 0/1 tokens ``(E, B, T)``."""
        w, b = self.params["embed_w"], self.params["embed_b"]
        value = tokens.to(w.dtype)[..., None]                              # (E, B, T, 1)
        by_value = w[:, None, None, 0] + value * (w[:, None, None, 1] - w[:, None, None, 0])
        by_position = w[:, None, 2:2 + tokens.shape[-1]]                   # (E, 1, T, d)
        return torch.relu(by_value + by_position + b[:, None, None])

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Causal multi-head self-attention with its exit projection, ``(E, B, T, d)``."""
        n_models, batch, n_tok, d = x.shape
        heads, d_head = self.n_heads, d // self.n_heads
        qkv = _linear(x, self.params["qkv_w"], self.params["qkv_b"])
        q, k, v = qkv.view(n_models, batch, n_tok, 3, heads, d_head).permute(3, 0, 1, 4, 2, 5)
        scale = 1.0 / d_head if self.parametrisation == "mup" else 1.0 / math.sqrt(d_head)
        q, k, v = (t.reshape(-1, n_tok, d_head) for t in (q, k, v))    # (E·B·heads, T, d_head)
        future = torch.ones(n_tok, n_tok, dtype=torch.bool, device=x.device).triu(1)
        mask = torch.zeros(n_tok, n_tok, device=x.device).masked_fill(future, float("-inf"))
        scores = torch.baddbmm(mask.to(q.dtype).expand(q.shape[0], -1, -1), q,
                               k.transpose(1, 2), alpha=scale)
        mixed = torch.bmm(scores.softmax(dim=-1), v)                   # token t sees tokens <= t
        mixed = mixed.view(n_models, batch, heads, n_tok, d_head).transpose(2, 3)
        mixed = mixed.reshape(n_models, batch, n_tok, d)
        return _linear(mixed, self.params["attn_out_w"], self.params["attn_out_b"])

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        """The block's ``d → 4d → d`` ReLU MLP."""
        hidden = torch.relu(_linear(x, self.params["fc_w"], self.params["fc_b"]))
        return _linear(hidden, self.params["mlp_out_w"], self.params["mlp_out_b"])

    def norm(self, x: torch.Tensor, which: str) -> torch.Tensor:
        """LayerNorm over features with each member's own gain and bias."""
        w, b = self.params[which + "_w"], self.params[which + "_b"]
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        return F.layer_norm(x, x.shape[-1:]) * w.view(shape) + b.view(shape)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """What the read-out sees: ``(E, B, T, d)`` -> ``(E, B, readout_fan_in)``."""
        if self.readout == "flatten":
            return x.flatten(2)
        return x.mean(dim=2) if self.readout == "mean" else x[:, :, -1]

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """The read-out's inputs ``(E, B, readout_fan_in)`` for tokens ``(E, B, T)``."""
        if tokens.dim() != 3 or tokens.shape[0] != self.n_models or tokens.shape[2] > self.n_tokens:
            raise ValueError(f"tokens must have shape (n_models={self.n_models}, batch, "
                             f"T <= {self.n_tokens}), got {tuple(tokens.shape)}")
        if self.readout == "flatten" and tokens.shape[2] != self.n_tokens:
            raise ValueError(f"tokens must have exactly n_tokens={self.n_tokens} positions for the "
                             f"flatten read-out, got {tokens.shape[2]}")
        x = self.embed(tokens)
        x = x + self.attention(self.norm(x, "ln1"))
        x = x + self.mlp(self.norm(x, "ln2"))
        return self.pool(self.norm(x, "lnf"))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Outputs ``(E, B)`` for 0/1 token sequences ``(E, B, T)`` (member e reads row e)."""
        out = torch.einsum("ebf,ef->eb", self.features(tokens), self.params["head_w"])
        return out + self.params["head_b"][:, None]

    def member(self, index: int) -> BatchedTransformer:
        """A one-member copy of member ``index`` (same weights), e.g. to check independence."""
        if not 0 <= index < self.n_models:
            raise ValueError(f"index must lie in [0, {self.n_models}), got {index!r}")
        single = BatchedTransformer(self.n_tokens, self.d_model, self.n_heads, 1, self.readout,
                                    self.parametrisation)
        with torch.no_grad():
            for key, value in self.params.items():
                single.params[key].copy_(value[index:index + 1])
        return single.to(next(self.parameters()).device)


def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-member affine map: ``x (E, ..., i) @ w (E, i, o) + b (E, o)``."""
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    out = torch.baddbmm(b[:, None, :], flat, w)
    return out.view(*x.shape[:-1], w.shape[-1])


def _initial_weights(shapes: dict, readout_fan_in: int, parametrisation: str, init_scale: float,
                     n_models: int, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    """PyTorch's default ``nn.Linear`` init, ``U(±1/sqrt(fan_in))`` for weights and biases.

    LayerNorms start at gain 1 and bias 0; the two residual exit projections are divided by 2,
    as in the paper's code (it divides every "exit" parameter by the square root of their
    number, four). muP draws the read-out weight from ``N(0, 1/fan_in²)`` with a zero bias.
    """
    fan_in = {"embed": shapes["embed_w"][0], "qkv": shapes["qkv_w"][0],
              "attn_out": shapes["attn_out_w"][0], "fc": shapes["fc_w"][0],
              "mlp_out": shapes["mlp_out_w"][0], "head": readout_fan_in}
    out = {}
    for key, shape in shapes.items():
        full = (n_models, *shape)
        layer = key.rsplit("_", 1)[0]
        if layer.startswith("ln"):
            out[key] = torch.ones(full) if key.endswith("_w") else torch.zeros(full)
            continue
        if layer == "head" and parametrisation == "mup":
            std = init_scale / readout_fan_in
            out[key] = (std * torch.randn(full, generator=generator) if key.endswith("_w")
                        else torch.zeros(full))
            continue
        bound = init_scale / math.sqrt(fan_in[layer])
        if layer in ("attn_out", "mlp_out"):
            bound /= 2.0
        out[key] = (2.0 * torch.rand(full, generator=generator) - 1.0) * bound
    return out


# ----------------------------------------------------------------------------------------------
# Data: per-member tasks, batches drawn on the device
# ----------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------

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
            _validate.positive(name, getattr(self, name))
        _validate.non_negative("weight_decay", self.weight_decay)
        _validate.non_negative("warmup_steps", self.warmup_steps)
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
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
        :class:`~emergence.train.TrainingPaused`, as the MLP experiments do.
        """
        run = _Run(self, torch.device(device))
        if checkpoint is not None and Path(checkpoint).exists():
            run.load(checkpoint)
        last_save = time.monotonic()
        while run.advance(progress):
            if run.step % _CHECK_EVERY or checkpoint is None or run.step == self.n_steps:
                continue
            if deadline is not None and time.monotonic() > deadline:
                run.save(checkpoint)
                raise TrainingPaused(f"experiment {self.name!r} paused at step {run.step} of "
                                     f"{self.n_steps}; run again to resume from {checkpoint}")
            if time.monotonic() - last_save > _CHECKPOINT_SECONDS:
                run.save(checkpoint)
                last_save = time.monotonic()
        return run.results()


_CHECK_EVERY = 100           # steps between divergence checks (and checkpoint chances)
_EVAL_ELEMENTS = {"cpu": 2**20, "cuda": 2**26}   # residual-stream numbers per evaluation chunk
_CHECKPOINT_SECONDS = 60.0


class _Run:
    """The state of one transformer training run: model, optimiser, data stream and records."""

    def __init__(self, cfg: TransformerConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        self.model, self.tasks = cfg.build(device)
        self.optimiser = cfg.optimiser(self.model)
        warm = max(int(cfg.warmup_steps), 1)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimiser,
                                                          lambda s: min(1.0, (s + 1) / warm))
        self.data_gen = torch.Generator(device).manual_seed(cfg.seed + 1)
        eval_gen = torch.Generator(device).manual_seed(cfg.seed + 2)
        self.eval_tokens, self.eval_targets = self.tasks.evaluation_sets(cfg.n_eval, eval_gen)
        self.step_fn = torch.compile(self._losses) if cfg.compile else self._losses
        self.record = set(cfg.record_steps().tolist())
        self.records = {"strength": [], "loss": [], "train_loss": []}
        self.running: list[torch.Tensor] = []
        self.step, self.wall_before = 0, 0.0
        self.key = store.config_key(cfg.to_dict())
        self.started = time.perf_counter()

    def advance(self, progress: bool) -> bool:
        """Record if due, then take one step; False once the last step is recorded."""
        if self.step in self.record:
            self._record(progress)
        if self.step == self.cfg.n_steps:
            return False
        tokens, targets = self.tasks.sample(self.cfg.batch_size, self.data_gen)
        self.optimiser.zero_grad(set_to_none=True)
        per_member = self.step_fn(tokens, targets)
        per_member.sum().backward()
        self.optimiser.step()
        self.schedule.step()
        self.running.append(per_member.detach())
        self.step += 1
        if self.step % _CHECK_EVERY == 0:
            self._check(per_member.detach())
        return True

    def _autocast(self):
        enabled = self.cfg.precision == "bfloat16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def _losses(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per-member training losses ``(E,)``: torch's MSE, mean over each member's batch."""
        with self._autocast():
            outputs = self.model(tokens)
        return ((outputs.float() - targets) ** 2).mean(dim=1)

    @torch.no_grad()
    def measure(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``R_k / S`` and ``½ MSE`` per member and skill on the fixed evaluation sets.

        Evaluated in chunks of about ``_EVAL_ELEMENTS`` residual-stream numbers: small enough
        to stay in a CPU's cache (a third of the time of one big chunk on two cores), large
        enough to keep a GPU busy.
        """
        cfg = self.cfg
        budget = _EVAL_ELEMENTS.get(self.device.type, _EVAL_ELEMENTS["cuda"])
        chunk = max(1, budget // (cfg.n_seeds * cfg.n_tokens * cfg.d_model))
        strength, loss = [], []
        for k in range(cfg.n_skills):
            outs = []
            for start in range(0, cfg.n_eval, chunk):
                with self._autocast():
                    outs.append(self.model(self.eval_tokens[k, :, start:start + chunk]).float())
            out, target = torch.cat(outs, dim=1), self.eval_targets[k]
            strength.append((out * target).mean(1) / cfg.scale**2)
            loss.append(0.5 * ((target - out) ** 2).mean(1))
        return torch.stack(strength, 1), torch.stack(loss, 1)

    def _record(self, progress: bool) -> None:
        strength, loss = self.measure()
        self.records["strength"].append(strength)
        self.records["loss"].append(loss)
        self.records["train_loss"].append(
            torch.stack(self.running).mean(0) if self.running
            else torch.full((self.cfg.n_seeds,), float("nan"), device=self.device))
        self.running = []
        if progress:
            print(f"step {self.step:>8d}  R/S = {np.round(strength.cpu().numpy().mean(0), 3)}")

    def _check(self, per_member: torch.Tensor) -> None:
        bad = ~(per_member < 1e4 * self.cfg.scale**2)           # NaN fails the comparison too
        if bool(bad.any()):
            seed = int(torch.nonzero(bad)[0, 0])
            raise TrainingDiverged(
                f"experiment {self.cfg.name!r}: seed {seed} diverged (training loss "
                f"{float(per_member[seed]):.3g}) by step {self.step}; lower the learning rate")

    def results(self) -> dict:
        wall = self.wall_before + time.perf_counter() - self.started
        return {"steps": self.cfg.record_steps(),
                **{key: torch.stack(value).float().cpu().numpy()
                   for key, value in self.records.items()},
                "wall_s": np.asarray(wall)}

    def save(self, path: str | Path) -> None:
        """Write the whole state (atomically) so that :meth:`load` continues bit for bit."""
        save_checkpoint(path, {
            "key": self.key, "step": self.step, "records": self.records,
            "running": self.running, "model": self.model.state_dict(),
            "optimiser": self.optimiser.state_dict(), "schedule": self.schedule.state_dict(),
            "data_gen": self.data_gen.get_state(),
            "wall_s": self.wall_before + time.perf_counter() - self.started})

    def load(self, path: str | Path) -> None:
        """Continue from a checkpoint of this very configuration (refuses any other)."""
        state = load_checkpoint(path, self.key, self.device)
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.schedule.load_state_dict(state["schedule"])
        self.data_gen.set_state(state["data_gen"].cpu())
        self.records, self.running = state["records"], state["running"]
        self.step, self.wall_before = int(state["step"]), float(state["wall_s"])


# ----------------------------------------------------------------------------------------------
# Cost, and the analysis of emergence times (thresholds and power-law fits: emergence.fits)
# ----------------------------------------------------------------------------------------------

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


def in_frequency_order(tau: np.ndarray) -> np.ndarray:
    """Per seed: did every skill emerge, each no earlier than the more frequent one before it?

    ``tau`` is ``(n_seeds, n_skills)`` emergence steps (NaN: never), e.g. from
    :func:`emergence.fits.emergence_steps`.
    """
    tau = np.asarray(tau, dtype=float)
    if tau.ndim != 2:
        raise ValueError(f"tau must have shape (n_seeds, n_skills), got {tau.shape}")
    return np.all(np.isfinite(tau), axis=1) & np.all(np.diff(tau, axis=1) >= 0, axis=1)


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


# ----------------------------------------------------------------------------------------------
# Named experiments
# ----------------------------------------------------------------------------------------------

def paper_config(profile: str = "paper") -> TransformerConfig:
    """The paper's exact run (``transformer_paper``; App. K.2 and the authors' code).

    Paper: d_model 512, 4 heads, flattened read-out, PyTorch's default init, SGD lr 5e-5 with
    momentum 0.9 and weight decay 1e-5, batch 5000, 5 seeds, R_k every 100 steps on 20,000
    samples per skill, 10^6 steps (the right end of the paper's Fig. 4): about 18 TFLOP per step
    for the five seeds, days on one GPU. Quick: the same settings at d_model 32, batch 256, 200
    steps, 2 seeds, so that the code path can be exercised on a CPU (nothing emerges).
    """
    if check_profile(profile) == "paper":
        return TransformerConfig(name="transformer_paper", profile="paper")
    return TransformerConfig(name="transformer_paper", profile="quick", d_model=32,
                             batch_size=256, n_steps=200, record_every=50, n_eval=512, n_seeds=2)


def time_config(profile: str) -> TransformerConfig:
    """The book's transformer time-emergence recipe (``transformer_time``).

    Both profiles keep the paper's architecture, loss, alpha = 0.9, S = 1 and SGD with momentum
    0.9, and start the read-out at zero (``R_k(0) = 0``, so no skill crosses the threshold by
    chance). Learning rates sit at about 0.65 of the read-out's stable step.

    Quick (CPU, about 65 s on two cores): 3 skills, 8 skill bits, m = 2, d_model 16 with 2
    heads, lr 0.004 after a 30-step warm-up, batch 256, 2,000 steps, 8 seeds, R_k at 40
    log-spaced steps on 4,096 evaluation samples per skill. The evaluation set is that large
    because the threshold must stand well above the measurement's noise (about
    ``1/sqrt(n_eval)`` once the network outputs values of order S; see
    :func:`emergence.fits.strength_standard_error`): with 512 samples the same training showed
    spurious early emergences. lr 0.0045 and above made a seed collapse to R = 0 after learning.

    Paper: the paper's task (5 skills, 32 bits, m = 3) with d_model 64, lr 2.9e-4, warm-up 200,
    batch 2000, 30,000 steps, 5 seeds, bfloat16: the ``flatten_d64`` run of
    :func:`research_sweep`, a candidate that has NOT yet been verified on a GPU.
    """
    if check_profile(profile) == "quick":
        return TransformerConfig(
            name="transformer_time", profile="quick", n_skills=3, n_bits=8, bits_per_skill=2,
            d_model=16, n_heads=2, zero_readout=True, lr=0.004, warmup_steps=30,
            batch_size=256, n_steps=2000, record_every=50, record_spacing="log", n_eval=4096,
            n_seeds=8)
    return research_sweep()["flatten_d64"].replace(name="transformer_time")


def research_sweep() -> dict[str, TransformerConfig]:
    """The runs a GPU session should make to settle a fast, faithful recipe at the paper's task.

    All keep the paper's task (n_s = 5, n_b = 32, m = 3, alpha = 0.9, S = 1), 5 seeds, SGD with
    momentum 0.9 and weight decay 1e-5 (except the Adam control), a zero-initialised read-out,
    log-spaced records and 8,192 evaluation samples per skill (standard error of R_k/S about
    0.011 at most, so the 0.05 threshold stands over four standard errors above the noise).
    The plain-SGD learning rates sit at 0.65 of the read-out's stable step at initialisation
    (:func:`readout_lr_cap`: about ``1/(T d)`` when flattening, ``1.2/d`` for ``last``): on
    the quick model 0.64 was safe in 24 seeds, while 0.72 let a seed learn and then collapse,
    because the curvature grows during training.
    """
    task = TransformerConfig(name="transformer_sweep", profile="paper", n_steps=30_000,
                             record_every=100, record_spacing="log", n_eval=8192,
                             batch_size=2000, warmup_steps=200, precision="bfloat16",
                             zero_readout=True)
    return {
        "speed_paper_fp32": paper_config().replace(n_steps=100, record_every=100),
        "speed_paper_bf16": paper_config().replace(n_steps=100, record_every=100,
                                                   precision="bfloat16"),
        "flatten_d64": task.replace(d_model=64, lr=2.9e-4),
        "flatten_d128": task.replace(d_model=128, lr=1.45e-4),
        "last_d128": task.replace(d_model=128, readout="last", lr=5.2e-3),
        "mup_d128": task.replace(d_model=128, parametrisation="mup", lr=0.05),
        "adam_d64": task.replace(d_model=64, optimizer="adam", lr=1e-3, weight_decay=0.0),
    }


def summarise(cfg: TransformerConfig, arrays: dict) -> dict:
    """The numbers that decide a recipe: order fraction, slope of tau_k against k, final R_k/S."""
    from . import fits

    tau = fits.emergence_steps(arrays["steps"], arrays["strength"])
    try:
        law = fits.fit_power_law(np.arange(1, cfg.n_skills + 1), tau.T)
        slope, err = law.slope, law.slope_stderr
    except ValueError:  # fewer than three skills emerged
        slope, err = float("nan"), float("nan")
    wall = float(arrays["wall_s"])
    return {"name": cfg.name, "wall_s": wall, "ms_per_step": 1e3 * wall / cfg.n_steps,
            "in_order": float(in_frequency_order(tau).mean()), "slope": slope,
            "slope_stderr": err, "final_strength": arrays["strength"][-1].mean(0).tolist(),
            "tau": tau.tolist()}


def main(argv: list[str] | None = None) -> list[dict]:
    """``python -m emergence.transformer [--only NAME ...] [--out DIR] [--max-steps N]``.

    Runs :func:`research_sweep` on the default device (CUDA when available), prints one JSON
    line per run, and saves each run's arrays to ``DIR/NAME.npz``. ``--max-steps`` caps every
    run's length (a smoke test).
    """
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--out", default="_build/transformer_sweep")
    parser.add_argument("--max-steps", type=int, default=None)
    args = parser.parse_args(argv)
    sweep = research_sweep()
    unknown = set(args.only or ()) - set(sweep)
    if unknown:
        raise ValueError(f"--only must name runs of {sorted(sweep)}, got {sorted(unknown)}")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summaries = []
    for name in args.only or sweep:
        cfg = sweep[name].replace(name=name)
        if args.max_steps:
            cfg = cfg.replace(n_steps=min(cfg.n_steps, args.max_steps))
        arrays = cfg.run(device)
        np.savez(out / f"{name}.npz", **arrays)
        summaries.append(summarise(cfg, arrays))
        print(json.dumps(summaries[-1]), flush=True)
    return summaries


def _register() -> None:
    """Add the two transformer experiments to :mod:`emergence.experiments`, when it exists."""
    try:
        from . import experiments
    except ImportError:  # the package without the experiment engine still trains transformers
        return
    experiments.register("transformer_time", time_config)
    experiments.register("transformer_paper", paper_config, stored=False)


_register()

if __name__ == "__main__":
    main()
