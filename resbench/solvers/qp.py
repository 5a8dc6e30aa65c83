"""QP solvers as peers: OSQP, Clarabel and HiGHS on the reduced problem cd solves.

Every backend starts from the same :class:`~resbench.solvers.problem.Problem` that
``cd`` builds (:func:`~resbench.solvers.problem.compile_problem`: supernodes, the
free-node Laplacian with the fixed nodes folded out, bounds, free–free diodes) and
hands the solver the convex QP

    minimise  ½ uᵀ L u − cᵀ u
    s.t.      lo ≤ u ≤ hi                      (rows only where a bound is finite)
              u[an] − u[ca] ≤ w                (one row per free–free diode)

in units the solvers' absolute tolerances suit: voltages in units of the problem's
voltage scale (``u = v_scale · x``) and the objective divided by ``i_scale · v_scale``,
so that P's entries are ≤ 1 and q's are ≤ 1 in size (``Problem.v_scale``/``i_scale``:
the largest source voltage and the largest conductance × v_scale).  SI units would
hand them conductances of 1e-3 S and currents of 1e-3 A, where an absolute tolerance
of 1e-7 means nothing; this scaling only helps them.
Its answer ``u`` goes back through the supernode offsets to a voltage for every node
(:meth:`Problem.voltages`), so the certificate and the voltage comparison see the
same thing as for cd.  ``timings``: ``setup`` = compile_problem + assembling the
matrices + the solver's own setup (OSQP factorises here), ``solve`` = the solver's
solve call, ``total`` = both (the benchmark rules: same work on both sides); the JIT
compilation of compile_problem's numba kernels (first call only) is ``compile``, never
part of them.

Status: the solver's own verdict is kept as ``info["claimed"]`` (OSQP's
``"solved"``, Clarabel's ``"Solved"``, HiGHS's ``"Optimal"``); a verdict of success is
``converged``, a stop at an iteration or time limit with an iterate is
``sweep_limit``, an "inaccurate"/"almost" verdict is ``stalled``, anything else
``failed``.  The registry marks these solvers exact, so ``resbench.solve`` turns a
``converged`` answer that fails the certificate into ``not_certified``: the QP
solvers' habit of saying "solved" on answers 1e-6 V off (OSQP issues #790, #273)
shows as such.

The extras: ``pip install -e '.[qp]'`` (osqp, clarabel, highspy).  A missing
module raises :class:`~resbench.solvers.registry.NotInstalled` naming it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from resbench.circuit import Circuit
from resbench.solution import CONVERGED, FAILED, STALLED, SWEEP_LIMIT, Solution
from resbench.solvers.cd import ensure_compiled
from resbench.solvers.problem import Problem, compile_problem
from resbench.solvers.registry import NotInstalled

__all__ = ["ReducedQP", "reduced_qp", "solve_clarabel", "solve_highs", "solve_osqp"]

INSTALL = "pip install -e '.[qp]'"


@dataclass
class ReducedQP:
    """The reduced QP of a :class:`Problem` in sparse form.

    ``P``: L (symmetric, CSC, both triangles); ``q`` = −c; the constraint rows
    ``G x ≤ h`` are the finite upper bounds, then the finite lower bounds (as
    −x ≤ −lo), then the free–free diodes, all in the scaled unknowns
    ``x = u / v_scale`` (``lo``, ``hi``, ``diode_limit`` are scaled too; see the module
    docstring); :meth:`voltages` maps an ``x`` back to node voltages.
    """

    problem: Problem
    P: sp.csc_matrix
    q: np.ndarray
    G: sp.csc_matrix
    h: np.ndarray
    diode_rows: sp.csc_matrix  # the free–free diode rows alone
    diode_limit: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    v_unit: float  # volts per unit of x

    def voltages(self, x: np.ndarray) -> np.ndarray:
        """Node voltages of the circuit from the scaled unknowns x."""
        return self.problem.voltages(np.asarray(x, dtype=np.float64) * self.v_unit)


def laplacian(p: Problem) -> sp.csc_matrix:
    """The reduced Laplacian L = diag − (free–free conductances), CSC, symmetric."""
    n = p.n
    off = sp.csr_matrix((p.data, p.indices, p.indptr), shape=(n, n))
    return (sp.diags(p.diag) - off).tocsc()


def reduced_qp(p: Problem) -> ReducedQP:
    """Assemble the scaled reduced QP of ``p`` (see the module docstring)."""
    n = p.n
    vu = float(p.v_scale)
    iu = float(p.i_scale)
    P = laplacian(p) * (vu / iu)
    lo, hi, limit = p.lo / vu, p.hi / vu, p.ff_limit.astype(np.float64) / vu
    up = np.flatnonzero(np.isfinite(hi))
    dn = np.flatnonzero(np.isfinite(lo))
    m = p.n_ff_diodes
    rows = np.arange(m)
    D = sp.csc_matrix(
        (
            np.concatenate([np.ones(m), -np.ones(m)]),
            (np.concatenate([rows, rows]), np.concatenate([p.ff_anode, p.ff_cathode])),
        ),
        shape=(m, n),
    )
    eye = sp.eye(n, format="csc")
    G = sp.vstack([eye[up], -eye[dn], D], format="csc")
    h = np.concatenate([hi[up], -lo[dn], limit])
    return ReducedQP(p, P.tocsc(), -p.c / iu, G, h, D, limit, lo, hi, vu)


def _import(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise NotInstalled(f"{module} is not installed: {INSTALL}") from exc


def _solution(
    circuit: Circuit,
    solver: str,
    p: Problem,
    v: np.ndarray | None,
    status: str,
    claimed: str,
    iterations: int,
    times: tuple[float, float, float],
    info: dict | None = None,
    compile_s: float = 0.0,
) -> Solution:
    """The Solution of a peer (``v``: node voltages, None when it gave no answer), its
    own verdict in ``info["claimed"]``, setup and solve timed apart."""
    t0, t1, t2 = times
    info = {
        "claimed": claimed,
        "iterations": int(iterations),
        "free_supernodes": p.n,
        **(info or {}),
    }
    if v is None:
        v = np.full(circuit.n_nodes, np.nan)
        status = FAILED
        info.setdefault("error", f"{solver} returned no solution ({claimed})")
    if status == FAILED:
        info.setdefault("error", f"{solver} reports {claimed!r}")
    return Solution(
        circuit=circuit,
        voltages=v,
        solver=solver,
        status=status,
        sweeps=int(iterations),
        timings={"setup": t1 - t0, "solve": t2 - t1, "total": t2 - t0, "compile": compile_s},
        info=info,
    )


def _trivial(circuit: Circuit, solver: str, p: Problem, t0: float, compile_s: float) -> Solution:
    """No free supernode: every voltage is held by a source (nothing to hand a solver)."""
    t = time.perf_counter()
    v = p.voltages(np.zeros(0))
    return _solution(circuit, solver, p, v, CONVERGED, "trivial", 0, (t0, t, t), None, compile_s)


def _answer(qp: ReducedQP, x: Any) -> np.ndarray | None:
    """Node voltages of a solver's x, or None when it has none (or a non-finite one)."""
    if x is None:
        return None
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (qp.problem.n,) or not np.all(np.isfinite(x)):
        return None
    return qp.voltages(x)


