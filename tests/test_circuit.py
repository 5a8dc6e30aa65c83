"""Unit tests of resbench.circuit: validation names what is wrong, equality is by
names (node numbering may differ) with an optional relative tolerance, sizes count
elements, and IndexedNames behaves as the list it stands for."""

from __future__ import annotations

import numpy as np
import pytest

from resbench.circuit import Branches, Circuit, IndexedNames, make_circuit
from resbench.errors import CircuitError

B = Branches.from_lists


def divider() -> Circuit:
    return make_circuit(
        "divider",
        ["0", "in", "out"],
        resistors=B(["R1", "R2"], [1, 2], [2, 0], [1e3, 2e3]),
        diodes=B(["D1"], [2], [0], [0.0]),
        vsources=B(["V1"], [1], [0], [5.0]),
    )


def test_a_good_circuit_validates_and_reports_its_sizes():
    c = divider()
    c.validate()
    assert c.n_nodes == 3
    assert c.node_index() == {"0": 0, "in": 1, "out": 2}
    assert c.sizes() == {
        "nodes": 2,
        "resistors": 2,
        "diodes": 1,
        "vsources": 1,
        "isources": 0,
        "capacitors": 0,
        "inductors": 0,
    }
    assert c.diode_models == ["d"] and "d" in c.models  # make_circuit's default model


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c.nodes.__setitem__(0, "gnd"), "node 0 must be ground"),
        (lambda c: setattr(c.resistors, "b", np.array([2, 7], np.int32)), "does not exist"),
        (lambda c: setattr(c.resistors, "value", np.array([1.0])), "inconsistent array lengths"),
        (lambda c: setattr(c.vsources, "names", ["R1"]), "duplicate element name 'R1'"),
        (lambda c: c.resistors.value.__setitem__(1, -5.0), "negative resistance"),
        (lambda c: c.diode_models.append("d"), "one entry per diode"),
    ],
)
def test_validate_names_what_is_wrong(change, message):
    c = divider()
    change(c)
    with pytest.raises(CircuitError) as err:
        c.validate()
    assert message in str(err.value)


def test_equality_is_by_names_not_node_numbering():
    c = divider()
    renumbered = make_circuit(
        "divider",
        ["0", "out", "in"],
        resistors=B(["R1", "R2"], [2, 1], [1, 0], [1e3, 2e3]),
        diodes=B(["D1"], [1], [0], [0.0]),
        vsources=B(["V1"], [2], [0], [5.0]),
    )
    assert c == renumbered and c.equals(renumbered)
    swapped = divider()
    swapped.resistors.a[0], swapped.resistors.b[0] = 2, 1  # R1 reversed
    assert c != swapped
    retitled = divider()
    retitled.title = "other"
    assert c != retitled


def test_equals_with_rtol_allows_last_bit_differences_only():
    c = divider()
    near = divider()
    near.resistors.value[0] *= 1 + 1e-12
    assert not c.equals(near)
    assert c.equals(near, rtol=1e-9)
    far = divider()
    far.resistors.value[0] *= 1 + 1e-6
    assert not c.equals(far, rtol=1e-9)


def test_circuits_are_not_hashable_and_compare_only_to_circuits():
    c = divider()
    with pytest.raises(TypeError):
        hash(c)
    assert c != "divider"


def test_indexed_names_is_the_list_it_stands_for():
    names = IndexedNames("r", 4, start=10)
    assert len(names) == 4
    assert list(names) == ["r10", "r11", "r12", "r13"]
    assert names[-1] == "r13" and names[1:3] == ["r11", "r12"]
    assert names == ["r10", "r11", "r12", "r13"] and names == IndexedNames("r", 4, start=10)
    assert names != IndexedNames("r", 4)
    with pytest.raises(IndexError):
        names[4]
