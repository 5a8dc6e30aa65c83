"""numba kernels (no I/O, no allocation in the hot loops, ``cache=True``).

Private: callers are resbench.solvers.problem and resbench.solvers.cd, which validate
inputs.  Every array is contiguous; node indices are int32, CSR offsets int64, except the
sweep arrays (unsigned, see cd_sweeps).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from resbench._jit import BOOL, F64, FLOAT, I32, I64, INT, U32, kernel

# Status codes returned by cd_sweeps
CD_CONVERGED = 0
CD_SWEEP_LIMIT = 1
STATE_LEN = 4 + 16 + 2  # cd_sweeps' carried rate history
BF_SLACK = 1e-15  # a Bellman–Ford relaxation must lower a value by this relative margin,
# so that round-off alone cannot keep relaxing a zero-weight cycle
EARLY_RHO = 0.5  # contraction rate assumed at least in the first 3 sweeps (not yet observed)
RHO_MAX = 0.999999  # cap on the rate: keeps the estimate res_v · ρ / (1 − ρ) finite
EPS = 2.220446049250313e-16  # double precision's machine epsilon
ROUND_OFF_ULPS = 8.0  # res_v within this many ulps of the largest voltage is round-off
OFFSET_ROUND_OFF = 1e-12  # relative round-off of a supernode offset: a sum of link values


@kernel(I64, I32, F64, F64)
def csr_matvec(indptr, indices, data, x):  # pragma: no cover - compiled
    n = indptr.shape[0] - 1
    y = np.zeros(n)
    for i in range(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * x[indices[k]]
        y[i] = s
    return y


@kernel(I64, F64, INT)
def row_sums(indptr, data, n):  # pragma: no cover - compiled
    out = np.zeros(n)
    for i in range(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k]
        out[i] = s
    return out


@kernel(I64, I32, INT)
def components(indptr, indices, n):  # pragma: no cover - compiled
    """Connected components of the free–free graph (iterative DFS)."""
    comp = np.full(n, -1, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    label = 0
    for s in range(n):
        if comp[s] >= 0:
            continue
        top = 0
        stack[0] = s
        comp[s] = label
        while top >= 0:
            i = stack[top]
            top -= 1
            for k in range(indptr[i], indptr[i + 1]):
                j = indices[k]
                if comp[j] < 0:
                    comp[j] = label
                    top += 1
                    stack[top] = j
        label += 1
    return comp


@kernel(F64, F64, F64, I32, I32, F64)
def bellman_ford_start(
    start, lo, hi, ff_anode, ff_cathode, ff_limit
):  # pragma: no cover - compiled
    """Feasible point of  lo ≤ u ≤ hi,  u[an] − u[ca] ≤ w  by Bellman–Ford.

    A virtual vertex s (index n, value 0) carries the bounds: edge s→i of weight
    hi_i, edge i→s of weight −lo_i; a diode is the edge ca→an of weight w.
    Starting from ``start`` (inside the bounds) distances only decrease; after
    convergence ``u − u_s`` is feasible.  Returns (u, cycle) where cycle lists
    the diode constraints on a negative cycle (empty when feasible); a bound edge
    on the cycle is reported as −1.
    """
    n = start.shape[0]
    m = ff_anode.shape[0]
    u = np.empty(n + 1)
    u[:n] = start
    u[n] = 0.0
    pred_v = np.full(n + 1, -1, dtype=np.int64)
    pred_e = np.full(n + 1, -1, dtype=np.int64)
    last = -1
    for _ in range(n + 2):
        last = -1
        for k in range(m):
            a = ff_anode[k]
            cth = ff_cathode[k]
            cand = u[cth] + ff_limit[k]
            if cand < u[a] - BF_SLACK * (1.0 + abs(cand)):
                u[a] = cand
                pred_v[a] = cth
                pred_e[a] = k
                last = a
        for i in range(n):
            if hi[i] < np.inf:
                cand = u[n] + hi[i]
                if cand < u[i] - BF_SLACK * (1.0 + abs(cand)):
                    u[i] = cand
                    pred_v[i] = n
                    pred_e[i] = -1
                    last = i
            if lo[i] > -np.inf:
                cand = u[i] - lo[i]
                if cand < u[n] - BF_SLACK * (1.0 + abs(cand)):
                    u[n] = cand
                    pred_v[n] = i
                    pred_e[n] = -1
                    last = n
        if last == -1:
            out = u[:n] - u[n]
            return out, np.zeros(0, dtype=np.int64)
    # negative cycle: walk back n+1 steps to land on it, then collect its edges
    v = last
    for _ in range(n + 1):
        if pred_v[v] < 0:
            break
        v = pred_v[v]
    cyc = []
    w = v
    for _ in range(n + 2):
        cyc.append(pred_e[w])
        w = pred_v[w]
        if w == v or w < 0:
            break
    return u[:n] - u[n], np.array(cyc, dtype=np.int64)


@njit(inline="always")
def _row_target(idx, g_over_diag, u, x, k, e):  # pragma: no cover - compiled
    """x + Σ_{k ≤ p < e} g_over_diag[p] · u[idx[p]]: one row of the scaled CSR."""
    one = np.uint64(1)
    while k < e:
        x += g_over_diag[k] * u[idx[k]]
        k += one
    return x


@njit(inline="always")
def _clipped_step(x, ui, l, h, omega, relax):  # pragma: no cover - compiled
    """(|clip(x) − ui|, the new value): the exact move, or the projected SOR one."""
    xc = min(max(x, l), h)
    r = abs(xc - ui)
    if relax:
        xc = min(max(ui + omega * (x - ui), l), h)
    return r, xc


@njit(cache=True)
def _sweep_free(deg, idx, g_over_diag, q, u):  # pragma: no cover - compiled
    res = 0.0
    k = np.uint64(0)  # running position in the CSR (rows are consecutive)
    for i in range(u.shape[0]):
        e = k + deg[i]
        x = _row_target(idx, g_over_diag, u, q[i], k, e)
        k = e
        r = abs(x - u[i])
        if r > res:
            res = r
        u[i] = x
    return res


@njit(cache=True)
def _sweep_free_sor(deg, idx, g_over_diag, q, u, omega):  # pragma: no cover - compiled
    res = 0.0
    k = np.uint64(0)
    for i in range(u.shape[0]):
        e = k + deg[i]
        x = _row_target(idx, g_over_diag, u, q[i], k, e)
        k = e
        ui = u[i]
        r = abs(x - ui)
        if r > res:
            res = r
        u[i] = ui + omega * (x - ui)
    return res


@njit(cache=True)
def _sweep_bounded(deg, idx, g_over_diag, q, lo, hi, u, omega):  # pragma: no cover - compiled
    res = 0.0
    k = np.uint64(0)
    relax = omega != 1.0
    for i in range(u.shape[0]):
        e = k + deg[i]
        x = _row_target(idx, g_over_diag, u, q[i], k, e)
        k = e
        r, u[i] = _clipped_step(x, u[i], lo[i], hi[i], omega, relax)
        if r > res:
            res = r
    return res


@njit(cache=True)
def _sweep_diodes(
    deg,
    idx,
    g_over_diag,
    q,
    lo,
    hi,
    in_ptr,
    in_anode,
    in_limit,
    out_ptr,
    out_cathode,
    out_limit,
    u,
    omega,
):  # pragma: no cover - compiled
    """With free–free diodes: node i's bounds also hold l ≥ u[an] − w over diodes
    into i and h ≤ u[ca] + w over diodes out of i (their current values)."""
    res = 0.0
    k = np.uint64(0)
    relax = omega != 1.0
    for i in range(u.shape[0]):
        e = k + deg[i]
        x = _row_target(idx, g_over_diag, u, q[i], k, e)
        k = e
        l = lo[i]
        h = hi[i]
        for kd in range(in_ptr[i], in_ptr[i + 1]):
            l = max(l, u[in_anode[kd]] - in_limit[kd])
        for kd in range(out_ptr[i], out_ptr[i + 1]):
            h = min(h, u[out_cathode[kd]] + out_limit[kd])
        r, u[i] = _clipped_step(x, u[i], l, h, omega, relax)
        if r > res:
            res = r
    return res


@njit(inline="always")
def _after_sweep(res_v, u, tol_v, history, state, it):  # pragma: no cover - compiled
    """cd_sweeps' stopping rule after sweep ``it`` of a call (res_v: its residual):
    records res_v in ``history[it]`` and the rate history in ``state`` (see
    :func:`cd_sweeps`), and returns (stop, error estimate in V).  Shared with the
    batch Network's two-layer sweeps (the same rule, sweep for sweep)."""
    W = 16
    ring = state[0:4]  # last 4 contraction ratios
    past = state[4 : 4 + W]  # res_v of the last W sweeps (for the long-window rate)
    sweep = int(state[4 + W])  # sweeps made before this one, by this call and earlier ones
    prev = state[5 + W] if sweep > 0 else np.inf
    if it < history.shape[0]:
        history[it] = res_v
    ratio = res_v / prev if prev > 0.0 and prev < np.inf else 1.0
    ring[sweep % 4] = ratio
    rho = ring.max()
    if sweep >= W and past[sweep % W] > 0.0:
        # geometric-mean rate over the last W sweeps: robust when SOR's
        # complex eigenvalues make consecutive ratios oscillate
        long_rate = (res_v / past[sweep % W]) ** (1.0 / W)
        if long_rate > rho:
            rho = long_rate
    past[sweep % W] = res_v
    if sweep < 3:
        rho = max(rho, EARLY_RHO)
    if rho > RHO_MAX:
        rho = RHO_MAX
    est = res_v * rho / (1.0 - rho)
    state[4 + W] = sweep + 1
    state[5 + W] = res_v
    if sweep >= 2 and est <= tol_v:
        return True, est
    # at round-off level (a few ulps of the largest voltage) nothing more can
    # move; the extra pass for max|u| only runs once res_v is below tol_v
    if res_v <= tol_v and res_v <= ROUND_OFF_ULPS * EPS * np.abs(u).max():
        return True, est
    return False, est


