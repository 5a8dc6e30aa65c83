"""Batched exact finish: the polish's first (and usually last) step for many samples.

The single solver's polish (:mod:`resbench.solvers.polish`) starts from CD's point
with the working set W = the constraints tight there, solves the equality-constrained
problem for W and stops when that point is primal and dual feasible.  On a sweep or a
batch most samples stop after that one solve, and many share the same W: the same
tight bounds and tight free–free diodes.  Only the limits (the right-hand sides of the
constraints) and the injections differ between them.

:func:`polish_batch` therefore groups the samples of a batch by their tight set and,
per group, builds the contracted matrix once (clusters of nodes joined by tight
free–free diodes; nodes tied to the 0 V node F by a tight bound are fixed), factorises
it once (dense LU below :data:`DENSE_MAX` unknowns, sparse LU above) and solves
all the group's samples as right-hand sides.  Each sample is then checked exactly as
the polish checks its own: every constraint primal feasible within
``REL_TOL × v_scale``, and the multipliers of W (unique, as W is a forest) ≥
``−REL_TOL × i_scale``.  A sample that passes is at its exact optimum (KKT with a
strictly convex energy); one that fails (wrong active set) is left to the caller's
per-sample polish, which then starts its active-set iterations from that point.

As in the polish, W is the tight set reduced to a forest: tight constraints are taken
in the polish's order (free–free diodes, lower bounds, upper bounds) and one that
would close a cycle is left out of W (its multiplier is zero; it stays checked as a
primal constraint).  Circuits with islands (singular contracted matrices) are not
handled: every sample comes back ``ok = False``.

With ``max_rounds > 1`` the samples that fail go on with the polish's own steps,
batched: a sample whose W-optimum is infeasible steps towards it until the first
constraint outside W blocks (it joins W); one whose W-optimum is feasible moves there
and drops its most negative multiplier.  Each round regroups the pending samples by
their W.  Every sample that comes back ``ok`` passed the same exact check, so the
rounds change how many samples finish here, never the answers (the optimum of a
strictly convex problem is unique).  On a sweep, neighbouring samples share their
working sets and these rounds cost a few solves for many samples at once.

Small problems (at most :data:`PER_SAMPLE_MAX` free supernodes, a ``.dc`` sweep of a
few nodes) skip the grouping: its numpy calls cost ~0.1 ms per group and round, while
the single polish's own steps take a microsecond per sample there.  Every sample then
runs those steps in one numba call (``polish_dense_batch``), up to ``max_rounds``
solves: the single polish's answer, from the same point.
"""

from __future__ import annotations

import contextlib

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numba import types
from threadpoolctl import ThreadpoolController

from resbench._jit import F64, I32, I64, INT, kernel
from resbench.errors import InputError
from resbench.solvers import _polish_kernels as pk
from resbench.solvers.polish import DENSE_MAX, RAY_SLOPE, REL_TOL, STEP_TOL
from resbench.solvers.problem import Problem

__all__ = ["polish_batch", "sample_i_scales"]

_BLAS = ThreadpoolController()
#: below this many unknowns × samples the BLAS calls of a batch are too small for
#: OpenBLAS to thread (its gesv runs one thread under m·n < 10,000), so the
#: single-thread limit, ~0.2-0.3 ms of threadpoolctl bookkeeping per call, is skipped
_LIMIT_MIN_WORK = 4096
F64_2D = types.float64[:, ::1]  # [row, sample], samples contiguous
#: free supernodes up to which each sample runs the single polish's steps in one numba
#: call (``polish_dense_batch``: a dense solve per step, microseconds on a few nodes)
#: instead of being grouped by working set (~0.1 ms of numpy calls per group and round)
PER_SAMPLE_MAX = 16


