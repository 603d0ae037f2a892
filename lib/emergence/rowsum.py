"""Numba kernels of the CPU engine: two-layer ReLU ensembles trained by row sums and tables.

Why a kernel of our own. On a CPU the batched torch step is bound by memory: every step
writes and reads (members x batch x width) float32 activations, about 160 MB for ``mlp_time``,
while the arithmetic would take a fraction of that time. These kernels never materialise that
tensor. They use what the inputs of multitask sparse parity are: a one-hot control code of the
skill, then ``n_b`` bits that are 0 or 1.

**The row-sum trick.** For such an input, layer 1 is a sum of rows of ``W1`` (shape
``(n_s + n_b, H)``)::

    h = b1 + W1[skill] + sum over the set bits j of W1[n_s + j]

no multiplication at all. Cut the ``n_b`` skill bits into groups of four. A group's four bits
take one of 16 values ``v``, and the sum of its rows is one of 16 vectors: the *table*
``T[g, v] = sum of W1[n_s + 4g + j] over the bits j set in v``, rebuilt once per step (16 row
additions per group). With the control row and the bias folded into ``Tc[k] = b1 + W1[k]``,
a sample's pre-activation is ``Tc[skill] + T[0, v_0] + ... + T[G-1, v_{G-1}]``: 9 vector
additions for the paper's 32 bits instead of a 37-long dot product per unit.

The backward pass runs the same tables in reverse. The error signal of a unit
(``e = delta * [h > 0]``, with ``delta`` the output residual) is added into a gradient table
``dT[g, v]`` and ``dTc[skill]``; once per step the tables are folded into the weight gradients:
``dW1[n_s + 4g + j] = sum of dT[g, v] over the v with bit j set``, ``dW1[k] = dTc[k]`` and
``db1 = sum_k dTc[k]``, each finally multiplied by ``w2``. The same folded sums give ``w2``'s
gradient without ever keeping ``h``: ``sum over samples of e * h = b1 * sum_k dTc[k] + sum_i
W1[i] * dW1[i]`` (before the multiplication by ``w2``), because ``h`` is itself a sum of rows.
This is the exact gradient of the summed mean-squared errors, in a different order of
additions.

**Two layouts.** The members of an experiment are held in one of two layouts, chosen by
:mod:`emergence.cpu_ensemble`:

- *wide* (time and data experiments, width 100 to 1000, every member its own data): vector
  lanes run over a member's hidden units. Work is cut into jobs of one member and a block of
  ``BLOCK = 64`` units, whose tables (``8 x 16 x 64`` floats, 32 KB) stay in the L1 cache
  while the whole batch streams past; widths are padded to whole blocks with units whose
  weights are zero and stay zero (their ``h`` is 0, so they are never active and get no
  gradient). A forward pass writes each block's share of the output and keeps the block's
  ReLU pattern of each sample as one 64-bit mask; after the residual, a backward pass reads
  the mask back, so no pre-activation is stored or recomputed, and skips the samples with no
  active unit in the block. For batches of 512 samples or more the forward pass first merges
  the 8 group tables pairwise into 4 *byte tables* of 256 rows (``T[2p, v % 16] + T[2p + 1,
  v // 16]``, 256 KB, kept in L2) and adds 5 rows per sample instead of 9; the backward pass
  keeps the 16-row gradient tables, since adding into rows that live in L2 costs more than
  the 4 rows it would save (both measured).
- *lanes* (width experiments, widths 1 to 20): vector lanes run over ``LANES`` seeds of one
  width that share an input stream (each seed still has its own skill subsets, so its own
  targets, and its own weights). A block of ``BLOCK`` floats is then 4 units of 16 seeds, and
  widths are padded to whole blocks (multiples of 4 units). A whole group is one job: the
  forward pass runs block by block over the whole batch, byte tables included, and writes
  each block's share of the 16 outputs and its ReLU pattern into a worker's scratch; then the
  batch is walked in chunks of ``LANES_CHUNK`` samples, the residual of a chunk followed by
  every block's backward pass over it. (An earlier version fused forward and backward per
  sample over all of a group's units: every sample then touched 18 table rows of up to 1.3
  KB, which live in L2 from width 3 on. The blocks cost 17-29 % less kernel time on a paper
  ``mlp_params`` step, although the padding adds 14 % more units there.)

Both layouts are described to the kernels by one array shape convention: parameters of
``A`` *slots* (members for wide, groups for lanes) with a unit axis ``U`` (``H`` for wide,
``W x LANES`` flattened unit-major for lanes). The kernels take up to 32 skill bits (8 groups,
the paper's ``n_b``); the engine falls back to torch beyond that. Jobs run in parallel with
``prange``; no two jobs write the same memory, so results do not depend on the number of
threads.

Random numbers come from a counter-based hash (splitmix64), so any sample of any stream at any
step can be drawn in any order, by any thread, with the same result.

**Vector width.** On a core with AVX-512 that keeps its clock under 512-bit work, importing
this module asks numba for 512-bit vectors (:func:`wide_vector_features`): a block's 64 units
are then 4 registers instead of 8, and a lanes group's 16 seeds exactly one. Setting
``NUMBA_CPU_FEATURES`` or ``NUMBA_CPU_NAME`` yourself overrides the choice.
"""

