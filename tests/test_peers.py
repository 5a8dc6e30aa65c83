"""Peer solvers (OSQP, Clarabel, HiGHS, scipy's direct active-set, the paper's code) as
backends: each agrees with cd or is flagged by the certificate; a missing extra or a
circuit a peer cannot take is a status, never a crash.

The independent reference is cd's certified answer (itself tested against the slow
reference solver elsewhere); what is tested here is the invariant the issue asks for:
*a peer answer the certificate accepts agrees with cd, and a peer answer that is off
is never shown as ok*.  The paper's code needs torch and a checkout
(RESBENCH_PAPER_CODE); its mapping is also tested without them, by a numpy
re-statement of its block update.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from strategies import random_circuits

from resbench import generate
from resbench.bench.compare import CompareOptions, peer_fields, run_compare
from resbench.errors import CircuitError
from resbench.netlist import read_netlist
from resbench.solution import CONVERGED, NOT_CERTIFIED
from resbench.solvers import solve
from resbench.solvers.registry import (
    NotApplicable,
    NotInstalled,
    get_solver,
    peer_solver_names,
)

NETLISTS = Path(__file__).resolve().parent.parent / "netlists"
QP = ("osqp", "clarabel", "highs")
#: tight settings per backend for the agreement tests (each solver's own tolerances)
TIGHT = {
    "osqp": {"eps_abs": 1e-10, "eps_rel": 1e-10},
    "clarabel": {"eps": 1e-10},
    "highs": {"primal_tol": 1e-9, "dual_tol": 1e-9},
    "scipy": {},
}
AGREE_V = 1e-6  # V: a certified answer is the optimum, so it agrees with cd to this


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _paper_ready() -> bool:
    from resbench.bench.paper import paper_status

    return paper_status(None) is None


needs_paper = pytest.mark.skipif(
    not _paper_ready(),
    reason="needs torch and a checkout of the paper's code (RESBENCH_PAPER_CODE)",
)


def _cd(circuit):
    try:
        ref = solve(circuit, "cd")
    except CircuitError:
        return None
    return ref if ref.ok else None


# --------------------------------------------------------------------------- registry
def test_peers_are_registered_with_their_extras() -> None:
    assert peer_solver_names() == ("osqp", "clarabel", "highs", "scipy", "paper")
    assert {get_solver(n).extra for n in QP} == {"qp"}
    assert get_solver("paper").extra == "peers"
    assert get_solver("scipy").missing() is None  # scipy is a core dependency


@pytest.mark.parametrize("name", ["osqp", "clarabel", "highs", "scipy", "paper"])
def test_options_dataclass_is_the_entry_signature(name: str) -> None:
    """Each peer's options dataclass has the entry function's keyword names and defaults."""
    spec = get_solver(name)
    params = {
        p.name: p.default
        for p in inspect.signature(spec.function()).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert {f.name: f.default for f in dataclasses.fields(spec.options)} == params


# --------------------------------------------------------------------------- agreement
@pytest.mark.parametrize("name", ["osqp", "clarabel", "highs", "scipy"])
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(circuit=random_circuits(max_nodes=7, max_diodes=5))
def test_certified_peer_answers_agree_with_cd(name: str, circuit) -> None:
    """On random circuits (free–free diodes, floating sources, current sources): a peer
    answer is either certified, and then within AGREE_V of cd everywhere, or it is
    flagged (not converged, or converged but not_certified): never ok and wrong."""
    if not _have({"highs": "highspy"}.get(name, name)):
        pytest.skip(f"{name} not installed")
    ref = _cd(circuit)
    if ref is None:
        return
    sol = solve(circuit, name, **TIGHT[name])
    assert sol.info.get("claimed")  # the solver's own verdict is kept
    certified = sol.certificate is not None and sol.certificate.ok
    if sol.status == CONVERGED:
        assert certified
    if certified:
        assert np.max(np.abs(sol.voltages - ref.voltages)) <= AGREE_V
    else:
        assert sol.status != CONVERGED


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(circuit=random_circuits(max_nodes=7, max_diodes=5, free_free_diodes=False))
def test_scipy_active_set_is_exact_with_bounds_only(circuit) -> None:
    """With every diode on a fixed node the constraints are bounds and L an M-matrix: the
    primal–dual active-set loop converges (Hintermüller–Ito–Kunisch) to cd's answer."""
    ref = _cd(circuit)
    if ref is None:
        return
    sol = solve(circuit, "scipy")
    assert sol.status == CONVERGED, sol.message
    assert sol.certificate.ok
    np.testing.assert_allclose(sol.voltages, ref.voltages, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["osqp", "clarabel", "highs", "scipy"])
