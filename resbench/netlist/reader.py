"""Pass 1 of the parser: files, lines and dot cards.

Reading a file (regular files only, strict UTF-8: ``_read_text``), splitting it
into physical lines (``_lines_of``), dropping comments and joining ``+``
continuation lines into logical lines, then dispatching each logical line
(``_Reader.read``): element lines go to the element cards (``cards.py``) or are
stored for later, dot cards are handled here (``_Reader.card``), ``.include``
reads another file the same way, ``.subckt`` opens a definition (``subckt.py``).

A location ``loc`` is ``(file index << _LINE_BITS) | line number``: one int per
line, so a million stored lines cost a million ints, not a million tuples.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from itertools import chain, islice
from typing import TYPE_CHECKING

from resbench.errors import NetlistError, quote
from resbench.netlist.lex import (
    _ALPHA,
    _DIGIT_END,
    _LETTERS,
    _PNAME,
    _SPECIAL,
    _TOKEN,
    VALUE_MAX,
    VALUE_MIN,
    _scale,
    _value_or_none,
)

if TYPE_CHECKING:
    from resbench.netlist.subckt import _Ctx

#: .include nested deeper than this is an error
MAX_INCLUDE_DEPTH = 50

_DOLLAR = re.compile(r"[ \t]\$")
_IGNORED_CARDS = frozenset(
    (".op", ".options", ".option", ".opt", ".temp", ".save", ".print", ".probe", ".plot")
)
_ANALYSIS_CARDS = frozenset((".tran", ".ac"))
_CARDS_HINT = (
    "resbench reads .param .subckt/.ends .include/.inc .model .global .title .op .options "
    ".temp .save .print .probe .dc (a sweep) .tran/.ac (ignored) .control/.endc (skipped) "
    "and .end"
)
_END, _CONTROL = 1, 2
_LINE_BITS = 32  # a location is (file index << 32) | line number
_LINE_MASK = (1 << _LINE_BITS) - 1


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


def _line_col(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of ``text[pos]``, lines split as the parser splits them."""
    before = _lines_of(text[:pos])
    return len(before), len(before[-1]) + 1


def _lines_of(text: str) -> list[str]:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


class _Reader:
    """Pass 1 (reading files, lines and dot cards) of :class:`resbench.netlist.parser._Parser`.

    A mixin: the state it reads and writes (``files``, ``file_lines``, ``stack``,
    ``notes``, ``groups``, ``nidx``, ``including`` …) is set up by
    ``_Parser.__init__``; ``element`` comes from ``cards._Cards`` and ``subckt``
    from ``subckt._Subckts``."""

    def physical_lines(self, text: str, file: str | None) -> list[str]:
        """Register ``file`` and split its text into physical lines (kept for error
        messages); a leading byte-order mark is dropped, a NUL byte is an error."""
        self.files.append(file)
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
        return lines

    def logical_lines(self, lines: list[str], start: int, base: int) -> Iterator[tuple[str, int]]:
        """(text, location) of each logical line from ``lines[start:]``: comment lines
        (``*``) and comments after ``;`` or `` $`` dropped, white space stripped,
        ``+`` lines joined to the line above; the location is that of its first
        physical line (``base | line number``)."""
        pend: str | None = None
        pno = 0
        no = start
        # a sentinel line at the end flushes the last logical line; it is never yielded
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
            if pend is not None:
                yield pend, base | pno
            pend, pno = s, no

    def read(self, text: str, file: str | None, base_dir: str, main: bool) -> None:
        """Pass 1 over one file: its logical lines (``logical_lines``) dispatched to
        element handling or to ``card``.

        Top-level element lines that depend on nothing defined later (no ``{…}``,
        no ``X`` instance) are built at once, with an inlined fast path for plain
        resistor lines.  Once one top-level line had to be deferred (to pass 2,
        when every ``.param`` and ``.subckt`` is known), all later top-level lines
        are deferred too, so nodes keep their order of first appearance.
        """
        base = len(self.files) << _LINE_BITS
        lines = self.physical_lines(text, file)
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
        for raw, loc in self.logical_lines(lines, start, base):
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
        if card == ".dc":
            if len(self.stack) > 1:
                raise self.error(
                    loc,
                    s,
                    f".dc inside .subckt {self.stack[-1].name}",
                    hint="write the .dc card at the top level (a subcircuit's sources are "
                    "named v.<instance>.<name> there)",
                )
            if self.dc_card is not None:
                raise self.error(
                    loc,
                    s,
                    f"a second .dc card (the first is at {self.place(self.dc_card[0])})",
                    hint="resbench runs one sweep per netlist; sweep two sources in one card: "
                    ".dc V1 0 1 0.1 V2 0 5 1",
                )
            self.dc_card = (loc, s)
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