from __future__ import annotations

import os

import llvmlite.binding
import numpy as np
from numba import get_num_threads, njit, prange
from numba.core import config as numba_config

GROUP_BITS = 4                  # bits per table group
TABLE = 1 << GROUP_BITS         # rows per group table
GROUPS = 8                      # groups: up to GROUPS * GROUP_BITS = 32 skill bits
MAX_BITS = GROUPS * GROUP_BITS
LANES = 16                      # seeds per group in the lanes layout (one zmm or two ymm)
BLOCK = 64                      # hidden units per job in the wide layout (one uint64 mask)
PAIRS = GROUPS // 2             # byte tables of the wide forward pass (two groups each)
PAIR_TABLE = TABLE * TABLE      # rows per byte table
PAIR_MIN_BATCH = 512            # shortest batch for which the byte tables repay their build
CACHE_LINE = 64                 # bytes

_F0 = np.float32(0.0)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


# --- code generation ----------------------------------------------------------------------------

# Intel server cores of the Skylake generation lower their clock for 512-bit floating-point
# work by up to a third, which eats the gain; later cores (Ice Lake on) barely do.
DOWNCLOCKING_CPUS = frozenset({"skylake-avx512", "cascadelake", "cooperlake", "knl", "knm"})
AVX512 = ("avx512f", "avx512bw", "avx512dq", "avx512vl")


def wide_vector_features(cpu_name: str, features: dict[str, bool]) -> str | None:
    """The LLVM feature string that lets the kernels use 512-bit vectors, or None.

    LLVM tunes every Intel core with AVX-512 to prefer 256-bit vectors, so numba emits ymm
    code even where zmm registers would do each table row in half the instructions. The
    kernels here are bound by loads and adds from L1, so on a core that has AVX-512 and keeps
    its clock, wider vectors are faster (measured in the closing note of the engine's issue:
    0 to 25 % less CPU time per step on one thread, most in the backward scatter). ``None``
    where that does not hold.
    """
    if not all(features.get(name) for name in AVX512) or cpu_name in DOWNCLOCKING_CPUS:
        return None
    flags = ",".join(("+" if on else "-") + name for name, on in sorted(features.items())
                      if name != "prefer-256-bit")
    return flags + ",-prefer-256-bit"


def _prefer_wide_vectors() -> None:
    """Ask numba for 512-bit code on a suitable host, unless the user chose the target.

    Numba reads ``NUMBA_CPU_FEATURES`` when it first builds its code generator, which happens
    at the first compilation or cache load, so this must run before any kernel is called (in
    a process that compiled other numba code first, the setting comes too late and the
    kernels stay 256-bit). Numba's cache keys include the features, so code for either
    choice is never mixed up.
    """
    if os.environ.get("NUMBA_CPU_FEATURES") or os.environ.get("NUMBA_CPU_NAME"):
        return
    try:
        features = dict(llvmlite.binding.get_host_cpu_features())
    except RuntimeError:        # LLVM cannot read this host's features: keep numba's choice
        return
    chosen = wide_vector_features(llvmlite.binding.get_host_cpu_name(), features)
    if chosen is not None:
        os.environ["NUMBA_CPU_FEATURES"] = chosen
        numba_config.reload_config()


