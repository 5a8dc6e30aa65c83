"""Network.solve's voltage-source currents, computed on first read (resbench.batch.deferred).

A certified ``Network.solve`` returns a Solution whose diodes' currents come with the
certificate and whose voltage sources' currents are computed when first read.  What
it reads must be what the eager path gives (``solve_batch(currents=True)``: the same
certifier call, bit for bit), on random circuits and on a DRN's direct path, and the
Solution must behave as any Solution (copies, pickling, ``replace``, ``to_dict``).
"""

from __future__ import annotations

import copy
import dataclasses
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import examples, random_circuits

from resbench import parse_netlist, solve
from resbench.batch import Network
from resbench.batch.certificate import BatchCertifier, CertificateInputError
from resbench.batch.deferred import Deferred, NetworkSolution
from resbench.batch.network import input_sources
from resbench.defaults import DEFAULT_RTOL
from resbench.errors import CircuitError, ResbenchError
from resbench.generate import drn


def _eager(net: Network, s: np.ndarray):
    return net.solve_batch(s[None, :], currents=True)


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Equal bit for bit (NaN where the other has NaN)."""
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(random_circuits(max_nodes=7, max_diodes=5), st.data())
def test_deferred_currents_are_the_eager_ones(circuit, data) -> None:
    try:
        solve(circuit)
    except ResbenchError:
        return  # infeasible: Network refuses it at set-up
    sources = input_sources(circuit)
    names = (
        data.draw(st.lists(st.sampled_from(sources), max_size=3, unique=True), label="inputs")
        if sources
        else []
    )
    try:
        net = Network(circuit, inputs=names or None)
    except CircuitError as exc:
        assert "loop of voltage sources" in str(exc)
        return
    scale = data.draw(st.sampled_from([1.0, -1.0, 0.5, 2.0]), label="scale")
    s = net.default_values() * scale
    sol = net.solve(s)
    assert isinstance(sol, NetworkSolution)
    assert sol.is_deferred("vsource_current")
    want = _eager(net, s)
    assert _same(sol.diode_current, want.diode_current[0])
    if data.draw(st.booleans(), label="read through the certificate first"):
        got = sol.certificate.vsource_current
    else:
        got = sol.vsource_current
    assert not sol.is_deferred("vsource_current")
    assert _same(got, want.vsource_current[0])
    assert sol.vsource_current is sol.certificate.vsource_current  # computed once
    assert sol.certificate.ok == bool(want.certificate.ok[0])


def _drn_case():
    c = drn([12, 8, 3], seed=4)
    net = Network(c)
    rng = np.random.default_rng(5)
    s = net.default_values() * rng.uniform(0.2, 1.5, net.n_inputs)
    return net, s


def test_a_drn_solve_defers_the_sources_currents_until_read(monkeypatch) -> None:
    net, s = _drn_case()
    calls = []
    certifier = net._get_certifier()

    def spy(V, S, rtol, currents):
        calls.append(currents)
        return certifier(V, S, rtol, currents)

    net._certifier = spy
    direct = []
    original = BatchCertifier.direct_source_currents

    def spy_direct(self, V):
        direct.append(V.shape)
        return original(self, V)

    monkeypatch.setattr(BatchCertifier, "direct_source_currents", spy_direct)
    assert net._bc.has_direct_path  # (a DRN's layout)
    sol = net.solve(s)
    assert calls == [False]  # the certificate alone: no product for the sources
    assert sol.certificate.ok and sol.diode_current is not None
    want = _eager(net, s)
    assert calls == [False, True] and direct == []
    got = sol.vsource_current
    # the first read makes the direct path's product alone (no second certificate) ...
    assert calls == [False, True] and direct == [(1, net.circuit.n_nodes)]
    assert _same(got, want.vsource_current[0])
    assert sol.vsource_current is got and len(direct) == 1  # ... once
    # the single solver's currents (another solver, another certificate)
    ref = solve(sol.circuit)
    assert np.allclose(got, ref.vsource_current, rtol=1e-9, atol=2 * ref.certificate.kcl_tol)


def test_a_sample_certified_off_the_direct_path_gets_the_certifier_s_currents(
    monkeypatch,
) -> None:
    """A sample outside the direct path's stricter tolerances is certified again with
    exact scales (its currents then come from that pass): its deferred currents are
    that pass's too, not the direct path's product."""
    net, s = _drn_case()
    bc = net._get_certifier() and net._bc
    original = BatchCertifier._certify_fast

    def strict(self, *args):  # every sample fails the direct path's verdict
        cert = original(self, *args)
        if cert is not None:
            cert.ok[:] = False
        return cert

    monkeypatch.setattr(BatchCertifier, "_certify_fast", strict)
    sol = net.solve(s)
    assert sol.certificate.ok  # (the exact scales certify it)
    want = _eager(net, s)
    monkeypatch.setattr(
        BatchCertifier, "direct_source_currents", lambda *a: pytest.fail("direct path used")
    )
    assert _same(sol.vsource_current, want.vsource_current[0])
    assert bc.has_direct_path


def test_direct_source_currents_refuses_what_it_cannot_do() -> None:
    net, s = _drn_case()
    net.solve(s)
    V = net.solve_batch(s[None, :]).voltages
    with pytest.raises(CertificateInputError, match="finite"):
        net._bc.direct_source_currents(np.full_like(V, np.nan))
    c = parse_netlist("t\nv1 a 0 1\nr1 a b 1k\ni1 0 b 1m\nd1 b 0 dm\n.model dm d\n.end\n")
    plain = BatchCertifier(c)
    assert not plain.has_direct_path
    with pytest.raises(CertificateInputError, match="no direct path"):
        plain.direct_source_currents(np.zeros((1, c.n_nodes)))


def test_uncertified_solve_has_no_currents() -> None:
    net, s = _drn_case()
    sol = net.solve(s, certify=False)
    assert sol.certificate is None
    assert sol.diode_current is None and sol.vsource_current is None
    assert not sol.is_deferred("vsource_current")


def test_changing_the_voltages_before_the_read_changes_nothing() -> None:
    net, s = _drn_case()
    want = _eager(net, s).vsource_current[0]
    sol = net.solve(s)
    sol.voltages[:] = 0.0  # (the caller's array to change)
    s[:] = 0.0
    assert _same(sol.vsource_current, want)


@pytest.mark.parametrize(
    "how",
    ["pickle", "copy", "deepcopy", "replace", "asdict", "to_dict", "repr"],
)
def test_a_deferred_solution_is_a_solution(how: str) -> None:
    net, s = _drn_case()
    want = _eager(net, s).vsource_current[0]
    sol = net.solve(s)
    assert sol.is_deferred("vsource_current")
    if how == "pickle":
        out = pickle.loads(pickle.dumps(sol))
        assert isinstance(out, NetworkSolution)
        assert _same(out.vsource_current, want)
        assert _same(out.certificate.vsource_current, want)
    elif how == "copy":
        assert _same(copy.copy(sol).vsource_current, want)
    elif how == "deepcopy":
        assert _same(copy.deepcopy(sol).vsource_current, want)
    elif how == "replace":
        out = dataclasses.replace(sol, sweeps=99)
        assert out.sweeps == 99 and _same(out.vsource_current, want)
    elif how == "asdict":
        assert _same(dataclasses.asdict(sol)["vsource_current"], want)
    elif how == "to_dict":
        got = np.array([x["current"] for x in sol.to_dict()["vsources"]], dtype=float)
        assert _same(got, want)
    else:
        assert "vsource_current=array(" in repr(sol)
    assert not sol.is_deferred("vsource_current")  # every way above read them
    assert _same(sol.vsource_current, want)


def test_deferred_runs_its_function_once() -> None:
    n = []

    def fn():
        n.append(1)
        return np.arange(3.0)

    d = Deferred(fn)
    assert not d.done
    a = d.get()
    assert d.done and d.get() is a and len(n) == 1


def test_float32_certificate_scales_use_the_float32_tolerance() -> None:
    """v_scale / i_scale of a float32 solve's certificate: its tolerances over the rtol
    it was certified at (1e-5 by default), not over float64's (a scale 1e4x too big)."""
    net, s = _drn_case()
    c64 = net.solve(s).certificate
    c32 = net.solve(s, dtype="float32").certificate
    assert c64.feas_tol == pytest.approx(DEFAULT_RTOL * c64.v_scale, rel=1e-12)
    assert c32.v_scale == pytest.approx(c64.v_scale, rel=1e-3)
    assert c32.i_scale == pytest.approx(c64.i_scale, rel=1e-3)
    assert c32.feas_tol > 1e3 * c64.feas_tol  # (certified at float32's rtol)


@pytest.mark.parametrize("threads", [None, 1])
def test_float32_and_thread_limits_defer_the_same_currents(threads) -> None:
    net, s = _drn_case()
    sol = net.solve(s, dtype="float32", threads=threads)
    want = net.solve_batch(s[None, :], dtype="float32", threads=threads, currents=True)
    assert sol.is_deferred("vsource_current")
    assert _same(sol.diode_current, want.diode_current[0])
    assert _same(sol.vsource_current, want.vsource_current[0])
