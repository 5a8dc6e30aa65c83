"""Unit tests of resbench.solvers.polish on compiled problems: from any feasible point
the active-set polish ends at the exact optimum (checked against the reference solver),
in one solve when the point already has the right active set, and says so when its
iteration limit stops it.  How cd decides to polish is tested in tests/test_cd.py."""

from __future__ import annotations

import numpy as np
import pytest
from strategies import stalling_case

from resbench.generate import grid, random_network
from resbench.solvers.polish import polish, polish_bounds
from resbench.solvers.problem import compile_problem
from resbench.solvers.reference import solve_reference


def _feasible(p, u) -> bool:
    tol = 1e-12 * p.v_scale
    ok = np.all(u >= p.lo - tol) and np.all(u <= p.hi + tol)
    return bool(ok and np.all(u[p.ff_anode] - u[p.ff_cathode] <= p.ff_limit + tol))


def test_stalling_case_from_the_start_point_is_exact():
    """The point CD stops at (a = b = 0, docs/design.md §2) is not optimal; the polish
    finds a = b = 0.5 V."""
    p = compile_problem(stalling_case())
    result = polish(p, p.start)
    assert result.optimal and result.message == "optimal"
    v = p.voltages(result.u)
    a, b = (p.circuit.nodes.index(x) for x in ("a", "b"))
    assert v[a] == pytest.approx(0.5, abs=1e-12) and v[b] == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda s: random_network(50, seed=s, diodes=0.3), id="random-ff-diodes"),
        pytest.param(lambda s: grid(6, 7, seed=s, free_free_diodes=True), id="grid-ff-diodes"),
        pytest.param(lambda s: grid(6, 7, seed=s, clamps=True), id="grid-bounds-only"),
    ],
)
@pytest.mark.parametrize("seed", range(3))
def test_polish_from_the_feasible_start_matches_the_reference(make, seed):
    c = make(seed)
    p = compile_problem(c)
    result = polish(p, p.start.copy())
    assert result.optimal and _feasible(p, result.u)
    want = solve_reference(c).voltages
    scale = max(1.0, float(np.abs(want).max()))
    assert np.max(np.abs(p.voltages(result.u) - want)) <= 1e-9 * scale
    # from the optimum itself, the active set is already right: one solve
    again = polish(p, result.u)
    assert again.optimal and again.solves == 1
    assert np.max(np.abs(again.u - result.u)) <= 1e-12 * scale


def test_bounds_fast_path_answers_only_when_the_active_set_is_right():
    p = compile_problem(grid(6, 7, seed=1, clamps=True))
    assert p.n_ff_diodes == 0 and np.isfinite(p.lo).any() | np.isfinite(p.hi).any()
    exact = polish(p, p.start.copy())
    fast = polish_bounds(p, exact.u)
    assert fast is not None and fast.optimal and fast.solves == 1
    assert np.allclose(fast.u, exact.u, rtol=0.0, atol=1e-12 * p.v_scale)


def test_iteration_limit_is_reported_not_hidden():
    p = compile_problem(random_network(50, seed=0, diodes=0.3))
    assert p.n_ff_diodes > 0 and polish(p, p.start.copy()).iterations > 1
    result = polish(p, p.start.copy(), max_iter=1)
    assert not result.optimal and result.message == "iteration limit"
    assert result.iterations == 1 and _feasible(p, result.u)  # still a feasible point
