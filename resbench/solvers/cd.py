"""The fast solver: exact coordinate descent (numba) + exact active-set polish.

Pipeline: Circuit → :func:`resbench.solvers.problem.compile_problem` (setup) → sweeps
of exact coordinate descent (:func:`resbench.solvers._kernels.cd_sweeps`) until the
a-posteriori error estimate of the voltages, res_v · ρ / (1 − ρ) from the last
sweep's largest move res_v and the observed contraction rate ρ, is ≤ ``tol × v_scale``
(a small single-node residual alone is not a small error when convergence is slow,
docs/design.md §2), and then ≤ tol × the answer's own voltage scale where that is
smaller (:func:`answer_tol`: a diode-clamped node's injection can make v_scale far
larger than any voltage) → when the network has diodes between two free nodes (where
single-node moves can stop at a wrong point), when the sweeps did not converge, or
when the reduced problem converged slowly and is small enough that a direct solve is
cheap, the exact active-set polish of :mod:`resbench.solvers.polish`.  The KCL
residual in amperes is computed once at the final point and reported, not used to stop;
when it would fail the certificate (one voltage bound for every node is too coarse for
a node of large conductance, :func:`_kcl_certain`), the direct finish makes it exact.

Over-relaxation ω (``omega="auto"``, the default): sweeps run in chunks of 40,
starting at ω = 1.  When the residual falls by a factor ≥ 2 per sweep (DRN-like
nets converge in ≈ 10 sweeps) ω stays 1.  Otherwise, after each chunk, the
contraction rate λ observed over its second half gives an estimate of the
Jacobi spectral radius μ through Young's relation (λ + ω − 1)² = λ ω² μ², and
ω moves up to Young's optimum 2 / (1 + √(1 − μ²)) (capped at 1.99): the
adaptive SOR of Hageman & Young, for grid-like nets.  Projected SOR stays exact
for the bounds (docs/design.md §2); the stopping rule is the error estimate, whatever ω.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from resbench.circuit import Circuit
from resbench.solution import CONVERGED, STALLED, SWEEP_LIMIT, Solution
from resbench.solvers import CD_DEFAULT_MAX_SWEEPS, CD_DEFAULT_TOL, _memory, direct, guard_finite
from resbench.solvers import _kernels as kernels
from resbench.solvers import _problem_kernels as setup_kernels
from resbench.solvers.polish import polish as run_polish
from resbench.solvers.problem import V_SCALE_FLOOR, Problem, compile_problem

DEFAULT_TOL = CD_DEFAULT_TOL
DEFAULT_MAX_SWEEPS = CD_DEFAULT_MAX_SWEEPS
SWITCHED = 2  # run_sweeps' status when its ``switch`` stopped the sweeps for the direct finish
_SLOW_SWEEPS = 50
_LINEAR_KCL_RTOL = 1e-10  # _dear_linear: a tenth of certify's default rtol (1e-9)
_CHUNK = 40  # sweeps between two ω updates
AUTO_CHUNK = _CHUNK  # (public: the batch Network's one-sample path runs one such chunk)
_FAST_RATE = 0.5  # residual contraction per sweep below which ω stays as it is
_OMEGA_MAX = 1.99
_MU2_MAX = 1.0 - 1e-12  # μ² < 1 keeps √(1 − μ²) real when the observed rate is ~1
_compiled = False


def ensure_compiled() -> float:
    """JIT-compile (or load from cache) every kernel once; return the seconds it took.

    Compilation is never part of a solve time: solvers call this first and report
    it on its own line (``timings["compile"]``); after the first call it returns 0.
    What is compiled is each kernel's declared signature (:mod:`resbench._jit`): the
    solver's kernels and the certificate's, which the island path runs inside the solve.
    """
    global _compiled
    if _compiled:
        return 0.0
    t0 = time.perf_counter()
    import resbench._certificate_kernels  # noqa: F401  (registers its kernels)
    from resbench import _jit

    _jit.warm_up()
    _compiled = True
    return time.perf_counter() - t0


class SweepArrays(NamedTuple):
    """Arguments of ``kernels.cd_sweeps`` before ``u`` (in this order), laid out for
    streaming: the free–free CSR as row degrees and column indices (uint32) with
    row-scaled conductances g_ij / diag_i, the scaled injection c / diag, the
    bounds and whether any is finite, and the free–free diode lists.  A sweep
    streams 12 B per directed edge and 20 B per node (docs/design.md §2 folding)."""

    deg: np.ndarray
    idx: np.ndarray
    g_over_diag: np.ndarray
    q: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    bounded: bool
    in_ptr: np.ndarray
    in_anode: np.ndarray
    in_limit: np.ndarray
    out_ptr: np.ndarray
    out_cathode: np.ndarray
    out_limit: np.ndarray


def sweep_arrays(p: Problem) -> SweepArrays:
    """The :class:`SweepArrays` of a problem: one pass over its rows and edges.

    The column indices are ``p.indices`` viewed as uint32 (non-negative int32: the same
    values, no copy); the diode lists' row pointers are converted only when there are
    diodes (without, they are all zero); the new arrays are on huge pages
    (:mod:`resbench.solvers._memory`: a 1M-resistor grid's 16 MB of scaled
    conductances are 4,000 page faults otherwise).
    """
    deg = _memory.empty(p.n, np.uint32)
    g_over_diag = _memory.empty(p.data.shape[0], np.float64)
    q = _memory.empty(p.n, np.float64)
    setup_kernels.sweep_rows(p.indptr, p.data, p.diag, p.c, deg, g_over_diag, q)

    def ptr32(ptr: np.ndarray) -> np.ndarray:
        return ptr.astype(np.uint32) if ptr[-1] else np.zeros(ptr.shape[0], np.uint32)

    return SweepArrays(
        deg=deg,
        idx=p.indices.view(np.uint32),
        g_over_diag=g_over_diag,
        q=q,
        lo=p.lo,
        hi=p.hi,
        bounded=bool(np.isfinite(p.lo).any() or np.isfinite(p.hi).any()),
        in_ptr=ptr32(p.in_ptr),
        in_anode=p.in_anode.astype(np.uint32),
        in_limit=p.in_limit,
        out_ptr=ptr32(p.out_ptr),
        out_cathode=p.out_cathode.astype(np.uint32),
        out_limit=p.out_limit,
    )


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
        p.in_anode,
        p.in_limit,
        p.out_ptr,
        p.out_cathode,
        p.out_limit,
    )


def update_omega(omega: float, rate: float) -> float:
    """Young / Hageman–Young update of ω from an observed residual contraction rate.

    Under SOR with factor ω the rate λ of a consistently ordered matrix satisfies
    (λ + ω − 1)² = λ ω² μ², μ being the Jacobi spectral radius.  Solving for μ²
    and taking ω_opt = 2 / (1 + √(1 − μ²)) gives the next ω; ω only grows (an
    estimate from below is safe), and stays 1 when sweeps already converge fast.
    """
    if not np.isfinite(rate) or rate <= _FAST_RATE or rate >= 1.0:
        return omega
    mu2 = (rate + omega - 1.0) ** 2 / (rate * omega * omega)
    mu2 = min(mu2, _MU2_MAX)
    return float(min(_OMEGA_MAX, max(omega, 2.0 / (1.0 + math.sqrt(1.0 - mu2)))))


def run_sweeps(
    p: Problem,
    u: np.ndarray,
    *,
    tol: float = DEFAULT_TOL,
    max_sweeps: int = DEFAULT_MAX_SWEEPS,
    omega: float | str = "auto",
    arrays: SweepArrays | None = None,
    switch: Callable[[float, float], bool] | None = None,
    rescale: Callable[[np.ndarray], float] | None = None,
) -> tuple[int, int, float, float, float]:
    """Sweep in place on u until the estimated error is ≤ tol × v_scale.

    ``arrays``: the problem's :class:`SweepArrays` when the caller has them already (a
    batch reuses one set, changing only the per-sample fields).
    ``switch(rate, error)``: asked after each chunk of ``omega="auto"`` with the
    contraction rate observed over the chunk's second half and the error estimate;
    True stops the sweeps with status :data:`SWITCHED` (the caller finishes directly).
    ``rescale(u)``: asked once when the sweeps first converge, for the tolerance in V
    at that point (:func:`answer_tol`); when the error estimate is above it the sweeps
    go on to it, their rate history kept.
    Returns (status, sweeps, KCL residual in A, error estimate in V, last ω).
    """
    if p.n == 0:
        return kernels.CD_CONVERGED, 0, 0.0, 0.0, 1.0
    args = _kernel_args(p)
    sargs = sweep_arrays(p) if arrays is None else arrays
    tol_v = tol * p.v_scale
    if omega != "auto":
        om = float(omega)
        if not 0.0 < om < 2.0:
            raise ValueError(f"omega must be in (0, 2), got {om}")
        state = np.zeros(kernels.STATE_LEN)
        status, sweeps, _, est = kernels.cd_sweeps(
            *sargs, u, om, tol_v, max_sweeps, np.zeros(0), state
        )
        if status == kernels.CD_CONVERGED and rescale is not None:
            tighter = rescale(u)
            if est > tighter and sweeps == max_sweeps:
                status = kernels.CD_SWEEP_LIMIT
            elif est > tighter:  # on to the answer's tolerance, the rate history kept
                status, more, _, est = kernels.cd_sweeps(
                    *sargs, u, om, tighter, max_sweeps - sweeps, np.zeros(0), state
                )
                sweeps += more
        return status, sweeps, float(kernels.projected_residual(*args, u)), est, om
    status, sweeps, est, om = auto_sweeps(sargs, u, tol_v, max_sweeps, switch, rescale)
    return status, sweeps, float(kernels.projected_residual(*args, u)), est, om


def answer_tol(p: Problem, tol: float) -> Callable[[np.ndarray], float]:
    """The stopping tolerance in V at a converged point u: ``tol`` times the answer's
    voltage scale (the largest |node voltage| and |source value|, floored at
    V_SCALE_FLOOR), when that is below the problem's a-priori ``v_scale``.

    ``v_scale`` counts |c_i / diag_i|, the voltage a node's injections alone would
    make; a diode can clamp that node far below it (0.18 A into a DRN hidden node
    held at 0 V by its diode: 30 kV against answers under 1 V), and tol × v_scale
    would then leave every other node ~1e-8 of the answer's scale off.  The sweeps'
    error estimate is sound; only the scale it is compared with was too coarse.
    When the answer spans the a-priori scale (every case of ``resbench regress``)
    the tolerance is unchanged, and so are the sweeps.
    """
    vs = np.ascontiguousarray(p.circuit.vsources.value, dtype=np.float64)

    def rescale(u: np.ndarray) -> float:
        scale = max(kernels.answer_scale(p.supernode, p.offset, u, vs), V_SCALE_FLOOR)
        return tol * min(p.v_scale, scale)

    return rescale


def auto_sweeps(
    sargs: SweepArrays,
    u: np.ndarray,
    tol_v: float,
    max_sweeps: int,
    switch: Callable[[float, float], bool] | None = None,
    rescale: Callable[[np.ndarray], float] | None = None,
    sweep: Callable[..., tuple[int, int, float, float]] | None = None,
) -> tuple[int, int, float, float]:
    """The sweeps of ``omega="auto"`` on ``u`` in place (:func:`run_sweeps`' loop: chunks
    of ``_CHUNK``, ω raised from the contraction rate of each chunk's second half, the
    ``switch`` and ``rescale`` asked as run_sweeps documents).  Returns (status, sweeps,
    error estimate in V, last ω).  The batch Network calls it per sample on its own
    sweep arrays.  ``sweep(u, omega, tol_v, max_sweeps, history, state)``: the kernel
    that sweeps (default ``kernels.cd_sweeps`` on ``sargs``; the Network passes the same
    sweeps on dense couplings where its graph allows)."""
    if sweep is None:
        sweep = functools.partial(kernels.cd_sweeps, *sargs)
    om, sweeps, est, status = 1.0, 0, np.inf, kernels.CD_SWEEP_LIMIT
    hist = np.zeros(_CHUNK)
    state = np.zeros(kernels.STATE_LEN)
    while sweeps < max_sweeps:
        k = min(_CHUNK, max_sweeps - sweeps)
        if switch is not None and sweeps == 0 and k > direct.SWITCH_AFTER:
            # a first look after SWITCH_AFTER sweeps (chains, stars: the rate is ~1 at
            # once); the chunk then goes on, so the sweeps are the same as unsplit
            status, done, _, est = sweep(u, om, tol_v, direct.SWITCH_AFTER, hist, state)
            if status != kernels.CD_CONVERGED:
                half = done // 2
                past = hist[half - 1]
                rate = (hist[done - 1] / past) ** (1.0 / (done - half)) if past > 0 else 1.0
                if switch(rate, est):
                    sweeps, status = done, SWITCHED
                    break
                status, more, _, est = sweep(u, om, tol_v, k - done, hist[done:], state)
                done += more
        else:
            status, done, _, est = sweep(u, om, tol_v, k, hist, state)
        sweeps += done
        if status == kernels.CD_CONVERGED:
            tighter = rescale(u) if rescale is not None else tol_v
            rescale = None  # asked once: the tolerance is then the answer's
            if est <= tighter:
                break
            # on to the answer's tolerance (at the sweep limit already: the limit's
            # status); the rate history (state) carries on, ω stays
            tol_v, status = tighter, kernels.CD_SWEEP_LIMIT
            continue
        half = done // 2
        if half >= 2 and hist[half - 1] > 0:
            rate = (hist[done - 1] / hist[half - 1]) ** (1.0 / (done - half))
            if switch is not None and switch(rate, est):
                status = SWITCHED
                break
            om = update_omega(om, rate)
    return status, sweeps, est, om


def solve_cd(
    circuit: Circuit,
    *,
    tol: float = DEFAULT_TOL,
    max_sweeps: int = DEFAULT_MAX_SWEEPS,
    omega: float | str = "auto",
    polish: str = "auto",
    gmin: float = 0.0,
    warm_start: np.ndarray | None = None,
    direct_margin: float = direct.SWITCH_MARGIN,
) -> Solution:
    """Solve a circuit with exact coordinate descent (see module docstring).

    ``tol`` is relative to the voltage scale (largest source voltage): sweeps stop
    when the a-posteriori error estimate (see ``_kernels.cd_sweeps``) is
    ≤ tol × v_scale.  The KCL residual (A) is reported as ``residual``.
    ``polish``: "auto" (when free–free diodes exist, sweeps hit the limit, or
    the sweeps converged slowly — ω raised or > 50 sweeps), "always" or "never".
    ``direct_margin``: on problems without free–free diodes (``omega="auto"``,
    ``polish`` not "never"), the sweeps stop for the direct finish of :mod:`resbench.solvers.direct`
    when the sweeps still to come are predicted to cost more than ``direct_margin``
    times the finish (0: at the first look, after 16 sweeps; inf: never).  Linear
    circuits (no diodes) without a ``warm_start`` make that comparison before any
    sweep (:func:`resbench.solvers.direct.linear_at_once`; 0: no sweep at all).
    ``warm_start``: node voltages (one per circuit node), projected onto the
    constraints.  Raises CircuitError for circuits without a
    unique solution.
    """
    if polish not in ("auto", "always", "never"):
        raise ValueError(f"polish must be auto, always or never, got {polish!r}")
    from resbench.diodes import has_models, warn_ignored

    warn_ignored(circuit)
    if has_models(circuit):  # PWL / Shockley diodes: resbench.solvers.shockley (docs/diodes.md)
        from resbench.solvers.shockley import solve_models

        return solve_models(circuit, tol=tol, max_sweeps=max_sweeps, omega=omega,
                            polish=polish, gmin=gmin, warm_start=warm_start)  # fmt: skip
    compile_s = ensure_compiled()
    t0 = time.perf_counter()
    p = compile_problem(circuit, gmin=gmin)
    u = p.start.copy()
    if warm_start is not None:
        u = _project_warm(p, np.asarray(warm_start, dtype=np.float64))
    t1 = time.perf_counter()
    if p.n_islands:
        return _solve_islands(p, u, t0, t1, compile_s, tol)
    switch = None
    if p.n_ff_diodes == 0 and polish != "never":
        tol_v = tol * p.v_scale

        switch = direct.SwitchRule(p, tol_v, direct_margin)

        if (
            omega == "auto"
            and warm_start is None
            and direct.is_linear(p)
            and direct.linear_at_once(p, direct_margin)
        ):
            # linear and deep: no sweep (the direct solve gains nothing from them);
            # a warm start may be close enough for the sweeps, so it keeps them
            info = _info(p, 1.0, math.inf, tol)
            return _finish_direct(p, u, 0, 1.0, info, t0, t1, compile_s)

    status, sweeps, res, est, om = run_sweeps(
        p, u, tol=tol, max_sweeps=max_sweeps, omega=omega, switch=switch,
        rescale=answer_tol(p, tol),
    )  # fmt: skip
    info = _info(p, om, est, tol)
    if status == SWITCHED:
        return _finish_direct(p, u, sweeps, om, info, t0, t1, compile_s)
    final = CONVERGED if status == kernels.CD_CONVERGED else SWEEP_LIMIT
    slow = om > 1.0 or sweeps > _SLOW_SWEEPS  # contraction was slow: estimate less sure
    if slow and _dear_linear(p, switch, status, res):
        slow = False  # the sweeps' answer stands: its factorisation would cost most
    want_polish = polish == "always" or (
        polish == "auto" and (p.n_ff_diodes > 0 or status != kernels.CD_CONVERGED or slow)
    )
    if (
        not want_polish
        and polish != "never"
        and status == kernels.CD_CONVERGED
        and p.n
        and not _kcl_certain(p, u, res, tol)
    ):
        # the voltages met tol, yet a node's KCL would fail the certificate: finish
        # exactly (no free–free diodes here, else the polish was wanted)
        info["kcl_finish"] = True
        return _finish_direct(p, u, sweeps, om, info, t0, t1, compile_s)
    if want_polish and p.n and p.n_ff_diodes and p.n > direct.GENERAL_MIN:
        # large nets with free–free diodes: the block active-set finish first (the
        # primal polish changes one constraint per factorisation)
        dr = direct.finish_general(p, u)
        info.update(
            direct=True,
            direct_backend=direct.backend(),
            direct_iterations=dr.iterations,
            direct_solves=dr.solves,
            direct_message=dr.message,
        )
        if dr.optimal:
            u, want_polish, final = dr.u, False, CONVERGED
            res = float(kernels.projected_residual(*_kernel_args(p), u))
        else:
            u = dr.u  # feasible: the polish starts there
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
            res = float(kernels.projected_residual(*_kernel_args(p), u))
        else:
            final = STALLED
    t2 = time.perf_counter()
    return guard_finite(
        Solution(
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
    )


def _dear_linear(
    p: Problem, switch: Callable[[float, float], bool] | None, status: int, res: float
) -> bool:
    """Whether a slow but converged linear problem keeps the sweeps' answer without the
    polish: its factorisation fills in beyond what a mesh of its size needs (the front
    estimate, :func:`resbench.solvers.direct.front_seconds`, above the nnz model
    :func:`resbench.solvers.direct.factor_seconds`: shallow, well-connected graphs such
    as random networks from ~3k nodes, never meshes, trees or small circuits), and its
    KCL residual is within :data:`_LINEAR_KCL_RTOL` of the current scale (what
    :func:`resbench.certificate.certify` asks).  Without bounds the polish is one solve
    of the whole system, i.e. that factorisation (10k-node random network: ~0.14 s
    after ~13 ms of sweeps; 5k: ~24 ms after ~5 ms), for the last bits of an answer
    the error estimate and the residual already bound.  The estimate is the switch's
    (:class:`resbench.solvers.direct.SwitchRule`) when it was asked."""
    if not (
        status == kernels.CD_CONVERGED
        and direct.is_linear(p)
        and res <= _LINEAR_KCL_RTOL * p.i_scale
    ):
        return False
    front = switch.front() if isinstance(switch, direct.SwitchRule) else direct.front_seconds(p)
    return front > direct.factor_seconds(p)


def _kcl_certain(p: Problem, u: np.ndarray, res: float, tol: float) -> bool:
    """Whether the sweeps' answer u, whose KCL residual is ``res`` (A), is within
    :data:`_LINEAR_KCL_RTOL` (a tenth of certify's default rtol; scaled up with a
    ``tol`` looser than the default) of the certificate's current scale
    (:func:`resbench.certificate.current_scale`, one pass over the elements).

    The stopping rule bounds the voltage error by tol × v_scale, one bound for every
    node; a node's KCL error is that times its conductance.  When v_scale comes from
    a node held by a tiny conductance (gmin alone carries a current source's 0.25 mA:
    −250 kV), tol × v_scale is 2.5e-7 V, and a 1.1 mS node that far off leaves
    1.4e-10 A where the certificate allows 2.5e-12.  Such answers go to the exact
    direct finish.  The check asks first a lower bound of that scale from the reduced
    problem (:func:`resbench.solvers._kernels.kcl_floor`, O(nodes + free edges)):
    DRN-XS has 110 free nodes and 79k resistors, whose pass would add ~15% to its
    solve; only when the bound does not settle it is every element summed."""
    from resbench.certificate import current_scale

    rtol = _LINEAR_KCL_RTOL * max(1.0, tol / DEFAULT_TOL)
    floor = kernels.kcl_floor(p.indptr, p.indices, p.data, p.diag, p.c, p.supernode, p.offset, u)
    if res <= rtol * floor:
        return True
    return res <= rtol * current_scale(p.circuit, p.voltages(u), p.gmin)


def _info(p: Problem, om: float, est: float, tol: float) -> dict:
    """The solution's ``info`` before any finish: the last ω, the problem's sizes and
    scales, the sweeps' error estimate in V (inf when no sweep ran)."""
    return {
        "omega": om,
        "free_supernodes": p.n,
        "ff_edges": p.n_ff_edges,
        "ff_diodes": p.n_ff_diodes,
        "tol_v": tol * p.v_scale,
        "error_estimate": float(est),
        "i_scale": p.i_scale,
        "v_scale": p.v_scale,
        "polished": False,
        "direct": False,
        "kcl_finish": False,
    }


