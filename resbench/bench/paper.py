"""The paper's own code as a peer: DRN parameters in its layout, and its solver.

The paper (Scellier, ICML 2024, docs/design.md §8) ships its code as
``rain-neuromorphics/energy-based-learning`` (not a pip package).  This module
loads it from a checkout the user points to (``paper_code=DIR`` or the
environment variable :data:`ENV_VAR`); it is never copied into resbench.  It
needs PyTorch, which lives in the optional extra ``peers``
(``pip install -e '.[peers]'``), never in the core dependencies.

Two models of one circuit
-------------------------
resbench's DRN (:func:`resbench.generate.drn`) and the paper's
``DeepResistiveEnergy`` describe the same network; :func:`export_paper_params`
and :func:`import_paper_params` map one to the other:

- **input layer (2m units)**: resbench nodes ``in0 … in{2m-1}`` held by grounded
  sources ``vin*``, ``in{2i}`` at ``+x_i·gain`` and ``in{2i+1}`` at ``-x_i·gain``;
  the paper's input layer of shape ``(2, 28, 28)`` (``(2, m)`` when m ≠ 784) holds
  ``gain · cat(x, -x)``: its unit ``i`` is ``+x_i``, its unit ``m+i`` is ``-x_i``.
- **hidden layer k (n units)**: resbench nodes ``h{k}_0 …``, each with an ideal
  diode to ground, even ``j`` held at ``v >= 0``, odd ``j`` at ``v <= 0``; the
  paper's ``NonlinearResistiveLayer`` clamps units ``0 … n/2-1`` to ``>= 0``
  (excitatory) and ``n/2 …`` to ``<= 0`` (inhibitory).
- **output layer**: resbench ``out0 …``, no diode; the paper's ``LinearLayer``,
  same order.
- **conductance**: a resistor ``R`` between consecutive layers (clipped zeros
  omitted, parallel resistors add up) is the paper's dense weight
  ``w = 1 / (R · g_unit)`` (0 where there is no resistor).
- **bias**: a current source ``ib*`` of ``I`` amperes from ground into a hidden or
  output node is the paper's bias ``b = I / g_unit`` (energy term ``-b·v``); a
  circuit without current sources has the paper's biases at 0.

So in every layer the paper's unit order is "resbench's even units, then its
odd units" (:func:`paper_order`): for the input layer that is
``cat(+x, -x)``, for a hidden layer "excitatory, then inhibitory".  A hidden
layer must have an even size (the paper makes exactly the first half
excitatory).

Why the equilibria are the same
-------------------------------
resbench's answer minimises the power ``½ Σ G (v_a - v_b)² - Σ I v`` over the
free nodes with the diode bounds (``v >= 0`` / ``v <= 0``) and the inputs held
(docs/design.md §1).  The paper's energy is ``½ Σ w (v_a - v_b)² - Σ b v``
with the same bounds (its clamp), i.e. resbench's divided by ``g_unit``; a
common factor moves no minimiser.  Its ``QuadraticMinimizer`` in
'asynchronous' mode updates the even-numbered free layers, then the odd ones;
no two units of a layer are connected, so each update is the exact minimiser
over that layer (``clamp(-b / 2a)``): block coordinate descent on a strictly
convex QP, which converges to the unique minimiser.  The paper runs a fixed,
small number of these iterations (:data:`PAPER_ITERATIONS`, from its
``papers/fast-drn/drn.py``), so its answer at the paper's settings is near,
not at, the equilibrium; with enough iterations in float64 it agrees with
resbench to ~1e-12 V (tests/test_paper.py).

The parameter mapping (:class:`PaperParams`, both functions; defined in
:mod:`resbench.drn.paper_layout`, re-exported here) is pure numpy
and needs neither torch nor the checkout.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resbench.drn.paper_layout import (
    PaperParams,
    _check_params,
    export_paper_params,
    import_paper_params,
    paper_order,
)
from resbench.errors import ResbenchError
from resbench.generate import PRESETS

__all__ = [
    "ENV_VAR",
    "INSTALL_HINT",
    "PAPER_ITERATIONS",
    "PAPER_REPO",
    "PaperCodeUnavailable",
    "PaperModel",
    "PaperParams",
    "export_paper_params",
    "import_paper_params",
    "load_paper_code",
    "paper_order",
    "paper_solve",
    "paper_status",
]

#: environment variable naming the checkout of the paper's code
ENV_VAR = "RESBENCH_PAPER_CODE"
#: where the paper's code lives (GitHub)
PAPER_REPO = "rain-neuromorphics/energy-based-learning"
#: how to get torch for the paper-code column
INSTALL_HINT = "pip install -e '.[peers]'"
#: the paper's inference iterations per preset (its papers/fast-drn/drn.py)
PAPER_ITERATIONS: dict[str, int] = {"xs": 4, "1h": 4, "2h": 5, "3h": 6, "xl": 4}
#: a file every checkout of the paper's code has (how a folder is recognised)
_MARKER = Path("model") / "resistive" / "network.py"
#: the paper's image side: its input layer is (2, 28, 28) for 784 pixels
_MNIST_SIDE = 28


class PaperCodeUnavailable(ResbenchError):
    """torch or the checkout of the paper's code is missing (the bench skips its column)."""


