"""DRN training with every phase solved by ngspice (resbench.drn.spice).

The reference is resbench's exact solver (:func:`resbench.drn.solve_drn`): on small
random DRNs, ngspice's free, +β and −β phases agree with it within the error of
ngspice's ideal-diode model; one EqProp step with each simulator from the same
weights gives the same weights within that error propagated through the update;
``resbench train --simulator ngspice`` runs end to end.  These tests run the real
ngspice (never skipped, marked spice) on networks of at most ~200 conductances.

The tolerance, derived (not fitted).  ngspice's ideal diode is a switch of
``ron = 1e-5`` Ω on and ``roff = 1e12`` Ω off (docs/design.md §5).  An off switch
adds a conductance ``1/roff`` to a hidden unit whose own total conductance is
``diag·g_unit``: a relative perturbation ``1/(roff·g_unit·diag)``; an on switch
holds its unit at ``ron·I`` instead of 0 with ``I <= diag·g_unit·2·V``: a relative
``ron·g_unit·diag``.  Every voltage is a weighted mean of the sources (inputs,
targets) and of the bias terms, so it moves by at most that relative perturbation
times the voltage scale ``V`` (the largest of the inputs, targets and bias
voltages), summed over the layers it passes through.  ``voltage_tol`` is 10× that
first-order bound (for the networks here ~1e-6 V; measured: ~4e-9 V).  The weight
update ``lr · (ΔV²(+β) − ΔV²(−β)) / (4β)`` (batch mean) then moves by at most
``lr · 4·V·δ / β`` per conductance and ``lr·δ/β`` per bias for a voltage error δ.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resbench.drn import Drn, EqPropStep, solve_drn
from resbench.drn.spice import NgspiceSimulator, drn_residual, nudged_netlist
from resbench.errors import ResbenchError, SolverError

pytestmark = pytest.mark.spice

RON, ROFF = 1e-5, 1e12  # resbench.solvers.ngspice's switch model (docs/design.md §5)
HYP = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def random_drn(seed: int, sizes: tuple[int, ...], *, gain: float = 3.0, zeros: bool = False):
    """A DRN with weights in [0.1, 1] (with ``zeros`` some exactly 0, never a whole
    column or row; into the outputs in [0.5, 1], so a −0.5 phase stays convex), random
    biases, and a batch of inputs and one-hot targets."""
    rng = np.random.default_rng(seed)
    ws = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = k == len(sizes) - 2
        w = rng.uniform(0.5 if last else 0.1, 1.0, (a, b))
        if zeros and not last:
            w[rng.uniform(size=(a, b)) < 0.3] = 0.0
            w[np.arange(a), rng.integers(0, b, a)] = 0.5  # every unit keeps a weight
            w[rng.integers(0, a, b), np.arange(b)] = 0.5
        ws.append(w)
    bs = [rng.normal(0.0, 0.3, n) for n in sizes[1:]]
    drn = Drn(sizes, ws, bs, input_gain=gain)
    x = rng.uniform(0.0, 1.0, (3, sizes[0] // 2))
    x[rng.uniform(size=x.shape) < 0.3] = 0.0  # repeated values: some sources not altered
    labels = rng.integers(0, sizes[-1], 3)
    return drn, x, labels


def voltage_tol(drn: Drn, x: np.ndarray, beta: float) -> float:
    """10× the switch model's first-order error bound (module docstring), volts."""
    diags = []
    n_free = len(drn.sizes) - 1
    for k in range(1, n_free):
        diags.append(drn.weights[k - 1].sum(axis=0) + drn.weights[k].sum(axis=1))
    d_min = min(float(d.min()) for d in diags)
    d_max = max(float(d.max()) for d in diags)
    rel = 1.0 / (ROFF * drn.g_unit * d_min) + RON * drn.g_unit * d_max * 2.0
    v = max(1.0, float(np.abs(drn.input_state(x)).max()))
    out_diag = drn.weights[-1].sum(axis=0) + beta
    for b, d in zip(drn.biases, [*diags, out_diag], strict=True):
        v = max(v, float(np.max(np.abs(b) / d)))
    return 10.0 * rel * v * n_free


