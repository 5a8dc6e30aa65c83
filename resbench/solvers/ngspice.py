"""ngspice as a resbench solver (through PySpice's shared-library API, or the CLI).

ngspice only ever receives text written by :func:`resbench.netlist.write_netlist`
from the parsed :class:`~resbench.circuit.Circuit`, never the user's file, so a
``.control`` block (or any other command) in a netlist cannot run.

Two ways to run it:

``mode="shared"`` (default)
    libngspice loaded through PySpice's ``NgSpiceShared`` in a long-lived
    *worker* child process (its own session / process group), reused across
    runs so the library loads once.  A run that exceeds ``timeout`` kills the
    worker's whole process group and returns status ``timeout``; the next run
    starts a fresh worker.  A crash (ngspice can segfault) returns status
    ``failed`` and never takes resbench down.
``mode="batch"``
    ``ngspice -b -r out.raw netlist.cir`` as a child process (own process
    group, same timeout rule); the binary rawfile is read back.

No ngspice process outlives resbench: every child (the worker, each
``ngspice -b``) asks Linux to SIGKILL it when resbench dies
(``prctl(PR_SET_PDEATHSIG)``, set before it runs), even when resbench itself
is killed by SIGKILL (Linux ties this to the thread that started the child: a
worker started from a thread that then ends is killed too, and the next run
starts a fresh one).  SIGTERM kills the children's process groups, removes
the work folders and exits with status 143 (installed when the first child
starts, unless the program has its own SIGTERM handler).  Work folders are
``$TMPDIR/resbench-ngspice-<pid>-<pid namespace>-<random>``, removed on every
exit path that runs code; those of a resbench killed by SIGKILL are swept away
by the next run that starts ngspice (:func:`sweep_stale_workdirs`).

Diode models:

``diode_model="switch"`` (default)
    each ideal diode becomes the self-controlled switch
    ``S<name> a c a c swideal`` with ``.model swideal sw(vt=0 vh=0 ron=1e-5
    roff=1e12)``; measured agreement with the exact ideal answer ≤ 6e-8 V
    (docs/design.md §5).
``diode_model="shockley"``
    SPICE's own diode with the netlist's ``.model`` (a default model ``d`` for
    any missing one).  Expect each conducting diode to drop about
    ``N·Vt·ln(I/IS)`` (≈ 0.6–0.8 V at mA currents with IS=1e-14, N=1), so the
    voltages differ from the ideal answer by that much; very small ``N`` can
    make ngspice converge to wrong diode states.

Many inputs of one netlist (``resbench compare --inputs`` and ``.dc`` netlists):
:func:`ngspice_dc` runs the circuit's ``.dc`` card as ngspice's own sweep and returns
every point; :func:`ngspice_batch` loads the netlist once in the shared worker and,
per sample, ``alter``s the input sources and reruns ``op`` (no re-parsing).

Timings (seconds, in ``Solution.timings``): ``emit`` (Circuit → text),
``transfer`` (text to the worker / file and results back), ``load`` (ngspice
parses the netlist; in batch mode the whole process minus the analysis),
``analysis`` (the ``.op``), ``fetch`` (read the vectors and map them to
nodes), ``setup`` = emit + load, ``solve`` = analysis, ``total`` = emit +
transfer + load + analysis + fetch.  ``startup`` (starting the worker and
loading the library) and ``cleanup`` (freeing the plot and circuit inside the
worker) are reported on their own and are not part of ``total``.  ngspice's own
accounting (``rusage`` / ``.options acct``) is in ``Solution.info["ngspice"]``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from resbench.circuit import Branches, Circuit, with_values
from resbench.defaults import DEFAULT_TIMEOUT, DIODE_MODELS, NGSPICE_MODES
from resbench.diodes import SHOCKLEY, expand, has_models, used_models, warn_ignored
from resbench.errors import SolverError
from resbench.solution import CONVERGED, FAILED, TIMEOUT, Solution
from resbench.solvers._ngspice_process import (  # noqa: F401 - re-exported: the public API
    _LIVE_DIRS,
    _LIVE_PROCS,
    _WORKDIR_NAME,
    PARENT_ENV,
    STALE_AGE,
    STARTUP_TIMEOUT,
    CliRun,
    NgspiceWorker,
    WorkerCrashed,
    WorkerTimeout,
    _die_with_parent_preexec,
    _kill_group,
    _make_workdir,
    _pid_namespace,
    _remove_workdir,
    get_worker,
    kill_children,
    run_ngspice_cli,
    shutdown_worker,
    sweep_stale_workdirs,
)

MODES = NGSPICE_MODES
#: ngspice options for circuits with Shockley diodes (docs/diodes.md): Newton stops on
#: |Δv| <= reltol·|v| + vntol and |Δi| <= reltol·|i| + abstol; gmin is the conductance
#: ngspice puts across every junction (a current of gmin·vd: 1e-18 A per volt here)
SHOCKLEY_OPTIONS = ".options reltol=1e-10 vntol=1e-13 abstol=1e-16 gmin=1e-18"
SHORT_OHMS = 1e-6  # what a 0-ohm resistor is written as (ngspice turns 0 into 1e-3)

# Lines that must never reach ngspice (defence in depth: the writer never emits them).
_FORBIDDEN = re.compile(
    r"^[ \t]*\.(control|endc|exec|include|inc|lib|spiceinit)\b|^[ \t]*(shell|source)\b",
    re.IGNORECASE | re.MULTILINE,
)
_END_LINE = re.compile(r"^[ \t]*\.end[ \t]*$", re.IGNORECASE | re.MULTILINE)
_ACCT_LINE = re.compile(r"^\s*([^=\n]+?)\s*(?:\(seconds\))?\s*=\s*([-+0-9.eE]+)\s*$", re.MULTILINE)


# --------------------------------------------------------------------------- netlist
def emit_netlist(
    circuit: Circuit,
    *,
    diode_model: str = "switch",
    gmin: float | None = None,
    sweep: bool = False,
) -> str:
    """The netlist text ngspice runs, written from the parsed circuit by write_netlist:
    an ``.op`` (the circuit's ``.dc`` card left out), or with ``sweep`` the ``.dc`` card
    alone (the circuit must have one)."""
    from resbench.netlist import write_netlist

    if sweep and circuit.dc is None:
        raise SolverError("the circuit has no .dc card to sweep")
    if diode_model not in DIODE_MODELS:
        raise SolverError(f"unknown diode model {diode_model!r} (choose from {DIODE_MODELS})")
    # "diode" style keeps D lines and the file's .model cards; write_netlist adds a
    # default ``.model <name> d`` for any diode model the circuit lacks.
    style = "switch" if diode_model == "switch" else "diode"
    keep: set[str] = set()
    if has_models(circuit):  # PWL diodes expanded, Shockley diodes as ngspice's own
        ex = expand(circuit, keep_rs=True)
        circuit = ex.circuit
        keep = {m for m, dm in used_models(circuit).items() if dm.kind == SHOCKLEY}
    text = write_netlist(
        ngspice_view(circuit),
        diode_style=style,
        analysis=None if sweep else ".op",
        dc=sweep,
        keep_models=keep,
    )
    if keep:
        text = _add_option_line(text, SHOCKLEY_OPTIONS)
    if gmin is not None:
        if not gmin > 0:
            raise SolverError(f"gmin must be positive, got {gmin!r}")
        # resbench's gmin is a leak from every node to ground: ngspice's rshunt.
        text = _add_option_line(text, f".options rshunt={1.0 / gmin!r}")
    m = _FORBIDDEN.search(text)
    if m:  # pragma: no cover - would be a writer bug
        raise SolverError(f"refusing to pass {m.group(0).strip()!r} to ngspice")
    return text


def ngspice_view(circuit: Circuit) -> Circuit:
    """The circuit as ngspice should see it: 0-ohm resistors (shorts) become
    ``SHORT_OHMS``, because ngspice silently replaces 0 Ω by 1 mΩ (an error of
    1e-6 V per mA).  Not a 0 V source: that would make a loop of shorts and
    sources singular for ngspice.  The input circuit is not modified."""
    r = circuit.resistors
    if not len(r) or not np.any(r.value == 0.0):
        return circuit
    value = np.where(r.value == 0.0, SHORT_OHMS, r.value)
    return dataclasses.replace(circuit, resistors=Branches(r.names, r.a, r.b, value))


def _add_option_line(text: str, line: str) -> str:
    """Insert a control card before the final ``.end`` (or append it)."""
    ends = list(_END_LINE.finditer(text, max(0, len(text) - 4096)))
    if not ends:
        return text.rstrip("\n") + "\n" + line + "\n"
    at = ends[-1].start()
    return text[:at] + line + "\n" + text[at:]


# --------------------------------------------------------------------------- rawfile
@dataclass
class RawPlot:
    """One plot of an ngspice rawfile: ``data[point, variable]``."""

    title: str
    plotname: str
    flags: str
    names: list[str]
    types: list[str]
    data: np.ndarray
    header: dict[str, str] = field(default_factory=dict)


def read_rawfile(path: str | os.PathLike) -> list[RawPlot]:
    """Read a SPICE rawfile (binary or ASCII, real or complex; every plot in it)."""
    with open(path, "rb") as fh:
        return parse_rawfile(fh.read(), path)


def parse_rawfile(raw: bytes, path: str | os.PathLike = "<rawfile>") -> list[RawPlot]:
    """The plots of a rawfile's bytes (``path`` names it in errors)."""
    plots: list[RawPlot] = []
    pos = 0
    while pos < len(raw):
        while pos < len(raw) and raw[pos : pos + 1] in (b"\n", b"\r", b" "):
            pos += 1
        if pos >= len(raw):
            break
        header: dict[str, str] = {}
        names: list[str] = []
        types: list[str] = []
        while True:
            end = raw.find(b"\n", pos)
            if end < 0:
                raise SolverError(f"{path}: truncated rawfile header")
            line = raw[pos:end].decode("latin-1").rstrip("\r")
            pos = end + 1
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "variables":
                nvars = int(header.get("no. variables", "0"))
                for _ in range(nvars):
                    end = raw.find(b"\n", pos)
                    if end < 0:
                        raise SolverError(f"{path}: truncated rawfile (variables)")
                    parts = raw[pos:end].decode("latin-1").split()
                    pos = end + 1
                    if len(parts) < 3:
                        raise SolverError(f"{path}: bad variable line in rawfile")
                    names.append(parts[1])
                    types.append(parts[2])
                continue
            if key in ("binary", "values"):
                break
            header[key] = value.strip()
        nvars = int(header.get("no. variables", len(names)))
        npoints = int(header.get("no. points", "0"))
        flags = header.get("flags", "real").lower()
        complex_data = "complex" in flags
        width = 2 if complex_data else 1
        if key == "binary":
            count = npoints * nvars * width
            arr = np.frombuffer(raw, dtype="<f8", count=count, offset=pos).copy()
            pos += count * 8
            if complex_data:
                arr = arr[0::2] + 1j * arr[1::2]
            data = arr.reshape(npoints, nvars)
        else:
            values: list[complex | float] = []
            while len(values) < npoints * nvars:
                end = raw.find(b"\n", pos)
                end = len(raw) if end < 0 else end
                line = raw[pos:end].decode("latin-1").split()
                pos = end + 1
                if not line:
                    continue
                tok = line[-1]
                if complex_data:
                    re_, _, im = tok.partition(",")
                    values.append(complex(float(re_), float(im or 0.0)))
                else:
                    values.append(float(tok))
            data = np.asarray(values).reshape(npoints, nvars)
        plots.append(
            RawPlot(
                title=header.get("title", ""),
                plotname=header.get("plotname", ""),
                flags=flags,
                names=names,
                types=types,
                data=data,
                header=header,
            )
        )
    return plots


def parse_acct(text: str) -> dict[str, float]:
    """``name = number`` lines of ngspice's accounting output → {name: number}."""
    out: dict[str, float] = {}
    for m in _ACCT_LINE.finditer(text):
        try:
            out[m.group(1).strip()] = float(m.group(2))
        except ValueError:
            continue
    return out


# --------------------------------------------------------------------------- mapping
def _node_key(name: str) -> str:
    name = name.lower()
    if name.startswith("v(") and name.endswith(")"):
        return name[2:-1]
    return name


def map_vectors(
    circuit: Circuit, names: list[str], values: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """ngspice vectors → (voltages per circuit node, vsource currents or None, missing nodes)."""
    table: dict[str, float] = {}
    currents: dict[str, float] = {}
    for name, value in zip(names, values, strict=True):
        low = name.lower()
        if low.endswith("#branch"):
            currents[low[: -len("#branch")]] = float(value)
        elif low.startswith("i(") and low.endswith(")"):
            currents[low[2:-1]] = float(value)
        else:
            table[_node_key(low)] = float(value)
    volts = np.empty(circuit.n_nodes)
    volts[0] = 0.0
    missing: list[str] = []
    for k, node in enumerate(circuit.nodes):
        if k == 0:
            continue
        v = table.get(node.lower())  # ngspice lower-cases names; a Circuit built in Python may not
        if v is None:
            missing.append(node)
            volts[k] = np.nan
        else:
            volts[k] = v
    vs = circuit.vsources
    vcur: np.ndarray | None = None
    if len(vs):
        # the writer prefixes a name that does not start with 'v' (resbench/netlist/writer.py)
        got = [
            currents.get((n if n.startswith("v") else "v" + n).lower()) for n in map(str, vs.names)
        ]
        if all(x is not None for x in got):
            vcur = np.asarray(got, dtype=np.float64)
    return volts, vcur, missing


# --------------------------------------------------------------------------- solve
def solve_ngspice(
    circuit: Circuit,
    *,
    mode: str = "shared",
    diode_model: str = "switch",
    timeout: float = DEFAULT_TIMEOUT,
    gmin: float | None = None,
) -> Solution:
    """Operating point of ``circuit`` computed by ngspice.

    ``mode``: ``"shared"`` (libngspice in a reused worker process) or
    ``"batch"`` (the ``ngspice -b`` CLI and its rawfile).  ``diode_model``:
    ``"switch"`` (ideal-diode switch, agrees with the exact answer to ≤ 6e-8 V
    as measured, docs/design.md §5) or ``"shockley"`` (SPICE's diode: expect a forward drop of
    ≈ N·Vt·ln(I/IS) per conducting diode).  ``timeout`` (seconds) bounds one
    run: past it ngspice's process group is killed and the status is
    ``"timeout"``.  ``gmin`` (siemens), if given, adds a leak from every node to
    ground (ngspice's ``rshunt = 1/gmin``).

    Returns a :class:`Solution` with ``solver="ngspice"``; status ``converged``,
    ``failed`` (message in ``info["error"]``) or ``timeout``.  It is not
    certified here (``resbench.solvers.solve`` does that).
    Raises :class:`SolverError` for bad options or when ngspice is not installed.
    """
    if mode not in MODES:
        raise SolverError(f"unknown ngspice mode {mode!r} (choose from {MODES})")
    if not timeout > 0:
        raise SolverError(f"timeout must be positive, got {timeout!r}")
    warn_ignored(circuit)
    t0 = time.perf_counter()
    text = emit_netlist(circuit, diode_model=diode_model, gmin=gmin)
    t_emit = time.perf_counter() - t0
    info: dict[str, Any] = {"mode": mode, "diode_model": diode_model, "gmin": gmin}
    if mode == "shared":
        return _solve_shared(circuit, text, t0, t_emit, timeout, info)
    return _solve_batch(circuit, text, t0, t_emit, timeout, info)


def trouble(notes: list[str]) -> str:
    """The informative part of ngspice's messages: the first 'singular matrix' warning
    (it names the node) and the last error / failure lines."""
    keys = ("error", "abort", "fail", "singular", "too small")
    hits = [ln for ln in notes if any(k in ln.lower() for k in keys)]
    out = hits[-3:]
    first_singular = next((ln for ln in notes if "singular" in ln.lower()), None)
    if first_singular is not None and first_singular not in out:
        out.insert(0, first_singular)
    return "; ".join(out or notes[-3:]) or "no message"


def _failed(circuit: Circuit, status: str, message: str, timings: dict, info: dict) -> Solution:
    info = dict(info)
    info["error"] = message
    return Solution(
        circuit=circuit,
        voltages=np.full(circuit.n_nodes, np.nan),
        solver="ngspice",
        status=status,
        timings=timings,
        info=info,
    )


def _finish(
    circuit: Circuit,
    names: list[str],
    values: np.ndarray,
    t0: float,
    timings: dict[str, float],
    info: dict,
) -> Solution:
    """Map vectors to nodes and fill the timing breakdown (timings has emit/transfer/load/
    analysis/fetch so far; the mapping time is added to fetch)."""
    tm = time.perf_counter()
    volts, vcur, missing = map_vectors(circuit, names, values)
    t_end = time.perf_counter()
    timings["fetch"] = timings.get("fetch", 0.0) + (t_end - tm)
    timings["setup"] = timings["emit"] + timings["load"]
    timings["solve"] = timings["analysis"]
    timings["total"] = (
        timings["emit"]
        + timings["transfer"]
        + timings["load"]
        + timings["analysis"]
        + timings["fetch"]
    )
    timings["wall"] = t_end - t0
    notes = info.get("notes") or []
    if not np.all(np.isfinite(volts[1:])) and not missing:
        # ngspice keeps a plot of NaNs when the analysis aborts ("Timestep too small")
        return _failed(
            circuit,
            FAILED,
            "ngspice returned no valid operating point: " + trouble(notes),
            timings,
            info,
        )
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        return _failed(
            circuit,
            FAILED,
            f"ngspice returned no voltage for {len(missing)} node(s): {shown}",
            timings,
            info,
        )
    return Solution(
        circuit=circuit,
        voltages=volts,
        solver="ngspice",
        status=CONVERGED,
        vsource_current=vcur,
        timings=timings,
        info=info,
    )


def _solve_shared(
    circuit: Circuit, text: str, t0: float, t_emit: float, timeout: float, info: dict
) -> Solution:
    worker = get_worker()
    timings: dict[str, float] = {"emit": t_emit}
    with worker._lock:
        if not worker.alive():
            timings["startup"] = worker.start()
        info["worker_pid"] = worker.pid
        info["ngspice_version"] = worker.version
        t1 = time.perf_counter()
        try:
            reply = worker._roundtrip({"op": "run", "netlist": text}, timeout)
        except WorkerTimeout:
            timings["total"] = time.perf_counter() - t0
            return _failed(
                circuit,
                TIMEOUT,
                f"ngspice ran past the {timeout:g} s timeout (worker killed)",
                timings,
                info,
            )
        except WorkerCrashed as exc:
            timings["total"] = time.perf_counter() - t0
            return _failed(circuit, FAILED, str(exc), timings, info)
    roundtrip = time.perf_counter() - t1
    if not reply.get("ok"):
        info["notes"] = reply.get("notes", [])
        timings["total"] = time.perf_counter() - t0
        return _failed(circuit, FAILED, reply.get("error", "ngspice failed"), timings, info)
    inner = reply["timings"]
    timings["load"] = inner["load"]
    timings["analysis"] = inner["analysis"]
    timings["fetch"] = inner["fetch"]
    timings["cleanup"] = inner["cleanup"]
    # everything the round trip cost beyond ngspice's own work: pickling, pipes
    timings["transfer"] = max(
        0.0,
        roundtrip
        - inner["load"]
        - inner["analysis"]
        - inner["fetch"]
        - inner["cleanup"]
        - inner.get("rusage", 0.0),
    )
    info["ngspice"] = reply.get("rusage", {})
    info["notes"] = reply.get("notes", [])
    return _finish(circuit, reply["names"], reply["values"], t0, timings, info)


@dataclass
class _CliResult:
    """One ``ngspice -b`` run read back: the process (``run``), ngspice's accounting
    (``acct``), its plots and the seconds spent reading them (``fetch``)."""

    run: CliRun
    acct: dict[str, float]
    plots: list[RawPlot]
    fetch: float

    @property
    def notes(self) -> list[str]:
        return self.run.notes

    def failure(self) -> str | None:
        """Why the run gave no result (None when it has a plot with data)."""
        rc = self.run.returncode
        if rc == 0 and self.plots and self.plots[0].data.shape[0] >= 1:
            return None
        status = f"exit status {rc}" if rc is not None and rc >= 0 else "killed by signal"
        return f"{status}: {trouble(self.notes)}"


def _run_cli(text: str, timeout: float) -> _CliResult:
    """``ngspice -b`` on ``text`` with ``.options acct`` (:func:`run_ngspice_cli`), its
    rawfile and accounting read back."""
    run = run_ngspice_cli(_add_option_line(text, ".options acct"), timeout)
    t0 = time.perf_counter()
    plots: list[RawPlot] = []
    if run.raw:
        try:
            plots = parse_rawfile(run.raw, "out.raw")
        except (SolverError, ValueError) as exc:  # ngspice stopped half-way
            run.notes.append(str(exc))
    return _CliResult(run, parse_acct(run.stdout), plots, time.perf_counter() - t0)


def _cli_timings(res: _CliResult) -> dict[str, float]:
    """``transfer`` (writing the file), ``child``, ``analysis`` (ngspice's own accounting,
    millisecond resolution: 0 for tiny nets), ``load`` (the rest of the process: start,
    library init, parsing, rawfile write), ``fetch`` (reading the rawfile)."""
    child = res.run.child
    analysis = min(res.acct.get("Total analysis time", 0.0), child)
    return {
        "child": child,
        "transfer": res.run.write,
        "analysis": analysis,
        "load": child - analysis,
        "fetch": res.fetch,
    }


def _solve_batch(
    circuit: Circuit, text: str, t0: float, t_emit: float, timeout: float, info: dict
) -> Solution:
    timings: dict[str, float] = {"emit": t_emit}
    run = _run_cli(text, timeout)
    info["ngspice_pid"] = run.run.pid
    if run.run.returncode is None:
        timings["total"] = time.perf_counter() - t0
        return _failed(
            circuit,
            TIMEOUT,
            f"ngspice ran past the {timeout:g} s timeout (process group killed)",
            timings,
            info,
        )
    info["notes"] = run.notes
    info["ngspice"] = run.acct
    failure = run.failure()
    if failure is not None:
        timings["total"] = time.perf_counter() - t0
        return _failed(
            circuit, FAILED, f"ngspice -b produced no operating point ({failure})", timings, info
        )
    timings.update(_cli_timings(run))
    plot = run.plots[0]
    return _finish(circuit, plot.names, np.real(plot.data[0]), t0, timings, info)


# --------------------------------------------------------------------------- many inputs
def _spice_options(mode: str, diode_model: str, timeout: float) -> None:
    if mode not in MODES:
        raise SolverError(f"unknown ngspice mode {mode!r} (choose from {MODES})")
    if diode_model not in DIODE_MODELS:
        raise SolverError(f"unknown diode model {diode_model!r} (choose from {DIODE_MODELS})")
    if not timeout > 0:
        raise SolverError(f"timeout must be positive, got {timeout!r}")


def _sweep_table(
    circuit: Circuit, names: list[str], table: np.ndarray, expected: np.ndarray
) -> np.ndarray:
    """A ``.dc`` plot's vectors ``table[points, names]`` → node voltages ``[B, n_nodes]``
    (ground 0); checks the point count and ngspice's sweep values against ``expected``
    (the inner source's values)."""
    keys = [_node_key(n) for n in names]
    col = {k: j for j, k in enumerate(keys)}
    if table.shape[0] != expected.shape[0]:
        raise SolverError(
            f"ngspice's .dc sweep has {table.shape[0]} points, resbench expected "
            f"{expected.shape[0]} (the sweep stopped early?)"
        )
    scale = next((k for k in ("v-sweep", "i-sweep") if k in col), None)
    if scale is not None:
        got = table[:, col[scale]]
        tol = 1e-9 * max(1.0, float(np.max(np.abs(expected))))
        if not np.allclose(got, expected, rtol=0.0, atol=tol):
            raise SolverError("ngspice's .dc sweep values differ from the .dc card's points")
    volts = np.zeros((table.shape[0], circuit.n_nodes))
    missing = [node for node in circuit.nodes[1:] if node not in col]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise SolverError(f"ngspice's .dc sweep has no voltage for {len(missing)} node(s): {shown}")
    idx = np.asarray([col[node] for node in circuit.nodes[1:]], dtype=np.int64)
    volts[:, 1:] = table[:, idx]
    return volts


def ngspice_dc(
    circuit: Circuit,
    *,
    mode: str = "shared",
    diode_model: str = "switch",
    timeout: float = DEFAULT_TIMEOUT,
    gmin: float | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Run the circuit's ``.dc`` sweep in ngspice (one analysis, every point).

    Returns ``(values[B, k], voltages[B, n_nodes], timings)``: the swept sources'
    values (column ``j`` = ``circuit.dc.sources[j]``, the first varying fastest, as
    ngspice runs them and as :func:`resbench.batch.dc.dc_points` lists them), the node
    voltages at each point (ground column 0), and seconds: ``emit``, ``load``
    (parsing; in batch mode the process minus the analysis), ``analysis`` (the whole
    sweep), ``fetch``, ``total`` (and ``startup`` of a fresh worker, not in total).
    Raises :class:`SolverError` when ngspice fails, times out or is not installed.
    """
    _spice_options(mode, diode_model, timeout)
    if circuit.dc is None:
        raise SolverError("the circuit has no .dc card (add .dc SRC START STOP STEP)")
    values = circuit.dc.points()
    t0 = time.perf_counter()
    text = emit_netlist(circuit, diode_model=diode_model, gmin=gmin, sweep=True)
    timings: dict[str, float] = {"emit": time.perf_counter() - t0}
    if mode == "shared":
        names, table = _sweep_shared(text, timeout, timings)
    else:
        names, table = _sweep_batch(text, timeout, timings)
    t1 = time.perf_counter()
    volts = _sweep_table(circuit, names, table, values[:, 0])
    timings["fetch"] = timings.get("fetch", 0.0) + time.perf_counter() - t1
    timings["total"] = sum(timings[k] for k in ("emit", "load", "analysis", "fetch"))
    if not np.all(np.isfinite(volts)):
        raise SolverError("ngspice's .dc sweep holds non-finite voltages (the analysis failed)")
    return values, volts, timings


def _request(worker: NgspiceWorker, msg: dict, timeout: float, timings: dict) -> dict:
    """One request to the shared worker (started if needed: ``timings['startup']``);
    a timeout or crash is a SolverError."""
    with worker._lock:
        if not worker.alive():
            timings["startup"] = timings.get("startup", 0.0) + worker.start()
        try:
            return worker._roundtrip(msg, timeout)
        except WorkerTimeout:
            raise SolverError(
                f"ngspice ran past the {timeout:g} s timeout (worker killed)"
            ) from None
        except WorkerCrashed as exc:
            raise SolverError(str(exc)) from None


def _sweep_shared(text: str, timeout: float, timings: dict) -> tuple[list[str], np.ndarray]:
    reply = _request(get_worker(), {"op": "sweep", "netlist": text}, timeout, timings)
    if not reply.get("ok"):
        notes = reply.get("notes") or []
        raise SolverError(
            reply.get("error", "ngspice failed") + (f" ({trouble(notes)})" if notes else "")
        )
    inner = reply["timings"]
    timings.update(load=inner["load"], analysis=inner["analysis"], fetch=inner["fetch"])
    return reply["names"], np.asarray(reply["values"], dtype=np.float64)


def _sweep_batch(text: str, timeout: float, timings: dict) -> tuple[list[str], np.ndarray]:
    run = _run_cli(text, timeout)
    if run.run.returncode is None:
        raise SolverError(f"ngspice ran past the {timeout:g} s timeout (process group killed)")
    failure = run.failure()
    if failure is not None:
        raise SolverError(f"ngspice -b produced no .dc sweep ({failure})")
    cli = _cli_timings(run)
    timings.update(load=cli["load"] + cli["transfer"], analysis=cli["analysis"], fetch=cli["fetch"])
    return run.plots[0].names, np.real(run.plots[0].data).astype(np.float64)


def _written_source(circuit: Circuit, name: str) -> str:
    """A source's name as write_netlist writes it (ngspice knows it by that name)."""
    if name in set(circuit.vsources.names):
        letter = "v"
    elif name in set(circuit.isources.names):
        letter = "i"
    else:
        from resbench.errors import InputError

        known = list(circuit.vsources.names) + list(circuit.isources.names)
        shown = ", ".join(known[:10]) + (" …" if len(known) > 10 else "")
        raise InputError(f"{name!r} is not a V or I source of the circuit (sources: {shown})")
    return name if name.startswith(letter) else letter + name


def ngspice_batch(
    circuit: Circuit,
    names: list[str],
    values: np.ndarray,
    *,
    diode_model: str = "switch",
    timeout: float = DEFAULT_TIMEOUT,
    gmin: float | None = None,
    info: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Operating points of many inputs in ngspice, parsing the netlist once.

    The shared-mode worker loads the circuit, then for each row of ``values[B, k]``
    ``alter``s the sources ``names`` (V or I sources of the circuit) to that row and
    reruns ``op``.  Returns ``(voltages[B, n_nodes], seconds[B])``: node voltages
    (ground column 0; NaN for a sample ngspice failed on) and the time per sample as
    compare counts ngspice's ``total``: the request's round trip (alter, op, reading the
    vectors, transfer) without freeing the plot afterwards; NaN when it failed.
    ``timeout`` bounds each sample (a timed-out worker is killed; the next sample
    reloads the circuit).
    A sample whose ``op`` fails on the loaded circuit is run once more from a fresh load
    of its own netlist (as one single run is; ngspice's ``op`` with ideal switches can
    depend on the path there): its time is that run's, without the load.
    ``info``, when given, receives ``emit``/``load``/``startup`` seconds, ``loads`` (how
    many times the batch's netlist was parsed: once, unless a worker had to be
    restarted or a sample was run again), ``retried`` {sample: the first failure} and
    ``errors`` {sample: message}.
    """
    from resbench.errors import InputError

    _spice_options("shared", diode_model, timeout)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values.reshape(1, -1)
    if values.ndim != 2 or values.shape[1] != len(names):
        raise InputError(
            f"values must be [samples, {len(names)}] (one column per source), got shape "
            f"{values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise InputError("values hold NaN or inf")
    written = [_written_source(circuit, n) for n in names]
    info = {} if info is None else info
    errors: dict[int, str] = info.setdefault("errors", {})
    t0 = time.perf_counter()
    text = emit_netlist(circuit, diode_model=diode_model, gmin=gmin)
    info["emit"] = time.perf_counter() - t0
    worker = get_worker()
    volts = np.full((values.shape[0], circuit.n_nodes), np.nan)
    seconds = np.full(values.shape[0], np.nan)
    loaded_by: int | None = None  # the worker process the circuit is loaded in
    for i, row in enumerate(values.tolist()):
        try:
            if loaded_by is None or loaded_by != worker.pid or not worker.alive():
                reply = _request(worker, {"op": "load", "netlist": text}, timeout, info)
                if not reply.get("ok"):
                    raise SolverError(reply.get("error", "ngspice could not load the netlist"))
                info["load"] = info.get("load", 0.0) + reply["timings"]["load"]
                info["loads"] = info.get("loads", 0) + 1
                loaded_by = worker.pid
            msg = {"op": "alter_op", "values": list(zip(written, row, strict=True))}
            t1 = time.perf_counter()
            reply = _request(worker, msg, timeout, info)
            roundtrip = time.perf_counter() - t1
        except SolverError as exc:
            errors[i] = exc.format()
            loaded_by = None
            continue
        v, error = _operating_point(circuit, reply)
        if error is not None:
            # ngspice's op is path-dependent with ideal switches (it may fail from the
            # loaded circuit where a fresh load of this sample's own netlist, what one
            # single run does, converges): once more that way before a failed row
            first = error  # (the message kept, whatever the second try says)
            sample = emit_netlist(
                with_values(circuit, names, np.asarray(row)), diode_model=diode_model, gmin=gmin
            )
            loaded_by = None  # (the worker then holds this sample's circuit)
            try:
                t1 = time.perf_counter()
                reply = _request(worker, {"op": "run", "netlist": sample}, timeout, info)
                roundtrip = time.perf_counter() - t1 - reply.get("timings", {}).get("load", 0.0)
            except SolverError as exc:
                errors[i] = f"{first}; again from a fresh load: {exc.format()}"
                continue
            v, error = _operating_point(circuit, reply)
            if error is not None:
                errors[i] = f"{first}; again from a fresh load: {error}"
                continue
            info.setdefault("retried", {})[i] = first
        volts[i] = v
        seconds[i] = max(0.0, roundtrip - reply["timings"]["cleanup"])
    return volts, seconds


def _operating_point(circuit: Circuit, reply: dict) -> tuple[np.ndarray | None, str | None]:
    """(node voltages, None) of a worker's reply, or (None, why there are none)."""
    if not reply.get("ok"):
        return None, reply.get("error", "ngspice failed")
    v, _, missing = map_vectors(circuit, reply["names"], reply["values"])
    if missing or not np.all(np.isfinite(v)):
        return None, "ngspice returned no valid operating point: " + trouble(
            reply.get("notes") or []
        )
    return v, None
