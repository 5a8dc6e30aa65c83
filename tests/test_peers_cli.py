"""``compare --solvers`` and ``scale --solvers`` with peers: parsing, clear errors,
the tables and the result files' peer columns (old invocations keep their columns)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from resbench.bench import columns as C
from resbench.bench import results
from resbench.bench.compare import SUMMARY_COLUMNS
from resbench.bench.scale import run_scale
from resbench.cli.main import cli

NETLISTS = Path(__file__).resolve().parent.parent / "netlists"
DIVIDER = str(NETLISTS / "divider.cir")


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--solvers", "cd,osqpp"], ["unknown solver 'osqpp'", "osqp", "clarabel", "highs"]),
        (["--solvers", "osqp,scipy"], ["exactly one of cd, reference"]),
        (["--solvers", "cd,reference,osqp"], ["exactly one of cd, reference"]),
        (["--solvers", ","], ["--solvers is empty"]),
        (["--solvers", "cd,osqp", "--solver-option", "osqp.bogus=1"], ["bogus", "eps_abs"]),
        (["--solvers", "cd,osqp", "--solver-option", "osqp.eps_abs=tiny"], ["takes a float"]),
        (["--solvers", "cd,osqp", "--solver-option", "osqp.polishing=maybe"], ["takes a bool"]),
        (["--solvers", "cd,osqp", "--solver-option", "eps_abs=1"], ["SOLVER.OPTION=VALUE"]),
        (["--solvers", "cd,osqp", "--solver-option", "nosuch.x=1"], ["unknown solver 'nosuch'"]),
        (["--solvers", "cd,osqp", "--solver-option", "clarabel.eps=1"], ["does not use"]),
        (["--solvers", "cd,osqp", "--paper-code", "."], ["add paper to --solvers"]),
        (["--solvers", "cd", "--no-spice"], ["nothing to compare with"]),
        (["--solver", "reference", "--solvers", "cd,osqp"], ["name different solvers"]),
    ],
)
def test_compare_solvers_errors(args: list[str], words: list[str]) -> None:
    res = run("compare", *args, "--no-files", DIVIDER)
    assert res.exit_code == 2, res.output
    for w in words:
        assert w in res.output
    assert "Traceback" not in res.output


def test_compare_inputs_refuse_peers(tmp_path: Path) -> None:
    inputs = tmp_path / "x.csv"
    inputs.write_text("v1\n1.0\n")
    res = run(
        "compare", "--solvers", "cd,ngspice,osqp", "--inputs", str(inputs), "--no-files", DIVIDER
    )
    assert (
        res.exit_code == 2 and "--inputs compares the fast solver with ngspice only" in res.output
    )


# --------------------------------------------------------------------------- runs
def test_compare_peers_without_ngspice(tmp_path: Path) -> None:
    res = run(
        "compare",
        "--solvers",
        "cd,osqp,scipy",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--solver-option",
        "osqp.eps_abs=1e-10",
        "--out",
        str(tmp_path),
        DIVIDER,
        str(NETLISTS / "drn_small.cir"),
    )
    assert res.exit_code == 0, res.output
    assert "every solver" in res.output and "osqp" in res.output and "scipy" in res.output
    summary = pd.read_csv(tmp_path / "compare_summary.csv")
    cols = list(summary.columns)
    assert cols[: len(SUMMARY_COLUMNS)] == SUMMARY_COLUMNS  # old columns first, unchanged
    assert cols[len(SUMMARY_COLUMNS) :] == [
        f"{p}_{f}" for p in ("osqp", "scipy") for f in C.PEER_FIELDS
    ]
    assert summary["spice_total_median"].isna().all()
    assert set(summary["scipy_status"]) == {"ok"}
    assert (summary["osqp_max_abs_diff"] <= 1e-6).all()
    md = (tmp_path / "compare_summary.md").read_text()
    assert "## Every solver" in md and "time / cd" in md
    samples = pd.read_csv(tmp_path / "compare_samples.csv")
    assert set(samples["solver"]) == {"cd", "osqp", "scipy"}


def test_old_invocation_keeps_its_columns() -> None:
    assert C.compare_columns(()) == C.COMPARE
    assert C.scale_columns(False) == C.SCALE


@pytest.mark.spice
def test_compare_with_ngspice_and_peers(tmp_path: Path) -> None:
    res = run(
        "compare",
        "--solvers",
        "cd,spice,osqp,highs",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--out",
        str(tmp_path),
        DIVIDER,
    )
    assert res.exit_code == 0, res.output
    assert "cd vs ngspice" in res.output and "every solver" in res.output
    row = pd.read_csv(tmp_path / "compare_summary.csv").iloc[0]
    assert row["status"] == "ok" and row["spice_total_median"] > 0
    assert row["osqp_ratio_total"] > 0 and row["highs_claimed"] == "Optimal"
    # HiGHS's default tolerances leave ~1e-7 V on this divider: flagged, never 'ok'
    assert row["highs_status"] in ("ok", "uncertified")
    assert (row["highs_status"] == "ok") == bool(row["highs_certified"])


# --------------------------------------------------------------------------- scale
def test_scale_solvers_errors(tmp_path: Path) -> None:
    res = run(
        "scale",
        "--family",
        "grid",
        "--sizes",
        "3",
        "--solvers",
        "cd,gurobi",
        "--out",
        str(tmp_path),
    )
    assert res.exit_code == 2 and "gurobi" in res.output and "osqp" in res.output
    res = run(
        "scale", "--family", "grid", "--sizes", "3", "--solvers", "osqp", "--out", str(tmp_path)
    )
    assert res.exit_code == 2 and "add cd to the solvers" in res.output
    res = run(
        "scale",
        "--family",
        "grid",
        "--sizes",
        "3",
        "--solvers",
        "cd,osqp",
        "--solver-option",
        "scipy.max_iter=3",
        "--out",
        str(tmp_path),
    )
    assert res.exit_code == 2 and "options given for scipy" in res.output


def test_scale_with_peers_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = [
        "scale",
        "--family",
        "grid",
        "--sizes",
        "3,4",
        "--solvers",
        "cd,osqp,scipy,paper",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--out",
        str(tmp_path),
    ]
    res = run(*args)
    assert res.exit_code == 0, res.output
    s = pd.read_csv(tmp_path / "scale_summary.csv")
    assert list(s.columns) == C.csv_names(C.scale_columns(True))
    assert list(s["solver"]) == ["cd", "osqp", "scipy", "paper"] * 2
    peers = s[s["solver"].isin(["osqp", "scipy"])]
    assert set(peers["status"]) == {"ok"} and (peers["diff_vs_cd"] <= 1e-6).all()
    assert (peers["ratio_vs_cd"] > 0).all() and set(peers["claimed"]) <= {"solved", "optimal"}
    paper = s[s["solver"] == "paper"]
    assert set(paper["status"]) <= {"not installed", "not applicable"}  # a grid is no DRN
    md = (tmp_path / "scale_summary.md").read_text()  # the markdown shows the peer columns
    assert "| claimed |" in md and "from cd (V)" in md and "| time / cd |" in md
    assert (tmp_path / "scale.png").read_bytes().startswith(b"\x89PNG")  # peers' rows drawn
    # the resumed (finished) sweep rewrites the same figure: built, not rendered again
    monkeypatch.setattr(
        results,
        "atomic_save_figure",
        lambda fig, path, **kw: results.atomic_write_bytes(path, b"not rendered\n"),
    )
    res = run(*args, "--resume")
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(tmp_path / "scale_summary.csv")) == 8


def test_scale_missing_extra_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "clarabel", None)
    s = run_scale(
        "grid",
        "3",
        solvers=("cd", "clarabel"),
        repeats=1,
        warmup=0,
        out=tmp_path,
    )
    row = s[s["solver"] == "clarabel"].iloc[0]
    assert row["status"] == "not installed"
    assert "pip install -e '.[qp]'" in row["message"]
    assert s.attrs["exit_code"] == 0
