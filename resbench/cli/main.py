"""``resbench`` command group.  Each command lives in its own module.

Exit codes shared by all commands:
  0  success (answers certified / agreeing)
  1  the computation ran but an answer is wrong or unproven
     (not certified, disagreement with ngspice, speedup regression)
  2  bad input or an error that prevented the computation
"""

from __future__ import annotations

import sys

import click

from resbench import __version__
from resbench.errors import ResbenchError


class ResbenchGroup(click.Group):
    """A click group that prints ResbenchError as a clean message, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ResbenchError as exc:
            click.echo(exc.format(), err=True)
            sys.exit(exc.exit_code)


@click.group(cls=ResbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="resbench")
def cli() -> None:
    """resbench: exact, fast simulation of nonlinear resistive networks.

    Solves networks of resistors, ideal diodes and DC sources with the exact
    coordinate-descent algorithm of Scellier (ICML 2024), proves every answer
    with an optimality certificate, and cross-checks it against ngspice.

    \b
    Exit codes: 0 success, 1 answer not certified / disagreement / regression,
    2 bad input or error.
    """


def _register() -> None:
    from resbench.cli import generate, info, solve

    cli.add_command(info.info)
    cli.add_command(generate.generate)
    cli.add_command(solve.solve)
    from resbench.cli import compare

    cli.add_command(compare.compare)
    from resbench.cli import scale

    cli.add_command(scale.scale)
    from resbench.cli import regress

    cli.add_command(regress.regress)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="resbench")


if __name__ == "__main__":  # pragma: no cover
    main()
