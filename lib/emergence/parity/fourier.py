"""Exact Fourier analysis of one neuron's population gradient on the (n, k)-parity.

For one unit f(x) = σ(wᵀx) and the correlation loss -y f, the population gradient is

    ∂_{w_i} E[-χ_S(x) σ(wᵀx)] = -E[χ_S(x) x_i σ'(wᵀx)] = -ξ(S △ {i}),

the Fourier coefficient of x ↦ σ'(wᵀx) on the set S △ {i}: a degree-(k-1) coefficient when
i ∈ S, a degree-(k+1) one when i ∉ S. For ReLU and w = (1, ..., 1) with n odd,
σ'(wᵀx) = 1[Σ x_i > 0] = (1 + Maj_n(x)) / 2, whose coefficients depend only on the degree
and are known in closed form (O'Donnell, *Analysis of Boolean Functions*, Thm 5.19). The
*Fourier gap* ``|ξ_{k-1}| - |ξ_{k+1}|`` is what lets a gradient step tell S from the rest.

Everything here can also be computed by brute force over the 2^n inputs (small n), which is
how the tests and the chapter check the closed forms, and how the population gradient of a
whole trained MLP is followed along its SGD path.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import _validate

MAX_ENUMERATION_BITS = 20


def all_inputs(n: int) -> np.ndarray:
    """``(2^n, n)`` array of every x in {±1}^n (n <= 20)."""
    _validate.positive_int("n", n)
    if n > MAX_ENUMERATION_BITS:
        raise ValueError(f"n must be <= {MAX_ENUMERATION_BITS} for enumeration, got {n}")
    codes = np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]
    return (1 - 2 * (codes & 1)).astype(np.float64)


def fourier_coefficient(values: np.ndarray, inputs: np.ndarray, subset) -> float:
    """f̂(T) = E_x[f(x) χ_T(x)] of a function given by its ``values`` on ``inputs`` (all of
    {±1}^n, as from :func:`all_inputs`)."""
    subset = list(subset)
    chi = inputs[:, subset].prod(axis=1) if subset else np.ones(len(inputs))
    return float(np.mean(values * chi))


def majority_coefficient(n: int, j: int) -> float:
    """The Fourier coefficient of Maj_n on any set of size j (n odd, 0 <= j <= n).

    Zero for even j; for odd j it is
    (-1)^((j-1)/2) · C((n-1)/2, (j-1)/2) / C(n-1, j-1) · C(n-1, (n-1)/2) / 2^(n-1).
    """
    _validate.positive_int("n", n)
    _validate.non_negative_int("j", j)
    if n % 2 == 0:
        raise ValueError(f"n must be odd (majority has no ties), got {n}")
    if j > n:
        raise ValueError(f"j must lie in [0, n={n}], got {j}")
    if j % 2 == 0:
        return 0.0
    half, a = (n - 1) // 2, (j - 1) // 2
    central = math.comb(n - 1, half) / 2 ** (n - 1)
    return (-1) ** a * math.comb(half, a) / math.comb(n - 1, j - 1) * central


def relu_derivative_coefficient(n: int, j: int) -> float:
    """ξ_j: the coefficient on a size-j set of σ'(Σ x_i) = 1[Σ x_i > 0] (ReLU, w = 1, n odd):
    1/2 for j = 0, Maj_n's coefficient / 2 otherwise."""
    return 0.5 if j == 0 else 0.5 * majority_coefficient(n, j)


def fourier_gap(n: int, k: int) -> float:
    """``|ξ_{k-1}| - |ξ_{k+1}|`` for the ReLU neuron with w = 1 (n odd, k even, k + 1 <= n)."""
    _validate.positive_int("k", k)
    if k % 2 or k + 1 > n:
        raise ValueError(f"k must be even and <= n - 1 = {n - 1}, got {k}")
    return abs(relu_derivative_coefficient(n, k - 1)) - abs(relu_derivative_coefficient(n, k + 1))


def neuron_gradient(w: np.ndarray, bias: float, subset) -> np.ndarray:
    """Exact population gradient of the correlation loss -χ_S(x) ReLU(wᵀx + b) with respect to
    w, by enumeration: the vector -E[χ_S(x) x_i 1[wᵀx + b > 0]] over i."""
    w = np.asarray(w, dtype=np.float64)
    inputs = all_inputs(len(w))
    active = (inputs @ w + bias > 0).astype(np.float64)
    chi = inputs[:, list(subset)].prod(axis=1)
    return -np.mean((chi * active)[:, None] * inputs, axis=0)


def mlp_population_gradient(model, subsets: torch.Tensor, loss: str = "hinge") -> torch.Tensor:
    """Exact population gradient of the loss with respect to the first-layer weights of every
    member of a batched model (``w1`` of shape (M, n, H)), by enumerating all 2^n inputs.

    Returns ``(M, n, H)``. Uses autograd on a copy of nothing: the model's own ``.grad`` is
    left untouched (the gradient is taken with ``torch.autograd.grad``).
    """
    from .train import member_losses

    n = model.w1.shape[1]
    x = torch.as_tensor(all_inputs(n), dtype=torch.float32, device=model.w1.device)
    x = x.expand(model.w1.shape[0], -1, -1)
    y = torch.gather(x, 2, subsets[:, None, :].expand(-1, x.shape[1], -1)).prod(dim=2)
    losses = member_losses(model(x), y, loss)
    return torch.autograd.grad(losses.sum(), model.w1)[0]


def gradient_gap(gradient: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """Per member, how far the relevant input coordinates stand out in a first-layer gradient
    ``(M, n, H)``: min over i ∈ S of ‖G_i‖ minus max over i ∉ S of ‖G_i‖ (row norms over the
    hidden units), divided by the largest row norm. Positive means the k largest rows are
    exactly S. ``relevant`` is the (M, n) mask of
    :meth:`emergence.parity.task.ParityTask.relevant_mask`."""
    rows = gradient.norm(dim=2)
    inside = torch.where(relevant, rows, torch.inf).amin(dim=1)
    outside = torch.where(relevant, -torch.inf, rows).amax(dim=1)
    return (inside - outside) / rows.amax(dim=1)
