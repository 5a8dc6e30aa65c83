"""Result files of benchmark commands (compare, scale, regress) and their JSON sidecar.

Every command writes, into one output directory and under one ``stem``:

* ``<stem>_samples.csv`` — raw samples, one row per job × solver × run;
* ``<stem>_summary.csv`` — one row per job;
* ``<stem>_summary.md``  — a human-readable summary (markdown table);
* ``<stem>.json``        — the sidecar (DESIGN.md §7): machine fingerprint,
  versions, thread settings, git commit, command line, timestamp, plus any
  command-specific fields (options, exit code, file names).

Speedups are only meaningful within one run on one machine: the sidecar says
which machine, never compare absolute times across sidecars.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from resbench import env

THREAD_VARIABLES = (
    "NUMBA_NUM_THREADS",
    "NUMBA_THREADING_LAYER",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def machine_fingerprint() -> dict[str, Any]:
    """CPU model, core count, memory, OS: what a speedup figure is tied to."""
    mem = env.memory_bytes()
    return {
        "cpu": env.cpu_model(),
        "cores": os.cpu_count(),
        "memory_bytes": mem,
        "memory": f"{mem / 2**30:.1f} GiB" if mem else "unknown",
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": platform.node(),
    }


def versions() -> dict[str, str | None]:
    """Versions of Python, resbench, the numeric stack, PySpice and ngspice."""
    from resbench import __version__

    _, ngspice_cli = env.ngspice_cli_version()
    return {
        "resbench": __version__,
        "python": sys.version.split()[0],
        "numpy": env.package_version("numpy"),
        "numba": env.package_version("numba"),
        "scipy": env.package_version("scipy"),
        "pandas": env.package_version("pandas"),
        "PySpice": env.package_version("PySpice"),
        "ngspice": ngspice_cli,
        "ngspice_library": env.find_ngspice_library(),
    }


def thread_settings() -> dict[str, str | None]:
    """Thread-count environment variables (None when unset) and numba's thread count."""
    out: dict[str, str | None] = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    numba = sys.modules.get("numba")
    if numba is not None:
        try:
            out["numba.config.NUMBA_NUM_THREADS"] = str(numba.config.NUMBA_NUM_THREADS)
        except AttributeError:  # pragma: no cover
            pass
    return out


def git_commit(path: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git repository holding ``path`` (resbench's own
    source by default), or None outside a repository / without git."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        )
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command line as a shell-quoted string (``sys.argv`` by default)."""
    args = list(sys.argv if argv is None else argv)
    if args:
        args[0] = os.path.basename(args[0])
    return shlex.join(args)


def sidecar(
    *, command: str | None = None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON sidecar content common to every result file (DESIGN.md §7)."""
    meta: dict[str, Any] = {
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": command if command is not None else command_line(),
        "machine": machine_fingerprint(),
        "versions": versions(),
        "threads": thread_settings(),
        "git": git_commit(),
    }
    if extra:
        meta.update(extra)
    return meta


def _jsonable(obj: Any) -> Any:
    """Make numpy scalars, paths and non-finite floats JSON-safe (NaN/inf → None)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):
        try:
            obj = obj.item()
        except (ValueError, TypeError):
            return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    return str(obj)


def _cell(value: Any, floatfmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return format(value, floatfmt)
    text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pd.DataFrame, *, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured markdown table of ``df`` (no extra dependency)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, floatfmt) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_results(
    out_dir: str | os.PathLike,
    stem: str,
    *,
    samples: pd.DataFrame,
    summary: pd.DataFrame,
    markdown: str | None = None,
    meta: Mapping[str, Any] | None = None,
    sidecar_data: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the four result files; returns their paths by kind.

    ``markdown`` defaults to a title plus :func:`markdown_table` of ``summary``.
    The sidecar is ``sidecar_data`` when given (e.g. computed once with
    :func:`sidecar` and also used in the markdown), else :func:`sidecar`; ``meta``
    is added to it (it should carry the options and exit code of the run).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "samples": out / f"{stem}_samples.csv",
        "summary": out / f"{stem}_summary.csv",
        "markdown": out / f"{stem}_summary.md",
        "sidecar": out / f"{stem}.json",
    }
    samples.to_csv(paths["samples"], index=False)
    summary.to_csv(paths["summary"], index=False)
    if markdown is None:
        markdown = f"# {stem}\n\n" + markdown_table(summary)
    paths["markdown"].write_text(markdown, encoding="utf-8")
    content = dict(sidecar_data) if sidecar_data is not None else sidecar()
    content.update(meta or {})
    content["files"] = {k: p.name for k, p in paths.items()}
    paths["sidecar"].write_text(
        json.dumps(_jsonable(content), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    return paths
