"""The factorisation's first step (direct._factorize_schur): an independent set of
low-degree nodes eliminated in numba, the Schur complement on the rest factorised.  The
set is independent and maximal, the complement is the dense formula's, and solves
through it (one right-hand side and several, both backends, in the returned order) are
the plain factorisation's; singular systems still raise."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from resbench.certificate import certify
from resbench.generate import grid, powergrid, star
from resbench.solution import CONVERGED
from resbench.solvers import _direct_kernels as dk
from resbench.solvers import direct
from resbench.solvers.cd import solve_cd
from resbench.solvers.problem import compile_problem

BACKENDS = ["splu"] + (["cholmod"] if direct.backend() == "cholmod" else [])


def _spd(n: int, extra: int, rng: np.random.Generator, hub: bool = False) -> sp.csc_matrix:
    """A grounded weighted graph Laplacian (an M-matrix, SPD): a random tree plus
    ``extra`` random edges (with a hub joined to every node when ``hub``), a leak to
    ground at a tenth of the nodes; both triangles, sorted, no duplicates."""
    a = np.r_[np.arange(1, n), rng.integers(0, n, extra)]
    b = np.r_[[rng.integers(0, k) for k in range(1, n)], rng.integers(0, n, extra)]
    if hub:
        a = np.r_[a, np.arange(1, n)]
        b = np.r_[b, np.zeros(n - 1, dtype=np.int64)]
    keep = a != b
    g = rng.uniform(0.1, 10.0, int(keep.sum()))
    w = sp.coo_matrix((g, (a[keep], b[keep])), shape=(n, n)).tocsr()
    w = w + w.T
    leak = np.where(rng.random(n) < 0.1, rng.uniform(0.1, 1.0, n), 0.0)
    leak[0] += 1.0
    m = (sp.diags(np.asarray(w.sum(axis=1)).ravel() + leak) - w).tocsc()
    m.sum_duplicates()
    m.sort_indices()
    return m


def _args(m: sp.csc_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data.astype(np.float64)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("max_degree", [2, 4, 10])
def test_independent_set_is_independent_maximal_and_low_degree(seed, max_degree):
    rng = np.random.default_rng(seed)
    m = _spd(300, int(rng.integers(0, 600)), rng, hub=seed % 3 == 0)
    ptr, idx, _ = _args(m)
    inset = dk.independent_set(ptr, idx, max_degree)
    deg = np.diff(ptr) - 1  # the diagonal is stored
    assert np.all(deg[inset] <= max_degree)
    rows = np.repeat(np.arange(m.shape[0]), np.diff(ptr))
    off = rows != idx
    assert not np.any(inset[rows[off]] & inset[idx[off]])  # no edge inside the set
    # maximal: an eligible node outside it has a neighbour inside
    touched = np.zeros(m.shape[0], dtype=bool)
    touched[rows[off][inset[idx[off]]]] = True
    assert np.all(inset | touched | (deg > max_degree))
    assert np.array_equal(inset, dk.independent_set(ptr, idx, max_degree))  # deterministic


@pytest.mark.parametrize("seed", range(8))
def test_schur_complement_is_the_dense_formula(seed):
    rng = np.random.default_rng(seed)
    m = _spd(200, int(rng.integers(0, 400)), rng, hub=seed % 2 == 0)
    ptr, idx, val = _args(m)
    inset = dk.independent_set(ptr, idx, 10)
    sptr, sidx, sval, bnodes, inodes, d_i = dk.schur_independent(ptr, idx, val, inset)
    assert np.array_equal(bnodes, np.flatnonzero(~inset))
    assert np.array_equal(inodes, np.flatnonzero(inset))
    dense = m.toarray()
    m_ii = dense[np.ix_(inodes, inodes)]
    assert np.array_equal(m_ii, np.diag(d_i))  # independent: the block is diagonal
    want = dense[np.ix_(bnodes, bnodes)] - dense[np.ix_(bnodes, inodes)] @ (
        dense[np.ix_(inodes, bnodes)] / d_i[:, None]
    )
    s_mat = sp.csr_matrix((sval, sidx, sptr), shape=(bnodes.size, bnodes.size))
    assert s_mat.has_sorted_indices
    got = s_mat.toarray()
    assert np.allclose(got, want, rtol=0.0, atol=1e-12 * np.abs(dense).max())
    assert np.allclose(got, got.T, rtol=0.0, atol=1e-12 * np.abs(dense).max())


def _mesh(rows: int, cols: int, rng: np.random.Generator) -> sp.csc_matrix:
    p = compile_problem(grid(rows, cols, clamps=False, seed=int(rng.integers(1000))))
    mat, _ = direct.reduced_system(p, np.ones(p.n, dtype=bool), p.start)
    return mat


CASES = {
    "mesh": lambda rng: _mesh(60, 60, rng),
    "random": lambda rng: _spd(3000, 2500, rng),
    "hub": lambda rng: _spd(2500, 500, rng, hub=True),
}


@pytest.mark.parametrize("use", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_solves_through_the_schur_complement_match_the_plain_factor(monkeypatch, use, case):
    rng = np.random.default_rng(7)
    m = CASES[case](rng)
    n = m.shape[0]
    assert n >= direct.SCHUR_MIN
    solve_p, perm = direct.factorize_ordered(m, use=use)
    assert perm is not None and np.array_equal(np.sort(perm), np.arange(n))
    inset = dk.independent_set(*_args(m)[:2], direct.SCHUR_MAX_DEGREE)
    ni = int(np.count_nonzero(inset))
    assert ni >= direct.SCHUR_MIN_SHARE * n
    assert np.array_equal(perm[n - ni :], np.flatnonzero(inset))  # the set comes last
    monkeypatch.setattr(direct, "SCHUR_MIN", math.inf)
    plain = direct.factorize(m, use=use)
    monkeypatch.undo()
    schur = direct.factorize(m, use=use)
    b1 = rng.standard_normal(n)
    b3 = np.asfortranarray(rng.standard_normal((n, 3)))
    for b in (b1, b3):
        x, y = schur(b), plain(b)
        assert x.shape == b.shape
        assert np.max(np.abs(x - y)) <= 1e-10 * np.max(np.abs(y))
        assert np.max(np.abs(m @ x - b)) <= 1e-10 * np.max(np.abs(b)) * np.abs(m.data).max()
    # in the returned order: row j of the solve is node perm[j]
    xp = np.asarray(solve_p(b1[perm]))
    assert np.max(np.abs(xp - plain(b1)[perm])) <= 1e-10 * np.max(np.abs(xp))
    cols = np.asfortranarray(b3[perm])
    assert np.max(np.abs(np.asarray(solve_p(cols)) - plain(b3)[perm])) <= 1e-10 * np.max(
        np.abs(plain(b3))
    )


def test_no_schur_below_its_size_or_share():
    """Below SCHUR_MIN rows, and where few nodes have a low degree (a dense random
    graph: degrees ~24), the plain factorisation (CHOLMOD's own order: perm None)."""
    rng = np.random.default_rng(3)
    small = _mesh(30, 30, rng)
    assert small.shape[0] < direct.SCHUR_MIN
    assert direct._factorize_schur(_mesh(60, 60, rng).tocsc(), "splu") is not None
    dense = _spd(3000, 36000, rng)
    ni = int(np.count_nonzero(dk.independent_set(*_args(dense)[:2], direct.SCHUR_MAX_DEGREE)))
    assert ni < direct.SCHUR_MIN_SHARE * dense.shape[0]
    assert direct._factorize_schur(dense, "splu") is None
    if direct.backend() == "cholmod":
        assert direct.factorize_ordered(small, use="cholmod")[1] is None
        assert direct.factorize_ordered(dense, use="cholmod")[1] is None


@pytest.mark.parametrize("use", BACKENDS)
def test_singular_systems_still_raise(use):
    """A mesh beside a floating pair (exactly singular: one of the pair is eliminated,
    the other's pivot in S is 0) and beside a node with no conductance at all (a zero
    pivot in the eliminated set) raise LinAlgError."""
    mesh = _mesh(60, 60, np.random.default_rng(1))
    pair = sp.csc_matrix(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    for extra in (pair, sp.csc_matrix((1, 1))):
        m = sp.block_diag([mesh, extra]).tocsc()
        m.sort_indices()
        with pytest.raises(np.linalg.LinAlgError):
            direct.factorize(m, use=use)(np.ones(m.shape[0]))


@pytest.mark.parametrize(
    "make",
    [
        lambda: grid(60, 60, seed=4),  # clamped: active-set steps through the border
        lambda: powergrid(60, 100, layers=3, via_sources=True, seed=2),  # linear
        lambda: star(5000, seed=2),  # S is the hub
    ],
)
def test_solves_through_the_schur_complement_end_certified(monkeypatch, make):
    """Whole solves (the finish factors ≥ SCHUR_MIN free nodes) end certified, with the
    same sweeps, steps and factorisations as without the elimination, and the same
    voltages to round-off."""
    c = make()
    real = direct._factorize_schur
    used = []

    def spy(csc, use, order=None):
        out = real(csc, use, order)
        used.append(out is not None)
        return out

    monkeypatch.setattr(direct, "_factorize_schur", spy)
    sol = solve_cd(c)
    assert sol.status == CONVERGED and sol.info["direct"], sol.info
    assert used and all(used)  # every factorisation went through the elimination
    assert certify(c, sol.voltages).ok
    monkeypatch.setattr(direct, "SCHUR_MIN", math.inf)
    plain = solve_cd(c)
    for key in ("direct_iterations", "direct_solves"):
        assert sol.info[key] == plain.info[key]
    assert sol.sweeps == plain.sweeps
    scale = max(1.0, float(np.max(np.abs(plain.voltages))))
    assert np.max(np.abs(sol.voltages - plain.voltages)) <= 1e-9 * scale


def test_border_steps_through_the_schur_complement(monkeypatch):
    """The finish's factor reuse with the factor's order being the elimination's
    (B in S's order, then I): a step a few nodes away is the reduced system's answer."""
    p = compile_problem(grid(50, 50, seed=6))
    rng = np.random.default_rng(0)
    u0 = rng.uniform(-0.3, 0.3, p.n)
    free0 = rng.random(p.n) < 0.9
    assert free0.sum() >= direct.SCHUR_MIN
    base = direct._Base(p, free0, u0, None)
    free = free0.copy()
    flip = rng.choice(p.n, size=6, replace=False)
    free[flip] = ~free[flip]
    got = base.solve(free, u0, kmax=64)
    monkeypatch.setattr(direct, "SCHUR_MIN", math.inf)
    want = direct._Base(p, free, u0, None)
    out = u0.copy()
    out[free] = want.x
    assert got is not None and np.max(np.abs(got - out)) <= 1e-10


def _column_counts(m: sp.csc_matrix, perm: np.ndarray) -> np.ndarray:
    """The column counts of L for the elimination order ``perm`` (CHOLMOD, simplicial,
    on P M Pᵀ in its natural order)."""
    from sksparse.cholmod import analyze

    mp = m[perm][:, perm].tocsc()
    low = analyze(mp, mode="simplicial", ordering_method="natural").cholesky(mp).L()
    return np.diff(low.tocsc().indptr)


@pytest.mark.skipif(direct.backend() != "cholmod", reason="CHOLMOD not installed")
@pytest.mark.parametrize("seed", range(3))
def test_order_minima_first_makes_the_orders_fill(seed):
    """The nodes a nested-dissection order eliminates before all their neighbours are
    independent, ~44 % of a mesh (its leaves put an independent set first), and
    eliminating them first, then the others in the order's sequence, gives exactly
    the order's column counts (the same fill, column by column up to the move)."""
    rng = np.random.default_rng(seed)
    m = _mesh(50, 70, rng).tocsc()
    m.sort_indices()
    ptr, idx, _ = _args(m)
    perm, _ = dk.nested_dissection(ptr, idx, direct.ND_LEAF, math.inf)
    mins = dk.order_minima(ptr, idx, perm, direct.SCHUR_MAX_DEGREE)
    rows = np.repeat(np.arange(m.shape[0]), np.diff(ptr))
    off = rows != idx
    assert not np.any(mins[rows[off]] & mins[idx[off]])
    rank = np.empty(m.shape[0], dtype=np.int64)
    rank[perm] = np.arange(m.shape[0])
    assert np.all(rank[rows[off][mins[rows[off]]]] < rank[idx[off][mins[rows[off]]]])
    assert mins.mean() >= 0.4
    rest = np.flatnonzero(~mins)
    first = np.r_[np.flatnonzero(mins), rest[np.argsort(rank[rest], kind="stable")]]
    nd_counts = _column_counts(m, perm)
    first_counts = _column_counts(m, first)
    # column counts belong to nodes: compare node by node
    by_node_nd = np.empty(m.shape[0], dtype=np.int64)
    by_node_nd[perm] = nd_counts
    by_node_first = np.empty(m.shape[0], dtype=np.int64)
    by_node_first[first] = first_counts
    assert np.array_equal(by_node_nd, by_node_first)
