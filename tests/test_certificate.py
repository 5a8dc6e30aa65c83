"""The optimality certificate: passes exact answers, fails wrong ones, scales to big nets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import kcl_residual
from strategies import examples, random_circuits, stalling_case

from resbench import Certificate, certify
from resbench.circuit import Branches, Circuit, IndexedNames, make_circuit
from resbench.errors import CircuitError
from resbench.solvers.reference import solve_reference

B = Branches.from_lists
SETTINGS = dict(deadline=None, database=None)


def divider() -> Circuit:
    return make_circuit(
        "divider",
        ["0", "in", "out"],
        resistors=B(["r1", "r2"], [1, 2], [2, 0], [1e3, 3e3]),
        vsources=B(["v1"], [1], [0], [10.0]),
    )


def half_wave(volts: float) -> Circuit:
    return make_circuit(
        "half wave",
        ["0", "in", "out"],
        resistors=B(["r1"], [2], [0], [1e3]),
        diodes=B(["d1"], [1], [2], [0.0]),
        vsources=B(["v1"], [1], [0], [volts]),
    )


# ------------------------------------------------------------ exact answers
def test_exact_answers_pass_with_multipliers() -> None:
    cert = certify(divider(), np.array([0.0, 10.0, 7.5]))
    assert isinstance(cert, Certificate) and cert.ok
    assert cert.feasibility == 0.0 and cert.kcl <= cert.kcl_tol
    assert cert.vsource_current[0] == pytest.approx(-2.5e-3)  # SPICE sign
    assert cert.summary().startswith("certified: feas 0 V")

    cert = certify(stalling_case(), np.array([0.0, 1.0, 0.5, 0.5]))
    assert cert.ok and cert.diode_current[0] == pytest.approx(0.5e-3)
    assert cert.vsource_current[0] == pytest.approx(-0.5e-3)

    cert = certify(half_wave(-5.0), np.array([0.0, -5.0, 0.0]))
    assert cert.ok and cert.diode_current[0] == 0.0


# ------------------------------------------------------------ wrong answers
def test_shifted_free_node_fails_kcl() -> None:
    cert = certify(divider(), np.array([0.0, 10.0, 7.501]))
    assert not cert.ok
    assert cert.feasibility <= cert.feas_tol  # nothing infeasible: it is KCL that fails
    assert cert.kcl > cert.kcl_tol and cert.worst_node == "out"
    assert cert.kcl == pytest.approx(1e-3 / 1e3 + 1e-3 / 3e3)
    assert "NOT certified" in cert.summary() and "worst node out" in cert.summary()


def test_violated_diode_fails_feasibility() -> None:
    cert = certify(half_wave(-5.0), np.array([0.0, -5.0, -5.5]))
    assert not cert.ok
    assert cert.feasibility == pytest.approx(0.5) and cert.feasibility > cert.feas_tol
    assert cert.worst_element == "d1"


def test_stalled_answer_fails_kcl() -> None:
    # docs/design.md §2: plain coordinate descent stops at a = b = 0; the diode is tight but
    # no non-negative current balances both nodes.
    cert = certify(stalling_case(), np.array([0.0, 1.0, 0.0, 0.0]))
    assert not cert.ok
    assert cert.feasibility == 0.0
    assert cert.kcl == pytest.approx(0.5e-3) and cert.kcl > cert.kcl_tol
    assert cert.worst_node in ("a", "b")


def test_violated_sources_and_shorts_fail_feasibility() -> None:
    cert = certify(divider(), np.array([0.0, 9.9, 7.425]))
    assert not cert.ok and cert.worst_element == "v1"
    assert cert.feasibility == pytest.approx(0.1)
    cert = certify(divider(), np.array([1e-3, 10.0, 7.5]))
    assert not cert.ok and cert.worst_element == "ground"
    c = make_circuit(
        "short",
        ["0", "a", "b", "c"],
        resistors=B(["r1", "rs", "r2"], [1, 2, 3], [2, 3, 0], [1e3, 0.0, 1e3]),
        vsources=B(["v1"], [1], [0], [1.0]),
        inductors=B(["l1"], [2], [3], [1e-6]),
    )
    assert certify(c, np.array([0.0, 1.0, 0.5, 0.5])).ok
    cert = certify(c, np.array([0.0, 1.0, 0.5, 0.4]))
    assert not cert.ok and cert.worst_element in ("rs", "l1")


def test_complementarity_measures_current_times_reverse_voltage() -> None:
    # with a loose rtol a diode reverse biased by 2 mV still counts as tight and
    # carries the current that balances KCL best: compl = 2 mV × that current
    v = np.array([0.0, 1.0, 0.5, 0.502])
    cert = certify(stalling_case(), v, rtol=1e-2)
    assert cert.diode_current[0] == pytest.approx(0.501e-3)
    assert cert.complementarity == pytest.approx(0.002 * 0.501e-3)
    assert cert.kcl == pytest.approx(1e-6)


def test_non_finite_and_wrong_length() -> None:
    cert = certify(divider(), np.array([0.0, 10.0, np.nan]))
    assert not cert.ok and cert.worst_node == "out"
    assert "NOT certified" in cert.summary()
    with pytest.raises(ValueError, match="3 nodes"):
        certify(divider(), np.zeros(2))


def test_gmin_leak_is_part_of_kcl() -> None:
    c = make_circuit(
        "leak",
        ["0", "a", "b"],
        resistors=B(["r1"], [1], [2], [1e3]),
        vsources=B(["v1"], [1], [0], [1.0]),
    )
    assert certify(c, np.array([0.0, 1.0, 1.0])).ok
    assert not certify(c, np.array([0.0, 1.0, 1.0]), gmin=1e-3).ok
    assert certify(c, np.array([0.0, 1.0, 0.5]), gmin=1e-3).ok


# -------------------------------------------------------------- properties
@settings(max_examples=examples(75), **SETTINGS)
@given(random_circuits(), st.data())
def test_reference_answers_certify_and_any_shift_fails(c: Circuit, data) -> None:
    try:
        sol = solve_reference(c)
    except CircuitError:
        return
    cert = certify(c, sol.voltages)
    assert cert.ok, cert.summary()
    k = data.draw(st.integers(1, c.n_nodes - 1), label="node")
    shift = data.draw(st.sampled_from([1e-3, -1e-3]), label="shift")
    v = sol.voltages.copy()
    v[k] += shift
    bad = certify(c, v)
    assert not bad.ok, (c.nodes[k], bad.summary())


@settings(max_examples=examples(75), **SETTINGS)
@given(random_circuits(), st.data())
def test_kcl_matches_one_global_least_squares(c: Circuit, data) -> None:
    """The per-cluster closed forms and NNLS give the same residual as one global
    bounded least-squares problem (the residual vector of that projection is unique)."""
    try:
        v = solve_reference(c).voltages.copy()
    except CircuitError:
        v = np.zeros(c.n_nodes)
    for k in data.draw(st.lists(st.integers(1, c.n_nodes - 1), max_size=3), label="moved"):
        v[k] += data.draw(st.sampled_from([0.5, -0.25, 1e-4]), label="by")
    cert = certify(c, v)
    expected = kcl_residual(c, v, cert.feas_tol)
    assert cert.kcl == pytest.approx(np.max(np.abs(expected)), rel=1e-6, abs=1e-12 * cert.i_scale)


# -------------------------------------------------------------------- scale
def manufactured(k: int, n_diodes: int, seed: int = 0) -> tuple[Circuit, np.ndarray, dict]:
    """A k×k resistor grid whose exact answer is known by construction.

    Voltages are chosen first; tight diodes (to ground, free–free pairs, chains)
    get equal end voltages and a chosen current, other diodes are reverse biased;
    grounded and floating sources and chains of 0 V sources take the chosen
    voltages and arbitrary currents; one current source per node cancels
    whatever imbalance is left, so the chosen voltages are exactly optimal.
    """
    rng = np.random.default_rng(seed)
    n = k * k
    idx = np.arange(1, n + 1).reshape(k, k)
    ra = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    rb = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    rv = 10 ** rng.uniform(2, 4, ra.size)
    v = np.concatenate([[0.0], rng.uniform(-1, 1, n)])
    pool = iter(rng.permutation(np.arange(1, n + 1)))

    def take(m: int) -> np.ndarray:
        return np.array([next(pool) for _ in range(m)], dtype=np.int64)

    da, db, dcur = [], [], []
    n_quarter = n_diodes // 4
    # tight diodes to ground, both directions
    g = take(n_quarter)
    v[g] = 0.0
    up = rng.random(g.size) < 0.5
    da += list(np.where(up, 0, g))
    db += list(np.where(up, g, 0))
    dcur += list(rng.uniform(0, 1e-3, g.size))
    # tight free–free pairs and chains of three
    pairs = take(2 * (n_quarter // 2)).reshape(-1, 2)
    v[pairs[:, 1]] = v[pairs[:, 0]]
    da += list(pairs[:, 0])
    db += list(pairs[:, 1])
    dcur += list(rng.uniform(0, 1e-3, len(pairs)))
    chains = take(3 * (n_quarter // 4)).reshape(-1, 3)
    v[chains[:, 1]] = v[chains[:, 0]]
    v[chains[:, 2]] = v[chains[:, 0]]
    da += list(chains[:, 0]) + list(chains[:, 1])
    db += list(chains[:, 1]) + list(chains[:, 2])
    dcur += list(rng.uniform(0, 1e-3, 2 * len(chains)))
    # reverse-biased diodes between random nodes
    m = n_diodes - len(da)
    p, q = rng.integers(0, n + 1, m), rng.integers(0, n + 1, m)
    q = np.where(p == q, (q % n) + 1, q)
    p, q = np.where(v[p] < v[q], p, q), np.where(v[p] < v[q], q, p)
    keep = v[p] < v[q]
    da += list(p[keep])
    db += list(q[keep])
    dcur += [0.0] * int(keep.sum())
    da, db, dcur = np.array(da), np.array(db), np.array(dcur)

    # sources: grounded, floating, and chains of 0 V probes (supernodes of 3)
    gs = take(20)
    fl = take(40).reshape(-1, 2)
    probes = take(30).reshape(-1, 3)
    v[probes[:, 1]] = v[probes[:, 0]]
    v[probes[:, 2]] = v[probes[:, 0]]
    va = np.concatenate([gs, fl[:, 0], probes[:, 0], probes[:, 1]])
    vb = np.concatenate([np.zeros(gs.size, np.int64), fl[:, 1], probes[:, 1], probes[:, 2]])
    vval = v[va] - v[vb]
    vcur = rng.uniform(-1e-3, 1e-3, va.size)

    # balance: resistor, diode and source currents, cancelled by current sources
    ka = np.concatenate([ra, da, va])
    kb = np.concatenate([rb, db, vb])
    ki = np.concatenate([(v[ra] - v[rb]) / rv, dcur, vcur])
    inj = np.bincount(kb, ki, n + 1) - np.bincount(ka, ki, n + 1)
    c = make_circuit(
        "manufactured grid",
        ["0"] + [f"n{i}" for i in range(1, n + 1)],
        resistors=B(IndexedNames("r", ra.size), ra, rb, rv),
        diodes=B(IndexedNames("d", da.size), da, db, np.zeros(da.size)),
        vsources=B(IndexedNames("v", va.size), va, vb, vval),
        isources=B(IndexedNames("i", n), np.arange(1, n + 1), np.zeros(n, np.int64), inj[1:]),
    )
    structure = {"pairs": pairs, "chains": chains, "plain": take(5)}
    return c, v, structure


def test_manufactured_300x300_grid_certifies_and_perturbations_fail() -> None:
    """90,000 nodes, 180,000 resistors, 1,000 diodes: exercises every vectorised path."""
    c, v, structure = manufactured(300, 1000)
    cert = certify(c, v)
    assert cert.ok, cert.summary()
    assert np.count_nonzero(cert.diode_current) > 300

    node = int(structure["plain"][0])
    w = v.copy()
    w[node] += 1e-3
    bad = certify(c, w)
    assert not bad.ok and bad.kcl > bad.kcl_tol and bad.worst_node == c.nodes[node]
    assert bad.feasibility <= bad.feas_tol

    a, b = (int(x) for x in structure["pairs"][0])
    w = v.copy()
    w[a] += 1e-3  # the tight diode a -> b is now forward biased
    bad = certify(c, w)
    assert not bad.ok and bad.feasibility == pytest.approx(1e-3)

    a, b, _ = (int(x) for x in structure["chains"][0])
    w = v.copy()
    w[b] -= 1e-3  # middle of a conducting chain pulled down: first diode forward biased
    assert not certify(c, w).ok
