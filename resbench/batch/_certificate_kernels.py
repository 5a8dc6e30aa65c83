"""numba kernels of the batched certificate (resbench.batch.certificate); no I/O.

* :func:`scale_maxima` finds, per sample, the largest total branch current at a node
  and the largest total current over total conductance (the certificate's scales)
  by branch and bound: every node's total lies within bounds that follow from one
  matrix product ``W @ |u|`` (given by the caller); only the nodes whose upper bound
  can still beat the best exact value are summed exactly, best bound first.
* :func:`feasibility` gives each sample's worst violated equation and the diodes'
  anode-cathode voltages.
* :func:`balance_clusters` chooses the unknown currents of voltage sources, shorts,
  inductors and tight diodes exactly as :func:`resbench.certificate._unknown_currents`
  does for clusters of one node or of one branch, and flags a sample holding any
  other cluster (the caller certifies that one with the scalar code).

The kernels run on one thread: on a 2-core machine shared with OpenBLAS (whose idle
threads spin after each product), numba threads made both the kernels and the next
products slower (DRN-1H, batch 256: 90 ms per certificate with them, 64 ms without).
Arrays named ``*_t`` are node-major ``[n, B]`` (as the matrix products give them); the others are
sample-major ``[B, ...]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from resbench._jit import BOOL, F64, I32, I64, kernel

F64_2D = types.float64[:, ::1]
U8 = types.uint8[::1]


@njit(cache=True)
def _exact_total(indptr, indices, data, v, t0_t, k, b):  # pragma: no cover - compiled
    """Sum of |resistor currents| at node k of sample b, plus its known part."""
    vk = v[b, k]
    s = 0.0
    for p in range(indptr[k], indptr[k + 1]):
        s += data[p] * abs(vk - v[b, indices[p]])
    return s + t0_t[k, b]


@njit(cache=True)
def _best_exact(indptr, indices, data, v, t0_t, weight, cand, key, exact, b):  # pragma: no cover
    """max over the candidate nodes of exact total × weight, best bound (-key) first,
    stopping when no bound left can beat the best; -1.0 when there is none."""
    best = -1.0
    order = np.argsort(key)
    for q in range(order.shape[0]):
        if -key[order[q]] < best:
            break
        k = cand[order[q]]
        t = exact[k]
        if t < 0.0:
            t = _exact_total(indptr, indices, data, v, t0_t, k, b)
            exact[k] = t
        t *= weight[k]
        if t > best:
            best = t
    return best


@njit(cache=True)
def _floors(a_t, u_t, t0_t, diag, rel, slack, inv_g):  # pragma: no cover - compiled
    """Per sample, the best lower bound of the totals and of total × inv_g."""
    n, nb = a_t.shape
    floor1 = np.full(nb, -1.0)
    floor2 = np.full(nb, -1.0)
    for k in range(1, n):  # rows in order, samples innermost: vectorised
        dk, rk, sk, gk = diag[k], rel[k], slack[k], inv_g[k]
        ar, ur, tr = a_t[k], u_t[k], t0_t[k]
        for b in range(nb):
            cc = dk * abs(ur[b])
            a = ar[b]
            l1 = cc * (1.0 - 1e-12) - (a + a * rk + sk)
            l2 = a - a * rk - cc * (1.0 + 1e-12)
            lo = l1 if l1 > l2 else l2
            lo = (lo if lo > 0.0 else 0.0) + tr[b] * (1.0 - 1e-12)
            f1 = floor1[b]
            floor1[b] = lo if lo > f1 else f1
            x = lo * gk
            f2 = floor2[b]
            floor2[b] = x if x > f2 else f2
    return floor1, floor2


@njit(cache=True)
def _candidates(a_t, u_t, t0_t, diag, rel, slack, inv_g, floor1, floor2):  # pragma: no cover
    """Per sample, the nodes whose upper bound reaches floor1, and those whose upper
    bound × inv_g reaches floor2: two CSR-like lists (start[B + 1], node, -bound),
    each sample's in node order.  Two sweeps: count, then fill."""
    n, nb = a_t.shape
    up = np.empty(nb)
    count1 = np.zeros(nb + 1, dtype=np.int64)
    count2 = np.zeros(nb + 1, dtype=np.int64)
    start1 = count1
    start2 = count2
    node1 = np.empty(0, dtype=np.int64)
    node2 = np.empty(0, dtype=np.int64)
    key1 = np.empty(0)
    key2 = np.empty(0)
    fill1 = count1
    fill2 = count2
    for sweep in range(2):
        if sweep == 1:
            start1 = np.cumsum(count1)
            start2 = np.cumsum(count2)
            node1 = np.empty(start1[nb], dtype=np.int64)
            key1 = np.empty(start1[nb])
            node2 = np.empty(start2[nb], dtype=np.int64)
            key2 = np.empty(start2[nb])
            fill1 = start1[:nb].copy()
            fill2 = start2[:nb].copy()
        for k in range(1, n):
            dk, rk, sk, gk = diag[k], rel[k], slack[k], inv_g[k]
            ar, ur, tr = a_t[k], u_t[k], t0_t[k]
            for b in range(nb):  # vectorised
                a = ar[b]
                up[b] = (a + a * rk + sk + dk * abs(ur[b])) * (1.0 + 1e-12) + tr[b] * (1.0 + 1e-12)
            for b in range(nb):
                if up[b] >= floor1[b]:
                    if sweep == 0:
                        count1[b + 1] += 1
                    else:
                        node1[fill1[b]] = k
                        key1[fill1[b]] = -up[b]
                        fill1[b] += 1
                if gk > 0.0 and up[b] * gk >= floor2[b]:
                    if sweep == 0:
                        count2[b + 1] += 1
                    else:
                        node2[fill2[b]] = k
                        key2[fill2[b]] = -up[b] * gk
                        fill2[b] += 1
    return start1, node1, key1, start2, node2, key2


