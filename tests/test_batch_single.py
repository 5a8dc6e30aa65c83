"""One-sample (and few-sample) solves of a dense input map: the product over the nonzero
inputs (:func:`resbench.batch._kernels.gemv_nonzero`, whole columns, serial; and
``gemv_nonzero_rows``, the rows split over threads for large maps).

* both kernels give the plain column-by-column sums, the same bit for bit at any
  number of row blocks, and zero samples give the base injections;
* a digit through ``Network.solve`` equals ``resbench.solve`` of the sample's circuit
  (to 1e-9 of the voltage scale), whichever kernel the product takes, and does not
  depend on the samples solved before; a zero sample is solved; NaN / inf rejected.
"""

from __future__ import annotations

import numpy as np
import pytest

import resbench
import resbench.batch.network as network_mod
from resbench.batch import Network
from resbench.batch import _kernels as bk
from resbench.errors import InputError
from resbench.generate import digits_image, drn

GAIN = 50.0


@pytest.fixture(scope="module")
def net_and_inputs() -> tuple[Network, np.ndarray]:
    c = drn([200, 60, 5], seed=7, bias=True)
    names = [n for n in c.vsources.names if n.startswith("vin")]
    net = Network(c, inputs=names)
    pix = np.array([digits_image(100, s) for s in range(4)])
    vals = np.empty((4, 200))
    vals[:, 0::2] = pix * GAIN
    vals[:, 1::2] = 0.0 - pix * GAIN
    return net, vals


def _reference(A: np.ndarray, c0: np.ndarray, s: np.ndarray) -> np.ndarray:
    acc = c0.copy()
    for j in range(s.size):
        if s[j] != 0.0:
            acc = acc + A[:, j] * s[j]
    return acc


@pytest.mark.parametrize("k", [1, 3, 4, 9, 17])
def test_both_kernels_add_the_nonzero_columns_in_order(k):
    rng = np.random.default_rng(k)
    A = np.asfortranarray(rng.normal(size=(301, k)))
    c0 = rng.normal(size=301)
    S = rng.normal(size=(3, k))
    S[0, ::2] = 0.0
    S[2] = 0.0
    out = np.empty((301, 3))
    bk.gemv_nonzero(A, c0, S, out)
    for b in range(3):
        np.testing.assert_allclose(out[:, b], _reference(A, c0, S[b]), rtol=1e-13, atol=1e-13)
    assert np.array_equal(out[:, 2], c0)
    for nblk in (1, 2, 3, 7, 1000):  # any row split: the same sums bit for bit
        out_r = np.full((301, 3), np.nan)
        bk.gemv_nonzero_rows(A, c0, S, out_r, nblk)
        assert np.array_equal(out_r, out)


def _check_against_reference(net: Network, s: np.ndarray) -> np.ndarray:
    sol = net.solve(s, certify=False)
    ref = resbench.solve(network_mod.with_values(net.circuit, net.input_names, s))
    scale = max(float(np.abs(ref.voltages).max()), float(np.abs(s).max()), 1.0)
    assert np.abs(sol.voltages - ref.voltages).max() <= 1e-9 * scale
    return sol.voltages


def test_digits_equal_the_reference_solver(net_and_inputs):
    net, vals = net_and_inputs
    for s in vals:
        _check_against_reference(net, s)
    _check_against_reference(net, np.zeros(net.n_inputs))  # a zero sample


def test_threaded_row_blocks_give_the_same_answer(net_and_inputs, monkeypatch):
    net, vals = net_and_inputs
    serial = net.solve(vals[1], certify=False).voltages
    monkeypatch.setattr(network_mod, "GEMM_PARALLEL", 0)  # every map counts as large
    monkeypatch.setattr(network_mod, "SERIAL_BELOW", 0)  # and no one-thread block
    calls = []
    rows = bk.gemv_nonzero_rows

    def spy(*args):
        calls.append(args[-1])
        return rows(*args)

    monkeypatch.setattr(bk, "gemv_nonzero_rows", spy)
    r = net.solve_batch(vals[1:2], certify=False, threads=2)
    assert calls == [2]
    assert np.array_equal(r.voltages[0], serial)


def test_an_answer_does_not_depend_on_earlier_solves(net_and_inputs):
    net, vals = net_and_inputs
    first = net.solve(vals[2], certify=False).voltages
    net.solve(vals[0], certify=False)
    net.solve(np.zeros(net.n_inputs), certify=False)
    net.solve_batch(vals, certify=False)
    assert np.array_equal(net.solve(vals[2], certify=False).voltages, first)
    fresh = Network(net.circuit, inputs=net.input_names)
    assert np.array_equal(fresh.solve(vals[2], certify=False).voltages, first)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_rejected(net_and_inputs, bad):
    net, vals = net_and_inputs
    s = vals[0].copy()
    s[5] = bad
    with pytest.raises(InputError):
        net.solve(s, certify=False)
    with pytest.raises(InputError):
        net.solve_batch(np.vstack([vals[1], s]), certify=False)
