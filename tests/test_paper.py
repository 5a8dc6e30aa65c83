"""The paper's code as a peer (resbench.bench.paper): the parameter mapping both ways
(pure numpy), the skip message without torch / without the checkout, and, where
torch and a checkout of rain-neuromorphics/energy-based-learning are present
(RESBENCH_PAPER_CODE), the paper's own solver against resbench's exact one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resbench.bench import paper
from resbench.bench.paper import (
    ENV_VAR,
    PaperCodeUnavailable,
    PaperParams,
    export_paper_params,
    import_paper_params,
    paper_order,
    paper_status,
)
from resbench.circuit import Branches, Circuit, IndexedNames
from resbench.errors import CircuitError, ResbenchError
from resbench.generate import G_UNIT, drn, grid
from resbench.netlist import read_netlist, write_netlist
from resbench.solvers.reference import solve_reference

# --------------------------------------------------------------------------- helpers


def _canonical(c: Circuit) -> Circuit:
    """The circuit with its resistors sorted by (a, b) and renamed r0, r1, …: the
    generator appends the conductance it adds to a node left without any at the end
    of a block; the importer writes every block row-major."""
    r = c.resistors
    order = np.lexsort((r.b, r.a))
    res = Branches(IndexedNames("r", len(r)), r.a[order], r.b[order], r.value[order])
    return Circuit(
        c.title, list(c.nodes), res, c.diodes, c.vsources, c.isources,
        diode_models=list(c.diode_models), models=dict(c.models),
    )  # fmt: skip


def _naive_power(c: Circuit, v: np.ndarray) -> float:
    """½ Σ (v_a - v_b)² / R - Σ I · (v_b - v_a), element by element (a source drives
    I from its a terminal through itself into b)."""
    total = 0.0
    for a, b, r in zip(c.resistors.a, c.resistors.b, c.resistors.value, strict=True):
        total += 0.5 * (v[a] - v[b]) ** 2 / r
    for a, b, i in zip(c.isources.a, c.isources.b, c.isources.value, strict=True):
        total -= i * (v[b] - v[a])
    return total


def _paper_energy(p: PaperParams, v: np.ndarray) -> float:
    """The paper's energy ½ Σ w (u_pre - u_post)² - Σ b u on the layers' states u."""
    u = [v[ix] for ix in p.layer_nodes]
    e = sum(
        0.5 * float(np.sum(w * (u[k][:, None] - u[k + 1][None, :]) ** 2))
        for k, w in enumerate(p.weights)
    )
    if p.biases is not None:
        e -= sum(float(b @ u[k + 1]) for k, b in enumerate(p.biases))
    return e


_layers = st.tuples(
    st.integers(1, 6).map(lambda m: 2 * m),
    st.lists(st.integers(1, 5).map(lambda h: 2 * h), min_size=0, max_size=2),
    st.integers(1, 4),
).map(lambda t: (t[0], *t[1], t[2]))


# --------------------------------------------------------------------------- mapping (numpy)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers=_layers, seed=st.integers(0, 10_000), bias=st.booleans())
def test_round_trip_circuit_params_circuit(layers, seed, bias):
    c = drn(layers, seed=seed, bias=bias, input_gain=7.0)
    p = export_paper_params(c)
    back = import_paper_params(p)
    # two roundings (1/(R g) and back) per resistance: equal to a few ulp
    assert _canonical(back).equals(_canonical(c), rtol=1e-15)
    assert back.vsources.equals(c.vsources)  # input values are copied, not computed
    q = export_paper_params(back)
    for w, w2 in zip(p.weights, q.weights, strict=True):
        np.testing.assert_allclose(w2, w, rtol=1e-15, atol=0)
    assert (p.biases is None) == (q.biases is None) == (not bias)
    np.testing.assert_array_equal(q.input_state, p.input_state)
    assert q.input_names == p.input_names and q.input_gain == p.input_gain == 7.0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers=_layers, seed=st.integers(0, 10_000), bias=st.booleans(), vseed=st.integers(0, 99))
def test_same_energy_and_bounds(layers, seed, bias, vseed):
    """The mapping is the equivalence: at any voltages, the paper's energy times g_unit
    is resbench's power (element by element), and the paper's clamps (first half of a
    hidden layer >= 0) are the circuit's diodes; so the minimisers are the same."""
    c = drn(layers, seed=seed, bias=bias)
    p = export_paper_params(c)
    v = np.random.default_rng(vseed).normal(size=c.n_nodes)
    v[0] = 0.0
    assert _paper_energy(p, v) * G_UNIT == pytest.approx(_naive_power(c, v), rel=1e-12, abs=1e-30)
    lower = {int(b) for a, b in zip(c.diodes.a, c.diodes.b, strict=True) if a == 0}  # v >= 0
    upper = {int(a) for a, b in zip(c.diodes.a, c.diodes.b, strict=True) if b == 0}  # v <= 0
    for k in range(1, len(layers) - 1):
        half = layers[k] // 2
        assert set(p.layer_nodes[k][:half].tolist()) <= lower
        assert set(p.layer_nodes[k][half:].tolist()) <= upper
    # the input layer is cat(+x·gain, -x·gain)
    m = layers[0] // 2
    np.testing.assert_array_equal(p.input_state[m:], -p.input_state[:m])
    np.testing.assert_array_equal(p.input_state, c.vsources.value[paper_order(layers[0])])