@kernel(I64, I32, F64, F64_2D, F64_2D, F64_2D, F64_2D, F64, F64, F64, F64)
def scale_maxima(
    indptr, indices, data, v, a_t, u_t, t0_t, diag, rel, slack, inv_g
):  # pragma: no cover
    """Per sample: (max over non-ground nodes of the total |current| at the node,
    max over nodes with inv_g > 0 of that total × inv_g); -1.0 where no node counts.

    ``indptr, indices, data``: the conductances, one CSR row per node (self loops left
    out); ``v`` the voltages [B, n]; ``a_t`` ~ W |u| [n, B] (within ``rel``, ``slack``
    per node), ``u_t`` the centred voltages [n, B]; ``t0_t`` the known part of each
    total (current sources, gmin leak) [n, B]; ``inv_g`` 1 / total conductance of
    held nodes, else 0.  A node's resistor total sum_j g |u_k - u_j| lies within
    |A - c| .. A + c with c = diag[k] |u_k| and A = sum_j g |u_j|, known as a_t within
    a relative rel[k] plus slack[k]; t0 is added, all with 1e-12 of round-off slack.
    The bounds are swept row by row (vectorised over samples); then per sample only
    the candidates whose upper bound reaches the best lower bound are summed exactly,
    best bound first.
    """
    n, nb = a_t.shape
    ones = np.ones(n)
    ones[0] = 0.0  # ground's total does not count
    floor1, floor2 = _floors(a_t, u_t, t0_t, diag, rel, slack, inv_g)
    start1, cand1, key1, start2, cand2, key2 = _candidates(
        a_t, u_t, t0_t, diag, rel, slack, inv_g, floor1, floor2
    )
    tot_max = np.empty(nb)
    ratio_max = np.empty(nb)
    for b in range(nb):
        exact = np.full(n, -1.0)
        s1, e1 = start1[b], start1[b + 1]
        s2, e2 = start2[b], start2[b + 1]
        tot_max[b] = _best_exact(
            indptr, indices, data, v, t0_t, ones, cand1[s1:e1], key1[s1:e1], exact, b
        )
        ratio_max[b] = _best_exact(
            indptr, indices, data, v, t0_t, inv_g, cand2[s2:e2], key2[s2:e2], exact, b
        )
    return tot_max, ratio_max


TB = 32  # side of the blocks the transposes below copy (both sides stay in cache)


@kernel(F64_2D)
def centred_transposed(v):  # pragma: no cover - compiled
    """``v[B, n]`` centred per sample on (max + min) / 2 and transposed to ``u_t[n, B]``,
    with ``|u_t|`` in float64 and float32 and the largest ``|u|`` (one pass, blocked)."""
    nb, n = v.shape
    centre = np.empty(nb)
    for b in range(nb):
        lo = np.inf
        hi = -np.inf
        for k in range(n):
            x = v[b, k]
            lo = x if x < lo else lo
            hi = x if x > hi else hi
        centre[b] = 0.5 * (hi + lo) if n else 0.0
    u_t = np.empty((n, nb))
    au_t = np.empty((n, nb))
    au32 = np.empty((n, nb), dtype=np.float32)
    big = 0.0
    for b0 in range(0, nb, TB):
        for k0 in range(0, n, TB):
            for b in range(b0, min(nb, b0 + TB)):
                c = centre[b]
                for k in range(k0, min(n, k0 + TB)):
                    x = v[b, k] - c
                    ax = abs(x)
                    u_t[k, b] = x
                    au_t[k, b] = ax
                    au32[k, b] = np.float32(ax) if ax < 1e38 else np.float32(1e38)
                    big = ax if ax > big else big
    return u_t, au_t, au32, big


@kernel(F64_2D, F64_2D, F64)
def minus_diag_transposed(inj_t, u_t, diag):  # pragma: no cover - compiled
    """``inj_t[n, B] - diag * u_t`` transposed to ``[B, n]`` (blocked)."""
    n, nb = inj_t.shape
    out = np.empty((nb, n))
    for k0 in range(0, n, TB):
        for b0 in range(0, nb, TB):
            for k in range(k0, min(n, k0 + TB)):
                d = diag[k]
                for b in range(b0, min(nb, b0 + TB)):
                    out[b, k] = inj_t[k, b] - d * u_t[k, b]
    return out


