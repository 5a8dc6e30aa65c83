"""Solvers behind one interface: ``solve(circuit, solver=…) -> Solution``.

* ``cd`` — exact coordinate descent with numba + exact active-set polish (fast).
* ``reference`` — slow, obviously correct (KKT + Lemke), for tests and checks.
* ``ngspice`` — ngspice through PySpice, in a child process.
* peers, for ``compare``/``scale --solvers`` (:mod:`resbench.solvers.qp`,
  :mod:`resbench.solvers.scipy_direct`, :mod:`resbench.solvers.paper_backend`):
  ``osqp``, ``clarabel``, ``highs`` (extra ``qp``), ``scipy`` (sparse direct
  active-set) and ``paper`` (the paper's PyTorch code, extra ``peers``), each on the
  same reduced problem; a missing extra raises :class:`NotInstalled`, a circuit a
  peer cannot take :class:`NotApplicable`.

Each solver is declared once in :mod:`resbench.solvers.registry` (name, entry
function, options dataclass, exact or not); :func:`solve` and the CLI read it.
Imports are lazy so that importing resbench stays cheap and numba/PySpice load
only when a solver that needs them runs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from resbench.circuit import Circuit
from resbench.defaults import CD_DEFAULT_MAX_SWEEPS as CD_DEFAULT_MAX_SWEEPS  # re-export
from resbench.defaults import CD_DEFAULT_TOL as CD_DEFAULT_TOL  # re-export
from resbench.defaults import DEFAULT_RTOL
from resbench.solution import (
    CONVERGED,
    FAILED,
    NOT_CERTIFIED,
    STALLED,
    SWEEP_LIMIT,
    TIMEOUT,
    Solution,
)
from resbench.solvers.registry import (
    CdOptions,
    ClarabelOptions,
    HighsOptions,
    NgspiceOptions,
    NotApplicable,
    NotInstalled,
    OsqpOptions,
    PaperOptions,
    ReferenceOptions,
    ScipyOptions,
    SolverOptionError,
    SolverSpec,
    SolverUnavailable,
    UnknownSolverError,
    exact_solver_names,
    get_solver,
    parse_solver_options,
    peer_solver_names,
    register,
    solver_names,
    unregister,
)

__all__ = [
    "CD_DEFAULT_MAX_SWEEPS",
    "CD_DEFAULT_TOL",
    "EXACT_SOLVERS",
    "SOLVERS",
    "CdOptions",
    "ClarabelOptions",
    "HighsOptions",
    "NgspiceOptions",
    "NotApplicable",
    "NotInstalled",
    "OsqpOptions",
    "PaperOptions",
    "ReferenceOptions",
    "ScipyOptions",
    "SolverOptionError",
    "SolverSpec",
    "SolverUnavailable",
    "UnknownSolverError",
    "exact_solver_names",
    "get_solver",
    "guard_finite",
    "parse_solver_options",
    "peer_solver_names",
    "register",
    "solve",
    "solver_names",
    "status_message",
    "unregister",
]


def __getattr__(name: str) -> tuple[str, ...]:
    """``SOLVERS`` and ``EXACT_SOLVERS``, read from the registry when asked (so a solver
    registered later is in them)."""
    if name == "SOLVERS":
        return solver_names()
    if name == "EXACT_SOLVERS":
        return exact_solver_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def solve(
    circuit: Circuit,
    solver: str = "cd",
    *,
    certify: bool = True,
    rtol: float = DEFAULT_RTOL,
    on_phase: Callable[[str], None] | None = None,
    **options,
) -> Solution:
    """Solve ``circuit`` with the named solver and (by default) certify the answer.

    ``solver`` is a registered name (:func:`solver_names`).  ``options`` go to the
    solver: the fields of its options dataclass (:class:`CdOptions`,
    :class:`ReferenceOptions`, :class:`NgspiceOptions`); any other name raises
    SolverOptionError naming the valid ones, an unknown solver UnknownSolverError.
    When certified, diode and voltage-source currents missing from the answer are taken
    from the certificate's multipliers, and an exact solver whose answer fails
    the certificate gets status ``not_certified`` (never ``converged``).
    ``on_phase``, if given, is called with ``"solve"`` and then ``"certify"`` as
    each phase starts (the CLI shows them on a status line).  ``Solution.message``
    gets a one-line explanation of the status (:func:`status_message`) unless the
    solver set one.
    """
    if on_phase is not None:
        on_phase("solve")
    spec = get_solver(solver)
    spec.check_options(options)  # before any work: a mistyped option is an error
    sol = spec.run(circuit, **options)
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
        if spec.exact and sol.status == CONVERGED and not cert.ok:
            sol.status = NOT_CERTIFIED
    if not sol.message:
        sol.message = status_message(sol)
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


def status_message(sol: Solution) -> str:
    """A one-line human explanation of ``sol.status`` (what ``Solution.message`` holds)."""
    lines = str(sol.info.get("error") or "").strip().splitlines()
    error = lines[0] if lines else ""
    cert = sol.certificate
    failed_cert = (
        f"the optimality certificate rejects the answer (feasibility {cert.feasibility:.3g} V, "
        f"KCL {cert.kcl:.3g} A, complementarity {cert.complementarity:.3g} W)"
        if cert is not None and not cert.ok
        else "the optimality certificate rejects the answer"
    )
    if sol.status == CONVERGED:
        if cert is None:
            return "converged (not certified)"
        if cert.ok:
            return "converged; the optimality certificate proves the answer"
        return f"converged, but {failed_cert}"
    if sol.status == NOT_CERTIFIED:
        return failed_cert
    if sol.status == SWEEP_LIMIT:
        return "stopped at the sweep limit before reaching the tolerance"
    if sol.status == STALLED:
        return "stalled: no further progress is possible with the solver's moves"
    if sol.status == TIMEOUT:
        return error or "the solver ran past its time limit"
    if sol.status == FAILED:
        return error or "the solver produced no answer"
    return error or sol.status
