"""The batch kernels' fast paths (issue 12) give the same numbers as their general paths.

* node-voltage assembly: a plan's kinds are written run by run (consecutive nodes and
  columns: one run of each kind in a DRN, a few in a netlist file's, none in a
  shuffled plan): bit-for-bit numpy's indexed assignment;
* the sweeps' input pass: shared bounds (scalars per row) and the same bounds given per
  sample give the same Q, start and |c|/diag maxima;
* the sweeps copy each sample out at the sweep its rule fired, also when the samples
  of a chunk finish at different sweeps: equal to one chunk per sample.
"""

from __future__ import annotations

import numpy as np
import pytest

from resbench.batch import _kernels as bk


def _blocks(rng: np.random.Generator, n: int) -> np.ndarray:
    """0 … n-1 cut into runs of random lengths (1 … 9), the runs in random order."""
    cuts = np.cumsum(rng.integers(1, 10, n))
    runs = np.split(np.arange(n), cuts[cuts < n])
    return np.concatenate([runs[i] for i in rng.permutation(len(runs))])


def _plan(rng: np.random.Generator, n_nodes: int, n_in: int, n_sn: int, order: str):
    """An assembly plan: nodes 1 … n_in held by one input each, the next n_sn free
    with a constant offset, node 0 and the last two nodes of the third kind; its
    entries in ``order``: "runs" (one run of each kind), "shuffled" (no runs), "blocks"
    (runs of a few entries in random order, as a netlist file numbers its nodes)."""
    s0 = rng.normal(size=n_in)
    offset0 = rng.normal(size=n_nodes)
    one_node = np.arange(1, n_in + 1)
    one_col = np.arange(n_in)
    free_node = np.arange(n_in + 1, n_in + 1 + n_sn)
    free_sn = np.arange(n_sn)
    if order != "runs":  # the same entries, in another order
        shuffle = rng.permutation if order == "shuffled" else (lambda n: _blocks(rng, n))
        p, q = shuffle(n_in), shuffle(n_sn)
        one_node, one_col, free_node, free_sn = one_node[p], one_col[p], free_node[q], free_sn[q]
    one_m = np.where(one_col % 3 == 0, -1.0, 1.0)
    rest = np.array([n_nodes - 2, n_nodes - 2, n_nodes - 1])
    return (
        offset0,
        one_node.astype(np.int64),
        one_col.astype(np.int64),
        one_m,
        s0[one_col],
        offset0[one_node],
        free_node.astype(np.int64),
        free_sn.astype(np.int64),
        offset0[free_node],
        rest.astype(np.int64),
        np.array([0, 2, 1], dtype=np.int64),
        np.array([0.5, -2.0, 3.0]),
        np.array([n_nodes - 1], dtype=np.int64),
        np.array([0], dtype=np.int64),
        s0,
    )


def _assemble_reference(plan, S, UT):
    (offset0, one_node, one_col, one_m, one_s0, one_off, free_node, free_sn, free_off,
     m_row, m_col, m_val, rest_node, rest_sn, s0) = plan  # fmt: skip
    V = np.tile(offset0, (S.shape[0], 1))
    V[:, one_node] = one_off + one_m * (S[:, one_col] - one_s0)
    V[:, free_node] = free_off + UT[:, free_sn]
    for t in range(m_row.size):
        V[:, m_row[t]] += m_val[t] * (S[:, m_col[t]] - s0[m_col[t]])
    for t in range(rest_node.size):
        V[:, rest_node[t]] += UT[:, rest_sn[t]]
    return V


@pytest.mark.parametrize(("n_in", "n_sn"), [(9, 6), (61, 23)])
def test_voltage_assembly_runs_equal_the_indexed_loops(n_in, n_sn):
    """Whatever the runs of the plan (one of each kind, none, a few in random order),
    numpy's indexed assignment bit for bit."""
    rng = np.random.default_rng(7)
    n_nodes = 1 + n_in + n_sn + 2
    S = rng.uniform(-3, 3, (5, n_in))
    UT = rng.normal(size=(5, n_sn))
    out = {}
    for order in ("runs", "shuffled", "blocks"):
        plan = _plan(np.random.default_rng(1), n_nodes, n_in, n_sn, order)
        V = np.full((5, n_nodes), np.nan)
        bk.assemble_voltages_s(*plan, S, UT, V)
        assert np.array_equal(V, _assemble_reference(plan, S, UT))
        out[order] = V
    assert np.array_equal(out["runs"], out["shuffled"])
    assert np.array_equal(out["runs"], out["blocks"])


