"""Thread limits shared by the batch solver and training (numba's and BLAS's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["blas_threads", "limit_threads"]

_BLAS_LIBS: list[Any] | None = None  # threadpoolctl's BLAS controllers, found on first use


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


@contextmanager
def limit_threads(n: int | None) -> Iterator[None]:
    """numba's and BLAS's thread counts limited to ``n`` inside the block (None: as
    they are; ``n`` is clipped to 1 … numba's configured maximum)."""
    if n is None:
        yield
        return
    import numba

    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        with blas_threads(n):
            yield
    finally:
        numba.set_num_threads(before)
