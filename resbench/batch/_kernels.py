"""numba kernels of the batched solver (no I/O; callers in resbench.batch.network validate).

A batch is node-major, ``[n, B]`` (C-contiguous: a node's values over the samples are
contiguous), swept in *chunks* of up to CHUNK samples: one row of the free–free CSR is
streamed once per chunk and applied to its samples with SIMD.  Chunks are independent
and spread over numba's threads (``prange``).

Per sample, the sweeps and the stopping rule are those of the single solver
(:func:`resbench.solvers._kernels.cd_sweeps`): the same node order and update, the same
a-posteriori error estimate res_v · ρ / (1 − ρ) with ρ from the last 4 contraction ratios
or the geometric mean over 16, the same round-off stop.  A sample that meets its rule is
copied out at that sweep (``OUT``) and its sweep count recorded; its column keeps being
updated with the others of its chunk (cheaper than masking) but is no longer read.
The automatic over-relaxation follows the single solver: ω = 1 while the residual falls
fast; every 40 sweeps the slowest active sample's contraction rate updates ω by Young's
relation (one ω per chunk: the samples share one matrix, hence one spectral radius).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types

from resbench import _jit
from resbench._jit import (
    BOOL,
    F32,
    F32_2D,
    F32_3D,
    F64,
    F64_2D,
    F64_3D,
    FLOAT,
    I64,
    INT,
    U32,
    kernel,
)
from resbench.solvers._kernels import EARLY_RHO, RHO_MAX, ROUND_OFF_ULPS, bellman_ford_start

CONVERGED = 0
SWEEP_LIMIT = 1
PENDING = -1  # a sample not to run (padding, or failed before the sweeps)
OMEGA_CHUNK = 40  # sweeps between two ω updates (as resbench.solvers.cd)
FAST_RATE = 0.5
OMEGA_MAX = 1.99
MU2_MAX = 1.0 - 1e-12
W = 16  # long-window length of the rate estimate (as cd_sweeps)
CW = 8  # batches are padded to a multiple of this
CHUNK = 64  # samples per chunk (at most): long enough that the per-edge loop over a
# chunk's samples runs as SIMD with little loop overhead (DRN-1H, per sweep and sample:
# 9.1 µs at 8, 3.4 at 32, 2.9 at 64, 3.2 at 128), short enough for a few chunks per
# thread and a chunk's state in L2 (docs/measurements.md)


def _signature(F, F2, F3):  # noqa: N803 - numba type names
    return (
        *(U32, U32, F, F3, F3, F3, BOOL),  # deg, idx, g_over_diag, Q, LO, HI, bounded
        *(U32, U32, F3, U32, U32, F3),  # free–free diode lists (limits per sample or shared)
        *(F3, F2, F64, FLOAT, INT, FLOAT),  # U, OUT, tol_v, eps, max_sweeps, omega (0: auto)
        *(I64, I64, F64, F64),  # status (in: PENDING = skip), sweeps, est, ω per chunk
    )


@njit(inline="always")
def _update_omega(omega, rate):  # pragma: no cover - compiled
    """resbench.solvers.cd.update_omega: Young / Hageman–Young update from a rate."""
    if not np.isfinite(rate) or rate <= FAST_RATE or rate >= 1.0:
        return omega
    mu2 = (rate + omega - 1.0) ** 2 / (rate * omega * omega)
    if mu2 > MU2_MAX:
        mu2 = MU2_MAX
    new = 2.0 / (1.0 + math.sqrt(1.0 - mu2))
    if new < omega:
        new = omega
    if new > OMEGA_MAX:
        new = OMEGA_MAX
    return new


@kernel(*_signature(F64, F64_2D, F64_3D), parallel=True)
def batch_sweeps(
    deg,
    idx,
    g_over_diag,
    Q,
    LO,
    HI,
    bounded,
    in_ptr,
    in_anode,
    IN_LIMIT,
    out_ptr,
    out_cathode,
    OUT_LIMIT,
    U,
    OUT,
    tol_v,
    eps,
    max_sweeps,
    omega0,
    status,
    sweeps,
    est_out,
    omega_out,
):  # pragma: no cover - compiled
    """Sweeps of exact coordinate descent on every chunk of a batch, in place on U.

    Per-sample arrays are laid out ``[chunk, row, C]`` (chunk ch = samples
    ch·C … ch·C + C − 1): a chunk's rows are one contiguous block that streams and
    stays in cache (node-major ``[n, B]`` puts rows a power-of-two stride apart, which
    thrashes the cache sets: measured 3× slower on DRN-1H).  ``Q`` = c / diag;
    ``LO``/``HI`` and the diode limits ``IN_LIMIT``/``OUT_LIMIT`` are per sample or shared
    (``[1, row, 1]``).  ``status[b]`` is PENDING on entry for samples to skip and
    anything else to run; on return CONVERGED or SWEEP_LIMIT, with the sweep count and
    final error estimate; ``OUT`` (sample-major ``[B, n]``: a sample's answer is one
    contiguous row, as the node voltages are laid out) receives each sample's voltages
    at the sweep its rule fired.  ``omega0`` > 0 fixes ω; 0 = automatic.
    """
    n = U.shape[1]
    n_chunks = U.shape[0]
    C = U.shape[2]  # samples per chunk
    # 1 where the array is per sample, 0 where it is shared ([·, 1]): index multipliers
    lo_s = 1 if LO.shape[2] > 1 else 0
    hi_s = 1 if HI.shape[2] > 1 else 0
    ff_s = 1 if IN_LIMIT.shape[2] > 1 else 0
    has_ff = in_anode.shape[0] > 0 or out_cathode.shape[0] > 0
    for ch in prange(n_chunks):
        c0 = ch * C
        u = U[ch]
        q = Q[ch]
        lo_c = LO[ch * lo_s]
        hi_c = HI[ch * hi_s]
        in_l = IN_LIMIT[ch * ff_s]
        out_l = OUT_LIMIT[ch * ff_s]
        act = np.zeros(C, dtype=np.bool_)
        n_act = 0
        for b in range(C):
            if status[c0 + b] != PENDING:
                act[b] = True
                n_act += 1
        x = np.empty(C, dtype=Q.dtype)
        lb = np.empty(C, dtype=Q.dtype)
        hb = np.empty(C, dtype=Q.dtype)
        res = np.zeros(C)
        prev = np.full(C, np.inf)
        ring = np.zeros((C, 4))
        past = np.zeros((C, W))
        hist = np.zeros((OMEGA_CHUNK, C))
        om = omega0 if omega0 > 0.0 else 1.0
        relax = om != 1.0
        sweep = 0
        while n_act > 0 and sweep < max_sweeps:
            for b in range(C):
                res[b] = 0.0
            # the common case (bounds shared by the samples, no free–free diodes, ω = 1)
            simple = lo_s == 0 and hi_s == 0 and not has_ff and not relax
            k = 0
            for i in range(n):
                e = k + deg[i]
                for b in range(C):
                    x[b] = q[i, b]
                while k < e:
                    j = idx[k]
                    gk = g_over_diag[k]
                    for b in range(C):
                        x[b] += gk * u[j, b]
                    k += 1
                if simple:
                    lo_i = lo_c[i, 0]
                    hi_i = hi_c[i, 0]
                    for b in range(C):
                        v = min(max(x[b], lo_i), hi_i)
                        d = abs(v - u[i, b])
                        if d > res[b]:
                            res[b] = d
                        u[i, b] = v
                    continue
                if bounded or has_ff:
                    for b in range(C):
                        lb[b] = lo_c[i, b * lo_s]
                        hb[b] = hi_c[i, b * hi_s]
                    if has_ff:
                        for kd in range(in_ptr[i], in_ptr[i + 1]):
                            a = in_anode[kd]
                            for b in range(C):
                                t = u[a, b] - in_l[kd, b * ff_s]
                                if t > lb[b]:
                                    lb[b] = t
                        for kd in range(out_ptr[i], out_ptr[i + 1]):
                            cth = out_cathode[kd]
                            for b in range(C):
                                t = u[cth, b] + out_l[kd, b * ff_s]
                                if t < hb[b]:
                                    hb[b] = t
                    for b in range(C):
                        ui = u[i, b]
                        xc = min(max(x[b], lb[b]), hb[b])
                        r = abs(xc - ui)
                        if r > res[b]:
                            res[b] = r
                        if relax:
                            xc = min(max(ui + om * (x[b] - ui), lb[b]), hb[b])
                        u[i, b] = xc
                elif relax:
                    for b in range(C):
                        ui = u[i, b]
                        r = abs(x[b] - ui)
                        if r > res[b]:
                            res[b] = r
                        u[i, b] = ui + om * (x[b] - ui)
                else:
                    for b in range(C):
                        r = abs(x[b] - u[i, b])
                        if r > res[b]:
                            res[b] = r
                        u[i, b] = x[b]
            # the stopping rule, per active sample (as cd_sweeps)
            for b in range(C):
                if not act[b]:
                    continue
                res_v = res[b]
                hist[sweep % OMEGA_CHUNK, b] = res_v
                p = prev[b]
                ratio = res_v / p if p > 0.0 and p < np.inf else 1.0
                prev[b] = res_v
                ring[b, sweep % 4] = ratio
                rho = max(max(ring[b, 0], ring[b, 1]), max(ring[b, 2], ring[b, 3]))
                if sweep >= W and past[b, sweep % W] > 0.0:
                    long_rate = (res_v / past[b, sweep % W]) ** (1.0 / W)
                    if long_rate > rho:
                        rho = long_rate
                past[b, sweep % W] = res_v
                if sweep < 3:
                    rho = max(rho, EARLY_RHO)
                if rho > RHO_MAX:
                    rho = RHO_MAX
                est = res_v * rho / (1.0 - rho)
                done = sweep >= 2 and est <= tol_v[c0 + b]
                if not done and res_v <= tol_v[c0 + b]:
                    umax = 0.0
                    for i in range(n):
                        if abs(u[i, b]) > umax:
                            umax = abs(u[i, b])
                    done = res_v <= ROUND_OFF_ULPS * eps * umax
                if done:
                    act[b] = False
                    n_act -= 1
                    for i in range(n):
                        OUT[c0 + b, i] = u[i, b]
                    status[c0 + b] = CONVERGED
                    sweeps[c0 + b] = sweep + 1
                    est_out[c0 + b] = est
                else:
                    est_out[c0 + b] = est
            sweep += 1
            if omega0 == 0.0 and n_act > 0 and sweep % OMEGA_CHUNK == 0:
                half = OMEGA_CHUNK // 2
                worst = 0.0
                for b in range(C):
                    if act[b] and hist[half - 1, b] > 0.0:
                        rate = (hist[OMEGA_CHUNK - 1, b] / hist[half - 1, b]) ** (
                            1.0 / (OMEGA_CHUNK - half)
                        )
                        if rate > worst:
                            worst = rate
                om = _update_omega(om, worst)
                relax = om != 1.0
        for b in range(C):
            if act[b]:
                for i in range(n):
                    OUT[c0 + b, i] = u[i, b]
                status[c0 + b] = SWEEP_LIMIT
                sweeps[c0 + b] = sweep
        omega_out[ch] = om


_jit.SIGNATURES.append((batch_sweeps, _signature(F32, F32_2D, F32_3D)))  # the float32 variant


# --------------------------------------------------------------------------- fused passes
# The passes over a batch's inputs and states that numpy would make one at a time
# (each allocating a temporary as large as the batch), done in one loop each: on a
# small network (DRN-XS) they cost more than the sweeps themselves.

F64_2F = types.float64[::1, :]  # a column-major matrix (the input map A, by column)
B1 = types.boolean[::1]  # a mask


PASS_BLOCK = 64  # rows (or columns) per parallel task of the passes below


@kernel(F64_2D)
def all_finite(S):  # pragma: no cover - compiled
    """True when every entry of ``S`` is finite (one pass, no temporary; serial: a
    parallel region would cost more than this pass)."""
    for b in range(S.shape[0]):
        row = S[b]
        acc = 0.0
        for j in range(row.shape[0]):
            acc += row[j] * 0.0  # NaN once any entry is NaN or ±inf
        if acc != 0.0:
            return False
    return True


@kernel(F64_2D, I64)
def rows_absmax(S, cols):  # pragma: no cover - compiled
    """Per row b: max_j |S[b, cols[j]]| (0 for no columns)."""
    out = np.zeros(S.shape[0])
    for b in range(S.shape[0]):
        m = 0.0
        for t in range(cols.shape[0]):
            x = abs(S[b, cols[t]])
            if x > m:
                m = x
        out[b] = m
    return out


@kernel(F64_2D, F64, B1, parallel=True)
def scan_columns(S, r, vmask):  # pragma: no cover - compiled
    """Per column j of ``S`` ``[B, k]``: its sign (that of its first nonzero value; 0
    for a column of zeros) and the key Σ_b sign_j · S[b, j] · r[b], so that columns equal
    up to sign have bitwise equal keys; and, in the same pass, each row's max |S[b, j]|
    over the columns with ``vmask[j]`` (the inputs that are voltages).
    Blocks of rows run in parallel, each with its own signs and partial keys; the
    partials are added in block order, a block's negated when its sign differs from
    the column's (exact), so columns equal up to sign still get bitwise equal keys."""
    B = S.shape[0]
    k = S.shape[1]
    nblk = (B + PASS_BLOCK - 1) // PASS_BLOCK
    psign = np.zeros((nblk, k))
    pkey = np.zeros((nblk, k))
    vmax = np.zeros(B)
    for blk in prange(nblk):
        sg = psign[blk]
        ky = pkey[blk]
        for b in range(blk * PASS_BLOCK, min(B, (blk + 1) * PASS_BLOCK)):
            row = S[b]
            rb = r[b]
            m = 0.0
            for j in range(k):
                x = row[j]
                if sg[j] == 0.0 and x != 0.0:
                    sg[j] = 1.0 if x > 0.0 else -1.0
                ky[j] += sg[j] * x * rb
                if vmask[j] and abs(x) > m:
                    m = abs(x)
            vmax[b] = m
    sign = np.zeros(k)
    key = np.zeros(k)
    for blk in range(nblk):
        for j in range(k):
            s = psign[blk, j]
            if s == 0.0:
                continue
            if sign[j] == 0.0:
                sign[j] = s
            key[j] += pkey[blk, j] if s == sign[j] else -pkey[blk, j]
    return sign, key, vmax


