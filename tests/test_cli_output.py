"""CLI hardening (issue 10): clean errors for bad outputs and options, `-o` format
inference, valid JSON, 80-column tables, `--solver ngspice`, `Solution.to_frame()`."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from resbench.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
NETLISTS = ROOT / "netlists"
STALL = str(NETLISTS / "stall.cir")


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def strict_json(text: str):
    """json.loads that refuses Infinity / NaN (Python's json accepts them by default)."""

    def refuse(name: str):
        raise ValueError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def assert_one_clean_line(res, *needles: str) -> None:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    for needle in needles:
        assert needle in res.output, res.output


# ----------------------------------------------------------------- -o targets


def test_solve_output_into_missing_directory_creates_it(tmp_path):
    out = tmp_path / "new" / "deeper" / "v.json"
    res = run("solve", STALL, "-o", str(out))
    assert res.exit_code == 0, res.output
    assert strict_json(out.read_text())["nodes"]["a"] == pytest.approx(0.5)


def test_generate_output_into_missing_directory_creates_it(tmp_path):
    out = tmp_path / "big" / "drn.cir"
    res = run("generate", "drn", "--layers", "4,3,2", "-o", str(out))
    assert res.exit_code == 0, res.output
    import resbench

    assert resbench.read_netlist(out).sizes()["resistors"] > 0


@pytest.mark.parametrize("command", ["solve", "generate"])
def test_output_to_dev_full_is_one_clean_line(command):
    args = [command, STALL] if command == "solve" else [command, "drn", "--layers", "4,3,2"]
    res = run(*args, "-o", "/dev/full")
    assert_one_clean_line(res, "/dev/full", "No space left on device")


@pytest.mark.parametrize("target", ["/proc/resbench-no-such/out.txt", "/sys/resbench-no/x.csv"])
@pytest.mark.parametrize("command", ["solve", "generate"])
def test_output_under_proc_and_sys_is_one_clean_line(command, target):
    args = [command, STALL] if command == "solve" else [command, "drn", "--layers", "4,3,2"]
    res = run(*args, "-o", target)
    assert_one_clean_line(res, "cannot write", target.split("/")[1])


def test_output_that_is_a_directory_is_one_clean_line(tmp_path):
    res = run("solve", STALL, "-o", str(tmp_path))
    assert_one_clean_line(res, str(tmp_path))


def test_output_write_is_atomic_and_keeps_mode(tmp_path):
    out = tmp_path / "v.csv"
    out.write_text("old\n")
    out.chmod(0o640)
    assert run("solve", STALL, "-o", str(out)).exit_code == 0
    assert out.read_text().startswith("file,kind,name")
    assert out.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.csv"]  # no temp file left


# ------------------------------------------------------- errors from anywhere


def test_oserror_reading_a_netlist_is_one_line_and_other_files_still_solve(monkeypatch):
    import resbench.netlist as netlist

    real = netlist.read_netlist

    def fake(path, *a, **k):
        if "divider" in str(path):
            raise OSError(5, "Input/output error", str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(netlist, "read_netlist", fake)
    res = run("solve", str(NETLISTS / "divider.cir"), STALL, "--format", "json")
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "divider.cir: Input/output error" in res.output
    # stall.cir was still solved and printed
    assert '"a": 0.5' in res.output


def test_any_oserror_escaping_a_command_is_exit_2_one_line(monkeypatch):
    import resbench.cli.info as info

    def broken():
        raise PermissionError(13, "Permission denied", "/some/where")

    monkeypatch.setattr(info, "environment_report", broken)
    res = run("info")
    assert_one_clean_line(res, "error: /some/where: Permission denied")
    assert len(res.output.strip().splitlines()) == 1


def test_broken_pipe_is_quiet_exit_141(monkeypatch):
    import resbench.cli.info as info

    def broken():
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(info, "environment_report", broken)
    res = run("info")
    assert res.exit_code == 141
    assert res.output == ""


def test_ctrl_c_is_exit_130(monkeypatch):
    import resbench.cli.info as info

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(info, "environment_report", interrupted)
    res = run("info")
    assert res.exit_code == 130 and "interrupted" in res.output
    assert "Traceback" not in res.output


def test_memory_error_is_exit_2_one_line(monkeypatch):
    import resbench.cli.info as info

    def broken():
        raise MemoryError()

    monkeypatch.setattr(info, "environment_report", broken)
    res = run("info")
    assert_one_clean_line(res, "out of memory")


# ------------------------------------------------------------ format from -o


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("v.csv", lambda t: t.startswith("file,kind,name,value,state,current")),
        ("v.json", lambda t: strict_json(t)["status"] == "converged"),
        ("v.md", lambda t: "| node | voltage (V) |" in t and "|---" in t),
        ("v.txt", lambda t: "node voltages" in t and "certificate" in t),
        ("v", lambda t: "node voltages" in t),
    ],
)
def test_output_format_follows_the_extension(tmp_path, name, check):
    out = tmp_path / name
    res = run("solve", STALL, "-o", str(out))
    assert res.exit_code == 0, res.output
    assert check(out.read_text()), out.read_text()


