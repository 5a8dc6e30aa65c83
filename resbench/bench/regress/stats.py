"""The statistical test of the regression gate, apart from the commands that use it.

As airspeed velocity keeps ``asv/statistics.py`` apart from ``asv/commands``, this
module only answers "is this sample of per-pair speedups a regression against
that one?" (:func:`speed_test`: median below ``baseline median × factor`` *and* a
one-sided Mann–Whitney U test with ``p < alpha``).  It knows nothing of circuits,
solvers, baselines or reports; the gate (:mod:`.gate`) and the noise study
(:mod:`.noise`) call it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from resbench.bench.regress.policy import DEFAULT_ALPHA, DEFAULT_FACTOR
from resbench.errors import ResbenchError


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


def finite_positive(xs: Iterable[float]) -> list[float]:
    """The values of ``xs`` that are numbers, finite and > 0 (others are dropped)."""
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

    cur, base = finite_positive(current), finite_positive(baseline)
    if not cur or not base:
        raise ResbenchError("speed test needs at least one positive ratio on each side")
    m_now, m_base = statistics.median(cur), statistics.median(base)
    thr = m_base * factor
    p = float(mannwhitneyu(cur, base, alternative="less").pvalue)
    return SpeedTest(m_now, m_base, thr, p, bool(m_now < thr), bool(p < alpha))


def median_finite(xs: Iterable[float]) -> float:
    """Median of the finite values of ``xs`` (NaN when there is none)."""
    vals = [x for x in xs if math.isfinite(x)]
    return statistics.median(vals) if vals else float("nan")
