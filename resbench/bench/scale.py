"""Size scaling: how each solver's cost grows with the network (``resbench scale``).

For each size of a generated network family (DESIGN §7 benchmark rules):

1. the circuit is built in memory (:mod:`resbench.generate`; optionally also
   written as a netlist);
2. the solvers run under the rules of :mod:`resbench.bench.timing`: warm-up,
   then repeats interleaved A B A B …; ngspice is *skipped* (a row with status
   ``skipped``) above ``spice_max_size`` resistors;
3. every run records its peak memory (see *Memory* below);
4. both answers are certified from the circuit, and when both solvers ran the
   largest |Δv| between them is recorded, with the speedup (ratio of medians,
   ngspice / cd, total vs total and solve vs solve);
5. the rows of that size are appended to ``scale_samples.csv`` and
   ``scale_summary.csv`` and flushed to disk at once, so an interrupted sweep
   keeps every finished size; ``resume=True`` reads those files and skips the
   (size, solver) pairs already there, never repeating or losing a row.

At the end: power-law fits of median time against resistors per solver
(``time ≈ a · resistors^k``, least squares in log-log over the ``ok`` rows, the
range used stated), ``scale_summary.md``, the ``scale.json`` sidecar and
``scale.png`` (log-log time vs resistors, speedup vs resistors).

Repeats
-------
``repeats`` measured runs per solver and size, except that when the warm-up run
of the slowest solver at a size shows that the repeats would take more than
``point_budget`` seconds, fewer are run (at least one): ``max(1,
floor(point_budget / warm-up seconds))``.  The summary's ``repeats`` column
says how many measured runs each row has.

Memory
------
``peak_rss`` is the peak resident set size (bytes) of the process that ran the
solver, during the run; ``mem_delta`` is that peak minus the resident size just
before the run: the memory the run itself needed.

* ``cd`` runs in this process.  Before the run the cyclic garbage collector runs
  and ``malloc_trim(0)`` hands freed heap back to the OS (so the run cannot
  reuse already-resident free memory unseen); the kernel's high-water mark is
  reset (``/proc/self/clear_refs`` ← ``5``) and read back from ``VmHWM`` after
  the run: an exact peak of resident pages, numba's allocations included
  (tracemalloc does not see them).  Limits: pages the circuit or earlier runs
  left resident are not counted again, memory that is allocated but never
  touched is not resident and not counted, and the first (warm-up) run includes
  JIT compilation.  ``bytes_per_resistor`` = ``mem_delta`` / resistors (the
  solver's own memory; the Circuit it reads, ``circuit_bytes``, is input, 16 B
  per resistor).
* ``ngspice`` runs in its worker child process: the same high-water reset and
  ``VmHWM`` read on the worker's pid, plus a psutil poll of its RSS every 10 ms
  in a thread (which is all there is when a timeout has killed the worker).
  ``peak_rss`` includes the worker's Python and libngspice (≈ 35 MB).
* Where ``/proc/<pid>/clear_refs`` cannot be written (not Linux), the poll is
  used for both (``mem_method`` = ``poll``); for ``cd`` it is unreliable: a
  numba kernel holds the GIL, so the polling thread rarely runs during it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as _dt
import gc
import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from resbench.bench import timing
from resbench.circuit import Circuit
from resbench.errors import ResbenchError
from resbench.solution import CONVERGED, FAILED, TIMEOUT, Solution

__all__ = [
    "DEFAULT_SIZES",
    "DEFAULT_SPICE_MAX",
    "FAMILIES",
    "SAMPLE_COLUMNS",
    "SUMMARY_COLUMNS",
    "MemoryUse",
    "PeakRSS",
    "ScaleOptions",
    "build_circuit",
    "fit_power_law",
    "parse_sizes",
    "run_scale",
]

MEMORY_METHOD = (
    "cd: in-process; gc.collect + malloc_trim(0), reset the kernel high-water mark "
    "(/proc/self/clear_refs <- 5), run, read VmHWM; mem_delta = VmHWM - RSS before the run "
    "(numba allocations included; pages already resident, e.g. the circuit, not counted). "
    "ngspice: the same on the worker child's pid plus a 10 ms psutil RSS poll (the only "
    "source when a timeout killed the worker). mem_method 'poll' where clear_refs is "
    "unavailable."
)

FAMILIES = ("drn", "grid", "random")
#: solver names on the command line → solver ids in the result files
SOLVER_IDS: dict[str, str] = {"cd": "cd", "spice": "ngspice", "ngspice": "ngspice"}
CD, SPICE = "cd", "ngspice"
DRN_INPUTS, DRN_OUTPUTS = 1568, 10
DRN_PRESETS = ("xs", "1h", "2h", "3h", "xl")

#: Default sizes per family (drn: hidden width with 1568 inputs and 10 outputs, or a
#: preset; grid: side length; random: node count).  The drn sweep ends at 12.9M resistors.
DEFAULT_SIZES: dict[str, tuple[str, ...]] = {
    "drn": ("32", "64", "xs", "256", "512", "1h", "4096", "16384"),
    "grid": ("10", "20", "40", "70", "100", "150"),
    "random": ("100", "200", "500", "1000", "2000"),
}
#: Default --spice-max-size (resistors) per family, chosen so the default sweep ends in
#: ≤ 10 minutes on a 2-core machine.  Measured ngspice .op times there (s): drn width 100
#: (79k resistors) 4–6, width 256 (202k) 20–29, width 512 (404k) 70; grid 100×100 (20k) 9,
#: 150×150 (45k) 47; random 2,000 nodes (4k) 1.4, 10,000 nodes (20k) > 120.
DEFAULT_SPICE_MAX: dict[str, int] = {"drn": 500_000, "grid": 20_000, "random": 5_000}
DEFAULT_POINT_BUDGET = 120.0
DEFAULT_ATOL = 1e-6
STEM = "scale"

OK, UNCERTIFIED, ERROR, ERROR_STATUSES = (
    timing.OK,
    timing.UNCERTIFIED,
    timing.ERROR,
    timing.ERROR_STATUSES,
)
SKIPPED = "skipped"

SAMPLE_COLUMNS = [
    "family",
    "size",
    "seed",
    "solver",
    "phase",
    "repeat",
    "status",
    *timing.TIMING_COLUMNS,
    "wall",
    "sweeps",
    "residual",
    "peak_rss",
    "mem_delta",
    "mem_method",
    "error",
    "run_id",
]

SUMMARY_COLUMNS = [
    "family",
    "size",
    "seed",
    "solver",
    "status",
    "nodes",
    "resistors",
    "diodes",
    "vsources",
    "isources",
    "repeats",
    "total_median",
    "total_min",
    "total_max",
    "solve_median",
    "solve_min",
    "solve_max",
    "setup_median",
    "compile",
    "startup",
    "sweeps",
    "residual",
    "peak_rss",
    "mem_delta",
    "bytes_per_resistor",
    "circuit_bytes",
    "mem_method",
    "speedup_total",
    "speedup_solve",
    "max_abs_diff",
    "max_rel_diff",
    "worst_node",
    "agree",
    "certified",
    "feasibility",
    "kcl",
    "complementarity",
    "build_seconds",
    "run_id",
    "message",
]


# --------------------------------------------------------------------------- sizes
def parse_sizes(family: str, sizes: str | Sequence[str | int] | None) -> list[str]:
    """Size labels for ``family`` from a comma list or sequence (None: the defaults).

    drn: a hidden width (positive integer; 1568 inputs, 10 outputs) or a preset
    name (xs, 1h, 2h, 3h, xl); grid: a side length ≥ 2; random: a node count ≥ 2.
    Labels are normalised (``"0100"`` → ``"100"``, ``"XS"`` → ``"xs"``); duplicates
    are dropped, the order is kept.
    """
    if family not in FAMILIES:
        raise ResbenchError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    if sizes is None:
        return list(DEFAULT_SIZES[family])
    items = sizes.split(",") if isinstance(sizes, str) else list(sizes)
    labels: list[str] = []
    for item in items:
        text = str(item).strip().lower()
        if not text:
            continue
        if family == "drn" and text in DRN_PRESETS:
            label = text
        else:
            try:
                value = int(text)
            except ValueError:
                what = "a hidden width or a preset (xs, 1h, 2h, 3h, xl)"
                if family != "drn":
                    what = "a side length" if family == "grid" else "a node count"
                raise ResbenchError(
                    f"bad {family} size {str(item).strip()!r}: expected {what}"
                ) from None
            least = 1 if family == "drn" else 2
            if value < least:
                raise ResbenchError(f"{family} sizes must be integers >= {least}, got {value}")
            label = str(value)
        if label not in labels:
            labels.append(label)
    if not labels:
        raise ResbenchError("no sizes given")
    return labels


def build_circuit(family: str, size: str, seed: int = 0) -> Circuit:
    """The circuit of one size label (see :func:`parse_sizes`) with the generators'
    defaults (drn: preset gain for preset shapes, 1 otherwise; random inputs)."""
    from resbench import generate

    if family == "drn":
        if size in DRN_PRESETS:
            return generate.drn(preset=size, seed=seed)
        return generate.drn((DRN_INPUTS, int(size), DRN_OUTPUTS), seed=seed)
    if family == "grid":
        return generate.grid(int(size), int(size), seed=seed)
    if family == "random":
        return generate.random_network(int(size), seed=seed)
    raise ResbenchError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")


def circuit_bytes(circuit: Circuit) -> int:
    """Bytes held by the circuit's element arrays (node names not counted)."""
    return int(sum(br.a.nbytes + br.b.nbytes + br.value.nbytes for br in circuit.kinds().values()))


