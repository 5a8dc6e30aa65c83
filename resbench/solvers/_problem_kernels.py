"""numba kernels of the setup (:func:`resbench.solvers.problem.compile_problem`).

Private: the caller validates inputs.  Each kernel fuses what used to be a chain of
numpy passes (fancy indexing, ``np.where``, ``astype``, ``cumsum``) or two kernel
passes over the same arrays into one loop, and builds the free–free CSR directly in
sweep colour order instead of building it in supernode order and permuting it.  The
arrays they return are the ones the earlier multi-pass code returned, bit for bit
(same floating-point operations in the same order): ``tests/test_problem_setup.py``
compares them against that code on random circuits and grids.

On a 1M-resistor grid the passes are memory bound, so the saving is in the bytes not
moved: no full CSR in supernode order that is then copied in colour order, no int64
intermediate arrays, no boolean masks.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from resbench._jit import BOOL, F64, I32, I64, INT, U8, kernel

# scales() flags: the fast path found nothing to report; else the caller reruns the
# numpy code, which raises the error with its message
SCALES_OK = 0
SCALES_CHECK = 1


@kernel(I64, INT)
def number_supernodes(root, n_nodes):  # pragma: no cover - compiled
    """Free supernode numbers from the union–find roots (ground's root 0 is fixed).

    Roots other than 0 get 0, 1, … in increasing node order; every node takes its
    root's number (−1 for the nodes tied to ground).  Returns (supernode int32, n).
    """
    number = np.full(n_nodes, -1, dtype=np.int32)
    n = 0
    for k in range(1, n_nodes):
        if root[k] == k:
            number[k] = n
            n += 1
    supernode = np.empty(n_nodes, dtype=np.int32)
    for k in range(n_nodes):
        supernode[k] = number[root[k]]
    return supernode, n


@njit(cache=True)
def _find(parent, x):  # pragma: no cover - compiled
    """Root of x with path halving."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@kernel(I32, I32, F64, I32, F64, INT)
def build_problem_arrays(ra, rb, ohms, supernode, offset, n):  # pragma: no cover - compiled
    """Fold the resistors and build the free–free CSR in sweep colour order.

    Equivalent to ``_kernels.fold_resistors`` + ``fill_csr`` + ``greedy_colors`` +
    ``colour_order`` + ``permute_csr`` and the renumbering of ``diag``, ``c`` and
    ``supernode`` (the same arrays, bit for bit), in fewer passes and fewer bytes:

    1. a light pass over the resistors counts each supernode's free–free edges and
       lists each free–free edge at its higher-numbered end (linked lists: a half
       adjacency, in supernode order);
    2. the greedy colouring visits the supernodes in order and gives each the
       smallest colour none of its lower-numbered neighbours has, which is what
       ``greedy_colors`` computes from the full CSR (a node's higher neighbours are
       still uncoloured when it is visited); the same loop joins each node to its
       lower neighbours in a union–find (the connected components, for the islands);
    3. a stable counting sort by colour (``colour_order``) gives the rank of each
       supernode in colour order, and the supernodes are renumbered by it;
    4. one pass over the resistors, in the new numbering, folds fixed-node edges into
       ``diag``/``c`` (the operations of ``fold_resistors``, in the same order: each
       node's sums see the same terms in the same order whatever its number) and
       writes the free–free edges into the CSR rows, which therefore keep the
       resistor order as ``fill_csr`` + ``permute_csr`` did; it also marks the
       supernodes with an edge to a fixed node.

    Returns ``(supernode, indptr, indices, data, diag, c, held, parent, rank)``:
    ``supernode`` renumbered in colour order; ``held[k]`` is 1 when supernode k has a
    resistor to a fixed node; ``parent`` the union–find forest over the supernodes in
    their *first* numbering and ``rank[i]`` the new number of first number i (for
    :func:`all_grounded`).
    """
    m = ra.shape[0]
    deg = np.zeros(n, dtype=np.int32)
    head = np.full(n, -1, dtype=np.int32)  # last free–free edge listed at each node
    low = np.empty(m, dtype=np.int32)  # per listed edge: its lower end
    nxt = np.empty(m, dtype=np.int32)  # per listed edge: the one listed before it
    mff = 0
    for e in range(m):  # 1. count the free–free edges, list each at its higher end
        if ohms[e] <= 0.0:
            continue
        i = supernode[ra[e]]
        j = supernode[rb[e]]
        if i < 0 or j < 0 or i == j:
            continue
        deg[i] += 1
        deg[j] += 1
        hi = max(i, j)
        low[mff] = min(i, j)
        nxt[mff] = head[hi]
        head[hi] = mff
        mff += 1

    # 2. greedy colours + union–find over the same lists (the order within a list
    # matters to neither: a colour is the smallest one absent from a set)
    color = np.empty(n, dtype=np.int32)
    mark = np.full(n + 1, -1, dtype=np.int32)
    parent = np.empty(n, dtype=np.int32)
    ncol = 0
    for i in range(n):
        parent[i] = i
        q = head[i]
        while q >= 0:
            j = low[q]
            mark[color[j]] = i
            rj = _find(parent, j)
            ri = _find(parent, i)
            if ri != rj:
                if ri < rj:
                    parent[rj] = ri
                else:
                    parent[ri] = rj
            q = nxt[q]
        cnew = 0
        while mark[cnew] == i:
            cnew += 1
        color[i] = cnew
        if cnew + 1 > ncol:
            ncol = cnew + 1

    # 3. stable counting sort by colour: rank[i] = place of supernode i (in place of
    # its colour); the row pointers start as each new row's start, shifted by one
    first = np.zeros(ncol + 1, dtype=np.int64)
    for i in range(n):
        first[color[i] + 1] += 1
    for col in range(ncol):
        first[col + 1] += first[col]
    rank = color
    for i in range(n):
        col = color[i]
        k = first[col]
        first[col] = k + 1
        rank[i] = k
    row_len = np.empty(n, dtype=np.int32)
    for i in range(n):
        row_len[rank[i]] = deg[i]
    indptr = np.empty(n + 1, dtype=np.int64)
    indptr[0] = 0
    acc = 0
    for k in range(n):
        indptr[k + 1] = acc  # row k is filled from here; ends at its final value
        acc += row_len[k]
    new_sn = np.empty(supernode.shape[0], dtype=np.int32)
    for k in range(supernode.shape[0]):
        s = supernode[k]
        new_sn[k] = rank[s] if s >= 0 else -1

    # 4. fold (as _kernels.fold_resistors) and fill the CSR in the new numbering
    diag = np.zeros(n)
    c = np.zeros(n)
    held = np.zeros(n, dtype=np.uint8)
    indices = np.empty(acc, dtype=np.int32)
    data = np.empty(acc)
    for e in range(m):
        r = ohms[e]
        if r <= 0.0:
            continue
        a = ra[e]
        b = rb[e]
        i = new_sn[a]
        j = new_sn[b]
        if i == j:
            continue
        ge = 1.0 / r
        if i >= 0 and j >= 0:
            diag[i] += ge
            diag[j] += ge
            d = offset[b] - offset[a]
            c[i] += ge * d
            c[j] -= ge * d
            p = indptr[i + 1]
            indices[p] = j
            data[p] = ge
            indptr[i + 1] = p + 1
            p = indptr[j + 1]
            indices[p] = i
            data[p] = ge
            indptr[j + 1] = p + 1
        elif i >= 0:
            diag[i] += ge
            c[i] += ge * (offset[b] - offset[a])
            held[i] = 1
        elif j >= 0:
            diag[j] += ge
            c[j] += ge * (offset[a] - offset[b])
            held[j] = 1
    return new_sn, indptr, indices, data, diag, c, held, parent, rank


@kernel(F64, I64, F64, U8, BOOL, I32, I32, F64, F64)
def all_grounded(
    diag, indptr, data, held, leak, parent, rank, round_off, tiny
):  # pragma: no cover - compiled
    """True when every connected group of free supernodes has a conductance to a fixed
    voltage: a member k with ``diag_k − Σ_row data > round_off · max(diag_k, tiny)``,
    the test of ``problem._islands`` with its arithmetic (the row sum added in row
    order from 0, as ``_kernels.row_sums``).

    The row sum is formed only where it can differ from ``diag_k``: at supernodes with
    a resistor to a fixed node (``held``), or everywhere when a ``gmin`` leak was
    added (``leak``).  Elsewhere ``diag_k`` is the same conductances added in the same
    (resistor) order as the row, so the difference is exactly 0 (or NaN): not held.
    ``parent``/``rank`` as returned by :func:`build_problem_arrays`.
    """
    n = diag.shape[0]
    ok = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        k = rank[i]
        if not (leak or held[k]):
            continue
        s = 0.0
        for p in range(indptr[k], indptr[k + 1]):
            s += data[p]
        d = diag[k]
        if d - s > round_off * np.maximum(d, tiny):
            ok[_find(parent, i)] = True
    for i in range(n):
        if not ok[_find(parent, i)]:
            return False
    return True


@kernel(F64, F64, I32, F64, F64, F64)
def scales(diag, c, supernode, offset, vsrc, max_scale):  # pragma: no cover - compiled
    """The maxima of ``problem._scales`` in one pass, or a flag to rerun it.

    Returns ``(flag, fixed, local, dmax, cmax, vmax)``: the largest |offset| of a fixed
    node, |c_i| / diag_i over diag_i > 0, diag_i, |c_i| and |source value|.  ``flag`` is
    SCALES_CHECK when a value is not finite or a ratio exceeds ``max_scale``: the numpy
    code then runs and raises its error (maxima are exact, so the order of the
    comparisons does not change them).
    """
    fixed = 0.0
    for k in range(supernode.shape[0]):
        if supernode[k] < 0:
            x = abs(offset[k])
            if not x <= max_scale:
                return SCALES_CHECK, 0.0, 0.0, 0.0, 0.0, 0.0
            if x > fixed:
                fixed = x
    vmax = 0.0
    for k in range(vsrc.shape[0]):
        x = abs(vsrc[k])
        if not x <= max_scale:
            return SCALES_CHECK, 0.0, 0.0, 0.0, 0.0, 0.0
        if x > vmax:
            vmax = x
    local = 0.0
    dmax = 0.0
    cmax = 0.0
    for i in range(diag.shape[0]):
        d = diag[i]
        ci = c[i]
        if not (np.isfinite(d) and np.isfinite(ci)):
            return SCALES_CHECK, 0.0, 0.0, 0.0, 0.0, 0.0
        a = abs(ci)
        if d > 0.0:
            x = a / d
            if not x <= max_scale:
                return SCALES_CHECK, 0.0, 0.0, 0.0, 0.0, 0.0
            if x > local:
                local = x
        if d > dmax:
            dmax = d
        if a > cmax:
            cmax = a
    return SCALES_OK, fixed, local, dmax, cmax, vmax


@kernel(F64, F64)
def unbounded_start(c, diag):  # pragma: no cover - compiled
    """``c / diag`` where ``diag > 0``, else 0: the start when no diode bounds a node
    (``np.clip`` to infinite bounds changes nothing)."""
    n = c.shape[0]
    out = np.zeros(n)
    for i in range(n):
        if diag[i] > 0.0:
            out[i] = c[i] / diag[i]
    return out


@kernel(I64, F64, F64, F64)
def sweep_rows(indptr, data, diag, c):  # pragma: no cover - compiled
    """The sweeps' per-row arrays in one pass: uint32 row degrees, ``data / diag`` per
    row as ``data · (1 / diag)`` and ``c · (1 / diag)`` (the products the numpy code
    formed, bit for bit; a zero diagonal gives ±inf as numpy's division does)."""
    n = diag.shape[0]
    deg = np.empty(n, dtype=np.uint32)
    g = np.empty(data.shape[0])
    q = np.empty(n)
    for i in range(n):
        d = diag[i]
        s = 1.0 / d if d != 0.0 else np.copysign(np.inf, d)
        q[i] = c[i] * s
        a = indptr[i]
        b = indptr[i + 1]
        deg[i] = b - a
        for k in range(a, b):
            g[k] = data[k] * s
    return deg, g, q
