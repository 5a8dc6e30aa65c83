"""One plain union-find (disjoint sets over ``0..size-1``) for every Python caller.

Used by the random-network generator (keeps the voltage-source graph a forest),
the island checks in :mod:`resbench.islands` and :mod:`resbench.solvers.problem`
(which islands a chain of diodes joins to a fixed voltage) and the polish step's
working-set forest.  The numba kernel ``resbench.solvers._kernels.union_offsets``
is a different structure (it carries voltage offsets along the tree) and stays
separate.  :func:`find_root` is the same find (path halving) for numba kernels over a
``parent`` array: the setup, polish and certificate kernels share it.

:meth:`UnionFind.union` always hangs ``a``'s root under ``b``'s root, so a caller
that needs a particular vertex to stay a root (for example "vertex 0 = ground")
picks the argument order; the generators depend on this being deterministic.
"""

from __future__ import annotations

from numba import njit


class UnionFind:
    """Disjoint sets over ``0..size-1`` with path halving (no union by rank)."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, x: int) -> int:
        """The root of ``x``'s set (halves the path on the way up)."""
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> bool:
        """Join the sets of ``a`` and ``b``; ``b``'s root becomes the root of both.

        Returns False when they were already one set (nothing changes), True otherwise.
        """
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[ra] = rb
        return True


@njit(cache=True)
def find_root(parent, x):  # pragma: no cover - compiled
    """Root of ``x`` in the forest ``parent`` (numba), halving the path on the way."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x
