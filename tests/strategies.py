"""Hypothesis strategies for random circuits, shared by the solver tests.

``random_circuits`` draws small circuits of the whole dialect: a random
spanning tree of resistors rooted at ground (so every node has a resistive
path to a fixed voltage) plus extra resistors, grounded and floating voltage
sources, current sources, 0-ohm shorts and ideal diodes in both directions
(node–ground, free–free pairs and chains).  Source voltages are multiples of
0.25 V, so sums along loops are exact in floating point; a loop of sources is
only ever closed with exactly the consistent value.  Diodes may be forced
against a source: such circuits are infeasible and every solver must reject
them (the reference raises CircuitError).  With ``islands > 0``, groups of new
nodes joined to the rest only through diodes (and fed by current sources): their
answer may be unique, not unique (every diode off) or unbounded.
"""

from __future__ import annotations

import os

from hypothesis import strategies as st

from resbench.circuit import Branches, Circuit, make_circuit

#: The Hypothesis profile of this run (tests/conftest.py loads it): ``deterministic`` (CI:
#: the same examples on every run) or ``explore`` (new random examples, ``EXPLORE_FACTOR``
#: times as many of them).
PROFILE = os.environ.get("RESBENCH_HYPOTHESIS_PROFILE", "deterministic")
EXPLORE_FACTOR = 10


def examples(n: int) -> int:
    """The example count of a test that draws ``n`` examples in CI: ``n`` under the
    deterministic profile, ``EXPLORE_FACTOR * n`` under ``explore``.

    CI draws the same derandomized examples on every run, so a count beyond what covers
    a test's cases only repeats work on every push; deep searches for new failures are
    what the explore profile is for, and there the count grows tenfold."""
    return n * EXPLORE_FACTOR if PROFILE == "explore" else n


