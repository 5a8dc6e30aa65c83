"""The switch's veto where the factor fills in (direct.SwitchRule, direct.front_seconds):
the front kernel on known graphs, the veto on both sides (a random network keeps
sweeping and is certified, meshes still switch) and exact answers through the vetoed
path on random circuits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from naive import csr_of_edges as _csr
from strategies import examples, random_circuits

from resbench import parse_netlist
from resbench.certificate import certify
from resbench.errors import CircuitError
from resbench.generate import grid, random_network
from resbench.solution import CONVERGED
from resbench.solvers import _direct_kernels as dk
from resbench.solvers import cd, direct
from resbench.solvers.cd import solve_cd
from resbench.solvers.problem import compile_problem
from resbench.solvers.reference import solve_reference


def test_core_front_cube_of_known_graphs():
    """Trees and stars have an empty 2-core (0); a cycle of n nodes has depth n/2 (2³);
    components add up; a tail hanging off a cycle is peeled away; a stored diagonal is
    not counted."""
    n = 50
    assert dk.core_front_cube(*_csr([(i, i + 1) for i in range(n - 1)], n)) == 0.0
    assert dk.core_front_cube(*_csr([(0, i) for i in range(1, n)], n)) == 0.0
    cycle = [(i, (i + 1) % 20) for i in range(20)]
    assert dk.core_front_cube(*_csr(cycle, 20)) == pytest.approx(8.0)
    two = cycle + [(20 + a, 20 + b) for a, b in cycle]
    assert dk.core_front_cube(*_csr(two, 40)) == pytest.approx(16.0)
    tail = cycle + [(5, 20), (20, 21), (21, 22)]
    assert dk.core_front_cube(*_csr(tail, 23)) == pytest.approx(8.0)
    ptr, idx = _csr(cycle + [(i, i) for i in range(20)], 20)
    assert dk.core_front_cube(ptr, idx) == pytest.approx(8.0)
    k4 = [(a, b) for a in range(4) for b in range(a + 1, 4)]  # depth 1, width 4
    assert dk.core_front_cube(*_csr(k4, 4)) == pytest.approx(64.0)


def test_front_model_dear_on_random_networks_only():
    """The front estimate exceeds the nnz model on a shallow random network and stays
    far below it on a mesh of the same size."""
    rand = compile_problem(random_network(10000, diodes=0.0))
    mesh = compile_problem(grid(100, 100))
    assert direct.front_seconds(rand) > 2.0 * direct.factor_seconds(rand)
    assert direct.front_seconds(mesh) < 0.1 * direct.factor_seconds(mesh)


def test_random_network_keeps_sweeping_and_is_certified():
    """The nnz model switched this network after 40 sweeps; the front vetoes it, the
    sweeps converge, and (linear, residual small) no factorisation follows."""
    c = random_network(10000, diodes=0.0)
    p = compile_problem(c)
    rule = direct.SwitchRule(p, cd.DEFAULT_TOL * p.v_scale)
    u = p.start.copy()
    status, sweeps, res, _, _ = cd.run_sweeps(p, u, switch=rule)
    assert rule.vetoes >= 1 and status != cd.SWITCHED and sweeps > 40
    sol = solve_cd(c)
    assert sol.status == CONVERGED and sol.sweeps == sweeps
    assert not sol.info["direct"] and not sol.info["polished"]
    assert certify(c, sol.voltages).ok


def test_random_network_with_bounds_vetoed_is_exact():
    """With diodes to fixed nodes the vetoed sweeps still end in the exact finish."""
    c = random_network(5000, free_free=False, seed=2)
    sol = solve_cd(c)
    assert sol.status == CONVERGED and certify(c, sol.voltages).ok


def test_mesh_still_switches():
    """A mesh's front is cheap: the veto does not touch its switch (40 sweeps, then the
    direct finish) and its rule records no veto."""
    c = grid(100, 100)
    p = compile_problem(c)
    rule = direct.SwitchRule(p, cd.DEFAULT_TOL * p.v_scale)
    status, sweeps, *_ = cd.run_sweeps(p, p.start.copy(), switch=rule)
    assert status == cd.SWITCHED and sweeps == 40 and rule.vetoes == 0
    assert rule.front_s is not None  # asked, and it said switch
    sol = solve_cd(c)
    assert sol.info["direct"] and sol.sweeps == 40 and certify(c, sol.voltages).ok


def test_should_switch_front_is_asked_only_where_the_nnz_model_switches():
    p = compile_problem(grid(30, 30))
    tol_v = 1e-10 * p.v_scale
    asked = []

    def front() -> float:
        asked.append(1)
        return math.inf

    assert not direct.should_switch(p, 0.3, 1e-2, tol_v, front=front) and not asked
    assert direct.should_switch(p, 0.999, 1e-2, tol_v)
    assert not direct.should_switch(p, 0.999, 1e-2, tol_v, front=front) and asked
    assert direct.should_switch(p, 0.999, 1e-2, tol_v, front=lambda: 0.0)


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(random_circuits(max_nodes=12, free_free_diodes=False))
def test_random_circuits_vetoed_match_reference(circuit):
    """Every look switches by the nnz model (a tiny margin) and every look is vetoed (a
    huge front): the sweeps go on to convergence, linear ones may keep their answer
    unpolished (or go direct before any sweep: linear_at_once with that margin); all
    give the reference's answer, certified."""
    mp = pytest.MonkeyPatch()
    mp.setattr(direct, "front_seconds", lambda p: math.inf)
    try:
        try:
            ref = solve_reference(circuit)
        except CircuitError:
            with pytest.raises(CircuitError):
                solve_cd(circuit, direct_margin=1e-12)
            return
        sol = solve_cd(circuit, direct_margin=1e-12)
    finally:
        mp.undo()
    assert sol.status == CONVERGED
    # linear ones may go direct at once; after converged sweeps, only the exact finish of
    # a KCL the certificate would refuse (kcl_finish), never the vetoed switch
    assert sol.sweeps == 0 or not sol.info["direct"] or sol.info.get("kcl_finish")
    scale = max(float(np.abs(circuit.vsources.value).max(initial=0.0)), 1.0)
    assert np.max(np.abs(sol.voltages - ref.voltages), initial=0.0) <= 1e-8 * scale
    assert certify(circuit, sol.voltages).ok


