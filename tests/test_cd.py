"""The numba coordinate-descent solver against the independent reference solver,
the brute-force enumeration and the certificate; analytic circuits; errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from naive import enumerate_solve, projected_sor
from strategies import examples, random_circuits, stalling_case

from resbench import solvers
from resbench.certificate import certify
from resbench.circuit import Branches, make_circuit
from resbench.errors import CircuitError
from resbench.generate import drn, grid, random_network
from resbench.solution import CONVERGED, NOT_CERTIFIED
from resbench.solvers.cd import solve_cd
from resbench.solvers.problem import compile_problem
from resbench.solvers.reference import solve_reference


def v_scale(circuit) -> float:
    vals = np.abs(circuit.vsources.value)
    return max(float(vals.max()) if vals.size else 0.0, 1.0)


def reference_or_none(circuit):
    try:
        return solve_reference(circuit)
    except CircuitError:
        return None


def check_against_reference(circuit, rel: float = 1e-9) -> None:
    ref = reference_or_none(circuit)
    if ref is None:
        with pytest.raises(CircuitError):
            solve_cd(circuit)
        return
    sol = solvers.solve(circuit, "cd")
    assert sol.status == CONVERGED, (sol.status, sol.info)
    assert sol.certificate is not None and sol.certificate.ok, sol.certificate.summary()
    err = np.max(np.abs(sol.voltages - ref.voltages))
    assert err <= rel * v_scale(circuit), (err, sol.info)


# ------------------------------------------------------------------ random circuits
@settings(
    max_examples=examples(250),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(random_circuits())
def test_random_circuits_match_reference(circuit):
    check_against_reference(circuit)


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(random_circuits(max_nodes=6, max_diodes=6))
def test_random_circuits_match_enumeration(circuit):
    """Against the most obvious brute force (all 2^n diode states)."""
    expected = enumerate_solve(circuit)
    if expected is None:
        with pytest.raises(CircuitError):
            solve_cd(circuit)
        return
    sol = solvers.solve(circuit, "cd")
    assert sol.ok, (sol.status, sol.certificate.summary() if sol.certificate else None)
    assert np.max(np.abs(sol.voltages - expected)) <= 1e-9 * v_scale(circuit)


@pytest.mark.parametrize("seed", range(6))
def test_random_networks_with_free_free_diodes(seed):
    check_against_reference(random_network(60, seed=seed, diodes=0.2, free_free=True))


@pytest.mark.parametrize("seed", range(3))
def test_grid_with_clamps_and_free_free_diodes(seed):
    check_against_reference(grid(12, 12, seed=seed, clamps=True, free_free_diodes=True))


def test_small_drn_matches_reference():
    check_against_reference(drn([40, 20, 20, 6], seed=3))


def test_drn_without_polish_is_exact_too():
    """Bounds only: plain CD reaches the optimum (docs/design.md §2) within its tolerance."""
    c = drn([60, 30, 8], seed=1, input_gain=3.0)
    sol = solve_cd(c, polish="never", tol=1e-12)
    ref = solve_reference(c)
    assert sol.status == CONVERGED and not sol.info["polished"]
    assert sol.sweeps < 40
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= 1e-9 * v_scale(c)


# --------------------------------------------------------------- analytic circuits
def _c(nodes, r=(), d=(), v=(), i=()):
    def br(items, prefix):
        items = list(items)
        return Branches.from_lists(
            [f"{prefix}{k}" for k in range(len(items))],
            [nodes.index(x[0]) for x in items],
            [nodes.index(x[1]) for x in items],
            [x[2] if len(x) > 2 else 0.0 for x in items],
        )

    return make_circuit(
        "t",
        nodes,
        resistors=br(r, "r"),
        diodes=br(d, "d"),
        vsources=br(v, "v"),
        isources=br(i, "i"),
    )


ANALYTIC = {
    "divider": (
        _c(["0", "a", "b"], r=[("a", "b", 1e3), ("b", "0", 3e3)], v=[("a", "0", 10.0)]),
        {"b": 7.5},
    ),
    "clipper": (  # 5 V –1k– out, clamp diode out→(2 V source), load 1k
        _c(
            ["0", "in", "out", "ref"],
            r=[("in", "out", 1e3), ("out", "0", 1e3)],
            d=[("out", "ref")],
            v=[("in", "0", 5.0), ("ref", "0", 2.0)],
        ),
        {"out": 2.0},
    ),
    "halfwave_forward": (
        _c(["0", "in", "out"], r=[("out", "0", 1e3)], d=[("in", "out")], v=[("in", "0", 3.0)]),
        {"out": 3.0},
    ),
    "halfwave_reverse": (
        _c(["0", "in", "out"], r=[("out", "0", 1e3)], d=[("in", "out")], v=[("in", "0", -3.0)]),
        {"out": 0.0},
    ),
    "diode_or": (
        _c(
            ["0", "a", "b", "out"],
            r=[("out", "0", 1e3)],
            d=[("a", "out"), ("b", "out")],
            v=[("a", "0", 2.0), ("b", "0", 3.0)],
        ),
        {"out": 3.0},
    ),
    "diode_and": (
        _c(
            ["0", "a", "b", "vcc", "out"],
            r=[("vcc", "out", 1e3)],
            d=[("out", "a"), ("out", "b")],
            v=[("a", "0", 2.0), ("b", "0", 3.0), ("vcc", "0", 5.0)],
        ),
        {"out": 2.0},
    ),
}


@pytest.mark.parametrize("name", sorted(ANALYTIC))
def test_analytic(name):
    circuit, expected = ANALYTIC[name]
    sol = solvers.solve(circuit, "cd")
    assert sol.ok, sol.certificate.summary()
    for node, value in expected.items():
        assert sol.voltage(node) == pytest.approx(value, abs=1e-12), node


@pytest.mark.parametrize("volts", [10.0, -10.0])
def test_bridge_rectifies_both_polarities(volts):
    """Floating source p–n into a diode bridge: the load x–y sees the same positive
    voltage whatever the source's polarity; checked against the reference too."""
    c = _c(
        ["0", "p", "n", "x", "y"],
        r=[("x", "y", 1e3), ("y", "0", 1e3), ("n", "0", 1e3)],
        d=[("p", "x"), ("n", "x"), ("y", "p"), ("y", "n")],
        v=[("p", "n", volts)],
    )
    sol = solvers.solve(c, "cd")
    assert sol.ok
    load = sol.voltage("x") - sol.voltage("y")
    assert load == pytest.approx(10.0, abs=1e-12)  # ideal diodes: the full source voltage
    check_against_reference(c)


