"""Diode models: which ``.model D`` cards are ideal, piecewise linear or Shockley.

resbench reads three diode models from the parameters of a ``.model NAME D`` card
(docs/diodes.md):

* **ideal** — no parameters (``.model d D``): zero forward drop, no reverse current,
  the bound ``v(a) <= v(c)`` of docs/design.md §1.  Every existing resbench result.
* **piecewise linear** (``VON``, ``RON``, resbench's own names): no current while
  ``v(a) - v(c) <= VON``, then ``i = (v(a) - v(c) - VON) / RON``.  It stays a QP: at
  setup the diode is expanded into ideal elements (:func:`expand`): a resistor ``RON``
  from the anode to an internal node, a source ``VON`` from there to a second internal
  node, and an ideal diode from that node to the cathode (``RON = 0``: the source
  alone, which shifts the bound to ``v(a) - v(c) <= VON``).
* **Shockley** (``IS``, ``N``, ``RS``, SPICE's names and defaults ``IS = 1e-14`` A,
  ``N = 1``, ``RS = 0``): ``i = IS (exp(vd / (N Vt)) - 1)`` at 27 °C, ``Vt`` =
  :data:`VT` (ngspice's constants).  ``RS > 0`` is expanded like ``RON``: a resistor
  to an internal node.

A card that mixes the two families is an error; parameters that resbench does not
apply are listed by :func:`model_warnings` and emitted as
:class:`resbench.errors.IgnoredModelParameterWarning` by every solver
(:func:`warn_ignored`), except the junction-capacitance and noise parameters
(:data:`NO_DC_EFFECT`), which do nothing at DC in ngspice either.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass

import numpy as np

from resbench.circuit import Branches, Circuit, Model
from resbench.errors import CircuitError, IgnoredModelParameterWarning

#: ngspice 39's constants (``const.h``: CODATA 2014) and its default temperature, 27 °C
BOLTZMANN = 1.38064852e-23  # J/K
CHARGE = 1.6021766208e-19  # C
TEMPERATURE = 300.15  # K
#: the thermal voltage kT/q at 27 °C, as ngspice computes it (0.025864917007157463 V)
VT = BOLTZMANN * TEMPERATURE / CHARGE

IDEAL, PWL, SHOCKLEY = "ideal", "pwl", "shockley"
PWL_KEYS = ("von", "ron")
SHOCKLEY_KEYS = ("is", "n", "rs")
SHOCKLEY_DEFAULTS = {"is": 1e-14, "n": 1.0, "rs": 0.0}
#: parameters with no effect on a DC operating point (junction capacitance, transit
#: time, noise): accepted without a warning, as ngspice ignores them at DC too
NO_DC_EFFECT = frozenset(
    {"cjo", "cj0", "cj", "vj", "pb", "m", "mj", "tt", "fc", "kf", "af", "cjp", "cjsw"}
    | {"php", "mjsw", "fcs", "ffe"}
)


@dataclass(frozen=True)
class DiodeModel:
    """What resbench applies of one ``.model D`` card."""

    name: str
    kind: str  # IDEAL, PWL or SHOCKLEY
    von: float = 0.0  # V (PWL)
    ron: float = 0.0  # ohm (PWL)
    i_s: float = 0.0  # A (Shockley saturation current IS)
    n: float = 1.0  # emission coefficient (Shockley)
    rs: float = 0.0  # ohm (Shockley series resistance)
    ignored: tuple[str, ...] = ()  # parameters given but not applied (DC-relevant ones)

    @property
    def nvt(self) -> float:
        """N·Vt (V): the Shockley diode's voltage scale."""
        return self.n * VT


def _bad(model: str, message: str) -> CircuitError:
    return CircuitError(f"model {model}: {message}")


def parameter_problem(key: str, value: float) -> str | None:
    """Why ``key = value`` is not a usable diode parameter, or None (the parser calls
    this to report the file and line; :func:`diode_model` calls it for the API)."""
    if not math.isfinite(value):
        return f"{key.upper()} = {value} is not finite"
    if key == "is" and not value > 0:
        return f"IS = {value:g} must be > 0 (the saturation current, e.g. 1e-14)"
    if key == "n" and not value > 0:
        return f"N = {value:g} must be > 0 (the emission coefficient, e.g. 1)"
    if key in ("rs", "ron") and value < 0:
        return f"{key.upper()} = {value:g} must be >= 0 (a resistance)"
    return None


