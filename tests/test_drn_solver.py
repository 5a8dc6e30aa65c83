"""solve_drn, the exact batched DRN solver, against resbench's independent solvers:
the reference (KKT + Lemke), cd and the batch Network on the exported circuit (free and
nudged: the nudge is a resistor β·g_unit to a source at the target), the certificate
of its answers, a naive KKT check of the −β phase (which no circuit holds), warm
starts, float32, and the errors for undefined or non-convex phases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resbench.batch.network import Network
from resbench.certificate import certify
from resbench.drn import Drn, DrnState, solve_drn
from resbench.errors import ResbenchError, SolverError
from resbench.solvers.cd import solve_cd
from resbench.solvers.reference import solve_reference

ATOL = 1e-9


@st.composite
def small_drns(draw):
    """A small DRN: 1-4 pixels, 0-2 hidden layers of 2-6 units, 1-4 outputs; weights
    in [0, 2] with zeros (every unit keeps one conductance towards the inputs),
    biases zero or random, input gain 0.1-5; a batch of 1-4 inputs in [-1, 1]."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    pixels = draw(st.integers(1, 4))
    hidden = draw(st.lists(st.sampled_from([2, 4, 6]), min_size=0, max_size=2))
    n_out = draw(st.integers(1, 4))
    sizes = (2 * pixels, *hidden, n_out)
    zero_frac = draw(st.sampled_from([0.0, 0.3, 0.6]))
    weights = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        w = rng.uniform(0, 2, (a, b)) * (rng.random((a, b)) >= zero_frac)
        empty = np.flatnonzero(w.sum(axis=0) == 0)
        w[rng.integers(0, a, empty.size), empty] = rng.uniform(0.1, 2, empty.size)
        weights.append(w)
    biases = None
    if draw(st.booleans()):
        biases = [rng.normal(0, 1.0, n) for n in sizes[1:]]
    gain = draw(st.sampled_from([0.1, 1.0, 5.0]))
    d = Drn(sizes, weights, biases, input_gain=gain)
    x = rng.uniform(-1, 1, (draw(st.integers(1, 4)), pixels))
    targets = np.eye(n_out)[rng.integers(0, n_out, x.shape[0])]
    return d, x, targets


def node_voltages(d: Drn, x: np.ndarray, state: DrnState, b: int, targets=None) -> np.ndarray:
    """Sample b's answer as circuit node voltages (to_circuit's node order)."""
    p = d.to_paper_params(x[b])
    v = np.zeros(len(p.nodes) + (0 if targets is None else d.sizes[-1]))
    v[p.layer_nodes[0]] = p.input_state
    for k in range(1, len(d.sizes)):
        v[p.layer_nodes[k]] = state.layers[k - 1][b]
    if targets is not None:
        v[len(p.nodes) :] = targets[b]
    return v


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_drns(), st.sampled_from([0.0, 0.5, 2.0]))
def test_agrees_with_the_reference_solver_and_certifies(case, beta):
    d, x, targets = case
    t = targets if beta else None
    got = solve_drn(d, x, targets=t, beta=beta)
    assert got.sweeps.shape == (x.shape[0],) and np.all(got.sweeps >= 1)
    for b in range(x.shape[0]):
        c = d.to_circuit(x[b], targets=None if t is None else t[b], beta=beta)
        want = solve_reference(c).voltages
        mine = node_voltages(d, x, got, b, t)
        np.testing.assert_allclose(mine, want, rtol=0, atol=ATOL)
        np.testing.assert_allclose(mine, solve_cd(c).voltages, rtol=0, atol=ATOL)
        cert = certify(c, mine)
        assert cert.ok, cert
        # the reported residual is the circuit's KCL imbalance (A), at round-off
        assert got.residual[b] <= 1e-9 * max(1.0, float(np.abs(want).max())) * d.g_unit * 10


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_agrees_with_the_batch_network(beta):
    rng = np.random.default_rng(7)
    d = Drn.init((10, 6, 4, 3), input_gain=3.0, weight_gains=(2.0, 2.0, 2.0), seed=7)
    for b in d.biases:
        b[:] = rng.normal(0, 0.5, b.shape)
    x = rng.uniform(0, 1, (9, 5))
    targets = np.eye(3)[rng.integers(0, 3, 9)]
    t = targets if beta else None
    got = solve_drn(d, x, targets=t, beta=beta)
    c = d.to_circuit(x[0], targets=None if t is None else t[0], beta=beta)
    names = [f"vin{j}" for j in range(10)] + ([f"vt{j}" for j in range(3)] if beta else [])
    net = Network(c, names)
    p = d.to_paper_params(x[0])
    xin = d.input_state(x)
    values = np.zeros((9, len(names)))
    values[:, :10] = xin[:, np.argsort(np.concatenate([np.arange(0, 10, 2), np.arange(1, 10, 2)]))]
    if beta:
        values[:, 10:] = targets
    res = net.solve_batch(values)
    assert res.ok.all()
    for k in range(1, 4):
        np.testing.assert_allclose(
            got.layers[k - 1], res.voltages[:, p.layer_nodes[k]], rtol=0, atol=ATOL
        )


