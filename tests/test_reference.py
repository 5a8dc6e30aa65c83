"""The reference solver against brute-force enumeration, analytic circuits and error cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import enumerate_solve
from strategies import examples, random_circuits, stalling_case

from resbench.certificate import certify
from resbench.circuit import Branches, Circuit, IndexedNames, make_circuit
from resbench.errors import CircuitError
from resbench.solution import CONVERGED
from resbench.solvers.reference import LEMKE_OK, LEMKE_RAY, lemke, solve_reference

B = Branches.from_lists
SETTINGS = dict(deadline=None, database=None)


def circuit(nodes, r=(), d=(), v=(), i=(), **kw) -> Circuit:
    """Build a circuit from (name, node, node, value) tuples with node names."""
    nodes = ["0", *nodes]
    idx = {name: k for k, name in enumerate(nodes)}

    def br(items, with_value=True):
        items = list(items)
        return B(
            [t[0] for t in items],
            [idx[t[1]] for t in items],
            [idx[t[2]] for t in items],
            [t[3] if with_value else 0.0 for t in items],
        )

    return make_circuit(
        "test",
        nodes,
        resistors=br(r),
        diodes=br(d, with_value=False),
        vsources=br(v),
        isources=br(i),
        **kw,
    )


def check_against_naive(c: Circuit) -> None:
    try:
        ref = solve_reference(c)
    except CircuitError:
        assert enumerate_solve(c) is None, "reference rejected a circuit that has a solution"
        return
    naive = enumerate_solve(c)
    assert naive is not None, "reference answered an infeasible circuit"
    cert = certify(c, ref.voltages)
    assert cert.ok, cert.summary()
    assert np.max(np.abs(ref.voltages - naive)) <= 1e-9 * cert.v_scale
    assert ref.status == CONVERGED and ref.solver == "reference"
    assert np.all(ref.diode_current >= 0)


# ------------------------------------------------------------- vs brute force
@settings(max_examples=examples(150), **SETTINGS)
@given(random_circuits())
def test_reference_matches_enumeration(c: Circuit) -> None:
    check_against_naive(c)


@settings(max_examples=60, **SETTINGS)
@given(random_circuits(max_nodes=5, max_diodes=8, floating_sources=False, shorts=False))
def test_reference_matches_enumeration_many_diodes(c: Circuit) -> None:
    check_against_naive(c)


@settings(max_examples=40, **SETTINGS)
@given(random_circuits(free_free_diodes=False, current_sources=False))
def test_reference_matches_enumeration_grounded_diodes(c: Circuit) -> None:
    check_against_naive(c)


# --------------------------------------------------------------- analytic
ANALYTIC = {
    "divider": (
        circuit(
            ["in", "out"],
            r=[("r1", "in", "out", 1e3), ("r2", "out", "0", 3e3)],
            v=[("v1", "in", "0", 10.0)],
        ),
        {"in": 10.0, "out": 7.5},
    ),
    "clipper_clips": (
        circuit(
            ["in", "out", "ref"],
            r=[("r1", "in", "out", 1e3), ("r2", "out", "0", 1e3)],
            d=[("d1", "out", "ref", 0)],
            v=[("v1", "in", "0", 5.0), ("v2", "ref", "0", 2.0)],
        ),
        {"out": 2.0},
    ),
    "clipper_passes": (
        circuit(
            ["in", "out", "ref"],
            r=[("r1", "in", "out", 1e3), ("r2", "out", "0", 1e3)],
            d=[("d1", "out", "ref", 0)],
            v=[("v1", "in", "0", 1.0), ("v2", "ref", "0", 2.0)],
        ),
        {"out": 0.5},
    ),
    "half_wave_forward": (
        circuit(
            ["in", "out"],
            r=[("r1", "out", "0", 1e3)],
            d=[("d1", "in", "out", 0)],
            v=[("v1", "in", "0", 5.0)],
        ),
        {"out": 5.0},
    ),
    "half_wave_reverse": (
        circuit(
            ["in", "out"],
            r=[("r1", "out", "0", 1e3)],
            d=[("d1", "in", "out", 0)],
            v=[("v1", "in", "0", -5.0)],
        ),
        {"out": 0.0},
    ),
    "bridge_positive": (
        circuit(
            ["p", "n", "o"],
            r=[("rl", "o", "0", 1e3), ("rbp", "p", "0", 1e6), ("rbn", "n", "0", 1e6)],
            d=[("d1", "p", "o", 0), ("d2", "n", "o", 0), ("d3", "0", "p", 0), ("d4", "0", "n", 0)],
            v=[("v1", "p", "n", 5.0)],
        ),
        {"o": 5.0, "p": 5.0, "n": 0.0},
    ),
    "bridge_negative": (
        circuit(
            ["p", "n", "o"],
            r=[("rl", "o", "0", 1e3), ("rbp", "p", "0", 1e6), ("rbn", "n", "0", 1e6)],
            d=[("d1", "p", "o", 0), ("d2", "n", "o", 0), ("d3", "0", "p", 0), ("d4", "0", "n", 0)],
            v=[("v1", "p", "n", -5.0)],
        ),
        {"o": 5.0, "p": 0.0, "n": 5.0},
    ),
    "or_gate": (
        circuit(
            ["a", "b", "out"],
            r=[("r1", "out", "0", 1e3)],
            d=[("d1", "a", "out", 0), ("d2", "b", "out", 0)],
            v=[("va", "a", "0", 5.0), ("vb", "b", "0", 0.0)],
        ),
        {"out": 5.0},
    ),
    "and_gate": (
        circuit(
            ["a", "b", "vcc", "out"],
            r=[("r1", "vcc", "out", 1e3)],
            d=[("d1", "out", "a", 0), ("d2", "out", "b", 0)],
            v=[("va", "a", "0", 5.0), ("vb", "b", "0", 2.0), ("vcc", "vcc", "0", 5.0)],
        ),
        {"out": 2.0},
    ),
    "stalling_case": (stalling_case(), {"a": 0.5, "b": 0.5}),
    "floating_source": (
        circuit(
            ["x", "a", "b"],
            r=[("r1", "x", "a", 1e3), ("r2", "b", "0", 1e3)],
            v=[("v1", "x", "0", 10.0), ("v2", "b", "a", 2.0)],
        ),
        {"a": 4.0, "b": 6.0},
    ),
    "current_source": (
        circuit(["n"], r=[("r1", "n", "0", 1e3)], i=[("i1", "0", "n", 2e-3)]),
        {"n": 2.0},
    ),
    "short_and_inductor": (
        circuit(
            ["x", "a", "b", "c"],
            r=[("r1", "x", "a", 1e3), ("rs", "a", "b", 0.0), ("r2", "c", "0", 1e3)],
            v=[("v1", "x", "0", 4.0)],
            inductors=B(["l1"], [3], [4], [1e-3]),
        ),
        {"a": 2.0, "b": 2.0, "c": 2.0},
    ),
}


@pytest.mark.parametrize("name", list(ANALYTIC))
def test_analytic(name: str) -> None:
    c, expected = ANALYTIC[name]
    sol = solve_reference(c)
    for node, value in expected.items():
        assert sol.voltage(node) == pytest.approx(value, abs=1e-12)
    cert = certify(c, sol.voltages)
    assert cert.ok, cert.summary()
    assert set(sol.timings) >= {"setup", "solve", "total"} and sol.sweeps == 0
    naive = enumerate_solve(c)
    assert naive is not None and np.allclose(naive, sol.voltages, atol=1e-12)


def test_currents_divider_and_clipper() -> None:
    sol = solve_reference(ANALYTIC["divider"][0])
    assert sol.vsource_current[0] == pytest.approx(-10.0 / 4e3)  # SPICE sign: delivers power
    sol = solve_reference(ANALYTIC["clipper_clips"][0])
    # 3 mA from v1, 2 mA into the load: 1 mA through the diode into v2
    assert sol.diode_current[0] == pytest.approx(1e-3)
    assert sol.vsource_current[0] == pytest.approx(-3e-3)
    assert sol.vsource_current[1] == pytest.approx(1e-3)
    sol = solve_reference(stalling_case())
    assert sol.diode_current[0] == pytest.approx(0.5e-3)


def test_gmin_defines_floating_node() -> None:
    c = circuit(["a", "b", "f"], r=[("r1", "a", "b", 1e3)], v=[("v1", "a", "0", 1.0)])
    with pytest.raises(CircuitError) as err:
        solve_reference(c)
    assert err.value.nodes == ["f"] and "node(s) f," in str(err.value)  # b hangs off a: fine
    sol = solve_reference(c, gmin=1e-3)
    assert sol.voltage("b") == pytest.approx(0.5) and sol.voltage("f") == 0.0
    assert certify(c, sol.voltages, gmin=1e-3).ok
    assert not certify(c, sol.voltages).ok


# ------------------------------------------------------------------ errors
def test_error_floating_node_named() -> None:
    c = circuit(
        ["a", "b", "c"],
        r=[("r1", "a", "0", 1e3), ("r2", "c", "0", 1e3)],
        d=[("d1", "a", "b", 0)],
        v=[("v1", "a", "0", 1.0)],
    )
    c.capacitors = B(["c1"], [2], [0], [1e-9])
    # b hangs off a through d1 only: defined (not unique; the SPICE limit is 1 V)
    sol = solve_reference(c)
    assert sol.voltage("b") == pytest.approx(1.0) and sol.info["unique"] is False
    c.diodes = B([], [], [], [])
    c.diode_models = []
    with pytest.raises(CircuitError, match=r"node\(s\) b\b") as err:
        solve_reference(c)
    assert err.value.nodes == ["b"]


def test_error_floating_supernode() -> None:
    # a and b tied by a floating source, no resistive path from either to ground
    c = circuit(
        ["a", "b", "c"], r=[("r1", "a", "b", 1e3), ("r2", "c", "0", 1.0)], v=[("v1", "a", "b", 1.0)]
    )
    with pytest.raises(CircuitError) as err:
        solve_reference(c)
    assert err.value.nodes == ["a", "b"]


def test_error_conflicting_source_loop_named() -> None:
    c = circuit(
        ["a", "b"],
        r=[("r1", "a", "0", 1e3)],
        v=[("v1", "a", "0", 1.0), ("v2", "b", "0", 2.0), ("v3", "a", "b", 0.5)],
    )
    with pytest.raises(CircuitError, match="conflicting") as err:
        solve_reference(c)
    assert sorted(err.value.elements) == ["v1", "v2", "v3"]


def test_consistent_source_loop_accepted() -> None:
    c = circuit(
        ["a", "b"],
        r=[("r1", "a", "0", 1e3), ("r2", "b", "0", 1e3), ("rs", "a", "b", 0.0)],
        v=[("v1", "a", "0", 1.0), ("v2", "b", "0", 1.0)],
    )
    sol = solve_reference(c)
    assert sol.voltage("b") == 1.0
    assert certify(c, sol.voltages).ok


def test_error_conflicting_short_named() -> None:
    c = circuit(
        ["a", "b"],
        r=[("r1", "a", "0", 1e3), ("rs", "a", "b", 0.0)],
        v=[("v1", "a", "0", 1.0), ("v2", "b", "0", 2.0)],
    )
    with pytest.raises(CircuitError) as err:
        solve_reference(c)
    assert sorted(err.value.elements) == ["rs", "v1", "v2"]


def test_error_diode_forced_to_short_source() -> None:
    c = circuit(
        ["a"], r=[("r1", "a", "0", 1e3)], d=[("d1", "a", "0", 0)], v=[("v1", "a", "0", 1.0)]
    )
    with pytest.raises(CircuitError, match="d1") as err:
        solve_reference(c)
    assert set(err.value.elements) == {"d1", "v1"}


def test_error_diode_chain_forced_named() -> None:
    # v1 holds a at 1 V; d1 a->x, d2 x->0 would need 1 <= v(x) <= 0
    c = circuit(
        ["a", "x", "y"],
        r=[("r1", "a", "0", 1e3), ("r2", "x", "0", 1e3), ("r3", "y", "0", 1e3)],
        d=[("d1", "a", "x", 0), ("d2", "x", "0", 0), ("d3", "y", "x", 0)],
        v=[("v1", "a", "0", 1.0)],
    )
    with pytest.raises(CircuitError) as err:
        solve_reference(c)
    assert set(err.value.elements) == {"d1", "d2", "v1"}
    assert enumerate_solve(c) is None


def test_diode_parallel_to_source_is_fine() -> None:
    # a diode whose voltage the sources fix at <= 0 is a constant, satisfied check
    c = circuit(
        ["a", "b"],
        r=[("r1", "a", "b", 1e3)],
        d=[("d1", "a", "b", 0), ("d2", "0", "b", 0)],
        v=[("v1", "a", "0", 1.0), ("v2", "b", "0", 1.0)],
    )
    sol = solve_reference(c)
    assert sol.voltage("b") == 1.0 and np.all(sol.diode_current == 0)
    assert certify(c, sol.voltages).ok


# ------------------------------------------------------------------ Lemke
def test_lemke_trivial_and_ray() -> None:
    z, status, pivots = lemke(np.eye(2), np.array([1.0, 2.0]))
    assert status == LEMKE_OK and pivots == 0 and np.all(z == 0)
    _, status, _ = lemke(np.zeros((1, 1)), np.array([-1.0]))
    assert status == LEMKE_RAY


@settings(max_examples=150, **SETTINGS)
@given(
    st.integers(1, 8).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(-2, 2), min_size=n * n, max_size=n * n),
            st.lists(st.integers(0, 2), min_size=n, max_size=n),
            st.lists(st.integers(0, 2), min_size=n, max_size=n),
        )
    )
)
def test_lemke_solves_feasible_psd_lcp(data) -> None:
    # M = Rᵀ R: positive semidefinite, often singular; small integers give many
    # degenerate ties.  q = y0 - M x0 with x0, y0 >= 0 makes the LCP feasible
    # (z = x0 gives w = y0), so Lemke must not end on a ray.
    r_entries, x_entries, y_entries = data
    n = len(x_entries)
    r = np.array(r_entries, dtype=float).reshape(n, n)
    m = r.T @ r
    q = np.array(y_entries, dtype=float) - m @ np.array(x_entries, dtype=float)
    z, status, _ = lemke(m, q)
    assert status == LEMKE_OK
    w = m @ z + q
    scale = 1.0 + np.max(np.abs(q)) + np.max(np.abs(m))
    assert np.all(z >= 0) and np.all(w >= -1e-9 * scale)
    assert abs(z @ w) <= 1e-9 * scale * (1 + np.max(z))


def test_lemke_infeasible_psd_lcp_is_a_ray() -> None:
    # z1 - z2 + q1 >= 0 and -z1 + z2 + q2 >= 0 need q1 + q2 >= 0
    m = np.array([[1.0, -1.0], [-1.0, 1.0]])
    _, status, _ = lemke(m, np.array([-1.0, 0.5]))
    assert status == LEMKE_RAY


# ------------------------------------------------------------------ scale
def test_medium_random_network_certifies() -> None:
    """A few hundred nodes, 100 diodes (free–free included): Lemke path at some size."""
    rng = np.random.default_rng(7)
    n = 300
    ta = np.arange(1, n + 1)
    tb = np.array([rng.integers(0, k) for k in range(1, n + 1)])
    ea, eb = rng.integers(1, n + 1, 2 * n), rng.integers(0, n + 1, 2 * n)
    keep = ea != eb
    ra, rb = np.concatenate([ta, ea[keep]]), np.concatenate([tb, eb[keep]])
    da, db = rng.integers(0, n + 1, 100), rng.integers(0, n + 1, 100)
    keep = da != db
    da, db = da[keep], db[keep]
    vs = rng.choice(np.arange(1, n + 1), 6, replace=False)
    c = make_circuit(
        "medium",
        ["0"] + [f"n{k}" for k in range(1, n + 1)],
        resistors=B(IndexedNames("r", ra.size), ra, rb, 10 ** rng.uniform(2, 5, ra.size)),
        diodes=B(IndexedNames("d", da.size), da, db, np.zeros(da.size)),
        vsources=B(IndexedNames("v", 6), vs, np.zeros(6, int), rng.uniform(-5, 5, 6)),
        isources=B(["i1"], [0], [5], [1e-3]),
    )
    sol = solve_reference(c)
    assert sol.info["lemke_pivots"] > 5
    assert np.sum(sol.diode_current > 0) > 5
    cert = certify(c, sol.voltages)
    assert cert.ok, cert.summary()


def test_bad_gmin_rejected() -> None:
    with pytest.raises(CircuitError, match="gmin"):
        solve_reference(stalling_case(), gmin=-1.0)
