"""Centered EqProp on a DRN: its gradient estimate against a finite-difference
gradient of the free phase's loss w.r.t. every conductance and bias (computed
through the exact solver), its O(β²) error, with diodes active and inactive; the
step applies exactly SGD + clamp with that estimate; and, where torch and the
paper's checkout are present, our estimate equals the paper's own EquilibriumProp."""

from __future__ import annotations

import os

import numpy as np
import pytest

from resbench.bench.paper import ENV_VAR, paper_status
from resbench.drn import Drn, EqPropStep, evaluate, solve_drn
from resbench.drn.eqprop import one_hot
from resbench.drn.solver import LayerSums
from resbench.errors import ResbenchError

FD_TOL = 1e-15  # the solver's tolerance for the finite differences


def _net(sizes, seed, bias_scale, batch=5):
    """Conductances in [0.3, 1.5] (FD steps stay >= 0), random biases, random inputs."""
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(0.3, 1.5, (a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    biases = [rng.normal(0, bias_scale, n) for n in sizes[1:]]
    d = Drn(sizes, weights, biases, input_gain=1.5)
    x = rng.uniform(-1, 1, (batch, sizes[0] // 2))
    labels = rng.integers(0, sizes[-1], batch)
    return d, x, labels


def _loss(d, x, t):
    out = solve_drn(d, x, tol=FD_TOL).output
    return 0.5 * np.mean(np.sum((out - t) ** 2, axis=1))


def _clamped(d, x, **kw):
    """The diode state of every hidden unit and sample (True: held at 0)."""
    s = solve_drn(d, x, tol=FD_TOL, **kw)
    return np.concatenate([layer == 0 for layer in s.layers[:-1]], axis=1)


def _fd_gradients(d, x, labels, h=1e-5):
    t = one_hot(labels, d.sizes[-1], np.float64)
    active = _clamped(d, x)
    params = [(w, idx) for w in d.weights for idx in np.ndindex(w.shape)]
    params += [(b, idx) for b in d.biases for idx in np.ndindex(b.shape)]
    grads = []
    for arr, idx in params:
        old = arr[idx]
        arr[idx] = old + h
        up = _loss(d, x, t)
        assert np.array_equal(_clamped(d, x), active), "active set moved within the FD step"
        arr[idx] = old - h
        down = _loss(d, x, t)
        assert np.array_equal(_clamped(d, x), active), "active set moved within the FD step"
        arr[idx] = old
        grads.append((up - down) / (2 * h))
    return np.array(grads)


def _ep_gradients(d, x, labels, beta):
    step = EqPropStep(d, lr_weights=0.0, lr_biases=0.0, beta=beta)
    gw, gb, _ = step.gradients(x, labels)
    return np.concatenate([g.reshape(-1) for g in gw + gb])


@pytest.mark.parametrize(
    ("sizes", "seed", "bias_scale"),
    [
        ((6, 4, 3), 0, 0.1),  # one hidden layer
        ((6, 4, 4, 3), 3, 0.3),  # two hidden layers
        ((4, 6, 2), 5, 1.0),  # strong biases: many diodes held
    ],
)
def test_eqprop_matches_finite_differences_to_order_beta_squared(sizes, seed, bias_scale):
    d, x, labels = _net(sizes, seed, bias_scale)
    t = one_hot(labels, sizes[-1], np.float64)
    active = _clamped(d, x)
    assert active.any() and not active.all(), "want diodes both held and free"
    beta = 0.04
    for b in (beta, -beta, beta / 2, -beta / 2):  # the nudged phases keep the active set
        assert np.array_equal(_clamped(d, x, targets=t, beta=b), active)
    fd = _fd_gradients(d, x, labels)
    e1 = np.abs(_ep_gradients(d, x, labels, beta) - fd).max()
    e2 = np.abs(_ep_gradients(d, x, labels, beta / 2) - fd).max()
    scale = np.abs(fd).max()
    assert e2 <= 1e-3 * scale
    assert 3.0 <= e1 / e2 <= 5.0, (e1, e2)  # O(β²): halving β quarters the error
    # backprop through the fixed point is the exact gradient (EqProp's β → 0 limit)
    step = EqPropStep(d, lr_weights=0.0, lr_biases=0.0, beta=beta, algorithm="bp")
    gw, gb, _ = step.gradients(x, labels)
    bp = np.concatenate([g.reshape(-1) for g in gw + gb])
    assert np.abs(bp - fd).max() <= 1e-6 * scale, np.abs(bp - fd).max() / scale


@pytest.mark.parametrize("batch", [4, 5, 20])  # the update's unrolled, generic, BLAS paths
def test_step_is_sgd_then_clamp(batch):
    d, x, labels = _net((8, 6, 3), 7, 0.3, batch)
    d.weights[0][0, :] = 1e-4  # so small that the step pushes some below 0
    lrw, lrb = [0.7, 0.3], [0.2, 0.1]
    ref = d.copy()
    gw, gb, free = EqPropStep(ref, lr_weights=lrw, lr_biases=lrb, beta=0.5).gradients(x, labels)
    step = EqPropStep(d, lr_weights=lrw, lr_biases=lrb, beta=0.5)
    stats = step.step(x, labels)
    clipped = 0
    for k in range(2):
        want = np.maximum(ref.weights[k] - lrw[k] * gw[k], 0)
        clipped += int(np.count_nonzero((ref.weights[k] - lrw[k] * gw[k]) < 0))
        np.testing.assert_allclose(d.weights[k], want, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(d.biases[k], ref.biases[k] - lrb[k] * gb[k], rtol=1e-12)
    assert clipped > 0
    t = one_hot(labels, 3, np.float64)
    assert stats.loss == pytest.approx(0.5 * np.mean(np.sum((free.output - t) ** 2, axis=1)))
    assert stats.errors == int(np.count_nonzero(free.output.argmax(axis=1) != labels))
    assert stats.n == batch and set(stats.sweeps) == set(stats.times) - {"update"}
    # the sums the step keeps for the next one are the new weights' sums (the input
    # layer's row sums are not kept: its units are held, no update reads them)
    fresh = LayerSums.of(d)
    for a, b in zip(step._sums.col + step._sums.row[1:], fresh.col + fresh.row[1:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    step.scale_lr(0.5)
    assert step.lr_weights == [0.35, 0.15] and step.lr_biases == [0.1, 0.05]


def test_bp_step_is_sgd_then_clamp():
    d, x, labels = _net((8, 6, 4, 3), 8, 0.3)
    ref = d.copy()
    gw, gb, _ = EqPropStep(ref, lr_weights=0.1, lr_biases=0.2, beta=1.0, algorithm="bp").gradients(
        x, labels
    )
    stats = EqPropStep(d, lr_weights=0.1, lr_biases=0.2, beta=1.0, algorithm="bp").step(x, labels)
    for k in range(3):
        np.testing.assert_allclose(
            d.weights[k], np.maximum(ref.weights[k] - 0.1 * gw[k], 0), rtol=1e-12, atol=1e-15
        )
        np.testing.assert_allclose(d.biases[k], ref.biases[k] - 0.2 * gb[k], rtol=1e-12)
    assert stats.sweeps["adjoint"] > 0 and stats.sweeps["plus"] == stats.sweeps["minus"] == 0


def test_float32_step_close_to_float64():
    d, x, labels = _net((8, 6, 3), 9, 0.3)
    d32 = d.copy(np.float32)
    s64 = EqPropStep(d, lr_weights=0.1, lr_biases=0.1, beta=0.5)
    s32 = EqPropStep(d32, lr_weights=0.1, lr_biases=0.1, beta=0.5)
    for _ in range(3):
        a, b = s64.step(x, labels), s32.step(x, labels)
        assert b.loss == pytest.approx(a.loss, rel=1e-4)
    for u, v in zip(d.weights + d.biases, d32.weights + d32.biases, strict=True):
        np.testing.assert_allclose(v, u, rtol=0, atol=1e-4)


def test_training_lowers_the_loss():
    rng = np.random.default_rng(0)
    proto = rng.uniform(0, 1, (3, 8))
    labels = rng.integers(0, 3, 60)
    x = np.clip(proto[labels] + rng.normal(0, 0.1, (60, 8)), 0, 1)
    d = Drn.init((16, 32, 3), input_gain=4.0, weight_gains=(1.0, 1.0), seed=0)
    before = evaluate(d, x, labels)
    step = EqPropStep(d, lr_weights=0.05, lr_biases=0.05, beta=0.5)
    for _ in range(5):
        for i in range(0, 60, 4):
            step.step(x[i : i + 4], labels[i : i + 4])
    after = evaluate(d, x, labels, batch_size=7)
    assert after[0] < 0.5 * before[0] and after[1] < 0.2
    assert after[2] > 0


def test_bad_arguments_are_clear_errors():
    d, x, labels = _net((4, 2, 2), 1, 0.1)
    with pytest.raises(ResbenchError, match="beta"):
        EqPropStep(d, lr_weights=0.1, lr_biases=0.1, beta=0.0)
    with pytest.raises(ResbenchError, match="algorithm"):
        EqPropStep(d, lr_weights=0.1, lr_biases=0.1, beta=1.0, algorithm="cd")
    with pytest.raises(ResbenchError, match="lr_weights needs 2"):
        EqPropStep(d, lr_weights=[0.1], lr_biases=0.1, beta=1.0)
    step = EqPropStep(d, lr_weights=0.1, lr_biases=0.1, beta=1.0)
    with pytest.raises(ResbenchError, match="labels must be in"):
        step.step(x, np.full(5, 7))
    with pytest.raises(ResbenchError, match="labels of shape"):
        step.step(x, labels[:3])
    with pytest.raises(ResbenchError, match="at least one sample"):
        step.step(x[:0], labels[:0])


# --------------------------------------------------------------------------- the paper's code
_CHECKOUT = os.environ.get(ENV_VAR)
_WHY = paper_status(_CHECKOUT)


@pytest.mark.skipif(_WHY is not None, reason=f"the paper's code cannot run here: {_WHY}")
@pytest.mark.parametrize("sizes", [(6, 4, 3), (8, 4, 6, 2)])
def test_gradient_equals_the_papers_equilibrium_prop(sizes):
    """The paper's EquilibriumProp (centered) with its QuadraticMinimizer run to
    convergence (500 iterations, float64) on the same network and batch."""
    from resbench.bench import paper

    code = paper.load_paper_code(_CHECKOUT)
    torch = code.torch
    with paper._checkout_on_path(code.root):
        from model.function.cost import SquaredError
        from training.sgd import AugmentedFunction, EquilibriumProp
    d, x, labels = _net(sizes, 13, 0.3)
    beta = 0.5
    m = sizes[0] // 2
    shapes = [(2, m)] + [(n,) for n in sizes[1:]]
    with paper._torch_settings(torch, torch.float64, None):
        energy = code.DeepResistiveEnergy(shapes, [1.0] * (len(sizes) - 1), d.input_gain)
        arrays = d.biases + [w.reshape(shapes[k] + shapes[k + 1]) for k, w in enumerate(d.weights)]
        for p, a in zip(energy.params(), arrays, strict=True):
            p.state = torch.tensor(np.ascontiguousarray(a), dtype=torch.float64)
        cost = SquaredError(energy.layers()[-1])
        network = code.Network(energy)
        free_layers = network.free_layers()
        augmented = AugmentedFunction(energy, cost)
        training = code.QuadraticMinimizer(augmented, free_layers)
        training.num_iterations = 500
        training.mode = "asynchronous"
        estimator = EquilibriumProp(energy.params(), energy.layers(), augmented, cost, training)
        estimator.nudging = beta
        estimator.variant = "centered"
        inference = code.QuadraticMinimizer(energy, free_layers)
        inference.num_iterations = 500
        inference.mode = "asynchronous"
        network.set_input(torch.tensor(x.reshape(5, 1, m), dtype=torch.float64), reset=True)
        inference.compute_equilibrium()
        cost.set_target(torch.tensor(labels))
        theirs = [g.detach().numpy().reshape(-1) for g in estimator.compute_gradient()]
    gw, gb, _ = EqPropStep(d, lr_weights=0.0, lr_biases=0.0, beta=beta).gradients(x, labels)
    ours = [g.reshape(-1) for g in gb + gw]  # the paper's order: biases, then weights
    assert len(theirs) == len(ours)
    for a, b in zip(theirs, ours, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_next_batch_injection_made_in_the_update_pass(monkeypatch, dtype):
    """step(..., next_x=) makes the next batch's input injection while it updates W_0:
    the same training as without it, and the next step does not pass over W_0 again."""
    from resbench.drn import eqprop

    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, (24, 8)) * (rng.random((24, 8)) < 0.5)
    labels = rng.integers(0, 3, 24)
    a = Drn.init((16, 10, 3), input_gain=3.0, weight_gains=(1.0, 1.0), seed=4, dtype=dtype)
    b = a.copy()
    sa = EqPropStep(a, lr_weights=0.05, lr_biases=0.05, beta=0.5)
    sb = EqPropStep(b, lr_weights=0.05, lr_biases=0.05, beta=0.5)
    calls = []
    real = eqprop.prepare_inputs
    monkeypatch.setattr(eqprop, "prepare_inputs", lambda *args: calls.append(1) or real(*args))
    for i in range(0, 24, 4):
        nxt = x[i + 4 : i + 8] if i + 4 < 24 else None
        la = sa.step(x[i : i + 4], labels[i : i + 4], next_x=nxt)
        lb = sb.step(x[i : i + 4], labels[i : i + 4])
        assert la.loss == pytest.approx(lb.loss, rel=1e-5 if dtype == np.float32 else 1e-12)
    assert len(calls) == 6 + 1  # b's six steps, and a's first
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for u, v in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        np.testing.assert_allclose(u, v, rtol=tol, atol=tol)
    # a batch other than the announced one is injected afresh
    sa.step(x[:4], labels[:4], next_x=x[4:8])
    sa.step(x[8:12], labels[8:12])
    assert len(calls) == 6 + 1 + 2
