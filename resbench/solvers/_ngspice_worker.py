"""Long-lived child process that runs ngspice's shared library through PySpice.

Started by :mod:`resbench.solvers.ngspice` in its own session (process group)
by running this file as a script (it imports nothing from resbench, so the
child does not pay for importing the package).  The library is loaded once
and reused for every request, so only the first request pays for loading it.

Protocol (both directions): frames of an 8-byte big-endian length followed by
a pickle.  The parent only ever sends netlist text produced by
``resbench.netlist.write_netlist`` from a parsed Circuit.

Requests (dicts with key ``op``):

* ``{"op": "ping"}`` → ``{"ok": True, "version": int, "library": str, "pid": int}``
* ``{"op": "run", "netlist": str}`` → ``{"ok": True, "names": [...], "values": ndarray,
  "timings": {"load", "analysis", "fetch", "cleanup"}, "rusage": {...}, "notes": [...]}``
  or ``{"ok": False, "error": str, "notes": [...]}``
* ``{"op": "sweep", "netlist": str}``: as ``run``, for a netlist whose analysis has many
  points (a ``.dc``): ``values`` is ``[points, names]`` (every point of the first plot).
* ``{"op": "load", "netlist": str}`` → ``{"ok": True, "timings": {"load"}}``: load the
  circuit and keep it loaded for ``alter_op`` requests (until the next load, run or sweep).
* ``{"op": "alter_op", "values": [(source, value), …]}`` → as ``run`` (``names``, ``values``,
  ``timings`` = ``alter``, ``analysis``, ``fetch``, ``cleanup``): set each source's DC
  value with ``alter``, run ``op`` on the loaded circuit, free the result plot.  The
  circuit is not parsed again: this is how many inputs go through one netlist.
* ``{"op": "sleep", "seconds": float}`` and ``{"op": "crash"}``: diagnostics used by
  the tests to exercise the parent's timeout and crash handling.
* ``{"op": "exit"}`` (or end of input): exit.

The worker never writes anything but frames to its protocol stream: file
descriptor 1 is redirected to stderr at start-up so that text printed by the C
library cannot corrupt the stream.
"""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import re
import signal
import struct
import time
from typing import Any, BinaryIO

import numpy as np

_HEADER = struct.Struct(">Q")
_RUSAGE_LINE = re.compile(r"^\s*([^=]+?)\s*(?:\(seconds\))?\s*=\s*([-+0-9.eE]+)\s*$")
# stderr lines that ngspice emits while still producing a valid operating point
_ERROR_WORDS = ("error", "fatal", "aborted", "failed", "cannot", "unknown", "too few", "not found")


def read_frame(stream: BinaryIO) -> Any | None:
    """Read one frame; None at end of input."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (n,) = _HEADER.unpack(head)
    body = stream.read(n)
    if len(body) < n:
        return None
    return pickle.loads(body)


def write_frame(stream: BinaryIO, obj: Any) -> None:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (no orphans).

    The parent already set this before ``exec`` (a ``preexec_fn``); setting it again
    keeps a worker started some other way safe.  The parent's pid comes in
    ``RESBENCH_NGSPICE_PARENT``: an orphan is reparented to init *or to a subreaper*,
    so "my parent is pid 1" is not the test."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    expected = os.environ.get("RESBENCH_NGSPICE_PARENT", "")
    parent = os.getppid()
    if parent == 1 or (expected.isdigit() and parent != int(expected)):  # parent gone
        os._exit(0)


def load_ngspice():
    """Load libngspice through PySpice with the PySpice 1.5 / ngspice ≥ 35 quirks handled."""
    from PySpice.Spice.NgSpice import SimulationType

    table = SimulationType.SIMULATION_TYPE
    # PySpice 1.5 knows ngspice up to 34; the simulation-type enum has not changed since.
    for version in range(SimulationType.LAST_VERSION + 1, 100):
        table.setdefault(version, table[SimulationType.LAST_VERSION])
    logging.getLogger("PySpice").setLevel(logging.CRITICAL)
    from PySpice.Spice.NgSpice.Shared import NgSpiceShared

    return NgSpiceShared.new_instance()


def parse_rusage(lines: list[str]) -> dict[str, float]:
    """``rusage everything`` / ``.options acct`` lines → {name: number}."""
    out: dict[str, float] = {}
    for line in lines:
        m = _RUSAGE_LINE.match(line)
        if m:
            try:
                out[m.group(1).strip()] = float(m.group(2))
            except ValueError:
                continue
    return out


def _no_operating_point(notes: list[str]) -> dict:
    """The reply when a run left no plot: ngspice's error lines (else its last notes)."""
    msg = [ln for ln in notes if any(w in ln.lower() for w in _ERROR_WORDS)] or notes
    return {
        "ok": False,
        "error": "ngspice produced no operating point: " + "; ".join(msg[-5:]),
        "notes": notes,
    }


