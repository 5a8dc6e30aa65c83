"""Batched exact finish (resbench.batch.polish.polish_batch).

Reference: the single polish (:func:`resbench.solvers.polish.polish`, itself tested
against the KKT/Lemke reference) run on each sample's own problem from the same point,
and the optimality certificate of the sample's own circuit (:func:`with_values`).
The per-sample arrays are the batch's own (resbench.batch.Network's private maps and
sweeps), so the function is tested on what the batch solver will pass it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import examples, random_circuits

import resbench.batch.polish as bp
from resbench import read_netlist, solve
from resbench._unionfind import UnionFind
from resbench.batch import Network
from resbench.batch.network import input_sources, with_values
from resbench.batch.polish import polish_batch, sample_i_scales
from resbench.certificate import certify
from resbench.errors import InputError, ResbenchError
from resbench.generate import grid
from resbench.solvers import _polish_kernels as pk
from resbench.solvers.polish import RAY_SLOPE, REL_TOL, STEP_TOL, polish

NETLISTS = Path(__file__).resolve().parent.parent / "netlists"
REL = 1e-9  # agreement with the single polish, relative to the sample's v_scale
F64 = np.dtype(np.float64)


class Batch:
    """A batch's per-sample arrays, as Network._solve_block computes them."""

    def __init__(self, net: Network, S: np.ndarray) -> None:
        p = net._problem
        self.net, self.p, self.S = net, p, S
        B = S.shape[0]
        dS = S - net._s0
        self.offsets = (
            p.offset[None, :] + (net._M @ dS.T).T
            if np.count_nonzero(net._M.toarray() if hasattr(net._M, "toarray") else net._M)
            else np.broadcast_to(p.offset, (B, p.offset.size))
        )
        self.C = net._inject(S, dS, F64)  # c(s) per sample [n, B]
        self.lo, self.hi = net._bounds(dS)
        self.ffl = net._ff_limits(dS)
        self.vs = net._v_scales(S, dS, self.C)
        self.bad = net._infeasible(dS, self.lo, self.hi)
        qn = self.C * net._inv_diag[:, None]
        u0 = np.clip(qn, self.lo, self.hi)
        if p.n_ff_diodes:
            u0 = net._feasible_starts(u0, self.lo, self.hi, self.ffl, self.bad)
        self.start = u0
        self.U = net._sweeps(
            qn, self.lo, self.hi, self.ffl, u0, self.vs, self.bad, F64, 1e-9, 10000, 0.0
        )[0]
        self.isc = sample_i_scales(p, self.C, self.vs)

    def problem(self, b: int):
        q = self.net._sample_problem(b, self.C, self.lo, self.hi, self.ffl, self.vs)
        assert q.i_scale == pytest.approx(self.isc[b], rel=1e-15)
        return q

    def run(self, U: np.ndarray, rounds: int = 1):
        return polish_batch(
            self.p, self.C, self.lo, self.hi, self.ffl, U, self.vs, self.isc, max_rounds=rounds
        )

    def voltages(self, b: int, u: np.ndarray) -> np.ndarray:
        v = np.array(self.offsets[b], dtype=float)
        free = self.p.supernode >= 0
        v[free] += u[self.p.supernode[free]]
        return v

    def circuit(self, b: int):
        return with_values(self.net.circuit, self.net.input_names, self.S[b])


def _tight_is_forest(bt: Batch, b: int, u: np.ndarray) -> bool:
    """Whether the constraints tight at u (the polish's tolerance) form a forest."""
    p = bt.p
    n = p.n
    col = lambda a: a[:, b if a.shape[1] > 1 else 0]  # noqa: E731
    vtol = REL_TOL * bt.vs[b]
    lo, hi, w = col(bt.lo), col(bt.hi), col(bt.ffl) if p.n_ff_diodes else np.zeros(0)
    uf = UnionFind(n + 1)
    edges = [
        (int(a), int(c))
        for a, c, k in zip(p.ff_anode, p.ff_cathode, range(p.n_ff_diodes), strict=True)
        if abs(u[a] - u[c] - w[k]) <= vtol
    ]
    edges += [(n, i) for i in range(n) if abs(u[i] - lo[i]) <= vtol]
    edges += [(i, n) for i in range(n) if abs(hi[i] - u[i]) <= vtol]
    return all(uf.union(a, c) for a, c in edges)


def _single_solves(bt: Batch, b: int, u: np.ndarray) -> int:
    """Solves the single polish takes from ``u``, in the arithmetic the batch path uses:
    up to ``PER_SAMPLE_MAX`` free supernodes the batch runs the single polish's kernel
    with its own small LU (``lu_max``), whose rounding can take one more step than
    LAPACK's on a degenerate working set (a cluster carrying no current: multiplier 0);
    the answer is the same."""
    p = bt.problem(b)
    if bt.p.n > bp.PER_SAMPLE_MAX:
        return polish(p, np.ascontiguousarray(u)).solves
    out = pk.polish_dense(
        p.indptr, p.indices, p.data, p.diag, p.c, p.lo, p.hi, p.ff_anode, p.ff_cathode,
        p.ff_limit, p.island, np.ascontiguousarray(u, dtype=np.float64), REL_TOL * p.v_scale,
        REL_TOL * p.v_scale, REL_TOL * p.i_scale, STEP_TOL * p.v_scale, RAY_SLOPE,
        p.n_ff_diodes == 0 and p.n_islands == 0, -1, pk.LU_MAX,
    )  # fmt: skip
    return int(out[3])


