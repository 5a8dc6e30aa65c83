"""The batched certificate equals the scalar one, sample by sample.

The reference is :func:`resbench.certificate.certify` on each sample alone (on the
equivalent single circuit when sources take per-sample values): the same verdict, the
same tolerances and residuals to round-off, the same multipliers where it certifies.
Batches mix exact answers (from ``resbench.solve``) with perturbed copies that fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples, random_circuits, stalling_case

import resbench
from resbench.batch.certificate import (
    BatchCertifier,
    CertificateInputError,
    _Coupling,
    _merge_tiles,
    certify_batch,
)
from resbench.batch.network import with_values
from resbench.certificate import certify
from resbench.circuit import Branches, Circuit, make_circuit
from resbench.errors import ResbenchError
from resbench.generate import drn

B = Branches.from_lists
SETTINGS = dict(deadline=None, database=None)


def _close(x: float, y: float, scale: float) -> bool:
    """Equal to round-off: 1e-9 relative, or 1e-11 of the quantity's scale (residuals
    of exact answers are round-off of the scale's size, summed in another order: a
    node of 8 branches gave 8.9e-16 A against 1.1e-21 A at a 5e-4 A scale; the
    certificate's own tolerance is 1e-9 of the scale)."""
    if np.isinf(y):
        return bool(x == y)
    return abs(x - y) <= 1e-9 * abs(y) + 1e-11 * scale + 1e-300


def assert_matches_scalar(
    circuit: Circuit,
    voltages: np.ndarray,
    *,
    rtol: float = 1e-9,
    gmin: float = 0.0,
    inputs: list[str] | None = None,
    values: np.ndarray | None = None,
) -> None:
    """certify_batch equals the scalar certify on every row."""
    got = certify_batch(circuit, voltages, rtol=rtol, gmin=gmin, inputs=inputs, values=values)
    nb = voltages.shape[0]
    assert got.checked.shape == got.ok.shape == (nb,) and got.checked.all()
    assert got.diode_current.shape == (nb, len(circuit.diodes))
    assert got.vsource_current.shape == (nb, len(circuit.vsources))
    for b in range(nb):
        c = circuit if inputs is None else with_values(circuit, inputs, values[b])
        ref = certify(c, voltages[b], rtol=rtol, gmin=gmin)
        where = f"sample {b}: batch {got.ok[b]} scalar {ref.summary()}"
        assert got.ok[b] == ref.ok, where
        for name in ("feas_tol", "kcl_tol", "comp_tol"):
            assert _close(getattr(got, name)[b], getattr(ref, name), 0.0), (name, where)
        assert _close(got.feasibility[b], ref.feasibility, ref.v_scale), where
        assert _close(got.kcl[b], ref.kcl, ref.i_scale), where
        assert _close(got.complementarity[b], ref.complementarity, ref.v_scale * ref.i_scale)
        if ref.ok:
            i_tol = 1e-12 * ref.i_scale + ref.kcl_tol
            assert np.all(got.diode_current[b] >= -i_tol)  # valid multipliers
            if np.any(c.resistors.value == 0.0):
                # a diode or source in parallel with a 0 Ω short has no unique current
                # (the explore profile: 0 against 0.28 mA; 0.51 against 0 mA): the two
                # certificates may pick different valid ones; their KCL residuals and
                # verdicts (compared above) are what must agree
                continue
            assert np.allclose(got.diode_current[b], ref.diode_current, rtol=1e-9, atol=i_tol)
            assert np.allclose(got.vsource_current[b], ref.vsource_current, rtol=1e-9, atol=i_tol)


def _perturbed(v: np.ndarray, rng: np.random.Generator, k: int) -> np.ndarray:
    """``k`` copies of ``v`` (ground kept at 0) with one node moved each, by a size
    drawn over many decades, so some copies fail and tiny moves may pass."""
    n = v.shape[0]
    out = np.repeat(v[None, :], k, axis=0)
    if n < 2:
        return out
    scale = max(1.0, float(np.max(np.abs(v))))
    for row in out:
        node = int(rng.integers(1, n))
        row[node] += scale * 10.0 ** rng.uniform(-14, 0) * rng.choice([-1.0, 1.0])
    return out