def _naive_kkt(d: Drn, x_in: np.ndarray, layers: list[np.ndarray], t, beta) -> float:
    """Largest violation of the KKT conditions of E + β·½‖o − t‖² at the given state,
    unit by unit with Python loops: gradient 0 inside, pointing out at a diode bound."""
    s = [x_in, *layers]
    worst = 0.0
    L = len(d.sizes) - 1
    for k in range(1, L + 1):
        n = d.sizes[k]
        for j in range(n):
            g = -d.biases[k - 1][j]
            for i in range(d.sizes[k - 1]):
                g += d.weights[k - 1][i, j] * (s[k][j] - s[k - 1][i])
            if k < L:
                for m in range(d.sizes[k + 1]):
                    g += d.weights[k][j, m] * (s[k][j] - s[k + 1][m])
            else:
                g += beta * (s[k][j] - t[j])
            v = s[k][j]
            if k < L and j < n // 2:  # v >= 0
                viol = abs(g) if v > 0 else max(-g, 0.0)
                viol = max(viol, -v)
            elif k < L:  # v <= 0
                viol = abs(g) if v < 0 else max(g, 0.0)
                viol = max(viol, v)
            else:
                viol = abs(g)
            worst = max(worst, viol)
    return worst


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_drns())
def test_negative_nudge_satisfies_kkt(case):
    d, x, targets = case
    free = solve_drn(d, x)
    beta = 0.5 * float(d.weights[-1].sum(axis=0).min())  # keeps colsum - beta > 0
    try:
        got = solve_drn(d, x, targets=targets, beta=-beta, warm=free)
    except SolverError as exc:  # a -beta phase that is not convex: said so
        assert "not convex" in str(exc)
        return
    x_in = d.input_state(x)
    for b in range(x.shape[0]):
        layers = [s[b] for s in got.layers]
        scale = max(1.0, float(np.abs(x_in[b]).max())) * max(1.0, float(d.weights[0].max()))
        assert _naive_kkt(d, x_in[b], layers, targets[b], -beta) <= 1e-9 * scale


