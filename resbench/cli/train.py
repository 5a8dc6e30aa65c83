"""``resbench train``: train a deep resistive network with equilibrium propagation.

Parses options and renders only: the datasets are :mod:`resbench.train.data`'s, the
network and hyperparameters :mod:`resbench.train.config`'s, the epochs, files and
resume :mod:`resbench.train.loop`'s.  While an epoch runs, a progress bar on stderr
(a terminal only) shows samples done, samples/s, the running train error and the
epoch's ETA; after each epoch one line; at the end a summary table.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from resbench.cli import options
from resbench.drn.config import PRESETS
from resbench.train.loop import TrainObserver

#: the paper's presets, smallest first (resbench.drn.PRESETS: one list of names)
PRESET_NAMES = tuple(sorted(PRESETS, key=lambda k: PRESETS[k].sizes[1:]))
#: options that define the run: with --resume, any of them given must match the checkpoint
SETTING_OPTIONS = (
    "preset",
    "layers",
    "dataset",
    "batch_size",
    "beta",
    "lr_weights",
    "lr_biases",
    "input_gain",
    "gamma",
    "seed",
    "dtype",
    "limit",
    "algorithm",
    "simulator",
)
EXIT_INTERRUPTED = 130


class SimulatorChoice(click.Choice):
    """``--simulator``'s choices, read from resbench.train.loop's registry when used
    (a simulator registered later, e.g. ngspice, is offered without editing here)."""

    def __init__(self) -> None:
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from resbench.train.loop import simulator_names

        return simulator_names()


def _algorithms() -> tuple[str, ...]:
    """``ep``, and ``bp`` when resbench.drn offers backpropagation."""
    try:
        from resbench.drn.eqprop import ALGORITHMS  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        return ("ep",)
    return tuple(ALGORITHMS)


class AlgorithmChoice(click.Choice):
    def __init__(self) -> None:
        self.case_sensitive = False

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        return _algorithms()


# ------------------------------------------------------------------ progress
class SpeedColumn(ProgressColumn):
    """Samples per second, from rich's measured rate."""

    def render(self, task: Task) -> Text:
        if task.speed is None:
            return Text("– samples/s", style="progress.data.speed")
        return Text(f"{task.speed:,.0f} samples/s", style="progress.data.speed")