def targets_of(drn: Drn, labels: np.ndarray) -> np.ndarray:
    return np.eye(drn.sizes[-1])[labels]


@pytest.fixture(scope="module")
def sim() -> NgspiceSimulator:
    return NgspiceSimulator(timeout=60.0)


@HYP
@given(
    seed=st.integers(0, 2**31 - 1),
    hidden=st.sampled_from([(4,), (6,), (4, 2), (2, 4, 2)]),
    beta=st.sampled_from([0.0, 0.5, -0.5]),
    zeros=st.booleans(),
)
def test_phases_agree_with_exact_solver(sim, seed, hidden, beta, zeros) -> None:
    drn, x, labels = random_drn(seed, (8, *hidden, 3), zeros=zeros)
    t = targets_of(drn, labels) if beta else None
    exact = solve_drn(drn, x, targets=t, beta=beta)
    got = sim.solve(drn, x, targets=t, beta=beta)
    tol = voltage_tol(drn, x, beta)
    assert tol < 1e-4  # the bound is meaningful on these networks
    assert len(got.layers) == len(exact.layers)
    for a, b in zip(got.layers, exact.layers, strict=True):
        assert a.shape == b.shape and a.dtype == drn.dtype
        np.testing.assert_allclose(a, b, rtol=0, atol=tol)
    assert np.all(got.sweeps == 0)
    # the residual is the certificate of ngspice's answer: small, not 0, and the
    # independent re-implementation gives the exact state's residual (round-off)
    assert np.all(got.residual <= tol * drn.g_unit * max(float(w.sum()) for w in drn.weights))
    r_exact = drn_residual(drn, drn.input_state(x), exact.layers, targets=t, beta=beta)
    assert np.all(r_exact < 1e-12)


def test_nudge_is_an_exact_negative_conductance(sim) -> None:
    """−β moves the outputs away from the targets by as much as +β moves them towards
    (to first order), and both match the exact solver; the netlist holds a negative
    resistor (ngspice accepts it: no error, a valid operating point)."""
    drn, x, labels = random_drn(7, (8, 4, 3), gain=2.0)
    t = targets_of(drn, labels)
    free = sim.solve(drn, x)
    plus = sim.solve(drn, x, targets=t, beta=0.05)
    minus = sim.solve(drn, x, targets=t, beta=-0.05)
    tol = voltage_tol(drn, x, 0.05)
    for got, beta in ((plus, 0.05), (minus, -0.05)):
        np.testing.assert_allclose(
            got.output, solve_drn(drn, x, targets=t, beta=beta).output, rtol=0, atol=tol
        )
    d_plus = np.abs(plus.output - t).sum()
    d_minus = np.abs(minus.output - t).sum()
    assert d_plus < np.abs(free.output - t).sum() < d_minus
    text = nudged_netlist("title\nr0 in0 out0 1.0\n.op\n.end\n", t[0], -0.05, drn.g_unit)
    assert "rnudge0 out0 nudge0 -" in text and text.index("vnudge2") < text.index(".op")


def test_float32_and_batch_of_one(sim) -> None:
    drn, x, labels = random_drn(3, (8, 4, 3))
    d32 = drn.copy(dtype=np.float32)
    got = sim.solve(d32, x[:1])
    assert got.layers[0].dtype == np.float32 and got.output.shape == (1, 3)
    np.testing.assert_allclose(got.output, solve_drn(drn, x[:1]).output, atol=1e-5)


