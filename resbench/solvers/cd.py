"""The fast solver: exact coordinate descent (numba) + exact active-set polish.

Pipeline: Circuit → :func:`resbench.problem.compile_problem` (setup) → sweeps of
exact coordinate descent (:func:`resbench.solvers._kernels.cd_sweeps`) until the
largest single-node KCL residual is below ``tol × i_scale`` → when the network
has diodes between two free nodes (where single-node moves can stop at a wrong
point, DESIGN §2) or the sweeps did not converge, the exact active-set polish of
:mod:`resbench.solvers.polish`.

Over-relaxation ω (``omega="auto"``, the default): the first 20 sweeps run at
ω = 1; when they converged or their residual fell by a factor ≥ 2 per sweep
(DRN-like nets, ≈ 10 sweeps in all), ω stays 1.  Otherwise the Gauss–Seidel
contraction rate ρ is measured over sweeps 10–20 and ω is set to Young's optimum
for consistently ordered matrices, ω = 2 / (1 + √(1 − ρ)), capped at 1.95
(grid-like nets).  Projected SOR stays exact for the bounds (DESIGN §2).
"""

from __future__ import annotations

import math
import time

import numpy as np

from resbench.circuit import Circuit
from resbench.problem import Problem, compile_problem
from resbench.solution import CONVERGED, STALLED, SWEEP_LIMIT, Solution
from resbench.solvers import _kernels as K
from resbench.solvers.polish import polish as run_polish

DEFAULT_TOL = 1e-11
DEFAULT_MAX_SWEEPS = 100_000
_PROBE_SWEEPS = 20
_compiled = False


def ensure_compiled() -> float:
    """JIT-compile (or load from cache) every kernel once; return the seconds it took.

    Compilation is never part of a solve time: solvers call this first and report
    it on its own line (``timings["compile"]``); after the first call it returns 0.
    """
    global _compiled
    if _compiled:
        return 0.0
    t0 = time.perf_counter()
    i32 = np.zeros(1, np.int32)
    i32b = np.ones(1, np.int32)
    f = np.ones(1)
    sn = np.array([-1, 0], np.int32)
    diag, c, deg = K.fold_resistors(i32, i32b, f, sn, np.zeros(2), 1)
    indptr = np.zeros(2, np.int64)
    indices, data = K.fill_csr(i32, i32b, f, sn, indptr)
    K.csr_matvec(indptr, indices, data, f)
    K.row_sums(indptr, data, 1)
    K.components(indptr, indices, 1)
    e32 = np.zeros(0, np.int32)
    ef = np.zeros(0)
    K.bellman_ford_start(f.copy(), -f, f, e32, e32, ef)
    ptr = np.zeros(2, np.int64)
    args = (indptr, indices, data, f, f, -f, f, ptr, e32, ef, ptr, e32, ef)
    K.cd_sweeps(*args, f.copy(), 1.0, 0.0, 1, np.zeros(1))
    K.projected_residual(*args, f.copy())
    _compiled = True
    return time.perf_counter() - t0


def _kernel_args(p: Problem) -> tuple:
    return (
        p.indptr,
        p.indices,
        p.data,
        p.diag,
        p.c,
        p.lo,
        p.hi,
        p.in_ptr,
        p.in_nbr,
        p.in_w,
        p.out_ptr,
        p.out_nbr,
        p.out_w,
    )


