"""The regression gate's baseline file: make, save, load (with checks) and merge.

A baseline (``results/baseline.json``) stores, per case, the raw per-pair speedups
of both clocks, their medians, the sweeps, sizes and the circuit's fingerprint and
digest; plus the ngspice major version, the :class:`~.policy.Policy` and the
sidecar fields (machine, versions, git).  :func:`load_baseline` raises
:class:`~.policy.BaselineError` (exit 3) on anything it cannot use.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from resbench.bench.regress.policy import (
    BASELINE_FORMAT,
    CLOCKS,
    MEDIAN_KEY,
    RATIO_KEY,
    BaselineError,
    Policy,
    SuiteRun,
)
from resbench.bench.regress.stats import median_finite
from resbench.errors import ResbenchError


def current_machine() -> dict[str, Any]:
    """The machine fingerprint of this run (as a baseline records it)."""
    from resbench.bench.results import machine_fingerprint

    return machine_fingerprint()


def machine_key(m: Mapping[str, Any]) -> str:
    """A one-line description of a machine record ('' when empty), to compare and print."""
    if not m:
        return ""
    return f"{m.get('cpu')}, {m.get('cores')} cores, {m.get('memory')}"


def make_baseline(run: SuiteRun, policy: Policy, *, command: str | None = None) -> dict[str, Any]:
    """A baseline document from a run: per case the raw ratios, median, sweeps, sizes and
    circuit fingerprint; the ngspice major version, the policy and the sidecar fields."""
    from resbench.bench.results import jsonable, sidecar

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
            "cd_total_median": median_finite(r.fast_totals),
            "ngspice_total_median": median_finite(r.spice_totals),
            "cd_cpu_median": median_finite(r.fast_cpu),
            "ngspice_cpu_median": median_finite(r.spice_cpu),
            "max_abs_diff": r.max_abs_diff,
        }
    for key in ("timestamp", "command", "machine", "versions", "threads", "git"):
        doc[key] = meta.get(key)
    return jsonable(doc)


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
            pooled = [x for p in parts for x in (p.get(RATIO_KEY[clock]) or [])]
            case[RATIO_KEY[clock]] = pooled
            case[MEDIAN_KEY[clock]] = median_finite(pooled)
            case[f"run_{MEDIAN_KEY[clock]}s"] = [p.get(MEDIAN_KEY[clock]) for p in parts]
        case["pairs"] = len(case["ratios"])
        for key in ("cd_total_median", "ngspice_total_median", "cd_cpu_median"):
            case[key] = median_finite(float(p.get(key) or math.nan) for p in parts)
        case["ngspice_cpu_median"] = median_finite(
            float(p.get("ngspice_cpu_median") or math.nan) for p in parts
        )
        case["max_abs_diff"] = max(float(p.get("max_abs_diff") or 0.0) for p in parts)
    out["runs"] = len(docs)
    out["run_timestamps"] = [d.get("timestamp") for d in docs]
    if command is not None:
        out["command"] = command
    from resbench.bench.results import jsonable

    return jsonable(out)
