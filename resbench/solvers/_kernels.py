"""numba kernels (no I/O, no allocation in the hot loops, ``cache=True``).

Private: callers are resbench.problem and resbench.solvers.cd, which validate
inputs.  Every array is contiguous; node indices are int32, CSR offsets int64.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Status codes returned by cd_sweeps
CD_CONVERGED = 0
CD_SWEEP_LIMIT = 1


@njit(cache=True)
def fold_resistors(ra, rb, g, sn, off, n):  # pragma: no cover - compiled
    """One pass over the resistors: diagonal, constant injection, free–free degrees.

    For an edge between node a (supernode i) and node b (supernode j) the energy
    term is ½ g (u_i + off_a − u_j − off_b)².  Edges with a fixed end fold into the
    free end's injection; edges inside one supernode are constants.
    """
    diag = np.zeros(n)
    c = np.zeros(n)
    deg = np.zeros(n, dtype=np.int64)
    for e in range(ra.shape[0]):
        ge = g[e]
        if ge == 0.0:
            continue
        a = ra[e]
        b = rb[e]
        i = sn[a]
        j = sn[b]
        if i == j:
            continue
        if i >= 0 and j >= 0:
            diag[i] += ge
            diag[j] += ge
            d = off[b] - off[a]
            c[i] += ge * d
            c[j] -= ge * d
            deg[i] += 1
            deg[j] += 1
        elif i >= 0:
            diag[i] += ge
            c[i] += ge * (off[b] - off[a])
        elif j >= 0:
            diag[j] += ge
            c[j] += ge * (off[a] - off[b])
    return diag, c, deg


@njit(cache=True)
def fill_csr(ra, rb, g, sn, indptr):  # pragma: no cover - compiled
    """Second pass: scatter free–free edges into CSR (both directions)."""
    n = indptr.shape[0] - 1
    nnz = indptr[n]
    indices = np.empty(nnz, dtype=np.int32)
    data = np.empty(nnz)
    fill = indptr[:-1].copy()
    for e in range(ra.shape[0]):
        ge = g[e]
        if ge == 0.0:
            continue
        i = sn[ra[e]]
        j = sn[rb[e]]
        if i < 0 or j < 0 or i == j:
            continue
        p = fill[i]
        indices[p] = j
        data[p] = ge
        fill[i] = p + 1
        p = fill[j]
        indices[p] = i
        data[p] = ge
        fill[j] = p + 1
    return indices, data


@njit(cache=True)
def csr_matvec(indptr, indices, data, x):  # pragma: no cover - compiled
    n = indptr.shape[0] - 1
    y = np.zeros(n)
    for i in range(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * x[indices[k]]
        y[i] = s
    return y


@njit(cache=True)
def row_sums(indptr, data, n):  # pragma: no cover - compiled
    out = np.zeros(n)
    for i in range(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k]
        out[i] = s
    return out


@njit(cache=True)
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


@njit(cache=True)
def bellman_ford_start(start, lo, hi, d_an, d_ca, d_w):  # pragma: no cover - compiled
    """Feasible point of  lo ≤ u ≤ hi,  u[an] − u[ca] ≤ w  by Bellman–Ford.

    A virtual vertex s (index n, value 0) carries the bounds: edge s→i of weight
    hi_i, edge i→s of weight −lo_i; a diode is the edge ca→an of weight w.
    Starting from ``start`` (inside the bounds) distances only decrease; after
    convergence ``u − u_s`` is feasible.  Returns (u, cycle) where cycle lists
    the diode constraints on a negative cycle (empty when feasible); a bound edge
    on the cycle is reported as −1.
    """
    n = start.shape[0]
    m = d_an.shape[0]
    u = np.empty(n + 1)
    u[:n] = start
    u[n] = 0.0
    pred_v = np.full(n + 1, -1, dtype=np.int64)
    pred_e = np.full(n + 1, -1, dtype=np.int64)
    last = -1
    for _ in range(n + 2):
        last = -1
        for k in range(m):
            a = d_an[k]
            cth = d_ca[k]
            cand = u[cth] + d_w[k]
            if cand < u[a] - 1e-15 * (1.0 + abs(cand)):
                u[a] = cand
                pred_v[a] = cth
                pred_e[a] = k
                last = a
        for i in range(n):
            if hi[i] < np.inf:
                cand = u[n] + hi[i]
                if cand < u[i] - 1e-15 * (1.0 + abs(cand)):
                    u[i] = cand
                    pred_v[i] = n
                    pred_e[i] = -1
                    last = i
            if lo[i] > -np.inf:
                cand = u[i] - lo[i]
                if cand < u[n] - 1e-15 * (1.0 + abs(cand)):
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


@njit(cache=True)
def cd_sweeps(
    indptr,
    indices,
    data,
    diag,
    c,
    lo,
    hi,
    in_ptr,
    in_nbr,
    in_w,
    out_ptr,
    out_nbr,
    out_w,
    u,
    omega,
    tol,
    max_sweeps,
    history,
):  # pragma: no cover - compiled
    """Exact cyclic coordinate descent (projected SOR when omega != 1), in place on u.

    Per free node i: x = (c_i + Σ_j g_ij u_j) / diag_i, the exact minimiser of the
    energy along u_i; the diode bounds give [l, h] with l = max(lo_i, u[an] − w)
    over diodes into i and h = min(hi_i, u[ca] + w) over diodes out of i.  The
    residual of node i is diag_i · |clip(x, l, h) − u_i| (amperes): the KCL
    imbalance that the exact update removes.  A sweep's residual is the largest
    over its nodes; we stop when it is ≤ tol.  history[s] receives sweep s's residual.

    Returns (status, sweeps, residual).
    """
    n = u.shape[0]
    res = np.inf
    for sweep in range(max_sweeps):
        res = 0.0
        for i in range(n):
            s = c[i]
            for k in range(indptr[i], indptr[i + 1]):
                s += data[k] * u[indices[k]]
            x = s / diag[i]
            l = lo[i]
            for k in range(in_ptr[i], in_ptr[i + 1]):
                t = u[in_nbr[k]] - in_w[k]
                if t > l:
                    l = t
            h = hi[i]
            for k in range(out_ptr[i], out_ptr[i + 1]):
                t = u[out_nbr[k]] + out_w[k]
                if t < h:
                    h = t
            ui = u[i]
            xc = x
            if xc < l:
                xc = l
            if xc > h:
                xc = h
            r = abs(xc - ui) * diag[i]
            if r > res:
                res = r
            if omega != 1.0:
                xc = ui + omega * (x - ui)
                if xc < l:
                    xc = l
                if xc > h:
                    xc = h
            u[i] = xc
        if sweep < history.shape[0]:
            history[sweep] = res
        if res <= tol:
            return CD_CONVERGED, sweep + 1, res
    return CD_SWEEP_LIMIT, max_sweeps, res


@njit(cache=True)
def projected_residual(
    indptr, indices, data, diag, c, lo, hi, in_ptr, in_nbr, in_w, out_ptr, out_nbr, out_w, u
):  # pragma: no cover - compiled
    """Largest single-node KCL residual at u (A), as cd_sweeps measures it, without moving."""
    n = u.shape[0]
    res = 0.0
    for i in range(n):
        s = c[i]
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * u[indices[k]]
        x = s / diag[i]
        l = lo[i]
        for k in range(in_ptr[i], in_ptr[i + 1]):
            t = u[in_nbr[k]] - in_w[k]
            if t > l:
                l = t
        h = hi[i]
        for k in range(out_ptr[i], out_ptr[i + 1]):
            t = u[out_nbr[k]] + out_w[k]
            if t < h:
                h = t
        xc = min(max(x, l), h)
        r = abs(xc - u[i]) * diag[i]
        if r > res:
            res = r
    return res