@kernel(F64_2D, F64, I64, I64, parallel=True)
def equal_to_rep(S, sign, cols, rep):  # pragma: no cover - compiled
    """Is sign·S[:, cols[t]] == sign·S[:, rep[t]] exactly for every t, in every row?
    Per row, the columns are read in their own order and the few representatives
    gathered from the same (cached) row; blocks of rows in parallel."""
    m = cols.shape[0]
    B = S.shape[0]
    sc = np.empty(m)
    sr = np.empty(m)
    for t in range(m):
        sc[t] = sign[cols[t]]
        sr[t] = sign[rep[t]]
    nblk = (B + PASS_BLOCK - 1) // PASS_BLOCK
    bad = np.zeros(nblk, dtype=np.uint8)
    for blk in prange(nblk):
        d = 0
        for b in range(blk * PASS_BLOCK, min(B, (blk + 1) * PASS_BLOCK)):
            row = S[b]
            for t in range(m):
                d |= sc[t] * row[cols[t]] != sr[t] * row[rep[t]]
        bad[blk] = d
    return not bad.any()


@kernel(F64_2D, F64, I64, parallel=True)
def adjacent_equal(S, sign, order):  # pragma: no cover - compiled
    """For each i < len(order) − 1: is sign·S[:, order[i]] == sign·S[:, order[i + 1]]
    exactly, in every row?  Per row: one gather of the columns in ``order``, then
    neighbours compared (no transposed copy of S); blocks of rows in parallel."""
    m = order.shape[0]
    B = S.shape[0]
    sg = np.empty(m)
    for i in range(m):
        sg[i] = sign[order[i]]
    nblk = (B + PASS_BLOCK - 1) // PASS_BLOCK
    diff = np.zeros((nblk, m), dtype=np.uint8)
    for blk in prange(nblk):
        d = diff[blk]
        g = np.empty(m)
        for b in range(blk * PASS_BLOCK, min(B, (blk + 1) * PASS_BLOCK)):
            row = S[b]
            for i in range(m):
                g[i] = sg[i] * row[order[i]]
            for i in range(m - 1):
                d[i] |= g[i] != g[i + 1]
    out = np.ones(max(m - 1, 0), dtype=np.bool_)
    for blk in range(nblk):
        for i in range(m - 1):
            if diff[blk, i]:
                out[i] = False
    return out


