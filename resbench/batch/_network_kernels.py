"""numba kernels of the batch Network's own bookkeeping (no I/O; callers validate).

The sweeps, the input products and the polish have their kernels in
:mod:`resbench.batch._kernels` and :mod:`resbench.batch.polish`; these are the small
passes around them that a one-sample call (``Network.solve``) or a ``.dc`` sweep of a
few nodes would otherwise pay as a dozen numpy calls each (every numpy call on a
handful of entries costs ~1-3 µs, more than the arithmetic).  Each returns exactly
what the numpy steps it replaces gave (tests/test_network_kernels.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from resbench._jit import BOOL, F64, F64_2D, FLOAT, I32, I64, INT, kernel
from resbench.batch._kernels import F64_2F, assemble_voltages_s, gemv_nonzero
from resbench.batch._simd import lanes, madd, splat, vabs, vload, vload2, vmax, vmin, vstore, vsub
from resbench.solvers._kernels import (
    CD_CONVERGED,
    CD_SWEEP_LIMIT,
    _after_sweep,
    link_ends,
    union_offsets,
)

B1 = types.boolean[::1]  # a mask
_NO_VMAX = np.zeros(0)  # start_columns: no maxima given
#: assemble_voltages_s's plan (its arguments after offset0, before s0) as one tuple
PLAN = types.Tuple((I64, I64, F64, F64, F64, I64, I64, F64, I64, I64, F64, I64, I64))


@kernel(F64_2D, F64, F64_2D, F64_2D, F64_2D, I64, FLOAT, F64, F64_2D, F64_2D, F64)
def start_columns(
    C, inv_diag, LO, HI, S, vcols, floor, vmax, Q, U, vscale
):  # pragma: no cover - compiled
    """The sweeps' inputs of a node-major batch (``C`` ``[n, B]``, the injections):
    ``Q = C · inv_diag`` (c / diag), the cold start ``U = clip(Q, LO, HI)`` (``LO`` /
    ``HI`` ``[n, 1]`` shared or ``[n, B]``), and per sample the voltage scale's part
    ``vscale[b] = max(floor, max_j |S[b, vcols[j]]|, max_i |Q[i, b]|)`` (``vmax``:
    the middle term when a pass already has it, [B], else empty).

    The same numbers as numpy's ``C * inv_diag[:, None]``, ``np.maximum`` /
    ``np.minimum`` and maxima of absolute values, NaN included (a NaN injection gives
    a NaN start and scale, as numpy's maximum propagates it)."""
    n = C.shape[0]
    B = C.shape[1]
    lo_s = 1 if LO.shape[1] > 1 else 0
    hi_s = 1 if HI.shape[1] > 1 else 0
    for b in range(B):
        m = floor
        if vmax.shape[0] > 0:
            if vmax[b] > m or vmax[b] != vmax[b]:
                m = vmax[b]
        else:
            for t in range(vcols.shape[0]):
                x = abs(S[b, vcols[t]])
                if x > m:
                    m = x
        vscale[b] = m
    for i in range(n):
        d = inv_diag[i]
        for b in range(B):
            q = C[i, b] * d
            Q[i, b] = q
            u = q
            lo = LO[i, b * lo_s]
            if u < lo:
                u = lo
            hi = HI[i, b * hi_s]
            if u > hi:
                u = hi
            U[i, b] = u
            aq = abs(q)
            m = vscale[b]
            if aq > m or (aq != aq and m == m):
                vscale[b] = aq


@kernel(F64_2D)
def pair_layout(S):  # pragma: no cover - compiled
    """How every row of ``S`` ``[B, k]`` pairs its columns into opposite values (a DRN's
    ``cat(x, −x)``): 1 interleaved (``S[b, 2j + 1] == −S[b, 2j]``), 2 in halves
    (``S[b, h + j] == −S[b, j]``), 0 neither (or k odd or 0).  Interleaved is tried
    first, as numpy's two ``array_equal`` checks it replaces."""
    B = S.shape[0]
    k = S.shape[1]
    if k == 0 or k % 2:
        return 0
    h = k // 2
    ok = True
    for b in range(B):
        for j in range(h):
            if S[b, 2 * j + 1] != -S[b, 2 * j]:
                ok = False
                break
        if not ok:
            break
    if ok:
        return 1
    for b in range(B):
        for j in range(h):
            if S[b, h + j] != -S[b, j]:
                return 0
    return 2


@kernel(I64, I64, B1, INT, INT, BOOL, BOOL, BOOL)
def polish_needs(
    status, sweeps, infeasible, converged, slow_sweeps, every, check_slow, any_free
):  # pragma: no cover - compiled
    """After the sweeps: which samples converged (``status == converged``), which need
    the exact polish, and how many are infeasible.  A sample needs the polish when
    ``any_free`` (the problem has free nodes), it is not infeasible, and ``every``
    (free–free diodes, or ω raised on a small problem), or it did not converge, or
    (``check_slow``: a small problem) it took more than ``slow_sweeps`` sweeps: the
    rule of resbench.solvers.cd.solve_cd.  Returns (converged mask, the samples to
    polish in increasing order, the number of infeasible samples)."""
    B = status.shape[0]
    conv = np.empty(B, dtype=np.bool_)
    need = np.empty(B, dtype=np.int64)
    k = 0
    bad = 0
    for b in range(B):
        ok = status[b] == converged
        conv[b] = ok
        if infeasible[b]:
            bad += 1
            continue
        if any_free and (every or not ok or (check_slow and sweeps[b] > slow_sweeps)):
            need[k] = b
            k += 1
    return conv, need[:k].copy(), bad


@kernel(INT, INT, INT, I64, I64, I32, I32, I32, I32, F64, I32, I32, FLOAT, I32, FLOAT)
def small_offset_maps(
    n_nodes, n, nin, vcol, vidx, vs_a, vs_b, res_a, res_b, res_val, ind_a, ind_b, rel_tol, sn, gmin
):  # pragma: no cover - compiled
    """The input maps of a circuit of a few nodes that the numpy steps of
    ``Network._build_maps`` build one input at a time: the offset map M ``[n_nodes,
    nin]`` (one union–find probe per input voltage source ``vidx[t]`` in column
    ``vcol[t]``: links are the voltage sources, zero-ohm resistors and inductors, as
    :func:`resbench.solvers._kernels.union_offsets` takes them), the nodes that move
    with an input (``touched``), and K ``[n, n_nodes]`` (node offsets → free-node
    injections through the resistors and the gmin leak, in the touched columns only),
    summed from 0.0 in the order of ``network._k_entries`` (as ``np.add.at`` sums
    them).  Returns (M, touched, K, bad): bad is the first input t whose source closes
    a loop of voltage sources (−1: none)."""
    la, lb = link_ends(vs_a, vs_b, res_a, res_b, res_val, ind_a, ind_b)
    M = np.zeros((n_nodes, nin))
    touched = np.zeros(n_nodes, dtype=np.bool_)
    K = np.zeros((n, n_nodes))
    for t in range(vcol.shape[0]):
        probe = np.zeros(la.shape[0])
        probe[vidx[t]] = 1.0
        _, off, bad = union_offsets(n_nodes, la, lb, probe, rel_tol)
        if bad >= 0:
            return M, touched, K, t
        for node in range(n_nodes):
            if off[node] != 0.0:
                M[node, vcol[t]] = off[node]
                touched[node] = True
    # K as _k_entries lists its entries: the kept resistors with their own end as
    # "own" (−g at [sn[own], own], then +g at [sn[own], other]), then the same with
    # the ends swapped, then the gmin leak of each touched free node
    nres = res_val.shape[0]
    for swap in range(2):
        for sign in range(2):
            for r in range(nres):
                a = res_a[r]
                b = res_b[r]
                v = res_val[r]
                if not ((touched[a] or touched[b]) and v > 0 and sn[a] != sn[b]):
                    continue
                own, other = (b, a) if swap else (a, b)
                i = sn[own]
                if i < 0:
                    continue
                g = 1.0 / v
                if sign == 0:
                    K[i, own] += -g
                else:
                    K[i, other] += g
    if gmin > 0:
        for m in range(n_nodes):
            if touched[m] and sn[m] >= 0:
                K[sn[m], m] += -gmin
    return M, touched, K, -1


@kernel(INT, INT, I32, I32, F64, I32, I32, F64, I32, I32, FLOAT, I32, FLOAT, I32, I32, F64)
def fixed_injection(
    n_nodes,
    n,
    vs_a,
    vs_b,
    vs_val,
    res_a,
    res_b,
    res_val,
    ind_a,
    ind_b,
    rel_tol,
    sn,
    gmin,
    is_a,
    is_b,
    is_val,
):  # pragma: no cover - compiled
    """The free nodes' injections ``c`` [n] of the circuit whose voltage sources take
    ``vs_val`` and current sources ``is_val`` (a Network passes its inputs at zero):
    the offsets by one union–find over the links (as :func:`union_offsets` takes them,
    so in the frame of the problem's supernodes), then what the resistors between
    supernodes, the gmin leak and the current sources inject, each term from its own
    numbers.  ``Network`` forms a sample's injections as ``c_fixed + A s``; this gives
    ``c_fixed`` without the cancellation of ``c(s₀) − A s₀``, whose round-off (of the
    netlist values' size) a sample with much smaller inputs would inherit.  Returns
    (c, bad): bad ≥ 0 when the links conflict (the caller falls back)."""
    la, lb = link_ends(vs_a, vs_b, res_a, res_b, res_val, ind_a, ind_b)
    lval = np.zeros(la.shape[0])
    lval[: vs_val.shape[0]] = vs_val
    _, off, bad = union_offsets(n_nodes, la, lb, lval, rel_tol)
    c = np.zeros(n)
    if bad >= 0:
        return c, bad
    for r in range(res_val.shape[0]):
        v = res_val[r]
        a = res_a[r]
        b = res_b[r]
        if not v > 0 or sn[a] == sn[b]:
            continue
        d = off[b] - off[a]
        if d == 0.0:
            continue
        g = 1.0 / v
        if sn[a] >= 0:
            c[sn[a]] += g * d
        if sn[b] >= 0:
            c[sn[b]] -= g * d
    if gmin > 0:
        for m in range(n_nodes):
            if sn[m] >= 0 and off[m] != 0.0:
                c[sn[m]] -= gmin * off[m]
    for j in range(is_val.shape[0]):
        if sn[is_b[j]] >= 0:
            c[sn[is_b[j]]] += is_val[j]
        if sn[is_a[j]] >= 0:
            c[sn[is_a[j]]] -= is_val[j]
    return c, -1


@kernel(F64_2D, B1, I32, F64, F64, F64, I32, I32, I64, I32, I32, B1, B1, F64)
def small_maps(
    M,
    touched,
    sn,
    offset,
    diag,
    s0,
    dio_a,
    dio_b,
    ff_diode,
    ff_anode,
    ff_cathode,
    v_mask,
    in_v,
    vs_value,
):  # pragma: no cover - compiled
    """Everything else ``Network._build_maps`` derives from the offset map M of a
    circuit of a few nodes, in one call (the numpy steps cost ~100 µs on a 4-node
    circuit, more than its whole ``.dc`` sweep's sweeps): the same arrays, in the same
    order and dtypes, as the general (sparse) code gives.  ``v_mask`` marks M's
    voltage-input columns, ``in_v`` the voltage sources that are inputs.

    Returns, in order: D (per diode ob − oa's input map), dio_base (ob − oa at s₀),
    check_dio, hi_var, lo_var (diodes whose bound moves), lo0, hi0 (the bounds of the
    diodes that do not move), var_ff (a free–free diode moves), in_order, out_order
    (stable argsorts of the free–free diodes' cathodes / anodes), fixed_nodes,
    fixed_moving (fixed nodes that move, less those held by one input source alone),
    M_fixed_moving (their rows of M), fixed_const_max, m_row, m_col, m_val (M's
    entries in row-major order), vs_const_max, inv_diag, and the 13 arrays of
    :func:`resbench.batch.network.voltage_plan`."""
    n_nodes, nin = M.shape
    n = diag.shape[0]
    nd = dio_a.shape[0]
    # ---- diodes
    D = np.empty((nd, nin))
    dio_base = np.empty(nd)
    moving = np.empty(nd, dtype=np.bool_)
    for d in range(nd):
        a = dio_a[d]
        b = dio_b[d]
        for c in range(nin):
            D[d, c] = M[b, c] - M[a, c]
        dio_base[d] = offset[b] - offset[a]
        moving[d] = touched[a] or touched[b]
    n_check = 0
    n_hi = 0
    n_lo = 0
    check_dio = np.empty(nd, dtype=np.int64)
    hi_var = np.empty(nd, dtype=np.int64)
    lo_var = np.empty(nd, dtype=np.int64)
    lo0 = np.full(n, -np.inf)
    hi0 = np.full(n, np.inf)
    for d in range(nd):
        sa = sn[dio_a[d]]
        sb = sn[dio_b[d]]
        const = (sa < 0 and sb < 0) or (sa == sb and sa >= 0)
        if const and moving[d]:
            check_dio[n_check] = d
            n_check += 1
        if sa >= 0 and sb < 0:
            if moving[d]:
                hi_var[n_hi] = d
                n_hi += 1
            elif dio_base[d] < hi0[sa]:
                hi0[sa] = dio_base[d]
        if sa < 0 and sb >= 0:
            if moving[d]:
                lo_var[n_lo] = d
                n_lo += 1
            elif -dio_base[d] > lo0[sb]:
                lo0[sb] = -dio_base[d]
    var_ff = False
    for t in range(ff_diode.shape[0]):
        if moving[ff_diode[t]]:
            var_ff = True
    in_order = np.argsort(ff_cathode, kind="mergesort")
    out_order = np.argsort(ff_anode, kind="mergesort")
    # ---- M's entries in row-major order, per node their count and first entry
    n_ent = 0
    for r in range(n_nodes):
        for c in range(nin):
            if M[r, c] != 0.0:
                n_ent += 1
    m_row = np.empty(n_ent, dtype=np.int64)
    m_col = np.empty(n_ent, dtype=np.int64)
    m_val = np.empty(n_ent)
    count = np.zeros(n_nodes, dtype=np.int64)
    first = np.zeros(n_nodes, dtype=np.int64)
    e = 0
    for r in range(n_nodes):
        for c in range(nin):
            if M[r, c] != 0.0:
                if count[r] == 0:
                    first[r] = e
                count[r] += 1
                m_row[e] = r
                m_col[e] = c
                m_val[e] = M[r, c]
                e += 1
    # ---- fixed nodes: the constant ones' max |voltage|; the moving ones that are not
    # just ± one input voltage (already counted by that input's value)
    n_fixed = 0
    for k in range(n_nodes):
        if sn[k] < 0:
            n_fixed += 1
    fixed_nodes = np.empty(n_fixed, dtype=np.int64)
    fixed_moving = np.empty(n_fixed, dtype=np.int64)
    fixed_const_max = 0.0
    t = 0
    n_fm = 0
    for k in range(n_nodes):
        if sn[k] >= 0:
            continue
        fixed_nodes[t] = k
        t += 1
        if not touched[k]:
            x = abs(offset[k])
            if x > fixed_const_max:
                fixed_const_max = x
            continue
        covered = False
        if count[k] == 1:
            c = m_col[first[k]]
            x = m_val[first[k]]
            covered = abs(x) == 1.0 and v_mask[c] and offset[k] == x * s0[c]
        if not covered:
            fixed_moving[n_fm] = k
            n_fm += 1
    fixed_moving = fixed_moving[:n_fm].copy()
    M_fixed_moving = np.empty((n_fm, nin))
    for t in range(n_fm):
        for c in range(nin):
            M_fixed_moving[t, c] = M[fixed_moving[t], c]
    vs_const_max = 0.0
    for j in range(vs_value.shape[0]):
        if not in_v[j]:
            x = abs(vs_value[j])
            if x > vs_const_max:
                vs_const_max = x
    inv_diag = np.zeros(n)
    for i in range(n):
        if diag[i] > 0:
            inv_diag[i] = 1.0 / diag[i]
    # ---- the voltage plan (network._voltage_plan_arrays)
    n_one = 0
    n_free_only = 0
    n_rest_free = 0
    for k in range(n_nodes):
        if count[k] == 1 and sn[k] < 0:
            n_one += 1
        if count[k] == 0 and sn[k] >= 0:
            n_free_only += 1
        if count[k] > 0 and sn[k] >= 0:
            n_rest_free += 1
    one_node = np.empty(n_one, dtype=np.int64)
    one_col = np.empty(n_one, dtype=np.int64)
    one_m = np.empty(n_one)
    one_s0 = np.empty(n_one)
    one_off = np.empty(n_one)
    free_only = np.empty(n_free_only, dtype=np.int64)
    free_sn = np.empty(n_free_only, dtype=np.int64)
    free_off = np.empty(n_free_only)
    rest_free = np.empty(n_rest_free, dtype=np.int64)
    rest_sn = np.empty(n_rest_free, dtype=np.int64)
    i1 = 0
    i2 = 0
    i3 = 0
    for k in range(n_nodes):
        if count[k] == 1 and sn[k] < 0:
            one_node[i1] = k
            one_col[i1] = m_col[first[k]]
            one_m[i1] = m_val[first[k]]
            one_s0[i1] = s0[m_col[first[k]]]
            one_off[i1] = offset[k]
            i1 += 1
        if count[k] == 0 and sn[k] >= 0:
            free_only[i2] = k
            free_sn[i2] = sn[k]
            free_off[i2] = offset[k]
            i2 += 1
        if count[k] > 0 and sn[k] >= 0:
            rest_free[i3] = k
            rest_sn[i3] = sn[k]
            i3 += 1
    n_rest = 0
    for e in range(n_ent):
        r = m_row[e]
        if not (count[r] == 1 and sn[r] < 0):
            n_rest += 1
    rest_row = np.empty(n_rest, dtype=np.int64)
    rest_col = np.empty(n_rest, dtype=np.int64)
    rest_val = np.empty(n_rest)
    t = 0
    for e in range(n_ent):
        r = m_row[e]
        if not (count[r] == 1 and sn[r] < 0):
            rest_row[t] = r
            rest_col[t] = m_col[e]
            rest_val[t] = m_val[e]
            t += 1
    return (
        D,
        dio_base,
        check_dio[:n_check].copy(),
        hi_var[:n_hi].copy(),
        lo_var[:n_lo].copy(),
        lo0,
        hi0,
        var_ff,
        in_order,
        out_order,
        fixed_nodes,
        fixed_moving,
        M_fixed_moving,
        fixed_const_max,
        m_row,
        m_col,
        m_val,
        vs_const_max,
        inv_diag,
        one_node,
        one_col,
        one_m,
        one_s0,
        one_off,
        free_only,
        free_sn,
        free_off,
        rest_row,
        rest_col,
        rest_val,
        rest_free,
        rest_sn,
    )


@njit(inline="always")
def _layer_step(x, u, lo, hi, a0, om, relax, r):  # pragma: no cover - compiled
    """The update of one vector of first-layer nodes from ``a0`` (target ``x``), as
    cd_sweeps' clipped step: stores the new values, returns the residual max."""
    ui = vload(u, a0)
    l = vload(lo, a0)
    h = vload(hi, a0)
    xc = vmin(vmax(x, l), h)
    r = vmax(r, vabs(vsub(xc, ui)))
    if relax:
        xc = vmin(vmax(madd(ui, om, vsub(x, ui)), l), h)
    vstore(u, a0, xc)
    return r


@njit(inline="always")
def _node_step(x, u, lo, hi, i, omega, relax, res):  # pragma: no cover - compiled
    """One node's clipped step (cd_sweeps' ``_clipped_step``); returns the residual max."""
    ui = u[i]
    xc = min(max(x, lo[i]), hi[i])
    r = abs(xc - ui)
    if relax:
        xc = min(max(ui + omega * (x - ui), lo[i]), hi[i])
    u[i] = xc
    if r > res:
        return r
    return res


@kernel(F64_2D, F64_2D, F64, F64, F64, INT, F64, FLOAT, FLOAT, INT, F64, F64)
def two_layer_sweeps(
    GA, GT, q, lo, hi, na, u, omega, tol_v, max_sweeps, history, state
):  # pragma: no cover - compiled
    """:func:`resbench.solvers._kernels.cd_sweeps` for one sample on a free graph of two
    layers (:func:`resbench.batch.network.two_layer_maps`: nodes ``[0, na)`` coupled
    only to nodes ``[na, n)`` and back, as a one-hidden-layer DRN's hidden and output
    nodes: a bipartite graph numbered by colour class), with the couplings held dense
    so that the sweep runs as SIMD (DRN-1H, one digit: 5 sweeps in ~25 µs, ~65 on the
    CSR).  No free–free
    diodes; ``lo`` / ``hi`` are the bounds (±inf where none).

    ``GA[h, a]`` is the scaled coupling (g / diag) of node ``a`` to node ``na + h``;
    ``GT[a, h]`` that of node ``na + h`` to node ``a`` (``GT`` padded with zero columns
    to a whole register tile).  Node ``a``'s update x = q_a + Σ_h GA[h, a] · u_{na+h}
    adds its terms in ascending h, as the CSR row of ascending columns does; the nodes
    of the first layer are independent of each other, so they are updated four vectors
    of nodes at a time.  Each second-layer node then sums its terms in ascending a,
    the sums of a tile of nodes held in registers.  The terms the CSR lacks are zeros,
    and adding a zero product leaves a sum unchanged, so every update, residual and
    stopping decision is cd_sweeps' own, bit for bit (a zero's sign aside); the
    stopping rule is its shared code (:func:`resbench.solvers._kernels._after_sweep`).

    Returns (status, sweeps, res_v of the last sweep, error estimate in V), as
    cd_sweeps."""
    n = u.shape[0]
    H = n - na
    Hp = GT.shape[1]
    L = lanes(u)
    T = 4 * L
    relax = omega != 1.0
    om = splat(omega, u)
    zero = splat(0.0, u)
    qh = np.zeros(Hp)  # the second layer's q, padded to whole tiles
    for h in range(H):
        qh[h] = q[na + h]
    xh = np.empty(Hp)
    lanes_out = np.empty(L)
    res_v = np.inf
    est = np.inf
    for it in range(max_sweeps):
        r0 = zero
        r1 = zero
        r2 = zero
        r3 = zero
        a0 = 0
        while a0 + T <= na:  # first layer: four vectors of nodes at a time
            t1 = a0 + L
            t2 = a0 + 2 * L
            t3 = a0 + 3 * L
            x0 = vload(q, a0)
            x1 = vload(q, t1)
            x2 = vload(q, t2)
            x3 = vload(q, t3)
            for h in range(H):
                uh = splat(u[na + h], u)
                x0 = madd(x0, vload2(GA, h, a0), uh)
                x1 = madd(x1, vload2(GA, h, t1), uh)
                x2 = madd(x2, vload2(GA, h, t2), uh)
                x3 = madd(x3, vload2(GA, h, t3), uh)
            r0 = _layer_step(x0, u, lo, hi, a0, om, relax, r0)
            r1 = _layer_step(x1, u, lo, hi, t1, om, relax, r1)
            r2 = _layer_step(x2, u, lo, hi, t2, om, relax, r2)
            r3 = _layer_step(x3, u, lo, hi, t3, om, relax, r3)
            a0 += T
        while a0 + L <= na:
            x0 = vload(q, a0)
            for h in range(H):
                x0 = madd(x0, vload2(GA, h, a0), splat(u[na + h], u))
            r0 = _layer_step(x0, u, lo, hi, a0, om, relax, r0)
            a0 += L
        vstore(lanes_out, 0, vmax(vmax(r0, r1), vmax(r2, r3)))
        res = 0.0
        for t in range(L):
            if lanes_out[t] > res:
                res = lanes_out[t]
        for a in range(a0, na):  # the last nodes one at a time
            x = q[a]
            for h in range(H):
                x += GA[h, a] * u[na + h]
            res = _node_step(x, u, lo, hi, a, omega, relax, res)
        for h0 in range(0, Hp, T):  # second layer: a tile of sums in registers
            y0 = vload(qh, h0)
            y1 = vload(qh, h0 + L)
            y2 = vload(qh, h0 + 2 * L)
            y3 = vload(qh, h0 + 3 * L)
            for a in range(na):
                ua = splat(u[a], u)
                y0 = madd(y0, vload2(GT, a, h0), ua)
                y1 = madd(y1, vload2(GT, a, h0 + L), ua)
                y2 = madd(y2, vload2(GT, a, h0 + 2 * L), ua)
                y3 = madd(y3, vload2(GT, a, h0 + 3 * L), ua)
            vstore(xh, h0, y0)
            vstore(xh, h0 + L, y1)
            vstore(xh, h0 + 2 * L, y2)
            vstore(xh, h0 + 3 * L, y3)
        for h in range(H):
            res = _node_step(xh[h], u, lo, hi, na + h, omega, relax, res)
        res_v = res
        stop, est = _after_sweep(res_v, u, tol_v, history, state, it)
        if stop:
            return CD_CONVERGED, it + 1, res_v, est
    return CD_SWEEP_LIMIT, max_sweeps, res_v, est


@kernel(
    *(F64_2F, F64, F64_2D, F64, F64_2D, F64_2D, F64_2D, I64, FLOAT),  # product, start
    *(F64_2D, F64_2D, INT, F64, F64, FLOAT, INT, F64, F64),  # two-layer sweeps
    *(F64, PLAN, F64),  # offset0, the voltage plan (Network._voltage_plan), s0
    *(F64_2D, F64_2D, F64_2D, F64, F64_2D, F64_2D),  # Cn, Q, U, vs, UT, V
)
def one_sample(
    Ap,
    c0,
    X,
    inv_diag,
    LO,
    HI,
    S,
    vcols,
    floor,
    GA,
    GT,
    na,
    lo1,
    hi1,
    tol,
    max_sweeps,
    history,
    state,
    offset0,
    plan,
    s0,
    Cn,
    Q,
    U,
    vs,
    UT,
    V,
):  # pragma: no cover - compiled
    """One sample of a Network in the common case, in one call: the kernels the general
    path calls one after another, with the same arguments, in the same order, so the
    same numbers bit for bit (tests/test_network_one.py), without the Python between
    them (~0.1 ms of a ~0.3 ms call on DRN-1H).  The case: a dense input map read by
    the sample's nonzero columns (``Ap``, ``X``: :meth:`Network._paired`), a two-layer
    free graph (``GA``, ``GT``, ``na``), shared bounds, no free–free diodes, float64, a
    cold start.

    :func:`resbench.batch._kernels.gemv_nonzero` (``Cn``), :func:`start_columns`
    (``Q``, ``U``, ``vs``), :func:`two_layer_sweeps` at ω = 1 for at most one chunk of
    ``max_sweeps`` (the caller passes ``min(limit, auto_sweeps' chunk)``) to the
    tolerance ``tol · vs[0]``, then :func:`resbench.batch._kernels.assemble_voltages_s`
    into ``V``.  Returns (status, sweeps): status 0 when the sweeps converged as
    ``auto_sweeps`` would stop (its estimate within the tolerance) and ``V`` holds the
    answer; else 1, ``V`` untouched, and the caller takes the general path (ω updates,
    the sweep limit, the polish)."""
    gemv_nonzero(Ap, c0, X, Cn)
    start_columns(Cn, inv_diag, LO, HI, S, vcols, floor, _NO_VMAX, Q, U, vs)
    n = Q.shape[0]
    q = np.empty(n)
    u = np.empty(n)
    for i in range(n):
        q[i] = Q[i, 0]
        u[i] = U[i, 0]
    tol_v = tol * vs[0]
    status, sweeps, _, est = two_layer_sweeps(
        GA, GT, q, lo1, hi1, na, u, 1.0, tol_v, max_sweeps, history, state
    )
    if status != CD_CONVERGED or not est <= tol_v:
        return 1, sweeps
    for i in range(n):
        UT[0, i] = u[i]
    assemble_voltages_s(offset0, *plan, s0, S, UT, V)
    return 0, sweeps
