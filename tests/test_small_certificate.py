"""The certificate's kernels (issue 16) against the Python they replaced.

``known_currents``, ``feasibility``, ``balance_clusters``, ``dense_clusters`` and
``shift_ranges`` replaced ~50 numpy calls and two Python Dijkstras of
:mod:`resbench.certificate` and :mod:`resbench.islands` (a few hundred µs on a circuit
of a few nodes).  The
Python versions are kept here, verbatim but for their names (and scipy's
``connected_components`` for the clusters), as the reference: on random circuits with
islands, shorts, sources and gmin, at solved and at random voltages, the kernels give
the same currents, scales, worst element, unknown currents and island shift ranges.
"""

from __future__ import annotations

import heapq

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components
from strategies import examples, random_circuits

from resbench import _certificate_kernels as K
from resbench import certificate as C
from resbench import islands
from resbench.circuit import Circuit
from resbench.errors import CircuitError
from resbench.solvers import solve


def _bincount(idx: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(idx, weights=weights, minlength=n).astype(np.float64, copy=False)


def _max_and_arg(x: np.ndarray) -> tuple[float, int]:
    if x.size == 0:
        return 0.0, -1
    k = int(np.argmax(x))
    return float(x[k]), k


# ---------------------------------------------------------------- the reference
def known_python(circuit: Circuit, v: np.ndarray, gmin: float) -> tuple[np.ndarray, float, float]:
    """The currents that follow from ``v`` alone, and the tolerance scales.

    Returns ``(inj, v_scale, i_scale)``: ``inj[k]`` is the net current that the
    resistors, current sources and ``gmin`` leaks push into node k; the scales are
    those of the module docstring (with their floors).
    """
    n = circuit.n_nodes
    res_r = circuit.resistors
    vsrc = circuit.vsources
    isrc = circuit.isources
    nv = len(vsrc)
    inj, tot, gsum = K.resistor_balance(res_r.a, res_r.b, res_r.value, v, n)
    # current sources: from a through the source to b (known branch currents)
    inj += _bincount(isrc.b, isrc.value, n) - _bincount(isrc.a, isrc.value, n)
    aki = np.abs(isrc.value)
    tot += _bincount(isrc.a, aki, n) + _bincount(isrc.b, aki, n)
    if gmin > 0:
        inj[1:] -= gmin * v[1:]
        tot[1:] += gmin * np.abs(v[1:])
    i_scale = float(np.max(tot[1:])) if n > 1 else 0.0

    v_scale = max(float(np.max(np.abs(vsrc.value))) if nv else 0.0, float(np.max(np.abs(v))))
    # Floor: at each node, its total current over its total conductance (at most
    # twice the largest voltage, plus what current sources alone would produce).
    gsum[1:] += gmin
    held = gsum[1:] > 0
    if np.any(held):
        v_scale = max(v_scale, float(np.max(tot[1:][held] / gsum[1:][held])))
    # Floors (all-zero circuits): C.V_SCALE_FLOOR, and the current it drives through the
    # largest conductance at a node, so tolerances stay absolute and sensible there.
    v_scale = max(v_scale, C.V_SCALE_FLOOR)
    g_big = float(np.max(gsum[1:])) if n > 1 else 0.0
    i_scale = max(i_scale, C.V_SCALE_FLOOR * g_big, C.I_SCALE_FLOOR)
    return inj, v_scale, i_scale


def feasibility_python(circuit: Circuit, v: np.ndarray):
    """The worst violation of ground, source, short and diode equations by ``v``.

    Returns ``(feas, worst_element, dv, shorts_r)``: the largest violation (V), the
    element (or "ground") that has it, every diode's ``v(anode) - v(cathode)``, and
    the indices of the 0-ohm resistors.
    """
    n = circuit.n_nodes
    res_r = circuit.resistors
    dio = circuit.diodes
    vsrc = circuit.vsources
    ind = circuit.inductors
    shorts_r = np.flatnonzero(res_r.value == 0)
    candidates: list[tuple[float, str | None]] = [(abs(float(v[0])) if n else 0.0, "ground")]
    m, k = _max_and_arg(np.abs(v[vsrc.a] - v[vsrc.b] - vsrc.value))
    if k >= 0:
        candidates.append((m, vsrc.names[k]))
    m, k = _max_and_arg(np.abs(v[res_r.a[shorts_r]] - v[res_r.b[shorts_r]]))
    if k >= 0:
        candidates.append((m, res_r.names[int(shorts_r[k])]))
    m, k = _max_and_arg(np.abs(v[ind.a] - v[ind.b]))
    if k >= 0:
        candidates.append((m, ind.names[k]))
    dv = v[dio.a] - v[dio.b]  # anode - cathode; must be <= 0
    m, k = _max_and_arg(np.maximum(dv, 0.0))
    if k >= 0:
        candidates.append((m, dio.names[k]))
    feas, worst_element = max(candidates, key=lambda t: t[0])
    return feas, worst_element, dv, shorts_r


def unknown_python(
    circuit: Circuit, inj: np.ndarray, shorts_r: np.ndarray, tight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Choose the unknown branch currents that balance KCL as well as possible.

    The unknowns are the currents (a -> b) of voltage sources, shorts, inductors
    (any sign) and the ``tight`` diodes (``>= 0``), in that order.  Their branches
    group the non-ground nodes into clusters, each solved on its own: one-node and
    one-branch clusters in closed form, the rest by bounded least squares.  Returns
    ``(x, res, n_free)``: the currents, each node's remaining KCL imbalance, and the
    number of sign-free unknowns (the diodes' currents are ``x[n_free:]``).
    """
    n = circuit.n_nodes
    res_r = circuit.resistors
    dio = circuit.diodes
    vsrc = circuit.vsources
    ind = circuit.inductors
    ua = np.concatenate([vsrc.a, res_r.a[shorts_r], ind.a, dio.a[tight]]).astype(np.intp)
    ub = np.concatenate([vsrc.b, res_r.b[shorts_r], ind.b, dio.b[tight]]).astype(np.intp)
    n_free = len(vsrc) + len(shorts_r) + len(ind)
    nonneg = np.zeros(ua.shape[0], dtype=bool)
    nonneg[n_free:] = True
    x = np.zeros(ua.shape[0])  # unknown currents, a -> b
    res = inj.copy()

    live = np.flatnonzero(ua != ub)  # self loops carry no KCL weight
    if live.size and n > 1:
        la, lb = ua[live], ub[live]
        internal = (la != 0) & (lb != 0)
        graph = sp.coo_matrix(
            (np.ones(int(internal.sum())), (la[internal], lb[internal])), shape=(n, n)
        )
        _, label = connected_components(graph, directed=False)
        comp = np.where(la != 0, label[la], label[lb])
        n_unknowns = np.bincount(comp, minlength=label.max() + 1)
        n_members = np.bincount(label[1:], minlength=label.max() + 1)
        c_size = n_members[comp]
        c_unk = n_unknowns[comp]

        one = np.flatnonzero(c_size == 1)
        if one.size:
            balance_one_node_python(live[one], ua, ub, nonneg, x, res)
        two = np.flatnonzero((c_size == 2) & (c_unk == 1))
        if two.size:
            balance_one_branch_python(live[two], ua, ub, nonneg, x, res)
        rest = np.flatnonzero((c_size >= 2) & ~((c_size == 2) & (c_unk == 1)))
        if rest.size:
            C._balance_dense(live[rest], comp[rest], label, n, ua, ub, nonneg, x, res)
    return x, res, n_free


def balance_one_node_python(br, ua, ub, nonneg, x, res) -> None:
    """Clusters of one node, every unknown joining it to ground (in place on x, res).

    A sign-free branch balances its node exactly; otherwise a diode whose direction
    opposes the imbalance takes it.
    """
    node = np.where(ua[br] != 0, ua[br], ub[br])
    sign = np.where(ua[br] == node, -1.0, 1.0)  # +1: current enters the node
    rn = res[node]
    # a free branch balances the node
    fr = ~nonneg[br]
    nodes_f, first_f = np.unique(node[fr], return_index=True)
    jf = br[fr][first_f]
    x[jf] = -rn[fr][first_f] * sign[fr][first_f]
    res[nodes_f] = 0.0
    # otherwise a diode whose direction opposes the imbalance
    dio_ok = nonneg[br] & (sign * rn < 0) & ~np.isin(node, nodes_f)
    nodes_d, first_d = np.unique(node[dio_ok], return_index=True)
    jd = br[dio_ok][first_d]
    x[jd] = np.abs(rn[dio_ok][first_d])
    res[nodes_d] = 0.0


def balance_one_branch_python(br, ua, ub, nonneg, x, res) -> None:
    """Clusters of two nodes joined by a single branch: split the imbalance (in place)."""
    a, b = ua[br], ub[br]
    xi = 0.5 * (res[a] - res[b])
    xi = np.where(nonneg[br], np.maximum(xi, 0.0), xi)
    x[br] = xi
    res[a] -= xi
    res[b] += xi


def graph_python(circuit: Circuit, v, lam, labels, vtol, itol):
    """Edges (from, to, weight) of the shift constraints t_to ≤ t_from + w."""
    d = circuit.diodes
    x, y = labels[d.a] + 1, labels[d.b] + 1
    m = x != y
    slack = np.maximum(v[d.b] - v[d.a], 0.0)
    slack[slack <= vtol] = 0.0
    on = np.asarray(lam) > itol
    edges: list[tuple[int, int, float]] = []
    for xi, yi, s, o in zip(
        x[m].tolist(), y[m].tolist(), slack[m].tolist(), on[m].tolist(), strict=True
    ):
        edges.append((yi, xi, 0.0 if o else s))  # t_x − t_y ≤ s
        if o:
            edges.append((xi, yi, 0.0))  # t_x − t_y ≥ 0
    return edges


def dijkstra_python(n_vertices: int, edges, source: int) -> np.ndarray:
    adj: list[list[tuple[int, float]]] = [[] for _ in range(n_vertices)]
    for a, b, w in edges:
        adj[a].append((b, w))
    dist = np.full(n_vertices, np.inf)
    dist[source] = 0.0
    heap = [(0.0, source)]
    while heap:
        dd, a = heapq.heappop(heap)
        if dd > dist[a]:
            continue
        for b, w in adj[a]:
            nd = dd + w
            if nd < dist[b]:
                dist[b] = nd
                heapq.heappush(heap, (nd, b))
    return dist


# ---------------------------------------------------------------- the comparisons
def _island_labels_python(circuit: Circuit) -> tuple[np.ndarray, int]:
    n = circuit.n_nodes
    res, vs, ind = circuit.resistors, circuit.vsources, circuit.inductors
    la = np.concatenate([vs.a, ind.a]).astype(res.a.dtype)
    lb = np.concatenate([vs.b, ind.b]).astype(res.a.dtype)
    root = K.grounded_groups(n, res.a, res.b, la, lb)
    labels = np.full(n, -1, dtype=np.int64)
    floating = root != 0
    if not floating.any():
        return labels, 0
    roots, inv = np.unique(root[floating], return_inverse=True)
    labels[floating] = inv
    return labels, int(roots.size)


def _voltages(circuit: Circuit, draw_random: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if not draw_random:
        try:
            return solve(circuit, "cd", certify=False).voltages
        except CircuitError:
            pass
    v = rng.normal(0.0, 2.0, circuit.n_nodes)
    v[0] = 0.0 if rng.random() < 0.8 else 1e-3
    return v


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    circuit=random_circuits(max_nodes=8, max_diodes=7, islands=2),
    draw_random=st.booleans(),
    gmin=st.sampled_from([0.0, 1e-3]),
    seed=st.integers(0, 2**16),
)
def test_kernels_match_the_python_certificate(
    circuit: Circuit, draw_random: bool, gmin: float, seed: int
) -> None:
    v = _voltages(circuit, draw_random, seed)
    inj, vs, is_ = C._known_currents_and_scales(circuit, v, gmin)
    inj0, vs0, is0 = known_python(circuit, v, gmin)
    assert (vs, is_) == (vs0, is0)
    np.testing.assert_array_equal(inj, inj0)

    feas, worst, dv, shorts = C._feasibility(circuit, v)
    feas0, worst0, dv0, shorts0 = feasibility_python(circuit, v)
    assert (feas, worst) == (feas0, worst0)
    np.testing.assert_array_equal(dv, dv0)
    np.testing.assert_array_equal(shorts, shorts0)

    for tol in (1e-9 * vs, 0.5):  # the certificate's, and one that makes diodes tight
        tight = np.flatnonzero(dv >= -tol)
        x, res, nf = C._unknown_currents(circuit, inj, shorts, tight)
        x0, res0, nf0 = unknown_python(circuit, inj, shorts, tight)
        assert nf == nf0
        np.testing.assert_allclose(x, x0, rtol=0.0, atol=1e-13 * is_)
        np.testing.assert_allclose(res, res0, rtol=0.0, atol=1e-13 * is_)

    labels, k = islands.island_labels(circuit)
    labels0, k0 = _island_labels_python(circuit)
    assert k == k0
    np.testing.assert_array_equal(labels, labels0)


@settings(max_examples=examples(75), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    circuit=random_circuits(max_nodes=8, max_diodes=7, islands=3),
    seed=st.integers(0, 2**16),
    on_share=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_shift_ranges_match_the_python_shortest_paths(
    circuit: Circuit, seed: int, on_share: float
) -> None:
    """``analyse``'s kernel against the Python Dijkstra it replaced, at random voltages
    and random diode currents (the ranges are shortest paths whatever the point)."""
    labels, k = islands.island_labels(circuit)
    if k == 0:
        return
    rng = np.random.default_rng(seed)
    v = rng.normal(0.0, 1.0, circuit.n_nodes)
    lam = np.where(rng.random(len(circuit.diodes)) < on_share, 1e-3, 0.0)
    vtol, itol = 1e-9, 1e-12
    rep = islands.analyse(circuit, v, lam, vtol=vtol, itol=itol, labels=labels, k=k)
    edges = graph_python(circuit, v, lam, labels, vtol, itol)
    high = dijkstra_python(k + 1, edges, 0)[1:]
    low = -dijkstra_python(k + 1, [(b, a, w) for a, b, w in edges], 0)[1:]
    loose = np.flatnonzero((high > vtol) | (low < -vtol))
    assert rep.unique == (loose.size == 0)
    assert rep.loose == loose.tolist()
    np.testing.assert_array_equal(rep.high, high[loose])
    np.testing.assert_array_equal(rep.low, low[loose] + 0.0)
