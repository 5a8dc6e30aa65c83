"""numba kernels of the active-set polish (:mod:`resbench.solvers.polish`).  No I/O.

Small graphs are the common case of the polish's bookkeeping (a few clusters of a
working set), where scipy's ``connected_components`` costs ~200 µs of input checks and
format conversions for a handful of edges; a union–find over the edge list costs
microseconds at every size.
"""

from __future__ import annotations

import numpy as np

from resbench._jit import I64, INT, kernel


@kernel(INT, I64, I64)
def edge_components(n, a, b):  # pragma: no cover - compiled
    """Connected components of the undirected graph on 0..n-1 with edges (a[k], b[k]).

    Returns ``(count, label)``, labels numbered in the order of each component's
    smallest vertex (the numbering of scipy's ``connected_components``)."""
    parent = np.arange(n)
    for k in range(a.shape[0]):
        x = a[k]
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        y = b[k]
        while parent[y] != y:
            parent[y] = parent[parent[y]]
            y = parent[y]
        if x < y:
            parent[y] = x
        elif y < x:
            parent[x] = y
    label = np.empty(n, dtype=np.int64)
    count = 0
    for i in range(n):  # a root is its group's smallest vertex: it comes first
        r = i
        while parent[r] != r:
            r = parent[r]
        if r == i:
            label[i] = count
            count += 1
        else:
            label[i] = label[r]
    return count, label
