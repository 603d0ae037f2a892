"""Layer-1 tables, shared by both layouts.

A sample's pre-activation is its control row plus one row per group of four input bits
(:mod:`emergence.rowsum` explains the trick). This module fixes the tables' shape, allocates
arrays on cache lines, builds one block's tables from ``W1`` (``_build_block``, by the job that
reads them) and merges them pairwise into byte tables for long batches (``_fill_pairs``), and
turns the gradient tables back into the weights' gradients (``_fold_block``,
:func:`~emergence.rowsum.weight_gradients`).
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

GROUP_BITS = 4                  # bits per table group
TABLE = 1 << GROUP_BITS         # rows per group table
GROUPS = 8                      # groups: up to GROUPS * GROUP_BITS = 32 skill bits
MAX_BITS = GROUPS * GROUP_BITS
BLOCK = 64                      # hidden units per job in the wide layout (one uint64 mask)
PAIRS = GROUPS // 2             # byte tables of the wide forward pass (two groups each)
PAIR_TABLE = TABLE * TABLE      # rows per byte table
PAIR_MIN_BATCH = 512            # shortest batch for which the byte tables repay their build
CACHE_LINE = 64                 # bytes

_F0 = np.float32(0.0)


def aligned_zeros(shape, dtype=np.float32) -> np.ndarray:
    """Zeros whose first element starts a cache line.

    NumPy aligns an array to 16 bytes only, so a 64-float table row would begin 16 bytes
    into a cache line and every 64-byte vector load or store of it would straddle two lines
    (a split access costs about twice an aligned one). Every array the kernels walk row by
    row is allocated here.
    """
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.zeros(size + CACHE_LINE, np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    return raw[start:start + size].view(dtype).reshape(shape)


def forward_scratch(n_skills: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-worker scratch of the forward pass (:func:`~emergence.rowsum.wide_forward`,
    :func:`~emergence.rowsum.lanes_step`): one block's group tables and ``n_skills`` control
    rows (33 KB, in L1) and its byte tables (256 KB, in L2)."""
    n_workers = get_num_threads()
    return (aligned_zeros((n_workers, GROUPS, TABLE, BLOCK)),
            aligned_zeros((n_workers, n_skills, BLOCK)),
            aligned_zeros((n_workers, PAIRS, PAIR_TABLE, BLOCK)))


@njit(inline="always")
def _build_block(w1, b1, a, lo, tab, ctl):
    """One block's tables, from the units ``lo:lo + BLOCK`` of slot ``a`` of ``w1`` (A, d, U)
    and ``b1`` (A, U): ``ctl[k] = b1 + w1[k]`` and ``tab[g, v]`` the sum of the rows of the
    bits set in ``v`` within group ``g``.

    The job that reads a block's tables builds them, into its worker's scratch, right before
    its forward pass (for the paper's 37 inputs, 125 row additions from 9 KB of ``w1``), after
    which they are in L1. (Built for the whole ensemble ahead of the forward pass, they were
    written to memory and read back: 24-52 MB each way per step in the data experiments.)
    Bits past the input are never set in a sample, so the rows they would add are left out
    (their entries repeat the row without).
    """
    n_skills = ctl.shape[0]
    n_inputs = w1.shape[1]
    hi = lo + BLOCK
    bias = b1[a, lo:hi]
    for kk in range(n_skills):
        row, out = w1[a, kk, lo:hi], ctl[kk]
        for u in range(BLOCK):
            out[u] = bias[u] + row[u]
    for g in range(tab.shape[0]):
        tab[g, 0] = _F0
        for v in range(1, TABLE):
            low = v & -v
            bit = 0
            while (1 << bit) != low:
                bit += 1
            row_index = n_skills + GROUP_BITS * g + bit
            rest, out = tab[g, v & (v - 1)], tab[g, v]
            if row_index < n_inputs:
                row = w1[a, row_index, lo:hi]
                for u in range(BLOCK):
                    out[u] = rest[u] + row[u]
            else:
                out[:] = rest


@njit(inline="always")
def _fill_pairs(tab, pairs):
    """``pairs[p, v] = tab[2p, v % 16] + tab[2p + 1, v // 16]``: 4 tables of 256 rows."""
    for p in range(PAIRS):
        for v in range(PAIR_TABLE):
            low, high = tab[2 * p, v & (TABLE - 1)], tab[2 * p + 1, v >> GROUP_BITS]
            out = pairs[p, v]
            for u in range(BLOCK):
                out[u] = low[u] + high[u]


