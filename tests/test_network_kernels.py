"""The batch Network's bookkeeping kernels (resbench.batch._network_kernels) give the
arrays of the numpy steps they replace, bit for bit, and a one-sample solve through
them equals the batch's answer for that sample."""

from __future__ import annotations

import numpy as np
import pytest

from resbench.batch import Network
from resbench.batch import _network_kernels as nk
from resbench.batch import network as nw
from resbench.generate import drn


def _numpy_start(C, inv_diag, lo, hi, S, vcols, floor, vmax):
    """The numpy steps start_columns replaces (Network._solve_block and _v_scales as
    they were)."""
    Q = C * inv_diag[:, None]
    U = Q.copy()
    if np.isfinite(lo).any():
        np.maximum(U, lo, out=U)
    if np.isfinite(hi).any():
        np.minimum(U, hi, out=U)
    vs = np.full(S.shape[0], floor)
    if vmax is None:
        if vcols.size:
            np.maximum(vs, np.abs(S[:, vcols]).max(axis=1), out=vs)
    else:
        np.maximum(vs, vmax, out=vs)
    if C.shape[0]:
        np.maximum(vs, (np.abs(C) * inv_diag[:, None]).max(axis=0), out=vs)
    return Q, U, vs


@pytest.mark.parametrize("seed", range(30))
def test_start_columns_equals_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, B, k = int(rng.integers(0, 7)), int(rng.integers(1, 6)), int(rng.integers(0, 5))
    C = rng.normal(scale=3.0, size=(n, B))
    C[rng.random((n, B)) < 0.2] = 0.0
    inv_diag = rng.uniform(0.0, 2.0, n)
    inv_diag[rng.random(n) < 0.3] = 0.0  # nodes without conductance
    shared = rng.random() < 0.5
    cols = 1 if shared else B
    lo = np.where(rng.random((n, cols)) < 0.5, -np.inf, rng.normal(size=(n, cols)) - 1.0)
    hi = np.where(rng.random((n, cols)) < 0.5, np.inf, rng.normal(size=(n, cols)) + 1.0)
    S = rng.normal(scale=4.0, size=(B, k))
    vcols = np.sort(rng.choice(k, size=int(rng.integers(0, k + 1)), replace=False)).astype(np.int64)
    floor = float(rng.uniform(0.0, 2.0))
    vmax = np.abs(rng.normal(scale=5.0, size=B)) if rng.random() < 0.3 else None
    if rng.random() < 0.2 and n:  # a NaN injection (an overflowed product) propagates
        C[rng.integers(n), rng.integers(B)] = np.nan
    Q, U, vs = (np.empty((n, B)), np.empty((n, B)), np.empty(B))
    nk.start_columns(
        C, inv_diag, lo, hi, S, vcols, floor, np.zeros(0) if vmax is None else vmax, Q, U, vs
    )
    Qr, Ur, vr = _numpy_start(C, inv_diag, lo, hi, S, vcols, floor, vmax)
    for got, ref in ((Q, Qr), (U, Ur), (vs, vr)):
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("seed", range(20))
def test_pair_layout_equals_array_equal(seed: int) -> None:
    rng = np.random.default_rng(seed)
    B, h = int(rng.integers(1, 4)), int(rng.integers(0, 5))
    x = rng.normal(size=(B, h))
    x[rng.random((B, h)) < 0.3] = 0.0
    kind = seed % 4
    if kind == 0:
        S = np.empty((B, 2 * h))
        S[:, 0::2], S[:, 1::2] = x, -x
    elif kind == 1:
        S = np.concatenate([x, -x], axis=1)
    elif kind == 2:
        S = np.concatenate([x, -x], axis=1)
        if h:
            S[rng.integers(B), h + rng.integers(h)] += 1.0  # one pair broken
    else:
        S = rng.normal(size=(B, 2 * h + 1))  # odd
    S = np.ascontiguousarray(S)
    k = S.shape[1]
    ref = 0
    if k and k % 2 == 0:
        if np.array_equal(S[:, 1::2], -S[:, 0::2]):
            ref = 1
        elif np.array_equal(S[:, k // 2 :], -S[:, : k // 2]):
            ref = 2
    assert nk.pair_layout(S) == ref


@pytest.mark.parametrize("seed", range(20))
def test_polish_needs_equals_the_numpy_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    B = int(rng.integers(1, 12))
    st = rng.choice([0, 1], size=B).astype(np.int64)
    sw = rng.integers(0, 100, size=B).astype(np.int64)
    infeasible = rng.random(B) < 0.2
    n = int(rng.choice([0, 5, 10_000]))
    n_ff = int(rng.integers(0, 2))
    om = float(rng.choice([1.0, 1.4]))
    conv, idx, bad = nk.polish_needs(
        st,
        sw,
        infeasible,
        0,
        nw._SLOW_SWEEPS,
        n > 0 and (n_ff > 0 or (om > 1.0 and n <= nw.SMALL_PROBLEM)),
        0 < n <= nw.SMALL_PROBLEM,
        n > 0,
    )
    slow = (sw > nw._SLOW_SWEEPS) | (om > 1.0)
    need = (st != 0) | (n_ff > 0) | (slow & (n <= nw.SMALL_PROBLEM))
    need &= ~infeasible
    np.testing.assert_array_equal(conv, st == 0)
    np.testing.assert_array_equal(idx, (need & (n > 0)).nonzero()[0])
    assert bad == int(infeasible.sum())


@pytest.mark.parametrize("preset", ["xs"])
def test_one_sample_solve_equals_its_batch_row(preset: str) -> None:
    """solve (one sample: the few-sample path through these kernels) gives the answer
    of the same sample in a batch of 16 (the chunked path), and the Solution's circuit
    carries the sample's values."""
    c = drn(preset=preset, seed=2)
    net = Network(c)
    rng = np.random.default_rng(5)
    S = net.default_values() + rng.normal(scale=0.5, size=(16, net.n_inputs))
    S[:, 1::2] = -S[:, 0::2]  # a DRN's paired inputs: the paired map
    batch = net.solve_batch(S, certify=False)
    for b in (0, 7):
        sol = net.solve(S[b], certify=False)
        np.testing.assert_allclose(sol.voltages, batch.voltages[b], rtol=0, atol=1e-9)
        assert sol.status == batch.status[b]
        vs = sol.circuit.vsources
        np.testing.assert_array_equal(vs.value, S[b, : len(vs)])
        assert sol.circuit.isources is c.isources or np.array_equal(
            sol.circuit.isources.value, c.isources.value
        )
