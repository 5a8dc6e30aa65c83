"""``.dc`` sweeps as batches: every point of a netlist's ``.dc`` card through one Network.

    from resbench import read_netlist
    from resbench.batch.dc import run_dc

    sweep = run_dc(read_netlist("netlists/dc_diode_iv.cir"))
    sweep.table              # the swept sources' values, then v(node) per node
    sweep.plot("iv.png")     # node voltages against the inner source

The points are those ngspice runs for the same card, in the same order
(:meth:`resbench.circuit.DcSweep.points`: the first source varies fastest, values
accumulated ``start, start+step, …`` as ngspice does), so a row here and the same
row of ngspice's sweep are the same input.  The network is set up once
(:class:`resbench.batch.Network` with the swept sources as inputs); the points are
solved in chunks, each chunk warm-started from the last answer of the one before
(neighbouring points of a sweep have nearby answers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from resbench.batch.result import BatchCertificate, BatchResult
from resbench.circuit import Circuit
from resbench.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

#: points solved per batch; each chunk starts from the previous chunk's last answer
DEFAULT_CHUNK = 256
#: the plot shows at most this many nodes (those whose voltage swings most)
PLOT_MAX_NODES = 8


def dc_points(circuit: Circuit) -> tuple[list[str], np.ndarray]:
    """The swept source names (inner first) and every point ``values[B, k]`` of the
    circuit's ``.dc`` card, in ngspice's order (the first source varies fastest).
    A circuit without a ``.dc`` card is a CircuitError."""
    if circuit.dc is None:
        raise InputError(
            "the circuit has no .dc card; add one: .dc SRC START STOP STEP "
            "[SRC2 START2 STOP2 STEP2]"
        )
    return circuit.dc.names, circuit.dc.points()


@dataclass
class DcResult:
    """A solved ``.dc`` sweep: ``result`` holds every point (a :class:`BatchResult`),
    ``table`` one row per point."""

    circuit: Circuit
    names: list[str]  # swept sources, inner first
    result: BatchResult
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def values(self) -> np.ndarray:
        """The swept sources' values ``[B, k]``."""
        return self.result.values

    @property
    def voltages(self) -> np.ndarray:
        """Node voltages ``[B, n_nodes]`` (ground column 0)."""
        return self.result.voltages

    @property
    def table(self) -> pd.DataFrame:
        """One row per point: the swept sources' values, then ``v(node)`` per node
        (ground left out)."""
        import pandas as pd

        cols: dict[str, np.ndarray] = {n: self.values[:, j] for j, n in enumerate(self.names)}
        for k, node in enumerate(self.circuit.nodes[1:], start=1):
            cols[f"v({node})"] = self.voltages[:, k]
        return pd.DataFrame(cols)

    def interesting_nodes(self, limit: int = PLOT_MAX_NODES) -> list[str]:
        """Up to ``limit`` nodes worth plotting: those no grounded voltage source holds
        (their voltage is an input, already known), the largest swing (max − min over
        the sweep) first, ties in node order; held nodes only when nothing else is left."""
        v = self.voltages[:, 1:]
        if v.shape[1] == 0:
            return []
        vs = self.circuit.vsources
        held = set(np.concatenate([vs.a[vs.b == 0], vs.b[vs.a == 0]]).tolist())
        swing = np.nanmax(v, axis=0) - np.nanmin(v, axis=0)
        free = [k for k in np.argsort(-swing, kind="stable") if int(k) + 1 not in held]
        rest = [k for k in np.argsort(-swing, kind="stable") if int(k) + 1 in held]
        return [self.circuit.nodes[1 + int(k)] for k in (free or rest)[:limit]]

    def plot(
        self,
        path: str | os.PathLike,
        *,
        nodes: list[str] | None = None,
        limit: int = PLOT_MAX_NODES,
    ) -> list[str]:
        """Write a PNG: node voltages against the inner source, one line per value of
        the outer source (if any).  ``nodes`` default: the ``limit`` nodes that swing
        most (the title says how many of how many are shown).  Returns the nodes drawn."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n_all = self.circuit.n_nodes - 1
        chosen = list(nodes) if nodes is not None else self.interesting_nodes(limit)
        index = self.circuit.node_index()
        unknown = [n for n in chosen if n not in index or n == self.circuit.nodes[0]]
        if unknown:
            raise InputError(f"cannot plot {', '.join(unknown)}: not a node of the circuit")
        inner = self.names[0]
        unit = "A" if inner in set(self.circuit.isources.names) else "V"
        x = self.values[:, 0]
        outer = self.values[:, 1] if len(self.names) > 1 else np.zeros(len(x))
        levels = list(dict.fromkeys(outer.tolist()))
        fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
        colors = plt.get_cmap("tab10")
        try:
            for j, node in enumerate(chosen):
                k = index[node]
                for m, level in enumerate(levels):
                    rows = outer == level
                    alpha = 1.0 if len(levels) == 1 else 0.35 + 0.65 * m / (len(levels) - 1)
                    label = None
                    if m == len(levels) - 1 or len(levels) <= 4:
                        label = f"v({node})"
                        if len(self.names) > 1 and len(levels) <= 4:
                            label += f", {self.names[1]} = {level:.4g}"
                    ax.plot(
                        x[rows],
                        self.voltages[rows, k],
                        color=colors(j % 10),
                        alpha=alpha,
                        label=label,
                        marker="." if rows.sum() <= 30 else None,
                    )
            ax.set_xlabel(f"{inner} ({unit})")
            ax.set_ylabel("node voltage (V)")
            shown = f"{len(chosen)} of {n_all} nodes" + (
                " (not held by a source, largest swing first)"
                if nodes is None and len(chosen) < n_all
                else ""
            )
            outer_note = (
                f"; one line per {self.names[1]} value ({len(levels)}, darker = larger)"
                if len(self.names) > 1
                else ""
            )
            title = self.circuit.title or "dc sweep"
            title = title if len(title) <= 70 else title[:69] + "…"
            ax.set_title(f"{title}\n{shown}{outer_note}", fontsize=9)
            ax.grid(True, alpha=0.3)
            if chosen:
                ax.legend(fontsize=7, loc="best")
            fig.tight_layout()
            fig.savefig(os.fspath(path), format="png")
        finally:
            plt.close(fig)
        return chosen


def _concat(parts: list[BatchResult]) -> BatchResult:
    """One BatchResult of consecutive chunks (timings summed, setup counted once)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]

    def cat(name: str, obj: list) -> np.ndarray | None:
        got = [getattr(p, name) for p in obj]
        return None if any(g is None for g in got) else np.concatenate(got, axis=0)

    cert = None
    certs = [p.certificate for p in parts]
    if all(c is not None for c in certs):
        cert = BatchCertificate(
            **{
                f: (None if getattr(certs[0], f) is None else cat(f, certs))
                for f in BatchCertificate.__dataclass_fields__
            }
        )
    timings: dict[str, float] = {}
    for p in parts:
        for k, v in p.timings.items():
            timings[k] = timings.get(k, 0.0) + float(v)
    if "setup" in first.timings:
        timings["setup"] = float(first.timings["setup"])
    return BatchResult(
        circuit=first.circuit,
        input_names=list(first.input_names),
        values=cat("values", parts),
        voltages=cat("voltages", parts),
        sweeps=cat("sweeps", parts),
        status=cat("status", parts),
        messages=[m for p in parts for m in p.messages],
        polished=cat("polished", parts),
        dtype=first.dtype,
        certificate=cert,
        diode_current=cat("diode_current", parts),
        vsource_current=cat("vsource_current", parts),
        timings=timings,
        info=dict(first.info),
    )