@njit(inline="always")
def _forward_block(pair_sample, nibble_sample, tab, pairs, ctl, w, xs, ks, n, share, active):
    """One block's forward pass over ``n`` samples with a layout's per-sample kernels
    (:func:`~emergence.rowsum.intrinsics.block_forward`): ``share[b]`` and ``active[b]``.

    A batch of at least ``PAIR_MIN_BATCH`` samples first merges the block's 8 group tables
    ``tab`` into byte tables in ``pairs`` and then reads 5 rows per sample instead of 9; a
    shorter batch would not repay the 1024 rows that costs and reads ``tab`` directly.
    """
    if n >= PAIR_MIN_BATCH:
        _fill_pairs(tab, pairs)
        for b in range(n):
            active[b] = pair_sample(pairs, ctl, w, ks[b], xs[b], share, b)
    else:
        for b in range(n):
            active[b] = nibble_sample(tab, ctl, w, ks[b], xs[b], share, b)


def gradient_scratch(n_skills: int, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-worker gradient tables of ``n_blocks`` blocks: 8 x 16 rows and ``n_skills``
    control rows each (33 KB per block and worker thread)."""
    n_workers = get_num_threads()
    return (aligned_zeros((n_workers, n_blocks, GROUPS, TABLE, BLOCK)),
            aligned_zeros((n_workers, n_blocks, n_skills, BLOCK)))


@njit(inline="always")
def _fold_block(tg, cg, gw1, gb1, a, lo):
    """Fold one block's gradient tables into ``gw1[a, :, lo:lo + width]`` and ``gb1``.

    Whatever the kernels scattered per sample into a control row and its 8 group rows
    (``e``), folding gives its sum against every input: ``gw1[i] = sum_b e[b] x[b, i]`` and
    ``gb1 = sum_b e[b]`` (the transpose of ``_build_block``). Both layouts fold a block's
    tables as soon as its backward pass is done, while they are still in cache.
    """
    n_skills, width = cg.shape
    n_inputs = gw1.shape[1]
    bias = gb1[a, lo:lo + width]
    bias[:] = _F0
    for kk in range(n_skills):
        out, part = gw1[a, kk, lo:lo + width], cg[kk]
        for u in range(width):
            out[u] = part[u]
            bias[u] += part[u]
    for g in range(tg.shape[0]):
        for bit in range(GROUP_BITS):
            row = n_skills + GROUP_BITS * g + bit
            if row >= n_inputs:
                break
            out = gw1[a, row, lo:lo + width]
            out[:] = _F0
            for v in range(TABLE):
                if (v >> bit) & 1:
                    part = tg[g, v]
                    for u in range(width):
                        out[u] += part[u]


@njit(parallel=True, fastmath=True, cache=True)
def weight_gradients(w1, b1, w2, gw1, gb1, gw2):
    """Turn the folded sums of ``e`` into the gradients of ``w1``, ``b1`` and ``w2``.

    :func:`wide_backward` and :func:`lanes_step` scatter ``e = delta * [h > 0]`` without the
    factor ``w2``, so folding the tables (``_fold_block``) leaves ``E[i] = sum_b e[b]
    x[b, i]`` in ``gw1`` and ``E_b = sum_b e[b]`` in ``gb1``. Then ``gw1 = w2 * E``,
    ``gb1 = w2 * E_b``, and, because ``h = b1 + sum_i x_i w1[i]``,

        gw2 = sum_b delta_b relu(h[b]) = sum_b e[b] h[b] = b1 E_b + sum_i w1[i] E[i],

    so no pre-activation has to be kept or recomputed for ``w2``'s gradient. The sums of
    products are accumulated in float64. Shapes: ``w1`` (A, d, U), the others (A, U).
    """
    n_slots, n_inputs, n_units = w1.shape
    for a in prange(n_slots):
        total = np.empty(n_units, np.float64)
        for u in range(n_units):
            total[u] = np.float64(b1[a, u]) * np.float64(gb1[a, u])
        for i in range(n_inputs):
            for u in range(n_units):
                total[u] += np.float64(w1[a, i, u]) * np.float64(gw1[a, i, u])
        for u in range(n_units):
            gw2[a, u] = np.float32(total[u])
            gb1[a, u] *= w2[a, u]
        for i in range(n_inputs):
            for u in range(n_units):
                gw1[a, i, u] *= w2[a, u]
