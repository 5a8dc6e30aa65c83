"""The steps of :func:`resbench.generate.random_network`, one function each.

Each step takes the generator's one random stream and draws from it in a fixed order;
``random_network`` calls them in the order resistors, voltage sources, current sources,
diodes, and that order is part of the output: changing it changes every generated circuit
(the bundled netlists and tests/test_reproducible.py check it).  Like ``generate.py``, this
module calls no CPU-dependent transcendental (only :mod:`resbench.draws`' draws).
"""

from __future__ import annotations

import numpy as np

from resbench._unionfind import UnionFind
from resbench.circuit import Branches, IndexedNames
from resbench.draws import log_uniform as _log_uniform
from resbench.draws import uniform as _uniform


def random_resistors(
    rng: np.random.Generator,
    n: int,
    degree: float,
    ground_resistors: float,
    r_min: float,
    r_max: float,
) -> Branches:
    """random_network's resistors: a random spanning tree, distinct extra edges up to an
    average ``degree``, a ``ground_resistors`` fraction of nodes tied to ground."""
    perm = rng.permutation(n) + 1
    parent = perm[(rng.random(n - 1) * np.arange(1, n)).astype(np.int64)]
    ta, tb = parent, perm[1:]
    m_target = max(n - 1, round(degree * n / 2))
    keys = set((np.minimum(ta, tb) * (n + 1) + np.maximum(ta, tb)).tolist())
    extra_a: list[int] = []
    extra_b: list[int] = []
    need = min(m_target, n * (n - 1) // 2) - (n - 1)
    while need > 0:
        cand = rng.integers(1, n + 1, size=(2, need + 16))
        for x, y in zip(cand[0].tolist(), cand[1].tolist(), strict=True):
            if x == y:
                continue
            key = min(x, y) * (n + 1) + max(x, y)
            if key in keys:
                continue
            keys.add(key)
            extra_a.append(x)
            extra_b.append(y)
            need -= 1
            if need == 0:
                break
    ng = round(ground_resistors * n)
    gnd_nodes = np.sort(rng.choice(np.arange(1, n + 1), size=ng, replace=False))
    ra = np.concatenate([ta, np.asarray(extra_a, np.int64), gnd_nodes])
    rb = np.concatenate([tb, np.asarray(extra_b, np.int64), np.zeros(ng, np.int64)])
    rv = _log_uniform(rng, r_min, r_max, ra.shape[0])
    return Branches.from_lists(IndexedNames("r", ra.shape[0]), ra, rb, rv)


def random_vsources(
    rng: np.random.Generator, n: int, nv: int, floating: float
) -> tuple[Branches, np.ndarray, np.ndarray]:
    """random_network's voltage sources, a forest over (ground + nodes): the sources,
    which nodes they hold (ground included) and one voltage vector that satisfies them."""
    n_float = min(nv - 1, round(floating * nv))
    dsu = UnionFind(n + 1)  # keeps the source graph a forest
    held = np.zeros(n + 1, dtype=bool)
    held[0] = True
    va: list[int] = []
    vb: list[int] = []
    vv: list[float] = []
    adj: dict[int, list[tuple[int, float]]] = {}
    order = rng.permutation(n) + 1
    for x in order[: nv - n_float].tolist():  # grounded
        dsu.union(x, 0)
        held[x] = True
        va.append(x)
        vb.append(0)
        vv.append(float(_uniform(rng, -5.0, 5.0, 1)[0]))
        adj.setdefault(x, []).append((0, vv[-1]))  # v(x) - v(0) = V
        adj.setdefault(0, []).append((x, -vv[-1]))
    tries = 0
    while len(va) < nv and tries < 100 * nv:
        tries += 1
        x, y = (int(t) for t in rng.integers(1, n + 1, size=2))
        if x == y or not dsu.union(x, y):
            continue
        held[x] = held[y] = True
        va.append(x)
        vb.append(y)
        vv.append(float(_uniform(rng, -1.0, 1.0, 1)[0]))
        adj.setdefault(x, []).append((y, vv[-1]))  # p[y] = p[x] - V
        adj.setdefault(y, []).append((x, -vv[-1]))
    vsrc = Branches.from_lists([f"v{i}" for i in range(len(va))], va, vb, vv)
    return vsrc, held, _source_potentials(n, adj)


def _source_potentials(n: int, adj: dict[int, list[tuple[int, float]]]) -> np.ndarray:
    """One voltage vector satisfying every source: 0 V at each tree's root (ground first),
    propagated over the source trees ``adj`` (depth first); free nodes stay at 0 V."""
    p = np.zeros(n + 1)
    seen = np.zeros(n + 1, dtype=bool)
    for root in [0, *sorted(adj)]:
        if seen[root] or root not in adj:
            continue
        seen[root] = True
        stack = [root]
        while stack:
            u = stack.pop()
            for w, volts in adj.get(u, ()):
                if not seen[w]:
                    seen[w] = True
                    p[w] = p[u] - volts
                    stack.append(w)
    return p


def random_isources(rng: np.random.Generator, n: int, ni: int) -> Branches | None:
    """random_network's ``ni`` current sources of U(-1, 1) mA between random nodes or ground."""
    if not ni:
        return None
    ia = rng.integers(0, n + 1, size=ni)
    ib = rng.integers(1, n + 1, size=ni)
    ib = np.where(ia == ib, 0, ib)
    return Branches.from_lists([f"i{i}" for i in range(ni)], ia, ib, _uniform(rng, -1e-3, 1e-3, ni))


def random_diodes(
    rng: np.random.Generator,
    n: int,
    nd: int,
    held: np.ndarray,
    p: np.ndarray,
    free_free: bool,
) -> Branches | None:
    """random_network's ``nd`` diodes, oriented along (p, random rank) so that
    p_anode <= p_cathode and no diode cycle exists: the circuit is feasible."""
    free = np.flatnonzero(~held)
    fixed = np.flatnonzero(held)  # includes ground
    if not (nd and free.size):
        return None
    n_ff = nd // 2 if (free_free and free.size >= 2) else 0
    n_fx = nd - n_ff
    u1 = rng.choice(free, size=n_fx, replace=True)
    w1 = rng.choice(fixed, size=n_fx, replace=True)
    u2 = rng.choice(free, size=n_ff, replace=True)
    w2 = rng.choice(free, size=n_ff, replace=True)
    w2 = np.where(u2 == w2, free[(np.searchsorted(free, u2) + 1) % free.size], w2)
    u = np.concatenate([u1, u2])
    w = np.concatenate([w1, w2])
    rank = rng.permutation(n + 1)
    fwd = (p[u] < p[w]) | ((p[u] == p[w]) & (rank[u] < rank[w]))
    return Branches.from_lists(
        IndexedNames("d", u.shape[0]),
        np.where(fwd, u, w),
        np.where(fwd, w, u),
        np.zeros(u.shape[0]),
    )
