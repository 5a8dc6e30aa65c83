"""The epoch loop of ``resbench train``: rows, checkpoints, resume, plot.

:func:`train` runs epochs of shuffled mini-batches through
:class:`resbench.drn.EqPropStep` (one SGD step per batch, in place on the network),
multiplies the learning rates by ``gamma`` after each epoch (the paper's
ExponentialLR) and scores the test set after each epoch.  As each epoch finishes it
writes, into the output folder (under its lock, each file atomically):

* ``epochs.csv``: one row per finished epoch (:data:`ROW_COLUMNS`);
* ``train.json``: the sidecar of every resbench result (machine, versions, threads,
  git commit, command line) plus the run's settings, the dataset, the status and the
  epochs done;
* ``checkpoint.npz``: the network (``Drn.state_dict``), the epoch, the current
  learning rates, the shuffling generator's state and the rows so far: everything
  ``resume=True`` needs to continue exactly as if never stopped;
* ``train.png``: train and test error, and epoch time, per epoch.

Ctrl-C ends the run after the last finished epoch: its files stay, and
:class:`TrainResult` says ``interrupted``.

The order of the samples: one ``numpy.random.Generator`` (PCG64, ``seed``) draws a
permutation of the training set each epoch; ``limit`` keeps its first ``limit``
samples.  The network is initialised from the same ``seed``.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from resbench.errors import ResbenchError
from resbench.files import atomic_write_bytes
from resbench.threads import limit_threads
from resbench.train.data import Dataset

#: files of a run, in its output folder
ROWS_FILE = "epochs.csv"
SIDECAR_FILE = "train.json"
CHECKPOINT_FILE = "checkpoint.npz"
PLOT_FILE = "train.png"
RUN_FILES = (ROWS_FILE, SIDECAR_FILE, CHECKPOINT_FILE, PLOT_FILE)
#: version of the checkpoint's layout (refused when it differs)
CHECKPOINT_FORMAT = 1

#: columns of ``epochs.csv``, in order (times in seconds; sweeps per sample)
ROW_COLUMNS = (
    "epoch",
    "dataset",
    "train_samples",  # samples trained on this epoch
    "limited",  # True when --limit cut the epoch short of the training set
    "train_loss",  # mean squared-error cost of the free phase over the epoch's batches
    "train_error",  # fraction of the epoch's samples misclassified in the free phase
    "test_loss",
    "test_error",
    "epoch_s",  # wall time of the training part of the epoch (no test evaluation)
    "free_s",
    "plus_s",
    "minus_s",
    "adjoint_s",  # --algorithm bp: the adjoint solve (its plus and minus are 0)
    "update_s",
    "eval_s",  # wall time of the test evaluation
    "total_s",  # epoch_s + eval_s
    "full_epoch_s",  # epoch_s scaled to the whole training set (extrapolated when limited)
    "sweeps_free",  # mean sweeps per sample of each phase
    "sweeps_plus",
    "sweeps_minus",
    "sweeps_adjoint",
    "sweeps_eval",
    "samples_per_s",  # train_samples / epoch_s
    "lr_weights",  # learning rates used during the epoch, one per layer, comma-separated
    "lr_biases",
)


class TrainError(ResbenchError):
    """A training run that cannot start or continue (bad settings, a checkpoint that
    does not match, an output folder that holds another run)."""


# ------------------------------------------------------------------ simulators
class SimulatorFactory(Protocol):
    def __call__(self) -> Any: ...


@dataclass(frozen=True)
class SimulatorSpec:
    """A phase solver ``resbench train --simulator NAME`` can use: ``make()`` returns
    the object passed to ``EqPropStep(simulator=...)`` (None: resbench's own exact
    batched solver)."""

    name: str
    description: str
    make: SimulatorFactory


SIMULATORS: dict[str, SimulatorSpec] = {
    "resbench": SimulatorSpec(
        "resbench", "resbench's exact batched solver (every phase, the whole batch)", lambda: None
    ),
}
#: modules that register further simulators when imported (e.g. an ngspice one)
SIMULATOR_MODULES: list[str] = ["resbench.drn.spice"]


def register_simulator(spec: SimulatorSpec) -> None:
    """Offer ``spec`` as ``--simulator spec.name`` (a later registration replaces)."""
    SIMULATORS[spec.name] = spec


def simulator_names() -> tuple[str, ...]:
    """Names of the registered simulators (importing :data:`SIMULATOR_MODULES` first)."""
    import importlib

    for mod in SIMULATOR_MODULES:
        importlib.import_module(mod)
    return tuple(SIMULATORS)


# ------------------------------------------------------------------ settings
@dataclass(frozen=True)
class RunSettings:
    """What one training run is: the network and its hyperparameters (``config``, a
    :class:`resbench.drn.DrnConfig`; ``config.epochs`` is the number of epochs to reach),
    the data, the seed, the precision, the algorithm and the phase solver."""

    config: Any  # resbench.drn.DrnConfig
    dataset: str
    seed: int = 0
    dtype: str = "float64"
    limit: int | None = None
    algorithm: str = "ep"
    simulator: str = "resbench"
    eval_batch_size: int = 256

    @property
    def epochs(self) -> int:
        return int(self.config.epochs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the sidecar's and the checkpoint's record of the run."""
        d = asdict(self)
        d["config"] = {k: list(v) if isinstance(v, tuple) else v for k, v in d["config"].items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunSettings:
        from resbench.drn import DrnConfig

        cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in d["config"].items()}
        return cls(**{**d, "config": DrnConfig(**cfg)})

    def identity(self) -> dict[str, Any]:
        """What must match for a run to continue another: everything but the number
        of epochs to reach (a resumed run may go further) and the evaluation batch."""
        d = self.to_dict()
        d["config"].pop("epochs")
        d.pop("eval_batch_size")
        return d


