"""Size scaling: how each solver's cost grows with the network (``resbench scale``).

For each size of a generated network family (docs/design.md §7 benchmark rules):

1. the circuit is built in memory (:mod:`resbench.generate`; optionally also
   written as a netlist);
2. the solvers run under the rules of :mod:`resbench.bench.timing`: warm-up,
   then repeats interleaved A B A B …; ngspice is *skipped* (a row with status
   ``skipped``) above ``spice_max_size`` resistors;
3. every run records its peak memory (see *Memory* below);
4. both answers are certified from the circuit, and when both solvers ran the
   largest |Δv| between them is recorded, with the speedup (ratio of medians,
   ngspice / cd, total vs total and solve vs solve);
   peers (``solvers=("cd", "osqp", …)``: :func:`resbench.solvers.registry.peer_solver_names`)
   run in the same interleaved repeats, in this process under the same memory probe as
   cd; each gets a row with its status (:func:`resbench.bench.compare.peer_fields`:
   ``ok``, ``uncertified`` when it claims success on an answer the certificate
   rejects, ``disagree``, ``stalled``, ``not installed`` / ``not applicable`` with the
   reason in ``message``), its own ``claimed`` status, ``diff_vs_cd`` (largest |Δv|
   from the cd answer) and ``ratio_vs_cd`` (its median total over cd's).  Peer rows
   never change the exit code;
5. the rows of that size are appended to ``scale_samples.csv`` and
   ``scale_summary.csv`` and flushed to disk at once, so an interrupted sweep
   keeps every finished size; ``resume=True`` reads those files and skips the
   (size, solver) pairs already there, never repeating or losing a row.

At the end: power-law fits of median time against resistors per solver
(``time ≈ a · resistors^k``, least squares in log-log over the ``ok`` rows, the
range used stated), ``scale_summary.md``, the ``scale.json`` sidecar and
``scale.png`` (log-log time vs resistors, speedup vs resistors).

Cluster
-------
With ``cluster`` (``resbench scale --cluster local:N|tcp://HOST:PORT``) each pending
size is one cell on a Dask worker (:mod:`resbench.bench.cluster`): the worker builds
the circuit from (family, size, seed) and runs :func:`scale_cell`, the function the
in-process sweep runs; this process appends the rows as cells finish, each with the
worker's ``worker_host``, ``worker_cpu`` and ``worker_cores``.  See docs/cluster.md.

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

import datetime as _dt
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from resbench.bench import columns as C
from resbench.bench import timing
from resbench.bench.check import SKIPPED, check_answers, no_answer
from resbench.bench.fits import FIT_METHOD, MIN_R2_DRAWN, exponent_text, fit_power_law, fits
from resbench.bench.plots import PLOT_DPI, PLOT_FORMATS, plot_scaling
from resbench.bench.probes import MemoryUse, PeakRSS, release_free_memory
from resbench.bench.results import append_csv_rows, repair_tail
from resbench.bench.scale_files import FileRules, corrupt, read_scale_csv
from resbench.bench.scale_report import markdown_summary
from resbench.circuit import Circuit
from resbench.defaults import DEFAULT_ATOL, DEFAULT_TIMEOUT, DRN_PRESETS, FAMILIES
from resbench.errors import ResbenchError
from resbench.solution import Solution

__all__ = [
    "DEFAULT_SIZES",
    "DEFAULT_SPICE_MAX",
    "FAMILIES",
    "MIN_R2_DRAWN",
    "PLOT_DPI",
    "PLOT_FORMATS",
    "SAMPLE_COLUMNS",
    "SUMMARY_COLUMNS",
    "MemoryUse",
    "PeakRSS",
    "ScaleOptions",
    "build_circuit",
    "exponent_text",
    "fit_power_law",
    "fits",
    "markdown_summary",
    "plot_scaling",
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

#: solver names on the command line → solver ids in the result files
#: (both names are checked against the solver registry: timing.FAST_SOLVER, REFERENCE_SOLVER)
CD, SPICE = timing.FAST_SOLVER, timing.REFERENCE_SOLVER
SOLVER_IDS: dict[str, str] = {CD: CD, "spice": SPICE, SPICE: SPICE}


def solver_ids() -> dict[str, str]:
    """:data:`SOLVER_IDS` plus every registered peer (by its own name)."""
    from resbench.solvers.registry import peer_solver_names

    return {**SOLVER_IDS, **{p: p for p in peer_solver_names()}}


NOT_INSTALLED, NOT_APPLICABLE = "not installed", "not applicable"
PEER_STATUSES = ("disagree", "stalled", "sweep_limit", NOT_INSTALLED, NOT_APPLICABLE)
DRN_INPUTS, DRN_OUTPUTS = 1568, 10

#: Default sizes per family (drn: hidden width with 1568 inputs and 10 outputs, or a
#: preset; grid: side length; random: node count).  The drn sweep ends at 12.9M resistors.
DEFAULT_SIZES: dict[str, tuple[str, ...]] = {
    "drn": ("32", "64", "xs", "256", "512", "1h", "4096", "16384"),
    "grid": ("10", "20", "40", "70", "100", "150"),
    "random": ("100", "200", "500", "1000", "2000"),
    # chain: resistors; star: leaves; powergrid: side length (2 metal layers)
    "chain": ("1000", "10000", "100000", "1000000"),
    "star": ("1000", "10000", "100000", "1000000"),
    "powergrid": ("30", "100", "300", "1000"),
}
#: Default --spice-max-size (resistors) per family, chosen so the default sweep ends in
#: ≤ 10 minutes on a 2-core machine.  Measured ngspice .op times there (s): drn width 100
#: (79k resistors) 4–6, width 256 (202k) 20–29, width 512 (404k) 70; grid 100×100 (20k) 9,
#: 150×150 (45k) 47; random 2,000 nodes (4k) 1.4, 10,000 nodes (20k) > 120.
DEFAULT_SPICE_MAX: dict[str, int] = {
    "drn": 500_000,
    "grid": 20_000,
    "random": 5_000,
    "chain": 200_000,
    "star": 200_000,
    "powergrid": 30_000,
}
DEFAULT_POINT_BUDGET = 120.0
STEM = "scale"

OK, UNCERTIFIED, ERROR, ERROR_STATUSES = (
    timing.OK,
    timing.UNCERTIFIED,
    timing.ERROR,
    timing.ERROR_STATUSES,
)
FAILED = "failed"  # a cluster cell whose worker died (see resbench.bench.cluster)
#: the CSV columns, in order (declared in resbench.bench.columns)
SAMPLE_COLUMNS = C.csv_names(C.SCALE_SAMPLES)
SUMMARY_COLUMNS = C.csv_names(C.SCALE)


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
    if family == "chain":
        return generate.chain(int(size), seed=seed)
    if family == "star":
        return generate.star(int(size), seed=seed)
    if family == "powergrid":
        return generate.powergrid(int(size), int(size), seed=seed)
    raise ResbenchError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")


def circuit_bytes(circuit: Circuit) -> int:
    """Bytes held by the circuit's element arrays (node names not counted)."""
    return int(sum(br.a.nbytes + br.b.nbytes + br.value.nbytes for br in circuit.kinds().values()))


