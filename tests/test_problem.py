"""Unit tests of resbench.solvers.problem.compile_problem on small hand-made circuits:
supernodes with offsets, the fold of fixed-node edges into the diagonal and the
injection, the colour order of the sweeps, bounds and free–free constraints from diodes,
the feasible start, and the errors not covered elsewhere.  Errors for floating nodes,
source loops and forced diodes are in tests/test_cd.py; KVL tolerances, non-finite and
overflowing values in tests/test_hardening.py."""

from __future__ import annotations

import numpy as np
import pytest

from resbench.circuit import Branches, make_circuit
from resbench.errors import CircuitError
from resbench.generate import grid
from resbench.solvers.problem import compile_problem

B = Branches.from_lists


def chain():
    """in (5 V) —1k— x —2k— y —4k— 0, and a floating 2 V source from a to b with
    a —1k— x and b —1k— 0: a and b form one free supernode."""
    return make_circuit(
        "chain",
        ["0", "in", "x", "y", "a", "b"],
        resistors=B(
            ["R1", "R2", "R3", "R4", "R5"],
            [1, 2, 3, 4, 5],
            [2, 3, 0, 2, 0],
            [1e3, 2e3, 4e3, 1e3, 1e3],
        ),
        vsources=B(["V1", "V2"], [1, 4], [0, 5], [5.0, 2.0]),
    )


def test_supernodes_merge_source_ends_with_their_offsets():
    c = chain()
    p = compile_problem(c)
    k = c.node_index()
    assert p.n == 3  # x, y and the supernode {a, b}
    assert p.supernode[k["0"]] == -1 and p.supernode[k["in"]] == -1  # fixed
    assert p.offset[k["in"]] == 5.0 and p.offset[k["0"]] == 0.0  # their absolute voltages
    assert p.supernode[k["a"]] == p.supernode[k["b"]] >= 0
    assert p.offset[k["a"]] - p.offset[k["b"]] == 2.0
    v = p.voltages(np.array([0.25, 0.5, 0.75]))
    assert v[k["a"]] - v[k["b"]] == 2.0 and v[k["in"]] == 5.0 and v[k["0"]] == 0.0


def test_edges_to_fixed_nodes_fold_into_diagonal_and_injection():
    c = chain()
    p = compile_problem(c)
    k = c.node_index()
    x, y, ab = (int(p.supernode[k[name]]) for name in ("x", "y", "a"))
    assert p.diag[x] == pytest.approx(1 / 1e3 + 1 / 2e3 + 1 / 1e3)
    assert p.diag[y] == pytest.approx(1 / 2e3 + 1 / 4e3)
    assert p.diag[ab] == pytest.approx(1 / 1e3 + 1 / 1e3)
    # R1 from in (5 V) injects 5 mA into x.  With v_a = u_ab + off_a and v_b = u_ab +
    # off_b, R4 (a–x) moves off_a / 1k from the supernode to x, and R5 (b to ground)
    # adds −off_b / 1k to the supernode's injection.
    off_a, off_b = p.offset[k["a"]], p.offset[k["b"]]
    assert p.c[x] == pytest.approx(5.0 / 1e3 + off_a / 1e3)
    assert p.c[y] == 0.0
    assert p.c[ab] == pytest.approx(-(off_a + off_b) / 1e3)
    # only free–free edges are in the CSR: R2 (x–y) and R4 (a–x), both directions
    assert p.n_ff_edges == 2
    pairs = {
        (i, int(p.indices[e]), float(p.data[e]))
        for i in range(p.n)
        for e in range(p.indptr[i], p.indptr[i + 1])
    }
    assert (x, y, 1 / 2e3) in pairs and (y, x, 1 / 2e3) in pairs
    assert (x, ab, 1 / 1e3) in pairs and (ab, x, 1 / 1e3) in pairs


