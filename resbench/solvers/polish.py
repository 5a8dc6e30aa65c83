"""Exact active-set polish: the exactness mechanism behind the CD solver.

Single-node coordinate descent can stop at a wrong point when a diode joins two
free nodes (docs/design.md §2).  The polish takes CD's feasible point and finishes with a
*primal active-set method* on the reduced problem, which is finite and exact for
a strictly convex QP:

* The working set W holds constraints (free–free diodes and the bounds made by
  diodes to fixed nodes) treated as equalities.  W is kept a *forest*: a
  constraint is only added when it joins two different clusters, so the
  multipliers are unique and computed by one pass over each tree.
* Each iteration solves the equality-constrained problem for W (clusters of W
  merged into one unknown each; a sparse SPD solve), steps towards it until a
  constraint outside W blocks (that constraint joins W), or, at the W-optimum,
  drops the constraint with the most negative multiplier (ties: lowest index).
* Every step with positive length strictly lowers the energy, so no working set
  repeats; zero-length steps only add constraints (at most |forest| in a row).

It starts from CD's point with W = the constraints tight there, so on circuits
where CD already found the active set it ends after one sparse solve.

Islands (groups reached only through diodes, :mod:`resbench.islands`) make the
energy only convex: it is flat or linear along their shifts.  A group of W
clusters made only of island nodes, with no conductance to a fixed or held
node, is then singular.  If its net injection is zero, one of its clusters is
held at its current value (any point of that flat direction is a minimiser);
otherwise the energy falls linearly along the shift: the step is that ray, up to
the first diode outside W that blocks it (none: the energy is unbounded, a
CircuitError naming the nodes).  Either way energy never rises, so the argument
above still holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from resbench._unionfind import UnionFind
from resbench.errors import CircuitError
from resbench.solvers import _kernels as kernels
from resbench.solvers import _polish_kernels as pk
from resbench.solvers._polish_kernels import edge_components
from resbench.solvers.direct import factorize, singular_error, ungrounded_nodes
from resbench.solvers.problem import Problem

_BLAS = ThreadpoolController()

REL_TOL = 1e-12  # tight constraints, feasibility and multiplier signs, relative to the
# problem's voltage scale (V) or current scale (A): the accuracy of the direct solves
STEP_TOL = 1e-14  # relative to v_scale: a step that closes a constraint by less moves
# along it (round-off of the solve), it does not block
RAY_SLOPE = 0.5  # an island's ray moves its nodes by 0 or 1: a diode whose ends move
# apart by more than half a unit is one the shift closes


@dataclass
class PolishResult:
    u: np.ndarray
    optimal: bool
    iterations: int
    solves: int
    message: str


def _constraints(p: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All constraints as u[an] − u[ca] ≤ w over nodes 0..n, node n = the fixed 0 V node F."""
    n = p.n
    lo_i = np.flatnonzero(np.isfinite(p.lo))
    hi_i = np.flatnonzero(np.isfinite(p.hi))
    an = np.concatenate([p.ff_anode.astype(np.int64), np.full(lo_i.size, n), hi_i])
    ca = np.concatenate([p.ff_cathode.astype(np.int64), lo_i, np.full(hi_i.size, n)])
    w = np.concatenate([p.ff_limit, -p.lo[lo_i], p.hi[hi_i]])
    return an, ca, w


DENSE_MAX = 400  # below this many unknowns, dense linear algebra is faster
SMALL_MAX = DENSE_MAX  # free supernodes up to which the polish is one numba call
# (polish_dense: every contracted system is then dense, as in _polish)
UNTHREADED_MAX = 48  # free supernodes up to which BLAS is not limited to one thread
# (it does not thread matrices that small, and the limit costs more than their polish)


