"""numba kernel of the certificate (its own, independent of the solvers' kernels)."""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit, types

from resbench._jit import F64, FLOAT, I32, I64, INT, kernel
from resbench._unionfind import find_root as _root


@kernel(I32, I32, F64, F64, INT)
def resistor_balance(ra, rb, ohms, v, n):  # pragma: no cover - compiled
    """One pass over the resistors, no per-resistor temporaries.

    Returns per node: the net current injected by resistors (A, into the node),
    the sum of |branch currents| at the node (A) and the total conductance (S).
    0-ohm resistors (shorts) are skipped: their currents are unknowns.
    """
    inj = np.zeros(n)
    tot = np.zeros(n)
    gsum = np.zeros(n)
    for e in range(ra.shape[0]):
        r = ohms[e]
        if r <= 0.0:
            continue
        a = ra[e]
        b = rb[e]
        g = 1.0 / r
        i = (v[a] - v[b]) * g  # current a -> b
        inj[b] += i
        inj[a] -= i
        ai = abs(i)
        tot[a] += ai
        tot[b] += ai
        gsum[a] += g
        gsum[b] += g
    return inj, tot, gsum


@njit(cache=True, inline="always")
def _join(parent, a, b):  # pragma: no cover - compiled
    """Merge the groups of a and b (the smaller root wins, so ground stays root 0);
    1 when they were two groups, else 0."""
    x = _root(parent, a)
    y = _root(parent, b)
    if x == y:
        return 0
    if x < y:
        parent[y] = x
    else:
        parent[x] = y
    return 1


@kernel(INT, I32, I32, I32, I32)
def grounded_groups(n, ra, rb, la, lb):  # pragma: no cover - compiled
    """Union–find over resistors (ra, rb; shorts included) and equality links (la, lb:
    voltage sources, inductors).  Returns per node the root of its group; the group
    of node 0 (ground) has root 0.  Stops as soon as everything is one group (the
    common case: a few thousand edges into a DRN)."""
    parent = np.arange(n)
    groups = n
    for e in range(la.shape[0]):
        groups -= _join(parent, la[e], lb[e])
    for e in range(ra.shape[0]):
        if groups == 1:
            break
        groups -= _join(parent, ra[e], rb[e])
    out = np.empty(n, dtype=np.int64)
    for k in range(n):
        out[k] = _root(parent, k)
    return out


B1 = types.boolean[::1]  # per-branch flags


