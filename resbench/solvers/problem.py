"""Circuit → Problem: the reduced optimisation problem the fast solvers work on.

    minimise  ½ uᵀ L u − cᵀ u   over the free supernode voltages u
    s.t.      lo ≤ u ≤ hi                     (diodes with one end on a fixed node)
              u[an] − u[ca] ≤ w               (diodes between two free supernodes)

Steps (docs/design.md §1, §2):

1. *Supernodes.*  Voltage sources, 0-ohm resistors and inductors fix voltage
   differences; a union–find with offsets merges their nodes so that
   ``v[k] = u[supernode[k]] + offset[k]``.  The supernode of ground is *fixed*: its nodes
   get ``supernode = -1`` and ``offset`` = their absolute voltage.  A loop of sources with
   conflicting values is a :class:`CircuitError` naming them.
2. *Fold.*  An edge to a fixed node adds its conductance to the free end's diagonal
   and a constant to its injection ``c``; only free–free edges go into the CSR
   matrix that the sweeps read, its supernodes numbered one greedy colour class after
   the other.  A light pass over the resistors lists the free–free edges and colours
   the supernodes; one more folds and writes the CSR directly in colour order
   (numba, :mod:`resbench.solvers._problem_kernels`; large arrays on huge pages,
   :mod:`resbench.solvers._memory`).
3. *Islands.*  A connected group of free supernodes without a conductance to a
   fixed voltage (and no ``gmin``) is an *island* (``Problem.island``): its voltages
   are defined through the diodes that join it to the rest (series diodes, diode
   logic), and L is singular there, so the solvers take a separate exact path
   (:mod:`resbench.islands`).  A group that no chain of diodes joins to a fixed
   voltage has no defined voltage: the error names its nodes.
4. *Diodes.*  A diode with one end fixed becomes a bound; a diode between two
   free supernodes becomes a difference constraint.  A feasible start comes from
   Bellman–Ford on the difference-constraint graph; a negative cycle means the
   sources force diodes to conduct through zero resistance: the error names them.

Up to :data:`SMALL_SIZE` elements (every bundled netlist but the largest generated
ones) steps 1–4 run as one kernel call, ``_problem_kernels.compile_small``: the same
kernels and arithmetic, without the ~40 numpy and kernel calls that cost ten times
the work on a small circuit (a ``.dc`` sweep or a small ``.op``).  It leaves every error,
and any value that is not finite or too large, to the path above, which raises it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from resbench._unionfind import UnionFind
from resbench.circuit import Circuit
from resbench.diodes import has_models
from resbench.errors import CircuitError, SolverError
from resbench.solvers import _kernels as kernels
from resbench.solvers import _memory
from resbench.solvers import _problem_kernels as setup_kernels

KVL_REL_TOL = 1e-9  # a loop of sources conflicts when its closing value and the drop the
# other links imply differ by more than this fraction of the larger (judged per loop,
# docs/design.md §1; the reference solver uses the same rule)
ROUND_OFF = 1e-12  # relative margin for values made by a few additions (offsets, folded
# conductances): far above double round-off, far below any difference a circuit means:
# a diode held by sources, crossed bounds, a supernode's conductance to fixed nodes
TINY = 1e-300  # a positive floor that keeps a relative margin meaningful at 0


@dataclass
class Problem:
    """The reduced problem.  Arrays are numpy; indices int32, values float64."""

    circuit: Circuit
    n: int  # number of free supernodes
    supernode: np.ndarray  # per circuit node: supernode index, -1 for fixed nodes
    offset: np.ndarray  # per circuit node: offset from its supernode (absolute voltage if fixed)
    indptr: np.ndarray  # CSR of free–free conductances (symmetric, both directions stored)
    indices: np.ndarray
    data: np.ndarray
    diag: np.ndarray  # total conductance at each free supernode (incl. edges to fixed nodes)
    c: np.ndarray  # constant injection (current sources + folded fixed-node edges), A
    lo: np.ndarray  # lower bounds (−inf if none)
    hi: np.ndarray  # upper bounds (+inf if none)
    # free–free diodes, one constraint each: u[ff_anode] − u[ff_cathode] ≤ ff_limit
    ff_anode: np.ndarray
    ff_cathode: np.ndarray
    ff_limit: np.ndarray
    ff_diode: np.ndarray  # index of each free–free constraint in circuit.diodes
    # the same diodes per node, as CSR lists: those INTO node i (i is the cathode) give
    # lo_i ≥ u[in_anode] − in_limit, those OUT of it (i is the anode) hi_i ≤
    # u[out_cathode] + out_limit
    in_ptr: np.ndarray
    in_anode: np.ndarray
    in_limit: np.ndarray
    out_ptr: np.ndarray
    out_cathode: np.ndarray
    out_limit: np.ndarray
    start: np.ndarray  # a feasible starting point
    v_scale: float
    i_scale: float
    gmin: float = 0.0
    # per free supernode: index of its island (a group that resistors do not join to a
    # fixed voltage, reached only through diodes; L is singular there), or -1; empty
    # when there is none
    island: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    n_islands: int = 0
    info: dict = field(default_factory=dict)

    @property
    def n_ff_diodes(self) -> int:
        return int(self.ff_anode.shape[0])

    @property
    def n_ff_edges(self) -> int:
        return int(self.indices.shape[0] // 2)

    def voltages(self, u: np.ndarray) -> np.ndarray:
        """Node voltages of the circuit (ground included) from supernode voltages u."""
        v = self.offset.copy()
        free = self.supernode >= 0
        v[free] += u[self.supernode[free]]
        return v

    def energy(self, u: np.ndarray) -> float:
        """Reduced energy ½ uᵀ L u − cᵀ u (differs from E(v) by a constant)."""
        lu = self.diag * u
        lu -= kernels.csr_matvec(self.indptr, self.indices, self.data, u)
        return float(0.5 * u @ lu - self.c @ u)

    def gradient(self, u: np.ndarray) -> np.ndarray:
        """L u − c: the net current *leaving* each free supernode (KCL imbalance)."""
        return self.diag * u - kernels.csr_matvec(self.indptr, self.indices, self.data, u) - self.c


# --------------------------------------------------------------------- supernodes
def _supernodes(circuit: Circuit, shorts: bool = True) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Union–find with offsets over voltage sources, 0-ohm resistors (``shorts``: there
    may be some) and inductors.

    Returns ``(supernode, offset, n, free_offsets)``: for node k, ``v[k] =
    u[supernode[k]] + offset[k]``, with the free supernodes numbered 0..n-1 in the
    order of their roots and ``supernode = -1`` for the nodes tied to ground (``offset``
    then is their absolute voltage); ``free_offsets``: some node of a free supernode has
    an offset other than 0 (a floating source).  The union–find
    (``_kernels.union_offsets``) runs on the nodes that a link touches, renumbered 0..
    in node order with ground first: it merges and adds in the same order as on all
    nodes, and every other node is its own root at offset 0, so the result is the same,
    without arrays over all nodes.
    """
    vs, res, ind = circuit.vsources, circuit.resistors, circuit.inductors
    shorts = np.flatnonzero(res.value == 0.0) if shorts else np.zeros(0, dtype=np.int64)
    la = np.concatenate([vs.a, res.a[shorts], ind.a]).astype(np.int64)
    lb = np.concatenate([vs.b, res.b[shorts], ind.b]).astype(np.int64)
    lval = np.concatenate([vs.value, np.zeros(shorts.size + len(ind))])
    ends = np.sort(np.concatenate([np.zeros(1, np.int64), la, lb]))
    ends = ends[np.concatenate([[True], ends[1:] != ends[:-1]])]  # distinct, ground first
    root, off, bad = kernels.union_offsets(
        ends.shape[0], np.searchsorted(ends, la), np.searchsorted(ends, lb), lval, KVL_REL_TOL
    )
    if bad >= 0:
        names = list(vs.names) + [res.names[int(j)] for j in shorts] + list(ind.names)
        links = list(zip(names, la.tolist(), lb.tolist(), lval.tolist(), strict=True))
        name, a, b, val = links[bad]
        loop = _source_loop(links[:bad], a, b)
        drop = _path_drop(links[:bad], a, b)
        elements = [name] + loop
        raise CircuitError(
            f"voltage sources form a loop whose values disagree (KVL): "
            f"{', '.join(elements)} require v({circuit.nodes[a]}) - v({circuit.nodes[b]}) "
            f"to be both {val:.12g} V and {drop:.12g} V (they differ by {abs(val - drop):.3g} V); "
            "remove one source or fix its value",
            elements=elements,
            nodes=[circuit.nodes[a], circuit.nodes[b]],
        )
    supernode = _memory.empty(circuit.n_nodes, np.int32)
    offset = _memory.empty(circuit.n_nodes, np.float64)
    n, free_offsets = setup_kernels.expand_supernodes(ends, root, off, supernode, offset)
    return supernode, offset, int(n), bool(free_offsets)


