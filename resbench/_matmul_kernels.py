"""A matrix product split by rows over numba's threads, each part one BLAS call.

Used by :func:`resbench.threads.split_matmul` for the batch solver's input GEMM and the
batch certificate's products.  The parts run on numba's own worker threads, the same
threads as the numba kernels before and after them: after a parallel region numba's
OpenMP workers spin for a while (libgomp's default wait policy), and a product on any
other threads (BLAS's own, or a Python pool) then shares the cores with them: on the
2-core development machine a 207M multiply-add product after a numba region took
11.6-13 ms on two Python threads against 6-8 ms here.  BLAS runs one thread inside
(the caller sets it).  No I/O.
"""

from __future__ import annotations

import numpy as np
from numba import prange, types

from resbench._jit import F32_2D, F64_2D, I64, declare, kernel

F64_2F = types.float64[::1, :]  # a column-major operand (the transpose of a C array)
F32_2F = types.float32[::1, :]


@kernel(F64_2D, F64_2F, F64_2D, I64, parallel=True)
def matmul_rows(a, b, out, cuts):  # pragma: no cover - compiled
    """``out[r0:r1] = a[r0:r1] @ b`` for each part ``r0, r1 = cuts[p], cuts[p + 1]``,
    the parts over numba's threads (``a``, ``out`` C-contiguous; ``b`` either order)."""
    for p in prange(cuts.shape[0] - 1):
        r0 = cuts[p]
        r1 = cuts[p + 1]
        np.dot(a[r0:r1], b, out[r0:r1])


declare(matmul_rows, F64_2D, F64_2D, F64_2D, I64)
declare(matmul_rows, F32_2D, F32_2F, F32_2D, I64)
declare(matmul_rows, F32_2D, F32_2D, F32_2D, I64)
