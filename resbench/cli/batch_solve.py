"""``resbench solve NET --inputs FILE`` and ``.dc`` sweeps: many samples through one network.

Renders only: reading the inputs is ``resbench.batch.io``'s, the memory plan and
the chunked solve ``resbench.batch.chunked``'s, the sweep ``resbench.batch.dc``'s.
What it prints fits 80 columns: a summary table (samples, converged and certified
counts, worst certificate residuals, sweeps, time per sample) and, without
``-o``, the node voltages of the first few samples.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from resbench.batch.result import BatchResult
from resbench.solution import CONVERGED, FAILED

EXIT_OK, EXIT_NOT_CERTIFIED, EXIT_BAD_INPUT = 0, 1, 2

#: show a progress bar (on a terminal's stderr) for batches of at least this many samples
PROGRESS_MIN_SAMPLES = 1000
#: samples shown side by side without -o (80 columns), and with --wide
PREVIEW_SAMPLES, PREVIEW_SAMPLES_WIDE = 5, 12
_LISTED_FAILURES = 5  # not-converged samples named under the summary
#: what the summary's set-up time holds (not in its time per sample)
_SETUP_LABEL = "parse + set-up + kernel load"


@dataclass(frozen=True)
class BatchOptions:
    """What ``resbench solve`` passes to the batch engine (validated by click)."""

    tol: float
    max_sweeps: int
    omega: float | str
    rtol: float | None  # None: the engine's default for the dtype (looser for float32)
    gmin: float | None
    dtype: str
    threads: int | None
    certify: bool | int
    currents: bool

    def solve_options(self) -> dict:
        """Keyword arguments of ``Network.solve_batch`` (and of ``run_dc``)."""
        kw = {
            "tol": self.tol,
            "max_sweeps": self.max_sweeps,
            "omega": self.omega,
            "dtype": np.dtype(self.dtype).type,
            "threads": self.threads,
            "certify": self.certify,
            "currents": self.currents,
        }
        if self.rtol is not None:
            kw["rtol"] = self.rtol
        return kw


# ------------------------------------------------------------------ numbers
def _g(x: float, spec: str = ".3g") -> str:
    return f"{x:{spec}}" if np.isfinite(x) else "–"


def _time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{1e3 * seconds:.3g} ms"
    return f"{1e6 * seconds:.3g} µs"


# ------------------------------------------------------------------ summary
def summary_rows(
    result: BatchResult, seconds: float, setup: float, setup_label: str = "parse + set-up"
) -> list[tuple[str, str]]:
    """(what, value) rows of the summary table, each value short enough for 80 columns."""
    b = len(result)
    ok = np.asarray(result.status == CONVERGED, dtype=bool)
    k = len(result.input_names)
    rows = [("samples", f"{b:,} ({k:,} input source{'s' * (k != 1)}, {result.dtype})")]
    rows.append(("converged", f"{int(ok.sum()):,} of {b:,}"))
    cert = result.certificate
    checked = np.zeros(b, dtype=bool) if cert is None else np.asarray(cert.checked, dtype=bool)
    if not checked.any():
        rows.append(("certified", "none checked (--certify none)"))
    else:
        n_ok = int(np.asarray(cert.ok, dtype=bool)[checked].sum())
        rows.append(("certified", f"{n_ok:,} of {int(checked.sum()):,} checked"))

        def worst(name: str) -> float:
            v = np.asarray(getattr(cert, name), dtype=np.float64)[checked]
            return float(np.nanmax(v)) if np.isfinite(v).any() else float("nan")

        rows.append(
            (
                "worst residuals",
                f"feas {_g(worst('feasibility'))} V, KCL {_g(worst('kcl'))} A, "
                f"compl {_g(worst('complementarity'))} W",
            )
        )
        rows.append(
            (
                "tolerances",
                f"{_g(worst('feas_tol'))} V, {_g(worst('kcl_tol'))} A, {_g(worst('comp_tol'))} W "
                "(largest)",
            )
        )
    sw = np.asarray(result.sweeps)
    if sw.size:
        rows.append(
            (
                "sweeps",
                f"min {int(sw.min()):,}, median {float(np.median(sw)):,.4g}, max {int(sw.max()):,}",
            )
        )
    polished = int(np.count_nonzero(result.polished))
    if polished:
        rows.append(("polished", f"{polished:,} sample(s) (exact active-set polish)"))
    per = seconds / b if b else float("nan")
    rows.append(("time", f"{_time(seconds)} ({_time(per)} per sample)"))
    rows.append(("setup", f"{_time(setup)} ({setup_label}, not in time)"))
    return rows


def render_summary(
    result: BatchResult,
    console: Console,
    *,
    title: str,
    seconds: float,
    setup: float,
    setup_label: str = "parse + set-up",
) -> None:
    """The summary table, then the first samples that did not converge or certify."""
    console.print(f"[bold]{escape(title)}[/bold]", highlight=False)
    t = Table(show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value", overflow="fold")
    for what, value in summary_rows(result, seconds, setup, setup_label):
        t.add_row(escape(what), escape(value))
    console.print(t)
    bad = np.flatnonzero(np.asarray(result.status != CONVERGED, dtype=bool))
    for i in bad[:_LISTED_FAILURES]:
        why = result.messages[i] or str(result.status[i])
        console.print(f"[red]sample {i}: {escape(str(result.status[i]))}[/] {escape(why)}")
    if bad.size > _LISTED_FAILURES:
        console.print(f"[red]… {bad.size - _LISTED_FAILURES:,} more samples not converged[/]")


def render_voltages(result: BatchResult, console: Console, *, limit: int, samples: int) -> None:
    """Node voltages of the first ``samples`` samples side by side (``limit`` nodes, 0 =
    all; ground left out)."""
    shown = list(range(min(samples, len(result))))
    names = result.node_names[1:]
    rows = names if limit <= 0 else names[:limit]
    t = Table(title="node voltages (V)", title_justify="left")
    t.add_column("node", overflow="fold")
    for i in shown:
        t.add_column(f"#{i}", justify="right")
    for k, name in enumerate(rows, start=1):
        t.add_row(escape(name), *(f"{result.voltages[i, k]:.6g}" for i in shown))
    console.print(t)
    more = []
    if len(rows) < len(names):
        more.append(f"{len(names) - len(rows):,} more nodes (--limit 0)")
    if len(shown) < len(result):
        more.append(f"{len(result) - len(shown):,} more samples")
    if more:
        console.print(f"… {', '.join(more)}; -o FILE.npz|.csv|.parquet holds every answer")


def exit_code(result: BatchResult) -> int:
    """0 every sample converged (and certified where checked); 2 a sample failed (no finite
    answer); else 1."""
    status = np.asarray(result.status, dtype=object)
    if np.any(status == FAILED):
        return EXIT_BAD_INPUT
    if np.any(status != CONVERGED):
        return EXIT_NOT_CERTIFIED
    return EXIT_OK


# ------------------------------------------------------------------ runs
def _progress(err: Console, samples: int, label: str):
    """A transient progress bar (a context manager) and its ``(done, total)`` callback, or
    (None, None) for small batches or when stderr is not a terminal."""
    if samples < PROGRESS_MIN_SAMPLES or not err.is_terminal:
        return None, None
    from resbench.cli.progress import progress_bar

    bar = progress_bar(err)
    task = bar.add_task(escape(label), total=samples)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


def run_inputs(
    netlist: Path,
    inputs: str,
    opts: BatchOptions,
    *,
    output: str | None,
    out: Console,
    err: Console,
    limit: int,
    wide: bool,
) -> int:
    """Read the netlist and the inputs file, solve every sample, print the summary (and,
    without ``output``, the first samples), write ``output``; returns the exit code."""
    from resbench.batch.chunked import WARM_UP_SAMPLES, plan_memory, solve_chunked, warm_up
    from resbench.batch.io import read_inputs, write_batch
    from resbench.batch.network import Network, input_sources
    from resbench.netlist import read_netlist

    t0 = time.perf_counter()
    circuit = read_netlist(netlist)
    names, values = read_inputs(inputs, input_sources(circuit), circuit=circuit)
    net = Network(circuit, inputs=names, gmin=opts.gmin or 0.0)
    kw = opts.solve_options()
    plan = plan_memory(net, values.shape[0], dtype=kw["dtype"], currents=opts.currents)
    # the kernels load (or compile) on a first small solve, before the timed one
    warm_up(net, values, samples=min(WARM_UP_SAMPLES, plan.chunk), **kw)
    setup = time.perf_counter() - t0
    bar, update = _progress(err, values.shape[0], f"solving {netlist.name}")
    t1 = time.perf_counter()
    if bar is not None:
        with bar:
            result = solve_chunked(net, values, chunk=plan.chunk, progress=update, **kw)
    else:
        result = solve_chunked(net, values, chunk=plan.chunk, **kw)
    seconds = time.perf_counter() - t1
    title = f"{netlist} × {inputs}"
    render_summary(result, out, title=title, seconds=seconds, setup=setup, setup_label=_SETUP_LABEL)
    if output is not None:
        write_batch(result, output)
        out.print(f"wrote {escape(output)}", highlight=False)
    else:
        samples = PREVIEW_SAMPLES_WIDE if wide else PREVIEW_SAMPLES
        render_voltages(result, out, limit=limit, samples=samples)
    return exit_code(result)


def render_sweep_rows(table, console: Console, *, names: list[str], limit: int, wide: bool) -> None:
    """The first ``limit`` points of a sweep (0 = all): the swept sources, then the nodes
    that swing most (as many as fit 80 columns; more with ``--wide``)."""
    nodes = [c for c in table.columns if c not in names and str(c).startswith("v(")]
    room = (PREVIEW_SAMPLES_WIDE if wide else PREVIEW_SAMPLES + 1) - len(names) + 1
    swing = (table[nodes].max() - table[nodes].min()).sort_values(ascending=False, kind="stable")
    cols = list(names) + list(swing.index[: max(1, room)])
    rows = table if limit <= 0 else table.head(limit)
    t = Table(title=".dc sweep", title_justify="left")
    for c in cols:
        t.add_column(escape(c), justify="right", overflow="fold")
    for _, r in rows[cols].iterrows():
        t.add_row(*(f"{float(r[c]):.6g}" for c in cols))
    console.print(t)
    more = []
    if len(rows) < len(table):
        more.append(f"{len(table) - len(rows):,} more points (--limit 0)")
    if len(cols) - len(names) < len(nodes):
        more.append(f"{len(nodes) - (len(cols) - len(names)):,} more nodes")
    if more:
        console.print(f"… {', '.join(more)}; -o FILE.csv|.npz|.parquet holds the whole table")


def run_sweep(
    netlist: Path,
    circuit,
    opts: BatchOptions,
    *,
    output: str | None,
    plot: str | None,
    out: Console,
    err: Console,
    limit: int,
    wide: bool,
    setup: float,
) -> int:
    """Run the circuit's ``.dc`` sweep as a batch, print the summary (and, without
    ``output``, the first points), write ``output`` (the sweep table) and ``plot``
    (a PNG); returns the exit code."""
    import resbench.batch.network  # noqa: F401 - imported before the timer (run_dc would: ~0.2 s)
    from resbench.batch.dc import dc_points, run_dc
    from resbench.batch.io import write_table

    _, points = dc_points(circuit)
    kw = opts.solve_options()
    if opts.gmin:
        kw["gmin"] = opts.gmin
    bar, update = _progress(err, points.shape[0], f"sweeping {netlist.name}")
    t1 = time.perf_counter()
    if bar is not None:
        with bar:
            sweep = run_dc(circuit, progress=update, warm_up=True, **kw)
    else:
        sweep = run_dc(circuit, warm_up=True, **kw)
    # the Network is set up inside run_dc, and its kernels load on an untimed first
    # solve there: neither is sweep time
    net_setup = float(sweep.result.info.get("network_setup", 0.0))
    net_setup += float(sweep.info.get("warm_up", 0.0))
    seconds = time.perf_counter() - t1 - net_setup
    title = f"{netlist}: {circuit.dc.card()}"
    render_summary(
        sweep.result,
        out,
        title=title,
        seconds=seconds,
        setup=setup + net_setup,
        setup_label=_SETUP_LABEL,
    )
    table = sweep.table
    res = sweep.result
    for names, cur in (
        (circuit.diodes.names, res.diode_current),
        (circuit.vsources.names, res.vsource_current),
    ):
        if cur is not None:  # --currents: i(element) columns after the voltages
            for j, name in enumerate(names):
                table[f"i({name})"] = cur[:, j]
    if output is not None:
        write_table(table, output)
        out.print(f"wrote {escape(output)}", highlight=False)
    else:
        render_sweep_rows(table, out, names=list(sweep.names), limit=limit, wide=wide)
    if plot is not None:
        sweep.plot(plot)
        out.print(f"wrote {escape(plot)}", highlight=False)
    return exit_code(sweep.result)
