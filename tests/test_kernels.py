"""The kernels' declared signatures (resbench._jit) are the types their callers pass:
after the warm-up, solving and certifying circuits of every kind compiles nothing new,
so compile time never leaks into a timed solve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import resbench._certificate_kernels as certificate_kernels
import resbench.batch._certificate_kernels as batch_certificate_kernels
import resbench.batch._kernels as batch_kernels
import resbench.batch.polish  # noqa: F401  (its private kernels register with _jit)
import resbench.drn._kernels as drn_kernels
from resbench import _jit, solvers
from resbench import _matmul_kernels as matmul_kernels
from resbench.generate import drn, grid, random_network
from resbench.netlist import read_netlist
from resbench.solvers import _direct_kernels as direct_kernels
from resbench.solvers import _kernels as kernels
from resbench.solvers import _polish_kernels as polish_kernels
from resbench.solvers import _problem_kernels as problem_kernels
from resbench.solvers import _shockley_kernels as shockley_kernels
from resbench.solvers.cd import ensure_compiled, solve_cd

NETLISTS = Path(__file__).resolve().parent.parent / "netlists"


def _specialisations() -> dict[str, set]:
    return {d.py_func.__name__: set(d.signatures) for d, _ in _jit.SIGNATURES}


def test_every_public_kernel_declares_a_signature():
    declared = {d.py_func.__name__ for d, _ in _jit.SIGNATURES}
    for module in (
        kernels,
        certificate_kernels,
        batch_kernels,
        batch_certificate_kernels,
        drn_kernels,
        direct_kernels,
        shockley_kernels,
        problem_kernels,
        polish_kernels,
        matmul_kernels,
    ):
        entry_points = {
            name
            for name in dir(module)
            if not name.startswith("_") and hasattr(getattr(module, name), "signatures")
        }
        assert entry_points and entry_points <= declared


def test_warm_up_compiles_each_declared_signature():
    ensure_compiled()
    for dispatcher, argtypes in _jit.SIGNATURES:
        assert argtypes in dispatcher.signatures, dispatcher.py_func.__name__


@pytest.mark.parametrize(
    "circuit",
    [
        pytest.param(lambda: drn([4, 6, 3], seed=1), id="drn"),
        pytest.param(lambda: grid(6, 6, free_free_diodes=True), id="grid-ff-diodes"),
        pytest.param(lambda: random_network(40, seed=2), id="random"),
        pytest.param(lambda: read_netlist(NETLISTS / "series_diodes.cir"), id="islands"),
        pytest.param(lambda: read_netlist(NETLISTS / "every_construct.cir"), id="every-construct"),
        pytest.param(lambda: grid(30, 30, clamps=True), id="grid-direct-finish"),
        pytest.param(lambda: read_netlist(NETLISTS / "shockley_bridge.cir"), id="shockley-rs"),
        pytest.param(lambda: read_netlist(NETLISTS / "drn_small_shockley.cir"), id="shockley-drn"),
    ],
)
def test_solving_after_the_warm_up_compiles_nothing(circuit):
    ensure_compiled()
    c = circuit()
    before = _specialisations()
    sol = solvers.solve(c, "cd")
    solve_cd(c, gmin=1e-12, omega=1.3, polish="always", warm_start=sol.voltages)
    assert sol.ok and np.all(np.isfinite(sol.voltages))
    assert _specialisations() == before
