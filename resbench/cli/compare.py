"""``resbench compare --spice [PATH…]``: the fast solver vs ngspice, netlist by netlist."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from resbench.cli import options
from resbench.cli import tables as T

if TYPE_CHECKING:  # pandas is imported lazily (it is slow to import)
    import pandas as pd

    from resbench.bench.compare import CompareOptions, CompareRun


def render_table(summary: pd.DataFrame, solver: str, atol: float, *, wide: bool = False) -> Table:
    """The rich table of a comparison summary (columns from
    :data:`resbench.bench.columns.COMPARE`).  By default the columns that fit in 80
    characters (netlist, status, nodes, max |Δv|, both totals, speedup); ``wide`` adds
    resistors, diodes, the worst node, both certificates and the solve-only speedup."""
    from resbench.bench.columns import COMPARE

    title = f"{solver} vs ngspice" + (
        "" if wide else f": median total times, speedup = ngspice / {solver}"
    )
    rows = (r for _, r in summary.iterrows())
    return T.render(title, COMPARE, rows, wide=wide, solver=solver, atol=atol)


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
@T.wide
@click.option(
    "--inputs",
    "inputs",
    type=click.Path(dir_okay=False),
    default=None,
    help="A file of input samples (.csv, .npy, .npz: one column per source, one row per "
    "sample) for the one netlist given: each sample is checked against ngspice.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="With --inputs: compare at most this many samples, spread evenly over the file.",
)
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
    wide: bool,
    inputs: str | None,
    limit: int,
) -> None:
    """Solve every netlist with the fast solver and with ngspice and compare them.

    PATHS are netlist files or directories (their *.cir, *.sp, *.spi, *.net,
    *.spice, *.ckt files in any case, sorted, as 'resbench solve' finds them;
    directories named 'lib' are skipped); default: netlists/.  Both
    solvers get the same parsed circuit; after warm-up they run interleaved
    (A B A B …); every node voltage is compared, both answers are certified,
    and speedups are ratios of median times (total vs total and solve vs
    solve; parsing and JIT compilation excluded, compilation shown on its own).

    \b
    Files written to --out (unless --no-files): compare_samples.csv,
    compare_summary.csv, compare_summary.md and the compare.json sidecar;
    the CSV files are updated as each netlist finishes, and --out is locked
    while the run writes there (a second run on it stops with exit 2).
    A netlist with no elements is a row with status 'empty'.

    \b
    Many inputs: a netlist with a .dc card is compared with ngspice's own
    .dc sweep (every point; one row, times for the whole sweep).  With
    --inputs FILE and one netlist, --limit samples of the file are each solved
    alone (one network set up once) and by ngspice (netlist loaded once, the
    sources altered per sample): one row per sample with its median time per
    sample and speedup, then a row for all of them.
    Exit code: 0 all agree within --atol and certified; 1 a disagreement or
    an uncertified answer; 2 an error (bad netlist, ngspice failure or timeout);
    130 interrupted (Ctrl-C): the finished rows are kept in --out.
    """
    from resbench.bench.results import claim_output

    opts, files = _checked_options(
        spice, paths, solver, spice_mode, diode_model, repeats, warmup, atol, timeout, gmin
    )
    opts = _with_inputs(opts, files, inputs, limit)
    if not no_files:  # lock --out now: a second run stops before any work or output
        click.get_current_context().with_resource(claim_output(out_dir, "compare"))
    out, err = consoles(wide)
    run, interrupted = _run_with_progress(files, opts, err, None if no_files else out_dir)
    _print_report(out, err, run, opts, wide=wide)
    if interrupted:
        kept = f"kept in {out_dir}" if run.files else "not saved (--no-files)"
        err.print(
            f"interrupted: {len(run.summary)} of {run.planned} netlists finished; their rows are "
            f"{escape(kept)}",
            highlight=False,
        )
    sys.exit(run.exit_code)


def _checked_options(
    spice: bool,
    paths: tuple[str, ...],
    solver: str,
    spice_mode: str,
    diode_model: str,
    repeats: int,
    warmup: int,
    atol: float,
    timeout: float,
    gmin: float | None,
) -> tuple[CompareOptions, list]:
    """The validated comparison options and the netlists to compare; a
    :class:`~resbench.errors.ResbenchError` (exit 2) before any work if either is wrong."""
    from resbench.bench.compare import CompareOptions, collect_netlists
    from resbench.defaults import NETLIST_SUFFIXES
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
        gmin=gmin or None,  # 0: none
    )
    opts.validate()
    files = collect_netlists(paths or ("netlists",))
    if not files:
        kinds = ", ".join(f"*{x}" for x in NETLIST_SUFFIXES)
        raise ResbenchError(f"no netlists ({kinds}) found in {', '.join(paths)}")
    return opts, files


def _with_inputs(
    opts: CompareOptions, files: list, inputs: str | None, limit: int
) -> CompareOptions:
    """The options with ``--inputs``/``--limit`` (one netlist file only), checked."""
    import dataclasses

    from resbench.errors import ResbenchError

    if inputs is None:
        return opts
    if len(files) != 1:
        raise ResbenchError(
            f"--inputs needs exactly one netlist, got {len(files)}; give one netlist file"
        )
    opts = dataclasses.replace(opts, inputs=inputs, limit=limit)
    opts.validate()
    return opts


def consoles(wide: bool) -> tuple[Console, Console]:
    """stdout's console (a fixed width when piped or captured, so the table is not
    squeezed) and stderr's; compare and scale print through them."""
    out = Console()
    if not out.is_terminal:
        out = Console(width=200) if wide else Console(width=max(80, out.width))
    return out, Console(stderr=True)


