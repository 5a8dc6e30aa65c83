"""Invariants of the netlist parser and writer, tested with hypothesis.

1. Random circuits (random node and element names, element counts, kinds,
   values including 0-ohm resistors, models) round-trip exactly through
   ``write_netlist`` and ``parse_netlist``.
2. Random text (mutations of valid netlists: deleted, duplicated and swapped
   tokens and lines, random characters, truncation) either parses, and then
   round-trips through the writer, or raises NetlistError: never another
   exception, and never the parser's internal-error fallback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from strategies import examples

from resbench.circuit import Branches, Circuit, Model
from resbench.diodes import diode_model
from resbench.errors import CircuitError, NetlistError
from resbench.netlist import VALUE_MAX, VALUE_MIN, parse_netlist, write_netlist

ROOT = Path(__file__).resolve().parents[1]
NETLISTS = ROOT / "netlists"

# Characters a node or element name may hold (no white space, no ; $ { } ' " = ( ) ,).
NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_.-#:[]<>/!@%&|~^?+*"
KINDS = "rdvicl"

names = st.text(NAME_CHARS, min_size=1, max_size=8)
ident = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
# element values the dialect reads: 0, or magnitude VALUE_MIN … VALUE_MAX
in_range = st.floats(min_value=VALUE_MIN, max_value=VALUE_MAX)
finite = st.one_of(st.just(0.0), in_range, in_range.map(lambda x: -x))
nonneg = st.one_of(st.just(0.0), in_range, st.sampled_from([1e3, 0.1, 1 / 3]))
# model parameters: any double but a subnormal (it could not be written and read back)
param_values = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def circuits(draw: st.DrawFn) -> Circuit:
    pool = draw(st.lists(names, min_size=1, max_size=10, unique=True))
    pool = [n for n in pool if n not in ("0", "gnd")] or ["n"]
    terminal = st.sampled_from(["0", *pool])
    model_names = draw(st.lists(ident, min_size=1, max_size=3, unique=True))
    models = {
        m: Model(m, "d", draw(st.dictionaries(ident, param_values, max_size=3)))
        for m in model_names
    }
    for model in models.values():  # a diode parameter out of its range (N = 0, IS < 0, …)
        try:  # is an error of its card, not a circuit to round-trip
            diode_model(model)
        except CircuitError:
            reject()
    for m in draw(st.lists(ident, max_size=2, unique=True)):
        if m not in models:
            models[m] = Model(m, draw(st.sampled_from(["sw", "npn", "d"])), {})
    index = {"0": 0}
    groups: dict[str, tuple[list, list, list, list]] = {}
    diode_models: list[str] = []
    for kind in KINDS:
        suffixes = draw(st.lists(names, max_size=6, unique=True))
        el_names, a, b, v = [], [], [], []
        for suffix in suffixes:
            el_names.append(kind + suffix)
            for col in (a, b):
                col.append(index.setdefault(draw(terminal), len(index)))
            if kind == "r":
                v.append(draw(nonneg))
            elif kind == "d":
                v.append(0.0)
                diode_models.append(
                    draw(st.sampled_from(sorted(m for m in models if models[m].kind == "d")))
                )
            else:
                v.append(draw(finite))
        groups[kind] = (el_names, a, b, v)
    title = draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)).strip()
    br = {k: Branches.from_lists(*g) for k, g in groups.items()}
    c = Circuit(
        title=title,
        nodes=list(index),
        resistors=br["r"],
        diodes=br["d"],
        vsources=br["v"],
        isources=br["i"],
        capacitors=br["c"],
        inductors=br["l"],
        diode_models=diode_models,
        models=models,
    )
    c.validate()
    return c


@settings(max_examples=examples(75), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits(), st.sampled_from([".op", None]))
def test_random_circuits_round_trip_exactly(c: Circuit, analysis) -> None:
    text = write_netlist(c, analysis=analysis)
    again = parse_netlist(text)
    assert again == c
    for x, y in zip(again.kinds().values(), c.kinds().values(), strict=True):
        assert np.array_equal(x.value, y.value)  # bit-exact values (== on floats)
    # writing again gives the same text: the writer is deterministic
    assert write_netlist(again, analysis=analysis) == text


# ---------------------------------------------------------------------------- fuzzing

SEEDS = [
    (NETLISTS / "every_construct.cir").read_text(),
    """mutation seed: subcircuits and parameters
.param a=2 b={a*3}
.model dm D (is=1e-14)
V1 in 0 DC {b} AC 1
I1 0 n2 1mA
R1 in n1 1k ; comment
+
X1 n1 n2 half r={a*1k}
D1 n2 0 dm
C1 n1 0 1u
L1 n2 n3 1m
R3 n3 0 0
.subckt half p q params: r=1k
R1 p m {r}
R2 m q {r/2}
Xin m deep
.ends
.subckt deep t
Rd t 0 10
.ends deep
.control
run
.endc
.end
""",
]


def _mutate(text: str, ops: list[tuple[int, int, int, str]]) -> str:
    for op, i, j, chars in ops:
        lines = text.split("\n")
        toks = text.split(" ")
        if op == 0 and toks:  # delete a token
            del toks[i % len(toks)]
            text = " ".join(toks)
        elif op == 1 and toks:  # duplicate a token
            k = i % len(toks)
            toks.insert(k, toks[k])
            text = " ".join(toks)
        elif op == 2 and toks:  # swap two tokens
            x, y = i % len(toks), j % len(toks)
            toks[x], toks[y] = toks[y], toks[x]
            text = " ".join(toks)
        elif op == 3:  # insert random characters
            k = i % (len(text) + 1)
            text = text[:k] + chars + text[k:]
        elif op == 4:  # truncate
            text = text[: i % (len(text) + 1)]
        elif op == 5 and lines:  # delete a line
            del lines[i % len(lines)]
            text = "\n".join(lines)
        elif op == 6 and lines:  # duplicate or move a line
            k = i % len(lines)
            lines.insert(j % (len(lines) + 1), lines[k])
            text = "\n".join(lines)
        elif op == 7 and text:  # replace one character
            k = i % len(text)
            text = text[:k] + (chars[:1] or "x") + text[k + 1 :]
    return text


SPICY = st.text(
    st.sampled_from(
        list("{}()'\"=,;$*+.-/^ \t\n\r0123456789eEkKmMuU_xXrRdDvViIcClLgGqQ")
        + ["\x00", "é", "\ufeff"]
    ),
    max_size=6,
)
mutations = st.lists(
    st.tuples(
        st.integers(0, 7),
        st.integers(0, 10_000),
        st.integers(0, 10_000),
        st.one_of(SPICY, st.text(max_size=4)),
    ),
    min_size=1,
    max_size=5,
)


def _check(text: str) -> None:
    try:
        c = parse_netlist(text, base_dir=str(NETLISTS))
    except NetlistError as exc:
        assert not exc.message.startswith("internal error"), exc.format()
        assert exc.format()  # formats without failing
        return
    # whatever parses must survive the writer exactly
    assert parse_netlist(write_netlist(c)) == c


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), mutations)
def test_mutated_netlists_raise_only_netlist_error(seed: str, ops) -> None:
    _check(_mutate(seed, ops))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), SPICY)
def test_random_text_raises_only_netlist_error(text: str, extra: str) -> None:
    _check("title\n" + text + extra)
    _check(text)
