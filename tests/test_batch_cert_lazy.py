"""The batch certificate's per-(row, sample) bounds of source-held rows are exact.

Without the voltage sources' currents (``currents=False``), BatchCertifier bounds the
total current at each node held by a grounded source (a DRN's inputs) from its
neighbours' voltage range, and multiplies the row in float32 for one sample only
where that range bound can reach the sample's scale (``_lazy_bounds``).  The scales
(i_scale, v_scale) must stay the scalar certificate's: these tests compare with
:func:`resbench.certificate.certify` on random circuits and on cases where the
bounds are tight or degenerate (equal voltages, zero inputs, one held row, ties for
the maximum), and check the kernel's pruning against totals summed directly.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples, random_circuits
from test_batch_certificate import _close, _exact_batch

import resbench.batch.certificate as batch_certificate
from resbench.batch._certificate_kernels import _lazy_bounds
from resbench.batch.certificate import BatchCertifier
from resbench.batch.network import with_values
from resbench.certificate import certify
from resbench.circuit import Branches, Circuit, make_circuit
from resbench.errors import ResbenchError
from resbench.generate import drn

SETTINGS = dict(deadline=None, database=None)
B = Branches.from_lists


def _matches_scalar(
    bc: BatchCertifier, volts: np.ndarray, values: np.ndarray | None = None
) -> None:
    """certify(currents=False) equals the scalar certificate on every sample."""
    got = bc.certify(volts, values, rtol=1e-9, currents=False)
    assert got.vsource_current is None
    for b in range(volts.shape[0]):
        c = bc.circuit if values is None else with_values(bc.circuit, bc.input_names, values[b])
        ref = certify(c, volts[b], rtol=1e-9, gmin=bc.gmin)
        where = f"sample {b}: batch {got.ok[b]} scalar {ref.summary()}"
        assert got.ok[b] == ref.ok, where
        for name in ("feas_tol", "kcl_tol", "comp_tol"):
            assert _close(getattr(got, name)[b], getattr(ref, name), 0.0), (name, where)
        assert _close(got.feasibility[b], ref.feasibility, ref.v_scale), where
        assert _close(got.kcl[b], ref.kcl, ref.i_scale), where
        # a diode across a short (a 0 Ω resistor) has no unique current: the two
        # certificates may pick different valid ones, whose products with round-off
        # voltages differ below the tolerance (explore profile, seed 699: 0 against
        # 4e-13 W, tolerance 3e-12 W); elsewhere, round-off
        shorted = bool(np.any(bc.circuit.resistors.value == 0.0))
        slack = 1e-9 if shorted else 1e-11
        assert abs(got.complementarity[b] - ref.complementarity) <= (
            1e-9 * ref.complementarity + slack * ref.v_scale * ref.i_scale + 1e-300
        ), where


# ------------------------------------------------------------ random circuits
@settings(max_examples=examples(60), **SETTINGS)
@given(random_circuits(max_nodes=7, max_diodes=5), st.integers(0, 2**31 - 1))
def test_random_circuits_without_currents_match_scalar(circuit: Circuit, seed: int) -> None:
    _random_case(circuit, seed)


def _random_case(circuit: Circuit, seed: int) -> None:
    """The exact answer and its perturbations (when the circuit is feasible) and three
    random voltage vectors, certified both ways."""
    try:
        v = _exact_batch(circuit, 0.0, seed)
    except ResbenchError:
        v = None
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(3, circuit.n_nodes)) * 5.0
    noise[:, 0] = 0.0
    v = noise if v is None else np.vstack([v, noise])
    _matches_scalar(BatchCertifier(circuit), v)


def test_a_diode_across_a_short_may_carry_either_valid_current() -> None:
    """The explore profile's case (seed 699): d2 from n1 to n2 across r11, a 0 Ω short.
    Its current is not unique; the batch and the scalar certificate pick different
    valid ones (complementarity 0 and 4e-13 W against a tolerance of 3e-12 W), with
    the same verdicts."""
    c = make_circuit(
        title="a diode across a short",
        nodes=["0", "n1", "n2", "n3", "n4", "n5", "n6"],
        resistors=B(
            [f"r{k}" for k in range(1, 13)],
            [1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 1, 1],
            [0, 0, 0, 0, 0, 0, 3, 2, 2, 1, 2, 6],
            [1000.0, 100.0, 100.0, 100.0, 1000.0, 1000.0, 177.828, 100.0, 100.0, 1000.0,
             0.0, 0.0],
        ),
        diodes=B(["d1", "d2", "d3", "d4"], [3, 1, 2, 1], [1, 2, 5, 5], [0.0] * 4),
        isources=B(["i1", "i2"], [0, 0], [5, 1], [-0.00175, 0.00025]),
        diode_models=["d"] * 4,
    )  # fmt: skip
    _random_case(c, 699)


@settings(max_examples=40, **SETTINGS)
@given(random_circuits(max_nodes=6, max_diodes=4, islands=1), st.integers(0, 2**31 - 1))
def test_random_circuits_with_gmin_without_currents_match_scalar(
    circuit: Circuit, seed: int
) -> None:
    """gmin adds a known part to every node's total, held rows included."""
    try:
        v = _exact_batch(circuit, 1e-6, seed)
    except ResbenchError:
        return
    if v is not None:
        _matches_scalar(BatchCertifier(circuit, gmin=1e-6), v)


