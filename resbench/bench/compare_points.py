"""Compare with ngspice on many inputs of one netlist: a ``.dc`` sweep, or input samples.

Split from :mod:`resbench.bench.compare` (which calls it): one netlist, many operating
points of it, both solvers set up once.

* **A ``.dc`` netlist** (:func:`compare_sweep`): the fast side solves every point of
  the card as one batch (:func:`resbench.batch.dc.run_dc`: a Network set up once,
  setup included in its time), ngspice runs its own ``.dc`` analysis
  (:func:`resbench.solvers.ngspice.ngspice_dc`: parsing included).  One summary row:
  the largest |Δv| over every point and node (the worst node is named with its point),
  both answers certified at every point, whole-sweep times and their speedup.
* **Input samples** (:func:`compare_inputs`, ``resbench compare --inputs FILE``): at
  most ``opts.limit`` rows of the file, spread evenly.  The fast side solves each
  sample alone (``Network.solve``: set up once, no setup per sample); ngspice loads the
  netlist once and, per sample, ``alter``s the sources and reruns ``op``
  (:func:`resbench.solvers.ngspice.ngspice_batch`).  One row per sample (its |Δv|,
  both certificates, the median per-sample time of each solver over the repeats and
  their ratio), then a row for all the samples (the worst |Δv|, the sums of the
  per-sample medians and their ratio).  Setting up (the Network, the ngspice load) is
  not in the per-sample times, as JIT compilation and worker start-up are not in
  compare's totals; it is reported in the ``message`` of the last row.

Both sides run under :func:`resbench.bench.timing.run_interleaved` (warm-up, then
``repeats`` interleaved runs), each run a whole batch; a run's answers travel in its
:class:`~resbench.bench.timing.Measurement`'s ``extra["points"]`` (its Solution is a
placeholder for the whole batch, status ``converged`` unless every point failed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from resbench.bench import timing
from resbench.bench.check import DISAGREE, Comparison, check_answers, no_answer, row_status
from resbench.circuit import Circuit
from resbench.errors import ResbenchError
from resbench.solution import CONVERGED, FAILED, Solution

if TYPE_CHECKING:
    from resbench.bench.compare import CompareOptions

SPICE = "ngspice"
#: how bad a row status is, for the row of all points (worst wins)
_RANK = {timing.OK: 0, timing.UNCERTIFIED: 1, DISAGREE: 2}
NAN = float("nan")


@dataclass
class Points:
    """One batch run's answers: voltages ``[B, n_nodes]``, status and message per
    point, and seconds per point (NaN where not measured per point)."""

    voltages: np.ndarray
    status: list[str]
    messages: list[str]
    seconds: np.ndarray


def _measurement(
    circuit: Circuit, solver: str, points: Points, timings: dict[str, float]
) -> timing.Measurement:
    """A batch run for the timing harness (see the module doc: the Solution is a
    placeholder, the answers are in ``extra["points"]``)."""
    ok = any(s == CONVERGED for s in points.status)
    first_error = next((m for m in points.messages if m), "every point failed")
    sol = Solution(
        circuit=circuit,
        voltages=np.zeros(circuit.n_nodes),
        solver=solver,
        status=CONVERGED if ok else FAILED,
        timings=dict(timings),
        info={} if ok else {"error": first_error},
    )
    return timing.Measurement(sol, timings=dict(timings), extra={"points": points})


# --------------------------------------------------------------------------- runners
def _spice_kw(opts: CompareOptions) -> dict[str, Any]:
    return {"diode_model": opts.diode_model, "timeout": opts.timeout, "gmin": opts.gmin}


def _sweep_runners(circuit: Circuit, opts: CompareOptions) -> dict[str, timing.Runner]:
    """The whole ``.dc`` sweep: the fast solver as one batch, ngspice's own ``.dc``."""
    from resbench.batch.dc import run_dc
    from resbench.solvers.ngspice import ngspice_dc

    if opts.solver != "cd":
        raise ResbenchError(
            f"a .dc sweep is solved by the cd batch engine; --solver {opts.solver} "
            "cannot sweep (use --solver cd)"
        )

    def fast() -> timing.Measurement:
        t0 = time.perf_counter()
        res = run_dc(circuit, certify=False, gmin=opts.gmin or 0.0).result
        total = time.perf_counter() - t0
        setup = float(res.info.get("network_setup", 0.0))
        points = Points(res.voltages, list(res.status), list(res.messages), _nans(len(res)))
        tm = {"setup": setup, "solve": total - setup, "total": total}
        return _measurement(circuit, opts.solver, points, tm)

    def spice() -> timing.Measurement:
        _, volts, tm = ngspice_dc(circuit, mode=opts.spice_mode, **_spice_kw(opts))
        B = volts.shape[0]
        points = Points(volts, [CONVERGED] * B, [""] * B, _nans(B))
        tm = dict(tm, setup=tm["emit"] + tm["load"], solve=tm["analysis"])
        return _measurement(circuit, SPICE, points, tm)

    return {opts.solver: fast, SPICE: spice}


