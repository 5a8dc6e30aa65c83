"""`resbench regress`: where it writes (--out, --report, --baseline) is checked, and --out
locked, before the suite runs: a bad path is one clear line and exit 2, never a traceback
after a long run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from lockholder import hold_lock

from resbench.cli.main import cli

BASELINE = str(Path(__file__).resolve().parent.parent / "results" / "baseline.json")
GATE = ["regress", "--baseline", BASELINE, "--case", "drn_small", "--repeats", "5"]


def _never_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the suite starts: the path errors must come first."""
    from resbench.bench import regress as R

    def boom(*args, **kwargs):
        raise AssertionError("the suite ran before the output paths were checked")

    monkeypatch.setattr(R, "run_suite", boom)
    monkeypatch.setattr(R, "run_noise_study", boom)
    monkeypatch.setattr(R, "fresh_process_run", boom)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "/proc/foo"], "error: cannot create the output folder /proc/foo: "),
        (["--out", "/proc/self"], "error: cannot write in the output folder /proc/self: "),
        (["--report", "/proc/foo/r.md"], "error: cannot create the output folder /proc/foo: "),
        (["--report", "/proc/foo/r.md", "--no-files"], "use another --report"),
        (["--update", "--baseline", "/proc/foo/b.json"], "use another --baseline"),
        (["--noise-study", "2", "--out", "/proc/foo"], "the output folder /proc/foo: "),
    ],
)
def test_bad_output_paths_stop_before_the_suite(
    monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    _never_run(monkeypatch)
    base = ["regress"] if "--noise-study" in args or "--update" in args else GATE
    res = CliRunner().invoke(cli, [*base, *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_regress_files_in_the_way_and_a_held_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _never_run(monkeypatch)
    (tmp_path / "dirs" / "regress.json").mkdir(parents=True)
    res = CliRunner().invoke(cli, [*GATE, "--out", str(tmp_path / "dirs")])
    assert res.exit_code == 2
    assert res.output.startswith(f"error: cannot write {tmp_path}/dirs/regress.json: it is a")
    (tmp_path / "r.md").mkdir()
    res = CliRunner().invoke(cli, [*GATE, "--no-files", "--report", str(tmp_path / "r.md")])
    assert res.exit_code == 2 and "is a directory" in res.output  # click's own check
    with hold_lock(tmp_path / "held") as holder:
        res = CliRunner().invoke(cli, [*GATE, "--out", str(tmp_path / "held")])
    assert res.exit_code == 2
    assert f"another resbench run (pid {holder.pid}, started " in res.output
    assert "wait for it or use another --out" in res.output


def test_real_process_out_under_proc_is_one_line() -> None:
    cmd = [sys.executable, "-m", "resbench.cli.main", *GATE, "--out", "/proc/foo"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        "error: cannot create the output folder /proc/foo: No such file or directory; "
        "use another --out (in a writable directory)"
    ]
