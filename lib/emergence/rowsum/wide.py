"""The wide layout: vector lanes over a member's hidden units.

For the time and data experiments (widths 100 to 1000, every member its own data). A job is
one member and one block of ``BLOCK`` units; its tables stay in L1 while the whole batch
streams past. :func:`~emergence.rowsum.wide_forward` writes each block's share of the outputs
and its ReLU patterns, :func:`~emergence.rowsum.wide_residual` sums the shares into outputs and
residuals, and :func:`~emergence.rowsum.wide_backward` scatters the residuals into the
gradient tables.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .intrinsics import block_forward, scatter_where_active
from .sampling import _parity
from .tables import (
    _F0,
    BLOCK,
    GROUP_BITS,
    GROUPS,
    PAIRS,
    _build_block,
    _fold_block,
    _forward_block,
)


@njit(inline="always")
def _zigzag(j, n):
    """The ``j``-th job of ``n`` in the order 0, n-1, 1, n-2, ...

    Jobs are laid out with their cost growing along the index (members by data size), and
    ``prange`` hands each thread one contiguous range of iterations; in this order every range
    holds cheap and dear jobs alike, so the threads finish together (:func:`wide_residual`).
    Kernels that keep scratch per worker (:func:`wide_forward`, :func:`wide_backward`,
    :func:`lanes_step`, :func:`lanes_scores`) get the same balance by handing worker ``t``
    every ``n_workers``-th job from ``t`` on.
    """
    return j // 2 if j % 2 == 0 else n - 1 - j // 2


_pair_sample = block_forward(PAIRS, 2 * GROUP_BITS, 1)
_nibble_sample = block_forward(GROUPS, GROUP_BITS, 1)


@njit(parallel=True, fastmath=True, cache=True)
def wide_forward(w1, b1, w2, x, k, stream, size, partial, active, scratch):
    """Each block's share ``partial[a, q, b]`` of member a's output on sample b, and the
    block's ReLU pattern on that sample, one bit per unit: ``active[a, q, b]``.

    Every block is ``BLOCK`` units wide (the engine pads the width with units that stay 0), so
    the unit loops have a fixed length and vectorise. A job (one member, one block) first
    builds the block's tables from ``w1`` (A, d, H) and ``b1`` (A, H) in its worker's
    ``scratch`` (:func:`forward_scratch`). A block whose batch has at least ``PAIR_MIN_BATCH``
    samples then merges its 8 group tables pairwise into 4 tables of 256 rows (one per byte of
    the input, 256 KB, which stay in the L2 cache) and adds 5 rows per sample instead of 9; a
    shorter batch would not repay the 1024 rows that costs, and reads the 16-row tables (32
    KB, in L1) directly. Worker ``t`` takes every ``n_workers``-th job from ``t`` on (jobs are
    laid out cheap to dear, so that balances the workers).
    """
    tables, controls, byte_tables = scratch
    n_slots, n_blocks = partial.shape[:2]
    n_jobs = n_slots * n_blocks
    n_workers = min(tables.shape[0], n_jobs)
    for t in prange(n_workers):
        tab, ctl, pairs = tables[t], controls[t], byte_tables[t]
        for job in range(t, n_jobs, n_workers):
            a, q = job // n_blocks, job % n_blocks
            s, n, lo = stream[a], size[a], q * BLOCK
            _build_block(w1, b1, a, lo, tab, ctl)
            _forward_block(_pair_sample, _nibble_sample, tab, pairs, ctl, w2[a, lo:lo + BLOCK],
                           x[s], k[s], n, partial[a, q], active[a, q])


@njit(parallel=True, fastmath=True, cache=True)
def wide_residual(partial, b2, y, size, delta, loss, gb2):
    """Outputs, the per-member mean-squared error and ``delta = dLoss/dOutput``."""
    n_slots, n_blocks, _ = partial.shape
    for j in prange(n_slots):
        a = _zigzag(j, n_slots)
        weight = np.float32(1.0) / np.float32(size[a])
        total, grad = np.float32(0.0), np.float32(0.0)
        for b in range(size[a]):
            out = b2[a]
            for blk in range(n_blocks):
                out += partial[a, blk, b]
            err = out - y[a, b, 0]
            total += err * err
            delta[a, b] = np.float32(2.0) * err * weight
            grad += delta[a, b]
        loss[a] = total * weight
        gb2[a] = grad


@njit(parallel=True, fastmath=True, cache=True)
def wide_backward(x, k, stream, size, delta, active, table_grad, control_grad, gw1, gb1):
    """Layer-1 gradient sums from ``delta`` and the ReLU patterns of :func:`wide_forward`.

    Sample b adds ``e = delta_b * [h > 0]`` into its control row and its 8 group rows of the
    block's gradient tables; a sample with no active unit in the block is skipped. The tables
    are a worker's (:func:`gradient_scratch` of one block, in L1) and are folded into ``gw1``
    and ``gb1`` as soon as the block is done, so they never travel to memory. No
    pre-activation is recomputed (:func:`weight_gradients` says why none is needed).
    """
    n_slots, n_blocks, _ = active.shape
    n_jobs = n_slots * n_blocks
    n_workers = min(table_grad.shape[0], n_jobs)
    for t in prange(n_workers):
        tg, cg = table_grad[t, 0], control_grad[t, 0]
        for job in range(t, n_jobs, n_workers):
            a, q = job // n_blocks, job % n_blocks
            s = stream[a]
            tg[...] = _F0
            cg[...] = _F0
            for b in range(size[a]):
                bits = active[a, q, b]
                if bits == np.uint64(0):
                    continue
                scatter_where_active(tg, cg, delta[a, b], bits, k[s, b], x[s, b])
            _fold_block(tg, cg, gw1, gb1, a, q * BLOCK)


@njit(parallel=True, fastmath=True, cache=True)
def wide_scores(partial, b2, x, k, masks, scale, n_done, sums):
    """Add one chunk of evaluation outputs into ``sums[a, 0, skill, :]``.

    The evaluation set is shared by all members (stream 0); ``sums[..., 0]`` collects
    ``f * sign`` and ``sums[..., 1]`` collects ``(scale * sign - f)**2``.
    """
    n_slots, n_blocks, _ = partial.shape
    for a in prange(n_slots):
        for b in range(n_done):
            out = b2[a]
            for blk in range(n_blocks):
                out += partial[a, blk, b]
            kb = k[0, b]
            sign = np.float32(1 - 2 * _parity(x[0, b] & masks[a, kb, 0]))
            err = scale[a, 0] * sign - out
            sums[a, 0, kb, 0] += out * sign
            sums[a, 0, kb, 1] += err * err
