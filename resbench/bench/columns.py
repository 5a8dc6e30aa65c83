"""Columns of the compare and scale summaries, declared once.

As pytest-benchmark's ``Stats.fields`` drives its CSV and table writers, one
:class:`Column` per summary column says everything the writers need:

* ``name`` — the field of a summary row, and the CSV column (``csv=False``: a
  column computed for display only, never written to the CSV);
* ``header`` — its header in the markdown summary (None: not in the markdown);
* ``label`` — its header in the terminal table (None: not in the table), and
  ``narrow`` where the 80-column table uses a shorter one;
* ``cell`` — how the terminal table formats it (see :data:`CELL_KINDS`; the
  formatters themselves are in :mod:`resbench.cli.tables`), and ``md`` — how
  the markdown summary does (``raw``: numbers as ``markdown_table`` formats
  them; ``count``: ``1,234``; ``mib``: bytes as MiB);
* ``wide`` — in the terminal table only with ``--wide`` (False: shown at 80
  columns);
* ``value`` — where the value comes from when it is not the row field ``name``
  (a function of the row, e.g. ``sources = vsources + isources``);
* ``shown_if`` — in the terminal table the cell is blank on rows where this is
  false (scale shows a pair's speedup and |Δv| once, on the cd row).

Headers may hold ``{solver}``: the fast solver's name, filled in when written.
The CSV, markdown and terminal columns all come from :data:`COMPARE` and
:data:`SCALE`, in their order (the raw-sample CSVs from :data:`COMPARE_SAMPLES` and
:data:`SCALE_SAMPLES`); adding a column is one line there.  This module
imports no pandas at import time (the CLI imports it for its tables).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from resbench.bench.timing import TIMING_COLUMNS

if TYPE_CHECKING:  # pandas is imported lazily (it is slow to import)
    import pandas as pd

#: terminal cell formats (resbench.cli.tables.CELLS formats each): ``label`` a name
#: that is always there; ``text`` a name that may be missing (``–``); ``status``
#: coloured; ``count`` 1,234; ``seconds`` µs/ms/s; ``ratio`` 2.97× / 4,930×;
#: ``yesno``; ``mib`` bytes as ``12 MiB``; ``diff`` a voltage difference, red above
#: atol, 3 digits with --wide; ``fmt:<spec>`` any format spec (``fmt:.2g``).
CELL_KINDS = ("label", "text", "status", "count", "seconds", "ratio", "yesno", "mib", "diff")
MARKDOWN_KINDS = ("raw", "count", "mib")


@dataclass(frozen=True)
class Column:
    """One summary column and how every writer shows it (see the module doc)."""

    name: str
    header: str | None = None
    label: str | None = None
    narrow: str | None = None
    cell: str = "text"
    md: str = "raw"
    wide: bool = False
    csv: bool = True
    value: Callable[[Mapping[str, Any]], Any] | None = None
    shown_if: Callable[[Mapping[str, Any]], bool] | None = None

    def __post_init__(self) -> None:
        if self.cell not in CELL_KINDS and not self.cell.startswith("fmt:"):
            raise ValueError(f"column {self.name}: unknown cell format {self.cell!r}")
        if self.md not in MARKDOWN_KINDS:
            raise ValueError(f"column {self.name}: unknown markdown format {self.md!r}")

    @property
    def justify(self) -> str:
        """Names left, yes/no centred, numbers right."""
        if self.cell in ("label", "text", "status"):
            return "left"
        return "center" if self.cell == "yesno" else "right"

    def get(self, row: Mapping[str, Any]) -> Any:
        """The column's value in ``row`` (a dict or a pandas row); None when absent."""
        if self.value is not None:
            return self.value(row)
        try:
            return row[self.name]
        except KeyError:
            return None

    def table_label(self, *, wide: bool, solver: str = "") -> str:
        """The terminal header (``narrow`` without --wide, where there is one)."""
        text = self.narrow if (self.narrow is not None and not wide) else self.label
        return str(text).format(solver=solver)


def csv_names(columns: Sequence[Column]) -> list[str]:
    """The CSV columns, in order."""
    return [c.name for c in columns if c.csv]


def in_table(columns: Sequence[Column], *, wide: bool) -> list[Column]:
    """The terminal table's columns: those with a label, the ``wide`` ones only with --wide."""
    return [c for c in columns if c.label is not None and (wide or not c.wide)]