@kernel(
    *(U32, U32, F64, F64, F64, F64, BOOL),  # deg, idx, g_over_diag, q, lo, hi, bounded
    *(U32, U32, F64, U32, U32, F64),  # the free–free diode lists (SweepArrays)
    *(F64, FLOAT, FLOAT, INT, F64, F64),  # u, omega, tol_v, max_sweeps, history, state
)
def cd_sweeps(
    deg,
    idx,
    g_over_diag,
    q,
    lo,
    hi,
    bounded,
    in_ptr,
    in_anode,
    in_limit,
    out_ptr,
    out_cathode,
    out_limit,
    u,
    omega,
    tol_v,
    max_sweeps,
    history,
    state,
):  # pragma: no cover - compiled
    """Exact cyclic coordinate descent (projected SOR when omega != 1), in place on u.

    Arrays (resbench.solvers.cd.SweepArrays): the free–free CSR as row degrees
    ``deg`` and column indices ``idx`` (uint32) with row-scaled values ``g_over_diag`` =
    g_ij / diag_i, ``q`` = c / diag, bounds ``lo``/``hi`` (read only when
    ``bounded``), and the free–free diode lists.  Per free node i:
    x = q_i + Σ_j gs_ij u_j, the exact minimiser of the energy along u_i; the
    diode bounds give [l, h] with l = max(lo_i, u[an] − w) over diodes into i and
    h = min(hi_i, u[ca] + w) over diodes out of i.

    The residual of a sweep, measured before each node moves, is
    ``res_v`` = max_i |clip(x, l, h) − u_i| (V): the Jacobi-scaled KCL imbalance
    that the exact update removes (the imbalance in amperes at the final point is
    :func:`projected_residual`, computed once by the caller).  A small res_v is
    not a small error when convergence is slow (docs/design.md §2), so
    the stopping rule is the a-posteriori bound of a linearly convergent
    iteration, err ≲ res_v · ρ / (1 − ρ), with ρ the largest contraction ratio
    of res_v over the last 4 sweeps or its geometric mean over the last 16
    (SOR's complex eigenvalues make single ratios oscillate); stop when it is
    ≤ tol_v (needs ≥ 3 sweeps), or when res_v is at round-off level (≤ 8 ulps
    of the largest voltage).  history[s] receives sweep s's res_v.
    ``state`` (length STATE_LEN, zeros at first) carries the rate history between
    calls, so a driver may call in chunks (changing ω) without losing it.

    Returns (status, sweeps, res_v of the last sweep, error estimate in V).
    """
    has_ff = in_anode.shape[0] > 0 or out_cathode.shape[0] > 0
    res_v = np.inf
    est = np.inf
    for it in range(max_sweeps):
        if has_ff:
            res_v = _sweep_diodes(
                deg,
                idx,
                g_over_diag,
                q,
                lo,
                hi,
                in_ptr,
                in_anode,
                in_limit,
                out_ptr,
                out_cathode,
                out_limit,
                u,
                omega,
            )
        elif bounded:
            res_v = _sweep_bounded(deg, idx, g_over_diag, q, lo, hi, u, omega)
        elif omega != 1.0:
            res_v = _sweep_free_sor(deg, idx, g_over_diag, q, u, omega)
        else:
            res_v = _sweep_free(deg, idx, g_over_diag, q, u)
        stop, est = _after_sweep(res_v, u, tol_v, history, state, it)
        if stop:
            return CD_CONVERGED, it + 1, res_v, est
    return CD_SWEEP_LIMIT, max_sweeps, res_v, est


