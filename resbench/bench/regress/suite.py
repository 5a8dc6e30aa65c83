"""The quick suite of the regression gate and its runners (with the fault injection).

A :class:`Case` builds one circuit in memory from a fixed seed; :data:`QUICK_SUITE`
lists them.  :func:`run_case` runs a case's warm-up and interleaved
``cd ngspice cd ngspice …`` pairs through :mod:`resbench.bench.timing`, then checks
the answers (cd certified, every node within ``atol`` of ngspice) and returns a
:class:`~resbench.bench.regress.policy.CaseRun`.  The runners wrap the solvers for
the timing harness: :func:`fast_runner` carries the injection switches
(``--inject-slowdown``, ``--inject-error``: stand-ins for a slower or wrong solver,
kept here so the solver never knows about them) and :func:`spice_runner` adds the
ngspice worker's CPU time (:func:`resbench.bench.probes.process_cpu_ns`).  Both
return a :class:`~resbench.bench.timing.Measurement`: what they measure is the
bench's record, never written into the solver's Solution.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from resbench.bench import timing
from resbench.bench.check import Comparison, check_answers
from resbench.bench.fingerprint import circuit_digest, circuit_fingerprint
from resbench.bench.probes import process_cpu_ns
from resbench.bench.regress.policy import (
    DEFAULT_ATOL,
    FAST,
    SPICE,
    CaseRun,
    SuiteRun,
)
from resbench.bench.regress.stats import median_finite
from resbench.circuit import Circuit
from resbench.defaults import DEFAULT_TIMEOUT
from resbench.errors import ResbenchError
from resbench.solution import CONVERGED, Solution

SolveFn = Callable[[Circuit], Solution]


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
    """The fast solver under test: resbench's numba CD (not certified inside the timing),
    as the solver registry declares it (registered and exact, see
    :func:`resbench.bench.timing.timed_solver`)."""
    from resbench.solvers import solve

    name = timing.timed_solver(FAST, exact=True).name
    return lambda circuit: solve(circuit, name, certify=False)


def default_spice(timeout: float = DEFAULT_TIMEOUT) -> SolveFn:
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
) -> Callable[[], timing.Measurement]:
    """A zero-argument runner for the timing harness, with the injection switches.

    One call is one cd *slot* of a pair: ``inner`` consecutive measurements, of
    which the one with the median total is kept, its ``cpu`` time set to the
    median CPU time (a sub-millisecond solve is otherwise at the mercy of one
    scheduler preemption, ~4 ms on a shared machine; ``extra["inner_totals"]``
    keeps them all).  ``cpu`` is this process's CPU time around the solve, unless
    the solver reported one.  ``slowdown`` = k makes each measurement k solves and
    reports their *summed* setup, solve and total times (k × the work); ``perturb``
    adds that many volts to every non-ground node of the answer (a wrong answer).

    Every measurement lands on the returned :class:`~resbench.bench.timing.Measurement`
    (its ``timings`` and ``extra``), never in the solver's Solution, whose timings
    and info stay as the solver made them (its voltages aside under ``perturb``).
    """
    if not (isinstance(slowdown, int) and slowdown >= 1):
        raise ResbenchError(f"injected slowdown must be an integer >= 1, got {slowdown!r}")
    if not (isinstance(inner, int) and inner >= 1):
        raise ResbenchError(f"inner repeats must be an integer >= 1, got {inner!r}")
    if not math.isfinite(perturb):
        raise ResbenchError(f"injected error must be finite, got {perturb!r}")

    def measure() -> tuple[Solution, dict[str, float]]:
        """One measurement: ``slowdown`` solves; the last Solution and the bench's
        timings of the measurement (the solver's, plus ``cpu``, summed over the solves)."""
        sums: dict[str, float] = {}
        compile_s = 0.0
        sol: Solution | None = None
        times: dict[str, float] = {}
        for _ in range(slowdown):
            t0 = time.process_time_ns()
            sol = solve_fn(circuit)
            times = dict(sol.timings)
            times.setdefault("cpu", (time.process_time_ns() - t0) * 1e-9)
            for key in ("setup", "solve", "total", "cpu"):
                if key in times:
                    sums[key] = sums.get(key, 0.0) + float(times[key])
            compile_s = max(compile_s, float(times.get("compile", 0.0)))
        assert sol is not None
        if slowdown > 1:
            times.update(sums)
            if "compile" in times:
                times["compile"] = compile_s
        return sol, times

    def run() -> timing.Measurement:
        runs = [measure() for _ in range(inner)]
        totals = [float(t.get("total", math.nan)) for _, t in runs]
        failed = [r for r in runs if r[0].status != CONVERGED]
        if failed:  # never hide a failing measurement behind the median
            sol, times = failed[0]
        elif inner > 1:
            order = sorted(range(inner), key=lambda k: (not math.isfinite(totals[k]), totals[k]))
            sol, times = runs[order[(inner - 1) // 2]]
            times["cpu"] = median_finite([float(t.get("cpu", math.nan)) for _, t in runs])
            compiles = [t["compile"] for _, t in runs if "compile" in t]
            if compiles:
                times["compile"] = max(compiles)
        else:
            sol, times = runs[0]
        extra: dict[str, Any] = {}
        if slowdown > 1:
            extra["injected_slowdown"] = slowdown
        if inner > 1:
            extra["inner_totals"] = totals
        if perturb and sol.voltages is not None:
            sol.voltages = np.asarray(sol.voltages, dtype=np.float64).copy()
            sol.voltages[1:] += perturb
            extra["injected_error"] = perturb
        return timing.Measurement(sol, times, extra)

    return run


def spice_runner(circuit: Circuit, solve_fn: SolveFn) -> Callable[[], timing.Measurement]:
    """A zero-argument ngspice runner whose Measurement adds a ``cpu`` time: this
    process's CPU time during the call plus the worker process's (the Solution's
    ``info["worker_pid"]``; known from the previous call, so a warm-up run has none).
    Left out when the worker changed during the call or its CPU time cannot be read,
    or when the solver reported a ``cpu`` time itself.  The Solution is not touched."""
    state: dict[str, Any] = {"pid": None}

    def run() -> timing.Measurement:
        pid = state["pid"]
        before = process_cpu_ns(pid) if pid is not None else None
        t0 = time.process_time_ns()
        sol = solve_fn(circuit)
        own = time.process_time_ns() - t0
        times = dict(sol.timings)
        new_pid = sol.info.get("worker_pid") if sol.info else None
        if "cpu" not in times and before is not None and new_pid == pid:
            after = process_cpu_ns(pid)
            if after is not None and after >= before:
                times["cpu"] = (own + after - before) * 1e-9
        state["pid"] = new_pid
        return timing.Measurement(sol, times)

    return run


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


def _answer_problems(check: Comparison, fsol: Solution | None) -> list[str]:
    """The gate's correctness failures in a :func:`~resbench.bench.check.check_answers`
    result: cd did not converge, its answer is not finite, not certified, or its
    certificate raised; cd and ngspice differ by more than ``atol`` somewhere."""
    out: list[str] = []
    fc = check.fast
    if fsol is not None:
        if fsol.status != CONVERGED:
            out.append(f"{FAST} did not converge (status {fsol.status})")
        if fc.error is not None:
            out.append(f"{FAST} answer could not be certified: {fc.error}")
        elif not fc.finite:
            out.append(f"{FAST} answer has non-finite voltages")
        elif not fc.certified:
            assert fc.certificate is not None
            out.append(f"{FAST} answer not certified: {fc.certificate.summary()}")
    if check.agree is False:
        out.append(check.disagree_message())
    return out


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
    check = check_answers(circuit, fsol, ssol, atol=atol, fast_name=FAST, certify_reference=False)
    problems += _answer_problems(check, fsol)
    certified = None if fsol is None else bool(check.fast.certified)
    dmax, worst = check.max_abs_diff, check.worst_node
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
    timeout: float = DEFAULT_TIMEOUT,
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
