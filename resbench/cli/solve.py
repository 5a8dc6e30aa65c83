"""``resbench solve``: solve netlists and show the answer with its proof.

Renders only: parsing is ``resbench.netlist``'s, solving and certifying
``resbench.solvers``'.  Output formats: ``table`` (rich, readable at 80
columns; ``--wide`` for every column), ``md`` (the same tables in markdown),
``csv`` and ``json`` (everything, always valid JSON: non-finite numbers are
``null``).  ``-o FILE`` takes its format from the extension unless
``--format`` is given.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table

from resbench.cli import batch_solve, options
from resbench.defaults import (
    CD_DEFAULT_MAX_SWEEPS,
    CD_DEFAULT_OMEGA,
    CD_DEFAULT_POLISH,
    CD_DEFAULT_TOL,
    CD_POLISH_MODES,
    find_netlists,
)
from resbench.defaults import NETLIST_SUFFIXES as NETLIST_SUFFIXES  # re-export
from resbench.errors import ResbenchError
from resbench.solution import FAILED, TIMEOUT, Solution

if TYPE_CHECKING:
    from resbench.circuit import Circuit

EXIT_OK, EXIT_NOT_CERTIFIED, EXIT_BAD_INPUT = 0, 1, 2

#: show the phase status line on a terminal's stderr for circuits at least this large
#: (elements), or netlist files of about as many lines
PROGRESS_MIN_ELEMENTS = 100_000
_BYTES_PER_LINE = 32  # a netlist line, roughly: "r123456 n1234 n5678 1.2345e+03\n"

#: solver-specific options of the command -> the field of the solver's options dataclass
#: (resbench.solvers.registry) they fill; a solver whose options lack that field refuses them
_OPTION_FIELDS = {
    "tol": "tol",
    "max_sweeps": "max_sweeps",
    "omega": "omega",
    "polish": "polish",
    "spice_mode": "mode",
    "diode_model": "diode_model",
    "timeout": "timeout",
}
_WIDE_WIDTH = 200  # console width of --wide when not on a terminal


def expand_paths(paths: tuple[str, ...]) -> list[Path]:
    """Files as given; directories expanded to their netlists (sorted, ``lib/`` skipped) by
    the finder every command shares (``resbench.defaults.find_netlists``).  A missing path
    is kept: reading it reports the error for that file and the others still run."""
    return find_netlists(paths, must_exist=False)


# ------------------------------------------------------------------ numbers
def _num(x: float | None, spec: str = ".9g", unit: str = "") -> str:
    """A number for a table cell; '–' for unknown (None) or non-finite values."""
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:{spec}}{unit}"


def _ms(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    return f"{1e3 * seconds:.3g} ms" if seconds < 1.0 else f"{seconds:.3g} s"


# ----------------------------------------------------------- footer lines
def uniqueness_lines(sol: Solution, width: int = 78) -> list[tuple[str, str]]:
    """Yellow lines saying the answer is not unique, which nodes can shift and by how
    much, and which of the optimal answers is shown (empty for a unique answer)."""
    if sol.info.get("unique") is not False:
        return []
    text = str(sol.info.get("uniqueness") or "answer NOT UNIQUE")
    shown = sol.info.get("answer")
    if shown:
        text += f". Shown: {shown}."
    return [("yellow", line) for line in textwrap.wrap(text, width, subsequent_indent="  ")]


def footer_lines(sol: Solution) -> list[tuple[str, str]]:
    """The summary under the tables as (style, text) lines, each short enough for
    80 columns: size, solver and status, times, certificate."""
    d = sol.to_dict()
    s = d["sizes"]
    lines: list[tuple[str, str]] = [
        (
            "",
            f"size: {s['nodes']:,} nodes, {s['resistors']:,} resistors, {s['diodes']:,} diodes, "
            f"{s['vsources']:,} V sources, {s['isources']:,} I sources",
        )
    ]
    how = ""
    if sol.solver == "ngspice":
        how = f" ({sol.info.get('mode', '?')} mode, {sol.info.get('diode_model', '?')} diodes)"
    status_style = "green" if sol.ok else ("yellow" if sol.status in (FAILED, TIMEOUT) else "red")
    lines.append((status_style, f"solver: {sol.solver}{how}, status: {sol.status}"))
    if sol.info.get("error"):
        lines.append(("yellow", f"  error: {sol.info['error']}"))
    lines.extend(uniqueness_lines(sol))
    if sol.solver == "cd":
        omega = sol.info.get("omega")
        om = f" (ω = {omega:.3g})" if isinstance(omega, float) and math.isfinite(omega) else ""
        lines.append(
            ("", f"sweeps: {sol.sweeps:,}{om}, KCL residual: {_num(sol.residual, '.3g')} A")
        )
        if sol.info.get("direct"):
            lines.append(
                (
                    "",
                    f"direct finish ({sol.info.get('direct_backend')}): "
                    f"{sol.info.get('direct_iterations')} active-set step(s), "
                    f"{sol.info.get('direct_solves')} factorisation(s)",
                )
            )
        if sol.info.get("polished"):
            lines.append(
                ("", f"polish: {sol.info.get('polish_iterations')} active-set iteration(s)")
            )
    tm = sol.timings
    lines.append(
        (
            "",
            f"time: setup {_ms(tm.get('setup'))} + solve {_ms(tm.get('solve'))} "
            f"= total {_ms(tm.get('total'))}",
        )
    )
    if sol.solver == "ngspice" and "analysis" in tm:
        for parts in (("emit", "transfer", "load"), ("analysis", "fetch")):  # 80 columns
            shown = ", ".join(f"{k} {_ms(tm[k])}" for k in parts if k in tm)
            lines.append(("", f"  ngspice: {shown}"))
    if tm.get("compile"):
        lines.append(("", f"JIT compile: {_ms(tm['compile'])} (not in total)"))
    if tm.get("startup"):
        lines.append(("", f"ngspice worker start-up: {_ms(tm['startup'])} (not in total)"))
    cert = sol.certificate
    if cert is None:
        lines.append(("yellow", "certificate: none (no finite answer to check)"))
    else:
        lines.append(
            (
                "green" if cert.ok else "red",
                f"certificate: {'certified' if cert.ok else 'NOT certified'}",
            )
        )
        lines.append(
            (
                "",
                f"  residuals: feas {cert.feasibility:.3g} V, KCL {cert.kcl:.3g} A, "
                f"compl {cert.complementarity:.3g} W",
            )
        )
        lines.append(
            (
                "",
                f"  tolerances: {cert.feas_tol:.3g} V, {cert.kcl_tol:.3g} A, {cert.comp_tol:.3g} W",
            )
        )
        if not cert.ok:
            where = []
            if not cert.feasibility <= cert.feas_tol and cert.worst_element is not None:
                where.append(f"worst element {cert.worst_element}")
            if not cert.kcl <= cert.kcl_tol and cert.worst_node is not None:
                where.append(f"worst node {cert.worst_node}")
            if where:
                lines.append(("red", "  " + ", ".join(where)))
    return lines


# ------------------------------------------------------------------ tables
def _columns(kind: str, wide: bool) -> list[tuple[str, str, str]]:
    """(key, header, justify) of the diode and voltage-source tables; names, state and
    current by default, the terminals too with --wide."""
    if kind == "diodes":
        cols = [("name", "diode", "left")]
        if wide:
            cols += [("anode", "anode", "left"), ("cathode", "cathode", "left")]
        return cols + [("state", "state", "left"), ("current", "current (A)", "right")]
    cols = [("name", "source", "left")]
    if wide:
        cols += [("plus", "+", "left"), ("minus", "-", "left")]
    return cols + [("voltage", "V", "right"), ("current", "current (A)", "right")]


def _cell(key: str, value) -> str:
    if key in ("current", "voltage"):
        return _num(value)
    return str(value)


def _rows(d: dict, limit: int) -> dict[str, tuple[list[dict], int]]:
    """Per table (nodes but ground, diodes, vsources): the rows shown (``limit``, 0 = all)
    and how many rows there are."""
    nodes = [{"name": k, "voltage": v} for k, v in d["nodes"].items() if k != "0"]
    return {
        key: (rows if limit <= 0 else rows[:limit], len(rows))
        for key, rows in (("nodes", nodes), ("diodes", d["diodes"]), ("vsources", d["vsources"]))
    }


def render_table(
    sol: Solution, console: Console, *, diodes: bool, limit: int, wide: bool = False
) -> None:
    """Rich tables (nodes, optionally diodes, voltage sources) and the footer."""
    d = sol.to_dict()
    src = d["source"] or "<circuit>"
    console.rule(f"[bold]{escape(src)}[/bold] — {escape(d['title'])}")
    shown = _rows(d, limit)
    more = {
        "nodes": "more nodes (use --limit 0, or -o FILE.csv / FILE.json)",
        "diodes": "more diodes",
        "vsources": "more sources",
    }
    tables = [
        ("nodes", "node voltages", [("name", "node", "left"), ("voltage", "voltage (V)", "right")])
    ]
    if diodes and d["diodes"]:
        tables.append(("diodes", "diodes", _columns("diodes", wide)))
    if d["vsources"]:
        tables.append(("vsources", "voltage sources", _columns("vsources", wide)))
    for key, title, cols in tables:
        rows, total = shown[key]
        t = Table(title=title, title_justify="left")
        for _, header, justify in cols:
            t.add_column(header, justify=justify, overflow="fold")
        for r in rows:
            t.add_row(*(escape(_cell(k, r[k])) for k, _, _ in cols))
        console.print(t)
        if len(rows) < total:
            console.print(f"… {total - len(rows)} {more[key]}", highlight=False)
    for style, text in footer_lines(sol):
        console.print(f"[{style}]{escape(text)}[/]" if style else escape(text), highlight=False)
    for w in sol.circuit.warnings:
        console.print(f"[yellow]note:[/yellow] {escape(w)}", highlight=False)


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(sols: list[Solution], *, diodes: bool, limit: int) -> str:
    """The tables and footer in GitHub markdown (every column; ``limit`` rows per table)."""
    out: list[str] = []
    for sol in sols:
        d = sol.to_dict()
        out.append(f"## {_md_cell(d['source'] or '<circuit>')} — {_md_cell(d['title'])}\n")
        shown = _rows(d, limit)
        tables = [("nodes", [("name", "node", "left"), ("voltage", "voltage (V)", "right")])]
        if diodes and d["diodes"]:
            tables.append(("diodes", _columns("diodes", True)))
        if d["vsources"]:
            tables.append(("vsources", _columns("vsources", True)))
        for key, cols in tables:
            rows, total = shown[key]
            out.append("| " + " | ".join(_md_cell(h) for _, h, _ in cols) + " |")
            out.append("|" + "|".join("---:" if j == "right" else "---" for _, _, j in cols) + "|")
            for r in rows:
                out.append("| " + " | ".join(_md_cell(_cell(k, r[k])) for k, _, _ in cols) + " |")
            if len(rows) < total:
                out.append(f"\n… {total - len(rows)} more (csv and json hold every row)")
            out.append("")
        out += [f"- {_md_cell(text.strip())}" for _, text in footer_lines(sol)]
        out += [f"- note: {_md_cell(w)}" for w in sol.circuit.warnings]
        out.append("")
    return "\n".join(out)


def render_csv(sols: list[Solution]) -> str:
    """One row per node, diode and voltage source of every solution (empty cell: unknown)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["file", "kind", "name", "value", "state", "current"])

    def cell(x: float | None) -> str:
        return "" if x is None else repr(x)

    for sol in sols:
        d = sol.to_dict()
        f = d["source"] or ""
        for name, v in d["nodes"].items():
            w.writerow([f, "node", name, cell(v), "", ""])
        for r in d["diodes"]:
            w.writerow([f, "diode", r["name"], "", r["state"], cell(r["current"])])
        for r in d["vsources"]:
            w.writerow([f, "vsource", r["name"], cell(r["voltage"]), "", cell(r["current"])])
    return buf.getvalue()


