"""Datasets of ``resbench train``, all offline: nothing is ever downloaded.

* ``digits``: scikit-learn's 8×8 handwritten digits (1,797 images, shipped inside
  scikit-learn).  Pixels 0..16 scaled to [0, 1]; 64 pixels, so the network's input
  layer is cat(x, −x) = 128 units.  A fixed stratified split, independent of
  ``--seed`` so that every run is scored on the same images: 1,437 training and 360
  test images (20 %, with each digit's share kept to within one image).
* ``mnist``: MNIST from the four IDX files of its distribution in a local folder
  (``--data-dir``), raw or gzip-compressed: magic numbers, dimensions and counts are
  checked; pixels / 255.  60,000 training and 10,000 test images of 28×28 = 784
  pixels (input layer 1,568).
* ``synthetic``: MNIST-shaped random images with random labels (seeded): 60,000 +
  10,000 samples of 784 pixels.  Nothing to learn in it; it exists to time an epoch
  of the paper's size when MNIST is not at hand, and its rows say ``synthetic``.

Images are kept as their stored integers (``uint8``) with one divisor and turned
into floating point a mini-batch at a time (:meth:`Dataset.batch`): MNIST as float64
would hold 376 MB for nothing.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resbench.errors import ResbenchError

DATASETS = ("digits", "mnist", "synthetic")

#: the digits split: this many test images, drawn per class with this seed
DIGITS_TEST_SIZE = 360
DIGITS_SPLIT_SEED = 0

#: MNIST's files (the names of its distribution); each may also end in .gz
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MNIST_SHAPE = (28, 28)
MNIST_TRAIN, MNIST_TEST = 60_000, 10_000

#: IDX element types (the third byte of the magic number) → numpy dtype (big-endian)
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {v.newbyteorder(">") if v.itemsize > 1 else v: k for k, v in _IDX_TYPES.items()}


class DatasetError(ResbenchError):
    """A dataset that cannot be loaded: missing or malformed files, unknown name."""


@dataclass(frozen=True)
class Dataset:
    """Training and test images with their labels.

    ``x_train`` / ``x_test``: ``[N, pixels]`` stored integers (pixel value =
    stored / ``divisor``, as torchvision's ToTensor divides by 255); ``y_train`` /
    ``y_test``: ``[N]`` int64 class labels in 0..classes-1.  ``source`` says where the images came
    from (for the sidecar).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    divisor: float
    source: str
    classes: int = 10

    @property
    def pixels(self) -> int:
        """Pixels per image (the network's input layer is twice this)."""
        return int(self.x_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    def batch(self, rows: np.ndarray, *, test: bool = False, dtype: Any = np.float64) -> tuple:
        """Images ``rows`` of the training (or test) set as ``dtype`` in [0, 1], and
        their labels: ``(x [len(rows), pixels], labels [len(rows)])``."""
        x = self.x_test if test else self.x_train
        y = self.y_test if test else self.y_train
        xb = x[rows].astype(dtype)
        xb /= np.asarray(self.divisor, dtype=dtype)
        return xb, y[rows]

    def images(self, *, test: bool = False, dtype: Any = np.float64) -> np.ndarray:
        """Every image of the training (or test) set as ``dtype`` in [0, 1]."""
        x = self.x_test if test else self.x_train
        out = x.astype(dtype)
        out /= np.asarray(self.divisor, dtype=dtype)
        return out

    def describe(self) -> dict[str, Any]:
        """What the sidecar records about the data."""
        return {
            "name": self.name,
            "source": self.source,
            "pixels": self.pixels,
            "classes": self.classes,
            "train_samples": self.n_train,
            "test_samples": self.n_test,
        }


# ------------------------------------------------------------------ digits
def stratified_split(labels: np.ndarray, test_size: int, seed: int) -> tuple:
    """Indices ``(train, test)``: ``test_size`` test samples drawn per class in
    proportion to the class sizes (largest remainders; so each class's share is
    within one sample of exact), uniformly within a class with ``seed``.  Both index
    arrays are sorted.  Our own few lines rather than scikit-learn's splitter, so that
    the split cannot change with a scikit-learn release."""
    labels = np.asarray(labels)
    n = labels.size
    if not 0 < test_size < n:
        raise ValueError(f"test_size must be in 1..{n - 1}, got {test_size}")
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * (test_size / n)
    take = np.floor(exact).astype(int)
    short = test_size - int(take.sum())
    order = np.argsort(-(exact - take), kind="stable")
    take[order[:short]] += 1
    rng = np.random.default_rng(seed)
    test = []
    for c, k in zip(classes, take, strict=True):
        members = np.flatnonzero(labels == c)
        test.append(rng.permutation(members)[:k])
    test_idx = np.sort(np.concatenate(test))
    mask = np.ones(n, bool)
    mask[test_idx] = False
    return np.flatnonzero(mask), test_idx


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (pixels [1797, 64] uint8, labels [1797] int64).

    Read straight from the CSV that scikit-learn ships (``datasets/data/digits.csv.gz``,
    the file its ``load_digits`` reads), found without importing scikit-learn, whose
    import costs seconds; ``load_digits`` itself when that file is not there."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            with gzip.open(path, "rt") as fh:
                table = np.loadtxt(fh, delimiter=",", dtype=np.float64, ndmin=2)
            if table.shape == (1797, 65):
                return table[:, :64].round().astype(np.uint8), table[:, 64].astype(np.int64)
    from sklearn.datasets import load_digits as sk_load_digits

    d = sk_load_digits()
    return np.asarray(d.data).round().astype(np.uint8), np.asarray(d.target, dtype=np.int64)


def load_digits() -> Dataset:
    """scikit-learn's digits with the fixed 1,437 / 360 stratified split."""
    x, y = _digits_arrays()  # pixels stored 0..16
    train, test = stratified_split(y, DIGITS_TEST_SIZE, DIGITS_SPLIT_SEED)
    return Dataset(
        name="digits",
        x_train=x[train],
        y_train=y[train],
        x_test=x[test],
        y_test=y[test],
        divisor=16.0,
        source=(
            f"scikit-learn load_digits (8x8, pixels/16), stratified split seed "
            f"{DIGITS_SPLIT_SEED}: {train.size} train / {test.size} test"
        ),
    )


# ------------------------------------------------------------------ IDX files
def _open(path: Path) -> bytes:
    """The bytes of ``path``, gunzipped when it is gzip (by content, not by name)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, ValueError) as exc:
            raise DatasetError(
                f"{path} is not a valid gzip file ({exc}); replace it with an intact copy"
            ) from None
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An IDX file (raw or gzip) as a numpy array of its shape and element type.

    Checks the magic number (two zero bytes, a known type code, 1..4 dimensions) and
    that the payload holds exactly the number of elements the header says.  Raises
    DatasetError naming the file and what is wrong.
    """
    path = Path(path)
    data = _open(path)
    if len(data) < 4:
        raise DatasetError(f"{path} is not an IDX file: only {len(data)} bytes")
    zero, code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or code not in _IDX_TYPES or not 1 <= ndim <= 4:
        raise DatasetError(
            f"{path} is not an IDX file: magic number 0x{data[:4].hex()} "
            "(expected 0x0000080N, e.g. 0x00000803 for images, 0x00000801 for labels)"
        )
    head = 4 + 4 * ndim
    if len(data) < head:
        raise DatasetError(f"{path}: truncated IDX header ({len(data)} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_TYPES[code]
    want = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = len(data) - head
    if have != want:
        raise DatasetError(
            f"{path}: header says {' x '.join(map(str, shape))} elements ({want:,} bytes) "
            f"but the file holds {have:,} bytes after it; the file is truncated or not "
            "what its name says"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=head).reshape(shape).astype(dtype.newbyteorder("="))
    )


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip when ``compress``, default: when the name
    ends in .gz).  For tests and for users who make their own MNIST-format data."""
    path = Path(path)
    a = np.asarray(array)
    dtype = a.dtype.newbyteorder(">") if a.dtype.itemsize > 1 else a.dtype
    if dtype not in _IDX_CODES:
        raise DatasetError(f"IDX files cannot hold {a.dtype} elements")
    if not 1 <= a.ndim <= 4:
        raise DatasetError(f"IDX files hold 1 to 4 dimensions, not {a.ndim}")
    head = bytes([0, 0, _IDX_CODES[dtype], a.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in a.shape
    )
    data = head + a.astype(dtype).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def _mnist_help(data_dir: Path | None) -> str:
    names = ", ".join(MNIST_FILES.values())
    where = f"in {data_dir}" if data_dir is not None else "in a folder given with --data-dir"
    return (
        f"MNIST is read from local files, never downloaded: put the four IDX files {names} "
        f"(each raw or with .gz) {where}, as distributed by the MNIST database, then run "
        "again with --data-dir FOLDER"
    )


def find_mnist_file(data_dir: Path, name: str) -> Path | None:
    """``data_dir/name`` or ``data_dir/name.gz`` (also the ``.idx3-ubyte`` spelling of
    some mirrors), whichever exists first; None if none."""
    dotted = name.replace("-idx", ".idx")
    for cand in (name, name + ".gz", dotted, dotted + ".gz"):
        p = data_dir / cand
        if p.is_file():
            return p
    return None


def load_mnist(data_dir: str | os.PathLike | None) -> Dataset:
    """MNIST from the IDX files in ``data_dir`` (see the module docstring).

    Raises DatasetError when the folder or a file is missing (naming every expected
    file and where to put it) or a file is malformed: wrong magic number, images not
    28×28 uint8, labels not uint8 in 0..9, image and label counts that differ.
    """
    if data_dir is None:
        raise DatasetError("--dataset mnist needs --data-dir. " + _mnist_help(None))
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"--data-dir {folder} is not a folder. " + _mnist_help(folder))
    paths = {k: find_mnist_file(folder, n) for k, n in MNIST_FILES.items()}
    missing = [MNIST_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise DatasetError(f"{folder} lacks {', '.join(missing)}. " + _mnist_help(folder))
    arrays = {k: read_idx(p) for k, p in paths.items()}
    for part in ("train", "test"):
        img, lab = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        pi, pl = paths[f"{part}_images"], paths[f"{part}_labels"]
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[1:] != MNIST_SHAPE:
            raise DatasetError(
                f"{pi}: expected uint8 images of 28 x 28, found {img.dtype} of shape "
                f"{' x '.join(map(str, img.shape))}"
            )
        if lab.dtype != np.uint8 or lab.ndim != 1:
            raise DatasetError(
                f"{pl}: expected a list of uint8 labels, found {lab.dtype} of shape "
                f"{' x '.join(map(str, lab.shape))}"
            )
        if img.shape[0] != lab.shape[0]:
            raise DatasetError(
                f"{pi} holds {img.shape[0]:,} images but {pl} holds {lab.shape[0]:,} labels"
            )
        if img.shape[0] == 0:
            raise DatasetError(f"{pi} holds no images")
        if lab.size and int(lab.max()) > 9:
            raise DatasetError(f"{pl}: label {int(lab.max())} is not a digit 0..9")
    return Dataset(
        name="mnist",
        x_train=arrays["train_images"].reshape(arrays["train_images"].shape[0], -1),
        y_train=arrays["train_labels"].astype(np.int64),
        x_test=arrays["test_images"].reshape(arrays["test_images"].shape[0], -1),
        y_test=arrays["test_labels"].astype(np.int64),
        divisor=255.0,
        source=f"MNIST IDX files in {folder} (pixels/255)",
    )


# ------------------------------------------------------------------ synthetic
def load_synthetic(
    seed: int = 0, *, n_train: int = MNIST_TRAIN, n_test: int = MNIST_TEST, pixels: int = 784
) -> Dataset:
    """MNIST-shaped random images (uniform bytes / 255) with uniform random labels,
    from ``seed``: for timing an epoch of the paper's size, not for learning."""
    rng = np.random.default_rng([seed, 0x5E7])
    x = rng.integers(0, 256, size=(n_train + n_test, pixels), dtype=np.uint8)
    y = rng.integers(0, 10, size=n_train + n_test).astype(np.int64)
    return Dataset(
        name="synthetic",
        x_train=x[:n_train],
        y_train=y[:n_train],
        x_test=x[n_train:],
        y_test=y[n_train:],
        divisor=255.0,
        source=(
            f"synthetic: random MNIST-shaped images and labels, seed {seed} "
            "(timing only: nothing to learn)"
        ),
    )


def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None, seed: int = 0) -> Dataset:
    """The dataset ``name`` (one of :data:`DATASETS`); ``data_dir`` for MNIST, ``seed``
    for the synthetic images."""
    if name == "digits":
        return load_digits()
    if name == "mnist":
        return load_mnist(data_dir)
    if name == "synthetic":
        return load_synthetic(seed)
    raise DatasetError(f"unknown dataset {name!r}: use one of {', '.join(DATASETS)}")
