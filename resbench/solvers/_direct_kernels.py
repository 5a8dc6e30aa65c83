"""numba kernels of the direct finish (resbench.solvers.direct): no I/O, ``cache=True``.

Private: the caller validates inputs.  CSR offsets int64, node indices int32, values
float64, as in resbench.solvers._kernels.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from resbench._jit import F64, FLOAT, I32, I64, INT, kernel

BOOL_1D = types.boolean[::1]  # a mask, as numpy's comparisons make it


@njit(cache=True, inline="always")
def _off_diagonal_degrees(ptr, idx):  # pragma: no cover - compiled
    """Each row's entry count without the diagonal (CSR, symmetric pattern; the
    diagonal may or may not be stored)."""
    n = ptr.shape[0] - 1
    deg = np.zeros(n, dtype=np.int64)
    for i in range(n):
        for q in range(ptr[i], ptr[i + 1]):
            if idx[q] != i:
                deg[i] += 1
    return deg


@njit(cache=True, inline="always")
def _sort_row(idx, val, start, stop):  # pragma: no cover - compiled
    """Sort one CSR row's entries ``start:stop`` by column, values alongside: insertion
    sort (rows are short), np.argsort for a long row (a hub's)."""
    if stop - start > 32:
        order = np.argsort(idx[start:stop])
        idx[start:stop] = idx[start:stop][order]
        val[start:stop] = val[start:stop][order]
        return
    for a in range(start + 1, stop):
        ki = idx[a]
        kv = val[a]
        b = a - 1
        while b >= start and idx[b] > ki:
            idx[b + 1] = idx[b]
            val[b + 1] = val[b]
            b -= 1
        idx[b + 1] = ki
        val[b + 1] = kv


@kernel(I64, I32, F64, F64, F64, F64, I64)
def reduced_system(indptr, indices, data, diag, c, u, pos):  # pragma: no cover - compiled
    """The reduced system of the free nodes in one pass over the free–free CSR.

    ``pos[i]``: node i's index among the free nodes, or −1 when it is held (at u_i).
    Returns ``(ptr, idx, val, rhs)``: L_FF = diag(d_F) − G_FF with both triangles
    and the diagonal, rows sorted by column and parallel edges summed (symmetric, so the
    same arrays are its CSC form), and rhs = c_F + G_FA u_A (the held neighbours' pull).
    """
    n = indptr.shape[0] - 1
    m = 0
    nnz = 0
    for i in range(n):
        if pos[i] >= 0:
            m += 1
            nnz += 1
            for k in range(indptr[i], indptr[i + 1]):
                if pos[indices[k]] >= 0:
                    nnz += 1
    ptr = np.zeros(m + 1, dtype=np.int64)
    idx = np.empty(nnz, dtype=np.int32)
    val = np.empty(nnz)
    rhs = np.empty(m)
    q = 0
    for i in range(n):
        r = pos[i]
        if r < 0:
            continue
        start = q
        s = c[i]
        idx[q] = r
        val[q] = diag[i]
        q += 1
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if pos[j] >= 0:
                idx[q] = pos[j]
                val[q] = -data[k]
                q += 1
            else:
                s += data[k] * u[j]
        rhs[r] = s
        _sort_row(idx, val, start, q)
        # parallel resistors: one entry per column (the factorisations need no duplicates)
        w = start
        for a in range(start + 1, q):
            if idx[a] == idx[w]:
                val[w] += val[a]
            else:
                w += 1
                idx[w] = idx[a]
                val[w] = val[a]
        q = w + 1
        ptr[r + 1] = q
    return ptr, idx[:q].copy(), val[:q].copy(), rhs


ND_WINDOW = 0.35  # nested_dissection cuts at the smallest level between this share of
# a part's nodes and 1 − it (the middle level only: 18 % more flops on a 300×300 mesh,
# 3.57e8 vs 2.91e8; windows of 0.25 / 0.3 / 0.4 gave 3.15e8 / 3.12e8 / 3.27e8)
ND_MEASURE_MIN = 4096  # parts from which a split's |S|²/|part| counts towards ``worst``:
# the window's unbalanced cuts leave 1–2.5k-node parts of odd shape whose cuts reach
# ~1.2 √part on a 250×250 mesh (|S|²/|part| 1.43; 0.79 from 4096 up, 0.94 on the
# 300×300 clamped grid), a matter of shape, not of a graph that is no mesh (the
# ibmpg1-sized 3-layer power grid: 3.15, so it still gives up there)


@kernel(I64, I32, I32, INT, INT, INT, I32, I32)
def _search(ptr, idx, label, cur, new, root, queue, lev):  # pragma: no cover - compiled
    """Breadth-first search from ``root`` over the nodes labelled ``cur``, relabelling
    each node reached ``new`` (so no separate visited mark) and recording its level;
    ``queue`` receives the nodes in order of level.  Returns how many were reached."""
    label[root] = new
    lev[root] = 0
    queue[0] = root
    head = 0
    tail = 1
    while head < tail:
        v = queue[head]
        head += 1
        nxt = lev[v] + 1
        for q in range(ptr[v], ptr[v + 1]):
            w = idx[q]
            if label[w] == cur:
                label[w] = new
                lev[w] = nxt
                queue[tail] = w
                tail += 1
    return tail


@kernel(I64, I32, INT, FLOAT)
def nested_dissection(ptr, idx, leaf, give_up):  # pragma: no cover - compiled
    """A fill-reducing elimination order by nested dissection with level-set separators.

    ``ptr``/``idx``: a symmetric sparsity pattern in CSR (the diagonal may be stored).
    Returns ``(perm, worst)``: ``perm[k]`` (int64) is the node eliminated k-th;
    ``worst`` the largest |S|² / |part| over the splits of parts of ≥
    :data:`ND_MEASURE_MIN` nodes (about 1 on 2-D meshes, whose separators are ~√n;
    larger where the levels are poor cuts).
    It stops, ``perm`` unfinished, as soon as ``worst`` exceeds ``give_up`` (the caller
    then uses another order: on the 3-layer power grids the upper layers' long wires
    make the levels thick cuts, and AMD's order costs fewer flops).

    Each connected part of more than ``leaf`` nodes is split by a level of a
    breadth-first search (the smallest among those with between :data:`ND_WINDOW` and
    1 − ND_WINDOW of the part's nodes before them, the middle one when no other is
    smaller): from a pseudo-peripheral node for the whole graph (two
    searches: from any node, then from the last node reached), from an end of the
    parent's cut for a part split off (one search, so the next cut runs across the
    last).  The nodes of that level with a neighbour in the next level are the
    separator (the others join the first half) and are eliminated after both halves,
    which are split in turn; a disconnected part is split into its components.  On
    2-D meshes the levels are short cuts and the factor's flops are below those of
    METIS's order (2.9e8 vs 3.5e8 on the 300×300 clamped grid's reduced matrix, 3.6e8
    with the middle level always; AMD's 4.6e8); about one search of the graph per
    level of the dissection.
    """
    n = ptr.shape[0] - 1
    nodes = np.arange(n).astype(np.int32)
    perm = np.empty(n, dtype=np.int64)
    label = np.zeros(n, dtype=np.int32)  # the part (or search) a node belongs to; −1: ordered
    lev = np.zeros(n, dtype=np.int32)
    queue = np.empty(n, dtype=np.int32)
    scratch = np.empty(n, dtype=np.int32)
    sep = np.empty(n, dtype=np.int32)
    st_a = np.empty(n + 1, dtype=np.int64)
    st_b = np.empty(n + 1, dtype=np.int64)
    st_id = np.empty(n + 1, dtype=np.int64)
    st_root = np.empty(n + 1, dtype=np.int64)  # where to search from; −1: find out
    top = 0
    if n > 0:
        st_a[0] = 0
        st_b[0] = n
        st_id[0] = 0
        st_root[0] = -1
        top = 1
    next_id = 1
    worst = 0.0
    while top > 0:
        top -= 1
        a = st_a[top]
        b = st_b[top]
        pid = st_id[top]
        given = st_root[top]
        s = b - a
        if s <= leaf:
            # an independent set of the leaf first (a node is taken unless a neighbour
            # in the leaf was), then the others, each in the leaf's order: the taken
            # nodes are then eliminated before all their neighbours (leaf nodes or later
            # separators), which factorize_ordered's Schur step relies on
            k = a
            for t in range(a, b):
                v = nodes[t]
                take = True
                for q in range(ptr[v], ptr[v + 1]):
                    if label[idx[q]] == -2:
                        take = False
                        break
                if take:
                    label[v] = -2
                    perm[k] = v
                    k += 1
            for t in range(a, b):
                v = nodes[t]
                if label[v] != -2:
                    perm[k] = v
                    k += 1
            for t in range(a, b):
                label[nodes[t]] = -1
            continue
        root = nodes[a] if given < 0 else given
        sid = next_id
        next_id += 1
        tail = _search(ptr, idx, label, pid, sid, root, queue, lev)
        if tail < s:
            # disconnected: one part per component (each search labels one), grouped
            # contiguously by a counting sort
            first = sid
            for t in range(a, b):
                if label[nodes[t]] == pid:
                    _search(ptr, idx, label, pid, next_id, nodes[t], queue, lev)
                    next_id += 1
            ncomp = next_id - first
            starts = np.zeros(ncomp + 1, dtype=np.int64)
            for t in range(a, b):
                starts[label[nodes[t]] - first + 1] += 1
            for k in range(ncomp):
                starts[k + 1] += starts[k]
            fill = starts[:ncomp].copy()
            for t in range(a, b):
                v = nodes[t]
                c = label[v] - first
                scratch[a + fill[c]] = v
                fill[c] += 1
            for t in range(a, b):
                nodes[t] = scratch[t]
            for k in range(ncomp):
                st_a[top] = a + starts[k]
                st_b[top] = a + starts[k + 1]
                st_id[top] = first + k
                st_root[top] = -1
                top += 1
            continue
        if given < 0:
            # pseudo-peripheral node: search again from the last node reached
            root = queue[tail - 1]
            pid = sid
            sid = next_id
            next_id += 1
            _search(ptr, idx, label, pid, sid, root, queue, lev)
        depth = lev[queue[s - 1]]
        if depth < 2:  # (nearly) a clique: nothing to dissect
            for t in range(a, b):
                perm[t] = nodes[t]
                label[nodes[t]] = -1
            continue
        # the cut level: the middle one (where the count of nodes reached passes
        # half), or a smaller level among those with between ND_WINDOW·s and
        # (1 − ND_WINDOW)·s nodes before them (the first smallest; the level's size
        # stands for its cut, which is a part of it)
        k = lev[queue[(s - 1) // 2]]
        k = min(max(k, 1), depth - 1)
        t_lo = int(ND_WINDOW * s)
        l_lo = max(lev[queue[t_lo]], 1)
        l_hi = min(lev[queue[min(s - 1, int((1.0 - ND_WINDOW) * s))]], depth - 1)
        if l_hi > l_lo:
            size = np.zeros(l_hi - l_lo + 1, dtype=np.int64)
            t = t_lo
            while t > 0 and lev[queue[t - 1]] >= l_lo:
                t -= 1
            while t < s and lev[queue[t]] <= l_hi:
                lv = lev[queue[t]]
                if lv >= l_lo:
                    size[lv - l_lo] += 1
                t += 1
            best = size[k - l_lo]
            for lv in range(l_lo, l_hi + 1):
                if size[lv - l_lo] < best:
                    best = size[lv - l_lo]
                    k = lv
        # parts: A = levels < k and the level-k nodes without a neighbour in level k+1,
        # B = levels > k, S = the rest of level k (queue holds the nodes by level);
        # the children search from the first node of levels k−1 and k+1 (an end of
        # the cut: the level's nodes are in the order the search met them)
        na = 0
        nb = 0
        ns = 0
        start_a = -1
        start_b = -1
        for t in range(s):
            v = queue[t]
            lv = lev[v]
            if lv < k:
                if lv == k - 1 and start_a < 0:
                    start_a = v
                nodes[a + na] = v
                na += 1
            elif lv > k:
                if start_b < 0:
                    start_b = v
                scratch[nb] = v
                nb += 1
            else:
                cut = False
                for q in range(ptr[v], ptr[v + 1]):
                    w = idx[q]
                    if label[w] == sid and lev[w] == k + 1:
                        cut = True
                        break
                if cut:
                    sep[ns] = v
                    ns += 1
                else:
                    nodes[a + na] = v
                    na += 1
        if s >= ND_MEASURE_MIN:
            worst = max(worst, ns * ns / s)
            if worst > give_up:
                return perm, worst
        for t in range(nb):
            nodes[a + na + t] = scratch[t]
        for t in range(ns):
            v = sep[t]
            nodes[a + na + nb + t] = v
            perm[a + na + nb + t] = v
            label[v] = -1
        for t in range(a, a + na):
            label[nodes[t]] = next_id
        st_a[top] = a
        st_b[top] = a + na
        st_id[top] = next_id
        st_root[top] = start_a
        top += 1
        next_id += 1
        for t in range(a + na, a + na + nb):
            label[nodes[t]] = next_id
        st_a[top] = a + na
        st_b[top] = a + na + nb
        st_id[top] = next_id
        st_root[top] = start_b
        top += 1
        next_id += 1
    return perm, worst


@kernel(I64, I32, F64, I64)
def permute_symmetric(ptr, idx, val, perm):  # pragma: no cover - compiled
    """P M Pᵀ of a symmetric matrix in CSC/CSR (both triangles): column j of the result
    is column ``perm[j]`` of M with rows renumbered, sorted by row."""
    n = ptr.shape[0] - 1
    inv = np.empty(n, dtype=np.int64)
    for j in range(n):
        inv[perm[j]] = j
    optr = np.zeros(n + 1, dtype=np.int64)
    oidx = np.empty(idx.shape[0], dtype=np.int32)
    oval = np.empty(idx.shape[0])
    q = 0
    for j in range(n):
        src = perm[j]
        start = q
        for p in range(ptr[src], ptr[src + 1]):
            oidx[q] = inv[idx[p]]
            oval[q] = val[p]
            q += 1
        _sort_row(oidx, oval, start, q)
        optr[j + 1] = q
    return optr, oidx, oval


@kernel(I64, I32, INT)
def pseudo_depth(ptr, idx, limit):  # pragma: no cover - compiled
    """The depth of a breadth-first search of a graph (CSR, symmetric pattern) from a
    pseudo-peripheral node: search from node 0, then from the last node reached, and
    return the second search's deepest level (0 for an empty or one-node graph), or
    ``limit`` + 1 as soon as either search reaches a level past ``limit`` (the caller
    only asks whether the depth exceeds it: on a deep graph half a search).  Without
    the limit, a lower bound on the diameter of node 0's component, within a factor
    of 2 of it; at most two passes over the edges."""
    n = ptr.shape[0] - 1
    if n == 0:
        return 0
    lev = np.empty(n, dtype=np.int32)
    queue = np.empty(n, dtype=np.int32)
    root = 0
    depth = 0
    for _ in range(2):
        lev[:] = -1
        lev[root] = 0
        queue[0] = root
        head = 0
        tail = 1
        while head < tail:
            v = queue[head]
            head += 1
            nxt = lev[v] + 1
            for q in range(ptr[v], ptr[v + 1]):
                w = idx[q]
                if lev[w] < 0:
                    if nxt > limit:
                        return limit + 1
                    lev[w] = nxt
                    queue[tail] = w
                    tail += 1
        root = queue[tail - 1]
        depth = lev[root]
    return depth


@kernel(I64, I32, INT)
def independent_set(ptr, idx, max_degree):  # pragma: no cover - compiled
    """A maximal independent set of the nodes of degree ≤ ``max_degree`` (CSR,
    symmetric pattern; the diagonal, when stored, is not counted), chosen greedily by
    increasing degree, ties by index (a counting sort: deterministic).  Returns a
    boolean mask.  Eliminated first, no two of them touch, so their pivots are their
    own diagonal entries and each makes only its neighbours a clique
    (:func:`schur_independent`)."""
    n = ptr.shape[0] - 1
    deg = _off_diagonal_degrees(ptr, idx)
    start = np.zeros(max_degree + 2, dtype=np.int64)
    for i in range(n):
        if deg[i] <= max_degree:
            start[deg[i] + 1] += 1
    for d in range(max_degree + 1):
        start[d + 1] += start[d]
    order = np.empty(start[max_degree + 1], dtype=np.int64)
    for i in range(n):
        if deg[i] <= max_degree:
            order[start[deg[i]]] = i
            start[deg[i]] += 1
    state = np.zeros(n, dtype=np.int8)  # 0 open, 1 chosen, 2 next to a chosen node
    for t in range(order.shape[0]):
        i = order[t]
        if state[i] == 0:
            state[i] = 1
            for q in range(ptr[i], ptr[i + 1]):
                j = idx[q]
                if j != i:
                    state[j] = 2
    return state == 1


@kernel(I64, I32, F64, BOOL_1D)
def schur_independent(ptr, idx, val, inset):  # pragma: no cover - compiled
    """The Schur complement S = M_BB − M_BI D_I⁻¹ M_IB of an SPD matrix M (CSR, both
    triangles, the diagonal stored) on the nodes B outside the independent set I
    (``inset``): D_I is diagonal, I being independent.  Returns ``(ptr, idx, val,
    bnodes, inodes, d_i)``: S with both triangles, rows sorted by column (symmetric:
    the same arrays are its CSC form), B's and I's nodes in increasing order, and
    I's pivots (their diagonal entries; a pivot ≤ 0 is returned as it is, for the
    caller to reject)."""
    n = ptr.shape[0] - 1
    pos = np.empty(n, dtype=np.int64)  # a node's index among B, or among I
    nb = 0
    ni = 0
    for i in range(n):
        if inset[i]:
            pos[i] = ni
            ni += 1
        else:
            pos[i] = nb
            nb += 1
    bnodes = np.empty(nb, dtype=np.int64)
    inodes = np.empty(ni, dtype=np.int64)
    d_i = np.zeros(ni)
    for i in range(n):
        if inset[i]:
            inodes[pos[i]] = i
            for q in range(ptr[i], ptr[i + 1]):
                if idx[q] == i:
                    d_i[pos[i]] += val[q]
        else:
            bnodes[pos[i]] = i
    # upper bound of S's entries: a row's B entries plus, per I neighbour, its entries
    cap = 0
    for t in range(nb):
        i = bnodes[t]
        for q in range(ptr[i], ptr[i + 1]):
            k = idx[q]
            if inset[k]:
                cap += ptr[k + 1] - ptr[k]
            else:
                cap += 1
    sptr = np.zeros(nb + 1, dtype=np.int64)
    sidx = np.empty(cap, dtype=np.int32)
    sval = np.empty(cap)
    acc = np.zeros(nb)
    mark = np.full(nb, -1, dtype=np.int64)
    w = 0
    for t in range(nb):
        i = bnodes[t]
        start = w
        for q in range(ptr[i], ptr[i + 1]):
            k = idx[q]
            if not inset[k]:
                c = pos[k]
                if mark[c] != t:
                    mark[c] = t
                    acc[c] = 0.0
                    sidx[w] = c
                    w += 1
                acc[c] += val[q]
            else:
                f = val[q] / d_i[pos[k]]
                for r in range(ptr[k], ptr[k + 1]):
                    j = idx[r]
                    if j == k:
                        continue
                    c = pos[j]
                    if mark[c] != t:
                        mark[c] = t
                        acc[c] = 0.0
                        sidx[w] = c
                        w += 1
                    acc[c] -= f * val[r]
        for a in range(start, w):
            sval[a] = acc[sidx[a]]
        _sort_row(sidx, sval, start, w)
        sptr[t + 1] = w
    return sptr, sidx[:w].copy(), sval[:w].copy(), bnodes, inodes, d_i


@kernel(I64, I32, F64, I64, I64, F64, F64)
def schur_rhs(ptr, idx, val, bnodes, pos_i, d_i, b):  # pragma: no cover - compiled
    """The right-hand side of the Schur system: b_B − M_BI D_I⁻¹ b_I, for ``b`` in the
    order (B, I) of :func:`schur_independent` (``pos_i[k]``: node k's index among I,
    −1 for a node of B)."""
    nb = bnodes.shape[0]
    out = np.empty(nb)
    for t in range(nb):
        i = bnodes[t]
        s = b[t]
        for q in range(ptr[i], ptr[i + 1]):
            k = idx[q]
            c = pos_i[k]
            if c >= 0:
                s -= val[q] * (b[nb + c] / d_i[c])
        out[t] = s
    return out


@kernel(I64, I32, F64, I64, I64, F64, F64, F64)
def schur_back(ptr, idx, val, inodes, pos_b, d_i, b, x_b):  # pragma: no cover - compiled
    """The whole solution in the order (B, I) from the Schur system's solution ``x_b``:
    x_I = D_I⁻¹ (b_I − M_IB x_B) (``pos_b[j]``: node j's index among B, −1 for I)."""
    nb = x_b.shape[0]
    ni = inodes.shape[0]
    out = np.empty(nb + ni)
    out[:nb] = x_b
    for c in range(ni):
        k = inodes[c]
        s = b[nb + c]
        for q in range(ptr[k], ptr[k + 1]):
            j = pos_b[idx[q]]
            if j >= 0 and idx[q] != k:
                s -= val[q] * x_b[j]
        out[nb + c] = s / d_i[c]
    return out


@kernel(I64, I32, I64, INT)
def order_minima(ptr, idx, perm, max_degree):  # pragma: no cover - compiled
    """The nodes of degree ≤ ``max_degree`` that come before all their neighbours in the
    elimination order ``perm`` (an independent set).  Eliminating them first, then the
    others in ``perm``'s order, makes exactly the fill of ``perm``: such a node has
    gained no fill edge when its turn comes (only an earlier neighbour could have made
    one), and the graph left after eliminating a set does not depend on the order
    within it."""
    n = ptr.shape[0] - 1
    rank = np.empty(n, dtype=np.int64)
    for k in range(n):
        rank[perm[k]] = k
    out = np.zeros(n, dtype=np.bool_)
    for v in range(n):
        deg = 0
        first = True
        for q in range(ptr[v], ptr[v + 1]):
            w = idx[q]
            if w != v:
                deg += 1
                if rank[w] < rank[v]:
                    first = False
                    break
        out[v] = first and deg <= max_degree
    return out


@kernel(I64, I32)
def core_front_cube(ptr, idx):  # pragma: no cover - compiled
    """Σ over the connected components of the graph's 2-core (CSR, symmetric pattern;
    the diagonal, when stored, is not counted) of (size / depth)³, depth that of a
    breadth-first search from a pseudo-peripheral node of the component (as
    :func:`pseudo_depth`, at least 1).  size / depth is a component's mean level width:
    a level is a separator, so a front of about that many nodes is dense in any
    elimination order, and (size / depth)³ / 3 is a lower estimate of the flops of its
    factorisation — large on shallow, well-connected graphs (random networks: depth
    ~log n), small on meshes and power grids (depth ~√n).  The 2-core (what is left
    after repeatedly removing nodes of at most one neighbour) leaves out trees, stars
    and the trees hanging off a graph, which eliminate without fill whatever their
    depth.  At most four passes over the edges: one for the degrees, one for the
    peeling, two searches."""
    n = ptr.shape[0] - 1
    deg = _off_diagonal_degrees(ptr, idx)
    gone = np.zeros(n, dtype=np.bool_)
    stack = np.empty(n, dtype=np.int32)
    top = 0
    for i in range(n):
        if deg[i] <= 1:
            gone[i] = True
            stack[top] = i
            top += 1
    while top > 0:
        top -= 1
        v = stack[top]
        for q in range(ptr[v], ptr[v + 1]):
            w = idx[q]
            if not gone[w]:
                deg[w] -= 1
                if deg[w] <= 1:
                    gone[w] = True
                    stack[top] = w
                    top += 1
    label = np.full(n, -1, dtype=np.int32)  # -1: not searched yet, -2: peeled off
    for i in range(n):
        if gone[i]:
            label[i] = -2
    lev = np.zeros(n, dtype=np.int32)
    queue = np.empty(n, dtype=np.int32)
    total = 0.0
    stamp = 0
    for s in range(n):
        if label[s] != -1:
            continue
        # node s, then again over the same component from the last node reached
        size = _search(ptr, idx, label, -1, stamp, s, queue, lev)
        root = queue[size - 1]
        _search(ptr, idx, label, stamp, stamp + 1, root, queue, lev)
        stamp += 2
        depth = lev[queue[size - 1]]
        width = size / max(depth, 1)
        total += width * width * width
    return total
