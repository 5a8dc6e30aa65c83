"""The paper's own code as a peer: DRN parameters in its layout, and its solver.

The paper (Scellier, ICML 2024, docs/design.md §8) ships its code as
``rain-neuromorphics/energy-based-learning`` (not a pip package).  This module
loads it from a checkout the user points to (``paper_code=DIR`` or the
environment variable :data:`ENV_VAR`); it is never copied into resbench.  It
needs PyTorch, which lives in the optional extra ``peers``
(``pip install -e '.[peers]'``), never in the core dependencies.

Two models of one circuit
-------------------------
resbench's DRN (:func:`resbench.generate.drn`) and the paper's
``DeepResistiveEnergy`` describe the same network; :func:`export_paper_params`
and :func:`import_paper_params` map one to the other:

- **input layer (2m units)**: resbench nodes ``in0 … in{2m-1}`` held by grounded
  sources ``vin*``, ``in{2i}`` at ``+x_i·gain`` and ``in{2i+1}`` at ``-x_i·gain``;
  the paper's input layer of shape ``(2, 28, 28)`` (``(2, m)`` when m ≠ 784) holds
  ``gain · cat(x, -x)``: its unit ``i`` is ``+x_i``, its unit ``m+i`` is ``-x_i``.
- **hidden layer k (n units)**: resbench nodes ``h{k}_0 …``, each with an ideal
  diode to ground, even ``j`` held at ``v >= 0``, odd ``j`` at ``v <= 0``; the
  paper's ``NonlinearResistiveLayer`` clamps units ``0 … n/2-1`` to ``>= 0``
  (excitatory) and ``n/2 …`` to ``<= 0`` (inhibitory).
- **output layer**: resbench ``out0 …``, no diode; the paper's ``LinearLayer``,
  same order.
- **conductance**: a resistor ``R`` between consecutive layers (clipped zeros
  omitted, parallel resistors add up) is the paper's dense weight
  ``w = 1 / (R · g_unit)`` (0 where there is no resistor).
- **bias**: a current source ``ib*`` of ``I`` amperes from ground into a hidden or
  output node is the paper's bias ``b = I / g_unit`` (energy term ``-b·v``); a
  circuit without current sources has the paper's biases at 0.

So in every layer the paper's unit order is "resbench's even units, then its
odd units" (:func:`paper_order`): for the input layer that is
``cat(+x, -x)``, for a hidden layer "excitatory, then inhibitory".  A hidden
layer must have an even size (the paper makes exactly the first half
excitatory).

Why the equilibria are the same
-------------------------------
resbench's answer minimises the power ``½ Σ G (v_a - v_b)² - Σ I v`` over the
free nodes with the diode bounds (``v >= 0`` / ``v <= 0``) and the inputs held
(docs/design.md §1).  The paper's energy is ``½ Σ w (v_a - v_b)² - Σ b v``
with the same bounds (its clamp), i.e. resbench's divided by ``g_unit``; a
common factor moves no minimiser.  Its ``QuadraticMinimizer`` in
'asynchronous' mode updates the even-numbered free layers, then the odd ones;
no two units of a layer are connected, so each update is the exact minimiser
over that layer (``clamp(-b / 2a)``): block coordinate descent on a strictly
convex QP, which converges to the unique minimiser.  The paper runs a fixed,
small number of these iterations (:data:`PAPER_ITERATIONS`, from its
``papers/fast-drn/drn.py``), so its answer at the paper's settings is near,
not at, the equilibrium; with enough iterations in float64 it agrees with
resbench to ~1e-12 V (tests/test_paper.py).

The parameter mapping (:class:`PaperParams`, both functions) is pure numpy
and needs neither torch nor the checkout.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from resbench.circuit import GROUND, Branches, Circuit, IndexedNames, make_circuit
from resbench.errors import CircuitError, ResbenchError
from resbench.generate import G_UNIT, PRESETS

__all__ = [
    "ENV_VAR",
    "INSTALL_HINT",
    "PAPER_ITERATIONS",
    "PAPER_REPO",
    "PaperCodeUnavailable",
    "PaperModel",
    "PaperParams",
    "export_paper_params",
    "import_paper_params",
    "load_paper_code",
    "paper_order",
    "paper_solve",
    "paper_status",
]

#: environment variable naming the checkout of the paper's code
ENV_VAR = "RESBENCH_PAPER_CODE"
#: where the paper's code lives (GitHub)
PAPER_REPO = "rain-neuromorphics/energy-based-learning"
#: how to get torch for the paper-code column
INSTALL_HINT = "pip install -e '.[peers]'"
#: the paper's inference iterations per preset (its papers/fast-drn/drn.py)
PAPER_ITERATIONS: dict[str, int] = {"xs": 4, "1h": 4, "2h": 5, "3h": 6, "xl": 4}
#: a file every checkout of the paper's code has (how a folder is recognised)
_MARKER = Path("model") / "resistive" / "network.py"
#: the paper's image side: its input layer is (2, 28, 28) for 784 pixels
_MNIST_SIDE = 28


class PaperCodeUnavailable(ResbenchError):
    """torch or the checkout of the paper's code is missing (the bench skips its column)."""


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


