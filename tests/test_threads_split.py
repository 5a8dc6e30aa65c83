"""resbench.threads.split_matmul / product: the rows of a product dealt out to
resbench's own threads, each on one BLAS thread (no BLAS thread left spinning after
a large product), and the one-BLAS-thread path of a small one."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resbench import threads


def _reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The product summed in float64 by numpy's einsum (no BLAS), row by row."""
    return np.einsum("ik,kj->ij", a.astype(np.float64), b.astype(np.float64), optimize=False)


def _close(x: np.ndarray, ref: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """x agrees with ref within the product's round-off bound (k · eps · |a||b|)."""
    eps = np.finfo(x.dtype).eps
    bound = a.shape[1] * eps * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    assert np.all(np.abs(x - ref) <= bound + np.finfo(np.float64).tiny)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 150),
    inner=st.integers(1, 40),
    cols=st.integers(1, 30),
    parts=st.integers(1, 4),
    dtype=st.sampled_from([np.float64, np.float32]),
    order=st.sampled_from(["C", "F"]),
    given_out=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_matmul_is_the_product(rows, inner, cols, parts, dtype, order, given_out, seed):
    """Any shape, dtype, layout and thread count: the product (within round-off), into
    ``out`` when given, and BLAS's thread counts restored afterwards."""
    rng = np.random.default_rng(seed)
    a = np.asarray(rng.standard_normal((rows, inner)), dtype=dtype, order=order)
    b = rng.standard_normal((cols, inner)).astype(dtype).T  # (a transposed view, as callers)
    before = [get() for get, _ in threads._blas_libs()]
    with threads.blas_threads(parts):
        out = np.full((rows, cols), np.nan, dtype=dtype) if given_out else None
        got = threads.split_matmul(a, b, out)
        assert [get() for get, _ in threads._blas_libs()] == [parts] * len(before)
    assert [get() for get, _ in threads._blas_libs()] == before
    if given_out:
        assert got is out
    assert got.shape == (rows, cols) and got.dtype == dtype
    _close(got, _reference(a, b), a, b)


def test_split_matmul_uses_resbench_threads_for_large_products() -> None:
    """With BLAS at 3 threads and enough rows, the rows go to 3 parts: two run on
    resbench's pool (named threads), the first on the caller; BLAS is at one thread
    while they run."""
    seen: list[tuple[str, list[int]]] = []
    real = np.matmul

    def spy(x, y, out=None):
        seen.append((threading.current_thread().name, [g() for g, _ in threads._blas_libs()]))
        return real(x, y, out=out)

    a = np.arange(96 * 5, dtype=np.float64).reshape(96, 5) / 7.0
    b = np.ones((5, 3))
    np.matmul = spy  # (the module looks np.matmul up at call time)
    try:
        with threads.blas_threads(3):
            got = threads.split_matmul(a, b)
    finally:
        np.matmul = real
    assert len(seen) == 3
    names = sorted(n for n, _ in seen)
    assert sum(n.startswith("resbench-matmul") for n in names) == 2
    assert all(set(counts) == {1} for _, counts in seen)
    _close(got, _reference(a, b), a, b)


def test_split_matmul_few_rows_is_one_call() -> None:
    """Fewer rows than two parts' worth: one call on the caller's thread."""
    calls: list[str] = []
    real = np.matmul

    def spy(x, y, out=None):
        calls.append(threading.current_thread().name)
        return real(x, y, out=out)

    a = np.ones((threads.SPLIT_ROWS * 2 - 1, 4))
    np.matmul = spy
    try:
        with threads.blas_threads(4):
            got = threads.split_matmul(a, np.ones((4, 2)))
    finally:
        np.matmul = real
    assert calls == [threading.current_thread().name]
    assert np.all(got == 4.0)


def test_product_small_runs_on_one_blas_thread() -> None:
    counts: list[list[int]] = []
    real = np.matmul

    def spy(x, y, out=None):
        counts.append([g() for g, _ in threads._blas_libs()])
        return real(x, y, out=out)

    a = np.ones((64, 8))
    np.matmul = spy
    try:
        with threads.blas_threads(2):
            small = threads.product(a, np.ones((8, 4)), 64 * 8 * 4, 10**6)
    finally:
        np.matmul = real
    assert counts and all(set(c) == {1} for c in counts)
    assert np.all(small == 8.0)


def test_split_matmul_error_in_a_part_is_raised_and_parts_finish() -> None:
    """A part that fails (an ``out`` of the wrong dtype) raises in the caller, and
    BLAS's counts are restored."""
    before = [get() for get, _ in threads._blas_libs()]
    a = np.ones((64, 4))
    with pytest.raises((TypeError, ValueError)), threads.blas_threads(2):
        threads.split_matmul(a, np.ones((4, 3)), np.empty((64, 3), dtype=np.int64))
    assert [get() for get, _ in threads._blas_libs()] == before


def _child(q) -> None:  # pragma: no cover - runs in a forked child
    a = np.arange(64 * 3, dtype=np.float64).reshape(64, 3)
    with threads.blas_threads(2):
        q.put(float(threads.split_matmul(a, np.ones((3, 2))).sum()))


@pytest.mark.skipif(os.name != "posix", reason="fork is POSIX only")
def test_split_matmul_after_fork() -> None:
    """A forked child does not wait on the parent's pool (its threads are gone): it
    makes its own."""
    a = np.ones((64, 3))
    with threads.blas_threads(2):
        threads.split_matmul(a, np.ones((3, 2)))  # the parent's pool exists
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    p.join(30)
    assert p.exitcode == 0
    expected = float(np.arange(64 * 3, dtype=np.float64).reshape(64, 3).sum() * 2)
    assert q.get(timeout=5) == expected