@kernel(I64, I64, I64, F64, F64_2D, F64_2D)
def _tree_offsets(order, parent, edge, sign, w, ofs):  # pragma: no cover - numba
    """Offsets along the forest, parents first: ofs[x] = ofs[parent] + sign · w[edge].

    ``w[k, b]``: limit of forest edge k for sample b; roots keep their row of ``ofs``.
    """
    nb = ofs.shape[1]
    for t in range(order.shape[0]):
        x = order[t]
        k = edge[x]
        if k < 0:
            continue
        y = parent[x]
        s = sign[x]
        for b in range(nb):
            ofs[x, b] = ofs[y, b] + s * w[k, b]


@kernel(I64, I64, I64, F64, F64_2D, F64_2D)
def _tree_multipliers(order, parent, edge, sign, acc, lam):  # pragma: no cover - numba
    """Unique multipliers of a forest W, leaves first (as the polish's pass).

    ``acc[x, b]``: current leaving node x (row n = F), consumed.  Stationarity at x with
    its parent edge k: acc_x + sign·λ_k = 0, so λ_k = −sign·acc_x, and the subtree's
    current passes on to the parent.
    """
    nb = acc.shape[1]
    for t in range(order.shape[0] - 1, -1, -1):
        x = order[t]
        k = edge[x]
        if k < 0:
            continue
        y = parent[x]
        s = sign[x]
        for b in range(nb):
            lam[k, b] = -s * acc[x, b]
            acc[y, b] += acc[x, b]


@kernel(INT, I64, I64)
def _forest(n, e_an, e_ca):  # pragma: no cover - numba
    """The working set's edges reduced to a forest over nodes 0..n (n = F), in order
    (an edge closing a cycle is left out), and its BFS structure, F's tree first.

    Returns (keep [K0], parent, edge, sign, order, cl, m): per node its parent, the
    index (among kept edges) of the edge to it and +1 / −1 when it is that edge's
    anode / cathode (u_x = u_parent ± w); the BFS order (parents first); per free node
    its cluster 0..m−1, or −1 in F's tree (fixed).
    """
    k0 = e_an.shape[0]
    uf = np.arange(n + 1)
    keep = np.zeros(k0, dtype=np.bool_)
    deg = np.zeros(n + 2, dtype=np.int64)
    for k in range(k0):
        a = e_an[k]
        while uf[a] != a:
            uf[a] = uf[uf[a]]
            a = uf[a]
        b = e_ca[k]
        while uf[b] != b:
            uf[b] = uf[uf[b]]
            b = uf[b]
        if a != b:
            uf[a] = b
            keep[k] = True
            deg[e_an[k] + 1] += 1
            deg[e_ca[k] + 1] += 1
    ptr = np.cumsum(deg)
    fill = ptr[:-1].copy()
    nbr = np.empty(ptr[-1], dtype=np.int64)
    via = np.empty(ptr[-1], dtype=np.int64)
    kan = np.empty(k0, dtype=np.int64)  # anode of each kept edge
    j = 0
    for k in range(k0):
        if keep[k]:
            a, b = e_an[k], e_ca[k]
            nbr[fill[a]], via[fill[a]] = b, j
            fill[a] += 1
            nbr[fill[b]], via[fill[b]] = a, j
            fill[b] += 1
            kan[j] = a
            j += 1
    parent = np.full(n + 1, -1, dtype=np.int64)
    edge = np.full(n + 1, -1, dtype=np.int64)
    sign = np.zeros(n + 1)
    root = np.arange(n + 1)
    seen = np.zeros(n + 1, dtype=np.bool_)
    order = np.empty(n + 1, dtype=np.int64)
    head = 0
    tail = 0
    for t in range(n + 1):
        s = n if t == 0 else t - 1  # F first: its tree is the fixed one
        if seen[s] or ptr[s + 1] == ptr[s]:
            continue
        seen[s] = True
        order[tail] = s
        tail += 1
        while head < tail:
            x = order[head]
            head += 1
            for q in range(ptr[x], ptr[x + 1]):
                y = nbr[q]
                if seen[y]:
                    continue
                seen[y] = True
                root[y], parent[y], edge[y] = s, x, via[q]
                sign[y] = 1.0 if kan[via[q]] == y else -1.0
                order[tail] = y
                tail += 1
    cl = np.full(n, -1, dtype=np.int64)
    m = 0
    for x in range(n):
        if root[x] == x:  # a free node that starts its own tree (or has no W edge)
            cl[x] = m
            m += 1
    for x in range(n):
        if root[x] != x:
            cl[x] = -1 if root[x] == n else cl[root[x]]
    return keep, parent, edge, sign, order[:tail], cl, m


