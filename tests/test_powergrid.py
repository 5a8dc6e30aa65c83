"""The slow-for-sweeps families (power grid, chain, star): structure, sizes before
building, the CLI, the bundled IBM-dialect netlist, and agreement with the reference
(small) and ngspice (medium, ``spice``)."""

from __future__ import annotations

import math
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from resbench import generate as gen
from resbench.bench.scale import DEFAULT_SIZES, DEFAULT_SPICE_MAX, build_circuit, parse_sizes
from resbench.certificate import certify
from resbench.cli.main import cli
from resbench.defaults import FAMILIES
from resbench.errors import CircuitError
from resbench.generate import GeneratorError, chain, powergrid, star
from resbench.netlist import read_netlist, write_netlist
from resbench.solution import CONVERGED
from resbench.solvers.cd import solve_cd
from resbench.solvers.reference import solve_reference

NETLISTS = Path(__file__).resolve().parent.parent / "netlists"
NODE = re.compile(r"^(_x_)?n(\d+)_(\d+)_(\d+)$")


# ------------------------------------------------------------------ structure
def test_powergrid_structure():
    c = powergrid(9, 12, layers=3, pad_pitch=2, seed=4)
    names = c.nodes[1:]
    assert all(NODE.match(n) for n in names), [n for n in names if not NODE.match(n)][:3]
    layers = {int(NODE.match(n).group(2)) for n in names}
    assert layers == {1, 2, 3}
    per_layer = {k: sum(1 for n in names if n.startswith(f"n{k}_")) for k in layers}
    assert per_layer == {1: 9 * 12, 2: 5 * 6, 3: 3 * 3}
    pads = [n for n in names if n.startswith("_x_")]
    assert len(pads) == len(c.vsources) == 4  # top layer 3x3, every 2nd point
    assert np.all(c.vsources.value == 1.8)
    assert np.all(c.isources.b == 0) and np.all(c.isources.value >= 0)
    assert len(c.isources) == round(0.25 * 9 * 12)
    vias = [n for n in c.resistors.names if n.startswith("rv")]
    assert len(vias) == per_layer[2] + per_layer[3]
    # vias as 0 V sources: the same network, the same answer
    cv = powergrid(9, 12, layers=3, pad_pitch=2, seed=4, via_sources=True)
    assert len(cv.vsources) == 4 + len(vias)
    a, b = solve_cd(c), solve_cd(cv)
    assert a.status == b.status == CONVERGED
    assert certify(c, a.voltages).ok and certify(cv, b.voltages).ok
    # loads only draw current: every node sits between ground and vdd
    assert np.all((a.voltages >= 0.0) & (a.voltages <= 1.8))
    # a 0 V via source ties its ends; a via resistor drops a little
    assert b.voltage("n3_400_800") == pytest.approx(b.voltage("n2_400_800"), abs=1e-15)
    assert b.voltage("n2_400_800") == pytest.approx(b.voltage("n1_400_800"), abs=1e-15)
    assert a.voltage("n2_400_800") != a.voltage("n1_400_800")


def test_chain_and_star_structure():
    c = chain(5, current=2e-3)
    assert c.nodes == ["0", "c1", "c2", "c3", "c4", "c5"]
    sol = solve_cd(c)
    # the whole current flows through every resistor: v(ck) = I · (r1 + … + rk)
    assert sol.voltage("c5") == pytest.approx(2e-3 * c.resistors.value.sum(), rel=1e-12)
    s = star(4)
    assert s.nodes[:2] == ["0", "hub"] and len(s.resistors) == 8
    sol = solve_cd(s)
    g = 1.0 / (s.resistors.value[:4] + s.resistors.value[4:])
    assert sol.voltage("hub") == pytest.approx(1e-3 / g.sum(), rel=1e-12)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(GeneratorError, match="layers"):
        powergrid(4, 4, layers=4)
    with pytest.raises(GeneratorError, match="r_wire"):
        powergrid(4, 4, r_wire=0.0)
    with pytest.raises(GeneratorError, match="current"):
        chain(3, current=float("nan"))
    with pytest.raises(GeneratorError, match="r_leaf"):
        star(3, r_leaf=-1.0)


SIZE_CASES = [
    ("chain", (20000,), {}),
    ("star", (20000,), {}),
    ("powergrid", (120, 90), {}),
    ("powergrid", (64, 64), {"layers": 4, "via_sources": True, "pad_pitch": 3}),
    ("powergrid", (50, 50), {"layers": 1, "load_fraction": 1.0}),
]


