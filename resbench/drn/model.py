"""A deep resistive network (DRN) as the paper's code holds it: dense weight matrices.

The model is the paper's ``DeepResistiveEnergy`` (``model/resistive/*.py`` of
``rain-neuromorphics/energy-based-learning``), rebuilt in numpy:

- **input layer**: ``2m`` units held at ``gain · cat(x, -x)`` (voltage sources);
- **hidden layers**: an even number of units, the first half clamped to
  ``v >= 0`` (excitatory: an ideal diode from ground), the second half to
  ``v <= 0`` (inhibitory: a diode to ground);
- **output layer**: free, no diode;
- **weights** ``weights[k]`` ``[sizes[k], sizes[k+1]]``: the conductances between
  consecutive layers in units of ``g_unit`` siemens (:data:`resbench.generate.G_UNIT`),
  always ``>= 0`` (the paper clamps them after every step);
- **biases** ``biases[k-1]`` ``[sizes[k]]`` for every layer k >= 1: currents
  injected into the unit (energy term ``-b·v``), in units of ``g_unit`` amperes
  per volt.

The energy (power) is ``E = ½ Σ_k Σ_ij W_k,ij (s_k,i − s_k+1,j)² − Σ b·s``.  Every
array is in the PAPER's unit order; :mod:`resbench.bench.paper` maps it to
resbench's circuit layout (``resbench.generate.drn``: even nodes ``+x`` /
excitatory, odd nodes ``-x`` / inhibitory).

Initialisation (the paper's ``DenseWeight`` in mode ``kaiming_uniform``, then its
clamp): ``W ~ U(-g/√n_pre, +g/√n_pre)`` clipped at 0, so about half the
conductances start at 0; biases start at 0 (the paper's ``Bias(shape, 0.)``
draws from ``U(-0, 0)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from resbench.circuit import Branches, Circuit, IndexedNames, make_circuit
from resbench.errors import ResbenchError
from resbench.generate import G_UNIT

__all__ = ["Drn", "as_dtype"]

_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def as_dtype(dtype: Any) -> np.dtype:
    """float64 or float32 as a numpy dtype; ResbenchError for anything else."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ResbenchError(f"dtype must be float64 or float32, got {dtype!r}") from exc
    if dt not in _DTYPES:
        raise ResbenchError(f"dtype must be float64 or float32, got {dt}")
    return dt


def _check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    try:
        out = tuple(int(n) for n in sizes)
    except (TypeError, ValueError) as exc:
        raise ResbenchError(f"layer sizes must be integers, got {sizes!r}") from exc
    if len(out) < 2 or min(out) < 1:
        raise ResbenchError(f"a DRN needs an input and an output layer of >= 1 unit, got {out}")
    if out[0] % 2:
        raise ResbenchError(
            f"the input layer holds gain·cat(x, -x): its size {out[0]} must be even (2 × pixels)"
        )
    odd = [n for n in out[1:-1] if n % 2]
    if odd:
        raise ResbenchError(
            f"hidden layers need an even size (first half excitatory, second half "
            f"inhibitory), got {out[1:-1]}"
        )
    return out


