"""`resbench regress`: the speedup regression gate, its baseline and its exit codes.

The pass/fail logic is tested on synthetic per-pair ratios and with stand-in
solvers whose timings are fixed, so every verdict here is deterministic; one
group of tests runs the real cd and the real ngspice on tiny circuits (their
verdicts do not depend on timing: correctness, not-comparable, a factor far
below any noise).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from resbench.bench import regress as R
from resbench.bench import timing
from resbench.bench.regress import noise as regress_noise
from resbench.bench.regress import suite as regress_suite
from resbench.cli import regress as cli_regress
from resbench.cli.main import cli
from resbench.errors import ResbenchError
from resbench.generate import drn, grid, random_network
from resbench.solution import CONVERGED, FAILED, Solution

HYP = settings(max_examples=60, deadline=None, database=None)
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- stand-ins
TINY = (
    R.Case("tiny_drn", lambda: drn((4, 3, 2), seed=0), 5, "tiny DRN", 3),
    R.Case("tiny_grid", lambda: grid(3, 3, seed=0), 5, "tiny grid"),
    R.Case("tiny_random", lambda: random_network(12, seed=1, diodes=0.3), 5, "tiny random"),
)

_EXACT: dict[str, np.ndarray] = {}


def _exact(circuit) -> np.ndarray:
    from resbench.solvers import solve

    key = R.circuit_fingerprint(circuit)
    if key not in _EXACT:
        _EXACT[key] = solve(circuit, "cd").voltages
    return _EXACT[key].copy()


class StandInFast:
    """cd's exact answer with fixed, deterministic timings (1 ms, small wobble)."""

    def __init__(self, sweeps: int = 7, status: str = CONVERGED) -> None:
        self.calls = 0
        self.sweeps = sweeps
        self.status = status

    def __call__(self, circuit) -> Solution:
        t = 1e-3 * (1.0 + 0.01 * (self.calls % 5))
        self.calls += 1
        return Solution(
            circuit,
            _exact(circuit),
            "cd",
            self.status,
            sweeps=self.sweeps,
            timings={"setup": t / 2, "solve": t / 2, "total": t, "cpu": t, "compile": 0.0},
        )


class StandInSpice:
    """The exact answer as 'ngspice' would give it: 100 ms, reporting a major version."""

    def __init__(self, version: int = 39) -> None:
        self.calls = 0
        self.version = version

    def __call__(self, circuit) -> Solution:
        t = 0.1 * (1.0 + 0.02 * (self.calls % 3))
        self.calls += 1
        return Solution(
            circuit,
            _exact(circuit),
            "ngspice",
            CONVERGED,
            timings={"total": t, "solve": t, "cpu": 0.8 * t},
            info={"ngspice_version": self.version},
        )


def _suite(**kw) -> R.SuiteRun:
    kw.setdefault("fast", StandInFast())
    kw.setdefault("spice", StandInSpice())
    return R.run_suite(TINY, **kw)


@pytest.fixture(scope="module")
def base_doc() -> dict:
    """A baseline document from an unchanged stand-in run."""
    return R.make_baseline(_suite(), R.Policy(), command="test")


def _case_run(name="c", ratios=(100, 101, 102, 103, 104), sweeps=10, problems=(), fp="f"):
    return R.CaseRun(
        name=name,
        description="",
        sizes={"nodes": 3, "resistors": 2, "diodes": 1},
        fingerprint=fp,
        inner=1,
        ratios=[float(x) for x in ratios],
        cpu_ratios=[float(x) for x in ratios],
        fast_totals=[1e-3] * len(ratios),
        spice_totals=[0.1] * len(ratios),
        fast_cpu=[1e-3] * len(ratios),
        spice_cpu=[0.1] * len(ratios),
        sweeps=sweeps,
        fast_status=CONVERGED,
        spice_status=CONVERGED,
        certified=not problems,
        max_abs_diff=1e-9,
        worst_node="n1",
        compile_s=0.0,
        ngspice_major=39,
        problems=list(problems),
    )


def _synthetic_baseline(cases: dict, major: int = 39, policy: dict | None = None) -> dict:
    return {
        "format": R.BASELINE_FORMAT,
        "ngspice_major": major,
        "policy": policy or {"factor": 0.5, "alpha": 0.05},
        "cases": cases,
    }


def _base_case(ratios=(100, 101, 102, 103, 104), sweeps=10, fp="f") -> dict:
    med = float(np.median(ratios))
    return {
        "ratios": list(ratios),
        "median": med,
        "cpu_ratios": list(ratios),
        "cpu_median": med,
        "sweeps": sweeps,
        "fingerprint": fp,
    }