def differences(saved: Mapping[str, Any], wanted: Mapping[str, Any], prefix: str = "") -> list:
    """``[(name, saved, wanted)]`` for every leaf that differs between two nested dicts."""
    out = []
    for k in sorted(set(saved) | set(wanted)):
        a, b = saved.get(k), wanted.get(k)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append((prefix + k, a, b))
    return out


# ------------------------------------------------------------------ progress
class TrainObserver:
    """Callbacks of :func:`train` (all optional: subclass and override).  The CLI
    draws its progress bar through them; they must not raise."""

    def run_start(self, settings: RunSettings, data: Dataset, first_epoch: int) -> None:
        """Before the first epoch of this call (``first_epoch`` > 1 when resuming)."""

    def epoch_start(self, epoch: int, samples: int) -> None:
        """An epoch of ``samples`` training samples begins."""

    def batch_done(self, samples: int, loss: float, errors: int) -> None:
        """A mini-batch of ``samples`` finished (free-phase loss and errors)."""

    def evaluating(self, epoch: int, samples: int) -> None:
        """The test evaluation of ``epoch`` begins."""

    def epoch_end(self, row: dict[str, Any]) -> None:
        """An epoch finished and its files are written; ``row`` as in epochs.csv."""


@dataclass
class TrainResult:
    """What :func:`train` did: the rows of every finished epoch (this run's and,
    when resumed, the earlier ones), the trained network, the output files.

    After a Ctrl-C in the middle of an epoch, ``drn`` holds that epoch's updates so
    far; the checkpoint on disk holds the network of the last finished epoch."""

    rows: list[dict[str, Any]]
    drn: Any  # resbench.drn.Drn
    settings: RunSettings
    out_dir: Path
    interrupted: bool = False
    resumed_from: int = 0  # epochs already done when this call started
    files: dict[str, Path] = field(default_factory=dict)


