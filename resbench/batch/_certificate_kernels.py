"""numba kernels of the batched certificate (resbench.batch.certificate); no I/O.

* :func:`column_keys`, :func:`columns_equal`, :func:`fold_dense`, :func:`fold_csr`
  group the batch's voltage columns that are equal up to sign (or zero) in every
  sample and fold the conductances' columns accordingly
  (:func:`folded_csr_add_product` multiplies a folded CSR).
* :func:`scale_maxima` finds, per sample, the largest total branch current at a node
  and the largest total current over total conductance (the certificate's scales)
  by branch and bound: every node's total lies within bounds that follow from the
  product ``p = W v`` (given by the caller) and the neighbours' extreme voltages
  (exact within round-off where the neighbours lie on one side); only the nodes
  whose upper bound can still beat the best exact value are summed exactly, best
  bound first, on the folded rows.
  The rows of source-held nodes are bounded per (row, sample) where they can
  reach a floor (``_lazy_bounds``: float32 dots of those pairs only).
* :func:`tile_extremes`, :func:`span_copy`, :func:`row_abs_max` give the voltage
  ranges and largest values the bounds start from, in vectorised passes (a running
  maximum is stored as ``max + 0.0``: LLVM turns a select of the stored value into a
  conditional store, which it does not vectorise; a maximum over one array, a
  reduction, is :func:`resbench._fmath.fmax`: a select is not reduced in vectors).
* :func:`feasibility` gives each sample's worst violated equation and the diodes'
  anode-cathode voltages; :func:`grounded_check` does feasibility and balancing in
  one node-major pass when every cluster is one node.
* :func:`balance_clusters` chooses the unknown currents of voltage sources, shorts,
  inductors and tight diodes exactly as :func:`resbench.certificate._unknown_currents`
  does for clusters of one node or of one branch, and flags a sample holding any
  other cluster (the caller certifies that one with the scalar code).

Most kernels run on one thread.  Those marked ``parallel`` (:func:`fast_scan`,
:func:`columns_to_rows`) deal out samples or columns over numba's threads, whose large
products also run there (:func:`resbench.threads.split_matmul`): no BLAS thread is left
spinning after a product to slow them (on a 2-core machine, OpenBLAS's own threads
made both the kernels and the next products slower).  Small batches run them on one
thread (:func:`resbench.threads.one_thread`: no parallel region to wake workers for).
Arrays named ``*_t`` are node-major ``[n, B]`` (as the matrix products give them); the
others are sample-major ``[B, ...]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types

from resbench._fmath import fmax, fmin
from resbench._jit import BOOL, F64, FLOAT, I32, I64, INT, kernel
from resbench._unionfind import find_root as _root

F64_2D = types.float64[:, ::1]
F32_2D = types.float32[:, ::1]
U8 = types.uint8[::1]
B1 = types.boolean[::1]


K_EXACT = 8  # rows with at most this many folded entries are summed exactly, not bounded
SELECT_MAX = 8  # up to this many candidates of a sample are ordered by selection, not sorted
SLACK = 1e-12  # relative slack on every bound, for the float64 round-off of the sums


# ------------------------------------------------------------------ column folding
@kernel(F64_2D, F64)
def column_keys(v, r):  # pragma: no cover - compiled
    """Per column j of ``v`` ``[B, n]``: its sign (that of its first nonzero value; 0 for
    a column of zeros) and the key sum_b sign_j v[b, j] r[b], summed in sample order, so
    that columns equal up to sign have bitwise equal keys; and per row its sum (NaN or
    inf where the row holds one: the caller's check for non-finite samples, in the
    same pass).  One pass, row by row."""
    nb, n = v.shape
    sign = np.zeros(n)
    key = np.zeros(n)
    sums = np.empty(nb)
    for b in range(nb):
        rb = r[b]
        row = v[b]
        sums[b] = _sum(row)
        for j in range(n):  # branch-free (vectorised)
            x = row[j]
            s = sign[j]
            t = 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)
            s = (s if s != 0.0 else t) + 0.0  # + 0.0: a store LLVM vectorises
            sign[j] = s
            key[j] += s * x * rb
    return sign, key, sums


@kernel(F64_2D)
def row_abs_max(x):  # pragma: no cover - compiled
    """Per row of ``x[B, m]``: its sum (NaN or inf where the row holds one) and its
    largest ``|x|`` (0 when empty; meaningless in a row that is not finite)."""
    nb = x.shape[0]
    sums = np.empty(nb)
    out = np.empty(nb)
    for b in range(nb):
        sums[b] = _sum(x[b])
        out[b] = _abs_max(x[b])
    return sums, out


@njit(cache=True, fastmath={"reassoc"})
def _sum(x):  # pragma: no cover - compiled
    """sum_j x_j in any order (vectorised): NaN or inf when any x_j is (or the sum of
    finite values overflows), as the caller needs it, whatever the order."""
    s = 0.0
    for j in range(x.shape[0]):
        s += x[j]
    return s


@kernel(F64_2D, F64, I64, I64)
def columns_equal(v_t, sign, first, second):  # pragma: no cover - compiled
    """For each pair p: is sign v_t[first[p]] == sign v_t[second[p]] in every sample?
    ``v_t`` node-major ``[n, B]`` (a column of the batch is a contiguous row)."""
    m = first.shape[0]
    out = np.ones(m, dtype=np.bool_)
    for p in range(m):
        a = first[p]
        c = second[p]
        sa = sign[a]
        sc = sign[c]
        for b in range(v_t.shape[1]):
            if sa * v_t[a, b] != sc * v_t[c, b]:
                out[p] = False
                break
    return out


@kernel(F64_2D, I64, F64, INT)
def fold_dense(w, slot, sig, width):  # pragma: no cover - compiled
    """A dense block ``w[rows, cols]`` with its columns summed into ``width`` groups:
    ``(sum_j sig_j w[:, j], sum_j w[:, j])`` over the columns j of each group
    (``slot[j]``; -1: a column of zeros, left out).  The first gives ``W v`` from one
    voltage per group, the second ``W |v|`` from its magnitude."""
    rows, cols = w.shape
    ws = np.zeros((rows, width))
    wa = np.zeros((rows, width))
    for r in range(rows):
        for c in range(cols):
            s = slot[c]
            if s >= 0:
                g = w[r, c]
                ws[r, s] += sig[c] * g
                wa[r, s] += g
    return ws, wa


@kernel(I64, I32, F64, I64, F64)
def fold_csr(indptr, indices, data, grp, sig):  # pragma: no cover - compiled
    """The conductances' CSR rows with their columns folded: one entry per (row, group,
    sign), conductances summed.  ``grp[j]`` is column j's group (the index of its
    representative column; -1: a column of zeros) and ``sig[j]`` its sign against the
    representative.  Returns (indptr, column of the representative or -1, sign,
    conductance); the total at node k is then sum_p g_p |v_k - sign_p v[col_p]|."""
    n = indptr.shape[0] - 1
    nnz = indices.shape[0]
    fptr = np.zeros(n + 1, dtype=np.int64)
    fcol = np.empty(nnz, dtype=np.int64)
    fsg = np.empty(nnz)
    fg = np.empty(nnz)
    pos_slot = np.full(n + 1, -1, dtype=np.int64)  # per representative (+1: zeros)
    neg_slot = np.full(n + 1, -1, dtype=np.int64)
    q = 0
    for k in range(n):
        start = q
        for p in range(indptr[k], indptr[k + 1]):
            j = indices[p]
            gj = grp[j]
            s = sig[j] if gj >= 0 else 1.0
            key = gj + 1
            slots = pos_slot if s > 0.0 else neg_slot
            at = slots[key]
            if at < start:
                slots[key] = q
                fcol[q] = gj
                fsg[q] = s
                fg[q] = data[p]
                q += 1
            else:
                fg[at] += data[p]
        fptr[k + 1] = q
    return fptr, fcol[:q].copy(), fsg[:q].copy(), fg[:q].copy()


# ------------------------------------------------------------------ layouts
TB = 32  # side of the blocks the transposes below copy (both sides stay in cache)


@njit(cache=True, fastmath={"nnan", "ninf", "nsz", "reassoc"})
def _abs_max(x):  # pragma: no cover - compiled
    """max_j |x_j| of finite values (the caller zeroes samples holding NaN or inf),
    vectorised: a maximum is exact in any order."""
    m = 0.0
    for j in range(x.shape[0]):
        m = fmax(abs(x[j]), m)
    return m


@kernel(F64_2D, INT, INT, F32_2D)
def span_copy(v, c0, c1, h32):  # pragma: no cover - compiled
    """``h32[b] = v[b, c0:c1]`` in float32, and per sample the largest and smallest of
    those voltages ``[B]`` (float64, exact): the range of the neighbours of rows whose
    entries lie in columns c0:c1 (finite values: the caller zeroes the others)."""
    nb = v.shape[0]
    hi = np.empty(nb)
    lo = np.empty(nb)
    for b in range(nb):
        run = v[b, c0:c1]
        out = h32[b]
        for j in range(c1 - c0):
            out[j] = run[j]
        hi[b], lo[b] = _extremes(run)
    return hi, lo


@njit(cache=True, fastmath={"nnan", "ninf", "nsz", "reassoc"})
def _extremes(x):  # pragma: no cover - compiled
    """(max, min) of finite values, vectorised (exact in any order)."""
    h = x[0]
    lw = x[0]
    for j in range(x.shape[0]):
        a = x[j]
        h = fmax(a, h)
        lw = fmin(a, lw)
    return h, lw


@kernel(F64_2D, INT)
def tile_extremes(v_t, tile):  # pragma: no cover - compiled
    """Per sample, the largest and smallest voltage of every ``tile`` consecutive nodes
    ``[n_tiles, B]`` of node-major ``v_t[n, B]``, the largest ``|v|`` ``[B]``, and per
    node its largest ``|v|`` over the batch ``[n]`` (node-major passes, vectorised over
    the samples; the caller transposes with numpy, ~5x faster than a numba loop)."""
    n, nb = v_t.shape
    nt = (n + tile - 1) // tile
    hi = np.empty((nt, nb))
    lo = np.empty((nt, nb))
    big = np.zeros(nb)
    node_max = np.empty(n)
    for t in range(nt):
        h = hi[t]
        lw = lo[t]
        first = v_t[t * tile]
        for b in range(nb):
            h[b] = first[b]
            lw[b] = first[b]
        node_max[t * tile] = _abs_max(first)
        for k in range(t * tile + 1, min(n, (t + 1) * tile)):
            row = v_t[k]
            for b in range(nb):  # + 0.0: stores LLVM vectorises (not conditional ones)
                x = row[b]
                y = h[b]
                h[b] = (x if x > y else y) + 0.0
                y = lw[b]
                lw[b] = (x if x < y else y) + 0.0
            node_max[k] = _abs_max(row)
        for b in range(nb):
            m = max(abs(h[b]), abs(lw[b]))
            big[b] = m if m > big[b] else big[b]
    return hi, lo, big, node_max


@kernel(F64_2D, F64_2D, I64, I64, F64_2D, I64, F64, F64, F64_2D, BOOL, B1, FLOAT, F64)
def range_extremes(  # pragma: no cover - compiled
    tile_hi, tile_lo, t0, t1, v_t, rid, diag, inv_g, t0_t, has_t0, rows, i_floor, v_floor
):  # fmt: skip
    """Per range r of tiles ``t0[r] .. t1[r]`` (inclusive) and sample: the largest and
    smallest voltage over those tiles ``[n_ranges, B]``; and which of ``rows`` need
    their product (:func:`_rows_needing_product`, on the ranges ``rid`` of the nodes;
    none when ``rows`` is empty)."""
    nr = t0.shape[0]
    nb = tile_hi.shape[1]
    hi = np.full((nr, nb), -np.inf)
    lo = np.full((nr, nb), np.inf)
    for r in range(nr):
        h = hi[r]
        lw = lo[r]
        for t in range(t0[r], t1[r] + 1):
            th = tile_hi[t]
            tl = tile_lo[t]
            for b in range(nb):
                h[b] = th[b] if th[b] > h[b] else h[b]
                lw[b] = tl[b] if tl[b] < lw[b] else lw[b]
    if rows.shape[0] == 0:
        return hi, lo, np.zeros(0, dtype=np.bool_)
    need = _rows_needing_product(
        v_t, hi, lo, rid, diag, inv_g, t0_t, has_t0, rows, i_floor, v_floor
    )  # fmt: skip
    return hi, lo, need


@kernel(F64_2D, I64, F64_2D, parallel=True)
def gather_columns(v, cols, out):  # pragma: no cover - compiled
    """``out[b, k] = v[b, cols[k]]`` (both C-contiguous: numpy's ``v[:, cols]`` comes
    back column-major, which the kernels' declared C layout would not take), the rows
    spread over numba's threads."""
    k = cols.shape[0]
    for b in prange(v.shape[0]):
        row = v[b]
        o = out[b]
        for t in range(k):
            o[t] = row[cols[t]]


@kernel(F64_2D, F64_2D, INT, F64_2D)
def nonzero_columns_product(mt, x, q, out):  # pragma: no cover - compiled
    """``out[i, b] = Σ_j mt[j, q + i] · x[b, j]`` for ``i < out.shape[0]``: the product
    ``M[q : q + rows] @ x.T`` from ``mt = M.T`` (a column of M is a row of mt), each
    sample summing only the columns of its nonzero values (a zero value adds nothing
    to a finite map: exact algebra; the caller has checked x is finite).  For a few
    samples, where a GEMV would read every column of the map."""
    nb, k = x.shape
    rows = out.shape[0]
    acc = np.empty(rows)
    for b in range(nb):
        acc[:] = 0.0
        for j in range(k):
            xj = x[b, j]
            if xj != 0.0:
                col = mt[j, q : q + rows]
                for i in range(rows):
                    acc[i] += col[i] * xj
        for i in range(rows):
            out[i, b] = acc[i]


@kernel(F64_2D, INT, INT, F64_2D, parallel=True)
def columns_to_rows(v, c0, c1, out):  # pragma: no cover - compiled
    """``out[c0:c1] = v[:, c0:c1].T`` (``v[B, n]`` sample-major, ``out[n, B]``
    node-major), in TB x TB blocks (both sides stay in cache), the column blocks
    spread over numba's threads: DRN-1H's 1034 free nodes x 256 samples in
    ~0.2 ms, against ~0.7 ms for numpy's strided copy."""
    nb = v.shape[0]
    nblk = (c1 - c0 + TB - 1) // TB
    for q in prange(nblk):
        k0 = c0 + q * TB
        k1 = min(c1, k0 + TB)
        for b0 in range(0, nb, TB):
            b1 = min(nb, b0 + TB)
            for k in range(k0, k1):
                row = out[k]
                for b in range(b0, b1):
                    row[b] = v[b, k]


@kernel(F64_2D, F64_2D, F64)
def kcl_transposed(p_t, v_t, diag):  # pragma: no cover - compiled
    """``p_t[n, B] - diag * v_t`` transposed to ``[B, n]`` (blocked): the current the
    resistors (and whatever ``p_t`` holds besides) push into each node."""
    n, nb = p_t.shape
    out = np.empty((nb, n))
    for k0 in range(0, n, TB):
        for b0 in range(0, nb, TB):
            for k in range(k0, min(n, k0 + TB)):
                d = diag[k]
                for b in range(b0, min(nb, b0 + TB)):
                    out[b, k] = p_t[k, b] - d * v_t[k, b]
    return out


# ------------------------------------------------------------------ the scales
@njit(cache=True)
def _exact_total(fptr, fcol, fsg, fg, v, t0_t, has_t0, k, b):  # pragma: no cover
    """Sum of |resistor currents| at node k of sample b (folded rows), plus its known
    part."""
    vk = v[b, k]
    s = 0.0
    for p in range(fptr[k], fptr[k + 1]):
        j = fcol[p]
        if j < 0:
            s += fg[p] * abs(vk)
        else:
            s += fg[p] * abs(vk - fsg[p] * v[b, j])
    return s + t0_t[k, b] if has_t0 else s


@njit(cache=True)
def _best_exact(  # pragma: no cover - compiled
    fptr, fcol, fsg, fg, v, t0_t, has_t0, up, exact_row, weight, cand, key, exact, b
):
    """max over the candidate nodes of exact total x weight, best bound (-key) first,
    stopping when no bound left can beat the best; -1.0 when there is none.  A few
    candidates (the common case) are taken best first by selection, no sort."""
    best = -1.0
    m = key.shape[0]
    if m <= SELECT_MAX:
        order = np.empty(m, dtype=np.int64)
        used = np.zeros(m, dtype=np.bool_)
        for q in range(m):  # selection: the best bound left
            at = -1
            for r in range(m):
                if not used[r] and (at < 0 or key[r] < key[at]):
                    at = r
            used[at] = True
            order[q] = at
    else:
        order = np.argsort(key)
    for q in range(m):
        if -key[order[q]] < best:
            break
        k = cand[order[q]]
        t = exact[k]
        if t < 0.0:
            if exact_row[k]:
                t = up[k, b]
            else:
                t = _exact_total(fptr, fcol, fsg, fg, v, t0_t, has_t0, k, b)
            exact[k] = t
        t *= weight[k]
        if t > best:
            best = t
    return best


@njit(cache=True)
def _row_exact(v_t, t0_t, has_t0, fptr, fcol, fsg, fg, k, acc):  # pragma: no cover
    """The exact total at node k in every sample, into ``acc[B]`` (node-major,
    vectorised over the samples)."""
    nb = acc.shape[0]
    vk_row = v_t[k]
    for b in range(nb):
        acc[b] = t0_t[k, b] if has_t0 else 0.0
    for p in range(fptr[k], fptr[k + 1]):
        j = fcol[p]
        g = fg[p]
        if j < 0:
            for b in range(nb):
                acc[b] += g * abs(vk_row[b])
        else:
            s = fsg[p]
            vj = v_t[j]
            for b in range(nb):
                acc[b] += g * abs(vk_row[b] - s * vj[b])


@njit(cache=True)
def _bounds(  # pragma: no cover - compiled
    v_t, p_t, a_t, a_ok, a_up, a_slack, p_ok, ext_hi, ext_lo, rid, diag, rel, slack, t0_t,
    has_t0, inv_g, fptr, fcol, fsg, fg, exact_row, up, floor1, floor2, lazy,
):  # fmt: skip
    """Fill ``up[n, B]`` with an upper bound of every node's total (its exact value on
    the rows summed exactly) and raise the floors to the best lower bounds.  Rows
    without ``p_ok`` (their product was not computed) are bounded by the neighbours'
    range alone, with the known part as their lower bound.  ``lazy`` rows are left
    to :func:`_lazy_bounds`."""
    n, nb = v_t.shape
    acc = np.empty(nb)
    zero = np.zeros(nb)
    big = np.full(nb, np.inf)  # no W |v|: that bound never binds
    for k in range(1, n):
        if lazy[k]:
            continue  # bounded by _lazy_bounds, once the floors are known
        d = diag[k]
        gk = inv_g[k]
        vk_row = v_t[k]
        ur = up[k]
        if exact_row[k]:  # few entries: the exact sum, vectorised over the samples
            _row_exact(v_t, t0_t, has_t0, fptr, fcol, fsg, fg, k, acc)
            for b in range(nb):
                t = acc[b]
                ur[b] = t
                floor1[b] = t if t > floor1[b] else floor1[b]
                x = t * gk
                floor2[b] = x if x > floor2[b] else floor2[b]
            continue
        r = rid[k]
        hr = ext_hi[r]
        lr = ext_lo[r]
        pr = p_t[k]
        tr = t0_t[k] if has_t0 else zero
        ar = a_t[k] if a_ok[k] else big
        al = a_t[k] if a_ok[k] else zero
        au = a_up[k]  # W |v| within round-off: a_t x a_up + a_slack bounds it
        ad = 2.0 - au  # ... and (a_t - a_slack) x (2 - a_up) from below
        asl = a_slack[k]
        rd = rel[k] * d
        sk = slack[k]
        if not p_ok[k]:  # no product: the range bounds
            for b in range(nb):
                vk = vk_row[b]
                hi = hr[b]
                lo = lr[b]
                m = max(max(abs(hi), abs(lo)), abs(vk))
                t0 = tr[b]
                e = rd * m + sk + SLACK * (2.0 * d * m + t0)
                ur[b] = min(d * max(hi - vk, vk - lo), d * abs(vk) + ar[b] * au + asl) + e + t0
                lower = max(d * max(max(vk - hi, lo - vk), 0.0) - e, 0.0) + t0
                floor1[b] = max(floor1[b], lower) + 0.0
                floor2[b] = max(floor2[b], lower * gk) + 0.0
            continue
        # branch-free (vectorised): at a one-sided node the total is |lin| within e;
        # elsewhere |lin| - e is still a lower bound (triangle inequality)
        for b in range(nb):
            vk = vk_row[b]
            hi = hr[b]
            lo = lr[b]
            m = max(max(abs(hi), abs(lo)), abs(vk))
            t0 = tr[b]
            e = rd * m + sk + SLACK * (2.0 * d * m + t0)
            alin = abs(d * vk - pr[b])  # |sum_j g (v_k - v_j)|
            inside = min(d * max(hi - vk, vk - lo), d * abs(vk) + ar[b] * au + asl) + e
            upper = (alin + e if (vk >= hi) | (vk <= lo) else inside) + t0
            # and sum_j g |v_j| - diag |v_k| (W |v| within its round-off; 0 without it)
            above = (al[b] - asl) * ad - d * abs(vk) - e
            lower = max(max(alin - e, above), 0.0) + t0
            ur[b] = upper
            floor1[b] = max(floor1[b], lower) + 0.0  # + 0.0: a vectorised store
            floor2[b] = max(floor2[b], lower * gk) + 0.0


@njit(cache=True, fastmath={"reassoc", "contract"})
def _row_dots(w, h32, idx, count, out):  # pragma: no cover - compiled
    """``out[r] = sum_j w_j h32[idx[r], j]`` for r < count, in float32 and in any order
    (vectorised, eight or four samples per pass over ``w``: independent sums hide
    the multiply-adds' latency): the caller bounds the round-off by (len + 4) x
    1.2e-7 x sum_j |w_j h_j|, whatever the order."""
    m = w.shape[0]
    r = 0
    while r + 8 <= count:
        h0 = h32[idx[r]]
        h1 = h32[idx[r + 1]]
        h2 = h32[idx[r + 2]]
        h3 = h32[idx[r + 3]]
        h4 = h32[idx[r + 4]]
        h5 = h32[idx[r + 5]]
        h6 = h32[idx[r + 6]]
        h7 = h32[idx[r + 7]]
        s0 = np.float32(0.0)
        s1 = np.float32(0.0)
        s2 = np.float32(0.0)
        s3 = np.float32(0.0)
        s4 = np.float32(0.0)
        s5 = np.float32(0.0)
        s6 = np.float32(0.0)
        s7 = np.float32(0.0)
        for j in range(m):
            x = w[j]
            s0 += x * h0[j]
            s1 += x * h1[j]
            s2 += x * h2[j]
            s3 += x * h3[j]
            s4 += x * h4[j]
            s5 += x * h5[j]
            s6 += x * h6[j]
            s7 += x * h7[j]
        out[r] = s0
        out[r + 1] = s1
        out[r + 2] = s2
        out[r + 3] = s3
        out[r + 4] = s4
        out[r + 5] = s5
        out[r + 6] = s6
        out[r + 7] = s7
        r += 8
    while r + 4 <= count:
        h0 = h32[idx[r]]
        h1 = h32[idx[r + 1]]
        h2 = h32[idx[r + 2]]
        h3 = h32[idx[r + 3]]
        s0 = np.float32(0.0)
        s1 = np.float32(0.0)
        s2 = np.float32(0.0)
        s3 = np.float32(0.0)
        for j in range(m):
            x = w[j]
            s0 += x * h0[j]
            s1 += x * h1[j]
            s2 += x * h2[j]
            s3 += x * h3[j]
        out[r] = s0
        out[r + 1] = s1
        out[r + 2] = s2
        out[r + 3] = s3
        r += 4
    while r < count:
        h0 = h32[idx[r]]
        s0 = np.float32(0.0)
        for j in range(m):
            s0 += w[j] * h0[j]
        out[r] = s0
        r += 1


@njit(cache=True)
def _grow(a, size):  # pragma: no cover - compiled
    """``a`` copied into a longer array (the first ``size`` entries kept), with room for
    ``a``'s length more at least."""
    out = np.empty(2 * a.shape[0] + size, dtype=a.dtype)
    out[:size] = a[:size]
    return out


@njit(cache=True, fastmath={"reassoc", "contract"})
def _pair_dots(w0, w1, h32, idx, count, out0, out1):  # pragma: no cover - compiled
    """``out0[r] = sum_j w0_j h32[idx[r], j]`` and ``out1[r]`` the same with ``w1``, for
    r < count, in float32 and in any order: tiles of two rows by four samples (eight
    independent sums in registers; each voltage loaded once for both rows, each
    weight once for four samples: about 2.5 times the multiply-adds per second of one
    row by eight samples, :func:`_row_dots`).  A short last tile repeats its last
    sample (its extra sums are not stored).  Round-off as :func:`_row_dots`'s."""
    m = w0.shape[0]
    r = 0
    while r < count:
        i0 = idx[r]
        i1 = idx[min(r + 1, count - 1)]
        i2 = idx[min(r + 2, count - 1)]
        i3 = idx[min(r + 3, count - 1)]
        h0 = h32[i0]
        h1 = h32[i1]
        h2 = h32[i2]
        h3 = h32[i3]
        s00 = np.float32(0.0)
        s01 = np.float32(0.0)
        s02 = np.float32(0.0)
        s03 = np.float32(0.0)
        s10 = np.float32(0.0)
        s11 = np.float32(0.0)
        s12 = np.float32(0.0)
        s13 = np.float32(0.0)
        for j in range(m):
            a = w0[j]
            c = w1[j]
            x0 = h0[j]
            x1 = h1[j]
            x2 = h2[j]
            x3 = h3[j]
            s00 += a * x0
            s01 += a * x1
            s02 += a * x2
            s03 += a * x3
            s10 += c * x0
            s11 += c * x1
            s12 += c * x2
            s13 += c * x3
        out0[r] = s00
        out1[r] = s10
        if r + 1 < count:
            out0[r + 1] = s01
            out1[r + 1] = s11
        if r + 2 < count:
            out0[r + 2] = s02
            out1[r + 2] = s12
        if r + 3 < count:
            out0[r + 3] = s03
            out1[r + 3] = s13
        r += 4


@njit(cache=True)
def _range_bounds(vr, hr, lr, tr, d, ub, lw):  # pragma: no cover - compiled
    """Per sample, the range bounds of a row whose neighbours' voltages lie in ``[lr,
    hr]``: ``lw`` = ``d dist(v_k, [lo, hi])`` (exact within ``e`` where every neighbour
    lies on one side, a lower bound anywhere) and ``ub`` = ``d max(hi - v_k, v_k -
    lo)``, each with the known part ``tr`` and the float64 slack ``e`` (branch-free:
    vectorised)."""
    for b in range(vr.shape[0]):
        vk = vr[b]
        hi = hr[b]
        lo = lr[b]
        m = max(max(abs(hi), abs(lo)), abs(vk))
        t0 = tr[b]
        e = SLACK * (2.0 * d * m + t0)
        a = vk - hi
        c = lo - vk
        out = a if a > c else c  # distance from v_k to [lo, hi]
        out = out if out > 0.0 else 0.0
        lower = d * out - e
        lw[b] = (lower if lower > 0.0 else 0.0) + t0
        far = -a if -a > -c else -c  # max(hi - v_k, v_k - lo)
        ub[b] = d * far + e + t0


@njit(cache=True)
def _reach(ub, gk, floor1, floor2, flag):  # pragma: no cover - compiled
    """``flag[b]``: can the upper bound ``ub[b]`` reach a floor; returns whether any
    can (branch-free)."""
    reach = 0
    for b in range(ub.shape[0]):
        u = ub[b]
        f = (u >= floor1[b]) | (u * gk >= floor2[b])
        flag[b] = f
        reach |= f
    return reach != 0


@njit(cache=True)
def _live_rows(
    lazy_rows, diag, inv_g, node_max, span_max, has_t0, floor1, floor2
):  # pragma: no cover - compiled
    """Which ``lazy_rows`` may still reach a floor of some sample: without known parts,
    a row's range bound is at most ``diag (node_max + span_max)`` (widened by 1e-11
    for its round-off); a row below every sample's floors is done (the floors only
    rise).  With known parts every row is live."""
    nr = lazy_rows.shape[0]
    live = np.ones(nr, dtype=np.bool_)
    if has_t0:
        return live
    min1 = np.inf
    min2 = np.inf
    for b in range(floor1.shape[0]):
        min1 = min(min1, floor1[b])
        min2 = min(min2, floor2[b])
    for q in range(nr):
        k = lazy_rows[q]
        u = diag[k] * (node_max[k] + span_max) * (1.0 + 1e-11)
        live[q] = u >= min1 or u * inv_g[k] >= min2
    return live


@njit(cache=True)
def _lazy_bounds(  # pragma: no cover - compiled
    v_t, span_hi, span_lo, diag, t0_t, has_t0, inv_g, lazy_rows, lslot, pin32, h32, lrel,
    lslack, floor1, floor2, node_max,
):  # fmt: skip
    """Bounds of the ``lazy_rows`` (rows of source-held nodes, whose product ``W v``
    was not computed), per (row, sample), raising the floors; returns the (row,
    sample, upper bound) of the pairs whose bound reached the floors when examined.

    The neighbours' range is ``[span_lo, span_hi]`` per sample (the extremes of the
    columns the rows span).  The range bounds (the total lies between ``diag
    dist(v_k, [lo, hi])``, exact where every neighbour lies on one side, and ``diag
    max(hi - v_k, v_k - lo)``) raise the floors, one vectorised pass per row, and a
    pair whose upper bound cannot reach them is done: the floors only rise, so it
    can never hold a scale (no bound is stored for it).  (A first pass raising the
    floors from every row's range bounds before any product saved DRN-1H ~5% of its
    pairs and cost as much as it saved.)  Where it can,
    ``p = sum_j g v_j`` of that row and sample alone is multiplied in float32
    (``pin32[lslot[k]]`` against the sample's voltages ``h32[b]`` of the columns the
    rows span; round-off below ``lrel diag max(|lo|, |hi|) + lslack``) and bounds the
    total as in :func:`_bounds` (``|diag v_k - p|`` within round-off where the
    neighbours lie on one side, a lower bound anywhere).  Rows are multiplied two
    at a time over the samples either needs (:func:`_pair_dots`; a DRN's consecutive
    held rows are one pixel's ``x`` and ``-x``, which reach the floors in the same
    samples).  A DRN's digits: ~165 of 1568 input rows per sample reach the floors
    (the saturated pixels), against ~850 rows x every sample in a product of rows.
    A row is skipped whole when no sample can reach a floor: its range bound is
    below ``diag (node_max[k] + max |v| over its range's samples)`` (``node_max``:
    each node's largest |v| over the batch), below every sample's floors (without
    known parts ``t0``); a DRN's pixels that never come near the batch's largest."""
    nb = v_t.shape[1]
    span_max = max(_abs_max(span_hi), _abs_max(span_lo))  # over the batch
    live = _live_rows(lazy_rows, diag, inv_g, node_max, span_max, has_t0, floor1, floor2)
    cap = 64 * nb + 16
    pk = np.empty(cap, dtype=np.int64)
    pb = np.empty(cap, dtype=np.int64)
    pu = np.empty(cap)
    size = 0
    # one block of every sample: blocks whose float32 voltages stay in L2 (DRN-1H: 64
    # samples) were slower (each row read once per block, its tiles shorter: 1H
    # 3.6-4.9 -> 5.3-6.9 ms)
    pk, pb, pu, size = _lazy_block(
        v_t, span_hi, span_lo, diag, t0_t, has_t0, inv_g, lazy_rows, lslot, pin32, h32,
        lrel, lslack, floor1, floor2, live, 0, nb, pk, pb, pu, size,
    )  # fmt: skip
    return pk[:size], pb[:size], pu[:size]


@njit(cache=True)
def _lazy_block(  # pragma: no cover - compiled
    v_t, span_hi, span_lo, diag, t0_t, has_t0, inv_g, lazy_rows, lslot, pin32, h32, lrel,
    lslack, floor1, floor2, live, b0, b1, pk, pb, pu, size,
):  # fmt: skip
    """:func:`_lazy_bounds` on the samples ``b0:b1``: the ``live`` rows in order, two
    at a time where both reach a floor; pairs appended to ``pk, pb, pu`` from
    ``size`` (grown as needed).  Returns ``(pk, pb, pu, size)``."""
    nb = b1 - b0
    zero = np.zeros(nb)
    hs = span_hi[b0:b1]
    ls = span_lo[b0:b1]
    f1s = floor1[b0:b1]
    f2s = floor2[b0:b1]
    hb = h32[b0:b1]
    nr = lazy_rows.shape[0]
    ub = np.empty((2, nb))  # the pending row's and this row's upper bounds
    lw = np.empty(nb)
    flag = np.zeros((2, nb), dtype=np.uint8)
    pend = -1  # a row that reaches the floors, waiting for a second one
    idx = np.empty(nb, dtype=np.int64)
    dots = np.empty((2, nb), dtype=np.float32)
    q = 0
    while q <= nr:
        k = -1
        if q < nr and live[q]:
            k = lazy_rows[q]
            s = 0 if pend < 0 else 1
            tr = t0_t[k, b0:b1] if has_t0 else zero
            _range_bounds(v_t[k, b0:b1], hs, ls, tr, diag[k], ub[s], lw)
            gk = inv_g[k]
            for b in range(nb):  # + 0.0: stores LLVM vectorises (not conditional ones)
                lower = lw[b]
                f1 = f1s[b]
                f1s[b] = (lower if lower > f1 else f1) + 0.0
                f2 = f2s[b]
                x = lower * gk
                f2s[b] = (x if x > f2 else f2) + 0.0
            if not _reach(ub[s], gk, f1s, f2s, flag[s]):
                k = -1
            elif pend < 0:
                pend = k
                k = -1
        q += 1
        if pend < 0 or (k < 0 and q <= nr):
            continue  # nothing to multiply yet (a pending row waits for a second)
        rows2 = 2 if k >= 0 else 1
        count = 0
        for b in range(nb):  # branch-free compaction of the samples either needs
            idx[count] = b
            count += flag[0, b] | (flag[1, b] if rows2 == 2 else 0)
        if size + rows2 * count > pk.shape[0]:  # room for these rows' pairs
            pk = _grow(pk, size)
            pb = _grow(pb, size)
            pu = _grow(pu, size)
        if rows2 == 2:
            _pair_dots(pin32[lslot[pend]], pin32[lslot[k]], hb, idx, count, dots[0], dots[1])
        else:
            _row_dots(pin32[lslot[pend]], hb, idx, count, dots[0])
        for s in range(rows2):
            kk = pend if s == 0 else k
            d = diag[kk]
            gk = inv_g[kk]
            vr = v_t[kk, b0:b1]
            tr = t0_t[kk, b0:b1] if has_t0 else zero
            rd = lrel[kk] * d
            sk = lslack[kk]
            us = ub[s]
            fs = flag[s]
            ds = dots[s]
            for r in range(count):
                b = idx[r]
                upper = us[b]
                vk = vr[b]
                hi = hs[b]
                lo = ls[b]
                mh = max(abs(hi), abs(lo))
                t0 = tr[b]
                ep = rd * mh + sk + SLACK * (2.0 * d * max(mh, abs(vk)) + t0)
                alin = abs(d * vk - np.float64(ds[r]))
                if vk >= hi or vk <= lo:
                    x = alin + ep + t0
                    upper = x if x < upper else upper
                lower = max(alin - ep, 0.0) + t0
                f1s[b] = lower if lower > f1s[b] else f1s[b]
                x = lower * gk
                f2s[b] = x if x > f2s[b] else f2s[b]
                if fs[b]:  # (a sample only the other row needs: its floors, no bound)
                    pk[size] = kk
                    pb[size] = b0 + b
                    pu[size] = upper
                    size += 1
        pend = -1
    return pk, pb, pu, size


@njit(cache=True)
def _candidates(up, inv_g, floor1, floor2, lazy, pk, pb, pu):  # pragma: no cover - compiled
    """Per sample, the nodes whose upper bound reaches floor1, and those whose upper
    bound x inv_g reaches floor2: two CSR-like lists (start[B + 1], node, -bound).
    Bounds from ``up`` (rows not ``lazy``, in node order) and from the lazy pairs
    (row ``pk``, sample ``pb``, bound ``pu``).  Two sweeps: count, then fill."""
    n, nb = up.shape
    count1 = np.zeros(nb + 1, dtype=np.int64)
    count2 = np.zeros(nb + 1, dtype=np.int64)
    for k in range(1, n):
        if lazy[k]:
            continue
        gk = inv_g[k]
        ur = up[k]
        for b in range(nb):
            if ur[b] >= floor1[b]:
                count1[b + 1] += 1
            if gk > 0.0 and ur[b] * gk >= floor2[b]:
                count2[b + 1] += 1
    for q in range(pk.shape[0]):
        b = pb[q]
        gk = inv_g[pk[q]]
        if pu[q] >= floor1[b]:
            count1[b + 1] += 1
        if gk > 0.0 and pu[q] * gk >= floor2[b]:
            count2[b + 1] += 1
    start1 = np.cumsum(count1)
    start2 = np.cumsum(count2)
    node1 = np.empty(start1[nb], dtype=np.int64)
    key1 = np.empty(start1[nb])
    node2 = np.empty(start2[nb], dtype=np.int64)
    key2 = np.empty(start2[nb])
    fill1 = start1[:nb].copy()
    fill2 = start2[:nb].copy()
    for k in range(1, n):
        if lazy[k]:
            continue
        gk = inv_g[k]
        ur = up[k]
        for b in range(nb):
            u = ur[b]
            if u >= floor1[b]:
                node1[fill1[b]] = k
                key1[fill1[b]] = -u
                fill1[b] += 1
            if gk > 0.0 and u * gk >= floor2[b]:
                node2[fill2[b]] = k
                key2[fill2[b]] = -u * gk
                fill2[b] += 1
    for q in range(pk.shape[0]):
        b = pb[q]
        k = pk[q]
        gk = inv_g[k]
        u = pu[q]
        if u >= floor1[b]:
            node1[fill1[b]] = k
            key1[fill1[b]] = -u
            fill1[b] += 1
        if gk > 0.0 and u * gk >= floor2[b]:
            node2[fill2[b]] = k
            key2[fill2[b]] = -u * gk
            fill2[b] += 1
    return start1, node1, key1, start2, node2, key2


@kernel(F64_2D, F64_2D, F64_2D, F64_2D, B1, F64, F64, B1, F64_2D, F64_2D, I64, F64, F64, F64,
        F64_2D, BOOL, F64, I64, I64, F64, F64, B1, FLOAT, F64, F64_2D, B1, I64, I64, F32_2D,
        F32_2D, F64, F64, F64, F64, F64)  # fmt: skip
def scale_maxima(  # pragma: no cover - compiled
    v, v_t, p_t, a_t, a_ok, a_up, a_slack, p_ok, ext_hi, ext_lo, rid, diag, rel, slack,
    t0_t, has_t0, inv_g, fptr, fcol, fsg, fg, exact_row, i_floor, v_floor, up,
    lazy, lazy_rows, lslot, pin32, h32, lrel, lslack, node_max, span_hi, span_lo,
):  # fmt: skip
    """Per sample: (max(i_floor, the largest total |current| at a non-ground node),
    max(v_floor, the largest total x inv_g)), the certificate's i_scale and v_scale.

    A node's total is sum_j g |v_k - v_j| (the folded CSR ``fptr, fcol, fsg, fg``) plus
    its known part ``t0_t`` (current sources, gmin leak).  Rows of at most K_EXACT
    entries (``exact_row``) are summed exactly; the others are bounded from
    ``p_t`` = sum_j g v_j (within ``rel * diag * m + slack``, m the largest |v| among
    the node and the voltages ``ext_hi / ext_lo`` of the node range ``rid`` holding
    its neighbours): the total is exactly ``±(diag v_k - p)`` when every neighbour
    lies on one side of v_k, else between ``|diag v_k - p|`` and
    ``min(diag max(hi - v_k, v_k - lo), diag |v_k| + a)`` (``a = a_t a_up + a_slack``
    bounds sum_j g |v_j| on the rows where ``a_ok``: ``a_t`` may be a float32
    product); rows without ``p_ok`` have no product, only the range bound.  Then per
    sample only the nodes whose upper bound reaches the best lower bound (or the
    floor) are summed exactly, best bound first.
    ``lazy`` rows (listed in ``lazy_rows``; none of them ``p_ok`` or ``exact_row``) are
    multiplied per sample only where their range bound can reach the sample's floors
    (:func:`_lazy_bounds`: float32 rows ``pin32[lslot[k]]`` against ``h32[B, span]``;
    ``node_max``: each node's largest |v| over the batch, to skip whole rows;
    ``span_hi``, ``span_lo``: per sample the extremes of the voltages of those columns,
    the range of the lazy rows' neighbours, from :func:`span_copy`).
    ``v`` is ``[B, n]``; the other 2-d arrays node-major ``[., B]``; ``up`` ``[n, B]``
    is scratch.
    """
    n, nb = v_t.shape
    floor1 = np.full(nb, i_floor)
    floor2 = v_floor.copy()
    _bounds(v_t, p_t, a_t, a_ok, a_up, a_slack, p_ok, ext_hi, ext_lo, rid, diag, rel, slack,
            t0_t, has_t0, inv_g, fptr, fcol, fsg, fg, exact_row, up, floor1, floor2,
            lazy)  # fmt: skip
    pk, pb, pu = _lazy_bounds(v_t, span_hi, span_lo, diag, t0_t, has_t0, inv_g, lazy_rows,
                              lslot, pin32, h32, lrel, lslack, floor1, floor2,
                              node_max)  # fmt: skip
    # a row that is a candidate in many samples is summed exactly for all of them at
    # once (vectorised), cheaper than one by one (DRN-XS: the hidden rows)
    exact_row = exact_row.copy()
    acc = np.empty(nb)
    for k in range(1, n):
        if exact_row[k] or lazy[k]:
            continue
        gk = inv_g[k]
        ur = up[k]
        count = 0
        if gk > 0.0:
            for b in range(nb):  # branch-free (vectorised)
                count += (ur[b] >= floor1[b]) | (ur[b] * gk >= floor2[b])
        else:
            for b in range(nb):
                count += ur[b] >= floor1[b]
        if 4 * count > nb:
            _row_exact(v_t, t0_t, has_t0, fptr, fcol, fsg, fg, k, acc)
            exact_row[k] = True
            for b in range(nb):
                t = acc[b]
                ur[b] = t
                floor1[b] = t if t > floor1[b] else floor1[b]
                x = t * gk
                floor2[b] = x if x > floor2[b] else floor2[b]
    start1, cand1, key1, start2, cand2, key2 = _candidates(
        up, inv_g, floor1, floor2, lazy, pk, pb, pu
    )
    ones = np.ones(n)
    i_scale = np.empty(nb)
    v_scale = np.empty(nb)
    exact = np.full(n, -1.0)
    for b in range(nb):
        s1, e1 = start1[b], start1[b + 1]
        s2, e2 = start2[b], start2[b + 1]
        for q in range(s1, e1):
            exact[cand1[q]] = -1.0
        for q in range(s2, e2):
            exact[cand2[q]] = -1.0
        best = _best_exact(fptr, fcol, fsg, fg, v, t0_t, has_t0, up, exact_row, ones,
                           cand1[s1:e1], key1[s1:e1], exact, b)  # fmt: skip
        i_scale[b] = best if best > i_floor else i_floor
        best = _best_exact(fptr, fcol, fsg, fg, v, t0_t, has_t0, up, exact_row, inv_g,
                           cand2[s2:e2], key2[s2:e2], exact, b)  # fmt: skip
        v_scale[b] = best if best > v_floor[b] else v_floor[b]
    return i_scale, v_scale


@kernel(F64_2D, F64_2D, B1, F64, F64, F64, F64_2D, BOOL, F64, F64, F64_2D, F64_2D, I64, FLOAT,
        F64)  # fmt: skip
def scale_floors(  # pragma: no cover - compiled
    v_t, p_t, p_ok, diag, rel, slack, t0_t, has_t0, inv_g, big, ext_hi, ext_lo, rid,
    i_floor, v_floor,
):  # fmt: skip
    """Per sample, lower bounds of the scales of :func:`scale_maxima` (i_scale,
    v_scale) from what needs no product beyond ``p_t``: ``max(i_floor, the largest
    lower bound of a node's total)`` and ``max(v_floor, the same x inv_g)``.

    Rows ``p_ok`` (their product ``p = sum_j g v_j`` computed): the total is at least
    ``|diag v_k - p| - e`` (triangle inequality; ``e`` the product's round-off bound,
    ``rel diag big + slack``, ``big`` the sample's largest |v|, at least the
    neighbours'), plus the known part ``t0``.  The other rows: at least ``diag
    dist(v_k, [lo, hi])`` (``ext_hi / ext_lo`` of the node range ``rid`` holding the
    neighbours; exact where they all lie on one side, as a DRN's input nodes), as in
    :func:`_range_bounds`.  Each is a lower bound of the exact scale, so an answer
    within ``rtol`` x these floors is within the exact tolerances too
    (``BatchCertifier.certify(scales="bound")``)."""
    n, nb = v_t.shape
    f1 = np.full(nb, i_floor)
    f2 = v_floor.copy()
    zero = np.zeros(nb)
    low = np.empty(nb)
    for k in range(1, n):
        d = diag[k]
        tr = t0_t[k] if has_t0 else zero
        vr = v_t[k]
        if p_ok[k]:
            pr = p_t[k]
            rd = rel[k] * d
            sk = slack[k]
            for b in range(nb):  # branch-free (vectorised)
                t0 = tr[b]
                m = big[b]
                x = abs(d * vr[b] - pr[b]) - rd * m - sk - SLACK * (2.0 * d * m + t0)
                low[b] = (x if x > 0.0 else 0.0) + t0
        else:
            hr = ext_hi[rid[k]]
            lr = ext_lo[rid[k]]
            for b in range(nb):
                vk = vr[b]
                hi = hr[b]
                lo = lr[b]
                m = max(max(abs(hi), abs(lo)), abs(vk))
                t0 = tr[b]
                a = vk - hi
                c = lo - vk
                out = a if a > c else c  # distance from v_k to [lo, hi]
                out = out if out > 0.0 else 0.0
                x = d * out - SLACK * (2.0 * d * m + t0)
                low[b] = (x if x > 0.0 else 0.0) + t0
        gk = inv_g[k]
        for b in range(nb):  # + 0.0: stores LLVM vectorises (not conditional ones)
            x = low[b]
            f1[b] = (x if x > f1[b] else f1[b]) + 0.0
            x = x * gk
            f2[b] = (x if x > f2[b] else f2[b]) + 0.0
    return f1, f2


@kernel(F64_2D, F64_2D, INT, F64, I64, F64, INT, I64, F64_2D, parallel=True)
def fast_scan(v, vval, a0, ratios, rep, sig, parts, take, x):  # pragma: no cover - compiled
    """One pass over the voltages ``v[B, n]`` and the sources' values ``vval[B, nv]`` of a
    circuit whose voltage sources hold the nodes ``a0 .. a0 + nv - 1`` to ground and
    whose held nodes' neighbours are all other nodes (a DRN's inputs).  Per sample:
    whether any of its voltages and values is inf or NaN (the caller's check; read
    from their bits in the loops below, no pass of its own), its largest |v| and
    |value|, the sources' feasibility (ground's |v| and
    ``max |v[a0 + j] - v[0] - vval[j]|``), and lower bounds of the scales from the held
    rows.  Held row j's total is at least ``d_j dist(v[a0 + j], [lo, hi])`` (``[lo,
    hi]`` the extremes of every node not held, ground included: a range holding every
    neighbour; as :func:`_range_bounds`), so the largest is at least ``d_min`` x the
    largest distance (that of the held voltages' extremes), less the slack
    ``SLACK 2 d_max m``; the same x inv_g with the ratios ``d inv_g``: ``ratios = (d_min,
    d_max, r_min, r_max)`` over the held rows.  (Per row, the products took ~2 ns a
    value, most of the pass; a DRN's input rows' ``diag`` differ by a few per cent.)
    Whether every sample's held voltages come in pairs of opposite values
    (``cat(x, -x)``): interleaved (``v[a0 + 2i + 1] == -v[a0 + 2i]``) and in halves
    (``v[a0 + h + i] == -v[a0 + i]``), and whether the claimed column groups hold:
    ``v[a0 + j] == sig[j] v[a0 + rep[j]]`` for every j (``sig[j] = 0``: a column of zeros;
    ``rep`` empty: no claim), exact comparisons; the pairs only where no claim holds
    (a claim that holds makes them unneeded: both are then returned False; a run whose
    claim breaks checks the samples it skipped).  The samples are cut into ``parts``
    runs spread over numba's threads (a pass bound by memory: two cores read it
    ~1.6x faster than one on this VM); each run stops checking a claim once one of
    its samples breaks it.  While a row is in cache it also gathers ``x[b, t] =
    v[b, take[t]]`` (the product's columns, as the caller expects them from the claim:
    no second pass over the voltages; ``take`` empty: nothing).  Returns (not_finite,
    big, big_x, src_feas, floor1, floor2, interleaved, halves, grouped)."""
    nb, n = v.shape
    nv = vval.shape[1]
    e0 = a0 + nv
    h = nv // 2
    bad = np.empty(nb, dtype=np.bool_)
    big = np.empty(nb)
    big_x = np.empty(nb)
    src = np.empty(nb)
    f1 = np.empty(nb)
    f2 = np.empty(nb)
    parts = max(1, min(parts, nb))
    flags = np.zeros((parts, 3), dtype=np.uint8)  # a run's broken claims
    pairs = nv % 2 == 0 and nv > 0
    claim = rep.shape[0] == nv and nv > 0
    for part in prange(parts):
        inter = pairs
        halves = pairs
        grouped = claim
        r0 = part * nb // parts
        for b in range(r0, (part + 1) * nb // parts):
            row = v[b]
            xr = vval[b]
            pin = row[a0:e0]
            hi, lo, nf = _extremes_finite(row[:a0])
            if e0 < n:
                h2, l2, nf2 = _extremes_finite(row[e0:])
                hi = h2 if h2 > hi else hi
                lo = l2 if l2 < lo else lo
                nf = nf or nf2
            m0 = max(abs(hi), abs(lo))
            hx, lx, bx, dd, nf3 = _held_row(pin, xr, row[0])
            bad[b] = nf or nf3
            m = max(m0, max(abs(hx), abs(lx)))
            big[b] = m
            big_x[b] = bx
            g = abs(row[0])
            src[b] = dd if dd > g else g
            out = max(max(hx - hi, lo - lx), 0.0)  # the largest distance to [lo, hi]
            f1[b] = max(ratios[0] * out - SLACK * (2.0 * ratios[1] * m), 0.0)
            f2[b] = max(ratios[2] * out - SLACK * (2.0 * ratios[3] * m), 0.0)
            if grouped:
                grouped = _groups_bad(pin, rep, sig) == 0
                if not grouped:  # the pairs, unchecked while the claim held
                    for b2 in range(r0, b):
                        inter, halves = _pairs_hold(v[b2, a0:e0], h, inter, halves)
            if not grouped:
                inter, halves = _pairs_hold(pin, h, inter, halves)
            xb = x[b]
            for t in range(take.shape[0]):
                xb[t] = row[take[t]]
        flags[part, 0] = not inter
        flags[part, 1] = not halves
        flags[part, 2] = not grouped
    grouped = claim
    for part in range(parts):
        grouped = grouped and flags[part, 2] == 0
    if grouped:  # the pairs were not checked: not needed
        return bad, big, big_x, src, f1, f2, False, False, True
    inter = pairs
    halves = pairs
    for part in range(parts):
        if claim and flags[part, 2] == 0:  # its claim held: its pairs are unchecked
            for b in range(part * nb // parts, (part + 1) * nb // parts):
                inter, halves = _pairs_hold(v[b, a0:e0], h, inter, halves)
        else:
            inter = inter and flags[part, 0] == 0
            halves = halves and flags[part, 1] == 0
    return bad, big, big_x, src, f1, f2, inter, halves, False


@kernel(F64_2D, F64_2D, I64, F64, F64, F64, F64, F64, FLOAT, F64, F64, F64, FLOAT, I32, I32, I64,
        I64, INT)  # fmt: skip
def fast_balance(  # pragma: no cover - compiled
    p_t, v_t, rows, diag, rel, slack, inv_g, big, i_floor, v_floor, f1p, f2p, rtol, da, db,
    bptr, bidx, nf,
):  # fmt: skip
    """:func:`scale_floors` and :func:`grounded_check` of the direct path in one
    kernel, on one thread (node-major ``p_t, v_t [n, B]``; the free rows are read once
    for the floors and once for the balance).  Samples split over two threads were no
    faster (DRN-1H b256 ~0.6-0.9 ms either way), and a parallel region costs 20-50 µs
    to wake sleeping workers; blocks of 32 or 64 samples, read the second time from
    cache, were slower (1.4-1.9 ms: a page walk per row and block on this VM).
    ``rows``: the free nodes (none held by a sign-free branch); every diode joins one
    of them to ground, listed once at it, or is a self loop (the caller checks:
    :meth:`BatchCertifier._setup_fast`).  The floors start from ``max(i_floor, f1p)``
    and ``max(v_floor, f2p)`` (the held rows', :func:`fast_scan`); the tolerances are
    ``rtol`` x them, as ``BatchCertifier.certify`` makes them.  Returns per sample
    (i_scale, v_scale, feasibility of the diodes, KCL, complementarity) and the diode
    currents ``[nd, B]``."""
    nb = v_t.shape[1]
    nd = da.shape[0]
    i_scale = np.empty(nb)
    v_scale = np.empty(nb)
    feas = np.zeros(nb)
    kcl = np.zeros(nb)
    compl = np.zeros(nb)
    x_dio = np.empty((nd, nb))
    for b in range(nb):
        x = f1p[b]
        i_scale[b] = x if x > i_floor else i_floor
        x = f2p[b]
        y = v_floor[b]
        v_scale[b] = x if x > y else y
    for q in range(rows.shape[0]):
        k = rows[q]
        d = diag[k]
        rd = rel[k] * d
        sk = slack[k]
        gk = inv_g[k]
        pr = p_t[k]
        vr = v_t[k]
        for b in range(nb):  # branch-free (vectorised)
            m = big[b]
            x = abs(d * vr[b] - pr[b]) - rd * m - sk - SLACK * 2.0 * d * m
            low = x if x > 0.0 else 0.0
            f = i_scale[b]
            i_scale[b] = (low if low > f else f) + 0.0
            y = low * gk
            f = v_scale[b]
            v_scale[b] = (y if y > f else f) + 0.0
    tol = np.empty(nb)
    for b in range(nb):
        tol[b] = -(rtol * v_scale[b])
    res = np.empty(nb)
    done = np.empty(nb, dtype=np.uint8)
    for q in range(rows.shape[0]):
        k = rows[q]
        d = diag[k]
        pr = p_t[k]
        vr = v_t[k]
        for b in range(nb):
            res[b] = pr[b] - d * vr[b]
            done[b] = 0
        for e in range(bptr[k], bptr[k + 1]):
            i = bidx[e] - nf
            sign = -1.0 if da[i] == k else 1.0
            _diode_takes(res, done, v_t[da[i]], v_t[db[i]], x_dio[i], tol, sign, feas, compl)
        for b in range(nb):
            r = abs(res[b])
            f = kcl[b]
            kcl[b] = (r if r > f else f) + 0.0
    for i in range(nd):  # self loops: no current, v_a - v_b = 0
        if da[i] == db[i]:
            xr = x_dio[i]
            for b in range(nb):
                xr[b] = 0.0
    return i_scale, v_scale, feas, kcl, compl, x_dio


@njit(cache=True, inline="always")
def _diode_takes(res, done, va, vb, xr, neg_tol, sign, fe, co):  # pragma: no cover - compiled
    """One node's diode (anode and cathode voltages ``va, vb``; ``sign`` -1 where the
    node is its anode) takes the node's imbalance ``res`` in the samples not yet
    balanced (``done``) where it is tight (``v_a - v_b >= neg_tol``, ``neg_tol =
    -feas_tol``) and the imbalance flows its way: its current ``xr`` is then ``|res|``
    (else 0) and ``res`` is 0.  The diode's feasibility (``v_a - v_b``) and
    complementarity (``-(v_a - v_b) x``) raise ``fe`` and ``co`` (branch-free:
    vectorised)."""
    for b in range(res.shape[0]):
        rb = res[b]
        dr = va[b] - vb[b]
        take = (done[b] == 0) & (dr >= neg_tol[b]) & (sign * rb < 0.0)
        x = abs(rb) if take else 0.0
        xr[b] = x + 0.0
        res[b] = (0.0 if take else rb) + 0.0
        done[b] = done[b] | np.uint8(take)
        f = fe[b]
        fe[b] = (dr if dr > f else f) + 0.0
        c = -dr * x
        f = co[b]
        co[b] = (c if c > f else f) + 0.0


#: a float64's exponent bits: ``bits & EXP_BITS == EXP_BITS`` for inf and NaN only
EXP_BITS = np.int64(0x7FF0000000000000)


@njit(cache=True, fastmath={"nnan", "ninf", "nsz", "reassoc"})
def _held_row(pin, xr, g0):  # pragma: no cover - compiled
    """(max pin, min pin, max |xr|, max |pin - g0 - xr|, any not finite) of one sample,
    in one vectorised loop.  The maxima hold for finite values (exact in any order); the
    last, whether any value of ``pin`` or ``xr`` is inf or NaN, is read from their bits
    (integer operations: the fast-math flags, which assume finite values, do not touch
    it), and the caller drops such a sample."""
    hx = pin[0]
    lx = pin[0]
    bx = 0.0
    dd = 0.0
    pb = pin.view(np.int64)
    xb = xr.view(np.int64)
    nf = np.int64(0)
    for j in range(pin.shape[0]):
        x = pin[j]
        y = xr[j]
        hx = fmax(x, hx)
        lx = fmin(x, lx)
        bx = fmax(abs(y), bx)
        dd = fmax(abs(x - g0 - y), dd)
        nf |= np.int64((pb[j] & EXP_BITS) == EXP_BITS) | np.int64((xb[j] & EXP_BITS) == EXP_BITS)
    return hx, lx, bx, dd, nf != 0


@njit(cache=True, fastmath={"nnan", "ninf", "nsz", "reassoc"})
def _extremes_finite(x):  # pragma: no cover - compiled
    """(max, min, any not finite) of ``x``: :func:`_extremes` with the check of
    :func:`_held_row` (from the bits) in the same vectorised loop."""
    h = x[0]
    lw = x[0]
    xb = x.view(np.int64)
    nf = np.int64(0)
    for j in range(x.shape[0]):
        a = x[j]
        h = fmax(a, h)
        lw = fmin(a, lw)
        nf |= np.int64((xb[j] & EXP_BITS) == EXP_BITS)
    return h, lw, nf != 0


@njit(cache=True, fastmath={"nnan", "ninf", "nsz", "reassoc"})
def _pairs_hold(pin, h, inter, halves):  # pragma: no cover - compiled
    """(inter, halves) still holding after sample ``pin``: its ``cat(x, -x)`` pairs
    interleaved and in halves, each checked only while it holds."""
    if inter:
        inter = _pairs_bad(pin, h, 2, 1, 0) == 0
    if halves:
        halves = _pairs_bad(pin, h, 1, h, 0) == 0
    return inter, halves


@njit(cache=True, fastmath={"nnan", "ninf", "nsz", "reassoc"})
def _pairs_bad(pin, count, step, shift, start):  # pragma: no cover - compiled
    """How many of ``count`` pairs break ``pin[i + shift] == -pin[i]`` for i = start,
    start + step, ... (interleaved: step 2, shift 1; halves: step 1, shift h)."""
    bad = 0
    for q in range(count):
        i = start + q * step
        bad += pin[i + shift] != 0.0 - pin[i]
    return bad


@njit(cache=True, fastmath={"nnan", "ninf", "nsz", "reassoc"})
def _groups_bad(pin, rep, sig):  # pragma: no cover - compiled
    """How many columns break their claimed group: ``pin[j] != sig[j] pin[rep[j]]``."""
    bad = 0
    for j in range(pin.shape[0]):
        bad += pin[j] != sig[j] * pin[rep[j]]
    return bad


@njit(cache=True)
def _rows_needing_product(  # pragma: no cover - compiled
    v_t, ext_hi, ext_lo, rid, diag, inv_g, t0_t, has_t0, rows, i_floor, v_floor
):  # fmt: skip
    """Which of ``rows`` can hold a sample's scale, so that their product ``W v`` is
    worth computing: row k in sample b is ruled out when its range bound
    ``diag max(hi - v_k, v_k - lo)`` (+ its known part) is below the best one-sided
    lower bound ``diag dist(v_k, [lo, hi])`` of any of ``rows`` (the total at a node all
    of whose neighbours lie on one side is at least that), or the floors ``i_floor``,
    ``v_floor`` (and the same over the total conductance for v_scale).  Only a
    heuristic for which product to skip: the bounds of rows left out stay valid (the
    range bound), so the scales stay exact whatever this returns."""
    n, nb = v_t.shape
    f1 = np.full(nb, i_floor)
    f2 = v_floor.copy()
    for k in range(1, n):
        if not rows[k]:
            continue
        d = diag[k]
        gk = inv_g[k]
        vr = v_t[k]
        hr = ext_hi[rid[k]]
        lr = ext_lo[rid[k]]
        for b in range(nb):
            vk = vr[b]
            low = d * max(max(vk - hr[b], lr[b] - vk), 0.0)
            if has_t0:
                low += t0_t[k, b]
            f1[b] = low if low > f1[b] else f1[b]
            x = low * gk
            f2[b] = x if x > f2[b] else f2[b]
    need = np.zeros(n, dtype=np.bool_)
    for k in range(1, n):
        if not rows[k]:
            continue
        d = diag[k]
        gk = inv_g[k]
        vr = v_t[k]
        hr = ext_hi[rid[k]]
        lr = ext_lo[rid[k]]
        for b in range(nb):
            vk = vr[b]
            up = d * max(hr[b] - vk, vk - lr[b])
            if has_t0:
                up += t0_t[k, b]
            if up >= f1[b] or up * gk >= f2[b]:
                need[k] = True
                break
    return need


@kernel(F64_2D, INT, INT, INT, INT, I64, F64_2D, I64, I64, I64, I32, I32, F64, F64_2D,
        F64_2D, F64_2D, F64, F64, FLOAT, I64, F64, F64, F64, F64, FLOAT, F64, F64, FLOAT,
        I32, I32, I64, I64, INT)  # fmt: skip
def few_balance(  # pragma: no cover - compiled
    v, a0, nv, step, nh, extra, mt, s_r0, s_r1, s_q, np_ptr, np_idx, np_val, x, v_t, p_t,
    big, big_x, v_min, rows, diag, rel, slack, inv_g, i_floor, f1p, f2p, rtol, da, db,
    bptr, bidx, nf,
):  # fmt: skip
    """The direct path's certificate of a few samples after :func:`fast_scan`, in one
    call instead of a dozen (each a dispatch and numpy's glue around it: ~0.15 ms of a
    one-sample certificate on DRN-XS): the other nodes' voltages node-major into
    ``v_t`` (columns_to_rows; the held rows are left as they are: zero), the held
    columns of the pairs' layout (``a0 + j * step``, ``j < nh``) and the ``extra``
    nodes into ``x``, the KCL rows' product from them over the nonzero values only
    (:func:`nonzero_columns_product` per slab ``s_r0[i] .. s_r1[i]`` of ``mt``'s
    columns from ``s_q[i]``), the KCL rows' other conductances added
    (:func:`csr_add_product` of the CSR ``np_*``: the coupling ``w_np`` the batch path
    multiplies by blocks), the voltage floors
    ``max(big, big_x, v_min)``, then :func:`fast_balance`, whose results it returns."""
    nb, n = v.shape
    e0 = a0 + nv
    for b in range(nb):
        vb = v[b]
        for k in range(a0):
            v_t[k, b] = vb[k]
        for k in range(e0, n):
            v_t[k, b] = vb[k]
        xb = x[b]
        for j in range(nh):
            xb[j] = vb[a0 + j * step]
        for j in range(extra.shape[0]):
            xb[nh + j] = vb[extra[j]]
    for i in range(s_r0.shape[0]):
        nonzero_columns_product(mt, x, s_q[i], p_t[s_r0[i] : s_r1[i]])
    csr_add_product(np_ptr, np_idx, np_val, v_t, p_t, False)  # (rows not KCL: empty)
    v_floor = np.empty(nb)
    for b in range(nb):
        m = big[b] if big[b] >= big_x[b] else big_x[b]
        v_floor[b] = m if m >= v_min else v_min
    return fast_balance(
        p_t, v_t, rows, diag, rel, slack, inv_g, big, i_floor, v_floor, f1p, f2p, rtol, da,
        db, bptr, bidx, nf,
    )  # fmt: skip


@kernel(F64_2D, I32, I32, F64_2D, I32, I32)
def feasibility(v, fa, fb, vval, da, db):  # pragma: no cover - compiled
    """Per sample: the largest violation of ground (v0 = 0), of the sign-free branches
    (fa - fb = vval for the first vval.shape[1], the voltage sources; 0 for the rest:
    shorts, inductors) and of the diodes (anode <= cathode); and every diode's
    anode - cathode [B, nd]."""
    nb = v.shape[0]
    nv = vval.shape[1]
    nd = da.shape[0]
    feas = np.empty(nb)
    dv = np.empty((nb, nd))
    for b in range(nb):
        worst = abs(v[b, 0])
        for j in range(fa.shape[0]):
            d = v[b, fa[j]] - v[b, fb[j]]
            if j < nv:
                d = d - vval[b, j]
            d = abs(d)
            if d > worst:
                worst = d
        for i in range(nd):
            d = v[b, da[i]] - v[b, db[i]]
            dv[b, i] = d
            if d > worst:
                worst = d
        feas[b] = worst
    return feas, dv


@njit(cache=True)
def _union(parent, a, b):  # pragma: no cover - compiled
    x = _root(parent, a)
    y = _root(parent, b)
    if x < y:
        parent[y] = x
    elif y < x:
        parent[x] = y


@njit(cache=True)
def _balance_one(res, dv, tol, fa, fb, da, db, x_free, x_dio, b):  # pragma: no cover
    """One sample of :func:`balance_clusters`; returns 1 when it holds another kind of
    cluster (nothing written then)."""
    n = res.shape[1]
    nf = fa.shape[0]
    nd = da.shape[0]
    parent = np.arange(n)
    size = np.zeros(n, dtype=np.int64)
    unk = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=np.uint8)
    tight = np.empty(nd, dtype=np.uint8)
    for i in range(nd):
        tight[i] = 1 if dv[b, i] >= tol else 0
    for j in range(nf):
        if fa[j] != 0 and fb[j] != 0 and fa[j] != fb[j]:
            _union(parent, fa[j], fb[j])
    for i in range(nd):
        if tight[i] and da[i] != 0 and db[i] != 0 and da[i] != db[i]:
            _union(parent, da[i], db[i])
    for k in range(1, n):
        size[_root(parent, k)] += 1
    for j in range(nf):
        if fa[j] != fb[j]:
            unk[_root(parent, fa[j] if fa[j] != 0 else fb[j])] += 1
    for i in range(nd):
        if tight[i] and da[i] != db[i]:
            unk[_root(parent, da[i] if da[i] != 0 else db[i])] += 1
    for k in range(1, n):  # every cluster must be of a closed-form kind
        if parent[k] == k and unk[k] > 0 and size[k] > 1:
            if not (size[k] == 2 and unk[k] == 1):
                return 1
    # clusters of one node: the sign-free branches first, in order; two-node clusters
    for j in range(nf):
        a = fa[j]
        c = fb[j]
        if a == c:
            continue
        node = a if a != 0 else c
        if size[_root(parent, node)] == 1:
            if not done[node]:
                sign = -1.0 if a == node else 1.0
                x_free[b, j] = -res[b, node] * sign
                res[b, node] = 0.0
                done[node] = 1
        else:
            xi = 0.5 * (res[b, a] - res[b, c])
            x_free[b, j] = xi
            res[b, a] -= xi
            res[b, c] += xi
    # then the tight diodes, in order: in a one-node cluster the first whose
    # direction opposes the imbalance takes it
    for i in range(nd):
        a = da[i]
        c = db[i]
        if not tight[i] or a == c:
            continue
        node = a if a != 0 else c
        if size[_root(parent, node)] == 1:
            if not done[node]:
                sign = -1.0 if a == node else 1.0
                rn = res[b, node]
                if sign * rn < 0.0:
                    x_dio[b, i] = abs(rn)
                    res[b, node] = 0.0
                    done[node] = 1
        else:
            xi = 0.5 * (res[b, a] - res[b, c])
            if xi < 0.0:
                xi = 0.0
            x_dio[b, i] = xi
            res[b, a] -= xi
            res[b, c] += xi
    return 0


@njit(cache=True)
def _balance_grounded(res, dv, tol, fa, fb, da, db, x_free, x_dio, b):  # pragma: no cover
    """:func:`_balance_one` when every unknown joins a node to ground (or is a self
    loop): every cluster is one node, no union-find needed."""
    n = res.shape[1]
    done = np.zeros(n, dtype=np.uint8)
    for j in range(fa.shape[0]):
        a = fa[j]
        c = fb[j]
        if a == c:
            continue
        node = a if a != 0 else c
        if not done[node]:
            x_free[b, j] = -res[b, node] * (-1.0 if a == node else 1.0)
            res[b, node] = 0.0
            done[node] = 1
    for i in range(da.shape[0]):
        a = da[i]
        c = db[i]
        if a == c or dv[b, i] < tol:
            continue
        node = a if a != 0 else c
        if not done[node]:
            rn = res[b, node]
            if (-1.0 if a == node else 1.0) * rn < 0.0:
                x_dio[b, i] = abs(rn)
                res[b, node] = 0.0
                done[node] = 1


@kernel(F64_2D, F64_2D, F64, I32, I32, I32, I32, F64_2D, F64_2D, U8, BOOL, F64, F64)
def balance_clusters(
    res, dv, feas_tol, fa, fb, da, db, x_free, x_dio, fallback, grounded, kcl, compl
):  # pragma: no cover
    """Balance KCL with the unknown branch currents, per sample, in place on ``res``.

    Unknowns: the sign-free branches (fa -> fb: voltage sources, shorts, inductors) and
    the tight diodes (da -> db, ``dv >= -feas_tol``; current >= 0).  They join the
    non-ground nodes into clusters.  A cluster of one node (every unknown going to
    ground) is balanced by its first sign-free branch, else by its first tight diode
    whose direction opposes the imbalance; a cluster of two nodes joined by a single
    unknown splits their imbalance (clipped at 0 for a diode), as in
    resbench.certificate.  A sample holding any other cluster gets ``fallback = 1`` and
    its ``res`` row is left untouched.  ``x_free`` / ``x_dio`` (zeroed by the caller)
    receive the currents a -> b; ``kcl`` / ``compl`` the sample's largest imbalance
    left at a non-ground node and largest diode current × reverse voltage (not
    written for fallback samples).  ``grounded``: every unknown joins a node to
    ground (or is a self loop), so every cluster is one node (the caller knows it from
    the circuit; a faster path).
    """
    nb, n = res.shape
    for b in range(nb):
        if grounded:
            _balance_grounded(res, dv, -feas_tol[b], fa, fb, da, db, x_free, x_dio, b)
            fallback[b] = 0
        else:
            fallback[b] = _balance_one(res, dv, -feas_tol[b], fa, fb, da, db, x_free, x_dio, b)
        if fallback[b]:
            continue
        worst = 0.0
        for k in range(1, n):
            r = abs(res[b, k])
            worst = r if r > worst else worst
        kcl[b] = worst
        worst = 0.0
        for i in range(da.shape[0]):
            c = -dv[b, i] * x_dio[b, i]
            if dv[b, i] < 0.0 and c > worst:
                worst = c
        compl[b] = worst


@kernel(F64_2D, F64_2D, F64, INT, I32, I32, I32, I32, I64, I64, F64, BOOL, F64_2D)
def grounded_check(
    p_t, v_t, diag, nv, fa, fb, da, db, bptr, bidx, feas_tol, want_free, dv_t
):  # pragma: no cover - compiled
    """:func:`feasibility` and :func:`balance_clusters` in one node-major pass, for
    circuits whose unknown branches all join a node to ground (or are self loops):
    every cluster is one node, balanced by its first sign-free branch, else by its first
    tight diode whose direction opposes the imbalance (as ``_balance_grounded``).

    ``p_t[n, B]`` holds the current pushed into each node but the ``-diag v`` term;
    the first ``nv`` sign-free branches (the voltage sources) are left out of the
    feasibility returned (:func:`source_feasibility` gives theirs); ``bptr, bidx``: per node, its
    unknown branches in balancing order (sign-free j first, then diodes as nf + i).
    ``dv_t[nd, B]`` is scratch.  Returns per sample feasibility, KCL and
    complementarity residuals, the sign-free currents ``[nf, B]`` (``want_free``; else
    ``[nf, 0]``, and nodes held by a sign-free branch are not summed at all) and the
    diode currents ``[nd, B]``.
    """
    n, nb = v_t.shape
    nf = fa.shape[0]
    nd = da.shape[0]
    feas = np.zeros(nb)
    for j in range(nv, nf):
        va = v_t[fa[j]]
        vb = v_t[fb[j]]
        for b in range(nb):
            d = abs(va[b] - vb[b])
            f = feas[b]
            feas[b] = (d if d > f else f) + 0.0  # + 0.0: a store LLVM vectorises
    for i in range(nd):
        va = v_t[da[i]]
        vb = v_t[db[i]]
        dr = dv_t[i]
        for b in range(nb):
            d = va[b] - vb[b]
            dr[b] = d
            f = feas[b]
            feas[b] = (d if d > f else f) + 0.0
    x_free = np.zeros((nf, nb if want_free else 0))
    x_dio = np.zeros((nd, nb))
    kcl = np.zeros(nb)
    res = np.empty(nb)
    done = np.zeros(nb, dtype=np.uint8)
    neg_tol = np.empty(nb)
    for b in range(nb):
        neg_tol[b] = -feas_tol[b]
    for k in range(1, n):
        first = -1
        for q in range(bptr[k], bptr[k + 1]):
            if bidx[q] < nf:
                first = bidx[q]
                break
        if first >= 0 and not want_free:
            continue  # its first sign-free branch takes whatever is left
        d = diag[k]
        pr = p_t[k]
        vr = v_t[k]
        for b in range(nb):
            res[b] = pr[b] - d * vr[b]
        if first >= 0:
            sign = -1.0 if fa[first] == k else 1.0
            xr = x_free[first]
            for b in range(nb):
                xr[b] = -res[b] * sign
            continue
        for b in range(nb):
            done[b] = 0
        for q in range(bptr[k], bptr[k + 1]):
            i = bidx[q] - nf
            sign = -1.0 if da[i] == k else 1.0
            _take_current(res, done, dv_t[i], x_dio[i], neg_tol, sign)
        for b in range(nb):
            r = abs(res[b])
            f = kcl[b]
            kcl[b] = (r if r > f else f) + 0.0
    compl = np.zeros(nb)
    for i in range(nd):
        dr = dv_t[i]
        xr = x_dio[i]
        for b in range(nb):
            c = -dr[b] * xr[b]  # > 0 only where reverse biased (dr < 0), as x >= 0
            f = compl[b]
            compl[b] = (c if c > f else f) + 0.0
    return feas, kcl, compl, x_free, x_dio


@njit(cache=True)
def _take_current(res, done, dr, xr, neg_tol, sign):  # pragma: no cover - compiled
    """One node's diode (anode-cathode voltages ``dr``, currents ``xr``; ``sign`` -1
    where the node is its anode) takes the node's imbalance ``res`` in the samples
    not yet balanced (``done``) where it is tight (``dr >= neg_tol``, ``neg_tol =
    -feas_tol``) and the imbalance flows its way: its current is then ``|res|`` and
    ``res`` is 0 (branch-free: vectorised)."""
    for b in range(res.shape[0]):
        rb = res[b]
        take = (done[b] == 0) & (dr[b] >= neg_tol[b]) & (sign * rb < 0.0)
        x = xr[b]
        xr[b] = (abs(rb) if take else x) + 0.0
        res[b] = (0.0 if take else rb) + 0.0
        done[b] = done[b] | np.uint8(take)


@njit(cache=True, fastmath={"nnan", "ninf", "nsz", "reassoc"})
def _max_abs_diff(x, g, y):  # pragma: no cover - compiled
    """max_j |x_j - g - y_j| (finite values: the caller zeroes samples holding NaN or
    inf), vectorised: a maximum is exact in any order."""
    worst = 0.0
    for j in range(x.shape[0]):
        worst = fmax(abs(x[j] - g - y[j]), worst)
    return worst


@kernel(F64_2D, I32, I32, F64_2D, INT)
def source_feasibility(v, fa, fb, vval, a0):  # pragma: no cover - compiled
    """Per sample (``v[B, n]``, ``vval[B, nv]``): the largest violation of ground and
    of the voltages sources' equations v[fa] - v[fb] = vval (the first nv of fa, fb).
    ``a0 >= 0``: the sources hold nodes a0, a0 + 1, ... to ground (fa = a0 + j, fb = 0;
    a DRN's inputs), read as one contiguous, vectorised run."""
    nb = v.shape[0]
    nv = vval.shape[1]
    out = np.empty(nb)
    for b in range(nb):
        vr = v[b]
        xr = vval[b]
        worst = abs(vr[0])
        if a0 >= 0:
            d = _max_abs_diff(vr[a0 : a0 + nv], vr[0], xr)
            worst = d if d > worst else worst
        else:
            for j in range(nv):
                d = abs(vr[fa[j]] - vr[fb[j]] - xr[j])
                worst = d if d > worst else worst
        out[b] = worst
    return out


@kernel(I32, I32, F64, F64_2D, F64_2D, BOOL)
def csr_add_product(indptr, indices, data, u, out, absolute):  # pragma: no cover - compiled
    """``out += A u`` (``absolute``: ``A |u|``) for a CSR matrix A (``indptr, indices,
    data``) and node-major ``u[n, B]``, in place (no temporary as large as the batch),
    vectorised over B."""
    nb = u.shape[1]
    for r in range(indptr.shape[0] - 1):
        orow = out[r]
        for p in range(indptr[r], indptr[r + 1]):
            g = data[p]
            urow = u[indices[p]]
            if absolute:
                for b in range(nb):
                    orow[b] += g * abs(urow[b])
            else:
                for b in range(nb):
                    orow[b] += g * urow[b]


@kernel(I64, I64, F64, F64, F64_2D, F64_2D, BOOL)
def folded_csr_add_product(fptr, fcol, fsg, fg, u, out, absolute):  # pragma: no cover
    """``out += A u`` (``absolute``: ``A |u|``) for a CSR matrix A with its columns
    folded (:func:`fold_csr`: per entry the representative column ``fcol`` or -1 for a
    column of zeros, left out, its sign ``fsg`` and the summed conductance ``fg``), on
    node-major ``u[n, B]``, in place, vectorised over B."""
    nb = u.shape[1]
    for r in range(fptr.shape[0] - 1):
        orow = out[r]
        for p in range(fptr[r], fptr[r + 1]):
            j = fcol[p]
            if j < 0:
                continue
            urow = u[j]
            if absolute:
                g = fg[p]
                for b in range(nb):
                    orow[b] += g * abs(urow[b])
            else:
                g = fg[p] * fsg[p]
                for b in range(nb):
                    orow[b] += g * urow[b]
