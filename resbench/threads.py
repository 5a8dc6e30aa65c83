"""Thread limits shared by the batch solver and training (numba's and BLAS's), and the
products that run on numba's threads instead of BLAS's (:func:`split_matmul`)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import numpy as np

from resbench._matmul_kernels import matmul_rows

__all__ = [
    "blas_threads",
    "limit_threads",
    "numba_thread_count",
    "one_thread",
    "product",
    "split_matmul",
]

_BLAS_LIBS: list[tuple[Callable[[], int], Callable[[int], Any]]] | None = None  # found on first use
_BLAS_MODULES = 0  # len(sys.modules) when _BLAS_LIBS was found (found again when it changes)
_NUMBA_COUNT: tuple[Callable[[], int], Callable[[int], None]] | None = None  # found on first use
_NUMBA_MAX = 0  # numba's configured maximum thread count, read with the functions
SPLIT_ROWS = 16  # split_matmul's parts start at multiples of this many rows (whole
# register blocks of BLAS's kernels) and have at least this many


def _count_functions(lc: Any) -> tuple[Callable[[], int], Callable[[int], Any]]:
    """A threadpoolctl BLAS controller's get and set of the thread count: for OpenBLAS
    on its own pthreads pool, the library's two C functions, looked up once (the
    controller's methods look the symbol up again on every call and, for the set,
    arbitrate between Python threads: 2-3 µs each, ~25 µs for a set-and-restore of
    three libraries, as loaded here: numpy's, scipy's and CHOLMOD's); otherwise, or
    where this threadpoolctl lacks the attributes read, the controller's methods."""
    try:
        if getattr(lc, "internal_api", "") == "openblas" and lc.threading_layer != "openmp":
            prefix, suffix = lc._symbol_prefix, lc._symbol_suffix  # threadpoolctl >= 3.2
            get = getattr(lc.dynlib, f"{prefix}openblas_get_num_threads{suffix}")
            set_ = getattr(lc.dynlib, f"{prefix}openblas_set_num_threads{suffix}")
            if int(get()) == int(lc.get_num_threads()):  # the same library's count
                return get, set_
    except (AttributeError, TypeError, ValueError):
        pass
    return lc.get_num_threads, lc.set_num_threads


def _blas_libs() -> list[tuple[Callable[[], int], Callable[[int], Any]]]:
    """Each loaded BLAS library's thread-count get and set.  Inspecting the loaded
    libraries costs ms, so it is done again only after the number of imported modules
    changed: a BLAS loads with an extension module (scipy's own OpenBLAS comes with
    ``scipy.linalg`` or ``scipy.sparse.linalg``, CHOLMOD's with scikit-sparse), and one
    loaded after the first inspection would otherwise keep its own thread count inside
    :func:`blas_threads` and :func:`limit_threads`."""
    global _BLAS_LIBS, _BLAS_MODULES
    if _BLAS_LIBS is None or len(sys.modules) != _BLAS_MODULES:
        from threadpoolctl import ThreadpoolController

        libs = [lc for lc in ThreadpoolController().lib_controllers if lc.user_api == "blas"]
        _BLAS_LIBS = [_count_functions(lc) for lc in libs]
        _BLAS_MODULES = len(sys.modules)  # (after threadpoolctl's own imports)
    return _BLAS_LIBS


@contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """BLAS's thread count set to ``n`` inside the block, then restored; a library
    already at ``n`` is left alone (threadpoolctl's ``limit()`` re-reads every library's
    info, ~30 µs a call, most of a tiny batch's call: :func:`_count_functions`)."""
    changed = []
    for get, set_ in _blas_libs():
        m = get()
        if m != n:
            set_(n)
            changed.append((set_, m))
    try:
        yield
    finally:
        for set_, m in changed:
            set_(m)


def numba_thread_count() -> tuple[Callable[[], int], Callable[[int], None]]:
    """numba's get and set of the calling thread's thread count.  The public
    ``numba.get_num_threads`` / ``set_num_threads`` take numba's process-wide launch
    lock (a multiprocessing lock) and check their argument on every call, ~2 µs each,
    paid several times by a one-sample solve or a ``.dc`` sweep.  Once the threads
    are launched, the functions they end in (ctypes calls into the threading layer,
    the same per-thread count) are called directly; the public ones where this numba
    has no such functions.  The setter does not check its argument: callers pass 1,
    a count read before, or a count clipped to numba's configured maximum."""
    global _NUMBA_COUNT, _NUMBA_MAX
    if _NUMBA_COUNT is None:
        import numba
        from numba.np.ufunc import parallel

        numba.get_num_threads()  # launches the threads (once) as the public call does
        get = getattr(parallel, "_get_num_threads", None)
        set_ = getattr(parallel, "_set_num_threads", None)
        if not (callable(get) and callable(set_)):
            get, set_ = numba.get_num_threads, numba.set_num_threads
        _NUMBA_MAX = int(numba.config.NUMBA_NUM_THREADS)
        _NUMBA_COUNT = (get, set_)
    return _NUMBA_COUNT


