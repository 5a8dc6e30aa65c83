"""The regression gate's decision: one verdict per case, one exit code per run.

:func:`judge_case` applies the rules of :mod:`resbench.bench.regress` (correctness,
circuit identity, sweeps, ngspice version, then the speed test of :mod:`.stats`)
to one measured case against its baseline entry; :func:`gate` does it for a whole
:class:`~resbench.bench.regress.policy.SuiteRun` and adds the run-level notes.
Presenting the result is :mod:`.report`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resbench.bench.fingerprint import SIGNIFICANT_DIGITS, digest_differences
from resbench.bench.regress.baseline import current_machine, machine_key
from resbench.bench.regress.policy import (
    EXIT_NOT_COMPARABLE,
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_WRONG,
    PASS,
    RATIO_KEY,
    CaseRun,
    CaseVerdict,
    GateResult,
    Policy,
    SuiteRun,
    verdict_of,
    worst_exit,
)
from resbench.bench.regress.stats import finite_positive, speed_test


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
        base_ratios = finite_positive((base or {}).get(RATIO_KEY[policy.clock]) or [])
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
    v.verdict = verdict_of(codes)
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
    here = machine_key(current_machine())
    there = machine_key(baseline.get("machine") or {})
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
