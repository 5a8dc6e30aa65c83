"""Netlist dialect: parser (text -> Circuit) and writer (Circuit -> text).

The dialect is the subset of SPICE that ngspice reads for a DC operating point
(DESIGN.md section 3), so the same file runs in both programs.  The parser
knows nothing about solvers; it produces a flattened :class:`Circuit`.

Public API::

    read_netlist(path) -> Circuit
    parse_netlist(text, file=None, base_dir=None) -> Circuit
    write_netlist(circuit, diode_style="diode", analysis=".op", title=None) -> str
    parse_value("10kohm") -> 10000.0

Every failure on bad input is a :class:`NetlistError` carrying file, line,
the offending text and a hint; ``parse_netlist`` raises nothing else.

Decisions where SPICE dialects differ (each one covered by tests/test_netlist.py):

* ``.end`` stops reading the file it is in; ``.control … .endc`` is skipped with
  a warning and never run.
* ``.param`` values may refer to parameters defined later (evaluated on first
  use, cycles are errors); element values need ``{…}`` or ``'…'`` to use them.
* Subcircuits may be defined after use and inside other subcircuits (then they
  are local to it).  Flattened names follow ngspice: ``R1`` in ``X1`` is
  ``r.x1.r1``, node ``n1`` in ``X1`` is ``x1.n1``; ``0``/``gnd`` and ``.global``
  nodes are not renamed.  ``.model`` cards are global wherever they appear.
* A source with only a transient function (SIN, PULSE, …) gets DC value 0
  (ngspice's ``.op`` would use the value at t=0); AC parts are ignored.
  Notes about ignored parts are grouped by kind in ``circuit.warnings``.
* Resistor parameters (``tc1=``, ``m=``, ``r=``) are rejected; extra diode,
  capacitor and inductor tokens are ignored with a note.

Speed: plain element lines take a fast path (split, first-letter dispatch,
node names interned through one dict, columns collected in ``array`` buffers
that become numpy arrays without copying); only lines with ``{}``, quotes,
``=`` or parentheses, and ``X`` instances, go through the general tokenizer.
Top-level lines are built while reading unless an earlier top-level line had
to wait for definitions further down (a ``{…}`` value or an ``X`` instance);
from then on they are built after reading, in order, so nodes are always
numbered in order of first appearance in the flattened netlist.
"""

from __future__ import annotations

import gc
import math
import os
import re
from array import array
from collections import defaultdict
from collections.abc import Sequence
from itertools import chain, count, islice

import numpy as np

from resbench._expr import SUFFIX_SCALE, ExprError, evaluate
from resbench.circuit import GROUND, Branches, Circuit, IndexedNames, Model
from resbench.errors import CircuitError, NetlistError

__all__ = ["parse_netlist", "parse_value", "read_netlist", "write_netlist"]

# ---------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------

_SUFFIX = SUFFIX_SCALE
_ALPHA = "abcdefghijklmnopqrstuvwxyz"
_DIGIT_END = frozenset("0123456789.")
_SCALE_RE = re.compile(r"(meg|mil|[tgkmunpf])?")
_scale_cache: dict[str, float] = {}


def _scale(suffix: str) -> float:
    """Multiplier of a run of letters after a number: a scale suffix, then units."""
    v = _scale_cache.get(suffix)
    if v is None:
        m = _SCALE_RE.match(suffix)
        v = _SUFFIX[m.group(1)] if m and m.group(1) else 1.0
        if len(_scale_cache) < 4096:
            _scale_cache[suffix] = v
    return v


def _value_or_none(token: str) -> float | None:
    """SPICE number -> float, or None when ``token`` is not a SPICE number.
    ``token`` must already be lower case.  A number is a float mantissa, then
    letters: an optional scale suffix (``meg`` before ``m``) and ignored units."""
    mant = token.rstrip(_ALPHA)
    if not mant or mant[-1] not in _DIGIT_END or "_" in mant or not token.isascii():
        return None  # also rejects inf, nan, and Python-only forms like 1_000
    try:
        v = float(mant)
    except ValueError:
        return None
    if len(mant) != len(token):
        v *= _scale(token[len(mant) :])
    return v if math.isfinite(v) else None


def parse_value(token: str) -> float:
    """Parse a SPICE number: ``1k``, ``1meg``, ``1m``, ``10kohm``, ``2.2uA``, ``1e-3``, ``1mil``.

    Suffixes (case-insensitive): T G MEG K M MIL U N P F; ``M`` is milli and
    ``MEG`` is mega.  Letters after the number and suffix are units and are
    ignored.  Raises :class:`NetlistError` for anything else.
    """
    if not isinstance(token, str):
        raise NetlistError(f"expected a number, got {token!r}")
    tok = token.strip().lower()
    v = _value_or_none(tok)
    if v is None or not math.isfinite(v):
        raise NetlistError(
            f"bad number {token!r}",
            text=token,
            hint="SPICE numbers look like 1k, 4.7u, 1meg, 2.2e-3, 10kohm",
        )
    return v


# ---------------------------------------------------------------------------
# writer
# ---------------------------------------------------------------------------

_SMALL_BLOCK = 20000  # element groups up to this size get the shortest repr of each value
_SWITCH_MODEL = "swideal"
_SWITCH_CARD = f".model {_SWITCH_MODEL} sw(vt=0 vh=0 ron=1e-5 roff=1e12)"


def _fmt_param(v: float) -> str:
    return repr(float(v))


_OTHER_SPACE = re.compile(r"[^\S\n]")  # white space other than newlines


def _checked_names(names: Sequence[str], letter: str, kind: str) -> Sequence[str]:
    """Element names as written: each must start with its kind letter (SPICE
    decides the element type by it); names that do not get the letter prefixed.
    Checked with whole-string operations (no Python loop over a million names)."""
    if isinstance(names, IndexedNames):
        if names.prefix[:1] == letter and not _OTHER_SPACE.search(names.prefix):
            return names
    names = names if isinstance(names, list) else list(names)
    n = len(names)
    if not n:
        return names
    joined = "\n".join(names)
    if "" in names or joined.count("\n") != n - 1 or _OTHER_SPACE.search(joined) is not None:
        raise CircuitError(f"cannot write {kind} names that are empty or contain white space")
    if joined.count("\n" + letter) + joined.startswith(letter) != n:
        names = [x if x.startswith(letter) else letter + x for x in names]
    return names


