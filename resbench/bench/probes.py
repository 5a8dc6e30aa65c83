"""Memory and CPU-time probes of benchmark runs (``resbench scale``, ``resbench regress``).

* :func:`process_cpu_ns`: CPU nanoseconds of every thread of a process, read from
  ``/proc/<pid>/task/*/schedstat``.  psutil's ``cpu_times()`` would do the same job
  in clock ticks (10 ms on most kernels): too coarse for ngspice runs of a few
  milliseconds, so the gate's CPU-time speedups keep the nanosecond counter.
* :class:`PeakRSS`: peak resident memory of a process during a block, from the
  kernel's high-water mark (``/proc/<pid>/clear_refs`` ← ``5``, then ``VmHWM``;
  psutil exposes no high-water mark and cannot reset it) and, where asked or where
  the mark cannot be reset, a psutil poll of the RSS.  :func:`release_free_memory`
  runs before a measured block so the previous run's garbage is not counted.

Where ``/proc`` cannot be read the probes return None (CPU) or fall back to psutil
(memory); they never raise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import threading
from dataclasses import dataclass
from typing import Any


def process_cpu_ns(pid: int) -> int | None:
    """CPU nanoseconds used so far by every live thread of process ``pid`` (Linux
    ``/proc/<pid>/task/*/schedstat``), or None where that cannot be read."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    total = 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as fh:
                total += int(fh.read().split()[0])
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        except (OSError, ValueError, IndexError):
            return None
    return total


# --------------------------------------------------------------------------- memory
@dataclass
class MemoryUse:
    """Peak resident memory of one process during one run (bytes)."""

    peak: float
    base: float
    method: str  # "hwm" (kernel high-water mark) or "poll" (psutil polling)

    @property
    def delta(self) -> float:
        return max(0.0, self.peak - self.base)


def _proc_status(pid: int) -> dict[str, float] | None:
    """VmRSS and VmHWM of a process in bytes, or None (no /proc, process gone)."""
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = float(value.split()[0]) * 1024.0  # kB
    except OSError:
        return None
    return out if len(out) == 2 else None


def _reset_hwm(pid: int) -> bool:
    """Reset the kernel's peak-RSS mark of ``pid`` (Linux ≥ 4.0); False if not possible."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _rss(pid: int) -> float | None:
    st = _proc_status(pid)
    if st is not None:
        return st["VmRSS"]
    try:
        import psutil

        return float(psutil.Process(pid).memory_info().rss)
    except Exception:  # noqa: BLE001 - gone, or no psutil support
        return None


_LIBC: Any = None


def release_free_memory() -> None:
    """Collect garbage and hand freed heap back to the OS (glibc ``malloc_trim``)."""
    global _LIBC
    gc.collect()
    if _LIBC is None:
        name = ctypes.util.find_library("c")
        try:
            _LIBC = ctypes.CDLL(name) if name else False
        except OSError:
            _LIBC = False
    trim = getattr(_LIBC, "malloc_trim", None) if _LIBC else None
    if trim is not None:
        trim(0)


class PeakRSS:
    """Context manager: the peak RSS of process ``pid`` (default: this one) while open.

    Uses the kernel high-water mark (reset on entry, ``VmHWM`` on exit) where
    possible; ``poll=True`` (or no high-water mark) also polls the RSS every
    ``interval`` seconds in a thread.  The result is :attr:`result` (a
    :class:`MemoryUse`) after the block.
    """

    def __init__(self, pid: int | None = None, *, poll: bool = False, interval: float = 0.01):
        self.pid = os.getpid() if pid is None else int(pid)
        self.poll = poll
        self.interval = interval
        self.result: MemoryUse | None = None
        self._hwm = False
        self._max = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poller(self) -> None:
        try:
            import psutil

            proc = psutil.Process(self.pid)
            while True:
                self._max = max(self._max, float(proc.memory_info().rss))
                if self._stop.wait(self.interval):
                    break
        except Exception:  # noqa: BLE001 - the process went away (e.g. killed on timeout)
            return

    def __enter__(self) -> PeakRSS:
        self._hwm = _reset_hwm(self.pid)
        self.base = _rss(self.pid) or 0.0
        self._max = self.base
        if self.poll or not self._hwm:
            self._thread = threading.Thread(target=self._poller, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        st = _proc_status(self.pid) if self._hwm else None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if st is not None:
            self.result = MemoryUse(max(st["VmHWM"], self._max), self.base, "hwm")
        else:
            self.result = MemoryUse(self._max, self.base, "poll")
