"""``scales="bound"``: the batched certificate's verdicts from lower bounds of the scales.

The reference is the same certifier with ``scales="exact"`` (itself checked against the
scalar certificate in test_batch_certificate): the same verdict on every sample; on a
sample that passes, tolerances no larger than the exact ones (lower bounds of the
scales); on a sample that does not, every field as the exact certificate gives it (it
was certified again with exact scales).  Batches mix exact answers with perturbed copies
(some fail, some pass by a hair) and random voltages.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples, random_circuits

import resbench
from resbench.batch import Network
from resbench.batch.certificate import BatchCertifier, CertificateInputError
from resbench.bench.batch_bench import digits_pixels, input_values
from resbench.circuit import Circuit
from resbench.errors import ResbenchError
from resbench.generate import drn

SETTINGS = dict(deadline=None, database=None)
TOLS = ("feas_tol", "kcl_tol", "comp_tol")


def _perturbed(v: np.ndarray, rng: np.random.Generator, k: int) -> np.ndarray:
    """``k`` copies of ``v`` with one node moved each by a size over many decades."""
    out = np.repeat(v[None, :], k, axis=0)
    if v.shape[0] < 2:
        return out
    scale = max(1.0, float(np.max(np.abs(v))))
    for row in out:
        node = int(rng.integers(1, v.shape[0]))
        row[node] += scale * 10.0 ** rng.uniform(-14, 0) * rng.choice([-1.0, 1.0])
    return out


def _batch(circuit: Circuit, gmin: float, seed: int) -> np.ndarray:
    """Exact answer, perturbed copies and random voltages (ground at 0)."""
    rng = np.random.default_rng(seed)
    rows = []
    try:
        sol = resbench.solve(circuit, certify=False, gmin=gmin)
        if sol.voltages is not None and np.all(np.isfinite(sol.voltages)):
            rows += [sol.voltages[None, :], _perturbed(sol.voltages, rng, 6)]
    except ResbenchError:
        pass
    noise = rng.normal(size=(2, circuit.n_nodes)) * 3.0
    noise[:, 0] = 0.0
    return np.vstack(rows + [noise])


def assert_bound_agrees(
    bc: BatchCertifier, v: np.ndarray, values=None, *, rtol: float = 1e-9, currents: bool = True
) -> tuple:
    exact = bc.certify(v, values, rtol=rtol, currents=currents, scales="exact")
    got = bc.certify(v, values, rtol=rtol, currents=currents, scales="bound")
    assert np.array_equal(got.ok, exact.ok), (got.ok, exact.ok)
    assert got.checked.all()
    for name in TOLS:
        g, e = getattr(got, name), getattr(exact, name)
        # lower bounds of the scales: never a looser tolerance (to round-off of the
        # exact scale, which sums the same currents in another order)
        assert np.all(g <= e * (1 + 1e-12) + 1e-300), (name, g, e)
    fail = ~exact.ok
    for name in ("feasibility", "kcl", "complementarity", *TOLS):
        g, e = getattr(got, name)[fail], getattr(exact, name)[fail]
        assert np.allclose(g, e, rtol=1e-9, atol=1e-12 * np.max(np.abs(e), initial=0.0)), name
    ok = exact.ok
    if ok.any() and got.diode_current is not None:
        i_tol = np.max(exact.kcl_tol[ok]) * 2 + 1e-300
        assert np.allclose(got.diode_current[ok], exact.diode_current[ok], rtol=1e-9, atol=i_tol)
    return got, exact


@settings(max_examples=examples(60), **SETTINGS)
@given(
    random_circuits(max_nodes=7, max_diodes=5),
    st.integers(0, 2**31 - 1),
    st.sampled_from([0.0, 1e-6]),
    st.booleans(),
)
def test_random_circuits_bound_verdicts(circuit: Circuit, seed: int, gmin: float, currents) -> None:
    bc = BatchCertifier(circuit, gmin=gmin)
    v = _batch(circuit, gmin, seed)
    assert_bound_agrees(bc, v, currents=currents)
    assert_bound_agrees(bc, v, rtol=1e-6, currents=currents)


@settings(max_examples=examples(30), **SETTINGS)
@given(
    random_circuits(
        max_nodes=7, max_diodes=6, free_free_diodes=False, floating_sources=False, shorts=False
    ),
    st.integers(0, 2**31 - 1),
)
def test_grounded_bound_verdicts(circuit: Circuit, seed: int) -> None:
    """Every unknown branch touches ground: the one-node clusters' kernel, held rows'
    products skipped when their currents are not asked for."""
    bc = BatchCertifier(circuit)
    v = _batch(circuit, 0.0, seed)
    # a batch of >= 16 samples folds its columns (as a DRN's): repeat the rows
    v = np.vstack([v] * (-(-16 // v.shape[0])))
    assert_bound_agrees(bc, v, currents=False)


def _drn_batch(preset_or_layers, nb: int, gain: float = 1.0):
    c = drn(preset_or_layers, seed=3, input_gain=gain)
    m = len(c.vsources) // 2
    names = list(c.vsources.names)
    values = input_values(digits_pixels(m, nb), gain)
    net = Network(c, inputs=names)
    res = net.solve_batch(values, certify=False)
    return c, names, values, res.voltages


def test_drn_good_answers_need_no_exact_scales(monkeypatch) -> None:
    """A DRN batch of exact answers passes on its floors alone (no sample certified
    again); a perturbed sample fails and only it is certified again, with exact
    scales, getting the exact certificate's fields."""
    c, names, values, v = _drn_batch((16, 12, 4), 40)
    bc = BatchCertifier(c, inputs=names)
    calls = []
    original = BatchCertifier._recertify

    def spy(self, cert, idx, *args):
        calls.append(idx.copy())
        return original(self, cert, idx, *args)

    monkeypatch.setattr(BatchCertifier, "_recertify", spy)
    got, exact = assert_bound_agrees(bc, v, values, currents=False)
    assert got.ok.all() and calls == []
    assert np.all(got.kcl_tol > 0) and np.all(got.kcl_tol <= exact.kcl_tol)
    bad = v.copy()
    pinned = set(c.vsources.a.tolist())
    hidden = next(k for k in range(1, c.n_nodes) if k not in pinned)
    bad[7, hidden] += 1e-3
    got, exact = assert_bound_agrees(bc, bad, values, currents=False)
    assert not got.ok[7] and got.ok[np.arange(40) != 7].all()
    assert len(calls) == 1 and calls[0].tolist() == [7]
    assert got.kcl_tol[7] == pytest.approx(exact.kcl_tol[7], rel=1e-12)