# ------------------------------------------------------------ DRN, degenerate cases
LAYERS = [40, 30, 4]


@pytest.fixture(scope="module")
def net_values() -> tuple[BatchCertifier, np.ndarray, np.ndarray]:
    """A small DRN (inputs in pairs x, -x) solved on pixels with ties (many saturated
    pixels of one value), zero pixels and one all-dark sample."""
    from resbench.batch import Network

    c = drn(LAYERS, seed=7)
    net = Network(c, inputs=list(c.vsources.names))
    rng = np.random.default_rng(3)
    m = LAYERS[0] // 2
    pixels = np.where(rng.random((12, m)) < 0.4, 1.0, 0.0)  # saturated or dark: ties
    pixels[3] = 0.0  # a dark sample: every input 0
    pixels[4] = 1.0  # every pixel saturated
    pixels[5, : m // 2] = 0.25
    values = np.empty((12, 2 * m))
    values[:, 0::2] = 2.0 * pixels
    values[:, 1::2] = -2.0 * pixels
    volts = net.solve_batch(values, certify=False).voltages
    bc = BatchCertifier(c, inputs=net.input_names)
    assert bc._pin32 is not None, "the inputs' rows are multiplied per sample"
    return bc, volts, values


def test_drn_ties_and_zero_inputs_match_scalar(net_values, monkeypatch) -> None:
    bc, volts, values = net_values
    seen: list[int] = []
    real = batch_certificate.scale_maxima

    def spy(*args):
        seen.append(int(args[26].size))  # lazy_rows
        return real(*args)

    monkeypatch.setattr(batch_certificate, "scale_maxima", spy)
    _matches_scalar(bc, volts, values)
    assert seen == [int(bc._pinned_rows.sum())], "every input row is bounded lazily"


@settings(max_examples=25, **SETTINGS)
@given(
    st.integers(2, 12),
    st.integers(9, 30),
    st.integers(1, 3),
    st.integers(0, 2**31 - 1),
    st.sampled_from([(0.0, 1.0), (0.0, 0.5, 1.0), None]),
)
def test_random_drns_without_currents_match_scalar(
    m: int, hidden: int, out: int, seed: int, levels: tuple[float, ...] | None
) -> None:
    """DRNs of random sizes on pixels of few levels (ties, zeros) or any value."""
    from resbench.batch import Network

    c = drn([2 * m, hidden, out], seed=seed % 1000)
    net = Network(c, inputs=list(c.vsources.names))
    rng = np.random.default_rng(seed)
    pixels = rng.choice(levels, (6, m)) if levels else rng.random((6, m))
    values = np.empty((6, 2 * m))
    values[:, 0::2] = 3.0 * pixels
    values[:, 1::2] = -3.0 * pixels
    volts = net.solve_batch(values, certify=False).voltages
    volts[5, 1 + m] += 1e-6  # one sample off its answer
    _matches_scalar(BatchCertifier(c, inputs=net.input_names), volts, values)


def test_drn_equal_voltages_match_scalar(net_values) -> None:
    """Every node at one voltage: every total is 0 (the floors decide), and with the
    inputs' values off by a little, every held row is one-sided with a tiny total."""
    bc, volts, values = net_values
    n = volts.shape[1]
    flat = np.zeros((4, n))
    flat[1, 1:] = 1.5
    flat[2, 1:] = -0.25
    flat[3, 1:] = 1e-9
    vals = np.repeat(values[:1], 4, axis=0)
    _matches_scalar(bc, flat, vals)
    near = volts.copy()
    held = np.flatnonzero(bc._pinned_rows)
    near[:, held] += 1e-7  # off their sources: fails feasibility, scales unchanged
    _matches_scalar(bc, near, values)


def test_drn_without_the_lazy_rows_gives_the_same_certificate(net_values) -> None:
    """The per-sample products are a shortcut: with them turned off (the held rows
    multiplied whole, or bounded by their range) the certificate is the same."""
    bc, volts, values = net_values
    lazy = bc.certify(volts, values, currents=False)
    pin32 = bc._pin32
    try:
        bc._pin32 = None
        whole = bc.certify(volts, values, currents=False)
    finally:
        bc._pin32 = pin32
    for name in ("ok", "feas_tol", "kcl_tol", "comp_tol", "feasibility", "kcl"):
        assert np.allclose(getattr(lazy, name), getattr(whole, name), rtol=1e-12, atol=0), name


def test_one_held_row() -> None:
    """One input, held by a source, into a node with a diode: one lazy row."""
    c = make_circuit(
        "one",
        ["0", "a", "b", "c"],
        resistors=B(["r1", "r2", "r3"], [1, 2, 1], [2, 3, 3], [1e3, 2e3, 5e2]),
        vsources=B(["v1"], [1], [0], [2.0]),
        diodes=B(["d1"], [2], [0], [0]),
    )
    bc = BatchCertifier(c, inputs=["v1"])
    assert bc._pin32 is not None and bc._pin32.shape == (1, 2)
    values = np.array([[2.0], [-1.0], [0.0], [5.0]])
    volts = []
    for x in values[:, 0]:
        cx = with_values(c, ["v1"], np.array([x]))
        from resbench import solve

        volts.append(solve(cx, certify=False).voltages)
    volts = np.array(volts)
    _matches_scalar(bc, volts, values)
    bumped = volts + np.array([0.0, 0.0, 1e-4, -1e-4])
    _matches_scalar(bc, bumped, values)


# ------------------------------------------------------------ the kernel itself
@settings(max_examples=60, **SETTINGS)
@given(
    st.integers(1, 12),
    st.integers(1, 9),
    st.integers(1, 21),  # up to 21 samples: the dots' blocks of 8, 4 and 1 samples
    st.integers(0, 2**31 - 1),
    st.sampled_from(["normal", "ties", "zeros", "equal"]),
)
def test_lazy_bounds_never_prune_a_maximum(
    rows: int, cols: int, nb: int, seed: int, kind: str
) -> None:
    """Every (row, sample) that ``_lazy_bounds`` drops has its total below the floors
    it returns, the floors are below the largest totals, and every returned upper
    bound holds: so the maxima are never pruned, whatever the voltages."""
    rng = np.random.default_rng(seed)
    n = 1 + rows + cols  # ground, held rows, their neighbours
    g = np.where(rng.random((rows, cols)) < 0.7, rng.uniform(0.1, 3.0, (rows, cols)), 0.0)
    g[:, 0] = np.maximum(g[:, 0], 0.5)  # every row has a neighbour
    v_t = rng.normal(size=(n, nb)) * 3.0
    if kind == "ties":
        v_t[1 : 1 + rows] = 4.0  # every held node at the same extreme voltage
    elif kind == "zeros":
        v_t[1 : 1 + rows] = 0.0
    elif kind == "equal":
        v_t[1:] = 1.25
    v_t[0] = 0.0
    diag = np.zeros(n)
    diag[1 : 1 + rows] = g.sum(axis=1)
    inv_g = np.zeros(n)
    inv_g[1 : 1 + rows] = 1.0 / diag[1 : 1 + rows]
    nbr = v_t[1 + rows :]
    ext_hi = np.ascontiguousarray(nbr.max(axis=0)[None, :])
    ext_lo = np.ascontiguousarray(nbr.min(axis=0)[None, :])
    lazy_rows = np.arange(1, 1 + rows, dtype=np.int64)
    lslot = np.full(n, -1, dtype=np.int64)
    lslot[1 : 1 + rows] = np.arange(rows)
    pin32 = g.astype(np.float32)
    h32 = np.ascontiguousarray(nbr.T, dtype=np.float32)
    lrel = np.full(n, (cols + 4) * 1.2e-7)
    lslack = np.full(n, cols * 4.0 * 1e-37)
    # floors as other rows may leave them: none, or some share of the largest totals
    tot = np.einsum("kj,kjb->kb", g, np.abs(v_t[1 : 1 + rows, None, :] - nbr[None, :, :]))
    share = {"normal": 0.0, "ties": 0.5, "zeros": 0.9, "equal": 0.0}[kind]
    floor1 = share * tot.max(axis=0)
    floor2 = share * (tot * inv_g[1 : 1 + rows, None]).max(axis=0)
    node_max = np.abs(v_t).max(axis=1)
    pk, pb, pu = _lazy_bounds(
        v_t, ext_hi[0], ext_lo[0], diag, np.zeros((1, 1)), False, inv_g, lazy_rows, lslot,
        pin32, h32, lrel, lslack, floor1, floor2, node_max,
    )  # fmt: skip
    assert np.all(floor1 <= tot.max(axis=0) * (1 + 1e-12) + 1e-300)
    assert np.all(floor2 <= (tot * inv_g[1 : 1 + rows, None]).max(axis=0) * (1 + 1e-12) + 1e-300)
    kept = np.zeros((rows, nb), dtype=bool)
    kept[pk - 1, pb] = True
    for k in range(rows):
        for b in range(nb):
            t = tot[k, b]
            if kept[k, b]:
                q = np.flatnonzero((pk == k + 1) & (pb == b))[0]
                assert pu[q] >= t * (1 - 1e-12), (k, b, pu[q], t)
            else:  # dropped: below both floors, which only rose after
                assert t <= floor1[b], (k, b, t, floor1[b])
                assert t * inv_g[k + 1] <= floor2[b], (k, b, t, floor2[b])


def test_lazy_rows_off_when_not_dense() -> None:
    """Held rows that touch few of the columns they span are not copied dense."""
    n = 60
    r_a = [1, 1]
    r_b = [2, 59]
    c = make_circuit(
        "sparse",
        [str(i) for i in range(n)],
        resistors=B([f"r{i}" for i in range(len(r_a))], r_a, r_b, [1e3, 1e3]),
        vsources=B(["v1"], [1], [0], [1.0]),
    )
    bc = BatchCertifier(c)
    assert bc._pin32 is None
    v = np.zeros((2, n))
    v[:, 1] = [1.0, 0.5]
    v[1, 2] = 0.25
    _matches_scalar(bc, v)


def test_the_certifier_s_circuit_is_the_one_given() -> None:
    """Sources holding nodes n2, n4, n3 to ground: the certifier works on the circuit
    renumbered so that they come first (its direct path's layout), but ``circuit`` is
    the caller's, whose node order the voltages follow; a reference built from it
    certifies the same voltages.  (``circuit`` was once the renumbered one: the
    scalar certificate of it then read every sample's columns in another order, and
    the explore profile found batch and "reference" disagreeing.)"""
    c = make_circuit(
        title="held nodes out of order",
        nodes=["0", "n1", "n2", "n3", "n4"],
        resistors=B(["r1", "r2", "r3", "r4"], [1, 2, 3, 4], [0, 1, 0, 0],
                    [1867.22, 1489.0, 118.58, 6514.085]),
        vsources=B(["v1", "v2", "v3"], [2, 4, 3], [0, 0, 0], [-4.0, -3.75, 0.5]),
        diodes=B(["d1", "d2", "d3"], [3, 4, 0], [4, 0, 2], [0.0, 0.0, 0.0]),
        diode_models=["d", "d", "d"],
    )  # fmt: skip
    bc = BatchCertifier(c)
    assert bc.circuit is c and bc._perm is not None  # (renumbered inside)
    rng = np.random.default_rng(494)
    volts = rng.normal(size=(4, c.n_nodes)) * 5.0
    volts[:, 0] = 0.0
    volts[3] = [0.0, -2.0, -4.0, 0.5, -3.75]  # every source equation holds
    _matches_scalar(bc, volts)