@kernel(
    *(I64, I32, F64, F64, F64, F64, F64),  # CSR, diag, c, lo, hi (Problem)
    *(I64, I32, F64, I64, I32, F64, F64),  # the free–free diode lists, u
)
def projected_residual(
    indptr,
    indices,
    data,
    diag,
    c,
    lo,
    hi,
    in_ptr,
    in_anode,
    in_limit,
    out_ptr,
    out_cathode,
    out_limit,
    u,
):  # pragma: no cover - compiled
    """Largest single-node KCL residual at u (A), as cd_sweeps measures it, without moving.

    Computed independently of the sweep arrays: from the unscaled CSR and the
    diagonal (signed offsets), so a fault in sweep_arrays' scaling cannot hide in
    the reported residual.
    """
    n = u.shape[0]
    res = 0.0
    for i in range(n):
        s = c[i]
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * u[indices[k]]
        x = s / diag[i]
        l = lo[i]
        for k in range(in_ptr[i], in_ptr[i + 1]):
            t = u[in_anode[k]] - in_limit[k]
            if t > l:
                l = t
        h = hi[i]
        for k in range(out_ptr[i], out_ptr[i + 1]):
            t = u[out_cathode[k]] + out_limit[k]
            if t < h:
                h = t
        xc = min(max(x, l), h)
        r = abs(xc - u[i]) * diag[i]
        if r > res:
            res = r
    return res


