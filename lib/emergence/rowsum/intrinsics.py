"""One sample through one block of units, written straight in LLVM IR.

A block is ``BLOCK`` = 64 floats: four 512-bit registers (eight 256-bit ones). The hot loops
of both layouts do, for every sample and block, a handful of operations on whole blocks:
add up a few table rows, compare with zero, multiply by ``w2``, or add a masked residual into
9 gradient rows. Written as numba loops over the 64 units, each such operation writes its
block to a buffer and the next reads it back, because LLVM cannot prove that the buffer and
the tables do not overlap; it also guards every loop with run-time overlap checks and keeps
a scalar fallback. Here each block is one LLVM vector value (``<64 x float>``), which stays in
registers from the first row loaded to the last result stored. One thread, one block over
4000 samples: the lanes forward pass with byte tables went from 21-36 to 11-15 ns per
sample, the wide one from 16.5 to 11.4, the lanes backward pass from 43-50 to 25-30; a whole
paper step's kernels took 11-20 % less time in ``mlp_params``, ``mlp_time`` and
``calib_data`` (the loop versions alternating with these in one process).

The kernels assume the shapes this package gives its tables: rows of ``BLOCK`` floats,
C-contiguous, ``1 << group_bits`` rows per group. Their argument types are checked when the
calling kernel compiles (anything else is a typing error there); shapes are not checked.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .tables import BLOCK, GROUP_BITS, GROUPS

_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_BLOCK_OF_FLOATS = ir.VectorType(ir.FloatType(), BLOCK)
_QUARTER = BLOCK // 4           # units per quarter of a block: one 512-bit register
_QUARTER_OF_FLOATS = ir.VectorType(ir.FloatType(), _QUARTER)
_QUARTER_BITS = ir.IntType(_QUARTER)


def _c_array(array, ndim: int, dtype=types.float32) -> bool:
    """Whether ``array`` is typed as a C-contiguous array of ``ndim`` dimensions of ``dtype``
    (float32 unless said)."""
    return (isinstance(array, types.Array) and array.dtype == dtype
            and array.ndim == ndim and array.layout == "C")


def _data(context, builder, array_type, value):
    """The pointer to an array argument's first element."""
    return context.make_array(array_type)(context, builder, value).data


def _row_pointer(builder, data, row, width=BLOCK):
    """Pointer to row ``row`` (an i64) of ``width`` floats, as a vector pointer."""
    start = builder.gep(data, [builder.mul(row, ir.Constant(_I64, width))])
    return builder.bitcast(start, ir.VectorType(ir.FloatType(), width).as_pointer())


def _group_rows(builder, data, sample, n_groups, group_bits):
    """Pointers to the row of every group's table that ``sample`` (packed bits, i64) selects."""
    rows = 1 << group_bits
    pointers = []
    for g in range(n_groups):
        shifted = builder.lshr(sample, ir.Constant(_I64, group_bits * g))
        value = builder.and_(shifted, ir.Constant(_I64, rows - 1))
        row = builder.add(value, ir.Constant(_I64, rows * g))
        pointers.append(_row_pointer(builder, data, row))
    return pointers


def _slice(builder, values, start, size):
    """Elements ``start:start + size`` of a vector value."""
    return builder.shuffle_vector(values, values, ir.Constant(ir.VectorType(_I32, size),
                                                              list(range(start, start + size))))


def _quarter_pointer(builder, block_pointer, start):
    """Pointer to the quarter of a block (a ``<BLOCK x float>*``) that starts at unit
    ``start``."""
    floats = builder.bitcast(block_pointer, ir.FloatType().as_pointer())
    return builder.bitcast(builder.gep(floats, [ir.Constant(_I64, start)]),
                           _QUARTER_OF_FLOATS.as_pointer())


