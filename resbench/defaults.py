"""Defaults and fixed vocabularies shared by the library and every command, each defined once.

Import them, never copy them (pip-tools' ``options.py`` pattern): a value written
twice drifts.  This module imports only the standard library, so the CLI can
build its options from it without loading numpy, pandas, numba or PySpice.

The solver names live in the solver registry (:mod:`resbench.solvers.registry`),
which every caller reads; the other vocabularies and numbers live here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from resbench.errors import ResbenchError

# ---------------------------------------------------------------- tolerances
#: agreement tolerance (V) on every node voltage between an exact solver and ngspice.
#: ngspice's ideal-diode switch (RON=1e-5 Ω, ROFF=1e12 Ω) was measured within 6e-8 V of
#: the exact answer, so 1e-6 V leaves a margin of more than ten.
DEFAULT_ATOL = 1e-6
#: relative tolerance of the certificate's verdict (resbench.certificate)
DEFAULT_RTOL = 1e-9
#: cd's stopping rule: estimated voltage error ≤ tol × voltage scale (largest source voltage)
CD_DEFAULT_TOL = 1e-12
#: cd's sweep limit (then the exact polish finishes)
CD_DEFAULT_MAX_SWEEPS = 100_000
#: cd's over-relaxation factor and polish rule
CD_DEFAULT_OMEGA = "auto"
CD_POLISH_MODES = ("auto", "always", "never")
CD_DEFAULT_POLISH = "auto"
#: seconds one ngspice run may take before its process group is killed
DEFAULT_TIMEOUT = 600.0

# -------------------------------------------------------------------- ngspice
#: how ngspice runs: libngspice in a reused worker (shared) or ``ngspice -b`` (batch)
NGSPICE_MODES = ("shared", "batch")
DEFAULT_NGSPICE_MODE = "shared"
#: how ngspice models an ideal diode: a self-controlled switch, or SPICE's Shockley diode
DIODE_MODELS = ("switch", "shockley")
DEFAULT_DIODE_MODEL = "switch"

# ------------------------------------------------------------------ generator
#: network families of ``resbench generate`` / ``resbench scale`` (resbench.generate)
FAMILIES = ("drn", "grid", "random", "chain", "star", "powergrid")
#: names of the paper's DRN sizes (their layer sizes: resbench.generate.PRESETS)
DRN_PRESETS = ("xs", "1h", "2h", "3h", "xl")

# ------------------------------------------------------------------- netlists
#: file extensions (compared lower-case) that a directory argument is searched for
NETLIST_SUFFIXES = (".cir", ".sp", ".spi", ".net", ".spice", ".ckt")
#: directory names (lower-case) skipped when searching: ``.include`` targets, not circuits
SKIP_DIRS = ("lib",)


def find_netlists(paths: Iterable[str | os.PathLike], *, must_exist: bool = True) -> list[Path]:
    """The netlist files named by ``paths``, in the order given.

    A file is taken as given, whatever its extension.  A directory gives its files
    whose extension (any case) is in :data:`NETLIST_SUFFIXES`, recursively and
    sorted, skipping directories named as in :data:`SKIP_DIRS` (any case).  A path
    that does not exist raises ResbenchError when ``must_exist``, else is kept (the
    caller reports it when reading it).  Every command that takes netlist
    directories finds files here, so they all pick the same ones.
    """
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = []
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d.lower() not in SKIP_DIRS)
                for name in files:
                    if name.lower().endswith(NETLIST_SUFFIXES):
                        found.append(Path(root) / name)
            out.extend(sorted(found))
        elif path.exists() or not must_exist:
            out.append(path)
        else:
            raise ResbenchError(f"no such file or directory: {path}")
    return out
