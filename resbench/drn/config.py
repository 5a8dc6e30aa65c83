"""The paper's DRN training presets (``papers/fast-drn/drn.py`` of the paper's code).

Each preset is the paper's hyperparameters, unchanged: layer sizes (input layer
``2 × 784`` = ``cat(x, -x)``), input gain, weight gains of the initialisation,
per-layer learning rates of the weights and the biases, the nudging β of
centered equilibrium propagation, the number of epochs, batch size 4 and the
per-epoch ExponentialLR factor 0.99.  :func:`preset` resizes a preset for
another input (``pixels=64`` for scikit-learn's 8×8 digits) or other hidden
layers (``--layers``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from resbench.errors import ResbenchError

__all__ = ["PAPER_BATCH_SIZE", "PAPER_GAMMA", "PRESETS", "DrnConfig", "preset"]

#: the paper's mini-batch size (all presets)
PAPER_BATCH_SIZE = 4
#: the paper's ExponentialLR factor, applied once per epoch
PAPER_GAMMA = 0.99
_MNIST_INPUTS = 2 * 28 * 28


@dataclass(frozen=True)
class DrnConfig:
    """A DRN and how the paper trains it.

    ``sizes``: every layer, the input layer included (``sizes[0] = 2 · pixels``).
    ``weight_gains`` / ``lr_weights``: one per weight matrix (``len(sizes) - 1``);
    ``lr_biases``: one per hidden or output layer (also ``len(sizes) - 1``).
    ``beta``: the nudging of centered EqProp.  ``gamma``: ExponentialLR per epoch.
    """

    name: str
    sizes: tuple[int, ...]
    input_gain: float
    weight_gains: tuple[float, ...]
    lr_weights: tuple[float, ...]
    lr_biases: tuple[float, ...]
    beta: float
    epochs: int
    batch_size: int = PAPER_BATCH_SIZE
    gamma: float = PAPER_GAMMA

    def __post_init__(self) -> None:
        n = len(self.sizes) - 1
        if n < 1 or min(self.sizes) < 1:
            raise ResbenchError(f"a DRN needs an input and an output layer, got {self.sizes}")
        for label, seq in (
            ("weight_gains", self.weight_gains),
            ("lr_weights", self.lr_weights),
            ("lr_biases", self.lr_biases),
        ):
            if len(seq) != n:
                raise ResbenchError(
                    f"{label} needs one value per weight layer ({n} for sizes {self.sizes}), "
                    f"got {len(seq)}"
                )


def _cfg(name, hidden, gain, wg, lrw, lrb, beta, epochs) -> DrnConfig:
    return DrnConfig(
        name=name,
        sizes=(_MNIST_INPUTS, *hidden, 10),
        input_gain=gain,
        weight_gains=tuple(wg),
        lr_weights=tuple(lrw),
        lr_biases=tuple(lrb),
        beta=beta,
        epochs=epochs,
    )


#: the paper's presets, keyed as resbench.generate.PRESETS (its drn-xs … drn-xl)
PRESETS: dict[str, DrnConfig] = {
    "xs": _cfg("xs", (100,), 100.0, (1.0, 1.0), (0.006, 0.006), (0.006, 0.006), 1.0, 10),
    "xl": _cfg("xl", (32768,), 800.0, (1.0, 1.0), (0.006, 0.006), (0.006, 0.006), 1.0, 100),
    "1h": _cfg("1h", (1024,), 480.0, (1.0, 1.0), (0.006, 0.006), (0.006, 0.006), 1.0, 50),
    "2h": _cfg(
        "2h",
        (1024, 1024),
        2000.0,
        (1.0, 1.0, 1.0),
        (0.002, 0.006, 0.018),
        (0.002, 0.006, 0.018),
        1.0,
        50,
    ),
    "3h": _cfg(
        "3h",
        (1024, 1024, 1024),
        4000.0,
        (1.0, 1.0, 1.0, 1.0),
        (0.005, 0.02, 0.08, 0.005),
        (0.0005, 0.002, 0.008, 0.0005),
        2.0,
        50,
    ),
}


def _resize(label: str, values: tuple[float, ...], n: int, name: str) -> tuple[float, ...]:
    if len(values) == n:
        return values
    if len(set(values)) == 1:
        return (values[0],) * n
    raise ResbenchError(
        f"preset {name!r} has per-layer {label} {values}; they cannot be spread over {n} "
        "weight layers: choose a preset with as many hidden layers, or give the values"
    )


def preset(
    name: str, *, pixels: int | None = None, hidden: Sequence[int] | None = None
) -> DrnConfig:
    """A preset, optionally for ``pixels`` inputs (input layer ``2 · pixels``) and/or
    other ``hidden`` layer sizes (even numbers: half excitatory, half inhibitory).

    With another number of hidden layers, per-layer values that are all equal are
    repeated; a preset with distinct per-layer values (2h, 3h) refuses.
    """
    key = name.lower().removeprefix("drn-")
    if key not in PRESETS:
        raise ResbenchError(f"unknown DRN preset {name!r}: choose one of {', '.join(PRESETS)}")
    cfg = PRESETS[key]
    sizes = list(cfg.sizes)
    if pixels is not None:
        if int(pixels) != pixels or pixels < 1:
            raise ResbenchError(f"pixels must be a positive integer, got {pixels!r}")
        sizes[0] = 2 * int(pixels)
    if hidden is not None:
        hid = [int(h) for h in hidden]
        if any(h < 2 or h % 2 for h in hid):
            raise ResbenchError(
                f"hidden layer sizes must be even and >= 2 (half excitatory, half "
                f"inhibitory units), got {list(hidden)}"
            )
        sizes = [sizes[0], *hid, sizes[-1]]
    n = len(sizes) - 1
    return replace(
        cfg,
        sizes=tuple(sizes),
        weight_gains=_resize("weight gains", cfg.weight_gains, n, key),
        lr_weights=_resize("learning rates", cfg.lr_weights, n, key),
        lr_biases=_resize("learning rates", cfg.lr_biases, n, key),
    )