# ------------------------------------------------------------------------- OSQP
def _osqp_status(text: str) -> str:
    t = text.lower()
    if t == "solved":
        return CONVERGED
    if "inaccurate" in t:
        return STALLED
    if "maximum iterations" in t or "max_iter" in t or "time limit" in t:
        return SWEEP_LIMIT
    return FAILED


def solve_osqp(
    circuit: Circuit,
    *,
    eps_abs: float = 1e-9,
    eps_rel: float = 1e-9,
    polishing: bool = True,
    max_iter: int = 100_000,
    time_limit: float = 0.0,
    gmin: float = 0.0,
) -> Solution:
    """OSQP on the reduced QP: P = L (upper triangle), A = [I_bounded; D], l ≤ A u ≤ u."""
    osqp = _import("osqp")
    compile_s = ensure_compiled()  # compile_problem's numba kernels: never timed
    t0 = time.perf_counter()
    p = compile_problem(circuit, gmin=gmin)
    if p.n == 0:
        return _trivial(circuit, "osqp", p, t0, compile_s)
    qp = reduced_qp(p)
    bounded = np.flatnonzero(np.isfinite(p.lo) | np.isfinite(p.hi))
    eye = sp.eye(p.n, format="csc")
    A = sp.vstack([eye[bounded], qp.diode_rows], format="csc")
    lower = np.concatenate([qp.lo[bounded], np.full(p.n_ff_diodes, -np.inf)])
    upper = np.concatenate([qp.hi[bounded], qp.diode_limit])
    settings: dict[str, Any] = {
        "eps_abs": eps_abs,
        "eps_rel": eps_rel,
        "max_iter": int(max_iter),
        "verbose": False,
    }
    if time_limit > 0:
        settings["time_limit"] = float(time_limit)
    solver = osqp.OSQP()
    P = sp.triu(qp.P, format="csc")
    try:
        solver.setup(P, qp.q, A, lower, upper, polishing=bool(polishing), **settings)
    except (TypeError, ValueError):  # osqp < 1.0 calls it "polish"
        solver = osqp.OSQP()
        solver.setup(P, qp.q, A, lower, upper, polish=bool(polishing), **settings)
    t1 = time.perf_counter()
    with _quiet_stdout():  # OSQP prints "Polishing not needed" whatever verbose says
        try:
            res = solver.solve(raise_error=False)  # a failure is a status, not an exception
        except TypeError:  # osqp < 1.0 has no raise_error
            res = solver.solve()
    t2 = time.perf_counter()
    claimed = str(res.info.status)
    extra = {"polish_status": int(getattr(res.info, "status_polish", 0) or 0)}
    return _solution(
        circuit,
        "osqp",
        p,
        _answer(qp, res.x),
        _osqp_status(claimed),
        claimed,
        res.info.iter,
        (t0, t1, t2),
        extra,
        compile_s,
    )