@kernel(I64, I32, F64, F64, F64_2D, F64_2D, F64_2D)
def _residual(indptr, indices, data, diag, x, c, out):  # pragma: no cover - numba
    """out = c − L x per sample (L = diag − offdiag): the current *into* each node."""
    n, nb = x.shape
    for i in range(n):
        d = diag[i]
        for b in range(nb):
            out[i, b] = c[i, b] - d * x[i, b]
        for t in range(indptr[i], indptr[i + 1]):
            j = indices[t]
            g = data[t]
            for b in range(nb):
                out[i, b] += g * x[j, b]


@kernel(I64, F64_2D, F64_2D)
def _sum_clusters(cl, r, out):  # pragma: no cover - numba
    """out[cl[i]] += r[i] over the nodes of a cluster (cl[i] = −1: fixed, skipped)."""
    nb = r.shape[1]
    for i in range(cl.shape[0]):
        k = cl[i]
        if k < 0:
            continue
        for b in range(nb):
            out[k, b] += r[i, b]


@kernel(I64, I32, F64, F64, I64, F64_2D)
def _contract_dense(indptr, indices, data, diag, cl, mat):  # pragma: no cover - numba
    """mat = Pᵀ L P summed straight from L's entries (P: node → cluster, −1 fixed)."""
    for i in range(cl.shape[0]):
        ci = cl[i]
        if ci < 0:
            continue
        mat[ci, ci] += diag[i]
        for t in range(indptr[i], indptr[i + 1]):
            cj = cl[indices[t]]
            if cj >= 0:
                mat[ci, cj] -= data[t]


@kernel(F64, F64_2D, F64)
def _i_scales(diag, C, v_scale):  # pragma: no cover - numba
    """:func:`sample_i_scales` in one pass (NaN propagates as in numpy's max and
    maximum: a sample with a NaN injection or scale gets a NaN scale)."""
    dmax = 0.0
    for i in range(diag.shape[0]):
        d = diag[i]
        if i == 0 or d > dmax or d != d:
            dmax = d
        if dmax != dmax:
            break
    nb = C.shape[1]
    cmax = np.zeros(nb)
    for i in range(C.shape[0]):
        for b in range(nb):
            a = abs(C[i, b])
            m = cmax[b]
            if m == m and (a > m or a != a):  # a NaN stays
                cmax[b] = a
    out = np.empty(nb)
    for b in range(nb):
        x = dmax * v_scale[b]
        y = cmax[b]
        x = x if (x > y or x != x) else y  # np.maximum: NaN wins
        out[b] = x if (x > 1e-15 or x != x) else 1e-15
    return out


def sample_i_scales(p: Problem, C: np.ndarray, v_scale: np.ndarray) -> np.ndarray:
    """Per sample current scale, as the batch's per-sample problems define it:
    ``max(max(diag) · v_scale, max |c|, 1e-15)``.  One numba pass for float64 arrays
    (six numpy calls cost ~8 µs, a .dc sweep's whole polish of a sample ~0.5 µs)."""
    vs = np.asarray(v_scale, dtype=float)
    if (
        isinstance(C, np.ndarray)
        and C.dtype == np.float64
        and C.ndim == 2
        and C.flags.c_contiguous
        and vs.ndim == 1
        and vs.shape[0] == C.shape[1]
    ):
        return _i_scales(
            np.ascontiguousarray(p.diag, dtype=np.float64), C, np.ascontiguousarray(vs)
        )
    dmax = float(np.max(p.diag)) if p.n else 0.0
    cmax = np.abs(C).max(axis=0) if C.shape[0] else np.zeros(C.shape[1])
    return np.maximum(np.maximum(dmax * vs, cmax), 1e-15)