def test_dash_is_standard_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run("solve", STALL, "--format", "json", "-o", "-")
    assert res.exit_code == 0, res.output
    assert strict_json(res.output)["nodes"]["a"] == pytest.approx(0.5)
    assert not (tmp_path / "-").exists()


def test_explicit_format_wins_over_the_extension(tmp_path):
    out = tmp_path / "v.csv"
    assert run("solve", STALL, "--format", "json", "-o", str(out)).exit_code == 0
    assert strict_json(out.read_text())["nodes"]["a"] == pytest.approx(0.5)


def test_markdown_to_stdout_has_every_table():
    res = run("solve", str(NETLISTS / "every_construct.cir"), "--format", "md", "--diodes")
    assert res.exit_code == 0, res.output
    text = res.output
    assert "| node | voltage (V) |" in text
    assert "| diode |" in text and "| source |" in text
    assert "certified" in text


# ------------------------------------------------------------- bad options


BAD_OPTIONS = [
    ("solve", STALL, "--tol", "-1"),
    ("solve", STALL, "--tol", "nan"),
    ("solve", STALL, "--tol", "0"),
    ("solve", STALL, "--max-sweeps", "-5"),
    ("solve", STALL, "--max-sweeps", "0"),
    ("solve", STALL, "--gmin", "nan"),
    ("solve", STALL, "--gmin", "inf"),
    ("solve", STALL, "--gmin", "-1"),
    ("solve", STALL, "--rtol", "nan"),
    ("solve", STALL, "--rtol", "-1e-9"),
    ("solve", STALL, "--omega", "0"),
    ("solve", STALL, "--omega", "2"),
    ("solve", STALL, "--omega", "nan"),
    ("solve", STALL, "--omega", "fast"),
    ("solve", STALL, "--limit", "-1"),
    ("solve", STALL, "--solver", "ngspice", "--timeout", "-1"),
    ("compare", STALL, "--atol", "nan"),
    ("compare", STALL, "--atol", "inf"),
    ("compare", STALL, "--timeout", "-1"),
    ("compare", STALL, "--timeout", "inf"),
    ("compare", STALL, "--repeats", "0"),
    ("compare", STALL, "--warmup", "-1"),
    ("compare", STALL, "--gmin", "nan"),
    ("scale", "--point-budget", "nan"),
    ("scale", "--atol", "-1"),
    ("scale", "--timeout", "nan"),
    ("scale", "--repeats", "0"),
    ("regress", "--factor", "nan"),
    ("regress", "--alpha", "nan"),
    ("regress", "--atol", "nan"),
    ("regress", "--timeout", "0"),
    ("regress", "--inject-error", "nan"),
    ("regress", "--inject-error", "inf"),
    ("generate", "drn", "--gain", "nan"),
    ("generate", "drn", "--gain", "inf"),
    ("generate", "random", "--degree", "inf"),
    ("generate", "random", "--diodes", "nan"),
]


@pytest.mark.parametrize("args", BAD_OPTIONS, ids=lambda a: " ".join(a).replace(STALL, "X"))
def test_invalid_option_values_are_usage_errors(args):
    res = run(*args)
    assert res.exit_code == 2, res.output
    assert "Invalid value" in res.output, res.output
    assert "Traceback" not in res.output


def test_solver_only_options_refused_for_other_solvers():
    res = run("solve", STALL, "--solver", "reference", "--tol", "1e-6")
    assert res.exit_code == 2 and "--tol" in res.output and "cd" in res.output
    res = run("solve", STALL, "--spice-mode", "batch")
    assert res.exit_code == 2 and "--spice-mode" in res.output and "ngspice" in res.output


