"""Datasets of ``resbench train`` (resbench.train.data), all offline.

IDX files are written here by an independent few lines of ``struct`` (not by
``write_idx``), raw and gzip, and read back; corrupt files (bad magic number,
truncated, wrong dimensions, counts that differ, bad gzip, labels out of range) and a
missing or wrong ``--data-dir`` are each one clear DatasetError naming the file and
what to do.  The digits split is stratified, fixed and disjoint.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from resbench.errors import ResbenchError
from resbench.train.data import (
    MNIST_FILES,
    DatasetError,
    _digits_arrays,
    load_dataset,
    load_digits,
    load_mnist,
    load_synthetic,
    read_idx,
    stratified_split,
    write_idx,
)


def idx_bytes(a: np.ndarray, code: int = 0x08) -> bytes:
    """An IDX file by hand: 0, 0, type, ndim, big-endian sizes, big-endian payload."""
    head = struct.pack(">HBB", 0, code, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    return head + a.astype(a.dtype.newbyteorder(">")).tobytes()


def put(path: Path, data: bytes, gz: bool) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def make_mnist(folder: Path, n_train: int = 12, n_test: int = 5, gz: bool = False, seed=0):
    rng = np.random.default_rng(seed)
    parts = {}
    for part, n in (("train", n_train), ("test", n_test)):
        img = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        lab = rng.integers(0, 10, size=n).astype(np.uint8)
        put(folder / MNIST_FILES[f"{part}_images"], idx_bytes(img), gz)
        put(folder / MNIST_FILES[f"{part}_labels"], idx_bytes(lab), gz)
        parts[part] = (img, lab)
    return parts


# ------------------------------------------------------------------ IDX
@settings(max_examples=40, deadline=None)
@given(
    a=hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.int8, np.dtype(">i2"), np.dtype(">i4"), np.float32]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    ),
    gz=st.booleans(),
)
def test_idx_read_matches_hand_written(tmp_path_factory, a, gz) -> None:
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D}
    path = put(tmp_path_factory.mktemp("idx") / "x-idx", idx_bytes(a, codes[a.dtype.str[1:]]), gz)
    back = read_idx(path)
    assert back.shape == a.shape
    np.testing.assert_array_equal(back, a)
    # write_idx writes the same bytes as the hand-made file
    mine = write_idx(path.with_name("mine"), a, compress=False).read_bytes()
    assert mine == idx_bytes(a, codes[a.dtype.str[1:]])


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x00\x00", "only 2 bytes"),
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "magic number"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "magic number"),
        (b"\x00\x00\x08\x00", "magic number"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 1), "truncated IDX header"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x00" * 4, "truncated"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x00" * 6, "holds 6 bytes"),
        (b"\x1f\x8b\x08\x00garbage", "not a valid gzip"),
    ],
)
def test_idx_corrupt(tmp_path, data, words) -> None:
    p = tmp_path / "bad-idx1-ubyte"
    p.write_bytes(data)
    with pytest.raises(DatasetError) as exc:
        read_idx(p)
    assert words in str(exc.value) and str(p) in str(exc.value)


# ------------------------------------------------------------------ MNIST
@pytest.mark.parametrize("gz", [False, True])
def test_mnist_loads(tmp_path, gz) -> None:
    parts = make_mnist(tmp_path, gz=gz)
    d = load_mnist(tmp_path)
    assert (d.n_train, d.n_test, d.pixels) == (12, 5, 784)
    x, y = d.batch(np.arange(12))
    np.testing.assert_array_equal(x, parts["train"][0].reshape(12, 784) / 255.0)
    np.testing.assert_array_equal(y, parts["train"][1])
    xt = d.images(test=True, dtype=np.float32)
    assert xt.dtype == np.float32
    np.testing.assert_allclose(xt, parts["test"][0].reshape(5, 784) / 255.0, rtol=1e-7)
    assert 0.0 <= xt.min() and xt.max() <= 1.0


def test_mnist_missing_dir_says_where(tmp_path) -> None:
    for arg in (None, tmp_path / "nowhere"):
        with pytest.raises(DatasetError) as exc:
            load_mnist(arg)
        msg = str(exc.value)
        assert "--data-dir" in msg and "never downloaded" in msg
        assert all(n in msg for n in MNIST_FILES.values())


def test_mnist_missing_one_file(tmp_path) -> None:
    make_mnist(tmp_path)
    (tmp_path / MNIST_FILES["test_labels"]).unlink()
    with pytest.raises(DatasetError, match="lacks t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path)


def test_mnist_wrong_contents(tmp_path) -> None:
    make_mnist(tmp_path)
    lab = tmp_path / MNIST_FILES["train_labels"]
    img = tmp_path / MNIST_FILES["train_images"]
    lab.write_bytes(idx_bytes(np.zeros(11, np.uint8)))  # 12 images, 11 labels
    with pytest.raises(DatasetError, match="12 images but .* 11 labels"):
        load_mnist(tmp_path)
    lab.write_bytes(idx_bytes(np.full(12, 10, np.uint8)))
    with pytest.raises(DatasetError, match="label 10 is not a digit"):
        load_mnist(tmp_path)
    lab.write_bytes(idx_bytes(np.zeros(12, np.uint8)))
    img.write_bytes(idx_bytes(np.zeros((12, 8, 8), np.uint8)))
    with pytest.raises(DatasetError, match="28 x 28"):
        load_mnist(tmp_path)
    img.write_bytes(idx_bytes(np.zeros(12 * 784, np.uint8)))
    with pytest.raises(DatasetError, match="28 x 28"):
        load_mnist(tmp_path)


# ------------------------------------------------------------------ digits, synthetic
def test_digits_split() -> None:
    d = load_digits()
    assert (d.n_train, d.n_test, d.pixels) == (1437, 360, 64)
    x = d.images()
    assert x.min() == 0.0 and x.max() == 1.0
    # the same images as scikit-learn's, scaled by 1/16, nothing lost or repeated
    from sklearn.datasets import load_digits as sk

    ref = sk()
    x_all, y_all = _digits_arrays()  # read without importing scikit-learn: the same arrays
    np.testing.assert_array_equal(x_all, ref.data)
    np.testing.assert_array_equal(y_all, ref.target)
    allx = np.concatenate([d.images(), d.images(test=True)]) * 16
    assert sorted(map(bytes, allx.astype(np.uint8))) == sorted(
        map(bytes, ref.data.astype(np.uint8))
    )
    # stratified: each class within one image of 20 %
    counts = np.bincount(d.y_test, minlength=10)
    full = np.bincount(ref.target, minlength=10)
    assert np.all(np.abs(counts - full * 360 / 1797) < 1)
    # fixed: the same split each time
    np.testing.assert_array_equal(load_digits().y_test, d.y_test)


@settings(max_examples=30, deadline=None)
@given(
    labels=hnp.arrays(np.int64, st.integers(2, 80), elements=st.integers(0, 4)),
    frac=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**31),
)
def test_stratified_split_partition(labels, frac, seed) -> None:
    k = min(max(1, round(frac * labels.size)), labels.size - 1)
    train, test = stratified_split(labels, k, seed)
    assert test.size == k
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(labels.size))
    for c in np.unique(labels):
        share = np.sum(labels[test] == c)
        assert abs(share - np.sum(labels == c) * k / labels.size) < 1


def test_synthetic_seeded() -> None:
    a, b = load_synthetic(3, n_train=50, n_test=10), load_synthetic(3, n_train=50, n_test=10)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.pixels == 784 and a.name == "synthetic" and "synthetic" in a.source
    c = load_synthetic(4, n_train=50, n_test=10)
    assert not np.array_equal(a.x_train, c.x_train)
    assert set(np.unique(a.y_train)) <= set(range(10))


def test_unknown_dataset() -> None:
    with pytest.raises(ResbenchError, match="unknown dataset"):
        load_dataset("cifar")