@pytest.mark.parametrize("netlist", ["drn_small", "grid_clamps", "divider", "diode_or"])
def test_bundled_netlists_agree_or_are_flagged(name: str, netlist: str) -> None:
    if not _have({"highs": "highspy"}.get(name, name)):
        pytest.skip(f"{name} not installed")
    circuit = read_netlist(NETLISTS / f"{netlist}.cir")
    ref = solve(circuit, "cd")
    sol = solve(circuit, name, **TIGHT[name])
    d = float(np.max(np.abs(sol.voltages - ref.voltages)))
    assert (sol.certificate.ok and d <= AGREE_V) or sol.status != CONVERGED
    assert sol.timings["total"] == pytest.approx(sol.timings["setup"] + sol.timings["solve"])
    assert sol.voltages.shape == (circuit.n_nodes,)


@pytest.mark.parametrize(
    ("name", "loose"),
    [
        ("osqp", {"eps_abs": 1e-3, "eps_rel": 1e-3, "polishing": False}),
        ("highs", {"primal_tol": 1e-3, "dual_tol": 1e-3}),
    ],
)
def test_a_loose_solve_that_claims_success_is_flagged(name: str, loose: dict) -> None:
    """At loose tolerances the solver still says 'solved'/'Optimal' on an answer that is
    off: the certificate catches it (status not_certified, peer row 'uncertified')."""
    if not _have({"highs": "highspy"}.get(name, name)):
        pytest.skip(f"{name} not installed")
    circuit = read_netlist(NETLISTS / "grid_clamps.cir")
    ref = solve(circuit, "cd")
    sol = solve(circuit, name, **loose)
    assert sol.info["claimed"] in ("solved", "Optimal")
    assert np.max(np.abs(sol.voltages - ref.voltages)) > AGREE_V
    assert sol.status == NOT_CERTIFIED and not sol.certificate.ok
    from resbench.bench import timing

    fresh = solve(circuit, name, certify=False, **loose)
    sample = timing.Sample(name, timing.MEASURE, 0, fresh.status, fresh.timings, solution=fresh)
    f = peer_fields(circuit, name, [sample], ref, None, atol=AGREE_V)
    assert f["status"] == "uncertified" and f["certified"] is False
    assert f["claimed"] == sol.info["claimed"] and "certificate rejects" in f["message"]


@pytest.mark.parametrize("name", ["osqp", "clarabel", "highs", "scipy"])
def test_a_circuit_without_free_nodes(name: str) -> None:
    """Every node held by a source: nothing to hand the solver, the answer is the
    sources' (and JIT compilation is reported apart, never in the times)."""
    if not _have({"highs": "highspy"}.get(name, name)):
        pytest.skip(f"{name} not installed")
    from resbench.netlist import parse_netlist

    circuit = parse_netlist("held\nv1 a 0 2\nv2 b a 1\nr1 b 0 1k\n.end\n")
    sol = solve(circuit, name)
    assert sol.status == CONVERGED and sol.certificate.ok
    assert sol.voltage("a") == 2.0 and sol.voltage("b") == 3.0
    assert "compile" in sol.timings


def test_options_reach_the_solver() -> None:
    """A limit of one active-set step on a net that needs several stops there."""
    circuit = read_netlist(NETLISTS / "grid_clamps.cir")
    sol = solve(circuit, "scipy", max_iter=1)
    assert sol.status == "sweep_limit" and sol.sweeps == 1


