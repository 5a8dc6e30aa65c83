"""The fused setup kernels (resbench.solvers._problem_kernels) build the same Problem as
the multi-pass algorithm they replaced, bit for bit, and the same errors.

``old_compile_problem`` below is that algorithm as it was (commit 5fe972e): numpy glue
around the separate ``_kernels`` passes (fold, CSR fill in supernode order, greedy
colouring, colour order, CSR permutation, row sums, components).  Every array of the
Problem (values, dtype and order: the colour order and the row order decide the sweep
order, hence the sweep counts), every scalar and every error message must agree, on
random circuits of the whole dialect, islands, gmin, and on grids and random networks.
``sweep_arrays`` is compared against its previous numpy form the same way.
"""

from __future__ import annotations

import dataclasses

import _old_setup_kernels as old_kernels
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import examples, random_circuits

from resbench.circuit import Branches, Circuit, make_circuit
from resbench.errors import CircuitError
from resbench.generate import drn, grid, random_network
from resbench.solvers import _kernels as kernels
from resbench.solvers import _memory
from resbench.solvers import problem as P
from resbench.solvers.cd import SweepArrays, sweep_arrays
from resbench.solvers.problem import compile_problem


# ---------------------------------------------------------------- the old algorithm
def old_supernodes(circuit: Circuit):
    """The union–find with offsets over all nodes, and its KVL error."""
    vs, res, ind = circuit.vsources, circuit.resistors, circuit.inductors
    shorts = np.flatnonzero(res.value == 0.0)
    la = np.concatenate([vs.a, res.a[shorts], ind.a]).astype(np.int64)
    lb = np.concatenate([vs.b, res.b[shorts], ind.b]).astype(np.int64)
    lval = np.concatenate([vs.value, np.zeros(shorts.size + len(ind))])
    root, offset, bad = kernels.union_offsets(circuit.n_nodes, la, lb, lval, P.KVL_REL_TOL)
    if bad >= 0:
        names = list(vs.names) + [res.names[int(j)] for j in shorts] + list(ind.names)
        links = list(zip(names, la.tolist(), lb.tolist(), lval.tolist(), strict=True))
        name, a, b, val = links[bad]
        loop = P._source_loop(links[:bad], a, b)
        drop = P._path_drop(links[:bad], a, b)
        elements = [name] + loop
        raise CircuitError(
            f"voltage sources form a loop whose values disagree (KVL): "
            f"{', '.join(elements)} require v({circuit.nodes[a]}) - v({circuit.nodes[b]}) "
            f"to be both {val:.12g} V and {drop:.12g} V (they differ by {abs(val - drop):.3g} V); "
            "remove one source or fix its value",
            elements=elements,
            nodes=[circuit.nodes[a], circuit.nodes[b]],
        )
    return root, offset


def old_number_supernodes(circuit: Circuit):
    n_nodes = circuit.n_nodes
    roots, offs = old_supernodes(circuit)
    is_root = roots == np.arange(n_nodes)
    is_root[0] = False
    root_ids = np.flatnonzero(is_root)
    sn_of_root = np.full(n_nodes, -1, dtype=np.int64)
    sn_of_root[root_ids] = np.arange(root_ids.shape[0])
    supernode = sn_of_root[roots].astype(np.int32)
    return supernode, int(root_ids.shape[0]), offs.copy()


