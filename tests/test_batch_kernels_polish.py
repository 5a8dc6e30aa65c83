"""The batch polish's kernels for tiny problems (issue 12): the sample loop inside one
numba function, and the per-sample current scales in one pass.

* ``polish_dense_batch`` (every sample in one call) gives, sample by sample, bit for
  bit the status and point of ``polish_dense`` (one sample per call) from the same
  start, also for samples that take several active-set steps, that hit the iteration
  limit (their start comes back) and that are not finite (not run);
* ``sample_i_scales`` equals its numpy formula, NaN and inf included.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from resbench import read_netlist
from resbench.batch import Network
from resbench.batch.dc import dc_points
from resbench.batch.network import with_values
from resbench.batch.polish import sample_i_scales
from resbench.solvers import _polish_kernels as pk
from resbench.solvers.polish import RAY_SLOPE, REL_TOL, STEP_TOL

NETLISTS = Path(__file__).resolve().parent.parent / "netlists"


def _sweep_problem(name: str):
    """A .dc sweep's problem and per-sample arrays, with cold starts (clipped c/diag,
    projected onto the diodes by Bellman–Ford), far from the optimum."""
    circuit = read_netlist(NETLISTS / name)
    names, S = dc_points(circuit)
    net = Network(with_values(circuit, names, S[0]), inputs=names)
    dS = S - net._s0
    C = net._inject(S, dS, np.dtype(np.float64))
    lo, hi = net._bounds(dS)
    ffl = net._ff_limits(dS)
    vs = net._v_scales(S, dS, C)
    bad = net._infeasible(dS, lo, hi)
    u0 = np.clip(C * net._inv_diag[:, None], lo, hi)
    if net._problem.n_ff_diodes:
        u0 = net._feasible_starts(u0, lo, hi, ffl, bad)
    p = net._problem
    return p, C, lo, hi, ffl, vs, sample_i_scales(p, C, vs), np.ascontiguousarray(u0)


@pytest.mark.parametrize("name", ["dc_diode_iv.cir", "dc_drn_unit.cir"])
@pytest.mark.parametrize("max_iter", [-1, 1])
def test_batch_kernel_equals_one_sample_per_call(name: str, max_iter: int) -> None:
    p, C, lo, hi, ffl, vs, isc, U = _sweep_problem(name)
    if name == "dc_diode_iv.cir":  # its diode forced tight: where it blocks, the
        # multiplier is negative and the polish takes a second step (as the polish's
        # own test of one round)
        a, c = int(p.ff_anode[0]), int(p.ff_cathode[0])
        U[a] = U[c] + ffl[0]
    U[:, 3] = np.nan  # not run: comes back as it was
    isc = isc.copy()
    isc[5] = np.inf
    col = lambda a, b: np.ascontiguousarray(a[:, b if a.shape[1] > 1 else 0])  # noqa: E731
    cc = lambda a: np.ascontiguousarray(a)  # noqa: E731
    args = (p.indptr, p.indices, p.data, p.diag)
    for bounds_first in (False, True):
        if bounds_first and p.n_ff_diodes:
            continue  # (bounds_first is for problems without free–free diodes)
        out, st = pk.polish_dense_batch(
            *args, cc(C), cc(lo), cc(hi), p.ff_anode, p.ff_cathode, cc(ffl), p.island, U,
            vs, isc, REL_TOL, STEP_TOL, RAY_SLOPE, bounds_first, max_iter, pk.LU_MAX,
        )  # fmt: skip
        assert st[3] == st[5] == pk.NOT_FINITE
        assert np.array_equal(out[:, 3], U[:, 3], equal_nan=True)
        assert np.array_equal(out[:, 5], U[:, 5])
        iters = []
        for b in np.flatnonzero(st != pk.NOT_FINITE):
            s1, u1, it, _, _ = pk.polish_dense(
                *args, col(C, b), col(lo, b), col(hi, b), p.ff_anode, p.ff_cathode,
                col(ffl, b), p.island, col(U, b), REL_TOL * vs[b], REL_TOL * vs[b],
                REL_TOL * isc[b], STEP_TOL * vs[b], RAY_SLOPE, bounds_first, max_iter,
                pk.LU_MAX,
            )  # fmt: skip
            assert s1 == st[b]
            assert np.array_equal(out[:, b], u1 if s1 == pk.OPTIMAL else U[:, b])
            iters.append(it)
        if max_iter == 1:
            assert (st == pk.ITERATION_LIMIT).any()
        else:
            assert (st[st != pk.NOT_FINITE] == pk.OPTIMAL).all()
            assert max(iters) >= 2 or name != "dc_diode_iv.cir"


def test_sample_i_scales_equals_the_numpy_formula() -> None:
    rng = np.random.default_rng(0)

    def ref(p, C, v):
        dmax = float(np.max(p.diag)) if p.n else 0.0
        cmax = np.abs(C).max(axis=0) if C.shape[0] else np.zeros(C.shape[1])
        return np.maximum(np.maximum(dmax * np.asarray(v, dtype=float), cmax), 1e-15)

    for _ in range(200):
        n, B = int(rng.integers(0, 5)), int(rng.integers(1, 6))
        p = SimpleNamespace(n=n, diag=rng.uniform(0, 2, n))
        C = rng.normal(size=(n, B)) * 10.0 ** rng.integers(-20, 3)
        v = rng.uniform(0, 1, B) * 10.0 ** rng.integers(-20, 3)
        if n and rng.random() < 0.3:
            C[rng.integers(n), rng.integers(B)] = np.nan
        if rng.random() < 0.2:
            v[rng.integers(B)] = np.nan
        if rng.random() < 0.2:
            v[rng.integers(B)] = np.inf
        with np.errstate(invalid="ignore"):
            want = ref(p, C, v)
            assert np.array_equal(sample_i_scales(p, C, v), want, equal_nan=True)
            assert np.array_equal(sample_i_scales(p, C.T.copy().T, v), want, equal_nan=True)