def test_paper_order_and_layout():
    assert paper_order(6).tolist() == [0, 2, 4, 1, 3, 5]
    c = drn((4, 2, 3), seed=1, input_gain=2.0)
    p = export_paper_params(c)
    names = c.nodes
    assert [names[i] for i in p.layer_nodes[0]] == ["in0", "in2", "in1", "in3"]
    assert [names[i] for i in p.layer_nodes[1]] == ["h1_0", "h1_1"]
    assert [names[i] for i in p.layer_nodes[2]] == ["out0", "out1", "out2"]
    assert p.input_names == ["vin0", "vin1", "vin2", "vin3"]
    idx = c.node_index()
    for a, b, r in zip(c.resistors.a, c.resistors.b, c.resistors.value, strict=True):
        k = 0 if names[a].startswith("in") else 1
        pa = p.layer_nodes[k].tolist().index(a)
        pb = p.layer_nodes[k + 1].tolist().index(b)
        assert p.weights[k][pa, pb] == pytest.approx(1.0 / (r * G_UNIT), rel=1e-15)
    assert idx["0"] == 0


def test_export_reads_nodes_by_name(tmp_path):
    """A DRN read back from its netlist (its own node numbering) maps the same."""
    c = drn((6, 4, 2), seed=5, bias=True, input_gain=3.0)
    f = tmp_path / "d.cir"
    f.write_text(write_netlist(c))
    c2 = read_netlist(f)
    p, p2 = export_paper_params(c), export_paper_params(c2)
    for w, w2 in zip(p.weights, p2.weights, strict=True):
        np.testing.assert_allclose(w2, w, rtol=1e-15)
    for b, b2 in zip(p.biases, p2.biases, strict=True):
        np.testing.assert_allclose(b2, b, rtol=1e-15)
    np.testing.assert_array_equal(p2.input_state, p.input_state)
    assert [c2.nodes[i] for i in p2.layer_nodes[1]] == [c.nodes[i] for i in p.layer_nodes[1]]


def test_import_parallel_resistors_add():
    c = drn((4, 2, 2), seed=2)
    r = c.resistors
    doubled = Branches(
        IndexedNames("r", 2 * len(r)),
        np.concatenate([r.a, r.a]),
        np.concatenate([r.b, r.b]),
        np.concatenate([r.value, r.value]),
    )
    c2 = Circuit(
        c.title, c.nodes, doubled, c.diodes, c.vsources, c.isources,
        diode_models=list(c.diode_models), models=dict(c.models),
    )  # fmt: skip
    p, p2 = export_paper_params(c), export_paper_params(c2)
    for w, w2 in zip(p.weights, p2.weights, strict=True):
        np.testing.assert_allclose(w2, 2 * w, rtol=1e-15)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: grid(3, 3), "not a DRN node"),
        (lambda: drn((4, 3, 2)), "must be even"),
        (lambda: _without_diode(drn((4, 2, 2))), "has no diode"),
        (lambda: _flip_diode(drn((4, 2, 2))), "does not match the paper"),
        (lambda: _skip_layer(drn((4, 2, 2))), "consecutive layers"),
    ],
)
def test_export_refuses_what_the_paper_cannot_hold(make, words):
    with pytest.raises(CircuitError, match=words):
        export_paper_params(make())


