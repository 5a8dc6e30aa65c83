"""The paper code's DRN parameters in its own layout, and the map to resbench circuits.

The paper (Scellier, ICML 2024) keeps a DRN as dense weight matrices and bias
vectors in its own unit order (``DeepResistiveEnergy`` of
``rain-neuromorphics/energy-based-learning``); resbench keeps circuits
(``resbench.generate.drn``'s layout).  :func:`export_paper_params` and
:func:`import_paper_params` map one to the other; the mapping is described in
:mod:`resbench.bench.paper` (which re-exports everything here) and is pure numpy:
it needs neither torch nor the paper's checkout.  It lives in the core (not the
bench layer) because :mod:`resbench.drn` trains networks in this layout.

Summary of the map: in every layer the paper's unit order is "resbench's even
units, then its odd units" (:func:`paper_order`): ``cat(+x, -x)`` for the input
layer, "excitatory, then inhibitory" for a hidden layer; a conductance is the
paper's weight ``w = 1 / (R · g_unit)``, a bias current ``I`` its bias
``b = I / g_unit``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from resbench.circuit import GROUND, Branches, Circuit, IndexedNames, make_circuit
from resbench.errors import CircuitError
from resbench.generate import G_UNIT, PRESETS

__all__ = [
    "PaperParams",
    "export_paper_params",
    "import_paper_params",
    "make_paper_params",
    "paper_order",
]


# --------------------------------------------------------------------- parameters
@dataclass
class PaperParams:
    """A DRN in the paper code's layout (see the module docstring for the mapping).

    ``weights[k]``: ``[sizes[k], sizes[k+1]]`` float64, rows and columns in the
    paper's unit order, in units of ``g_unit`` siemens (the paper's weights).
    ``biases``: one ``[sizes[k]]`` array per hidden / output layer (k >= 1), in
    units of ``g_unit`` amperes (per volt), or None when the circuit has no
    current sources.  ``input_state``: the input layer's values in the paper's
    order, ``cat(x·gain, -x·gain)`` (volts).  ``nodes`` is the circuit's node
    list and ``layer_nodes[k]`` the indices into it of layer k's units in the
    paper's order, so answers come back in the circuit's node order.
    ``input_names``: the input sources, in the order of the input nodes
    ``in0 … in{2m-1}`` (the columns of :func:`paper_solve`'s ``inputs``).
    """

    sizes: tuple[int, ...]
    weights: list[np.ndarray]
    biases: list[np.ndarray] | None
    input_state: np.ndarray
    input_gain: float
    g_unit: float
    nodes: list[str]
    layer_nodes: list[np.ndarray]
    input_names: list[str]
    title: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pixels(self) -> int:
        """Number of pixels m (the input layer holds 2m units)."""
        return self.sizes[0] // 2

    def conductances(self) -> int:
        """The paper's size: every layer-to-layer pair (zeros included)."""
        return sum(p * q for p, q in zip(self.sizes[:-1], self.sizes[1:], strict=True))


def paper_order(n: int) -> np.ndarray:
    """Resbench position of each of the paper's units in a layer of ``n``: even
    positions first, then odd ones (``cat(+x, -x)``; excitatory, then inhibitory)."""
    return np.concatenate([np.arange(0, n, 2), np.arange(1, n, 2)]).astype(np.int64)


def _layer_names(sizes: Sequence[int]) -> list[list[str]]:
    """Node names of each layer, resbench order (resbench.generate.drn's naming)."""
    out = [[f"in{j}" for j in range(sizes[0])]]
    out += [[f"h{k}_{j}" for j in range(n)] for k, n in enumerate(sizes[1:-1], start=1)]
    out.append([f"out{j}" for j in range(sizes[-1])])
    return out


def _infer_sizes(nodes: Sequence[str]) -> tuple[int, ...]:
    """Layer sizes from resbench.generate.drn's node names; CircuitError otherwise."""
    counts: dict[str, int] = {}
    for name in nodes[1:]:
        if name.startswith("in") and name[2:].isdigit():
            key = "in"
        elif name.startswith("out") and name[3:].isdigit():
            key = "out"
        elif name.startswith("h") and "_" in name and name[1 : name.index("_")].isdigit():
            key = name[: name.index("_")]
        else:
            raise CircuitError(
                f"node {name!r} is not a DRN node: the paper's layout needs the nodes of "
                "resbench.generate.drn (in*, h<k>_*, out*)",
                nodes=[name],
            )
        counts[key] = counts.get(key, 0) + 1
    hidden = sorted(int(k[1:]) for k in counts if k.startswith("h"))
    if hidden != list(range(1, len(hidden) + 1)) or "in" not in counts or "out" not in counts:
        raise CircuitError(
            "not a DRN: need input nodes in*, hidden layers h1_*, h2_*, … numbered from 1 "
            f"and output nodes out*; found layers {sorted(counts)}"
        )
    return (counts["in"], *(counts[f"h{k}"] for k in hidden), counts["out"])


def _check_sizes(sizes: Sequence[int]) -> None:
    if sizes[0] % 2:
        raise CircuitError(f"the input layer holds (+x, -x) pairs: {sizes[0]} inputs is odd")
    odd = [k for k, n in enumerate(sizes[1:-1], start=1) if n % 2]
    if odd:
        raise CircuitError(
            f"hidden layer h{odd[0]} has {sizes[odd[0]]} units: the paper's model makes "
            "exactly the first half of a hidden layer excitatory, so its size must be even"
        )


def _layer_indices(circuit: Circuit, sizes: Sequence[int]) -> list[np.ndarray]:
    """Indices into circuit.nodes of each layer's units in the paper's order."""
    idx = circuit.node_index()
    out = []
    for names in _layer_names(sizes):
        missing = [n for n in names if n not in idx]
        if missing:
            raise CircuitError(f"DRN node {missing[0]!r} is missing", nodes=missing[:5])
        res = np.array([idx[n] for n in names], dtype=np.int64)
        out.append(res[paper_order(len(names))] if len(out) < len(sizes) - 1 else res)
    return out


def _locate(n_nodes: int, layer_nodes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per circuit node: its layer (-1 for ground) and its position in the paper's order."""
    layer = np.full(n_nodes, -1, dtype=np.int64)
    pos = np.full(n_nodes, -1, dtype=np.int64)
    for k, ix in enumerate(layer_nodes):
        layer[ix] = k
        pos[ix] = np.arange(ix.shape[0])
    return layer, pos


def _input_sources(circuit: Circuit, layer_nodes: list[np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Names and values of the grounded input sources, in input-node order (in0, in1, …)."""
    vs = circuit.vsources
    resbench_in = layer_nodes[0][np.argsort(paper_order(len(layer_nodes[0])))]  # in0, in1, …
    by_node = {int(a): j for j, a in enumerate(vs.a.tolist())}
    names, values = [], np.empty(len(resbench_in))
    for i, node in enumerate(resbench_in.tolist()):
        j = by_node.get(node)
        if j is None or vs.b[j] != 0:
            where = circuit.nodes[node]
            raise CircuitError(
                f"input node {where!r} needs a voltage source from it to ground (the paper's "
                "input layer holds every input node at a given voltage)",
                nodes=[where],
            )
        names.append(vs.names[j])
        values[i] = vs.value[j]
    if len(vs) != len(resbench_in):
        extra = sorted(set(vs.names) - set(names))
        raise CircuitError(
            f"voltage source {extra[0]!r} is not an input source: the paper's model has "
            "voltage sources only on the input nodes",
            elements=extra[:5],
        )
    return names, values


def _weights(
    circuit: Circuit, sizes: Sequence[int], layer: np.ndarray, pos: np.ndarray, g_unit: float
) -> list[np.ndarray]:
    """Dense conductances (units of g_unit) per layer pair, paper order; parallel add."""
    r = circuit.resistors
    la, lb = layer[r.a], layer[r.b]
    bad = np.flatnonzero((la < 0) | (lb < 0) | (np.abs(la - lb) != 1))
    if bad.size:
        j = int(bad[0])
        raise CircuitError(
            f"resistor {r.names[j]!r} ({circuit.nodes[r.a[j]]} - {circuit.nodes[r.b[j]]}) does "
            "not join consecutive layers: the paper's DRN only has layer-to-layer conductances",
            elements=[r.names[j]],
        )
    if len(r) and not (np.all(np.isfinite(r.value)) and np.all(r.value > 0)):
        j = int(np.flatnonzero(~(np.isfinite(r.value) & (r.value > 0)))[0])
        raise CircuitError(
            f"resistor {r.names[j]!r} has resistance {r.value[j]:g}: the paper's weights are "
            "finite, positive conductances",
            elements=[r.names[j]],
        )
    g = 1.0 / (r.value * g_unit)
    lo = np.minimum(la, lb)
    pre = np.where(la < lb, pos[r.a], pos[r.b])
    post = np.where(la < lb, pos[r.b], pos[r.a])
    out = []
    for k in range(len(sizes) - 1):
        w = np.zeros((sizes[k], sizes[k + 1]), dtype=np.float64)
        sel = lo == k
        np.add.at(w, (pre[sel], post[sel]), g[sel])
        out.append(w)
    return out


def _check_diodes(circuit: Circuit, sizes: Sequence[int], layer_nodes: list[np.ndarray]) -> None:
    """One ideal diode to ground per hidden unit, polarity by parity; none elsewhere."""
    d = circuit.diodes
    expect_anode: dict[int, int] = {}  # node -> required anode (0: v >= 0, node: v <= 0)
    for k in range(1, len(sizes) - 1):
        half = sizes[k] // 2
        for p, node in enumerate(layer_nodes[k].tolist()):
            expect_anode[node] = 0 if p < half else node
    seen: set[int] = set()
    for j, (a, b) in enumerate(zip(d.a.tolist(), d.b.tolist(), strict=True)):
        node = b if a == 0 else a if b == 0 else -1
        if node in seen or node not in expect_anode or a != expect_anode[node]:
            raise CircuitError(
                f"diode {d.names[j]!r} ({circuit.nodes[a]} -> {circuit.nodes[b]}) does not "
                "match the paper's model: one diode to ground per hidden unit, from ground "
                "on even units (v >= 0), to ground on odd units (v <= 0)",
                elements=[d.names[j]],
            )
        seen.add(node)
    if len(seen) != len(expect_anode):
        node = min(set(expect_anode) - seen)
        raise CircuitError(
            f"hidden node {circuit.nodes[node]!r} has no diode: the paper clamps every hidden unit",
            nodes=[circuit.nodes[node]],
        )


def _biases(
    circuit: Circuit, sizes: Sequence[int], layer: np.ndarray, pos: np.ndarray, g_unit: float
) -> list[np.ndarray] | None:
    """Bias per hidden / output unit (paper order, units of g_unit), from current sources."""
    isrc = circuit.isources
    if not len(isrc):
        return None
    out = [np.zeros(n, dtype=np.float64) for n in sizes[1:]]
    for j, (a, b, val) in enumerate(
        zip(isrc.a.tolist(), isrc.b.tolist(), isrc.value.tolist(), strict=True)
    ):
        node, sign = (b, 1.0) if a == 0 else (a, -1.0) if b == 0 else (-1, 0.0)
        if node < 0 or layer[node] < 1:
            raise CircuitError(
                f"current source {isrc.names[j]!r} is not a bias: the paper's biases are "
                "currents between ground and a hidden or output node",
                elements=[isrc.names[j]],
            )
        out[layer[node] - 1][pos[node]] += sign * val / g_unit
    return out


def _title_gain(title: str) -> float | None:
    """The input gain written in resbench.generate.drn's title (``gain=480``), if any."""
    for word in title.split():
        if word.startswith("gain="):
            try:
                return float(word[5:])
            except ValueError:
                return None
    return None


def _default_gain(sizes: tuple[int, ...], title: str) -> float:
    from resbench.generate import DEFAULT_GAINS

    gain = _title_gain(title)
    if gain is not None and math.isfinite(gain):
        return gain
    preset = next((k for k, v in PRESETS.items() if v == sizes), None)
    return DEFAULT_GAINS.get(preset or "", 1.0)


def export_paper_params(
    circuit: Circuit, *, g_unit: float = G_UNIT, input_gain: float | None = None
) -> PaperParams:
    """The paper code's parameters of a DRN circuit (resbench.generate.drn's layout).

    ``input_gain`` defaults to the ``gain=`` of the generator's title, else the
    preset's, else 1; it only scales how the paper's input layer is fed
    (pixels × gain), never a voltage.  Raises :class:`CircuitError` naming the
    first element that has no counterpart in the paper's model.
    """
    if len(circuit.capacitors) or len(circuit.inductors):
        raise CircuitError("the paper's DRN has no capacitors or inductors")
    if not (isinstance(g_unit, int | float) and math.isfinite(g_unit) and g_unit > 0):
        raise CircuitError(f"g_unit must be a positive number, got {g_unit!r}")
    if not circuit.nodes or circuit.nodes[0] != GROUND:
        raise CircuitError("node 0 must be ground ('0')")
    sizes = _infer_sizes(circuit.nodes)
    _check_sizes(sizes)
    layer_nodes = _layer_indices(circuit, sizes)
    layer, pos = _locate(circuit.n_nodes, layer_nodes)
    names, vin = _input_sources(circuit, layer_nodes)
    _check_diodes(circuit, sizes, layer_nodes)
    gain = float(input_gain) if input_gain is not None else _default_gain(sizes, circuit.title)
    return PaperParams(
        sizes=sizes,
        weights=_weights(circuit, sizes, layer, pos, float(g_unit)),
        biases=_biases(circuit, sizes, layer, pos, float(g_unit)),
        input_state=vin[paper_order(sizes[0])],
        input_gain=gain,
        g_unit=float(g_unit),
        nodes=list(circuit.nodes),
        layer_nodes=layer_nodes,
        input_names=names,
        title=circuit.title,
    )


def _check_params(params: PaperParams) -> tuple[int, ...]:
    sizes = tuple(int(n) for n in params.sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise CircuitError(f"a DRN needs an input and an output layer, got sizes {sizes}")
    _check_sizes(sizes)
    if len(params.weights) != len(sizes) - 1:
        raise CircuitError(f"{len(sizes) - 1} weight matrices expected, got {len(params.weights)}")
    for k, w in enumerate(params.weights):
        w = np.asarray(w)
        if w.shape != (sizes[k], sizes[k + 1]):
            raise CircuitError(
                f"weights[{k}] has shape {w.shape}, expected {(sizes[k], sizes[k + 1])}"
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise CircuitError(f"weights[{k}] must be finite and >= 0 (conductances)")
    if params.biases is not None:
        if [np.shape(b) for b in params.biases] != [(n,) for n in sizes[1:]]:
            raise CircuitError(f"biases must have shapes {[(n,) for n in sizes[1:]]}")
        if not all(np.all(np.isfinite(b)) for b in params.biases):
            raise CircuitError("biases must be finite")
    if np.shape(params.input_state) != (sizes[0],):
        raise CircuitError(f"input_state must have shape ({sizes[0]},)")
    return sizes


def import_paper_params(params: PaperParams) -> Circuit:
    """The resbench circuit of paper parameters, in resbench.generate.drn's layout:
    nodes ``0, in*, h<k>_*, out*``; resistors ``r*`` for every nonzero weight,
    layer block by block, row-major in resbench's node order, ``R = 1/(w·g_unit)``;
    diodes ``d*``; sources ``vin*`` holding the input state; bias sources ``ib*``
    (ground → node, ``b·g_unit`` A) when ``params.biases`` is not None."""
    sizes = _check_params(params)
    nodes = [GROUND] + [n for names in _layer_names(sizes) for n in names]
    offsets = np.cumsum((1, *sizes))
    inv = [np.argsort(paper_order(n)) for n in sizes[:-1]] + [np.arange(sizes[-1])]
    ra, rb, rv = [], [], []
    for k, w in enumerate(params.weights):
        w_res = np.asarray(w, dtype=np.float64)[inv[k]][:, inv[k + 1]]  # resbench order
        i, j = np.nonzero(w_res)  # row-major
        ra.append(i + offsets[k])
        rb.append(j + offsets[k + 1])
        rv.append(1.0 / (w_res[i, j] * params.g_unit))
    nres = sum(len(v) for v in rv)
    resistors = Branches(
        IndexedNames("r", nres),
        np.concatenate(ra).astype(np.int32),
        np.concatenate(rb).astype(np.int32),
        np.concatenate(rv).astype(np.float64),
    )
    hid = np.arange(offsets[1], offsets[-2], dtype=np.int32)
    even = np.concatenate([np.arange(n) % 2 == 0 for n in sizes[1:-1]] or [np.zeros(0, bool)])
    zeros = np.zeros(hid.shape[0], np.int32)
    diodes = Branches(
        IndexedNames("d", hid.shape[0]),
        np.where(even, zeros, hid),
        np.where(even, hid, zeros),
        np.zeros(hid.shape[0]),
    )
    n_in = sizes[0]
    vsources = Branches(
        IndexedNames("vin", n_in),
        np.arange(1, n_in + 1, dtype=np.int32),
        np.zeros(n_in, np.int32),
        np.asarray(params.input_state, dtype=np.float64)[inv[0]],
    )
    isources = None
    if params.biases is not None:
        nb = int(offsets[-1] - offsets[1])
        b_res = [np.asarray(b, dtype=np.float64)[inv[k + 1]] for k, b in enumerate(params.biases)]
        isources = Branches(
            IndexedNames("ib", nb),
            np.zeros(nb, np.int32),
            np.arange(offsets[1], offsets[-1], dtype=np.int32),
            np.concatenate(b_res) * params.g_unit,
        )
    title = params.title or f"paper DRN {'-'.join(map(str, sizes))} gain={params.input_gain:g}"
    return make_circuit(
        title, nodes, resistors=resistors, diodes=diodes, vsources=vsources, isources=isources
    )


def make_paper_params(
    sizes: Sequence[int],
    weights: list[np.ndarray],
    biases: list[np.ndarray] | None,
    input_state: np.ndarray,
    *,
    input_gain: float,
    g_unit: float = G_UNIT,
    title: str = "",
) -> PaperParams:
    """PaperParams of arrays already in the paper's layout, with the node bookkeeping
    (``nodes``, ``layer_nodes``, ``input_names``) of the circuit that
    :func:`import_paper_params` builds from them, without building it."""
    sizes = tuple(int(n) for n in sizes)
    names = _layer_names(sizes)
    nodes = [GROUND] + [n for layer in names for n in layer]
    offsets = np.cumsum((1, *sizes))
    layer_nodes = [
        offsets[k] + (paper_order(n) if k < len(sizes) - 1 else np.arange(n, dtype=np.int64))
        for k, n in enumerate(sizes)
    ]
    return PaperParams(
        sizes=sizes,
        weights=list(weights),
        biases=None if biases is None else list(biases),
        input_state=np.asarray(input_state, dtype=np.float64),
        input_gain=float(input_gain),
        g_unit=float(g_unit),
        nodes=nodes,
        layer_nodes=[np.asarray(ix, dtype=np.int64) for ix in layer_nodes],
        input_names=[f"vin{j}" for j in range(sizes[0])],
        title=title,
    )
