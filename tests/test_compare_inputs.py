"""``resbench compare`` with many inputs: ``--inputs FILE --limit N`` (one row per
sample, then one for all) and ``.dc`` netlists (against ngspice's own sweep)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from resbench.bench.compare import SUMMARY_COLUMNS, compare
from resbench.bench.compare_points import spread
from resbench.cli.main import cli
from resbench.errors import ResbenchError

NETLISTS = Path(__file__).resolve().parent.parent / "netlists"

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

#: seven samples of (v1, v2): the clamp conducts in some, blocks in others
SAMPLES = np.array(
    [[2.0, 0.5], [-1.0, 0.5], [0.25, 1.0], [3.0, -0.5], [0.0, 0.0], [1.5, 2.0], [-2.0, -1.0]]
)


def test_spread_takes_evenly_spaced_rows() -> None:
    assert spread(5, 20).tolist() == [0, 1, 2, 3, 4]
    idx = spread(100, 5)
    assert len(idx) == 5 and idx[0] == 0 and idx[-1] == 99
    assert np.all(np.abs(np.diff(idx) - 99 / 4) <= 1)
    assert spread(7, 3).tolist() == [0, 3, 6]
    assert spread(3, 1).tolist() == [0]


def _run(tmp_path: Path, monkeypatch, *args: str):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clipper.cir").write_text(CLIPPER)
    return CliRunner().invoke(cli, ["compare", "--spice", *args, "--repeats", "2", "--warmup", "1"])


@pytest.mark.spice
def test_cli_inputs_npy_one_row_per_sample_then_all(tmp_path, monkeypatch) -> None:
    np.save(tmp_path / "x.npy", SAMPLES)
    res = _run(
        tmp_path, monkeypatch, "clipper.cir", "--inputs", "x.npy", "--limit", "3", "--out", "out"
    )
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    summary = pd.read_csv(tmp_path / "out" / "compare_summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert summary["netlist"].tolist() == [
        "clipper.cir #0",
        "clipper.cir #3",
        "clipper.cir #6",
        "clipper.cir (all 3 samples)",
    ]
    assert (summary["status"] == "ok").all()
    assert (summary["max_abs_diff"] <= 1e-6).all() and summary["fast_certified"].all()
    assert (summary["repeats"] == 2).all()
    per_sample = summary.iloc[:3]
    assert (per_sample["fast_total_median"] > 0).all()
    assert (per_sample["spice_total_median"] > 0).all()
    ratio = per_sample["spice_total_median"] / per_sample["fast_total_median"]
    assert np.allclose(per_sample["speedup_total"], ratio)
    last = summary.iloc[3]
    assert last["max_abs_diff"] == per_sample["max_abs_diff"].max()
    assert "3 of 7 samples of x.npy" in last["message"]
    samples = pd.read_csv(tmp_path / "out" / "compare_samples.csv")
    assert len(samples) == 2 * 3  # one batch run per solver × (1 warm-up + 2 repeats)
    meta = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert meta["options"]["inputs"] == "x.npy" and meta["options"]["limit"] == 3
    assert "(all 3 samples)" in res.output


@pytest.mark.spice
def test_cli_inputs_csv_with_a_subset_of_the_sources(tmp_path, monkeypatch) -> None:
    """A CSV naming only V1 (any case): V2 keeps its netlist value (0.5 V)."""
    (tmp_path / "x.csv").write_text("V1\n2\n-1\n0.75\n")
    res = _run(tmp_path, monkeypatch, "clipper.cir", "--inputs", "x.csv", "--no-files", "--wide")
    assert res.exit_code == 0, res.output
    for k in (0, 1, 2):
        assert f"clipper.cir #{k}" in res.output
    assert "all 3 samples" in res.output


@pytest.mark.spice
def test_a_disagreeing_sample_is_found(tmp_path, monkeypatch) -> None:
    """ngspice's answer to one sample moved by 1 mV: that row and the total row
    disagree (exit 1); the other rows stay ok."""
    import resbench.solvers.ngspice as ng

    real = ng.ngspice_batch

    def shifted(*args, **kwargs):
        volts, seconds = real(*args, **kwargs)
        volts = volts.copy()
        volts[1, 1:] += 1e-3
        return volts, seconds

    monkeypatch.setattr(ng, "ngspice_batch", shifted)
    np.save(tmp_path / "x.npy", SAMPLES[:3])
    res = _run(tmp_path, monkeypatch, "clipper.cir", "--inputs", "x.npy", "--out", "out")
    assert res.exit_code == 1, res.output
    summary = pd.read_csv(tmp_path / "out" / "compare_summary.csv")
    assert summary["status"].tolist() == ["ok", "disagree", "ok", "disagree"]
    assert abs(summary["max_abs_diff"].iloc[1] - 1e-3) < 1e-6
    assert "sample 1" in summary["message"].iloc[3]


def test_cli_inputs_needs_exactly_one_netlist(tmp_path, monkeypatch) -> None:
    (tmp_path / "other.cir").write_text(CLIPPER)
    np.save(tmp_path / "x.npy", SAMPLES)
    res = _run(tmp_path, monkeypatch, "clipper.cir", "other.cir", "--inputs", "x.npy")
    assert res.exit_code == 2 and "exactly one netlist" in res.output
    assert "Traceback" not in res.output
    res = _run(tmp_path, monkeypatch, "clipper.cir", "--inputs", "x.npy", "--limit", "0")
    assert res.exit_code == 2 and "Traceback" not in res.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (np.array([[1.0, np.nan]]), "NaN"),
        (np.zeros((2, 3)), "3 column(s)"),
        (np.zeros((0, 2)), "no samples"),
    ],
)
def test_bad_input_files_are_error_rows(tmp_path, monkeypatch, content, message) -> None:
    np.save(tmp_path / "x.npy", content)
    res = _run(tmp_path, monkeypatch, "clipper.cir", "--inputs", "x.npy", "--no-files")
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert message in " ".join(res.output.split())


@pytest.mark.spice
def test_dc_netlists_compare_against_ngspice_dc() -> None:
    df = compare([NETLISTS / "dc_diode_iv.cir", NETLISTS / "dc_drn_unit.cir"], repeats=1)
    assert df["status"].tolist() == ["ok", "ok"], df["message"].tolist()
    assert (df["max_abs_diff"] <= 1e-6).all() and df["fast_certified"].all()
    assert ".dc sweep of 101 points" in df["message"].iloc[0]
    assert ".dc sweep of 205 points" in df["message"].iloc[1]
    assert "point" in df["worst_node"].iloc[1]  # the worst node is named with its point
    assert df.attrs["exit_code"] == 0


@pytest.mark.spice
def test_dc_netlist_with_a_solver_that_cannot_sweep_is_an_error_row() -> None:
    df = compare(NETLISTS / "dc_diode_iv.cir", solver="reference", repeats=1)
    assert df["status"].iloc[0] == "error"
    assert "cannot sweep" in df["message"].iloc[0]


@pytest.mark.spice
def test_cli_inputs_with_another_exact_solver(tmp_path, monkeypatch) -> None:
    """A solver other than cd solves each sample's equivalent circuit in full."""
    np.save(tmp_path / "x.npy", SAMPLES[:2])
    res = _run(
        tmp_path,
        monkeypatch,
        "clipper.cir",
        "--inputs",
        "x.npy",
        "--solver",
        "reference",
        "--no-files",
    )
    assert res.exit_code == 0, res.output
    assert "clipper.cir #1" in res.output and "reference" in res.output


@pytest.mark.spice
def test_compare_api_with_inputs(tmp_path) -> None:
    (tmp_path / "clipper.cir").write_text(CLIPPER)
    np.save(tmp_path / "x.npy", SAMPLES)
    df = compare(tmp_path / "clipper.cir", inputs=tmp_path / "x.npy", limit=2, repeats=1)
    assert len(df) == 3 and df.attrs["exit_code"] == 0
    assert df["netlist"].iloc[1].endswith("clipper.cir #6")
    with pytest.raises(ResbenchError, match="exactly one netlist"):
        compare([tmp_path / "clipper.cir"] * 2, inputs=tmp_path / "x.npy")
