"""compile_problem's one-call path for small circuits (``problem._compile_small``, the
kernel ``_problem_kernels.compile_small``) and its large path build the same Problem,
bit for bit, as the multi-pass algorithm of tests/test_problem_setup.py, and raise the
same errors (the one-call path hands every error to the large path).

tests/test_problem_setup.py runs compile_problem as it chooses (the one-call path up
to ``problem.SMALL_SIZE``); here each path is forced on random and generated circuits.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples, random_circuits
from test_problem_setup import SETTINGS, check_same, with_resistors

from resbench.circuit import Branches, make_circuit
from resbench.generate import drn, grid, random_network
from resbench.solvers import problem as P


@pytest.fixture
def one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """compile_problem takes the one-call path whatever the size."""
    monkeypatch.setattr(P, "_is_small", lambda circuit: True)


def _large_path(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(P, "_is_small", lambda circuit: False)


@settings(SETTINGS, max_examples=examples(75))
@given(random_circuits(max_nodes=12, max_diodes=8), st.sampled_from([0.0, 1e-9]))
def test_the_large_path_still_compiles_small_circuits_as_before(circuit, gmin):
    with pytest.MonkeyPatch.context() as mp:
        _large_path(mp)
        check_same(circuit, gmin)


@settings(SETTINGS, max_examples=examples(50))
@given(random_circuits(max_nodes=8, max_diodes=6, islands=3), st.booleans())
def test_the_large_path_still_compiles_islands_as_before(circuit, mark):
    """With both ways of finding the held supernodes (problem._mark_held)."""
    with pytest.MonkeyPatch.context() as mp:
        _large_path(mp)
        mp.setattr(P, "_mark_held", lambda m, m_ff, n: mark)
        check_same(circuit)
        check_same(circuit, gmin=1e-9)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: grid(40, 37, seed=1, clamps=False), id="grid-free"),
        pytest.param(lambda: grid(30, 30, seed=2), id="grid-clamps"),
        pytest.param(
            lambda: grid(25, 31, seed=3, free_free_diodes=True, currents=7), id="grid-ff-diodes"
        ),
        pytest.param(lambda: random_network(1500, seed=5), id="random-network"),
        pytest.param(lambda: random_network(800, seed=6, free_free=False), id="random-no-ff"),
        pytest.param(lambda: drn(preset="xs", seed=0), id="drn-xs"),
    ],
)
@pytest.mark.parametrize("small", [True, False], ids=["one-call", "large"])
def test_both_paths_compile_generated_circuits_as_before(make, small):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(P, "_is_small", lambda circuit: small)
        assert check_same(make()) is not None
        assert check_same(make(), gmin=1e-12) is not None


def test_the_one_call_path_hands_errors_to_the_large_path(one_call):
    """A floating half of a grid, a conflicting loop of sources inside a grid, a diode
    forced by sources, crossed bounds: the same errors as before."""
    g = grid(12, 12, seed=7, clamps=False)
    n = g.n_nodes
    r = g.resistors
    both = dataclasses.replace(
        g,
        nodes=list(g.nodes) + [f"h{k}" for k in range(n - 1)],
        resistors=Branches.from_lists(
            [*r.names, *(f"q{k}" for k in range(len(r)))],
            np.concatenate([r.a, r.a + (n - 1)]),
            np.concatenate([r.b, r.b + (n - 1)]),
            np.concatenate([r.value, r.value]),
        ),
    )
    assert check_same(both) is None
    assert check_same(both, gmin=1e-12) is not None
    k = g.node_index()
    vs = g.vsources
    loop = Branches.from_lists(
        [*vs.names, "va", "vb"],
        np.concatenate([vs.a, [k["g3_3"], k["g3_4"]]]),
        np.concatenate([vs.b, [k["g3_4"], k["g3_3"]]]),
        np.concatenate([vs.value, [0.5, 0.25]]),
    )
    assert check_same(dataclasses.replace(g, vsources=loop)) is None
    nodes = ["0", "a", "b", "c"]
    res = Branches.from_lists(["r1", "r2"], [1, 3], [2, 0], [1e3, 1e3])
    src = Branches.from_lists(["v1", "v2"], [1, 2], [0, 0], [1.0, 0.5])
    forced = make_circuit(
        "forced", nodes, resistors=res, vsources=src,
        diodes=Branches.from_lists(["d1"], [1], [2], [0.0]),
    )  # fmt: skip
    crossed = make_circuit(
        "crossed", nodes, resistors=res, vsources=src,
        diodes=Branches.from_lists(["d1", "d2"], [3, 2], [2, 3], [0.0, 0.0]),
    )  # fmt: skip
    assert check_same(forced) is None
    assert check_same(crossed) is not None  # v(c) pinned to v(b) from both sides: fine
    tight = with_resistors(crossed, [3], [1], [1.0])
    assert check_same(tight) is not None
    low = make_circuit(
        "low", nodes, resistors=res, vsources=src,
        diodes=Branches.from_lists(["d1", "d2"], [3, 1], [2, 3], [0.0, 0.0]),
    )  # fmt: skip
    assert check_same(low) is None  # v(c) <= 0.5 V and v(c) >= 1 V


def test_small_circuits_take_the_one_call_path():
    """The one-call path builds the Problem of a divider itself (no large path), and
    leaves a circuit with a non-finite value to the large path's error."""
    nodes = ["0", "in", "out"]
    res = Branches.from_lists(["r1", "r2"], [1, 2], [2, 0], [1e3, 3e3])
    src = Branches.from_lists(["v1"], [1], [0], [10.0])
    divider = make_circuit("divider", nodes, resistors=res, vsources=src)
    assert P._is_small(divider)
    p = P._compile_small(divider, 0.0)
    assert p is not None and p.n == 1
    assert p.diag[0] == 1e-3 + 1 / 3e3 and p.c[0] == 1e-3 * 10.0
    nan = dataclasses.replace(
        divider, resistors=Branches.from_lists(["r1", "r2"], [1, 2], [2, 0], [1e3, np.nan])
    )
    assert P._compile_small(nan, 0.0) is None
    assert check_same(nan) is None


