"""Test-suite settings shared by every test file.

Hypothesis runs derandomized and without its example database: the examples a test
draws are the same on every machine and every run, so CI passes or fails on the code,
never on a new random draw (two random tests failed CI this way on 2026-12-01; each was
a real bug or a tolerance question, now pinned by a regression test).  A test's own
``@settings`` still sets its example count and health checks.  To explore new examples
locally: ``RESBENCH_HYPOTHESIS_PROFILE=explore pytest …`` (random draws, as Hypothesis's
default); counts written ``max_examples=examples(n)`` (tests/strategies.py) then draw ten
times as many examples, for deep runs beyond what CI repeats on every push.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from strategies import PROFILE

settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(PROFILE)


@pytest.fixture
def unrendered_plots(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Figures built but not rendered: ``plot_scaling`` runs in full (data, fits, axes,
    legend), then the figure is written as a short placeholder instead of being laid out
    and rasterised (~1.4 s a figure, most of a small sweep's time).

    For the tests of sweep bookkeeping (resume, refusals, cluster rows, markdown), whose
    figures are of the ordinary kind; the rendered figure itself is checked by the tests
    of the plots and of a sweep's full output (tests/test_scale.py), which do not use this.
    The list holds the path of every figure saved, so a test can check that it made one."""
    from resbench.bench import results

    saved: list[Path] = []

    def save(fig: Any, path: str | os.PathLike, *, fmt: str, dpi: int = 200) -> Path:
        assert fig.axes and fmt in ("png", "pdf", "svg") and dpi > 0
        out = results.atomic_write_bytes(path, b"figure not rendered (unrendered_plots)\n")
        saved.append(Path(out))
        return Path(out)

    monkeypatch.setattr(results, "atomic_save_figure", save)
    return saved
