"""Element cards (R, D, V, I, C, L) and ``.model`` cards: tokens to columns.

``_Cards.element`` checks one element line (its kind letter, two nodes, the
value or model, the extra parameters SPICE allows and resbench ignores at DC)
and appends it to its kind's columns; ``_Cards.source`` reads the value part of
V and I sources (DC, AC, one transient function); ``_Cards.build_root`` builds
the top-level lines that pass 1 deferred, with a fast path for plain resistors;
``_Cards.parse_models`` reads the ``.model`` cards once every ``.param`` is known.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from resbench._expr import ExprError, evaluate
from resbench.circuit import DcSweep, Model
from resbench.diodes import diode_model
from resbench.errors import CircuitError, quote, snippet
from resbench.netlist.lex import (
    _LETTERS,
    _PNAME,
    _RANGE_HINT,
    _SPECIAL,
    VALUE_MAX,
    VALUE_MIN,
    _number_problem,
    _range_problem,
    _value_or_none,
)

if TYPE_CHECKING:
    from resbench.netlist.subckt import _Ctx, _Env

_TRAN_FUNCS = frozenset(("sin", "pulse", "pwl", "exp", "sffm", "am", "trnoise", "trrandom"))
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

#: a ``.dc`` card may ask for at most this many points (both loops together)
MAX_DC_POINTS = 1_000_000
_DC_USAGE = ".dc SRC START STOP STEP [SRC2 START2 STOP2 STEP2], e.g. .dc V1 0 5 0.1"

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


class _Cards:
    """Element and ``.model`` cards of :class:`resbench.netlist.parser._Parser`.

    A mixin: the state it uses (``groups``, ``nidx``, ``globals``, ``models``,
    ``diode_models``, ``notes``, ``env``, ``root``) is set up by
    ``_Parser.__init__``; ``tokens`` comes from ``reader._Reader`` and
    ``instance`` from ``subckt._Subckts``."""

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
            model = Model(name, kind, params)
            if kind == "d":
                try:  # bad values (IS <= 0, N = 0, …) are errors at this card's line
                    diode_model(model)
                except CircuitError as exc:
                    raise self.error(
                        loc, raw, str(exc), hint="see docs/diodes.md for the diode models"
                    ) from None
            self.models[name] = model
            self.model_locs[name] = loc

    def parse_dc(self) -> DcSweep | None:
        """The ``.dc`` card (read once every source and ``.param`` is known): one or two
        ``SRC START STOP STEP`` groups naming V or I sources; the step nonzero and
        pointing from START to STOP; at most :data:`MAX_DC_POINTS` points in all."""
        if self.dc_card is None:
            return None
        loc, raw = self.dc_card
        toks = self.tokens(loc, raw, raw.lower())[1:]
        if len(toks) not in (4, 8):
            raise self.error(
                loc, raw, f".dc needs 4 or 8 fields, found {len(toks)}", hint=_DC_USAGE
            )
        sources = []
        total = 1.0
        for k in range(0, len(toks), 4):
            name = toks[k]
            if name == "temp" or name[0] not in "vi" or "=" in name:
                what = "the temperature" if name == "temp" else quote(name)
                raise self.error(
                    loc,
                    raw,
                    f".dc sweeps {what}: resbench sweeps independent V and I sources only",
                    hint=_DC_USAGE,
                )
            group = self.groups[name[0]]
            if name not in group.names:
                known = sorted(set(self.groups["v"].names) | set(self.groups["i"].names))
                shown = ", ".join(known[:10]) + (" …" if len(known) > 10 else "")
                raise self.error(
                    loc,
                    raw,
                    f".dc sweeps {name}, which is not a source of this netlist",
                    hint=f"sources: {shown or 'none'} (a subcircuit's are v.<instance>.<name>)",
                )
            if any(s[0] == name for s in sources):
                raise self.error(loc, raw, f".dc sweeps {name} twice", hint=_DC_USAGE)
            start, stop, step = (
                self.value(loc, raw, toks[k + j], self.env, f".dc {what} of {name}")
                for j, what in ((1, "start"), (2, "stop"), (3, "step"))
            )
            if step == 0.0:
                raise self.error(loc, raw, f".dc step of {name} is 0", hint=_DC_USAGE)
            if (stop - start) * step < 0.0:
                raise self.error(
                    loc,
                    raw,
                    f".dc step {step:g} of {name} points away from {stop:g} "
                    f"(start {start:g}): the sweep would be empty",
                    hint=f"use step {-step:g}, or swap start and stop",
                )
            for v, what in ((start, "start"), (stop, "stop")):
                problem = _range_problem(v)
                if problem is not None:
                    raise self.error(loc, raw, f".dc {what} of {name}: {problem}", hint=_RANGE_HINT)
            total *= abs((stop - start) / step) + 1.0
            if not total <= MAX_DC_POINTS:
                raise self.error(
                    loc,
                    raw,
                    f".dc asks for about {total:.3g} points, more than {MAX_DC_POINTS:,}",
                    hint="use a larger step",
                )
            sources.append((name, start, stop, step))
        return DcSweep(tuple(sources))

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
