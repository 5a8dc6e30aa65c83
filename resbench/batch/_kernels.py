"""numba kernels of the batched solver (no I/O; callers in resbench.batch.network validate).

A batch is node-major, ``[n, B]`` (C-contiguous: a node's values over the samples are
contiguous), swept in *chunks* of up to CHUNK samples: one row of the free–free CSR is
streamed once per chunk and applied to its samples with SIMD.  Chunks are independent;
numba's threads take them one at a time from a shared counter.

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
from resbench.batch import _simd
from resbench.batch._simd import (
    fetch_add,
    lanes,
    madd,
    narrow,
    splat,
    vabs,
    vadd,
    vload,
    vload2,
    vmax,
    vmin,
    vmul,
    vstore,
    vstore2,
    vsub,
    widen,
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
# thread and a chunk's state in L2 (docs/measurements.md).  Those figures are of the
# per-sample loops; the register tiles of _simple_sweep carry no such overhead, and
# chunk_width picks narrower chunks where the state would leave L2


STATE_BYTES = 256 * 1024  # a chunk's swept state (u and q) kept within half of L2
TILE_VECTORS = 4  # vectors per register tile of the sweeps (_simple_sweep)


def chunk_width(B: int, n: int, itemsize: int) -> int:
    """Samples per chunk of the sweeps for a batch of ``B`` samples (a multiple of CW)
    of ``n`` free supernodes in ``itemsize``-byte floats: the largest multiple of CW
    that divides B and is at most CHUNK and at most the width whose state (u and q,
    2·n·width·itemsize bytes) fits STATE_BYTES, but not below one register tile (16
    float64 or 32 float32 samples) when B allows.

    With the sweeps in register tiles, a narrow chunk no longer pays loop overhead per
    sample, while a chunk whose state leaves L2 streams it from L3 every sweep: on
    DRN-1H (1034 nodes) float64, one thread, 8.7 µs a sample at 16, 9.6 at 64; float32
    5.4 at 32 (16 is half a tile: 8.7); DRN-XS (110 nodes) keeps 64."""
    tile = TILE_VECTORS * _simd.VECTOR_BYTES // itemsize
    cap = STATE_BYTES // max(1, 2 * n * itemsize)
    cap = max(tile, cap - cap % tile)
    for width in range(min(CHUNK, cap, B) // CW * CW, 0, -CW):
        if B % width == 0:
            return width
    return CW


def _signature(F, F2, F3):  # noqa: N803 - numba type names
    return (
        *(U32, U32, F, F3, F3, F3, BOOL),  # deg, idx, g_over_diag, Q, LO, HI, bounded
        *(I64, U32, U32, U32, U32),  # hub rows: slot, early, push_ptr, push_slot, push_k
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


@njit
def _simple_sweep(
    deg, idx, g, slot, early, push_ptr, push_slot, push_k, q, u, acc, lo, hi, res
):  # pragma: no cover - compiled
    """One sweep of the common case (bounds shared by the samples, no free–free diodes,
    ω = 1) on a chunk's state ``u`` [n, C], with SIMD values held in registers
    (:mod:`resbench.batch._simd`).

    The samples are taken a *tile* of four vectors at a time (16 float64 or 32
    float32 samples), and the tile is swept over every node: its running sums, and the
    largest change per sample (``res``, reset by the caller), stay in registers across
    a row's entries and the whole sweep, where the loops over the chunk's samples
    loaded and stored them once per entry (and re-checked per loop that their arrays
    do not overlap).  A chunk's width that is not a multiple of a tile ends with tiles
    of one vector, then single samples.  Each sample's arithmetic is the loops':
    x = q_i (or the hub's pushed sum) + g·u_j entry by entry, clip into [lo_i, hi_i],
    the change |v − u_i|, and v·g pushed into each later hub row; the samples are
    independent, so the order of the tiles changes nothing.  Hub sums ``acc`` are
    initialised by the caller."""
    n = u.shape[0]
    C = u.shape[1]
    L = lanes(u)
    t0 = 0
    while t0 + 4 * L <= C:  # tiles of four vectors
        t1 = t0 + L
        t2 = t0 + 2 * L
        t3 = t0 + 3 * L
        r0 = vload(res, t0)
        r1 = vload(res, t1)
        r2 = vload(res, t2)
        r3 = vload(res, t3)
        k = 0
        for i in range(n):
            e = k + deg[i]
            h = slot[i]
            if h >= 0:
                x0 = vload2(acc, h, t0)
                x1 = vload2(acc, h, t1)
                x2 = vload2(acc, h, t2)
                x3 = vload2(acc, h, t3)
                k += early[i]
            else:
                x0 = vload2(q, i, t0)
                x1 = vload2(q, i, t1)
                x2 = vload2(q, i, t2)
                x3 = vload2(q, i, t3)
            while k < e:
                j = idx[k]
                gk = splat(g[k], u)
                x0 = madd(x0, gk, vload2(u, j, t0))
                x1 = madd(x1, gk, vload2(u, j, t1))
                x2 = madd(x2, gk, vload2(u, j, t2))
                x3 = madd(x3, gk, vload2(u, j, t3))
                k += 1
            lo_i = splat(lo[i, 0], u)
            hi_i = splat(hi[i, 0], u)
            v0 = vmin(vmax(x0, lo_i), hi_i)
            v1 = vmin(vmax(x1, lo_i), hi_i)
            v2 = vmin(vmax(x2, lo_i), hi_i)
            v3 = vmin(vmax(x3, lo_i), hi_i)
            r0 = vmax(r0, vabs(vsub(v0, vload2(u, i, t0))))
            r1 = vmax(r1, vabs(vsub(v1, vload2(u, i, t1))))
            r2 = vmax(r2, vabs(vsub(v2, vload2(u, i, t2))))
            r3 = vmax(r3, vabs(vsub(v3, vload2(u, i, t3))))
            vstore2(u, i, t0, v0)
            vstore2(u, i, t1, v1)
            vstore2(u, i, t2, v2)
            vstore2(u, i, t3, v3)
            for kp in range(push_ptr[i], push_ptr[i + 1]):
                hp = push_slot[kp]
                gk = splat(g[push_k[kp]], u)
                vstore2(acc, hp, t0, madd(vload2(acc, hp, t0), gk, v0))
                vstore2(acc, hp, t1, madd(vload2(acc, hp, t1), gk, v1))
                vstore2(acc, hp, t2, madd(vload2(acc, hp, t2), gk, v2))
                vstore2(acc, hp, t3, madd(vload2(acc, hp, t3), gk, v3))
        vstore(res, t0, r0)
        vstore(res, t1, r1)
        vstore(res, t2, r2)
        vstore(res, t3, r3)
        t0 += 4 * L
    while t0 + L <= C:  # tiles of one vector
        r0 = vload(res, t0)
        k = 0
        for i in range(n):
            e = k + deg[i]
            h = slot[i]
            if h >= 0:
                x0 = vload2(acc, h, t0)
                k += early[i]
            else:
                x0 = vload2(q, i, t0)
            while k < e:
                x0 = madd(x0, splat(g[k], u), vload2(u, idx[k], t0))
                k += 1
            v0 = vmin(vmax(x0, splat(lo[i, 0], u)), splat(hi[i, 0], u))
            r0 = vmax(r0, vabs(vsub(v0, vload2(u, i, t0))))
            vstore2(u, i, t0, v0)
            for kp in range(push_ptr[i], push_ptr[i + 1]):
                hp = push_slot[kp]
                vstore2(acc, hp, t0, madd(vload2(acc, hp, t0), splat(g[push_k[kp]], u), v0))
        vstore(res, t0, r0)
        t0 += L
    for b in range(t0, C):  # single samples
        k = 0
        for i in range(n):
            e = k + deg[i]
            h = slot[i]
            if h >= 0:
                xb = acc[h, b]
                k += early[i]
            else:
                xb = q[i, b]
            while k < e:
                xb += g[k] * u[idx[k], b]
                k += 1
            v = min(max(xb, lo[i, 0]), hi[i, 0])
            d = abs(v - u[i, b])
            if d > res[b]:
                res[b] = d
            u[i, b] = v
            for kp in range(push_ptr[i], push_ptr[i + 1]):
                acc[push_slot[kp], b] += g[push_k[kp]] * v


@njit(inline="always")
def _copy_out(u, OUT, c0, fin, n_fin):  # pragma: no cover - compiled
    """``OUT[c0 + b] = u[:, b]`` for the samples ``b`` in ``fin[:n_fin]``, row by row:
    each row of the chunk's state is read once, contiguously (a walk down one column
    per sample reads a cache line per row and sample: on DRN-1H the state exceeds L2,
    so those reads came from L3)."""
    for i in range(u.shape[0]):
        row = u[i]
        for t in range(n_fin):
            b = fin[t]
            OUT[c0 + b, i] = row[b]


@kernel(*_signature(F64, F64_2D, F64_3D), parallel=True)
def batch_sweeps(
    deg,
    idx,
    g_over_diag,
    Q,
    LO,
    HI,
    bounded,
    slot,
    early,
    push_ptr,
    push_slot,
    push_k,
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
    n_hubs = 0
    for i in range(n):
        if slot[i] >= 0:
            n_hubs += 1
    hub = np.empty(n_hubs, dtype=np.int64)  # slot → its row
    for i in range(n):
        if slot[i] >= 0:
            hub[slot[i]] = i
    # chunks taken one at a time from a shared counter: each task of the parallel loop
    # sweeps chunks until none is left, so a thread that starts late (a worker woken
    # from sleep, or descheduled on a busy machine) finds its share taken by the others
    # instead of holding the batch back by that share (a static split); each chunk is
    # swept by exactly one thread, so the results do not depend on which
    next_chunk = np.zeros(1, dtype=np.int64)
    for _t in prange(n_chunks):
        while True:
            ch = fetch_add(next_chunk, 0, 1)
            if ch >= n_chunks:
                break
            c0 = ch * C
            u = U[ch]
            q = Q[ch]
            acc = np.empty((n_hubs, C), dtype=Q.dtype)  # hub rows' sums of earlier terms
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
            res = np.zeros(C, dtype=Q.dtype)  # (the sweeps' type: a max of their numbers)
            prev = np.full(C, np.inf)
            ring = np.zeros((C, 4))
            past = np.zeros((C, W))
            hist = np.zeros((OMEGA_CHUNK, C))
            fin = np.empty(C, dtype=np.int64)  # the samples that finish at this sweep
            om = omega0 if omega0 > 0.0 else 1.0
            relax = om != 1.0
            sweep = 0
            while n_act > 0 and sweep < max_sweeps:
                for b in range(C):
                    res[b] = 0.0
                # the common case (bounds shared by the samples, no free–free diodes, ω = 1)
                simple = lo_s == 0 and hi_s == 0 and not has_ff and not relax
                for h in range(n_hubs):
                    for b in range(C):
                        acc[h, b] = q[hub[h], b]
                if simple:  # register tiles (the same numbers as the loops below)
                    _simple_sweep(
                        deg, idx, g_over_diag, slot, early, push_ptr, push_slot, push_k,
                        q, u, acc, lo_c, hi_c, res,
                    )  # fmt: skip
                else:
                    k = 0
                    for i in range(n):
                        e = k + deg[i]
                        h = slot[i]
                        if h >= 0:  # its earlier terms were added as those nodes were updated
                            for b in range(C):
                                x[b] = acc[h, b]
                            k += early[i]
                        else:
                            for b in range(C):
                                x[b] = q[i, b]
                        while k < e:
                            j = idx[k]
                            gk = g_over_diag[k]
                            for b in range(C):
                                x[b] += gk * u[j, b]
                            k += 1
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
                        # this node's term of each later hub row, in that row's own order
                        for kp in range(push_ptr[i], push_ptr[i + 1]):
                            h = push_slot[kp]
                            gk = g_over_diag[push_k[kp]]
                            for b in range(C):
                                acc[h, b] += gk * u[i, b]
                # the stopping rule, per active sample (as cd_sweeps)
                n_fin = 0
                for b in range(C):
                    if not act[b]:
                        continue
                    res_v = np.float64(res[b])
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
                        fin[n_fin] = b
                        n_fin += 1
                        status[c0 + b] = CONVERGED
                        sweeps[c0 + b] = sweep + 1
                        est_out[c0 + b] = est
                    else:
                        est_out[c0 + b] = est
                if n_fin:  # the samples done at this sweep, copied out together, row by row
                    _copy_out(u, OUT, c0, fin, n_fin)
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
            n_fin = 0
            for b in range(C):
                if act[b]:
                    fin[n_fin] = b
                    n_fin += 1
                    status[c0 + b] = SWEEP_LIMIT
                    sweeps[c0 + b] = sweep
            if n_fin:
                _copy_out(u, OUT, c0, fin, n_fin)
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
    """True when every entry of ``S`` is finite: one pass, x · 0 summed per column (0
    unless some entry is NaN or ±inf), so the loop over a row runs as SIMD (a single
    running sum would be one long dependency chain); serial: a parallel region would
    cost more than this pass."""
    k = S.shape[1]
    acc = np.zeros(k)
    for b in range(S.shape[0]):
        row = S[b]
        for j in range(k):
            acc[j] += row[j] * 0.0
    for j in range(k):
        if acc[j] != 0.0:
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


ABS_BITS = np.int64(0x7FFFFFFFFFFFFFFF)  # a float64's bits less its sign bit
INF_BITS = np.int64(0x7FF0000000000000)  # |x| bits at or above these: inf or NaN


@kernel(F64_2D, F64, I64, BOOL, parallel=True)
def scan_columns(S, r, vcols, all_v):  # pragma: no cover - compiled
    """Per column j of ``S`` ``[B, k]``: a sign (0 for a column of zeros) and a key such
    that columns equal up to sign have bitwise equal keys and sign · column equal; and,
    in the same pass, each row's max |S[b, j]| over the columns ``vcols`` (the inputs
    that are voltages; ``all_v``: every column is one).

    The raw key Σ_b S[b, j] · r[b] (r > 0) of a negated column is exactly the negated
    raw key, so sign = the raw key's sign and key = |raw key| group columns equal up to
    sign (any consistent sign serves the fold: negating a group's column of A and its
    input together is exact).  A nonzero column whose raw key is 0 (cancellation) takes
    the sign of its first nonzero value instead.  A key is NaN or ±inf when its column
    holds a NaN or ±inf, so finite keys prove finite inputs (an infinite key from huge
    finite inputs is left to the caller's exact check).  The loops over a row are
    branch-free and carry no dependency, so they run as SIMD; the row maximum compares
    the magnitudes' bit patterns as integers (ordered as the magnitudes for non-NaN
    values).  Blocks of rows run in parallel, each with its own partial sums, added in
    block order (the same for any thread count)."""
    B = S.shape[0]
    k = S.shape[1]
    nblk = (B + PASS_BLOCK - 1) // PASS_BLOCK
    pkey = np.zeros((nblk, k))
    pabs = np.zeros((nblk, k))
    vbits = np.zeros(B, dtype=np.int64)  # max |S[b, j]| as bits (view: float64)
    nv = k if all_v else vcols.shape[0]
    for blk in prange(nblk):
        ky = pkey[blk]
        ab = pabs[blk]
        for b in range(blk * PASS_BLOCK, min(B, (blk + 1) * PASS_BLOCK)):
            row = S[b]
            rb = r[b]
            for j in range(k):
                x = row[j]
                ky[j] += x * rb
                ab[j] += abs(x)
            bits = row.view(np.int64)
            m = np.int64(0)
            if all_v:
                for j in range(k):
                    a = bits[j] & ABS_BITS
                    m = a if a > m else m
            else:
                for t in range(nv):
                    a = bits[vcols[t]] & ABS_BITS
                    m = a if a > m else m
            vbits[b] = m
    vmax = vbits.view(np.float64)
    sign = np.zeros(k)
    key = np.zeros(k)
    for j in range(k):
        kj = 0.0
        aj = 0.0
        for blk in range(nblk):
            kj += pkey[blk, j]
            aj += pabs[blk, j]
        if aj == 0.0:  # a column of zeros (or of nothing)
            continue
        if kj > 0.0:
            sign[j] = 1.0
        elif kj < 0.0:
            sign[j] = -1.0
        elif kj == 0.0:  # cancellation: the first nonzero value's sign
            for b in range(B):
                if S[b, j] != 0.0:
                    sign[j] = 1.0 if S[b, j] > 0.0 else -1.0
                    break
        else:  # NaN: not a number to group by (the caller rejects the input)
            sign[j] = 1.0
        key[j] = abs(kj)
        if kj != kj:
            key[j] = kj
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


@kernel(F64_2D, F64, F64)
def group_columns(S, sign, key):  # pragma: no cover - compiled
    """The fold's grouping of the columns of ``S`` ``[B, k]`` in one call (serial: for
    the small passes, where the numpy steps it replaces cost more than the work).

    The nonzero columns (sign ≠ 0) with equal ``key`` form a group, found by a hash
    table of the keys' bits (the keys are never NaN: the caller rejects those inputs;
    0.0 and −0.0 are one key); each column is checked exactly against its group's
    first column (sign·S[:, j] == sign·S[:, first] in every row).  Returns ``(ok, nz,
    group, first, ST)``: nz the nonzero columns (ascending), group each one's group,
    groups numbered by their first column, first those columns (ascending) and
    ST[b, g] = sign·S[b, first[g]].  ``ok`` False: two columns of one group differ (a
    key collision); the rest is then empty and the caller groups the slow way.  The
    same groups and numbers as the sort by key they replace (Network._group_numpy)."""
    B = S.shape[0]
    k = S.shape[1]
    size = 16
    while size < 2 * k:
        size *= 2
    mask = size - 1
    slot_bits = np.empty(size, dtype=np.int64)
    slot_group = np.full(size, -1, dtype=np.int64)
    first = np.empty(k, dtype=np.int64)
    nz = np.empty(k, dtype=np.int64)
    group = np.empty(k, dtype=np.int64)
    n = 0
    n_groups = 0
    for j in range(k):
        if sign[j] == 0.0:
            continue
        kj = key[j]
        bits = np.int64(0) if kj == 0.0 else np.float64(kj).view(np.int64)
        h = (np.uint64(bits) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
        s = np.int64(h) & mask
        while slot_group[s] >= 0 and slot_bits[s] != bits:
            s = (s + 1) & mask
        if slot_group[s] < 0:
            slot_bits[s] = bits
            slot_group[s] = n_groups
            first[n_groups] = j
            n_groups += 1
        nz[n] = j
        group[n] = slot_group[s]
        n += 1
    # the exact check: each column against its group's first column
    m = 0
    cols = np.empty(n, dtype=np.int64)
    reps = np.empty(n, dtype=np.int64)
    for t in range(n):
        r = first[group[t]]
        if r != nz[t]:
            cols[m] = nz[t]
            reps[m] = r
            m += 1
    # sign·S[b, c] == sign·S[b, r] as S[b, c] == (sign_c · sign_r) · S[b, r]: a product
    # with ±1 is exact, and the inputs are finite (the caller checked)
    sg = np.empty(m)
    for t in range(m):
        sg[t] = sign[cols[t]] * sign[reps[t]]
    first = first[:n_groups].copy()
    sf = np.empty(n_groups)
    for g in range(n_groups):
        sf[g] = sign[first[g]]
    # one pass over S: each row checked and its groups' columns gathered while it is in
    # cache (two passes read S twice from L3)
    ST = np.empty((B, n_groups))
    d = False
    for b in range(B):
        row = S[b]
        for t in range(m):
            d |= row[cols[t]] != sg[t] * row[reps[t]]
        st = ST[b]
        for g in range(n_groups):
            st[g] = row[first[g]] * sf[g]
    if d:
        e = np.empty(0, dtype=np.int64)
        return False, e, e, e, np.empty((0, 0))
    return True, nz[:n].copy(), group[:n].copy(), first, ST


@kernel(F64_2D, F64, I64, BOOL, I64, INT, F64, F64, I64, I64, F64, I64, F64, F64_2D, parallel=True)
def fold_check(
    S, r, vcols, all_v, zmask, h, sg_h, sg_1, cols, reps, sg, first, sf, ST
):  # pragma: no cover - compiled
    """Does a known fold pattern (a previous batch's grouping: ``first`` each group's
    first column and ``sf`` its sign; ``zmask`` ABS_BITS on the columns of zeros, else
    0; every other nonzero column checked against an earlier column of its group)
    hold for ``S`` ``[B, k]`` as the one scan_columns and group_columns would find, in
    one pass over S instead of their two?  Returns ``(ok, vmax, ST)``, ST[b, g] =
    sf[g] · S[b, first[g]] (written into ``ST`` ``[B, len(first)]``, float64 or
    float32: the product's precision, rounded as ``astype`` rounds, without a pass of
    its own) and vmax the max |voltage input| per row (as scan_columns;
    ``vcols``/``all_v`` the voltage columns).

    A column j is checked against column j − h (``sg_h[j]`` ≠ 0, their sign product:
    a DRN's ``−x`` half against its ``x`` half; ``h`` 0 when no column is), else
    against j − 1 (``sg_1[j]`` ≠ 0:
    equal neighbours), both contiguous loops that run as SIMD, else against its
    group's first column (``cols``/``reps``/``sg``: a gather).  Each reference is an
    earlier column of the same group, so by induction every column equals its group's
    first up to sign.

    ok means the pattern is exactly this batch's grouping: the columns of zeros are
    zeros (−0.0 too), every other column equals its group's first column up to sign
    in every row, no group is all zeros, and no two groups are equal up to sign (their
    |Σ_b ST[b, g] r[b]| keys all differ: equal columns up to sign have equal keys).
    Same groups, first columns and numbering as the full grouping (a group's sign may
    differ: the fold negates its column of A and its input together, the same product
    bit for bit).  Not ok (a pattern that does not hold, a NaN or inf, colliding
    keys): the caller groups the columns the full way.  Blocks of rows in parallel."""
    B = S.shape[0]
    k = S.shape[1]
    m = cols.shape[0]
    ng = first.shape[0]
    nv = k if all_v else vcols.shape[0]
    nblk = (B + PASS_BLOCK - 1) // PASS_BLOCK
    pkey = np.zeros((nblk, ng))
    pnz = np.zeros((nblk, ng), dtype=np.int64)
    bad = np.zeros(nblk, dtype=np.uint8)
    vbits = np.zeros(B, dtype=np.int64)
    for blk in prange(nblk):
        ky = pkey[blk]
        nzb = pnz[blk]
        d = False
        for b in range(blk * PASS_BLOCK, min(B, (blk + 1) * PASS_BLOCK)):
            row = S[b]
            bits = row.view(np.int64)
            mx = bits[0] & ABS_BITS if k else np.int64(0)
            z = mx & zmask[0] if k else np.int64(0)
            e = np.int64(0)  # integer ORs (branch-free, reassociable: SIMD)
            for j in range(1, k):  # one pass: maxima, zeros, equal neighbours
                a = bits[j] & ABS_BITS
                mx = a if a > mx else mx
                z |= a & zmask[j]
                s_j = sg_1[j]
                e |= np.int64((row[j] != s_j * row[j - 1]) & (s_j != 0.0))
            if all_v:
                vbits[b] = mx
            else:
                mv = np.int64(0)
                for t in range(nv):
                    a = bits[vcols[t]] & ABS_BITS
                    mv = a if a > mv else mv
                vbits[b] = mv
            d |= (z != 0) | (mx >= INF_BITS)
            if h:  # (slices: an index j - h with h unknown kept the loop scalar, 3.5x)
                hi_r = row[h:]
                lo_r = row[: k - h]
                sg_r = sg_h[h:]
                for j in range(k - h):
                    s_j = sg_r[j]
                    e |= np.int64((hi_r[j] != s_j * lo_r[j]) & (s_j != 0.0))
            d |= e != 0
            for t in range(m):
                d |= row[cols[t]] != sg[t] * row[reps[t]]
            st = ST[b]
            rb = r[b]
            for g in range(ng):
                x = row[first[g]] * sf[g]
                st[g] = x
                ky[g] += x * rb
                nzb[g] |= bits[first[g]] & ABS_BITS
        bad[blk] = d
    vmax = vbits.view(np.float64)
    if bad.any():
        return False, vmax, ST
    key = np.zeros(ng)
    for g in range(ng):
        kg = 0.0
        nzg = np.int64(0)
        for blk in range(nblk):
            kg += pkey[blk, g]
            nzg |= pnz[blk, g]
        if nzg == 0:  # a group of zeros in this batch: its columns leave the fold
            return False, vmax, ST
        key[g] = abs(kg)
    ks = np.sort(key)
    for g in range(ng - 1):
        if not ks[g] < ks[g + 1]:  # two groups may be equal (or a NaN / inf key)
            return False, vmax, ST
    return True, vmax, ST


# the float32 product's variant (ST in float32)
_jit.declare(
    fold_check, F64_2D, F64, I64, BOOL, I64, INT, F64, F64, I64, I64, F64, I64, F64, F32_2D
)


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


@njit(inline="always")
def _nonzero_columns(S, b, cols):  # pragma: no cover - compiled
    """Write sample ``b``'s nonzero columns of ``S`` into ``cols`` in order; their count."""
    m = 0
    for j in range(S.shape[1]):
        if S[b, j] != 0.0:
            cols[m] = j
            m += 1
    return m


@njit(inline="always")
def _add_columns(A, S, b, cols, m, acc, i0, i1):  # pragma: no cover - compiled
    """``acc[i] += Σ_t A[i, cols[t]] S[b, cols[t]]`` for rows i0..i1, the terms added in
    the order of ``cols``: four columns per pass over the rows (the same sums as one
    column at a time; the partial sums loaded and stored a quarter as often)."""
    t = 0
    while t + 4 <= m:
        j0, j1, j2, j3 = cols[t], cols[t + 1], cols[t + 2], cols[t + 3]
        s0, s1, s2, s3 = S[b, j0], S[b, j1], S[b, j2], S[b, j3]
        for i in range(i0, i1):
            a = acc[i] + A[i, j0] * s0
            a = a + A[i, j1] * s1
            a = a + A[i, j2] * s2
            acc[i] = a + A[i, j3] * s3
        t += 4
    while t < m:
        j0 = cols[t]
        s0 = S[b, j0]
        for i in range(i0, i1):
            acc[i] += A[i, j0] * s0
        t += 1


@kernel(F64_2F, F64, F64_2D, F64_2D)
def gemv_nonzero(A, c0, S, out):  # pragma: no cover - compiled
    """A few samples' injections ``out[:, b] = c0 + Σ_j A[:, j] S[b, j]`` over the
    nonzero S[b, j] only, added in column order (``A`` column-major: a column is
    contiguous).  A small batch's GEMM would read all of A; an input that is zero (a
    dark pixel) costs nothing here.  One sample at a time, each nonzero column read
    whole (:func:`_add_columns`): one contiguous stream per column, and consecutive
    nonzero columns are adjacent in memory, so the hardware prefetcher streams them
    (DRN-1H, one digit, ~400 of 784 folded columns: 0.6x the time of blocks of 256
    rows, and a serial kernel: numba's parallel code of the same loop is as slow as
    the blocks).  Large maps with threads: :func:`gemv_nonzero_rows`."""
    rows = A.shape[0]
    cols = np.empty(S.shape[1], dtype=np.int64)
    acc = np.empty(rows)
    for b in range(S.shape[0]):
        m = _nonzero_columns(S, b, cols)
        for i in range(rows):
            acc[i] = c0[i]
        _add_columns(A, S, b, cols, m, acc, 0, rows)
        for i in range(rows):
            out[i, b] = acc[i]


@kernel(F64_2F, F64, F64_2D, F64_2D, INT, parallel=True)
def gemv_nonzero_rows(A, c0, S, out, nblk):  # pragma: no cover - compiled
    """:func:`gemv_nonzero` with the rows split into ``nblk`` blocks (the caller's
    thread count; each row summed by one thread, in the same order: the same sums bit
    for bit), for maps large enough that threads pay (the caller decides)."""
    rows = A.shape[0]
    k = S.shape[1]
    nb = S.shape[0]
    nzc = np.empty((nb, k), dtype=np.int64)  # each sample's nonzero columns
    cnt = np.zeros(nb, dtype=np.int64)
    for b in range(nb):
        cnt[b] = _nonzero_columns(S, b, nzc[b])
    nblk = max(1, min(nblk, rows))
    step = (rows + nblk - 1) // nblk
    for blk in prange(nblk):
        i0 = min(rows, blk * step)
        i1 = min(rows, i0 + step)
        acc = np.empty(rows)
        for b in range(nb):
            for i in range(i0, i1):
                acc[i] = c0[i]
            _add_columns(A, S, b, nzc[b], cnt[b], acc, i0, i1)
            for i in range(i0, i1):
                out[i, b] = acc[i]


def _prepare_signature(F2, F3):  # noqa: N803 - numba type names
    return (F2, F64, F64, F64_2D, F64_2D, F3, F3, F64)  # G, base, inv_diag, LO, HI, Q, U, qmax


@njit(inline="always")
def _prepare_tiles(G, base, inv_diag, LO, HI, Q2, U2, qmax, tmp, ch, n, w, t0, pair):  # noqa: N803
    """:func:`prepare_chunks` for the samples ``t0 …`` of chunk ``ch`` with shared
    bounds: one vector of samples (two when ``pair``) held in registers down all n
    rows: Q, U stored a vector at a time, the running max |q| never leaves a register.
    ``Q2``/``U2`` are Q/U as ``[chunk·n, w]``; ``tmp`` a float64 scratch of 2 vectors."""
    L = lanes(Q2)
    b0 = ch * w + t0
    z = widen(vload2(G, 0, b0))  # (only its type: float64 lanes as the sweeps' vector)
    qm0 = splat(0.0, z)
    qm1 = splat(0.0, z)
    for i in range(n):
        g0 = widen(vload2(G, i, b0))
        c0 = splat(base[i], g0)
        d = splat(inv_diag[i], g0)
        lo = splat(LO[i, 0], g0)
        hi = splat(HI[i, 0], g0)
        r = ch * n + i
        q0 = vmul(vadd(c0, g0), d)
        qm0 = vmax(qm0, vabs(q0))
        vstore2(Q2, r, t0, narrow(q0, Q2))
        vstore2(U2, r, t0, narrow(vmin(vmax(q0, lo), hi), U2))
        if pair:
            q1 = vmul(vadd(c0, widen(vload2(G, i, b0 + L))), d)
            qm1 = vmax(qm1, vabs(q1))
            vstore2(Q2, r, t0 + L, narrow(q1, Q2))
            vstore2(U2, r, t0 + L, narrow(vmin(vmax(q1, lo), hi), U2))
    vstore(tmp, 0, qm0)
    vstore(tmp, L, qm1)
    for k in range(2 * L if pair else L):
        qmax[b0 + k] = tmp[k]


@kernel(*_prepare_signature(F64_2D, F64_3D), parallel=True)
def prepare_chunks(G, base, inv_diag, LO, HI, Q, U, qmax):  # pragma: no cover - compiled
    """The sweeps' inputs in one pass over the injections c = ``base`` + ``G``
    (``G`` ``[n, B]`` the input map's product in the sweeps' precision, ``base`` [n]
    the injections at zero inputs): ``Q`` = c / diag and the cold start ``U`` =
    clip(Q, LO, HI) in chunk layout ``[chunk, n, w]`` (the sweeps' precision), and per
    sample ``qmax[b]`` = max_i |c_i| / diag_i (a part of the voltage scale).
    ``LO``/``HI`` are ``[n, 1]`` (shared) or ``[n, B]``.  The arithmetic is numpy's
    ``(base + G) · inv_diag`` in float64, then rounded to the sweeps' type (the sum c
    is never stored: the polish forms it for the few samples it needs).
    Chunks in parallel; with shared bounds (the common case) in register vectors of
    samples (:func:`_prepare_tiles`: DRN-1H batch 256 ~2.5× faster than the loop over
    each row's samples, whose short loops paid their overlap checks row by row)."""
    n = G.shape[0]
    nch = Q.shape[0]
    w = Q.shape[2]
    lo_s = 1 if LO.shape[1] > 1 else 0
    hi_s = 1 if HI.shape[1] > 1 else 0
    L = lanes(Q)
    if lo_s == 0 and hi_s == 0 and n > 0 and w % L == 0:
        Q2 = Q.reshape(nch * n, w)
        U2 = U.reshape(nch * n, w)
        for ch in prange(nch):
            tmp = np.empty(2 * L)
            t0 = 0
            while t0 + 2 * L <= w:
                _prepare_tiles(G, base, inv_diag, LO, HI, Q2, U2, qmax, tmp, ch, n, w, t0, True)
                t0 += 2 * L
            if t0 < w:
                _prepare_tiles(G, base, inv_diag, LO, HI, Q2, U2, qmax, tmp, ch, n, w, t0, False)
        return
    for ch in prange(nch):
        qm = np.zeros(w)
        for i in range(n):
            d = inv_diag[i]
            c0 = base[i]
            g = G[i, ch * w : (ch + 1) * w]
            qc = Q[ch, i]
            uc = U[ch, i]
            lo = LO[i]
            hi = HI[i]
            for t in range(w):
                b = ch * w + t
                q = (c0 + np.float64(g[t])) * d
                aq = abs(q)
                qm[t] = aq if aq > qm[t] else qm[t]
                qc[t] = q
                uc[t] = min(max(q, lo[b * lo_s]), hi[b * hi_s])
        for t in range(w):
            qmax[ch * w + t] = qm[t]


_jit.SIGNATURES.append((prepare_chunks, _prepare_signature(F32_2D, F32_3D)))


@njit
def _run_bounds(nodes, cols):  # pragma: no cover - compiled
    """Where ``(nodes[t], cols[t])`` runs as consecutive pairs (both + 1 per step): the
    runs' first indices, then ``nodes.shape[0]`` (a run is ``bounds[r] .. bounds[r + 1]``)."""
    n = nodes.shape[0]
    k = 1 if n else 0
    for t in range(1, n):
        if nodes[t] != nodes[t - 1] + 1 or cols[t] != cols[t - 1] + 1:
            k += 1
    bounds = np.empty(k + 1, dtype=np.int64)
    bounds[k] = n
    k = 0
    for t in range(n):
        if t == 0 or nodes[t] != nodes[t - 1] + 1 or cols[t] != cols[t - 1] + 1:
            bounds[k] = t
            k += 1
    return bounds


@njit(inline="always")
def _run(runs, r, nodes, cols, row, src):  # pragma: no cover - compiled
    """Run ``r`` of ``runs`` (:func:`_run_bounds`): its first entry, its length, and
    the slices of ``row`` (its nodes) and ``src`` (its columns) it covers."""
    t0 = runs[r]
    k = runs[r + 1] - t0
    return t0, k, row[nodes[t0] : nodes[t0] + k], src[cols[t0] : cols[t0] + k]


@kernel(
    *(F64, I64, I64, F64, F64, F64),  # offset0; one-term nodes: node, column, m, s0, offset
    *(I64, I64, F64),  # free nodes without terms: node, supernode, offset
    *(I64, I64, F64, I64, I64),  # the rest: term rows, columns, values; free nodes, supernodes
    *(F64, F64_2D, F64_2D, F64_2D),  # s0, S, UT, V
    parallel=True,
)
def assemble_voltages_s(
    offset0,
    one_node,
    one_col,
    one_m,
    one_s0,
    one_off,
    free_node,
    free_sn,
    free_off,
    m_row,
    m_col,
    m_val,
    rest_node,
    rest_sn,
    s0,
    S,
    UT,
    V,
):  # pragma: no cover - compiled
    """Node voltages ``V[b, k]`` = offset(s_b)[k] (+ u[supernode of k] for free nodes),
    with the offset map M: offset0[k] + Σ M[k, c] (S[b, c] − s0[c]) over k's entries in
    M's row order, then + u.  Three kinds of node, each written once with no
    read-modify-write chain: a node held by one input (one entry of M, not free):
    ``one_off + one_m · (S[b, c] − one_s0)``; a free node whose offset does not move:
    ``free_off + u``; every other node (``m_*`` its entries, ``rest_*`` its free part)
    added up in the same order as the one-kind formula would.  The offsets of the
    first two kinds are offset0's entries, read once at set-up.  Supernode voltages
    are read sample-major (``UT`` ``[B, n]``, as the sweeps write them).

    Only the nodes of neither of the first two kinds start from offset0 (the others
    are written once).  Each of the first two kinds is written run by run, a run being
    entries whose nodes and columns both go up by one (:func:`_run_bounds`), each run
    one contiguous loop, which runs as SIMD (an indexed loop cost ~1.3 ns a node: 2.2 µs
    a DRN-XS sample): a generated DRN is one run of each kind (its input nodes in input
    order, its free nodes in supernode order), a netlist file's a few (its nodes
    numbered by first mention: DRN-XS, 7 and 7); the same arithmetic either way.
    Samples in parallel."""
    n_nodes = V.shape[1]
    covered = np.zeros(n_nodes, dtype=np.bool_)
    for t in range(one_node.shape[0]):
        covered[one_node[t]] = True
    for t in range(free_node.shape[0]):
        covered[free_node[t]] = True
    n_other = 0
    for k in range(n_nodes):
        if not covered[k]:
            n_other += 1
    other = np.empty(n_other, dtype=np.int64)
    n_other = 0
    for k in range(n_nodes):
        if not covered[k]:
            other[n_other] = k
            n_other += 1
    one_runs = _run_bounds(one_node, one_col)
    free_runs = _run_bounds(free_node, free_sn)
    for b in prange(V.shape[0]):
        row = V[b]
        srow = S[b]
        urow = UT[b]
        for t in range(n_other):
            row[other[t]] = offset0[other[t]]
        for r in range(one_runs.shape[0] - 1):
            t0, k, dst, src = _run(one_runs, r, one_node, one_col, row, srow)
            off = one_off[t0 : t0 + k]
            m = one_m[t0 : t0 + k]
            s0r = one_s0[t0 : t0 + k]
            for t in range(k):
                dst[t] = off[t] + m[t] * (src[t] - s0r[t])
        for r in range(free_runs.shape[0] - 1):
            t0, k, dst, src = _run(free_runs, r, free_node, free_sn, row, urow)
            off = free_off[t0 : t0 + k]
            for t in range(k):
                dst[t] = off[t] + src[t]
        for t in range(m_row.shape[0]):
            c = m_col[t]
            row[m_row[t]] += m_val[t] * (srow[c] - s0[c])
        for t in range(rest_node.shape[0]):
            row[rest_node[t]] += urow[rest_sn[t]]


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
    # the samples' columns gathered into buffers allocated once (a shared column once);
    # copies, never views: a column of one row is contiguous, and writing a later
    # sample's values into a view would overwrite the caller's first column
    u0 = np.empty(n)
    lb = lo[:, 0].copy()
    hb = hi[:, 0].copy()
    w = ffl[:, 0].copy()
    for b in range(B):
        for i in range(n):
            out[i, b] = U0[i, b]
        if infeasible[b]:
            continue
        for i in range(n):
            u0[i] = U0[i, b]
        if lo.shape[1] > 1:
            for i in range(n):
                lb[i] = lo[i, b]
        if hi.shape[1] > 1:
            for i in range(n):
                hb[i] = hi[i, b]
        if ffl.shape[1] > 1:
            for k in range(w.shape[0]):
                w[k] = ffl[k, b]
        u, cyc = bellman_ford_start(u0, lb, hb, ff_anode, ff_cathode, w)
        if cyc.size:
            infeasible[b] = True
        else:
            for i in range(n):
                out[i, b] = u[i]
