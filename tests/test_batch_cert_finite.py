"""The batch certificate's check for samples holding NaN or inf (one summing pass,
value by value only where a row's sum is not finite)."""

from __future__ import annotations

import numpy as np

from resbench.batch.certificate import _non_finite_rows


def test_non_finite_rows_flags_nan_and_inf_only() -> None:
    x = np.ones((5, 3))
    x[1, 1] = np.nan
    x[2, :2] = 1e308  # finite values whose sum overflows: not flagged
    x[3, 2] = -np.inf
    x[4, :2] = (np.inf, -np.inf)  # their sum is NaN
    assert _non_finite_rows(x).tolist() == [False, True, False, True, True]
    assert _non_finite_rows(np.zeros((2, 0))).tolist() == [False, False]
    assert _non_finite_rows(np.broadcast_to(np.ones(3), (2, 3))).tolist() == [False, False]
