"""``resbench scale``: timing and size-scaling tables, power-law fits and a plot."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from resbench.cli import options

# Keep in step with resbench.bench.scale (not imported here: it pulls in pandas).
_FAMILIES = ("drn", "grid", "random")
_DEFAULT_SIZES_HELP = (
    "drn 32,64,xs,256,512,1h,4096,16384 (up to 12.9M resistors); grid 10,20,40,70,100,150; "
    "random 100,200,500,1000,2000"
)
_SPICE_MAX_HELP = "drn 500000, grid 20000, random 5000"


def _solver_list(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    names = tuple(t.strip().lower() for t in value.split(",") if t.strip())
    bad = [n for n in names if n not in ("cd", "spice", "ngspice")]
    if bad or not names:
        raise click.BadParameter(f"expected a comma list of cd, spice; got {value!r}")
    return names


@click.command("scale")
@click.option(
    "--family",
    type=click.Choice(_FAMILIES, case_sensitive=False),
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
    help="Comma list of solvers: cd (numba coordinate descent), spice (ngspice).",
)
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
def scale(
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
    solver), scale_summary.md, scale.png (time vs resistors, speedup), scale.json.
    Exit code: 0 all cd answers certified and agreeing with ngspice; 1 an
    uncertified answer or a disagreement; 2 an error, failure or timeout.
    """
    from resbench.bench.results import command_line
    from resbench.bench.scale import ScaleOptions, parse_sizes, run_scale

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
    )
    opts.validate()  # bad sizes are a clean error before anything runs

    out = Console()
    if not out.is_terminal:
        out = Console(width=200)
    err = Console(stderr=True)
    per_run = opts.warmup + opts.repeats
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(f"scale {opts.family}", total=None)
        state = {"done": 0}

        def on_start(total: int) -> None:
            progress.update(task, total=total)

        def on_run(size: str, sample) -> None:
            progress.update(
                task, advance=1, description=escape(f"{opts.family} {size} [{sample.solver}]")
            )

        def on_size(size: str, rows: list[dict]) -> None:
            state["done"] += per_run * len(rows)
            progress.update(task, completed=state["done"])
            for r in rows:
                if r.get("status") not in ("ok", "skipped"):
                    err.print(
                        f"[bold]{escape(size)} {escape(str(r['solver']))}[/] ({r['status']}): "
                        f"{escape(str(r.get('message')))}",
                        highlight=False,
                    )

        try:
            summary = run_scale(
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
            )
        except KeyboardInterrupt:
            progress.stop()
            err.print(
                f"interrupted: finished sizes are in {escape(opts.out)}; run the same command "
                "with --resume to carry on"
            )
            sys.exit(130)

    files = summary.attrs["files"]
    click.echo(files["markdown"].read_text(encoding="utf-8"))
    compile_s = summary["compile"].max() if len(summary) else float("nan")
    if compile_s == compile_s:
        out.print(f"cd JIT compile (not in totals): {compile_s:.3g} s")
    written = [str(p) for p in files.values() if p.exists()]
    out.print(f"results: {', '.join(written)}", soft_wrap=True)
    sys.exit(summary.attrs["exit_code"])
