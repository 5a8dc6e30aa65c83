"""numba kernels of resbench.drn (no I/O): the fused SGD update of a weight matrix."""

from __future__ import annotations

from resbench import _jit
from resbench._jit import F32, F32_2D, F64, F64_2D, FLOAT, kernel

__all__ = ["apply_update"]


@kernel(F64_2D, F64_2D, F64, F64, FLOAT, F64, F64)
def apply_update(w, cross, r, a, lr, col, row):  # pragma: no cover - compiled
    """In place: ``w[i, j] = max(w[i, j] − lr · (r[i] + a[j] − 2 · cross[i, j]), 0)``,
    adding each new row's values to ``col`` (float64) and writing its sum to ``row``.

    One pass over ``w`` (read once, written once): the SGD step of the EqProp
    estimate and the paper's clamp of the conductances at 0, and the sums the
    solver's next step needs.
    """
    n, m = w.shape
    for i in range(n):
        ri = r[i]
        acc = 0.0
        for j in range(m):
            v = w[i, j] - lr * (ri + a[j] - 2.0 * cross[i, j])
            if v < 0.0:
                v = 0.0
            w[i, j] = v
            col[j] += v
            acc += v
        row[i] = acc


_jit.SIGNATURES.append((apply_update, (F32_2D, F32_2D, F32, F32, FLOAT, F64, F32)))  # float32