def _check(bt: Batch, U: np.ndarray, *, expect_all_optimal: bool = False, rounds: int = 1) -> int:
    """ok ⇒ U_new = polish(sample, U) and certified; optimal U with a forest ⇒ ok;
    with many rounds, every feasible sample finishes.

    Returns the number of ok samples."""
    U_new, ok = bt.run(U, rounds)
    if rounds >= 100:
        assert ok[~bt.bad].all(), np.flatnonzero(~ok & ~bt.bad)
    assert U_new.shape == U.shape and ok.shape == (U.shape[1],)
    ok = ok & ~bt.bad  # infeasible samples (diodes forced between fixed nodes, crossed
    # bounds) are the caller's: it never passes them
    for b in np.flatnonzero(~ok & ~bt.bad):
        assert np.array_equal(U_new[:, b], U[:, b])  # left as it was for the caller
        if expect_all_optimal:
            assert not _tight_is_forest(bt, b, U[:, b]), f"optimal U, forest, ok False: {b}"
        # the single polish does not finish in its first solve either (or W had a cycle)
        solves = _single_solves(bt, b, U[:, b])
        assert solves > 1 or not _tight_is_forest(bt, b, U[:, b]) or rounds > 1, b
    for b in np.flatnonzero(ok):
        ref = polish(bt.problem(b), np.ascontiguousarray(U[:, b]))
        assert ref.optimal
        err = np.max(np.abs(U_new[:, b] - ref.u), initial=0.0)
        assert err <= REL * bt.vs[b], (b, err, bt.vs[b])
        cert = certify(bt.circuit(b), bt.voltages(b, U_new[:, b]), gmin=bt.net.gmin)
        assert cert.ok, cert.summary()
    return int(ok.sum())


def _optima(bt: Batch) -> np.ndarray:
    """Each sample's exact optimum (the single polish from the sweeps' point)."""
    U = bt.U.copy()
    for b in np.flatnonzero(~bt.bad):
        r = polish(bt.problem(b), np.ascontiguousarray(bt.U[:, b]))
        assert r.optimal
        U[:, b] = r.u
    return U


