"""Netlist dialect: every construct of docs/design.md §3, its errors, and the writer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from resbench.circuit import Branches, IndexedNames, Model, make_circuit
from resbench.errors import CircuitError, NetlistError
from resbench.netlist import parse_netlist, parse_value, read_netlist, write_netlist

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


def parse(body: str, **kw):
    """Parse ``body`` with a title line in front (so body line k is file line k + 1)."""
    return parse_netlist("test title\n" + body, **kw)


def values(br: Branches) -> dict[str, float]:
    return dict(zip(br.names, br.value.tolist(), strict=True))


def terminals(c, br: Branches) -> dict[str, tuple[str, str]]:
    return {
        n: (c.nodes[a], c.nodes[b])
        for n, a, b in zip(br.names, br.a.tolist(), br.b.tolist(), strict=True)
    }


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("1k", 1e3),
        ("1K", 1e3),
        ("1meg", 1e6),
        ("1MEG", 1e6),
        ("1m", 1e-3),
        ("1M", 1e-3),
        ("10kohm", 1e4),
        ("2.2uA", 2.2e-6),
        ("1e-3", 1e-3),
        ("1E3", 1e3),
        ("1mil", 25.4e-6),
        ("5V", 5.0),
        (".5", 0.5),
        ("-2", -2.0),
        ("+3.", 3.0),
        ("1t", 1e12),
        ("1g", 1e9),
        ("1n", 1e-9),
        ("1p", 1e-12),
        ("1f", 1e-15),
        ("1farad", 1e-15),  # SPICE reads the f as femto: a classic gotcha, kept
        ("1ms", 1e-3),
        ("2.5e3k", 2.5e6),
        ("100nF", 1e-7),
    ],
)
def test_parse_value_suffixes_and_units(token: str, expected: float) -> None:
    assert parse_value(token) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    "token", ["", "k", "meg", "inf", "nan", "1_000", "1..2", "--1", "1k5", "x1"]
)
def test_parse_value_rejects(token: str) -> None:
    with pytest.raises(NetlistError, match="bad number"):
        parse_value(token)


# --------------------------------------------------------------------------- lines


def test_title_is_always_the_first_line() -> None:
    c = parse_netlist("R1 a 0 1k\nR2 a 0 2k\n")
    assert c.title == "R1 a 0 1k"
    assert list(c.resistors.names) == ["r2"]


def test_empty_text_and_title_only() -> None:
    assert parse_netlist("").sizes()["resistors"] == 0
    c = parse_netlist("  just a title  ")
    assert c.title == "just a title" and c.nodes == ["0"]


def test_comments_inline_comments_and_blank_lines() -> None:
    c = parse(
        "* a comment line\n"
        "\n"
        "   \n"
        "R1 a 0 1k ; inline comment with R9 x 0 1\n"
        "   * indented comment\n"
        "R2 a 0 2k $ ngspice-style inline comment\n"
        "; a line that is only a comment\n"
    )
    assert values(c.resistors) == {"r1": 1e3, "r2": 2e3}


def test_continuation_lines_join_and_errors_report_the_first_line() -> None:
    c = parse("R1 a\n+ 0\n* comments between continuation lines are skipped\n+ 3k\n")
    assert values(c.resistors) == {"r1": 3e3}
    with pytest.raises(NetlistError) as e:
        parse("R1 a 0 1k\nR2 a\n+ 0\n+ -5\n")
    assert e.value.line == 3 and "negative resistance" in e.value.message


def test_crlf_and_tabs() -> None:
    c = parse_netlist("t\r\nR1\ta\t0\t1k\r\nR2 a 0 2k\r\n")
    assert values(c.resistors) == {"r1": 1e3, "r2": 2e3}


def test_case_insensitive_names_and_gnd_alias() -> None:
    c = parse("RLoad OUT GND 1K\nVIN In 0 DC 1\n")
    assert c.nodes == ["0", "out", "in"]
    assert terminals(c, c.resistors) == {"rload": ("out", "0")}
    assert list(c.vsources.names) == ["vin"]


def test_nodes_numbered_in_order_of_first_appearance() -> None:
    c = parse("R1 b a 1\nV1 c 0 1\nR2 a d 1\nI1 0 e 1m\n")
    assert c.nodes == ["0", "b", "a", "c", "d", "e"]
    assert c.resistors.a.dtype == np.int32 and c.resistors.value.dtype == np.float64


# --------------------------------------------------------------------------- elements


def test_resistors_zero_kept_as_short() -> None:
    c = parse("R1 a 0 0\nR2 a b 1.5k\nR3 b 0 {1k/2}\n")
    assert values(c.resistors) == {"r1": 0.0, "r2": 1500.0, "r3": 500.0}


def test_diodes_and_models() -> None:
    c = parse(
        ".model dm D (is=1e-14 n=1.5)\n"
        ".model d2 d is=2e-14\n"
        ".model sw1 sw(vt=0 vh=0.1)\n"
        "D1 a k dm\n"
        "D2 k 0 d2 2.0 off\n"
        "R1 a 0 1\n"
    )
    assert terminals(c, c.diodes) == {"d1": ("a", "k"), "d2": ("k", "0")}
    assert c.diode_models == ["dm", "d2"]
    assert c.models["dm"] == Model("dm", "d", {"is": 1e-14, "n": 1.5})
    assert c.models["d2"].params == {"is": 2e-14}
    assert c.models["sw1"] == Model("sw1", "sw", {"vt": 0.0, "vh": 0.1})
    assert any("ignored diode parameters" in w and "d2" in w for w in c.warnings)


def test_model_defined_after_use() -> None:
    c = parse("D1 a 0 late\nR1 a 0 1\n.model late D\n")
    assert c.diode_models == ["late"]


def test_sources_dc_keyword_ac_and_transient_parts() -> None:
    c = parse(
        "V1 a 0 DC 5\n"
        "V2 b 0 3.3V\n"
        "V3 c 0 DC 2 AC 1 0\n"
        "V4 d 0 AC 1\n"
        "V5 e 0 SIN(0 1 1k)\n"
        "V6 f 0 DC 1.5 PULSE(0 1 0 1n 1n 1u 2u)\n"
        "V7 g 0 sin (0 1 1k)\n"
        "I1 0 h 1mA\n"
        "I2 0 i DC 2uA\n"
        "I3 0 j AC 1\n"
        "V8 k 0 1 AC 1 PWL(0 0 1 1)\n"
    )
    assert values(c.vsources) == {
        "v1": 5.0,
        "v2": 3.3,
        "v3": 2.0,
        "v4": 0.0,
        "v5": 0.0,
        "v6": 1.5,
        "v7": 0.0,
        "v8": 1.0,
    }
    assert values(c.isources) == {"i1": 1e-3, "i2": 2e-6, "i3": 0.0}
    assert terminals(c, c.isources)["i1"] == ("0", "h")
    w = "\n".join(c.warnings)
    assert "ignored AC specification" in w and "(and 3 more)" in w
    assert "transient-only source: DC value 0 used" in w
    assert "AC-only source: DC value 0 used: v4" in w and "(and 1 more)" in w


def test_capacitors_open_and_inductors_short_are_stored() -> None:
    c = parse("C1 a 0 100nF\nL1 a b 1uH\nC2 b 0 1p ic=0\nR1 b 0 1\n")
    assert values(c.capacitors) == pytest.approx({"c1": 1e-7, "c2": 1e-12})
    assert values(c.inductors) == pytest.approx({"l1": 1e-6})
    assert terminals(c, c.inductors) == {"l1": ("a", "b")}


# --------------------------------------------------------------------------- .param


def test_params_expressions_and_functions() -> None:
    c = parse(
        ".param a=2 b={a*3} c = 'b+1'\n"
        ".param r0=1k\n"
        "R1 x 0 {r0*a}\n"
        "R2 x 0 {sqrt(16)+max(1,5,3)-min(2,3)}\n"
        "R3 x 0 {2^3 + 2**2 - -1}\n"
        "R4 x 0 {pow(10,3)/ln(exp(2))}\n"
        "R5 x 0 {abs(-3)+floor(2.7)+ceil(0.2)+int(-1.5)}\n"
        "R6 x 0 {log10(1k)+log(1)+sin(0)+cos(0)+tan(0)+atan(0)}\n"
        "R7 x 0 {c}\n"
        "R8 x 0 {later*2}\n"
        "R9 x 0 '1meg/1k'\n"
        ".param later=5\n"
    )
    assert values(c.resistors) == {
        "r1": 2000.0,
        "r2": 7.0,
        "r3": 13.0,
        "r4": 500.0,
        "r5": 5.0,
        "r6": 4.0,
        "r7": 7.0,
        "r8": 10.0,
        "r9": 1000.0,
    }


def test_params_in_source_and_model_values() -> None:
    c = parse(".param vdd=1.8 isat=1e-14\nV1 a 0 DC {vdd/2}\n.model dm D (is={isat*2})\n")
    assert values(c.vsources) == {"v1": 0.9}
    assert c.models["dm"].params == {"is": 2e-14}


# --------------------------------------------------------------------------- subcircuits

SUBCKT = """\
X1 in out half
X2 out 0 twice r=2k
R9 in 0 1
.subckt half a b
R1 a n1 1k
R2 n1 b 1k
D1 n1 vcc dm
Rg n1 gnd 5k
.ends half
.subckt twice p q params: r=1k
Xa p m half
Rm m q {r*2}
.ends
.model dm D
.global vcc
"""


def test_subckt_flattening_uses_ngspice_names() -> None:
    c = parse(SUBCKT)
    assert values(c.resistors) == {
        "r.x1.r1": 1e3,
        "r.x1.r2": 1e3,
        "r.x1.rg": 5e3,
        "r.x2.xa.r1": 1e3,
        "r.x2.xa.r2": 1e3,
        "r.x2.xa.rg": 5e3,
        "r.x2.rm": 4e3,
        "r9": 1.0,
    }
    t = terminals(c, c.resistors)
    assert t["r.x1.r1"] == ("in", "x1.n1")
    assert t["r.x1.r2"] == ("x1.n1", "out")
    assert t["r.x1.rg"] == ("x1.n1", "0")  # gnd stays global ground
    assert t["r.x2.xa.r1"] == ("out", "x2.xa.n1")  # port of a nested instance
    assert t["r.x2.xa.r2"] == ("x2.xa.n1", "x2.m")
    assert t["r.x2.rm"] == ("x2.m", "0")
    assert terminals(c, c.diodes) == {
        "d.x1.d1": ("x1.n1", "vcc"),
        "d.x2.xa.d1": ("x2.xa.n1", "vcc"),
    }
    # subcircuits defined after use; nodes in order of first appearance in the flattened net
    assert c.nodes == ["0", "in", "x1.n1", "out", "vcc", "x2.xa.n1", "x2.m"]


def test_subckt_default_override_and_global_params() -> None:
    c = parse(
        ".param scale=10\n"
        ".subckt s a params: r=1 k={r*2}\n"
        ".param local={k+1}\n"
        "R1 a 0 {r*scale}\n"
        "R2 a 0 {k}\n"
        "R3 a 0 {local}\n"
        ".ends\n"
        "X1 n s\n"
        "X2 n s r=5\n"
        "X3 n s params: r={scale} k=1\n"
    )
    v = values(c.resistors)
    assert (v["r.x1.r1"], v["r.x1.r2"], v["r.x1.r3"]) == (10.0, 2.0, 3.0)
    assert (v["r.x2.r1"], v["r.x2.r2"], v["r.x2.r3"]) == (50.0, 10.0, 11.0)
    assert (v["r.x3.r1"], v["r.x3.r2"], v["r.x3.r3"]) == (100.0, 1.0, 2.0)


def test_subckt_defined_inside_a_subckt_is_local() -> None:
    text = ".subckt outer a\n.subckt inner p\nR1 p 0 1\n.ends inner\nXi a inner\n.ends outer\n"
    c = parse(text + "X1 n outer\n")
    assert list(c.resistors.names) == ["r.x1.xi.r1"]
    with pytest.raises(NetlistError) as e:
        parse(text + "X1 n inner\n")
    assert e.value.line == 8 and "unknown subcircuit 'inner'" in e.value.message


# --------------------------------------------------------------------------- includes


def test_include_relative_to_the_including_file() -> None:
    c = read_netlist(DATA / "inc" / "top.cir")
    assert c.source == str(DATA / "inc" / "top.cir")
    assert values(c.resistors) == {"r1": 2e3, "r.xa.r1": 1e3, "r.xa.r2": 1e3}
    assert terminals(c, c.resistors)["r.xa.r1"] == ("top", "mid_out")


def test_include_forms_and_base_dir(tmp_path: Path) -> None:
    (tmp_path / "my parts.cir").write_text("R1 a 0 1k\n")
    (tmp_path / "p2.cir").write_text("R2 a 0 2k\n")
    c = parse('.include "my parts.cir"\n.inc p2.cir\n', base_dir=str(tmp_path))
    assert values(c.resistors) == {"r1": 1e3, "r2": 2e3}


def test_include_cycle_names_the_chain() -> None:
    with pytest.raises(NetlistError) as e:
        read_netlist(DATA / "include_cycle_a.cir")
    assert e.value.line == 2
    assert e.value.file.endswith("include_cycle_b.cir")
    assert "include cycle" in e.value.message
    assert "include_cycle_a.cir -> " in e.value.message
    assert "include_cycle_b.cir -> " in e.value.message


def test_include_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NetlistError) as e:
        parse("R1 a 0 1\n.include nothere.cir\n", base_dir=str(tmp_path))
    assert e.value.line == 3 and "cannot include nothere.cir" in e.value.message


def test_errors_inside_an_included_file_name_that_file(tmp_path: Path) -> None:
    (tmp_path / "bad.cir").write_text("* ok\nR1 a 0 1\nR2 a 0 -1\n")
    (tmp_path / "top.cir").write_text("top\n.include bad.cir\n")
    with pytest.raises(NetlistError) as e:
        read_netlist(tmp_path / "top.cir")
    assert e.value.file.endswith("bad.cir") and e.value.line == 3
    assert e.value.format().startswith(f"{tmp_path / 'bad.cir'}:3: negative resistance")


# --------------------------------------------------------------------------- cards


def test_accepted_cards_and_end() -> None:
    c = parse(
        ".options reltol=1e-3\n.option gmin=1e-12\n.temp 27\n.save all\n.print dc v(a)\n"
        ".probe v(a)\n.op\n.tran 1u 1m\n.ac dec 10 1 1k\n.global vdd\n"
        ".title the real title\n"
        "R1 a 0 1\n.end\nthis is never read\n"
    )
    assert c.title == "the real title"
    assert list(c.resistors.names) == ["r1"]
    w = "\n".join(c.warnings)
    assert ".tran ignored" in w and ".ac ignored" in w
    assert c.dc is None  # .dc is a sweep now (tests/test_dc.py)


def test_control_block_is_skipped_with_a_warning() -> None:
    c = parse("R1 a 0 1\n.control\nshell rm -rf /\nR2 b 0 1\n.endc\nR3 a 0 3\n")
    assert list(c.resistors.names) == ["r1", "r3"]
    assert any("skipped .control block" in w and "lines 3-6" in w for w in c.warnings)


def test_read_netlist_errors() -> None:
    with pytest.raises(NetlistError, match="cannot read netlist"):
        read_netlist(DATA / "no_such_file.cir")
    with pytest.raises(NetlistError, match="cannot read netlist"):
        read_netlist(DATA)


# --------------------------------------------------------------------------- errors

# (name, body after the title line, expected line, message fragment, hint fragment or None)
ERRORS = [
    ("negative R", "R1 a 0 -1k\n", 2, "negative resistance -1000 ohm in r1", ">= 0"),
    ("R too few", "R1 a 0\n", 2, "resistor r1 has no resistance", "Rname n1 n2 value"),
    ("R one node", "R1 a\n", 2, "element r1 needs two nodes", None),
    ("R extra", "R1 a 0 1k tc1=1\n", 2, "unsupported resistor parameter 'tc1=1'", "4th field"),
    ("bad number", "R1 a 0 1x2\n", 2, "bad resistance '1x2'", "SPICE numbers"),
    # the resistor fast path must not take Python's float() syntax (underscores) or a
    # number that ends in a sign: the generic path reports them
    ("underscore", "R1 a 0 1_000\n", 2, "bad resistance '1_000'", "SPICE numbers"),
    ("sign suffix", "R1 a 0 1+k\n", 2, "bad resistance '1+k'", "SPICE numbers"),
    ("bare param", ".param rv=1k\nR1 a 0 rv\n", 3, "bad resistance 'rv'", "write {rv}"),
    ("undefined", "R1 a 0 {foo*2}\n", 2, "undefined parameter 'foo'", None),
    ("div by zero", ".param z=0\nR1 a 0 {1/z}\n", 3, "division by zero", None),
    ("syntax", "R1 a 0 {1+}\n", 2, "expression ends too early", None),
    ("unbalanced", "R1 a 0 {1+2\n", 2, "unbalanced '{'", None),
    ("no eval", "R1 a 0 {__import__('os')}\n", 2, "cannot evaluate resistance", None),
    ("unknown fn", "R1 a 0 {foo(1)}\n", 2, "unknown function 'foo'", None),
    ("bad param def", ".param p={1/0}\nR1 a 0 1\n", 2, "cannot evaluate parameter p", None),
    ("param cycle", ".param a={b} b={a}\n", 2, "defined in terms of itself", None),
    ("param syntax", ".param 1a=3\n", 2, "expected name=value in .param", None),
    ("param empty", ".param\n", 2, ".param needs name=value", None),
    ("bipolar", "Q1 c b e npn\n", 2, "unsupported element q1 (bipolar transistor)", "R"),
    ("mosfet", "M1 d g s b nmos\n", 2, "unsupported element m1 (MOSFET)", None),
    ("vcvs", "E1 a 0 b 0 2\n", 2, "unsupported element e1", None),
    ("behavioural", "B1 a 0 V=1\n", 2, "unsupported element b1", None),
    ("odd line", "%%%\n", 2, "unrecognised line starting with '%'", None),
    ("digit line", "1 a b\n", 2, "unrecognised line", None),
    ("unknown card", "R1 a 0 1\n.foo 1\n", 3, "unknown or unsupported card .foo", ".param"),
    ("lib", ".lib models.lib tt\n", 2, ".lib is not supported", ".include"),
    ("no model", "R1 a 0 1\nD1 a 0 dx\n", 3, "model 'dx' is not defined", '.model dx D"'),
    ("model kind", ".model s1 sw\nD1 a 0 s1\n", 3, "of type sw, not d", None),
    ("model short", ".model dm\n", 2, ".model needs a name and a type", None),
    ("dup model", ".model d d\n.model d d\n", 3, "model d is defined twice (first at", None),
    ("dup element", "R1 a 0 1\nr1 b 0 2\n", 3, "duplicate element name r1 (first at", None),
    ("source junk", "V1 a 0 5 foo\n", 2, "unexpected 'foo' in source", "[DC] value"),
    ("source DC", "V1 a 0 DC\n", 2, "DC needs a value", None),
    ("source paren", "V1 a 0 SIN(0 1\n", 2, "unbalanced parentheses in sin", None),
    ("node name", "R1 a=b 0 1\n", 2, "element r1 needs two nodes", None),
    ("continuation", "+ R1 a 0 1\n", 2, "continuation line ('+') with no line", None),
    ("control open", "R1 a 0 1\n.control\nrun\n", 3, ".control block without .endc", None),
    ("endc", ".endc\n", 2, ".endc without .control", None),
    ("include empty", ".include\n", 2, ".include needs a file name", None),
    ("unknown subckt", "X1 a b foo\n", 2, "x1: unknown subcircuit 'foo'", None),
    ("X no name", "X1\n", 2, "x1: no subcircuit name", None),
    ("X bad name", ".subckt s a\n.ends\nX(1 n s\n", 4, "bad instance name 'x(1'", None),
    (
        "port count",
        ".subckt s a b\nR1 a b 1\n.ends\nX1 n s\n",
        5,
        "subcircuit s has 2 ports (a b) but the instance connects 1 nodes",
        None,
    ),
    (
        "recursion",
        ".subckt s a\nX1 a s\n.ends\nXtop n s\n",
        3,
        "recursive subcircuit: s -> s (in subcircuit instance xtop)",
        None,
    ),
    (
        "mutual recursion",
        ".subckt s a\nXu a u\n.ends\n.subckt u a\nXs a s\n.ends\nX1 n s\n",
        6,
        "recursive subcircuit: s -> u -> s",
        None,
    ),
    ("no ends", "R1 a 0 1\n.subckt s a\nR1 a 0 1\n", 3, ".subckt s has no .ends", ".ends s"),
    ("ends name", ".subckt s a\n.ends t\n", 3, ".ends t closes .subckt s", None),
    ("ends alone", ".ends\n", 2, ".ends without .subckt", None),
    ("subckt no name", ".subckt\n", 2, ".subckt needs a name", None),
    ("ground port", ".subckt s 0 a\n.ends\n", 2, "bad port name '0'", None),
    ("dup port", ".subckt s a a\n.ends\n", 2, "port 'a' appears twice", None),
    ("port after params", ".subckt s a r=1 b\n.ends\n", 2, "port 'b' after the param", None),
    (  # the instance count's look-ahead skips the X line it cannot tokenise; flattening names it
        "bad X line in a body",
        ".subckt s a\nX1 a {b s\n.ends\nX2 n s\n",
        3,
        "unbalanced '{' (in subcircuit instance x2)",
        None,
    ),
    ("dup subckt", ".subckt s a\n.ends\n.subckt s b\n.ends\n", 4, "defined twice", None),
    (
        "unknown inst param",
        ".subckt s a params: r=1\nR1 a 0 {r}\n.ends\nX1 n s q=2\n",
        5,
        "subcircuit s has no parameter 'q'",
        "its parameters: r",
    ),
    (
        "error in body",
        ".subckt s a\nR1 a 0 -5\n.ends\nX7 n s\n",
        3,
        "negative resistance -5 ohm in r1 (in subcircuit instance x7)",
        None,
    ),
    (
        "flattened duplicate",
        ".subckt s a\nR1 a 0 1\n.ends\nX1 n s\nr.x1.r1 n 0 1\n",
        6,
        "duplicate element name r.x1.r1 (first at f.cir:3)",
        None,
    ),
]


@pytest.mark.parametrize(
    ("body", "line", "message", "hint"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_errors_name_line_and_message(body: str, line: int, message: str, hint) -> None:
    with pytest.raises(NetlistError) as e:
        parse(body, file="f.cir")
    err = e.value
    assert err.line == line, err.format()
    assert message in err.message, err.format()
    assert err.file == "f.cir"
    if hint is not None:
        assert err.hint and hint in err.hint, err.format()
    text = err.format()
    assert text.startswith(f"f.cir:{line}: ")
    assert err.text, "the offending text is part of the error"


def test_error_format_without_a_file() -> None:
    with pytest.raises(NetlistError) as e:
        parse("R1 a 0 -1\n")
    assert e.value.format().splitlines()[0] == "<netlist>:2: negative resistance -1 ohm in r1"
    assert "R1 a 0 -1" in e.value.format()


def test_parse_netlist_rejects_non_text() -> None:
    with pytest.raises(NetlistError):
        parse_netlist(b"title\nR1 a 0 1\n")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- every construct


def test_every_construct_netlist() -> None:
    c = read_netlist(ROOT / "netlists" / "every_construct.cir")
    assert c.title == "every construct: resbench dialect coverage"
    assert c.sizes() == {
        "nodes": 11,
        "resistors": 13,
        "diodes": 2,
        "vsources": 4,
        "isources": 2,
        "capacitors": 1,
        "inductors": 1,
    }
    assert {"vcc", "in", "out", "mid3", "xamp.xd.n1"} <= set(c.nodes)
    assert "r.xamp.xd.r3" in c.resistors.names and "d.xamp.xd.d1" in c.diodes.names
    r = values(c.resistors)
    assert r["r2"] == 2000.0  # {rload} = 2 * rbase from the included file, on a + line
    assert r["r0"] == 0.0
    assert r["r.xamp.xd.r1"] == 3000.0  # rbase * gain, gain overridden by the instance
    assert r["r.xamp.rg"] == 500.0
    assert terminals(c, c.resistors)["r.xamp.xd.r3"] == ("xamp.xd.n1", "vcc")  # .global
    assert values(c.vsources) == {"vcc": 5.0, "vin": 2.5, "vt": 0.0, "vclamp": 1.5}
    assert values(c.isources) == {"ibias": 1e-3, "ib2": 5e-4}
    assert c.models["dideal"].params == {"cjo": 1e-12, "tt": 1e-9}
    w = "\n".join(c.warnings)
    for note in (".control", "AC specification", "transient", ".tran"):
        assert note in w
    assert parse_netlist(write_netlist(c)) == c


# --------------------------------------------------------------------------- writer


def small_circuit():
    return make_circuit(
        "writer test",
        ["0", "a", "b", "x1.n1"],
        resistors=Branches.from_lists(
            ["r1", "r.x1.r2", "r3"], [1, 2, 3], [2, 3, 0], [0.1, 1 / 3, 0.0]
        ),
        diodes=Branches.from_lists(["d1"], [2], [0], [0.0]),
        vsources=Branches.from_lists(["v1"], [1], [0], [1e-17]),
        isources=Branches.from_lists(["i1"], [0], [3], [-2.5e-3]),
        capacitors=Branches.from_lists(["c1"], [1], [0], [1e-9]),
        inductors=Branches.from_lists(["l1"], [2], [3], [1e-6]),
    )


def test_writer_layout_and_round_trip() -> None:
    c = small_circuit()
    text = write_netlist(c)
    lines = text.splitlines()
    assert lines[0] == "writer test"
    assert lines[1] == ".model d d"
    assert lines[2:5] == ["r1 a b 0.1", "r.x1.r2 b x1.n1 0.3333333333333333", "r3 x1.n1 0 0.0"]
    assert lines[5] == "d1 b 0 d"
    assert lines[6:8] == ["v1 a 0 dc 1e-17", "i1 0 x1.n1 dc -0.0025"]
    assert lines[8:10] == ["c1 a 0 1e-09", "l1 b x1.n1 1e-06"]
    assert lines[-2:] == [".op", ".end"]
    assert parse_netlist(text) == c


def test_writer_switch_style_and_options() -> None:
    c = small_circuit()
    text = write_netlist(c, diode_style="switch", analysis=None, title="other")
    lines = text.splitlines()
    assert lines[0] == "other"
    assert "sd1 b 0 b 0 swideal" in lines
    assert lines.count(".model swideal sw(vt=0 vh=0 ron=1e-5 roff=1e12)") == 1
    assert not any(line.startswith("d1") for line in lines)
    assert ".op" not in lines and lines[-1] == ".end"
    with pytest.raises(ValueError):
        write_netlist(c, diode_style="shockley")


def test_writer_round_trips_flattened_subckts_and_models() -> None:
    c = parse(SUBCKT + ".model extra sw (vt=1 ron=2)\n")
    again = parse_netlist(write_netlist(c))
    assert again == c
    assert again.models["extra"] == Model("extra", "sw", {"vt": 1.0, "ron": 2.0})


def test_writer_large_groups_are_exact() -> None:
    rng = np.random.default_rng(1)
    n = 25_000  # above the size where the writer switches to %.17g
    a = rng.integers(0, 50, n)
    c = make_circuit(
        "big",
        ["0"] + [f"n{i}" for i in range(1, 50)],
        resistors=Branches(
            IndexedNames("r", n),
            a.astype(np.int32),
            ((a + 1) % 50).astype(np.int32),
            rng.random(n) * 1e4,
        ),
    )
    again = parse_netlist(write_netlist(c))
    assert again == c
    assert np.array_equal(again.resistors.value, c.resistors.value)


def test_writer_prefixes_names_without_their_kind_letter() -> None:
    c = make_circuit(
        "t",
        ["0", "a"],
        resistors=Branches.from_lists(["load"], [1], [0], [1.0]),
        vsources=Branches.from_lists(["src"], [1], [0], [1.0]),
    )
    c2 = parse_netlist(write_netlist(c))
    assert list(c2.resistors.names) == ["rload"] and list(c2.vsources.names) == ["vsrc"]


def test_writer_rejects_unwritable_circuits() -> None:
    bad_value = make_circuit(
        "t", ["0", "a"], resistors=Branches.from_lists(["r1"], [1], [0], [np.inf])
    )
    with pytest.raises(CircuitError, match="cannot write resistor r1"):
        write_netlist(bad_value)
    bad_node = make_circuit(
        "t", ["0", "a b"], resistors=Branches.from_lists(["r1"], [1], [0], [1.0])
    )
    with pytest.raises(CircuitError, match="node names"):
        write_netlist(bad_node)


def test_writer_output_runs_in_ngspice_syntax_the_parser_reads_back(tmp_path: Path) -> None:
    """A written file read back with read_netlist (the file path round trip)."""
    c = parse(SUBCKT)
    p = tmp_path / "w.cir"
    p.write_text(write_netlist(c, title="file round trip"))
    c2 = read_netlist(p)
    assert c2.title == "file round trip"
    c2.title = c.title
    assert c2 == c


def test_include_of_a_directory_or_device_is_refused(tmp_path: Path) -> None:
    for target in (str(tmp_path), "/dev/zero"):
        with pytest.raises(NetlistError) as e:
            parse(f".include {target}\n")
        assert e.value.line == 2 and "not a regular file" in e.value.message


def test_large_hierarchy_expands_every_instance() -> None:
    body = "".join(f"R{i} n{i} n{i + 1} {{r*{i + 1}}}\n" for i in range(50))
    inst = "".join(f"X{j} m{j} m{j + 1} cell r={j + 1}\n" for j in range(40))
    c = parse(f".subckt cell n0 n50 params: r=1\n{body}.ends\n{inst}")
    assert len(c.resistors) == 2000
    v = values(c.resistors)
    assert v["r.x0.r0"] == 1.0 and v["r.x39.r49"] == 40.0 * 50
    t = terminals(c, c.resistors)
    assert t["r.x3.r0"] == ("m3", "x3.n1") and t["r.x3.r49"] == ("x3.n49", "m4")


def test_title_drops_byte_order_marks_and_white_space() -> None:
    assert parse_netlist("\ufeff  my title \t\nR1 a 0 1\n").title == "my title"
    c = parse_netlist("\x0c\ufeff\n.title \ufeff x \n")
    assert c.title == "x"
    assert parse_netlist(write_netlist(c)) == c


# --------------------------------------------------------------------------- hardening (issue 10)
# files: regular files only, bounded and escaped echo of what they hold


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.cir"
    os.mkfifo(fifo)
    with pytest.raises(NetlistError) as e:
        read_netlist(fifo)
    assert "cannot read netlist: not a regular file (a FIFO" in e.value.message
    with pytest.raises(NetlistError) as e:
        parse(f".include {fifo}\n")
    assert e.value.line == 2 and "not a regular file (a FIFO" in e.value.message


def test_a_file_name_with_a_nul_is_a_netlist_error() -> None:
    with pytest.raises(NetlistError, match="not a valid file name"):
        read_netlist("a\x00b.cir")


def test_devices_are_refused_as_the_main_file() -> None:
    for dev, kind in (("/dev/zero", "a character device"), ("/dev/null", "a character device")):
        with pytest.raises(NetlistError) as e:
            read_netlist(dev)
        assert f"not a regular file ({kind})" in e.value.message


def _environment_leaks(text: str) -> list[str]:
    return [k for k, v in os.environ.items() if len(v) >= 6 and f"{k}={v}" in text]


def test_proc_files_are_refused_and_never_echoed() -> None:
    for path in ("/proc/self/environ", "/proc/self/status"):
        with pytest.raises(NetlistError) as e:
            parse(f".include {path}\n")
        text = e.value.format()
        assert e.value.line == 2 and "the /proc pseudo file system" in e.value.message, text
        assert not _environment_leaks(text) and "Pid:" not in text
        with pytest.raises(NetlistError) as e:
            read_netlist(path)
        assert "the /proc pseudo file system" in e.value.message
        assert not _environment_leaks(e.value.format())


def test_a_nul_filled_include_gives_a_short_error(tmp_path: Path) -> None:
    (tmp_path / "zeros.cir").write_bytes(b"\x00" * 2_000_000)
    with pytest.raises(NetlistError) as e:
        parse(".include zeros.cir\n", base_dir=str(tmp_path))
    text = e.value.format()
    assert e.value.file == str(tmp_path / "zeros.cir") and e.value.line == 1
    assert "NUL byte at line 1, column 1: this is a binary file" in e.value.message
    assert len(text) < 400, text


@pytest.mark.parametrize(
    "body",
    [
        "R1 a 0 {" + "1+" * 200_000 + "}\n",  # a 400 kB expression with a syntax error
        "R1 a 0 " + "9" * 5000 + "\n",  # a 5000-digit number
        "R1 a 0 1k " + "x" * 100_000 + "\n",  # a long stray token
        "\x01" * 100_000 + "\n",  # a long line of control characters
        "X" + "y" * 100_000 + " a b nosuch\n",  # a long element name
    ],
    ids=["expression", "digits", "token", "control", "name"],
)
def test_error_messages_echo_a_bounded_escaped_snippet(body: str) -> None:
    with pytest.raises(NetlistError) as e:
        parse(body)
    text = e.value.format()
    assert len(text) < 800, text
    assert text.isprintable() or all(line.isprintable() for line in text.splitlines())
    if body[0] == "\x01":
        assert "\\x01\\x01" in text


def test_snippets_escape_non_printable_characters() -> None:
    err = NetlistError("m", file="f.cir", line=3, text="R1 a\x00b 0 1\x1b[31m \ufeff")
    assert err.format() == "f.cir:3: m\n    R1 a\\x00b 0 1\\x1b[31m \\ufeff"


def test_every_resbench_error_prints_a_bounded_message() -> None:
    # e.g. a solver error naming a node whose name is a 5000-digit number (found by the fuzzer)
    text = CircuitError("no resistive path from node(s) a, " + "1" * 5000 + ", b\x00c").format()
    assert text.startswith("error: no resistive path from node(s) a, 111") and len(text) < 200
    assert text.endswith("… (+4,941 characters) b\\x00c")


# numbers: finite, in range, consistent between literals, expressions and .param


@pytest.mark.parametrize(
    ("body", "line", "fragment"),
    [
        ("R1 a 0 {1e400}\n", 2, "number '1e400' is out of range"),
        (".param big=1e400\nR1 a 0 {big}\n", 2, "number '1e400' is out of range"),
        ("R1 a 0 " + "9" * 5000 + "\n", 2, "is out of range (above the largest double"),
        ("R1 a 0 {" + "9" * 5000 + "}\n", 2, "is out of range (above the largest double"),
        ("R1 a b 1e-400\nR2 b 0 1\n", 2, "the number '1e-400' is out of range (not zero"),
        ("R1 a 0 1e-310\n", 2, "the number '1e-310' is out of range (not zero"),
        ("R1 a 0 1e-300f\n", 2, "is out of range (not zero"),
        ("R1 a 0 {1e-400}\n", 2, "number '1e-400' is out of range (not zero"),
        (".param t=1e-200\nR1 a 0 {t*t}\n", 3, "the result of '*' underflows"),
        ("I1 0 a {exp(-1000)}\nR1 a 0 1\n", 2, "exp() underflows"),
        ("R1 a 0 {1e200*1e200}\n", 2, "not a finite number"),
        ("R1 a 0 1e301\n", 2, "resistance of r1: 1e+301 is out of range"),
        ("R1 a 0 {1e-150*1e-151}\n", 2, "resistance of r1: 1e-301 is out of range"),
        ("V1 a 0 DC -2e300\nR1 a 0 1\n", 2, "v1: the value -2e+300 is out of range"),
        ("C1 a 0 1e-301\nR1 a 0 1\n", 2, "capacitance of c1: 1e-301 is out of range"),
        (".model dm D (is=1e-400)\n", 2, "bad value '1e-400' for is: it is out of range"),
        (".model dm D (is={1e400})\n", 2, "number '1e400' is out of range"),
    ],
)
def test_numbers_out_of_range_are_errors(body: str, line: int, fragment: str) -> None:
    with pytest.raises(NetlistError) as e:
        parse(body, file="f.cir")
    assert e.value.line == line and fragment in e.value.message, e.value.format()


def test_numbers_at_the_ends_of_the_range_and_zeros_are_read() -> None:
    c = parse(
        "R1 a 0 1e-300\nR2 a 0 1e300\nR3 a 0 0\nR4 a 0 -0\nR5 a 0 0.0e-400\n"
        "R6 a 0 {1e-150*1e-150}\nV1 a 0 -1e300\nI1 0 a {0*1e-300}\n"
    )
    assert values(c.resistors) == {
        "r1": 1e-300,
        "r2": 1e300,
        "r3": 0.0,
        "r4": 0.0,
        "r5": 0.0,
        "r6": pytest.approx(1e-300, rel=1e-15),
    }
    assert values(c.vsources) == {"v1": -1e300} and values(c.isources) == {"i1": 0.0}
    assert parse_value("1e-300") == 1e-300
    with pytest.raises(NetlistError, match="out of range"):
        parse_value("1e-400")


def test_values_out_of_range_are_refused_on_all_paths() -> None:
    # the fast path (plain lines), deferred lines, subcircuit bodies, expressions
    for body in (
        "R1 a 0 1e-320\n",
        "X1 a s\nR1 a 0 1e-320\n.subckt s p\nR1 p 0 1\n.ends\n",
        "X1 a s\n.subckt s p\nR1 p 0 1e-320\n.ends\n",
        "X1 a s\n.subckt s p\nR1 p 0 {1e-160*1e-160}\n.ends\n",
        "X1 a s\n.subckt s p\nR1 p 0 {2e300}\n.ends\n",
    ):
        with pytest.raises(NetlistError, match="out of range|underflows"):
            parse(body)


def test_writer_refuses_values_the_parser_would_refuse() -> None:
    for v in (1e-310, 2e300, -1e301):
        c = make_circuit("t", ["0", "a"], resistors=Branches.from_lists(["r1"], [1], [0], [v]))
        with pytest.raises(CircuitError, match="cannot write resistor r1"):
            write_netlist(c)
    c = make_circuit("t", ["0", "a"], resistors=Branches.from_lists(["r1"], [1], [0], [1.0]))
    c.models["m"] = Model("m", "d", {"is": 5e-324})
    with pytest.raises(CircuitError, match="cannot write model m"):
        write_netlist(c)


# text: strict UTF-8


def test_latin1_bytes_are_an_error_naming_file_line_column_and_byte() -> None:
    path = DATA / "latin1_nodes.cir"
    with pytest.raises(NetlistError) as e:
        read_netlist(path)
    err = e.value
    assert (err.file, err.line) == (str(path), 3)
    assert err.message == "byte 0xe9 at line 3, column 10 is not UTF-8"
    assert "save the file as UTF-8" in err.hint
    assert "R1 in caf\\xe9 1k" in err.format()


def test_latin1_bytes_in_an_included_file_name_that_file(tmp_path: Path) -> None:
    (tmp_path / "parts.cir").write_bytes(b"* parts\r\nR1 a 0 1k\r\nR2 b\xff 0 1k\r\n")
    (tmp_path / "top.cir").write_text("top\n.include parts.cir\n")
    with pytest.raises(NetlistError) as e:
        read_netlist(tmp_path / "top.cir")
    assert e.value.file == str(tmp_path / "parts.cir") and e.value.line == 3
    assert e.value.message == "byte 0xff at line 3, column 5 is not UTF-8"


def test_utf8_names_stay_distinct_and_a_bom_is_allowed_in_included_files(tmp_path: Path) -> None:
    (tmp_path / "bom.cir").write_bytes("\ufeffR3 café 0 1k\nR4 cafè 0 1k\n".encode())
    (tmp_path / "top.cir").write_bytes(
        "\ufefftop\nR1 a café 1k\nR2 a cafè 1k\n.include bom.cir\n".encode()
    )
    c = read_netlist(tmp_path / "top.cir")
    assert c.title == "top"
    assert c.nodes == ["0", "a", "café", "cafè"]
    assert terminals(c, c.resistors)["r4"] == ("cafè", "0")


# subcircuits: expansion counted before it happens, depth limits with file:line


def _doubling(levels: int) -> str:
    defs = "".join(f".subckt s{i} a\nX1 a s{i + 1}\nX2 a s{i + 1}\n.ends\n" for i in range(levels))
    return f"{defs}.subckt s{levels} a\nR1 a 0 1\n.ends\nX0 n s0\n"


def test_exponential_subcircuit_expansion_is_refused_before_expanding() -> None:
    body = _doubling(30)
    with pytest.raises(NetlistError) as e:
        parse(body, file="f.cir")
    err = e.value
    assert err.line == body.count("\n") + 1  # the top-level instance X0
    assert "x0: subcircuit s0 expands to 1,073,741,824 elements" in err.message
    assert "over the limit of 50,000,000" in err.message
    assert len(parse(_doubling(10)).resistors) == 1024


def test_expansion_limit_counts_every_top_level_instance(monkeypatch) -> None:
    import resbench.netlist.subckt as nl

    monkeypatch.setattr(nl, "MAX_EXPANDED_ELEMENTS", 100)
    cell = ".subckt c a\n" + "".join(f"R{i} a 0 1\n" for i in range(40)) + ".ends\n"
    with pytest.raises(NetlistError) as e:
        parse(cell + "X1 a c\nX2 a c\nX3 a c\n", file="f.cir")
    assert e.value.line == 46
    assert "x3: subcircuit c expands to 40 elements (120 with the instances above)" in (
        e.value.message
    )


def _nested(levels: int) -> str:
    defs = "".join(f".subckt s{i} a\nX{i} a s{i + 1}\n.ends\n" for i in range(levels))
    return f"{defs}.subckt s{levels} a\nR1 a 0 1\n.ends\nXtop n s0\n"


def test_subcircuit_depth_error_names_file_and_line() -> None:
    assert list(parse(_nested(99)).resistors.names) == [
        "r.xtop." + ".".join(f"x{i}" for i in range(99)) + ".r1"
    ]
    with pytest.raises(NetlistError) as e:
        parse(_nested(400), file="f.cir")
    err = e.value
    assert err.file == "f.cir" and err.line == 3 * 99 + 3  # the X line in s99
    assert "subcircuit instances nested more than 100 deep" in err.message
    assert len(err.format()) < 800


def test_include_depth_error_names_file_and_line(tmp_path: Path) -> None:
    for i in range(400):
        (tmp_path / f"f{i}.cir").write_text(f"* level {i}\n.include f{i + 1}.cir\n")
    (tmp_path / "f400.cir").write_text("R1 a 0 1\n")
    with pytest.raises(NetlistError) as e:
        parse(".include f0.cir\n", base_dir=str(tmp_path), file=str(tmp_path / "top.cir"))
    err = e.value
    assert err.file == str(tmp_path / "f49.cir") and err.line == 2  # f0 … f49: 50 levels
    assert ".include nested more than 50 files deep" in err.message
    (tmp_path / "f40.cir").write_text("R1 a 0 1\n")
    assert len(parse(".include f0.cir\n", base_dir=str(tmp_path)).resistors) == 1


# expressions: long flat chains work, only real nesting is deep


def test_long_flat_sums_products_and_parameter_chains_work() -> None:
    c = parse(
        "R1 a 0 {" + "+".join(["1"] * 1000) + "}\n"
        "R2 a 0 {" + "*".join(["1.001"] * 5000) + "}\n"
        "R3 a 0 {" + "(" * 3000 + "7" + ")" * 3000 + "}\n"
        "R4 a 0 {" + "-" * 1001 + "-2}\n"
        "R5 a 0 {10-1-2-3}\n"
        "R6 a 0 {2^3^2/64/2}\n"
        + "".join(f".param p{i}={{p{i - 1}+1}}\n" for i in range(1, 2000))
        + ".param p0=1\nR7 a 0 {p1999}\n"
    )
    v = values(c.resistors)
    assert v["r1"] == 1000.0 and v["r3"] == 7.0 and v["r4"] == 2.0
    assert v["r2"] == pytest.approx(1.001**5000, rel=1e-9)
    assert v["r5"] == 4.0 and v["r6"] == 4.0 and v["r7"] == 2000.0


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("-2^2", -4.0),
        ("2^-1", 0.5),
        ("2^-3^2", 2.0**-9),
        ("-2*3", -6.0),
        ("2*-3^2", -18.0),
        ("1 - -2", 3.0),
        ("max(1, 2+3, -4)", 5.0),
        ("pow(2, 10) / 2 ** 2", 256.0),
        ("+3", 3.0),
        ("min(3,max(1,2))*((1+2)*3)", 18.0),
        ("8/2/2", 2.0),
        ("2**3**2", 512.0),
    ],
)
def test_expression_precedence_and_associativity(expr: str, expected: float) -> None:
    c = parse(f"I1 0 a {{{expr}}}\nR1 a 0 1\n")
    assert values(c.isources)["i1"] == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("1+", "expression ends too early"),
        ("(1", "expected ')', found end of expression"),
        ("1)", "unexpected ')' after the end of the expression"),
        ("1 2", "unexpected 2.0 after the end of the expression"),
        ("(1 2)", "expected ')', found 2.0"),
        ("()", "unexpected ')' in expression"),
        ("max(1,)", "unexpected ')' in expression"),
        ("(1,2)", "expected ')', found ','"),
        ("1,2", "unexpected ',' after the end of the expression"),
        ("sqrt()", "sqrt() takes 1 argument(s), got 0"),
        ("pow(1)", "pow() takes 2 argument(s), got 1"),
        ("min()", "min() needs at least one argument"),
        ("*2", "unexpected '*' in expression"),
        ("2 # 3", "unexpected character '#' in expression"),
    ],
)
def test_expression_syntax_errors(expr: str, message: str) -> None:
    with pytest.raises(NetlistError) as e:
        parse(f"R1 a 0 {{{expr}}}\n")
    assert message in e.value.message, e.value.format()


# notes: redefined parameters, empty netlists


def test_a_redefined_param_gets_a_note_naming_both_lines() -> None:
    c = parse(".param p=1\nR1 a 0 {p}\n.param q=3 p=2\n", file="f.cir")
    assert values(c.resistors) == {"r1": 2.0}  # the last definition is used
    note = ".param redefined (the last definition is used): p at f.cir:4, first defined at f.cir:2"
    assert note in c.warnings
    inside = parse(".subckt s a\n.param k=1\n.param k=5\nR1 a 0 {k}\n.ends\nX1 n s\nX2 n s\n")
    assert [w for w in inside.warnings if "redefined" in w] == [
        ".param redefined (the last definition is used): k at <netlist>:4, first defined at "
        "<netlist>:3"
    ]
    assert not any("redefined" in w for w in parse(".param p=1\nR1 a 0 {p}\n").warnings)


@pytest.mark.parametrize("text", ["", "just a title", "R1 a 0 1k", "title\n* comment\n.op\n.end\n"])
def test_an_empty_netlist_gets_a_note(text: str) -> None:
    c = parse_netlist(text, file="e.cir")
    assert c.sizes()["resistors"] == 0
    assert any(
        w.startswith("the netlist has no elements: nothing to solve: e.cir") for w in c.warnings
    )
    assert not any("no elements" in w for w in parse("R1 a 0 1\n").warnings)


# tokens: nothing extra silently ignored, nothing missing silently made up

EXTRA_TOKENS = [
    ("diode extra", "D1 b 0 dm extra\n.model dm d\n", "diode d1: unexpected 'extra'", "area"),
    ("diode param", "D1 b 0 dm foo=1\n.model dm d\n", "unknown parameter 'foo'", "ic"),
    ("diode 2nd area", "D1 b 0 dm 2 3\n.model dm d\n", "diode d1: unexpected '3'", None),
    ("DC twice", "V1 a 0 DC 1 DC 2\n", "v1: the DC value is given twice", "[DC] value"),
    ("value and DC", "V1 a 0 1 DC 2\n", "v1: the DC value is given twice", None),
    ("AC twice", "V1 a 0 DC 1 AC 1 AC 2\n", "v1: AC is given twice", None),
    ("two transients", "V1 a 0 SIN(0 1 1k) PULSE(0 1)\n", "a second transient function", None),
    ("source junk", "I1 a 0 1m 2m\n", "i1: unexpected '2m' in source", "Iname"),
    ("V no value", "V1 a 0\n", "v1 has no value", "write v1 a 0 0 or v1 a 0 DC 0"),
    ("I no value", "I1 0 a\n", "i1 has no value", "write i1 0 a 0 or i1 0 a DC 0"),
    ("model parens", ".model dm D (is==) ((\n", ".model dm: unbalanced parentheses", "is=1e-14"),
    ("model eq", ".model dm D (is==)\n", "bad value '=' for is", None),
    ("model token", ".model dm D (is=1e-14 foo)\n", "expected name=value, found 'foo'", None),
    ("model text", ".model dm D is=abc\n", "bad value 'abc' for is", None),
    ("model open", ".model dm D (is=1\n", ".model dm: unbalanced parentheses", None),
    ("model inner", ".model dm D (is=(1))\n", ".model dm: unbalanced parentheses", None),
    ("model empty", ".model dm D (is= )\n", ".model dm: is has no value", None),
    ("C extra", "C1 a 0 1p foo\n", "capacitor c1: unexpected 'foo'", "ic"),
    ("L param", "L1 a 0 1u bar=2\n", "inductor l1: unexpected unknown parameter 'bar'", "nt"),
]


@pytest.mark.parametrize(
    ("body", "message", "hint"),
    [case[1:] for case in EXTRA_TOKENS],
    ids=[case[0] for case in EXTRA_TOKENS],
)
def test_extra_and_missing_tokens_are_errors(body: str, message: str, hint) -> None:
    with pytest.raises(NetlistError) as e:
        parse("R9 a 0 1\n" + body, file="f.cir")
    err = e.value
    assert err.line == 3 and message in err.message, err.format()
    if hint is not None:
        assert err.hint and hint in err.hint, err.format()


def test_legitimate_optional_parts_still_parse() -> None:
    c = parse(
        "V1 a 0 DC 1 AC 1 SIN(0 1 1k)\n"
        "V2 b 0 AC 1 0 DC 2\n"
        "I1 0 a PULSE(0 1 0 1n 1n 1u 2u) dc 3m\n"
        "D1 a b dm 2.0 off ic=0.5 temp={27+1}\n"
        "D2 b 0 d2\n"
        "C1 a 0 1p ic=0 m=2\n"
        "L1 a\n+ b 1u nt=2\n"
        "R1 a 0 1k\n"
        ".model dm D(IS=1e-14 N=1)\n"
        ".model d2 d (is = 1e-14 , n = {1+1}, rs=10)\n"
        ".model d3 d\n"
        ".model d4 d()\n"
        ".model s1 sw vt=0 vh=0.1\n"
    )
    assert values(c.vsources) == {"v1": 1.0, "v2": 2.0} and values(c.isources) == {"i1": 3e-3}
    assert c.models["dm"].params == {"is": 1e-14, "n": 1.0}
    assert c.models["d2"].params == {"is": 1e-14, "n": 2.0, "rs": 10.0}
    assert c.models["d4"].params == {} and c.models["s1"].params == {"vt": 0.0, "vh": 0.1}
    assert any("ignored diode parameters" in w for w in c.warnings)