# --------------------------------------------------------------------------- memory
@dataclass
class MemoryUse:
    """Peak resident memory of one process during one run (bytes)."""

    peak: float
    base: float
    method: str  # "hwm" (kernel high-water mark) or "poll" (psutil polling)

    @property
    def delta(self) -> float:
        return max(0.0, self.peak - self.base)


def _proc_status(pid: int) -> dict[str, float] | None:
    """VmRSS and VmHWM of a process in bytes, or None (no /proc, process gone)."""
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = float(value.split()[0]) * 1024.0  # kB
    except OSError:
        return None
    return out if len(out) == 2 else None


def _reset_hwm(pid: int) -> bool:
    """Reset the kernel's peak-RSS mark of ``pid`` (Linux ≥ 4.0); False if not possible."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _rss(pid: int) -> float | None:
    st = _proc_status(pid)
    if st is not None:
        return st["VmRSS"]
    try:
        import psutil

        return float(psutil.Process(pid).memory_info().rss)
    except Exception:  # noqa: BLE001 - gone, or no psutil support
        return None


_LIBC: Any = None


def release_free_memory() -> None:
    """Collect garbage and hand freed heap back to the OS (glibc ``malloc_trim``)."""
    global _LIBC
    gc.collect()
    if _LIBC is None:
        name = ctypes.util.find_library("c")
        try:
            _LIBC = ctypes.CDLL(name) if name else False
        except OSError:
            _LIBC = False
    trim = getattr(_LIBC, "malloc_trim", None) if _LIBC else None
    if trim is not None:
        trim(0)


class PeakRSS:
    """Context manager: the peak RSS of process ``pid`` (default: this one) while open.

    Uses the kernel high-water mark (reset on entry, ``VmHWM`` on exit) where
    possible; ``poll=True`` (or no high-water mark) also polls the RSS every
    ``interval`` seconds in a thread.  The result is :attr:`result` (a
    :class:`MemoryUse`) after the block.
    """

    def __init__(self, pid: int | None = None, *, poll: bool = False, interval: float = 0.01):
        self.pid = os.getpid() if pid is None else int(pid)
        self.poll = poll
        self.interval = interval
        self.result: MemoryUse | None = None
        self._hwm = False
        self._max = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poller(self) -> None:
        try:
            import psutil

            proc = psutil.Process(self.pid)
            while True:
                self._max = max(self._max, float(proc.memory_info().rss))
                if self._stop.wait(self.interval):
                    break
        except Exception:  # noqa: BLE001 - the process went away (e.g. killed on timeout)
            return

    def __enter__(self) -> PeakRSS:
        self._hwm = _reset_hwm(self.pid)
        self.base = _rss(self.pid) or 0.0
        self._max = self.base
        if self.poll or not self._hwm:
            self._thread = threading.Thread(target=self._poller, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        st = _proc_status(self.pid) if self._hwm else None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if st is not None:
            self.result = MemoryUse(max(st["VmHWM"], self._max), self.base, "hwm")
        else:
            self.result = MemoryUse(self._max, self.base, "poll")


# --------------------------------------------------------------------------- options
@dataclass
class ScaleOptions:
    """Options of a scaling sweep (see ``resbench scale --help``)."""

    family: str = "drn"
    sizes: list[str] = field(default_factory=list)  # empty: the family's defaults
    solvers: tuple[str, ...] = ("cd", "spice")
    repeats: int = 5
    warmup: int = 1
    timeout: float = 600.0
    spice_max_size: int | None = None  # None: DEFAULT_SPICE_MAX[family]
    point_budget: float = DEFAULT_POINT_BUDGET
    atol: float = DEFAULT_ATOL
    seed: int = 0
    out: str = "results"
    write_netlists: str | None = None
    resume: bool = False

    def validate(self) -> None:
        if self.family not in FAMILIES:
            raise ResbenchError(
                f"unknown family {self.family!r}; choose one of {', '.join(FAMILIES)}"
            )
        self.sizes = parse_sizes(self.family, self.sizes or None)
        solvers: list[str] = []
        for s in self.solvers:
            key = str(s).strip().lower()
            if key not in SOLVER_IDS:
                raise ResbenchError(f"unknown solver {s!r}; choose from cd, spice")
            if SOLVER_IDS[key] not in solvers:
                solvers.append(SOLVER_IDS[key])
        if not solvers:
            raise ResbenchError("no solvers given; choose from cd, spice")
        self.solvers = tuple(solvers)
        if self.repeats < 1:
            raise ResbenchError(f"repeats must be >= 1, got {self.repeats}")
        if self.warmup < 0:
            raise ResbenchError(f"warmup must be >= 0, got {self.warmup}")
        if not self.timeout > 0:
            raise ResbenchError(f"timeout must be positive, got {self.timeout}")
        if self.spice_max_size is None:
            self.spice_max_size = DEFAULT_SPICE_MAX[self.family]
        if self.spice_max_size < 0:
            raise ResbenchError(f"spice max size must be >= 0, got {self.spice_max_size}")
        if not self.point_budget >= 0:
            raise ResbenchError(f"point budget must be >= 0, got {self.point_budget}")
        if not self.atol > 0:
            raise ResbenchError(f"atol must be positive, got {self.atol}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ResbenchError(f"seed must be an integer >= 0, got {self.seed!r}")

    def files(self) -> dict[str, Path]:
        out = Path(self.out)
        return {
            "samples": out / f"{STEM}_samples.csv",
            "summary": out / f"{STEM}_summary.csv",
            "markdown": out / f"{STEM}_summary.md",
            "sidecar": out / f"{STEM}.json",
            "plot": out / f"{STEM}.png",
        }


# --------------------------------------------------------------------------- runners
def _cd_runner(circuit: Circuit) -> Callable[[], Solution]:
    from resbench.solvers import solve

    def run() -> Solution:
        release_free_memory()
        with PeakRSS() as probe:
            sol = solve(circuit, "cd", certify=False)
        sol.info["memory"] = probe.result
        return sol

    return run


def _spice_runner(circuit: Circuit, timeout: float) -> Callable[[], Solution]:
    from resbench.solvers import solve
    from resbench.solvers.ngspice import get_worker

    def run() -> Solution:
        worker = get_worker()
        startup = None
        if not worker.alive():  # start it here so its pid is known before the run
            startup = worker.start()
        with PeakRSS(worker.pid, poll=True) as probe:
            sol = solve(circuit, "ngspice", certify=False, timeout=timeout)
        if startup is not None:
            sol.timings.setdefault("startup", startup)
        sol.info["memory"] = probe.result
        return sol

    return run


def _repeats_within(samples: Mapping[str, list[timing.Sample]], opts: ScaleOptions) -> int:
    """Measured repeats for one size: ``opts.repeats`` unless the warm-up shows they would
    take more than ``opts.point_budget`` seconds for the slowest solver (at least 1)."""
    if opts.point_budget <= 0:
        return opts.repeats
    longest = 0.0
    for ss in samples.values():
        for s in ss:
            longest = max(longest, float(s.timings.get("wall", s.timings.get("total", 0.0))))
    if longest <= 0 or longest * opts.repeats <= opts.point_budget:
        return opts.repeats
    return max(1, min(opts.repeats, int(opts.point_budget // longest)))


def _run_size(
    runners: dict[str, Callable[[], Solution]],
    opts: ScaleOptions,
    on_run: Callable[[timing.Sample], None] | None,
) -> dict[str, list[timing.Sample]]:
    """Warm-up, then the (budgeted) measured runs, interleaved: the samples per solver."""
    first = timing.run_interleaved(runners, repeats=0, warmup=opts.warmup, on_run=on_run)
    repeats = _repeats_within(first, opts)
    alive = {k: fn for k, fn in runners.items() if all(s.has_answer for s in first[k])}
    second = timing.run_interleaved(alive, repeats=repeats, warmup=0, on_run=on_run)
    return {k: first[k] + second.get(k, []) for k in runners}


# --------------------------------------------------------------------------- rows
def _memory(s: timing.Sample) -> MemoryUse | None:
    if s.solution is None:
        return None
    return s.solution.info.get("memory")


def _sample_row(base: dict, s: timing.Sample) -> dict:
    row = dict(base)
    row.update(s.as_row())
    mem = _memory(s)
    if mem is not None:
        row.update(peak_rss=mem.peak, mem_delta=mem.delta, mem_method=mem.method)
    return row


def _certificate(circuit: Circuit, sol: Solution | None) -> dict:
    from resbench.certificate import certify

    out: dict[str, Any] = {
        "certified": None,
        "feasibility": np.nan,
        "kcl": np.nan,
        "complementarity": np.nan,
    }
    if sol is None or sol.voltages is None or not np.all(np.isfinite(sol.voltages)):
        return out
    cert = certify(circuit, sol.voltages)
    sol.certificate = cert
    out.update(
        certified=bool(cert.ok),
        feasibility=float(cert.feasibility),
        kcl=float(cert.kcl),
        complementarity=float(cert.complementarity),
    )
    return out


def _solver_row(
    base: dict, solver: str, samples: list[timing.Sample], circuit: Circuit
) -> tuple[dict, Solution | None]:
    """Summary row of one solver at one size, and its final answer (or None)."""
    row = dict(base)
    row["solver"] = solver
    fin = timing.final_sample(samples)
    sol = fin.solution if fin is not None and fin.has_answer else None
    messages: list[str] = []
    if fin is None:
        status = ERROR
        messages.append("no run")
    elif not fin.has_answer:
        status = fin.status if fin.status in (TIMEOUT, FAILED) else ERROR
        messages.append(fin.error or fin.status)
    else:
        status = OK
    for key in ("total", "solve"):
        st = timing.timing_stats(samples, key)
        row.update({f"{key}_median": st.median, f"{key}_min": st.min, f"{key}_max": st.max})
    row["setup_median"] = timing.timing_stats(samples, "setup").median
    row["repeats"] = len(timing.measured(samples))
    for once in ("compile", "startup"):
        vals = [s.timings[once] for s in samples if s.timings.get(once) is not None]
        row[once] = max(vals) if vals else np.nan
    if sol is not None and solver == CD:  # ngspice reports no sweeps nor residual
        row["sweeps"] = sol.sweeps
        row["residual"] = sol.residual
    measured = [m for s in timing.measured(samples) if (m := _memory(s)) is not None]
    mems = measured or [m for s in samples if (m := _memory(s)) is not None]
    if mems:
        worst = max(mems, key=lambda m: m.peak)
        row["peak_rss"] = worst.peak
        row["mem_delta"] = max(m.delta for m in mems)
        row["mem_method"] = worst.method
        if solver == CD and row.get("resistors"):
            row["bytes_per_resistor"] = row["mem_delta"] / row["resistors"]
    try:
        row.update(_certificate(circuit, sol))
    except Exception as exc:  # noqa: BLE001 - the certificate must not lose the row
        status = ERROR
        messages.append(f"certificate: {type(exc).__name__}: {exc}")
    if status == OK and solver == CD and (sol.status != CONVERGED or not row["certified"]):
        status = UNCERTIFIED
        messages.append(
            f"cd answer not certified (status {sol.status}, kcl {row['kcl']:.3g} A, "
            f"feasibility {row['feasibility']:.3g} V)"
        )
    row["status"] = status
    row["message"] = "; ".join(messages) or None
    return row, sol


def _size_rows(
    circuit: Circuit, base: dict, samples: dict[str, list[timing.Sample]], opts: ScaleOptions
) -> list[dict]:
    """Summary rows of the solvers that ran at one size, with agreement and speedups."""
    from resbench.bench.compare import voltage_difference

    rows: dict[str, dict] = {}
    sols: dict[str, Solution | None] = {}
    for solver, ss in samples.items():
        rows[solver], sols[solver] = _solver_row(base, solver, ss, circuit)
    if CD in rows and SPICE in rows:
        fast, slow = samples[CD], samples[SPICE]
        both = {
            "speedup_total": timing.speedup(
                timing.timing_stats(slow, "total"), timing.timing_stats(fast, "total")
            ),
            "speedup_solve": timing.speedup(
                timing.timing_stats(slow, "solve"), timing.timing_stats(fast, "solve")
            ),
        }
        if sols[CD] is not None and sols[SPICE] is not None:
            dmax, drel, worst = voltage_difference(
                circuit, sols[CD].voltages, sols[SPICE].voltages, opts.atol
            )
            both.update(
                max_abs_diff=dmax,
                max_rel_diff=drel,
                worst_node=worst,
                agree=bool(dmax <= opts.atol),
            )
            if dmax > opts.atol:
                rows[SPICE]["message"] = "; ".join(
                    filter(
                        None,
                        [
                            rows[SPICE]["message"],
                            f"max |Δv| {dmax:.3g} V at node {worst} > atol {opts.atol:g} V",
                        ],
                    )
                )
        for r in rows.values():
            r.update(both)
    return [rows[s] for s in samples]


# --------------------------------------------------------------------------- files
def _repair_tail(path: Path) -> None:
    """Drop a partially written last line (a write cut short by a kill or a crash)."""
    if not path.exists():
        return
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        chunk = min(size, 1 << 20)
        while True:
            fh.seek(size - chunk)
            data = fh.read(chunk)
            k = data.rfind(b"\n")
            if k >= 0 or chunk == size:
                fh.truncate(size - chunk + k + 1 if k >= 0 else 0)
                return
            chunk = min(size, chunk * 2)


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    _repair_tail(path)
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=columns)
    try:
        df = pd.read_csv(path, dtype={"size": str, "family": str, "solver": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ResbenchError(
            f"cannot read {path}: {exc}; start a new sweep without --resume"
        ) from None
    if list(df.columns) != columns:
        raise ResbenchError(
            f"{path} does not have the columns of this version of resbench scale; "
            "start a new sweep without --resume, or use another --out"
        )
    return df


def _append_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    """Append rows (header if the file is new) and push them to disk."""
    if not rows:
        return
    df = pd.DataFrame(rows).reindex(columns=columns)
    new = not path.exists() or path.stat().st_size == 0
    text = df.to_csv(index=False, header=new, lineterminator="\n")
    with open(path, "a", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _resume_state(opts: ScaleOptions, paths: dict[str, Path]) -> set[tuple[str, str]]:
    """(size, solver) pairs already in the summary; drops samples of unfinished pairs."""
    summary = _read_csv(paths["summary"], SUMMARY_COLUMNS)
    samples = _read_csv(paths["samples"], SAMPLE_COLUMNS)
    if len(summary):
        fams = set(summary["family"].astype(str))
        seeds = {int(s) for s in summary["seed"]}
        if fams != {opts.family} or seeds != {opts.seed}:
            raise ResbenchError(
                f"{paths['summary']} holds family {', '.join(sorted(fams))} seed "
                f"{', '.join(map(str, sorted(seeds)))}, not {opts.family} seed {opts.seed}: "
                "resume with the same --family and --seed, or use another --out"
            )
    done = set(zip(summary["size"].astype(str), summary["solver"].astype(str), strict=True))
    if len(samples):
        keys = list(zip(samples["size"].astype(str), samples["solver"].astype(str), strict=True))
        keep = np.array([k in done for k in keys], dtype=bool)
        if not keep.all():  # samples of a size whose summary never got written: run it again
            tmp = paths["samples"].with_suffix(".csv.tmp")
            samples[keep].to_csv(tmp, index=False, lineterminator="\n")
            os.replace(tmp, paths["samples"])
    return done


# --------------------------------------------------------------------------- fits
def fit_power_law(resistors: Sequence[float], seconds: Sequence[float]) -> dict | None:
    """Least-squares line through (log10 resistors, log10 seconds): ``t ≈ a · R^k``.

    Returns ``{"exponent": k, "coefficient": a, "r2", "points", "resistors_min",
    "resistors_max"}`` over the finite positive points, or None with fewer than 2
    distinct sizes.
    """
    x = np.asarray(resistors, dtype=float)
    y = np.asarray(seconds, dtype=float)
    m = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[m], y[m]
    if np.unique(x).size < 2:
        return None
    lx, ly = np.log10(x), np.log10(y)
    k, b = np.polyfit(lx, ly, 1)
    pred = k * lx + b
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum((ly - pred) ** 2)) / ss_tot if ss_tot > 0 else 1.0
    return {
        "exponent": float(k),
        "coefficient": float(10.0**b),
        "r2": r2,
        "points": int(x.size),
        "resistors_min": int(x.min()),
        "resistors_max": int(x.max()),
    }


def fits(summary: pd.DataFrame) -> dict[str, dict[str, dict | None]]:
    """Power-law fits of median total and solve time per solver over the ``ok`` rows."""
    out: dict[str, dict[str, dict | None]] = {}
    if not len(summary):
        return out
    ok = summary[summary["status"] == OK]
    for solver in dict.fromkeys(summary["solver"].astype(str)):
        rows = ok[ok["solver"] == solver]
        out[solver] = {}
        for key in ("total", "solve"):
            f = fit_power_law(rows["resistors"], rows[f"{key}_median"])
            if f is not None:
                used = rows[np.isfinite(rows[f"{key}_median"]) & (rows[f"{key}_median"] > 0)]
                f["sizes"] = [str(s) for s in used["size"]]
            out[solver][key] = f
    return out


def exit_code(summary: pd.DataFrame) -> int:
    """2 if any row is error/timeout/failed; else 1 if a cd answer is uncertified or the
    solvers disagree; else 0 (``skipped`` rows are fine)."""
    if not len(summary):
        return 0
    statuses = set(summary["status"].astype(str))
    if statuses & set(ERROR_STATUSES):
        return 2
    agree = summary["agree"]
    if UNCERTIFIED in statuses or bool((agree.astype(str) == "False").any()):
        return 1
    return 0


# --------------------------------------------------------------------------- reports
def _mib(x: Any) -> float:
    try:
        return float(x) / 2**20
    except (TypeError, ValueError):
        return float("nan")


def markdown_summary(
    summary: pd.DataFrame,
    fit: Mapping[str, Mapping[str, dict | None]],
    opts: ScaleOptions,
    meta: Mapping[str, Any] | None = None,
    plot: str | None = None,
) -> str:
    """The markdown summary: the table, the fits, memory method, machine and command."""
    from resbench.bench.results import markdown_table

    s = summary
    table = pd.DataFrame(
        {
            "size": s["size"],
            "solver": s["solver"],
            "status": s["status"],
            "nodes": s["nodes"],
            "resistors": s["resistors"],
            "diodes": s["diodes"],
            "sources": s["vsources"].fillna(0) + s["isources"].fillna(0),
            "runs": s["repeats"],
            "total median (s)": s["total_median"],
            "total min (s)": s["total_min"],
            "total max (s)": s["total_max"],
            "solve median (s)": s["solve_median"],
            "sweeps": s["sweeps"],
            "peak RSS (MiB)": s["peak_rss"].map(_mib),
            "run memory (MiB)": s["mem_delta"].map(_mib),
            "B/resistor": s["bytes_per_resistor"],
            "speedup": s["speedup_total"],
            "max |Δv| (V)": s["max_abs_diff"],
            "certified": s["certified"],
        }
    )
    for col in ("nodes", "resistors", "diodes", "sources", "runs", "sweeps"):
        table[col] = table[col].map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    lines = [
        f"# resbench scale: {opts.family} (seed {opts.seed})",
        "",
        markdown_table(table, floatfmt=".3g"),
        f"Times are medians (min, max) of up to {opts.repeats} measured runs after "
        f"{opts.warmup} warm-up run(s), solvers interleaved; 'runs' is the number of measured "
        f"runs (fewer where they would exceed {opts.point_budget:g} s per size). Total excludes "
        "building the circuit and JIT compilation. Speedup = ngspice median total / cd median "
        "total, measured in the same run. ngspice is skipped above "
        f"{opts.spice_max_size:,} resistors. max |Δv| compares every node voltage (atol "
        f"{opts.atol:g} V).",
        "",
        "Memory: peak RSS of the process that ran the solver (ngspice: its worker child); "
        "run memory = that peak minus the RSS just before the run (kernel high-water mark "
        "VmHWM reset through /proc/PID/clear_refs; ngspice also polled); B/resistor = cd's "
        "run memory per resistor (the circuit itself, 16 B/resistor, is input and not counted).",
        "",
        "## Power-law fits (median time ≈ a · resistors^k, log-log least squares)",
        "",
        "| solver | time | k | a (s) | r² | points | resistors used | sizes used |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for solver, per in fit.items():
        for key, f in per.items():
            if f is None:
                lines.append(f"| {solver} | {key} | | | | <2 | | |")
                continue
            lines.append(
                f"| {solver} | {key} | {f['exponent']:.3f} | {f['coefficient']:.3g} | "
                f"{f['r2']:.4f} | {f['points']} | {f['resistors_min']:,} – "
                f"{f['resistors_max']:,} | {', '.join(f.get('sizes', []))} |"
            )
    lines.append("")
    if plot:
        lines += [f"![time and speedup vs resistors]({plot})", ""]
    if meta:
        m = meta.get("machine", {})
        v = meta.get("versions", {})
        lines += [
            f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory')}; load average "
            f"{meta.get('load_average')}. Python {v.get('python')}, numpy {v.get('numpy')}, "
            f"numba {v.get('numba')}, PySpice {v.get('PySpice')}, ngspice {v.get('ngspice')}.",
            f"Command: `{meta.get('command')}`",
            "",
        ]
    notes = s[s["message"].notna() & (s["status"] != SKIPPED)] if len(s) else s
    if len(notes):
        lines += ["## Notes", ""]
        for _, r in notes.iterrows():
            lines.append(f"- {r['size']} {r['solver']} ({r['status']}): {r['message']}")
        lines.append("")
    return "\n".join(lines)


def plot_scaling(
    summary: pd.DataFrame, fit: Mapping[str, Mapping[str, dict | None]], path: str | os.PathLike
) -> Path:
    """PNG: log-log median total time vs resistors per solver (min–max bars, fit lines),
    and the speedup vs resistors."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.8))
    ok = summary[(summary["status"] == OK) | (summary["status"] == UNCERTIFIED)]
    colors = {CD: "tab:blue", SPICE: "tab:red"}
    for solver in dict.fromkeys(summary["solver"].astype(str)):
        rows = ok[ok["solver"] == solver].sort_values("resistors")
        rows = rows[np.isfinite(rows["total_median"]) & (rows["total_median"] > 0)]
        if not len(rows):
            continue
        x = rows["resistors"].to_numpy(float)
        y = rows["total_median"].to_numpy(float)
        err = np.vstack([y - rows["total_min"].to_numpy(float), rows["total_max"] - y])
        color = colors.get(solver)
        ax.errorbar(x, y, yerr=np.clip(err, 0, None), fmt="o-", color=color, label=solver)
        f = fit.get(solver, {}).get("total")
        if f:
            xs = np.geomspace(f["resistors_min"], f["resistors_max"], 50)
            ax.plot(
                xs,
                f["coefficient"] * xs ** f["exponent"],
                "--",
                color=color,
                alpha=0.6,
                label=f"{solver} fit: k = {f['exponent']:.2f}",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("resistors")
    ax.set_ylabel("median total time (s)")
    ax.set_title("time vs network size")
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines:
        ax.legend()
    sp = summary[(summary["solver"] == CD) & np.isfinite(summary["speedup_total"].astype(float))]
    sp = sp.sort_values("resistors")
    if len(sp):
        bx.plot(sp["resistors"], sp["speedup_total"], "o-", color="tab:green", label="total")
        solve_sp = sp[np.isfinite(sp["speedup_solve"].astype(float))]
        if len(solve_sp):
            bx.plot(solve_sp["resistors"], solve_sp["speedup_solve"], "s--", color="tab:olive")
            bx.lines[-1].set_label("solve")
        bx.set_xscale("log")
        bx.set_yscale("log")
        bx.xaxis.set_minor_formatter(NullFormatter())  # no overlapping 2x10^4, 3x10^4 …
        bx.legend()
    else:
        bx.text(0.5, 0.5, "no size where both solvers ran", ha="center", va="center")
    bx.set_xlabel("resistors")
    bx.set_ylabel("speedup (ngspice / cd, median)")
    bx.set_title("speedup vs network size")
    bx.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _write_reports(
    opts: ScaleOptions, paths: dict[str, Path], command: str | None, started: str
) -> tuple[pd.DataFrame, pd.DataFrame, dict, int]:
    from resbench.bench.results import _jsonable, sidecar

    summary = _read_csv(paths["summary"], SUMMARY_COLUMNS)
    samples = _read_csv(paths["samples"], SAMPLE_COLUMNS)
    fit = fits(summary)
    code = exit_code(summary)
    plot = plot_scaling(summary, fit, paths["plot"]) if len(summary) else None
    meta = sidecar(
        command=command,
        extra={
            "kind": "scale",
            "options": asdict(opts),
            "fits": fit,
            "fit_method": "numpy.polyfit of log10(median time) on log10(resistors), ok rows",
            "memory_method": MEMORY_METHOD,
            "exit_code": code,
            "started": started,
            "load_average": _load_average(),
        },
    )
    paths["markdown"].write_text(
        markdown_summary(summary, fit, opts, meta, plot.name if plot else None), encoding="utf-8"
    )
    meta["files"] = {k: p.name for k, p in paths.items() if k != "plot" or plot is not None}
    paths["sidecar"].write_text(
        json.dumps(_jsonable(meta), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    return summary, samples, fit, code


# --------------------------------------------------------------------------- the sweep
def run_scale(
    family: str = "drn",
    sizes: str | Sequence[str | int] | None = None,
    *,
    solvers: Sequence[str] = ("cd", "spice"),
    repeats: int = 5,
    warmup: int = 1,
    timeout: float = 600.0,
    spice_max_size: int | None = None,
    point_budget: float = DEFAULT_POINT_BUDGET,
    atol: float = DEFAULT_ATOL,
    seed: int = 0,
    out: str | os.PathLike = "results",
    write_netlists: str | os.PathLike | None = None,
    resume: bool = False,
    command: str | None = None,
    on_start: Callable[[int], None] | None = None,
    on_run: Callable[[str, timing.Sample], None] | None = None,
    on_size: Callable[[str, list[dict]], None] | None = None,
) -> pd.DataFrame:
    """Run a scaling sweep (see the module docstring); returns the summary DataFrame.

    The summary has one row per size × solver (columns :data:`SUMMARY_COLUMNS`),
    including rows of earlier runs when ``resume``; ``df.attrs`` holds
    ``samples`` (DataFrame), ``fits``, ``exit_code`` and ``files`` (paths).
    Callbacks: ``on_start(planned_runs)`` (warm-up + repeats per pending size ×
    solver); ``on_run(size, sample)`` after every run; ``on_size(size, rows)``
    once a size's rows are on disk.
    """
    opts = ScaleOptions(
        family=family,
        sizes=parse_sizes(family, sizes) if family in FAMILIES else [],
        solvers=tuple(solvers),
        repeats=repeats,
        warmup=warmup,
        timeout=timeout,
        spice_max_size=spice_max_size,
        point_budget=point_budget,
        atol=atol,
        seed=seed,
        out=str(out),
        write_netlists=None if write_netlists is None else str(write_netlists),
        resume=resume,
    )
    opts.validate()
    paths = opts.files()
    Path(opts.out).mkdir(parents=True, exist_ok=True)
    started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    run_id = started
    if resume:
        done = _resume_state(opts, paths)
    else:
        done = set()
        for key in ("samples", "summary"):
            paths[key].unlink(missing_ok=True)
    todo = [(size, [s for s in opts.solvers if (size, s) not in done]) for size in opts.sizes]
    todo = [(size, ss) for size, ss in todo if ss]
    if on_start is not None:
        on_start(sum(len(ss) for _, ss in todo) * (opts.warmup + opts.repeats))
    if opts.write_netlists:
        Path(opts.write_netlists).mkdir(parents=True, exist_ok=True)

    for size, wanted in todo:
        base: dict[str, Any] = {"family": opts.family, "size": size, "seed": opts.seed}
        base["run_id"] = run_id
        rows: list[dict] = []
        sample_rows: list[dict] = []
        t0 = time.perf_counter()
        try:
            circuit = build_circuit(opts.family, size, opts.seed)
        except (ResbenchError, MemoryError, ValueError) as exc:
            msg = exc.format() if isinstance(exc, ResbenchError) else f"{type(exc).__name__}: {exc}"
            rows = [{**base, "solver": s, "status": ERROR, "message": msg} for s in wanted]
            _append_csv(paths["summary"], rows, SUMMARY_COLUMNS)
            if on_size is not None:
                on_size(size, rows)
            continue
        base["build_seconds"] = time.perf_counter() - t0
        base.update({k: v for k, v in circuit.sizes().items() if k in SUMMARY_COLUMNS})
        base["circuit_bytes"] = circuit_bytes(circuit)
        note = None
        if opts.write_netlists:
            note = _write_netlist(circuit, opts, size)
        runners: dict[str, Callable[[], Solution]] = {}
        skipped: list[dict] = []
        for solver in wanted:
            if solver == CD:
                runners[CD] = _cd_runner(circuit)
            elif len(circuit.resistors) > opts.spice_max_size:
                skipped.append(
                    {
                        **base,
                        "solver": SPICE,
                        "status": SKIPPED,
                        "message": f"{len(circuit.resistors):,} resistors > --spice-max-size "
                        f"{opts.spice_max_size:,}",
                    }
                )
            else:
                runners[SPICE] = _spice_runner(circuit, opts.timeout)
        if runners:
            hook = None if on_run is None else (lambda s, _size=size: on_run(_size, s))
            samples = _run_size(runners, opts, hook)
            sample_rows = [_sample_row(base, s) for ss in samples.values() for s in ss]
            rows = _size_rows(circuit, base, samples, opts)
            del samples
        rows += skipped
        if note:
            for r in rows:
                r["message"] = "; ".join(filter(None, [r.get("message"), note]))
        order = {s: i for i, s in enumerate(opts.solvers)}
        rows.sort(key=lambda r: order.get(r["solver"], 99))
        _append_csv(paths["samples"], sample_rows, SAMPLE_COLUMNS)
        _append_csv(paths["summary"], rows, SUMMARY_COLUMNS)
        del circuit, runners
        if on_size is not None:
            on_size(size, rows)

    summary, samples, fit, code = _write_reports(opts, paths, command, started)
    summary.attrs.update(samples=samples, fits=fit, exit_code=code, files=paths, options=opts)
    return summary


def _write_netlist(circuit: Circuit, opts: ScaleOptions, size: str) -> str | None:
    """Write the circuit as ``<family>_<size>_seed<seed>.cir``; a message on failure."""
    from resbench.netlist import write_netlist

    path = Path(opts.write_netlists or ".") / f"{opts.family}_{size}_seed{opts.seed}.cir"
    try:
        path.write_text(write_netlist(circuit), encoding="utf-8")
    except (OSError, ResbenchError) as exc:
        return f"netlist not written: {exc}"
    return None
