"""Test-suite settings shared by every test file.

Hypothesis runs derandomized and without its example database: the examples a test
draws are the same on every machine and every run, so CI passes or fails on the code,
never on a new random draw (two random tests failed CI this way on 2026-12-01; each was
a real bug or a tolerance question, now pinned by a regression test).  A test's own
``@settings`` still sets its example count and health checks.  To explore new examples
locally: ``RESBENCH_HYPOTHESIS_PROFILE=explore pytest …`` (random draws, as Hypothesis's
default).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("RESBENCH_HYPOTHESIS_PROFILE", "deterministic"))
