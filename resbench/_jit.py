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

import itertools
import secrets
from collections.abc import Callable

from numba import njit, types
from numba.core.dispatcher import Dispatcher


def _unique_ids_per_process() -> bool:
    """Start numba's counter of function ids at a random number in this process.

    numba names every function it compiles by its qualified name, a process-local
    counter (``FunctionIdentity._unique_ids``, from 1 in every process) and its argument
    types, and bakes those names into what ``cache=True`` stores.  Kernels compiled in
    different processes (``python -m resbench.precompile``'s workers, a test or a run
    that compiles a signature nobody declared) can so store different functions under
    one name: numba's own helpers are closures with one qualified name and several
    bodies (its quicksort for ``np.sort`` and for ``np.argsort``, say).  A process that
    loads both libraries then calls one body where the other was compiled, silently
    (numba issues #10128 and #10486; seen here as ``fold_check``'s ``np.sort`` giving
    keys out of order after another kernel's cached library had loaded).  Numbers
    drawn at random per process make such a clash as likely as two 40-bit draws
    agreeing; names within a process stay unique (one counter).  A numba without the
    counter is left as it is (returns False)."""
    from numba.core import bytecode

    ident = getattr(bytecode, "FunctionIdentity", None)
    if ident is None or not hasattr(ident, "_unique_ids"):
        return False
    ident._unique_ids = itertools.count((secrets.randbits(40) << 8) + 1)
    return True


UNIQUE_IDS_RANDOMISED = _unique_ids_per_process()

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


#: every module that declares kernels (importing one registers its signatures)
KERNEL_MODULES = (
    "resbench.solvers._kernels",
    "resbench.solvers._direct_kernels",
    "resbench.solvers._polish_kernels",
    "resbench.solvers._problem_kernels",
    "resbench.solvers._shockley_kernels",
    "resbench._certificate_kernels",
    "resbench._matmul_kernels",
    "resbench.batch._kernels",
    "resbench.batch._network_kernels",
    "resbench.batch._certificate_kernels",
    "resbench.batch.polish",
    "resbench.drn._kernels",
)


def import_kernel_modules() -> None:
    """Import every module of :data:`KERNEL_MODULES` (their kernels register here)."""
    import importlib

    for name in KERNEL_MODULES:
        importlib.import_module(name)


def _parts(jobs: int) -> list[list[int]]:
    """The declared signatures' indices cut into ``jobs`` parts, every signature of one
    kernel in the same part (two processes never write one kernel's cache index), the
    parts balanced by their number of signatures (largest kernels first)."""
    by_kernel: dict[int, list[int]] = {}
    for i, (dispatcher, _) in enumerate(SIGNATURES):
        by_kernel.setdefault(id(dispatcher), []).append(i)
    parts: list[list[int]] = [[] for _ in range(jobs)]
    for idx in sorted(by_kernel.values(), key=len, reverse=True):
        min(parts, key=len).extend(idx)
    return [sorted(p) for p in parts if p]


def compile_part(part: int, jobs: int) -> None:
    """Compile (or load from numba's cache) part ``part`` of :func:`_parts` (``jobs``)."""
    import_kernel_modules()
    for i in _parts(jobs)[part]:
        dispatcher, argtypes = SIGNATURES[i]
        if argtypes not in dispatcher.signatures:
            dispatcher.compile(argtypes)


def compile_all(jobs: int = 1) -> None:
    """Compile every declared kernel signature into numba's on-disk cache, in ``jobs``
    processes at once (each compiling its share), so that the processes started after
    it load the kernels instead of compiling them: on a fresh clone, compilation is
    most of a first run's time (minutes, on one core).  ``jobs`` 1: in this process.
    Raises RuntimeError when a process fails (its output is in the message)."""
    import subprocess
    import sys

    import_kernel_modules()
    if jobs <= 1:
        warm_up()
        return
    n = len(_parts(jobs))
    code = (
        "import sys; from resbench._jit import compile_part; "
        "compile_part(int(sys.argv[1]), int(sys.argv[2]))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(p), str(jobs)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for p in range(n)
    ]
    failed = []
    for p, proc in enumerate(procs):
        out, _ = proc.communicate()
        if proc.returncode:
            failed.append(f"part {p} of {n} exited {proc.returncode}:\n{out.strip()}")
    if failed:
        raise RuntimeError("compiling resbench's kernels failed:\n" + "\n".join(failed))
