"""resbench.drn's model: the paper's presets and initialisation, the circuit export
(checked against resbench's own layout), paper parameters and checkpoints both ways,
the fused SGD update against the plain numpy formula."""

from __future__ import annotations

import numpy as np
import pytest

from resbench.bench.paper import export_paper_params, import_paper_params
from resbench.drn import PRESETS, Drn, preset
from resbench.drn._kernels import apply_update
from resbench.errors import ResbenchError
from resbench.generate import PRESETS as SIZES

# The paper's papers/fast-drn/drn.py, written out by hand from its source:
# (hidden sizes, input gain, weight lrs, bias lrs, nudging, epochs)
PAPER = {
    "xs": ((100,), 100.0, (0.006, 0.006), (0.006, 0.006), 1.0, 10),
    "xl": ((32768,), 800.0, (0.006, 0.006), (0.006, 0.006), 1.0, 100),
    "1h": ((1024,), 480.0, (0.006, 0.006), (0.006, 0.006), 1.0, 50),
    "2h": ((1024, 1024), 2000.0, (0.002, 0.006, 0.018), (0.002, 0.006, 0.018), 1.0, 50),
    "3h": (
        (1024, 1024, 1024),
        4000.0,
        (0.005, 0.02, 0.08, 0.005),
        (0.0005, 0.002, 0.008, 0.0005),
        2.0,
        50,
    ),
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_presets_are_the_papers(name):
    hidden, gain, lrw, lrb, beta, epochs = PAPER[name]
    cfg = PRESETS[name]
    assert cfg.sizes == (1568, *hidden, 10) == SIZES[name]
    assert cfg.input_gain == gain and cfg.beta == beta and cfg.epochs == epochs
    assert cfg.lr_weights == lrw and cfg.lr_biases == lrb
    assert cfg.weight_gains == (1.0,) * (len(hidden) + 1)
    assert cfg.batch_size == 4 and cfg.gamma == 0.99


def test_preset_resized():
    cfg = preset("1h", pixels=64)
    assert cfg.sizes == (128, 1024, 10) and cfg.lr_weights == (0.006, 0.006)
    cfg = preset("drn-xs", pixels=64, hidden=(32, 16))
    assert cfg.sizes == (128, 32, 16, 10) and cfg.lr_biases == (0.006,) * 3
    with pytest.raises(ResbenchError, match="cannot be spread"):
        preset("3h", hidden=(8,))
    with pytest.raises(ResbenchError, match="even"):
        preset("xs", hidden=(7,))
    with pytest.raises(ResbenchError, match="unknown DRN preset"):
        preset("4h")


def test_init_is_the_papers_distribution():
    d = Drn.init((1568, 1024, 10), input_gain=480.0, weight_gains=(1.0, 2.0), seed=3)
    for k, (w, g) in enumerate(zip(d.weights, (1.0, 2.0), strict=True)):
        bound = g / np.sqrt(d.sizes[k])
        assert w.min() == 0.0 and w.max() <= bound
        # U(-a, a) clamped at 0: half zeros, the rest uniform on (0, a) (mean a/2)
        assert abs((w == 0).mean() - 0.5) < 0.02
        assert abs(w[w > 0].mean() / bound - 0.5) < 0.02
    assert all(not b.any() for b in d.biases)
    d32 = Drn.init((8, 4, 2), input_gain=1.0, weight_gains=(1.0, 1.0), seed=3, dtype="float32")
    d64 = Drn.init((8, 4, 2), input_gain=1.0, weight_gains=(1.0, 1.0), seed=3)
    assert d32.dtype == np.float32 and d32.weights[0].dtype == np.float32
    np.testing.assert_allclose(d32.weights[0], d64.weights[0], rtol=1e-7)
    assert d.n_conductances == 1568 * 1024 + 1024 * 10


def _random_drn(sizes, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    d = Drn.init(sizes, input_gain=2.5, weight_gains=(1.0,) * (len(sizes) - 1), seed=seed)
    for b in d.biases:
        b[:] = rng.normal(0, 0.3, b.shape)
    return d.copy(dtype)


def test_input_state_is_gain_cat_x_minus_x():
    d = _random_drn((6, 4, 2), 0)
    x = np.array([[0.1, 0.2, 0.3], [1.0, 0.0, -1.0]])
    np.testing.assert_array_equal(d.input_state(x), 2.5 * np.concatenate([x, -x], axis=1))
    with pytest.raises(ResbenchError, match=r"shape \[batch, 3\]"):
        d.input_state(np.zeros((2, 4)))


def test_circuit_export_matches_the_paper_layout():
    d = _random_drn((8, 6, 4, 3), 1)
    x = np.array([0.5, -0.25, 1.0, 0.0])
    c = d.to_circuit(x, title="t")
    p = export_paper_params(c, input_gain=d.input_gain)
    assert p.sizes == d.sizes
    for a, b in zip(p.weights, d.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14)
    for a, b in zip(p.biases, d.biases, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(p.input_state, d.input_state(x)[0])
    # the bookkeeping make_paper_params writes without building the circuit
    q = d.to_paper_params(x)
    assert q.nodes == p.nodes and q.input_names == p.input_names
    for a, b in zip(q.layer_nodes, p.layer_nodes, strict=True):
        np.testing.assert_array_equal(a, b)
    # resbench's layout: even input nodes hold +x·gain, hidden diodes by parity
    idx = c.node_index()
    vin = dict(zip(c.vsources.a.tolist(), c.vsources.value.tolist(), strict=True))
    assert vin[idx["in0"]] == 2.5 * 0.5 and vin[idx["in1"]] == -2.5 * 0.5
    assert len(c.diodes) == 6 + 4


def test_paper_params_round_trip():
    d = _random_drn((10, 4, 3), 2)
    back = Drn.from_paper_params(export_paper_params(import_paper_params(d.to_paper_params())))
    assert back.sizes == d.sizes and back.input_gain == d.input_gain
    for a, b in zip(back.weights + back.biases, d.weights + d.biases, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_state_dict_round_trip(tmp_path):
    d = _random_drn((6, 4, 2), 3, np.float32)
    np.savez(tmp_path / "c.npz", **d.state_dict())
    back = Drn.from_state_dict(np.load(tmp_path / "c.npz"))
    assert back.sizes == d.sizes and back.dtype == np.float32
    assert back.input_gain == d.input_gain and back.g_unit == d.g_unit
    for a, b in zip(back.weights + back.biases, d.weights + d.biases, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ResbenchError, match="not a DRN checkpoint"):
        Drn.from_state_dict({"sizes": np.array([2, 1])})


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (((5, 2), [np.ones((5, 2))]), "must be even"),
        (((4, 3, 2), [np.ones((4, 3)), np.ones((3, 2))]), "even size"),
        (((4, 2), [-np.ones((4, 2))]), ">= 0"),
        (((4, 2), [np.ones((2, 4))]), "shape"),
        (((4, 2), [np.ones((4, 2)), np.ones((2, 2))]), "1 weight matrices"),
    ],
)
def test_bad_networks_are_clear_errors(args, match):
    with pytest.raises(ResbenchError, match=match):
        Drn(*args)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_update_is_the_numpy_formula(dtype):
    rng = np.random.default_rng(5)
    n, m, k = 37, 23, 6
    w = rng.uniform(0, 1, (n, m)).astype(dtype)
    w[rng.random((n, m)) < 0.3] = 0
    u, v = rng.normal(size=(k, n)).astype(dtype), rng.normal(size=(k, m)).astype(dtype)
    r, a = rng.normal(size=n).astype(dtype), rng.normal(size=m).astype(dtype)
    cross = np.ascontiguousarray(u.T @ v)
    lr = 0.37
    want = np.maximum(w - lr * (r[:, None] + a[None, :] - 2 * cross), 0)
    col = np.zeros(m)
    row = np.zeros(n, dtype=dtype)
    got = w.copy()
    apply_update(got, cross, r, a, lr, col, row)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert (got == 0).any() and got.min() == 0
    np.testing.assert_allclose(col, want.sum(axis=0), rtol=tol)
    np.testing.assert_allclose(row, want.sum(axis=1), rtol=tol)
