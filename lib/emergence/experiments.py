"""Named experiments of Part III, their paper and quick sizes, and ``run_or_load``.

Each name maps to a factory ``make(profile) -> config``. A config is a frozen dataclass with
``name``, ``profile``, the task and training settings, ``to_dict()`` (hashed for the results
store) and ``run(device, progress=False)``, which trains the whole ensemble at once and returns
numpy arrays. Other modules add their own experiments with :func:`register`.

The six MLP experiments (paper App. K.1 and the authors' code, see the reproduction notes):

- ``mlp_time`` / ``calib_time``: R_k/S against SGD steps with unlimited data (Fig. 1a / 11a);
- ``mlp_data`` / ``calib_data``: R_k/S after training on a fixed set of D samples (Fig. 1b / 11b);
- ``mlp_params`` / ``calib_params``: R_k/S after training against hidden width (Fig. 1c / 11c).

The ``quick`` sizes shrink the task (12 skill bits, parities of 2 bits), the width, the batch,
the number of steps and seeds, so each runs in seconds on two CPU cores, yet the phenomenon is
still there: skills emerge in order of frequency, R_k/S rises with D and with width. They run
the same code as the paper sizes, with the differences listed in each factory's docstring.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from . import _validate, store
from .models import MLPEnsemble
from .profiles import active_profile, check_profile
from .train import (
    FixedDataset,
    MemberOptimizer,
    OnlineStream,
    SkillEvaluator,
    SkillSampler,
    TorchEnsemble,
    constant_lr,
    evaluation_bits,
    halving_lr,
    member_subsets,
    train,
)

_REGISTRY: dict[str, Callable[[str], object]] = {}
_REFERENCE_ONLY: set[str] = set()
_PLUGINS = ("emergence.transformer", "emergence.parity", "emergence.icl")


ENGINES = ("torch", "rowsum")


class Parts(NamedTuple):
    """Everything a training run of an MLP experiment is made of."""

    engine: object
    data: object
    lr_schedule: Callable
    sampler: SkillSampler


def default_engine(device, n_bits: int = 32) -> str:
    """``EMERGENCE_ENGINE`` if set, else the CPU engine (``"rowsum"``) on the CPU when the task
    has at most 32 skill bits (its kernels' limit), else torch."""
    chosen = os.environ.get("EMERGENCE_ENGINE")
    if chosen:
        if chosen not in ENGINES:
            raise ValueError(f"EMERGENCE_ENGINE must be one of {ENGINES}, got {chosen!r}")
        return chosen
    return "rowsum" if torch.device(device).type == "cpu" and n_bits <= 32 else "torch"


@dataclass(frozen=True, kw_only=True)
class MLPExperiment:
    """Settings shared by the MLP experiments (all members trained as one ensemble).

    ``init_std`` is the std of the normal init of every weight and bias; ``lr`` is the rate of
    the authors' loss (mean squared error without ½); ``n_eval`` is the number of evaluation
    samples per skill; ``seed`` fixes subsets, init, data and evaluation sets.
    """

    name: str
    profile: str
    n_skills: int
    n_bits: int
    bits_per_skill: int
    alpha: float
    scale: float
    init_std: float
    optimizer: str
    lr: float
    weight_decay: float
    batch_size: int
    n_steps: int
    n_seeds: int
    n_eval: int
    seed: int = 0

    kind = "mlp"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every setting's type and range; a bad one raises ValueError naming it."""
        store.check_name(self.name)
        check_profile(self.profile)
        for name in ("n_skills", "n_bits", "bits_per_skill", "batch_size", "n_steps",
                     "n_seeds", "n_eval"):
            _validate.positive_int(name, getattr(self, name))
        _validate.non_negative_int("seed", self.seed)
        if self.bits_per_skill > self.n_bits:
            raise ValueError(f"bits_per_skill must be <= n_bits = {self.n_bits}, got "
                             f"{self.bits_per_skill}")
        for name in ("alpha", "scale", "init_std", "lr"):
            _validate.finite_positive(name, getattr(self, name))
        _validate.finite("weight_decay", self.weight_decay)
        _validate.non_negative("weight_decay", self.weight_decay)
        _validate.one_of("optimizer", self.optimizer, ("sgd", "adam"))

    def to_dict(self) -> dict:
        """Every setting (plus the experiment kind), JSON-serialisable; the store hashes it."""
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def member_widths(self) -> list[int]:
        raise NotImplementedError

    def data_spec(self, n_seeds: int) -> tuple:
        """``("online", batch_size, seed)`` or ``("fixed", n_data per member, batch, seed)``."""
        raise NotImplementedError

    def parts(self, device, n_seeds: int | None = None, engine: str | None = None) -> Parts:
        """Build the engine (``"torch"`` or ``"rowsum"``, default :func:`default_engine`), its
        data and schedule; ``n_seeds`` overrides the seed count."""
        device = torch.device(device)
        engine = default_engine(device, self.n_bits) if engine is None else engine
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        if engine == "rowsum" and device.type != "cpu":
            raise ValueError(f"engine 'rowsum' runs on the CPU only, got device {device}")
        n_seeds = self.n_seeds if n_seeds is None else n_seeds
        widths = [w for w in self.member_widths() for _ in range(n_seeds)]
        members = len(widths)
        subsets = member_subsets(self.n_skills, self.n_bits, self.bits_per_skill,
                                 [1_000_003 * self.seed + i for i in range(members)])
        sampler = SkillSampler(subsets, self.n_bits, self.alpha, self.scale, device)
        generator = torch.Generator(device=device).manual_seed(self.seed)
        model = MLPEnsemble(members, sampler.input_dim, max(widths), self.init_std,
                            widths if len(set(widths)) > 1 else None, generator, device)
        spec = self.data_spec(n_seeds)
        eval_seed = self.seed + 2
        if engine == "rowsum":
            from .cpu_ensemble import RowSumEnsemble

            built = RowSumEnsemble(model, sampler, self.optimizer, self.weight_decay, spec,
                                   evaluation_bits(sampler, self.n_eval, eval_seed))
            data = built.data
        else:
            optimizer = MemberOptimizer(model.parameters(), self.optimizer, self.weight_decay)
            data = OnlineStream(sampler, spec[1], spec[2]) if spec[0] == "online" else \
                FixedDataset(sampler, spec[1], spec[2], spec[3])
            built = TorchEnsemble(model, optimizer, data,
                                  SkillEvaluator(sampler, self.n_eval, seed=eval_seed))
        return Parts(built, data, self.lr_schedule(data, members), sampler)

    def lr_schedule(self, data, n_members: int):
        return constant_lr(self.lr, n_members)

    def record_steps(self) -> np.ndarray:
        raise NotImplementedError

    def run(self, device=None, progress: bool | None = False, checkpoint=None,
            deadline: float | None = None, engine: str | None = None) -> dict:
        """Train the whole ensemble and return this experiment's arrays (see ENGINE contract),
        plus ``wall_s``, the training wall time summed over the sessions of a resumed run.

        ``engine``: ``"rowsum"`` (the CPU engine, default on the CPU) or ``"torch"``.
        ``checkpoint`` (a path) makes the run resumable; ``deadline`` (``time.monotonic()``)
        pauses it there with :class:`emergence.checkpoints.TrainingPaused`.
        """
        device = torch.device(device if device is not None else default_device())
        parts = self.parts(device, engine=engine)
        engine = type(parts.engine).__name__
        key = store.config_key({**self.to_dict(), "engine": engine, "code": store.code_digest()})
        records = train(parts.engine, parts.lr_schedule, self.n_steps, self.record_steps(),
                        name=self.name, loss_limit=1e4 * self.scale**2, progress=progress,
                        checkpoint=checkpoint, checkpoint_key=key, deadline=deadline)
        return {**self.arrange(records, parts), "wall_s": records["wall_s"]}

    def arrange(self, records: dict, parts: Parts) -> dict:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class TimeExperiment(MLPExperiment):
    """R_k/S against training steps, unlimited data (fresh samples each step).

    Arrays: ``steps`` (n_rec,), ``strength`` and ``loss`` (n_rec, n_seeds, n_skills).
    """

    width: int
    record_every: int
    kind = "time"

    def validate(self) -> None:
        super().validate()
        _validate.positive_int("width", self.width)
        _validate.positive_int("record_every", self.record_every)

    def member_widths(self) -> list[int]:
        return [self.width]

    def data_spec(self, n_seeds):
        return ("online", self.batch_size, self.seed + 1)

    def record_steps(self) -> np.ndarray:
        return np.arange(0, self.n_steps + 1, self.record_every)

    def arrange(self, records, parts):
        return {"steps": records["steps"], "strength": records["strength"],
                "loss": records["loss"]}


@dataclass(frozen=True, kw_only=True)
class _FinalStateExperiment(MLPExperiment):
    """An experiment judged after training, with a few intermediate records to show convergence.

    Extra arrays: ``history_steps`` (n_hist,) and ``strength_history`` (n_hist, n_settings,
    n_seeds, n_skills); ``loss`` (n_settings, n_seeds, n_skills) is the final per-skill loss.
    """

    n_history: int

    def validate(self) -> None:
        super().validate()
        _validate.positive_int("n_history", self.n_history)

    def record_steps(self) -> np.ndarray:
        return np.unique(np.linspace(0, self.n_steps, self.n_history + 1).round().astype(int))

    def _final(self, records) -> dict:
        shape = (len(self.member_widths()), self.n_seeds, self.n_skills)
        history = records["strength"].reshape(-1, *shape)
        return {"strength": history[-1], "loss": records["loss"][-1].reshape(shape),
                "history_steps": records["steps"], "strength_history": history}


@dataclass(frozen=True, kw_only=True)
class DataExperiment(_FinalStateExperiment):
    """R_k/S after training on a fixed training set of size D, one set per member.

    ``batch_size`` plays the authors' role: an epoch has ``max(1, D // batch_size)`` steps.
    The learning rate is halved at epoch 0 and every ``lr_halving_epochs`` epochs of each member.
    Arrays: ``n_data`` (n_D,), ``strength`` (n_D, n_seeds, n_skills), ``skill_counts`` (same
    shape, d_k of each member's set), plus the history arrays.
    """

    width: int
    n_data: tuple[int, ...]
    lr_halving_epochs: int
    kind = "data"

    def validate(self) -> None:
        super().validate()
        _validate.positive_int("width", self.width)
        _validate.int_sequence("n_data", self.n_data)
        _validate.positive_int("lr_halving_epochs", self.lr_halving_epochs)

    def member_widths(self) -> list[int]:
        return [self.width] * len(self.n_data)

    def data_spec(self, n_seeds):
        sizes = [d for d in self.n_data for _ in range(n_seeds)]
        return ("fixed", sizes, self.batch_size, self.seed + 1)

    def lr_schedule(self, data, n_members):
        return halving_lr(self.lr, data.steps_per_epoch, self.lr_halving_epochs)

    def arrange(self, records, parts):
        counts = parts.data.counts
        counts = counts.cpu().numpy() if isinstance(counts, torch.Tensor) else counts
        counts = counts.reshape(len(self.n_data), self.n_seeds, -1)
        return {"n_data": np.asarray(self.n_data), "skill_counts": counts,
                **self._final(records)}


@dataclass(frozen=True, kw_only=True)
class ParamsExperiment(_FinalStateExperiment):
    """R_k/S after training against hidden width, unlimited data; widths padded and masked.

    Arrays: ``widths`` (n_W,), ``strength`` (n_W, n_seeds, n_skills), plus the history arrays.
    """

    widths: tuple[int, ...]
    kind = "params"

    def validate(self) -> None:
        super().validate()
        _validate.int_sequence("widths", self.widths)

    def member_widths(self) -> list[int]:
        return list(self.widths)

    def data_spec(self, n_seeds):
        return ("online", self.batch_size, self.seed + 1)

    def arrange(self, records, parts):
        return {"widths": np.asarray(self.widths), **self._final(records)}


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --- the six MLP experiments ------------------------------------------------------------------

_TASK = {"n_bits": 32, "bits_per_skill": 3, "alpha": 0.6, "scale": 5.0}
_QUICK_TASK = {"n_bits": 12, "bits_per_skill": 2, "alpha": 0.6, "scale": 5.0}


def _task(profile: str, n_skills: int) -> dict:
    return {"n_skills": n_skills, **(_TASK if profile == "paper" else _QUICK_TASK)}


def _time(name: str, n_skills: int, profile: str) -> TimeExperiment:
    paper, one = profile == "paper", n_skills == 1
    return TimeExperiment(
        name=name, profile=profile, **_task(profile, n_skills), init_std=0.01,
        optimizer="sgd", lr=0.02 if paper else 0.05, weight_decay=0.0,
        width=1000 if paper else 128, batch_size=4000 if paper else 256,
        n_steps=(5_000 if one else 30_000) if paper else (500 if one else 2_000),
        record_every=50 if paper else (10 if one else 20), n_seeds=10 if paper else 6,
        n_eval=20_000 if paper else 2_000)


def make_mlp_time(profile: str) -> TimeExperiment:
    """Fig. 1(a): 5 skills, SGD lr 0.02, init std 0.01, width 1000, batch 4000, 30,000 steps,
    R_k every 50 steps, 10 seeds (the authors' plotted runs). Run time: see ``make bench``
    (its ``run min`` column) and the stored entry's provenance (``wall_s``).

    Quick: 12 skill bits, m = 2, SGD lr 0.05, width 128, batch 256, 2,000 steps, R_k every 20
    steps, 6 seeds, 2,000 evaluation samples per skill (so that the emergence threshold 0.05
    stands over four standard errors above the measurement noise; see
    :func:`emergence.fits.strength_standard_error`). Skills 1 to 4 emerge one after the other
    and skill 5 starts to.
    """
    return _time("mlp_time", 5, check_profile(profile))


def make_calib_time(profile: str) -> TimeExperiment:
    """Fig. 11(a): one skill, otherwise as ``mlp_time``; 5,000 steps (the authors' 1,000 epochs
    of 5 steps), 10 seeds. Quick: as quick ``mlp_time``, 500 steps, R_k every 10 steps."""
    return _time("calib_time", 1, check_profile(profile))


def _data(name: str, n_skills: int, n_data: tuple[int, ...], profile: str) -> DataExperiment:
    paper = profile == "paper"
    return DataExperiment(
        name=name, profile=profile, **_task(profile, n_skills), init_std=0.001 if paper else 0.01,
        optimizer="sgd", lr=0.05 if paper else 0.1, weight_decay=0.0,
        width=1000 if paper else 64, batch_size=2000 if paper else 200, n_data=n_data,
        n_steps=(30_000 if n_skills == 1 else 50_000) if paper else 1_500,
        lr_halving_epochs=10_000 if paper else 1_000, n_seeds=5 if paper else 2,
        n_eval=20_000 if paper else 1_000, n_history=10)


def make_mlp_data(profile: str) -> DataExperiment:
    """Fig. 1(b): 5 skills, SGD lr 0.05 halved at epoch 0 and every 10,000 epochs, init std
    0.001, width 1000, steps per epoch max(1, D // 2000), 5 seeds per D, D on a log grid from
    500 to 35,000 (the paper's range, 9 points). 50,000 steps: the earlier GPU measurement found
    every D converged by then (the authors ran 100,000 epochs, a D-dependent number of steps).

    Quick: 12 skill bits, m = 2, init std 0.01 and lr 0.1 (so 0.05 after the epoch-0 halving:
    escapes the small-init plateau within a few hundred steps), width 64, batch 200, halving
    every 1,000 epochs, 1,500 steps, 2 seeds, D from 30 to 1,000.
    """
    profile = check_profile(profile)
    grid = (500, 850, 1450, 2450, 4200, 7100, 12000, 20500, 35000) if profile == "paper" \
        else (30, 60, 120, 250, 500, 1000)
    return _data("mlp_data", 5, grid, profile)


def make_calib_data(profile: str) -> DataExperiment:
    """Fig. 11(b): one skill, D = 100, 200, ..., 2000 (full batch), 30,000 steps (the authors'
    30,000 epochs), 5 seeds per D, otherwise as ``mlp_data``.
    Quick: as quick ``mlp_data`` with D from 10 to 320."""
    profile = check_profile(profile)
    grid = tuple(range(100, 2001, 100)) if profile == "paper" else (10, 20, 40, 80, 160, 320)
    return _data("calib_data", 1, grid, profile)


def _params(name: str, n_skills: int, widths: tuple[int, ...], profile: str) -> ParamsExperiment:
    paper = profile == "paper"
    return ParamsExperiment(
        name=name, profile=profile, **_task(profile, n_skills), init_std=0.05,
        optimizer="adam", lr=0.01 if paper else 0.02, weight_decay=0.0, widths=widths,
        batch_size=4000 if paper else 256,
        n_steps=(50_000 if n_skills == 1 else 200_000) if paper else 2_000,
        n_seeds=(32 if n_skills == 1 else 50) if paper else 3,
        n_eval=20_000 if paper else 1_000, n_history=10)


def make_mlp_params(profile: str) -> ParamsExperiment:
    """Fig. 1(c): 5 skills, widths 1..20, 50 seeds per width (the spread of single runs at width
    10, the paper's Table 5, is part of the chapter), batch 4000, fresh samples.

    Optimizer: Adam lr 0.01, init std 0.05, no weight decay, 200,000 steps. Why: the plotting
    script's Adam lr 0.05 with init std 0.05 kills most ReLU units (inputs are >= 0, a few large
    steps push the biases negative) and does not give Fig. 1(c); the paper text's lr 0.001
    learns about 10x slower; lr 0.01 gives the figure's shape but is still changing at 100,000
    steps, hence 200,000 (hours on two CPU cores, see ``make bench``; checkpoints carry it
    across sessions). The weight decay of the plotted runs is not known, so none is used.

    Quick: 12 skill bits, m = 2, Adam lr 0.02, widths 1, 2, 3, 4, 6, 8, 12, 16, batch 256,
    2,000 steps, 3 seeds. Single runs vary a lot, as in the paper's Table 5: with m = 2 a narrow
    network often settles at R/S = 1/3 or 1/2 of a skill instead of 0 or 1.
    """
    profile = check_profile(profile)
    widths = tuple(range(1, 21)) if profile == "paper" else (1, 2, 3, 4, 6, 8, 12, 16)
    return _params("mlp_params", 5, widths, profile)


def make_calib_params(profile: str) -> ParamsExperiment:
    """Fig. 11(c): one skill, widths 1..12, 32 seeds, 50,000 steps, otherwise as ``mlp_params``
    Quick: widths 1, 2, 3, 4, 6, 8, otherwise as quick
    ``mlp_params``."""
    profile = check_profile(profile)
    widths = tuple(range(1, 13)) if profile == "paper" else (1, 2, 3, 4, 6, 8)
    return _params("calib_params", 1, widths, profile)


# --- registry and run_or_load ------------------------------------------------------------------

def register(name: str, make: Callable[[str], object], stored: bool = True) -> None:
    """Add (or replace) experiment ``name``; ``make(profile)`` returns its config object.

    ``stored=False`` marks a reference configuration (the paper's days-long transformer run):
    registered so that anyone can run it by name, but not run by ``make results`` and not
    required in the results store.
    """
    store.check_name(name)
    if not callable(make):
        raise ValueError(f"make must be callable as make(profile), got {make!r}")
    _REGISTRY[name] = make
    if stored:
        _REFERENCE_ONLY.discard(name)
    else:
        _REFERENCE_ONLY.add(name)


def names(stored_only: bool = False) -> list[str]:
    """Every registered experiment, including those of optional modules (the transformer).

    ``stored_only`` leaves out the reference configurations (see :func:`register`): what
    ``make results`` runs and the results store must hold.
    """
    _load_plugins()
    return sorted(n for n in _REGISTRY if not (stored_only and n in _REFERENCE_ONLY))


def config(name: str, profile: str | None = None):
    """The config of experiment ``name`` for ``profile`` (default: the active profile)."""
    profile = active_profile() if profile is None else check_profile(profile)
    if name not in _REGISTRY:
        _load_plugins()
    if name not in _REGISTRY:
        raise ValueError(f"name must be one of {sorted(_REGISTRY)}, got {name!r}")
    return _REGISTRY[name](profile)


@dataclass
class Result:
    """What a chapter gets: the arrays, the config, where they came from, and any warning."""

    arrays: dict
    config: dict
    source: str
    warning: str | None
    provenance: dict


def run_or_load(name: str, profile: str | None = None, device=None, root=None,
                progress: bool = False) -> Result:
    """Stored result, fresh run, or quick fallback, following the book's rules.

    Paper profile: the store entry for exactly this config if there is one; else a run, when
    CUDA is available (saved to the store); else the quick config of the same name, with
    ``source="quick-fallback"`` and a warning that is also displayed as a warning box.
    Quick profile: always a fresh run, never stored.
    """
    profile = active_profile() if profile is None else check_profile(profile)
    cfg = config(name, profile)
    if profile == "paper":
        state, why = store.status(name, cfg.to_dict(), root)
        if state == "complete":
            arrays, meta = store.load(name, cfg.to_dict(), root)
            return Result(arrays, cfg.to_dict(), "store", None, meta)
        if state != "missing":
            raise store.EntryError(f"the stored result of {name!r} is {state}: {why}")
        if device is None and not torch.cuda.is_available():
            return _quick_fallback(name, device, progress)
    result = _compute(cfg, device, progress, "computed")
    if profile == "paper":
        _try_save(name, result, root, getattr(cfg, "nan_arrays", ()))
    return result


def run_or_load_matched(calibration: str, target: str, profile: str | None = None, device=None,
                        root=None, progress: bool = False) -> tuple[Result, Result]:
    """The run a constant is calibrated on and the run it predicts, both from the same task.

    A constant calibrated on one task says nothing about another, so when either run has no
    stored paper-scale result and falls back to the quick profile, the other is taken from the
    quick profile as well, with a warning that says so (in ``Result.warning``).
    """
    names = (calibration, target)
    runs = [run_or_load(name, profile, device, root, progress) for name in names]
    if runs[0].config["profile"] == runs[1].config["profile"]:
        return runs[0], runs[1]
    warning = (f"'{calibration}' and '{target}' must come from the same task, and one of them "
               f"has no stored paper-scale result: both are taken from the quick profile.")
    for i, run in enumerate(runs):
        if run.config["profile"] != "quick":
            runs[i] = dataclasses.replace(run_or_load(names[i], "quick", device, root, progress),
                                          warning=warning)
    return runs[0], runs[1]


def _compute(cfg, device, progress, source: str, warning: str | None = None) -> Result:
    device = torch.device(device if device is not None else default_device())
    code, start = store.code_identity(), time.perf_counter()
    arrays = cfg.run(device, progress=progress)
    meta = store.provenance(cfg.to_dict(), device, time.perf_counter() - start, code=code)
    return Result(arrays, cfg.to_dict(), source, warning, meta)


def _quick_fallback(name: str, device, progress: bool) -> Result:
    from .book import warning_box

    warning = (f"No stored paper-scale result for '{name}' and no GPU: the figures below come "
               f"from the small 'quick' configuration, which shows the phenomenon but not the "
               f"paper's numbers. Run `make results` (two CPU cores suffice) to fill the results "
               f"store.")
    warning_box(warning)
    return _compute(config(name, "quick"), device, progress, "quick-fallback", warning)


def _try_save(name: str, result: Result, root, nan_arrays: tuple[str, ...]) -> None:
    try:
        store.save(name, result.config, result.arrays, result.provenance, root,
                   nan_arrays=nan_arrays)
    except OSError as error:  # a read-only checkout still gets its figures
        warnings.warn(f"could not write {name} to the results store: {error}", stacklevel=3)


def _load_plugins() -> None:
    import importlib
    import importlib.util

    for module in _PLUGINS:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


for _name, _make in {"mlp_time": make_mlp_time, "calib_time": make_calib_time,
                     "mlp_data": make_mlp_data, "calib_data": make_calib_data,
                     "mlp_params": make_mlp_params, "calib_params": make_calib_params}.items():
    register(_name, _make)
