"""Unit tests of resbench.solution.Solution, built by hand (no solver): voltage lookup,
as_dict, diode states, ok, to_dict's JSON safety and to_frame's kinds.  The mapping of
non-finite values to null and the frames of a real solve are in tests/test_cli_output.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from resbench.circuit import Branches, make_circuit
from resbench.solution import CONVERGED, FAILED, SWEEP_LIMIT, Solution

B = Branches.from_lists


def clipper() -> Solution:
    """V1 = 5 V at "in", R1 to "Out", D1 from Out to ground (on), D2 from 0 to Out (off)."""
    c = make_circuit(
        "clipper",
        ["0", "in", "out"],
        resistors=B(["R1"], [1], [2], [1e3]),
        diodes=B(["D1", "D2"], [2, 0], [0, 2], [0.0, 0.0]),
        vsources=B(["V1"], [1], [0], [5.0]),
    )
    return Solution(
        circuit=c,
        voltages=np.array([0.0, 5.0, 0.0]),
        solver="cd",
        status=CONVERGED,
        diode_current=np.array([5e-3, 0.0]),
        sweeps=np.int64(3),
        residual=1e-16,
        timings={"setup": 1e-4, "solve": 2e-4, "total": 3e-4},
        info={"omega": np.float64(1.0), "free": np.int64(1), "history": [1.0, 2.0], "note": "x"},
    )


def test_voltage_by_name_is_case_insensitive_and_gnd_is_ground():
    sol = clipper()
    assert sol.voltage("IN") == 5.0 and sol.voltage("out") == 0.0
    assert sol.voltage("gnd") == 0.0 and sol.voltage("0") == 0.0
    with pytest.raises(KeyError, match="no node named 'nowhere'"):
        sol.voltage("nowhere")


def test_as_dict_has_every_node_with_ground():
    assert clipper().as_dict() == {"0": 0.0, "in": 5.0, "out": 0.0}


def test_diode_states_follow_the_tolerance():
    sol = clipper()
    assert sol.diode_states() == ["on", "on"]  # both at 0 V across
    sol.voltages = np.array([0.0, 5.0, 1e-6])  # D1 forward by 1 µV, D2 reverse by 1 µV
    assert sol.diode_states(tol=1e-9) == ["on", "off"]
    assert sol.diode_states(tol=1e-3) == ["on", "on"]


def test_ok_needs_converged():
    sol = clipper()
    assert sol.ok
    sol.status = SWEEP_LIMIT
    assert not sol.ok


def test_converged_with_a_non_finite_voltage_becomes_failed():
    sol = clipper()
    voltages = np.array([0.0, np.inf, 1.0])
    bad = Solution(circuit=sol.circuit, voltages=voltages, solver="cd", status=CONVERGED)
    assert bad.status == FAILED and "in" in bad.info["error"] and not bad.ok
    nan = Solution(
        circuit=sol.circuit, voltages=np.array([0.0, 1.0, np.nan]), solver="cd", status=CONVERGED
    )
    assert nan.status == FAILED and "out" in nan.info["error"]
    # finite voltages whose sum overflows (the quick check's inf) stay converged
    huge = Solution(
        circuit=sol.circuit, voltages=np.array([0.0, 1e308, 1e308]), solver="cd", status=CONVERGED
    )
    assert huge.status == CONVERGED and "error" not in huge.info


def test_to_dict_is_strict_json_with_plain_scalars():
    d = clipper().to_dict()
    text = json.dumps(d, allow_nan=False)  # raises on numpy types, NaN or inf
    back = json.loads(text)
    assert back["nodes"] == {"0": 0.0, "in": 5.0, "out": 0.0}
    assert back["sweeps"] == 3 and back["certified"] is None
    assert back["info"] == {"omega": 1.0, "free": 1, "note": "x"}  # lists are left out
    assert back["sizes"]["diodes"] == 2
    assert [x["name"] for x in back["diodes"]] == ["D1", "D2"]
    assert back["diodes"][0]["current"] == 5e-3
    assert back["vsources"] == [
        {"name": "V1", "plus": "in", "minus": "0", "voltage": 5.0, "current": None}
    ]


def test_to_frame_kinds_and_unknown_currents_are_nan():
    sol = clipper()
    nodes = sol.to_frame()
    assert list(nodes.columns) == ["node", "voltage"] and list(nodes["node"]) == ["0", "in", "out"]
    diodes = sol.to_frame("diodes")
    assert list(diodes["anode"]) == ["out", "0"] and list(diodes["state"]) == ["on", "on"]
    sources = sol.to_frame("vsources")
    assert np.isnan(sources["current"].iloc[0])  # no vsource currents without a certificate
    with pytest.raises(ValueError, match="kind must be nodes, diodes or vsources"):
        sol.to_frame("resistors")