@kernel(I32, F64, F64, F64)
def answer_scale(supernode, offset, u, vs):  # pragma: no cover - compiled
    """The largest |node voltage| at supernode voltages u (offset, plus u of the
    node's supernode when free) and |source value| in ``vs``: the answer's voltage
    scale (resbench.solvers.cd.answer_tol), without building the voltages."""
    big = 0.0
    for k in range(supernode.shape[0]):
        s = supernode[k]
        v = offset[k] + u[s] if s >= 0 else offset[k]
        if abs(v) > big:
            big = abs(v)
    for e in range(vs.shape[0]):
        if abs(vs[e]) > big:
            big = abs(vs[e])
    return big


@kernel(I64, I32, F64, F64, F64, I32, F64, F64)
def kcl_floor(indptr, indices, data, diag, c, supernode, offset, u):  # pragma: no cover
    """A lower bound (A) of the certificate's current scale at u, from the reduced
    problem alone: the largest, over free supernodes that are one node at offset 0
    ("simple"), of |A_i| + Σ_simple j g_ij |u_i − u_j|, where A_i is the net current
    into i from fixed nodes, current sources, the gmin leak and non-simple neighbours
    (c_i − (diag_i − Σ_j g_ij) u_i + Σ_non-simple j g_ij (u_j − u_i): real currents
    only, the offsets' terms folded in c cancel).  The certificate's scale at node i
    sums the |current| of every such element (resbench.certificate), which bounds a
    sum of some of them and the absolute values of the rest.  O(nodes + free edges):
    what resbench.solvers.cd asks before a pass over every resistor."""
    n = u.shape[0]
    members = np.zeros(n, np.int64)
    simple = np.ones(n, np.bool_)
    for k in range(supernode.shape[0]):
        s = supernode[k]
        if s >= 0:
            members[s] += 1
            if offset[k] != 0.0:
                simple[s] = False
    for i in range(n):
        if members[i] != 1:
            simple[i] = False
    best = 0.0
    for i in range(n):
        if not simple[i]:
            continue
        ui = u[i]
        net = c[i] - diag[i] * ui
        flows = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if simple[j]:
                net += data[k] * ui  # back out of diag: the edge is counted in flows
                flows += abs(data[k] * (ui - u[j]))
            else:
                net += data[k] * u[j]
        bound = abs(net) + flows
        if bound > best:
            best = bound
    return best


