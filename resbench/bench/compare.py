"""Compare a fast exact solver with ngspice, netlist by netlist, under the benchmark rules.

For each netlist (parsed once; both solvers get the same Circuit):

1. warm-up, then interleaved repeats of the fast solver (``cd`` by default) and
   ngspice (:mod:`resbench.bench.timing`);
2. every node voltage compared: largest absolute difference (and its node) and
   largest relative difference (``|Δ| / max(|v_fast|, |v_spice|)`` over nodes
   where either voltage exceeds ``atol``);
3. both answers certified (:func:`resbench.certificate.certify`): the fast
   solver must pass; ngspice's certificate shows how far SPICE is from ideal;
4. speedups as ratios of medians, total vs total and solve vs solve.

Row ``status``: ``ok``; ``disagree`` (max |Δ| > atol); ``uncertified`` (the
fast answer fails its certificate or the fast solver did not converge);
``error`` (the netlist does not parse, the circuit has no solution, a solver
raised); ``timeout`` / ``failed`` (ngspice or the fast solver timed out /
failed); ``empty`` (a netlist with no elements: nothing to solve, neither solver
is run, in every ngspice mode).  Exit code of a run: 2 if any row is
error/timeout/failed, else 1 if any is disagree/uncertified, else 0 (``empty``
rows are reported, not failed); 130 when interrupted (Ctrl-C).

Peers (``peers``, from ``compare --solvers cd,ngspice,osqp,…``): other projects'
solvers (:func:`resbench.solvers.registry.peer_solver_names`) run in the same
interleaved repeats on the same Circuit.  Each gets its own column group in the
summary (:func:`resbench.bench.columns.compare_columns`): its status, its own claimed
status, setup/solve/total medians, the ratio of its median times to the fast
solver's, the largest |Δv| from the fast (exact) answer and its certificate.  A
peer's status (:func:`peer_fields`): ``ok`` (claims success, certified, agrees with
the fast answer within atol); ``uncertified`` (claims success, the certificate
rejects the answer); ``disagree`` (certified but further than atol from the fast
answer); ``stalled``/``sweep_limit`` (it says itself it did not finish);
``not installed: pip install …`` (its extra is missing: it is never run);
``not applicable`` (``paper`` on a circuit that is not a DRN, any peer on a ``.dc``
netlist; the reason in ``<peer>_message``);
``failed``/``timeout``/``error``.  Peers never change a row's own status or the exit
code: they are what is being measured, not resbench.  Without ngspice in the list
(``spice=False``) the ngspice columns stay empty and the row judges the fast answer
alone.

Cluster (``cluster``, ``compare --cluster local:N|tcp://HOST:PORT``): each netlist is
one cell on a Dask worker, which reads the netlist itself and runs
:func:`compare_cell`, the function the in-process run uses; the rows come back in
netlist order with the worker's host, CPU and cores (docs/cluster.md).

Files (``out``): the samples and summary CSV files are rewritten (atomically)
after every netlist, so an interrupted or killed run keeps every finished row;
the markdown summary and the JSON sidecar are written at the start (state
``running``) and at the end (``complete`` or ``interrupted``).  The output
folder is locked for the whole run (:func:`resbench.bench.results.output_lock`).
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from resbench.bench import columns as C
from resbench.bench import timing
from resbench.bench.check import (
    DISAGREE,
    check_answers,
    no_answer,
    row_status,
)
from resbench.bench.check import voltage_difference as voltage_difference  # re-export
from resbench.circuit import Circuit
from resbench.defaults import (
    DEFAULT_ATOL,
    DEFAULT_DIODE_MODEL,
    DEFAULT_NGSPICE_MODE,
    DEFAULT_TIMEOUT,
    DIODE_MODELS,
    find_netlists,
)
from resbench.defaults import NETLIST_SUFFIXES as NETLIST_SUFFIXES  # re-export
from resbench.defaults import NGSPICE_MODES as MODES
from resbench.defaults import SKIP_DIRS as SKIP_DIRS  # re-export
from resbench.errors import ResbenchError
from resbench.solution import CONVERGED, FAILED, Solution

SPICE = "ngspice"

OK, UNCERTIFIED, ERROR, ERROR_STATUSES = (
    timing.OK,
    timing.UNCERTIFIED,
    timing.ERROR,
    timing.ERROR_STATUSES,
)
EMPTY = "empty"
WRONG_STATUSES = (DISAGREE, UNCERTIFIED)
EXIT_INTERRUPTED = 130
STEM = "compare"

#: the samples CSV's first columns (declared in resbench.bench.columns.COMPARE_SAMPLES)
SAMPLE_COLUMNS = C.csv_names(C.COMPARE_SAMPLES)

#: the summary CSV's columns, in order (declared in resbench.bench.columns.COMPARE)
SUMMARY_COLUMNS = C.csv_names(C.COMPARE)


@dataclass
class CompareOptions:
    """Options of a comparison run (see ``resbench compare --help``)."""

    solver: str = "cd"
    spice_mode: str = DEFAULT_NGSPICE_MODE
    diode_model: str = DEFAULT_DIODE_MODEL
    repeats: int = 5
    warmup: int = 1
    atol: float = DEFAULT_ATOL
    timeout: float = DEFAULT_TIMEOUT
    gmin: float | None = None
    inputs: str | None = None  # a file of input samples (compare_inputs), or None
    limit: int = 20  # at most this many samples of ``inputs``, spread evenly
    spice: bool = True  # run ngspice (False: ``--solvers`` without it)
    peers: tuple[str, ...] = ()  # peer solvers (resbench.solvers.registry.peer_solver_names)
    #: per-solver options, ``{"osqp": {"eps_abs": 1e-9}}`` (``--solver-option``)
    solver_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``--cluster``: ``local:N`` or a scheduler address (None: in this process)
    cluster: str | None = None

    def validate(self) -> None:
        if self.limit < 1:
            raise ResbenchError(f"limit must be >= 1, got {self.limit}")
        if self.repeats < 1:
            raise ResbenchError(f"repeats must be >= 1, got {self.repeats}")
        if self.warmup < 0:
            raise ResbenchError(f"warmup must be >= 0, got {self.warmup}")
        if not self.atol > 0:
            raise ResbenchError(f"atol must be positive, got {self.atol}")
        if not self.timeout > 0:
            raise ResbenchError(f"timeout must be positive, got {self.timeout}")
        if self.spice_mode not in MODES:
            raise ResbenchError(f"spice mode must be one of {MODES}, got {self.spice_mode!r}")
        if self.diode_model not in DIODE_MODELS:
            raise ResbenchError(
                f"diode model must be one of {DIODE_MODELS}, got {self.diode_model!r}"
            )
        if self.solver == SPICE:
            raise ResbenchError("the fast solver to compare with ngspice cannot be ngspice")
        from resbench.solvers.registry import exact_solver_names

        if self.solver not in exact_solver_names():
            raise ResbenchError(
                f"unknown fast solver {self.solver!r}; choose an exact one: "
                f"{', '.join(exact_solver_names())}"
            )
        self._validate_peers()
        if self.cluster is not None:
            from resbench.bench.cluster import parse_cluster

            parse_cluster(self.cluster)

    def _validate_peers(self) -> None:
        from resbench.solvers.registry import get_solver, peer_solver_names

        self.peers = tuple(dict.fromkeys(self.peers))
        bad = [p for p in self.peers if p not in peer_solver_names()]
        if bad:
            raise ResbenchError(
                f"not a peer solver: {', '.join(bad)}; the peers are "
                f"{', '.join(peer_solver_names())}"
            )
        used = {self.solver, *self.peers, *((SPICE,) if self.spice else ())}
        for name, given in self.solver_options.items():
            spec = get_solver(name)
            if name not in used:
                raise ResbenchError(
                    f"options given for {name}, which this run does not use "
                    f"(solvers: {', '.join(sorted(used))})"
                )
            spec.check_options(given)
        if self.inputs is not None and (self.peers or not self.spice):
            raise ResbenchError(
                "--inputs compares the fast solver with ngspice only: use --solvers "
                f"{self.solver},ngspice with --inputs"
            )


@dataclass
class CompareRun:
    """Everything one comparison run produced (``interrupted``: stopped by Ctrl-C after
    ``len(summary)`` of ``planned`` netlists; its exit code is then 130)."""

    summary: pd.DataFrame
    samples: pd.DataFrame
    options: CompareOptions
    exit_code: int
    files: dict[str, Path] = field(default_factory=dict)
    interrupted: bool = False
    planned: int = 0


class CompareInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_compare`; ``run`` holds the finished rows (already on
    disk when the run had an output folder)."""

    def __init__(self, run: CompareRun) -> None:
        super().__init__("interrupted")
        self.run = run


