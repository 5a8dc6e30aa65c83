"""Network generators, ``resbench generate`` and the bundled netlists."""

from __future__ import annotations

import math
import os
import shlex
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resbench.generate as gen
from resbench.circuit import Circuit
from resbench.cli.main import cli
from resbench.errors import CircuitError, ResbenchError
from resbench.generate import PRESETS, GeneratorError, drn, drn_size, grid, random_network
from resbench.netlist import read_netlist
from resbench.solvers.reference import solve_reference

NETLISTS = Path(__file__).resolve().parents[1] / "netlists"


def _layer_of(sizes: tuple[int, ...]) -> np.ndarray:
    """Layer number of every node index (ground = -1)."""
    return np.concatenate([[-1], np.repeat(np.arange(len(sizes)), sizes)])


def _binomial_window(pairs: int, k: float = 6.0) -> tuple[float, float]:
    sd = math.sqrt(pairs / 4)
    return pairs / 2 - k * sd, pairs / 2 + k * sd


def _check_diodes(c: Circuit, v: np.ndarray, tol: float = 1e-9) -> None:
    """Every ideal diode satisfies v(anode) <= v(cathode)."""
    if len(c.diodes):
        assert np.max(v[c.diodes.a] - v[c.diodes.b]) <= tol


# ------------------------------------------------------------------------ sizes
def test_preset_sizes_exact() -> None:
    assert PRESETS["xs"] == (1568, 100, 10)
    xs = drn_size(preset="xs")
    assert xs == {
        "nodes": 1678,
        "vsources": 1568,
        "diodes": 100,
        "conductances": 157_800,  # the paper's size of DRN-XS
        "resistors_expected": 78_900,
    }
    h1 = drn_size(preset="1h")
    assert h1["conductances"] == 1568 * 1024 + 1024 * 10
    assert h1["resistors_expected"] == 807_936
    assert drn_size(preset="2h")["diodes"] == 2048
    assert drn_size(preset="3h")["nodes"] == 1568 + 3 * 1024 + 10
    xl = drn_size(preset="xl")
    assert xl["conductances"] == 51_707_904  # "51.7M conductances"
    assert round(xl["conductances"] / xs["conductances"]) == 328  # paper: ~327x XS
    assert drn_size([784, 100, 10])["conductances"] == 784 * 100 + 100 * 10


def test_drn_xs_structure() -> None:
    sizes = PRESETS["xs"]
    c = drn(preset="xs")
    c.validate()
    s = c.sizes()
    assert s["nodes"] == 1678 and s["diodes"] == 100 and s["vsources"] == 1568
    assert s["isources"] == 0
    lo, hi = _binomial_window(157_800)
    assert lo < s["resistors"] < hi
    assert c.nodes[0] == "0" and c.nodes[1] == "in0" and c.nodes[1569] == "h1_0"
    assert c.nodes[-1] == "out9"
    layer = _layer_of(sizes)
    la, lb = layer[c.resistors.a], layer[c.resistors.b]
    assert np.all(lb == la + 1)  # only between consecutive layers, in forward order
    # no parallel duplicates, every hidden/output node fed by the previous layer
    pair = c.resistors.a.astype(np.int64) * c.n_nodes + c.resistors.b
    assert np.unique(pair).size == pair.size
    assert set(np.unique(c.resistors.b).tolist()) == set(range(1 + sizes[0], c.n_nodes))
    # the drawn weight w = 1 / (R * G_UNIT) lies in (0, 1/sqrt(fan_in)]
    fan_in = np.asarray(sizes)[la]
    g = 1 / (c.resistors.value * gen.G_UNIT)
    assert np.all(g > 0) and np.all(g <= 1 / np.sqrt(fan_in) * (1 + 1e-12))
    # about uniform: mean of U(0, c) is c/2
    first = la == 0
    assert abs(g[first].mean() * math.sqrt(1568) - 0.5) < 0.01
    # inputs: +x*gain, -x*gain pairs with x in [0, 1], gain 100 for xs
    v = c.vsources.value
    assert np.array_equal(v[0::2], -v[1::2])
    assert np.all((v[0::2] >= 0) & (v[0::2] <= 100.0))
    assert np.all(c.vsources.b == 0)