def test_one_training_step_agrees(sim) -> None:
    """One centered-EqProp step from the same weights, ngspice vs the exact solver."""
    base, x, labels = random_drn(11, (8, 6, 3), zeros=True)
    beta, lr = 0.5, 0.05
    nets = {}
    for name, simulator in (("exact", None), ("ngspice", sim)):
        drn = base.copy()
        step = EqPropStep(drn, lr_weights=lr, lr_biases=lr, beta=beta, simulator=simulator)
        stats = step.step(x, labels)
        assert stats.n == 3 and np.isfinite(stats.loss)
        nets[name] = drn
    delta = voltage_tol(base, x, beta)
    v = max(
        1.0, *(float(np.abs(s).max()) for s in [base.input_state(x), *solve_drn(base, x).layers])
    )
    w_tol = lr * 4.0 * v * delta / beta
    b_tol = lr * delta / beta
    moved = 0.0
    for a, b, w0 in zip(nets["ngspice"].weights, nets["exact"].weights, base.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=w_tol)
        moved = max(moved, float(np.abs(b - w0).max()))
    for a, b in zip(nets["ngspice"].biases, nets["exact"].biases, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=b_tol)
    assert moved > 100 * w_tol  # the step did change the weights: the check is not vacuous


def test_loads_once_per_phase_and_alters_only_what_changed() -> None:
    drn, x, labels = random_drn(5, (8, 4, 3))
    x = np.vstack([x, x[-1:]])  # the last two samples are the same: nothing to alter
    sim = NgspiceSimulator(timeout=60.0)
    sim.solve(drn, x)
    assert sim.stats["loads"] == 1 and sim.stats["samples"] == 4
    n_changed = sum(int(np.count_nonzero(a != b)) for a, b in zip(x[1:], x[:-1], strict=True))
    assert sim.stats["altered"] == 2 * n_changed  # +x and -x sources
    sim.solve(drn, x, targets=targets_of(drn, np.r_[labels, labels[-1]]), beta=0.5)
    assert sim.stats["loads"] == 2


def test_errors_are_clear(sim, monkeypatch) -> None:
    drn, x, labels = random_drn(2, (8, 4, 3))
    with pytest.raises(ResbenchError, match="needs targets"):
        sim.solve(drn, x, beta=0.5)
    with pytest.raises(ResbenchError, match="targets must be"):
        sim.solve(drn, x, targets=np.zeros((2, 3)), beta=0.5)
    with pytest.raises(ResbenchError, match="inputs must have shape"):
        sim.solve(drn, x[:, :3])
    with pytest.raises(SolverError, match="not convex"):
        sim.solve(drn, x, targets=targets_of(drn, labels), beta=-100.0)
    dead = drn.copy()
    dead.weights[1][:, 2] = 0.0  # output unit 2 has no conductance
    with pytest.raises(SolverError, match="floating"):
        sim.solve(dead, x)
    with pytest.raises(ResbenchError, match="timeout"):
        NgspiceSimulator(timeout=0.0)


def test_timeout_kills_the_worker_and_leaves_no_process(monkeypatch) -> None:
    import resbench.solvers.ngspice as ng

    drn, x, _ = random_drn(4, (8, 4, 3))
    worker = ng.get_worker()
    if not worker.alive():
        worker.start()
    pid = worker.pid
    with pytest.raises(SolverError, match="timeout"):
        NgspiceSimulator(timeout=1e-9).solve(drn, x)
    assert not worker.alive()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    # the next phase starts a fresh worker and works
    got = NgspiceSimulator(timeout=60.0).solve(drn, x)
    np.testing.assert_allclose(got.output, solve_drn(drn, x).output, atol=1e-6)


def test_missing_ngspice_library_is_a_clear_error(monkeypatch) -> None:
    import resbench.solvers.ngspice as ng
    from resbench.solvers._ngspice_process import NgspiceWorker

    broken = NgspiceWorker(library="/nonexistent/libngspice.so")
    monkeypatch.setattr(ng, "get_worker", lambda: broken)
    drn, x, _ = random_drn(4, (8, 4, 3))
    try:
        with pytest.raises(SolverError, match="libngspice"):
            NgspiceSimulator(timeout=60.0).solve(drn, x)
    finally:
        broken.close()
    assert not broken.alive()


