"""Large setup arrays on transparent huge pages, so that filling them costs few page faults.

A fresh array is mapped lazily: the first write to each 4 KiB page is a page fault (the
kernel zeroes the page and maps it).  On a 1M-resistor grid the setup writes ≈ 90 MB
of new arrays, which is ≈ 22,000 faults, about as long as the rest of the setup
together.  ``madvise(MADV_HUGEPAGE)`` lets Linux map 2 MiB pages instead (512× fewer
faults) where transparent huge pages are enabled in ``madvise`` mode, as here.  numpy
already advises its own allocations of ≥ 4 MiB; arrays that numba allocates inside a
kernel, or smaller numpy ones, get 4 KiB pages.  So the setup allocates its large
arrays here, in Python, and the kernels fill them.

:func:`empty` and :func:`zeros` return, from 1 MiB up, a view that starts on a huge
page of a buffer padded to whole huge pages (values, dtype and contiguity are those of
``np.empty``; ``base`` is the buffer); :func:`workspace` returns views of one such
buffer for temporaries that die with the call.  Elsewhere than Linux these are plain
``np.empty``; where the advice fails they still work: it is only a hint.
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


MIN_BYTES = HUGE_PAGE // 2  # smaller arrays stay on ordinary pages (a huge page for a
# 1 MiB array wastes at most 1 MiB; below that the faults saved are too few to matter)


def _aligned_buffer(nbytes: int, zero: bool) -> np.ndarray:
    """uint8 buffer of whole huge pages covering nbytes, starting on a huge page and
    advised: a view of a numpy allocation one huge page larger (the padding is never
    touched, so it costs address space, not memory)."""
    total = -(-nbytes // HUGE_PAGE) * HUGE_PAGE
    raw = (np.zeros if zero else np.empty)(total + HUGE_PAGE, dtype=np.uint8)
    skip = -raw.ctypes.data % HUGE_PAGE
    buf = raw[skip : skip + total]
    _advise(buf.ctypes.data, total)
    return buf


def empty(n: int, dtype: type | np.dtype) -> np.ndarray:
    """``np.empty(n, dtype)``; from 1 MiB up, on advised huge pages (then a view of a
    slightly larger buffer: same values and dtype, ``base`` is that buffer)."""
    dt = np.dtype(dtype)
    nbytes = int(n) * dt.itemsize
    if nbytes < MIN_BYTES or _madvise is None:
        return np.empty(n, dtype=dt)
    return _aligned_buffer(nbytes, zero=False)[:nbytes].view(dt)


def zeros(n: int, dtype: type | np.dtype) -> np.ndarray:
    """``np.zeros(n, dtype)``, as :func:`empty` (a large calloc maps fresh zero pages, so
    the advice comes before any page is touched)."""
    dt = np.dtype(dtype)
    nbytes = int(n) * dt.itemsize
    if nbytes < MIN_BYTES or _madvise is None:
        return np.zeros(n, dtype=dt)
    return _aligned_buffer(nbytes, zero=True)[:nbytes].view(dt)


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
    if total < MIN_BYTES or _madvise is None:
        raw = np.empty(total + 64, dtype=np.uint8)
        skip = -raw.ctypes.data % 64
        buf = raw[skip : skip + total]
    else:
        buf = _aligned_buffer(total, zero=False)
    return [
        buf[o : o + s].view(np.dtype(dt))
        for o, s, (_, dt) in zip(offsets, sizes, parts, strict=True)
    ]
