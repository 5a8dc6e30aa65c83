"""Batch benchmark: resbench's ``Network.solve_batch`` side by side with the paper's
own code (issue 12 item 5; docs/batch.md).

For each preset (DRN-XS, DRN-1H), batch size, float dtype and thread count, in one
process and one run, on the same conductances and the same inputs:

* ``resbench``: ``Network.solve_batch(values, certify=False)``;
* ``resbench+cert``: the same with ``certify=True`` (every sample certified);
* ``paper``: the paper's ``DeepResistiveEnergy`` + ``QuadraticMinimizer``
  ('asynchronous', its own iteration count) loaded with the same parameters
  (:mod:`resbench.bench.paper`), ``set_input(x, reset=True)`` then
  ``compute_equilibrium()``, as its Evaluator runs a batch.

Each cell warms every method up once, then times them interleaved (A B C A B C
…, docs/design.md §7) ``repeats`` times; the per-sample time is the batch time
divided by the batch size, reported as median, min and max.  Then, unless
``b2b`` is 0, the same cell is timed *back to back*: ``b2b_rounds`` rounds, each
a block of ``b2b`` calls of one method after a block of the next (round r starts
at method r, so every method sits in every place of a round alike).  The first
call of a block follows the other methods' calls, as every interleaved call
does; it is kept apart, and the other ``b2b - 1`` give the back-to-back times,
as a training loop calls (docs/batch.md, "Calls after a pause").  The
interleaved times stay the primary comparison.  Set-up (the
Network, the paper's model) is done once per preset and reported on its own.
The answers are compared with each other and with the exact answer: float64
resbench, every sample certified.  The paper column is skipped, with the
reason, when torch or the checkout of its code is missing.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from resbench.bench import paper as paper_mod
from resbench.bench.results import (
    atomic_write_json,
    atomic_write_text,
    check_targets,
    jsonable,
    machine_line,
    markdown_table,
    output_lock,
    sidecar,
)
from resbench.errors import ResbenchError

__all__ = [
    "DEFAULT",
    "METHODS",
    "QUICK",
    "BatchBenchConfig",
    "all_threads",
    "digits_pixels",
    "label",
    "render_markdown",
    "run_batch_bench",
    "write_batch_bench",
]

#: the methods timed in each cell, in their interleaved order
METHODS = ("resbench", "resbench+cert", "paper")
#: suffix of a method's back-to-back samples and errors (``resbench@b2b``)
B2B = "@b2b"
#: distinct digits images drawn (scikit-learn's loader costs ~27 ms an image); cycled
DIGITS_DISTINCT = 256


def all_threads() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _layer_spec(text: str) -> tuple[int, ...] | None:
    """Layer sizes of a ``64-32-10`` spec (even input and hidden sizes), else None."""
    try:
        sizes = tuple(int(w) for w in text.split("-"))
    except ValueError:
        return None
    ok = len(sizes) >= 2 and min(sizes) >= 1 and all(n % 2 == 0 for n in sizes[:-1])
    return sizes if ok else None


def label(preset: str) -> str:
    """``DRN-XS`` for a preset, ``DRN 64-32-10`` for layer sizes."""
    return f"DRN-{preset.upper()}" if _layer_spec(preset) is None else f"DRN {preset}"


#: the input images the bench offers (--inputs)
INPUTS = ("digits", "random", "mnist")


@dataclass(frozen=True)
class BatchBenchConfig:
    """What to run.  ``presets``: names (xs, 1h, …) or layer sizes (``64-32-10``,
    input gain 1); ``threads``: counts (0 = :func:`all_threads`); ``inputs``:
    ``digits`` (scikit-learn's digits, resampled to 28×28, as resbench.generate),
    ``random`` (uniform pixels in [0, 1]) or ``mnist`` (the first training images of
    MNIST's IDX files in ``data_dir``, pixels / 255; nothing is downloaded; 784-pixel
    presets only); ``paper_iterations`` None = the paper's
    own per preset (:data:`resbench.bench.paper.PAPER_ITERATIONS`); ``b2b``: calls
    per back-to-back block (0 = no back-to-back timing, else >= 2: the first call of
    a block is kept apart); ``b2b_rounds``: rounds of blocks, one block per method
    each (3, the number of methods, puts each method once in each place)."""

    presets: tuple[str, ...] = ("xs", "1h")
    sizes: tuple[int, ...] = (1, 32, 256, 1024)
    dtypes: tuple[str, ...] = ("float64", "float32")
    threads: tuple[int, ...] = (1, 0)
    repeats: int = 5
    paper_code: str | None = None
    inputs: str = "digits"
    data_dir: str | None = None
    seed: int = 0
    paper_iterations: int | None = None
    b2b: int = 3
    b2b_rounds: int = 3

    def check(self) -> BatchBenchConfig:
        """Validated copy (ResbenchError naming the bad option)."""
        from resbench.generate import PRESETS

        bad = [p for p in self.presets if p not in PRESETS and _layer_spec(p) is None]
        if bad or not self.presets:
            raise ResbenchError(
                f"--presets: choose from {', '.join(PRESETS)} or give layer sizes like "
                f"64-32-10 (even input and hidden sizes), got {bad or '[]'}"
            )
        if not self.sizes or any(b < 1 for b in self.sizes):
            raise ResbenchError(f"--sizes must be batch sizes >= 1, got {list(self.sizes)}")
        if not self.dtypes or any(d not in ("float64", "float32") for d in self.dtypes):
            raise ResbenchError(f"--dtypes: float64 and/or float32, got {list(self.dtypes)}")
        if not self.threads or any(t < 0 for t in self.threads):
            raise ResbenchError(f"--threads: counts >= 1 or 'all', got {list(self.threads)}")
        if self.repeats < 5:
            raise ResbenchError(f"--repeats must be >= 5 (docs/design.md §7), got {self.repeats}")
        if self.inputs not in INPUTS:
            raise ResbenchError(f"--inputs: {', '.join(INPUTS)}, got {self.inputs!r}")
        if (self.inputs == "mnist") != (self.data_dir is not None):
            raise ResbenchError(
                "--inputs mnist needs --data-dir DIR, a folder with MNIST's IDX files "
                "(nothing is downloaded), and --data-dir is only for --inputs mnist"
            )
        if self.paper_iterations is not None and self.paper_iterations < 1:
            raise ResbenchError(f"--paper-iterations must be >= 1, got {self.paper_iterations}")
        if self.b2b == 1 or self.b2b < 0:
            raise ResbenchError(
                f"--b2b: calls per back-to-back block, 0 (off) or >= 2 (the first call of a "
                f"block is kept apart), got {self.b2b}"
            )
        if self.b2b_rounds < 1:
            raise ResbenchError(f"--b2b-rounds must be >= 1, got {self.b2b_rounds}")
        return self

    def thread_counts(self) -> list[int]:
        """The thread counts, 0 resolved to every core, without repeats."""
        out: list[int] = []
        for t in self.threads:
            n = all_threads() if t == 0 else t
            if n not in out:
                out.append(n)
        return out


#: the full benchmark of issue 12 item 5
DEFAULT = BatchBenchConfig()
#: a short run: DRN-XS, batches 1 and 32
QUICK = BatchBenchConfig(presets=("xs",), sizes=(1, 32))


# --------------------------------------------------------------------------- inputs
def digits_pixels(m: int, batch: int) -> np.ndarray:
    """``[batch, m]`` pixels in [0, 1]: scikit-learn's digits images 0, 1, … resampled
    to m pixels (:func:`resbench.generate.digits_image`), the first
    :data:`DIGITS_DISTINCT` cycled."""
    from resbench.generate import digits_image

    distinct = np.array([digits_image(m, s) for s in range(min(batch, DIGITS_DISTINCT))])
    return distinct[np.arange(batch) % distinct.shape[0]]


def mnist_pixels(data_dir: str | None, m: int, batch: int) -> np.ndarray:
    """``[batch, m]`` pixels in [0, 1]: MNIST's first ``batch`` training images (pixels
    / 255, cycled if the set has fewer) from the IDX files in ``data_dir``
    (:func:`resbench.train.data.load_mnist`: its errors name the missing files).  A
    ResbenchError when the network does not take 784 pixels."""
    from resbench.train.data import load_mnist

    data = load_mnist(data_dir)
    if data.x_train.shape[1] != m:
        raise ResbenchError(
            f"--inputs mnist: MNIST images have {data.x_train.shape[1]} pixels but this "
            f"network takes {m} (2 x {m} input sources); use a 784-pixel preset (xs, 1h, …)"
        )
    x = data.x_train[np.arange(batch) % data.x_train.shape[0]]
    return x.astype(np.float64) / data.divisor


def input_values(pixels: np.ndarray, gain: float) -> np.ndarray:
    """Input-source values ``[B, 2m]`` (``vin0, vin1, …``): ``+x·gain`` on even inputs,
    ``-x·gain`` on odd ones, as resbench.generate.drn writes them (the paper's
    ``gain · cat(x, -x)`` in resbench's order)."""
    v = np.empty((pixels.shape[0], 2 * pixels.shape[1]), dtype=np.float64)
    v[:, 0::2] = pixels * gain
    v[:, 1::2] = 0.0 - pixels * gain
    return v


# --------------------------------------------------------------------------- threads
@contextlib.contextmanager
def thread_limits(n: int, torch: Any | None = None) -> Iterator[None]:
    """numba, every BLAS / OpenMP pool (threadpoolctl) and torch limited to ``n``
    threads inside the block; restored after."""
    import numba
    from threadpoolctl import threadpool_limits

    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    torch_before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        numba.set_num_threads(before)
        if torch is not None and torch_before is not None:
            torch.set_num_threads(torch_before)


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


# --------------------------------------------------------------------------- one cell
@dataclass
class _Cell:
    """One (preset, batch, dtype, threads) cell: raw seconds per method (interleaved;
    ``b2b``: back to back, one list of seconds per block), answers."""

    preset: str
    batch: int
    dtype: str
    threads: int
    seconds: dict[str, list[float]] = field(default_factory=dict)
    b2b: dict[str, list[list[float]]] = field(default_factory=dict)
    answers: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _failure(exc: Exception) -> str:
    return f"failed: {type(exc).__name__}: {exc}"[:300]


def _run_cell(
    cell: _Cell,
    runners: dict[str, Callable[[], Any]],
    repeats: int,
    b2b: int = 0,
    b2b_rounds: int = 0,
) -> dict[str, Any]:
    """Warm every runner up once, then ``repeats`` interleaved timed calls, then (``b2b``
    > 0) ``b2b_rounds`` rounds of back-to-back blocks (:func:`_run_b2b`); the last
    interleaved answer of each runner is kept.  A runner that raises is dropped from
    the cell and its error kept in ``cell.errors`` (a failed method is a row entry, not
    a lost run)."""
    last: dict[str, Any] = {}
    active: dict[str, Callable[[], Any]] = {}
    for name, fn in runners.items():  # warm-up
        try:
            last[name] = fn()
            active[name] = fn
        except Exception as exc:  # noqa: BLE001 - reported in the row
            cell.errors[name] = _failure(exc)
    cell.seconds = {name: [] for name in active}
    for _ in range(repeats):
        for name, fn in list(active.items()):
            try:
                dt, last[name] = _timed(fn)
            except Exception as exc:  # noqa: BLE001 - reported in the row
                cell.errors[name] = _failure(exc)
                del active[name], last[name]
                cell.seconds[name] = []
                continue
            cell.seconds[name].append(dt)
    if b2b > 0:
        _run_b2b(cell, active, b2b, b2b_rounds)
    return last


def _rotated(names: Sequence[str], r: int) -> list[str]:
    """``names`` starting at index ``r`` (mod len), wrapped: round r's order."""
    k = r % len(names) if names else 0
    return [*names[k:], *names[:k]]


def _run_b2b(cell: _Cell, active: dict[str, Callable[[], Any]], calls: int, rounds: int) -> None:
    """``rounds`` rounds; in round r every method in turn, from method r (mod their
    number) on, is called ``calls`` times in a row, each call timed: one block per
    method and round, in ``cell.b2b[name]``.  Both sides get the same treatment: the
    same number of blocks, each method first, second and last in a round alike.  A
    runner that raises here loses its back-to-back times only: its error is kept as
    ``name@b2b`` and its interleaved times stand."""
    todo = dict(active)
    cell.b2b = {name: [] for name in todo}
    for r in range(rounds):
        for name in _rotated(list(todo), r):
            fn, block = todo[name], []
            try:
                for _ in range(calls):
                    block.append(_timed(fn)[0])
            except Exception as exc:  # noqa: BLE001 - reported in the row
                cell.errors[name + B2B] = _failure(exc)
                cell.b2b[name] = []
                del todo[name]
                continue
            cell.b2b[name].append(block)


def _max_dv(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None:
        return float("nan")
    return float(np.max(np.abs(a - b)))


def _status_line(res: Any) -> str:
    """``B/B converged`` (and how many certified) of a BatchResult."""
    ok = int(np.count_nonzero(res.ok))
    text = f"{ok}/{len(res)} ok"
    if res.certificate is not None:
        text += f", {int(np.count_nonzero(res.certificate.ok))} certified"
    return text


# --------------------------------------------------------------------------- the bench
@dataclass
class _Preset:
    """What one preset shares across its cells: circuit, Network, paper models, inputs."""

    name: str
    circuit: Any
    params: Any
    network: Any
    values: np.ndarray
    setup: dict[str, float]
    models: dict[str, Any]


def _prepare(
    name: str, config: BatchBenchConfig, paper_ok: bool, log: Callable[[str], None]
) -> _Preset:
    from resbench.batch import Network
    from resbench.generate import DEFAULT_GAINS, drn

    spec = _layer_spec(name)
    if spec is None:
        circuit, gain = drn(preset=name, seed=config.seed), DEFAULT_GAINS[name]
    else:
        circuit, gain = drn(spec, seed=config.seed, input_gain=1.0), 1.0
    params = paper_mod.export_paper_params(circuit)
    t, network = _timed(lambda: Network(circuit, inputs=params.input_names))
    setup = {"network": t}
    bmax = max(config.sizes)
    m = circuit.sizes()["vsources"] // 2
    if config.inputs == "digits":
        pixels = digits_pixels(m, bmax)
    elif config.inputs == "mnist":
        pixels = mnist_pixels(config.data_dir, m, bmax)
    else:
        pixels = np.random.default_rng([config.seed, 7]).random((bmax, m))
    values = input_values(pixels, gain)
    models: dict[str, Any] = {}
    if paper_ok:
        for dt in config.dtypes:
            t, models[dt] = _timed(
                lambda dt=dt: paper_mod.PaperModel(
                    params,
                    dtype=np.dtype(dt),
                    iterations=config.paper_iterations,
                    paper_code=config.paper_code,
                )
            )
            setup[f"paper_{dt}"] = t
    sizes = circuit.sizes()
    log(
        f"{label(name)}: {sizes['nodes']} nodes, {sizes['resistors']} resistors, "
        f"{sizes['diodes']} diodes; Network set-up {setup['network'] * 1e3:.1f} ms"
    )
    return _Preset(name, circuit, params, network, values, setup, models)


def _compile(dtypes: Sequence[str]) -> float:
    """Seconds to compile resbench's kernels (numba), on a tiny DRN, so that no
    preset's set-up or warm-up carries them (docs/design.md §7).  A failure here
    shows again, and is reported, in the cells."""
    from resbench.batch import Network
    from resbench.generate import drn

    t = time.perf_counter()
    net = Network(drn((8, 6, 4), seed=0))
    values = np.repeat(net.default_values()[None, :], 2, 0)
    for dt in dtypes:
        for certify in (False, True):
            with contextlib.suppress(Exception):
                net.solve_batch(values, dtype=dt, certify=certify)
    return time.perf_counter() - t


def _exact(pre: _Preset, vals: np.ndarray, threads: int) -> tuple[np.ndarray | None, str]:
    """The exact answer: float64 resbench, every sample certified (None if it failed)."""
    try:
        res = pre.network.solve_batch(vals, dtype=np.float64, certify=True, threads=threads)
    except Exception as exc:  # noqa: BLE001 - reported in the row
        return None, _failure(exc)
    return res.voltages, _status_line(res)


def _cell_runners(
    pre: _Preset, vals: np.ndarray, dtype: str, threads: int
) -> tuple[dict[str, Callable[[], Any]], Any]:
    dt = np.dtype(dtype)
    net = pre.network
    runners: dict[str, Callable[[], Any]] = {
        "resbench": lambda: net.solve_batch(vals, dtype=dt, certify=False, threads=threads),
        "resbench+cert": lambda: net.solve_batch(vals, dtype=dt, certify=True, threads=threads),
    }
    model = pre.models.get(dtype)
    if model is not None:
        x = model.pixels(vals)
        runners["paper"] = lambda: model.run(x)
    return runners, model


def _stats(row: dict[str, Any], key: str, seconds: Sequence[float], batch: int) -> None:
    """``row[key]``, ``key_min``, ``key_max``: median, min, max µs per sample (NaN if
    there are no samples)."""
    if seconds:
        per = [x / batch * 1e6 for x in seconds]
        row[key], row[f"{key}_min"], row[f"{key}_max"] = (
            statistics.median(per),
            min(per),
            max(per),
        )
    else:
        row[key] = row[f"{key}_min"] = row[f"{key}_max"] = float("nan")


def _summary_row(cell: _Cell, exact: np.ndarray, exact_status: str) -> dict[str, Any]:
    """The cell's row: per method ``<m>_us`` (interleaved), ``<m>_b2b_us`` (back to back,
    every call of a block but its first) and ``<m>_b2b_first_us`` (the blocks' first
    calls), each with ``_min``/``_max``, µs per sample; the speedups of both timings;
    the answers' distances.  Timings a method did not get are NaN."""
    row: dict[str, Any] = {
        "preset": cell.preset,
        "batch": cell.batch,
        "dtype": cell.dtype,
        "threads": cell.threads,
    }
    for name in METHODS:
        _stats(row, f"{name}_us", cell.seconds.get(name, []), cell.batch)
        blocks = cell.b2b.get(name, [])
        _stats(row, f"{name}_b2b_us", [x for b in blocks for x in b[1:]], cell.batch)
        _stats(row, f"{name}_b2b_first_us", [b[0] for b in blocks if b], cell.batch)
    ours, theirs = cell.answers.get("resbench"), cell.answers.get("paper")
    row["speedup"] = row["paper_us"] / row["resbench_us"]
    row["speedup_cert"] = row["paper_us"] / row["resbench+cert_us"]
    row["speedup_b2b"] = row["paper_b2b_us"] / row["resbench_b2b_us"]
    row["speedup_cert_b2b"] = row["paper_b2b_us"] / row["resbench+cert_b2b_us"]
    row["dv_resbench_exact"] = _max_dv(ours, exact)
    row["dv_paper_exact"] = _max_dv(theirs, exact)
    row["dv_paper_resbench"] = _max_dv(theirs, ours)
    row.update(cell.extra)
    row["exact_status"] = exact_status
    row["errors"] = dict(cell.errors)
    return row


def _bench_cell(
    pre: _Preset, batch: int, dtype: str, threads: int, exact: tuple[np.ndarray, str],
    config: BatchBenchConfig, torch: Any | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # fmt: skip
    """Time one cell and compare its answers: its summary row and raw samples
    (interleaved ones under the method's name, ``run`` 0, 1, …; back-to-back ones
    under ``<method>@b2b`` with their ``round`` and ``call`` in the block, call 0 the
    one after the other methods')."""
    vals = pre.values[:batch]
    cell = _Cell(pre.name, batch, dtype, threads)
    with thread_limits(threads, torch):
        runners, model = _cell_runners(pre, vals, dtype, threads)
        last = _run_cell(cell, runners, config.repeats, config.b2b, config.b2b_rounds)
    if "resbench" in last:
        cell.answers["resbench"] = last["resbench"].voltages
        cell.extra["sweeps_median"] = float(np.median(last["resbench"].sweeps))
    if "resbench+cert" in last:
        cell.extra["resbench_status"] = _status_line(last["resbench+cert"])
    if model is not None and "paper" in last:
        cell.answers["paper"] = model.voltages(last["paper"])
        cell.extra["paper_iterations"] = model.iterations
    cell.extra["load"] = _load()
    where = {"preset": pre.name, "batch": batch, "dtype": dtype, "threads": threads}
    samples = [
        {**where, "method": m, "run": i, "seconds": s}
        for m, xs in cell.seconds.items() for i, s in enumerate(xs)
    ] + [
        {**where, "method": m + B2B, "run": r * len(block) + k, "round": r, "call": k,
         "seconds": s}
        for m, blocks in cell.b2b.items() for r, block in enumerate(blocks)
        for k, s in enumerate(block)
    ]  # fmt: skip
    return _summary_row(cell, *exact), samples


def run_batch_bench(
    config: BatchBenchConfig, *, log: Callable[[str], None] = lambda s: None
) -> dict[str, Any]:
    """Run the benchmark; returns ``{"rows", "samples", "paper_status", "setup",
    "load", "config"}`` (rows: one per cell, times in µs per sample)."""
    config = config.check()
    status = paper_mod.paper_status(config.paper_code)
    if status is not None:
        log(f"paper column {status}")
    torch = None if status is not None else paper_mod.load_paper_code(config.paper_code).torch
    rows: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    setup: dict[str, dict[str, float]] = {}
    load = {"before": _load()}
    setup["jit"] = {"JIT compile": _compile(config.dtypes)}
    log(f"JIT compile (once, not in any time): {setup['jit']['JIT compile']:.1f} s")
    for name in config.presets:
        pre = _prepare(name, config, status is None, log)
        setup[name] = pre.setup
        for batch in sorted(config.sizes):
            exact = _exact(pre, pre.values[:batch], all_threads())
            for dtype in config.dtypes:
                for threads in config.thread_counts():
                    row, raw = _bench_cell(pre, batch, dtype, threads, exact, config, torch)
                    rows.append(row)
                    samples += raw
                    log(_cell_line(row))
    load["after"] = _load()
    return {
        "rows": rows,
        "samples": samples,
        "paper_status": status or "ran",
        "setup": setup,
        "load": load,
        "config": asdict(config),
    }


def _us(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "skipped"
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def _cell_line(row: dict[str, Any]) -> str:
    b2b = [row.get(f"{m}_b2b_us", float("nan")) for m in METHODS]
    return (
        f"  {row['preset']:>3} B={row['batch']:<5} {row['dtype']} threads={row['threads']}: "
        f"resbench {_us(row['resbench_us'])} µs, +cert {_us(row['resbench+cert_us'])} µs, "
        f"paper {_us(row['paper_us'])} µs per sample"
        + (
            f" (back to back {_us(b2b[0])}, {_us(b2b[1])}, {_us(b2b[2])})"
            if any(math.isfinite(x) for x in b2b)
            else ""
        )
        + f"; max|dv| paper-exact {row['dv_paper_exact']:.2g} V, resbench-exact "
        f"{row['dv_resbench_exact']:.2g} V"
        + "".join(f"; {m} {e}" for m, e in row.get("errors", {}).items())
    )


# --------------------------------------------------------------------------- report
def _span(row: dict[str, Any], name: str, kind: str = "") -> str:
    """``median (min–max)`` of ``<name><kind>_us`` (kind ``""`` or ``"_b2b"``), or
    ``failed`` / ``skipped``."""
    key = f"{name}{kind}_us"
    med = row.get(key, float("nan"))
    errors = row.get("errors", {})
    if name in errors or (kind and name + B2B in errors):
        return "failed"
    if not math.isfinite(med):
        return "skipped"
    return f"{_us(med)} ({_us(row[f'{key}_min'])}–{_us(row[f'{key}_max'])})"


def _ratio(x: float) -> str:
    return f"{x:.2f}×" if math.isfinite(x) else ""


def _failures(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One markdown line per distinct failure (method: error), with the cells it hit."""
    seen: dict[str, list[str]] = {}
    for r in rows:
        where = f"{label(r['preset'])} B={r['batch']} {r['dtype']} {r['threads']}t"
        for method, err in r.get("errors", {}).items():
            seen.setdefault(f"{method}: {err}", []).append(where)
        if str(r.get("exact_status", "")).startswith("failed"):
            seen.setdefault(f"exact: {r['exact_status']}", []).append(where)
    return [f"- {what} ({', '.join(cells)})" for what, cells in seen.items()]


def summary_table(rows: Sequence[dict[str, Any]]) -> str:
    """The markdown table: µs per sample, median (min–max), speedups, agreement."""
    import pandas as pd

    out = []
    for r in rows:
        out.append(
            {
                "preset": label(r["preset"]),
                "batch": r["batch"],
                "dtype": r["dtype"],
                "threads": r["threads"],
                "resbench µs": _span(r, "resbench"),
                "resbench+cert µs": _span(r, "resbench+cert"),
                "paper µs": _span(r, "paper"),
                "paper / resbench": _ratio(r["speedup"]),
                "paper / (resbench+cert)": _ratio(r["speedup_cert"]),
                "max |dv| resbench−exact": f"{r['dv_resbench_exact']:.1e}",
                "max |dv| paper−exact": _dv(r["dv_paper_exact"]),
                "max |dv| paper−resbench": _dv(r["dv_paper_resbench"]),
                "resbench status": r.get("resbench_status", ""),
                "load (1 min)": r["load"][0] if r.get("load") else "",
            }
        )
    return markdown_table(pd.DataFrame(out))


def b2b_table(rows: Sequence[dict[str, Any]]) -> str:
    """The back-to-back markdown table: µs per sample, median (min–max) of the calls
    after a block's first, speedups, and the median of the blocks' first calls."""
    import pandas as pd

    out = []
    for r in rows:
        first = " / ".join(_span(r, m, "_b2b_first").split(" (")[0] for m in METHODS)
        out.append(
            {
                "preset": label(r["preset"]),
                "batch": r["batch"],
                "dtype": r["dtype"],
                "threads": r["threads"],
                "resbench µs": _span(r, "resbench", "_b2b"),
                "resbench+cert µs": _span(r, "resbench+cert", "_b2b"),
                "paper µs": _span(r, "paper", "_b2b"),
                "paper / resbench": _ratio(r.get("speedup_b2b", float("nan"))),
                "paper / (resbench+cert)": _ratio(r.get("speedup_cert_b2b", float("nan"))),
                "first call µs (resbench / +cert / paper)": first,
            }
        )
    return markdown_table(pd.DataFrame(out))


def _dv(x: float) -> str:
    return f"{x:.1e}" if math.isfinite(x) else "skipped"


def _inputs_words(cfg: dict[str, Any]) -> str:
    """The page's words for the config's input images."""
    kind = cfg.get("inputs", "digits")
    if kind == "mnist":
        return f"MNIST's first training images, pixels / 255, from {cfg.get('data_dir')}"
    return f"{kind} images"


def render_markdown(result: dict[str, Any], meta: dict[str, Any]) -> str:
    """The results page: what ran, on what machine and load, the table, set-up times."""
    cfg = result["config"]
    iters = sorted({r.get("paper_iterations") for r in result["rows"]} - {None})
    lines = [
        "# Batch solve: resbench vs the paper's own code",
        "",
        f"Command: `{meta.get('command')}`  ",
        f"{machine_line(meta)} torch {meta.get('versions', {}).get('torch')}.  ",
        f"Load average (1, 5, 15 min) before {result['load']['before']}, after "
        f"{result['load']['after']}: the machine is shared, so absolute times are noisy; "
        "ratios are from the same run, interleaved.",
        "",
        f"Paper code: {result['paper_status']}"
        + (f" ({meta.get('paper_code')}, {iters} iterations, 'asynchronous')" if iters else "")
        + ".",
        "",
        "Idle threads: "
        + (
            "passive (OMP_WAIT_POLICY=PASSIVE, OPENBLAS_THREAD_TIMEOUT=4: --passive-threads)."
            if result.get("passive_threads")
            else "each library's default (OpenBLAS and OpenMP threads spin a while after a "
            "call; with every core busy, one runtime's spinning threads slow the other's "
            "next call: see --passive-threads)."
        ),
        "",
        "Per-sample time = batch time / batch size, median (min–max) of "
        f"{cfg['repeats']} interleaved repeats after a warm-up, µs. Same conductances and "
        f"inputs on both sides ({_inputs_words(cfg)} × the preset's input gain, "
        "cat(x, −x)). `resbench`: `Network.solve_batch(certify=False)`; `resbench+cert`: every "
        "sample certified; `paper`: `set_input(x, reset=True)` + `compute_equilibrium()`. "
        "Exact = float64 resbench, every sample certified. The paper runs a fixed number of "
        "iterations, so its distance to the exact answer is its convergence error, not noise."
        + (
            " Back to back (second table): the same cells, each method called several times "
            "in a row as a training loop calls it, in rounds that rotate the methods; the "
            "interleaved table stays the primary comparison."
            if cfg.get("b2b")
            else ""
        ),
        "",
        summary_table(result["rows"]),
        *_b2b_section(result),
        *(["Failures:", *_failures(result["rows"]), ""] if _failures(result["rows"]) else []),
        "Set-up (once per preset, not in the times above): "
        + "; ".join(
            (f"{label(p)} " if p != "jit" else "")
            + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in s.items())
            for p, s in result["setup"].items()
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


def _b2b_section(result: dict[str, Any]) -> list[str]:
    """The back-to-back paragraph and table (one line saying it is off, if it is)."""
    cfg = result["config"]
    calls, rounds = cfg.get("b2b", 0), cfg.get("b2b_rounds", 0)
    if not calls:
        return ["Back to back: not run (`--b2b 0`).", ""]
    return [
        "### Back to back",
        "",
        "Every call above follows the other methods' calls, and on this VM any pause "
        'before a call costs it (docs/batch.md, "Calls after a pause"). A training '
        "loop calls one method back to back. So each cell is also timed back to back, "
        f"in the same run on the same inputs: {rounds} rounds, each a block of {calls} "
        "calls of every method in turn (the order rotated one place each round, so no "
        "method always goes first). Below: per-sample µs, median (min–max) of each block's "
        f"calls 2 … {calls} ({rounds * (calls - 1)} a method); the blocks' first calls "
        "(after the other methods', as in the interleaved table) in the last column, "
        "median. The interleaved table above stays the primary comparison.",
        "",
        b2b_table(result["rows"]),
    ]


def write_batch_bench(
    result: dict[str, Any], out_dir: str | os.PathLike, *, stem: str = "bench_batch"
) -> dict[str, Path]:
    """Write ``<stem>.md`` and its JSON sidecar ``<stem>.json`` (machine, versions,
    threads, git, command, options, every raw sample) atomically under the folder lock."""
    torch_version = None
    with contextlib.suppress(Exception):
        import torch

        torch_version = torch.__version__
    meta = sidecar(
        extra={
            "load_average": result["load"]["before"],
            "paper_code": result["config"].get("paper_code") or os.environ.get(paper_mod.ENV_VAR),
        }
    )
    meta["versions"]["torch"] = torch_version
    out = Path(out_dir)
    paths = {"markdown": out / f"{stem}.md", "sidecar": out / f"{stem}.json"}
    content = dict(meta)
    content.update(result)
    content["files"] = {k: p.name for k, p in paths.items()}
    with output_lock(out):
        check_targets(list(paths.values()))
        atomic_write_text(paths["markdown"], render_markdown(result, meta))
        atomic_write_json(paths["sidecar"], jsonable(content))
    return paths
