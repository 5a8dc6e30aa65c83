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
the offending text and a hint.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from itertools import chain

import numpy as np

from resbench.circuit import Branches, Circuit, IndexedNames, Model
from resbench.errors import CircuitError, NetlistError

__all__ = ["parse_netlist", "parse_value", "read_netlist", "write_netlist"]

# ---------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------

_SUFFIX = {
    "t": 1e12,
    "g": 1e9,
    "meg": 1e6,
    "k": 1e3,
    "mil": 25.4e-6,
    "m": 1e-3,
    "u": 1e-6,
    "n": 1e-9,
    "p": 1e-12,
    "f": 1e-15,
}
# mantissa, then an optional scale suffix, then any unit letters (ignored)
_NUMBER_RE = re.compile(
    r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(meg|mil|[tgkmunpf])?[a-z]*",
    re.ASCII,
)
_DIGIT_END = frozenset("0123456789.")
_value_cache: dict[str, float] = {}


def _value_or_none(token: str) -> float | None:
    """SPICE number -> float, or None when ``token`` is not a SPICE number.
    ``token`` must already be lower case."""
    if token and token[-1] in _DIGIT_END and token.isascii() and "_" not in token:
        try:
            return float(token)
        except ValueError:
            pass
    v = _value_cache.get(token)
    if v is not None:
        return v
    m = _NUMBER_RE.fullmatch(token)
    if m is None:
        return None
    mant, suffix = m.group(1), m.group(2)
    try:
        v = float(mant)
    except ValueError:  # pragma: no cover - the regex only admits floats
        return None
    if suffix:
        v *= _SUFFIX[suffix]
    if not math.isfinite(v):
        return None
    if len(_value_cache) < 65536:
        _value_cache[token] = v
    return v


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


def _checked_names(names: Sequence[str], letter: str, kind: str) -> list[str] | Sequence[str]:
    """Element names as written: each must start with its kind letter (SPICE
    decides the element type by it); names that do not get the letter prefixed."""
    if isinstance(names, IndexedNames):
        if names.prefix[:1].lower() == letter:
            return names
        names = list(names)
    names = list(names)
    if any(not n.startswith(letter) for n in names):
        names = [n if n.startswith(letter) else letter + n for n in names]
    joined = " ".join(names)
    if len(joined.split()) != len(names):
        raise CircuitError(
            f"cannot write {kind} names that are empty or contain white space",
        )
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
    head = " ".join(str(head).splitlines())
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
# parser (full implementation follows in the next commit)
# ---------------------------------------------------------------------------


def parse_netlist(text: str, *, file: str | None = None, base_dir: str | None = None) -> Circuit:
    """Netlist text -> flattened Circuit (see the module docstring)."""
    raise NotImplementedError("parse_netlist lands in the next commit")


def read_netlist(path: str | os.PathLike) -> Circuit:
    """Read a netlist file; sets ``circuit.source`` to the path."""
    raise NotImplementedError("read_netlist lands in the next commit")
