"""Samples and targets drawn inside the kernels, from a counter-based hash.

Random numbers come from splitmix64's finaliser applied to counters, so any sample of any
stream at any step can be drawn in any order, by any thread, with the same result: online
batches (:func:`~emergence.rowsum.draw_online`), per-member shuffles of fixed datasets
(:func:`~emergence.rowsum.shuffle`) and the parity targets of every slot and lane
(:func:`~emergence.rowsum.targets`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(inline="always")
def _mix(z):
    """splitmix64's finaliser: a bijective 64-bit hash with good avalanche."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(inline="always")
def _key(a, b):
    """Hash of the pair ``(a, b)`` of uint64 counters."""
    return _mix(_mix(a + _GOLDEN) ^ (b * _GOLDEN))


@njit(inline="always")
def _uniform(z):
    """A float64 in [0, 1) from the top 53 bits of ``z``."""
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(inline="always")
def _parity(z):
    """Parity (0 or 1) of the set bits of a uint64."""
    z ^= z >> np.uint64(32)
    z ^= z >> np.uint64(16)
    z ^= z >> np.uint64(8)
    z ^= z >> np.uint64(4)
    z ^= z >> np.uint64(2)
    z ^= z >> np.uint64(1)
    return np.int64(z & np.uint64(1))


@njit(parallel=True, cache=True)
def draw_online(seed, step, n_bits, cdf, x, k):
    """Fill ``x`` (streams, B) uint64 bits and ``k`` (streams, B) skills for one step.

    Sample ``b`` of stream ``s`` at step ``t`` is a hash of ``(seed, s, t, b)``; skills follow
    the cumulative probabilities ``cdf`` (float64, last entry 1).
    """
    n_streams, batch = x.shape
    mask = np.uint64(0xFFFFFFFFFFFFFFFF) if n_bits == 64 else \
        (np.uint64(1) << np.uint64(n_bits)) - np.uint64(1)
    n_skills = cdf.shape[0]
    for s in prange(n_streams):
        base = _key(_key(np.uint64(seed), np.uint64(s)), np.uint64(step))
        for b in range(batch):
            z = _key(base, np.uint64(b))
            x[s, b] = z & mask
            u = _uniform(_mix(z ^ _GOLDEN))
            skill = 0
            for j in range(n_skills - 1):     # cdf is sorted: counting beats searching,
                skill += cdf[j] <= u          # having no branch the loop over b vectorises
            k[s, b] = skill


@njit(cache=True)
def shuffle(seed, row, epoch, order, n):
    """Fisher-Yates shuffle of ``order[:n]`` in place, from the hash of ``(seed, row, epoch)``."""
    base = _key(_key(np.uint64(seed), np.uint64(row)), np.uint64(epoch))
    for i in range(n - 1, 0, -1):
        j = np.int64(_key(base, np.uint64(i)) % np.uint64(i + 1))
        order[i], order[j] = order[j], order[i]


@njit(parallel=True, cache=True)
def gather(order, start, size, rows, data_x, data_k, x, k):
    """Rows ``rows`` of a batch from fixed training sets: ``x[a, b] = data_x[a, order[a,
    start[a] + b]]`` for ``b < size[a]``, and ``k`` alike."""
    for j in prange(len(rows)):
        a = rows[j]
        first = start[a]
        for b in range(size[a]):
            i = order[a, first + b]
            x[a, b] = data_x[a, i]
            k[a, b] = data_k[a, i]


@njit(parallel=True, cache=True)
def targets(x, k, stream, masks, scale, y, slots):
    """``y[a, b, c] = scale[a, c] * (-1)^parity(x[stream[a], b] & masks[a, k, c])`` for the
    slots ``a`` in ``slots`` (those whose batch changed).

    ``masks`` is (A, n_s, lanes), lanes last, so that the loop over a slot's lanes reads
    consecutive words and vectorises.
    """
    _, batch, n_lanes = y.shape
    for j in prange(len(slots)):
        a = slots[j]
        s = stream[a]
        for b in range(batch):
            xb, mask = x[s, b], masks[a, k[s, b]]
            for c in range(n_lanes):
                y[a, b, c] = scale[a, c] * np.float32(1 - 2 * _parity(xb & mask[c]))