def _replace(c: Circuit, **kw) -> Circuit:
    import dataclasses

    return dataclasses.replace(c, **kw)


def _without_diode(c: Circuit) -> Circuit:
    d = c.diodes
    return _replace(
        c, diodes=Branches(list(d.names)[1:], d.a[1:], d.b[1:], d.value[1:]),
        diode_models=list(c.diode_models)[1:],
    )  # fmt: skip


def _flip_diode(c: Circuit) -> Circuit:
    d = c.diodes
    return _replace(c, diodes=Branches(list(d.names), d.b.copy(), d.a.copy(), d.value))


def _skip_layer(c: Circuit) -> Circuit:
    r = c.resistors
    a = r.a.copy()
    a[0] = c.node_index()["in0"]
    b = r.b.copy()
    b[0] = c.node_index()["out0"]
    return _replace(c, resistors=Branches(list(r.names), a, b, r.value))


def test_import_checks_shapes():
    p = export_paper_params(drn((4, 2, 2), seed=0))
    p.weights[1] = p.weights[1][:, :1]
    with pytest.raises(CircuitError, match="weights\\[1\\] has shape"):
        import_paper_params(p)


# --------------------------------------------------------------------------- skip messages


def test_status_without_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    msg = paper_status(None)
    assert msg is not None and msg.startswith("skipped: ")
    assert "--paper-code DIR" in msg and ENV_VAR in msg
    msg = paper_status(tmp_path)
    assert msg is not None and "not a checkout" in msg and str(tmp_path) in msg


def test_status_without_torch(monkeypatch, tmp_path):
    (tmp_path / "model" / "resistive").mkdir(parents=True)
    (tmp_path / "model" / "resistive" / "network.py").write_text("")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    msg = paper_status(tmp_path)
    assert msg is not None and msg.startswith("skipped: ")
    assert "pip install -e '.[peers]'" in msg
    with pytest.raises(PaperCodeUnavailable, match="PyTorch"):
        paper.load_paper_code(tmp_path)


# --------------------------------------------------------------------------- the paper's code

_CHECKOUT = os.environ.get(ENV_VAR)
_WHY = paper_status(_CHECKOUT)
needs_paper = pytest.mark.skipif(
    _WHY is not None, reason=f"the paper's code cannot run here: {_WHY}"
)


