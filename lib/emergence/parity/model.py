"""Batched two-layer MLPs for sparse parity: many seeds and widths held as one model.

A member computes ``f(x) = w2ᵀ σ(W1ᵀ x + b1) + b2`` with σ = ReLU or σ(z) = z^degree (Barak et
al.'s architectures (i)-(vi)). As in :class:`emergence.models.MLPEnsemble`, the members'
weights are stacked along a leading axis and evaluated with batched matrix products, and a
member narrower than the tensor has its extra units set to zero: their pre-activation is 0,
σ'(0) = 0 for both activations and their outgoing weight sees σ(0) = 0, so they never move
(also under weight decay). It is a sibling of ``MLPEnsemble`` rather than a reuse because the
parity papers need other inits (Glorot uniform, s-sparse) and the z^k activation.

Initialisations (``init``), every bound computed from the member's own width:

- ``"uniform"`` (Barak et al.'s default): weights U[-c, c] with the Glorot bound
  c = sqrt(6 / (fan_in + fan_out)) per layer;
- ``"bernoulli"``: weights ±c with the same c; ``"gaussian"``: N(0, 2 / fan_in) (Kaiming);
- ``"torch"``: PyTorch's ``nn.Linear`` default, U[-1/sqrt(fan_in), 1/sqrt(fan_in)];
- ``"sparse"`` (Edelman et al. 2023): each hidden neuron's input weights are zero except ``s``
  random coordinates, which are ±1 with random signs; the second layer as ``"uniform"``.

Biases are U[-1/sqrt(fan_in), 1/sqrt(fan_in)] (PyTorch's default) for every init: the
papers' bias choice is not known to the book (see the reproduction notes); biases matter
for odd k. ``scale`` multiplies every initial parameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .. import _validate
from ..models import unit_mask

ACTIVATIONS = ("relu", "poly")
INITS = ("uniform", "bernoulli", "gaussian", "torch", "sparse")


class ParityMLP(torch.nn.Module):
    """``n_members`` independent 2-layer MLPs with scalar output on n input bits.

    Parameters
    ----------
    n_members : number of members M, >= 1.
    n : input length, >= 1.
    width : hidden width H (the largest, when ``widths`` is given), >= 1.
    activation : ``"relu"`` or ``"poly"`` (σ(z) = z^degree).
    degree : the power of ``"poly"``, an integer >= 2.
    init : one of ``INITS``.
    s : nonzero input weights per neuron for ``init="sparse"``, in [1, n].
    scale : factor on every initial parameter, > 0.
    widths : optional per-member hidden widths, each in [1, width].
    generator, device : for the init.

    Shapes: ``w1`` (M, n, H), ``b1`` (M, 1, H), ``w2`` (M, H, 1), ``b2`` (M, 1, 1).
    """

    def __init__(self, n_members: int, n: int, width: int, activation: str = "relu",
                 degree: int = 2, init: str = "uniform", s: int | None = None,
                 scale: float = 1.0, widths: Sequence[int] | None = None,
                 generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> None:
        super().__init__()
        _validate.positive_int("n_members", n_members)
        _validate.positive_int("n", n)
        _validate.positive_int("width", width)
        _validate.one_of("activation", activation, ACTIVATIONS)
        _validate.one_of("init", init, INITS)
        _validate.finite_positive("scale", scale)
        if activation == "poly" and (isinstance(degree, bool) or
                                     not isinstance(degree, int) or degree < 2):
            raise ValueError(f"degree must be an integer >= 2, got {degree!r}")
        if init == "sparse":
            if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= n:
                raise ValueError(f"s must be an integer in [1, n={n}] for init='sparse', "
                                 f"got {s!r}")
        elif s is not None:
            raise ValueError(f"s is only used with init='sparse', got s={s!r} with init={init!r}")
        self.activation, self.degree, self.init = activation, degree, init
        widths = [width] * n_members if widths is None else list(widths)
        mask = unit_mask(widths, n_members, width, device)
        self.register_buffer("mask", mask)
        params = _init_params(n_members, n, width, widths, init, s, generator, device)
        for name, value in params.items():
            value = value * scale
            value = value * (mask.transpose(1, 2) if name == "w2" else
                             mask if name in ("w1", "b1") else 1.0)
            self.register_parameter(name, torch.nn.Parameter(value))

    @property
    def n_members(self) -> int:
        return self.w1.shape[0]

    def member_widths(self) -> list[int]:
        """The hidden width of every member (its number of unmasked units)."""
        return [int(v) for v in self.mask.sum(dim=(1, 2)).tolist()]

    def sigma(self, z: torch.Tensor) -> torch.Tensor:
        """The activation."""
        return torch.relu(z) if self.activation == "relu" else z ** self.degree

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        """Outputs ``(M, B)`` for inputs ``(M, B, n)``; with ``members`` (an index tensor) only
        those members are evaluated, on ``x`` of shape ``(len(members), B, n)``."""
        w1, b1, w2, b2 = self.w1, self.b1, self.w2, self.b2
        if members is not None:
            w1, b1, w2, b2 = w1[members], b1[members], w2[members], b2[members]
        hidden = self.sigma(torch.baddbmm(b1, x, w1))
        return torch.baddbmm(b2, hidden, w2).squeeze(-1)


def _init_params(n_members, n, width, widths, init, s, generator, device) -> dict:
    """Initial ``w1, b1, w2, b2`` before masking, each member's bounds from its own width."""
    fan = torch.tensor(widths, dtype=torch.float32, device=device)[:, None, None]

    def uniform(shape, bound):
        u = torch.rand((n_members, *shape), generator=generator, device=device)
        return (2 * u - 1) * bound

    def signs(shape):
        bits = torch.randint(0, 2, (n_members, *shape), generator=generator, device=device)
        return (2 * bits - 1).to(torch.float32)

    glorot1, glorot2 = torch.sqrt(6 / (n + fan)), torch.sqrt(6 / (fan + 1))
    if init == "uniform":
        w1, w2 = uniform((n, width), glorot1), uniform((width, 1), glorot2)
    elif init == "bernoulli":
        w1, w2 = signs((n, width)) * glorot1, signs((width, 1)) * glorot2
    elif init == "gaussian":
        w1 = torch.randn((n_members, n, width), generator=generator, device=device)
        w2 = torch.randn((n_members, width, 1), generator=generator, device=device)
        w1, w2 = w1 * math.sqrt(2 / n), w2 * torch.sqrt(2 / fan)
    elif init == "torch":
        w1, w2 = uniform((n, width), 1 / math.sqrt(n)), uniform((width, 1), 1 / torch.sqrt(fan))
    else:
        w1 = _sparse_weights(n_members, n, width, s, generator, device) * signs((n, width))
        w2 = uniform((width, 1), glorot2)
    b1 = uniform((1, width), 1 / math.sqrt(n))
    b2 = uniform((1, 1), 1 / torch.sqrt(fan))
    return {"w1": w1, "b1": b1, "w2": w2, "b2": b2}