class CliObserver(TrainObserver):
    """The progress bar (stderr, transient) and one line per finished epoch (stdout)."""

    def __init__(self, out: Console, err: Console) -> None:
        self.out, self.err = out, err
        self.progress: Progress | None = None
        self.task: Any = None
        self.epochs = 0
        self.seen = 0
        self.errors = 0

    def run_start(self, settings: Any, data: Any, first_epoch: int) -> None:
        self.epochs = settings.epochs

    def epoch_start(self, epoch: int, samples: int) -> None:
        self.seen = self.errors = 0
        if not self.err.is_terminal:  # a log file gets the epoch lines only
            return
        self.progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            SpeedColumn(),
            TextColumn("{task.fields[err]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.err,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task(f"epoch {epoch}/{self.epochs}", total=samples, err="")

    def batch_done(self, samples: int, loss: float, errors: int) -> None:
        self.seen += samples
        self.errors += errors
        if self.progress is not None:
            err = f"train error {100 * self.errors / self.seen:.1f} %"
            self.progress.update(self.task, advance=samples, err=err)

    def evaluating(self, epoch: int, samples: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=f"epoch {epoch}: testing {samples:,}")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def epoch_end(self, row: dict[str, Any]) -> None:
        self.stop()
        full = (
            f"; whole epoch ~{row['full_epoch_s']:.3g} s (extrapolated)" if row["limited"] else ""
        )
        self.out.print(
            f"epoch {row['epoch']:>3}/{self.epochs}  train error {100 * row['train_error']:5.2f} %"
            f"  test error {100 * row['test_error']:5.2f} %  {row['epoch_s']:.3g} s"
            f" ({row['samples_per_s']:,.0f} samples/s) + test {row['eval_s']:.3g} s{full}",
            highlight=False,
        )


# ------------------------------------------------------------------ the command
@click.command(context_settings={"max_content_width": 100})
@click.option(
    "--preset",
    type=click.Choice(PRESET_NAMES, case_sensitive=False),
    default=None,
    help="One of the paper's networks with its hyperparameters: xs 1568-100-10, "
    "1h 1568-1024-10, 2h and 3h (two or three hidden layers of 1024), xl 1568-32768-10.  "
    "The input layer is resized to the dataset (digits: 128).  Default: for digits a small "
    "1-hidden-layer network tuned on digits, for mnist/synthetic the paper's 1h.",
)
@click.option(
    "--layers",
    default=None,
    metavar="SIZES",
    help="Hidden layer sizes, comma-separated (e.g. 256 or 1024,1024); each even (half "
    "excitatory, half inhibitory units).  Replaces the preset's hidden layers.",
)
@click.option(
    "--dataset",
    type=click.Choice(("digits", "mnist", "synthetic"), case_sensitive=False),
    default="digits",
    show_default=True,
    help="digits: scikit-learn's 8x8 digits, shipped offline (1437 train / 360 test).  "
    "mnist: MNIST from its IDX files in --data-dir (never downloaded).  synthetic: random "
    "MNIST-shaped images and labels, for timing only.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=str),
    default=None,
    help="Folder holding MNIST's train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each raw or .gz).",
)
@click.option(
    "--epochs",
    type=options.POSITIVE_INT,
    default=None,
    help="Epochs to train "
    "(with --resume: the total to reach).  Default: the preset's (digits: 50).",
)
@click.option(
    "--batch-size",
    type=options.POSITIVE_INT,
    default=None,
    help="Samples per SGD step.  Default: the paper's 4.",
)
@click.option(
    "--beta",
    type=options.POSITIVE,
    default=None,
    help="Nudging strength β of centered EqProp.  Default: the preset's.",
)
@click.option(
    "--lr-weights",
    default=None,
    metavar="LR[,LR…]",
    help="Learning rate of the weights: one value, or one per weight layer.",
)
@click.option(
    "--lr-biases",
    default=None,
    metavar="LR[,LR…]",
    help="Learning rate of the biases: one value, or one per layer.",
)
@click.option(
    "--input-gain",
    type=options.POSITIVE,
    default=None,
    help="Input voltage gain: the input layer is gain·cat(x, −x), pixels x in "
    "[0, 1].  Default: the preset's.",
)
@click.option(
    "--gamma",
    type=options.FRACTION,
    default=None,
    help="Learning rates are multiplied by this after each epoch "
    "(ExponentialLR).  Default: the paper's 0.99.",
)
@click.option(
    "--seed",
    type=options.NON_NEGATIVE_INT,
    default=0,
    show_default=True,
    help="Seed of the initial weights and of the order of the samples.",
)
@click.option(
    "--dtype",
    type=click.Choice(options.DTYPES),
    default="float64",
    show_default=True,
    help="Precision of the network and its solves.",
)
@click.option(
    "--limit",
    type=options.POSITIVE_INT,
    default=None,
    metavar="N",
    help="Train on only the first N samples of each epoch's shuffled order "
    "(quick runs; comparisons with a slower simulator).  Rows say so.",
)
@click.option(
    "--algorithm",
    type=AlgorithmChoice(),
    default="ep",
    show_default=True,
    help="ep: centered equilibrium propagation (the paper's).  bp: "
    "backpropagation through the free equilibrium (the paper's baseline).",
)
@click.option(
    "--simulator",
    type=SimulatorChoice(),
    default="resbench",
    show_default=True,
    help="What solves each phase: resbench (its exact batched solver) or another "
    "registered simulator, e.g. ngspice (every phase of every sample an ngspice .op: "
    "slow, use --limit).  The test set is always scored by resbench.",
)
@click.option(
    "--threads",
    type=options.POSITIVE_INT,
    default=None,
    help="Threads for the solver and BLAS.  Default: every core.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=str),
    default=None,
    help="Output folder.  Default: results/train/<network>_<dataset>.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --out from its last finished epoch, exactly as if "
    "never stopped (same settings; only --epochs may grow).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Start again in an --out that already holds a run (its files are replaced).",
)
@click.option("--no-plot", is_flag=True, help="Do not draw train.png.")
@click.pass_context
def train(ctx: click.Context, **opts: Any) -> None:
    """Train a deep resistive network (DRN) with equilibrium propagation.

    Every phase (free, nudged +β and −β) is solved exactly by resbench's batched
    solver; conductances are updated from the branch voltages as in the paper's
    code (Scellier, ICML 2024), clamped >= 0.  After each epoch the test set is
    scored and four files are written to --out: epochs.csv (one row per epoch:
    losses, errors, times per phase, sweeps, samples/s), train.json (machine,
    versions, settings), checkpoint.npz (for --resume) and train.png.  Ctrl-C keeps
    every finished epoch.

    \b
    Examples:
      resbench train                                # digits, small net, 50 epochs
      resbench train --preset xs --epochs 5         # the paper's DRN-XS on digits
      resbench train --dataset mnist --data-dir ~/mnist --preset 1h
      resbench train --dataset synthetic --preset 1h --epochs 1 --limit 2000
      resbench train --out results/train/run1 --resume --epochs 80
    """
    from resbench.train.config import build_config, parse_floats, parse_layers
    from resbench.train.data import load_dataset
    from resbench.train.loop import RunSettings, check_start, saved_settings, with_epochs
    from resbench.train.loop import train as run_train

    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True)
    given = {name for name in opts if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE}
    dataset = opts["dataset"].lower()
    pixels = 64 if dataset == "digits" else 784
    cfg = build_config(
        dataset=dataset,
        pixels=pixels,
        preset_name=opts["preset"].lower() if opts["preset"] else None,
        layers=parse_layers(opts["layers"]) if opts["layers"] else None,
        input_gain=opts["input_gain"],
        beta=opts["beta"],
        lr_weights=parse_floats(opts["lr_weights"], "--lr-weights") if opts["lr_weights"] else None,
        lr_biases=parse_floats(opts["lr_biases"], "--lr-biases") if opts["lr_biases"] else None,
        epochs=opts["epochs"],
        batch_size=opts["batch_size"],
        gamma=opts["gamma"],
    )
    settings = RunSettings(
        config=cfg,
        dataset=dataset,
        seed=opts["seed"],
        dtype=opts["dtype"],
        limit=opts["limit"],
        algorithm=opts["algorithm"].lower(),
        simulator=opts["simulator"],
    )
    out_dir = Path(opts["out_dir"] or Path("results") / "train" / f"{cfg.name}_{dataset}")
    if opts["resume"] and opts["overwrite"]:
        raise click.UsageError("--resume continues a run, --overwrite replaces it: give one")
    if opts["resume"] and not given & set(SETTING_OPTIONS):
        # only --out (and --epochs): the checkpoint's settings; otherwise the options'
        # settings, which the loop checks against the checkpoint's
        saved = saved_settings(out_dir)
        settings = with_epochs(saved, opts["epochs"]) if opts["epochs"] else saved
    check_start(settings, out_dir, resume=opts["resume"], overwrite=opts["overwrite"])
    data = load_dataset(settings.dataset, data_dir=opts["data_dir"], seed=settings.seed)
    _print_header(out, settings, data, out_dir, resume=opts["resume"])
    observer = CliObserver(out, err)
    t0 = time.perf_counter()
    try:
        result = run_train(
            settings,
            data,
            out_dir,
            resume=opts["resume"],
            overwrite=opts["overwrite"],
            observer=observer,
            threads=opts["threads"],
            plot=not opts["no_plot"],
        )
    finally:
        observer.stop()
    if result.resumed_from >= settings.epochs:
        out.print(
            f"  nothing to train: the run has finished its {result.resumed_from} epoch(s); "
            "give a larger --epochs to train further"
        )
    _print_summary(out, result, time.perf_counter() - t0)
    if result.interrupted:
        err.print(
            f"interrupted: {len(result.rows)} finished epoch(s) kept in {escape(str(out_dir))}; "
            "continue with the same command and --resume"
        )
        sys.exit(EXIT_INTERRUPTED)


