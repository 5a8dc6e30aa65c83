"""``.dc`` sweeps: the card (parse, errors, write back), the points in ngspice's order,
``run_dc`` against a loop of single solves, and against ngspice's own ``.dc``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import random_circuits

import resbench
from resbench.batch.dc import dc_points, run_dc
from resbench.batch.network import with_values
from resbench.circuit import Branches, DcSweep, make_circuit
from resbench.errors import CircuitError, InputError, NetlistError
from resbench.netlist import parse_netlist, read_netlist, write_netlist

NETLISTS = Path(__file__).resolve().parent.parent / "netlists"
SWEEPS = [NETLISTS / "dc_diode_iv.cir", NETLISTS / "dc_drn_unit.cir"]

BASE = """dc test
.param vtop=2
V1 a 0 DC 1
I2 0 b DC 1m
R1 a b 1k
R2 b 0 1k
D1 b c dm
R3 c 0 2k
.model dm d
"""


def parse(extra: str, file: str = "t.cir"):
    return parse_netlist(BASE + extra + "\n.end\n", file=file)


# --------------------------------------------------------------------------- the card
def test_card_values_suffixes_params_and_order() -> None:
    c = parse(".DC v1 0 {vtop} 500m I2 0 1mA 0.5m")
    assert c.dc == DcSweep((("v1", 0.0, 2.0, 0.5), ("i2", 0.0, 1e-3, 0.5e-3)))
    assert c.dc.names == ["v1", "i2"]
    assert c.warnings == []  # a sweep now, not an ignored analysis


def test_no_card_is_none_and_other_analyses_still_ignored() -> None:
    c = parse(".tran 1u 1m")
    assert c.dc is None
    assert any(".tran ignored" in w for w in c.warnings)


@pytest.mark.parametrize(
    ("card", "message"),
    [
        (".dc v9 0 1 0.1", "v9, which is not a source"),
        (".dc r1 0 1 0.1", "V and I sources only"),
        (".dc temp 0 50 10", "the temperature"),
        (".dc v1 0 1 0", "step of v1 is 0"),
        (".dc v1 0 1 -0.1", "points away from 1"),
        (".dc v1 1 0 0.1", "points away from 0"),
        (".dc v1 0 1", "4 or 8 fields, found 3"),
        (".dc v1 0 1 0.1 i2 0 1m", "4 or 8 fields, found 7"),
        (".dc v1 0 1 0.1 v1 0 2 1", "sweeps v1 twice"),
        (".dc v1 0 1 1n", "more than 1,000,000"),
        (".dc v1 0 1 1m i2 0 1m 1u", "more than 1,000,000"),
        (".dc v1 0 x 0.1", "bad .dc stop of v1"),
        (".dc v1 0 {nope} 0.1", "cannot evaluate .dc stop"),
        (".dc v1 0 1 0.5\n.dc v1 0 2 0.5", "a second .dc card (the first is at t.cir:10)"),
        (".subckt s a\n.dc v1 0 1 1\nR1 a 0 1\n.ends", ".dc inside .subckt s"),
    ],
)
def test_bad_cards_are_netlist_errors_with_file_and_line(card: str, message: str) -> None:
    with pytest.raises(NetlistError) as e:
        parse(card)
    assert message in e.value.format()
    assert e.value.file == "t.cir" and e.value.line is not None and e.value.line >= 10


def test_single_point_sweep_and_start_equal_stop() -> None:
    c = parse(".dc v1 0.5 0.5 -1")  # stop == start: one point whatever the step's sign
    names, values = dc_points(c)
    assert names == ["v1"] and values.tolist() == [[0.5]]


def test_round_trip_keeps_the_sweep() -> None:
    c = parse(".dc v1 -1 {vtop} 0.25 i2 1m 0 -0.5m")
    text = write_netlist(c)
    assert ".dc v1 -1.0 2.0 0.25 i2 0.001 0.0 -0.0005" in text
    back = parse_netlist(text)
    assert back.equals(c) and back.dc == c.dc
    assert not back.equals(parse(""))  # the sweep is part of the circuit's identity
    assert ".dc" not in write_netlist(c, dc=False)


def test_written_card_names_sources_as_the_element_lines_do() -> None:
    c = make_circuit(
        "unprefixed",
        ["0", "a"],
        resistors=Branches.from_lists(["r1"], [1], [0], [1e3]),
        vsources=Branches.from_lists(["in"], [1], [0], [1.0]),
        dc=DcSweep((("in", 0.0, 1.0, 0.5),)),
    )
    text = write_netlist(c)
    assert "vin a 0 dc 1.0" in text and ".dc vin 0.0 1.0 0.5" in text
    assert parse_netlist(text).dc == DcSweep((("vin", 0.0, 1.0, 0.5),))


def test_validate_refuses_a_sweep_of_something_else() -> None:
    c = parse("")
    c.dc = DcSweep((("r1", 0.0, 1.0, 0.5),))
    with pytest.raises(CircuitError, match="not a V or I source"):
        c.validate()
    with pytest.raises(CircuitError, match="nonzero"):
        DcSweep((("v1", 0.0, 1.0, 0.0),))
    with pytest.raises(CircuitError, match="one or two"):
        DcSweep(())


_value = st.integers(-40, 40).map(lambda k: k / 8)


@settings(max_examples=60, deadline=None, database=None)
@given(
    a=st.tuples(_value, _value, st.sampled_from([0.125, 0.25, 0.3, 1.0, 3.7])),
    b=st.none() | st.tuples(_value, _value, st.sampled_from([0.5, 1.0, 2.5])),
)
def test_round_trip_and_points_of_random_cards(a, b) -> None:
    """Any valid card survives write/parse exactly; its points are ngspice's loop
    (value += step until past stop by more than 1e3 ulp-of-1), inner source fastest."""
    card = f".dc v1 {a[0]!r} {a[1]!r} {a[2] if a[1] >= a[0] else -a[2]!r}"
    if b is not None:
        card += f" i2 {b[0]!r} {b[1]!r} {b[2] if b[1] >= b[0] else -b[2]!r}"
    c = parse(card)
    assert parse_netlist(write_netlist(c)).dc == c.dc
    axes = []
    for _, start, stop, step in c.dc.sources:  # the loop of ngspice's dctrcurv.c
        vals, v = [], start
        while (1 if step > 0 else -1) * (v - stop) <= 2.220446049250313e-13:
            vals.append(v)
            v += step
        axes.append(vals)
    expected = [[x] for x in axes[0]]
    if b is not None:
        expected = [[x, y] for y in axes[1] for x in axes[0]]
    names, values = dc_points(c)
    assert names == c.dc.names and values.tolist() == expected


# --------------------------------------------------------------------------- points
def test_dc_points_order_by_hand() -> None:
    c = parse(".dc v1 0 1 0.5 i2 0 2m 1m")
    names, values = dc_points(c)
    assert names == ["v1", "i2"]
    assert values.tolist() == [
        [0.0, 0.0],
        [0.5, 0.0],
        [1.0, 0.0],
        [0.0, 1e-3],
        [0.5, 1e-3],
        [1.0, 1e-3],
        [0.0, 2e-3],
        [0.5, 2e-3],
        [1.0, 2e-3],
    ]


def test_points_accumulate_like_ngspice() -> None:
    """0.1 added ten times is 0.9999999999999999, still within ngspice's slack of 1;
    a step that does not divide the range stops before passing it."""
    assert DcSweep((("v1", 0.0, 1.0, 0.1),)).axis(0)[-1] == sum([0.1] * 10)
    assert len(DcSweep((("v1", 0.0, 1.0, 0.1),)).axis(0)) == 11
    assert DcSweep((("v1", 0.0, 1.0, 0.3),)).axis(0).tolist() == [0.0, 0.3, 0.6, 0.8999999999999999]
    assert DcSweep((("v1", 1.0, -1.0, -1.0),)).axis(0).tolist() == [1.0, 0.0, -1.0]


def test_dc_points_without_a_card_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no .dc card"):
        dc_points(parse(""))


# --------------------------------------------------------------------------- run_dc
def _loop_of_single_solves(circuit, names, values) -> np.ndarray:
    return np.stack(
        [resbench.solve(with_values(circuit, names, row), "cd").voltages for row in values]
    )


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_run_dc_equals_a_loop_of_single_solves(path: Path) -> None:
    c = read_netlist(path)
    names, values = dc_points(c)
    sweep = run_dc(c, chunk=37)  # chunks of an odd size: warm starts across chunk edges
    ref = _loop_of_single_solves(c, names, values)
    scale = max(1.0, float(np.max(np.abs(ref))))
    assert sweep.result.voltages.shape == ref.shape
    assert np.max(np.abs(sweep.voltages - ref)) <= 1e-9 * scale
    assert sweep.result.ok.all() and sweep.result.certificate.ok.all()
    assert sweep.info["chunks"] == -(-len(values) // 37)
    table = sweep.table
    assert list(table.columns) == names + [f"v({n})" for n in c.nodes[1:]]
    assert np.array_equal(table[names].to_numpy(), values)


def test_run_dc_sweeps_a_current_source_and_nests() -> None:
    c = parse(".dc i2 -1m 1m 0.25m v1 -1 1 1")
    names, values = dc_points(c)
    sweep = run_dc(c, chunk=4)
    ref = _loop_of_single_solves(c, names, values)
    assert np.max(np.abs(sweep.voltages - ref)) <= 1e-9 * max(1.0, float(np.abs(ref).max()))


@settings(max_examples=25, deadline=None, database=None)
@given(c=random_circuits(max_nodes=6, max_diodes=4), data=st.data())
def test_run_dc_on_random_circuits_equals_single_solves(c, data) -> None:
    """A random .dc card (one or two of the circuit's sources) on a random circuit,
    solved in random chunks with warm starts, equals a full solve per point."""
    sources = list(c.vsources.names) + list(c.isources.names)
    assume(sources)
    picked = data.draw(st.lists(st.sampled_from(sources), min_size=1, max_size=2, unique=True))
    cards = []
    for name in picked:
        unit = 0.25 if name in set(c.vsources.names) else 1e-4
        lo = data.draw(st.integers(-8, 4)) * unit
        n = data.draw(st.integers(0, 4))
        cards.append((name, lo, lo + n * unit, unit))
    c.dc = DcSweep(tuple(cards))
    names, values = dc_points(c)
    try:
        ref = _loop_of_single_solves(c, names, values)
    except CircuitError:
        assume(False)  # some point is infeasible: the reference tests' business
    assume(np.all(np.isfinite(ref)))
    sweep = run_dc(c, chunk=data.draw(st.integers(1, 6)))
    scale = max(1.0, float(np.max(np.abs(ref))))
    assert np.max(np.abs(sweep.voltages - ref)) <= 1e-9 * scale
    assert sweep.result.ok.all()


def test_diode_iv_matches_its_analytic_answer() -> None:
    """The header of dc_diode_iv.cir: v(out) = 1/3 V while the diode blocks, then
    (v(in) + 0.25) / 1.75."""
    sweep = run_dc(read_netlist(SWEEPS[0]))
    vin = sweep.values[:, 0]
    expected = np.where(vin <= 1 / 3, 1 / 3, (vin + 0.25) / 1.75)
    assert np.max(np.abs(sweep.table["v(out)"].to_numpy() - expected)) <= 1e-9


def test_plot_writes_a_png_of_the_free_nodes(tmp_path: Path) -> None:
    sweep = run_dc(read_netlist(SWEEPS[1]), certify=False)
    drawn = sweep.plot(tmp_path / "drn.png")
    assert drawn == ["h_p", "h_n", "out"]  # the inputs in0..in2 are held by sources
    assert (tmp_path / "drn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sweep.plot(tmp_path / "two.png", nodes=["out", "in0"]) == ["out", "in0"]
    with pytest.raises(InputError, match="not a node"):
        sweep.plot(tmp_path / "bad.png", nodes=["nowhere"])


def test_run_dc_refuses_bad_options() -> None:
    c = parse(".dc v1 0 1 0.5")
    with pytest.raises(InputError, match="chunk"):
        run_dc(c, chunk=0)
    with pytest.raises(InputError):
        run_dc(parse(""))


# --------------------------------------------------------------------------- ngspice
@pytest.mark.spice
@pytest.mark.parametrize("mode", ["shared", "batch"])
@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_dc_agrees_with_ngspice_dc(path: Path, mode: str) -> None:
    from resbench.solvers.ngspice import ngspice_dc

    c = read_netlist(path)
    names, values = dc_points(c)
    spice_values, spice_volts, timings = ngspice_dc(c, mode=mode)
    assert np.array_equal(spice_values, values)
    sweep = run_dc(c)
    assert spice_volts.shape == sweep.voltages.shape
    assert np.max(np.abs(spice_volts - sweep.voltages)) <= 1e-6
    assert timings["total"] >= timings["analysis"] >= 0.0


@pytest.mark.spice
def test_ngspice_dc_needs_a_card() -> None:
    from resbench.errors import SolverError
    from resbench.solvers.ngspice import ngspice_dc

    with pytest.raises(SolverError, match="no .dc card"):
        ngspice_dc(parse(""))


SUBCKT_SWEEP = """a source inside a subcircuit, swept with a current source
.subckt cell in out
Vb in mid DC 0.5
R1 mid out 1k
.ends
V1 a 0 DC 1
X1 a b cell
R2 b 0 2k
I1 0 b DC 0.1m
.dc v.x1.vb 0 1 0.25 i1 0 1m 0.5m
.end
"""


@pytest.mark.spice
@pytest.mark.parametrize("mode", ["shared", "batch"])
def test_sweep_of_a_subcircuit_source_agrees_with_ngspice_and_by_hand(mode: str) -> None:
    from resbench.solvers.ngspice import ngspice_dc

    c = parse_netlist(SUBCKT_SWEEP)
    assert c.dc.names == ["v.x1.vb", "i1"]
    _, spice_volts, _ = ngspice_dc(c, mode=mode)
    sweep = run_dc(c)
    assert np.max(np.abs(spice_volts - sweep.voltages)) <= 1e-9
    vb, i1 = sweep.values[:, 0], sweep.values[:, 1]
    # v(b) = (v1 - vb) * 2k / 3k + i1 * (1k || 2k)
    expected = (1.0 - vb) * 2 / 3 + i1 * 2e3 / 3
    assert np.max(np.abs(sweep.table["v(b)"].to_numpy() - expected)) <= 1e-12


def test_the_netlist_value_of_a_swept_source_is_not_used() -> None:
    """V1's written 5 V would force D1 to conduct through no resistance (no solution);
    no point of the sweep uses it, so the sweep runs (as in ngspice)."""
    c = parse_netlist(
        "forced\nV1 a 0 DC 5\nD1 a 0 d\nR1 a b 1k\nR2 b 0 1k\n.model d d\n.dc V1 -2 0 0.5\n"
    )
    with pytest.raises(CircuitError, match="forced to conduct"):
        resbench.solve(c)
    sweep = run_dc(c)
    names, values = dc_points(c)
    assert sweep.result.ok.all()
    assert np.max(np.abs(sweep.voltages - _loop_of_single_solves(c, names, values))) <= 1e-12
    assert np.allclose(sweep.table["v(b)"], values[:, 0] / 2, atol=1e-12)
