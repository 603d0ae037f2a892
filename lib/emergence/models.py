"""Batched two-layer ReLU networks: many independent MLPs held as one model.

The paper's network (App. K.1) is ``Linear(n_s + n_b, width) -> ReLU -> Linear(width, 1)`` with
every weight and bias drawn from ``N(0, init_std²)``. An experiment trains many such networks
(seeds, widths, data sizes). Instead of looping over them, :class:`MLPEnsemble` stacks their
weights along a leading *member* axis and evaluates all of them with batched matrix products
(``torch.baddbmm``), which is what makes the paper-scale runs fast on a GPU.

Members of different widths share one tensor of the largest width; the units a member does not
have are masked: all their weights and biases are set to zero at init. Such a unit's
pre-activation is exactly 0, ReLU passes no gradient at 0 and its outgoing weight sees a zero
activation, so it never receives a gradient and stays zero for good (also under Adam and
weight decay), without any masking in the forward pass.
Nothing in one member's output depends on another member's weights, so a loss that *sums* the
members' own losses gives each member exactly the gradient it would get alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import _validate


class MLPEnsemble(torch.nn.Module):
    """``n_members`` independent 2-layer ReLU MLPs with scalar output, stacked.

    Parameters
    ----------
    n_members : number of networks M, >= 1.
    input_dim : input length d, >= 1.
    width : hidden width H (the largest width when ``widths`` is given), >= 1.
    init_std : standard deviation of the normal init of all weights and biases, > 0.
    widths : optional per-member hidden widths (each in [1, width]); units beyond a member's
        width are masked out.
    generator : torch.Generator used for the init (on ``device``), for reproducibility.
    device : where the weights live.

    Shapes: ``w1`` (M, d, H), ``b1`` (M, 1, H), ``w2`` (M, H, 1), ``b2`` (M, 1, 1).
    """

    def __init__(self, n_members: int, input_dim: int, width: int, init_std: float,
                 widths: Sequence[int] | None = None, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> None:
        super().__init__()
        _validate.positive_int("n_members", n_members)
        _validate.positive_int("input_dim", input_dim)
        _validate.positive_int("width", width)
        _validate.positive("init_std", init_std)
        shapes = {"w1": (input_dim, width), "b1": (1, width), "w2": (width, 1), "b2": (1, 1)}
        for name, shape in shapes.items():
            value = torch.empty((n_members, *shape), device=device)
            value.normal_(0.0, float(init_std), generator=generator)
            self.register_parameter(name, torch.nn.Parameter(value))
        self.register_buffer("mask", None)
        if widths is not None:
            self.mask = unit_mask(widths, n_members, width, device)
            with torch.no_grad():
                self.w1.mul_(self.mask)
                self.b1.mul_(self.mask)
                self.w2.mul_(self.mask.transpose(1, 2))

    @property
    def n_members(self) -> int:
        return self.w1.shape[0]

    @property
    def width(self) -> int:
        return self.w1.shape[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs of every member.

        ``x`` is either ``(M, B, d)`` (each member its own batch) or ``(B, d)`` (one batch
        shared by all members). Returns ``(M, B)``.
        """
        if x.dim() == 2:
            hidden = torch.matmul(x, self.w1) + self.b1
        else:
            hidden = torch.baddbmm(self.b1, x, self.w1)
        return torch.baddbmm(self.b2, torch.relu(hidden), self.w2).squeeze(-1)

    def member_widths(self) -> list[int]:
        """The hidden width of every member (its number of unmasked units)."""
        if self.mask is None:
            return [self.width] * self.n_members
        return [int(n) for n in self.mask.sum(dim=(1, 2)).tolist()]

    def to_sequential(self, member: int) -> torch.nn.Sequential:
        """Member ``member`` as a plain ``nn.Sequential`` (the authors' network), weights copied."""
        if not 0 <= member < self.n_members:
            raise ValueError(f"member must lie in [0, {self.n_members - 1}], got {member!r}")
        width = self.member_widths()[member]
        net = single_mlp(self.w1.shape[1], width, device=self.w1.device)
        with torch.no_grad():
            net[0].weight.copy_(self.w1[member, :, :width].T)
            net[0].bias.copy_(self.b1[member, 0, :width])
            net[2].weight.copy_(self.w2[member, :width, :].T)
            net[2].bias.copy_(self.b2[member, 0])
        return net


def single_mlp(input_dim: int, width: int, init_std: float | None = None,
               device: torch.device | str = "cpu") -> torch.nn.Sequential:
    """One network the way the authors built it: Linear, ReLU, Linear, all parameters N(0, σ²).

    With ``init_std=None`` PyTorch's default init is kept (the caller copies weights in).
    """
    _validate.positive_int("input_dim", input_dim)
    _validate.positive_int("width", width)
    net = torch.nn.Sequential(torch.nn.Linear(input_dim, width), torch.nn.ReLU(),
                              torch.nn.Linear(width, 1)).to(device)
    if init_std is not None:
        _validate.positive("init_std", init_std)
        with torch.no_grad():
            for param in net.parameters():
                param.normal_(0.0, float(init_std))
    return net


def unit_mask(widths: Sequence[int], n_members: int, width: int,
               device: torch.device | str) -> torch.Tensor:
    """``(M, 1, H)`` float mask: 1 for the units a member has, 0 for the padding."""
    widths = list(widths)
    if len(widths) != n_members:
        raise ValueError(f"widths must have one entry per member ({n_members}), got {len(widths)}")
    for value in widths:
        _validate.positive_int("widths", value)
        if value > width:
            raise ValueError(f"widths must be <= width={width}, got {value}")
    sizes = torch.tensor(widths, device=device)
    units = torch.arange(width, device=device)
    return (units[None, :] < sizes[:, None]).to(torch.float32)[:, None, :]
