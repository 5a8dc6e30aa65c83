"""Thread limits shared by the batch solver and training (numba's and BLAS's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["limit_threads"]

_BLAS: Any = None  # threadpoolctl's controller, made on first use


@contextmanager
def limit_threads(n: int | None) -> Iterator[None]:
    """numba's and BLAS's thread counts limited to ``n`` inside the block (None: as
    they are; ``n`` is clipped to 1 … numba's configured maximum)."""
    if n is None:
        yield
        return
    import numba

    global _BLAS
    if _BLAS is None:  # inspecting the loaded libraries costs ms: once per process
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        with _BLAS.limit(limits=n, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(before)
