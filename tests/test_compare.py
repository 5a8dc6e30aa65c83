"""`resbench compare`: the timing harness, result files, the comparison and its CLI."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from lockholder import hold_lock
from strategies import stalling_case

import resbench
from resbench.bench import timing
from resbench.bench.compare import (
    DEFAULT_ATOL,
    SAMPLE_COLUMNS,
    SUMMARY_COLUMNS,
    collect_netlists,
    compare,
    exit_code,
    voltage_difference,
)
from resbench.bench.results import markdown_table, sidecar, write_results
from resbench.circuit import Branches, make_circuit
from resbench.cli import options
from resbench.cli.main import cli
from resbench.errors import ResbenchError, SolverError
from resbench.solution import CONVERGED, FAILED, TIMEOUT, Solution

NETLISTS = Path(__file__).resolve().parent.parent / "netlists"

DIVIDER = """voltage divider
* 3 V over 1k + 2k
V1 in 0 DC 3
R1 in mid 1k
R2 mid 0 2k
.op
.end
"""

CLIPPER = """diode clipper
V1 in 0 DC 2
R1 in out 1k
D1 out clamp dmod
V2 clamp 0 DC 0.5
R2 out 0 10k
.model dmod d
.op
.end
"""

BROKEN = """broken netlist
V1 in 0 DC 1
R1 in 0 -
Q1 a b c npn
.end
"""


# --------------------------------------------------------------------------- timing harness
class FakeSolver:
    """Records the order of runs; returns canned statuses."""

    def __init__(self, name: str, log: list[str], statuses: list[str] | None = None) -> None:
        self.name, self.log, self.statuses, self.calls = name, log, statuses or [], 0

    def __call__(self) -> Solution:
        self.log.append(self.name)
        status = self.statuses[self.calls] if self.calls < len(self.statuses) else CONVERGED
        self.calls += 1
        c = stalling_case()
        t = float(self.calls)
        return Solution(
            c, np.zeros(c.n_nodes), self.name, status, timings={"total": t, "solve": t / 2}
        )


def test_interleaved_order_warmup_and_stats() -> None:
    log: list[str] = []
    runs: list[timing.Sample] = []
    samples = timing.run_interleaved(
        {"a": FakeSolver("a", log), "b": FakeSolver("b", log)},
        repeats=3,
        warmup=2,
        on_run=runs.append,
    )
    assert log == ["a", "b"] * 5  # warm-ups, then A B A B A B
    assert len(runs) == 10
    a = samples["a"]
    assert [s.phase for s in a] == ["warmup"] * 2 + ["measure"] * 3
    assert [s.repeat for s in a] == [0, 1, 0, 1, 2]
    st = timing.timing_stats(a, "total")  # totals 3, 4, 5 (warm-ups 1, 2 excluded)
    assert (st.median, st.min, st.max, st.n) == (4.0, 3.0, 5.0, 3)
    assert timing.speedup(st, timing.Stats.of([2.0])) == 2.0
    assert math.isnan(timing.speedup(timing.Stats.of([0.0]), st))  # below clock resolution
    assert math.isnan(timing.speedup(st, timing.Stats.of([])))
    assert timing.final_sample(a).timings["total"] == 5.0


def test_a_failing_solver_is_not_repeated_but_kept() -> None:
    log: list[str] = []
    samples = timing.run_interleaved(
        {"a": FakeSolver("a", log), "b": FakeSolver("b", log, [CONVERGED, TIMEOUT])},
        repeats=4,
        warmup=1,
    )
    assert log == ["a", "b", "a", "b", "a", "a", "a"]
    b = samples["b"]
    assert [s.status for s in b] == [CONVERGED, TIMEOUT]
    assert timing.final_sample(b).status == TIMEOUT
    assert timing.last_answer(b).phase == "warmup"
    assert timing.timing_stats(b).n == 0 and math.isnan(timing.timing_stats(b).median)


def test_a_raising_solver_is_an_error_sample() -> None:
    def boom() -> Solution:
        raise SolverError("no ngspice here")

    samples = timing.run_interleaved({"x": boom}, repeats=2, warmup=0)
    (s,) = samples["x"]
    assert s.status == "error" and "no ngspice here" in s.error and not s.has_answer


# --------------------------------------------------------------------------- result files
@pytest.mark.spice
def test_result_files_and_sidecar(tmp_path) -> None:
    samples = pd.DataFrame({"netlist": ["a"], "total": [1.0]})
    summary = pd.DataFrame({"netlist": ["a|b"], "x": [float("nan")]})
    paths = write_results(
        tmp_path / "out", "demo", samples=samples, summary=summary, meta={"exit_code": 0}
    )
    assert {p.name for p in paths.values()} == {
        "demo_samples.csv",
        "demo_summary.csv",
        "demo_summary.md",
        "demo.json",
    }
    meta = json.loads(paths["sidecar"].read_text())  # strict JSON: NaN would fail
    assert meta["exit_code"] == 0
    assert {"cpu", "cores", "memory"} <= set(meta["machine"])
    assert {"python", "numpy", "numba", "scipy", "PySpice", "ngspice"} <= set(meta["versions"])
    assert meta["versions"]["ngspice"]  # the CLI's version was found
    assert "NUMBA_NUM_THREADS" in meta["threads"] and "OMP_NUM_THREADS" in meta["threads"]
    assert meta["git"] is None or len(meta["git"]["commit"]) == 40
    assert meta["timestamp"] and "command" in meta
    assert "a\\|b" in paths["markdown"].read_text()  # pipes escaped in markdown


def test_markdown_table_formats() -> None:
    text = markdown_table(pd.DataFrame({"n": ["x"], "v": [1.23456789e-7], "m": [None]}))
    assert text.splitlines() == ["| n | v | m |", "|---|---|---|", "| x | 1.235e-07 |  |"]


def test_sidecar_command_and_extra() -> None:
    meta = sidecar(command="resbench compare x", extra={"options": {"repeats": 5}})
    assert meta["command"] == "resbench compare x" and meta["options"] == {"repeats": 5}


# --------------------------------------------------------------------------- comparison logic
def test_collect_netlists_sorted_recursive_and_skips_lib(tmp_path) -> None:
    for name in ("b.sp", "a.cir", "c.net", "notes.txt", "lib/inc.cir", "sub/d.cir", "LIB/e.cir"):
        p = tmp_path / name
        p.parent.mkdir(exist_ok=True)
        p.write_text("t\n.end\n")
    found = [p.relative_to(tmp_path).as_posix() for p in collect_netlists([tmp_path])]
    assert found == ["a.cir", "b.sp", "c.net", "sub/d.cir"]
    assert collect_netlists([tmp_path / "notes.txt"]) == [tmp_path / "notes.txt"]
    with pytest.raises(ResbenchError, match="no such file"):
        collect_netlists([tmp_path / "missing.cir"])


def test_voltage_difference_names_the_worst_node() -> None:
    c = stalling_case()  # nodes 0, in, a, b
    fast = np.array([0.0, 1.0, 0.5, 0.5])
    spice = np.array([0.0, 1.0, 0.5 + 2e-6, 0.5 - 1e-7])
    dmax, rel, worst = voltage_difference(c, fast, spice, 1e-6)
    assert worst == "a" and dmax == pytest.approx(2e-6) and rel == pytest.approx(4e-6, rel=1e-3)
    dmax, _, worst = voltage_difference(c, fast, np.array([0.0, 1.0, np.nan, 0.5]), 1e-6)
    assert math.isinf(dmax) and worst == "a"


def test_exit_code_rules() -> None:
    def codes(*statuses: str) -> int:
        return exit_code(pd.DataFrame({"status": list(statuses)}))

    assert codes("ok", "ok") == 0
    assert codes("ok", "disagree") == 1 and codes("uncertified") == 1
    assert codes("disagree", "timeout") == 2 and codes("failed") == 2 and codes("error") == 2


@pytest.mark.spice
def test_compare_api_on_circuits_agrees() -> None:
    c = stalling_case()
    df = resbench.compare([c], solver="reference", repeats=2, warmup=1)
    assert list(df.columns) == SUMMARY_COLUMNS
    (row,) = df.to_dict("records")
    assert row["status"] == "ok" and row["agree"] and row["fast_certified"]
    assert row["max_abs_diff"] <= DEFAULT_ATOL and row["worst_node"] in c.nodes
    assert row["spice_status"] == CONVERGED and row["repeats"] == 2
    assert row["speedup_total"] > 0 and row["speedup_solve"] > 0
    assert df.attrs["exit_code"] == 0
    samples = df.attrs["samples"]
    assert list(samples.columns[: len(SAMPLE_COLUMNS)]) == SAMPLE_COLUMNS
    assert len(samples) == 2 * (1 + 2)  # 2 solvers × (warm-up + repeats)


@pytest.mark.spice
def test_shockley_diodes_disagree_exit_1() -> None:
    df = compare(stalling_case(), solver="reference", repeats=1, warmup=0, diode_model="shockley")
    (row,) = df.to_dict("records")
    assert row["status"] == "disagree" and row["agree"] is False
    assert 0.1 < row["max_abs_diff"] < 0.5  # half the diode's forward drop at each node
    assert "atol" in row["message"]
    assert df.attrs["exit_code"] == 1


@pytest.mark.spice
def test_timeout_is_a_row_with_status_and_exit_2() -> None:
    n = 20
    idx = np.arange(n * n).reshape(n, n) + 1
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel(), [idx[-1, -1]]])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel(), [0]])
    grid = make_circuit(
        "grid",
        ["0"] + [f"g{k}" for k in range(1, n * n + 1)],
        resistors=Branches.from_lists([f"r{k}" for k in range(len(a))], a, b, np.full(len(a), 1e3)),
        vsources=Branches.from_lists(["v1"], [1], [0], [1.0]),
    )
    df = compare([stalling_case(), grid], solver="reference", repeats=2, warmup=0, timeout=1e-4)
    rows = df.to_dict("records")
    assert [r["status"] for r in rows] == [TIMEOUT, TIMEOUT]
    assert all(r["spice_status"] == TIMEOUT and "timeout" in r["message"] for r in rows)
    assert rows[0]["fast_certified"] is True  # the fast solver's answer is still checked
    samples = df.attrs["samples"]
    spice = samples[samples["solver"] == "ngspice"]
    assert list(spice["status"]) == [TIMEOUT, TIMEOUT]  # one run each, not repeated
    assert df.attrs["exit_code"] == 2


def test_bad_options_are_errors() -> None:
    with pytest.raises(ResbenchError):
        compare(stalling_case(), solver="ngspice")
    with pytest.raises(ResbenchError):
        compare(stalling_case(), spice_mode="server")
    with pytest.raises(ResbenchError):
        compare(stalling_case(), repeats=0)


# --------------------------------------------------------------------------- CLI
@pytest.mark.spice
def test_cli_two_good_netlists_one_broken(tmp_path, monkeypatch) -> None:
    nets = tmp_path / "nets"
    nets.mkdir()
    (nets / "divider.cir").write_text(DIVIDER)
    (nets / "clipper.cir").write_text(CLIPPER)
    (nets / "broken.cir").write_text(BROKEN)
    (nets / "lib").mkdir()
    (nets / "lib" / "models.cir").write_text(BROKEN)  # an include target: not run
    out = tmp_path / "results"
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(
        cli, ["compare", "--spice", "nets", "--repeats", "2", "--out", str(out)]
    )
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    files = {p.name for p in out.iterdir()}
    assert files == {
        "compare_samples.csv",
        "compare_summary.csv",
        "compare_summary.md",
        "compare.json",
    }
    summary = pd.read_csv(out / "compare_summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    by_name = {r["netlist"]: r for r in summary.to_dict("records")}
    assert set(by_name) == {"nets/broken.cir", "nets/clipper.cir", "nets/divider.cir"}
    assert by_name["nets/broken.cir"]["status"] == "error"
    assert "broken.cir:3" in by_name["nets/broken.cir"]["message"]  # file:line of the error
    for good in ("nets/clipper.cir", "nets/divider.cir"):
        r = by_name[good]
        assert r["status"] == "ok" and r["max_abs_diff"] <= 1e-6 and r["fast_certified"]
        assert r["fast_solver"] == "cd" and r["repeats"] == 2
    assert by_name["nets/clipper.cir"]["worst_node"] in ("out", "in", "clamp")
    samples = pd.read_csv(out / "compare_samples.csv")
    assert list(samples.columns[: len(SAMPLE_COLUMNS)]) == SAMPLE_COLUMNS
    # one row per netlist × solver × run (1 warm-up + 2 repeats), none for the broken one
    assert len(samples) == 2 * 2 * 3
    assert set(samples["phase"]) == {"warmup", "measure"}
    meta = json.loads((out / "compare.json").read_text())
    assert meta["exit_code"] == 2 and meta["options"]["repeats"] == 2
    assert "compare" in meta["command"]
    md = (out / "compare_summary.md").read_text()
    assert "nets/divider.cir" in md and "Machine:" in md
    assert "divider.cir" in res.output and "speedup" in res.output


@pytest.mark.spice
def test_cli_agreeing_run_exits_0_without_files(tmp_path, monkeypatch) -> None:
    (tmp_path / "divider.cir").write_text(DIVIDER)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(
        cli,
        ["compare", "divider.cir", "--repeats", "1", "--solver", "reference", "--no-files"],
    )
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "results").exists()


def test_cli_errors_are_clean(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["compare"])  # no netlists/ here
    assert res.exit_code == 2 and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["compare", "--spice-mode", "server", "."])
    assert res.exit_code == 2 and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["compare", "--no-spice", "."])
    assert res.exit_code == 2 and "nothing to compare" in res.output


def test_cli_atol_default_matches_library() -> None:
    assert options.DEFAULT_ATOL == DEFAULT_ATOL
    assert "6e-8" in (options.atol(lambda: None).__click_params__[0].help or "")


@pytest.mark.spice
def test_ngspice_failure_is_a_failed_row() -> None:
    """Two equal parallel sources: fine for the exact solver, singular for ngspice."""
    c = make_circuit(
        "parallel sources",
        ["0", "a"],
        resistors=Branches.from_lists(["r1"], [1], [0], [1e3]),
        vsources=Branches.from_lists(["v1", "v2"], [1, 1], [0, 0], [1.0, 1.0]),
    )
    df = compare(c, solver="reference", repeats=1, warmup=0)
    (row,) = df.to_dict("records")
    assert row["status"] == FAILED and row["fast_status"] == CONVERGED
    assert "singular" in row["message"]
    assert df.attrs["exit_code"] == 2


# --------------------------------------------------------------------------- robustness of runs
def _copies(tmp_path, n: int, name: str = "grid_clamps.cir"):
    """A folder of ``n`` copies of a bundled netlist (each takes a few tenths of a second)."""
    text = (NETLISTS / name).read_text()
    nets = tmp_path / "nets"
    nets.mkdir()
    for k in range(n):
        (nets / f"n{k:02d}.cir").write_text(text)
    return nets


def _resbench(*args: str) -> list[str]:
    return [sys.executable, "-m", "resbench.cli.main", *args]


def _rows_on_disk(path) -> int:
    try:
        return len(pd.read_csv(path))
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0


def _wait_for(predicate, proc, what: str, limit: float = 180.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {what} after {limit} s"
        time.sleep(0.05)


@pytest.mark.spice
def test_ctrl_c_keeps_finished_rows_writes_files_and_exits_130(tmp_path) -> None:
    n = 30
    nets = _copies(tmp_path, n)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _resbench("compare", str(nets), "--repeats", "2", "--warmup", "0", "--out", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: _rows_on_disk(out / "compare_summary.csv") >= 2, proc, "2 rows on disk")
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted:" in stderr
    summary = pd.read_csv(out / "compare_summary.csv")
    k = len(summary)
    assert 2 <= k < n and set(summary["status"]) == {"ok"}
    samples = pd.read_csv(out / "compare_samples.csv")
    assert set(samples["netlist"]) == set(summary["netlist"])  # no half-finished netlist
    assert len(samples) == k * 2 * 2
    meta = json.loads((out / "compare.json").read_text())
    assert meta["state"] == "interrupted" and meta["exit_code"] == 130
    assert meta["rows"] == k and meta["planned"] == n
    md = (out / "compare_summary.md").read_text()
    assert f"Interrupted** (Ctrl-C) after {k} of {n} netlists" in md
    assert f"{k} of {n} netlists finished" in stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "compare.json",
        "compare_samples.csv",
        "compare_summary.csv",
        "compare_summary.md",
    ]  # no lock or temporary file left behind
    assert "n00.cir" in stdout  # the finished rows are printed too


def test_interrupt_in_process_keeps_rows_and_exits_130(tmp_path, monkeypatch) -> None:
    from resbench.bench import compare as C

    nets = tmp_path / "nets"
    nets.mkdir()
    for k in range(4):
        (nets / f"d{k}.cir").write_text(DIVIDER)
    real = C.compare_circuit

    def stop_at_third(circuit, label, *args, **kwargs):
        if label.endswith("d2.cir"):
            raise KeyboardInterrupt
        return real(circuit, label, *args, **kwargs)

    monkeypatch.setattr(C, "compare_circuit", stop_at_third)
    out = tmp_path / "out"
    args = ["compare", str(nets), "--solver", "reference", "--repeats", "1", "--out", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 130, res.output
    assert "2 of 4 netlists finished" in res.output and "Traceback" not in res.output
    assert len(pd.read_csv(out / "compare_summary.csv")) == 2
    assert json.loads((out / "compare.json").read_text())["exit_code"] == 130
    with pytest.raises(KeyboardInterrupt):  # the API does not swallow Ctrl-C
        compare(nets, solver="reference", repeats=1, warmup=0, out=tmp_path / "api")
    assert len(pd.read_csv(tmp_path / "api" / "compare_summary.csv")) == 2


@pytest.mark.spice
def test_a_second_run_on_the_same_folder_stops_with_a_clear_message(tmp_path) -> None:
    nets = _copies(tmp_path, 3, "divider.cir")
    out = tmp_path / "out"
    args = ("compare", str(nets), "--repeats", "2", "--warmup", "0", "--out", str(out))
    first = subprocess.Popen(
        _resbench(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for(lambda: (out / ".resbench.lock").exists(), first, "the lock")
    first.send_signal(signal.SIGSTOP)  # frozen while it holds the folder: surely concurrent
    try:
        second = subprocess.run(_resbench(*args), capture_output=True, text=True, timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2
    assert second.stderr.strip().splitlines() == [
        f"error: another resbench run (pid {first.pid}, started "
        + second.stderr.split("started ", 1)[1].split(")")[0]
        + f") is writing to {out}; wait for it or use another --out"
    ]
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    summary = pd.read_csv(out / "compare_summary.csv")
    samples = pd.read_csv(out / "compare_samples.csv")
    meta = json.loads((out / "compare.json").read_text())
    assert len(summary) == 3 and len(set(summary["netlist"])) == 3
    assert set(samples["netlist"]) == set(summary["netlist"]) and len(samples) == 3 * 4
    assert meta["state"] == "complete" and meta["rows"] == 3


def test_held_lock_and_bad_out_folders_are_one_line_exit_2(tmp_path, monkeypatch) -> None:
    (tmp_path / "divider.cir").write_text(DIVIDER)
    monkeypatch.chdir(tmp_path)
    base = ["compare", "divider.cir", "--solver", "reference", "--repeats", "1", "--out"]
    with hold_lock(tmp_path / "held") as holder:
        res = CliRunner().invoke(cli, [*base, "held"])
    assert res.exit_code == 2 and f"another resbench run (pid {holder.pid}" in res.output
    assert not (tmp_path / "held" / "compare_summary.csv").exists()
    (tmp_path / "afile").write_text("")
    (tmp_path / "dirs" / "compare_summary.csv").mkdir(parents=True)
    for out, message in (
        ("/proc/foo", "cannot create the output folder /proc/foo"),
        ("/proc/self", "cannot write in the output folder /proc/self"),
        ("afile/sub", "cannot create the output folder afile/sub"),
        ("dirs", "cannot write dirs/compare_summary.csv: it is a directory"),
    ):
        res = CliRunner().invoke(cli, [*base, out])
        assert res.exit_code == 2, (out, res.output)
        assert res.output.startswith(f"error: {message}") and "Traceback" not in res.output
        assert len(res.output.strip().splitlines()) == 1
    res = subprocess.run(_resbench(*base, "/proc/foo"), capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith("error: cannot create the output folder /proc/foo")


@pytest.mark.parametrize("mode", ["shared", "batch"])
@pytest.mark.parametrize("text", ["", "just a title\n", "title\n* comment\n.op\n.end\n"])
@pytest.mark.spice
def test_empty_netlist_is_an_empty_row_in_every_mode(tmp_path, mode: str, text: str) -> None:
    (tmp_path / "empty.cir").write_text(text)
    (tmp_path / "divider.cir").write_text(DIVIDER)
    df = compare(tmp_path, spice_mode=mode, repeats=1, warmup=0)
    rows = {r["netlist"].rsplit("/", 1)[-1]: r for r in df.to_dict("records")}
    assert rows["empty.cir"]["status"] == "empty"
    assert "no elements" in rows["empty.cir"]["message"]
    assert rows["divider.cir"]["status"] == "ok"
    assert len(df.attrs["samples"]) == 2  # no solver ran on the empty netlist
    assert df.attrs["exit_code"] == 0


@pytest.mark.spice
def test_tables_fit_80_columns_and_show_no_nan(tmp_path) -> None:
    from rich.console import Console

    from resbench.cli.compare import render_table

    (tmp_path / "divider.cir").write_text(DIVIDER)
    (tmp_path / "broken.cir").write_text(BROKEN)
    df = compare(tmp_path, solver="reference", repeats=1, warmup=0, timeout=1e-4)
    names = df["netlist"].map(lambda s: s.rsplit("/", 1)[-1])
    statuses = dict(zip(names, df["status"], strict=True))
    assert statuses == {"broken.cir": "error", "divider.cir": TIMEOUT}
    narrow = Console(width=80, record=True)
    narrow.print(render_table(df, "cd", 1e-6))
    text = narrow.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "nan" not in text.lower() and "divider.cir" in text
    assert "worst node" not in text  # a --wide column
    wide = Console(width=200, record=True)
    wide.print(render_table(df, "cd", 1e-6, wide=True))
    text = wide.export_text()
    assert "worst node" in text and "speedup solve" in text and "nan" not in text.lower()


def test_markdown_summary_table_renders(tmp_path) -> None:
    (tmp_path / "divider.cir").write_text(DIVIDER)
    compare(tmp_path / "divider.cir", solver="reference", repeats=1, warmup=0, out=tmp_path / "o")
    md = (tmp_path / "o" / "compare_summary.md").read_text().splitlines()
    table = [line for line in md if line.startswith("|")]
    assert "max \\|Δv\\| (V)" in table[0]
    assert len({line.replace("\\|", "").count("|") for line in table}) == 1


def test_progress_label_is_set_before_each_run() -> None:
    log: list[str] = []
    timing.run_interleaved(
        {"a": FakeSolver("a", log), "b": FakeSolver("b", log)},
        repeats=1,
        warmup=1,
        before_run=lambda solver, phase, k: log.append(f"start {solver} {phase} {k}"),
    )
    assert log == [
        "start a warmup 0",
        "a",
        "start b warmup 0",
        "b",
        "start a measure 0",
        "a",
        "start b measure 0",
        "b",
    ]
