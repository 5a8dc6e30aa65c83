"""The fold's grouping in one kernel (resbench.batch._kernels.group_columns): the same
groups, numbers and folded inputs as the numpy steps it replaces (kept as
Network._group_numpy for large batches and key collisions), so every answer is
unchanged bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from resbench.batch import Network
from resbench.batch import network as nw
from resbench.batch._kernels import group_columns, scan_columns
from resbench.generate import drn


def _inputs(seed: int, B: int = 9, k: int = 40) -> np.ndarray:
    """Columns with few distinct values, zeros, exact duplicates and negations."""
    rng = np.random.default_rng(seed)
    S = rng.choice([0.0, 0.25, 0.5, 1.0, -0.5], size=(B, k))
    S[:, rng.integers(0, k, 5)] = 0.0
    for _ in range(12):
        i, j = rng.integers(0, k, 2)
        S[:, i] = S[:, j] * rng.choice([-1.0, 1.0])
    S[:, -1] = np.concatenate([[1.0, -1.0], np.zeros(B - 2)])  # raw key near cancellation
    return S


def _scan(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sign, keys, _ = scan_columns(S, Network._probe_vector(S.shape[0]), np.arange(S.shape[1]), True)
    return sign, keys


@pytest.mark.parametrize("seed", range(6))
def test_group_kernel_equals_the_numpy_steps(seed: int) -> None:
    S = _inputs(seed)
    sign, keys = _scan(S)
    ok, *got = group_columns(S, sign, keys)
    want = Network._group_numpy(S, sign, keys)
    assert ok
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape and np.array_equal(g, w)
    nz, group, first, _ = got
    assert first.size < nz.size  # the draw did fold something
    # every column equals its group's first column up to its sign
    for t, j in enumerate(nz):
        r = first[group[t]]
        assert np.array_equal(S[:, j] * sign[j], S[:, r] * sign[r])


def test_group_kernel_of_zero_columns_only() -> None:
    S = np.zeros((4, 6))
    sign, keys = _scan(S)
    ok, nz, group, first, SF = group_columns(S, sign, keys)
    assert ok and nz.size == group.size == first.size == 0 and SF.shape == (4, 0)
    assert Network._group_numpy(S, sign, keys)[0].size == 0


def test_group_kernel_reports_a_key_collision() -> None:
    """Keys forged equal: one group when the columns are equal, else ``ok`` False (the
    caller then confirms neighbours exactly, as before)."""
    S = np.array([[1.0, 2.0, 1.0], [3.0, 4.0, 3.0]])
    sign = np.ones(3)
    assert not group_columns(S, sign, np.ones(3))[0]
    S[:, 1] = S[:, 0]
    ok, nz, group, first, SF = group_columns(S, sign, np.ones(3))
    assert ok and list(group) == [0, 0, 0] and list(first) == [0]
    assert np.array_equal(SF, S[:, :1])


def test_small_and_large_batch_paths_fold_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel (small passes) and the numpy path (large ones) give the same A_f and
    S_fᵀ, bit for bit, in both precisions."""
    monkeypatch.setattr(nw, "FOLD_MIN_ROWS", 0)
    c = drn([16, 9, 3], seed=4, bias=True)
    net = Network(c, inputs=[n for n in c.vsources.names if n.startswith("vin")])
    rng = np.random.default_rng(2)
    x = rng.choice([0.0, 0.5, 1.0, 0.125], size=(20, 8))
    x[:, 3] = x[:, 1]
    S = np.concatenate([x, -x], axis=1)
    small = nw.PASS_PARALLEL
    assert S.size < small
    for dt in (np.dtype(np.float64), np.dtype(np.float32)):
        Af, ST, vmax = net._folded_scan(S, dt)
        monkeypatch.setattr(nw, "PASS_PARALLEL", 0)
        net._fold_cache.clear()
        Af2, ST2, vmax2 = net._folded_scan(S, dt)
        monkeypatch.setattr(nw, "PASS_PARALLEL", small)
        assert Af.shape[1] < 16 and Af.dtype == Af2.dtype == ST.dtype == dt
        assert np.array_equal(Af, Af2) and np.array_equal(ST, ST2)
        assert np.array_equal(vmax, vmax2)


def test_limit_threads_sets_and_restores_the_libraries_counts() -> None:
    """resbench.threads.limit_threads (each BLAS library's own thread-count calls, the
    libraries looked up once): inside the block numba's and every BLAS library's count
    is n clipped to 1 … numba's maximum, as threadpoolctl reads them afresh; both are
    restored after, also when the block raises."""
    import numba
    from threadpoolctl import threadpool_info

    from resbench.threads import limit_threads

    def blas() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = (numba.get_num_threads(), blas())
    top = numba.config.NUMBA_NUM_THREADS
    for n, want in ((1, 1), (2, min(2, top)), (10_000, top)):
        with limit_threads(n):
            assert numba.get_num_threads() == want
            assert set(blas()) <= {want}
        assert (numba.get_num_threads(), blas()) == before
    with limit_threads(None):
        assert (numba.get_num_threads(), blas()) == before
    with pytest.raises(RuntimeError), limit_threads(1):
        raise RuntimeError("inside")
    assert (numba.get_num_threads(), blas()) == before