_prefer_wide_vectors()
# Whether this process's kernels are built for 512-bit vectors (by us or by the user's setting).
WIDE_VECTORS = "-prefer-256-bit" in os.environ.get("NUMBA_CPU_FEATURES", "")

# --- random numbers -----------------------------------------------------------------------------

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
def targets(x, k, stream, masks, scale, y):
    """``y[a, b, c] = scale[a, c] * (-1)^parity(x[stream[a], b] & masks[a, k, c])``.

    ``masks`` is (A, n_s, lanes), lanes last, so that the loop over a slot's lanes reads
    consecutive words and vectorises.
    """
    n_slots, batch, n_lanes = y.shape
    for a in prange(n_slots):
        s = stream[a]
        for b in range(batch):
            xb, mask = x[s, b], masks[a, k[s, b]]
            for c in range(n_lanes):
                y[a, b, c] = scale[a, c] * np.float32(1 - 2 * _parity(xb & mask[c]))


@njit(inline="always")
def _zigzag(j, n):
    """The ``j``-th job of ``n`` in the order 0, n-1, 1, n-2, ...

    Jobs are laid out with their cost growing along the index (members by data size), and
    ``prange`` hands each thread one contiguous range of iterations; in this order every range
    holds cheap and dear jobs alike, so the threads finish together. Kernels that keep scratch
    per worker (:func:`wide_forward`, :func:`lanes_step`, :func:`lanes_scores`) get the same
    balance by handing worker ``t`` every ``n_workers``-th job from ``t`` on.
    """
    return j // 2 if j % 2 == 0 else n - 1 - j // 2


# --- tables ------------------------------------------------------------------------------------

@njit(parallel=True, fastmath=True, cache=True)
def build_tables(w1, b1, n_skills, table, control):
    """Layer-1 tables from ``w1`` (A, d, U) and ``b1`` (A, U), cut into unit blocks.

    ``table`` is (A, n_blocks, 8, 16, width) and ``control`` (A, n_blocks, n_s, width), with
    ``U = n_blocks * width``: ``control[a, q, k] = b1 + w1[k]`` and ``table[a, q, g, v]`` is the
    sum of the rows of the bits set in ``v`` within group ``g``, both over the units of block
    ``q``. Blocks make each job's tables one contiguous array. Bits past the input are never
    set in a sample, so the rows they would add are left out (their entries repeat the row
    without).
    """
    n_slots, n_inputs, _ = w1.shape
    n_blocks, n_groups, _, width = table.shape[1:]
    for j in prange(n_slots * n_blocks):
        a, q = j // n_blocks, j % n_blocks
        tab, ctl = table[a, q], control[a, q]
        lo = q * width
        for kk in range(n_skills):
            for u in range(width):
                ctl[kk, u] = b1[a, lo + u] + w1[a, kk, lo + u]
        for g in range(n_groups):
            for u in range(width):
                tab[g, 0, u] = _F0
            for v in range(1, TABLE):
                low = v & -v
                bit = 0
                while (1 << bit) != low:
                    bit += 1
                row = n_skills + GROUP_BITS * g + bit
                rest = v & (v - 1)
                if row < n_inputs:
                    for u in range(width):
                        tab[g, v, u] = tab[g, rest, u] + w1[a, row, lo + u]
                else:
                    for u in range(width):
                        tab[g, v, u] = tab[g, rest, u]


@njit(parallel=True, fastmath=True, cache=True)
def fold_gradients(table_grad, control_grad, n_skills, gw1, gb1):
    """Layer-1 gradients from the gradient tables (the transpose of :func:`build_tables`).

    Whatever the kernels scattered per sample into a control row and its 8 group rows
    (``dh``, or ``e`` in the wide layout), folding gives its sum against every input:
    ``gw1[i] = sum_b dh[b] x[b, i]`` and ``gb1 = sum_b dh[b]``.
    """
    n_slots, n_inputs, _ = gw1.shape
    n_blocks, n_groups, _, width = table_grad.shape[1:]
    for j in prange(n_slots * n_blocks):
        a, q = j // n_blocks, j % n_blocks
        tg, cg, lo, hi = table_grad[a, q], control_grad[a, q], q * width, (q + 1) * width
        bias = gb1[a, lo:hi]
        bias[:] = _F0
        for kk in range(n_skills):
            out, part = gw1[a, kk, lo:hi], cg[kk]
            for u in range(width):
                out[u] = part[u]
                bias[u] += part[u]
        for g in range(n_groups):
            for bit in range(GROUP_BITS):
                row = n_skills + GROUP_BITS * g + bit
                if row >= n_inputs:
                    break
                out = gw1[a, row, lo:hi]
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
    factor ``w2``, so :func:`fold_gradients` leaves ``E[i] = sum_b e[b] x[b, i]`` in ``gw1``
    and ``E_b = sum_b e[b]`` in ``gb1``. Then ``gw1 = w2 * E``, ``gb1 = w2 * E_b``, and, because
    ``h = b1 + sum_i x_i w1[i]``,

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


