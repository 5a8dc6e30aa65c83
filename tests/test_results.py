"""Result files: the output folder's lock, atomic writes, clear errors, markdown tables."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pandas as pd
import pytest
from lockholder import hold_lock

from resbench.bench import results
from resbench.bench.results import (
    LOCK_NAME,
    OutputBusyError,
    atomic_write_text,
    ensure_output_dir,
    markdown_table,
    output_lock,
    write_results,
)
from resbench.errors import ResbenchError


def _cells(line: str) -> int:
    """Cells of a markdown table row: the unescaped pipes, minus one."""
    return line.replace("\\|", "").count("|") - 1


def test_markdown_table_escapes_pipes_in_headers_and_cells() -> None:
    df = pd.DataFrame({"netlist": ["a|b"], "max |Δv| (V)": [1e-7], "note": ["x\ny"]})
    lines = markdown_table(df).splitlines()
    assert lines[0] == "| netlist | max \\|Δv\\| (V) | note |"
    assert {_cells(line) for line in lines} == {3}  # every row has 3 cells: it renders
    assert lines[2] == "| a\\|b | 1e-07 | x y |"


def test_atomic_write_replaces_whole_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "f.csv"
    target.write_text("old\n")
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.csv"]

    class Boom(Exception):
        pass

    def fail(fh) -> None:
        fh.write(b"half")
        raise Boom

    with pytest.raises(Boom):
        results._atomic_write(target, fail)
    assert target.read_text() == "new\n"  # a failed write never tears the file
    assert [p.name for p in tmp_path.iterdir()] == ["f.csv"]


def test_write_errors_are_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "x_summary.csv").mkdir()
    df = pd.DataFrame({"a": [1]})
    with pytest.raises(ResbenchError, match=r"x_summary\.csv: it is a directory"):
        write_results(tmp_path, "x", samples=df, summary=df)
    with pytest.raises(ResbenchError, match="cannot create the output folder /proc/foo"):
        ensure_output_dir("/proc/foo")
    (tmp_path / "file").write_text("")
    with pytest.raises(ResbenchError, match="is not a directory; use another --out"):
        ensure_output_dir(tmp_path / "file")
    with pytest.raises(ResbenchError, match="cannot create the output folder"):
        ensure_output_dir(tmp_path / "file" / "sub")
    with pytest.raises(ResbenchError, match="cannot write in the output folder /proc/self"):
        with output_lock("/proc/self"):
            pass


def test_lock_held_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    with hold_lock(tmp_path) as holder:
        with pytest.raises(OutputBusyError) as info:
            with output_lock(tmp_path):
                pass
        msg = str(info.value)
        assert f"another resbench run (pid {holder.pid}, started 2026-01-01T00:00" in msg
        assert f"is writing to {tmp_path}; wait for it or use another --out" in msg
        df = pd.DataFrame({"a": [1]})
        with pytest.raises(OutputBusyError):
            write_results(tmp_path, "x", samples=df, summary=df)
        assert not (tmp_path / "x_summary.csv").exists()
    with output_lock(tmp_path):  # free again once the holder is gone
        with output_lock(tmp_path):  # re-entrant in one process
            info = json.loads((tmp_path / LOCK_NAME).read_text())
            assert info["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()  # removed on release


def test_lock_of_a_killed_process_is_free(tmp_path: Path) -> None:
    with hold_lock(tmp_path) as holder:
        holder.kill()
        holder.wait()
    assert (tmp_path / LOCK_NAME).exists()  # left behind by the kill
    stale = tmp_path / ".x_summary.csv.k2j4.resbench-tmp"  # a write cut short by the kill
    stale.write_text("half")
    (tmp_path / ".mine.tmp").write_text("not ours")
    with output_lock(tmp_path):
        assert not stale.exists()  # cleaned up once the folder is ours
    assert sorted(p.name for p in tmp_path.iterdir()) == [".mine.tmp"]


def _write_many(folder: str, tag: str, n: int) -> None:
    for _ in range(n):
        df = pd.DataFrame({"run": [tag] * 50, "k": range(50)})
        try:
            write_results(folder, "x", samples=df, summary=df, sidecar_data={"run": tag})
        except OutputBusyError:
            pass


def test_concurrent_writers_never_tear_or_mix_files(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), t, 8)) for t in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    summary = pd.read_csv(tmp_path / "x_summary.csv")
    samples = pd.read_csv(tmp_path / "x_samples.csv")
    meta = json.loads((tmp_path / "x.json").read_text())
    assert len(summary) == 50 and summary["run"].nunique() == 1
    assert set(samples["run"]) == set(summary["run"]) == {meta["run"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "x.json",
        "x_samples.csv",
        "x_summary.csv",
        "x_summary.md",
    ]
