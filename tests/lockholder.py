"""Hold an output folder's lock from another process (for the tests of concurrent runs)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

# What resbench.bench.results.output_lock does, without importing resbench (fast start).
_HOLD = (
    "import fcntl, json, os, sys\n"
    "path = os.path.join(sys.argv[1], '.resbench.lock')\n"
    "fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    "os.ftruncate(fd, 0)\n"
    "info = {'pid': os.getpid(), 'started': '2026-01-01T00:00:00+00:00', 'command': 'test'}\n"
    "os.write(fd, json.dumps(info).encode())\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


@contextlib.contextmanager
def hold_lock(folder: str | Path) -> Iterator[subprocess.Popen]:
    """A child process that holds ``folder``'s resbench lock until the block ends."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
