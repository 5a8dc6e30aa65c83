"""Solution: what every solver returns (ngspice, numba CD, reference)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from resbench.certificate import Certificate
    from resbench.circuit import Circuit

# Status values shared by all solvers.
CONVERGED = "converged"  # solver reached its stopping rule (and, after certify, certified)
SWEEP_LIMIT = "sweep_limit"  # stopped at the sweep limit before the residual tolerance
STALLED = "stalled"  # no further progress possible with the solver's moves
NOT_CERTIFIED = "not_certified"  # the certificate rejected the answer
FAILED = "failed"  # the solver ran but produced no answer (message in info["error"])
TIMEOUT = "timeout"  # the solver ran past its time limit


@dataclass
class Solution:
    """Node voltages of a circuit plus what the solver knows about how it got them.

    ``voltages[k]`` is the voltage of ``circuit.nodes[k]`` (ground included, 0 V).
    ``diode_current[j]`` is the current through diode j, anode to cathode (A).
    ``vsource_current[j]`` follows SPICE: the current flowing into the ``+``
    terminal, through the source, out of the ``-`` terminal (so a source that
    delivers power has a negative current).
    ``timings`` holds seconds: ``setup``, ``solve``, ``total`` always;
    ``compile`` (JIT, never part of total), ``emit``/``load``/``analysis``/``fetch``
    for ngspice, where they apply.
    """

    circuit: Circuit
    voltages: np.ndarray
    solver: str
    status: str
    diode_current: np.ndarray | None = None
    vsource_current: np.ndarray | None = None
    sweeps: int = 0
    residual: float = float("nan")
    timings: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    certificate: Certificate | None = None

    @property
    def ok(self) -> bool:
        """True when the solver converged and (if certified) the certificate passed."""
        if self.status != CONVERGED:
            return False
        return self.certificate is None or self.certificate.ok

    def voltage(self, node: str) -> float:
        """Voltage of a node by name (case-insensitive; ``gnd`` is ground)."""
        key = node.lower()
        if key == "gnd":
            key = "0"
        try:
            k = self.circuit.nodes.index(key)
        except ValueError:
            raise KeyError(f"no node named {node!r}") from None
        return float(self.voltages[k])

    def as_dict(self) -> dict[str, float]:
        """Node name → voltage, ground included."""
        return {n: float(v) for n, v in zip(self.circuit.nodes, self.voltages, strict=True)}

    def diode_states(self, tol: float | None = None) -> list[str]:
        """'on' (conducting: v_a = v_c within tol) or 'off' for each diode."""
        d = self.circuit.diodes
        if tol is None:
            tol = self.certificate.feas_tol if self.certificate is not None else 1e-9
        drop = self.voltages[d.a] - self.voltages[d.b]
        return ["on" if x >= -tol else "off" for x in drop]

    def to_dict(self) -> dict:
        """Everything about the answer as plain JSON-able data."""
        c = self.circuit
        cert = self.certificate
        out: dict = {
            "title": c.title,
            "source": c.source,
            "solver": self.solver,
            "status": self.status,
            "certified": None if cert is None else bool(cert.ok),
            "sweeps": int(self.sweeps),
            "residual": float(self.residual),
            "timings": {k: float(v) for k, v in self.timings.items()},
            "sizes": c.sizes(),
            "info": {k: v for k, v in self.info.items() if isinstance(v, str | int | float | bool)},
            "nodes": self.as_dict(),
        }
        if cert is not None:
            out["certificate"] = {
                "ok": bool(cert.ok),
                "feasibility": float(cert.feasibility),
                "kcl": float(cert.kcl),
                "complementarity": float(cert.complementarity),
                "feas_tol": float(cert.feas_tol),
                "kcl_tol": float(cert.kcl_tol),
                "comp_tol": float(cert.comp_tol),
                "worst_node": cert.worst_node,
                "worst_element": cert.worst_element,
            }
        d = c.diodes
        states = self.diode_states() if len(d) else []
        out["diodes"] = [
            {
                "name": d.names[j],
                "anode": c.nodes[d.a[j]],
                "cathode": c.nodes[d.b[j]],
                "state": states[j],
                "current": None if self.diode_current is None else float(self.diode_current[j]),
            }
            for j in range(len(d))
        ]
        vs = c.vsources
        out["vsources"] = [
            {
                "name": vs.names[j],
                "plus": c.nodes[vs.a[j]],
                "minus": c.nodes[vs.b[j]],
                "voltage": float(vs.value[j]),
                "current": None if self.vsource_current is None else float(self.vsource_current[j]),
            }
            for j in range(len(vs))
        ]
        return out
