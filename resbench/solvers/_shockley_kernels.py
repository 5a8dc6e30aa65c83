"""numba kernels of the Shockley-diode solver (:mod:`resbench.solvers.shockley`).

No I/O.  The node update is the exact minimiser of the (convex) energy in one
supernode voltage: the root of a strictly increasing function

    φ(x) = A x − B + Σ_k s_k IS_k expm1((s_k x + t_k) / NVt_k)

(resistors and folded sources in ``A x − B``, one term per Shockley diode at the node,
``s_k = +1`` at its anode, ``−1`` at its cathode), found to round-off by a safeguarded
Newton iteration inside a bracket, then clipped to the node's ideal-diode bounds.
Exponents are capped at :data:`Z_MAX` so nothing overflows (φ there is ~1e290 times
``IS``: far from any root).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from resbench._jit import F64, FLOAT, I32, I64, INT, kernel

Z_MAX = 700.0  # exp(700) ≈ 1e304: the largest exponent evaluated
_EPS = 2.220446049250313e-16
NO_ROOT = -2  # status: a node's equation has no root (current beyond its diodes' reach)
CONVERGED = 0
SWEEP_LIMIT = 1


@njit(cache=True)
def _w_exp(y):  # pragma: no cover - compiled
    """Lambert W of exp(y) without forming exp(y): the root w > 0 of w + ln w = y."""
    if y < -700.0:
        return math.exp(y)
    if y > 1.0:
        ly = math.log(y)
        w = y - ly + ly / y  # two terms of the asymptotic series
    else:
        w = math.exp(y)
    for _ in range(30):  # Newton on w + ln w = y: quadratic from these starts
        nw = w * (1.0 + y - math.log(w)) / (1.0 + w)
        if abs(nw - w) <= 4e-16 * nw:
            return nw
        w = nw
    return w


@njit(cache=True, inline="always")
def _diode_iv(vd, i_s, nvt, rs):  # pragma: no cover - compiled
    """Current and conductance of a Shockley diode at drop ``vd`` (with series ``rs``:
    ``i = IS expm1((vd − i rs)/NVt)``, in closed form by Lambert W)."""
    if rs == 0.0:
        z = vd / nvt
        if z > Z_MAX:
            z = Z_MAX
        return i_s * math.expm1(z), i_s * math.exp(z) / nvt
    a = i_s * rs / nvt
    w = _w_exp(math.log(a) + (vd + i_s * rs) / nvt)
    i = nvt / rs * w - i_s
    j = i + i_s
    return i, j / (nvt + rs * j)


@njit(cache=True, inline="always")
def _phi(x, a_i, b_i, e0, e1, e_diode, e_sign, t, i_s, nvt, rs):  # pragma: no cover - compiled
    f = a_i * x - b_i
    df = a_i
    for e in range(e0, e1):
        k = e_diode[e]
        s = e_sign[e]
        i, g = _diode_iv(s * x + t[e - e0], i_s[k], nvt[k], rs[k])
        f += s * i
        df += g
    return f, df


@njit(cache=True)
def _root(x0, lo, hi, a_i, b_i, e0, e1, e_diode, e_sign, t, i_s, nvt, rs):  # pragma: no cover
    """The minimiser of the node's energy on [lo, hi]; NaN when φ has no root and no
    bound stops it."""
    f0, d0 = _phi(x0, a_i, b_i, e0, e1, e_diode, e_sign, t, i_s, nvt, rs)
    if f0 == 0.0:
        return x0
    if f0 > 0.0:  # the root is below x0
        xr, xl = x0, -np.inf
        if lo > -np.inf:
            fl, _ = _phi(lo, a_i, b_i, e0, e1, e_diode, e_sign, t, i_s, nvt, rs)
            if fl >= 0.0:
                return lo
            xl = lo
        else:
            step = f0 / d0 if d0 > 0.0 else 1.0
            for _ in range(400):
                cand = x0 - 2.0 * step
                fc, _d = _phi(cand, a_i, b_i, e0, e1, e_diode, e_sign, t, i_s, nvt, rs)
                if fc <= 0.0:
                    xl = cand
                    break
                xr = cand
                step *= 2.0
            if xl == -np.inf:
                return np.nan
    else:  # the root is above x0
        xl, xr = x0, np.inf
        if hi < np.inf:
            fh, _ = _phi(hi, a_i, b_i, e0, e1, e_diode, e_sign, t, i_s, nvt, rs)
            if fh <= 0.0:
                return hi
            xr = hi
        else:
            step = -f0 / d0 if d0 > 0.0 else 1.0
            for _ in range(400):
                cand = x0 + 2.0 * step
                fc, _d = _phi(cand, a_i, b_i, e0, e1, e_diode, e_sign, t, i_s, nvt, rs)
                if fc >= 0.0:
                    xr = cand
                    break
                xl = cand
                step *= 2.0
            if xr == np.inf:
                return np.nan
    # safeguarded Newton inside [xl, xr]
    x = x0 if xl < x0 < xr else 0.5 * (xl + xr)
    f, d = _phi(x, a_i, b_i, e0, e1, e_diode, e_sign, t, i_s, nvt, rs)
    for _ in range(200):
        if f == 0.0:
            return x
        if f > 0.0:
            xr = x
        else:
            xl = x
        nx = x - f / d if d > 0.0 else np.nan
        if not (xl < nx < xr):
            nx = 0.5 * (xl + xr)
        if nx == x or abs(nx - x) <= 2.0 * _EPS * abs(x) or xr - xl <= 4.0 * _EPS * abs(x):
            return nx
        x = nx
        f, d = _phi(x, a_i, b_i, e0, e1, e_diode, e_sign, t, i_s, nvt, rs)
    return x


@njit(cache=True, inline="always")
def _node_terms(i, u, e0, e1, e_diode, e_sign, e_other, d_const, g0, t):  # pragma: no cover
    """Fill t (the other ends) and return Σ s_k G0_k t_k for node i."""
    acc = 0.0
    for e in range(e0, e1):
        k = e_diode[e]
        o = e_other[e]
        other = u[o] if o >= 0 else 0.0
        te = d_const[e] - e_sign[e] * other
        t[e - e0] = te
        acc += e_sign[e] * g0[k] * te
    return acc


@kernel(
    I64, I32, F64, F64, F64, F64, F64, I64, I64, F64, I64, F64, F64, F64, F64, F64, F64, INT, FLOAT
)
def shockley_sweeps(
    indptr,
    indices,
    data,
    a_diag,
    c,
    lo,
    hi,
    e_ptr,
    e_diode,
    e_sign,
    e_other,
    e_const,
    i_s,
    nvt,
    rs,
    g0,
    u,
    max_sweeps,
    tol_v,
):  # pragma: no cover - compiled
    """Gauss–Seidel sweeps of exact node updates until the a-posteriori error estimate
    ``res_v · ρ / (1 − ρ)`` (res_v: the sweep's largest move, ρ: its ratio to the
    previous one) is ≤ ``tol_v``.  Returns (status, sweeps, estimate, bad node)."""
    n = u.shape[0]
    width = 1
    for i in range(n):
        width = max(width, e_ptr[i + 1] - e_ptr[i])
    t = np.empty(width)
    prev = np.inf
    est = np.inf
    for sweep in range(1, max_sweeps + 1):
        res_v = 0.0
        for i in range(n):
            b = c[i]
            for e in range(indptr[i], indptr[i + 1]):
                b += data[e] * u[indices[e]]
            e0, e1 = e_ptr[i], e_ptr[i + 1]
            b += _node_terms(i, u, e0, e1, e_diode, e_sign, e_other, e_const, g0, t)
            if e1 == e0:
                if a_diag[i] > 0.0:
                    x = min(max(b / a_diag[i], lo[i]), hi[i])
                else:
                    x = _root(u[i], lo[i], hi[i], a_diag[i], b, e0, e1, e_diode, e_sign, t,
                              i_s, nvt, rs)  # fmt: skip
            else:
                x = _root(
                    u[i], lo[i], hi[i], a_diag[i], b, e0, e1, e_diode, e_sign, t, i_s, nvt, rs
                )
            if x != x:
                return NO_ROOT, sweep, np.inf, i
            dv = abs(x - u[i])
            if dv > res_v:
                res_v = dv
            u[i] = x
        if res_v == 0.0:
            return CONVERGED, sweep, 0.0, -1
        rate = res_v / prev
        prev = res_v
        if rate < 1.0:
            est = res_v * rate / (1.0 - rate)
            if est <= tol_v and res_v <= tol_v:
                return CONVERGED, sweep, est, -1
    return SWEEP_LIMIT, max_sweeps, est, -1


@kernel(I64, I32, F64, F64, F64, F64, F64, I64, I64, F64, I64, F64, F64, F64, F64, F64, F64)
def shockley_residual(
    indptr, indices, data, a_diag, c, lo, hi, e_ptr, e_diode, e_sign, e_other, e_const, i_s,
    nvt, rs, g0, u,
):  # pragma: no cover - compiled  # fmt: skip
    """Largest KCL imbalance (A) at a free supernode after projection on its bounds."""
    n = u.shape[0]
    width = 1
    for i in range(n):
        width = max(width, e_ptr[i + 1] - e_ptr[i])
    t = np.empty(width)
    worst = 0.0
    for i in range(n):
        b = c[i]
        for e in range(indptr[i], indptr[i + 1]):
            b += data[e] * u[indices[e]]
        e0, e1 = e_ptr[i], e_ptr[i + 1]
        b += _node_terms(i, u, e0, e1, e_diode, e_sign, e_other, e_const, g0, t)
        g, _ = _phi(u[i], a_diag[i], b, e0, e1, e_diode, e_sign, t, i_s, nvt, rs)
        if u[i] <= lo[i] and g > 0.0:
            g = 0.0
        if u[i] >= hi[i] and g < 0.0:
            g = 0.0
        worst = max(worst, abs(g))
    return worst


@kernel(F64, F64, F64, F64, F64)
def series_node_voltages(va, vc, i_s, nvt, rs):  # pragma: no cover - compiled
    """Voltage of the node between a series resistance ``rs`` (from ``va``) and a
    Shockley diode (to ``vc``): the root of the decreasing
    ``(va − x)/rs − IS expm1((x − vc)/NVt)``, in [min(va, vc), max(va, vc)]."""
    m = va.shape[0]
    out = np.empty(m)
    for k in range(m):
        xl = min(va[k], vc[k])
        xr = max(va[k], vc[k])
        x = 0.5 * (xl + xr)
        for _ in range(300):
            z = min((x - vc[k]) / nvt[k], Z_MAX)
            f = (va[k] - x) / rs[k] - i_s[k] * math.expm1(z)
            d = -1.0 / rs[k] - i_s[k] * math.exp(z) / nvt[k]
            if f == 0.0:
                break
            if f > 0.0:
                xl = x
            else:
                xr = x
            nx = x - f / d
            if not (xl < nx < xr):
                nx = 0.5 * (xl + xr)
            if nx == x or abs(nx - x) <= 2.0 * _EPS * abs(x):
                x = nx
                break
            x = nx
        out[k] = x
    return out


@kernel(F64, F64, F64, F64)
def diode_currents(vd, i_s, nvt, rs):  # pragma: no cover - compiled
    """Currents and conductances of Shockley diodes at drops ``vd`` (:func:`_diode_iv`);
    returned as one array ``[i..., g...]``."""
    m = vd.shape[0]
    out = np.empty(2 * m)
    for k in range(m):
        i, g = _diode_iv(vd[k], i_s[k], nvt[k], rs[k])
        out[k] = i
        out[m + k] = g
    return out


@njit(cache=True)
def _newton_grad(x, indptr, indices, data, diag, c, d_sa, d_sc, d_const, i_s, nvt, rs, g0,
                 grad, g):  # pragma: no cover - compiled  # fmt: skip
    """The energy's gradient ``L x − c + Aᵀ(i(vd) − G0 vd)`` into ``grad`` and the
    diodes' conductances into ``g`` (``L``: the surrogate's Laplacian, whose G0 terms
    the ``− G0 vd`` undoes; ``A``: the diodes' incidence on the free supernodes)."""
    n = x.shape[0]
    for i in range(n):
        acc = diag[i] * x[i]
        for e in range(indptr[i], indptr[i + 1]):
            acc -= data[e] * x[indices[e]]
        grad[i] = acc - c[i]
    for k in range(d_sa.shape[0]):
        a = d_sa[k]
        b = d_sc[k]
        vd = d_const[k]
        if a >= 0:
            vd += x[a]
        if b >= 0:
            vd -= x[b]
        i, gk = _diode_iv(vd, i_s[k], nvt[k], rs[k])
        g[k] = gk
        r = i - g0[k] * vd
        if a >= 0:
            grad[a] += r
        if b >= 0:
            grad[b] -= r


