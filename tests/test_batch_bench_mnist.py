"""The batch bench on MNIST's own images (``--inputs mnist --data-dir DIR``): pixels
read from the IDX files (here small ones written by the test), clear errors without
them or for a network that does not take 784 pixels, and a real run whose rows are
exact and whose page names the images."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from resbench.bench import batch_bench as bb
from resbench.bench.paper import ENV_VAR
from resbench.errors import ResbenchError
from resbench.train.data import MNIST_FILES, write_idx


def _mnist(folder: Path, n_train: int = 7) -> np.ndarray:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    img[:, :4, :] = 0  # a dark border, as MNIST's
    write_idx(folder / MNIST_FILES["train_images"], img)
    write_idx(folder / MNIST_FILES["train_labels"], rng.integers(0, 10, n_train).astype(np.uint8))
    write_idx(folder / MNIST_FILES["test_images"], img[:2])
    write_idx(folder / MNIST_FILES["test_labels"], np.zeros(2, dtype=np.uint8))
    return img.reshape(n_train, -1)


def test_mnist_pixels_are_the_training_images_over_255(tmp_path):
    img = _mnist(tmp_path)
    px = bb.mnist_pixels(str(tmp_path), 784, 10)
    assert px.shape == (10, 784) and px.dtype == np.float64
    np.testing.assert_array_equal(px[:7], img / 255.0)
    np.testing.assert_array_equal(px[7:], img[:3] / 255.0)  # cycled
    values = bb.input_values(px, 2.0)
    np.testing.assert_array_equal(values[:, 0::2], -values[:, 1::2])


def test_mnist_pixels_errors(tmp_path):
    with pytest.raises(ResbenchError, match="train-images"):
        bb.mnist_pixels(str(tmp_path), 784, 4)  # an empty folder: names the files
    _mnist(tmp_path)
    with pytest.raises(ResbenchError, match="784 pixels but this network takes 4"):
        bb.mnist_pixels(str(tmp_path), 4, 4)


def test_script_takes_the_data_dir():
    path = Path(__file__).resolve().parents[1] / "scripts" / "bench_batch.py"
    spec = importlib.util.spec_from_file_location("bench_batch_script_mnist", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cfg, *_ = mod.parse(["--inputs", "mnist", "--data-dir", "/data/mnist"])
    assert (cfg.inputs, cfg.data_dir) == ("mnist", "/data/mnist")
    assert cfg.check() is cfg
    assert mod.parse([])[0].data_dir is None


def test_a_run_on_mnist_images(tmp_path, monkeypatch):
    """DRN-XS, two images, no paper: every sample exact and certified; the page and the
    sidecar say which images ran."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    (tmp_path / "mnist").mkdir()
    _mnist(tmp_path / "mnist")
    cfg = bb.BatchBenchConfig(
        presets=("xs",),
        sizes=(2,),
        dtypes=("float64",),
        threads=(1,),
        inputs="mnist",
        data_dir=str(tmp_path / "mnist"),
        paper_code=str(tmp_path),
        b2b=0,
    )
    result = bb.run_batch_bench(cfg)
    (row,) = result["rows"]
    assert row["resbench_status"] == "2/2 ok, 2 certified"
    assert row["dv_resbench_exact"] == 0.0
    paths = bb.write_batch_bench(result, tmp_path / "out")
    page = paths["markdown"].read_text()
    assert f"MNIST's first training images, pixels / 255, from {tmp_path / 'mnist'}" in page
    assert '"data_dir"' in paths["sidecar"].read_text()
