"""Timing harness for the benchmark rules (docs/design.md §7).

* warm-up run(s) per solver first (JIT compilation, library loading), kept as
  raw samples with ``phase="warmup"`` but never part of the statistics;
* then ``repeats`` measured runs, interleaved between the solvers
  (A B A B …) so that drifts of the machine hit both alike;
* every run is a :class:`Sample` (raw timings, status, error); statistics are
  median / min / max over the measured runs that produced an answer.

A solver whose run fails, times out or raises is not run again for the same
job (a 600 s timeout is not worth repeating); its failing run is a sample with
its status, so no row is lost.

Measurements the bench makes itself (a CPU time, a peak memory, the inner totals of
a regress slot, the injected faults) belong to the bench's :class:`Sample`, never to
the solver's :class:`~resbench.solution.Solution`: a runner that makes them returns a
:class:`Measurement` (its Solution untouched, plus the bench's timings and ``extra``
values) instead of a bare Solution.
"""

from __future__ import annotations

import gc
import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from resbench.errors import ResbenchError
from resbench.solution import FAILED, TIMEOUT, Solution
from resbench.solvers.registry import SolverSpec, get_solver

WARMUP = "warmup"
MEASURE = "measure"
ERROR = "error"  # status of a run that raised instead of returning a Solution
_STOP_STATUSES = (FAILED, TIMEOUT, ERROR)


#: every timing a Sample may carry (seconds), in the column order of result files
TIMING_COLUMNS = (
    "setup",
    "solve",
    "total",
    "compile",
    "startup",
    "emit",
    "transfer",
    "load",
    "analysis",
    "fetch",
    "cleanup",
)
#: row statuses shared by compare and scale
OK = "ok"
UNCERTIFIED = "uncertified"
ERROR_STATUSES = _STOP_STATUSES  # failed, timed out, or raised: no answer


def timed_solver(name: str, *, exact: bool) -> SolverSpec:
    """The registry's spec of a solver that ``scale`` or ``regress`` times, so neither
    keeps its own idea of which solvers exist: an unregistered name raises
    :class:`~resbench.solvers.registry.UnknownSolverError` (naming the registered ones),
    and the spec's exactness must be ``exact`` (the fast solver's answer is certified,
    so it must be exact; ngspice, the reference it is timed against, is not)."""
    spec = get_solver(name)
    if spec.exact != exact:
        kind = "an exact" if exact else "an inexact reference"
        raise ResbenchError(f"solver {name!r} is not {kind} solver; the bench times it as one")
    return spec


#: the fast solver that ``scale`` and ``regress`` time, and the reference they time it
#: against (both checked against the solver registry at import)
FAST_SOLVER = timed_solver("cd", exact=True).name
REFERENCE_SOLVER = timed_solver("ngspice", exact=False).name


@dataclass
class Measurement:
    """What a runner returns when the bench measured something on top of the solver's
    answer: the solver's Solution (left as the solver made it, its voltages aside when
    a fault is injected), the timings of the run as the bench records them (``None``:
    the solver's own ``timings``), and bench-only values (``extra``: e.g. ``memory``,
    ``inner_totals``, ``injected_slowdown``, ``injected_error``).  Keeping them here
    stops bench measurements leaking into ``Solution.info`` / ``Solution.timings``."""

    solution: Solution
    timings: dict[str, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


#: a runner of the timing harness: a zero-argument callable giving a Solution, or a
#: Measurement when the bench adds measurements of its own
Runner = Callable[[], Solution | Measurement]


@dataclass
class Sample:
    """One run of one solver: its raw timings (seconds) and outcome."""

    solver: str
    phase: str  # "warmup" or "measure"
    repeat: int  # 0-based index within its phase
    status: str
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    sweeps: int | None = None
    residual: float | None = None
    solution: Solution | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)  # bench-only values (Measurement)

    @property
    def has_answer(self) -> bool:
        """True when the run produced voltages (any status but failed/timeout/error)."""
        return self.status not in _STOP_STATUSES

    def as_row(self) -> dict:
        """A flat dict for a samples table (no Solution object)."""
        row: dict = {
            "solver": self.solver,
            "phase": self.phase,
            "repeat": self.repeat,
            "status": self.status,
            "sweeps": self.sweeps,
            "residual": self.residual,
            "error": self.error,
        }
        row.update(self.timings)
        return row


