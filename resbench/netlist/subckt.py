"""Subcircuits and parameters: definitions, scopes, counting and expansion.

``_Subckt`` is a ``.subckt`` definition as read in pass 1 (the top level is one
too, named None); ``_Env`` is a parameter scope whose definitions are evaluated
on first use; ``_Ctx`` says where a body is being expanded.  ``_Subckts.instance``
checks an ``X`` line, counts what it expands to before expanding
(``count_elements``, against ``MAX_EXPANDED_ELEMENTS``) and flattens it
(``expand``, with a fast path for plain resistor lines tokenised once per
definition by ``body``).
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from resbench._expr import ExprError, evaluate, names_in, parse_expr
from resbench.errors import NetlistError, quote, snippet
from resbench.netlist.lex import _SPECIAL, _TOKEN, VALUE_MAX, VALUE_MIN, _value_or_none

if TYPE_CHECKING:
    from resbench.netlist.parser import _Parser

#: subcircuit instances may expand to at most this many elements in all
MAX_EXPANDED_ELEMENTS = 50_000_000
#: subcircuit instances nested deeper than this are an error
MAX_SUBCKT_DEPTH = 100
_COUNT_CAP = 10**15  # element counts are capped here (nested instances multiply)


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


class _Subckts:
    """Subcircuit definitions and instances of :class:`resbench.netlist.parser._Parser`.

    A mixin: the state it uses (``stack``, ``root``, ``env``, ``globals``,
    ``nidx``, ``groups``, ``bodies``, ``counts``, ``expanded``) is set up by
    ``_Parser.__init__``; ``tokens`` and ``assignments`` come from
    ``reader._Reader``, ``element``, ``value`` and ``resolve`` from ``cards._Cards``."""

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