# --------------------------------------------------------------------------- options
@dataclass
class ScaleOptions:
    """Options of a scaling sweep (see ``resbench scale --help``)."""

    family: str = "drn"
    sizes: list[str] = field(default_factory=list)  # empty: the family's defaults
    solvers: tuple[str, ...] = ("cd", "spice")
    repeats: int = 5
    warmup: int = 1
    timeout: float = DEFAULT_TIMEOUT
    spice_max_size: int | None = None  # None: DEFAULT_SPICE_MAX[family]
    point_budget: float = DEFAULT_POINT_BUDGET
    atol: float = DEFAULT_ATOL
    seed: int = 0
    out: str = "results"
    write_netlists: str | None = None
    resume: bool = False
    plot_format: str = "png"
    #: per-solver options, ``{"osqp": {"eps_abs": 1e-9}}`` (peers only)
    solver_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``--cluster``: ``local:N`` or a scheduler address (None: in this process)
    cluster: str | None = None
    #: the summary has the worker columns (a cluster sweep, or resuming one)
    worker_columns: bool = False

    @property
    def peers(self) -> tuple[str, ...]:
        """The peer solvers of the sweep (those that are neither cd nor ngspice)."""
        return tuple(s for s in self.solvers if s not in (CD, SPICE))

    def columns(self) -> tuple[C.Column, ...]:
        """The summary's columns (:func:`resbench.bench.columns.scale_columns`), with
        :data:`resbench.bench.columns.WORKER` at the end in a cluster sweep."""
        cols = C.scale_columns(bool(self.peers))
        return cols + C.WORKER if self.cluster is not None or self.worker_columns else cols

    def validate(self) -> None:
        if self.family not in FAMILIES:
            raise ResbenchError(
                f"unknown family {self.family!r}; choose one of {', '.join(FAMILIES)}"
            )
        self.sizes = parse_sizes(self.family, self.sizes or None)
        solvers: list[str] = []
        ids = solver_ids()
        valid = ", ".join(k for k in ids if k != SPICE)
        for s in self.solvers:
            key = str(s).strip().lower()
            if key not in ids:
                raise ResbenchError(f"unknown solver {s!r}; choose from {valid}")
            if ids[key] not in solvers:
                solvers.append(ids[key])
        if not solvers:
            raise ResbenchError(f"no solvers given; choose from {valid}")
        if any(s not in (CD, SPICE) for s in solvers) and CD not in solvers:
            raise ResbenchError(
                "peers are checked against the cd answer: add cd to the solvers "
                f"(e.g. cd,{','.join(s for s in solvers if s != CD)})"
            )
        self.solvers = tuple(solvers)
        from resbench.solvers.registry import get_solver

        for name, given in self.solver_options.items():
            if name not in self.peers:
                raise ResbenchError(
                    f"options given for {name}: scale takes options for its peers only "
                    f"({', '.join(self.peers) or 'none in this sweep'})"
                )
            get_solver(name).check_options(given)
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
        self.plot_format = str(self.plot_format).lower()
        if self.plot_format not in PLOT_FORMATS:
            raise ResbenchError(
                f"plot format must be one of {', '.join(PLOT_FORMATS)}, got {self.plot_format!r}"
            )
        if self.cluster is not None:
            from resbench.bench.cluster import parse_cluster

            parse_cluster(self.cluster)

    def files(self) -> dict[str, Path]:
        out = Path(self.out)
        return {
            "samples": out / f"{STEM}_samples.csv",
            "summary": out / f"{STEM}_summary.csv",
            "markdown": out / f"{STEM}_summary.md",
            "sidecar": out / f"{STEM}.json",
            "plot": out / f"{STEM}.{self.plot_format}",
        }


