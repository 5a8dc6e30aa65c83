"""The fast solver for circuits with piecewise-linear and Shockley diodes (docs/diodes.md).

:func:`solve_models` is where :func:`resbench.solvers.cd.solve_cd` sends a circuit
whose diodes are not all ideal:

* Piecewise-linear diodes are expanded into a resistor, a source and an ideal diode
  (:func:`resbench.diodes.expand`); the result is an ideal-diode circuit, solved by the
  exact CD + polish, and mapped back to the original nodes.
* With Shockley diodes the energy ``½ uᵀ L u − cᵀ u + Σ_k F_k(vd_k)``,
  ``F_k(x) = IS (N Vt expm1(x / N Vt) − x)``, stays convex and smooth.  Exact
  coordinate descent: each free supernode moves to the exact minimiser of the energy
  in its own voltage, the root of a strictly increasing 1-D equation solved to
  round-off by safeguarded Newton in a bracket (:mod:`._shockley_kernels`), clipped to
  its ideal-diode bounds.  Sweeps stop on the same a-posteriori error estimate as CD;
  the KCL residual (A) is reported.  Diodes between two free nodes need no polish: the
  problem is smooth, so exact coordinate descent converges to the optimum
  (tests/test_diode_models.py shows it).

Setup reuses :func:`compile_problem` on a *surrogate* circuit in which each Shockley
diode is a resistor of conductance ``G0`` (so supernodes, folding, floating-node errors
are the same code); the kernel subtracts ``G0 · vd`` again, exactly, and adds the
Shockley current.  Ideal diodes between two free nodes, or groups of nodes held only by
ideal diodes (islands), together with Shockley diodes are not supported by this path:
a SolverError says to use the reference solver.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence

import numpy as np

from resbench.circuit import Branches, Circuit, IndexedNames
from resbench.defaults import DEFAULT_RTOL
from resbench.diodes import Expanded, expand, has_shockley
from resbench.errors import CircuitError, SolverError
from resbench.solution import CONVERGED, SWEEP_LIMIT, Solution
from resbench.solvers import _shockley_kernels as sk
from resbench.solvers import guard_finite
from resbench.solvers.problem import compile_problem

NEWTON_AFTER = 100  # sweeps before the Newton polish is tried
NEWTON_AFTER_SMALL = 10  # the same on problems of at most SMALL_NEWTON free supernodes,
# where a dense Newton iteration costs less than a few sweeps
SMALL_NEWTON = 64
EARLY_NEWTON_ITER = 30  # iterations of the early attempt (from a good point Newton needs
# under 10; one that needs more is cheaper to leave to the sweeps)
DENSE_NEWTON = 300  # free supernodes up to which the Newton polish uses dense algebra
NEWTON_MAX_NODES = 200_000  # free supernodes up to which it is (a sparse factorisation)
_warmed = False
KCL_FACTOR = 10.0  # sweeps also stop only when KCL <= KCL_FACTOR × tol × i_scale (A)
KCL_CERT_SHARE = 0.1  # … and the answer's KCL is brought below this share of the
# certificate's KCL tolerance, bounded below from the currents that flow (_current_floor)
CERT_NEWTON_ITER = 20  # Newton iterations allowed for that (from a converged point: 1–2)


def restrict(sol: Solution, ex: Expanded) -> Solution:
    """A solution of the expanded circuit as a solution of the original circuit: the
    internal nodes and the added sources dropped (their values stay in ``info``)."""
    if not ex.changed:
        return sol
    v = None if sol.voltages is None else np.asarray(sol.voltages)[: ex.n_nodes].copy()
    vcur = sol.vsource_current
    if vcur is not None:
        vcur = np.asarray(vcur)[: ex.n_vsources].copy()
    return dataclasses.replace(sol, circuit=ex.original, voltages=v, vsource_current=vcur)


def solve_models(circuit: Circuit, **options) -> Solution:
    """Solve a circuit with PWL or Shockley diodes (module docstring).  ``options`` are
    solve_cd's: ``omega`` and ``warm_start`` apply to ideal-diode circuits (after PWL
    expansion) only; ``polish="never"`` also turns the Newton polish of Shockley
    circuits off."""
    from resbench.solvers.cd import ensure_compiled, solve_cd

    ex = expand(circuit, keep_rs=True)  # RS stays in the diode's own equation (Lambert W)
    if not ex.shockley.any():
        return restrict(solve_cd(ex.circuit, **options), ex)
    global _warmed
    compile_s = ensure_compiled()
    if not _warmed:  # this module's kernels, if cd's warm-up ran before they were imported
        from resbench import _jit

        t0 = time.perf_counter()
        _jit.warm_up()
        _warmed = True
        compile_s += time.perf_counter() - t0
    t0 = time.perf_counter()
    sol = solve_shockley(
        ex,
        tol=options.get("tol", 1e-12),
        max_sweeps=options.get("max_sweeps", 100_000),
        gmin=options.get("gmin", 0.0),
        newton=options.get("polish", "auto") != "never",
        t0=t0,
    )
    sol.timings["compile"] = compile_s
    return guard_finite(restrict(sol, ex))


class _Joined(Sequence[str]):
    """Two name sequences read as one, without copying (setup of large networks)."""

    def __init__(self, first: Sequence[str], second: Sequence[str]) -> None:
        self.first, self.second = first, second

    def __len__(self) -> int:
        return len(self.first) + len(self.second)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        k = len(self.first)
        return self.first[i] if i < k else self.second[i - k]

    def __iter__(self) -> Iterator[str]:
        yield from self.first
        yield from self.second


@dataclasses.dataclass
class ShockleyProblem:
    """The reduced problem with Shockley terms (see module docstring)."""

    p: object  # the Problem of the surrogate circuit
    a_diag: np.ndarray  # diag minus the surrogate conductances
    e_ptr: np.ndarray  # per free supernode: its Shockley terms (CSR)
    e_diode: np.ndarray  # index into the Shockley arrays
    e_sign: np.ndarray  # +1 at the anode, −1 at the cathode
    e_other: np.ndarray  # supernode of the other end, −1 when fixed
    e_const: np.ndarray  # vd = s·x + (e_const − s·u[other])
    i_s: np.ndarray
    nvt: np.ndarray
    rs: np.ndarray
    g0: np.ndarray
    index: np.ndarray  # diode index of each Shockley term
    d_sa: np.ndarray  # per Shockley diode: anode supernode (−1 fixed)
    d_sc: np.ndarray  # cathode supernode (−1 fixed)
    d_const: np.ndarray  # vd = u[sa] − u[sc] + d_const


def compile_shockley(ex: Expanded, gmin: float = 0.0) -> ShockleyProblem:
    """The :class:`ShockleyProblem` of an expanded circuit (Shockley diodes without RS)."""
    c = ex.circuit
    k_sh = np.flatnonzero(ex.shockley)
    keep = np.flatnonzero(~ex.shockley)
    d = c.diodes
    r = c.resistors
    pos = r.value[r.value > 0]
    g_ref = 1.0 / float(pos.min()) if pos.size else 1.0  # the largest conductance
    g0 = np.full(k_sh.size, g_ref)
    sur = dataclasses.replace(
        c,
        resistors=Branches(
            _Joined(r.names, IndexedNames("#shockley", k_sh.size)),
            np.concatenate([r.a, d.a[k_sh]]),
            np.concatenate([r.b, d.b[k_sh]]),
            np.concatenate([r.value, 1.0 / g0]),
        ),
        diodes=Branches([d.names[j] for j in keep], d.a[keep], d.b[keep], d.value[keep]),
        diode_models=[c.diode_models[j] for j in keep],
    )
    try:
        p = compile_problem(sur, gmin=gmin)
    except CircuitError as exc:
        raise CircuitError(str(exc).replace("#shockley", "shockley diode #"), exc.elements,
                           exc.nodes) from None  # fmt: skip
    if p.n_islands or p.n_ff_diodes:
        raise SolverError(
            "ideal diodes between two free nodes (or nodes held only by ideal diodes) together "
            "with Shockley diodes are not supported by the cd solver; use the reference solver "
            "(--solver reference, or solver='reference')"
        )
    sa = p.supernode[d.a[k_sh]]
    sc = p.supernode[d.b[k_sh]]
    const = p.offset[d.a[k_sh]] - p.offset[d.b[k_sh]]
    live = sa != sc  # both ends in one supernode (or both fixed): no effect on u
    rows, diode, sign, other, econst = [], [], [], [], []
    for me, them, s in ((sa, sc, 1.0), (sc, sa, -1.0)):
        m = live & (me >= 0)
        j = np.flatnonzero(m)
        rows.append(me[j])
        diode.append(j)
        sign.append(np.full(j.size, s))
        other.append(them[j])
        # anode: vd = x + const − u[c]; cathode: vd = u[a] + const − x
        econst.append(const[j])
    rows_a = np.concatenate(rows).astype(np.int64)
    order = np.argsort(rows_a, kind="stable")
    e_ptr = np.zeros(p.n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows_a, minlength=p.n), out=e_ptr[1:])
    e_diode = np.concatenate(diode).astype(np.int64)[order]
    e_sign = np.concatenate(sign)[order]
    e_other = np.concatenate(other).astype(np.int64)[order]
    e_const = np.concatenate(econst)[order]
    a_diag = p.diag - np.bincount(rows_a, weights=g0[np.concatenate(diode)], minlength=p.n)
    a_diag = np.maximum(a_diag, 0.0)
    return ShockleyProblem(
        p, a_diag, e_ptr, e_diode, e_sign, e_other, np.ascontiguousarray(e_const),
        np.ascontiguousarray(ex.i_s[k_sh]), np.ascontiguousarray(ex.nvt[k_sh]),
        np.ascontiguousarray(ex.rs[k_sh]), g0, k_sh, np.where(live, sa, -1).astype(np.int64),
        np.where(live, sc, -1).astype(np.int64), const,
    )  # fmt: skip


def _args(sp: ShockleyProblem) -> tuple:
    p = sp.p
    return (
        p.indptr, p.indices, p.data, sp.a_diag, p.c, p.lo, p.hi, sp.e_ptr, sp.e_diode,
        sp.e_sign, sp.e_other, sp.e_const, sp.i_s, sp.nvt, sp.rs, sp.g0,
    )  # fmt: skip


def solve_shockley(
    ex: Expanded,
    *,
    tol: float = 1e-12,
    max_sweeps: int = 100_000,
    gmin: float = 0.0,
    newton: bool = True,
    t0: float | None = None,
) -> Solution:
    """Exact coordinate descent on the expanded circuit (voltages of its nodes); when the
    sweeps are slow (``NEWTON_AFTER`` sweeps, ``NEWTON_AFTER_SMALL`` on small problems)
    and ``newton``, the Newton polish."""
    t0 = time.perf_counter() if t0 is None else t0
    sp = compile_shockley(ex, gmin=gmin)
    p = sp.p
    u = p.start.copy()
    t1 = time.perf_counter()
    tol_v = tol * p.v_scale
    tol_i = KCL_FACTOR * tol * p.i_scale
    sweeps = 0
    # sweeps before each Newton attempt: on a small problem an early, cheap one whose
    # point is dropped when it does not meet the KCL rule (the sweeps then go on from
    # where they were, and the usual attempt follows at NEWTON_AFTER sweeps)
    attempts = [NEWTON_AFTER]
    if p.n <= SMALL_NEWTON:
        attempts = [NEWTON_AFTER_SMALL, NEWTON_AFTER - NEWTON_AFTER_SMALL]
    if not newton or p.n > NEWTON_MAX_NODES:
        attempts = []  # no polish (cd's polish="never"), or too large for it
    newton_iterations, polished = 0, False
    while True:
        budget = int(max_sweeps - sweeps)
        if attempts:
            budget = min(budget, attempts[0])
        status, done, est, bad = sk.shockley_sweeps(*_args(sp), u, budget, float(tol_v))
        sweeps += int(done)
        if status == sk.NO_ROOT:
            node = ex.circuit.nodes[int(np.flatnonzero(p.supernode == bad)[0])]
            raise CircuitError(
                f"node {node} has no operating point: the current into it exceeds what its "
                "diodes can carry in reverse (IS) and no resistor drains it",
                nodes=[node],
            )
        if status == sk.SWEEP_LIMIT and attempts and sweeps < max_sweeps:
            # slow sweeps (conducting diodes between free nodes are stiff couplings):
            # projected Newton on the whole reduced problem, then sweeps again
            attempts.pop(0)
            before = u.copy() if attempts else None
            newton_iterations += newton_polish(
                sp, u, tol_i, max_iter=EARLY_NEWTON_ITER if attempts else 100
            )
            res = float(sk.shockley_residual(*_args(sp), u))
            if res <= tol_i:  # Newton's answer already meets the KCL stop rule
                status, est, polished = sk.CONVERGED, 0.0, True
                break
            if before is not None:
                u[:] = before  # an early attempt that missed: its point is not used
            else:
                attempts, polished = [], True
            continue
        res = float(sk.shockley_residual(*_args(sp), u))
        # a conducting diode is a large conductance g: a voltage error δ is a current
        # g·δ; the sweeps go on until KCL holds too (docs/diodes.md)
        if status != sk.CONVERGED or res <= tol_i or sweeps >= max_sweeps:
            break
    if status == sk.CONVERGED and newton and 0 < p.n <= NEWTON_MAX_NODES:
        # tol_i rests on the crude scale max diag × v_scale; the certificate's KCL
        # tolerance rests on the currents that flow (DEFAULT_RTOL × the largest total
        # current at a node), which can be 1000× smaller (a current source driving a
        # large resistor): finish with Newton until KCL meets a share of a lower bound
        # of that tolerance
        tol_c = KCL_CERT_SHARE * DEFAULT_RTOL * _current_floor(ex, p.voltages(u))
        if 0.0 < tol_c < res:
            newton_iterations += newton_polish(sp, u, tol_c, max_iter=CERT_NEWTON_ITER)
            res = float(sk.shockley_residual(*_args(sp), u))
            polished = True
    t2 = time.perf_counter()
    return Solution(
        circuit=ex.circuit,
        voltages=p.voltages(u),
        solver="cd",
        status=CONVERGED if status == sk.CONVERGED else SWEEP_LIMIT,
        sweeps=int(sweeps),
        residual=res,
        timings={"setup": t1 - t0, "solve": t2 - t1, "total": t2 - t0},
        info={
            "free_supernodes": p.n,
            "ff_edges": p.n_ff_edges,
            "shockley_diodes": int(sp.index.size),
            "tol_v": tol_v,
            "tol_i": tol_i,
            "error_estimate": float(est),
            "i_scale": p.i_scale,
            "v_scale": p.v_scale,
            "polished": polished,
            "newton_iterations": newton_iterations,
        },
    )


__all__ = ["has_shockley", "restrict", "solve_models", "solve_shockley"]


def _current_floor(ex: Expanded, v: np.ndarray) -> float:
    """A lower bound of the certificate's current scale (the largest total |current| at
    a node) from node voltages ``v`` of ``ex.circuit``: the largest current of one
    resistor between two original nodes (their voltages are solved ones; internal nodes
    of series resistances are not) and the largest |current source|.  Each is one term
    of that total at a non-ground node."""
    c, n = ex.circuit, ex.n_nodes
    r = c.resistors
    m = (r.a < n) & (r.b < n) & (r.value > 0)
    with np.errstate(invalid="ignore", over="ignore"):
        i_r = np.abs(v[r.a[m]] - v[r.b[m]]) / r.value[m]
    best = max(
        float(np.max(i_r, initial=0.0)), float(np.max(np.abs(c.isources.value), initial=0.0))
    )
    return best if np.isfinite(best) else 0.0


def newton_polish(sp: ShockleyProblem, u: np.ndarray, tol_i: float, max_iter: int = 100) -> int:
    """Projected Newton on the reduced problem, in place on ``u``; returns its iterations.

    The gradient is the KCL imbalance ``L u − c + Aᵀ(i(vd) − G0 vd)`` and the Hessian
    ``L + Aᵀ diag(g(vd) − G0) A`` (``A``: the Shockley diodes' incidence on the free
    supernodes; the ``G0`` terms undo the setup's surrogate resistors).  Nodes held at an
    ideal-diode bound by their gradient stay there; the step on the others is cut at the
    first bound it meets and damped by an exact line search (bisection on the energy's
    derivative along it, which is increasing: the energy is convex).  Stops when the
    largest projected imbalance is ≤ ``tol_i`` or the step no longer moves ``u``."""
    p = sp.p
    n = p.n
    if n <= DENSE_NEWTON:  # small problems: one numba call, the same method, dense
        args = (p.indptr, p.indices, p.data, p.diag, p.c, p.lo, p.hi, sp.d_sa, sp.d_sc,
                sp.d_const, sp.i_s, sp.nvt, sp.rs, sp.g0)  # fmt: skip
        return int(sk.newton_dense(*args, u, float(tol_i), int(max_iter)))
    import scipy.sparse as sps
    import scipy.sparse.linalg as spla

    lmat = sps.diags(p.diag) - sps.csr_matrix((p.data, p.indices, p.indptr), shape=(n, n))
    m = sp.d_sa.size
    rows = np.concatenate([np.arange(m), np.arange(m)])
    cols = np.concatenate([sp.d_sa, sp.d_sc])
    vals = np.concatenate([np.ones(m), -np.ones(m)])
    keep = cols >= 0
    amat = sps.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(m, n))
    amat_t = amat.T.tocsr()
    g0 = sp.g0

    def vd_of(x: np.ndarray) -> np.ndarray:
        return amat @ x + sp.d_const

    def grad_of(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vd = vd_of(x)
        ig = sk.diode_currents(vd, sp.i_s, sp.nvt, sp.rs)
        i, g = ig[:m], ig[m:]
        return lmat @ x - p.c + amat_t @ (i - g0 * vd), g

    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        grad, g = grad_of(u)
        at_lo = (u <= p.lo) & (grad > 0)
        at_hi = (u >= p.hi) & (grad < 0)
        free = ~(at_lo | at_hi)
        if not free.any() or float(np.max(np.abs(grad[free]))) <= tol_i:
            break
        f = np.flatnonzero(free)
        try:
            hess = lmat + amat_t @ sps.diags(g - g0) @ amat
            step_f = -spla.spsolve(hess[f][:, f].tocsc(), grad[f])
        except (RuntimeError, np.linalg.LinAlgError):
            break
        if not np.all(np.isfinite(step_f)):
            break
        step = np.zeros(n)
        step[f] = step_f
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(
                step > 0, (p.hi - u) / step, np.where(step < 0, (p.lo - u) / step, np.inf)
            )
        t_max = min(1.0, float(np.min(room, initial=np.inf)))
        if t_max <= 0.0:
            break

        t = _line_search(lambda t, s=step: float(s @ grad_of(u + t * s)[0]), t_max)
        new = np.clip(u + t * step, p.lo, p.hi)
        if np.array_equal(new, u):
            break
        u[:] = new
    return it


def _line_search(slope, t_max: float) -> float:
    """The root in [0, t_max] of an increasing ``slope`` (t_max when it stays ≤ 0):
    regula falsi with the Illinois rule, bracketed, to about 1e-12 of t_max."""
    s_hi = slope(t_max)
    if s_hi <= 0.0:
        return t_max
    lo_t, hi_t, s_lo = 0.0, t_max, slope(0.0)
    if s_lo >= 0.0:
        return 0.0
    side = 0
    for _ in range(100):
        t = (lo_t * s_hi - hi_t * s_lo) / (s_hi - s_lo)
        if not lo_t < t < hi_t:
            t = 0.5 * (lo_t + hi_t)
        st = slope(t)
        if st > 0.0:
            hi_t, s_hi = t, st
            if side == 1:
                s_lo *= 0.5
            side = 1
        else:
            lo_t, s_lo = t, st
            if side == -1:
                s_hi *= 0.5
            side = -1
        if hi_t - lo_t <= 1e-12 * t_max or st == 0.0:
            break
    return lo_t
