"""The union–find component kernel that replaces scipy's ``connected_components`` in the
polish (``edge_components``): the same components, numbered the same way (by each
component's smallest vertex), on random and edge-case graphs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components

from resbench.solvers._polish_kernels import edge_components


def _scipy(n: int, a: np.ndarray, b: np.ndarray) -> tuple[int, np.ndarray]:
    graph = sp.coo_matrix((np.ones(a.size), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)


@st.composite
def graphs(draw) -> tuple[int, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 30))
    m = draw(st.integers(0, 3 * n))
    ends = st.integers(0, n - 1)
    a = np.array(draw(st.lists(ends, min_size=m, max_size=m)), dtype=np.int64)
    b = np.array(draw(st.lists(ends, min_size=m, max_size=m)), dtype=np.int64)
    return n, a, b


@settings(max_examples=200, deadline=None)
@given(graphs())
def test_same_components_and_numbering_as_scipy(g) -> None:
    n, a, b = g
    count, want = _scipy(n, a, b)
    got_count, got = edge_components(n, a, b)
    assert got_count == count
    assert np.array_equal(got, want)


@pytest.mark.parametrize(
    ("n", "edges", "labels"),
    [
        (1, [], [0]),
        (4, [], [0, 1, 2, 3]),
        (4, [(3, 0)], [0, 1, 2, 0]),  # a later vertex joins the first component
        (5, [(4, 3), (3, 1), (2, 2)], [0, 1, 2, 1, 1]),  # self loop, chain backwards
        (3, [(2, 1), (1, 2), (0, 2)], [0, 0, 0]),  # repeated edge
    ],
)
def test_small_cases(n: int, edges: list[tuple[int, int]], labels: list[int]) -> None:
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    count, got = edge_components(n, a, b)
    assert got.tolist() == labels and count == max(labels) + 1
