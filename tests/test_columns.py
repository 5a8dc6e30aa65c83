"""Summary columns declared once (resbench.bench.columns): CSV, markdown and terminal
tables of compare and scale all follow the declaration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from resbench.bench import columns as C
from resbench.bench import compare, scale
from resbench.bench.columns import Column
from resbench.cli.compare import render_table as compare_table
from resbench.cli.scale import render_table as scale_table

# The CSV columns as they were before the declaration existed: files written by older
# runs (and scripts reading them) keep working.  A deliberate change updates this pin.
COMPARE_CSV = (
    "netlist status nodes resistors diodes vsources isources fast_solver fast_status "
    "spice_status max_abs_diff max_rel_diff worst_node agree fast_certified "
    "fast_feasibility fast_kcl fast_complementarity spice_certified spice_feasibility "
    "spice_kcl spice_complementarity fast_total_median fast_total_min fast_total_max "
    "fast_setup_median fast_solve_median fast_compile spice_total_median spice_total_min "
    "spice_total_max spice_setup_median spice_solve_median spice_startup speedup_total "
    "speedup_solve repeats message"
).split()
SCALE_CSV = (
    "family size seed solver status nodes resistors diodes vsources isources repeats "
    "total_median total_min total_max solve_median solve_min solve_max setup_median compile "
    "startup sweeps residual peak_rss mem_delta bytes_per_resistor circuit_bytes mem_method "
    "speedup_total speedup_solve max_abs_diff max_rel_diff worst_node agree certified "
    "feasibility kcl complementarity build_seconds run_id message"
).split()

#: a column added by a test: a value computed from a row field, shown only with --wide
EXTRA = Column(
    "rel_diff_percent",
    "rel Δv (%)",
    "rel Δv %",
    cell="fmt:.2g",
    wide=True,
    value=lambda row: None if row.get("max_rel_diff") is None else 100 * row["max_rel_diff"],
)


def test_csv_columns_are_unchanged() -> None:
    assert C.csv_names(C.COMPARE) == compare.SUMMARY_COLUMNS == COMPARE_CSV
    assert C.csv_names(C.SCALE) == scale.SUMMARY_COLUMNS == SCALE_CSV


def test_every_column_has_a_known_format_and_one_name() -> None:
    for decl in (C.COMPARE, C.SCALE):
        names = [c.name for c in decl]
        assert len(names) == len(set(names))
        shown = C.in_table(decl, wide=False)
        assert shown and all(not c.wide for c in shown)
        assert set(C.in_table(decl, wide=True)) >= set(shown)
    with pytest.raises(ValueError, match="unknown cell format"):
        Column("x", cell="colour")


def _text(table) -> str:
    console = Console(width=250, record=True)
    console.print(table)
    return console.export_text()


def test_a_new_compare_column_reaches_csv_markdown_and_wide_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(C, "COMPARE", (*C.COMPARE, EXTRA))
    row = {
        "netlist": "a.cir",
        "status": "ok",
        "nodes": 3,
        "resistors": 2,
        "diodes": 0,
        "fast_solver": "cd",
        "max_abs_diff": 2e-9,
        "max_rel_diff": 0.0123,
        "worst_node": "mid",
        "fast_certified": True,
        "spice_certified": True,
        "fast_total_median": 1e-4,
        "spice_total_median": 2e-2,
        "speedup_total": 200.0,
        "speedup_solve": 150.0,
    }
    summary, samples = compare._frames([row], [])
    run = compare.CompareRun(summary, samples, compare.CompareOptions(), 0, planned=1)
    files = compare.write_compare_files(run, tmp_path)
    csv = pd.read_csv(files["summary"])
    assert list(csv.columns) == [*COMPARE_CSV, "rel_diff_percent"]
    assert csv["rel_diff_percent"].iloc[0] == pytest.approx(1.23)
    header = next(line for line in files["markdown"].read_text().splitlines() if "|" in line)
    assert header.endswith("| rel Δv (%) |")
    assert "rel Δv %" in _text(compare_table(summary, "cd", 1e-6, wide=True))
    narrow = _text(compare_table(summary, "cd", 1e-6))
    assert "rel Δv" not in narrow and "a.cir" in narrow


def test_a_new_scale_column_reaches_csv_markdown_and_wide_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(C, "SCALE", (*C.SCALE, EXTRA))
    summary = scale.run_scale("grid", "3", solvers=["cd"], repeats=1, warmup=0, out=tmp_path)
    csv = pd.read_csv(tmp_path / "scale_summary.csv")
    assert list(csv.columns) == [*SCALE_CSV, "rel_diff_percent"]
    assert np.isnan(csv["rel_diff_percent"].iloc[0])  # cd alone: nothing to compare with
    md = (tmp_path / "scale_summary.md").read_text().splitlines()
    assert next(line for line in md if line.startswith("| size")).endswith("| rel Δv (%) |")
    assert "rel Δv %" in _text(scale_table(summary, "grid", wide=True))
    assert "rel Δv" not in _text(scale_table(summary, "grid"))
