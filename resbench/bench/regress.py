"""Regression gate for speedups: a quick suite, a committed baseline, a statistical verdict.

The gate (``resbench regress``, issue 6) runs a **quick suite** of generated
circuits (fixed seeds, built in memory) with the fast solver (``cd``) and with
ngspice, under the benchmark rules (docs/design.md §7): warm-up, then ``n`` pairs of
runs interleaved ``cd ngspice cd ngspice …``.  Every pair gives one
**per-pair ratio** ``ngspice time / cd time``: both runs of a pair saw the
same state of the machine, so the ratio cancels most of a shared machine's
drift, and a speedup is never an absolute time compared across machines.

Two clocks give a pair's ratio.  ``wall``: the solvers' ``total`` times
(docs/design.md §7's headline).  ``cpu``: CPU seconds of every process doing the work
(cd: this process; ngspice: this process, which writes the netlist and reads
the answer, plus the ngspice worker process, read from
``/proc/<pid>/task/*/schedstat`` in nanoseconds).  The noise study showed why
both exist: on a loaded machine ngspice's wall time stretches (a long run
shares the CPU) while cd's sub-millisecond run does not (a process that just
woke up runs at once), so wall-clock speedups moved by up to 2.9× between runs
(CPU-time ones by up to 1.6×) and no factor separated that noise from a 3×
slowdown on the wall clock (results/noise_study.md).  The policy names the
clock the gate uses (default ``cpu``); both are measured and stored.

Per case the gate decides, against a committed baseline (``results/baseline.json``):

* **correctness** (exit 2): the cd answer converged and certifies
  (:func:`resbench.certificate.certify`), and every node voltage agrees with
  ngspice within ``atol``; a solver that fails or times out is a correctness
  failure too (nothing was checked);
* **speedup regression** (exit 1): the median per-pair ratio is below
  ``baseline median × factor`` *and* the drop is significant: a one-sided
  Mann–Whitney U test (``scipy.stats.mannwhitneyu``, ``alternative="less"``)
  of the current per-pair ratios against the baseline's raw ratios gives
  ``p < alpha`` (the policy of airspeed velocity: a large *and* significant
  change).  Both conditions are needed: the factor alone cries wolf on a noisy
  machine; the test alone flags tiny but consistent shifts;
* **sweeps** (exit 1): the deterministic sweep counter of cd must not exceed
  the baseline's by more than ``sweeps_tolerance`` (default 0: exact).  The
  counter is a pure function of the circuit and the algorithm (no timing, no
  threads, no fastmath in the kernels), so any increase is a real change of the
  algorithm's path; fewer sweeps is an improvement and only a note;
* **not comparable** (exit 3): a case missing from the baseline, a circuit
  that is not the one the baseline measured (fingerprints of its structure and
  its values at 12 significant digits differ; the message names the elements that
  differ and by how much), a different ngspice major version, or no usable baseline file.

When several apply, the most serious code wins: 2, then 1, then 3.

``RESBENCH_INJECT_SLOWDOWN=k`` (CLI ``--inject-slowdown``) makes the cd runner
solve every circuit ``k`` times and report the summed timings (``k`` × the
work: a stand-in for a change that makes the solver slower);
``RESBENCH_INJECT_ERROR=δ`` adds ``δ`` volts to every non-ground node of cd's
answer (a stand-in for a wrong answer).  Both exist to show the gate works;
they live in this module's runner wrapper, never in the solver.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from resbench.bench import timing
from resbench.bench.fingerprint import (
    SIGNIFICANT_DIGITS,
    circuit_digest,
    circuit_fingerprint,
    digest_differences,
)
from resbench.circuit import Circuit
from resbench.errors import ResbenchError
from resbench.solution import CONVERGED, Solution

# --------------------------------------------------------------------------- policy
#: Default factor: fail when the median speedup falls below baseline × FACTOR (and the
#: drop is significant).  Chosen from the noise study (results/noise_study.md: 10 runs,
#: half of them with 2 busy-loop processes competing for the 2 CPUs): on the cpu clock
#: every factor in 0.40–0.60 flagged no run against any other and flagged every run
#: slowed 3× (per suite run); 0.5 is the middle of that interval, 21 % below the worst
#: run-to-run drop seen (0.635).
DEFAULT_FACTOR = 0.5
DEFAULT_ALPHA = 0.05
CLOCKS = ("cpu", "wall")
DEFAULT_CLOCK = "cpu"
_TIMING_KEY = {"wall": "total", "cpu": "cpu"}
_RATIO_KEY = {"wall": "ratios", "cpu": "cpu_ratios"}
_MEDIAN_KEY = {"wall": "median", "cpu": "cpu_median"}
TEST_NAME = "mannwhitneyu-one-sided"
DEFAULT_SWEEPS_TOLERANCE = 0
DEFAULT_ATOL = 1e-6
DEFAULT_BASELINE = Path("results") / "baseline.json"
BASELINE_FORMAT = 1
FAST = "cd"
SPICE = "ngspice"

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_WRONG = 2
EXIT_NOT_COMPARABLE = 3

PASS = "pass"
REGRESSION = "regression"
WRONG = "wrong"
NOT_COMPARABLE = "not_comparable"
_EXIT_OF = {PASS: EXIT_OK, REGRESSION: EXIT_REGRESSION, WRONG: EXIT_WRONG}
_EXIT_OF[NOT_COMPARABLE] = EXIT_NOT_COMPARABLE
_SEVERITY = {EXIT_OK: 0, EXIT_NOT_COMPARABLE: 1, EXIT_REGRESSION: 2, EXIT_WRONG: 3}

SolveFn = Callable[[Circuit], Solution]


class BaselineError(ResbenchError):
    """The baseline file is missing, unreadable or malformed: runs are not comparable."""

    exit_code = EXIT_NOT_COMPARABLE


def worst_exit(codes: Iterable[int]) -> int:
    """The most serious of several exit codes: 2 (wrong), then 1 (regression), then 3."""
    return max(codes, key=lambda c: _SEVERITY[c], default=EXIT_OK)


@dataclass(frozen=True)
class Policy:
    """How the gate decides (stored in the baseline; CLI options override it)."""

    factor: float = DEFAULT_FACTOR
    alpha: float = DEFAULT_ALPHA
    test: str = TEST_NAME
    sweeps_tolerance: int = DEFAULT_SWEEPS_TOLERANCE
    clock: str = DEFAULT_CLOCK

    def validate(self) -> None:
        if not (isinstance(self.factor, int | float) and 0.0 < self.factor <= 1.0):
            raise ResbenchError(f"factor must be in (0, 1], got {self.factor!r}")
        if not (isinstance(self.alpha, int | float) and 0.0 < self.alpha < 1.0):
            raise ResbenchError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if self.test != TEST_NAME:
            raise ResbenchError(f"unknown test {self.test!r} (only {TEST_NAME!r})")
        if self.clock not in CLOCKS:
            raise ResbenchError(f"clock must be one of {', '.join(CLOCKS)}, got {self.clock!r}")
        if not (isinstance(self.sweeps_tolerance, int) and self.sweeps_tolerance >= 0):
            raise ResbenchError(
                f"sweeps tolerance must be an integer >= 0, got {self.sweeps_tolerance!r}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Policy:
        """The policy stored in a baseline (missing fields take the defaults)."""
        data = data or {}
        try:
            pol = cls(
                factor=float(data.get("factor", DEFAULT_FACTOR)),
                alpha=float(data.get("alpha", DEFAULT_ALPHA)),
                test=str(data.get("test", TEST_NAME)),
                sweeps_tolerance=int(data.get("sweeps_tolerance", DEFAULT_SWEEPS_TOLERANCE)),
                clock=str(data.get("clock", DEFAULT_CLOCK)),
            )
        except (TypeError, ValueError) as exc:
            raise BaselineError(f"baseline policy is malformed: {exc}") from None
        try:
            pol.validate()
        except ResbenchError as exc:
            raise BaselineError(f"baseline policy is invalid: {exc}") from None
        return pol

    def replace(self, **changes: Any) -> Policy:
        """A copy with the given fields changed (None values are ignored)."""
        data = asdict(self)
        data.update({k: v for k, v in changes.items() if v is not None})
        return Policy(**data)


# --------------------------------------------------------------------------- the suite
@dataclass(frozen=True)
class Case:
    """One circuit of the suite: built in memory, deterministic by its seed."""

    name: str
    build: Callable[[], Circuit]
    repeats: int = 7  # interleaved pairs
    description: str = ""
    inner: int = 1  # cd measurements per slot, median kept (see fast_runner)


def _drn_small() -> Circuit:
    from resbench.generate import drn

    return drn((64, 32, 32, 10), seed=1)


def _drn_xs() -> Circuit:
    from resbench.generate import drn

    return drn(preset="xs", seed=0)


def _grid() -> Circuit:
    from resbench.generate import grid

    return grid(30, 30, seed=0, clamps=True)


def _random_ff() -> Circuit:
    from resbench.generate import random_network

    return random_network(1000, seed=0, diodes=0.1, free_free=True)


#: The quick suite (≈ 1 minute here, ngspice included; DRN-XS's ngspice runs dominate).
QUICK_SUITE: tuple[Case, ...] = (
    Case("drn_small", _drn_small, 15, "DRN 64-32-32-10, seed 1 (diodes to ground)", 7),
    Case("drn_xs", _drn_xs, 9, "DRN-XS 1568-100-10, seed 0, gain 100 (paper size)", 7),
    Case("grid_30x30", _grid, 15, "30x30 grid with clamp diodes, seed 0 (slow for plain CD)"),
    Case(
        "random_1000_ff",
        _random_ff,
        11,
        "random network, 1000 nodes, 100 diodes, half free-free, seed 0 (polish)",
    ),
)


def select_cases(names: Sequence[str] | None, suite: Sequence[Case] | None = None) -> list[Case]:
    """The cases named (all when ``names`` is empty) from ``suite`` (default
    :data:`QUICK_SUITE`); an unknown name raises ResbenchError."""
    suite = QUICK_SUITE if suite is None else suite
    if not names:
        return list(suite)
    by_name = {c.name: c for c in suite}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ResbenchError(
            f"unknown case(s) {', '.join(unknown)}; the suite has {', '.join(by_name)}"
        )
    return [by_name[n] for n in dict.fromkeys(names)]


# --------------------------------------------------------------------------- runners
def default_fast() -> SolveFn:
    """The fast solver under test: resbench's numba CD (not certified inside the timing)."""
    from resbench.solvers import solve

    return lambda circuit: solve(circuit, FAST, certify=False)