def _splat(builder, value, size):
    """A vector of ``size`` copies of a scalar value."""
    vector = ir.VectorType(value.type, size)
    one = builder.insert_element(ir.Constant(vector, None), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(one, one, ir.Constant(ir.VectorType(_I32, size), None))


def _folded(builder, values, width):
    """Fold a vector of whole quarters to ``width`` elements: its quarters added pairwise
    (quarter i with quarter i + half, down to one), then halves added to the lower half."""
    size = max(width, _QUARTER)
    parts = [_slice(builder, values, start, size)
             for start in range(0, values.type.count, size)]
    while len(parts) > 1:
        half = (len(parts) + 1) // 2
        parts = [builder.fadd(parts[i], parts[i + half]) if i + half < len(parts)
                 else parts[i] for i in range(half)]
    values = parts[0]
    while size > width:
        size //= 2
        values = builder.fadd(_slice(builder, values, 0, size), _slice(builder, values, size, size))
    return values


def block_forward(n_groups: int, group_bits: int, outputs: int, units: int = BLOCK):
    """An intrinsic for one sample's forward pass through the first ``units`` units of a block.

    The returned ``forward(tables, control, w, skill, sample, share, b)`` computes the
    pre-activations ``h = control[skill] + sum over groups g of tables[g, bits of g]`` (the
    bits of group g are ``group_bits`` bits of the packed ``sample``), writes the block's
    share of the output, ``relu(h) * w`` summed down to ``outputs`` values, into ``share[b]``
    (``outputs`` = 1: the wide layout, one member, a scalar; ``outputs`` = ``LANES``: the
    lanes layout, unit ``u`` adds into lane ``u % LANES``, a row of ``share``), and returns
    the block's ReLU pattern, bit ``u`` set where ``h[u] > 0``. ``units`` below ``BLOCK``
    (whole quarters) leaves out the block's last units, which a lanes group's last block
    holds as padding: their rows are not read and their bits are 0.
    """
    share_ndim = 1 if outputs == 1 else 2
    if units % _QUARTER or not 0 < units <= BLOCK:
        raise ValueError(f"units must be a multiple of {_QUARTER} in 1..{BLOCK}, got {units}")
    floats = ir.VectorType(ir.FloatType(), units)

    def codegen(context, builder, signature, args):
        tables, control, w, share = (_data(context, builder, signature.args[i], args[i])
                                     for i in (0, 1, 2, 5))
        skill, sample, b = args[3], args[4], args[6]

        def load(block_pointer):
            return builder.load(builder.bitcast(block_pointer, floats.as_pointer()), align=4)

        h = load(_row_pointer(builder, control, skill))
        for pointer in _group_rows(builder, tables, sample, n_groups, group_bits):
            h = builder.fadd(h, load(pointer))
        zero = ir.Constant(floats, None)
        active = builder.fcmp_ordered(">", h, zero)
        products = builder.fmul(builder.select(active, h, zero),
                                load(builder.bitcast(w, _BLOCK_OF_FLOATS.as_pointer())))
        summed = _folded(builder, products, outputs)
        if outputs == 1:
            builder.store(builder.extract_element(summed, ir.Constant(_I32, 0)),
                          builder.gep(share, [b]), align=4)
        else:
            builder.store(summed, _row_pointer(builder, share, b, outputs), align=4)
        pattern = builder.bitcast(active, ir.IntType(units))
        return pattern if units == BLOCK else builder.zext(pattern, _I64)

    @intrinsic
    def forward(typingctx, tables, control, w, skill, sample, share, b):
        if _c_array(tables, 3) and _c_array(control, 2) and _c_array(w, 1) \
                and _c_array(share, share_ndim) and skill == types.int64 \
                and sample == types.uint64 and b == types.int64:
            return types.uint64(tables, control, w, skill, sample, share, b), codegen
        return None

    return forward


def lane_outputs(lanes: int):
    """An intrinsic for one sample's outputs in the lanes layout.

    The returned ``outputs(b2, partial, n_blocks, b, out)`` writes ``out = b2 + sum over
    q < n_blocks of partial[q, b]``: the bias of each of the ``lanes`` seeds plus every
    block's share of its output (``partial`` is ``(blocks, samples, lanes)``).
    """
    vector = ir.VectorType(ir.FloatType(), lanes)

    def codegen(context, builder, signature, args):
        b2, out = (_data(context, builder, signature.args[i], args[i]) for i in (0, 4))
        shares = context.make_array(signature.args[1])(context, builder, args[1])
        n_blocks, b = args[2], args[3]
        n_samples = builder.extract_value(shares.shape, 1)
        total = cgutils.alloca_once_value(
            builder, builder.load(builder.bitcast(b2, vector.as_pointer()), align=4))
        with cgutils.for_range(builder, n_blocks) as loop:
            row = builder.add(builder.mul(loop.index, n_samples), b)
            share = builder.load(_row_pointer(builder, shares.data, row, lanes), align=4)
            builder.store(builder.fadd(builder.load(total), share), total)
        builder.store(builder.load(total), builder.bitcast(out, vector.as_pointer()), align=4)
        return context.get_dummy_value()

    @intrinsic
    def outputs(typingctx, b2, partial, n_blocks, b, out):
        if _c_array(b2, 1) and _c_array(partial, 3) and _c_array(out, 1) \
                and n_blocks == types.int64 and b == types.int64:
            return types.none(b2, partial, n_blocks, b, out), codegen
        return None

    return outputs


def lane_residuals(lanes: int):
    """An intrinsic for one sample's targets and residuals in the lanes layout.

    The returned ``residuals(out, masks, target_scale, sample, weight, delta, total, grad)``
    makes each of the ``lanes`` seeds' target from the packed ``sample`` and the seed's skill
    subset ``masks[lane]`` (``target_scale * (-1)**parity(sample & mask)``, as
    :func:`~emergence.rowsum.targets` does), computes ``err = out - target``, adds ``err**2``
    to ``total`` and ``g = weight * err`` to ``grad`` (``b2``'s gradient), and writes ``g``
    once per unit of a block into the block-long ``delta``, lane ``l`` of every unit getting
    seed ``l``'s residual. Making the targets here saves writing them for the whole batch
    and reading them back (16 MB per ``mlp_params`` step).
    """
    floats = ir.VectorType(ir.FloatType(), lanes)
    words = ir.VectorType(_I64, lanes)
    repeat = ir.Constant(ir.VectorType(_I32, BLOCK), [u % lanes for u in range(BLOCK)])

    def codegen(context, builder, signature, args):
        out, masks, target_scale, delta, total, grad = (
            _data(context, builder, signature.args[i], args[i]) for i in (0, 1, 2, 5, 6, 7))
        out, target_scale, total, grad = (builder.bitcast(pointer, floats.as_pointer())
                                          for pointer in (out, target_scale, total, grad))
        sample, weight = _splat(builder, args[3], lanes), _splat(builder, args[4], lanes)
        subsets = builder.load(builder.bitcast(masks, words.as_pointer()), align=8)
        popcount = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(words, [words]), f"llvm.ctpop.v{lanes}i64")
        odd = builder.trunc(builder.call(popcount, [builder.and_(subsets, sample)]),
                            ir.VectorType(ir.IntType(1), lanes))
        scale = builder.load(target_scale, align=4)
        target = builder.select(odd, builder.fneg(scale), scale)
        err = builder.fsub(builder.load(out, align=4), target)
        builder.store(builder.fadd(builder.load(total, align=4), builder.fmul(err, err)),
                      total, align=4)
        g = builder.fmul(weight, err)
        builder.store(builder.fadd(builder.load(grad, align=4), g), grad, align=4)
        builder.store(builder.shuffle_vector(g, g, repeat),
                      builder.bitcast(delta, _BLOCK_OF_FLOATS.as_pointer()), align=4)
        return context.get_dummy_value()

    @intrinsic
    def residuals(typingctx, out, masks, target_scale, sample, weight, delta, total, grad):
        if all(_c_array(a, 1) for a in (out, target_scale, delta, total, grad)) \
                and _c_array(masks, 1, types.uint64) and sample == types.uint64 \
                and weight == types.float32:
            return types.none(out, masks, target_scale, sample, weight, delta, total,
                              grad), codegen
        return None

    return residuals


