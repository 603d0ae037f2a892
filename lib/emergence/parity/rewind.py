"""Prune to the largest units and rewind them to their initial weights (a lottery-ticket test).

Edelman et al. (2023, Fig. 5) train a width-100 MLP with sparse init, keep the few hidden units
of largest weight norm, reset those units to their *initial* weights and retrain the small
network alone, against small networks made of randomly chosen initial units. If width helps by
holding a few lucky units, the rewound winners should learn quickly and the random ones
mostly not.
"""

from __future__ import annotations

import torch

from .. import _validate
from .model import ParityMLP


def unit_norms(model: ParityMLP) -> torch.Tensor:
    """``(M, H)``: the Euclidean norm of each hidden unit's parameters (in, bias, out)."""
    with torch.no_grad():
        return (model.w1.pow(2).sum(1) + model.b1[:, 0].pow(2)
                + model.w2[..., 0].pow(2)).sqrt()


def top_units(model: ParityMLP, count: int) -> torch.Tensor:
    """``(M, count)`` long: each member's ``count`` units of largest norm."""
    _validate.positive_int("count", count)
    if count > model.w1.shape[2]:
        raise ValueError(f"count must be <= width {model.w1.shape[2]}, got {count}")
    return unit_norms(model).topk(count, dim=1).indices


def subnetwork(initial: dict, units: torch.Tensor, repeats: int = 1) -> ParityMLP:
    """A ParityMLP of width ``units.shape[1]`` holding member i's ``units[i]`` at their
    values in ``initial`` (a ``state_dict`` of the wide model); each member is repeated
    ``repeats`` times (consecutively), e.g. to retrain it with several SGD seeds."""
    _validate.positive_int("repeats", repeats)
    w1, b1, w2, b2 = (initial[name] for name in ("w1", "b1", "w2", "b2"))
    if units.dim() != 2 or units.shape[0] != w1.shape[0]:
        raise ValueError(f"units must be (M, count) with M = {w1.shape[0]}, got "
                         f"{tuple(units.shape)}")
    n_members, n, count = w1.shape[0], w1.shape[1], units.shape[1]
    small = ParityMLP(n_members * repeats, n, count, device=w1.device)
    pick = units[:, None, :]
    values = {"w1": torch.gather(w1, 2, pick.expand(-1, n, -1)),
              "b1": torch.gather(b1, 2, pick),
              "w2": torch.gather(w2, 1, units[:, :, None]), "b2": b2}
    with torch.no_grad():
        for name, value in values.items():
            getattr(small, name).copy_(value.repeat_interleave(repeats, dim=0))
    return small
