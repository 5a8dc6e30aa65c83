"""`resbench scale`: sweep outputs, skipping, resume after interruption, timeouts, memory, CLI.

The tests of resume and refusals build their figures without rendering them
(``unrendered_plots``, tests/conftest.py): rendering is ~1.4 s a figure; the rendered
figure is checked by the full-output, plot and CLI tests.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lockholder import hold_lock

from resbench.bench import results, scale
from resbench.bench.scale import (
    SAMPLE_COLUMNS,
    SUMMARY_COLUMNS,
    PeakRSS,
    fit_power_law,
    parse_sizes,
    run_scale,
)
from resbench.cli.main import cli
from resbench.errors import ResbenchError
from resbench.netlist import read_netlist

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = {"repeats": 1, "warmup": 0}


def _summary(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "scale_summary.csv", dtype={"size": str})


def _samples(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "scale_samples.csv", dtype={"size": str})


def _pairs(df: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(df["size"].astype(str), df["solver"], strict=True))


# --------------------------------------------------------------------------- full outputs
@pytest.mark.spice
def test_tiny_drn_sweep_writes_every_output(tmp_path: Path) -> None:
    out = tmp_path / "res"
    nets = tmp_path / "nets"
    df = run_scale("drn", "4,8", repeats=1, warmup=1, out=out, write_netlists=nets)
    assert list(df.columns) == SUMMARY_COLUMNS
    assert _pairs(df) == [("4", "cd"), ("4", "ngspice"), ("8", "cd"), ("8", "ngspice")]
    assert set(df["status"]) == {"ok"}
    assert df.attrs["exit_code"] == 0
    # sizes, timings, memory, agreement, certificates
    assert (df["resistors"] > 0).all() and (df["nodes"] > 1568).all()
    assert (df["diodes"].to_numpy() == [4, 4, 8, 8]).all()
    assert (df["total_min"] <= df["total_median"]).all()
    assert (df["total_median"] <= df["total_max"]).all()
    assert (df["repeats"] == 1).all()
    assert (df["peak_rss"] > 0).all() and (df["mem_delta"] >= 0).all()
    cd = df[df["solver"] == "cd"]
    assert np.allclose(cd["bytes_per_resistor"], cd["mem_delta"] / cd["resistors"])
    assert (df["speedup_total"] > 0).all()
    assert (df["max_abs_diff"] < 1e-6).all() and df["agree"].all()
    assert cd["certified"].all() and (cd["sweeps"] > 0).all()
    assert (cd["compile"].notna()).all()

    samples = _samples(out)
    assert list(samples.columns) == SAMPLE_COLUMNS
    # one warm-up and one measured run per size and solver
    assert len(samples) == 8
    assert sorted(samples["phase"].unique()) == ["measure", "warmup"]

    summary = _summary(out)
    assert _pairs(summary) == _pairs(df)
    md = (out / "scale_summary.md").read_text()
    assert "# resbench scale: drn" in md and "Power-law fits" in md and "scale.png" in md
    assert "| 8 | ngspice | ok |" in md
    png = (out / "scale.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 5000
    meta = json.loads((out / "scale.json").read_text())
    for key in ("machine", "versions", "git", "command", "timestamp", "fits", "options"):
        assert key in meta
    assert meta["kind"] == "scale" and meta["exit_code"] == 0
    fit = meta["fits"]["ngspice"]["total"]
    assert fit["points"] == 2 and fit["resistors_min"] < fit["resistors_max"]
    assert fit["sizes"] == ["4", "8"]
    assert meta["files"]["plot"] == "scale.png"
    # the netlists written are the circuits that were solved
    for size, r in zip(("4", "8"), cd["resistors"], strict=True):
        c = read_netlist(nets / f"drn_{size}_seed0.cir")
        assert len(c.resistors) == r


@pytest.mark.spice
def test_spice_max_size_skips_ngspice(tmp_path: Path) -> None:
    # grid 3x3 has 12 resistors, 4x4 has 24
    df = run_scale("grid", [3, 4], spice_max_size=20, out=tmp_path, **FAST)
    st_ = dict(zip(_pairs(df), df["status"], strict=True))
    assert st_ == {
        ("3", "cd"): "ok",
        ("3", "ngspice"): "ok",
        ("4", "cd"): "ok",
        ("4", "ngspice"): "skipped",
    }
    skipped = df[df["status"] == "skipped"].iloc[0]
    assert "24 resistors > --spice-max-size 20" in skipped["message"]
    assert np.isnan(skipped["total_median"])
    assert df.attrs["exit_code"] == 0
    samples = _samples(tmp_path)
    assert not ((samples["size"] == "4") & (samples["solver"] == "ngspice")).any()
    # no speedup where ngspice did not run
    assert np.isnan(df[(df["size"] == "4")]["speedup_total"]).all()


# --------------------------------------------------------------------------- resume
def test_resume_after_interruption_neither_repeats_nor_loses_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unrendered_plots: list[Path]
) -> None:
    """Small grids: the bookkeeping is the same for every family (the DRN's full output
    is checked by test_tiny_drn_sweep_writes_every_output)."""
    real = scale.build_circuit

    def interrupted(family: str, size: str, seed: int = 0):
        if size == "4":
            raise KeyboardInterrupt
        return real(family, size, seed)

    monkeypatch.setattr(scale, "build_circuit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_scale("grid", "3,4,5", out=tmp_path, **FAST)
    first = _summary(tmp_path)
    assert _pairs(first) == [("3", "cd"), ("3", "ngspice")]  # the finished size is on disk
    assert len(unrendered_plots) == 1  # the reports of the finished size
    first_samples = _samples(tmp_path)
    assert len(first_samples) == 2

    monkeypatch.setattr(scale, "build_circuit", real)
    built: list[str] = []
    monkeypatch.setattr(
        scale, "build_circuit", lambda f, s, seed=0: built.append(s) or real(f, s, seed)
    )
    df = run_scale("grid", "3,4,5", out=tmp_path, resume=True, **FAST)
    assert built == ["4", "5"]  # size 3 not run again
    pairs = _pairs(df)
    assert len(pairs) == len(set(pairs)) == 6
    assert set(pairs) == {(s, v) for s in ("3", "4", "5") for v in ("cd", "ngspice")}
    # the earlier rows are kept as they were
    old = df[df["size"] == "3"].reset_index(drop=True)
    pd.testing.assert_frame_equal(old, first, check_dtype=False)
    samples = _samples(tmp_path)
    cols = [samples[c] for c in ("size", "solver", "phase", "repeat")]
    keys = list(zip(*cols, strict=True))
    assert len(keys) == len(set(keys)) == 6

    # resuming a finished sweep runs nothing and changes no row
    built.clear()
    again = run_scale("grid", "3,4,5", out=tmp_path, resume=True, **FAST)
    assert built == []
    pd.testing.assert_frame_equal(again, df)
    assert len(unrendered_plots) == 3


def test_resume_repairs_partial_files(tmp_path: Path, unrendered_plots: list[Path]) -> None:
    run_scale("grid", "3", solvers=["cd"], out=tmp_path, **FAST)
    summary_path = tmp_path / "scale_summary.csv"
    samples_path = tmp_path / "scale_samples.csv"
    # a kill mid-write: samples of size 4 written, its summary row cut short
    good = samples_path.read_text()
    row4 = good.splitlines()[1].replace("grid,3,", "grid,4,", 1)
    assert row4 != good.splitlines()[1]
    samples_path.write_text(good + row4 + "\n")
    summary_path.write_text(summary_path.read_text() + "grid,4,0,cd,ok,16,24")
    df = run_scale("grid", "3,4", solvers=["cd"], out=tmp_path, resume=True, **FAST)
    assert _pairs(df) == [("3", "cd"), ("4", "cd")]
    assert set(df["status"]) == {"ok"} and df["total_median"].notna().all()
    samples = _samples(tmp_path)
    assert _pairs(samples) == [("3", "cd"), ("4", "cd")]  # the orphan sample was dropped
    assert len(unrendered_plots) == 2


def test_resume_refuses_other_family_or_seed(tmp_path: Path, unrendered_plots: list[Path]) -> None:
    """Refused with a message that says what the folder holds, what this run asks for and
    what to do (one sweep for both refusals: the refusal reads only its files)."""
    run_scale("grid", "3,4", solvers=["cd"], seed=8, out=tmp_path, **FAST)
    with pytest.raises(ResbenchError, match="same --family and --seed") as info:
        run_scale("drn", "4", solvers=["cd"], out=tmp_path, resume=True, **FAST)
    msg = str(info.value)
    assert "holds a sweep of family grid, seed 8 (2 rows)" in msg
    assert "this run asks for family drn, seed 0" in msg
    assert "(--family grid --seed 8 --resume)" in msg and "drop --resume" in msg
    with pytest.raises(ResbenchError, match="same --family and --seed"):
        run_scale("grid", "3", solvers=["cd"], seed=1, out=tmp_path, resume=True, **FAST)
    assert len(unrendered_plots) == 1  # nothing written by the refused runs
    # without --resume the old files are replaced
    df = run_scale("drn", "4", solvers=["cd"], out=tmp_path, **FAST)
    assert list(df["family"]) == ["drn"]
    assert list(_summary(tmp_path)["family"]) == ["drn"]


# --------------------------------------------------------------------------- failures
@pytest.mark.spice
def test_ngspice_timeout_is_a_row(tmp_path: Path) -> None:
    df = run_scale("drn", "4", timeout=1e-3, out=tmp_path, repeats=2, warmup=1)
    rows = dict(zip(df["solver"], df.to_dict("records"), strict=True))
    assert rows["ngspice"]["status"] == "timeout"
    assert "timeout" in rows["ngspice"]["message"]
    assert rows["cd"]["status"] == "ok" and rows["cd"]["repeats"] == 2
    assert df.attrs["exit_code"] == 2
    samples = _samples(tmp_path)
    spice = samples[samples["solver"] == "ngspice"]
    assert list(spice["status"]) == ["timeout"]  # not repeated after timing out
    assert np.isnan(rows["ngspice"]["max_abs_diff"])


def test_build_error_is_a_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(family: str, size: str, seed: int = 0):
        raise ResbenchError("no such network")

    monkeypatch.setattr(scale, "build_circuit", broken)
    df = run_scale("drn", "4", out=tmp_path, **FAST)
    assert list(df["status"]) == ["error", "error"]
    assert "no such network" in df["message"].iloc[0]
    assert df.attrs["exit_code"] == 2


def test_point_budget_reduces_repeats() -> None:
    from resbench.bench import timing

    opts = scale.ScaleOptions(repeats=5, point_budget=10.0)
    slow = {"ngspice": [timing.Sample("ngspice", "warmup", 0, "converged", {"wall": 4.0})]}
    assert scale._repeats_within(slow, opts) == 2
    huge = {"ngspice": [timing.Sample("ngspice", "warmup", 0, "converged", {"wall": 400.0})]}
    assert scale._repeats_within(huge, opts) == 1
    fast = {"cd": [timing.Sample("cd", "warmup", 0, "converged", {"total": 0.1})]}
    assert scale._repeats_within(fast, opts) == 5
    opts.point_budget = 0
    assert scale._repeats_within(huge, opts) == 5


def test_exit_code_rules() -> None:
    base = {"agree": None}
    assert scale.exit_code(pd.DataFrame([{**base, "status": "ok"}])) == 0
    assert scale.exit_code(pd.DataFrame([{**base, "status": "skipped"}])) == 0
    assert scale.exit_code(pd.DataFrame([{**base, "status": "uncertified"}])) == 1
    assert scale.exit_code(pd.DataFrame([{"status": "ok", "agree": False}])) == 1
    for bad in ("error", "timeout", "failed"):
        assert scale.exit_code(pd.DataFrame([{**base, "status": bad}])) == 2


# --------------------------------------------------------------------------- pieces
def test_parse_sizes() -> None:
    assert parse_sizes("drn", "xs, 0100,XL,100") == ["xs", "100", "xl"]
    assert parse_sizes("grid", [3, "4"]) == ["3", "4"]
    assert parse_sizes("drn", None) == list(scale.DEFAULT_SIZES["drn"])
    for family, bad in (
        ("drn", "0"),
        ("drn", "huge"),
        ("grid", "1"),
        ("random", "xs"),
        ("drn", ","),
    ):
        with pytest.raises(ResbenchError):
            parse_sizes(family, bad)


def test_default_drn_sweep_reaches_ten_million_resistors() -> None:
    from resbench.generate import drn_size

    widths = [int(s) for s in scale.DEFAULT_SIZES["drn"] if s.isdigit()]
    biggest = drn_size((scale.DRN_INPUTS, max(widths), scale.DRN_OUTPUTS))
    assert biggest["resistors_expected"] >= 10_000_000


def test_peak_rss_sees_an_allocation() -> None:
    with PeakRSS() as probe:
        a = np.ones(50 * 2**20 // 8)  # 50 MiB, touched
        del a
    assert probe.result.method == "hwm"
    assert probe.result.delta >= 45 * 2**20
    with PeakRSS() as idle:
        pass
    assert idle.result.delta < 10 * 2**20


@settings(max_examples=100, deadline=None)
@given(
    k=st.floats(0.1, 3.0),
    a=st.floats(1e-9, 1e3),
    xs=st.lists(st.integers(10, 10**8), min_size=2, max_size=12, unique=True),
)
def test_fit_recovers_power_laws(k: float, a: float, xs: list[int]) -> None:
    x = np.array(xs, dtype=float)
    f = fit_power_law(x, a * x**k)
    assert f is not None and f["points"] == len(xs)
    assert f["exponent"] == pytest.approx(k, rel=1e-6, abs=1e-6)
    assert f["coefficient"] == pytest.approx(a, rel=1e-4)
    assert f["resistors_min"] == min(xs) and f["resistors_max"] == max(xs)


def test_fit_needs_two_sizes() -> None:
    assert fit_power_law([10, 10], [1.0, 2.0]) is None
    assert fit_power_law([10, 20], [1.0, float("nan")]) is None


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    lines=st.lists(st.text("abc,0123456789.", max_size=30), min_size=1, max_size=8),
    cut=st.integers(0, 400),
)
def test_repair_tail_keeps_exactly_the_complete_lines(
    tmp_path: Path, lines: list[str], cut: int
) -> None:
    text = "".join(line + "\n" for line in lines)
    cut = min(cut, len(text))
    path = tmp_path / "f.csv"
    path.write_text(text[:cut])
    scale._repair_tail(path)
    kept = path.read_text()
    assert text.startswith(kept)
    assert kept == "" or kept.endswith("\n")
    assert kept == text[: text[:cut].rfind("\n") + 1]


# --------------------------------------------------------------------------- CLI
def test_cli_prints_a_table_that_fits_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["scale", "--family", "grid", "--sizes", "3,4", "--solvers", "cd", "--repeats", "1"]
    args += ["--warmup", "0", "--out", str(tmp_path)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    table = lines[: lines.index(next(ln for ln in lines if ln.startswith("medians")))]
    assert max(len(line) for line in table) <= 80
    assert any(line.split()[:3] == ["3", "cd", "ok"] for line in table)
    assert "peak RSS" not in res.output and "--wide for every column" in res.output
    assert "cd: total time ∝ resistors^k, k = " in res.output
    assert (tmp_path / "scale.png").exists()
    assert "| 3 | cd | ok |" in (tmp_path / "scale_summary.md").read_text()
    # the same sweep again for the wide table: its figure was rendered above
    monkeypatch.setattr(
        results,
        "atomic_save_figure",
        lambda fig, path, **kw: results.atomic_write_bytes(path, b"not rendered\n"),
    )
    res = CliRunner().invoke(cli, [*args, "--wide"])
    assert res.exit_code == 0, res.output
    assert "peak RSS" in res.output and "B/resistor" in res.output and "sweeps" in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sizes", "abc"], "bad drn size 'abc'"),
        (["--family", "grid", "--sizes", "1"], "grid sizes must be integers >= 2"),
        (["--solvers", "cd,hspice"], "expected a comma list of cd, spice"),
        (["--family", "tree"], "'tree' is not one of"),
        (["--repeats", "0"], "--repeats"),
    ],
)
def test_cli_bad_input_is_exit_2_without_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    res = CliRunner().invoke(cli, ["scale", "--out", str(tmp_path), *args])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "scale_summary.csv").exists()


def test_cli_timeout_exit_2_and_resume_mismatch(tmp_path: Path) -> None:
    base = ["scale", "--sizes", "4", "--repeats", "1", "--warmup", "0", "--out", str(tmp_path)]
    res = CliRunner().invoke(cli, [*base, "--timeout", "0.001"])
    assert res.exit_code == 2
    assert "timeout" in res.output
    res = CliRunner().invoke(cli, [*base, "--family", "grid", "--resume"])
    assert res.exit_code == 2
    assert "same --family and --seed" in res.output and "Traceback" not in res.output


# --------------------------------------------------------------------------- robustness
def _scale_cmd(out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "resbench.cli.main", "scale", "--out", str(out), *args]


def test_two_sweeps_on_one_folder_never_duplicate_rows(tmp_path: Path) -> None:
    args = ("--family", "grid", "--sizes", "3,4", "--solvers", "cd", "--repeats", "2")
    first = subprocess.Popen(
        _scale_cmd(tmp_path, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 180
    lock = tmp_path / ".resbench.lock"
    while not (lock.exists() and lock.read_text().strip()):  # locked, and its pid written
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    first.send_signal(signal.SIGSTOP)  # frozen while it holds the folder: surely concurrent
    try:
        second = subprocess.run(_scale_cmd(tmp_path, *args), capture_output=True, text=True)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert f"another resbench run (pid {first.pid}, started " in second.stderr
    assert f"is writing to {tmp_path}; wait for it or use another --out" in second.stderr
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    pairs = _pairs(_summary(tmp_path))
    assert pairs == [("3", "cd"), ("4", "cd")]
    samples = _samples(tmp_path)
    keys = list(samples[["size", "solver", "phase", "repeat"]].itertuples(index=False, name=None))
    assert len(keys) == len(set(keys)) == 2 * 3


def test_held_lock_and_bad_out_are_one_line_exit_2(tmp_path: Path) -> None:
    base = ["scale", "--family", "grid", "--sizes", "3", "--solvers", "cd", "--repeats", "1"]
    base += ["--warmup", "0"]
    with hold_lock(tmp_path / "held") as holder:
        res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "held")])
    assert res.exit_code == 2, res.output
    assert f"another resbench run (pid {holder.pid}, started " in res.output
    assert not (tmp_path / "held" / "scale_summary.csv").exists()
    (tmp_path / "dirs" / "scale_summary.csv").mkdir(parents=True)
    (tmp_path / "svg" / "scale.svg").mkdir(parents=True)
    for out, extra, message in (
        ("/proc/foo", [], "error: cannot create the output folder /proc/foo: "),
        ("/proc/self", [], "error: cannot write in the output folder /proc/self: "),
        (str(tmp_path / "dirs"), [], f"error: cannot write {tmp_path}/dirs/scale_summary.csv: "),
        (str(tmp_path / "svg"), ["--plot-format", "svg"], f"error: cannot write {tmp_path}/svg/"),
    ):
        res = CliRunner().invoke(cli, [*base, "--out", out, *extra])
        assert res.exit_code == 2, (out, res.output)
        assert res.output.startswith(message), res.output
        assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert "it is a directory" in res.output
    res = subprocess.run(_scale_cmd(Path("/proc/foo"), "--sizes", "4"), capture_output=True)
    assert res.returncode == 2 and b"Traceback" not in res.stderr


@pytest.fixture(scope="module")
def finished_grid_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files of a finished sweep (grid 3,4, cd), made once for the tests that damage them."""
    from resbench.bench import results

    out = tmp_path_factory.mktemp("sweep")
    with pytest.MonkeyPatch.context() as mp:  # as unrendered_plots: only its CSV is used
        mp.setattr(
            results,
            "atomic_save_figure",
            lambda fig, path, **kw: results.atomic_write_bytes(path, b"not rendered\n"),
        )
        run_scale("grid", "3,4", solvers=["cd"], out=out, **FAST)
    return out


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda t: t + "drn,6,8,cd,ok\n", "rows of more than one sweep (family drn and grid"),
        (lambda t: t.replace("grid,3,0,cd", "6,3,8,cd"), "line 2: family '6' is not one of"),
        (lambda t: t.replace("grid,3,0,cd", "grid,3,x,cd"), "line 2: seed 'x' is not"),
        (lambda t: t.replace("grid,3,0,cd", "grid,huge,0,cd"), "line 2: 'huge' is not a grid"),
        (lambda t: t.replace("grid,3,0,cd,ok", "grid,3,0,hspice,ok"), "solver 'hspice'"),
        (lambda t: t.replace("grid,3,0,cd,ok,", "grid,3,0,cd,ok,many"), "nodes 'many"),
        (lambda t: "\x00\xff garbage\n" + t, "does not have the columns"),
        (lambda t: t.split("\n")[0] + '\n"unterminated\n', "unreadable as CSV"),
    ],
)
def test_resume_with_a_corrupt_summary_is_one_clear_line(
    tmp_path: Path, finished_grid_sweep: Path, damage, message: str
) -> None:
    base = ["scale", "--family", "grid", "--sizes", "3,4", "--solvers", "cd", "--repeats", "1"]
    base += ["--warmup", "0", "--out", str(tmp_path)]
    for f in finished_grid_sweep.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    path = tmp_path / "scale_summary.csv"
    path.write_text(damage(path.read_text()))
    res = CliRunner().invoke(cli, [*base, "--resume"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    assert res.output.startswith(f"error: {path}")
    assert message in res.output
    assert "start a new sweep without --resume, or use another --out" in res.output


def test_timeout_row_has_no_worst_node_anywhere(tmp_path: Path) -> None:
    args = ["scale", "--sizes", "4", "--repeats", "1", "--warmup", "0", "--timeout", "0.001"]
    res = CliRunner().invoke(cli, [*args, "--out", str(tmp_path), "--wide"])
    assert res.exit_code == 2
    assert "nan" not in res.output.lower()
    summary = (tmp_path / "scale_summary.csv").read_text()
    assert "nan" not in summary.lower()
    assert "nan" not in (tmp_path / "scale_summary.md").read_text().lower()


def test_interrupted_sweep_writes_reports_for_the_finished_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = scale.build_circuit

    def interrupted(family: str, size: str, seed: int = 0):
        if size == "4":
            raise KeyboardInterrupt
        return real(family, size, seed)

    monkeypatch.setattr(scale, "build_circuit", interrupted)
    res = CliRunner().invoke(
        cli,
        ["scale", "--family", "grid", "--sizes", "3,4", "--solvers", "cd", "--repeats", "1"]
        + ["--warmup", "0", "--out", str(tmp_path)],
    )
    assert res.exit_code == 130 and "--resume" in res.output
    meta = json.loads((tmp_path / "scale.json").read_text())
    assert meta["state"] == "interrupted" and meta["exit_code"] == 130
    assert "**Interrupted** (Ctrl-C)" in (tmp_path / "scale_summary.md").read_text()
    assert _pairs(_summary(tmp_path)) == [("3", "cd")]
    assert not (tmp_path / ".resbench.lock").exists()


@pytest.mark.spice
def test_progress_hook_names_the_solver_before_it_runs(
    tmp_path: Path, unrendered_plots: list[Path]
) -> None:
    calls: list[tuple] = []
    run_scale(
        "grid",
        "3",
        out=tmp_path,
        repeats=1,
        warmup=1,
        before_run=lambda *a: calls.append(a),
        on_run=lambda size, s: calls.append((size, s.solver, "done")),
    )
    assert calls == [
        ("3", "cd", "warmup", 0),
        ("3", "cd", "done"),
        ("3", "ngspice", "warmup", 0),
        ("3", "ngspice", "done"),
        ("3", "cd", "measure", 0),
        ("3", "cd", "done"),
        ("3", "ngspice", "measure", 0),
        ("3", "ngspice", "done"),
    ]


# --------------------------------------------------------------------------- plots and fits
def _synthetic_summary(k_cd: float, noisy_spice: bool) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for size, r in (("a", 1e3), ("b", 1e4), ("c", 1e5), ("d", 1e6)):
        t_cd = 1e-6 * r**k_cd * (1 + 0.05 * rng.standard_normal())
        t_sp = rng.uniform(0.1, 10.0) if noisy_spice else 1e-8 * r**2
        for solver, t in (("cd", t_cd), ("ngspice", t_sp)):
            rows.append(
                {
                    "size": size,
                    "solver": solver,
                    "status": "ok",
                    "resistors": r,
                    "total_median": t,
                    "total_min": 0.9 * t,
                    "total_max": 1.2 * t,
                    "solve_median": t / 2,
                    "speedup_total": t_sp / t_cd if solver == "cd" else np.nan,
                    "speedup_solve": t_sp / t_cd if solver == "cd" else np.nan,
                }
            )
    return pd.DataFrame(rows).reindex(columns=SUMMARY_COLUMNS)


def _figure(monkeypatch: pytest.MonkeyPatch, summary: pd.DataFrame, tmp_path: Path):
    saved = {}

    def keep(fig, path, *, fmt: str, dpi: int = 200):
        saved.update(fig=fig, fmt=fmt, dpi=dpi)
        return Path(path)

    monkeypatch.setattr(results, "atomic_save_figure", keep)
    scale.plot_scaling(summary, scale.fits(summary), tmp_path / "p.png")
    return saved


def test_plot_is_fit_for_a_paper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = _synthetic_summary(0.8, noisy_spice=True)
    fit = scale.fits(summary)
    assert fit["cd"]["total"]["r2"] > 0.9 > fit["ngspice"]["total"]["r2"]
    saved = _figure(monkeypatch, summary, tmp_path)
    assert saved["dpi"] == 200 and saved["fmt"] == "png"
    time_ax, speed_ax = saved["fig"].axes
    assert time_ax.get_shared_x_axes().joined(time_ax, speed_ax)  # one shared x axis
    for ax in (time_ax, speed_ax):  # … with tick labels and a label on every panel
        labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        assert labels and ax.xaxis.get_tick_params()["labelbottom"]
        assert ax.get_xlabel() == "resistors"
    legend = time_ax.get_legend()
    assert "error bars: min–max" in legend.get_title().get_text()
    texts = [t.get_text() for t in legend.get_texts()]
    f = fit["cd"]["total"]
    assert f"cd fit: k = {f['exponent']:.2f} ± {f['exponent_stderr']:.2f}" in " ".join(texts)
    assert any(t.startswith("ngspice: no fit drawn, r² = ") for t in texts)
    dashed = [ln for ln in time_ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_label().startswith("cd fit")  # no ngspice line


def test_plot_formats_at_200_dpi(tmp_path: Path) -> None:
    from PIL import Image

    df = run_scale("grid", "3,4", solvers=["cd"], out=tmp_path, plot_format="svg", **FAST)
    path = tmp_path / "scale.svg"
    assert df.attrs["files"]["plot"] == path and path.read_bytes().startswith(b"<?xml")
    assert not (tmp_path / "scale.png").exists()
    md = (tmp_path / "scale_summary.md").read_text()
    assert "![time and speedup vs resistors](scale.svg)" in md
    assert json.loads((tmp_path / "scale.json").read_text())["files"]["plot"] == path.name
    summary = _synthetic_summary(1.0, noisy_spice=False)
    for fmt, magic in (("png", PNG_MAGIC), ("pdf", b"%PDF")):
        out = scale.plot_scaling(summary, scale.fits(summary), tmp_path / f"p.{fmt}", fmt=fmt)
        assert out.read_bytes().startswith(magic)
    with Image.open(tmp_path / "p.png") as im:
        assert [round(d) for d in im.info["dpi"]] == [200, 200]
    with pytest.raises(ResbenchError, match="plot format must be one of png, pdf, svg"):
        run_scale("grid", "3", solvers=["cd"], out=tmp_path, plot_format="jpg", **FAST)


def test_fit_reports_the_standard_error_of_k() -> None:
    from scipy.stats import linregress

    x = np.array([1e3, 1e4, 1e5, 1e6])
    y = 1e-6 * x**0.8 * np.array([1.0, 1.1, 0.95, 1.02])
    f = fit_power_law(x, y)
    ref = linregress(np.log10(x), np.log10(y))
    assert f["exponent"] == pytest.approx(ref.slope) and f["exponent_stderr"] > 0
    assert f["exponent_stderr"] == pytest.approx(ref.stderr)
    assert f["r2"] == pytest.approx(ref.rvalue**2)
    assert np.isnan(fit_power_law(x[:2], y[:2])["exponent_stderr"])  # 2 points: no error


def test_markdown_fit_table_and_headers_render(
    tmp_path: Path, unrendered_plots: list[Path]
) -> None:
    run_scale("grid", "3,4,5", solvers=["cd"], out=tmp_path, **FAST)
    md = (tmp_path / "scale_summary.md").read_text().splitlines()
    assert "| solver | time | k | ± SE | a (s) | r² | points | resistors used | sizes used |" in md
    tables: list[list[str]] = [[]]
    for line in md:
        if line.startswith("|"):
            tables[-1].append(line)
        elif tables[-1]:
            tables.append([])
    tables = [t for t in tables if t]
    assert len(tables) == 2
    assert any("max \\|Δv\\| (V)" in t[0] for t in tables)
    for t in tables:  # every row has as many cells as the header: the table renders
        assert len({line.replace("\\|", "").count("|") for line in t}) == 1