@contextmanager
def limit_threads(n: int | None) -> Iterator[None]:
    """numba's and BLAS's thread counts limited to ``n`` inside the block (None: as
    they are; ``n`` is clipped to 1 … numba's configured maximum)."""
    if n is None:
        yield
        return
    get, set_ = numba_thread_count()
    n = max(1, min(int(n), _NUMBA_MAX))
    before = get()
    set_(n)
    try:
        with blas_threads(n):
            yield
    finally:
        set_(before)


def split_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` (into ``out`` when given) with the rows of ``a`` split into as many
    parts as numba now runs threads, each part one BLAS call on one BLAS thread, the
    parts on numba's threads (:func:`resbench._matmul_kernels.matmul_rows`).

    Why not BLAS's own threads: OpenBLAS's idle threads spin for a while after a
    threaded call (OPENBLAS_THREAD_TIMEOUT, read once when it loads; ~0.1 s by
    default), and on a machine with few cores the numba kernels that follow then
    share their cores with them (DRN-1H at batch 256 with inputs that do not fold:
    sweeps 5.8-6.4 ms vs 2.1-2.6 ms).  Why numba's threads and not a pool of our own:
    numba's workers spin after each parallel region too, and a pool's thread then
    shares a core with them (the same product 11.6-13 ms vs 6-8 ms).  The same
    product (each row's dot products as BLAS computes them on one thread); only the
    rows are dealt out.  One call where numba runs one thread, ``a`` has too few rows,
    or the operands are not float64 / float32 of one dtype."""
    dt = np.result_type(a, b)
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=dt)
    parts = min(numba_thread_count()[0](), a.shape[0] // SPLIT_ROWS)
    if (
        parts <= 1
        or dt not in _SPLIT_DTYPES
        or a.dtype != dt
        or b.dtype != dt
        or out.dtype != dt
        or not out.flags.c_contiguous
        or a.ndim != 2
        or b.ndim != 2
    ):
        with blas_threads(1):
            return np.matmul(a, b, out=out)
    a = np.ascontiguousarray(a)
    if not (b.flags.c_contiguous or b.flags.f_contiguous):
        b = np.ascontiguousarray(b)
    step = -(-a.shape[0] // parts)
    step = -(-step // SPLIT_ROWS) * SPLIT_ROWS
    cuts = np.array([*range(0, a.shape[0], step), a.shape[0]], dtype=np.int64)
    with blas_threads(1):
        matmul_rows(a, b, out, cuts)
    return out


_SPLIT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))

#: multiply-adds below which OpenBLAS runs a product on one thread whatever its thread
#: count (its GEMV goes threaded from m·n = 9216, its GEMM from m·n·k = 262144): such a
#: product needs no :func:`blas_threads` block, whose two library calls and context
#: manager cost ~8 µs, more than the product (a one-sample certificate makes several)
BLAS_SERIAL_MACS = 8192


def product(a: np.ndarray, b: np.ndarray, macs: int, small: int, out: np.ndarray | None = None):
    """``a @ b`` (into ``out``): on one BLAS thread when its ``macs`` multiply-adds are
    below ``small`` (waking other threads costs more than such a product saves, ms on
    a busy machine), else :func:`split_matmul`."""
    if macs < BLAS_SERIAL_MACS:  # BLAS runs it on one thread whatever its count
        return np.matmul(a, b, out=out)
    if macs < small:
        with blas_threads(1):
            return np.matmul(a, b, out=out)
    return split_matmul(a, b, out)


_SERIAL = threading.local()  # .active: this thread is inside a block that set one thread
_NO_LIMIT = nullcontext()


class _OneThread:
    """numba's kernels on the calling thread only, inside the block (see one_thread)."""

    __slots__ = ("before",)

    def __init__(self) -> None:
        self.before = 0  # numba's thread count to restore (0: nothing was set)

    def __enter__(self) -> None:
        get, set_ = numba_thread_count()
        before = get()
        if before != 1:
            set_(1)
            self.before = before
            _SERIAL.active = True

    def __exit__(self, *exc: object) -> None:
        if self.before:
            _SERIAL.active = False
            numba_thread_count()[1](self.before)


def one_thread(on: bool) -> AbstractContextManager[None]:
    """numba's kernels on the calling thread only inside the block, when ``on``: a
    parallel kernel then makes no parallel region (a region wakes every worker, ~3 µs
    when they spin, 20-50 µs when they sleep: ``OMP_WAIT_POLICY=PASSIVE``, or after a
    pause).  A block nested in one that already set one thread (on this thread) does
    nothing: reading and setting numba's count costs µs each, paid several times per
    call on a tiny batch (a .dc sweep, one sample)."""
    if not on or getattr(_SERIAL, "active", False):
        return _NO_LIMIT
    return _OneThread()
