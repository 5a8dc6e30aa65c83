"""Solution: what every solver returns (ngspice, numba CD, reference)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from resbench.certificate import Certificate
    from resbench.circuit import Circuit

# Status values shared by all solvers.
CONVERGED = "converged"  # solver reached its stopping rule (and, after certify, certified)
SWEEP_LIMIT = "sweep_limit"  # stopped at the sweep limit before the residual tolerance
STALLED = "stalled"  # no further progress possible with the solver's moves
NOT_CERTIFIED = "not_certified"  # the certificate rejected the answer
FAILED = "failed"  # the solver ran but produced no answer (message in info["error"])
TIMEOUT = "timeout"  # the solver ran past its time limit

#: what ``Solution.to_frame(kind)`` can return
FRAME_KINDS = ("nodes", "diodes", "vsources")


def _finite_or_none(x: float | None) -> float | None:
    """``float(x)`` when finite, else None: JSON has no inf or NaN."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _json_value(x: object) -> object:
    """Plain JSON-able scalars of ``info``: non-finite floats become None."""
    if isinstance(x, float | np.floating):
        return _finite_or_none(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


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

    A solver that reports ``converged`` with a non-finite voltage (overflow)
    becomes ``failed`` here, whoever built the Solution: inf or NaN is never
    reported as converged.  ``to_dict`` writes non-finite numbers as None, so
    its JSON is always valid.
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
    #: a one-line human explanation of ``status`` ("" until a solver or
    #: ``resbench.solve`` fills it)
    message: str = ""

    def __post_init__(self) -> None:
        if self.status != CONVERGED or self.voltages is None:
            return
        v = np.asarray(self.voltages, dtype=np.float64)
        if np.isfinite(v).all():  # (one pass and a method: every answer comes through here)
            return
        bad = ~np.isfinite(v)
        if bad.any():
            names = [self.circuit.nodes[k] for k in np.flatnonzero(bad)[:5]]
            more = " …" if int(bad.sum()) > len(names) else ""
            self.status = FAILED
            self.info = dict(self.info)
            self.info.setdefault(
                "error",
                f"non-finite voltage at {int(bad.sum())} node(s): {', '.join(names)}{more} "
                "(the values overflow double precision: rescale the circuit's values)",
            )

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
            "message": self.message,
            "certified": None if cert is None else bool(cert.ok),
            "sweeps": int(self.sweeps),
            "residual": _finite_or_none(self.residual),
            "timings": {k: _finite_or_none(v) for k, v in self.timings.items()},
            "sizes": c.sizes(),
            "info": {
                k: _json_value(v)
                for k, v in self.info.items()
                if isinstance(v, str | int | float | bool | np.number)
            },
            "nodes": {n: _finite_or_none(v) for n, v in self.as_dict().items()},
        }
        if cert is not None:
            out["certificate"] = {
                "ok": bool(cert.ok),
                "feasibility": _finite_or_none(cert.feasibility),
                "kcl": _finite_or_none(cert.kcl),
                "complementarity": _finite_or_none(cert.complementarity),
                "feas_tol": _finite_or_none(cert.feas_tol),
                "kcl_tol": _finite_or_none(cert.kcl_tol),
                "comp_tol": _finite_or_none(cert.comp_tol),
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
                "current": None
                if self.diode_current is None
                else _finite_or_none(self.diode_current[j]),
            }
            for j in range(len(d))
        ]
        vs = c.vsources
        out["vsources"] = [
            {
                "name": vs.names[j],
                "plus": c.nodes[vs.a[j]],
                "minus": c.nodes[vs.b[j]],
                "voltage": _finite_or_none(vs.value[j]),
                "current": None
                if self.vsource_current is None
                else _finite_or_none(self.vsource_current[j]),
            }
            for j in range(len(vs))
        ]
        return out

    def to_frame(self, kind: str = "nodes") -> pd.DataFrame:
        """The answer as a pandas DataFrame, one row per element of ``kind``.

        * ``"nodes"`` (default): columns ``node``, ``voltage`` (V), ground included;
        * ``"diodes"``: ``name``, ``anode``, ``cathode``, ``state`` (on/off),
          ``current`` (A, anode to cathode);
        * ``"vsources"``: ``name``, ``plus``, ``minus``, ``voltage`` (V),
          ``current`` (A, SPICE sign: into ``+``, through the source).

        Unknown currents and non-finite values are NaN.  E.g.
        ``sol.to_frame().set_index("node")["voltage"]`` is a Series by node name.
        """
        import pandas as pd

        if kind not in FRAME_KINDS:
            raise ValueError(f"to_frame: kind must be nodes, diodes or vsources, got {kind!r}")
        c = self.circuit
        if kind == "nodes":
            return pd.DataFrame(
                {
                    "node": pd.Series(list(c.nodes), dtype=object),
                    "voltage": np.asarray(self.voltages, dtype=np.float64),
                }
            )

        def currents(values: np.ndarray | None, n: int) -> np.ndarray:
            if values is None:
                return np.full(n, np.nan)
            return np.asarray(values, dtype=np.float64)

        if kind == "diodes":
            d = c.diodes
            return pd.DataFrame(
                {
                    "name": pd.Series(list(d.names), dtype=object),
                    "anode": pd.Series([c.nodes[k] for k in d.a], dtype=object),
                    "cathode": pd.Series([c.nodes[k] for k in d.b], dtype=object),
                    "state": pd.Series(self.diode_states() if len(d) else [], dtype=object),
                    "current": currents(self.diode_current, len(d)),
                }
            )
        vs = c.vsources
        return pd.DataFrame(
            {
                "name": pd.Series(list(vs.names), dtype=object),
                "plus": pd.Series([c.nodes[k] for k in vs.a], dtype=object),
                "minus": pd.Series([c.nodes[k] for k in vs.b], dtype=object),
                "voltage": np.asarray(vs.value, dtype=np.float64),
                "current": currents(self.vsource_current, len(vs)),
            }
        )
