"""The batched certificate's folded products and bounds equal the scalar certificate.

The batch certificate folds the voltage columns that are equal up to sign (or zero) in
every sample before its products, and bounds each node's total current from the
signed product W v (float32 on the rows of nodes held by grounded sources when their
currents are not asked for).  These tests build DRN batches whose input columns fold
in every way (a DRN's ``cat(x, -x)`` pairs, pixels that repeat, pixels zero in every
sample, a pair broken in one sample), with float64 and float32 answers and perturbed
copies that fail, and compare every sample with :func:`resbench.certificate.certify`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_batch_certificate import _close

import resbench.batch.certificate as batch_certificate
from resbench.batch import Network
from resbench.batch.certificate import BatchCertifier
from resbench.batch.network import with_values
from resbench.certificate import certify
from resbench.generate import drn

SETTINGS = dict(deadline=None, database=None)
LAYERS = [300, 280, 10]  # > 256 nodes: dense blocks, so the columns fold


@pytest.fixture(scope="module", autouse=True)
def fold_small_batches():
    """These batches are small (1–7 samples): fold them anyway, as a batch of
    FOLD_MIN_BATCH or more samples would be (small ones are left unfolded for speed)."""
    before = batch_certificate.FOLD_MIN_BATCH
    batch_certificate.FOLD_MIN_BATCH = 1
    yield
    batch_certificate.FOLD_MIN_BATCH = before


@pytest.fixture(scope="module")
def net() -> Network:
    c = drn(LAYERS, seed=1)
    return Network(c, inputs=list(c.vsources.names))


def _values(pixels: np.ndarray, gain: float) -> np.ndarray:
    """A DRN's input values: +x gain on even inputs, -x gain on odd ones."""
    v = np.empty((pixels.shape[0], 2 * pixels.shape[1]))
    v[:, 0::2] = pixels * gain
    v[:, 1::2] = 0.0 - pixels * gain
    return v


def _assert_matches_scalar(
    bc: BatchCertifier, volts: np.ndarray, values: np.ndarray, rtol: float, currents: bool
) -> None:
    """BatchCertifier.certify equals the scalar certify on every row: verdicts,
    tolerances (so both scales) and residuals to round-off."""
    got = bc.certify(volts, values, rtol=rtol, currents=currents)
    assert (got.vsource_current is None) == (not currents)
    for b in range(volts.shape[0]):
        ref = certify(with_values(bc.circuit, bc.input_names, values[b]), volts[b], rtol=rtol)
        where = f"sample {b}: batch {got.ok[b]} scalar {ref.summary()}"
        assert got.ok[b] == ref.ok, where
        for name in ("feas_tol", "kcl_tol", "comp_tol"):
            assert _close(getattr(got, name)[b], getattr(ref, name), 0.0), (name, where)
        assert _close(got.feasibility[b], ref.feasibility, ref.v_scale), where
        assert _close(got.kcl[b], ref.kcl, ref.i_scale), where
        assert _close(got.complementarity[b], ref.complementarity, ref.v_scale * ref.i_scale)
        if ref.ok:
            i_tol = 1e-12 * ref.i_scale + ref.kcl_tol
            assert np.allclose(got.diode_current[b], ref.diode_current, rtol=1e-9, atol=i_tol)
            if currents:
                assert np.allclose(
                    got.vsource_current[b], ref.vsource_current, rtol=1e-9, atol=i_tol
                )


@st.composite
def pixel_batches(draw: st.DrawFn) -> np.ndarray:
    """``[B, m]`` pixels whose columns repeat: each pixel takes one of a few column
    patterns (one all zero), values multiples of 1/8 in [0, 1]."""
    m = LAYERS[0] // 2
    nb = draw(st.integers(1, 5), label="batch")
    k = draw(st.integers(1, 6), label="patterns")
    levels = st.integers(0, 8).map(lambda i: i / 8.0)
    patterns = np.array(
        [[0.0] * nb]
        + [[draw(levels) for _ in range(nb)] for _ in range(k)]
    )  # fmt: skip
    pick = np.array(draw(st.lists(st.integers(0, k), min_size=m, max_size=m)))
    return np.ascontiguousarray(patterns[pick].T)


@settings(max_examples=12, **SETTINGS)
@given(pixel_batches(), st.sampled_from([1.0, 7.5]), st.sampled_from(["float64", "float32"]))
def test_folded_batches_match_scalar(
    net: Network, pixels: np.ndarray, gain: float, dtype: str
) -> None:
    values = _values(pixels, gain)
    res = net.solve_batch(values, dtype=dtype, certify=False)
    volts = res.voltages
    rtol = 1e-9 if dtype == "float64" else 1e-5
    # perturbed copies: a hidden node moved (fails), an input pair broken in one
    # sample (that column must not fold with its twins)
    n_in = LAYERS[0]
    bump = volts[:1].copy()
    bump[0, n_in + 3] += 1e-3 * max(gain, 1.0)
    broken = volts[:1].copy()
    broken[0, 1] += 1e-7
    volts = np.vstack([volts, bump, broken])
    values = np.vstack([values, values[:1], values[:1]])
    bc = BatchCertifier(net.circuit, inputs=net.input_names)
    assert bc._any_dense, "the DRN's layer pair is dense"
    for currents in (False, True):
        _assert_matches_scalar(bc, volts, values, rtol, currents)
    assert bc._folds, "the batch's input columns fold"


