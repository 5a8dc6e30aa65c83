"""The markdown summary of ``resbench scale``: the table, the fits, how memory and
time were measured, the machine and the command.

The table's columns come from :func:`resbench.bench.columns.scale_columns` (the peer
columns only for a sweep with peers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from resbench.bench import columns as C
from resbench.bench.check import SKIPPED
from resbench.bench.fits import MIN_R2_DRAWN

if TYPE_CHECKING:
    from resbench.bench.scale import ScaleOptions


def markdown_summary(
    summary: pd.DataFrame,
    fit: Mapping[str, Mapping[str, dict | None]],
    opts: ScaleOptions,
    meta: Mapping[str, Any] | None = None,
    plot: str | None = None,
) -> str:
    """The markdown summary: the table, the fits, memory method, machine and command."""
    from resbench.bench.results import machine_line, markdown_table

    s = summary
    # a sweep with peers (scale --solvers) shows their claimed status, |Δv| and ratio too
    peers = bool(len(s)) and "claimed" in s and bool(s["claimed"].notna().any())
    table = C.markdown_frame(C.scale_columns(peers), s)
    lines = [
        f"# resbench scale: {opts.family} (seed {opts.seed})",
        "",
        markdown_table(table, floatfmt=".3g"),
        f"Times are medians (min, max) of up to {opts.repeats} measured runs after "
        f"{opts.warmup} warm-up run(s), solvers interleaved; 'runs' is the number of measured "
        f"runs (fewer where they would exceed {opts.point_budget:g} s per size). Total excludes "
        "building the circuit and JIT compilation. Speedup = ngspice median total / cd median "
        "total, measured in the same run. ngspice is skipped above "
        f"{opts.spice_max_size:,} resistors. max |Δv| compares every node voltage (atol "
        f"{opts.atol:g} V).",
        "",
        "Memory: peak RSS of the process that ran the solver (ngspice: its worker child); "
        "run memory = that peak minus the RSS just before the run (kernel high-water mark "
        "VmHWM reset through /proc/PID/clear_refs; ngspice also polled); B/resistor = cd's "
        "run memory per resistor (the circuit itself, 16 B/resistor, is input and not counted).",
        "",
        "## Power-law fits (median time ≈ a · resistors^k, log-log least squares)",
        "",
        "k ± its standard error (scipy.stats.linregress; none with 2 points). Where r² < "
        f"{MIN_R2_DRAWN:g} the times do not follow a power law over the range and the plot "
        "draws no line.",
        "",
        "| solver | time | k | ± SE | a (s) | r² | points | resistors used | sizes used |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for solver, per in fit.items():
        for key, f in per.items():
            if f is None:
                lines.append(f"| {solver} | {key} | | | | | <2 | | |")
                continue
            se = f.get("exponent_stderr")
            se_text = f"{se:.3f}" if se is not None and np.isfinite(se) else ""
            r2 = f"{f['r2']:.4f}" + ("" if f["r2"] >= MIN_R2_DRAWN else " (no power law)")
            lines.append(
                f"| {solver} | {key} | {f['exponent']:.3f} | {se_text} | "
                f"{f['coefficient']:.3g} | {r2} | {f['points']} | {f['resistors_min']:,} – "
                f"{f['resistors_max']:,} | {', '.join(f.get('sizes', []))} |"
            )
    lines.append("")
    if plot:
        lines += [
            f"![time and speedup vs resistors]({plot})",
            "",
            "Points are medians; error bars span the min–max of the measured runs.",
            "",
        ]
    if meta:
        lines += [
            machine_line(meta, load=True),
            f"Command: `{meta.get('command')}`",
            "",
        ]
    notes = s[s["message"].notna() & (s["status"] != SKIPPED)] if len(s) else s
    if len(notes):
        lines += ["## Notes", ""]
        for _, r in notes.iterrows():
            lines.append(f"- {r['size']} {r['solver']} ({r['status']}): {r['message']}")
        lines.append("")
    return "\n".join(lines)