def test_stalling_case():
    sol = solvers.solve(stalling_case(), "cd")
    assert sol.ok
    assert sol.voltage("a") == pytest.approx(0.5, abs=1e-12)
    assert sol.voltage("b") == pytest.approx(0.5, abs=1e-12)
    assert sol.diode_current[0] == pytest.approx(0.5e-3, rel=1e-9)


def test_plain_cd_stalls_and_the_certificate_catches_it():
    """Without the polish, CD stops at a = b = 0 (docs/design.md §2); the certificate refuses it."""
    sol = solvers.solve(stalling_case(), "cd", polish="never")
    assert sol.voltage("a") == 0.0 and sol.voltage("b") == 0.0
    assert sol.status == NOT_CERTIFIED
    assert not sol.certificate.ok


# ------------------------------------------------------------------------ options
def test_sweep_limit_then_polish_is_exact():
    c = grid(15, 15, seed=2, clamps=True)
    ref = solve_reference(c)
    sol = solve_cd(c, max_sweeps=3)
    assert sol.info["polished"] and sol.status == CONVERGED
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= 1e-9 * v_scale(c)
    raw = solve_cd(c, max_sweeps=3, polish="never")
    assert raw.status == "sweep_limit"


@pytest.mark.parametrize("omega", [1.0, 1.5, "auto"])
def test_omega_choices_agree(omega):
    c = grid(10, 10, seed=1, clamps=True)
    ref = solve_reference(c)
    sol = solve_cd(c, omega=omega, polish="never", tol=1e-12)
    assert sol.status == CONVERGED
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= 1e-8


def test_auto_omega_is_one_on_drn_and_higher_on_grids():
    assert solve_cd(drn([30, 20, 5], seed=0), polish="never").info["omega"] == 1.0
    assert solve_cd(grid(25, 25, seed=0, clamps=False), polish="never").info["omega"] > 1.5


def test_warm_start_from_answer_needs_few_sweeps():
    c = grid(15, 15, seed=4, clamps=True)
    first = solve_cd(c, polish="never")
    again = solve_cd(c, polish="never", warm_start=first.voltages)
    assert again.sweeps * 4 < first.sweeps
    assert np.max(np.abs(again.voltages - first.voltages)) < 1e-9


def test_timings_and_compile_are_separate():
    sol = solve_cd(stalling_case())
    t = sol.timings
    assert set(t) >= {"setup", "solve", "total", "compile"}
    assert t["total"] == pytest.approx(t["setup"] + t["solve"])


def test_gmin_gives_floating_nodes_a_voltage():
    c = _c(["0", "a", "f"], r=[("a", "0", 1e3)], v=[("a", "0", 1.0)])
    c.resistors = Branches.from_lists(["r0", "r1"], [1, 2], [0, 2], [1e3, 1e3])
    with pytest.raises(CircuitError, match="f"):
        solve_cd(c)
    sol = solvers.solve(c, "cd", gmin=1e-12)
    assert sol.voltage("f") == pytest.approx(0.0, abs=1e-12)
    assert sol.certificate.ok