def test_fold_groups_equal_opposite_and_zero_columns() -> None:
    """Columns equal up to sign in every sample share a representative and a sign;
    zero columns get none (-1); a column equal in all but one sample stays apart."""
    c = drn(LAYERS, seed=1)
    bc = BatchCertifier(c)
    n = c.n_nodes
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, n))
    v[:, 0] = 0.0
    v[:, 5] = v[:, 2]
    v[:, 7] = -v[:, 2]
    v[:, 9] = 0.0
    v[:, 11] = -v[:, 3]
    v[1, 11] += 1e-12
    v_t = np.ascontiguousarray(v.T)
    fold = bc._fold(v, v_t)
    assert fold.rep[5] == fold.rep[7] == fold.rep[2] == 2
    assert fold.sig[5] == 1.0 and fold.sig[7] == -1.0 and fold.sig[2] == 1.0
    assert fold.rep[0] == fold.rep[9] == -1
    assert fold.rep[11] == 11 and fold.rep[3] == 3
    # the folded products are the unfolded ones
    p = np.zeros((n, 3))
    bc._w_kcl.apply_folded(fold, v_t, p)
    assert np.allclose(p, bc._w_kcl.apply(v_t), rtol=1e-12, atol=1e-12)
    a = np.zeros((n, 3))
    bc._w_kcl.apply_folded(fold, np.abs(v_t), a, absolute=True)
    assert np.allclose(a, bc._w_kcl.apply(np.abs(v_t)), rtol=1e-12, atol=1e-12)
    # the folded rows give the same totals as the rows themselves
    fptr, fcol, fsg, fg, _ = bc._folded_rows(fold)
    touch = [int(np.sum(np.isin(bc._indices[bc._indptr[k] : bc._indptr[k + 1]], [2, 5, 7])))
             for k in range(n)]  # fmt: skip
    k = int(np.argmax(touch))  # a hidden node whose row holds two folded columns or more
    assert touch[k] >= 2
    for b in range(3):
        row = slice(bc._indptr[k], bc._indptr[k + 1])
        direct = np.sum(bc._data[row] * np.abs(v[b, k] - v[b, bc._indices[row]]))
        folded = sum(
            fg[p] * abs(v[b, k] - (fsg[p] * v[b, fcol[p]] if fcol[p] >= 0 else 0.0))
            for p in range(fptr[k], fptr[k + 1])
        )
        assert folded == pytest.approx(direct, rel=1e-12)
    assert fptr[k + 1] - fptr[k] < bc._indptr[k + 1] - bc._indptr[k]
    assert fptr[-1] < bc._indptr[-1]


def test_fold_patterns_are_cached_and_bounded(net: Network) -> None:
    """A repeated pattern reuses its folded matrices; at most FOLD_CACHE are kept."""
    from resbench.batch.certificate import FOLD_CACHE

    bc = BatchCertifier(net.circuit, inputs=net.input_names)
    m = LAYERS[0] // 2
    for i in range(FOLD_CACHE + 2):
        pixels = np.zeros((2, m))
        pixels[:, : i + 1] = 0.5
        values = _values(pixels, 1.0)
        volts = net.solve_batch(values, certify=False).voltages
        first = bc.certify(volts, values)
        assert len(bc._folds) == min(i + 1, FOLD_CACHE)
        again = bc.certify(volts, values)
        assert len(bc._folds) == min(i + 1, FOLD_CACHE)
        assert np.array_equal(first.kcl_tol, again.kcl_tol) and first.ok.all()


def test_small_batches_are_not_folded_and_still_match(net: Network) -> None:
    """Below FOLD_MIN_BATCH samples the columns are not folded (a new pattern on almost
    every call costs more to fold than it saves); the answer is the scalar one."""
    bc = BatchCertifier(net.circuit, inputs=net.input_names)
    m = LAYERS[0] // 2
    pixels = np.zeros((2, m))
    pixels[:, : m // 2] = 0.25  # equal and zero columns that a large batch would fold
    values = _values(pixels, 1.0)
    volts = net.solve_batch(values, certify=False).voltages
    before = batch_certificate.FOLD_MIN_BATCH
    batch_certificate.FOLD_MIN_BATCH = 16
    try:
        _assert_matches_scalar(bc, volts, values, 1e-9, True)
        assert not bc._folds
    finally:
        batch_certificate.FOLD_MIN_BATCH = before


def test_pinned_node_between_its_neighbours_sets_the_scale() -> None:
    """A node held by a source, with neighbours above and below it, carries the
    largest total: its bound must not use W |v| (only the KCL rows have it)."""
    from test_batch_certificate import assert_matches_scalar

    import resbench
    from resbench.batch.certificate import certify_batch
    from resbench.circuit import Branches, make_circuit

    leaves = list(range(1, 11))  # held at ±10 V; p (0 V) is joined to each by 1 ohm
    res_a = leaves + [12] * 10
    res_b = [11] * 10 + leaves
    c = make_circuit(
        "pinned hub",
        ["0"] + [f"l{k}" for k in leaves] + ["hub", "p"],
        resistors=Branches.from_lists(
            [f"r{i}" for i in range(20)], res_a, res_b, [1e3] * 10 + [1.0] * 10
        ),
        vsources=Branches.from_lists(
            [f"v{k}" for k in leaves] + ["vp"],
            leaves + [12],
            [0] * 11,
            [10.0 if k % 2 else -10.0 for k in leaves] + [0.0],
        ),
    )
    v = resbench.solve(c, certify=False).voltages
    volts = np.vstack([v, v])
    volts[1, 11] += 1e-3
    assert certify_batch(c, volts).ok.tolist() == [True, False]
    assert_matches_scalar(c, volts)
    got = certify_batch(c, volts, currents=False)
    ref = certify(c, v)
    assert BatchCertifier(c)._rid is not None and ref.i_scale == pytest.approx(100.0, rel=1e-3)
    assert _close(got.kcl_tol[0], ref.kcl_tol, 0.0)