# -------------------------------------------------------- non-finite answers


def test_overflowing_circuit_gives_valid_json_and_never_converged(tmp_path):
    net = tmp_path / "huge.cir"
    net.write_text("overflow\nI1 0 a 1e160\nR1 a 0 1e160\n.end\n")
    res = run("solve", str(net), "--format", "json")
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert "Infinity" not in res.output and "NaN" not in res.output
    assert '"converged"' not in res.output
    res = run("solve", str(net))
    assert res.exit_code == 2
    assert "converged" not in res.output


def test_to_dict_maps_non_finite_to_null_and_failed():
    import numpy as np

    import resbench
    from resbench.solution import CONVERGED, FAILED, Solution

    circuit = resbench.read_netlist(NETLISTS / "divider.cir")
    v = np.full(circuit.n_nodes, np.inf)
    v[0] = 0.0
    sol = Solution(circuit, v, "cd", CONVERGED, residual=float("nan"), info={"x": float("inf")})
    assert sol.status == FAILED and not sol.ok
    assert "non-finite" in sol.info["error"]
    d = sol.to_dict()
    text = json.dumps(d, allow_nan=False)  # raises on inf / nan
    assert d["residual"] is None and d["info"]["x"] is None
    assert all(x is None for k, x in d["nodes"].items() if k != "0")
    assert strict_json(text)["status"] == "failed"


# ------------------------------------------------------------ 80 columns


def test_default_table_fits_80_columns_and_wide_shows_everything():
    res = run("solve", str(NETLISTS / "every_construct.cir"), "--diodes")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(len(ln) for ln in lines) <= 80
    # footers are whole lines, never wrapped in the middle of a phrase
    assert any(
        re.fullmatch(r"time: setup \S+ ms \+ solve \S+ ms = total \S+ ms", ln) for ln in lines
    )
    assert any(re.fullmatch(r"  tolerances: \S+ V, \S+ A, \S+ W", ln) for ln in lines), lines
    assert "anode" not in res.output and "cathode" not in res.output
    wide = run("solve", str(NETLISTS / "every_construct.cir"), "--diodes", "--wide")
    assert wide.exit_code == 0, wide.output
    for col in ("anode", "cathode", "┃ + ", "┃ - "):
        assert col in wide.output, col


# ------------------------------------------------------------ all-zero sources


def test_all_zero_sources_print_a_sensible_tolerance(tmp_path):
    net = tmp_path / "zero.cir"
    net.write_text("zero\nV1 a 0 0\nR1 a b 1k\nR2 b 0 1k\n.end\n")
    res = run("solve", str(net))
    assert res.exit_code == 0, res.output
    assert "e-317" not in res.output and "e-308" not in res.output
    m = re.search(r"tolerances: (\S+) V, (\S+) A, (\S+) W", res.output)
    assert m, res.output
    assert all(float(x) >= 1e-30 for x in m.groups())


# ------------------------------------------------------------ ngspice solver


@pytest.mark.spice
def test_solve_with_ngspice_from_the_cli():
    # ngspice's switch diode (RON = 10 µΩ) is off the ideal answer by ~5e-9 V: it does not
    # certify at the default rtol 1e-9 (exit 1), it does at 1e-6
    strict = run("solve", STALL, "--solver", "ngspice", "--format", "json")
    assert strict.exit_code == 1, strict.output
    assert strict_json(strict.output)["certified"] is False
    res = run("solve", STALL, "--solver", "ngspice", "--rtol", "1e-6", "--format", "json")
    assert res.exit_code == 0, res.output
    d = strict_json(res.output)
    assert d["solver"] == "ngspice" and d["status"] == "converged" and d["certified"] is True
    assert d["nodes"]["a"] == pytest.approx(0.5, abs=1e-6)
    assert d["certificate"] is not None
    assert d["timings"]["analysis"] > 0 and d["timings"]["total"] > 0
    table = run("solve", STALL, "--solver", "ngspice", "--spice-mode", "batch")
    assert table.exit_code in (0, 1), table.output  # the switch model may not certify as ideal
    assert "solver: ngspice" in table.output and "analysis" in table.output
    # the timing breakdown stays whole lines at 80 columns
    lines = table.output.splitlines()
    assert any(re.fullmatch(r"  ngspice: analysis \S+ m?s, fetch \S+ m?s", ln) for ln in lines)


