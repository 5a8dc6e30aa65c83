"""Network: one circuit, set up once, solved for many input vectors.

(first cut: every sample is a full single solve on the circuit with its input
values; the fast batched engine replaces the body of ``solve_batch``.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from resbench.circuit import Branches, Circuit
from resbench.errors import CircuitError


def input_sources(circuit: Circuit) -> list[str]:
    """Names of every independent source (V then I), the default inputs."""
    return list(circuit.vsources.names) + list(circuit.isources.names)


def with_values(circuit: Circuit, names: Sequence[str], values: np.ndarray) -> Circuit:
    """A copy of ``circuit`` whose sources ``names`` take ``values`` (the equivalent
    single circuit of one sample)."""
    vs_idx = {n: j for j, n in enumerate(circuit.vsources.names)}
    is_idx = {n: j for j, n in enumerate(circuit.isources.names)}
    vv = circuit.vsources.value.copy()
    iv = circuit.isources.value.copy()
    for name, x in zip(names, np.asarray(values, dtype=np.float64).tolist(), strict=True):
        if name in vs_idx:
            vv[vs_idx[name]] = x
        elif name in is_idx:
            iv[is_idx[name]] = x
        else:
            raise CircuitError(f"no voltage or current source named {name!r}")
    vs, isrc = circuit.vsources, circuit.isources
    return dataclasses.replace(
        circuit,
        vsources=Branches(vs.names, vs.a, vs.b, vv),
        isources=Branches(isrc.names, isrc.a, isrc.b, iv),
    )