# --- the wide layout: lanes over hidden units ----------------------------------------------------

@njit(inline="always")
def _nibble(xb, g):
    """The value (0..15) of group ``g``'s four bits in the packed input ``xb``."""
    return np.int64((xb >> np.uint64(GROUP_BITS * g)) & np.uint64(TABLE - 1))


@njit(inline="always")
def _nibbles(xb):
    """The values (0..15) of the 8 groups of four bits of the packed input ``xb``."""
    return (_nibble(xb, 0), _nibble(xb, 1), _nibble(xb, 2), _nibble(xb, 3),
            _nibble(xb, 4), _nibble(xb, 5), _nibble(xb, 6), _nibble(xb, 7))


@njit(inline="always")
def _block_job(j, n_slots, n_blocks):
    """Job ``j`` of the wide kernels (in zigzag order): its member and block."""
    job = _zigzag(j, n_slots * n_blocks)
    return job // n_blocks, job % n_blocks


@njit(inline="always")
def _byte(xb, p):
    """The value (0..255) of pair ``p``'s eight bits (groups ``2p`` and ``2p + 1``)."""
    return np.int64((xb >> np.uint64(2 * GROUP_BITS * p)) & np.uint64(PAIR_TABLE - 1))


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
def _relu_pattern(h):
    """The units of ``h`` (one block) with ``h > 0``, one bit per unit."""
    bits = np.uint64(0)
    for u in range(BLOCK):
        if h[u] > _F0:
            bits |= np.uint64(1) << np.uint64(u)
    return bits


@njit(inline="always")
def _nibble_block(tab, ctl, w, xs, ks, n, partial, active, h):
    """One block's forward over ``n`` samples, 9 rows per sample (for short batches)."""
    for b in range(n):
        kb = ks[b]
        v0, v1, v2, v3, v4, v5, v6, v7 = _nibbles(xs[b])
        acc = _F0
        for u in range(BLOCK):
            hu = (ctl[kb, u] + tab[0, v0, u] + tab[1, v1, u] + tab[2, v2, u]
                  + tab[3, v3, u] + tab[4, v4, u] + tab[5, v5, u] + tab[6, v6, u]
                  + tab[7, v7, u])
            h[u] = hu
            acc += max(hu, _F0) * w[u]
        partial[b] = acc
        active[b] = _relu_pattern(h)


@njit(inline="always")
def _pair_block(pairs, ctl, w, xs, ks, n, partial, active, h):
    """One block's forward over ``n`` samples, 5 rows per sample from the pair tables."""
    for b in range(n):
        kb, xb = ks[b], xs[b]
        v0, v1, v2, v3 = _byte(xb, 0), _byte(xb, 1), _byte(xb, 2), _byte(xb, 3)
        acc = _F0
        for u in range(BLOCK):
            hu = ctl[kb, u] + pairs[0, v0, u] + pairs[1, v1, u] + pairs[2, v2, u] + pairs[3, v3, u]
            h[u] = hu
            acc += max(hu, _F0) * w[u]
        partial[b] = acc
        active[b] = _relu_pattern(h)


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


def pair_scratch() -> np.ndarray:
    """Scratch space for :func:`wide_forward`'s byte tables: 256 KB per worker thread."""
    return aligned_zeros((get_num_threads(), PAIRS, PAIR_TABLE, BLOCK))


