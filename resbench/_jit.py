"""Jitted kernels declared with the argument types their callers pass.

A kernel is ``numba.njit(cache=True)`` plus its signature, written once beside it::

    @kernel(I32, I32, F64, F64, INT)
    def resistor_balance(ra, rb, ohms, v, n): ...

The dispatcher stays lazy (a call with other types still compiles, as before); the
declared signatures are what :func:`warm_up` compiles, or loads from numba's cache,
before any solve is timed, so compilation is reported on its own line and never in a
solve time.  This replaces a hand-kept list of dummy calls, which had to be kept in
step with every kernel's argument types (numba-stats declares its kernels' signatures
the same way).  ``tests/test_kernels.py`` checks that a solve after the warm-up
adds no specialisation: the declared types are the types the callers pass.

Both kernel modules (``resbench.solvers._kernels`` and the certificate's
``resbench._certificate_kernels``, kept independent of each other) register here.
"""

from __future__ import annotations

from collections.abc import Callable

from numba import njit, types
from numba.core.dispatcher import Dispatcher

# Argument types, as the callers pass them: contiguous 1-d arrays and scalars.
I32 = types.int32[::1]  # node indices
I64 = types.int64[::1]  # CSR offsets, permutations
U32 = types.uint32[::1]  # the sweeps' unsigned index arrays
F64 = types.float64[::1]  # values
INT = types.int64  # a Python int
FLOAT = types.float64  # a Python float
BOOL = types.boolean  # a Python bool
# batch kernels (resbench.batch): node-major [node, sample] arrays, float64 or float32
F64_2D = types.float64[:, ::1]
F32_2D = types.float32[:, ::1]
F64_3D = types.float64[:, :, ::1]  # the sweeps' state, [chunk, node, sample]
F32_3D = types.float32[:, :, ::1]
F32 = types.float32[::1]
U8 = types.uint8[::1]
I64_2D = types.int64[:, ::1]

SIGNATURES: list[tuple[Dispatcher, tuple[types.Type, ...]]] = []
"""Every declared (kernel, argument types), in declaration order."""


def kernel(*argtypes: types.Type, parallel: bool = False) -> Callable[[Callable], Dispatcher]:
    """``njit(cache=True)`` that records ``argtypes`` for :func:`warm_up`; ``parallel``
    for kernels that spread independent work (``prange``) over numba's threads."""

    def register(fn: Callable) -> Dispatcher:
        dispatcher = njit(cache=True, parallel=parallel)(fn)
        SIGNATURES.append((dispatcher, tuple(argtypes)))
        return dispatcher

    return register


def declare(dispatcher: Dispatcher, *argtypes: types.Type) -> None:
    """One more declared signature of a kernel made with :func:`kernel` (a kernel
    its callers pass several dtypes or layouts)."""
    SIGNATURES.append((dispatcher, tuple(argtypes)))


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every declared kernel signature."""
    for dispatcher, argtypes in SIGNATURES:
        if argtypes not in dispatcher.signatures:
            dispatcher.compile(argtypes)