@pytest.mark.parametrize("seed", range(6))
def test_order_supernodes_finds_the_connected_groups(seed):
    """``_problem_kernels.order_supernodes``: its number of groups and its forest
    (``parent``) are the free–free graph's connected components, which the island test
    (``all_grounded``) reads; random sparse graphs with many components, shorts and
    non-positive values (not edges), and fixed ends."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from resbench._unionfind import find_root
    from resbench.solvers import _problem_kernels as K

    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 400)), int(rng.integers(0, 600))
    supernode = rng.integers(-1, n, size=n + 20).astype(np.int32)  # -1: a fixed node
    ra = rng.integers(0, n + 20, size=m).astype(np.int32)
    rb = rng.integers(0, n + 20, size=m).astype(np.int32)
    ohms = rng.choice([1.0, 2.0, 0.0, -1.0], size=m, p=[0.5, 0.4, 0.05, 0.05])
    deg, head, color, parent, low, nxt = (np.empty(k, np.int32) for k in [n] * 4 + [m] * 2)
    mark = np.empty(n + 1, np.int32)
    m_ff, _, n_groups = K.order_supernodes(
        ra, rb, ohms, supernode, deg, head, low, nxt, color, mark, parent
    )
    i, j = supernode[ra], supernode[rb]
    edge = (ohms > 0) & (i >= 0) & (j >= 0) & (i != j)
    assert m_ff == int(edge.sum())
    graph = coo_matrix((np.ones(m_ff), (i[edge], j[edge])), shape=(n, n))
    n_comp, comp = connected_components(graph, directed=False)
    assert n_groups == n_comp
    roots = np.array([find_root(parent, k) for k in range(n)])
    assert np.all(roots <= np.arange(n))  # the smaller root stays a root
    for k in range(n_comp):  # one root per component, a different one for each
        assert np.unique(roots[comp == k]).size == 1
    assert np.unique(roots).size == n_comp
