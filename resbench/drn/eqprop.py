"""Centered equilibrium propagation on a DRN, as the paper trains it.

One step (the paper's ``Trainer`` with ``EquilibriumProp``, variant 'centered',
``training/sgd.py`` of its code):

1. the free phase ``s(0)``: the network's equilibrium for the batch;
2. two nudged phases ``s(+β)`` and ``s(−β)``, each warm-started from the free
   state, minimising ``E + β·C`` with ``C = ½ ‖o − t‖²`` (the squared error to
   the one-hot target: a current ``β (t − o)`` into each output);
3. the gradient estimate of every parameter θ,
   ``(∂E/∂θ (s(+β)) − ∂E/∂θ (s(−β))) / (2β)``, where for a conductance
   ``∂E/∂w_ij = ½ · mean over the batch of ΔV_ij²`` (the branch's voltage drop
   squared) and for a bias ``∂E/∂b = −mean(v)``;
4. SGD with a learning rate per layer (weights and biases apart), then the
   conductances are clamped at 0 (the paper's ``clamp_``).  The loop calls
   :meth:`EqPropStep.scale_lr` with γ after each epoch (ExponentialLR).

All phases run through the exact solver (:func:`resbench.drn.solve_drn`), where
the paper runs a fixed number of block-CD iterations.  The input layer's
injection ``x_in · W_0`` is one GEMM per step, shared by the three phases.

The weight update never loops over the batch in Python: with ``ΔV² = (u_i − w_j)²``,
``Σ_b [(u⁺_i − w⁺_j)² − (u⁻_i − w⁻_j)²] = r_i + a_j − 2 (U⁺ᵀW⁺ − U⁻ᵀW⁻)_ij`` with
``r``, ``a`` sums of squares (``r = 0`` for the input layer, which both phases
share, so its squares cancel), and the cross term a GEMM.  Then one numba pass
per weight matrix applies ``W ← max(W − lr·G, 0)`` and sums the new columns and
rows that the solver's next step needs: W is read and written once per step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from resbench.drn.model import Drn
from resbench.drn.solver import (
    DrnInputs,
    DrnState,
    LayerSums,
    PhaseSolver,
    prepare_inputs,
    solve_drn,
)
from resbench.errors import ResbenchError

__all__ = ["ALGORITHMS", "EqPropStep", "ExactSimulator", "Simulator", "StepStats", "evaluate"]

ALGORITHMS = ("ep", "bp")
_ROWS_PER_BLOCK_BYTES = 1 << 19  # the cross term is made in row blocks of ~512 KB (L2)
_LOW_RANK = 16  # up to this rank the update makes the cross term itself


class Simulator(Protocol):
    """Solves one phase of a DRN (free, or nudged) for a batch."""

    name: str

    def solve(
        self,
        drn: Drn,
        x: np.ndarray,
        *,
        targets: np.ndarray | None = None,
        beta: float = 0.0,
        warm: DrnState | None = None,
    ) -> DrnState: ...


class ExactSimulator:
    """resbench's exact batched solver (:func:`resbench.drn.solve_drn`)."""

    name = "resbench"

    def solve(
        self,
        drn: Drn,
        x: np.ndarray,
        *,
        targets: np.ndarray | None = None,
        beta: float = 0.0,
        warm: DrnState | None = None,
    ) -> DrnState:
        return solve_drn(drn, x, targets=targets, beta=beta, warm=warm)


@dataclass
class StepStats:
    """One training step: the free phase's mean cost ``½‖o − t‖²`` over the batch
    (``loss``), its misclassified samples (``errors``, argmax ≠ label), the batch
    size ``n``, total sweeps per phase and seconds per phase (and the update)."""

    loss: float
    errors: int
    n: int
    sweeps: dict[str, int] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)


def one_hot(labels: np.ndarray, n_out: int, dtype: Any) -> np.ndarray:
    """One-hot targets ``[B, n_out]`` of integer labels; ResbenchError when out of range."""
    lab = np.asarray(labels)
    if lab.ndim != 1 or not np.issubdtype(lab.dtype, np.integer):
        raise ResbenchError(f"labels must be a 1-d integer array, got {lab.dtype} {lab.shape}")
    if lab.size and (lab.min() < 0 or lab.max() >= n_out):
        raise ResbenchError(f"labels must be in 0 … {n_out - 1} (one per output unit)")
    t = np.zeros((lab.shape[0], n_out), dtype=dtype)
    t[np.arange(lab.shape[0]), lab] = 1
    return t


