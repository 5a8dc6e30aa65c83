"""The batch polish of small problems, one numba call for every sample (``.dc`` sweeps).

:func:`resbench.batch.polish.polish_batch` sends problems of at most ``PER_SAMPLE_MAX``
free supernodes to ``polish_dense_batch``: the single polish's steps per sample, in
work arrays shared by the batch, with contracted systems of a few unknowns solved by
an unblocked LU (``_lu_solve``) instead of LAPACK.  References: the single polish
(``polish``, itself tested against the KKT reference) and the grouped batch path that
larger problems take (the same function with ``PER_SAMPLE_MAX = 0``): the same verdict
per sample, the same point to round-off, and the optimality certificate of each
sample's own circuit.
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
from resbench.batch import Network
from resbench.batch.dc import dc_points, run_dc
from resbench.batch.network import input_sources, with_values
from resbench.batch.polish import polish_batch, sample_i_scales
from resbench.certificate import certify
from resbench.errors import ResbenchError
from resbench.solvers import _polish_kernels as pk
from resbench.solvers.polish import polish

NETLISTS = Path(__file__).resolve().parent.parent / "netlists"
REL = 1e-9  # agreement between the paths, relative to the sample's v_scale


def _batch(net: Network, S: np.ndarray):
    """A batch's per-sample arrays and its sweeps' points, as Network._solve_block
    computes them (its private maps: the function is tested on what it is passed)."""
    dS = S - net._s0
    C = net._inject(S, dS, np.dtype(np.float64))
    lo, hi = net._bounds(dS)
    ffl = net._ff_limits(dS)
    vs = net._v_scales(S, dS, C)
    bad = net._infeasible(dS, lo, hi)
    u0 = np.clip(C * net._inv_diag[:, None], lo, hi)
    if net._problem.n_ff_diodes:
        u0 = net._feasible_starts(u0, lo, hi, ffl, bad)
    qn = C * net._inv_diag[:, None]
    U = net._sweeps(qn, lo, hi, ffl, u0, vs, bad, np.dtype(np.float64), 1e-9, 10000, 0.0)[0]
    return C, lo, hi, ffl, vs, sample_i_scales(net._problem, C, vs), bad, u0, U


def _voltages(net: Network, S: np.ndarray, b: int, u: np.ndarray) -> np.ndarray:
    p = net._problem
    v = p.offset + net._M @ (S[b] - net._s0)
    free = p.supernode >= 0
    v = np.array(v, dtype=float)
    v[free] += u[p.supernode[free]]
    return v


@settings(max_examples=examples(30), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_circuits(max_nodes=7, max_diodes=6), st.data())
def test_per_sample_kernel_matches_groups_and_single_polish(circuit, data) -> None:
    try:
        solve(circuit)
        net = Network(circuit)
    except ResbenchError:
        return  # infeasible netlist, or an input source closing a loop of sources
    p = net._problem
    if p.n_islands or p.n == 0 or not input_sources(circuit):
        return
    assert p.n <= bp.PER_SAMPLE_MAX  # the per-sample kernel's case
    B = data.draw(st.integers(1, 8), label="batch")
    fl = st.floats(-2.0, 2.0).map(lambda x: round(x * 4) / 4)
    s0 = net.default_values()
    S = np.array([[s0[j] + data.draw(fl) for j in range(net.n_inputs)] for _ in range(B)])
    C, lo, hi, ffl, vs, isc, bad, u0, U = _batch(net, S)
    rounds = data.draw(st.sampled_from([1, 3, None]), label="rounds")
    for start in (U, u0):
        got, ok = polish_batch(p, C, lo, hi, ffl, start, vs, isc, max_rounds=rounds)
        with pytest.MonkeyPatch.context() as m:  # the grouped path, as larger problems
            m.setattr(bp, "PER_SAMPLE_MAX", 0)
            grouped, ok_g = polish_batch(p, C, lo, hi, ffl, start, vs, isc, max_rounds=rounds)
        if rounds is None:  # the polish's own limit: every feasible sample finishes
            assert ok[~bad].all() and ok_g[~bad].all()
        for b in np.flatnonzero(~ok):
            assert np.array_equal(got[:, b], start[:, b])  # left to the caller
        for b in np.flatnonzero(ok & ~bad):
            q = net._sample_problem(b, C, lo, hi, ffl, vs)
            ref = polish(q, np.ascontiguousarray(start[:, b]))
            assert ref.optimal
            assert np.max(np.abs(got[:, b] - ref.u), initial=0.0) <= REL * vs[b]
            if ok_g[b]:
                assert np.max(np.abs(got[:, b] - grouped[:, b]), initial=0.0) <= REL * vs[b]
            sample = with_values(net.circuit, net.input_names, S[b])
            cert = certify(sample, _voltages(net, S, b, got[:, b]), gmin=net.gmin)
            assert cert.ok, cert.summary()


@pytest.mark.parametrize("name", ["dc_diode_iv.cir", "dc_drn_unit.cir"])
def test_sweep_points_finish_in_the_kernel_as_the_single_polish(name: str) -> None:
    circuit = read_netlist(NETLISTS / name)
    names, S = dc_points(circuit)
    net = Network(with_values(circuit, names, S[0]), inputs=names)
    p = net._problem
    C, lo, hi, ffl, vs, isc, bad, u0, U = _batch(net, S)
    assert not bad.any()
    for start in (U, u0):
        got, ok = polish_batch(p, C, lo, hi, ffl, start, vs, isc, max_rounds=None)
        assert ok.all()
        for b in range(S.shape[0]):
            ref = polish(net._sample_problem(b, C, lo, hi, ffl, vs), start[:, b].copy())
            assert np.max(np.abs(got[:, b] - ref.u), initial=0.0) <= REL * vs[b]
    res = run_dc(circuit).result  # certified at every point
    assert (res.status == "converged").all() and res.certificate.ok.all()


def test_one_round_leaves_wrong_active_sets_to_the_caller() -> None:
    """max_rounds = 1 is the tight set's solve only, as in the grouped path: a point
    whose diode is forced tight with a negative multiplier is not finished there."""
    circuit = read_netlist(NETLISTS / "dc_diode_iv.cir")
    names, S = dc_points(circuit)
    net = Network(with_values(circuit, names, S[0]), inputs=names)
    p = net._problem
    C, lo, hi, ffl, vs, isc, bad, u0, U = _batch(net, S)
    a, c = int(p.ff_anode[0]), int(p.ff_cathode[0])
    off = U[a] - U[c] < ffl[0, 0] - 1e-9  # the diode blocks at these points
    assert off.any()
    W = U.copy()
    W[a, off] = W[c, off] + ffl[0, 0]  # forced tight: its multiplier is negative
    got, ok = polish_batch(p, C, lo, hi, ffl, W, vs, isc, max_rounds=1)
    assert not ok[off].any() and ok[~off].all()
    assert np.array_equal(got[:, off], W[:, off])
    assert polish_batch(p, C, lo, hi, ffl, W, vs, isc, max_rounds=2)[1].all()


@settings(max_examples=80, deadline=None)
@given(st.integers(1, pk.LU_MAX), st.integers(0, 2**32 - 1))
def test_lu_solve_matches_lapack(m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, m)) + m * np.eye(m)
    if m > 1 and seed % 3 == 0:
        A[[0, m - 1]] = A[[m - 1, 0]]  # a pivot that must be searched for
    b = rng.standard_normal(m)
    work, x = np.zeros((pk.LU_MAX, pk.LU_MAX)), np.zeros(pk.LU_MAX)
    work[:m, :m], x[:m] = A, b
    assert pk._lu_solve(work, x, m)
    ref = np.linalg.solve(A, b)
    assert np.max(np.abs(x[:m] - ref)) <= 1e-10 * max(1.0, np.max(np.abs(ref)))


def test_lu_solve_reports_an_exact_zero_pivot() -> None:
    a = np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]])
    assert not pk._lu_solve(a.copy(), np.ones(3), 3)
    assert not pk._lu_solve(np.zeros((1, 1)), np.ones(1), 1)
    x = np.ones(2)
    assert pk._lu_solve(np.array([[0.0, 2.0], [4.0, 0.0]]), x, 2)
    assert np.array_equal(x, [0.25, 0.5])
