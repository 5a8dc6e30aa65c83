"""One-sample sweeps of a two-layer free graph on dense couplings (Network.solve of a
one-hidden-layer DRN): ``two_layer_sweeps`` is ``cd_sweeps`` on the same arrays, update
for update, bit for bit, and ``two_layer_maps`` finds exactly the graphs it may run.

The reference is the single solver's kernel itself (``resbench.solvers._kernels.cd_sweeps``
on the CSR), on random two-layer graphs: random sizes, fills, couplings, injections,
bounds (none, some, all), ω = 1 and SOR, tolerances from loose to unreachable, the sweep
limit hit or not, and a run split in chunks that carry the rate history (as auto_sweeps
calls it).  Then the Network: its one-sample answer with the dense sweeps equals the
answer without them, and the single solver's to 1e-9 of the voltage scale.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import examples

import resbench
from resbench import parse_netlist
from resbench.batch import Network
from resbench.batch import _network_kernels as nk
from resbench.batch import network as nw
from resbench.generate import drn
from resbench.solvers import _kernels as kernels


def _two_layer_csr(rng: np.random.Generator, na: int, H: int, fill: float):
    """A sweep CSR (deg, idx uint32, g_over_diag) of a random two-layer graph: nodes
    [0, na) coupled to [na, na + H) with probability ``fill``, symmetric pattern, each
    row's columns ascending, positive scaled couplings whose row sums stay below 1
    (a diagonally dominant system, as every resistive network's)."""
    n = na + H
    mask = rng.random((na, H)) < fill
    rows: list[list[int]] = [[] for _ in range(n)]
    for a, h in zip(*mask.nonzero(), strict=True):
        rows[a].append(na + h)
        rows[na + h].append(a)
    deg = np.array([len(r) for r in rows], dtype=np.uint32)
    idx = np.array([j for r in rows for j in sorted(r)], dtype=np.uint32)
    g = np.empty(idx.size)
    k = 0
    for r in rows:
        w = rng.random(len(r)) + 0.05
        g[k : k + len(r)] = rng.uniform(0.2, 0.999) * w / w.sum() if len(r) else w
        k += len(r)
    return deg, idx, g


def _bounds(rng: np.random.Generator, n: int, kind: str):
    lo = np.full(n, -np.inf)
    hi = np.full(n, np.inf)
    if kind == "none":
        return lo, hi
    pick = rng.random(n) < (0.5 if kind == "some" else 1.0)
    side = rng.random(n) < 0.5
    lo[pick & side] = rng.normal(scale=0.5, size=n)[pick & side]
    hi[pick & ~side] = rng.normal(scale=0.5, size=n)[pick & ~side]
    both = pick & (rng.random(n) < 0.2)
    lo[both] = -np.abs(rng.normal(size=n))[both]
    hi[both] = np.abs(rng.normal(size=n))[both]
    return lo, hi


def _cd(deg, idx, g, q, lo, hi, bounded, u, omega, tol_v, k, hist, state):
    z32, z = np.zeros(0, dtype=np.uint32), np.zeros(0)
    ptr0 = np.zeros(u.size + 1, dtype=np.uint32)
    return kernels.cd_sweeps(
        deg, idx, g, q, lo, hi, bounded, ptr0, z32, z, ptr0, z32, z, u, omega, tol_v, k, hist, state
    )


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    na=st.integers(1, 70),
    H=st.integers(1, 40),
    fill=st.sampled_from([0.25, 0.5, 0.9, 1.0]),
    kind=st.sampled_from(["none", "some", "all"]),
    omega=st.sampled_from([1.0, 1.4, 0.7]),
    tol_v=st.sampled_from([1e-3, 1e-9, 0.0]),
    chunks=st.lists(st.integers(1, 30), min_size=1, max_size=3),
)
def test_two_layer_sweeps_are_cd_sweeps_bit_for_bit(
    seed, na, H, fill, kind, omega, tol_v, chunks
) -> None:
    rng = np.random.default_rng(seed)
    deg, idx, g = _two_layer_csr(rng, na, H, fill)
    maps = nw.two_layer_maps(deg, idx, g, min_density=0.0)
    if idx.size == 0:
        assert maps is None
        return
    assert maps is not None
    n = na + H
    q = rng.normal(size=n)
    lo, hi = _bounds(rng, n, kind)
    u0 = np.minimum(np.maximum(q, lo), hi)
    u_ref, u_new = u0.copy(), u0.copy()
    st_ref, st_new = np.zeros(kernels.STATE_LEN), np.zeros(kernels.STATE_LEN)
    for k in chunks:  # chunks of sweeps carrying the rate history, as auto_sweeps calls
        h_ref, h_new = np.zeros(k), np.zeros(k)
        ref = _cd(deg, idx, g, q, lo, hi, kind != "none", u_ref, omega, tol_v, k, h_ref, st_ref)
        new = nk.two_layer_sweeps(
            maps[1], maps[2], q, lo, hi, maps[0], u_new, omega, tol_v, k, h_new, st_new
        )
        assert new[:2] == ref[:2]  # status and sweeps
        assert np.array_equal(np.array(new[2:]), np.array(ref[2:]), equal_nan=True)
        assert np.array_equal(u_new, u_ref)
        assert np.array_equal(h_new, h_ref) and np.array_equal(st_new, st_ref)
        if ref[0] == kernels.CD_CONVERGED:
            break


