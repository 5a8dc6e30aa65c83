"""resbench: exact, fast simulation of nonlinear resistive networks.

Public API::

    from resbench import read_netlist, solve, certify, compare, write_netlist

    circuit = read_netlist("net.cir")
    sol = solve(circuit)                 # numba CD; solver="reference" | "ngspice"
    sol.voltage("out"), sol.certificate.ok, sol.timings
"""

from __future__ import annotations

__version__ = "0.1.0"

from resbench.certificate import Certificate, certify  # noqa: E402
from resbench.circuit import Branches, Circuit, Model  # noqa: E402
from resbench.errors import CircuitError, NetlistError, ResbenchError, SolverError  # noqa: E402
from resbench.netlist import parse_netlist, read_netlist, write_netlist  # noqa: E402
from resbench.solution import Solution  # noqa: E402
from resbench.solvers import solve  # noqa: E402

__all__ = [
    "Branches",
    "Certificate",
    "Circuit",
    "CircuitError",
    "Model",
    "NetlistError",
    "ResbenchError",
    "Solution",
    "SolverError",
    "__version__",
    "certify",
    "compare",
    "parse_netlist",
    "read_netlist",
    "solve",
    "write_netlist",
]


def __getattr__(name: str):
    """Lazy exports that would make ``import resbench`` slow (pandas)."""
    if name == "compare":
        from resbench.bench.compare import compare

        return compare
    raise AttributeError(f"module 'resbench' has no attribute {name!r}")
