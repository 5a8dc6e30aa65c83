"""Optimality certificate: KKT residuals of node voltages, from the original circuit.

A set of node voltages ``v`` is the DC operating point of a circuit exactly when
it is the optimum of the convex QP of docs/design.md §1, i.e. when it satisfies the KKT
conditions:

* **feasibility** — every voltage source equation ``v(a) - v(b) = V``, every
  short (0-ohm resistor, inductor) ``v(a) = v(b)``, every diode ``v(a) <= v(c)``
  and ground ``v(0) = 0``;
* **stationarity = Kirchhoff's current law** — at every node the currents of
  resistors, current sources, the ``gmin`` leak, voltage sources, shorts and
  diodes sum to zero (ground absorbs any current);
* **dual feasibility** — diode currents are ``>= 0``;
* **complementarity** — a diode that carries current is not reverse biased.

The certificate is computed from the circuit and the voltages only, never from
a solver's internal state.  Currents of resistors and current sources follow
from ``v``.  The currents of voltage sources and shorts (any sign) and of
*tight* diodes (``v(a) - v(c) >= -feas_tol``; ``>= 0``) are unknowns that
are chosen to balance KCL as well as possible: nodes are grouped into clusters
connected by those branches (ground excluded, since its equation is dropped),
and per cluster a small bounded least-squares problem is solved (closed form for
the common one-node and one-branch clusters, vectorised; Lawson–Hanson NNLS
for the rest).  Diodes that are not tight carry no current.

Tolerances: ``i_scale = max over non-ground nodes of the sum of |current| of the
resistors, current sources and gmin leaks at that node`` (tiny floor) and
``v_scale = max(|V| over voltage sources, max|v|, max over nodes of the
node's total current / its total conductance, 1 mV)`` (the third term is at most
``2 max|v|`` plus the voltage current sources alone would produce; it keeps the
scale meaningful when every voltage is 0 but current flows, e.g. into a diode
to ground; the 1 mV floor, and a current floor of 1 mV times the largest total
conductance at a node, keep the tolerances of a circuit whose sources are all
zero absolute and sensible, 1e-12 V at the default rtol).  Then
``feas_tol = rtol * v_scale``, ``kcl_tol = rtol * i_scale`` and
``comp_tol = rtol * v_scale * i_scale``; the verdict ``ok`` is
``feasibility <= feas_tol and kcl <= kcl_tol and complementarity <= comp_tol``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from resbench._certificate_kernels import (
    balance_clusters,
    dense_clusters,
    feasibility,
    known_currents,
)
from resbench.circuit import Branches, Circuit
from resbench.diodes import expand, has_models, internal_voltages, shockley_current

V_SCALE_FLOOR = 1e-3  # V: tolerances never go below rtol × 1 mV (1e-12 V at rtol 1e-9)
I_SCALE_FLOOR = 1e-15  # A


__all__ = ["Certificate", "certify", "current_scale"]


@dataclass
class Certificate:
    """KKT residuals of a candidate operating point and the verdict against tolerances."""

    feasibility: float  # V: largest violation of a source / short / diode / ground equation
    kcl: float  # A: largest remaining current imbalance at a non-ground node
    complementarity: float  # W: largest diode current × reverse voltage
    feas_tol: float
    kcl_tol: float
    comp_tol: float
    v_scale: float
    i_scale: float
    ok: bool
    worst_node: str | None = None  # node with the largest KCL imbalance
    worst_element: str | None = None  # element with the largest feasibility violation
    diode_current: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vsource_current: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # Is the certified answer the only optimal one?  None: not examined (not certified).
    # False: islands reached only through off diodes can shift (resbench.islands).
    unique: bool | None = None
    uniqueness: str = ""  # which nodes can move and by how much, when not unique
    non_unique_nodes: list[str] = field(default_factory=list)
    spice_limit: bool | None = None  # when not unique: is this answer ngspice's limit?

    def summary(self) -> str:
        """One line: verdict, the three residuals and their tolerances."""
        head = "certified" if self.ok else "NOT certified"
        text = (
            f"{head}: feas {self.feasibility:.3g} V, KCL {self.kcl:.3g} A, "
            f"compl {self.complementarity:.3g} W "
            f"(tol {self.feas_tol:.3g} V, {self.kcl_tol:.3g} A, {self.comp_tol:.3g} W)"
        )
        if self.unique is False:
            which = (
                "this answer is the SPICE limit (the off-diode leak ROFF → ∞)"
                if self.spice_limit
                else "this answer is NOT the SPICE limit (the off-diode leak ROFF → ∞)"
            )
            text += f"; {self.uniqueness}; {which}"
        if not self.ok:
            where = []
            if not self.feasibility <= self.feas_tol and self.worst_element is not None:
                where.append(f"worst element {self.worst_element}")
            if not self.kcl <= self.kcl_tol and self.worst_node is not None:
                where.append(f"worst node {self.worst_node}")
            if where:
                text += "; " + ", ".join(where)
        return text


def _max_and_arg(x: np.ndarray) -> tuple[float, int]:
    if x.size == 0:
        return 0.0, -1
    k = int(np.argmax(x))
    return float(x[k]), k


def _bounded_lsq(bmat: np.ndarray, r: np.ndarray, nonneg: np.ndarray) -> np.ndarray:
    """Minimise ||r + bmat @ x|| with x[nonneg] >= 0 (others free), exactly (Lawson–Hanson)."""
    scale = float(np.max(np.abs(r))) if r.size else 0.0
    p = bmat.shape[1]
    if scale == 0.0 or p == 0:
        return np.zeros(p)
    from scipy.optimize import nnls  # (here: scipy.optimize is ~0.5 s of `import resbench`)

    free = ~nonneg
    split = np.hstack([bmat, -bmat[:, free]])  # free x = x+ - x-
    sol, _ = nnls(split, -r / scale, maxiter=50 * split.shape[1] + 100)
    x = sol[:p].copy()
    x[free] -= sol[p:]
    return x * scale


def _uniqueness(circuit, v, diode_current, ok, vtol, itol, gmin):
    """(unique, message, nodes that can move, whether v is the SPICE limit) of a
    certified answer; (None, "", [], None) when the answer did not certify."""
    if not ok:
        return None, "", [], None
    from resbench import islands

    labels, k = islands.island_labels(circuit, gmin)
    if k == 0:
        return True, "", [], None
    report = islands.analyse(circuit, v, diode_current, vtol=vtol, itol=itol, labels=labels, k=k)
    if report.unique:
        return True, "", [], None
    limit = islands.spice_limit(circuit, v, diode_current, report, itol=itol, labels=labels)
    at_limit = bool(np.max(np.abs(limit - v), initial=0.0) <= vtol)
    return False, report.message(), report.node_names(), at_limit


def certify(
    circuit: Circuit, voltages: np.ndarray, *, rtol: float = 1e-9, gmin: float = 0.0
) -> Certificate:
    """Check node voltages against the KKT conditions of ``circuit`` (see module docstring).

    ``voltages[k]`` is the voltage of ``circuit.nodes[k]`` (ground included).
    ``gmin > 0`` adds a conductance ``gmin`` from every non-ground node to
    ground, as the solvers' ``--gmin`` option does.  Returns a Certificate
    whose ``diode_current`` and ``vsource_current`` (SPICE sign: current into
    the ``+`` terminal, through the source) are the multipliers found.

    Steps: the scales (and known injections), the feasibility residual, the
    unknown branch currents that best balance KCL, then complementarity and
    uniqueness.
    """
    n = circuit.n_nodes
    v = np.asarray(voltages, dtype=np.float64).reshape(-1)
    if v.shape[0] != n:
        raise ValueError(f"certify: got {v.shape[0]} voltages for a circuit of {n} nodes")
    if has_models(circuit):
        return _certify_models(circuit, v, rtol, gmin)
    dio = circuit.diodes
    nd, nv = len(dio), len(circuit.vsources)

    if not np.all(np.isfinite(v)):
        return _non_finite_certificate(circuit, v, nd, nv)

    inj, v_scale, i_scale = _known_currents_and_scales(circuit, v, gmin)
    feas_tol = rtol * v_scale
    kcl_tol = rtol * i_scale
    comp_tol = rtol * v_scale * i_scale

    feas, worst_element, dv, shorts_r = _feasibility(circuit, v)

    tight = np.flatnonzero(dv >= -feas_tol)
    x, res, n_free = _unknown_currents(circuit, inj, shorts_r, tight)

    res[0] = 0.0  # ground absorbs any current
    kcl_abs = np.abs(res)
    kcl, kn = _max_and_arg(kcl_abs[1:]) if n > 1 else (0.0, -1)
    worst_node = circuit.nodes[kn + 1] if kn >= 0 else None

    diode_current = np.zeros(nd)
    diode_current[tight] = x[n_free:]
    vsource_current = x[:nv].copy()
    compl = float(np.max(np.maximum(-dv, 0.0) * diode_current)) if nd else 0.0

    ok = bool(feas <= feas_tol and kcl <= kcl_tol and compl <= comp_tol)
    unique, note, loose, at_limit = _uniqueness(
        circuit, v, diode_current, ok, feas_tol, kcl_tol, gmin
    )
    return Certificate(
        unique=unique,
        uniqueness=note,
        non_unique_nodes=loose,
        spice_limit=at_limit,
        feasibility=float(feas),
        kcl=float(kcl),
        complementarity=compl,
        feas_tol=feas_tol,
        kcl_tol=kcl_tol,
        comp_tol=comp_tol,
        v_scale=v_scale,
        i_scale=i_scale,
        ok=ok,
        worst_node=worst_node,
        worst_element=worst_element if feas > 0 else None,
        diode_current=diode_current,
        vsource_current=vsource_current,
    )


def _certify_models(circuit: Circuit, v: np.ndarray, rtol: float, gmin: float) -> Certificate:
    """The certificate of a circuit with piecewise-linear or Shockley diodes
    (docs/diodes.md): the circuit expanded into resistors, sources and ideal diodes
    (:func:`resbench.diodes.expand`), the internal nodes set to the voltages that
    balance their series resistances exactly, each Shockley diode replaced by a current
    source of its current ``IS expm1(vd / N Vt)`` at ``v``; that circuit is certified
    as above (KCL with the Shockley currents; complementarity applies to the ideal and
    PWL diodes only).  Diode currents are per original diode; the worst node may be an
    internal one (named after its diode)."""
    ex = expand(circuit)
    vx = internal_voltages(ex, v)
    c = ex.circuit
    d = c.diodes
    sh = np.flatnonzero(ex.shockley)
    keep = np.flatnonzero(~ex.shockley)
    cur = shockley_current(vx[d.a[sh]] - vx[d.b[sh]], ex.i_s[sh], ex.nvt[sh])
    isrc = c.isources
    lin = dataclasses.replace(
        c,
        diodes=Branches([d.names[j] for j in keep], d.a[keep], d.b[keep], d.value[keep]),
        diode_models=[c.diode_models[j] for j in keep],
        isources=Branches(
            list(isrc.names) + [f"i{d.names[j]}" for j in sh],
            np.concatenate([isrc.a, d.a[sh]]),
            np.concatenate([isrc.b, d.b[sh]]),
            np.concatenate([isrc.value, cur]),
        ),
    )
    if not np.all(np.isfinite(cur)):  # a forward bias beyond double precision
        k = int(sh[np.argmax(~np.isfinite(cur))])
        cert = _non_finite_certificate(circuit, v, len(circuit.diodes), len(circuit.vsources))
        cert.worst_element = d.names[k]
        return cert
    cert = certify(lin, vx, rtol=rtol, gmin=gmin)
    diode_current = np.zeros(len(d))
    diode_current[keep] = cert.diode_current
    diode_current[sh] = cur
    cert.diode_current = diode_current
    cert.vsource_current = cert.vsource_current[: ex.n_vsources]
    return cert


def _non_finite_certificate(circuit: Circuit, v: np.ndarray, nd: int, nv: int) -> Certificate:
    """A failed certificate for voltages holding NaN or inf, naming the first such node."""
    bad = int(np.argmax(~np.isfinite(v)))
    inf = float("inf")
    return Certificate(
        feasibility=inf,
        kcl=inf,
        complementarity=inf,
        feas_tol=0.0,
        kcl_tol=0.0,
        comp_tol=0.0,
        v_scale=inf,
        i_scale=inf,
        ok=False,
        worst_node=circuit.nodes[bad],
        worst_element=None,
        diode_current=np.zeros(nd),
        vsource_current=np.zeros(nv),
    )


def current_scale(circuit: Circuit, voltages: np.ndarray, gmin: float = 0.0) -> float:
    """The certificate's current scale at ``voltages`` (module docstring: the largest
    sum of |current| of the resistors, current sources and gmin leaks at a non-ground
    node, with its floors): ``kcl_tol = rtol × current_scale``.  One pass over the
    elements; a solver asks it to learn whether its residual will certify."""
    v = np.asarray(voltages, dtype=np.float64).reshape(-1)
    return float(_known_currents_and_scales(circuit, v, gmin)[2])


def _known_currents_and_scales(
    circuit: Circuit, v: np.ndarray, gmin: float
) -> tuple[np.ndarray, float, float]:
    """The currents that follow from ``v`` alone, and the tolerance scales.

    Returns ``(inj, v_scale, i_scale)``: ``inj[k]`` is the net current that the
    resistors, current sources and ``gmin`` leaks push into node k; the scales are
    those of the module docstring (with their floors).
    """
    res_r, isrc = circuit.resistors, circuit.isources
    inj, v_scale, i_scale = known_currents(
        res_r.a, res_r.b, res_r.value, isrc.a, isrc.b, isrc.value, circuit.vsources.value, v,
        circuit.n_nodes, float(gmin), V_SCALE_FLOOR, I_SCALE_FLOOR,
    )  # fmt: skip
    return inj, v_scale, i_scale


def _feasibility(circuit: Circuit, v: np.ndarray):
    """The worst violation of ground, source, short and diode equations by ``v``.

    Returns ``(feas, worst_element, dv, shorts_r)``: the largest violation (V), the
    element (or "ground") that has it, every diode's ``v(anode) - v(cathode)``, and
    the indices of the 0-ohm resistors.
    """
    res_r, dio, vsrc, ind = circuit.resistors, circuit.diodes, circuit.vsources, circuit.inductors
    shorts_r = np.flatnonzero(res_r.value == 0)
    feas, kind, k, dv = feasibility(
        v, vsrc.a, vsrc.b, vsrc.value, res_r.a[shorts_r], res_r.b[shorts_r], ind.a, ind.b,
        dio.a, dio.b,
    )  # fmt: skip
    if kind == 0:
        worst_element: str | None = "ground"
    elif kind == 1:
        worst_element = vsrc.names[k]
    elif kind == 2:
        worst_element = res_r.names[int(shorts_r[k])]
    elif kind == 3:
        worst_element = ind.names[k]
    else:
        worst_element = dio.names[k]
    return feas, worst_element, dv, shorts_r


def _unknown_currents(
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
    ua = np.concatenate([vsrc.a, res_r.a[shorts_r], ind.a, dio.a[tight]]).astype(np.int64)
    ub = np.concatenate([vsrc.b, res_r.b[shorts_r], ind.b, dio.b[tight]]).astype(np.int64)
    n_free = len(vsrc) + len(shorts_r) + len(ind)
    nonneg = np.zeros(ua.shape[0], dtype=bool)
    nonneg[n_free:] = True
    x = np.zeros(ua.shape[0])  # unknown currents, a -> b
    res = inj.copy()

    # self loops carry no KCL weight; one-node and one-branch clusters in closed form
    rest, comp, label = balance_clusters(n, ua, ub, nonneg, x, res)
    if rest.size:
        _balance_dense(rest, comp, label, n, ua, ub, nonneg, x, res)
    return x, res, n_free


def _balance_dense(br_all, comps, label, n, ua, ub, nonneg, x, res) -> None:
    """Every other cluster: one small dense bounded least-squares each (in place).

    ``br_all`` are the cluster's branches and ``comps`` their cluster labels; the
    ground's equation is dropped (it absorbs any current).  The clusters' nodes,
    branches and incidence matrices come from one kernel (:func:`dense_clusters`).
    """
    branches, b_ptr, nodes, n_ptr, bmats, m_ptr = dense_clusters(br_all, comps, label, ua, ub)
    for c in range(b_ptr.shape[0] - 1):
        br = branches[b_ptr[c] : b_ptr[c + 1]]
        members = nodes[n_ptr[c] : n_ptr[c + 1]]
        bmat = bmats[m_ptr[c] : m_ptr[c + 1]].reshape(members.size, br.size)
        rloc = res[members]
        xb = _bounded_lsq(bmat, rloc, nonneg[br])
        x[br] = xb
        res[members] = rloc + bmat @ xb