# --------------------------------------------------------------------------- runners
def _cd_runner(circuit: Circuit) -> Callable[[], timing.Measurement]:
    """cd under a peak-RSS probe of this process; the memory use is the bench's record
    (``Measurement.extra["memory"]``), not written into the Solution."""
    from resbench.solvers import solve

    def run() -> timing.Measurement:
        release_free_memory()
        with PeakRSS() as probe:
            sol = solve(circuit, CD, certify=False)
        return timing.Measurement(sol, extra={"memory": probe.result})

    return run


def _peer_runner(
    circuit: Circuit, name: str, kw: dict[str, Any], unavailable: dict[str, str]
) -> Callable[[], timing.Measurement]:
    """A peer in this process under the same peak-RSS probe as cd; a
    :class:`~resbench.solvers.registry.SolverUnavailable` it raises is noted in
    ``unavailable`` (and re-raised: the harness stops running it)."""
    from resbench.solvers import solve
    from resbench.solvers.registry import SolverUnavailable

    def run() -> timing.Measurement:
        release_free_memory()
        try:
            with PeakRSS() as probe:
                sol = solve(circuit, name, certify=False, **kw)
        except SolverUnavailable as exc:
            unavailable[name] = f"{exc.status}: {exc.args[0] if exc.args else exc}"
            raise
        return timing.Measurement(sol, extra={"memory": probe.result})

    return run


def _spice_runner(circuit: Circuit, timeout: float) -> Callable[[], timing.Measurement]:
    """ngspice under a polling peak-RSS probe of its worker (started here when needed, so
    its pid is known before the run: that start-up time is the run's ``startup`` unless
    the solver reported one).  Memory and start-up are the bench's record."""
    from resbench.solvers import solve
    from resbench.solvers.ngspice import get_worker

    def run() -> timing.Measurement:
        worker = get_worker()
        startup = None
        if not worker.alive():  # start it here so its pid is known before the run
            startup = worker.start()
        with PeakRSS(worker.pid, poll=True) as probe:
            sol = solve(circuit, SPICE, certify=False, timeout=timeout)
        times = dict(sol.timings)
        if startup is not None:
            times.setdefault("startup", startup)
        return timing.Measurement(sol, times, {"memory": probe.result})

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
    runners: dict[str, timing.Runner],
    opts: ScaleOptions,
    on_run: Callable[[timing.Sample], None] | None,
    before_run: Callable[[str, str, int], None] | None = None,
) -> dict[str, list[timing.Sample]]:
    """Warm-up, then the (budgeted) measured runs, interleaved: the samples per solver."""
    first = timing.run_interleaved(
        runners, repeats=0, warmup=opts.warmup, on_run=on_run, before_run=before_run
    )
    repeats = _repeats_within(first, opts)
    alive = {k: fn for k, fn in runners.items() if all(s.has_answer for s in first[k])}
    second = timing.run_interleaved(
        alive, repeats=repeats, warmup=0, on_run=on_run, before_run=before_run
    )
    return {k: first[k] + second.get(k, []) for k in runners}