# ------------------------------------------------------------------------- Clarabel
def _clarabel_status(text: str) -> str:
    if text == "Solved":
        return CONVERGED
    if text.startswith("Almost"):
        return STALLED
    if text in ("MaxIterations", "MaxTime"):
        return SWEEP_LIMIT
    return FAILED


def solve_clarabel(
    circuit: Circuit, *, eps: float = 1e-8, max_iter: int = 200, gmin: float = 0.0
) -> Solution:
    """Clarabel on the reduced QP: G u + s = h with s in the nonnegative cone."""
    clarabel = _import("clarabel")
    compile_s = ensure_compiled()  # compile_problem's numba kernels: never timed
    t0 = time.perf_counter()
    p = compile_problem(circuit, gmin=gmin)
    if p.n == 0:
        return _trivial(circuit, "clarabel", p, t0, compile_s)
    qp = reduced_qp(p)
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = float(eps)
    settings.max_iter = int(max_iter)
    cones = [clarabel.NonnegativeConeT(qp.G.shape[0])] if qp.G.shape[0] else []
    solver = clarabel.DefaultSolver(sp.triu(qp.P, format="csc"), qp.q, qp.G, qp.h, cones, settings)
    t1 = time.perf_counter()
    res = solver.solve()
    t2 = time.perf_counter()
    claimed = str(res.status)
    return _solution(
        circuit,
        "clarabel",
        p,
        _answer(qp, res.x),
        _clarabel_status(claimed),
        claimed,
        res.iterations,
        (t0, t1, t2),
        compile_s=compile_s,
    )


# ------------------------------------------------------------------------- HiGHS
_highs_banner_shown = False


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """File descriptor 1 to /dev/null (HiGHS prints its banner from C++ on the first
    ``Highs()``, before any option can turn output off)."""
    try:
        saved = os.dup(1)
    except OSError:  # no stdout at all
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _new_highs(highspy: Any) -> Any:
    global _highs_banner_shown
    if _highs_banner_shown:
        h = highspy.Highs()
    else:
        with _quiet_stdout():
            h = highspy.Highs()
        _highs_banner_shown = True
    h.setOptionValue("output_flag", False)
    return h


def _highs_status(text: str) -> str:
    if text == "Optimal":
        return CONVERGED
    if "limit" in text.lower():
        return SWEEP_LIMIT
    return FAILED


def solve_highs(
    circuit: Circuit,
    *,
    primal_tol: float = 1e-7,
    dual_tol: float = 1e-7,
    time_limit: float = 0.0,
    gmin: float = 0.0,
) -> Solution:
    """HiGHS's QP solver: bounds as column bounds, the free–free diodes as rows, the
    Hessian L as its lower triangle (HiGHS's triangular format)."""
    highspy = _import("highspy")
    compile_s = ensure_compiled()  # compile_problem's numba kernels: never timed
    t0 = time.perf_counter()
    p = compile_problem(circuit, gmin=gmin)
    if p.n == 0:
        return _trivial(circuit, "highs", p, t0, compile_s)
    qp = reduced_qp(p)
    inf = highspy.kHighsInf
    model = highspy.HighsModel()
    lp = model.lp_
    lp.num_col_ = p.n
    lp.num_row_ = p.n_ff_diodes
    lp.col_cost_ = qp.q
    lp.col_lower_ = np.where(np.isfinite(qp.lo), qp.lo, -inf)
    lp.col_upper_ = np.where(np.isfinite(qp.hi), qp.hi, inf)
    lp.row_lower_ = np.full(p.n_ff_diodes, -inf)
    lp.row_upper_ = qp.diode_limit
    D = qp.diode_rows.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = D.indptr.astype(np.int32)
    lp.a_matrix_.index_ = D.indices.astype(np.int32)
    lp.a_matrix_.value_ = D.data.astype(np.float64)
    lower = sp.tril(qp.P, format="csc")
    lower.sort_indices()
    hess = model.hessian_
    hess.dim_ = p.n
    hess.format_ = highspy.HessianFormat.kTriangular
    hess.start_ = lower.indptr.astype(np.int32)
    hess.index_ = lower.indices.astype(np.int32)
    hess.value_ = lower.data.astype(np.float64)
    h = _new_highs(highspy)
    h.setOptionValue("primal_feasibility_tolerance", float(primal_tol))
    h.setOptionValue("dual_feasibility_tolerance", float(dual_tol))
    if time_limit > 0:
        h.setOptionValue("time_limit", float(time_limit))
    h.passModel(model)
    t1 = time.perf_counter()
    h.run()
    t2 = time.perf_counter()
    claimed = h.modelStatusToString(h.getModelStatus())
    iters = int(getattr(h.getInfo(), "qp_iteration_count", 0) or 0)
    v = _answer(qp, h.getSolution().col_value)
    status = _highs_status(claimed)
    return _solution(circuit, "highs", p, v, status, claimed, iters, (t0, t1, t2), None, compile_s)
