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


def test_row_sums_of_the_kernels_flag_the_same_rows() -> None:
    """The sums column_keys and row_abs_max give (summed in any order) flag the
    same rows; row_abs_max's largest |x| of the finite rows is exact."""
    from resbench.batch._certificate_kernels import column_keys, row_abs_max

    x = np.ones((5, 40))
    x[0, 7] = -3.5
    x[1, 1] = np.nan
    x[2, :2] = 1e308
    x[3, 30] = -np.inf
    x[4, :2] = (np.inf, -np.inf)
    want = [False, True, False, True, True]
    _, _, sums = column_keys(x, np.linspace(1.0, 2.0, 5))
    assert _non_finite_rows(x, sums).tolist() == want
    sums, big = row_abs_max(x)
    assert _non_finite_rows(x, sums).tolist() == want
    assert big[0] == 3.5 and big[2] == 1e308


def test_non_finite_samples_of_a_folded_batch() -> None:
    """A batch large enough to be folded (its keys come with the finite check): the
    samples with NaN / inf fail, the others get the certificate they get alone."""
    from resbench.batch import Network
    from resbench.batch.certificate import FOLD_MIN_BATCH, BatchCertifier
    from resbench.generate import drn

    c = drn([300, 280, 10], seed=2)
    net = Network(c, inputs=list(c.vsources.names))
    rng = np.random.default_rng(1)
    pixels = np.where(rng.random((FOLD_MIN_BATCH + 4, 150)) < 0.3, 1.0, 0.0)
    values = np.empty((pixels.shape[0], 300))
    values[:, 0::2] = 2.0 * pixels
    values[:, 1::2] = -2.0 * pixels
    volts = net.solve_batch(values, certify=False).voltages
    bc = BatchCertifier(c, inputs=net.input_names)
    assert bc._folds_batch(volts.shape[0])
    clean = bc.certify(volts, values, currents=False)
    v, x = volts.copy(), values.copy()
    v[3, 400] = np.nan
    x[5, 7] = np.inf
    got = bc.certify(v, x, currents=False)
    bad = np.zeros(v.shape[0], dtype=bool)
    bad[[3, 5]] = True
    assert not got.ok[bad].any() and np.isinf(got.kcl[bad]).all()
    for name in ("ok", "feas_tol", "kcl_tol", "comp_tol", "feasibility", "kcl"):
        a, b = getattr(got, name)[~bad], getattr(clean, name)[~bad]
        assert np.allclose(a, b, rtol=1e-12, atol=1e-3 * clean.kcl_tol.min()), name