@kernel(F64_2F, I64, I64, F64, INT)
def fold_columns(A, cols, group, sign, n_groups):  # pragma: no cover - compiled
    """``Af[:, g] = Σ sign[t] · A[:, cols[t]]`` over the t with ``group[t] == g``, as
    ``[n_groups, rows]`` C-order (its transpose is A_f, column-major).  ``A`` is
    column-major: each column is read once, contiguously."""
    rows = A.shape[0]
    out = np.zeros((n_groups, rows))
    for t in range(cols.shape[0]):
        g = group[t]
        s = sign[t]
        j = cols[t]
        dst = out[g]
        for i in range(rows):
            dst[i] += s * A[i, j]
    return out


@kernel(F64_2F, F64, F64_2D, F64_2D, parallel=True)
def gemv_nonzero(A, c0, S, out):  # pragma: no cover - compiled
    """A few samples' injections ``out[:, b] = c0 + Σ_j A[:, j] S[b, j]`` over the
    nonzero S[b, j] only (``A`` column-major: a column is contiguous).  A small batch's
    GEMM would read all of A; an input that is zero (a dark pixel) costs nothing here.
    Blocks of rows in parallel (each row summed in column order by one thread)."""
    rows = A.shape[0]
    blk_rows = 256
    nblk = (rows + blk_rows - 1) // blk_rows
    for blk in prange(nblk):
        i0 = blk * blk_rows
        i1 = min(rows, i0 + blk_rows)
        acc = np.empty(i1 - i0)
        for b in range(S.shape[0]):
            for i in range(i0, i1):
                acc[i - i0] = c0[i]
            for j in range(S.shape[1]):
                s = S[b, j]
                if s != 0.0:
                    for i in range(i0, i1):
                        acc[i - i0] += A[i, j] * s
            for i in range(i0, i1):
                out[i, b] = acc[i - i0]


