"""The direct finish's factorisation details (resbench.solvers.direct): the nested-
dissection order (a permutation on any graph; fill no worse than AMD's on meshes; given
up where the levels are poor cuts), solves through it against SuperLU, the serial
OpenMP regions, the border's cost limit, and whole solves on a mesh large enough to use
the order, against the same solve with AMD's order."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resbench.certificate import certify
from resbench.generate import chain, grid, powergrid, star
from resbench.solution import CONVERGED
from resbench.solvers import _direct_kernels as dk
from resbench.solvers import direct
from resbench.solvers.cd import solve_cd
from resbench.solvers.problem import compile_problem

needs_cholmod = pytest.mark.skipif(direct.backend() != "cholmod", reason="CHOLMOD not installed")


def _laplacian(rows: int, cols: int, rng: np.random.Generator, holes: float = 0.0) -> sp.csc_matrix:
    """An SPD mesh matrix (random conductances, a leak to ground on every node),
    with a share ``holes`` of its edges removed (possibly disconnecting it)."""
    idx = np.arange(rows * cols).reshape(rows, cols)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(a.size) >= holes
    a, b = a[keep], b[keep]
    g = rng.uniform(0.1, 10.0, a.size)
    n = rows * cols
    off = sp.coo_matrix(
        (np.concatenate([g, g]), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n)
    )
    deg = np.asarray(off.sum(axis=1)).ravel() + rng.uniform(1e-3, 1.0, n)
    return (sp.diags(deg) - off).tocsc()


def _order(m: sp.csc_matrix, leaf: int = 4, give_up: float = math.inf) -> tuple[np.ndarray, float]:
    m = m.tocsc()
    m.sort_indices()
    return dk.nested_dissection(
        m.indptr.astype(np.int64), m.indices.astype(np.int32), leaf, give_up
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 40),
    holes=st.sampled_from([0.0, 0.1, 0.5, 0.9]),
    leaf=st.sampled_from([1, 2, 4, 64]),
    seed=st.integers(0, 2**16),
)
def test_nested_dissection_is_a_permutation(rows, cols, holes, leaf, seed):
    """Any mesh, connected or not, any leaf size: every node is ordered exactly once."""
    m = _laplacian(rows, cols, np.random.default_rng(seed), holes)
    perm, worst = _order(m, leaf)
    assert perm.dtype == np.int64
    assert np.array_equal(np.sort(perm), np.arange(rows * cols))
    assert worst >= 0.0


def test_nested_dissection_on_chains_stars_and_cliques():
    """Degenerate graphs: a path, a star (one hub), a clique, a single node, no node."""
    for m in (
        sp.diags([np.full(999, -1.0), np.full(1000, 3.0), np.full(999, -1.0)], [-1, 0, 1]),
        sp.csc_matrix(np.ones((30, 30)) + 30 * np.eye(30)),
        sp.csc_matrix(np.ones((1, 1))),
    ):
        perm, _ = _order(sp.csc_matrix(m))
        assert np.array_equal(np.sort(perm), np.arange(m.shape[0]))
    hub = sp.lil_matrix((2001, 2001))
    hub[0, 1:] = -1.0
    hub[1:, 0] = -1.0
    hub.setdiag(3000.0)
    perm, _ = _order(hub.tocsc())
    assert np.array_equal(np.sort(perm), np.arange(2001))
    empty = dk.nested_dissection(np.zeros(1, np.int64), np.zeros(0, np.int32), 4, math.inf)
    assert empty[0].size == 0


def _flops(m: sp.csc_matrix, perm: np.ndarray | None) -> float:
    """Σ (column count of L)²: the factorisation's flops, up to a constant."""
    from sksparse.cholmod import analyze

    if perm is None:
        low = analyze(m, mode="simplicial", ordering_method="amd").cholesky(m).L()
    else:
        mp = m[perm][:, perm].tocsc()
        low = analyze(mp, mode="simplicial", ordering_method="natural").cholesky(mp).L()
    return float((np.diff(low.tocsc().indptr).astype(float) ** 2).sum())


@needs_cholmod
def test_nested_dissection_fills_less_than_amd_on_a_mesh():
    """The point of the order: on a 250×250 mesh the factor costs fewer flops than
    with AMD's order (2.0e8 vs 2.5e8 here, the gap grows with the mesh), and its
    largest separator is about √n (the measure nd_order keeps it by)."""
    m = _laplacian(250, 250, np.random.default_rng(0))
    perm, worst = _order(m, direct.ND_LEAF)
    assert worst <= 1.1
    assert _flops(m, perm) < 0.85 * _flops(m, None)


def _reduced(circuit) -> sp.csc_matrix:
    p = compile_problem(circuit)
    m, _ = direct.reduced_system(p, np.ones(p.n, dtype=bool), p.start)
    return m