def _check_shapes(p, C, LO, HI, FFL, U, v_scale, i_scale) -> int:
    n = p.n
    if U.ndim != 2 or U.shape[0] != n:
        raise InputError(f"U must be [n={n}, B] supernode voltages, got shape {U.shape}")
    B = U.shape[1]
    for name, a, rows in (("C", C, n), ("LO", LO, n), ("HI", HI, n), ("FFL", FFL, p.n_ff_diodes)):
        ok_cols = a.ndim == 2 and (a.shape[1] == B or (name != "C" and a.shape[1] == 1))
        if not ok_cols or a.shape[0] != rows:
            raise InputError(
                f"{name} must be [{rows}, B={B}]"
                + ("" if name == "C" else f" or [{rows}, 1]")
                + f", got shape {a.shape}: pass one column per sample (or one shared)"
            )
    for name, a in (("v_scale", v_scale), ("i_scale", i_scale)):
        if a.shape != (B,):
            raise InputError(f"{name} must have one value per sample ({B}), got {a.shape}")
    return B


def polish_batch(
    p: Problem,
    C: np.ndarray,
    LO: np.ndarray,
    HI: np.ndarray,
    FFL: np.ndarray,
    U: np.ndarray,
    v_scale: np.ndarray,
    i_scale: np.ndarray,
    *,
    max_rounds: int | None = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact finish of a batch from feasible points ``U`` (see module docstring).

    ``p``: the problem compiled once (its structure is shared; its c, bounds and limits
    are not used).  ``C [n, B]``: injections; ``LO``, ``HI [n, B]`` or ``[n, 1]``: bounds;
    ``FFL [n_ff, B]`` or ``[n_ff, 1]``: free–free limits; ``U [n, B]``: feasible points;
    ``v_scale``, ``i_scale [B]``: the samples' scales (:func:`sample_i_scales`).
    ``max_rounds``: 1 = the tight set's solve only; more = up to that many rounds of the
    polish's active-set steps, batched (samples regrouped by working set each round);
    None = the polish's own iteration limit, ``max(100, 10 × constraints)``.

    Returns ``(U_new, ok)``: where ``ok[b]``, ``U_new[:, b]`` is sample b's exact optimum
    (what :func:`resbench.solvers.polish.polish` returns from ``U[:, b]``); elsewhere
    ``U_new[:, b] = U[:, b]`` and the caller polishes that sample on its own.
    """
    C, LO, HI, FFL, U = (np.asarray(a, dtype=np.float64) for a in (C, LO, HI, FFL, U))
    v_scale = np.asarray(v_scale, dtype=np.float64).reshape(-1)
    i_scale = np.asarray(i_scale, dtype=np.float64).reshape(-1)
    B = _check_shapes(p, C, LO, HI, FFL, U, v_scale, i_scale)
    if max_rounds is not None and int(max_rounds) < 1:
        raise InputError(f"max_rounds must be at least 1 (or None), got {max_rounds!r}")
    n = p.n
    if 0 < n <= PER_SAMPLE_MAX and B and not p.n_islands:
        return _polish_each(p, C, LO, HI, FFL, U, v_scale, i_scale, max_rounds)
    U_new = U.copy()
    ok = np.zeros(B, dtype=bool)
    if B == 0 or p.n_islands:
        return U_new, ok
    good = np.isfinite(U).all(axis=0) & np.isfinite(v_scale) & np.isfinite(i_scale)
    if n == 0:
        ok[:] = good
        return U_new, ok
    if max_rounds is None:
        max_rounds = max(
            100,
            10
            * (
                p.n_ff_diodes
                + int(np.isfinite(LO).sum(axis=0).max(initial=0))
                + int(np.isfinite(HI).sum(axis=0).max(initial=0))
            ),
        )
    # every constraint as u[an] − u[ca] ≤ w (node n = F at 0 V), in the polish's order:
    # free–free diodes, lower bounds (0 − u_i ≤ −lo_i), upper bounds (u_i − 0 ≤ hi_i)
    ar = np.arange(n, dtype=np.int64)
    fF = np.full(n, n, dtype=np.int64)
    an_all = np.concatenate([p.ff_anode.astype(np.int64), fF, ar])
    ca_all = np.concatenate([p.ff_cathode.astype(np.int64), ar, fF])

    def limits(idx: np.ndarray) -> np.ndarray:
        return np.concatenate([_col(FFL, idx), -_col(LO, idx), _col(HI, idx)])

    def gaps(X: np.ndarray) -> np.ndarray:  # u[an] − u[ca] per constraint, [m, k]
        Xe = np.concatenate([X, np.zeros((1, X.shape[1]))])
        return Xe[an_all] - Xe[ca_all]

    cols = np.flatnonzero(good)
    if cols.size == 0:
        return U_new, ok
    with np.errstate(invalid="ignore"):  # inf − inf of absent bounds: never tight
        W = np.zeros((an_all.size, B), dtype=bool)  # working sets: the tight constraints
        W[:, cols] = np.abs(gaps(U[:, cols]) - limits(cols)) <= REL_TOL * v_scale[cols]
    L = (
        np.ascontiguousarray(p.indptr, dtype=np.int64),
        np.ascontiguousarray(p.indices, dtype=np.int32),
        np.ascontiguousarray(p.data, dtype=np.float64),
        np.ascontiguousarray(p.diag, dtype=np.float64),
    )
    X = U.copy()  # each pending sample's current (feasible) point
    pending = cols
    limit = (
        _BLAS.limit(limits=1, user_api="blas")
        if n * cols.size >= _LIMIT_MIN_WORK
        else contextlib.nullcontext()
    )
    with limit, np.errstate(invalid="ignore"):
        for rnd in range(int(max_rounds)):
            last = rnd == int(max_rounds) - 1
            alive = np.zeros(B, dtype=bool)
            for idx in _groups(W, pending):
                res = _solve_group(p, L, W[:, idx[0]], C, LO, HI, FFL, idx, v_scale, i_scale)
                if res is None:
                    continue  # singular: left to the caller
                keep, T, pok, dok, worst = res
                W[:, idx] = keep[:, None]  # the working set is the tight set's forest
                done = pok & dok
                U_new[:, idx[done]] = T[:, done]
                ok[idx[done]] = True
                if last:
                    continue
                # the polish's steps: towards T until the first constraint outside W
                # blocks (it joins W); at a feasible T, drop the most negative multiplier
                drop = pok & ~dok
                X[:, idx[drop]] = T[:, drop]
                W[worst[drop], idx[drop]] = False
                alive[idx[drop]] = True
                pf = ~pok & np.isfinite(T).all(axis=0)
                if pf.any():
                    sub = idx[pf]
                    step = T[:, pf] - X[:, sub]
                    slope = gaps(step)
                    g_now = gaps(X[:, sub]) - limits(sub)
                    block = ~keep[:, None] & (slope > STEP_TOL * v_scale[sub])
                    ratio = np.full(slope.shape, np.inf)
                    ratio[block] = np.maximum(-g_now[block], 0.0) / slope[block]
                    j = np.argmin(ratio, axis=0)
                    alpha = ratio[j, np.arange(sub.size)]
                    moves = alpha < 1.0  # else no blocker although infeasible: give up
                    sm = sub[moves]
                    X[:, sm] += alpha[moves] * step[:, moves]
                    W[j[moves], sm] = True
                    alive[sm] = True
            pending = np.flatnonzero(alive)
            if pending.size == 0:
                break
    return U_new, ok


def _polish_each(p, C, LO, HI, FFL, U, v_scale, i_scale, max_rounds):
    """Small problems: the single polish's steps for every sample, in one numba call
    (:func:`resbench.solvers._polish_kernels.polish_dense_batch`), up to ``max_rounds``
    solves each (the polish's own limit when the caller asked for that).  The answers
    are the single polish's from the same points; a sample it does not finish within
    the limit, or with a non-finite start or scale, is left as it was, for the caller."""
    U_new, st = pk.polish_dense_batch(
        p.indptr, p.indices, p.data, p.diag, *(np.ascontiguousarray(a) for a in (C, LO, HI)),
        p.ff_anode, p.ff_cathode, np.ascontiguousarray(FFL), p.island, np.ascontiguousarray(U),
        v_scale, i_scale, REL_TOL, STEP_TOL, RAY_SLOPE, p.n_ff_diodes == 0 and p.n_islands == 0,
        -1 if max_rounds is None else int(max_rounds), pk.LU_MAX,
    )  # fmt: skip
    return U_new, st == pk.OPTIMAL


def _groups(W: np.ndarray, cols: np.ndarray) -> list[np.ndarray]:
    """The samples ``cols`` grouped by identical working-set column of ``W``: the
    columns packed into 64-bit words, sorted (lexsort), split where the words change."""
    packed = np.packbits(W[:, cols], axis=0)  # [bytes, k]
    pad = -packed.shape[0] % 8
    if pad or not packed.shape[0]:
        pad = pad or 8
        packed = np.concatenate([packed, np.zeros((pad, cols.size), dtype=np.uint8)])
    words = np.ascontiguousarray(packed.T).view(np.uint64)  # [k, words]
    order = np.lexsort(words.T[::-1]) if words.shape[1] > 1 else np.argsort(words[:, 0])
    srt = words[order]
    cut = np.flatnonzero((srt[1:] != srt[:-1]).any(axis=1)) + 1
    return [cols[g] for g in np.split(order, cut)]


def _col(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Columns ``idx`` of a per-sample array, or its shared column broadcast."""
    return a[:, idx] if a.shape[1] > 1 else np.repeat(a, idx.size, axis=1)


def _solve_group(p, L, pattern, C, LO, HI, FFL, idx, v_scale, i_scale):
    """One working set: contract, factorise once, solve every sample, check each.

    Returns (forest [m], T [n, Bg], primal_ok [Bg], dual_ok [Bg], worst [Bg]) — the
    working set reduced to a forest, the equality-constrained optima, the checks and
    the constraint with the most negative multiplier (−1 without any) — or None when
    the contracted matrix is singular.
    """
    n, nff = p.n, p.n_ff_diodes
    Bg = idx.size
    # the working set's constraints as edges an → ca (node n = F, 0 V)
    k_all = np.flatnonzero(pattern)
    kind = np.where(k_all < nff, 0, np.where(k_all < nff + n, 1, 2))
    node = np.where(kind == 1, k_all - nff, k_all - nff - n)  # the bound's node
    e_an = np.where(kind == 1, n, node).astype(np.int64)  # lower: 0 − u_i ≤ −lo_i
    e_ca = np.where(kind == 2, n, node).astype(np.int64)  # upper: u_i − 0 ≤ hi_i
    ffk = kind == 0
    e_an[ffk] = p.ff_anode[k_all[ffk]]
    e_ca[ffk] = p.ff_cathode[k_all[ffk]]
    # the set reduced to a forest, in the polish's order (one closing a cycle stays out)
    keep, parent, edge, sign, bfs_order, cl, m = _forest(n, e_an, e_ca)
    kind, node, k_all = kind[keep], node[keep], k_all[keep]
    forest = np.zeros(pattern.size, dtype=bool)
    forest[k_all] = True
    K = k_all.size
    # limits of W's edges per sample: u[an] − u[ca] = w
    wk = np.empty((K, Bg))
    ff = kind == 0
    if ff.any():
        wk[ff] = _col(FFL, idx)[k_all[ff]]
    if (kind == 1).any():
        wk[kind == 1] = -_col(LO, idx)[node[kind == 1]]
    if (kind == 2).any():
        wk[kind == 2] = _col(HI, idx)[node[kind == 2]]
    # u_x = z_cluster(x) + ofs_x along the trees; F's tree: u = ofs (F = 0 V)
    ofs = np.zeros((n + 1, Bg))
    if K:
        _tree_offsets(bfs_order, parent, edge, sign, wk, ofs)
    # solve: u = q + P z with P the cluster map; Pᵀ L P z = Pᵀ (c − L q)
    q = np.ascontiguousarray(ofs[:n])
    Cg = np.ascontiguousarray(C[:, idx])
    U_g = q.copy()
    R = np.empty((n, Bg))
    if m:
        _residual(*L, q, Cg, R)
        rhs = np.zeros((m, Bg))
        _sum_clusters(cl, R, rhs)
        try:
            z = _factor_solve(L, cl, m, rhs)
        except (np.linalg.LinAlgError, RuntimeError):
            return None  # singular (cannot happen without islands): the caller polishes
        free = np.flatnonzero(cl >= 0)
        U_g[free] += z[cl[free]]
    # exact checks, per sample: primal feasibility of every constraint ...
    vfeas = REL_TOL * v_scale[idx]
    LOg, HIg = (a[:, idx] if a.shape[1] > 1 else a for a in (LO, HI))
    viol = np.maximum(LOg - U_g, U_g - HIg).max(axis=0)
    if nff:
        FFg = FFL[:, idx] if FFL.shape[1] > 1 else FFL
        viol = np.maximum(viol, (U_g[p.ff_anode] - U_g[p.ff_cathode] - FFg).max(axis=0))
    pok = (viol <= vfeas) & np.isfinite(U_g).all(axis=0)
    # ... and dual feasibility: W's multipliers ≥ −tol
    dok = np.ones(Bg, dtype=bool)
    worst = np.full(Bg, -1, dtype=np.int64)
    if K:
        _residual(*L, U_g, Cg, R)
        acc = np.zeros((n + 1, Bg))
        np.negative(R, out=acc[:n])  # current leaving each node
        lam = np.zeros((K, Bg))
        _tree_multipliers(bfs_order, parent, edge, sign, acc, lam)
        j = np.argmin(lam, axis=0)  # ties: the lowest constraint index, as the polish
        dok = lam[j, np.arange(Bg)] >= -REL_TOL * i_scale[idx]
        worst = k_all[j]
    return forest, U_g, pok, dok, worst


def _factor_solve(L, cl: np.ndarray, m: int, rhs: np.ndarray) -> np.ndarray:
    """Solve Pᵀ L P z = rhs for all columns: one factorisation, dense LU below
    DENSE_MAX unknowns, else a sparse LU (both as the polish's own solve)."""
    indptr, indices, data, diag = L
    if m <= DENSE_MAX:
        mat = np.zeros((m, m))
        _contract_dense(indptr, indices, data, diag, cl, mat)
        return np.linalg.solve(mat, rhs)  # LAPACK gesv: least call overhead here
    n = cl.size
    rows = np.repeat(np.arange(n), np.diff(indptr))
    ci, cj = cl[rows], cl[indices]
    both = (ci >= 0) & (cj >= 0)
    free = cl >= 0
    dcl = cl[free]
    mat = sp.coo_matrix(
        (
            np.concatenate([-data[both], diag[free]]),
            (np.concatenate([ci[both], dcl]), np.concatenate([cj[both], dcl])),
        ),
        shape=(m, m),
    ).tocsc()
    return spla.splu(mat, permc_spec="MMD_AT_PLUS_A").solve(rhs)