@njit(cache=True)
def _find(parent, offset, mag, k):  # pragma: no cover - compiled
    """Root of k, v[k] − v[root] and the sum of |link values| on that path, with
    path compression (the sum bounds the round-off of the offset)."""
    root = k
    acc = 0.0
    macc = 0.0
    while parent[root] != root:
        acc += offset[root]
        macc += mag[root]
        root = parent[root]
    # compress: walk again, rewriting each node's offset to the root
    x = k
    rem = acc
    mrem = macc
    while parent[x] != x:
        nxt = parent[x]
        o = offset[x]
        m = mag[x]
        offset[x] = rem
        mag[x] = mrem
        parent[x] = root
        rem -= o
        mrem -= m
        x = nxt
    return root, acc, macc


@kernel(I32, I32, I32, I32, F64, I32, I32)
def link_ends(va, vb, ra, rb, ohms, ia, ib):  # pragma: no cover - compiled
    """The links :func:`union_offsets` takes, as int64 ends ``(la, lb)``: the voltage
    sources (``va, vb``) first, then the zero-ohm resistors among ``ra, rb, ohms``,
    then the inductors (``ia, ib``); a link's value, where it has one, is that of the
    voltage source at the same position."""
    n_short = 0
    for e in range(ohms.shape[0]):
        if ohms[e] == 0.0:
            n_short += 1
    n_l = va.shape[0] + n_short + ia.shape[0]
    la = np.empty(n_l, dtype=np.int64)
    lb = np.empty(n_l, dtype=np.int64)
    q = 0
    for k in range(va.shape[0]):
        la[q] = va[k]
        lb[q] = vb[k]
        q += 1
    for e in range(ohms.shape[0]):
        if ohms[e] == 0.0:
            la[q] = ra[e]
            lb[q] = rb[e]
            q += 1
    for k in range(ia.shape[0]):
        la[q] = ia[k]
        lb[q] = ib[k]
        q += 1
    return la, lb


@kernel(INT, I64, I64, F64, FLOAT)
def union_offsets(n, la, lb, lval, rel_tol):  # pragma: no cover - compiled
    """Union–find with offsets for links v[la] − v[lb] = lval, ground (0) kept a root.

    Returns (root, off, bad): v[k] = v[root[k]] + off[k]; bad is the index of the
    first link that contradicts earlier ones (a KVL conflict) or −1.  A loop is
    judged on its own scale: it conflicts when the closing value and the drop the
    earlier links imply differ by more than ``rel_tol`` × the larger of the two
    (plus OFFSET_ROUND_OFF × the sum of |values| on the paths, the round-off of the offsets),
    whatever the other sources of the circuit.
    """
    parent = np.arange(n)
    offset = np.zeros(n)
    mag = np.zeros(n)
    for j in range(la.shape[0]):
        a = la[j]
        b = lb[j]
        val = lval[j]
        ra, oa, ma = _find(parent, offset, mag, a)
        rb, ob, mb = _find(parent, offset, mag, b)
        if ra == rb:
            drop = oa - ob
            tol = rel_tol * max(abs(val), abs(drop)) + OFFSET_ROUND_OFF * (ma + mb + abs(val))
            if abs(drop - val) > tol:
                return parent, offset, j
            continue
        if ra == 0:
            parent[rb] = ra
            offset[rb] = -(val - oa + ob)
            mag[rb] = abs(val) + ma + mb
        else:
            parent[ra] = rb
            offset[ra] = val - oa + ob
            mag[ra] = abs(val) + ma + mb
    root = np.empty(n, dtype=np.int64)
    off = np.empty(n)
    for k in range(n):
        r, o, _ = _find(parent, offset, mag, k)
        root[k] = r
        off[k] = o
    return root, off, -1