# --------------------------------------------------------------------------- unavailable
def test_missing_extra_is_a_status_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without osqp installed (simulated: the import is blocked) compare runs on and the
    row says what to install; solving with it directly is a clear error."""
    monkeypatch.setitem(sys.modules, "osqp", None)
    assert get_solver("osqp").missing() == "not installed: pip install -e '.[qp]' (no module osqp)"
    opts = CompareOptions(spice=False, peers=("osqp", "scipy"), repeats=1, warmup=0)
    run = run_compare([NETLISTS / "divider.cir"], opts)
    row = run.summary.iloc[0]
    assert row["osqp_status"] == "not installed: pip install -e '.[qp]'"
    assert "no module osqp" in row["osqp_message"]
    assert row["scipy_status"] == "ok" and row["status"] == "ok" and run.exit_code == 0
    with pytest.raises(NotInstalled, match=r"pip install -e '\.\[qp\]'"):
        solve(read_netlist(NETLISTS / "divider.cir"), "osqp")


def test_paper_on_a_non_drn_circuit_is_not_applicable() -> None:
    """Decided in numpy before torch or the checkout is looked for (runs in CI)."""
    with pytest.raises(NotApplicable, match="not a DRN"):
        solve(read_netlist(NETLISTS / "divider.cir"), "paper")


def test_paper_without_its_code_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESBENCH_PAPER_CODE", raising=False)
    circuit = generate.drn((4, 2, 2), seed=0)
    if not _have("torch"):
        with pytest.raises(NotInstalled, match=r"pip install -e '\.\[peers\]'"):
            solve(circuit, "paper")
        return
    with pytest.raises(NotInstalled, match="--paper-code DIR") as info:
        solve(circuit, "paper")
    assert "RESBENCH_PAPER_CODE" in str(info.value)
    opts = CompareOptions(spice=False, peers=("paper",), repeats=1, warmup=0)
    row = run_compare([circuit], opts).summary.iloc[0]
    assert row["paper_status"].startswith("not installed: --paper-code DIR")


def test_paper_row_on_a_non_drn_netlist_in_compare() -> None:
    opts = CompareOptions(spice=False, peers=("paper",), repeats=1, warmup=0)
    row = run_compare([NETLISTS / "divider.cir"], opts).summary.iloc[0]
    if not _have("torch"):
        assert row["paper_status"] == "not installed: pip install -e '.[peers]'"
    else:
        assert row["paper_status"] == "not applicable"
        assert "not a DRN" in row["paper_message"]
    assert row["status"] == "ok"


# --------------------------------------------------------------------------- paper
def _block_cd(params, iterations: int) -> np.ndarray:
    """The paper's asynchronous block update, restated in numpy: each free layer is the
    exact minimiser of ½ Σ w (u_pre − u_post)² − Σ b u given its neighbours,
    clamp((W_inᵀ s_prev + W_out s_next + b) / (Σ_in w + Σ_out w)), first half of a
    hidden layer ≥ 0, second half ≤ 0; even layers, then odd ones."""
    w = params.weights
    states = [params.input_state] + [np.zeros(n) for n in params.sizes[1:]]
    biases = params.biases or [np.zeros(n) for n in params.sizes[1:]]
    last = len(states) - 1

    def update(k: int) -> None:
        num = w[k - 1].T @ states[k - 1] + biases[k - 1]
        den = w[k - 1].sum(axis=0)
        if k < last:
            num = num + w[k] @ states[k + 1]
            den = den + w[k].sum(axis=1)
        s = num / den
        if k < last:
            half = s.shape[0] // 2
            s[:half] = np.maximum(s[:half], 0.0)
            s[half:] = np.minimum(s[half:], 0.0)
        states[k] = s

    for _ in range(iterations):
        for parity in (0, 1):
            for k in range(1, last + 1):
                if k % 2 == parity:
                    update(k)
    v = np.zeros(len(params.nodes))
    for ix, s in zip(params.layer_nodes, states, strict=True):
        v[ix] = s
    return v


@pytest.mark.parametrize("sizes", [(8, 4, 2), (6, 4, 4, 2)])
def test_paper_mapping_by_a_numpy_block_update(sizes: tuple[int, ...]) -> None:
    """Input order cat(x, −x), hidden order excitatory-then-inhibitory, conductances in
    g_unit: the paper's update on the exported parameters converges to cd's answer."""
    from resbench.bench.paper import export_paper_params

    circuit = generate.drn(sizes, seed=3)
    params = export_paper_params(circuit)
    v = _block_cd(params, 2000)
    np.testing.assert_allclose(v, solve(circuit, "cd").voltages, rtol=0, atol=1e-9)


@needs_paper
def test_paper_backend_agrees_with_cd_when_run_long_enough() -> None:
    circuit = read_netlist(NETLISTS / "drn_small.cir")
    ref = solve(circuit, "cd")
    sol = solve(circuit, "paper", iterations=200)
    assert sol.status == CONVERGED and sol.certificate.ok
    np.testing.assert_allclose(sol.voltages, ref.voltages, rtol=0, atol=1e-9)
    short = solve(circuit, "paper", iterations=1)  # the paper stops early; flagged
    assert short.info["claimed"] == "ran 1 iterations"
    assert short.status == NOT_CERTIFIED


@needs_paper
def test_paper_in_compare_on_a_drn() -> None:
    opts = CompareOptions(
        spice=False,
        peers=("paper",),
        repeats=1,
        warmup=0,
        solver_options={"paper": {"iterations": 200}},
    )
    row = run_compare([NETLISTS / "drn_small.cir"], opts).summary.iloc[0]
    assert row["paper_status"] == "ok" and row["paper_max_abs_diff"] <= 1e-9


def test_compare_peers_with_gmin_and_a_dc_netlist_without_ngspice() -> None:
    """--gmin reaches the peers that take it; one that has no leak is not applicable; a
    .dc netlist without ngspice is compared at its operating point, and says so."""
    opts = CompareOptions(spice=False, peers=("scipy", "paper"), repeats=1, warmup=0, gmin=1e-9)
    run = run_compare([NETLISTS / "divider.cir", NETLISTS / "dc_diode_iv.cir"], opts)
    div, dc = run.summary.iloc[0], run.summary.iloc[1]
    assert div["scipy_status"] == "ok" and div["scipy_max_abs_diff"] <= 1e-9
    if _have("torch"):
        assert div["paper_status"] == "not applicable" and "gmin" in div["paper_message"]
    assert dc["status"] == "ok" and "operating point" in dc["message"]
    assert dc["scipy_status"] == "ok"