def diode_model(model: Model) -> DiodeModel:
    """The :class:`DiodeModel` of a ``.model`` card of type D; CircuitError for bad
    values (IS <= 0, N <= 0, RS < 0, RON < 0, non-finite) or mixed families."""
    p = {k.lower(): float(v) for k, v in model.params.items()}
    for k, v in p.items():
        if k in PWL_KEYS or k in SHOCKLEY_KEYS:
            problem = parameter_problem(k, v)
            if problem:
                raise _bad(model.name, problem)
    pwl = [k for k in PWL_KEYS if k in p]
    shock = [k for k in SHOCKLEY_KEYS if k in p]
    if pwl and shock:
        raise _bad(
            model.name,
            f"mixes piecewise-linear ({', '.join(pwl).upper()}) and Shockley "
            f"({', '.join(shock).upper()}) parameters; use one family (docs/diodes.md)",
        )
    ignored = tuple(
        k
        for k in p
        if k not in PWL_KEYS
        and k not in SHOCKLEY_KEYS
        and k not in NO_DC_EFFECT
        and not (k == "level" and p[k] == 1.0)
    )
    if pwl:
        return DiodeModel(model.name, PWL, von=p.get("von", 0.0), ron=p.get("ron", 0.0),
                          ignored=ignored)  # fmt: skip
    if shock:
        d = {**SHOCKLEY_DEFAULTS, **p}
        return DiodeModel(model.name, SHOCKLEY, i_s=d["is"], n=d["n"], rs=d["rs"], ignored=ignored)
    return DiodeModel(model.name, IDEAL, ignored=ignored)


def used_models(circuit: Circuit) -> dict[str, DiodeModel]:
    """The models the circuit's diodes use, by name (a missing card is the ideal ``d``)."""
    out: dict[str, DiodeModel] = {}
    for name in set(circuit.diode_models) if len(circuit.diodes) else ():
        m = circuit.models.get(name)
        out[name] = diode_model(m) if m is not None else DiodeModel(name, IDEAL)
    return out


def has_models(circuit: Circuit) -> bool:
    """Whether any diode is piecewise linear or Shockley (cheap for ideal circuits:
    only the cards with parameters are examined)."""
    if not len(circuit.diodes):
        return False
    if not any(m.params for m in circuit.models.values()):
        return False
    return any(m.kind != IDEAL for m in used_models(circuit).values())


def has_shockley(circuit: Circuit) -> bool:
    """Whether any diode is a Shockley diode."""
    return has_models(circuit) and any(m.kind == SHOCKLEY for m in used_models(circuit).values())


def model_warnings(circuit: Circuit) -> list[str]:
    """One message per diode model with parameters that resbench does not apply."""
    out = []
    for name, m in sorted(used_models(circuit).items()) if circuit.models else ():
        if m.ignored:
            what = {IDEAL: "ideal", PWL: "piecewise linear", SHOCKLEY: "Shockley"}[m.kind]
            out.append(
                f"model {name}: parameters {', '.join(k.upper() for k in m.ignored)} are "
                f"ignored (resbench applies VON, RON or IS, N, RS; this diode is {what}; "
                "docs/diodes.md)"
            )
    return out


def warn_ignored(circuit: Circuit, stacklevel: int = 3) -> None:
    """Emit :func:`model_warnings` as :class:`IgnoredModelParameterWarning` (every solver
    calls this; ``warnings.simplefilter("error", ResbenchWarning)`` makes them errors)."""
    if not circuit.models or not any(m.params for m in circuit.models.values()):
        return
    for msg in model_warnings(circuit):
        warnings.warn(msg, IgnoredModelParameterWarning, stacklevel=stacklevel)


