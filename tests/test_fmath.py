"""resbench._fmath: maxima and minima that LLVM reduces in vectors.

References: numpy's max / min of the same values (a maximum is exact, whatever the
order of the reduction), the Python comparisons for pairs, and the LLVM IR of a
reduction written with them (vector instructions, where the ``select`` form has none).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numba import njit

from resbench._fmath import fmax, fmin


@njit
def _extremes(x):
    h = x[0]
    lw = x[0]
    for j in range(x.shape[0]):
        h = fmax(x[j], h)
        lw = fmin(x[j], lw)
    return h, lw


@njit
def _pair(a, b):
    return fmax(a, b), fmin(a, b)


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.sampled_from([np.float64, np.float32]),
    st.integers(1, 300).flatmap(lambda n: arrays(np.float64, n, elements=finite)),
)
def test_reductions_equal_numpy(dtype, values) -> None:
    with np.errstate(over="ignore"):  # (float32: large values become +-inf, kept)
        x = values.astype(dtype)
    h, lw = _extremes(x)
    assert h == x.max() and lw == x.min()


@settings(max_examples=200, deadline=None, database=None)
@given(finite, finite)
def test_pairs(a: float, b: float) -> None:
    hi, lo = _pair(a, b)
    assert hi == max(a, b) and lo == min(a, b)


def test_nan_gives_the_other_operand() -> None:
    assert _pair(math.nan, 2.0) == (2.0, 2.0)
    assert _pair(-1.0, math.nan) == (-1.0, -1.0)


def test_float_pairs_only() -> None:
    with pytest.raises(Exception, match="fmax|No implementation|Invalid use"):
        _pair(1, 2)


def test_a_reduction_is_vectorised() -> None:
    # the reason for the module: the select form is not reduced in vectors
    @njit(fastmath={"nnan", "ninf", "nsz", "reassoc"})
    def with_fmax(x):
        m = x[0]
        for j in range(x.shape[0]):
            m = fmax(x[j], m)
        return m

    x = np.arange(64.0)
    assert with_fmax(x) == 63.0
    ir = with_fmax.inspect_llvm(with_fmax.signatures[0])
    assert "x double>" in ir
