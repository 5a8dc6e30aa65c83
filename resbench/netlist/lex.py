"""Numbers and tokens of the netlist dialect, shared by the reader, the element
cards, subcircuit expansion and the writer.

``parse_value`` (public) reads one SPICE number; ``_value_or_none`` is the same
without raising, for the parser's hot paths; ``_number_problem`` says why a
number-like token is not a finite double.  ``VALUE_MIN`` … ``VALUE_MAX`` is the
range of element values resbench reads (and writes).  The regular expressions
at the end split and classify tokens.
"""

from __future__ import annotations

import math
import re

from resbench._expr import SUFFIX_SCALE, TINY, literal_problem
from resbench.errors import NetlistError, quote

#: element values (R, V, I, C, L) are 0 or of magnitude VALUE_MIN … VALUE_MAX
VALUE_MIN = 1e-300
VALUE_MAX = 1e300
_RANGE_HINT = (
    f"resbench reads element values of magnitude {VALUE_MIN:g} to {VALUE_MAX:g}, or exactly 0"
)

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
# tokens
# ---------------------------------------------------------------------------

_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SPECIAL = re.compile(r"[{}'\"=(),]").search  # a line without these takes the fast path
_TOKEN = re.compile(r"\{[^{}]*\}|'[^']*'|[^\s{}'\"]+|\S")
_PNAME = re.compile(r"[a-z_][a-z0-9_]*\Z", re.ASCII)