def _exact_batch(circuit: Circuit, gmin: float, seed: int) -> np.ndarray | None:
    sol = resbench.solve(circuit, certify=False, gmin=gmin)
    if sol.voltages is None or not np.all(np.isfinite(sol.voltages)):
        return None
    rng = np.random.default_rng(seed)
    return np.vstack([sol.voltages[None, :], _perturbed(sol.voltages, rng, 5)])


# ------------------------------------------------------------ random circuits
@settings(max_examples=examples(60), **SETTINGS)
@given(random_circuits(max_nodes=7, max_diodes=5), st.integers(0, 2**31 - 1))
def test_random_circuits_match_scalar(circuit: Circuit, seed: int) -> None:
    try:
        v = _exact_batch(circuit, 0.0, seed)
    except ResbenchError:  # infeasible circuit: certify random voltages instead
        v = None
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(3, circuit.n_nodes)) * 5.0
    noise[:, 0] = 0.0
    v = noise if v is None else np.vstack([v, noise])
    assert_matches_scalar(circuit, v)


@settings(max_examples=60, **SETTINGS)
@given(
    random_circuits(
        max_nodes=7, max_diodes=6, free_free_diodes=False, floating_sources=False, shorts=False
    ),
    st.integers(0, 2**31 - 1),
)
def test_grounded_unknowns_match_scalar(circuit: Circuit, seed: int) -> None:
    """Every source and diode touches ground: the kernel's one-node fast path."""
    assert BatchCertifier(circuit)._grounded
    try:
        v = _exact_batch(circuit, 0.0, seed)
    except ResbenchError:
        v = None
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(3, circuit.n_nodes))
    noise[:, 0] = 0.0
    v = noise if v is None else np.vstack([v, noise])
    assert_matches_scalar(circuit, v)


@settings(max_examples=40, **SETTINGS)
@given(random_circuits(max_nodes=6, max_diodes=4, islands=2), st.integers(0, 2**31 - 1))
def test_islands_and_gmin_match_scalar(circuit: Circuit, seed: int) -> None:
    gmin = 1e-6
    try:
        v = _exact_batch(circuit, gmin, seed)
    except ResbenchError:
        return
    if v is not None:
        assert_matches_scalar(circuit, v, gmin=gmin)
        assert_matches_scalar(circuit, v, gmin=gmin, rtol=1e-6)


@settings(max_examples=40, **SETTINGS)
@given(random_circuits(max_nodes=6, max_diodes=4), st.data())
def test_per_sample_source_values_match_scalar(circuit: Circuit, data) -> None:
    names = list(circuit.vsources.names) + list(circuit.isources.names)
    if not names:
        return
    inputs = data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True), label="inputs")
    rows, volts = [], []
    for _ in range(3):
        x = np.array(
            [data.draw(st.integers(-20, 20)) / 4.0 for _ in inputs]  # exact multiples
        )
        c = with_values(circuit, inputs, x)
        x = np.where([n in circuit.isources.names for n in inputs], x * 1e-3, x)
        c = with_values(circuit, inputs, x)
        try:
            sol = resbench.solve(c, certify=False)
        except ResbenchError:
            continue
        if sol.voltages is None or not np.all(np.isfinite(sol.voltages)):
            continue
        rows += [x, x]
        bumped = sol.voltages.copy()
        if bumped.shape[0] > 1:
            bumped[-1] += 1e-3
        volts += [sol.voltages, bumped]
    if rows:
        assert_matches_scalar(circuit, np.array(volts), inputs=inputs, values=np.array(rows))