@njit(parallel=True, fastmath=True, cache=True)
def wide_forward(table, control, w2, x, k, stream, size, partial, active, scratch):
    """Each block's share ``partial[a, q, b]`` of member a's output on sample b, and the
    block's ReLU pattern on that sample, one bit per unit: ``active[a, q, b]``.

    Every block is ``BLOCK`` units wide (the engine pads the width with units that stay 0), so
    the unit loops have a fixed length and vectorise. A block whose batch has at least
    ``PAIR_MIN_BATCH`` samples first merges its 8 group tables pairwise into 4 tables of 256
    rows (one per byte of the input, 256 KB, which stay in the L2 cache) and then adds 5 rows
    per sample instead of 9; a shorter batch would not repay the 1024 rows that costs, and
    reads the 16-row tables (32 KB, in L1) directly. ``scratch`` (:func:`pair_scratch`) has
    one set of byte tables per worker: worker ``t`` takes every ``n_workers``-th job from
    ``t`` on (jobs are laid out cheap to dear, so that balances the workers).
    """
    n_slots, n_blocks = table.shape[:2]
    n_jobs = n_slots * n_blocks
    n_workers = min(scratch.shape[0], n_jobs)
    for t in prange(n_workers):
        pairs = scratch[t]
        h = np.empty(BLOCK, np.float32)
        for job in range(t, n_jobs, n_workers):
            a, q = job // n_blocks, job % n_blocks
            s, n = stream[a], size[a]
            ctl, w = control[a, q], w2[a, q * BLOCK:(q + 1) * BLOCK]
            if n >= PAIR_MIN_BATCH:
                _fill_pairs(table[a, q], pairs)
                _pair_block(pairs, ctl, w, x[s], k[s], n, partial[a, q], active[a, q], h)
            else:
                _nibble_block(table[a, q], ctl, w, x[s], k[s], n, partial[a, q], active[a, q], h)


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


@njit(inline="always")
def _add_where_active(row, d, bits):
    """``row[u] += d`` for the units ``u`` whose bit is set in ``bits``.

    With ``d`` a scalar the loop touches one array, so LLVM needs no run-time check that two
    arrays overlap; writing ``e = d * [active]`` into a buffer first and adding that to the 9
    rows cost 7-50 % more (one thread, batch 4000).
    """
    for u in range(BLOCK):
        row[u] += d if (bits >> np.uint64(u)) & np.uint64(1) else _F0


@njit(parallel=True, fastmath=True, cache=True)
def wide_backward(x, k, stream, size, delta, active, table_grad, control_grad):
    """Gradient tables from ``delta`` and the ReLU patterns of :func:`wide_forward`.

    Sample b adds ``e = delta_b * [h > 0]`` into its control row and its 8 group rows; a
    sample with no active unit in the block is skipped. No pre-activation is recomputed
    (:func:`weight_gradients` says why none is needed).
    """
    n_slots, n_blocks = table_grad.shape[:2]
    for j in prange(n_slots * n_blocks):
        a, q = _block_job(j, n_slots, n_blocks)
        s = stream[a]
        tg, cg = table_grad[a, q], control_grad[a, q]
        tg[...] = _F0
        cg[...] = _F0
        for b in range(size[a]):
            bits = active[a, q, b]
            if bits == np.uint64(0):
                continue
            xb, d = x[s, b], delta[a, b]
            _add_where_active(cg[k[s, b]], d, bits)
            for g in range(GROUPS):
                _add_where_active(tg[g, _nibble(xb, g)], d, bits)


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


# --- the lanes layout: vector lanes over seeds ----------------------------------------------------

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


@njit(inline="always")
def _quarters(block):
    """A block's 4 units, each a view of its 16 lanes."""
    return (block[:LANES], block[LANES:2 * LANES], block[2 * LANES:3 * LANES],
            block[3 * LANES:])


@njit(inline="always")
def _lane_shares(h, w, out):
    """``out[lane]``: the block's share of each lane's output, its 4 units' ``relu(h) * w``.

    The loop runs to ``out``'s length, which comes from ``b2``'s shape, not to the constant
    ``LANES``: LLVM unrolls a loop it knows to be 16 long into 16 scalar operations, but makes
    one of run-time length a vector loop (assembly checked).
    """
    h0, h1, h2, h3 = _quarters(h)
    w0, w1, w2, w3 = _quarters(w)
    for lane in range(out.shape[0]):
        out[lane] = (max(h0[lane], _F0) * w0[lane] + max(h1[lane], _F0) * w1[lane]
                     + max(h2[lane], _F0) * w2[lane] + max(h3[lane], _F0) * w3[lane])


