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
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table

from resbench.cli import options
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


def _solve_one(
    path: Path,
    solver: str,
    rtol: float,
    solver_options: dict,
    phases: PhaseStatus,
) -> Solution:
    from resbench.netlist import read_netlist
    from resbench.solvers import solve as run_solve

    try:
        size = path.stat().st_size if path.is_file() else 0
    except OSError:
        size = 0
    if size >= PROGRESS_MIN_ELEMENTS * _BYTES_PER_LINE:
        phases.show(f"parsing {path} ({size / 1e6:.3g} MB)…")
    circuit = read_netlist(path)
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
) -> None:
    """Solve NETLIST files (or directories of them) and show node voltages,
    diode states, source currents, sweeps, times and the optimality certificate.

    \b
    Exit codes:
      0  every answer certified
      1  an answer did not certify (or the solver stalled)
      2  bad input (unreadable netlist, a circuit without a unique solution,
         an output that cannot be written) or a failed run (no finite answer)
    """
    from resbench.solvers.registry import get_solver, solver_names

    spec = get_solver(solver)
    takes = spec.option_names()
    explicit = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    for name, field in _OPTION_FIELDS.items():
        if field not in takes and ctx.get_parameter_source(name) in explicit:
            flag = "--" + name.replace("_", "-")
            users = [n for n in solver_names() if field in get_solver(n).option_names()]
            raise click.UsageError(
                f"{flag} applies to --solver {', '.join(users)} only (not {solver})"
            )
    diodes = show_diodes or diodes_alias
    if output == "-":  # as in generate: '-' is standard output
        output = None
    fmt = options.output_format(fmt, output)
    if output is not None:
        options.prepare_output(output)  # a bad -o fails before any work
    files = expand_paths(netlists)
    if not files:
        raise ResbenchError(f"no netlists found in {', '.join(netlists)}")
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
        try:
            sol = _solve_one(path, solver, rtol, solver_options, phases)
        except ResbenchError as exc:
            click.echo(exc.format(), err=True)
            exit_code = max(exit_code, EXIT_BAD_INPUT)
            continue
        except OSError as exc:
            click.echo(f"error: {exc.filename or path}: {exc.strerror or exc}", err=True)
            exit_code = max(exit_code, EXIT_BAD_INPUT)
            continue
        sols.append(sol)
        if sol.status in (FAILED, TIMEOUT):
            exit_code = max(exit_code, EXIT_BAD_INPUT)
        elif not sol.ok:
            exit_code = max(exit_code, EXIT_NOT_CERTIFIED)
        if fmt == "table":
            render_table(sol, console, diodes=diodes, limit=limit, wide=wide)
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