# --------------------------------------------------------------------------- expansion
@dataclass
class Expanded:
    """A circuit whose piecewise-linear diodes (and the series RS of Shockley diodes)
    are expanded into resistors, sources and ideal or RS-free diodes.

    The original nodes come first, in order; internal nodes follow.  Diode ``k`` is the
    original diode ``k`` (its anode may be an internal node); the original voltage
    sources come first.  ``shockley[k]``: whether diode ``k`` is a Shockley diode, with
    ``i_s``, ``nvt`` per diode (0 elsewhere)."""

    circuit: Circuit
    original: Circuit
    n_nodes: int
    n_vsources: int
    shockley: np.ndarray  # bool per diode
    i_s: np.ndarray
    nvt: np.ndarray
    # per diode: the internal node of a series resistance (RON or RS) or -1, its value,
    # PWL offset VON (0 for others), and the node after the VON source (or -1)
    r_node: np.ndarray
    r_value: np.ndarray
    von: np.ndarray
    y_node: np.ndarray
    rs: np.ndarray  # per diode: the RS left in a Shockley model (``keep_rs``), else 0

    @property
    def changed(self) -> bool:
        return self.circuit is not self.original

    def voltages(self, v: np.ndarray) -> np.ndarray:
        """Original node voltages from expanded ones."""
        return np.asarray(v)[: self.n_nodes]