# --------------------------------------------------------------------- the paper's code
@dataclass(frozen=True)
class _PaperCode:
    """The classes of the paper's code this module uses, and torch."""

    root: Path
    torch: Any
    DeepResistiveEnergy: Any
    Network: Any
    QuadraticMinimizer: Any


_LOADED: dict[Path, _PaperCode] = {}
_LOCK = threading.Lock()
_PACKAGES = ("model", "training", "datasets")  # the checkout's top-level names


def _checkout(paper_code: str | os.PathLike | None) -> Path:
    given = paper_code if paper_code is not None else os.environ.get(ENV_VAR) or None
    if given is None:
        raise PaperCodeUnavailable(
            f"no checkout of the paper's code ({PAPER_REPO}) given: pass --paper-code DIR or "
            f"set {ENV_VAR}=DIR (git clone https://github.com/{PAPER_REPO})"
        )
    root = Path(given).expanduser().resolve()
    if not (root / _MARKER).is_file():
        raise PaperCodeUnavailable(
            f"{root} is not a checkout of {PAPER_REPO} (it has no {_MARKER.as_posix()}); "
            f"pass --paper-code DIR or set {ENV_VAR} to the repository's top folder"
        )
    return root


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise PaperCodeUnavailable(
            f"the paper's code needs PyTorch, which is not installed: {INSTALL_HINT}"
        ) from exc
    return torch


@contextlib.contextmanager
def _checkout_on_path(root: Path) -> Iterator[None]:
    """``root`` first on sys.path and the checkout's package names free while importing;
    sys.path and any same-named modules of the caller are restored afterwards."""
    saved_path = list(sys.path)
    ours = [m for m in sys.modules if m.split(".")[0] in _PACKAGES]
    saved_mods = {m: sys.modules.pop(m) for m in ours}
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path[:] = saved_path
        for m in [m for m in sys.modules if m.split(".")[0] in _PACKAGES]:
            del sys.modules[m]  # the classes keep their modules alive; the names go back
        sys.modules.update(saved_mods)


