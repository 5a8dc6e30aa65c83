"""The batch Network's small-circuit shortcuts give the arrays of the general code.

A Network of a few nodes reads its voltage plan with Python numbers, and a batch of a
few samples runs the single solver's sweep loop itself (without the per-sample problem
and final residual of ``run_sweeps``): both must give the same arrays / sweeps, bit for
bit, as the general path they replace.
"""

from __future__ import annotations

import numpy as np
import pytest

from resbench.batch import Network
from resbench.batch import _network_kernels as nk
from resbench.batch import network as nw
from resbench.generate import drn
from resbench.netlist import read_netlist
from resbench.threads import one_thread


def _plan_inputs(rng: np.random.Generator, n_nodes: int, n_in: int):
    supernode = rng.integers(-1, 3, size=n_nodes).astype(np.int64)
    offset0 = rng.normal(size=n_nodes)
    rows, cols, vals = [], [], []
    for col in range(n_in):  # one entry per (node, input), as M's probes give
        nodes = np.sort(rng.choice(n_nodes, size=rng.integers(0, n_nodes + 1), replace=False))
        rows += nodes.tolist()
        cols += [col] * nodes.size
        vals += rng.choice([-1.0, 1.0, 0.5], size=nodes.size).tolist()
    order = np.lexsort((np.array(cols, dtype=np.int64), np.array(rows, dtype=np.int64)))
    m_row = np.array(rows, dtype=np.int64)[order]
    m_col = np.array(cols, dtype=np.int64)[order]
    m_val = np.array(vals, dtype=np.float64)[order]
    return offset0, supernode, m_row, m_col, m_val, rng.normal(size=n_in)


def _small_maps_of_entries(offset0, supernode, m_row, m_col, m_val, s0):
    """small_maps on the dense M of the given entries (no diodes, every column a
    voltage input, no constant source)."""
    n_nodes, n_in = offset0.shape[0], s0.shape[0]
    M = np.zeros((n_nodes, n_in))
    M[m_row, m_col] = m_val
    touched = np.zeros(n_nodes, dtype=bool)
    touched[m_row] = True
    sn = supernode.astype(np.int32)
    n = int(sn.max()) + 1 if (sn >= 0).any() else 0
    e32, e64 = np.zeros(0, np.int32), np.zeros(0, np.int64)
    return nk.small_maps(
        M,
        touched,
        sn,
        offset0,
        np.ones(n),
        s0,
        e32,
        e32,
        e64,
        e32,
        e32,
        np.ones(n_in, dtype=bool),
        np.zeros(0, dtype=bool),
        np.zeros(0),
    )


@pytest.mark.parametrize("seed", range(40))
def test_small_maps_plan_equals_the_array_plan(seed: int) -> None:
    rng = np.random.default_rng(seed)
    args = _plan_inputs(rng, int(rng.integers(1, 9)), int(rng.integers(0, 4)))
    out = _small_maps_of_entries(*args)
    for got, ref in zip(out[14:17], args[2:5], strict=True):  # M's entries, row-major
        assert got.dtype == ref.dtype and np.array_equal(got, ref)
    small = out[19:]
    full = nw.voltage_plan(*args)
    assert len(small) == len(full) == 13
    for a, b in zip(small, full, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b)


