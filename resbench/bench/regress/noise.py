"""The noise study of the regression gate: how far speedups move between runs.

:func:`run_noise_study` runs the quick suite several times, each in a fresh
``resbench regress --update`` process (optionally also under a busy-loop load),
and :func:`noise_study` measures, per clock, the spread of the per-case median
speedups and the factors that flag no run against another yet flag every run
slowed ``k``× (replaying the full gate decision of :mod:`.stats` on the raw
ratios).  ``results/noise_study.md`` (from :func:`noise_markdown`) is where the
default factor of :mod:`.policy` comes from.  :func:`fresh_process_run` also
serves ``resbench regress --update --runs N``.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from resbench.bench.regress.baseline import load_baseline, machine_key
from resbench.bench.regress.policy import CLOCKS, DEFAULT_ALPHA, MEDIAN_KEY, RATIO_KEY
from resbench.bench.regress.stats import speed_test
from resbench.errors import ResbenchError


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
    rkey, mkey = RATIO_KEY[clock], MEDIAN_KEY[clock]
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
        usable = all(r["cases"][n].get(RATIO_KEY[clock]) for r in runs for n in r["cases"])
        if usable:
            out["clocks"][clock] = _clock_study(runs, clock, slowdown, alpha, factors)
    out["per_run"] = [
        {
            "load": r.get("load", 0),
            **{
                clock: {n: c.get(MEDIAN_KEY[clock]) for n, c in r["cases"].items()}
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
        f"on {machine_key(m)}; ngspice "
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