# --------------------------------------------------------------------------- rows
def _memory(s: timing.Sample) -> MemoryUse | None:
    """The run's memory use, as the bench's runner measured it (None when not measured)."""
    return s.extra.get("memory")


def _sample_row(base: dict, s: timing.Sample) -> dict:
    row = dict(base)
    row.update(s.as_row())
    mem = _memory(s)
    if mem is not None:
        row.update(peak_rss=mem.peak, mem_delta=mem.delta, mem_method=mem.method)
    return row


def _solver_row(base: dict, solver: str, samples: list[timing.Sample]) -> dict:
    """Summary row of one solver at one size: status (before its certificate), times,
    repeats, sweeps and memory."""
    row = dict(base)
    row["solver"] = solver
    fin = timing.final_sample(samples)
    failure = no_answer(fin)
    row["status"] = OK if failure is None else failure[0]
    row["message"] = None if failure is None else failure[1]
    sol = fin.solution if failure is None and fin is not None else None
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
    return row


def _add_message(row: dict, message: str) -> None:
    row["message"] = "; ".join(filter(None, [row.get("message"), message]))


def _final_answer(samples: list[timing.Sample] | None) -> Solution | None:
    fin = timing.final_sample(samples) if samples else None
    return fin.solution if fin is not None and fin.has_answer else None


def _peer_rows(
    circuit: Circuit,
    rows: dict[str, dict],
    samples: dict[str, list[timing.Sample]],
    opts: ScaleOptions,
    unavailable: dict[str, str],
) -> None:
    """Fill each peer's row in place from :func:`resbench.bench.compare.peer_fields`:
    status (``not installed``/``not applicable`` short, the reason in ``message``),
    ``claimed``, its certificate, ``diff_vs_cd`` and ``ratio_vs_cd``."""
    from resbench.bench.compare import peer_fields

    cd_answer = _final_answer(samples.get(CD))
    for name in opts.peers:
        row = rows.get(name)
        if row is None:
            continue
        f = peer_fields(
            circuit,
            name,
            samples.get(name),
            cd_answer,
            samples.get(CD),
            atol=opts.atol,
            unavailable=unavailable.get(name),
        )
        status = str(f["status"])
        if status.startswith((NOT_INSTALLED, NOT_APPLICABLE)):
            status = status.split(":")[0]
        row.update(
            status=status,
            message=f["message"],
            claimed=f["claimed"],
            diff_vs_cd=f.get("max_abs_diff"),
            ratio_vs_cd=f.get("ratio_total"),
            **{k: f.get(k) for k in ("certified", "feasibility", "kcl", "complementarity")},
        )
        if name in samples:
            sol = _final_answer(samples[name])
            if sol is not None:
                row["sweeps"] = sol.sweeps


def _size_rows(
    circuit: Circuit,
    base: dict,
    samples: dict[str, list[timing.Sample]],
    opts: ScaleOptions,
    unavailable: dict[str, str] | None = None,
) -> list[dict]:
    """Summary rows of the solvers that ran at one size, checked by
    :func:`~resbench.bench.check.check_answers`: each answer's certificate (a cd answer
    that fails it is ``uncertified``), and, when both ran, agreement and speedups (a
    disagreement is noted on the ngspice row and makes the exit code 1)."""
    rows = {solver: _solver_row(base, solver, ss) for solver, ss in samples.items()}
    check = check_answers(
        circuit, _final_answer(samples.get(CD)), _final_answer(samples.get(SPICE)), atol=opts.atol
    )
    for solver, answer in ((CD, check.fast), (SPICE, check.reference)):
        row = rows.get(solver)
        if row is None:
            continue
        row.update(answer.fields())
        if answer.error:
            row["status"] = ERROR
            _add_message(row, answer.error)
        elif row["status"] == OK and solver == CD and answer.uncertified:
            row["status"] = UNCERTIFIED
            _add_message(row, answer.uncertified_message(CD))
    if CD in rows and SPICE in rows:
        fast, slow = samples[CD], samples[SPICE]
        both: dict[str, Any] = {
            "speedup_total": timing.speedup(
                timing.timing_stats(slow, "total"), timing.timing_stats(fast, "total")
            ),
            "speedup_solve": timing.speedup(
                timing.timing_stats(slow, "solve"), timing.timing_stats(fast, "solve")
            ),
        }
        if check.agree is not None:
            both.update(check.difference_fields())
            if not check.agree:
                _add_message(rows[SPICE], check.disagree_message())
        for r in (rows[CD], rows[SPICE]):
            r.update(both)
    for name in unavailable or {}:
        if name not in rows:  # never run: its extra is missing
            rows[name] = {**base, "solver": name}
    _peer_rows(circuit, rows, samples, opts, unavailable or {})
    return [rows[s] for s in opts.solvers if s in rows]


