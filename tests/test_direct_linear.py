"""Linear circuits (no diodes) straight to the direct solve (direct.linear_at_once): the
graph-depth kernel, the decision on both sides, and exact answers either way."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from naive import csr_of_edges as _csr
from strategies import random_circuits

from resbench.certificate import certify
from resbench.circuit import Branches, make_circuit
from resbench.errors import CircuitError
from resbench.generate import chain, grid, powergrid, random_network, star
from resbench.solution import CONVERGED
from resbench.solvers import _direct_kernels as dk
from resbench.solvers import cd, direct
from resbench.solvers.cd import solve_cd
from resbench.solvers.problem import compile_problem
from resbench.solvers.reference import solve_reference

BIG = 1 << 40  # no limit


def test_pseudo_depth_of_known_graphs():
    """A path's depth is its length from either end (the search finds the far end
    first), a mesh's its rows + columns − 2, a star's 2; nothing and one node 0.  With
    a limit below the depth the answer is limit + 1; at or above it, the depth."""
    depth = dk.pseudo_depth
    n = 50
    ptr, idx = _csr([(k, k + 1) for k in range(n - 1)], n)
    assert depth(ptr, idx, BIG) == n - 1
    assert depth(ptr, idx, 10) == 11 and depth(ptr, idx, n - 1) == n - 1
    mid = [(k, k + 1) for k in range(n - 1)]  # the same path numbered from its middle
    order = np.argsort(np.abs(np.arange(n) - n // 2), kind="stable")
    ren = np.empty(n, dtype=np.int64)
    ren[order] = np.arange(n)
    ptr, idx = _csr([(int(ren[a]), int(ren[b])) for a, b in mid], n)
    assert depth(ptr, idx, BIG) == n - 1
    assert depth(ptr, idx, n - 2) == n - 1  # past the limit only in the second search
    assert depth(ptr, idx, 30) == 31
    r, c = 7, 12
    mesh = [(i * c + j, i * c + j + 1) for i in range(r) for j in range(c - 1)]
    mesh += [(i * c + j, (i + 1) * c + j) for i in range(r - 1) for j in range(c)]
    ptr, idx = _csr(mesh, r * c)
    assert depth(ptr, idx, BIG) == r + c - 2
    assert depth(ptr, idx, 5) == 6
    ptr, idx = _csr([(0, k) for k in range(1, 30)], 30)
    assert depth(ptr, idx, BIG) == 2 and depth(ptr, idx, 1) == 2
    assert depth(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32), BIG) == 0
    assert depth(np.zeros(2, dtype=np.int64), np.zeros(0, dtype=np.int32), BIG) == 0


def test_is_linear():
    assert direct.is_linear(compile_problem(grid(6, 6, clamps=False)))
    assert not direct.is_linear(compile_problem(grid(6, 6)))  # clamp diodes: bounds
    assert not direct.is_linear(compile_problem(grid(6, 6, clamps=False, free_free_diodes=True)))


def test_linear_at_once_both_sides():
    """Deep graphs (meshes, power grids, chains) go at once; a shallow random network
    of the same size and a small mesh keep the sweeps; margin 0 and inf force it."""
    for c in (
        grid(60, 60, clamps=False),
        powergrid(60, 100, layers=3, via_sources=True),
        chain(5000),
    ):
        p = compile_problem(c)
        assert direct.linear_at_once(p)
        assert not direct.linear_at_once(p, math.inf)
    shallow = compile_problem(random_network(4000, diodes=0.0, seed=1))
    assert direct.is_linear(shallow)
    assert not direct.linear_at_once(shallow)
    assert direct.linear_at_once(shallow, 0.0)
    small = compile_problem(grid(20, 20, clamps=False))
    assert not direct.linear_at_once(small)
    # a star is shallow: its slow sweeps are left to the switch's first look
    assert not direct.linear_at_once(compile_problem(star(20000)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: grid(40, 40, clamps=False, currents=10, seed=3),
        lambda: powergrid(60, 100, layers=3, via_sources=True, seed=3),
    ],
)
def test_deep_linear_circuit_solved_without_sweeps(make):
    """No sweep, one factorisation; the same answer as the sweeps alone (which end with
    the exact polish), certified."""
    c = make()
    sol = solve_cd(c)
    assert sol.sweeps == 0 and sol.info["direct"] and not sol.info["polished"]
    assert sol.info["direct_solves"] == 1 and math.isinf(sol.info["error_estimate"])
    assert sol.status == CONVERGED and certify(c, sol.voltages).ok
    never = solve_cd(c, direct_margin=math.inf)
    assert not never.info["direct"] and never.sweeps > 100 and never.status == CONVERGED
    scale = max(float(np.abs(c.vsources.value).max()), 1.0)
    assert np.max(np.abs(sol.voltages - never.voltages)) <= 1e-9 * scale


def test_deep_linear_circuit_matches_reference():
    c = grid(40, 40, clamps=False, currents=10, seed=5)
    sol = solve_cd(c)
    assert sol.sweeps == 0 and sol.info["direct"]
    assert np.max(np.abs(sol.voltages - solve_reference(c).voltages)) <= 1e-9


def test_warm_start_and_fixed_omega_keep_the_sweeps():
    """A warm start may be close enough for a few sweeps, and a fixed ω asks for the
    sweeps: neither goes at once (the switch's looks still apply with "auto")."""
    c = grid(60, 60, clamps=False, seed=2)
    ref = solve_reference(c)
    warm = solve_cd(c, warm_start=ref.voltages)
    assert warm.sweeps > 0 and warm.status == CONVERGED
    fixed = solve_cd(c, omega=1.9)
    assert fixed.sweeps > 0 and not fixed.info["direct"]
    for s in (warm, fixed):
        assert np.max(np.abs(s.voltages - ref.voltages)) <= 1e-9


def test_shallow_linear_circuit_sweeps_as_before():
    """A random linear network keeps exactly the sweeps it had with no switch at all."""
    c = random_network(1000, diodes=0.0, seed=4)
    default = solve_cd(c)
    never = solve_cd(c, direct_margin=math.inf)
    assert not default.info["direct"] and default.sweeps == never.sweeps > 16
    assert np.array_equal(default.voltages, never.voltages)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(random_circuits(max_nodes=12, max_diodes=0))
def test_random_linear_circuits_at_once_match_reference(circuit):
    """Forced at once (margin 0), random linear circuits of the whole dialect (floating
    sources, current sources, shorts) give the reference's answer, certified."""
    try:
        ref = solve_reference(circuit)
    except CircuitError:
        with pytest.raises(CircuitError):
            solve_cd(circuit, direct_margin=0.0)
        return
    sol = solve_cd(circuit, direct_margin=0.0)
    assert sol.status == CONVERGED
    p = compile_problem(circuit)
    if p.n:
        assert sol.sweeps == 0 and sol.info["direct"]
    scale = max(float(np.abs(circuit.vsources.value).max(initial=0.0)), 1.0)
    assert np.max(np.abs(sol.voltages - ref.voltages), initial=0.0) <= 1e-9 * scale
    assert certify(circuit, sol.voltages).ok


def test_floating_group_at_once_names_the_nodes(monkeypatch):
    """A linear problem whose nodes b, c lost their way to a fixed voltage (an island
    that slipped past compile_problem's check, made by editing the Problem) raises the
    direct solve's CircuitError naming them, as after sweeps."""
    c = make_circuit(
        "island",
        ["0", "a", "b", "c"],
        resistors=Branches.from_lists(["r1", "r2", "r3"], [1, 2, 3], [2, 3, 0], [1e3, 1e3, 1e3]),
        vsources=Branches.from_lists(["v1"], [1], [0], [1.0]),
    )
    p = compile_problem(c)
    rows = np.repeat(np.arange(p.n), np.diff(p.indptr))
    inside = np.bincount(rows, weights=p.data, minlength=p.n)
    floating = dataclasses.replace(p, diag=inside.copy(), c=np.zeros(p.n))
    assert direct.is_linear(floating)
    monkeypatch.setattr(cd, "compile_problem", lambda circuit, gmin=0.0: floating)
    with pytest.raises(CircuitError, match="no resistive path") as exc:
        solve_cd(c, direct_margin=0.0)
    assert sorted(exc.value.nodes) == ["b", "c"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: powergrid(30, 50, layers=3, via_sources=True, seed=1),
        lambda: grid(25, 25, clamps=False, currents=5, seed=1),
        lambda: chain(2000, seed=1),
    ],
)
def test_finish_without_bounds_equals_the_active_set_loop(make):
    """finish_bounds on a problem without bounds solves once and skips the multipliers;
    the same problem with one bound far out of reach goes through the active-set loop:
    one step, the same voltages bit for bit."""
    p = compile_problem(make())
    short = direct.finish_bounds(p, p.start)
    lo = p.lo.copy()
    lo[0] = -1e300
    loop = direct.finish_bounds(dataclasses.replace(p, lo=lo), p.start)
    assert short.optimal and loop.optimal and short.solves == loop.solves == 1
    assert short.iterations == loop.iterations == 1
    assert np.array_equal(short.u, loop.u)
