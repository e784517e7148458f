r"""How the kernels are compiled: numba's options, and the CPU's prefetch instruction.

Compile time: each compiled function is compiled once, and its machine code is linked
into, re-optimised and re-emitted by every compiled caller above it, so each level of the
call tree costs again all the code below it. Thin wrappers and small leaves are therefore
:data:`LEAF` (no library of their own); larger branchy functions stay separate (inlined at
numba's IR level they are typed at every call site: slower still). Only the functions
called per row are forced inline by LLVM (:data:`NO_NRT`): it costs little compile time
there and the row path (batch size 1) needs it.

Importing this module gives numba a cache folder when it would find none
(:func:`gdlab.kernels.cache.fallback_dir`) and one cache stamp for all the kernels
(:mod:`gdlab.kernels.stamp`).
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import njit, types
from numba.core.extending import intrinsic

from gdlab.kernels import stamp
from gdlab.kernels.cache import fallback_dir

if (_FALLBACK := fallback_dir()) is not None:  # before any cached function is defined
    numba.config.CACHE_DIR = str(_FALLBACK)
stamp.install()  # the kernels' cache goes stale with any of their sources or codes

__all__ = ["AHEAD", "HELPER", "LEAF", "NO_NRT", "PER_BLOCK", "PER_STEP", "prefetch_row"]

#: Options of the internal compiled functions (cached on disk, callable only from numba).
PER_BLOCK = {"cache": True, "no_cpython_wrapper": True, "no_cfunc_wrapper": True}
#: ... for functions called once per step or block: without reference counting, for
#: functions that only read and write the arrays they are given (views included).
PER_STEP = {**PER_BLOCK, "_nrt": False}
#: ... for functions called per row: also inlined into their callers by LLVM,
HELPER = {**PER_BLOCK, "forceinline": True}
#: ... and without reference counting (no atomic increments per row).
NO_NRT = {**HELPER, "_nrt": False}
#: ... for small leaves and thin wrappers: inlined into the caller's numba IR.
LEAF = {"inline": "always"}
#: How many rows ahead of the current one the loops ask the CPU to prefetch (shuffled rows
#: come from RAM; 24 rows hide its latency on the machines we measured).
AHEAD = 24


@intrinsic
def _prefetch(typingctx, array, index):
    """Ask the CPU to fetch ``array.flat[index]`` into the cache (``llvm.prefetch``)."""

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]))
        address = builder.bitcast(builder.gep(data, [args[1]]), i8p)
        builder.call(fn, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@njit(**LEAF)
def prefetch_row(X, r):
    """Prefetch row r of the C-ordered X (every 64-byte line): shuffled rows come from RAM."""
    p = X.shape[1]
    for k in range(0, p, 8):
        _prefetch(X, r * p + k)
    _prefetch(X, r * p + p - 1)