# --------------------------------------------------------------------- the paper's code
@dataclass(frozen=True)
class _PaperCode:
    """The classes of the paper's code this module uses, and torch."""

    root: Path
    torch: Any
    DeepResistiveEnergy: Any
    Network: Any
    QuadraticMinimizer: Any


_LOADED: dict[Path, _PaperCode] = {}
_LOCK = threading.Lock()
_PACKAGES = ("model", "training", "datasets")  # the checkout's top-level names


def _checkout(paper_code: str | os.PathLike | None) -> Path:
    given = paper_code if paper_code is not None else os.environ.get(ENV_VAR) or None
    if given is None:
        raise PaperCodeUnavailable(
            f"no checkout of the paper's code ({PAPER_REPO}) given: pass --paper-code DIR or "
            f"set {ENV_VAR}=DIR (git clone https://github.com/{PAPER_REPO})"
        )
    root = Path(given).expanduser().resolve()
    if not (root / _MARKER).is_file():
        raise PaperCodeUnavailable(
            f"{root} is not a checkout of {PAPER_REPO} (it has no {_MARKER.as_posix()}); "
            f"pass --paper-code DIR or set {ENV_VAR} to the repository's top folder"
        )
    return root


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise PaperCodeUnavailable(
            f"the paper's code needs PyTorch, which is not installed: {INSTALL_HINT}"
        ) from exc
    return torch


@contextlib.contextmanager
def _checkout_on_path(root: Path) -> Iterator[None]:
    """``root`` first on sys.path and the checkout's package names free while importing;
    sys.path and any same-named modules of the caller are restored afterwards."""
    saved_path = list(sys.path)
    ours = [m for m in sys.modules if m.split(".")[0] in _PACKAGES]
    saved_mods = {m: sys.modules.pop(m) for m in ours}
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path[:] = saved_path
        for m in [m for m in sys.modules if m.split(".")[0] in _PACKAGES]:
            del sys.modules[m]  # the classes keep their modules alive; the names go back
        sys.modules.update(saved_mods)