def _prepare_signature(F3):  # noqa: N803 - numba type names
    return (F64_2D, F64, F64_2D, F64_2D, F3, F3, F64)  # C, inv_diag, LO, HI, Q, U, qmax


@kernel(*_prepare_signature(F64_3D), parallel=True)
def prepare_chunks(C, inv_diag, LO, HI, Q, U, qmax):  # pragma: no cover - compiled
    """The sweeps' inputs in one pass over the injections ``C`` ``[n, B]``: ``Q`` = c /
    diag and the cold start ``U`` = clip(Q, LO, HI) in chunk layout ``[chunk, n, w]``
    (the sweeps' precision), and per sample ``qmax[b]`` = max_i |c_i| / diag_i (a part
    of the voltage scale).  ``LO``/``HI`` are ``[n, 1]`` (shared) or ``[n, B]``.  The
    arithmetic is numpy's: c · inv_diag in float64, then rounded to the sweeps' type.
    Chunks in parallel."""
    n = C.shape[0]
    nch = Q.shape[0]
    w = Q.shape[2]
    lo_s = 1 if LO.shape[1] > 1 else 0
    hi_s = 1 if HI.shape[1] > 1 else 0
    for ch in prange(nch):
        for t in range(w):
            qmax[ch * w + t] = 0.0
        for i in range(n):
            d = inv_diag[i]
            for t in range(w):
                b = ch * w + t
                q = C[i, b] * d
                aq = abs(q)
                if aq > qmax[b]:
                    qmax[b] = aq
                u = min(max(q, LO[i, b * lo_s]), HI[i, b * hi_s])
                Q[ch, i, t] = q
                U[ch, i, t] = u


