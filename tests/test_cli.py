"""The CLI: help, version, info, and `resbench solve` output formats and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from resbench import __version__
from resbench.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
NETLISTS = ROOT / "netlists"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_help_and_version():
    res = run("--help")
    assert res.exit_code == 0
    for cmd in ("solve", "compare", "generate", "info"):
        assert cmd in res.output
    res = run("--version")
    assert res.exit_code == 0 and __version__ in res.output


@pytest.mark.spice
def test_info_reports_ngspice():
    res = run("info", "--json")
    assert res.exit_code == 0
    report = json.loads(res.output)
    assert report["numba"] != "not installed"
    assert not report["ngspice library"].startswith("NOT FOUND")
    assert "version 39" in report["ngspice CLI"] or "version" in report["ngspice CLI"]


def test_solve_stalling_case_table():
    res = run("solve", str(NETLISTS / "stall.cir"), "--diodes")
    assert res.exit_code == 0, res.output
    assert "0.5" in res.output and "certified" in res.output
    assert "on" in res.output  # the diode conducts


def test_solve_json_has_every_node_and_certificate():
    res = run("solve", str(NETLISTS / "divider.cir"), "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["status"] == "converged" and data["certified"] is True
    assert data["certificate"]["ok"] is True
    assert set(data["nodes"]) >= {"0"}
    assert data["timings"]["total"] >= data["timings"]["solve"]


def test_solve_csv_to_file(tmp_path):
    out = tmp_path / "v.csv"
    res = run("solve", str(NETLISTS / "stall.cir"), "--format", "csv", "-o", str(out))
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert lines[0] == "file,kind,name,value,state,current"
    rows = {ln.split(",")[2]: ln for ln in lines[1:]}
    assert float(rows["a"].split(",")[3]) == pytest.approx(0.5)
    assert ",diode,d1,,on," in rows["d1"]


def test_not_certified_exit_code_1():
    res = run("solve", str(NETLISTS / "stall.cir"), "--polish", "never")
    assert res.exit_code == 1
    assert "NOT certified" in res.output


def test_bad_netlist_exit_2_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.cir"
    bad.write_text("title\nR1 a 0 1k\nQ1 a b c model\n.end\n")
    res = run("solve", str(bad))
    assert res.exit_code == 2
    assert f"{bad}:3:" in res.output
    assert "Traceback" not in res.output


def test_floating_circuit_exit_2_names_node(tmp_path):
    bad = tmp_path / "float.cir"
    bad.write_text("title\nV1 a 0 1\nR1 a 0 1k\nR2 b c 1k\n.end\n")
    res = run("solve", str(bad))
    assert res.exit_code == 2
    assert "no resistive path" in res.output and "b" in res.output
    assert "Traceback" not in res.output


def test_missing_file_exit_2(tmp_path):
    res = run("solve", str(tmp_path / "nope.cir"))
    assert res.exit_code == 2
    assert "nope.cir" in res.output and "Traceback" not in res.output


def test_bad_option_values():
    res = run("solve", str(NETLISTS / "stall.cir"), "--omega", "2.5")
    assert res.exit_code == 2 and "--omega" in res.output


def test_solve_reference_solver_agrees():
    res = run("solve", str(NETLISTS / "stall.cir"), "--solver", "reference", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["nodes"]["a"] == pytest.approx(0.5, abs=1e-12)


def test_solve_every_bundled_netlist_certifies():
    res = run("solve", str(NETLISTS), "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert len(data) >= 12
    assert all(d["certified"] for d in data)


def test_python_api_solve():
    import resbench

    sol = resbench.solve(resbench.read_netlist(NETLISTS / "stall.cir"))
    assert sol.ok and sol.voltage("a") == pytest.approx(0.5, abs=1e-12)
    assert sol.diode_states() == ["on"]