class Drn:
    """A DRN's parameters (see the module docstring); ``weights`` and ``biases`` are
    plain numpy arrays of ``dtype`` that training updates in place."""

    def __init__(
        self,
        sizes: Sequence[int],
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray] | None = None,
        *,
        input_gain: float = 1.0,
        dtype: Any = np.float64,
        g_unit: float = G_UNIT,
    ) -> None:
        self.sizes = _check_sizes(sizes)
        self.dtype = as_dtype(dtype)
        gain = float(input_gain)
        if not np.isfinite(gain):
            raise ResbenchError(f"input_gain must be finite, got {input_gain!r}")
        self.input_gain = gain
        if not (np.isfinite(g_unit) and g_unit > 0):
            raise ResbenchError(f"g_unit must be a positive number, got {g_unit!r}")
        self.g_unit = float(g_unit)
        n = len(self.sizes) - 1
        if len(weights) != n:
            raise ResbenchError(f"{n} weight matrices expected for sizes {self.sizes}")
        self.weights: list[np.ndarray] = []
        for k, w in enumerate(weights):
            a = np.ascontiguousarray(w, dtype=self.dtype)
            want = (self.sizes[k], self.sizes[k + 1])
            if a.shape != want:
                raise ResbenchError(f"weights[{k}] has shape {a.shape}, expected {want}")
            if not np.all(np.isfinite(a)) or (a.size and a.min() < 0):
                raise ResbenchError(f"weights[{k}] must be finite and >= 0 (conductances)")
            self.weights.append(a.copy() if a is w else a)
        if biases is None:
            biases = [np.zeros(m) for m in self.sizes[1:]]
        if len(biases) != n:
            raise ResbenchError(f"{n} bias vectors expected (one per hidden / output layer)")
        self.biases: list[np.ndarray] = []
        for k, b in enumerate(biases):
            a = np.ascontiguousarray(b, dtype=self.dtype)
            if a.shape != (self.sizes[k + 1],):
                raise ResbenchError(
                    f"biases[{k}] has shape {a.shape}, expected {(self.sizes[k + 1],)}"
                )
            if not np.all(np.isfinite(a)):
                raise ResbenchError(f"biases[{k}] must be finite")
            self.biases.append(a.copy() if a is b else a)

    # ------------------------------------------------------------------ construction
    @classmethod
    def init(
        cls,
        sizes: Sequence[int],
        *,
        input_gain: float,
        weight_gains: Sequence[float],
        seed: int = 0,
        dtype: Any = np.float64,
    ) -> Drn:
        """The paper's initialisation: ``W_k ~ U(-g_k/√sizes[k], +g_k/√sizes[k])``
        clamped at 0, biases 0; drawn in float64 from ``numpy.random.default_rng(seed)``
        (then cast), so float32 and float64 networks of one seed are the same network."""
        sizes = _check_sizes(sizes)
        if len(weight_gains) != len(sizes) - 1:
            raise ResbenchError(
                f"weight_gains needs one value per weight layer ({len(sizes) - 1}), "
                f"got {len(weight_gains)}"
            )
        rng = np.random.default_rng(seed)
        weights = []
        for k, g in enumerate(weight_gains):
            scale = float(g) / np.sqrt(sizes[k])
            w = rng.uniform(-scale, scale, size=(sizes[k], sizes[k + 1]))
            np.maximum(w, 0.0, out=w)
            weights.append(w)
        return cls(sizes, weights, None, input_gain=input_gain, dtype=dtype)

    @classmethod
    def from_config(cls, cfg: Any, *, seed: int = 0, dtype: Any = np.float64) -> Drn:
        """:meth:`init` with a :class:`resbench.drn.config.DrnConfig`'s sizes and gains."""
        return cls.init(
            cfg.sizes,
            input_gain=cfg.input_gain,
            weight_gains=cfg.weight_gains,
            seed=seed,
            dtype=dtype,
        )

    def copy(self, dtype: Any = None) -> Drn:
        """An independent copy (optionally in another dtype)."""
        return Drn(
            self.sizes,
            [w.copy() for w in self.weights],
            [b.copy() for b in self.biases],
            input_gain=self.input_gain,
            dtype=self.dtype if dtype is None else dtype,
            g_unit=self.g_unit,
        )

    # ------------------------------------------------------------------ queries
    @property
    def pixels(self) -> int:
        """Number of inputs m (the input layer holds 2m units)."""
        return self.sizes[0] // 2

    @property
    def n_conductances(self) -> int:
        """The paper's size: every layer-to-layer pair, zeros included."""
        return sum(p * q for p, q in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def input_state(self, x: np.ndarray) -> np.ndarray:
        """The input layer ``gain · cat(x, -x)`` ``[B, sizes[0]]`` of pixels ``x [B, m]``
        (a single sample ``[m]`` gives ``[1, sizes[0]]``), in the network's dtype."""
        a = np.asarray(x)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2 or a.shape[1] != self.pixels:
            raise ResbenchError(
                f"inputs must have shape [batch, {self.pixels}] (one column per pixel), "
                f"got {np.shape(x)}"
            )
        if not np.all(np.isfinite(a)):
            raise ResbenchError("inputs must be finite")
        out = np.empty((a.shape[0], self.sizes[0]), dtype=self.dtype)
        m = self.pixels
        np.multiply(a, self.input_gain, out=out[:, :m], casting="unsafe")
        np.negative(out[:, :m], out=out[:, m:])
        return out

    # ------------------------------------------------------------------ paper / circuit
    def to_paper_params(self, x: np.ndarray | None = None, *, title: str = "") -> Any:
        """The paper code's parameters (:class:`resbench.bench.paper.PaperParams`, float64)
        with the input layer of one sample ``x [m]`` (zeros when None)."""
        from resbench.drn.paper_layout import make_paper_params

        xin = np.zeros(self.sizes[0]) if x is None else self.input_state(x)
        if xin.ndim == 2:
            if xin.shape[0] != 1:
                raise ResbenchError("to_paper_params / to_circuit take one sample")
            xin = xin[0]
        return make_paper_params(
            self.sizes,
            [np.asarray(w, dtype=np.float64) for w in self.weights],
            [np.asarray(b, dtype=np.float64) for b in self.biases],
            np.asarray(xin, dtype=np.float64),
            input_gain=self.input_gain,
            g_unit=self.g_unit,
            title=title,
        )

    @classmethod
    def from_paper_params(cls, p: Any, *, dtype: Any = np.float64) -> Drn:
        """A Drn of the paper code's parameters (its biases 0 when ``p.biases`` is None)."""
        return cls(
            p.sizes,
            p.weights,
            p.biases,
            input_gain=p.input_gain if p.input_gain is not None else 1.0,
            dtype=dtype,
            g_unit=p.g_unit,
        )

    def to_circuit(
        self,
        x: np.ndarray | None = None,
        *,
        title: str = "",
        targets: np.ndarray | None = None,
        beta: float = 0.0,
    ) -> Circuit:
        """The resbench circuit of one sample (``resbench.generate.drn``'s layout: nodes
        ``in*``, ``h<k>_*``, ``out*``; resistors ``R = 1/(w·g_unit)`` for every nonzero
        weight; a diode per hidden unit; input sources ``vin*``; bias sources ``ib*``
        when a bias is nonzero), ready for any solver or a netlist.

        With ``beta > 0`` and ``targets [n_out]`` it is the nudged phase's circuit: the
        paper's ``β · ½ (o − t)²`` is a resistor of ``β · g_unit`` siemens (``r*``, after
        the weights) from each output to a source ``vt<j>`` holding node ``t<j>`` at
        ``t_j`` volts.  A negative β would be a negative resistor, which resbench's
        circuits refuse (ngspice takes it; resbench.drn.solve_drn solves it).
        """
        from resbench.drn.paper_layout import import_paper_params

        p = self.to_paper_params(x, title=title)
        if p.biases is not None and not any(np.any(b) for b in p.biases):
            p.biases = None
        circuit = import_paper_params(p)
        if targets is None and beta == 0.0:
            return circuit
        if not (np.isfinite(beta) and beta > 0) or targets is None:
            raise ResbenchError(
                "a nudged circuit needs beta > 0 and targets (a negative beta is a "
                "negative resistor, which resbench's circuits do not hold)"
            )
        t = np.asarray(targets, dtype=np.float64).reshape(-1)
        n_out = self.sizes[-1]
        if t.shape != (n_out,) or not np.all(np.isfinite(t)):
            raise ResbenchError(f"targets must be {n_out} finite values for one sample")
        return _nudged(circuit, t, float(beta) * self.g_unit)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, np.ndarray]:
        """Arrays that :meth:`from_state_dict` rebuilds the network from (``np.savez``-able):
        ``sizes``, ``input_gain``, ``g_unit``, ``dtype`` and ``w<k>`` / ``b<k>``."""
        d: dict[str, np.ndarray] = {
            "sizes": np.asarray(self.sizes, dtype=np.int64),
            "input_gain": np.asarray(self.input_gain, dtype=np.float64),
            "g_unit": np.asarray(self.g_unit, dtype=np.float64),
            "dtype": np.asarray(self.dtype.name),
        }
        for k, w in enumerate(self.weights):
            d[f"w{k}"] = w
        for k, b in enumerate(self.biases):
            d[f"b{k}"] = b
        return d

    @classmethod
    def from_state_dict(cls, d: Any) -> Drn:
        """The network a :meth:`state_dict` (or an npz file loaded from it) describes."""
        try:
            sizes = tuple(int(n) for n in np.asarray(d["sizes"]).reshape(-1))
            n = len(sizes) - 1
            return cls(
                sizes,
                [np.asarray(d[f"w{k}"]) for k in range(n)],
                [np.asarray(d[f"b{k}"]) for k in range(n)],
                input_gain=float(np.asarray(d["input_gain"])),
                dtype=str(np.asarray(d["dtype"])) if "dtype" in d else np.float64,
                g_unit=float(np.asarray(d["g_unit"])) if "g_unit" in d else G_UNIT,
            )
        except KeyError as exc:
            raise ResbenchError(f"not a DRN checkpoint: it has no {exc.args[0]!r} array") from exc

    def __repr__(self) -> str:
        return (
            f"Drn(sizes={self.sizes}, input_gain={self.input_gain:g}, dtype={self.dtype.name}, "
            f"conductances={self.n_conductances})"
        )