def test_drn_1h_counts() -> None:
    c = drn(preset="1h", seed=1)
    s = c.sizes()
    ref = drn_size(preset="1h")
    assert s["nodes"] == ref["nodes"] == 1568 + 1024 + 10
    assert s["diodes"] == 1024 and s["vsources"] == 1568
    lo, hi = _binomial_window(ref["conductances"])
    assert lo < s["resistors"] < hi
    assert c.vsources.value.max() <= 480.0  # 1h input gain


def test_drn_diode_orientation_structural() -> None:
    c = drn([6, 5, 3, 2], seed=4)
    hidden = c.nodes[7:15]
    d = c.diodes
    for j, name in enumerate(hidden):
        index = int(name.split("_")[1])
        node = c.nodes.index(name)
        if index % 2 == 0:  # v >= 0: anode ground, cathode node
            assert (d.a[j], d.b[j]) == (0, node)
        else:  # v <= 0
            assert (d.a[j], d.b[j]) == (node, 0)


# ------------------------------------------------------------------ determinism
def test_same_seed_same_circuit_different_seed_differs() -> None:
    assert drn([20, 12, 4], seed=5, bias=True) == drn([20, 12, 4], seed=5, bias=True)
    assert drn([20, 12, 4], seed=5) != drn([20, 12, 4], seed=6)
    assert grid(6, 7, seed=2, free_free_diodes=True) == grid(6, 7, seed=2, free_free_diodes=True)
    assert grid(6, 7, seed=2) != grid(6, 7, seed=3)
    assert random_network(50, seed=9) == random_network(50, seed=9)
    assert random_network(50, seed=9) != random_network(50, seed=10)


def test_drn_independent_of_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = drn([40, 30, 20, 4], seed=3)
    monkeypatch.setattr(gen, "_CHUNK", 7)  # 1 row per chunk
    assert drn([40, 30, 20, 4], seed=3) == ref
    monkeypatch.setattr(gen, "_CHUNK", 90)  # 3 rows per chunk, ragged last chunk
    assert drn([40, 30, 20, 4], seed=3) == ref


def test_drn_conductance_unit_scales_resistors_only() -> None:
    base = drn([20, 12, 4], seed=1, bias=True)
    milli = drn([20, 12, 4], seed=1, bias=True, g_unit=1e-3)
    assert np.allclose(milli.resistors.value * 100, base.resistors.value, rtol=1e-14)
    assert np.allclose(milli.isources.value, base.isources.value * 100, rtol=1e-14)
    v1, v2 = solve_reference(base).voltages, solve_reference(milli).voltages
    assert np.allclose(v1, v2, rtol=1e-9, atol=1e-12)  # voltages do not depend on the unit
    with pytest.raises(GeneratorError):
        drn([4, 2], g_unit=0.0)


def test_drn_options_use_separate_streams() -> None:
    base = drn([20, 12, 4], seed=2)
    biased = drn([20, 12, 4], seed=2, bias=True)
    other_image = drn([20, 12, 4], seed=2, sample=1)
    assert base.resistors.equals(biased.resistors)
    assert base.resistors.equals(other_image.resistors)
    assert not np.array_equal(base.vsources.value, other_image.vsources.value)
    assert len(biased.isources) == 12 + 4 and np.all(biased.isources.a == 0)
    fan_in = np.repeat([20, 12], [12, 4])
    assert np.all(np.abs(biased.isources.value) <= gen.G_UNIT / np.sqrt(fan_in))
    assert np.any(biased.isources.value > 0) and np.any(biased.isources.value < 0)