def test_vetoed_sweeps_may_still_finish_a_kcl_exactly(monkeypatch) -> None:
    """Found by the explore profile: a 100 kΩ branch among 100 Ω ones; every look at the
    switch vetoed, the sweeps converge in 30, and then the KCL check finds a node the
    certificate would refuse and finishes exactly (kcl_finish: the direct solve after
    the sweeps, not the vetoed switch during them)."""
    c = parse_netlist(
        "vetoed\nr1 n1 0 100\nr2 n2 0 100\nr3 n3 0 100\nr4 n4 0 100\nr5 n5 0 100k\n"
        "r6 n6 0 100\nr7 n7 0 100\nr8 n8 n1 100\nd1 0 n1 dm\ni1 n5 n1 0.25m\n"
        ".model dm d\n.end\n"
    )
    monkeypatch.setattr(direct, "front_seconds", lambda p: math.inf)
    sol = solve_cd(c, direct_margin=1e-12)
    assert sol.status == CONVERGED and sol.sweeps > 0
    assert not sol.info["direct"] or sol.info["kcl_finish"]
    ref = solve_reference(c)
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= 1e-8 * 25.0
    assert certify(c, sol.voltages).ok


@pytest.mark.parametrize("diodes", [0.0, 0.1])
@pytest.mark.parametrize("seed", [0, 1])
def test_random_networks_vetoed_match_reference(monkeypatch, diodes, seed):
    """Random networks through the vetoed path (every look vetoed; linear ones not sent
    direct before the sweeps): the sweeps run to convergence (> 16, so the switch was
    asked and said no), no direct finish, linear ones unpolished; the answer is the
    reference's, certified."""
    monkeypatch.setattr(direct, "front_seconds", lambda p: math.inf)
    monkeypatch.setattr(direct, "linear_at_once", lambda p, margin: False)
    c = random_network(300, diodes=diodes, free_free=False, seed=seed)
    sol = solve_cd(c, direct_margin=1e-12)
    ref = solve_reference(c)
    assert sol.status == CONVERGED and sol.sweeps > 16 and not sol.info["direct"]
    if diodes == 0.0:
        assert not sol.info["polished"]
    scale = max(float(np.abs(c.vsources.value).max(initial=0.0)), 1.0)
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= 1e-8 * scale
    assert certify(c, sol.voltages).ok


def test_slow_linear_polish_only_where_the_factor_is_cheap():
    """A 5k-node random linear network never reaches the switch (its sweeps converge)
    but its factor fills in: the polish is skipped, the answer certified.  A 1k-node one
    factorises cheaply (front below the nnz model) and keeps its polish."""
    big = random_network(5000, diodes=0.0)
    p = compile_problem(big)
    assert direct.front_seconds(p) > direct.factor_seconds(p)
    sol = solve_cd(big)
    assert sol.status == CONVERGED and sol.sweeps > 50 and not sol.info["polished"]
    assert not sol.info["direct"] and certify(big, sol.voltages).ok
    small = random_network(1000, diodes=0.0)
    q = compile_problem(small)
    assert direct.front_seconds(q) < direct.factor_seconds(q)
    assert solve_cd(small).info["polished"]
