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
intermediate arrays, no boolean masks.  On a small circuit it is in the calls:
:func:`compile_small` runs the whole setup as one.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from resbench._jit import BOOL, F64, FLOAT, I32, I64, INT, U8, U32, kernel
from resbench._unionfind import find_root as _find
from resbench.solvers._kernels import (
    bellman_ford_start,
    components,
    link_ends,
    row_sums,
    union_offsets,
)

# scales() flags: the fast path found nothing to report; else the caller reruns the
# numpy code, which raises the error with its message
SCALES_OK = 0
SCALES_CHECK = 1


@kernel(I64, I64, F64, I32, F64)
def expand_supernodes(ends, root, off, supernode, offset):  # pragma: no cover - compiled
    """Free supernode numbers and offsets of every node from the union–find with offsets
    run on the link ends only (``ends``: the sorted distinct nodes that a link touches,
    ground first; ``root``/``off``: its result on them, in their compact numbering).

    A node that no link touches is its own root at offset 0.  Roots other than ground
    are numbered 0, 1, … in increasing node order; every node takes its root's number
    (−1 for the nodes tied to ground).  Writes ``supernode`` and ``offset`` (one entry
    per node) and returns the number of free supernodes and whether any node of a free
    supernode has an offset other than ±0 (a floating source; see :func:`fold_fill`).
    """
    n_nodes = supernode.shape[0]
    n_ends = ends.shape[0]
    number = np.full(n_ends, -1, dtype=np.int32)  # per compact root: its supernode
    n = 0
    p = 0
    for k in range(n_nodes):
        if p < n_ends and ends[p] == k:
            offset[k] = off[p]
            if root[p] == p and k != 0:
                number[p] = n
                n += 1
            p += 1
        else:
            offset[k] = 0.0
            supernode[k] = n
            n += 1
    free_offsets = False
    for p in range(n_ends):
        s = number[root[p]]
        supernode[ends[p]] = s
        if s >= 0 and off[p] != 0.0:
            free_offsets = True
    return n, free_offsets


# The free–free CSR in colour order, in three kernels (the caller allocates the arrays:
# resbench.solvers._memory).  Together they are the previous setup's
# (tests/_old_setup_kernels.py) ``fold_resistors`` + ``fill_csr`` + ``greedy_colors`` +
# ``colour_order`` + ``permute_csr`` and the renumbering of ``diag``, ``c`` and
# ``supernode``: the same arrays, bit for bit, with fewer passes and no CSR built in
# supernode order and then copied.