def default_spice(timeout: float = 600.0) -> SolveFn:
    """ngspice (shared-library worker, ideal-diode switch) with a per-run timeout."""
    from resbench.solvers import solve

    return lambda circuit: solve(circuit, SPICE, certify=False, timeout=timeout)


def fast_runner(
    circuit: Circuit,
    solve_fn: SolveFn,
    *,
    slowdown: int = 1,
    perturb: float = 0.0,
    inner: int = 1,
) -> Callable[[], Solution]:
    """A zero-argument runner for the timing harness, with the injection switches.

    One call is one cd *slot* of a pair: ``inner`` consecutive measurements, of
    which the one with the median total is returned, its ``cpu`` time set to the
    median CPU time (a sub-millisecond solve is otherwise at the mercy of one
    scheduler preemption, ~4 ms on a shared machine; ``info["inner_totals"]``
    keeps them all).  ``timings["cpu"]`` is this process's CPU time around the
    solve, unless the solver reported one.  ``slowdown`` = k makes
    each measurement k solves and reports their *summed* setup, solve and total
    times (k × the work); ``perturb`` adds that many volts to every non-ground
    node of the answer (a wrong answer).
    """
    if not (isinstance(slowdown, int) and slowdown >= 1):
        raise ResbenchError(f"injected slowdown must be an integer >= 1, got {slowdown!r}")
    if not (isinstance(inner, int) and inner >= 1):
        raise ResbenchError(f"inner repeats must be an integer >= 1, got {inner!r}")
    if not math.isfinite(perturb):
        raise ResbenchError(f"injected error must be finite, got {perturb!r}")

    def measure() -> Solution:
        sums: dict[str, float] = {}
        compile_s = 0.0
        sol: Solution | None = None
        for _ in range(slowdown):
            t0 = time.process_time_ns()
            sol = solve_fn(circuit)
            sol.timings.setdefault("cpu", (time.process_time_ns() - t0) * 1e-9)
            for key in ("setup", "solve", "total", "cpu"):
                if key in sol.timings:
                    sums[key] = sums.get(key, 0.0) + float(sol.timings[key])
            compile_s = max(compile_s, float(sol.timings.get("compile", 0.0)))
        assert sol is not None
        if slowdown > 1:
            sol.timings.update(sums)
            if "compile" in sol.timings:
                sol.timings["compile"] = compile_s
            sol.info["injected_slowdown"] = slowdown
        return sol

    def run() -> Solution:
        sols = [measure() for _ in range(inner)]
        totals = [float(s.timings.get("total", math.nan)) for s in sols]
        failed = [s for s in sols if s.status != CONVERGED]
        if failed:  # never hide a failing measurement behind the median
            sol = failed[0]
        elif inner > 1:
            order = sorted(range(inner), key=lambda k: (not math.isfinite(totals[k]), totals[k]))
            sol = sols[order[(inner - 1) // 2]]
            cpus = [float(s.timings.get("cpu", math.nan)) for s in sols]
            sol.timings["cpu"] = _median_finite(cpus)
            compiles = [s.timings["compile"] for s in sols if "compile" in s.timings]
            if compiles:
                sol.timings["compile"] = max(compiles)
        else:
            sol = sols[0]
        if inner > 1:
            sol.info["inner_totals"] = totals
        if perturb and sol.voltages is not None:
            sol.voltages = np.asarray(sol.voltages, dtype=np.float64).copy()
            sol.voltages[1:] += perturb
            sol.info["injected_error"] = perturb
        return sol

    return run


def _median_finite(xs: Iterable[float]) -> float:
    vals = [x for x in xs if math.isfinite(x)]
    return statistics.median(vals) if vals else float("nan")


def process_cpu_ns(pid: int) -> int | None:
    """CPU nanoseconds used so far by every live thread of process ``pid`` (Linux
    ``/proc/<pid>/task/*/schedstat``), or None where that cannot be read."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    total = 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as fh:
                total += int(fh.read().split()[0])
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        except (OSError, ValueError, IndexError):
            return None
    return total


def spice_runner(circuit: Circuit, solve_fn: SolveFn) -> Callable[[], Solution]:
    """A zero-argument ngspice runner that adds ``timings["cpu"]``: this process's CPU
    time during the call plus the worker process's (``info["worker_pid"]``; known
    from the previous call, so a warm-up run has none).  Left out when the worker
    changed during the call or its CPU time cannot be read, or when the solver
    reported a ``cpu`` time itself."""
    state: dict[str, Any] = {"pid": None}

    def run() -> Solution:
        pid = state["pid"]
        before = process_cpu_ns(pid) if pid is not None else None
        t0 = time.process_time_ns()
        sol = solve_fn(circuit)
        own = time.process_time_ns() - t0
        new_pid = sol.info.get("worker_pid") if sol.info else None
        if "cpu" not in sol.timings and before is not None and new_pid == pid:
            after = process_cpu_ns(pid)
            if after is not None and after >= before:
                sol.timings["cpu"] = (own + after - before) * 1e-9
        state["pid"] = new_pid
        return sol

    return run


# --------------------------------------------------------------------------- one run
@dataclass
class CaseRun:
    """What one case of one run measured."""

    name: str
    description: str
    sizes: dict[str, int]
    fingerprint: str
    inner: int
    ratios: list[float]  # per-pair ngspice total / cd total (wall clock), in pair order
    cpu_ratios: list[float]  # per-pair ngspice CPU / cd CPU
    fast_totals: list[float]
    spice_totals: list[float]
    fast_cpu: list[float]
    spice_cpu: list[float]
    sweeps: int | None
    fast_status: str | None
    spice_status: str | None
    certified: bool | None
    max_abs_diff: float
    worst_node: str | None
    compile_s: float
    ngspice_major: int | None
    problems: list[str] = field(default_factory=list)  # correctness failures
    digest: dict[str, Any] | None = None  # circuit_digest, to say how circuits differ

    @property
    def median(self) -> float:
        """Median per-pair wall-clock speedup (NaN without pairs)."""
        return self.median_for("wall")

    def ratios_for(self, clock: str) -> list[float]:
        """The per-pair speedups of one clock ("wall" or "cpu")."""
        return self.cpu_ratios if clock == "cpu" else self.ratios

    def median_for(self, clock: str) -> float:
        r = self.ratios_for(clock)
        return statistics.median(r) if r else float("nan")

    @property
    def correct(self) -> bool:
        return not self.problems


@dataclass
class SuiteRun:
    """A run of the suite: one CaseRun per case and the raw samples."""

    cases: list[CaseRun]
    samples: pd.DataFrame
    ngspice_major: int | None
    options: dict[str, Any] = field(default_factory=dict)


def _major(sol: Solution | None) -> int | None:
    if sol is None:
        return None
    v = sol.info.get("ngspice_version") if sol.info else None
    try:
        return int(str(v).split(".")[0]) if v is not None else None
    except ValueError:
        return None


def cli_ngspice_major() -> int | None:
    """Major version of the installed ngspice program (when no run told us)."""
    from resbench import env

    _, version = env.ngspice_cli_version()
    try:
        return int(version.split(".")[0]) if version else None
    except ValueError:
        return None


def pair_ratios(
    fast: list[timing.Sample], spice: list[timing.Sample], key: str = "total"
) -> list[float]:
    """``spice timings[key] / fast timings[key]`` of each measured pair (same repeat
    index); pairs where either is missing or not positive are left out."""
    f = {s.repeat: s for s in timing.measured(fast)}
    out = []
    for s in timing.measured(spice):
        g = f.get(s.repeat)
        if g is None:
            continue
        a, b = s.timings.get(key), g.timings.get(key)
        if a is not None and b is not None and a > 0 and b > 0 and math.isfinite(a / b):
            out.append(float(a / b))
    return out


def _times(samples: list[timing.Sample], key: str) -> list[float]:
    return [float(s.timings[key]) for s in timing.measured(samples) if key in s.timings]


def run_case(
    case: Case,
    *,
    repeats: int | None = None,
    warmup: int = 1,
    atol: float = DEFAULT_ATOL,
    fast: SolveFn | None = None,
    spice: SolveFn | None = None,
    slowdown: int = 1,
    perturb: float = 0.0,
    on_run: Callable[[timing.Sample], None] | None = None,
) -> tuple[CaseRun, list[dict]]:
    """Build the case's circuit, run warm-up + interleaved pairs, check the answers."""
    from resbench.bench.compare import voltage_difference
    from resbench.certificate import certify

    fast = fast or default_fast()
    spice = spice or default_spice()
    n = case.repeats if repeats is None else repeats
    try:
        circuit = case.build()
    except ResbenchError as exc:
        raise ResbenchError(f"case {case.name}: cannot build its circuit: {exc}") from exc
    runners = {
        FAST: fast_runner(circuit, fast, slowdown=slowdown, perturb=perturb, inner=case.inner),
        SPICE: spice_runner(circuit, spice),
    }
    samples = timing.run_interleaved(runners, repeats=n, warmup=warmup, on_run=on_run)
    rows = [{"case": case.name, **s.as_row()} for ss in samples.values() for s in ss]
    fs, ss_ = samples[FAST], samples[SPICE]
    ffin, sfin = timing.final_sample(fs), timing.final_sample(ss_)
    fsol = ffin.solution if ffin is not None and ffin.has_answer else None
    ssol = sfin.solution if sfin is not None and sfin.has_answer else None
    problems: list[str] = []
    for who, fin in ((FAST, ffin), (SPICE, sfin)):
        if fin is None:
            problems.append(f"{who}: no run")
        elif not fin.has_answer:
            problems.append(f"{who} {fin.status}: {fin.error or 'no answer'}")
    certified: bool | None = None
    dmax, worst = float("nan"), None
    if fsol is not None:
        if fsol.status != CONVERGED:
            problems.append(f"{FAST} did not converge (status {fsol.status})")
        if np.all(np.isfinite(fsol.voltages)):
            cert = certify(circuit, fsol.voltages)
            certified = bool(cert.ok)
            if not cert.ok:
                problems.append(f"{FAST} answer not certified: {cert.summary()}")
        else:
            certified = False
            problems.append(f"{FAST} answer has non-finite voltages")
    if fsol is not None and ssol is not None:
        dmax, _, worst = voltage_difference(circuit, fsol.voltages, ssol.voltages, atol)
        if not dmax <= atol:
            problems.append(f"max |Δv| {dmax:.3g} V at node {worst} > atol {atol:g} V")
    compiles = [s.timings.get("compile") for s in fs if s.timings.get("compile") is not None]
    run = CaseRun(
        name=case.name,
        description=case.description,
        sizes=circuit.sizes(),
        fingerprint=circuit_fingerprint(circuit),
        digest=circuit_digest(circuit),
        inner=case.inner,
        ratios=pair_ratios(fs, ss_, "total"),
        cpu_ratios=pair_ratios(fs, ss_, "cpu"),
        fast_totals=_times(fs, "total"),
        spice_totals=_times(ss_, "total"),
        fast_cpu=_times(fs, "cpu"),
        spice_cpu=_times(ss_, "cpu"),
        sweeps=int(fsol.sweeps) if fsol is not None else None,
        fast_status=ffin.status if ffin is not None else None,
        spice_status=sfin.status if sfin is not None else None,
        certified=certified,
        max_abs_diff=float(dmax),
        worst_node=worst,
        compile_s=float(max(compiles)) if compiles else float("nan"),
        ngspice_major=_major(ssol),
        problems=problems,
    )
    if not run.ratios and not problems:
        run.problems.append("no measured pair produced a speedup")
    return run, rows


def run_suite(
    cases: Sequence[Case] | None = None,
    *,
    repeats: int | None = None,
    warmup: int = 1,
    atol: float = DEFAULT_ATOL,
    timeout: float = 600.0,
    slowdown: int = 1,
    perturb: float = 0.0,
    fast: SolveFn | None = None,
    spice: SolveFn | None = None,
    on_run: Callable[[str, timing.Sample], None] | None = None,
    on_case: Callable[[CaseRun], None] | None = None,
) -> SuiteRun:
    """Run every case (see :func:`run_case`); ``fast``/``spice`` replace the solvers
    (stand-ins for tests), ``timeout`` bounds each ngspice run of the default one."""
    if repeats is not None and repeats < 1:
        raise ResbenchError(f"repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise ResbenchError(f"warmup must be >= 0, got {warmup}")
    if not atol > 0:
        raise ResbenchError(f"atol must be positive, got {atol}")
    cases = QUICK_SUITE if cases is None else cases
    fast = fast or default_fast()
    spice = spice or default_spice(timeout)
    runs: list[CaseRun] = []
    rows: list[dict] = []
    for case in cases:
        cb = None if on_run is None else (lambda s, _n=case.name: on_run(_n, s))
        run, srows = run_case(
            case,
            repeats=repeats,
            warmup=warmup,
            atol=atol,
            fast=fast,
            spice=spice,
            slowdown=slowdown,
            perturb=perturb,
            on_run=cb,
        )
        runs.append(run)
        rows.extend(srows)
        if on_case is not None:
            on_case(run)
    majors = [r.ngspice_major for r in runs if r.ngspice_major is not None]
    major = majors[0] if majors else None
    options = {
        "repeats": repeats,
        "warmup": warmup,
        "atol": atol,
        "timeout": timeout,
        "injected_slowdown": slowdown,
        "injected_error": perturb,
    }
    return SuiteRun(runs, pd.DataFrame(rows), major, options)


# --------------------------------------------------------------------------- the decision
@dataclass
class SpeedTest:
    """The speedup half of the gate for one case."""

    median_now: float
    median_base: float
    threshold: float  # baseline median × factor
    pvalue: float  # one-sided Mann–Whitney U: current ratios < baseline ratios
    below: bool
    significant: bool

    @property
    def regressed(self) -> bool:
        return self.below and self.significant

    @property
    def relative(self) -> float:
        """Current median / baseline median."""
        if not self.median_base > 0:
            return float("nan")
        return self.median_now / self.median_base


def _finite_positive(xs: Iterable[float]) -> list[float]:
    out = []
    for x in xs:
        try:
            fx = float(x)
        except (TypeError, ValueError):
            continue
        if math.isfinite(fx) and fx > 0:
            out.append(fx)
    return out


def speed_test(
    current: Sequence[float],
    baseline: Sequence[float],
    *,
    factor: float = DEFAULT_FACTOR,
    alpha: float = DEFAULT_ALPHA,
) -> SpeedTest:
    """Is ``current`` (per-pair speedups) a regression against ``baseline``'s raw ratios?

    Regressed when ``median(current) < median(baseline) × factor`` and the one-sided
    Mann–Whitney U test (H1: current is stochastically smaller) gives ``p < alpha``.
    """
    from scipy.stats import mannwhitneyu

    cur, base = _finite_positive(current), _finite_positive(baseline)
    if not cur or not base:
        raise ResbenchError("speed test needs at least one positive ratio on each side")
    m_now, m_base = statistics.median(cur), statistics.median(base)
    thr = m_base * factor
    p = float(mannwhitneyu(cur, base, alternative="less").pvalue)
    return SpeedTest(m_now, m_base, thr, p, bool(m_now < thr), bool(p < alpha))


@dataclass
class CaseVerdict:
    """The gate's decision on one case, with its reasons."""

    name: str
    verdict: str  # pass | regression | wrong | not_comparable
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    speed: SpeedTest | None = None
    sweeps_now: int | None = None
    sweeps_base: int | None = None
    run: CaseRun | None = None

    @property
    def exit_code(self) -> int:
        return _EXIT_OF[self.verdict]


@dataclass
class GateResult:
    """Everything the gate decided: per-case verdicts and the exit code."""

    verdicts: list[CaseVerdict]
    exit_code: int
    policy: Policy
    run: SuiteRun
    baseline: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    baseline_path: str | None = None


def _decide(codes: list[int]) -> str:
    worst = worst_exit(codes)
    return {v: k for k, v in _EXIT_OF.items()}[worst]


def judge_case(
    run: CaseRun,
    base: Mapping[str, Any] | None,
    policy: Policy,
    *,
    spice_comparable: bool = True,
) -> CaseVerdict:
    """Decide one case (see the module docstring for the rules)."""
    reasons: list[str] = []
    notes: list[str] = []
    codes: list[int] = [EXIT_OK]
    v = CaseVerdict(run.name, PASS, reasons, notes, sweeps_now=run.sweeps, run=run)
    if run.problems:
        codes.append(EXIT_WRONG)
        reasons.extend(run.problems)
    comparable = True
    if base is None:
        codes.append(EXIT_NOT_COMPARABLE)
        reasons.append("case missing from the baseline (run `resbench regress --update`)")
        comparable = False
    elif base.get("fingerprint") != run.fingerprint:
        codes.append(EXIT_NOT_COMPARABLE)
        diffs = (
            digest_differences(base["digest"], run.digest)
            if isinstance(base.get("digest"), dict) and run.digest is not None
            else []
        )
        detail = "; ".join(diffs) if diffs else "the baseline has no per-element digest"
        reasons.append(
            f"circuit differs from the baseline's (fingerprint {run.fingerprint} vs "
            f"{base.get('fingerprint')}; values compared at {SIGNIFICANT_DIGITS} significant "
            f"digits): {detail}; if the circuit changed on purpose, refresh the baseline "
            "with `resbench regress --update`"
        )
        comparable = False
    if base is not None:
        bs = base.get("sweeps")
        v.sweeps_base = int(bs) if isinstance(bs, int | float) else None
    if comparable and v.sweeps_base is not None and run.sweeps is not None:
        tol = policy.sweeps_tolerance
        if run.sweeps > v.sweeps_base + tol:
            codes.append(EXIT_REGRESSION)
            reasons.append(
                f"sweeps to converge rose from {v.sweeps_base} to {run.sweeps} "
                f"(tolerance {tol}): the algorithm now does more work"
            )
        elif run.sweeps < v.sweeps_base - tol:
            notes.append(
                f"sweeps fell from {v.sweeps_base} to {run.sweeps} (an improvement); "
                "refresh the baseline with --update"
            )
    if comparable and not spice_comparable:
        comparable = False  # the run-level reason is reported once, in the gate notes
        codes.append(EXIT_NOT_COMPARABLE)
        reasons.append("ngspice major version differs from the baseline's")
    now_ratios = run.ratios_for(policy.clock)
    if comparable and not now_ratios and not run.problems:
        codes.append(EXIT_NOT_COMPARABLE)
        reasons.append(f"no {policy.clock} speedup measured in this run")
    if comparable and now_ratios:
        base_ratios = _finite_positive((base or {}).get(_RATIO_KEY[policy.clock]) or [])
        if not base_ratios:
            codes.append(EXIT_NOT_COMPARABLE)
            reasons.append(f"baseline has no per-pair {policy.clock} ratios for this case")
        else:
            st = speed_test(now_ratios, base_ratios, factor=policy.factor, alpha=policy.alpha)
            v.speed = st
            if st.regressed:
                codes.append(EXIT_REGRESSION)
                reasons.append(
                    f"{policy.clock} speedup {st.median_now:.3g}× < baseline "
                    f"{st.median_base:.3g}× × {policy.factor:g} = {st.threshold:.3g}× and "
                    f"significant (Mann–Whitney p = {st.pvalue:.3g} < {policy.alpha:g})"
                )
            elif st.below:
                notes.append(
                    f"speedup below the threshold but not significant (p = {st.pvalue:.3g})"
                )
            elif st.significant:
                notes.append(
                    f"speedup {st.relative:.2f}× of baseline: significantly lower "
                    f"(p = {st.pvalue:.3g}) but within the factor {policy.factor:g}"
                )
    v.verdict = _decide(codes)
    return v


def gate(
    run: SuiteRun,
    baseline: Mapping[str, Any],
    policy: Policy | None = None,
    *,
    baseline_path: str | None = None,
) -> GateResult:
    """Judge every case of ``run`` against ``baseline`` (see the module docstring).

    ``policy`` defaults to the baseline's (then to the module defaults).
    """
    if policy is None:
        policy = Policy.from_dict(baseline.get("policy"))
    policy.validate()
    notes: list[str] = []
    base_cases = baseline.get("cases") or {}
    base_major = baseline.get("ngspice_major")
    spice_ok = True
    if run.ngspice_major is None:
        notes.append("ngspice version unknown in this run (no ngspice answer)")
    elif base_major is None:
        notes.append("baseline does not record an ngspice version")
        spice_ok = False
    elif int(base_major) != int(run.ngspice_major):
        spice_ok = False
        notes.append(
            f"not comparable: ngspice {run.ngspice_major} here, baseline measured ngspice "
            f"{base_major} (speedups over a different ngspice mean different things); "
            "refresh the baseline with --update"
        )
    verdicts = [
        judge_case(r, base_cases.get(r.name), policy, spice_comparable=spice_ok) for r in run.cases
    ]
    ran = {r.name for r in run.cases}
    skipped = [n for n in base_cases if n not in ran]
    if skipped:
        notes.append(f"baseline cases not run: {', '.join(skipped)}")
    here = _machine_key(_current_machine())
    there = _machine_key(baseline.get("machine") or {})
    if there and here != there:
        notes.append(
            f"baseline was measured on another machine ({there}; here {here}): speedups "
            "move between machines, so a refreshed baseline on this machine is safer"
        )
    inj = run.options
    if inj.get("injected_slowdown", 1) != 1 or inj.get("injected_error", 0.0):
        notes.append(
            f"injected: slowdown ×{inj.get('injected_slowdown', 1)}, "
            f"error {inj.get('injected_error', 0.0):g} V (a test of the gate)"
        )
    code = worst_exit([v.exit_code for v in verdicts] or [EXIT_OK])
    if not verdicts:
        code = EXIT_NOT_COMPARABLE
        notes.append("no case was run")
    return GateResult(verdicts, code, policy, run, dict(baseline), notes, baseline_path)


def _current_machine() -> dict[str, Any]:
    from resbench.bench.results import machine_fingerprint

    return machine_fingerprint()


def _machine_key(m: Mapping[str, Any]) -> str:
    if not m:
        return ""
    return f"{m.get('cpu')}, {m.get('cores')} cores, {m.get('memory')}"


# --------------------------------------------------------------------------- baseline file
def make_baseline(run: SuiteRun, policy: Policy, *, command: str | None = None) -> dict[str, Any]:
    """A baseline document from a run: per case the raw ratios, median, sweeps, sizes and
    circuit fingerprint; the ngspice major version, the policy and the sidecar fields."""
    from resbench.bench.results import _jsonable, sidecar

    policy.validate()
    if any(r.problems for r in run.cases):
        bad = ", ".join(r.name for r in run.cases if r.problems)
        raise ResbenchError(f"refusing to write a baseline from a run with wrong answers ({bad})")
    opts = run.options
    if opts.get("injected_slowdown", 1) != 1 or opts.get("injected_error", 0.0):
        raise ResbenchError("refusing to write a baseline from a run with injected faults")
    meta = sidecar(command=command)
    doc: dict[str, Any] = {
        "format": BASELINE_FORMAT,
        "kind": "regress-baseline",
        "metric": "per-pair speedup = ngspice time / cd time of the same interleaved pair; "
        "ratios: total (wall) times, cpu_ratios: CPU times of every process doing the work",
        "policy": asdict(policy),
        "ngspice_major": run.ngspice_major,
        "options": {k: opts.get(k) for k in ("repeats", "warmup", "atol", "timeout")},
        "cases": {},
    }
    for r in run.cases:
        doc["cases"][r.name] = {
            "description": r.description,
            "sizes": r.sizes,
            "fingerprint": r.fingerprint,
            "digest": r.digest,
            "pairs": len(r.ratios),
            "cd_inner": r.inner,
            "median": r.median,
            "ratios": r.ratios,
            "cpu_median": r.median_for("cpu"),
            "cpu_ratios": r.cpu_ratios,
            "sweeps": r.sweeps,
            "cd_total_median": _median_finite(r.fast_totals),
            "ngspice_total_median": _median_finite(r.spice_totals),
            "cd_cpu_median": _median_finite(r.fast_cpu),
            "ngspice_cpu_median": _median_finite(r.spice_cpu),
            "max_abs_diff": r.max_abs_diff,
        }
    for key in ("timestamp", "command", "machine", "versions", "threads", "git"):
        doc[key] = meta.get(key)
    return _jsonable(doc)


def save_baseline(path: str | os.PathLike, doc: Mapping[str, Any]) -> Path:
    """Write a baseline document (pretty JSON, trailing newline)."""
    from resbench.bench.results import atomic_write_text, ensure_output_dir

    p = Path(path)
    ensure_output_dir(p.parent, option="--baseline")
    return atomic_write_text(
        p, json.dumps(doc, indent=2, allow_nan=False) + "\n", option="--baseline"
    )


def load_baseline(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a baseline; BaselineError (exit 3) when it is missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise BaselineError(
            f"no baseline at {p}: create one with `resbench regress --update --baseline {p}`"
        )
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"cannot read baseline {p}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), dict):
        raise BaselineError(f"{p} is not a resbench baseline (no 'cases' table)")
    if doc.get("format") != BASELINE_FORMAT:
        raise BaselineError(
            f"{p} has baseline format {doc.get('format')!r}; this resbench reads "
            f"{BASELINE_FORMAT}: refresh it with --update"
        )
    for name, case in doc["cases"].items():
        if not isinstance(case, dict) or not isinstance(case.get("ratios"), list):
            raise BaselineError(f"{p}: case {name!r} has no list of 'ratios'")
    Policy.from_dict(doc.get("policy"))  # raises BaselineError when malformed
    return doc


def merge_baselines(
    docs: Sequence[Mapping[str, Any]], *, command: str | None = None
) -> dict[str, Any]:
    """One baseline from several runs (each in its own process): per case the raw
    ratios of every run, pooled, and their medians.  Pooling puts the run-to-run
    (process-to-process) spread into the baseline's sample, which the Mann–Whitney
    test then sees; a single run's sample would understate it.  The runs must agree
    on the circuits, the sweeps and the ngspice major version."""
    if not docs:
        raise ResbenchError("no run to merge")
    first = docs[0]
    names = list(first["cases"])
    for d in docs[1:]:
        if d.get("ngspice_major") != first.get("ngspice_major"):
            raise ResbenchError("runs used different ngspice versions")
        if list(d["cases"]) != names:
            raise ResbenchError("runs covered different cases")
    out = json.loads(json.dumps(first))  # deep copy of plain JSON data
    for name in names:
        parts = [d["cases"][name] for d in docs]
        for key in ("fingerprint", "sweeps"):
            seen = {p.get(key) for p in parts}
            if len(seen) > 1:
                raise ResbenchError(
                    f"runs disagree on case {name}: {key} {', '.join(map(str, sorted(seen)))}"
                )
        case = out["cases"][name]
        for clock in CLOCKS:
            pooled = [x for p in parts for x in (p.get(_RATIO_KEY[clock]) or [])]
            case[_RATIO_KEY[clock]] = pooled
            case[_MEDIAN_KEY[clock]] = _median_finite(pooled)
            case[f"run_{_MEDIAN_KEY[clock]}s"] = [p.get(_MEDIAN_KEY[clock]) for p in parts]
        case["pairs"] = len(case["ratios"])
        for key in ("cd_total_median", "ngspice_total_median", "cd_cpu_median"):
            case[key] = _median_finite(float(p.get(key) or math.nan) for p in parts)
        case["ngspice_cpu_median"] = _median_finite(
            float(p.get("ngspice_cpu_median") or math.nan) for p in parts
        )
        case["max_abs_diff"] = max(float(p.get("max_abs_diff") or 0.0) for p in parts)
    out["runs"] = len(docs)
    out["run_timestamps"] = [d.get("timestamp") for d in docs]
    if command is not None:
        out["command"] = command
    from resbench.bench.results import _jsonable

    return _jsonable(out)


# --------------------------------------------------------------------------- reports
_TITLE = {
    EXIT_OK: "PASS",
    EXIT_REGRESSION: "FAIL: speedup regression",
    EXIT_WRONG: "FAIL: wrong answer",
    EXIT_NOT_COMPARABLE: "NOT COMPARABLE",
}


def _f(x: float | None, spec: str = ".3g", unit: str = "") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:{spec}}{unit}"


def summary_frame(result: GateResult) -> pd.DataFrame:
    """One row per case: measurements (both clocks), baseline, test and verdict."""
    rows = []
    clock = result.policy.clock
    for v in result.verdicts:
        r = v.run
        st = v.speed
        gated = r.ratios_for(clock) if r else []
        rows.append(
            {
                "case": v.name,
                "verdict": v.verdict,
                "nodes": r.sizes.get("nodes") if r else None,
                "resistors": r.sizes.get("resistors") if r else None,
                "diodes": r.sizes.get("diodes") if r else None,
                "clock": clock,
                "pairs": len(gated),
                "speedup_median": r.median_for(clock) if r else float("nan"),
                "speedup_min": min(gated) if gated else float("nan"),
                "speedup_max": max(gated) if gated else float("nan"),
                "baseline_median": st.median_base if st else float("nan"),
                "relative": st.relative if st else float("nan"),
                "threshold": st.threshold if st else float("nan"),
                "pvalue": st.pvalue if st else float("nan"),
                "wall_speedup_median": r.median_for("wall") if r else float("nan"),
                "cpu_speedup_median": r.median_for("cpu") if r else float("nan"),
                "sweeps": v.sweeps_now,
                "baseline_sweeps": v.sweeps_base,
                "max_abs_diff": r.max_abs_diff if r else float("nan"),
                "certified": r.certified if r else None,
                "cd_total_median": _median_finite(r.fast_totals) if r else float("nan"),
                "ngspice_total_median": _median_finite(r.spice_totals) if r else float("nan"),
                "cd_cpu_median": _median_finite(r.fast_cpu) if r else float("nan"),
                "ngspice_cpu_median": _median_finite(r.spice_cpu) if r else float("nan"),
                "reasons": "; ".join(v.reasons) or None,
                "notes": "; ".join(v.notes) or None,
            }
        )
    return pd.DataFrame(rows)


def markdown_report(result: GateResult, *, command: str | None = None) -> str:
    """A markdown report for a pull-request comment."""
    pol = result.policy
    clock = pol.clock
    other = "wall" if clock == "cpu" else "cpu"
    lines = [f"## resbench regress: {_TITLE[result.exit_code]} (exit {result.exit_code})", ""]
    lines += [
        f"| case | nodes | R | D | {clock} speedup now (median, min–max) | baseline "
        f"| now / baseline | p (MW) | {other} speedup | sweeps now / base "
        "| max abs Δv (V) | certified | verdict |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|:-:|---|",
    ]
    for v in result.verdicts:
        r, st = v.run, v.speed
        assert r is not None
        gated = r.ratios_for(clock)
        spd = f"{_f(r.median_for(clock), '.4g')}× ({_f(min(gated, default=None), '.3g')}–"
        spd += f"{_f(max(gated, default=None), '.3g')}, n={len(gated)})"
        cert = "–" if r.certified is None else ("yes" if r.certified else "**no**")
        verdict = v.verdict if v.verdict == PASS else f"**{v.verdict}**"
        lines.append(
            f"| {v.name} | {r.sizes.get('nodes', '')} | {r.sizes.get('resistors', '')} | "
            f"{r.sizes.get('diodes', '')} | {spd} | "
            f"{_f(st.median_base if st else None, '.4g', '×')} | "
            f"{_f(st.relative if st else None, '.2f')} | "
            f"{_f(st.pvalue if st else None, '.2g')} | "
            f"{_f(r.median_for(other), '.4g', '×')} | "
            f"{'–' if v.sweeps_now is None else v.sweeps_now} / "
            f"{'–' if v.sweeps_base is None else v.sweeps_base} | "
            f"{_f(r.max_abs_diff, '.1e')} | {cert} | {verdict} |"
        )
    lines.append("")
    problems = [(v.name, x) for v in result.verdicts for x in v.reasons]
    if problems:
        lines += ["### Why", ""] + [f"- `{n}`: {x}" for n, x in problems] + [""]
    notes = [(None, x) for x in result.notes] + [
        (v.name, x) for v in result.verdicts for x in v.notes
    ]
    if notes:
        lines += ["### Notes", ""]
        lines += [f"- `{n}`: {x}" if n else f"- {x}" for n, x in notes] + [""]
    o = result.run.options
    atol = o.get("atol", DEFAULT_ATOL)
    inners = "/".join(sorted({str(r.inner) for r in result.run.cases})) or "1"
    what = (
        "CPU time of every process doing the work" if clock == "cpu" else "total (wall-clock) time"
    )
    lines += [
        f"Policy: a case regresses when its median per-pair speedup (ngspice / cd, {what}, "
        f"of the same interleaved pair after {o.get('warmup', 1)} warm-up; a pair's cd time "
        f"is the median of {inners} consecutive solves) is below baseline median × "
        f"{pol.factor:g} **and** a one-sided Mann–Whitney U test of the per-pair speedups "
        f"against the baseline's raw ones gives p < {pol.alpha:g}; sweeps to converge may "
        f"exceed the baseline's by at most {pol.sweeps_tolerance}. Correctness: cd certified "
        f"and every node within {atol:g} V of ngspice. Exit codes: 0 pass, 1 speedup/sweeps "
        "regression, 2 wrong answer, 3 not comparable.",
        "",
    ]
    b = result.baseline
    m = _current_machine()
    lines.append(
        f"This run: ngspice {result.run.ngspice_major}, {_machine_key(m)}. "
        f"Baseline{f' `{result.baseline_path}`' if result.baseline_path else ''}: "
        f"ngspice {b.get('ngspice_major')}, {_machine_key(b.get('machine') or {}) or '?'}, "
        f"{b.get('timestamp', '?')}, commit {((b.get('git') or {}).get('commit') or '?')[:10]}."
    )
    compiles = [r.compile_s for r in result.run.cases if math.isfinite(r.compile_s)]
    if compiles:
        lines.append(f"cd JIT compile (never in the totals): {max(compiles):.3g} s.")
    if command:
        lines.append(f"Command: `{command}`")
    lines.append("")
    return "\n".join(lines)


def result_json(result: GateResult, *, command: str | None = None) -> dict[str, Any]:
    """Machine-readable form of the gate's result."""
    from resbench.bench.results import _jsonable

    cases = []
    for v in result.verdicts:
        r = v.run
        cases.append(
            {
                "case": v.name,
                "verdict": v.verdict,
                "exit_code": v.exit_code,
                "reasons": v.reasons,
                "notes": v.notes,
                "sizes": r.sizes if r else None,
                "fingerprint": r.fingerprint if r else None,
                "ratios": r.ratios if r else [],
                "median": r.median if r else None,
                "cpu_ratios": r.cpu_ratios if r else [],
                "cpu_median": r.median_for("cpu") if r else None,
                "speed_test": asdict(v.speed) if v.speed else None,
                "sweeps": v.sweeps_now,
                "baseline_sweeps": v.sweeps_base,
                "max_abs_diff": r.max_abs_diff if r else None,
                "worst_node": r.worst_node if r else None,
                "certified": r.certified if r else None,
                "cd_status": r.fast_status if r else None,
                "ngspice_status": r.spice_status if r else None,
                "cd_totals": r.fast_totals if r else [],
                "ngspice_totals": r.spice_totals if r else [],
                "cd_cpu": r.fast_cpu if r else [],
                "ngspice_cpu": r.spice_cpu if r else [],
                "compile": r.compile_s if r else None,
            }
        )
    b = result.baseline
    return _jsonable(
        {
            "kind": "regress",
            "exit_code": result.exit_code,
            "result": _TITLE[result.exit_code],
            "policy": asdict(result.policy),
            "ngspice_major": result.run.ngspice_major,
            "options": result.run.options,
            "notes": result.notes,
            "baseline": {
                "path": result.baseline_path,
                "ngspice_major": b.get("ngspice_major"),
                "timestamp": b.get("timestamp"),
                "machine": b.get("machine"),
                "git": b.get("git"),
            },
            "command": command,
            "cases": cases,
        }
    )


def write_regress_files(
    result: GateResult, out_dir: str | os.PathLike, *, command: str | None = None
) -> dict[str, Path]:
    """regress_samples.csv, regress_summary.csv, regress_summary.md, regress.json."""
    from resbench.bench.results import sidecar, write_results

    extra = {
        "kind": "regress",
        "exit_code": result.exit_code,
        "policy": asdict(result.policy),
        "options": result.run.options,
        "baseline": result.baseline_path,
        "ngspice_major": result.run.ngspice_major,
    }
    meta = sidecar(command=command, extra=extra)
    return write_results(
        out_dir,
        "regress",
        samples=result.run.samples,
        summary=summary_frame(result),
        markdown=markdown_report(result, command=command),
        sidecar_data=meta,
    )


# --------------------------------------------------------------------------- noise study
def fresh_process_run(
    baseline_out: str | os.PathLike, extra_args: Sequence[str] = (), timeout: float = 900.0
) -> dict[str, Any]:
    """Run the suite in a fresh ``resbench regress --update`` process (exactly what CI
    runs, start-up included) writing its baseline document to ``baseline_out``."""
    cmd = [sys.executable, "-m", "resbench.cli.main", "regress", "--update", "--runs", "1"]
    cmd += ["--no-files", "--baseline", str(baseline_out), "--json", *extra_args]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise ResbenchError(f"a noise-study run took over {timeout:g} s") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise ResbenchError(f"noise-study run failed (exit {proc.returncode}): " + " | ".join(tail))
    return load_baseline(baseline_out)


def _clock_study(
    runs: Sequence[Mapping[str, Any]],
    clock: str,
    slowdown: float,
    alpha: float,
    factors: Sequence[float],
) -> dict[str, Any]:
    names = list(runs[0]["cases"])
    rkey, mkey = _RATIO_KEY[clock], _MEDIAN_KEY[clock]
    per_case: dict[str, Any] = {}
    lo, hi = 0.0, 1.0
    for name in names:
        meds = [float(r["cases"][name][mkey]) for r in runs]
        mean = statistics.fmean(meds)
        cv = statistics.stdev(meds) / mean if mean > 0 else float("nan")
        mn, mx = min(meds), max(meds)
        per_case[name] = {
            "medians": meds,
            "min": mn,
            "max": mx,
            "median": statistics.median(meds),
            "cv": cv,
            "min_over_max": mn / mx,
            "pairs": [len(r["cases"][name][rkey]) for r in runs],
        }
        hi = min(hi, mn / mx)  # a factor below this flags no run against any other
        lo = max(lo, mx / (slowdown * mn))  # above it, every slowed run is below threshold
    table = []
    for fac in factors:
        row = {"factor": fac, "trials": 0, "false_alarms": 0, "misses": 0}
        row.update(suite_trials=0, suite_false_alarms=0, suite_misses=0)
        row["misses_by_case"] = dict.fromkeys(names, 0)
        row["false_alarms_by_case"] = dict.fromkeys(names, 0)
        for i, bi in enumerate(runs):
            for j, rj in enumerate(runs):
                if i == j:
                    continue
                any_alarm = any_catch = False
                for name in names:
                    base = bi["cases"][name][rkey]
                    cur = rj["cases"][name][rkey]
                    row["trials"] += 1
                    if speed_test(cur, base, factor=fac, alpha=alpha).regressed:
                        row["false_alarms"] += 1
                        row["false_alarms_by_case"][name] += 1
                        any_alarm = True
                    slow = [x / slowdown for x in cur]
                    if speed_test(slow, base, factor=fac, alpha=alpha).regressed:
                        any_catch = True
                    else:
                        row["misses"] += 1
                        row["misses_by_case"][name] += 1
                row["suite_trials"] += 1
                row["suite_false_alarms"] += any_alarm
                row["suite_misses"] += not any_catch
        table.append(row)
    recommended = None
    if lo < hi:
        mid = math.sqrt(lo * hi)  # geometric middle of the safe interval
        rounded = math.floor(mid * 20) / 20  # down to a multiple of 0.05
        recommended = rounded if rounded > lo else mid
    return {
        "cases": per_case,
        "factor_lower_bound": lo,
        "factor_upper_bound": hi,
        "recommended_factor": recommended,
        "replay": table,
        "factors_with_no_error": [
            row["factor"] for row in table if not row["false_alarms"] and not row["misses"]
        ],
        "factors_with_no_suite_error": [
            row["factor"]
            for row in table
            if not row["suite_false_alarms"] and not row["suite_misses"]
        ],
    }


def noise_study(
    runs: Sequence[Mapping[str, Any]],
    *,
    slowdown: float = 3.0,
    alpha: float = DEFAULT_ALPHA,
    factors: Sequence[float] | None = None,
    clocks: Sequence[str] = CLOCKS,
) -> dict[str, Any]:
    """Spread of the per-case median speedups over several runs, per clock, and the
    factor range that flags none of them yet flags a ``slowdown``× slower cd.

    ``runs`` are baseline documents (one per run).  Bounds: a factor below
    ``min over cases of min/max`` flags no run against any other; one above
    ``max over cases of max / (slowdown × min)`` puts every slowed run below the
    threshold.  For every ordered pair of runs (i as baseline, j as current) the
    full gate decision is also replayed on the raw ratios, as they are (false
    alarms) and divided by ``slowdown`` (misses; exact for the injected
    slowdown, which multiplies cd's time).
    """
    if len(runs) < 2:
        raise ResbenchError("a noise study needs at least 2 runs")
    if factors is None:
        factors = [round(0.05 * k, 2) for k in range(4, 20)]
    out: dict[str, Any] = {
        "runs": len(runs),
        "slowdown": slowdown,
        "alpha": alpha,
        "clocks": {},
        "sweeps_seen": {
            name: sorted({r["cases"][name].get("sweeps") for r in runs}, key=str)
            for name in runs[0]["cases"]
        },
    }
    for clock in clocks:
        usable = all(r["cases"][n].get(_RATIO_KEY[clock]) for r in runs for n in r["cases"])
        if usable:
            out["clocks"][clock] = _clock_study(runs, clock, slowdown, alpha, factors)
    out["per_run"] = [
        {
            "load": r.get("load", 0),
            **{
                clock: {n: c.get(_MEDIAN_KEY[clock]) for n, c in r["cases"].items()}
                for clock in out["clocks"]
            },
        }
        for r in runs
    ]
    out.update(
        ngspice_major=[r.get("ngspice_major") for r in runs],
        machine=runs[0].get("machine"),
        versions=runs[0].get("versions"),
        timestamps=[r.get("timestamp") for r in runs],
    )
    return out


def noise_markdown(study: Mapping[str, Any], *, command: str | None = None) -> str:
    """The noise study as markdown (README material)."""
    m = study.get("machine") or {}
    k = study["slowdown"]
    lines = [
        "# Noise study of `resbench regress`",
        "",
        f"{study['runs']} runs of the quick suite, each in a fresh process "
        f"(`resbench regress --update`; loads "
        f"{', '.join(sorted({str(r.get('load', 0)) for r in study.get('per_run') or []}))}), "
        f"on {_machine_key(m)}; ngspice "
        f"{', '.join(sorted(set(map(str, study['ngspice_major']))))}.",
        "Per case and clock: the spread of each run's median per-pair speedup "
        "(ngspice / cd). Sweeps to converge seen: "
        + ", ".join(f"{n} {'/'.join(map(str, s))}" for n, s in study["sweeps_seen"].items())
        + ".",
        "",
    ]
    per_run = study.get("per_run") or []
    clocks = list(study["clocks"])
    if per_run and clocks:
        names = list(next(iter(study["clocks"].values()))["cases"])
        head = " | ".join(f"{n} {c}" for n in names for c in clocks)
        lines += [
            "Median speedup of every run (load: busy-loop processes the study added to "
            "compete for the CPUs; other users' jobs ran on the machine throughout):",
            "",
            f"| run | load | {head} |",
            "|---:|---:|" + "---:|" * (len(names) * len(clocks)),
        ]
        for idx, r in enumerate(per_run):
            cells = " | ".join(f"{r[c][n]:.4g}" for n in names for c in clocks)
            lines.append(f"| {idx + 1} | {r['load']} | {cells} |")
        lines.append("")
    for clock, cs in study["clocks"].items():
        lo, hi = cs["factor_lower_bound"], cs["factor_upper_bound"]
        rec = cs["recommended_factor"]
        lines += [
            f"## Clock: {clock}",
            "",
            "| case | pairs/run | min | median | max | CV | min/max |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, c in cs["cases"].items():
            lines.append(
                f"| {name} | {c['pairs'][0]} | {c['min']:.4g}× | {c['median']:.4g}× | "
                f"{c['max']:.4g}× | {100 * c['cv']:.1f} % | {c['min_over_max']:.3f} |"
            )
        lines += [
            "",
            f"A factor f flags no run against any other when f < min over cases of min/max "
            f"= {hi:.3f}; it flags every run slowed {k:g}× against any other when "
            f"f > max over cases of max / ({k:g} × min) = {lo:.3f}. "
            + (
                f"Factor in the middle of that interval: **{rec:.2f}**."
                if rec is not None
                else "No factor separates the noise from the slowdown on this clock."
            ),
            "",
            "Factors with no false alarm and no miss, per case: "
            + (", ".join(f"{x:.2f}" for x in cs["factors_with_no_error"]) or "none")
            + "; per suite run: "
            + (", ".join(f"{x:.2f}" for x in cs.get("factors_with_no_suite_error", [])) or "none")
            + ".",
            "",
            f"Replay of the full gate (factor and one-sided Mann–Whitney, alpha "
            f"{study['alpha']:g}) over every ordered pair of runs (one as baseline, one as the "
            f"current run) and every case, as measured (false alarms) and with the current "
            f"ratios divided by {k:g} (misses). Per case: every (baseline run, current run, "
            "case); per suite: every (baseline run, current run), an alarm when any case "
            f"fails, a catch when any case fails with the {k:g}× slowdown (a slowdown of cd "
            "slows every case):",
            "",
            "| factor | case trials | false alarms | misses | misses by case "
            "| suite trials | suite false alarms | suite misses |",
            "|---:|---:|---:|---:|---|---:|---:|---:|",
        ]
        for row in cs["replay"]:
            by_case = ", ".join(f"{n} {m}" for n, m in row["misses_by_case"].items() if m)
            lines.append(
                f"| {row['factor']:.2f} | {row['trials']} | {row['false_alarms']} | "
                f"{row['misses']} | {by_case or '–'} | {row['suite_trials']} | "
                f"{row['suite_false_alarms']} | {row['suite_misses']} |"
            )
        lines.append("")
    if command:
        lines += [f"Command: `{command}`", ""]
    return "\n".join(lines)


class _BusyLoad:
    """``n`` busy-loop processes (a stand-in for other jobs on a shared CI machine),
    stopped by their own pids on exit."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> _BusyLoad:
        for _ in range(self.n):
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", "while True: pass"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()


def run_noise_study(
    n_runs: int,
    out_dir: str | os.PathLike,
    *,
    load: int = 0,
    extra_args: Sequence[str] = (),
    command: str | None = None,
    on_run: Callable[[int, Mapping[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """``n_runs`` fresh-process runs of the suite (and, with ``load`` > 0, ``n_runs``
    more while ``load`` busy-loop processes compete for the CPUs), then
    :func:`noise_study` over all of them; writes ``noise_study.json`` (the study and
    every run's raw ratios) and ``noise_study.md``."""
    if n_runs < 2:
        raise ResbenchError(f"a noise study needs at least 2 runs, got {n_runs}")
    if load < 0:
        raise ResbenchError(f"load must be >= 0 busy processes, got {load}")
    docs = []
    with tempfile.TemporaryDirectory(prefix="resbench-noise-") as tmp:
        for level in [0] + ([load] if load else []):
            with _BusyLoad(level):
                for _ in range(n_runs):
                    k = len(docs)
                    doc = fresh_process_run(Path(tmp) / f"run{k}.json", extra_args)
                    doc["load"] = level
                    docs.append(doc)
                    if on_run is not None:
                        on_run(k, doc)
    study = noise_study(docs)
    study["command"] = command
    keep = ("median", "ratios", "cpu_median", "cpu_ratios", "sweeps")
    keep += ("cd_total_median", "ngspice_total_median", "cd_cpu_median", "ngspice_cpu_median")
    study["run_cases"] = [
        {n: {k: c.get(k) for k in keep} for n, c in d["cases"].items()} for d in docs
    ]
    from resbench.bench.results import atomic_write_json, atomic_write_text, output_lock

    out = Path(out_dir)
    paths = {"json": out / "noise_study.json", "markdown": out / "noise_study.md"}
    with output_lock(out):
        atomic_write_json(paths["json"], study)
        atomic_write_text(paths["markdown"], noise_markdown(study, command=command))
    return study, paths