def _block(cols: Sequence[Sequence[str]], values: np.ndarray | None) -> str:
    """Lines ``col0 col1 … value`` joined by newlines.  Values are written exactly:
    shortest ``repr`` for small groups, ``%.17g`` (faster, still exact) for large ones."""
    if values is None:
        return "\n".join(map(" ".join, zip(*cols, strict=True)))
    n = len(values)
    vals = values.tolist()
    if n <= _SMALL_BLOCK:
        return "\n".join(map(" ".join, zip(*cols, map(repr, vals), strict=True)))
    fmt = ("%s " * len(cols) + "%.17g\n") * n
    return (fmt % tuple(chain.from_iterable(zip(*cols, vals, strict=True))))[:-1]


def write_netlist(
    circuit: Circuit,
    *,
    diode_style: str = "diode",
    analysis: str | None = ".op",
    title: str | None = None,
) -> str:
    """Circuit -> netlist text that both resbench and ngspice read.

    The first line is the title; then the ``.model`` cards of ``circuit.models``;
    then the elements kind by kind (R, D, V, I, C, L) in array order, values
    written exactly (``repr`` of the float), so ``parse_netlist(write_netlist(c))``
    equals ``c``; then ``analysis`` (unless None) and ``.end``.

    ``diode_style="switch"`` writes every ideal diode ``Dx a c model`` as the
    ngspice self-controlled switch ``Sdx a c a c swideal`` plus one card
    ``.model swideal sw(vt=0 vh=0 ron=1e-5 roff=1e12)`` (DESIGN.md section 5).
    """
    if diode_style not in ("diode", "switch"):
        raise ValueError(f"diode_style must be 'diode' or 'switch', not {diode_style!r}")
    head = circuit.title if title is None else title
    head = str(head).replace("\r", " ").replace("\n", " ")  # the title is one line
    nodes = np.asarray(list(circuit.nodes), dtype=object)
    node_text = " ".join(nodes.tolist())
    if len(node_text.split()) != len(nodes):
        raise CircuitError("cannot write node names that are empty or contain white space")

    out: list[str] = [head]
    models = dict(circuit.models)
    for m in circuit.diode_models:
        if m not in models:
            models[m] = Model(m, "d", {})
    for name, model in models.items():
        card = f".model {name} {model.kind}"
        if model.params:
            card += " (" + " ".join(f"{k}={_fmt_param(v)}" for k, v in model.params.items()) + ")"
        out.append(card)
    if diode_style == "switch" and len(circuit.diodes) and _SWITCH_MODEL not in models:
        out.append(_SWITCH_CARD)

    def columns(br: Branches, letter: str, kind: str):
        if not np.all(np.isfinite(br.value)):
            i = int(np.argmax(~np.isfinite(br.value)))
            raise CircuitError(
                f"cannot write {kind} {br.names[i]} with value {br.value[i]}",
                elements=[br.names[i]],
            )
        names = _checked_names(br.names, letter, kind)
        return [names, nodes[br.a].tolist(), nodes[br.b].tolist()]

    for letter, kind, br in (("r", "resistor", circuit.resistors),):
        if len(br):
            out.append(_block(columns(br, letter, kind), br.value))

    if len(circuit.diodes):
        names, a, b = columns(circuit.diodes, "d", "diode")
        if diode_style == "diode":
            out.append(_block([names, a, b, list(circuit.diode_models)], None))
        else:
            snames = ["s" + n for n in names]
            out.append(_block([snames, a, b, a, b, [_SWITCH_MODEL] * len(snames)], None))

    for letter, kind, br in (
        ("v", "voltage source", circuit.vsources),
        ("i", "current source", circuit.isources),
    ):
        if len(br):
            out.append(_block([*columns(br, letter, kind), ["dc"] * len(br)], br.value))

    for letter, kind, br in (
        ("c", "capacitor", circuit.capacitors),
        ("l", "inductor", circuit.inductors),
    ):
        if len(br):
            out.append(_block(columns(br, letter, kind), br.value))

    if analysis is not None:
        out.append(analysis)
    out.append(".end")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------

_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SPECIAL = re.compile(r"[{}'\"=(),]").search  # a line without these takes the fast path
_DOLLAR = re.compile(r"[ \t]\$")
_TOKEN = re.compile(r"\{[^{}]*\}|'[^']*'|[^\s{}'\"]+|\S")
_PNAME = re.compile(r"[a-z_][a-z0-9_]*\Z", re.ASCII)
_TRAN_FUNCS = frozenset(("sin", "pulse", "pwl", "exp", "sffm", "am", "trnoise", "trrandom"))
_IGNORED_CARDS = frozenset(
    (".op", ".options", ".option", ".opt", ".temp", ".save", ".print", ".probe", ".plot")
)
_ANALYSIS_CARDS = frozenset((".tran", ".dc", ".ac"))
_CARDS_HINT = (
    "resbench reads .param .subckt/.ends .include/.inc .model .global .title .op .options "
    ".temp .save .print .probe .tran/.dc/.ac (ignored) .control/.endc (skipped) and .end"
)
_UNSUPPORTED = {
    "a": "XSPICE code model",
    "b": "behavioural source",
    "e": "voltage-controlled voltage source",
    "f": "current-controlled current source",
    "g": "voltage-controlled current source",
    "h": "current-controlled voltage source",
    "j": "JFET",
    "k": "inductor coupling",
    "m": "MOSFET",
    "n": "OSDI device",
    "o": "lossy transmission line",
    "p": "coupled transmission line",
    "q": "bipolar transistor",
    "s": "voltage-controlled switch",
    "t": "transmission line",
    "u": "uniform RC line",
    "w": "current-controlled switch",
    "y": "transmission line",
    "z": "MESFET",
}
_ELEMENTS_HINT = (
    "resbench simulates resistors (R), ideal diodes (D), DC voltage (V) and current (I) "
    "sources, capacitors (C, open in DC), inductors (L, short in DC) and subcircuits (X)"
)
_NUMBER_HINT = "SPICE numbers look like 1k, 4.7u, 1meg, 2.2e-3, 10kohm; or write {expression}"
_END, _CONTROL = 1, 2
_LINE_BITS = 32  # a location is (file index << 32) | line number
_LINE_MASK = (1 << _LINE_BITS) - 1