def _suite_run(*runs: R.CaseRun, major: int | None = 39) -> R.SuiteRun:
    import pandas as pd

    return R.SuiteRun(list(runs), pd.DataFrame(), major, {"warmup": 1, "atol": 1e-6})


# --------------------------------------------------------------------------- the statistics
BASE = [100.0, 104.0, 97.0, 110.0, 101.0, 99.0, 103.0]


def test_unchanged_ratios_pass() -> None:
    st_ = R.speed_test(BASE, BASE)
    assert not st_.regressed and not st_.below and st_.pvalue > 0.4


def test_three_times_slower_is_a_significant_regression() -> None:
    st_ = R.speed_test([x / 3 for x in BASE], BASE, factor=0.5, alpha=0.05)
    assert st_.below and st_.significant and st_.regressed
    assert st_.relative == pytest.approx(1 / 3)
    assert st_.threshold == pytest.approx(0.5 * 101.0)


def test_large_drop_that_is_not_significant_passes() -> None:
    # median below the threshold, but the samples overlap the baseline: noise, not a finding
    st_ = R.speed_test([10.0, 200.0, 20.0, 300.0, 45.0], [100, 101, 102, 103, 104])
    assert st_.below and not st_.significant and not st_.regressed


def test_significant_but_small_drop_passes() -> None:
    st_ = R.speed_test([90.0, 91, 92, 93, 94], [100, 101, 102, 103, 104], factor=0.5)
    assert st_.significant and not st_.below and not st_.regressed


def test_speed_test_needs_ratios() -> None:
    with pytest.raises(ResbenchError):
        R.speed_test([], BASE)
    with pytest.raises(ResbenchError):
        R.speed_test([1.0], [float("nan"), -1.0])


@HYP
@given(st.lists(st.floats(0.01, 1e5), min_size=1, max_size=12), st.floats(0.05, 1.0))
def test_a_run_never_regresses_against_itself(ratios, factor) -> None:
    assert not R.speed_test(ratios, ratios, factor=factor).regressed


@HYP
@given(
    st.lists(st.floats(100.0, 120.0), min_size=5, max_size=11),
    st.lists(st.floats(100.0, 120.0), min_size=5, max_size=11),
)
def test_a_threefold_slowdown_of_a_tight_sample_is_always_caught(base, again) -> None:
    # any two runs within 20 % of each other: the same run 3x slower always fails
    st_ = R.speed_test([x / 3 for x in again], base, factor=R.DEFAULT_FACTOR, alpha=0.05)
    assert st_.regressed


# --------------------------------------------------------------------------- the verdicts
def test_gate_unchanged_passes() -> None:
    res = R.gate(_suite_run(_case_run()), _synthetic_baseline({"c": _base_case()}))
    assert res.exit_code == R.EXIT_OK and res.verdicts[0].verdict == R.PASS


def test_gate_missing_case_and_changed_circuit_are_not_comparable() -> None:
    res = R.gate(_suite_run(_case_run("new")), _synthetic_baseline({"c": _base_case()}))
    assert res.exit_code == R.EXIT_NOT_COMPARABLE
    assert "missing from the baseline" in res.verdicts[0].reasons[0]
    assert any("not run: c" in n for n in res.notes)
    res = R.gate(_suite_run(_case_run(fp="g")), _synthetic_baseline({"c": _base_case()}))
    assert res.exit_code == R.EXIT_NOT_COMPARABLE and "fingerprint" in res.verdicts[0].reasons[0]


def test_gate_other_ngspice_major_is_not_comparable() -> None:
    res = R.gate(_suite_run(_case_run(), major=40), _synthetic_baseline({"c": _base_case()}))
    assert res.exit_code == R.EXIT_NOT_COMPARABLE
    assert any("ngspice 40 here" in n for n in res.notes)
    assert res.verdicts[0].speed is None  # no speed verdict across ngspice versions


def test_gate_wrong_answer_beats_everything() -> None:
    runs = [
        _case_run("a", problems=["max |Δv| 1 V"]),
        _case_run("b", ratios=[30, 31, 32, 33, 34]),
        _case_run("c"),
    ]
    base = _synthetic_baseline({"a": _base_case(), "b": _base_case()})
    res = R.gate(_suite_run(*runs), base)
    assert [v.verdict for v in res.verdicts] == [R.WRONG, R.REGRESSION, R.NOT_COMPARABLE]
    assert res.exit_code == R.EXIT_WRONG
    res = R.gate(_suite_run(*runs[1:]), base)
    assert res.exit_code == R.EXIT_REGRESSION  # a definite regression beats "not comparable"


