"""Islands: groups reached from the fixed voltages only through diodes (issue 10).

Two diodes in series, diode logic, a current source feeding through a diode, a
loop of diodes, a node joined only by diodes: each has a unique answer that both
exact solvers must give (and ngspice agrees).  Where the answer is not unique
(an island whose diodes are all offset), the solvers report it, name the nodes and
give the limit that SPICE's switch model tends to; hypothesis-generated circuits
with islands are checked against the reference solver and brute force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from naive import enumerate_solve
from strategies import examples, random_circuits

from resbench import solvers
from resbench.certificate import certify
from resbench.circuit import Branches, Circuit, make_circuit
from resbench.errors import CircuitError
from resbench.netlist import parse_netlist, read_netlist
from resbench.solution import CONVERGED
from resbench.solvers.problem import compile_problem

NETLISTS = Path(__file__).resolve().parent.parent / "netlists"
EXACT = ["cd", "reference"]
SETTINGS = dict(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def net(body: str) -> Circuit:
    return parse_netlist("islands test\n" + body + "\n.model dm d\n.end\n")


SERIES = "V1 a 0 1\nR1 a b 1k\nD1 b c dm\nR2 c d 1k\nD2 d e dm\nR3 e 0 1k"

UNIQUE = {
    "series_diodes": (SERIES, {"c": 2 / 3, "d": 1 / 3, "b": 2 / 3, "e": 1 / 3}),
    "diode_logic": (
        "V1 a 0 5\nV2 b 0 0\nD1 a x dm\nD2 b x dm\nR1 x y 1k\nD3 y z dm\nR2 z 0 1k",
        {"x": 5.0, "y": 2.5, "z": 2.5},
    ),
    "isource_diode": ("I1 0 a 1m\nD1 a b dm\nR1 b 0 1k", {"a": 1.0, "b": 1.0}),
    "diode_loop": (
        "V1 a 0 1\nR1 a x 1k\nR2 x 0 1k\nD1 x y dm\nD2 y z dm\nD3 z x dm",
        {"x": 0.5, "y": 0.5, "z": 0.5},
    ),
    "island_between_sources": (  # an island held between two conducting diodes
        "V1 a 0 2\nV2 b 0 1\nR0 a 0 1k\nD1 a x dm\nR1 x y 1k\nR2 y z 1k\nD2 z b dm",
        {"x": 2.0, "y": 1.5, "z": 1.0},
    ),
    "floating_source_island": (  # a floating source inside the island (a supernode)
        "V1 a 0 3\nD1 a x dm\nVf x y 1\nR1 y z 1k\nD2 z 0 dm",
        {"x": 3.0, "y": 2.0, "z": 0.0},
    ),
}


@pytest.mark.parametrize("solver", EXACT)
@pytest.mark.parametrize("name", sorted(UNIQUE))
def test_unique_island_answers(name, solver):
    body, expected = UNIQUE[name]
    sol = solvers.solve(net(body), solver)
    assert sol.status == CONVERGED and sol.ok, sol.certificate.summary()
    assert sol.info["unique"] is True and sol.certificate.unique is True
    for node, volts in expected.items():
        assert sol.voltage(node) == pytest.approx(volts, abs=1e-12), node


def test_series_diodes_currents():
    sol = solvers.solve(net(SERIES), "cd")
    assert sol.diode_current == pytest.approx([1e-3 / 3, 1e-3 / 3], rel=1e-9)


def test_problem_marks_islands_without_changing_the_common_case():
    p = compile_problem(net(SERIES))
    assert p.n_islands == 1
    members = {
        p.circuit.nodes[k]
        for k in np.flatnonzero(p.supernode >= 0)
        if p.island[p.supernode[k]] >= 0
    }
    assert members == {"c", "d"}
    p = compile_problem(net("V1 a 0 1\nR1 a b 1k\nD1 b 0 dm"))
    assert p.n_islands == 0 and p.island.size == 0


# ------------------------------------------------------------------ not unique
NOT_UNIQUE = {
    # a node joined only by one diode: any v(n) >= 1 V is optimal; SPICE gives 1 V
    "diode_only_node": ("V1 a 0 1\nR1 a 0 1k\nD1 a n dm", {"n": 1.0}, ["n"]),
    # between two offset diodes: 0 <= v(m) <= 1; the leak splits it: 0.5 V
    "between_two_off_diodes": ("V1 x 0 1\nR1 x 0 1k\nD1 m x dm\nD2 0 m dm", {"m": 0.5}, ["m"]),
    # an island of two resistors, both diodes offset: shifts as a whole
    "resistive_island_all_off": (
        "V1 a 0 2\nR0 a 0 1k\nD1 p a dm\nR1 p q 1k\nD2 0 q dm",
        {"p": 1.0, "q": 1.0},
        ["p", "q"],
    ),
}


@pytest.mark.parametrize("solver", EXACT)
@pytest.mark.parametrize("name", sorted(NOT_UNIQUE))
def test_not_unique_is_reported_with_the_spice_limit(name, solver):
    body, expected, nodes = NOT_UNIQUE[name]
    sol = solvers.solve(net(body), solver)
    assert sol.status == CONVERGED and sol.ok
    for node, volts in expected.items():
        assert sol.voltage(node) == pytest.approx(volts, abs=1e-12), node
    assert sol.info["unique"] is False
    assert "NOT UNIQUE" in sol.info["uniqueness"] and "SPICE limit" in sol.info["answer"]
    assert sol.info["non_unique_nodes"].split(", ") == nodes
    cert = sol.certificate
    assert cert.unique is False and cert.non_unique_nodes == nodes and cert.spice_limit is True
    summary = cert.summary()
    assert "NOT UNIQUE" in summary and "is the SPICE limit" in summary
    assert all(node in summary for node in nodes)


def test_certificate_says_when_a_non_unique_answer_is_not_the_spice_limit():
    c = net(NOT_UNIQUE["between_two_off_diodes"][0])
    k = c.nodes.index("m")
    v = solvers.solve(c, "cd").voltages.copy()
    v[k] = 0.2  # still optimal, not the limit
    cert = certify(c, v)
    assert cert.ok and cert.unique is False and cert.spice_limit is False
    assert "NOT the SPICE limit" in cert.summary()
    assert "[-0.2, +0.8]" in cert.summary()


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("solver", EXACT)
def test_island_without_any_diode_is_still_undefined(solver):
    c = net("V1 a 0 1\nR1 a 0 1k\nR2 p q 1k")
    with pytest.raises(CircuitError, match="no resistive path") as exc:
        solvers.solve(c, solver)
    assert exc.value.nodes == ["p", "q"]


@pytest.mark.parametrize("solver", EXACT)
def test_islands_joined_only_to_each_other_are_undefined(solver):
    c = net("V1 a 0 1\nR1 a 0 1k\nR2 p q 1k\nD1 q s dm\nR3 s t 1k")
    with pytest.raises(CircuitError, match="not defined|undefined") as exc:
        solvers.solve(c, solver)
    assert set(exc.value.nodes) == {"p", "q", "s", "t"}


@pytest.mark.parametrize("solver", EXACT)
def test_island_with_a_current_no_diode_can_carry_is_unbounded(solver):
    c = net("I1 0 a 1m\nD1 b a dm\nR1 b 0 1k")
    with pytest.raises(CircuitError, match="no diode can carry") as exc:
        solvers.solve(c, solver)
    assert exc.value.nodes == ["a"]


def test_error_never_claims_undefined_where_diodes_define_it():
    """The old refusal of two series diodes ("voltage not defined") is gone."""
    sol = solvers.solve(net(SERIES), "cd")
    assert sol.ok


# ------------------------------------------------------------------ hypothesis
def _check(circuit: Circuit, solver: str, expected: np.ndarray | None, rel: float = 1e-9):
    if expected is None:
        with pytest.raises(CircuitError):
            solvers.solve(circuit, solver)
        return None
    sol = solvers.solve(circuit, solver)
    assert sol.status == CONVERGED and sol.ok, (sol.status, sol.certificate.summary())
    scale = max(1.0, float(np.max(np.abs(expected))))
    err = float(np.max(np.abs(sol.voltages - expected)))
    assert err <= rel * scale, (err, solver, sol.info)
    if sol.info.get("unique") is False:
        assert sol.certificate.unique is False and sol.certificate.spice_limit
    return sol


@settings(max_examples=examples(75), **SETTINGS)
@given(random_circuits(max_nodes=4, max_diodes=4, islands=2))
def test_islands_match_brute_force(circuit):
    """cd and reference against the enumeration of diode states (and, where the
    answer is not unique, the brute-force least-leak point)."""
    expected = enumerate_solve(circuit)
    for solver in EXACT:
        _check(circuit, solver, expected)


@settings(max_examples=examples(75), **SETTINGS)
@given(random_circuits(max_nodes=7, max_diodes=6, islands=3))
def test_islands_cd_matches_reference(circuit):
    try:
        ref = solvers.solve(circuit, "reference")
    except CircuitError:
        ref = None
    if ref is not None and not ref.ok:
        # the reference ended on an answer it cannot certify: then cd refuses the
        # circuit with its reason, or gives an answer its certificate proves
        try:
            sol = solvers.solve(circuit, "cd")
        except CircuitError:
            return
        assert sol.ok, sol.certificate.summary()
        return
    sol = _check(circuit, "cd", None if ref is None else ref.voltages)
    if sol is not None:
        assert ref.ok and sol.info.get("unique", True) == ref.info.get("unique", True)


def test_an_island_no_diode_can_drain_is_refused():
    """Found by the explore profile: i6 is reached only through diodes pointing into it
    (d5 from n1, d6 from i5) and a current source feeds it 0.25 mA; nothing can carry
    that away, so the energy is unbounded and there is no operating point.  cd says so
    and names the node; so does the reference (its pivots ended on voltages its
    certificate refused, KCL 0.25 mA at i6: now the island's balance is checked after
    Lemke and, when it fails, an LP over the diode currents proves there is none)."""
    B = Branches.from_lists
    c = make_circuit(
        title="an island fed a current it cannot drain",
        nodes=["0", "n1", "n2", "i3", "i4", "i5", "i6"],
        resistors=B(["r1", "r2"], [1, 2], [0, 1], [100000.0, 100.0]),
        diodes=B(["d1", "d2", "d3", "d4", "d5", "d6"], [0, 1, 1, 4, 1, 5], [1, 2, 3, 0, 6, 6],
                 [0.0] * 6),
        vsources=B(["v1"], [5], [4], [0.25]),
        isources=B(["i1", "i2"], [0, 0], [1, 6], [0.0005, 0.00025]),
        diode_models=["d"] * 6,
    )  # fmt: skip
    with pytest.raises(CircuitError, match="i6"):
        solvers.solve(c, "cd")
    with pytest.raises(CircuitError, match="no diode can carry away") as exc:
        solvers.solve(c, "reference")
    assert exc.value.nodes == ["i6"]


# ------------------------------------------------------------------- ngspice
@pytest.mark.parametrize("name", ["series_diodes", "diode_logic", "isource_diode", "diode_loop"])
@pytest.mark.spice
def test_bundled_island_netlists_agree_with_ngspice(name):
    c = read_netlist(NETLISTS / f"{name}.cir")
    cd = solvers.solve(c, "cd")
    ref = solvers.solve(c, "reference")
    spice = solvers.solve(c, "ngspice")
    assert cd.ok and ref.ok and spice.status == CONVERGED
    assert np.max(np.abs(cd.voltages - ref.voltages)) <= 1e-12
    assert np.max(np.abs(cd.voltages - spice.voltages)) <= 1e-6
    expected = UNIQUE[name][1]
    for node, volts in expected.items():
        assert cd.voltage(node) == pytest.approx(volts, abs=1e-12)


@pytest.mark.parametrize("name", sorted(NOT_UNIQUE))
@pytest.mark.spice
def test_spice_limit_is_what_ngspice_gives(name):
    c = net(NOT_UNIQUE[name][0])
    cd = solvers.solve(c, "cd")
    spice = solvers.solve(c, "ngspice")
    assert spice.status == CONVERGED
    assert np.max(np.abs(cd.voltages - spice.voltages)) <= 1e-6