@kernel(INT, I64, I64, B1, F64, F64)
def balance_clusters(n, ua, ub, nonneg, x, res):  # pragma: no cover - compiled
    """The closed-form part of the certificate's unknown branch currents, in place on
    ``x`` (currents a -> b) and ``res`` (each node's KCL imbalance), as
    ``resbench.certificate._unknown_currents`` describes: the live branches (a != b)
    group the non-ground nodes into clusters; a one-node cluster is balanced by its
    first sign-free branch, else by its first diode whose direction opposes the
    imbalance; a two-node cluster of one branch splits the imbalance.  Returns
    ``(rest, comp, label)``: the branches of the other clusters (for the bounded least
    squares), their cluster labels, and each node's cluster label."""
    nb = ua.shape[0]
    label = np.zeros(n, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    live = np.empty(nb, dtype=np.int64)
    n_live = 0
    for t in range(nb):
        if ua[t] != ub[t]:
            live[n_live] = t
            n_live += 1
    if n_live == 0 or n <= 1:
        return empty, empty, label
    parent = np.arange(n)
    for j in range(n_live):
        t = live[j]
        if ua[t] != 0 and ub[t] != 0:
            _join(parent, ua[t], ub[t])
    count = 0
    for i in range(n):
        r = _root(parent, i)
        if r == i:
            label[i] = count
            count += 1
        else:
            label[i] = label[r]
    comp = np.empty(n_live, dtype=np.int64)
    n_unknowns = np.zeros(count, dtype=np.int64)
    n_members = np.zeros(count, dtype=np.int64)
    for i in range(1, n):
        n_members[label[i]] += 1
    for j in range(n_live):
        t = live[j]
        comp[j] = label[ua[t]] if ua[t] != 0 else label[ub[t]]
        n_unknowns[comp[j]] += 1
    # one-node clusters: every unknown joins the node to ground
    rn = np.empty(n_live)
    node = np.empty(n_live, dtype=np.int64)
    sign = np.empty(n_live)
    for j in range(n_live):
        t = live[j]
        node[j] = ua[t] if ua[t] != 0 else ub[t]
        sign[j] = -1.0 if ua[t] == node[j] else 1.0  # +1: current enters the node
        rn[j] = res[node[j]]
    by_free = np.zeros(n, dtype=np.bool_)
    by_diode = np.zeros(n, dtype=np.bool_)
    for j in range(n_live):  # a sign-free branch balances the node
        t = live[j]
        if n_members[comp[j]] == 1 and not nonneg[t] and not by_free[node[j]]:
            by_free[node[j]] = True
            x[t] = -rn[j] * sign[j]
    for j in range(n_live):  # otherwise a diode whose direction opposes the imbalance
        t = live[j]
        k = node[j]
        if n_members[comp[j]] == 1 and nonneg[t] and sign[j] * rn[j] < 0.0:
            if not by_free[k] and not by_diode[k]:
                by_diode[k] = True
                x[t] = abs(rn[j])
    for i in range(n):
        if by_free[i] or by_diode[i]:
            res[i] = 0.0
    # two-node clusters of one branch: split the imbalance
    n_rest = 0
    rest = np.empty(n_live, dtype=np.int64)
    rest_comp = np.empty(n_live, dtype=np.int64)
    for j in range(n_live):
        t = live[j]
        size = n_members[comp[j]]
        if size == 2 and n_unknowns[comp[j]] == 1:
            a = ua[t]
            b = ub[t]
            xi = 0.5 * (res[a] - res[b])
            if nonneg[t]:
                xi = max(xi, 0.0)
            x[t] = xi
            res[a] -= xi
            res[b] += xi
        elif size >= 2:
            rest[n_rest] = t
            rest_comp[n_rest] = comp[j]
            n_rest += 1
    return rest[:n_rest].copy(), rest_comp[:n_rest].copy(), label


@kernel(I64)
def floating_labels(root):  # pragma: no cover - compiled
    """Per node the index of its floating group (0, 1, … in the order of each group's
    smallest node) or −1 for the group of ground, from :func:`grounded_groups`'s roots
    (each group's root is its smallest node); and the number of groups."""
    n = root.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    k = 0
    for i in range(n):
        if root[i] == 0:
            continue
        if root[i] == i:
            labels[i] = k
            k += 1
        else:
            labels[i] = labels[root[i]]
    return labels, k


@kernel(I32, I32, F64, I32, I32, F64, F64, F64, INT, FLOAT, FLOAT, FLOAT)
def known_currents(
    ra, rb, ohms, ia, ib, ival, vval, v, n, gmin, v_floor, i_floor
):  # pragma: no cover - compiled
    """The currents that follow from ``v`` alone and the tolerance scales, as
    ``resbench.certificate._known_currents_and_scales`` defines them (the same sums in
    the same order).  Returns ``(inj, v_scale, i_scale)``."""
    inj, tot, gsum = resistor_balance(ra, rb, ohms, v, n)
    pa = np.zeros(n)
    pb = np.zeros(n)
    ta = np.zeros(n)
    tb = np.zeros(n)
    for e in range(ia.shape[0]):  # current sources: from a through the source to b
        pb[ib[e]] += ival[e]
        pa[ia[e]] += ival[e]
        ta[ia[e]] += abs(ival[e])
        tb[ib[e]] += abs(ival[e])
    for k in range(n):
        inj[k] += pb[k] - pa[k]
        tot[k] += ta[k] + tb[k]
    if gmin > 0:
        for k in range(1, n):
            inj[k] -= gmin * v[k]
            tot[k] += gmin * abs(v[k])
    i_scale = 0.0
    for k in range(1, n):
        i_scale = max(i_scale, tot[k])
    v_scale = 0.0
    for e in range(vval.shape[0]):
        v_scale = max(v_scale, abs(vval[e]))
    v_big = 0.0
    for k in range(n):
        v_big = max(v_big, abs(v[k]))
    v_scale = max(v_scale, v_big)
    # floor: at each node its total current over its total conductance
    g_big = 0.0
    for k in range(1, n):
        g = gsum[k] + gmin
        if g > 0:
            v_scale = max(v_scale, tot[k] / g)
        g_big = max(g_big, g)
    v_scale = max(v_scale, v_floor)
    i_scale = max(i_scale, v_floor * g_big, i_floor)
    return inj, v_scale, i_scale


@njit(cache=True, inline="always")
def _worst_drop(v, a, b, off, best, cat, idx, this):  # pragma: no cover - compiled
    """The first largest |v[a] − v[b] − off| of one kind of element, if it beats ``best``
    (ties keep the earlier kind: the order of the certificate's candidates)."""
    m, k = 0.0, -1
    for e in range(a.shape[0]):
        d = abs(v[a[e]] - v[b[e]] - (off[e] if off.shape[0] else 0.0))
        if k < 0 or d > m:
            m, k = d, e
    if k >= 0 and m > best:
        return m, this, k
    return best, cat, idx


@kernel(F64, I32, I32, F64, I32, I32, I32, I32, I32, I32)
def feasibility(v, va, vb, vval, sa, sb, la, lb, da, db):  # pragma: no cover - compiled
    """The worst violation of the ground, voltage-source, short, inductor and diode
    equations (``resbench.certificate._feasibility``).  Returns ``(feas, kind, index,
    dv)``: kind 0 ground, 1 source, 2 short, 3 inductor, 4 diode (index within its kind)
    and every diode's ``v(anode) − v(cathode)``."""
    none = np.zeros(0)
    best, cat, idx = (abs(v[0]) if v.shape[0] else 0.0), 0, 0
    best, cat, idx = _worst_drop(v, va, vb, vval, best, cat, idx, 1)
    best, cat, idx = _worst_drop(v, sa, sb, none, best, cat, idx, 2)
    best, cat, idx = _worst_drop(v, la, lb, none, best, cat, idx, 3)
    dv = np.empty(da.shape[0])
    m, k = 0.0, -1
    for e in range(da.shape[0]):
        dv[e] = v[da[e]] - v[db[e]]
        d = max(dv[e], 0.0)
        if k < 0 or d > m:
            m, k = d, e
    if k >= 0 and m > best:
        best, cat, idx = m, 4, k
    return best, cat, idx, dv


@kernel(I64, I64, I64, I64, I64)
def dense_clusters(rest, comp, label, ua, ub):  # pragma: no cover - compiled
    """The clusters that ``balance_clusters`` leaves to bounded least squares, laid out
    for one small dense problem each: clusters in the order of their labels, their
    branches in the order given, their nodes (ground dropped: it absorbs any current)
    in node order.  Returns ``(branches, branch_ptr, nodes, node_ptr, bmat, bmat_ptr)``:
    cluster c's branches ``branches[branch_ptr[c]:branch_ptr[c + 1]]``, its nodes
    likewise, and its incidence matrix (rows: nodes, columns: branches; −1 where a
    branch leaves a node, +1 where it enters) row-major in ``bmat[bmat_ptr[c]:…]``."""
    n = label.shape[0]
    n_labels = 0
    for i in range(n):
        n_labels = max(n_labels, label[i] + 1)
    cid = np.full(n_labels, -1, dtype=np.int64)
    for j in range(rest.shape[0]):
        cid[comp[j]] = 0
    nc = 0
    for g in range(n_labels):
        if cid[g] == 0:
            cid[g] = nc
            nc += 1
    branch_ptr = np.zeros(nc + 1, dtype=np.int64)
    for j in range(rest.shape[0]):
        branch_ptr[cid[comp[j]] + 1] += 1
    node_ptr = np.zeros(nc + 1, dtype=np.int64)
    for i in range(1, n):
        if cid[label[i]] >= 0:
            node_ptr[cid[label[i]] + 1] += 1
    for c in range(nc):
        branch_ptr[c + 1] += branch_ptr[c]
        node_ptr[c + 1] += node_ptr[c]
    branches = np.empty(rest.shape[0], dtype=np.int64)
    fill = branch_ptr[:nc].copy()
    for j in range(rest.shape[0]):
        c = cid[comp[j]]
        branches[fill[c]] = rest[j]
        fill[c] += 1
    nodes = np.empty(node_ptr[nc], dtype=np.int64)
    local = np.full(n, -1, dtype=np.int64)
    fill = node_ptr[:nc].copy()
    for i in range(1, n):
        c = cid[label[i]]
        if c >= 0:
            local[i] = fill[c] - node_ptr[c]
            nodes[fill[c]] = i
            fill[c] += 1
    bmat_ptr = np.zeros(nc + 1, dtype=np.int64)
    for c in range(nc):
        rows = node_ptr[c + 1] - node_ptr[c]
        cols = branch_ptr[c + 1] - branch_ptr[c]
        bmat_ptr[c + 1] = bmat_ptr[c] + rows * cols
    bmat = np.zeros(bmat_ptr[nc])
    for c in range(nc):
        cols = branch_ptr[c + 1] - branch_ptr[c]
        for j in range(cols):
            t = branches[branch_ptr[c] + j]
            if local[ua[t]] >= 0:
                bmat[bmat_ptr[c] + local[ua[t]] * cols + j] = -1.0
            if local[ub[t]] >= 0:
                bmat[bmat_ptr[c] + local[ub[t]] * cols + j] += 1.0
    return branches, branch_ptr, nodes, node_ptr, bmat, bmat_ptr


@njit(cache=True)
def _dijkstra(n_vertices, head, nxt, to, wt, source):  # pragma: no cover - compiled
    """Shortest distances from ``source`` (weights ≥ 0) over adjacency lists given as
    linked lists (``head[a]`` → edge, ``nxt[e]`` → next edge of the same tail), each
    list in the order the edges were added; the heap breaks ties by vertex."""
    dist = np.full(n_vertices, np.inf)
    dist[source] = 0.0
    heap = [(0.0, source)]
    while len(heap):
        dd, a = heapq.heappop(heap)
        if dd > dist[a]:
            continue
        e = head[a]
        while e >= 0:
            nd = dd + wt[e]
            b = to[e]
            if nd < dist[b]:
                dist[b] = nd
                heapq.heappush(heap, (nd, b))
            e = nxt[e]
    return dist


@kernel(INT, I64, I64, F64, B1)
def shift_ranges(k, x, y, slack, on):  # pragma: no cover - compiled
    """Largest and smallest shift of each of ``k`` islands (``resbench.islands.analyse``):
    shortest paths from vertex 0 (everything joined to ground) in the graph of the
    constraints ``t_x − t_y ≤ slack`` of each diode joining two different groups
    (anode group x, cathode group y; ``= 0`` when ``on``), and in its reverse.
    Returns ``(high, low)``, one entry per island."""
    m = 0
    for d in range(x.shape[0]):
        if x[d] != y[d]:
            m += 2 if on[d] else 1
    tail = np.empty(m, dtype=np.int64)
    to = np.empty(m, dtype=np.int64)
    wt = np.empty(m)
    e = 0
    for d in range(x.shape[0]):
        if x[d] == y[d]:
            continue
        tail[e], to[e], wt[e] = y[d], x[d], 0.0 if on[d] else slack[d]  # t_x ≤ t_y + s
        e += 1
        if on[d]:
            tail[e], to[e], wt[e] = x[d], y[d], 0.0  # t_x ≥ t_y
            e += 1
    dists = []
    for reverse in (False, True):
        head = np.full(k + 1, -1, dtype=np.int64)
        nxt = np.full(m, -1, dtype=np.int64)
        last = np.full(k + 1, -1, dtype=np.int64)
        for e in range(m):  # append, keeping each list in edge order
            a = to[e] if reverse else tail[e]
            if last[a] < 0:
                head[a] = e
            else:
                nxt[last[a]] = e
            last[a] = e
        dst = tail if reverse else to
        dists.append(_dijkstra(k + 1, head, nxt, dst, wt, 0))
    return dists[0][1:], -dists[1][1:]
