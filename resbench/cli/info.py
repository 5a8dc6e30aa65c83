"""``resbench info``: versions, whether ngspice is found, and the registered solvers."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from resbench.env import environment_report


def solvers_line() -> str:
    """The registered solvers, exact ones and peers marked:
    ``cd (exact), reference (exact), ngspice, osqp (peer), …``.  A peer answers what its
    own algorithm gives (the certificate judges it), so it is never labelled exact."""
    from resbench.solvers.registry import get_solver, solver_names

    def label(name: str) -> str:
        spec = get_solver(name)
        if spec.peer:
            return f"{name} (peer)"
        return f"{name} (exact)" if spec.exact else name

    return ", ".join(label(name) for name in solver_names())


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def info(fmt: str, as_json: bool) -> None:
    """Show versions of resbench's dependencies, whether ngspice is found, and the
    registered solvers."""
    report = environment_report()
    report["solvers"] = solvers_line()
    if as_json or fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    table = Table(title="resbench environment", show_header=True)
    table.add_column("item")
    table.add_column("value")
    for key, value in report.items():
        table.add_row(key, str(value))
    Console().print(table)
