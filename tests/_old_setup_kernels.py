"""The setup's multi-pass kernels before issue 16 part 3, kept as the test oracle.

``compile_problem`` now builds the free–free CSR in colour order with fused passes
(resbench/solvers/_problem_kernels.py); tests/test_problem_setup.py rebuilds the
Problem with these, the previous algorithm (fold, fill, greedy colours, colour order,
permutation, row scaling), and requires the same arrays bit for bit.  Test-only: lazy
``njit`` (compiled on first use), not part of the package's warm-up.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def fold_resistors(ra, rb, ohms, supernode, offset, n):  # pragma: no cover - compiled
    """One pass over the resistors: diagonal, constant injection, free–free degrees.

    Conductances are 1/ohms computed on the fly (0-ohm shorts were merged into
    supernodes and are skipped), so no per-resistor temporary is allocated.

    For an edge between node a (supernode i) and node b (supernode j) the energy
    term is ½ g (u_i + off_a − u_j − off_b)².  Edges with a fixed end fold into the
    free end's injection; edges inside one supernode are constants.
    """
    diag = np.zeros(n)
    c = np.zeros(n)
    deg = np.zeros(n, dtype=np.int64)
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
            d = offset[b] - offset[a]
            c[i] += ge * d
            c[j] -= ge * d
            deg[i] += 1
            deg[j] += 1
        elif i >= 0:
            diag[i] += ge
            c[i] += ge * (offset[b] - offset[a])
        elif j >= 0:
            diag[j] += ge
            c[j] += ge * (offset[a] - offset[b])
    return diag, c, deg


@njit(cache=True)
def fill_csr(ra, rb, ohms, supernode, indptr):  # pragma: no cover - compiled
    """Second pass: scatter free–free edges into CSR (both directions)."""
    n = indptr.shape[0] - 1
    nnz = indptr[n]
    indices = np.empty(nnz, dtype=np.int32)
    data = np.empty(nnz)
    fill = indptr[:-1].copy()
    for e in range(ra.shape[0]):
        r = ohms[e]
        if r <= 0.0:
            continue
        i = supernode[ra[e]]
        j = supernode[rb[e]]
        if i < 0 or j < 0 or i == j:
            continue
        ge = 1.0 / r
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
def greedy_colors(indptr, indices, n):  # pragma: no cover - compiled
    """Greedy colouring of the free–free graph (smallest colour no neighbour has).

    Nodes of one colour share no resistor, so a sweep that visits them one colour
    after the other has no dependency between consecutive updates (red–black
    ordering on a grid; even/odd layers in a DRN).
    """
    color = np.full(n, -1, dtype=np.int64)
    mark = np.full(n + 1, -1, dtype=np.int64)
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            cj = color[indices[k]]
            if cj >= 0:
                mark[cj] = i
        cnew = 0
        while mark[cnew] == i:
            cnew += 1
        color[i] = cnew
    return color


@njit(cache=True)
def colour_order(color):  # pragma: no cover - compiled
    """(perm, rank): nodes by colour, stable within a colour (a counting sort);
    perm[k] is the node placed k-th, rank its inverse."""
    n = color.shape[0]
    ncol = color.max() + 1 if n else 0
    start = np.zeros(ncol + 1, dtype=np.int64)
    for i in range(n):
        start[color[i] + 1] += 1
    for c in range(ncol):
        start[c + 1] += start[c]
    perm = np.empty(n, dtype=np.int64)
    rank = np.empty(n, dtype=np.int64)
    for i in range(n):
        k = start[color[i]]
        start[color[i]] = k + 1
        perm[k] = i
        rank[i] = k
    return perm, rank


@njit(cache=True)
def permute_csr(indptr, indices, data, perm, rank):  # pragma: no cover - compiled
    """CSR of the same graph with node perm[k] renamed k (rank = inverse of perm)."""
    n = indptr.shape[0] - 1
    new_ptr = np.zeros(n + 1, dtype=np.int64)
    for k in range(n):
        i = perm[k]
        new_ptr[k + 1] = new_ptr[k] + indptr[i + 1] - indptr[i]
    new_idx = np.empty_like(indices)
    new_dat = np.empty_like(data)
    for k in range(n):
        i = perm[k]
        q = new_ptr[k]
        for p in range(indptr[i], indptr[i + 1]):
            new_idx[q] = rank[indices[p]]
            new_dat[q] = data[p]
            q += 1
    return new_ptr, new_idx, new_dat


@njit(cache=True)
def scale_rows(indptr, data, inv_diag):  # pragma: no cover - compiled
    """Row-scaled conductances g_ij / diag_i (the sweeps' Jacobi-scaled matrix)."""
    out = np.empty_like(data)
    for i in range(indptr.shape[0] - 1):
        s = inv_diag[i]
        for k in range(indptr[i], indptr[i + 1]):
            out[k] = data[k] * s
    return out


# One sweep of exact coordinate descent, in four variants picked once per call by
# cd_sweeps: the node target is x_i = q_i + Σ_j ĝ_ij u_j with ĝ_ij = g_ij/diag_i
# and q_i = c_i/diag_i (the exact minimiser of the energy along u_i), clipped to
# the node's bounds.  Each returns res_v = max_i |clip(x_i) − u_i|, measured before
# node i moves.  The variants exist for speed: the unbounded ω = 1 sweep is the
# bare streaming loop (no bound loads, no ω blend), which is what large linear
# meshes run; loop-invariant branches inside one loop are measurably slower.
# Index arrays are unsigned so that numba emits no negative-index wraparound, and
# rows are walked with a running position and per-row degrees (uint32) rather
# than row pointers, which streams fewer bytes.  The shared pieces are
# inline="always" helpers (inlined in numba's IR: as fast as writing them out,
# unlike an ordinary jitted call per node).  Numbers: docs/measurements.md.