def _sparse_weights(n_members, n, width, s, generator, device) -> torch.Tensor:
    """``(M, n, H)`` 0/1 tensor with exactly ``s`` ones, at random rows, in every column."""
    keys = torch.rand((n_members, width, n), generator=generator, device=device)
    chosen = torch.argsort(keys, dim=2)[:, :, :s]
    ones = torch.zeros((n_members, width, n), device=device).scatter_(2, chosen, 1.0)
    return ones.transpose(1, 2).contiguous()


class PolyNet(torch.nn.Module):
    """``n_members`` PolyNets f(x) = ∏_{j=1}^k ⟨w_j, x⟩ (Barak et al.'s architecture (xv)):
    products of k linear functions, which can represent the k-parity exactly.

    ``blocks``: optional (M, k, n) 0/1 mask; factor j then sees only the inputs of its block
    (the *disjoint* PolyNet of the paper's theory, see :func:`disjoint_blocks`). Weights are
    U[-c, c] with the Glorot bound c = sqrt(6 / (fan_in + 1)) of each factor (fan_in = n, or
    the block size), times ``scale``. Parameter ``w``: (M, k, n).
    """

    def __init__(self, n_members: int, n: int, k: int, blocks: torch.Tensor | None = None,
                 scale: float = 1.0, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> None:
        super().__init__()
        _validate.positive_int("n_members", n_members)
        _validate.positive_int("n", n)
        _validate.positive_int("k", k)
        _validate.finite_positive("scale", scale)
        if blocks is None:
            blocks = torch.ones((n_members, k, n), device=device)
        blocks = torch.as_tensor(blocks, dtype=torch.float32, device=device)
        if blocks.shape != (n_members, k, n):
            raise ValueError(f"blocks must have shape ({n_members}, {k}, {n}), "
                             f"got {tuple(blocks.shape)}")
        self.register_buffer("blocks", blocks)
        bound = torch.sqrt(6 / (blocks.sum(dim=2, keepdim=True) + 1))
        u = torch.rand((n_members, k, n), generator=generator, device=device)
        self.w = torch.nn.Parameter((2 * u - 1) * bound * scale * blocks)

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        """Outputs ``(M, B)`` for ``x`` of shape ``(M, B, n)`` (or only ``members``)."""
        w = self.w * self.blocks
        if members is not None:
            w = w[members]
        return torch.einsum("mbn,mkn->mbk", x, w).prod(dim=2)


def disjoint_blocks(subsets: torch.Tensor, n: int) -> torch.Tensor:
    """``(M, k, n)`` partition of [0, n) into k blocks, block j holding the j-th relevant index
    of each member and an equal share (up to one) of the irrelevant ones, in index order."""
    n_members, k = subsets.shape
    relevant = torch.zeros((n_members, n), dtype=torch.bool, device=subsets.device)
    relevant.scatter_(1, subsets, True)
    blocks = torch.zeros((n_members, k, n), device=subsets.device)
    members = torch.arange(n_members, device=subsets.device)
    for j in range(k):
        blocks[members, j, subsets[:, j]] = 1.0
    for m in range(n_members):
        rest = torch.nonzero(~relevant[m]).flatten()
        blocks[m, torch.arange(len(rest), device=subsets.device) % k, rest] = 1.0
    return blocks
