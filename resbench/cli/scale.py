"""``resbench scale``: timing and size-scaling tables, power-law fits and a plot."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from resbench.cli import options
from resbench.cli import tables as T
from resbench.cli.compare import paper_code_option, solver_option_option
from resbench.defaults import FAMILIES

if TYPE_CHECKING:  # pandas is imported lazily (it is slow to import)
    import pandas as pd

    from resbench.bench.scale import ScaleOptions

_DEFAULT_SIZES_HELP = (
    "drn 32,64,xs,256,512,1h,4096,16384 (up to 12.9M resistors); grid 10,20,40,70,100,150; "
    "random 100,200,500,1000,2000"
)
_SPICE_MAX_HELP = "drn 500000, grid 20000, random 5000"


def _solver_list(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    """The --solvers list: the registry's fast solver (cd), ngspice (alias spice) and the
    registered peers (osqp, clarabel, highs, scipy, paper)."""
    from resbench.bench.scale import solver_ids

    ids = solver_ids()
    names = tuple(t.strip().lower() for t in value.split(",") if t.strip())
    bad = [n for n in names if n not in ids]
    if bad or not names:
        valid = ", ".join(k for k in ids if k != "ngspice")
        raise click.BadParameter(
            f"expected a comma list of {valid} (spice = ngspice); got {value!r}"
            + (f": unknown {', '.join(bad)}" if bad else "")
        )
    return names


@click.command("scale")
@click.option(
    "--family",
    type=click.Choice(FAMILIES, case_sensitive=False),
    default="drn",
    show_default=True,
    help="Network family: drn (the paper's deep resistive networks), grid (2-D mesh with "
    "diode clamps), random (sparse random graph with diodes).",
)
@click.option(
    "--sizes",
    metavar="LIST",
    default=None,
    help="Comma list of sizes. drn: hidden width (1568 inputs, 10 outputs) or a preset "
    "xs, 1h, 2h, 3h, xl (xl = 1568-32768-10, 25.9M resistors); grid: side length; random: "
    f"node count.  Default: {_DEFAULT_SIZES_HELP}.",
)
@click.option(
    "--solvers",
    default="cd,spice",
    show_default=True,
    callback=_solver_list,
    help="Comma list of solvers: cd (numba coordinate descent), spice (ngspice), and peers "
    "checked against cd: osqp, clarabel, highs (pip install -e '.[qp]'), scipy (sparse "
    "direct active-set), paper (the paper's PyTorch code, drn only: pip install -e "
    "'.[peers]' and --paper-code DIR).",
)
@solver_option_option
@paper_code_option
@options.repeats
@options.warmup
@options.timeout
@click.option(
    "--spice-max-size",
    type=click.IntRange(min=0),
    default=None,
    metavar="RESISTORS",
    help="Skip ngspice (row status 'skipped') on networks with more resistors than this. "
    f"Default per family, so that the default sweep ends in <= 10 minutes on 2 cores: "
    f"{_SPICE_MAX_HELP}.",
)
@click.option(
    "--point-budget",
    type=options.NON_NEGATIVE,
    default=120.0,
    show_default=True,
    metavar="SECONDS",
    help="Run fewer measured repeats (at least 1) at a size where the warm-up shows that "
    "--repeats runs of the slowest solver would take longer than this; 0: always --repeats.",
)
@options.atol
@options.seed
@options.out_dir
@click.option(
    "--write-netlists",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    metavar="DIR",
    help="Also write each generated network as a netlist into DIR.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Keep the rows already in --out and run only the (size, solver) pairs missing "
    "there (same --family and --seed).  Without it, existing scale files are replaced.",
)
@click.option(
    "--plot-format",
    type=click.Choice(["png", "pdf", "svg"], case_sensitive=False),
    default="png",
    show_default=True,
    help="Format of the plot (scale.png, scale.pdf or scale.svg; 200 dpi).",
)
@options.cluster
@T.wide
def scale(
    family: str,
    sizes: str | None,
    solvers: tuple[str, ...],
    solver_option: tuple[str, ...],
    paper_code: str | None,
    repeats: int,
    warmup: int,
    timeout: float,
    spice_max_size: int | None,
    point_budget: float,
    atol: float,
    seed: int,
    out_dir: str,
    write_netlists: str | None,
    resume: bool,
    plot_format: str,
    cluster: str | None,
    wide: bool,
) -> None:
    """Time each solver on growing generated networks: tables, power-law fits and a plot.

    Each size is built in memory and solved under the benchmark rules of
    compare (warm-up, interleaved repeats, parsing and JIT excluded; speedup =
    ngspice / cd median total).  Rows are appended to the CSV files as each
    size finishes, so an interrupted sweep keeps its finished sizes and
    --resume carries on.  Peak memory of every run is recorded (cd: this
    process's high-water mark over the run; ngspice: its worker process).

    \b
    Files in --out: scale_samples.csv (every run), scale_summary.csv (size x
    solver), scale_summary.md (every column, the fits), scale.png|pdf|svg (time
    vs resistors with min-max bars and fits, speedup), scale.json.  --out is
    locked while the sweep writes there (a second run on it stops with exit 2).
    Exit code: 0 all cd answers certified and agreeing with ngspice; 1 an
    uncertified answer or a disagreement; 2 an error, failure or timeout;
    130 interrupted (Ctrl-C): finished sizes are kept, --resume carries on.

    \b
    Peers (--solvers cd,osqp,clarabel,highs,scipy,paper): one row each per
    size, with its own claimed status, Δv vs cd, time / cd and certificate
    (a peer that claims success on an answer the certificate rejects is
    'uncertified'); a missing extra is a 'not installed' row.  Peer rows
    never change the exit code.  --solver-option osqp.eps_abs=1e-6 sets a
    peer's option.

    \b
    --cluster local:2 (or tcp://HOST:PORT): one cell per size, generated on a
    Dask worker from (family, size, seed) with all its solvers; rows are
    written here as cells finish, with the worker's host, CPU and cores.
    """
    from resbench.bench.results import claim_output
    from resbench.bench.scale import STEM, check_resume
    from resbench.cli.compare import consoles
    from resbench.solvers.registry import parse_solver_options

    solver_options = parse_solver_options(solver_option)
    if paper_code is not None:
        solver_options.setdefault("paper", {})["paper_code"] = paper_code
    opts = _checked_options(
        family,
        sizes,
        solvers,
        repeats,
        warmup,
        timeout,
        spice_max_size,
        point_budget,
        atol,
        seed,
        out_dir,
        write_netlists,
        resume,
        plot_format,
        solver_options,
        cluster,
    )
    plot_name = opts.files()["plot"].name
    # lock --out now: a second run, or a bad folder, stops before any work
    click.get_current_context().with_resource(claim_output(opts.out, STEM, plot_name))
    if opts.resume:
        check_resume(opts)  # a corrupt or foreign summary: one clear line, before any work
    out, err = consoles(wide)
    summary = _run_with_progress(opts, err)
    _print_report(out, summary, opts, wide=wide)
    sys.exit(summary.attrs["exit_code"])


def _checked_options(
    family: str,
    sizes: str | None,
    solvers: tuple[str, ...],
    repeats: int,
    warmup: int,
    timeout: float,
    spice_max_size: int | None,
    point_budget: float,
    atol: float,
    seed: int,
    out_dir: str,
    write_netlists: str | None,
    resume: bool,
    plot_format: str,
    solver_options: dict | None = None,
    cluster: str | None = None,
) -> ScaleOptions:
    """The sweep's validated options: bad sizes or values are a clean error (exit 2)
    before anything runs."""
    from resbench.bench.scale import ScaleOptions, parse_sizes

    opts = ScaleOptions(
        family=family.lower(),
        sizes=parse_sizes(family.lower(), sizes),
        solvers=solvers,
        repeats=repeats,
        warmup=warmup,
        timeout=timeout,
        spice_max_size=spice_max_size,
        point_budget=point_budget,
        atol=atol,
        seed=seed,
        out=out_dir,
        write_netlists=write_netlists,
        resume=resume,
        plot_format=plot_format.lower(),
        solver_options=dict(solver_options or {}),
        cluster=cluster,
    )
    opts.validate()
    return opts


def _run_with_progress(opts: ScaleOptions, err: Console) -> pd.DataFrame:
    """Run the sweep under a progress bar on stderr, printing each failed row as its size
    finishes; Ctrl-C says how to resume and exits with 130."""
    from resbench.bench.results import command_line
    from resbench.bench.scale import run_scale
    from resbench.cli.progress import progress_bar

    per_run = opts.warmup + opts.repeats
    with progress_bar(err) as progress:
        task = progress.add_task(f"scale {opts.family}", total=None)
        state = {"done": 0}

        def on_start(total: int) -> None:
            progress.update(task, total=total)

        def before_run(size: str, solver: str, phase: str, k: int) -> None:
            what = f"warm-up {k + 1}" if phase == "warmup" else f"run {k + 1}"
            progress.update(task, description=escape(f"{opts.family} {size}: {solver} {what}"))

        def on_run(size: str, sample) -> None:
            progress.update(task, advance=1)

        def on_size(size: str, rows: list[dict]) -> None:
            state["done"] += per_run * len(rows)
            progress.update(task, completed=state["done"])
            if opts.cluster is not None:
                where = rows[0].get("worker_host") if rows else None
                done = f"{opts.family} {size} done" + (f" on {where}" if where else "")
                progress.update(task, description=escape(done))
            for r in rows:
                if r.get("status") not in ("ok", "skipped"):
                    err.print(
                        f"[bold]{escape(size)} {escape(str(r['solver']))}[/] ({r['status']}): "
                        f"{escape(str(r.get('message')))}",
                        highlight=False,
                    )

        try:
            return run_scale(
                opts.family,
                opts.sizes,
                solvers=opts.solvers,
                repeats=opts.repeats,
                warmup=opts.warmup,
                timeout=opts.timeout,
                spice_max_size=opts.spice_max_size,
                point_budget=opts.point_budget,
                atol=opts.atol,
                seed=opts.seed,
                out=opts.out,
                write_netlists=opts.write_netlists,
                resume=opts.resume,
                command=command_line(),
                on_start=on_start,
                on_run=on_run,
                on_size=on_size,
                before_run=before_run,
                plot_format=opts.plot_format,
                solver_options=opts.solver_options,
                cluster=opts.cluster,
            )
        except KeyboardInterrupt:
            progress.stop()
            err.print(
                f"interrupted: finished sizes are in {escape(opts.out)}; run the same command "
                "with --resume to carry on",
                highlight=False,
            )
            sys.exit(130)


def _print_report(out: Console, summary: pd.DataFrame, opts: ScaleOptions, *, wide: bool) -> None:
    """The summary table, the settings line, the power-law fits, the JIT compile time
    (not in the totals) and the files written."""
    files = summary.attrs["files"]
    out.print(render_table(summary, opts.family, wide=wide, peers=bool(opts.peers)))
    out.print(
        f"medians of up to {opts.repeats} measured runs after {opts.warmup} warm-up; "
        "speedup = ngspice / cd median total" + ("" if wide else "; --wide for every column"),
        highlight=False,
    )
    for line in fit_lines(summary.attrs["fits"]):
        out.print(line, highlight=False)
    compile_s = summary["compile"].max() if len(summary) else float("nan")
    if compile_s == compile_s:
        out.print(f"cd JIT compile (not in totals): {compile_s:.3g} s")
    written = [str(p) for p in files.values() if p.exists()]
    out.print(f"results: {', '.join(written)}", soft_wrap=True)


def render_table(
    summary: pd.DataFrame, family: str, *, wide: bool = False, peers: bool = False
) -> Table:
    """The terminal table of a sweep (columns from :data:`resbench.bench.columns.SCALE`):
    by default the columns that fit in 80 characters (size, solver, status, resistors,
    median total, speedup, max |Δv|); ``wide`` adds nodes, diodes, runs, min/max, solve
    time, sweeps, memory and the certificate.  ``peers``: the peer columns too (Δv vs
    cd, time / cd; claimed status with ``wide``)."""
    from resbench.bench.columns import scale_columns

    title = f"scale: {family}" + ("" if wide else " (median total time)")
    cols = scale_columns(peers)
    if "worker_host" in summary:  # a --cluster sweep: where each size ran (--wide)
        from resbench.bench.columns import WORKER

        cols += WORKER
    return T.render(title, cols, (r for _, r in summary.iterrows()), wide=wide)


def fit_lines(fit: dict) -> list[str]:
    """One line per power-law fit of median total time: ``cd: time ∝ resistors^k``."""
    from resbench.bench.fits import MIN_R2_DRAWN, exponent_text

    lines = []
    for solver, per in fit.items():
        f = per.get("total")
        if not f:
            continue
        line = (
            f"{solver}: total time ∝ resistors^k, {exponent_text(f)}, r² = {f['r2']:.3f} "
            f"over {f['resistors_min']:,}–{f['resistors_max']:,} resistors ({f['points']} sizes)"
        )
        if f["r2"] < MIN_R2_DRAWN:
            line += " — not a power law here (no line drawn)"
        lines.append(line)
    return lines
