"""Small Shockley problems (issue 16: no bundled netlist slower than ngspice).

The Newton polish of :mod:`resbench.solvers.shockley` runs as one numba kernel on
small problems (``newton_dense``) and is tried early (after ``NEWTON_AFTER_SMALL``
sweeps) there.  Checked: the kernel against the scipy path of the same method, the
fallback when the early attempt misses, and the answers against the reference solver
and the certificate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from resbench import parse_netlist, solve
from resbench.diodes import expand
from resbench.netlist import read_netlist
from resbench.solvers import _shockley_kernels as sk
from resbench.solvers import shockley

NETLISTS = Path(__file__).resolve().parents[1] / "netlists"

CHAIN = (
    "chain\nV1 in 0 5\nR1 in a 1k\nD1 a b dm\nD2 b c dm\nD3 c d dm\nR2 d 0 1k\n"
    "R3 b 0 10k\nR4 c 0 10k\n.model dm D(IS=1e-14 N=1)\n"
)
BRIDGE_RS = (
    "bridge\nV1 ac1 ac2 DC 10\nD1 ac1 p dsi\nD2 ac2 p dsi\nD3 n ac1 dsi\nD4 n ac2 dsi\n"
    "RL p n 1k\nRref1 ac2 0 10k\nRref2 n 0 10k\n.model dsi D(IS=2.52n N=1.752 RS=0.568)\n"
)
CLAMP = (
    "clamp\nV1 in 0 3\nR1 in a 1k\nD1 a b dm\nR2 b 0 2k\nD2 b 0 dm\nI1 0 b 1u\nD3 0 a dm\n"
    ".model dm D(IS=1e-12 N=1.5)\n"
)


def _start(text: str, sweeps: int):
    """The Shockley problem of a netlist and its point after ``sweeps`` sweeps."""
    sp = shockley.compile_shockley(expand(parse_netlist(text), keep_rs=True))
    u = sp.p.start.copy()
    sk.shockley_sweeps(*shockley._args(sp), u, sweeps, 1e-12 * sp.p.v_scale)
    return sp, u


@pytest.mark.parametrize("text", [CHAIN, BRIDGE_RS, CLAMP])
@pytest.mark.parametrize("sweeps", [10, 30, 100])
def test_dense_kernel_matches_the_sparse_newton(
    text: str, sweeps: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    sp, u0 = _start(text, sweeps)
    tol_i = shockley.KCL_FACTOR * 1e-12 * sp.p.i_scale
    dense = u0.copy()
    it_dense = shockley.newton_polish(sp, dense, tol_i)
    monkeypatch.setattr(shockley, "DENSE_NEWTON", -1)  # the scipy path
    sparse = u0.copy()
    it_sparse = shockley.newton_polish(sp, sparse, tol_i)
    args = shockley._args(sp)
    res = float(sk.shockley_residual(*args, dense)), float(sk.shockley_residual(*args, sparse))
    assert (res[0] <= tol_i) == (res[1] <= tol_i)
    assert abs(it_dense - it_sparse) <= 1
    assert np.max(np.abs(dense - sparse)) <= 1e-9 * sp.p.v_scale
    if sweeps == 100:  # from a point this close, Newton meets the KCL rule
        assert res[0] <= tol_i


def test_dense_kernel_stops_at_the_iteration_limit() -> None:
    sp, u = _start(CHAIN, 1)
    tol_i = shockley.KCL_FACTOR * 1e-12 * sp.p.i_scale
    assert shockley.newton_polish(sp, u, tol_i, max_iter=2) == 2
    assert np.all(np.isfinite(u))


@pytest.mark.parametrize("text", [CHAIN, BRIDGE_RS, CLAMP])
def test_small_solves_agree_with_the_reference(text: str) -> None:
    c = parse_netlist(text)
    cd, ref = solve(c), solve(c, "reference")
    assert cd.ok and ref.ok, cd.certificate.summary()
    assert np.max(np.abs(cd.voltages - ref.voltages)) <= 1e-10
    assert cd.info["polished"]
    # the early attempt ends BRIDGE_RS and CLAMP; from CHAIN's 10-sweep point Newton
    # stalls (the scipy path alike, above): the usual attempt after NEWTON_AFTER ends it
    expected = shockley.NEWTON_AFTER if text == CHAIN else shockley.NEWTON_AFTER_SMALL
    assert cd.sweeps == expected


def test_a_missed_early_attempt_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """An early attempt from a poor point that does not meet the KCL rule is dropped: the
    sweeps go on from where they were, and the usual attempt follows."""
    monkeypatch.setattr(shockley, "NEWTON_AFTER_SMALL", 1)
    monkeypatch.setattr(shockley, "EARLY_NEWTON_ITER", 1)
    c = parse_netlist(CHAIN)
    cd, ref = solve(c), solve(c, "reference")
    assert cd.ok, cd.certificate.summary()
    assert cd.info["polished"] and cd.sweeps == shockley.NEWTON_AFTER
    assert cd.info["newton_iterations"] > 1  # the missed attempt's iteration, and more
    assert np.max(np.abs(cd.voltages - ref.voltages)) <= 1e-10


def test_no_polish_means_no_newton() -> None:
    c = parse_netlist(CHAIN)
    cd = solve(c, polish="never")
    assert cd.ok and not cd.info["polished"] and cd.info["newton_iterations"] == 0


@pytest.mark.parametrize("name", ["shockley_chain", "shockley_bridge", "shockley_divider"])
def test_bundled_shockley_netlists(name: str) -> None:
    c = read_netlist(NETLISTS / f"{name}.cir")
    cd, ref = solve(c), solve(c, "reference")
    assert cd.ok and ref.ok
    assert np.max(np.abs(cd.voltages - ref.voltages)) <= 1e-9
