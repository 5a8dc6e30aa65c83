"""BatchResult: what :meth:`resbench.batch.Network.solve_batch` returns.

One row per input sample.  Node voltages are ``[B, n_nodes]`` in the order of
``circuit.nodes`` (ground, column 0, included, always 0 V).  Per-sample status
uses the same words as :class:`resbench.solution.Solution` (``converged``,
``sweep_limit``, ``stalled``, ``not_certified``, ``failed``), with a message
per sample saying why when it is not ``converged``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from resbench.solution import CONVERGED

if TYPE_CHECKING:
    import pandas as pd

    from resbench.circuit import Circuit


@dataclass
class BatchCertificate:
    """The optimality certificate of every certified sample (docs/design.md §3 per
    sample): residuals and tolerances ``[B]``; NaN / False where a sample was not
    certified (``checked`` says which were)."""

    checked: np.ndarray  # bool [B]: was this sample certified at all
    ok: np.ndarray  # bool [B]: certified and within every tolerance
    feasibility: np.ndarray  # V [B]
    kcl: np.ndarray  # A [B]
    complementarity: np.ndarray  # W [B]
    feas_tol: np.ndarray  # V [B]
    kcl_tol: np.ndarray  # A [B]
    comp_tol: np.ndarray  # W [B]
    diode_current: np.ndarray | None = None  # A [B, n_diodes] (anode → cathode)
    vsource_current: np.ndarray | None = None  # A [B, n_vsources] (SPICE sign)
    #: bool [B]: certified on the direct path (resbench.batch.certificate; a DRN's
    #: layout), whose sources' currents ``BatchCertifier.direct_source_currents`` gives
    #: alone; None where the certifier has no direct path
    direct: np.ndarray | None = None

    #: the per-sample fields, one value each (what files and merges carry)
    PER_SAMPLE = (
        "checked",
        "ok",
        "feasibility",
        "kcl",
        "complementarity",
        "feas_tol",
        "kcl_tol",
        "comp_tol",
    )


@dataclass
class BatchResult:
    """Answers of one batch through a :class:`resbench.batch.Network`."""

    circuit: Circuit
    input_names: list[str]
    values: np.ndarray  # [B, n_inputs]: the input values solved
    voltages: np.ndarray  # [B, n_nodes] float64
    sweeps: np.ndarray  # int64 [B]: coordinate-descent sweeps of each sample
    status: np.ndarray  # object [B]: status word per sample
    messages: list[str]  # per sample: "" when converged, else why
    polished: np.ndarray  # bool [B]: did the exact active-set polish run on it
    dtype: str = "float64"  # precision of the sweeps
    certificate: BatchCertificate | None = None
    diode_current: np.ndarray | None = None  # A [B, n_diodes], when asked for
    vsource_current: np.ndarray | None = None  # A [B, n_vsources], when asked for
    timings: dict[str, float] = field(default_factory=dict)  # seconds: setup (of the
    # Network, 0 when reused), inject, sweep, polish, certify, total (of this batch)
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.voltages.shape[0])

    @property
    def ok(self) -> np.ndarray:
        """bool [B]: converged (and, where certified, certified)."""
        return self.status == CONVERGED

    @property
    def node_names(self) -> list[str]:
        return list(self.circuit.nodes)

    def voltage(self, node: str) -> np.ndarray:
        """Voltages of one node over the batch ``[B]``."""
        idx = self.circuit.node_index()
        if node not in idx:
            raise KeyError(f"no node named {node!r}")
        return self.voltages[:, idx[node]]

    def to_frame(self) -> pd.DataFrame:
        """One row per sample: the inputs, status, sweeps, then ``v(node)`` per node
        (ground left out), then diode / source currents when they were computed."""
        import pandas as pd

        cols: dict[str, np.ndarray] = {}
        for j, name in enumerate(self.input_names):
            cols[name] = self.values[:, j]
        cols["status"] = self.status
        cols["sweeps"] = self.sweeps
        if self.certificate is not None:
            cols["certified"] = self.certificate.ok
        for k, name in enumerate(self.circuit.nodes[1:], start=1):
            cols[f"v({name})"] = self.voltages[:, k]
        if self.diode_current is not None:
            for j, name in enumerate(self.circuit.diodes.names):
                cols[f"i({name})"] = self.diode_current[:, j]
        if self.vsource_current is not None:
            for j, name in enumerate(self.circuit.vsources.names):
                cols[f"i({name})"] = self.vsource_current[:, j]
        return pd.DataFrame(cols)
