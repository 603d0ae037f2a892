"""The lanes layout: vector lanes over ``LANES`` seeds of one width.

For the width experiments (widths 1 to 20), where one member's units would not fill a vector.
A block of ``BLOCK`` floats is 4 units of 16 seeds that share an input stream; a whole group
is one job (:func:`~emergence.rowsum.lanes_step`): the forward pass block by block over the
whole batch, then the batch in chunks of ``LANES_CHUNK`` samples, the residual of a chunk
followed by every block's backward pass over it.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

from .intrinsics import block_forward, lane_outputs, lane_residuals, scatter_where_active
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
    aligned_zeros,
)

LANES = 16                      # seeds per group in the lanes layout (one zmm or two ymm)

# After the forward pass, a lanes group walks its batch in chunks of this many samples: the
# residual of the chunk, then every block's backward pass over it, so that the chunk's
# residuals (256 samples x 64 floats, 64 KB) are still in cache for every block.
LANES_CHUNK = 256


def lanes_scratch(n_blocks: int, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-worker scratch for the lanes kernels' forward pass: every block's share of the 16
    outputs on every sample, and its ReLU patterns (``n_samples``: the longest batch)."""
    n_workers = get_num_threads()
    return (aligned_zeros((n_workers, n_blocks, n_samples, LANES)),
            aligned_zeros((n_workers, n_blocks, n_samples), np.uint64))


UNITS_PER_BLOCK = BLOCK // LANES   # a block holds 4 units of each of its 16 seeds


def _forwards(n_groups, group_bits):
    """One sample through a block's first 1, 2, 3 and 4 units of every seed (a group's last
    block leaves out its padding units)."""
    return tuple(block_forward(n_groups, group_bits, LANES, LANES * units)
                 for units in range(1, UNITS_PER_BLOCK + 1))


_pair_1, _pair_2, _pair_3, _pair_4 = _forwards(PAIRS, 2 * GROUP_BITS)
_nibble_1, _nibble_2, _nibble_3, _nibble_4 = _forwards(GROUPS, GROUP_BITS)


@njit(inline="always")
def _used_blocks(width):
    """Blocks that hold a lanes group's ``width`` units (the rest are padding)."""
    return (width * LANES + BLOCK - 1) // BLOCK


@njit(inline="always")
def _forward_units(units, tab, pairs, ctl, w, xs, ks, n, share, active):
    """One block's forward pass (:func:`~emergence.rowsum.tables._forward_block`) over its
    first ``units`` units of every seed."""
    if units >= UNITS_PER_BLOCK:
        _forward_block(_pair_4, _nibble_4, tab, pairs, ctl, w, xs, ks, n, share, active)
    elif units == 3:
        _forward_block(_pair_3, _nibble_3, tab, pairs, ctl, w, xs, ks, n, share, active)
    elif units == 2:
        _forward_block(_pair_2, _nibble_2, tab, pairs, ctl, w, xs, ks, n, share, active)
    else:
        _forward_block(_pair_1, _nibble_1, tab, pairs, ctl, w, xs, ks, n, share, active)


@njit(inline="always")
def _lanes_forward(w1, b1, w2, a, width, xs, ks, n, partial, active, scratch):
    """Every block of group ``a`` (``width`` units per seed) forward over ``n`` samples, each
    with tables built in the worker's ``scratch`` right before, and byte tables when the batch
    repays them, as in :func:`wide_forward`. The padding units of the last block (up to 3 of
    every seed's last 4) are left out."""
    tab, ctl, pairs = scratch
    for q in range(_used_blocks(width)):
        lo = q * BLOCK
        _build_block(w1, b1, a, lo, tab, ctl)
        _forward_units(width - q * UNITS_PER_BLOCK, tab, pairs, ctl, w2[a, lo:lo + BLOCK],
                       xs, ks, n, partial[q], active[q])


_lanes_outputs = lane_outputs(LANES)
_lanes_residual = lane_residuals(LANES)


@njit(inline="always")
def _lanes_block_backward(tg, cg, xs, ks, start, stop, delta, active):
    """One block's gradient tables from the residuals ``delta`` of samples ``start:stop`` and
    their ReLU patterns (as :func:`wide_backward`)."""
    for b in range(start, stop):
        bits = active[b]
        if bits != np.uint64(0):
            scatter_where_active(tg, cg, delta[b - start], bits, ks[b], xs[b])