@njit(inline="always")
def _lanes_nibble_block(tab, ctl, w, xs, ks, n, partial, active, h):
    """One block's forward over ``n`` samples from the 16-row tables: ``partial[b, lane]``,
    the block's share of each lane's output on sample b, and its ReLU pattern."""
    for b in range(n):
        kb = ks[b]
        v0, v1, v2, v3, v4, v5, v6, v7 = _nibbles(xs[b])
        for u in range(BLOCK):
            h[u] = (ctl[kb, u] + tab[0, v0, u] + tab[1, v1, u] + tab[2, v2, u]
                    + tab[3, v3, u] + tab[4, v4, u] + tab[5, v5, u] + tab[6, v6, u]
                    + tab[7, v7, u])
        _lane_shares(h, w, partial[b])
        active[b] = _relu_pattern(h)


@njit(inline="always")
def _lanes_pair_block(pairs, ctl, w, xs, ks, n, partial, active, h):
    """As :func:`_lanes_nibble_block`, 5 rows per sample from the byte tables."""
    for b in range(n):
        kb, xb = ks[b], xs[b]
        v0, v1, v2, v3 = _byte(xb, 0), _byte(xb, 1), _byte(xb, 2), _byte(xb, 3)
        for u in range(BLOCK):
            h[u] = (ctl[kb, u] + pairs[0, v0, u] + pairs[1, v1, u] + pairs[2, v2, u]
                    + pairs[3, v3, u])
        _lane_shares(h, w, partial[b])
        active[b] = _relu_pattern(h)


@njit(inline="always")
def _lanes_forward(table, control, w2, a, n_blocks, xs, ks, n, partial, active, pairs, h):
    """Every block of group ``a`` forward over ``n`` samples, with byte tables (built in
    ``pairs``, per block) when the batch repays them, as in :func:`wide_forward`."""
    for q in range(n_blocks):
        w = w2[a, q * BLOCK:(q + 1) * BLOCK]
        if n >= PAIR_MIN_BATCH:
            _fill_pairs(table[a, q], pairs)
            _lanes_pair_block(pairs, control[a, q], w, xs, ks, n, partial[q], active[q], h)
        else:
            _lanes_nibble_block(table[a, q], control[a, q], w, xs, ks, n, partial[q],
                                active[q], h)


@njit(inline="always")
def _lanes_outputs(b2, partial, n_blocks, b, out):
    """``out[lane]``: each lane's output on sample ``b`` (bias plus every block's share)."""
    for lane in range(out.shape[0]):
        out[lane] = b2[lane]
    for q in range(n_blocks):
        share = partial[q, b]
        for lane in range(out.shape[0]):
            out[lane] += share[lane]


@njit(inline="always")
def _lanes_residual(out, y, scale, delta, total, grad):
    """One sample's residuals ``scale * (out - y)`` per lane, written 4 times over into the
    block-long ``delta`` (once per unit of a block); adds to the lanes' squared errors
    ``total`` and to ``b2``'s gradient ``grad``."""
    d0, d1, d2, d3 = _quarters(delta)
    for lane in range(out.shape[0]):
        err = out[lane] - y[lane]
        total[lane] += err * err
        g = scale * err
        grad[lane] += g
        d0[lane] = g
        d1[lane] = g
        d2[lane] = g
        d3[lane] = g


@njit(inline="always")
def _scatter(tg, cg, xb, kb, e):
    """Add one sample's ``e`` (one block) into its control row and its 8 group rows."""
    for u in range(BLOCK):
        cg[kb, u] += e[u]
    for g in range(GROUPS):
        v = _nibble(xb, g)
        for u in range(BLOCK):
            tg[g, v, u] += e[u]


@njit(inline="always")
def _lanes_block_backward(tg, cg, xs, ks, start, stop, delta, active, e):
    """One block's gradient tables from the residuals ``delta`` of samples ``start:stop`` and
    their ReLU patterns (as :func:`wide_backward`)."""
    for b in range(start, stop):
        bits = active[b]
        if bits == np.uint64(0):
            continue
        d = delta[b - start]
        for u in range(BLOCK):
            e[u] = d[u] if (bits >> np.uint64(u)) & np.uint64(1) else _F0
        _scatter(tg, cg, xs[b], ks[b], e)


