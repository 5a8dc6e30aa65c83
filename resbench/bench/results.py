"""Result files of benchmark commands (compare, scale, regress) and their JSON sidecar.

Every command writes, into one output directory and under one ``stem``:

* ``<stem>_samples.csv`` — raw samples, one row per job × solver × run;
* ``<stem>_summary.csv`` — one row per job;
* ``<stem>_summary.md``  — a human-readable summary (markdown table);
* ``<stem>.json``        — the sidecar (docs/design.md §7): machine fingerprint,
  versions, thread settings, git commit, command line, timestamp, plus any
  command-specific fields (options, exit code, file names).

Speedups are only meaningful within one run on one machine: the sidecar says
which machine, never compare absolute times across sidecars.

Safety of the files (one place for every writer):

* :func:`output_lock` holds an exclusive ``fcntl.flock`` on ``<dir>/.resbench.lock``
  while a run writes into ``<dir>``; a second run on the same folder stops at once
  with a clear message (:class:`OutputBusyError`, exit 2) instead of mixing rows.
* :func:`atomic_write_text` / :func:`atomic_write_bytes` / :func:`atomic_save_figure`
  write a temporary file in the same folder, flush it to disk and ``os.replace`` it
  over the target: a reader (or a kill) sees the old file or the new one, never a
  torn one.
* Every ``OSError`` becomes a :class:`~resbench.errors.ResbenchError` naming the path
  and what to do (never a traceback).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from resbench import env
from resbench.errors import ResbenchError
from resbench.files import (  # noqa: F401  (re-exported: the bench's file helpers)
    TMP_SUFFIX,
    _atomic_write,
    _reason,
    atomic_write_bytes,
    atomic_write_text,
    output_error,
)

LOCK_NAME = ".resbench.lock"

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
    """The JSON sidecar content common to every result file (docs/design.md §7)."""
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


def machine_line(meta: dict[str, Any], *, load: bool = False) -> str:
    """The "Machine: … Python …, ngspice …." line of a markdown summary, from a sidecar
    (``load``: with the load average, as scale reports it)."""
    m = meta.get("machine", {})
    v = meta.get("versions", {})
    where = f"{m.get('cpu')}, {m.get('cores')} cores, {m.get('memory')}"
    where += f"; load average {meta.get('load_average')}" if load else ""
    return (
        f"Machine: {where}. Python {v.get('python')}, numpy {v.get('numpy')}, "
        f"numba {v.get('numba')}, PySpice {v.get('PySpice')}, ngspice {v.get('ngspice')}."
    )


def jsonable(obj: Any) -> Any:
    """``obj`` made JSON-safe, recursively: numpy scalars as Python numbers, paths as
    strings, NaN/inf as None, mappings and sequences rebuilt, anything else as its
    ``str`` (every sidecar and baseline goes through it, so ``allow_nan=False`` holds)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [jsonable(v) for v in obj]
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
    return markdown_escape(str(value))


def markdown_escape(text: str) -> str:
    """Text safe inside a markdown table cell: ``|`` escaped, line breaks as spaces."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown_table(df: pd.DataFrame, *, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured markdown table of ``df`` (no extra dependency); ``|`` in
    headers and cells is escaped so that the table renders (``max |Δv|``)."""
    cols = [markdown_escape(str(c)) for c in df.columns]
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
    is added to it (it should carry the options and exit code of the run).  Written
    under the folder's :func:`output_lock`, each file atomically.
    """
    paths = result_paths(out_dir, stem)
    if markdown is None:
        markdown = f"# {stem}\n\n" + markdown_table(summary)
    content = dict(sidecar_data) if sidecar_data is not None else sidecar()
    content.update(meta or {})
    content["files"] = {k: p.name for k, p in paths.items()}
    with output_lock(out_dir):
        check_targets(list(paths.values()))
        atomic_write_csv(paths["samples"], samples)
        atomic_write_csv(paths["summary"], summary)
        atomic_write_text(paths["markdown"], markdown)
        atomic_write_json(paths["sidecar"], content)
    return paths


def result_paths(out_dir: str | os.PathLike, stem: str) -> dict[str, Path]:
    """The four result files of ``stem`` in ``out_dir``, by kind."""
    out = Path(out_dir)
    return {
        "samples": out / f"{stem}_samples.csv",
        "summary": out / f"{stem}_summary.csv",
        "markdown": out / f"{stem}_summary.md",
        "sidecar": out / f"{stem}.json",
    }


# --------------------------------------------------------------------------- safe files
class OutputBusyError(ResbenchError):
    """Another resbench run holds the output folder's lock (exit 2)."""