class Runner:
    """Runs netlists on one NgSpiceShared instance."""

    def __init__(self) -> None:
        from PySpice.Spice.NgSpice.Shared import FFI, NgSpiceCommandError, ffi

        self.ng = load_ngspice()
        self._ffi = ffi
        self._null = FFI.NULL
        self._command_error = NgSpiceCommandError
        self.version = self.ng.ngspice_version

    # -------------------------------------------------------------- commands
    def _command(self, command: str) -> tuple[list[str], list[str]]:
        """Run a command; PySpice's 'error' on informational stderr lines is not an error."""
        try:
            self.ng.exec_command(command, join_lines=False)
        except self._command_error:
            pass
        return list(self.ng._stdout), list(self.ng._stderr)

    def _plots(self) -> list[str]:
        return [p for p in self.ng.plot_names if p != "const"]

    def _vectors(self, plot: str, points: bool = False) -> tuple[list[str], np.ndarray]:
        """Vector names of ``plot`` and their first values ``[names]`` (an operating
        point), or with ``points`` every value ``[points, names]`` (a sweep; NaN where a
        vector is shorter than the longest)."""
        lib, ffi, null = self.ng._ngspice_shared, self._ffi, self._null
        all_c = lib.ngSpice_AllVecs(plot.encode())
        names: list[str] = []
        i = 0
        while all_c[i] != null:
            names.append(ffi.string(all_c[i]).decode("utf-8", "replace"))
            i += 1
        columns: list[np.ndarray] = []
        for name in names:
            info = lib.ngGet_Vec_Info(f"{plot}.{name}".encode())
            n = 0 if info == null else int(info.v_length)
            n = n if points else min(n, 1)
            col = np.full(max(n, 1), np.nan)
            if n and info.v_realdata != null:
                col[:n] = np.frombuffer(ffi.buffer(info.v_realdata, 8 * n), dtype=np.float64)
            elif n and info.v_compdata != null:
                for j in range(n):
                    col[j] = info.v_compdata[j].cx_real
            columns.append(col)
        if not points:
            return names, np.asarray([c[0] for c in columns], dtype=np.float64)
        rows = max((len(c) for c in columns), default=0)
        table = np.full((rows, len(names)), np.nan)
        for k, col in enumerate(columns):
            table[: len(col), k] = col
        return names, table

    def cleanup(self) -> None:
        """Free the result plots and every loaded circuit (they accumulate otherwise)."""
        self._command("destroy all")
        for _ in range(1000):
            _, err = self._command("remcirc")
            if any("no circuit" in line.lower() for line in err):
                break

    # ------------------------------------------------------------------ run
    def load(self, netlist: str) -> str | None:
        """Free everything, load ``netlist``; the error message, or None when loaded."""
        self.cleanup()  # a previous request that failed half-way may have left state
        self.ng.clear_output()
        try:
            self.ng.load_circuit(netlist)
        except Exception:  # NgSpiceCircuitError / NameError from PySpice
            pass
        out, err = list(self.ng._stdout), list(self.ng._stderr)
        bad = [ln for ln in out + err if ln.lower().lstrip().startswith("error")]
        if bad:
            return "ngspice could not load the netlist: " + "; ".join(bad)
        return None

    def load_only(self, netlist: str) -> dict:
        t0 = time.perf_counter()
        error = self.load(netlist)
        if error is not None:
            self.cleanup()
            return {"ok": False, "error": error}
        return {"ok": True, "timings": {"load": time.perf_counter() - t0}}

    def alter_op(self, values: list[tuple[str, float]]) -> dict:
        """Set the DC value of each named source, rerun ``op`` on the loaded circuit."""
        t0 = time.perf_counter()
        for name, value in values:
            _, err = self._command(f"alter {name} dc = {float(value)!r}")
            bad = [ln for ln in err if ln.lower().lstrip().startswith("error")]
            if bad:
                return {"ok": False, "error": f"ngspice cannot alter {name}: " + "; ".join(bad)}
        t1 = time.perf_counter()
        _, err = self._command("op")
        t2 = time.perf_counter()
        notes = [ln.strip() for ln in err if ln.strip()]
        plots = self._plots()
        if not plots:
            return _no_operating_point(notes)
        names, vals = self._vectors(plots[0])
        t3 = time.perf_counter()
        self._command("destroy all")  # the circuit stays loaded
        t4 = time.perf_counter()
        return {
            "ok": True,
            "names": names,
            "values": vals,
            "notes": notes,
            "timings": {
                "alter": t1 - t0,
                "analysis": t2 - t1,
                "fetch": t3 - t2,
                "cleanup": t4 - t3,
            },
        }

    def run(self, netlist: str, points: bool = False) -> dict:
        notes: list[str] = []
        t0 = time.perf_counter()
        error = self.load(netlist)
        t1 = time.perf_counter()
        if error is not None:
            return {"ok": False, "error": error}
        out, err = self._command("run")
        t2 = time.perf_counter()
        notes = [ln.strip() for ln in err if ln.strip()]
        plots = self._plots()
        if not plots:
            return _no_operating_point(notes)
        names, values = self._vectors(plots[0], points)
        t3 = time.perf_counter()
        out, _ = self._command("rusage everything")
        rusage = parse_rusage(out)
        t4 = time.perf_counter()
        self.cleanup()
        t5 = time.perf_counter()
        return {
            "ok": True,
            "names": names,
            "values": values,
            "notes": notes,
            "rusage": rusage,
            "timings": {
                "load": t1 - t0,
                "analysis": t2 - t1,
                "fetch": t3 - t2,
                "rusage": t4 - t3,
                "cleanup": t5 - t4,
            },
        }


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    runner: Runner | None = None
    while True:
        req = read_frame(inp)
        if req is None or req.get("op") == "exit":
            return
        op = req.get("op")
        try:
            if runner is None:
                runner = Runner()
            if op == "ping":
                reply = {
                    "ok": True,
                    "version": runner.version,
                    "library": os.environ.get("NGSPICE_LIBRARY_PATH"),
                    "pid": os.getpid(),
                }
            elif op == "run":
                reply = runner.run(req["netlist"])
            elif op == "sweep":
                reply = runner.run(req["netlist"], points=True)
            elif op == "load":
                reply = runner.load_only(req["netlist"])
            elif op == "alter_op":
                reply = runner.alter_op(req["values"])
            elif op == "sleep":
                time.sleep(float(req.get("seconds", 0.0)))
                reply = {"ok": True}
            elif op == "crash":
                os.kill(os.getpid(), signal.SIGSEGV)
                reply = {"ok": False, "error": "did not crash"}  # pragma: no cover
            else:
                reply = {"ok": False, "error": f"unknown request {op!r}"}
        except Exception as exc:  # report, keep serving
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        write_frame(out, reply)


def main() -> None:
    _die_with_parent()
    try:  # a crashing ngspice must not dump a core the size of its matrix
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):  # pragma: no cover
        pass
    # Protocol stream = the original stdout; the C library's own prints go to stderr.
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    proto_in = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    serve(proto_in, proto_out)


if __name__ == "__main__":
    main()