def _per_layer(label: str, values: Any, n: int) -> list[float]:
    if np.isscalar(values):
        values = [values] * n
    out = [float(v) for v in values]
    if len(out) != n or not all(np.isfinite(v) and v >= 0 for v in out):
        raise ResbenchError(f"{label} needs {n} finite values >= 0 (one per layer), got {values!r}")
    return out


def _cost(out: np.ndarray, t: np.ndarray) -> np.ndarray:
    d = out.astype(np.float64) - t
    return 0.5 * np.einsum("ij,ij->i", d, d)


class EqPropStep:
    """Centered EqProp training steps on ``drn`` (updated in place).

    ``lr_weights`` / ``lr_biases``: one learning rate per weight layer / per hidden
    or output layer (a scalar is used for all).  ``beta > 0``: the nudging.
    ``simulator``: None for resbench's exact solver (sharing the input injection and
    column sums between phases), or any :class:`Simulator`.
    """

    def __init__(
        self,
        drn: Drn,
        *,
        lr_weights: Any,
        lr_biases: Any,
        beta: float,
        algorithm: str = "ep",
        simulator: Simulator | None = None,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ResbenchError(
                f"unknown training algorithm {algorithm!r}: choose one of {', '.join(ALGORITHMS)}"
            )
        if not (np.isfinite(beta) and beta > 0):
            raise ResbenchError(f"beta (the nudging) must be a positive number, got {beta!r}")
        n = len(drn.sizes) - 1
        self.drn = drn
        self.algorithm = algorithm
        self.beta = float(beta)
        self.lr_weights = _per_layer("lr_weights", lr_weights, n)
        self.lr_biases = _per_layer("lr_biases", lr_biases, n)
        self.simulator = simulator
        self._sums: LayerSums | None = None
        self._next: tuple[np.ndarray, DrnInputs, int] | None = None  # prefetched injection

    def _inputs(self, x: np.ndarray) -> DrnInputs:
        """The batch's DrnInputs: the injection the previous step made for it in its
        update pass (``next_x``), when it was this batch and W_0 is the same array."""
        pre, self._next = self._next, None
        if pre is not None:
            px, inputs, wid = pre
            a = np.asarray(x)
            if wid == id(self.drn.weights[0]) and a.shape == px.shape and np.array_equal(a, px):
                return inputs
        return prepare_inputs(self.drn, x)

    def scale_lr(self, factor: float) -> None:
        """Multiply every learning rate by ``factor`` (ExponentialLR: γ once per epoch)."""
        f = float(factor)
        if not (np.isfinite(f) and f >= 0):
            raise ResbenchError(f"the learning-rate factor must be >= 0, got {factor!r}")
        self.lr_weights = [lr * f for lr in self.lr_weights]
        self.lr_biases = [lr * f for lr in self.lr_biases]

    # ------------------------------------------------------------------ phases
    def _phases(
        self, x: np.ndarray, t: np.ndarray
    ) -> tuple[np.ndarray, DrnState, DrnState, DrnState, dict[str, float]]:
        drn, beta = self.drn, self.beta
        times: dict[str, float] = {}
        t0 = time.perf_counter()
        if self.simulator is None:
            if self._sums is None:
                self._sums = LayerSums.of(drn)
            inputs = self._inputs(x)
            x_in = inputs.x_in
            phases = PhaseSolver(drn, inputs, self._sums)

            def run(**kw: Any) -> DrnState:
                return phases.solve(**kw)
        else:
            x_in = drn.input_state(x)
            sim = self.simulator

            def run(**kw: Any) -> DrnState:
                return sim.solve(drn, x, **kw)

        free = run()
        t1 = time.perf_counter()
        plus = run(targets=t, beta=beta, warm=free)
        t2 = time.perf_counter()
        minus = run(targets=t, beta=-beta, warm=free)
        t3 = time.perf_counter()
        times.update(free=t1 - t0, plus=t2 - t1, minus=t3 - t2)
        return x_in, free, plus, minus, times

    def gradients(
        self, x: np.ndarray, labels: np.ndarray
    ) -> tuple[list[np.ndarray], list[np.ndarray], DrnState]:
        """The gradient estimates (weights, biases) and the free state, without updating:
        for tests and inspection (the step fuses the weight part into the update)."""
        drn = self.drn
        t = one_hot(labels, drn.sizes[-1], drn.dtype)
        _, free, terms, gb, _, _ = self._estimate(x, t)
        gw = [sc * (r[:, None] + a[None, :] - 2.0 * (u.T @ v)) for r, a, u, v, sc in terms]
        return gw, gb, free

    def _estimate(self, x: np.ndarray, t: np.ndarray) -> tuple:
        """(x_in, free state, per weight matrix the factors (r, a, U, V, scale) of its
        gradient ``scale · (r_i + a_j − 2 (UᵀV)_ij)``, bias gradients, sweeps, times)."""
        if self.algorithm == "bp":
            return self._estimate_bp(x, t)
        x_in, free, plus, minus, times = self._phases(x, t)
        scale = 1.0 / (4.0 * self.beta * x_in.shape[0])
        terms = [(*self._terms(k, x_in, plus, minus), scale) for k in range(len(self.drn.weights))]
        sweeps = {
            "free": int(free.sweeps.sum()),
            "plus": int(plus.sweeps.sum()),
            "minus": int(minus.sweeps.sum()),
        }
        return x_in, free, terms, self._bias_grads(plus, minus), sweeps, times

    def _estimate_bp(self, x: np.ndarray, t: np.ndarray) -> tuple:
        """Backprop through the fixed point (implicit differentiation of the free
        equilibrium): the adjoint λ solves ``H λ = ∂C/∂s`` on the units that are free
        to move (H the energy's Hessian there; units held by their diode keep λ = 0),
        then ``dL/dw_ij = −mean (λ_i − λ_j)(s_i − s_j)`` and ``dL/db_j = mean λ_j``:
        EqProp's limit β → 0."""
        drn = self.drn
        t0 = time.perf_counter()
        if self.simulator is None:
            if self._sums is None:
                self._sums = LayerSums.of(drn)
            inputs = self._inputs(x)
            x_in = inputs.x_in
            free = PhaseSolver(drn, inputs, self._sums).solve()
        else:
            x_in = drn.input_state(x)
            free = self.simulator.solve(drn, x)
        t1 = time.perf_counter()
        lam, sweeps = _adjoint(drn, free, t, self._sums or LayerSums.of(drn))
        t2 = time.perf_counter()
        B = x_in.shape[0]
        states = [x_in, *free.layers]
        lams = [np.zeros_like(x_in), *lam]
        terms = []
        h = np.sqrt(0.5)
        for k in range(len(drn.weights)):
            sp, lp, sq, lq = states[k], lams[k], states[k + 1], lams[k + 1]
            r = np.einsum("bi,bi->i", lp, sp)
            a = np.einsum("bj,bj->j", lq, sq)
            if k == 0:
                u, v = h * sp, h * lq
            else:
                u, v = h * np.concatenate([lp, sp]), h * np.concatenate([sq, lq])
            terms.append((r, a, u, v, -1.0 / B))
        gb = [layer.mean(axis=0) for layer in lam]
        times = {"free": t1 - t0, "plus": 0.0, "minus": 0.0, "adjoint": t2 - t1}
        counts = {"free": int(free.sweeps.sum()), "plus": 0, "minus": 0, "adjoint": sweeps}
        return x_in, free, terms, gb, counts, times

    def _terms(
        self, k: int, x_in: np.ndarray, plus: DrnState, minus: DrnState
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For weight matrix k: row term r, column term a, and the stacked factors
        whose product Uᵀ V is the cross term ``U⁺ᵀW⁺ − U⁻ᵀW⁻``, of
        Σ_b [ΔV²(+β) − ΔV²(−β)] (scaled by (1/(2β)) · ½ · (1/B))."""
        wp, wm = plus.layers[k], minus.layers[k]
        a = np.einsum("bj,bj->j", wp, wp) - np.einsum("bj,bj->j", wm, wm)
        if k == 0:
            r = np.zeros(x_in.shape[1], dtype=a.dtype)
            return r, a, x_in, wp - wm
        up, um = plus.layers[k - 1], minus.layers[k - 1]
        r = np.einsum("bi,bi->i", up, up) - np.einsum("bi,bi->i", um, um)
        return r, a, np.concatenate([up, -um]), np.concatenate([wp, wm])

    def _bias_grads(self, plus: DrnState, minus: DrnState) -> list[np.ndarray]:
        # ∂E/∂b = −mean(v): (−mean(v⁺) + mean(v⁻)) / (2β)
        return [
            (m.mean(axis=0) - p.mean(axis=0)) / (2.0 * self.beta)
            for p, m in zip(plus.layers, minus.layers, strict=True)
        ]

    # ------------------------------------------------------------------ the step
    def step(
        self, x: np.ndarray, labels: np.ndarray, *, next_x: np.ndarray | None = None
    ) -> StepStats:
        """One SGD step on a batch ``x [B, m]``, ``labels [B]``; updates the network.
        ``sweeps`` / ``times`` have the keys free, plus, minus (and adjoint for bp,
        whose plus and minus are 0); ``times`` also update.

        ``next_x``: the next batch, when the caller knows it: the update pass over
        ``W_0`` then also makes that batch's input injection (one pass over the largest
        matrix per step instead of two; the next ``step`` on those inputs uses it)."""
        drn = self.drn
        if np.ndim(labels) != 1 or np.shape(labels)[0] != np.shape(x)[0]:
            raise ResbenchError(f"{np.shape(x)[0]} inputs but labels of shape {np.shape(labels)}")
        if np.shape(x)[0] == 0:
            raise ResbenchError("a training step needs at least one sample")
        t = one_hot(labels, drn.sizes[-1], drn.dtype)
        x_in, free, terms, gb, sweeps, times = self._estimate(x, t)
        B = x_in.shape[0]
        cost = _cost(free.output, t)
        errors = int(np.count_nonzero(np.argmax(free.output, axis=1) != np.asarray(labels)))
        t0 = time.perf_counter()
        sums = self._sums if self._sums is not None else LayerSums.of(drn)
        x_next = None
        if next_x is not None and self.simulator is None:
            x_next = drn.input_state(next_x)
        for k, (w, (r, a, u, v, scale)) in enumerate(zip(drn.weights, terms, strict=True)):
            if k == 0 and x_next is not None and u.shape[0] <= _LOW_RANK:
                inj = _update_inject(w, r, a, u, v, self.lr_weights[0] * scale, sums, x_next)
                v_in = np.abs(x_next).max(axis=1).astype(np.float64)
                nx = np.array(next_x, copy=True)
                self._next = (nx, DrnInputs(x_next, inj, v_in), id(w))
                continue
            _update(w, r, a, u, v, self.lr_weights[k] * scale, sums, k)
        for k, b in enumerate(drn.biases):
            b -= (self.lr_biases[k] * gb[k]).astype(b.dtype)
        self._sums = sums if self.simulator is None else None
        times["update"] = time.perf_counter() - t0
        return StepStats(loss=float(cost.mean()), errors=errors, n=B, sweeps=sweeps, times=times)


def _adjoint(
    drn: Drn, free: DrnState, t: np.ndarray, sums: LayerSums, tol: float = 1e-13
) -> tuple[list[np.ndarray], int]:
    """λ with ``H λ = o − t`` on the outputs' equation, per sample, by block
    Gauss–Seidel over the layers (the sweeps' order; units held at 0 by their diode
    keep λ = 0); the total sweeps.  Linear and symmetric positive definite on the
    free units, so it converges; stops when a sweep moves λ by <= tol × max|λ|
    with the contraction-rate estimate of the solver."""
    W = drn.weights
    n_free = len(free.layers)
    B = free.layers[0].shape[0]
    diag = [sums.col[k - 1].astype(np.float64) + (sums.row[k] if k < n_free else 0.0)
            for k in range(1, n_free + 1)]  # fmt: skip
    inv = [np.where(d > 0, 1.0 / np.where(d > 0, d, 1.0), 0.0) for d in diag]
    mask = [(s != 0).astype(np.float64) for s in free.layers[:-1]] + [np.ones((B, drn.sizes[-1]))]
    g = [np.zeros((B, n)) for n in drn.sizes[1:-1]] + [free.output.astype(np.float64) - t]
    lam = [np.zeros((B, n)) for n in drn.sizes[1:]]
    Wd = [w.astype(np.float64, copy=False) for w in W]
    order = list(range(0, n_free, 2)) + list(range(1, n_free, 2))
    prev, ring = np.inf, [1.0] * 4
    for it in range(100_000):
        move = 0.0
        for i in order:
            v = g[i].copy()
            if i > 0:
                v += lam[i - 1] @ Wd[i]
            if i < n_free - 1:
                v += lam[i + 1] @ Wd[i + 1].T
            v *= inv[i]
            v *= mask[i]
            move = max(move, float(np.abs(v - lam[i]).max()) if v.size else 0.0)
            lam[i] = v
        if not np.isfinite(move):
            raise ResbenchError("the adjoint (backprop) sweeps diverged")
        ring[it % 4] = move / prev if 0 < prev < np.inf else 1.0
        prev = move
        rho = min(max(max(ring), 0.5 if it < 3 else 0.0), 0.999999)
        top = max(float(np.abs(x).max()) if x.size else 0.0 for x in lam)
        if it >= 2 and move * rho / (1.0 - rho) <= tol * max(top, 1e-300):
            return [x.astype(drn.dtype) for x in lam], (it + 1) * B
        if move == 0.0:
            return [x.astype(drn.dtype) for x in lam], (it + 1) * B
    raise ResbenchError("the adjoint (backprop) sweeps did not converge")


def _update_inject(
    w: np.ndarray,
    r: np.ndarray,
    a: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    lr: float,
    sums: LayerSums,
    x_next: np.ndarray,
) -> np.ndarray:
    """:func:`_update` of ``W_0`` that also returns the next batch's injection
    ``x_next · W_0`` (new weights), made in the same pass."""
    from resbench.drn import _kernels as kern

    dt = w.dtype
    col = np.zeros(w.shape[1], dtype=np.float64)
    ut = np.ascontiguousarray(u.T, dtype=dt)
    v = np.ascontiguousarray(v, dtype=dt)
    if ut.shape[1] < 4:
        ut = np.ascontiguousarray(np.pad(ut, ((0, 0), (0, 4 - ut.shape[1]))))
        v = np.ascontiguousarray(np.pad(v, ((0, 4 - v.shape[0]), (0, 0))))
    inj = np.zeros((x_next.shape[0], w.shape[1]), dtype=dt)
    kern.apply_update_inject(
        w, ut, v, np.ascontiguousarray(r, dtype=dt), np.ascontiguousarray(a, dtype=dt),
        float(lr), col, np.ascontiguousarray(x_next, dtype=dt), inj,
    )  # fmt: skip
    sums.col[0] = col.astype(dt)
    return inj


def _update(
    w: np.ndarray,
    r: np.ndarray,
    a: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    lr: float,
    sums: LayerSums,
    k: int,
) -> None:
    """``w ← max(w − lr · (r_i + a_j − 2 (uᵀv)_ij), 0)`` in one pass over w, and its new
    column / row sums into ``sums`` (layer k).  A small rank (``u`` has K <= 16 rows:
    the paper's batch of 4) makes the product inside the pass; a larger one makes it
    with BLAS in row blocks of ~512 KB that the pass then consumes."""
    from resbench.drn import _kernels as kern

    dt = w.dtype
    col = np.zeros(w.shape[1], dtype=np.float64)
    row = sums.row[k]
    ut = np.ascontiguousarray(u.T, dtype=dt)
    v = np.ascontiguousarray(v, dtype=dt)
    r = np.ascontiguousarray(r, dtype=dt)
    a = np.ascontiguousarray(a, dtype=dt)
    if ut.shape[1] < 4:  # pad to the unrolled rank 4
        ut = np.ascontiguousarray(np.pad(ut, ((0, 0), (0, 4 - ut.shape[1]))))
        v = np.ascontiguousarray(np.pad(v, ((0, 4 - v.shape[0]), (0, 0))))
    if ut.shape[1] <= _LOW_RANK:
        kern.apply_update_lowrank(w, ut, v, r, a, float(lr), col, row, k > 0)
    else:
        rows = max(1, _ROWS_PER_BLOCK_BYTES // max(1, w.shape[1] * w.itemsize))
        for i0 in range(0, w.shape[0], rows):
            i1 = min(i0 + rows, w.shape[0])
            cross = ut[i0:i1] @ v
            kern.apply_update(w[i0:i1], cross, r[i0:i1], a, float(lr), col, row[i0:i1])
    sums.col[k] = col.astype(dt)


def evaluate(
    drn: Drn,
    x: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int = 256,
    simulator: Simulator | None = None,
) -> tuple[float, float, int]:
    """The free phase over a data set: (mean cost ``½‖o − t‖²``, error rate, total sweeps)."""
    x = np.asarray(x)
    lab = np.asarray(labels)
    if x.ndim != 2 or lab.shape != (x.shape[0],):
        raise ResbenchError(
            f"evaluate needs x [N, pixels] and labels [N], got {x.shape}, {lab.shape}"
        )
    if int(batch_size) < 1:
        raise ResbenchError(f"batch_size must be >= 1, got {batch_size!r}")
    n = x.shape[0]
    if n == 0:
        return 0.0, 0.0, 0
    sums = LayerSums.of(drn) if simulator is None else None
    total, wrong, sweeps = 0.0, 0, 0
    for i0 in range(0, n, int(batch_size)):
        xb, lb = x[i0 : i0 + batch_size], lab[i0 : i0 + batch_size]
        if simulator is None:
            st = solve_drn(drn, xb, sums=sums)
        else:
            st = simulator.solve(drn, xb)
        t = one_hot(lb, drn.sizes[-1], np.float64)
        total += float(_cost(st.output, t).sum())
        wrong += int(np.count_nonzero(np.argmax(st.output, axis=1) != lb))
        sweeps += int(st.sweeps.sum())
    return total / n, wrong / n, sweeps
