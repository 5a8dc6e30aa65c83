"""Fuzzing the whole path: netlist file -> Circuit -> cd solve with certificate.

Hypothesis mutates valid netlists at every level a user (or an attacker) can
reach: the bytes of the file (bit flips, invalid UTF-8, NUL bytes, byte-order
marks, deletions, truncation), its tokens (deleted, duplicated, replaced by
SPICE-looking ones), its numbers (1e400, nan, -0, thousands of digits,
underflowing values), its nesting (values wrapped in ``{…}`` and hundreds of
parentheses; the body wrapped in nested ``.subckt`` definitions) and its files
(part of the netlist moved into an ``.include``d file, with a BOM or bad bytes).

Every case must end in a Circuit and then a Solution, or in a ResbenchError
(NetlistError, CircuitError, SolverError) whose message is short and
printable: never another exception, never the parser's internal-error
fallback.  The time bound is hypothesis's deadline on each case.  The cases are
derandomized (the same on every run, so CI is deterministic); the explore
profile (tests/conftest.py) draws new cases, ten times as many.
"""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import examples

import resbench
from resbench.errors import NetlistError, ResbenchError
from resbench.netlist import parse_netlist, read_netlist, write_netlist
from resbench.solution import CONVERGED, FAILED, NOT_CERTIFIED, STALLED, SWEEP_LIMIT, TIMEOUT

STATUSES = (CONVERGED, FAILED, NOT_CERTIFIED, STALLED, SWEEP_LIMIT, TIMEOUT)

ROOT = Path(__file__).resolve().parents[1]
NETLISTS = ROOT / "netlists"

SEEDS = [
    (NETLISTS / name).read_text(encoding="utf-8")
    for name in (
        "every_construct.cir",
        "subckt_param.cir",
        "stall.cir",
        "bridge.cir",
        "floating_sources.cir",
        "drn_small.cir",
    )
] + [
    """seed: parameters, nested subcircuits, every source form
.param a=2 b={a*3} r0='1k'
.model dm D (is=1e-14 n=1)
V1 in 0 DC {b} AC 1
V2 top 0 1 SIN(0 1 1k)
I1 0 n2 1mA
R1 in n1 {r0} ; comment
+
X1 n1 n2 half r={a*1k}
D1 n2 0 dm
C1 n1 0 1u ic=0
L1 n2 n3 1m
R3 n3 0 0
R4 top n3 2.2k
.subckt half p q params: r=1k
R1 p m {r}
R2 m q {r/2}
Xin m deep
.ends
.subckt deep t
Rd t 0 10
Dd t 0 dm
.ends deep
.control
run
.endc
.op
.end
"""
]

NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?[a-z]*", re.IGNORECASE)
BAD_NUMBERS = [
    "1e400",
    "-1e400",
    "1e-400",
    "1e-310",
    "1e-300f",
    "nan",
    "inf",
    "-inf",
    "-0",
    "0.0",
    "-1",
    "1e300",
    "1e-300",
    "9" * 400,
    "1" * 5000,
    "0." + "0" * 500 + "1",
    "0x10",
    "1e",
    "1_000",
    "1k5",
    "{1e400}",
    "{1e-200*1e-200}",
    "{1/0}",
    "{-1}",
    "{0}",
    "{exp(800)}",
    "{exp(-800)}",
    "{" + "+".join(["1"] * 500) + "}",
    "{" + "(" * 300 + "1" + ")" * 300 + "}",
    "{(1}",
    "'2*3'",
]
POOL = [
    "{",
    "}",
    "(",
    ")",
    "'",
    '"',
    "=",
    ",",
    "+",
    ".subckt",
    ".ends",
    ".include",
    ".param",
    ".model",
    ".end",
    ".control",
    ".endc",
    "params:",
    "x1",
    "dc",
    "ac",
    "sin(",
    "0",
    "gnd",
    "1k",
    "{a}",
    "a=1",
    "dm",
    "\ufeff",
    "é",
    "\x00",
    "\t",
    "\r",
]
BYTES = [b"\xe9", b"\xe8", b"\xff", b"\xc3", b"\x00", b"\xef\xbb\xbf", b"\r", b"\n+", b"\n"]

text_ops = st.tuples(
    st.sampled_from(["deltok", "duptok", "reptok", "num", "wrap", "chars", "dupline", "delline"]),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.one_of(st.sampled_from(POOL + BAD_NUMBERS), st.text(max_size=4)),
)
byte_ops = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "truncate"]),
    st.integers(0, 100_000),
    st.integers(0, 7),
    st.one_of(st.sampled_from(BYTES), st.binary(min_size=1, max_size=4)),
)


