"""Network / solve_batch (issue 12): a batch equals a loop of single solves.

The reference for every sample is ``resbench.solve`` on the equivalent single circuit
(:func:`with_values`), itself tested against the KKT/Lemke reference and brute force;
and every converged sample must pass the optimality certificate of that circuit.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import examples, random_circuits

from resbench import parse_netlist, read_netlist, solve
from resbench.batch import BatchResult, Network, network
from resbench.batch.network import input_sources, with_values
from resbench.certificate import certify
from resbench.errors import CircuitError, InputError, ResbenchError
from resbench.generate import drn, grid

NETLISTS = Path(__file__).resolve().parent.parent / "netlists"
REL = 1e-9  # agreement with the single solver, relative to the voltage scale


def _scale(v: np.ndarray) -> float:
    return max(1e-3, float(np.max(np.abs(v))))


def _single(circuit, names, s, **kw):
    try:
        return solve(with_values(circuit, names, s), **kw)
    except ResbenchError:
        return None


def _check_against_loop(circuit, net: Network, S: np.ndarray, res: BatchResult) -> int:
    """Every sample equals the single solver on its circuit; returns how many solved."""
    solved = 0
    for b in range(S.shape[0]):
        sol = _single(circuit, net.input_names, S[b], gmin=net.gmin)
        if sol is None:  # the single solver rejects the sample: so must the batch
            assert res.status[b] == "failed", (b, res.status[b])
            assert res.messages[b]
            assert np.all(np.isnan(res.voltages[b]))
            continue
        if not sol.ok:
            continue
        solved += 1
        assert res.status[b] == "converged", (b, res.status[b], res.messages[b])
        scale = _scale(sol.voltages)
        err = np.max(np.abs(res.voltages[b] - sol.voltages))
        assert err <= REL * scale, (b, err, scale)
        cert = certify(with_values(circuit, net.input_names, S[b]), res.voltages[b], gmin=net.gmin)
        assert cert.ok, cert.summary()
    return solved


def _random_values(net: Network, draw_floats, k: int) -> np.ndarray:
    """k samples: the netlist's values scaled and shifted by drawn amounts."""
    s0 = net.default_values()
    rows = []
    for _ in range(k):
        scale = np.array([draw_floats() for _ in range(net.n_inputs)])
        rows.append(s0 * scale + 0.25 * np.round(4 * scale) * (s0 == 0))
    return np.array(rows)


