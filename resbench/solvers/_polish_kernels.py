"""numba kernels of the active-set polish (:mod:`resbench.solvers.polish`).  No I/O.

Small problems are the common case of the bundled netlists (a few free nodes), where
the Python polish is ~100 numpy calls per iteration and scipy's
``connected_components`` ~200 µs of input checks and format conversions for a handful
of edges: milliseconds against microseconds of arithmetic.  ``polish_dense`` takes the
polish's steps in one call on such problems, ``polish_dense_batch`` those of every
sample of a batch (the batch's exact finish, :mod:`resbench.batch.polish`);
``edge_components`` is a union–find over an edge list, for the island groups of the
Python polish at any size.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from resbench._jit import BOOL, F64, F64_2D, FLOAT, I32, I64, INT, kernel
from resbench._unionfind import find_root as _find


@kernel(INT, I64, I64)
def edge_components(n, a, b):  # pragma: no cover - compiled
    """Connected components of the undirected graph on 0..n-1 with edges (a[k], b[k]).

    Returns ``(count, label)``, labels numbered in the order of each component's
    smallest vertex (the numbering of scipy's ``connected_components``)."""
    parent = np.arange(n)
    for k in range(a.shape[0]):
        x = a[k]
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        y = b[k]
        while parent[y] != y:
            parent[y] = parent[parent[y]]
            y = parent[y]
        if x < y:
            parent[y] = x
        elif y < x:
            parent[x] = y
    label = np.empty(n, dtype=np.int64)
    count = 0
    for i in range(n):  # a root is its group's smallest vertex: it comes first
        r = i
        while parent[r] != r:
            r = parent[r]
        if r == i:
            label[i] = count
            count += 1
        else:
            label[i] = label[r]
    return count, label


# statuses of polish_dense
OPTIMAL = 0
ITERATION_LIMIT = 1
UNBOUNDED = 2  # an island's ray that no diode blocks: the ray is returned
SINGULAR = 3  # a contracted matrix that LAPACK finds singular
NOT_FINITE = 4  # polish_dense_batch: a sample whose start or scales are not finite
#: the batch polish (``lu_max`` of :func:`polish_dense_batch`) solves contracted
#: systems of at most this many unknowns by :func:`_lu_solve`, larger ones by LAPACK;
#: the single polish passes 0: always LAPACK, its answers those of the Python polish
LU_MAX = 16


@njit(cache=True)
def _gradient(n, indptr, indices, data, diag, c, u, out):  # pragma: no cover - compiled
    """L u − c into ``out[:n]`` (``Problem.gradient``, in the same order of operations)."""
    for i in range(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * u[indices[k]]
        out[i] = diag[i] * u[i] - s - c[i]


@njit(cache=True)
def _contracted(n, indptr, indices, data, diag, c, cl, m, q, out, mat, rhs,
                lu_max):  # pragma: no cover - compiled  # fmt: skip
    """Minimise the energy over u = q + z[cl] (cl[i] = −1: u_i = q_i) into ``out``: the
    dense contracted system (polish's ``_contracted_solve``), built in the work arrays
    ``mat [≥ m, ≥ m]`` and ``rhs [≥ m]``, solved by :func:`_lu_solve` up to ``lu_max``
    unknowns, else by LAPACK.  False when singular."""
    for i in range(n):
        out[i] = q[i]
    if m == 0:
        return True
    mat[:m, :m] = 0.0
    rhs[:m] = 0.0
    for i in range(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * q[indices[k]]
        ci = cl[i]
        if ci < 0:
            continue
        rhs[ci] += c[i] - (diag[i] * q[i] - s)
        for k in range(indptr[i], indptr[i + 1]):
            cj = cl[indices[k]]
            if cj >= 0:
                mat[ci, cj] -= data[k]
    for i in range(n):
        if cl[i] >= 0:
            mat[cl[i], cl[i]] += diag[i]
    if m <= lu_max:
        if not _lu_solve(mat, rhs, m):
            return False
        z = rhs
    else:
        try:
            z = np.linalg.solve(mat[:m, :m], rhs[:m])
        except Exception:  # LAPACK's exact zero pivot
            return False
    for i in range(n):
        if cl[i] >= 0:
            out[i] = q[i] + z[cl[i]]
    return True


@njit(cache=True)
def _lu_solve(a, b, m):  # pragma: no cover - compiled
    """Solve ``a[:m, :m] x = b[:m]`` in place (x into ``b``, ``a`` overwritten): LU with
    partial pivoting (first largest pivot, as LAPACK's getrf), unblocked.  False on an
    exact zero pivot (singular), as LAPACK reports it.  For the few unknowns of
    :data:`LU_MAX`, LAPACK's call (argument checks, Fortran-order copies) costs a
    microsecond, 100x the arithmetic."""
    for k in range(m):
        p = k
        big = abs(a[k, k])
        for i in range(k + 1, m):
            if abs(a[i, k]) > big:
                big = abs(a[i, k])
                p = i
        if big == 0.0:
            return False
        if p != k:
            for j in range(m):
                a[k, j], a[p, j] = a[p, j], a[k, j]
            b[k], b[p] = b[p], b[k]
        for i in range(k + 1, m):
            f = a[i, k] / a[k, k]
            for j in range(k + 1, m):
                a[i, j] -= f * a[k, j]
            b[i] -= f * b[k]
    for k in range(m - 1, -1, -1):
        s = b[k]
        for j in range(k + 1, m):
            s -= a[k, j] * b[j]
        b[k] = s / a[k, k]
    return True


@njit(cache=True)
def _workspace(n, n_ff):  # pragma: no cover - compiled
    """The polish's work arrays for problems of ``n`` free supernodes and ``n_ff``
    free–free diodes (at most n_ff + 2n constraints): allocated once per kernel call
    and reused by every sample of a batch (a few nodes' polish is microseconds, about
    what thirty allocations cost)."""
    mx = n_ff + 2 * n
    n1 = n + 1
    fl = (np.zeros(n1), np.empty(n1), np.empty(n1), np.empty(n1), np.empty(n1),
          np.empty(n1), np.empty(n1), np.empty(n), np.empty(n), np.empty(mx), np.empty(mx),
          np.empty(max(n, 1)))  # fmt: skip
    it = (np.empty(mx, dtype=np.int64), np.empty(mx, dtype=np.int64),
          np.empty(n1, dtype=np.int64), np.empty(n1, dtype=np.int64),
          np.empty(n1, dtype=np.int64), np.empty(n + 2, dtype=np.int64),
          np.empty(n1, dtype=np.int64), np.empty(n1, dtype=np.int64),
          np.empty(n1, dtype=np.int64), np.empty(n, dtype=np.int64),
          np.empty(max(2 * mx, 1), dtype=np.int64), np.empty(max(2 * mx, 1), dtype=np.int64),
          np.empty(n1, dtype=np.int64))  # fmt: skip
    bo = (np.empty(mx, dtype=np.bool_), np.empty(n1, dtype=np.bool_),
          np.empty(n1, dtype=np.bool_))  # fmt: skip
    return fl, it, bo, np.empty((max(n, 1), max(n, 1)))


@njit(cache=True)
def _first_blocker(m, an, ca, w, in_w, ext, direction, min_slope):  # pragma: no cover
    """The ratio test of a move ``ext + α · direction``: the constraint outside W that
    blocks first (its slope above ``min_slope``; ties: the lowest index) and its α, or
    (inf, −1) when none does."""
    best, j = np.inf, -1
    for k in range(m):
        sl = direction[an[k]] - direction[ca[k]]
        if not in_w[k] and sl > min_slope:
            r = max(-(ext[an[k]] - ext[ca[k]] - w[k]), 0.0) / sl
            if r < best:
                best, j = r, k
    return best, j


@kernel(I64, I32, F64, F64, F64, F64, F64, I32, I32, F64, I64, F64, FLOAT, FLOAT, FLOAT, FLOAT,
        FLOAT, BOOL, INT, INT)  # fmt: skip
def polish_dense(indptr, indices, data, diag, c, lo, hi, ff_anode, ff_cathode, ff_limit, island,
                 u0, vtol, vfeas, ltol, step_tol, ray_slope, bounds_first, max_iter,
                 lu_max):  # pragma: no cover - compiled  # fmt: skip
    """The exact active-set polish of :mod:`resbench.solvers.polish` (its ``_polish``,
    step for step: the same working sets, roots, anchors and ties) for small problems,
    dense, in one call.  On a circuit of a few nodes the Python version is ~100 numpy
    calls per iteration, milliseconds against microseconds of arithmetic.

    ``island``: per free supernode its island or −1 (empty: none).  ``bounds_first``:
    try ``polish_bounds`` first (no free–free diodes, no islands).  ``max_iter`` < 0:
    the default, max(100, 10 × constraints).  ``lu_max``: contracted systems of up to
    that many unknowns solved by :func:`_lu_solve`, larger ones by LAPACK (0: always
    LAPACK, as the Python polish; a run-time argument, so that both kernels share one
    compiled :func:`_polish_samples`).  Returns (status, u, iterations, solves,
    ray): status :data:`OPTIMAL`, :data:`ITERATION_LIMIT`, :data:`UNBOUNDED` (``ray``:
    the island shift, over nodes 0..n) or :data:`SINGULAR`."""
    n = u0.shape[0]
    nff = ff_anode.shape[0]
    out = np.empty((n, 1))
    status = np.empty(1, dtype=np.int64)
    iters = np.empty(1, dtype=np.int64)
    solves = np.empty(1, dtype=np.int64)
    ray = np.empty(n + 1)
    _polish_samples(
        indptr, indices, data, diag, c.reshape((n, 1)), lo.reshape((n, 1)), hi.reshape((n, 1)),
        ff_anode, ff_cathode, ff_limit.reshape((nff, 1)), island, u0.reshape((n, 1)),
        np.full(1, vtol), np.full(1, vfeas), np.full(1, ltol), np.full(1, step_tol),
        np.ones(1, dtype=np.bool_), False, ray_slope, bounds_first, max_iter, lu_max, True,
        out, status, iters, solves, ray,
    )  # fmt: skip
    return status[0], out[:, 0].copy(), iters[0], solves[0], ray


@kernel(I64, I32, F64, F64, F64_2D, F64_2D, F64_2D, I32, I32, F64_2D, I64, F64_2D, F64, F64,
        FLOAT, FLOAT, FLOAT, BOOL, INT, INT)  # fmt: skip
def polish_dense_batch(indptr, indices, data, diag, C, LO, HI, ff_anode, ff_cathode, FFL, island,
                       U, v_scale, i_scale, rel_tol, step_rel, ray_slope, bounds_first, max_iter,
                       lu_max):  # pragma: no cover - compiled  # fmt: skip
    """:func:`polish_dense` for every sample of a batch, in one call: the batch's exact
    finish on small problems, where grouping samples by working set (numpy calls per
    group) costs milliseconds against microseconds of arithmetic per sample.

    ``C``, ``U [n, B]`` per sample; ``LO``, ``HI [n, B]`` or ``[n, 1]``, ``FFL [n_ff, B]``
    or ``[n_ff, 1]`` (one shared column); ``v_scale``, ``i_scale [B]``.  Each sample's
    tolerances are the single polish's: ``rel_tol`` × its scales (tight set,
    feasibility, multipliers) and ``step_rel`` × its v_scale (steps).  Returns
    ``(U_new [n, B], status [B])``: per sample the status :func:`polish_dense` returns
    (:data:`OPTIMAL`, …) or :data:`NOT_FINITE` (not run: a start or scale is NaN or
    inf); the column is the optimum where OPTIMAL, else the sample's start, unchanged
    (the caller polishes it on its own)."""
    n, nb = U.shape
    out = np.empty((n, nb))
    status = np.empty(nb, dtype=np.int64)
    iters = np.empty(nb, dtype=np.int64)
    solves = np.empty(nb, dtype=np.int64)
    ray = np.empty(n + 1)
    vtol = np.empty(nb)
    ltol = np.empty(nb)
    step_tol = np.empty(nb)
    run = np.empty(nb, dtype=np.bool_)
    for b in range(nb):
        vs = v_scale[b]
        vtol[b] = rel_tol * vs
        ltol[b] = rel_tol * i_scale[b]
        step_tol[b] = step_rel * vs
        run[b] = np.isfinite(vs) and np.isfinite(i_scale[b])
    _polish_samples(
        indptr, indices, data, diag, C, LO, HI, ff_anode, ff_cathode, FFL, island, U, vtol,
        vtol, ltol, step_tol, run, True, ray_slope, bounds_first, max_iter, lu_max, False, out,
        status, iters, solves, ray,
    )  # fmt: skip
    return out, status


@njit(cache=True)
def _polish_samples(indptr, indices, data, diag, C, LO, HI, ff_anode, ff_cathode, FFL, island, U,
                    vtol_s, vfeas_s, ltol_s, step_s, run, check_finite, ray_slope,
                    bounds_first, max_iter, lu_max, keep_all, out, status, iters, n_solves,
                    ray_out):  # pragma: no cover - compiled  # fmt: skip
    """The exact active-set polish of :mod:`resbench.solvers.polish` (its ``_polish``,
    step for step: the same working sets, roots, anchors and ties) for each sample b
    (column b of ``C``, ``U``; of ``LO``, ``HI``, ``FFL`` or their one shared column),
    in the work arrays of :func:`_workspace`, allocated once.  ``vtol_s``, ``vfeas_s``,
    ``ltol_s``, ``step_s``: per sample the tight-set, feasibility, multiplier and step
    tolerances.  ``run[b]`` False, or (``check_finite``) a start that is not finite: the
    sample is not run (:data:`NOT_FINITE`).  Writes per sample ``status``, ``iters``,
    ``n_solves`` and ``out[:, b]``: the answer where OPTIMAL (or always, ``keep_all``),
    else the start; ``ray_out``: the last sample's island shift (over nodes 0..n).

    One function with the sample loop inside, for :func:`polish_dense` (one sample)
    and :func:`polish_dense_batch`: as a function called per sample, passing it the
    tuple of ~30 work arrays and unpacking them cost ~0.3 µs a call, more than half
    of a two-node sample's polish (a ``.dc`` sweep of a diode)."""
    n, nb = U.shape
    nff = ff_anode.shape[0]
    c = np.empty(n)
    lo = np.empty(n)
    hi = np.empty(n)
    u0 = np.empty(n)
    ff_limit = np.empty(nff)
    fl, it_ws, bo, mat = _workspace(n, nff)
    ray, work, ext, target, step, ofs, acc, q, u, w, lam, rhs = fl
    an, ca, root, parent_edge, order, deg, keys, col, fill, cl, adj_node, adj_edge, parent = it_ws
    in_w, seen, keyed = bo
    for smp in range(nb):
        blo = smp if LO.shape[1] > 1 else 0
        bhi = smp if HI.shape[1] > 1 else 0
        bff = smp if FFL.shape[1] > 1 else 0
        for i in range(n):
            c[i] = C[i, smp]
            lo[i] = LO[i, blo]
            hi[i] = HI[i, bhi]
            u0[i] = U[i, smp]
        for k in range(nff):
            ff_limit[k] = FFL[k, bff]
        finite = run[smp]
        if check_finite:
            for i in range(n):
                finite = finite and np.isfinite(u0[i])
        if not finite:
            status[smp] = NOT_FINITE
            iters[smp] = 0
            n_solves[smp] = 0
            for i in range(n):
                out[i, smp] = u0[i]
            continue
        vtol = vtol_s[smp]
        vfeas = vfeas_s[smp]
        ltol = ltol_s[smp]
        step_tol = step_s[smp]
        mi = max_iter
        st = -1  # undecided
        its = 0
        solves = 0
        ray[:] = 0.0
        if bounds_first:
            # polish_bounds: fix the nodes at an active bound, solve the rest, check
            nfree = 0
            for i in range(n):
                at_lo = u0[i] - lo[i] <= vtol
                at_hi = hi[i] - u0[i] <= vtol
                cl[i] = -1
                if at_lo:
                    q[i] = lo[i]
                elif at_hi:
                    q[i] = hi[i]
                else:
                    cl[i] = nfree
                    nfree += 1
                    q[i] = 0.0
            if not _contracted(
                n, indptr, indices, data, diag, c, cl, nfree, q, u, mat, rhs, lu_max
            ):
                u[:] = u0
                st, its, solves = SINGULAR, 0, 0
            else:
                ok = True
                for i in range(n):
                    if u[i] < lo[i] - vfeas or u[i] > hi[i] + vfeas:
                        ok = False
                if ok:
                    _gradient(n, indptr, indices, data, diag, c, u, work)
                    for i in range(n):
                        at_lo = u0[i] - lo[i] <= vtol
                        at_hi = hi[i] - u0[i] <= vtol
                        if at_lo and work[i] < -ltol:
                            ok = False
                        elif at_hi and not at_lo and -work[i] < -ltol:
                            ok = False
                if ok:
                    st, its, solves = OPTIMAL, 1, 1
        if st < 0:
            # the constraints u[an] − u[ca] ≤ w over nodes 0..n (n: the fixed 0 V node F)
            nff = ff_anode.shape[0]
            m = nff
            for k in range(nff):
                an[k] = ff_anode[k]
                ca[k] = ff_cathode[k]
                w[k] = ff_limit[k]
            for i in range(n):
                if np.isfinite(lo[i]):
                    an[m] = n
                    ca[m] = i
                    w[m] = -lo[i]
                    m += 1
            for i in range(n):
                if np.isfinite(hi[i]):
                    an[m] = i
                    ca[m] = n
                    w[m] = hi[i]
                    m += 1
            if mi < 0:
                mi = max(100, 10 * m)
            ext[:n] = u0
            ext[n] = 0.0
            target[:] = 0.0
            # the initial working set: the constraints tight at u0, as a forest
            for x in range(n + 1):
                parent[x] = x
            for k in range(m):
                in_w[k] = False
                if abs(ext[an[k]] - ext[ca[k]] - w[k]) <= vtol:
                    ra = _find(parent, an[k])
                    rb = _find(parent, ca[k])
                    if ra != rb:
                        parent[ra] = rb
                        in_w[k] = True
            n_islands = island.shape[0] > 0
            lam[:m] = 0.0
            solves = 0
            for it in range(mi):
                # ---- _solve_eqp: clusters of the working-set forest (BFS from each root, the
                # roots in the order the nodes first appear in the working set, F first)
                deg[:] = 0
                keyed[:] = False
                nkeys = 0
                for k in range(m):
                    if in_w[k]:
                        deg[an[k] + 1] += 1
                        deg[ca[k] + 1] += 1
                        for x in (an[k], ca[k]):
                            if not keyed[x]:
                                keyed[x] = True
                                keys[nkeys] = x
                                nkeys += 1
                for x in range(n + 1):
                    deg[x + 1] += deg[x]
                for x in range(n + 1):
                    fill[x] = deg[x]
                for k in range(m):
                    if in_w[k]:
                        a = an[k]
                        b = ca[k]
                        adj_node[fill[a]] = b
                        adj_edge[fill[a]] = k
                        fill[a] += 1
                        adj_node[fill[b]] = a
                        adj_edge[fill[b]] = k
                        fill[b] += 1
                for x in range(n + 1):
                    root[x] = x
                    ofs[x] = 0.0
                    parent_edge[x] = -1
                    seen[x] = False
                n_order = 0
                for pass_ in range(2):  # F first, then the other keys in order
                    for j in range(nkeys):
                        s = keys[j]
                        if (pass_ == 0) != (s == n) or seen[s]:
                            continue
                        seen[s] = True
                        head = n_order
                        order[n_order] = s
                        n_order += 1
                        while head < n_order:
                            x = order[head]
                            head += 1
                            for e in range(deg[x], deg[x + 1]):
                                y = adj_node[e]
                                if seen[y]:
                                    continue
                                seen[y] = True
                                k = adj_edge[e]
                                root[y] = s
                                parent_edge[y] = k
                                ofs[y] = ofs[x] + (w[k] if y == an[k] else -w[k])
                                order[n_order] = y
                                n_order += 1
                # free clusters numbered by their root (np.unique's order); F's cluster fixed
                col[:] = -1
                for x in range(n):
                    if root[x] != root[n]:
                        col[root[x]] = 0
                mc = 0
                for x in range(n + 1):
                    if col[x] == 0:
                        col[x] = mc
                        mc += 1
                for i in range(n):
                    cl[i] = -1 if root[i] == root[n] else col[root[i]]
                    q[i] = ofs[i]
                if n_islands:
                    # _singular_groups: groups of clusters that no conductance ties to a fixed
                    # or held node carry a ray (net current) or get an anchored cluster
                    ga = np.empty(indices.shape[0], dtype=np.int64)
                    gb = np.empty(indices.shape[0], dtype=np.int64)
                    ne = 0
                    for i in range(n):
                        for kk in range(indptr[i], indptr[i + 1]):
                            ci = cl[i]
                            cj = cl[indices[kk]]
                            if ci >= 0 and cj >= 0 and ci != cj:
                                ga[ne] = ci
                                gb[ne] = cj
                                ne += 1
                    n_comp, comp = edge_components(mc, ga[:ne], gb[:ne])
                    grounded = np.zeros(n_comp, dtype=np.bool_)
                    for i in range(n):
                        if cl[i] >= 0 and island[i] < 0:
                            grounded[comp[cl[i]]] = True
                        for kk in range(indptr[i], indptr[i + 1]):
                            if cl[i] >= 0 and cl[indices[kk]] < 0:
                                grounded[comp[cl[i]]] = True
                    if not grounded.all():
                        force = np.zeros(n_comp)
                        for i in range(n):
                            if cl[i] >= 0:
                                force[comp[cl[i]]] += c[i]
                        any_moving = False
                        for g in range(n_comp):
                            if not grounded[g] and abs(force[g]) > ltol:
                                any_moving = True
                        if any_moving:
                            ray[:] = 0.0
                            for i in range(n):
                                if cl[i] >= 0:
                                    g = comp[cl[i]]
                                    if not grounded[g] and abs(force[g]) > ltol:
                                        ray[i] = np.sign(force[g])
                            solves += 1
                            # an island whose working-set group carries a net current: the
                            # energy falls linearly as it shifts; move until a diode outside W
                            # blocks it
                            best, j = _first_blocker(m, an, ca, w, in_w, ext, ray, ray_slope)
                            if j < 0:
                                u[:] = ext[:n]
                                st, its, solves = UNBOUNDED, it, solves
                                break
                            for x in range(n + 1):
                                ext[x] = ext[x] + best * ray[x]
                            ext[n] = 0.0
                            in_w[j] = True
                            continue
                        # anchor the smallest cluster of each singular group at its value
                        first = np.full(n_comp, -1, dtype=np.int64)
                        for ci in range(mc - 1, -1, -1):
                            first[comp[ci]] = ci
                        anchor = np.zeros(mc, dtype=np.bool_)
                        for g in range(n_comp):
                            if not grounded[g]:
                                anchor[first[g]] = True
                        new_id = np.full(mc, -1, dtype=np.int64)
                        kept = 0
                        for ci in range(mc):
                            if not anchor[ci]:
                                new_id[ci] = kept
                                kept += 1
                        for i in range(n):
                            if cl[i] >= 0:
                                if anchor[cl[i]]:
                                    q[i] = ext[i]
                                cl[i] = new_id[cl[i]]
                        mc = kept
                solves += 1
                if not _contracted(
                    n, indptr, indices, data, diag, c, cl, mc, q, target, mat, rhs, lu_max
                ):
                    u[:] = ext[:n]
                    st, its, solves = SINGULAR, it, solves
                    break
                target[n] = 0.0
                # ---- step towards the target until a constraint outside W blocks
                for x in range(n + 1):
                    step[x] = target[x] - ext[x]
                best, kb = _first_blocker(m, an, ca, w, in_w, ext, step, step_tol)
                if kb >= 0 and best < 1.0:
                    for x in range(n + 1):
                        ext[x] = ext[x] + best * step[x]
                    ext[n] = 0.0
                    in_w[kb] = True
                    continue
                ext[:] = target
                # ---- unique multipliers of the W forest: leaves first
                _gradient(n, indptr, indices, data, diag, c, ext, acc)
                acc[n] = 0.0
                lam[:m] = 0.0
                for jj in range(n_order - 1, -1, -1):
                    x = order[jj]
                    k = parent_edge[x]
                    if k < 0:
                        continue
                    if x == an[k]:
                        lk = -acc[x]
                        acc[ca[k]] -= lk
                    else:
                        lk = acc[x]
                        acc[an[k]] += lk
                    lam[k] = lk
                worst, kw = np.inf, -1
                for k in range(m):
                    if in_w[k] and lam[k] < worst:
                        worst, kw = lam[k], k
                if kw < 0 or worst >= -ltol:
                    u[:] = ext[:n]
                    st, its, solves = OPTIMAL, it + 1, solves
                    break
                in_w[kw] = False
            if st < 0:  # the iteration limit
                u[:] = ext[:n]
                st, its, solves = ITERATION_LIMIT, mi, solves
        status[smp] = st
        iters[smp] = its
        n_solves[smp] = solves
        done = keep_all or st == OPTIMAL
        for i in range(n):
            out[i, smp] = u[i] if done else u0[i]
    for x in range(ray.shape[0]):
        ray_out[x] = ray[x]
