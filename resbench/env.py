"""Facts about this machine and the installed tools (for `info` and result sidecars)."""

from __future__ import annotations

import ctypes.util
import glob
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata

_NGSPICE_LIB_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libngspice.so",
    "/usr/lib/x86_64-linux-gnu/libngspice.so.0",
    "/usr/lib/aarch64-linux-gnu/libngspice.so",
    "/usr/lib/aarch64-linux-gnu/libngspice.so.0",
    "/usr/lib/libngspice.so",
    "/usr/local/lib/libngspice.so",
)


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def find_ngspice_library() -> str | None:
    """Path of libngspice's shared library, or None."""
    env = os.environ.get("NGSPICE_LIBRARY_PATH")
    if env and os.path.exists(env):
        return env
    for path in _NGSPICE_LIB_CANDIDATES:
        if os.path.exists(path):
            return path
    for path in sorted(glob.glob("/usr/lib/*/libngspice.so*")):
        return path
    found = ctypes.util.find_library("ngspice")
    return found


def ngspice_cli_version() -> tuple[str | None, str | None]:
    """(path of the ngspice CLI, its version string) or (None, None)."""
    exe = shutil.which("ngspice")
    if exe is None:
        return None, None
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return exe, None
    m = re.search(r"ngspice-(\d+(?:\.\d+)*)", out) or re.search(
        r"ngspice\S*\s+(\d+(?:\.\d+)*)", out
    )
    return exe, (m.group(1) if m else None)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def environment_report() -> dict[str, str]:
    """Versions of Python and dependencies, machine facts, ngspice availability."""
    from resbench import __version__

    exe, cli_ver = ngspice_cli_version()
    lib = find_ngspice_library()
    mem = memory_bytes()
    return {
        "resbench": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": f"{mem / 2**30:.1f} GiB" if mem else "unknown",
        "numpy": package_version("numpy"),
        "numba": package_version("numba"),
        "scipy": package_version("scipy"),
        "pandas": package_version("pandas"),
        "PySpice": package_version("PySpice"),
        "click": package_version("click"),
        "rich": package_version("rich"),
        "ngspice library": lib or "NOT FOUND (apt-get install libngspice0-dev)",
        "ngspice CLI": f"{exe} (version {cli_ver})"
        if exe
        else "NOT FOUND (apt-get install ngspice)",
        "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS", "default"),
    }