@kernel(I32, I32, F64, I32, I32, I32, I32, I32, I32, I32, I32)
def order_supernodes(
    ra, rb, ohms, supernode, deg, head, low, nxt, color, mark, parent
):  # pragma: no cover - compiled
    """Degrees, greedy colours and connected components of the free–free graph.

    1. One light pass over the resistors counts each supernode's free–free edges
       (``deg``) and lists each edge at its higher-numbered end: ``head[i]`` is the last
       edge listed at i, ``low[q]`` an edge's lower end, ``nxt[q]`` the edge listed
       before it at the same node (linked lists: a half adjacency).
    2. The greedy colouring visits the supernodes in order and gives each the smallest
       colour none of its lower-numbered neighbours has.  That is what
       the previous ``greedy_colors`` computes from the full CSR (a node's higher neighbours
       are still uncoloured when it is visited, and a smallest absent colour does not
       depend on the order the neighbours are read in).  The same loop joins each node
       to its lower neighbours in a union–find (``parent``; the smaller root stays a
       root): a node starts at the root of its first lower neighbour, and a further
       one is looked up only when its parent is another node (on a grid, at the
       few seams where groups met), not once per edge.

    ``deg``, ``head``, ``color``, ``parent`` have one entry per free supernode, ``mark``
    one more (scratch: ``mark[c] = i`` while colour c is taken at i), ``low`` and
    ``nxt`` one per resistor; any contents on entry.  Returns (edges, colours,
    groups): the numbers of free–free edges, of colours and of connected groups.
    """
    n = deg.shape[0]
    for i in range(n):
        deg[i] = 0
        head[i] = -1
    m_ff = 0
    for e in range(ra.shape[0]):
        if ohms[e] <= 0.0:
            continue
        i = supernode[ra[e]]
        j = supernode[rb[e]]
        if i < 0 or j < 0 or i == j:
            continue
        deg[i] += 1
        deg[j] += 1
        hi = max(i, j)
        low[m_ff] = min(i, j)
        nxt[m_ff] = head[hi]
        head[hi] = m_ff
        m_ff += 1

    for i in range(n + 1):
        mark[i] = -1
    n_colors = 0
    n_groups = n
    for i in range(n):
        q = head[i]
        if q < 0:
            parent[i] = i  # no lower neighbour: a root
        else:  # joins its first lower neighbour's set, below that set's root
            j = low[q]
            mark[color[j]] = i
            ri = _find(parent, j)
            parent[i] = ri
            n_groups -= 1
            q = nxt[q]
            while q >= 0:
                j = low[q]
                mark[color[j]] = i
                if parent[j] != parent[i]:  # else one set already
                    rj = _find(parent, j)
                    ri = _find(parent, i)
                    if rj < ri:
                        parent[ri] = rj
                        n_groups -= 1
                    elif rj > ri:
                        parent[rj] = ri
                        n_groups -= 1
                q = nxt[q]
        cnew = 0
        while mark[cnew] == i:
            cnew += 1
        color[i] = cnew
        if cnew >= n_colors:
            n_colors = cnew + 1
    return m_ff, n_colors, n_groups


@kernel(I32, I32, INT, I32, I32, I64, I32)
def renumber(supernode, color, n_colors, deg, row_len, indptr, new_supernode):  # pragma: no cover
    """Colour order: a stable counting sort of the supernodes by colour (as
    the previous ``colour_order``).  Overwrites ``color`` with each supernode's rank (its
    number in colour order), writes ``new_supernode`` (per node: its supernode's rank,
    −1 for fixed nodes; it may be ``supernode`` itself) and the row pointers shifted by
    one for :func:`fold_fill`: ``indptr[k + 1]`` = the start of row k (``row_len`` is
    scratch)."""
    n = color.shape[0]
    first = np.zeros(n_colors + 1, dtype=np.int64)
    for i in range(n):
        first[color[i] + 1] += 1
    for col in range(n_colors):
        first[col + 1] += first[col]
    for i in range(n):
        col = color[i]
        k = first[col]
        first[col] = k + 1
        color[i] = k
        row_len[k] = deg[i]
    indptr[0] = 0
    acc = 0
    for k in range(n):
        indptr[k + 1] = acc
        acc += row_len[k]
    for k in range(supernode.shape[0]):
        s = supernode[k]
        new_supernode[k] = color[s] if s >= 0 else -1


@njit(inline="always")
def _fold_fill(
    ra, rb, ohms, supernode, offset, free_offsets, indptr, diag, c, held, indices, data, mark
):  # pragma: no cover - compiled
    """The loop of :func:`fold_fill` (``mark``: a constant of each caller)."""
    for e in range(ra.shape[0]):
        r = ohms[e]
        if r <= 0.0:
            continue
        a = ra[e]
        b = rb[e]
        i = supernode[a]
        j = supernode[b]
        if i == j:
            continue
        ge = 1.0 / r
        if i >= 0 and j >= 0:
            diag[i] += ge
            diag[j] += ge
            if free_offsets or ge == np.inf:
                t = ge * (offset[b] - offset[a])
                if t != 0.0:
                    c[i] += t
                    c[j] -= t
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
            if mark:
                held[i] = 1
        elif j >= 0:
            diag[j] += ge
            c[j] += ge * (offset[a] - offset[b])
            if mark:
                held[j] = 1