def test_gate_sweeps_exact_by_default() -> None:
    base = _synthetic_baseline({"c": _base_case(sweeps=10)})
    more = R.gate(_suite_run(_case_run(sweeps=11)), base)
    assert more.exit_code == R.EXIT_REGRESSION and "sweeps" in more.verdicts[0].reasons[0]
    tol = R.gate(_suite_run(_case_run(sweeps=11)), base, R.Policy(sweeps_tolerance=1))
    assert tol.exit_code == R.EXIT_OK
    fewer = R.gate(_suite_run(_case_run(sweeps=9)), base)
    assert fewer.exit_code == R.EXIT_OK and "improvement" in fewer.verdicts[0].notes[0]


def test_gate_policy_comes_from_the_baseline() -> None:
    base = _synthetic_baseline({"c": _base_case()}, policy={"factor": 0.2, "alpha": 0.05})
    run = _suite_run(_case_run(ratios=[30, 31, 32, 33, 34]))
    assert R.gate(run, base).exit_code == R.EXIT_OK  # 32 > 0.2 × 102
    assert R.gate(run, base, R.Policy(factor=0.5)).exit_code == R.EXIT_REGRESSION


def test_policy_validation() -> None:
    for bad in (dict(factor=0.0), dict(factor=1.5), dict(alpha=1.0), dict(sweeps_tolerance=-1)):
        with pytest.raises(ResbenchError):
            R.Policy(**bad).validate()
    with pytest.raises(R.BaselineError):
        R.Policy.from_dict({"factor": "x"})
    assert R.Policy().replace(factor=None, alpha=0.01).alpha == 0.01


def test_worst_exit_order() -> None:
    assert R.worst_exit([0, 3, 1]) == 1
    assert R.worst_exit([3, 2, 1]) == 2
    assert R.worst_exit([0, 3]) == 3
    assert R.worst_exit([]) == 0


# --------------------------------------------------------------------------- the runner wrapper
def test_injected_slowdown_repeats_the_solve_and_sums_timings() -> None:
    c = TINY[0].build()
    fast = StandInFast()
    m = R.fast_runner(c, fast, slowdown=3)()
    assert fast.calls == 3
    assert m.timings["total"] == pytest.approx(1e-3 * (1.0 + 1.01 + 1.02))
    assert m.timings["setup"] + m.timings["solve"] == pytest.approx(m.timings["total"])
    assert m.extra["injected_slowdown"] == 3
    # the bench's measurements stay on its record: the solver's Solution is untouched
    assert m.solution.timings["total"] == pytest.approx(1.02e-3)
    assert "injected_slowdown" not in m.solution.info


def test_inner_measurements_keep_the_median() -> None:
    c = TINY[0].build()
    totals = iter([5e-3, 1e-3, 9e-3, 2e-3, 3e-3])

    def fn(circuit):
        t = next(totals)
        return Solution(circuit, _exact(circuit), "cd", CONVERGED, timings={"total": t})

    m = R.fast_runner(c, fn, inner=5)()
    assert m.timings["total"] == 3e-3
    assert m.extra["inner_totals"] == [5e-3, 1e-3, 9e-3, 2e-3, 3e-3]
    assert "cpu" in m.timings and "cpu" not in m.solution.timings
    assert "inner_totals" not in m.solution.info


def test_the_harness_records_a_runners_measurements_on_its_sample() -> None:
    """A runner's Measurement becomes the Sample's timings and extra; its Solution is kept
    as the solver made it (bench measurements never go into Solution.info/timings)."""
    c = TINY[0].build()
    samples = timing.run_interleaved(
        {"cd": R.fast_runner(c, StandInFast(), slowdown=2, inner=3)}, repeats=1, warmup=0
    )
    (s,) = samples["cd"]
    assert s.extra == {"injected_slowdown": 2, "inner_totals": s.extra["inner_totals"]}
    assert len(s.extra["inner_totals"]) == 3
    assert s.timings["total"] == pytest.approx(sorted(s.extra["inner_totals"])[1])
    assert s.as_row()["total"] == s.timings["total"]
    assert s.solution is not None and s.solution.timings["total"] < s.timings["total"]
    assert not {"injected_slowdown", "inner_totals"} & set(s.solution.info)


def test_a_failing_inner_measurement_is_not_hidden() -> None:
    c = TINY[0].build()
    statuses = iter([CONVERGED, FAILED, CONVERGED])

    def fn(circuit):
        return Solution(circuit, _exact(circuit), "cd", next(statuses), timings={"total": 1e-3})

    assert R.fast_runner(c, fn, inner=3)().solution.status == FAILED


def test_injected_error_moves_every_non_ground_node() -> None:
    c = TINY[0].build()
    m = R.fast_runner(c, StandInFast(), perturb=1e-3)()
    d = m.solution.voltages - _exact(c)
    assert d[0] == 0.0 and np.allclose(d[1:], 1e-3)
    assert m.extra["injected_error"] == 1e-3 and "injected_error" not in m.solution.info


