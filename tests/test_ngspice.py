"""The ngspice backend: agreement with the exact reference, isolation, security.

These tests run the real ngspice (libngspice through PySpice, and the ngspice
CLI); they are never skipped.  Circuits are small so the file stays fast.
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np
import psutil
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import random_circuits, stalling_case

from resbench.circuit import Branches, Circuit, make_circuit
from resbench.errors import CircuitError, SolverError
from resbench.netlist import read_netlist
from resbench.solution import CONVERGED, FAILED, TIMEOUT
from resbench.solvers import ngspice as ng
from resbench.solvers.ngspice import (
    WorkerCrashed,
    WorkerTimeout,
    emit_netlist,
    get_worker,
    map_vectors,
    read_rawfile,
    solve_ngspice,
)
from resbench.solvers.reference import solve_reference

pytestmark = pytest.mark.spice  # every test here runs ngspice

ATOL = 1e-6
HYP = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# --------------------------------------------------------------------------- helpers
def divider() -> Circuit:
    """V1 = 3 V over 1k + 2k: v(mid) = 2 V, source current -1 mA (SPICE sign)."""
    return make_circuit(
        "divider",
        ["0", "in", "mid"],
        resistors=Branches.from_lists(["r1", "r2"], [1, 2], [2, 0], [1e3, 2e3]),
        vsources=Branches.from_lists(["v1"], [1], [0], [3.0]),
    )


def tame(c: Circuit) -> Circuit:
    """Map a random circuit into the regime where the switch model is within ~1e-7 V of
    the ideal diode: resistors 1k–10k (was 100–100k), current sources ≤ 0.1 mA.
    (The switch's error grows like RON × diode current and R × reverse voltage / ROFF;
    with 100 Ω and 10 mA sources into 100 kΩ it reaches 1e-5 V, see test below.)"""
    r, i = c.resistors, c.isources
    logs = np.log10(np.where(r.value > 0, r.value, 1.0))
    value = np.where(r.value > 0, 10.0 ** (3.0 + (logs - 2.0) / 3.0), 0.0)
    return dataclasses.replace(
        c,
        resistors=Branches(r.names, r.a, r.b, value),
        isources=Branches(i.names, i.a, i.b, i.value / 100.0),
    )


def has_equality_loop(c: Circuit) -> bool:
    """True when voltage sources and shorts close a loop (ngspice's matrix is singular)."""
    parent = list(range(c.n_nodes))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    short = c.resistors.value == 0
    pairs = list(zip(c.vsources.a, c.vsources.b, strict=True))
    pairs += list(zip(c.resistors.a[short], c.resistors.b[short], strict=True))
    pairs += list(zip(c.inductors.a, c.inductors.b, strict=True))
    for a, b in pairs:
        ra, rb = find(int(a)), find(int(b))
        if ra == rb:
            return True
        parent[ra] = rb
    return False


def reference_or_skip_example(c: Circuit):
    try:
        ref = solve_reference(c)
    except CircuitError:
        assume(False)  # infeasible circuits are the reference's tests, not ours
    assume(ref.status == CONVERGED)
    return ref


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True


# --------------------------------------------------------------------------- basics
@pytest.mark.parametrize("mode", ["shared", "batch"])
def test_divider_exact_with_timing_breakdown(mode: str) -> None:
    sol = solve_ngspice(divider(), mode=mode)
    assert sol.status == CONVERGED, sol.info.get("error")
    assert sol.solver == "ngspice"
    np.testing.assert_allclose(sol.voltages, [0.0, 3.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(sol.vsource_current, [-1e-3], rtol=1e-9)
    t = sol.timings
    for key in ("emit", "transfer", "load", "analysis", "fetch", "setup", "solve", "total"):
        assert key in t and t[key] >= 0.0, key
    assert t["setup"] == pytest.approx(t["emit"] + t["load"])
    assert t["solve"] == t["analysis"]
    parts = t["emit"] + t["transfer"] + t["load"] + t["analysis"] + t["fetch"]
    assert t["total"] == pytest.approx(parts)
    assert "Total analysis time" in sol.info["ngspice"]  # ngspice's own accounting


def test_stalling_case_and_flattened_names() -> None:
    """docs/design.md §2's stalling case, with subcircuit-style names (r.x1.r1, x1.a)."""
    c = stalling_case()
    c = dataclasses.replace(
        c,
        nodes=["0", "in", "x1.a", "x1.b"],
        resistors=Branches(["r.x1.r1", "r2"], c.resistors.a, c.resistors.b, c.resistors.value),
        diodes=Branches(["d.x1.d1"], c.diodes.a, c.diodes.b, c.diodes.value),
    )
    for mode in ("shared", "batch"):
        sol = solve_ngspice(c, mode=mode)
        assert sol.status == CONVERGED, sol.info.get("error")
        np.testing.assert_allclose(sol.voltages, [0.0, 1.0, 0.5, 0.5], atol=ATOL)


@pytest.mark.parametrize("mode", ["shared", "batch"])
def test_upper_case_node_names_from_python(mode: str) -> None:
    """ngspice lower-cases node names; a Circuit built in Python keeps its own case and
    still gets every voltage back (it used to be 'returned no voltage')."""
    c = make_circuit(
        "upper",
        ["0", "IN", "Mid"],
        resistors=Branches.from_lists(["R1", "r2"], [1, 2], [2, 0], [1e3, 1e3]),
        vsources=Branches.from_lists(["V1"], [1], [0], [1.0]),
    )
    sol = solve_ngspice(c, mode=mode)
    assert sol.status == CONVERGED, sol.info.get("error")
    np.testing.assert_allclose(sol.voltages, [0.0, 1.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(sol.vsource_current, [-0.5e-3], rtol=1e-9)


def test_zero_ohm_resistor_is_a_short() -> None:
    """ngspice would silently turn 0 Ω into 1 mΩ (1e-6 V error at 1 mA)."""
    c = make_circuit(
        "short",
        ["0", "in", "a"],
        resistors=Branches.from_lists(["r1", "r2"], [1, 2], [2, 0], [0.0, 1e3]),
        vsources=Branches.from_lists(["v1"], [1], [0], [1.0]),
    )
    sol = solve_ngspice(c)
    assert abs(sol.voltage("a") - 1.0) < 1e-8
    assert c.resistors.value[0] == 0.0  # the caller's circuit is untouched


def test_shockley_diode_shows_its_forward_drop() -> None:
    c = stalling_case()
    c.models.clear()  # the default model is added for the missing one
    sol = solve_ngspice(c, diode_model="shockley")
    assert sol.status == CONVERGED
    drop = sol.voltage("a") - sol.voltage("b")
    assert 0.4 < drop < 0.8  # ≈ N·Vt·ln(I/IS) with IS = 1e-14, N = 1
    assert "d1 a b d" in emit_netlist(c, diode_model="shockley")


def test_gmin_is_a_leak_to_ground() -> None:
    """gmin → ngspice rshunt: a floating node settles at 0 V, a divider barely moves."""
    c = make_circuit(
        "floating",
        ["0", "in", "mid", "f1", "f2"],
        resistors=Branches.from_lists(["r1", "r2", "r3"], [1, 2, 3], [2, 0, 4], [1e3, 1e3, 1e3]),
        vsources=Branches.from_lists(["v1"], [1], [0], [2.0]),
    )
    text = emit_netlist(c, gmin=1e-9)
    (line,) = [ln for ln in text.splitlines() if ln.startswith(".options rshunt=")]
    assert float(line.split("=")[1]) == pytest.approx(1e9)
    sol = solve_ngspice(c, gmin=1e-9)
    assert sol.status == CONVERGED
    assert abs(sol.voltage("f1")) < 1e-9 and abs(sol.voltage("f2")) < 1e-9
    assert abs(sol.voltage("mid") - 1.0) < 1e-5


def test_bad_options_raise() -> None:
    with pytest.raises(SolverError):
        solve_ngspice(divider(), mode="interactive")
    with pytest.raises(SolverError):
        solve_ngspice(divider(), diode_model="pwl")
    with pytest.raises(SolverError):
        solve_ngspice(divider(), timeout=0)


def test_missing_node_is_an_error() -> None:
    c = divider()
    volts, vcur, missing = map_vectors(c, ["in", "v1#branch"], np.array([3.0, -1e-3]))
    assert missing == ["mid"] and np.isnan(volts[2]) and vcur[0] == -1e-3
    volts, _, missing = map_vectors(c, ["v(in)", "v(mid)", "i(v1)"], np.array([3.0, 2.0, 0.0]))
    assert missing == [] and list(volts) == [0.0, 3.0, 2.0]


def test_failed_analysis_is_failed_not_nan() -> None:
    """Two parallel voltage sources: ngspice's matrix is singular; it leaves a plot of
    NaNs, which must come back as status failed with ngspice's message."""
    c = make_circuit(
        "loop",
        ["0", "a"],
        resistors=Branches.from_lists(["r1"], [1], [0], [1e3]),
        vsources=Branches.from_lists(["v1", "v2"], [1, 1], [0, 0], [1.0, 1.0]),
    )
    for mode in ("shared", "batch"):
        sol = solve_ngspice(c, mode=mode)
        assert sol.status == FAILED, mode
        assert np.all(np.isnan(sol.voltages[1:]))
        assert "singular" in sol.info["error"] or "abort" in sol.info["error"], sol.info
    assert solve_ngspice(divider()).status == CONVERGED  # the worker still serves


# --------------------------------------------------------------------------- agreement
@HYP
@given(random_circuits().map(tame))
def test_random_circuits_agree_with_reference(c: Circuit) -> None:
    ref = reference_or_skip_example(c)
    sol = solve_ngspice(c)
    if sol.status == FAILED:
        assert has_equality_loop(c), sol.info.get("error")  # SPICE cannot do those
        return
    assert sol.status == CONVERGED, sol.info.get("error")
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= ATOL


@settings(HYP, max_examples=12)
@given(random_circuits(max_nodes=6).map(tame))
def test_batch_mode_agrees_with_shared_mode(c: Circuit) -> None:
    shared = solve_ngspice(c, mode="shared")
    batch = solve_ngspice(c, mode="batch")
    assert shared.status == batch.status
    if shared.status == CONVERGED:
        np.testing.assert_allclose(batch.voltages, shared.voltages, rtol=0, atol=1e-9)


def test_switch_error_grows_with_reverse_voltage() -> None:
    """Why the random circuits above are tamed: a 1 TΩ ROFF leaks V/ROFF; across 100 kΩ
    at 100 V that is 1e-5 V.  Documents the limits of --atol 1e-6 for the switch."""
    c = make_circuit(
        "leak",
        ["0", "in", "a"],
        resistors=Branches.from_lists(["r1"], [2], [0], [1e5]),
        diodes=Branches.from_lists(["d1"], [2], [1], [0.0]),
        vsources=Branches.from_lists(["v1"], [1], [0], [100.0]),
    )
    sol = solve_ngspice(c)
    assert sol.voltage("a") == pytest.approx(1e-5, rel=1e-3)  # exact answer: 0 V


def gmin_stepping_circuit() -> Circuit:
    """Found by hypothesis: two parallel switches make ngspice's first Newton solve
    fail; it goes through gmin stepping, source stepping and a transient op."""
    nodes = ["0"] + [f"n{k}" for k in range(1, 8)]
    r = [
        (1, 0, 10851.700101247729),
        (2, 1, 5531.565090072963),
        (3, 0, 74554.99816486365),
        (4, 3, 25676.142683316393),
        (5, 3, 16071.682455516067),
        (6, 1, 3215.1983381798264),
        (7, 0, 15892.476311178185),
        (5, 6, 15186.167668927463),
        (5, 0, 9648.815072028867),
        (6, 3, 5281.256679598026),
    ]
    d = [(1, 2), (6, 7), (0, 5), (6, 7)]
    return make_circuit(
        "gmin stepping",
        nodes,
        resistors=Branches.from_lists(
            [f"r{k}" for k in range(len(r))],
            [x[0] for x in r],
            [x[1] for x in r],
            [x[2] for x in r],
        ),
        diodes=Branches.from_lists(
            [f"d{k}" for k in range(len(d))], [x[0] for x in d], [x[1] for x in d], [0.0] * len(d)
        ),
        vsources=Branches.from_lists(["v0"], [6], [0], [-0.006003352923725558]),
        isources=Branches.from_lists(["i0"], [0], [7], [-0.0001843346304773876]),
    )


@pytest.mark.parametrize("mode", ["shared", "batch"])
def test_gmin_stepping_notes_still_return_the_answer(mode: str) -> None:
    c = gmin_stepping_circuit()
    sol = solve_ngspice(c, mode=mode)
    assert sol.status == CONVERGED, sol.info.get("error")
    assert any("gmin stepping" in line for line in sol.info["notes"]), sol.info["notes"]
    ref = solve_reference(c)
    assert np.max(np.abs(sol.voltages - ref.voltages)) <= ATOL


# --------------------------------------------------------------------------- isolation
def big_net(n: int = 60) -> Circuit:
    """An n×n resistor grid driven at one corner (ngspice needs well over a millisecond)."""
    idx = np.arange(n * n).reshape(n, n) + 1
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    nodes = ["0"] + [f"g{k}" for k in range(1, n * n + 1)]
    return make_circuit(
        "grid",
        nodes,
        resistors=Branches.from_lists(
            [f"r{k}" for k in range(len(a) + 1)],
            np.append(a, idx[-1, -1]),
            np.append(b, 0),
            np.full(len(a) + 1, 1e3),
        ),
        vsources=Branches.from_lists(["v1"], [1], [0], [1.0]),
    )


def test_worker_timeout_kills_the_whole_process_group() -> None:
    worker = get_worker()
    assert solve_ngspice(divider()).status == CONVERGED
    pid = worker.pid
    assert pid is not None and group_alive(pid)
    with pytest.raises(WorkerTimeout):
        worker.request({"op": "sleep", "seconds": 60}, timeout=0.5)
    assert not group_alive(pid)
    assert not psutil.pid_exists(pid)
    sol = solve_ngspice(divider())  # a fresh worker takes over
    assert sol.status == CONVERGED and worker.pid != pid
    assert "startup" in sol.timings


@pytest.mark.parametrize("mode", ["shared", "batch"])
def test_run_past_timeout_is_a_timeout_row_and_leaves_no_process(mode: str) -> None:
    c = big_net()
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    if mode == "shared":
        solve_ngspice(divider())  # worker started: its start-up is not part of the limit
        before = {p.pid for p in psutil.Process().children(recursive=True)}
    sol = solve_ngspice(c, mode=mode, timeout=1e-4)
    assert sol.status == TIMEOUT
    assert np.all(np.isnan(sol.voltages[1:]))
    assert "timeout" in sol.info["error"]
    killed = sol.info.get("worker_pid") or sol.info.get("ngspice_pid")
    assert killed is not None and not group_alive(killed)
    after = {p.pid for p in psutil.Process().children(recursive=True)}
    assert killed not in after
    assert after <= before  # nothing new left running


def test_crashed_worker_is_failed_and_replaced() -> None:
    worker = get_worker()
    solve_ngspice(divider())
    pid = worker.pid
    with pytest.raises(WorkerCrashed, match="SIGSEGV"):
        worker.request({"op": "crash"}, timeout=30)
    assert not psutil.pid_exists(pid)
    assert solve_ngspice(divider()).status == CONVERGED


def test_crash_during_a_run_is_status_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = get_worker()
    solve_ngspice(divider())
    original = worker._roundtrip

    def crash_instead(msg: dict, timeout: float) -> dict:
        return original({"op": "crash"}, timeout)

    monkeypatch.setattr(worker, "_roundtrip", crash_instead)
    sol = solve_ngspice(divider())
    monkeypatch.undo()
    assert sol.status == FAILED
    assert "died" in sol.info["error"] and "SIGSEGV" in sol.info["error"]
    assert solve_ngspice(divider()).status == CONVERGED


def test_worker_memory_does_not_grow_over_50_runs() -> None:
    """Plots and circuits are freed after each run (without that: +2 MB per run here)."""
    c = tame(big_net(20))
    solve_ngspice(c)
    proc = psutil.Process(get_worker().pid)
    rss = []
    for _ in range(50):
        assert solve_ngspice(c).status == CONVERGED
        rss.append(proc.memory_info().rss)
    assert proc.pid == get_worker().pid  # the same worker served every run
    assert rss[-1] - rss[4] < 10 * 2**20


def test_shutdown_leaves_no_process() -> None:
    solve_ngspice(divider())
    pid = get_worker().pid
    ng.shutdown_worker()
    assert not group_alive(pid)
    assert not psutil.pid_exists(pid)


# --------------------------------------------------------------------------- security
def test_control_block_never_reaches_ngspice(tmp_path) -> None:
    marker = tmp_path / "pwned"
    net = tmp_path / "evil.cir"
    net.write_text(
        "evil\n"
        "V1 in 0 DC 1\n"
        "R1 in 0 1k\n"
        ".control\n"
        f"shell touch {marker}\n"
        "echo hello\n"
        ".endc\n"
        ".op\n"
        ".end\n"
    )
    c = read_netlist(net)
    text = emit_netlist(c)
    assert ".control" not in text.lower() and "shell" not in text.lower()
    for mode in ("shared", "batch"):
        sol = solve_ngspice(c, mode=mode)
        assert sol.status == CONVERGED
        time.sleep(0.05)
        assert not marker.exists()


def test_forbidden_text_from_the_writer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: even a writer bug cannot hand ngspice a command."""
    import resbench.netlist

    monkeypatch.setattr(
        resbench.netlist,
        "write_netlist",
        lambda c, **kw: "t\nR1 a 0 1\n.control\nshell true\n.endc\n.end\n",
    )
    with pytest.raises(SolverError, match="control"):
        emit_netlist(divider())


# --------------------------------------------------------------------------- rawfile
def test_read_ascii_and_binary_rawfiles(tmp_path) -> None:
    ascii_raw = tmp_path / "a.raw"
    ascii_raw.write_text(
        "Title: t\nDate: now\nPlotname: Operating Point\nFlags: real\n"
        "No. Variables: 3\nNo. Points: 1\nVariables:\n"
        "\t0\tv(in)\tvoltage\n\t1\tv(x1.n1)\tvoltage\n\t2\ti(v1)\tcurrent\n"
        "Values:\n 0\t1.0\n\t0.5\n\t-5e-4\n"
    )
    (plot,) = read_rawfile(ascii_raw)
    assert plot.names == ["v(in)", "v(x1.n1)", "i(v1)"]
    np.testing.assert_array_equal(plot.data, [[1.0, 0.5, -5e-4]])
    header = (
        b"Title: t\nDate: now\nPlotname: Operating Point\nFlags: complex\n"
        b"No. Variables: 1\nNo. Points: 2\nVariables:\n\t0\tv(a)\tvoltage\nBinary:\n"
    )
    bin_raw = tmp_path / "b.raw"
    bin_raw.write_bytes(header + np.array([1.0, 2.0, 3.0, -4.0], "<f8").tobytes())
    (plot,) = read_rawfile(bin_raw)
    np.testing.assert_array_equal(plot.data[:, 0], [1 + 2j, 3 - 4j])


def test_worker_exits_when_its_input_closes() -> None:
    """A worker whose parent goes away (its input closes) exits by itself."""
    worker = ng.NgspiceWorker()
    worker.start()
    proc = worker.proc
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    worker.proc = None
    worker.close()


def test_missing_library_is_a_clear_error(tmp_path) -> None:
    worker = ng.NgspiceWorker(library=str(tmp_path / "libngspice.so"))
    with pytest.raises(SolverError, match="could not load libngspice"):
        worker.start()
    assert worker.proc is None


def test_interrupt_mid_request_does_not_leave_a_stale_reply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = get_worker()
    solve_ngspice(divider())
    pid = worker.pid

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(worker, "_read", interrupted)
    with pytest.raises(KeyboardInterrupt):
        solve_ngspice(divider())
    monkeypatch.undo()
    assert not group_alive(pid)
    sol = solve_ngspice(stalling_case())  # a fresh worker, and the answer to *this* request
    np.testing.assert_allclose(sol.voltages, [0.0, 1.0, 0.5, 0.5], atol=ATOL)


# --------------------------------------------------------------------------- many inputs
def _sources(c: Circuit) -> list[str]:
    return list(c.vsources.names) + list(c.isources.names)


@HYP
@given(c=random_circuits(max_nodes=6, max_diodes=4), data=st.data())
def test_batch_of_inputs_equals_single_solves(c: Circuit, data) -> None:
    """ngspice_batch (load once, alter + op per sample) gives the answers of one full
    ngspice run per sample on the equivalent circuit."""
    from resbench.batch.network import with_values

    c = tame(c)
    assume(not has_equality_loop(c))
    names = _sources(c)
    assume(names)
    k = len(names)
    rows = data.draw(
        st.lists(st.lists(st.integers(-8, 8), min_size=k, max_size=k), min_size=1, max_size=3)
    )
    scale = np.array([0.25] * len(c.vsources) + [1e-5] * len(c.isources))
    values = np.asarray(rows, dtype=np.float64) * scale
    singles = []
    for row in values:
        one = with_values(c, names, row)
        reference_or_skip_example(one)  # a feasible circuit with a unique answer
        singles.append(solve_ngspice(one))
    info: dict = {}
    volts, seconds = ng.ngspice_batch(c, names, values, info=info)
    # (a sample whose op failed on the loaded circuit ran again from its own netlist;
    # the next sample then loads the batch's again)
    assert info["loads"] <= 1 + len(info.get("retried", {})) and info["errors"] == {}
    for i, sol in enumerate(singles):
        assert sol.status == CONVERGED, sol.info.get("error")
        assert np.max(np.abs(volts[i] - sol.voltages)) <= ATOL
        assert seconds[i] > 0.0


SUBCKT_SOURCE = """a source inside a subcircuit
.subckt cell in out
Vb in mid DC 0.5
R1 mid out 1k
.ends
V1 a 0 DC 1
X1 a b cell
R2 b 0 2k
I1 0 b DC 0.1m
.end
"""


def test_batch_of_inputs_alters_subcircuit_sources_and_refuses_unknown_names() -> None:
    from resbench.batch.network import with_values
    from resbench.errors import InputError
    from resbench.netlist import parse_netlist

    c = parse_netlist(SUBCKT_SOURCE)
    names = ["v.x1.vb", "v1", "i1"]
    values = np.array([[0.5, 1.0, 1e-4], [-0.25, 2.0, 0.0], [1.0, -1.0, -2e-4]])
    volts, _ = ng.ngspice_batch(c, names, values)
    for i, row in enumerate(values):
        single = solve_ngspice(with_values(c, names, row))
        assert np.max(np.abs(volts[i] - single.voltages)) <= 1e-12
        # v(b) = (v1 - vb) * 2k / 3k + i1 * (1k || 2k)
        expected = (row[1] - row[0]) * 2 / 3 + row[2] * 2e3 / 3
        assert abs(single.voltage("b") - expected) <= 1e-9
    with pytest.raises(InputError, match="not a V or I source"):
        ng.ngspice_batch(c, ["r2"], np.zeros((1, 1)))
    with pytest.raises(InputError, match="NaN"):
        ng.ngspice_batch(c, ["v1"], np.array([[np.nan]]))
    with pytest.raises(InputError, match="one column per source"):
        ng.ngspice_batch(c, ["v1"], np.zeros((2, 3)))


def _intercept(monkeypatch, second_alter, run=None) -> None:
    """ng._request with the batch's second ``alter_op`` request answered by
    ``second_alter(real, worker, msg, timeout, timings)`` and, given, every ``run`` by
    ``run`` (the same arguments)."""
    real = ng._request
    calls = {"alter": 0}

    def request(worker, msg, timeout, timings):
        if msg["op"] == "alter_op":
            calls["alter"] += 1
            if calls["alter"] == 2:
                return second_alter(real, worker, msg, timeout, timings)
        if msg["op"] == "run" and run is not None:
            return run(real, worker, msg, timeout, timings)
        return real(worker, msg, timeout, timings)

    monkeypatch.setattr(ng, "_request", request)


@pytest.mark.parametrize("again", ["converges", "fails"])
def test_batch_of_inputs_runs_a_failed_sample_again_from_a_fresh_load(monkeypatch, again) -> None:
    """ngspice's op with ideal switches can fail on the loaded circuit after an alter
    where one run of the sample's own netlist converges (found by the explore profile:
    "timestep too small; trouble with swideal-instance"): such a sample runs once more
    from a fresh load; only if that fails too is it a failed row, with both messages."""
    from resbench.batch.network import with_values
    from resbench.netlist import parse_netlist

    def refused(error):
        return lambda *args: {"ok": False, "error": error, "notes": []}

    _intercept(
        monkeypatch,
        refused("simulated: timestep too small"),
        refused("simulated: no convergence") if again == "fails" else None,
    )
    c = parse_netlist(SUBCKT_SOURCE)
    names = ["v.x1.vb", "v1", "i1"]
    values = np.array([[0.5, 1.0, 0.0], [0.5, 2.0, 1e-4], [0.5, 3.0, 0.0]])
    info: dict = {}
    volts, seconds = ng.ngspice_batch(c, names, values, info=info)
    b = c.node_index()["b"]
    assert volts[0, b] == pytest.approx(1 / 3) and volts[2, b] == pytest.approx(5 / 3)
    assert info["loads"] == 2  # the batch's netlist again after the sample's own
    if again == "converges":
        assert info["errors"] == {} and info["retried"] == {1: "simulated: timestep too small"}
        single = solve_ngspice(with_values(c, names, values[1]))
        assert np.max(np.abs(volts[1] - single.voltages)) <= 1e-12
        assert 0.0 < seconds[1] < 10.0
    else:
        assert list(info["errors"]) == [1] and "retried" not in info
        msg = info["errors"][1]
        assert "timestep too small" in msg and "again from a fresh load" in msg
        assert "no convergence" in msg
        assert np.isnan(volts[1]).all() and np.isnan(seconds[1])


def test_batch_of_inputs_survives_a_worker_crash(monkeypatch) -> None:
    """The worker dies on sample 1: that sample is reported, the next one starts a
    fresh worker, loads the netlist again and is solved."""
    from resbench.netlist import parse_netlist

    _intercept(monkeypatch, lambda real, w, msg, t, tm: real(w, {"op": "crash"}, t, tm))
    c = parse_netlist(SUBCKT_SOURCE)
    values = np.array([[0.5, 1.0, 0.0], [0.5, 2.0, 0.0], [0.5, 3.0, 0.0]])
    info: dict = {}
    volts, seconds = ng.ngspice_batch(c, ["v.x1.vb", "v1", "i1"], values, info=info)
    assert list(info["errors"]) == [1] and "died" in info["errors"][1]
    assert info["loads"] == 2
    assert np.isnan(volts[1, 1:]).all() and np.isnan(seconds[1])
    b = c.node_index()["b"]
    assert volts[0, b] == pytest.approx(1 / 3) and volts[2, b] == pytest.approx(5 / 3)
