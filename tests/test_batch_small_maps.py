"""Small circuits keep the batch Network's input maps dense (network.SMALL_MAPS): the
dense maps must equal the sparse ones the larger circuits build, and the answers of
both must agree; the batched feasible-start kernel must equal the single solver's
Bellman–Ford run sample by sample."""

from __future__ import annotations

import numpy as np
import pytest

from resbench import read_netlist
from resbench.batch import Network
from resbench.batch import network as network_mod
from resbench.batch._kernels import feasible_starts
from resbench.solvers._kernels import bellman_ford_start

NETLISTS = [
    "netlists/dc_diode_iv.cir",
    "netlists/dc_drn_unit.cir",
    "netlists/isource_diode.cir",
    "netlists/diode_logic.cir",
    "netlists/clipper.cir",
]


def _dense(a: object) -> np.ndarray:
    return a.toarray() if hasattr(a, "toarray") else np.asarray(a)


def _pair(path: str, gmin: float, monkeypatch: pytest.MonkeyPatch) -> tuple[Network, Network]:
    circuit = read_netlist(path)
    dense = Network(circuit, gmin=gmin)
    monkeypatch.setattr(network_mod, "SMALL_MAPS", -1)  # every circuit: the sparse maps
    sparse = Network(circuit, gmin=gmin)
    monkeypatch.undo()
    return dense, sparse


@pytest.mark.parametrize("path", NETLISTS)
@pytest.mark.parametrize("gmin", [0.0, 1e-6])
def test_dense_maps_equal_sparse(path: str, gmin: float, monkeypatch: pytest.MonkeyPatch) -> None:
    dense, sparse = _pair(path, gmin, monkeypatch)
    assert isinstance(dense._M, np.ndarray) and not isinstance(sparse._M, np.ndarray)
    for name in ("_M", "_A_sparse", "_D", "_M_fixed_moving", "_avg"):
        np.testing.assert_allclose(
            _dense(getattr(dense, name)), _dense(getattr(sparse, name)), rtol=1e-15, atol=0
        )
    for name in ("_m_row", "_m_col", "_m_val", "_check_dio", "_hi_var", "_lo_var"):
        np.testing.assert_array_equal(getattr(dense, name), getattr(sparse, name))
    np.testing.assert_array_equal(dense._fixed_moving, sparse._fixed_moving)
    assert dense._needs_dS == sparse._needs_dS
    rng = np.random.default_rng(7)
    S = dense.default_values()[None, :] + rng.uniform(-2.0, 2.0, (37, dense.n_inputs))
    a = dense.solve_batch(S, certify=True)
    b = sparse.solve_batch(S, certify=True)
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_allclose(a.voltages, b.voltages, rtol=1e-12, atol=1e-12)
    assert a.certificate.ok.all() == b.certificate.ok.all()


def test_feasible_starts_kernel_matches_single_bellman_ford() -> None:
    rng = np.random.default_rng(3)
    n, B = 6, 9
    anode = np.array([0, 1, 2, 3, 4, 0], dtype=np.int32)
    cathode = np.array([1, 2, 3, 4, 0, 5], dtype=np.int32)
    U0 = rng.uniform(-1.0, 1.0, (n, B))
    lo = np.full((n, 1), -np.inf)
    hi = rng.uniform(0.5, 2.0, (n, B))
    ffl = rng.uniform(-0.3, 0.4, (anode.size, B))  # some samples: a negative cycle
    infeasible = np.zeros(B, dtype=bool)
    infeasible[2] = True  # already infeasible: left as it is
    out = np.empty((n, B))
    feasible_starts(U0, lo, hi, ffl, anode, cathode, infeasible, out)
    seen_cycle = False
    for b in range(B):
        if b == 2:
            np.testing.assert_array_equal(out[:, b], U0[:, b])
            assert infeasible[b]
            continue
        u, cyc = bellman_ford_start(
            U0[:, b].copy(), lo[:, 0].copy(), hi[:, b].copy(), anode, cathode, ffl[:, b].copy()
        )
        assert bool(cyc.size) == bool(infeasible[b])
        seen_cycle |= bool(cyc.size)
        np.testing.assert_array_equal(out[:, b], U0[:, b] if cyc.size else u)
    assert infeasible[[b for b in range(B) if b != 2]].any() == seen_cycle