def _links_path(links, a: int, b: int) -> list[tuple[str, float]]:
    """(name, signed value) of the links on a path from a to b (BFS)."""
    adj: dict[int, list[tuple[int, str, float]]] = {}
    for name, x, y, val in links:
        adj.setdefault(x, []).append((y, name, val))  # v[x] - v[y] = val
        adj.setdefault(y, []).append((x, name, -val))
    prev: dict[int, tuple[int, str, float]] = {a: (-1, "", 0.0)}
    queue = [a]
    for node in queue:
        if node == b:
            break
        for nxt, name, val in adj.get(node, []):
            if nxt not in prev:
                prev[nxt] = (node, name, val)
                queue.append(nxt)
    out: list[tuple[str, float]] = []
    node = b
    while node in prev and prev[node][0] != -1:
        node, name, val = prev[node]
        out.append((name, val))
    return out


def _source_loop(links, a: int, b: int) -> list[str]:
    """Names of the links on a path from a to b (to name a conflicting KVL loop)."""
    return [name for name, _ in _links_path(links, a, b)]


def _path_drop(links, a: int, b: int) -> float:
    """v[a] − v[b] implied by the links on the path."""
    return float(sum(val for _, val in _links_path(links, a, b)))


# ------------------------------------------------------------------------ compile
def compile_problem(circuit: Circuit, *, gmin: float = 0.0) -> Problem:
    """Reduce a Circuit to a :class:`Problem`; raise CircuitError if it has no unique solution.

    The steps follow the module docstring: number the supernodes, fold the resistors
    (in sweep colour order), add the current sources and the ``gmin`` leak, find the
    islands, turn the diodes into bounds and difference constraints, then compute the
    tolerance scales and a feasible start.
    """
    if not (math.isfinite(gmin) and gmin >= 0):
        raise CircuitError(f"gmin must be a finite conductance >= 0, got {gmin:g}")
    if has_models(circuit):  # never read a PWL or Shockley diode as an ideal bound
        raise SolverError(
            "the circuit has piecewise-linear or Shockley diodes (docs/diodes.md); this "
            "solver reads every diode as ideal: use cd or reference"
        )
    if _is_small(circuit):
        p = _compile_small(circuit, gmin)
        if p is not None:
            return p
    bad, n_shorts = setup_kernels.scan_resistors(circuit.resistors.value)
    check_finite_values(circuit, resistors=bad >= 0)
    supernode, offset, n, free_offsets = _supernodes(circuit, n_shorts > 0)
    f = _fold_resistors(circuit, supernode, offset, n, free_offsets)
    supernode, indptr, indices, data, diag, c = f[:6]
    _add_current_sources(circuit, supernode, n, c)
    if gmin > 0:
        _add_gmin_leak(supernode, offset, n, gmin, diag, c)

    every_row = gmin > 0 or not f.marked  # else only the rows of held supernodes
    if n and setup_kernels.all_grounded(
        diag, indptr, data, f.held, every_row, f.parent, f.n_groups, f.rank, ROUND_OFF, TINY
    ):
        island = np.zeros(0, dtype=np.int64)  # every group is held: nothing to label
    else:
        island = _islands(circuit, supernode, n, indptr, indices, data, diag)

    if len(circuit.diodes):
        lo, hi, ff_anode, ff_cathode, ff_limit, ff_diode = _diode_constraints(
            circuit, supernode, offset, n
        )
        _check_bounds_meet(circuit, supernode, lo, hi)
        v_scale, i_scale = _scales(circuit, supernode, offset, diag, c)  # relative tolerances
        start = np.clip(np.divide(c, diag, out=np.zeros(n), where=diag > 0), lo, hi)
    else:  # infinite bounds, no constraints; the scales, bounds and start in one pass
        (lo, start), hi = f.spare, _memory.empty(n, np.float64)
        ff_anode = ff_cathode = np.zeros(0, dtype=np.int32)
        ff_limit, ff_diode = np.zeros(0), np.zeros(0, dtype=np.int64)
        v_scale, i_scale = _scales(circuit, supernode, offset, diag, c, (lo, hi, start))
    in_ptr, in_anode, in_limit = _adjacency(n, ff_cathode, ff_anode, ff_limit)
    out_ptr, out_cathode, out_limit = _adjacency(n, ff_anode, ff_cathode, ff_limit)

    # ---- feasible start
    if ff_anode.size:
        start = _feasible_start(
            circuit, start, lo, hi, ff_anode, ff_cathode, ff_limit, ff_diode, supernode
        )

    return Problem(
        circuit=circuit,
        n=n,
        supernode=supernode,
        offset=offset,
        indptr=indptr,
        indices=indices,
        data=data,
        diag=diag,
        c=c,
        lo=lo,
        hi=hi,
        ff_anode=ff_anode,
        ff_cathode=ff_cathode,
        ff_limit=ff_limit,
        ff_diode=ff_diode,
        in_ptr=in_ptr,
        in_anode=in_anode,
        in_limit=in_limit,
        out_ptr=out_ptr,
        out_cathode=out_cathode,
        out_limit=out_limit,
        start=start,
        v_scale=v_scale,
        i_scale=i_scale,
        gmin=gmin,
        island=island,
        n_islands=int(island.max()) + 1 if island.size else 0,
    )


