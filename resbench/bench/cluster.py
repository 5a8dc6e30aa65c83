"""Sweeps on Dask distributed: ``resbench scale --cluster`` and ``resbench compare --cluster``.

The work of a sweep splits into independent *cells* (docs/cluster.md):
one generated size (scale) or one netlist (compare), each with **all** its solvers,
warm-up and interleaved repeats, on **one** worker, so a ratio of two solvers' times
never mixes machines.  This module only moves cells and results; what a cell does is
the same function the in-process sweep runs (:func:`resbench.bench.scale.scale_cell`,
:func:`resbench.bench.compare.compare_cell`), so both give the same rows.

* :func:`parse_cluster`: ``local:N`` (a ``LocalCluster`` of N single-threaded worker
  processes) or a scheduler address (``tcp://host:8786``, ``host:8786``).
* :func:`connect`: a ``distributed.Client`` for it (a bad or unreachable address is a
  :class:`ClusterError` after ``timeout`` seconds, never a traceback).
* :func:`run_cells`: submit every cell, hand each outcome to a callback as it finishes
  (the client writes the rows: nothing is written by workers), and on any exit
  (Ctrl-C included) cancel what is left.
* A worker that dies mid-cell (killed, out of memory) is noticed by the scheduler, which
  runs the cell again on another worker; after ``allowed-failures`` deaths (1 on a
  ``local:N`` cluster: one retry) the cell is *failed*, with the reason, and every other
  cell goes on.  A scheduler you start yourself takes this from its own configuration
  (``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1``; Dask's default is 3).
* :func:`worker_info`: the host, CPU model and core count of the machine a cell ran on
  (the same facts as the sidecar's machine fingerprint); every row of a cluster sweep
  carries them (:data:`resbench.bench.columns.WORKER`).

Workers are single-threaded (``--nthreads 1``): one cell per worker process at a time.
Dask's nanny also sets ``OMP_NUM_THREADS=1`` (and MKL/OpenBLAS) in its workers, so a
BLAS-backed peer runs single-threaded there.  See docs/cluster.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from resbench.errors import ResbenchError

__all__ = [
    "CONNECT_TIMEOUT",
    "LOCAL_PREFIX",
    "Cell",
    "ClusterError",
    "Outcome",
    "connect",
    "parse_cluster",
    "run_cells",
    "worker_info",
]

LOCAL_PREFIX = "local:"
#: seconds to wait for a scheduler before giving up (``--cluster tcp://…``)
CONNECT_TIMEOUT = 10.0
#: deaths of a worker under one cell before the cell is failed, on ``local:N`` clusters
ALLOWED_FAILURES = 1
INSTALL = "pip install -e '.[cluster]'"


class ClusterError(ResbenchError):
    """The cluster cannot be used: a bad ``--cluster`` value, no distributed installed,
    or no scheduler at the address."""


@dataclass(frozen=True)
class Cell:
    """One unit of work: ``fn(*args)`` run on one worker.  ``label`` names it in messages
    (a size, a netlist); ``index`` is its place in the sweep."""

    index: int
    label: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


@dataclass
class Outcome:
    """What came back for a cell: ``result`` (what ``fn`` returned) and the ``worker``
    facts (:func:`worker_info`), or ``error`` (why there is no result)."""

    cell: Cell
    result: Any = None
    worker: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


# --------------------------------------------------------------------------- option
def parse_cluster(spec: str) -> tuple[str, int | str]:
    """``("local", N)`` for ``local:N`` (N ≥ 1) or ``("address", addr)`` for a scheduler
    address (``tcp://host:port``, ``tls://…``, or ``host:port``, read as tcp); a
    :class:`ClusterError` saying what is expected otherwise."""
    text = str(spec).strip()
    expected = (
        "expected local:N (N single-threaded worker processes on this machine, e.g. "
        "local:2) or a running scheduler's address (tcp://HOST:PORT, e.g. "
        "tcp://10.0.0.5:8786)"
    )
    if text.lower().startswith(LOCAL_PREFIX):
        count = text[len(LOCAL_PREFIX) :].strip()
        if not count.isdigit() or int(count) < 1:
            raise ClusterError(f"bad --cluster {text!r}: {expected}")
        return "local", int(count)
    if not text or any(c.isspace() for c in text):
        raise ClusterError(f"bad --cluster {text!r}: {expected}")
    if "://" not in text:
        text = f"tcp://{text}"
    scheme, _, rest = text.partition("://")
    host, sep, port = rest.rpartition(":")
    if scheme not in ("tcp", "tls", "ucx", "inproc") or (
        scheme != "inproc" and (not sep or not host or not port.isdigit())
    ):
        raise ClusterError(f"bad --cluster {spec!r}: {expected}")
    return "address", text


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ClusterError(
            f"--cluster needs Dask distributed, which is not installed ({exc}); "
            f"install it with {INSTALL}"
        ) from None
    return distributed


@contextlib.contextmanager
def connect(cluster: Any, *, timeout: float = CONNECT_TIMEOUT) -> Iterator[Any]:
    """A ``distributed.Client`` for ``cluster``: a :func:`parse_cluster` string (the
    client, and a ``local:N`` cluster, are closed on exit) or a Client you made (used
    as it is, left open).  A scheduler that does not answer within ``timeout`` seconds
    is a :class:`ClusterError`."""
    if not isinstance(cluster, str):
        yield cluster
        return
    kind, value = parse_cluster(cluster)
    distributed = _distributed()
    import dask

    if kind == "local":
        one_cell = {  # one retry; one cell per worker (none queued on it, lost if it dies)
            "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
            "distributed.scheduler.worker-saturation": 1.0,
        }
        with dask.config.set(one_cell):
            try:
                local = distributed.LocalCluster(
                    n_workers=int(value),
                    threads_per_worker=1,
                    processes=True,
                    memory_limit=0,  # no per-worker cap: a cell may use what in-process may
                    scheduler_kwargs={"dashboard": False},  # no web server, no port
                    silence_logs=logging.ERROR,
                )
            except Exception as exc:  # no sockets, no memory, …: say so in one line
                raise ClusterError(
                    f"could not start a local cluster of {value} workers: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
        try:
            with distributed.Client(local) as client:
                yield client
        finally:
            with contextlib.suppress(Exception):
                local.close()
        return
    _reachable(str(value), timeout)
    try:
        client = distributed.Client(value, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ClusterError(
            f"no Dask scheduler answered at {value} within {timeout:g} s ({reason}); start "
            "one with `dask scheduler` (and workers with `dask worker ADDRESS --nthreads 1`), "
            "check the address and port, or use --cluster local:N"
        ) from None
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close()


def _reachable(address: str, timeout: float) -> None:
    """Refuse at once an address nothing listens on (Dask's client would retry until its
    timeout), or where what listens is not a Dask server (the client would wait for its
    handshake without a limit); a :class:`ClusterError` saying what to check."""
    import socket

    scheme, _, rest = address.partition("://")
    if scheme not in ("tcp", "tls"):
        return
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    wait = min(timeout, 5.0)
    try:
        with socket.create_connection((host, int(port)), timeout=wait) as sock:
            if scheme == "tls":
                return
            # a Dask server sends its handshake as soon as it accepts a connection
            sock.settimeout(wait)
            if sock.recv(1):
                return
            reason = "it closed the connection without a Dask handshake"
    except TimeoutError:
        reason = f"something listens there but sent no Dask handshake within {wait:g} s"
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    raise ClusterError(
        f"no Dask scheduler at {address}: {reason}; start one with `dask scheduler` (and "
        "workers with `dask worker ADDRESS --nthreads 1`), check the host and port, or use "
        "--cluster local:N"
    )


def worker_count(client: Any) -> int:
    """How many workers the scheduler has now."""
    return len(client.scheduler_info(n_workers=-1).get("workers", {}))


# --------------------------------------------------------------------------- cells
def worker_info() -> dict[str, Any]:
    """The machine this runs on: ``worker_host``, ``worker_cpu`` (model), ``worker_cores``
    (:func:`resbench.bench.results.machine_fingerprint`'s hostname, cpu and cores)."""
    from resbench import env

    return {
        "worker_host": platform.node(),
        "worker_cpu": env.cpu_model(),
        "worker_cores": os.cpu_count(),
    }


def _on_worker(fn: Callable[..., Any], *args: Any) -> tuple[Any, dict[str, Any]]:
    """What a worker runs for a cell: the cell's result and where it ran."""
    return fn(*args), worker_info()


def failure_reason(exc: BaseException, label: str) -> str:
    """One line on why a cell has no result (a dead worker, a lost scheduler, a bug)."""
    name = type(exc).__name__
    if name == "KilledWorker":
        worker = getattr(exc, "last_worker", None)
        where = f" (last on {getattr(worker, 'address', worker)})" if worker else ""
        return (
            f"{label}: the worker running it died each time it ran (killed, out of memory "
            f"or crashed){where}; the cell was not retried again"
        )
    if name in ("CancelledError", "FutureCancelledError"):
        return f"{label}: cancelled by the scheduler (lost connection or shut down)"
    text = " ".join(str(exc).split())[:300]
    return f"{label}: {name}: {text}" if text else f"{label}: {name}"


def _slots(client: Any) -> int:
    """Cells to keep in flight: one per worker thread (at least one, so a scheduler whose
    workers have not joined yet gets a cell to hand the first one)."""
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # the scheduler went away: as_completed reports it on the cells
        return 1


def run_cells(
    client: Any,
    cells: Sequence[Cell],
    on_done: Callable[[Outcome], None],
) -> None:
    """Run every cell on ``client``'s workers, calling ``on_done`` in this process as each
    finishes (in the order they finish).  A cell whose worker died too often, or whose
    function raised, is an :class:`Outcome` with ``error``; the others go on.

    At most one cell per worker thread is submitted at a time (the next when one
    finishes): Dask assigns a small batch of tasks to workers at once, two to a worker,
    and a worker that dies takes every cell assigned to it down with it (each counts a
    death), so keeping one cell per worker keeps a death to the cell that was running.
    On any exit before the end (an exception from ``on_done``, Ctrl-C) the cells not yet
    done are cancelled and the exception goes on."""
    distributed = _distributed()
    run = uuid.uuid4().hex[:8]
    todo = list(cells)
    futures: dict[Any, Cell] = {}
    pending: set[Any] = set()
    flow = distributed.as_completed()

    def fill() -> None:
        while todo and len(pending) < _slots(client):
            c = todo.pop(0)
            key = f"resbench-cell-{run}-{c.index}"
            fut = client.submit(_on_worker, c.fn, *c.args, key=key, pure=False)
            futures[fut] = c
            pending.add(fut)
            flow.add(fut)

    try:
        fill()
        for fut in flow:
            cell = futures.pop(fut)
            pending.discard(fut)
            if fut.status == "finished":
                result, info = fut.result()
                outcome = Outcome(cell, result, info)
            else:
                try:
                    exc = fut.exception()
                except Exception as lost:  # cancelled futures raise here
                    exc = lost
                outcome = Outcome(cell, error=failure_reason(exc, cell.label))
            fut.release()
            fill()
            on_done(outcome)
    finally:
        if pending:
            with contextlib.suppress(Exception):
                client.cancel(list(pending), force=True)
