"""ngspice as the phase solver of DRN training: ``resbench train --simulator ngspice``.

:class:`NgspiceSimulator` is a :class:`resbench.drn.eqprop.Simulator`: every phase
(free, +β, −β) of every sample of a batch is an ngspice ``op``, through resbench's
long-lived ngspice worker (:mod:`resbench.solvers._ngspice_process`: a child process in
its own process group that dies with resbench, killed on a timeout; no orphan).

How a batch runs (the weights change at every training step, so the circuit is
written and parsed once per call, i.e. once per step and phase, never per sample):

1. the network's circuit for the first sample (:meth:`Drn.to_circuit`, the paper's
   layout: a resistor ``1/(w·g_unit)`` per nonzero weight, an ideal diode per
   hidden unit, input sources ``vin*``, bias current sources ``ib*``) is written by
   :func:`resbench.solvers.ngspice.emit_netlist` with ideal diodes as ngspice's
   self-controlled switch (``ron = 1e-5 Ω``, ``roff = 1e12 Ω``, docs/design.md §5);
2. a nudged phase adds, per output ``j``, a resistor ``rnudge<j>`` of ``β·g_unit``
   siemens from ``out<j>`` to node ``nudge<j>``, held at the target by the source
   ``vnudge<j>``: the current ``β·g_unit·(t − o)`` of the paper's ``β·½‖o − t‖²``.
   The −β phase writes a *negative* resistor (``R = −1/(β·g_unit)``): ngspice takes
   it as an exact negative conductance (tests/test_train_spice.py checks it against
   the exact solver); resbench's own circuits refuse negative resistors, which is why
   these lines are added to the netlist text here;
3. the worker parses the netlist once, then per sample ``alter``s the input sources
   (only those whose value changed since the previous sample: MNIST is mostly zeros)
   and the nudge sources to the sample's values, and runs ``op``.

Voltages come back in the paper's unit order (:attr:`PaperParams.layer_nodes`), as
the :class:`~resbench.drn.solver.DrnState` of :func:`resbench.drn.solve_drn`, with:

- ``sweeps`` = 0 for every sample: ngspice makes no block sweeps (its Newton
  iterations are not reported by the worker);
- ``residual``: the largest projected KCL imbalance at a free unit (amperes), the
  same measure :func:`solve_drn` reports, computed here from ngspice's voltages on
  the weight matrices (a few GEMMs per batch).  It is the certificate of the
  answer ngspice gave: for the switch model it is about ``ron·I_diode + V/roff·…``,
  ≈ 1e-9 A on the tests' networks, not 0.

``warm`` is accepted and ignored: ngspice's ``op`` starts from its own initial
point.  Errors (ngspice or PySpice missing, a netlist ngspice cannot load, a sample
without an operating point, a timeout, a crashed worker) are
:class:`~resbench.errors.SolverError` naming the phase and the sample.

:attr:`NgspiceSimulator.stats` accumulates where the time goes (``emit``,
``load``, per-sample ``alter_op`` round trips, the number of loads and ops), which
``scripts/bench_train_headline.py`` reports.
"""

from __future__ import annotations

import time

import numpy as np

from resbench.defaults import DEFAULT_TIMEOUT
from resbench.drn.model import Drn
from resbench.drn.solver import DrnState
from resbench.errors import ResbenchError, SolverError

__all__ = ["NgspiceSimulator", "drn_residual", "nudged_netlist", "register"]

#: seconds one ngspice request (a load, or one sample's alter + op) may take by default
SPICE_TIMEOUT = max(float(DEFAULT_TIMEOUT), 3600.0)


def _phase_name(beta: float) -> str:
    return "free" if beta == 0.0 else ("+beta" if beta > 0 else "-beta")


def nudged_netlist(text: str, targets: np.ndarray, beta: float, g_unit: float) -> str:
    """``text`` (a netlist from :func:`resbench.solvers.ngspice.emit_netlist` of a DRN
    circuit) with the nudge of the paper's ``β·½‖o − t‖²`` added before its ``.op``:
    per output ``j`` a resistor ``rnudge<j> out<j> nudge<j>`` of ``1/(β·g_unit)`` Ω
    (negative for β < 0: an exact negative conductance in ngspice) and a source
    ``vnudge<j> nudge<j> 0`` at ``targets[j]`` volts."""
    t = np.asarray(targets, dtype=np.float64).reshape(-1)
    r = 1.0 / (float(beta) * float(g_unit))
    lines = []
    for j, tj in enumerate(t.tolist()):
        lines.append(f"rnudge{j} out{j} nudge{j} {r!r}")
        lines.append(f"vnudge{j} nudge{j} 0 dc {float(tj)!r}")
    block = "\n".join(lines) + "\n"
    low = text.lower()
    at = low.rfind("\n.op")
    if at < 0:
        raise SolverError("internal: the DRN netlist has no .op line to add the nudge before")
    return text[: at + 1] + block + text[at + 1 :]


