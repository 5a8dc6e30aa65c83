"""The direct finish's factor reuse (resbench.solvers.direct._Base.solve): a free set a
few nodes away from the factored one is solved through a sparse border; its answer must
be the reduced system's own, with parallel resistors (duplicate CSR entries), with the
held nodes where they were at the factorisation and elsewhere."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from resbench.circuit import Branches
from resbench.generate import grid
from resbench.solvers import direct
from resbench.solvers.problem import compile_problem

BACKENDS = ["splu"] + (["cholmod"] if direct.backend() == "cholmod" else [])


def doubled_grid_problem():
    """An 8×8 clamped grid with every resistor doubled by a parallel one (2× its value):
    the problem's CSR then holds each edge twice."""
    c = grid(8, 8)
    r = c.resistors
    both = Branches(
        names=[*r.names, *(f"{n}p" for n in r.names)],
        a=np.r_[r.a, r.a],
        b=np.r_[r.b, r.b],
        value=np.r_[r.value, 2.0 * r.value],
    )
    p = compile_problem(dataclasses.replace(c, resistors=both))
    rows = np.repeat(np.arange(p.n), np.diff(p.indptr))
    key = rows * p.n + p.indices
    assert np.unique(key).size < key.size  # the test needs duplicate entries
    return p


def direct_answer(p, free: np.ndarray, u: np.ndarray) -> np.ndarray:
    """u with the free nodes solved from their reduced system, densely."""
    mat, rhs = direct.reduced_system(p, free, u)
    out = u.copy()
    out[free] = np.linalg.solve(mat.toarray(), rhs)
    return out


@pytest.mark.parametrize("use", BACKENDS)
@pytest.mark.parametrize("move_held", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_border_solve_is_the_reduced_systems_answer(use: str, move_held: bool, seed: int):
    p = doubled_grid_problem()
    rng = np.random.default_rng(seed)
    u0 = rng.uniform(-1.0, 1.0, p.n)
    free0 = rng.random(p.n) < 0.7
    base = direct._Base(p, free0, u0, use)
    assert np.allclose(base.x, direct_answer(p, free0, u0)[free0], rtol=0, atol=1e-12)
    # two steps, as the finish takes them: the second reuses cached columns
    for step in range(2):
        free = free0.copy()
        flip = rng.choice(p.n, size=4 + step, replace=False)
        free[flip] = ~free[flip]
        if not free.any():
            continue
        u = u0.copy()
        if move_held:  # some node held both times now sits elsewhere
            held = np.flatnonzero(~free0 & ~free)
            u[held[: max(1, held.size // 3)]] += 0.5
        got = base.solve(free, u, kmax=64)
        assert got is not None
        want = direct_answer(p, free, u)
        assert np.max(np.abs(got - want)) <= 1e-10
        assert base.solve(free, u, kmax=3) is None  # 4+ nodes away: refused