def test_drn_digits_inputs() -> None:
    from sklearn.datasets import load_digits

    images = load_digits().images
    c = drn([128, 10, 4], inputs="digits", sample=3, input_gain=2.0)
    assert np.allclose(c.vsources.value[0::2], images[3].ravel() / 16 * 2.0)
    assert np.allclose(c.vsources.value[1::2], -images[3].ravel() / 16 * 2.0)
    x = gen.digits_image(784, 0).reshape(28, 28)  # nearest-neighbour upsampling
    img = images[0] / 16
    assert set(np.unique(x)) == set(np.unique(img))
    assert x[0, 0] == img[0, 0] and x[27, 27] == img[7, 7] and x[14, 14] == img[4, 4]
    assert x[3, 10] == img[1, 3]  # pixel centre (3.5 * 8/28, 10.5 * 8/28) = (1.0, 3.0)
    assert abs(x.mean() - img.mean()) < 0.05


@pytest.mark.parametrize(
    "kwargs",
    [
        {"layers": [3, 4]},  # odd input layer
        {"layers": [4]},
        {"layers": [4, 0, 2]},
        {"preset": "huge"},
        {},
        {"preset": "xs", "layers": [4, 2]},
        {"layers": [4, 2], "inputs": "mnist"},
        {"layers": [4, 2], "seed": -1},
        {"layers": [4, 2], "inputs": "digits", "sample": 5000},
    ],
)
def test_drn_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(GeneratorError):
        drn(**kwargs)


# ----------------------------------------------------------------------- solves
@pytest.mark.parametrize("seed", range(6))
def test_drn_solution_respects_diode_directions(seed: int) -> None:
    sizes = (20, 12, 4)
    c = drn(sizes, seed=seed, bias=seed % 2 == 1)
    v = solve_reference(c).voltages
    hidden = v[1 + sizes[0] : 1 + sizes[0] + sizes[1]]
    assert np.all(hidden[0::2] >= -1e-12)
    assert np.all(hidden[1::2] <= 1e-12)
    _check_diodes(c, v, 1e-12)
    assert np.allclose(v[1 : 1 + sizes[0]], c.vsources.value)


def test_drn_diodes_are_active() -> None:
    """The diodes matter: the unconstrained linear solution breaks some of the bounds."""
    sizes = (20, 12, 4)
    c = drn(sizes, seed=0)
    linear = Circuit(**{**c.__dict__, "diodes": c.diodes.empty(), "diode_models": []})
    hid = slice(1 + sizes[0], 1 + sizes[0] + sizes[1])
    v_lin = solve_reference(linear).voltages[hid]
    assert np.any(v_lin[0::2] < -1e-6) and np.any(v_lin[1::2] > 1e-6)
    v = solve_reference(c).voltages[hid]
    assert np.sum(np.abs(v) < 1e-12) >= 2  # clamped at 0 V by their diodes
    assert np.max(np.abs(v)) > 1e-3


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(lambda s: (2 * s[0], *s[1:])),
    out=st.integers(1, 4),
    seed=st.integers(0, 10_000),
)
def test_drn_tiny_fan_in_is_well_posed(sizes: tuple[int, ...], out: int, seed: int) -> None:
    """With fan-in 1-6 whole columns get clipped to 0: the generator must reconnect them."""
    c = drn((*sizes, out), seed=seed)
    v = solve_reference(c).voltages
    _check_diodes(c, v, 1e-12)


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    rows=st.integers(2, 9),
    cols=st.integers(2, 9),
    seed=st.integers(0, 10_000),
    clamps=st.booleans(),
    free_free=st.booleans(),
    currents=st.integers(0, 3),
)
def test_grid_feasible_and_well_posed(
    rows: int, cols: int, seed: int, clamps: bool, free_free: bool, currents: int
) -> None:
    if currents and rows * cols == 4:
        with pytest.raises(GeneratorError):
            grid(rows, cols, currents=currents)
        return
    c = grid(rows, cols, seed=seed, clamps=clamps, free_free_diodes=free_free, currents=currents)
    c.validate()
    assert c.sizes()["resistors"] == rows * (cols - 1) + cols * (rows - 1)
    sol = solve_reference(c)
    _check_diodes(c, sol.voltages)
    if clamps:
        clamped = np.unique(c.diodes.b[[n.startswith("dlo") for n in c.diodes.names]])
        assert np.all(np.abs(sol.voltages[clamped]) <= 0.3 + 1e-9)
    if not currents:  # maximum principle: the corner sources bound every mesh node
        mesh = sol.voltages[1 : 1 + rows * cols]
        assert mesh.max() <= 1.0 + 1e-9 and mesh.min() >= -1.0 - 1e-9