def _finish_direct(
    p: Problem,
    u: np.ndarray,
    sweeps: int,
    om: float,
    info: dict,
    t0: float,
    t1: float,
    compile_s: float,
) -> Solution:
    """The sweeps stopped for the direct finish (:func:`direct.finish_bounds`, a
    primal–dual active-set method on sparse factorisations); when it does not settle,
    the primal active-set polish finishes from its feasible point."""
    dr = direct.finish_bounds(p, u)
    info.update(
        direct=True,
        direct_backend=direct.backend(),
        direct_iterations=dr.iterations,
        direct_solves=dr.solves,
        direct_message=dr.message,
    )
    final, u = CONVERGED, dr.u
    if not dr.optimal:
        pr = run_polish(p, dr.u)
        info.update(
            polished=True,
            polish_iterations=pr.iterations,
            polish_solves=pr.solves,
            polish_message=pr.message,
        )
        u = pr.u
        final = CONVERGED if pr.optimal else STALLED
    res = float(kernels.projected_residual(*_kernel_args(p), u))
    t2 = time.perf_counter()
    return guard_finite(
        Solution(
            circuit=p.circuit,
            voltages=p.voltages(u),
            solver="cd",
            status=final,
            sweeps=int(sweeps),
            residual=res,
            timings={"setup": t1 - t0, "solve": t2 - t1, "total": t2 - t0, "compile": compile_s},
            info=info,
        )
    )