def test_the_reduced_energy_and_gradient_agree_with_the_exact_solution():
    """At the minimiser of ½ uᵀ L u − cᵀ u the gradient is zero (no diodes here), and
    the gradient is the derivative of the energy."""
    p = compile_problem(chain())
    lmat = np.diag(p.diag)
    for i in range(p.n):
        for e in range(p.indptr[i], p.indptr[i + 1]):
            lmat[i, p.indices[e]] -= p.data[e]
    u = np.linalg.solve(lmat, p.c)
    assert np.max(np.abs(p.gradient(u))) <= 1e-15
    du = np.array([1e-3, -2e-3, 5e-4])
    assert p.energy(u + du) - p.energy(u) == pytest.approx(0.5 * du @ lmat @ du, rel=1e-6)


def test_sweep_order_is_one_colour_class_after_the_other():
    """Renumbered in colour order, the nodes fall into a few consecutive runs with no
    resistor inside a run (two on a grid: red–black)."""
    p = compile_problem(grid(7, 8, seed=0, clamps=False))
    runs, current = 1, set()
    for i in range(p.n):
        neighbours = set(p.indices[p.indptr[i] : p.indptr[i + 1]].tolist())
        if neighbours & current:
            runs, current = runs + 1, set()
        current.add(i)
    assert runs == 2


def test_diodes_become_bounds_and_free_free_constraints():
    """in (5 V); D1 in→x bounds x from below, D2 x→c (c fixed at 1 V by V2) from above,
    D3 x→y is a free–free constraint u_x − u_y ≤ 0."""
    c = make_circuit(
        "diodes",
        ["0", "in", "x", "y", "c"],
        resistors=B(["R1", "R2"], [2, 3], [0, 0], [1e3, 1e3]),
        diodes=B(["D1", "D2", "D3"], [1, 2, 2], [2, 4, 3], [0.0, 0.0, 0.0]),
        vsources=B(["V1", "V2"], [1, 4], [0, 0], [0.5, 1.0]),
    )
    p = compile_problem(c)
    k = c.node_index()
    x, y = int(p.supernode[k["x"]]), int(p.supernode[k["y"]])
    assert p.lo[x] == 0.5 and p.hi[x] == 1.0
    assert p.lo[y] == -np.inf and p.hi[y] == np.inf
    assert p.n_ff_diodes == 1
    assert (p.ff_anode[0], p.ff_cathode[0], p.ff_limit[0]) == (x, y, 0.0)
    assert p.ff_diode.tolist() == [2]  # index of D3 in circuit.diodes
    # per-node lists the sweeps read: D3 goes into y (y ≥ u_x − 0) and out of x
    assert p.in_anode[p.in_ptr[y] : p.in_ptr[y + 1]].tolist() == [x]
    assert p.out_cathode[p.out_ptr[x] : p.out_ptr[x + 1]].tolist() == [y]
    # the start is feasible
    u = p.start
    assert np.all(u >= p.lo) and np.all(u <= p.hi)
    assert u[x] - u[y] <= 0.0


def test_bounds_that_cross_are_an_error_naming_the_diodes():
    """x must be ≥ 5 V (D1 from in) and ≤ 0 V (D2 to ground): no point satisfies both."""
    c = make_circuit(
        "crossed",
        ["0", "in", "x"],
        resistors=B(["R1"], [2], [0], [1e3]),
        diodes=B(["D1", "D2"], [1, 2], [2, 0], [0.0, 0.0]),
        vsources=B(["V1"], [1], [0], [5.0]),
    )
    with pytest.raises(CircuitError) as err:
        compile_problem(c)
    assert "cannot all be satisfied" in str(err.value)
    assert {"D1", "D2"} <= set(err.value.elements) and err.value.nodes == ["x"]


@pytest.mark.parametrize("gmin", [-1e-12, float("nan"), float("inf")])
def test_gmin_must_be_a_finite_conductance(gmin):
    with pytest.raises(CircuitError, match="gmin must be a finite conductance"):
        compile_problem(chain(), gmin=gmin)


def test_gmin_adds_a_leak_to_ground_at_every_node():
    c = chain()
    plain, leaky = compile_problem(c), compile_problem(c, gmin=1e-9)
    k = c.node_index()
    ab = int(plain.supernode[k["a"]])
    x = int(plain.supernode[k["x"]])
    assert leaky.diag[x] - plain.diag[x] == pytest.approx(1e-9)
    assert leaky.diag[ab] - plain.diag[ab] == pytest.approx(2e-9)  # two nodes in it