def old_fold_resistors(circuit: Circuit, supernode, offset, n: int):
    res = circuit.resistors
    diag, c, deg = old_kernels.fold_resistors(res.a, res.b, res.value, supernode, offset, n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(deg, out=indptr[1:])
    indices, data = old_kernels.fill_csr(res.a, res.b, res.value, supernode, indptr)
    if n > 1 and indices.size:
        colors = old_kernels.greedy_colors(indptr, indices, n)
        if colors.max() > 0:
            perm, rank = old_kernels.colour_order(colors)
            indptr, indices, data = old_kernels.permute_csr(indptr, indices, data, perm, rank)
            diag, c = diag[perm], c[perm]
            supernode = np.where(supernode >= 0, rank[np.maximum(supernode, 0)], -1).astype(
                np.int32
            )
    return supernode, indptr, indices, data, diag, c


def old_compile_problem(circuit: Circuit, *, gmin: float = 0.0) -> P.Problem:
    """compile_problem before the fused kernels (the parts it kept are called as is)."""
    if not (np.isfinite(gmin) and gmin >= 0):
        raise CircuitError(f"gmin must be a finite conductance >= 0, got {gmin:g}")
    P.check_finite_values(circuit)
    supernode, n, offset = old_number_supernodes(circuit)
    supernode, indptr, indices, data, diag, c = old_fold_resistors(circuit, supernode, offset, n)
    P._add_current_sources(circuit, supernode, n, c)
    if gmin > 0:
        P._add_gmin_leak(supernode, offset, n, gmin, diag, c)
    island = P._islands(circuit, supernode, n, indptr, indices, data, diag)
    lo, hi, ff_anode, ff_cathode, ff_limit, ff_diode = P._diode_constraints(
        circuit, supernode, offset, n
    )
    P._check_bounds_meet(circuit, supernode, lo, hi)
    in_ptr, in_anode, in_limit = P._adjacency(n, ff_cathode, ff_anode, ff_limit)
    out_ptr, out_cathode, out_limit = P._adjacency(n, ff_anode, ff_cathode, ff_limit)
    v_scale, i_scale = P._scales_checked(circuit, supernode, offset, diag, c)
    start = np.clip(np.divide(c, diag, out=np.zeros(n), where=diag > 0), lo, hi)
    if ff_anode.size:
        start = P._feasible_start(
            circuit, start, lo, hi, ff_anode, ff_cathode, ff_limit, ff_diode, supernode
        )
    return P.Problem(
        circuit=circuit,
        n=n,
        supernode=supernode,
        offset=offset,
        indptr=indptr,
        indices=indices,
        data=data,
        diag=diag,
        c=c,
        lo=lo,
        hi=hi,
        ff_anode=ff_anode,
        ff_cathode=ff_cathode,
        ff_limit=ff_limit,
        ff_diode=ff_diode,
        in_ptr=in_ptr,
        in_anode=in_anode,
        in_limit=in_limit,
        out_ptr=out_ptr,
        out_cathode=out_cathode,
        out_limit=out_limit,
        start=start,
        v_scale=v_scale,
        i_scale=i_scale,
        gmin=gmin,
        island=island,
        n_islands=int(island.max()) + 1 if island.size else 0,
    )


def old_sweep_arrays(p: P.Problem) -> SweepArrays:
    inv = 1.0 / p.diag
    return SweepArrays(
        deg=np.diff(p.indptr).astype(np.uint32),
        idx=p.indices.astype(np.uint32),
        g_over_diag=old_kernels.scale_rows(p.indptr, p.data, inv),
        q=p.c * inv,
        lo=p.lo,
        hi=p.hi,
        bounded=bool(np.isfinite(p.lo).any() or np.isfinite(p.hi).any()),
        in_ptr=p.in_ptr.astype(np.uint32),
        in_anode=p.in_anode.astype(np.uint32),
        in_limit=p.in_limit,
        out_ptr=p.out_ptr.astype(np.uint32),
        out_cathode=p.out_cathode.astype(np.uint32),
        out_limit=p.out_limit,
    )


# ----------------------------------------------------------------------- comparison
def assert_same_array(name: str, x: np.ndarray, y: np.ndarray) -> None:
    assert x.dtype == y.dtype, (name, x.dtype, y.dtype)
    assert x.shape == y.shape, (name, x.shape, y.shape)
    # the bytes: equal values, and the same NaNs and signed zeros
    assert np.ascontiguousarray(x).tobytes() == np.ascontiguousarray(y).tobytes(), name


def assert_same_problem(new: P.Problem, old: P.Problem) -> None:
    for f in dataclasses.fields(P.Problem):
        if f.name in ("circuit", "info"):
            continue
        x, y = getattr(new, f.name), getattr(old, f.name)
        if isinstance(y, np.ndarray):
            assert_same_array(f.name, x, y)
        else:
            assert type(x) is type(y) and x == y, (f.name, x, y)


def assert_same_sweep_arrays(new: SweepArrays, old: SweepArrays) -> None:
    for name, x, y in zip(new._fields, new, old, strict=True):
        if isinstance(y, np.ndarray):
            assert_same_array(name, x, y)
        else:
            assert x == y, (name, x, y)


def check_same(circuit: Circuit, gmin: float = 0.0) -> P.Problem | None:
    """compile_problem agrees with the old algorithm: the same Problem and sweep arrays,
    or the same error (type, message, elements, nodes).  Returns the Problem.
    (numpy's warnings about inf − inf on overflowing conductances are silenced: such a
    circuit is an error for both.)"""
    with np.errstate(all="ignore"):
        return _check_same(circuit, gmin)


def _check_same(circuit: Circuit, gmin: float) -> P.Problem | None:
    try:
        old = old_compile_problem(circuit, gmin=gmin)
    except CircuitError as e:
        with pytest.raises(CircuitError) as got:
            compile_problem(circuit, gmin=gmin)
        assert str(got.value) == str(e)
        assert got.value.elements == e.elements and got.value.nodes == e.nodes
        return None
    new = compile_problem(circuit, gmin=gmin)
    assert_same_problem(new, old)
    if new.n:
        assert_same_sweep_arrays(sweep_arrays(new), old_sweep_arrays(old))
    return new


def with_resistors(circuit: Circuit, a, b, ohms, prefix: str = "rx") -> Circuit:
    """``circuit`` plus resistors a–b of the given values."""
    r = circuit.resistors
    names = [*r.names, *(f"{prefix}{k}" for k in range(len(a)))]
    return dataclasses.replace(
        circuit,
        resistors=Branches.from_lists(
            names,
            np.concatenate([r.a, np.asarray(a, np.int32)]),
            np.concatenate([r.b, np.asarray(b, np.int32)]),
            np.concatenate([r.value, np.asarray(ohms, np.float64)]),
        ),
    )


SETTINGS = settings(
    max_examples=examples(120),  # with tests/test_setup_small.py forcing each path
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ------------------------------------------------------------------ random circuits
@SETTINGS
@given(random_circuits(max_nodes=12, max_diodes=8), st.sampled_from([0.0, 0.0, 1e-9]))
def test_random_circuits_compile_as_before(circuit, gmin):
    check_same(circuit, gmin)


@SETTINGS
@given(random_circuits(max_nodes=8, max_diodes=6, islands=3), st.booleans())
def test_circuits_with_islands_compile_as_before(circuit, mark):
    """Both ways of finding the supernodes held by a resistor (marked in the fold, or
    every row summed)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(P, "_mark_held", lambda m, m_ff, n: mark)
        check_same(circuit)
        check_same(circuit, gmin=1e-9)


@SETTINGS
@given(
    random_circuits(max_nodes=10, max_diodes=0, free_free_diodes=False),
    st.lists(st.tuples(st.integers(0, 10), st.integers(0, 10)), max_size=6),
    st.lists(st.sampled_from([1.0, 1e3, 1e15, 1e-300, 5e-324, 0.0, -5.0]), min_size=6, max_size=6),
)
def test_odd_resistors_compile_as_before(circuit, pairs, ohms):
    """Parallel resistors, self-loops, negative values (skipped by the fold, as before),
    0-ohm shorts, conductances near overflow and ones too weak to hold a node (which the
    island test must judge exactly as ``_islands`` did)."""
    pairs = [(a % circuit.n_nodes, b % circuit.n_nodes) for a, b in pairs]
    a = [p for p, _ in pairs]
    b = [q for _, q in pairs]
    check_same(with_resistors(circuit, a, b, ohms[: len(pairs)]))


def test_unconnected_nodes_and_floating_groups_fail_as_before():
    """A node with no element, a floating group of resistors, a floating group held only
    by a 1e15-ohm resistor next to 1-ohm ones (an island by the relative test)."""
    nodes = ["0", "a", "b", "c", "d", "e"]
    r = Branches.from_lists(["r1", "r2", "r3"], [1, 3, 4], [0, 4, 5], [1e3, 1.0, 1.0])
    v = Branches.from_lists(["v1"], [1], [0], [1.0])
    c = make_circuit("floating", nodes, resistors=r, vsources=v)
    assert check_same(c) is None
    held = with_resistors(c, [5, 2], [0, 1], [1e15, 10.0])
    tied = with_resistors(c, [5, 2], [0, 1], [1e6, 10.0])
    for mark in (True, False):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(P, "_mark_held", lambda m, m_ff, n, mark=mark: mark)
            assert check_same(held) is None
            assert check_same(held, gmin=1e-12) is not None
            assert check_same(tied) is not None


def test_kvl_loop_and_forced_diode_errors_are_unchanged():
    nodes = ["0", "a", "b"]
    r = Branches.from_lists(["r1"], [1], [2], [1e3])
    loop = make_circuit(
        "loop",
        nodes,
        resistors=r,
        vsources=Branches.from_lists(["v1", "v2", "v3"], [1, 2, 1], [0, 0, 2], [1.0, 0.5, 0.25]),
    )
    assert check_same(loop) is None
    forced = make_circuit(
        "forced",
        nodes,
        resistors=r,
        vsources=Branches.from_lists(["v1", "v2"], [1, 2], [0, 0], [1.0, 0.5]),
        diodes=Branches.from_lists(["d1"], [1], [2], [0.0]),
    )
    assert check_same(forced) is None


# ----------------------------------------------------------------- grids and networks
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: grid(40, 37, seed=1, clamps=False), id="grid-free"),
        pytest.param(lambda: grid(30, 30, seed=2), id="grid-clamps"),
        pytest.param(
            lambda: grid(25, 31, seed=3, free_free_diodes=True, currents=7), id="grid-ff-diodes"
        ),
        pytest.param(lambda: grid(2, 2, seed=4, clamps=False), id="grid-2x2-all-fixed"),
        pytest.param(lambda: grid(2, 3, seed=4, clamps=False), id="grid-2x3"),
        pytest.param(lambda: random_network(1500, seed=5), id="random-network"),
        pytest.param(lambda: random_network(800, seed=6, free_free=False), id="random-no-ff"),
        pytest.param(lambda: drn(preset="xs", seed=0), id="drn-xs"),
    ],
)
def test_generated_circuits_compile_as_before(make):
    assert check_same(make()) is not None


def test_a_grid_split_in_two_is_an_error_as_before():
    """Two grids side by side, only one held by sources: the other is floating."""
    g = grid(12, 12, seed=7, clamps=False)
    n = g.n_nodes
    nodes = list(g.nodes) + [f"h{k}" for k in range(n - 1)]
    r = g.resistors
    shifted = Branches.from_lists(
        [f"q{k}" for k in range(len(r))], r.a + (n - 1), r.b + (n - 1), r.value
    )
    both = dataclasses.replace(
        g,
        nodes=nodes,
        resistors=Branches.from_lists(
            [*r.names, *shifted.names],
            np.concatenate([r.a, shifted.a]),
            np.concatenate([r.b, shifted.b]),
            np.concatenate([r.value, shifted.value]),
        ),
    )
    assert check_same(both) is None
    assert check_same(both, gmin=1e-12) is not None


def test_sweep_arrays_share_the_column_indices_without_a_copy():
    """The uint32 indices are a view of the Problem's int32 ones (same values)."""
    p = compile_problem(grid(9, 11, seed=8, clamps=False))
    s = sweep_arrays(p)
    assert s.idx.dtype == np.uint32 and np.shares_memory(s.idx, p.indices)
    assert np.array_equal(s.idx.astype(np.int64), p.indices.astype(np.int64))


@SETTINGS
@given(random_circuits(max_nodes=10, max_diodes=3), st.data())
def test_conflicting_source_loops_fail_as_before(circuit, data):
    """A source added across the ends of a chain of sources with another value."""
    vs = circuit.vsources
    if not len(vs):
        return
    k = data.draw(st.integers(0, len(vs) - 1))
    extra = Branches.from_lists(
        [*vs.names, "vx"],
        np.append(vs.a, vs.a[k]),
        np.append(vs.b, vs.b[k]),
        np.append(vs.value, vs.value[k] + data.draw(st.sampled_from([0.5, -1e-3, 0.0]))),
    )
    check_same(dataclasses.replace(circuit, vsources=extra))


def test_a_loop_of_floating_sources_in_a_grid_fails_as_before():
    """On a large node set (the union–find runs on the link ends only)."""
    g = grid(30, 30, seed=9, clamps=False)
    k = g.node_index()
    chain = ["g5_5", "g5_6", "g6_6", "g6_5"]
    a = [k[x] for x in chain]
    b = [k[x] for x in chain[1:] + chain[:1]]
    vs = g.vsources
    for close in (-0.75, -0.5):  # consistent (0.25 · 3 − 0.75 = 0) or not
        loop = Branches.from_lists(
            [*vs.names, "va", "vb", "vc", "vd"],
            np.concatenate([vs.a, a]),
            np.concatenate([vs.b, b]),
            np.concatenate([vs.value, [0.25, 0.25, 0.25, close]]),
        )
        failed = check_same(dataclasses.replace(g, vsources=loop)) is None
        assert failed == (close != -0.75)


@pytest.mark.parametrize("n", [0, 7, 200_000, 600_001])
def test_memory_helpers_make_ordinary_contiguous_arrays(n):
    """resbench.solvers._memory: the shapes, dtypes, contents and independence of
    np.empty / np.zeros / np.full; large ones start on a huge page."""
    z = _memory.zeros(n, np.float64)
    assert z.shape == (n,) and z.dtype == np.float64 and z.flags.c_contiguous
    assert z.flags.writeable and not z.any()
    f = _memory.full(n, -np.inf)
    assert f.shape == (n,) and np.all(f == -np.inf)
    e = _memory.empty(n, np.int32)
    assert e.shape == (n,) and e.dtype == np.int32 and e.flags.c_contiguous
    e[:] = 3
    assert not z.any() and np.all(f == -np.inf)  # no shared memory
    if _memory._madvise is not None and e.nbytes >= _memory.MIN_BYTES:
        assert e.ctypes.data % _memory.HUGE_PAGE == 0
    parts = _memory.workspace((n, np.int32), (n + 1, np.uint8), (3, np.float64), (n, np.int64))
    assert [(p.shape, p.dtype) for p in parts] == [
        ((n,), np.int32),
        ((n + 1,), np.uint8),
        ((3,), np.float64),
        ((n,), np.int64),
    ]
    for k, p in enumerate(parts):
        assert p.ctypes.data % 64 == 0 and p.flags.c_contiguous
        p[:] = k + 1
    for k, p in enumerate(parts):  # disjoint: each kept what was written to it
        assert np.all(p == k + 1)
