"""One sample in one kernel call (``Network._solve_one``, ``one_sample``): the general
path's kernels in the same order, so the same answer bit for bit — voltages, sweeps,
status, certificate — and the single solver's answer to 1e-9 of the voltage scale.

The reference is the general path itself (the Network with its one-sample plan taken
away), on DRNs of one or two hidden layers with random sizes, seeds and inputs (paired as
``cat(x, −x)`` or not, with zeros), and on the cases the fast call hands back: a sweep
limit below the sweeps needed, a fixed ω, float32.  Networks it
must not take (a free graph that is not two layers, a diode between free nodes) have
no plan.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import examples

import resbench
from resbench import parse_netlist
from resbench.batch import Network
from resbench.batch.network import with_values
from resbench.generate import drn


def _both(net: Network, s: np.ndarray, **kw):
    """(fast, general) arrays of one sample."""
    plan = net._one
    assert plan is not None
    try:
        fast = net._solve_arrays(s, **kw)
        net.__dict__["_one"] = None
        general = net._solve_arrays(s, **kw)
    finally:
        net.__dict__["_one"] = plan
    return fast, general


def _assert_same(a, b) -> None:
    assert np.array_equal(a.voltages, b.voltages)
    assert np.array_equal(a.sweeps, b.sweeps)
    assert list(a.status) == list(b.status) and a.messages == b.messages
    assert np.array_equal(a.polished, b.polished)
    if b.certificate is not None:
        for f in ("feasibility", "kcl", "complementarity", "ok"):
            assert np.array_equal(getattr(a.certificate, f), getattr(b.certificate, f)), f


def _inputs(rng: np.random.Generator, net: Network, kind: str) -> np.ndarray:
    k = net.n_inputs
    if kind == "paired":  # a DRN's own inputs: x, −x interleaved, a third of them zero
        x = rng.uniform(0.0, 1.0, k // 2) * (rng.random(k // 2) > 0.33)
        s = np.empty(k)
        s[0::2], s[1::2] = x, -x
        return s
    return rng.uniform(-1.0, 1.0, k) * (rng.random(k) > 0.2)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**16),
    m=st.integers(2, 24),
    hidden=st.integers(2, 40),
    out=st.integers(1, 12),
    deep=st.sampled_from([0, 0, 5]),
    kind=st.sampled_from(["paired", "unpaired"]),
    certify=st.booleans(),
)
def test_one_sample_equals_the_general_path(seed, m, hidden, out, deep, kind, certify) -> None:
    layers = [2 * m, hidden, out] if deep == 0 else [2 * m, hidden, deep, out]
    c = drn(layers, seed=seed, input_gain=1.0)
    net = Network(c)
    if net._one is None:  # a draw whose couplings are too sparse for the dense maps
        # (the two-layer sweeps' maps, or the input map: a tiny DRN's few couplings can
        # fill less of it than a dense map needs while its layers are dense enough)
        assert net._two_layer is None or net._A_dense is None or net._needs_dS
        return
    s = _inputs(np.random.default_rng(seed), net, kind)
    fast, general = _both(net, s, certify=certify)
    _assert_same(fast, general)
    assert fast.status[0] == "converged"


@pytest.mark.parametrize("preset", ["xs", "1h"])
def test_presets_one_input_equal_the_general_path_and_the_single_solver(preset) -> None:
    c = drn(preset=preset, seed=1)
    net = Network(c)
    rng = np.random.default_rng(2)
    for kind in ("paired", "unpaired"):
        s = _inputs(rng, net, kind)
        fast, general = _both(net, s, certify=True)
        _assert_same(fast, general)
        sol = net.solve(s)
        ref = resbench.solve(with_values(c, net.input_names, s), certify=False)
        assert sol.ok and np.array_equal(sol.voltages, fast.voltages[0])
        scale = max(1.0, float(np.abs(ref.voltages).max()))
        assert np.abs(sol.voltages - ref.voltages).max() <= 1e-9 * scale


@pytest.mark.parametrize(
    "options",
    [{"max_sweeps": 2}, {"max_sweeps": 1}, {"omega": 1.2}, {"dtype": "float32"}],
)
def test_cases_the_fast_call_leaves_to_the_general_path(options, monkeypatch) -> None:
    """A sweep limit below the sweeps the sample needs: it hands
    the sample back (the general path's answer, status and sweeps); a fixed ω or
    float32: it is not tried."""
    from resbench.batch import network as nw

    c = drn([16, 24, 6], seed=3, input_gain=1.0)
    net = Network(c)
    s = _inputs(np.random.default_rng(4), net, "paired")
    tried: list[bool] = []
    real = nw.Network._solve_one

    def spy(self, *a):
        tried.append(real(self, *a))
        return tried[-1]

    monkeypatch.setattr(nw.Network, "_solve_one", spy)
    fast, general = _both(net, s, certify=True, **options)
    _assert_same(fast, general)
    if "omega" in options or "dtype" in options:
        assert tried == []
    else:
        assert tried == [False]
        assert fast.status[0] == "sweep limit" or fast.polished[0]


def test_networks_without_a_one_sample_plan() -> None:
    assert Network(drn([8, 6, 3], seed=0))._one is not None
    assert Network(drn([8, 6, 5, 3], seed=0))._one is not None  # layers 1 and 3, then 2
    triangle = parse_netlist(
        "t\nv1 in 0 1\nr1 in a 1k\nr2 a b 1k\nr3 b c 1k\nr4 c a 1k\nr5 c 0 2k\n.end\n"
    )
    assert Network(triangle)._one is None  # not two layers
    ff = parse_netlist(
        "t\nv1 in 0 1\nr1 in a 1k\nr2 in b 2k\nd1 a b d\nr3 a 0 3k\nr4 b 0 1k\n.model d d\n.end\n"
    )
    assert Network(ff)._one is None  # a diode between free nodes