@kernel(F64_2D, I32, I32, F64_2D, I32, I32)
def feasibility(v, fa, fb, vval, da, db):  # pragma: no cover - compiled
    """Per sample: the largest violation of ground (v0 = 0), of the sign-free branches
    (fa - fb = vval for the first vval.shape[1], the voltage sources; 0 for the rest:
    shorts, inductors) and of the diodes (anode <= cathode); and every diode's
    anode - cathode [B, nd]."""
    nb = v.shape[0]
    nv = vval.shape[1]
    nd = da.shape[0]
    feas = np.empty(nb)
    dv = np.empty((nb, nd))
    for b in range(nb):
        worst = abs(v[b, 0])
        for j in range(fa.shape[0]):
            d = v[b, fa[j]] - v[b, fb[j]]
            if j < nv:
                d = d - vval[b, j]
            d = abs(d)
            if d > worst:
                worst = d
        for i in range(nd):
            d = v[b, da[i]] - v[b, db[i]]
            dv[b, i] = d
            if d > worst:
                worst = d
        feas[b] = worst
    return feas, dv


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


@njit(cache=True)
def _balance_one(res, dv, tol, fa, fb, da, db, x_free, x_dio, b):  # pragma: no cover
    """One sample of :func:`balance_clusters`; returns 1 when it holds another kind of
    cluster (nothing written then)."""
    n = res.shape[1]
    nf = fa.shape[0]
    nd = da.shape[0]
    parent = np.arange(n)
    size = np.zeros(n, dtype=np.int64)
    unk = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=np.uint8)
    tight = np.empty(nd, dtype=np.uint8)
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
    for k in range(1, n):  # every cluster must be of a closed-form kind
        if parent[k] == k and unk[k] > 0 and size[k] > 1:
            if not (size[k] == 2 and unk[k] == 1):
                return 1
    # clusters of one node: the sign-free branches first, in order; two-node clusters
    for j in range(nf):
        a = fa[j]
        c = fb[j]
        if a == c:
            continue
        node = a if a != 0 else c
        if size[_root(parent, node)] == 1:
            if not done[node]:
                sign = -1.0 if a == node else 1.0
                x_free[b, j] = -res[b, node] * sign
                res[b, node] = 0.0
                done[node] = 1
        else:
            xi = 0.5 * (res[b, a] - res[b, c])
            x_free[b, j] = xi
            res[b, a] -= xi
            res[b, c] += xi
    # then the tight diodes, in order: in a one-node cluster the first whose
    # direction opposes the imbalance takes it
    for i in range(nd):
        a = da[i]
        c = db[i]
        if not tight[i] or a == c:
            continue
        node = a if a != 0 else c
        if size[_root(parent, node)] == 1:
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
    return 0


@njit(cache=True)
def _balance_grounded(res, dv, tol, fa, fb, da, db, x_free, x_dio, b):  # pragma: no cover
    """:func:`_balance_one` when every unknown joins a node to ground (or is a self
    loop): every cluster is one node, no union-find needed."""
    n = res.shape[1]
    done = np.zeros(n, dtype=np.uint8)
    for j in range(fa.shape[0]):
        a = fa[j]
        c = fb[j]
        if a == c:
            continue
        node = a if a != 0 else c
        if not done[node]:
            x_free[b, j] = -res[b, node] * (-1.0 if a == node else 1.0)
            res[b, node] = 0.0
            done[node] = 1
    for i in range(da.shape[0]):
        a = da[i]
        c = db[i]
        if a == c or dv[b, i] < tol:
            continue
        node = a if a != 0 else c
        if not done[node]:
            rn = res[b, node]
            if (-1.0 if a == node else 1.0) * rn < 0.0:
                x_dio[b, i] = abs(rn)
                res[b, node] = 0.0
                done[node] = 1


@kernel(F64_2D, F64_2D, F64, I32, I32, I32, I32, F64_2D, F64_2D, U8, BOOL, F64, F64)
def balance_clusters(
    res, dv, feas_tol, fa, fb, da, db, x_free, x_dio, fallback, grounded, kcl, compl
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
    receive the currents a -> b; ``kcl`` / ``compl`` the sample's largest imbalance
    left at a non-ground node and largest diode current × reverse voltage (not
    written for fallback samples).  ``grounded``: every unknown joins a node to
    ground (or is a self loop), so every cluster is one node (the caller knows it from
    the circuit; a faster path).
    """
    nb, n = res.shape
    for b in range(nb):
        if grounded:
            _balance_grounded(res, dv, -feas_tol[b], fa, fb, da, db, x_free, x_dio, b)
            fallback[b] = 0
        else:
            fallback[b] = _balance_one(res, dv, -feas_tol[b], fa, fb, da, db, x_free, x_dio, b)
        if fallback[b]:
            continue
        worst = 0.0
        for k in range(1, n):
            r = abs(res[b, k])
            worst = r if r > worst else worst
        kcl[b] = worst
        worst = 0.0
        for i in range(da.shape[0]):
            c = -dv[b, i] * x_dio[b, i]
            if dv[b, i] < 0.0 and c > worst:
                worst = c
        compl[b] = worst