# ------------------------------------------------------------------ checkpoints
def save_checkpoint(
    path: str | Path,
    *,
    drn: Any,
    epoch: int,
    lr_weights: Any,
    lr_biases: Any,
    rng: np.random.Generator,
    rows: list[dict[str, Any]],
    settings: RunSettings,
) -> Path:
    """Write the checkpoint npz atomically (see the module docstring).  Arrays are
    stored under ``drn/<key>``; everything else as one JSON string ``meta`` (no
    pickles: the file loads with ``allow_pickle=False``)."""
    meta = {
        "format": CHECKPOINT_FORMAT,
        "epoch": int(epoch),
        "lr_weights": [float(v) for v in np.ravel(lr_weights)],
        "lr_biases": [float(v) for v in np.ravel(lr_biases)],
        "rng": rng.bit_generator.state,
        "rows": rows,
        "settings": settings.to_dict(),
    }
    from resbench.bench.results import jsonable

    arrays = {f"drn/{k}": np.asarray(v) for k, v in drn.state_dict().items()}
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(jsonable(meta), allow_nan=False)), **arrays)
    return atomic_write_bytes(path, buf.getvalue())


@dataclass
class Checkpoint:
    """A loaded checkpoint: the network's state dict and the JSON meta."""

    state: dict[str, np.ndarray]
    epoch: int
    lr_weights: list[float]
    lr_biases: list[float]
    rng_state: dict[str, Any]
    rows: list[dict[str, Any]]
    settings: dict[str, Any]


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; TrainError when it is
    missing, unreadable or of another format."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            state = {k.removeprefix("drn/"): z[k] for k in z.files if k.startswith("drn/")}
    except FileNotFoundError:
        raise TrainError(
            f"no checkpoint to resume: {path} does not exist; run without --resume to start, "
            "or give the --out of the run to continue"
        ) from None
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise TrainError(
            f"cannot read the checkpoint {path} ({exc}); it is damaged: start again "
            "with --overwrite, or use another --out"
        ) from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise TrainError(
            f"{path} is a checkpoint of format {meta.get('format')!r}, this resbench reads "
            f"format {CHECKPOINT_FORMAT}: start again with --overwrite"
        )
    return Checkpoint(
        state=state,
        epoch=int(meta["epoch"]),
        lr_weights=list(meta["lr_weights"]),
        lr_biases=list(meta["lr_biases"]),
        rng_state=meta["rng"],
        rows=list(meta["rows"]),
        settings=meta["settings"],
    )


def saved_settings(out_dir: str | Path) -> RunSettings:
    """The settings of the run whose checkpoint is in ``out_dir`` (for ``--resume``)."""
    return RunSettings.from_dict(load_checkpoint(Path(out_dir) / CHECKPOINT_FILE).settings)