class _Notes:
    """Warnings grouped by kind, so a million sources with AC parts give one line."""

    def __init__(self) -> None:
        self.items: dict[str, list] = {}

    def add(self, kind: str, detail: str) -> None:
        item = self.items.get(kind)
        if item is None:
            self.items[kind] = [1, detail]
        else:
            item[0] += 1

    def lines(self) -> list[str]:
        out = []
        for kind, (n, detail) in self.items.items():
            more = f" (and {n - 1} more)" if n > 1 else ""
            out.append(f"{kind}: {detail}{more}")
        return out


class _Subckt:
    """A ``.subckt`` definition (or the top level, name None) as read in pass 1."""

    __slots__ = (
        "children",
        "defaults",
        "loc",
        "locs",
        "name",
        "param_defs",
        "parent",
        "ports",
        "raws",
    )

    def __init__(self, name, ports, defaults, parent, loc) -> None:
        self.name: str | None = name
        self.ports: list[str] = ports
        self.defaults: list[tuple[str, str]] = defaults  # params: name=expression
        self.parent: _Subckt | None = parent
        self.loc: int = loc
        self.locs = array("q")  # element lines: location …
        self.raws: list[str] = []  # … and text
        self.children: dict[str, _Subckt] = {}  # subcircuits defined inside
        self.param_defs: list[tuple[str, str, int, str]] = []  # .param: name, expr, loc, raw


class _Env:
    """Parameter scope: values known, definitions evaluated on first use, parent scope."""

    __slots__ = ("busy", "defs", "parent", "parser", "values")

    def __init__(self, parser, parent, defs=None, values=None) -> None:
        self.parser: _Parser = parser
        self.parent: _Env | None = parent
        self.defs: dict[str, tuple[str, int, str]] = defs or {}
        self.values: dict[str, float] = values or {}
        self.busy: set[str] = set()

    def get(self, name: str) -> float | None:
        v = self.values.get(name)
        if v is not None:
            return v
        d = self.defs.get(name)
        if d is not None:
            text, loc, raw = d
            if name in self.busy:
                raise self.parser.error(
                    loc, raw, f"parameter {name!r} is defined in terms of itself"
                )
            self.busy.add(name)
            try:
                v = evaluate(text, self.get)
            except ExprError as exc:
                raise self.parser.error(
                    loc, raw, f"cannot evaluate parameter {name} = {text}: {exc}"
                ) from None
            finally:
                self.busy.discard(name)
            self.values[name] = v
            return v
        return None if self.parent is None else self.parent.get(name)

    def evaluate_all(self) -> None:
        for name in list(self.defs):
            self.get(name)


class _Ctx:
    """Where a subcircuit body is being expanded."""

    __slots__ = ("env", "portmap", "prefix", "scope", "stack")

    def __init__(self, prefix, portmap, scope, env, stack) -> None:
        self.prefix: str = prefix
        self.portmap: dict[str, str] = portmap
        self.scope: _Subckt = scope
        self.env: _Env = env
        self.stack: tuple[_Subckt, ...] = stack


class _Group:
    __slots__ = ("a", "b", "locs", "names", "value")

    def __init__(self) -> None:
        self.names: list[str] = []
        self.a = array("i")  # C int: 32 bits on every platform numpy supports
        self.b = array("i")
        self.value = array("d")
        self.locs = array("q")

    def branches(self) -> Branches:
        # zero-copy views of the arrays (they are not appended to afterwards)
        return Branches(
            self.names,
            np.frombuffer(self.a, dtype=np.intc).astype(np.int32, copy=False),
            np.frombuffer(self.b, dtype=np.intc).astype(np.int32, copy=False),
            np.frombuffer(self.value, dtype=np.float64),
        )


def _title(text: str) -> str:
    """A title as stored: no byte-order mark, no surrounding white space."""
    return text.replace("\ufeff", "").strip()


def _lines_of(text: str) -> list[str]:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


