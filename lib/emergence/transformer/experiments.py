"""The named transformer experiments, how a run is summarised, and the GPU sweep's command line.

:func:`paper_config` is the paper's days-long run, :func:`time_config` the book's recipe (both
registered with :mod:`emergence.experiments` when this package is imported), and
:func:`research_sweep` the candidate recipes a GPU session compares; :func:`summarise` reduces a
run to the numbers that decide between them, and :func:`main` runs the sweep
(``python -m emergence.transformer``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..profiles import check_profile
from .config import TransformerConfig


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
    (:func:`~emergence.transformer.config.readout_lr_cap`: about ``1/(T d)`` when flattening,
    ``1.2/d`` for ``last``): on the quick model 0.64 was safe in 24 seeds, while 0.72 let a seed
    learn and then collapse, because the curvature grows during training.
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


def in_frequency_order(tau: np.ndarray) -> np.ndarray:
    """Per seed: did every skill emerge, each no earlier than the more frequent one before it?

    ``tau`` is ``(n_seeds, n_skills)`` emergence steps (NaN: never), e.g. from
    :func:`emergence.fits.emergence_steps`.
    """
    tau = np.asarray(tau, dtype=float)
    if tau.ndim != 2:
        raise ValueError(f"tau must have shape (n_seeds, n_skills), got {tau.shape}")
    return np.all(np.isfinite(tau), axis=1) & np.all(np.diff(tau, axis=1) >= 0, axis=1)


def summarise(cfg: TransformerConfig, arrays: dict) -> dict:
    """The numbers that decide a recipe: order fraction, slope of tau_k against k, final R_k/S."""
    from .. import fits

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

    parser = argparse.ArgumentParser(prog="python -m emergence.transformer",
                                     description=main.__doc__)
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
        from .. import experiments
    except ImportError:  # the package without the experiment engine still trains transformers
        return
    experiments.register("transformer_time", time_config)
    experiments.register("transformer_paper", paper_config, stored=False)


_register()