@njit(cache=True)
def _newton_slope(t, u, step, x, indptr, indices, data, diag, c, d_sa, d_sc, d_const, i_s,
                  nvt, rs, g0, grad, g):  # pragma: no cover - compiled  # fmt: skip
    """The energy's derivative along ``step`` at ``u + t step`` (``x``, ``grad``, ``g``:
    work arrays)."""
    for i in range(u.shape[0]):
        x[i] = u[i] + t * step[i]
    _newton_grad(x, indptr, indices, data, diag, c, d_sa, d_sc, d_const, i_s, nvt, rs, g0,
                 grad, g)  # fmt: skip
    s = 0.0
    for i in range(u.shape[0]):
        s += step[i] * grad[i]
    return s


@kernel(I64, I32, F64, F64, F64, F64, F64, I64, I64, F64, F64, F64, F64, F64, F64, FLOAT, INT)
def newton_dense(indptr, indices, data, diag, c, lo, hi, d_sa, d_sc, d_const, i_s, nvt, rs, g0,
                 u, tol_i, max_iter):  # pragma: no cover - compiled  # fmt: skip
    """Projected Newton on a small reduced Shockley problem, dense, in place on ``u``;
    returns its iterations (``resbench.solvers.shockley.newton_polish`` describes the
    method, and runs it with scipy on larger problems).  One call instead of a few
    hundred numpy operations: on a circuit of a few nodes the Python version costs
    milliseconds, far more than its arithmetic."""
    n = u.shape[0]
    m = d_sa.shape[0]
    grad = np.empty(n)
    g = np.empty(m)
    xw = np.empty(n)
    gw = np.empty(n)
    gkw = np.empty(m)
    step = np.empty(n)
    free = np.empty(n, dtype=np.int64)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        _newton_grad(u, indptr, indices, data, diag, c, d_sa, d_sc, d_const, i_s, nvt, rs, g0,
                     grad, g)  # fmt: skip
        nf = 0
        worst = 0.0
        for i in range(n):
            if (u[i] <= lo[i] and grad[i] > 0.0) or (u[i] >= hi[i] and grad[i] < 0.0):
                continue
            free[nf] = i
            nf += 1
            worst = max(worst, abs(grad[i]))
        if nf == 0 or worst <= tol_i:
            break
        # the Hessian L + Aᵀ diag(g − G0) A on the free nodes
        pos = np.full(n, -1, dtype=np.int64)
        for j in range(nf):
            pos[free[j]] = j
        hess = np.zeros((nf, nf))
        for j in range(nf):
            i = free[j]
            hess[j, j] += diag[i]
            for e in range(indptr[i], indptr[i + 1]):
                q = pos[indices[e]]
                if q >= 0:
                    hess[j, q] -= data[e]
        for k in range(m):
            w = g[k] - g0[k]
            a = pos[d_sa[k]] if d_sa[k] >= 0 else -1
            b = pos[d_sc[k]] if d_sc[k] >= 0 else -1
            if a >= 0:
                hess[a, a] += w
            if b >= 0:
                hess[b, b] += w
            if a >= 0 and b >= 0:
                hess[a, b] -= w
                hess[b, a] -= w
        rhs = np.empty(nf)
        for j in range(nf):
            rhs[j] = -grad[free[j]]
        try:
            step_f = np.linalg.solve(hess, rhs)
        except Exception:  # singular: stop (the sweeps go on from u)
            break
        if not np.all(np.isfinite(step_f)):
            break
        step[:] = 0.0
        for j in range(nf):
            step[free[j]] = step_f[j]
        t_max = 1.0
        for i in range(n):
            if step[i] > 0.0:
                t_max = min(t_max, (hi[i] - u[i]) / step[i])
            elif step[i] < 0.0:
                t_max = min(t_max, (lo[i] - u[i]) / step[i])
        if t_max <= 0.0:
            break
        # the line search: the root in [0, t_max] of the increasing slope (regula falsi,
        # Illinois rule, bracketed, to about 1e-12 of t_max)
        s_hi = _newton_slope(t_max, u, step, xw, indptr, indices, data, diag, c, d_sa, d_sc,
                             d_const, i_s, nvt, rs, g0, gw, gkw)  # fmt: skip
        if s_hi <= 0.0:
            t = t_max
        else:
            lo_t, hi_t = 0.0, t_max
            s_lo = _newton_slope(0.0, u, step, xw, indptr, indices, data, diag, c, d_sa, d_sc,
                                 d_const, i_s, nvt, rs, g0, gw, gkw)  # fmt: skip
            if s_lo >= 0.0:
                t = 0.0
            else:
                side = 0
                for _ in range(100):
                    t = (lo_t * s_hi - hi_t * s_lo) / (s_hi - s_lo)
                    if not lo_t < t < hi_t:
                        t = 0.5 * (lo_t + hi_t)
                    st = _newton_slope(t, u, step, xw, indptr, indices, data, diag, c, d_sa,
                                       d_sc, d_const, i_s, nvt, rs, g0, gw, gkw)  # fmt: skip
                    if st > 0.0:
                        hi_t, s_hi = t, st
                        if side == 1:
                            s_lo *= 0.5
                        side = 1
                    else:
                        lo_t, s_lo = t, st
                        if side == -1:
                            s_hi *= 0.5
                        side = -1
                    if hi_t - lo_t <= 1e-12 * t_max or st == 0.0:
                        break
                t = lo_t
        moved = False
        for i in range(n):
            x = min(max(u[i] + t * step[i], lo[i]), hi[i])
            if x != u[i]:
                moved = True
            xw[i] = x
        if not moved:
            break
        u[:] = xw
    return it
