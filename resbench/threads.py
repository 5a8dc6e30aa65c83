"""Thread limits shared by the batch solver and training (numba's and BLAS's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["blas_threads", "limit_threads", "numba_thread_count"]

_BLAS_LIBS: list[Any] | None = None  # threadpoolctl's BLAS controllers, found on first use
_NUMBA_COUNT: tuple[Callable[[], int], Callable[[int], None]] | None = None  # found on first use
_NUMBA_MAX = 0  # numba's configured maximum thread count, read with the functions


def _blas_libs() -> list[Any]:
    """The loaded BLAS libraries' threadpoolctl controllers (inspecting the loaded
    libraries costs ms: once per process)."""
    global _BLAS_LIBS
    if _BLAS_LIBS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS_LIBS = [lc for lc in ThreadpoolController().lib_controllers if lc.user_api == "blas"]
    return _BLAS_LIBS


@contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """BLAS's thread count set to ``n`` inside the block, then restored: each library's
    own thread-count calls (~1 µs each; threadpoolctl's ``limit()`` re-reads every
    library's info, ~30 µs a call, which is most of a tiny batch's call)."""
    libs = _blas_libs()
    before = [lc.get_num_threads() for lc in libs]
    for lc in libs:
        lc.set_num_threads(n)
    try:
        yield
    finally:
        for lc, m in zip(libs, before, strict=True):
            lc.set_num_threads(m)


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
