"""Optimiser updates over the kernels' parameter arrays: elementwise, one rate per member."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, fastmath=True, cache=True)
def sgd_update(param, grad, lr, weight_decay):
    """``param -= lr * (grad + weight_decay * param)``; shapes (A, n, C), ``lr`` (A, C)."""
    n_slots, n, n_lanes = param.shape
    for a in prange(n_slots):
        for i in range(n):
            for c in range(n_lanes):
                step = grad[a, i, c] + weight_decay * param[a, i, c]
                param[a, i, c] -= lr[a, c] * step


@njit(parallel=True, fastmath=True, cache=True)
def adam_update(param, grad, exp_avg, exp_avg_sq, lr, weight_decay, beta1, beta2, eps,
                correction1, correction2):
    """``torch.optim.Adam``'s update (L2 weight decay added to the gradient), per member rate.

    ``correction1 = 1 - beta1**t`` and ``correction2 = sqrt(1 - beta2**t)`` for step ``t``.
    """
    n_slots, n, n_lanes = param.shape
    one = np.float32(1.0)
    for a in prange(n_slots):
        for i in range(n):
            for c in range(n_lanes):
                g = grad[a, i, c] + weight_decay * param[a, i, c]
                m = exp_avg[a, i, c] + (one - beta1) * (g - exp_avg[a, i, c])
                v = beta2 * exp_avg_sq[a, i, c] + (one - beta2) * g * g
                exp_avg[a, i, c] = m
                exp_avg_sq[a, i, c] = v
                denom = np.sqrt(v) / correction2 + eps
                param[a, i, c] -= (lr[a, c] / correction1) * m / denom