def _print_header(out: Console, settings: Any, data: Any, out_dir: Path, *, resume: bool) -> None:
    cfg = settings.config
    sizes = "-".join(map(str, cfg.sizes))
    lrs = ",".join(f"{v:g}" for v in cfg.lr_weights)
    lrb = ",".join(f"{v:g}" for v in cfg.lr_biases)
    limit = f", first {settings.limit:,} samples per epoch" if settings.limit else ""
    out.print(
        f"{'Resuming' if resume else 'Training'} DRN {escape(cfg.name)} ({sizes}) on "
        f"{data.name}: {data.n_train:,} train / {data.n_test:,} test{limit}.\n"
        f"  {settings.algorithm}, batch {cfg.batch_size}, {cfg.epochs} epochs, beta {cfg.beta:g}, "
        f"input gain {cfg.input_gain:g}, lr weights {lrs}, lr biases {lrb}, gamma {cfg.gamma:g}, "
        f"{settings.dtype}, seed {settings.seed}, solver {settings.simulator}\n"
        f"  files in {escape(str(out_dir))}",
    )
    if data.name == "synthetic":
        out.print(
            "  synthetic data: random images and labels, for timing only (expect ~90 % error)"
        )


def _print_summary(out: Console, result: Any, seconds: float) -> None:
    rows = result.rows
    table = Table(title="resbench train", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    if not rows:
        out.print("no epoch finished")
        return
    new = rows[result.resumed_from :]
    best = min(rows, key=lambda r: r["test_error"])
    last = rows[-1]
    table.add_row("epochs finished", f"{len(rows)} of {result.settings.epochs}")
    table.add_row("test error, last epoch", f"{100 * last['test_error']:.2f} %")
    table.add_row("test error, best", f"{100 * best['test_error']:.2f} % (epoch {best['epoch']})")
    table.add_row("train error, last epoch", f"{100 * last['train_error']:.2f} %")
    if new:
        mean_epoch = sum(r["epoch_s"] for r in new) / len(new)
        mean_rate = sum(r["train_samples"] for r in new) / sum(r["epoch_s"] for r in new)
        table.add_row("epoch time (mean, training)", f"{mean_epoch:.3g} s")
        table.add_row("test evaluation (mean)", f"{sum(r['eval_s'] for r in new) / len(new):.3g} s")
        table.add_row("samples/s (training)", f"{mean_rate:,.0f}")
        table.add_row(
            "sweeps/sample free, +β, −β",
            f"{last['sweeps_free']:.3g}, {last['sweeps_plus']:.3g}, {last['sweeps_minus']:.3g}",
        )
    table.add_row("wall time of this run", f"{seconds:.3g} s")
    for kind, path in result.files.items():
        table.add_row(kind, escape(str(path)))
    out.print(table)