def test_runner_rejects_bad_injections() -> None:
    c = TINY[0].build()
    for kw in (dict(slowdown=0), dict(slowdown=1.5), dict(inner=0), dict(perturb=math.inf)):
        with pytest.raises(ResbenchError):
            R.fast_runner(c, StandInFast(), **kw)


# --------------------------------------------------------------------------- suite runs
def test_suite_run_pairs_and_correctness() -> None:
    run = _suite()
    assert [r.name for r in run.cases] == [c.name for c in TINY]
    for r in run.cases:
        assert r.correct and r.certified and len(r.ratios) == 5 and r.max_abs_diff == 0.0
        assert 90 < r.median < 110  # 0.1 s / 1 ms with the stand-ins' wobble
    assert run.ngspice_major == 39
    # samples: warm-up + 5 measured runs per solver, interleaved, per case
    first = run.samples[run.samples["case"] == "tiny_drn"]
    assert len(first) == 12
    for solver in ("cd", "ngspice"):
        rows = first[first["solver"] == solver]
        assert list(rows["phase"]) == ["warmup"] + ["measure"] * 5
        assert list(rows["repeat"]) == [0, 0, 1, 2, 3, 4]


def test_suite_unchanged_passes(base_doc) -> None:
    assert R.gate(_suite(), base_doc).exit_code == R.EXIT_OK


def test_suite_injected_slowdown_fails_with_1(base_doc) -> None:
    res = R.gate(_suite(slowdown=3), base_doc)
    assert res.exit_code == R.EXIT_REGRESSION
    assert all(v.verdict == R.REGRESSION for v in res.verdicts)
    assert all(v.speed.relative == pytest.approx(1 / 3, rel=0.02) for v in res.verdicts)


def test_suite_wrong_answer_fails_with_2(base_doc) -> None:
    res = R.gate(_suite(perturb=1e-4), base_doc)
    assert res.exit_code == R.EXIT_WRONG
    assert all("atol" in " ".join(v.reasons) for v in res.verdicts)
    assert all(v.run.certified is False for v in res.verdicts)


def test_suite_uncertified_or_failing_solvers_fail_with_2(base_doc) -> None:
    res = R.gate(_suite(fast=StandInFast(status="stalled")), base_doc)
    assert res.exit_code == R.EXIT_WRONG

    def broken(circuit):
        raise ResbenchError("ngspice exploded")

    res = R.gate(_suite(spice=broken), base_doc)
    assert res.exit_code == R.EXIT_WRONG
    assert "ngspice exploded" in res.verdicts[0].reasons[0]


def test_run_case_names_each_correctness_failure(monkeypatch) -> None:
    """run_case's problems come from bench.check: the messages say what went wrong."""
    case = TINY[0]

    def nan_answer(circuit):
        sol = StandInFast()(circuit)
        sol.voltages = np.full_like(sol.voltages, np.nan)
        return sol

    run, _ = R.run_case(case, repeats=1, warmup=0, fast=nan_answer, spice=StandInSpice())
    assert run.certified is False
    assert any("non-finite voltages" in p for p in run.problems)
    assert any(p.startswith("max |Δv| inf V at node") for p in run.problems)

    run, _ = R.run_case(
        case, repeats=1, warmup=0, fast=StandInFast(status="stalled"), spice=StandInSpice()
    )
    assert run.certified is True and run.max_abs_diff == 0.0
    assert run.problems == ["cd did not converge (status stalled)"]

    run, _ = R.run_case(
        case, repeats=1, warmup=0, fast=StandInFast(), spice=StandInSpice(), perturb=0.5
    )
    assert run.certified is False and run.max_abs_diff == pytest.approx(0.5)
    assert run.problems[0].startswith("cd answer not certified: ")
    assert run.problems[1].startswith("max |Δv| 0.5 V at node ")

    def boom(*args, **kwargs):
        raise ValueError("certificate bug")

    monkeypatch.setattr("resbench.certificate.certify", boom)
    run, _ = R.run_case(case, repeats=1, warmup=0, fast=StandInFast(), spice=StandInSpice())
    assert run.certified is False  # a certificate that raises is a failure, never a crash
    assert run.problems == [
        "cd answer could not be certified: certificate: ValueError: certificate bug"
    ]


def test_suite_other_ngspice_major_fails_with_3(base_doc) -> None:
    assert R.gate(_suite(spice=StandInSpice(40)), base_doc).exit_code == R.EXIT_NOT_COMPARABLE