@kernel(I32, I32, F64, I32, F64, BOOL, I64, F64, F64, U8, I32, F64)
def fold_fill(
    ra, rb, ohms, supernode, offset, free_offsets, indptr, diag, c, held, indices, data
):  # pragma: no cover - compiled
    """One pass over the resistors, supernodes in colour order: fold every resistor into
    ``diag``/``c`` and write the free–free ones into the CSR rows.

    The fold is the previous ``fold_resistors``' arithmetic in the same order: each node's
    sums see the same terms in the same (resistor) order whatever its number, so they
    are the same bits; a term ``g·(off_b − off_a)`` that is ±0 is not added to ``c`` (it
    would change no bit: ``c`` starts at +0 and a sum is −0 only when both terms are).
    Without ``free_offsets`` (every node of a free supernode at offset ±0) the term of a
    free–free resistor is ±0 unless g is infinite, and its offsets are not read.
    Each row gets its entries in resistor order, as ``fill_csr`` + ``permute_csr``
    gave them.  ``held[k]`` becomes 1 at supernodes with a resistor to a fixed node.

    On entry ``indptr`` is as :func:`renumber` left it, ``diag``, ``c`` and ``held`` are
    zero; on return ``indptr[k + 1]`` is the end of row k.
    """
    _fold_fill(
        ra, rb, ohms, supernode, offset, free_offsets, indptr, diag, c, held, indices, data, True
    )


@kernel(I32, I32, F64, I32, F64, BOOL, I64, F64, F64, U8, I32, F64)
def fold_fill_unmarked(
    ra, rb, ohms, supernode, offset, free_offsets, indptr, diag, c, held, indices, data
):  # pragma: no cover - compiled
    """:func:`fold_fill` without ``held`` (left as it is): for nets where most resistors
    have a fixed end (a DRN: marking would be a store per resistor, ~10 % of the pass),
    :func:`all_grounded` then sums every row instead, which costs less there."""
    _fold_fill(
        ra, rb, ohms, supernode, offset, free_offsets, indptr, diag, c, held, indices, data, False
    )


@kernel(F64, I64, F64, U8, BOOL, I32, INT, I32, FLOAT, FLOAT)
def all_grounded(
    diag, indptr, data, held, every_row, parent, n_groups, rank, round_off, tiny
):  # pragma: no cover - compiled
    """True when every connected group of free supernodes has a conductance to a fixed
    voltage: a member k with ``diag_k − Σ_row data > round_off · max(diag_k, tiny)``,
    the test of ``problem._islands`` with its arithmetic (the row sum added in row
    order from 0, as ``_kernels.row_sums``).

    The row sum is formed only where it can differ from ``diag_k``: at supernodes with
    a resistor to a fixed node (``held``), or everywhere when ``every_row`` (a ``gmin``
    leak was added, or ``held`` was not marked).  Elsewhere ``diag_k`` is the same
    conductances added in the same (resistor) order as the row, so the difference is
    exactly 0 (or NaN): not held.
    ``parent`` and the number of groups ``n_groups`` as :func:`order_supernodes` and
    ``rank`` as :func:`renumber` left them: the answer is whether the held members'
    roots are ``n_groups`` distinct ones.
    """
    n = diag.shape[0]
    ok = np.zeros(n, dtype=np.bool_)
    n_ok = 0
    for i in range(n):
        k = rank[i]
        if not (every_row or held[k]):
            continue
        s = 0.0
        for p in range(indptr[k], indptr[k + 1]):
            s += data[p]
        d = diag[k]
        if d - s > round_off * np.maximum(d, tiny):
            r = _find(parent, i)
            if not ok[r]:
                ok[r] = True
                n_ok += 1
    return n_ok == n_groups