Item = str | os.PathLike | Circuit


# --------------------------------------------------------------------------- inputs
def collect_netlists(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given; for a directory, its netlists (``resbench.defaults.NETLIST_SUFFIXES``,
    recursively, sorted), skipping directories named ``lib`` (include targets).
    A path that does not exist raises ResbenchError.  (``resbench.defaults.find_netlists``,
    the one finder every command uses.)"""
    return find_netlists(paths)


def _label(item: Item, index: int) -> str:
    if isinstance(item, Circuit):
        return item.source or item.title or f"circuit{index}"
    path = Path(item)
    try:
        rel = os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        rel = str(path)
    return str(path) if rel.startswith("..") else rel


# --------------------------------------------------------------------------- one circuit
def _runners(circuit: Circuit, opts: CompareOptions) -> dict[str, Callable[[], Solution]]:
    from resbench.solvers import solve

    fast_opts: dict[str, Any] = dict(opts.solver_options.get(opts.solver, {}))
    spice_opts: dict[str, Any] = {
        "mode": opts.spice_mode,
        "diode_model": opts.diode_model,
        "timeout": opts.timeout,
        **opts.solver_options.get(SPICE, {}),
    }
    if opts.gmin is not None:
        fast_opts["gmin"] = opts.gmin
        spice_opts["gmin"] = opts.gmin
    runners: dict[str, Callable[[], Solution]] = {
        opts.solver: lambda: solve(circuit, opts.solver, certify=False, **fast_opts),
    }
    if opts.spice:
        runners[SPICE] = lambda: solve(circuit, SPICE, certify=False, **spice_opts)
    return runners


class PeerRunners:
    """The runners of the peers that can run here, and why the others cannot.

    A peer whose extra is missing is never run (``unavailable[name]`` holds its status
    text, ``"not installed: pip install -e '.[qp]' (no module osqp)"``); one that raises
    :class:`~resbench.solvers.registry.SolverUnavailable` when it runs (``paper`` on a
    circuit that is not a DRN, or without its checkout) is recorded the same way, and
    the harness stops running it (its sample is an ``error``)."""

    def __init__(
        self,
        circuit: Circuit,
        peers: Sequence[str],
        options: dict[str, dict[str, Any]] | None = None,
        gmin: float | None = None,
    ) -> None:
        from resbench.solvers.registry import get_solver

        self.unavailable: dict[str, str] = {}
        self.runners: dict[str, Callable[[], Solution]] = {}
        for name in peers:
            spec = get_solver(name)
            missing = spec.missing()
            if missing is not None:
                self.unavailable[name] = missing
                continue
            kw = dict((options or {}).get(name, {}))
            if gmin:
                if "gmin" not in spec.option_names():
                    self.unavailable[name] = (
                        f"not applicable: {name} has no gmin leak (--gmin {gmin:g})"
                    )
                    continue
                kw["gmin"] = gmin
            self.runners[name] = self._runner(circuit, name, kw)

    def _runner(self, circuit: Circuit, name: str, kw: dict[str, Any]) -> Callable[[], Solution]:
        from resbench.solvers import solve
        from resbench.solvers.registry import SolverUnavailable

        def run() -> Solution:
            try:
                return solve(circuit, name, certify=False, **kw)
            except SolverUnavailable as exc:
                self.unavailable[name] = f"{exc.status}: {exc.args[0] if exc.args else exc}"
                raise

        return run


def peer_fields(
    circuit: Circuit,
    name: str,
    samples: list[timing.Sample] | None,
    fast: Solution | None,
    fast_samples: list[timing.Sample] | None,
    *,
    atol: float,
    gmin: float | None = None,
    unavailable: str | None = None,
) -> dict[str, Any]:
    """The column group of one peer (unprefixed: ``status``, ``claimed``, ``certified``,
    ``feasibility``, ``kcl``, ``complementarity``, ``max_abs_diff``, ``worst_node``,
    ``setup_median``, ``solve_median``, ``total_median``/``min``/``max``, ``ratio_total``,
    ``ratio_solve`` (its median over the fast solver's), ``message``); see the module doc
    for the status."""
    from resbench.bench.check import certify_answer, voltage_difference

    nan = float("nan")
    out: dict[str, Any] = {"status": None, "claimed": None, "message": None}
    if unavailable is not None:
        out.update(status=unavailable_status(unavailable), message=unavailable)
        return out
    samples = samples or []
    fin = timing.final_sample(samples)
    failure = no_answer(fin)
    for key in ("total", "setup", "solve"):
        st = timing.timing_stats(samples, key)
        out[f"{key}_median"] = st.median
        if key == "total":
            out.update(total_min=st.min, total_max=st.max)
    for key in ("total", "solve"):
        mine = timing.timing_stats(samples, key)
        ref = timing.timing_stats(fast_samples or [], key)
        out[f"ratio_{key}"] = timing.speedup(mine, ref)
    out["repeats"] = len(timing.measured(samples))
    if failure is not None:
        said = fin.solution.info.get("claimed") if fin and fin.solution else None
        out.update(status=failure[0], claimed=said, message=failure[1], max_abs_diff=nan)
        return out
    sol = fin.solution if fin is not None else None
    out["claimed"] = str(sol.info.get("claimed") or sol.status) if sol is not None else None
    check = certify_answer(circuit, sol, gmin)
    out.update(check.fields())
    if check.error:
        out.update(status=ERROR, message=check.error)
        return out
    if fast is not None and sol is not None:
        dmax, _, worst = voltage_difference(circuit, fast.voltages, sol.voltages, atol)
        out.update(max_abs_diff=dmax, worst_node=worst)
    messages = []
    if sol is None:
        status = ERROR
    elif sol.status != CONVERGED:
        status = sol.status
        messages.append(f"{name} says {out['claimed']} ({sol.status})")
    elif not check.certified:
        status = UNCERTIFIED
        messages.append(
            f"{name} says {out['claimed']!r} but the certificate rejects it (kcl "
            f"{check.kcl:.3g} A, feasibility {check.feasibility:.3g} V)"
        )
    else:
        status = OK
    d = out.get("max_abs_diff")
    if d is not None and d == d and d > atol:
        messages.append(
            f"max |Δv| {d:.3g} V from {fast.solver if fast else 'cd'} at node "
            f"{out.get('worst_node')} > atol {atol:g} V"
        )
        if status == OK:
            status = DISAGREE
    out.update(status=status, message="; ".join(messages) or None)
    return out


def unavailable_status(reason: str) -> str:
    """The status cell of a peer that cannot run: ``not installed: pip install -e
    '.[qp]'`` (the install line, or what to set, when the reason has one) or
    ``not applicable`` (the reason itself goes in the message)."""
    status, _, why = reason.partition(": ")
    if not status.startswith("not installed"):
        return status
    k = why.find("pip install")
    if k >= 0:
        return f"{status}: {why[k:].split(' (')[0].split(',')[0].rstrip(')')}"
    if "--paper-code" in why:
        return f"{status}: --paper-code DIR or RESBENCH_PAPER_CODE"
    return status


def _timing_fields(prefix: str, samples: list[timing.Sample], once: str) -> dict:
    total = timing.timing_stats(samples, "total")
    once_values = [s.timings.get(once) for s in samples if s.timings.get(once) is not None]
    return {
        f"{prefix}_total_median": total.median,
        f"{prefix}_total_min": total.min,
        f"{prefix}_total_max": total.max,
        f"{prefix}_setup_median": timing.timing_stats(samples, "setup").median,
        f"{prefix}_solve_median": timing.timing_stats(samples, "solve").median,
        f"{prefix}_{once}": max(once_values) if once_values else np.nan,
    }


def compare_circuit(
    circuit: Circuit,
    label: str,
    opts: CompareOptions,
    on_run: Callable[[timing.Sample], None] | None = None,
    before_run: Callable[[str, str, int], None] | None = None,
) -> tuple[dict, list[dict]]:
    """Run both solvers on one circuit: (summary row, sample rows).

    A circuit with no elements is a row with status ``empty`` (no solver is run: the
    answer is trivial and ngspice's modes disagree about whether it is an error)."""
    row: dict[str, Any] = {"netlist": label, "fast_solver": opts.solver}
    row.update(circuit.sizes())
    if not any(n for k, n in circuit.sizes().items() if k != "nodes"):
        row.update(
            status=EMPTY,
            message="no elements (an empty or title-only netlist): nothing to compare",
        )
        return row, []
    if circuit.dc is not None and opts.spice:
        from resbench.bench.compare_points import compare_sweep

        row, srows = compare_sweep(circuit, label, opts, on_run=on_run, before_run=before_run)
        for name in opts.peers:
            row[f"{name}_status"] = "not applicable"
            row[f"{name}_message"] = (
                f"{name}: a .dc sweep is compared with ngspice point by point; peers are "
                "timed on netlists without .dc (one operating point)"
            )
        return row, srows
    peers = PeerRunners(circuit, opts.peers, opts.solver_options, opts.gmin)
    samples = timing.run_interleaved(
        {**_runners(circuit, opts), **peers.runners},
        repeats=opts.repeats,
        warmup=opts.warmup,
        on_run=on_run,
        before_run=before_run,
    )
    sample_rows = [{"netlist": label, **s.as_row()} for ss in samples.values() for s in ss]
    fast_s, spice_s = samples[opts.solver], samples.get(SPICE, [])
    fast_final = timing.final_sample(fast_s)
    spice_final = timing.final_sample(spice_s) if opts.spice else None
    row["fast_status"] = fast_final.status if fast_final else None
    row["spice_status"] = spice_final.status if spice_final else None
    row["repeats"] = len(timing.measured(spice_s))
    fast_sol = fast_final.solution if fast_final and fast_final.has_answer else None
    spice_sol = spice_final.solution if spice_final and spice_final.has_answer else None

    check = check_answers(
        circuit, fast_sol, spice_sol, atol=opts.atol, gmin=opts.gmin, fast_name=opts.solver
    )
    row.update(check.fields("fast", "spice"))
    failures = [(opts.solver, no_answer(fast_final))]
    if opts.spice:
        failures.append((SPICE, no_answer(spice_final)))
    status, messages = row_status(failures, check)
    row.update(_timing_fields("fast", fast_s, "compile"))
    if opts.spice:
        row.update(_timing_fields("spice", spice_s, "startup"))
    for name in opts.peers:
        fields = peer_fields(
            circuit,
            name,
            samples.get(name),
            fast_sol,
            fast_s,
            atol=opts.atol,
            gmin=opts.gmin,
            unavailable=peers.unavailable.get(name),
        )
        row.update({f"{name}_{k}": v for k, v in fields.items()})
    fast_total, spice_total = (timing.timing_stats(s, "total") for s in (fast_s, spice_s))
    fast_solve, spice_solve = (timing.timing_stats(s, "solve") for s in (fast_s, spice_s))
    row["speedup_total"] = timing.speedup(spice_total, fast_total)
    row["speedup_solve"] = timing.speedup(spice_solve, fast_solve)
    row["status"] = status
    if circuit.dc is not None:  # here only without ngspice: no sweep to compare with
        messages.append("the .dc sweep needs ngspice in --solvers; compared at the operating point")
    row["message"] = "; ".join(messages) or None
    return row, sample_rows


def _error_row(label: str, opts: CompareOptions, message: str) -> dict:
    return {"netlist": label, "status": ERROR, "fast_solver": opts.solver, "message": message}


# --------------------------------------------------------------------------- many circuits
def _frames(
    rows: list[dict], sample_rows: list[dict], opts: CompareOptions | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    columns = C.compare_columns(opts.peers if opts is not None else ())
    if opts is not None and opts.cluster is not None:
        columns += C.WORKER
    summary = C.summary_frame(columns, rows)
    samples = pd.DataFrame(sample_rows)
    extra = [c for c in samples.columns if c not in SAMPLE_COLUMNS]
    samples = samples.reindex(columns=SAMPLE_COLUMNS + sorted(extra))
    return summary, samples


class _Writer:
    """The result files of one run, kept on disk as rows finish (see the module doc)."""

    def __init__(self, out: str | os.PathLike, opts: CompareOptions, command: str | None):
        from resbench.bench.results import check_targets, result_paths, sidecar

        self.paths = result_paths(out, STEM)
        check_targets(list(self.paths.values()))
        self.started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        self.meta = sidecar(
            command=command,
            extra={
                "kind": "compare",
                "options": asdict(opts),
                "run_id": f"{self.started} pid {os.getpid()}",
                "started": self.started,
            },
        )

    def _sidecar(self, run: CompareRun, state: str) -> dict:
        meta = dict(self.meta)
        meta.update(
            state=state,
            exit_code=None if state == "running" else run.exit_code,
            rows=len(run.summary),
            planned=run.planned,
            files={k: p.name for k, p in self.paths.items()},
        )
        return meta

    def rows(self, summary: pd.DataFrame, samples: pd.DataFrame) -> None:
        from resbench.bench.results import atomic_write_csv

        atomic_write_csv(self.paths["samples"], samples)
        atomic_write_csv(self.paths["summary"], summary)

    def write(self, run: CompareRun, state: str) -> dict[str, Path]:
        from resbench.bench.results import atomic_write_json, atomic_write_text

        meta = self._sidecar(run, state)
        self.rows(run.summary, run.samples)
        atomic_write_text(self.paths["markdown"], markdown_summary(run, meta))
        atomic_write_json(self.paths["sidecar"], meta)
        run.files = dict(self.paths)
        return run.files


def run_compare(
    items: Sequence[Item],
    opts: CompareOptions | None = None,
    *,
    on_run: Callable[[str, timing.Sample], None] | None = None,
    on_row: Callable[[dict], None] | None = None,
    before_run: Callable[[str, str, str, int], None] | None = None,
    out: str | os.PathLike | None = None,
    command: str | None = None,
    cluster: Any = None,
) -> CompareRun:
    """Compare every item (a netlist path or a Circuit); one summary row each.

    A netlist that fails to parse, or a circuit a solver rejects, becomes a row
    with status ``error`` and the run goes on.  Callbacks: ``before_run(label,
    solver, phase, repeat)`` before every solver run, ``on_run(label, sample)``
    after it, ``on_row(row)`` after every netlist.

    With ``out``, the folder is locked for the run and the result files are kept
    up to date as rows finish (:func:`write_compare_files` is then not needed).
    On Ctrl-C the finished rows are kept (and written) and
    :class:`CompareInterrupted` (a KeyboardInterrupt) is raised with them.

    ``cluster`` (or ``opts.cluster``): ``"local:N"``, a Dask scheduler's address, or a
    ``distributed.Client``: one cell per netlist on its workers
    (:mod:`resbench.bench.cluster`; the same rows, in the same order, plus the worker's
    host, CPU and cores).  ``on_run``/``before_run`` are then not called (the runs
    happen on the workers); ``on_row`` is, as each netlist finishes.
    """
    import contextlib
    import dataclasses

    from resbench.bench.results import output_lock

    opts = opts or CompareOptions()
    client = None
    if cluster is not None:
        if not isinstance(cluster, str):
            client, cluster = cluster, str(getattr(cluster.scheduler, "address", "client"))
        opts = dataclasses.replace(opts, cluster=cluster)
    opts.validate()
    with contextlib.ExitStack() as stack:
        if out is not None:
            stack.enter_context(output_lock(out))
        if opts.cluster is not None and client is None:  # connect before any work
            from resbench.bench.cluster import connect

            client = stack.enter_context(connect(opts.cluster))
        writer = None if out is None else _Writer(out, opts, command)
        return _run_compare(items, opts, on_run, on_row, before_run, writer, client)


def _run_compare(
    items: Sequence[Item],
    opts: CompareOptions,
    on_run: Callable[[str, timing.Sample], None] | None,
    on_row: Callable[[dict], None] | None,
    before_run: Callable[[str, str, str, int], None] | None,
    writer: _Writer | None,
    client: Any = None,
) -> CompareRun:
    rows: list[dict] = []
    sample_rows: list[dict] = []
    planned = len(items)
    if writer is not None:
        summary, samples = _frames(rows, sample_rows, opts)
        writer.write(CompareRun(summary, samples, opts, 0, planned=planned), "running")
    interrupted = False
    try:
        if client is None and opts.cluster is None:
            for index, item in enumerate(items):
                item_rows, srows = compare_cell(item, _label(item, index), opts, on_run, before_run)
                rows.extend(item_rows)
                sample_rows.extend(srows)
                if writer is not None:
                    writer.rows(*_frames(rows, sample_rows, opts))
                if on_row is not None:
                    on_row(item_rows[-1])
        else:
            _compare_on_cluster(items, opts, on_row, writer, client, rows, sample_rows)
    except KeyboardInterrupt:
        interrupted = True
    summary, samples = _frames(rows, sample_rows, opts)
    code = EXIT_INTERRUPTED if interrupted else exit_code(summary)
    run = CompareRun(summary, samples, opts, code, interrupted=interrupted, planned=planned)
    if writer is not None:
        writer.write(run, "interrupted" if interrupted else "complete")
    if interrupted:
        raise CompareInterrupted(run)
    return run


def compare_cell(
    item: Item,
    label: str,
    opts: CompareOptions,
    on_run: Callable[[str, timing.Sample], None] | None = None,
    before_run: Callable[[str, str, str, int], None] | None = None,
) -> tuple[list[dict], list[dict]]:
    """One cell of a comparison: read the netlist (a path, read here: on a cluster, on
    the worker) or take the Circuit, run every solver on it, and return its summary rows
    and sample rows.  A netlist that does not parse, or a circuit a solver rejects, is an
    ``error`` row; so is any other exception (a bug must not lose the other rows).  The
    in-process run and a cluster worker both run this, so they give the same rows."""
    from resbench.netlist import read_netlist

    try:
        circuit = item if isinstance(item, Circuit) else read_netlist(item)
        return _compare_item(circuit, label, opts, on_run, before_run)
    except ResbenchError as exc:
        return [_error_row(label, opts, exc.format())], []
    except Exception as exc:  # a bug must not lose the other rows
        return [_error_row(label, opts, f"{type(exc).__name__}: {exc}")], []


def _compare_on_cluster(
    items: Sequence[Item],
    opts: CompareOptions,
    on_row: Callable[[dict], None] | None,
    writer: _Writer | None,
    client: Any,
    rows: list[dict],
    sample_rows: list[dict],
) -> None:
    """One cell per netlist on the cluster's workers (:mod:`resbench.bench.cluster`).
    Workers get the netlist's absolute path and read it themselves (so they need the
    same files at the same paths); the rows come back here, each with the worker's host,
    CPU and cores, and the files are rewritten in netlist order as cells finish.  A cell
    whose worker died (after the scheduler's retry) is a ``failed`` row with the reason.
    ``rows`` and ``sample_rows`` are filled in place (in netlist order), so an
    interrupted run keeps what finished."""
    import dataclasses

    from resbench.bench import cluster

    remote = opts
    if opts.inputs is not None:
        remote = dataclasses.replace(opts, inputs=str(Path(opts.inputs).resolve()))
    cells = []
    for index, item in enumerate(items):
        label = _label(item, index)
        where = item if isinstance(item, Circuit) else str(Path(item).resolve())
        cells.append(cluster.Cell(index, label, compare_cell, (where, label, remote)))
    done: dict[int, tuple[list[dict], list[dict]]] = {}

    def finished(outcome: cluster.Outcome) -> None:
        if outcome.error is None:
            item_rows, srows = outcome.result
        else:
            row = _error_row(outcome.cell.label, opts, outcome.error)
            row["status"] = FAILED
            item_rows, srows = [row], []
        for r in item_rows:
            r.update(outcome.worker)
        done[outcome.cell.index] = (item_rows, srows)
        rows[:] = [r for k in sorted(done) for r in done[k][0]]
        sample_rows[:] = [r for k in sorted(done) for r in done[k][1]]
        if writer is not None:
            writer.rows(*_frames(rows, sample_rows, opts))
        if on_row is not None:
            on_row(item_rows[-1])

    with cluster.connect(client if client is not None else opts.cluster) as c:
        cluster.run_cells(c, cells, finished)


def _compare_item(
    circuit: Circuit,
    label: str,
    opts: CompareOptions,
    on_run: Callable[[str, timing.Sample], None] | None,
    before_run: Callable[[str, str, str, int], None] | None,
) -> tuple[list[dict], list[dict]]:
    """The rows of one netlist: one row (a single operating point or a ``.dc`` sweep), or
    with ``opts.inputs`` one row per sample and a last row for all of them."""
    run_cb = None if on_run is None else (lambda s: on_run(label, s))
    before_cb = None if before_run is None else (lambda so, ph, k: before_run(label, so, ph, k))
    if opts.inputs is not None:
        from resbench.bench.compare_points import compare_inputs

        return compare_inputs(circuit, label, opts, on_run=run_cb, before_run=before_cb)
    row, srows = compare_circuit(circuit, label, opts, on_run=run_cb, before_run=before_cb)
    return [row], srows


def exit_code(summary: pd.DataFrame) -> int:
    """2 if any row is error/timeout/failed, else 1 if any disagrees or is uncertified."""
    statuses = set(summary["status"]) if len(summary) else set()
    if statuses & set(ERROR_STATUSES):
        return 2
    if statuses & set(WRONG_STATUSES):
        return 1
    return 0


def markdown_summary(run: CompareRun, meta: dict | None = None) -> str:
    """The markdown summary file: the table, then the machine and options."""
    from resbench.bench.results import machine_line, markdown_table

    s = run.summary
    table = C.markdown_frame(C.COMPARE, s, solver=run.options.solver)
    o = run.options
    state = (meta or {}).get("state")
    versus = [f"ngspice ({o.spice_mode} mode, {o.diode_model} diodes)"] if o.spice else []
    versus += list(o.peers)
    lines = [
        f"# resbench compare: {o.solver} vs {', '.join(versus) or 'nothing (certificate only)'}",
        "",
    ]
    if state == "running":
        lines += [f"Running: {len(s)} of {run.planned} netlists done so far.", ""]
    elif run.interrupted:
        lines += [
            f"**Interrupted** (Ctrl-C) after {len(s)} of {run.planned} netlists: the rows "
            "below are the netlists that finished.",
            "",
        ]
    lines += [
        markdown_table(table),
        f"Medians of {o.repeats} interleaved repeats after {o.warmup} warm-up run(s); "
        f"speedups are ratios of medians (ngspice / {o.solver}), measured in the same run. "
        f"Agreement tolerance {o.atol:g} V."
        + ("" if state == "running" else f" Exit code {run.exit_code}."),
        "",
    ]
    if o.peers and len(s):
        peers = C.markdown_frame(C.PEER_TABLE, pd.DataFrame(peer_rows(s, o)), solver=o.solver)
        lines += [
            "## Every solver",
            "",
            markdown_table(peers),
            f"Times are medians of the same interleaved repeats; 'time / {o.solver}' is the "
            f"ratio of median totals (above 1: slower than {o.solver}); max |Δv| is measured "
            f"from the {o.solver} answer; 'claimed' is what the solver itself reported, "
            "'certified' what resbench's certificate says of its answer.",
            "",
        ]
    if meta:
        lines += [
            machine_line(meta),
            f"Command: `{meta.get('command')}`",
            "",
        ]
    messages = s[s["message"].notna()] if len(s) else s
    if len(messages):
        lines.append("## Notes")
        lines.append("")
        for _, r in messages.iterrows():
            lines.append(f"- `{r['netlist']}` ({r['status']}): {r['message']}")
        lines.append("")
    return "\n".join(lines)


def _own_status(claimed: Any, certified: Any, exact: bool) -> str | None:
    """A solver's status in the 'every solver' table from its own status and its
    certificate: an exact solver that converged is ok only when certified."""
    if claimed is None or claimed != claimed:
        return None
    if claimed != CONVERGED:
        return str(claimed)
    if exact and not (certified is True or str(certified) == "True"):
        return UNCERTIFIED
    return OK


def _ratio(x: Any, ref: Any) -> float | None:
    try:
        x, ref = float(x), float(ref)
    except (TypeError, ValueError):
        return None
    return x / ref if x > 0 and ref > 0 else None


def peer_rows(summary: pd.DataFrame, opts: CompareOptions) -> list[dict]:
    """The summary in long form, one row per netlist × solver (the fast solver, ngspice
    when it ran, each peer): what the 'every solver' tables show
    (:data:`resbench.bench.columns.PEER_TABLE`).  A netlist without a fast answer
    (error, empty) shows its row status on the fast solver's line."""
    out: list[dict] = []
    for _, r in summary.iterrows():
        base = {"netlist": r["netlist"]}
        fast = _own_status(r.get("fast_status"), r.get("fast_certified"), exact=True)
        out.append(
            {
                **base,
                "solver": opts.solver,
                "status": fast or r["status"],
                "claimed": r.get("fast_status"),
                "setup": r.get("fast_setup_median"),
                "solve": r.get("fast_solve_median"),
                "total": r.get("fast_total_median"),
                "ratio": _ratio(r.get("fast_total_median"), r.get("fast_total_median")),
                "max_abs_diff": None,
                "certified": r.get("fast_certified"),
            }
        )
        if opts.spice:
            out.append(
                {
                    **base,
                    "solver": SPICE,
                    "status": _own_status(r.get("spice_status"), None, exact=False),
                    "claimed": r.get("spice_status"),
                    "setup": r.get("spice_setup_median"),
                    "solve": r.get("spice_solve_median"),
                    "total": r.get("spice_total_median"),
                    "ratio": _ratio(r.get("spice_total_median"), r.get("fast_total_median")),
                    "max_abs_diff": r.get("max_abs_diff"),
                    "certified": r.get("spice_certified"),
                }
            )
        for name in opts.peers:
            g = {k: r.get(f"{name}_{k}") for k in C.PEER_FIELDS}
            out.append(
                {
                    **base,
                    "solver": name,
                    "status": g["status"],
                    "claimed": g["claimed"],
                    "setup": g["setup_median"],
                    "solve": g["solve_median"],
                    "total": g["total_median"],
                    "ratio": g["ratio_total"],
                    "max_abs_diff": g["max_abs_diff"],
                    "certified": g["certified"],
                }
            )
    return out


def write_compare_files(
    run: CompareRun, out_dir: str | os.PathLike, *, command: str | None = None
) -> dict[str, Path]:
    """Write compare_samples.csv, compare_summary.csv, compare_summary.md, compare.json
    for a finished run (under the folder's lock, each file atomically)."""
    from resbench.bench.results import output_lock

    with output_lock(out_dir):
        writer = _Writer(out_dir, run.options, command)
        return writer.write(run, "interrupted" if run.interrupted else "complete")


def compare(
    paths_or_circuits: Item | Sequence[Item] = "netlists",
    *,
    solver: str = "cd",
    spice_mode: str = DEFAULT_NGSPICE_MODE,
    diode_model: str = DEFAULT_DIODE_MODEL,
    repeats: int = 5,
    warmup: int = 1,
    atol: float = DEFAULT_ATOL,
    timeout: float = DEFAULT_TIMEOUT,
    gmin: float | None = None,
    out: str | os.PathLike | None = None,
    inputs: str | os.PathLike | None = None,
    limit: int = 20,
    spice: bool = True,
    peers: Sequence[str] = (),
    solver_options: dict[str, dict[str, Any]] | None = None,
    cluster: Any = None,
) -> pd.DataFrame:
    """Compare ``solver`` with ngspice on netlists (files or directories) or Circuits.

    ``peers``: other solvers to time and check alongside (``["osqp", "highs"]``; see the
    module doc), ``spice=False`` to leave ngspice out, ``solver_options`` per solver
    (``{"osqp": {"eps_abs": 1e-6}}``), ``cluster`` to run on Dask workers
    (:func:`run_compare`).

    Returns the summary DataFrame (one row per netlist, the columns of
    :data:`resbench.bench.columns.COMPARE`); the raw samples are in ``df.attrs["samples"]``
    and the exit code the CLI would return in ``df.attrs["exit_code"]``.
    With ``out``, the result files are written there as well.  With ``inputs`` (a file
    of input samples, one netlist only), at most ``limit`` samples of it are compared,
    one row each, then a row for all (:func:`resbench.bench.compare_points.compare_inputs`).
    """
    if isinstance(paths_or_circuits, str | os.PathLike | Circuit):
        paths_or_circuits = [paths_or_circuits]
    items: list[Item] = []
    for item in paths_or_circuits:
        items.extend([item] if isinstance(item, Circuit) else collect_netlists([item]))
    opts = CompareOptions(
        solver=solver,
        spice_mode=spice_mode,
        diode_model=diode_model,
        repeats=repeats,
        warmup=warmup,
        atol=atol,
        timeout=timeout,
        gmin=gmin,
        inputs=None if inputs is None else os.fspath(inputs),
        limit=limit,
        spice=spice,
        peers=tuple(peers),
        solver_options=dict(solver_options or {}),
    )
    if inputs is not None and len(items) != 1:
        raise ResbenchError(f"inputs need exactly one netlist, got {len(items)}")
    run = run_compare(items, opts, out=out, cluster=cluster)
    df = run.summary.copy()
    df.attrs["samples"] = run.samples
    df.attrs["exit_code"] = run.exit_code
    return df
