"""Plain SGD on a batched parity model, recording each member's time to success t_c.

The update is Barak et al.'s Eq. (1) with constant rates, member by member:
``θ ← θ - lr · (∇ loss + weight_decay · θ)`` (PyTorch's ``SGD(weight_decay=...)``
convention, i.e. a shrink factor 1 - lr·weight_decay per step). The loss of the ensemble is
the *sum* of the members' mean losses, so each member gets exactly its own gradient.

Success (the paper's criterion): 100 % accuracy of sign f on a held-out batch (Barak et al.
use 2^13 samples). Checking that batch every few steps would cost more than the training
itself, so a member is first screened on ``screen_size`` fresh-once held-out samples and only
the members that make no error there are checked on the full ``eval_size`` set; ``t_c`` is
the first checked step at which the full set is classified without error. Solved members
are frozen (their rate is set to 0) unless ``freeze_solved=False``; the run stops when all
members have succeeded (unless ``stop_when_solved=False``) or at ``max_steps``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from .. import _validate

LOSSES = ("hinge", "square", "correlation")


def member_losses(output: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """``(M,)`` mean loss per member: hinge max(0, 1 - y f), square (f - y)², or the
    correlation loss -y f of the paper's theory."""
    if loss == "hinge":
        return torch.relu(1 - y * output).mean(dim=1)
    if loss == "square":
        return ((output - y) ** 2).mean(dim=1)
    if loss == "correlation":
        return -(y * output).mean(dim=1)
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


@dataclasses.dataclass
class ParityRun:
    """What :func:`train_parity` returns.

    ``t_c``: (M,) float, the success step of each member, NaN if it did not succeed;
    ``steps``: the number of steps taken; ``trace_steps``: (T,) steps of the traces;
    ``traces``: name -> array with T along axis 1 (``"loss"``: the training-batch loss and
    ``"error"``: the error on the screening set, both (M, T), plus one entry per probe).
    """

    t_c: np.ndarray
    steps: int
    trace_steps: np.ndarray
    traces: dict


class HeldOut:
    """The screening and full held-out sets of a task (fixed, drawn once from ``seed``)."""

    def __init__(self, task, eval_size: int, screen_size: int, seed: int) -> None:
        _validate.positive_int("eval_size", eval_size)
        _validate.positive_int("screen_size", screen_size)
        generator = torch.Generator(device=task.device).manual_seed(seed)
        self.screen = task.sample(min(screen_size, eval_size), generator)
        self.full = task.sample(eval_size, generator)

    def screen_error(self, model) -> torch.Tensor:
        """``(M,)`` error rate of sign f on the screening set."""
        return _error(model, *self.screen, None)

    def solved(self, model, candidates: torch.Tensor) -> torch.Tensor:
        """The members among ``candidates`` (index tensor) with zero error on the full set."""
        x, y = self.full
        errors = _error(model, x[candidates], y[candidates], candidates)
        return candidates[errors == 0]


def _error(model, x, y, members) -> torch.Tensor:
    with torch.no_grad():
        correct = torch.sign(model(x, members)) == y
    return 1 - correct.to(torch.float32).mean(dim=1)


def train_parity(model, data, held_out: HeldOut, lr: float | torch.Tensor, max_steps: int,
                 loss: str = "hinge", weight_decay: float = 0.0, check_every: int = 10,
                 trace_every: int | None = None,
                 probes: dict[str, Callable] | None = None, freeze_solved: bool = True,
                 stop_when_solved: bool = True) -> ParityRun:
    """Train ``model`` (a batched model: every parameter has the member axis first and
    ``model(x, members)`` returns ``(M, B)``) on batches from ``data.next_batch()``.

    ``lr``: a number or an (M,) tensor of per-member rates (> 0); ``check_every``: steps between
    success checks; ``trace_every``: steps between trace records (None: no traces);
    ``probes``: name -> ``fn(model) -> (M, ...)`` tensor recorded with the traces.
    """
    _validate.positive_int("max_steps", max_steps)
    _validate.positive_int("check_every", check_every)
    if trace_every is not None:
        _validate.positive_int("trace_every", trace_every)
    _validate.one_of("loss", loss, LOSSES)
    _validate.finite("weight_decay", weight_decay)
    _validate.non_negative("weight_decay", weight_decay)
    params = list(model.parameters())
    n_members = params[0].shape[0]
    rate = torch.as_tensor(lr, dtype=torch.float32, device=params[0].device)
    _validate.finite_positive("lr", rate.cpu().numpy())
    rate = rate.expand(n_members).clone()
    t_c = np.full(n_members, np.nan)
    traces: dict[str, list] = {"loss": [], "error": [], **{k: [] for k in probes or {}}}
    trace_steps = []
    step = 0
    while step < max_steps:
        x, y = data.next_batch()
        losses = member_losses(model(x), y, loss)
        if trace_every is not None and step % trace_every == 0:
            _record(traces, model, held_out, probes, losses)
            trace_steps.append(step)
        for param in params:
            param.grad = None
        losses.sum().backward()
        _sgd_step(params, rate, weight_decay)
        step += 1
        if step % check_every == 0 and _check(model, held_out, t_c, step, rate, freeze_solved) \
                and stop_when_solved:
            break
    out = {name: np.stack(values, axis=1) if values else np.empty((n_members, 0))
           for name, values in traces.items()}
    return ParityRun(t_c, step, np.asarray(trace_steps, dtype=np.int64), out)


def _sgd_step(params, rate: torch.Tensor, weight_decay: float) -> None:
    with torch.no_grad():
        for param in params:
            r = rate.view(-1, *([1] * (param.dim() - 1)))
            if weight_decay:
                param.mul_(1 - r * weight_decay)
            param.sub_(r * param.grad)


def _check(model, held_out: HeldOut, t_c: np.ndarray, step: int, rate: torch.Tensor,
           freeze: bool) -> bool:
    """Record newly solved members; True once every member has succeeded."""
    open_members = torch.as_tensor(np.flatnonzero(np.isnan(t_c)), device=rate.device)
    if len(open_members) == 0:
        return True
    screen = held_out.screen_error(model)
    candidates = open_members[screen[open_members] == 0]
    if len(candidates):
        solved = held_out.solved(model, candidates).cpu().numpy()
        t_c[solved] = step
        if freeze:
            rate[torch.as_tensor(solved, device=rate.device)] = 0.0
    return not np.isnan(t_c).any()


def _record(traces, model, held_out: HeldOut, probes, losses: torch.Tensor) -> None:
    """Append the batch loss, the screening error and every probe at the current weights."""
    traces["loss"].append(losses.detach().cpu().numpy())
    traces["error"].append(held_out.screen_error(model).cpu().numpy())
    with torch.no_grad():
        for name, probe in (probes or {}).items():
            traces[name].append(probe(model).detach().cpu().numpy())
