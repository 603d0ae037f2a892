"""Speed of the engines: ``python -m emergence.bench`` (make bench).

For every MLP experiment at paper size it times training steps of the whole ensemble:

- the **engine the device gets by default**: on the CPU the row-sum engine
  (:mod:`emergence.cpu_ensemble`), on a GPU the torch ensemble;
- on the CPU also the **torch ensemble** (the reference path: all members in one batched
  torch model), at the same number of members;
- the way the authors trained, **one network at a time** (``nn.Sequential`` with
  ``torch.optim``, batches built on the host with numpy): a representative member (the
  experiment's width, the median data size, or the median width).

It reports ms per step, model-steps per second (members x steps / s), the ratios, and a
roofline: the arithmetic and memory traffic that a *dense* implementation of the step needs
(every multiplication of layer 1 done, the (members x batch x width) activations written and
read once each way) set against the machine's measured fp32 GEMM rate and memory bandwidth.
``roofline_ms`` is the least time a dense step could take on this machine, and
``roofline_fraction`` is that time over the measured one: above 1, the engine beats any dense
implementation (the row-sum engine skips the multiplications by 0/1 inputs, but pays in
scattered memory traffic instead). ``run_minutes`` estimates a whole
paper run from the measured step and evaluation times. Results are printed as a table and
written as a JSON list.

``make bench`` runs it with glibc's allocator told to keep and reuse freed memory
(``MALLOC_MMAP_MAX_=0`` and high trim and top-pad thresholds): the torch paths allocate large
activations every step, and without these settings half of their time goes to page faults.
The row-sum engine allocates nothing per step, so the settings give the references their best
case. The settings in force are recorded in each row (``malloc``).

Every time is the median of per-step wall times (steps synchronised on a GPU): on a shared
virtual machine, time stolen by other tenants comes in bursts of tens of milliseconds that
would dominate a mean of a few steps, and the median is what a step costs between them. The
mean of the row-sum engine's steps is kept in the JSON (``mean_ms_per_step``); the gap between
the two says how noisy the run was.

Timings are taken in one process, interleaved engine by engine; when something else shares
the cores (a background ``make results``), the ratios stay meaningful and the absolute times
grow, so say what was running next to any figure you quote.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from . import experiments, rowsum
from .experiments import MLPExperiment, default_device
from .models import single_mlp
from .store import describe_device
from .theory.dynamics import skill_probs
from .train import member_subsets


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step_seconds(step: Callable[[int], None], n_steps: int, warmup: int,
                  device: torch.device) -> np.ndarray:
    """Wall time of each of ``n_steps`` calls ``step(i)``, after ``warmup`` untimed ones."""
    for i in range(warmup):
        step(i)
    _sync(device)
    seconds = np.empty(n_steps)
    for i in range(n_steps):
        start = time.perf_counter()
        step(warmup + i)
        _sync(device)
        seconds[i] = time.perf_counter() - start
    return seconds


def time_ensemble(cfg: MLPExperiment, device: torch.device, n_steps: int, warmup: int,
                  n_seeds: int | None = None, engine: str | None = None) -> dict:
    """Model-steps and samples per second of the batched ensemble's training step (from the
    median step; the mean is kept as ``mean_ms_per_step``)."""
    parts = cfg.parts(device, n_seeds, engine=engine)
    seconds = _step_seconds(lambda step: parts.engine.step(step, parts.lr_schedule(step)),
                            n_steps, warmup, device)
    median = float(np.median(seconds))
    members = parts.engine.n_members
    samples = float(np.sum(parts.data.batch_sizes()))
    return {"members": members, "model_steps_per_s": members / median,
            "samples_per_s": samples / median, "mean_ms_per_step": 1e3 * float(seconds.mean())}


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

    def step(_: int) -> None:
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

    median = float(np.median(_step_seconds(step, n_steps, warmup, device)))
    return {"baseline_model_steps_per_s": 1 / median, "baseline_samples_per_s": batch / median}


def machine_ceilings(device: torch.device) -> dict:
    """Measured fp32 GEMM rate (GFLOP/s, 2048-square matmul) and copy bandwidth (GB/s)."""
    a = torch.randn(2048, 2048, device=device)
    b = torch.randn(2048, 2048, device=device)
    torch.matmul(a, b)
    _sync(device)
    start = time.perf_counter()
    for _ in range(5):
        torch.matmul(a, b)
    _sync(device)
    gflops = 5 * 2 * 2048**3 / (time.perf_counter() - start) / 1e9
    source = torch.empty(2**26, device=device).uniform_()      # 256 MB
    target = torch.empty_like(source)
    target.copy_(source)
    _sync(device)
    start = time.perf_counter()
    for _ in range(5):
        target.copy_(source)
    _sync(device)
    bandwidth = 5 * 2 * source.numel() * 4 / (time.perf_counter() - start) / 1e9
    return {"gemm_gflops": gflops, "memory_gbps": bandwidth}


def dense_step_cost(cfg: MLPExperiment, n_samples: float) -> dict:
    """FLOPs and bytes of one dense training step over ``n_samples`` (member, sample) pairs.

    Layer 1 forward, its weight gradient, layer 2 both ways: ``2 d H + 2 d H + 6 H`` FLOPs per
    sample at width H; activations (pre-activation, its gradient) written and read once:
    ``4 x 4 H`` bytes per sample.
    """
    width = float(np.mean(cfg.member_widths()))
    d = cfg.n_skills + cfg.n_bits
    return {"flops": n_samples * (4 * d * width + 6 * width), "bytes": n_samples * 16 * width}


def evaluation_seconds(cfg: MLPExperiment, device: torch.device, engine: str | None) -> float:
    """Time of one evaluation of the whole ensemble (all skills, ``n_eval`` each)."""
    parts = cfg.parts(device, engine=engine)
    parts.engine.evaluate()
    start = time.perf_counter()
    parts.engine.evaluate()
    _sync(device)
    return time.perf_counter() - start


def bench(name: str, device: torch.device, n_steps: int, ceilings: dict,
          torch_reference: bool) -> dict | None:
    """One row of the benchmark, or None for experiments that are not MLP ensembles."""
    cfg = experiments.config(name, "paper")
    if not isinstance(cfg, MLPExperiment):
        return None
    warmup = max(1, n_steps // 5)
    engine = experiments.default_engine(device, cfg.n_bits)
    row = {"name": name, "device": describe_device(device), "engine": engine, "steps": n_steps}
    fast = time_ensemble(cfg, device, n_steps, warmup, engine=engine)
    members = fast["members"]
    row.update(members=members, ms_per_step=1e3 * members / fast["model_steps_per_s"],
               mean_ms_per_step=fast["mean_ms_per_step"],
               model_steps_per_s=fast["model_steps_per_s"], samples_per_s=fast["samples_per_s"])
    if torch_reference and engine != "torch":
        reference = time_ensemble(cfg, device, max(3, n_steps // 3), 1, engine="torch")
        row["torch_ms_per_step"] = 1e3 * members / reference["model_steps_per_s"]
        row["speedup_vs_torch_ensemble"] = row["torch_ms_per_step"] / row["ms_per_step"]
    row.update(time_baseline(cfg, device, n_steps, warmup))
    row["speedup"] = row["model_steps_per_s"] / row["baseline_model_steps_per_s"]
    cost = dense_step_cost(cfg, fast["samples_per_s"] * row["ms_per_step"] / 1e3)
    roofline = max(cost["flops"] / (ceilings["gemm_gflops"] * 1e9),
                   cost["bytes"] / (ceilings["memory_gbps"] * 1e9))
    row.update(dense_gflop_per_step=cost["flops"] / 1e9, dense_mb_per_step=cost["bytes"] / 1e6,
               roofline_ms=1e3 * roofline, roofline_fraction=1e3 * roofline / row["ms_per_step"])
    records = len(cfg.record_steps())
    row["eval_s"] = evaluation_seconds(cfg, device, engine)
    row["run_minutes"] = (cfg.n_steps * row["ms_per_step"] / 1e3 + records * row["eval_s"]) / 60
    return row


COLUMNS = (("experiment", "name", "<13", "s"), ("members", "members", ">8", "d"),
           ("ms/step", "ms_per_step", ">9", ".1f"), ("torch ms", "torch_ms_per_step", ">10", ".0f"),
           ("x torch", "speedup_vs_torch_ensemble", ">8", ".1f"),
           ("model-steps/s", "model_steps_per_s", ">14", ".0f"),
           ("1-model m-s/s", "baseline_model_steps_per_s", ">14", ".1f"),
           ("x 1-model", "speedup", ">10", ".0f"), ("roofline ms", "roofline_ms", ">12", ".1f"),
           ("x roofline", "roofline_fraction", ">11", ".2f"),
           ("run min", "run_minutes", ">8", ".1f"))


def format_table(rows: list[dict]) -> str:
    header = "".join(f"{title:{align}}" for title, _, align, _ in COLUMNS)
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = []
        for _, key, align, number in COLUMNS:
            value = row.get(key)
            cells.append(f"{'-':{align}}" if value is None else f"{value:{align}{number}}")
        lines.append("".join(cells))
    total = sum(row["run_minutes"] for row in rows)
    lines.append(f"estimated time of all runs above: {total:.0f} min")
    return "\n".join(lines)


def _positive_int(text: str) -> int:
    """An integer >= 1 (argparse type of ``--steps``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emergence.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("_build/bench.json"))
    parser.add_argument("--steps", type=_positive_int, default=10,
                        help="timed steps of the default engine per experiment (default 10)")
    parser.add_argument("--no-torch-reference", action="store_true",
                        help="skip timing the torch ensemble on the CPU (it is slow)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="experiments to time")
    args = parser.parse_args(argv)
    device = default_device()
    ceilings = machine_ceilings(device)
    print(f"{describe_device(device)}: fp32 GEMM {ceilings['gemm_gflops']:.0f} GFLOP/s, "
          f"copy {ceilings['memory_gbps']:.0f} GB/s; row-sum kernels "
          f"{'with' if rowsum.WIDE_VECTORS else 'without'} 512-bit vectors", flush=True)
    rows = []
    for name in args.only or experiments.names():
        row = bench(name, device, args.steps, ceilings, not args.no_torch_reference)
        if row is None:
            print(f"{name}: not an MLP ensemble, not benchmarked", flush=True)
            continue
        malloc = {key: value for key, value in os.environ.items() if key.startswith("MALLOC_")}
        rows.append({**row, **ceilings, "malloc": malloc, "wide_vectors": rowsum.WIDE_VECTORS})
        print(f"{name}: {row['ms_per_step']:.1f} ms/step", flush=True)
    print(format_table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
