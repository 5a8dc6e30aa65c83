"""numba kernels of the batched certificate (resbench.batch.certificate); no I/O.

Both work sample by sample on ``[B, n]`` arrays (one row per sample, contiguous):

* :func:`scale_maxima` finds, per sample, the largest total branch current at a node
  and the largest total current over total conductance (the certificate's scales)
  by branch and bound: the caller gives cheap upper and lower bounds of every node's
  total (from one matrix product with ``|v|``), and only the nodes whose upper bound
  can still beat the best exact value are summed exactly, best bound first.
* :func:`balance_clusters` chooses the unknown currents of voltage sources, shorts,
  inductors and tight diodes exactly as :func:`resbench.certificate._unknown_currents`
  does for clusters of one node or of one branch, and flags a sample holding any
  other cluster (the caller certifies that one with the scalar code).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from resbench._jit import F64, I32, I64, kernel

F64_2D = types.float64[:, ::1]
U8 = types.uint8[::1]


@njit(cache=True)
def _exact_total(indptr, indices, data, v, t0, exact, b, k):  # pragma: no cover - compiled
    """Sum of |resistor currents| at node k of sample b, plus its known part t0 (cached)."""
    t = exact[b, k]
    if t >= 0.0:
        return t
    vk = v[b, k]
    s = 0.0
    for p in range(indptr[k], indptr[k + 1]):
        s += data[p] * abs(vk - v[b, indices[p]])
    t = s + t0[b, k]
    exact[b, k] = t
    return t


@njit(cache=True)
def _bounded_max(indptr, indices, data, v, t0, upper, lower, weight, exact, b):  # pragma: no cover
    """max over nodes k >= 1 with weight[k] > 0 of exact total × weight[k], found by
    branch and bound (-1.0 when no node qualifies)."""
    n = v.shape[1]
    floor = -1.0
    for k in range(1, n):
        w = weight[k]
        if w > 0.0 and lower[b, k] * w > floor:
            floor = lower[b, k] * w
    m = 0
    cand = np.empty(n, dtype=np.int64)
    key = np.empty(n)
    for k in range(1, n):
        w = weight[k]
        if w > 0.0 and upper[b, k] * w >= floor:
            cand[m] = k
            key[m] = -upper[b, k] * w
            m += 1
    if m == 0:
        return -1.0
    order = np.argsort(key[:m])
    best = -1.0
    for q in range(m):
        k = cand[order[q]]
        if -key[order[q]] < best:
            break
        t = _exact_total(indptr, indices, data, v, t0, exact, b, k) * weight[k]
        if t > best:
            best = t
    return best


@kernel(I64, I32, F64, F64_2D, F64_2D, F64_2D, F64_2D, F64, F64_2D)
def scale_maxima(indptr, indices, data, v, t0, upper, lower, inv_g, exact):  # pragma: no cover
    """Per sample: (max over non-ground nodes of the total |current| at the node,
    max over nodes with inv_g > 0 of that total × inv_g), -1.0 where no node counts.

    ``indptr, indices, data``: the conductances, one CSR row per node (self loops left
    out); ``v`` the voltages [B, n]; ``t0`` the known part of each total (current
    sources, gmin leak); ``upper``/``lower`` valid bounds of each total (t0 included);
    ``inv_g`` 1 / total conductance of held nodes, else 0; ``exact`` a [B, n] scratch
    filled with -1 (exact totals computed so far are cached there).
    """
    nb = v.shape[0]
    n = v.shape[1]
    tot_max = np.empty(nb)
    ratio_max = np.empty(nb)
    ones = np.ones(n)
    for b in range(nb):
        tot_max[b] = _bounded_max(indptr, indices, data, v, t0, upper, lower, ones, exact, b)
        ratio_max[b] = _bounded_max(indptr, indices, data, v, t0, upper, lower, inv_g, exact, b)
    return tot_max, ratio_max


@njit(cache=True)
def _root(parent, x):  # pragma: no cover - compiled
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@njit(cache=True)
def _union(parent, a, b):  # pragma: no cover - compiled
    x = _root(parent, a)
    y = _root(parent, b)
    if x < y:
        parent[y] = x
    elif y < x:
        parent[x] = y


@kernel(F64_2D, F64_2D, F64, I32, I32, I32, I32, F64_2D, F64_2D, U8)
def balance_clusters(
    res, dv, feas_tol, fa, fb, da, db, x_free, x_dio, fallback
):  # pragma: no cover
    """Balance KCL with the unknown branch currents, per sample, in place on ``res``.

    Unknowns: the sign-free branches (fa -> fb: voltage sources, shorts, inductors) and
    the tight diodes (da -> db, ``dv >= -feas_tol``; current >= 0).  They join the
    non-ground nodes into clusters.  A cluster of one node (every unknown going to
    ground) is balanced by its first sign-free branch, else by its first tight diode
    whose direction opposes the imbalance; a cluster of two nodes joined by a single
    unknown splits their imbalance (clipped at 0 for a diode), as in
    resbench.certificate.  A sample holding any other cluster gets ``fallback = 1`` and
    its ``res`` row is left untouched.  ``x_free`` / ``x_dio`` (zeroed by the caller)
    receive the currents a -> b.
    """
    nb = res.shape[0]
    n = res.shape[1]
    nf = fa.shape[0]
    nd = da.shape[0]
    parent = np.empty(n, dtype=np.int64)
    size = np.empty(n, dtype=np.int64)
    unk = np.empty(n, dtype=np.int64)
    done = np.empty(n, dtype=np.uint8)
    tight = np.empty(nd, dtype=np.uint8)
    for b in range(nb):
        for k in range(n):
            parent[k] = k
            size[k] = 0
            unk[k] = 0
            done[k] = 0
        tol = -feas_tol[b]
        for i in range(nd):
            tight[i] = 1 if dv[b, i] >= tol else 0
        for j in range(nf):
            if fa[j] != 0 and fb[j] != 0 and fa[j] != fb[j]:
                _union(parent, fa[j], fb[j])
        for i in range(nd):
            if tight[i] and da[i] != 0 and db[i] != 0 and da[i] != db[i]:
                _union(parent, da[i], db[i])
        for k in range(1, n):
            size[_root(parent, k)] += 1
        for j in range(nf):
            if fa[j] != fb[j]:
                unk[_root(parent, fa[j] if fa[j] != 0 else fb[j])] += 1
        for i in range(nd):
            if tight[i] and da[i] != db[i]:
                unk[_root(parent, da[i] if da[i] != 0 else db[i])] += 1
        # every cluster of this sample must be of a closed-form kind
        other = False
        for k in range(1, n):
            if _root(parent, k) == k and unk[k] > 0 and size[k] > 1:
                if not (size[k] == 2 and unk[k] == 1):
                    other = True
                    break
        if other:
            fallback[b] = 1
            continue
        # clusters of one node: first the sign-free branches, in order
        for j in range(nf):
            a = fa[j]
            c = fb[j]
            if a == c:
                continue
            node = a if a != 0 else c
            r = _root(parent, node)
            if size[r] == 1:
                if not done[node]:
                    sign = -1.0 if a == node else 1.0
                    x_free[b, j] = -res[b, node] * sign
                    res[b, node] = 0.0
                    done[node] = 1
            else:  # the one branch of a two-node cluster
                xi = 0.5 * (res[b, a] - res[b, c])
                x_free[b, j] = xi
                res[b, a] -= xi
                res[b, c] += xi
        # then the tight diodes, in order
        for i in range(nd):
            a = da[i]
            c = db[i]
            if not tight[i] or a == c:
                continue
            node = a if a != 0 else c
            r = _root(parent, node)
            if size[r] == 1:
                if not done[node]:
                    sign = -1.0 if a == node else 1.0
                    rn = res[b, node]
                    if sign * rn < 0.0:
                        x_dio[b, i] = abs(rn)
                        res[b, node] = 0.0
                        done[node] = 1
            else:
                xi = 0.5 * (res[b, a] - res[b, c])
                if xi < 0.0:
                    xi = 0.0
                x_dio[b, i] = xi
                res[b, a] -= xi
                res[b, c] += xi
