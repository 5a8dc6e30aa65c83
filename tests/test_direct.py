"""The direct finish (resbench.solvers.direct): the switch from sweeps to sparse
factorisations, the primal–dual active-set finish, and its agreement with the
independent reference solver, brute force and the certificate; singular systems."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import enumerate_solve
from strategies import examples, random_circuits

from resbench.certificate import certify
from resbench.circuit import Branches, make_circuit
from resbench.errors import CircuitError
from resbench.generate import chain, drn, grid, powergrid, star
from resbench.solution import CONVERGED
from resbench.solvers import direct
from resbench.solvers.cd import solve_cd
from resbench.solvers.problem import compile_problem
from resbench.solvers.reference import solve_reference

BACKENDS = ["splu"] + (["cholmod"] if direct.backend() == "cholmod" else [])


def v_scale(circuit) -> float:
    vals = np.abs(circuit.vsources.value)
    return max(float(vals.max()) if vals.size else 0.0, 1.0)


def bounds_only(circuit):
    """The circuit's Problem when the direct finish applies to it (bounds only), else None."""
    try:
        p = compile_problem(circuit)
    except CircuitError:
        return None
    if p.n == 0 or p.n_ff_diodes or p.n_islands:
        return None
    return p


def finish_voltages(p, u0, use: str, kmax: int | None = None) -> np.ndarray:
    dr = direct.finish_bounds(p, u0, use=use, kmax=kmax)
    assert dr.optimal, dr.message
    assert np.all(dr.u >= p.lo) and np.all(dr.u <= p.hi)
    return p.voltages(dr.u)


# ------------------------------------------------------------ the finish itself
@settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    random_circuits(max_nodes=10, max_diodes=8, free_free_diodes=False),
    st.integers(0, 2**32 - 1),
    st.sampled_from(BACKENDS),
    st.sampled_from([None, 0, 1]),
)
def test_finish_matches_reference_from_any_feasible_start(circuit, seed, use, kmax):
    """From the problem's start and from a random point inside the bounds (a poor
    warm start: many active-set changes), the finish is the reference's answer, whether
    steps reuse the factor through a border (kmax None: up to 64 nodes; 1) or
    refactorise (0)."""
    p = bounds_only(circuit)
    if p is None:
        return
    ref = solve_reference(circuit)
    tol = 1e-9 * v_scale(circuit)
    v = finish_voltages(p, p.start, use, kmax)
    assert np.max(np.abs(v - ref.voltages)) <= tol
    rng = np.random.default_rng(seed)
    lo = np.where(np.isfinite(p.lo), p.lo, -2 * p.v_scale)
    hi = np.where(np.isfinite(p.hi), p.hi, 2 * p.v_scale)
    u0 = lo + (hi - lo) * rng.random(p.n)
    v = finish_voltages(p, u0, use, kmax)
    assert np.max(np.abs(v - ref.voltages)) <= tol


@settings(max_examples=60, deadline=None)
@given(random_circuits(max_nodes=6, max_diodes=5, free_free_diodes=False))
def test_finish_matches_brute_force(circuit):
    p = bounds_only(circuit)
    if p is None:
        return
    brute = enumerate_solve(circuit)
    assert brute is not None
    v = finish_voltages(p, p.start, direct.backend())
    assert np.max(np.abs(v - brute)) <= 1e-9 * v_scale(circuit)


def test_finish_refuses_free_free_diodes():
    p = compile_problem(grid(6, 6, free_free_diodes=True, clamps=False))
    assert p.n_ff_diodes
    with pytest.raises(ValueError, match="bound constraints only"):
        direct.finish_bounds(p, p.start)


def test_cycling_falls_back_to_the_polish(monkeypatch):
    """A finish that does not settle (here: one step allowed) hands its feasible point to
    the primal active-set polish, which ends at the exact answer."""
    c = grid(12, 12, seed=3)
    real = direct.finish_bounds
    monkeypatch.setattr(
        direct, "finish_bounds", lambda p, u, **kw: real(p, np.clip(-u, p.lo, p.hi), max_iter=1)
    )
    sol = solve_cd(c, direct_margin=0.0)
    assert sol.info["direct"] and sol.info["direct_message"] == "iteration limit"
    assert sol.info["polished"] and sol.status == CONVERGED
    ref = solve_reference(c)
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= 1e-9