def run_dc(
    circuit: Circuit,
    *,
    chunk: int = DEFAULT_CHUNK,
    progress: Any = None,
    warm_up: bool = False,
    **options: Any,
) -> DcResult:
    """Solve every point of the circuit's ``.dc`` sweep (one Network, set up once).

    ``options`` go to :meth:`resbench.batch.Network.solve_batch` (``tol``, ``dtype``,
    ``certify``, ``currents``, ``threads`` …; ``gmin`` to the Network).  Points are
    solved ``chunk`` at a time; every sample of a chunk starts from the last answer of
    the chunk before (a ``warm_start`` given here is used for the first chunk).
    ``progress(done, total)`` is called after each chunk.  ``warm_up``: first solve
    the first chunk once, untimed and discarded, so the kernels are loaded before the
    sweep (its seconds in ``info["warm_up"]``; :func:`resbench.batch.chunked.warm_up`).
    The network is set up with
    the swept sources at the first point (``result.circuit`` is that circuit; the
    values the netlist gives them are not used, as in ngspice's ``.dc``).
    """
    from resbench.batch import Network
    from resbench.batch.network import with_values

    if chunk < 1:
        raise InputError(f"chunk must be >= 1, got {chunk}")
    names, values = dc_points(circuit)
    net_kw = {"gmin": options.pop("gmin")} if "gmin" in options else {}
    # The swept sources' own values never take part in a sweep (ngspice ignores them
    # too): the network is set up at the first point, so a value written in the
    # netlist that no point uses (a source forcing a diode, say) cannot refuse it.
    net = Network(with_values(circuit, names, values[0]), inputs=names, **net_kw)
    warm = options.pop("warm_start", None)
    parts: list[BatchResult] = []
    total = values.shape[0]
    info: dict[str, Any] = {}
    if warm_up:
        from resbench.batch.chunked import warm_up as load_kernels

        info["warm_up"] = load_kernels(
            net, values, samples=min(chunk, total), warm_start=warm, **options
        )
    for lo in range(0, total, chunk):
        block = values[lo : lo + chunk]
        res = net.solve_batch(block, warm_start=warm, **options)
        parts.append(res)
        last = res.voltages[-1]
        if lo + len(block) >= total:  # the last chunk: no next start to make
            pass
        elif np.all(np.isfinite(last)):
            warm = np.repeat(last[None, :], min(chunk, total - lo - len(block)) or 1, axis=0)
        else:
            warm = None
        if progress is not None:
            progress(lo + len(block), total)
    result = _concat(parts)
    info["chunks"] = len(parts)
    return DcResult(circuit=circuit, names=list(names), result=result, info=info)