def _nans(n: int) -> np.ndarray:
    return np.full(n, NAN)


def _inputs_runners(
    circuit: Circuit, names: list[str], values: np.ndarray, opts: CompareOptions, setup: dict
) -> dict[str, timing.Runner]:
    """Each sample alone: the fast solver (cd: one Network, ``solve`` per sample; any
    other: a full solve of the equivalent circuit) and ngspice (load once, alter + op)."""
    from resbench.solvers.ngspice import ngspice_batch

    solve_one = _fast_single(circuit, names, values[0], opts, setup)

    def fast() -> timing.Measurement:
        B = values.shape[0]
        volts = np.full((B, circuit.n_nodes), NAN)
        secs, status, messages = _nans(B), [], []
        for i in range(B):
            t0 = time.perf_counter()
            sol = solve_one(values[i])
            secs[i] = time.perf_counter() - t0
            volts[i] = sol.voltages
            status.append(sol.status)
            messages.append(sol.message or (sol.info or {}).get("error") or "")
        total = float(secs.sum())
        points = Points(volts, status, messages, secs)
        return _measurement(
            circuit, opts.solver, points, {"setup": 0.0, "solve": total, "total": total}
        )

    def spice() -> timing.Measurement:
        info: dict = {}
        volts, secs = ngspice_batch(circuit, names, values, info=info, **_spice_kw(opts))
        errors = info.get("errors", {})
        status = [FAILED if i in errors else CONVERGED for i in range(values.shape[0])]
        messages = [errors.get(i, "") for i in range(values.shape[0])]
        load = info.get("emit", 0.0) + info.get("load", 0.0)
        setup.setdefault("ngspice load", load)
        solve = float(np.nansum(secs))
        tm = {"setup": load, "solve": solve, "total": load + solve}
        if "startup" in info:
            tm["startup"] = info["startup"]
        return _measurement(circuit, SPICE, Points(volts, status, messages, secs), tm)

    return {opts.solver: fast, SPICE: spice}


def _fast_single(
    circuit: Circuit, names: list[str], first: np.ndarray, opts: CompareOptions, setup: dict
) -> Callable[[np.ndarray], Solution]:
    """How the fast side solves one sample: cd through one Network (set up here at the
    first sample, its setup time in ``setup``), another exact solver on the equivalent
    circuit."""
    from resbench.batch.network import with_values

    if opts.solver == "cd":
        from resbench.batch import Network

        base = with_values(circuit, names, first)  # the netlist's own input values unused
        net = Network(base, inputs=names, gmin=opts.gmin or 0.0)
        setup["network setup"] = net.setup_seconds
        return lambda row: net.solve(row, certify=False)
    from resbench.solvers import solve

    kw = {} if opts.gmin is None else {"gmin": opts.gmin}
    return lambda row: solve(with_values(circuit, names, row), opts.solver, certify=False, **kw)


# --------------------------------------------------------------------------- checks
def _final_points(samples: list[timing.Sample]) -> Points | None:
    final = timing.final_sample(samples)
    return final.extra.get("points") if final is not None and final.has_answer else None


def _point_check(
    circuit: Circuit,
    names: list[str],
    row: np.ndarray,
    i: int,
    fast: Points | None,
    spice: Points | None,
    opts: CompareOptions,
) -> tuple[Comparison, str, list[str]]:
    """Both answers at point ``i``, certified on the circuit with that input: the
    comparison, the row status and its messages."""
    from resbench.batch.network import with_values

    ci = with_values(circuit, names, row)

    def answer(p: Points | None, solver: str) -> tuple[Solution | None, tuple[str, str] | None]:
        if p is None:
            return None, (timing.ERROR, "no answer")
        if p.status[i] == FAILED or not np.all(np.isfinite(p.voltages[i])):
            return None, (FAILED, p.messages[i] or "no answer at this point")
        return Solution(ci, p.voltages[i], solver, p.status[i]), None

    fsol, ffail = answer(fast, opts.solver)
    ssol, sfail = answer(spice, SPICE)
    check = check_answers(ci, fsol, ssol, atol=opts.atol, gmin=opts.gmin, fast_name=opts.solver)
    status, messages = row_status([(opts.solver, ffail), (SPICE, sfail)], check)
    return check, status, messages