def drn_residual(
    drn: Drn,
    x_in: np.ndarray,
    layers: list[np.ndarray],
    *,
    targets: np.ndarray | None = None,
    beta: float = 0.0,
) -> np.ndarray:
    """Per sample, the largest projected KCL imbalance at a free unit (amperes) of the
    state ``layers`` (paper order) with input layer ``x_in [B, sizes[0]]``: for each
    unit, ``|clip(num / diag) − v| · diag · g_unit`` where ``num`` is the bias plus the
    neighbours' conductance-weighted voltages (plus ``β·t`` at an output) and ``diag``
    the unit's total conductance (plus β); the clip is the unit's diode bound.  0 at
    the exact equilibrium; the same measure as :func:`resbench.drn.solve_drn`'s."""
    W = [np.asarray(w, dtype=np.float64) for w in drn.weights]
    s = [np.asarray(v, dtype=np.float64) for v in layers]
    n_free = len(s)
    B = s[0].shape[0]
    out = np.zeros(B)
    prev = np.asarray(x_in, dtype=np.float64)
    for i in range(n_free):
        num = np.broadcast_to(np.asarray(drn.biases[i], dtype=np.float64), s[i].shape).copy()
        num += prev @ W[i]
        diag = W[i].sum(axis=0)
        if i < n_free - 1:
            num += s[i + 1] @ W[i + 1].T
            diag = diag + W[i + 1].sum(axis=1)
        elif beta != 0.0:
            num += beta * np.asarray(targets, dtype=np.float64)
            diag = diag + beta
        with np.errstate(divide="ignore", invalid="ignore"):
            v = num / diag
        if i < n_free - 1:
            half = v.shape[1] // 2
            np.maximum(v[:, :half], 0.0, out=v[:, :half])
            np.minimum(v[:, half:], 0.0, out=v[:, half:])
        if v.shape[1]:
            r = np.abs(v - s[i]) * np.abs(diag)
            np.maximum(out, np.nan_to_num(r.max(axis=1), nan=np.inf), out=out)
        prev = s[i]
    return out * drn.g_unit


def _check_phase(drn: Drn, beta: float) -> None:
    """A SolverError, as :func:`solve_drn` gives, for a unit without conductance (its
    voltage is undefined; ngspice would report a singular matrix or hold it through
    the switch's off-resistance) or a −β phase whose output coefficient is <= 0."""
    n_free = len(drn.sizes) - 1
    for k in range(1, n_free + 1):
        d = drn.weights[k - 1].sum(axis=0, dtype=np.float64)
        if k < n_free:
            d = d + drn.weights[k].sum(axis=1, dtype=np.float64)
        elif beta < 0 and np.any(d + beta <= 0):
            j = int(np.flatnonzero(d + beta <= 0)[0])
            raise SolverError(
                f"the -beta phase is not convex: output unit {j} has total conductance "
                f"{d[j]:.6g} (units of g_unit) and beta = {-beta:g}, so its coefficient "
                "colsum - beta <= 0 and the nudged energy has no minimum; use a smaller beta"
            )
        if np.any(d <= 0):
            j = int(np.flatnonzero(d <= 0)[0])
            raise SolverError(
                f"unit {j} of layer {k} has no conductance (all its weights are 0): its "
                "voltage is not defined (a floating node)"
            )


