"""The training loop (resbench.train.loop) on the real resbench.drn.

* The loop is plain SGD over seeded shuffles: its weights equal a naive loop written
  here (permutation, first ``limit`` samples, batches through EqPropStep, lr × γ per
  epoch) bit for bit.
* ``--resume`` is exact: 2 epochs straight and 1 epoch + resume 1 epoch give identical
  weights, biases and rows (times aside), in float64 and float32; so does a run
  interrupted (Ctrl-C) in the middle of an epoch and resumed.
* The files: epochs.csv (every column, one row per finished epoch, ``limited``), the
  sidecar (machine, versions, command, settings), the checkpoint (no pickles), the plot.
* A folder holding a run is refused without --resume / --overwrite; a checkpoint of
  other settings is refused, naming what differs.
* It learns: a small network on digits for a few epochs is far below chance.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from resbench.drn import Drn, EqPropStep
from resbench.train.config import DIGITS_DEFAULT
from resbench.train.data import load_digits
from resbench.train.loop import (
    CHECKPOINT_FILE,
    PLOT_FILE,
    ROW_COLUMNS,
    ROWS_FILE,
    SIDECAR_FILE,
    RunSettings,
    TrainError,
    TrainObserver,
    load_checkpoint,
    train,
    with_epochs,
)

TIMES = {"epoch_s", "free_s", "plus_s", "minus_s", "update_s", "eval_s", "total_s", "full_epoch_s"}
TIMES |= {"adjoint_s"}
TIMES |= {"samples_per_s"}


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def small(epochs: int = 2, dtype: str = "float64", limit: int | None = 120, seed: int = 3):
    cfg = replace(DIGITS_DEFAULT, sizes=(128, 24, 10), beta=0.3, epochs=epochs, batch_size=5)
    return RunSettings(cfg, "digits", seed=seed, dtype=dtype, limit=limit, eval_batch_size=64)


def params(drn) -> list[np.ndarray]:
    return [*drn.weights, *drn.biases]


def assert_same_run(a, b) -> None:
    for x, y in zip(params(a.drn), params(b.drn), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    assert len(a.rows) == len(b.rows)
    for ra, rb in zip(a.rows, b.rows, strict=True):
        assert {k: v for k, v in ra.items() if k not in TIMES} == {
            k: v for k, v in rb.items() if k not in TIMES
        }


def naive_sgd(s: RunSettings, digits, *, fused: bool) -> Drn:
    """Plain SGD as the loop documents it, written out: each epoch a permutation from
    one PCG64 generator, its first ``limit`` samples in batches, a fresh EqPropStep per
    epoch, learning rates × γ after it.  ``fused``: hand each step the next batch's
    inputs (``next_x``), as the loop does."""
    cfg = s.config
    drn = Drn.from_config(cfg, seed=s.seed, dtype=np.float64)
    rng = np.random.Generator(np.random.PCG64(s.seed))
    lrw, lrb = list(cfg.lr_weights), list(cfg.lr_biases)
    x_all = digits.x_train / 16.0
    for _ in range(cfg.epochs):
        order = rng.permutation(digits.n_train)[: s.limit]
        step = EqPropStep(drn, lr_weights=lrw, lr_biases=lrb, beta=cfg.beta)
        batches = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
        for i, rows in enumerate(batches):
            nxt = x_all[batches[i + 1]] if fused and i + 1 < len(batches) else None
            step.step(x_all[rows], digits.y_train[rows], next_x=nxt)
        lrw = [v * cfg.gamma for v in lrw]
        lrb = [v * cfg.gamma for v in lrb]
    return drn


def test_loop_is_plain_sgd(tmp_path, digits) -> None:
    """The weights after 2 epochs equal the naive loop's bit for bit, and the unfused
    naive loop's (the next batch's injection made separately) to rounding."""
    s = small()
    got = train(s, digits, tmp_path, plot=False)
    for x, y in zip(params(got.drn), params(naive_sgd(s, digits, fused=True)), strict=True):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(params(got.drn), params(naive_sgd(s, digits, fused=False)), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12)
    cfg = s.config
    assert [r["lr_weights"] for r in got.rows] == [
        ",".join(f"{v * g:.6g}" for v in cfg.lr_weights) for g in (1.0, cfg.gamma)
    ]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_resume_is_exact(tmp_path, digits, dtype) -> None:
    s = small(dtype=dtype)
    straight = train(s, digits, tmp_path / "a", plot=False)
    first = train(with_epochs(s, 1), digits, tmp_path / "b", plot=False)
    assert len(first.rows) == 1
    resumed = train(s, digits, tmp_path / "b", resume=True, plot=False)
    assert resumed.resumed_from == 1
    assert_same_run(straight, resumed)
    csv = pd.read_csv(tmp_path / "b" / ROWS_FILE)
    assert list(csv["epoch"]) == [1, 2]
    # resuming a finished run trains nothing and keeps it
    again = train(s, digits, tmp_path / "b", resume=True, plot=False)
    assert_same_run(straight, again)


class StopAt(TrainObserver):
    """Ctrl-C after ``batches`` batches of epoch ``epoch``."""

    def __init__(self, epoch: int, batches: int) -> None:
        self.epoch, self.batches, self.now, self.seen = epoch, batches, 0, 0

    def epoch_start(self, epoch: int, samples: int) -> None:
        self.now, self.seen = epoch, 0

    def batch_done(self, samples: int, loss: float, errors: int) -> None:
        self.seen += 1
        if self.now == self.epoch and self.seen == self.batches:
            raise KeyboardInterrupt


def test_interrupt_keeps_finished_epochs(tmp_path, digits) -> None:
    s = small(epochs=3)
    straight = train(s, digits, tmp_path / "a", plot=False)
    cut = train(s, digits, tmp_path / "b", observer=StopAt(2, 7), plot=False)
    assert cut.interrupted and len(cut.rows) == 1
    meta = json.loads((tmp_path / "b" / SIDECAR_FILE).read_text())
    assert meta["status"] == "interrupted" and meta["epochs_done"] == 1
    assert len(pd.read_csv(tmp_path / "b" / ROWS_FILE)) == 1
    assert load_checkpoint(tmp_path / "b" / CHECKPOINT_FILE).epoch == 1
    resumed = train(s, digits, tmp_path / "b", resume=True, plot=False)
    assert not resumed.interrupted
    assert_same_run(straight, resumed)


def test_files(tmp_path, digits) -> None:
    s = small(epochs=2, limit=50)
    res = train(s, digits, tmp_path, command="resbench train --test")
    csv = pd.read_csv(tmp_path / ROWS_FILE)
    assert tuple(csv.columns) == ROW_COLUMNS
    assert list(csv["train_samples"]) == [50, 50] and csv["limited"].all()
    assert (csv["dataset"] == "digits").all()
    assert ((csv["test_error"] >= 0) & (csv["test_error"] <= 1)).all()
    assert (csv[["sweeps_free", "sweeps_plus", "sweeps_minus", "sweeps_eval"]] >= 1).all().all()
    assert (csv["epoch_s"] > 0).all() and (csv["samples_per_s"] > 0).all()
    assert np.allclose(csv["total_s"], csv["epoch_s"] + csv["eval_s"])
    assert np.allclose(csv["full_epoch_s"], csv["epoch_s"] * 1437 / 50)
    meta = json.loads((tmp_path / SIDECAR_FILE).read_text())
    assert meta["command"] == "resbench train --test"
    assert {"machine", "versions", "threads", "git", "timestamp"} <= set(meta)
    assert meta["settings"]["seed"] == 3 and meta["settings"]["dtype"] == "float64"
    assert meta["settings"]["config"]["sizes"] == [128, 24, 10]
    assert meta["dataset"]["name"] == "digits" and meta["dataset"]["test_samples"] == 360
    assert meta["status"] == "finished" and meta["epochs_done"] == 2
    assert meta["network"]["conductances"] == res.drn.n_conductances
    with np.load(tmp_path / CHECKPOINT_FILE, allow_pickle=False) as z:
        assert "meta" in z.files
    ck = load_checkpoint(tmp_path / CHECKPOINT_FILE)
    assert ck.epoch == 2 and len(ck.rows) == 2
    assert ck.lr_weights == pytest.approx([v * 0.99**2 for v in s.config.lr_weights])
    png = (tmp_path / PLOT_FILE).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # whole epochs are not "limited" (a limit above the training set is no limit)
    few = replace(digits, x_train=digits.x_train[:30], y_train=digits.y_train[:30])
    full = train(small(epochs=1, limit=None), few, tmp_path / "full", plot=False)
    assert full.rows[0]["train_samples"] == 30 and full.rows[0]["limited"] is False
    full = train(small(epochs=1, limit=31), few, tmp_path / "more", plot=False)
    assert full.rows[0]["train_samples"] == 30 and full.rows[0]["limited"] is False


def test_refusals(tmp_path, digits) -> None:
    s = small(epochs=1, limit=20)
    train(s, digits, tmp_path, plot=False)
    with pytest.raises(TrainError, match="already holds a training run"):
        train(s, digits, tmp_path, plot=False)
    with pytest.raises(TrainError, match="seed: 3 there, 4 now"):
        train(small(epochs=2, limit=20, seed=4), digits, tmp_path, resume=True, plot=False)
    with pytest.raises(TrainError, match="no checkpoint to resume"):
        train(s, digits, tmp_path / "empty", resume=True, plot=False)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / CHECKPOINT_FILE).write_bytes(b"not a zip")
    with pytest.raises(TrainError, match="damaged"):
        train(s, digits, tmp_path / "bad", resume=True, plot=False)
    with pytest.raises(TrainError, match="input layer has 1568 units"):
        bad = replace(s, config=replace(s.config, sizes=(1568, 24, 10)))
        train(bad, digits, tmp_path / "other", plot=False)
    res = train(s, digits, tmp_path, overwrite=True, plot=False)
    assert len(res.rows) == 1


def test_rows_past_the_checkpoint_are_dropped_on_resume(tmp_path, digits) -> None:
    """A kill between the row append and the checkpoint leaves a row the checkpoint
    does not know: resume rewrites epochs.csv from the checkpoint."""
    s = small(epochs=1, limit=20)
    train(s, digits, tmp_path, plot=False)
    path = tmp_path / ROWS_FILE
    text = path.read_text()
    path.write_text(text + text.splitlines()[1].replace("1,", "2,", 1) + "\n")
    train(with_epochs(s, 2), digits, tmp_path, resume=True, plot=False)
    assert list(pd.read_csv(path)["epoch"]) == [1, 2]


def test_learns_digits(tmp_path, digits) -> None:
    """The digits default, two epochs of 700 samples: test error far below chance (90 %)."""
    s = RunSettings(replace(DIGITS_DEFAULT, epochs=2), "digits", seed=0, limit=700)
    res = train(s, digits, tmp_path, plot=False)
    assert res.rows[-1]["test_error"] < 0.3
    assert res.rows[-1]["train_error"] < 0.5


def test_ctrl_c_while_writing_finishes_the_epoch(tmp_path, digits, monkeypatch) -> None:
    """Ctrl-C that comes while an epoch's files are written waits for them: the epoch
    is complete on disk (row, checkpoint, sidecar) and reported, then the run stops."""
    import os
    import signal

    from resbench.train import loop

    write = loop.write_rows

    def write_and_interrupt(path, rows):
        os.kill(os.getpid(), signal.SIGINT)
        write(path, rows)

    monkeypatch.setattr(loop, "write_rows", write_and_interrupt)
    ended = []

    class Record(TrainObserver):
        def epoch_end(self, row):
            ended.append(row["epoch"])

    res = train(small(epochs=3, limit=20), digits, tmp_path, observer=Record(), plot=False)
    assert res.interrupted and ended == [1] and len(res.rows) == 1
    assert load_checkpoint(tmp_path / CHECKPOINT_FILE).epoch == 1
    assert json.loads((tmp_path / SIDECAR_FILE).read_text())["status"] == "interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