def test_grid_clamps_bind() -> None:
    c = grid(12, 12, seed=1, free_free_diodes=True, currents=2)
    s = c.sizes()
    assert s["diodes"] > 0 and s["isources"] == 2 and s["vsources"] == 6
    sol = solve_reference(c)
    on = np.isclose(sol.voltages[c.diodes.a], sol.voltages[c.diodes.b], atol=1e-12)
    assert on.any() and not on.all()


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    nodes=st.integers(2, 80),
    degree=st.floats(0, 6),
    seed=st.integers(0, 10_000),
    diodes=st.floats(0, 3.0),  # many diodes per node: conflicting bounds if misoriented
    free_free=st.booleans(),
)
def test_random_network_feasible_and_well_posed(
    nodes: int, degree: float, seed: int, diodes: float, free_free: bool
) -> None:
    c = random_network(nodes, degree=degree, seed=seed, diodes=diodes, free_free=free_free)
    c.validate()
    held = np.zeros(c.n_nodes, bool)
    held[c.vsources.a] = held[c.vsources.b] = True
    held[0] = True
    if len(c.diodes):
        assert not np.any(held[c.diodes.a] & held[c.diodes.b])  # never between source nodes
        if not free_free:
            assert np.all(held[c.diodes.a] | held[c.diodes.b])
    assert np.any(c.vsources.b == 0)
    sol = solve_reference(c)
    _check_diodes(c, sol.voltages)


def test_random_network_sizes() -> None:
    c = random_network(400, degree=5.0, seed=1, diodes=0.2)
    s = c.sizes()
    assert s["nodes"] == 400 and s["diodes"] == 80
    assert s["resistors"] == 1000 + 8  # degree * nodes / 2 edges + 2 % ground resistors
    assert s["vsources"] == 20 and s["isources"] == 20
    held = np.zeros(c.n_nodes, bool)
    held[c.vsources.a] = held[c.vsources.b] = True
    assert np.any(~held[c.diodes.a] & ~held[c.diodes.b])  # free-free diodes present
    assert np.any(held[c.diodes.a] ^ held[c.diodes.b])  # diodes to source-held nodes
    assert np.any((c.vsources.a != 0) & (c.vsources.b != 0))  # floating sources


def test_generators_reject_bad_input() -> None:
    with pytest.raises(GeneratorError):
        grid(1, 5)
    with pytest.raises(GeneratorError):
        grid(3, 3, vhi=-1.0)
    with pytest.raises(GeneratorError):
        random_network(1)
    with pytest.raises(GeneratorError):
        random_network(10, diodes=-1)
    with pytest.raises(GeneratorError):
        random_network(10, vsources=6)


def test_reference_solver_rejects_a_broken_generator_output() -> None:
    """The feasibility checks the tests rely on can fail: a diode forced by sources."""
    c = random_network(20, seed=0, diodes=0.0)
    node, volts = int(c.vsources.a[0]), float(c.vsources.value[0])
    assert c.vsources.b[0] == 0 and volts != 0
    anode, cathode = (node, 0) if volts > 0 else (0, node)  # forward-biased by the source
    diodes = type(c.diodes).from_lists(["dbad"], [anode], [cathode], [0.0])
    bad = Circuit(**{**c.__dict__, "diodes": diodes, "diode_models": ["d"]})
    with pytest.raises(CircuitError):
        solve_reference(bad)


