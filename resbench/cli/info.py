"""``resbench info``: versions and whether ngspice is found."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from resbench.env import environment_report


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def info(as_json: bool) -> None:
    """Show versions of resbench's dependencies and whether ngspice is found."""
    report = environment_report()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    table = Table(title="resbench environment", show_header=True)
    table.add_column("item")
    table.add_column("value")
    for key, value in report.items():
        table.add_row(key, str(value))
    Console().print(table)
