"""Policy and types of the regression gate: defaults, exit codes, verdicts, run records.

Everything here is plain data: the :class:`Policy` a baseline stores (factor,
alpha, test, sweeps tolerance, clock), the exit codes and verdict names, and the
records a run and a decision produce (:class:`CaseRun`, :class:`SuiteRun`,
:class:`CaseVerdict`, :class:`GateResult`).  The modules that measure
(:mod:`.suite`), test (:mod:`.stats`), decide (:mod:`.gate`), store
(:mod:`.baseline`) and report (:mod:`.report`) all share these types, and none
of them is imported from here, so this module sits at the bottom of the package.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from resbench.bench.timing import FAST_SOLVER, REFERENCE_SOLVER
from resbench.defaults import DEFAULT_ATOL as DEFAULT_ATOL  # re-export
from resbench.errors import ResbenchError

if TYPE_CHECKING:
    from resbench.bench.regress.stats import SpeedTest

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
RATIO_KEY = {"wall": "ratios", "cpu": "cpu_ratios"}
MEDIAN_KEY = {"wall": "median", "cpu": "cpu_median"}
TEST_NAME = "mannwhitneyu-one-sided"
DEFAULT_SWEEPS_TOLERANCE = 0
DEFAULT_BASELINE = Path("results") / "baseline.json"
BASELINE_FORMAT = 1
FAST = FAST_SOLVER  # the registered exact solver the gate times (cd)
SPICE = REFERENCE_SOLVER  # the reference it is timed against (ngspice)

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


def verdict_of(codes: list[int]) -> str:
    """The verdict name of the most serious of ``codes`` (see :func:`worst_exit`)."""
    worst = worst_exit(codes)
    return {v: k for k, v in _EXIT_OF.items()}[worst]
