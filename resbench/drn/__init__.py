"""Deep resistive networks (the paper's DRN) and their training by equilibrium propagation.

- :mod:`resbench.drn.config`: the paper's presets (:class:`DrnConfig`, :func:`preset`);
- :mod:`resbench.drn.model`: :class:`Drn`, the weights and biases in the paper's layout,
  its initialisation, circuit / netlist export and checkpoints;
- :mod:`resbench.drn.solver`: :func:`solve_drn`, the exact batched solver of a DRN's
  equilibrium (free or nudged) working on the weight matrices;
- :mod:`resbench.drn.eqprop`: :class:`EqPropStep` (centered equilibrium propagation,
  SGD with the paper's clamp) and :func:`evaluate`.

Names are imported lazily, so ``import resbench.drn`` loads neither numba nor the
solver until they are used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "PRESETS",
    "Drn",
    "DrnConfig",
    "DrnState",
    "EqPropStep",
    "Simulator",
    "StepStats",
    "evaluate",
    "preset",
    "solve_drn",
]

_WHERE = {
    "PRESETS": "config",
    "DrnConfig": "config",
    "preset": "config",
    "Drn": "model",
    "DrnState": "solver",
    "solve_drn": "solver",
    "EqPropStep": "eqprop",
    "Simulator": "eqprop",
    "StepStats": "eqprop",
    "evaluate": "eqprop",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"resbench.drn.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
