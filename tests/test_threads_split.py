"""resbench.threads.split_matmul / product: the rows of a large product dealt out to
numba's threads (resbench._matmul_kernels.matmul_rows), each part one BLAS call on
one BLAS thread (no BLAS thread left spinning after it, no other pool sharing the
cores with numba's spinning workers); a small product on one BLAS thread."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resbench import threads


def _reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The product summed in float64 by numpy's einsum (no BLAS)."""
    return np.einsum("ik,kj->ij", a.astype(np.float64), b.astype(np.float64), optimize=False)


def _close(x: np.ndarray, ref: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """x agrees with ref within the product's round-off bound (k · eps · |a||b|)."""
    eps = np.finfo(x.dtype).eps
    bound = a.shape[1] * eps * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    assert np.all(np.abs(x - ref) <= bound + np.finfo(np.float64).tiny)


def _counts() -> list[int]:
    return [get() for get, _ in threads._blas_libs()]


@pytest.fixture(autouse=True, scope="module")
def _every_blas_loaded() -> None:
    """The BLAS libraries numba's kernels call (scipy's own OpenBLAS, loaded with the
    first kernel that multiplies) loaded before any test reads the counts, so that a
    count read before a call and one read after cover the same libraries."""
    threads.split_matmul(np.ones((2 * threads.SPLIT_ROWS, 2)), np.ones((2, 2)))


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[np.ndarray, list[int]]]:
    """Records each call of the numba kernel: its row cuts and BLAS's thread counts."""
    calls: list[tuple[np.ndarray, list[int]]] = []
    real = threads.matmul_rows

    def recording(a, b, out, cuts):
        calls.append((cuts.copy(), _counts()))
        return real(a, b, out, cuts)

    monkeypatch.setattr(threads, "matmul_rows", recording)
    return calls


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 150),
    inner=st.integers(1, 40),
    cols=st.integers(1, 30),
    parts=st.integers(1, 4),
    dtype=st.sampled_from([np.float64, np.float32]),
    a_order=st.sampled_from(["C", "F"]),
    b_transposed=st.booleans(),
    given_out=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_matmul_is_the_product(
    rows, inner, cols, parts, dtype, a_order, b_transposed, given_out, seed
) -> None:
    """Any shape, dtype, layout and thread count: the product (within round-off), into
    ``out`` when given; numba's and BLAS's thread counts restored afterwards."""
    rng = np.random.default_rng(seed)
    a = np.asarray(rng.standard_normal((rows, inner)), dtype=dtype, order=a_order)
    if b_transposed:  # a transposed view (column-major), as the callers pass
        b = rng.standard_normal((cols, inner)).astype(dtype).T
    else:
        b = rng.standard_normal((inner, cols)).astype(dtype)
    before = (_counts(), threads.numba_thread_count()[0]())
    with threads.limit_threads(parts):
        out = np.full((rows, cols), np.nan, dtype=dtype) if given_out else None
        got = threads.split_matmul(a, b, out)
    assert (_counts(), threads.numba_thread_count()[0]()) == before
    if given_out:
        assert got is out
    assert got.shape == (rows, cols) and got.dtype == dtype
    _close(got, _reference(a, b), a, b)


def test_large_product_parts_on_numba_threads(spy) -> None:
    """numba at 2 threads and enough rows: one kernel call whose cuts cover every row
    in 2 parts of whole SPLIT_ROWS blocks, BLAS at one thread inside; every row of
    ``out`` written."""
    a = np.arange(100 * 5, dtype=np.float64).reshape(100, 5) / 7.0
    b = np.linspace(-1.0, 1.0, 15).reshape(5, 3)
    out = np.full((100, 3), np.nan)
    with threads.limit_threads(2):
        if threads.numba_thread_count()[0]() < 2:
            pytest.skip("numba runs one thread here")  # (numba's maximum is the cores)
        threads.split_matmul(a, b, out)
    assert len(spy) == 1
    cuts, counts = spy[0]
    assert cuts[0] == 0 and cuts[-1] == 100 and cuts.size == 3
    assert np.all(np.diff(cuts) > 0) and np.all(cuts[:-1] % threads.SPLIT_ROWS == 0)
    assert set(counts) == {1}
    _close(out, _reference(a, b), a, b)


def test_one_call_where_a_split_does_not_pay(spy) -> None:
    """Too few rows for two parts, numba on one thread, or mixed dtypes: one BLAS
    call on one thread, no kernel."""
    with threads.limit_threads(2):
        few = threads.split_matmul(np.ones((threads.SPLIT_ROWS * 2 - 1, 4)), np.ones((4, 2)))
        mixed = threads.split_matmul(np.ones((64, 4), np.float32), np.ones((4, 2)))
    with threads.limit_threads(1):
        one = threads.split_matmul(np.ones((64, 4)), np.ones((4, 2)))
    assert spy == []
    assert np.all(few == 4.0) and np.all(one == 4.0) and np.all(mixed == 4.0)
    assert mixed.dtype == np.float64


def test_product_small_runs_on_one_blas_thread(monkeypatch, spy) -> None:
    counts: list[list[int]] = []
    real = np.matmul

    def recording(x, y, out=None):
        counts.append(_counts())
        return real(x, y, out=out)

    monkeypatch.setattr(np, "matmul", recording)
    macs = 64 * 32 * 8
    assert threads.BLAS_SERIAL_MACS <= macs < 10**6
    with threads.limit_threads(2):
        small = threads.product(np.ones((64, 32)), np.ones((32, 8)), macs, 10**6)
    assert counts and all(set(c) == {1} for c in counts) and spy == []
    assert np.all(small == 32.0)


def test_product_below_blas_threshold_sets_no_thread_count(monkeypatch, spy) -> None:
    """A product BLAS runs on one thread anyway (below BLAS_SERIAL_MACS) is one plain
    call: no blas_threads block (two library calls and a context manager, more than
    such a product costs), the same numbers."""
    entered: list[int] = []
    real = threads.blas_threads

    def recording(n):
        entered.append(n)
        return real(n)

    monkeypatch.setattr(threads, "blas_threads", recording)
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((15, 96)), rng.standard_normal((96, 1))
    out = np.empty((15, 1))
    with threads.limit_threads(2):
        entered.clear()  # (limit_threads's own block)
        tiny = threads.product(a, b, a.shape[0] * a.shape[1], 10**6, out=out)
        assert entered == []
        threads.product(a, b, threads.BLAS_SERIAL_MACS, 10**6)
        assert entered == [1]  # at the threshold: the one-thread block again
    assert tiny is out
    np.testing.assert_array_equal(tiny, a @ b)


def test_wrong_out_is_an_error_and_counts_are_restored() -> None:
    before = _counts()
    with pytest.raises((TypeError, ValueError)), threads.limit_threads(2):
        threads.split_matmul(np.ones((64, 4)), np.ones((4, 3)), np.empty((64, 3), np.int64))
    assert _counts() == before