# ----------------------------------------------------------------- the switch
def test_switch_both_sides_of_the_threshold():
    """Forced (margin 0) the sweeps stop at the first look, after 16; never (inf) they
    run to the stopping rule; both answers are exact and agree."""
    c = grid(25, 25, seed=1)
    forced = solve_cd(c, direct_margin=0.0)
    never = solve_cd(c, direct_margin=math.inf)
    assert forced.info["direct"] and forced.sweeps == direct.SWITCH_AFTER
    assert not never.info["direct"] and never.sweeps > 40
    ref = solve_reference(c)
    for sol in (forced, never):
        assert sol.status == CONVERGED
        assert np.max(np.abs(sol.voltages - ref.voltages)) <= 1e-9


def test_should_switch_decides_from_the_size_and_the_rate():
    """The model's decision on either side: a slowly contracting large mesh switches, a
    fast-contracting one does not; the decision is a function of sizes, not clocks."""
    p = compile_problem(grid(300, 300, clamps=False))
    tol_v = 1e-12 * p.v_scale
    assert direct.should_switch(p, 0.999, 1e-2, tol_v)
    assert not direct.should_switch(p, 0.3, 1e-2, tol_v)
    assert not direct.should_switch(p, 0.999, 0.5 * tol_v, tol_v)  # already converged
    assert direct.should_switch(p, 1.0, 1e-2, tol_v)  # nothing contracts
    assert direct.predicted_sweeps(0.5, 1.0, 2.0**-10) == pytest.approx(10.0)
    small = compile_problem(grid(10, 10, clamps=False))
    assert not direct.should_switch(small, 0.9, 1e-2, 1e-12)
    assert direct.should_switch(small, 0.9, 1e-2, 1e-12, margin=0.0)
    assert not direct.should_switch(p, 0.999999, 1e-2, tol_v, margin=math.inf)


def test_layered_networks_never_switch():
    """DRNs converge in a few sweeps or contract fast: the model keeps the sweeps, and
    the sweep count is the one without any switch (the regress suite's counts)."""
    for c in (drn([30, 20, 5], seed=0), drn([64, 32, 32, 10], seed=1), drn(preset="xs")):
        default = solve_cd(c)
        never = solve_cd(c, direct_margin=math.inf)
        assert not default.info["direct"] and not never.info["direct"]
        assert default.sweeps == never.sweeps < 40
        assert np.array_equal(default.voltages, never.voltages)


def test_polish_never_keeps_the_sweeps():
    sol = solve_cd(grid(20, 20, clamps=False), polish="never", direct_margin=0.0)
    assert not sol.info["direct"] and not sol.info["polished"]


# ------------------------------------------------------------- topologies
TOPOLOGIES = {
    "grid_clamps": lambda: grid(18, 18, seed=2),
    "grid_free": lambda: grid(18, 18, seed=2, clamps=False, currents=20),
    "grid_ff": lambda: grid(14, 14, seed=2, free_free_diodes=True),
    "chain": lambda: chain(300, seed=1),
    "star": lambda: star(300, seed=1),
    "powergrid": lambda: powergrid(14, 14, layers=2, seed=1),
    "powergrid_vias": lambda: powergrid(13, 16, layers=3, seed=2, via_sources=True, pad_pitch=2),
}


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
@pytest.mark.parametrize("margin", [0.0, direct.SWITCH_MARGIN])
def test_topologies_match_reference(name, margin):
    c = TOPOLOGIES[name]()
    sol = solve_cd(c, direct_margin=margin)
    assert sol.status == CONVERGED, sol.info
    cert = certify(c, sol.voltages)
    assert cert.ok, cert.summary()
    ref = solve_reference(c)
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= 1e-9 * v_scale(c)
    if margin == 0.0 and name != "grid_ff":
        assert sol.info["direct"]


# ------------------------------------------------------------- singular systems
def _floating_problem():
    """A problem where nodes b and c lost their conductance to ground: the island
    check of compile_problem is bypassed by editing the Problem (an island that
    slipped through)."""
    c = make_circuit(
        "island",
        ["0", "a", "b", "c"],
        resistors=Branches.from_lists(["r1", "r2", "r3"], [1, 2, 3], [2, 3, 0], [1e3, 1e3, 1e3]),
        vsources=Branches.from_lists(["v1"], [1], [0], [1.0]),
    )
    p = compile_problem(c)
    rows = np.repeat(np.arange(p.n), np.diff(p.indptr))
    inside = np.bincount(rows, weights=p.data, minlength=p.n)
    return dataclasses.replace(p, diag=inside.copy(), c=np.zeros(p.n))


