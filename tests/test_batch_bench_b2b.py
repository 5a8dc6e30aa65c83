"""The batch benchmark's back-to-back timing (resbench.bench.batch_bench, issue 12
item 5; docs/batch.md, "Calls after a pause").

Every method of a cell must get exactly the same treatment: the same number of
blocks of the same number of calls, in rounds whose order rotates.  These tests
check the order of the calls with fake runners that record it, the rows and raw
samples of a tiny real run, failures, and that switching it off leaves the old
columns with NaN in the new ones.  No timing is asserted.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from resbench.bench import batch_bench as bb
from resbench.bench.paper import ENV_VAR
from resbench.errors import ResbenchError

_TINY = dict(
    presets=("8-6-4",), sizes=(1, 3), threads=(1,), repeats=5, inputs="random", dtypes=("float64",)
)


def _recorders(names: list[str], calls: list[str]) -> dict[str, Callable[[], str]]:
    """Runners that append their name to ``calls`` and return it."""

    def make(name: str) -> Callable[[], str]:
        def run() -> str:
            calls.append(name)
            return name

        return run

    return {n: make(n) for n in names}


def _blocks(order: list[str], k: int) -> list[str]:
    return [n for n in order for _ in range(k)]


def test_calls_are_rotated_blocks_of_one_method():
    """Warm-up, the interleaved repeats, then round r = every method ``k`` times in a
    row, starting at method r: a b c, b c a, c a b, a b c."""
    calls: list[str] = []
    names = ["a", "b", "c"]
    cell = bb._Cell("p", 4, "float64", 1)
    last = bb._run_cell(cell, _recorders(names, calls), repeats=5, b2b=3, b2b_rounds=4)
    rounds = [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    expect = names + names * 5 + [c for order in rounds for c in _blocks(order, 3)]
    assert calls == expect
    assert last == {"a": "a", "b": "b", "c": "c"}
    assert {n: len(xs) for n, xs in cell.seconds.items()} == {"a": 5, "b": 5, "c": 5}
    for n in names:  # same treatment: 4 blocks of 3 timed calls each
        assert [len(b) for b in cell.b2b[n]] == [3, 3, 3, 3]
    assert not cell.errors


def test_off_is_the_interleaved_calls_only():
    calls: list[str] = []
    cell = bb._Cell("p", 2, "float64", 1)
    bb._run_cell(cell, _recorders(["a", "b"], calls), repeats=5)
    assert calls == ["a", "b"] * 6 and cell.b2b == {}
    row = bb._summary_row(cell, np.zeros(1), "exact")
    for m in ("resbench", "resbench+cert", "paper"):
        for key in (f"{m}_b2b_us", f"{m}_b2b_us_min", f"{m}_b2b_first_us"):
            assert math.isnan(row[key])
    assert math.isnan(row["speedup_b2b"]) and math.isnan(row["speedup_cert_b2b"])


def test_failure_back_to_back_keeps_the_interleaved_times():
    """A runner that raises in a back-to-back block loses its back-to-back times only
    (error ``name@b2b``); the others finish their rounds."""
    calls: list[str] = []
    runners = _recorders(["resbench", "paper"], calls)
    n = {"k": 0}

    def flaky() -> str:
        n["k"] += 1
        if n["k"] > 1 + 5 + 2:  # warm-up, 5 interleaved, the first block
            raise RuntimeError("gave up")
        return "cert"

    runners = {"resbench": runners["resbench"], "resbench+cert": flaky, "paper": runners["paper"]}
    cell = bb._Cell("p", 2, "float64", 1)
    last = bb._run_cell(cell, runners, repeats=5, b2b=2, b2b_rounds=3)
    assert cell.errors == {"resbench+cert@b2b": "failed: RuntimeError: gave up"}
    assert last["resbench+cert"] == "cert" and len(cell.seconds["resbench+cert"]) == 5
    assert cell.b2b["resbench+cert"] == []
    assert [len(b) for b in cell.b2b["resbench"]] == [2, 2, 2]
    assert [len(b) for b in cell.b2b["paper"]] == [2, 2, 2]
    row = bb._summary_row(cell, np.zeros(1), "exact")
    assert row["resbench+cert_us"] > 0 and math.isnan(row["resbench+cert_b2b_us"])
    assert bb._span(row, "resbench+cert") != "failed"
    assert bb._span(row, "resbench+cert", "_b2b") == "failed"
    assert row["speedup_b2b"] > 0 and math.isnan(row["speedup_cert_b2b"])


def test_summary_drops_the_first_call_of_each_block():
    """``_b2b_us`` is the median of calls 2 … k of the blocks, ``_b2b_first_us`` of
    their first calls (µs per sample: seconds / batch · 1e6)."""
    cell = bb._Cell("p", 2, "float64", 1)
    cell.seconds = {"resbench": [1e-6] * 5, "paper": [8e-6] * 5}
    cell.b2b = {
        "resbench": [[9e-6, 2e-6, 4e-6], [7e-6, 6e-6, 2e-6]],
        "paper": [[20e-6, 10e-6, 12e-6], [30e-6, 14e-6, 12e-6]],
    }
    row = bb._summary_row(cell, np.zeros(1), "exact")
    assert row["resbench_b2b_us"] == pytest.approx(1.5)  # median of 1, 2, 3, 1
    assert row["resbench_b2b_us_min"] == pytest.approx(1.0)
    assert row["resbench_b2b_us_max"] == pytest.approx(3.0)
    assert row["resbench_b2b_first_us"] == pytest.approx(4.0)  # median of 4.5, 3.5
    assert row["paper_b2b_us"] == pytest.approx(6.0)  # median of 5, 6, 7, 6
    assert row["speedup_b2b"] == pytest.approx(4.0) and row["speedup"] == pytest.approx(8.0)


def test_config_checks_the_options():
    for bad, words in [
        (dict(b2b=1), "--b2b"),
        (dict(b2b=-2), "--b2b"),
        (dict(b2b_rounds=0), "--b2b-rounds"),
    ]:
        with pytest.raises(ResbenchError, match=words):
            bb.BatchBenchConfig(**bad).check()
    assert bb.BatchBenchConfig(b2b=0).check().b2b == 0


def test_script_options():
    path = Path(__file__).resolve().parents[1] / "scripts" / "bench_batch.py"
    spec = importlib.util.spec_from_file_location("bench_batch_script_b2b", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cfg, *_ = mod.parse(["--quick", "--b2b", "5", "--b2b-rounds", "6"])
    assert (cfg.b2b, cfg.b2b_rounds) == (5, 6)
    cfg, *_ = mod.parse(["--b2b", "0"])
    assert cfg.b2b == 0 and cfg.b2b_rounds == bb.DEFAULT.b2b_rounds
    cfg, *_ = mod.parse([])
    assert (cfg.b2b, cfg.b2b_rounds) == (bb.DEFAULT.b2b, bb.DEFAULT.b2b_rounds)


def test_tiny_run_rows_samples_and_pages(tmp_path, monkeypatch):
    """A tiny real run with back to back on, without the paper: every row has the
    back-to-back columns (paper: NaN, 'skipped' on the page), the samples carry
    round and call, the page has both tables; with it off, the page says so."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    cfg = bb.BatchBenchConfig(**_TINY, paper_code=str(tmp_path), b2b=2, b2b_rounds=3)
    result = bb.run_batch_bench(cfg)
    assert result["paper_status"].startswith("skipped: ")
    for r in result["rows"]:
        for m in ("resbench", "resbench+cert"):
            assert 0 < r[f"{m}_b2b_us_min"] <= r[f"{m}_b2b_us"] <= r[f"{m}_b2b_us_max"]
            assert r[f"{m}_b2b_first_us"] > 0
        assert math.isnan(r["paper_b2b_us"]) and math.isnan(r["speedup_b2b"])
    b2b = [s for s in result["samples"] if s["method"].endswith("@b2b")]
    assert len(b2b) == 2 * 2 * 2 * 3  # cells x methods x calls x rounds
    assert {s["method"] for s in b2b} == {"resbench@b2b", "resbench+cert@b2b"}
    cell = [s for s in b2b if s["batch"] == 3 and s["method"] == "resbench@b2b"]
    assert [(s["round"], s["call"], s["run"]) for s in cell] == [
        (r, k, 2 * r + k) for r in range(3) for k in range(2)
    ]
    assert len(result["samples"]) - len(b2b) == 2 * 2 * 5  # the interleaved ones
    paths = bb.write_batch_bench(result, tmp_path / "on")
    page = paths["markdown"].read_text()
    assert "### Back to back" in page and "stays the primary comparison" in page
    assert page.count("| DRN 8-6-4 | 3 | float64 | 1 |") == 2  # both tables
    back = page.split("### Back to back")[1]
    assert "| skipped |  |  | " in back and "/ skipped |" in back  # the paper's columns
    meta = json.loads(paths["sidecar"].read_text())
    assert meta["config"]["b2b"] == 2 and "resbench_b2b_us" in meta["rows"][0]

    off = bb.run_batch_bench(bb.BatchBenchConfig(**_TINY, paper_code=str(tmp_path), b2b=0))
    assert not any(s["method"].endswith("@b2b") for s in off["samples"])
    assert all(math.isnan(r["resbench_b2b_us"]) for r in off["rows"])
    page = bb.write_batch_bench(off, tmp_path / "off")["markdown"].read_text()
    assert "### Back to back" not in page and "Back to back: not run (`--b2b 0`)." in page