@njit(inline="always")
def _scales_pass(
    diag, c, supernode, offset, vsrc, max_scale, lo, hi, start, fill
):  # pragma: no cover - compiled
    """The one pass of :func:`scales` and :func:`scales_unbounded`; ``fill``: also write
    ``lo = −inf``, ``hi = +inf`` and the start ``c / diag`` (0 where diag is 0)."""
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
        if fill:
            lo[i] = -np.inf
            hi[i] = np.inf
        if not (np.isfinite(d) and np.isfinite(ci)):
            return SCALES_CHECK, 0.0, 0.0, 0.0, 0.0, 0.0
        a = abs(ci)
        if d > 0.0:
            if fill:
                start[i] = ci / d
            x = a / d
            if not x <= max_scale:
                return SCALES_CHECK, 0.0, 0.0, 0.0, 0.0, 0.0
            if x > local:
                local = x
        elif fill:
            start[i] = 0.0
        if d > dmax:
            dmax = d
        if a > cmax:
            cmax = a
    return SCALES_OK, fixed, local, dmax, cmax, vmax


@kernel(F64, F64, I32, F64, F64, FLOAT)
def scales(diag, c, supernode, offset, vsrc, max_scale):  # pragma: no cover - compiled
    """The maxima of ``problem._scales`` in one pass, or a flag to rerun it.

    Returns ``(flag, fixed, local, dmax, cmax, vmax)``: the largest |offset| of a fixed
    node, |c_i| / diag_i over diag_i > 0, diag_i, |c_i| and |source value|.  ``flag`` is
    SCALES_CHECK when a value is not finite or a ratio exceeds ``max_scale``: the numpy
    code then runs and raises its error (maxima are exact, so the order of the
    comparisons does not change them).
    """
    none = np.zeros(0)
    return _scales_pass(diag, c, supernode, offset, vsrc, max_scale, none, none, none, False)


@kernel(F64)
def scan_resistors(ohms):  # pragma: no cover - compiled
    """One pass over the resistor values for the large path: ``(bad, shorts)``, the
    index of the first value that is not finite (−1 if none: then
    ``problem.check_finite_values`` has nothing to say about resistors) and the number
    of 0-ohm shorts (when 0, ``problem._supernodes`` does not look for them)."""
    shorts = 0
    for e in range(ohms.shape[0]):
        r = ohms[e]
        if not np.isfinite(r):
            return e, shorts
        if r == 0.0:
            shorts += 1
    return -1, shorts


@kernel(F64, F64, I32, F64, F64, FLOAT, F64, F64, F64)
def scales_unbounded(
    diag, c, supernode, offset, vsrc, max_scale, lo, hi, start
):  # pragma: no cover - compiled
    """:func:`scales`, and for a circuit without diodes the bounds and the start in the
    same pass over the supernodes: ``lo = −inf``, ``hi = +inf``, ``start`` as
    :func:`unbounded_start`.  Returns what :func:`scales` returns; with SCALES_CHECK
    ``lo``, ``hi`` and ``start`` are not all written."""
    return _scales_pass(diag, c, supernode, offset, vsrc, max_scale, lo, hi, start, True)


@kernel(F64, F64, F64)
def unbounded_start(c, diag, out):  # pragma: no cover - compiled
    """``out = c / diag`` where ``diag > 0``, else 0: the start when no diode bounds a
    node (``np.clip`` to infinite bounds changes nothing)."""
    for i in range(c.shape[0]):
        out[i] = c[i] / diag[i] if diag[i] > 0.0 else 0.0


@kernel(I64, F64, F64, F64, U32, F64, F64)
def sweep_rows(indptr, data, diag, c, deg, g, q):  # pragma: no cover - compiled
    """The sweeps' per-row arrays in one pass: uint32 row degrees ``deg``, ``g = data /
    diag`` per row as ``data · (1 / diag)`` and ``q = c · (1 / diag)`` (the products the
    numpy code formed, bit for bit; a zero diagonal gives ±inf as numpy's division
    does)."""
    n = diag.shape[0]
    for i in range(n):
        d = diag[i]
        s = 1.0 / d if d != 0.0 else np.copysign(np.inf, d)
        q[i] = c[i] * s
        a = indptr[i]
        b = indptr[i + 1]
        deg[i] = b - a
        for k in range(a, b):
            g[k] = data[k] * s