def ensure_output_dir(out_dir: str | os.PathLike, *, option: str = "--out") -> Path:
    """Create the output folder (and its parents); a clear ResbenchError when it cannot
    be a folder of results (under /proc, a file in the way, no permission …)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ResbenchError(
            f"cannot use {out} as the output folder: it exists and is not a directory; "
            f"use another {option}"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResbenchError(
            f"cannot create the output folder {out}: {_reason(exc)}; "
            f"use another {option} (in a writable directory)"
        ) from None
    return out


def check_targets(paths: Sequence[str | os.PathLike], *, option: str = "--out") -> None:
    """Refuse, before a long run, result paths that cannot be replaced by a file."""
    for p in paths:
        if Path(p).is_dir():
            raise output_error(p, IsADirectoryError(errno.EISDIR, "Is a directory"), option=option)


_HELD: dict[str, list] = {}  # realpath of a locked folder → [fd, depth] (this process)
_HELD_GUARD = threading.Lock()


def _holder(path: Path, wait: float = 0.5) -> str:
    """``pid N, started T`` from a lock file (what the running process wrote there).

    The holder writes its pid just after taking the lock: a reader that comes in between
    waits up to ``wait`` seconds for it."""
    deadline = time.monotonic() + wait
    while True:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            return f"pid {int(info['pid'])}, started {info['started']}"
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() >= deadline:
                return "pid unknown, started at an unknown time"
            time.sleep(0.02)


@contextlib.contextmanager
def output_lock(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold the output folder's lock (created if needed) for the ``with`` block.

    Non-blocking: when another process holds it, raise :class:`OutputBusyError` at
    once, naming its pid and start time.  Re-entrant within one process.  The lock
    file is removed on release; a lock left by a killed process is free (the kernel
    drops ``flock`` locks with their process).
    """
    out = ensure_output_dir(out_dir)
    key = os.path.realpath(out)
    with _HELD_GUARD:
        if key in _HELD:
            _HELD[key][1] += 1
            held = True
        else:
            held = False
    if held:
        try:
            yield out
        finally:
            with _HELD_GUARD:
                _HELD[key][1] -= 1
        return
    path = out / LOCK_NAME
    fd = -1
    for _ in range(10):  # the file may be unlinked by its releasing holder meanwhile
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ResbenchError(
                f"cannot write in the output folder {out}: {_reason(exc)}; "
                "use another --out (a writable directory)"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputBusyError(
                    f"another resbench run ({_holder(path)}) is writing to {out}; "
                    "wait for it or use another --out"
                ) from None
            raise ResbenchError(
                f"cannot lock the output folder {out}: {_reason(exc)}; use another --out"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
        fd = -1
    if fd < 0:  # pragma: no cover - ten lost races in a row
        raise OutputBusyError(f"could not lock {out}: other runs keep replacing its lock")
    for stale in out.glob(f".*{TMP_SUFFIX}"):  # left by a killed run; nobody else writes now
        with contextlib.suppress(OSError):
            stale.unlink()
    started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    info = {"pid": os.getpid(), "started": started, "command": command_line()}
    os.ftruncate(fd, 0)
    os.write(fd, (json.dumps(info) + "\n").encode("utf-8"))
    with _HELD_GUARD:
        _HELD[key] = [fd, 1]
    try:
        yield out
    finally:
        with _HELD_GUARD:
            del _HELD[key]
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still locked: the next run creates a fresh file
        os.close(fd)


@contextlib.contextmanager
def claim_output(out_dir: str | os.PathLike, stem: str | None, *extra: str) -> Iterator[Path]:
    """:func:`output_lock` on ``out_dir``, after checking that the result files of
    ``stem`` (none when None) and the file names in ``extra`` can be written there: what
    a command does first, so that a bad ``--out`` stops it before any work."""
    with output_lock(out_dir) as out:
        files = list(result_paths(out, stem).values()) if stem is not None else []
        check_targets([*files, *(out / name for name in extra)])
        yield out


def atomic_write_csv(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Replace ``path`` with ``df`` as CSV (no index, ``\\n`` line ends) atomically."""
    return atomic_write_text(path, df.to_csv(index=False, lineterminator="\n"))


def repair_tail(path: str | os.PathLike) -> None:
    """Drop a partially written last line of a text file (an append cut short by a kill
    or a crash), so that the rows before it can be read and appended to."""
    path = Path(path)
    if not path.exists():
        return
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        chunk = min(size, 1 << 20)
        while True:
            fh.seek(size - chunk)
            data = fh.read(chunk)
            k = data.rfind(b"\n")
            if k >= 0 or chunk == size:
                fh.truncate(size - chunk + k + 1 if k >= 0 else 0)
                return
            chunk = min(size, chunk * 2)


def append_csv_rows(
    path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]
) -> None:
    """Append ``rows`` (dicts; only ``columns``, in that order) to a CSV file, with the
    header if the file is new.  The file is rewritten whole through a temporary file and
    an atomic rename, so it is never seen half written."""
    if not rows:
        return
    path = Path(path)
    df = pd.DataFrame(list(rows)).reindex(columns=list(columns))
    try:
        old = path.read_bytes() if path.exists() else b""
    except OSError as exc:
        raise output_error(path, exc, "read") from None
    text = df.to_csv(index=False, header=not old, lineterminator="\n")
    atomic_write_bytes(path, old + text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, content: Any) -> Path:
    """Replace ``path`` with strict JSON of ``content`` (NaN/inf → null) atomically."""
    return atomic_write_text(path, json.dumps(jsonable(content), indent=2, allow_nan=False) + "\n")


def atomic_save_figure(fig: Any, path: str | os.PathLike, *, fmt: str, dpi: int = 200) -> Path:
    """Save a matplotlib figure atomically in format ``fmt`` (png, pdf, svg)."""
    return _atomic_write(Path(path), lambda fh: fig.savefig(fh, format=fmt, dpi=dpi))
