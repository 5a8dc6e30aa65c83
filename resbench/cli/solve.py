"""``resbench solve``: solve netlists with the numba solver and show the proof."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from resbench.errors import ResbenchError
from resbench.solution import Solution
from resbench.solvers import CD_DEFAULT_MAX_SWEEPS, CD_DEFAULT_TOL

EXIT_OK, EXIT_NOT_CERTIFIED, EXIT_BAD_INPUT = 0, 1, 2
NETLIST_SUFFIXES = (".cir", ".sp", ".spi", ".net", ".spice", ".ckt")


def expand_paths(paths: tuple[str, ...]) -> list[Path]:
    """Files as given; directories expanded to their netlists (sorted, `lib/` skipped)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out += sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in NETLIST_SUFFIXES
                and "lib" not in f.relative_to(p).parts[:-1]
            )
        else:
            out.append(p)
    return out


def _fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "-"
    return f"{x:.9g}{unit}"


def render_table(sol: Solution, console: Console, *, diodes: bool, limit: int) -> None:
    d = sol.to_dict()
    cert = sol.certificate
    src = d["source"] or "<circuit>"
    console.rule(f"[bold]{src}[/bold] — {d['title']}")
    nodes = [(k, v) for k, v in d["nodes"].items() if k != "0"]
    t = Table(title="node voltages", title_justify="left")
    t.add_column("node")
    t.add_column("voltage (V)", justify="right")
    shown = nodes if limit <= 0 else nodes[:limit]
    for name, v in shown:
        t.add_row(name, f"{v:.9g}")
    console.print(t)
    if len(shown) < len(nodes):
        console.print(
            f"… {len(nodes) - len(shown)} more nodes (use --limit 0, or --format csv/json -o FILE)"
        )
    if diodes and d["diodes"]:
        t = Table(title="diodes", title_justify="left")
        for col in ("diode", "anode", "cathode", "state", "current (A)"):
            t.add_column(col, justify="right" if col.startswith("current") else "left")
        rows = d["diodes"] if limit <= 0 else d["diodes"][:limit]
        for r in rows:
            t.add_row(r["name"], r["anode"], r["cathode"], r["state"], _fmt(r["current"]))
        console.print(t)
        if len(rows) < len(d["diodes"]):
            console.print(f"… {len(d['diodes']) - len(rows)} more diodes")
    if d["vsources"]:
        t = Table(title="voltage sources", title_justify="left")
        for col in ("source", "+", "-", "V", "current (A)"):
            t.add_column(col, justify="right" if col in ("V", "current (A)") else "left")
        rows = d["vsources"] if limit <= 0 else d["vsources"][:limit]
        for r in rows:
            t.add_row(r["name"], r["plus"], r["minus"], f"{r['voltage']:g}", _fmt(r["current"]))
        console.print(t)
        if len(rows) < len(d["vsources"]):
            console.print(f"… {len(d['vsources']) - len(rows)} more sources")
    tm = d["timings"]
    sizes = d["sizes"]
    console.print(
        f"size: {sizes['nodes']} nodes, {sizes['resistors']} resistors, {sizes['diodes']} diodes, "
        f"{sizes['vsources']} V sources, {sizes['isources']} I sources"
    )
    extra = ""
    if sol.info.get("polished"):
        extra = f", polish: {sol.info.get('polish_iterations')} active-set iteration(s)"
    omega = sol.info.get("omega")
    console.print(
        f"solver: {sol.solver}, status: [bold]{sol.status}[/bold], sweeps: {sol.sweeps}"
        + (f" (ω = {omega:.3g})" if omega is not None else "")
        + f", residual: {sol.residual:.3g} A{extra}"
    )
    console.print(
        "time: setup {:.3f} ms + solve {:.3f} ms = total {:.3f} ms".format(
            1e3 * tm.get("setup", float("nan")),
            1e3 * tm.get("solve", float("nan")),
            1e3 * tm.get("total", float("nan")),
        )
        + (
            f"; JIT compile (not in total) {1e3 * tm['compile']:.0f} ms"
            if tm.get("compile")
            else ""
        )
    )
    if cert is not None:
        colour = "green" if cert.ok else "red"
        console.print(f"certificate: [{colour}]{cert.summary()}[/{colour}]")
    for w in sol.circuit.warnings:
        console.print(f"[yellow]note:[/yellow] {w}")


