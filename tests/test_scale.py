"""`resbench scale`: sweep outputs, skipping, resume after interruption, timeouts, memory, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resbench.bench import scale
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
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = scale.build_circuit

    def interrupted(family: str, size: str, seed: int = 0):
        if size == "8":
            raise KeyboardInterrupt
        return real(family, size, seed)

    monkeypatch.setattr(scale, "build_circuit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_scale("drn", "4,8,12", out=tmp_path, **FAST)
    first = _summary(tmp_path)
    assert _pairs(first) == [("4", "cd"), ("4", "ngspice")]  # the finished size is on disk
    first_samples = _samples(tmp_path)
    assert len(first_samples) == 2

    monkeypatch.setattr(scale, "build_circuit", real)
    built: list[str] = []
    monkeypatch.setattr(
        scale, "build_circuit", lambda f, s, seed=0: built.append(s) or real(f, s, seed)
    )
    df = run_scale("drn", "4,8,12", out=tmp_path, resume=True, **FAST)
    assert built == ["8", "12"]  # size 4 not run again
    pairs = _pairs(df)
    assert len(pairs) == len(set(pairs)) == 6
    assert set(pairs) == {(s, v) for s in ("4", "8", "12") for v in ("cd", "ngspice")}
    # the earlier rows are kept as they were
    old = df[df["size"] == "4"].reset_index(drop=True)
    pd.testing.assert_frame_equal(old, first, check_dtype=False)
    samples = _samples(tmp_path)
    cols = [samples[c] for c in ("size", "solver", "phase", "repeat")]
    keys = list(zip(*cols, strict=True))
    assert len(keys) == len(set(keys)) == 6

    # resuming a finished sweep runs nothing and changes no row
    built.clear()
    again = run_scale("drn", "4,8,12", out=tmp_path, resume=True, **FAST)
    assert built == []
    pd.testing.assert_frame_equal(again, df)


def test_resume_repairs_partial_files(tmp_path: Path) -> None:
    run_scale("drn", "4", solvers=["cd"], out=tmp_path, **FAST)
    summary_path = tmp_path / "scale_summary.csv"
    samples_path = tmp_path / "scale_samples.csv"
    # a kill mid-write: samples of size 8 written, its summary row cut short
    good = samples_path.read_text()
    row8 = good.splitlines()[1].replace("drn,4,", "drn,8,", 1)
    samples_path.write_text(good + row8 + "\n")
    summary_path.write_text(summary_path.read_text() + "drn,8,0,cd,ok,1586,63")
    df = run_scale("drn", "4,8", solvers=["cd"], out=tmp_path, resume=True, **FAST)
    assert _pairs(df) == [("4", "cd"), ("8", "cd")]
    assert set(df["status"]) == {"ok"} and df["total_median"].notna().all()
    samples = _samples(tmp_path)
    assert _pairs(samples) == [("4", "cd"), ("8", "cd")]  # the orphan sample was dropped


def test_resume_refuses_other_family_or_seed(tmp_path: Path) -> None:
    run_scale("grid", "3", solvers=["cd"], out=tmp_path, **FAST)
    with pytest.raises(ResbenchError, match="same --family and --seed"):
        run_scale("drn", "4", solvers=["cd"], out=tmp_path, resume=True, **FAST)
    with pytest.raises(ResbenchError, match="same --family and --seed"):
        run_scale("grid", "3", solvers=["cd"], seed=1, out=tmp_path, resume=True, **FAST)
    # without --resume the old files are replaced
    df = run_scale("drn", "4", solvers=["cd"], out=tmp_path, **FAST)
    assert list(df["family"]) == ["drn"]


# --------------------------------------------------------------------------- failures
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


@settings(max_examples=100, deadline=None, derandomize=True)
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
    derandomize=True,
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
def test_cli_runs_and_prints_the_markdown(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli,
        ["scale", "--family", "grid", "--sizes", "3", "--solvers", "cd", "--repeats", "1"]
        + ["--warmup", "0", "--out", str(tmp_path)],
    )
    assert res.exit_code == 0, res.output
    assert "# resbench scale: grid" in res.output and "| 3 | cd | ok |" in res.output
    assert (tmp_path / "scale.png").exists()


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