@pytest.mark.parametrize(("family", "args", "kwargs"), SIZE_CASES)
def test_estimate_bounds_counts_and_memory(family, args, kwargs):
    est = gen.estimate(family, *args, **kwargs)
    tracemalloc.start()
    try:
        c = getattr(gen, family)(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    sizes = c.sizes()
    for kind, n in est.counts.items():
        assert sizes[kind] == n, (kind, sizes[kind], n)
    assert peak <= est.nbytes <= 3 * peak + (1 << 20), (peak, est.nbytes)


def test_refused_before_building():
    with pytest.raises(GeneratorError, match="32-bit"):
        gen.check_fits(gen.estimate("chain", 2**31))
    with pytest.raises(GeneratorError, match="32-bit"):
        chain(2**31)
    with pytest.raises(GeneratorError, match="32-bit"):
        star(2**31)


# ------------------------------------------------------------------ CLI, scale
@pytest.mark.parametrize(
    ("args", "title"),
    [
        (["chain", "--resistors", "7", "--current", "0.002"], "resbench chain resistors=7"),
        (["star", "--leaves", "5"], "resbench star leaves=5"),
        (["powergrid", "--rows", "8", "--cols", "6", "--via-sources"], "resbench powergrid 8x6"),
        (["powergrid", "--rows", "9", "--cols", "9", "--metal-layers", "3"], "layers=3"),
    ],
)
def test_cli_generate_new_families(tmp_path, args, title):
    out = tmp_path / "net.cir"
    res = CliRunner().invoke(cli, ["generate", *args, "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert title in text.splitlines()[0]
    assert "* command: resbench generate " + args[0] in text
    c = read_netlist(out)
    sol = solve_cd(c)
    assert sol.status == CONVERGED and certify(c, sol.voltages).ok


def test_cli_generate_rejects_options_of_other_families():
    res = CliRunner().invoke(cli, ["generate", "star", "--rows", "4", "-o", "-"])
    assert res.exit_code == 2 and "--rows does not apply to family 'star'" in res.output
    res = CliRunner().invoke(cli, ["generate", "grid", "--metal-layers", "3", "-o", "-"])
    assert res.exit_code == 2 and "--metal-layers does not apply" in res.output


def test_scale_knows_the_new_families():
    for family in ("chain", "star", "powergrid"):
        assert family in FAMILIES and family in DEFAULT_SIZES and family in DEFAULT_SPICE_MAX
        size = parse_sizes(family, "12")[0]
        c = build_circuit(family, size, seed=1)
        assert c.sizes()["resistors"] >= 12


def test_netlist_round_trip(tmp_path):
    c = powergrid(7, 7, layers=2, via_sources=True, pad_pitch=3, seed=5)
    path = tmp_path / "pg.cir"
    path.write_text(write_netlist(c))
    back = read_netlist(path)
    assert np.allclose(solve_cd(back).voltages, solve_cd(c).voltages, atol=1e-12)


# ------------------------------------------------------------------ bundled netlist
def test_bundled_ibmpg_small_in_the_published_dialect():
    path = NETLISTS / "ibmpg_small.cir"
    text = path.read_text()
    assert ".op" in text.splitlines() and ".end" in text.splitlines()
    cards = [ln.split()[0][0].upper() for ln in text.splitlines() if ln and ln[0] not in "*."]
    assert set(cards) == {"R", "V", "I"}
    c = read_netlist(path)
    assert c.sizes()["vsources"] == 49 and c.sizes()["isources"] == 36
    assert any(n.lower().startswith("_x_n3_") for n in c.nodes)
    sol = solve_cd(c)
    ref = solve_reference(c)
    assert sol.status == CONVERGED and certify(c, sol.voltages).ok
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= 1e-9 * 1.8


def test_powergrid_singular_when_a_pad_is_removed():
    """Without pads nothing fixes the grid's voltage: a clear error naming nodes."""
    from resbench.circuit import make_circuit

    c = powergrid(6, 6, layers=1, pad_pitch=2)
    bare = make_circuit("bare", c.nodes, resistors=c.resistors, isources=c.isources)
    with pytest.raises(CircuitError, match="no resistive path") as exc:
        solve_cd(bare)
    assert exc.value.nodes


# ------------------------------------------------------------------ ngspice
MEDIUM = {
    "grid_clamps_40": lambda: gen.grid(40, 40, seed=7),
    "grid_free_40": lambda: gen.grid(40, 40, seed=7, clamps=False, currents=30),
    "powergrid_40": lambda: powergrid(40, 40, layers=3, seed=7, via_sources=True),
    "chain_1000": lambda: chain(1000, seed=7),
    "star_3000": lambda: star(3000, seed=7),
}


@pytest.mark.spice
@pytest.mark.parametrize("name", sorted(MEDIUM))
def test_medium_networks_agree_with_ngspice(name):
    from resbench.solvers.ngspice import solve_ngspice

    c = MEDIUM[name]()
    sp = solve_ngspice(c)
    assert sp.status == CONVERGED, sp.info
    for margin in (0.0, math.inf):  # the direct finish forced, and the sweeps alone
        sol = solve_cd(c, direct_margin=margin)
        assert sol.info["direct"] == (margin == 0.0)
        assert sol.status == CONVERGED and certify(c, sol.voltages).ok
        err = float(np.max(np.abs(sol.voltages - sp.voltages)))
        assert err <= 1e-6, (margin, err)