def _worse(a: str, b: str) -> bool:
    """Is status ``a`` worse than ``b`` (errors worst)?"""
    return _RANK.get(a, 3) > _RANK.get(b, 3)


def _per_point_stats(samples: list[timing.Sample], i: int) -> timing.Stats:
    return timing.Stats.of([s.extra["points"].seconds[i] for s in timing.measured(samples)])


def _run_fields(samples: dict[str, list[timing.Sample]], opts: CompareOptions) -> dict:
    """Whole-run timings, speedups and statuses of a row (as compare's rows)."""
    from resbench.bench.compare import _timing_fields

    fast_s, spice_s = samples[opts.solver], samples[SPICE]
    fast_final, spice_final = timing.final_sample(fast_s), timing.final_sample(spice_s)
    row: dict[str, Any] = {
        "fast_status": fast_final.status if fast_final else None,
        "spice_status": spice_final.status if spice_final else None,
        "repeats": len(timing.measured(spice_s)),
    }
    row.update(_timing_fields("fast", fast_s, "compile"))
    row.update(_timing_fields("spice", spice_s, "startup"))
    for key in ("total", "solve"):
        row[f"speedup_{key}"] = timing.speedup(
            timing.timing_stats(spice_s, key), timing.timing_stats(fast_s, key)
        )
    return row


def _no_answer_row(samples: dict[str, list[timing.Sample]], opts: CompareOptions) -> dict | None:
    """Status and message when a whole side produced no answer, else None."""
    failures = [(who, no_answer(timing.final_sample(samples[who]))) for who in (opts.solver, SPICE)]
    failures = [(who, f) for who, f in failures if f is not None]
    if not failures:
        return None
    return {
        "status": failures[-1][1][0],
        "message": "; ".join(f"{who}: {f[1]}" for who, f in failures),
    }


@dataclass
class _Worst:
    """The running aggregate over points: worst difference, worst status, all certified."""

    diff: float = -1.0
    fields: dict | None = None
    where: str = ""
    status: str = timing.OK
    messages: list[str] = field(default_factory=list)
    fast_certified: bool = True
    spice_certified: bool = True

    def add(self, check: Comparison, status: str, messages: list[str], where: str) -> None:
        d = check.max_abs_diff
        key = d if d == d else -1.0
        if self.fields is None or key > self.diff:
            self.diff, self.fields, self.where = key, check.fields("fast", "spice"), where
        if _worse(status, self.status):  # the first point of the worst status tells why
            self.status, self.messages = status, [f"{where}: {m}" for m in messages]
        self.fast_certified &= bool(check.fast.certified)
        self.spice_certified &= bool(check.reference.certified)

    def row(self) -> dict:
        out = dict(self.fields or {})
        if out.get("worst_node") is not None:
            out["worst_node"] = f"{out['worst_node']} ({self.where})"
        out["fast_certified"] = self.fast_certified
        out["spice_certified"] = self.spice_certified
        out["status"] = self.status
        out["message"] = "; ".join(self.messages) or None
        return out


def _point_label(names: list[str], row: np.ndarray, i: int) -> str:
    shown = ", ".join(f"{n}={x:.6g}" for n, x in zip(names, row.tolist(), strict=True))
    return f"point {i} ({shown})"


# --------------------------------------------------------------------------- entries
def compare_sweep(
    circuit: Circuit,
    label: str,
    opts: CompareOptions,
    on_run: Callable[[timing.Sample], None] | None = None,
    before_run: Callable[[str, str, int], None] | None = None,
) -> tuple[dict, list[dict]]:
    """A ``.dc`` netlist against ngspice's own ``.dc`` sweep: one summary row (see the
    module doc) and the raw sample rows."""
    from resbench.batch.dc import dc_points

    names, values = dc_points(circuit)
    samples = timing.run_interleaved(
        _sweep_runners(circuit, opts),
        repeats=opts.repeats,
        warmup=opts.warmup,
        on_run=on_run,
        before_run=before_run,
    )
    row: dict[str, Any] = {"netlist": label, "fast_solver": opts.solver, **circuit.sizes()}
    row.update(_run_fields(samples, opts))
    sample_rows = [{"netlist": label, **s.as_row()} for ss in samples.values() for s in ss]
    failed = _no_answer_row(samples, opts)
    if failed is not None:
        row.update(failed)
        return row, sample_rows
    fast, spice = _final_points(samples[opts.solver]), _final_points(samples[SPICE])
    worst = _Worst()
    for i in range(values.shape[0]):
        check, status, messages = _point_check(circuit, names, values[i], i, fast, spice, opts)
        worst.add(check, status, messages, _point_label(names, values[i], i))
    row.update(worst.row())
    note = f".dc sweep of {values.shape[0]} points vs ngspice's .dc; times are whole sweeps"
    row["message"] = note if row["message"] is None else f"{note}; {row['message']}"
    return row, sample_rows


