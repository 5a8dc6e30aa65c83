"""``resbench regress``: the CI regression gate for speedups over ngspice."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from resbench.cli import options

# the names of bench.regress.suite.QUICK_SUITE (a test keeps them in step), here so that
# --help does not import the bench
_SUITE_NAMES = ("drn_small", "drn_xs", "grid_30x30", "random_1000_ff")


def _progress(err: Console):
    def on_run(name: str, sample) -> None:
        if sample.phase == "warmup" and sample.solver == "cd":
            err.print(f"[dim]{escape(name)}: warm-up…[/]", highlight=False)

    def on_case(run) -> None:
        text = ", ".join(
            f"{c} {run.median_for(c):.4g}×" if math.isfinite(run.median_for(c)) else f"{c} –"
            for c in ("cpu", "wall")
        )
        state = "ok" if run.correct else "[bold red]WRONG[/]"
        err.print(
            f"{escape(run.name)}: speedup {text} over {len(run.ratios)} pairs, "
            f"sweeps {run.sweeps}, max |Δv| {run.max_abs_diff:.1e} V, {state}",
            highlight=False,
        )

    return on_run, on_case


def _write_baseline(baseline_path: str, doc: dict, as_json: bool) -> None:
    from resbench.bench import regress as R
    from resbench.errors import ResbenchError

    try:
        path = R.save_baseline(baseline_path, doc)
    except OSError as exc:
        raise ResbenchError(f"cannot write the baseline {baseline_path}: {exc}") from None
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        for name, c in doc["cases"].items():
            cpu = c.get("cpu_median")
            click.echo(
                f"{name}: median speedup cpu "
                f"{'–' if cpu is None else format(cpu, '.4g')}×, wall {c['median']:.4g}× "
                f"over {c['pairs']} pairs, sweeps {c['sweeps']}"
            )
    Console(stderr=True).print(f"baseline written: {path}", highlight=False)


@click.command()
@click.option(
    "--baseline",
    "baseline_path",
    type=click.Path(dir_okay=False, path_type=str),
    default="results/baseline.json",
    show_default=True,
    help="Baseline file to compare with (or to write, with --update).",
)
@click.option(
    "--update",
    is_flag=True,
    help="Run the suite and rewrite the baseline from it (refused when an answer is "
    "wrong or a fault is injected).",
)
@click.option(
    "--runs",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="With --update: pool the per-pair speedups of this many runs of the suite, each "
    "in a fresh process (run-to-run spread is most of the noise).",
)
@click.option(
    "--case",
    "cases",
    multiple=True,
    metavar="NAME",
    help=f"Run only this case (repeatable; gate only). Cases: {', '.join(_SUITE_NAMES)}.",
)
@click.option(
    "--factor",
    type=options.FRACTION,
    default=None,
    help="Fail when the median speedup < baseline median × FACTOR (and significant). "
    "Default: the baseline's policy (chosen from the noise study).",
)
@click.option(
    "--alpha",
    type=options.OPEN_FRACTION,
    default=None,
    help="Significance level of the one-sided Mann–Whitney U test. Default: the baseline's.",
)
@click.option(
    "--clock",
    type=click.Choice(["cpu", "wall"]),
    default=None,
    help="Which per-pair speedup the gate judges: cpu (CPU time of every process doing "
    "the work; robust to a loaded machine) or wall (total times). Both are measured and "
    "stored. Default: the baseline's (cpu).",
)
@click.option(
    "--sweeps-tolerance",
    type=click.IntRange(min=0),
    default=None,
    help="Extra sweeps to converge allowed over the baseline's. Default: the baseline's (0).",
)
@click.option(
    "--repeats",
    type=click.IntRange(min=5),
    default=None,
    help="Interleaved pairs per case (default: per case, 9 for DRN-XS, 11-15 for the rest).",
)
@options.warmup
@options.atol
@options.timeout
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="Also write the markdown report (for a pull-request comment) to this file.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "json"]),
    default="md",
    show_default=True,
    help="Output on stdout: the markdown report, or the result as JSON.",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@options.out_dir
@options.no_files
@click.option(
    "--inject-slowdown",
    type=click.IntRange(min=1),
    default=1,
    envvar="RESBENCH_INJECT_SLOWDOWN",
    show_envvar=True,
    show_default=True,
    help="Test the gate: cd solves every circuit K times and reports the summed time.",
)
@click.option(
    "--inject-error",
    type=options.FINITE,
    default=0.0,
    envvar="RESBENCH_INJECT_ERROR",
    show_envvar=True,
    help="Test the gate: add VOLTS to every non-ground node of cd's answer.",
    metavar="VOLTS",
)
@click.option(
    "--noise-study",
    type=click.IntRange(min=2),
    default=None,
    metavar="RUNS",
    help="Instead of gating: run the suite RUNS times, each in a fresh process, and write "
    "the spread of the speedups and the factor it supports to --out "
    "(noise_study.json, noise_study.md).",
)
@click.option(
    "--noise-load",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="PROCS",
    help="With --noise-study: also do RUNS runs while PROCS busy-loop processes compete "
    "for the CPUs (a loaded shared CI machine).",
)
def regress(
    baseline_path: str,
    update: bool,
    runs: int,
    cases: tuple[str, ...],
    factor: float | None,
    alpha: float | None,
    clock: str | None,
    sweeps_tolerance: int | None,
    repeats: int | None,
    warmup: int,
    atol: float,
    timeout: float,
    report_path: str | None,
    fmt: str,
    as_json: bool,
    out_dir: str,
    no_files: bool,
    inject_slowdown: int,
    inject_error: float,
    noise_study: int | None,
    noise_load: int,
) -> None:
    """Gate speedups over ngspice against a committed baseline (CI).

    Runs the quick suite (a small DRN, DRN-XS 1568-100-10, a 30x30 grid with
    clamp diodes, a 1000-node random network with free–free diodes; generated
    in memory with fixed seeds): per case a warm-up, then interleaved pairs
    cd, ngspice, cd, ngspice …; each pair gives a speedup ngspice / cd, in
    total (wall) time and in CPU time of every process doing the work; --clock
    says which one is judged.  A case regresses when the median speedup is
    below baseline median × factor AND a one-sided Mann–Whitney U test of the
    per-pair speedups against the baseline's raw ones gives p < alpha.
    Sweeps to converge (a
    deterministic counter) must not exceed the baseline's by more than the
    sweeps tolerance (0: exact).  Correctness is gated separately: cd must
    certify and agree with ngspice within --atol on every node.

    \b
    Exit codes (the most serious wins: 2, then 1, then 3):
      0  pass
      1  speedup regression (large and significant) or more sweeps
      2  wrong answer: not certified, disagrees with ngspice, a solver
         failed or timed out (also: bad options)
      3  not comparable: case missing from the baseline, circuit changed,
         different ngspice major version, no/unreadable baseline file

    \b
    Output: the markdown report on stdout (or JSON with --format json), --report FILE,
    and result files in --out (regress_samples.csv, regress_summary.csv,
    regress_summary.md, regress.json) unless --no-files.
    """
    from resbench.bench import regress as R
    from resbench.bench.results import (
        atomic_write_text,
        check_targets,
        claim_output,
        ensure_output_dir,
    )
    from resbench.cli.options import invocation
    from resbench.errors import ResbenchError

    as_json = as_json or fmt == "json"
    command = invocation()
    err = Console(stderr=True)
    if noise_load and noise_study is None:
        raise ResbenchError("--noise-load only applies to --noise-study")
    if noise_study is not None:
        if update or cases or inject_slowdown != 1 or inject_error:
            raise ResbenchError("--noise-study runs the whole suite unchanged: drop other modes")
        _noise_study_mode(noise_study, noise_load, out_dir, warmup, timeout, repeats, command, err)
        return
    if update and cases:
        raise ResbenchError("--update rewrites the whole baseline: it cannot take --case")
    if update and (inject_slowdown != 1 or inject_error):
        raise ResbenchError("refusing to write a baseline with an injected fault")
    if not math.isfinite(inject_error):
        raise ResbenchError(f"--inject-error must be finite, got {inject_error}")
    selected = R.select_cases(cases)
    baseline = None
    if not update:
        baseline = R.load_baseline(baseline_path)  # exit 3 before a long run
        policy = R.Policy.from_dict(baseline.get("policy"))
    else:
        policy = R.Policy()
    policy = policy.replace(
        factor=factor, alpha=alpha, clock=clock, sweeps_tolerance=sweeps_tolerance
    )
    policy.validate()
    # output paths are checked (and --out locked) before the suite runs, not after
    if update:
        ensure_output_dir(Path(baseline_path).parent, option="--baseline")
    elif not no_files:
        click.get_current_context().with_resource(claim_output(out_dir, "regress"))
    if report_path and not update:
        ensure_output_dir(Path(report_path).parent, option="--report")
        check_targets([report_path], option="--report")

    if update and runs > 1:
        extra = _child_args(warmup, timeout, atol, repeats, factor, alpha, clock, sweeps_tolerance)
        doc = _merged_fresh_runs(runs, extra, command, err)
        _write_baseline(baseline_path, doc, as_json)
        return

    on_run, on_case = _progress(err)
    run = R.run_suite(
        selected,
        repeats=repeats,
        warmup=warmup,
        atol=atol,
        timeout=timeout,
        slowdown=inject_slowdown,
        perturb=inject_error,
        on_run=on_run,
        on_case=on_case,
    )
    if update:
        bad = [r for r in run.cases if r.problems]
        if bad:
            for r in bad:
                err.print(f"{escape(r.name)}: {escape('; '.join(r.problems))}", highlight=False)
            err.print("baseline NOT written: wrong answers", highlight=False)
            sys.exit(R.EXIT_WRONG)
        doc = R.make_baseline(run, policy, command=command)
        _write_baseline(baseline_path, doc, as_json)
        return

    result = R.gate(run, baseline, policy, baseline_path=baseline_path)
    report = R.markdown_report(result, command=command)
    if as_json:
        click.echo(json.dumps(R.result_json(result, command=command), indent=2))
    else:
        click.echo(report)
    if report_path:
        atomic_write_text(report_path, report, option="--report")
    if not no_files:
        written = R.write_regress_files(result, out_dir, command=command)
        err.print(f"results: {', '.join(str(p) for p in written.values())}", highlight=False)
    sys.exit(result.exit_code)


def _noise_study_mode(
    runs: int,
    load: int,
    out_dir: str,
    warmup: int,
    timeout: float,
    repeats: int | None,
    command: str,
    err: Console,
) -> None:
    """``--noise-study``: the whole suite in ``runs`` fresh processes (and as many again
    beside ``load`` busy-loop processes), its markdown on stdout, its files in --out."""
    from resbench.bench import regress as R
    from resbench.bench.results import claim_output

    extra = ["--warmup", str(warmup), "--timeout", str(timeout)]
    if repeats is not None:
        extra += ["--repeats", str(repeats)]
    total = runs * (2 if load else 1)

    def on_study(k: int, doc) -> None:
        meds = ", ".join(
            f"{n} cpu {c.get('cpu_median') or float('nan'):.4g}× wall {c['median']:.4g}×"
            for n, c in doc["cases"].items()
        )
        err.print(f"run {k + 1}/{total} (load {doc['load']}): {meds}", highlight=False)

    # lock --out now: a second run, or a bad folder, stops before the long study
    click.get_current_context().with_resource(
        claim_output(out_dir, None, "noise_study.json", "noise_study.md")
    )
    study, paths = R.run_noise_study(
        runs, out_dir, load=load, extra_args=extra, command=command, on_run=on_study
    )
    click.echo(R.noise_markdown(study, command=command))
    err.print(f"written: {', '.join(str(p) for p in paths.values())}", highlight=False)


def _child_args(
    warmup: int,
    timeout: float,
    atol: float,
    repeats: int | None,
    factor: float | None,
    alpha: float | None,
    clock: str | None,
    sweeps_tolerance: int | None,
) -> list[str]:
    """The options a fresh ``regress --update`` child process repeats from this one."""
    extra = ["--warmup", str(warmup), "--timeout", str(timeout), "--atol", str(atol)]
    for flag, value in (
        ("--repeats", repeats),
        ("--factor", factor),
        ("--alpha", alpha),
        ("--clock", clock),
        ("--sweeps-tolerance", sweeps_tolerance),
    ):
        if value is not None:
            extra += [flag, str(value)]
    return extra


def _merged_fresh_runs(runs: int, extra: list[str], command: str, err: Console) -> dict:
    """``--update --runs N``: the suite in N fresh processes, pooled into one baseline."""
    import tempfile

    from resbench.bench import regress as R

    docs = []
    with tempfile.TemporaryDirectory(prefix="resbench-update-") as tmp:
        for k in range(runs):
            err.print(f"run {k + 1}/{runs} (fresh process)…", highlight=False)
            docs.append(R.fresh_process_run(Path(tmp) / f"run{k}.json", extra))
    return R.merge_baselines(docs, command=command)