def test_run_bounds():
    nodes = np.array([1, 58, 80, 81, 82, 5, 6, 7, 9], dtype=np.int64)
    cols = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8], dtype=np.int64)
    assert bk._run_bounds(nodes, cols).tolist() == [0, 1, 2, 5, 8, 9]
    cols[3] = 9  # the columns break a run of nodes too
    assert bk._run_bounds(nodes, cols).tolist() == [0, 1, 2, 3, 4, 5, 8, 9]
    empty = np.zeros(0, dtype=np.int64)
    assert bk._run_bounds(empty, empty).tolist() == [0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("n", "B", "w"), [(13, 24, 8), (7, 48, 16), (5, 48, 24), (9, 96, 32), (1, 64, 64)]
)
def test_prepare_chunks_shared_bounds_equal_per_sample_bounds(dtype, n, B, w):
    """Shared bounds take the register-vector path (one or two vectors of samples down
    the rows: every width a whole number of vectors, float32's 8 lanes too), per-sample
    bounds the row loop; both equal numpy's arithmetic bit for bit, NaN and inf too."""
    rng = np.random.default_rng(3 + n)
    G = rng.normal(size=(n, B)).astype(dtype)
    G[0, 5] = np.nan
    G[-1, 7] = np.inf
    G[n // 2, B - 1] = -np.inf
    base = rng.normal(size=n)
    inv = rng.uniform(0.1, 2.0, n)
    lo = np.where(rng.random(n) < 0.5, -np.inf, rng.normal(size=n) - 0.5)[:, None]
    hi = np.where(rng.random(n) < 0.5, np.inf, rng.normal(size=n) + 0.5)[:, None]
    got = []
    for L, H in ((lo, hi), (np.repeat(lo, B, 1), np.repeat(hi, B, 1))):
        Q = np.full((B // w, n, w), 7.0, dtype=dtype)
        U = np.full_like(Q, 7.0)
        qmax = np.full(B, 7.0)
        bk.prepare_chunks(
            G, base, inv, np.ascontiguousarray(L), np.ascontiguousarray(H), Q, U, qmax
        )
        got.append((Q, U, qmax))
    (Q, U, qmax), other = got
    for a, b in zip(got[0], other, strict=True):
        assert np.array_equal(a, b, equal_nan=True)
    with np.errstate(invalid="ignore"):
        q = (base[:, None] + G.astype(np.float64)) * inv[:, None]
        chunked = lambda a: a.reshape(n, B // w, w).transpose(1, 0, 2)  # noqa: E731
        assert np.array_equal(Q, chunked(q.astype(dtype)), equal_nan=True)
        assert np.array_equal(U, chunked(np.clip(q, lo, hi).astype(dtype)), equal_nan=True)
        # the running max skips NaN (a NaN sample's scale comes from its other rows)
        assert np.array_equal(qmax, np.fmax.reduce(np.abs(q), axis=0, initial=0.0))


def _chain(n: int):
    """A chain of n nodes, each coupled to its neighbours (g/diag = 0.45), as the
    sweeps' CSR, with no hub rows."""
    deg = np.array([1] + [2] * (n - 2) + [1], dtype=np.uint32)
    idx = []
    for i in range(n):
        idx += [j for j in (i - 1, i + 1) if 0 <= j < n]
    g = np.full(len(idx), 0.45)
    slot = np.full(n, -1, dtype=np.int64)
    z = np.zeros(0, dtype=np.uint32)
    return (
        deg,
        np.array(idx, dtype=np.uint32),
        g,
        slot,
        np.zeros(n, np.uint32),
        np.zeros(n + 1, np.uint32),
        z,
        z,
    )


def _sweep(chain, Q, tol, max_sweeps=200):
    nch, n, C = Q.shape
    B = nch * C
    U = np.zeros_like(Q)
    OUT = np.full((B, n), np.nan)
    status = np.zeros(B, dtype=np.int64)
    sweeps = np.zeros(B, dtype=np.int64)
    est = np.zeros(B)
    om = np.zeros(nch)
    lo = np.full((1, n, 1), -np.inf)
    hi = np.full((1, n, 1), np.inf)
    e = np.zeros(0, dtype=np.uint32)
    ff = np.zeros((1, 0, 1))
    bk.batch_sweeps(
        *chain[:3], Q, lo, hi, False, *chain[3:],
        np.zeros(n + 1, np.uint32), e, ff, np.zeros(n + 1, np.uint32), e, ff,
        U, OUT, tol, 2.2e-16, max_sweeps, 1.0, status, sweeps, est, om,
    )  # fmt: skip
    return OUT, status, sweeps


def test_sweeps_copy_each_sample_out_at_its_own_sweep():
    """Samples of one chunk with very different injections stop at different sweeps;
    each one's answer equals that of a chunk of its own (the row-wise copy-out)."""
    n, C = 30, 8
    rng = np.random.default_rng(5)
    scale = 10.0 ** rng.integers(-6, 3, C)
    q = rng.normal(size=(n, C)) * scale
    tol = np.full(C, 1e-9)
    chain = _chain(n)
    OUT, status, sweeps = _sweep(chain, np.ascontiguousarray(q[None]), tol)
    assert (status == bk.CONVERGED).all() and np.unique(sweeps).size > 1
    for b in range(C):
        o, s, k = _sweep(chain, np.ascontiguousarray(q[None, :, b : b + 1]), tol[b : b + 1])
        assert np.array_equal(o[0], OUT[b]) and k[0] == sweeps[b]
    # a sweep limit copies out the samples still running at the last sweep
    OUT, status, sweeps = _sweep(chain, np.ascontiguousarray(q[None]), tol, max_sweeps=3)
    assert (status == bk.SWEEP_LIMIT).all() and (sweeps == 3).all()
    assert np.isfinite(OUT).all()


def test_chunk_width_divides_the_batch_and_keeps_the_state_in_cache():
    # DRN-1H (1034 nodes): float64 state of 16 samples, float32 of 32 (one tile each)
    assert bk.chunk_width(256, 1034, 8) == 16
    assert bk.chunk_width(256, 1034, 4) == 32
    # DRN-XS (110 nodes): the widest chunk
    assert bk.chunk_width(256, 110, 8) == bk.CHUNK
    for B in (8, 16, 24, 40, 56, 256, 1000):
        for n, item in ((3, 8), (110, 4), (1034, 8), (10**6, 4)):
            w = bk.chunk_width(B, n, item)
            assert B % w == 0 and w % bk.CW == 0 and w <= bk.CHUNK
    assert bk.chunk_width(8, 1034, 8) == 8  # never wider than the batch


def _graph_with_hub(n: int, rng: np.random.Generator):
    """A sparse random graph on n − 1 nodes plus a last node coupled to all of them,
    as the sweeps' CSR (g/diag summing to < 1 per row: a contraction), with its hub
    rows (:func:`resbench.batch.network.hub_rows`)."""
    from resbench.batch.network import hub_rows

    adj = [set() for _ in range(n)]
    for i in range(n - 1):
        for j in rng.choice(n - 1, 3, replace=False):
            if j != i:
                adj[i].add(int(j))
                adj[int(j)].add(i)
        adj[i].add(n - 1)
        adj[n - 1].add(i)
    deg = np.array([len(a) for a in adj], dtype=np.uint32)
    idx = np.concatenate([sorted(a) for a in adj]).astype(np.uint32)
    g = np.concatenate([np.full(len(a), 0.9 / len(a)) for a in adj])
    return deg, idx, g, hub_rows(deg, idx, min_deg=n - 1)


@pytest.mark.parametrize(("dtype", "C"), [(np.float64, 37), (np.float32, 45), (np.float64, 64)])
def test_register_tiles_equal_the_per_sample_loops(dtype, C):
    """Shared bounds take the register tiles (four-vector tiles, one-vector tiles, single
    samples: C = 37 float64 is 16 + 16 + 4 + 1); the same bounds given per sample take
    the loops over the chunk's samples: the same answers, sweep counts and estimates."""
    rng = np.random.default_rng(11)
    n = 41
    deg, idx, g, hubs = _graph_with_hub(n, rng)
    assert (hubs[0] >= 0).sum() == 1
    q = rng.normal(size=(1, n, C)).astype(dtype)
    lo = np.where(rng.random(n) < 0.3, -0.2, -np.inf)[None, :, None].astype(dtype)
    hi = np.where(rng.random(n) < 0.3, 0.3, np.inf)[None, :, None].astype(dtype)
    e = np.zeros(0, dtype=np.uint32)
    ff = np.zeros((1, 0, 1), dtype=dtype)
    eps = float(np.finfo(dtype).eps)
    got = []
    for L, H in ((lo, hi), (np.repeat(lo, C, 2), np.repeat(hi, C, 2))):
        OUT = np.full((C, n), np.nan, dtype=dtype)
        out = (np.zeros(C, np.int64), np.zeros(C, np.int64), np.zeros(C), np.zeros(1))
        bk.batch_sweeps(
            deg, idx, g.astype(dtype), q, np.ascontiguousarray(L), np.ascontiguousarray(H),
            True, *hubs, np.zeros(n + 1, np.uint32), e, ff, np.zeros(n + 1, np.uint32), e,
            ff, np.zeros_like(q), OUT, np.full(C, 1e-5), eps, 500, 1.0, *out,
        )  # fmt: skip
        got.append((OUT, *out[:3]))
    for a, b in zip(*got, strict=True):
        assert np.array_equal(a, b)
    assert (got[0][1] == bk.CONVERGED).all()


def test_fetch_add_hands_each_item_to_one_task():
    """The sweeps' shared chunk counter: every task of a parallel loop takes items
    until none is left; each item is taken exactly once."""
    from numba import njit, prange

    from resbench.batch._simd import fetch_add

    @njit(parallel=True)
    def claim(n):
        counter = np.zeros(1, dtype=np.int64)
        taken = np.zeros(n, dtype=np.int64)
        for _t in prange(n):
            while True:
                i = fetch_add(counter, 0, 1)
                if i >= n:
                    break
                taken[i] += 1
        return taken

    assert (claim(5000) == 1).all()


def test_feasible_starts_leave_their_inputs_alone():
    """Per-sample bounds and limits of a single row (one node, one diode) are gathered
    into copies: the samples' starts equal one call per sample, and the caller's
    arrays are unchanged."""
    rng = np.random.default_rng(2)
    B = 5
    U0 = rng.uniform(-1, 1, (2, B))
    lo = np.full((2, 1), -np.inf)
    hi = np.ascontiguousarray(rng.uniform(0.2, 1.0, (2, B)))
    ffl = np.ascontiguousarray(rng.uniform(-0.5, 0.5, (1, B)))
    anode = np.array([0], dtype=np.int32)
    cathode = np.array([1], dtype=np.int32)
    before = [a.copy() for a in (U0, lo, hi, ffl)]
    out = np.empty_like(U0)
    bk.feasible_starts(U0, lo, hi, ffl, anode, cathode, np.zeros(B, dtype=bool), out)
    for a, b in zip((U0, lo, hi, ffl), before, strict=True):
        assert np.array_equal(a, b)
    for b in range(B):
        one = np.empty((2, 1))
        bk.feasible_starts(
            np.ascontiguousarray(U0[:, b : b + 1]), lo, np.ascontiguousarray(hi[:, b : b + 1]),
            np.ascontiguousarray(ffl[:, b : b + 1]), anode, cathode, np.zeros(1, dtype=bool), one,
        )  # fmt: skip
        assert np.array_equal(one[:, 0], out[:, b])
