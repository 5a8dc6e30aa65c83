"""The parser: :class:`_Parser` joins pass 1 (``reader``), the element cards
(``cards``) and subcircuit expansion (``subckt``) over one shared state, and
builds the :class:`Circuit`; ``parse_netlist`` and ``read_netlist`` drive it.
"""

from __future__ import annotations

import gc
import os
from array import array
from collections import defaultdict
from itertools import count

import numpy as np

from resbench.circuit import GROUND, Branches, Circuit, DcSweep, Model
from resbench.errors import CircuitError, NetlistError, clip_words
from resbench.netlist.cards import _Cards
from resbench.netlist.reader import _LINE_BITS, _LINE_MASK, _read_text, _Reader
from resbench.netlist.subckt import _Ctx, _Env, _Subckt, _Subckts


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


class _Group:
    """One element kind's columns as they are read: names, node indices, values
    and line locations, in ``array`` buffers that become numpy arrays without copying."""

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


class _Parser(_Reader, _Cards, _Subckts):
    """One parse: the state of both passes, errors with file and line, the result."""

    def __init__(self, file: str | None, base_dir: str) -> None:
        self.files: list[str | None] = []
        self.file_lines: list[list[str]] = []  # physical lines, for error messages
        self.base_dir = base_dir
        self.title = ""
        self.notes = _Notes()
        self.root = _Subckt(None, [], [], None, 0)
        self.stack: list[_Subckt] = [self.root]
        self.model_cards: list[tuple[int, str]] = []
        self.dc_card: tuple[int, str] | None = None  # (location, text) of the .dc card
        self.dc: DcSweep | None = None
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
            dc=self.dc,
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
        p.dc = p.parse_dc()
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
