"""numba kernels of resbench.drn (no I/O): the fused SGD update of a weight matrix."""

from __future__ import annotations

import numpy as np
from numba import njit

from resbench import _jit
from resbench._jit import BOOL, F32, F32_2D, F64, F64_2D, FLOAT, I64, INT, kernel

__all__ = [
    "CONVERGED",
    "NOT_FINITE",
    "SWEEP_LIMIT",
    "apply_update",
    "apply_update_inject",
    "apply_update_lowrank",
    "drn_residual",
    "drn_sweeps",
    "input_injection",
]


@kernel(F64_2D, F64_2D, F64, F64, FLOAT, F64, F64)
def apply_update(w, cross, r, a, lr, col, row):  # pragma: no cover - compiled
    """In place: ``w[i, j] = max(w[i, j] − lr · (r[i] + a[j] − 2 · cross[i, j]), 0)``,
    adding each new row's values to ``col`` (float64) and writing its sum to ``row``.

    One pass over ``w`` (read once, written once): the SGD step of the EqProp
    estimate and the paper's clamp of the conductances at 0, and the sums the
    solver's next step needs.
    """
    n, m = w.shape
    for i in range(n):
        ri = r[i]
        acc = 0.0
        for j in range(m):
            v = w[i, j] - lr * (ri + a[j] - 2.0 * cross[i, j])
            if v < 0.0:
                v = 0.0
            w[i, j] = v
            col[j] += v
            acc += v
        row[i] = acc


_jit.SIGNATURES.append((apply_update, (F32_2D, F32_2D, F32, F32, FLOAT, F64, F32)))  # float32


@njit(cache=True)
def _update_row(w, i, ut, v, base, a, lrw, m2, zero, col, acc_row):  # pragma: no cover
    """Row ``i`` of the fused update: ``w[i] = max(w[i] − lr·(r_i + a − 2·Σ_k ut[i,k]·v[k]), 0)``
    with the column sums accumulated; K = 4 (the paper's batch) unrolled; ``lrw``,
    ``m2`` (−2) and ``zero`` in ``w``'s dtype (no float64 promotion)."""
    m = w.shape[1]
    K = ut.shape[1]
    if K == 4:
        c0 = m2 * ut[i, 0]
        c1 = m2 * ut[i, 1]
        c2 = m2 * ut[i, 2]
        c3 = m2 * ut[i, 3]
        for j in range(m):
            g = base + a[j] + c0 * v[0, j] + c1 * v[1, j] + c2 * v[2, j] + c3 * v[3, j]
            x = w[i, j] - lrw * g
            if x < zero:
                x = zero
            w[i, j] = x
            col[j] += x
    else:
        for j in range(m):
            acc_row[j] = base + a[j]
        for k in range(K):
            c = m2 * ut[i, k]
            if c != zero:
                for j in range(m):
                    acc_row[j] += c * v[k, j]
        for j in range(m):
            x = w[i, j] - lrw * acc_row[j]
            if x < zero:
                x = zero
            w[i, j] = x
            col[j] += x


@njit(cache=True)
def _constants(w, lr):  # pragma: no cover - compiled
    """lr, −2 and 0 in ``w``'s dtype."""
    scal = np.empty(3, dtype=w.dtype)
    scal[0] = lr
    scal[1] = -2.0
    scal[2] = 0.0
    return scal


@kernel(F64_2D, F64_2D, F64_2D, F64, F64, FLOAT, F64, F64, BOOL)
def apply_update_lowrank(w, ut, v, r, a, lr, col, row, need_row):  # pragma: no cover - compiled
    """:func:`apply_update` with the cross term made in the same pass:
    ``cross[i, j] = Σ_k ut[i, k] · v[k, j]`` (rank K = ``ut.shape[1]``, a small batch:
    the GEMM's rows are made and used while ``w``'s row is in cache, so ``w`` is
    still read and written once and no [n, m] temporary exists).  K = 4 (the
    paper's batch) runs unrolled.  Row sums only when ``need_row`` (the input
    layer's are never needed: its units are held).  Arithmetic in ``w``'s dtype."""
    n, m = w.shape
    acc_row = np.empty(m, dtype=w.dtype)
    scal = _constants(w, lr)
    for i in range(n):
        _update_row(w, i, ut, v, r[i], a, scal[0], scal[1], scal[2], col, acc_row)
        if need_row:
            acc = 0.0
            for j in range(m):
                acc += w[i, j]
            row[i] = acc


_jit.SIGNATURES.append(
    (apply_update_lowrank, (F32_2D, F32_2D, F32_2D, F32, F32, FLOAT, F64, F32, BOOL))
)  # float32


