"""Safe arithmetic for netlist ``{expressions}`` and ``.param`` values.

A small recursive-descent parser builds a tuple tree once per distinct
expression text; evaluation walks the tree.  No ``eval``/``exec``: the only
things an expression can do are the operators and functions listed here.

Grammar (lower-cased input)::

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/') unary)*
    unary   := ('+' | '-') unary | power
    power   := atom (('^' | '**') unary)?          (right associative)
    atom    := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'

Numbers take SPICE suffixes (``2k``, ``1meg``, ``10u``) and ignore unit letters.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

__all__ = ["FUNCTIONS", "ExprError", "evaluate", "names_in", "parse_expr"]


class ExprError(Exception):
    """An expression that cannot be parsed or evaluated (message is user-facing)."""


#: SPICE number suffixes (M is milli, MEG mega); shared with the netlist parser
SUFFIX_SCALE = {
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

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<num>(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(?P<suf>(?:meg|mil|[tgkmunpf])?)[a-z]*"
    r"|(?P<name>[a-z_][a-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^(),])"
    r")",
    re.ASCII,
)


def _min(*a: float) -> float:
    if not a:
        raise ExprError("min() needs at least one argument")
    return min(a)


def _max(*a: float) -> float:
    if not a:
        raise ExprError("max() needs at least one argument")
    return max(a)


# name -> (function, number of arguments or None for 1+)
FUNCTIONS: dict[str, tuple[Callable[..., float], int | None]] = {
    "sqrt": (math.sqrt, 1),
    "exp": (math.exp, 1),
    "log": (math.log, 1),
    "ln": (math.log, 1),
    "log10": (math.log10, 1),
    "abs": (abs, 1),
    "min": (_min, None),
    "max": (_max, None),
    "pow": (math.pow, 2),
    "sin": (math.sin, 1),
    "cos": (math.cos, 1),
    "tan": (math.tan, 1),
    "atan": (math.atan, 1),
    "floor": (math.floor, 1),
    "ceil": (math.ceil, 1),
    "int": (math.trunc, 1),
}

Node = tuple  # ("n", value) | ("v", name) | ("u", node) | ("b", op, l, r) | ("f", name, args)


def _lex(text: str) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    pos, n = 0, len(text)
    while pos < n:
        if text[pos].isspace():
            pos += 1
            continue
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ExprError(f"unexpected character {text[pos]!r} in expression")
        if m.group("num") is not None:
            v = float(m.group("num"))
            suf = m.group("suf")
            if suf:
                v *= SUFFIX_SCALE[suf]
            out.append(("n", v))
        elif m.group("name") is not None:
            out.append(("name", m.group("name")))
        else:
            out.append(("op", m.group("op")))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, object]]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self) -> tuple[str, object] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take_op(self, *ops: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok[0] == "op" and tok[1] in ops:
            self.i += 1
            return tok[1]  # type: ignore[return-value]
        return None

    def expect(self, op: str) -> None:
        if self.take_op(op) is None:
            tok = self.peek()
            got = "end of expression" if tok is None else repr(tok[1])
            raise ExprError(f"expected {op!r}, found {got}")

    def expr(self) -> Node:
        node = self.term()
        while (op := self.take_op("+", "-")) is not None:
            node = ("b", op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while (op := self.take_op("*", "/")) is not None:
            node = ("b", op, node, self.unary())
        return node

    def unary(self) -> Node:
        op = self.take_op("+", "-")
        if op == "-":
            return ("u", self.unary())
        if op == "+":
            return self.unary()
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.take_op("^", "**") is not None:
            return ("b", "^", base, self.unary())
        return base

    def atom(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise ExprError("expression ends too early")
        self.i += 1
        kind, val = tok
        if kind == "n":
            return ("n", val)
        if kind == "name":
            if self.take_op("(") is not None:
                if val not in FUNCTIONS:
                    raise ExprError(
                        f"unknown function {val!r} (known: {', '.join(sorted(FUNCTIONS))})"
                    )
                args: list[Node] = []
                if self.take_op(")") is None:
                    args.append(self.expr())
                    while self.take_op(",") is not None:
                        args.append(self.expr())
                    self.expect(")")
                arity = FUNCTIONS[val][1]  # type: ignore[index]
                if arity is not None and len(args) != arity:
                    raise ExprError(f"{val}() takes {arity} argument(s), got {len(args)}")
                return ("f", val, tuple(args))
            return ("v", val)
        if val == "(":
            node = self.expr()
            self.expect(")")
            return node
        raise ExprError(f"unexpected {val!r} in expression")


_cache: dict[str, Node] = {}


def parse_expr(text: str) -> Node:
    """Parse an expression (case-insensitive) into a tree; raises ExprError."""
    key = text.lower()
    node = _cache.get(key)
    if node is not None:
        return node
    if not key.strip():
        raise ExprError("empty expression")
    try:
        p = _Parser(_lex(key))
        node = p.expr()
        if p.i != len(p.t):
            raise ExprError(f"unexpected {p.t[p.i][1]!r} after the end of the expression")
    except RecursionError:
        raise ExprError("expression is nested too deeply") from None
    if len(_cache) < 4096:
        _cache[key] = node
    return node


def names_in(node: Node) -> set[str]:
    """Parameter names an expression tree refers to."""
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        k = n[0]
        if k == "v":
            out.add(n[1])
        elif k == "u":
            stack.append(n[1])
        elif k == "b":
            stack.extend((n[2], n[3]))
        elif k == "f":
            stack.extend(n[2])
    return out


def _finite(x: float, what: str) -> float:
    if not math.isfinite(x):
        raise ExprError(f"{what} is not a finite number")
    return x


def _eval(node: Node, lookup: Callable[[str], float | None]) -> float:
    kind = node[0]
    if kind == "n":
        return node[1]
    if kind == "v":
        v = lookup(node[1])
        if v is None:
            raise ExprError(f"undefined parameter {node[1]!r}")
        return v
    if kind == "u":
        return -_eval(node[1], lookup)
    if kind == "b":
        op = node[1]
        a = _eval(node[2], lookup)
        b = _eval(node[3], lookup)
        if op == "+":
            r = a + b
        elif op == "-":
            r = a - b
        elif op == "*":
            r = a * b
        elif op == "/":
            if b == 0:
                raise ExprError("division by zero")
            r = a / b
        else:
            if a == 0 and b < 0:
                raise ExprError("zero to a negative power")
            try:
                r = math.pow(a, b)
            except ValueError:
                raise ExprError(f"{a!r} ^ {b!r} is not a real number") from None
        return _finite(r, f"the result of {op!r}")
    # function
    name, args = node[1], node[2]
    fn = FUNCTIONS[name][0]
    vals = [_eval(a, lookup) for a in args]
    try:
        r = float(fn(*vals))
    except ValueError:
        raise ExprError(f"{name}() is undefined for {', '.join(map(repr, vals))}") from None
    return _finite(r, f"{name}()")


def evaluate(text: str, lookup: Callable[[str], float | None]) -> float:
    """Evaluate ``text``; ``lookup(name)`` returns a parameter's value or None.

    Raises ExprError for syntax errors, undefined names, division by zero,
    non-real or non-finite results.  Errors raised by ``lookup`` pass through.
    """
    node = parse_expr(text)
    try:
        return float(_eval(node, lookup))
    except RecursionError:
        raise ExprError("expression is nested too deeply") from None
    except OverflowError:
        raise ExprError("numeric overflow in expression") from None
