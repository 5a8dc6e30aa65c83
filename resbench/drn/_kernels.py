"""numba kernels of resbench.drn (no I/O): the fused SGD update of a weight matrix."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from resbench import _jit
from resbench._jit import F32, F32_2D, F64, F64_2D, FLOAT, I64, INT, kernel

__all__ = ["CONVERGED", "NOT_FINITE", "SWEEP_LIMIT", "apply_update", "drn_sweeps"]


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


# ---------------------------------------------------------------------- the sweeps
CONVERGED = 0
SWEEP_LIMIT = 1
NOT_FINITE = 2
_EARLY_RHO = 0.5  # as resbench.solvers._kernels.cd_sweeps
_RHO_MAX = 0.999999
_ROUND_OFF_ULPS = 8.0
_WINDOW = 16


@njit(cache=True)
def _layer_update(wf, woff, loff, L, k, u, b, const, inv, tmp):  # pragma: no cover - compiled
    """Exact update of free layer k of sample b in place on ``u[b]``; returns the
    largest move.  Layer k's units are ``loff[k] … loff[k+1]-1``; the weights
    between free layers k-1 and k are ``wf[woff[k-1]:]`` row-major
    ``[n_{k-1}, n_k]``; hidden layers (k < L-1) are clipped at their diodes (first
    half >= 0, second half <= 0)."""
    lo = loff[k]
    n = loff[k + 1] - lo
    for j in range(n):
        tmp[j] = const[b, lo + j]
    if k > 0:  # Σ_i s_prev,i W[i, j]: rows of the previous matrix, contiguous
        plo = loff[k - 1]
        n_prev = lo - plo
        base = woff[k - 1]
        for i in range(n_prev):
            si = u[b, plo + i]
            if si != 0.0:
                row = base + i * n
                for j in range(n):
                    tmp[j] += si * wf[row + j]
    move = 0.0
    half = n // 2
    hidden = k < L - 1
    if hidden:
        qlo = loff[k + 1]
        n_next = loff[k + 2] - qlo
        base = woff[k]
    else:
        qlo = 0
        n_next = 0
        base = 0
    for j in range(n):
        acc = tmp[j]
        row = base + j * n_next
        for m in range(n_next):
            acc += wf[row + m] * u[b, qlo + m]
        v = acc * inv[lo + j]
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


@kernel(F64, I64, I64, F64_2D, F64, F64_2D, F64, FLOAT, INT, I64, I64, parallel=True)
def drn_sweeps(
    wf, woff, loff, const, inv, u, tol_v, eps, max_sweeps, sweeps, status
):  # pragma: no cover - compiled
    """Exact block coordinate descent of a DRN's free layers, sample by sample (in
    parallel over samples), in place on ``u`` ``[B, n_free_units]``.

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
    L = loff.shape[0] - 1
    width = 0
    for k in range(L):
        if loff[k + 1] - loff[k] > width:
            width = loff[k + 1] - loff[k]
    for b in prange(B):
        tmp = np.empty(width, dtype=u.dtype)
        ring = np.ones(4)
        past = np.zeros(_WINDOW)
        prev = np.inf
        status[b] = SWEEP_LIMIT
        sweeps[b] = max_sweeps
        for it in range(max_sweeps):
            res = 0.0
            for k in range(0, L, 2):
                mv = _layer_update(wf, woff, loff, L, k, u, b, const, inv, tmp)
                if mv > res or mv != mv:
                    res = mv
            for k in range(1, L, 2):
                mv = _layer_update(wf, woff, loff, L, k, u, b, const, inv, tmp)
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


_jit.SIGNATURES.append(
    (drn_sweeps, (F32, I64, I64, F32_2D, F32, F32_2D, F64, FLOAT, INT, I64, I64))
)  # float32
