"""Click options shared by several commands, each defined once (pip-tools pattern).

Use them as decorators::

    from resbench.cli import options

    @click.command()
    @options.paths
    @options.repeats
    @options.timeout
    def scale(paths, repeats, timeout): ...
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import click

from resbench.defaults import (
    DEFAULT_ATOL,
    DEFAULT_DIODE_MODEL,
    DEFAULT_NGSPICE_MODE,
    DEFAULT_RTOL,
    DEFAULT_TIMEOUT,
    DIODE_MODELS,
    NGSPICE_MODES,
)
from resbench.errors import ResbenchError


# ----------------------------------------------------------- validating types
class FiniteFloat(click.FloatRange):
    """A float in an optional range that is also finite: ``nan``, ``inf`` are refused.

    (click's FloatRange lets ``nan`` through every bound and ``inf`` through lower ones.)
    """

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201 - click's signature
        rv = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(rv, param, ctx)


def finite(
    min: float | None = None,  # noqa: A002 - click's names
    max: float | None = None,  # noqa: A002
    *,
    min_open: bool = False,
    max_open: bool = False,
) -> FiniteFloat:
    """A finite float, optionally bounded (the bounds as in ``click.FloatRange``)."""
    return FiniteFloat(min=min, max=max, min_open=min_open, max_open=max_open)


#: any finite float
FINITE = finite()
#: a finite float > 0
POSITIVE = finite(0.0, min_open=True)
#: a finite float >= 0
NON_NEGATIVE = finite(0.0)
#: a finite float in (0, 1]
FRACTION = finite(0.0, 1.0, min_open=True)
#: a finite float in (0, 1)
OPEN_FRACTION = finite(0.0, 1.0, min_open=True, max_open=True)
#: an integer >= 1
POSITIVE_INT = click.IntRange(min=1)
#: an integer >= 0
NON_NEGATIVE_INT = click.IntRange(min=0)


class AutoOr(click.ParamType):
    """The word ``auto`` or a value of another type (e.g. ``--omega auto|1.5``)."""

    def __init__(self, inner: click.ParamType) -> None:
        self.inner = inner
        self.name = f"auto|{inner.name}"

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201 - click's signature
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        return self.inner.convert(value, param, ctx)

    def get_metavar(self, param, ctx=None) -> str:  # noqa: ANN001
        inner = self.inner.get_metavar(param, ctx) if ctx is not None else None
        return f"[auto|{inner or self.inner.name.upper()}]"


#: over-relaxation factor: ``auto`` or a finite float in (0, 2)
OMEGA = AutoOr(finite(0.0, 2.0, min_open=True, max_open=True))


class CertifyCount(click.ParamType):
    """``all``, ``none`` or a sample count N >= 0 (``--certify``): True, False or N
    (0 is False)."""

    name = "all|none|N"

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201 - click's signature
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text == "all":
            return True
        if text == "none":
            return False
        try:
            n = int(text)
        except ValueError:
            self.fail(f"{value!r} is not 'all', 'none' or a whole number of samples.", param, ctx)
        if n < 0:
            self.fail(f"{value!r} is negative: give a number of samples >= 0.", param, ctx)
        return n if n else False

    def get_metavar(self, param, ctx=None) -> str:  # noqa: ANN001
        return "[all|none|N]"


#: which samples of a batch to certify: ``all`` (True), ``none`` (False) or a count
CERTIFY = CertifyCount()
#: precision of the batch sweeps
DTYPES = ("float64", "float32")


# ------------------------------------------------------------- output files
#: ``-o FILE`` suffix -> output format (anything else: the text table)
FORMAT_BY_SUFFIX = {".csv": "csv", ".json": "json", ".md": "md", ".markdown": "md"}


def output_format(fmt: str | None, output: str | None) -> str:
    """``--format`` when given, else the format of ``-o FILE``'s extension, else ``table``."""
    if fmt:
        return fmt
    if output and output != "-":
        return FORMAT_BY_SUFFIX.get(Path(output).suffix.lower(), "table")
    return "table"


def _cannot_write(path: str, exc: OSError) -> ResbenchError:
    return ResbenchError(f"cannot write {path}: {exc.strerror or exc}")


def prepare_output(path: str) -> None:
    """Check ``-o FILE`` before any work: create its parent folders, refuse a folder.

    Raises ResbenchError (one line, exit 2) when FILE cannot be written.  Some
    targets only fail on the write itself (``/dev/full``); :func:`write_output`
    reports those the same way.
    """
    p = Path(path)
    try:
        if p.is_dir():
            raise IsADirectoryError(21, "Is a directory", path)
        p.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(p.parent, os.W_OK) and not (p.exists() and os.access(p, os.W_OK)):
            raise PermissionError(13, "Permission denied", path)
    except OSError as exc:
        raise _cannot_write(path, exc) from None


def write_output(path: str, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8), creating parent folders.

    A regular file (or a new one) is written to a temporary file beside it and
    renamed over it, so a reader never sees half a file and two runs never mix
    (the file keeps its permissions).  Anything else (``/dev/stdout``, a FIFO,
    ``/dev/full``) is written in place.  Every failure is a one-line
    ResbenchError (exit 2).
    """
    prepare_output(path)
    p = Path(os.path.realpath(path))  # through a symlink: replace its target, keep the link
    try:
        if p.exists() and not p.is_file():
            with open(p, "w", encoding="utf-8") as fh:
                fh.write(text)
            return
        if p.exists():
            mode = p.stat().st_mode & 0o7777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, mode)
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise _cannot_write(path, exc) from None


#: netlist files or directories (default: the bundled ``netlists/``)
paths = click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=str))


class SolverChoice(click.Choice):
    """``--solver``'s choices, read from the solver registry (resbench.solvers.registry)
    each time they are used, so a solver registered after the command was built is
    offered too, and no command keeps its own list of names."""

    def __init__(self, *, exact_only: bool = False) -> None:
        self.exact_only = exact_only
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from resbench.solvers.registry import exact_solver_names, solver_names

        return exact_solver_names() if self.exact_only else solver_names()


def _solver_help(exact_only: bool) -> str:
    from resbench.solvers.registry import get_solver, solver_names

    specs = [get_solver(n) for n in solver_names()]
    return "; ".join(f"{s.name}: {s.description}" for s in specs if s.exact or not exact_only)


#: the solver of ``resbench solve`` (any registered solver)
solver = click.option(
    "--solver",
    "solver",
    type=SolverChoice(),
    default="cd",
    show_default=True,
    help="Solver (certified whichever it is). " + _solver_help(False) + ".",
)

#: the fast exact solver to benchmark (any registered exact solver)
fast_solver = click.option(
    "--solver",
    "solver",
    type=SolverChoice(exact_only=True),
    default="cd",
    show_default=True,
    help="Fast exact solver to compare. " + _solver_help(True) + ".",
)

repeats = click.option(
    "--repeats",
    type=POSITIVE_INT,
    default=5,
    show_default=True,
    help="Measured runs per solver, interleaved A B A B … (median, min, max reported).",
)

warmup = click.option(
    "--warmup",
    type=NON_NEGATIVE_INT,
    default=1,
    show_default=True,
    help="Warm-up runs per solver before measuring (JIT compile, library load); "
    "kept in the samples file, never in the statistics.",
)

atol = click.option(
    "--atol",
    type=POSITIVE,
    default=DEFAULT_ATOL,
    show_default=True,
    help="Agreement tolerance on every node voltage (V). ngspice's ideal-diode switch "
    "(RON=1e-5 Ω, ROFF=1e12 Ω) was measured within 6e-8 V of the exact answer; its "
    "error grows like RON × diode current and node resistance × reverse voltage / ROFF.",
)

timeout = click.option(
    "--timeout",
    type=POSITIVE,
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="ngspice: seconds one run may take; past it ngspice's process group is killed "
    "(status timeout).",
)

spice_mode = click.option(
    "--spice-mode",
    type=click.Choice(NGSPICE_MODES),
    default=DEFAULT_NGSPICE_MODE,
    show_default=True,
    help="shared: libngspice (through PySpice) in a reused worker process; "
    "batch: the 'ngspice -b' program and its rawfile, one process per run.",
)

diode_model = click.option(
    "--diode-model",
    type=click.Choice(DIODE_MODELS),
    default=DEFAULT_DIODE_MODEL,
    show_default=True,
    help="How ngspice models ideal diodes. switch: a self-controlled switch (agrees with "
    "the exact answer to ~1e-7 V). shockley: SPICE's own diode with the netlist's "
    ".model; expect each conducting diode to drop ≈ N·Vt·ln(I/IS) (~0.6-0.8 V at mA "
    "with default IS, N), so rows will disagree by that much.",
)

gmin = click.option(
    "--gmin",
    type=NON_NEGATIVE,
    default=None,
    help="Add a conductance GMIN (S) from every node to ground, as SPICE does, so that nodes "
    "with no resistive path to a source get a voltage (ngspice: rshunt = 1/GMIN; the exact "
    "solvers and ngspice get the same GMIN).  Unset or 0: none.",
)

rtol = click.option(
    "--rtol",
    type=POSITIVE,
    default=DEFAULT_RTOL,
    show_default=True,
    help="Relative tolerance of the certificate's verdict.",
)

out_dir = click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=str),
    default="results",
    show_default=True,
    help="Directory for the result files (samples CSV, summary CSV, markdown, JSON sidecar).",
)

no_files = click.option("--no-files", is_flag=True, help="Do not write result files.")


def invocation() -> str:
    """The command line that ran this command, for result sidecars.

    ``sys.argv`` when resbench was run as a program; otherwise (the command
    invoked from Python, e.g. click's test runner) rebuilt from click's context
    with each option's real flag.
    """
    import os
    import shlex
    import sys

    ctx = click.get_current_context(silent=True)
    if sys.argv and os.path.basename(sys.argv[0]).startswith("resbench"):
        from resbench.bench.results import command_line

        return command_line()
    if ctx is None:
        return shlex.join(sys.argv)
    parts = ctx.command_path.split()
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None or value is False or value == () or value == param.default:
            continue
        values = list(value) if isinstance(value, tuple | list) else [value]
        if isinstance(param, click.Argument):
            parts += [str(v) for v in values]
            continue
        flag = max(param.opts, key=len)  # the long form
        if value is True:
            parts.append(flag)
            continue
        for v in values:
            parts += [flag, str(v)]
    return shlex.join(parts)


#: random seed of generated networks (same seed, same networks)
seed = click.option(
    "--seed",
    type=NON_NEGATIVE_INT,
    default=0,
    show_default=True,
    help="Random seed of the generated networks: the same seed gives the same networks.",
)


def _show_resbench_warnings(ctx: click.Context, _param: click.Parameter, strict: bool) -> bool:
    """For this command: resbench's warnings (ignored ``.model`` parameters, …) print
    once each, in yellow, on stderr; with ``--strict`` they are errors (exit 2).  The
    previous warning settings come back when the command ends."""
    import warnings

    from resbench.errors import ResbenchWarning

    ctx.with_resource(warnings.catch_warnings())
    if strict:
        warnings.simplefilter("error", ResbenchWarning)
    else:
        warnings.filterwarnings("once", category=ResbenchWarning)
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
        if issubclass(category, ResbenchWarning):
            click.secho(f"warning: {message}", fg="yellow", err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    return strict


strict = click.option(
    "--strict",
    is_flag=True,
    expose_value=False,
    callback=_show_resbench_warnings,
    help="Treat warnings (e.g. .model parameters that resbench ignores) as errors (exit 2).",
)


def _cluster_value(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--cluster``: checked here (``local:N`` or a scheduler address), connected later."""
    if value is None:
        return None
    from resbench.bench.cluster import ClusterError, parse_cluster

    try:
        parse_cluster(value)
    except ClusterError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[-1]) from None
    return value.strip()


#: ``--cluster``: scale and compare on Dask distributed (resbench.bench.cluster)
cluster = click.option(
    "--cluster",
    metavar="ADDRESS|local:N",
    default=None,
    callback=_cluster_value,
    help="Run on Dask distributed: local:N starts N single-threaded worker processes here; "
    "tcp://HOST:PORT uses a running `dask scheduler` (workers: `dask worker ADDRESS "
    "--nthreads 1`; pip install -e '.[cluster]').  One cell (a netlist or a size, with all "
    "its solvers) runs on one worker; rows record the worker's host, CPU and cores.  "
    "See docs/cluster.md.",
)