def _unique(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def expand(circuit: Circuit, *, keep_rs: bool = False) -> Expanded:
    """Expand PWL diodes (and, unless ``keep_rs``, Shockley RS) into elements the
    solvers know (module docstring).  Shockley diodes keep their place with a model of
    the same name (``RS`` dropped when expanded).  The input circuit is not modified."""
    nd = len(circuit.diodes)
    models = used_models(circuit)
    kinds = {k: m for k, m in models.items()}
    dm = list(circuit.diode_models)
    shock = np.zeros(nd, dtype=bool)
    i_s = np.zeros(nd)
    nvt = np.zeros(nd)
    r_node = np.full(nd, -1, dtype=np.int64)
    r_value = np.zeros(nd)
    von = np.zeros(nd)
    y_node = np.full(nd, -1, dtype=np.int64)
    rs = np.zeros(nd)
    base = Expanded(circuit, circuit, circuit.n_nodes, len(circuit.vsources), shock, i_s, nvt,
                    r_node, r_value, von, y_node, rs)  # fmt: skip
    if not nd or not any(m.kind != IDEAL for m in kinds.values()):
        return base
    # per-diode parameters through a table of the models (one dict lookup per diode)
    table = list(kinds.values())
    code = {m.name: j for j, m in enumerate(table)}
    idx = np.fromiter((code[m] for m in dm), dtype=np.int64, count=nd)
    shock[:] = np.array([m.kind == SHOCKLEY for m in table])[idx]
    i_s[:] = np.array([m.i_s for m in table])[idx]
    nvt[:] = np.array([m.nvt if m.kind == SHOCKLEY else 0.0 for m in table])[idx]
    if keep_rs:
        rs[:] = np.array([m.rs if m.kind == SHOCKLEY else 0.0 for m in table])[idx]
    if not any(
        m.kind == PWL or (m.kind == SHOCKLEY and m.rs > 0 and not keep_rs) for m in kinds.values()
    ):  # only Shockley diodes without a series resistance to expand: nothing to add
        return base
    nodes = list(circuit.nodes)
    taken_nodes = set(nodes)
    taken_names = set()
    for br in circuit.kinds().values():
        taken_names.update(br.names)
    anode = circuit.diodes.a.copy()
    ra, rb, rv, rn = [], [], [], []
    va, vb, vv, vn = [], [], [], []
    new_models = dict(circuit.models)
    ideal_name = None
    changed = False
    expandable = np.array(
        [m.kind == PWL or (m.kind == SHOCKLEY and m.rs > 0 and not keep_rs) for m in table]
    )
    for k in np.flatnonzero(expandable[idx]).tolist():
        m = kinds[dm[k]]
        dname = circuit.diodes.names[k]
        if m.kind == SHOCKLEY:
            if m.rs > 0:
                x = len(nodes)
                nodes.append(_unique(f"{dname}_rs", taken_nodes))
                ra.append(int(anode[k]))
                rb.append(x)
                rv.append(m.rs)
                rn.append(_unique(f"r{dname}_rs", taken_names))
                anode[k] = x
                r_node[k], r_value[k] = x, m.rs
                changed = True
            continue
        # piecewise linear: [R a x RON] V x y VON, ideal D y c
        changed = True
        if ideal_name is None:
            ideal_name = _unique("d_ideal", set(new_models))
            new_models[ideal_name] = Model(ideal_name, "d", {})
        dm[k] = ideal_name
        a = int(anode[k])
        if m.ron > 0:
            x = len(nodes)
            nodes.append(_unique(f"{dname}_ron", taken_nodes))
            ra.append(a)
            rb.append(x)
            rv.append(m.ron)
            rn.append(_unique(f"r{dname}_ron", taken_names))
            r_node[k], r_value[k] = x, m.ron
            a = x
        if m.von != 0.0:
            y = len(nodes)
            nodes.append(_unique(f"{dname}_von", taken_nodes))
            va.append(a)
            vb.append(y)
            vv.append(m.von)
            vn.append(_unique(f"v{dname}_von", taken_names))
            y_node[k] = y
            a = y
        von[k] = m.von
        anode[k] = a
    if not changed:
        return base
    # Shockley models whose RS is now a resistor: the diode keeps IS, N only
    if not keep_rs:
        for name, m in kinds.items():
            if m.kind == SHOCKLEY and m.rs > 0:
                p = {k: v for k, v in circuit.models[name].params.items() if k.lower() != "rs"}
                new_models[name] = Model(name, "d", p)

    def grow(br: Branches, a, b, v, names) -> Branches:
        if not a:
            return br
        return Branches(
            list(br.names) + names,
            np.concatenate([br.a, np.asarray(a, np.int32)]),
            np.concatenate([br.b, np.asarray(b, np.int32)]),
            np.concatenate([br.value, np.asarray(v, np.float64)]),
        )

    d = circuit.diodes
    ex = dataclasses.replace(
        circuit,
        nodes=nodes,
        resistors=grow(circuit.resistors, ra, rb, rv, rn),
        vsources=grow(circuit.vsources, va, vb, vv, vn),
        diodes=Branches(d.names, anode.astype(np.int32), d.b, d.value),
        diode_models=dm,
        models=new_models,
        warnings=list(circuit.warnings),
    )
    return Expanded(ex, circuit, circuit.n_nodes, len(circuit.vsources), shock, i_s, nvt,
                    r_node, r_value, von, y_node, rs)  # fmt: skip


def shockley_current(vd: np.ndarray, i_s: np.ndarray, nvt: np.ndarray) -> np.ndarray:
    """``IS (exp(vd / (N Vt)) - 1)`` elementwise (``expm1``: exact near 0; +inf on
    overflow, never a warning)."""
    with np.errstate(over="ignore"):
        return i_s * np.expm1(vd / nvt)


def internal_voltages(ex: Expanded, v: np.ndarray) -> np.ndarray:
    """Voltages of the expanded circuit from the original node voltages ``v``: the
    internal nodes of each series resistance take the value that balances it exactly
    (PWL: ``i = max(0, vd - VON) / RON``; Shockley with RS: the root of the monotone
    ``(v_a - x) / RS = IS (exp((x - v_c) / (N Vt)) - 1)``)."""
    from resbench.solvers._shockley_kernels import series_node_voltages

    v = np.asarray(v, dtype=np.float64)
    out = np.zeros(ex.circuit.n_nodes)
    out[: ex.n_nodes] = v[: ex.n_nodes]
    orig = ex.original.diodes
    va, vc = v[orig.a], v[orig.b]
    has_r = ex.r_node >= 0
    pwl = ~ex.shockley
    if np.any(has_r & pwl):
        k = np.flatnonzero(has_r & pwl)
        cur = np.maximum(0.0, va[k] - vc[k] - ex.von[k]) / ex.r_value[k]
        out[ex.r_node[k]] = va[k] - cur * ex.r_value[k]
    if np.any(has_r & ex.shockley):
        k = np.flatnonzero(has_r & ex.shockley)
        out[ex.r_node[k]] = series_node_voltages(
            np.ascontiguousarray(va[k]),
            np.ascontiguousarray(vc[k]),
            np.ascontiguousarray(ex.i_s[k]),
            np.ascontiguousarray(ex.nvt[k]),
            np.ascontiguousarray(ex.r_value[k]),
        )
    k = np.flatnonzero(ex.y_node >= 0)
    if k.size:
        before = np.where(ex.r_node[k] >= 0, out[np.maximum(ex.r_node[k], 0)], va[k])
        out[ex.y_node[k]] = before - ex.von[k]
    return out
