"""Reports of the regression gate: a summary table, markdown, JSON and result files.

Everything here reads a :class:`~.policy.GateResult` and decides nothing: the
markdown report (for a pull-request comment), its machine-readable twin and the
``regress_*`` result files of :func:`resbench.bench.results.write_results`.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from resbench.bench.regress.baseline import current_machine, machine_key
from resbench.bench.regress.policy import (
    DEFAULT_ATOL,
    EXIT_NOT_COMPARABLE,
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_WRONG,
    PASS,
    GateResult,
)
from resbench.bench.regress.stats import median_finite

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
                "cd_total_median": median_finite(r.fast_totals) if r else float("nan"),
                "ngspice_total_median": median_finite(r.spice_totals) if r else float("nan"),
                "cd_cpu_median": median_finite(r.fast_cpu) if r else float("nan"),
                "ngspice_cpu_median": median_finite(r.spice_cpu) if r else float("nan"),
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
    m = current_machine()
    lines.append(
        f"This run: ngspice {result.run.ngspice_major}, {machine_key(m)}. "
        f"Baseline{f' `{result.baseline_path}`' if result.baseline_path else ''}: "
        f"ngspice {b.get('ngspice_major')}, {machine_key(b.get('machine') or {}) or '?'}, "
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
    from resbench.bench.results import jsonable

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
    return jsonable(
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
