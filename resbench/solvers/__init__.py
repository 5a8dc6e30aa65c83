"""Solvers behind one interface: ``solve(circuit, solver=…) -> Solution``.

* ``cd`` — exact coordinate descent with numba + exact active-set polish (fast).
* ``reference`` — slow, obviously correct (KKT + Lemke), for tests and checks.
* ``ngspice`` — ngspice through PySpice, in a child process.

Imports are lazy so that importing resbench stays cheap and numba/PySpice load
only when a solver that needs them runs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from resbench.circuit import Circuit
from resbench.solution import CONVERGED, FAILED, NOT_CERTIFIED, Solution

SOLVERS = ("cd", "reference", "ngspice")
CD_DEFAULT_TOL = 1e-12  # relative to the voltage scale (see resbench.solvers.cd)
CD_DEFAULT_MAX_SWEEPS = 100_000
EXACT_SOLVERS = ("cd", "reference")


def solve(
    circuit: Circuit,
    solver: str = "cd",
    *,
    certify: bool = True,
    rtol: float = 1e-9,
    on_phase: Callable[[str], None] | None = None,
    **options,
) -> Solution:
    """Solve ``circuit`` with the named solver and (by default) certify the answer.

    ``options`` go to the solver (e.g. ``tol``, ``max_sweeps``, ``omega``, ``gmin``
    for cd; ``mode``, ``diode_model``, ``timeout`` for ngspice).  When certified,
    diode and voltage-source currents missing from the solver's answer are taken
    from the certificate's multipliers, and an exact solver whose answer fails
    the certificate gets status ``not_certified`` (never ``converged``).
    ``on_phase``, if given, is called with ``"solve"`` and then ``"certify"`` as
    each phase starts (the CLI shows them on a status line).
    """
    if on_phase is not None:
        on_phase("solve")
    if solver == "cd":
        from resbench.solvers.cd import solve_cd

        sol = solve_cd(circuit, **options)
    elif solver == "reference":
        from resbench.solvers.reference import solve_reference

        sol = solve_reference(circuit, **options)
    elif solver == "ngspice":
        from resbench.solvers.ngspice import solve_ngspice

        sol = solve_ngspice(circuit, **options)
    else:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    guard_finite(sol)
    if certify and sol.voltages is not None and np.all(np.isfinite(sol.voltages)):
        from resbench.certificate import certify as run_certify

        if on_phase is not None:
            on_phase("certify")
        cert = run_certify(circuit, sol.voltages, rtol=rtol, gmin=options.get("gmin", 0.0) or 0.0)
        sol.certificate = cert
        if sol.diode_current is None:
            sol.diode_current = cert.diode_current
        if sol.vsource_current is None:
            sol.vsource_current = cert.vsource_current
        if solver in EXACT_SOLVERS and sol.status == CONVERGED and not cert.ok:
            sol.status = NOT_CERTIFIED
    return sol


def guard_finite(sol: Solution) -> Solution:
    """A solution with a non-finite voltage is never ``converged``: it becomes ``failed``
    with the reason in ``info["error"]`` (values that overflow double precision)."""
    v = sol.voltages
    if sol.status == CONVERGED and v is not None and not np.all(np.isfinite(v)):
        k = int(np.argmax(~np.isfinite(v)))
        sol.status = FAILED
        sol.info["error"] = (
            f"the solver produced a non-finite voltage ({v[k]!r} V at node "
            f"{sol.circuit.nodes[k]}): values overflow double precision; rescale units"
        )
    return sol