# ------------------------------------------------------------ named constructs
def test_floating_sources_shorts_current_sources_and_free_free_diodes() -> None:
    # n1 -V- n2 floating; n3 = n4 shorted; a current source; a chain of diodes n4->n5->0
    c = make_circuit(
        "mixed",
        ["0", "n1", "n2", "n3", "n4", "n5", "n6"],
        resistors=B(
            ["r1", "r2", "r3", "r4", "r5", "r6", "r7"],
            [1, 2, 3, 4, 5, 6, 3],
            [0, 0, 0, 0, 0, 0, 4],
            [1e3, 2e3, 1e3, 5e2, 1e3, 1e3, 0.0],
        ),
        vsources=B(["v1", "v2"], [1, 6], [2, 0], [1.5, 2.0]),
        isources=B(["i1"], [0], [3], [2e-3]),
        diodes=B(["d1", "d2", "d3"], [4, 5, 6], [5, 0, 1], [0, 0, 0]),
    )
    v = _exact_batch(c, 0.0, 1)
    assert v is not None
    assert_matches_scalar(c, v)
    assert certify_batch(c, v[:1]).ok[0]


def test_stalling_case_and_shapes_of_clusters() -> None:
    c = stalling_case()  # V1 —1k— a —D— b —1k— gnd: a one-branch diode cluster
    good = np.array([0.0, 1.0, 0.5, 0.5])
    stalled = np.array([0.0, 1.0, 0.0, 0.0])
    got = certify_batch(c, np.vstack([good, stalled, good]))
    assert got.ok.tolist() == [True, False, True]
    assert got.diode_current[0, 0] == pytest.approx(0.5e-3)
    assert got.vsource_current[0, 0] == pytest.approx(-0.5e-3)
    assert_matches_scalar(c, np.vstack([good, stalled]))


def test_gmin_leak_counts() -> None:
    c = make_circuit(
        "leak",
        ["0", "a", "b"],
        resistors=B(["r1"], [1], [2], [1e3]),
        vsources=B(["v1"], [1], [0], [1.0]),
    )
    v = np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 0.5], [0.0, 1.0, 1.0]])
    got = certify_batch(c, v, gmin=1e-3)
    assert got.ok.tolist() == [False, True, False]
    assert certify_batch(c, v).ok.tolist() == [True, False, True]
    assert_matches_scalar(c, v, gmin=1e-3)
    one = v[1:2].copy()
    assert not certify_batch(c, one).ok[0]
    assert np.array_equal(one, v[1:2]), "the voltages given are not changed"


def test_drn_batch_matches_scalar() -> None:
    c = drn([12, 9, 7, 3], seed=3, bias=True)
    names = list(c.vsources.names)
    rng = np.random.default_rng(0)
    values, volts = [], []
    for k in range(4):
        x = c.vsources.value * rng.uniform(0.2, 2.0)
        sol = resbench.solve(with_values(c, names, x), certify=False)
        values.append(x)
        volts.append(sol.voltages)
        if k % 2:
            bad = sol.voltages.copy()
            bad[-1] += 1e-4 * (1 + k)
            values.append(x)
            volts.append(bad)
    v, x = np.array(volts), np.array(values)
    assert_matches_scalar(c, v, inputs=names, values=x)
    got = BatchCertifier(c, inputs=names).certify(v, x)
    assert got.ok.sum() == 4


def test_dense_blocks_give_the_same_products() -> None:
    import scipy.sparse as sp

    c = drn([300, 280, 10], seed=1)
    r = c.resistors
    g = 1.0 / r.value
    n = c.n_nodes
    m = sp.csr_matrix((np.r_[g, g], (np.r_[r.a, r.b], np.r_[r.b, r.a])), shape=(n, n))
    cpl = _Coupling(m)
    assert cpl.blocks, "a 300 x 280 layer pair is dense"
    assert cpl.rest.nnz < 0.1 * m.nnz
    rng = np.random.default_rng(2)
    u = rng.normal(size=(n, 5))
    assert np.allclose(cpl.apply(u), m @ u, rtol=1e-12, atol=1e-12)
    a32 = cpl.apply(np.abs(u), u32=np.abs(u).astype(np.float32))
    assert np.allclose(a32, m @ np.abs(u), rtol=1e-5)
    # the certifier: inputs pinned by their sources, the hidden rows dense
    cert = BatchCertifier(c)
    assert cert._w_kcl.blocks and cert._w_pin is not None and cert._w_pin.blocks
    assert cert.setup_bytes >= cert._w_kcl.dense_bytes + cert._w_pin.dense_bytes > 0
    assert cert.estimate_bytes(256) == 2 * cert.estimate_bytes(128) > 8 * 8 * 256 * n
    sol = resbench.solve(c, certify=False)
    volts = np.vstack([sol.voltages, sol.voltages + 1e-6 * rng.normal(size=n)])
    volts[:, 0] = 0.0
    assert_matches_scalar(c, volts)
    got = cert.certify(volts, currents=False)
    assert got.vsource_current is None
    assert got.ok.tolist() == cert.certify(volts).ok.tolist() == [True, False]


