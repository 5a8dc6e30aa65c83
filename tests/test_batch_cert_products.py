"""The batch certificate's products written into arrays that hold no values yet.

``_Coupling.apply_folded(..., fresh=True)`` computes ``W @ u`` (or ``W |u|``) into an
array whose old contents are garbage: the first dense block of each row range writes
its product in place, the rows no block writes are zeroed (those asked for), and the
sparse rest is added last.  These tests fill the output with NaN first and compare
with a plain sparse product, folded or not, in float64 and float32, on all rows or
only some.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from resbench.batch.certificate import BatchCertifier, _Coupling, _Fold, _zero_rows
from resbench.generate import drn


@pytest.fixture(scope="module")
def coupling() -> tuple[_Coupling, sp.csr_matrix]:
    c = drn([300, 280, 10], seed=1)
    r = c.resistors
    g = 1.0 / r.value
    n = c.n_nodes
    m = sp.csr_matrix((np.r_[g, g], (np.r_[r.a, r.b], np.r_[r.b, r.a])), shape=(n, n))
    cpl = _Coupling(m)
    assert len(cpl.blocks) >= 2 and cpl.rest.nnz, "dense blocks and a sparse rest"
    return cpl, m


@pytest.mark.parametrize("absolute", [False, True])
@pytest.mark.parametrize("single", [False, True])
def test_fresh_products_equal_the_sparse_product(coupling, absolute, single) -> None:
    cpl, m = coupling
    n = m.shape[0]
    u = np.random.default_rng(4).normal(size=(n, 6))
    want = m @ (np.abs(u) if absolute else u)
    out = np.full((n, 6), np.nan)
    cpl.apply_folded(None, u, out, absolute=absolute, single=single, fresh=True)
    rtol = 1e-5 if single else 1e-12
    assert np.allclose(out, want, rtol=rtol, atol=rtol * np.abs(want).max())
    need = np.zeros(n, dtype=bool)
    need[::3] = True
    out = np.full((n, 6), np.nan)
    cpl.apply_folded(None, u, out, absolute=absolute, single=single, fresh=True, need=need)
    covered = need | np.isfinite(out).all(axis=1)
    assert covered[need].all()
    assert np.allclose(out[need], want[need], rtol=rtol, atol=rtol * np.abs(want).max())


def test_fresh_folded_products_of_a_batch() -> None:
    """Columns equal up to sign and zero columns folded (as a DRN's inputs); layers
    on whole tiles, so that the hidden rows' blocks (inputs', outputs') share their
    rows and are multiplied as one."""
    c = drn([320, 255, 10], seed=1)
    bc = BatchCertifier(c)
    cpl = bc._w_kcl
    r = c.resistors
    g = 1.0 / r.value
    n = c.n_nodes
    m = sp.csr_matrix((np.r_[g, g], (np.r_[r.a, r.b], np.r_[r.b, r.a])), shape=(n, n))
    m = sp.diags(bc._checked.astype(float)) @ m  # the KCL rows
    rng = np.random.default_rng(6)
    v = rng.normal(size=(20, n))
    v[:, 0] = 0.0
    v[:, 2:321:2] = -v[:, 1:320:2]  # the inputs in pairs x, -x, as a DRN's
    v[:, 5] = v[:, 3]
    v[:, 7:40] = 0.0  # dark inputs
    v_t = np.ascontiguousarray(v.T)
    fold = bc._fold(v, v_t)
    assert not fold.identity
    merged = [fold.merged(cpl, gi) for gi in range(len(cpl.groups))]
    assert any(m is not None for m in merged), "a hidden row group multiplied as one"
    for absolute in (False, True):
        want = m @ (np.abs(v_t) if absolute else v_t)
        out = np.full(v_t.shape, np.nan)
        cpl.apply_folded(fold, v_t, out, absolute=absolute, fresh=True)
        assert np.allclose(out, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_rows_selected_and_fresh(coupling) -> None:
    """``rows`` limits the dense blocks' rows; fresh rows of a block not computed are
    zeroed before the others are added."""
    cpl, m = coupling
    n = m.shape[0]
    u = np.random.default_rng(8).normal(size=(n, 3))
    rows = np.zeros(n, dtype=bool)
    rows[::2] = True
    out = np.full((n, 3), np.nan)
    cpl.apply_folded(None, u, out, rows=rows, fresh=True)
    want = m @ u
    assert np.allclose(out[rows], want[rows], rtol=1e-12, atol=1e-12 * np.abs(want).max())
    assert np.isfinite(out).all()


def test_zero_rows_runs() -> None:
    out = np.ones((7, 2))
    _zero_rows(out, np.array([1, 1, 0, 1, 0, 0, 1], dtype=bool))
    assert out[:, 0].tolist() == [0, 0, 1, 0, 1, 1, 0]
    _zero_rows(out, np.zeros(7, dtype=bool))
    assert out.sum() == 6.0


@pytest.mark.parametrize("absolute", [False, True])
def test_folded_sparse_rest_equals_the_sparse_product(absolute) -> None:
    """Columns of the sparse rest folded as the batch's (pairs x, -x; zero columns):
    the folded CSR product equals the plain one."""
    n = 120
    m = sp.random(n, n, density=0.2, random_state=3, format="csr")
    cpl = _Coupling(m)
    assert not cpl.blocks and cpl.rest.nnz
    rng = np.random.default_rng(9)
    u = rng.normal(size=(n, 5))
    rep = np.arange(n, dtype=np.int64)
    sig = np.ones(n)
    u[61:120:2] = -u[60:119:2]  # pairs: column 2k + 1 is minus column 2k
    rep[61:120:2] = np.arange(60, 119, 2)
    sig[61:120:2] = -1.0
    u[:50] = 0.0  # zero columns
    rep[:50] = -1
    fold = _Fold(rep, sig, False)
    assert fold.rest(cpl) is not None
    want = m @ (np.abs(u) if absolute else u)
    out = np.full((n, 5), np.nan)
    cpl.apply_folded(fold, u, out, absolute=absolute, fresh=True)
    assert np.allclose(out, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