def render_json(sols: list[Solution]) -> str:
    """One object (one solution) or a list; strict JSON (no Infinity / NaN)."""
    payload = [s.to_dict() for s in sols]
    return json.dumps(payload[0] if len(payload) == 1 else payload, indent=2, allow_nan=False)


class _StdoutConsole(Console):
    """stdout's console: a reader that closed the pipe (``| head``) ends the command the
    way every command ends then (cli.main: exit 141, quietly), not with rich's exit 1,
    which means 'not certified' here."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


# ----------------------------------------------------------------- progress
def _stderr_console() -> Console:
    return Console(stderr=True)


class PhaseStatus:
    """A transient spinner on stderr naming the phase at work (parse, solve, certify).

    Shown only when stderr is a terminal and the work is large (see
    PROGRESS_MIN_ELEMENTS): small solves take milliseconds, and pipes and files
    get nothing.  stdout is never touched.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.enabled = console.is_terminal
        self._live: Live | None = None

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        spinner = Spinner("dots", text=escape(text))
        if self._live is None:
            self._live = Live(
                spinner,
                console=self.console,
                transient=True,
                refresh_per_second=8,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start(refresh=True)
        else:
            self._live.update(spinner, refresh=True)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def _read_one(path: Path, phases: PhaseStatus) -> Circuit:
    """Read one netlist, with the phase status line for large files."""
    from resbench.netlist import read_netlist

    try:
        size = path.stat().st_size if path.is_file() else 0
    except OSError:
        size = 0
    if size >= PROGRESS_MIN_ELEMENTS * _BYTES_PER_LINE:
        phases.show(f"parsing {path} ({size / 1e6:.3g} MB)…")
    try:
        return read_netlist(path)
    finally:
        phases.stop()


def _solve_one(
    circuit: Circuit,
    solver: str,
    rtol: float,
    solver_options: dict,
    phases: PhaseStatus,
) -> Solution:
    from resbench.solvers import solve as run_solve

    s = circuit.sizes()
    elements = s["resistors"] + s["diodes"] + s["vsources"] + s["isources"]
    on_phase: Callable[[str], None] | None = None
    if elements >= PROGRESS_MIN_ELEMENTS:
        label = {
            "solve": f"solving with {solver}: setup + solve ({s['resistors']:,} resistors, "
            f"{s['nodes']:,} nodes)…",
            "certify": f"certifying the answer ({elements:,} elements)…",
        }

        def on_phase(phase: str) -> None:
            phases.show(label.get(phase, phase))

    try:
        return run_solve(circuit, solver, rtol=rtol, on_phase=on_phase, **solver_options)
    finally:
        phases.stop()


def _failure_line(exc: ResbenchError | OSError, path: Path) -> str:
    """One line for a netlist that could not be read or solved (the others still run)."""
    if isinstance(exc, ResbenchError):
        return exc.format()
    return f"error: {exc.filename or path}: {exc.strerror or exc}"


# ------------------------------------------------------------------ command
@click.command()
@click.argument("netlists", nargs=-1, required=True, type=click.Path())
@options.solver
@click.option(
    "--tol",
    type=options.POSITIVE,
    default=CD_DEFAULT_TOL,
    show_default=True,
    help="cd: stopping rule, estimated voltage error ≤ tol × voltage scale "
    "(largest source voltage).",
)
@click.option(
    "--max-sweeps",
    type=options.POSITIVE_INT,
    default=CD_DEFAULT_MAX_SWEEPS,
    show_default=True,
    help="cd: sweep limit (then the exact polish finishes).",
)
@click.option(
    "--omega",
    type=options.OMEGA,
    default=CD_DEFAULT_OMEGA,
    show_default=True,
    help="cd: over-relaxation factor in (0, 2), or 'auto' (1 on DRN-like nets, Young's "
    "optimum estimated from the first sweeps on grid-like nets).",
)
@click.option(
    "--polish",
    type=click.Choice(CD_POLISH_MODES),
    default=CD_DEFAULT_POLISH,
    show_default=True,
    help="cd: exact active-set polish after the sweeps: auto = when diodes join two free "
    "nodes or the sweeps did not converge.",
)
@options.gmin
@options.rtol
@options.spice_mode
@options.diode_model
@options.strict
@options.timeout
@click.option(
    "--show-diodes",
    "show_diodes",
    is_flag=True,
    help="Show each diode's state and current.",
)
@click.option(
    "--diodes",
    "diodes_alias",
    is_flag=True,
    hidden=True,
    help="Deprecated spelling of --show-diodes (kept so that older commands still work).",
)
@click.option(
    "--wide",
    is_flag=True,
    help="Every column (diode anode/cathode, source terminals) and no 80-column limit.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "md", "csv", "json"]),
    default=None,
    help="Output format.  Default: from -o FILE's extension (.csv, .json, .md), else table.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the output to FILE ('-': standard output) instead of the terminal "
    "(missing folders are created; the file is replaced at once, never left half written).",
)
@click.option(
    "--limit",
    type=options.NON_NEGATIVE_INT,
    default=40,
    show_default=True,
    help="Rows shown per table in table and md output (0 = all); csv and json hold everything.",
)
@click.option(
    "--inputs",
    metavar="FILE",
    type=click.Path(path_type=str),
    default=None,
    help="Solve NETLIST once per row of FILE (.csv: a header row of source names; .npz: one "
    "array per source name, or 'values' + 'names'; .npy: one column per V then I source, in "
    "netlist order).  Names are V or I sources; the others keep their netlist values.  "
    "-o FILE.npz|.csv|.parquet writes every answer.",
)
@click.option(
    "--dtype",
    type=click.Choice(options.DTYPES),
    default="float64",
    show_default=True,
    help="Batch (--inputs, .dc): precision of the sweeps; the certificate is float64 "
    "(float32: certified at a looser --rtol unless given).",
)
@click.option(
    "--threads",
    type=options.POSITIVE_INT,
    default=None,
    help="Batch (--inputs, .dc): threads for the sweeps and BLAS.  Default: every core.",
)
@click.option(
    "--certify",
    type=options.CERTIFY,
    default="all",
    show_default=True,
    help="Batch (--inputs, .dc): certify all samples, none, or N spread over the batch.",
)
@click.option(
    "--currents",
    is_flag=True,
    help="Batch (--inputs, .dc): also compute diode and voltage-source currents (written to -o).",
)
@click.option(
    "--plot",
    metavar="PNG",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="A .dc netlist: also write a PNG of the node voltages against the swept source.",
)
@click.pass_context
def solve(
    ctx: click.Context,
    netlists: tuple[str, ...],
    solver: str,
    tol: float,
    max_sweeps: int,
    omega: float | str,
    polish: str,
    gmin: float | None,
    rtol: float,
    spice_mode: str,
    diode_model: str,
    timeout: float,
    show_diodes: bool,
    diodes_alias: bool,
    wide: bool,
    fmt: str | None,
    output: str | None,
    limit: int,
    inputs: str | None,
    dtype: str,
    threads: int | None,
    certify: bool | int,
    currents: bool,
    plot: str | None,
) -> None:
    """Solve NETLIST files (or directories of them) and show node voltages,
    diode states, source currents, sweeps, times and the optimality certificate.

    With --inputs FILE, solve one NETLIST for every row of FILE (a batch: the
    network is set up once); with a .dc card in a single NETLIST, run its sweep.
    Both print a summary (samples, converged / certified counts, worst residuals,
    sweeps, time per sample) and write every answer to -o FILE.npz|.csv|.parquet.

    \b
    Exit codes:
      0  every answer certified (batch: every sample converged and certified)
      1  an answer did not certify (or the solver stalled); batch: a sample
         did not converge or certify
      2  bad input (unreadable netlist or inputs file, a circuit without a unique
         solution, a batch too big for memory, an output that cannot be written)
         or a failed run (no finite answer)
    """
    from resbench.solvers.registry import get_solver, solver_names

    spec = get_solver(solver)
    takes = spec.option_names()
    explicit = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    given = {name for name in ctx.params if ctx.get_parameter_source(name) in explicit}
    for name, field in _OPTION_FIELDS.items():
        if field not in takes and name in given:
            flag = "--" + name.replace("_", "-")
            users = [n for n in solver_names() if field in get_solver(n).option_names()]
            raise click.UsageError(
                f"{flag} applies to --solver {', '.join(users)} only (not {solver})"
            )
    if output == "-":  # as in generate: '-' is standard output
        output = None
    batch = _batch_options(ctx, given)
    if inputs is not None:
        sys.exit(_inputs_run(netlists, inputs, batch, given, solver, output, plot, limit, wide))
    diodes = show_diodes or diodes_alias
    fmt = options.output_format(fmt, output)
    if output is not None:
        options.prepare_output(output)  # a bad -o fails before any work
    files = expand_paths(netlists)
    if not files:
        raise ResbenchError(f"no netlists found in {', '.join(netlists)}")
    batch_flags = sorted(f"--{n}" for n in _BATCH_ONLY if n in given)
    if batch_flags and len(files) != 1:
        raise click.UsageError(
            f"{', '.join(batch_flags)} apply to --inputs FILE or to one netlist with a .dc card"
        )
    solver_options = {
        field: ctx.params[name] for name, field in _OPTION_FIELDS.items() if field in takes
    }
    if gmin and "gmin" in takes:  # unset or 0: the solver's own default (no leak)
        solver_options["gmin"] = gmin

    stream = output is None and fmt == "table"  # print each answer as soon as it is ready
    buffer = io.StringIO()
    if stream:
        console = _StdoutConsole(highlight=False)
        if wide and not console.is_terminal:
            console = _StdoutConsole(highlight=False, width=_WIDE_WIDTH)
    else:
        console = Console(file=buffer, width=_WIDE_WIDTH if wide else 80, highlight=False)
    phases = PhaseStatus(_stderr_console())
    exit_code = EXIT_OK
    sols: list[Solution] = []
    for path in files:
        t0 = time.perf_counter()
        try:
            circuit = _read_one(path, phases)
        except (ResbenchError, OSError) as exc:
            click.echo(_failure_line(exc, path), err=True)
            exit_code = max(exit_code, EXIT_BAD_INPUT)
            continue
        if getattr(circuit, "dc", None) is not None and len(files) == 1:
            # its failures reach the command group: one line, exit 2, no -o written
            setup = time.perf_counter() - t0
            sys.exit(
                _sweep_run(path, circuit, batch, given, solver, output, plot, limit, wide, setup)
            )
        if batch_flags or plot is not None:
            what = ", ".join(batch_flags + (["--plot"] if plot is not None else []))
            raise click.UsageError(
                f"{what} apply to --inputs FILE or to a netlist with a .dc card ({path} has none)"
            )
        try:
            sol = _solve_one(circuit, solver, rtol, solver_options, phases)
        except (ResbenchError, OSError) as exc:
            click.echo(_failure_line(exc, path), err=True)
            exit_code = max(exit_code, EXIT_BAD_INPUT)
            continue
        sols.append(sol)
        if sol.status in (FAILED, TIMEOUT):
            exit_code = max(exit_code, EXIT_BAD_INPUT)
        elif not sol.ok:
            exit_code = max(exit_code, EXIT_NOT_CERTIFIED)
        if fmt == "table":
            render_table(sol, console, diodes=diodes, limit=limit, wide=wide)
            if getattr(circuit, "dc", None) is not None:
                console.print(
                    f"[yellow]note:[/yellow] {escape(str(path))} has a .dc card; solve it on "
                    "its own to run the sweep (shown: its operating point)",
                    highlight=False,
                )
    if fmt == "csv":
        text = render_csv(sols)
    elif fmt == "json":
        text = render_json(sols) + "\n"
    elif fmt == "md":
        text = render_markdown(sols, diodes=diodes, limit=limit)
    else:
        text = buffer.getvalue()
    if output is not None:
        options.write_output(output, text)
    elif text:
        click.echo(text, nl=False)
    sys.exit(exit_code)


# ------------------------------------------------------------------ batches
#: options of batch runs only (--inputs, .dc sweeps)
_BATCH_ONLY = ("dtype", "threads", "certify", "currents")
#: options of single solves only: refused in a batch run (the batch engine is cd's)
_SINGLE_ONLY = ("polish", "show_diodes", "diodes_alias", "fmt")


def _inputs_run(
    netlists: tuple[str, ...],
    inputs: str,
    batch: batch_solve.BatchOptions,
    given: set[str],
    solver: str,
    output: str | None,
    plot: str | None,
    limit: int,
    wide: bool,
) -> int:
    """``--inputs FILE``: check the options and -o before any work, then run the batch."""
    _refuse_single_only(given, solver, "--inputs")
    if plot is not None:
        raise click.UsageError("--plot draws a .dc sweep; it does not apply to --inputs")
    path = _one_netlist(netlists, "--inputs")
    _check_batch_output(output)
    out, err = _batch_consoles(wide)
    return batch_solve.run_inputs(
        path, inputs, batch, output=output, out=out, err=err, limit=limit, wide=wide
    )


def _sweep_run(
    path: Path,
    circuit: Circuit,
    batch: batch_solve.BatchOptions,
    given: set[str],
    solver: str,
    output: str | None,
    plot: str | None,
    limit: int,
    wide: bool,
    setup: float,
) -> int:
    """One netlist with a ``.dc`` card: check the options, -o and --plot, run the sweep."""
    _refuse_single_only(given, solver, "a .dc sweep")
    _check_batch_output(output)
    if plot is not None:
        options.prepare_output(plot)
    out, err = _batch_consoles(wide)
    return batch_solve.run_sweep(
        path,
        circuit,
        batch,
        output=output,
        plot=plot,
        out=out,
        err=err,
        limit=limit,
        wide=wide,
        setup=setup,
    )


def _batch_options(ctx: click.Context, given: set[str]) -> batch_solve.BatchOptions:
    """The batch engine's options from the command's (``--rtol`` only when given: the
    engine's default depends on the dtype)."""
    p = ctx.params
    return batch_solve.BatchOptions(
        tol=p["tol"],
        max_sweeps=p["max_sweeps"],
        omega=p["omega"],
        rtol=p["rtol"] if "rtol" in given else None,
        gmin=p["gmin"],
        dtype=p["dtype"],
        threads=p["threads"],
        certify=p["certify"],
        currents=p["currents"],
    )


def _refuse_single_only(given: set[str], solver: str, what: str) -> None:
    """A batch run uses cd's batch engine: refuse options that would be silently ignored."""
    if solver != "cd":
        raise click.UsageError(f"{what} runs cd's batch engine; --solver {solver} does not apply")
    flags = {
        "polish": "--polish",
        "show_diodes": "--show-diodes",
        "diodes_alias": "--diodes",
        "fmt": "--format",
    }
    bad = [flags[n] for n in _SINGLE_ONLY if n in given]
    if bad:
        raise click.UsageError(
            f"{', '.join(bad)} apply to single solves, not to {what} (its output format "
            "comes from -o FILE.npz|.csv|.parquet)"
        )


def _one_netlist(netlists: tuple[str, ...], what: str) -> Path:
    files = expand_paths(netlists)
    if len(files) != 1:
        found = "none" if not files else f"{len(files)}"
        raise click.UsageError(f"{what} takes exactly one netlist (found {found})")
    return files[0]


def _check_batch_output(output: str | None) -> None:
    """Refuse, before any work, a batch -o whose format cannot be written or whose
    folder is not writable."""
    if output is None:
        return
    from resbench.batch.io import check_output

    check_output(output)
    options.prepare_output(output)


def _batch_consoles(wide: bool) -> tuple[Console, Console]:
    out = _StdoutConsole(highlight=False)
    if not out.is_terminal:
        out = _StdoutConsole(highlight=False, width=_WIDE_WIDTH if wide else 80)
    return out, Console(stderr=True)