# ------------------------------------------------------------------ rows
def _lrs(values: Any) -> str:
    return ",".join(f"{float(v):.6g}" for v in np.ravel(values))


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace ``epochs.csv`` with ``rows`` (atomically)."""
    import pandas as pd

    from resbench.bench.results import atomic_write_csv

    atomic_write_csv(path, pd.DataFrame(rows).reindex(columns=list(ROW_COLUMNS)))


def plot_training(rows: list[dict[str, Any]], path: str | Path, *, title: str = "") -> Path:
    """Two panels sharing the epoch axis: train and test error (%), then the epoch's
    training time and test-evaluation time (s).  PNG, 200 dpi, written atomically."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from resbench.bench.results import atomic_save_figure

    ep = np.array([r["epoch"] for r in rows], float)
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(6.4, 6.4), sharex=True, layout="constrained")
    ax.plot(ep, [100 * r["train_error"] for r in rows], "o-", label="train (free phase)")
    ax.plot(ep, [100 * r["test_error"] for r in rows], "s-", label="test")
    ax.set_ylabel("error (%)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    bx.plot(ep, [r["epoch_s"] for r in rows], "o-", label="training")
    bx.plot(ep, [r["eval_s"] for r in rows], "s-", label="test evaluation")
    bx.set_ylabel("time per epoch (s)")
    bx.set_xlabel("epoch")
    bx.set_ylim(bottom=0)
    bx.grid(True, alpha=0.3)
    bx.legend()
    ax.tick_params(labelbottom=True)
    ax.set_ylim(bottom=0)
    bx.xaxis.set_major_locator(MaxNLocator(integer=True))
    try:
        return atomic_save_figure(fig, path, fmt="png")
    finally:
        plt.close(fig)


# ------------------------------------------------------------------ the loop
def _check_fits(settings: RunSettings, data: Dataset) -> None:
    cfg = settings.config
    if cfg.sizes[0] != 2 * data.pixels:
        raise TrainError(
            f"the network's input layer has {cfg.sizes[0]} units but {data.name} images have "
            f"{data.pixels} pixels (input layer 2 x {data.pixels} = {2 * data.pixels}); "
            "build the network for this dataset"
        )
    if cfg.sizes[-1] != data.classes:
        raise TrainError(
            f"the network has {cfg.sizes[-1]} outputs but {data.name} has {data.classes} classes"
        )
    if settings.limit is not None and settings.limit < 1:
        raise TrainError(f"--limit must be at least 1, got {settings.limit}")
    if cfg.batch_size < 1:
        raise TrainError(f"the batch size must be at least 1, got {cfg.batch_size}")
    if settings.simulator not in simulator_names():
        raise TrainError(
            f"unknown simulator {settings.simulator!r}: use one of {', '.join(SIMULATORS)}"
        )


def check_start(
    settings: RunSettings, out_dir: str | Path, *, resume: bool, overwrite: bool
) -> Checkpoint | None:
    """Whether a run may start in ``out_dir``: with ``resume``, the checkpoint there
    (returned) must be of the same run (settings equal but for the epochs); without
    it, the folder must not hold a run already, unless ``overwrite``.  TrainError
    otherwise, saying what to do.  :func:`train` calls it; a caller may call it
    first to fail before any output."""
    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT_FILE
    if resume:
        ck = load_checkpoint(ckpt_path)
        diff = differences(RunSettings.from_dict(ck.settings).identity(), settings.identity())
        if diff:
            what = "; ".join(f"{k}: {a!r} there, {b!r} now" for k, a, b in diff[:6])
            raise TrainError(
                f"the checkpoint in {out} is of another run ({what}); resume with the same "
                "settings (only --epochs may grow), or start a new run in another --out"
            )
        return ck
    if not overwrite and (ckpt_path.exists() or (out / ROWS_FILE).exists()):
        raise TrainError(
            f"{out} already holds a training run; add --resume to continue it, --overwrite "
            "to start it again, or use another --out"
        )
    return None


def _start_state(
    settings: RunSettings, out: Path, resume: bool, overwrite: bool
) -> tuple[Any, list[float] | None, list[float] | None, np.random.Generator, list, int]:
    """(drn, lr_weights, lr_biases, rng, rows, epochs done) to start from."""
    from resbench.drn import Drn

    ck = check_start(settings, out, resume=resume, overwrite=overwrite)
    if ck is not None:
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = ck.rng_state
        drn = Drn.from_state_dict(ck.state)
        return drn, ck.lr_weights, ck.lr_biases, rng, ck.rows, ck.epoch
    for name in RUN_FILES:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    dtype = np.dtype(settings.dtype)
    drn = Drn.from_config(settings.config, seed=settings.seed, dtype=dtype)
    rng = np.random.Generator(np.random.PCG64(settings.seed))
    return drn, None, None, rng, [], 0


def train(
    settings: RunSettings,
    data: Dataset,
    out_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    observer: TrainObserver | None = None,
    command: str | None = None,
    threads: int | None = None,
    sidecar_extra: Mapping[str, Any] | None = None,
    plot: bool = True,
    clock: Callable[[], float] = time.perf_counter,
) -> TrainResult:
    """Train ``settings.config`` on ``data`` up to ``settings.epochs`` epochs, writing
    the run's files into ``out_dir`` as each epoch finishes (see the module docstring).

    ``resume``: continue the run whose checkpoint is in ``out_dir`` (its settings must
    match ``settings`` except the number of epochs); the result is the same as a run
    never stopped.  ``overwrite``: replace a run already in ``out_dir`` (otherwise
    refused).  ``threads``: numba's and BLAS's thread count (None: as is).  Ctrl-C
    stops after the last finished epoch (``interrupted`` in the result).
    """
    from resbench.bench.results import atomic_write_json, output_lock, sidecar
    from resbench.drn import EqPropStep, evaluate

    obs = observer or TrainObserver()
    _check_fits(settings, data)
    cfg = settings.config
    dtype = np.dtype(settings.dtype)
    out = Path(out_dir)
    with output_lock(out):
        drn, lrw, lrb, rng, rows, done = _start_state(settings, out, resume, overwrite)
        if np.dtype(drn.dtype) != dtype:  # identity() compares the dtype: a damaged file
            raise TrainError(f"the checkpoint's network is {drn.dtype}, not {dtype}")
        simulator = SIMULATORS[settings.simulator].make()

        def new_step(lr_weights: Any, lr_biases: Any) -> Any:
            # A fresh step object each epoch: whatever it caches between batches (the
            # weights' row and column sums) is rebuilt from the weights alone, so an epoch
            # runs the same whether the run was resumed before it or not (float32 sums
            # kept up to date by the updates differ in the last bits from fresh ones).
            return EqPropStep(
                drn,
                lr_weights=lr_weights,
                lr_biases=lr_biases,
                beta=cfg.beta,
                algorithm=settings.algorithm,
                simulator=simulator,
            )

        step = new_step(
            lrw if lrw is not None else cfg.lr_weights, lrb if lrb is not None else cfg.lr_biases
        )
        paths = {
            "rows": out / ROWS_FILE,
            "sidecar": out / SIDECAR_FILE,
            "checkpoint": out / CHECKPOINT_FILE,
        }
        if plot:
            paths["plot"] = out / PLOT_FILE
        meta = sidecar(
            command=command,
            extra={
                "run": "train",
                "settings": settings.to_dict(),
                "dataset": data.describe(),
                "network": {
                    "sizes": list(drn.sizes),
                    "conductances": int(drn.n_conductances),
                    "dtype": str(dtype),
                },
                "row_columns": list(ROW_COLUMNS),
                "files": {k: p.name for k, p in paths.items()},
                **(dict(sidecar_extra) if sidecar_extra else {}),
            },
        )
        meta["resumed_from_epoch"] = done if resume else None

        def write_meta(status: str) -> None:
            meta["status"] = status
            meta["epochs_done"] = len(rows)
            meta["epochs_planned"] = settings.epochs
            if rows:
                meta["last"] = {k: rows[-1][k] for k in ("epoch", "test_error", "train_error")}
            atomic_write_json(paths["sidecar"], meta)

        if resume:  # epochs.csv from the checkpoint's rows (drops a row past it)
            write_rows(paths["rows"], rows)
        write_meta("running")
        x_test = data.images(test=True, dtype=dtype)
        n_train = data.n_train
        per_epoch = n_train if settings.limit is None else min(settings.limit, n_train)
        bs = int(cfg.batch_size)
        obs.run_start(settings, data, done + 1)
        interrupted = False
        ctx = limit_threads(threads)
        with ctx:
            try:
                for epoch in range(done + 1, settings.epochs + 1):
                    order = rng.permutation(n_train)[:per_epoch]
                    step = new_step(step.lr_weights, step.lr_biases)
                    obs.epoch_start(epoch, per_epoch)
                    lr_used = (_lrs(step.lr_weights), _lrs(step.lr_biases))
                    loss_sum = 0.0
                    errors = 0
                    times = dict.fromkeys(("free", "plus", "minus", "adjoint", "update"), 0.0)
                    sweeps = dict.fromkeys(("free", "plus", "minus", "adjoint"), 0)
                    t0 = clock()
                    nxt = data.batch(order[:bs], dtype=dtype)
                    for start in range(0, per_epoch, bs):
                        xb, yb = nxt
                        ahead = order[start + bs : start + 2 * bs]
                        nxt = data.batch(ahead, dtype=dtype) if ahead.size else None
                        # the next batch's inputs go with this step: its update pass
                        # over W_0 also makes their injection (one pass instead of two)
                        st = step.step(xb, yb, next_x=None if nxt is None else nxt[0])
                        loss_sum += float(st.loss) * st.n
                        errors += int(st.errors)
                        for k in times:
                            times[k] += float(st.times.get(k, 0.0))
                        for k in sweeps:
                            sweeps[k] += int(st.sweeps.get(k, 0))
                        obs.batch_done(st.n, float(st.loss), int(st.errors))
                    t_train = clock() - t0
                    obs.evaluating(epoch, data.n_test)
                    t1 = clock()
                    test_loss, test_err, test_sweeps = evaluate(
                        drn, x_test, data.y_test, batch_size=settings.eval_batch_size
                    )
                    t_eval = clock() - t1
                    step.scale_lr(cfg.gamma)
                    row = {
                        "epoch": epoch,
                        "dataset": data.name,
                        "train_samples": per_epoch,
                        "limited": per_epoch < n_train,
                        "train_loss": loss_sum / per_epoch,
                        "train_error": errors / per_epoch,
                        "test_loss": float(test_loss),
                        "test_error": float(test_err),
                        "epoch_s": t_train,
                        "free_s": times["free"],
                        "plus_s": times["plus"],
                        "minus_s": times["minus"],
                        "adjoint_s": times["adjoint"],
                        "update_s": times["update"],
                        "eval_s": t_eval,
                        "total_s": t_train + t_eval,
                        "full_epoch_s": t_train * n_train / per_epoch,
                        "sweeps_free": sweeps["free"] / per_epoch,
                        "sweeps_plus": sweeps["plus"] / per_epoch,
                        "sweeps_minus": sweeps["minus"] / per_epoch,
                        "sweeps_adjoint": sweeps["adjoint"] / per_epoch,
                        "sweeps_eval": int(test_sweeps) / max(1, data.n_test),
                        "samples_per_s": per_epoch / t_train if t_train > 0 else float("nan"),
                        "lr_weights": lr_used[0],
                        "lr_biases": lr_used[1],
                    }
                    rows.append(row)
                    with _deferred_interrupt() as ctrl_c:  # an epoch's files, all or none
                        write_rows(paths["rows"], rows)
                        save_checkpoint(
                            paths["checkpoint"],
                            drn=drn,
                            epoch=epoch,
                            lr_weights=step.lr_weights,
                            lr_biases=step.lr_biases,
                            rng=rng,
                            rows=rows,
                            settings=settings,
                        )
                        write_meta("running")
                        if plot:
                            plot_training(rows, paths["plot"], title=_title(settings, data))
                    obs.epoch_end(row)
                    if ctrl_c:  # came while the files were written: stop after them
                        raise KeyboardInterrupt
            except KeyboardInterrupt:
                interrupted = True
            except ResbenchError as exc:  # e.g. a phase with no equilibrium: say so, keep
                meta["error"] = str(exc)
                write_meta("failed")
                kept = f"; the {len(rows)} finished epoch(s) are kept in {out}" if rows else ""
                raise TrainError(
                    f"training stopped in epoch {len(rows) + 1}: {exc}{kept}"
                ) from None
        write_meta("interrupted" if interrupted else "finished")
    return TrainResult(
        rows=rows,
        drn=drn,
        settings=settings,
        out_dir=out,
        interrupted=interrupted,
        resumed_from=done,
        files=paths,
    )


def _title(settings: RunSettings, data: Dataset) -> str:
    cfg = settings.config
    sizes = "-".join(map(str, cfg.sizes))
    limit = f", first {settings.limit} samples/epoch" if settings.limit else ""
    return f"DRN {cfg.name} ({sizes}) on {data.name}, batch {cfg.batch_size}{limit}"


@contextlib.contextmanager
def _deferred_interrupt():
    """Hold Ctrl-C (SIGINT) back inside the block, in the main thread (elsewhere a
    no-op): yields a list that is non-empty when Ctrl-C came meanwhile."""
    import signal
    import threading

    caught: list = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    old = signal.signal(signal.SIGINT, lambda *a: caught.append(a))
    try:
        yield caught
    finally:
        signal.signal(signal.SIGINT, old)


def with_epochs(settings: RunSettings, epochs: int) -> RunSettings:
    """``settings`` with another number of epochs to reach."""
    return replace(settings, config=replace(settings.config, epochs=int(epochs)))
