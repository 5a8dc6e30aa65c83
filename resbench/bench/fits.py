"""Power-law fits of benchmark times against network size (``resbench scale``).

``time ≈ a · resistors^k``: a least-squares line in log-log (``scipy.stats.linregress``)
over the ``ok`` rows of a summary, per solver, for the median total and solve times.
The range used (sizes, resistors) and the quality (r², the slope's standard error)
go with every fit, so that a reader can tell a power law from a curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from resbench.bench.timing import OK

#: a fit whose r² is below this is reported but not drawn (the points are not a power law)
MIN_R2_DRAWN = 0.9
FIT_METHOD = (
    "scipy.stats.linregress of log10(median time) on log10(resistors) over the ok rows; "
    "k ± its standard error; the line is drawn only when r² >= 0.9"
)


def fit_power_law(resistors: Sequence[float], seconds: Sequence[float]) -> dict | None:
    """Least-squares line through (log10 resistors, log10 seconds): ``t ≈ a · R^k``
    (``scipy.stats.linregress``).

    Returns ``{"exponent": k, "exponent_stderr", "coefficient": a, "r2", "points",
    "resistors_min", "resistors_max"}`` over the finite positive points, or None with
    fewer than 2 distinct sizes.  ``exponent_stderr`` is linregress's standard error
    of the slope (NaN with 2 points: a line through 2 points has no error estimate).
    """
    from scipy.stats import linregress

    x = np.asarray(resistors, dtype=float)
    y = np.asarray(seconds, dtype=float)
    m = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[m], y[m]
    if np.unique(x).size < 2:
        return None
    lx, ly = np.log10(x), np.log10(y)
    fit = linregress(lx, ly)
    r2 = float(fit.rvalue) ** 2 if np.ptp(ly) > 0 else 1.0
    stderr = float(fit.stderr) if x.size > 2 else float("nan")
    return {
        "exponent": float(fit.slope),
        "exponent_stderr": stderr,
        "coefficient": float(10.0**fit.intercept),
        "r2": r2,
        "points": int(x.size),
        "resistors_min": int(x.min()),
        "resistors_max": int(x.max()),
    }


def exponent_text(f: Mapping[str, Any], digits: int = 2) -> str:
    """``k = 1.83 ± 0.05`` (the ± only where a standard error exists)."""
    k = f"k = {f['exponent']:.{digits}f}"
    se = f.get("exponent_stderr")
    if se is not None and np.isfinite(se):
        k += f" ± {se:.{digits}f}"
    return k


def fits(summary: pd.DataFrame) -> dict[str, dict[str, dict | None]]:
    """Power-law fits of median total and solve time per solver over the ``ok`` rows."""
    out: dict[str, dict[str, dict | None]] = {}
    if not len(summary):
        return out
    ok = summary[summary["status"] == OK]
    for solver in dict.fromkeys(summary["solver"].astype(str)):
        rows = ok[ok["solver"] == solver]
        out[solver] = {}
        for key in ("total", "solve"):
            f = fit_power_law(rows["resistors"], rows[f"{key}_median"])
            if f is not None:
                used = rows[np.isfinite(rows[f"{key}_median"]) & (rows[f"{key}_median"] > 0)]
                f["sizes"] = [str(s) for s in used["size"]]
            out[solver][key] = f
    return out