def test_suite_sweeps_increase_fails_with_1(base_doc) -> None:
    assert R.gate(_suite(fast=StandInFast(sweeps=8)), base_doc).exit_code == R.EXIT_REGRESSION


def test_baseline_document(base_doc) -> None:
    assert base_doc["format"] == R.BASELINE_FORMAT and base_doc["ngspice_major"] == 39
    assert base_doc["policy"] == {
        "factor": R.DEFAULT_FACTOR,
        "alpha": R.DEFAULT_ALPHA,
        "test": R.TEST_NAME,
        "sweeps_tolerance": 0,
        "clock": R.DEFAULT_CLOCK,
    }
    case = base_doc["cases"]["tiny_drn"]
    assert len(case["ratios"]) == 5 and case["median"] == pytest.approx(np.median(case["ratios"]))
    # the stand-ins' CPU times are 0.8 × (ngspice) and 1 × (cd) their wall times
    assert case["cpu_ratios"] == pytest.approx([0.8 * x for x in case["ratios"]])
    assert case["sweeps"] == 7 and case["cd_inner"] == 3 and len(case["fingerprint"]) == 16
    for key in ("machine", "versions", "git", "timestamp", "command"):
        assert key in base_doc
    json.dumps(base_doc, allow_nan=False)


def test_no_baseline_from_a_wrong_or_injected_run() -> None:
    with pytest.raises(ResbenchError, match="wrong answers"):
        R.make_baseline(_suite(perturb=1.0), R.Policy())
    with pytest.raises(ResbenchError, match="injected"):
        R.make_baseline(_suite(slowdown=2), R.Policy())


