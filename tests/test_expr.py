"""Unit tests of resbench._expr through its public functions (evaluate, parse_expr,
names_in): operators and precedence, functions, parameters, and every kind of error.
How `.param` and `{…}` use it inside netlists is tested in tests/test_netlist.py."""

from __future__ import annotations

import math

import pytest

from resbench._expr import FUNCTIONS, ExprError, evaluate, names_in, parse_expr

PARAMS = {"a": 2.0, "b": 3.0}


def lookup(name: str) -> float | None:
    return PARAMS.get(name)


@pytest.mark.parametrize(
    "text, value",
    [
        ("1+2*3", 7.0),
        ("(1+2)*3", 9.0),
        ("10/4", 2.5),
        ("7-2-1", 4.0),  # left associative
        ("8/2/2", 2.0),
        ("2^3^2", 512.0),  # ^ is right associative
        ("-2^2", -4.0),  # unary minus binds looser than ^
        ("2*-3", -6.0),  # and tighter than *
        ("2--3", 5.0),
        ("1k*2", 2000.0),  # SPICE suffixes in numbers
        ("a*b+1", 7.0),
        ("A+B", 5.0),  # case-insensitive names
    ],
)
def test_operators_and_precedence(text: str, value: float) -> None:
    assert evaluate(text, lookup) == value


@pytest.mark.parametrize(
    "text, value",
    [
        ("max(1,a,b)", 3.0),
        ("min(4,a)", 2.0),
        ("sqrt(16)", 4.0),
        ("log10(1000)", 3.0),
        ("ln(exp(1))", 1.0),
        ("abs(-3)", 3.0),
        ("pow(2,10)", 1024.0),
        ("int(-2.7)", -2.0),  # truncates toward zero
        ("floor(-2.5)", -3.0),
        ("ceil(2.1)", 3.0),
    ],
)
def test_functions(text: str, value: float) -> None:
    assert evaluate(text, lookup) == pytest.approx(value, rel=1e-15)


def test_every_listed_function_evaluates() -> None:
    for name, (_, nargs) in FUNCTIONS.items():
        args = ",".join(["0.5"] * (nargs or 2))
        assert math.isfinite(evaluate(f"{name}({args})", lookup)), name


@pytest.mark.parametrize(
    "text, message",
    [
        ("1/0", "division by zero"),
        ("zz+1", "undefined parameter 'zz'"),
        ("0^-1", "zero to a negative power"),
        ("(-8)^(1/3)", "is not a real number"),
        ("1e308*10", "not a finite number (overflow)"),
        ("exp(-1000)", "underflows"),
        ("", "empty expression"),
        ("1+", "ends too early"),
        ("(1", "expected ')'"),
        ("max()", "needs at least one argument"),
        ("sqrt(-1)", "sqrt() is undefined for -1.0"),
        ("foo(1)", "unknown function 'foo'"),
        ("1 2", "after the end of the expression"),
        ("sin(1,2)", "sin() takes 1 argument(s), got 2"),
    ],
)
def test_errors_are_expr_errors_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ExprError) as err:
        evaluate(text, lookup)
    assert message in str(err.value)


def test_errors_from_lookup_pass_through() -> None:
    def failing(name: str) -> float | None:
        raise KeyError(name)

    with pytest.raises(KeyError):
        evaluate("a+1", failing)


def test_names_in_lists_parameters_in_order_of_first_use() -> None:
    assert names_in(parse_expr("a*b+a+c")) == ["a", "b", "c"]
    assert names_in(parse_expr("sqrt(2)")) == []


def test_parse_expr_is_case_insensitive_and_reused() -> None:
    assert parse_expr("A*B") == parse_expr("a*b")
    assert parse_expr("a*b") is parse_expr("a*b")  # compiled once, then cached
