"""Slow, obvious reference implementations that tests compare against.

``enumerate_solve`` tries every on/off state of every diode: an *on* diode is
the equation ``v(anode) = v(cathode)``, an *off* diode is nothing.  For each
state the equality-constrained least-energy problem is one KKT system, solved
with ``lstsq``; a state is accepted when it is consistent, its off diodes are
not forward biased and its on diodes carry non-negative current.  When the
optimum is not unique (islands reached only through off diodes: ``v`` is free
along ``null([G; A])``), a second brute force over tight diodes finds, among the
optimal points, the one with the least ``Σ (v_a − v_c)²`` (SPICE's limit).

``projected_sor`` is the projected SOR sweep of the formula, node by node in plain
Python, that the numba sweep kernels must reproduce.
"""

from __future__ import annotations

import itertools

import numpy as np

from resbench.circuit import Circuit

MAX_DIODES = 10


def _rows(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Dense incidence rows e_a - e_b over the non-ground nodes (node k -> column k-1)."""
    out = np.zeros((len(a), n - 1))
    for i, (p, q) in enumerate(zip(a, b, strict=True)):
        if p:
            out[i, p - 1] += 1.0
        if q:
            out[i, q - 1] -= 1.0
    return out


def enumerate_solve(circuit: Circuit, *, eps: float = 1e-10) -> np.ndarray | None:
    """Node voltages (ground included) of ``circuit`` by brute force over diode states.

    Returns None when no diode state is acceptable (an infeasible circuit).
    ``eps`` is relative to the voltage and current scales of the circuit.
    Asserts that every accepted state gives the same voltages.
    """
    n = circuit.n_nodes
    res, dio, vs, isrc, ind = (
        circuit.resistors,
        circuit.diodes,
        circuit.vsources,
        circuit.isources,
        circuit.inductors,
    )
    assert len(dio) <= MAX_DIODES, "enumerate_solve is for at most 10 diodes"
    g = np.zeros((n - 1, n - 1))
    for p, q, r in zip(res.a, res.b, res.value, strict=True):
        if r > 0:
            row = _rows([p], [q], n)[0]
            g += np.outer(row, row) / r
    j = np.zeros(n)
    for p, q, val in zip(isrc.a, isrc.b, isrc.value, strict=True):
        j[q] += val
        j[p] -= val
    j = j[1:]
    shorts = res.value == 0
    a_eq = np.vstack(
        [_rows(vs.a, vs.b, n), _rows(res.a[shorts], res.b[shorts], n), _rows(ind.a, ind.b, n)]
    )
    b_eq = np.concatenate([vs.value, np.zeros(int(shorts.sum()) + len(ind))])
    d = _rows(dio.a, dio.b, n)

    # Work in volts: conductances divided by the largest, so multipliers are
    # currents / g_max and every residual is compared with the voltage scale.
    g_max = max((1.0 / r for r in res.value if r > 0), default=1.0)
    r_max = max((float(r) for r in res.value if r > 0), default=1.0)
    i_src = float(np.max(np.abs(isrc.value), initial=0.0))
    v_src = max(float(np.max(np.abs(vs.value), initial=0.0)), i_src * r_max)
    g, j = g / g_max, j / g_max

    found: list[np.ndarray] = []
    found_on: list[np.ndarray] = []  # per accepted state: diodes carrying current
    for state in itertools.product([False, True], repeat=len(dio)):
        on = np.array(state, dtype=bool)
        a = np.vstack([a_eq, d[on]])
        b = np.concatenate([b_eq, np.zeros(int(on.sum()))])
        m = a.shape[0]
        kkt = np.block([[g, a.T], [a, np.zeros((m, m))]])
        rhs = np.concatenate([j, b])
        sol, *_ = np.linalg.lstsq(kkt, rhs, rcond=None)
        v = sol[: n - 1]
        tol = eps * max(v_src, float(np.max(np.abs(v), initial=0.0)), 1e-300)
        if np.max(np.abs(kkt @ sol - rhs), initial=0.0) > tol:
            continue  # inconsistent: an on diode against a source (or conflicting sources)
        # multipliers of the diode rows are the diode currents (anode -> cathode) / g_max
        lam = sol[n - 1 + a_eq.shape[0] :]
        if np.any(lam < -tol):
            continue
        if np.any(d[~on] @ v > tol):
            continue
        found.append(np.concatenate([[0.0], v]))
        current = np.zeros(len(dio), dtype=bool)
        current[np.flatnonzero(on)] = lam > tol
        found_on.append(current)
    if not found:
        return None
    scale = max(v_src, max(float(np.max(np.abs(f))) for f in found), 1e-300)
    # Directions in which v is free (island shifts): null([G; A]).  Without them the
    # optimum is unique and every accepted state gives it.
    null = _null_space(np.vstack([g, a_eq]), n - 1)
    if null.shape[1] == 0:
        for other in found[1:]:
            assert np.allclose(other, found[0], rtol=0, atol=1e-8 * scale), (found[0], other)
        return found[0]
    if _null_space(np.vstack([g, a_eq, d]), n - 1).shape[1]:
        return None  # not even the diodes pin some shift: undefined
    v0, on0 = found[0][1:], found_on[0]
    limit = _least_leak(v0, on0, d, null, tol_v=eps * scale)
    return np.concatenate([[0.0], limit])


def _null_space(mat: np.ndarray, cols: int) -> np.ndarray:
    if mat.shape[0] == 0:
        return np.eye(cols)
    _, sing, vt = np.linalg.svd(mat)
    rank = int(np.sum(sing > 1e-10 * max(float(sing[0]) if sing.size else 0.0, 1e-300)))
    return vt[rank:].T


def _least_leak(v0, on_current, d, null, *, tol_v: float) -> np.ndarray:
    """Among the optimal points v0 + N t (diodes carrying current stay tight, every
    diode stays reverse biased or tight), the one with the least Σ (v_a − v_c)²: the
    limit of SPICE's switch model as its off leak vanishes.  Brute force over which
    diodes are tight, each an equality-constrained least-squares problem."""
    dn = d @ null
    varying = np.flatnonzero(np.max(np.abs(dn), axis=1) > 1e-12)
    must = [int(j) for j in np.flatnonzero(on_current) if j in set(varying.tolist())]
    optional = [int(j) for j in varying if j not in must]
    k = null.shape[1]
    best = None
    for state in itertools.product([False, True], repeat=len(optional)):
        eq = must + [j for j, s in zip(optional, state, strict=True) if s]
        # minimise ½‖D(v0 + N t)‖² s.t. D_eq (v0 + N t) = 0
        h = dn.T @ dn
        rhs_t = -dn.T @ (d @ v0)
        e = dn[eq]
        kkt = np.block([[h, e.T], [e, np.zeros((len(eq), len(eq)))]])
        rhs = np.concatenate([rhs_t, -(d[eq] @ v0)])
        sol, *_ = np.linalg.lstsq(kkt, rhs, rcond=None)
        if np.max(np.abs(kkt @ sol - rhs), initial=0.0) > 10 * tol_v:
            continue
        t, nu = sol[:k], sol[k:]
        v = v0 + null @ t
        if np.any(d @ v > tol_v):
            continue
        # multipliers of the optional tight diodes (constraint D v ≤ 0) must be ≥ 0
        n_must = len(must)
        if np.any(nu[n_must:] < -1e-9 * max(1.0, float(np.max(np.abs(nu), initial=0.0)))):
            continue
        if best is None:
            best = v
        else:
            assert np.allclose(best, v, rtol=0, atol=1e-7 * max(1.0, float(np.max(np.abs(v))))), (
                best,
                v,
            )
    assert best is not None, "the least-leak problem has no optimum"
    return best


def kcl_residual(
    circuit: Circuit, voltages: np.ndarray, feas_tol: float, gmin: float = 0.0
) -> np.ndarray:
    """KCL imbalance per node after the best choice of unknown currents, globally.

    The unknowns are the currents of every voltage source, short and tight diode
    (``v(anode) - v(cathode) >= -feas_tol``, current >= 0); one bounded least-squares
    problem over all of them at once, with ground's equation dropped (the
    certificate splits the same problem into clusters).  Returns the residual
    per node, ground included (as 0).
    """
    from scipy.optimize import lsq_linear

    n = circuit.n_nodes
    v = np.asarray(voltages, dtype=float)
    inj = np.zeros(n)
    for p, q, r in zip(
        circuit.resistors.a, circuit.resistors.b, circuit.resistors.value, strict=True
    ):
        if r > 0:
            cur = (v[p] - v[q]) / r
            inj[p] -= cur
            inj[q] += cur
    for p, q, val in zip(
        circuit.isources.a, circuit.isources.b, circuit.isources.value, strict=True
    ):
        inj[p] -= val
        inj[q] += val
    inj[1:] -= gmin * v[1:]
    cols: list[tuple[int, int, bool]] = []  # (from, to, non-negative)
    br = circuit.vsources
    cols += [(int(p), int(q), False) for p, q in zip(br.a, br.b, strict=True)]
    res = circuit.resistors
    cols += [
        (int(p), int(q), False) for p, q, r in zip(res.a, res.b, res.value, strict=True) if r == 0
    ]
    ind = circuit.inductors
    cols += [(int(p), int(q), False) for p, q in zip(ind.a, ind.b, strict=True)]
    dio = circuit.diodes
    cols += [
        (int(p), int(q), True)
        for p, q in zip(dio.a, dio.b, strict=True)
        if v[p] - v[q] >= -feas_tol
    ]
    if not cols:
        out = inj.copy()
        out[0] = 0.0
        return out
    bmat = np.zeros((n, len(cols)))
    for k, (p, q, _) in enumerate(cols):
        bmat[p, k] -= 1.0
        bmat[q, k] += 1.0
    lb = np.array([0.0 if nonneg else -np.inf for *_, nonneg in cols])
    scale = max(float(np.max(np.abs(inj[1:]), initial=0.0)), 1e-300)
    sol = lsq_linear(bmat[1:], -inj[1:] / scale, bounds=(lb, np.inf), method="bvls", tol=1e-14)
    out = inj + bmat @ (sol.x * scale)
    out[0] = 0.0
    return out


def projected_sor(p, u: np.ndarray, omega: float, sweeps: int) -> tuple[np.ndarray, float]:
    """Projected SOR in plain Python from the unscaled problem (docs/design.md §2 formula):
    x_i = (c_i + Σ_j g_ij u_j) / diag_i, bounds from lo/hi and free–free diodes.

    ``p`` is a :class:`resbench.solvers.problem.Problem`; returns (u after the sweeps,
    the largest |clip(x_i) − u_i| of the last sweep).  The kernel ``cd_sweeps`` must
    match it node by node (tests/test_cd.py)."""
    u = u.copy()
    res = 0.0
    for _ in range(sweeps):
        res = 0.0
        for i in range(p.n):
            s = p.c[i] + sum(
                p.data[k] * u[p.indices[k]] for k in range(p.indptr[i], p.indptr[i + 1])
            )
            x = s / p.diag[i]
            lo, hi = p.lo[i], p.hi[i]
            for a, cth, w in zip(p.ff_anode, p.ff_cathode, p.ff_limit, strict=True):
                if cth == i:  # u[a] − u[i] ≤ w  →  u[i] ≥ u[a] − w
                    lo = max(lo, u[a] - w)
                if a == i:  # u[i] − u[cth] ≤ w  →  u[i] ≤ u[cth] + w
                    hi = min(hi, u[cth] + w)
            res = max(res, abs(min(max(x, lo), hi) - u[i]))
            u[i] = min(max(u[i] + omega * (x - u[i]), lo), hi)
    return u, res


def csr_of_edges(edges: list[tuple[int, int]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The symmetric CSR pattern ``(ptr, idx)`` of an undirected graph on n nodes, each
    row's neighbours in the order of ``edges`` (no diagonal): for tests of the graph
    kernels."""
    rows: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        rows[a].append(b)
        rows[b].append(a)
    ptr = np.zeros(n + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(r) for r in rows])
    idx = np.array([j for r in rows for j in r], dtype=np.int32)
    return ptr, idx