def load_paper_code(paper_code: str | os.PathLike | None = None) -> _PaperCode:
    """Import the paper's DRN model, network and minimizer from its checkout
    (``paper_code`` or :data:`ENV_VAR`).  Raises :class:`PaperCodeUnavailable`
    saying what is missing and how to get it."""
    root = _checkout(paper_code)
    torch = _import_torch()
    with _LOCK:
        if root not in _LOADED:
            with _checkout_on_path(root):
                try:
                    from model.function.network import Network
                    from model.resistive.minimizer import QuadraticMinimizer
                    from model.resistive.network import DeepResistiveEnergy
                except Exception as exc:  # noqa: BLE001 - any failure of foreign code
                    raise PaperCodeUnavailable(
                        f"could not import the paper's code from {root}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
            _LOADED[root] = _PaperCode(
                root, torch, DeepResistiveEnergy, Network, QuadraticMinimizer
            )
        return _LOADED[root]


def paper_status(paper_code: str | os.PathLike | None = None) -> str | None:
    """None when the paper's code can run, else ``"skipped: why (what to do)"``."""
    try:
        load_paper_code(paper_code)
    except PaperCodeUnavailable as exc:
        return f"skipped: {exc}"
    return None


@contextlib.contextmanager
def _torch_settings(torch: Any, dtype: Any, threads: int | None) -> Iterator[None]:
    """torch's default dtype (the paper's layers take it) and thread count, restored after."""
    old_dtype, old_threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(dtype)
    if threads is not None and threads != old_threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_default_dtype(old_dtype)
        if torch.get_num_threads() != old_threads:
            torch.set_num_threads(old_threads)


def _torch_dtype(torch: Any, dtype: Any) -> Any:
    kind = np.dtype(dtype)
    if kind == np.float64:
        return torch.float64
    if kind == np.float32:
        return torch.float32
    raise ResbenchError(f"dtype must be float64 or float32, got {kind}")


class PaperModel:
    """The paper's ``DeepResistiveEnergy`` + ``QuadraticMinimizer`` ('asynchronous'),
    unmodified, loaded with ``params``: built once (like a resbench Network), then
    :meth:`run` for each batch (the part a benchmark times) or :meth:`solve`.

    ``iterations`` defaults to the paper's own for a preset's sizes
    (:data:`PAPER_ITERATIONS`), else 4.  ``dtype`` float64 or float32: the
    parameters, inputs and layer states all take it.
    """

    def __init__(
        self,
        params: PaperParams,
        *,
        dtype: Any = np.float64,
        iterations: int | None = None,
        paper_code: str | os.PathLike | None = None,
    ) -> None:
        self.sizes = _check_params(params)
        self.params = params
        self.code = load_paper_code(paper_code)
        torch = self.code.torch
        self.torch_dtype = _torch_dtype(torch, dtype)
        self.dtype = np.dtype(dtype)
        preset = next((k for k, v in PRESETS.items() if v == self.sizes), None)
        self.iterations = int(
            iterations if iterations is not None else PAPER_ITERATIONS.get(preset or "", 4)
        )
        if self.iterations < 1:
            raise ResbenchError(f"iterations must be >= 1, got {self.iterations}")
        m = params.pixels
        self.pixel_shape = (_MNIST_SIDE, _MNIST_SIDE) if m == _MNIST_SIDE**2 else (m,)
        # the gain only scales how inputs are fed; 0 would lose them, so feed x·gain as x then
        self.gain = float(params.input_gain) if params.input_gain not in (0.0, None) else 1.0
        shapes = [(2, *self.pixel_shape)] + [(n,) for n in self.sizes[1:]]
        with _torch_settings(torch, self.torch_dtype, None):
            self.energy = self.code.DeepResistiveEnergy(
                shapes, [1.0] * (len(shapes) - 1), self.gain
            )
            self._load(params, shapes)
            self.network = self.code.Network(self.energy)
            self.minimizer = self.code.QuadraticMinimizer(self.energy, self.network.free_layers())
            self.minimizer.num_iterations = self.iterations
            self.minimizer.mode = "asynchronous"

    def _load(self, params: PaperParams, shapes: list[tuple[int, ...]]) -> None:
        """Write the parameters into the paper's tensors (its order: biases of layers
        1…L-1, then the weights)."""
        torch = self.code.torch
        biases = params.biases or [np.zeros(n) for n in self.sizes[1:]]
        states = list(biases) + [
            np.asarray(w, dtype=np.float64).reshape(shapes[k] + shapes[k + 1])
            for k, w in enumerate(params.weights)
        ]
        mine = self.energy.params()
        if len(mine) != len(states):  # pragma: no cover - a different version of the code
            raise PaperCodeUnavailable(
                f"the paper's DeepResistiveEnergy has {len(mine)} parameters, expected "
                f"{len(states)}: this version of {PAPER_REPO} is not supported"
            )
        for p, s in zip(mine, states, strict=True):
            if tuple(p.state.shape) != s.shape:  # pragma: no cover - another version
                raise PaperCodeUnavailable(
                    f"the paper's parameter {p.name} has shape {tuple(p.state.shape)}, "
                    f"expected {s.shape}"
                )
            p.state = torch.tensor(np.ascontiguousarray(s), dtype=self.torch_dtype)

    def pixels(self, inputs: np.ndarray) -> Any:
        """The paper's ``set_input`` argument ``x [B, 1, 28, 28]`` of input-source values
        ``[B, 2m]`` (columns = ``params.input_names``: ``+x·gain`` on even inputs,
        ``-x·gain`` on odd ones).  Refuses values that are not such pairs."""
        v = np.asarray(inputs, dtype=np.float64)
        if v.ndim == 1:
            v = v[None, :]
        if v.ndim != 2 or v.shape[1] != self.sizes[0] or v.shape[0] < 1:
            raise ResbenchError(
                f"inputs must have shape [B, {self.sizes[0]}] (one column per input source), "
                f"got {v.shape}"
            )
        if not np.all(np.isfinite(v)):
            raise ResbenchError("inputs must be finite")
        if not np.array_equal(v[:, 1::2], -v[:, 0::2]):
            raise ResbenchError(
                "the paper's input layer holds (+x, -x) pairs: every odd input must be minus "
                "the even input before it"
            )
        x = v[:, 0::2] / self.gain
        return self.code.torch.tensor(
            x.reshape(v.shape[0], 1, *self.pixel_shape), dtype=self.torch_dtype
        )

    def run(self, x: Any, threads: int | None = None) -> list[Any]:
        """One batch through the paper's code as its Evaluator does: ``set_input(x,
        reset=True)`` (cold start from 0 V) then ``compute_equilibrium()``.  Returns
        the layers' states (torch tensors, the paper's order)."""
        torch = self.code.torch
        with _torch_settings(torch, self.torch_dtype, threads):
            self.network.set_input(x, reset=True)
            self.minimizer.compute_equilibrium()
            return [layer.state for layer in self.energy.layers()]

    def voltages(self, states: list[Any]) -> np.ndarray:
        """Layer states of :meth:`run` as node voltages ``[B, n_nodes]`` float64 in the
        circuit's node order (ground 0 V)."""
        b = int(states[0].shape[0])
        out = np.zeros((b, len(self.params.nodes)), dtype=np.float64)
        for ix, s in zip(self.params.layer_nodes, states, strict=True):
            out[:, ix] = s.detach().reshape(b, -1).to(self.code.torch.float64).numpy()
        return out

    def solve(self, inputs: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Node voltages ``[B, n_nodes]`` (circuit node order) of input values ``[B, 2m]``."""
        return self.voltages(self.run(self.pixels(inputs), threads))


def paper_solve(
    params: PaperParams,
    inputs: np.ndarray,
    *,
    dtype: Any = np.float64,
    iterations: int | None = None,
    threads: int | None = None,
    paper_code: str | os.PathLike | None = None,
) -> np.ndarray:
    """Solve a batch with the paper's own code: node voltages ``[B, n_nodes]`` in the
    circuit's node order, for input-source values ``inputs [B, 2m]`` (columns =
    ``params.input_names``).  Builds a :class:`PaperModel` each call; keep one to
    solve many batches."""
    model = PaperModel(params, dtype=dtype, iterations=iterations, paper_code=paper_code)
    return model.solve(inputs, threads)
