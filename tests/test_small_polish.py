"""The polish of small problems as one numba call (``polish_dense``, issue 16).

``polish`` sends problems of at most ``SMALL_MAX`` free supernodes to the kernel; it
takes the same steps as the Python ``_polish`` (working sets, cluster roots, island
anchors and rays, tie breaks), so the two are compared step for step: the same verdict,
iterations and solves, and the same point to round-off, from the feasible start and
from CD's point, on random circuits with and without islands.  Exactness against the
reference and brute force is tested through ``solve`` in tests/test_islands.py,
tests/test_polish.py and tests/test_cd.py, which now run on the kernel.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from strategies import examples, random_circuits

from resbench import parse_netlist
from resbench.circuit import Circuit
from resbench.errors import CircuitError
from resbench.generate import grid, random_network
from resbench.solvers import polish as pol
from resbench.solvers.cd import run_sweeps
from resbench.solvers.problem import compile_problem
from resbench.solvers.reference import solve_reference


def _same(p, small, python) -> None:
    assert small.optimal == python.optimal
    assert small.message == python.message
    assert (small.iterations, small.solves) == (python.iterations, python.solves)
    assert np.max(np.abs(small.u - python.u), initial=0.0) <= 1e-12 * p.v_scale


def _compiled(circuit: Circuit):
    try:
        return compile_problem(circuit)
    except CircuitError:
        return None


SETTINGS = settings(
    max_examples=examples(75), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@SETTINGS
@given(random_circuits(max_nodes=8, max_diodes=7, islands=2))
def test_kernel_takes_the_steps_of_the_python_polish(circuit: Circuit) -> None:
    p = _compiled(circuit)
    if p is None or p.n == 0:
        return
    try:
        python = pol._polish(p, p.start.copy(), tight_tol=None, max_iter=None)
    except CircuitError as exc:  # an unbounded island: the kernel names the same nodes
        with pytest.raises(CircuitError) as got:
            pol._polish_small(p, p.start.copy(), tight_tol=None, max_iter=None)
        assert got.value.nodes == exc.nodes
        return
    small = pol._polish_small(p, p.start.copy(), tight_tol=None, max_iter=None)
    _same(p, small, python)
    assert small.optimal


@SETTINGS
@given(random_circuits(max_nodes=8, max_diodes=7, islands=0))
def test_kernel_from_cd_point_and_the_bounds_fast_path(circuit: Circuit) -> None:
    p = _compiled(circuit)
    if p is None or p.n == 0 or p.n_islands:
        return
    u = p.start.copy()
    run_sweeps(p, u, max_sweeps=3)  # a point part way, where the active set may be wrong
    small = pol._polish_small(p, u, tight_tol=None, max_iter=None)
    python = pol._polish(p, u, tight_tol=None, max_iter=None)
    _same(p, small, python)
    ref = solve_reference(circuit)
    v = p.voltages(small.u)
    assert np.max(np.abs(v - ref.voltages)) <= 1e-9 * max(1.0, p.v_scale)


def test_iteration_limit_and_tight_tol_pass_through() -> None:
    p = compile_problem(random_network(20, seed=0, diodes=0.3))
    assert p.n <= pol.SMALL_MAX
    full = pol.polish(p, p.start.copy())
    assert full.optimal and full.iterations > 1
    capped = pol.polish(p, p.start.copy(), max_iter=1)
    python = pol._polish(p, p.start.copy(), tight_tol=None, max_iter=1)
    assert not capped.optimal and capped.message == "iteration limit"
    _same(p, capped, python)
    loose = pol._polish_small(p, p.start.copy(), tight_tol=1e-3, max_iter=None)
    _same(p, loose, pol._polish(p, p.start.copy(), tight_tol=1e-3, max_iter=None))


def test_unbounded_island_is_the_same_error() -> None:
    p = compile_problem(parse_netlist("t\nI1 0 a 1m\nD1 b a dm\nR1 b 0 1k\n.model dm d\n"))
    with pytest.raises(CircuitError, match="no diode can carry") as exc:
        pol.polish(p, p.start.copy())
    assert exc.value.nodes == ["a"]


def test_only_small_problems_take_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    p = compile_problem(parse_netlist("t\nV1 a 0 1\nR1 a b 1k\nD1 b c d\nR2 c 0 1k\n.model d d\n"))
    calls: list[int] = []
    real = pol._polish_small
    monkeypatch.setattr(pol, "_polish_small", lambda *a, **k: calls.append(1) or real(*a, **k))
    pol.polish(p, p.start.copy())
    assert calls == [1]
    monkeypatch.setattr(pol, "UNTHREADED_MAX", p.n - 1)  # the kernel under the BLAS limit
    pol.polish(p, p.start.copy())
    assert calls == [1, 1]
    monkeypatch.setattr(pol, "SMALL_MAX", p.n - 1)
    pol.polish(p, p.start.copy())
    assert calls == [1, 1]


@pytest.mark.parametrize("seed", range(4))
def test_generated_nets_kernel_and_python_agree(seed: int) -> None:
    """Grids with clamps (the bounds fast path, and its fallback from the start) and
    random nets with free–free diodes (several iterations)."""
    for p in (
        compile_problem(grid(6, 7, seed=seed, clamps=True)),
        compile_problem(random_network(40, seed=seed, diodes=0.3)),
    ):
        assert p.n <= pol.SMALL_MAX
        for u in (p.start.copy(), pol.polish(p, p.start.copy()).u):
            small = pol._polish_small(p, u, tight_tol=None, max_iter=None)
            _same(p, small, pol._polish(p, u, tight_tol=None, max_iter=None))
            assert small.optimal


def test_kernel_up_to_dense_max_takes_the_python_steps() -> None:
    """A net of ~190 free nodes (the bundled random_small's size): several iterations of
    190-unknown dense solves, the same in both."""
    p = compile_problem(random_network(200, seed=3, diodes=0.3))
    assert pol.UNTHREADED_MAX < p.n <= pol.SMALL_MAX and p.n_ff_diodes
    u = p.start.copy()
    run_sweeps(p, u, max_sweeps=20)
    small = pol.polish(p, u)
    python = pol._polish(p, u, tight_tol=None, max_iter=None)
    _same(p, small, python)
    assert small.optimal and small.iterations > 1