@intrinsic
def scatter_where_active(typingctx, tg, cg, d, bits, kb, xb):
    """Add one sample's ``e = d * [unit active]`` into a block's gradient tables: its control
    row ``cg[kb]`` and, for each group ``g``, the row ``tg[g, nibble g of xb]``.

    ``d`` is the sample's residual: one float for every unit (the wide layout, a float32) or
    one per unit of the block (the lanes layout, a block-long array); ``bits`` is the block's
    ReLU pattern. The block is handled a quarter (16 units, one 512-bit register) at a time:
    a quarter with no active unit is skipped, else its ``e`` is made once, by a zero-masking
    load, and added into the 9 rows. Whole quarters are inactive where a lanes block holds
    padding units (up to 3 of a group's last 4 units): skipping them took 4-14 % off a paper
    ``mlp_params`` step's lanes kernel (one thread, alternating in one process).
    """
    def codegen(context, builder, signature, args):
        tables, controls = (_data(context, builder, signature.args[i], args[i]) for i in (0, 1))
        residual, pattern, skill, sample = args[2:]
        if isinstance(signature.args[2], types.Array):
            data = _data(context, builder, signature.args[2], residual)
            values = builder.load(builder.bitcast(data, _BLOCK_OF_FLOATS.as_pointer()), align=4)
        else:
            values = _splat(builder, residual, BLOCK)
        rows = [_row_pointer(builder, controls, skill)]
        rows += _group_rows(builder, tables, sample, GROUPS, GROUP_BITS)
        for start in range(0, BLOCK, _QUARTER):
            bits = builder.trunc(builder.lshr(pattern, ir.Constant(_I64, start)), _QUARTER_BITS)
            with builder.if_then(builder.icmp_unsigned("!=", bits, ir.Constant(_QUARTER_BITS, 0))):
                mask = builder.bitcast(bits, ir.VectorType(ir.IntType(1), _QUARTER))
                e = builder.select(mask, _slice(builder, values, start, _QUARTER),
                                   ir.Constant(_QUARTER_OF_FLOATS, None))
                for row in rows:
                    pointer = _quarter_pointer(builder, row, start)
                    builder.store(builder.fadd(builder.load(pointer, align=4), e), pointer,
                                  align=4)
        return context.get_dummy_value()

    residual_ok = d == types.float32 or _c_array(d, 1)
    if _c_array(tg, 3) and _c_array(cg, 2) and residual_ok \
            and bits == types.uint64 and kb == types.int64 and xb == types.uint64:
        return types.none(tg, cg, d, bits, kb, xb), codegen
    return None

