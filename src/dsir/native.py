"""Small compiled building blocks the kernels share: unaligned 8-byte loads and stores, so
a kernel can look at eight bytes at a time (SWAR), and the trailing-zero count that finds
the first flagged byte of such a word."""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

__all__ = ["load_u64", "store_u64", "trailing_zeros"]


@intrinsic
def load_u64(typingctx, arr, idx):
    """The 8 bytes at ``arr[idx:idx + 8]`` of a uint8 array, as one little-endian uint64."""
    sig = types.uint64(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(64).as_pointer())
        return builder.load(ptr, align=1)

    return sig, codegen


@intrinsic
def store_u64(typingctx, arr, idx, value):
    """Write uint64 ``value`` to ``arr[idx:idx + 8]`` of a uint8 array (unaligned store)."""
    sig = types.void(arr, idx, value)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(64).as_pointer())
        builder.store(args[2], ptr, align=1)
        return context.get_dummy_value()

    return sig, codegen
