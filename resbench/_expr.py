"""Safe arithmetic for netlist ``{expressions}`` and ``.param`` values.

An expression is compiled once per distinct text (operator precedence parsing
with explicit stacks, no recursion) into a postfix program; evaluation runs the
program on a value stack.  Neither step recurses, so a flat sum of a million
terms and parentheses nested a thousand deep both work.  No ``eval``/``exec``:
the only things an expression can do are the operators and functions listed here.

Grammar (lower-cased input)::

    expr    := term (('+' | '-') term)*          (left associative)
    term    := unary (('*' | '/') unary)*         (left associative)
    unary   := ('+' | '-') unary | power
    power   := atom (('^' | '**') unary)?          (right associative)
    atom    := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'

Numbers take SPICE suffixes (``2k``, ``1meg``, ``10u``) and ignore unit letters.
Every number and every intermediate result must be a finite double: a literal
that overflows (``1e400``) or that is not zero but underflows to zero or to a
subnormal (``1e-400``), and a product, quotient, power or function whose result
does so, are errors, never a silent ``inf`` or ``0``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from resbench.errors import quote

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

#: the smallest positive normal double: nonzero values below it have lost precision
TINY = 2.2250738585072014e-308

# numbers (with suffix and unit letters), names, operators, and any other character
_LEXEME = re.compile(
    r"\s*(?:"
    r"(?P<num>(?P<mant>(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(?P<suf>(?:meg|mil|[tgkmunpf])?)[a-z]*)"
    r"|(?P<name>[a-z_][a-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^(),])"
    r"|(?P<bad>\S)"
    r")",
    re.ASCII,
)
_NONZERO_DIGIT = re.compile(r"[1-9]")


def literal_problem(mantissa: str, value: float) -> str | None:
    """Why the number written ``mantissa`` (digits and exponent, before any suffix)
    that evaluated to ``value`` (suffix applied) cannot be used, or None."""
    if not math.isfinite(value):
        return "is out of range (above the largest double, 1.8e308)"
    if (value == 0.0 or abs(value) < TINY) and _NONZERO_DIGIT.search(mantissa.split("e")[0]):
        return "is out of range (not zero, but below the smallest double, 2.2e-308)"
    return None


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
# functions whose zero result from nonzero arguments can only be an underflow
_UNDERFLOW_TO_ZERO = frozenset(("exp", "pow"))

# Program instructions: (_NUM, value) | (_VAR, name) | (_NEG, None) | (_BIN, op) |
# (_CALL, (name, number of arguments))
_NUM, _VAR, _NEG, _BIN, _CALL = range(5)
Program = tuple  # a tuple of instructions

# binary operators: precedence, right associative
_BINARY = {"+": (1, False), "-": (1, False), "*": (2, False), "/": (2, False), "^": (4, True)}
_UNARY_PREC = 3  # binds tighter than * and /, looser than ^ (-2^2 = -4)


def _lex(text: str) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    append = out.append
    scale = SUFFIX_SCALE
    for m in _LEXEME.finditer(text):
        kind = m.lastgroup
        if kind == "op":
            op = m.group("op")
            append(("op", "^" if op == "**" else op))
        elif kind == "num":
            num = m.group("mant")
            v = float(num)
            suf = m.group("suf")
            if suf:
                v *= scale[suf]
            if not (TINY <= v < math.inf):
                problem = literal_problem(num, v)
                if problem is not None:
                    raise ExprError(f"number {quote(m.group('num'))} {problem}")
            append(("n", v))
        elif kind == "name":
            append(("name", m.group("name")))
        elif not m.group("bad").isspace():  # (white space beyond ASCII is white space)
            raise ExprError(f"unexpected character {quote(m.group('bad'))} in expression")
    return out


def _show(tok: tuple[str, object] | None) -> str:
    if tok is None:
        return "end of expression"
    return quote(tok[1]) if tok[0] != "n" else repr(tok[1])


def _compile(tokens: list[tuple[str, object]]) -> Program:
    """Tokens -> postfix program (shunting-yard with prefix operators and calls).

    The operator stack holds ("b", op), ("u",) for unary minus, ("(",) and
    ("f", name, [arguments so far]); ``want_operand`` is the parser's state."""
    prog: list[tuple[int, object]] = []
    ops: list[tuple] = []
    want_operand = True
    i, n = 0, len(tokens)

    def pop_until_paren() -> tuple | None:
        while ops:
            top = ops[-1]
            if top[0] == "b":
                prog.append((_BIN, top[1]))
            elif top[0] == "u":
                prog.append((_NEG, None))
            else:
                return top
            ops.pop()
        return None

    while True:
        tok = tokens[i] if i < n else None
        i += 1
        if want_operand:
            if tok is None:
                raise ExprError("expression ends too early")
            kind, val = tok
            if kind == "n":
                prog.append((_NUM, val))
                want_operand = False
            elif kind == "name":
                if i < n and tokens[i] == ("op", "("):
                    if val not in FUNCTIONS:
                        raise ExprError(
                            f"unknown function {quote(val)} (known: {', '.join(sorted(FUNCTIONS))})"
                        )
                    i += 1
                    ops.append(("f", val, [0]))
                    if i < n and tokens[i] == ("op", ")"):  # no arguments
                        i += 1
                        ops.pop()
                        _call(prog, val, 0)
                        want_operand = False
                else:
                    prog.append((_VAR, val))
                    want_operand = False
            elif val == "(":
                ops.append(("(",))
            elif val == "-":
                ops.append(("u",))
            elif val != "+":  # a unary plus changes nothing
                raise ExprError(f"unexpected {_show(tok)} in expression")
            continue
        # an operand was just read: an operator, ',' or ')' or the end must follow
        if tok is None:
            open_ = pop_until_paren()
            if open_ is not None:
                raise ExprError("expected ')', found end of expression")
            break
        kind, val = tok
        if kind == "op" and val in _BINARY:
            prec, right = _BINARY[val]  # type: ignore[index]
            while ops:
                top = ops[-1]
                if top[0] == "b":
                    p = _BINARY[top[1]][0]
                    if p > prec or (p == prec and not right):
                        prog.append((_BIN, top[1]))
                        ops.pop()
                        continue
                elif top[0] == "u" and _UNARY_PREC > prec:
                    prog.append((_NEG, None))
                    ops.pop()
                    continue
                break
            ops.append(("b", val))
            want_operand = True
        elif tok == ("op", ","):
            open_ = pop_until_paren()
            if open_ is None:
                raise ExprError("unexpected ',' after the end of the expression")
            if open_[0] != "f":
                raise ExprError("expected ')', found ','")
            open_[2][0] += 1
            want_operand = True
        elif tok == ("op", ")"):
            open_ = pop_until_paren()
            if open_ is None:
                raise ExprError("unexpected ')' after the end of the expression")
            ops.pop()
            if open_[0] == "f":
                _call(prog, open_[1], open_[2][0] + 1)
        elif any(o[0] in "(f" for o in ops):
            raise ExprError(f"expected ')', found {_show(tok)}")
        else:
            raise ExprError(f"unexpected {_show(tok)} after the end of the expression")
    return tuple(prog)