@pytest.mark.parametrize("currents", [False, True])
def test_drn_bound_with_and_without_currents(currents: bool) -> None:
    c, names, values, v = _drn_batch((20, 10, 3), 24, gain=2.0)
    bc = BatchCertifier(c, inputs=names)
    got, _ = assert_bound_agrees(bc, v, values, currents=currents)
    assert got.ok.all()
    assert (got.vsource_current is not None) == currents


def test_network_certifies_with_floors() -> None:
    """solve_batch's certificate: every good sample passes, tolerances at most the
    exact ones; a sample outside them is one the exact certificate rejects too."""
    c, names, values, v = _drn_batch((16, 12, 4), 20)
    net = Network(c, inputs=names)
    res = net.solve_batch(values, certify=True)
    exact = BatchCertifier(c, inputs=names).certify(res.voltages, values, currents=False)
    assert res.certificate.ok.all() and exact.ok.all()
    assert np.all(res.certificate.kcl_tol <= exact.kcl_tol * (1 + 1e-12))


def test_unknown_scales_word_is_an_error() -> None:
    c, names, values, v = _drn_batch((6, 4, 2), 2)
    with pytest.raises(CertificateInputError, match="scales must be"):
        BatchCertifier(c, inputs=names).certify(v, values, scales="roughly")