def spread(n: int, limit: int) -> np.ndarray:
    """At most ``limit`` indices of ``range(n)``, spread evenly, first and last included."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, limit)).astype(np.int64))


def compare_inputs(
    circuit: Circuit,
    label: str,
    opts: CompareOptions,
    on_run: Callable[[timing.Sample], None] | None = None,
    before_run: Callable[[str, str, int], None] | None = None,
) -> tuple[list[dict], list[dict]]:
    """Samples of ``opts.inputs`` against ngspice: one row per sample, then one for all
    (see the module doc), and the raw sample rows."""
    from resbench.batch.io import read_inputs
    from resbench.batch.network import input_sources

    assert opts.inputs is not None
    names, values = read_inputs(opts.inputs, input_sources(circuit), circuit=circuit)
    n_file = values.shape[0]
    chosen = spread(n_file, opts.limit)
    values = values[chosen]
    setup: dict[str, float] = {}
    samples = timing.run_interleaved(
        _inputs_runners(circuit, names, values, opts, setup),
        repeats=opts.repeats,
        warmup=opts.warmup,
        on_run=on_run,
        before_run=before_run,
    )
    sample_rows = [{"netlist": label, **s.as_row()} for ss in samples.values() for s in ss]
    base: dict[str, Any] = {"fast_solver": opts.solver, **circuit.sizes()}
    total = {"netlist": f"{label} (all {len(chosen)} samples)", **base}
    total.update(_run_fields(samples, opts))
    failed = _no_answer_row(samples, opts)
    if failed is not None:
        total.update(failed)
        return [total], sample_rows
    rows = _sample_rows(circuit, label, names, values, chosen, samples, opts, base)
    worst = _Worst()
    for r, (check, status, messages) in rows:
        worst.add(check, status, messages, f"sample {r['sample']}")
    total.update(worst.row())
    shown = ", ".join(f"{k} {v:.3g} s" for k, v in setup.items())
    note = (
        f"{len(chosen)} of {n_file} samples of {opts.inputs}; times: sums of per-sample medians"
    ) + (f"; not in them: {shown}" if shown else "")
    total["message"] = note if total["message"] is None else f"{note}; {total['message']}"
    return [r for r, _ in rows] + [total], sample_rows


def _sample_rows(
    circuit: Circuit,
    label: str,
    names: list[str],
    values: np.ndarray,
    chosen: np.ndarray,
    samples: dict[str, list[timing.Sample]],
    opts: CompareOptions,
    base: dict,
) -> list[tuple[dict, tuple[Comparison, str, list[str]]]]:
    """One compare row per sample: its check and the median per-sample times."""
    fast_s, spice_s = samples[opts.solver], samples[SPICE]
    fast, spice = _final_points(fast_s), _final_points(spice_s)
    out = []
    for i, k in enumerate(chosen.tolist()):
        check, status, messages = _point_check(circuit, names, values[i], i, fast, spice, opts)
        row: dict[str, Any] = {"netlist": f"{label} #{k}", "sample": k, **base}
        row["fast_status"] = fast.status[i] if fast is not None else None
        row["spice_status"] = spice.status[i] if spice is not None else None
        row["repeats"] = len(timing.measured(spice_s))
        row.update(check.fields("fast", "spice"))
        for prefix, ss in (("fast", fast_s), ("spice", spice_s)):
            st = _per_point_stats(ss, i)
            row.update(
                {
                    f"{prefix}_total_median": st.median,
                    f"{prefix}_total_min": st.min,
                    f"{prefix}_total_max": st.max,
                    f"{prefix}_setup_median": 0.0,
                    f"{prefix}_solve_median": st.median,
                }
            )
        ratio = timing.speedup(_per_point_stats(spice_s, i), _per_point_stats(fast_s, i))
        row["speedup_total"] = row["speedup_solve"] = ratio
        row["status"], row["message"] = status, "; ".join(messages) or None
        out.append((row, (check, status, messages)))
    return out


__all__ = ["Points", "compare_inputs", "compare_sweep", "spread"]
