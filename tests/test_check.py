"""The one checked comparison (resbench.bench.check): certificates, |Δv|, row status."""

from __future__ import annotations

import numpy as np
import pytest

from resbench.bench import check
from resbench.bench.check import (
    DISAGREE,
    ERROR,
    OK,
    UNCERTIFIED,
    check_answers,
    no_answer,
    row_status,
)
from resbench.bench.timing import Sample
from resbench.netlist import parse_netlist
from resbench.solution import CONVERGED, FAILED, SWEEP_LIMIT, TIMEOUT, Solution

DIVIDER = """voltage divider
V1 in 0 DC 3
R1 in mid 1k
R2 mid 0 2k
.end
"""


@pytest.fixture
def divider():
    return parse_netlist(DIVIDER)


def _answer(circuit, **shift: float) -> np.ndarray:
    """The divider's exact voltages (in 3 V, mid 2 V), plus ``shift`` volts per node."""
    v = np.zeros(circuit.n_nodes)
    v[circuit.nodes.index("in")] = 3.0
    v[circuit.nodes.index("mid")] = 2.0
    for node, dv in shift.items():
        v[circuit.nodes.index(node)] += dv
    return v


def _sol(circuit, v: np.ndarray, status: str = CONVERGED, solver: str = "cd") -> Solution:
    return Solution(circuit=circuit, voltages=v, solver=solver, status=status)


def test_two_exact_answers_are_ok(divider) -> None:
    res = check_answers(
        divider, _sol(divider, _answer(divider)), _sol(divider, _answer(divider)), atol=1e-6
    )
    assert res.status == OK and res.messages == []
    assert res.fast.certified and res.reference.certified and res.agree
    assert res.max_abs_diff == 0.0 and res.max_rel_diff == 0.0
    fields = res.fields("fast", "spice")
    assert fields["fast_certified"] is True and fields["spice_certified"] is True
    assert fields["agree"] is True and fields["max_abs_diff"] == 0.0


def test_disagreement_names_the_worst_node_and_wins_over_uncertified(divider) -> None:
    ref = _sol(divider, _answer(divider, mid=1e-3), solver="ngspice")
    res = check_answers(divider, _sol(divider, _answer(divider)), ref, atol=1e-6)
    assert res.status == DISAGREE and res.worst_node == "mid" and res.agree is False
    assert res.max_abs_diff == pytest.approx(1e-3)
    assert res.max_rel_diff == pytest.approx(1e-3 / (2.0 + 1e-3))
    assert res.reference.certified is False  # ngspice's own answer is checked as well
    assert res.messages == ["max |Δv| 0.001 V at node mid > atol 1e-06 V"]
    # an unconverged, wrong fast answer that also disagrees: disagree, both messages kept
    bad = _sol(divider, _answer(divider, mid=1e-3), SWEEP_LIMIT)
    res = check_answers(divider, bad, _sol(divider, _answer(divider)), atol=1e-6)
    assert res.status == DISAGREE and len(res.messages) == 2
    assert res.messages[0].startswith(f"cd answer not certified (status {SWEEP_LIMIT}")


def test_uncertified_fast_answer(divider) -> None:
    # agrees within a loose atol, but fails the certificate
    fast = _sol(divider, _answer(divider, mid=1e-4))
    res = check_answers(divider, fast, None, atol=1e-3, fast_name="cd")
    assert res.status == UNCERTIFIED and res.agree is None and np.isnan(res.max_abs_diff)
    assert res.fast.certified is False and res.fast.uncertified
    assert res.reference.certified is None and res.reference.status is None
    assert fast.certificate is not None and not fast.certificate.ok
    # non-finite voltages: nothing to certify, still uncertified
    inf = _sol(divider, np.full(divider.n_nodes, np.inf), FAILED)
    res = check_answers(divider, inf, None, atol=1e-6)
    assert res.fast.finite is False and res.fast.certified is None and res.status == UNCERTIFIED


def test_skipping_the_reference_certificate(divider) -> None:
    ref = _sol(divider, _answer(divider, mid=1e-3))
    res = check_answers(
        divider, _sol(divider, _answer(divider)), ref, atol=1e-6, certify_reference=False
    )
    assert res.reference.certified is None and ref.certificate is None
    assert res.status == DISAGREE  # the difference is still measured


def test_a_certificate_that_raises_is_an_error_not_a_lost_row(divider, monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr("resbench.certificate.certify", boom)
    res = check_answers(divider, _sol(divider, _answer(divider)), None, atol=1e-6)
    assert res.status == ERROR
    assert res.messages == ["certificate: RuntimeError: kaboom"]
    assert res.fast.error and res.fast.certified is None


def test_no_answer_and_row_status(divider) -> None:
    assert no_answer(None) == (ERROR, "no run")
    assert no_answer(Sample("cd", "measure", 0, CONVERGED)) is None
    assert no_answer(Sample("ngspice", "measure", 0, TIMEOUT, error="600 s")) == (TIMEOUT, "600 s")
    assert no_answer(Sample("cd", "measure", 0, "error", error="boom")) == (ERROR, "boom")
    ok = check_answers(divider, _sol(divider, _answer(divider)), None, atol=1e-6)
    assert row_status([("cd", None), ("ngspice", None)], ok) == (OK, [])
    status, messages = row_status([("cd", None), ("ngspice", (TIMEOUT, "600 s"))], ok)
    assert status == TIMEOUT and messages == ["ngspice: 600 s"]
    bad = check_answers(divider, _sol(divider, _answer(divider, mid=1e-4)), None, atol=1e-6)
    # a run without an answer hides the fast answer's uncertified verdict (compare's rule)
    assert row_status([("ngspice", (FAILED, "no op"))], bad) == (FAILED, ["ngspice: no op"])
    assert row_status([], bad)[0] == UNCERTIFIED


def test_compare_reexports_the_same_difference() -> None:
    from resbench.bench import compare

    assert compare.voltage_difference is check.voltage_difference
