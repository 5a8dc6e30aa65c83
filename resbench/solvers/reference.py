"""Reference solver: slow, obviously correct, independent of the coordinate-descent code.

Method (docs/design.md §1).  The unknowns are the voltages ``v`` of the non-ground
nodes.  ``G`` is the conductance (Laplacian) matrix with ground's row and column
dropped (plus ``gmin`` on the diagonal), ``J`` the current-source injections,
``A v = b`` the equations of voltage sources and shorts (0-ohm resistors,
inductors) and ``D v <= 0`` the diode constraints (rows ``e_anode - e_cathode``).

1. Equality rows: a rank-revealing (column-pivoted) QR of ``Aᵀ`` keeps an
   independent subset ``A_I``; every dropped row is expressed in the kept ones
   and its value checked — a mismatch is a loop of sources with conflicting
   values (CircuitError naming them).
2. Floating nodes: ``v`` is undetermined exactly on ``null(G) ∩ null(A)``.
   ``null(G)`` is spanned by the indicators of resistor-connected components
   that do not contain ground, so the check is an SVD of ``A`` restricted to
   those components (CircuitError naming the nodes), skipped when ``gmin > 0``.
3. KKT matrix ``K = [[G, A_Iᵀ], [A_I, 0]]`` (dense LU up to 5000 rows, else
   sparse LU; conductances scaled so the largest is 1).  With diode currents
   ``λ >= 0`` stationarity reads ``G v - J + A_Iᵀ μ + Dᵀ λ = 0``, so
   ``v(λ) = v0 - P Dᵀ λ`` and the diode conditions become the LCP
   ``w = M λ + q >= 0, λ >= 0, λ·w = 0`` with ``M = D P Dᵀ`` (positive
   semidefinite) and ``q = -D v0``.  Diodes whose two ends are tied by sources
   (``d ∈ range(A_Iᵀ)``) have a constant voltage and are checked directly.
4. Lemke's complementary pivoting with covering vector ``1`` and the
   lexicographic minimum-ratio rule (no cycling on degenerate problems); the
   final basis is re-solved from the original data.  Ray termination means the
   diode constraints cannot be met: an LP Farkas certificate
   (``A_Iᵀ y + Dᵀ z = 0, z >= 0, bᵀ y < 0``) names the diodes and sources.
   Diode voltages in ``q`` below 1e-12 of the voltage scale are round-off of
   the KKT solve and are set to 0 (diodes tied through shorts need exact
   zeros); if Lemke still ends on a ray while the LP finds the diodes
   feasible, every diode is relaxed by that same 1e-12 margin and Lemke rerun.
5. ``v``, ``μ`` (voltage-source currents, SPICE sign) are recovered by one more
   KKT solve with the diode currents ``λ``, then (without islands) one step of
   iterative refinement on the conducting diodes' drops, which are 0 exactly: the
   solve's right-hand side holds λ only to its own precision (``_refine``).

Dense where it matters; meant for tests and for circuits up to a few thousand
nodes and about a thousand diodes.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.linalg.blas import dger as _dger
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from resbench.circuit import Branches, Circuit
from resbench.errors import CircuitError, SolverError
from resbench.solution import CONVERGED, Solution
from resbench.solvers import guard_finite
from resbench.solvers.problem import MAX_SCALE, check_finite_values

__all__ = ["solve_reference", "lemke"]

LEMKE_OK = 0
LEMKE_MAX_ITER = 1
LEMKE_RAY = 2

_RANK_TOL = 1e-9  # incidence-matrix rank decisions (entries are 0, ±1)
_REL_TOL = 1e-9  # relative tolerance of value checks (KVL loops, fixed diodes)
_CLEAN_TOL = 1e-12  # diode voltages below this fraction of the voltage scale are round-off
_ROUND_OFF = 1e-12  # relative round-off of sums of a few values (loop drops, LCP entries)
_FIT_TOL = 1e-7  # least-squares fits and LP solutions over 0/±1 rows: above it is real
_NULL_RCOND = 1e-10  # singular values below this fraction of the largest span the null space
_PIVOT_TOL = 1e-14  # an LU pivot below this fraction of the largest means a singular matrix
_LCP_ZERO = 1e-13  # scaled LCP entries (largest = 1) below it are round-off, zeroed for Lemke
_TINY = 1e-300  # a positive floor that keeps a relative test meaningful at 0


def _names(seq, idx, limit: int = 12) -> list[str]:
    return [str(seq[int(i)]) for i in idx[:limit]]


def _fmt_list(names: list[str], total: int) -> str:
    text = ", ".join(names)
    if total > len(names):
        text += f", … ({total} in all)"
    return text


# --------------------------------------------------------------------- Lemke
def lemke(
    m: np.ndarray, q: np.ndarray, *, max_iter: int | None = None, piv_tol: float = 1e-12
) -> tuple[np.ndarray, int, int]:
    """Solve the LCP ``w = m z + q >= 0, z >= 0, z·w = 0`` by Lemke's algorithm.

    Covering vector of ones, lexicographic minimum-ratio rule (the artificial
    variable leaves as soon as it ties for the minimum ratio).  Returns
    ``(z, status, pivots)`` with status ``LEMKE_OK`` (0), ``LEMKE_MAX_ITER`` (1)
    or ``LEMKE_RAY`` (2, ray termination: for a positive semidefinite ``m``
    the LCP is infeasible).  On success ``z`` is recomputed from the final basis
    with the original data (no accumulated pivoting error).
    """
    m = np.asarray(m, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64).reshape(-1)
    n = q.shape[0]
    if n == 0 or np.all(q >= 0):
        return np.zeros(n), LEMKE_OK, 0
    if max_iter is None:
        max_iter = max(1000, 50 * n)
    z0 = 2 * n  # column of the artificial variable
    rhs = 2 * n + 1
    t0 = np.zeros((n, 2 * n + 2))
    t0[:, :n] = np.eye(n)
    t0[:, n : 2 * n] = -m
    t0[:, z0] = -1.0
    t0[:, rhs] = q
    tab = np.array(t0, order="C")
    basis = np.arange(n)

    tab_t = tab.T  # Fortran-ordered view: BLAS rank-1 updates in place

    def pivot(r: int, c: int) -> None:
        tab[r] /= tab[r, c]
        col = tab[:, c].copy()
        col[r] = 0.0
        out = _dger(-1.0, tab[r].copy(), col, a=tab_t, overwrite_a=1)  # tab -= col ⊗ row
        if out is not tab_t and not np.shares_memory(out, tab):
            tab_t[:] = out
        basis[r] = c

    # First pivot: z0 enters, the row of the most negative q leaves (lexicographic
    # tie-break on q + (ε, ε², …): the largest index among ties).
    qmin = q.min()
    ties = np.flatnonzero(q <= qmin + piv_tol * max(1.0, abs(qmin)))
    r = int(ties[-1])
    pivot(r, z0)
    entering = n + r  # complement of the leaving w_r
    pivots = 1
    while pivots < max_iter:
        col = tab[:, entering]
        cand = np.flatnonzero(col > piv_tol)
        if cand.size == 0:
            return np.zeros(n), LEMKE_RAY, pivots
        ratios = tab[cand, rhs] / col[cand]
        best = ratios.min()
        tied = cand[ratios <= best + piv_tol * max(1.0, abs(best))]
        z0_row = np.flatnonzero(basis[tied] == z0)
        if z0_row.size:
            r = int(tied[z0_row[0]])
        else:
            # lexicographic minimum of rows [rhs, B⁻¹] / col over the tied rows
            k = 0
            while tied.size > 1 and k < n:
                vals = tab[tied, k] / col[tied]
                lo = vals.min()
                tied = tied[vals <= lo + piv_tol * max(1.0, abs(lo))]
                k += 1
            r = int(tied[0])
        leaving = int(basis[r])
        pivot(r, entering)
        pivots += 1
        if leaving == z0:
            # Re-solve the final basis with the original data.
            bmat = t0[:, basis]
            try:
                xb = np.linalg.solve(bmat, q)
            except np.linalg.LinAlgError:
                xb = tab[:, rhs]
            z = np.zeros(n)
            zsel = (basis >= n) & (basis < 2 * n)
            z[basis[zsel] - n] = xb[zsel]
            return np.maximum(z, 0.0), LEMKE_OK, pivots
        entering = leaving + n if leaving < n else leaving - n
    return np.zeros(n), LEMKE_MAX_ITER, pivots


# ----------------------------------------------------------------- helpers
def _incidence(a: np.ndarray, b: np.ndarray, n_free: int) -> sp.csr_matrix:
    """Rows e_a - e_b over the non-ground nodes (node k -> column k-1)."""
    rows = np.arange(a.shape[0])
    ia, ib = a.astype(np.intp) - 1, b.astype(np.intp) - 1
    data = np.concatenate([np.ones(int((ia >= 0).sum())), -np.ones(int((ib >= 0).sum()))])
    r = np.concatenate([rows[ia >= 0], rows[ib >= 0]])
    c = np.concatenate([ia[ia >= 0], ib[ib >= 0]])
    return sp.csr_matrix((data, (r, c)), shape=(a.shape[0], n_free))


def _independent_rows(a_full: np.ndarray, b_full: np.ndarray, row_names: list[str]) -> np.ndarray:
    """Indices of an independent subset of equality rows; raises on conflicting loops."""
    n_rows = a_full.shape[0]
    if n_rows == 0:
        return np.zeros(0, dtype=np.intp)
    _, rfac, perm = sla.qr(a_full.T, mode="economic", pivoting=True)
    diag = np.abs(np.diag(rfac))
    rank = int(np.sum(diag > _RANK_TOL * max(diag[0] if diag.size else 0.0, 1.0)))
    indep, dep = np.sort(perm[:rank]), perm[rank:]
    if dep.size == 0:
        return indep
    a_i = a_full[indep]
    coef, *_ = np.linalg.lstsq(a_i.T, a_full[dep].T, rcond=None)  # rank x n_dep
    if not np.allclose(a_i.T @ coef, a_full[dep].T, atol=_FIT_TOL):
        raise SolverError("reference: rank decision on the source equations failed")
    # Incidence rows: a dependent row is a path in the forest of independent rows,
    # so its coefficients are exactly -1, 0 or 1.  Each loop is judged on its own
    # scale (the closing value and the drop it implies), not the circuit's.
    coef = np.rint(coef)
    implied = coef.T @ b_full[indep]
    mismatch = np.abs(b_full[dep] - implied)
    loop_mag = np.abs(coef.T) @ np.abs(b_full[indep]) + np.abs(b_full[dep])
    tol = _REL_TOL * np.maximum(np.abs(b_full[dep]), np.abs(implied)) + _ROUND_OFF * loop_mag
    bad = np.flatnonzero(mismatch > tol)
    if bad.size:
        j = int(bad[np.argmax(mismatch[bad])])
        involved = [int(dep[j])] + [
            int(indep[k]) for k in np.flatnonzero(np.abs(coef[:, j]) > _RANK_TOL)
        ]
        names = [row_names[k] for k in involved]
        if len(names) == 1:
            raise CircuitError(
                f"{names[0]} joins a node to itself (or ground to ground) but has the "
                f"nonzero value {b_full[dep[j]]:.6g} V",
                elements=names,
            )
        raise CircuitError(
            "voltage sources and shorts form a loop with conflicting values "
            f"(KVL violated by {mismatch[j]:.6g} V: {b_full[dep[j]]:.12g} V against "
            f"{implied[j]:.12g} V): {', '.join(names)}",
            elements=names,
        )
    return indep


def _islands(
    circuit: Circuit, a_rows: np.ndarray, d_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The null space of the KKT matrix, and the nodes whose voltage is undefined.

    ``v`` is free along ``null(G) ∩ null(A)``: the shifts of *islands*, groups of
    nodes that resistors and sources do not join to ground.  ``null(G)`` is spanned
    by the indicators of the resistor-connected components without ground, so both
    are small SVDs on those components.  Returns ``(Z, undefined)``: an orthonormal
    basis ``Z`` (non-ground nodes × islands) of that null space, and the nodes
    (circuit numbering) along ``null(G) ∩ null(A) ∩ null(D)``, which not even the
    diodes pin (SPICE: a singular matrix).
    """
    n = circuit.n_nodes
    res = circuit.resistors
    pos = res.value > 0
    graph = sp.coo_matrix((np.ones(int(pos.sum())), (res.a[pos], res.b[pos])), shape=(n, n)).tocsr()
    n_comp, label = connected_components(graph, directed=False)
    comps = np.setdiff1d(np.arange(n_comp), [label[0]])
    empty = np.zeros((n - 1, 0)), np.zeros(0, dtype=np.intp)
    if comps.size == 0:
        return empty
    col_of = np.full(n_comp, -1)
    col_of[comps] = np.arange(comps.size)
    node_col = col_of[label[1:]]  # per non-ground node: its component column, or -1
    ind = sp.csr_matrix(
        (
            np.ones(int((node_col >= 0).sum())),
            (np.flatnonzero(node_col >= 0), node_col[node_col >= 0]),
        ),
        shape=(n - 1, comps.size),
    )

    def null(rows: np.ndarray) -> np.ndarray:
        if rows.shape[0] == 0:
            return np.eye(comps.size)
        return sla.null_space(np.asarray(sp.csr_matrix(rows) @ ind.todense()), rcond=_NULL_RCOND)

    basis = null(a_rows)
    if basis.size == 0:
        return empty
    zmat = np.asarray(ind @ basis)
    zmat, _ = np.linalg.qr(zmat)
    both = null(np.vstack([a_rows, d_rows]) if d_rows.shape[0] else a_rows)
    undefined = np.zeros(0, dtype=np.intp)
    if both.size:
        cols = np.flatnonzero(np.max(np.abs(both), axis=1) > _RANK_TOL)
        undefined = np.flatnonzero(np.isin(node_col, cols)) + 1
    return zmat, undefined