@kernel(F64_2D, F64_2D, F64_2D, F64, F64, FLOAT, F64, F64_2D, F64_2D)
def apply_update_inject(w, ut, v, r, a, lr, col, x_next, inj):  # pragma: no cover - compiled
    """:func:`apply_update_lowrank` of the input layer's weights (no row sums) that
    also makes the next batch's input injection ``inj = x_next · W_new`` in the same
    pass (``x_next`` [B', n] the next input layer ``gain · cat(x, -x)``; ``inj`` [B', m]
    starts at 0): each new row of ``W_0`` is used while it is in cache, so the next
    step needs no pass of its own over ``W_0``."""
    n, m = w.shape
    Bn = x_next.shape[0]
    acc_row = np.empty(m, dtype=w.dtype)
    scal = _constants(w, lr)
    zero = scal[2]
    for i in range(n):
        _update_row(w, i, ut, v, r[i], a, scal[0], scal[1], zero, col, acc_row)
        for b in range(Bn):
            xb = x_next[b, i]
            if xb != zero:
                for j in range(m):
                    inj[b, j] += xb * w[i, j]


_jit.SIGNATURES.append(
    (apply_update_inject, (F32_2D, F32_2D, F32_2D, F32, F32, FLOAT, F64, F32_2D, F32_2D))
)  # float32


@kernel(F64_2D, F64_2D, I64, FLOAT, F64_2D)
def input_injection(x, w0, rows, gain, out):  # pragma: no cover - compiled
    """``out = x_in · W_0`` for ``x_in = gain · cat(x, -x)``, reading only the rows of
    ``W_0`` of the pixels in ``rows`` (those nonzero in some sample): ``out[b] =
    gain · Σ_p x[b, p] (W_0[p] − W_0[m + p])``.  ``out`` starts at 0."""
    B = x.shape[0]
    m = x.shape[1]
    n = w0.shape[1]
    for t in range(rows.shape[0]):
        p = rows[t]
        for b in range(B):
            c = gain * x[b, p]
            if c != 0.0:
                for j in range(n):
                    out[b, j] += c * (w0[p, j] - w0[m + p, j])


_jit.SIGNATURES.append((input_injection, (F32_2D, F32_2D, I64, FLOAT, F32_2D)))  # float32

# ---------------------------------------------------------------------- the sweeps
CONVERGED = 0
SWEEP_LIMIT = 1
NOT_FINITE = 2
_EARLY_RHO = 0.5  # as resbench.solvers._kernels.cd_sweeps
_RHO_MAX = 0.999999
_ROUND_OFF_ULPS = 8.0
_WINDOW = 16


@njit(cache=True)
def _layer_update(wf, wt, woff, loff, L, k, u, b, const, inv, tmp):  # pragma: no cover - compiled
    """Exact update of free layer k of sample b in place on ``u[b]``; returns the
    largest move.  Layer k's units are ``loff[k] … loff[k+1]-1``; the weights
    between free layers k-1 and k are ``wf[woff[k-1]:]`` row-major
    ``[n_{k-1}, n_k]``, and their transpose ``wt[woff[k-1]:]`` ``[n_k, n_{k-1}]``.
    Both products are sums of contiguous rows scaled by one voltage (no reduction
    whose order the compiler would have to keep); zero voltages (diodes held)
    are skipped.  Hidden layers (k < L-1) are clipped at their diodes (first half
    >= 0, second half <= 0)."""
    lo = loff[k]
    n = loff[k + 1] - lo
    for j in range(n):
        tmp[j] = const[b, lo + j]
    if k > 0:  # Σ_i s_prev,i W[i, :]
        plo = loff[k - 1]
        base = woff[k - 1]
        for i in range(lo - plo):
            si = u[b, plo + i]
            if si != 0.0:
                row = base + i * n
                for j in range(n):
                    tmp[j] += si * wf[row + j]
    hidden = k < L - 1
    if hidden:  # Σ_m s_next,m Wᵀ[m, :]
        qlo = loff[k + 1]
        base = woff[k]
        for m in range(loff[k + 2] - qlo):
            sm = u[b, qlo + m]
            if sm != 0.0:
                row = base + m * n
                for j in range(n):
                    tmp[j] += sm * wt[row + j]
    move = 0.0
    half = n // 2
    for j in range(n):
        v = tmp[j] * inv[lo + j]
        if hidden:
            if j < half:
                if v < 0.0:
                    v = 0.0
            elif v > 0.0:
                v = 0.0
        d = abs(v - u[b, lo + j])
        if d > move or d != d:
            move = d
        u[b, lo + j] = v
    return move


