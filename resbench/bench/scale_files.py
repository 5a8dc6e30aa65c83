"""Reading back the CSV files of a ``resbench scale`` sweep (``--resume`` and the reports).

The sweep appends rows as sizes finish, so a file may end in a line torn by a kill
(dropped, :func:`resbench.bench.results.repair_tail`), or have been edited by hand.
:func:`read_scale_csv` refuses, with a message naming the file, the line and what
to do, any file whose columns are not this version's or whose values cannot come
from a sweep (:class:`FileRules` says which values can).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from resbench.bench.results import output_error, repair_tail
from resbench.errors import ResbenchError


@dataclass(frozen=True)
class FileRules:
    """The values a sweep writes: families, solver ids, row statuses, and
    ``size_ok(family, size)`` for size labels."""

    families: tuple[str, ...]
    solvers: tuple[str, ...]
    statuses: tuple[str, ...]
    size_ok: Callable[[str, str], bool]


#: columns of the result files that hold text (every other one is a number or empty)
TEXT_COLUMNS = ("family", "size", "solver", "phase", "status", "mem_method", "error")
TEXT_COLUMNS += ("worst_node", "agree", "certified", "run_id", "message")
TEXT_COLUMNS += ("claimed",)  # a peer's own status (scale --solvers cd,osqp,…)
TEXT_COLUMNS += ("worker_host", "worker_cpu")  # where a --cluster cell ran


def corrupt(path: Path, what: str) -> ResbenchError:
    """The error for a file that cannot be a scale file: what is wrong, what to do."""
    return ResbenchError(
        f"{path} is not a resbench scale file ({what}); move it away and start a new sweep "
        "without --resume, or use another --out"
    )


def check_rows(path: Path, df: pd.DataFrame, rules: FileRules) -> None:
    """Refuse a file whose values cannot come from ``resbench scale`` (a torn or edited
    file): unknown family, solver or status, a bad size or seed, text in a number column."""
    line = {i: i + 2 for i in range(len(df))}  # header is line 1

    def first_bad(mask: pd.Series) -> int:
        return line[int(np.flatnonzero(mask.to_numpy())[0])]

    fam = df["family"].astype(str)
    if (bad := ~fam.isin(rules.families)).any():
        k = first_bad(bad)
        known = ", ".join(rules.families)
        raise corrupt(path, f"line {k}: family {fam[bad].iloc[0]!r} is not one of {known}")
    seeds = pd.to_numeric(df["seed"], errors="coerce")
    if (bad := ~(np.isfinite(seeds) & (seeds >= 0) & (seeds == np.round(seeds)))).any():
        k = first_bad(bad)
        raise corrupt(path, f"line {k}: seed {df['seed'][bad].iloc[0]!r} is not an integer >= 0")
    for i, (f, size) in enumerate(zip(fam, df["size"].astype(str), strict=True)):
        if not rules.size_ok(f, size):
            raise corrupt(path, f"line {line[i]}: {size!r} is not a {f} size")
    solvers = df["solver"].astype(str)
    if (bad := ~solvers.isin(rules.solvers)).any():
        k = first_bad(bad)
        known = " or ".join(rules.solvers)
        raise corrupt(path, f"line {k}: solver {solvers[bad].iloc[0]!r} is not {known}")
    if "status" in df and "phase" not in df:
        st = df["status"].astype(str)
        if (bad := ~st.isin(rules.statuses)).any():
            raise corrupt(path, f"line {first_bad(bad)}: status {st[bad].iloc[0]!r} is unknown")
    for col in df.columns:
        if col in TEXT_COLUMNS or col == "seed":
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        if (bad := values.isna() & df[col].notna()).any():
            raise corrupt(
                path, f"line {first_bad(bad)}: {col} {df[col][bad].iloc[0]!r} is not a number"
            )


def read_scale_csv(path: Path, columns: list[str], rules: FileRules) -> pd.DataFrame:
    """The rows of a scale CSV file (empty when there is none), its torn last line
    dropped; a ResbenchError naming the file and what to do when it is not one."""
    try:
        repair_tail(path)
        if not path.exists() or path.stat().st_size == 0:
            return pd.DataFrame(columns=columns)
        df = pd.read_csv(path, dtype={"size": str, "family": str, "solver": str})
    except OSError as exc:
        raise output_error(path, exc, "read") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        reason = " ".join(str(e).split())[:120]
        raise corrupt(path, f"unreadable as CSV: {reason}") from None
    if list(df.columns) != columns:
        raise ResbenchError(
            f"{path} does not have the columns of this version of resbench scale; "
            "start a new sweep without --resume, or use another --out"
        )
    check_rows(path, df, rules)
    return df
