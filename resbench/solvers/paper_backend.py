"""The paper's own PyTorch code as a peer solver (DRN-shaped circuits only).

The code of Scellier's fast-DRN paper (``rain-neuromorphics/energy-based-learning``)
is not a package: :mod:`resbench.bench.paper` loads it from a checkout the user
points to (``paper_code=DIR`` / ``--solver-option paper.paper_code=DIR`` /
``--paper-code DIR``, or the environment variable ``RESBENCH_PAPER_CODE``) with torch
from the ``peers`` extra, and maps a resbench DRN (:func:`resbench.generate.drn`'s
layout) onto its ``DeepResistiveEnergy`` (:func:`~resbench.bench.paper.export_paper_params`).
This module only wraps that as a solver entry: one operating point, batch 1.

* A circuit that is not a DRN in that layout → :class:`NotApplicable` (the bench shows
  a "not applicable" row, with the reason the mapping gave); this is decided first,
  in numpy, so it holds without torch too.
* No torch, or no checkout → :class:`NotInstalled`, whose message says exactly what to
  install (``pip install -e '.[peers]'``) or set (``--paper-code DIR`` /
  ``RESBENCH_PAPER_CODE``).

``timings``: ``setup`` = exporting the parameters, building the paper's model and
loading its tensors, and feeding the input; ``solve`` = its ``compute_equilibrium``
(block coordinate descent, the paper's own number of iterations unless
``iterations`` says otherwise) and reading the layer states back.  The paper's code
stops after a fixed number of iterations and claims nothing else, so its status is
``converged`` ("ran N iterations") and the certificate decides whether that is the
equilibrium: at the paper's settings it usually is not (docs/peers.md).
"""

from __future__ import annotations

import time

import numpy as np

from resbench.circuit import Circuit
from resbench.errors import CircuitError, ResbenchError
from resbench.solution import CONVERGED, Solution
from resbench.solvers.registry import NotApplicable, NotInstalled

__all__ = ["solve_paper"]


def solve_paper(
    circuit: Circuit,
    *,
    paper_code: str | None = None,
    iterations: int | None = None,
    dtype: str = "float64",
    threads: int | None = None,
) -> Solution:
    """Solve a DRN circuit with the paper's own code (see the module docstring)."""
    from resbench.bench.paper import (  # lazy: torch and the checkout load only here
        PaperCodeUnavailable,
        PaperModel,
        export_paper_params,
        load_paper_code,
    )

    t0 = time.perf_counter()
    try:
        params = export_paper_params(circuit)
    except CircuitError as exc:
        why = exc.args[0] if exc.args else str(exc)
        raise NotApplicable(f"paper: not a DRN in resbench.generate.drn's layout ({why})") from None
    try:
        import torch  # noqa: F401
    except ImportError:
        raise NotInstalled(
            "the paper solver needs PyTorch: pip install -e '.[peers]' (and a checkout of "
            "its code: --paper-code DIR or RESBENCH_PAPER_CODE=DIR)"
        ) from None
    try:
        load_paper_code(paper_code)
    except PaperCodeUnavailable as exc:
        raise NotInstalled(f"the paper solver needs its code: {exc}") from None
    index = {name.lower(): k for k, name in enumerate(circuit.vsources.names)}
    inputs = circuit.vsources.value[[index[n.lower()] for n in params.input_names]]
    try:
        model = PaperModel(
            params, dtype=np.dtype(dtype), iterations=iterations, paper_code=paper_code
        )
        x = model.pixels(inputs[None, :])
    except PaperCodeUnavailable as exc:
        raise NotInstalled(f"paper: {exc}") from None
    except ResbenchError as exc:  # inputs that are not (+x, -x) pairs
        raise NotApplicable(f"paper: {exc}") from None
    t1 = time.perf_counter()
    v = model.voltages(model.run(x, threads))[0]
    t2 = time.perf_counter()
    return Solution(
        circuit=circuit,
        voltages=v,
        solver="paper",
        status=CONVERGED,
        sweeps=model.iterations,
        timings={"setup": t1 - t0, "solve": t2 - t1, "total": t2 - t0},
        info={
            "claimed": f"ran {model.iterations} iterations",
            "iterations": model.iterations,
            "dtype": str(np.dtype(dtype)),
        },
    )
