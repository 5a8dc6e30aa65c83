"""``resbench generate FAMILY``: write a generated network as a netlist."""

from __future__ import annotations

import shlex
import sys

import click

from resbench import __version__
from resbench.cli import options
from resbench.defaults import DRN_PRESETS, FAMILIES

# option name -> families it applies to
_APPLIES = {
    "preset": {"drn"},
    "layers": {"drn"},
    "gain": {"drn"},
    "inputs": {"drn"},
    "sample": {"drn"},
    "bias": {"drn"},
    "rows": {"grid", "powergrid"},
    "cols": {"grid", "powergrid"},
    "clamps": {"grid"},
    "currents": {"grid"},
    "nodes": {"random"},
    "degree": {"random"},
    "diodes": {"random"},
    "free_free": {"grid", "random"},
    "resistors": {"chain"},
    "leaves": {"star"},
    "current": {"chain", "star"},
    "metal_layers": {"powergrid"},
    "pad_pitch": {"powergrid"},
    "via_sources": {"powergrid"},
}

_DESCRIPTION = {
    "drn": "a paper-style deep resistive network (Scellier, ICML 2024): input nodes held by "
    "+x*gain / -x*gain voltage sources, one diode to ground per hidden node (even index v >= 0, "
    "odd v <= 0), layer-to-layer conductances max(0, U(-1/sqrt(fan_in), 1/sqrt(fan_in))) x 10 uS",
    "grid": "a 2-D resistor mesh with corner voltage sources and optional diode clamps to "
    "bias sources and diodes between neighbouring free nodes",
    "random": "a connected sparse random resistor network with grounded and floating voltage "
    "sources, current sources and diodes (feasible and well-posed by construction)",
    "chain": "a chain of resistors from ground driven by a current source into its far end",
    "star": "a free hub joined to many leaves (R hub li ~1k, RG li 0 ~1meg), driven by a "
    "current source into the hub",
    "powergrid": "a multi-layer on-chip power grid like the IBM benchmarks: wire meshes, vias, "
    "C4 pads as voltage sources, loads as current sources",
}


