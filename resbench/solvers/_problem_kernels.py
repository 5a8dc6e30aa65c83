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

from resbench._jit import BOOL, F64, FLOAT, I32, I64, INT, U8, U32, kernel
from resbench._unionfind import find_root as _find

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
       root).

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
        parent[i] = i
        ri = i  # the root of i's set (i is still alone: only lower ends join it)
        q = head[i]
        while q >= 0:
            j = low[q]
            mark[color[j]] = i
            rj = _find(parent, j)
            if rj < ri:
                parent[ri] = rj
                ri = rj
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


@kernel(F64, F64, I32, F64, F64, FLOAT)
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
