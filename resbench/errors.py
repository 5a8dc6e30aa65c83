"""Exceptions raised by resbench.  Every user-facing failure is one of these.

The CLI turns them into ``file:line: message`` (or ``error: message``) and a
non-zero exit code; it never shows a traceback for them.
"""

from __future__ import annotations


class ResbenchError(Exception):
    """Base class of every error resbench reports to a user."""

    exit_code = 2

    def format(self) -> str:
        return f"error: {self}"


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
        where = self.file or "<netlist>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        out = f"{where}: {self.message}"
        if self.text:
            out += f"\n    {self.text.strip()}"
        if self.hint:
            out += f"\n  hint: {self.hint}"
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