def test_nd_order_only_for_mesh_like_matrices():
    """Meshes get the order; chains and stars (AMD's order is optimal there), small
    matrices, and the 3-layer power grid (its long upper-layer wires make the levels
    thick cuts: the split gives up) keep AMD's."""
    assert direct.nd_order(_reduced(grid(230, 230, clamps=False))) is not None
    assert direct.nd_order(_reduced(grid(200, 200, clamps=False))) is None  # < ND_MIN
    assert direct.nd_order(_reduced(chain(10_000))) is None
    assert direct.nd_order(_reduced(star(10_000))) is None
    pg = _reduced(powergrid(120, 200, layers=3, via_sources=True))
    assert direct.nd_order(pg) is None
    _, worst = _order(pg, direct.ND_LEAF, direct.ND_GIVE_UP)
    assert worst > direct.ND_GIVE_UP


@needs_cholmod
@pytest.mark.parametrize("holes", [0.0, 0.3])
def test_factorize_through_the_order_matches_splu(monkeypatch, holes):
    """Solves with the order (one right-hand side and several) agree with SuperLU's
    (without the independent set's elimination, which would leave a Schur complement
    below ND_MIN rows: tests/test_direct_schur.py)."""
    monkeypatch.setattr(direct, "SCHUR_MIN", math.inf)
    m = _laplacian(230, 230, np.random.default_rng(3), holes)
    assert direct.nd_order(m) is not None or holes > 0
    rng = np.random.default_rng(4)
    b1 = rng.standard_normal(m.shape[0])
    b3 = rng.standard_normal((m.shape[0], 3))
    chol = direct.factorize(m, use="cholmod")
    lu = direct.factorize(m, use="splu")
    for b in (b1, b3):
        x, y = chol(b), lu(b)
        assert x.shape == b.shape
        assert np.max(np.abs(x - y)) <= 1e-10 * np.max(np.abs(y))
        assert np.max(np.abs(m @ x - b)) <= 1e-10 * np.max(np.abs(b))


@needs_cholmod
def test_factorize_through_the_order_reports_singular_matrices():
    """A mesh beside a floating pair of nodes (a 2×2 block with no leak: exactly
    singular) raises, as without the order."""
    mesh = _laplacian(230, 230, np.random.default_rng(5))
    m = sp.block_diag([mesh, sp.csc_matrix(np.array([[1.0, -1.0], [-1.0, 1.0]]))]).tocsc()
    assert direct.nd_order(m) is not None
    with pytest.raises(np.linalg.LinAlgError):
        direct.factorize(m, use="cholmod")


def test_serial_openmp_restores_the_runtime():
    """Inside, OpenMP regions are serial (max-active-levels 0); after, as before, even
    when the body raises."""
    gomp = direct._GOMP
    if gomp is None:
        with direct.serial_openmp():
            pass
        return
    before = gomp.omp_get_max_active_levels()
    with direct.serial_openmp():
        assert gomp.omp_get_max_active_levels() == 0
    assert gomp.omp_get_max_active_levels() == before
    with pytest.raises(RuntimeError), direct.serial_openmp():
        raise RuntimeError("inside")
    assert gomp.omp_get_max_active_levels() == before


def test_border_limit_is_a_function_of_the_size():
    """The border's limit: BORDER_MAX at most, smaller where k column solves would cost
    a factorisation's share (about 20 on 1e4–1e5-node meshes), never negative."""
    small = compile_problem(grid(6, 6))
    mesh = compile_problem(grid(300, 300))
    assert 0 <= direct.border_limit(small) <= direct.BORDER_MAX
    assert 10 <= direct.border_limit(mesh) < direct.BORDER_MAX
    assert direct.border_limit(mesh) == direct.border_limit(compile_problem(grid(300, 300)))


def test_mesh_solves_agree_with_amd_order(monkeypatch):
    """A 230×230 mesh (52,900 nodes: without the independent set's elimination the
    finish factors through the nested-dissection order) solved directly ends certified,
    with the same sweeps and the same voltages (to round-off) as with AMD's order, and
    as with the elimination (its Schur complement, 26k rows, gets AMD's order).
    (Clamped: the same, through the border's column solves, but 30 s under load;
    tests/test_direct.py covers the active-set steps on small nets.)"""
    c = grid(230, 230, seed=3, clamps=False, currents=300)
    schur = solve_cd(c)
    monkeypatch.setattr(direct, "SCHUR_MIN", math.inf)
    sol = solve_cd(c)
    assert sol.status == CONVERGED and sol.info["direct"], sol.info
    assert certify(c, sol.voltages).ok
    monkeypatch.setattr(direct, "ND_MIN", 10**12)
    amd = solve_cd(c)
    assert amd.status == CONVERGED and amd.sweeps == sol.sweeps == schur.sweeps
    scale = max(1.0, float(np.max(np.abs(amd.voltages))))
    for other in (sol, schur):
        assert np.max(np.abs(other.voltages - amd.voltages)) <= 1e-9 * scale
