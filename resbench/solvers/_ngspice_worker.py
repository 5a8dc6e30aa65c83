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

    def _vectors(self, plot: str) -> tuple[list[str], np.ndarray]:
        lib, ffi, null = self.ng._ngspice_shared, self._ffi, self._null
        all_c = lib.ngSpice_AllVecs(plot.encode())
        names: list[str] = []
        i = 0
        while all_c[i] != null:
            names.append(ffi.string(all_c[i]).decode("utf-8", "replace"))
            i += 1
        values = np.full(len(names), np.nan)
        for k, name in enumerate(names):
            info = lib.ngGet_Vec_Info(f"{plot}.{name}".encode())
            if info == null or info.v_length < 1:
                continue
            if info.v_realdata != null:
                values[k] = info.v_realdata[0]
            elif info.v_compdata != null:
                values[k] = info.v_compdata[0].cx_real
        return names, values

    def cleanup(self) -> None:
        """Free the result plots and every loaded circuit (they accumulate otherwise)."""
        self._command("destroy all")
        for _ in range(1000):
            _, err = self._command("remcirc")
            if any("no circuit" in line.lower() for line in err):
                break

    # ------------------------------------------------------------------ run
    def run(self, netlist: str) -> dict:
        notes: list[str] = []
        self.cleanup()  # a previous request that failed half-way may have left state
        t0 = time.perf_counter()
        self.ng.clear_output()
        try:
            self.ng.load_circuit(netlist)
        except Exception:  # NgSpiceCircuitError / NameError from PySpice
            pass
        out, err = list(self.ng._stdout), list(self.ng._stderr)
        t1 = time.perf_counter()
        bad = [ln for ln in out + err if ln.lower().lstrip().startswith("error")]
        if bad:
            return {"ok": False, "error": "ngspice could not load the netlist: " + "; ".join(bad)}
        out, err = self._command("run")
        t2 = time.perf_counter()
        notes = [ln.strip() for ln in err if ln.strip()]
        plots = self._plots()
        if not plots:
            msg = [ln for ln in notes if any(w in ln.lower() for w in _ERROR_WORDS)] or notes
            return {
                "ok": False,
                "error": "ngspice produced no operating point: " + "; ".join(msg[-5:]),
                "notes": notes,
            }
        names, values = self._vectors(plots[0])
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
