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
they live in the cd runner of :mod:`.suite`, never in the solver.

Layout (statistics apart from the commands, as airspeed velocity keeps
``asv/statistics.py`` apart from ``asv/commands/compare.py``):

* :mod:`.policy`: defaults, exit codes, verdict names, :class:`Policy` and the
  records a run and a decision produce (``CaseRun``, ``SuiteRun``, ``CaseVerdict``,
  ``GateResult``);
* :mod:`.suite`: the quick suite, the runners with the fault injection, one run;
* :mod:`.stats`: the speed test (median factor and one-sided Mann–Whitney U);
* :mod:`.baseline`: make, save, load and merge the baseline file;
* :mod:`.gate`: the decision; :mod:`.report`: markdown, JSON and result files;
* :mod:`.noise`: the noise study that chose the default factor;
* the CPU-time probe lives in :mod:`resbench.bench.probes`, shared with ``scale``.

This package re-exports their public names, so ``from resbench.bench import
regress as R; R.gate(...)`` keeps working.  To replace a name for a test, patch it
where it is used (e.g. ``regress.suite.QUICK_SUITE`` for :func:`run_suite`, or
``regress.noise.fresh_process_run`` for :func:`run_noise_study`); the CLI calls the
names of this package.
"""

from __future__ import annotations

from resbench.bench.fingerprint import (
    SIGNIFICANT_DIGITS,
    circuit_digest,
    circuit_fingerprint,
    digest_differences,
)
from resbench.bench.probes import process_cpu_ns
from resbench.bench.regress.baseline import (
    load_baseline,
    make_baseline,
    merge_baselines,
    save_baseline,
)
from resbench.bench.regress.gate import gate, judge_case
from resbench.bench.regress.noise import (
    fresh_process_run,
    noise_markdown,
    noise_study,
    run_noise_study,
)
from resbench.bench.regress.policy import (
    BASELINE_FORMAT,
    CLOCKS,
    DEFAULT_ALPHA,
    DEFAULT_ATOL,
    DEFAULT_BASELINE,
    DEFAULT_CLOCK,
    DEFAULT_FACTOR,
    DEFAULT_SWEEPS_TOLERANCE,
    EXIT_NOT_COMPARABLE,
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_WRONG,
    FAST,
    NOT_COMPARABLE,
    PASS,
    REGRESSION,
    SPICE,
    TEST_NAME,
    WRONG,
    BaselineError,
    CaseRun,
    CaseVerdict,
    GateResult,
    Policy,
    SuiteRun,
    worst_exit,
)
from resbench.bench.regress.report import (
    markdown_report,
    result_json,
    summary_frame,
    write_regress_files,
)
from resbench.bench.regress.stats import SpeedTest, speed_test
from resbench.bench.regress.suite import (
    QUICK_SUITE,
    Case,
    SolveFn,
    cli_ngspice_major,
    default_fast,
    default_spice,
    fast_runner,
    pair_ratios,
    run_case,
    run_suite,
    select_cases,
    spice_runner,
)

__all__ = [
    "BASELINE_FORMAT",
    "CLOCKS",
    "DEFAULT_ALPHA",
    "DEFAULT_ATOL",
    "DEFAULT_BASELINE",
    "DEFAULT_CLOCK",
    "DEFAULT_FACTOR",
    "DEFAULT_SWEEPS_TOLERANCE",
    "EXIT_NOT_COMPARABLE",
    "EXIT_OK",
    "EXIT_REGRESSION",
    "EXIT_WRONG",
    "FAST",
    "NOT_COMPARABLE",
    "PASS",
    "QUICK_SUITE",
    "REGRESSION",
    "SIGNIFICANT_DIGITS",
    "SPICE",
    "TEST_NAME",
    "WRONG",
    "BaselineError",
    "Case",
    "CaseRun",
    "CaseVerdict",
    "GateResult",
    "Policy",
    "SolveFn",
    "SpeedTest",
    "SuiteRun",
    "circuit_digest",
    "circuit_fingerprint",
    "cli_ngspice_major",
    "default_fast",
    "default_spice",
    "digest_differences",
    "fast_runner",
    "fresh_process_run",
    "gate",
    "judge_case",
    "load_baseline",
    "make_baseline",
    "markdown_report",
    "merge_baselines",
    "noise_markdown",
    "noise_study",
    "pair_ratios",
    "process_cpu_ns",
    "result_json",
    "run_case",
    "run_noise_study",
    "run_suite",
    "save_baseline",
    "select_cases",
    "speed_test",
    "spice_runner",
    "summary_frame",
    "worst_exit",
    "write_regress_files",
]