def _contracted_solve(p: Problem, cl: np.ndarray, m: int, q: np.ndarray) -> np.ndarray:
    """Minimise the energy over u = q + z[cl] (cl[i] = −1: u_i = q_i fixed).

    The contracted matrix M = Pᵀ L P and right-hand side Pᵀ (c − L q) are summed
    straight from L's entries (no products with P): O(nnz), then one SPD solve,
    dense below DENSE_MAX unknowns, else the sparse factorisation of
    :func:`resbench.solvers.direct.factorize` (CHOLMOD or SuperLU), at any size.
    Returns u.
    """
    u = q.copy()
    if m == 0:
        return u
    rows = np.repeat(np.arange(p.n), np.diff(p.indptr))
    ci, cj = cl[rows], cl[p.indices]
    both = (ci >= 0) & (cj >= 0)
    lq = p.diag * q - kernels.csr_matvec(p.indptr, p.indices, p.data, q)
    free = cl >= 0
    rhs = np.bincount(cl[free], weights=(p.c - lq)[free], minlength=m)
    dcl = cl[free]
    if m <= DENSE_MAX:
        mat = np.zeros((m, m))
        np.add.at(mat, (ci[both], cj[both]), -p.data[both])
        np.add.at(mat, (dcl, dcl), p.diag[free])
        z = np.linalg.solve(mat, rhs)
    else:
        mat = sp.coo_matrix(
            (
                np.concatenate([-p.data[both], p.diag[free]]),
                (np.concatenate([ci[both], dcl]), np.concatenate([cj[both], dcl])),
            ),
            shape=(m, m),
        ).tocsc()
        try:
            z = np.atleast_1d(factorize(mat)(rhs))
        except np.linalg.LinAlgError:
            raise singular_error(p, ungrounded_nodes(p, cl >= 0)) from None
    u[free] = q[free] + z[cl[free]]
    return u


def polish_bounds(p: Problem, u0: np.ndarray, *, tight_tol: float | None = None):
    """Fast path without free–free diodes: fix the nodes whose bound is active at u0,
    solve the rest directly, and check the result (bounds and multiplier signs).

    Returns a PolishResult when the active set of u0 is optimal, else None (the
    caller then runs the general active-set method).
    """
    vtol = REL_TOL * p.v_scale if tight_tol is None else tight_tol
    at_lo = u0 - p.lo <= vtol
    at_hi = p.hi - u0 <= vtol
    act = at_lo | at_hi
    u = u0.copy()
    u[at_lo] = p.lo[at_lo]
    u[at_hi & ~at_lo] = p.hi[at_hi & ~at_lo]
    cl = np.full(p.n, -1, dtype=np.int64)
    free = np.flatnonzero(~act)
    cl[free] = np.arange(free.size)
    u[free] = 0.0
    u = _contracted_solve(p, cl, free.size, u)
    vfeas = REL_TOL * p.v_scale
    if np.any(u < p.lo - vfeas) or np.any(u > p.hi + vfeas):
        return None
    grad = p.gradient(u)  # current leaving each node; bounds must supply it
    ltol = REL_TOL * p.i_scale
    # lower bound active (diode into i): λ = grad_i ≥ 0; upper (diode out of i): λ = −grad_i ≥ 0
    if np.any(grad[at_lo] < -ltol) or np.any(-grad[at_hi & ~at_lo] < -ltol):
        return None
    return PolishResult(u, True, 1, 1, "optimal")


def polish(
    p: Problem, u0: np.ndarray, *, tight_tol: float | None = None, max_iter: int | None = None
) -> PolishResult:
    """Finish the minimisation exactly from a feasible point u0 (see module docstring).

    BLAS runs single-threaded here: the matrices are small, and threads only add
    overhead on them (measured: docs/measurements.md, "Polish").  Problems of at most
    ``SMALL_MAX`` free supernodes run as one numba call (:func:`_polish_small`; 4-10x
    faster than the Python steps at 190 free nodes, 10-50x at a few).
    """
    if p.n <= UNTHREADED_MAX:
        return _polish_small(p, u0, tight_tol=tight_tol, max_iter=max_iter)
    with _BLAS.limit(limits=1, user_api="blas"):
        if p.n <= SMALL_MAX:
            return _polish_small(p, u0, tight_tol=tight_tol, max_iter=max_iter)
        return _polish(p, u0, tight_tol=tight_tol, max_iter=max_iter)


def _polish_small(
    p: Problem, u0: np.ndarray, *, tight_tol: float | None, max_iter: int | None
) -> PolishResult:
    """:func:`_polish` as one numba call (:func:`._polish_kernels.polish_dense`, the same
    steps, dense), for problems of at most ``SMALL_MAX`` free supernodes."""
    vtol = REL_TOL * p.v_scale if tight_tol is None else tight_tol
    status, u, iterations, solves, ray = pk.polish_dense(
        p.indptr, p.indices, p.data, p.diag, p.c, p.lo, p.hi, p.ff_anode, p.ff_cathode,
        p.ff_limit, p.island, np.ascontiguousarray(u0, dtype=np.float64), float(vtol),
        REL_TOL * p.v_scale, REL_TOL * p.i_scale, STEP_TOL * p.v_scale, RAY_SLOPE,
        p.n_ff_diodes == 0 and p.n_islands == 0, -1 if max_iter is None else int(max_iter),
        0,  # LAPACK for every solve: the Python polish's arithmetic
    )  # fmt: skip
    if status == pk.UNBOUNDED:
        raise _unbounded(p, ray)
    if status == pk.SINGULAR:  # as numpy's dense solve raises it in _contracted_solve
        raise np.linalg.LinAlgError("Singular matrix")
    if status == pk.OPTIMAL:
        return PolishResult(u, True, int(iterations), int(solves), "optimal")
    return PolishResult(u, False, int(iterations), int(solves), "iteration limit")


