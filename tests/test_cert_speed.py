"""The batch certificate's faster paths (issue 12) keep it an exact, failing check.

* :func:`_pair_dots` (two held rows by four samples per tile, float32 in any order)
  stays within the round-off bound the certificate adds to its products, for any
  count of samples (short last tiles repeat a sample) and repeated samples.
* On a DRN batch of 256 samples, with every held row bounded per (row, sample) two
  rows at a time after the floors of every row's range: the tolerances equal the
  scalar certificate's in every sample, and one answer perturbed among the 256 (a
  hidden node's voltage, or a held input's) fails in that sample alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_batch_certificate import _close

from resbench.batch import Network
from resbench.batch._certificate_kernels import _pair_dots, _row_dots
from resbench.batch.certificate import BatchCertifier
from resbench.batch.network import with_values
from resbench.certificate import certify
from resbench.generate import drn

SETTINGS = dict(deadline=None, database=None, derandomize=True)
F32_PER_TERM = 1.2e-7  # the certificate's float32 round-off per term (certificate.py)


@settings(max_examples=40, **SETTINGS)
@given(st.integers(1, 40), st.integers(1, 70), st.integers(1, 13), st.integers(0, 2**31 - 1))
def test_pair_dots_within_the_round_off_bound(m: int, nb: int, count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.0, 2.0, (2, m)).astype(np.float32)
    w[:, rng.random(m) < 0.3] = 0.0
    h32 = (rng.normal(size=(nb, m)) * 10.0 ** rng.integers(-3, 3)).astype(np.float32)
    idx = rng.integers(0, nb, count).astype(np.int64)  # repeats allowed
    out0 = np.full(count + 3, np.float32(np.nan))
    out1 = np.full(count + 3, np.float32(np.nan))
    _pair_dots(w[0], w[1], h32, idx, count, out0, out1)
    one = np.empty(count, dtype=np.float32)
    _row_dots(w[1], h32, idx, count, one)
    for row, out in ((0, out0), (1, out1)):
        exact = h32[idx].astype(np.float64) @ w[row].astype(np.float64)
        bound = (m + 4) * F32_PER_TERM * (np.abs(h32[idx]).astype(np.float64) @ w[row])
        assert np.all(np.abs(out[:count] - exact) <= bound + 1e-37), row
        assert np.all(np.isnan(out[count:])), "nothing written past count"
    both = 2 * (m + 4) * F32_PER_TERM * (np.abs(h32[idx]).astype(np.float64) @ w[1])
    assert np.all(np.abs(one - out1[:count]) <= both + 1e-37), "the one-row dots agree"


@pytest.fixture(scope="module")
def batch256() -> tuple[BatchCertifier, np.ndarray, np.ndarray]:
    """A DRN (inputs x, -x) solved on 256 samples of pixels with ties (saturated
    pixels), dark pixels and a few grey levels."""
    c = drn([48, 40, 6], seed=11)
    net = Network(c, inputs=list(c.vsources.names))
    rng = np.random.default_rng(12)
    m = 24
    pixels = np.where(rng.random((256, m)) < 0.3, 1.0, rng.choice([0.0, 0.0, 0.3, 0.7], (256, m)))
    pixels[7] = 0.0  # a dark sample
    values = np.empty((256, 2 * m))
    values[:, 0::2] = 2.5 * pixels
    values[:, 1::2] = -2.5 * pixels
    volts = net.solve_batch(values, certify=False).voltages
    bc = BatchCertifier(c, inputs=net.input_names)
    assert bc._pin32 is not None, "the held rows are bounded per (row, sample)"
    return bc, volts, values


def _scalar(bc: BatchCertifier, volts: np.ndarray, values: np.ndarray, b: int):
    return certify(with_values(bc.circuit, bc.input_names, values[b]), volts[b], rtol=1e-9)


def test_batch_of_256_matches_scalar_tolerances(batch256) -> None:
    bc, volts, values = batch256
    got = bc.certify(volts, values, rtol=1e-9, currents=False)
    assert got.ok.all()
    for b in range(256):
        ref = _scalar(bc, volts, values, b)
        for name in ("feas_tol", "kcl_tol", "comp_tol"):
            assert _close(getattr(got, name)[b], getattr(ref, name), 0.0), (name, b)


@pytest.mark.parametrize("where", ["hidden", "input"])
def test_one_perturbed_sample_among_256_fails_alone(batch256, where: str) -> None:
    bc, volts, values = batch256
    bad = volts.copy()
    b = 173
    node = 1 + 48 + 5 if where == "hidden" else 1 + 9  # a hidden node, or a held input
    bad[b, node] += 1e-6
    got = bc.certify(bad, values, rtol=1e-9, currents=False)
    assert not got.ok[b]
    assert got.ok[np.arange(256) != b].all()
    ref = _scalar(bc, bad, values, b)
    assert not ref.ok
    for name in ("kcl_tol", "feas_tol"):
        assert _close(getattr(got, name)[b], getattr(ref, name), 0.0), name
    if where == "hidden":
        assert got.kcl[b] > got.kcl_tol[b]
        assert _close(got.kcl[b], ref.kcl, ref.i_scale)
    else:
        assert got.feasibility[b] > got.feas_tol[b]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lazy_bounds_of_wide_rows_never_prune_a_maximum(seed: int) -> None:
    """Wide rows (4096 columns), 40 samples, an odd number of held rows (one left
    alone after the pairs), ties: every dropped (row, sample) is below the floors
    returned, every returned bound holds, and the floors stay below the largest
    totals."""
    from resbench.batch._certificate_kernels import _lazy_bounds

    rng = np.random.default_rng(seed)
    rows, cols, nb = 9, 4096, 40
    n = 1 + rows + cols
    g = np.where(rng.random((rows, cols)) < 0.5, rng.uniform(0.1, 3.0, (rows, cols)), 0.0)
    g[:, 0] = 1.0
    v_t = rng.normal(size=(n, nb))
    v_t[1 : 1 + rows] *= 4.0  # held nodes often beyond their neighbours' range
    v_t[1 : 1 + rows : 3] = 3.5  # ties
    v_t[0] = 0.0
    diag = np.zeros(n)
    diag[1 : 1 + rows] = g.sum(axis=1)
    inv_g = np.zeros(n)
    inv_g[1 : 1 + rows] = 1.0 / diag[1 : 1 + rows]
    nbr = v_t[1 + rows :]
    lslot = np.full(n, -1, dtype=np.int64)
    lslot[1 : 1 + rows] = np.arange(rows)
    tot = np.einsum("kj,kjb->kb", g, np.abs(v_t[1 : 1 + rows, None, :] - nbr[None, :, :]))
    floor1 = np.zeros(nb)
    floor2 = np.zeros(nb)
    pk, pb, pu = _lazy_bounds(
        v_t, nbr.max(axis=0), nbr.min(axis=0), diag, np.zeros((1, 1)), False, inv_g,
        np.arange(1, 1 + rows, dtype=np.int64), lslot, g.astype(np.float32),
        np.ascontiguousarray(nbr.T, dtype=np.float32), np.full(n, (cols + 4) * 1.2e-7),
        np.full(n, cols * 4.0 * 1e-37), floor1, floor2, np.abs(v_t).max(axis=1),
    )  # fmt: skip
    ratio = tot * inv_g[1 : 1 + rows, None]
    assert np.all(floor1 <= tot.max(axis=0) * (1 + 1e-12))
    assert np.all(floor2 <= ratio.max(axis=0) * (1 + 1e-12))
    assert np.unique(pb).size > 16, "pairs in many samples"
    for k in range(rows):
        for b in range(nb):
            hit = np.flatnonzero((pk == k + 1) & (pb == b))
            if hit.size:
                assert hit.size == 1 and pu[hit[0]] >= tot[k, b] * (1 - 1e-12), (k, b)
            else:
                assert tot[k, b] <= floor1[b] and ratio[k, b] <= floor2[b], (k, b)