# ----------------------------------------------------------------- random circuits
@settings(
    max_examples=examples(30),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(random_circuits(max_nodes=7, max_diodes=6), st.data())
def test_random_circuits_match_single_polish(circuit, data):
    try:
        solve(circuit)
        net = Network(circuit)
    except ResbenchError:
        return  # infeasible netlist, or an input source closing a loop of sources
    if net._problem.n_islands or net._problem.n == 0 or not input_sources(circuit):
        return
    B = data.draw(st.integers(1, 8), label="batch")
    fl = st.floats(-2.0, 2.0).map(lambda x: round(x * 4) / 4)
    s0 = net.default_values()
    S = np.array([[s0[j] + data.draw(fl) for j in range(net.n_inputs)] for _ in range(B)])
    bt = Batch(net, S)
    _check(bt, bt.U)  # from the sweeps' points
    _check(bt, bt.start)  # from the (generally wrong-active-set) starting points
    _check(bt, _optima(bt), expect_all_optimal=True)
    rounds = data.draw(st.sampled_from([2, 5, 200]), label="rounds")
    _check(bt, bt.start, rounds=rounds)  # the batched active-set steps


# ----------------------------------------------------------------- dc_diode_iv sweep
def _diode_iv() -> Batch:
    net = Network(read_netlist(NETLISTS / "dc_diode_iv.cir"), inputs=["v1"])
    return Batch(net, np.linspace(-2.0, 3.0, 101)[:, None])


def test_dc_diode_iv_sweep_all_exact():
    bt = _diode_iv()
    assert bt.p.n_ff_diodes == 1
    assert _check(bt, bt.U) == 101  # the sweeps find every active set: one batch solve
    assert _check(bt, _optima(bt), expect_all_optimal=True) == 101


def test_wrong_active_set_comes_back_not_ok():
    bt = _diode_iv()
    p = bt.p
    a, c = int(p.ff_anode[0]), int(p.ff_cathode[0])
    U = bt.U.copy()
    w = bt.ffl[0, 0]
    on = U[a] - U[c] >= w - 1e-9  # the diode conducts at these samples
    assert on.any() and (~on).any()
    # conducting samples moved strictly inside (diode off): the unconstrained optimum
    # violates the diode; blocking samples with the diode forced tight: λ < 0
    U[a, on] -= 0.1
    U[a, ~on] = U[c, ~on] + w
    U_new, ok = bt.run(U)
    assert not ok.any()
    assert np.array_equal(U_new, U)
    # batched active-set steps from there find every optimum
    assert _check(bt, U, rounds=100) == 101
    assert bt.run(U, None)[1].all()  # None: the polish's own iteration limit
    # and the single polish confirms that those points were not optima
    for b in (0, 100):
        assert np.max(np.abs(polish(bt.problem(b), U[:, b]).u - U[:, b])) > 1e-6


# ----------------------------------------------------------------- grids
@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grid_with_free_free_diodes(seed, dense, monkeypatch):
    if not dense:
        monkeypatch.setattr(bp, "DENSE_MAX", 0)  # the sparse LU path on the same grid
    circuit = grid(6, 7, seed=seed, free_free_diodes=True, free_free_fraction=0.3, currents=3)
    names = ["vc0", "vc1", "vhi", "vlo", "ig0"]
    names = [x for x in names if x in input_sources(circuit)]
    net = Network(circuit, inputs=names)
    rng = np.random.default_rng(seed)
    S = net.default_values()[None, :] * rng.uniform(0.5, 1.5, (12, net.n_inputs))
    S[:, names.index("vhi")] = np.abs(S[:, names.index("vhi")])
    S[:, names.index("vlo")] = -np.abs(S[:, names.index("vlo")])
    S[3] = S[2]  # two samples with the same tight set and values
    bt = Batch(net, S)
    assert bt.p.n_ff_diodes > 0
    _check(bt, bt.U)  # CD stalls on these grids: most samples need the full polish
    _check(bt, bt.start)
    _check(bt, bt.U, rounds=4)
    assert _check(bt, bt.U, rounds=200) == 12  # the batched active-set steps finish all
    assert _check(bt, _optima(bt), expect_all_optimal=True) > 0


def test_grid_shared_limits_many_samples_one_group():
    circuit = grid(5, 5, seed=3, free_free_diodes=True, free_free_fraction=0.3)
    net = Network(circuit, inputs=["vc0"])
    S = np.linspace(0.99, 1.01, 9)[:, None]  # small moves: the active set stays
    bt = Batch(net, S)
    assert bt.lo.shape[1] == 1 and bt.ffl.shape[1] == 1  # shared bounds
    assert _check(bt, _optima(bt), expect_all_optimal=True) > 0


# ----------------------------------------------------------------- edge cases
def test_islands_are_left_to_the_caller():
    from resbench.netlist import parse_netlist
    from resbench.solvers.problem import compile_problem

    series = "V1 a 0 1\nR1 a b 1k\nD1 b c dm\nR2 c d 1k\nD2 d e dm\nR3 e 0 1k"
    p = compile_problem(parse_netlist("islands\n" + series + "\n.model dm d\n.end\n"))
    assert p.n_islands == 1
    U = np.repeat(p.start[:, None], 2, axis=1)
    C = np.repeat(p.c[:, None], 2, axis=1)
    U_new, ok = polish_batch(
        p, C, p.lo[:, None], p.hi[:, None], p.ff_limit[:, None], U, np.ones(2), np.ones(2)
    )
    assert not ok.any() and np.array_equal(U_new, U)


def test_bad_shapes_are_clear_errors():
    bt = _diode_iv()
    with pytest.raises(InputError, match="U must be"):
        polish_batch(bt.p, bt.C, bt.lo, bt.hi, bt.ffl, bt.U[:1], bt.vs, bt.isc)
    with pytest.raises(InputError, match="C must be"):
        polish_batch(bt.p, bt.C[:, :3], bt.lo, bt.hi, bt.ffl, bt.U, bt.vs, bt.isc)
    with pytest.raises(InputError, match="v_scale"):
        polish_batch(bt.p, bt.C, bt.lo, bt.hi, bt.ffl, bt.U, bt.vs[:3], bt.isc)
    with pytest.raises(InputError, match="max_rounds"):
        bt.run(bt.U, 0)


def test_empty_batch_and_non_finite_samples():
    bt = _diode_iv()
    U_new, ok = polish_batch(
        bt.p, bt.C[:, :0], bt.lo, bt.hi, bt.ffl, bt.U[:, :0], bt.vs[:0], bt.isc[:0]
    )
    assert U_new.shape == (bt.p.n, 0) and ok.shape == (0,)
    U = bt.U.copy()
    U[0, 5] = np.nan
    U_new, ok = bt.run(U)
    assert not ok[5] and ok[np.arange(101) != 5].all()


def test_kernels_run_with_their_declared_signatures():
    """After the warm-up (which compiles the declared signatures), a batch polish adds
    no specialisation: the callers pass exactly the declared argument types."""
    from resbench import _jit

    _jit.warm_up()
    kernels = (
        bp._forest,
        bp._residual,
        bp._sum_clusters,
        bp._contract_dense,
        bp._tree_offsets,
        bp._tree_multipliers,
    )
    before = [set(k.signatures) for k in kernels]
    bt = _diode_iv()
    bt.run(bt.start, 50)
    net = Network(grid(5, 5, seed=1, free_free_diodes=True), inputs=["vc0"])
    bt = Batch(net, np.linspace(0.5, 1.5, 5)[:, None])
    assert bt.run(bt.U, 100)[1].all()
    assert [set(k.signatures) for k in kernels] == before