SMALL_SIZE = 100_000  # nodes + resistors + diodes up to which compile_problem runs as
# one kernel call (_problem_kernels.compile_small): a bundled netlist's ~40 calls of
# the large path cost 10× the work (0.3-0.6 ms against 40-60 µs), and up to here its
# arrays (< 2 MB each) gain nothing from huge pages (drn_xs, 80k elements: 0.6 ms
# against 1.4 ms); the large path's huge pages and link-end-only union–find pay off
# from 1M resistors on


def _is_small(circuit: Circuit) -> bool:
    """Whether :func:`compile_problem` takes the one-call path (:data:`SMALL_SIZE`)."""
    return len(circuit.nodes) + len(circuit.resistors) + len(circuit.diodes) <= SMALL_SIZE


def _compile_small(circuit: Circuit, gmin: float) -> Problem | None:
    """:func:`compile_problem` as one kernel call (``_problem_kernels.compile_small``,
    the same Problem bit for bit), or None where the large path must run: an error to
    raise with its message, or a value that is not finite or too large."""
    vs, res, isrc, ind, dio = (
        circuit.vsources,
        circuit.resistors,
        circuit.isources,
        circuit.inductors,
        circuit.diodes,
    )
    out = setup_kernels.compile_small(
        len(circuit.nodes),
        vs.a,
        vs.b,
        vs.value,
        res.a,
        res.b,
        res.value,
        isrc.a,
        isrc.b,
        isrc.value,
        ind.a,
        ind.b,
        dio.a,
        dio.b,
        float(gmin),
        _SMALL_CONSTS,
    )
    if out[0] != setup_kernels.SMALL_OK:
        return None
    return Problem(circuit, *out[1:22], *out[22:24], gmin, *out[24:26])