def test_baseline_round_trip_and_bad_files(tmp_path, base_doc) -> None:
    p = R.save_baseline(tmp_path / "b.json", base_doc)
    assert R.load_baseline(p) == base_doc
    with pytest.raises(R.BaselineError, match="no baseline"):
        R.load_baseline(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(R.BaselineError, match="cannot read"):
        R.load_baseline(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": 99, "cases": {}}))
    with pytest.raises(R.BaselineError, match="format"):
        R.load_baseline(tmp_path / "other.json")
    (tmp_path / "noratios.json").write_text(json.dumps({"format": 1, "cases": {"a": {}}}))
    with pytest.raises(R.BaselineError, match="ratios"):
        R.load_baseline(tmp_path / "noratios.json")


def test_reports(base_doc, tmp_path) -> None:
    res = R.gate(_suite(slowdown=3), base_doc, baseline_path="b.json")
    md = R.markdown_report(res, command="resbench regress")
    assert md.startswith("## resbench regress: FAIL: speedup regression (exit 1)")
    assert "| tiny_drn |" in md and "**regression**" in md and "Mann–Whitney" in md
    doc = R.result_json(res)
    assert doc["exit_code"] == 1 and doc["cases"][0]["verdict"] == R.REGRESSION
    assert doc["cases"][0]["speed_test"]["pvalue"] < 0.05
    json.dumps(doc, allow_nan=False)
    files = R.write_regress_files(res, tmp_path, command="x")
    assert {p.name for p in files.values()} == {
        "regress_samples.csv",
        "regress_summary.csv",
        "regress_summary.md",
        "regress.json",
    }
    side = json.loads(files["sidecar"].read_text())
    assert side["exit_code"] == 1 and side["kind"] == "regress"


# --------------------------------------------------------------------------- the CLI
@pytest.fixture
def stand_ins(monkeypatch):
    """The CLI on the tiny suite with stand-in solvers (deterministic timings)."""
    monkeypatch.setattr(regress_suite, "QUICK_SUITE", TINY)
    monkeypatch.setattr(regress_suite, "default_fast", lambda: StandInFast())
    monkeypatch.setattr(regress_suite, "default_spice", lambda timeout=600.0: StandInSpice())
    runs: list[list[str]] = []

    def one_run(path, extra_args=()):  # what `--update --runs 1` in a fresh process gives
        runs.append(list(extra_args))
        return R.make_baseline(_suite(), R.Policy(), command="child")

    monkeypatch.setattr(R, "fresh_process_run", one_run)
    monkeypatch.delenv("RESBENCH_INJECT_SLOWDOWN", raising=False)
    monkeypatch.delenv("RESBENCH_INJECT_ERROR", raising=False)
    return runs


def _cli(*args, env=None):
    return CliRunner().invoke(cli, ["regress", *args], env=env)


def test_cli_update_then_gate(tmp_path, stand_ins) -> None:
    b = str(tmp_path / "b.json")
    r = _cli("--update", "--baseline", b)
    assert r.exit_code == 0, r.output
    assert "tiny_drn: median speedup" in r.output
    r = _cli("--baseline", b, "--out", str(tmp_path / "out"), "--report", str(tmp_path / "r.md"))
    assert r.exit_code == 0, r.output
    assert "## resbench regress: PASS (exit 0)" in r.output
    assert (tmp_path / "r.md").read_text().startswith("## resbench regress: PASS")
    assert (tmp_path / "out" / "regress.json").is_file()


def test_cli_env_injected_slowdown_exits_1(tmp_path, stand_ins) -> None:
    b = str(tmp_path / "b.json")
    assert _cli("--update", "--baseline", b).exit_code == 0
    r = _cli("--baseline", b, "--no-files", env={"RESBENCH_INJECT_SLOWDOWN": "3"})
    assert r.exit_code == 1, r.output
    assert "FAIL: speedup regression" in r.output and "slowdown ×3" in r.output


def test_cli_injected_error_exits_2_and_json(tmp_path, stand_ins) -> None:
    b = str(tmp_path / "b.json")
    assert _cli("--update", "--baseline", b).exit_code == 0
    r = _cli("--baseline", b, "--no-files", "--json", env={"RESBENCH_INJECT_ERROR": "1e-3"})
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert doc["exit_code"] == 2 and {c["verdict"] for c in doc["cases"]} == {R.WRONG}


def test_cli_not_comparable_exits_3(tmp_path, stand_ins, monkeypatch) -> None:
    b = tmp_path / "b.json"
    assert _cli("--update", "--baseline", str(b)).exit_code == 0
    doc = json.loads(b.read_text())
    del doc["cases"]["tiny_grid"]
    b.write_text(json.dumps(doc))
    r = _cli("--baseline", str(b), "--no-files")
    assert r.exit_code == 3 and "missing from the baseline" in r.output
    r = _cli("--baseline", str(b), "--no-files", "--case", "tiny_drn")
    assert r.exit_code == 0, r.output  # the cases that are in the baseline still pass
    monkeypatch.setattr(regress_suite, "default_spice", lambda timeout=600.0: StandInSpice(40))
    r = _cli("--baseline", str(b), "--no-files", "--case", "tiny_drn")
    assert r.exit_code == 3 and "ngspice 40 here" in r.output


def test_cli_bad_baseline_and_options_are_clean(tmp_path, stand_ins) -> None:
    r = _cli("--baseline", str(tmp_path / "none.json"))
    assert r.exit_code == 3 and "no baseline" in r.output and "Traceback" not in r.output
    (tmp_path / "bad.json").write_text("[1, 2")
    r = _cli("--baseline", str(tmp_path / "bad.json"))
    assert r.exit_code == 3 and "cannot read baseline" in r.output
    b = str(tmp_path / "b.json")
    r = _cli("--update", "--baseline", b, "--case", "tiny_drn")
    assert r.exit_code == 2 and "cannot take --case" in r.output
    r = _cli("--update", "--baseline", b, env={"RESBENCH_INJECT_SLOWDOWN": "2"})
    assert r.exit_code == 2 and "injected fault" in r.output
    assert not Path(b).exists()
    assert _cli("--update", "--baseline", b).exit_code == 0
    r = _cli("--baseline", b, "--case", "nope")
    assert r.exit_code == 2 and "unknown case" in r.output
    r = _cli("--baseline", b, env={"RESBENCH_INJECT_SLOWDOWN": "zero"})
    assert r.exit_code == 2 and "Traceback" not in r.output
    r = _cli("--baseline", b, "--factor", "1.5")
    assert r.exit_code == 2


def test_cli_help_documents_exit_codes() -> None:
    r = CliRunner().invoke(cli, ["regress", "--help"])
    assert r.exit_code == 0
    for text in ("0  pass", "1  speedup regression", "2  wrong answer", "3  not comparable"):
        assert text in r.output
    assert "RESBENCH_INJECT_SLOWDOWN" in r.output


def test_cli_case_names_match_the_suite() -> None:
    assert cli_regress._SUITE_NAMES == tuple(c.name for c in R.QUICK_SUITE)


# --------------------------------------------------------------------------- real ngspice
@pytest.fixture
def tiny_real(monkeypatch):
    """The CLI on the tiny suite with the real cd and the real ngspice."""
    monkeypatch.setattr(regress_suite, "QUICK_SUITE", TINY[:2])
    monkeypatch.delenv("RESBENCH_INJECT_SLOWDOWN", raising=False)
    monkeypatch.delenv("RESBENCH_INJECT_ERROR", raising=False)


@pytest.mark.spice
def test_real_ngspice_update_gate_and_wrong_answer(tmp_path, tiny_real) -> None:
    b = tmp_path / "b.json"
    r = _cli("--update", "--runs", "1", "--baseline", str(b))
    assert r.exit_code == 0, r.output
    doc = R.load_baseline(b)
    assert doc["ngspice_major"] == R.cli_ngspice_major() is not None
    for name, case in doc["cases"].items():
        assert len(case["ratios"]) == 5 and all(x > 0 for x in case["ratios"]), name
        assert isinstance(case["sweeps"], int) and case["max_abs_diff"] <= 1e-6
    # a factor far below any timing noise: the verdict is about correctness only
    r = _cli("--baseline", str(b), "--no-files", "--factor", "0.001")
    assert r.exit_code == 0, r.output
    r = _cli("--baseline", str(b), "--no-files", "--factor", "0.001", "--inject-error", "1e-5")
    assert r.exit_code == 2 and "> atol" in r.output


# --------------------------------------------------------------------------- the committed baseline
@pytest.mark.spice
def test_committed_baseline_matches_the_suite() -> None:
    doc = R.load_baseline(ROOT / "results" / "baseline.json")
    assert list(doc["cases"]) == [c.name for c in R.QUICK_SUITE]
    pol = R.Policy.from_dict(doc["policy"])
    assert pol == R.Policy()  # the committed policy is the documented default
    assert doc["ngspice_major"] == R.cli_ngspice_major()
    for case in R.QUICK_SUITE:
        entry = doc["cases"][case.name]
        assert entry["fingerprint"] == R.circuit_fingerprint(case.build()), case.name
        assert len(entry["ratios"]) >= 5 and isinstance(entry["sweeps"], int)
        assert entry["cd_inner"] == case.inner


# --------------------------------------------------------------------------- the noise study
def _doc(ratios: dict[str, list[float]], cpu_scale: float = 1.0) -> dict:
    cases = {}
    for n, r in ratios.items():
        cpu = [cpu_scale * x for x in r]
        cases[n] = {
            "ratios": r,
            "median": float(np.median(r)),
            "cpu_ratios": cpu,
            "cpu_median": float(np.median(cpu)),
            "sweeps": 5,
        }
    return {"ngspice_major": 39, "cases": cases}


def test_noise_study_bounds_and_replay() -> None:
    runs = [
        _doc({"a": [100, 101, 102, 103, 104], "b": [10, 10.5, 11, 11.5, 12]}),
        _doc({"a": [80, 81, 82, 83, 84], "b": [11, 11.5, 12, 12.5, 13]}),
        _doc({"a": [90, 91, 92, 93, 94], "b": [10, 10.5, 11, 11.5, 12]}),
    ]
    full = R.noise_study(runs, slowdown=3.0)
    assert set(full["clocks"]) == {"cpu", "wall"} and full["sweeps_seen"] == {"a": [5], "b": [5]}
    s = full["clocks"]["wall"]
    assert s["cases"]["a"]["min"] == 82 and s["cases"]["a"]["max"] == 102
    assert s["factor_upper_bound"] == pytest.approx(82 / 102)
    assert s["factor_lower_bound"] == pytest.approx(102 / (3 * 82))
    assert s["factor_lower_bound"] < s["recommended_factor"] < s["factor_upper_bound"]
    row = {r["factor"]: r for r in s["replay"]}
    assert row[0.5]["false_alarms"] == 0 and row[0.5]["misses"] == 0 and row[0.5]["trials"] == 12
    assert row[0.5]["suite_trials"] == 6 and row[0.5]["suite_misses"] == 0
    assert row[0.2]["misses_by_case"]["a"] > 0
    assert row[0.95]["false_alarms"] > 0  # a factor inside the noise cries wolf
    assert row[0.2]["misses"] > 0  # one below 1/3 misses the slowdown
    md = R.noise_markdown(full, command="resbench regress --noise-study 3")
    assert "## Clock: wall" in md and "## Clock: cpu" in md
    assert "| a | 5 | 82× | 92× | 102× |" in md and "Factor in the middle" in md
    with pytest.raises(ResbenchError):
        R.noise_study(runs[:1])


def test_gate_judges_the_policy_clock() -> None:
    run = _case_run(ratios=[30, 31, 32, 33, 34])
    run.cpu_ratios = [100.0, 101, 102, 103, 104]  # only the wall clock dropped
    base = _synthetic_baseline({"c": _base_case()})
    assert R.gate(_suite_run(run), base, R.Policy(clock="cpu")).exit_code == R.EXIT_OK
    assert R.gate(_suite_run(run), base, R.Policy(clock="wall")).exit_code == R.EXIT_REGRESSION
    run.cpu_ratios = []  # a clock that was not measured cannot be judged
    res = R.gate(_suite_run(run), base, R.Policy(clock="cpu"))
    assert res.exit_code == R.EXIT_NOT_COMPARABLE


def test_process_cpu_counts_a_busy_child() -> None:
    import os
    import subprocess
    import sys

    assert R.process_cpu_ns(os.getpid()) > 0
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nx = 0\nfor i in range(2_000_000): x += i\nsys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
    )
    try:
        import time

        deadline = time.monotonic() + 30
        used = 0
        while time.monotonic() < deadline:  # wait until the loop is done (CPU stops rising)
            time.sleep(0.2)
            now = R.process_cpu_ns(child.pid)
            if now == used and now > 0:
                break
            used = now
        assert used > 10_000_000  # at least 10 ms of CPU for 2 million additions
    finally:
        child.communicate(b"")
    assert R.process_cpu_ns(child.pid) is None  # gone


def test_spice_runner_adds_worker_cpu_from_the_second_call() -> None:
    import os

    c = TINY[0].build()
    calls = []

    def fake(circuit):
        calls.append(1)
        return Solution(
            circuit,
            _exact(circuit),
            "ngspice",
            CONVERGED,
            timings={"total": 0.1},
            info={"worker_pid": os.getpid()},
        )

    run = R.spice_runner(c, fake)
    assert "cpu" not in run().timings  # first call: no worker known before it
    m = run()
    cpu = m.timings["cpu"]
    assert 0.0 <= cpu < 5.0
    assert "cpu" not in m.solution.timings  # the bench's measurement, not the solver's


def test_run_noise_study_writes_files(tmp_path, monkeypatch) -> None:
    scale = iter([1.0, 1.1, 0.95, 1.05])

    def fake_run(path, extra_args=()):
        f = next(scale)
        return _doc({"a": [100 * f, 101 * f, 102 * f, 103 * f, 104 * f]}, cpu_scale=0.9)

    monkeypatch.setattr(regress_noise, "fresh_process_run", fake_run)
    monkeypatch.setattr(regress_noise, "_BusyLoad", _NoLoad)
    study, paths = R.run_noise_study(2, tmp_path, load=1, command="cmd")
    assert study["runs"] == 4 and [r["load"] for r in study["per_run"]] == [0, 0, 1, 1]
    assert json.loads(paths["json"].read_text())["run_cases"][1]["a"]["median"] == pytest.approx(
        112.2
    )
    md = paths["markdown"].read_text()
    assert "| 3 | 1 | 87.21 | 96.9 |" in md and "Command: `cmd`" in md
    with pytest.raises(ResbenchError):
        R.run_noise_study(1, tmp_path)


class _NoLoad:
    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def test_cli_noise_options_are_checked(stand_ins) -> None:
    r = _cli("--noise-load", "2")
    assert r.exit_code == 2 and "only applies to --noise-study" in r.output
    r = _cli("--noise-study", "3", "--update")
    assert r.exit_code == 2 and "drop other modes" in r.output


def test_cli_update_pools_fresh_process_runs(tmp_path, stand_ins) -> None:
    b = tmp_path / "b.json"
    r = _cli("--update", "--baseline", str(b), "--factor", "0.4")
    assert r.exit_code == 0, r.output
    assert len(stand_ins) == 3 and "--factor" in stand_ins[0]  # 3 runs by default
    doc = R.load_baseline(b)
    assert doc["runs"] == 3 and len(doc["cases"]["tiny_drn"]["ratios"]) == 15
    assert "regress" in doc["command"] and "--update" in doc["command"]
    assert "--baseline-path" not in doc["command"]  # real flags, not parameter names
    assert _cli("--baseline", str(b), "--no-files").exit_code == 0


def test_merge_baselines() -> None:
    a = R.make_baseline(_suite(), R.Policy())
    b = R.make_baseline(_suite(fast=StandInFast()), R.Policy())
    m = R.merge_baselines([a, b], command="cmd")
    case = m["cases"]["tiny_grid"]
    assert case["ratios"] == a["cases"]["tiny_grid"]["ratios"] + b["cases"]["tiny_grid"]["ratios"]
    assert case["median"] == pytest.approx(np.median(case["ratios"]))
    assert case["cpu_median"] == pytest.approx(np.median(case["cpu_ratios"]))
    assert case["run_medians"] == [a["cases"]["tiny_grid"]["median"]] * 2
    assert m["runs"] == 2 and m["command"] == "cmd" and case["pairs"] == 10
    other = R.make_baseline(_suite(fast=StandInFast(sweeps=8)), R.Policy())
    with pytest.raises(ResbenchError, match="sweeps"):
        R.merge_baselines([a, other])
    other = dict(a, ngspice_major=40)
    with pytest.raises(ResbenchError, match="ngspice"):
        R.merge_baselines([a, other])
    with pytest.raises(ResbenchError):
        R.merge_baselines([])
