"""``resbench`` command group.  Each command lives in its own module.

Exit codes shared by all commands:
  0  success (answers certified / agreeing)
  1  the computation ran but an answer is wrong or unproven
     (not certified, disagreement with ngspice, speedup regression)
  2  bad input or an error that prevented the computation (one line, never a
     traceback: see ResbenchGroup)
  130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import sys

import click

from resbench import __version__
from resbench.errors import ResbenchError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as the shell reports a process killed by it


def os_error_line(exc: OSError) -> str:
    """One line for an OSError: ``error: FILE: reason`` (no errno, no traceback)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None:
        return f"error: {exc.filename}: {reason}"
    return f"error: {reason}"


class ResbenchGroup(click.Group):
    """A click group that turns every expected failure into one clean line and an exit code.

    The one place that maps exceptions to exit codes: ResbenchError → its
    message and its code (2); OSError (a file or device that cannot be read or
    written) → ``error: FILE: reason``, 2; MemoryError → 2; Ctrl-C → 130; a reader
    that closed the pipe (``| head``) → 141, quietly.  Click's
    own usage errors keep click's message and exit 2.  Never a traceback for these.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ResbenchError as exc:
            click.echo(exc.format(), err=True)
            sys.exit(exc.exit_code)
        except BrokenPipeError:  # `resbench … | head`: the reader left; say nothing more
            import os

            try:  # so that Python's own flush at exit does not complain again
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError):  # stdout is not a real file (tests)
                pass
            sys.exit(EXIT_BROKEN_PIPE)
        except OSError as exc:
            click.echo(os_error_line(exc), err=True)
            sys.exit(EXIT_BAD_INPUT)
        except MemoryError:
            click.echo(
                "error: out of memory (the input is too large for this machine's memory)",
                err=True,
            )
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)


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
    from resbench.cli import train

    cli.add_command(train.train)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="resbench")


if __name__ == "__main__":  # pragma: no cover
    main()