# -------------------------------------------------------------------------- CLI
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["drn", "--layers", "8,6,3", "--seed", "4", "--bias", "--gain", "3"],
            lambda: drn([8, 6, 3], seed=4, bias=True, input_gain=3.0),
        ),
        (
            ["grid", "--rows", "5", "--cols", "4", "--free-free", "--currents", "2", "--seed", "1"],
            lambda: grid(5, 4, seed=1, free_free_diodes=True, currents=2),
        ),
        (
            ["random", "--nodes", "30", "--degree", "3", "--diodes", "0.3", "--no-free-free"],
            lambda: random_network(30, degree=3.0, diodes=0.3, free_free=False),
        ),
    ],
)
def test_cli_generate_round_trip(tmp_path: Path, args: list[str], expected) -> None:
    out = tmp_path / "net.cir"
    res = CliRunner().invoke(cli, ["generate", *args, "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "resistors" in res.stderr and str(out) in res.stderr
    text = out.read_text()
    assert text.splitlines()[1].startswith("* generated by resbench")
    parsed = read_netlist(out)
    assert parsed == expected()
    # the command in the header reproduces the file exactly
    (command,) = [
        ln[len("* command: ") :] for ln in text.splitlines() if ln.startswith("* command:")
    ]
    words = shlex.split(command)
    assert words[:2] == ["resbench", "generate"]
    words[words.index("--output") + 1] = str(tmp_path / "again.cir")
    again = CliRunner().invoke(cli, words[1:])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again.cir").read_text() == text.replace(
        str(out), str(tmp_path / "again.cir")
    )


def test_cli_generate_stdout_default_preset() -> None:
    res = CliRunner().invoke(cli, ["generate", "drn", "--layers", "4,2"])
    assert res.exit_code == 0
    assert res.stdout.startswith("resbench drn 4-2")
    assert res.stdout.rstrip().endswith(".end")
    assert "vin3 in3 0 dc" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["drn", "--rows", "3"], "--rows does not apply"),
        (["grid", "--preset", "xs"], "--preset does not apply"),
        (["drn", "--layers", "3,2"], "must be even"),
        (["drn", "--layers", "a,b"], "comma-separated"),
        (["drn", "--preset", "xs", "--layers", "4,2"], "not both"),
        (["grid", "--rows", "1"], "rows"),
        (["random", "--nodes", "10", "-o", "/proc/nonexistent-dir/x.cir"], "cannot write"),
        (["mesh"], "mesh"),
    ],
)
def test_cli_generate_bad_input(args: list[str], message: str) -> None:
    res = CliRunner().invoke(cli, ["generate", *args])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_generator_error_is_a_resbench_error() -> None:
    assert issubclass(GeneratorError, ResbenchError) and issubclass(GeneratorError, ValueError)


# ------------------------------------------------------------- bundled netlists
# file -> (nodes, resistors, diodes, vsources, isources) and analytic voltages
BUNDLED = {
    "divider.cir": ((2, 2, 0, 1, 0), {"in": 10.0, "out": 7.5}),
    "clipper.cir": ((4, 2, 2, 3, 0), {"out": 2.0}),
    "halfwave.cir": ((6, 4, 2, 2, 0), {"out1": 5 / 1.1, "a1": 5 / 1.1, "out2": 0.0, "a2": -5.0}),
    "bridge.cir": ((4, 3, 4, 1, 0), {"p": 10.0, "ac1": 10.0, "n": 0.0, "ac2": 0.0}),
    "diode_or.cir": ((7, 2, 5, 5, 0), {"out1": 5.0, "out2": 0.0}),
    "diode_and.cir": ((10, 3, 6, 7, 0), {"out1": 0.0, "out2": 2.0, "out3": 5.0}),
    "ladder.cir": (
        (8, 8, 0, 4, 0),
        {"n3": 3.4375, "n2": 85 / 32, "n1": 205 / 64, "n0": 365 / 128},
    ),
    "stall.cir": ((3, 2, 1, 1, 0), {"a": 0.5, "b": 0.5}),
    "floating_sources.cir": (
        (10, 6, 0, 6, 3),
        {
            "n1": 5,
            "n2": 4,
            "n3": 2,
            "n4": 2,
            "n5": -1,
            "n6": 1,
            "n7": 3,
            "n8": 1.5,
            "n9": 2,
            "n10": 1.5,
        },
    ),
    "subckt_param.cir": ((4, 4, 1, 2, 0), {"a": 6.0, "o1": 1.0, "o2": 1 / 3}),
    "drn_small.cir": ((28, None, 8, 16, 12), {}),
    "drn_xs.cir": ((1678, None, 100, 1568, 0), {}),
    "grid_clamps.cir": ((902, 1740, 448, 6, 0), {}),
    "random_small.cir": ((200, 404, 20, 10, 10), {}),
}
REGENERATE = {
    "drn_small.cir": lambda: drn([16, 8, 4], bias=True),
    "drn_xs.cir": lambda: drn(preset="xs"),
    "grid_clamps.cir": lambda: grid(30, 30),
    "random_small.cir": lambda: random_network(200),
}