def _number_supernodes(circuit: Circuit) -> tuple[np.ndarray, int, np.ndarray]:
    """Merge source-joined nodes and number the free supernodes (step 1).

    Returns ``(supernode, n, offset)``: ``supernode[k]`` is node k's free supernode
    (0..n-1, in the order of their union–find roots), or -1 when it is tied to ground;
    ``offset[k]`` is its voltage above its supernode's (for a fixed node, its absolute
    voltage).  :func:`compile_problem` then renumbers the supernodes in colour order.
    """
    supernode, offset, n, _ = _supernodes(circuit)
    return supernode, n, offset


class _Folded(NamedTuple):
    """What :func:`_fold_resistors` returns: the renumbered supernodes, the CSR, the
    diagonal and the injection, and for :func:`_problem_kernels.all_grounded` the
    supernodes with a resistor to a fixed node (when ``marked``), the union–find
    forest of the free–free graph with its number of groups, and each supernode's rank
    (its number in colour order, by its first number).  ``spare``: two float64 arrays
    of one entry per supernode whose memory held scratch (dead once
    :func:`_problem_kernels.all_grounded` has run): buffers for ``lo`` and ``start``."""

    supernode: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    diag: np.ndarray
    c: np.ndarray
    held: np.ndarray
    marked: bool
    parent: np.ndarray
    n_groups: int
    rank: np.ndarray
    spare: tuple[np.ndarray, np.ndarray]


def _mark_held(m: int, m_ff: int, n: int) -> bool:
    """Whether the fold marks the supernodes with a resistor to a fixed node: when that
    costs less than summing every row in the island check (a store per such resistor,
    about m − m_ff of them, against n + 2·m_ff reads).  Either way the answer is the
    same (tests/test_problem_setup.py runs both)."""
    return m - m_ff <= n + 2 * m_ff