# --------------------------------------------------------------------------- files
_repair_tail = repair_tail  # the old private name (tests cut files with it)
_append_csv = append_csv_rows


def _size_ok(family: str, size: str) -> bool:
    """Is ``size`` a normalised size label of ``family`` (what a sweep writes)?"""
    try:
        return parse_sizes(family, size) == [size]
    except ResbenchError:
        return False


#: what a row of a scale file may hold (anything else: a torn or edited file)
_RULES = FileRules(FAMILIES, (CD, SPICE), (OK, UNCERTIFIED, SKIPPED, *ERROR_STATUSES), _size_ok)


def _rules() -> FileRules:
    """:data:`_RULES` with the registered peers and their statuses."""
    from resbench.solvers.registry import peer_solver_names

    return FileRules(
        _RULES.families,
        (*_RULES.solvers, *peer_solver_names()),
        (*_RULES.statuses, *PEER_STATUSES),
        _RULES.size_ok,
    )


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    return read_scale_csv(path, columns, _rules())


def _resume_state(opts: ScaleOptions, paths: dict[str, Path]) -> set[tuple[str, str]]:
    """(size, solver) pairs already in the summary; drops samples of unfinished pairs."""
    from resbench.bench.results import atomic_write_csv

    summary, samples = check_resume(opts)
    done = set(zip(summary["size"].astype(str), summary["solver"].astype(str), strict=True))
    if len(samples):
        keys = list(zip(samples["size"].astype(str), samples["solver"].astype(str), strict=True))
        keep = np.array([k in done for k in keys], dtype=bool)
        if not keep.all():  # samples of a size whose summary never got written: run it again
            atomic_write_csv(paths["samples"], samples[keep])
    return done


