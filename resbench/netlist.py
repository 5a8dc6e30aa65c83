"""Netlist dialect: parser (text -> Circuit) and writer (Circuit -> text).

The dialect is the subset of SPICE that ngspice reads for a DC operating point
(docs/design.md §3), so the same file runs in both programs.  The parser
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
* A source with only a transient function (SIN, PULSE, …) or only an AC part gets
  DC value 0 (ngspice's ``.op`` would use the value at t=0); a source with no
  value at all is an error (ngspice takes 0 with a warning).  DC, AC and a
  transient function may each appear once.  Notes about ignored parts are
  grouped by kind in ``circuit.warnings``.
* Resistor parameters (``tc1=``, ``m=``, ``r=``) are rejected; the instance
  parameters SPICE defines for diodes (``[area] [off] ic= temp= …``),
  capacitors and inductors (``ic= m= temp= …``) are ignored with a note, and any
  other extra token is an error.  ``.model`` parameter lists are ``name=value``
  (numbers or ``{…}``), in at most one pair of parentheses.
* Files are read as strict UTF-8 (a leading BOM is dropped in every file) and
  must be regular files (not FIFOs, devices, or files of /proc or /sys).
  Numbers must be finite doubles; nonzero literals and products that underflow
  are errors; element values are 0 or of magnitude ``VALUE_MIN`` … ``VALUE_MAX``.
* Subcircuit instances are counted before they are expanded
  (``MAX_EXPANDED_ELEMENTS``) and nested at most ``MAX_SUBCKT_DEPTH`` deep;
  ``.include`` at most ``MAX_INCLUDE_DEPTH`` deep.  A redefined ``.param`` keeps
  its last definition, with a note.  Error messages show a bounded, escaped
  snippet of the offending line.

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
import stat
from array import array
from collections import defaultdict
from collections.abc import Sequence
from itertools import chain, count, islice

import numpy as np

from resbench._expr import (
    SUFFIX_SCALE,
    TINY,
    ExprError,
    evaluate,
    literal_problem,
    names_in,
    parse_expr,
)
from resbench.circuit import GROUND, Branches, Circuit, IndexedNames, Model
from resbench.errors import CircuitError, NetlistError, clip_words, quote, snippet

__all__ = [
    "MAX_EXPANDED_ELEMENTS",
    "MAX_INCLUDE_DEPTH",
    "MAX_SUBCKT_DEPTH",
    "VALUE_MAX",
    "VALUE_MIN",
    "parse_netlist",
    "parse_value",
    "read_netlist",
    "write_netlist",
]

#: element values (R, V, I, C, L) are 0 or of magnitude VALUE_MIN … VALUE_MAX
VALUE_MIN = 1e-300
VALUE_MAX = 1e300
#: subcircuit instances may expand to at most this many elements in all
MAX_EXPANDED_ELEMENTS = 50_000_000
#: subcircuit instances nested deeper than this are an error
MAX_SUBCKT_DEPTH = 100
#: .include nested deeper than this is an error
MAX_INCLUDE_DEPTH = 50
_RANGE_HINT = (
    f"resbench reads element values of magnitude {VALUE_MIN:g} to {VALUE_MAX:g}, or exactly 0"
)

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
    if not math.isfinite(v) or (abs(v) < TINY and literal_problem(mant, v) is not None):
        return None  # overflows, or a nonzero number that underflows
    return v


def _number_problem(token: str) -> str | None:
    """Why a token that looks like a SPICE number is not one (too large, or a
    nonzero number too small for a double), or None."""
    mant = token.rstrip(_ALPHA)
    if not mant or mant[-1] not in _DIGIT_END or "_" in mant or not token.isascii():
        return None
    try:
        v = float(mant)
    except ValueError:
        return None
    if len(mant) != len(token):
        v *= _scale(token[len(mant) :])
    return literal_problem(mant, v)


def _range_problem(v: float) -> str | None:
    """Why an element value is out of the range resbench reads, or None."""
    if v == 0.0 or VALUE_MIN <= abs(v) <= VALUE_MAX:
        return None
    return f"{v:g} is out of range"


def parse_value(token: str) -> float:
    """Parse a SPICE number: ``1k``, ``1meg``, ``1m``, ``10kohm``, ``2.2uA``, ``1e-3``, ``1mil``.

    Suffixes (case-insensitive): T G MEG K M MIL U N P F; ``M`` is milli and
    ``MEG`` is mega.  Letters after the number and suffix are units and are
    ignored.  Raises :class:`NetlistError` for anything else.
    """
    if not isinstance(token, str):
        raise NetlistError(f"expected a number, got {quote(repr(token))}")
    tok = token.strip().lower()
    v = _value_or_none(tok)
    if v is None or not math.isfinite(v):
        problem = _number_problem(tok)
        raise NetlistError(
            f"bad number {quote(token)}" + (f": it {problem}" if problem else ""),
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
    ``.model swideal sw(vt=0 vh=0 ron=1e-5 roff=1e12)`` (docs/design.md §5).
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
        for k, v in model.params.items():
            v = float(v)
            if not math.isfinite(v) or 0.0 < abs(v) < TINY:
                raise CircuitError(
                    f"cannot write model {name}: parameter {k} = {v} is not readable"
                )
        card = f".model {name} {model.kind}"
        if model.params:
            card += " (" + " ".join(f"{k}={_fmt_param(v)}" for k, v in model.params.items()) + ")"
        out.append(card)
    if diode_style == "switch" and len(circuit.diodes) and _SWITCH_MODEL not in models:
        out.append(_SWITCH_CARD)

    def columns(br: Branches, letter: str, kind: str):
        mag = np.abs(br.value)
        ok = (mag == 0.0) | ((mag >= VALUE_MIN) & (mag <= VALUE_MAX))  # False for NaN
        if not ok.all():
            i = int(np.argmin(ok))
            raise CircuitError(
                f"cannot write {kind} {br.names[i]} with value {br.value[i]} ({_RANGE_HINT})",
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


_COUNT_CAP = 10**15  # element counts are capped here (nested instances multiply)


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
        "param_locs",
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
        self.param_locs: dict[str, int] = {}  # .param name -> location of its first definition


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
        env: _Env | None = self
        while env is not None:
            v = env.values.get(name)
            if v is not None:
                return v
            if name in env.defs:
                return env.force(name)
            env = env.parent
        return None

    def owner(self, name: str) -> _Env | None:
        """The scope (this one or a parent) that defines ``name``."""
        env: _Env | None = self
        while env is not None:
            if name in env.values or name in env.defs:
                return env
            env = env.parent
        return None

    def force(self, name: str) -> float:
        """Evaluate this scope's definition of ``name``, after the definitions it
        depends on, depth first with an explicit stack (a chain of a thousand
        parameters needs no recursion); a definition met again on the way is a cycle."""
        error = self.parser.error
        stack: list[tuple[_Env, str]] = [(self, name)]
        while stack:
            env, n = stack[-1]
            if n in env.values:
                stack.pop()
                continue
            text, loc, raw = env.defs[n]
            try:
                prog = parse_expr(text)
            except ExprError as exc:
                raise error(
                    loc, raw, f"cannot evaluate parameter {n} = {snippet(text, 60)}: {exc}"
                ) from None
            env.busy.add(n)
            pending = None
            for dep in names_in(prog):
                owner = env.owner(dep)
                if owner is None or dep in owner.values:
                    continue
                if dep in owner.busy:
                    dloc, draw = owner.defs[dep][1:]
                    raise error(dloc, draw, f"parameter {quote(dep)} is defined in terms of itself")
                pending = (owner, dep)
                break
            if pending is not None:
                stack.append(pending)
                continue
            try:
                v = evaluate(text, env.get)
            except ExprError as exc:
                raise error(
                    loc, raw, f"cannot evaluate parameter {n} = {snippet(text, 60)}: {exc}"
                ) from None
            env.busy.discard(n)
            env.values[n] = v
            stack.pop()
        return self.values[name]

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


_PSEUDO_FILE_SYSTEMS = ("/proc", "/sys")
_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class _Refused(OSError):
    """A path that exists but is not a file resbench reads."""


def _check_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((k for test, k in _FILE_KINDS if test(mode)), "a special file")
        raise _Refused(f"not a regular file ({kind})")


def _read_text(path: str) -> str:
    """The text of a netlist file: a regular file (never a FIFO, a device or a file
    of /proc or /sys, which may hold secrets and never end), decoded as strict
    UTF-8 with a leading byte-order mark allowed.  Raises OSError when the file
    cannot be read or is refused, NetlistError (file, line, byte) when it is not UTF-8."""
    if "\x00" in path:
        raise _Refused("not a valid file name (it holds a NUL character)")
    _check_regular(os.stat(path).st_mode)  # before opening: opening a FIFO blocks
    real = os.path.realpath(path)
    for top in _PSEUDO_FILE_SYSTEMS:
        if real == top or real.startswith(top + "/"):
            raise _Refused(f"a file of the {top} pseudo file system, not a netlist")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        _check_regular(os.fstat(fd).st_mode)  # the same file that was checked
        data = fh.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        pos = exc.start
        text = data[:pos].decode("utf-8")
        line, col = _line_col(text, len(text))
        head = max(data.rfind(b"\n", 0, pos), data.rfind(b"\r", 0, pos)) + 1
        tail = len(data)
        for sep in (b"\n", b"\r"):
            k = data.find(sep, pos, pos + 4096)
            if k >= 0:
                tail = min(tail, k)
        shown = data[head : min(tail, pos + 4096)].decode("utf-8", errors="backslashreplace")
        raise NetlistError(
            f"byte 0x{data[pos]:02x} at line {line}, column {col} is not UTF-8",
            file=path,
            line=line,
            text=shown,
            hint="save the file as UTF-8 (resbench reads netlists as UTF-8 only)",
        ) from None


_MODEL_HEAD = re.compile(r"([^\s(){}'\"=,]+)\s+([a-z_][a-z0-9_]*)(?![^\s(])")


def _commas_to_spaces(text: str) -> str:
    """Commas outside ``{…}`` and ``'…'`` become spaces (model parameter separators)."""
    if "," not in text:
        return text
    out = []
    depth, quoted = 0, False
    for ch in text:
        if ch == "'" and not depth:
            quoted = not quoted
        elif ch == "{" and not quoted:
            depth += 1
        elif ch == "}" and not quoted and depth:
            depth -= 1
        elif ch == "," and not depth and not quoted:
            ch = " "
        out.append(ch)
    return "".join(out)


def _line_col(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of ``text[pos]``, lines split as the parser splits them."""
    before = _lines_of(text[:pos])
    return len(before), len(before[-1]) + 1


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
        self.include_depth = 0  # .include levels open now
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
        self.counts: dict[int, int] = {}  # id(_Subckt) -> elements one instance expands to
        self.expanded = 0  # elements the top-level instances expand to, so far
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
        message = clip_words(message)  # user text inside: no word of it longer than a snippet
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
        if text[:1] == "\ufeff":
            text = text[1:]  # a byte-order mark at the start of any file
        nul = text.find("\x00")
        if nul >= 0:
            self.file_lines.append([])
            line, col = _line_col(text, nul)
            raise NetlistError(
                f"NUL byte at line {line}, column {col}: this is a binary file, not a netlist",
                file=file,
                line=line,
                hint="a netlist is a text file (UTF-8)",
            )
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
        lo, hi = VALUE_MIN, VALUE_MAX
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
                        if lo <= v <= hi or (v == 0.0 and _value_or_none(x) == 0.0):
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
                    f"unrecognised line starting with {quote(c)}",
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
                    f"unbalanced {quote(t)}",
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
                raise self.error(
                    loc, raw, f"expected name=value in {what}, found {quote(t)}", ctx=ctx
                )
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
            scope = self.stack[-1]
            for name, val in self.assignments(loc, s, toks, ".param"):
                first = scope.param_locs.get(name)
                if first is None:
                    scope.param_locs[name] = loc
                else:
                    self.notes.add(
                        ".param redefined (the last definition is used)",
                        f"{name} at {self.place(loc)}, first defined at {self.place(first)}",
                    )
                scope.param_defs.append((name, val, loc, s))
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
                    raise self.error(loc, s, f"bad node name {quote(t)} in .global")
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
                raise self.error(loc, s, f"port {quote(t)} after the parameters of .subckt {name}")
            elif t in self.globals or _SPECIAL(t):
                raise self.error(loc, s, f"bad port name {quote(t)} in .subckt {name}")
            elif t in ports:
                raise self.error(loc, s, f"port {quote(t)} appears twice in .subckt {name}")
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
        if self.include_depth >= MAX_INCLUDE_DEPTH:
            raise self.error(
                loc,
                s,
                f".include nested more than {MAX_INCLUDE_DEPTH} files deep",
                hint="include the files from fewer levels",
            )
        try:
            text = _read_text(path)
        except OSError as exc:
            raise self.error(
                loc,
                s,
                f"cannot include {name}: {exc.strerror or exc}",
                hint=f"looked for {path} (relative to the including file)",
            ) from None
        self.including.append(real)
        self.include_names.append(path)
        self.include_depth += 1
        try:
            self.read(text, path, os.path.dirname(path), main=False)
        finally:
            self.including.pop()
            self.include_names.pop()
            self.include_depth -= 1

    # ------------------------------------------------------------- pass 2
    def parse_models(self) -> None:
        """``.model NAME TYPE [(] name=value … [)]``: parameters are numbers or
        ``{expressions}``, separated by spaces or commas, optionally in one pair of
        parentheses; anything else (a stray token or parenthesis) is an error."""
        for loc, raw in self.model_cards:
            low = raw.lower()
            parts = low.split(None, 1)
            m = _MODEL_HEAD.match(parts[1] if len(parts) > 1 else "")
            if m is None:
                raise self.error(loc, raw, ".model needs a name and a type", hint=".model D1 D")
            name, kind = m.group(1), m.group(2)
            rest = m.string[m.end() :].strip()
            hint = f".model {name} {kind} (name=value …), e.g. .model dm D (is=1e-14 n=1)"
            if rest[:1] == "(":
                if rest[-1:] != ")":
                    raise self.error(loc, raw, f".model {name}: unbalanced parentheses", hint=hint)
                rest = rest[1:-1]
            params: dict[str, float] = {}
            for t in self.tokens(loc, raw, _commas_to_spaces(rest)):
                k, eq, v = t.partition("=")
                if not eq or not _PNAME.match(k):
                    raise self.error(
                        loc, raw, f".model {name}: expected name=value, found {quote(t)}", hint=hint
                    )
                if not v:
                    raise self.error(loc, raw, f".model {name}: {k} has no value", hint=hint)
                if v[0] in "{'":
                    params[k] = self.value(loc, raw, v, self.env, f"model parameter {k}")
                    continue
                x = _value_or_none(v)
                if x is None:
                    problem = (
                        "unbalanced parentheses"
                        if "(" in v or ")" in v
                        else f"bad value {quote(v)} for {k}"
                        + (f": it {p}" if (p := _number_problem(v)) else "")
                    )
                    raise self.error(loc, raw, f".model {name}: {problem}", hint=hint)
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
                    loc, raw, f"cannot evaluate {what} {snippet(tok, 60)}: {exc}", ctx=ctx
                ) from None
        v = _value_or_none(tok)
        if v is None:
            hint = _NUMBER_HINT
            if _PNAME.match(tok) and (
                env.get(tok) is not None or any(d[0] == tok for d in self.root.param_defs)
            ):
                hint = f"to use parameter {tok}, write {{{tok}}}"
            problem = _number_problem(tok)
            if problem is not None:
                raise self.error(
                    loc, raw, f"bad {what}: the number {quote(tok)} {problem}", ctx=ctx
                )
            raise self.error(loc, raw, f"bad {what} {quote(tok)}", hint=hint, ctx=ctx)
        return v

    def resolve(self, loc: int, raw: str, tok: str, ctx: _Ctx | None) -> str:
        """A node token -> its flattened name (ports map to the instance's nodes)."""
        if _SPECIAL(tok):
            raise self.error(loc, raw, f"bad node name {quote(tok)}", ctx=ctx)
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
                f"diode {name}: model {quote(model)} is not defined",
                hint=f'add ".model {model} D"',
            )
        raise self.error(
            loc,
            None,
            f"diode {name}: model {quote(model)} is of type {self.models[model].kind}, not d",
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
        lo, hi = VALUE_MIN, VALUE_MAX
        element = self.element
        for loc, raw in zip(root.locs, root.raws, strict=True):
            low = raw.lower()
            if low[0] == "r" and special(low) is None:
                t = low.split()
                if len(t) == 4:
                    v = val(t[3])
                    if v is not None and (lo <= v <= hi or v == 0.0):
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
                else f"unknown element {name} (no element type starts with {quote(c)})"
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
                raise self.error(
                    loc, raw, f"bad model name {quote(model)}", hint=_USAGE[c], ctx=ctx
                )
            if len(toks) > 4:
                self.check_extras(loc, raw, toks, c, ctx)
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
                        f"unsupported resistor parameter {quote(toks[4])}",
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
                self.check_extras(loc, raw, toks, c, ctx)
                self.notes.add(
                    f"ignored {_KIND[c]} parameters (no effect at DC)",
                    f"{' '.join(toks[4:])} on {full} at {self.place(loc)}",
                )
            problem = _range_problem(v)
            if problem is not None:
                raise self.error(
                    loc, raw, f"{_VALUE_WORD[c]} of {name}: {problem}", hint=_RANGE_HINT, ctx=ctx
                )
        g = self.groups[c]
        g.a.append(self.node(loc, raw, toks[1], ctx))
        g.b.append(self.node(loc, raw, toks[2], ctx))
        g.names.append(full)
        g.value.append(v)
        g.locs.append(loc)

    def check_extras(self, loc: int, raw: str, toks: list[str], c: str, ctx: _Ctx | None) -> None:
        """Tokens after a diode's model or a capacitor's or inductor's value: only the
        instance parameters SPICE defines for it (ignored at DC); anything else is an error."""
        keys = _EXTRA_KEYS[c]
        for j, t in enumerate(toks[4:]):
            k, eq, v = t.partition("=")
            if eq:
                if k in keys and v and (v[0] in "{'" or _value_or_none(v) is not None):
                    continue
                what = f"parameter {quote(t)}" if k in keys else f"unknown parameter {quote(k)}"
            elif c == "d" and (
                t == "off" or (j == 0 and (t[0] in "{'" or _value_or_none(t) is not None))
            ):
                continue  # [area] [off]
            else:
                what = quote(t)
            raise self.error(
                loc,
                raw,
                f"{_KIND[c]} {toks[0]}: unexpected {what}",
                hint=f"{_USAGE[c]}; parameters: {', '.join(sorted(keys))}",
                ctx=ctx,
            )

    def source(
        self, loc: int, raw: str, toks: list[str], full: str, env: _Env, ctx: _Ctx | None
    ) -> float:
        """``[DC] value``, ``AC [mag [phase]]`` and one transient function, each at
        most once: the DC value (AC and transient parts are ignored with a note)."""
        usage = _USAGE[toks[0][0]]
        rest = toks[3:]
        n = len(rest)
        dc: float | None = None
        tran: str | None = None
        ac = False
        i = 0
        while i < n:
            t = rest[i]
            if t == "dc" or (i == 0 and t[0] not in _LETTERS):
                if dc is not None:
                    raise self.error(
                        loc, raw, f"{full}: the DC value is given twice", hint=usage, ctx=ctx
                    )
                if t == "dc":
                    if i + 1 >= n:
                        raise self.error(loc, raw, f"{full}: DC needs a value", hint=usage, ctx=ctx)
                    i += 1
                dc = self.value(
                    loc, raw, rest[i], env, "DC value" if t == "dc" else "source value", ctx
                )
                i += 1
            elif t == "ac":
                if ac:
                    raise self.error(loc, raw, f"{full}: AC is given twice", hint=usage, ctx=ctx)
                ac = True
                i += 1
                for _ in range(2):  # magnitude, phase
                    if i < n and (rest[i][0] in "{'" or _value_or_none(rest[i]) is not None):
                        i += 1
                self.notes.add(
                    "ignored AC specification (DC operating point)",
                    f"{full} at {self.place(loc)}",
                )
            elif t.split("(", 1)[0] in _TRAN_FUNCS:
                if tran is not None:
                    raise self.error(
                        loc,
                        raw,
                        f"{full}: a second transient function {quote(t.split('(', 1)[0])}",
                        hint=usage,
                        ctx=ctx,
                    )
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
                    loc, raw, f"{full}: unexpected {quote(t)} in source", hint=usage, ctx=ctx
                )
        if dc is None:
            if tran is not None:
                self.notes.add(
                    "transient-only source: DC value 0 used (ngspice's .op would use the "
                    "value at t=0; add DC value to be explicit)",
                    f"{full} {tran}(…) at {self.place(loc)}",
                )
            elif ac:
                self.notes.add("AC-only source: DC value 0 used", f"{full} at {self.place(loc)}")
            else:
                head = " ".join(toks[:3])
                raise self.error(
                    loc,
                    raw,
                    f"{full} has no value",
                    hint=f"give the DC value: write {head} 0 or {head} DC 0 for zero",
                    ctx=ctx,
                )
            dc = 0.0
        elif tran is not None:
            self.notes.add(
                "ignored transient specification (DC value used)",
                f"{full} {tran}(…) at {self.place(loc)}",
            )
        problem = _range_problem(dc)
        if problem is not None:
            raise self.error(loc, raw, f"{full}: the value {problem}", hint=_RANGE_HINT, ctx=ctx)
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
        if _SPECIAL(name):  # it becomes part of node names, so it follows their rules
            raise self.error(
                loc,
                raw,
                f"bad instance name {quote(name)}",
                hint="names of X instances are part of node names: no {}'\"=(),",
                ctx=ctx,
            )
        positional: list[str] = []
        params: list[str] = []
        for t in toks[1:]:
            if t == "params:":
                continue
            if "=" in t:
                params.append(t)
            elif params:
                raise self.error(
                    loc, raw, f"{name}: {quote(t)} after the instance parameters", ctx=ctx
                )
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
                loc, raw, f"{name}: unknown subcircuit {quote(subname)}", hint=hint, ctx=ctx
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
        if len(stack) >= MAX_SUBCKT_DEPTH:
            raise self.error(
                loc,
                raw,
                f"subcircuit instances nested more than {MAX_SUBCKT_DEPTH} deep",
                hint="flatten some levels of the hierarchy",
                ctx=ctx,
            )
        if ctx is None:
            n = self.count_elements(sub)
            self.expanded += n
            if self.expanded > MAX_EXPANDED_ELEMENTS:
                shown = f"{n:,}" if n < _COUNT_CAP else f"more than {_COUNT_CAP:.0e}"
                more = (
                    "" if n == self.expanded else f" ({self.expanded:,} with the instances above)"
                )
                raise self.error(
                    loc,
                    raw,
                    f"{name}: subcircuit {subname} expands to {shown} elements{more}, "
                    f"over the limit of {MAX_EXPANDED_ELEMENTS:,}",
                    hint="each instance copies the whole subcircuit, nested instances "
                    "multiply: check the hierarchy",
                )
        env = self.env if ctx is None else ctx.env
        declared = {k for k, _ in sub.defaults}
        overrides: dict[str, float] = {}
        for k, text in self.assignments(loc, raw, params, f"instance {name}", ctx):
            if k not in declared:
                raise self.error(
                    loc,
                    raw,
                    f"{name}: subcircuit {subname} has no parameter {quote(k)}",
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

    def count_elements(self, top: _Subckt) -> int:
        """How many elements one instance of ``top`` expands to (capped at _COUNT_CAP),
        counted without expanding: per subcircuit once (memoised), depth first with an
        explicit stack.  Instances that cannot be resolved, or that recurse, count 0:
        expanding them reports the error."""
        memo = self.counts
        if id(top) in memo:
            return memo[id(top)]
        info: dict[int, tuple[int, list[_Subckt]]] = {}
        active: set[int] = set()
        todo: list[tuple[_Subckt, bool]] = [(top, False)]
        while todo:
            sub, done = todo.pop()
            key = id(sub)
            if key in memo:
                continue
            if done:
                plain, targets = info[key]
                total = plain + sum(memo.get(id(t), 0) for t in targets)
                memo[key] = min(total, _COUNT_CAP)
                active.discard(key)
                continue
            if key in active:
                continue
            active.add(key)
            plain, targets = 0, []
            for loc, raw in zip(sub.locs, sub.raws, strict=True):
                if raw[0] not in "xX":
                    plain += 1
                    continue
                target = self.instance_target(loc, raw, sub)
                if target is not None:
                    targets.append(target)
            info[key] = (plain, targets)
            todo.append((sub, True))
            todo.extend((t, False) for t in targets if id(t) not in memo and id(t) not in active)
        return memo[id(top)]

    def instance_target(self, loc: int, raw: str, scope: _Subckt) -> _Subckt | None:
        """The subcircuit an ``X`` line names, or None if it cannot be told."""
        try:
            toks = self.tokens(loc, raw, raw.lower())
        except NetlistError:
            return None
        positional = []
        for t in toks[1:]:
            if "=" in t:
                break
            if t != "params:":
                positional.append(t)
        return self.find_subckt(positional[-1], scope) if positional else None

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
                        if v is not None and (v == 0.0 or VALUE_MIN <= v <= VALUE_MAX):
                            toks, val = t, v
            out.append((loc, raw, toks, val))
        self.bodies[id(sub)] = out
        return out

    def expand(self, sub: _Subckt, ctx: _Ctx) -> None:
        """Flatten one instance of ``sub`` (fast path for plain resistor lines)."""
        portmap, glob, nidx, env = ctx.portmap, self.globals, self.nidx, ctx.env
        lo, hi = VALUE_MIN, VALUE_MAX
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
                if v == 0.0 or lo <= v <= hi:
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
        if not any(len(x.names) for x in g.values()):
            self.notes.add(
                "the netlist has no elements: nothing to solve",
                f"{(self.files[0] if self.files else None) or '<netlist>'} "
                "(its first line is always the title, never an element)",
            )
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
_EXTRA_KEYS = {
    "d": frozenset(("area", "pj", "m", "ic", "temp", "dtemp", "lm", "wm", "lp", "wp")),
    "c": frozenset(("ic", "m", "scale", "temp", "dtemp", "tc1", "tc2")),
    "l": frozenset(("ic", "m", "nt", "scale", "temp", "dtemp", "tc1", "tc2")),
}
_USAGE = {
    "r": "Rname n1 n2 value (ohms, e.g. 1k)",
    "d": "Dname anode cathode MODEL [area] [off] [name=value …]",
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
    """Read a netlist file; sets ``circuit.source``.

    The file must be a regular file (not a FIFO, a device, or a file of /proc or
    /sys) and UTF-8 text (a leading byte-order mark is allowed); anything else is
    a :class:`NetlistError` naming the file (and for bad bytes, the line, column
    and byte)."""
    p = os.fspath(path)
    try:
        text = _read_text(p)
    except OSError as exc:
        raise NetlistError(f"cannot read netlist: {exc.strerror or exc}", file=str(p)) from None
    c = parse_netlist(text, file=str(p))
    c.source = str(p)
    return c