def _polish(p: Problem, u0: np.ndarray, *, tight_tol: float | None, max_iter: int | None):
    if p.n_ff_diodes == 0 and p.n_islands == 0:
        fast = polish_bounds(p, u0, tight_tol=tight_tol)
        if fast is not None:
            return fast
    n = p.n
    an, ca, w = _constraints(p)
    m = an.shape[0]
    ext = np.zeros(n + 1)
    ext[:n] = u0
    vtol = REL_TOL * p.v_scale if tight_tol is None else tight_tol
    ltol = REL_TOL * p.i_scale
    max_iter = max(100, 10 * m) if max_iter is None else max_iter

    def gval(x: np.ndarray) -> np.ndarray:
        return x[an] - x[ca] - w

    # initial working set: the constraints tight at u0, as a forest
    in_working_set = np.zeros(m, dtype=bool)
    forest = UnionFind(n + 1)  # over nodes 0..n (n = F): keeps W a forest
    for k in np.flatnonzero(np.abs(gval(ext)) <= vtol):
        if forest.union(int(an[k]), int(ca[k])):
            in_working_set[k] = True

    solves = 0
    for it in range(max_iter):
        target, clusters, ray = _solve_eqp(p, an, ca, w, in_working_set, ext)
        solves += 1
        if ray is not None:
            # an island whose working-set group carries a net current: the energy falls
            # linearly as it shifts; move until a diode outside W blocks it
            slope = ray[an] - ray[ca]
            block = (~in_working_set) & (slope > RAY_SLOPE)
            if not block.any():
                raise _unbounded(p, ray)
            idx = np.flatnonzero(block)
            ratios = np.maximum(-gval(ext)[idx], 0.0) / slope[idx]
            j = int(np.argmin(ratios))
            ext = ext + ratios[j] * ray
            ext[n] = 0.0
            in_working_set[int(idx[j])] = True
            continue
        step = target - ext
        slope = step[an] - step[ca]
        g_now = gval(ext)
        block = (~in_working_set) & (slope > STEP_TOL * p.v_scale)
        alpha, k_block = 1.0, -1
        if block.any():
            idx = np.flatnonzero(block)
            ratios = np.maximum(-g_now[idx], 0.0) / slope[idx]
            j = int(np.argmin(ratios))
            if ratios[j] < 1.0:
                alpha, k_block = float(ratios[j]), int(idx[j])
        if k_block >= 0:
            ext = ext + alpha * step
            ext[n] = 0.0
            in_working_set[k_block] = True
            continue
        ext = target
        lam = _multipliers(p, ext, an, ca, clusters)
        wk = np.flatnonzero(in_working_set)
        if wk.size == 0 or lam[wk].min() >= -ltol:
            return PolishResult(ext[:n].copy(), True, it + 1, solves, "optimal")
        worst = wk[lam[wk] == lam[wk].min()][0]
        in_working_set[worst] = False
    return PolishResult(ext[:n].copy(), False, max_iter, solves, "iteration limit")


def _unbounded(p: Problem, ray: np.ndarray) -> CircuitError:
    moving = np.flatnonzero(ray[: p.n] != 0)
    nodes = np.flatnonzero(np.isin(p.supernode, moving))
    names = [p.circuit.nodes[int(k)] for k in nodes[:12]]
    net = float(np.sum(p.c[moving]))
    return CircuitError(
        f"node(s) {', '.join(names)} (reached from the fixed voltages only through diodes) "
        f"receive a net current of {net:.6g} A that no diode can carry away: the energy is "
        "unbounded and no DC operating point exists (SPICE would diverge); add a resistive "
        "path or turn a diode around",
        nodes=names,
    )


