"""How much memory this process can still allocate (generators and solvers check sizes
against it before building anything big)."""

from __future__ import annotations

import os
import time

__all__ = ["available_memory", "gib"]


def gib(nbytes: int) -> str:
    """``"1.5 GiB"`` / ``"0.25 GiB"``: a byte count for a message."""
    g = nbytes / 2**30
    return f"{g:,.1f} GiB" if g >= 1 else f"{g:.2g} GiB"


def _cgroup_dirs() -> list[tuple[str, str, str, str]]:
    """(limit, usage, stat file, page-cache key) of this process's memory cgroup, v2 and
    v1, at its own path and at the root (a container sees its own cgroup as the root)."""
    own = {"v2": "", "v1": ""}
    try:
        with open("/proc/self/cgroup") as fh:
            for line in fh:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if controllers == "":
                    own["v2"] = path
                elif "memory" in controllers.split(","):
                    own["v1"] = path
    except (OSError, ValueError):
        pass
    out = []
    for rel in dict.fromkeys([own["v2"].strip("/"), ""]):
        d = os.path.join("/sys/fs/cgroup", rel)
        out.append((f"{d}/memory.max", f"{d}/memory.current", f"{d}/memory.stat", "inactive_file"))
    for rel in dict.fromkeys([own["v1"].strip("/"), ""]):
        d = os.path.join("/sys/fs/cgroup/memory", rel)
        out.append(
            (
                f"{d}/memory.limit_in_bytes",
                f"{d}/memory.usage_in_bytes",
                f"{d}/memory.stat",
                "total_inactive_file",
            )
        )
    return out


#: (time.monotonic() of the reading, bytes): the last :func:`available_memory` reading
_LAST: tuple[float, int] | None = None


def available_memory(*, max_age: float = 0.0) -> int:
    """Bytes this process can still allocate: psutil's available memory, lowered by a
    cgroup memory limit (containers, systemd) and by ``ulimit -v`` where those are set.

    ``max_age``: seconds a previous reading may be reused instead of reading again
    (~0.3 ms: psutil and a dozen small files; a batch loop checks before every batch).
    0, the default, reads now."""
    global _LAST
    now = time.monotonic()
    if max_age > 0.0 and _LAST is not None and now - _LAST[0] <= max_age:
        return _LAST[1]
    avail = _read_available()
    _LAST = (now, avail)
    return avail


def _read_available() -> int:
    import psutil

    avail = int(psutil.virtual_memory().available)
    for limit_file, usage_file, stat_file, cache_key in _cgroup_dirs():
        try:
            with open(limit_file) as fh:
                limit = int(fh.read().strip())  # "max" (no limit) is a ValueError
            with open(usage_file) as fh:
                usage = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        cache = 0  # page cache the kernel reclaims before it kills anything
        try:
            with open(stat_file) as fh:
                for line in fh:
                    key, _, value = line.partition(" ")
                    if key == cache_key:
                        cache = int(value)
        except (OSError, ValueError):
            pass
        avail = min(avail, max(0, limit - usage + cache))
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            avail = min(avail, max(0, soft - psutil.Process().memory_info().vms))
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        pass
    return avail
