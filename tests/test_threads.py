"""resbench.threads' BLAS thread-count calls: the cached C functions (OpenBLAS on its
pthreads pool), the controller methods where those cannot be read, and the
set-only-what-differs rule of blas_threads."""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController, threadpool_info

from resbench import threads


def _blas_counts() -> list[int]:
    return [int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]


def test_cached_functions_read_and_set_what_threadpoolctl_sees() -> None:
    """Each library's cached get returns threadpoolctl's count for it, and a set through
    the cached function is what threadpoolctl reads back (then restored)."""
    libs = [lc for lc in ThreadpoolController().lib_controllers if lc.user_api == "blas"]
    assert libs, "numpy loads a BLAS"
    for lc in libs:
        get, set_ = threads._count_functions(lc)
        before = lc.get_num_threads()
        assert get() == before
        try:
            set_(1)
            assert lc.get_num_threads() == 1
        finally:
            set_(before)
        assert lc.get_num_threads() == before


def test_blas_threads_sets_inside_and_restores() -> None:
    before = _blas_counts()
    with threads.blas_threads(1):
        assert _blas_counts() == [1] * len(before)
        a = np.ones((64, 64))
        assert float((a @ a)[0, 0]) == 64.0  # BLAS still works on one thread
    assert _blas_counts() == before
    with pytest.raises(RuntimeError), threads.blas_threads(1):
        raise RuntimeError("restored on the way out")
    assert _blas_counts() == before


def test_blas_libraries_found_again_after_an_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """The libraries are inspected once, then again only after an import (a BLAS loads
    with an extension module: numba's BLAS calls load scipy's own OpenBLAS, after
    numpy's): one loaded after the first inspection is set too."""
    libs = threads._blas_libs()
    assert threads._blas_libs() is libs  # no import since: no inspection
    monkeypatch.setattr(threads, "_BLAS_LIBS", [])  # as if inspected before any BLAS loaded
    assert threads._blas_libs() == []  # (the module count has not changed)
    monkeypatch.setitem(sys.modules, "_resbench_test_late_import", types.ModuleType("late"))
    again = threads._blas_libs()
    before = _blas_counts()
    assert len(again) == len(before) >= 1
    with threads.blas_threads(1):
        assert _blas_counts() == [1] * len(before)
    assert _blas_counts() == before


class _Fake:
    """A library's get/set pair that records the sets."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.sets: list[int] = []

    def get(self) -> int:
        return self.count

    def set(self, n: int) -> None:
        self.sets.append(n)
        self.count = n


def test_a_library_already_at_the_count_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    at_one, at_four = _Fake(1), _Fake(4)
    monkeypatch.setattr(threads, "_BLAS_LIBS", [(f.get, f.set) for f in (at_one, at_four)])
    monkeypatch.setattr(threads, "_BLAS_MODULES", len(sys.modules))  # (no import since)
    with threads.blas_threads(1):
        assert (at_one.count, at_four.count) == (1, 1)
    assert at_one.sets == []  # never touched
    assert at_four.sets == [1, 4] and at_four.count == 4  # set, then restored


class _Controller:
    """A controller whose library cannot be read directly (another BLAS, or a
    threadpoolctl without the attributes): its methods are used."""

    internal_api = "mkl"
    threading_layer = "intel"

    def __init__(self) -> None:
        self.n = 3

    def get_num_threads(self) -> int:
        return self.n

    def set_num_threads(self, n: int) -> Any:
        self.n = n


def test_other_libraries_fall_back_to_the_controller_methods() -> None:
    lc = _Controller()
    get, set_ = threads._count_functions(lc)
    assert get == lc.get_num_threads and set_ == lc.set_num_threads
    lc.internal_api = "openblas"  # OpenBLAS, but no dynlib / symbol affixes to read
    lc.threading_layer = "pthreads"
    get, set_ = threads._count_functions(lc)
    assert get == lc.get_num_threads and set_ == lc.set_num_threads