def _mutate_text(text: str, op: tuple) -> str:
    kind, i, j, s = op
    toks = text.split(" ")
    lines = text.split("\n")
    if kind == "deltok":
        del toks[i % len(toks)]
    elif kind == "duptok":
        k = i % len(toks)
        toks.insert(k, toks[k])
    elif kind == "reptok":
        toks[i % len(toks)] = s
    elif kind in ("num", "wrap"):
        found = list(NUMBER.finditer(text))
        if not found:
            return text
        m = found[i % len(found)]
        if kind == "num":
            new = BAD_NUMBERS[j % len(BAD_NUMBERS)]
        else:  # braces and parentheses, up to 200 deep
            depth = j % 201
            new = "{" + "(" * depth + m.group() + ")" * depth + "}"
        return text[: m.start()] + new + text[m.end() :]
    elif kind == "chars":
        k = i % (len(text) + 1)
        return text[:k] + s + text[k:]
    elif kind == "dupline":
        lines.insert(j % (len(lines) + 1), lines[i % len(lines)])
        return "\n".join(lines)
    else:
        del lines[i % len(lines)]
        return "\n".join(lines)
    return " ".join(toks)


def _mutate_bytes(data: bytes, op: tuple) -> bytes:
    kind, i, bit, s = op
    if kind == "flip" and data:
        k = i % len(data)
        return data[:k] + bytes([data[k] ^ (1 << bit)]) + data[k + 1 :]
    if kind == "insert":
        k = i % (len(data) + 1)
        return data[:k] + s + data[k:]
    if kind == "delete" and data:
        k = i % len(data)
        return data[:k] + data[k + 1 + bit :]
    if kind == "truncate":
        return data[: i % (len(data) + 1)]
    return data


def _nest(body: list[str], levels: int) -> list[str]:
    """The body inside ``levels`` nested subcircuits without ports (ground is global)."""
    body = [line for line in body if line.strip().lower() not in (".end", ".op")]
    out = [".subckt w0", *body, ".ends w0"]
    for k in range(1, levels):
        out += [f".subckt w{k}", f"Xw{k} w{k - 1}", f".ends w{k}"]
    return [*out, f"Xtop w{levels - 1}", ".op", ".end"]


@st.composite
def fuzz_cases(draw: st.DrawFn) -> tuple[bytes, bytes | None]:
    """(bytes of main.cir, bytes of part.cir or None)."""
    lines = draw(st.sampled_from(SEEDS)).split("\n")
    title, body = lines[0], lines[1:]
    levels = draw(st.integers(0, 3))
    if levels:
        body = _nest(body, levels)
    part: bytes | None = None
    if draw(st.booleans()):  # move a slice of the body into an included file
        i = draw(st.integers(0, len(body)))
        j = draw(st.integers(i, min(len(body), i + 12)))
        part = ("\n".join(body[i:j]) + "\n").encode()
        body = [*body[:i], ".include part.cir", *body[j:]]
        if draw(st.booleans()):
            part = b"\xef\xbb\xbf" + part
        for op in draw(st.lists(byte_ops, max_size=1)):
            part = _mutate_bytes(part, op)
    text = "\n".join([title, *body])
    for op in draw(st.lists(text_ops, max_size=4)):
        text = _mutate_text(text, op)
    data = text.encode("utf-8", errors="surrogatepass")
    for op in draw(st.lists(byte_ops, max_size=3)):
        data = _mutate_bytes(data, op)
    return data, part


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(NETLISTS / "lib", d / "lib")  # every_construct.cir includes lib/…
    # compile the solver first, so that no case pays for the JIT
    resbench.solve(parse_netlist("warm-up\nV1 a 0 1\nR1 a b 1k\nD1 b 0 d\n.model d d\n"))
    return d


def _check_error(exc: ResbenchError) -> None:
    text = exc.format()
    if isinstance(exc, NetlistError):
        assert not exc.message.startswith("internal error"), text
    assert len(text) < 2500, text[:3000]
    assert all(line.isprintable() for line in text.splitlines()), text[:3000]


def _run_case(workdir: Path, case: tuple[bytes, bytes | None]) -> None:
    data, part = case
    main = workdir / "main.cir"
    main.write_bytes(data)
    (workdir / "part.cir").unlink(missing_ok=True)
    if part is not None:
        (workdir / "part.cir").write_bytes(part)
    try:
        circuit = read_netlist(main)
    except NetlistError as exc:
        _check_error(exc)
        return
    # whatever parses is written back exactly, and solves or fails cleanly
    assert parse_netlist(write_netlist(circuit)) == circuit
    try:
        sol = resbench.solve(circuit, solver="cd", certify=True)
    except ResbenchError as exc:
        _check_error(exc)
        return
    assert sol.status in STATUSES, sol.status


FUZZ = settings(
    max_examples=examples(600),
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(fuzz_cases())
def test_fuzzed_netlists_end_in_a_result_or_a_resbench_error(workdir: Path, case) -> None:
    _run_case(workdir, case)


@settings(FUZZ, max_examples=examples(400))
@given(st.binary(max_size=300), st.sampled_from(SEEDS))
def test_random_bytes_after_a_valid_prefix(workdir: Path, noise: bytes, seed: str) -> None:
    cut = len(noise) % (len(seed) + 1)
    _run_case(workdir, (seed[:cut].encode() + noise, None))