def _inputs(n_in: int, batch: int, gain: float, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).random((batch, n_in // 2))
    v = np.empty((batch, n_in))
    v[:, 0::2] = x * gain
    v[:, 1::2] = 0.0 - x * gain
    return v


def _exact(c: Circuit, names: list[str], values: np.ndarray) -> np.ndarray:
    from resbench.batch.network import with_values

    return np.array([solve_reference(with_values(c, names, row)).voltages for row in values])


@needs_paper
@pytest.mark.parametrize(
    ("layers", "bias", "seed"),
    [((8, 6, 4), False, 0), ((8, 6, 4), True, 1), ((12, 4, 6, 2), True, 2)],
)
def test_paper_solve_agrees_with_resbench(layers, bias, seed):
    c = drn(layers, seed=seed, bias=bias, input_gain=3.0)
    p = export_paper_params(c)
    values = _inputs(layers[0], 6, 3.0, seed)
    got = paper.paper_solve(p, values, iterations=400, paper_code=_CHECKOUT)
    want = _exact(c, p.input_names, values)
    assert got.shape == want.shape == (6, c.n_nodes)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


@needs_paper
def test_paper_params_into_resbench():
    """The other direction: random paper parameters (zeros included) imported as a
    circuit have the paper's equilibrium."""
    rng = np.random.default_rng(4)
    sizes = (10, 8, 3)
    weights = [
        rng.random((a, b)) * (rng.random((a, b)) > 0.4)
        for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    for w in weights:  # every unit needs a conductance towards the inputs
        w[0, :] += 0.1
    biases = [rng.normal(size=n) * 0.3 for n in sizes[1:]]
    x = rng.random(5)
    p = PaperParams(
        sizes, weights, biases, np.concatenate([2 * x, -2 * x]), 2.0, G_UNIT, [], [], []
    )
    c = import_paper_params(p)
    q = export_paper_params(c)
    values = _inputs(10, 4, 2.0, 7)
    got = paper.paper_solve(q, values, iterations=400, paper_code=_CHECKOUT)
    np.testing.assert_allclose(got, _exact(c, q.input_names, values), rtol=0, atol=1e-9)


@needs_paper
def test_float32_and_paper_iterations():
    c = drn((8, 6, 4), seed=3, input_gain=3.0)
    p = export_paper_params(c)
    values = _inputs(8, 3, 3.0, 0)
    want = _exact(c, p.input_names, values)
    got = paper.paper_solve(p, values, dtype=np.float32, iterations=400, paper_code=_CHECKOUT)
    assert np.max(np.abs(got - want)) < 1e-5  # float32 of a few volts
    model = paper.PaperModel(p, paper_code=_CHECKOUT)
    assert model.iterations == 4  # not a preset: the paper's usual 4
    assert (
        paper.PaperModel(export_paper_params(drn(preset="xs")), paper_code=_CHECKOUT).iterations
        == 4
    )


@needs_paper
def test_loading_leaves_path_and_modules_alone():
    before_path = list(sys.path)
    sentinel = type(sys)("model")
    sys.modules["model"] = sentinel
    try:
        paper._LOADED.clear()
        paper.load_paper_code(_CHECKOUT)
        assert sys.path == before_path
        assert sys.modules["model"] is sentinel
    finally:
        del sys.modules["model"]


@needs_paper
def test_inputs_must_be_pairs():
    p = export_paper_params(drn((4, 2, 2), seed=0))
    values = _inputs(4, 2, 1.0, 0)
    values[0, 1] += 0.5
    with pytest.raises(ResbenchError, match="\\(\\+x, -x\\) pairs"):
        paper.paper_solve(p, values, paper_code=_CHECKOUT)
    with pytest.raises(ResbenchError, match="shape"):
        paper.paper_solve(p, np.zeros((2, 3)), paper_code=_CHECKOUT)


def test_checkout_path_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(PaperCodeUnavailable, match=str(Path(tmp_path))):
        paper.load_paper_code(None)


# --------------------------------------------------------------------------- the bench

_TINY = dict(presets=("8-6-4",), sizes=(1, 3), threads=(1,), repeats=5, inputs="random")


def test_bench_config_checks():
    from resbench.bench.batch_bench import BatchBenchConfig

    for bad, words in [
        (dict(presets=("xx",)), "--presets"),
        (dict(presets=("7-6-4",)), "--presets"),
        (dict(sizes=(0,)), "--sizes"),
        (dict(dtypes=("float16",)), "--dtypes"),
        (dict(repeats=3), "--repeats"),
        (dict(inputs="emnist"), "--inputs"),
        (dict(inputs="mnist"), "--inputs mnist needs --data-dir"),
        (dict(inputs="digits", data_dir="/x"), "--data-dir is only for --inputs mnist"),
        (dict(paper_iterations=0), "--paper-iterations"),
    ]:
        with pytest.raises(ResbenchError, match=words):
            BatchBenchConfig(**bad).check()
    assert BatchBenchConfig(threads=(1, 0, 1)).thread_counts()[0] == 1


def test_bench_script_options():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "bench_batch.py"
    spec = importlib.util.spec_from_file_location("bench_batch_script", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cfg, out, passive, stem = mod.parse(
        ["--sizes", "1,32", "--threads", "1,all", "--presets", "XS,64-32-10"]
    )
    assert cfg.sizes == (1, 32) and cfg.threads == (1, 0) and cfg.presets == ("xs", "64-32-10")
    assert out == "results" and cfg.repeats == 5 and not passive and stem == "bench_batch"
    cfg, _, passive, _ = mod.parse(["--quick", "--paper-code", "/x", "--passive-threads"])
    assert cfg.presets == ("xs",) and cfg.paper_code == "/x" and passive
    with pytest.raises(SystemExit):
        mod.parse(["--threads", "many"])


def test_bench_runs_without_the_paper(tmp_path, monkeypatch):
    """No checkout: the paper column is skipped with the reason; resbench still runs,
    and the pages are written."""
    import json

    from resbench.bench.batch_bench import BatchBenchConfig, run_batch_bench, write_batch_bench

    monkeypatch.delenv(ENV_VAR, raising=False)
    lines: list[str] = []
    result = run_batch_bench(
        BatchBenchConfig(**_TINY, dtypes=("float64",), paper_code=str(tmp_path)), log=lines.append
    )
    assert result["paper_status"].startswith("skipped: ") and "not a checkout" in lines[0]
    rows = result["rows"]
    assert [(r["batch"], r["threads"]) for r in rows] == [(1, 1), (3, 1)]
    for r in rows:
        assert np.isnan(r["paper_us"]) and r["resbench_us"] > 0 and r["resbench+cert_us"] > 0
        assert r["dv_resbench_exact"] <= 1e-9
        assert r["resbench_status"] == f"{r['batch']}/{r['batch']} ok, {r['batch']} certified"
    cfg = BatchBenchConfig()
    # cells x methods x (interleaved repeats + back-to-back calls)
    assert len(result["samples"]) == 2 * 2 * (5 + cfg.b2b * cfg.b2b_rounds)
    paths = write_batch_bench(result, tmp_path / "out")
    page = paths["markdown"].read_text()
    assert "Paper code: skipped: " in page and "| DRN 8-6-4 | 3 | float64 | 1 |" in page
    meta = json.loads(paths["sidecar"].read_text())
    assert meta["rows"][1]["batch"] == 3 and meta["config"]["repeats"] == 5
    assert "machine" in meta and "git" in meta and meta["load"]["before"] is not None


@needs_paper
def test_bench_with_the_paper_same_inputs_same_answer():
    """The bench feeds both codes the same conductances and inputs: with enough
    iterations in float64 the paper's answer is resbench's."""
    from resbench.bench.batch_bench import BatchBenchConfig, run_batch_bench

    result = run_batch_bench(
        BatchBenchConfig(
            **_TINY, dtypes=("float64", "float32"), paper_code=_CHECKOUT, paper_iterations=400
        )
    )
    for r in result["rows"]:
        assert r["paper_us"] > 0 and r["paper_iterations"] == 400
        assert r["paper_b2b_us"] > 0 and r["speedup_b2b"] > 0
        tol = 1e-9 if r["dtype"] == "float64" else 1e-5
        assert r["dv_paper_exact"] <= tol and r["dv_paper_resbench"] <= tol + 1e-5


def test_bench_failed_method_is_a_row_entry(tmp_path, monkeypatch):
    """A method that raises becomes 'failed' in its cells with the error listed; the
    other methods still run (docs/design.md §7: a failure is a row, not a lost run)."""
    from resbench.batch.network import Network
    from resbench.bench.batch_bench import BatchBenchConfig, run_batch_bench, write_batch_bench

    real = Network.solve_batch

    def broken(self, values, **kw):
        if kw.get("certify"):
            raise RuntimeError("certifier broke")
        return real(self, values, **kw)

    monkeypatch.setattr(Network, "solve_batch", broken)
    result = run_batch_bench(
        BatchBenchConfig(**_TINY, dtypes=("float64",), paper_code=str(tmp_path))
    )
    for r in result["rows"]:
        assert r["errors"] == {"resbench+cert": "failed: RuntimeError: certifier broke"}
        assert r["exact_status"].startswith("failed") and np.isnan(r["dv_resbench_exact"])
        assert r["resbench_us"] > 0 and np.isnan(r["resbench+cert_us"])
    page = write_batch_bench(result, tmp_path / "out")["markdown"].read_text()
    assert "| failed |" in page and "- resbench+cert: failed: RuntimeError: certifier broke" in page