def choose_omega(history: np.ndarray) -> tuple[float, float]:
    """(ω, ρ) from the residuals of the first ω = 1 sweeps (see module docstring)."""
    h = history[history > 0]
    if h.size < _PROBE_SWEEPS:
        return 1.0, 0.0
    a, b = h[_PROBE_SWEEPS // 2 - 1], h[_PROBE_SWEEPS - 1]
    rho = (b / a) ** (1.0 / (_PROBE_SWEEPS // 2))
    if not np.isfinite(rho) or rho <= 0.5:
        return 1.0, float(rho)
    rho = min(rho, 0.999999)
    return min(1.95, 2.0 / (1.0 + math.sqrt(1.0 - rho))), float(rho)


def run_sweeps(
    p: Problem,
    u: np.ndarray,
    *,
    tol: float = DEFAULT_TOL,
    max_sweeps: int = DEFAULT_MAX_SWEEPS,
    omega: float | str = "auto",
) -> tuple[int, int, float, float]:
    """Sweep in place on u.  Returns (kernel status, sweeps, residual in A, ω used)."""
    args = _kernel_args(p)
    tol_abs = tol * p.i_scale
    if p.n == 0:
        return K.CD_CONVERGED, 0, 0.0, 1.0
    if omega == "auto":
        hist = np.zeros(_PROBE_SWEEPS)
        first = min(_PROBE_SWEEPS, max_sweeps)
        status, sweeps, res = K.cd_sweeps(*args, u, 1.0, tol_abs, first, hist)
        if status == K.CD_CONVERGED or sweeps >= max_sweeps:
            return status, sweeps, res, 1.0
        om, _ = choose_omega(hist)
        status, more, res = K.cd_sweeps(*args, u, om, tol_abs, max_sweeps - sweeps, np.zeros(0))
        return status, sweeps + more, res, om
    om = float(omega)
    if not 0.0 < om < 2.0:
        raise ValueError(f"omega must be in (0, 2), got {om}")
    status, sweeps, res = K.cd_sweeps(*args, u, om, tol_abs, max_sweeps, np.zeros(0))
    return status, sweeps, res, om


def solve_cd(
    circuit: Circuit,
    *,
    tol: float = DEFAULT_TOL,
    max_sweeps: int = DEFAULT_MAX_SWEEPS,
    omega: float | str = "auto",
    polish: str = "auto",
    gmin: float = 0.0,
    warm_start: np.ndarray | None = None,
) -> Solution:
    """Solve a circuit with exact coordinate descent (see module docstring).

    ``tol`` is relative: sweeps stop when the largest single-node KCL residual is
    ≤ tol × i_scale (i_scale = largest node conductance × voltage scale).
    ``polish``: "auto" (when free–free diodes exist or sweeps hit the limit),
    "always" or "never".  ``warm_start``: node voltages (one per circuit node),
    projected onto the constraints.  Raises CircuitError for circuits without a
    unique solution.
    """
    if polish not in ("auto", "always", "never"):
        raise ValueError(f"polish must be auto, always or never, got {polish!r}")
    compile_s = ensure_compiled()
    t0 = time.perf_counter()
    p = compile_problem(circuit, gmin=gmin)
    u = p.start.copy()
    if warm_start is not None:
        u = _project_warm(p, np.asarray(warm_start, dtype=np.float64))
    t1 = time.perf_counter()
    status, sweeps, res, om = run_sweeps(p, u, tol=tol, max_sweeps=max_sweeps, omega=omega)
    info: dict = {
        "omega": om,
        "free_supernodes": p.n,
        "ff_edges": p.n_ff_edges,
        "ff_diodes": p.n_ff_diodes,
        "tol_abs": tol * p.i_scale,
        "i_scale": p.i_scale,
        "v_scale": p.v_scale,
        "polished": False,
    }
    final = CONVERGED if status == K.CD_CONVERGED else SWEEP_LIMIT
    want_polish = polish == "always" or (
        polish == "auto" and (p.n_ff_diodes > 0 or status != K.CD_CONVERGED)
    )
    if want_polish and p.n:
        pr = run_polish(p, u)
        info.update(
            polished=True,
            polish_iterations=pr.iterations,
            polish_solves=pr.solves,
            polish_message=pr.message,
        )
        if pr.optimal:
            u = pr.u
            final = CONVERGED
            res = float(K.projected_residual(*_kernel_args(p), u))
        else:
            final = STALLED
    t2 = time.perf_counter()
    return Solution(
        circuit=circuit,
        voltages=p.voltages(u),
        solver="cd",
        status=final,
        sweeps=int(sweeps),
        residual=float(res),
        timings={
            "setup": t1 - t0,
            "solve": t2 - t1,
            "total": t2 - t0,
            "compile": compile_s,
        },
        info=info,
    )


def _project_warm(p: Problem, v: np.ndarray) -> np.ndarray:
    """Supernode voltages from node voltages, made feasible (else the cold start)."""
    if v.shape != (p.circuit.n_nodes,):
        raise ValueError(
            f"warm_start must have one voltage per node ({p.circuit.n_nodes}), got {v.shape}"
        )
    u = np.zeros(p.n)
    free = p.sn >= 0
    cnt = np.bincount(p.sn[free], minlength=p.n)
    u = np.bincount(p.sn[free], weights=v[free] - p.off[free], minlength=p.n) / np.maximum(cnt, 1)
    u = np.clip(u, p.lo, p.hi)
    if p.n_ff_diodes and np.any(u[p.d_an] - u[p.d_ca] > p.d_w):
        return p.start.copy()
    return u
