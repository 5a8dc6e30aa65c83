"""The scaling figure of ``resbench scale``: time and speedup against network size.

Two panels sharing a log x axis (resistors): the median total time per solver with
min–max error bars and the power-law fit lines of :mod:`resbench.bench.fits`, then the
speedup (reference / fast).  matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from resbench.bench.fits import MIN_R2_DRAWN, exponent_text
from resbench.bench.timing import OK, UNCERTIFIED
from resbench.errors import ResbenchError

PLOT_FORMATS = ("png", "pdf", "svg")
PLOT_DPI = 200


def _si(v: float) -> str:
    """A tick label: 500, 2k, 50k, 1M, 20M."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{v / scale:g}{suffix}"
    return f"{v:g}"


def plot_scaling(
    summary: pd.DataFrame,
    fit: Mapping[str, Mapping[str, dict | None]],
    path: str | os.PathLike,
    *,
    fmt: str = "png",
    fast: str = "cd",
    reference: str = "ngspice",
) -> Path:
    """A figure for a paper (``fmt`` png, pdf or svg; 200 dpi), two panels sharing the
    x axis (resistors, log), tick labels on both: median total time per solver with
    min–max error bars and power-law fit lines (drawn only where r² ≥ 0.9; k ± its
    standard error in the legend), then the speedup (``reference`` / ``fast``, median)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from resbench.bench.results import atomic_save_figure

    if fmt not in PLOT_FORMATS:
        raise ResbenchError(f"plot format must be one of {', '.join(PLOT_FORMATS)}, got {fmt!r}")
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(6.4, 7.6), sharex=True, layout="constrained")
    ok = summary[(summary["status"] == OK) | (summary["status"] == UNCERTIFIED)]
    colors = {fast: "tab:blue", reference: "tab:red"}
    for solver in dict.fromkeys(summary["solver"].astype(str)):
        rows = ok[ok["solver"] == solver].sort_values("resistors")
        rows = rows[np.isfinite(rows["total_median"]) & (rows["total_median"] > 0)]
        if not len(rows):
            continue
        x = rows["resistors"].to_numpy(float)
        y = rows["total_median"].to_numpy(float)
        err = np.vstack([y - rows["total_min"].to_numpy(float), rows["total_max"] - y])
        color = colors.get(solver)
        ax.errorbar(x, y, yerr=np.clip(err, 0, None), fmt="o", color=color, capsize=3, label=solver)
        f = fit.get(solver, {}).get("total")
        if not f:
            continue
        label = f"{solver} fit: {exponent_text(f)} (r² = {f['r2']:.3f})"
        if f["r2"] >= MIN_R2_DRAWN:
            xs = np.geomspace(f["resistors_min"], f["resistors_max"], 50)
            ys = f["coefficient"] * xs ** f["exponent"]
            ax.plot(xs, ys, "--", color=color, alpha=0.7, label=label)
        else:  # not a power law over this range: say so, draw nothing
            ax.plot([], [], " ", label=f"{solver}: no fit drawn, r² = {f['r2']:.2f} < 0.9")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel("median total time (s)")
    ax.set_title("time vs network size")
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines or ax.containers:
        ax.legend(
            fontsize="small",
            title="points: medians; error bars: min–max of the measured runs",
            title_fontsize="small",
            framealpha=0.9,
        )
    sp = summary[(summary["solver"] == fast) & np.isfinite(summary["speedup_total"].astype(float))]
    sp = sp.sort_values("resistors")
    if len(sp):
        bx.plot(sp["resistors"], sp["speedup_total"], "o-", color="tab:green", label="total")
        solve_sp = sp[np.isfinite(sp["speedup_solve"].astype(float))]
        if len(solve_sp):
            bx.plot(
                solve_sp["resistors"],
                solve_sp["speedup_solve"],
                "s--",
                color="tab:olive",
                label="solve",
            )
        bx.set_yscale("log")
        bx.legend(fontsize="small")
    else:
        bx.text(
            0.5,
            0.5,
            "no size where both solvers ran",
            ha="center",
            va="center",
            transform=bx.transAxes,
        )
    bx.set_ylabel(f"speedup ({reference} / {fast}, median)")
    bx.set_title("speedup vs network size")
    bx.grid(True, which="both", alpha=0.3)
    for a in (ax, bx):  # shared x, but every panel keeps its tick labels and axis label
        a.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        a.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _si(v)))
        a.xaxis.set_minor_formatter(NullFormatter())
        a.tick_params(axis="x", which="both", labelbottom=True)
        a.set_xlabel("resistors")
    try:
        return atomic_save_figure(fig, path, fmt=fmt, dpi=PLOT_DPI)
    finally:
        plt.close(fig)