def _call(prog: list, name: str, nargs: int) -> None:
    arity = FUNCTIONS[name][1]
    if arity is not None and nargs != arity:
        raise ExprError(f"{name}() takes {arity} argument(s), got {nargs}")
    prog.append((_CALL, (name, nargs)))


_cache: dict[str, Program] = {}


def parse_expr(text: str) -> Program:
    """Compile an expression (case-insensitive) into a program; raises ExprError."""
    key = text.lower()
    prog = _cache.get(key)
    if prog is not None:
        return prog
    if not key.strip():
        raise ExprError("empty expression")
    prog = _compile(_lex(key))
    if len(_cache) < 4096:
        _cache[key] = prog
    return prog


def names_in(prog: Program) -> list[str]:
    """Parameter names an expression program refers to, in order of first use."""
    return list(dict.fromkeys(arg for op, arg in prog if op == _VAR))  # type: ignore[misc]


def _checked(r: float, what: str, underflow: bool) -> float:
    """``r`` if it is a finite double, not subnormal, and (``underflow`` False) not a
    zero that stands for an underflow."""
    if not math.isfinite(r):
        raise ExprError(f"{what} is not a finite number (overflow)")
    if (r == 0.0 and underflow) or (r != 0.0 and abs(r) < TINY):
        raise ExprError(f"{what} underflows (its magnitude is below 2.2e-308)")
    return r


def _binary(op: str, a: float, b: float) -> float:
    if op == "+":
        r = a + b
    elif op == "-":
        r = a - b
    elif op == "*":
        r = a * b
        return _checked(r, "the result of '*'", r == 0.0 and a != 0.0 and b != 0.0)
    elif op == "/":
        if b == 0:
            raise ExprError("division by zero")
        r = a / b
        return _checked(r, "the result of '/'", r == 0.0 and a != 0.0)
    else:
        if a == 0 and b < 0:
            raise ExprError("zero to a negative power")
        try:
            r = math.pow(a, b)
        except ValueError:
            raise ExprError(f"{a!r} ^ {b!r} is not a real number") from None
        return _checked(r, "the result of '^'", r == 0.0 and a != 0.0)
    return _checked(r, f"the result of {op!r}", False)


def _run(prog: Program, lookup: Callable[[str], float | None]) -> float:
    stack: list[float] = []
    push = stack.append
    for op, arg in prog:
        if op == _NUM:
            push(arg)  # type: ignore[arg-type]
        elif op == _VAR:
            v = lookup(arg)  # type: ignore[arg-type]
            if v is None:
                raise ExprError(f"undefined parameter {quote(arg)}")  # type: ignore[arg-type]
            push(v)
        elif op == _BIN:
            b = stack.pop()
            stack[-1] = _binary(arg, stack[-1], b)  # type: ignore[arg-type]
        elif op == _NEG:
            stack[-1] = -stack[-1]
        else:
            name, nargs = arg  # type: ignore[misc]
            vals = stack[len(stack) - nargs :]
            del stack[len(stack) - nargs :]
            try:
                r = float(FUNCTIONS[name][0](*vals))
            except ValueError:
                shown = ", ".join(map(repr, vals[:4])) + (", …" if nargs > 4 else "")
                raise ExprError(f"{name}() is undefined for {shown}") from None
            push(
                _checked(
                    r,
                    f"{name}()",
                    r == 0.0 and name in _UNDERFLOW_TO_ZERO and all(x != 0.0 for x in vals[:1]),
                )
            )
    return stack[0]


def evaluate(text: str, lookup: Callable[[str], float | None]) -> float:
    """Evaluate ``text``; ``lookup(name)`` returns a parameter's value or None.

    Raises ExprError for syntax errors, undefined names, division by zero,
    non-real, non-finite or underflowing results.  Errors raised by ``lookup``
    pass through.
    """
    prog = parse_expr(text)
    if len(prog) == 1 and prog[0][0] == _NUM:
        return prog[0][1]  # a plain number: checked when it was read
    try:
        return float(_run(prog, lookup))
    except OverflowError:
        raise ExprError("numeric overflow in expression") from None