@pytest.mark.parametrize("use", BACKENDS)
def test_singular_reduced_system_names_the_nodes(use):
    p = _floating_problem()
    assert sorted(direct.ungrounded_nodes(p).tolist()) == [0, 1]
    with pytest.raises(CircuitError, match="no resistive path") as exc:
        direct.finish_bounds(p, p.start, use=use)
    assert sorted(exc.value.nodes) == ["b", "c"]
    assert "b" in str(exc.value) and "c" in str(exc.value)


@pytest.mark.parametrize("use", BACKENDS)
def test_factorize_reports_singular_matrices(use):
    import scipy.sparse as sp

    lap = sp.csc_matrix(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    with pytest.raises(np.linalg.LinAlgError):
        direct.factorize(lap, use=use)


def test_polish_has_no_size_limit():
    """Sweeps that converged slowly are polished at any size (the 5,000-free-node limit
    is gone): a 6,400-node mesh swept to the stopping rule ends with the exact polish."""
    c = grid(80, 80, seed=5, clamps=False, currents=40)
    sol = solve_cd(c, direct_margin=math.inf)
    assert sol.info["free_supernodes"] > 5000
    assert not sol.info["direct"] and sol.info["polished"] and sol.status == CONVERGED
    assert certify(c, sol.voltages).ok


# ------------------------------------------------- free–free diodes: finish_general
@settings(
    max_examples=examples(75),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(random_circuits(max_nodes=10, max_diodes=8), st.integers(0, 3))
def test_finish_general_matches_reference(circuit, sweeps):
    """With free–free diodes: from the problem's feasible start, or after a few sweeps,
    the block active-set finish is the reference's answer, or hands a feasible point on
    (then the polish finishes exactly)."""
    from resbench.solvers.cd import run_sweeps
    from resbench.solvers.polish import polish

    try:
        p = compile_problem(circuit)
    except CircuitError:
        return
    if p.n == 0 or p.n_islands:
        return
    ref = solve_reference(circuit)
    u = p.start.copy()
    if sweeps:
        run_sweeps(p, u, max_sweeps=sweeps, omega=1.0)
    dr = direct.finish_general(p, u)
    if not dr.optimal:  # the fall-back's contract: a feasible point
        assert np.all(dr.u >= p.lo - 1e-9) and np.all(dr.u <= p.hi + 1e-9)
        dr = polish(p, dr.u)
        assert dr.optimal
    err = np.max(np.abs(p.voltages(dr.u) - ref.voltages))
    assert err <= 1e-9 * v_scale(circuit), (err, dr.message)


def test_large_free_free_nets_use_the_block_finish(monkeypatch):
    c = grid(14, 14, seed=6, free_free_diodes=True)
    ref = solve_reference(c)
    monkeypatch.setattr(direct, "GENERAL_MIN", 0)
    sol = solve_cd(c)
    assert sol.info["direct"] and sol.info["direct_message"] == "optimal"
    assert not sol.info["polished"] and sol.status == CONVERGED
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= 1e-9
    # a finish that does not settle hands over to the polish, still exact
    real = direct.finish_general
    monkeypatch.setattr(direct, "finish_general", lambda p, u: real(p, u, max_iter=1))
    sol = solve_cd(c)
    assert sol.info["direct"] and sol.info["polished"] and sol.status == CONVERGED
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= 1e-9


def test_cli_solve_reports_the_direct_finish(tmp_path) -> None:
    """`resbench solve` says when the direct finish ran, with its backend and counts."""
    from click.testing import CliRunner

    from resbench.cli.main import cli
    from resbench.netlist import write_netlist

    c = grid(150, 150, seed=0)
    sol = solve_cd(c)
    assert sol.info.get("direct"), "a 150x150 clamped grid switches to the direct finish"
    path = tmp_path / "g.cir"
    path.write_text(write_netlist(c))
    res = CliRunner().invoke(cli, ["solve", str(path)])
    assert res.exit_code == 0, res.output
    want = (
        f"direct finish ({direct.backend()}): {sol.info['direct_iterations']} active-set "
        f"step(s), {sol.info['direct_solves']} factorisation(s)"
    )
    assert want in " ".join(res.output.split())