def _fold_resistors(
    circuit: Circuit, supernode: np.ndarray, offset: np.ndarray, n: int, free_offsets: bool
) -> _Folded:
    """Fold the resistors into L and c (step 2), renumbered into sweep colour order.

    Edges to fixed nodes go into ``diag`` and ``c``; free–free edges into the CSR
    ``(indptr, indices, data)``, whose supernodes are numbered one colour class after
    the other (consecutive sweep updates are independent).  Three kernels of
    :mod:`resbench.solvers._problem_kernels` on arrays allocated here
    (:mod:`resbench.solvers._memory`).
    """
    res = circuit.resistors
    m = len(res)
    if m >= 2**31 - 1:  # the kernels number resistors with int32
        raise CircuitError(f"too many resistors ({m:,}): at most {2**31 - 2:,} are supported")
    # scratch in buffers that later take lo (deg, head: dead after renumber) and the
    # start (color, parent: dead after the island check): fewer fresh pages
    spare = (_memory.empty(n, np.float64), _memory.empty(n, np.float64))
    deg, head = spare[0].view(np.int32)[:n], spare[0].view(np.int32)[n:]
    color, parent = spare[1].view(np.int32)[:n], spare[1].view(np.int32)[n:]
    mark = _memory.empty(n + 1, np.int32)
    lists = _memory.empty(2 * m, np.int32)  # the edge lists (low, nxt), then the indices
    low, nxt = lists[:m], lists[m:]
    m_ff, n_colors, n_groups = setup_kernels.order_supernodes(
        res.a, res.b, res.value, supernode, deg, head, low, nxt, color, mark, parent
    )
    indptr = _memory.empty(n + 1, np.int64)
    # renumbered in place (the first numbering is not needed after this); the linked
    # lists' heads are scratch for the row lengths
    new_supernode = supernode
    setup_kernels.renumber(supernode, color, n_colors, deg, head, indptr, new_supernode)
    diag = _memory.zeros(n, np.float64)
    c = _memory.zeros(n, np.float64)
    held = np.zeros(n, dtype=np.uint8)
    # the lists are dead after the colouring: their buffer takes the indices (8 MB
    # fewer fresh pages on a 1M-resistor grid) when they fill at least half of it
    indices = lists[: 2 * m_ff] if 2 * m_ff >= m else _memory.empty(2 * m_ff, np.int32)
    data = _memory.empty(2 * m_ff, np.float64)
    mark_held = _mark_held(m, m_ff, n)
    fold = setup_kernels.fold_fill if mark_held else setup_kernels.fold_fill_unmarked
    fold(
        res.a,
        res.b,
        res.value,
        new_supernode,
        offset,
        free_offsets,
        indptr,
        diag,
        c,
        held,
        indices,
        data,
    )
    return _Folded(
        new_supernode, indptr, indices, data, diag, c, held, mark_held, parent, n_groups, color,
        spare,
    )  # fmt: skip


def _add_current_sources(circuit: Circuit, supernode: np.ndarray, n: int, c: np.ndarray) -> None:
    """Add each current source to the injections ``c`` in place: out of a, into b."""
    isrc = circuit.isources
    if len(isrc):
        sa, sb = supernode[isrc.a], supernode[isrc.b]
        m = sb >= 0
        c += np.bincount(sb[m], weights=isrc.value[m], minlength=n)
        m = sa >= 0
        c -= np.bincount(sa[m], weights=isrc.value[m], minlength=n)


def _add_gmin_leak(
    supernode: np.ndarray,
    offset: np.ndarray,
    n: int,
    gmin: float,
    diag: np.ndarray,
    c: np.ndarray,
) -> None:
    """Add a ``gmin`` conductance to ground from every non-ground node, in place."""
    members = supernode >= 0
    diag += np.bincount(supernode[members], minlength=n) * gmin
    c -= np.bincount(supernode[members], weights=gmin * offset[members], minlength=n)


def _diode_constraints(circuit: Circuit, supernode: np.ndarray, offset: np.ndarray, n: int):
    """Turn the diodes into bounds and difference constraints (step 4).

    A diode with both ends fixed (or in one supernode) is a constant check, an error
    when sources force it forward; one end fixed tightens ``lo``/``hi``; free–free
    becomes ``u[an] - u[ca] <= limit``.  Returns
    ``(lo, hi, ff_anode, ff_cathode, ff_limit, ff_diode)``.
    """
    lo = _memory.full(n, -np.inf)
    hi = _memory.full(n, np.inf)
    dio = circuit.diodes
    ff_anode = ff_cathode = np.zeros(0, dtype=np.int32)
    ff_limit = np.zeros(0)
    ff_diode = np.zeros(0, dtype=np.int64)
    if len(dio):
        sa, sb = supernode[dio.a], supernode[dio.b]
        oa, ob = offset[dio.a], offset[dio.b]
        # both ends fixed, or both in one supernode: a constant check v_a <= v_c
        const = ((sa < 0) & (sb < 0)) | ((sa == sb) & (sa >= 0))
        vdiff = oa - ob  # v_a - v_c when both fixed or in the same supernode
        vtol = ROUND_OFF * max(1.0, float(np.max(np.abs(offset))))
        bad = np.flatnonzero(const & (vdiff > vtol))
        if bad.size:
            j = int(bad[0])
            raise CircuitError(
                f"diode {dio.names[j]} is forced to conduct through zero resistance: sources "
                f"hold v({circuit.nodes[dio.a[j]]}) - v({circuit.nodes[dio.b[j]]}) = "
                f"{vdiff[j]:g} V > 0 across it; add a series resistor or change the sources",
                elements=[dio.names[j]] + _holders(circuit, [int(dio.a[j]), int(dio.b[j])]),
            )
        m = (sa >= 0) & (sb < 0)  # anode free, cathode fixed: u[sa] <= v_c - off_a
        np.minimum.at(hi, sa[m], ob[m] - oa[m])
        m = (sa < 0) & (sb >= 0)  # anode fixed, cathode free: u[sb] >= v_a - off_c
        np.maximum.at(lo, sb[m], oa[m] - ob[m])
        m = (sa >= 0) & (sb >= 0) & (sa != sb)  # free–free: u[sa] - u[sb] <= off_c - off_a
        ff_diode = np.flatnonzero(m)
        ff_anode = sa[ff_diode].astype(np.int32)
        ff_cathode = sb[ff_diode].astype(np.int32)
        ff_limit = (ob[ff_diode] - oa[ff_diode]).astype(np.float64)
    return lo, hi, ff_anode, ff_cathode, ff_limit, ff_diode