def test_the_sweeps_reach_every_layer_path() -> None:
    """Sizes that use the four-vector tiles, single vectors and single nodes of the first
    layer, and more than one register tile of the second (H > 16): the reference test
    above draws them too; this one pins each, with the sweep limit reached."""
    rng = np.random.default_rng(3)
    for na, H in ((16, 1), (20, 3), (23, 17), (5, 40), (64, 16)):
        deg, idx, g = _two_layer_csr(rng, na, H, 0.6)
        maps = nw.two_layer_maps(deg, idx, g, min_density=0.0)
        q = rng.normal(size=na + H)
        lo, hi = _bounds(rng, na + H, "some")
        u_ref, u_new = q.copy(), q.copy()
        s_ref, s_new = np.zeros(kernels.STATE_LEN), np.zeros(kernels.STATE_LEN)
        ref = _cd(deg, idx, g, q, lo, hi, True, u_ref, 1.0, 0.0, 7, np.zeros(7), s_ref)
        new = nk.two_layer_sweeps(
            *maps[1:], q, lo, hi, maps[0], u_new, 1.0, 0.0, 7, np.zeros(7), s_new
        )
        assert ref[:2] == new[:2] == (kernels.CD_SWEEP_LIMIT, 7)
        assert np.array_equal(u_new, u_ref) and not np.array_equal(u_new, q)


def test_maps_hold_the_csr_entries() -> None:
    rng = np.random.default_rng(5)
    deg, idx, g = _two_layer_csr(rng, 30, 7, 0.5)
    na, GA, GT = nw.two_layer_maps(deg, idx, g, min_density=0.0)
    assert na == 30 and GA.shape == (7, 30) and GT.shape == (30, 16)
    assert not GT[:, 7:].any()  # the padding
    dense = np.zeros((37, 37))
    rows = np.repeat(np.arange(37), deg.astype(np.int64))
    dense[rows, idx.astype(np.int64)] = g
    assert np.array_equal(GA, dense[:30, 30:].T) and np.array_equal(GT[:, :7], dense[30:, :30].T)


def _csr(rows: list[list[int]]):
    deg = np.array([len(r) for r in rows], dtype=np.uint32)
    idx = np.array([j for r in rows for j in r], dtype=np.uint32)
    return deg, idx, np.full(idx.size, 0.1)


@pytest.mark.parametrize(
    "rows, found",
    [
        ([[2, 3], [2, 3], [0, 1], [0, 1]], 2),  # two layers, full
        ([[2, 3], [], [0], [0]], 2),  # a node without couplings in the first layer
        ([[1, 2], [0, 3], [0], [1]], None),  # 0–1 inside the first layer
        ([[2], [2, 3], [0, 1, 3], [1, 2]], None),  # 2–3 inside the second layer
        ([[3, 2], [2, 3], [0, 1], [0, 1]], None),  # a row's columns not ascending
        ([[1], [0, 2], [1, 3], [2]], None),  # a chain: three layers and more
        ([[], [], [], []], None),  # no couplings
    ],
)
def test_maps_only_for_two_layer_graphs(rows, found) -> None:
    maps = nw.two_layer_maps(*_csr(rows), min_density=0.0)
    assert (maps is None) if found is None else (maps[0] == found)


def test_maps_refuse_sparse_or_large_blocks() -> None:
    rng = np.random.default_rng(1)
    deg, idx, g = _two_layer_csr(rng, 40, 20, 0.1)
    assert nw.two_layer_maps(deg, idx, g, min_density=0.0) is not None
    assert nw.two_layer_maps(deg, idx, g) is None  # 10 % full: the CSR stays
    deg, idx, g = _two_layer_csr(rng, 40, 20, 0.9)
    assert nw.two_layer_maps(deg, idx, g) is not None
    assert nw.two_layer_maps(deg, idx, g, max_bytes=40 * 32 * 8 - 1) is None


