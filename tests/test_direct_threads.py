"""The direct finish's thread settings (resbench.solvers.direct.serial_blas): CHOLMOD's
OpenBLAS runs on one thread inside for systems up to SERIAL_BLAS_MAX rows and keeps its
threads above; the count is restored after, even when the body raises; and solves made
through factorize give the same answer with the BLAS's threads as without."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from resbench.solvers import direct

needs_openblas = pytest.mark.skipif(direct._OPENBLAS is None, reason="no OpenBLAS loaded")


@needs_openblas
def test_serial_blas_sets_one_thread_and_restores():
    """Small systems: one thread inside, the old count after (also after a raise);
    large ones: the count untouched inside."""
    lib = direct._OPENBLAS
    before = lib.openblas_get_num_threads()
    lib.openblas_set_num_threads(2)
    try:
        with direct.serial_blas(10):
            assert lib.openblas_get_num_threads() == 1
        assert lib.openblas_get_num_threads() == 2
        with pytest.raises(RuntimeError), direct.serial_blas(10):
            raise RuntimeError("inside")
        assert lib.openblas_get_num_threads() == 2
        with direct.serial_blas(direct.SERIAL_BLAS_MAX + 1):
            assert lib.openblas_get_num_threads() == 2
    finally:
        lib.openblas_set_num_threads(before)


def test_serial_blas_without_openblas_is_a_no_op(monkeypatch):
    """Where no OpenBLAS is loaded (another BLAS, or SuperLU only) the context does
    nothing and the body runs."""
    monkeypatch.setattr(direct, "_OPENBLAS", None)
    ran = []
    with direct.serial_blas(10):
        ran.append(True)
    assert ran == [True]


@pytest.mark.skipif(direct.backend() != "cholmod", reason="CHOLMOD not installed")
def test_factorize_solves_agree_with_splu_on_both_sides_of_the_limit(monkeypatch):
    """A 40×40 mesh solved through CHOLMOD with its BLAS serial and with its threads
    (SERIAL_BLAS_MAX 0) agrees with SuperLU to round-off, one column and several."""
    rng = np.random.default_rng(3)
    n = 40
    idx = np.arange(n * n).reshape(n, n)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    g = rng.uniform(0.5, 2.0, a.size)
    off = sp.coo_matrix((g, (a, b)), shape=(n * n, n * n))
    off = off + off.T
    lap = (sp.diags(np.asarray(off.sum(axis=1)).ravel() + 0.01) - off).tocsc()
    rhs = rng.standard_normal((n * n, 3))
    ref = direct.factorize(lap, use="splu")(rhs)
    for limit in (direct.SERIAL_BLAS_MAX, 0):
        monkeypatch.setattr(direct, "SERIAL_BLAS_MAX", limit)
        solve = direct.factorize(lap, use="cholmod")
        np.testing.assert_allclose(solve(rhs), ref, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(solve(rhs[:, 0]), ref[:, 0], rtol=1e-9, atol=1e-12)
