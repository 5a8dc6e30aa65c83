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

import click

# Keep in step with resbench.bench.compare.DEFAULT_ATOL (not imported: it would pull in
# pandas when any command's options are built).
DEFAULT_ATOL = 1e-6

#: netlist files or directories (default: the bundled ``netlists/``)
paths = click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=str))

#: the fast exact solver to benchmark
fast_solver = click.option(
    "--solver",
    "solver",
    type=click.Choice(["cd", "reference"]),
    default="cd",
    show_default=True,
    help="Fast solver to compare: cd (numba coordinate descent) or reference "
    "(slow exact KKT solver).",
)

repeats = click.option(
    "--repeats",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Measured runs per solver, interleaved A B A B … (median, min, max reported).",
)

warmup = click.option(
    "--warmup",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Warm-up runs per solver before measuring (JIT compile, library load); "
    "kept in the samples file, never in the statistics.",
)

atol = click.option(
    "--atol",
    type=click.FloatRange(min=0.0, min_open=True),
    default=DEFAULT_ATOL,
    show_default=True,
    help="Agreement tolerance on every node voltage (V). ngspice's ideal-diode switch "
    "(RON=1e-5 Ω, ROFF=1e12 Ω) was measured within 6e-8 V of the exact answer; its "
    "error grows like RON × diode current and node resistance × reverse voltage / ROFF.",
)

timeout = click.option(
    "--timeout",
    type=click.FloatRange(min=0.0, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds one ngspice run may take; past it ngspice's process group is killed "
    "and the row says timeout.",
)

spice_mode = click.option(
    "--spice-mode",
    type=click.Choice(["shared", "batch"]),
    default="shared",
    show_default=True,
    help="shared: libngspice (through PySpice) in a reused worker process; "
    "batch: the 'ngspice -b' program and its rawfile, one process per run.",
)

diode_model = click.option(
    "--diode-model",
    type=click.Choice(["switch", "shockley"]),
    default="switch",
    show_default=True,
    help="How ngspice models ideal diodes. switch: a self-controlled switch (agrees with "
    "the exact answer to ~1e-7 V). shockley: SPICE's own diode with the netlist's "
    ".model; expect each conducting diode to drop ≈ N·Vt·ln(I/IS) (~0.6-0.8 V at mA "
    "with default IS, N), so rows will disagree by that much.",
)

gmin = click.option(
    "--gmin",
    type=click.FloatRange(min=0.0, min_open=True),
    default=None,
    help="Add a conductance GMIN (S) from every node to ground in both solvers "
    "(ngspice: rshunt = 1/GMIN).",
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
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Random seed of the generated networks: the same seed gives the same networks.",
)
