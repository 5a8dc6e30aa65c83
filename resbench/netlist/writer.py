"""Netlist writer: :class:`Circuit` -> text that both resbench and ngspice read.

Values are written exactly (``repr`` of the float, or ``%.17g`` for large
groups), so ``parse_netlist(write_netlist(c))`` equals ``c``.  Whole columns are
checked and joined with string operations, never a Python loop per element
where it can be avoided (a million resistors write in about a second).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from itertools import chain

import numpy as np

from resbench._expr import TINY
from resbench.circuit import Branches, Circuit, IndexedNames, Model
from resbench.errors import CircuitError
from resbench.netlist.lex import _RANGE_HINT, VALUE_MAX, VALUE_MIN

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
    dc: bool = True,
    keep_models: frozenset[str] | set[str] = frozenset(),
) -> str:
    """Circuit -> netlist text that both resbench and ngspice read.

    The first line is the title; then the ``.model`` cards of ``circuit.models``;
    then the elements kind by kind (R, D, V, I, C, L) in array order, values
    written exactly (``repr`` of the float), so ``parse_netlist(write_netlist(c))``
    equals ``c``; then ``analysis`` (unless None), the circuit's ``.dc`` card (when it
    has one and ``dc`` is true) and ``.end``.

    ``diode_style="switch"`` writes every ideal diode ``Dx a c model`` as the
    ngspice self-controlled switch ``Sdx a c a c swideal`` plus one card
    ``.model swideal sw(vt=0 vh=0 ron=1e-5 roff=1e12)`` (docs/design.md §5); diodes
    whose model is in ``keep_models`` (Shockley diodes, docs/diodes.md) stay ``D`` lines.
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
            dm = list(circuit.diode_models)
            kept = [k for k, m in enumerate(dm) if m in keep_models] if keep_models else []
            if kept:
                out.append(_block([[x[k] for k in kept] for x in (names, a, b, dm)], None))
                ks = set(kept)
                sw = [k for k in range(len(dm)) if k not in ks]
                names, a, b = ([x[k] for k in sw] for x in (names, a, b))
            snames = ["s" + n for n in names]
            if snames:
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
    if dc and circuit.dc is not None:
        out.append(_dc_card(circuit))
    out.append(".end")
    return "\n".join(out) + "\n"


def _dc_card(circuit: Circuit) -> str:
    """The ``.dc`` line, each source named as the element lines above write it."""
    assert circuit.dc is not None
    vnames, inames = set(circuit.vsources.names), set(circuit.isources.names)
    written: dict[str, str] = {}
    for name in circuit.dc.names:
        letter = "v" if name in vnames else "i" if name in inames else None
        if letter is None:
            raise CircuitError(f"cannot write .dc: {name!r} is not a V or I source")
        written[name] = name if name.startswith(letter) else letter + name
    return circuit.dc.card(written)


# ---------------------------------------------------------------------------
# parser