# ------------------------------------------------------------------ small circuits
# The whole of compile_problem in one kernel call, for small circuits (issue 16: on a
# 4-node netlist the setup's ~40 numpy and kernel calls cost ~0.4 ms, most of a `.dc`
# point or a small `.op`).  It calls the kernels the large path calls, in the same
# order, and does the numpy glue of problem.py as loops with the same floating-point
# operations in the same order, so it builds the same Problem bit for bit
# (tests/test_setup_small.py runs both paths).  Anything that is an error, or close to
# one (a KVL conflict, a forced diode, an undefined island, crossed bounds, a value
# that is not finite or too large, a negative diode cycle), returns SMALL_FALLBACK
# and the large path runs and raises its error with its message.

SMALL_OK = 0
SMALL_FALLBACK = 1

# the constants of problem.py, in this order, as one float64 array (``consts``)
C_KVL_REL_TOL, C_ROUND_OFF, C_TINY, C_MAX_SCALE, C_V_FLOOR, C_I_FLOOR = range(6)


@njit(cache=True)
def _small_fail():  # pragma: no cover - compiled
    """The return tuple of :func:`compile_small` when the large path must run."""
    i32 = np.zeros(0, dtype=np.int32)
    i64 = np.zeros(0, dtype=np.int64)
    f64 = np.zeros(0, dtype=np.float64)
    return (
        SMALL_FALLBACK, 0, i32, f64, i64, i32, f64, f64, f64, f64, f64,
        i32, i32, f64, i64, i64, i32, f64, i64, i32, f64, f64, 0.0, 0.0, i64, 0,
    )  # fmt: skip


@njit(cache=True)
def _adjacency_small(n, owner, nbr, w):  # pragma: no cover - compiled
    """``problem._adjacency``: CSR lists of (neighbour, w) per owner, as its stable
    argsort and bincount + cumsum make them (a stable counting sort)."""
    m = owner.shape[0]
    ptr = np.zeros(n + 1, dtype=np.int64)
    out_nbr = np.empty(m, dtype=np.int32)
    out_w = np.empty(m, dtype=np.float64)
    for k in range(m):
        ptr[owner[k] + 1] += 1
    for i in range(n):
        ptr[i + 1] += ptr[i]
    fill = ptr[:n].copy()
    for k in range(m):
        i = owner[k]
        p = fill[i]
        out_nbr[p] = nbr[k]
        out_w[p] = w[k]
        fill[i] = p + 1
    return ptr, out_nbr, out_w


