"""The batch certificate's work buffers are uninitialised (kept between calls): rows it
leaves undefined on purpose (source-held rows bounded per (row, sample)) must never be
read nor take part in arithmetic, whatever the buffers hold (a CI run warned "invalid
value encountered in add" on the known currents of a circuit with a current source:
the garbage of np.empty had formed a signalling NaN)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import resbench.batch.certificate as batch_certificate
from resbench.batch.dc import run_dc
from resbench.netlist import read_netlist

# quiet NaN, +inf, -inf and a signalling NaN's bits: what an uninitialised buffer may hold
POISONS = (0x7FF8000000000000, 0x7FF0000000000000, 0xFFF0000000000000, 0x7FF0000000000001)


@pytest.mark.parametrize("poison", POISONS)
def test_poisoned_buffers_give_the_same_certificate_without_warnings(
    poison: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = read_netlist("netlists/dc_drn_unit.cir")  # a current source that is not an input
    clean = run_dc(c).result.certificate
    fetch = batch_certificate.BatchCertifier._buffer

    def poisoned(self, name, shape, dtype=np.float64):  # noqa: ANN001, ANN202
        buf = fetch(self, name, shape, dtype)
        if buf.dtype == np.float64:
            buf.view(np.uint64).fill(poison)
        return buf

    monkeypatch.setattr(batch_certificate.BatchCertifier, "_buffer", poisoned)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        again = run_dc(c).result.certificate
    assert np.all(again.ok)
    for f in type(again).PER_SAMPLE:
        np.testing.assert_array_equal(getattr(again, f), getattr(clean, f), err_msg=f)