@njit(cache=True)
def _solve_sample(
    wf, wt, woff, loff, const, inv, u, tol_v, eps, max_sweeps, sweeps, status, b, width
):  # pragma: no cover - compiled
    """The sweeps of sample b (see :func:`drn_sweeps`)."""
    L = loff.shape[0] - 1
    tmp = np.empty(width, dtype=u.dtype)
    ring = np.ones(4)
    past = np.zeros(_WINDOW)
    prev = np.inf
    status[b] = SWEEP_LIMIT
    sweeps[b] = max_sweeps
    for it in range(max_sweeps):
        res = 0.0
        for k in range(0, L, 2):
            mv = _layer_update(wf, wt, woff, loff, L, k, u, b, const, inv, tmp)
            if mv > res or mv != mv:
                res = mv
        for k in range(1, L, 2):
            mv = _layer_update(wf, wt, woff, loff, L, k, u, b, const, inv, tmp)
            if mv > res or mv != mv:
                res = mv
        if not (res < np.inf):
            status[b] = NOT_FINITE
            sweeps[b] = it + 1
            break
        ratio = res / prev if prev > 0.0 and prev < np.inf else 1.0
        prev = res
        ring[it % 4] = ratio
        rho = ring.max()
        if it >= _WINDOW and past[it % _WINDOW] > 0.0:
            long_rate = (res / past[it % _WINDOW]) ** (1.0 / _WINDOW)
            if long_rate > rho:
                rho = long_rate
        past[it % _WINDOW] = res
        if it < 3 and rho < _EARLY_RHO:
            rho = _EARLY_RHO
        if rho > _RHO_MAX:
            rho = _RHO_MAX
        est = res * rho / (1.0 - rho)
        if it >= 2 and est <= tol_v[b]:
            status[b] = CONVERGED
            sweeps[b] = it + 1
            break
        if res <= tol_v[b]:
            umax = 0.0
            for j in range(u.shape[1]):
                a = abs(u[b, j])
                if a > umax:
                    umax = a
            if res <= _ROUND_OFF_ULPS * eps * umax:
                status[b] = CONVERGED
                sweeps[b] = it + 1
                break


@kernel(F64, F64, I64, I64, F64_2D, F64, F64_2D, F64, FLOAT, INT, I64, I64)
def drn_sweeps(
    wf, wt, woff, loff, const, inv, u, tol_v, eps, max_sweeps, sweeps, status
):  # pragma: no cover - compiled
    """Exact block coordinate descent of a DRN's free layers, sample by sample, in
    place on ``u`` ``[B, n_free_units]`` (serial: under a shared machine, numba's
    threads were measured 10× slower than one, and a step's samples are few).

    Order: the paper's 'asynchronous' mode (free layers 0, 2, 4, … then 1, 3, …).
    Stopping rule: resbench.solvers._kernels.cd_sweeps's, per sample: the largest
    move of a sweep ``res_v`` and the contraction rate ρ (largest ratio of the last
    4 sweeps, or the geometric mean over the last 16 when larger; ≥ 0.5 in the
    first 3 sweeps) give the error estimate ``res_v ρ / (1 − ρ)``, which must be
    ``<= tol_v[b]`` (after >= 3 sweeps), or ``res_v`` is within 8 ulps (``eps``)
    of the largest voltage.  Writes ``sweeps[b]`` and ``status[b]`` (CONVERGED,
    SWEEP_LIMIT or NOT_FINITE).
    """
    B = u.shape[0]
    width = _width(loff)
    for b in range(B):
        _solve_sample(
            wf, wt, woff, loff, const, inv, u, tol_v, eps, max_sweeps, sweeps, status, b, width
        )


_jit.SIGNATURES.append(
    (drn_sweeps, (F32, F32, I64, I64, F32_2D, F32, F32_2D, F64, FLOAT, INT, I64, I64))
)  # float32


@njit(cache=True)
def _width(loff):  # pragma: no cover - compiled
    width = 0
    for k in range(loff.shape[0] - 1):
        if loff[k + 1] - loff[k] > width:
            width = loff[k + 1] - loff[k]
    return width


@njit(cache=True)
def _residual_sample(wf, woff, loff, const, diag, u, out, b):  # pragma: no cover - compiled
    L = loff.shape[0] - 1
    worst = 0.0
    for k in range(L):
        lo = loff[k]
        n = loff[k + 1] - lo
        hidden = k < L - 1
        for j in range(n):
            c = np.float64(const[b, lo + j])
            if k > 0:
                plo = loff[k - 1]
                base = woff[k - 1]
                for i in range(lo - plo):
                    c += np.float64(wf[base + i * n + j]) * np.float64(u[b, plo + i])
            if hidden:
                qlo = loff[k + 1]
                nn = loff[k + 2] - qlo
                base = woff[k] + j * nn
                for m in range(nn):
                    c += np.float64(wf[base + m]) * np.float64(u[b, qlo + m])
            x = c / diag[lo + j]
            if hidden:
                if j < n // 2:
                    x = max(x, 0.0)
                else:
                    x = min(x, 0.0)
            r = abs(x - np.float64(u[b, lo + j])) * diag[lo + j]
            if r > worst or r != r:
                worst = r
    out[b] = worst


@kernel(F64, I64, I64, F64_2D, F64, F64_2D, F64)
def drn_residual(wf, woff, loff, const, diag, u, out):  # pragma: no cover - compiled
    """Per sample, the largest projected KCL imbalance at a free unit,
    ``|clip(x_j) − u_j| · diag_j`` with ``x_j`` the unit's exact minimiser (paper units:
    times g_unit it is amperes), accumulated in float64.  Computed once at the end,
    apart from the sweeps: dot products over ``wf`` only (the sweeps use row
    sums of ``wf`` and its transpose), so a fault in one does not hide in the other."""
    for b in range(u.shape[0]):
        _residual_sample(wf, woff, loff, const, diag, u, out, b)


_jit.SIGNATURES.append((drn_residual, (F32, I64, I64, F32_2D, F64, F32_2D, F64)))  # float32
