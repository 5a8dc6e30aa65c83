"""``resbench compare [--solvers cd,ngspice,osqp,…] [PATH…]``: the fast solver vs ngspice and
the peer solvers, netlist by netlist."""

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


def parse_solvers(value: str | None, valid: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """A ``--solvers`` comma list as registry names (``spice`` is ``ngspice``), in order,
    without repeats; a ResbenchError naming the valid names for an unknown one."""
    from resbench.errors import ResbenchError
    from resbench.solvers.registry import solver_names

    valid = valid or solver_names()
    names: list[str] = []
    for item in (value or "").split(","):
        key = item.strip().lower()
        if not key:
            continue
        key = "ngspice" if key == "spice" else key
        if key not in valid:
            raise ResbenchError(
                f"unknown solver {item.strip()!r} in --solvers; valid: {', '.join(valid)} "
                "(spice = ngspice)"
            )
        if key not in names:
            names.append(key)
    if not names:
        raise ResbenchError(f"--solvers is empty; give a comma list of {', '.join(valid)}")
    return tuple(names)


#: ``--solvers``: every solver of a run, the fast exact one first among them
solvers_option = click.option(
    "--solvers",
    "solvers",
    metavar="LIST",
    default=None,
    help="Comma list of solvers to run on every netlist: the exact one the others are "
    "checked against (cd or reference), ngspice (alias spice) and peers: osqp, clarabel, "
    "highs (pip install -e '.[qp]'), scipy (sparse direct active-set), paper (the paper's "
    "PyTorch code, DRN netlists only: pip install -e '.[peers]' and --paper-code DIR).  "
    "Default: cd,ngspice.",
)

#: ``--solver-option SOLVER.NAME=VALUE`` (repeatable)
solver_option_option = click.option(
    "--solver-option",
    "solver_option",
    metavar="SOLVER.NAME=VALUE",
    multiple=True,
    help="An option of one solver, e.g. osqp.eps_abs=1e-6, osqp.polishing=false, "
    "clarabel.eps=1e-10, highs.dual_tol=1e-9, scipy.max_iter=50, cd.tol=1e-12 "
    "(repeatable; 'resbench info' lists each solver's options).",
)

#: ``--paper-code DIR``: the checkout of the paper's code (for the paper solver)
paper_code_option = click.option(
    "--paper-code",
    "paper_code",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Checkout of rain-neuromorphics/energy-based-learning for the paper solver "
    "(default: $RESBENCH_PAPER_CODE).",
)


def solver_plan(
    solvers: str | None,
    solver: str,
    solver_given: bool,
    spice: bool | None,
    solver_option: tuple[str, ...],
    paper_code: str | None,
) -> tuple[str, bool, tuple[str, ...], dict]:
    """(fast solver, run ngspice?, peers, per-solver options) from the command line.

    ``--solvers`` must name exactly one exact solver (cd or reference); ``--solver``
    may name it too but must then agree.  ``--spice``/``--no-spice`` add or drop
    ngspice; without ``--solvers`` the run is ``--solver`` and ngspice, as before."""
    from resbench.errors import ResbenchError
    from resbench.solvers.registry import (
        exact_solver_names,
        parse_solver_options,
        peer_solver_names,
    )

    names = parse_solvers(solvers) if solvers is not None else (solver, "ngspice")
    fast = [n for n in names if n in exact_solver_names()]
    if len(fast) != 1:
        raise ResbenchError(
            f"--solvers must name exactly one of {', '.join(exact_solver_names())} (the exact "
            f"answer the others are checked against); got {', '.join(names)}"
        )
    if solver_given and fast[0] != solver:
        raise ResbenchError(f"--solver {solver} and --solvers {solvers} name different solvers")
    peers = tuple(n for n in names if n in peer_solver_names())
    run_spice = "ngspice" in names if spice is None else spice
    options = parse_solver_options(solver_option)
    if paper_code is not None:
        if "paper" not in peers:
            raise ResbenchError("--paper-code is for the paper solver: add paper to --solvers")
        options.setdefault("paper", {})["paper_code"] = paper_code
    return fast[0], run_spice, peers, options


def render_peers(summary: pd.DataFrame, opts: CompareOptions, *, wide: bool = False) -> Table:
    """The 'every solver' table: one line per netlist × solver (fast, ngspice, peers),
    with status (a peer that claims success but fails the certificate: 'uncertified',
    red), its own claimed status, times, time / fast solver, max |Δv| and certificate."""
    from resbench.bench.columns import PEER_TABLE
    from resbench.bench.compare import peer_rows

    title = f"every solver: median times, max |Δv| from {opts.solver}, certificate"
    rows = peer_rows(summary, opts)
    for prev, row in zip(rows, rows[1:], strict=False):  # each netlist named once
        if row["netlist"] == prev.get("_netlist", prev["netlist"]):
            row["_netlist"], row["netlist"] = row["netlist"], ""
    return T.render(title, PEER_TABLE, rows, wide=wide, solver=opts.solver, atol=opts.atol)


def render_table(summary: pd.DataFrame, solver: str, atol: float, *, wide: bool = False) -> Table:
    """The rich table of a comparison summary (columns from
    :data:`resbench.bench.columns.COMPARE`).  By default the columns that fit in 80
    characters (netlist, status, nodes, max |Δv|, both totals, speedup); ``wide`` adds
    resistors, diodes, the worst node, both certificates and the solve-only speedup."""
    from resbench.bench.columns import COMPARE, WORKER

    title = f"{solver} vs ngspice" + (
        "" if wide else f": median total times, speedup = ngspice / {solver}"
    )
    rows = (r for _, r in summary.iterrows())
    cols = COMPARE + WORKER if "worker_host" in summary else COMPARE  # --cluster: --wide
    return T.render(title, cols, rows, wide=wide, solver=solver, atol=atol)


@click.command()
@click.option(
    "--spice/--no-spice",
    default=None,
    help="Shorthand: add ngspice to (or drop it from) the solvers; on by default.",
)
@options.paths
@options.fast_solver
@solvers_option
@solver_option_option
@paper_code_option
@options.repeats
@options.warmup
@options.atol
@options.timeout
@options.spice_mode
@options.diode_model
@options.strict
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
@options.cluster
def compare(
    spice: bool | None,
    paths: tuple[str, ...],
    solver: str,
    solvers: str | None,
    solver_option: tuple[str, ...],
    paper_code: str | None,
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
    cluster: str | None,
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
    Peers: --solvers cd,ngspice,osqp,clarabel,highs,scipy,paper adds other
    solvers to the same interleaved repeats on the same reduced problem; a
    second table shows every solver's status (its own claimed status beside
    it: a peer that says 'solved' on an answer the certificate rejects is
    'uncertified', in red), setup/solve/total times, time / cd, max |Δv|
    from cd and its certificate.  A peer whose extra is missing is a row
    'not installed: pip install …'; paper on a non-DRN netlist is 'not
    applicable'.  Peers never change the exit code.

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

    \b
    --cluster local:2 (or tcp://HOST:PORT): one cell per netlist, with all
    its solvers, on a Dask worker, which reads the netlist itself (remote
    workers need the same files at the same absolute paths); rows are
    written here as cells finish, with the worker's host, CPU and cores.
    """
    from resbench.bench.results import claim_output

    ctx = click.get_current_context()
    given = ctx.get_parameter_source("solver") == click.core.ParameterSource.COMMANDLINE
    solver, run_spice, peers, solver_options = solver_plan(
        solvers, solver, given, spice, solver_option, paper_code
    )
    opts, files = _checked_options(
        run_spice,
        paths,
        solver,
        spice_mode,
        diode_model,
        repeats,
        warmup,
        atol,
        timeout,
        gmin,
        peers=peers,
        solver_options=solver_options,
    )
    opts = _with_inputs(opts, files, inputs, limit)
    if cluster is not None:
        import dataclasses

        opts = dataclasses.replace(opts, cluster=cluster)
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
    *,
    peers: tuple[str, ...] = (),
    solver_options: dict | None = None,
) -> tuple[CompareOptions, list]:
    """The validated comparison options and the netlists to compare; a
    :class:`~resbench.errors.ResbenchError` (exit 2) before any work if either is wrong."""
    from resbench.bench.compare import CompareOptions, collect_netlists
    from resbench.defaults import NETLIST_SUFFIXES
    from resbench.errors import ResbenchError

    if not spice and not peers:
        raise ResbenchError(
            "nothing to compare with: add ngspice or a peer to --solvers (e.g. --solvers "
            "cd,ngspice,osqp)"
        )
    opts = CompareOptions(
        spice=spice,
        peers=peers,
        solver_options=dict(solver_options or {}),
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

    per_netlist = (1 + opts.spice + len(opts.peers)) * (opts.repeats + opts.warmup)
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
            if opts.cluster is not None:
                where = f" on {row['worker_host']}" if row.get("worker_host") else ""
                progress.update(task, description=escape(f"{row['netlist']} done{where}"))

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
    if opts.spice:
        out.print(render_table(run.summary, solver, atol, wide=wide))
    if opts.peers or not opts.spice:
        out.print(render_peers(run.summary, opts, wide=wide))
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
