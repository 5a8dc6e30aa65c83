"""Exceptions raised by resbench.  Every user-facing failure is one of these.

The CLI turns them into ``file:line: message`` (or ``error: message``) and a
non-zero exit code; it never shows a traceback for them.
"""

from __future__ import annotations

import re

#: at most this many characters of a netlist line (or token) appear in a message
SNIPPET_CHARS = 120
_MESSAGE_CHARS = 2000  # a safety net for whole messages built from several pieces


def _escaped(text: str, limit: int) -> str:
    """``text`` with non-printable characters escaped as ``repr`` does, cut after
    about ``limit`` characters of output with a count of what was left out."""
    head = text[:limit]
    if head.isprintable():
        out = head
    else:
        parts: list[str] = []
        size = 0
        for ch in head:
            e = ch if ch.isprintable() else repr(ch)[1:-1]
            if size + len(e) > limit:
                break
            parts.append(e)
            size += len(e)
        out = "".join(parts)
        head = head[: len(parts)]
    if len(head) < len(text):
        out += f"… (+{len(text) - len(head):,} characters)"
    return out


_LONG_WORD = re.compile(r"\S{100,}")


def _clip_word(m: re.Match) -> str:
    w = m.group()
    return f"{w[:60]}… (+{len(w) - 60:,} characters)"


def clip_words(message: str) -> str:
    """``message`` with every word (run of non-white-space) longer than 100
    characters cut to 60 and a count of the rest."""
    return _LONG_WORD.sub(_clip_word, message) if len(message) > 200 else message


def bounded(message: str, limit: int = _MESSAGE_CHARS) -> str:
    """A message that may hold user text (names, tokens), made safe to print: no
    word longer than about 100 characters, non-printables escaped, at most about
    ``limit`` characters in all."""
    return _escaped(clip_words(message), limit)


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """A line of user text as an error message may show it: stripped, non-printable
    characters escaped (``\\x00``, ``\\ufeff``), at most about ``limit`` characters."""
    start = len(text) - len(text.lstrip()) if text[:1].isspace() else 0
    end = len(text.rstrip()) if text[-1:].isspace() else len(text)
    return _escaped(text[start:end], limit)


def quote(text: str, limit: int = 60) -> str:
    """A token of user text quoted for an error message (like ``repr``, but bounded)."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"… (+{len(text) - limit:,} characters)"


class ResbenchError(Exception):
    """Base class of every error resbench reports to a user."""

    exit_code = 2

    def format(self) -> str:
        return f"error: {bounded(str(self))}"


class NetlistError(ResbenchError):
    """A netlist that cannot be read: carries file, line, offending text and a hint."""

    def __init__(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        text: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.text = text
        self.hint = hint

    def format(self) -> str:
        """``file:line: message``, then a bounded, escaped snippet of the offending
        text and the hint.  However long the input, the result stays short."""
        where = _escaped(self.file, 500) if self.file else "<netlist>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        out = f"{where}: {bounded(self.message)}"
        if self.text:
            out += f"\n    {snippet(self.text)}"
        if self.hint:
            out += f"\n  hint: {bounded(self.hint)}"
        return out

    def __str__(self) -> str:  # pragma: no cover - exercised through format()
        return self.format()


class CircuitError(ResbenchError):
    """A circuit that is well formed but has no (unique) DC solution.

    Examples: floating nodes, a loop of voltage sources with conflicting values,
    diodes that sources force to conduct through zero resistance.  ``elements``
    and ``nodes`` name what is involved.
    """

    def __init__(
        self, message: str, elements: list[str] | None = None, nodes: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.elements = list(elements or [])
        self.nodes = list(nodes or [])


class SolverError(ResbenchError):
    """A solver failed to run (not: failed to certify, which is a status)."""


class InputError(ResbenchError):
    """Input values for a batch that cannot be used: a file that cannot be read, wrong
    columns or shape, NaN or inf, a name that is not an input, a batch too big for memory.
    The message says which file / column / row and what to do."""


class ResbenchWarning(UserWarning):
    """Base class of resbench's warnings: something was read but not applied.  The
    CLI prints them in yellow (``--strict`` turns them into errors); on the API,
    ``warnings.simplefilter("error", ResbenchWarning)`` does the same."""


class IgnoredModelParameterWarning(ResbenchWarning, ResbenchError):
    """A ``.model D`` card has parameters that resbench does not apply (docs/diodes.md).

    Also a ResbenchError: where warnings are errors (``--strict``), code that reports
    ResbenchErrors reports it (``error: model …``, exit 2), never a traceback."""