@kernel(INT, I32, I32, F64, I32, I32, F64, I32, I32, F64, I32, I32, I32, I32, FLOAT, F64)
def compile_small(
    n_nodes, va, vb, vval, ra, rb, ohms, ia, ib, ival, la_ind, lb_ind, da, db, gmin, consts
):  # pragma: no cover - compiled
    """``problem.compile_problem`` in one call (see the comment above): element arrays
    of the voltage sources (``va, vb, vval``), resistors, current sources, inductors
    (ends only) and diodes (ends only), the ``gmin`` leak and problem.py's constants.

    Returns ``(status, n, supernode, offset, indptr, indices, data, diag, c, lo, hi,
    ff_anode, ff_cathode, ff_limit, ff_diode, in_ptr, in_anode, in_limit, out_ptr,
    out_cathode, out_limit, start, v_scale, i_scale, island, n_islands)``; with
    ``status`` SMALL_FALLBACK the rest is placeholders.
    """
    kvl_tol = consts[C_KVL_REL_TOL]
    round_off = consts[C_ROUND_OFF]
    tiny = consts[C_TINY]
    max_scale = consts[C_MAX_SCALE]
    # check_finite_values: resistors, voltage and current sources
    for arr in (ohms, vval, ival):
        for k in range(arr.shape[0]):
            if not np.isfinite(arr[k]):
                return _small_fail()

    # ---- supernodes (problem._supernodes): the union–find on every node; with every
    # node as a link end it merges and adds as on the link ends alone
    la, lb = link_ends(va, vb, ra, rb, ohms, la_ind, lb_ind)
    lval = np.zeros(la.shape[0], dtype=np.float64)
    lval[: va.shape[0]] = vval
    root, off, bad = union_offsets(n_nodes, la, lb, lval, kvl_tol)
    if bad >= 0:
        return _small_fail()
    supernode = np.empty(n_nodes, dtype=np.int32)
    offset = np.empty(n_nodes, dtype=np.float64)
    n, free_offsets = expand_supernodes(
        np.arange(n_nodes).astype(np.int64), root, off, supernode, offset
    )

    # ---- fold (problem._fold_resistors; always marking the held supernodes)
    m = ra.shape[0]
    deg = np.empty(n, dtype=np.int32)
    head = np.empty(n, dtype=np.int32)
    color = np.empty(n, dtype=np.int32)
    parent = np.empty(n, dtype=np.int32)
    mark = np.empty(n + 1, dtype=np.int32)
    low = np.empty(m, dtype=np.int32)
    nxt = np.empty(m, dtype=np.int32)
    m_ff, n_colors, n_groups = order_supernodes(
        ra, rb, ohms, supernode, deg, head, low, nxt, color, mark, parent
    )
    indptr = np.empty(n + 1, dtype=np.int64)
    renumber(supernode, color, n_colors, deg, head, indptr, supernode)
    diag = np.zeros(n, dtype=np.float64)
    c = np.zeros(n, dtype=np.float64)
    held = np.zeros(n, dtype=np.uint8)
    indices = np.empty(2 * m_ff, dtype=np.int32)
    data = np.empty(2 * m_ff, dtype=np.float64)
    fold_fill(ra, rb, ohms, supernode, offset, free_offsets, indptr, diag, c, held, indices, data)

    # ---- current sources (problem._add_current_sources: c += bincount(b); c -= bincount(a))
    if ia.shape[0]:
        acc = np.zeros(n, dtype=np.float64)
        for k in range(ia.shape[0]):
            s = supernode[ib[k]]
            if s >= 0:
                acc[s] += ival[k]
        for i in range(n):
            c[i] += acc[i]
        acc[:] = 0.0
        for k in range(ia.shape[0]):
            s = supernode[ia[k]]
            if s >= 0:
                acc[s] += ival[k]
        for i in range(n):
            c[i] -= acc[i]
    # ---- gmin (problem._add_gmin_leak)
    if gmin > 0:
        cnt = np.zeros(n, dtype=np.int64)
        acc = np.zeros(n, dtype=np.float64)
        for k in range(n_nodes):
            s = supernode[k]
            if s >= 0:
                cnt[s] += 1
                acc[s] += gmin * offset[k]
        for i in range(n):
            diag[i] += cnt[i] * gmin
            c[i] -= acc[i]

    # ---- islands (compile_problem's all_grounded test, then problem._islands)
    island = np.zeros(0, dtype=np.int64)
    n_islands = 0
    if n and not all_grounded(
        diag, indptr, data, held, gmin > 0, parent, n_groups, color, round_off, tiny
    ):
        ff_sum = row_sums(indptr, data, n)
        comp = components(indptr, indices, n)
        n_comp = 0
        for i in range(n):
            n_comp = max(n_comp, comp[i] + 1)
        ok = np.zeros(n_comp, dtype=np.bool_)
        for i in range(n):
            if diag[i] - ff_sum[i] > round_off * np.maximum(diag[i], tiny):
                ok[comp[i]] = True
        ids = np.full(n_comp, -1, dtype=np.int64)
        for g in range(n_comp):
            if not ok[g]:
                ids[g] = n_islands
                n_islands += 1
        if n_islands:
            island = np.empty(n, dtype=np.int64)
            for i in range(n):
                island[i] = ids[comp[i]]
            # every island must be joined to a fixed voltage through diodes (vertex 0)
            uf = np.arange(n_islands + 1).astype(np.int32)
            for k in range(da.shape[0]):
                sa = supernode[da[k]]
                sb = supernode[db[k]]
                rx = _find(uf, island[sa] + 1 if sa >= 0 else 0)
                ry = _find(uf, island[sb] + 1 if sb >= 0 else 0)
                if rx != ry:
                    uf[max(rx, ry)] = min(rx, ry)
            for g in range(1, n_islands + 1):
                if _find(uf, g) != 0:
                    return _small_fail()

    # ---- diodes (problem._diode_constraints and _check_bounds_meet)
    lo = np.full(n, -np.inf)
    hi = np.full(n, np.inf)
    n_d = da.shape[0]
    n_ff = 0
    if n_d:
        big = 0.0
        for k in range(n_nodes):
            x = abs(offset[k])
            if not np.isfinite(x):
                return _small_fail()  # (the numpy code's maximum would be NaN or inf)
            big = max(big, x)
        vtol = round_off * max(1.0, big)
        for k in range(n_d):
            sa = supernode[da[k]]
            sb = supernode[db[k]]
            oa = offset[da[k]]
            ob = offset[db[k]]
            if (sa < 0 and sb < 0) or (sa == sb and sa >= 0):
                if oa - ob > vtol:
                    return _small_fail()
            elif sa >= 0 and sb < 0:
                x = ob - oa
                hi[sa] = hi[sa] if hi[sa] < x else x  # np.minimum.at (equal: the new one)
            elif sa < 0 and sb >= 0:
                x = oa - ob
                lo[sb] = lo[sb] if lo[sb] > x else x  # np.maximum.at
            else:
                n_ff += 1
        for i in range(n):
            if lo[i] > hi[i] + round_off * max(1.0, abs(lo[i])):
                return _small_fail()
    ff_anode = np.empty(n_ff, dtype=np.int32)
    ff_cathode = np.empty(n_ff, dtype=np.int32)
    ff_limit = np.empty(n_ff, dtype=np.float64)
    ff_diode = np.empty(n_ff, dtype=np.int64)
    q = 0
    for k in range(n_d if n_ff else 0):
        sa = supernode[da[k]]
        sb = supernode[db[k]]
        if sa >= 0 and sb >= 0 and sa != sb:
            ff_anode[q] = sa
            ff_cathode[q] = sb
            ff_limit[q] = offset[db[k]] - offset[da[k]]
            ff_diode[q] = k
            q += 1
    in_ptr, in_anode, in_limit = _adjacency_small(n, ff_cathode, ff_anode, ff_limit)
    out_ptr, out_cathode, out_limit = _adjacency_small(n, ff_anode, ff_cathode, ff_limit)

    # ---- scales (problem._scales; the numpy code runs when they overflow)
    flag, fixed, local, dmax, cmax, vmax = scales(diag, c, supernode, offset, vval, max_scale)
    if flag != SCALES_OK:
        return _small_fail()
    v_scale = max(max(max(fixed, local), vmax), consts[C_V_FLOOR])
    i_scale = max(max(dmax * v_scale, cmax), consts[C_I_FLOOR])
    if not (v_scale <= max_scale and i_scale <= max_scale):
        return _small_fail()

    # ---- feasible start (np.clip(c / diag, lo, hi), then Bellman–Ford)
    start = np.empty(n, dtype=np.float64)
    if n_d:
        for i in range(n):
            x = c[i] / diag[i] if diag[i] > 0 else 0.0
            x = x if x > lo[i] else lo[i]  # np.clip: max(x, lo), then min(·, hi)
            start[i] = x if x < hi[i] else hi[i]
    else:
        unbounded_start(c, diag, start)
    if n_ff:
        start, cyc = bellman_ford_start(start, lo, hi, ff_anode, ff_cathode, ff_limit)
        if cyc.shape[0]:
            return _small_fail()
    return (
        SMALL_OK, n, supernode, offset, indptr, indices, data, diag, c, lo, hi,
        ff_anode, ff_cathode, ff_limit, ff_diode, in_ptr, in_anode, in_limit,
        out_ptr, out_cathode, out_limit, start, v_scale, i_scale, island, n_islands,
    )  # fmt: skip
