"""CPU-independent random draws for the generators (docs/reproducibility.md).

numpy dispatches transcendental ufuncs (np.exp, np.log, …) to SIMD code (AVX2, AVX-512,
NEON) whose last bits differ between CPUs, and C code compiled for a CPU with FMA may
fuse ``a + b * c``.  Every generated value is therefore built from ``rng.random``
(exact: 53 random bits × 2⁻⁵³) with separately rounded IEEE operations only (+, −, ×,
÷, ldexp, rint), which give the same bits on every CPU: "deterministic by seed" holds
everywhere.  ``tests/test_reproducible.py`` checks it.
"""

from __future__ import annotations

import math

import numpy as np

from resbench.errors import ResbenchError

__all__ = ["exp", "log", "log_uniform", "uniform"]

_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k·_LN2_HI is exact (fdlibm)
_LN2_LO = 1.90821492927058770002e-10
_EXP_TERMS = 1.0 / np.array([math.factorial(k) for k in range(15)], dtype=np.float64)


def uniform(rng: np.random.Generator, lo: float, hi: float, size: int) -> np.ndarray:
    """``U(lo, hi)`` draws as ``lo + (hi − lo)·u``, each operation rounded on its own."""
    out = rng.random(size)
    out *= hi - lo
    out += lo
    return out


def exp(x: np.ndarray) -> np.ndarray:
    """e**x from IEEE arithmetic only (|relative error| < 4e-16), bit-identical on every CPU.

    Cody–Waite reduction ``x = k ln2 + r`` with ``|r| <= ln2/2``, a degree-14 Taylor
    polynomial in Horner form for e**r, then an exact ``ldexp``."""
    x = np.asarray(x, dtype=np.float64)
    k = np.rint(x / 0.6931471805599453)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = np.full_like(r, _EXP_TERMS[-1])
    for coef in _EXP_TERMS[-2::-1]:
        p *= r
        p += coef
    return np.ldexp(p, k.astype(np.int32))


def log(x: float) -> float:
    """Natural logarithm of a positive finite float from IEEE arithmetic only
    (``frexp`` + the atanh series), bit-identical on every CPU and C library."""
    if not (x > 0.0 and math.isfinite(x)):
        raise ResbenchError(f"logarithm of {x!r}")
    m, e = math.frexp(x)  # x = m · 2**e, 0.5 <= m < 1
    if m < 0.7071067811865476:  # centre m on 1: m in [sqrt(1/2), sqrt(2))
        m *= 2.0
        e -= 1
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    term, total, k = s, 0.0, 1
    while True:
        nxt = total + term / k
        if nxt == total:
            break
        total = nxt
        term *= s2
        k += 2
    return (e * _LN2_HI + 2.0 * total) + e * _LN2_LO


def log_uniform(rng: np.random.Generator, lo: float, hi: float, size: int) -> np.ndarray:
    """Log-uniform draws in ``[lo, hi]`` (CPU-independent, see :func:`exp`)."""
    out = exp(uniform(rng, log(lo), log(hi), size))
    np.clip(out, lo, hi, out=out)  # round-off of the exp must not leave the range
    return out
