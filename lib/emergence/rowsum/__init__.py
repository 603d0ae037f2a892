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
``dT[g, v]`` and ``dTc[skill]``; as soon as a block's (wide layout) or a group's (lanes layout)
backward pass is done, its tables are folded into the weight gradients, while still in cache:
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
  ``BLOCK = 64`` units, whose tables (``8 x 16 x 64`` floats, 32 KB) the job builds from
  ``W1`` into a worker's scratch and keeps in the L1 cache while the whole batch streams past
  (built for the whole ensemble ahead of the forward pass, they were written to memory and
  read back, and the step was 3-15 % slower); widths are padded to whole blocks with units whose
  weights are zero and stay zero (their ``h`` is 0, so they are never active and get no
  gradient). A forward pass writes each block's share of the output and keeps the block's
  ReLU pattern of each sample as one 64-bit mask; after the residual, a backward pass reads
  the mask back, so no pre-activation is stored or recomputed, and skips the samples with no
  active unit in the block; its gradient tables are a worker's scratch, folded into the
  weight gradients while still in L1 (kept per block for the whole ensemble they would be
  written to memory and read back: 52 MB each way per step in ``calib_data``). For batches
  of 512 samples or more the forward pass first merges the 8 group tables pairwise into 4
  *byte tables* of 256 rows (``T[2p, v % 16] + T[2p + 1, v // 16]``, 256 KB, kept in L2)
  and adds 5 rows per sample instead of 9; the backward pass keeps the 16-row gradient
  tables, since adding into rows that live in L2 costs more than the 4 rows it would save
  (both measured).
- *lanes* (width experiments, widths 1 to 20): vector lanes run over ``LANES`` seeds of one
  width that share an input stream (each seed still has its own skill subsets, so its own
  targets, and its own weights). A block of ``BLOCK`` floats is then 4 units of 16 seeds, and
  widths are padded to whole blocks (multiples of 4 units); the padding units of a group's
  last block are left out of both passes. A whole group is one job: the
  forward pass runs block by block over the whole batch, byte tables included, and writes
  each block's share of the 16 outputs and its ReLU pattern into a worker's scratch; then the
  batch is walked in chunks of ``LANES_CHUNK`` samples, the targets and residuals of a chunk
  (the targets made on the spot from each seed's skill subsets, never stored) followed by
  every block's backward pass over it; last, the group's gradient tables are folded.
  (Keeping each block's forward pass to one chunk at a time, with all the group's byte
  tables in L2 and the chunk's outputs in L1, was measured slower: 24.0 against 21.1 ms per
  ``mlp_params`` lanes step on two threads. An earlier version fused forward and backward per
  sample over all of a group's units: every sample then touched 18 table rows of up to 1.3
  KB, which live in L2 from width 3 on. The blocks cost 17-29 % less kernel time on a paper
  ``mlp_params`` step, although the padding adds 14 % more units there.)

Both layouts are described to the kernels by one array shape convention: parameters of
``A`` *slots* (members for wide, groups for lanes) with a unit axis ``U`` (``H`` for wide,
``W x LANES`` flattened unit-major for lanes). The kernels take up to 32 skill bits (8 groups,
the paper's ``n_b``); the engine falls back to torch beyond that. Jobs run in parallel with
``prange``; no two jobs write the same memory, so results do not depend on the number of
threads.

**Modules.** :mod:`~emergence.rowsum.tables` holds what both layouts share (the tables'
shape, building and folding them, the byte tables, cache-line-aligned arrays);
:mod:`~emergence.rowsum.intrinsics` one sample's forward and backward pass through one block
and a lanes group's outputs and residuals, written in LLVM IR so that a block stays in vector
registers;
:mod:`~emergence.rowsum.wide` and :mod:`~emergence.rowsum.lanes` hold one layout's kernels
each; :mod:`~emergence.rowsum.sampling` draws batches and targets from a counter-based hash
(any sample of any stream at any step, in any order, by any thread, with the same result);
:mod:`~emergence.rowsum.optim` holds the SGD and Adam updates, and
:mod:`~emergence.rowsum.codegen` the choice of vector width: on a core with AVX-512 that keeps
its clock under 512-bit work, importing this package asks numba for 512-bit vectors
(:func:`wide_vector_features`), so a block's 64 units are 4 registers instead of 8 and a lanes
group's 16 seeds exactly one; setting ``NUMBA_CPU_FEATURES`` or ``NUMBA_CPU_NAME`` yourself
overrides the choice. Everything the engine calls is importable from here.
"""

# codegen comes first (it also does alphabetically): it sets numba's target features, which
# must happen before any kernel compiles.
from .codegen import AVX512, DOWNCLOCKING_CPUS, WIDE_VECTORS, wide_vector_features
from .lanes import (
    LANES,
    LANES_CHUNK,
    UNITS_PER_BLOCK,
    lanes_scores,
    lanes_scratch,
    lanes_step,
)
from .optim import adam_update, sgd_update
from .sampling import draw_online, gather, shuffle, targets
from .tables import (
    BLOCK,
    CACHE_LINE,
    GROUP_BITS,
    GROUPS,
    MAX_BITS,
    PAIR_MIN_BATCH,
    PAIR_TABLE,
    PAIRS,
    TABLE,
    aligned_zeros,
    forward_scratch,
    gradient_scratch,
    weight_gradients,
)
from .wide import wide_backward, wide_forward, wide_residual, wide_scores

__all__ = [
    "AVX512", "BLOCK", "CACHE_LINE", "DOWNCLOCKING_CPUS", "GROUPS", "GROUP_BITS", "LANES",
    "LANES_CHUNK", "MAX_BITS", "PAIRS", "PAIR_MIN_BATCH", "PAIR_TABLE", "TABLE",
    "UNITS_PER_BLOCK", "WIDE_VECTORS",
    "adam_update", "aligned_zeros", "draw_online", "forward_scratch", "gather", "gradient_scratch",
    "lanes_scores", "lanes_scratch", "lanes_step", "sgd_update", "shuffle",
    "targets", "weight_gradients", "wide_backward", "wide_forward", "wide_residual",
    "wide_scores", "wide_vector_features",
]