EXACT = (
    "_M",
    "_D",
    "_dio_base",
    "_check_dio",
    "_hi_var",
    "_lo_var",
    "_var_bounds",
    "_var_ff",
    "_in_order",
    "_out_order",
    "_fixed_nodes",
    "_fixed_moving",
    "_M_fixed_moving",
    "_fixed_const_max",
    "_m_row",
    "_m_col",
    "_m_val",
    "_vs_const_max",
    "_vs_floor",
    "_inv_diag",
    "_needs_dS",
    "_v_cols",
    "_v_mask",
)


def _small_circuits():
    from resbench.generate import random_network

    for path in NETLISTS:
        yield path, read_netlist(path)
    for seed in range(6):
        yield (
            f"random{seed}",
            random_network(
                int(8 + 7 * seed), seed=seed, diodes=0.3, vsources=1 + seed % 3, isources=seed % 2
            ),
        )


@pytest.mark.parametrize("gmin", [0.0, 1e-6])
def test_small_map_kernels_equal_the_sparse_steps_exactly(
    gmin: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two small-map kernels (resbench.batch._network_kernels) give every array the
    sparse whole-array steps give, bit for bit (same dtypes), with every source an
    input and with only some of them."""
    for label, circuit in _small_circuits():
        names = network_mod.input_sources(circuit)
        for inputs in (None, names[::2]):
            dense = Network(circuit, inputs=inputs, gmin=gmin)
            monkeypatch.setattr(network_mod, "SMALL_MAPS", -1)
            sparse = Network(circuit, inputs=inputs, gmin=gmin)
            monkeypatch.undo()
            assert isinstance(dense._M, np.ndarray), label
            for name in EXACT + (("_lo0", "_hi0") if sparse._var_bounds else ()):
                a, b = _dense(getattr(dense, name)), _dense(getattr(sparse, name))
                assert a.dtype == b.dtype and np.array_equal(a, b), (label, inputs, name)
            for a, b in zip(dense._voltage_plan, sparse._voltage_plan, strict=True):
                assert a.dtype == b.dtype and np.array_equal(a, b), (label, "plan")


@pytest.mark.parametrize("nodes", [30, 300])
@pytest.mark.parametrize("large_compile", [False, True])
@pytest.mark.parametrize("gmin", [0.0, 1e-6])
def test_fixed_injection_is_the_problem_at_zero_inputs(
    nodes: int, large_compile: bool, gmin: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Network's injections with every input at zero (computed from the circuit, one
    union–find with the inputs at zero: ``_fixed_injection``) are the injections of the
    circuit whose inputs are zero, as compile_problem makes them: the same supernodes
    and offset frame on both of compile_problem's paths and both map paths (30 nodes:
    the small maps; 300: the sparse ones), floating sources and current sources among
    the inputs and the fixed sources, with and without the gmin leak."""
    from resbench.circuit import with_values
    from resbench.generate import random_network
    from resbench.solvers import problem as problem_mod

    if large_compile:
        monkeypatch.setattr(problem_mod, "SMALL_SIZE", -1)
    for seed in range(4):
        circuit = random_network(nodes, seed=seed, diodes=0.0, vsources=nodes // 6, floating=0.5)
        names = network_mod.input_sources(circuit)
        for inputs in (names[::2], names[1::3]):
            net = Network(circuit, inputs=inputs, gmin=gmin)
            zeros = np.zeros(len(inputs))
            zero = problem_mod.compile_problem(with_values(circuit, inputs, zeros), gmin=gmin)
            np.testing.assert_array_equal(zero.supernode, net._problem.supernode)
            scale = max(float(np.max(np.abs(zero.c), initial=0.0)), 1e-300)
            np.testing.assert_allclose(net._c_fixed, zero.c, rtol=0, atol=1e-13 * scale)