@settings(max_examples=60, **SETTINGS)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), unique=True))
def test_dense_tiles_are_covered_once(tiles: list[tuple[int, int]]) -> None:
    ids = np.array(sorted(r * 7 + c for r, c in tiles), dtype=np.int64)
    cover = np.zeros((7, 7), dtype=int)
    for rt0, rt1, ct0, ct1 in _merge_tiles(ids // 7, ids % 7):
        cover[rt0:rt1, ct0:ct1] += 1
    want = np.zeros((7, 7), dtype=int)
    for r, c in tiles:
        want[r, c] = 1
    assert np.array_equal(cover, want)


def test_coupling_without_dense_blocks_is_the_sparse_product() -> None:
    import scipy.sparse as sp

    m = sp.random(40, 40, density=0.3, random_state=1, format="csr")
    cpl = _Coupling(m)
    assert not cpl.blocks
    u = np.random.default_rng(0).normal(size=(40, 3))
    assert np.allclose(cpl.apply(u), m @ u)


def test_inductors_self_loops_and_dense_clusters() -> None:
    # an inductor (a short) and a floating source chain make clusters of three nodes
    # (scalar fallback); self loops (a source, a diode, a resistor from a node to
    # itself) carry no KCL weight
    c = make_circuit(
        "odd",
        ["0", "a", "b", "c", "d"],
        resistors=B(["r1", "r2", "r3", "r4", "r5"], [1, 2, 3, 4, 4], [0, 0, 0, 0, 4], [1e3] * 5),
        vsources=B(["v1", "v2", "v3"], [1, 2, 3], [0, 1, 3], [1.0, 0.5, 0.0]),
        isources=B(["i1"], [0], [4], [1e-3]),
        diodes=B(["d1", "d2"], [4, 0], [4, 2], [0, 0]),
    )
    c.inductors = B(["l1"], [3], [2], [1e-3])
    sol = resbench.solve(c, certify=False)
    v = np.vstack([sol.voltages, sol.voltages, sol.voltages])
    v[1, 3] += 1e-3
    v[2, 4] += 1.0
    assert certify_batch(c, v).ok.tolist() == [True, False, False]
    assert_matches_scalar(c, v)
    assert_matches_scalar(c, v, gmin=1e-9)


def test_ground_only_and_no_resistors() -> None:
    c = make_circuit("empty", ["0"])
    got = certify_batch(c, np.zeros((2, 1)))
    assert got.ok.all() and got.diode_current.shape == (2, 0)
    assert_matches_scalar(c, np.array([[0.0], [1.0]]))
    c = make_circuit(
        "sources only",
        ["0", "a", "b"],
        vsources=B(["v1"], [1], [0], [2.0]),
        isources=B(["i1"], [0], [2], [0.0]),
        diodes=B(["d1"], [2], [1], [0]),
    )
    assert_matches_scalar(c, np.array([[0.0, 2.0, 1.0], [0.0, 2.0, 2.5], [1e-3, 2.0, 2.0]]))


def test_declared_kernel_signatures_are_the_types_passed() -> None:
    """After resbench._jit.warm_up, certifying (one sample, read-only voltages, gmin,
    current sources, no currents, bounds of the scales) compiles nothing new: no compile
    in a timed run."""
    from resbench import _jit
    from resbench.batch import _certificate_kernels as kernels

    _jit.warm_up()
    mine = [d for d, _ in _jit.SIGNATURES if d.py_func.__module__ == kernels.__name__]
    assert len(mine) == 23
    before = [set(d.signatures) for d in mine]
    c = drn([6, 5, 3], seed=2, bias=True)
    v = resbench.solve(c, certify=False).voltages
    frozen = np.vstack([v, v])
    frozen.setflags(write=False)
    for gmin in (0.0, 1e-9):
        certify_batch(c, frozen, gmin=gmin)
        certify_batch(c, frozen[:1], gmin=gmin, currents=False)
        certify_batch(c, frozen, gmin=gmin, currents=False, scales="bound")
    certify_batch(stalling_case(), np.array([[0.0, 1.0, 0.5, 0.5]]))
    # the direct path (a DRN without bias sources), with and without column groups
    c = drn([8, 5, 3], seed=2)
    bc = BatchCertifier(c)
    assert bc._fast is not None
    v = np.repeat(resbench.solve(c, certify=False).voltages[None, :], 40, axis=0)
    v.setflags(write=False)
    nv = len(c.vsources)
    groups = (np.arange(nv, dtype=np.int64), np.ones(nv))
    for cg in (None, groups):
        assert bc.certify(v, currents=False, scales="bound", column_groups=cg).ok.all()
        # a few samples (FEW_SAMPLES: the held product by nonzero values)
        assert bc.certify(v[:2], currents=False, scales="bound", column_groups=cg).ok.all()
    # the nodes in another order: renumbered by the certifier (gather_columns), currents
    from resbench.circuit import renumbered

    order = np.r_[0, np.arange(c.n_nodes - 1, 0, -1)]
    bc = BatchCertifier(renumbered(c, order))
    assert bc._perm is not None and bc._fast is not None
    vr = np.ascontiguousarray(v[:, order])
    vr.setflags(write=False)
    assert bc.certify(vr, currents=True, scales="bound").ok.all()
    assert bc.certify(vr[:2], currents=True, scales="bound").ok.all()
    assert [set(d.signatures) for d in mine] == before


# ------------------------------------------------------------ bad input
def test_non_finite_rows_fail_without_exception() -> None:
    c = stalling_case()
    v = np.array([[0.0, 1.0, 0.5, 0.5], [0.0, np.nan, 0.5, 0.5], [0.0, 1.0, np.inf, 0.5]])
    got = certify_batch(c, v)
    assert got.ok.tolist() == [True, False, False]
    assert np.isinf(got.kcl[1:]).all() and (got.kcl_tol[1:] == 0).all()
    assert (got.diode_current[1:] == 0).all()
    assert_matches_scalar(c, v)


def test_shape_errors_are_clear() -> None:
    c = stalling_case()
    with pytest.raises(ValueError, match=r"\[batch, 4\]"):
        certify_batch(c, np.zeros(4))
    with pytest.raises(ValueError, match=r"\[batch, 4\].*shape \(2, 3\)"):
        certify_batch(c, np.zeros((2, 3)))
    with pytest.raises(CertificateInputError, match="values must be"):
        certify_batch(c, np.zeros((2, 4)), inputs=["v1"], values=np.zeros((3, 1)))
    with pytest.raises(CertificateInputError, match="pass values"):
        certify_batch(c, np.zeros((2, 4)), inputs=["v1"])
    with pytest.raises(CertificateInputError, match="no voltage or current source named 'vx'"):
        BatchCertifier(c, inputs=["vx"])
    with pytest.raises(ResbenchError, match="named twice"):
        BatchCertifier(c, inputs=["v1", "v1"])


def test_empty_batch() -> None:
    got = certify_batch(stalling_case(), np.zeros((0, 4)))
    assert got.ok.shape == (0,) and got.diode_current.shape == (0, 1)
