"""Circuit fingerprints that identify a circuit, not the last bits of its values.

The regress baseline only compares a case with the circuit it measured.  Values are
compared at :data:`SIGNIFICANT_DIGITS` significant digits, so a value computed on
another CPU (a different SIMD path for a transcendental function changes the last
bit, see docs/reproducibility.md) still matches, while any real change of a generator
does not.  Besides the one-line :func:`circuit_fingerprint`, :func:`circuit_digest`
keeps per-kind, per-block hashes and value sums so that, when two circuits really
differ, :func:`digest_differences` says which elements differ and by how much.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from resbench.circuit import Branches, Circuit

__all__ = [
    "BLOCK",
    "SIGNIFICANT_DIGITS",
    "circuit_digest",
    "circuit_fingerprint",
    "digest_differences",
    "rounded_values",
]

#: Significant digits at which element values are compared (≈ 1e-12 relative).
SIGNIFICANT_DIGITS = 12

#: Elements per block of a digest (one hash and one value sum per block).
BLOCK = 1024

_KIND_NAMES = {
    "r": "resistors",
    "d": "diodes",
    "v": "voltage sources",
    "i": "current sources",
    "c": "capacitors",
    "l": "inductors",
}


def rounded_values(values: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> list[str]:
    """Each value as text rounded to ``digits`` significant digits (``-0`` written ``0``).

    Decimal formatting is correctly rounded by CPython on every platform, so two values
    that differ only in their last bits give the same text (unless they straddle a
    rounding boundary at the 12th digit: a ~1e-4 chance per value differing in one bit)."""
    fmt = f"{{:.{digits - 1}e}}"
    return [fmt.format(x + 0.0) for x in np.asarray(values, dtype=np.float64).tolist()]


def _topology_bytes(br: Branches, lo: int = 0, hi: int | None = None) -> bytes:
    a = np.ascontiguousarray(br.a[lo:hi], dtype="<i4").tobytes()
    b = np.ascontiguousarray(br.b[lo:hi], dtype="<i4").tobytes()
    return a + b


def _hash(*parts: bytes, n: int = 16) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.hexdigest()[:n]


def circuit_fingerprint(circuit: Circuit) -> str:
    """A short hash of a circuit's structure and its values at 12 significant digits
    (not its names or title)."""
    h = hashlib.sha256()
    h.update(f"nodes={circuit.n_nodes};".encode())
    for kind, br in circuit.kinds().items():
        h.update(f"{kind}={len(br)};".encode())
        h.update(_topology_bytes(br))
        h.update(";".join(rounded_values(br.value)).encode())
    return h.hexdigest()[:16]


def circuit_digest(circuit: Circuit) -> dict[str, Any]:
    """Per kind: count, and per block of :data:`BLOCK` elements a topology hash, a hash of
    the rounded values and the value sum (plain JSON, for a baseline file)."""
    kinds: dict[str, Any] = {}
    for kind, br in circuit.kinds().items():
        n = len(br)
        if n == 0:
            continue
        text = rounded_values(br.value)
        blocks = []
        for lo in range(0, n, BLOCK):
            hi = min(n, lo + BLOCK)
            blocks.append(
                [
                    _hash(_topology_bytes(br, lo, hi), n=8),
                    _hash(";".join(text[lo:hi]).encode(), n=8),
                    float(np.sum(br.value[lo:hi])),
                ]
            )
        kinds[kind] = {"n": n, "blocks": blocks}
    return {"nodes": int(circuit.n_nodes), "block": BLOCK, "kinds": kinds}


def _ranges(idx: list[int], block: int, n: int) -> str:
    """'elements 0–1023, 4096–5119' for the block indices given (at most 4 shown)."""
    shown = [f"{i * block}–{min(n, (i + 1) * block) - 1}" for i in idx[:4]]
    more = f" and {len(idx) - 4} more block(s)" if len(idx) > 4 else ""
    return ", ".join(shown) + more


def digest_differences(
    base: Mapping[str, Any], now: Mapping[str, Any], limit: int = 6
) -> list[str]:
    """Human-readable differences between two digests (empty when they agree)."""
    out: list[str] = []
    if base.get("nodes") != now.get("nodes"):
        out.append(f"nodes: {base.get('nodes')} in the baseline, {now.get('nodes')} now")
    block = int(now.get("block") or BLOCK)
    if int(base.get("block") or BLOCK) != block:
        return out + ["digests use different block sizes; refresh the baseline"]
    bk, nk = base.get("kinds") or {}, now.get("kinds") or {}
    for kind in [k for k in _KIND_NAMES if k in bk or k in nk]:
        label = _KIND_NAMES[kind]
        b, n = bk.get(kind) or {"n": 0, "blocks": []}, nk.get(kind) or {"n": 0, "blocks": []}
        if b["n"] != n["n"]:
            out.append(f"{label}: {b['n']} in the baseline, {n['n']} now")
            continue
        pairs = list(enumerate(zip(b["blocks"], n["blocks"], strict=True)))
        topo = [i for i, (x, y) in pairs if x[0] != y[0]]
        vals = [i for i, (x, y) in pairs if x[0] == y[0] and x[1] != y[1]]
        if topo:
            out.append(f"{label}: connections differ in elements {_ranges(topo, block, n['n'])}")
        if vals:
            worst = max(
                vals,
                key=lambda i: (
                    abs(n["blocks"][i][2] - b["blocks"][i][2]) / max(abs(b["blocks"][i][2]), 1e-300)
                ),
            )
            s0, s1 = b["blocks"][worst][2], n["blocks"][worst][2]
            rel = abs(s1 - s0) / max(abs(s0), 1e-300)
            out.append(
                f"{label}: values differ (beyond {SIGNIFICANT_DIGITS} significant digits) in "
                f"elements {_ranges(vals, block, n['n'])}; largest change of a block's value "
                f"sum: {s0:.12g} -> {s1:.12g} ({rel:.2g} relative, elements "
                f"{worst * block}–{min(n['n'], (worst + 1) * block) - 1})"
            )
        if len(out) >= limit:
            break
    return out[:limit]
