"""Terminal tables of compare and scale: short number formats and the ``--wide`` flag.

Which columns a table has, their headers and formats come from the column
declarations of :mod:`resbench.bench.columns` (the same ones that write the CSV
and markdown files); :func:`render` lays them out and :data:`CELLS` formats them.
By default a table has the columns that fit in 80 characters; ``--wide`` shows
every column (the result files always have all of them).  A missing value (a
timed-out or failed row has no worst node, no time) shows as ``–``, never ``nan``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click
from rich import box
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from resbench.bench.columns import Column

#: show every column of the terminal table
wide = click.option(
    "--wide",
    is_flag=True,
    help="Show every column in the terminal table (default: the main ones, which fit in "
    "80 columns; the result files always have every column).",
)

STATUS_STYLE = {
    "ok": "green",
    "disagree": "bold red",
    "uncertified": "bold red",
    "error": "bold yellow",
    "timeout": "bold yellow",
    "failed": "bold yellow",
    "empty": "yellow",
    "skipped": "dim",
    "stalled": "bold red",
    "sweep_limit": "bold red",
    "not installed": "yellow",
    "not applicable": "dim",
}


def missing(x: object) -> bool:
    """None, NaN (what pandas stores for an empty cell) or pandas' NA."""
    if x is None:
        return True
    try:
        return bool(x != x)  # NaN, pd.NA-safe enough for cells  # noqa: PLR0124
    except (TypeError, ValueError):
        return False


def fmt(x: object, spec: str = ".3g", unit: str = "") -> str:
    if missing(x):
        return "–"
    return f"{x:{spec}}{unit}"


def seconds(x: object) -> str:
    """A duration in 3 significant digits with a unit that keeps it short (µs, ms, s)."""
    if missing(x):
        return "–"
    v = float(x)  # type: ignore[arg-type]
    if v < 1e-3:
        return f"{v * 1e6:.3g} µs"
    if v < 1.0:
        return f"{v * 1e3:.3g} ms"
    return f"{v:.3g} s"


def ratio(x: object) -> str:
    """A speedup: 3 significant digits, thousands separated (``4,930×``, ``2.97×``)."""
    if missing(x):
        return "–"
    v = float(x)  # type: ignore[arg-type]
    if not math.isfinite(v):
        return "–"
    return f"{v:,.0f}×" if v >= 100 else f"{v:.3g}×"


def count(x: object) -> str:
    if missing(x):
        return "–"
    return f"{int(x):,}"  # type: ignore[call-overload]


def yesno(x: object) -> str:
    if missing(x):
        return "–"
    return "yes" if bool(x) else "[bold red]no[/]"


def text(x: object) -> str:
    """A name cell: ``–`` when there is none (a failed or timed-out row has no worst node)."""
    return "–" if missing(x) or str(x) == "" else escape(str(x))


def status(x: object) -> str:
    """A status, coloured by :data:`STATUS_STYLE` (by what precedes a ':' in statuses
    that carry a hint, as ``not installed: pip install -e '.[qp]'``)."""
    s = "–" if missing(x) else str(x)
    style = STATUS_STYLE.get(s, "") or STATUS_STYLE.get(s.split(":")[0], "")
    return f"[{style}]{escape(s)}[/]" if style else escape(s)


def table(title: str, columns: list[tuple[str, str, bool]], *, wide: bool) -> tuple[Table, list]:
    """An empty compact table and the mask of kept columns.

    ``columns``: (header, justify, shown only with --wide).  Names wrap (fold); numbers
    never do.  Two spaces between columns, no outer border: every character counts at
    80 columns.
    """
    t = Table(
        title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True
    )
    keep = [not only_wide or wide for _, _, only_wide in columns]
    for (col, justify, _), k in zip(columns, keep, strict=True):
        if k:
            t.add_column(col, justify=justify, no_wrap=justify == "right", overflow="fold")
    return t, keep


def mib(x: object) -> str:
    """Bytes as whole MiB (``12 MiB``)."""
    return "–" if missing(x) else f"{float(x) / 2**20:.0f} MiB"  # type: ignore[arg-type]


def diff(x: object, *, wide: bool, atol: float | None) -> str:
    """A voltage difference: 2 digits (3 with --wide), bold red above ``atol``."""
    cell = fmt(x, ".2e" if wide else ".1e")
    if atol is not None and isinstance(x, float) and x > atol:
        cell = f"[bold red]{cell}[/]"
    return cell


#: terminal formatter of each cell kind of resbench.bench.columns.CELL_KINDS
CELLS: dict[str, Callable[[object], str]] = {
    "label": lambda x: escape(str(x)),
    "text": text,
    "status": status,
    "count": count,
    "seconds": seconds,
    "ratio": ratio,
    "yesno": yesno,
    "mib": mib,
}


def cell(column: Column, row: Mapping[str, Any], *, wide: bool, atol: float | None) -> str:
    """One formatted cell (blank where the column's ``shown_if`` says so)."""
    if column.shown_if is not None and not column.shown_if(row):
        return ""
    value = column.get(row)
    if column.cell == "diff":
        return diff(value, wide=wide, atol=atol)
    if column.cell.startswith("fmt:"):
        return fmt(value, column.cell[4:])
    return CELLS[column.cell](value)


def render(
    title: str,
    columns: Sequence[Column],
    rows: Iterable[Mapping[str, Any]],
    *,
    wide: bool,
    solver: str = "",
    atol: float | None = None,
) -> Table:
    """The terminal table of ``rows`` (dicts or pandas rows) from column declarations:
    the columns with a label, those marked ``wide`` only with ``wide``; ``solver``
    fills ``{solver}`` in headers; ``atol`` marks larger voltage differences red."""
    from resbench.bench.columns import in_table

    shown = in_table(columns, wide=wide)
    spec = [(c.table_label(wide=wide, solver=solver), c.justify, False) for c in shown]
    t, _ = table(title, spec, wide=wide)
    for row in rows:
        t.add_row(*(cell(c, row, wide=wide, atol=atol) for c in shown))
    return t
