"""The network and hyperparameters of a ``resbench train`` run, from its options.

:func:`build_config` starts from a base and applies the options given:

* ``--preset NAME``: the paper's preset (``resbench.drn.PRESETS``: its sizes, input
  gain, learning rates, β, epochs and batch size 4), resized to the dataset's pixels;
* no preset, ``digits``: :data:`DIGITS_DEFAULT`, a small one-hidden-layer network
  whose hyperparameters were tuned on digits (docs/train.md has the run);
* no preset, ``mnist`` / ``synthetic``: the paper's DRN-1H.

``--layers`` replaces the hidden layers (per-layer values that are all equal are
repeated over the new layers; otherwise give the learning rates), and each of
``--input-gain``, ``--beta``, ``--lr-weights``, ``--lr-biases``, ``--epochs``,
``--batch-size``, ``--gamma`` replaces its value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from resbench.drn.config import DrnConfig, preset
from resbench.errors import ResbenchError

#: the digits default (tuned: see docs/train.md); 64 pixels → input layer 128
DIGITS_DEFAULT = DrnConfig(
    name="small",
    sizes=(128, 128, 10),
    input_gain=20.0,
    weight_gains=(1.0, 1.0),
    lr_weights=(0.05, 0.05),
    lr_biases=(0.05, 0.05),
    beta=1.0,
    epochs=50,
    batch_size=4,
    gamma=0.99,
)


def parse_layers(text: str) -> tuple[int, ...]:
    """``"1024,1024"`` → (1024, 1024): hidden layer sizes, comma-separated."""
    try:
        sizes = tuple(int(t) for t in text.replace(" ", "").split(","))
    except ValueError:
        raise ResbenchError(
            f"--layers {text!r}: give the hidden layer sizes as whole numbers separated by "
            "commas, e.g. 256 or 1024,1024"
        ) from None
    if any(h < 2 or h % 2 for h in sizes):
        raise ResbenchError(
            f"--layers {text!r}: each hidden layer needs an even size >= 2 (half excitatory, "
            "half inhibitory units)"
        )
    return sizes


def parse_floats(text: str, option: str) -> tuple[float, ...]:
    """``"0.006"`` or ``"0.002,0.006,0.018"`` → positive floats (one value, or one per
    layer)."""
    try:
        vals = tuple(float(t) for t in text.replace(" ", "").split(","))
    except ValueError:
        raise ResbenchError(
            f"{option} {text!r}: give one number, or one per layer separated by commas"
        ) from None
    if any(not (v >= 0 and v < float("inf")) for v in vals):
        raise ResbenchError(f"{option} {text!r}: learning rates must be finite and >= 0")
    return vals


def _per_layer(vals: tuple[float, ...], n: int, option: str) -> tuple[float, ...]:
    if len(vals) == 1:
        return vals * n
    if len(vals) != n:
        raise ResbenchError(
            f"{option} has {len(vals)} values but the network has {n} weight layers: give one "
            f"value, or {n} separated by commas"
        )
    return vals


def _spread(cfg: DrnConfig, hidden: Sequence[int], given: frozenset[str]) -> DrnConfig:
    """``cfg`` with other hidden layers: per-layer values that are all equal repeated;
    those named in ``given`` (replaced by the caller next) just sized."""
    sizes = (cfg.sizes[0], *hidden, cfg.sizes[-1])
    n = len(sizes) - 1

    def fit(key: str, label: str) -> tuple[float, ...]:
        vals = getattr(cfg, key)
        if key in given:
            return (vals[0],) * n
        if len(vals) == n:
            return vals
        if len(set(vals)) == 1:
            return (vals[0],) * n
        raise ResbenchError(
            f"the base network's {label} {vals} differ per layer and cannot be spread over "
            f"{n} weight layers: give --lr-weights and --lr-biases"
        )

    return replace(
        cfg,
        sizes=sizes,
        weight_gains=fit("weight_gains", "weight gains"),
        lr_weights=fit("lr_weights", "learning rates of the weights"),
        lr_biases=fit("lr_biases", "learning rates of the biases"),
    )


def build_config(
    *,
    dataset: str,
    pixels: int,
    preset_name: str | None = None,
    layers: Sequence[int] | None = None,
    input_gain: float | None = None,
    beta: float | None = None,
    lr_weights: Sequence[float] | None = None,
    lr_biases: Sequence[float] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    gamma: float | None = None,
) -> DrnConfig:
    """The DrnConfig of a run (see the module docstring); ResbenchError for values that
    do not fit the network (a learning-rate list of the wrong length …)."""
    if preset_name is not None:
        cfg = preset(preset_name, pixels=pixels)
    elif dataset == "digits":
        cfg = replace(DIGITS_DEFAULT, sizes=(2 * pixels, *DIGITS_DEFAULT.sizes[1:]))
    else:
        cfg = preset("1h", pixels=pixels)
    if layers is not None:
        hidden = tuple(int(h) for h in layers)
        given = frozenset(
            k for k, v in (("lr_weights", lr_weights), ("lr_biases", lr_biases)) if v is not None
        )
        cfg = _spread(cfg, hidden, given)
        name = "h" + "-".join(map(str, hidden))
        cfg = replace(cfg, name=name if preset_name is None else f"{preset_name}-{name}")
    n = len(cfg.sizes) - 1
    changes: dict = {}
    if lr_weights is not None:
        changes["lr_weights"] = _per_layer(tuple(lr_weights), n, "--lr-weights")
    if lr_biases is not None:
        changes["lr_biases"] = _per_layer(tuple(lr_biases), n, "--lr-biases")
    for key, val in (
        ("input_gain", input_gain),
        ("beta", beta),
        ("epochs", epochs),
        ("batch_size", batch_size),
        ("gamma", gamma),
    ):
        if val is not None:
            changes[key] = val
    return replace(cfg, **changes)