def _singular_groups(p, cl, m, ext):
    """With islands, the contracted matrix is singular on groups of clusters that no
    conductance ties to a fixed voltage.  Returns (ray or None, cl, m, q-override):
    a ray (node directions, extended) when such a group carries a net current, else
    the clusters with one anchored cluster per group (held at its current value)."""
    n = p.n
    rows = np.repeat(np.arange(n), np.diff(p.indptr))
    ci, cj = cl[rows], cl[p.indices]
    both = (ci >= 0) & (cj >= 0) & (ci != cj)
    n_comp, comp = edge_components(m, ci[both], cj[both])
    grounded = np.zeros(n_comp, dtype=bool)
    free = cl >= 0
    grounded[comp[cl[free & (p.island < 0)]]] = True  # holds a node with a conductance
    tied = (ci >= 0) & (cj < 0)  # a resistor to the fixed / anchored part
    grounded[comp[ci[tied]]] = True
    if grounded.all():
        return None, cl, m, None
    force = np.bincount(comp[cl[free]], weights=p.c[free], minlength=n_comp)
    ftol = REL_TOL * p.i_scale
    moving = (~grounded) & (np.abs(force) > ftol)
    if moving.any():
        ray = np.zeros(n + 1)
        member = free.copy()
        member[free] = moving[comp[cl[free]]]
        ray[:n][member] = np.sign(force[comp[cl[member]]])
        return ray, cl, m, None
    # anchor one cluster per singular group at its current value
    first = np.full(n_comp, -1, dtype=np.int64)
    order = np.arange(m)[::-1]
    first[comp[order]] = order  # smallest cluster index of each group
    anchor = np.zeros(m, dtype=bool)
    anchor[first[~grounded]] = True
    held = free & anchor[np.maximum(cl, 0)]
    keep = np.flatnonzero(~anchor)
    new_id = np.full(m, -1, dtype=np.int64)
    new_id[keep] = np.arange(keep.size)
    cl2 = np.where(free, new_id[np.maximum(cl, 0)], -1)
    return None, cl2, int(keep.size), (held, ext[:n][held])


def _solve_eqp(p, an, ca, w, in_working_set, ext_now):
    """Minimise the energy with the W constraints as equalities.

    Returns the extended solution (index n = F = 0 V), the cluster structure (root
    per node, for the multiplier pass) and, when an island group carries a net
    current (the energy falls without bound along its shift), that ray instead.
    """
    n = p.n
    # offsets within clusters: BFS over the W forest from each root
    adj: dict[int, list[tuple[int, int]]] = {}
    for k in np.flatnonzero(in_working_set):
        a, b = int(an[k]), int(ca[k])
        adj.setdefault(a, []).append((b, int(k)))
        adj.setdefault(b, []).append((a, int(k)))
    root = np.arange(n + 1)
    ofs = np.zeros(n + 1)  # u_i = z_root + ofs_i
    parent_edge = np.full(n + 1, -1, dtype=np.int64)
    order: list[int] = []
    seen = np.zeros(n + 1, dtype=bool)
    starts = ([n] if n in adj else []) + [x for x in adj if x != n]
    for s in starts:
        if seen[s]:
            continue
        seen[s] = True
        queue = [s]
        for x in queue:
            order.append(x)
            for y, k in adj.get(x, []):
                if seen[y]:
                    continue
                seen[y] = True
                root[y] = s
                parent_edge[y] = k
                # tight: u_an − u_ca = w
                ofs[y] = ofs[x] + (w[k] if y == an[k] else -w[k])
                queue.append(y)
    fixed = root == root[n]  # the cluster of F (u_F = 0 ⇒ z = −ofs_F = 0 as F is its root)
    free_roots = np.unique(root[:n][~fixed[:n]])
    col = np.full(n + 1, -1, dtype=np.int64)
    col[free_roots] = np.arange(free_roots.size)
    cl = col[root[:n]]
    cl[fixed[:n]] = -1
    ext = np.zeros(n + 1)
    m = int(free_roots.size)
    q = ofs[:n].copy()
    if p.n_islands:
        ray, cl, m, held = _singular_groups(p, cl, m, ext_now)
        if ray is not None:
            return None, None, ray
        if held is not None:
            q[held[0]] = held[1]
    # fixed cluster: u = ofs (F is its root, at 0 V); free clusters: u = z + ofs
    ext[:n] = _contracted_solve(p, cl, m, q)
    return ext, (root, parent_edge, order), None


def _multipliers(p, ext, an, ca, clusters) -> np.ndarray:
    """Unique multipliers of the W forest: leaves first, each edge balances its subtree."""
    n = p.n
    root, parent_edge, order = clusters
    acc = np.zeros(n + 1)
    acc[:n] = p.gradient(ext[:n])  # current leaving each node
    lam = np.zeros(an.shape[0])
    for x in reversed(order):
        k = parent_edge[x]
        if k < 0:
            continue  # a root
        # stationarity at x: acc_x + λ (x is anode) − λ (x is cathode) = 0
        if x == an[k]:
            lam_k = -acc[x]
            y = ca[k]
            acc[y] -= lam_k
        else:
            lam_k = acc[x]
            y = an[k]
            acc[y] += lam_k
        lam[k] = lam_k
    return lam