def _nudged(circuit: Circuit, targets: np.ndarray, g: float) -> Circuit:
    """``circuit`` plus, per output j, a resistor of ``g`` S to node ``t<j>`` held at
    ``targets[j]`` by source ``vt<j>``."""
    n_out = targets.shape[0]
    out_nodes = np.array([circuit.node_index()[f"out{j}"] for j in range(n_out)], dtype=np.int32)
    first = circuit.n_nodes
    tnodes = np.arange(first, first + n_out, dtype=np.int32)
    nodes = list(circuit.nodes) + [f"t{j}" for j in range(n_out)]
    r = circuit.resistors
    resistors = Branches(
        IndexedNames("r", len(r) + n_out),
        np.concatenate([r.a, out_nodes]).astype(np.int32),
        np.concatenate([r.b, tnodes]).astype(np.int32),
        np.concatenate([r.value, np.full(n_out, 1.0 / g)]),
    )
    vs = circuit.vsources
    vsources = Branches(
        list(vs.names) + [f"vt{j}" for j in range(n_out)],
        np.concatenate([vs.a, tnodes]).astype(np.int32),
        np.concatenate([vs.b, np.zeros(n_out, np.int32)]).astype(np.int32),
        np.concatenate([vs.value, targets]),
    )
    return make_circuit(
        circuit.title,
        nodes,
        resistors=resistors,
        diodes=circuit.diodes,
        vsources=vsources,
        isources=circuit.isources,
    )
