"""Exactness of the single-circuit solver on three draws of a random bug hunt.

1. A node held at −250 kV by ``gmin`` alone inflates the voltage scale, so the sweeps'
   error bound (relative to that scale) let a 1.1 mS node stop 1.4e-7 V off: the KCL
   residual failed the certificate.  The solver must finish exactly instead.
2. The reference solver's uniqueness verdict disagreed with the certificate's on two
   island draws: an island node between two anti-parallel ideal diodes to n1 (pinned:
   unique), where the reference's voltage scale was 1e-300 V so a 1e-16 V round-off
   slack counted as a free range; and islands fed by current sources, where the
   island LCP's diagonal scaling by round-off (~1e-33) buried the injections and
   left the diodes that carry them at zero current.
3. A node clamped by its diode against a large injection (0.18 A into a DRN hidden
   node) made the a-priori voltage scale 30 kV while no answer voltage exceeds 1 V:
   the sweeps stopped 3e-8 of the answer's scale from the exact point.

Each answer is compared with the reference solver (KKT + Lemke, independent of the
sweeps) on a circuit where it is accurate, and must pass the optimality certificate.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import random_circuits

from resbench import solvers
from resbench.batch.network import with_values
from resbench.certificate import current_scale
from resbench.circuit import Branches, Circuit
from resbench.errors import ResbenchError
from resbench.generate import drn
from resbench.netlist import parse_netlist
from resbench.solution import CONVERGED
from resbench.solvers import _kernels as kernels
from resbench.solvers.problem import compile_problem

GMIN_ONLY = """gmin carries a current source's current
r1 n1 0 100
r2 n2 0 100
r3 n3 0 100
r4 n4 0 100
r5 n5 0 1000
r6 n6 n5 10000
d1 i7 0 d
v1 n1 0 0.25
i1 n5 i7 -0.00025
.model d d
.end
"""


def _answer_scale(v: np.ndarray) -> float:
    """What tests/test_batch.py compares against: the largest |v|, floored at 1 mV."""
    return max(1e-3, float(np.max(np.abs(v))))


def test_gmin_held_node_does_not_hide_a_kcl_error() -> None:
    c = parse_netlist(GMIN_ONLY)
    ref = solvers.solve(c, "reference", gmin=1e-9)
    assert ref.ok, ref.certificate.summary()
    sol = solvers.solve(c, "cd", gmin=1e-9)
    assert sol.status == CONVERGED and sol.ok, sol.certificate.summary()
    # node by node: the 0.25 V nodes are exact to the last bits the scale allows, not
    # to 1e-12 of the 250 kV that i7 sits at
    k = c.nodes.index("n5")
    assert abs(sol.voltages[k] - ref.voltages[k]) <= 1e-12
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= 1e-12 * _answer_scale(ref.voltages)


def test_kcl_check_leaves_a_certified_answer_alone() -> None:
    """With a 1 kΩ resistor holding i7 instead of gmin alone, the sweeps' answer
    certifies: the KCL check adds no finish."""
    c = parse_netlist(GMIN_ONLY.replace("d1 i7 0 d", "d1 i7 0 d\nr7 i7 0 1k"))
    sol = solvers.solve(c, "cd")
    assert sol.ok and not sol.info["direct"] and not sol.info.get("kcl_finish", False)


ANTI_PARALLEL = """anti-parallel ideal diodes pin i4 to n1
r1 n1 0 1229.553
r2 n2 n1 329.511
r3 0 n1 10000.0
r4 n2 n1 281.76
r5 0 n1 100000.0
r6 0 n2 329.511
d1 n2 i3 d
d2 n1 i4 d
d3 i4 n1 d
i1 0 i3 dc -0.00375
.model d d
.end
"""

FED_ISLANDS = """islands fed by current sources, each through its diode to ground
r1 n1 0 100.0
d1 i2 0 d
d2 i3 0 d
v1 i4 i3 dc 0.25
i1 0 i2 dc 0.00025
i2 0 i3 dc 0.00025
.model d d
.end
"""


@pytest.mark.parametrize("netlist", [ANTI_PARALLEL, FED_ISLANDS], ids=["anti_parallel", "fed"])
def test_reference_uniqueness_agrees_with_the_certificate(netlist: str) -> None:
    c = parse_netlist(netlist)
    ref = solvers.solve(c, "reference")
    assert ref.status == CONVERGED and ref.ok, ref.certificate.summary()
    assert ref.certificate.unique is True  # every island is pinned by a diode
    assert ref.info["unique"] is True, ref.info.get("uniqueness")
    # the reference's own diode currents balance KCL (the certificate's multipliers)
    np.testing.assert_allclose(ref.diode_current, ref.certificate.diode_current, atol=1e-12)
    cd = solvers.solve(c, "cd")
    assert cd.ok and cd.info["unique"] is True
    assert np.max(np.abs(cd.voltages - ref.voltages)) <= 1e-12 * _answer_scale(ref.voltages)


def _clamped_drn(amps: float) -> Circuit:
    """drn 4-3-1 (seed 38153, bias) with the bias source into h1_0 (diode to ground,
    v >= 0) set to ``amps``: negative values pull the node onto its clamp."""
    return with_values(drn([4, 3, 1], seed=38153, bias=True), ["ib0"], np.array([amps]))


def _clamped_truth() -> np.ndarray:
    """The exact answer of every :func:`_clamped_drn` whose h1_0 is on its clamp: the
    same network with h1_0 held at 0 V by a source and no injection there (the clamp
    absorbs whatever ib0 pulls), solved by the reference without any large current in
    the problem (the reference's own error grows with the injection: 9e-8 of the
    answer's scale at −1 kA)."""
    c = _clamped_drn(0.0)
    k = c.nodes.index("h1_0")
    vs = c.vsources
    held = dataclasses.replace(
        c,
        vsources=Branches(
            [*vs.names, "vclamp"],
            np.append(vs.a, k).astype(vs.a.dtype),
            np.append(vs.b, 0).astype(vs.b.dtype),
            np.append(vs.value, 0.0),
        ),
    )
    ref = solvers.solve(held, "reference")
    assert ref.ok, ref.certificate.summary()
    return ref.voltages


@pytest.mark.parametrize("amps", [-0.18, -0.5743102601122869, -2.0, -1e3])
def test_clamped_node_does_not_inflate_the_stopping_scale(amps: float) -> None:
    truth = _clamped_truth()
    sol = solvers.solve(_clamped_drn(amps), "cd")
    assert sol.status == CONVERGED and sol.ok, sol.certificate.summary()
    assert sol.diode_current[0] > 0  # h1_0's diode conducts: the clamp is what truth holds
    err = float(np.max(np.abs(sol.voltages - truth)))
    assert err <= 10 * solvers.CD_DEFAULT_TOL * _answer_scale(truth), (err, sol.info)


@pytest.mark.parametrize("tol", [1e-10, 1e-12, 1e-14])
def test_clamped_node_error_follows_tol(tol: float) -> None:
    """The error bound holds relative to the answer's scale at every tolerance (a
    factor 10 over tol for the estimate's own slack)."""
    truth = _clamped_truth()
    sol = solvers.solve(_clamped_drn(-0.18), "cd", tol=tol)
    assert sol.status == CONVERGED
    err = float(np.max(np.abs(sol.voltages - truth)))
    assert err <= 10 * tol * _answer_scale(truth), (err, sol.info)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(random_circuits(max_nodes=7, max_diodes=4), st.sampled_from([0.0, 1e-6]))
def test_kcl_floor_bounds_the_certificate_scale(circuit: Circuit, gmin: float) -> None:
    """The KCL check's fast path accepts on kcl_floor, so it must never exceed the
    certificate's current scale (at the answer, and at any other point: floating and
    grounded sources, shorts and supernode offsets included); answer_scale is the
    largest |voltage| and |source value|."""
    try:
        p = compile_problem(circuit, gmin=gmin)
    except ResbenchError:
        return
    if p.n == 0 or p.n_islands:
        return
    rng = np.random.default_rng(p.n)
    for u in (p.start, rng.normal(size=p.n)):
        v = p.voltages(u)
        args = (p.indptr, p.indices, p.data, p.diag, p.c, p.supernode, p.offset, u)
        floor = kernels.kcl_floor(*args)
        assert floor <= current_scale(circuit, v, gmin) * (1 + 1e-12)
        vs = np.ascontiguousarray(circuit.vsources.value, dtype=np.float64)
        big = max(float(np.max(np.abs(v))), float(np.max(np.abs(vs), initial=0.0)))
        assert kernels.answer_scale(p.supernode, p.offset, u, vs) == big


@pytest.mark.parametrize("amps", [-0.18, -1e3, -1e6])
def test_reference_is_exact_under_a_large_clamped_injection(amps: float) -> None:
    """The reference's last KKT solve formed J − Dᵀλ to λ's precision: 1 kA pulled out
    of the clamped node left 9e-8 of the answer's scale elsewhere (one refinement step
    on the conducting diodes' drops now removes it)."""
    truth = _clamped_truth()
    ref = solvers.solve(_clamped_drn(amps), "reference")
    assert ref.ok, ref.certificate.summary()
    err = float(np.max(np.abs(ref.voltages - truth)))
    assert err <= 1e-13 * _answer_scale(truth), err
    # its currents are the certificate's multipliers (−amps plus the µA the resistors bring)
    assert ref.diode_current[0] == pytest.approx(ref.certificate.diode_current[0], rel=1e-12)