class NgspiceSimulator:
    """Every phase of every sample solved by ngspice (see the module docstring).

    ``timeout``: seconds one request to ngspice may take (the load of a netlist, or
    one sample's ``alter`` + ``op``); past it the worker's process group is killed and
    the phase fails with a SolverError.
    """

    name = "ngspice"

    def __init__(self, *, timeout: float = SPICE_TIMEOUT) -> None:
        if not (np.isfinite(timeout) and timeout > 0):
            raise ResbenchError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self.stats: dict[str, float] = {}
        self.reset_stats()

    def reset_stats(self) -> None:
        """Zero :attr:`stats`: seconds ``build`` (the circuit and its netlist text),
        ``load`` (ngspice parsing it, as the worker measures), ``load_wall`` (the load
        request's round trip), ``ops`` (per-sample alter + op round trips, summed),
        ``analysis`` (ngspice's ``op`` alone, summed), ``startup`` (starting the worker);
        counts ``loads``, ``samples``, ``altered`` (source values sent)."""
        self.stats = dict.fromkeys(
            (
                "build",
                "load",
                "load_wall",
                "ops",
                "analysis",
                "startup",
                "loads",
                "samples",
                "altered",
            ),
            0.0,
        )

    # ------------------------------------------------------------------ the phase
    def solve(
        self,
        drn: Drn,
        x: np.ndarray,
        *,
        targets: np.ndarray | None = None,
        beta: float = 0.0,
        warm: DrnState | None = None,
    ) -> DrnState:
        """The phase's equilibrium of the batch ``x [B, pixels]`` (nudged by ``beta``
        towards ``targets [B, n_out]`` when beta != 0), every sample an ngspice ``op``;
        ``warm`` is ignored.  Returns a :class:`DrnState` in the network's dtype."""
        from resbench.solvers.ngspice import (
            WorkerCrashed,
            WorkerTimeout,
            emit_netlist,
            get_worker,
            map_vectors,
            trouble,
        )

        del warm  # ngspice's op starts from its own initial point
        beta = float(beta)
        if not np.isfinite(beta):
            raise ResbenchError(f"beta must be finite, got {beta!r}")
        x_in = drn.input_state(x)  # checks the shape and finiteness
        B = x_in.shape[0]
        n_out = drn.sizes[-1]
        t = None
        if beta != 0.0:
            if targets is None:
                raise ResbenchError("a nudged phase (beta != 0) needs targets")
            t = np.asarray(targets, dtype=np.float64)
            if t.shape != (B, n_out) or not np.all(np.isfinite(t)):
                raise ResbenchError(
                    f"targets must be finite with shape [{B}, {n_out}], got {np.shape(targets)}"
                )
        _check_phase(drn, beta)
        phase = _phase_name(beta)
        out = [np.zeros((B, n), dtype=drn.dtype) for n in drn.sizes[1:]]
        if B == 0:
            return DrnState(out, np.zeros(0, np.int64), np.zeros(0))

        # 1-2. the circuit of sample 0, its netlist (plus the nudge), written once
        t0 = time.perf_counter()
        params = drn.to_paper_params(np.asarray(x)[0])
        from resbench.drn.paper_layout import import_paper_params

        if params.biases is not None and not any(np.any(b) for b in params.biases):
            params.biases = None
        circuit = import_paper_params(params)
        text = emit_netlist(circuit, diode_model="switch")
        if t is not None:
            text = nudged_netlist(text, t[0], beta, drn.g_unit)
        # the input sources in paper order: params.input_names is in0, in1, … and the
        # paper's unit p sits at resbench position paper_order[p]
        from resbench.drn.paper_layout import paper_order

        in_names = [params.input_names[i] for i in paper_order(drn.sizes[0]).tolist()]
        names = in_names + [f"vnudge{j}" for j in range(n_out)] * (t is not None)
        values = x_in.astype(np.float64)
        if t is not None:
            values = np.concatenate([values, t], axis=1)
        free_idx = [np.asarray(ix, dtype=np.int64) for ix in params.layer_nodes[1:]]
        self.stats["build"] += time.perf_counter() - t0

        # 3. load once, then alter + op per sample
        worker = get_worker()
        where = f"the {phase} phase"

        def request(msg: dict, what: str) -> dict:
            try:
                if not worker.alive():
                    self.stats["startup"] += worker.start()
                return worker.request(msg, self.timeout)
            except WorkerTimeout:
                raise SolverError(
                    f"ngspice ran past the {self.timeout:g} s timeout on {what} of {where} "
                    "(worker killed)"
                ) from None
            except WorkerCrashed as exc:
                raise SolverError(f"ngspice failed on {what} of {where}: {exc}") from None

        started = self.stats["startup"]
        t1 = time.perf_counter()
        reply = request({"op": "load", "netlist": text}, "loading the netlist")
        if not reply.get("ok"):
            error = reply.get("error", "ngspice could not load the netlist")
            raise SolverError(f"{where}: {error}")
        self.stats["load_wall"] += time.perf_counter() - t1 - (self.stats["startup"] - started)
        self.stats["load"] += float(reply.get("timings", {}).get("load", 0.0))
        self.stats["loads"] += 1
        loaded_by = worker.pid
        current = values[0].copy()  # what the loaded circuit holds now
        first = True
        for i in range(B):
            row = values[i]
            if first:
                changed = np.zeros(row.shape[0], dtype=bool)
                first = False
            else:
                changed = row != current
            alters = [(names[j], float(row[j])) for j in np.flatnonzero(changed).tolist()]
            t2 = time.perf_counter()
            reply = request({"op": "alter_op", "values": alters}, f"sample {i}")
            self.stats["ops"] += time.perf_counter() - t2
            if worker.pid != loaded_by:  # pragma: no cover - request restarted a dead worker
                raise SolverError(f"the ngspice worker restarted during {where} (sample {i})")
            if not reply.get("ok"):
                raise SolverError(
                    f"ngspice gave no operating point for sample {i} of {where}: "
                    f"{reply.get('error', 'ngspice failed')}"
                )
            current = row.copy()
            self.stats["analysis"] += float(reply.get("timings", {}).get("analysis", 0.0))
            self.stats["samples"] += 1
            self.stats["altered"] += len(alters)
            volts, _, missing = map_vectors(circuit, reply["names"], reply["values"])
            if missing or not np.all(np.isfinite(volts)):
                raise SolverError(
                    f"ngspice returned no valid operating point for sample {i} of {where}: "
                    + trouble(reply.get("notes") or [])
                )
            for k, ix in enumerate(free_idx):
                out[k][i] = volts[ix]
        residual = drn_residual(drn, x_in, out, targets=t, beta=beta)
        return DrnState(out, np.zeros(B, dtype=np.int64), residual)


def register() -> None:
    """Offer :class:`NgspiceSimulator` as ``resbench train --simulator ngspice``."""
    from resbench.train.loop import SimulatorSpec, register_simulator

    register_simulator(
        SimulatorSpec(
            "ngspice",
            "ngspice (every phase of every sample an .op through resbench's ngspice worker; "
            "slow: use --limit)",
            NgspiceSimulator,
        )
    )


register()