@njit(parallel=True, fastmath=True, cache=True)
def lanes_step(w1, b1, w2, b2, widths, x, k, masks, target_scale, batch, table_grad,
               control_grad, gw1, gb1, gb2, loss, partial, active, scratch):
    """Forward, residual and backward of every group on its stream's batch (one job per
    group), leaving in ``gw1`` and ``gb1`` what :func:`weight_gradients` needs, in ``gb2``
    the gradient of ``b2`` and in ``loss`` every lane's loss.

    Shapes: ``w1`` (A, d, U), ``b1`` and ``w2`` (A, U) with the unit axis flattened
    unit-major (``U = W * LANES``, ``W`` a multiple of 4, so a block is 4 units of 16 lanes),
    ``b2`` and ``target_scale`` (A, LANES), ``masks`` (A, n_s, LANES): each seed's skill
    subsets, from which the kernel makes the targets (see :func:`targets`). Group ``a`` reads
    stream ``a`` of ``x`` and ``k`` and runs only the blocks of its ``widths[a]`` units.
    ``partial`` and ``active`` (:func:`lanes_scratch`), ``scratch`` (:func:`forward_scratch`:
    the block tables, built per block by the forward pass) and ``table_grad`` and
    ``control_grad`` (:func:`gradient_scratch`) hold one worker's group each; a group's
    gradient tables are folded into ``gw1`` and ``gb1`` as soon as its batch is done, while
    they are still in cache. Worker ``t`` takes every ``n_workers``-th group
    from ``t`` on (groups are laid out narrow to wide, so that balances the workers).
    """
    n_slots = w1.shape[0]
    n_lanes = b2.shape[1]
    tables, controls, byte_tables = scratch
    n_workers = min(tables.shape[0], n_slots)
    weight = np.float32(2.0) / np.float32(batch)
    for t in prange(n_workers):
        part, act = partial[t], active[t]
        work = tables[t], controls[t], byte_tables[t]
        tgs, cgs = table_grad[t], control_grad[t]
        delta = np.empty((LANES_CHUNK, BLOCK), np.float32)
        out = np.empty(n_lanes, np.float32)
        total = np.empty(n_lanes, np.float32)
        grad = np.empty(n_lanes, np.float32)
        for a in range(t, n_slots, n_workers):
            used = _used_blocks(widths[a])
            xs, ks = x[a], k[a]
            _lanes_forward(w1, b1, w2, a, widths[a], xs, ks, batch, part, act, work)
            tgs[:used] = _F0
            cgs[:used] = _F0
            total[:] = _F0
            grad[:] = _F0
            for start in range(0, batch, LANES_CHUNK):
                stop = min(start + LANES_CHUNK, batch)
                for b in range(start, stop):
                    _lanes_outputs(b2[a], part, used, b, out)
                    _lanes_residual(out, masks[a, ks[b]], target_scale[a], xs[b], weight,
                                    delta[b - start], total, grad)
                for q in range(used):
                    _lanes_block_backward(tgs[q], cgs[q], xs, ks, start, stop, delta, act[q])
            for q in range(used):
                _fold_block(tgs[q], cgs[q], gw1, gb1, a, q * BLOCK)
            for lane in range(n_lanes):
                gb2[a, lane] = grad[lane]
                loss[a, lane] = total[lane] / np.float32(batch)


@njit(parallel=True, fastmath=True, cache=True)
def lanes_scores(w1, b1, w2, b2, widths, x, k, n_done, masks, scale, sums, partial,
                 active, scratch):
    """Evaluation of every group on a shared chunk (stream 0), summed into ``sums[a, c, skill]``
    as in :func:`wide_scores`; the scratch arrays as in :func:`lanes_step`."""
    n_slots = w1.shape[0]
    n_lanes = b2.shape[1]
    tables, controls, byte_tables = scratch
    n_workers = min(tables.shape[0], n_slots)
    for t in prange(n_workers):
        part, act = partial[t], active[t]
        work = tables[t], controls[t], byte_tables[t]
        out = np.empty(n_lanes, np.float32)
        xs, ks = x[0], k[0]
        for a in range(t, n_slots, n_workers):
            used = _used_blocks(widths[a])
            _lanes_forward(w1, b1, w2, a, widths[a], xs, ks, n_done, part, act, work)
            for b in range(n_done):
                _lanes_outputs(b2[a], part, used, b, out)
                xb, kb = xs[b], ks[b]
                for lane in range(n_lanes):
                    sign = np.float32(1 - 2 * _parity(xb & masks[a, kb, lane]))
                    err = scale[a, lane] * sign - out[lane]
                    sums[a, lane, kb, 0] += out[lane] * sign
                    sums[a, lane, kb, 1] += err * err