def test_networks_with_and_without_two_layers() -> None:
    """A DRN's free graph is bipartite (layers alternate), so a deeper DRN is two
    colour classes too: hidden layer 1 with the outputs, then hidden layer 2.  A
    triangle of free nodes is not."""
    assert Network(drn([8, 6, 3], seed=0))._two_layer[0] == 6  # hidden, then outputs
    assert Network(drn([8, 6, 5, 3], seed=0))._two_layer[0] == 9  # layers 1 and 3, then 2
    triangle = parse_netlist(
        "t\nv1 in 0 1\nr1 in a 1k\nr2 a b 1k\nr3 b c 1k\nr4 c a 1k\nr5 c 0 2k\n.end\n"
    )
    assert Network(triangle)._two_layer is None


@pytest.mark.parametrize("layers", [[8, 24, 4], [20, 40, 10], [12, 10, 9, 4]])
@pytest.mark.parametrize("omega", ["auto", 1.3])
def test_network_solve_on_dense_sweeps(layers, omega) -> None:
    """One sample through Network.solve: the dense sweeps give the CSR sweeps' voltages
    and sweep count bit for bit, and the single solver's answer to 1e-9."""
    c = drn(layers, seed=2, input_gain=1.0)
    net = Network(c)
    two = net._two_layer
    assert two is not None
    rng = np.random.default_rng(4)
    for _ in range(4):
        s = rng.uniform(-1.0, 1.0, size=net.n_inputs)
        a = net._solve_arrays(s, certify=False, omega=omega)
        net.__dict__["_two_layer"] = None
        b = net._solve_arrays(s, certify=False, omega=omega)
        net.__dict__["_two_layer"] = two
        assert np.array_equal(a.voltages, b.voltages) and np.array_equal(a.sweeps, b.sweeps)
        sol = net.solve(s, certify=True, omega=omega)
        ref = resbench.solve(nw.with_values(c, net.input_names, s), certify=False)
        assert sol.status == "converged" and sol.certificate.ok
        scale = max(1.0, float(np.abs(ref.voltages).max()))
        assert np.abs(sol.voltages - ref.voltages).max() <= 1e-9 * scale


def _sweep_arrays(deg, idx, g):
    """SweepArrays of a CSR (no bounds, no diodes)."""
    from resbench.solvers.cd import SweepArrays

    n = deg.shape[0]
    z = np.zeros(n + 1, np.uint32)
    e = np.zeros(0, np.uint32)
    inf = np.full(n, np.inf)
    return SweepArrays(
        deg, idx, g, np.zeros(n), -inf, inf, False, z, e, np.zeros(0), z, e, np.zeros(0)
    )


def test_sorted_rows_sorts_each_row_and_keeps_its_entries() -> None:
    """Each row's (column, value) pairs, ascending by column; already sorted: the same
    object back."""
    rng = np.random.default_rng(5)
    csr = _two_layer_csr(rng, 9, 7, 0.6)
    sw = _sweep_arrays(*csr)
    assert nw.sorted_rows(sw) is sw
    deg, idx, g = csr
    ptr = np.r_[0, np.cumsum(deg.astype(np.int64))]
    idx2, g2 = idx.copy(), g.copy()
    for r in range(deg.shape[0]):  # each row reversed
        idx2[ptr[r] : ptr[r + 1]] = idx[ptr[r] : ptr[r + 1]][::-1]
        g2[ptr[r] : ptr[r + 1]] = g[ptr[r] : ptr[r + 1]][::-1]
    out = nw.sorted_rows(_sweep_arrays(deg, idx2, g2))
    assert np.array_equal(out.idx, idx) and np.array_equal(out.g_over_diag, g)
    assert out.idx.dtype == np.uint32 and np.array_equal(out.deg, deg)


@pytest.mark.parametrize("layers", [(12, 9, 3), (30, 16, 4)])
def test_element_order_does_not_change_the_network(layers) -> None:
    """The same DRN with its resistors listed in another order (a netlist written or
    edited by another tool): the dense one-sample sweeps still apply (the sweep rows
    are sorted) and every answer is the same up to round-off (a node's conductances
    are summed in the netlist's order: its diagonal may differ in the last bit)."""
    import dataclasses

    from resbench.circuit import Branches

    c = drn(list(layers), seed=3)
    r = c.resistors
    perm = np.random.default_rng(1).permutation(len(r))
    names = [r.names[k] for k in perm]
    shuffled = dataclasses.replace(
        c, resistors=Branches.from_lists(names, r.a[perm], r.b[perm], r.value[perm])
    )
    nets = [Network(x) for x in (c, shuffled)]
    assert all(n._two_layer is not None for n in nets)
    rng = np.random.default_rng(2)
    vals = rng.uniform(-1, 1, (5, nets[0].n_inputs))
    one = [n.solve(vals[0]).voltages for n in nets]
    batch = [n.solve_batch(vals).voltages for n in nets]
    scale = np.max(np.abs(vals))
    for a, b in (one, batch):
        assert np.allclose(a, b, rtol=0, atol=1e-12 * scale)