ALL_NETLISTS = sorted(p.name for p in NETLISTS.glob("*.cir"))


def test_bundled_netlists_present() -> None:
    assert set(BUNDLED) <= set(ALL_NETLISTS)
    assert len(ALL_NETLISTS) >= 10


@pytest.mark.parametrize("name", ALL_NETLISTS)
def test_bundled_netlist(name: str) -> None:
    path = NETLISTS / name
    first = path.read_text().splitlines()[:2]
    assert first[1].startswith("*"), "a leading comment says what the netlist is"
    c = read_netlist(path)
    s = c.sizes()
    assert s["nodes"] >= 1
    counts, expected = BUNDLED.get(name, ((None,) * 5, {}))
    got = (s["nodes"], s["resistors"], s["diodes"], s["vsources"], s["isources"])
    for g, e in zip(got, counts, strict=True):
        assert e is None or g == e, (got, counts)
    if name in REGENERATE:
        # the file is what its command generates (to 1e-12: numpy feeds the values)
        assert c.equals(REGENERATE[name](), rtol=1e-12)
    if name in BUNDLED and s["nodes"] <= 1000:  # unique, feasible solution
        sol = solve_reference(c)
        _check_diodes(c, sol.voltages)
        for node, volts in expected.items():
            assert sol.voltage(node) == pytest.approx(volts, abs=1e-9), node


# ------------------------------------------------- sizes before anything is built
SIZE_CASES = [
    ("grid", (120, 120), {"clamps": False}),
    ("grid", (120, 120), {}),
    ("grid", (2, 20000), {"free_free_diodes": True, "currents": 5000}),
    ("grid", (2, 2), {"free_free_diodes": True}),
    ("drn", ([200, 1000, 10],), {"bias": True}),
    ("drn", ([2, 50000, 2],), {}),
    ("drn", ([4, 2],), {}),
    ("random", (5000,), {}),
    ("random", (3000,), {"diodes": 5.0}),
    ("random", (600,), {"degree": 40.0, "vsources": 300}),
]
MAKERS = {"grid": grid, "drn": drn, "random": random_network}


