"""Network generators: deep resistive networks (the paper's DRN), grids, random graphs,
and the topologies where coordinate descent converges slowly (chains, stars, multi-layer
power grids in the IBM benchmarks' style).

Every generator is deterministic by ``seed`` and returns a
:class:`resbench.circuit.Circuit`.  Every circuit it returns has a unique DC
solution: each node has a resistive path to a node of fixed voltage, and the
diodes are feasible by construction (see each function).

Units
-----
DRN conductances are drawn like the paper's initialisation,
``w = max(0, U(-1/sqrt(fan_in), 1/sqrt(fan_in)))``, in units of
:data:`G_UNIT` = 10 µS: a resistor is ``R = 1 / (w · G_UNIT)`` ohms (megohms;
DRN-XS: 3.96 MΩ and up).  Scaling every conductance by the same factor does
not change any node voltage, only the currents; the unit is chosen so that
ngspice's ideal-diode switch (RON = 1e-5 Ω, ROFF = 1e12 Ω, docs/design.md §5) agrees
with the ideal answer: its error is about RON × (diode current) plus
(node voltage) / ROFF / (node conductance), so too large a unit (mS: 3e-6 V on
DRN-1H, 1.2e-5 V on DRN-2H) or too small a one (µS: ~4e-6 V on DRN-2H) breaks
a 1e-6 V agreement.  Optional DRN bias currents are ``U(-c, c) · G_UNIT · 1 V``
with ``c = 1/sqrt(fan_in)`` (a bias weight times a 1 V rail).

Sizes
-----
Use :func:`drn_size` for the exact node / diode / source counts and the number
of conductances of a DRN without building it; the resistor count is random
(about half the conductances are clipped to zero and omitted).  Every generator
first estimates what it would build from its arguments alone (:func:`estimate`:
counts and peak memory) and refuses, with a :class:`GeneratorError` that gives
the numbers, more than :data:`MAX_COUNT` nodes or elements of a kind (indices
are 32-bit) or more memory than :func:`available_memory` reports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from resbench._random_graph import (
    random_diodes,
    random_isources,
    random_resistors,
    random_vsources,
)
from resbench.circuit import GROUND, Branches, Circuit, IndexedNames, make_circuit
from resbench.draws import uniform as _uniform
from resbench.errors import ResbenchError
from resbench.memory import available_memory
from resbench.memory import gib as _gib

__all__ = [
    "DEFAULT_GAINS",
    "G_UNIT",
    "PRESETS",
    "MAX_COUNT",
    "NETLIST_BYTES_PER_ELEMENT",
    "GeneratorError",
    "SizeEstimate",
    "available_memory",
    "check_fits",
    "digits_image",
    "drn",
    "drn_size",
    "estimate",
    "grid",
    "random_network",
    "chain",
    "star",
    "powergrid",
]

#: Paper presets (Scellier, ICML 2024, docs/design.md §8): layer sizes, input layer = 2 × 784.
PRESETS: dict[str, tuple[int, ...]] = {
    "xs": (1568, 100, 10),
    "1h": (1568, 1024, 10),
    "2h": (1568, 1024, 1024, 10),
    "3h": (1568, 1024, 1024, 1024, 10),
    "xl": (1568, 32768, 10),
}

#: Siemens per unit of drawn DRN weight (see the module docstring).
G_UNIT = 1e-5

#: Input gain of each preset (paper); free layer sizes default to 1.
DEFAULT_GAINS: dict[str, float] = {
    "xs": 100.0,
    "1h": 480.0,
    "2h": 2000.0,
    "3h": 4000.0,
    "xl": 800.0,
}

# Number of conductances drawn per random block; bounds the temporaries (8 B each + mask).
_CHUNK = 1 << 22


class GeneratorError(ResbenchError, ValueError):
    """Invalid generator arguments (bad sizes, unknown preset, missing dataset)."""


# --------------------------------------------------------------------------- helpers
def _check_int(name: str, value: int, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise GeneratorError(f"{name} must be an integer >= {lo}, got {value!r}")
    return int(value)


def _check_fraction(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and 0.0 <= float(value) <= 1.0):
        raise GeneratorError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _rng(seed: int, *stream: int) -> np.random.Generator:
    """Independent, reproducible stream ``stream`` of ``seed`` (so options don't shift others)."""
    return np.random.default_rng([_check_int("seed", seed, 0), *stream])


def _resolve_layers(
    layers: Sequence[int] | None, preset: str | None
) -> tuple[tuple[int, ...], str | None]:
    if preset is not None:
        key = preset.lower()
        if key not in PRESETS:
            raise GeneratorError(
                f"unknown DRN preset {preset!r}; choose one of {', '.join(PRESETS)}"
            )
        if layers is not None and tuple(layers) != PRESETS[key]:
            raise GeneratorError("give either a preset or layer sizes, not both")
        return PRESETS[key], key
    if layers is None:
        raise GeneratorError("give a preset (xs, 1h, 2h, 3h, xl) or layer sizes")
    sizes = tuple(_check_int("layer size", n, 1) for n in layers)
    if len(sizes) < 2:
        raise GeneratorError(f"a DRN needs at least an input and an output layer, got {sizes}")
    if sizes[0] % 2:
        raise GeneratorError(
            f"the input layer holds (+x, -x) pairs: its size must be even, got {sizes[0]}"
        )
    match = [k for k, v in PRESETS.items() if v == sizes]
    return sizes, (match[0] if match else None)


def drn_size(layers: Sequence[int] | None = None, *, preset: str | None = None) -> dict[str, int]:
    """Exact sizes of a DRN without building it.

    ``conductances`` is the paper's size (all layer-to-layer pairs);
    ``resistors_expected`` is half of it (the clipped zeros are omitted; the
    actual count is binomial around it).
    """
    sizes, _ = _resolve_layers(layers, preset)
    pairs = sum(p * q for p, q in zip(sizes[:-1], sizes[1:], strict=False))
    return {
        "nodes": sum(sizes),
        "vsources": sizes[0],
        "diodes": sum(sizes[1:-1]),
        "conductances": pairs,
        "resistors_expected": pairs // 2,
    }


def digits_image(m: int, sample: int = 0) -> np.ndarray:
    """Pixel values in [0, 1] of scikit-learn's 8×8 ``digits`` image ``sample``, resampled
    (nearest neighbour) to ``m`` pixels: to ``s×s`` when ``m = s²`` (784 → 28×28), else the
    flattened 64 pixels stretched to ``m``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dependency
        raise GeneratorError(
            "inputs='digits' needs scikit-learn (pip install scikit-learn); "
            "use inputs='random' otherwise"
        ) from exc
    images = load_digits().images
    if not 0 <= sample < len(images):
        raise GeneratorError(f"digits sample must be in [0, {len(images) - 1}], got {sample}")
    img = images[sample] / 16.0
    s = math.isqrt(m)
    if s * s == m:
        idx = ((2 * np.arange(s) + 1) * 8) // (2 * s)  # pixel centres
        return np.ascontiguousarray(img[np.ix_(idx, idx)].reshape(-1))
    flat = img.reshape(-1)
    return flat[((2 * np.arange(m) + 1) * 64) // (2 * m)].copy()


def _dense_block(
    rng: np.random.Generator,
    g_unit: float,
    n_in: int,
    n_out: int,
    in_offset: int,
    out_offset: int,
    a: np.ndarray,
    b: np.ndarray,
    val: np.ndarray,
    pos: int,
) -> int:
    """Draw the n_in × n_out conductances of one layer pair, write the nonzero ones
    as resistors from ``pos`` on; return the new fill position.  Row-chunked so the
    temporaries stay ~_CHUNK elements; the stream does not depend on the chunking."""
    c = 1.0 / math.sqrt(n_in)
    rows_per = max(1, _CHUNK // n_out)
    buf = np.empty(min(n_in, rows_per) * n_out, dtype=np.float64)
    mbuf = np.empty(buf.shape[0], dtype=bool)
    has = np.zeros(n_out, dtype=bool)
    for r0 in range(0, n_in, rows_per):
        nr = min(n_in, r0 + rows_per) - r0
        u = buf[: nr * n_out]
        rng.random(out=u)
        # w = max(0, (2u - 1) c): nonzero iff u > 1/2.
        mask = np.greater(u, 0.5, out=mbuf[: nr * n_out])
        per_row = np.count_nonzero(mask.reshape(nr, n_out), axis=1)
        k = int(per_row.sum())
        g = np.compress(mask, u, out=val[pos : pos + k])  # row-major, like flatnonzero
        g *= 2.0 * c
        g -= c
        g *= g_unit
        np.divide(1.0, g, out=g)  # ohms
        col = np.flatnonzero(mask)
        col -= np.repeat(np.arange(nr, dtype=np.int64) * n_out, per_row)
        has[col] = True
        col += out_offset
        b[pos : pos + k] = col
        a[pos : pos + k] = np.repeat(
            np.arange(r0 + in_offset, r0 + nr + in_offset, dtype=np.int32), per_row
        )
        pos += k
    missing = np.flatnonzero(~has)
    if missing.size:  # every node needs >= 1 conductance to the previous layer
        k = missing.size
        a[pos : pos + k] = rng.integers(0, n_in, size=k) + in_offset
        b[pos : pos + k] = missing + out_offset
        val[pos : pos + k] = 1.0 / (c * g_unit * (1.0 - rng.random(k)))  # w in (0, c]
        pos += k
    return pos


def _shrink(arr: np.ndarray, n: int) -> np.ndarray:
    """Truncate a freshly allocated array to n items without a copy where possible."""
    try:
        arr.resize(n, refcheck=False)
        return arr
    except ValueError:  # pragma: no cover - only if arr is referenced elsewhere
        return arr[:n].copy()


# --------------------------------------------------------------------------- sizes
#: At most this many nodes (ground included) or elements of one kind: node indices
#: are 32-bit integers (int32) in the Circuit and the solvers.
MAX_COUNT = 2**31 - 1

#: Peak bytes per element of writing a circuit as netlist text (``write_netlist``
#: measured ~200: the names, the value strings and the text, all at once; the file
#: itself takes ~40 bytes per element).
NETLIST_BYTES_PER_ELEMENT = 250

_LABELS = {"vsources": "voltage sources", "isources": "current sources"}
_BASE_BYTES = 1 << 20  # small fixed costs (titles, lists of a few items, numpy calls)


@dataclass(frozen=True)
class SizeEstimate:
    """What a generator would build, computed from its arguments alone.

    ``counts``: nodes (ground excluded), resistors, diodes, vsources, isources, each an
    upper bound (exact for grids).  ``nbytes``: peak memory of building the Circuit
    (its arrays and names plus the generator's temporaries), an upper bound measured
    against ``tracemalloc`` (tests/test_generate.py).  ``hint``: how to make it smaller.
    """

    what: str
    counts: dict[str, int]
    nbytes: int
    hint: str

    def describe(self) -> str:
        """``"10,000 nodes, 19,800 resistors, …"`` (the nonzero counts)."""
        return ", ".join(f"{n:,} {_LABELS.get(k, k)}" for k, n in self.counts.items() if n)


def check_fits(est: SizeEstimate, *, netlist: bool = False) -> None:
    """Raise :class:`GeneratorError` when ``est`` has more nodes or elements than
    :data:`MAX_COUNT`, or needs more memory than :func:`available_memory`: to build
    the Circuit, plus (``netlist=True``) to write it as netlist text, which
    ``write_netlist`` builds in memory (:data:`NETLIST_BYTES_PER_ELEMENT`)."""
    for kind, n in est.counts.items():
        limit = MAX_COUNT - 1 if kind == "nodes" else MAX_COUNT  # + ground
        if n > limit:
            raise GeneratorError(
                f"{est.what} would have {n:,} {kind}; resbench handles at most {limit:,} "
                f"(node and element indices are 32-bit integers). hint: {est.hint}"
            )
    need, doing = est.nbytes, "building"
    if netlist:
        elements = sum(n for kind, n in est.counts.items() if kind != "nodes")
        need += NETLIST_BYTES_PER_ELEMENT * elements
        doing = "building and writing"
    avail = available_memory()
    if need > avail:
        raise GeneratorError(
            f"{doing} {est.what} ({est.describe()}) would need about "
            f"{_gib(need)} of memory; {_gib(avail)} is available. "
            f"hint: {est.hint}"
        )


def _grid_estimate(
    rows: int,
    cols: int,
    clamps: bool,
    free_free_diodes: bool,
    clamp_fraction: float,
    free_free_fraction: float,
    currents: int,
) -> SizeEstimate:
    n = rows * cols
    m = rows * (cols - 1) + cols * (rows - 1)
    inner = n - 4  # the four corners are distinct (rows, cols >= 2)
    n_clamp = 2 * round(clamp_fraction * inner) if clamps else 0
    # mesh edges between two non-corner nodes (each corner has two edges; on a 2-wide
    # side two edges join two corners)
    n_ok = m - (8 - 2 * (rows == 2) - 2 * (cols == 2))
    n_ff = round(free_free_fraction * n_ok) if free_free_diodes else 0
    counts = {
        "nodes": n + (2 if clamps else 0),
        "resistors": m,
        "diodes": n_clamp + n_ff,
        "vsources": 4 + (2 if clamps else 0),
        "isources": currents,
    }
    # names (list + str) ~75 B a node; index arrays; resistors 16 B kept + temporaries
    nbytes = _BASE_BYTES + 110 * n + 40 * m
    if clamps:
        nbytes += 24 * n + 100 * n_clamp  # candidate list, choice's permutation; names
    if free_free_diodes:
        nbytes += 16 * n + 16 * m + 110 * n_ff  # rank; candidate edges and masks
    nbytes += 120 * currents  # names and arrays
    return SizeEstimate(
        what=f"a {rows}x{cols} grid",
        counts=counts,
        nbytes=nbytes,
        hint="use fewer rows or columns (memory grows as rows x cols)",
    )


def _drn_estimate(sizes: tuple[int, ...], bias: bool) -> SizeEstimate:
    s = drn_size(sizes)
    cap = s["conductances"] + sum(sizes[1:])  # the resistor arrays are allocated at this
    block = max(
        min(p, max(1, _CHUNK // q)) * q for p, q in zip(sizes[:-1], sizes[1:], strict=False)
    )
    n_bias = s["nodes"] - sizes[0] if bias else 0
    counts = {
        "nodes": s["nodes"],
        "resistors": cap,
        "diodes": s["diodes"],
        "vsources": s["vsources"],
        "isources": n_bias,
    }
    nbytes = (
        _BASE_BYTES + 96 * s["nodes"] + 16 * cap + 32 * block + 48 * (s["diodes"] + s["vsources"])
    )
    nbytes += 48 * n_bias
    return SizeEstimate(
        what=f"a DRN with layers {'-'.join(map(str, sizes))}",
        counts=counts,
        nbytes=nbytes,
        hint="use smaller layers (the resistor count is the sum of the products of "
        "consecutive layer sizes)",
    )


def _random_estimate(
    n: int,
    degree: float,
    diodes: float,
    nv: int,
    ni: int,
    ground_resistors: float,
) -> SizeEstimate:
    m_graph = min(max(n - 1, round(degree * n / 2)), n * (n - 1) // 2)
    m = m_graph + round(ground_resistors * n)
    nd = round(diodes * n)
    counts = {"nodes": n, "resistors": m, "diodes": nd, "vsources": nv, "isources": ni}
    # per node: names, union-find list, permutations and masks; per graph edge: the
    # set of edge keys and the extra-edge lists; per resistor: arrays and the
    # temporaries of the value draw; per diode: endpoint draws and arrays
    nbytes = _BASE_BYTES + 200 * n + 170 * m_graph + 100 * m + 110 * nd + 350 * nv + 130 * ni
    return SizeEstimate(
        what=f"a random network of {n:,} nodes",
        counts=counts,
        nbytes=nbytes,
        hint="use fewer nodes, a smaller degree or fewer diodes per node",
    )


def estimate(family: str, *args: Any, **kwargs: Any) -> SizeEstimate:
    """What ``grid(*args, **kwargs)``, ``drn(…)`` or ``random_network(…)`` (``family``
    ``"grid"``, ``"drn"`` or ``"random"``) would build and the peak memory it would
    need, without building anything.  The generators check this themselves (see
    :func:`check_fits`) before they allocate anything big."""
    import inspect

    fn = {
        "grid": grid,
        "drn": drn,
        "random": random_network,
        "chain": chain,
        "star": star,
        "powergrid": powergrid,
    }.get(family)
    if fn is None:
        raise GeneratorError(
            f"unknown family {family!r}: choose grid, drn, random, chain, star or powergrid"
        )
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as exc:
        raise GeneratorError(f"{family}: {exc}") from None
    bound.apply_defaults()
    a = bound.arguments
    if family == "grid":
        return _grid_estimate(
            _check_int("rows", a["rows"], 2),
            _check_int("cols", a["cols"], 2),
            bool(a["clamps"]),
            bool(a["free_free_diodes"]),
            _check_fraction("clamp_fraction", a["clamp_fraction"]),
            _check_fraction("free_free_fraction", a["free_free_fraction"]),
            _check_int("currents", a["currents"], 0),
        )
    if family == "drn":
        sizes, _ = _resolve_layers(a["layers"], a["preset"])
        return _drn_estimate(sizes, bool(a["bias"]))
    if family == "chain":
        return _chain_estimate(_check_int("resistors", a["resistors"], 1))
    if family == "star":
        return _star_estimate(_check_int("leaves", a["leaves"], 1))
    if family == "powergrid":
        return _powergrid_estimate(
            _check_int("rows", a["rows"], 2),
            _check_int("cols", a["cols"], 2),
            _check_int("layers", a["layers"], 1),
            _check_int("pad_pitch", a["pad_pitch"], 1),
            _check_fraction("load_fraction", a["load_fraction"]),
            bool(a["via_sources"]),
        )
    n, nv, ni = _random_counts(a["nodes"], a["degree"], a["diodes"], a["vsources"], a["isources"])
    return _random_estimate(
        n,
        a["degree"],
        a["diodes"],
        nv,
        ni,
        _check_fraction("ground_resistors", a["ground_resistors"]),
    )


def _random_counts(
    nodes: int, degree: float, diodes: float, vsources: int | None, isources: int | None
) -> tuple[int, int, int]:
    """Checked (nodes, voltage sources, current sources) of random_network."""
    n = _check_int("nodes", nodes, 2)
    if not (isinstance(degree, int | float) and math.isfinite(degree) and degree >= 0):
        raise GeneratorError(f"degree must be a finite number >= 0, got {degree!r}")
    if not (isinstance(diodes, int | float) and math.isfinite(diodes) and diodes >= 0):
        raise GeneratorError(
            f"diodes must be a finite number >= 0 (diodes per node), got {diodes!r}"
        )
    nv = max(1, n // 20) if vsources is None else _check_int("vsources", vsources, 1)
    ni = max(1, n // 20) if isources is None else _check_int("isources", isources, 0)
    return n, nv, ni


# --------------------------------------------------------------------------- drn
def drn(
    layers: Sequence[int] | None = None,
    *,
    preset: str | None = None,
    seed: int = 0,
    input_gain: float | None = None,
    inputs: str = "random",
    bias: bool = False,
    sample: int = 0,
    g_unit: float = G_UNIT,
) -> Circuit:
    """A deep resistive network (Scellier 2024, docs/design.md §8).

    ``layers[0] = 2m`` input nodes ``in0 … in{2m-1}``: node ``in{2i}`` is held at
    ``+x_i · gain`` and ``in{2i+1}`` at ``-x_i · gain`` by grounded voltage sources
    ``vin*`` (pixel ``x_i`` in [0, 1]).  Hidden layer ``k`` has nodes ``h{k}_{j}``,
    each with one ideal diode to ground ``d*``: even ``j`` from ground to the node
    (``v >= 0``), odd ``j`` from the node to ground (``v <= 0``).  Output nodes
    ``out{j}`` have no diode.  Consecutive layers are fully connected by
    conductances drawn as described in the module docstring; zeros are omitted,
    and a node left without any conductance to the previous layer gets one, so
    the solution is unique.  Resistors are ``r0, r1, …`` layer block by block,
    row-major (input node major).

    ``inputs``: ``"random"`` (seeded uniform image, stream ``sample``) or
    ``"digits"`` (scikit-learn's digits image ``sample``, see :func:`digits_image`).
    ``input_gain`` defaults to the preset's (:data:`DEFAULT_GAINS`) or 1.
    ``bias`` adds a current source ``ib*`` from ground into every hidden/output node.
    ``g_unit``: siemens per unit of drawn weight (default :data:`G_UNIT`).
    """
    sizes, key = _resolve_layers(layers, preset)
    seed = _check_int("seed", seed, 0)
    sample = _check_int("sample", sample, 0)
    gain = float(input_gain) if input_gain is not None else DEFAULT_GAINS.get(key or "", 1.0)
    if not math.isfinite(gain):
        raise GeneratorError(f"input gain must be finite, got {input_gain!r}")
    if not (isinstance(g_unit, int | float) and math.isfinite(g_unit) and g_unit > 0):
        raise GeneratorError(f"g_unit must be a positive number, got {g_unit!r}")
    if inputs not in ("random", "digits"):
        raise GeneratorError(f"inputs must be 'random' or 'digits', got {inputs!r}")
    check_fits(_drn_estimate(sizes, bool(bias)))  # before anything big is allocated
    m = sizes[0] // 2
    nodes, offsets = _drn_nodes(sizes)
    # draw order: input image (stream 1), weights (stream 0), bias (stream 2)
    x = digits_image(m, sample) if inputs == "digits" else _rng(seed, 1, sample).random(m)
    vsrc = _drn_inputs(x, gain, sizes[0])
    res = _drn_resistors(_rng(seed, 0), float(g_unit), sizes, offsets)
    diodes = _drn_diodes(sizes, offsets)
    isrc = _drn_bias(_rng(seed, 2), float(g_unit), sizes, offsets) if bias else None

    name = key or "-".join(map(str, sizes))
    title = (
        f"resbench drn {name} ({'-'.join(map(str, sizes))}) seed={seed} gain={gain:g} "
        f"inputs={inputs} sample={sample}{' bias' if bias else ''}"
    )
    return make_circuit(title, nodes, resistors=res, diodes=diodes, vsources=vsrc, isources=isrc)


def _drn_nodes(sizes: tuple[int, ...]) -> tuple[list[str], np.ndarray]:
    """Node names of a drn (ground, inputs, hidden layers, outputs) and the index of
    each layer's first node (ground is 0)."""
    nodes = [GROUND]
    nodes += [f"in{j}" for j in range(sizes[0])]
    for k, n in enumerate(sizes[1:-1], start=1):
        nodes += [f"h{k}_{j}" for j in range(n)]
    nodes += [f"out{j}" for j in range(sizes[-1])]
    offsets = np.cumsum((1, *sizes))
    return nodes, offsets


def _drn_inputs(x: np.ndarray, gain: float, n_in: int) -> Branches:
    """The grounded input sources ``vin*``: ``+x_i·gain`` on even inputs, ``-x_i·gain``
    on odd ones."""
    vval = np.empty(n_in, dtype=np.float64)
    vval[0::2] = x * gain
    vval[1::2] = 0.0 - x * gain  # 0.0 - (…) avoids -0.0
    return Branches.from_lists(
        IndexedNames("vin", n_in),
        np.arange(1, n_in + 1, dtype=np.int32),
        np.zeros(n_in, np.int32),
        vval,
    )


def _drn_resistors(
    wrng: np.random.Generator, g_unit: float, sizes: tuple[int, ...], offsets: np.ndarray
) -> Branches:
    """The conductances between consecutive layers, block by block (weight stream)."""
    # preallocated at the upper bound; untouched pages cost no memory
    cap = sum(p * q for p, q in zip(sizes[:-1], sizes[1:], strict=False)) + sum(sizes[1:])
    ra = np.empty(cap, dtype=np.int32)
    rb = np.empty(cap, dtype=np.int32)
    rv = np.empty(cap, dtype=np.float64)
    pos = 0
    for li in range(len(sizes) - 1):
        pos = _dense_block(
            wrng,
            g_unit,
            sizes[li],
            sizes[li + 1],
            int(offsets[li]),
            int(offsets[li + 1]),
            ra,
            rb,
            rv,
            pos,
        )
    return Branches(IndexedNames("r", pos), _shrink(ra, pos), _shrink(rb, pos), _shrink(rv, pos))


def _drn_diodes(sizes: tuple[int, ...], offsets: np.ndarray) -> Branches:
    """One diode to ground per hidden node: ``v >= 0`` on even nodes, ``v <= 0`` on odd."""
    hid = np.arange(offsets[1], offsets[-2], dtype=np.int32)
    even = np.concatenate(
        [np.arange(n, dtype=np.int32) % 2 == 0 for n in sizes[1:-1]] or [np.zeros(0, bool)]
    )
    zeros = np.zeros(hid.shape[0], np.int32)
    return Branches.from_lists(
        IndexedNames("d", hid.shape[0]),
        np.where(even, zeros, hid),  # anode: ground for v >= 0, node for v <= 0
        np.where(even, hid, zeros),
        np.zeros(hid.shape[0]),
    )


def _drn_bias(
    brng: np.random.Generator, g_unit: float, sizes: tuple[int, ...], offsets: np.ndarray
) -> Branches:
    """The bias current sources ``ib*`` (ground -> every hidden/output node)."""
    parts = []
    for li in range(1, len(sizes)):
        c = 1.0 / math.sqrt(sizes[li - 1])
        parts.append((2.0 * brng.random(sizes[li]) - 1.0) * (c * g_unit))
    nb = int(offsets[-1] - offsets[1])
    return Branches.from_lists(
        IndexedNames("ib", nb),
        np.zeros(nb, np.int32),
        np.arange(offsets[1], offsets[-1], dtype=np.int32),
        np.concatenate(parts),
    )


# --------------------------------------------------------------------------- grid
def grid(
    rows: int,
    cols: int,
    *,
    seed: int = 0,
    clamps: bool = True,
    free_free_diodes: bool = False,
    clamp_fraction: float = 0.25,
    free_free_fraction: float = 0.1,
    currents: int = 0,
    vhi: float = 0.3,
    vlo: float = -0.3,
    r_min: float = 500.0,
    r_max: float = 2000.0,
) -> Circuit:
    """A ``rows × cols`` resistor mesh with nodes ``g{r}_{c}``.

    Resistor values are uniform in ``[r_min, r_max]`` ohms.  The four corners are
    held by grounded sources ``vc*`` at +1, −1, +0.5 and −0.5 V.  With ``clamps``,
    bias nodes ``vhi``/``vlo`` are held at ``vhi``/``vlo`` volts and a random
    ``clamp_fraction`` of the non-corner nodes get two clamp diodes, node→vhi
    (``v <= vhi``) and vlo→node (``v >= vlo``).  With ``free_free_diodes`` a
    ``free_free_fraction`` of the mesh edges between non-corner nodes also get a
    diode, oriented along a random total order of the nodes (no diode cycles).
    ``currents`` current sources ``ig*`` inject ``U(−1, 1)`` mA from ground into
    random non-corner nodes.

    Feasible by construction: no diode touches a corner, and ``v = 0`` on every
    other node satisfies every diode (``vlo <= 0 <= vhi`` is required).
    """
    rows = _check_int("rows", rows, 2)
    cols = _check_int("cols", cols, 2)
    currents = _check_int("currents", currents, 0)
    cf = _check_fraction("clamp_fraction", clamp_fraction)
    ff = _check_fraction("free_free_fraction", free_free_fraction)
    if not (vlo <= 0.0 <= vhi and math.isfinite(vlo) and math.isfinite(vhi)):
        raise GeneratorError(f"clamp levels need vlo <= 0 <= vhi, got vlo={vlo}, vhi={vhi}")
    if not (0.0 < r_min <= r_max < math.inf):
        raise GeneratorError(f"need 0 < r_min <= r_max < inf, got {r_min}, {r_max}")
    check_fits(_grid_estimate(rows, cols, bool(clamps), bool(free_free_diodes), cf, ff, currents))
    rng = _rng(seed, 10)

    n = rows * cols
    nodes = [GROUND] + [f"g{r}_{c}" for r in range(rows) for c in range(cols)]
    idx = np.arange(1, n + 1, dtype=np.int32).reshape(rows, cols)
    ea = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    eb = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    res = Branches.from_lists(
        IndexedNames("r", ea.shape[0]), ea, eb, _uniform(rng, r_min, r_max, ea.shape[0])
    )

    corners = np.array([idx[0, 0], idx[-1, -1], idx[0, -1], idx[-1, 0]], dtype=np.int32)
    vs_names = ["vc0", "vc1", "vc2", "vc3"]
    vs_a, vs_b = list(corners), [0, 0, 0, 0]
    vs_v = [1.0, -1.0, 0.5, -0.5]
    is_corner = np.zeros(n + 1, dtype=bool)
    is_corner[corners] = True
    inner = np.flatnonzero(~is_corner[1:]) + 1  # non-corner mesh nodes

    d_names: list[str] = []
    d_a: list[np.ndarray] = []
    d_b: list[np.ndarray] = []
    if clamps:
        ihi, ilo = len(nodes), len(nodes) + 1
        nodes += ["vhi", "vlo"]
        vs_names += ["vhi", "vlo"]
        vs_a += [ihi, ilo]
        vs_b += [0, 0]
        vs_v += [float(vhi), float(vlo)]
        pick = np.sort(rng.choice(inner, size=round(cf * inner.size), replace=False))
        d_names += [f"dhi{i}" for i in range(pick.size)] + [f"dlo{i}" for i in range(pick.size)]
        d_a += [pick, np.full(pick.size, ilo)]
        d_b += [np.full(pick.size, ihi), pick]
    if free_free_diodes:
        ok = np.flatnonzero(~is_corner[ea] & ~is_corner[eb])
        pick = np.sort(rng.choice(ok, size=round(ff * ok.size), replace=False))
        rank = rng.permutation(n + 1)
        lo_first = rank[ea[pick]] < rank[eb[pick]]
        d_names += [f"dff{i}" for i in range(pick.size)]
        d_a.append(np.where(lo_first, ea[pick], eb[pick]))
        d_b.append(np.where(lo_first, eb[pick], ea[pick]))
    diodes = (
        Branches.from_lists(
            d_names, np.concatenate(d_a), np.concatenate(d_b), np.zeros(len(d_names))
        )
        if d_names
        else None
    )
    isrc = None
    if currents:
        if not inner.size:
            raise GeneratorError(f"a {rows}x{cols} grid has no free node for current sources")
        tgt = rng.choice(inner, size=currents, replace=True)
        isrc = Branches.from_lists(
            [f"ig{i}" for i in range(currents)],
            np.zeros(currents, np.int32),
            tgt,
            _uniform(rng, -1e-3, 1e-3, currents),
        )
    vsrc = Branches.from_lists(vs_names, vs_a, vs_b, vs_v)
    opts = []
    if clamps:
        opts.append(f"clamps={cf:g}@{vlo:g}..{vhi:g}V")
    if free_free_diodes:
        opts.append(f"free-free={ff:g}")
    if currents:
        opts.append(f"currents={currents}")
    title = f"resbench grid {rows}x{cols} seed={seed}" + (" " + " ".join(opts) if opts else "")
    return make_circuit(title, nodes, resistors=res, diodes=diodes, vsources=vsrc, isources=isrc)


# --------------------------------------------------------------------------- random
def random_network(
    nodes: int,
    *,
    degree: float = 4.0,
    seed: int = 0,
    diodes: float = 0.1,
    free_free: bool = True,
    vsources: int | None = None,
    floating: float = 0.3,
    isources: int | None = None,
    ground_resistors: float = 0.02,
    r_min: float = 100.0,
    r_max: float = 10_000.0,
) -> Circuit:
    """A connected sparse random resistor network on nodes ``n1 … n{nodes}``.

    Resistors ``r*`` (log-uniform in ``[r_min, r_max]`` ohms): a random spanning
    tree plus distinct random extra edges up to an average ``degree``, plus
    resistors to ground on a ``ground_resistors`` fraction of the nodes.
    ``vsources`` voltage sources ``v*`` (default ``max(1, nodes // 20)``), a
    ``floating`` fraction of them between two nodes (``U(−1, 1)`` V), the others
    grounded (``U(−5, 5)`` V; at least one is grounded); the source graph is a
    forest, so there is no KVL conflict.  ``isources`` current sources ``i*``
    (default ``max(1, nodes // 20)``) of ``U(−1, 1)`` mA between random nodes
    or ground.  ``round(diodes × nodes)`` diodes ``d*``: from free nodes (not
    touched by any voltage source) to source-held nodes and, if ``free_free``,
    half of them between two free nodes.  No diode joins two source-held nodes.

    Feasible by construction: every diode is oriented so that one voltage vector
    that satisfies all sources (free nodes at 0 V, source trees propagated from
    0 V) satisfies it too, ties broken by a random total order (no diode cycles).
    """
    n, nv, ni = _random_counts(nodes, degree, diodes, vsources, isources)
    floating = _check_fraction("floating", floating)
    ground_resistors = _check_fraction("ground_resistors", ground_resistors)
    if nv > n // 2:
        raise GeneratorError(f"at most nodes/2 = {n // 2} voltage sources, got {nv}")
    if not (0.0 < r_min <= r_max < math.inf):
        raise GeneratorError(f"need 0 < r_min <= r_max < inf, got {r_min}, {r_max}")
    check_fits(_random_estimate(n, degree, diodes, nv, ni, ground_resistors))
    rng = _rng(seed, 20)
    # the draws from rng happen in this order; keep it (the bundled circuits depend on it)
    res = random_resistors(rng, n, degree, ground_resistors, r_min, r_max)
    vsrc, held, p = random_vsources(rng, n, nv, floating)
    isrc = random_isources(rng, n, ni)
    dio = random_diodes(rng, n, round(diodes * n), held, p, free_free)
    title = (
        f"resbench random nodes={n} degree={degree:g} seed={seed} diodes={diodes:g}"
        f"{' free-free' if free_free else ''}"
    )
    return make_circuit(
        title,
        [GROUND] + [f"n{i}" for i in range(1, n + 1)],
        resistors=res,
        diodes=dio,
        vsources=vsrc,
        isources=isrc,
    )


# --------------------------------------------------------------------------- chain
def _chain_estimate(n: int) -> SizeEstimate:
    counts = {"nodes": n, "resistors": n, "diodes": 0, "vsources": 0, "isources": 1}
    return SizeEstimate(
        what=f"a chain of {n:,} resistors",
        counts=counts,
        nbytes=_BASE_BYTES + 110 * n + 40 * n,
        hint="use fewer resistors",
    )


def chain(
    resistors: int,
    *,
    seed: int = 0,
    current: float = 1e-3,
    r_min: float = 1.0,
    r_max: float = 10.0,
) -> Circuit:
    """A chain of ``resistors`` resistors ``r*`` (uniform in ``[r_min, r_max]`` ohms)
    from ground through nodes ``c1 … c{resistors}``, driven by one current source
    ``i1`` of ``current`` amperes from ground into the far end.

    The worst case of coordinate descent: the information crosses one node per
    sweep, so the sweeps' contraction rate is 1 − O(1/n²).  Unique by
    construction (every node reaches ground through the chain; no diode).
    """
    n = _check_int("resistors", resistors, 1)
    if not (isinstance(current, int | float) and math.isfinite(current)):
        raise GeneratorError(f"current must be a finite number, got {current!r}")
    if not (0.0 < r_min <= r_max < math.inf):
        raise GeneratorError(f"need 0 < r_min <= r_max < inf, got {r_min}, {r_max}")
    check_fits(_chain_estimate(n))
    rng = _rng(seed, 30)
    a = np.arange(0, n, dtype=np.int32)
    b = np.arange(1, n + 1, dtype=np.int32)
    res = Branches.from_lists(IndexedNames("r", n, 1), a, b, _uniform(rng, r_min, r_max, n))
    isrc = Branches.from_lists(["i1"], [0], [n], [float(current)])
    return make_circuit(
        f"resbench chain resistors={n} seed={seed} current={current:g}A",
        [GROUND] + [f"c{i}" for i in range(1, n + 1)],
        resistors=res,
        isources=isrc,
    )


# --------------------------------------------------------------------------- star
def _star_estimate(n: int) -> SizeEstimate:
    counts = {"nodes": n + 1, "resistors": 2 * n, "diodes": 0, "vsources": 0, "isources": 1}
    # per leaf: its name, two resistor names in a list (measured ~290 B in all)
    return SizeEstimate(
        what=f"a star of {n:,} leaves",
        counts=counts,
        nbytes=_BASE_BYTES + 340 * n,
        hint="use fewer leaves",
    )


def star(
    leaves: int,
    *,
    seed: int = 0,
    current: float = 1e-3,
    r_leaf: float = 1e3,
    r_ground: float = 1e6,
) -> Circuit:
    """A free hub ``hub`` joined to ``leaves`` leaves ``l1 …`` by resistors ``rh*``
    (``r_leaf`` ohms ± 10 %), each leaf grounded by ``rg*`` (``r_ground`` ohms ± 10 %),
    and one current source ``i1`` of ``current`` amperes from ground into the hub.

    The other worst case of coordinate descent: the hub's voltage is set by all
    leaves at once and every leaf by the hub, so the sweeps contract by about
    r_leaf / (r_leaf + r_ground) per sweep at the leaves but the hub creeps (with
    ``R hub li 1k``, ``RG li 0 1meg``: 100,000 sweeps did not converge on 100k
    leaves).  Unique by construction (every leaf is grounded; no diode).
    """
    n = _check_int("leaves", leaves, 1)
    if not (isinstance(current, int | float) and math.isfinite(current)):
        raise GeneratorError(f"current must be a finite number, got {current!r}")
    if not (0.0 < r_leaf < math.inf and 0.0 < r_ground < math.inf):
        raise GeneratorError(f"need finite r_leaf, r_ground > 0, got {r_leaf}, {r_ground}")
    check_fits(_star_estimate(n))
    rng = _rng(seed, 40)
    leaf = np.arange(2, n + 2, dtype=np.int32)
    names = list(IndexedNames("rh", n, 1)) + list(IndexedNames("rg", n, 1))
    res = Branches.from_lists(
        names,
        np.concatenate([np.ones(n, np.int32), leaf]),
        np.concatenate([leaf, np.zeros(n, np.int32)]),
        np.concatenate(
            [
                _uniform(rng, 0.9 * r_leaf, 1.1 * r_leaf, n),
                _uniform(rng, 0.9 * r_ground, 1.1 * r_ground, n),
            ]
        ),
    )
    isrc = Branches.from_lists(["i1"], [0], [1], [float(current)])
    return make_circuit(
        f"resbench star leaves={n} seed={seed} current={current:g}A",
        [GROUND, "hub"] + [f"l{i}" for i in range(1, n + 1)],
        resistors=res,
        isources=isrc,
    )


# --------------------------------------------------------------------------- powergrid
PG_PITCH = 100  # coordinate units between neighbouring layer-1 nodes in node names


def _powergrid_counts(rows: int, cols: int, layers: int, pad_pitch: int, load_fraction: float):
    nodes = resistors = vias = 0
    for k in range(1, layers + 1):
        s = 1 << (k - 1)
        nr, nc = (rows - 1) // s + 1, (cols - 1) // s + 1
        nodes += nr * nc
        if k == 1:
            resistors += nr * (nc - 1) + nc * (nr - 1)
        elif k % 2 == 0:
            resistors += nc * (nr - 1)  # vertical wires
        else:
            resistors += nr * (nc - 1)  # horizontal wires
        if k > 1:
            vias += nr * nc
    s = 1 << (layers - 1)
    nr, nc = (rows - 1) // s + 1, (cols - 1) // s + 1
    pads = len(range(0, nr, pad_pitch)) * len(range(0, nc, pad_pitch))
    loads = round(load_fraction * rows * cols)
    return nodes, resistors, vias, pads, loads


def _powergrid_estimate(
    rows: int, cols: int, layers: int, pad_pitch: int, load_fraction: float, via_sources: bool
) -> SizeEstimate:
    nodes, resistors, vias, pads, loads = _powergrid_counts(
        rows, cols, layers, pad_pitch, load_fraction
    )
    counts = {
        "nodes": nodes + pads,
        "resistors": resistors + pads + (0 if via_sources else vias),
        "diodes": 0,
        "vsources": pads + (vias if via_sources else 0),
        "isources": loads,
    }
    elements = counts["resistors"] + counts["vsources"] + loads
    return SizeEstimate(
        what=f"a {rows}x{cols} power grid of {layers} layer(s)",
        counts=counts,
        nbytes=_BASE_BYTES + 130 * counts["nodes"] + 130 * elements,
        hint="use fewer rows, columns or layers",
    )


def powergrid(
    rows: int,
    cols: int,
    *,
    layers: int = 2,
    seed: int = 0,
    pad_pitch: int = 10,
    load_fraction: float = 0.25,
    vdd: float = 1.8,
    via_sources: bool = False,
    r_wire: float = 0.1,
    r_via: float = 0.05,
    r_pad: float = 0.01,
    i_load: float = 1e-4,
) -> Circuit:
    """A multi-layer on-chip power grid in the style of the IBM power-grid benchmarks
    (ibmpg1–6: ``R``/``V``/``I`` only, nodes ``n{layer}_{x}_{y}``, pads ``_X_n…``, which
    the netlist reader lower-cases, as the names here are).

    Layer 1 is a ``rows × cols`` mesh of wire segments; layer k ≥ 2 has nodes every
    2^(k−1) points of layer 1 (coarser, like upper metal layers) and wires in one
    direction, vertical on even layers and horizontal on odd ones; segment
    resistances are ``r_wire`` × 2^(k−1) / k ohms ± 20 % (upper layers are wider).
    A via joins each node of layer k ≥ 2 to the layer-(k − 1) node below it: a
    resistor ``rv*`` of ``r_via`` ohms, or (``via_sources``) a 0 V source ``vv*``, as
    the published netlists write many of them.  Every ``pad_pitch``-th node of the
    top layer in each direction is a C4 pad: ``rp*`` of ``r_pad`` ohms to
    ``_x_n{top}_{x}_{y}``, held at ``vdd`` by ``vp*``.  A ``load_fraction`` of the
    layer-1 nodes draw a load current ``il*`` of ``U(0, i_load)`` A to ground.
    Coordinates in names are grid indices × :data:`PG_PITCH`.

    Linear (no diodes) and unique by construction: every node reaches a pad through
    the wires and vias (each layer's wires meet the layer below at every node).
    """
    rows = _check_int("rows", rows, 2)
    cols = _check_int("cols", cols, 2)
    layers = _check_int("layers", layers, 1)
    pad_pitch = _check_int("pad_pitch", pad_pitch, 1)
    load_fraction = _check_fraction("load_fraction", load_fraction)
    if (1 << (layers - 1)) >= max(rows, cols):
        raise GeneratorError(
            f"{layers} layers need more than {1 << (layers - 1)} rows or columns "
            "(layer k has a node every 2^(k-1) points)"
        )
    for name, val in (("r_wire", r_wire), ("r_via", r_via), ("r_pad", r_pad)):
        if not (isinstance(val, int | float) and 0.0 < val < math.inf):
            raise GeneratorError(f"{name} must be a finite resistance > 0, got {val!r}")
    if not (math.isfinite(vdd) and math.isfinite(i_load) and i_load >= 0):
        raise GeneratorError(f"need finite vdd and i_load >= 0, got {vdd}, {i_load}")
    check_fits(_powergrid_estimate(rows, cols, layers, pad_pitch, load_fraction, via_sources))
    rng = _rng(seed, 50)

    names: list[str] = [GROUND]
    grids: list[np.ndarray] = []  # per layer: node index per (row, col) of that layer
    for k in range(1, layers + 1):
        s = 1 << (k - 1)
        ys, xs = np.arange(0, rows, s), np.arange(0, cols, s)
        first = len(names)
        names += [f"n{k}_{x * PG_PITCH}_{y * PG_PITCH}" for y in ys for x in xs]
        grids.append(np.arange(first, len(names), dtype=np.int32).reshape(ys.size, xs.size))
    ra: list[np.ndarray] = []
    rb: list[np.ndarray] = []
    rv: list[np.ndarray] = []
    for k, g in enumerate(grids, start=1):
        r_k = r_wire * (1 << (k - 1)) / k
        parts = []
        if k == 1 or k % 2 == 1:
            parts.append((g[:, :-1].ravel(), g[:, 1:].ravel()))
        if k == 1 or k % 2 == 0:
            parts.append((g[:-1, :].ravel(), g[1:, :].ravel()))
        for a, b in parts:
            ra.append(a)
            rb.append(b)
            rv.append(_uniform(rng, 0.8 * r_k, 1.2 * r_k, a.size))
    n_wire = int(sum(a.size for a in ra))
    res_names: list[str] = list(IndexedNames("r", n_wire, 1))
    vs_names: list[str] = []
    vs_a: list[np.ndarray] = []
    vs_b: list[np.ndarray] = []
    vs_v: list[np.ndarray] = []
    for k in range(2, layers + 1):
        upper = grids[k - 1]
        lower = grids[k - 2][::2, ::2][: upper.shape[0], : upper.shape[1]]
        a, b = upper.ravel(), lower.ravel()
        if via_sources:
            vs_names += list(IndexedNames(f"vv{k}_", a.size))
            vs_a.append(a)
            vs_b.append(b)
            vs_v.append(np.zeros(a.size))
        else:
            res_names += list(IndexedNames(f"rv{k}_", a.size))
            ra.append(a)
            rb.append(b)
            rv.append(np.full(a.size, float(r_via)))
    top = grids[-1]
    pads = top[::pad_pitch, ::pad_pitch].ravel()
    pad_nodes = np.arange(len(names), len(names) + pads.size, dtype=np.int32)
    # "_X_" in the published netlists; lower-case here, as the netlist reader makes it
    names += ["_x_" + names[int(i)] for i in pads]
    res_names += list(IndexedNames("rp", pads.size, 1))
    ra.append(pads)
    rb.append(pad_nodes)
    rv.append(np.full(pads.size, float(r_pad)))
    vs_names += list(IndexedNames("vp", pads.size, 1))
    vs_a.append(pad_nodes)
    vs_b.append(np.zeros(pads.size, np.int32))
    vs_v.append(np.full(pads.size, float(vdd)))
    n_load = round(load_fraction * grids[0].size)
    where = np.sort(rng.choice(grids[0].ravel(), size=n_load, replace=False))
    isrc = (
        Branches.from_lists(
            IndexedNames("il", n_load, 1),
            where,
            np.zeros(n_load, np.int32),
            _uniform(rng, 0.0, i_load, n_load),
        )
        if n_load
        else None
    )
    res = Branches.from_lists(res_names, np.concatenate(ra), np.concatenate(rb), np.concatenate(rv))
    vsrc = Branches.from_lists(
        vs_names, np.concatenate(vs_a), np.concatenate(vs_b), np.concatenate(vs_v)
    )
    title = (
        f"resbench powergrid {rows}x{cols} layers={layers} seed={seed} pads={pads.size} "
        f"loads={n_load}{' via-sources' if via_sources else ''}"
    )
    return make_circuit(title, names, resistors=res, vsources=vsrc, isources=isrc)
