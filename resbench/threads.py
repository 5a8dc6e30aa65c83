"""Thread limits shared by the batch solver and training (numba's and BLAS's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["blas_threads", "limit_threads", "numba_thread_count"]

_BLAS_LIBS: list[tuple[Callable[[], int], Callable[[int], Any]]] | None = None  # found on first use
_NUMBA_COUNT: tuple[Callable[[], int], Callable[[int], None]] | None = None  # found on first use
_NUMBA_MAX = 0  # numba's configured maximum thread count, read with the functions


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
    """Each loaded BLAS library's thread-count get and set (inspecting the loaded
    libraries costs ms: once per process)."""
    global _BLAS_LIBS
    if _BLAS_LIBS is None:
        from threadpoolctl import ThreadpoolController

        libs = [lc for lc in ThreadpoolController().lib_controllers if lc.user_api == "blas"]
        _BLAS_LIBS = [_count_functions(lc) for lc in libs]
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