def _check_bounds_meet(
    circuit: Circuit, supernode: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> None:
    """Raise CircuitError naming the diodes when a supernode's bounds cross (lo > hi)."""
    crossed = np.flatnonzero(lo > hi + ROUND_OFF * np.maximum(1.0, np.abs(lo)))
    if crossed.size:
        i = int(crossed[0])
        names = _bound_diodes(circuit, supernode, [i])
        raise CircuitError(
            f"diodes {', '.join(names)} cannot all be satisfied: they need node(s) "
            f"{', '.join(_members(circuit, supernode, i))} to be >= {lo[i]:g} V and "
            f"<= {hi[i]:g} V at "
            "once, which would force them to conduct through zero resistance; add a series "
            "resistor or change the sources",
            elements=names + _holders(circuit, _diode_nodes(circuit, names)),
            nodes=_members(circuit, supernode, i),
        )


V_SCALE_FLOOR = 1e-3  # V: below it tolerances are absolute (1e-12 × 1 mV = 1e-15 V for the
# sweeps), so a circuit whose sources are all zero gets sensible, not denormal, tolerances
I_SCALE_FLOOR = 1e-15  # A
MAX_SCALE = 1e100  # largest voltage (V) or current (A) scale: beyond it products overflow

# problem.py's constants for _problem_kernels.compile_small, in its order
_SMALL_CONSTS = np.zeros(6)
_SMALL_CONSTS[
    [
        setup_kernels.C_KVL_REL_TOL,
        setup_kernels.C_ROUND_OFF,
        setup_kernels.C_TINY,
        setup_kernels.C_MAX_SCALE,
        setup_kernels.C_V_FLOOR,
        setup_kernels.C_I_FLOOR,
    ]
] = [KVL_REL_TOL, ROUND_OFF, TINY, MAX_SCALE, V_SCALE_FLOOR, I_SCALE_FLOOR]


def check_finite_values(circuit: Circuit, *, resistors: bool = True) -> None:
    """Every element value must be a finite number (NaN or inf is a clear error).
    ``resistors=False``: the caller has checked the resistors."""
    for kind, br in circuit.kinds().items():
        if kind not in ("r", "v", "i") or (kind == "r" and not resistors):
            continue
        vals = np.asarray(br.value, dtype=np.float64)
        finite = np.isfinite(vals)
        if not finite.all():
            j = int(np.argmin(finite))  # the first non-finite value
            raise CircuitError(
                f"{br.names[j]} has the value {vals[j]!r}: element values must be finite "
                "numbers; fix the value (or its units)",
                elements=[br.names[j]],
            )


def _too_large(
    circuit: Circuit, supernode: np.ndarray, where: np.ndarray, what: str
) -> CircuitError:
    names = [circuit.nodes[int(k)] for k in np.flatnonzero(np.isin(supernode, where))[:8]]
    return CircuitError(
        f"values too large: {what} at node(s) {', '.join(names)}, which would overflow double "
        f"precision (the limit here is {MAX_SCALE:g}); rescale units (e.g. kΩ and mA instead of "
        "Ω and A)",
        nodes=names,
    )


def _scales(
    circuit: Circuit, supernode, offset, diag, c, unbounded: tuple | None = None
) -> tuple[float, float]:
    """Voltage and current scales of the problem, or a CircuitError when they overflow.

    v_scale = the largest of |fixed voltages|, |source values| and |c_i / diag_i| (what
    the injections alone make across each node's conductance), floored at
    V_SCALE_FLOOR; i_scale = the larger of max diag × v_scale and max |c|.

    The maxima come from one kernel pass; when a value is not finite or too large,
    :func:`_scales_checked` recomputes them with numpy and raises the error.  With
    ``unbounded = (lo, hi, start)`` (a circuit without diodes) the same pass writes
    the infinite bounds and the start (``_problem_kernels.scales_unbounded``).
    """
    vs = np.ascontiguousarray(circuit.vsources.value, dtype=np.float64)
    if unbounded is None:
        flag, fixed, local, dmax, cmax, vmax = setup_kernels.scales(
            diag, c, supernode, offset, vs, MAX_SCALE
        )
    else:
        flag, fixed, local, dmax, cmax, vmax = setup_kernels.scales_unbounded(
            diag, c, supernode, offset, vs, MAX_SCALE, *unbounded
        )
    if flag == setup_kernels.SCALES_OK:
        v_scale = max(fixed, local, vmax, V_SCALE_FLOOR)
        i_scale = max(dmax * v_scale, cmax, I_SCALE_FLOOR)
        if v_scale <= MAX_SCALE and i_scale <= MAX_SCALE:
            return v_scale, i_scale
    scales = _scales_checked(circuit, supernode, offset, diag, c)  # (raises)
    if unbounded is not None:  # pragma: no cover - _scales_checked raised
        lo, hi, start = unbounded
        lo.fill(-np.inf)
        hi.fill(np.inf)
        setup_kernels.unbounded_start(c, diag, start)
    return scales


def _scales_checked(circuit: Circuit, supernode, offset, diag, c) -> tuple[float, float]:
    """:func:`_scales` in numpy, with the errors that name what overflows."""
    n = diag.shape[0]
    if n and not np.all(np.isfinite(diag)):
        bad = np.flatnonzero(~np.isfinite(diag))
        raise _too_large(circuit, supernode, bad, "a conductance (1/R) overflows")
    if n and not np.all(np.isfinite(c)):
        bad = np.flatnonzero(~np.isfinite(c))
        raise _too_large(circuit, supernode, bad, "the injected current overflows")
    fixed_v = offset[supernode < 0]
    held = diag > 0
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        local = np.abs(c[held]) / diag[held]
    if local.size and not np.all(local <= MAX_SCALE):
        bad = np.flatnonzero(held)[np.flatnonzero(~(local <= MAX_SCALE))]
        k = int(bad[0])
        raise _too_large(
            circuit,
            supernode,
            bad,
            f"the injected current {abs(c[k]):.3g} A across a conductance of {diag[k]:.3g} S "
            f"makes {float(local[np.flatnonzero(np.flatnonzero(held) == k)[0]]):.3g} V",
        )
    v_scale = max(
        float(np.max(np.abs(fixed_v))) if fixed_v.size else 0.0,
        float(np.max(local)) if local.size else 0.0,
        float(np.max(np.abs(circuit.vsources.value))) if len(circuit.vsources) else 0.0,
        V_SCALE_FLOOR,
    )
    i_scale = max(
        float(np.max(diag)) * v_scale if n else 0.0,
        float(np.max(np.abs(c))) if n else 0.0,
        I_SCALE_FLOOR,
    )
    if not (v_scale <= MAX_SCALE and i_scale <= MAX_SCALE):
        big = np.flatnonzero(np.abs(offset) >= min(v_scale, MAX_SCALE))
        if big.size:
            names = [circuit.nodes[int(k)] for k in big[:8]]
            raise CircuitError(
                f"values too large: voltage scale {v_scale:.3g} V, current scale "
                f"{i_scale:.3g} A at node(s) {', '.join(names)}: they would overflow double "
                f"precision (the limit here is {MAX_SCALE:g}); rescale units",
                nodes=names,
            )
        raise CircuitError(
            f"values too large: voltage scale {v_scale:.3g} V, current scale {i_scale:.3g} A: "
            f"they would overflow double precision (the limit here is {MAX_SCALE:g}); "
            "rescale units"
        )
    return v_scale, i_scale


def _adjacency(n: int, owner: np.ndarray, nbr: np.ndarray, w: np.ndarray):
    """CSR lists: for each node i, the (neighbour, w) of constraints it owns."""
    ptr = np.zeros(n + 1, dtype=np.int64)
    if owner.size == 0:
        return ptr, np.zeros(0, np.int32), np.zeros(0)
    order = np.argsort(owner, kind="stable")
    np.cumsum(np.bincount(owner, minlength=n), out=ptr[1:])
    return ptr, nbr[order].astype(np.int32), w[order].astype(np.float64)


def _members(circuit: Circuit, supernode: np.ndarray, i: int, limit: int = 8) -> list[str]:
    ks = np.flatnonzero(supernode == i)[:limit]
    return [circuit.nodes[int(k)] for k in ks]


def _bound_diodes(circuit: Circuit, supernode, supernodes: list[int]) -> list[str]:
    """Names of the diodes that bound the given supernodes through a fixed node."""
    dio = circuit.diodes
    if not len(dio):
        return []
    sa, sb = supernode[dio.a], supernode[dio.b]
    want = np.asarray(supernodes)
    m = (np.isin(sa, want) & (sb < 0)) | (np.isin(sb, want) & (sa < 0))
    return [dio.names[int(j)] for j in np.flatnonzero(m)[:8]]


def _diode_nodes(circuit: Circuit, names: list[str]) -> list[int]:
    dio = circuit.diodes
    wanted = set(names)
    out: list[int] = []
    for j, name in enumerate(dio.names):
        if name in wanted:
            out += [int(dio.a[j]), int(dio.b[j])]
    return out


def _holders(circuit: Circuit, nodes: list[int]) -> list[str]:
    """Names of the voltage sources touching the given nodes (for error messages)."""
    vs = circuit.vsources
    s = set(nodes)
    return [vs.names[j] for j in range(len(vs)) if int(vs.a[j]) in s or int(vs.b[j]) in s][:6]


def _islands(circuit, supernode, n, indptr, indices, data, diag) -> np.ndarray:
    """Islands: groups of free supernodes joined by resistors with no conductance to a
    fixed voltage.  Diodes can still define their voltages (two diodes in series, diode
    logic): the solvers handle them on a separate exact path.  A group that no chain of
    diodes joins to a fixed voltage has no defined voltage: CircuitError naming it.

    Returns per free supernode its island index, or -1 (an empty array when none)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    ff_sum = kernels.row_sums(indptr, data, n)
    grounded = diag - ff_sum > ROUND_OFF * np.maximum(diag, TINY)
    comp = kernels.components(indptr, indices, n)
    ok = np.zeros(int(comp.max()) + 1, dtype=bool)
    ok[comp[grounded]] = True
    if ok.all():
        return np.zeros(0, dtype=np.int64)
    ids = np.full(ok.shape[0], -1, dtype=np.int64)
    bad_comp = np.flatnonzero(~ok)
    ids[bad_comp] = np.arange(bad_comp.size)
    island = ids[comp]
    k = int(bad_comp.size)
    # islands joined to a fixed voltage through diodes (union–find; vertex 0 = fixed)
    dio = circuit.diodes
    uf = UnionFind(k + 1)
    if len(dio):
        sa, sb = supernode[dio.a], supernode[dio.b]
        xa = np.where(sa >= 0, island[np.maximum(sa, 0)], -1) + 1
        xb = np.where(sb >= 0, island[np.maximum(sb, 0)], -1) + 1
        for p, q in zip(xa.tolist(), xb.tolist(), strict=True):
            rp, rq = uf.find(p), uf.find(q)
            if rp != rq:
                uf.union(max(rp, rq), min(rp, rq))  # the smaller root stays: 0 = fixed
    cut = [i for i in range(k) if uf.find(i + 1) != 0]
    if cut:
        bad_sn = np.flatnonzero(np.isin(island, cut))
        nodes = np.flatnonzero(np.isin(supernode, bad_sn))
        names = [circuit.nodes[int(x)] for x in nodes[:20]]
        more = f" and {nodes.size - 20} more" if nodes.size > 20 else ""
        touched = bool(len(dio)) and bool(
            np.isin(np.concatenate([supernode[dio.a], supernode[dio.b]]), bad_sn).any()
        )
        how = (
            "and the diodes at them reach no fixed voltage either"
            if touched
            else "and no diode joins them to one"
        )
        raise CircuitError(
            f"no resistive path to a fixed voltage from node(s) {', '.join(names)}{more}, "
            f"{how}: their voltage is not defined (SPICE reports a singular matrix); connect "
            "them, or pass --gmin 1e-12 to add a small leak to ground as SPICE does",
            nodes=names,
        )
    return island


def _feasible_start(circuit, start, lo, hi, ff_anode, ff_cathode, ff_limit, ff_diode, supernode):
    """A point satisfying bounds and difference constraints (Bellman–Ford), or an error."""
    u, cyc = kernels.bellman_ford_start(start, lo, hi, ff_anode, ff_cathode, ff_limit)
    if cyc.size == 0:
        return u
    dio = circuit.diodes
    names = [dio.names[int(ff_diode[k])] for k in cyc if k >= 0]
    cyc_nodes = sorted({int(x) for k in cyc if k >= 0 for x in (ff_anode[k], ff_cathode[k])})
    names = list(dict.fromkeys(names + _bound_diodes(circuit, supernode, cyc_nodes)))
    raise CircuitError(
        f"diodes {', '.join(names)} cannot all be satisfied: the sources force them to conduct "
        "through zero resistance; add a series resistor or change the sources",
        elements=names + _holders(circuit, _diode_nodes(circuit, names)),
    )