def _solve_islands(
    p: Problem, u: np.ndarray, t0: float, t1: float, compile_s: float, tol: float
) -> Solution:
    """The exact path for circuits with islands (groups reached only through diodes,
    where L is singular and single-node moves are undefined: a node joined only by
    diodes has no conductance at all).  The active-set polish, which handles the
    singular groups, runs from the feasible start; then :mod:`resbench.islands`
    decides whether the answer is unique and, if not, moves the loose islands to
    the limit SPICE tends to (module docstring there)."""
    from resbench.certificate import certify
    from resbench.islands import settle

    pr = run_polish(p, u)
    info: dict = {
        "omega": 1.0,
        "free_supernodes": p.n,
        "ff_edges": p.n_ff_edges,
        "ff_diodes": p.n_ff_diodes,
        "islands": p.n_islands,
        "tol_v": tol * p.v_scale,
        "i_scale": p.i_scale,
        "v_scale": p.v_scale,
        "polished": True,
        "polish_iterations": pr.iterations,
        "polish_solves": pr.solves,
        "polish_message": pr.message,
    }
    v = p.voltages(pr.u)
    final = CONVERGED if pr.optimal else STALLED
    cert = certify(p.circuit, v, gmin=p.gmin)
    res = cert.kcl
    if pr.optimal:
        v, note = settle(p.circuit, v, cert.diode_current, vtol=cert.feas_tol, itol=cert.kcl_tol)
        info.update(note)
    t2 = time.perf_counter()
    return guard_finite(
        Solution(
            circuit=p.circuit,
            voltages=v,
            solver="cd",
            status=final,
            sweeps=0,
            residual=float(res),
            timings={"setup": t1 - t0, "solve": t2 - t1, "total": t2 - t0, "compile": compile_s},
            info=info,
        )
    )


def _project_warm(p: Problem, v: np.ndarray) -> np.ndarray:
    """Supernode voltages from node voltages, made feasible (else the cold start)."""
    if v.shape != (p.circuit.n_nodes,):
        raise ValueError(
            f"warm_start must have one voltage per node ({p.circuit.n_nodes}), got {v.shape}"
        )
    free = p.supernode >= 0
    cnt = np.bincount(p.supernode[free], minlength=p.n)
    u = np.bincount(
        p.supernode[free], weights=v[free] - p.offset[free], minlength=p.n
    ) / np.maximum(cnt, 1)
    u = np.clip(u, p.lo, p.hi)
    if p.n_ff_diodes and np.any(u[p.ff_anode] - u[p.ff_cathode] > p.ff_limit):
        return p.start.copy()
    return u