def csv_rows(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """``rows`` with every computed (``value``) CSV column filled in."""
    computed = [c for c in columns if c.csv and c.value is not None]
    if not computed:
        return [dict(r) for r in rows]
    return [{**r, **{c.name: c.get(r) for c in computed}} for r in rows]


def summary_frame(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The summary CSV's DataFrame: one row per dict, the CSV columns in order (computed
    ``value`` columns filled in, missing fields empty)."""
    import pandas as pd

    return pd.DataFrame(csv_rows(columns, rows), columns=csv_names(columns))


def _count(v: Any) -> str:
    import pandas as pd

    return "" if v is None or pd.isna(v) else f"{int(v):,}"


def _mib(v: Any) -> float:
    try:
        return float(v) / 2**20
    except (TypeError, ValueError):
        return float("nan")


def markdown_frame(
    columns: Sequence[Column], summary: pd.DataFrame, *, solver: str = ""
) -> pd.DataFrame:
    """The markdown summary's table (for :func:`resbench.bench.results.markdown_table`):
    the columns with a ``header``, in order, values formatted by their ``md`` kind."""
    import pandas as pd

    out: dict[str, Any] = {}
    for c in columns:
        if c.header is None:
            continue
        if c.value is not None:
            values = pd.Series([c.get(r) for _, r in summary.iterrows()], dtype=object)
        elif c.name in summary:
            values = summary[c.name].reset_index(drop=True)
        else:
            values = pd.Series([None] * len(summary), dtype=object)
        if c.md == "count":
            values = values.map(_count)
        elif c.md == "mib":
            values = values.map(_mib)
        out[c.header.format(solver=solver)] = values
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- compare
def _sizes() -> tuple[Column, ...]:
    return (
        Column("nodes", "nodes", "nodes", cell="count"),
        Column("resistors", "resistors", "R", cell="count", wide=True),
        Column("diodes", "diodes", "D", cell="count", wide=True),
        Column("vsources"),
        Column("isources"),
    )


def _timing(prefix: str, once: str, who: str) -> tuple[Column, ...]:
    return (
        Column(
            f"{prefix}_total_median",
            f"{who} total (s)",
            f"{who} total",
            narrow=who,
            cell="seconds",
        ),
        Column(f"{prefix}_total_min"),
        Column(f"{prefix}_total_max"),
        Column(f"{prefix}_setup_median"),
        Column(f"{prefix}_solve_median"),
        Column(f"{prefix}_{once}"),
    )


#: one row per job × solver × run: ``compare_samples.csv`` (CSV only; columns a solver adds
#: beyond these follow, sorted)
COMPARE_SAMPLES: tuple[Column, ...] = tuple(
    Column(name)
    for name in (
        "netlist",
        "solver",
        "phase",
        "repeat",
        "status",
        *TIMING_COLUMNS,
        "sweeps",
        "residual",
        "error",
    )
)

#: one row per netlist: ``resbench compare`` (fast solver vs ngspice)
COMPARE: tuple[Column, ...] = (
    Column("netlist", "netlist", "netlist", cell="label"),
    Column("status", "status", "status", cell="status"),
    *_sizes(),
    Column("fast_solver"),
    Column("fast_status"),
    Column("spice_status"),
    Column("max_abs_diff", "max |Δv| (V)", "max |Δv|", cell="diff"),
    Column("max_rel_diff"),
    Column("worst_node", "worst node", "worst node", wide=True),
    Column("agree"),
    Column("fast_certified", "{solver} certified", "{solver} cert", cell="yesno", wide=True),
    Column("fast_feasibility"),
    Column("fast_kcl"),
    Column("fast_complementarity"),
    Column("spice_certified", None, "spice cert", cell="yesno", wide=True),
    Column("spice_feasibility"),
    Column("spice_kcl"),
    Column("spice_complementarity"),
    *_timing("fast", "compile", "{solver}"),
    *_timing("spice", "startup", "ngspice"),
    Column("speedup_total", "speedup total", "speedup", cell="ratio"),
    Column("speedup_solve", "speedup solve", "speedup solve", cell="ratio", wide=True),
    Column("repeats"),
    Column("message"),
)


#: the fields of one peer's column group in the compare summary, each written as
#: ``<peer>_<field>`` (``osqp_status``, ``osqp_total_median`` …), in this order
PEER_FIELDS: tuple[str, ...] = (
    "status",
    "claimed",
    "certified",
    "feasibility",
    "kcl",
    "complementarity",
    "max_abs_diff",
    "worst_node",
    "setup_median",
    "solve_median",
    "total_median",
    "total_min",
    "total_max",
    "ratio_total",
    "ratio_solve",
    "repeats",
    "message",
)


def compare_columns(peers: Sequence[str] = ()) -> tuple[Column, ...]:
    """The compare summary's columns: :data:`COMPARE` (unchanged when there is no peer),
    then one group of :data:`PEER_FIELDS` per peer (CSV only; the terminal and markdown
    show peers in the long :data:`PEER_TABLE`)."""
    return COMPARE + tuple(Column(f"{p}_{f}") for p in peers for f in PEER_FIELDS)


#: the 'every solver' table of compare: one row per netlist × solver
#: (resbench.bench.compare.peer_rows builds the rows)
PEER_TABLE: tuple[Column, ...] = (
    Column("netlist", "netlist", "netlist", cell="label"),
    Column("solver", "solver", "solver", cell="label"),
    Column("status", "status", "status", cell="status"),
    Column("claimed", "claimed", "claimed", cell="text"),
    Column("setup", "setup (s)", "setup", cell="seconds", wide=True),
    Column("solve", "solve (s)", "solve", cell="seconds", wide=True),
    Column("total", "total (s)", "total", cell="seconds"),
    Column("ratio", "time / {solver}", "/ {solver}", cell="ratio"),
    Column("max_abs_diff", "max |Δv| from {solver} (V)", "max |Δv|", cell="diff"),
    Column("certified", "certified", "cert", cell="yesno"),
)


# --------------------------------------------------------------------------- scale
def _cd_row(row: Mapping[str, Any]) -> bool:
    return row["solver"] == "cd"


def _peer_row(row: Mapping[str, Any]) -> bool:
    return row["solver"] not in ("cd", "ngspice")


def _sources(row: Mapping[str, Any]) -> float:
    import pandas as pd

    v, i = row["vsources"], row["isources"]
    return (0 if pd.isna(v) else v) + (0 if pd.isna(i) else i)


#: one row per size × solver × run: ``scale_samples.csv`` (CSV only)
SCALE_SAMPLES: tuple[Column, ...] = tuple(
    Column(name)
    for name in (
        "family",
        "size",
        "seed",
        "solver",
        "phase",
        "repeat",
        "status",
        *TIMING_COLUMNS,
        "wall",
        "sweeps",
        "residual",
        "peak_rss",
        "mem_delta",
        "mem_method",
        "error",
        "run_id",
    )
)

#: one row per size × solver: ``resbench scale``
SCALE: tuple[Column, ...] = (
    Column("family"),
    Column("size", "size", "size", cell="label"),
    Column("seed"),
    Column("solver", "solver", "solver", cell="label"),
    Column("status", "status", "status", cell="status"),
    Column("nodes", "nodes", "nodes", cell="count", md="count", wide=True),
    Column("resistors", "resistors", "resistors", cell="count", md="count"),
    Column("diodes", "diodes", "diodes", cell="count", md="count", wide=True),
    Column("vsources"),
    Column("isources"),
    Column("sources", "sources", md="count", csv=False, value=_sources),
    Column("repeats", "runs", "runs", cell="count", md="count", wide=True),
    Column("total_median", "total median (s)", "total", cell="seconds"),
    Column("total_min", "total min (s)", "min", cell="seconds", wide=True),
    Column("total_max", "total max (s)", "max", cell="seconds", wide=True),
    Column("solve_median", "solve median (s)", "solve", cell="seconds", wide=True),
    Column("solve_min"),
    Column("solve_max"),
    Column("setup_median"),
    Column("compile"),
    Column("startup"),
    Column("sweeps", "sweeps", "sweeps", cell="count", md="count", wide=True),
    Column("residual"),
    Column("peak_rss", "peak RSS (MiB)", "peak RSS", cell="mib", md="mib", wide=True),
    Column("mem_delta", "run memory (MiB)", md="mib"),
    Column("bytes_per_resistor", "B/resistor", "B/resistor", cell="fmt:.2g", wide=True),
    Column("circuit_bytes"),
    Column("mem_method"),
    Column("speedup_total", "speedup", "speedup", cell="ratio", shown_if=_cd_row),
    Column("speedup_solve"),
    Column("max_abs_diff", "max |Δv| (V)", "max |Δv|", cell="fmt:.1e", shown_if=_cd_row),
    Column("max_rel_diff"),
    Column("worst_node", None, "worst node", wide=True, shown_if=_cd_row),
    Column("agree"),
    Column("certified", "certified", "certified", cell="yesno", wide=True),
    Column("feasibility"),
    Column("kcl"),
    Column("complementarity"),
    Column("build_seconds"),
    Column("run_id"),
    Column("message"),
)

#: the columns a sweep with peers (``scale --solvers cd,osqp,…``) adds at the end of
#: :data:`SCALE`: a peer's own claimed status, its largest |Δv| from the cd answer and
#: its median total time over cd's
SCALE_PEERS: tuple[Column, ...] = (
    Column("claimed", "claimed", "claimed", wide=True, shown_if=_peer_row),
    Column("diff_vs_cd", "max |Δv| from cd (V)", "Δv vs cd", cell="fmt:.1e", shown_if=_peer_row),
    Column("ratio_vs_cd", "time / cd", "/ cd", cell="ratio", shown_if=_peer_row),
)


def scale_columns(peers: bool = False) -> tuple[Column, ...]:
    """The scale summary's columns: :data:`SCALE`, plus :data:`SCALE_PEERS` when the
    sweep has peers (a sweep of cd and ngspice alone writes the same files as before)."""
    return SCALE + SCALE_PEERS if peers else SCALE


#: where a cell ran: the last columns of a ``--cluster`` sweep's summary (scale and
#: compare; resbench.bench.cluster.worker_info fills them); in-process runs omit them
WORKER: tuple[Column, ...] = (
    Column("worker_host", "worker", "worker", wide=True),
    Column("worker_cpu"),
    Column("worker_cores"),
)