@njit(inline="always")
def _used_blocks(width):
    """Blocks that hold a lanes group's ``width`` units (the rest are padding)."""
    return (width * LANES + BLOCK - 1) // BLOCK


@njit(parallel=True, fastmath=True, cache=True)
def lanes_step(table, control, w2, b2, widths, x, k, y, batch, table_grad, control_grad, gb2,
               loss, partial, active, scratch):
    """Forward, residual and backward of every group on its stream's batch (one job per
    group), leaving in the gradient tables what :func:`weight_gradients` needs.

    Shapes: ``table`` (A, n_blocks, 8, 16, BLOCK), ``control`` (A, n_blocks, n_s, BLOCK), ``w2``
    (A, U) with the unit axis flattened unit-major (``U = W * LANES``, ``W`` a multiple of
    4, so a block is 4 units of 16 lanes), ``b2`` (A, LANES), ``y`` (A, B, LANES). Group ``a``
    reads stream ``a`` of ``x`` and ``k`` and runs only the blocks of its ``widths[a]`` units.
    ``partial`` and ``active`` (:func:`lanes_scratch`) and ``scratch`` (:func:`pair_scratch`)
    hold one worker's forward pass each; worker ``t`` takes every ``n_workers``-th group from
    ``t`` on (groups are laid out narrow to wide, so that balances the workers).
    """
    n_slots = table.shape[0]
    n_lanes = b2.shape[1]
    n_workers = min(scratch.shape[0], n_slots)
    scale = np.float32(2.0) / np.float32(batch)
    for t in prange(n_workers):
        part, act, pairs = partial[t], active[t], scratch[t]
        h = np.empty(BLOCK, np.float32)
        e = np.empty(BLOCK, np.float32)
        delta = np.empty((LANES_CHUNK, BLOCK), np.float32)
        out = np.empty(n_lanes, np.float32)
        total = np.empty(n_lanes, np.float32)
        grad = np.empty(n_lanes, np.float32)
        for a in range(t, n_slots, n_workers):
            used = _used_blocks(widths[a])
            xs, ks = x[a], k[a]
            _lanes_forward(table, control, w2, a, used, xs, ks, batch, part, act, pairs, h)
            table_grad[a] = _F0
            control_grad[a] = _F0
            total[:] = _F0
            grad[:] = _F0
            for start in range(0, batch, LANES_CHUNK):
                stop = min(start + LANES_CHUNK, batch)
                for b in range(start, stop):
                    _lanes_outputs(b2[a], part, used, b, out)
                    _lanes_residual(out, y[a, b], scale, delta[b - start], total, grad)
                for q in range(used):
                    _lanes_block_backward(table_grad[a, q], control_grad[a, q], xs, ks, start,
                                          stop, delta, act[q], e)
            for lane in range(n_lanes):
                gb2[a, lane] = grad[lane]
                loss[a, lane] = total[lane] / np.float32(batch)


@njit(parallel=True, fastmath=True, cache=True)
def lanes_scores(table, control, w2, b2, widths, x, k, n_done, masks, scale, sums, partial,
                 active, scratch):
    """Evaluation of every group on a shared chunk (stream 0), summed into ``sums[a, c, skill]``
    as in :func:`wide_scores`; the scratch arrays as in :func:`lanes_step`."""
    n_slots = table.shape[0]
    n_lanes = b2.shape[1]
    n_workers = min(scratch.shape[0], n_slots)
    for t in prange(n_workers):
        part, act, pairs = partial[t], active[t], scratch[t]
        h = np.empty(BLOCK, np.float32)
        out = np.empty(n_lanes, np.float32)
        xs, ks = x[0], k[0]
        for a in range(t, n_slots, n_workers):
            used = _used_blocks(widths[a])
            _lanes_forward(table, control, w2, a, used, xs, ks, n_done, part, act, pairs, h)
            for b in range(n_done):
                _lanes_outputs(b2[a], part, used, b, out)
                xb, kb = xs[b], ks[b]
                for lane in range(n_lanes):
                    sign = np.float32(1 - 2 * _parity(xb & masks[a, kb, lane]))
                    err = scale[a, lane] * sign - out[lane]
                    sums[a, lane, kb, 0] += out[lane] * sign
                    sums[a, lane, kb, 1] += err * err


# --- optimisers (elementwise; one learning rate per member) ------------------------------------

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