def _parse_layers(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        sizes = tuple(int(t) for t in value.replace(" ", "").split(",") if t)
    except ValueError:
        raise click.BadParameter(
            f"expected a comma-separated list of integers, e.g. 784,100,10; got {value!r}"
        ) from None
    if not sizes:
        raise click.BadParameter("empty layer list")
    return sizes


def _command_line(ctx: click.Context, family: str) -> str:
    """The canonical command that reproduces this output (explicit options only)."""
    words = ["resbench", "generate", family]
    for param in ctx.command.params:
        if param.name == "family" or not isinstance(param, click.Option):
            continue
        if ctx.get_parameter_source(param.name) != click.core.ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        long = max(param.opts, key=len)
        if param.is_flag:
            if param.secondary_opts:
                words.append(long if value else max(param.secondary_opts, key=len))
            elif value:
                words.append(long)
        else:
            words += [long, str(value)]
    return " ".join(shlex.quote(w) for w in words)


@click.command("generate")
@click.argument("family", type=click.Choice(FAMILIES, case_sensitive=False))
@click.option(
    "--preset",
    type=click.Choice(DRN_PRESETS, case_sensitive=False),
    help="drn: paper preset: xs 1568-100-10, 1h 1568-1024-10, 2h/3h two/three hidden "
    "layers of 1024, xl 1568-32768-10.  Default xs when --layers is not given.",
)
@click.option(
    "--layers",
    metavar="N0,N1,...",
    help="drn: layer sizes, e.g. 784,100,10 (the first, the input layer, must be even: "
    "it holds +x and -x of each pixel).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Random seed: the same seed gives the same network.",
)
@click.option(
    "--gain",
    type=options.FINITE,
    default=None,
    help="drn: input gain in volts per unit pixel (default: the preset's, "
    "xs 100, 1h 480, 2h 2000, 3h 4000, xl 800; 1 for free layer sizes).",
)
@click.option(
    "--inputs",
    type=click.Choice(["random", "digits"]),
    default="random",
    show_default=True,
    help="drn: input image: a seeded uniform random image, or scikit-learn's "
    "8x8 digits dataset resampled to the input size.",
)
@click.option(
    "--sample",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="drn: which input image (digits index, or random image stream).",
)
@click.option(
    "--bias/--no-bias",
    default=False,
    show_default=True,
    help="drn: add a small bias current source into every hidden and output node.",
)
@click.option(
    "--rows",
    type=click.IntRange(min=2),
    default=30,
    show_default=True,
    help="grid, powergrid: number of rows (of layer 1).",
)
@click.option(
    "--cols",
    type=click.IntRange(min=2),
    default=30,
    show_default=True,
    help="grid, powergrid: number of columns (of layer 1).",
)
@click.option(
    "--clamps/--no-clamps",
    default=True,
    show_default=True,
    help="grid: diode clamps from a quarter of the nodes to +0.3 V / -0.3 V bias sources.",
)
@click.option(
    "--currents",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="grid: number of random current sources into mesh nodes.",
)
@click.option(
    "--nodes",
    type=click.IntRange(min=2),
    default=1000,
    show_default=True,
    help="random: number of nodes.",
)
@click.option(
    "--degree",
    type=options.NON_NEGATIVE,
    default=4.0,
    show_default=True,
    help="random: average number of resistors per node.",
)
@click.option(
    "--diodes",
    type=options.NON_NEGATIVE,
    default=0.1,
    show_default=True,
    help="random: diodes per node.",
)
@click.option(
    "--free-free/--no-free-free",
    default=None,
    help="grid, random: also put diodes between two free nodes (the case where "
    "plain coordinate descent can stall).  Default: off for grid, on for random.",
)
@click.option(
    "--resistors",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="chain: number of resistors (and nodes).",
)
@click.option(
    "--leaves",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="star: number of leaves around the free hub.",
)
@click.option(
    "--current",
    type=options.FINITE,
    default=1e-3,
    show_default=True,
    help="chain, star: the driving current source, amperes.",
)
@click.option(
    "--metal-layers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="powergrid: metal layers (layer k has a node every 2^(k-1) points of layer 1).",
)
@click.option(
    "--pad-pitch",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="powergrid: a C4 pad (voltage source) every this many top-layer nodes.",
)
@click.option(
    "--via-sources/--via-resistors",
    default=False,
    show_default=True,
    help="powergrid: write vias as 0 V voltage sources (as the IBM netlists do) or as "
    "small resistors.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default="-",
    show_default=True,
    help="Netlist file to write ('-' for standard output); missing folders are created.",
)
@click.pass_context
def generate(ctx: click.Context, family: str, output: str, **opts) -> None:
    """Generate a network of FAMILY (drn, grid, random, chain, star or powergrid) and
    write it as a netlist.

    \b
    Examples:
      resbench generate drn --preset xs -o drn_xs.cir
      resbench generate drn --layers 16,8,4 --seed 1 -o drn_small.cir
      resbench generate grid --rows 30 --cols 30 -o grid.cir
      resbench generate random --nodes 500 --free-free -o rand.cir
      resbench generate powergrid --rows 300 --cols 300 -o pg.cir
      resbench generate chain --resistors 100000 -o chain.cir
      resbench generate star --leaves 100000 -o star.cir
    """
    from resbench import generate as gen
    from resbench.netlist import write_netlist

    family = family.lower()
    wrong = [
        "--" + name.replace("_", "-")
        for name, fams in _APPLIES.items()
        if family not in fams
        and ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
    ]
    if wrong:
        raise click.UsageError(f"{', '.join(wrong)} does not apply to family {family!r}")
    if output != "-":
        options.prepare_output(output)  # before generating: a bad path fails at once

    if family == "drn":
        layers = _parse_layers(opts["layers"])
        preset = opts["preset"]
        if layers is None and preset is None:
            preset = "xs"
        args: tuple = (layers,)
        kwargs = {
            "preset": preset,
            "seed": opts["seed"],
            "input_gain": opts["gain"],
            "inputs": opts["inputs"],
            "bias": opts["bias"],
            "sample": opts["sample"],
        }
    elif family == "grid":
        args = (opts["rows"], opts["cols"])
        kwargs = {
            "seed": opts["seed"],
            "clamps": opts["clamps"],
            "free_free_diodes": bool(opts["free_free"]),
            "currents": opts["currents"],
        }
    elif family == "chain":
        args = (opts["resistors"],)
        kwargs = {"seed": opts["seed"], "current": opts["current"]}
    elif family == "star":
        args = (opts["leaves"],)
        kwargs = {"seed": opts["seed"], "current": opts["current"]}
    elif family == "powergrid":
        args = (opts["rows"], opts["cols"])
        kwargs = {
            "seed": opts["seed"],
            "layers": opts["metal_layers"],
            "pad_pitch": opts["pad_pitch"],
            "via_sources": opts["via_sources"],
        }
    else:
        args = (opts["nodes"],)
        kwargs = {
            "degree": opts["degree"],
            "seed": opts["seed"],
            "diodes": opts["diodes"],
            "free_free": True if opts["free_free"] is None else opts["free_free"],
        }
    # counts and memory (the netlist text included) before anything big is built
    gen.check_fits(gen.estimate(family, *args, **kwargs), netlist=True)
    make = {
        "drn": gen.drn,
        "grid": gen.grid,
        "random": gen.random_network,
        "chain": gen.chain,
        "star": gen.star,
        "powergrid": gen.powergrid,
    }[family]
    circuit = make(*args, **kwargs)

    sizes = circuit.sizes()
    summary = (
        f"{sizes['nodes']} nodes, {sizes['resistors']} resistors, {sizes['diodes']} diodes, "
        f"{sizes['vsources']} voltage sources, {sizes['isources']} current sources"
    )
    text = write_netlist(circuit)
    title, _, rest = text.partition("\n")
    header = [
        f"* generated by resbench {__version__}: {_DESCRIPTION[family]}",
        f"* size: {summary}",
        f"* command: {_command_line(ctx, family)}",
    ]
    text = "\n".join([title, *header, rest])
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        options.write_output(output, text)
    where = "stdout" if output == "-" else output
    click.echo(f"{circuit.title}: {summary} -> {where}", err=True)
