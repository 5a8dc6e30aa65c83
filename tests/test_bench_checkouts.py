"""scripts/bench_checkouts.py: paired timings of checkouts, one process each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "bench_checkouts.py"


def test_two_names_for_this_checkout_both_measured() -> None:
    """A tiny real run: this checkout under two names, one round each; every case has
    a positive time for the solve and for the certified run (their order is left to
    the clock: these are timings)."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--checkout", f"a={ROOT}", "--checkout", f"b={ROOT}",
         "--rounds", "1", "--calls", "2", "xs:8:digits:float64", "xs:8:random:float32"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for case in ("xs:8:digits:float64", "xs:8:random:float32"):
        i = lines.index(case)
        for row in lines[i + 1 : i + 3]:
            name, solve, _, cert, cost = row.split()
            assert name in ("a", "b") and float(solve) > 0 and float(cert) > 0
            assert cost.startswith("(") and cost.endswith("x)")


def test_a_folder_that_is_not_a_checkout_is_refused(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--checkout", f"x={tmp_path}", "xs:8:digits:float64"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "resbench checkout" in done.stderr
