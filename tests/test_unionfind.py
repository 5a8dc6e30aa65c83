"""resbench._unionfind: the one union-find shared by the generator, island checks and polish."""

from __future__ import annotations

import random

from resbench._unionfind import UnionFind


def test_union_joins_and_reports_cycles() -> None:
    uf = UnionFind(5)
    assert uf.union(0, 1) is True
    assert uf.union(1, 2) is True
    assert uf.union(0, 2) is False  # already one set: a cycle edge
    assert uf.find(0) == uf.find(1) == uf.find(2)
    assert uf.find(3) != uf.find(0)
    assert uf.find(4) == 4


def test_second_argument_root_survives() -> None:
    """Callers rely on ``union(a, b)`` keeping b's root (e.g. ground stays the root)."""
    uf = UnionFind(6)
    for x in (3, 5, 1):
        uf.union(x, 0)
    assert uf.find(0) == 0
    assert [uf.find(x) for x in (1, 3, 5)] == [0, 0, 0]
    uf2 = UnionFind(4)
    uf2.union(0, 3)
    uf2.union(1, 2)
    uf2.union(2, 0)  # root(2)=2 goes under root(0)=3
    assert [uf2.find(x) for x in range(4)] == [3, 3, 3, 3]


def test_matches_naive_components() -> None:
    """Random edge lists: same partition as a label-propagation reference."""
    rng = random.Random(1234)
    for _ in range(50):
        n = rng.randint(1, 30)
        edges = [(rng.randrange(n), rng.randrange(n)) for _ in range(rng.randint(0, 40))]
        uf = UnionFind(n)
        label = list(range(n))
        for a, b in edges:
            joined = uf.union(a, b)
            la, lb = label[a], label[b]
            assert joined == (la != lb)
            label = [lb if lab == la else lab for lab in label]
        for i in range(n):
            for j in range(n):
                assert (uf.find(i) == uf.find(j)) == (label[i] == label[j])