def test_warm_start_same_answer_fewer_sweeps():
    d = Drn.init((16, 8, 4), input_gain=2.0, weight_gains=(1.0, 1.0), seed=1)
    x = np.random.default_rng(1).uniform(0, 1, (5, 8))
    t = np.eye(4)[[0, 1, 2, 3, 0]]
    free = solve_drn(d, x)
    cold = solve_drn(d, x, targets=t, beta=0.1)
    warm = solve_drn(d, x, targets=t, beta=0.1, warm=free)
    for a, b in zip(cold.layers, warm.layers, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    assert warm.sweeps.sum() < cold.sweeps.sum()
    again = solve_drn(d, x, warm=free)
    assert np.all(again.sweeps < free.sweeps)


def test_float32_close_to_float64():
    d = Drn.init((40, 20, 10, 5), input_gain=5.0, weight_gains=(1.0, 1.0, 1.0), seed=2)
    x = np.random.default_rng(2).uniform(0, 1, (6, 20))
    t = np.eye(5)[[0, 1, 2, 3, 4, 0]]
    for beta in (0.0, 1.0, -0.1):
        a = solve_drn(d, x, targets=t if beta else None, beta=beta)
        b = solve_drn(d.copy(np.float32), x, targets=t if beta else None, beta=beta)
        assert b.layers[0].dtype == np.float32
        scale = float(np.abs(d.input_state(x)).max())
        for u, v in zip(a.layers, b.layers, strict=True):
            np.testing.assert_allclose(v, u, rtol=0, atol=1e-5 * scale)


def test_undefined_or_non_convex_phases_are_clear_errors():
    w0 = np.array([[1.0, 0.0], [1.0, 0.0]])  # hidden unit 1 has no input conductance
    w1 = np.array([[1.0], [0.0]])  # … nor an output one: no conductance at all
    d = Drn((2, 2, 1), [w0, w1])
    with pytest.raises(SolverError, match="no conductance"):
        solve_drn(d, np.ones((1, 1)))
    # unit 1 of the hidden layer reaches only the output, which reaches nothing else
    d = Drn((2, 2, 2), [np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 0.0], [1.0, 1.0]])])
    with pytest.raises(SolverError, match="no conductive path"):
        solve_drn(d, np.ones((1, 1)))
    # ... but nudged, the output is held by its target: defined
    st_ = solve_drn(d, np.ones((1, 1)), targets=np.array([[0.0, 1.0]]), beta=1.0)
    assert np.isfinite(st_.output).all()
    d = Drn((2, 2, 1), [np.ones((2, 2)), np.full((2, 1), 0.25)])
    with pytest.raises(SolverError, match="not convex"):
        solve_drn(d, np.ones((1, 1)), targets=np.ones((1, 1)), beta=-0.5)
    with pytest.raises(ResbenchError, match="needs targets"):
        solve_drn(d, np.ones((1, 1)), beta=0.5)
    with pytest.raises(ResbenchError, match="targets must have shape"):
        solve_drn(d, np.ones((1, 1)), targets=np.ones((2, 1)), beta=0.5)
    with pytest.raises(ResbenchError, match="warm start"):
        solve_drn(
            d, np.ones((1, 1)), warm=DrnState([np.zeros((1, 3))] * 2, np.zeros(1), np.zeros(1))
        )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numba_and_numpy_sweeps_agree(monkeypatch, dtype):
    """Small free-to-free weights sweep in numba sample by sample, large ones in numpy
    over the batch: the same sweeps, the same answer."""
    from resbench.drn import solver

    rng = np.random.default_rng(11)
    d = Drn.init((12, 8, 6, 4), input_gain=2.0, weight_gains=(1.5, 1.5, 1.5), seed=11, dtype=dtype)
    for b in d.biases:
        b[:] = rng.normal(0, 0.3, b.shape)
    x = rng.uniform(0, 1, (7, 6))
    t = np.eye(4)[rng.integers(0, 4, 7)]
    for beta in (0.0, 0.5, -0.2):
        kw = {"targets": t, "beta": beta} if beta else {}
        a = solve_drn(d, x, **kw)
        monkeypatch.setattr(solver, "_KERNEL_BYTES", -1)
        b = solve_drn(d, x, **kw)
        monkeypatch.undo()
        tol = 1e-12 if dtype == np.float64 else 1e-5
        for u, v in zip(a.layers, b.layers, strict=True):
            np.testing.assert_allclose(u, v, rtol=0, atol=tol * 2.0)
        if dtype == np.float64:
            np.testing.assert_array_equal(a.sweeps, b.sweeps)


@pytest.mark.spice
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_exported_netlist_agrees_with_ngspice(tmp_path, beta):
    """The exported circuit, written as a netlist and read back, solved by ngspice
    (ideal diodes as its switch model), has solve_drn's voltages within DEFAULT_ATOL."""
    from resbench.defaults import DEFAULT_ATOL
    from resbench.netlist import read_netlist, write_netlist
    from resbench.solvers.ngspice import solve_ngspice

    rng = np.random.default_rng(3)
    d = Drn.init((8, 6, 4), input_gain=2.0, weight_gains=(1.0, 1.0), seed=3)
    for b in d.biases:
        b[:] = rng.normal(0, 0.3, b.shape)
    x = rng.uniform(0, 1, (1, 4))
    t = np.eye(4)[[2]]
    got = solve_drn(d, x, targets=t if beta else None, beta=beta)
    path = tmp_path / "drn.cir"
    path.write_text(write_netlist(d.to_circuit(x[0], targets=t[0] if beta else None, beta=beta)))
    c = read_netlist(path)
    sol = solve_ngspice(c)
    mine = node_voltages(d, x, got, 0, t if beta else None)
    idx = c.node_index()
    p = d.to_paper_params(x[0])
    names = list(p.nodes) + ([f"t{j}" for j in range(4)] if beta else [])
    want = np.array([sol.voltages[idx[n]] for n in names])
    np.testing.assert_allclose(mine, want, rtol=0, atol=DEFAULT_ATOL)
