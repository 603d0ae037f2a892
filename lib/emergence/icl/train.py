"""Training an ensemble on fresh ICL-MC batches, and the last-token measurements of the paper.

:func:`train` runs AdamW on the summed per-member next-token cross-entropy (all positions, as
the official code) and, every ``record_every`` steps, measures each member on a fixed test set
of chains from the Dirichlet(1) prior: at the last position, ``KL(true || model)`` and
``KL(strategy || model)`` for the three strategies of :mod:`.strategies`, and the layer-1
attention on the previous token (the first factor of the induction head).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import chains, strategies

_EVAL_CHUNK = 128


class TestSet:
    """Fixed test chains (Dirichlet(1) prior) and the strategies' predictions on them."""

    def __init__(self, n: int, k: int, length: int, generator: torch.Generator, device):
        p = chains.dirichlet_matrices(n, k, generator, device)
        self.x = chains.sample_chains(p, length, generator)
        self.truth = p[torch.arange(n, device=p.device), self.x[:, -1]].double()
        self.strategy = {name: strategies.predict(name, self.x, k)
                         for name in strategies.STRATEGIES}

    def reference(self) -> np.ndarray:
        """``KL(true || strategy)`` averaged over the test chains, one per strategy."""
        return np.array([strategies.kl(self.truth, self.strategy[name]).mean().item()
                         for name in strategies.STRATEGIES])


@torch.no_grad()
def measure(model, test: TestSet) -> dict[str, np.ndarray]:
    """Per-member last-token KLs and the layer-1 previous-token attention on ``test``."""
    model.eval()
    n_models = model.n_models
    probs, previous = [], []
    for start in range(0, test.x.shape[0], _EVAL_CHUNK):
        x = test.x[start:start + _EVAL_CHUNK].expand(n_models, -1, -1)
        logits, maps = model(x, with_attention=True)
        probs.append(torch.softmax(logits[:, :, -1].double(), -1))
        previous.append(torch.diagonal(maps[0], offset=-1, dim1=-2, dim2=-1).mean(-1))
    model.train()
    q = torch.cat(probs, 1)
    out = {"kl_true": strategies.kl(test.truth, q).mean(1)}
    for name in strategies.STRATEGIES:
        out[f"kl_{name}"] = strategies.kl(test.strategy[name], q).mean(1)
    out["previous_token"] = torch.cat(previous, 1).mean(1)
    return {key: value.cpu().numpy() for key, value in out.items()}


def training_batch(cfg, generator: torch.Generator, device) -> torch.Tensor:
    """States ``(M, batch, length + 1)``: each member's own fresh chains from its prior."""
    groups = []
    for fraction in cfg.unigram_free:
        p = chains.sample_matrices(cfg.n_seeds * cfg.batch_size, cfg.k, fraction, generator,
                                   device)
        p = p[torch.randperm(p.shape[0], generator=generator, device=device)]
        groups.append(chains.sample_chains(p, cfg.length + 1, generator))
    return torch.cat(groups).view(cfg.n_members, cfg.batch_size, cfg.length + 1)


def train(cfg, model, device, progress: bool = False) -> dict[str, np.ndarray]:
    """Train ``model`` as ``cfg`` says; the measurements at ``cfg.record_steps()``."""
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    test = TestSet(cfg.n_test, cfg.k, cfg.length, generator, device)
    optimiser = cfg.optimiser(model)
    record = set(cfg.record_steps().tolist())
    rows = []
    for step in range(cfg.n_steps + 1):
        if step in record:
            rows.append(measure(model, test))
            if progress:
                print(step, {k: np.round(v.mean(), 4) for k, v in rows[-1].items()}, flush=True)
        if step == cfg.n_steps:
            break
        x = training_batch(cfg, generator, device)
        logits = model(x[..., :-1])
        loss = F.cross_entropy(logits.reshape(-1, cfg.k), x[..., 1:].reshape(-1),
                               reduction="none").view(cfg.n_members, -1).mean(1)
        if not torch.isfinite(loss).all():
            raise FloatingPointError(f"loss diverged at step {step}: {loss.tolist()}")
        optimiser.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimiser.step()
    out = {key: np.stack([row[key] for row in rows], 1) for key in rows[0]}
    out["steps"] = cfg.record_steps()
    out["reference"] = test.reference()
    return out