def render_csv(sols: list[Solution]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["file", "kind", "name", "value", "state", "current"])
    for sol in sols:
        d = sol.to_dict()
        f = d["source"] or ""
        for name, v in d["nodes"].items():
            w.writerow([f, "node", name, repr(v), "", ""])
        for r in d["diodes"]:
            w.writerow([f, "diode", r["name"], "", r["state"], r["current"]])
        for r in d["vsources"]:
            w.writerow([f, "vsource", r["name"], r["voltage"], "", r["current"]])
    return buf.getvalue()


@click.command()
@click.argument("netlists", nargs=-1, required=True, type=click.Path())
@click.option(
    "--solver",
    type=click.Choice(["cd", "reference"]),
    default="cd",
    show_default=True,
    help="cd: numba coordinate descent (fast); reference: slow exact KKT/Lemke solver.",
)
@click.option(
    "--tol",
    type=float,
    default=CD_DEFAULT_TOL,
    show_default=True,
    help="CD stopping rule: estimated voltage error ≤ tol × voltage scale "
    "(largest source voltage).",
)
@click.option(
    "--max-sweeps",
    type=int,
    default=CD_DEFAULT_MAX_SWEEPS,
    show_default=True,
    help="CD sweep limit (then the exact polish finishes).",
)
@click.option(
    "--omega",
    default="auto",
    show_default=True,
    help="Over-relaxation factor in (0, 2), or 'auto' (1 on DRN-like nets, Young's "
    "optimum estimated from the first sweeps on grid-like nets).",
)
@click.option(
    "--polish",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Exact active-set polish after CD: auto = when diodes join two free nodes or "
    "the sweeps did not converge.",
)
@click.option(
    "--gmin",
    type=float,
    default=0.0,
    show_default=True,
    help="Add a conductance gmin (S) from every node to ground, as SPICE does, so that "
    "nodes with no resistive path to a source get a voltage.",
)
@click.option(
    "--rtol",
    type=float,
    default=1e-9,
    show_default=True,
    help="Relative tolerance of the certificate's verdict.",
)
@click.option("--diodes", is_flag=True, help="Show each diode's state and current.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the output to FILE instead of the terminal.",
)
@click.option(
    "--limit",
    type=int,
    default=40,
    show_default=True,
    help="Rows shown per table (0 = all); csv and json always hold everything.",
)
def solve(
    netlists: tuple[str, ...],
    solver: str,
    tol: float,
    max_sweeps: int,
    omega: str,
    polish: str,
    gmin: float,
    rtol: float,
    diodes: bool,
    fmt: str,
    output: str | None,
    limit: int,
) -> None:
    """Solve NETLIST files (or directories of them) and show node voltages,
    diode states, source currents, sweeps, times and the optimality certificate.

    \b
    Exit codes:
      0  every answer certified
      1  an answer did not certify (or the solver stalled)
      2  bad input: unreadable netlist, or a circuit without a unique solution
    """
    from resbench.netlist import read_netlist
    from resbench.solvers import solve as run_solve

    if omega != "auto":
        try:
            omega_val: float | str = float(omega)
        except ValueError:
            raise click.BadParameter(
                "must be a number in (0, 2) or 'auto'", param_hint="--omega"
            ) from None
        if not 0.0 < float(omega_val) < 2.0:
            raise click.BadParameter("must be in (0, 2)", param_hint="--omega")
    else:
        omega_val = "auto"
    files = expand_paths(netlists)
    if not files:
        click.echo(f"error: no netlists found in {', '.join(netlists)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    options: dict = {"gmin": gmin}
    if solver == "cd":
        options.update(tol=tol, max_sweeps=max_sweeps, omega=omega_val, polish=polish)
    out_stream = open(output, "w", encoding="utf-8") if output else None  # noqa: SIM115
    console = Console(file=out_stream) if out_stream else Console()
    exit_code = EXIT_OK
    sols: list[Solution] = []
    try:
        for path in files:
            try:
                circuit = read_netlist(path)
                sol = run_solve(circuit, solver, rtol=rtol, **options)
            except ResbenchError as exc:
                click.echo(exc.format(), err=True)
                exit_code = max(exit_code, EXIT_BAD_INPUT)
                continue
            sols.append(sol)
            if not sol.ok:
                exit_code = max(exit_code, EXIT_NOT_CERTIFIED)
            if fmt == "table":
                render_table(sol, console, diodes=diodes, limit=limit)
        if fmt == "csv":
            console.file.write(render_csv(sols))
        elif fmt == "json":
            payload = [s.to_dict() for s in sols]
            console.file.write(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
            console.file.write("\n")
    finally:
        if out_stream:
            out_stream.close()
    sys.exit(exit_code)