@settings(
    max_examples=examples(75),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(random_circuits(max_nodes=7, max_diodes=5), st.data())
def test_batch_equals_loop_of_single_solves(circuit, data):
    try:
        solve(circuit)
    except ResbenchError:
        return  # an infeasible netlist: Network refuses it at setup like solve
    sources = input_sources(circuit)
    if not sources:
        return
    names = data.draw(st.lists(st.sampled_from(sources), min_size=1, unique=True), label="inputs")
    try:
        net = Network(circuit, inputs=names)
    except CircuitError as exc:
        assert "loop of voltage sources" in str(exc)
        return
    k = data.draw(st.integers(1, 12), label="batch")
    fl = st.floats(-2.0, 2.0).map(lambda x: round(x * 4) / 4)
    S = _random_values(net, lambda: data.draw(fl), k)
    if net.n_inputs > 1 and data.draw(st.booleans(), label="tie columns"):
        i, j = data.draw(st.lists(st.integers(0, net.n_inputs - 1), min_size=2, max_size=2))
        S[:, j] = data.draw(st.sampled_from([-1.0, 0.0, 1.0])) * S[:, i]  # ±equal or zero
    fold = data.draw(st.booleans(), label="fold input columns")
    with mock.patch.object(network, "FOLD_MIN_ROWS", 0 if fold else 1 << 30):
        res = net.solve_batch(S)
    assert res.voltages.shape == (k, circuit.n_nodes)
    _check_against_loop(circuit, net, S, res)


STACKED = """a node held by an input source plus a fixed one (b = v1 + 1 V)
v1 a 0 1
v2 b a 1
r1 b c 1k
r2 c 0 2k
d1 c 0 dm
d2 c e dm
r3 e 0 3k
.model dm d
.end
"""


def test_fixed_voltage_moved_by_an_input_plus_a_fixed_source():
    """A fixed voltage that is not just one input's value raises each sample's voltage
    scale by its own amount (the scales' per-sample pass; with a free–free diode, so
    the sweeps' per-sample start).  Pinned: only some of the random circuits drawn by
    test_batch_equals_loop_of_single_solves reach it."""
    circuit = parse_netlist(STACKED)
    net = Network(circuit, inputs=["v1"])
    assert net._fixed_moving.size  # node b moves with v1 but is not v1's own node
    S = np.array([[0.5], [-2.0], [3.0], [0.0], [-0.25], [40.0]] * 3)
    res = net.solve_batch(S)
    assert _check_against_loop(circuit, net, S, res) == len(S)


WEAK_GROUND = """a floating input source in a weakly grounded supernode
r1 n1 0 100k
r2 n2 n1 100.002
r3 n3 0 100
r4 n4 0 100
r5 n5 n1 100
r6 n1 n2 167.957
v1 n1 n5 1.25
.end
"""


@pytest.mark.parametrize("fill", [network.DENSE_FRACTION, 2.0], ids=["dense-map", "sparse-map"])
def test_inputs_far_below_the_netlist_values_keep_their_accuracy(fill):
    """A sample's injections are the fixed sources' plus the inputs' share; the fixed
    part is computed from the circuit, not as the netlist's injections less the
    inputs' share at the netlist values (that difference left ~1e-18 A of round-off,
    which the 100 kΩ ground turned into -1.04e-12 V where the exact answer is 0: over
    1e-9 of the 1e-3 V scale floor).  Pinned from an explore-profile draw of
    test_batch_equals_loop_of_single_solves."""
    circuit = parse_netlist(WEAK_GROUND)
    with mock.patch.object(network, "DENSE_FRACTION", fill):  # (read at set-up)
        net = Network(circuit, inputs=["v1"])
    assert (net._A_dense is None) == (fill > 1)
    S = np.array([[0.0], [1e-9], [-1e-6], [1.25]])
    res = net.solve_batch(S)
    assert np.all(res.voltages[0] == 0.0)
    assert _check_against_loop(circuit, net, S, res) == len(S)


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(random_circuits(max_nodes=7, max_diodes=5), st.data())
def test_batch_with_tiny_or_zero_inputs_equals_single_solves(circuit, data):
    """Inputs many orders below the netlist's values (zero included) keep the single
    solver's accuracy relative to their own, smaller, voltage scale; with every source
    an input, all at zero, every voltage is exactly zero (nothing drives the circuit:
    the injections are zero, not a round-off left by a cancellation)."""
    try:
        solve(circuit)
    except ResbenchError:
        return
    sources = input_sources(circuit)
    if not sources:
        return
    every = data.draw(st.booleans(), label="every source an input")
    names = (
        list(sources)
        if every
        else data.draw(st.lists(st.sampled_from(sources), min_size=1, unique=True), label="inputs")
    )
    fill = 2.0 if data.draw(st.booleans(), label="sparse input map") else network.DENSE_FRACTION
    try:
        with mock.patch.object(network, "DENSE_FRACTION", fill):
            net = Network(circuit, inputs=names)
    except CircuitError:
        return
    tiny = st.sampled_from([0.0, 1e-9, -1e-7, 3e-6])
    S = np.array(
        [[data.draw(tiny) for _ in range(net.n_inputs)] for _ in range(3)]
        + [np.zeros(net.n_inputs)]
    )
    res = net.solve_batch(S)
    _check_against_loop(circuit, net, S, res)
    if every and res.status[-1] == "converged":
        assert np.all(res.voltages[-1] == 0.0), res.voltages[-1]


@pytest.mark.parametrize(
    "name",
    [
        "drn_small.cir",
        "divider.cir",
        "floating_sources.cir",
        "clipper.cir",
        "grid_clamps.cir",
        "every_construct.cir",
        "diode_and.cir",
        "series_diodes.cir",
        "stall.cir",
        "isource_diode.cir",
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_bundled_netlists_batch_equals_loop(name, dtype):
    circuit = read_netlist(NETLISTS / name)
    net = Network(circuit)
    rng = np.random.default_rng(7)
    s0 = net.default_values()
    S = s0 * rng.uniform(-1.5, 1.5, (10, net.n_inputs)) + rng.uniform(-1, 1, (10, net.n_inputs)) * (
        s0 == 0
    )
    if dtype == "float64":
        res = net.solve_batch(S)
        assert _check_against_loop(circuit, net, S, res) >= 1
    else:
        res = net.solve_batch(S, dtype=np.float32)
        ref = net.solve_batch(S)
        ok = ref.status == "converged"
        # float32: within its documented precision (1e-5 of the voltage scale), and the
        # float64 certificate at rtol 1e-5 says so honestly
        scale = np.maximum(1e-3, np.abs(ref.voltages).max(axis=1))
        err = np.abs(res.voltages[ok] - ref.voltages[ok]).max(axis=1, initial=0.0)
        assert np.all(err <= 1e-5 * scale[ok])
        assert np.all(res.certificate.ok[ok & (res.status == "converged")])


def test_drn_batch_inputs_subset_and_order():
    c = drn([12, 6, 3], seed=3, bias=True)
    names = [n for n in c.vsources.names][:12][::-1]  # a subset, in another order
    net = Network(c, inputs=names)
    assert net.input_names == names
    rng = np.random.default_rng(1)
    S = rng.uniform(-2, 2, (40, len(names)))
    res = net.solve_batch(S, currents=True)
    assert res.certificate is not None and res.certificate.ok.all()
    assert _check_against_loop(c, net, S, res) == 40
    # currents: the certificate's multipliers of each sample's circuit
    for b in (0, 17, 39):
        cert = certify(with_values(c, names, S[b]), res.voltages[b])
        np.testing.assert_allclose(res.diode_current[b], cert.diode_current, atol=1e-12)
        np.testing.assert_allclose(res.vsource_current[b], cert.vsource_current, atol=1e-12)


def test_current_source_and_floating_source_inputs():
    # V1 floating between a and b, I1 into a, RG to ground; both as inputs
    c = parse_netlist(
        "t\nr1 a 0 1k\nr2 b c 2k\nr3 c 0 1k\nv1 a b 1\ni1 0 a 1m\nd1 c 0 d\n.model d d\n.end\n"
    )
    net = Network(c, inputs=["I1", "v1"])
    S = np.array([[1e-3, 1.0], [-2e-3, 0.5], [5e-3, -3.0], [0.0, 0.0]])
    res = net.solve_batch(S)
    assert _check_against_loop(c, net, S, res) == 4


def test_free_free_diodes_are_polished_per_sample():
    c = grid(5, 5, free_free_diodes=True)
    net = Network(c)
    rng = np.random.default_rng(3)
    S = net.default_values() * rng.uniform(0.5, 1.5, (12, net.n_inputs))
    res = net.solve_batch(S)
    assert net._problem.n_ff_diodes > 0 and res.polished.all()
    assert _check_against_loop(c, net, S, res) >= 10


def test_warm_start_from_a_previous_batch():
    c = drn([10, 8, 4], seed=5)
    net = Network(c)
    rng = np.random.default_rng(5)
    S = net.default_values() * rng.uniform(0, 1, (16, net.n_inputs))
    free = net.solve_batch(S)
    again = net.solve_batch(S, warm_start=free)
    assert np.all(again.sweeps <= free.sweeps)
    assert np.max(np.abs(again.voltages - free.voltages)) <= 1e-9 * _scale(free.voltages)
    nudged = net.solve_batch(S * 1.01, warm_start=free.voltages)
    assert _check_against_loop(c, net, S * 1.01, nudged) == 16


def test_one_or_two_samples_sweep_singly_with_the_same_answer():
    c = drn([10, 8, 4], seed=9, bias=True)
    net = Network(c)
    rng = np.random.default_rng(9)
    S = net.default_values() * rng.uniform(0, 1, (2, net.n_inputs))
    few = net.solve_batch(S)  # below SINGLE_BELOW: the single solver's kernel per sample
    many = net.solve_batch(np.repeat(S, 8, axis=0))
    assert np.max(np.abs(few.voltages - many.voltages[::8])) <= 1e-9 * _scale(many.voltages)
    assert _check_against_loop(c, net, S, few) == 2


def test_solve_one_input_gives_a_solution():
    c = read_netlist(NETLISTS / "drn_small.cir")
    net = Network(c)
    sol = net.solve()
    ref = solve(c)
    assert sol.status == "converged" and sol.certificate is not None and sol.certificate.ok
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= 1e-9 * _scale(ref.voltages)
    assert sol.timings["setup"] == 0.0


def test_certify_a_sample_count():
    c = drn([8, 5, 2], seed=2)
    net = Network(c)
    S = np.tile(net.default_values(), (10, 1))
    res = net.solve_batch(S, certify=3)
    assert res.certificate.checked.sum() == 3
    assert res.certificate.ok[res.certificate.checked].all()
    res = net.solve_batch(S, certify=False)
    assert res.certificate is None


def test_infeasible_sample_is_a_failed_row_with_the_reason():
    # v1 holds the anode of d1 whose cathode is ground: v1 > 0 forces it to conduct
    c = parse_netlist("t\nr1 b 0 1k\nr2 a b 1k\nv1 a 0 -1\nd1 a 0 d\n.model d d\n.end\n")
    net = Network(c)
    res = net.solve_batch(np.array([[-1.0], [2.0], [-0.5]]))
    assert list(res.status) == ["converged", "failed", "converged"]
    assert "d1" in res.messages[1] and "zero resistance" in res.messages[1]
    assert np.isnan(res.voltages[1]).all() and np.isfinite(res.voltages[[0, 2]]).all()


def test_bad_inputs_are_clear_errors():
    c = read_netlist(NETLISTS / "divider.cir")
    with pytest.raises(CircuitError, match="not a voltage or current source"):
        Network(c, inputs=["nope"])
    with pytest.raises(CircuitError, match="twice"):
        Network(c, inputs=["v1", "V1"])
    net = Network(c)
    with pytest.raises(InputError, match="shape"):
        net.solve_batch(np.zeros((3, 2)))
    with pytest.raises(InputError, match="finite"):
        net.solve_batch(np.array([[1.0], [np.nan]]))
    with pytest.raises(InputError, match="finite"):
        net.solve_batch(np.array([[np.inf]]))
    with pytest.raises(InputError, match="no input samples"):
        net.solve_batch(np.zeros((0, 1)))
    with pytest.raises(InputError, match="not numbers"):
        net.solve_batch([["x"]])
    with pytest.raises(InputError, match="warm_start"):
        net.solve_batch(np.ones((2, 1)), warm_start=np.zeros((3, 3)))


def test_a_batch_that_does_not_fit_is_refused_before_allocating(monkeypatch):
    from resbench.batch import network

    net = Network(read_netlist(NETLISTS / "drn_small.cir"))
    monkeypatch.setattr(network, "available_memory", lambda **kw: 1 << 20)
    monkeypatch.setattr(network, "SMALL_BATCH_BYTES", 0)
    with pytest.raises(InputError, match="GiB"):
        net.solve_batch(np.zeros((100_000, net.n_inputs)))


def test_a_batch_loop_reuses_a_recent_reading_of_free_memory(monkeypatch):
    """Reading free memory costs ~0.3 ms (psutil and cgroup files): a batch that needs
    at most half of a reading under a second old goes by it; one that needs more reads
    again before it is refused (never refused on an old reading)."""
    import time

    from resbench import memory
    from resbench.batch import network

    reads = []

    def fake(value):
        def read():
            reads.append(value)
            return value

        return read

    net = Network(read_netlist(NETLISTS / "drn_small.cir"))
    S = np.tile(net.default_values(), (8, 1))
    need = net.estimate_bytes(8)
    monkeypatch.setattr(network, "SMALL_BATCH_BYTES", 0)
    monkeypatch.setattr(memory, "_read_available", fake(1 << 40))
    monkeypatch.setattr(memory, "_LAST", None)
    net.solve_batch(S, certify=False)
    net.solve_batch(S, certify=False)
    assert reads == [1 << 40]  # read once, then reused
    monkeypatch.setattr(memory, "_LAST", (time.monotonic() - 5.0, 1 << 40))
    net.solve_batch(S, certify=False)
    assert len(reads) == 2  # too old: read again
    # a recent reading that the batch would more than half fill: read again, then refuse
    monkeypatch.setattr(memory, "_LAST", (time.monotonic(), need + 1))
    monkeypatch.setattr(memory, "_read_available", fake(need // 4))
    with pytest.raises(InputError, match="GiB"):
        net.solve_batch(S, certify=False)
    assert reads[-1] == need // 4
    # and a reading that shows enough after all is not refused
    monkeypatch.setattr(memory, "_LAST", (time.monotonic(), need + 1))
    monkeypatch.setattr(memory, "_read_available", fake(need * 4))
    assert net.solve_batch(S, certify=False).ok.all()
    assert memory.available_memory() == need * 4 and memory.available_memory(max_age=60) == need * 4


def test_input_in_a_loop_of_voltage_sources_is_refused():
    c = parse_netlist("t\nr1 a 0 1k\nv1 a 0 1\nv2 a 0 1\n.end\n")
    with pytest.raises(CircuitError, match="loop of voltage sources"):
        Network(c, inputs=["v2"])


def test_paired_and_zero_inputs_fold_with_the_same_answer(monkeypatch):
    """cat(x, −x) inputs with zero pixels (a DRN's input layer): the GEMM runs over the
    distinct columns only, and every sample still equals its single solve."""
    from resbench.batch import network

    monkeypatch.setattr(network, "FOLD_MIN_ROWS", 0)  # fold on this small network too
    c = drn([16, 9, 3], seed=4, bias=True)
    net = Network(c, inputs=[n for n in c.vsources.names if n.startswith("vin")])
    assert net.n_inputs == 16 and net._A_dense is not None
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, (24, 8))
    x[:, :3] = 0.0  # pixels that are 0 in every sample
    x[:, 5] = x[:, 4]  # two pixels equal in every sample
    S = np.concatenate([x, -x], axis=1)
    res = net.solve_batch(S)
    res32 = net.solve_batch(S, dtype=np.float32)
    scale = np.abs(res.voltages).max(axis=1, keepdims=True)
    assert np.all(np.abs(res32.voltages - res.voltages) <= 1e-5 * scale)
    A, ST = net._folded(S, np.dtype(np.float64))
    assert A.shape[1] == ST.shape[0] == 4  # 16 columns → 4 distinct up to sign
    assert any(v.shape[1] == 4 for v in net._fold_cache.values())  # the solve used it
    np.testing.assert_allclose(A @ ST, net._A_dense @ S.T, rtol=1e-13, atol=1e-18)
    assert _check_against_loop(c, net, S, res) == 24
    # and nothing to fold: the map itself (row-major, kept), in its own column order
    S2 = rng.uniform(0.1, 1, (8, 16))
    A2, ST2 = net._folded(S2, np.dtype(np.float64))
    assert np.array_equal(A2, net._A_dense) and A2.flags.c_contiguous
    assert np.array_equal(ST2, S2.T)
    assert net._folded(S2, np.dtype(np.float64))[0] is A2


def test_fold_survives_key_collisions(monkeypatch):
    """A probe vector that gives every column the same key (a collision everywhere):
    the grouping falls back to exact neighbour checks, and the product is unchanged."""
    from resbench.batch import network

    monkeypatch.setattr(network, "FOLD_MIN_ROWS", 0)
    c = drn([16, 9, 3], seed=5, bias=True)
    net = Network(c, inputs=[n for n in c.vsources.names if n.startswith("vin")])
    monkeypatch.setattr(net, "_probe_vector", lambda B: np.zeros(B))
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (12, 8))
    x[:, 2] = x[:, 1]  # equal neighbours: still folded
    x[:, 6] = x[:, 0]  # equal but far apart: kept apart (exact, just less folding)
    S = np.concatenate([x, -x], axis=1)
    A, ST = net._folded(S, np.dtype(np.float64))
    assert A.shape[1] < 16
    np.testing.assert_allclose(A @ ST, net._A_dense @ S.T, rtol=1e-13, atol=1e-18)
    res = net.solve_batch(S, certify=False)
    assert _check_against_loop(c, net, S, res) == 12


def test_voltages_into_a_given_array():
    """``out=``: the voltages are written into the caller's rows (the result's voltages
    are that array), the same numbers as a fresh array; a wrong shape, dtype, layout or
    a read-only array is a clear error."""
    c = drn([12, 8, 3], seed=4)
    net = Network(c)
    vals = np.random.default_rng(0).uniform(-1, 1, (20, net.n_inputs))
    whole = np.full((30, c.n_nodes), np.nan)
    res = net.solve_batch(vals, out=whole[5:25])
    assert np.shares_memory(res.voltages, whole) and res.voltages.base is not None
    assert np.array_equal(whole[5:25], net.solve_batch(vals).voltages)
    assert np.isnan(whole[:5]).all() and np.isnan(whole[25:]).all()
    ro = np.zeros((20, c.n_nodes))
    ro.setflags(write=False)
    for bad in (
        np.zeros((19, c.n_nodes)),
        np.zeros((20, c.n_nodes), dtype=np.float32),
        np.zeros((c.n_nodes, 20)).T,
        ro,
        [[0.0] * c.n_nodes] * 20,
    ):
        with pytest.raises(InputError, match="out must be"):
            net.solve_batch(vals, out=bad)


def test_chunked_solves_into_the_answer_rows():
    """solve_chunked hands each chunk its rows of the whole answer (no fresh array and
    copy per chunk): the same answer as one batch, every chunk size."""
    from resbench.batch.chunked import solve_chunked

    c = drn([12, 8, 3], seed=5)
    net = Network(c)
    vals = np.random.default_rng(1).uniform(-1, 1, (23, net.n_inputs))
    want = net.solve_batch(vals).voltages
    for chunk in (1, 7, 23, 64):
        got = solve_chunked(net, vals, chunk=chunk)
        assert np.allclose(got.voltages, want, rtol=0, atol=1e-12) and got.ok.all()


@pytest.mark.parametrize("inputs", [None, []])
def test_a_network_without_inputs_solves_and_certifies(inputs):
    """No source at all (or none named): every sample is the circuit as written, and the
    certificate takes the circuit's own values (it was once handed an empty values
    array, which it refused)."""
    c = parse_netlist(
        "no sources\ni1 0 a 1m\nr1 a 0 1k\nr2 a b 2k\nd1 b 0 dm\nr3 b 0 4k\n.model dm d\n.end\n"
    )
    net = Network(c, inputs=inputs)
    assert net.n_inputs == 0 if inputs == [] else net.input_names == ["i1"]
    ref = solve(c)
    sol = net.solve()
    assert sol.ok and sol.certificate.ok
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= REL * _scale(ref.voltages)
    res = net.solve_batch(np.zeros((3, net.n_inputs)) + net.default_values(), currents=True)
    assert res.certificate.ok.all() and res.ok.all()
    assert np.allclose(res.diode_current, ref.diode_current, rtol=1e-9, atol=1e-15)