def load_paper_code(paper_code: str | os.PathLike | None = None) -> _PaperCode:
    """Import the paper's DRN model, network and minimizer from its checkout
    (``paper_code`` or :data:`ENV_VAR`).  Raises :class:`PaperCodeUnavailable`
    saying what is missing and how to get it."""
    root = _checkout(paper_code)
    torch = _import_torch()
    with _LOCK:
        if root not in _LOADED:
            with _checkout_on_path(root):
                try:
                    from model.function.network import Network
                    from model.resistive.minimizer import QuadraticMinimizer
                    from model.resistive.network import DeepResistiveEnergy
                except Exception as exc:  # noqa: BLE001 - any failure of foreign code
                    raise PaperCodeUnavailable(
                        f"could not import the paper's code from {root}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
            _LOADED[root] = _PaperCode(
                root, torch, DeepResistiveEnergy, Network, QuadraticMinimizer
            )
        return _LOADED[root]


def paper_status(paper_code: str | os.PathLike | None = None) -> str | None:
    """None when the paper's code can run, else ``"skipped: why (what to do)"``."""
    try:
        load_paper_code(paper_code)
    except PaperCodeUnavailable as exc:
        return f"skipped: {exc}"
    return None


@contextlib.contextmanager
def _torch_settings(torch: Any, dtype: Any, threads: int | None) -> Iterator[None]:
    """torch's default dtype (the paper's layers take it) and thread count, restored after."""
    old_dtype, old_threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(dtype)
    if threads is not None and threads != old_threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_default_dtype(old_dtype)
        if torch.get_num_threads() != old_threads:
            torch.set_num_threads(old_threads)


def _torch_dtype(torch: Any, dtype: Any) -> Any:
    kind = np.dtype(dtype)
    if kind == np.float64:
        return torch.float64
    if kind == np.float32:
        return torch.float32
    raise ResbenchError(f"dtype must be float64 or float32, got {kind}")


class PaperModel:
    """The paper's ``DeepResistiveEnergy`` + ``QuadraticMinimizer`` ('asynchronous'),
    unmodified, loaded with ``params``: built once (like a resbench Network), then
    :meth:`run` for each batch (the part a benchmark times) or :meth:`solve`.

    ``iterations`` defaults to the paper's own for a preset's sizes
    (:data:`PAPER_ITERATIONS`), else 4.  ``dtype`` float64 or float32: the
    parameters, inputs and layer states all take it.
    """

    def __init__(
        self,
        params: PaperParams,
        *,
        dtype: Any = np.float64,
        iterations: int | None = None,
        paper_code: str | os.PathLike | None = None,
    ) -> None:
        self.sizes = _check_params(params)
        self.params = params
        self.code = load_paper_code(paper_code)
        torch = self.code.torch
        self.torch_dtype = _torch_dtype(torch, dtype)
        self.dtype = np.dtype(dtype)
        preset = next((k for k, v in PRESETS.items() if v == self.sizes), None)
        self.iterations = int(
            iterations if iterations is not None else PAPER_ITERATIONS.get(preset or "", 4)
        )
        if self.iterations < 1:
            raise ResbenchError(f"iterations must be >= 1, got {self.iterations}")
        m = params.pixels
        self.pixel_shape = (_MNIST_SIDE, _MNIST_SIDE) if m == _MNIST_SIDE**2 else (m,)
        # the gain only scales how inputs are fed; 0 would lose them, so feed x·gain as x then
        self.gain = float(params.input_gain) if params.input_gain not in (0.0, None) else 1.0
        shapes = [(2, *self.pixel_shape)] + [(n,) for n in self.sizes[1:]]
        with _torch_settings(torch, self.torch_dtype, None):
            self.energy = self.code.DeepResistiveEnergy(
                shapes, [1.0] * (len(shapes) - 1), self.gain
            )
            self._load(params, shapes)
            self.network = self.code.Network(self.energy)
            self.minimizer = self.code.QuadraticMinimizer(self.energy, self.network.free_layers())
            self.minimizer.num_iterations = self.iterations
            self.minimizer.mode = "asynchronous"

    def _load(self, params: PaperParams, shapes: list[tuple[int, ...]]) -> None:
        """Write the parameters into the paper's tensors (its order: biases of layers
        1…L-1, then the weights)."""
        torch = self.code.torch
        biases = params.biases or [np.zeros(n) for n in self.sizes[1:]]
        states = list(biases) + [
            np.asarray(w, dtype=np.float64).reshape(shapes[k] + shapes[k + 1])
            for k, w in enumerate(params.weights)
        ]
        mine = self.energy.params()
        if len(mine) != len(states):  # pragma: no cover - a different version of the code
            raise PaperCodeUnavailable(
                f"the paper's DeepResistiveEnergy has {len(mine)} parameters, expected "
                f"{len(states)}: this version of {PAPER_REPO} is not supported"
            )
        for p, s in zip(mine, states, strict=True):
            if tuple(p.state.shape) != s.shape:  # pragma: no cover - another version
                raise PaperCodeUnavailable(
                    f"the paper's parameter {p.name} has shape {tuple(p.state.shape)}, "
                    f"expected {s.shape}"
                )
            p.state = torch.tensor(np.ascontiguousarray(s), dtype=self.torch_dtype)

    def pixels(self, inputs: np.ndarray) -> Any:
        """The paper's ``set_input`` argument ``x [B, 1, 28, 28]`` of input-source values
        ``[B, 2m]`` (columns = ``params.input_names``: ``+x·gain`` on even inputs,
        ``-x·gain`` on odd ones).  Refuses values that are not such pairs."""
        v = np.asarray(inputs, dtype=np.float64)
        if v.ndim == 1:
            v = v[None, :]
        if v.ndim != 2 or v.shape[1] != self.sizes[0] or v.shape[0] < 1:
            raise ResbenchError(
                f"inputs must have shape [B, {self.sizes[0]}] (one column per input source), "
                f"got {v.shape}"
            )
        if not np.all(np.isfinite(v)):
            raise ResbenchError("inputs must be finite")
        if not np.array_equal(v[:, 1::2], -v[:, 0::2]):
            raise ResbenchError(
                "the paper's input layer holds (+x, -x) pairs: every odd input must be minus "
                "the even input before it"
            )
        x = v[:, 0::2] / self.gain
        return self.code.torch.tensor(
            x.reshape(v.shape[0], 1, *self.pixel_shape), dtype=self.torch_dtype
        )

    def run(self, x: Any, threads: int | None = None) -> list[Any]:
        """One batch through the paper's code as its Evaluator does: ``set_input(x,
        reset=True)`` (cold start from 0 V) then ``compute_equilibrium()``.  Returns
        the layers' states (torch tensors, the paper's order)."""
        torch = self.code.torch
        with _torch_settings(torch, self.torch_dtype, threads):
            self.network.set_input(x, reset=True)
            self.minimizer.compute_equilibrium()
            return [layer.state for layer in self.energy.layers()]

    def voltages(self, states: list[Any]) -> np.ndarray:
        """Layer states of :meth:`run` as node voltages ``[B, n_nodes]`` float64 in the
        circuit's node order (ground 0 V)."""
        b = int(states[0].shape[0])
        out = np.zeros((b, len(self.params.nodes)), dtype=np.float64)
        for ix, s in zip(self.params.layer_nodes, states, strict=True):
            out[:, ix] = s.detach().reshape(b, -1).to(self.code.torch.float64).numpy()
        return out

    def solve(self, inputs: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Node voltages ``[B, n_nodes]`` (circuit node order) of input values ``[B, 2m]``."""
        return self.voltages(self.run(self.pixels(inputs), threads))


def paper_solve(
    params: PaperParams,
    inputs: np.ndarray,
    *,
    dtype: Any = np.float64,
    iterations: int | None = None,
    threads: int | None = None,
    paper_code: str | os.PathLike | None = None,
) -> np.ndarray:
    """Solve a batch with the paper's own code: node voltages ``[B, n_nodes]`` in the
    circuit's node order, for input-source values ``inputs [B, 2m]`` (columns =
    ``params.input_names``).  Builds a :class:`PaperModel` each call; keep one to
    solve many batches."""
    model = PaperModel(params, dtype=dtype, iterations=iterations, paper_code=paper_code)
    return model.solve(inputs, threads)