class _Offsets:
    """Union–find with offsets: tracks which nodes the equalities tie together, and how."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.off = [0.0] * n  # v(node) - v(root) (exact: multiples of 0.25)

    def find(self, x: int) -> tuple[int, float]:
        off = 0.0
        while self.parent[x] != x:
            off += self.off[x]
            x = self.parent[x]
        return x, off

    def union(self, a: int, b: int, value: float) -> None:
        """Record v(a) - v(b) = value for a and b in different groups."""
        ra, oa = self.find(a)
        rb, ob = self.find(b)
        if ra == 0:  # keep ground as the root of its group
            ra, rb, oa, ob, value = rb, ra, ob, oa, -value
        # v(ra) = v(a) - oa = v(b) + value - oa = v(rb) + ob + value - oa
        self.parent[ra] = rb
        self.off[ra] = ob + value - oa


@st.composite
def random_circuits(
    draw: st.DrawFn,
    max_nodes: int = 8,
    max_diodes: int = 6,
    free_free_diodes: bool = True,
    floating_sources: bool = True,
    current_sources: bool = True,
    shorts: bool = True,
    islands: int = 0,
) -> Circuit:
    """A random small circuit (see the module docstring).  Node 0 is ground.
    ``islands``: up to that many groups reached only through diodes."""
    n = draw(st.integers(1, max_nodes))  # non-ground nodes
    nodes = ["0"] + [f"n{k}" for k in range(1, n + 1)]
    ohms = st.floats(2.0, 5.0).map(lambda e: float(round(10.0**e, 3)))
    signs = st.sampled_from([1.0, -1.0])
    volts = st.builds(lambda k, s: s * k / 4.0, st.integers(1, 20), signs)

    r_a: list[int] = []
    r_b: list[int] = []
    r_v: list[float] = []
    for k in range(1, n + 1):  # spanning tree rooted at ground
        r_a.append(k)
        r_b.append(draw(st.integers(0, k - 1)))
        r_v.append(draw(ohms))
    pair = st.tuples(st.integers(0, n), st.integers(0, n)).filter(lambda p: p[0] != p[1])
    for p, q in draw(st.lists(pair, max_size=2 * n)):
        r_a.append(p)
        r_b.append(q)
        r_v.append(draw(ohms))

    i_a: list[int] = []
    i_b: list[int] = []
    i_v: list[float] = []
    if current_sources:
        amps = st.builds(lambda k, s: s * k * 2.5e-4, st.integers(1, 40), signs)
        for p, q in draw(st.lists(pair, max_size=2)):
            i_a.append(p)
            i_b.append(q)
            i_v.append(draw(amps))

    # Voltage sources and shorts: a forest of equalities, plus rare consistent loops.
    groups = _Offsets(n + 1)
    v_a: list[int] = []
    v_b: list[int] = []
    v_v: list[float] = []
    n_eq = draw(st.integers(0 if i_v else 1, max(1, n // 2 + 1)))  # something drives it
    for _ in range(n_eq):
        p = draw(st.integers(1, n))
        q = draw(st.integers(0, n)) if floating_sources else 0
        if p == q:
            continue
        is_short = shorts and q != 0 and draw(st.integers(0, 3)) == 0
        value = 0.0 if is_short else draw(volts)
        (rp, op), (rq, oq) = groups.find(p), groups.find(q)
        if rp == rq:
            if draw(st.booleans()):
                continue
            value = op - oq  # close the loop with the consistent value
            is_short = shorts and value == 0.0 and q != 0
        else:
            groups.union(p, q, value)
        if is_short:
            r_a.append(p)
            r_b.append(q)
            r_v.append(0.0)
        else:
            v_a.append(p)
            v_b.append(q)
            v_v.append(value)

    # Diodes: random pairs in both directions, and sometimes a chain.
    d_a: list[int] = []
    d_b: list[int] = []
    n_d = draw(st.integers(0, max_diodes))
    if free_free_diodes and n >= 2 and n_d >= 2 and draw(st.booleans()):
        length = draw(st.integers(2, min(n_d, n + 1)))
        chain = draw(st.permutations(list(range(n + 1))))[: length + 1]
        for p, q in zip(chain, chain[1:], strict=False):
            d_a.append(p)
            d_b.append(q)
    while len(d_a) < n_d:
        if free_free_diodes:
            p, q = draw(pair)
        else:
            k = draw(st.integers(1, n))
            p, q = (k, 0) if draw(st.booleans()) else (0, k)
        d_a.append(p)
        d_b.append(q)

    # Islands: groups of new nodes joined among themselves by resistors (and sometimes
    # a floating source), reached from the rest only through diodes (and sometimes fed
    # by a current source).  Their voltages may be unique, may shift within a range
    # (every diode off), or be unbounded (a net injection no diode can carry).
    for _ in range(draw(st.integers(1 if islands else 0, islands))):
        size = draw(st.integers(1, 3))
        first = len(nodes)
        members = list(range(first, first + size))
        nodes += [f"i{k}" for k in members]
        for k in members[1:]:
            p = draw(st.sampled_from(members[: k - first]))
            if draw(st.integers(0, 4)) == 0:
                v_a.append(k)
                v_b.append(p)
                v_v.append(draw(volts))
            else:
                r_a.append(k)
                r_b.append(p)
                r_v.append(draw(ohms))
        others = list(range(len(nodes)))
        for _ in range(draw(st.integers(1, 2))):
            x = draw(st.sampled_from(members))
            y = draw(st.sampled_from([o for o in others if o != x]))
            if draw(st.booleans()):
                x, y = y, x
            d_a.append(x)
            d_b.append(y)
        if current_sources and draw(st.integers(0, 2)) == 0:
            x = draw(st.sampled_from(members))
            y = draw(st.sampled_from([o for o in others if o != x]))
            i_a.append(y)
            i_b.append(x)
            i_v.append(draw(st.builds(lambda k, s: s * k * 2.5e-4, st.integers(1, 40), signs)))

    return make_circuit(
        "random circuit",
        nodes,
        resistors=Branches.from_lists([f"r{i + 1}" for i in range(len(r_a))], r_a, r_b, r_v),
        diodes=Branches.from_lists(
            [f"d{i + 1}" for i in range(len(d_a))], d_a, d_b, [0.0] * len(d_a)
        ),
        vsources=Branches.from_lists([f"v{i + 1}" for i in range(len(v_a))], v_a, v_b, v_v),
        isources=Branches.from_lists([f"i{i + 1}" for i in range(len(i_a))], i_a, i_b, i_v),
    )


def stalling_case() -> Circuit:
    """docs/design.md §2: ``V1=1V —1k— a —D(a→b)— b —1k— gnd``; exact answer a = b = 0.5 V."""
    return make_circuit(
        "stalling case",
        ["0", "in", "a", "b"],
        resistors=Branches.from_lists(["r1", "r2"], [1, 3], [2, 0], [1e3, 1e3]),
        diodes=Branches.from_lists(["d1"], [2], [3], [0.0]),
        vsources=Branches.from_lists(["v1"], [1], [0], [1.0]),
    )
