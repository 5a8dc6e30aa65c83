"""numba kernel of the certificate (its own, independent of the solvers' kernels)."""

from __future__ import annotations

import numpy as np
from numba import njit

from resbench._jit import F64, I32, I64, INT, kernel


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


@njit(cache=True)
def _root(parent, x):  # pragma: no cover - compiled
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


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


@kernel(INT, I64, I64)
def link_components(n, a, b):  # pragma: no cover - compiled
    """Connected components of the undirected graph on 0..n-1 with edges (a[k], b[k]):
    per vertex its component, numbered in the order of each component's smallest vertex
    (scipy's ``connected_components`` numbering, without its ~200 µs of input checks
    and format conversions, which dominate the certificate of a small circuit)."""
    parent = np.arange(n)
    for k in range(a.shape[0]):
        _join(parent, a[k], b[k])  # the smaller root wins: a root is its group's minimum
    label = np.empty(n, dtype=np.int64)
    count = 0
    for i in range(n):
        r = _root(parent, i)
        if r == i:
            label[i] = count
            count += 1
        else:
            label[i] = label[r]
    return label
