"""The chapter's named experiments (registered with :mod:`emergence.experiments`).

- ``parity_grid``: Barak et al.'s "Empirical Finding 1" sweep, the success step t_c of a
  width-1000 ReLU MLP (uniform init, hinge, SGD η = 0.1, B = 32, online) over
  n ∈ {10, 20, 30}, k ∈ {2, 3, 4}, 25 seeds per cell;
- ``parity_curves``: training curves on (50, 3) for a wide and a narrow ReLU MLP and a PolyNet
  (the paper's Fig. 1, left);
- ``parity_search``: is SGD a random search? t_c of many independent trials of one small
  instance, and t_c of several inits each trained with several different batch streams;
- ``parity_progress``: hidden-progress measures along the path at n = 15, where the population
  gradient is exact by enumeration, against a random-label control;
- ``parity_calib``: the time to emergence of Nam et al.'s one-skill calibration run
  (``calib_time``) for other numbers of skill bits n_b and relevant bits m.

Every config is a frozen dataclass with ``to_dict()`` and ``run(device, progress)``, as
:mod:`emergence.experiments` expects; ``run`` returns numpy arrays (t_c is NaN where a member
did not succeed, hence ``nan_arrays``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import _validate, store
from ..profiles import check_profile
from .fourier import gradient_gap, mlp_population_gradient
from .model import ParityMLP, PolyNet
from .task import OnlineParity, ParityTask
from .train import HeldOut, train_parity


@dataclass(frozen=True, kw_only=True)
class _Config:
    """Settings every parity experiment shares (plain SGD at a constant rate)."""

    name: str
    profile: str
    batch_size: int
    lr: float
    loss: str
    max_steps: int
    check_every: int
    eval_size: int
    screen_size: int
    seed: int = 0

    kind = "parity"
    nan_arrays = ("t_c",)

    def __post_init__(self) -> None:
        store.check_name(self.name)
        check_profile(self.profile)
        for name in ("batch_size", "max_steps", "check_every", "eval_size", "screen_size"):
            _validate.positive_int(name, getattr(self, name))
        _validate.non_negative_int("seed", self.seed)
        _validate.finite_positive("lr", self.lr)
        _validate.one_of("loss", self.loss, ("hinge", "square", "correlation"))

    def to_dict(self) -> dict:
        """Every setting plus the kind, JSON-serialisable (hashed by the store)."""
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def _train(self, model, task, device, **kwargs):
        data = OnlineParity(task, self.batch_size, seed=self.seed + 1,
                            random_labels=kwargs.pop("random_labels", False))
        held = HeldOut(task, self.eval_size, self.screen_size, seed=self.seed + 2)
        return train_parity(model, data, held, self.lr, kwargs.pop("max_steps", self.max_steps),
                            loss=self.loss, check_every=self.check_every, **kwargs)


def _generator(device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


@dataclass(frozen=True, kw_only=True)
class GridConfig(_Config):
    """t_c over a grid of (n, k), ``n_seeds`` trials (own subset and init) per cell.
    Arrays: ``n`` (N,), ``k`` (K,), ``t_c`` (N, K, seeds), ``steps`` (N, K)."""

    ns: tuple[int, ...]
    ks: tuple[int, ...]
    n_seeds: int
    width: int
    init: str = "uniform"

    def run(self, device="cpu", progress: bool = False) -> dict:
        start = time.perf_counter()
        t_c = np.full((len(self.ns), len(self.ks), self.n_seeds), np.nan)
        steps = np.zeros((len(self.ns), len(self.ks)), dtype=np.int64)
        for a, n in enumerate(self.ns):
            for b, k in enumerate(self.ks):
                cell_seed = self.seed + 1000 * n + k
                task = ParityTask(n, k, self.n_seeds, seed=cell_seed, device=device)
                model = ParityMLP(self.n_seeds, n, self.width, init=self.init,
                                  generator=_generator(device, cell_seed), device=device)
                run = self._train(model, task, device)
                t_c[a, b], steps[a, b] = run.t_c, run.steps
                if progress:
                    print(f"(n, k) = ({n}, {k}): median t_c {np.nanmedian(run.t_c):.0f}")
        return {"n": np.asarray(self.ns), "k": np.asarray(self.ks), "t_c": t_c,
                "steps": steps, "wall_s": time.perf_counter() - start}


@dataclass(frozen=True, kw_only=True)
class CurvesConfig(_Config):
    """Loss and error curves on one (n, k) for ReLU MLPs of the given ``widths`` and a
    PolyNet, ``n_seeds`` each, recorded every ``trace_every`` steps until all succeed.
    Arrays: ``widths`` (W,), ``trace_steps`` (T,), ``loss``/``error`` (W + 1, seeds, T) with
    the PolyNet last (NaN after a model's run ended), ``t_c`` (W + 1, seeds)."""

    n: int
    k: int
    widths: tuple[int, ...]
    n_seeds: int
    trace_every: int
    nan_arrays = ("t_c", "loss", "error")

    def run(self, device="cpu", progress: bool = False) -> dict:
        start = time.perf_counter()
        task = ParityTask(self.n, self.k, self.n_seeds, seed=self.seed, device=device)
        runs = []
        for i, width in enumerate((*self.widths, None)):
            gen = _generator(device, self.seed + 10 + i)
            model = PolyNet(self.n_seeds, self.n, self.k, generator=gen, device=device) \
                if width is None else ParityMLP(self.n_seeds, self.n, width, generator=gen,
                                                device=device)
            runs.append(self._train(model, task, device, trace_every=self.trace_every,
                                    freeze_solved=False))
        length = max(len(r.trace_steps) for r in runs)
        shape = (len(runs), self.n_seeds, length)
        curves = {name: np.full(shape, np.nan) for name in ("loss", "error")}
        for i, run in enumerate(runs):
            for name in curves:
                curves[name][i, :, :len(run.trace_steps)] = run.traces[name]
        return {"widths": np.asarray(self.widths), "n": np.asarray(self.n),
                "k": np.asarray(self.k), "trace_steps": np.arange(length) * self.trace_every,
                "t_c": np.stack([r.t_c for r in runs]), **curves,
                "wall_s": time.perf_counter() - start}


@dataclass(frozen=True, kw_only=True)
class SearchConfig(_Config):
    """Two tests of "SGD is a random search" on one (n, k), ReLU MLP of ``width``:
    ``n_trials`` independent trials (own subset, init and batches), and ``n_inits`` inits
    on one shared subset, each copied ``n_streams`` times and trained on different batches.
    Arrays: ``t_c_trials`` (n_trials,), ``t_c_shared`` (n_inits, n_streams)."""

    nan_arrays = ("t_c_trials", "t_c_shared")

    n: int
    k: int
    width: int
    n_trials: int
    n_inits: int
    n_streams: int

    def run(self, device="cpu", progress: bool = False) -> dict:
        start = time.perf_counter()
        task = ParityTask(self.n, self.k, self.n_trials, seed=self.seed, device=device)
        model = ParityMLP(self.n_trials, self.n, self.width,
                          generator=_generator(device, self.seed + 1), device=device)
        trials = self._train(model, task, device).t_c
        members = self.n_inits * self.n_streams
        task = ParityTask(self.n, self.k, members, seed=self.seed + 3, shared=True,
                          device=device)
        model = ParityMLP(self.n_inits, self.n, self.width,
                          generator=_generator(device, self.seed + 4), device=device)
        copies = ParityMLP(members, self.n, self.width, device=device)
        with torch.no_grad():
            for name, value in model.named_parameters():
                getattr(copies, name).copy_(value.repeat_interleave(self.n_streams, dim=0))
        shared = self._train(copies, task, device).t_c.reshape(self.n_inits, self.n_streams)
        return {"t_c_trials": trials, "t_c_shared": shared,
                "wall_s": time.perf_counter() - start}


@dataclass(frozen=True, kw_only=True)
class ProgressConfig(_Config):
    """Hidden-progress measures on (n, k), ReLU MLP of ``width``, ``n_seeds`` trials with the
    parity labels and as many with random labels (the control), for ``max_steps`` steps
    (no early stop), every ``trace_every`` steps. Arrays (runs = parity, control):
    ``trace_steps`` (T,), ``loss``, ``error``, ``drift_inf`` (‖W_t - W_0‖_∞), ``relevant``
    (mean over i ∈ S of the row norm ‖(W_t - W_0)_i‖), ``irrelevant`` (max over i ∉ S),
    ``gap`` (:func:`.fourier.gradient_gap` of the exact population gradient of the
    correlation loss), each
    (2, seeds, T); ``t_c`` (2, seeds)."""

    n: int
    k: int
    width: int
    n_seeds: int
    trace_every: int

    def run(self, device="cpu", progress: bool = False) -> dict:
        start = time.perf_counter()
        task = ParityTask(self.n, self.k, self.n_seeds, seed=self.seed, device=device)
        relevant = task.relevant_mask()
        results = []
        for control in (False, True):
            model = ParityMLP(self.n_seeds, self.n, self.width,
                              generator=_generator(device, self.seed + 5), device=device)
            probes = _progress_probes(model, task, relevant)
            results.append(self._train(model, task, device, trace_every=self.trace_every,
                                       probes=probes, random_labels=control,
                                       freeze_solved=False, stop_when_solved=False))
        names = ("loss", "error", "drift_inf", "relevant", "irrelevant", "gap")
        out = {name: np.stack([r.traces[name] for r in results]) for name in names}
        return {"trace_steps": results[0].trace_steps, "t_c": np.stack([r.t_c for r in results]),
                **out, "wall_s": time.perf_counter() - start}


def _progress_probes(model, task, relevant: torch.Tensor) -> dict:
    """The hidden-progress measures of ``model``, relative to its weights now (W_0)."""
    w0 = model.w1.detach().clone()
    return {
        "drift_inf": lambda m: (m.w1 - w0).abs().amax(dim=(1, 2)),
        "relevant": lambda m: _row_norms(m.w1 - w0, relevant, "mean"),
        "irrelevant": lambda m: _row_norms(m.w1 - w0, ~relevant, "max"),
        "gap": lambda m: _exact_gap(m, task, relevant),
    }


def _row_norms(delta: torch.Tensor, rows: torch.Tensor, how: str) -> torch.Tensor:
    norms = delta.norm(dim=2)
    if how == "mean":
        return (norms * rows).sum(dim=1) / rows.sum(dim=1)
    return torch.where(rows, norms, -torch.inf).amax(dim=1)


def _exact_gap(model, task, relevant) -> torch.Tensor:
    """The gap of the exact population gradient of the *correlation* loss -y f (the paper's
    Fourier gap): the hinge loss's gradient also carries the mask 1[y f < 1], which depends on
    x through f itself and hides the gap once |f| is of order 1."""
    with torch.enable_grad():
        gradient = mlp_population_gradient(model, task.subsets, "correlation")
    return gradient_gap(gradient, relevant)


@dataclass(frozen=True, kw_only=True)
class CalibrationSweep:
    """Nam et al.'s one-skill calibration run (``calib_time``) at other (n_b, m) cells:
    the same recipe with ``n_bits`` and ``bits_per_skill`` changed, ``n_seeds`` seeds and
    ``n_steps`` steps. Arrays: ``n_bits``, ``m`` (C,), ``steps`` (R,), ``strength``
    (C, R, seeds): R/S of the one skill."""

    name: str
    profile: str
    cells: tuple[tuple[int, int], ...]
    n_seeds: int
    n_steps: int
    kind = "parity_calib"

    def __post_init__(self) -> None:
        store.check_name(self.name)
        check_profile(self.profile)
        _validate.positive_int("n_seeds", self.n_seeds)
        _validate.positive_int("n_steps", self.n_steps)
        for n_bits, m in self.cells:
            _validate.positive_int("n_bits", n_bits)
            _validate.positive_int("m", m)

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def base(self):
        """The ``calib_time`` config of this profile that every cell modifies."""
        from ..experiments import config

        return config("calib_time", self.profile)

    def run(self, device="cpu", progress: bool = False) -> dict:
        start = time.perf_counter()
        strengths, steps = [], None
        for n_bits, m in self.cells:
            cfg = dataclasses.replace(self.base(), n_bits=n_bits, bits_per_skill=m,
                                      n_seeds=self.n_seeds, n_steps=self.n_steps)
            arrays = cfg.run(device, progress=progress)
            steps = arrays["steps"]
            strengths.append(arrays["strength"][:, :, 0])
        cells = np.asarray(self.cells)
        return {"n_bits": cells[:, 0], "m": cells[:, 1], "steps": steps,
                "strength": np.stack(strengths), "wall_s": time.perf_counter() - start}


def grid_config(profile: str) -> GridConfig:
    """Paper: n ∈ {10, 20, 30}, k ∈ {2, 3, 4}, 25 seeds, width 1000, B = 32, η = 0.1, hinge,
    uniform (Glorot) init, success = 100 % on 2^13 held-out samples checked every 5 steps,
    cap 20,000 steps (the paper's cap is 10^5; every run so far ended far below 20,000).
    Quick: n ∈ {8, 12, 16}, k ∈ {2, 3}, 8 seeds, width 128, 1,024 held-out samples."""
    paper = check_profile(profile) == "paper"
    return GridConfig(
        name="parity_grid", profile=profile, ns=(10, 20, 30) if paper else (8, 12, 16),
        ks=(2, 3, 4) if paper else (2, 3), n_seeds=25 if paper else 8,
        width=1000 if paper else 128, batch_size=32, lr=0.1, loss="hinge",
        max_steps=20_000 if paper else 5_000, check_every=5,
        eval_size=8192 if paper else 1024, screen_size=256 if paper else 128)


def curves_config(profile: str) -> CurvesConfig:
    """Paper: (50, 3), ReLU widths 1000 and 10 and a PolyNet, 4 seeds each, B = 32, η = 0.1,
    hinge, traces every 20 steps, cap 40,000 steps. Quick: (20, 3), widths 256 and 10, 3
    seeds, cap 10,000."""
    paper = check_profile(profile) == "paper"
    return CurvesConfig(
        name="parity_curves", profile=profile, n=50 if paper else 20, k=3,
        widths=(1000, 10) if paper else (256, 10), n_seeds=4 if paper else 3,
        trace_every=20 if paper else 10, batch_size=32, lr=0.1, loss="hinge",
        max_steps=40_000 if paper else 10_000, check_every=10,
        eval_size=8192 if paper else 1024, screen_size=256 if paper else 128)


def search_config(profile: str) -> SearchConfig:
    """Paper: (20, 3), width 100, 1,000 independent trials; 10 inits × 10 batch streams;
    B = 32, η = 0.1, hinge, 2^13 held-out samples, checks every 5 steps. Quick: (12, 3),
    width 64, 200 trials, 6 × 6."""
    paper = check_profile(profile) == "paper"
    return SearchConfig(
        name="parity_search", profile=profile, n=20 if paper else 12, k=3,
        width=100 if paper else 64, n_trials=1000 if paper else 200,
        n_inits=10 if paper else 6, n_streams=10 if paper else 6, batch_size=32, lr=0.1,
        loss="hinge", max_steps=20_000 if paper else 5_000, check_every=5,
        eval_size=8192 if paper else 1024, screen_size=64)


def progress_config(profile: str) -> ProgressConfig:
    """Paper: (15, 4), width 100, 8 seeds (and 8 random-label controls), B = 32, η = 0.1,
    hinge, 1,500 steps, traces every 10 steps, the gap exact over all 2^15 inputs.
    Quick: (11, 4), width 64, 4 seeds, 600 steps."""
    paper = check_profile(profile) == "paper"
    return ProgressConfig(
        name="parity_progress", profile=profile, n=15 if paper else 11, k=4,
        width=100 if paper else 64, n_seeds=8 if paper else 4, trace_every=10,
        batch_size=32, lr=0.1, loss="hinge", max_steps=1500 if paper else 600,
        check_every=10, eval_size=4096 if paper else 1024, screen_size=256)


def calib_config(profile: str) -> CalibrationSweep:
    """Paper: the calib_time recipe (width 1000, batch 4000, SGD 0.02, init std 0.01) at
    (n_b, m) = (16, 2), (16, 3), (16, 4), (24, 3), (32, 2), (32, 4), 5 seeds, 3,000 steps;
    (32, 3) is ``calib_time`` itself. n_b = 64 is left out: the CPU engine stops at 32 bits
    and the torch engine needs minutes per seed there. Quick: the quick calib_time recipe at
    (8, 2), (12, 2), (12, 3), 3 seeds, 500 steps."""
    paper = check_profile(profile) == "paper"
    cells = ((16, 2), (16, 3), (16, 4), (24, 3), (32, 2), (32, 4)) if paper else \
        ((8, 2), (12, 2), (12, 3))
    return CalibrationSweep(name="parity_calib", profile=profile, cells=cells,
                            n_seeds=5 if paper else 3, n_steps=3000 if paper else 500)


def _register() -> None:
    """Add the chapter's experiments to :mod:`emergence.experiments`."""
    from .. import experiments

    for name, make in (("parity_grid", grid_config), ("parity_curves", curves_config),
                       ("parity_search", search_config), ("parity_progress", progress_config),
                       ("parity_calib", calib_config)):
        experiments.register(name, make)


_register()