class _Parser:
    def __init__(self, file: str | None, base_dir: str) -> None:
        self.files: list[str | None] = []
        self.file_lines: list[list[str]] = []  # physical lines, for error messages
        self.base_dir = base_dir
        self.title = ""
        self.notes = _Notes()
        self.root = _Subckt(None, [], [], None, 0)
        self.stack: list[_Subckt] = [self.root]
        self.model_cards: list[tuple[int, str]] = []
        self.globals: set[str] = {GROUND, "gnd"}
        self.including: list[str] = []
        self.include_names: list[str] = []
        # pass 2 state
        # node name -> index; a new name gets the next index (order of first appearance)
        self.nidx: defaultdict[str, int] = defaultdict(count(1).__next__)
        self.nidx[GROUND] = 0
        self.nidx["gnd"] = 0
        self.deferring = False
        self.groups = {k: _Group() for k in "rdvicl"}
        self.diode_models: list[str] = []
        self.models: dict[str, Model] = {}
        self.model_locs: dict[str, int] = {}
        self.bodies: dict[int, list] = {}  # id(_Subckt) -> tokenised body
        self.env = _Env(self, None)

    # ------------------------------------------------------------- errors
    def where(self, loc: int) -> tuple[str | None, int]:
        return self.files[loc >> _LINE_BITS], loc & _LINE_MASK

    def error(
        self,
        loc: int,
        text: str | None,
        message: str,
        hint: str | None = None,
        ctx: _Ctx | None = None,
    ) -> NetlistError:
        if ctx is not None:
            message += f" (in subcircuit instance {ctx.prefix})"
        file, line = self.where(loc)
        if text is None and loc:
            lines = self.file_lines[loc >> _LINE_BITS]
            if 0 < line <= len(lines):
                text = lines[line - 1]
        return NetlistError(message, file=file, line=line, text=text, hint=hint)

    def place(self, loc: int) -> str:
        file, line = self.where(loc)
        return f"{file or '<netlist>'}:{line}"

    # ------------------------------------------------------------- pass 1
    def read(self, text: str, file: str | None, base_dir: str, main: bool) -> None:
        """Pass 1 over one file: comments dropped, ``+`` lines joined, cards handled.

        Top-level element lines that depend on nothing defined later (no ``{…}``,
        no ``X`` instance) are built at once, with an inlined fast path for plain
        resistor lines.  Once one top-level line had to be deferred (to pass 2,
        when every ``.param`` and ``.subckt`` is known), all later top-level lines
        are deferred too, so nodes keep their order of first appearance.
        """
        fidx = len(self.files)
        self.files.append(file)
        base = fidx << _LINE_BITS
        lines = _lines_of(text)
        self.file_lines.append(lines)
        start = 0
        if main:
            self.title = _title(lines[0])
            start = 1
        cur = self.stack[-1]
        store_loc, store_raw = cur.locs.append, cur.raws.append
        immediate = len(self.stack) == 1 and not self.deferring
        ctrl = 0
        letters = _LETTERS
        special = _SPECIAL
        alpha, scale, digit_end = _ALPHA, _scale, _DIGIT_END
        inf = math.inf
        nidx = self.nidx
        g = self.groups["r"]
        rn, ra, rb, rv, rl = g.names.append, g.a.append, g.b.append, g.value.append, g.locs.append
        element = self.element
        pend: str | None = None
        pno = 0
        no = start
        # a sentinel line at the end flushes the last logical line; it is never processed
        for s in chain(islice(lines, start, None), ("\x00",)):
            no += 1
            if not s:
                continue
            c = s[0]
            if c == "*":
                continue
            if c == " " or c == "\t" or ";" in s or "$" in s:
                s = s.strip()
                if ";" in s:
                    s = s[: s.index(";")].rstrip()
                if "$" in s:
                    s = _DOLLAR.split(s, 1)[0].rstrip()
                if not s or s[0] == "*":
                    continue
                c = s[0]
            if c == "+":
                if pend is None:
                    raise self.error(
                        base | no,
                        s,
                        "continuation line ('+') with no line to continue",
                        hint="a '+' line continues the element or card above it",
                    )
                pend = pend + " " + s[1:]
                continue
            if pend is None:
                pend, pno = s, no
                continue
            # ---- `pend` is a complete logical line: handle it, then `s` becomes pending
            raw, loc = pend, base | pno
            pend, pno = s, no
            if ctrl:
                if raw[:5].lower() == ".endc" and raw.split(None, 1)[0].lower() == ".endc":
                    self.notes.add(
                        "skipped .control block (resbench never runs control commands)",
                        f"lines {ctrl}-{loc & _LINE_MASK} of {file or '<netlist>'}",
                    )
                    ctrl = 0
                continue
            c = raw[0]
            if c in letters:
                if not immediate:
                    store_loc(loc)
                    store_raw(raw)
                    continue
                low = raw.lower()
                if special(low) is not None or low[0] == "x" or not low.isascii():
                    self.deferring = True
                    immediate = False
                    store_loc(loc)
                    store_raw(raw)
                    continue
                if low[0] == "r":
                    t = low.split()
                    if len(t) == 4:
                        x = t[3]
                        m = x.rstrip(alpha)
                        try:
                            if len(m) == len(x):
                                v = float(x)
                            else:
                                v = float(m) * scale(x[len(m) :])
                        except ValueError:
                            v = -1.0
                        if "_" in x or (m and m[-1] not in digit_end):
                            v = -1.0  # not a SPICE number: the generic path reports it
                        if 0.0 <= v < inf:
                            rn(t[0])
                            ra(nidx[t[1]])
                            rb(nidx[t[2]])
                            rv(v)
                            rl(loc)
                            continue
                element(loc, raw, low, None)
            elif c == ".":
                r = self.card(loc, raw, base_dir)
                if r == _END:
                    break
                if r == _CONTROL:
                    ctrl = loc & _LINE_MASK
                cur = self.stack[-1]
                store_loc, store_raw = cur.locs.append, cur.raws.append
                immediate = len(self.stack) == 1 and not self.deferring
            else:
                raise self.error(
                    loc,
                    raw,
                    f"unrecognised line starting with {c!r}",
                    hint="lines are elements (R1 a b 1k), dot cards (.op), comments (*) "
                    "or continuations (+)",
                )
        if ctrl:
            raise self.error(
                base | ctrl, ".control", ".control block without .endc", hint="add .endc"
            )

    def tokens(self, loc: int, raw: str, low: str, ctx: _Ctx | None = None) -> list[str]:
        """Split a lower-cased line into tokens, keeping ``{…}`` and ``'…'`` whole and
        gluing ``name = value`` into ``name=value``."""
        out: list[str] = []
        glue = False
        for t in _TOKEN.findall(low):
            if t in ("{", "}", "'", '"'):
                raise self.error(
                    loc,
                    raw,
                    f"unbalanced {t!r}",
                    hint="expressions are written {…} or '…', without nesting braces",
                    ctx=ctx,
                )
            if out and (glue or t[0] == "="):
                out[-1] += t
            else:
                out.append(t)
            glue = out[-1][-1] == "="
        return out

    def assignments(
        self, loc: int, raw: str, toks: list[str], what: str, ctx: _Ctx | None = None
    ) -> list[tuple[str, str]]:
        """``name=value`` tokens -> (name, expression text)."""
        out = []
        for t in toks:
            name, eq, val = t.partition("=")
            if not eq or not _PNAME.match(name):
                raise self.error(loc, raw, f"expected name=value in {what}, found {t!r}", ctx=ctx)
            if not val:
                raise self.error(loc, raw, f"missing value for {name} in {what}", ctx=ctx)
            if len(val) >= 2 and (
                (val[0] == "{" and val[-1] == "}") or (val[0] == "'" and val[-1] == "'")
            ):
                val = val[1:-1]
            out.append((name, val))
        return out

    def card(self, loc: int, s: str, base_dir: str) -> int:
        low = s.lower()
        parts = low.split(None, 1)
        card = parts[0]
        rest = parts[1] if len(parts) > 1 else ""
        if card == ".end":
            return _END
        if card in _IGNORED_CARDS:
            return 0
        if card in _ANALYSIS_CARDS:
            self.notes.add(
                f"{card} ignored (resbench computes the DC operating point)", self.place(loc)
            )
            return 0
        if card == ".param":
            toks = self.tokens(loc, s, rest)
            if not toks:
                raise self.error(loc, s, ".param needs name=value", hint=".param rload=1k")
            for name, val in self.assignments(loc, s, toks, ".param"):
                self.stack[-1].param_defs.append((name, val, loc, s))
            return 0
        if card == ".model":
            self.model_cards.append((loc, s))
            return 0
        if card == ".subckt":
            self.subckt(loc, s, rest)
            return 0
        if card == ".ends":
            if len(self.stack) == 1:
                raise self.error(loc, s, ".ends without .subckt")
            cur = self.stack[-1]
            if rest.split() and rest.split()[0] != cur.name:
                raise self.error(
                    loc,
                    s,
                    f".ends {rest.split()[0]} closes .subckt {cur.name}",
                    hint=f"write .ends {cur.name}",
                )
            self.stack.pop()
            return 0
        if card in (".include", ".inc"):
            self.include(loc, s, base_dir)
            return 0
        if card == ".global":
            for t in rest.split():
                if _SPECIAL(t):
                    raise self.error(loc, s, f"bad node name {t!r} in .global")
                self.globals.add(t)
            return 0
        if card == ".title":
            p = s.split(None, 1)
            self.title = _title(p[1]) if len(p) > 1 else ""
            return 0
        if card == ".control":
            return _CONTROL
        if card == ".endc":
            raise self.error(loc, s, ".endc without .control")
        if card in (".lib", ".endl"):
            raise self.error(
                loc,
                s,
                f"{card} is not supported",
                hint="copy the .subckt/.model cards you need into a file and .include it",
            )
        raise self.error(loc, s, f"unknown or unsupported card {card}", hint=_CARDS_HINT)

    def subckt(self, loc: int, s: str, rest: str) -> None:
        toks = self.tokens(loc, s, rest)
        if not toks or "=" in toks[0] or toks[0] == "params:":
            raise self.error(
                loc, s, ".subckt needs a name", hint=".subckt NAME port1 port2 [params: k=v]"
            )
        name = toks[0]
        ports: list[str] = []
        params: list[str] = []
        for t in toks[1:]:
            if t == "params:":
                continue
            if "=" in t:
                params.append(t)
            elif params:
                raise self.error(loc, s, f"port {t!r} after the parameters of .subckt {name}")
            elif t in self.globals or _SPECIAL(t):
                raise self.error(loc, s, f"bad port name {t!r} in .subckt {name}")
            elif t in ports:
                raise self.error(loc, s, f"port {t!r} appears twice in .subckt {name}")
            else:
                ports.append(t)
        defaults = self.assignments(loc, s, params, f".subckt {name}")
        parent = self.stack[-1]
        old = parent.children.get(name)
        if old is not None:
            raise self.error(
                loc,
                s,
                f"subcircuit {name} is defined twice (first at {self.place(old.loc)})",
            )
        sub = _Subckt(name, ports, defaults, parent, loc)
        parent.children[name] = sub
        self.stack.append(sub)

    def include(self, loc: int, s: str, base_dir: str) -> None:
        p = s.split(None, 1)
        name = p[1].strip() if len(p) > 1 else ""
        if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
            name = name[1:-1]
        if not name:
            raise self.error(loc, s, ".include needs a file name", hint='.include "lib/parts.cir"')
        path = os.path.normpath(os.path.join(base_dir, os.path.expanduser(name)))
        real = os.path.realpath(path)
        if real in self.including:
            chain_ = " -> ".join([*self.include_names[self.including.index(real) :], path])
            raise self.error(loc, s, f"include cycle: {chain_}")
        try:
            if os.path.exists(path) and not os.path.isfile(path):
                raise OSError(f"{path} is not a regular file")
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError as exc:
            raise self.error(
                loc,
                s,
                f"cannot include {name}: {exc.strerror or exc}",
                hint=f"looked for {path} (relative to the including file)",
            ) from None
        self.including.append(real)
        self.include_names.append(path)
        try:
            self.read(text, path, os.path.dirname(path), main=False)
        finally:
            self.including.pop()
            self.include_names.pop()

    # ------------------------------------------------------------- pass 2
    def parse_models(self) -> None:
        for loc, raw in self.model_cards:
            low = raw.lower()
            parts = low.split(None, 1)
            toks = []
            for t in self.tokens(loc, raw, parts[1] if len(parts) > 1 else ""):
                if "{" in t or "'" in t:
                    toks.append(t.lstrip("("))
                else:
                    toks.extend(x for x in re.split(r"[(),]+", t) if x)
            toks = [t for t in toks if t != ")"]
            if len(toks) < 2 or "=" in toks[0] or "=" in toks[1]:
                raise self.error(loc, raw, ".model needs a name and a type", hint=".model D1 D")
            name, kind = toks[0], toks[1]
            params: dict[str, float] = {}
            for t in toks[2:]:
                k, eq, v = t.partition("=")
                if not eq or not k or not v:
                    self.notes.add("ignored .model token", f"{t!r} at {self.place(loc)}")
                    continue
                if v[0] in "{'":
                    params[k] = self.value(loc, raw, v, self.env, f"model parameter {k}")
                else:
                    x = _value_or_none(v)
                    if x is None:
                        self.notes.add(
                            "ignored non-numeric .model parameter", f"{k}={v} at {self.place(loc)}"
                        )
                        continue
                    params[k] = x
            if name in self.models:
                raise self.error(
                    loc,
                    raw,
                    f"model {name} is defined twice (first at {self.place(self.model_locs[name])})",
                )
            self.models[name] = Model(name, kind, params)
            self.model_locs[name] = loc

    def value(
        self, loc: int, raw: str, tok: str, env: _Env, what: str, ctx: _Ctx | None = None
    ) -> float:
        c = tok[0]
        if c == "{" or c == "'":
            text = tok[1:-1]
            try:
                return evaluate(text, env.get)
            except ExprError as exc:
                raise self.error(
                    loc, raw, f"cannot evaluate {what} {tok}: {exc}", ctx=ctx
                ) from None
        v = _value_or_none(tok)
        if v is None:
            hint = _NUMBER_HINT
            if _PNAME.match(tok) and (
                env.get(tok) is not None or any(d[0] == tok for d in self.root.param_defs)
            ):
                hint = f"to use parameter {tok}, write {{{tok}}}"
            raise self.error(loc, raw, f"bad {what} {tok!r}", hint=hint, ctx=ctx)
        return v

    def resolve(self, loc: int, raw: str, tok: str, ctx: _Ctx | None) -> str:
        """A node token -> its flattened name (ports map to the instance's nodes)."""
        if _SPECIAL(tok):
            raise self.error(loc, raw, f"bad node name {tok!r}", ctx=ctx)
        if ctx is not None:
            name = ctx.portmap.get(tok)
            if name is not None:
                return name
            if tok not in self.globals:
                return f"{ctx.prefix}.{tok}"
        return tok

    def node(self, loc: int, raw: str, tok: str, ctx: _Ctx | None) -> int:
        return self.nidx[self.resolve(loc, raw, tok, ctx)]

    def check_diode_models(self) -> None:
        """Every diode names a defined model of type D (checked once all models are read)."""
        dm = self.diode_models
        bad = {m for m in set(dm) if m not in self.models or self.models[m].kind != "d"}
        if not bad:
            return
        i = next(k for k, m in enumerate(dm) if m in bad)
        model = dm[i]
        name = self.groups["d"].names[i]
        loc = self.groups["d"].locs[i]
        if model not in self.models:
            raise self.error(
                loc,
                None,
                f"diode {name}: model {model!r} is not defined",
                hint=f'add ".model {model} D"',
            )
        raise self.error(
            loc,
            None,
            f"diode {name}: model {model!r} is of type {self.models[model].kind}, not d",
            hint=f'add ".model NAME D" and use it for {name}',
        )

    def build_root(self) -> None:
        """Top-level elements, with a fast path for plain resistor lines."""
        root = self.root
        nidx = self.nidx
        g = self.groups["r"]
        rn, ra, rb, rv, rl = g.names.append, g.a.append, g.b.append, g.value.append, g.locs.append
        special = _SPECIAL
        val = _value_or_none
        element = self.element
        for loc, raw in zip(root.locs, root.raws, strict=True):
            low = raw.lower()
            if low[0] == "r" and special(low) is None:
                t = low.split()
                if len(t) == 4:
                    v = val(t[3])
                    if v is not None and v >= 0:
                        rn(t[0])
                        ra(nidx[t[1]])
                        rb(nidx[t[2]])
                        rv(v)
                        rl(loc)
                        continue
            element(loc, raw, low, None)

    def element(self, loc: int, raw: str, low: str, ctx: _Ctx | None) -> None:
        toks = self.tokens(loc, raw, low, ctx)
        name = toks[0]
        c = name[0]
        env = self.env if ctx is None else ctx.env
        full = name if ctx is None else f"{c}.{ctx.prefix}.{name}"
        if c == "x":
            self.instance(loc, raw, toks, ctx)
            return
        if c not in "rdvicl":
            what = _UNSUPPORTED.get(c)
            msg = (
                f"unsupported element {name} ({what})"
                if what
                else f"unknown element {name} (no element type starts with {c!r})"
            )
            raise self.error(loc, raw, msg, hint=_ELEMENTS_HINT, ctx=ctx)
        if "=" in name or len(toks) < 3 or any("=" in t for t in toks[1:3]):
            raise self.error(
                loc,
                raw,
                f"element {name} needs two nodes",
                hint=_USAGE[c],
                ctx=ctx,
            )
        if c == "v" or c == "i":
            v = self.source(loc, raw, toks, full, env, ctx)
        elif len(toks) < 4:
            raise self.error(
                loc, raw, f"{_KIND[c]} {name} has no {_VALUE_WORD[c]}", hint=_USAGE[c], ctx=ctx
            )
        elif c == "d":
            model = toks[3]
            if _SPECIAL(model):
                raise self.error(loc, raw, f"bad model name {model!r}", hint=_USAGE[c], ctx=ctx)
            if len(toks) > 4:
                self.notes.add(
                    "ignored diode parameters (resbench diodes are ideal)",
                    f"{' '.join(toks[4:])} on {full} at {self.place(loc)}",
                )
            self.diode_models.append(model)
            v = 0.0
        else:
            v = self.value(loc, raw, toks[3], env, _VALUE_WORD[c], ctx)
            if c == "r":
                if len(toks) > 4:
                    raise self.error(
                        loc,
                        raw,
                        f"unsupported resistor parameter {toks[4]!r}",
                        hint="write the resistance as the 4th field: Rname n1 n2 value",
                        ctx=ctx,
                    )
                if v < 0:
                    raise self.error(
                        loc,
                        raw,
                        f"negative resistance {v:g} ohm in {name}",
                        hint="resistance must be >= 0 (0 is a short)",
                        ctx=ctx,
                    )
            elif len(toks) > 4:
                self.notes.add(
                    f"ignored {_KIND[c]} parameters (no effect at DC)",
                    f"{' '.join(toks[4:])} on {full} at {self.place(loc)}",
                )
        g = self.groups[c]
        g.a.append(self.node(loc, raw, toks[1], ctx))
        g.b.append(self.node(loc, raw, toks[2], ctx))
        g.names.append(full)
        g.value.append(v)
        g.locs.append(loc)

    def source(
        self, loc: int, raw: str, toks: list[str], full: str, env: _Env, ctx: _Ctx | None
    ) -> float:
        rest = toks[3:]
        n = len(rest)
        dc: float | None = None
        tran: str | None = None
        i = 0
        while i < n:
            t = rest[i]
            if t == "dc":
                if i + 1 >= n:
                    raise self.error(
                        loc, raw, f"{full}: DC needs a value", hint=_USAGE["v"], ctx=ctx
                    )
                dc = self.value(loc, raw, rest[i + 1], env, "DC value", ctx)
                i += 2
            elif t == "ac":
                i += 1
                for _ in range(2):  # magnitude, phase
                    if i < n and (rest[i][0] in "{'" or _value_or_none(rest[i]) is not None):
                        i += 1
                self.notes.add(
                    "ignored AC specification (DC operating point)",
                    f"{full} at {self.place(loc)}",
                )
            elif t.split("(", 1)[0] in _TRAN_FUNCS:
                tran = t.split("(", 1)[0]
                depth, opened = 0, False
                while i < n:
                    depth += rest[i].count("(") - rest[i].count(")")
                    opened = opened or "(" in rest[i]
                    i += 1
                    if opened and depth <= 0:
                        break
                if not opened or depth != 0:
                    raise self.error(
                        loc, raw, f"{full}: unbalanced parentheses in {tran}(…)", ctx=ctx
                    )
            elif i == 0:
                dc = self.value(loc, raw, t, env, "source value", ctx)
                i += 1
            else:
                raise self.error(
                    loc, raw, f"{full}: unexpected {t!r} in source", hint=_USAGE["v"], ctx=ctx
                )
        if dc is None:
            if tran is not None:
                self.notes.add(
                    "transient-only source: DC value 0 used (ngspice's .op would use the "
                    "value at t=0; add DC value to be explicit)",
                    f"{full} {tran}(…) at {self.place(loc)}",
                )
            else:
                self.notes.add("source without a value: 0 used", f"{full} at {self.place(loc)}")
            dc = 0.0
        elif tran is not None:
            self.notes.add(
                "ignored transient specification (DC value used)",
                f"{full} {tran}(…) at {self.place(loc)}",
            )
        return dc

    def find_subckt(self, name: str, scope: _Subckt) -> _Subckt | None:
        s: _Subckt | None = scope
        while s is not None:
            sub = s.children.get(name)
            if sub is not None:
                return sub
            s = s.parent
        return None

    def instance(self, loc: int, raw: str, toks: list[str], ctx: _Ctx | None) -> None:
        name = toks[0]
        positional: list[str] = []
        params: list[str] = []
        for t in toks[1:]:
            if t == "params:":
                continue
            if "=" in t:
                params.append(t)
            elif params:
                raise self.error(loc, raw, f"{name}: {t!r} after the instance parameters", ctx=ctx)
            else:
                positional.append(t)
        usage = "Xname node1 node2 … SUBCKT [param=value …]"
        if not positional:
            raise self.error(loc, raw, f"{name}: no subcircuit name", hint=usage, ctx=ctx)
        subname, conn = positional[-1], positional[:-1]
        scope = self.root if ctx is None else ctx.scope
        sub = self.find_subckt(subname, scope)
        if sub is None:
            known = sorted(self.root.children)
            hint = (
                f"defined subcircuits: {', '.join(known[:10])}"
                if known
                else "define it with .subckt … .ends or .include the file that does"
            )
            raise self.error(
                loc, raw, f"{name}: unknown subcircuit {subname!r}", hint=hint, ctx=ctx
            )
        if len(conn) != len(sub.ports):
            raise self.error(
                loc,
                raw,
                f"{name}: subcircuit {subname} has {len(sub.ports)} ports "
                f"({' '.join(sub.ports)}) but the instance connects {len(conn)} nodes",
                hint=usage,
                ctx=ctx,
            )
        stack = () if ctx is None else ctx.stack
        if sub in stack:
            path = " -> ".join([s.name for s in stack] + [sub.name])  # type: ignore[misc]
            raise self.error(loc, raw, f"recursive subcircuit: {path}", ctx=ctx)
        env = self.env if ctx is None else ctx.env
        declared = {k for k, _ in sub.defaults}
        overrides: dict[str, float] = {}
        for k, text in self.assignments(loc, raw, params, f"instance {name}", ctx):
            if k not in declared:
                raise self.error(
                    loc,
                    raw,
                    f"{name}: subcircuit {subname} has no parameter {k!r}",
                    hint=f"its parameters: {', '.join(sorted(declared)) or 'none'}",
                    ctx=ctx,
                )
            overrides[k] = self.value(loc, raw, "{" + text + "}", env, f"parameter {k}", ctx)
        defs: dict[str, tuple[str, int, str]] = {}
        for k, text in sub.defaults:
            if k not in overrides:
                defs[k] = (text, sub.loc, f".subckt {sub.name} … {k}={text}")
        for k, text, ploc, praw in sub.param_defs:
            defs[k] = (text, ploc, praw)
        parent_env = self.env if sub.parent is self.root else env
        sub_env = _Env(self, parent_env, defs, overrides)
        sub_env.evaluate_all()
        prefix = name if ctx is None else f"{ctx.prefix}.{name}"
        portmap = {p: self.resolve(loc, raw, n, ctx) for p, n in zip(sub.ports, conn, strict=True)}
        inner = _Ctx(prefix, portmap, sub, sub_env, (*stack, sub))
        self.expand(sub, inner)

    def body(self, sub: _Subckt) -> list[tuple[int, str, list[str] | None, float | str | None]]:
        """The body of a subcircuit, tokenised once: (loc, raw, resistor tokens, value).

        For a plain resistor line (4 tokens, plain node names) the tokens and the
        value (a float, or the text of a ``{…}`` expression) are kept so every
        instance expands it without re-parsing; other lines have ``None`` there
        and take the general path."""
        cached = self.bodies.get(id(sub))
        if cached is not None:
            return cached
        out: list[tuple[int, str, list[str] | None, float | str | None]] = []
        for loc, raw in zip(sub.locs, sub.raws, strict=True):
            low = raw.lower()
            toks: list[str] | None = None
            val: float | str | None = None
            if low[0] == "r" and "=" not in low:
                t = _TOKEN.findall(low)
                if len(t) == 4 and not _SPECIAL(t[0] + t[1] + t[2]):
                    x = t[3]
                    if x[0] == "{" or x[0] == "'":
                        if len(x) >= 2 and x[-1] == x[0].replace("{", "}"):
                            toks, val = t, x[1:-1]
                    else:
                        v = _value_or_none(x)
                        if v is not None and v >= 0:
                            toks, val = t, v
            out.append((loc, raw, toks, val))
        self.bodies[id(sub)] = out
        return out

    def expand(self, sub: _Subckt, ctx: _Ctx) -> None:
        """Flatten one instance of ``sub`` (fast path for plain resistor lines)."""
        portmap, glob, nidx, env = ctx.portmap, self.globals, self.nidx, ctx.env
        prefix = ctx.prefix + "."
        rprefix = "r." + prefix
        g = self.groups["r"]
        rn, ra, rb, rv, rl = g.names.append, g.a.append, g.b.append, g.value.append, g.locs.append
        for loc, raw, toks, val in self.body(sub):
            if toks is not None:
                if type(val) is str:
                    try:
                        v = evaluate(val, env.get)
                    except ExprError:
                        v = -1.0  # the general path reports it
                else:
                    v = val  # type: ignore[assignment]
                if v >= 0:
                    n1, n2 = toks[1], toks[2]
                    m = portmap.get(n1)
                    if m is None:
                        m = n1 if n1 in glob else prefix + n1
                    ra(nidx[m])
                    m = portmap.get(n2)
                    if m is None:
                        m = n2 if n2 in glob else prefix + n2
                    rb(nidx[m])
                    rn(rprefix + toks[0])
                    rv(v)
                    rl(loc)
                    continue
            self.element(loc, raw, raw.lower(), ctx)

    # ------------------------------------------------------------- result
    def circuit(self, source: str | None) -> Circuit:
        g = self.groups
        c = Circuit(
            title=self.title,
            nodes=[name for name in self.nidx if name != "gnd"],
            resistors=g["r"].branches(),
            diodes=g["d"].branches(),
            vsources=g["v"].branches(),
            isources=g["i"].branches(),
            capacitors=g["c"].branches(),
            inductors=g["l"].branches(),
            diode_models=self.diode_models,
            models=self.models,
            warnings=self.notes.lines(),
            source=source,
        )
        try:
            c.validate()
        except CircuitError as exc:
            if "duplicate" in str(exc):
                self.check_duplicates()
            loc = self.locate(exc.elements[0]) if exc.elements else None
            if loc is None:
                raise NetlistError(str(exc), file=self.files[0] if self.files else None) from None
            raise self.error(loc, None, str(exc)) from None
        return c

    def locate(self, name: str) -> int | None:
        for g in self.groups.values():
            if name in g.names:
                return g.locs[g.names.index(name)]
        return None

    def check_duplicates(self) -> None:
        total = sum(len(g.names) for g in self.groups.values())
        seen: set[str] = set()
        for g in self.groups.values():
            seen.update(g.names)
        if len(seen) == total:
            return
        first: dict[str, int] = {}
        for g in self.groups.values():
            for name, loc in zip(g.names, g.locs, strict=True):
                old = first.get(name)
                if old is not None:
                    raise self.error(
                        loc,
                        None,
                        f"duplicate element name {name} (first at {self.place(old)})",
                        hint="element names must be unique",
                    )
                first[name] = loc