def _run_with_progress(
    files: list, opts: CompareOptions, err: Console, out_dir: str | None
) -> tuple[CompareRun, bool]:
    """Run the comparison under a progress bar on stderr; returns the run and whether
    Ctrl-C interrupted it (then the run holds the netlists finished before)."""
    from resbench.bench.compare import CompareInterrupted, run_compare
    from resbench.cli.options import invocation
    from resbench.cli.progress import progress_bar

    per_netlist = 2 * (opts.repeats + opts.warmup)
    with progress_bar(err) as progress:
        task = progress.add_task("compare", total=len(files) * per_netlist)
        done = {"rows": 0}

        def before_run(label: str, who: str, phase: str, k: int) -> None:
            what = f"warm-up {k + 1}" if phase == "warmup" else f"run {k + 1}"
            progress.update(task, description=escape(f"{label}: {who} {what}"))

        def on_run(label: str, sample) -> None:
            progress.update(task, advance=1)

        def on_row(row: dict) -> None:
            done["rows"] += 1
            progress.update(task, completed=done["rows"] * per_netlist)

        try:
            run = run_compare(
                files,
                opts,
                on_run=on_run,
                on_row=on_row,
                before_run=before_run,
                out=out_dir,
                command=invocation(),
            )
        except CompareInterrupted as exc:
            progress.stop()
            return exc.run, True
    return run, False


def _print_report(
    out: Console, err: Console, run: CompareRun, opts: CompareOptions, *, wide: bool
) -> None:
    """The summary table, the settings line, JIT compile and worker start-up times
    (not in the totals), each failed netlist's message (stderr) and the files written."""
    solver, atol = opts.solver, opts.atol
    out.print(render_table(run.summary, solver, atol, wide=wide))
    s = run.summary
    compile_s = s["fast_compile"].max() if len(s) else float("nan")
    startup_s = s["spice_startup"].max() if len(s) else float("nan")
    out.print(
        f"medians of {opts.repeats} interleaved repeats after {opts.warmup} warm-up; "
        f"ngspice {opts.spice_mode} mode, {opts.diode_model} diodes; atol {atol:g} V"
        + ("" if wide else "; --wide for every column")
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
    if run.files:
        out.print(f"results: {', '.join(str(p) for p in run.files.values())}", soft_wrap=True)
