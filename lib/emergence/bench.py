"""Speed of the batched engine against a plain loop: ``python -m emergence.bench`` (make bench).

For every MLP experiment at paper size it times training steps of the whole ensemble (batches
made on the device, all members in one batched model) and, on the same device, the way the
authors trained: one ``nn.Sequential`` at a time with ``torch.optim``, batches built on the
host with numpy and copied over. It reports model-steps per second (members x steps / s),
samples per second and the ratio of model-steps per second, prints a table and writes a JSON
list with ``name``, ``device``, ``model_steps_per_s``, ``samples_per_s``,
``baseline_model_steps_per_s``, ``speedup`` (and the members and steps used).

On a CPU the ensemble uses one seed per setting (``--seeds``, fewer members) and few steps, so
the whole benchmark takes a couple of minutes; the per-member rates are what is compared. The
baseline network is a representative member: the experiment's width, the median data size, or
the median width.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import experiments
from .experiments import MLPExperiment, default_device
from .models import single_mlp
from .store import describe_device
from .theory.dynamics import skill_probs
from .train import member_subsets


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ensemble(cfg: MLPExperiment, device: torch.device, n_steps: int, warmup: int,
                  n_seeds: int | None = None, engine: str | None = None) -> dict:
    """Model-steps and samples per second of the batched ensemble's training step."""
    parts = cfg.parts(device, n_seeds, engine=engine)
    for step in range(warmup):
        parts.engine.step(step, parts.lr_schedule(step))
    _sync(device)
    start = time.perf_counter()
    for step in range(warmup, warmup + n_steps):
        parts.engine.step(step, parts.lr_schedule(step))
    _sync(device)
    elapsed = time.perf_counter() - start
    members = parts.engine.n_members
    samples = float(np.sum(parts.data.size if hasattr(parts.data, "size")
                           else parts.data.batch_sizes()))
    return {"members": members, "model_steps_per_s": members * n_steps / elapsed,
            "samples_per_s": samples * n_steps / elapsed}


class HostBatches:
    """The authors' way to make data: numpy on the host, one model's batch at a time."""

    def __init__(self, cfg: MLPExperiment, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.subsets = member_subsets(cfg.n_skills, cfg.n_bits, cfg.bits_per_skill, [seed])[0]
        self.subsets = self.subsets.numpy()
        self.probs = skill_probs(cfg.n_skills, cfg.alpha)
        self.n_skills, self.n_bits, self.scale = cfg.n_skills, cfg.n_bits, cfg.scale

    def sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        skill = self.rng.choice(self.n_skills, size=n, p=self.probs)
        bits = self.rng.integers(0, 2, size=(n, self.n_bits), dtype=np.uint8)
        parity = bits[np.arange(n)[:, None], self.subsets[skill]].sum(axis=1) % 2
        control = np.eye(self.n_skills, dtype=np.float32)[skill]
        inputs = np.concatenate([control, bits.astype(np.float32)], axis=1)
        return inputs, (self.scale * (1.0 - 2.0 * parity)).astype(np.float32)


def _baseline_setting(cfg: MLPExperiment) -> tuple[int, int, int | None]:
    """``(width, batch, n_data)`` of the representative single network."""
    if cfg.kind == "params":
        return int(np.median(cfg.widths)), cfg.batch_size, None
    if cfg.kind == "data":
        n_data = int(np.median(cfg.n_data))
        return cfg.width, n_data // max(1, n_data // cfg.batch_size), n_data
    return cfg.width, cfg.batch_size, None


def time_baseline(cfg: MLPExperiment, device: torch.device, n_steps: int, warmup: int) -> dict:
    """Model-steps and samples per second of one network trained the authors' way."""
    width, batch, n_data = _baseline_setting(cfg)
    host = HostBatches(cfg)
    net = single_mlp(cfg.n_skills + cfg.n_bits, width, cfg.init_std, device)
    optim = (torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
             if cfg.optimizer == "adam" else torch.optim.SGD(net.parameters(), lr=cfg.lr))
    loss_fn = torch.nn.MSELoss()
    fixed = host.sample(n_data) if n_data is not None else None

    def step() -> None:
        if fixed is None:
            inputs, targets = host.sample(batch)
        else:
            index = host.rng.permutation(n_data)[:batch]
            inputs, targets = fixed[0][index], fixed[1][index]
        inputs, targets = torch.from_numpy(inputs).to(device), torch.from_numpy(targets).to(device)
        loss = loss_fn(net(inputs).squeeze(-1), targets)
        optim.zero_grad()
        loss.backward()
        optim.step()

    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(n_steps):
        step()
    _sync(device)
    elapsed = time.perf_counter() - start
    return {"baseline_model_steps_per_s": n_steps / elapsed,
            "baseline_samples_per_s": batch * n_steps / elapsed}


def bench(name: str, device: torch.device, n_steps: int, n_seeds: int | None) -> dict | None:
    """One row of the benchmark, or None for experiments that are not MLP ensembles."""
    cfg = experiments.config(name, "paper")
    if not isinstance(cfg, MLPExperiment):
        return None
    warmup = max(1, n_steps // 10)
    row = {"name": name, "device": describe_device(device), "steps": n_steps}
    row.update(time_ensemble(cfg, device, n_steps, warmup, n_seeds))
    row.update(time_baseline(cfg, device, n_steps, warmup))
    row["speedup"] = row["model_steps_per_s"] / row["baseline_model_steps_per_s"]
    return row


def format_table(rows: list[dict]) -> str:
    header = (f"{'experiment':<14}{'members':>8}{'model-steps/s':>15}{'samples/s':>13}"
              f"{'baseline m-s/s':>16}{'speedup':>9}")
    lines = [header, "-" * len(header)]
    lines += [f"{r['name']:<14}{r['members']:>8}{r['model_steps_per_s']:>15.1f}"
              f"{r['samples_per_s']:>13.3g}{r['baseline_model_steps_per_s']:>16.1f}"
              f"{r['speedup']:>9.1f}" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emergence.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("_build/bench.json"))
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per measurement (default 50 on GPU, 3 on CPU)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds per setting (default: the paper's on GPU, 1 on CPU)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="experiments to time")
    args = parser.parse_args(argv)
    device = default_device()
    on_gpu = device.type == "cuda"
    n_steps = args.steps or (50 if on_gpu else 3)
    n_seeds = args.seeds if args.seeds is not None else (None if on_gpu else 1)
    rows = []
    for name in args.only or experiments.names():
        row = bench(name, device, n_steps, n_seeds)
        if row is None:
            print(f"{name}: not an MLP ensemble, not benchmarked", flush=True)
            continue
        rows.append(row)
        print(f"{name}: {row['speedup']:.1f}x", flush=True)
    print(format_table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
