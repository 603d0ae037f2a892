"""The training loop of a transformer experiment, with its measurement and checkpoints.

:func:`train` is what :meth:`~emergence.transformer.config.TransformerConfig.run` does: it takes
the model, tasks and optimiser the config builds, steps on fresh device-side batches, records
``R_k / S`` at the config's record steps, stops a diverging seed, and saves and resumes the
whole state bit for bit, so a long run can fill the results store over several sessions. It
reuses the MLP trainer's divergence error and the package's checkpoints
(:mod:`emergence.checkpoints`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .. import store
from ..checkpoints import CheckpointError, load_checkpoint, run_resumable, save_checkpoint
from ..train import TrainingDiverged

_CHECK_EVERY = 100           # steps between divergence checks (and checkpoint chances)
_EVAL_ELEMENTS = {"cpu": 2**20, "cuda": 2**26}   # residual-stream numbers per evaluation chunk
_CHECKPOINT_SECONDS = 60.0


def train(cfg, device: torch.device | str = "cpu", progress: bool = False,
          checkpoint: str | Path | None = None, deadline: float | None = None) -> dict:
    """Train the ensemble of ``cfg``, a :class:`~emergence.transformer.config.TransformerConfig`.

    The loop behind :meth:`~emergence.transformer.config.TransformerConfig.run`, which
    documents the arguments, the arrays returned, divergence, checkpoints and the deadline.
    """
    run = _Run(cfg, torch.device(device), progress)
    if checkpoint is not None and Path(checkpoint).exists():
        run.load(checkpoint)
    run_resumable(run, cfg.n_steps, cfg.name, checkpoint, deadline, every=_CHECK_EVERY,
                  seconds=_CHECKPOINT_SECONDS)
    return run.results()


class _Run:
    """The state of one transformer training run: model, optimiser, data stream and records.

    ``cfg`` is a ``TransformerConfig``; it is not imported here, since the config imports this
    loop (its ``build``, ``optimiser`` and ``record_steps`` make the pieces).
    """

    def __init__(self, cfg, device: torch.device, progress: bool):
        self.cfg, self.device, self.progress = cfg, device, progress
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
        self.key = store.config_key({**cfg.to_dict(), "code": store.code_digest()})
        self.started = time.perf_counter()

    def advance(self) -> bool:
        """Record if due, then take one step; False once the last step is recorded."""
        if self.step in self.record:
            self._record()
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
        if self.step % _CHECK_EVERY == 0 or self.step == self.cfg.n_steps:
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

    def _record(self) -> None:
        strength, loss = self.measure()
        self.records["strength"].append(strength)
        self.records["loss"].append(loss)
        self.records["train_loss"].append(
            torch.stack(self.running).mean(0) if self.running
            else torch.full((self.cfg.n_seeds,), float("nan"), device=self.device))
        self.running = []
        if self.progress:
            print(f"step {self.step:>8d}  R/S = {np.round(strength.cpu().numpy().mean(0), 3)}")

    def _check(self, per_member: torch.Tensor) -> None:
        bad = ~(per_member < 1e4 * self.cfg.scale**2)           # NaN fails the comparison too
        if bool(bad.any()):
            seed = int(torch.nonzero(bad)[0, 0])
            raise TrainingDiverged(
                f"experiment {self.cfg.name!r}: seed {seed} diverged (training loss "
                f"{float(per_member[seed]):.3g}) by step {self.step}; lower the learning rate")

    def results(self) -> dict:
        """The records as numpy arrays; a seed with a non-finite measurement is divergence."""
        wall = self.wall_before + time.perf_counter() - self.started
        arrays = {key: torch.stack(value).float().cpu().numpy()
                  for key, value in self.records.items()}
        bad = ~np.isfinite(arrays["strength"]).all(axis=(0, 2))
        if bad.any():
            raise TrainingDiverged(
                f"experiment {self.cfg.name!r}: seed {int(np.flatnonzero(bad)[0])} has "
                f"non-finite strengths by step {self.step}; lower the learning rate")
        return {"steps": self.cfg.record_steps(), **arrays, "wall_s": np.asarray(wall)}

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
        if self.step > self.cfg.n_steps:
            raise CheckpointError(f"checkpoint {path} is at step {self.step}, past the run's "
                                  f"{self.cfg.n_steps} steps; delete it to start the run over")
