"""resbench.defaults: one list of netlist suffixes and one finder for every command; the
CLI's choices and defaults come from it, never from copies."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import resbench.bench.compare as bench_compare
from resbench import defaults
from resbench.cli.main import cli
from resbench.errors import ResbenchError

DIVIDER = "divider\nV1 in 0 DC 10\nR1 in out 1k\nR2 out 0 1k\n.end\n"

#: files of a directory and whether a directory argument picks them
LAYOUT = {
    "a.cir": True,
    "b.sp": True,
    "c.net": True,
    "d.spice": True,
    "e.spi": True,
    "f.ckt": True,
    "G.CIR": True,
    "h.Sp": True,
    "notes.txt": False,
    "readme.md": False,
    "sub/i.cir": True,
    "lib/inc.cir": False,
    "LIB/j.cir": False,
    "sub/lib/k.cir": False,
}


def _tree(root: Path) -> list[str]:
    """Write LAYOUT under root; return the files a directory argument should pick, sorted
    as the finder sorts them (by path)."""
    for name in LAYOUT:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(DIVIDER)
    return sorted((name for name, picked in LAYOUT.items() if picked), key=lambda n: root / n)


def test_find_netlists_picks_every_suffix_in_any_case_and_skips_lib(tmp_path: Path) -> None:
    want = _tree(tmp_path)
    found = [p.relative_to(tmp_path).as_posix() for p in defaults.find_netlists([tmp_path])]
    assert found == want


def test_find_netlists_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.cir"
    with pytest.raises(ResbenchError, match="no such file"):
        defaults.find_netlists([missing])
    assert defaults.find_netlists([missing], must_exist=False) == [missing]


def test_solve_and_compare_pick_the_same_files(tmp_path: Path, monkeypatch) -> None:
    """The bug this module ended: `solve dir/` and `compare dir/` used different suffix
    lists.  Both commands, run on one directory, now see the same files."""
    want = _tree(tmp_path)
    res = CliRunner().invoke(cli, ["solve", str(tmp_path), "--format", "json"])
    assert res.exit_code == 0, res.output
    solved = [Path(d["source"]).resolve() for d in json.loads(res.output)]

    seen: list[Path] = []

    def fake_run_compare(files, opts, **kwargs):  # noqa: ANN001, ANN003, ANN202
        seen.extend(Path(f).resolve() for f in files)
        raise ResbenchError("stopped by the test")

    monkeypatch.setattr(bench_compare, "run_compare", fake_run_compare)
    res = CliRunner().invoke(cli, ["compare", str(tmp_path), "--no-files"])
    assert res.exit_code == 2 and "stopped by the test" in res.output
    expected = [(tmp_path / n).resolve() for n in want]
    assert solved == expected
    assert seen == expected


def _choice(command: str, option: str) -> click.Choice:
    cmd = cli.commands[command]
    param = next(p for p in cmd.params if p.name == option)
    assert isinstance(param.type, click.Choice)
    return param.type


def test_cli_choices_come_from_defaults() -> None:
    assert tuple(_choice("compare", "spice_mode").choices) == defaults.NGSPICE_MODES
    assert tuple(_choice("compare", "diode_model").choices) == defaults.DIODE_MODELS
    assert tuple(_choice("solve", "spice_mode").choices) == defaults.NGSPICE_MODES
    assert tuple(_choice("generate", "family").choices) == defaults.FAMILIES
    assert tuple(_choice("generate", "preset").choices) == defaults.DRN_PRESETS
    assert tuple(_choice("scale", "family").choices) == defaults.FAMILIES


def test_library_constants_are_the_defaults() -> None:
    """Modules that expose these names re-export the one value, not a copy."""
    from resbench.bench import regress, scale
    from resbench.cli import options
    from resbench.generate import PRESETS

    assert bench_compare.DEFAULT_ATOL is defaults.DEFAULT_ATOL
    assert scale.DEFAULT_ATOL is defaults.DEFAULT_ATOL
    assert regress.DEFAULT_ATOL is defaults.DEFAULT_ATOL
    assert options.DEFAULT_ATOL is defaults.DEFAULT_ATOL
    assert scale.FAMILIES is defaults.FAMILIES
    assert bench_compare.NETLIST_SUFFIXES is defaults.NETLIST_SUFFIXES
    assert tuple(PRESETS) == defaults.DRN_PRESETS
    from resbench.solvers import ngspice

    assert ngspice.MODES is defaults.NGSPICE_MODES
    assert ngspice.DIODE_MODELS is defaults.DIODE_MODELS
    assert ngspice.DEFAULT_TIMEOUT is defaults.DEFAULT_TIMEOUT
    assert bench_compare.CompareOptions().timeout is defaults.DEFAULT_TIMEOUT