@pytest.mark.parametrize(("family", "args", "kwargs"), SIZE_CASES)
def test_estimate_bounds_counts_and_peak_memory(family: str, args: tuple, kwargs: dict) -> None:
    """The estimate made from the arguments alone bounds what is built: every count
    (exact for grids) and the peak memory traced while building (within 3x)."""
    import tracemalloc

    est = gen.estimate(family, *args, **kwargs)
    tracemalloc.start()
    try:
        c = MAKERS[family](*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    sizes = c.sizes()
    for kind, n in est.counts.items():
        assert sizes[kind] <= n, (kind, sizes[kind], n)
        if family == "grid" or kind in ("nodes", "diodes", "vsources"):
            assert sizes[kind] == n, (kind, sizes[kind], n)
    assert peak <= est.nbytes <= 3 * peak + (1 << 20), (peak, est.nbytes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grid", "--rows", "100000", "--cols", "100000"], "10,000,000,002 nodes"),
        (["drn", "--layers", "2,100000000000"], "100,000,000,002 nodes"),
        (["random", "--diodes", "1e9"], "1,000,000,000,000 diodes"),
        (["grid", "--rows", "40000", "--cols", "40000"], "3,199,920,000 resistors"),
    ],
)
def test_cli_generate_refuses_counts_beyond_32_bit_indices(args: list[str], message: str) -> None:
    """Issue 10: these were OOM-killed at 24 GB; now refused before anything is built,
    on any machine (the counts do not fit resbench's 32-bit indices)."""
    res = CliRunner().invoke(cli, ["generate", *args, "-o", os.devnull])
    assert res.exit_code == 2, res.output
    assert message in res.output and "32-bit" in res.output and "hint:" in res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_api_generators_refuse_counts_beyond_32_bit_indices() -> None:
    with pytest.raises(GeneratorError, match="10,000,000,002 nodes"):
        grid(100000, 100000)
    with pytest.raises(GeneratorError, match="100,000,000,002 nodes"):
        drn([2, 100_000_000_000])
    with pytest.raises(GeneratorError, match="1,000,000,000,000 diodes"):
        random_network(1000, diodes=1e9)
    with pytest.raises(GeneratorError, match="nodes"):
        random_network(gen.MAX_COUNT)  # ground makes it one node too many


def test_generators_refuse_what_memory_cannot_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory is estimated from the arguments and compared with the available memory
    (stubbed here so the test means the same on every machine)."""
    monkeypatch.setattr(gen, "available_memory", lambda: 64 << 20)  # 64 MiB
    assert grid(50, 50).sizes()["nodes"] == 2502  # small ones are built as before
    for make, what in (
        (lambda: grid(1000, 1000), "a 1000x1000 grid"),
        (lambda: drn([1000, 10000, 10]), "a DRN with layers 1000-10000-10"),
        (lambda: random_network(500_000), "a random network of 500,000 nodes"),
    ):
        with pytest.raises(GeneratorError) as info:
            make()
        msg = str(info.value)
        assert msg.startswith(f"building {what} (")
        assert "GiB of memory; 0.062 GiB is available" in msg and "hint:" in msg


def test_cli_generate_counts_the_netlist_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI also needs memory for the netlist text: refused when the circuit alone
    would fit but the text would not, with exit 2 and the estimate."""
    est = gen.estimate("grid", 200, 200)
    monkeypatch.setattr(gen, "available_memory", lambda: est.nbytes + (1 << 20))
    assert grid(200, 200).sizes()["nodes"] == 40002
    res = CliRunner().invoke(cli, ["generate", "grid", "--rows", "200", "--cols", "200"])
    assert res.exit_code == 2, res.output
    assert "building and writing a 200x200 grid (40,002 nodes, 79,600 resistors" in res.output
    assert "GiB of memory" in res.output and "Traceback" not in res.output


def test_available_memory_is_a_plausible_byte_count() -> None:
    import psutil

    assert 0 < gen.available_memory() <= psutil.virtual_memory().total


@pytest.mark.parametrize(
    "make",
    [
        lambda: random_network(10, degree=math.inf),
        lambda: random_network(10, degree=math.nan),
        lambda: random_network(10, diodes=math.inf),
        lambda: grid(3, 3, r_max=math.inf),
        lambda: grid(3, 3, vhi=math.inf),
        lambda: gen.estimate("mesh", 3, 3),
        lambda: gen.estimate("grid", 3),
        lambda: gen.estimate("grid", 1, 5),
        lambda: gen.estimate("random", 10, degree=math.inf),
    ],
)
def test_non_finite_or_malformed_size_arguments_are_generator_errors(make) -> None:
    with pytest.raises(GeneratorError):
        make()
