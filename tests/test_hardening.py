"""Setup and solver hardening (issue 10): KVL loops judged on their own scale,
values that overflow double precision, the reference solver's size limit and
tolerances of circuits whose sources are all zero."""

from __future__ import annotations

import numpy as np
import pytest

from resbench import solvers
from resbench.certificate import certify
from resbench.circuit import Branches, make_circuit
from resbench.errors import CircuitError
from resbench.generate import grid
from resbench.solution import CONVERGED, FAILED
from resbench.solvers.cd import solve_cd
from resbench.solvers.problem import compile_problem
from resbench.solvers.reference import solve_reference

B = Branches.from_lists


def build(nodes, r=(), d=(), v=(), i=()):
    """A circuit from (name, node, node, value) tuples; node 0 is ground."""
    nodes = ["0", *nodes]
    idx = {x: k for k, x in enumerate(nodes)}

    def br(items):
        items = list(items)
        return B(
            [t[0] for t in items],
            [idx[t[1]] for t in items],
            [idx[t[2]] for t in items],
            [t[3] if len(t) > 3 else 0.0 for t in items],
        )

    return make_circuit("t", nodes, resistors=br(r), diodes=br(d), vsources=br(v), isources=br(i))


# ------------------------------------------------------------------ KVL per loop
def parallel_millivolts(big: float):
    return build(
        ["a", "hv"],
        r=[("r1", "a", "0", 1e3), ("r2", "hv", "0", 1e3)],
        v=[("v1", "a", "0", 1e-3), ("v2", "a", "0", 1.5e-3), ("v3", "hv", "0", big)],
    )


@pytest.mark.parametrize("solver", ["cd", "reference"])
@pytest.mark.parametrize("big", [1.0, 1e6])
def test_conflicting_millivolt_sources_rejected_next_to_a_megavolt(solver, big):
    """1 mV ∥ 1.5 mV is a KVL conflict whatever other sources the circuit holds."""
    with pytest.raises(CircuitError) as exc:
        solvers.solve(parallel_millivolts(big), solver)
    assert set(exc.value.elements) == {"v1", "v2"}
    text = str(exc.value)
    assert "0.001 V" in text and "0.0015 V" in text  # enough digits to see the difference


def test_kvl_message_shows_a_small_difference():
    c = build(
        ["a"],
        r=[("r1", "a", "0", 1e3)],
        v=[("v1", "a", "0", 1.0), ("v2", "a", "0", 1.0 + 1e-7)],
    )
    with pytest.raises(CircuitError) as exc:
        solve_cd(c)
    assert "1.0000001 V" in str(exc.value) and " 1 V " in str(exc.value)


@pytest.mark.parametrize("solver", ["cd", "reference"])
def test_consistent_loop_through_a_megavolt_source_is_accepted(solver):
    """A loop whose links are huge but cancel is judged with their round-off in mind."""
    c = build(
        ["a", "x", "y"],
        r=[("r1", "a", "0", 1e3), ("r2", "x", "0", 1e3), ("r3", "y", "0", 1e3)],
        v=[
            ("v1", "x", "0", 1e6),
            ("v2", "y", "x", 1e-3 - 1e6),  # y = 1 mV (rounded)
            ("v3", "a", "0", 1e-3),
            ("v4", "y", "a", 0.0),  # closes x–y–a–0–x: consistent up to round-off
        ],
    )
    sol = solvers.solve(c, solver)
    assert sol.ok and sol.voltage("a") == pytest.approx(1e-3)


# ------------------------------------------------------------- overflowing values
def test_values_that_overflow_are_a_clear_error():
    c = build(["a"], r=[("r1", "a", "0", 1e160)], i=[("i1", "0", "a", 1e160)])
    for solve in (solve_cd, solve_reference):
        with pytest.raises(CircuitError, match="too large.*rescale"):
            solve(c)
    with pytest.raises(CircuitError, match="too large"):
        compile_problem(c)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_non_finite_element_values_are_errors(bad):
    for kind in ("r", "v", "i"):
        c = build(
            ["a"],
            r=[("r1", "a", "0", bad if kind == "r" else 1e3)],
            v=[("v1", "a", "0", bad)] if kind == "v" else [],
            i=[("i1", "0", "a", bad)] if kind == "i" else [],
        )
        with pytest.raises(CircuitError, match="finite"):
            solve_cd(c)
        with pytest.raises(CircuitError, match="finite"):
            solve_reference(c)


def test_a_non_finite_answer_is_never_converged(monkeypatch):
    """If a solver ever produced inf or NaN, solve() must not call it converged."""
    import resbench.solvers.cd as cd

    c = build(["a"], r=[("r1", "a", "0", 1e3)], v=[("v1", "a", "0", 1.0)])
    real = cd.Problem.voltages

    def broken(self, u):
        out = real(self, u)
        out[-1] = np.inf
        return out

    monkeypatch.setattr(cd.Problem, "voltages", broken)
    sol = solvers.solve(c, "cd")
    assert sol.status == FAILED and not sol.ok
    assert "finite" in sol.info["error"]


# ------------------------------------------------------------ reference size limit
def test_reference_refuses_a_circuit_too_big_for_dense_matrices(monkeypatch):
    import resbench.solvers.reference as ref

    c = grid(30, 30, seed=0, clamps=True)
    monkeypatch.setattr(ref, "MAX_DENSE_BYTES", 1e6)
    with pytest.raises(CircuitError, match=r"GiB|MiB|MB.*solver cd|cd") as exc:
        ref.solve_reference(c)
    assert "cd" in str(exc.value)


def test_reference_estimate_of_a_large_grid_is_refused_before_allocating():
    """A 1000×1000 grid with clamps: refused at once (no 4 GiB allocation)."""
    import resbench.solvers.reference as ref

    n, nd = 1_000_001, 500_000
    est = ref.estimate_bytes(n_nodes=n, n_diodes=nd, n_equalities=2, n_resistors=2_000_000)
    assert est > ref.MAX_DENSE_BYTES


# --------------------------------------------------------- all-zero circuits
def test_all_zero_sources_give_sensible_tolerances():
    c = build(
        ["a", "b"],
        r=[("r1", "a", "b", 1e3), ("r2", "b", "0", 1e3)],
        v=[("v1", "a", "0", 0.0)],
    )
    sol = solvers.solve(c, "cd")
    assert sol.status == CONVERGED and sol.ok
    cert = sol.certificate
    assert cert.feas_tol >= 1e-15 and cert.kcl_tol >= 1e-18
    assert cert.feas_tol <= 1e-9
    assert sol.info["tol_v"] >= 1e-18
    cert = certify(c, np.zeros(3))
    assert cert.ok and cert.feas_tol == pytest.approx(1e-12)
    # a 1 nV error is far beyond the floor
    assert not certify(c, np.array([0.0, 0.0, 1e-9])).ok