def _farkas(
    a_i: np.ndarray, b_i: np.ndarray, d: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Find y, z >= 0 with A_Iᵀ y + Dᵀ z = 0 and bᵀ y < 0 (proof that no v has A_I v = b,
    D v <= 0).  Returns the supports (equality rows, diodes) or None when none exists."""
    r, nd = a_i.shape[0], d.shape[0]
    if nd == 0:
        return None
    a_eq = np.hstack([a_i.T, d.T])
    c = np.concatenate([b_i, np.zeros(nd)])
    bounds = [(-1.0, 1.0)] * r + [(0.0, 1.0)] * nd
    out = linprog(c, A_eq=a_eq, b_eq=np.zeros(a_eq.shape[0]), bounds=bounds, method="highs")
    b_scale = max(float(np.max(np.abs(b_i))) if r else 0.0, _TINY)
    if out.status != 0 or out.fun > -_REL_TOL * b_scale:
        return None
    y, z = out.x[:r], out.x[r:]
    return np.flatnonzero(np.abs(y) > _FIT_TOL), np.flatnonzero(z > _FIT_TOL)


class _Factor:
    """LU factors of the KKT matrix: dense LAPACK up to a few thousand rows, SuperLU above."""

    DENSE_MAX = 5000

    def __init__(self, kkt: sp.csc_matrix) -> None:
        self.dense = kkt.shape[0] <= self.DENSE_MAX
        try:
            if self.dense:
                dense = kkt.toarray()
                self.lu = sla.lu_factor(dense, check_finite=True)
                piv = np.abs(np.diag(self.lu[0]))
                if piv.min() <= _PIVOT_TOL * piv.max():
                    raise RuntimeError("a pivot vanished")
            else:
                self.lu = spla.splu(kkt)
        except (RuntimeError, sla.LinAlgError, ValueError) as exc:
            raise SolverError(f"reference: KKT matrix is singular ({exc})") from None

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        if self.dense:
            return sla.lu_solve(self.lu, rhs)
        return self.lu.solve(rhs)


def _factor(kkt: sp.csc_matrix) -> _Factor:
    return _Factor(kkt)


# ------------------------------------------------------------------ islands
def _island_names(circuit: Circuit, zmat: np.ndarray, cols: np.ndarray) -> list[str]:
    nodes = np.flatnonzero(np.max(np.abs(zmat[:, cols]), axis=1) > _RANK_TOL) + 1
    return _names(circuit.nodes, nodes)


def _unbounded(circuit: Circuit, zmat: np.ndarray, cols: np.ndarray) -> CircuitError:
    """The error of islands (columns ``cols`` of Z) fed a net current no diode can carry."""
    names = _island_names(circuit, zmat, cols)
    return CircuitError(
        f"node(s) {', '.join(names)} (reached from the fixed voltages only through diodes) "
        "receive a net current that no diode can carry away: the energy is unbounded "
        "and no DC operating point exists",
        nodes=names,
    )


def _check_bounded(circuit: Circuit, h_isl: np.ndarray, zmat: np.ndarray) -> None:
    """Islands with no diode to carry their net injection: the energy is unbounded."""
    bad = np.flatnonzero(np.abs(h_isl) > _ROUND_OFF * max(float(np.max(np.abs(h_isl))), _TINY))
    if bad.size and np.max(np.abs(h_isl)) > 0:
        raise _unbounded(circuit, zmat, bad)


def _check_islands_drained(circuit, rr, lam_s, hh, zmat) -> None:
    """After Lemke: does every island's net injection leave through its diodes
    (``Rᵀλ = h``, scaled units)?  Where it does not, the LP over ``λ ≥ 0`` decides:
    no such λ at all means no operating point (CircuitError naming the islands);
    else nothing is claimed here and the answer goes on to its certificate."""
    h_scale = max(float(np.max(np.abs(hh), initial=0.0)), _TINY)
    miss = np.abs(rr.T @ lam_s - hh)
    if not np.any(miss > _FIT_TOL * h_scale):
        return
    out = linprog(
        np.zeros(rr.shape[0]),
        A_eq=rr.T,
        b_eq=hh,
        bounds=[(0.0, None)] * rr.shape[0],
        method="highs",
    )
    if out.status == 2:  # infeasible: no diode currents can carry the injections
        raise _unbounded(circuit, zmat, np.flatnonzero(miss > _FIT_TOL * h_scale))


def _island_lcp(lu, d_dense, free, nonzero, v0, zmat, h_isl, r, v_scale, a_i, b_i, circuit):
    """Diode currents and island shifts when the KKT matrix is bordered by Z.

    ``v(λ, τ) = v0 − P Dᵀλ + Z τ``: the diode conditions are the mixed LCP
    ``w = Mλ − Rτ + q ≥ 0 ⟂ λ ≥ 0`` with ``Rᵀλ = h`` (each island's net injection
    leaves through its diodes) and τ free, ``M = D P Dᵀ``, ``R = D Z``.  It is the
    KKT system of ``min ½λᵀMλ + qᵀλ, λ ≥ 0, Rᵀλ = h``; with ``τ = τ⁺ − τ⁻`` and the
    equality written as two inequalities it is the monotone LCP
    ``[[M, −R, R], [Rᵀ, 0, 0], [−Rᵀ, 0, 0]]``, which Lemke's method solves.
    Returns (λ on the free diodes, τ, pivots).
    """
    nf = zmat.shape[0]
    k = zmat.shape[1]
    d_free = d_dense[free]
    nfr = free.size
    sens = lu.solve(np.vstack([d_free.T, np.zeros((r + k, nfr))]))
    mmat = d_free @ sens[:nf]
    mmat = 0.5 * (mmat + mmat.T)
    rmat = d_free @ zmat
    qvec = -(d_free @ v0)
    qvec[np.abs(qvec) <= _CLEAN_TOL * v_scale] = 0.0
    dg = np.diag(mmat).copy()
    # M's diagonal is the resistance each diode sees, in units where the largest
    # conductance is 1: at least ~1 / (conductances meeting at a node) when real, and
    # exactly 0 for a diode whose ends move only with island shifts (its voltage is
    # all τ).  There the solve leaves round-off (~1e-33); scaling by it would blow R up
    # to ~1e16 and bury the islands' injections h under _LCP_ZERO (λ = 0 for diodes
    # that carry them).  Such rows and columns (≤ _ROUND_OFF: a real one would need
    # 1e12 of the largest conductances in parallel) are zeroed, as M's are exactly.
    noise = dg <= _ROUND_OFF
    mmat[noise, :] = 0.0
    mmat[:, noise] = 0.0
    big_d = float(np.max(dg, initial=0.0))
    real = (dg > _ROUND_OFF * big_d) & ~noise
    scale = np.where(real, np.sqrt(np.maximum(dg, _TINY)), 1.0)
    mm = mmat / scale[:, None] / scale[None, :]
    rr = rmat / scale[:, None]
    qq = qvec / scale
    hh = h_isl.copy()
    big = np.zeros((nfr + 2 * k, nfr + 2 * k))
    big[:nfr, :nfr] = mm
    big[:nfr, nfr : nfr + k] = -rr
    big[:nfr, nfr + k :] = rr
    big[nfr : nfr + k, :nfr] = rr.T
    big[nfr + k :, :nfr] = -rr.T
    qbig = np.concatenate([qq, -hh, hh])
    q_scale = float(np.max(np.abs(qbig))) or 1.0
    qn = qbig / q_scale
    qn[np.abs(qn) <= _LCP_ZERO] = 0.0
    z, status, pivots = lemke(big, qn)
    if status == LEMKE_RAY:
        found = _farkas(a_i, b_i, d_dense[nonzero])
        if found is not None:
            dio = circuit.diodes
            rows, diodes = found
            dnames = [str(dio.names[int(nonzero[j])]) for j in diodes]
            raise CircuitError(
                "diodes are forced to conduct with zero resistance by voltage sources "
                f"(no voltages satisfy them): diodes {', '.join(dnames)}",
                elements=dnames,
            )
        moving = np.flatnonzero(np.abs(hh) > _ROUND_OFF * max(float(np.max(np.abs(hh))), _TINY))
        raise _unbounded(circuit, zmat, moving if moving.size else np.arange(k))
    if status != LEMKE_OK:
        raise SolverError(f"reference: Lemke's algorithm did not finish in {pivots} pivots")
    _check_islands_drained(circuit, rr, z[:nfr] * q_scale, hh, zmat)
    lam = z[:nfr] * q_scale / scale
    tau = (z[nfr : nfr + k] - z[nfr + k :]) * q_scale
    return lam, tau, pivots


# ------------------------------------------------------------------ size
MAX_DENSE_BYTES = 2 * 2**30  # refuse circuits whose dense matrices would exceed this


def estimate_bytes(*, n_nodes: int, n_diodes: int, n_equalities: int, n_resistors: int) -> float:
    """Bytes of the dense arrays this solver builds (an upper estimate, before any is built):
    the equality rows and the diode rows over all nodes, the sensitivities K⁻¹ Dᵀ, the
    LCP matrix and Lemke's tableau, the dense KKT matrix (≤ 5000 rows) or a sparse LU
    with generous fill."""
    nf = max(n_nodes - 1, 0)
    rows = nf + n_equalities
    dense = 8.0 * (n_equalities * nf + n_diodes * nf + rows * n_diodes + 4.0 * n_diodes**2)
    if rows <= _Factor.DENSE_MAX:
        dense += 8.0 * rows * rows
    else:
        dense += 8.0 * 50 * (rows + n_resistors)  # sparse LU, 50x fill
    return dense


def _check_size(circuit: Circuit) -> None:
    res = circuit.resistors
    n_eq = len(circuit.vsources) + int(np.sum(res.value == 0)) + len(circuit.inductors)
    need = estimate_bytes(
        n_nodes=circuit.n_nodes,
        n_diodes=len(circuit.diodes),
        n_equalities=n_eq,
        n_resistors=len(res),
    )
    if need > MAX_DENSE_BYTES:
        raise CircuitError(
            f"the reference solver would need about {need / 2**30:.3g} GiB of dense matrices "
            f"for this circuit ({circuit.n_nodes} nodes, {len(circuit.diodes)} diodes, "
            f"{len(res)} resistors; limit {MAX_DENSE_BYTES / 2**30:.3g} GiB): it is meant for "
            "small circuits (a few thousand nodes, about a thousand diodes); use the fast "
            "solver cd (--solver cd) instead"
        )


# ------------------------------------------------------------------ solver
def solve_reference(circuit: Circuit, *, gmin: float = 0.0) -> Solution:
    """Exact DC operating point by KKT elimination and Lemke's algorithm (see module doc).

    Raises CircuitError (naming the elements or nodes) for floating nodes,
    source loops with conflicting values and diodes that sources force to
    conduct; SolverError if the numerics fail.  Returns a Solution with
    ``solver="reference"``, status ``converged``, diode and voltage-source
    currents and timings ``setup``/``solve``/``total``.

    The steps of the module docstring, one helper each: conductances, equality
    rows, islands and floating nodes (setup); the KKT factorisation, the diode
    currents by Lemke's algorithm, and the final KKT solve (solve).
    """
    from resbench.diodes import has_models, warn_ignored

    warn_ignored(circuit)
    if has_models(circuit):
        return solve_reference_models(circuit, gmin=gmin)
    t_start = time.perf_counter()
    circuit.validate()
    if gmin < 0 or not np.isfinite(gmin):
        raise CircuitError(f"gmin must be a finite non-negative conductance, got {gmin!r}")
    check_finite_values(circuit)
    _check_size(circuit)
    n = circuit.n_nodes
    nf = n - 1
    dio = circuit.diodes
    nd, nv = len(dio), len(circuit.vsources)

    gmat, jvec, g_scale = _conductances(circuit, gmin)
    a_i, b_i, b_full, row_names, indep = _equality_rows(circuit)
    dmat = _incidence(dio.a, dio.b, nf)
    zmat = _island_shifts(circuit, a_i, dmat, gmin)
    k_isl = zmat.shape[1]
    t_setup = time.perf_counter()

    r = a_i.shape[0]
    kkt = _kkt_matrix(gmat, a_i, zmat)
    if kkt.shape[0] == 0:
        t_end = time.perf_counter()
        return Solution(
            circuit=circuit,
            voltages=np.zeros(n),
            solver="reference",
            status=CONVERGED,
            diode_current=np.zeros(nd),
            vsource_current=np.zeros(nv),
            timings={
                "setup": t_setup - t_start,
                "solve": t_end - t_setup,
                "total": t_end - t_start,
            },
        )
    # KKT factorisation and the solution without diode currents.
    lu = _factor(kkt)
    rhs0 = np.concatenate([jvec, b_i, np.zeros(k_isl)])
    x0 = lu.solve(rhs0)
    v0 = x0[:nf]
    v_scale, b_max = _voltage_scale(gmat, jvec, b_full, v0)

    lam = np.zeros(nd)  # scaled diode currents (A / g_scale)
    tau = np.zeros(k_isl)  # island shifts Zᵀv
    h_isl = zmat.T @ jvec  # net current into each island direction (scaled)
    pivots = 0
    if nd:
        d_dense = dmat.toarray()
        nonzero = np.flatnonzero(np.any(d_dense != 0, axis=1))
        fixed_mask = _source_tied_diodes(
            circuit, d_dense, nonzero, a_i, b_i, b_max, row_names, indep
        )
        free = nonzero[~fixed_mask]
        if free.size and k_isl:
            lam[free], tau, pivots = _island_lcp(
                lu, d_dense, free, nonzero, v0, zmat, h_isl, r, v_scale, a_i, b_i, circuit
            )
        elif free.size:
            lam[free], pivots = _diode_lcp(
                circuit, lu, d_dense, free, nonzero, v0, r, v_scale, a_i, b_i, row_names, indep
            )

    if k_isl and not (nd and np.any(dmat.getnnz(axis=1) > 0)):
        _check_bounded(circuit, h_isl, zmat)
    # Final KKT solve with the diode currents (and the island shifts).
    voltages, vsource_current, info_islands, lam = _recover(
        circuit, lu, rhs0, dmat, lam, tau, r, k_isl, indep, g_scale, v_scale
    )
    t_end = time.perf_counter()
    return guard_finite(
        Solution(
            circuit=circuit,
            voltages=voltages,
            solver="reference",
            status=CONVERGED,
            diode_current=lam * g_scale,
            vsource_current=vsource_current,
            sweeps=0,
            timings={
                "setup": t_setup - t_start,
                "solve": t_end - t_setup,
                "total": t_end - t_start,
            },
            info={
                "lemke_pivots": pivots,
                "equality_rows": int(r),
                "gmin": gmin,
                "islands": int(k_isl),
                **info_islands,
            },
        )
    )


def _recover(circuit, lu, rhs0, dmat, lam, tau, r, k_isl, indep, g_scale, v_scale):
    """Node voltages and source currents from the diode currents (step 5).

    One more KKT solve with the scaled diode currents ``lam`` (and the island shifts
    ``tau``); islands are then settled (:func:`resbench.islands.settle`).  Returns
    ``(voltages, vsource_current, info_islands)`` in volts and amperes.
    """
    n = circuit.n_nodes
    nf = n - 1
    nv = len(circuit.vsources)
    rhs = rhs0 - np.concatenate([dmat.T @ lam, np.zeros(r), -tau])
    x = lu.solve(rhs)
    if not k_isl:
        x, lam = _refine(lu, dmat, lam, x, nf, r)
    voltages = np.zeros(n)
    voltages[1:] = x[:nf]
    info_islands: dict = {}
    if k_isl:
        from resbench.islands import settle

        # the answer's own scale too: v_scale (sources, v0, local injections) misses
        # what islands' current sources make (v0 is 0 there): 1e-300 V when the only
        # injection feeds an island, and round-off slack then counted as a free range
        scale = max(v_scale, float(np.max(np.abs(voltages), initial=0.0)))
        voltages, info_islands = settle(
            circuit,
            voltages,
            lam * g_scale,
            vtol=_REL_TOL * scale,
            itol=_REL_TOL * scale * g_scale,
        )
    vsource_current = np.zeros(nv)
    is_v = indep < nv
    vsource_current[indep[is_v]] = x[nf : nf + r][is_v] * g_scale
    return voltages, vsource_current, info_islands, lam


def _refine(lu, dmat, lam, x, nf, r):
    """One step of iterative refinement on the conducting diodes' drops (step 5).

    ``x`` solves the KKT system with right-hand side ``J − Dᵀλ``, which is formed to
    the precision of λ: a current source pulling 1 kA out of a node that its diode
    clamps leaves ~eps × 1 kA there, volts across a megohm, where the answer is ~1 V.
    The conducting diodes' drops ``D_A v`` (0 exactly) measure that error; the
    correction ``Δλ = M_AA⁺ D_A v`` (M_AA = D_A P D_Aᵀ, least squares: dependent
    diodes) is applied by a solve whose right-hand side is only Δλ's size.  Kept
    when it shrinks the largest drop, else x and λ stay as they were.
    Returns (x, λ)."""
    act = np.flatnonzero(lam > 0)
    if act.size == 0:
        return x, lam
    d_act = dmat[act]
    drop = d_act @ x[:nf]
    worst = float(np.max(np.abs(drop)))
    if worst == 0.0:
        return x, lam
    sens = lu.solve(np.vstack([d_act.T.toarray(), np.zeros((x.shape[0] - nf, act.size))]))
    m_aa = d_act @ sens[:nf]
    dlam, *_ = np.linalg.lstsq(m_aa, drop, rcond=None)
    x_new = x - sens @ dlam
    if not float(np.max(np.abs(d_act @ x_new[:nf]))) < worst:
        return x, lam
    lam_new = lam.copy()
    lam_new[act] += dlam
    return x_new, np.maximum(lam_new, 0.0)


def _conductances(circuit: Circuit, gmin: float) -> tuple[sp.csc_matrix, np.ndarray, float]:
    """The conductance matrix G (ground dropped) and injections J, scaled by ``g_scale``.

    Conductances are divided by ``g_scale`` (the largest conductance, or ``gmin``) so
    the largest is 1; ``gmin`` goes on the diagonal.  Raises CircuitError when the
    values would overflow double precision.  Returns ``(gmat, jvec, g_scale)``.
    """
    n = circuit.n_nodes
    nf = n - 1
    res, isrc, vsrc = circuit.resistors, circuit.isources, circuit.vsources
    pos = np.flatnonzero(res.value > 0)
    g = 1.0 / res.value[pos]
    g_scale = float(max(g.max() if g.size else 0.0, gmin, 0.0)) or 1.0
    g_rel = g / g_scale  # conductances relative to g_scale
    inc_r = _incidence(res.a[pos], res.b[pos], nf)
    gmat = (inc_r.T @ sp.diags(g_rel) @ inc_r).tocsc()
    if gmin > 0:
        gmat = gmat + sp.identity(nf, format="csc") * (gmin / g_scale)
    inj = np.bincount(isrc.b, weights=isrc.value, minlength=n) - np.bincount(
        isrc.a, weights=isrc.value, minlength=n
    )
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        jvec = inj[1:] / g_scale
        gd = np.asarray(gmat.diagonal())
        local = np.abs(jvec[gd > 0]) / gd[gd > 0]
    b_big = float(np.max(np.abs(vsrc.value), initial=0.0))
    if not (np.all(np.isfinite(jvec)) and np.all(local <= MAX_SCALE) and b_big <= MAX_SCALE):
        raise CircuitError(
            "values too large: the sources and resistances make voltages or currents beyond "
            f"{MAX_SCALE:g}, which would overflow double precision; rescale units (e.g. kΩ and "
            "mA instead of Ω and A)"
        )
    return gmat, jvec, g_scale


def _equality_rows(circuit: Circuit):
    """The independent equality rows ``A_I v = b_I`` (step 1).

    Rows are voltage sources, then shorts (0-ohm resistors), then inductors; a
    dependent row whose value conflicts is a CircuitError.  Returns
    ``(a_i, b_i, b_full, row_names, indep)``: the kept rows and values, every row's
    value, every row's element name, and the indices of the kept rows.
    """
    nf = circuit.n_nodes - 1
    res, vsrc, ind = circuit.resistors, circuit.vsources, circuit.inductors
    short_r = np.flatnonzero(res.value == 0)
    ea = np.concatenate([vsrc.a, res.a[short_r], ind.a])
    eb = np.concatenate([vsrc.b, res.b[short_r], ind.b])
    b_full = np.concatenate([vsrc.value, np.zeros(short_r.size + len(ind))])
    row_names = list(vsrc.names) + [str(res.names[int(k)]) for k in short_r] + list(ind.names)
    a_full = _incidence(ea, eb, nf).toarray()
    indep = _independent_rows(a_full, b_full, row_names)
    a_i, b_i = a_full[indep], b_full[indep]
    return a_i, b_i, b_full, row_names, indep


def _island_shifts(
    circuit: Circuit, a_i: np.ndarray, dmat: sp.csr_matrix, gmin: float
) -> np.ndarray:
    """The island shift directions Z (columns), or none when ``gmin > 0`` (step 2).

    Raises CircuitError naming the nodes that neither resistors, sources nor diodes
    pin to a fixed voltage.
    """
    nf = circuit.n_nodes - 1
    zmat = np.zeros((nf, 0))
    if gmin == 0:
        zmat, floating = _islands(circuit, a_i, dmat.toarray())
        if floating.size:
            names = _names(circuit.nodes, floating)
            raise CircuitError(
                "no resistive path to a fixed voltage (ground or a voltage source) from "
                f"node(s) {_fmt_list(names, floating.size)}, and no diode pins them either; "
                "the voltage is undefined (use gmin to add a leak to ground)",
                nodes=names,
            )
    return zmat


def _kkt_matrix(gmat: sp.csc_matrix, a_i: np.ndarray, zmat: np.ndarray) -> sp.csc_matrix:
    """The KKT matrix ``[[G, A_Iᵀ], [A_I, 0]]``, bordered by the island shifts Z if any.

    With islands the KKT matrix is singular along their shifts Z: it is bordered by
    Z (the extra unknowns s must end at 0: the net current into each island is zero;
    the extra equations fix the shifts Zᵀv = τ, which the LCP then chooses).
    """
    a_sp = sp.csr_matrix(a_i)
    if zmat.shape[1]:
        z_sp = sp.csr_matrix(zmat)
        return sp.bmat(
            [[gmat, a_sp.T, z_sp], [a_sp, None, None], [z_sp.T, None, None]], format="csc"
        )
    return sp.bmat([[gmat, a_sp.T], [a_sp, None]], format="csc")


def _voltage_scale(
    gmat: sp.csc_matrix, jvec: np.ndarray, b_full: np.ndarray, v0: np.ndarray
) -> tuple[float, float]:
    """The voltage scale of the relative tolerances, and the largest source value.

    Sources, the answer without diodes ``v0``, and what each current source makes
    across its node's conductance (meaningful when all v are 0).  Returns
    ``(v_scale, b_max)``.
    """
    gdiag = gmat.diagonal()
    local = np.abs(jvec[gdiag > 0]) / gdiag[gdiag > 0]
    b_max = float(np.max(np.abs(b_full), initial=0.0))
    v_scale = max(b_max, float(np.max(np.abs(v0), initial=0.0)), float(np.max(local, initial=0.0)))
    v_scale = max(v_scale, _TINY)
    return v_scale, b_max


def _source_tied_diodes(circuit, d_dense, nonzero, a_i, b_i, b_max, row_names, indep):
    """Which diodes (of ``nonzero``) have both ends tied by sources: a mask over ``nonzero``.

    Such a diode has a constant voltage (``d ∈ range(A_Iᵀ)``); a positive one is a
    CircuitError naming the diode and the sources that hold it.
    """
    dio = circuit.diodes
    r = a_i.shape[0]
    if r:
        coef, *_ = np.linalg.lstsq(a_i.T, d_dense[nonzero].T, rcond=None)
        fixed_mask = np.all(np.abs(a_i.T @ coef - d_dense[nonzero].T) < _FIT_TOL, axis=0)
    else:
        coef = np.zeros((0, nonzero.size))
        fixed_mask = np.zeros(nonzero.size, dtype=bool)
    for k in np.flatnonzero(fixed_mask):
        j = int(nonzero[k])
        drop = float(coef[:, k] @ b_i)  # v(anode) - v(cathode), fixed by sources
        if drop > _REL_TOL * b_max:
            srcs = [
                row_names[int(indep[i])] for i in np.flatnonzero(np.abs(coef[:, k]) > _RANK_TOL)
            ]
            name = str(dio.names[j])
            raise CircuitError(
                f"diode {name} is forced to conduct with zero resistance: voltage sources "
                f"({', '.join(srcs)}) hold v(anode) - v(cathode) = {drop:.6g} V > 0",
                elements=[name, *srcs],
            )
    return fixed_mask


def _diode_lcp(circuit, lu, d_dense, free, nonzero, v0, r, v_scale, a_i, b_i, row_names, indep):
    """Scaled currents of the ``free`` diodes by Lemke's algorithm (steps 3–4, no islands).

    Builds ``M = D P Dᵀ`` and ``q = -D v0``, cleans round-off out of ``q``, and runs
    Lemke; on a ray, a Farkas certificate names the diodes and sources (CircuitError),
    or, if the LP finds them feasible, Lemke reruns with a round-off-sized relaxation.
    Returns ``(lam_free, pivots)``.
    """
    dio = circuit.diodes
    nf = v0.shape[0]
    d_free = d_dense[free]
    sens = lu.solve(np.vstack([d_free.T, np.zeros((r, free.size))]))  # K⁻¹ [Dᵀ; 0]
    mmat = d_free @ sens[:nf]
    mmat = 0.5 * (mmat + mmat.T)
    qvec = -(d_free @ v0)
    # Round-off of the KKT solve is not a diode voltage: exact zeros matter
    # for diodes tied through shorts (a ray from -1e-18 would be spurious).
    qvec[np.abs(qvec) <= _CLEAN_TOL * v_scale] = 0.0
    diag = np.sqrt(np.maximum(np.diag(mmat), _TINY))
    mm = mmat / diag[:, None] / diag[None, :]
    qq = qvec / diag
    q_scale = float(np.max(np.abs(qq))) or 1.0
    z, status, pivots = lemke(mm, qq / q_scale)
    found = None
    if status == LEMKE_RAY:
        found = _farkas(a_i, b_i, d_dense[nonzero])
        if found is None:
            # Feasible after all: relax every diode by a round-off-sized
            # margin (1e-12 of the voltage scale) and solve again.
            shift = _CLEAN_TOL * v_scale / diag / q_scale
            z, status, more = lemke(mm, qq / q_scale + shift)
            pivots += more
    if status == LEMKE_RAY:
        if found is None:
            raise SolverError(
                "reference: Lemke ray termination but no infeasibility certificate "
                "(numerical trouble)"
            )
        rows, diodes = found
        dnames = [str(dio.names[int(nonzero[k])]) for k in diodes]
        snames = [row_names[int(indep[k])] for k in rows]
        raise CircuitError(
            "diodes are forced to conduct with zero resistance by voltage sources "
            f"(no voltages satisfy them): diodes {', '.join(dnames)}; "
            f"sources {', '.join(snames) or '(none)'}",
            elements=dnames + snames,
        )
    if status != LEMKE_OK:
        raise SolverError(f"reference: Lemke's algorithm did not finish in {pivots} pivots")
    return z * q_scale / diag, pivots


# --------------------------------------------------------------------------- diode models
NEWTON_MAX_ITERATIONS = 200


def solve_reference_models(circuit: Circuit, *, gmin: float = 0.0) -> Solution:
    """Reference answer for circuits with piecewise-linear or Shockley diodes
    (docs/diodes.md).

    PWL diodes are expanded into resistors, sources and ideal diodes
    (:func:`resbench.diodes.expand`), which the KKT + Lemke path solves exactly.  With
    Shockley diodes: damped Newton on the convex problem.  Each iteration replaces every
    Shockley diode by its linearisation at the current point (a conductance
    ``G = IS exp(vd/NVt)/NVt``, kept within [1e-9, 1e12] × the largest resistor
    conductance, in parallel with a current source) and solves that ideal-diode circuit exactly with
    :func:`solve_reference`: the minimiser of the energy's quadratic model over the
    feasible set.  The step to it is damped by an exact line search on the true energy
    (the root of its derivative along the step, by bisection), which keeps every
    iterate feasible and the energy decreasing.  Stops after a Newton step that moves no
    voltage by more than 1e-12 of the voltage scale (the error after it is ~ its square)."""
    from resbench.diodes import expand
    from resbench.solvers.shockley import restrict

    t0 = time.perf_counter()
    ex = expand(circuit)
    if not ex.shockley.any():
        sol = solve_reference(ex.circuit, gmin=gmin)
        return restrict(sol, ex)
    c = ex.circuit
    d = c.diodes
    from resbench.solvers.problem import _number_supernodes

    # a Shockley diode whose two ends the sources tie together (or both to ground)
    # changes no voltage: its current flows through the sources; it is left out
    sn = _number_supernodes(c)[0]
    tied = ex.shockley & (sn[d.a] == sn[d.b])
    sh = np.flatnonzero(ex.shockley & ~tied)
    keep = np.flatnonzero(~ex.shockley)
    i_s, nvt = ex.i_s[sh], ex.nvt[sh]
    sa, sc = d.a[sh].astype(np.int64), d.b[sh].astype(np.int64)
    r = c.resistors
    pos = r.value > 0
    g_res = 1.0 / r.value[pos]
    ra, rb = r.a[pos].astype(np.int64), r.b[pos].astype(np.int64)
    g_max = float(g_res.max()) if g_res.size else 1.0
    base_isrc = c.isources
    names = [f"g{d.names[j]}" for j in sh]
    inames = [f"i{d.names[j]}" for j in sh]

    def linear_circuit(vd: np.ndarray) -> Circuit:
        # linearised no further forward than the voltage that carries i_max (SPICE's
        # "vcrit" limiting): a far-forward linearisation would make each Newton step
        # only ~N·Vt long; below it (near the answer) the steps are Newton's
        vd = np.minimum(vd, v_crit)
        z = np.minimum(vd / nvt, 700.0)
        g = i_s * np.exp(z) / nvt
        # floor (a node held by reverse-biased diodes alone stays defined) and cap (a far
        # forward iterate's e^700 would make the KKT matrix singular); the line search
        # on the true energy corrects the model either way
        g = np.clip(g, 1e-9 * g_max, 1e12 * g_max)
        i0 = i_s * np.expm1(z) - g * vd
        return dataclasses.replace(
            c,
            resistors=Branches(
                list(r.names) + names,
                np.concatenate([r.a, d.a[sh]]),
                np.concatenate([r.b, d.b[sh]]),
                np.concatenate([r.value, 1 / g]),
            ),
            isources=Branches(
                list(base_isrc.names) + inames,
                np.concatenate([base_isrc.a, d.a[sh]]),
                np.concatenate([base_isrc.b, d.b[sh]]),
                np.concatenate([base_isrc.value, i0]),
            ),
            diodes=Branches([d.names[j] for j in keep], d.a[keep], d.b[keep], d.value[keep]),
            diode_models=[c.diode_models[j] for j in keep],
        )

    tied_free = sn >= 0
    members = np.bincount(sn[tied_free], minlength=int(sn.max(initial=-1)) + 1)

    def snap(step: np.ndarray) -> np.ndarray:
        out = np.zeros_like(step)
        if tied_free.any():
            mean = np.bincount(sn[tied_free], weights=step[tied_free], minlength=members.size)
            out[tied_free] = (mean / np.maximum(members, 1))[sn[tied_free]]
        return out

    v_crit = np.full(sh.size, np.inf)
    if not sh.size:
        base = linear_circuit(np.zeros(0))
        return restrict(dataclasses.replace(solve_reference(base, gmin=gmin), circuit=c), ex)

    def slope(v: np.ndarray, dv: np.ndarray, t: float) -> float:
        """d/dt of the energy at v + t·dv (increasing in t: the energy is convex)."""
        w = v + t * dv
        dd_r = dv[ra] - dv[rb]
        out = float(np.sum(g_res * (w[ra] - w[rb]) * dd_r))
        out -= float(np.sum(base_isrc.value * (dv[base_isrc.b] - dv[base_isrc.a])))
        out += gmin * float(w[1:] @ dv[1:])
        dd = dv[sa] - dv[sc]
        m = dd != 0.0
        if m.any():
            # exponent capped at 700 (as the kernels): finite, and far above any answer
            z = np.minimum((w[sa[m]] - w[sc[m]]) / nvt[m], 700.0)
            out += float(np.sum(i_s[m] * np.expm1(z) * dd[m]))
        return out

    v_crit = np.full(sh.size, np.inf)
    v = solve_reference(linear_circuit(np.zeros(sh.size)), gmin=gmin).voltages
    # the largest current the circuit could drive (generous): sources into all resistors
    v_span = float(np.max(np.abs(v))) + float(np.max(np.abs(c.vsources.value), initial=0.0))
    i_max = 10.0 * (v_span * float(g_res.sum()) + float(np.abs(base_isrc.value).sum())) + 1e-300
    v_crit = nvt * np.log1p(i_max / i_s)
    iterations = 0
    converged = False
    while iterations < NEWTON_MAX_ITERATIONS:
        iterations += 1
        target = solve_reference(linear_circuit(v[sa] - v[sc]), gmin=gmin).voltages
        # the step moves every node of a source-tied group by the same amount (and
        # source-held nodes not at all): exactly, not up to the round-off of ``target``,
        # which times the large currents inside such a group would swamp the slope
        step = snap(target - v)
        scale = max(1e-3, float(np.max(np.abs(v))))
        limited = bool(np.any(v[sa] - v[sc] > v_crit))
        if limited and (iterations > 30 or float(np.max(np.abs(step))) <= 1e-6 * scale):
            # near the answer (or slow): no more limiting, Newton's own steps from here
            v_crit = np.full(sh.size, np.inf)
            continue
        if limited:
            pass
        elif float(np.max(np.abs(step))) <= 1e-12 * scale:
            # Newton's error after this step is ~ its square: below round-off.  (The
            # line search cannot judge steps this small: its slope is round-off.)
            v = target
            converged = True
            break
        t = 1.0
        if not slope(v, step, 1.0) <= 0.0:
            lo_t, hi_t = 0.0, 1.0
            for _ in range(80):
                mid = 0.5 * (lo_t + hi_t)
                if slope(v, step, mid) > 0.0:
                    hi_t = mid
                else:
                    lo_t = mid
            t = lo_t
        if (
            not limited
            and t * float(np.max(np.abs(step))) <= 1e-15 * scale
            and float(np.max(np.abs(step))) <= 1e-9 * scale
        ):
            # the line search is down to round-off but the Newton step is small: near
            # the answer, where Newton's own step is the better one
            v = target
            converged = True
            break
        v = v + t * step
    if not converged:
        raise SolverError(
            f"the reference Newton iteration did not converge in {NEWTON_MAX_ITERATIONS} steps"
        )
    t1 = time.perf_counter()
    sol = Solution(
        circuit=c,
        voltages=v,
        solver="reference",
        status=CONVERGED,
        sweeps=0,
        timings={"setup": 0.0, "solve": t1 - t0, "total": t1 - t0},
        info={"newton_iterations": iterations, "gmin": gmin},
    )
    return guard_finite(restrict(sol, ex))
