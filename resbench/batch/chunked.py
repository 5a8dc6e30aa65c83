"""A large batch solved in chunks: bounded working memory, progress, one result.

``Network.solve_batch`` holds the working state of every sample it is given at
once.  A file of 60,000 samples is better solved a chunk at a time: the working
memory is that of one chunk, the answers (``[B, n_nodes]``) are filled in as the
chunks finish, and a progress callback can report after each.  The memory check
happens before any work, against :func:`resbench.memory.available_memory`, and
refuses with the numbers when even the smallest chunk would not fit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from resbench import memory
from resbench.batch.result import BatchCertificate, BatchResult
from resbench.errors import InputError

if TYPE_CHECKING:
    from resbench.batch.network import Network

__all__ = [
    "DEFAULT_CHUNK",
    "WARM_UP_SAMPLES",
    "MemoryPlan",
    "certify_counts",
    "plan_memory",
    "solve_chunked",
    "warm_up",
]

#: samples per ``solve_batch`` call unless memory asks for fewer
DEFAULT_CHUNK = 1024
#: samples of the untimed first solve that loads the kernels (:func:`warm_up`): enough
#: for the paths of a large batch (its passes on several threads from 2^17-2^18 values:
#: DRN-XS from ~170 samples); with 64, a 3,000-sample run loaded ~80 ms of kernels
#: inside its timed solve (65 → 40 µs a sample printed)
WARM_UP_SAMPLES = 256
_CERT_FIELDS = ("feasibility", "kcl", "complementarity", "feas_tol", "kcl_tol", "comp_tol")
_PER_SAMPLE_EXTRA = 256  # bytes per sample besides the arrays: status, message, sweeps, flags


@dataclass(frozen=True)
class MemoryPlan:
    """How a batch will be solved: chunk size, and the bytes it needs against those there."""

    samples: int
    chunk: int
    working_bytes: int  # net.estimate_bytes(chunk): one chunk's working state
    answer_bytes: int  # the answers of every sample, kept until the end
    available: int

    @property
    def needed(self) -> int:
        return self.working_bytes + self.answer_bytes


def _answer_bytes(net: Network, samples: int, currents: bool) -> int:
    """Bytes of the answers of ``samples`` samples: voltages, inputs, currents, flags,
    counted twice (writing them to a file makes one copy)."""
    c = net.circuit
    per = c.n_nodes + net.n_inputs + len(_CERT_FIELDS)
    if currents:
        per += len(c.diodes) + len(c.vsources)
    return 2 * samples * (8 * per + _PER_SAMPLE_EXTRA)


def plan_memory(
    net: Network,
    samples: int,
    *,
    dtype: type | np.dtype = np.float64,
    currents: bool = False,
    chunk: int = DEFAULT_CHUNK,
) -> MemoryPlan:
    """The largest chunk (≤ ``chunk``) whose working memory, plus every sample's answers,
    fits in the memory available now; InputError with the numbers when none does."""
    from resbench.memory import gib

    available = int(memory.available_memory())
    answers = _answer_bytes(net, samples, currents)
    size = max(1, min(int(chunk), samples))
    while True:
        working = int(net.estimate_bytes(size, dtype=dtype, currents=currents))
        plan = MemoryPlan(samples, size, working, answers, available)
        if plan.needed <= available:
            return plan
        if size == 1:
            break
        size = max(1, size // 2)
    raise InputError(
        f"a batch of {samples:,} samples needs about {gib(plan.needed)} "
        f"({gib(answers)} for the answers, {gib(working)} to solve one sample at a time), "
        f"but only {gib(available)} of memory is available; split the inputs into smaller "
        "files, drop --currents, or free memory"
    )


def certify_counts(samples: int, bounds: list[tuple[int, int]], certify: bool | int) -> list:
    """``certify`` of each chunk ``[lo, hi)`` so that ``certify=k`` certifies ``k`` samples
    spread evenly over the whole batch (a chunk's count: the evenly spread indices in it;
    True when that is the whole chunk, False when none)."""
    if certify is True or certify is False:
        return [bool(certify)] * len(bounds)
    k = int(certify)
    if k <= 0:
        return [False] * len(bounds)
    if k >= samples:
        return [True] * len(bounds)
    picks = np.unique(np.linspace(0, samples - 1, k).round().astype(np.int64))
    out: list = []
    for lo, hi in bounds:
        n = int(np.count_nonzero((picks >= lo) & (picks < hi)))
        out.append(True if n == hi - lo else (n if n else False))
    return out


def _empty_certificate(samples: int) -> BatchCertificate:
    nan = np.full(samples, np.nan)
    return BatchCertificate(
        checked=np.zeros(samples, dtype=bool),
        ok=np.zeros(samples, dtype=bool),
        **{f: nan.copy() for f in _CERT_FIELDS},
    )


class _Answers:
    """The answers of the whole batch, filled chunk by chunk."""

    def __init__(self, net: Network, values: np.ndarray, currents: bool) -> None:
        b = values.shape[0]
        c = net.circuit
        self.values = values
        self.voltages = np.empty((b, c.n_nodes))  # (every row is solved into)
        self.sweeps = np.zeros(b, dtype=np.int64)
        self.status = np.empty(b, dtype=object)
        self.messages = [""] * b
        self.polished = np.zeros(b, dtype=bool)
        self.cert: BatchCertificate | None = None
        self.diode_current = np.zeros((b, len(c.diodes))) if currents else None
        self.vsource_current = np.zeros((b, len(c.vsources))) if currents else None
        self.timings: dict[str, float] = {}
        self.dtype = "float64"
        self.info: dict = {}

    def fill(self, lo: int, part: BatchResult) -> None:
        hi = lo + len(part)
        if not np.shares_memory(part.voltages, self.voltages):  # (else solved in place)
            self.voltages[lo:hi] = part.voltages
        self.sweeps[lo:hi] = part.sweeps
        self.status[lo:hi] = part.status
        self.messages[lo:hi] = list(part.messages)
        self.polished[lo:hi] = part.polished
        self.dtype = part.dtype
        self.info = dict(part.info)
        for k, v in part.timings.items():
            self.timings[k] = self.timings.get(k, 0.0) + float(v)
        if part.certificate is not None:
            if self.cert is None:
                self.cert = _empty_certificate(len(self.values))
            for f in ("checked", "ok", *_CERT_FIELDS):
                getattr(self.cert, f)[lo:hi] = getattr(part.certificate, f)
        if self.diode_current is not None and part.diode_current is not None:
            self.diode_current[lo:hi] = part.diode_current
        if self.vsource_current is not None and part.vsource_current is not None:
            self.vsource_current[lo:hi] = part.vsource_current

    def result(self, net: Network) -> BatchResult:
        return BatchResult(
            circuit=net.circuit,
            input_names=list(net.input_names),
            values=self.values,
            voltages=self.voltages,
            sweeps=self.sweeps,
            status=self.status,
            messages=self.messages,
            polished=self.polished,
            dtype=self.dtype,
            certificate=self.cert,
            diode_current=self.diode_current,
            vsource_current=self.vsource_current,
            timings=self.timings,
            info=self.info,
        )


def solve_chunked(
    net: Network,
    values: np.ndarray,
    *,
    chunk: int | None = None,
    certify: bool | int = True,
    currents: bool = False,
    dtype: type | np.dtype = np.float64,
    progress: Callable[[int, int], None] | None = None,
    **options,
) -> BatchResult:
    """``net.solve_batch(values, ...)`` a chunk at a time, as one :class:`BatchResult`.

    ``chunk`` None: :func:`plan_memory` chooses it (and refuses a batch that cannot fit);
    ``certify=k`` certifies ``k`` samples spread over the whole batch; ``progress(done,
    total)`` is called with samples done after each chunk (and within a chunk when the
    network reports it).  ``options`` go to ``solve_batch`` unchanged.  The result's
    ``timings["total"]`` is the wall time of every chunk together.
    """
    values = net.check_values(values)
    b = values.shape[0]
    if chunk is None:
        chunk = plan_memory(net, b, dtype=dtype, currents=currents).chunk
    chunk = max(1, int(chunk))
    bounds = [(lo, min(b, lo + chunk)) for lo in range(0, b, chunk)]
    certs = certify_counts(b, bounds, certify)
    answers = _Answers(net, values, currents)
    t0 = time.perf_counter()
    for (lo, hi), cert in zip(bounds, certs, strict=True):
        inner = None
        if progress is not None:

            def inner(done: int, total: int, lo: int = lo, hi: int = hi) -> None:
                progress(lo + min(int(done), hi - lo), b)

        part = net.solve_batch(
            values[lo:hi],
            certify=cert,
            currents=currents,
            dtype=dtype,
            progress=inner,
            out=answers.voltages[lo:hi],  # (rows of the whole answer: no copy to fill)
            **options,
        )
        answers.fill(lo, part)
        if progress is not None:
            progress(hi, b)
    answers.timings["total"] = time.perf_counter() - t0
    return answers.result(net)


def warm_up(
    net: Network,
    values: np.ndarray,
    *,
    samples: int = WARM_UP_SAMPLES,
    certify: bool | int = True,
    **options,
) -> float:
    """Solve the first ``samples`` rows of ``values`` once and discard the answers, so
    that numba loads (or compiles) the kernels the batch will run before it is timed:
    returns the seconds it took.  A process's first batch otherwise carries this one-off
    cost (DRN-XS: ~0.2 s, against ~50 ms for 1,000 samples), and a small batch's time
    per sample would be mostly that.  ``options`` as ``solve_batch``'s; a certificate
    count becomes "certify all" (its kernels load too)."""
    first = np.atleast_2d(np.asarray(values))[: max(1, int(samples))]  # (solve_batch checks it)
    t0 = time.perf_counter()
    net.solve_batch(first, certify=bool(certify), **options)
    return time.perf_counter() - t0
