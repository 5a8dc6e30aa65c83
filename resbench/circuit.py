"""The Circuit: a node table and one numpy array group per element kind.

A Circuit is what the parser produces and what every solver consumes.  It is a
plain container: it knows nothing about netlist text or solvers.

Conventions
-----------
* Node 0 is ground; its name is ``"0"`` (``gnd`` is an alias resolved by the
  parser).  All names are lower case (SPICE is case-insensitive).
* Elements flattened out of subcircuits follow ngspice's naming so results
  can be matched by name: element ``R1`` inside instance ``X1`` becomes
  ``r.x1.r1`` and internal node ``n1`` becomes ``x1.n1``.
* Node indices are ``int32``; values are ``float64``.
* Resistors: ``value`` in ohms, ``>= 0``; ``0`` is a short.
* Diodes: ``a`` = anode, ``b`` = cathode, ``model`` = model name per diode.
* Voltage sources: ``v(a) - v(b) = value``.
* Current sources: current flows from ``a`` through the source to ``b``; it
  injects ``value`` amperes into node ``b`` and draws it from node ``a``.
* Capacitors are open in DC, inductors are shorts in DC.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from resbench.errors import CircuitError

GROUND = "0"


class IndexedNames(Sequence[str]):
    """A lazily generated name list ``prefix0, prefix1, …`` (saves memory for huge nets)."""

    def __init__(self, prefix: str, n: int, start: int = 0) -> None:
        self.prefix = prefix
        self.n = int(n)
        self.start = int(start)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        return f"{self.prefix}{self.start + i}"

    def __iter__(self) -> Iterator[str]:
        p, s = self.prefix, self.start
        return (f"{p}{s + i}" for i in range(self.n))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IndexedNames):
            return (self.prefix, self.n, self.start) == (other.prefix, other.n, other.start)
        if isinstance(other, Sequence):
            return len(other) == self.n and all(x == y for x, y in zip(self, other, strict=True))
        return NotImplemented

    def __repr__(self) -> str:
        return f"IndexedNames({self.prefix!r}, {self.n}, start={self.start})"


@dataclass
class Branches:
    """Two-terminal elements of one kind: names, terminal node indices, values."""

    names: Sequence[str]
    a: np.ndarray  # int32 node index (positive / anode terminal)
    b: np.ndarray  # int32 node index (negative / cathode terminal)
    value: np.ndarray  # float64 (ohms, volts, amperes, farads, henries; 0 for diodes)

    @classmethod
    def empty(cls) -> Branches:
        return cls([], np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float64))

    @classmethod
    def from_lists(cls, names: Sequence[str], a, b, value) -> Branches:
        return cls(
            names if isinstance(names, IndexedNames) else list(names),
            np.asarray(a, dtype=np.int32).reshape(-1),
            np.asarray(b, dtype=np.int32).reshape(-1),
            np.asarray(value, dtype=np.float64).reshape(-1),
        )

    def __len__(self) -> int:
        return int(self.a.shape[0])

    def equals(self, other: Branches) -> bool:
        return (
            len(self) == len(other)
            and list(self.names) == list(other.names)
            and np.array_equal(self.a, other.a)
            and np.array_equal(self.b, other.b)
            and np.array_equal(self.value, other.value)
        )


@dataclass
class Model:
    """A ``.model`` card: name, type (``d``, ``sw``, …) and numeric parameters."""

    name: str
    kind: str
    params: dict[str, float] = field(default_factory=dict)


#: DBL_EPSILON * 1e3: how far past ``stop`` ngspice's ``.dc`` loop still takes a point
DC_END_SLACK = 2.220446049250313e-16 * 1e3


@dataclass(frozen=True)
class DcSweep:
    """A ``.dc`` card: one or two swept sources, as ngspice runs them.

    ``sources`` holds ``(name, start, stop, step)`` per source (names lower case, V or
    I sources of the circuit).  The first source is the inner loop: it varies fastest,
    the second (if any) steps once per pass of the first.  Values follow ngspice's own
    loop (``dctrcurv.c``): ``start``, then ``+= step`` repeatedly (accumulated, not
    ``start + k*step``), while ``sign(step) * (value - stop) <= DC_END_SLACK``.
    """

    sources: tuple[tuple[str, float, float, float], ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.sources) <= 2:
            raise CircuitError(".dc sweeps one or two sources")
        for name, _start, _stop, step in self.sources:
            if not step or step != step:
                raise CircuitError(f".dc step of {name} must be nonzero")

    @property
    def names(self) -> list[str]:
        """Swept source names, inner loop first."""
        return [s[0] for s in self.sources]

    def axis(self, k: int) -> np.ndarray:
        """The values source ``k`` takes, in order (ngspice's accumulation)."""
        _, start, stop, step = self.sources[k]
        sign = 1.0 if step > 0 else -1.0
        out: list[float] = []
        v = float(start)
        while sign * (v - stop) <= DC_END_SLACK:
            out.append(v)
            v += step
        return np.asarray(out, dtype=np.float64)

    def points(self) -> np.ndarray:
        """Every point ``[B, k]`` in ngspice's order: column ``j`` is source ``j``'s
        value; the first source varies fastest (``B = len(axis(0)) * len(axis(1))``)."""
        axes = [self.axis(k) for k in range(len(self.sources))]
        if len(axes) == 1:  # one source: its axis as the one column (no grid to build)
            return axes[0].reshape(-1, 1)
        grids = np.meshgrid(*axes[::-1], indexing="ij")  # outer first: inner varies fastest
        return np.stack([g.reshape(-1) for g in grids[::-1]], axis=1)

    def card(self, written: dict[str, str] | None = None) -> str:
        """The ``.dc`` line (values exact); ``written`` maps a name to how it is written."""
        parts = [".dc"]
        for name, start, stop, step in self.sources:
            name = (written or {}).get(name, name)
            parts += [name, repr(float(start)), repr(float(stop)), repr(float(step))]
        return " ".join(parts)


@dataclass(eq=False)
class Circuit:
    """A flattened DC circuit.  See the module docstring for conventions."""

    title: str
    nodes: list[str]
    resistors: Branches
    diodes: Branches
    vsources: Branches
    isources: Branches
    capacitors: Branches = field(default_factory=Branches.empty)
    inductors: Branches = field(default_factory=Branches.empty)
    diode_models: list[str] = field(default_factory=list)  # model name of each diode
    models: dict[str, Model] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # notes collected while reading
    source: str | None = None  # file it was read from, if any
    dc: DcSweep | None = None  # the netlist's .dc card, if any

    # ------------------------------------------------------------------ queries
    @property
    def n_nodes(self) -> int:
        """Number of nodes, ground included."""
        return len(self.nodes)

    def node_index(self) -> dict[str, int]:
        """Map from node name to index (built on demand)."""
        return {name: i for i, name in enumerate(self.nodes)}

    def sizes(self) -> dict[str, int]:
        """Element counts, the way benchmarks report network size."""
        return {
            "nodes": self.n_nodes - 1,
            "resistors": len(self.resistors),
            "diodes": len(self.diodes),
            "vsources": len(self.vsources),
            "isources": len(self.isources),
            "capacitors": len(self.capacitors),
            "inductors": len(self.inductors),
        }

    def kinds(self) -> dict[str, Branches]:
        return {
            "r": self.resistors,
            "d": self.diodes,
            "v": self.vsources,
            "i": self.isources,
            "c": self.capacitors,
            "l": self.inductors,
        }

    # --------------------------------------------------------------- validation
    def validate(self) -> None:
        """Check structural invariants; raise CircuitError naming the element."""
        n = self.n_nodes
        if not self.nodes or self.nodes[0] != GROUND:
            raise CircuitError("node 0 must be ground ('0')")
        seen: dict[str, str] = {}
        for kind, br in self.kinds().items():
            if not (len(br.names) == len(br) == br.b.shape[0] == br.value.shape[0]):
                raise CircuitError(f"inconsistent array lengths for element kind {kind!r}")
            if len(br) and (br.a.min() < 0 or br.b.min() < 0 or br.a.max() >= n or br.b.max() >= n):
                raise CircuitError(f"element of kind {kind!r} refers to a node that does not exist")
            if not isinstance(br.names, IndexedNames):
                for name in br.names:
                    if name in seen:
                        raise CircuitError(f"duplicate element name {name!r}", elements=[name])
                    seen[name] = kind
        if len(self.resistors) and np.any(self.resistors.value < 0):
            i = int(np.argmax(self.resistors.value < 0))
            raise CircuitError(
                f"resistor {self.resistors.names[i]} has negative resistance "
                f"{self.resistors.value[i]:g}",
                elements=[self.resistors.names[i]],
            )
        if len(self.diode_models) != len(self.diodes):
            raise CircuitError("diode_models must have one entry per diode")
        if self.dc is not None:
            sources = set(self.vsources.names) | set(self.isources.names)
            for name in self.dc.names:
                if name not in sources:
                    raise CircuitError(f".dc sweeps {name!r}, which is not a V or I source")

    def equals(self, other: Circuit, *, rtol: float = 0.0) -> bool:
        """Structural equality by names: title, node set, every element (name, node
        names, value, in order per kind), diode models and model cards.  Node
        *indices* may differ (a writer need not preserve node numbering).  Values are
        compared exactly, or to a relative tolerance ``rtol`` (for values computed by
        numpy on another CPU, whose last bits may differ).  The ``.dc`` sweeps must be equal."""
        if self.dc != other.dc:
            return False
        if self.title != other.title or set(self.nodes) != set(other.nodes):
            return False
        mine, theirs = np.asarray(self.nodes, dtype=object), np.asarray(other.nodes, dtype=object)
        for x, y in zip(self.kinds().values(), other.kinds().values(), strict=True):
            if len(x) != len(y) or list(x.names) != list(y.names):
                return False
            if rtol > 0.0:
                if x.value.shape != y.value.shape or not np.allclose(
                    x.value, y.value, rtol=rtol, atol=0.0
                ):
                    return False
            elif not np.array_equal(x.value, y.value):
                return False
            if len(x) and not (
                np.array_equal(mine[x.a], theirs[y.a]) and np.array_equal(mine[x.b], theirs[y.b])
            ):
                return False
        return list(self.diode_models) == list(other.diode_models) and {
            k: (m.kind, m.params) for k, m in self.models.items()
        } == {k: (m.kind, m.params) for k, m in other.models.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Circuit):
            return NotImplemented
        return self.equals(other)

    __hash__ = None  # type: ignore[assignment]


def make_circuit(
    title: str,
    nodes: list[str],
    resistors: Branches | None = None,
    diodes: Branches | None = None,
    vsources: Branches | None = None,
    isources: Branches | None = None,
    diode_models: list[str] | None = None,
    **kwargs,
) -> Circuit:
    """Convenience constructor: missing groups are empty; diodes default to model ``d``."""
    diodes = diodes if diodes is not None else Branches.empty()
    if diode_models is None:
        diode_models = ["d"] * len(diodes)
    c = Circuit(
        title=title,
        nodes=list(nodes),
        resistors=resistors if resistors is not None else Branches.empty(),
        diodes=diodes,
        vsources=vsources if vsources is not None else Branches.empty(),
        isources=isources if isources is not None else Branches.empty(),
        diode_models=diode_models,
        **kwargs,
    )
    if diode_models and "d" in diode_models and "d" not in c.models:
        c.models["d"] = Model("d", "d", {})
    return c


def renumbered(circuit: Circuit, order: Sequence[int] | np.ndarray) -> Circuit:
    """The same circuit with its nodes in another order: node ``k`` of the result is
    node ``order[k]`` of ``circuit`` (``order[0]`` must be 0: ground stays first).
    Names, elements (in their order) and values are unchanged; only the terminals'
    indices follow the nodes.  A solution of the result is one of ``circuit`` with
    its voltages' columns permuted (``v[:, order]``)."""
    order = np.asarray(order, dtype=np.int64)
    n = circuit.n_nodes
    if order.shape != (n,) or (n and order[0] != 0):
        raise CircuitError(f"a node order must list the {n} nodes once, ground first")
    inv = np.full(n, -1, dtype=np.int64)
    inv[order] = np.arange(n)
    if (inv < 0).any():
        raise CircuitError(f"a node order must list the {n} nodes once, ground first")

    def moved(br: Branches) -> Branches:
        return Branches(
            br.names, inv[br.a].astype(br.a.dtype), inv[br.b].astype(br.b.dtype), br.value
        )

    return replace(
        circuit,
        nodes=[circuit.nodes[k] for k in order],
        resistors=moved(circuit.resistors),
        diodes=moved(circuit.diodes),
        vsources=moved(circuit.vsources),
        isources=moved(circuit.isources),
        capacitors=moved(circuit.capacitors),
        inductors=moved(circuit.inductors),
    )


def with_values(circuit: Circuit, names: Sequence[str], values: np.ndarray) -> Circuit:
    """A copy of ``circuit`` whose sources ``names`` (V or I sources) take ``values``:
    one sample of many inputs through one network as a circuit of its own."""
    vs_idx = {n: j for j, n in enumerate(circuit.vsources.names)}
    is_idx = {n: j for j, n in enumerate(circuit.isources.names)}
    vv = circuit.vsources.value.copy()
    iv = circuit.isources.value.copy()
    for name, x in zip(names, np.asarray(values, dtype=np.float64).tolist(), strict=True):
        if name in vs_idx:
            vv[vs_idx[name]] = x
        elif name in is_idx:
            iv[is_idx[name]] = x
        else:
            raise CircuitError(f"no voltage or current source named {name!r}")
    vs, isrc = circuit.vsources, circuit.isources
    return replace(
        circuit,
        vsources=Branches(vs.names, vs.a, vs.b, vv),
        isources=Branches(isrc.names, isrc.a, isrc.b, iv),
    )
