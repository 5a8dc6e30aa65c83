"""Safe output files for every layer: atomic replacement and clear errors.

A file is written to a temporary name in its folder, fsynced and renamed over the
target, so a reader or a kill never sees a torn file; an ``OSError`` becomes a one-line
:class:`ResbenchError` naming the path and the option that chose it.  The bench's
result files (:mod:`resbench.bench.results`) and the batch files
(:mod:`resbench.batch.io`) both write through here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Any

from resbench.errors import ResbenchError

TMP_SUFFIX = ".resbench-tmp"  # temporary files of atomic writes: .<name>.<random>.resbench-tmp

__all__ = ["TMP_SUFFIX", "atomic_write_bytes", "atomic_write_text", "output_error"]


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def output_error(
    path: str | os.PathLike, exc: OSError, action: str = "write", *, option: str = "--out"
) -> ResbenchError:
    """A one-line error for an ``OSError`` on ``path``: what failed and what to do
    (``option`` names the command-line option that chose the path)."""
    p = str(path)
    if isinstance(exc, IsADirectoryError) or (Path(p).is_dir() and action == "write"):
        hint = f"it is a directory: remove or rename it, or use another {option}"
        return ResbenchError(f"cannot {action} {p}: {hint}")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = f"the disk is full: free space or use another {option}"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = f"no permission to write there: use a writable {option}"
    else:
        hint = f"use another {option}"
    return ResbenchError(f"cannot {action} {p}: {_reason(exc)}; {hint}")


def _atomic_write(path: Path, write: Any, option: str = "--out") -> Path:
    """Call ``write(fh)`` on a temporary file next to ``path``, fsync, rename over it."""
    path = Path(path)
    if path.is_dir():
        raise output_error(path, IsADirectoryError(errno.EISDIR, "Is a directory"), option=option)
    try:
        fd, tmp = tempfile.mkstemp(
            dir=path.parent or ".", prefix=f".{path.name}.", suffix=TMP_SUFFIX
        )
    except OSError as exc:
        raise output_error(path, exc, option=option) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise output_error(path, exc, option=option) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, option: str = "--out") -> Path:
    """Replace ``path`` with ``data`` atomically (temp file in the same folder + rename);
    an ``OSError`` is a ResbenchError naming the path and ``option``."""
    return _atomic_write(Path(path), lambda fh: fh.write(data), option)


def atomic_write_text(path: str | os.PathLike, text: str, *, option: str = "--out") -> Path:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), option=option)
