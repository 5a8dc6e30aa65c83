"""Large setup arrays on transparent huge pages, so that filling them costs few page faults.

A fresh array is mapped lazily: the first write to each 4 KiB page is a page fault (the
kernel zeroes the page and maps it).  On a 1M-resistor grid the setup writes ≈ 90 MB
of new arrays, which is ≈ 22,000 faults, about as long as the rest of the setup
together.  ``madvise(MADV_HUGEPAGE)`` lets Linux map 2 MiB pages instead (512× fewer
faults) where transparent huge pages are enabled in ``madvise`` mode, as here.  numpy
already advises its own allocations of ≥ 4 MiB; arrays that numba allocates inside a
kernel, or smaller numpy ones, get 4 KiB pages.  So the setup allocates its large
arrays here, in Python, and the kernels fill them.

:func:`empty` returns an ordinary numpy array (it owns its memory): the advice covers
the whole 2 MiB pages inside it.  :func:`workspace` returns aligned views of one
buffer for temporaries that die with the call.  Elsewhere than Linux, or when the
advice fails, these are plain ``np.empty``: the advice is only a hint.
"""

from __future__ import annotations

import ctypes
import sys

import numpy as np

HUGE_PAGE = 2 << 20  # bytes: the x86-64 / arm64 transparent huge page
_MADV_HUGEPAGE = 14  # from <sys/mman.h> (Linux)


def _libc_madvise():
    """libc's ``madvise``, or None where there is none to call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):  # pragma: no cover - a libc without madvise
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_madvise = _libc_madvise()


def _advise(address: int, nbytes: int) -> None:
    """Advise huge pages for the whole 2 MiB pages inside [address, address + nbytes)."""
    if _madvise is None:
        return
    start = -(-address // HUGE_PAGE) * HUGE_PAGE
    end = (address + nbytes) // HUGE_PAGE * HUGE_PAGE
    if end > start:
        _madvise(start, end - start, _MADV_HUGEPAGE)  # a hint: a failure changes nothing


def empty(n: int, dtype: type | np.dtype) -> np.ndarray:
    """``np.empty(n, dtype)``, its untouched pages advised to be huge ones."""
    a = np.empty(n, dtype=dtype)
    if a.nbytes >= HUGE_PAGE:
        _advise(a.ctypes.data, a.nbytes)
    return a


def zeros(n: int, dtype: type | np.dtype) -> np.ndarray:
    """``np.zeros(n, dtype)`` on advised pages (a large calloc maps fresh zero pages, so
    the advice comes before any page is touched)."""
    a = np.zeros(n, dtype=dtype)
    if a.nbytes >= HUGE_PAGE:
        _advise(a.ctypes.data, a.nbytes)
    return a


def full(n: int, value: float) -> np.ndarray:
    """``np.full(n, value)`` (float64) on advised pages."""
    a = empty(n, np.float64)
    a.fill(value)
    return a


def workspace(*parts: tuple[int, type | np.dtype]) -> list[np.ndarray]:
    """Uninitialised arrays of the given (length, dtype), as views of one buffer that
    starts on a huge page and is advised as a whole.  Each view starts 64-byte aligned."""
    sizes = [int(n) * np.dtype(dt).itemsize for n, dt in parts]
    offsets = []
    total = 0
    for s in sizes:
        offsets.append(total)
        total += -(-s // 64) * 64
    align = HUGE_PAGE if total >= HUGE_PAGE else 64
    raw = np.empty(total + align, dtype=np.uint8)
    skip = -raw.ctypes.data % align
    buf = raw[skip : skip + total]
    if align == HUGE_PAGE:
        _advise(buf.ctypes.data, total)
    return [
        buf[o : o + s].view(np.dtype(dt))
        for o, s, (_, dt) in zip(offsets, sizes, parts, strict=True)
    ]
