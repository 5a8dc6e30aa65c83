"""``resbench compare --spice [PATH…]``: the fast solver vs ngspice, netlist by netlist."""

from __future__ import annotations

import math
import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from resbench.cli import options

_STATUS_STYLE = {
    "ok": "green",
    "disagree": "bold red",
    "uncertified": "bold red",
    "error": "bold yellow",
    "timeout": "bold yellow",
    "failed": "bold yellow",
}


def _fmt(x, spec: str = ".3g", unit: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:{spec}}{unit}"


def _count(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{int(x):,}"


def _yesno(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return "yes" if bool(x) else "[bold red]no[/]"


def render_table(summary, solver: str, atol: float) -> Table:
    """The rich table of a comparison summary."""
    table = Table(title=f"{solver} vs ngspice", show_lines=False)
    for col, justify in (
        ("netlist", "left"),
        ("status", "left"),
        ("nodes", "right"),
        ("R", "right"),
        ("D", "right"),
        ("max |Δv|", "right"),
        ("worst node", "left"),
        (f"{solver} cert", "center"),
        ("spice cert", "center"),
        (f"{solver} total", "right"),
        ("ngspice total", "right"),
        ("speedup total", "right"),
        ("speedup solve", "right"),
    ):
        table.add_column(col, justify=justify)
    for _, r in summary.iterrows():
        style = _STATUS_STYLE.get(r["status"], "")
        dv = r["max_abs_diff"]
        dv_text = _fmt(dv, ".2e")
        if isinstance(dv, float) and dv > atol:
            dv_text = f"[bold red]{dv_text}[/]"
        table.add_row(
            escape(str(r["netlist"])),
            f"[{style}]{r['status']}[/]" if style else str(r["status"]),
            _count(r["nodes"]),
            _count(r["resistors"]),
            _count(r["diodes"]),
            dv_text,
            escape(str(r["worst_node"])) if r["worst_node"] is not None else "–",
            _yesno(r["fast_certified"]),
            _yesno(r["spice_certified"]),
            _fmt(r["fast_total_median"], ".3g", " s"),
            _fmt(r["spice_total_median"], ".3g", " s"),
            _fmt(r["speedup_total"], ".3g", "×"),
            _fmt(r["speedup_solve"], ".3g", "×"),
        )
    return table


@click.command()
@click.option(
    "--spice/--no-spice",
    default=True,
    show_default=True,
    help="Compare against ngspice (the only comparison so far).",
)
@options.paths
@options.fast_solver
@options.repeats
@options.warmup
@options.atol
@options.timeout
@options.spice_mode
@options.diode_model
@options.gmin
@options.out_dir
@options.no_files
def compare(
    spice: bool,
    paths: tuple[str, ...],
    solver: str,
    repeats: int,
    warmup: int,
    atol: float,
    timeout: float,
    spice_mode: str,
    diode_model: str,
    gmin: float | None,
    out_dir: str,
    no_files: bool,
) -> None:
    """Solve every netlist with the fast solver and with ngspice and compare them.

    PATHS are netlist files or directories (their *.cir, *.sp, *.net files,
    sorted; directories named 'lib' are skipped); default: netlists/.  Both
    solvers get the same parsed circuit; after warm-up they run interleaved
    (A B A B …); every node voltage is compared, both answers are certified,
    and speedups are ratios of median times (total vs total and solve vs
    solve; parsing and JIT compilation excluded, compilation shown on its own).

    \b
    Files written to --out (unless --no-files): compare_samples.csv,
    compare_summary.csv, compare_summary.md and the compare.json sidecar.
    Exit code: 0 all agree within --atol and certified; 1 a disagreement or
    an uncertified answer; 2 an error (bad netlist, ngspice failure or timeout).
    """
    from resbench.bench.compare import (
        CompareOptions,
        collect_netlists,
        run_compare,
        write_compare_files,
    )
    from resbench.cli.options import invocation
    from resbench.errors import ResbenchError

    if not spice:
        raise ResbenchError("nothing to compare with: --spice is the only comparison so far")
    opts = CompareOptions(
        solver=solver,
        spice_mode=spice_mode,
        diode_model=diode_model,
        repeats=repeats,
        warmup=warmup,
        atol=atol,
        timeout=timeout,
        gmin=gmin,
    )
    opts.validate()
    files = collect_netlists(paths or ("netlists",))
    if not files:
        raise ResbenchError(f"no netlists (*.cir, *.sp, *.net) found in {', '.join(paths)}")

    out = Console()
    if not out.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        out = Console(width=200)
    err = Console(stderr=True)
    per_netlist = 2 * (repeats + warmup)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("compare", total=len(files) * per_netlist)
        done = {"rows": 0}

        def on_run(label: str, sample) -> None:
            progress.update(task, advance=1, description=escape(f"{label} [{sample.solver}]"))

        def on_row(row: dict) -> None:
            done["rows"] += 1
            progress.update(task, completed=done["rows"] * per_netlist)

        run = run_compare(files, opts, on_run=on_run, on_row=on_row)

    out.print(render_table(run.summary, solver, atol))
    s = run.summary
    compile_s = s["fast_compile"].max() if len(s) else float("nan")
    startup_s = s["spice_startup"].max() if len(s) else float("nan")
    out.print(
        f"medians of {repeats} interleaved repeats after {warmup} warm-up; "
        f"ngspice {spice_mode} mode, {diode_model} diodes; atol {atol:g} V"
    )
    if compile_s == compile_s:
        out.print(f"{solver} JIT compile (not in totals): {compile_s:.3g} s")
    if startup_s == startup_s:
        out.print(f"ngspice worker start-up (not in totals): {startup_s:.3g} s")
    for _, r in s[s["message"].notna()].iterrows():
        err.print(
            f"[bold]{escape(str(r['netlist']))}[/] ({r['status']}): {escape(str(r['message']))}",
            highlight=False,
        )
    if not no_files:
        written = write_compare_files(run, out_dir, command=invocation())
        out.print(f"results: {', '.join(str(p) for p in written.values())}", soft_wrap=True)
    sys.exit(run.exit_code)
