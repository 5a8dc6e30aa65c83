"""numba kernels of the direct finish (resbench.solvers.direct): no I/O, ``cache=True``.

Private: the caller validates inputs.  CSR offsets int64, node indices int32, values
float64, as in resbench.solvers._kernels.
"""

from __future__ import annotations

import numpy as np

from resbench._jit import F64, I32, I64, kernel


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
        # insertion sort of the row by column (rows are short; a hub's row is sorted
        # by np.argsort instead)
        length = q - start
        if length > 32:
            order = np.argsort(idx[start:q])
            idx[start:q] = idx[start:q][order]
            val[start:q] = val[start:q][order]
        else:
            for a in range(start + 1, q):
                ki = idx[a]
                kv = val[a]
                b = a - 1
                while b >= start and idx[b] > ki:
                    idx[b + 1] = idx[b]
                    val[b + 1] = val[b]
                    b -= 1
                idx[b + 1] = ki
                val[b + 1] = kv
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
