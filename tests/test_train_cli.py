"""``resbench train`` end to end (click's runner, the real resbench.drn).

A short run writes its four files and prints one line per epoch and a summary; the
same command with --resume continues it; MNIST is read from small IDX files written
here; every bad option or missing file is one clean line and exit 2 (no traceback).
The options build the network as documented (preset, --layers, per-layer rates).
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from resbench.cli.main import cli
from resbench.errors import ResbenchError
from resbench.train.config import DIGITS_DEFAULT, build_config, parse_floats, parse_layers
from resbench.train.data import MNIST_FILES

QUICK = ("--layers", "24", "--beta", "0.3", "--limit", "40", "--batch-size", "8")


def run(*args: object):
    return CliRunner().invoke(cli, ["train", *map(str, args)])


def assert_clean_failure(res, code: int = 2) -> str:
    assert res.exit_code == code, res.output
    assert isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    return res.output


def test_run_and_resume(tmp_path) -> None:
    out = tmp_path / "run"
    res = run(*QUICK, "--epochs", 1, "--out", out, "--no-plot", "--threads", 1)
    assert res.exit_code == 0, res.output
    assert "epoch   1/1" in res.output and "test error" in res.output
    assert {p.name for p in out.iterdir()} >= {"epochs.csv", "train.json", "checkpoint.npz"}
    meta = json.loads((out / "train.json").read_text())
    assert meta["settings"]["limit"] == 40 and meta["settings"]["config"]["sizes"] == [128, 24, 10]
    # the same command again: refused, says what to do
    msg = assert_clean_failure(run(*QUICK, "--epochs", 1, "--out", out))
    assert "--resume" in msg and "--overwrite" in msg
    # --resume with only --out and --epochs: the checkpoint's settings
    res = run("--out", out, "--resume", "--epochs", 2, "--no-plot")
    assert res.exit_code == 0, res.output
    assert "Resuming" in res.output and "epoch   2/2" in res.output
    assert list(pd.read_csv(out / "epochs.csv")["epoch"]) == [1, 2]
    res = run("--out", out, "--resume", "--no-plot")
    assert res.exit_code == 0 and "nothing to train" in res.output, res.output
    # --resume with other settings: refused, naming the difference
    msg = assert_clean_failure(run(*QUICK, "--seed", 9, "--out", out, "--resume"))
    assert "seed" in msg and "another run" in msg
    assert_clean_failure(run("--out", out, "--resume", "--overwrite"))


def idx(a: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 8, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def test_mnist_from_idx_files(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for part, n in (("train", 16), ("test", 8)):
        img = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        lab = rng.integers(0, 10, size=n, dtype=np.uint8)
        (tmp_path / (MNIST_FILES[f"{part}_images"] + ".gz")).write_bytes(gzip.compress(idx(img)))
        (tmp_path / MNIST_FILES[f"{part}_labels"]).write_bytes(idx(lab))
    out = tmp_path / "out"
    res = run("--dataset", "mnist", "--data-dir", tmp_path, "--preset", "xs", "--epochs", 1,
              "--batch-size", 4, "--out", out, "--no-plot")  # fmt: skip
    assert res.exit_code == 0, res.output
    row = pd.read_csv(out / "epochs.csv").iloc[0]
    assert row["dataset"] == "mnist" and row["train_samples"] == 16
    meta = json.loads((out / "train.json").read_text())
    assert meta["network"]["sizes"] == [1568, 100, 10] and meta["dataset"]["pixels"] == 784
    (tmp_path / MNIST_FILES["test_labels"]).write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 3)
    msg = assert_clean_failure(
        run("--dataset", "mnist", "--data-dir", tmp_path, "--out", out / "x")
    )
    assert "t10k-labels-idx1-ubyte" in msg


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--dataset", "mnist"), "needs --data-dir"),
        (("--dataset", "mnist", "--data-dir", "/nonexistent/mnist"), "is not a folder"),
        (("--layers", "3"), "even size"),
        (("--layers", "a,b"), "whole numbers"),
        (("--layers", "24,24", "--lr-weights", "0.1,0.2"), "2 values but the network has 3"),
        (("--lr-biases", "x"), "one number"),
        (("--preset", "2h", "--layers", "64"), "--lr-weights and --lr-biases"),
        (("--epochs", "0"), "0"),
        (("--beta", "nan"), "nan"),
        (("--dtype", "float16"), "float16"),
        (("--resume",), "no checkpoint to resume"),
    ],
)
def test_bad_options(tmp_path, args, words) -> None:
    msg = assert_clean_failure(run(*args, "--out", tmp_path / "o"))
    assert words in msg


def test_help_explains() -> None:
    res = run("--help")
    assert res.exit_code == 0
    for word in ("--preset", "--dataset", "--data-dir", "--resume", "--limit", "epochs.csv"):
        assert word in res.output


def test_build_config() -> None:
    from resbench.cli.train import PRESET_NAMES
    from resbench.drn import PRESETS

    assert sorted(PRESET_NAMES) == sorted(PRESETS)
    assert build_config(dataset="digits", pixels=64) == DIGITS_DEFAULT
    xs = build_config(dataset="digits", pixels=64, preset_name="xs")
    assert xs.sizes == (128, 100, 10) and xs.input_gain == 100.0 and xs.batch_size == 4
    one = build_config(dataset="mnist", pixels=784)
    assert one.name == "1h" and one.sizes == (1568, 1024, 10)
    two = build_config(
        dataset="mnist", pixels=784, preset_name="2h", layers=(64, 32, 16),
        lr_weights=(0.1,), lr_biases=(0.1, 0.2, 0.3, 0.4),
    )  # fmt: skip
    assert two.sizes == (1568, 64, 32, 16, 10) and two.name == "2h-h64-32-16"
    assert two.lr_weights == (0.1,) * 4 and two.lr_biases == (0.1, 0.2, 0.3, 0.4)
    assert two.input_gain == 2000.0
    tuned = build_config(dataset="digits", pixels=64, input_gain=7.0, beta=0.2, gamma=0.5)
    assert (tuned.input_gain, tuned.beta, tuned.gamma) == (7.0, 0.2, 0.5)
    assert parse_layers("1024, 1024") == (1024, 1024)
    assert parse_floats("0.1,2e-3", "--x") == (0.1, 0.002)
    with pytest.raises(ResbenchError, match="finite"):
        parse_floats("inf", "--x")


def test_synthetic_rows_say_so(tmp_path) -> None:
    out = tmp_path / "syn"
    res = run("--dataset", "synthetic", "--layers", "16", "--beta", "0.2", "--limit", 8,
              "--epochs", 1, "--out", out, "--no-plot")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "synthetic data" in res.output
    row = pd.read_csv(out / "epochs.csv").iloc[0]
    assert row["dataset"] == "synthetic" and bool(row["limited"])
    assert Path(out / "train.json").exists()
