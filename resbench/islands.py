"""Islands: parts of a circuit reached from the fixed voltages only through diodes.

An *island* is a group of nodes joined by resistors, voltage sources and shorts
that has no such path to ground (and no ``gmin`` leak).  Its voltages are still
defined when diodes tie it to the rest: two forward diodes in series, diode
logic, a current source feeding through a diode.  The reduced problem's matrix
L is then singular: its null directions are the shifts ``t_I`` of the islands.

Theory (docs/design.md §1; the energy is convex).  Fix one optimal point ``v*`` and one
optimal set of diode currents ``λ*``.  The optimal set is every feasible ``v``
that is tight on each diode with ``λ* > 0`` and has ``Lv = Lv*``, i.e.
``v* + Σ t_I 1_I`` over the difference-constraint polyhedron

    t_X − t_Y ≤ v*_c − v*_a  for each diode (anode in X, cathode in Y; t = 0 off islands)
    t_X − t_Y = 0            for each diode with λ* > 0.

It is ``{0}`` — the answer is unique — exactly when every island's largest and
smallest shift are 0: shortest paths in that constraint graph
(:func:`analyse`).  Otherwise an island whose diodes are all off can move
within a range.  ngspice models an ideal diode as a switch with a tiny
conductance ROFF⁻¹ across it when off (docs/design.md §5); as that leak goes to 0 its
answer tends to the optimal point that minimises the leak energy
``Σ_diodes (v_a − v_c)²``: :func:`spice_limit` computes it exactly (a small
strictly convex QP over the loose islands' shifts, solved as an LCP).

An island that no diode joins, even indirectly, to a fixed voltage has no
defined voltage at all (SPICE: singular matrix): :func:`undefined_islands`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from resbench._certificate_kernels import floating_labels, grounded_groups, shift_ranges
from resbench._unionfind import UnionFind
from resbench.circuit import Circuit

_LCP_ZERO = 1e-14  # entries of the scaled LCP vector (largest = 1) below this are the
# round-off of the Cholesky solves, not a diode voltage: zeroed so Lemke sees exact ties

__all__ = [
    "Uniqueness",
    "island_labels",
    "undefined_islands",
    "analyse",
    "spice_limit",
    "settle",
]


def island_labels(circuit: Circuit, gmin: float = 0.0) -> tuple[np.ndarray, int]:
    """Per node: the index of its island (0, 1, …) or −1 when resistors, voltage
    sources and shorts join it to ground.  Returns (labels, number of islands)."""
    n = circuit.n_nodes
    if gmin > 0 or n == 0:
        return np.full(n, -1, dtype=np.int64), 0
    res, vs, ind = circuit.resistors, circuit.vsources, circuit.inductors
    ra, rb = res.a, res.b
    la = np.concatenate([vs.a, ind.a]).astype(ra.dtype)
    lb = np.concatenate([vs.b, ind.b]).astype(ra.dtype)
    root = grounded_groups(n, ra, rb, la, lb)  # every resistor joins (0-ohm shorts too)
    labels, k = floating_labels(root)
    return labels, int(k)


def island_nodes(circuit: Circuit, labels: np.ndarray, island: int, limit: int = 12) -> list[str]:
    return [circuit.nodes[int(k)] for k in np.flatnonzero(labels == island)[:limit]]


def undefined_islands(circuit: Circuit, labels: np.ndarray, k: int) -> list[int]:
    """Islands that no chain of diodes joins to a fixed voltage (their voltage is
    not defined whatever the diodes do: SPICE reports a singular matrix)."""
    if k == 0:
        return []
    d = circuit.diodes
    x, y = labels[d.a] + 1, labels[d.b] + 1  # vertex 0 = everything joined to ground
    uf = UnionFind(k + 1)
    for p, q in zip(x.tolist(), y.tolist(), strict=True):
        rp, rq = uf.find(p), uf.find(q)
        if rp != rq:
            uf.union(max(rp, rq), min(rp, rq))  # the smaller root stays: vertex 0 = ground
    return [i for i in range(k) if uf.find(i + 1) != uf.find(0)]


@dataclass
class Uniqueness:
    """Whether the optimal node voltages are unique, and if not which islands move."""

    unique: bool = True
    n_islands: int = 0
    loose: list[int] = field(default_factory=list)  # islands that can shift
    low: list[float] = field(default_factory=list)  # per loose island: smallest shift (V)
    high: list[float] = field(default_factory=list)  # per loose island: largest shift (V)
    nodes: list[list[str]] = field(default_factory=list)  # per loose island: its nodes

    def node_names(self) -> list[str]:
        return [name for group in self.nodes for name in group]

    def message(self) -> str:
        """One sentence naming the nodes that can move, and by how much."""
        if self.unique:
            return "unique"
        parts = []
        for names, lo, hi in zip(self.nodes, self.low, self.high, strict=True):
            parts.append(f"{', '.join(names)} by any amount in [{lo:+.6g}, {hi:+.6g}] V")
        return (
            "answer NOT UNIQUE: node(s) reached only through diodes that are all off can "
            "shift together, from the reported voltages, without changing the energy or "
            "any current: " + "; ".join(parts)
        )


def analyse(
    circuit: Circuit,
    v: np.ndarray,
    diode_current: np.ndarray,
    *,
    vtol: float,
    itol: float,
    labels: np.ndarray | None = None,
    k: int | None = None,
    gmin: float = 0.0,
) -> Uniqueness:
    """Is the optimal point ``v`` (with optimal diode currents) the only one?  Shift
    ranges of every island by shortest paths (module docstring; the numba kernel
    :func:`resbench._certificate_kernels.shift_ranges`); slacks ≤ vtol count as 0 and
    currents ≤ itol as no current."""
    if labels is None or k is None:
        labels, k = island_labels(circuit, gmin)
    if k == 0:
        return Uniqueness()
    v = np.asarray(v, dtype=float)
    d = circuit.diodes
    slack = np.maximum(v[d.b] - v[d.a], 0.0)
    slack[slack <= vtol] = 0.0
    on = np.asarray(diode_current) > itol
    high, low = shift_ranges(k, labels[d.a] + 1, labels[d.b] + 1, slack, on)
    loose = np.flatnonzero((high > vtol) | (low < -vtol))
    if loose.size == 0:
        return Uniqueness(n_islands=k)
    return Uniqueness(
        unique=False,
        n_islands=k,
        loose=loose.tolist(),
        low=(low[loose] + 0.0).tolist(),
        high=high[loose].tolist(),
        nodes=[island_nodes(circuit, labels, int(i)) for i in loose],
    )


def spice_limit(
    circuit: Circuit,
    v: np.ndarray,
    diode_current: np.ndarray,
    report: Uniqueness,
    *,
    itol: float,
    labels: np.ndarray,
) -> np.ndarray:
    """The optimal point SPICE's answer tends to as its off-diode leak goes to 0.

    Among the optimal points ``v + Σ t_I 1_I`` (loose islands I of ``report``;
    the others stay), the one minimising ``Σ_diodes (v_a − v_c)²``: a strictly
    convex QP in t with the diode constraints ``new drop ≤ 0`` (and ``= 0`` where a
    diode carries current), solved exactly by Lemke's method on its dual.
    """
    from resbench.solvers.reference import LEMKE_OK, lemke

    v = np.asarray(v, dtype=float).copy()
    if report.unique:
        return v
    loose = np.asarray(report.loose, dtype=np.int64)
    var_of_island = np.full(report.n_islands + 1, -1, dtype=np.int64)
    var_of_island[loose + 1] = np.arange(loose.size)
    d = circuit.diodes
    x = var_of_island[labels[d.a] + 1]
    y = var_of_island[labels[d.b] + 1]
    # diodes carrying current tie their two ends: contract them (union–find over vars,
    # with −1 = the fixed rest)
    uf = UnionFind(loose.size + 1)  # index loose.size = the fixed rest
    fixed = loose.size
    on = np.asarray(diode_current) > itol
    for xi, yi in zip(x[on].tolist(), y[on].tolist(), strict=True):
        a, b = uf.find(xi if xi >= 0 else fixed), uf.find(yi if yi >= 0 else fixed)
        if a != b:
            uf.union(min(a, b), max(a, b))  # `fixed` is the largest index: it stays a root
    grp = np.array([uf.find(i) for i in range(loose.size + 1)])
    groups = np.unique(grp[grp != uf.find(fixed)])
    col = np.full(loose.size + 1, -1, dtype=np.int64)
    col[groups] = np.arange(groups.size)
    gx = col[grp[np.where(x >= 0, x, fixed)]]
    gy = col[grp[np.where(y >= 0, y, fixed)]]
    use = gx != gy
    ng, m = int(groups.size), int(use.sum())
    if ng == 0 or m == 0:
        return v
    bmat = np.zeros((m, ng))
    rows = np.arange(m)
    sel_x, sel_y = gx[use], gy[use]
    bmat[rows[sel_x >= 0], sel_x[sel_x >= 0]] += 1.0
    bmat[rows[sel_y >= 0], sel_y[sel_y >= 0]] -= 1.0
    drop = (v[d.a] - v[d.b])[use]
    drop = np.minimum(drop, 0.0)
    hmat = bmat.T @ bmat
    try:
        chol = np.linalg.cholesky(hmat)
    except np.linalg.LinAlgError:  # pragma: no cover - undefined islands are rejected first
        return v
    hinv_bt = np.linalg.solve(chol.T, np.linalg.solve(chol, bmat.T))
    mmat = bmat @ hinv_bt
    mmat = 0.5 * (mmat + mmat.T)
    q = mmat @ drop - drop
    scale = float(np.max(np.abs(q))) if q.size else 0.0
    mu = np.zeros(m)
    if scale > 0:
        q_s = q / scale
        q_s[np.abs(q_s) <= _LCP_ZERO] = 0.0
        z, status, _ = lemke(mmat, q_s)
        if status != LEMKE_OK:  # pragma: no cover - a PSD LCP from a feasible QP
            return v
        mu = z * scale
    t = -(hinv_bt @ (drop + mu))
    shift_of_var = np.zeros(loose.size + 1)
    member = col[grp] >= 0
    shift_of_var[member] = t[col[grp][member]]
    shift_of_island = np.zeros(report.n_islands)
    shift_of_island[loose] = shift_of_var[: loose.size]
    nodes = labels >= 0
    v[nodes] += shift_of_island[labels[nodes]]
    return v


def settle(
    circuit: Circuit, v: np.ndarray, diode_current: np.ndarray, *, vtol: float, itol: float
) -> tuple[np.ndarray, dict]:
    """Uniqueness of an optimal point of a circuit with islands, and the answer to
    report: ``v`` itself when unique, else the SPICE limit.  Returns (voltages,
    ``Solution.info`` entries: ``unique``, and when not unique ``uniqueness`` (which
    nodes move, by how much, from the reported voltages), ``non_unique_nodes`` and
    ``answer``, which says the voltages are the SPICE limit)."""
    labels, k = island_labels(circuit)
    report = analyse(circuit, v, diode_current, vtol=vtol, itol=itol, labels=labels, k=k)
    if report.unique:
        return v, {"unique": True}
    out = spice_limit(circuit, v, diode_current, report, itol=itol, labels=labels)
    # the ranges around the reported answer (the same optimal set, seen from there)
    report = analyse(circuit, out, diode_current, vtol=vtol, itol=itol, labels=labels, k=k)
    return out, {
        "unique": report.unique,
        "uniqueness": report.message(),
        "non_unique_nodes": ", ".join(report.node_names()),
        "answer": SPICE_LIMIT_NOTE,
    }


SPICE_LIMIT_NOTE = (
    "the SPICE limit: of all the optimal answers, the one ngspice's ideal-diode switch "
    "tends to as its off leak (ROFF) grows, i.e. the least sum of squared diode voltages"
)