_jit.SIGNATURES.append((prepare_chunks, _prepare_signature(F32_3D)))


@kernel(F64, I64, I64, F64, F64_2D, F64, I64, I64, F64_2D, F64_2D, parallel=True)
def assemble_voltages_s(
    offset0, m_row, m_col, m_val, S, s0, free_nodes, free_sn, UT, V
):  # pragma: no cover - compiled
    """Node voltages ``V[b, k]`` = offset(s_b)[k] (+ u[supernode of k] for free nodes):
    ``offset0`` plus the offset map's entries (``m_row``, ``m_col``, ``m_val``) times
    S[b] − s0 (formed entry by entry, as numpy's subtraction would), plus the supernode
    voltages read sample-major (``UT`` ``[B, n]``, as the sweeps write them): every
    access is within one sample's rows (node-major U read a column at a time is a
    strided gather: 6 ms on DRN-1H).
    Samples in parallel."""
    for b in prange(V.shape[0]):
        row = V[b]
        for k in range(row.shape[0]):
            row[k] = offset0[k]
        for t in range(m_row.shape[0]):
            c = m_col[t]
            row[m_row[t]] += m_val[t] * (S[b, c] - s0[c])
        urow = UT[b]
        for t in range(free_nodes.shape[0]):
            row[free_nodes[t]] += urow[free_sn[t]]