_KIND = {
    "r": "resistor",
    "d": "diode",
    "v": "voltage source",
    "i": "current source",
    "c": "capacitor",
    "l": "inductor",
}
_VALUE_WORD = {
    "r": "resistance",
    "d": "model",
    "v": "voltage",
    "i": "current",
    "c": "capacitance",
    "l": "inductance",
}
_USAGE = {
    "r": "Rname n1 n2 value (ohms, e.g. 1k)",
    "d": "Dname anode cathode MODEL",
    "v": "Vname n+ n- [DC] value [AC mag [phase]] [SIN(…)|PULSE(…)|PWL(…)…]",
    "i": "Iname n+ n- [DC] value [AC mag [phase]] [SIN(…)|PULSE(…)|PWL(…)…]",
    "c": "Cname n1 n2 value (farads)",
    "l": "Lname n1 n2 value (henries)",
}


def parse_netlist(text: str, *, file: str | None = None, base_dir: str | None = None) -> Circuit:
    """Netlist text -> flattened :class:`Circuit`.

    ``file`` names the text in error messages; ``.include`` paths are relative
    to ``base_dir`` (default: the directory of ``file``, else the current
    directory).  The first line is the title.  Raises :class:`NetlistError`
    (and nothing else) for any text that is not a valid netlist.
    """
    if base_dir is None:
        base_dir = os.path.dirname(os.path.abspath(file)) if file else os.getcwd()
    p = _Parser(file, base_dir)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small lists and strings: the cyclic GC only slows parsing
    try:
        if not isinstance(text, str):
            raise NetlistError(f"netlist text must be str, not {type(text).__name__}", file=file)
        if file is not None:
            p.including.append(os.path.realpath(file))
            p.include_names.append(file)
        p.read(text, file, base_dir, main=True)
        if len(p.stack) > 1:
            sub = p.stack[-1]
            raise p.error(
                sub.loc, None, f".subckt {sub.name} has no .ends", hint=f"add .ends {sub.name}"
            )
        p.env.defs = {name: (val, loc, raw) for name, val, loc, raw in p.root.param_defs}
        p.env.evaluate_all()
        p.parse_models()
        p.build_root()
        p.check_diode_models()
        return p.circuit(file)
    except NetlistError:
        raise
    except RecursionError:
        raise NetlistError(
            "netlist nested too deeply (subcircuits or expressions)", file=file
        ) from None
    except Exception as exc:  # never let another exception type escape for bad input
        raise NetlistError(
            f"internal error while reading the netlist: {type(exc).__name__}: {exc}", file=file
        ) from exc
    finally:
        if gc_was_enabled:
            gc.enable()


def read_netlist(path: str | os.PathLike) -> Circuit:
    """Read a netlist file (UTF-8; undecodable bytes replaced); sets ``circuit.source``."""
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:
        raise NetlistError(f"cannot read netlist: {exc.strerror or exc}", file=str(p)) from None
    c = parse_netlist(text, file=str(p))
    c.source = str(p)
    return c