@pytest.mark.parametrize("name", ["dc_diode_iv", "dc_drn_unit"])
def test_dc_networks_plan_as_the_array_code(name: str) -> None:
    c = read_netlist(f"netlists/{name}.cir")
    net = Network(c, inputs=c.dc.names)
    p = net._problem
    args = (p.offset, p.supernode, net._m_row, net._m_col, net._m_val, net._s0)
    for a, b in zip(net._voltage_plan, nw.voltage_plan(*args), strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def _reference_sweeps_singly(net, Qn, Cn, lo, hi, ffl, U0, v_scale, tol, max_sweeps, omega):
    """The few-sample sweeps as they were: each sample's problem, then run_sweeps."""
    from resbench.solvers.cd import run_sweeps

    U = U0.copy()
    out = []
    for b in range(U0.shape[1]):
        q = net._sample_problem(b, Cn, lo, hi, ffl, v_scale)
        arrays = net._sweep._replace(
            q=np.ascontiguousarray(Qn[:, b]),
            lo=q.lo,
            hi=q.hi,
            bounded=bool(net._sweep.bounded or net._var_bounds),
            in_limit=q.in_limit,
            out_limit=q.out_limit,
        )
        u = np.ascontiguousarray(U[:, b])
        status, sweeps, _, _, om = run_sweeps(
            q,
            u,
            tol=tol,
            max_sweeps=max_sweeps,
            omega="auto" if omega == 0.0 else omega,
            arrays=arrays,
        )
        U[:, b] = u
        out.append((status, sweeps, om))
    return U, out


@pytest.mark.parametrize("omega", [0.0, 1.3])
@pytest.mark.parametrize("max_sweeps", [3, 500])
def test_few_sample_sweeps_equal_run_sweeps(omega: float, max_sweeps: int) -> None:
    c = drn(preset="xs", seed=1)
    net = Network(c)
    rng = np.random.default_rng(0)
    S = net.default_values() + rng.normal(scale=0.3, size=(2, net.n_inputs))
    Cn = net._inject(S, None, np.dtype(np.float64))
    dS = S - net._s0
    lo, hi = net._bounds(dS)
    ffl = net._ff_limits(dS)
    v_scale = net._v_scales(S, dS, Cn)
    Qn = Cn * net._inv_diag[:, None]
    U0 = np.minimum(np.maximum(Qn, lo), hi)
    infeasible = np.zeros(2, dtype=bool)
    U, st, sw, om = net._sweeps_singly(
        Qn, Cn, lo, hi, ffl, U0, v_scale, infeasible, 1e-9, max_sweeps, omega
    )
    U_ref, ref = _reference_sweeps_singly(
        net, Qn, Cn, lo, hi, ffl, U0, v_scale, 1e-9, max_sweeps, omega
    )
    assert np.array_equal(U, U_ref)
    assert sw.tolist() == [r[1] for r in ref]
    assert [s == 0 for s in st.tolist()] == [r[0] == 0 for r in ref]
    assert om == max([1.0] + [r[2] for r in ref])
    assert max_sweeps == 500 or sw.max() == max_sweeps  # the sweep limit is exercised


def test_one_thread_sets_restores_and_nests() -> None:
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread: nothing to set")
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        with one_thread(True):
            assert numba.get_num_threads() == 1
            with one_thread(True):  # nested: nothing set, nothing restored
                assert numba.get_num_threads() == 1
            assert numba.get_num_threads() == 1
        assert numba.get_num_threads() == 2
        with one_thread(False):
            assert numba.get_num_threads() == 2
        with pytest.raises(RuntimeError), one_thread(True):
            raise RuntimeError("inside")
        assert numba.get_num_threads() == 2
        with one_thread(True):  # the flag was cleared by the exit above
            assert numba.get_num_threads() == 1
        assert numba.get_num_threads() == 2
    finally:
        numba.set_num_threads(before)


@pytest.mark.parametrize("seed", range(40))
def test_small_k_equals_the_entries_summed_by_add_at(seed: int) -> None:
    """small_offset_maps' K is _k_entries' list summed in order by np.add.at, and its M
    is one union–find probe per input source."""
    from resbench.solvers._kernels import union_offsets

    rng = np.random.default_rng(100 + seed)
    n_nodes = int(rng.integers(2, 10))
    sn = rng.integers(-1, 4, size=n_nodes).astype(np.int32)
    n = int(sn.max()) + 1 if (sn >= 0).any() else 0
    held = rng.choice(np.arange(1, n_nodes), size=int(rng.integers(0, n_nodes)), replace=False)
    vs_a = held.astype(np.int32)  # grounded sources: inputs in a shuffled column order
    vs_b = np.zeros(held.size, dtype=np.int32)
    vidx = rng.permutation(held.size).astype(np.int64)
    vcol = np.arange(held.size, dtype=np.int64)
    m = int(rng.integers(0, 16))
    ra = rng.integers(0, n_nodes, size=m).astype(np.int32)
    rb = rng.integers(0, n_nodes, size=m).astype(np.int32)
    value = rng.choice([0.0, 1.0, 3.3, 1e-3, 7.0 / 3.0], size=m) * rng.random(m)
    gmin = float(rng.choice([0.0, 1e-12]))
    e32 = np.zeros(0, np.int32)
    M, touched, K, bad = nk.small_offset_maps(
        n_nodes, n, held.size, vcol, vidx, vs_a, vs_b, ra, rb, value, e32, e32, 1e-9, sn, gmin
    )
    shorts = value == 0.0
    la = np.concatenate([vs_a, ra[shorts]]).astype(np.int64)
    lb = np.concatenate([vs_b, rb[shorts]]).astype(np.int64)
    M_ref = np.zeros((n_nodes, held.size))
    for t in range(held.size):
        probe = np.zeros(la.size)
        probe[vidx[t]] = 1.0
        _, off, bad_ref = union_offsets(n_nodes, la, lb, probe, 1e-9)
        if bad_ref >= 0:  # a loop of sources through a short: the first such input
            assert bad == t
            return
        M_ref[:, vcol[t]] = off
    assert bad == -1
    assert np.array_equal(M, M_ref)
    assert np.array_equal(touched, (M_ref != 0).any(axis=1))
    k_row, k_col, k_val = nw._k_entries(sn.astype(np.int64), touched, ra, rb, value, gmin)
    full = np.zeros((n, n_nodes))
    np.add.at(full, (k_row, k_col), k_val)
    assert K.shape == full.shape and np.array_equal(K, full)
