"""The batch certificate skips the float32 products of source-held rows that cannot
hold a sample's scale, and its scales stay exact whichever rows it skips.

BatchCertifier multiplies the rows of nodes held by grounded voltage sources (a DRN's
inputs) only to bound each node's total current, which sets i_scale and v_scale.
``range_extremes`` says which of those rows can reach a sample's scale; the rows it
leaves out are bounded by their neighbours' voltage range alone.  That choice is a
heuristic for speed: these tests force other choices (none, all, every other row)
and check the verdicts, tolerances and residuals against the scalar certificate.
These are the products of whole rows, used when the held rows are not multiplied per
(row, sample) (``BatchCertifier._pin32`` is None: rows not dense over the columns they
span; tests/test_batch_cert_lazy.py covers the per-sample products): the tests turn
the per-sample products off.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_batch_certificate import _close

import resbench.batch.certificate as batch_certificate
from resbench.batch import Network
from resbench.batch.certificate import BatchCertifier
from resbench.batch.network import with_values
from resbench.certificate import certify
from resbench.generate import drn

LAYERS = [300, 280, 10]  # > 256 nodes: dense blocks, float32 products of held rows


@pytest.fixture(scope="module")
def batch() -> tuple[Network, np.ndarray, np.ndarray]:
    """A DRN and 20 solved samples: mostly dark pixels, a few saturated ones (as
    digits), so that some inputs are never near a sample's extreme voltage."""
    c = drn(LAYERS, seed=3)
    net = Network(c, inputs=list(c.vsources.names))
    rng = np.random.default_rng(5)
    m = LAYERS[0] // 2
    pixels = np.where(rng.random((20, m)) < 0.2, rng.choice([0.5, 1.0], (20, m)), 0.0)
    pixels[:, : m // 3] = 0.0  # a dark border: those inputs are 0 in every sample
    # and the last inputs, which share a tile of 32 nodes with the first hidden ones
    # (the inputs' neighbour ranges are taken over whole tiles)
    pixels[:, -8:] = 0.0
    values = np.empty((20, 2 * m))
    values[:, 0::2] = 3.0 * pixels
    values[:, 1::2] = -3.0 * pixels
    volts = net.solve_batch(values, certify=False).voltages
    return net, volts, values


def _whole_rows(bc: BatchCertifier) -> BatchCertifier:
    """``bc`` with the per-(row, sample) products of held rows turned off."""
    assert bc._pin32 is not None
    bc._pin32 = None
    return bc


def _matches_scalar(bc: BatchCertifier, volts: np.ndarray, values: np.ndarray) -> None:
    got = bc.certify(volts, values, rtol=1e-9, currents=False)
    for b in range(volts.shape[0]):
        ref = certify(with_values(bc.circuit, bc.input_names, values[b]), volts[b], rtol=1e-9)
        where = f"sample {b}: batch {got.ok[b]} scalar {ref.summary()}"
        assert got.ok[b] == ref.ok, where
        for name in ("feas_tol", "kcl_tol", "comp_tol"):
            assert _close(getattr(got, name)[b], getattr(ref, name), 0.0), (name, where)
        assert _close(got.kcl[b], ref.kcl, ref.i_scale), where
        assert _close(got.feasibility[b], ref.feasibility, ref.v_scale), where


def test_some_held_rows_are_skipped_and_scales_match(batch, monkeypatch) -> None:
    net, volts, values = batch
    seen: list[np.ndarray] = []
    real = batch_certificate.range_extremes

    def spy(*args):
        hi, lo, rows = real(*args)
        seen.append(rows.copy())
        return hi, lo, rows

    monkeypatch.setattr(batch_certificate, "range_extremes", spy)
    bc = _whole_rows(BatchCertifier(net.circuit, inputs=net.input_names))
    assert bc._w_pin is not None and bc._w_pin.blocks, "the inputs' rows are dense"
    _matches_scalar(bc, volts, values)
    rows = seen[-1]
    held = int(bc._pinned_rows.sum())
    assert 0 < int(rows.sum()) < held, (int(rows.sum()), held)
    assert not rows[1 : 1 + 2 * (LAYERS[0] // 2 // 3)].any(), "dark inputs are skipped"


@pytest.mark.parametrize("choice", ["none", "all", "alternate"])
def test_scales_are_exact_whichever_rows_are_multiplied(batch, monkeypatch, choice) -> None:
    """The rows left out fall back to the range bound: any choice gives the scalar
    certificate's figures (here: every row skipped, none, every other one)."""
    net, volts, values = batch
    real = batch_certificate.range_extremes

    def forced(*args):
        hi, lo, rows = real(*args)
        if rows.size:
            held = args[10]
            if choice == "none":
                rows = np.zeros_like(rows)
            elif choice == "all":
                rows = held.copy()
            else:
                rows = held & (np.arange(rows.size) % 2 == 0)
        return hi, lo, rows

    monkeypatch.setattr(batch_certificate, "range_extremes", forced)
    bc = _whole_rows(BatchCertifier(net.circuit, inputs=net.input_names))
    _matches_scalar(bc, volts, values)