# ------------------------------------------------------------------------- errors
def test_floating_node_is_named():
    c = _c(["0", "a", "b", "c"], r=[("a", "0", 1e3), ("b", "c", 1e3)], v=[("a", "0", 1.0)])
    with pytest.raises(CircuitError) as exc:
        solve_cd(c)
    assert exc.value.nodes == ["b", "c"]
    assert "no resistive path" in str(exc.value)


def test_conflicting_source_loop_is_named():
    c = _c(
        ["0", "a", "b"],
        r=[("a", "b", 1e3)],
        v=[("a", "0", 1.0), ("b", "0", 2.0), ("a", "b", 3.0)],
    )
    with pytest.raises(CircuitError) as exc:
        solve_cd(c)
    assert set(exc.value.elements) == {"v0", "v1", "v2"}
    assert "KVL" in str(exc.value)


def test_diode_forced_to_short_a_source_is_named():
    c = _c(["0", "a"], r=[("a", "0", 1e3)], d=[("a", "0")], v=[("a", "0", 1.0)])
    with pytest.raises(CircuitError) as exc:
        solve_cd(c)
    assert exc.value.elements[:2] == ["d0", "v0"]


def test_diode_chain_forced_by_sources_is_named():
    c = _c(
        ["0", "a", "m"],
        r=[("m", "0", 1e3)],
        d=[("a", "m"), ("m", "0")],
        v=[("a", "0", 1.0)],
    )
    with pytest.raises(CircuitError) as exc:
        solve_cd(c)
    assert {"d0", "d1"} <= set(exc.value.elements)


def test_free_free_diode_cycle_forced_by_floating_source():
    """A floating source inside a loop of free–free diodes: a negative cycle."""
    c = _c(
        ["0", "x", "y", "z"],
        r=[("x", "0", 1e3), ("y", "0", 1e3), ("z", "0", 1e3)],
        d=[("x", "y"), ("y", "z")],
        v=[("x", "z", 1.0)],
    )
    with pytest.raises(CircuitError) as exc:
        solve_cd(c)
    assert {"d0", "d1"} <= set(exc.value.elements)
    assert reference_or_none(c) is None


# ------------------------------------------------------------- problem structure
def test_fold_keeps_only_free_free_edges():
    c = drn([20, 10, 4], seed=0)
    p = compile_problem(c)
    n_inputs = 20
    assert p.n == 14  # hidden + output nodes; inputs are held by sources
    assert p.n_ff_edges == int(np.sum((c.resistors.a >= n_inputs + 1) & (c.resistors.b >= 1)))


def test_certificate_of_cd_answer_matches_independent_certify():
    c = random_network(40, seed=7)
    sol = solvers.solve(c, "cd")
    cert = certify(c, sol.voltages)
    assert cert.ok and sol.certificate.kcl == cert.kcl


# ------------------------------------------------------------ sweep kernel variants
@pytest.mark.parametrize(
    "make, variant",
    [
        (lambda s: random_network(60, seed=s, diodes=0.0), "free"),
        (lambda s: grid(8, 9, seed=s, clamps=False), "free"),
        (lambda s: grid(8, 9, seed=s, clamps=True), "bounded"),
        (
            lambda s: random_network(60, seed=s, diodes=0.2, free_free=False, floating=0.0),
            "bounded",
        ),
        (lambda s: random_network(60, seed=s, diodes=0.2, free_free=True), "diodes"),
        (lambda s: grid(7, 7, seed=s, clamps=True, free_free_diodes=True), "diodes"),
    ],
)
@pytest.mark.parametrize("omega", [1.0, 1.4])
@pytest.mark.parametrize("seed", range(4))
def test_each_sweep_variant_matches_plain_projected_sor(make, variant, omega, seed):
    """cd_sweeps picks one of four loops (free, free + ω, bounded, free–free
    diodes) and runs them on unsigned, row-scaled arrays; each must do exactly
    the projected SOR sweep of the formula, node by node, in the same order."""
    from resbench.solvers import _kernels as kernels
    from resbench.solvers.cd import sweep_arrays

    p = compile_problem(make(seed))
    sargs = sweep_arrays(p)
    got = {
        (False, False): "free",
        (True, False): "bounded",
    }.get((sargs.bounded, p.n_ff_diodes > 0), "diodes")
    assert got == variant
    sweeps = 5
    u = p.start.copy()
    hist = np.zeros(sweeps)
    status, done, res, _ = kernels.cd_sweeps(
        *sargs, u, omega, 0.0, sweeps, hist, np.zeros(kernels.STATE_LEN)
    )
    want, want_res = projected_sor(p, p.start, omega, sweeps)
    scale = max(1.0, float(np.abs(want).max()))
    assert done == sweeps and status == kernels.CD_SWEEP_LIMIT
    assert np.max(np.abs(u - want)) <= 1e-12 * scale
    assert res == pytest.approx(want_res, rel=1e-6, abs=1e-13 * scale)
    assert hist[-1] == res
