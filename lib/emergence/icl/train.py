"""Training an ensemble on fresh ICL-MC batches, and the last-token measurements of the paper.

:func:`train` runs AdamW on the summed per-member next-token cross-entropy (all positions, as
the official code) and, every ``record_every`` steps, measures each member on a fixed test set
of chains from the Dirichlet(1) prior: at the last position, ``KL(true || model)`` and
``KL(strategy || model)`` for the strategies of :mod:`.strategies` up to the Bayes-optimal one
for the chain's order, and the layer-1 attention on the previous token (the first factor of the
induction head; for trigrams also on the one before). Long runs save
checkpoints and resume from them, like the MLP and transformer runs
(:mod:`emergence.checkpoints`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import store
from ..checkpoints import CheckpointError, load_checkpoint, run_resumable, save_checkpoint
from ..train import TrainingDiverged
from . import chains, strategies

_EVAL_CHUNK = 128


class TestSet:
    """Fixed test chains of ``order`` (Dirichlet(1) prior) and the predictions of the
    strategies up to the Bayes-optimal one on them."""

    def __init__(self, n: int, k: int, length: int, generator: torch.Generator, device,
                 order: int = 2):
        p = chains.dirichlet_matrices(n, k, generator, device, order)
        self.x = chains.sample_chains(p, length, generator)
        context = (self.x[:, length - order + 1:] * k ** torch.arange(
            order - 2, -1, -1, device=p.device)).sum(-1)  # the last order - 1 states, base k
        self.truth = p[torch.arange(n, device=p.device), context].double()
        self.names = strategies.names(order)
        self.strategy = {name: strategies.predict(name, self.x, k) for name in self.names}

    def reference(self) -> np.ndarray:
        """``KL(true || strategy)`` averaged over the test chains, one per strategy."""
        return np.array([strategies.kl(self.truth, self.strategy[name]).mean().item()
                         for name in self.names])


_LOOK_BACK = ("previous_token", "second_previous_token")  # layer-1 attention 1 and 2 back


@torch.no_grad()
def measure(model, test: TestSet) -> dict[str, np.ndarray]:
    """Per-member last-token KLs and the layer-1 attention on the states 1, ..., order - 1
    positions back (for each offset, its best head's mean weight) on ``test``."""
    model.eval()
    n_models, offsets = model.n_models, len(test.names) - 2
    probs, back = [], []
    for start in range(0, test.x.shape[0], _EVAL_CHUNK):
        x = test.x[start:start + _EVAL_CHUNK].expand(n_models, -1, -1)
        logits, maps = model(x, with_attention=True)
        probs.append(torch.softmax(logits[:, :, -1].double(), -1))
        back.append(torch.stack([torch.diagonal(maps[0], offset=-o, dim1=-2, dim2=-1).mean(-1)
                                 for o in range(1, offsets + 1)], -1))  # (M, B, heads, offsets)
    model.train()
    q = torch.cat(probs, 1)
    out = {"kl_true": strategies.kl(test.truth, q).mean(1)}
    for name in test.names:
        out[f"kl_{name}"] = strategies.kl(test.strategy[name], q).mean(1)
    weight = torch.cat(back, 1).mean(1).amax(1)  # (M, offsets)
    out.update({_LOOK_BACK[o]: weight[:, o] for o in range(offsets)})
    return {key: value.cpu().numpy() for key, value in out.items()}


def training_batch(cfg, generator: torch.Generator, device) -> torch.Tensor:
    """States ``(M, batch, length + 1)``: each member's own fresh chains from its prior."""
    groups = []
    for fraction in cfg.unigram_free:
        p = chains.sample_matrices(cfg.n_seeds * cfg.batch_size, cfg.k, fraction, generator,
                                   device, cfg.order)
        p = p[torch.randperm(p.shape[0], generator=generator, device=device)]
        groups.append(chains.sample_chains(p, cfg.length + 1, generator))
    return torch.cat(groups).view(cfg.n_members, cfg.batch_size, cfg.length + 1)


def train(cfg, model, device, progress: bool = False, checkpoint: str | Path | None = None,
          deadline: float | None = None) -> dict[str, np.ndarray]:
    """Train ``model`` as ``cfg`` says; the measurements at ``cfg.record_steps()``.

    Returns, per measurement key of :func:`measure`, an array ``(n_members, n_records)``, and
    ``steps``, ``reference`` (the strategies' own KLs), ``member_unigram_free`` (each member's
    doubly stochastic fraction) and ``wall_s`` (training time, summed
    over the sessions of a resumed run). With ``checkpoint`` (a path) the whole state is saved
    there about once a minute, and a run that finds a checkpoint of the same config and code
    continues from it bit for bit; with ``deadline`` too (a ``time.monotonic()`` value), a run
    still going then saves and raises :class:`~emergence.checkpoints.TrainingPaused`.
    """
    run = _Run(cfg, model, torch.device(device), progress)
    if checkpoint is not None and Path(checkpoint).exists():
        run.load(checkpoint)
    run_resumable(run, cfg.n_steps, cfg.name, checkpoint, deadline)
    return run.results()


class _Run:
    """One training run's state: model, optimiser, random streams, step and records.

    The data and the test set come from one generator seeded by ``cfg.seed`` (the test set
    first); dropout draws from torch's global generator, which ``cfg.build`` seeds. A
    checkpoint holds all three, so a resumed run takes the very same steps.
    """

    def __init__(self, cfg, model, device: torch.device, progress: bool):
        self.cfg, self.model, self.device, self.progress = cfg, model, device, progress
        self.generator = torch.Generator(device=device).manual_seed(cfg.seed)
        self.test = TestSet(cfg.n_test, cfg.k, cfg.length, self.generator, device, cfg.order)
        self.optimiser = cfg.optimiser(model)
        self.record = set(cfg.record_steps().tolist())
        self.rows: list[dict[str, np.ndarray]] = []
        self.step, self.wall_before = 0, 0.0
        self.key = store.config_key({**cfg.to_dict(), "code": store.code_digest()})
        self.started = time.perf_counter()

    def advance(self) -> bool:
        """Measure if due, then take one step; False once the last step is measured."""
        if self.step in self.record:
            self.rows.append(measure(self.model, self.test))
            if self.progress:
                print(self.step, {k: np.round(v.mean(), 4) for k, v in self.rows[-1].items()},
                      flush=True)
        if self.step == self.cfg.n_steps:
            return False
        cfg = self.cfg
        x = training_batch(cfg, self.generator, self.device)
        logits = self.model(x[..., :-1])
        loss = F.cross_entropy(logits.reshape(-1, cfg.k), x[..., 1:].reshape(-1),
                               reduction="none").view(cfg.n_members, -1).mean(1)
        if not torch.isfinite(loss).all():
            raise TrainingDiverged(f"experiment {cfg.name!r}: loss diverged at step "
                                   f"{self.step}: {loss.tolist()}; lower the learning rate")
        self.optimiser.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.optimiser.step()
        self.step += 1
        return True

    def results(self) -> dict[str, np.ndarray]:
        out = {key: np.stack([row[key] for row in self.rows], 1) for key in self.rows[0]}
        out["steps"] = self.cfg.record_steps()
        out["reference"] = self.test.reference()
        out["member_unigram_free"] = self.cfg.member_unigram_free()
        out["wall_s"] = np.asarray(self.wall_before + time.perf_counter() - self.started)
        return out

    def _global_rng(self) -> dict[str, torch.Tensor]:
        state = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def save(self, path: str | Path) -> None:
        """Write the whole state atomically, so that :meth:`load` continues bit for bit."""
        save_checkpoint(path, {
            "key": self.key, "step": self.step, "model": self.model.state_dict(),
            "optimiser": self.optimiser.state_dict(), "generator": self.generator.get_state(),
            "global_rng": self._global_rng(),
            "rows": [{k: torch.from_numpy(v) for k, v in row.items()} for row in self.rows],
            "wall_s": self.wall_before + time.perf_counter() - self.started})

    def load(self, path: str | Path) -> None:
        """Continue from a checkpoint of this very config and code (refuses any other)."""
        state = load_checkpoint(path, self.key, self.device)
        if int(state["step"]) > self.cfg.n_steps:
            raise CheckpointError(f"checkpoint {path} is at step {state['step']}, past the "
                                  f"run's {self.cfg.n_steps} steps; delete it to start over")
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.generator.set_state(state["generator"].cpu())
        torch.set_rng_state(state["global_rng"]["cpu"].cpu())
        if "cuda" in state["global_rng"]:
            torch.cuda.set_rng_state(state["global_rng"]["cuda"].cpu(), self.device)
        self.rows = [{k: v.cpu().numpy() for k, v in row.items()} for row in state["rows"]]
        self.step, self.wall_before = int(state["step"]), float(state["wall_s"])