def test_train_cli_with_ngspice(tmp_path) -> None:
    from resbench.cli.main import cli

    out = tmp_path / "run"
    args = ["train", "--simulator", "ngspice", "--limit", "8", "--epochs", "1"]
    args += ["--layers", "24", "--beta", "0.1", "--out", str(out), "--no-plot"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "ngspice" in res.output and "epoch   1/1" in res.output
    meta = json.loads((out / "train.json").read_text())
    assert meta["settings"]["simulator"] == "ngspice" and meta["settings"]["limit"] == 8
    assert meta["epochs_done"] == 1


def _headline_script():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "bench_train_headline.py"
    spec = importlib.util.spec_from_file_location("bench_train_headline", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclass looks its module up there
    spec.loader.exec_module(mod)
    return mod


def test_headline_arithmetic() -> None:
    """The headline script's extrapolation, fit and gain, on numbers worked by hand:
    the paper's own figures (XL epoch 6.3 min, SPICE XS epoch 160× that, 327× the
    size) give its ≈ 52,000× gain."""
    hl = _headline_script()
    # 15,000 steps × (3 × 2 s + 0.01 s) + 180,000 ops × 10 s
    assert hl.spice_epoch_seconds(2.0, 10.0, 0.01, 4) == pytest.approx(15_000 * 6.01 + 1.8e6)
    n = np.array([1e5, 1e6, 1e7])
    a, b = hl.fit_linear(n, 3.0 + 2e-4 * n)
    assert a == pytest.approx(3.0) and b == pytest.approx(2e-4)
    assert hl.size_within(a, b, 3.0 + 2e-4 * 5e8) == pytest.approx(5e8)
    assert np.isnan(hl.size_within(1.0, 0.0, 10.0))
    with pytest.raises(ValueError):
        hl.fit_linear(np.array([1e5, 1e5]), np.array([1.0, 2.0]))
    xl_n = 1568 * 32768 + 32768 * 10
    t_xl = 6.3 * 60
    rows = [
        {
            "network": "DRN-XS",
            "conductances": hl.XS_CONDUCTANCES,
            "size_vs_xs": 1.0,
            "resbench_s_per_sample": 10.0 / 60_000,
            "resbench_epoch_s": 10.0,
            "resbench_epoch_kind": "measured",
            "spice_epoch_s": 160 * t_xl,
            "spice_samples": 4,
            "spice_op_s": 0.3,
            "spice_setup_s_per_phase": 0.1,
            "ratio_epoch": 160 * t_xl / 10.0,
            "max_dw": 1e-10,
            "max_step_dw": 1e-2,
        },
        {
            "network": "DRN-XL",
            "conductances": xl_n,
            "size_vs_xs": xl_n / hl.XS_CONDUCTANCES,
            "resbench_s_per_sample": t_xl / 60_000,
            "resbench_epoch_s": t_xl,
            "resbench_epoch_kind": "scaled from 40 samples",
        },
    ]
    head = hl.headline(rows)
    assert head["ratio_at_xs"] == pytest.approx(160 * t_xl / 10.0)
    xl = head["per_size"][1]
    assert xl["speedup_vs_spice_xs"] == pytest.approx(160.0)
    assert xl["gain"] == pytest.approx(160 * 327.7, rel=1e-3)
    assert not xl["measured"] and head["per_size"][0]["measured"]
    fit = head["fit"]
    assert fit["extrapolated_beyond_measured"]
    assert fit["a"] + fit["b"] * fit["n_within_spice_xs_epoch"] == pytest.approx(160 * t_xl)
    text = hl.markdown(
        {
            "rows": rows,
            "inputs": "test",
            "load_average_before": (0, 0, 0),
            "load_average_after": (0, 0, 0),
        },
        {"command": "x", "options": {"batch_size": 4, "dtype": "float64"}},
        head,
    )
    assert "extrapolated" in text and "fit" in text and "160×" in text