@dataclass
class Stats:
    """median / min / max of one timing over the measured runs (NaN when none)."""

    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stats:
        vals = [float(v) for v in values if v is not None and math.isfinite(v)]
        if not vals:
            nan = float("nan")
            return cls(nan, nan, nan, 0)
        return cls(statistics.median(vals), min(vals), max(vals), len(vals))


def _run_once(solver: str, fn: Runner, phase: str, repeat: int) -> Sample:
    enabled = gc.isenabled()
    gc.disable()  # no cyclic-GC pause inside a timed run (the collector runs between runs)
    try:
        out = fn()
    except ResbenchError as exc:
        return Sample(solver, phase, repeat, ERROR, error=exc.format())
    except Exception as exc:  # a solver bug must not lose the other rows
        return Sample(solver, phase, repeat, ERROR, error=f"{type(exc).__name__}: {exc}")
    finally:
        if enabled:
            gc.enable()
    m = out if isinstance(out, Measurement) else Measurement(out)
    sol = m.solution
    return Sample(
        solver,
        phase,
        repeat,
        sol.status,
        timings=dict(sol.timings if m.timings is None else m.timings),
        error=sol.info.get("error") if sol.info else None,
        sweeps=sol.sweeps,
        residual=sol.residual,
        solution=sol,
        extra=dict(m.extra),
    )


def run_interleaved(
    runners: Mapping[str, Runner],
    *,
    repeats: int = 5,
    warmup: int = 1,
    on_run: Callable[[Sample], None] | None = None,
    before_run: Callable[[str, str, int], None] | None = None,
) -> dict[str, list[Sample]]:
    """Run each solver ``warmup`` times, then ``repeats`` times interleaved.

    ``runners`` maps a solver label to a zero-argument callable returning a
    Solution or a :class:`Measurement` (the same Circuit captured in each).  Order: all warm-ups
    (A B, A B …), then measured runs A B A B ….  ``before_run(solver, phase,
    repeat)`` is called before every run (a progress label names the solver that
    is running), ``on_run(sample)`` after it.  Returns the samples of each solver,
    in run order, warm-ups included (``phase="warmup"``).
    """
    if repeats < 0 or warmup < 0:
        raise ValueError("repeats and warmup must be >= 0")
    samples: dict[str, list[Sample]] = {name: [] for name in runners}
    stopped: set[str] = set()
    for phase, count in ((WARMUP, warmup), (MEASURE, repeats)):
        for k in range(count):
            for name, fn in runners.items():
                if name in stopped:
                    continue
                if before_run is not None:
                    before_run(name, phase, k)
                s = _run_once(name, fn, phase, k)
                samples[name].append(s)
                if not s.has_answer:
                    stopped.add(name)
                if on_run is not None:
                    on_run(s)
    return samples


def measured(samples: list[Sample]) -> list[Sample]:
    """The measured runs that produced an answer."""
    return [s for s in samples if s.phase == MEASURE and s.has_answer]


def timing_stats(samples: list[Sample], key: str = "total") -> Stats:
    """Statistics of ``timings[key]`` over the measured runs that produced an answer."""
    return Stats.of([s.timings.get(key, float("nan")) for s in measured(samples)])


def last_answer(samples: list[Sample]) -> Sample | None:
    """The last run that produced an answer (measured runs preferred)."""
    for phase in (MEASURE, WARMUP):
        for s in reversed(samples):
            if s.phase == phase and s.has_answer:
                return s
    return None


def final_sample(samples: list[Sample]) -> Sample | None:
    """The run that decides a solver's outcome: the failing one if it stopped, else the
    last answer."""
    if samples and not samples[-1].has_answer:
        return samples[-1]
    return last_answer(samples)


def speedup(slow: Stats, fast: Stats) -> float:
    """Ratio of medians ``slow / fast``; NaN when either is missing or is 0 (below the
    resolution of its clock: ngspice's batch accounting counts milliseconds)."""
    if slow.n == 0 or fast.n == 0 or not fast.median > 0 or not slow.median > 0:
        return float("nan")
    return slow.median / fast.median