def check_resume(opts: ScaleOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary and samples a ``--resume`` of ``opts`` would carry on (empty when
    there are none); a ResbenchError naming the file, what is wrong with it and what
    to do when they cannot be resumed (corrupt, or another family or seed)."""
    paths = opts.files()
    _adopt_layout(opts, paths["summary"])
    summary = _read_csv(paths["summary"], C.csv_names(opts.columns()))
    samples = _read_csv(paths["samples"], SAMPLE_COLUMNS)
    if len(summary):
        fams = sorted(set(summary["family"].astype(str)))
        seeds = sorted({int(s) for s in summary["seed"]})
        if len(fams) > 1 or len(seeds) > 1:
            raise corrupt(
                paths["summary"],
                f"rows of more than one sweep (family {' and '.join(fams)}, seed "
                f"{' and '.join(map(str, seeds))})",
            )
        if fams != [opts.family] or seeds != [opts.seed]:
            raise ResbenchError(
                f"cannot resume: {paths['summary']} holds a sweep of family {fams[0]}, seed "
                f"{seeds[0]} ({len(summary)} rows), but this run asks for family "
                f"{opts.family}, seed {opts.seed}. To carry on that sweep, resume with the "
                f"same --family and --seed (--family {fams[0]} --seed {seeds[0]} --resume); "
                f"to start a new one, drop --resume (the scale files in {opts.out} are then "
                "replaced) or use another --out"
            )
    return summary, samples


def _adopt_layout(opts: ScaleOptions, path: Path) -> None:
    """Resume across ``--cluster`` and in-process: an in-process resume of a cluster
    sweep keeps its worker columns (``opts.worker_columns``; new rows record this
    machine), and a cluster resume of an in-process sweep adds them, empty, to the rows
    already there (the summary is rewritten atomically).  Other headers are left for
    :func:`_read_csv` to judge."""
    from resbench.bench.results import atomic_write_csv

    try:
        with path.open(encoding="utf-8") as fh:
            header = fh.readline().rstrip("\n").split(",")
    except (OSError, UnicodeDecodeError):
        return
    plain = C.csv_names(C.scale_columns(bool(opts.peers)))
    workers = plain + C.csv_names(C.WORKER)
    if opts.cluster is None and header == workers:
        opts.worker_columns = True
    elif opts.cluster is not None and header == plain:
        old = _read_csv(path, plain)
        atomic_write_csv(path, old.reindex(columns=workers))


def _sweep_order(summary: pd.DataFrame, opts: ScaleOptions) -> pd.DataFrame:
    """The summary in sweep order (size as given, then solver): a cluster sweep appends
    rows in the order cells finish; an in-process one is already in this order."""
    if not len(summary):
        return summary
    sizes = {s: i for i, s in enumerate(opts.sizes)}
    solvers = {s: i for i, s in enumerate(opts.solvers)}
    key = [
        (sizes.get(str(z), len(sizes)), solvers.get(str(v), len(solvers)))
        for z, v in zip(summary["size"], summary["solver"], strict=True)
    ]
    order = sorted(range(len(key)), key=key.__getitem__)
    return summary.iloc[order].reset_index(drop=True)


def exit_code(summary: pd.DataFrame) -> int:
    """2 if any row is error/timeout/failed; else 1 if a cd answer is uncertified or the
    solvers disagree; else 0 (``skipped`` rows are fine; peers' rows never count)."""
    if not len(summary):
        return 0
    if "solver" in summary:
        summary = summary[summary["solver"].astype(str).isin((CD, SPICE))]
    statuses = set(summary["status"].astype(str))
    if statuses & set(ERROR_STATUSES):
        return 2
    agree = summary["agree"]
    if UNCERTIFIED in statuses or bool((agree.astype(str) == "False").any()):
        return 1
    return 0


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _write_reports(
    opts: ScaleOptions,
    paths: dict[str, Path],
    command: str | None,
    started: str,
    state: str = "complete",
) -> tuple[pd.DataFrame, pd.DataFrame, dict, int]:
    from resbench.bench.results import atomic_write_json, atomic_write_text, sidecar

    summary = _sweep_order(_read_csv(paths["summary"], C.csv_names(opts.columns())), opts)
    samples = _read_csv(paths["samples"], SAMPLE_COLUMNS)
    fit = fits(summary)
    code = exit_code(summary)
    plot = None
    if len(summary):
        plot = plot_scaling(
            summary, fit, paths["plot"], fmt=opts.plot_format, fast=CD, reference=SPICE
        )
    meta = sidecar(
        command=command,
        extra={
            "kind": "scale",
            "state": state,
            "options": asdict(opts),
            "fits": fit,
            "fit_method": FIT_METHOD,
            "memory_method": MEMORY_METHOD,
            "exit_code": code if state == "complete" else 130,
            "started": started,
            "load_average": _load_average(),
        },
    )
    markdown = markdown_summary(summary, fit, opts, meta, plot.name if plot else None)
    if state != "complete":
        head, _, rest = markdown.partition("\n\n")
        note = (
            f"**Interrupted** (Ctrl-C): the {len(summary)} rows below are the sizes that "
            "finished; run the same command with --resume to carry on."
        )
        markdown = f"{head}\n\n{note}\n\n{rest}"
    atomic_write_text(paths["markdown"], markdown)
    meta["files"] = {k: p.name for k, p in paths.items() if k != "plot" or plot is not None}
    atomic_write_json(paths["sidecar"], meta)
    return summary, samples, fit, code


# --------------------------------------------------------------------------- the sweep
def run_scale(
    family: str = "drn",
    sizes: str | Sequence[str | int] | None = None,
    *,
    solvers: Sequence[str] = ("cd", "spice"),
    repeats: int = 5,
    warmup: int = 1,
    timeout: float = DEFAULT_TIMEOUT,
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
    before_run: Callable[[str, str, str, int], None] | None = None,
    plot_format: str = "png",
    solver_options: dict[str, dict[str, Any]] | None = None,
    cluster: Any = None,
) -> pd.DataFrame:
    """Run a scaling sweep (see the module docstring); returns the summary DataFrame.

    The summary has one row per size × solver (the columns of
    :data:`resbench.bench.columns.SCALE`),
    including rows of earlier runs when ``resume``; ``df.attrs`` holds
    ``samples`` (DataFrame), ``fits``, ``exit_code`` and ``files`` (paths).
    ``plot_format`` is png, pdf or svg (``scale.<format>``, 200 dpi).
    Callbacks: ``on_start(planned_runs)`` (warm-up + repeats per pending size ×
    solver); ``before_run(size, solver, phase, repeat)`` before every run and
    ``on_run(size, sample)`` after it; ``on_size(size, rows)`` once a size's rows
    are on disk.

    The output folder is locked for the whole sweep (a second run on it stops with
    :class:`~resbench.bench.results.OutputBusyError`); every file is written
    atomically.  On Ctrl-C the finished sizes stay on disk, the reports (markdown,
    plot, sidecar with ``state: interrupted``) are written for them, and the
    KeyboardInterrupt goes on.

    ``cluster``: ``"local:N"`` or a Dask scheduler's address (or a
    ``distributed.Client``) to run one cell per size on its workers
    (:mod:`resbench.bench.cluster`): the rows are the same, plus the worker's host, CPU
    and cores; ``on_run``/``before_run`` are then not called (the runs happen on the
    workers), ``on_size`` is, as each size finishes.
    """
    from resbench.bench.results import claim_output

    client = None
    if cluster is not None and not isinstance(cluster, str):
        client, cluster = cluster, str(getattr(cluster.scheduler, "address", "client"))

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
        plot_format=plot_format,
        solver_options=dict(solver_options or {}),
        cluster=cluster,
    )
    opts.validate()
    paths = opts.files()
    with claim_output(opts.out, STEM, paths["plot"].name):
        if opts.cluster is not None and client is None:  # connect before touching any file
            from resbench.bench.cluster import connect

            with connect(opts.cluster) as client:
                return _run_scale(
                    opts, paths, command, on_start, on_run, on_size, before_run, client
                )
        return _run_scale(opts, paths, command, on_start, on_run, on_size, before_run, client)


def _run_scale(
    opts: ScaleOptions,
    paths: dict[str, Path],
    command: str | None,
    on_start: Callable[[int], None] | None,
    on_run: Callable[[str, timing.Sample], None] | None,
    on_size: Callable[[str, list[dict]], None] | None,
    before_run: Callable[[str, str, str, int], None] | None,
    client: Any = None,
) -> pd.DataFrame:
    from resbench.bench.results import output_error

    started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    run_id = started
    if opts.resume:
        done = _resume_state(opts, paths)
    else:
        done = set()
        for key in ("samples", "summary", "markdown", "sidecar", "plot"):  # no stale file
            try:
                paths[key].unlink(missing_ok=True)
            except OSError as exc:
                raise output_error(paths[key], exc, "replace") from None
    try:
        _sweep(opts, paths, done, run_id, on_start, on_run, on_size, before_run, client)
    except KeyboardInterrupt:
        _write_reports(opts, paths, command, started, state="interrupted")
        raise
    summary, samples, fit, code = _write_reports(opts, paths, command, started)
    summary.attrs.update(samples=samples, fits=fit, exit_code=code, files=paths, options=opts)
    return summary


def _sweep(
    opts: ScaleOptions,
    paths: dict[str, Path],
    done: set[tuple[str, str]],
    run_id: str,
    on_start: Callable[[int], None] | None,
    on_run: Callable[[str, timing.Sample], None] | None,
    on_size: Callable[[str, list[dict]], None] | None,
    before_run: Callable[[str, str, str, int], None] | None,
    client: Any = None,
) -> None:
    """Run every pending (size, solver) pair, appending each size's rows as it ends
    (in this process, or one cell per size on ``opts.cluster``)."""
    todo = [(size, [s for s in opts.solvers if (size, s) not in done]) for size in opts.sizes]
    todo = [(size, ss) for size, ss in todo if ss]
    if on_start is not None:
        on_start(sum(len(ss) for _, ss in todo) * (opts.warmup + opts.repeats))
    if opts.write_netlists:
        try:
            Path(opts.write_netlists).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResbenchError(
                f"cannot create the netlist folder {opts.write_netlists}: "
                f"{exc.strerror or exc}; use another --write-netlists"
            ) from None

    if opts.cluster is None:
        for size, wanted in todo:
            hook = None if on_run is None else (lambda s, _size=size: on_run(_size, s))
            pre = (
                None
                if before_run is None
                else (lambda so, ph, k, _size=size: before_run(_size, so, ph, k))
            )
            rows, sample_rows = scale_cell(opts, size, wanted, run_id, hook, pre)
            if opts.worker_columns:  # resuming a cluster sweep here: this machine
                from resbench.bench.cluster import worker_info

                for r in rows:
                    r.update(worker_info())
            _append_cell(opts, paths, rows, sample_rows)
            if on_size is not None:
                on_size(size, rows)
    else:
        _sweep_on_cluster(opts, paths, todo, run_id, on_size, client)


def _append_cell(
    opts: ScaleOptions, paths: dict[str, Path], rows: list[dict], sample_rows: list[dict]
) -> None:
    """Append one size's rows to the samples and summary files (each rewritten atomically)."""
    append_csv_rows(paths["samples"], sample_rows, SAMPLE_COLUMNS)
    cols = opts.columns()
    append_csv_rows(paths["summary"], C.csv_rows(cols, rows), C.csv_names(cols))


def _sweep_on_cluster(
    opts: ScaleOptions,
    paths: dict[str, Path],
    todo: list[tuple[str, list[str]]],
    run_id: str,
    on_size: Callable[[str, list[dict]], None] | None,
    client: Any,
) -> None:
    """One cell per pending size on the cluster's workers (:mod:`resbench.bench.cluster`):
    each worker generates its size from (family, size, seed) and runs
    :func:`scale_cell`; the rows are appended here as cells finish, each with the
    worker's host, CPU and cores.  A cell whose worker died (after the scheduler's
    retry) is a ``failed`` row per solver with the reason."""
    import dataclasses

    from resbench.bench import cluster

    remote = dataclasses.replace(
        opts,
        out=str(Path(opts.out).resolve()),
        write_netlists=None
        if opts.write_netlists is None
        else str(Path(opts.write_netlists).resolve()),
    )
    cells = [
        cluster.Cell(i, f"{opts.family} {size}", scale_cell, (remote, size, wanted, run_id))
        for i, (size, wanted) in enumerate(todo)
    ]

    def done(outcome: cluster.Outcome) -> None:
        size, wanted = todo[outcome.cell.index]
        if outcome.error is None:
            rows, sample_rows = outcome.result
        else:
            base = {"family": opts.family, "size": size, "seed": opts.seed, "run_id": run_id}
            rows = [
                {**base, "solver": s, "status": FAILED, "message": outcome.error} for s in wanted
            ]
            sample_rows = []
        for r in rows:
            r.update(outcome.worker)
        _append_cell(opts, paths, rows, sample_rows)
        if on_size is not None:
            on_size(size, rows)

    with cluster.connect(client if client is not None else opts.cluster) as c:
        cluster.run_cells(c, cells, done)


def scale_cell(
    opts: ScaleOptions,
    size: str,
    wanted: Sequence[str],
    run_id: str,
    on_run: Callable[[timing.Sample], None] | None = None,
    before_run: Callable[[str, str, int], None] | None = None,
) -> tuple[list[dict], list[dict]]:
    """One cell of a sweep: build the circuit of ``size`` from (family, size, seed), run
    the ``wanted`` solvers on it (warm-up, interleaved repeats) and return its summary
    rows (in solver order) and sample rows.  The in-process sweep and a cluster worker
    both run this, so they give the same rows; it writes no result file (only the
    netlist, with ``write_netlists``)."""
    base: dict[str, Any] = {"family": opts.family, "size": size, "seed": opts.seed}
    base["run_id"] = run_id
    rows: list[dict] = []
    sample_rows: list[dict] = []
    t0 = time.perf_counter()
    try:
        circuit = build_circuit(opts.family, size, opts.seed)
    except (ResbenchError, MemoryError, ValueError) as exc:
        msg = exc.format() if isinstance(exc, ResbenchError) else f"{type(exc).__name__}: {exc}"
        return [{**base, "solver": s, "status": ERROR, "message": msg} for s in wanted], []
    base["build_seconds"] = time.perf_counter() - t0
    base.update({k: v for k, v in circuit.sizes().items() if k in SUMMARY_COLUMNS})
    base["circuit_bytes"] = circuit_bytes(circuit)
    note = None
    if opts.write_netlists:
        note = _write_netlist(circuit, opts, size)
    runners: dict[str, timing.Runner] = {}
    skipped: list[dict] = []
    unavailable: dict[str, str] = {}
    for solver in wanted:
        if solver == CD:
            runners[CD] = _cd_runner(circuit)
        elif solver != SPICE:
            from resbench.solvers.registry import get_solver

            missing = get_solver(solver).missing()
            if missing is not None:
                unavailable[solver] = missing
            else:
                kw = dict(opts.solver_options.get(solver, {}))
                runners[solver] = _peer_runner(circuit, solver, kw, unavailable)
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
        samples = _run_size(runners, opts, on_run, before_run)
        sample_rows = [_sample_row(base, s) for ss in samples.values() for s in ss]
        rows = _size_rows(circuit, base, samples, opts, unavailable)
        del samples
    elif unavailable:
        rows = _size_rows(circuit, base, {}, opts, unavailable)
    rows += skipped
    if note:
        for r in rows:
            r["message"] = "; ".join(filter(None, [r.get("message"), note]))
    order = {s: i for i, s in enumerate(opts.solvers)}
    rows.sort(key=lambda r: order.get(r["solver"], 99))
    return rows, sample_rows


def _write_netlist(circuit: Circuit, opts: ScaleOptions, size: str) -> str | None:
    """Write the circuit as ``<family>_<size>_seed<seed>.cir``; a message on failure."""
    from resbench.netlist import write_netlist

    path = Path(opts.write_netlists or ".") / f"{opts.family}_{size}_seed{opts.seed}.cir"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # on a remote worker: its own disk
        path.write_text(write_netlist(circuit), encoding="utf-8")
    except (OSError, ResbenchError) as exc:
        return f"netlist not written: {exc}"
    return None