def test_solve_with_ngspice_missing_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no ngspice executable on PATH
    res = run("solve", STALL, "--solver", "ngspice", "--spice-mode", "batch")
    assert_one_clean_line(res, "ngspice executable not found")


# ------------------------------------------------------------ progress


def test_phase_status_goes_to_stderr_only_when_large(monkeypatch, tmp_path):
    from rich.console import Console

    import resbench.cli.solve as solve_mod

    buf = io.StringIO()
    monkeypatch.setattr(
        solve_mod, "_stderr_console", lambda: Console(file=buf, force_terminal=True, width=80)
    )
    monkeypatch.setattr(solve_mod, "PROGRESS_MIN_ELEMENTS", 0)
    res = CliRunner().invoke(cli, ["solve", STALL, "--format", "json"])
    assert res.exit_code == 0, res.output
    strict_json(res.stdout)  # stdout holds only the JSON
    seen = buf.getvalue()
    for phase in ("parsing", "solving", "certifying"):
        assert phase in seen, seen
    # small work (the default threshold): nothing on stderr
    buf2 = io.StringIO()
    monkeypatch.setattr(
        solve_mod, "_stderr_console", lambda: Console(file=buf2, force_terminal=True, width=80)
    )
    monkeypatch.setattr(solve_mod, "PROGRESS_MIN_ELEMENTS", 100_000)
    assert CliRunner().invoke(cli, ["solve", STALL, "--format", "json"]).exit_code == 0
    assert buf2.getvalue() == ""


# ------------------------------------------------------------ to_frame


def test_to_frame_nodes_diodes_and_sources():
    import pandas as pd

    import resbench

    sol = resbench.solve(resbench.read_netlist(NETLISTS / "every_construct.cir"))
    nodes = sol.to_frame()
    assert isinstance(nodes, pd.DataFrame)
    assert list(nodes.columns) == ["node", "voltage"]
    assert len(nodes) == sol.circuit.n_nodes
    assert nodes.set_index("node")["voltage"].to_dict() == sol.as_dict()
    diodes = sol.to_frame("diodes")
    assert list(diodes.columns) == ["name", "anode", "cathode", "state", "current"]
    assert len(diodes) == len(sol.circuit.diodes)
    assert set(diodes["state"]) <= {"on", "off"}
    src = sol.to_frame("vsources")
    assert list(src.columns) == ["name", "plus", "minus", "voltage", "current"]
    assert src["current"].notna().all()
    with pytest.raises(ValueError, match="nodes, diodes or vsources"):
        sol.to_frame("resistors")


def test_cli_does_not_leave_temp_files(tmp_path):
    out = tmp_path / "o" / "v.json"
    assert run("solve", STALL, "-o", str(out)).exit_code == 0
    assert os.listdir(out.parent) == ["v.json"]


def test_stdout_console_closed_pipe_is_the_common_exit_not_rich_exit_1():
    from resbench.cli.solve import _StdoutConsole

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    console = _StdoutConsole(file=ClosedPipe())
    with pytest.raises(BrokenPipeError):  # rich's own handler would raise SystemExit(1)
        console.print("node voltages")


# --------------------------------------------------------------------------- non-unique answers
NON_UNIQUE = """node m joined only by two diodes, both off: any m <= 0.5 V is optimal
V1 a 0 1
R1 a b 1k
R2 b 0 1k
D1 m b dm
D2 m a dm
.model dm D
.end
"""


def test_solve_says_when_the_answer_is_not_unique(tmp_path: Path) -> None:
    net = tmp_path / "nu.cir"
    net.write_text(NON_UNIQUE)
    res = run("solve", str(net))
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "answer NOT UNIQUE" in text and "m by any amount in [-inf, +0] V" in text
    assert "Shown: the SPICE limit" in text
    assert all(len(line) <= 80 for line in res.output.splitlines())
    data = json.loads(run("solve", str(net), "--format", "json").output)
    info = data[0]["info"] if isinstance(data, list) else data["info"]
    assert info["unique"] is False and info["non_unique_nodes"] == "m"
    series = tmp_path / "series.cir"
    series.write_text(
        "series diodes: unique\nV1 a 0 1\nR1 a b 1k\nD1 b c dm\nR2 c d 1k\nD2 d e dm\n"
        "R3 e 0 1k\n.model dm D\n.end\n"
    )
    assert "NOT UNIQUE" not in run("solve", str(series)).output