@kernel(F64_2D, F64_2D, F64_2D, F64_2D, _jit.I32, _jit.I32, types.boolean[::1], F64_2D)
def feasible_starts(
    U0, lo, hi, ffl, ff_anode, ff_cathode, infeasible, out
):  # pragma: no cover - compiled
    """Every sample's feasible start (node-major ``[n, B]``; ``lo``, ``hi``, ``ffl`` have
    B columns or one shared column): the single solver's Bellman–Ford
    (:func:`resbench.solvers._kernels.bellman_ford_start`) per sample, in one call (a
    Python loop over the samples cost ~10 µs each).  ``out`` receives the starts
    (U0's column where the sample is already infeasible or has a negative cycle);
    a sample with a negative cycle is marked in ``infeasible``."""
    n, B = U0.shape
    for b in range(B):
        for i in range(n):
            out[i, b] = U0[i, b]
        if infeasible[b]:
            continue
        bl = b if lo.shape[1] > 1 else 0
        bh = b if hi.shape[1] > 1 else 0
        bw = b if ffl.shape[1] > 1 else 0
        u0 = np.ascontiguousarray(U0[:, b])
        lb = np.ascontiguousarray(lo[:, bl])
        hb = np.ascontiguousarray(hi[:, bh])
        w = np.ascontiguousarray(ffl[:, bw])
        u, cyc = bellman_ford_start(u0, lb, hb, ff_anode, ff_cathode, w)
        if cyc.size:
            infeasible[b] = True
        else:
            for i in range(n):
                out[i, b] = u[i]
